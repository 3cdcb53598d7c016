"""The candidates of the anytime comparison: scheduled baselines and anytime optimizers.

A candidate turns a learning rate (and, for a scheduled one, a horizon) into runs of the
group trainer. The built-in ones (warmup ``W`` steps, linear from 0; AdamW is
``optax.adamw(b1=0.9, b2=0.999, eps=1e-8, weight_decay=weight_decay)``):

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
``"adam_ema"``            yes      AdamW at η with a debiased EMA of the iterates
========================  =======  ======================================================

The schedules are the registry's (``warmup_cosine_decay``, ``warmup_linear_decay``,
``warmup_stable_decay`` with the ``1-sqrt`` cooldown, ``warmup`` of ``constant``): their
values at each step become the run's learning-rate table, so every scheduled AdamW run (any
schedule, any lr, any horizon) and the constant baseline share one compiled program. The EMA
decay of the two EMA candidates keeps the notes' averaging window (0.9999 at 100k steps: a
tenth of the horizon) as a fraction of the longest horizon: ``1 − min(10/T_max, 0.5)``.

A custom candidate is ``(name, factory)`` or ``(name, factory, anytime)``, or a
:class:`Candidate`, where ``factory(lr, horizon)`` returns an optax transformation. ``lr``
arrives as a JAX scalar (so one program serves every learning rate: keep it an array, do not
branch on it in Python), ``horizon`` as a Python int (the longest horizon for an anytime one).

>>> [c.name for c in resolve(["cosine", ("sgd", lambda lr, T: optax.sgd(lr), True)])]
['cosine', 'sgd']
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

from jaxsched import optim, schedules
from jaxsched.train.config import OptimizerKind

__all__ = ["BUILTIN", "Candidate", "WSD_COOLDOWN", "ema_decay", "resolve"]

WSD_COOLDOWN = 0.2
"""WSD's cooldown as a fraction of the horizon (Hägele et al. 2024)."""

ADAMW = {"b1": 0.9, "b2": 0.999, "eps": 1e-8}

Factory = Callable[[Any, int], optax.GradientTransformation]


def ema_decay(longest: int) -> float:
    """EMA decay whose window is a tenth of ``longest`` steps (the notes' 0.9999 at 100k)."""
    return 1.0 - min(10.0 / longest, 0.5)


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One optimizer of the comparison.

    Attributes:
      name: its name in rows, tables and figures.
      factory: ``(lr, horizon) -> optax transformation`` (custom candidates).
      anytime: trained once per (lr, seed) to the longest horizon and evaluated at every
        horizon; otherwise trained per (lr, horizon, seed).
      schedule: built-ins: ``(lr, horizon, warmup_steps) -> Schedule``, the run's table.
      build: built-ins: ``(lr_fn, hparams, ctx) -> optax transformation`` with the table's
        learning rate ``lr_fn`` and per-run scalars ``hparams`` (``lr``, ``weight_decay``,
        ``ema_decay``); ``ctx`` holds the grid's static values (``warmup_max``).
      record_eval_loss: log the training loss at ``eval_params`` (averaging / schedule-free).
      structure: runs of candidates with the same structure share a compiled program.
      description: one line for the report.
    """

    name: str
    factory: Factory | None = None
    anytime: bool = False
    schedule: Callable[[float, int, int], schedules.Schedule] | None = None
    build: Callable[[Callable, Mapping[str, jax.Array], Mapping[str, Any]], Any] | None = None
    record_eval_loss: bool = False
    structure: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"candidate name must be a non-empty string, got {self.name!r}")
        if (self.factory is None) == (self.build is None):
            raise ValueError(
                f"candidate {self.name!r} needs exactly one of factory and build, got "
                f"factory={self.factory!r} and build={self.build!r}"
            )
        if self.factory is not None and not callable(self.factory):
            raise ValueError(
                f"candidate {self.name!r}: factory must be callable, got {self.factory!r}"
            )
        if not isinstance(self.anytime, bool):
            raise ValueError(f"candidate {self.name!r}: anytime must be a bool, got "
                             f"{self.anytime!r}")

    @property
    def builtin(self) -> bool:
        return self.build is not None

    @property
    def scheduled(self) -> bool:
        return not self.anytime

    def warmup_steps(self, horizon: int, longest: int, warmup: float) -> int:
        """The warmup of a run: a fraction of its horizon, or of the longest (anytime)."""
        return round(warmup * (longest if self.anytime else horizon))

    def kind(self, horizon: int, ctx: Mapping[str, Any]) -> OptimizerKind:
        """The optimizer of a run as the trainer builds it (inside ``vmap``)."""
        if self.builtin:
            build = self.build
            return OptimizerKind(("lr", "weight_decay", "ema_decay"),
                                 lambda lr_fn, h: build(lr_fn, h, ctx),
                                 self.record_eval_loss, self.description)
        factory = self.factory

        def custom(lr_fn, h):
            return factory(h["lr"], horizon)

        return OptimizerKind(("lr", "weight_decay", "ema_decay"), custom, self.anytime,
                             self.description or f"custom ({self.name})")

    def group_key(self, horizon: int) -> str:
        """Runs with equal keys share a compiled program (a custom one is static in T)."""
        if self.builtin:
            return f"builtin:{self.structure}"
        return f"custom:{self.name}:{horizon}"


def _adamw(lr_fn, h, ctx):
    return optax.adamw(lr_fn, **ADAMW, weight_decay=h["weight_decay"])


def _sf_adamw(lr_fn, h, ctx):
    return optim.schedule_free_adamw(
        h["lr"], **ADAMW, weight_decay=h["weight_decay"], warmup_steps=ctx["warmup_max"]
    )


def _sf_adam_ema(lr_fn, h, ctx):
    return optim.schedule_free_adam(lr_fn, average="ema", ema_decay=h["ema_decay"])


def _adam_ema(lr_fn, h, ctx):
    return optim.ema_average(_adamw(lr_fn, h, ctx), decay=h["ema_decay"])


def _cosine(lr, horizon, warmup):
    return schedules.registry.build("warmup_cosine_decay", {"warmup_steps": warmup},
                                    peak=lr, horizon=horizon)


def _linear(lr, horizon, warmup):
    return schedules.registry.build("warmup_linear_decay", {"warmup_steps": warmup},
                                    peak=lr, horizon=horizon)


def wsd_cooldown_steps(horizon: int) -> int:
    """``C = round(0.2·T)``, at least one step."""
    return max(1, round(WSD_COOLDOWN * horizon))


def _wsd(lr, horizon, warmup):
    return schedules.registry.build(
        "warmup_stable_decay",
        {"warmup_steps": warmup, "cooldown_steps": wsd_cooldown_steps(horizon),
         "cooldown": "1-sqrt"},
        peak=lr, horizon=horizon,
    )


def _constant(lr, horizon, warmup):
    return schedules.registry.build("warmup", {"schedule": lr, "warmup_steps": warmup})


BUILTIN: dict[str, Candidate] = {
    c.name: c
    for c in [
        Candidate("cosine", schedule=_cosine, build=_adamw, structure="adamw",
                  description="AdamW, cosine decay to 0 at the horizon"),
        Candidate("linear", schedule=_linear, build=_adamw, structure="adamw",
                  description="AdamW, linear decay to 0 at the horizon"),
        Candidate("wsd", schedule=_wsd, build=_adamw, structure="adamw",
                  description="AdamW, warmup-stable-decay, 1-sqrt cooldown over the last 20%"),
        Candidate("constant", anytime=True, schedule=_constant, build=_adamw,
                  structure="adamw", description="AdamW at a constant learning rate"),
        Candidate("sf_adamw", anytime=True, schedule=_constant, build=_sf_adamw,
                  record_eval_loss=True, structure="sf_adamw",
                  description="Schedule-Free AdamW (Defazio et al. 2024)"),
        Candidate("sf_adam_ema", anytime=True, schedule=_constant, build=_sf_adam_ema,
                  record_eval_loss=True, structure="sf_adam_ema",
                  description="the notes' schedule-free Adam, debiased EMA average"),
        Candidate("adam_ema", anytime=True, schedule=_constant, build=_adam_ema,
                  record_eval_loss=True, structure="adam_ema",
                  description="AdamW at a constant rate with a debiased EMA of the iterates"),
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
