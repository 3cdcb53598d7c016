"""Run configurations: what one training run is, how it is keyed, and which optimizer it builds.

A :class:`RunConfig` is plain data (JSON round-trippable). Everything that changes the *structure*
of the compiled program (the optimizer family, the model shape, the batch size) goes into
:meth:`RunConfig.group_key`; runs that share it train together in one vmapped program, and
everything else (learning-rate table, EMA decay, Adam betas, seed, horizon) travels on the run
axis as data.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxsched import _validate as v
from jaxsched import optim, schedules


class OptimizerKind(NamedTuple):
    """How a named optimizer is built from a learning-rate function and per-run scalars."""

    hparams: tuple[str, ...]
    build: Callable[[Callable[[jax.Array], jax.Array], Mapping[str, jax.Array]], Any]
    # The notes log the loss at the averaged parameters for averaging / schedule-free runs.
    record_eval_loss: bool
    description: str


def _adam(lr, h):
    return optim.adam(lr, b1=h["b1"], b2=h["b2"], eps=h["eps"])


OPTIMIZERS: dict[str, OptimizerKind] = {
    "adam": OptimizerKind(("b1", "b2", "eps"), _adam, False, "the notes' Adam"),
    "adam_polyak": OptimizerKind(
        ("b1", "b2", "eps"),
        lambda lr, h: optim.polyak_average(_adam(lr, h)),
        True,
        "Adam with Polyak (uniform) averaging of the iterates",
    ),
    "adam_ema": OptimizerKind(
        ("b1", "b2", "eps", "ema_decay"),
        lambda lr, h: optim.ema_average(_adam(lr, h), decay=h["ema_decay"]),
        True,
        "Adam with a debiased exponential moving average of the iterates",
    ),
    "sf_adam_polyak": OptimizerKind(
        ("b1", "b2", "eps"),
        lambda lr, h: optim.schedule_free_adam(
            lr, b1=h["b1"], b2=h["b2"], eps=h["eps"], average="polyak"
        ),
        True,
        "the notes' schedule-free Adam, Polyak average",
    ),
    "sf_adam_ema": OptimizerKind(
        ("b1", "b2", "eps", "ema_decay"),
        lambda lr, h: optim.schedule_free_adam(
            lr, b1=h["b1"], b2=h["b2"], eps=h["eps"], average="ema", ema_decay=h["ema_decay"]
        ),
        True,
        "the notes' schedule-free Adam, debiased EMA average",
    ),
    "adamw": OptimizerKind(
        ("b1", "b2", "eps", "weight_decay"),
        lambda lr, h: optax.adamw(
            lr, b1=h["b1"], b2=h["b2"], eps=h["eps"], weight_decay=h["weight_decay"]
        ),
        False,
        "optax.adamw: Adam with decoupled weight decay (scaled by the learning rate)",
    ),
    "sf_adamw": OptimizerKind(
        ("b1", "b2", "eps", "weight_decay", "warmup_steps"),
        lambda lr, h: optim.schedule_free_adamw(
            lr,
            b1=h["b1"],
            b2=h["b2"],
            eps=h["eps"],
            weight_decay=h["weight_decay"],
            warmup_steps=h["warmup_steps"],
        ),
        True,
        "Schedule-Free AdamW (Defazio et al. 2024), weight decay at y, the reference's warmup "
        "lr * min(1, (k+1)/warmup_steps) and its warmup-weighted average",
    ),
    "sf_sgd": OptimizerKind(
        ("b1", "weight_decay", "warmup_steps"),
        lambda lr, h: optim.schedule_free_sgd(
            lr, b1=h["b1"], weight_decay=h["weight_decay"], warmup_steps=h["warmup_steps"]
        ),
        True,
        "Schedule-Free SGD (b1 is the interpolation, the reference's momentum; L2 decay at y; "
        "the reference's warmup)",
    ),
    "sf_radam": OptimizerKind(
        ("b1", "b2", "eps", "weight_decay"),
        lambda lr, h: optim.schedule_free_radam(
            lr, b1=h["b1"], b2=h["b2"], eps=h["eps"], weight_decay=h["weight_decay"]
        ),
        True,
        "Schedule-Free RAdam: needs no warmup (silent SGD phase while rho_t <= 4)",
    ),
}

@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """TinyViT shape. The defaults are the notes' model."""

    features: int = 128
    patch_size: int = 8
    num_blocks: int = 4
    num_heads: int = 4
    dropout: float = 0.3
    readout: str = "first_patch"

    def validate(self) -> None:
        for name in ("features", "patch_size", "num_blocks", "num_heads"):
            v.check_int(name, getattr(self, name), minimum=1)
        v.check_in_range("dropout", self.dropout, 0.0, 1.0, high_inclusive=False)
        v.check_choice("readout", self.readout, ("first_patch", "class_token"))
        if self.features % self.num_heads:
            raise ValueError(
                f"features must be divisible by num_heads, got features={self.features} "
                f"and num_heads={self.num_heads}"
            )


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """One training run.

    ``steps`` is the schedule's horizon; ``steps_this_run`` (SambaFlow's knob) stops training
    earlier without changing the schedule. ``schedule`` names a :mod:`jaxsched.schedules` kind;
    unless ``schedule_kwargs`` says otherwise, ``lr`` fills its registered peak argument and
    ``steps`` its horizon argument, where the kind has them
    (:data:`jaxsched.schedules.KINDS`). Each field's ``metadata`` carries its ``help`` for the
    ``jaxsched train`` flag generated from it (``"cli": False``: no flag).

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
        default=0.9999, metadata={"help": "decay of the EMA averages (adam_ema, sf_adam_ema)"}
    )
    weight_decay: float = dataclasses.field(
        default=0.0, metadata={"help": "weight decay (adamw, sf_adamw, sf_sgd, sf_radam)"}
    )
    warmup_steps: int = dataclasses.field(
        default=0,
        metadata={
            "help": "the schedule-free reference's own warmup, lr * min(1, (k+1)/W) "
            "(sf_adamw, sf_sgd; other optimizers take warmup from --schedule)",
            # Added after runs were keyed by their config: at its default it stays out of the
            # key, so existing run directories keep their ids and resume.
            "keyed_from_default": True,
        },
    )
    batch_size: int = dataclasses.field(default=128, metadata={"help": "examples per step"})
    model: ModelConfig = dataclasses.field(
        default_factory=ModelConfig, metadata={"cli": False}  # --model picks a preset's shape
    )
    data: str = dataclasses.field(
        default="synthetic", metadata={"cli": False}  # --data also offers 'auto'
    )
    eval_every: int = dataclasses.field(
        default=1000,
        metadata={"help": "test-set evaluation period (default: steps/20)", "cli_default": None},
    )
    eval_examples: int = dataclasses.field(
        default=10_000, metadata={"help": "test examples per evaluation"}
    )

    # -- validation -------------------------------------------------------------------------
    def __post_init__(self) -> None:
        object.__setattr__(self, "schedule_kwargs", dict(self.schedule_kwargs))
        if isinstance(self.model, Mapping):
            object.__setattr__(self, "model", ModelConfig(**self.model))
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
        v.check_int("batch_size", self.batch_size, minimum=1)
        v.check_int("eval_every", self.eval_every, minimum=1)
        v.check_int("eval_examples", self.eval_examples, minimum=1)
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
        v.check_choice("data", self.data, ("cifar10", "synthetic"))
        self.model.validate()
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
        """Runs with equal keys compile to the same program (their optimizer states match)."""
        return json.dumps(
            {
                "optimizer": self.optimizer,
                "model": dataclasses.asdict(self.model),
                "batch_size": self.batch_size,
                "data": self.data,
                "eval_examples": self.eval_examples,
            },
            sort_keys=True,
        )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["schedule_kwargs"] = dict(self.schedule_kwargs)
        for f in dataclasses.fields(self):
            if f.metadata.get("keyed_from_default") and d[f.name] == f.default:
                del d[f.name]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown RunConfig fields: {sorted(unknown)}")
        return cls(**dict(d))

    def run_id(self) -> str:
        """A readable, stable directory name: what the run is, plus a hash of its whole config."""
        from jaxsched.train.results import config_key

        sched = self.schedule
        if "fraction" in self.schedule_kwargs:
            sched += f"{self.schedule_kwargs['fraction']:g}"
        parts = [self.optimizer, sched, f"{self.train_steps}", f"s{self.seed}"]
        slug = re.sub(r"[^A-Za-z0-9_.]+", "-", "-".join(parts))
        return f"{slug}-{config_key(self.to_dict())[:10]}"

    def make_optimizer(
        self, lr_fn, hparams: Mapping[str, jax.Array]
    ) -> optax.GradientTransformation:
        return self.kind.build(lr_fn, hparams)
