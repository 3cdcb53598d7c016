"""Statistics over seeds, and the spread rule every report in jaxsched uses.

A claim ``a < b`` between two results measured over seeds is *held* only when the gap between
the means exceeds the combined standard deviation ``sqrt(sd_a**2 + sd_b**2)``; with one seed
each the spread is zero and it reduces to the plain comparison ``a <= b``.

>>> a, b = Stat.of([1.0, 1.1, 0.9]), Stat.of([2.0, 2.1, 1.9])
>>> str(a), below(a, b), below(b, a)
('1.000 ± 0.100', True, False)
>>> below(Stat.of([1.0]), Stat.of([1.0]))
True
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

__all__ = ["Stat", "below"]


@dataclasses.dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation (``ddof=1``; 0 for one value) of ``n`` values."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        arr = np.asarray(values, np.float64)
        std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
        return cls(float(arr.mean()), std, int(arr.size))

    def __str__(self) -> str:
        if self.n > 1:
            return f"{self.mean:.3f} ± {self.std:.3f}"
        return f"{self.mean:.3f}"


def below(a: Stat, b: Stat) -> bool:
    """``a < b`` beyond the spread (with one seed each: plain ``a <= b``)."""
    spread = math.hypot(a.std, b.std)
    if a.n > 1 or b.n > 1:
        return b.mean - a.mean > spread
    return a.mean <= b.mean
