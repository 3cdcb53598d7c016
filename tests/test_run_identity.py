"""Run identity: a run directory is keyed by what the run computes, and older formats are refused.

Each kind of change under unchanged names (the model, the data, the evaluation, a custom
candidate's optimizer) gives new runs; an identical rerun resumes; a directory written by the
previous format (a committed fixture) is refused in one line, never resumed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import optax
import pytest

from jaxsched import cli, compare
from jaxsched.train.config import RunConfig
from jaxsched.train.runner import IncompatibleRunError, Runner
from jaxsched.train.task import Task

FIXTURE = Path(__file__).parent / "data" / "format0"
X = jax.random.normal(jax.random.key(1), (64, 3))
Y = X @ jnp.array([1.0, -2.0, 0.5])


def regression(x=X, y=Y, scale=1.0, evaluate=None) -> Task:
    def sample(key):
        i = jax.random.randint(key, (8,), 0, x.shape[0])
        return x[i], y[i]

    def loss(params, batch, key):
        return jnp.mean((scale * batch[0] @ params - batch[1]) ** 2)

    return Task(lambda k: jnp.zeros(3), loss, sample, evaluate)


def _fit(task, out, **kw):
    cfg = RunConfig(steps=6, eval_every=3, lr=0.1)
    runner = Runner(task, out, progress=False, log=lambda m: None, **kw)
    (res,) = runner.run([cfg])
    return res


def test_an_identical_rerun_resumes(tmp_path):
    first = _fit(regression(), tmp_path)
    again = _fit(regression(), tmp_path)  # a new Task object computing the same
    assert first.status == "finished" and again.status == "skipped"
    assert again.run_dir == first.run_dir


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param(lambda: regression(scale=3.0), id="model"),
        pytest.param(lambda: regression(x=X + 1.0), id="data"),
        pytest.param(lambda: regression(evaluate=lambda p: {"loss": jnp.sum(p ** 2)}),
                     id="evaluate"),
    ],
)
def test_a_changed_task_trains_new_runs(tmp_path, changed):
    before = _fit(regression(), tmp_path)
    after = _fit(changed(), tmp_path)
    assert after.status == "finished" and after.run_dir != before.run_dir
    assert after.run_dir.run_id.split("-")[:4] == before.run_dir.run_id.split("-")[:4]


def test_a_changed_custom_candidate_under_the_same_name_trains_new_runs(tmp_path):
    def grid(factory):
        return compare.run(regression(), candidates=[("mine", factory, True)], lrs=[0.05],
                           horizons=[10], out=tmp_path, log=lambda m: None, report=False)

    sgd = grid(lambda lr, T: optax.sgd(lr))
    adam = grid(lambda lr, T: optax.adam(lr))
    fresh = compare.run(regression(), candidates=[("mine", lambda lr, T: optax.adam(lr), True)],
                        lrs=[0.05], horizons=[10], log=lambda m: None)
    assert adam.timing["run_steps"] == 10  # trained, not resumed from the sgd run
    assert adam.final()[("mine", 0.05, 10)] == fresh.final()[("mine", 0.05, 10)]
    assert adam.final() != sgd.final()
    assert grid(lambda lr, T: optax.sgd(lr)).timing["run_steps"] == 0  # the sgd run resumes


def test_the_optimizer_structure_keys_the_run(tmp_path):
    task = regression()
    runner = Runner(task, tmp_path, progress=False)
    plain, avg = RunConfig(steps=6), RunConfig(steps=6, optimizer="adam_ema")
    assert runner._fingerprint(plain)["optimizer"] != runner._fingerprint(avg)["optimizer"]
    assert runner._fingerprint(plain) == runner._fingerprint(RunConfig(steps=60, lr=0.5))


def test_a_run_directory_of_the_previous_format_is_refused(tmp_path):
    out = tmp_path / "out"
    shutil.copytree(FIXTURE, out)
    (old,) = list((out / "runs").iterdir())
    with pytest.raises(IncompatibleRunError, match="format 0") as info:
        _fit(regression(), out)
    assert str(old) in str(info.value) and "move it out" in str(info.value)
    assert sorted(p.name for p in (out / "runs").iterdir()) == [old.name]  # nothing trained


def test_the_cli_refuses_it_in_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(FIXTURE, out)
    argv = ["train", "--model", "smoke", "--steps", "6", "--batch-size", "4",
            "--synthetic-train", "64", "--synthetic-test", "16", "--eval-examples", "16",
            "--data", "synthetic", "--out", str(out), "--no-progress"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("jaxsched train: error: ")
    assert "run format 0" in err and "Traceback" not in err
