# mypy: disable-error-code="import-untyped"
"""The candidates of the anytime comparison: scheduled baselines and anytime optimizers.

A candidate turns a learning rate (and, for a scheduled one, a horizon) into runs of the
group trainer. Every built-in candidate is one row of :data:`BUILTIN`: the optimizer it trains
(a name of :data:`jaxsched.train.optimizers.OPTIMIZERS`, so it means what it means everywhere),
its fixed hyperparameters, the schedule its learning-rate table follows (a kind of
:mod:`jaxsched.schedules`, peak = the grid's learning rate, horizon = the run's), whether it is
anytime, and, for a warmup-stable-decay baseline, its cooldown. AdamW is
``optax.adamw(b1=0.9, b2=0.999, eps=1e-8)`` with the grid's weight decay; warmup is a fraction
``w`` of the horizon (of the longest one for an anytime candidate), linear from 0.

========================  =======  ======================================================
name                      anytime  what it is
========================  =======  ======================================================
``"cosine"``              no       AdamW, ``lr(t) = η·½(1 + cos(π·t/T))`` after ``W = round(w·T)``
``"linear"``              no       AdamW, ``lr(t) = η·(1 − t/T)`` after ``W = round(w·T)``
``"wsd"``                 no       AdamW at η until ``T − C``, then ``η·(1 − √((t − T + C)/C))``,
                                   ``C = round(0.2·T)``
``"constant"``            yes      AdamW at η (warmup ``round(w·T_max)``)
``"sf_adamw"``            yes      ``schedule_free_adamw(η, warmup_steps=round(w·T_max))``
``"sf_adam_ema"``         yes      the notes' schedule-free Adam with a debiased EMA average
``"adam_ema"``            yes      Adam (eps 1e-8, AdamW's decoupled decay) with a debiased
                                   EMA of the iterates
========================  =======  ======================================================

Runs of candidates that train the same optimizer share one compiled program: every scheduled
AdamW run (any schedule, any lr, any horizon) and the constant baseline are one. A candidate
with a ``cooldown`` branches its shorter horizons' cooldowns from the longest run's stable
phase (:mod:`jaxsched.compare.experiment`). The EMA decay of the EMA candidates keeps the
notes' averaging window (0.9999 at 100k steps: a tenth of the horizon) as a fraction of the
longest horizon: ``1 − min(10/T_max, 0.5)``. A new built-in candidate is one row of
:data:`BUILTIN`.

A custom candidate is ``(name, factory)`` or ``(name, factory, anytime)``, or a
:class:`Candidate`, where ``factory(lr, horizon)`` returns an optax transformation. ``lr``
arrives as a JAX scalar (so one program serves every learning rate: keep it an array, do not
branch on it in Python), ``horizon`` as a Python int (the longest horizon for an anytime one).

>>> [c.name for c in resolve(["cosine", ("sgd", lambda lr, T: optax.sgd(lr), True)])]
['cosine', 'sgd']
>>> BUILTIN["wsd"].cooldown_steps(1000), BUILTIN["cosine"].cooldown_steps(1000)
(200, None)
>>> resolve(["cosinus"])
Traceback (most recent call last):
...
ValueError: candidates: unknown name 'cosinus'; the built-in ones are cosine, linear, ...
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import optax

from jaxsched import _validate as v
from jaxsched import schedules
from jaxsched.train.optimizers import OPTIMIZERS

__all__ = ["ADAMW", "BUILTIN", "Candidate", "ema_decay", "resolve"]

ADAMW = {"b1": 0.9, "b2": 0.999, "eps": 1e-8}
"""The fixed Adam hyperparameters of the built-in AdamW-family candidates."""

NOTES_ADAM = {"b1": 0.9, "b2": 0.999, "eps": 1e-6}

Factory = Callable[[Any, int], optax.GradientTransformation]


def ema_decay(longest: int) -> float:
    """EMA decay whose window is a tenth of ``longest`` steps (the notes' 0.9999 at 100k)."""
    return 1.0 - min(10.0 / longest, 0.5)


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One optimizer of the comparison.

    Attributes:
      name: its name in rows, tables and figures.
      optimizer: built-ins: the :data:`~jaxsched.train.optimizers.OPTIMIZERS` entry it trains.
      factory: custom candidates: ``(lr, horizon) -> optax transformation``.
      anytime: trained once per (lr, seed) to the longest horizon and evaluated at every
        horizon; otherwise trained per (lr, horizon, seed).
      schedule: built-ins: the :mod:`jaxsched.schedules` kind of the learning-rate table (peak
        = lr, horizon = the run's, ``warmup_steps`` = the run's warmup); ``None``: constant at
        lr after the warmup.
      schedule_args: more arguments of that kind.
      cooldown: a cooldown over this fraction of the horizon from a stable phase (passed to the
        schedule as ``cooldown_steps``); its runs of several horizons branch from one trunk.
      hparams: the optimizer's fixed scalars (``b1``, ``b2``, ``eps``, ...).
      optimizer_warmup: give the warmup to the optimizer's own ``warmup_steps`` (schedule-free
        AdamW's, which also weights its average) instead of the table.
      description: one line for the report.
    """

    name: str
    optimizer: str | None = None
    factory: Factory | None = None
    anytime: bool = False
    schedule: str | None = None
    schedule_args: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    cooldown: float | None = None
    hparams: Mapping[str, float] = dataclasses.field(default_factory=dict)
    optimizer_warmup: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"candidate name must be a non-empty string, got {self.name!r}")
        if (self.factory is None) == (self.optimizer is None):
            raise ValueError(
                f"candidate {self.name!r} needs exactly one of optimizer and factory, got "
                f"optimizer={self.optimizer!r} and factory={self.factory!r}"
            )
        if self.factory is not None and not callable(self.factory):
            raise ValueError(
                f"candidate {self.name!r}: factory must be callable, got {self.factory!r}"
            )
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise ValueError(f"candidate {self.name!r}: optimizer must be one of "
                             f"{', '.join(OPTIMIZERS)}, got optimizer={self.optimizer!r}")
        if not isinstance(self.anytime, bool):
            raise ValueError(f"candidate {self.name!r}: anytime must be a bool, got "
                             f"{self.anytime!r}")
        if self.cooldown is not None:
            v.check_in_range("cooldown", self.cooldown, 0.0, 1.0, low_inclusive=False)
            if self.anytime:
                raise ValueError(f"candidate {self.name!r}: an anytime candidate has no "
                                 f"horizon to cool down to, got cooldown={self.cooldown}")

    @property
    def builtin(self) -> bool:
        return self.optimizer is not None

    @property
    def scheduled(self) -> bool:
        return not self.anytime

    @property
    def record_eval_loss(self) -> bool:
        """Log the loss at ``eval_params``: the optimizer's setting, or anytime customs."""
        if self.optimizer is None:
            return self.anytime
        return OPTIMIZERS[self.optimizer].record_eval_loss

    def warmup_steps(self, horizon: int, longest: int, warmup: float) -> int:
        """The warmup of a run: a fraction of its horizon, or of the longest (anytime)."""
        return round(warmup * (longest if self.anytime else horizon))

    def cooldown_steps(self, horizon: int) -> int | None:
        """``C = round(cooldown·T)``, at least one step; ``None`` without a cooldown."""
        return None if self.cooldown is None else max(1, round(self.cooldown * horizon))

    def lr_schedule(self, lr: float, horizon: int, warmup_steps: int) -> schedules.Schedule:
        """The schedule of a built-in's learning-rate table (a custom one's is its own)."""
        table_warmup = 0 if self.optimizer_warmup else warmup_steps
        if self.schedule is None:
            return schedules.registry.build(
                "warmup", {"schedule": lr, "warmup_steps": table_warmup})
        args = {"warmup_steps": table_warmup, **self.schedule_args}
        if self.cooldown is not None:
            args["cooldown_steps"] = self.cooldown_steps(horizon)
        return schedules.registry.build(self.schedule, args, peak=lr, horizon=horizon)

    def run_hparams(self, lr: float, weight_decay: float, longest: int,
                    warmup_steps: int) -> dict[str, float]:
        """The per-run scalars of a run: what the optimizer entry reads and the candidate does
        not fix (the fixed ones stay compile-time constants)."""
        if self.optimizer is None:
            return {"lr": float(lr)}
        grid = {"weight_decay": weight_decay, "ema_decay": ema_decay(longest),
                "warmup_steps": warmup_steps if self.optimizer_warmup else 0}
        names = OPTIMIZERS[self.optimizer].hparams
        return {n: float(grid[n]) for n in names if n not in self.hparams}

    def build(self, horizon: int) -> Callable[[Callable, Mapping[str, jax.Array]], Any]:
        """``(lr_fn, hparams) -> optax transformation`` of a run (inside ``vmap``)."""
        if self.optimizer is not None:
            build = OPTIMIZERS[self.optimizer].build
            fixed: dict[str, jax.typing.ArrayLike] = dict(self.hparams)
            return lambda lr_fn, h: build(lr_fn, {**fixed, **h})
        factory = self.factory
        assert factory is not None  # a candidate has exactly one of optimizer and factory
        return lambda lr_fn, h: factory(h["lr"], horizon)

    def group_key(self, horizon: int) -> str:
        """Runs with equal keys share a compiled program (a custom one is static in T)."""
        if self.builtin:
            return f"optimizer:{self.optimizer}"
        return f"custom:{self.name}:{horizon}"


BUILTIN: dict[str, Candidate] = {
    c.name: c
    for c in [
        Candidate("cosine", "adamw", schedule="warmup_cosine_decay", hparams=ADAMW,
                  description="AdamW, cosine decay to 0 at the horizon"),
        Candidate("linear", "adamw", schedule="warmup_linear_decay", hparams=ADAMW,
                  description="AdamW, linear decay to 0 at the horizon"),
        Candidate("wsd", "adamw", schedule="warmup_stable_decay",
                  schedule_args={"cooldown": "1-sqrt"}, cooldown=0.2, hparams=ADAMW,
                  description="AdamW, warmup-stable-decay, 1-sqrt cooldown over the last 20% "
                  "(Hägele et al. 2024)"),
        Candidate("constant", "adamw", anytime=True, hparams=ADAMW,
                  description="AdamW at a constant learning rate"),
        Candidate("sf_adamw", "sf_adamw", anytime=True, hparams=ADAMW, optimizer_warmup=True,
                  description="Schedule-Free AdamW (Defazio et al. 2024)"),
        Candidate("sf_adam_ema", "sf_adam_ema", anytime=True, hparams=NOTES_ADAM,
                  description="the notes' schedule-free Adam, debiased EMA average"),
        Candidate("adam_ema", "adam_ema", anytime=True, hparams=ADAMW,
                  description="Adam at a constant rate (eps 1e-8, AdamW's decoupled decay) with "
                  "a debiased EMA of the iterates"),
    ]
}
"""The built-in candidates by name (fixed names)."""


def resolve(candidates: Sequence[Any]) -> list[Candidate]:
    """Candidates from names, ``(name, factory[, anytime])`` tuples or :class:`Candidate`."""
    if isinstance(candidates, (str, bytes)) or not isinstance(candidates, Sequence):
        raise ValueError(
            f"candidates must be a list of names, (name, factory[, anytime]) tuples or "
            f"Candidate objects, got candidates={candidates!r}"
        )
    if not candidates:
        raise ValueError("candidates must not be empty, got candidates=[]")
    out: list[Candidate] = []
    for c in candidates:
        if isinstance(c, Candidate):
            cand = c
        elif isinstance(c, str):
            if c not in BUILTIN:
                raise ValueError(
                    f"candidates: unknown name {c!r}; the built-in ones are "
                    f"{', '.join(BUILTIN)}"
                )
            cand = BUILTIN[c]
        elif isinstance(c, tuple) and len(c) in (2, 3):
            cand = Candidate(c[0], factory=c[1], anytime=c[2] if len(c) == 3 else False)
        else:
            raise ValueError(
                "candidates: each must be a name, a (name, factory[, anytime]) tuple or a "
                f"Candidate, got {c!r}"
            )
        out.append(cand)
    names = [c.name for c in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"candidates: names must be unique, got {', '.join(dup)} twice")
    return out
