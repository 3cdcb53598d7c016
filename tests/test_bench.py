"""The benchmark functions on a toy configuration: keys and sane values (no timing claims)."""

from __future__ import annotations

import math

import pytest

from jaxsched.train import throughput
from jaxsched.workloads import bench

KEYS = (
    "steps_per_s", "naive_steps_per_s", "speedup", "gflop_per_step", "naive_gflop_per_step",
    "gflops_per_s", "matmul_peak_gflops", "pct_of_matmul_peak", "notes_flop_gflops_per_s",
    "pct_of_matmul_peak_notes_flop",
)


def test_run_bench_tiny_reports_every_figure():
    out = bench.run_bench(tiny=True, steps=4, naive_steps=2, rounds=1)
    for key in KEYS:
        assert math.isfinite(out[key]) and out[key] > 0, (key, out[key])
    # the naive step runs the notes' full-sequence last block; ours prunes it
    assert out["gflop_per_step"] < out["naive_gflop_per_step"]
    assert isinstance(out["device"], str) and out["model"] == "tiny"


def test_sweep_bench_tiny():
    out = bench.sweep_bench((2,), tiny=True, steps=3, rounds=1)
    assert out["sweep_k"] == 2
    assert set(out["sweep_run_steps_per_s"]) == {"1", "2"}
    assert all(v > 0 for v in out["sweep_run_steps_per_s"].values())


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: bench.run_bench(tiny=True, steps=0), "steps"),
        (lambda: bench.run_bench(tiny=True, rounds=0), "rounds"),
        (lambda: bench.sweep_bench((), tiny=True), "ks"),
        (lambda: bench.sweep_bench((0, 2), tiny=True), "ks"),
        (lambda: throughput.matmul_peak_gflops(0), "n"),
    ],
)
def test_bad_arguments(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_rate_at_interpolates_between_measured_k_and_holds_beyond():
    rates = {"1": 10.0, "4": 40.0, "8": 48.0}
    assert throughput.rate_at(1, rates) == 10.0
    assert throughput.rate_at(2, rates) == pytest.approx(20.0)
    assert throughput.rate_at(6, rates) == pytest.approx(44.0)
    assert throughput.rate_at(16, rates) == 48.0
    assert throughput.rate_at(3, {2: 5.0}) == 5.0


def test_projected_seconds_follows_the_runners_phases():
    rates = {1: 10.0, 2: 40.0}
    # two runs together for 50 steps (2 * 50 / 40 s), then the longer alone (50 / 10 s)
    assert throughput.projected_seconds([[100, 50]], rates) == pytest.approx(2.5 + 5.0)
    assert throughput.projected_seconds([[100, 50]], rates, grouped=False) == pytest.approx(15.0)
    two_groups = throughput.projected_seconds([[100], [100, 100]], rates)
    assert two_groups == pytest.approx(10.0 + 5.0)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: throughput.rate_at(0, {1: 1.0}), "k"),
        (lambda: throughput.rate_at(1, {}), "rates"),
        (lambda: throughput.rate_at(1, {1: 0.0}), "rates"),
        (lambda: throughput.projected_seconds([[0]], {1: 1.0}), "groups"),
    ],
)
def test_projection_rejects_bad_input(call, name):
    with pytest.raises(ValueError, match=name):
        call()
