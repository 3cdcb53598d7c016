"""The regime rule: is a scaled-down run in the regime of the notes' chapter?

The notes' comparisons are about the end of a long run that learns at once and then keeps
improving slowly: on CIFAR-10 their constant-learning-rate run falls off ln 10 in its first
steps, trains 256 epochs, and ends at 0.18 ("we're still making learning progress") while the
decays and averages end near 0.05. A scale-down in which the runs sit on a plateau at ln 10 and
are still in their steep fall at the end asks a different question, and answers it differently.

The rule is computed from the **constant-learning-rate run and the data alone**, never from the
claims, and it was fixed before any claim of a re-sized preset was looked at:

================  =====================================================  =========  ============
diagnostic        definition                                             notes      band
================  =====================================================  =========  ============
``final``         constant run's final smoothed loss / ln 10             0.18/ln 10  0.04 - 0.16
                                                                         = 0.078    (x1/2 .. x2)
``epochs``        steps x batch / training-set size                      256        32 - 2048
                                                                                    (x1/8 .. x8)
``plateau``       fraction of the horizon before the smoothed loss       <= 0.01    0 - 0.05
                  first falls below 0.9 ln 10 (a start above ln 10
                  from random logits does not count)
================  =====================================================  =========  ============

``final``: the notes' value is read off their plot (0.18, the constant run's row of
:data:`jaxsched.chapter.alchemist.RUNS`); the band allows half to twice that fraction of
chance. ``epochs``: the notes' 100k steps of batch 128 over 50k images; a factor 8 either
side keeps the runs in the many-passes regime in which the train loss is measured on data the
model has seen often. ``plateau``: in the notes' constant-LR figure the smoothed curve is far
below ln 10 from its first plotted point (the 1000-step window, 1% of the horizon); the band
allows five times that.

One more diagnostic is reported beside the bands but has **no band**: ``late_fall``, the
constant run's relative fall over the last quarter of its horizon, ``1 - L(T) / L(3T/4)`` of the
smoothed loss. It tells a run still limited by progress (a large fall: cutting the learning
rate slows it, and a decay can end above constant) from one limited by the noise a decay
removes. The notes say their constant run is "still improving" at 100k steps but give no
number for it, and their figures are not available to this project, so no band can be taken
from them; the three bands are therefore necessary, not sufficient, for the notes' claims.

Smoothing is the notes' (:mod:`jaxsched.smoothing`, window 1% of the horizon); the step at
which the curve "first falls below" is the last step of the first window whose mean is below.

>>> import numpy as np
>>> losses = np.concatenate([np.full(10, 2.3), np.full(990, 0.2)])
>>> d = diagnose(losses, batch_size=64, n_train=2048)
>>> round(d.final, 3), d.epochs, d.plateau, d.late_fall, in_regime(d)
(0.087, 31.25, 0.012, 0.0, False)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from jaxsched import _validate as v
from jaxsched.smoothing import moving_average, smoothed_at, smoothing_window

LN10 = math.log(10.0)
PLATEAU_LEVEL = 0.9  # "10% below chance"


@dataclasses.dataclass(frozen=True)
class Band:
    """A diagnostic's definition, the notes' value and the band a preset must land in."""

    name: str
    what: str
    notes: float
    low: float
    high: float
    notes_text: str

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high


BANDS: tuple[Band, ...] = (
    Band(
        "final",
        "constant-LR run's final smoothed train loss, as a fraction of ln 10",
        0.18 / LN10, 0.04, 0.16, "0.078 (0.18 / ln 10)",
    ),
    Band(
        "epochs",
        "passes over the training set (steps x batch / training images)",
        256.0, 32.0, 2048.0, "256 (100k x 128 / 50k)",
    ),
    Band(
        "plateau",
        "fraction of the horizon before the smoothed loss first falls below 0.9 ln 10",
        0.01, 0.0, 0.05, "<= 0.01 (below from the first 1000-step window)",
    ),
)


@dataclasses.dataclass(frozen=True)
class Diagnostics:
    """The regime diagnostics of one constant-learning-rate run (see the module docstring)."""

    final: float
    epochs: float
    plateau: float
    late_fall: float  # reported, not banded (see the module docstring)

    def held(self) -> dict[str, bool]:
        return {b.name: b.holds(getattr(self, b.name)) for b in BANDS}


def plateau_fraction(losses: np.ndarray, window: int) -> float:
    """Fraction of the horizon before the smoothed loss first falls below ``0.9 ln 10``.

    1.0 when it never does. The step counted is the last one of the first window whose mean
    is below, so a curve below from its first window scores ``window / len(losses)``.

    >>> plateau_fraction(np.r_[np.full(50, 2.4), np.full(50, 1.0)], 10)
    0.53
    """
    a = np.asarray(losses, np.float64)
    sm = moving_average(a, min(window, a.size))
    below = np.nonzero(sm < PLATEAU_LEVEL * LN10)[0]
    if below.size == 0:
        return 1.0
    return float((below[0] + min(window, a.size)) / a.size)


def late_fall(losses: np.ndarray, window: int) -> float:
    """Relative fall of the smoothed loss over the last quarter: ``1 - L(T) / L(3T/4)``.

    >>> late_fall(np.r_[np.full(75, 2.0), np.full(25, 1.0)], 5)
    0.5
    """
    a = np.asarray(losses, np.float64)
    start = smoothed_at(a, int(round(0.75 * a.size)), window)
    return float(1.0 - smoothed_at(a, a.size, window) / start)


def diagnose(
    losses: Sequence[float] | np.ndarray,
    *,
    batch_size: int,
    n_train: int,
    window: int | None = None,
) -> Diagnostics:
    """Diagnostics of a constant-learning-rate run from its per-step losses.

    ``window`` defaults to the notes' 1% of the horizon (``len(losses)``).
    """
    a = np.asarray(losses, np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"losses must be a non-empty 1-D array, got shape {a.shape}")
    v.check_int("batch_size", batch_size, minimum=1)
    v.check_int("n_train", n_train, minimum=1)
    w = smoothing_window(a.size) if window is None else window
    v.check_int("window", w, minimum=1)
    return Diagnostics(
        final=smoothed_at(a, a.size, w) / LN10,
        epochs=a.size * batch_size / n_train,
        plateau=plateau_fraction(a, w),
        late_fall=late_fall(a, w),
    )


def in_regime(d: Diagnostics) -> bool:
    """Every diagnostic inside its band."""
    return all(d.held().values())
