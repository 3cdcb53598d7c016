"""The notes' loss smoothing: a moving average over the last ``window`` steps.

The notes plot ``np.convolve(losses, np.ones(1000), 'valid') / 1000`` at a 100k-step horizon and
read each run's result off the curve's last value. Every report, figure and summary in jaxsched
smooths through this module, so a run's "final smoothed loss" is one number everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxsched import _validate as v

__all__ = ["NOTES_FRACTION", "moving_average", "smoothed_at", "smoothing_window"]

NOTES_FRACTION = 1000 / 100_000
"""The notes' window as a fraction of their horizon."""


def smoothing_window(horizon: int) -> int:
    """The notes' window (1% of the horizon) at another horizon, at least one step.

    >>> smoothing_window(100_000), smoothing_window(1_000), smoothing_window(40)
    (1000, 10, 1)
    """
    v.check_int("horizon", horizon, minimum=1)
    return max(1, round(horizon * NOTES_FRACTION))


def moving_average(x: Any, window: int) -> np.ndarray:
    """The notes' smoothing: ``np.convolve(x, np.ones(window), 'valid') / window``.

    ``x`` is 1-D ``[T]`` or 2-D ``[seeds, T]`` (each row smoothed); the result has
    ``T - window + 1`` values per row, element ``i`` being the mean of steps ``i .. i+window-1``.

    >>> moving_average(np.arange(5.0), 2)
    array([0.5, 1.5, 2.5, 3.5])
    """
    v.check_int("window", window, minimum=1)
    a = np.asarray(x, dtype=np.float64)
    if a.ndim not in (1, 2):
        raise ValueError(f"x must be 1-D [steps] or 2-D [seeds, steps], got shape {a.shape}")
    if a.shape[-1] < window:
        raise ValueError(
            f"window must be at most the number of steps, got window={window} "
            f"for {a.shape[-1]} steps"
        )
    kernel = np.ones(window)
    if a.ndim == 1:
        return np.convolve(a, kernel, "valid") / window
    return np.stack([np.convolve(row, kernel, "valid") / window for row in a])


def smoothed_at(losses: Any, step: int, window: int) -> float:
    """The smoothed loss after ``step`` steps: the mean of the last ``window`` losses before it.

    This is ``moving_average(losses[:step], window)[-1]``, computed from the window alone; fewer
    than ``window`` steps are averaged whole, and no step at all gives NaN.

    >>> smoothed_at(np.arange(10.0), 10, 4), smoothed_at(np.arange(10.0), 2, 4)
    (7.5, 0.5)
    """
    v.check_int("window", window, minimum=1)
    a = np.asarray(losses, dtype=np.float64)
    step = min(int(step), a.shape[-1])
    if step <= 0:
        return float("nan")
    w = min(window, step)
    return float(np.mean(a[step - w : step]))
