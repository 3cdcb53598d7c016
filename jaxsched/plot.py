"""Figures: learning-rate schedules, smoothed loss curves and the notes' Pareto comparison.

Everything here draws on ``matplotlib.figure.Figure`` objects with the Agg canvas and never
touches ``pyplot``: importing this module does not change a notebook's backend, figures are not
kept alive by a global figure manager, and nothing calls ``show``. Every plotting function
returns its ``Figure`` (a notebook displays it) and, when given a path, writes it atomically: a
temporary file in the same directory is renamed over the target, so a reader never sees half a
PNG.

The loss figures follow the chapter "Learning Rate Scheduling" of An Alchemist's Notes on Deep
Learning: 5x3-inch panels, a moving average of the per-step losses (``np.convolve`` with
``'valid'``), y limits ``(-0.05, ylim)``; the Pareto figure puts the constant run in grey, the
linear decays in the default colour 3 (red) and the compared run in black.

Example::

    from jaxsched import plot
    plot.plot_schedules([plot.parse_schedule_spec("torch.cosine_annealing_lr:lr=0.1,T_max=100")],
                        steps=150, out="cosine.png")
"""

from __future__ import annotations

import importlib
import inspect
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from jaxsched._io import atomic_writer
from jaxsched.schedules import registry as _registry
from jaxsched.smoothing import moving_average

Schedule = Callable[[Any], Any]
"""``step -> learning rate``, as in :mod:`jaxsched.schedules`."""

__all__ = [
    "Curve",
    "available_schedules",
    "default_color",
    "evaluate_schedule",
    "moving_average",
    "parse_schedule_spec",
    "plot_comparison",
    "plot_eval_curves",
    "plot_final_vs_notes",
    "plot_loss_panel",
    "plot_pareto",
    "plot_regime",
    "plot_schedules",
    "save_figure",
    "split_schedule_spec",
]

# Prefixes of the compat twins on the command line -> the module that holds them.
_COMPAT_MODULES = {"torch": "jaxsched.compat.torch", "sambaflow": "jaxsched.compat.sambaflow"}

# Above this many points a smoothed curve is drawn at a stride no longer than the smoothing
# window: the curve cannot change much within a window, and 100k-point lines make rendering and
# the legend's "best" placement slow.
_MAX_DRAWN_POINTS = 2000

# On a log axis, the lowest learning rate shown, relative to the largest drawn.
_LOG_DECADES = 1e-4

PANEL_SIZE = (5.0, 3.0)
"""The notes' loss panel, in inches."""

DPI = 150


# --------------------------------------------------------------------------- schedule specs


def available_schedules() -> dict[str, Callable[..., Schedule]]:
    """Every schedule factory reachable from a spec, by the name a spec uses.

    The names of ``jaxsched.schedules.SCHEDULES`` as they are, and the public functions of
    ``jaxsched.compat.torch`` and ``jaxsched.compat.sambaflow`` as ``torch.<name>`` and
    ``sambaflow.<name>``.
    """
    found: dict[str, Callable[..., Schedule]] = dict(_registry.SCHEDULES)
    for prefix, module_name in _COMPAT_MODULES.items():
        module = importlib.import_module(module_name)
        for name in _public_functions(module):
            found[f"{prefix}.{name}"] = getattr(module, name)
    return found


def _table_for(name: str) -> Mapping[str, Callable[..., Schedule]]:
    """The part of :func:`available_schedules` that can hold ``name`` (imports only that)."""
    prefix, dot, _ = name.partition(".")
    if dot and prefix in _COMPAT_MODULES:
        module = importlib.import_module(_COMPAT_MODULES[prefix])
        return {f"{prefix}.{n}": getattr(module, n) for n in _public_functions(module)}
    return _registry.SCHEDULES


def _public_functions(module: Any) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            n
            for n, obj in vars(module).items()
            if not n.startswith("_")
            and inspect.isfunction(obj)
            and obj.__module__ == module.__name__
        ]
    return sorted(
        n
        for n in names
        if callable(getattr(module, n, None)) and not isinstance(getattr(module, n), type)
    )


def split_schedule_spec(
    spec: str, *, registry: Mapping[str, Callable[..., Schedule]] | None = None
) -> tuple[str, dict[str, Any], str]:
    """Parse a command-line spec into ``(name, kwargs, label)`` without building the schedule.

    The grammar is :func:`jaxsched.schedules.registry.parse`'s, over
    :func:`available_schedules` (or ``registry``); ``label`` is ``""`` when the spec has none
    and no arguments.

    >>> split_schedule_spec("stepwise_drop:fraction=0.25@drop")
    ('stepwise_drop', {'fraction': 0.25}, 'drop')
    """
    name = spec.partition(":")[0].partition("@")[0].strip() if isinstance(spec, str) else ""
    table = _table_for(name) if registry is None else registry
    return tuple(_registry.parse(spec, table=table))


def parse_schedule_spec(
    spec: str, *, registry: Mapping[str, Callable[..., Schedule]] | None = None
) -> tuple[str, Schedule]:
    """Build ``(label, schedule)`` from a command-line spec.

    Grammar: ``NAME[:key=value,key=value,...][@label]`` (see
    :mod:`jaxsched.schedules.registry`). ``NAME`` is a key of ``jaxsched.schedules.SCHEDULES``,
    or ``torch.<fn>`` / ``sambaflow.<fn>`` for the twins in :mod:`jaxsched.compat`
    (``registry`` replaces that lookup). Without ``@label`` the label is
    ``NAME(key=value, ...)``.

    >>> label, f = parse_schedule_spec("torch.multi_step_lr:lr=0.1,milestones=[30,60]@steps")
    >>> label, [round(float(x), 4) for x in f(jnp.array([0, 30, 60]))]
    ('steps', [0.1, 0.01, 0.001])

    Raises:
        ValueError: naming the spec and the offending part (unknown name, bad key, bad or
            missing value, or the factory's own rejection of the arguments).
    """
    name, kwargs, label = split_schedule_spec(spec, registry=registry)
    table = _table_for(name) if registry is None else registry
    factory = table[name]
    try:
        if factory is _registry.SCHEDULES.get(name):
            schedule = _registry.build(name, kwargs)
        else:
            if _has_signature(factory):
                inspect.signature(factory).bind(**kwargs)
            schedule = factory(**kwargs)
    except TypeError as err:
        raise ValueError(f"schedule spec {spec!r}: {name}: {err}") from err
    except ValueError as err:
        raise ValueError(f"schedule spec {spec!r}: {err}") from err
    if not callable(schedule):
        raise ValueError(
            f"schedule spec {spec!r}: {name} returns a {type(schedule).__name__}, "
            "not a step -> learning-rate schedule"
        )
    return label or name, schedule


def _has_signature(factory: Callable[..., Any]) -> bool:
    try:
        inspect.signature(factory)
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return False
    return True


# --------------------------------------------------------------------------- saving


def save_figure(fig: Figure, out: str | os.PathLike[str], *, dpi: int = DPI) -> Path:
    """Write ``fig`` to ``out`` atomically (format from the suffix) and return the path.

    The parent directory is created. The image goes to a temporary file in the same directory
    that is then renamed over ``out``, so an interrupted write never leaves a truncated file.
    """
    path = Path(out)
    fmt = path.suffix.lower().lstrip(".")
    supported = FigureCanvasAgg(fig).get_supported_filetypes()
    if fmt not in supported:
        raise ValueError(
            f"out must end with an image suffix ({', '.join('.' + s for s in sorted(supported))}),"
            f" got out={str(out)!r}"
        )
    with atomic_writer(path, suffix=f".tmp.{fmt}") as fh:
        fig.savefig(fh, format=fmt, dpi=dpi, bbox_inches="tight")
    return path


def _new_figure(figsize: tuple[float, float], ncols: int = 1) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _format_steps(ax: Axes, last_step: float) -> None:
    """Tick labels ``0, 20k, 40k`` rather than ``20000``: readable on a 5-inch panel.

    Only for axes that reach 10k, so that short axes keep plain ``200, 400``.
    """
    if last_step >= 10_000:
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x / 1000:g}k" if x else "0"))


# --------------------------------------------------------------------------- schedules


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {name}={value!r}")
    return int(value)


def evaluate_schedule(schedule: Schedule, steps: int, *, label: str = "schedule") -> np.ndarray:
    """``schedule`` at steps ``0 .. steps-1`` in one jitted call, as float64 NumPy.

    Raises ``ValueError`` naming ``label`` when the schedule does not map an array of steps to
    learning rates of the same shape, or produces a non-finite value.
    """
    steps = _check_positive_int("steps", steps)
    t = jnp.arange(steps, dtype=jnp.int32)
    try:
        # Wrapped: jit keeps a weak reference to its function, which a user's callable object
        # defined with __slots__ and no __weakref__ would not allow.
        values = np.asarray(jax.jit(lambda s: schedule(s))(t), dtype=np.float64)
    except (TypeError, ValueError) as err:
        # Python control flow on the step fails here: jax's tracer-conversion errors are
        # TypeErrors, and `if t < 3` on an array of steps is numpy's ambiguous-truth ValueError.
        raise ValueError(
            f"schedule {label!r} cannot be evaluated on an array of steps under jit: {err}"
        ) from err
    if values.shape == ():  # a constant written as `lambda t: 0.1`
        values = np.full(steps, float(values))
    if values.shape != (steps,):
        raise ValueError(
            f"schedule {label!r} returned shape {values.shape} for {steps} steps, "
            f"expected ({steps},)"
        )
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(
            f"schedule {label!r} is not finite at step {int(bad[0])} (value {values[bad[0]]})"
        )
    return values


def plot_schedules(
    schedules: Sequence[tuple[str, Schedule]],
    steps: int,
    out: str | os.PathLike[str] | None = None,
    *,
    log: bool = False,
    steps_per_epoch: int | None = None,
    title: str | None = None,
) -> Figure:
    """Draw learning-rate schedules on one axis and write the figure to ``out`` (if given).

    Each ``(label, schedule)`` is evaluated on ``0 .. steps-1`` in one jitted call. With
    ``steps_per_epoch`` the x axis is ``step / steps_per_epoch``, labelled "epoch". ``log``
    puts the learning rate on a log axis reaching about four decades below the largest value
    (a decay towards zero runs off the bottom; zero itself cannot be drawn on a log axis).

    Example::

        plot_schedules([("cosine", optax.cosine_decay_schedule(0.1, 1000))], 1000, "lr.png")
    """
    if not schedules:
        raise ValueError("schedules must hold at least one (label, schedule), got none")
    steps = _check_positive_int("steps", steps)
    if steps_per_epoch is not None:
        steps_per_epoch = _check_positive_int("steps_per_epoch", steps_per_epoch)

    fig, (ax,) = _new_figure((7.0, 4.0))
    t = np.arange(steps)
    x = t / steps_per_epoch if steps_per_epoch else t
    labels, drawn = [], []
    for label, schedule in schedules:
        values = evaluate_schedule(schedule, steps, label=label)
        drawn.append(values)
        # A drawstyle of "steps-post" would be exact for piecewise-constant schedules, but a
        # plain line reads better for smooth ones and the difference is one step wide.
        ax.plot(x, values, label=label, linewidth=1.6)
        labels.append(label)

    if log:
        ax.set_yscale("log")
        # A decay to zero would stretch the axis over many empty decades; show four below the
        # largest value and let the curves run off the bottom, which reads as "towards zero".
        positive = [v[v > 0] for v in drawn if np.any(v > 0)]
        if positive:
            top = max(float(v.max()) for v in positive)
            low = min(float(v.min()) for v in positive)
            if low < top * _LOG_DECADES:
                # On a power of ten, so that the bottom tick is labelled.
                ax.set_ylim(bottom=10.0 ** math.floor(math.log10(top * _LOG_DECADES)))
    ax.set_xlabel("epoch" if steps_per_epoch else "step")
    ax.set_ylabel("learning rate")
    ax.set_xlim(x[0], x[-1] if steps > 1 else 1)
    if not steps_per_epoch:
        _format_steps(ax, steps - 1)
    ax.grid(True, which="major", alpha=0.3)
    if log:
        ax.grid(True, which="minor", alpha=0.1)
    if title is None:
        title = "Learning-rate schedule" + ("s" if len(schedules) > 1 else "")
        title += f" ({steps:,} steps" + (
            f", {steps_per_epoch:,} per epoch)" if steps_per_epoch else ")"
        )
    ax.set_title(title)
    if max(len(s) for s in labels) > 40:
        # Long spec-derived labels would cover the curves: put the legend under the axes.
        fig.legend(loc="outside lower center", fontsize="small", frameon=False, ncols=1)
    else:
        ax.legend(fontsize="small")
    if out is not None:
        save_figure(fig, out)
    return fig


# --------------------------------------------------------------------------- loss curves


class Curve(NamedTuple):
    """One run's losses for a loss panel.

    ``losses`` is 1-D (one seed) or 2-D ``[seeds, steps]``; ``color`` ``None`` takes the next
    colour of the cycle. Plain ``(label, losses)`` or ``(label, losses, color)`` tuples are
    accepted wherever a ``Curve`` is.
    """

    label: str
    losses: Any
    color: str | None = None


def _as_curve(item: Any) -> Curve:
    if isinstance(item, Curve):
        return item
    if isinstance(item, Sequence) and len(item) in (2, 3) and isinstance(item[0], str):
        return Curve(*item)
    raise ValueError(
        f"a curve must be (label, losses) or (label, losses, color), got {type(item).__name__}"
    )


def _smoothed(curve: Curve, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """(x, mean, std or None, seeds) of a curve after smoothing; x is the window's last step."""
    try:
        losses = np.asarray(curve.losses, dtype=np.float64)
    except ValueError as err:  # ragged seeds
        raise ValueError(
            f"curve {curve.label!r}: losses are not a [steps] or [seeds, steps] array ({err})"
        ) from err
    try:
        smooth = moving_average(losses, window)
    except ValueError as err:
        raise ValueError(f"curve {curve.label!r}: {err}") from err
    x = np.arange(window - 1, losses.shape[-1])
    if smooth.ndim == 1:
        return x, smooth, None, 1
    seeds = smooth.shape[0]
    mean = smooth.mean(axis=0)
    std = smooth.std(axis=0, ddof=1) if seeds > 1 else None
    return x, mean, std, seeds


def _thin(n: int, window: int) -> np.ndarray:
    """Indices to draw: every point, or a stride <= window that keeps the last point."""
    stride = min(window, math.ceil(n / _MAX_DRAWN_POINTS))
    if stride <= 1:
        return np.arange(n)
    idx = np.arange(0, n, stride)
    return idx if idx[-1] == n - 1 else np.append(idx, n - 1)


def plot_loss_panel(
    ax: Axes,
    curves: Sequence[Any],
    *,
    window: int,
    ylim: float,
    title: str,
    data_label: str | None = None,
) -> None:
    """Draw the notes' loss panel on ``ax``: moving averages, legend, ``ylim (-0.05, ylim)``.

    Each curve is ``(label, losses[, color])``; a 2-D ``[seeds, steps]`` curve is drawn as the
    mean over seeds with a band of one standard deviation (ddof=1), both taken after
    smoothing. Curves may have different lengths (a 25k-step decay beside a 100k-step one).
    The x value of a smoothed point is the last step of its window. ``data_label`` (for example
    "synthetic data") heads the legend, with the seed count when bands are drawn.
    """
    if not curves:
        raise ValueError("curves must hold at least one (label, losses), got none")
    window = _check_positive_int("window", window)
    most_seeds, max_step = 1, 0
    for item in curves:
        curve = _as_curve(item)
        x, mean, std, seeds = _smoothed(curve, window)
        max_step = max(max_step, int(x[-1]))
        idx = _thin(len(x), window)
        (line,) = ax.plot(x[idx], mean[idx], label=curve.label, color=curve.color, linewidth=1.2)
        if std is not None:
            ax.fill_between(
                x[idx],
                (mean - std)[idx],
                (mean + std)[idx],
                color=line.get_color(),
                alpha=0.2,
                linewidth=0,
            )
        most_seeds = max(most_seeds, seeds)

    ax.set_ylim(-0.05, ylim)
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss ({window:,}-step mean)" if window > 1 else "loss")
    _format_steps(ax, max_step)
    ax.grid(True, alpha=0.3)
    note = _data_note(data_label, most_seeds)
    # The note heads the legend: as free text, "best" legend placement (which ignores text)
    # put the legend over it once seed bands filled the rest of the panel.
    legend = ax.legend(fontsize="small", title=note or None, title_fontsize="x-small")
    if note:
        legend.get_title().set_color("0.25")
        legend.get_title().set_style("italic")


def _data_note(data_label: str | None, seeds: int) -> str:
    notes = [data_label] if data_label else []
    if seeds > 1:
        notes.append(f"mean ± 1 std over {seeds} seeds")
    return " · ".join(notes)


def plot_comparison(
    curves: Sequence[Any],
    out: str | os.PathLike[str] | None = None,
    *,
    window: int,
    ylim: float,
    title: str = "Train Loss",
    data_label: str | None = None,
) -> Figure:
    """One 5x3-inch loss panel (the notes' ``plot_losses``), written to ``out`` if given.

    Example::

        plot_comparison([("Constant LR", constant), ("Cosine Decay", cosine)], "cmp.png",
                        window=1000, ylim=1, data_label="CIFAR-10")
    """
    fig, (ax,) = _new_figure(PANEL_SIZE)
    plot_loss_panel(ax, curves, window=window, ylim=ylim, title=title, data_label=data_label)
    if out is not None:
        save_figure(fig, out)
    return fig


def default_color(i: int) -> str:
    """Colour ``i`` of matplotlib's default cycle (the notes' ``default_colors[i]``)."""
    colors = mpl.rcParamsDefault["axes.prop_cycle"].by_key()["color"]
    return colors[i % len(colors)]


def plot_pareto(
    baselines: Sequence[Any],
    comparisons: Sequence[Any],
    out: str | os.PathLike[str] | None = None,
    *,
    window: int,
    ylim: float = 2,
    data_label: str | None = None,
) -> Figure:
    """The notes' Pareto figure: one 5x3 panel per compared run, side by side.

    ``baselines`` are drawn in every panel: the first (the constant-LR run) in grey, the rest
    (the linear decays of several lengths) in the default colour 3 (red), unless a curve names
    its own colour. Each of ``comparisons`` gets its own panel, in black, titled
    ``"Train Loss (<label>)"``.

    Example::

        plot_pareto([("Constant LR", c)] + [(f"Linear Decay {n}", l[n]) for n in lengths],
                    [("ScheduleFree (Exponential)", sf)], "pareto.png", window=1000)
    """
    if not baselines:
        raise ValueError("baselines must hold the constant run and the decays, got none")
    if not comparisons:
        raise ValueError("comparisons must hold at least one run, got none")
    base = [_as_curve(c) for c in baselines]
    base = [
        c if c.color is not None else c._replace(color="grey" if i == 0 else default_color(3))
        for i, c in enumerate(base)
    ]
    fig, axes = _new_figure((PANEL_SIZE[0] * len(comparisons), PANEL_SIZE[1]), len(comparisons))
    for ax, item in zip(axes, comparisons, strict=True):
        comp = _as_curve(item)
        comp = comp if comp.color is not None else comp._replace(color="black")
        plot_loss_panel(
            ax,
            [*base, comp],
            window=window,
            ylim=ylim,
            title=f"Train Loss ({comp.label})",
            data_label=data_label,
        )
    if out is not None:
        save_figure(fig, out)
    return fig


def plot_eval_curves(
    runs: Sequence[tuple[str, Mapping[str, Any]]],
    out: str | os.PathLike[str] | None = None,
    *,
    metrics: Sequence[str] = ("test_loss", "test_accuracy"),
    step_key: str = "step",
    title: str | None = None,
    data_label: str | None = None,
) -> Figure:
    """Evaluation metrics against step, one 5x3 panel per metric.

    Each run is ``(label, record)`` where ``record[step_key]`` holds the evaluation steps and
    ``record[metric]`` the values, 1-D or 2-D ``[seeds, evals]`` (mean with a ±1 std band).
    A run that lacks a metric is left out of that panel.
    """
    if not runs:
        raise ValueError("runs must hold at least one (label, record), got none")
    if not metrics:
        raise ValueError("metrics must name at least one metric, got none")
    fig, axes = _new_figure((PANEL_SIZE[0] * len(metrics), PANEL_SIZE[1]), len(metrics))
    most_seeds = 1
    for ax, metric in zip(axes, metrics, strict=True):
        drawn = 0
        for label, record in runs:
            if metric not in record:
                continue
            if step_key not in record:
                raise ValueError(f"run {label!r}: record has no {step_key!r} entry")
            steps = np.asarray(record[step_key], dtype=np.float64)
            values = np.asarray(record[metric], dtype=np.float64)
            if values.shape[-1] != steps.shape[-1] or values.ndim not in (1, 2):
                raise ValueError(
                    f"run {label!r}: {metric} has shape {values.shape}, expected "
                    f"[{steps.shape[-1]}] or [seeds, {steps.shape[-1]}] to match {step_key}"
                )
            mean = values if values.ndim == 1 else values.mean(axis=0)
            (line,) = ax.plot(steps, mean, marker="o", markersize=2.5, linewidth=1.2, label=label)
            if values.ndim == 2 and values.shape[0] > 1:
                std = values.std(axis=0, ddof=1)
                ax.fill_between(
                    steps, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0
                )
                most_seeds = max(most_seeds, values.shape[0])
            drawn += 1
        if not drawn:
            raise ValueError(f"no run has the metric {metric!r}")
        pretty = metric.replace("_", " ")
        ax.set_title(f"{title} ({pretty})" if title else pretty.capitalize())
        ax.set_xlabel("step")
        ax.set_ylabel(pretty)
        _format_steps(ax, ax.dataLim.x1)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    note = _data_note(data_label, most_seeds)
    if note:
        # Accuracy rises from the lower left and loss falls from the upper left, so no corner
        # of a panel is free for both: the note goes above the panels.
        fig.suptitle(note, fontsize="small", color="0.25", style="italic")
    if out is not None:
        save_figure(fig, out)
    return fig


def plot_final_vs_notes(
    finals: Mapping[str, tuple[Sequence[float], float]],
    out: str | os.PathLike[str] | None = None,
    *,
    data_label: str | None = None,
) -> Figure:
    """Final smoothed losses of this reproduction beside the values read off the notes' plots.

    ``finals[label] = (per-seed final losses, notes' value)``. Bars are paired per run; with
    several seeds the bar is the mean and the whisker ±1 std (ddof=1).

    Example::

        plot_final_vs_notes({"Constant LR": ([0.21], 0.18), "Cosine Decay": ([0.06], 0.05)},
                            "final.png", data_label="synthetic data (not CIFAR-10)")
    """
    if not finals:
        raise ValueError("finals must hold at least one run, got none")
    labels = list(finals)
    ours = [np.asarray(finals[k][0], np.float64) for k in labels]
    means = np.array([o.mean() for o in ours])
    stds = np.array([o.std(ddof=1) if o.size > 1 else 0.0 for o in ours])
    notes = np.array([float(finals[k][1]) for k in labels])
    fig, (ax,) = _new_figure((max(PANEL_SIZE[0], 0.75 * len(labels) + 1.5), PANEL_SIZE[1] + 1.2))
    x = np.arange(len(labels))
    ax.bar(x - 0.2, notes, width=0.4, color="lightgrey", edgecolor="grey",
           label="notes (100k steps, CIFAR-10)")
    ax.bar(x + 0.2, means, width=0.4, color=default_color(0),
           yerr=stds if np.any(stds > 0) else None, capsize=2, label="this run")
    ax.set_xticks(x, labels, rotation=35, ha="right", fontsize=7)
    ax.set_ylabel("final smoothed train loss")
    title = "Final loss: this reproduction vs the notes"
    ax.set_title(title if not data_label else f"{title}\n({data_label})", fontsize=9)
    ax.legend(fontsize=7)
    if out is not None:
        save_figure(fig, out)
    return fig


def plot_regime(
    losses: Any,
    out: str | os.PathLike[str] | None = None,
    *,
    window: int,
    final_band: tuple[float, float],
    notes_final: float,
    plateau_band: float,
    plateau_level: float = 0.9,
    chance: float = math.log(10.0),
    data_label: str | None = None,
) -> Figure:
    """The constant-LR run's smoothed loss in units of chance (``loss / chance``) against the
    fraction of the horizon, with the regime rule's bands drawn in.

    ``losses`` is ``[steps]`` or ``[seeds, steps]`` (mean ± 1 std band). The horizontal band at
    the right end is ``final_band`` with the notes' value ``notes_final`` marked; the dotted line
    is ``plateau_level`` (the curve must cross it before ``plateau_band`` of the horizon, the
    shaded strip on the left).

    Example::

        plot_regime(constant_losses, "regime.png", window=10, final_band=(0.04, 0.16),
                    notes_final=0.078, plateau_band=0.05)
    """
    window = _check_positive_int("window", window)
    x, mean, std, seeds = _smoothed(Curve("Constant LR", losses), window)
    steps = x[-1] + 1
    frac = (x + 1) / steps
    fig, (ax,) = _new_figure((PANEL_SIZE[0], PANEL_SIZE[1] + 0.4))
    idx = _thin(len(x), window)
    (line,) = ax.plot(frac[idx], mean[idx] / chance, color="grey", linewidth=1.4,
                      label="Constant LR (this run)")
    if std is not None:
        ax.fill_between(frac[idx], (mean - std)[idx] / chance, (mean + std)[idx] / chance,
                        color=line.get_color(), alpha=0.25, linewidth=0)
    ax.axhline(1.0, color="black", linewidth=0.6, linestyle="-", alpha=0.5)
    ax.axhline(plateau_level, color="C3", linewidth=0.9, linestyle=":",
               label=f"{plateau_level:g} x chance (plateau level)")
    ax.axvspan(0.0, plateau_band, color="C3", alpha=0.12,
               label=f"must cross it before {plateau_band:.0%} of the horizon")
    lo, hi = final_band
    ax.fill_between([0.9, 1.0], [lo, lo], [hi, hi], color="C0", alpha=0.25, linewidth=0,
                    label=f"band for the final loss ({lo:g}-{hi:g})")
    ax.plot([1.0], [notes_final], marker="*", color="black", markersize=9, linestyle="none",
            label=f"the notes' constant LR ({notes_final:.3f})")
    ax.set_xlim(0.0, 1.02)
    ax.set_ylim(0.0, max(1.1, float(np.nanmax(mean / chance)) * 1.05))
    ax.set_xlabel("fraction of the horizon")
    ax.set_ylabel("smoothed loss / ln 10")
    ax.set_title("Regime: the constant-LR run in units of chance", fontsize=10)
    ax.grid(True, alpha=0.3)
    legend = ax.legend(fontsize=6.5, title=_data_note(data_label, seeds) or None,
                       title_fontsize="x-small")
    if data_label or seeds > 1:
        legend.get_title().set_style("italic")
    if out is not None:
        save_figure(fig, out)
    return fig
