"""The grids ``jaxsched compare`` runs: per built-in task, presets from ``smoke`` to ``full``.

A preset fixes the grid (candidates, learning rates, horizons, evaluation period) and the size
of the workload it trains (``size``, one of the workload's sizes in :mod:`jaxsched.workloads`).
The candidates default to every built-in one. A workload without grids of its own here (one
added to the catalogue) gets one per size from that size's budget (:func:`derived`).

>>> p = PRESETS["tinyvit"]["smoke"]
>>> p.size, p.horizons, p.candidates == tuple(BUILTIN)
('smoke', (20, 40), True)
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jaxsched import _validate as v
from jaxsched.compare.candidates import BUILTIN
from jaxsched.workloads import catalogue

__all__ = ["PRESETS", "Preset", "bench_grid", "derived", "get", "names"]


@dataclasses.dataclass(frozen=True)
class Preset:
    """A comparison's grid and the task's size."""

    name: str
    lrs: tuple[float, ...]
    horizons: tuple[int, ...]
    candidates: tuple[str, ...] = tuple(BUILTIN)
    eval_every: int | None = None
    size: str = "quick"
    description: str = ""


PRESETS: dict[str, dict[str, Preset]] = {
    "regression": {
        p.name: p for p in [
            Preset("smoke", lrs=(1e-2, 3e-2), horizons=(100, 200), eval_every=50,
                   description="about a minute on a 2-core CPU (compiles dominate)"),
            Preset("quick", lrs=(1e-3, 3e-3, 1e-2, 3e-2), horizons=(250, 500, 1000, 2000),
                   eval_every=125, description="a few minutes on a 2-core CPU"),
            Preset("cpu", lrs=(1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2),
                   horizons=(500, 1000, 2000, 4000, 8000), eval_every=250,
                   description="tens of minutes on a 2-core CPU"),
            Preset("full", lrs=(5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2),
                   horizons=(1000, 2000, 4000, 8000, 16000, 32000), eval_every=500,
                   description="an hour on a CPU; minutes on a GPU"),
        ]
    },
    "tinyvit": {
        p.name: p for p in [
            Preset("smoke", lrs=(1e-3, 3e-3), horizons=(20, 40), eval_every=10, size="smoke",
                   description="seconds; a toy TinyViT"),
            Preset("quick", lrs=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2), horizons=(1250, 2500, 5000),
                   eval_every=625, size="quick",
                   description="minutes on a 2-core CPU; quarter-width, half-depth TinyViT"),
            Preset("cpu", lrs=(6.25e-5, 1.25e-4, 2.5e-4, 5e-4), horizons=(8000, 16000, 32000),
                   eval_every=1600, size="cpu",
                   description="many hours on a 2-core CPU; the notes' TinyViT at batch 4 (the "
                   "cpu size), up to the chapter's 32,000 steps"),
            Preset("full", lrs=(3e-4, 1e-3, 3e-3), horizons=(12500, 25000, 50000, 100000),
                   eval_every=2500, size="full",
                   description="the notes' TinyViT and horizon; for a GPU or TPU"),
        ]
    },
    "charlm": {
        p.name: p for p in [
            Preset("smoke", lrs=(3e-3, 1e-2), horizons=(20, 40), eval_every=10, size="smoke",
                   description="seconds; a one-layer byte model on 64 KiB of text"),
            Preset("quick", lrs=(1e-3, 3e-3, 1e-2, 3e-2), horizons=(100, 200, 400),
                   eval_every=50, size="quick",
                   description="minutes on a 2-core CPU per seed; a 2-layer width-64 byte "
                   "model on 2 MB of text"),
            Preset("cpu", lrs=(1e-3, 2e-3, 4e-3), horizons=(2000, 4000, 8000), eval_every=500,
                   size="cpu",
                   description="about an hour on a quiet 2-core CPU with 3 seeds; the 2-layer "
                   "byte model at context 32, batch 8, to 8000 steps, sized so that tuned "
                   "cosine and WSD end below tuned constant"),
            Preset("full", lrs=(3e-4, 1e-3, 3e-3), horizons=(1000, 2000, 4000),
                   eval_every=250, size="gpu",
                   description="a 3.3M-parameter byte model on the whole corpus; for a GPU"),
        ]
    },
}
"""``PRESETS[task][preset]``."""


def derived(size: catalogue.Size) -> Preset:
    """A grid for one size of a workload that has no grids of its own: horizons a quarter, a
    half and all of the size's ``steps``, learning rates a third of, at and three times its
    ``lr``, eight evaluations over the longest horizon.

    >>> p = derived(catalogue.Size("smoke", steps=40, lr=0.03))
    >>> p.horizons, [round(x, 4) for x in p.lrs], p.eval_every
    ((10, 20, 40), [0.01, 0.03, 0.09], 5)
    """
    steps = size.steps
    horizons = tuple(sorted({max(1, steps // 4), max(1, steps // 2), steps}))
    return Preset(size.name, lrs=(size.lr / 3, size.lr, size.lr * 3), horizons=horizons,
                  eval_every=max(1, steps // 8), size=size.name,
                  description=f"the {size.name} size's budget ({steps} steps, lr {size.lr:g})")


def names(task: str) -> tuple[str, ...]:
    """The preset names of ``task``."""
    if task in PRESETS:
        return tuple(PRESETS[task])
    return tuple(s.name for s in catalogue.get(task).sizes)


def get(task: str, preset: str) -> Preset:
    """The grid ``preset`` of ``task``: ``PRESETS[task][preset]`` for the built-in tasks, else
    :func:`derived` from the workload's size of that name; ``ValueError`` naming the argument
    otherwise."""
    if task not in PRESETS:
        return derived(catalogue.get(task).size(preset))
    v.check_choice("preset", preset, tuple(PRESETS[task]))
    return PRESETS[task][preset]


def bench_grid(preset: Preset) -> dict[str, Any]:
    """The small grid a preset's grouped-vs-alone measurement trains: 2 candidates (cosine,
    sf_adamw), the first 2 learning rates, the shortest horizon, one seed."""
    return {"candidates": ["cosine", "sf_adamw"], "lrs": list(preset.lrs[:2]),
            "horizons": [min(preset.horizons)], "seeds": 1}
