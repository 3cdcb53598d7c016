"""`jaxsched compare`: the regression smoke preset end to end, resume, and one-line errors."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jaxsched import cli
from jaxsched.compare import presets as presets_lib
from jaxsched.compare import workflow

REPO = Path(__file__).resolve().parents[1]


def test_presets_are_well_formed():
    for task, presets in presets_lib.PRESETS.items():
        assert set(presets) == {"smoke", "quick", "cpu", "full"}, task
        for p in presets.values():
            assert sorted(p.horizons) == list(p.horizons) and all(h >= 2 for h in p.horizons)
            assert p.eval_every is None or all(h % p.eval_every == 0 for h in p.horizons)


def test_regression_smoke_end_to_end_and_resume(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", "--task", "regression", "--preset", "smoke", "--candidates", "cosine",
            "wsd", "sf_adamw", "--lrs", "0.01", "0.03", "--horizons", "50", "100",
            "--out", str(out), "--no-progress"]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert "sf_adamw at or below the tuned cosine envelope at every horizon:" in captured.out
    assert "run-steps/s" in captured.err and "one at a time" in captured.err
    # the measurement comes first, and picks how the grid trains
    choice = re.search(r"training the grid (grouped|one run at a time): (.*)", captured.err)
    speedup = re.search(r"one at a time [\d.]+ run-steps/s: ([\d.]+)x", captured.err).group(1)
    assert captured.err.index(speedup + "x") < choice.start()
    if speedup != "1.00":
        assert (choice.group(1) == "grouped") == (float(speedup) > 1.0), captured.err
    assert "ran faster on the small grid" in choice.group(2)
    assert "cooldown branching: 2 cooldowns branched" in captured.err
    report = (out / "REPORT.md").read_text()
    assert "teacher-student" in report and "Grouped vs one at a time" in report
    assert f"{'grouped' if choice.group(1) == 'grouped' else 'one run at a time'}: " \
        f"{choice.group(2)})." in report
    assert "trained 220 run-steps instead of 300" in report
    for name in ("pareto.png", "lr_sensitivity.png"):
        assert (out / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    finals = {(r["candidate"], r["lr"], r["horizon"]) for r in rows if r["step"] == r["horizon"]}
    assert len(finals) == 3 * 2 * 2
    # Rerun: every run is finished, nothing trains.
    assert cli.main([*argv, "--no-bench"]) == 0
    assert "run-steps/s" not in capsys.readouterr().err


def test_grouping_is_picked_by_measurement_then_by_device():
    assert workflow.pick_grouping(True, {"speedup": 0.5}) == (True, "as asked")
    assert workflow.pick_grouping(False, {"speedup": 2.0}) == (False, "as asked")
    assert workflow.pick_grouping(None, {"speedup": 1.2})[0] is True
    assert workflow.pick_grouping(None, {"speedup": 0.94})[0] is False
    assert workflow.pick_grouping(None, None, platform="cpu")[0] is False
    assert workflow.pick_grouping(None, None, platform="tpu")[0] is True
    with pytest.raises(ValueError, match="group"):
        workflow.run_preset("regression", "smoke", "unused", group="yes")


@pytest.mark.parametrize(
    "extra, flag",
    [
        (["--candidates", "cosinus"], "--candidates"),
        (["--lrs", "-1"], "--lrs"),
        (["--lrs", "0.1", "0.1"], "--lrs"),
        (["--horizons", "0"], "--horizons"),
        (["--horizons", "1"], "--horizons"),
        (["--warmup", "1.5"], "--warmup"),
        (["--weight-decay", "-1"], "--weight-decay"),
        (["--seeds", "0"], "--seeds"),
        (["--preset", "huge"], "--preset"),
        (["--task", "mnist"], "--task"),
        (["--target", "-1"], "--target"),
        (["--target", "low"], "--target"),
        (["--target", "nan"], "--target"),
        (["--group", "--no-group"], "--no-group"),
    ],
)
def test_bad_input_is_one_line_naming_the_flag(extra, flag, tmp_path, capsys):
    argv = ["compare", "--task", "regression", "--out", str(tmp_path / "o"), *extra]
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0]
    assert not (tmp_path / "o").exists()  # rejected before anything is written


def test_charlm_smoke_writes_time_to_target_cost_and_its_corpus(tmp_path, capsys):
    out = tmp_path / "lm"
    picked = ["cosine", "constant", "sf_adamw"]  # a baseline, the cost unit, an anytime one
    assert cli.main(["compare", "--task", "charlm", "--preset", "smoke", "--out", str(out),
                     "--candidates", *picked, "--no-bench", "--no-progress"]) == 0
    # 40 steps of a byte model: far from any noise floor, decay loses to constant
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("progress-limited: no schedule beats constant here, so the "
                                 "verdicts below do not rank cooldowns: ")
    verdict_lines = [ln for ln in printed if " envelope at every horizon: " in ln]
    assert len(verdict_lines) == 2 and all(ln.endswith(" (progress-limited)")
                                           for ln in verdict_lines)
    with open(out / "time_to_target.csv") as f:
        ttt = list(csv.DictReader(f))
    assert list(ttt[0]) == ["candidate", "seed", "target", "steps_to_target",
                            "seconds_to_target"]
    assert {r["candidate"] for r in ttt} == set(picked)
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    cosine_400 = [float(r["loss"]) for r in rows if r["candidate"] == "cosine"
                  and r["step"] == r["horizon"] == "40"]
    assert float(ttt[0]["target"]) == pytest.approx(min(cosine_400))  # one seed: its best lr
    with open(out / "cost.csv") as f:
        cost = {r["candidate"]: r for r in csv.DictReader(f)}
    assert float(cost["constant"]["ratio"]) == pytest.approx(1.0)
    corpus = json.loads((out / "corpus.json").read_text())
    assert corpus["files"] and len(corpus["sha256"]) == 64
    report = (out / "REPORT.md").read_text()
    assert report.splitlines()[2].startswith("**progress-limited: no schedule beats constant")
    assert json.loads((out / "regime.json").read_text())["progress_limited"] is True
    assert "## Time to target" in report and "## Cost" in report and "bits per byte" in report
    assert corpus["sha256"] in report
    assert (out / "figures" / "time_to_target.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_library_error_is_one_line_without_traceback(tmp_path):
    # warmup 0.95 leaves no room for WSD's cooldown: compare.run's ValueError, as one line
    argv = ["compare", "--task", "regression", "--candidates", "wsd", "--horizons", "10",
            "--warmup", "0.95", "--out", str(tmp_path / "o")]
    done = subprocess.run([sys.executable, "-m", "jaxsched.cli", *argv], cwd=REPO,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "warmup" in lines[0] and "Traceback" not in done.stderr


KILL_GRID = ["compare", "--task", "regression", "--preset", "smoke", "--candidates", "cosine",
             "wsd", "sf_adamw", "adam_ema", "--lrs", "0.01", "0.03", "--horizons", "50", "100",
             "--no-bench", "--no-progress"]


@pytest.mark.slow
def test_a_killed_comparison_resumes_to_the_same_bytes(tmp_path):
    """SIGKILL mid-grid (after some runs finished, before the rest), rerun: results.csv and
    every run's losses are byte-identical to an uninterrupted grid."""
    import os
    import signal
    import time

    cmd = [sys.executable, "-m", "jaxsched.cli", *KILL_GRID]
    ref = subprocess.run([*cmd, "--out", str(tmp_path / "ref")], cwd=REPO, capture_output=True,
                         text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr[-2000:]
    out = tmp_path / "cut"
    proc = subprocess.Popen([*cmd, "--out", str(out)], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline, killed = time.time() + 300, False
    while time.time() < deadline and proc.poll() is None:
        done = [p for p in out.glob("runs/*/summary.json") if '"finished"' in p.read_text()]
        if done:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert killed, "the grid finished before it could be killed"
    assert not (out / "results.csv").exists()
    again = subprocess.run([*cmd, "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert (out / "results.csv").read_bytes() == (tmp_path / "ref" / "results.csv").read_bytes()
    ref_runs = sorted(p.name for p in (tmp_path / "ref" / "runs").iterdir())
    assert sorted(p.name for p in (out / "runs").iterdir()) == ref_runs
    for name in ref_runs:
        a, b = tmp_path / "ref" / "runs" / name, out / "runs" / name
        assert (a / "losses.npy").read_bytes() == (b / "losses.npy").read_bytes(), name
        assert (a / "eval.json").read_bytes() == (b / "eval.json").read_bytes(), name
