"""The notes' claims, checked on finished runs, and the REPORT.md that states them.

**The end-of-run statistic.** A run's value at step ``s`` is its ``train_loss`` evaluation at
``s`` when it has one: the mean training loss, dropout on, at the evaluation parameters over
fixed batches (the same batches and dropout masks for every run: paired), which estimates the
quantity the notes' smoothed curve shows without the step-to-step noise of a short moving
average (a 1% window is 10 steps at a 1,000-step horizon, and single-seed values jump by 0.1).
A run without that evaluation falls back to the notes' smoothed per-step loss at ``s``. The
claims, the final table and the fidelity table all use it.

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


def _evaluated(rec: Record, step: int) -> float | None:
    """The run's ``train_loss`` evaluation at ``step``, if it has one."""
    return next((float(e["train_loss"]) for e in rec.evals
                 if e.get("step") == step and "train_loss" in e), None)


def value_at(rec: Record | np.ndarray, step: int, window: int) -> float:
    """The end-of-run statistic of a run at ``step`` (module docstring)."""
    rec = _record(rec)
    found = _evaluated(rec, step)
    return smoothed_at(rec.losses, step, window) if found is None else found


def final_value(rec: Record | np.ndarray, window: int) -> float:
    """:func:`value_at` the run's last step."""
    rec = _record(rec)
    return value_at(rec, len(rec.losses), window)


def uses_evaluations(runs: Mapping[str, Sequence[Any]]) -> bool:
    """Whether every run's final value comes from a ``train_loss`` evaluation."""
    return all(_evaluated(rec, len(rec.losses)) is not None
               for recs in runs.values() for rec in map(_record, recs))


@dataclasses.dataclass(frozen=True)
class ClaimResult:
    name: str
    statement: str
    held: bool | None  # None: the runs it needs are missing
    evidence: str


Finals = Callable[[str], "Stat | None"]


def _below_all(claim: alchemist.Claim, final: Finals, runs, window) -> tuple[bool, str]:
    ref = final(claim.reference)
    parts = [f"{s} {final(s)} vs {claim.reference} {ref}" for s in claim.subjects]
    return all(_below(final(s), ref) for s in claim.subjects), "; ".join(parts)


def _above_all(claim: alchemist.Claim, final: Finals, runs, window) -> tuple[bool, str]:
    ref = final(claim.reference)
    parts = [f"{s} {final(s)} vs {claim.reference} {ref}" for s in claim.subjects]
    return all(_below(ref, final(s)) for s in claim.subjects), "; ".join(parts)


def _close(claim: alchemist.Claim, final: Finals, runs, window) -> tuple[bool, str]:
    means = [final(s).mean for s in claim.subjects]
    gain = final(claim.reference).mean - float(np.mean(means))
    spread = max(means) - min(means)
    held = gain > 0 and spread <= claim.close * gain
    shown = ", ".join(f"{s} {final(s)}" for s in claim.subjects)
    return held, f"spread {spread:.3f}, gain over {claim.reference} {gain:.3f} ({shown})"


def _as_low_as(claim: alchemist.Claim, final: Finals, runs, window) -> tuple[bool, str]:
    (subject,) = claim.subjects
    e, ref, base = final(subject), final(claim.reference), final(claim.baseline)
    gain = base.mean - ref.mean
    # "or below it" holds whatever the reference's gain: with no gain there is no margin, and
    # the subject must simply end at or below the reference.
    held = e.mean - ref.mean <= claim.close * max(gain, 0.0)
    return held, f"{subject} {e} vs {claim.reference} {ref}; {claim.reference}'s gain {gain:.3f}"


def _pareto(claim: alchemist.Claim, final: Finals, runs, window) -> tuple[bool, str]:
    (subject,) = claim.subjects
    held, parts = True, []
    for lab in claim.reference_runs:
        end = len(_record(runs[lab][0]).losses)
        at = Stat.of([value_at(x, end, window) for x in runs[subject]])
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
``(claim, final, runs, window) -> (held, evidence)``."""


def evaluate_claims(runs: Mapping[str, Sequence[Any]], window: int) -> list[ClaimResult]:
    """Each of :data:`alchemist.CLAIMS` on ``runs[label]``: one :class:`Record` (or per-step
    loss array) per seed."""

    def final(label: str) -> Stat | None:
        if label not in runs or not runs[label]:
            return None
        return Stat.of([final_value(x, window) for x in runs[label]])

    out: list[ClaimResult] = []
    for claim in alchemist.CLAIMS:
        needed = [*claim.subjects, claim.reference, claim.baseline, *claim.reference_runs]
        gone = [lab for lab in dict.fromkeys(needed) if lab and final(lab) is None]
        if gone:
            out.append(ClaimResult(claim.name, claim.statement, None,
                                   f"missing runs: {', '.join(gone)}"))
            continue
        held, evidence = RULES[claim.rule](claim, final, runs, window)
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
    const_mean = (Stat.of([final_value(x, window) for x in runs[constant]]).mean
                  if constant in runs else None)
    rows = []
    for label, spec in alchemist.RUNS.items():
        if label not in runs:
            continue
        recs = [_record(x) for x in runs[label]]
        fin = Stat.of([final_value(x, window) for x in recs])
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
        nu = (regime.noise_share(final_value(x, window), final_value(dropped[i], window))
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
    lines += [
        "| diagnostic | this run | per seed | the notes | band | in band |",
        "|---|---|---|---|---|---|",
    ]
    verdict = True
    for band in regime.BANDS:
        values = [getattr(d, band.name) for d in diagnostics]
        ok = all(band.holds(x) for x in values)
        decides = notes_workload or band is regime.NOISE_SHARE_BAND
        verdict &= ok or not decides
        mark = ("yes" if ok else "**no**") if decides else ("(yes)" if ok else "(no)")
        lines.append(
            f"| {band.what} | {Stat.of(values)} | {', '.join(f'{x:.3f}' for x in values)} | "
            f"{band.notes_text} | {band.low:g} - {band.high:g} | {mark} |"
        )
    if drop:
        lines.append(
            f"| share of the loss the same drop removes within 5% of the horizon ({regime.DROPPED} "
            f"against constant, 5% windows); reads low on short runs, not banded | "
            f"{Stat.of(list(drop))} | {', '.join(f'{x:.3f}' for x in drop)} | "
            f"{regime.NOTES_DROP_GAIN:.2f} (their curves) | reported | — |"
        )
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


def fidelity_section(rows: Sequence[dict]) -> list[str]:
    """REPORT.md's "Fidelity" table: each run's final over the constant run's, ours and the
    notes', and the log of their ratio (0: the same gain or loss relative to constant),
    the calibrating runs apart from the held-out ones, and the held-out median."""
    calibrating = " and ".join(alchemist.CALIBRATING)
    lines = ["## Fidelity to the notes", "",
             f"The stand-in was calibrated on two runs, {calibrating}: their regime bands, "
             "`nu` and the learning-rate sweep chose its knobs and the preset's size. The other "
             "runs were not looked at while choosing, so their ratios to constant are "
             "predictions, held out. For each run: its final value over the constant run's, for "
             "this run and for the notes' CIFAR-10 curves (their last 1,000-step window), and "
             "`ln(ours / notes)`: 0 when the run gains (or loses) relative to constant as much "
             "as in the notes.", "",
             "| run | role | ours / constant | notes / constant | ln(ours / notes) |",
             "|---|---|---|---|---|"]
    for r in rows:
        if r["ratio"] is None or r["notes_ratio"] is None or r["label"] == alchemist.CONSTANT:
            continue
        role = "calibrating" if r["label"] in alchemist.CALIBRATING else "held out"
        lines.append(f"| {r['label']} | {role} | {r['ratio']:.2f} | {r['notes_ratio']:.2f} | "
                     f"{r['log_ratio']:+.2f} |")
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
    from_evaluations: bool = False,
) -> str:
    """The text of REPORT.md. ``built``: the workload the runs trained (its notes describe it).
    ``drop``: :func:`drop_gains` of the runs, shown in the regime section.
    ``from_evaluations``: the final values are ``train_loss`` evaluations
    (:func:`uses_evaluations`), as the report then says."""
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
        f"- Adam lr {preset.lr:g}" + (f" ({preset.lr_source})" if preset.lr_source else "")
        + ".",
        f"- Seeds: {seeds}" + (" (mean ± standard deviation across seeds)" if seeds > 1 else ""),
    ]
    if wall_seconds is not None:
        lines.append(f"- Wall time of this invocation: {wall_seconds:.0f} s")
    lines.append("")
    if regime_diagnostics is not None:
        lines += regime_section(regime_diagnostics, drop,
                                notes_workload=preset.task == alchemist.NOTES_TASK)
    statistic = (
        "the mean training loss (dropout on) at the evaluation parameters over the workload's "
        "fixed training batches (`train_loss`) at the run's last step, the same batches for "
        "every run"
        if from_evaluations else f"the smoothed per-step training loss ({window}-step window)"
    )
    lines += [
        "## Final train loss",
        "",
        f"*final*: {statistic} (`jaxsched.chapter.report`). *smoothed*: the notes' statistic, "
        f"the mean per-step training loss over the last {window} steps. The notes' column is "
        "the last 1,000-step window of their 100k-step CIFAR-10 curves (about ±0.01).",
        "",
        "| run | optimizer | steps | final | smoothed | notes (100k, CIFAR-10) "
        "| test accuracy | status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        notes = "" if r["notes"] is None else f"{r['notes']:.3f}"
        acc = "" if r["test_accuracy"] is None else str(r["test_accuracy"])
        lines.append(
            f"| {r['label']} | {r['optimizer']} | {r['steps']} | {r['final']} | "
            f"{r['smoothed']} | {notes} | {acc} | {r['status']} |"
        )
    lines += ["", *fidelity_section(rows)]
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
