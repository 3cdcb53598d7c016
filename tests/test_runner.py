"""The runner: grouping equals training alone, resume after a kill is exact, NaN stops a run."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_metrics import check_against_run, read_events

from jaxsched.train import checkpoint as ckpt
from jaxsched.train.config import RunConfig
from jaxsched.train.metrics import read_jsonl
from jaxsched.train.runner import RUN_FORMAT, SUMMARY_KEYS, Runner
from jaxsched.train.task import Task
from jaxsched.workloads.image import SIZES, cross_entropy

WORKLOAD = dataclasses.replace(SIZES["smoke"], batch_size=8, synthetic_train=256,
                               synthetic_test=64, eval_examples=64)


@pytest.fixture(scope="module")
def dataset():
    return WORKLOAD.load_data("synthetic")


def _runner(dataset, out, **kw):
    return Runner(WORKLOAD.task(dataset), out, identity=WORKLOAD.describe(dataset.name),
                  **{"progress": False, **kw})


def _cfg(**kw):
    return RunConfig(**{"steps": 30, "eval_every": 10, **kw})


def test_group_equals_alone_and_finished_runs_are_skipped(dataset, tmp_path):
    # Different horizons and eval intervals in one group: each run evaluates at its own
    # multiples of eval_every and at its own end, never at another run's.
    cfgs = [
        _cfg(schedule="linear_decay"),
        _cfg(schedule="cosine_decay", steps=25, seed=1),
        _cfg(schedule="stepwise_drop", schedule_kwargs={"fraction": 0.5}, lr=3e-3,
             eval_every=15),
    ]
    own_evals = [[10, 20, 30], [10, 20, 25], [15, 30]]
    grouped = _runner(dataset, tmp_path / "g", chunk_size=10).run(cfgs)
    runner = _runner(dataset, tmp_path / "a", group=False, chunk_size=7)
    alone = runner.run(cfgs)
    # the runs' groups (shrinking cohorts, one run at a time) share one compile of the task's
    # initialisation and metrics
    assert runner._programs.fresh._cache_size() == runner._programs.metrics._cache_size() == 1
    for g, a, steps in zip(grouped, alone, own_evals, strict=True):
        assert g.status == a.status == "finished"
        lg, la = g.run_dir.load_losses(), a.run_dir.load_losses()
        assert lg.shape == (g.config.train_steps,)
        # A group is one vmapped program; alone, the run axis has size 1. XLA may order the
        # float reductions of the two programs differently, hence a tolerance at f32 rounding.
        np.testing.assert_allclose(lg, la, rtol=2e-5, atol=2e-6)
        eg, ea = g.run_dir.load_eval(), a.run_dir.load_eval()
        assert [e["step"] for e in eg] == [e["step"] for e in ea] == steps
        for x, y in zip(eg, ea, strict=True):
            assert set(x) == {"step", "loss", "accuracy", "train_loss"}
            assert x["loss"] == pytest.approx(y["loss"], rel=1e-4)
            assert x["accuracy"] == pytest.approx(y["accuracy"], abs=1 / 64 + 1e-9)

        # The saved params are the run's final eval params: the test loss they give is the
        # last eval's.
        params = ckpt.load_pytree(g.run_dir.params_dir)
        x = jnp.asarray(dataset.test_images[:64], jnp.float32) / 255.0
        logits = WORKLOAD.model.apply({"params": params}, x, deterministic=True)
        loss = float(cross_entropy(logits, jnp.asarray(dataset.test_labels[:64])))
        assert loss == pytest.approx(eg[-1]["loss"], rel=1e-4)
        summary = json.loads((g.run_dir.path / "summary.json").read_text())
        assert tuple(summary) == tuple(sorted(SUMMARY_KEYS))
        assert summary["status"] == "finished"
        assert summary["final_eval"] == {k: x for k, x in eg[-1].items() if k != "step"}
        record = json.loads((g.run_dir.path / "config.json").read_text())
        assert record["run"] == g.config.to_dict() and record["task"]["data"] == "synthetic"
    again = _runner(dataset, tmp_path / "g").run(cfgs)
    assert [r.status for r in again] == ["skipped"] * 3


def test_averaging_runs_record_loss_at_eval_params(dataset, tmp_path):
    plain, avg = _runner(dataset, tmp_path, chunk_size=10).run(
        [_cfg(), _cfg(optimizer="adam_polyak")]
    )
    lp, la = plain.run_dir.load_losses(), avg.run_dir.load_losses()
    # Same seed, same batches, same dropout: the first step's loss differs only because the
    # Polyak run reports it at the average of the first two iterates, not at the iterate.
    assert not np.allclose(lp, la)
    assert np.all(np.isfinite(la))


def test_nan_stops_the_run_naming_the_step(dataset, tmp_path):
    ok, bad = _runner(dataset, tmp_path, chunk_size=10, checkpoint_every=10,
                      log=lambda m: None).run([_cfg(), _cfg(lr=1e30)])
    assert ok.status == "finished"
    assert bad.status == "diverged"
    step = bad.summary["diverged_at_step"]
    assert f"at step {step}" in bad.summary["message"]
    assert len(bad.run_dir.load_losses()) == step
    # Rerunning does not retrain a diverged run.
    again = _runner(dataset, tmp_path).run([_cfg(lr=1e30)])
    assert again[0].status == "skipped"


def test_config_mismatch_in_a_run_directory_is_refused(dataset, tmp_path):
    cfg = _cfg()
    runner = _runner(dataset, tmp_path)
    run_dir = tmp_path / "runs" / runner.run_id(cfg)
    run_dir.mkdir(parents=True)
    # a directory of this format under this run's id, holding another run's config
    (run_dir / "config.json").write_text(
        json.dumps({"format": RUN_FORMAT, "run": {**cfg.to_dict(), "lr": 5.0}}))
    with pytest.raises(ValueError, match="different config"):
        runner.run([cfg])


def test_the_task_identity_keys_the_run_directory(dataset, tmp_path):
    cfg = _cfg()
    a = _runner(dataset, tmp_path).run_id(cfg)
    other = Runner(WORKLOAD.task(dataset), tmp_path, identity={"data": "elsewhere"})
    assert other.run_id(cfg) != a and other.run_id(cfg).startswith(cfg.name())
    assert _runner(dataset, tmp_path).run_id(_cfg()) == a  # stable across instances


def test_runs_must_have_the_training_run_surface(dataset, tmp_path):
    with pytest.raises(ValueError, match="TrainingRun"):
        _runner(dataset, tmp_path).run([{"steps": 10}])
    with pytest.raises(ValueError, match="task"):
        Runner("not a task", tmp_path)
    with pytest.raises(ValueError, match="init"):
        Runner(Task(None, None, None), tmp_path)


TRAIN = [
    sys.executable, "-m", "jaxsched.cli", "train", "--model", "smoke", "--batch-size", "8",
    "--steps", "60", "--schedule", "cosine_decay", "--optimizer", "adam_ema",
    "--ema-decay", "0.9", "--checkpoint-every", "10", "--eval-every", "20", "--chunk-size",
    "5", "--data", "synthetic", "--synthetic-train", "256", "--synthetic-test", "64",
    "--eval-examples", "64", "--no-progress",
]


def _run_dir(out: Path) -> Path:
    (d,) = list((out / "runs").iterdir())
    return d


def _last_metrics_step(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    records = read_jsonl(path) if path.exists() else []
    return max((r["step"] for r in records), default=0)


def _last_event_step(logdir: Path) -> int:
    return max((s for s, _ in read_events(logdir).get("loss", [])), default=0)


def test_resume_after_kill_is_exact(tmp_path):
    """SIGKILL once a checkpoint is written and metrics.jsonl and the event files hold steps
    past it; the resumed run's files equal an uninterrupted run's, every step once."""
    env = {**os.environ, "JAXSCHED_DATA": str(tmp_path / "cache")}
    ref = subprocess.run([*TRAIN, "--out", str(tmp_path / "ref"), "--tensorboard",
                          str(tmp_path / "ref-tb")], env=env, capture_output=True,
                         text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr

    out, tb = tmp_path / "killed", tmp_path / "tb"
    proc = subprocess.Popen([*TRAIN, "--out", str(out), "--tensorboard", str(tb)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    killed_at = None
    while time.time() < deadline and proc.poll() is None:
        ck = out / "runs"
        found = list(ck.glob("*/ckpt/*")) if ck.exists() else []
        steps = [int(p.name) for p in found if p.name.isdigit()]
        run_dir = found[0].parents[1] if found else None
        # both files written past the checkpoint (the event files are flushed after the JSON)
        if (steps and max(steps) >= 20 and _last_metrics_step(run_dir) > max(steps)
                and _last_event_step(tb / run_dir.name) > max(steps)):
            proc.send_signal(signal.SIGKILL)
            killed_at = max(steps)
            break
        time.sleep(0.05)
    proc.wait(timeout=60)
    assert killed_at is not None, "the run finished before it could be killed"
    # the killed process wrote steps past its checkpoint (the resume must take them back)
    assert _last_metrics_step(_run_dir(out)) > killed_at
    assert _last_event_step(tb / _run_dir(out).name) > killed_at
    assert not (_run_dir(out) / "summary.json").exists() or json.loads(
        (_run_dir(out) / "summary.json").read_text())["status"] != "finished"

    resumed = subprocess.run([*TRAIN, "--out", str(out), "--tensorboard", str(tb)], env=env,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr

    a, b = _run_dir(tmp_path / "ref"), _run_dir(out)
    assert a.name == b.name
    np.testing.assert_array_equal(np.load(a / "losses.npy"), np.load(b / "losses.npy"))
    pa, pb = ckpt.load_pytree(a / "params"), ckpt.load_pytree(b / "params")
    import jax

    for x, y in zip(jax.tree.leaves(pa), jax.tree.leaves(pb), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert json.loads((a / "eval.json").read_text()) == json.loads((b / "eval.json").read_text())
    assert (a / "metrics.jsonl").read_bytes() == (b / "metrics.jsonl").read_bytes()
    check_against_run(a, tmp_path / "ref-tb" / a.name)
    check_against_run(b, tb / b.name)
    assert read_events(tmp_path / "ref-tb" / a.name) == read_events(tb / b.name)


def test_steps_this_run_trains_fewer_steps_on_the_same_schedule(dataset, tmp_path):
    full, part = _runner(dataset, tmp_path, chunk_size=10).run(
        [_cfg(schedule="linear_decay"), _cfg(schedule="linear_decay", steps_this_run=15)]
    )
    lf, lp = full.run_dir.load_losses(), part.run_dir.load_losses()
    assert lp.shape == (15,)
    np.testing.assert_allclose(lp, lf[:15], rtol=2e-5, atol=2e-6)
    assert dataclasses.asdict(part.config)["steps"] == 30


def test_a_group_interrupted_mid_run_resumes_exactly(dataset, tmp_path, monkeypatch):
    from jaxsched.train.loop import GroupTrainer

    cfgs = [
        _cfg(optimizer="adam_ema", ema_decay=0.9, schedule="linear_decay"),
        _cfg(optimizer="adam_ema", ema_decay=0.8, schedule="cosine_decay", seed=1),
        _cfg(optimizer="adam_ema", ema_decay=0.9, steps=20, seed=2),
    ]

    def runner(out):
        return _runner(dataset, out, chunk_size=5, checkpoint_every=10)

    ref = runner(tmp_path / "ref").run(cfgs)

    real_train = GroupTrainer.train

    def train_until_25(self, state, *args):
        if int(np.asarray(state.step)[0]) >= 25:
            raise KeyboardInterrupt  # as if killed after the step-20 checkpoint
        return real_train(self, state, *args)

    monkeypatch.setattr(GroupTrainer, "train", train_until_25)
    with pytest.raises(KeyboardInterrupt):
        runner(tmp_path / "cut").run(cfgs)
    monkeypatch.setattr(GroupTrainer, "train", real_train)
    logs = []
    resumed = _runner(dataset, tmp_path / "cut", chunk_size=5, checkpoint_every=10,
                      log=logs.append).run(cfgs)

    assert [r.status for r in resumed] == ["finished", "finished", "skipped"]
    assert sum("resuming" in m and "from step 20" in m for m in logs) == 2
    for a, b in zip(ref, resumed, strict=True):
        np.testing.assert_array_equal(a.run_dir.load_losses(), b.run_dir.load_losses())
        assert a.run_dir.load_eval() == b.run_dir.load_eval()
        pa, pb = ckpt.load_pytree(a.run_dir.params_dir), ckpt.load_pytree(b.run_dir.params_dir)
        for x, y in zip(jax.tree.leaves(pa), jax.tree.leaves(pb), strict=True):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_checkpoint_seconds_skips_periodic_checkpoints_closer_than_it(dataset, tmp_path,
                                                                      monkeypatch):
    import types

    from jaxsched.train import runner as runner_mod
    from jaxsched.train.loop import GroupTrainer

    clock = [0.0]  # the runner's wall clock: 25 s per dispatched chunk of 5 steps
    real_train = GroupTrainer.train

    def slow_train(self, *args):
        clock[0] += 25.0
        return real_train(self, *args)

    saved = []
    real_save = ckpt.Checkpointer.save

    def spy(self, step, state):
        saved.append(step)
        return real_save(self, step, state)

    monkeypatch.setattr(GroupTrainer, "train", slow_train)
    monkeypatch.setattr(ckpt.Checkpointer, "save", spy)
    monkeypatch.setattr(runner_mod, "time", types.SimpleNamespace(
        monotonic=lambda: clock[0], perf_counter=time.perf_counter))
    cfg = _cfg(steps=40)
    for seconds, marks in [(None, [10, 20, 30]), (0.0, [10, 20, 30]), (60.0, [20]),
                           (1e9, [])]:
        saved.clear()
        (res,) = _runner(dataset, tmp_path / f"s{seconds}", chunk_size=5, checkpoint_every=10,
                         checkpoint_seconds=seconds).run([cfg])
        # at 50 s the mark of step 10 is too soon; 20 is at 100 s; 30 only 50 s after it
        assert (res.status, saved) == ("finished", marks), seconds
    with pytest.raises(ValueError, match=r"checkpoint_seconds.*-1"):
        _runner(dataset, tmp_path / "bad", checkpoint_every=10, checkpoint_seconds=-1)


def test_one_checkpoint_manager_per_run_holding_the_named_state(dataset, tmp_path,
                                                                 monkeypatch):
    import orbax.checkpoint as ocp

    opened = []
    real_init = ocp.CheckpointManager.__init__

    def counting(self, directory, *args, **kw):
        opened.append(Path(directory).name)
        real_init(self, directory, *args, **kw)

    monkeypatch.setattr(ocp.CheckpointManager, "__init__", counting)
    cfgs = [_cfg(optimizer="adam_ema", ema_decay=0.9), _cfg(optimizer="adam_ema", seed=1)]
    results = _runner(dataset, tmp_path, chunk_size=5, checkpoint_every=5).run(cfgs)
    monkeypatch.undo()
    # 5 checkpoints of each of 2 runs through 2 managers; params/ once per run at the end
    assert opened.count("ckpt") == 2 and opened.count("params") == 2
    with ocp.CheckpointManager(results[0].run_dir.checkpoint_dir,
                               item_handlers=ocp.StandardCheckpointHandler()) as m:
        names = {x.name for x in jax.tree.leaves(m.item_metadata(m.latest_step()).tree)}
    assert {"step", "key"} <= names
    assert any(n.startswith("params.") for n in names)
    assert any(n.startswith("opt_state.") and ".mu." in n for n in names)


def test_a_run_directory_of_format_1_is_refused_in_one_line(dataset, tmp_path):
    from jaxsched.train.runner import IncompatibleRunError

    cfg = _cfg()
    runner = _runner(dataset, tmp_path)
    run_dir = tmp_path / "runs" / runner.run_id(cfg)
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(
        {**runner._record(cfg), "format": 1, "written_by": "jaxsched 0.2.0"}))
    with pytest.raises(IncompatibleRunError) as e:
        runner.run([cfg])
    msg = str(e.value)
    assert "\n" not in msg and "jaxsched 0.2.0 in run format 1" in msg
    assert f"writes format {RUN_FORMAT}" in msg and RUN_FORMAT == 2
