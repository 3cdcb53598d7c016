"""Figures: learning-rate schedules and smoothed loss panels, and the helpers every figure uses.

Everything here draws on ``matplotlib.figure.Figure`` objects with the Agg canvas and never
touches ``pyplot``: importing this module does not change a notebook's backend, figures are not
kept alive by a global figure manager, and nothing calls ``show``. Every plotting function
returns its ``Figure`` (a notebook displays it) and, when given a path, writes it atomically
(:func:`save_figure`): a temporary file in the same directory is renamed over the target, so a
reader never sees half a PNG. :func:`new_figure`, :func:`save_figure`, :func:`default_color` and
:func:`plot_loss_panel` are the pieces the chapter's figures (:mod:`jaxsched.chapter.figures`)
and the comparison's (:mod:`jaxsched.compare.report`) are built from.

The loss panels follow the chapter "Learning Rate Scheduling" of An Alchemist's Notes on Deep
Learning: 5x3-inch panels, a moving average of the per-step losses (``np.convolve`` with
``'valid'``), y limits ``(-0.05, ylim)``.

>>> import pathlib, tempfile
>>> from jaxsched import schedules
>>> out = pathlib.Path(tempfile.mkdtemp()) / "cosine.png"
>>> fig = plot_schedules([("cosine", schedules.cosine_decay(0.1, 100))], 150, out)
>>> out.is_file()
True
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
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

from jaxsched import _validate as v
from jaxsched._io import atomic_writer
from jaxsched.smoothing import moving_average

Schedule = Callable[[Any], Any]
"""``step -> learning rate``, as in :mod:`jaxsched.schedules`."""

__all__ = [
    "PANEL_SIZE",
    "Curve",
    "as_curve",
    "data_note",
    "default_color",
    "evaluate_schedule",
    "format_steps",
    "new_figure",
    "plot_loss_panel",
    "plot_schedules",
    "save_figure",
    "smoothed_curve",
    "thin",
]

# Above this many points a smoothed curve is drawn at a stride no longer than the smoothing
# window: the curve cannot change much within a window, and 100k-point lines make rendering and
# the legend's "best" placement slow.
_MAX_DRAWN_POINTS = 2000

# On a log axis, the lowest learning rate shown, relative to the largest drawn.
_LOG_DECADES = 1e-4

PANEL_SIZE = (5.0, 3.0)
"""The notes' loss panel, in inches."""

DPI = 150


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


def new_figure(figsize: tuple[float, float], ncols: int = 1) -> tuple[Figure, list[Axes]]:
    """A figure on the Agg canvas with ``ncols`` axes side by side (constrained layout)."""
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def format_steps(ax: Axes, last_step: float) -> None:
    """Tick labels ``0, 20k, 40k`` rather than ``20000``: readable on a 5-inch panel.

    Only for axes that reach 10k, so that short axes keep plain ``200, 400``.
    """
    if last_step >= 10_000:
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x / 1000:g}k" if x else "0"))


# --------------------------------------------------------------------------- schedules


def evaluate_schedule(schedule: Schedule, steps: int, *, label: str = "schedule") -> np.ndarray:
    """``schedule`` at steps ``0 .. steps-1`` in one jitted call, as float64 NumPy.

    Raises ``ValueError`` naming ``label`` when the schedule does not map an array of steps to
    learning rates of the same shape, or produces a non-finite value.
    """
    v.check_int("steps", steps, minimum=1)
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
    v.check_int("steps", steps, minimum=1)
    if steps_per_epoch is not None:
        v.check_int("steps_per_epoch", steps_per_epoch, minimum=1)

    fig, (ax,) = new_figure((7.0, 4.0))
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
        format_steps(ax, steps - 1)
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


def as_curve(item: Any) -> Curve:
    if isinstance(item, Curve):
        return item
    if isinstance(item, Sequence) and len(item) in (2, 3) and isinstance(item[0], str):
        return Curve(*item)
    raise ValueError(
        f"a curve must be (label, losses) or (label, losses, color), got {type(item).__name__}"
    )


def smoothed_curve(
    curve: Curve, window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
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


def thin(n: int, window: int) -> np.ndarray:
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
    v.check_int("window", window, minimum=1)
    most_seeds, max_step = 1, 0
    for item in curves:
        curve = as_curve(item)
        x, mean, std, seeds = smoothed_curve(curve, window)
        max_step = max(max_step, int(x[-1]))
        idx = thin(len(x), window)
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
    format_steps(ax, max_step)
    ax.grid(True, alpha=0.3)
    note = data_note(data_label, most_seeds)
    # The note heads the legend: as free text, "best" legend placement (which ignores text)
    # put the legend over it once seed bands filled the rest of the panel.
    legend = ax.legend(fontsize="small", title=note or None, title_fontsize="x-small")
    if note:
        legend.get_title().set_color("0.25")
        legend.get_title().set_fontstyle("italic")


def data_note(data_label: str | None, seeds: int) -> str:
    notes = [data_label] if data_label else []
    if seeds > 1:
        notes.append(f"mean ± 1 std over {seeds} seeds")
    return " · ".join(notes)


def default_color(i: int) -> str:
    """Colour ``i`` of matplotlib's default cycle (the notes' ``default_colors[i]``)."""
    colors = mpl.rcParamsDefault["axes.prop_cycle"].by_key()["color"]
    return colors[i % len(colors)]
