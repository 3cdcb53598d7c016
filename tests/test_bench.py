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


def test_task_bench_measures_both_loops_for_each_optimizer():
    out = bench.task_bench("regression", "quick", steps=3, runs=2, rounds=1)
    for name in ("adamw", "sf_adamw"):
        for key in (f"{name}_grouped_run_steps_per_s", f"{name}_alone_run_steps_per_s",
                    f"{name}_plain_steps_per_s"):
            assert math.isfinite(out[key]) and out[key] > 0, key
    # only schedule-free has averaged parameters to log at
    assert "sf_adamw_logged_alone_run_steps_per_s" in out
    assert "adamw_logged_alone_run_steps_per_s" not in out
    assert out["adamw_cost"] == {"grouped": 1.0, "alone": 1.0, "plain": 1.0}
    assert out["sf_adamw_cost"]["plain"] == pytest.approx(
        out["sf_adamw_plain_steps_per_s"] / out["adamw_plain_steps_per_s"])
    # run_bench's keys, of the baseline: the compiled loop's one run against the plain loop
    assert out["steps_per_s"] == out["adamw_alone_run_steps_per_s"]
    assert out["naive_steps_per_s"] == out["adamw_plain_steps_per_s"]
    assert out["speedup"] == pytest.approx(out["steps_per_s"] / out["naive_steps_per_s"])
    # one step of the same model and optimizer: the same FLOPs in either loop, to a few %
    assert out["gflop_per_step"] == pytest.approx(out["naive_gflop_per_step"], rel=0.1)
    assert out["pct_of_matmul_peak"] == pytest.approx(
        100 * out["gflops_per_s"] / out["matmul_peak_gflops"])
    assert (out["task"], out["size"], out["lr"]) == ("regression", "quick", 1e-2)


def test_plain_loop_trains_the_task_as_the_compiled_loop_does():
    """Same task, same optimizer: both loops lower the loss (they key their batches
    differently, so their trajectories differ)."""
    import jax.numpy as jnp
    import optax

    from jaxsched.workloads import regression

    task = regression.build("quick").task
    loop = throughput.PlainLoop(task, optax.adamw(1e-2))
    before = float(task.metrics(loop.params)["loss"])
    loop.run(30)
    assert float(task.metrics(loop.params)["loss"]) < before and loop.step_count == 30
    compiled = throughput.CompiledLoop(task, lambda lr, h: optax.adamw(lr), runs=2, steps=30,
                                       lr=1e-2)
    compiled.run()
    after = compiled.trainer.evaluate(compiled.state)["loss"]
    assert bool(jnp.all(after < before))


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: bench.task_bench("regression", "quick", steps=0), "steps"),
        (lambda: bench.task_bench("regression", "quick", runs=0), "runs"),
        (lambda: bench.task_bench("regression", "huge"), "size"),
        (lambda: bench.task_bench("regression", "quick", optimizers=["adamz"]), "optimizers"),
        (lambda: bench.task_bench("regression", "quick", optimizers="adamw"), "optimizers"),
        (lambda: bench.task_bench("regression", "quick", lr=-1.0), "lr"),
    ],
)
def test_task_bench_bad_arguments(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_cli_bench_task_json_and_table(capsys, monkeypatch):
    import json

    from jaxsched import cli

    seen = []
    result = {"device": "cpu:cpu", "task": "regression", "size": "quick", "lr": 0.01,
              "runs": 2, "steps": 2, "rounds": 1, "optimizers": ["adamw", "sf_adamw"],
              "steps_per_s": 10.0, "naive_steps_per_s": 5.0, "speedup": 2.0,
              "grouped_speedup": 0.9, "gflop_per_step": 0.01, "naive_gflop_per_step": 0.01,
              "gflops_per_s": 0.1, "matmul_peak_gflops": 100.0, "pct_of_matmul_peak": 0.1,
              "grouped_pct_of_matmul_peak": 0.09,
              "sf_adamw_logged_alone_run_steps_per_s": 8.0,
              "adamw_cost": {"grouped": 1.0, "alone": 1.0, "plain": 1.0},
              "sf_adamw_cost": {"grouped": 0.95, "alone": 0.97, "plain": 0.99}}
    for name in ("adamw", "sf_adamw"):
        result.update({f"{name}_grouped_run_steps_per_s": 9.0,
                       f"{name}_alone_run_steps_per_s": 10.0, f"{name}_plain_steps_per_s": 5.0})

    def fake(task, size, **kw):
        seen.append((task, size, kw))
        return result

    monkeypatch.setattr("jaxsched.workloads.bench.task_bench", fake)
    argv = ["bench", "--task", "regression", "--steps", "2", "--runs", "2", "--rounds", "1"]
    assert cli.main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == result
    assert seen[0] == ("regression", "quick", {"steps": 2, "runs": 2, "rounds": 1})
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "sf_adamw / adamw: 0.95x grouped, 0.97x one at a time, 0.99x in the plain loop" in text
    assert "8.0 run-steps/s one at a time (0.80x adamw)" in text and "% of peak" in text


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["bench", "--task", "regression", "--size", "huge"], "--size"),
        (["bench", "--task", "regression", "--sweep", "2"], "--sweep"),
        (["bench", "--task", "regression", "--tiny"], "--tiny"),
        (["bench", "--tiny", "--runs", "2"], "--runs"),
        (["bench", "--task", "mnist"], "--task"),
    ],
)
def test_cli_bench_task_bad_flags_are_one_line(argv, flag, capsys):
    from jaxsched import cli

    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0]
