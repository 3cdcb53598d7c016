"""Eight simulated CPU devices: run-parallel and data-parallel training match one device."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxsched.train import sharding

SCRIPT = Path(__file__).parent / "scripts" / "eight_devices.py"


def test_eight_devices_match_one_device():
    env = dict(os.environ)  # the script adds the device count to the session's XLA_FLAGS
    r = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, env=env,
                       timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert "3 run(s) on 8 devices (runs axis)" in out["runs"]["log"]
    assert "1 run(s) on 8 devices (data axis)" in out["data"]["log"]
    assert out["runs"]["steps"] == [12, 12, 8]
    for mode in ("runs", "data"):
        assert out[mode]["max_loss_diff"] < 1e-4, (mode, out[mode])
        assert out[mode]["max_eval_diff"] < 1e-4, (mode, out[mode])


def test_padding_repeats_the_last_run():
    tree = {"a": np.arange(3.0), "b": np.ones((3, 2))}
    padded = sharding.pad_runs(tree, 8)
    assert padded["a"].shape == (8,) and float(padded["a"][-1]) == 2.0
    assert padded["b"].shape == (8, 2)
    assert sharding.padded_size(3, None) == 3


def test_one_device_has_no_mesh():
    if len(jax.devices()) == 1:
        assert sharding.local_mesh("runs") is None
    else:  # pragma: no cover - only on multi-device machines
        pytest.skip("several devices present")
