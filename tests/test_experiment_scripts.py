"""The calibration scripts of experiments/: bad input is one line, and the probe table is current.

The scripts train for minutes and are not run here; what is checked is what a user meets first
(their argument errors) and that the committed table is the one the committed probes give.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / "experiments"


@pytest.mark.parametrize("args, message", [
    (["--lrs", "-1"], "argument --lrs: must be a positive finite number, got -1"),
    (["--lrs", "1e-3", "--steps", "0"], "argument --steps: must be a positive integer, got 0"),
    (["--lrs", "1e-3", "--zipf", "-2"], "zipf must be a finite number >= 0, got zipf=-2.0"),
])
def test_calibrate_standin_rejects_bad_input_in_one_line(args, message):
    done = subprocess.run([sys.executable, str(EXPERIMENTS / "calibrate_standin.py"), *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_the_committed_probe_table_is_the_one_the_committed_probes_give():
    spec = importlib.util.spec_from_file_location(
        "calibration_summary", EXPERIMENTS / "calibration_summary.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.render()
    assert text == (EXPERIMENTS / "calibration" / "README.md").read_text()
    # a probe at another width, or with another distractor, than its size's defaults of today
    # gives them in its command (the first round's half-width model; the quick stand-in's
    # distractor is 1.15), and one at the defaults does not
    assert "--size quick --width 64 --batch 64 --steps 1000 " in text
    assert "--templates 256 --distractor 1 --lrs" in text
    bo = text[text.index("## BO:"):text.index("## BP:")]
    assert "--width" not in bo and "--distractor" not in bo
