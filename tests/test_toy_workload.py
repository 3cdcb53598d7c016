"""A workload added in one file: both ``jaxsched compare --task`` and ``jaxsched reproduce
--task`` train it at its smoke size, from the catalogue alone (no preset written for it)."""

from __future__ import annotations

import csv
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsched import cli, workloads
from jaxsched.train.task import Task

# ------------------------------------------------------------------ the workload, in one place

_X = jax.random.normal(jax.random.key(0), (512, 8))
_W = jnp.linspace(-1.0, 1.0, 8)
_Y = _X @ _W + 0.3 * jax.random.normal(jax.random.key(1), (512,))


def _build_toy(size: str, *, data: str, progress: bool) -> workloads.Built:
    x_train, y_train, x_test, y_test = _X[:448], _Y[:448], _X[448:], _Y[448:]

    def sample(key):
        i = jax.random.randint(key, (16,), 0, x_train.shape[0])
        return x_train[i], y_train[i]

    def loss(params, batch, key):
        x, y = batch
        return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)

    task = Task(init=lambda key: {"w": 0.1 * jax.random.normal(key, (8,)), "b": jnp.zeros(())},
                loss=loss, sample=sample,
                evaluate=lambda p: {"loss": loss(p, (x_test, y_test), None)})
    return workloads.Built(task, {"task": "toy", "size": size}, ["Task: a noisy linear fit."],
                           data_name="toy-linear", examples_per_step=16, train_examples=448)


TOY = workloads.Workload("toy", _build_toy, (workloads.Size("smoke", steps=40, lr=0.05),),
                         "a noisy linear fit, for tests")


@pytest.fixture
def toy():
    workloads.register(TOY)
    try:
        yield TOY
    finally:
        workloads.unregister("toy")


# ------------------------------------------------------------------------------------ tests


def test_compare_trains_a_registered_workload_on_a_grid_derived_from_its_size(toy, tmp_path,
                                                                               capsys):
    out = tmp_path / "cmp"
    assert cli.main(["compare", "--task", "toy", "--preset", "smoke", "--candidates", "cosine",
                     "sf_adamw", "constant", "--no-bench", "--no-progress",
                     "--out", str(out)]) == 0
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["candidate"] for r in rows} == {"cosine", "sf_adamw", "constant"}
    assert {int(r["horizon"]) for r in rows} == {10, 20, 40}       # a quarter, a half, all
    assert sorted({float(r["lr"]) for r in rows}) == pytest.approx([0.05 / 3, 0.05, 0.15])
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    text = (out / "REPORT.md").read_text()
    assert "Task: a noisy linear fit." in text and "toy smoke" in text


def test_reproduce_trains_every_run_of_the_chapter_on_a_registered_workload(toy, tmp_path):
    out = tmp_path / "rep"
    assert cli.main(["reproduce", "--task", "toy", "--preset", "smoke", "--no-progress",
                     "--figures", "decay_shapes", "final_vs_notes", "--out", str(out)]) == 0
    runs = json.loads((out / "runs.json").read_text())
    assert len(runs) == 13
    text = (out / "REPORT.md").read_text()
    assert "- Workload: `toy` at size `smoke` — not the notes' CIFAR-10" in text
    assert "- Horizon: 40 steps" in text and "- Adam lr 0.05" in text
    with open(out / "finals.csv") as f:
        finals = list(csv.DictReader(f))
    assert len(finals) == 13 and all(np.isfinite(float(r["final_mean"])) for r in finals)
    # the notes' CIFAR-10 curves are drawn only behind the notes' own workload
    assert (out / "figures" / "decay_shapes.png").exists()
    assert not (out / "figures" / "final_vs_notes.png").exists()


def test_a_workload_rejects_data_and_options_it_does_not_take(toy, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["reproduce", "--task", "toy", "--preset", "smoke", "--data", "synthetic",
                  "--out", str(tmp_path / "x")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "argument --data: data must be one of auto for the toy workload" in err
    with pytest.raises(SystemExit):
        cli.main(["reproduce", "--task", "toy", "--preset", "smoke", "--readout", "class_token",
                  "--out", str(tmp_path / "x")])
    assert "argument --readout: readout is not an option of the toy workload" in (
        capsys.readouterr().err)
    with pytest.raises(SystemExit):
        cli.main(["reproduce", "--task", "toy", "--preset", "quick", "--out", str(tmp_path / "x")])
    assert "argument --preset: must be one of smoke for --task toy, got 'quick'" in (
        capsys.readouterr().err)


def test_the_catalogue_refuses_a_second_workload_of_a_name_and_bad_entries():
    with pytest.raises(ValueError, match="tinyvit"):
        workloads.register(workloads.Workload("tinyvit", _build_toy, TOY.sizes, "again"))
    with pytest.raises(ValueError, match="sizes"):
        workloads.Workload("bad", _build_toy, (), "no sizes")
    with pytest.raises(ValueError, match="steps"):
        workloads.Size("smoke", steps=0, lr=0.1)
    with pytest.raises(ValueError, match="name must not be a built-in"):
        workloads.unregister("charlm")
    with pytest.raises(ValueError, match="task"):
        workloads.get("nope")


def test_the_lr_sweep_grows_its_grid_until_the_constant_runs_best_is_inside(toy, tmp_path,
                                                                            capsys):
    out = tmp_path / "sweep"
    assert cli.main(["reproduce", "--task", "toy", "--preset", "smoke", "--sweep-lr",
                     "--lrs", "0.002", "0.004", "--seeds", "2", "--no-progress",
                     "--out", str(out)]) == 0
    result = json.loads((out / "sweep.json").read_text())
    with open(out / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    means = {}
    for r in rows:
        means.setdefault((r["schedule"], float(r["lr"])), []).append(float(r["final"]))
    const = {lr: np.mean(v) for (s, lr), v in means.items() if s == "Constant LR"}
    grid = sorted(const)
    assert len(grid) > 2 and grid[:2] == [0.002, 0.004]    # grown past the upper end
    chosen = min(const, key=const.get)
    assert result["chosen_lr"] == pytest.approx(chosen)
    assert result["chosen_at_grid_edge"] == (chosen == grid[-1])
    if not result["chosen_at_grid_edge"]:
        assert grid[0] < chosen < grid[-1]
    linear = {lr: np.mean(v) for (s, lr), v in means.items() if s == "Linear Decay 100%"}
    assert result["linear_decay_best_lr"] == pytest.approx(min(linear, key=linear.get))
    assert all(len(v) == 2 for v in means.values())        # every seed of every run
    assert (out / "figures" / "lr_sweep.png").exists()
    assert f"Chosen learning rate: {result['chosen_lr']:g}" in (out / "REPORT.md").read_text()
    assert f"chosen lr: {result['chosen_lr']:g}" in capsys.readouterr().out
    from jaxsched.chapter import sweep

    assert sweep.read_chosen_lr(out) == result["chosen_lr"]


def test_lrs_is_only_for_the_sweep(toy, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["reproduce", "--task", "toy", "--preset", "smoke", "--lrs", "0.1",
                  "--out", str(tmp_path / "x")])
    assert "argument --lrs: only with --sweep-lr" in capsys.readouterr().err
