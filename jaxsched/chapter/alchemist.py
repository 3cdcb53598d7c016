"""The "Learning Rate Scheduling" chapter of An Alchemist's Notes on Deep Learning, as data.

Every run of the chapter is a named :class:`RunSpec` written at the notes' scale (100k steps);
a :class:`Preset` puts them on a sized workload (:mod:`jaxsched.workloads.image`: the model,
batch and data) and rescales horizons, the EMA time constants and the smoothing window to its
own horizon. The comparisons (figures) and the claims the chapter makes are data too
(:data:`COMPARISONS`, :data:`CLAIMS`); :mod:`jaxsched.chapter.report` evaluates the claims on
finished runs. A new run of the chapter is one :class:`RunSpec` in :data:`RUNS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from jaxsched import _validate as v
from jaxsched.smoothing import smoothing_window
from jaxsched.train.config import RunConfig
from jaxsched.workloads import catalogue

NOTES_STEPS = 100_000
NOTES_WINDOW = 1000
CHECKPOINT_SECONDS = 60.0
"""A preset's runs checkpoint at their evaluation marks, at most once a minute of wall time: a
kill loses about a minute of training, and a five-minute preset does not spend a tenth of its
time writing checkpoints."""


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """A run of the notes. ``length`` is the fraction of the horizon it trains (and decays) over."""

    label: str
    optimizer: str = "adam"
    schedule: str = "constant"
    schedule_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    length: float = 1.0
    ema_decay: float | None = None
    notes_column: str | None = None  # its column of the notes' curves (notes_curves.csv)


RUNS: dict[str, RunSpec] = {
    s.label: s
    for s in [
        RunSpec("Constant LR", notes_column="constant"),
        RunSpec("Linear Decay 100%", schedule="linear_decay",
                notes_column="linear_100"),
        RunSpec("Linear Decay 75%", schedule="linear_decay", length=0.75,
                notes_column="linear_75"),
        RunSpec("Linear Decay 50%", schedule="linear_decay", length=0.50,
                notes_column="linear_50"),
        RunSpec("Linear Decay 25%", schedule="linear_decay", length=0.25,
                notes_column="linear_25"),
        RunSpec("Cosine Decay", schedule="cosine_decay", notes_column="cosine"),
        RunSpec("Stepwise at 25%", schedule="stepwise_drop", schedule_kwargs={"fraction": 0.25},
                notes_column="stepwise_25"),
        RunSpec("Stepwise at 75%", schedule="stepwise_drop", schedule_kwargs={"fraction": 0.75},
                notes_column="stepwise_75"),
        RunSpec("Polyak Avg", optimizer="adam_polyak", notes_column="polyak"),
        RunSpec("Exp Avg (0.9999)", optimizer="adam_ema", ema_decay=0.9999,
                notes_column="ema_0.9999"),
        RunSpec("Exp Avg (0.999)", optimizer="adam_ema", ema_decay=0.999,
                notes_column="ema_0.999"),
        RunSpec("ScheduleFree (Polyak)", optimizer="sf_adam_polyak",
                notes_column="sf_polyak"),
        RunSpec("ScheduleFree (Exponential)", optimizer="sf_adam_ema", ema_decay=0.9999,
                notes_column="sf_ema"),
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
class Claim:
    """One claim of the chapter, checked on the runs' final losses by a named rule.

    Attributes:
      name: its key in reports.
      statement: the claim in words, as REPORT.md states it.
      rule: how it is checked (:data:`jaxsched.chapter.report.RULES`): ``"below"`` (every run
        of ``subjects`` ends below ``reference``), ``"above"`` (every one ends above it),
        ``"close"`` (``subjects`` end within ``close`` of their mean gain over ``reference``
        of each other), ``"as_low_as"`` (the subject ends at or below ``reference`` or within
        ``close`` of ``reference``'s gain over ``baseline``), ``"pareto"`` (the subject's
        curve, at the end of each run of ``reference_runs``, is at or below that run's end).
      subjects: the runs the claim is about.
      reference: the run they are held against (``pareto``: unused).
      baseline: for ``as_low_as``: the run whose gain sets the margin.
      reference_runs: for ``pareto``: the runs of several lengths.
      close: the tolerance of ``close`` and ``as_low_as``, as a fraction of a gain.
    """

    name: str
    statement: str
    rule: str
    subjects: tuple[str, ...]
    reference: str = ""
    baseline: str = ""
    reference_runs: tuple[str, ...] = ()
    close: float = 0.25


CONSTANT = "Constant LR"
COSINE = "Cosine Decay"

CALIBRATING: tuple[str, ...] = (CONSTANT, "Stepwise at 75%")
"""The two runs a stand-in is calibrated on (the regime rule reads only them); the chapter's
other runs are its predictions."""

# How close "close together" is: within this fraction of the gain that decay brings over a
# constant learning rate (the notes: shapes within 0.00 of each other, 0.13 below constant).
CLOSE_FRACTION = 0.25

CLAIMS: tuple[Claim, ...] = (
    Claim("decay_beats_constant", "Every decay schedule ends below a constant learning rate.",
          "below", ("Linear Decay 100%", COSINE, "Stepwise at 25%", "Stepwise at 75%"),
          reference=CONSTANT),
    Claim("decay_shapes_close",
          "Linear, cosine and the late stepwise drop end close together: their spread is within "
          f"{CLOSE_FRACTION:.0%} of their gain over a constant learning rate.",
          "close", ("Linear Decay 100%", COSINE, "Stepwise at 75%"), reference=CONSTANT,
          close=CLOSE_FRACTION),
    Claim("ema_matches_cosine",
          "EMA averaging (0.9999) at a constant learning rate ends as low as cosine decay: within "
          f"{CLOSE_FRACTION:.0%} of cosine's gain over constant, or below it.",
          "as_low_as", ("Exp Avg (0.9999)",), reference=COSINE, baseline=CONSTANT,
          close=CLOSE_FRACTION),
    Claim("polyak_lags",
          "Polyak averaging lags behind the constant-learning-rate baseline it averages.",
          "above", ("Polyak Avg",), reference=CONSTANT),
    Claim("schedule_free_pareto",
          "Schedule-free (exponential) lies at or below every linear decay at every length: its "
          "smoothed loss at the end of each linear run is at or below that run's final loss.",
          "pareto", ("ScheduleFree (Exponential)",), reference_runs=tuple(LINEAR_DECAYS)),
)
"""The chapter's claims, in the order REPORT.md lists them."""


@dataclasses.dataclass(frozen=True)
class Preset:
    """How big a reproduction is: a workload at one size, and ``steps`` in the role of the
    notes' 100k.

    The notes train for 256 epochs of CIFAR-10, their training loss leaves ln 10 at once, and
    their constant-LR run ends at 0.18 while still improving: the comparisons are about the end
    of a long run. Each size of the notes' workload (``tinyvit``) is chosen so that its
    constant-LR run lands in the bands of :mod:`jaxsched.chapter.regime`; every REPORT says
    whether it did, seed by seed, and marks a run outside them as a different experiment.
    :func:`preset` makes one from the catalogue.
    """

    name: str
    task: str
    steps: int
    lr: float = 1e-3
    lr_source: str = ""
    eval_points: int = 4
    chunk_size: int = 500
    description: str = ""

    def __post_init__(self) -> None:
        v.check_int("steps", self.steps, minimum=1)
        v.check_positive("lr", self.lr)
        v.check_int("eval_points", self.eval_points, minimum=1)
        v.check_int("chunk_size", self.chunk_size, minimum=1)

    @property
    def scale(self) -> float:
        return NOTES_STEPS / self.steps

    @property
    def window(self) -> int:
        return smoothing_window(self.steps)

    @property
    def eval_every(self) -> int:
        return max(1, self.steps // self.eval_points)

    def ema_decay(self, decay: float) -> float:
        """The notes' decay with its averaging window kept as the same fraction of the horizon.

        ``1 - decay`` is the inverse of the EMA's time constant; at a horizon ``scale`` times
        shorter it is made ``scale`` times larger, capped so the average never forgets faster
        than halving each step.
        """
        return 1.0 - min((1.0 - decay) * self.scale, 0.5)

    def runner_options(self) -> dict[str, Any]:
        """How the preset's runs are trained: :class:`~jaxsched.train.runner.Runner`'s
        dispatch size, checkpoint marks (every evaluation, :data:`CHECKPOINT_SECONDS` apart at
        the least) and smoothing window.

        >>> preset("tinyvit", "quick").runner_options()["checkpoint_every"]
        2000
        """
        return {"chunk_size": self.chunk_size,
                "checkpoint_every": max(self.chunk_size, self.eval_every),
                "checkpoint_seconds": CHECKPOINT_SECONDS, "smoothing": self.window}


NOTES_TASK = "tinyvit"
"""The catalogue's workload that is the notes' own (TinyViT on CIFAR-10)."""


def preset(task: str, name: str) -> Preset:
    """The reproduction of ``task`` at its size ``name``: that size's horizon and learning rate.

    Evaluations: 2 for a horizon under 100 steps, 4 up to 10k (they land on the ends of the
    linear decays, 25, 50, 75 and 100% of the horizon, where the claims compare), 20 beyond;
    steps per dispatch: a quarter of the evaluation period's worth, at most 500.

    >>> p = preset("tinyvit", "quick")
    >>> p.steps, p.eval_every, p.chunk_size
    (40000, 2000, 500)
    """
    size = catalogue.get(task).size(name)
    points = 2 if size.steps < 100 else 4 if size.steps <= 10_000 else 20
    return Preset(name, task, size.steps, size.lr, lr_source=size.lr_source,
                  eval_points=points, chunk_size=min(500, max(1, size.steps // points)),
                  description=size.description)


def presets(task: str = NOTES_TASK) -> dict[str, Preset]:
    """Every size of ``task`` as a :class:`Preset`, by name."""
    return {s.name: preset(task, s.name) for s in catalogue.get(task).sizes}


def run_config(spec: RunSpec, preset: Preset, *, seed: int = 0) -> RunConfig:
    """The :class:`RunConfig` of one of the notes' runs at a preset's scale."""
    steps = max(1, round(preset.steps * spec.length))
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
        eval_every=preset.eval_every,
        **extra,
    )


def all_runs(preset: Preset, *, seeds: int = 1) -> dict[str, list[RunConfig]]:
    """Every run of the chapter at ``preset``, ``seeds`` seeds each, by label."""
    v.check_int("seeds", seeds, minimum=1)
    return {
        label: [run_config(spec, preset, seed=s) for s in range(seeds)]
        for label, spec in RUNS.items()
    }
