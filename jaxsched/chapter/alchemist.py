"""The "Learning Rate Scheduling" chapter of An Alchemist's Notes on Deep Learning, as data.

Every run of the chapter is a named :class:`RunSpec` written at the notes' scale (100k steps);
a :class:`Preset` rescales horizons, the EMA time constants and the smoothing window to its own
horizon, and may shrink the model for a CPU. The comparisons (figures) and the claims the chapter
makes are data too; :mod:`jaxsched.chapter.report` evaluates the claims on finished runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from jaxsched.smoothing import smoothing_window
from jaxsched.train.config import ModelConfig, RunConfig
from jaxsched.train.data import Difficulty

NOTES_STEPS = 100_000
NOTES_WINDOW = 1000


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """A run of the notes. ``length`` is the fraction of the horizon it trains (and decays) over."""

    label: str
    optimizer: str = "adam"
    schedule: str = "constant"
    schedule_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    length: float = 1.0
    ema_decay: float | None = None
    notes_loss: float | None = None  # final 1000-step smoothed train loss read from the notes


RUNS: dict[str, RunSpec] = {
    s.label: s
    for s in [
        RunSpec("Constant LR", notes_loss=0.18),
        RunSpec("Linear Decay 100%", schedule="linear_decay", notes_loss=0.05),
        RunSpec("Linear Decay 75%", schedule="linear_decay", length=0.75, notes_loss=0.09),
        RunSpec("Linear Decay 50%", schedule="linear_decay", length=0.50, notes_loss=0.16),
        RunSpec("Linear Decay 25%", schedule="linear_decay", length=0.25, notes_loss=0.45),
        RunSpec("Cosine Decay", schedule="cosine_decay", notes_loss=0.05),
        RunSpec(
            "Stepwise at 25%", schedule="stepwise_drop", schedule_kwargs={"fraction": 0.25},
            notes_loss=0.14,
        ),
        RunSpec(
            "Stepwise at 75%", schedule="stepwise_drop", schedule_kwargs={"fraction": 0.75},
            notes_loss=0.05,
        ),
        RunSpec("Polyak Avg", optimizer="adam_polyak", notes_loss=0.47),
        RunSpec("Exp Avg (0.9999)", optimizer="adam_ema", ema_decay=0.9999, notes_loss=0.05),
        RunSpec("Exp Avg (0.999)", optimizer="adam_ema", ema_decay=0.999, notes_loss=0.06),
        RunSpec("ScheduleFree (Polyak)", optimizer="sf_adam_polyak", notes_loss=0.05),
        RunSpec(
            "ScheduleFree (Exponential)", optimizer="sf_adam_ema", ema_decay=0.9999,
            notes_loss=0.04,
        ),
    ]
}

LINEAR_DECAYS = ["Linear Decay 100%", "Linear Decay 75%", "Linear Decay 50%", "Linear Decay 25%"]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One of the notes' loss figures."""

    name: str
    title: str
    runs: tuple[str, ...]
    ylim: float


COMPARISONS: tuple[Comparison, ...] = (
    Comparison("decay_lengths", "Train Loss", ("Constant LR", *LINEAR_DECAYS), 1.0),
    Comparison(
        "decay_shapes",
        "Train Loss",
        ("Constant LR", "Linear Decay 100%", "Cosine Decay", "Stepwise at 25%", "Stepwise at 75%"),
        1.0,
    ),
    Comparison(
        "averaging",
        "Train Loss",
        ("Constant LR", "Cosine Decay", "Polyak Avg", "Exp Avg (0.9999)", "Exp Avg (0.999)"),
        1.5,
    ),
    Comparison(
        "schedule_free",
        "Train Loss",
        (
            "Constant LR",
            "Cosine Decay",
            "Exp Avg (0.9999)",
            "ScheduleFree (Polyak)",
            "ScheduleFree (Exponential)",
        ),
        1.5,
    ),
)

# The notes' three-panel Pareto figure: constant and the linear decays against each of these.
PARETO_BASELINES: tuple[str, ...] = ("Constant LR", *LINEAR_DECAYS)
PARETO_COMPARED: tuple[str, ...] = (
    "ScheduleFree (Polyak)",
    "Exp Avg (0.9999)",
    "ScheduleFree (Exponential)",
)
PARETO_YLIM = 2.0


@dataclasses.dataclass(frozen=True)
class Preset:
    """How big a reproduction is. ``steps`` plays the role of the notes' 100k.

    The notes train for 256 epochs of CIFAR-10, their training loss leaves ln 10 at once, and
    their constant-LR run ends at 0.18 while still improving: the comparisons are about the end
    of a long run. Each preset's model, batch, horizon, synthetic set size and synthetic
    ``difficulty`` are chosen so that its constant-LR run lands in the bands of
    :mod:`jaxsched.chapter.regime` (measured values in README); CIFAR-10 is always used whole.
    """

    name: str
    steps: int
    model: ModelConfig
    batch_size: int = 128
    lr: float = 1e-3
    synthetic_train: int = 50_000
    synthetic_test: int = 10_000
    difficulty: Difficulty = Difficulty()
    eval_points: int = 20
    eval_examples: int = 10_000
    chunk_size: int = 500
    description: str = ""

    def synthetic_kwargs(self) -> dict[str, Any]:
        """Arguments of :func:`jaxsched.train.data.synthetic` for this preset's stand-in set."""
        return {
            "n_train": self.synthetic_train,
            "n_test": self.synthetic_test,
            **self.difficulty._asdict(),
        }

    @property
    def scale(self) -> float:
        return NOTES_STEPS / self.steps

    @property
    def window(self) -> int:
        return smoothing_window(self.steps)

    def ema_decay(self, decay: float) -> float:
        """The notes' decay with its averaging window kept as the same fraction of the horizon.

        ``1 - decay`` is the inverse of the EMA's time constant; at a horizon ``scale`` times
        shorter it is made ``scale`` times larger, capped so the average never forgets faster
        than halving each step.
        """
        return 1.0 - min((1.0 - decay) * self.scale, 0.5)


# The synthetic set's difficulty for the reproduction: a per-class mean colour (the cue
# CIFAR-10's networks pick up in their first steps) on top of the original templates. Without
# it a TinyViT sits on a plateau at ln 10 for ~40% of a 1,000-step horizon; with it every
# preset's constant-LR run lands in the regime bands (measured values in README).
_CIFAR_LIKE = Difficulty(colour=0.5)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "smoke",
            steps=40,
            model=ModelConfig(features=16, num_blocks=1, num_heads=2),
            batch_size=16,
            synthetic_train=1024,
            synthetic_test=256,
            eval_points=2,
            eval_examples=256,
            chunk_size=20,
            description="seconds; a toy model for the tests",
        ),
        Preset(
            "quick",
            steps=1000,
            model=ModelConfig(features=64, num_blocks=2, num_heads=4),
            batch_size=64,
            synthetic_train=1_536,
            synthetic_test=1_000,
            difficulty=_CIFAR_LIKE,
            eval_points=5,
            eval_examples=1_000,
            chunk_size=250,
            description="a few minutes on a 2-core CPU; half-width, half-depth TinyViT",
        ),
        Preset(
            "cpu",
            steps=1000,
            model=ModelConfig(),
            batch_size=64,
            synthetic_train=1_024,
            synthetic_test=2_000,
            difficulty=_CIFAR_LIKE,
            eval_points=5,
            eval_examples=2_000,
            description="about 15 minutes on a quiet 2-core CPU; the notes' TinyViT at batch 64",
        ),
        Preset(
            "full",
            steps=NOTES_STEPS,
            model=ModelConfig(),
            difficulty=_CIFAR_LIKE,
            eval_points=20,
            description="the notes' 100k steps; for a GPU or TPU",
        ),
    ]
}


def run_config(
    spec: RunSpec, preset: Preset, *, data: str, seed: int = 0, readout: str | None = None
) -> RunConfig:
    """The :class:`RunConfig` of one of the notes' runs at a preset's scale."""
    steps = max(1, round(preset.steps * spec.length))
    model = preset.model
    if readout is not None:
        model = dataclasses.replace(model, readout=readout)
    extra: dict[str, Any] = {}
    if spec.ema_decay is not None:
        extra["ema_decay"] = preset.ema_decay(spec.ema_decay)
    return RunConfig(
        optimizer=spec.optimizer,
        schedule=spec.schedule,
        schedule_kwargs=dict(spec.schedule_kwargs),
        lr=preset.lr,
        steps=steps,
        seed=seed,
        batch_size=preset.batch_size,
        model=model,
        data=data,
        eval_every=max(1, preset.steps // preset.eval_points),
        eval_examples=preset.eval_examples,
        **extra,
    )


def all_runs(
    preset: Preset, *, data: str, seeds: int = 1, readout: str | None = None
) -> dict[str, list[RunConfig]]:
    """Every run of the chapter at ``preset``, ``seeds`` seeds each, by label."""
    return {
        label: [run_config(spec, preset, data=data, seed=s, readout=readout) for s in range(seeds)]
        for label, spec in RUNS.items()
    }
