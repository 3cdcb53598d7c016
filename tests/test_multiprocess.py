"""Two JAX processes on this machine (CPU, gloo collectives) run the smoke reproduction and a
smoke comparison into one shared --out; the losses, evaluations and REPORT equal a single
process's (to float32 rounding: the group's runs are split over the two processes' devices)."""

from __future__ import annotations

import csv
import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
JOB = REPO / "tests" / "scripts" / "job.py"

COMMANDS = {
    "reproduce": ["jaxsched", "reproduce", "--preset", "smoke", "--data", "synthetic",
                  "--no-progress"],  # the README's command, less the flags job.py adds
    "compare": ["jaxsched", "compare", "--task", "regression", "--preset", "smoke",
                "--no-bench", "--no-progress"],
}


def test_the_readme_shows_the_command_run_here():
    text = (REPO / "README.md").read_text().replace("\\\n", " ")
    line = next(l for l in text.splitlines() if "--num-processes 2" in l)
    argv = shlex.split(line)
    for flag in ("--out", "--coordinator", "--num-processes", "--process-id"):
        i = argv.index(flag)
        del argv[i:i + 2]
    assert argv == COMMANDS["reproduce"]


def _run(argv, env=None):
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]


def _report(path: Path) -> list[str]:
    """The REPORT without what differs between any two runs: wall times, throughput, the
    seconds to target and the cost table (measured rates); the steps to target stay."""
    lines, section = [], ""
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            section = line
        if "wall time" in line.lower() or "run-steps/s" in line or (
                section == "## Cost" and line.startswith("|")):
            continue
        if section == "## Time to target" and line.startswith("| "):
            cells = line.split("|")
            line = "|".join(cells[:4] + cells[5:])  # drop the seconds column
        lines.append(line)
    return lines


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_two_processes_equal_one(tmp_path, name):
    cmd = COMMANDS[name]
    _run([sys.executable, str(JOB), "2", *cmd, "--out", str(tmp_path / "two")])
    _run([sys.executable, "-m", "jaxsched.cli", *cmd[1:], "--out", str(tmp_path / "one")])
    two, one = tmp_path / "two", tmp_path / "one"
    assert _report(two / "REPORT.md") == _report(one / "REPORT.md")
    runs = sorted(p.name for p in (one / "runs").iterdir())
    assert sorted(p.name for p in (two / "runs").iterdir()) == runs
    for r in runs:
        a, b = two / "runs" / r, one / "runs" / r
        # the run axis is split over the two processes' devices, so XLA may order float32
        # reductions differently; over 200 Adam steps that rounding grows to a few 1e-4
        np.testing.assert_allclose(np.load(a / "losses.npy"), np.load(b / "losses.npy"),
                                   rtol=2e-3, atol=1e-6)
        ea, eb = (json.loads((d / "eval.json").read_text()) for d in (a, b))
        assert [e["step"] for e in ea] == [e["step"] for e in eb]
        for x, y in zip(ea, eb, strict=True):
            np.testing.assert_allclose([x[k] for k in sorted(x)], [y[k] for k in sorted(y)],
                                       rtol=1e-4, atol=1e-6)
    if name == "compare":
        rows = [list(csv.DictReader(open(d / "results.csv"))) for d in (two, one)]
        assert [(r["candidate"], r["lr"], r["horizon"], r["step"]) for r in rows[0]] == [
            (r["candidate"], r["lr"], r["horizon"], r["step"]) for r in rows[1]]
