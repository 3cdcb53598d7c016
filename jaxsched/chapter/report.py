"""The notes' claims, checked on finished runs, and the REPORT.md that states them.

**The end-of-run statistic.** A run's value at step ``s`` is the mean of its per-step training
losses over the 5% of its horizon that ends at ``s`` (the regime rule's shape window,
:func:`jaxsched.chapter.regime.shape_window`), where its horizon is ``s`` itself: a run's final
value is the mean over its own last 5%, and the schedule-free run's value at the end of a
shorter linear decay is read over the same window as that run's final. It is the notes' own
statistic, a moving average of the logged per-step losses (which, for averaging and
schedule-free runs, are the losses at the averaged parameters, as the notes log them), over a
window wide enough for a short run: the notes' 1% averages 1,000 steps of 128 images, 1% of a
2,000-step run of batch 32 averages 20 steps. A single evaluation at the final parameters is
no substitute: on the stand-in a constant-learning-rate run's loss spikes and recovers, and
which phase of a spike the last step falls in moved the evaluated training loss between 0.35
and 2.3 times the 5%-window mean (``experiments/calibrate_standin.py``). The claims, the final
table, the fidelity table and the noise share all use it.

Statistics are over seeds. With one seed the spread is zero and each claim reduces to the plain
comparison of final values; with several, an inequality is marked *held* only when the gap
between the means exceeds the combined standard deviation ``sqrt(sd_a**2 + sd_b**2)`` (the rule
lives in :mod:`jaxsched.stats`, shared with the anytime comparison's report).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from jaxsched._markdown import table
from jaxsched.chapter import alchemist, notes_curves, regime
from jaxsched.smoothing import smoothed_at
from jaxsched.stats import Stat
from jaxsched.stats import below as _below
from jaxsched.workloads.catalogue import Built


class Record(NamedTuple):
    """One seed of one run: per-step losses and its evaluations (``eval.json``)."""

    losses: np.ndarray
    evals: Sequence[Mapping[str, Any]] = ()


def _record(x: Any) -> Record:
    return x if isinstance(x, Record) else Record(np.asarray(x))


def value_at(rec: Record | np.ndarray, step: int) -> float:
    """The end-of-run statistic of a run at ``step``: the mean per-step loss over the
    ``shape_window(step)`` steps that end there (module docstring)."""
    rec = _record(rec)
    return smoothed_at(rec.losses, step, regime.shape_window(step))


def final_value(rec: Record | np.ndarray) -> float:
    """:func:`value_at` the run's last step."""
    rec = _record(rec)
    return value_at(rec, len(rec.losses))


@dataclasses.dataclass(frozen=True)
class ClaimResult:
    name: str
    statement: str
    held: bool | None  # None: the runs it needs are missing
    evidence: str


Finals = Callable[[str], Stat]


def _each_against(claim: alchemist.Claim, final: Finals, *, below: bool) -> tuple[bool, str]:
    """Every subject below (or above) the reference; the evidence marks each one that is not,
    so that a reader sees which run broke the claim."""
    ref = final(claim.reference)
    held, parts = True, []
    for s in claim.subjects:
        ok = _below(final(s), ref) if below else _below(ref, final(s))
        held &= ok
        miss = "" if ok else (" (not below)" if below else " (not above)")
        parts.append(f"{s} {final(s)} vs {claim.reference} {ref}{miss}")
    return held, "; ".join(parts)


def _below_all(claim: alchemist.Claim, final: Finals, runs) -> tuple[bool, str]:
    return _each_against(claim, final, below=True)


def _above_all(claim: alchemist.Claim, final: Finals, runs) -> tuple[bool, str]:
    return _each_against(claim, final, below=False)


def _close(claim: alchemist.Claim, final: Finals, runs) -> tuple[bool, str]:
    means = [final(s).mean for s in claim.subjects]
    gain = final(claim.reference).mean - float(np.mean(means))
    spread = max(means) - min(means)
    held = gain > 0 and spread <= claim.close * gain
    shown = ", ".join(f"{s} {final(s)}" for s in claim.subjects)
    return held, f"spread {spread:.3f}, gain over {claim.reference} {gain:.3f} ({shown})"


def _as_low_as(claim: alchemist.Claim, final: Finals, runs) -> tuple[bool, str]:
    (subject,) = claim.subjects
    e, ref, base = final(subject), final(claim.reference), final(claim.baseline)
    gain = base.mean - ref.mean
    # "or below it" holds whatever the reference's gain: with no gain there is no margin, and
    # the subject must simply end at or below the reference.
    held = e.mean - ref.mean <= claim.close * max(gain, 0.0)
    return held, f"{subject} {e} vs {claim.reference} {ref}; {claim.reference}'s gain {gain:.3f}"


def _pareto(claim: alchemist.Claim, final: Finals, runs) -> tuple[bool, str]:
    (subject,) = claim.subjects
    held, parts = True, []
    for lab in claim.reference_runs:
        end = len(_record(runs[lab][0]).losses)
        at = Stat.of([value_at(x, end) for x in runs[subject]])
        ok = _below(at, final(lab))
        held &= ok
        parts.append(f"{lab}: {at} vs {final(lab)}{'' if ok else ' (not below)'}")
    return held, "; ".join(parts)


RULES: dict[str, Callable[..., tuple[bool, str]]] = {
    "below": _below_all,
    "above": _above_all,
    "close": _close,
    "as_low_as": _as_low_as,
    "pareto": _pareto,
}
"""How each :attr:`Claim.rule <jaxsched.chapter.alchemist.Claim.rule>` is checked:
``(claim, final, runs) -> (held, evidence)``."""


def evaluate_claims(runs: Mapping[str, Sequence[Any]]) -> list[ClaimResult]:
    """Each of :data:`alchemist.CLAIMS` on ``runs[label]``: one :class:`Record` (or per-step
    loss array) per seed."""

    def final(label: str) -> Stat:
        return Stat.of([final_value(x) for x in runs[label]])

    out: list[ClaimResult] = []
    for claim in alchemist.CLAIMS:
        needed = [*claim.subjects, claim.reference, claim.baseline, *claim.reference_runs]
        # the rules run only when every run they need is there
        gone = [lab for lab in dict.fromkeys(needed) if lab and not runs.get(lab)]
        if gone:
            out.append(ClaimResult(claim.name, claim.statement, None,
                                   f"missing runs: {', '.join(gone)}"))
            continue
        held, evidence = RULES[claim.rule](claim, final, runs)
        out.append(ClaimResult(claim.name, claim.statement, held, evidence))
    return out


def final_table(
    runs: Mapping[str, Sequence[Any]],
    summaries: Mapping[str, Sequence[Mapping]],
    window: int,
) -> list[dict]:
    """Per run: its final value (the end-of-run statistic), its final smoothed per-step loss
    (the notes' 1% window), the notes' final loss, test accuracy and status; and the fidelity
    columns: ``ours`` = final / the constant run's final, ``notes`` = the same ratio of the
    notes' finals, ``log_ratio`` = ``ln(ours / notes)``."""
    constant = alchemist.CONSTANT
    const_mean = (Stat.of([final_value(x) for x in runs[constant]]).mean
                  if constant in runs else None)
    rows = []
    for label, spec in alchemist.RUNS.items():
        if label not in runs:
            continue
        recs = [_record(x) for x in runs[label]]
        fin = Stat.of([final_value(x) for x in recs])
        sums = summaries.get(label, [])
        acc = [s.get("final_eval", {}).get("accuracy") for s in sums]
        acc = [a for a in acc if a is not None]
        notes = notes_curves.final(label) if spec.notes_column else None
        ours_ratio = fin.mean / const_mean if const_mean else None
        notes_ratio = (notes / notes_curves.final(constant)) if notes is not None else None
        rows.append(
            {
                "label": label,
                "optimizer": spec.optimizer,
                "steps": len(recs[0].losses),
                "final": fin,
                "smoothed": Stat.of([smoothed_at(x.losses, len(x.losses), window)
                                     for x in recs]),
                "notes": notes,
                "ratio": ours_ratio,
                "notes_ratio": notes_ratio,
                "log_ratio": (math.log(ours_ratio / notes_ratio)
                              if ours_ratio and notes_ratio else None),
                "test_accuracy": Stat.of(acc) if acc else None,
                "status": ", ".join(sorted({s.get("status", "?") for s in sums})),
            }
        )
    return rows


FINALS_COLUMNS = ("label", "optimizer", "steps", "seeds", "final_mean", "final_std",
                  "smoothed_mean", "notes", "ratio", "notes_ratio", "log_ratio")
"""The columns of ``finals.csv`` (:func:`finals_csv`)."""


def finals_csv(rows: Sequence[dict]) -> str:
    """:func:`final_table`'s rows as CSV text (:data:`FINALS_COLUMNS`; empty cells for none)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FINALS_COLUMNS)
    for r in rows:
        cells = [r["label"], r["optimizer"], r["steps"], r["final"].n, r["final"].mean,
                 r["final"].std, r["smoothed"].mean, r["notes"], r["ratio"], r["notes_ratio"],
                 r["log_ratio"]]
        w.writerow(["" if c is None else repr(float(c)) if isinstance(c, float) else c
                    for c in cells])
    return buf.getvalue()


def regime_diagnostics(
    runs: Mapping[str, Sequence[Any]], *, batch_size: int, n_train: int, window: int,
    chance: float = regime.LN10,
) -> list[regime.Diagnostics]:
    """The regime rule's diagnostics of every seed of the constant-LR run (none if missing),
    with its noise share ``nu`` against the Stepwise-at-75% run of the same seed at the
    end-of-run statistic (NaN where that run is missing); ``chance``: the loss of a uniform
    prediction (:func:`jaxsched.chapter.regime.diagnose`)."""
    dropped = list(runs.get(regime.DROPPED, []))
    out = []
    for i, x in enumerate(runs.get(alchemist.CONSTANT, [])):
        nu = (regime.noise_share(final_value(x), final_value(dropped[i]))
              if i < len(dropped) else math.nan)
        out.append(regime.diagnose(_record(x).losses, batch_size=batch_size, n_train=n_train,
                                   window=window, nu=nu, chance=chance))
    return out


def drop_gains(runs: Mapping[str, Sequence[Any]]) -> list[float]:
    """:func:`jaxsched.chapter.regime.drop_gain` of each seed (none if either run is missing)."""
    pairs = zip(runs.get(alchemist.CONSTANT, []), runs.get(regime.DROPPED, []), strict=False)
    return [regime.drop_gain(_record(c).losses, _record(d).losses) for c, d in pairs]


def regime_section(
    diagnostics: Sequence[regime.Diagnostics], drop: Sequence[float] = (), *,
    notes_workload: bool = True,
) -> list[str]:
    """REPORT.md's "Regime" section: each diagnostic, seed by seed, beside the notes' value and
    its band, and the unbanded :func:`~jaxsched.chapter.regime.drop_gain` of ``drop`` (one per
    seed).

    On a workload other than the notes' (``notes_workload=False``) the constant run's bands are
    CIFAR-10's values, shown for reference only; its verdict is the noise share's alone: is the
    run noise-limited as the notes' is.
    """
    lines = [
        "## Regime",
        "",
        "Is this run in the regime of the notes' chapter? Computed from the two calibrating "
        f"runs alone ({' and '.join(alchemist.CALIBRATING)}), before and independently of the "
        "other runs and the claims (`jaxsched.chapter.regime`): how far the constant run "
        "trains, whether it learns at once, the shape of its whole curve beside the notes' "
        "CIFAR-10 curve (`L(t)/L(T)` at a quarter, half and three quarters of the horizon, the "
        "last quarter's fall, no step-like drop), and `nu`, the share of its end-of-run loss "
        "that the 10x drop at 75% removes: learning-rate noise, which any decay removes "
        "(noise-limited, as on CIFAR-10), rather than learning still to do, which a lower rate "
        "slows (progress-limited).",
        "",
    ]
    if not notes_workload:
        lines += ["This workload is not the notes': the constant run's bands below are "
                  "CIFAR-10's, shown for reference, and only `nu` decides whether the run is "
                  "noise-limited as the notes' is.", ""]
    if not diagnostics:
        return [*lines, "Not evaluated: the constant-LR run is missing.", ""]
    rows = []
    verdict = True
    for band in regime.BANDS:
        values = [getattr(d, band.name) for d in diagnostics]
        ok = all(band.holds(x) for x in values)
        decides = notes_workload or band is regime.NOISE_SHARE_BAND
        verdict &= ok or not decides
        mark = ("yes" if ok else "**no**") if decides else ("(yes)" if ok else "(no)")
        rows.append([band.what, Stat.of(values), ", ".join(f"{x:.3f}" for x in values),
                     band.notes_text, f"{band.low:g} - {band.high:g}", mark])
    if drop:
        rows.append([
            f"share of the loss the same drop removes within 5% of the horizon ({regime.DROPPED} "
            "against constant, 5% windows); reads low on short runs, not banded",
            Stat.of(list(drop)), ", ".join(f"{x:.3f}" for x in drop),
            f"{regime.NOTES_DROP_GAIN:.2f} (their curves)", "reported", "—",
        ])
    lines += table(["diagnostic", "this run", "per seed", "the notes", "band", "in band"], rows)
    if notes_workload:
        text = ("**In the notes' regime** (every diagnostic of every seed inside its band)."
                if verdict else
                "**Not in the notes' regime**: read the claims below as a different experiment.")
    else:
        text = ("**Noise-limited as in the notes** (`nu` of every seed inside the notes' band)."
                if verdict else
                "**Not noise-limited as in the notes** (`nu` outside the notes' band): read the "
                "claims below as a different experiment.")
    return [*lines, "", text, ""]


def held_out_median(rows: Sequence[dict]) -> float | None:
    """The median ``|ln(ours / notes)|`` of the runs that did not calibrate the stand-in
    (``None`` when none of them has both ratios)."""
    logs = [abs(r["log_ratio"]) for r in rows
            if r["label"] not in alchemist.CALIBRATING and r["log_ratio"] is not None]
    return float(np.median(logs)) if logs else None


def fidelity_section(rows: Sequence[dict], *, notes_workload: bool = True) -> list[str]:
    """REPORT.md's "Fidelity" table: each run's final over the constant run's, ours and the
    notes', and the log of their ratio (0: the same gain or loss relative to constant),
    the calibrating runs apart from the held-out ones, and the held-out median.
    ``notes_workload=False``: a workload other than the notes', whose size and rate were chosen
    on the same two runs, but which no stand-in was built to match."""
    calibrating = " and ".join(alchemist.CALIBRATING)
    if notes_workload:
        chosen = (f"The stand-in was calibrated on two runs, {calibrating}: their regime bands, "
                  "`nu` and the learning-rate sweep chose its knobs and the preset's size.")
    else:
        chosen = (f"This workload is not the notes': only two runs, {calibrating}, and the "
                  "learning-rate sweep chose the preset's size and rate.")
    lines = ["## Fidelity to the notes", "",
             f"{chosen} The other "
             "runs were not looked at while choosing, so their ratios to constant are "
             "predictions, held out. For each run: its final value over the constant run's, for "
             "this run and for the notes' CIFAR-10 curves (their last 1,000-step window), and "
             "`ln(ours / notes)`: 0 when the run gains (or loses) relative to constant as much "
             "as in the notes.", ""]
    lines += table(
        ["run", "role", "ours / constant", "notes / constant", "ln(ours / notes)"],
        ([r["label"], "calibrating" if r["label"] in alchemist.CALIBRATING else "held out",
          f"{r['ratio']:.2f}", f"{r['notes_ratio']:.2f}", f"{r['log_ratio']:+.2f}"]
         for r in rows if r["ratio"] is not None and r["notes_ratio"] is not None
         and r["label"] != alchemist.CONSTANT),
    )
    median = held_out_median(rows)
    if median is not None:
        n = sum(1 for r in rows if r["label"] not in alchemist.CALIBRATING
                and r["log_ratio"] is not None)
        lines += ["", f"Median `|ln(ours / notes)|` over the {n} held-out runs: "
                  f"**{median:.2f}** (0: each gains or loses relative to constant as in the "
                  "notes)."]
    return [*lines, ""]


def render(
    *,
    preset: alchemist.Preset,
    built: Built,
    seeds: int,
    rows: Sequence[dict],
    claims: Sequence[ClaimResult],
    figures: Sequence[str],
    window: int,
    wall_seconds: float | None = None,
    regime_diagnostics: Sequence[regime.Diagnostics] | None = None,
    drop: Sequence[float] = (),
) -> str:
    """The text of REPORT.md. ``built``: the workload the runs trained (its notes describe it).
    ``drop``: :func:`drop_gains` of the runs, shown in the regime section."""
    notes_data = preset.task == alchemist.NOTES_TASK and built.data_name == "cifar10"
    lines = [
        f"# Reproduction of the notes' learning-rate scheduling chapter ({preset.name} preset)",
        "",
        f"- Workload: `{preset.task}` at size `{preset.name}`"
        + ("" if notes_data else " — not the notes' CIFAR-10: losses are not comparable to "
           "the notes' numbers, only the orderings are."),
        *(f"- {line}" for line in built.notes),
        f"- Horizon: {preset.steps} steps (the notes: {alchemist.NOTES_STEPS}); smoothing window "
        f"{window} steps (the notes: {alchemist.NOTES_WINDOW}); EMA decays rescaled to keep the "
        "notes' averaging window as a fraction of the horizon.",
        f"- Adam lr {preset.lr:g}" + (
            f" (the constant run's best in the learning-rate sweep `{preset.lr_source}`)"
            if preset.lr_source.startswith("results/") else
            f" ({preset.lr_source})" if preset.lr_source else "") + ".",
        f"- Seeds: {seeds}" + (" (mean ± standard deviation across seeds)" if seeds > 1 else ""),
    ]
    if wall_seconds is not None:
        lines.append(f"- Wall time of this invocation: {wall_seconds:.0f} s (runs finished by an "
                     "earlier invocation are loaded, not retrained)")
    lines.append("")
    if regime_diagnostics is not None:
        lines += regime_section(regime_diagnostics, drop,
                                notes_workload=preset.task == alchemist.NOTES_TASK)
    lines += [
        "## Final train loss",
        "",
        "*final*: the mean per-step training loss over the last 5% of the run's own horizon, "
        "the end-of-run statistic of every claim and of `nu` (`jaxsched.chapter.report`). "
        f"*smoothed*: the notes' 1% window, the mean over the last {window} steps. The notes' "
        "column is the last 1,000-step window of their 100k-step CIFAR-10 curves (about "
        "±0.01).",
        "",
    ]
    lines += table(
        ["run", "optimizer", "steps", "final", "smoothed", "notes (100k, CIFAR-10)",
         "test accuracy", "status"],
        ([r["label"], r["optimizer"], r["steps"], r["final"], r["smoothed"],
          "" if r["notes"] is None else f"{r['notes']:.3f}",
          "" if r["test_accuracy"] is None else r["test_accuracy"], r["status"]] for r in rows),
    )
    lines += ["", *fidelity_section(rows, notes_workload=preset.task == alchemist.NOTES_TASK)]
    lines += ["## The notes' claims in this run", "",
              "Checked on the final values above (and, for the Pareto claim, the schedule-free "
              "run's value at the end of each linear decay).", ""]
    if seeds > 1:
        lines.append(
            "An inequality is marked held only when the gap between means exceeds the combined "
            "standard deviation of the two runs."
        )
        lines.append("")
    for c in claims:
        mark = {True: "**held**", False: "**not held**", None: "**not evaluated**"}[c.held]
        lines.append(f"- {mark} — {c.statement}  \n  {c.evidence}")
    if figures:
        lines += ["", "## Figures", ""]
        for f in figures:
            lines.append(f"![{f}](figures/{f})")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
