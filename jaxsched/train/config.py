# mypy: disable-error-code="import-untyped"
"""One training run of the trainer: optimizer, schedule, horizon, seed, hyperparameters.

A :class:`RunConfig` is plain data (JSON round-trippable) and satisfies the
:class:`~jaxsched.train.runner.TrainingRun` protocol the runner reads. What is trained (the
model and its data) is the runner's :class:`~jaxsched.train.task.Task`, not part of the config.
Everything that changes the *structure* of the compiled program (the optimizer family) goes into
:meth:`RunConfig.group_key`; runs that share it train together in one vmapped program, and
everything else (learning-rate table, EMA decay, Adam betas, seed, horizon) travels on the run
axis as data.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxsched import _validate as v
from jaxsched import schedules
from jaxsched.train.optimizers import OPTIMIZERS, OptimizerKind

__all__ = ["RunConfig", "field_help"]


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """One training run.

    ``steps`` is the schedule's horizon; ``steps_this_run`` (SambaFlow's knob) stops training
    earlier without changing the schedule. ``schedule`` names a :mod:`jaxsched.schedules` kind;
    unless ``schedule_kwargs`` says otherwise, ``lr`` fills its registered peak argument and
    ``steps`` its horizon argument, where the kind has them
    (:data:`jaxsched.schedules.KINDS`). Each field's ``metadata`` carries its ``help`` for the
    ``jaxsched train`` flag generated from it (``"cli": False``: no flag; ``{name}`` in a help
    text is replaced by the optimizers that read the hyperparameter ``name``).

    >>> cfg = RunConfig(schedule="cosine_decay", lr=0.1, steps=100)
    >>> cfg.schedule_arguments(), float(cfg.build_schedule()(50))
    ({'peak': 0.1, 'decay_steps': 100}, 0.05)
    >>> RunConfig(schedule="cyclical", steps=100)
    Traceback (most recent call last):
    ...
    ValueError: schedule 'cyclical' needs the arguments base_lr, step_size_up ...
    """

    optimizer: str = dataclasses.field(
        default="adam", metadata={"help": "optimizer", "choices": tuple(OPTIMIZERS)}
    )
    schedule: str = dataclasses.field(
        default="constant",
        metadata={
            "help": "NAME[:key=value,...] of jaxsched.schedules; --lr fills its peak and --steps "
            "its horizon where it has them (e.g. cosine_decay, stepwise_drop:fraction=0.75)",
            "metavar": "SPEC",
        },
    )
    schedule_kwargs: Mapping[str, Any] = dataclasses.field(
        default_factory=dict, metadata={"cli": False}  # given inside --schedule's spec
    )
    lr: float = dataclasses.field(default=1e-3, metadata={"help": "peak learning rate"})
    steps: int = dataclasses.field(
        default=100_000, metadata={"help": "the schedule's horizon", "required": True}
    )
    steps_this_run: int | None = dataclasses.field(
        default=None, metadata={"help": "stop after this many steps without changing the schedule"}
    )
    seed: int = dataclasses.field(default=0, metadata={"help": "random seed (init, batches)"})
    b1: float = dataclasses.field(default=0.9, metadata={"help": "Adam's first-moment decay"})
    b2: float = dataclasses.field(default=0.999, metadata={"help": "Adam's second-moment decay"})
    eps: float = dataclasses.field(default=1e-6, metadata={"help": "Adam's epsilon"})
    ema_decay: float = dataclasses.field(
        default=0.9999, metadata={"help": "decay of the EMA averages (used by {ema_decay})"}
    )
    weight_decay: float = dataclasses.field(
        default=0.0, metadata={"help": "weight decay (used by {weight_decay})"}
    )
    warmup_steps: int = dataclasses.field(
        default=0,
        metadata={
            "help": "the schedule-free reference's own warmup, lr * min(1, (k+1)/W) "
            "(used by {warmup_steps}; other optimizers take warmup from --schedule)",
        },
    )
    eval_every: int = dataclasses.field(
        default=1000,
        metadata={"help": "evaluation period in steps (default: steps/20)", "cli_default": None},
    )

    # -- validation -------------------------------------------------------------------------
    def __post_init__(self) -> None:
        object.__setattr__(self, "schedule_kwargs", dict(self.schedule_kwargs))
        v.check_choice("optimizer", self.optimizer, tuple(OPTIMIZERS))
        v.check_int("steps", self.steps, minimum=1)
        if self.steps_this_run is not None:
            v.check_int("steps_this_run", self.steps_this_run, minimum=1)
            if self.steps_this_run > self.steps:
                raise ValueError(
                    f"steps_this_run must be <= steps, got steps_this_run={self.steps_this_run} "
                    f"and steps={self.steps}"
                )
        v.check_int("seed", self.seed, minimum=0)
        v.check_int("eval_every", self.eval_every, minimum=1)
        v.check_nonnegative("lr", self.lr)
        v.check_in_range("b1", self.b1, 0.0, 1.0, high_inclusive=False)
        v.check_in_range("b2", self.b2, 0.0, 1.0, high_inclusive=False)
        v.check_positive("eps", self.eps)
        v.check_in_range("ema_decay", self.ema_decay, 0.0, 1.0, high_inclusive=False)
        v.check_nonnegative("weight_decay", self.weight_decay)
        v.check_int("warmup_steps", self.warmup_steps, minimum=0)
        if self.warmup_steps and "warmup_steps" not in self.kind.hparams:
            with_warmup = [n for n, k in OPTIMIZERS.items() if "warmup_steps" in k.hparams]
            raise ValueError(
                f"warmup_steps is for {', '.join(with_warmup)}, got warmup_steps="
                f"{self.warmup_steps} with optimizer={self.optimizer!r}: give its warmup in the "
                "schedule (e.g. warmup:schedule=...)"
            )
        schedules.get(self.schedule)  # unknown names fail here, listing the valid ones
        try:
            self.build_schedule()  # and bad schedule arguments fail here, naming the argument
        except ValueError as err:
            if str(err).startswith("schedule"):
                raise
            raise ValueError(f"schedule {self.schedule!r}: {err}") from None

    # -- derived ----------------------------------------------------------------------------
    @property
    def train_steps(self) -> int:
        """How many steps this run trains for."""
        return self.steps if self.steps_this_run is None else self.steps_this_run

    @property
    def kind(self) -> OptimizerKind:
        return OPTIMIZERS[self.optimizer]

    def hparams(self) -> dict[str, float]:
        """The optimizer's per-run scalars (they ride on the vmapped run axis)."""
        return {name: float(getattr(self, name)) for name in self.kind.hparams}

    def schedule_arguments(self) -> dict[str, Any]:
        """``schedule_kwargs`` with the kind's registered peak (``lr``) and horizon (``steps``).

        >>> RunConfig(schedule="inverse_time", schedule_kwargs={"decay_rate": 0.5},
        ...           lr=0.1, steps=100).schedule_arguments()
        {'decay_rate': 0.5, 'peak': 0.1}
        """
        return schedules.registry.fill(
            self.schedule, self.schedule_kwargs, peak=self.lr, horizon=self.steps
        )

    def build_schedule(self) -> schedules.Schedule:
        """The run's schedule (see :func:`jaxsched.schedules.registry.build`)."""
        return schedules.registry.build(
            self.schedule, self.schedule_kwargs, peak=self.lr, horizon=self.steps
        )

    def lr_table(self) -> np.ndarray:
        """The learning rate at each of the ``train_steps`` steps, float32."""
        fn = self.build_schedule()
        return np.asarray(jax.jit(fn)(jnp.arange(self.train_steps, dtype=jnp.int32)), np.float32)

    def group_key(self) -> str:
        """Runs with equal keys compile to the same program: the optimizer's structure."""
        return self.optimizer

    @property
    def record_eval_loss(self) -> bool:
        """Whether the logged loss is taken at the evaluation parameters (the notes' logging)."""
        return self.kind.record_eval_loss

    # The runner's schedule of extra evaluations and branch points: none for a plain run.
    @property
    def eval_steps(self) -> tuple[int, ...]:
        return ()

    @property
    def branch_steps(self) -> tuple[int, ...]:
        return ()

    @property
    def branch_from(self) -> None:
        return None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["schedule_kwargs"] = dict(self.schedule_kwargs)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown RunConfig fields: {sorted(unknown)}")
        return cls(**dict(d))

    def name(self) -> str:
        """A readable name for the run's directory: optimizer, schedule, length, seed.

        >>> RunConfig(schedule="stepwise_drop", schedule_kwargs={"fraction": 0.75},
        ...           steps=1000).name()
        'adam-stepwise_drop0.75-1000-s0'
        """
        sched = self.schedule
        if "fraction" in self.schedule_kwargs:
            sched += f"{self.schedule_kwargs['fraction']:g}"
        parts = [self.optimizer, sched, f"{self.train_steps}", f"s{self.seed}"]
        if "ema_decay" in self.kind.hparams:
            parts.insert(1, f"ema{self.ema_decay:g}")
        return re.sub(r"[^A-Za-z0-9_.]+", "-", "-".join(parts))

    def make_optimizer(
        self, lr_fn, hparams: Mapping[str, jax.Array]
    ) -> optax.GradientTransformation:
        return self.kind.build(lr_fn, hparams)


def field_help(field: dataclasses.Field) -> str | None:
    """The ``help`` of a :class:`RunConfig` field, ``{hparam}`` filled with the optimizers
    that read that hyperparameter (so the text follows :data:`OPTIMIZERS`).

    >>> field_help(next(f for f in dataclasses.fields(RunConfig) if f.name == "ema_decay"))
    'decay of the EMA averages (used by adam_ema, sf_adam_ema)'
    """
    text = field.metadata.get("help")
    if text is None:
        return None
    taking = {h: ", ".join(n for n, k in OPTIMIZERS.items() if h in k.hparams)
              for h in ("ema_decay", "weight_decay", "warmup_steps")}
    return text.format(**taking)
