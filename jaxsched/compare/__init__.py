"""The anytime comparison: schedule-free and averaging against tuned schedules, on any model.

>>> from jaxsched import compare
>>> sorted(compare.BUILTIN)[:3], compare.Task is compare.tasks.Task
(['adam_ema', 'constant', 'cosine'], True)

See :func:`run` for the experiment, :mod:`jaxsched.compare.candidates` for the candidates and
:mod:`jaxsched.compare.report` for REPORT.md and the figures.
"""

from jaxsched.compare import tasks
from jaxsched.compare.candidates import BUILTIN, Candidate
from jaxsched.compare.experiment import Results, bench, run
from jaxsched.train.task import Task

__all__ = ["BUILTIN", "Candidate", "Results", "Task", "bench", "run", "tasks"]
