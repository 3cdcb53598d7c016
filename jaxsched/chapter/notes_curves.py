"""The notes' own CIFAR-10 loss curves, as package data (``notes_curves.csv``).

The chapter's figures give every run's smoothed train loss over its whole horizon, not just the
final numbers its text quotes; the regime rule (:mod:`jaxsched.chapter.regime`) reads the
*shape* of the constant-LR curve from here. See :data:`PROVENANCE` for where the numbers come
from and how accurate they are.

Conventions:

* a row is a 1,000-step window: the value at ``window_start_step`` ``s`` is the mean train loss
  over steps ``s .. s+999`` (the notes' ``np.convolve(loss, ones(1000), 'valid') / 1000``);
  rows every 500 steps, 0 .. 99,000;
* NaN where the curve cannot be read (hidden, above the plot's y-limit, or past the run's end);
* in normalized time a row belongs to the *end* of its window, ``t = (s + 1000) / T``, the
  convention of :func:`jaxsched.smoothing.smoothed_at` ("the smoothed loss after ``t T``
  steps"); ``T`` is 100,000, or the run's own length for the linear decays over 75/50/25%.

>>> t, loss = curve("Constant LR")
>>> float(t[-1]), round(float(loss[-1]), 3)
(1.0, 0.178)
>>> round(smoothed("Constant LR", 1.0, 0.05), 3)    # mean loss over the last 5,000 steps
0.181
>>> column("Exp Avg (0.9999)"), horizon("Linear Decay 75%")
('ema_0.9999', 75000)
"""

from __future__ import annotations

import csv
import functools
import io
import math
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from jaxsched import _validate as v
from jaxsched.chapter.alchemist import NOTES_STEPS, NOTES_WINDOW, RUNS

__all__ = [
    "COLUMNS", "CSV_NAME", "PROVENANCE", "NotesCurves", "column", "curve", "final", "horizon",
    "load", "smoothed",
]

CSV_NAME = "notes_curves.csv"

PROVENANCE = """\
Read from the figures of the chapter's public notebook, kvfrans/notes,
7-misc/learning-rate-schedules.ipynb (linear_lengths, decay_shapes, averaging, schedule_free and
pareto PNGs, the curves the notes trained on real CIFAR-10), pixel by pixel: each curve found by
its matplotlib colour, the axes' frame giving the scale. Accuracy about +-0.01 in loss and
+-300 steps (one pixel); where several figures draw the same run their readings differ by 0.005
(median), 0.02 at most, and the file holds their median. A value at window_start_step s is the
mean train loss (dropout on) over steps s..s+999 (the notes' 1,000-step moving average); rows
every 500 steps from 0 to 99,000. Empty cells (NaN here): hidden under another curve or the
legend, above the plot's y-limit (1.0 or 1.5), or past the run's end; the constant run is
visible from 10,000 on."""

COLUMNS: Mapping[str, str] = MappingProxyType(
    {label: spec.notes_column for label, spec in RUNS.items() if spec.notes_column}
)
"""The chapter's run labels -> CSV columns (each :class:`~jaxsched.chapter.alchemist.RunSpec`
names its ``notes_column``)."""


class NotesCurves(NamedTuple):
    """The CSV as arrays: ``steps`` (window starts, int64) and one float64 array per column."""

    steps: np.ndarray
    columns: Mapping[str, np.ndarray]


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False  # shared by every caller of the cached loader
    return a


@functools.cache
def load() -> NotesCurves:
    """The packaged ``notes_curves.csv`` (read once; the arrays are read-only)."""
    text = resources.files("jaxsched.chapter").joinpath(CSV_NAME).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    if header[0] != "window_start_step" or any(len(r) != len(header) for r in body):
        raise ValueError(f"{CSV_NAME} is malformed: header {header[:2]}..., {len(body)} rows")
    steps = _frozen(np.array([int(r[0]) for r in body], np.int64))
    cols = {
        name: _frozen(np.array([float(r[i]) if r[i] else math.nan for r in body]))
        for i, name in enumerate(header[1:], start=1)
    }
    return NotesCurves(steps, MappingProxyType(cols))


def column(label: str) -> str:
    """The CSV column of one of the chapter's runs (``ValueError`` naming an unknown label)."""
    v.check_choice("label", label, tuple(COLUMNS))
    return COLUMNS[label]


def horizon(label: str) -> int:
    """The run's own length in the notes' steps: 100,000 x its fraction of the horizon."""
    column(label)
    return round(NOTES_STEPS * RUNS[label].length)


def curve(label: str) -> tuple[np.ndarray, np.ndarray]:
    """``(t, loss)`` of a run in normalized time: rows whose window ends by the run's end.

    ``t = (window_start + 1000) / T``; NaN kept where the curve cannot be read.
    """
    t_len = horizon(label)
    data = load()
    t = (data.steps + NOTES_WINDOW) / t_len
    keep = t <= 1.0
    return t[keep], np.array(data.columns[column(label)][keep])


def final(label: str) -> float:
    """The run's final smoothed loss: its last readable 1,000-step window before its end.

    >>> final("Constant LR"), final("Linear Decay 25%")
    (0.178, 0.453)
    """
    _, loss = curve(label)
    readable = loss[np.isfinite(loss)]
    if readable.size == 0:
        raise ValueError(f"label={label!r} has no readable value in {CSV_NAME}")
    return float(readable[-1])


def smoothed(label: str, t: Any, window_fraction: float) -> Any:
    """The run's mean loss over the ``window_fraction`` of its horizon that ends at ``t``.

    Built from whole rows: the ``window_fraction x T / 1000`` disjoint 1,000-step windows that
    tile ``[(t - window_fraction) T, t T]``, so it is that window's exact mean (up to the
    reading accuracy). Both ``t T`` and ``window_fraction x T`` must be whole multiples of 1,000
    steps (``ValueError`` otherwise). NaN where any row is unreadable or ``t`` is outside the
    run. ``t`` may be a float (float result) or an array.
    """
    t_len = horizon(label)
    v.check_in_range("window_fraction", window_fraction, 0.0, 1.0, low_inclusive=False)
    ts = np.atleast_1d(np.asarray(t, np.float64))
    v.check_finite("t", ts)
    n_rows = window_fraction * t_len / NOTES_WINDOW
    ends = ts * t_len / NOTES_WINDOW
    for name, value, x in (("window_fraction", window_fraction, n_rows), ("t", t, ends)):
        if not np.allclose(x, np.round(x), rtol=0.0, atol=1e-6):
            raise ValueError(
                f"{name} x {t_len} steps must be a whole multiple of {NOTES_WINDOW} steps, "
                f"got {name}={value!r}"
            )
    n_rows, ends = round(n_rows), np.round(ends).astype(np.int64)
    data = load()
    values = data.columns[column(label)]
    row_of = {int(s): i for i, s in enumerate(data.steps)}
    out = np.full(ts.shape, math.nan)
    for k, end in enumerate(ends):
        starts = NOTES_WINDOW * (end - np.arange(1, n_rows + 1))
        if starts.min() < 0 or end * NOTES_WINDOW > t_len:
            continue
        out[k] = np.mean(values[[row_of[int(s)] for s in starts]])
    return float(out[0]) if np.ndim(t) == 0 else out
