"""REPORT.md and the figures of an anytime comparison.

The REPORT opens with the regime check (:mod:`jaxsched.compare.regime`): the cooldown gain of
each tuned schedule over tuned constant per horizon, and whether the grid ranks cooldowns or is
progress-limited; a progress-limited grid says so in its first line and every verdict carries
the mark. Per horizon, each candidate's tuned loss (the best learning rate's mean ± std over
seeds), and the gap of every anytime candidate to every scheduled envelope in % of the
envelope, with the seeds' spread (the combined std, in the same %). The verdict "X is at or
below the tuned Y envelope at every horizon" is marked held only when, at every horizon, the
gap between the means exceeds the combined standard deviation (:func:`jaxsched.stats.below`,
the reproduction's rule; with one seed: plain ``<=``).
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxsched._markdown import table
from jaxsched.compare import regime as regime_lib
from jaxsched.compare import targets
from jaxsched.stats import Stat, below

__all__ = ["grid_edges", "plot_envelopes", "plot_lr_sensitivity", "plot_time_to_target",
           "render", "verdict_word", "verdicts", "write"]


def _stat(e: dict[str, Any]) -> Stat:
    return Stat(e["mean"], e["std"], e["n"])


def verdicts(res, metric: str = "loss") -> list[dict[str, Any]]:
    """One verdict per (anytime candidate, scheduled candidate).

    Each: ``anytime, scheduled, held`` (``None`` when a horizon lacks a result),
    ``per_horizon``: ``horizon, gap_pct, spread_pct, below`` per horizon, and ``mark``: the
    regime's mark (``"progress-limited"``, ``"regime not checked"``, or ``""`` when the grid
    ranks cooldowns; :meth:`jaxsched.compare.regime.Regime.mark`).
    """
    mark = regime_lib.check(res, metric=metric).mark()
    env = {(e["candidate"], e["horizon"]): e for e in res.envelope(metric)}
    out = []
    anytime = [c.name for c in res.candidates if c.anytime]
    scheduled = [c.name for c in res.candidates if not c.anytime]
    for a in anytime:
        for s in scheduled:
            per: list[dict[str, Any]] = []
            held: bool | None = True
            for h in res.horizons:
                ea, es = env.get((a, h)), env.get((s, h))
                if ea is None or es is None:
                    per.append({"horizon": h, "gap_pct": None, "spread_pct": None,
                                "below": None})
                    held = None
                    continue
                ok = below(_stat(ea), _stat(es))
                scale = abs(es["mean"]) or 1.0
                per.append({"horizon": h,
                            "gap_pct": 100.0 * (ea["mean"] - es["mean"]) / scale,
                            "spread_pct": 100.0 * math.hypot(ea["std"], es["std"]) / scale,
                            "below": ok})
                if held is not None:
                    held = held and ok
            out.append({"anytime": a, "scheduled": s, "held": held, "per_horizon": per,
                        "mark": mark})
    return out


def verdict_word(v: dict[str, Any]) -> str:
    """``held`` / ``not held`` / ``not evaluated``, with the regime's mark in parentheses."""
    word = {True: "held", False: "not held", None: "not evaluated"}[v["held"]]
    return f"{word} ({v['mark']})" if v.get("mark") else word


def grid_edges(res, metric: str = "loss") -> set[tuple[str, int]]:
    """``(candidate, horizon)`` pairs whose best learning rate is the grid's smallest or largest.

    Such a result is not known to be tuned: a learning rate beyond the grid may do better.
    A grid of one learning rate has no interior, and no pair is reported for it.
    """
    return _edges(res.envelope(metric), res.lrs)


def _edges(envelope: Sequence[dict[str, Any]], lrs: Sequence[float]) -> set[tuple[str, int]]:
    if len(lrs) < 2:
        return set()
    lo, hi = min(lrs), max(lrs)
    return {(e["candidate"], e["horizon"]) for e in envelope if e["lr"] in (lo, hi)}


def render(res, *, title: str = "Anytime comparison", notes: Sequence[str] = (),
           figures: Sequence[str] = (), metric: str = "loss") -> str:
    """The text of REPORT.md."""
    envelope = res.envelope(metric)
    env = {(e["candidate"], e["horizon"]): e for e in envelope}
    regime = regime_lib.check(res, metric=metric)
    lines = [f"# {title}", "", f"**{regime.headline()}.**", ""]
    lines += _regime_section(res, regime, metric)
    lines += ["", "## Setup", ""]
    lines += [f"- {n}" for n in notes]
    lines += [
        f"- Grid: candidates {', '.join(c.name for c in res.candidates)}; learning rates "
        f"{', '.join(f'{x:g}' for x in res.lrs)}; horizons "
        f"{', '.join(str(h) for h in res.horizons)}; seeds {res.seeds}"
        + (" (mean ± std over seeds)" if res.seeds > 1 else ""),
        f"- Metric: `{metric}` of the task's evaluate, at the evaluation parameters "
        "(`eval_params`), at step == horizon. Scheduled candidates are tuned per horizon "
        "(the best learning rate's mean); anytime candidates are one run per learning rate, "
        "evaluated at every horizon, and also tuned per horizon.",
    ]
    t = res.timing
    if t.get("run_steps"):
        lines.append(
            f"- Trained {t['run_steps']} run-steps in {t['seconds']:.1f} s "
            f"({t['run_steps_per_s']:.1f} run-steps/s, compiles and evaluations included"
            + (", grouped" if t.get("grouped") else ", one run at a time")
            + (f": {t['group_choice']}" if t.get("group_choice") else "") + ")."
        )
    if "bench" in t:
        b = t["bench"]
        lines.append(
            f"- Grouped vs one at a time on a small grid ({b['run_steps']} run-steps, same "
            f"process): {b['grouped_run_steps_per_s']:.1f} vs {b['alone_run_steps_per_s']:.1f} "
            f"run-steps/s, {b['speedup']:.2f}x."
        )
    br = res.branching
    if br:
        saved = br["unbranched_steps"] - br["trained_steps"]
        pct = 100.0 * saved / br["unbranched_steps"] if br["unbranched_steps"] else 0.0
        lines.append(
            f"- Cooldown branching (WSD): {br['branches']} cooldown(s) branched from the shared "
            f"stable phase; trained {br['trained_steps']} run-steps instead of "
            f"{br['unbranched_steps']} ({saved} saved, {pct:.0f}%)."
            + (f" {br['reason']}." if br.get("reason") else "")
        )
    if res.diverged:
        lines.append(f"- {len(res.diverged)} run(s) diverged (their learning rate is left out "
                     "of the envelope where any seed diverged):")
        lines += [f"  - {m}" for m in res.diverged]
    edges = _edges(envelope, res.lrs)
    rows = []
    for c in res.candidates:
        cells = []
        for h in res.horizons:
            e = env.get((c.name, h))
            mark = " †" if (c.name, h) in edges else ""
            cells.append("n/a" if e is None else f"{_stat(e)} (lr {e['lr']:g}{mark})")
        kind = "anytime" if c.anytime else "scheduled"
        rows.append([f"{c.name} ({kind})", *cells])
    lines += ["", f"## Tuned {metric} per horizon", "",
              *table(["candidate", *(f"T={h}" for h in res.horizons)], rows)]
    if edges:
        lines += ["", f"† The best learning rate is at the grid's edge ({len(edges)} of "
                  f"{len(env)} tuned results): the optimum may lie outside the grid, so that "
                  "result is an upper bound on the tuned loss. Widen `lrs` to bracket it."]
    vs = verdicts(res, metric)
    if vs:
        lines += ["", "## Anytime candidates against the tuned envelopes", "",
                  "Gap = (anytime − envelope) / envelope, in %; ± is the combined std of the "
                  "two over seeds, in the same %. A verdict is held only when, at every "
                  "horizon, the anytime mean is below the envelope's by more than the "
                  "combined std (one seed: at or below).", ""]
        if vs[0]["mark"]:
            lines += [f"Every verdict below is marked ({vs[0]['mark']}): see the regime check "
                      "above.", ""]
        for v in vs:
            mark = {True: "**held**", False: "**not held**", None: "**not evaluated**"}[
                v["held"]] + (f" ({v['mark']})" if v["mark"] else "")
            parts = []
            for p in v["per_horizon"]:
                if p["gap_pct"] is None:
                    parts.append(f"T={p['horizon']}: missing")
                else:
                    tag = "" if p["below"] else " (not below)"
                    parts.append(f"T={p['horizon']}: {p['gap_pct']:+.1f}% ± "
                                 f"{p['spread_pct']:.1f}%{tag}")
            lines.append(f"- {mark} — {v['anytime']} is at or below the tuned {v['scheduled']} "
                         f"envelope at every horizon.  \n  " + "; ".join(parts))
    lines += _time_to_target_section(res, metric)
    lines += _cost_section(res)
    if figures:
        lines += ["", "## Figures", ""]
        for f in figures:
            lines += [f"![{f}](figures/{f})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _regime_section(res, regime: regime_lib.Regime, metric: str) -> list[str]:
    lines = ["## Regime check", "",
             f"Cooldown gain = 1 − L_schedule(T) / L_constant(T), both tuned per horizon (the "
             f"best learning rate's mean `{metric}` over seeds); ± is the combined std of the "
             "two envelopes over seeds, in the same units. The grid ranks cooldowns when the "
             "best schedule's gain at the longest horizon exceeds its ± (one seed: exceeds 0); "
             "otherwise it is progress-limited (`jaxsched.compare.regime`)."]
    if regime.status == regime_lib.NOT_CHECKED:
        return [*lines, "", f"Not checked: {regime.reason}."]
    scheduled = [c.name for c in res.candidates if not c.anytime]
    rows = [[f"{name} vs constant", *regime_lib.gain_cells(regime, res.horizons, name)]
            for name in scheduled]
    rows.append(["best schedule vs constant",
                 *regime_lib.gain_cells(regime, res.horizons, None)])
    lines += ["", *table(["cooldown gain", *(f"T={h}" for h in res.horizons)], rows)]
    target = regime.target_line()
    if target is not None:
        lines += ["", f"Time to target: {target}."]
    return lines


def _time_to_target_section(res, metric: str) -> list[str]:
    if res.target is None:
        return ["", "## Time to target", "",
                "Not measured: no target was given and there is no tuned `cosine` envelope to "
                "take it from."]
    choices = targets.tune(res, res.target, metric=metric)
    seconds: dict[str, list[float]] = {}
    for r in res.time_to_target:
        if r["seconds_to_target"] is not None:
            seconds.setdefault(r["candidate"], []).append(r["seconds_to_target"])
    lines = ["", "## Time to target", "",
             f"Target: {metric} {res.target:.4g} (AlgoPerf's rule: the first evaluated step at "
             "or below it). A scheduled candidate counts the steps inside its run of one "
             "horizon, fixed in advance; an anytime candidate counts along its one run. Each "
             "candidate is tuned: the configuration where most seeds reach the target, then "
             "the fewest steps (`jaxsched.compare.targets`). Seconds are steps times the "
             "candidate's measured seconds per run-step (Cost below)."]
    regime = regime_lib.check(res, metric=metric)
    if regime.target_below_constant is False:
        lines += ["", f"**Mind the target**: {regime.target_line()}."]
    rows = []
    for c in res.candidates:
        ch = choices[c.name]
        hit = [x for x in ch.steps if x is not None]
        steps = "never" if not hit else (
            f"{np.mean(hit):.0f}; " + ", ".join("—" if x is None else str(x) for x in ch.steps))
        secs = seconds.get(c.name)
        rows.append([c.name, f"{ch.reached} of {ch.seeds}", steps,
                     f"{np.mean(secs):.1f}" if secs else "—",
                     "—" if ch.lr is None else f"{ch.lr:g}",
                     "anytime" if c.anytime else ("—" if ch.horizon is None else
                                                  str(ch.horizon))])
    return [*lines, "", *table(["candidate", "reached (seeds)",
                                 "steps to target (mean; per seed)", "seconds (mean)", "lr",
                                 "horizon"], rows)]


def _cost_section(res) -> list[str]:
    lines = ["", "## Cost", ""]
    if not res.cost:
        return [*lines, "Not measured: no program trained a chunk after its compile in this "
                "call (the grid is too short, or every run was resumed from before)."]
    base = res.cost[0]["baseline"]
    if res.timing.get("log_eval_loss"):
        logging = ("Averaging and schedule-free candidates log the loss at the averaged "
                   "parameters here (the notes' logging), one more forward pass per step; that "
                   "is in their rate.")
    else:
        logging = ("Every run logs its training loss and is evaluated only at the evaluation "
                   "points, so the rates measure the optimizers: what a user pays to train.")
    how = "grouped" if res.timing.get("grouped", True) else "one run at a time"
    grid = {r["candidate"]: r for r in res.timing.get("grid_cost", [])}
    if res.timing.get("cost_source") == "interleaved":
        lines += [
            "Run-steps/s of each candidate's optimizer on this task, one run at a time: each "
            "distinct optimizer program trained the same steps in rounds, interleaved in this "
            "process, the best round counting (`jaxsched.compare.experiment.cost_bench`; "
            "candidates that train the same optimizer share one program, a schedule being a "
            f"table lookup), and the ratio to plain AdamW's (`{base}`). {logging} Beside it, "
            f"each candidate's share of the grid's own time (trained {how}, compiles "
            "excluded), which load from elsewhere, changing while the grid trains, makes "
            "uneven between programs.", ""]
        header = ["candidate", "run-steps/s", "× AdamW", "in the grid: run-steps/s",
                  "× AdamW"]
    else:
        lines += [f"Run-steps/s of each candidate in this grid, trained {how}: the steps of "
                  "its runs over their share of their programs' time (compiles excluded), and "
                  f"the ratio to plain AdamW's (`{base}`). {logging}", ""]
        header = ["candidate", "run-steps", "seconds", "run-steps/s", "× AdamW"]
    rows = []
    for r in res.cost:
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}"
        if res.timing.get("cost_source") == "interleaved":
            g = grid.get(r["candidate"])
            rows.append([r["candidate"], f"{r['run_steps_per_s']:.1f}", ratio,
                         "—" if g is None else f"{g['run_steps_per_s']:.1f}",
                         "—" if g is None or g["ratio"] is None else f"{g['ratio']:.2f}"])
        else:
            rows.append([r["candidate"], str(r["run_steps"]), f"{r['seconds']:.1f}",
                         f"{r['run_steps_per_s']:.1f}", ratio])
    return [*lines, *table(header, rows)]


def plot_time_to_target(res, out, metric: str = "loss"):
    """Each candidate's tuned mean curve against steps, with the target as a line."""
    from jaxsched import plot

    fig, (ax,) = plot.new_figure((6.5, 4.0))
    curves = targets.target_curves(res, res.target, metric=metric)
    for i, c in enumerate(res.candidates):
        if c.name not in curves:
            continue
        e = curves[c.name]
        how = "anytime" if e["horizon"] is None else f"T={e['horizon']}"
        ax.plot(e["steps"], e["mean"], ls="-" if c.scheduled else "--", marker=".",
                color=plot.default_color(i), label=f"{c.name} (lr {e['lr']:g}, {how})")
    ax.axhline(res.target, color="black", lw=1, ls=":", label=f"target {res.target:.4g}")
    ax.set(xlabel="step", ylabel=metric, title="time to target: tuned runs against steps")
    lo = min(min(e["mean"]) for e in curves.values()) if curves else res.target
    hi = np.percentile([m for e in curves.values() for m in e["mean"]], 90) if curves else 1
    ax.set_ylim(min(lo, res.target) - 0.05 * abs(hi - lo), hi)
    ax.legend(fontsize=7)
    return plot.save_figure(fig, out)


def _curves(res, metric: str):
    """``{candidate: {(lr, horizon): (steps, mean over seeds)}}`` of the rows."""
    acc: dict[tuple, dict[int, list[float]]] = {}
    for r in res.rows:
        acc.setdefault((r["candidate"], r["lr"], r["horizon"]), {}).setdefault(
            r["step"], []).append(r[metric])
    out: dict[str, dict] = {}
    for (c, lr, h), by_step in acc.items():
        steps = np.array(sorted(by_step))
        out.setdefault(c, {})[(lr, h)] = (steps, np.array([np.mean(by_step[s]) for s in steps]))
    return out


def plot_envelopes(res, out, metric: str = "loss"):
    """Loss vs horizon (``pareto.png``): scheduled envelopes with ±std bands, anytime envelopes
    and one anytime run's whole curve."""
    from jaxsched import plot

    fig, (ax,) = plot.new_figure((6.5, 4.0))
    env = res.envelope(metric)
    curves = _curves(res, metric)
    hs = np.array(res.horizons)
    top = []  # any envelope drawn
    for i, c in enumerate(res.candidates):
        es = [e for e in env if e["candidate"] == c.name]
        if not es:
            continue
        color = plot.default_color(i)
        x = np.array([e["horizon"] for e in es])
        m = np.array([e["mean"] for e in es])
        s = np.array([e["std"] for e in es])
        top.append(m.max())
        ls, marker = ("-", "o") if c.scheduled else ("--", "s")
        ax.plot(x, m, ls=ls, marker=marker, color=color,
                label=f"{c.name} ({'tuned per horizon' if c.scheduled else 'anytime, tuned'})")
        if res.seeds > 1:
            ax.fill_between(x, m - s, m + s, color=color, alpha=0.15, lw=0)
        if c.anytime:
            # The whole run of the lr that is best at the longest horizon: what one run gives.
            best = next((e for e in es if e["horizon"] == hs.max()), None)
            if best is not None and (best["lr"], int(hs.max())) in curves.get(c.name, {}):
                steps, mean = curves[c.name][(best["lr"], int(hs.max()))]
                keep = steps >= hs.min() / 2
                ax.plot(steps[keep], mean[keep], ls=":", color=color, lw=1)
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(hs, [str(h) for h in hs])
    if top:
        # The envelopes' range, not the dotted curves' early steps, sets the scale.
        lo = min(e["mean"] - e["std"] for e in env)
        hi = max(e["mean"] + e["std"] for e in env)
        pad = 0.15 * (hi - lo) or 0.05 * abs(hi) or 1.0
        ax.set_ylim(lo - pad, hi + pad)
    ax.set(xlabel="horizon (steps)", ylabel=f"{metric} at the horizon",
           title="loss vs horizon (dotted: one anytime run, its best lr at the longest horizon)")
    ax.title.set_fontsize(8)
    ax.legend(fontsize=7)
    return plot.save_figure(fig, out)


def plot_lr_sensitivity(res, out, metric: str = "loss"):
    """Loss vs learning rate, one panel per horizon; mean ± std over seeds."""
    from jaxsched import plot

    finals = res.final(metric)
    n = len(res.horizons)
    fig, axes = plot.new_figure((3.2 * n, 3.0), ncols=n)
    for ax, h in zip(axes, res.horizons, strict=True):
        for i, c in enumerate(res.candidates):
            pts = [(lr, finals[(c.name, lr, h)]) for lr in res.lrs
                   if (c.name, lr, h) in finals and np.all(np.isfinite(finals[(c.name, lr, h)]))]
            if not pts:
                continue
            x = np.array([p[0] for p in pts])
            m = np.array([np.mean(p[1]) for p in pts])
            s = np.array([Stat.of(p[1]).std for p in pts])
            ax.errorbar(x, m, yerr=s if res.seeds > 1 else None, marker="o" if c.scheduled
                        else "s", ls="-" if c.scheduled else "--", color=plot.default_color(i),
                        label=c.name, capsize=2, ms=4)
        ax.set_xscale("log")
        ax.set(xlabel="learning rate", title=f"horizon {h}")
    axes[0].set_ylabel(f"{metric} at the horizon")
    axes[-1].legend(fontsize=7)
    return plot.save_figure(fig, out)


def write(res, out, *, title: str = "Anytime comparison", notes: Sequence[str] = (),
          metric: str = "loss") -> pathlib.Path:
    """Write ``out/REPORT.md`` and ``out/figures/``: ``pareto.png``, ``lr_sensitivity.png`` and
    ``time_to_target.png``."""
    from jaxsched._io import atomic_write_text

    out = pathlib.Path(out)
    figs = []
    if res.rows:
        plot_envelopes(res, out / "figures" / "pareto.png", metric)
        plot_lr_sensitivity(res, out / "figures" / "lr_sensitivity.png", metric)
        figs = ["pareto.png", "lr_sensitivity.png"]
        if res.target is not None:
            plot_time_to_target(res, out / "figures" / "time_to_target.png", metric)
            figs.append("time_to_target.png")
    path = out / "REPORT.md"
    atomic_write_text(path, render(res, title=title, notes=notes, figures=figs, metric=metric))
    return path
