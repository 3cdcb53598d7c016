"""The notes' claims, checked on finished runs, and the REPORT.md that states them.

Statistics are over seeds. With one seed the spread is zero and each claim reduces to the plain
comparison of final smoothed losses; with several, an inequality is marked *held* only when the
gap between the means exceeds the combined standard deviation ``sqrt(sd_a**2 + sd_b**2)``
(the rule lives in :mod:`jaxsched.stats`, shared with the anytime comparison's report).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from jaxsched.chapter import alchemist, regime
from jaxsched.smoothing import smoothed_at
from jaxsched.stats import Stat
from jaxsched.stats import below as _below


@dataclasses.dataclass(frozen=True)
class ClaimResult:
    name: str
    statement: str
    held: bool | None  # None: the runs it needs are missing
    evidence: str


Finals = Callable[[str], "Stat | None"]


def _below_all(claim: alchemist.Claim, final: Finals, losses, window) -> tuple[bool, str]:
    ref = final(claim.reference)
    parts = [f"{s} {final(s)} vs {claim.reference} {ref}" for s in claim.subjects]
    return all(_below(final(s), ref) for s in claim.subjects), "; ".join(parts)


def _above_all(claim: alchemist.Claim, final: Finals, losses, window) -> tuple[bool, str]:
    ref = final(claim.reference)
    parts = [f"{s} {final(s)} vs {claim.reference} {ref}" for s in claim.subjects]
    return all(_below(ref, final(s)) for s in claim.subjects), "; ".join(parts)


def _close(claim: alchemist.Claim, final: Finals, losses, window) -> tuple[bool, str]:
    means = [final(s).mean for s in claim.subjects]
    gain = final(claim.reference).mean - float(np.mean(means))
    spread = max(means) - min(means)
    held = gain > 0 and spread <= claim.close * gain
    shown = ", ".join(f"{s} {final(s)}" for s in claim.subjects)
    return held, f"spread {spread:.3f}, gain over {claim.reference} {gain:.3f} ({shown})"


def _as_low_as(claim: alchemist.Claim, final: Finals, losses, window) -> tuple[bool, str]:
    (subject,) = claim.subjects
    e, ref, base = final(subject), final(claim.reference), final(claim.baseline)
    gain = base.mean - ref.mean
    # "or below it" holds whatever the reference's gain: with no gain there is no margin, and
    # the subject must simply end at or below the reference.
    held = e.mean - ref.mean <= claim.close * max(gain, 0.0)
    return held, f"{subject} {e} vs {claim.reference} {ref}; {claim.reference}'s gain {gain:.3f}"


def _pareto(claim: alchemist.Claim, final: Finals, losses, window) -> tuple[bool, str]:
    (subject,) = claim.subjects
    held, parts = True, []
    for lab in claim.reference_runs:
        end = len(losses[lab][0])
        at = Stat.of([smoothed_at(x, end, window) for x in losses[subject]])
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
``(claim, final, losses, window) -> (held, evidence)``."""


def evaluate_claims(
    losses: Mapping[str, Sequence[np.ndarray]], window: int
) -> list[ClaimResult]:
    """Each of :data:`alchemist.CLAIMS` on ``losses[label]`` (one array per seed)."""

    def final(label: str) -> Stat | None:
        if label not in losses or not losses[label]:
            return None
        return Stat.of([smoothed_at(x, len(x), window) for x in losses[label]])

    out: list[ClaimResult] = []
    for claim in alchemist.CLAIMS:
        needed = [*claim.subjects, claim.reference, claim.baseline, *claim.reference_runs]
        gone = [lab for lab in dict.fromkeys(needed) if lab and final(lab) is None]
        if gone:
            out.append(ClaimResult(claim.name, claim.statement, None,
                                   f"missing runs: {', '.join(gone)}"))
            continue
        held, evidence = RULES[claim.rule](claim, final, losses, window)
        out.append(ClaimResult(claim.name, claim.statement, held, evidence))
    return out


def final_table(
    losses: Mapping[str, Sequence[np.ndarray]],
    summaries: Mapping[str, Sequence[Mapping]],
    window: int,
) -> list[dict]:
    rows = []
    for label, spec in alchemist.RUNS.items():
        if label not in losses:
            continue
        fin = Stat.of([smoothed_at(x, len(x), window) for x in losses[label]])
        sums = summaries.get(label, [])
        acc = [s.get("final_eval", {}).get("accuracy") for s in sums]
        acc = [a for a in acc if a is not None]
        rows.append(
            {
                "label": label,
                "optimizer": spec.optimizer,
                "steps": len(losses[label][0]),
                "final": fin,
                "notes": spec.notes_loss,
                "test_accuracy": Stat.of(acc) if acc else None,
                "status": ", ".join(sorted({s.get("status", "?") for s in sums})),
            }
        )
    return rows


def regime_diagnostics(
    losses: Mapping[str, Sequence[np.ndarray]], *, batch_size: int, n_train: int, window: int
) -> list[regime.Diagnostics]:
    """The regime rule's diagnostics of every seed of the constant-LR run (none if missing)."""
    return [
        regime.diagnose(x, batch_size=batch_size, n_train=n_train, window=window)
        for x in losses.get("Constant LR", [])
    ]


def regime_section(diagnostics: Sequence[regime.Diagnostics]) -> list[str]:
    """REPORT.md's "Regime" section: each diagnostic beside the notes' value and its band."""
    lines = [
        "## Regime",
        "",
        "Is this run in the regime of the notes' chapter? Computed from the constant-LR run and "
        "the data alone, before and independently of the claims (`jaxsched.chapter.regime`).",
        "",
    ]
    if not diagnostics:
        return [*lines, "Not evaluated: the constant-LR run is missing.", ""]
    lines += [
        "| diagnostic | this run | the notes | band | in band |",
        "|---|---|---|---|---|",
    ]
    verdict = True
    for band in regime.BANDS:
        values = [getattr(d, band.name) for d in diagnostics]
        ok = all(band.holds(x) for x in values)
        verdict &= ok
        lines.append(
            f"| {band.what} | {Stat.of(values)} | {band.notes_text} | "
            f"{band.low:g} - {band.high:g} | {'yes' if ok else '**no**'} |"
        )
    falls = [d.late_fall for d in diagnostics]
    lines.append(
        "| constant-LR run's relative fall over the last quarter, 1 - L(T) / L(3T/4) of the "
        f"smoothed loss | {Stat.of(falls)} | not given (\"still improving\") | none | "
        "not banded |"
    )
    lines += [
        "",
        (
            "**In the notes' regime** (every banded diagnostic of every seed inside its band)."
            if verdict
            else "**Not in the notes' regime**: read the claims below as a different experiment."
        ),
        "",
        "The bands are necessary, not sufficient. The last row tells a run still limited by "
        "progress from one limited by noise: here the constant run falls "
        f"{100 * float(np.mean(falls)):.0f}% over its last quarter. A large fall means that "
        "cutting the learning rate also slows learning, so a decay can end above constant. "
        "The notes give no number for theirs, so this row has no band.",
        "",
    ]
    return lines


def render(
    *,
    preset: alchemist.Preset,
    data_name: str,
    seeds: int,
    rows: Sequence[dict],
    claims: Sequence[ClaimResult],
    figures: Sequence[str],
    window: int,
    wall_seconds: float | None = None,
    regime_diagnostics: Sequence[regime.Diagnostics] | None = None,
) -> str:
    synthetic = data_name != "cifar10"
    model = preset.workload.model
    lines = [
        f"# Reproduction of the notes' learning-rate scheduling chapter ({preset.name} preset)",
        "",
        f"- **Data: {data_name}**"
        + (
            " — a deterministic CIFAR-shaped synthetic stand-in, NOT CIFAR-10: losses are not "
            "comparable to the notes' numbers, only the orderings are."
            if synthetic
            else " (the canonical CIFAR-10 python tarball, md5-checked)."
        ),
        *(
            [
                f"- Synthetic set: {preset.workload.synthetic_train} training images; difficulty "
                + ", ".join(f"{k}={v}" for k, v in preset.workload.difficulty._asdict().items())
                + " (`jaxsched.train.data.Difficulty`)."
            ]
            if synthetic
            else []
        ),
        f"- Horizon: {preset.steps} steps (the notes: {alchemist.NOTES_STEPS}); smoothing window "
        f"{window} steps (the notes: {alchemist.NOTES_WINDOW}); EMA decays rescaled to keep the "
        "notes' averaging window as a fraction of the horizon.",
        f"- Model: TinyViT width {model.features}, {model.num_blocks} blocks, "
        f"{model.num_heads} heads, patch {model.patch_size}, readout "
        f"{model.readout}; batch {preset.workload.batch_size}; Adam lr {preset.lr:g}.",
        f"- Seeds: {seeds}" + (" (mean ± standard deviation across seeds)" if seeds > 1 else ""),
    ]
    if wall_seconds is not None:
        lines.append(f"- Wall time of this invocation: {wall_seconds:.0f} s")
    lines.append("")
    if regime_diagnostics is not None:
        lines += regime_section(regime_diagnostics)
    lines += [
        "## Final smoothed train loss",
        "",
        "The notes' column is read off their 100k-step CIFAR-10 plots (about ±0.02).",
        "",
        "| run | optimizer | steps | final smoothed loss | notes (100k, CIFAR-10) "
        "| test accuracy | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        notes = "" if r["notes"] is None else f"{r['notes']:.2f}"
        acc = "" if r["test_accuracy"] is None else str(r["test_accuracy"])
        lines.append(
            f"| {r['label']} | {r['optimizer']} | {r['steps']} | {r['final']} | {notes} | "
            f"{acc} | {r['status']} |"
        )
    lines += ["", "## The notes' claims in this run", ""]
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
