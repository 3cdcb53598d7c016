"""Smoke test of experiments/bench_optim.py on a tiny pytree (slow: it compiles ~25 steps)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "bench_optim.py"


@pytest.mark.slow
def test_bench_optim_runs_and_reports_targets(capsys):
    spec = importlib.util.spec_from_file_location("bench_optim", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--params", "3e5", "--repeats", "2", "--json"])
    assert result["n_params"] > 1e5
    rows = {r["optimizer"]: r for r in result["rows"]}
    assert set(module.TARGETS) <= set(rows)
    assert set(result["targets"]) == set(module.TARGETS)
    for name, t in result["targets"].items():
        assert t["ratio"] == rows[name]["ratio"]
    for r in rows.values():
        assert r["baseline"] in result["baselines_median_ms"]
        assert r["median_ms"] > 0 and np.isfinite(r["ratio"])
    # our Adam against optax's does the same work: a ratio far from 1 means a broken timer
    # (e.g. one side not blocking on its result), not a slow optimizer
    assert 0.2 < rows["adam"]["ratio"] < 5.0, rows["adam"]
    # state sizes beside the times, for every optimizer and its baseline
    assert rows["adam"]["state_ratio"] == 2.0 == rows["adam"]["baseline_state_ratio"]
    assert rows["schedule_free_adamw"]["state_ratio"] == 2.0
    assert rows["schedule_free_adamw(store_x=True)"]["state_ratio"] == 3.0
    assert rows["schedule_free_sgd"]["state_ratio"] == 1.0
    assert rows["ema_average(adam)"]["state_ratio"] == 3.0
    for r in rows.values():
        assert r["baseline_state_ratio"] == result["baselines_state_ratio"][r["baseline"]]
        assert 0 < r["state_scalar_bytes"] <= 64, r
    assert result["state_targets"]["schedule_free_adamw"]["met"]
    assert '"rows"' in capsys.readouterr().out
