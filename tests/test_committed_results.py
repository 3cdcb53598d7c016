"""The committed results under results/ are what their commands wrote, and agree with themselves.

The README's *Results* table names each directory and the command that wrote it. For each, the
REPORT states that command's preset and seeds; every row of the reproduction's ``finals.csv``
is the REPORT's row for that run; the comparison's tuned table is recomputed here from its
``results.csv``; every figure a REPORT shows is a PNG beside it. The docs include these REPORTs
verbatim (docs/results/), so nothing in the documentation states a result by hand.
"""

from __future__ import annotations

import csv
import re
import shlex
from pathlib import Path

import pytest

from jaxsched.chapter import alchemist
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


REPRODUCTIONS = sorted(w for w, a in COMMANDS.items() if a[1] == "reproduce")
COMPARISONS = sorted(w for w, a in COMMANDS.items() if a[1] == "compare")


@pytest.mark.parametrize("where", REPRODUCTIONS)
def test_a_reproduction_report_is_its_finals(where):
    argv = COMMANDS[where]
    preset, seeds = _flag(argv, "--preset"), int(_flag(argv, "--seeds", "1"))
    report = (REPO / where / "REPORT.md").read_text()
    assert report.startswith(f"# Reproduction of the notes' learning-rate scheduling chapter "
                             f"({preset} preset)")
    assert f"- Seeds: {seeds}" in report
    assert f"- Horizon: {alchemist.PRESETS[preset].steps} steps" in report
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
    claims = [line for line in report.splitlines() if line.startswith("- **")]
    assert len(claims) == len(alchemist.CLAIMS)
    assert all(re.match(r"- \*\*(held|not held)\*\* — ", c) for c in claims), claims


def _results(where: str) -> Results:
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
