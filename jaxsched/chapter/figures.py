"""The chapter's figures: the notes' loss panels, their Pareto figure, ours against theirs.

The notes' ``plot_losses``: 5x3-inch panels of 1000-step moving averages with y limits
``(-0.05, ylim)``; their Pareto figure puts the constant run in grey, the linear decays in the
default colour 3 (red) and the compared run in black. :func:`draw_figures` draws every figure a
reproduction names (:data:`jaxsched.chapter.reproduce.FIGURES`) from the runs' per-step losses.
"""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from jaxsched import _validate as v
from jaxsched import plot
from jaxsched.chapter import alchemist, notes_curves, regime
from jaxsched.smoothing import moving_average

PANEL = plot.PANEL_SIZE

FIGURES = (*[c.name for c in alchemist.COMPARISONS], "pareto", "final_vs_notes", "regime")
"""The figures a reproduction can draw (``--figures``); ``"all"`` draws every one."""

NOTES_NAME = "notes (CIFAR-10)"
"""How the figures name the notes' curves."""
NOTES_LABEL = f"{NOTES_NAME}, dotted"
"""The legend entry of the notes' curves drawn behind ours."""


def overlay_notes(ax, lengths: Mapping[str, int]) -> None:
    """Draw the notes' CIFAR-10 curve of every run on ``ax`` (dotted, in the colour of our
    curve of the same label), in normalized time: the notes' run of length ``T`` mapped onto
    ours of ``lengths[label]`` steps; then add one legend entry for them.

    The notes' value at ``t`` is their 1,000-step mean ending at ``t T``
    (:mod:`jaxsched.chapter.notes_curves`).
    """
    drawn = False
    for line in list(ax.get_lines()):
        label = line.get_label()
        if label not in lengths or label not in notes_curves.COLUMNS:
            continue
        t, loss = notes_curves.curve(label)
        ax.plot(t * lengths[label], loss, color=line.get_color(), ls=":", lw=1.1, alpha=0.8,
                label="_notes")
        drawn = True
    if drawn:
        legend = ax.get_legend()
        handles, labels = ax.get_legend_handles_labels()
        proxy = ax.plot([], [], color="0.3", ls=":", lw=1.1)[0]
        title = legend.get_title().get_text() if legend is not None else None
        new = ax.legend([*handles, proxy], [*labels, NOTES_LABEL], fontsize="small",
                        title=title or None, title_fontsize="x-small")
        if title:
            new.get_title().set_color("0.25")
            new.get_title().set_style("italic")


def resolve_figures(names: Sequence[str] | None) -> tuple[str, ...]:
    """``names`` checked against :data:`FIGURES`; ``None`` or ``["all"]``: all, ``["none"]``:
    none."""
    if not names or list(names) == ["all"]:
        return FIGURES
    if list(names) == ["none"]:
        return ()
    bad = [n for n in names if n not in FIGURES]
    if bad:
        raise ValueError(
            f"figures must be 'all', 'none' or names from {list(FIGURES)}, got figures={bad}"
        )
    return tuple(names)

__all__ = ["FIGURES", "draw_figures", "plot_comparison", "plot_final_vs_notes", "plot_pareto",
           "plot_regime", "resolve_figures"]


def _lengths(curves: Sequence[Any]) -> dict[str, int]:
    out = {}
    for item in curves:
        c = plot.as_curve(item)
        out[c.label] = int(np.shape(c.losses)[-1])
    return out


def plot_comparison(
    curves: Sequence[Any],
    out: str | os.PathLike[str] | None = None,
    *,
    window: int,
    ylim: float,
    title: str = "Train Loss",
    data_label: str | None = None,
    notes: bool = False,
) -> Figure:
    """One 5x3-inch loss panel (the notes' ``plot_losses``), written to ``out`` if given.

    ``notes=True`` draws the notes' CIFAR-10 curve of each run behind ours
    (:func:`overlay_notes`, the runs' lengths from their losses).

    Example::

        plot_comparison([("Constant LR", constant), ("Cosine Decay", cosine)], "cmp.png",
                        window=1000, ylim=1, data_label="CIFAR-10")
    """
    fig, (ax,) = plot.new_figure(PANEL)
    plot.plot_loss_panel(ax, curves, window=window, ylim=ylim, title=title, data_label=data_label)
    if notes:
        overlay_notes(ax, _lengths(curves))
    if out is not None:
        plot.save_figure(fig, out)
    return fig



def plot_pareto(
    baselines: Sequence[Any],
    comparisons: Sequence[Any],
    out: str | os.PathLike[str] | None = None,
    *,
    window: int,
    ylim: float = 2,
    data_label: str | None = None,
    notes: bool = False,
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
    base = [plot.as_curve(c) for c in baselines]
    base = [
        c if c.color is not None else c._replace(color="grey" if i == 0 else plot.default_color(3))
        for i, c in enumerate(base)
    ]
    fig, axes = plot.new_figure((PANEL[0] * len(comparisons), PANEL[1]), len(comparisons))
    for ax, item in zip(axes, comparisons, strict=True):
        comp = plot.as_curve(item)
        comp = comp if comp.color is not None else comp._replace(color="black")
        plot.plot_loss_panel(
            ax,
            [*base, comp],
            window=window,
            ylim=ylim,
            title=f"Train Loss ({comp.label})",
            data_label=data_label,
        )
        if notes:
            overlay_notes(ax, _lengths([*base, comp]))
    if out is not None:
        plot.save_figure(fig, out)
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
    fig, (ax,) = plot.new_figure((max(PANEL[0], 0.75 * len(labels) + 1.5), PANEL[1] + 1.2))
    x = np.arange(len(labels))
    ax.bar(x - 0.2, notes, width=0.4, color="lightgrey", edgecolor="grey",
           label="notes (CIFAR-10, 100k steps)")
    ax.bar(x + 0.2, means, width=0.4, color=plot.default_color(0),
           yerr=stds if np.any(stds > 0) else None, capsize=2, label="this run")
    ax.set_xticks(x, labels, rotation=35, ha="right", fontsize=7)
    ax.set_ylabel("final train loss")
    title = "Final loss: this reproduction vs the notes"
    ax.set_title(title if not data_label else f"{title}\n({data_label})", fontsize=9)
    ax.legend(fontsize=7)
    if out is not None:
        plot.save_figure(fig, out)
    return fig


def plot_lr_sweep(
    finals: Mapping[str, Mapping[float, Sequence[float]]],
    chosen: float,
    other: float,
    out: str | os.PathLike[str] | None = None,
    *,
    title: str = "Learning-rate sweep",
    data_label: str | None = None,
) -> Figure:
    """Final loss against learning rate for each swept schedule, mean over seeds with a ±1 std
    whisker, each schedule's optimum ringed; a solid vertical line at ``chosen`` (the first
    schedule's best, the one the preset uses) and a dashed one at ``other`` (the second's).

    Example::

        plot_lr_sweep({"Constant LR": {1e-3: [0.3], 2e-3: [0.25]},
                       "Linear Decay 100%": {1e-3: [0.2], 2e-3: [0.1]}}, 2e-3, 2e-3, "sweep.png")
    """
    if not finals:
        raise ValueError("finals must hold at least one schedule, got none")
    fig, (ax,) = plot.new_figure(PANEL)
    for i, (label, by_lr) in enumerate(finals.items()):
        lrs = np.array(sorted(by_lr))
        vals = [np.asarray(by_lr[x], np.float64) for x in lrs]
        means = np.array([x.mean() for x in vals])
        stds = np.array([x.std(ddof=1) if x.size > 1 else 0.0 for x in vals])
        color = plot.default_color(i)
        ax.errorbar(lrs, means, yerr=stds if np.any(stds > 0) else None, color=color,
                    marker="o", ms=3.5, capsize=2, label=label)
        best = int(np.argmin(means))
        ax.plot(lrs[best], means[best], "o", ms=11, mfc="none", mec=color, mew=1.4)
    ax.axvline(chosen, color=plot.default_color(0), lw=1.0,
               label=f"chosen lr {chosen:g} ({list(finals)[0]}'s best)")
    if len(finals) > 1:
        ax.axvline(other, color=plot.default_color(1), lw=1.0, ls="--",
                   label=f"{list(finals)[1]}'s best {other:g}")
    ax.set_xscale("log")
    grid = sorted({x for by_lr in finals.values() for x in by_lr})
    ax.set_xticks(grid, [f"{x:g}" for x in grid], fontsize=7)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("learning rate")
    ax.set_ylabel("final train loss (end-of-run statistic)")
    ax.set_title(title if not data_label else f"{title}\n({data_label})", fontsize=9)
    # below the panel: with three schedules and two optima, a legend inside covers the curves
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2,
              frameon=False)
    if out is not None:
        plot.save_figure(fig, out)
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
    notes: bool = False,
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
    v.check_int("window", window, minimum=1)
    x, mean, std, seeds = plot.smoothed_curve(plot.Curve("Constant LR", losses), window)
    steps = x[-1] + 1
    frac = (x + 1) / steps
    fig, (ax,) = plot.new_figure((PANEL[0], PANEL[1] + 0.4))
    idx = plot.thin(len(x), window)
    (line,) = ax.plot(frac[idx], mean[idx] / chance, color="grey", linewidth=1.4,
                      label="Constant LR (this run)")
    if std is not None:
        ax.fill_between(frac[idx], (mean - std)[idx] / chance, (mean + std)[idx] / chance,
                        color=line.get_color(), alpha=0.25, linewidth=0)
    if notes:
        t, loss = notes_curves.curve(alchemist.CONSTANT)
        ax.plot(t, loss / chance, color="0.3", ls=":", lw=1.2,
                label=f"{NOTES_NAME}, constant LR")
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
    ax.set_ylabel(f"smoothed loss / chance ({chance:.3g})")
    ax.set_title("Regime: the constant-LR run in units of chance", fontsize=10)
    ax.grid(True, alpha=0.3)
    legend = ax.legend(fontsize=6.5, title=plot.data_note(data_label, seeds) or None,
                       title_fontsize="x-small")
    if data_label or seeds > 1:
        legend.get_title().set_fontstyle("italic")
    if out is not None:
        plot.save_figure(fig, out)
    return fig


def _curves(labels, losses, colors=None):
    curves = []
    for i, lab in enumerate(labels):
        if lab not in losses:
            continue
        arrs = losses[lab]
        n = min(len(a) for a in arrs)
        stacked = np.stack([a[:n] for a in arrs]) if len(arrs) > 1 else arrs[0]
        curves.append((lab, stacked, None if colors is None else colors[i]))
    return curves


def _ylim(notes_ylim: float, curves, window: int) -> float:
    """The notes' y limit, widened when this run's smoothed curves would leave the axis.

    Short presets and synthetic data start and stay higher than the notes' 100k-step CIFAR-10
    curves; clipping them at the notes' limit would leave a blank panel.
    """
    top = 0.0
    for _, arr, _ in curves:
        a = np.atleast_2d(np.asarray(arr, np.float64))
        sm = moving_average(a, max(1, min(window, a.shape[1])))
        top = max(top, float(np.nanmax(sm)))
    return notes_ylim if top <= notes_ylim else float(np.ceil(top * 1.05 * 10) / 10)


def draw_figures(names, runs, window, fig_dir: pathlib.Path, data_name: str, *,
                 notes: bool = True, chance: float = regime.LN10) -> list[str]:
    """Draw the figures ``names`` (:data:`FIGURES`) of ``runs`` (label -> one
    :class:`~jaxsched.chapter.report.Record` per seed) into ``fig_dir``; returns the files.
    ``chance``: the workload's loss of a uniform guess, the regime figure's unit (the one its
    diagnostics use).

    With ``notes`` (the runs trained the notes' workload) every figure shows the notes' CIFAR-10
    curves (or finals) beside ours; without, they are left out and so is ``final_vs_notes``.
    """
    from jaxsched.chapter import report

    fig_dir.mkdir(parents=True, exist_ok=True)
    losses = {label: [r.losses for r in recs] for label, recs in runs.items()}
    drawn = []
    comparisons = {c.name: c for c in alchemist.COMPARISONS}
    for name in names:
        file = f"{name}.png"
        if name in comparisons:
            c = comparisons[name]
            curves = _curves(c.runs, losses)
            plot_comparison(
                curves, fig_dir / file, window=window, ylim=_ylim(c.ylim, curves, window),
                title=c.title, data_label=data_name, notes=notes,
            )
        elif name == "pareto":
            baselines = _curves(
                alchemist.PARETO_BASELINES, losses,
                ["grey"] + ["C3"] * len(alchemist.LINEAR_DECAYS),
            )
            compared = _curves(alchemist.PARETO_COMPARED, losses, ["black"] * 3)
            ylim = _ylim(alchemist.PARETO_YLIM, baselines + compared, window)
            plot_pareto(
                baselines, compared, fig_dir / file, window=window, ylim=ylim,
                data_label=data_name, notes=notes,
            )
        elif name == "final_vs_notes":
            if not notes:
                continue
            finals = {
                lab: ([report.final_value(r) for r in runs[lab]], notes_curves.final(lab))
                for lab in alchemist.RUNS if lab in runs and lab in notes_curves.COLUMNS
            }
            plot_final_vs_notes(finals, fig_dir / file, data_label=data_name)
        elif name == "regime":
            if alchemist.CONSTANT not in losses:
                continue
            (_, stacked, _), = _curves([alchemist.CONSTANT], losses)
            final, plateau = (next(b for b in regime.BANDS if b.name == n)
                              for n in ("final", "plateau"))
            plot_regime(
                stacked, fig_dir / file, window=window, final_band=(final.low, final.high),
                notes_final=final.notes, plateau_band=plateau.high,
                plateau_level=regime.PLATEAU_LEVEL, chance=chance, data_label=data_name,
                notes=notes,
            )
        drawn.append(file)
    return drawn
