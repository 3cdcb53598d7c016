"""The committed results under results/ are what their commands wrote, and agree with themselves.

The README's *Results* table names each directory and the command that wrote it. For each, the
REPORT states that command's preset and seeds; every row of the reproduction's ``finals.csv``
is the REPORT's row for that run; the comparison's tuned table is recomputed here from its
``results.csv``; every figure a REPORT shows is a PNG beside it. The docs include these REPORTs
verbatim (docs/results/), so nothing in the documentation states a result by hand.
"""

from __future__ import annotations

import csv
import json
import re
import shlex
from pathlib import Path

import pytest

from jaxsched import workloads
from jaxsched.chapter import alchemist, regime, sweep
from jaxsched.compare import candidates as candidates_lib
from jaxsched.compare import presets as compare_presets
from jaxsched.compare.experiment import Results
from jaxsched.stats import Stat

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
PNG = b"\x89PNG\r\n\x1a\n"


def _commands() -> dict[str, list[str]]:
    """results dir -> argv of the command that wrote it (the README's Results table)."""
    section = README[README.index("## Results"):]
    section = section[: section.index("\n## ", 3)]
    found = {}
    for link, command in re.findall(r"^\| \[(results/[\w-]+)/REPORT\.md\]\(\1/REPORT\.md\) "
                                     r"\| `(jaxsched [^`]+)` \|$", section, re.M):
        argv = shlex.split(command)
        assert argv[argv.index("--out") + 1] == link, command
        found[link] = argv
    return found


COMMANDS = _commands()


def _flag(argv: list[str], name: str, default: str | None = None) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else default


def test_the_readme_lists_every_committed_result():
    assert len(COMMANDS) >= 4
    on_disk = {f"results/{p.parent.name}" for p in (REPO / "results").glob("*/REPORT.md")}
    assert on_disk == set(COMMANDS)


@pytest.mark.parametrize("where", sorted(COMMANDS))
def test_every_figure_a_report_shows_is_beside_it(where):
    report = (REPO / where / "REPORT.md").read_text()
    shown = re.findall(r"!\[[^\]]*\]\((figures/[\w.-]+\.png)\)", report)
    assert shown
    for f in shown:
        assert (REPO / where / f).read_bytes()[:8] == PNG, f


REPRODUCTIONS = sorted(w for w, a in COMMANDS.items()
                       if a[1] == "reproduce" and "--sweep-lr" not in a)
SWEEPS = sorted(w for w, a in COMMANDS.items() if a[1] == "reproduce" and "--sweep-lr" in a)
COMPARISONS = sorted(w for w, a in COMMANDS.items() if a[1] == "compare")


def _task(argv: list[str]) -> str:
    return _flag(argv, "--task", alchemist.NOTES_TASK)


@pytest.mark.parametrize("where", REPRODUCTIONS)
def test_a_reproduction_report_is_its_finals(where):
    argv = COMMANDS[where]
    preset, seeds = _flag(argv, "--preset"), int(_flag(argv, "--seeds", "1"))
    report = (REPO / where / "REPORT.md").read_text()
    assert report.startswith(f"# Reproduction of the notes' learning-rate scheduling chapter "
                             f"({preset} preset)")
    assert f"- Seeds: {seeds}" in report
    p = alchemist.preset(_task(argv), preset)
    assert f"- Horizon: {p.steps} steps" in report
    line = next(x for x in report.splitlines() if x.startswith("- Adam lr "))
    assert line.startswith(f"- Adam lr {p.lr:g} ") and p.lr_source in line, line
    with open(REPO / where / "finals.csv") as f:
        finals = list(csv.DictReader(f))
    assert [r["label"] for r in finals] == list(alchemist.RUNS)
    for r in finals:
        assert int(r["seeds"]) == seeds
        final = Stat(float(r["final_mean"]), float(r["final_std"]), seeds)
        row = next(line for line in report.splitlines() if line.startswith(f"| {r['label']} |"))
        assert f"| {r['steps']} | {final} |" in row, (row, final)
    assert "## Regime" in report and "## The notes' claims in this run" in report
    # every claim has a verdict
    claims = report[report.index("## The notes' claims in this run"):].split("\n## ")[0]
    verdicts = re.findall(r"^- \*\*(held|not held|not evaluated)\*\* — ", claims, re.M)
    assert len(verdicts) == len(alchemist.CLAIMS) and "not evaluated" not in verdicts


@pytest.mark.parametrize("where", SWEEPS)
def test_a_sweep_report_is_its_csv_and_chooses_the_constant_runs_best(where):
    argv = COMMANDS[where]
    seeds = int(_flag(argv, "--seeds", "1"))
    result = json.loads((REPO / where / sweep.SWEEP_JSON).read_text())
    assert (result["task"], result["preset"]) == (_task(argv), _flag(argv, "--preset"))
    with open(REPO / where / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    finals: dict[str, dict[float, list[float]]] = {}
    for r in rows:
        finals.setdefault(r["schedule"], {}).setdefault(float(r["lr"]), []).append(
            float(r["final"]))
    assert set(finals) == set(sweep.SCHEDULES)
    assert all(len(v) == seeds for by_lr in finals.values() for v in by_lr.values())
    chosen = sweep.best_lr(finals[sweep.SCHEDULES[0]])
    assert result["chosen_lr"] == pytest.approx(chosen)
    linear = sweep.best_lr(finals[sweep.SCHEDULES[1]])
    assert result["linear_decay_best_lr"] == pytest.approx(linear)
    grid = sorted(finals[sweep.SCHEDULES[0]])
    assert grid[0] < chosen < grid[-1], "the chosen lr lies inside the grid"
    report = (REPO / where / "REPORT.md").read_text()
    assert f"**Chosen learning rate: {chosen:g}**" in report
    nus = result["noise_share"]
    const, dropped = finals[sweep.SCHEDULES[0]], finals[sweep.SCHEDULES[2]]
    assert {float(k) for k in nus} == set(grid)
    for lr in grid:
        expected = [regime.noise_share(c, d) for c, d in zip(const[lr], dropped[lr], strict=True)]
        assert nus[f"{lr:g}"] == pytest.approx(expected, abs=1e-5)
    others = sweep.unresolved(finals[sweep.SCHEDULES[0]], chosen)
    assert result["unresolved_from_chosen"] == pytest.approx(others)
    if others:
        assert "**Not resolved by the seeds**: at " + ", ".join(f"{x:g}" for x in others) in report
    else:
        assert "run's best is resolved" in report
    assert (REPO / where / "figures" / "lr_sweep.png").read_bytes()[:8] == PNG


def test_every_reproduced_preset_takes_its_lr_from_its_committed_sweep():
    """The presets' learning rates are the sweeps', and each names the sweep it came from."""
    swept = {(_task(COMMANDS[w]), _flag(COMMANDS[w], "--preset")): w for w in SWEEPS}
    for where in REPRODUCTIONS:
        key = (_task(COMMANDS[where]), _flag(COMMANDS[where], "--preset"))
        assert key in swept, f"{where}: no committed sweep for {key}"
        size = workloads.get(key[0]).size(key[1])
        assert size.lr_source == swept[key], (where, size.lr_source)
        assert size.lr == sweep.read_chosen_lr(REPO / swept[key]), where


def _results(where: str) -> tuple[Results, compare_presets.Preset]:
    argv = COMMANDS[where]
    preset = compare_presets.PRESETS[_flag(argv, "--task")][_flag(argv, "--preset")]
    with open(REPO / where / "results.csv") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k, val in r.items():
            r[k] = (int(val) if k in ("horizon", "seed", "step") else
                    val if k == "candidate" else float(val))
    names = list(dict.fromkeys(r["candidate"] for r in rows))
    return Results(rows=rows, candidates=candidates_lib.resolve(names),
                   lrs=tuple(sorted({r["lr"] for r in rows})),
                   horizons=tuple(sorted({r["horizon"] for r in rows})),
                   seeds=int(_flag(argv, "--seeds", "1"))), preset


@pytest.mark.parametrize("where", COMPARISONS)
def test_a_comparison_report_is_its_results(where):
    res, preset = _results(where)
    assert set(res.lrs) == set(preset.lrs) and set(res.horizons) == set(preset.horizons)
    assert {c.name for c in res.candidates} == set(candidates_lib.BUILTIN)
    assert {r["seed"] for r in res.rows} == set(range(res.seeds))
    report = (REPO / where / "REPORT.md").read_text()
    table = report[report.index("## Tuned"):]
    for e in res.envelope():
        row = next(line for line in table.splitlines()
                   if line.startswith(f"| {e['candidate']} ("))
        assert f"{Stat(e['mean'], e['std'], e['n'])} (lr {e['lr']:g}" in row, (row, e)
    for name in ("time_to_target.csv", "cost.csv"):
        assert (REPO / where / name).read_text().count("\n") >= 2


@pytest.mark.parametrize("where", COMPARISONS)
def test_a_comparison_report_opens_with_its_regime_check(where):
    """The first line after the title is the regime check of its results.csv, and every
    verdict carries its mark."""
    res, _ = _results(where)
    report = (REPO / where / "REPORT.md").read_text()
    lines = report.splitlines()
    assert lines[1] == "" and lines[3] == "" and lines[4] == "## Regime check"
    regime = res.regime()
    assert regime.status != "not checked"
    assert lines[2] == f"**{regime.headline()}.**", (lines[2], regime.headline())
    verdicts = re.findall(r"^- \*\*(?:held|not held|not evaluated)\*\*(.*?) — ", report, re.M)
    assert verdicts and all(v == (f" ({regime.mark()})" if regime.mark() else "")
                            for v in verdicts)


def _readme_table(heading: str) -> list[list[str]]:
    """The rows of the README table that follows ``heading`` (its cells, stripped)."""
    text = README[README.index(heading):]
    lines = []
    for line in text.splitlines()[1:]:
        if line.startswith("|"):
            lines.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif lines:
            break
    return lines


def _verdict(report: str, statement_start: str) -> str:
    """The verdict word of the line holding ``statement_start``, with the regime's mark in
    parentheses when it carries one (``held (progress-limited)``)."""
    line = next(l for l in report.splitlines() if re.match(r"- \*\*(held|not held)", l)
                and statement_start in l)
    m = re.match(r"- \*\*(held|not held|not evaluated)\*\*( \([\w -]+\))? — ", line)
    return m.group(1) + (m.group(2) or "")


def test_the_readme_claims_table_is_the_reports_verdicts():
    header, _, *rows = _readme_table("What the reproductions found")
    wheres = [re.search(r"`(results/[\w-]+)`", h).group(1) for h in header[1:]]
    assert set(wheres) == set(REPRODUCTIONS)
    regime_row, *rows = rows
    for where, cell in zip(wheres, regime_row[1:], strict=True):
        report = (REPO / where / "REPORT.md").read_text()
        # the notes' workload is held to every band; any other to the noise share alone
        inside = ("**In the notes' regime**" in report
                  or "**Noise-limited as in the notes**" in report)
        outside = ("**Not in the notes' regime**" in report
                   or "**Not noise-limited as in the notes**" in report)
        assert inside != outside, where
        assert cell == ("**yes**" if inside else "**no**"), where
    by_name = {c.name: c for c in alchemist.CLAIMS}
    assert [re.match(r"`(\w+)`", r[0]).group(1) for r in rows] == list(by_name)
    for r in rows:
        claim = by_name[re.match(r"`(\w+)`", r[0]).group(1)]
        for where, cell in zip(wheres, r[1:], strict=True):
            report = (REPO / where / "REPORT.md").read_text()
            assert cell.strip("*") == _verdict(report, f"— {claim.statement}"), (where, claim)


def test_the_readme_comparison_table_is_the_reports_verdicts():
    header, _, regime_row, *rows = _readme_table("What the comparisons found")
    wheres = [re.search(r"`(results/[\w-]+)`", h).group(1) for h in header[1:]]
    assert set(wheres) == set(COMPARISONS)
    # the first row is each grid's regime check, recomputed from its results.csv
    assert "regime check" in regime_row[0]
    for where, cell in zip(wheres, regime_row[1:], strict=True):
        assert cell.replace("*", "") == _results(where)[0].regime().status, where
    assert rows
    for r in rows:
        anytime, scheduled = re.match(r"`(\w+)` below tuned `(\w+)`", r[0]).groups()
        for where, cell in zip(wheres, r[1:], strict=True):
            report = (REPO / where / "REPORT.md").read_text()
            assert cell.replace("*", "") == _verdict(
                report, f"— {anytime} is at or below the tuned {scheduled} envelope"), (where, r)
