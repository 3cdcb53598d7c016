"""Smoke test of experiments/bench_optim.py on a tiny pytree (slow: it compiles 11 steps)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "bench_optim.py"


@pytest.mark.slow
def test_bench_optim_runs_and_reports_targets(capsys):
    spec = importlib.util.spec_from_file_location("bench_optim", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--params", "3e5", "--repeats", "2", "--json"])
    assert result["n_params"] > 1e5
    names = {r["optimizer"] for r in result["rows"]}
    assert {"schedule_free_adamw", "ema_average(adam)"} <= names
    assert all(r["ratio"] > 0 for r in result["rows"])
    assert set(result["targets"]) == {"schedule_free_adamw", "ema_average(adam)"}
    assert '"rows"' in capsys.readouterr().out
