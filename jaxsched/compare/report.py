"""REPORT.md and the figures of an anytime comparison.

Per horizon, each candidate's tuned loss (the best learning rate's mean ± std over seeds), and
the gap of every anytime candidate to every scheduled envelope in % of the envelope, with the
seeds' spread (the combined std, in the same %). The verdict "X is at or below the tuned Y
envelope at every horizon" is marked held only when, at every horizon, the gap between the
means exceeds the combined standard deviation (:func:`jaxsched.stats.below`, the
reproduction's rule; with one seed: plain ``<=``).
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxsched.stats import Stat, below

__all__ = ["grid_edges", "verdicts", "render", "write", "plot_envelopes", "plot_lr_sensitivity"]


def _stat(e: dict[str, Any]) -> Stat:
    return Stat(e["mean"], e["std"], e["n"])


def verdicts(res, metric: str = "loss") -> list[dict[str, Any]]:
    """One verdict per (anytime candidate, scheduled candidate).

    Each: ``anytime, scheduled, held`` (``None`` when a horizon lacks a result), and
    ``per_horizon``: ``horizon, gap_pct, spread_pct, below`` per horizon.
    """
    env = {(e["candidate"], e["horizon"]): e for e in res.envelope(metric)}
    out = []
    anytime = [c.name for c in res.candidates if c.anytime]
    scheduled = [c.name for c in res.candidates if not c.anytime]
    for a in anytime:
        for s in scheduled:
            per, held = [], True
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
            out.append({"anytime": a, "scheduled": s, "held": held, "per_horizon": per})
    return out


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
    lines = [f"# {title}", ""]
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
            + (", grouped" if t.get("grouped") else ", one run at a time") + ")."
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
    lines += ["", f"## Tuned {metric} per horizon", "",
              "| candidate | " + " | ".join(f"T={h}" for h in res.horizons) + " |",
              "|---|" + "---|" * len(res.horizons)]
    edges = _edges(envelope, res.lrs)
    for c in res.candidates:
        cells = []
        for h in res.horizons:
            e = env.get((c.name, h))
            mark = " †" if (c.name, h) in edges else ""
            cells.append("n/a" if e is None else f"{_stat(e)} (lr {e['lr']:g}{mark})")
        kind = "anytime" if c.anytime else "scheduled"
        lines.append(f"| {c.name} ({kind}) | " + " | ".join(cells) + " |")
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
        for v in vs:
            mark = {True: "**held**", False: "**not held**", None: "**not evaluated**"}[
                v["held"]]
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
    if figures:
        lines += ["", "## Figures", ""]
        for f in figures:
            lines += [f"![{f}](figures/{f})", ""]
    return "\n".join(lines).rstrip() + "\n"


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
    """Write ``out/REPORT.md``, ``out/figures/pareto.png`` and ``lr_sensitivity.png``."""
    from jaxsched._io import atomic_write_text

    out = pathlib.Path(out)
    figs = []
    if res.rows:
        plot_envelopes(res, out / "figures" / "pareto.png", metric)
        plot_lr_sensitivity(res, out / "figures" / "lr_sensitivity.png", metric)
        figs = ["pareto.png", "lr_sensitivity.png"]
    path = out / "REPORT.md"
    atomic_write_text(path, render(res, title=title, notes=notes, figures=figs, metric=metric))
    return path
