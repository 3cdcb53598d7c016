"""The anytime comparison: schedule-free and averaging against tuned schedules, on any model.

>>> from jaxsched import compare
>>> sorted(compare.BUILTIN)[:3], compare.Task is compare.tasks.Task
(['adam_ema', 'constant', 'cosine'], True)

See :func:`run` for the experiment, :mod:`jaxsched.compare.candidates` for the candidates,
:mod:`jaxsched.compare.tasks` and :mod:`jaxsched.compare.presets` for the built-in tasks and
their grids, :mod:`jaxsched.compare.workflow` for what ``jaxsched compare`` does, and
:mod:`jaxsched.compare.report` for REPORT.md and the figures.
"""

from jaxsched.compare import presets, tasks, workflow
from jaxsched.compare.candidates import BUILTIN, Candidate
from jaxsched.compare.experiment import Results, bench, run
from jaxsched.train.task import Task

__all__ = ["BUILTIN", "Candidate", "Results", "Task", "bench", "presets", "run", "tasks",
           "workflow"]
