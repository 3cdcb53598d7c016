"""The anytime comparison: schedule-free and averaging against tuned schedules, on any model.

>>> from jaxsched import compare
>>> from jaxsched.train.task import Task
>>> sorted(compare.BUILTIN)[:3], compare.Task is Task
(['adam_ema', 'constant', 'cosine'], True)

See :func:`run` for the experiment, :mod:`jaxsched.compare.candidates` for the candidates,
:mod:`jaxsched.workloads` for the built-in tasks, :mod:`jaxsched.compare.presets` for their
grids, :mod:`jaxsched.compare.workflow` for what ``jaxsched compare`` does, and
:mod:`jaxsched.compare.report` for REPORT.md and the figures.
"""

from jaxsched.compare import presets, workflow
from jaxsched.compare.candidates import BUILTIN, Candidate
from jaxsched.compare.experiment import Results, bench, run
from jaxsched.train.task import Task

__all__ = ["BUILTIN", "Candidate", "Results", "Task", "bench", "presets", "run", "workflow"]
