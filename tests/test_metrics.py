"""Metrics while training (jaxsched.train.metrics): metrics.jsonl in every run directory,
TensorBoard event files read back with TensorBoard's own reader, the progress bar's postfix,
the jaxsched logger, and a resume that neither repeats nor loses a step."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsched import cli
from jaxsched.train import metrics
from jaxsched.train.config import RunConfig
from jaxsched.train.loop import GroupTrainer
from jaxsched.train.metrics import (
    JsonlWriter,
    TensorBoardUnavailableError,
    TensorBoardWriter,
    read_jsonl,
)
from jaxsched.train.runner import Runner
from jaxsched.train.task import Task


def read_events(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar event of every event file in ``logdir``, by tag, in file order: what the
    files hold, with nothing hidden (TensorBoard's reader without its purge of restarts)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    out: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(logdir.glob(metrics.EVENT_FILE_PREFIX + "*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                x = float(tensor_util.make_ndarray(value.tensor))
                out.setdefault(value.tag, []).append((event.step, x))
    return out


def check_against_run(run_dir: Path, tb_dir: Path | None) -> None:
    """metrics.jsonl (and the event files) hold exactly losses.npy and eval.json, each step
    once, in order."""
    losses = np.load(run_dir / "losses.npy")
    evals = json.loads((run_dir / "eval.json").read_text())
    records = read_jsonl(run_dir / "metrics.jsonl")
    steps = [r["step"] for r in records if "loss" in r]
    assert steps == list(range(1, len(losses) + 1))
    np.testing.assert_array_equal(np.float32([r["loss"] for r in records if "loss" in r]), losses)
    assert [{"step": r["step"], **r["eval"]} for r in records if "eval" in r] == evals
    if tb_dir is None:
        return
    assert len(list(tb_dir.glob(metrics.EVENT_FILE_PREFIX + "*"))) == 1
    events = read_events(tb_dir)
    assert [s for s, _ in events["loss"]] == list(range(1, len(losses) + 1))
    np.testing.assert_array_equal(np.float32([x for _, x in events["loss"]]), losses)
    for name in evals[0]:
        if name != "step":
            got = events[f"eval/{name}"]
            assert [s for s, _ in got] == [e["step"] for e in evals]
            np.testing.assert_array_equal(np.float32([x for _, x in got]),
                                          np.float32([e[name] for e in evals]))


# ---------------------------------------------------------------------------------------------
# The writers


def test_jsonl_writer_appends_at_each_flush(tmp_path):
    path = tmp_path / "run" / "metrics.jsonl"
    w = JsonlWriter(path)
    w.write_scalars(1, {"loss": np.float32(0.5)})
    assert not path.exists()  # held until the flush
    w.flush()
    w.write_scalars(2, {"loss": 0.25, "eval/loss": 0.125, "eval/accuracy": 1})
    w.close()
    w.close()
    assert path.read_text().splitlines() == [
        '{"step": 1, "loss": 0.5}', '{"step": 2, "loss": 0.25}',
        '{"step": 2, "eval": {"loss": 0.125, "accuracy": 1.0}}']
    with pytest.raises(RuntimeError, match="closed"):
        w.write_scalars(3, {"loss": 1.0})


def test_jsonl_writer_replace_rewrites_once_then_appends(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": 9.0}\n{"step": 2, "loss": 9.0}\n{"step": 3, "lo')
    with JsonlWriter(path, replace=True) as w:
        w.write_scalars(1, {"loss": 1.0})
        w.flush()  # replaces: the killed process's lines and its torn one are gone
        assert read_jsonl(path) == [{"step": 1, "loss": 1.0}]
        w.write_scalars(2, {"loss": 2.0})
    assert read_jsonl(path) == [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 2.0}]
    with JsonlWriter(path, replace=True):
        pass  # an empty history replaces too
    assert path.read_text() == ""


def test_read_jsonl_skips_a_line_being_written_and_refuses_garbage(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": 1.0}\n{"step": 2, "lo')
    assert read_jsonl(path) == [{"step": 1, "loss": 1.0}]
    path.write_text('{"step": 1, "loss": 1.0}\nnot json\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl:2: not a JSON line"):
        read_jsonl(path)
    path.write_text('[1, 2]\n')
    with pytest.raises(ValueError, match=r":1: not a metrics record"):
        read_jsonl(path)


@pytest.mark.parametrize("make", [JsonlWriter, TensorBoardWriter])
def test_writers_name_bad_arguments(tmp_path, make):
    w = make(tmp_path / "w")
    for step in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="step"):
            w.write_scalars(step, {"loss": 1.0})
    with pytest.raises(ValueError, match="scalars"):
        w.write_scalars(1, [("loss", 1.0)])
    with pytest.raises(ValueError, match=r"scalars\['loss'\] must be a number"):
        w.write_scalars(1, {"loss": "low"})
    with pytest.raises(ValueError, match="names"):
        w.write_scalars(1, {"": 1.0})
    w.close()
    assert isinstance(w, metrics.MetricWriter)


def test_tensorboard_writer_round_trip_and_replace(tmp_path):
    with TensorBoardWriter(tmp_path) as w:
        for step in range(1, 6):
            w.write_scalars(step, {"loss": 1.0 / step})
        w.write_scalars(5, {"eval/loss": 0.75})
    (first,) = tmp_path.glob(metrics.EVENT_FILE_PREFIX + "*")
    events = read_events(tmp_path)
    assert [s for s, _ in events["loss"]] == [1, 2, 3, 4, 5]
    np.testing.assert_array_equal(np.float32([x for _, x in events["loss"]]),
                                  np.float32([1.0 / s for s in range(1, 6)]))
    assert events["eval/loss"] == [(5, 0.75)]
    # a resumed run: its history to step 3, then on; the file of the killed process goes once
    # the new one is written (opened in the same second, it still has a name of its own)
    w = TensorBoardWriter(tmp_path, replace=True)
    for step in range(1, 4):
        w.write_scalars(step, {"loss": float(step)})
    assert first.exists()
    w.flush()
    assert not first.exists()
    w.write_scalars(4, {"loss": 4.0})
    w.close()
    assert read_events(tmp_path) == {"loss": [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]}


def test_without_tensorboardx_one_line_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(TensorBoardUnavailableError, match=r"pip install 'jaxsched\[tensorboard\]'"):
        TensorBoardWriter(tmp_path / "tb")
    with pytest.raises(TensorBoardUnavailableError):
        Runner(regression_task(), tmp_path, tensorboard=tmp_path / "tb")
    argv = ["train", "--steps", "10", "--out", str(tmp_path / "out"), "--tensorboard",
            str(tmp_path / "tb")]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("jaxsched train: error: TensorBoard")
    assert "pip install 'jaxsched[tensorboard]'" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before anything was done


# ---------------------------------------------------------------------------------------------
# The runner


def regression_task() -> Task:
    """A linear regression whose parameters are a named tree (``dense.w``, ``dense.b``)."""
    x = jax.random.normal(jax.random.key(1), (64, 3))
    y = x @ jnp.array([1.0, -2.0, 0.5])

    def predict(params, inputs):
        return inputs @ params["dense"]["w"] + params["dense"]["b"]

    def sample(key):
        i = jax.random.randint(key, (8,), 0, 64)
        return x[i], y[i]

    def loss(params, batch, key):
        return jnp.mean((predict(params, batch[0]) - batch[1]) ** 2)

    def evaluate(params):
        return {"loss": jnp.mean((predict(params, x) - y) ** 2),
                "norm": jnp.sum(params["dense"]["w"] ** 2)}

    return Task(lambda k: {"dense": {"w": jnp.zeros(3), "b": jnp.zeros(())}}, loss, sample,
                evaluate)


@contextlib.contextmanager
def interrupted_at(monkeypatch, step: int):
    """Training stops with ``KeyboardInterrupt`` as a chunk would start at ``step`` or later
    (as if killed after the chunks before it were recorded)."""
    real_train = GroupTrainer.train

    def train_until(self, state, *args):
        if int(np.asarray(state.step)[0]) >= step:
            raise KeyboardInterrupt
        return real_train(self, state, *args)

    monkeypatch.setattr(GroupTrainer, "train", train_until)
    with pytest.raises(KeyboardInterrupt):
        yield
    monkeypatch.setattr(GroupTrainer, "train", real_train)


CFGS = [RunConfig(steps=30, eval_every=10, lr=0.05, optimizer="adam_ema", ema_decay=0.9),
        RunConfig(steps=20, eval_every=5, lr=0.02, optimizer="adam_ema", ema_decay=0.8,
                  seed=1)]


def _run(out, cfgs=CFGS, **kw):
    kw = {"chunk_size": 5, "checkpoint_every": 10, "progress": False, **kw}
    return Runner(regression_task(), out, **kw).run(cfgs)


def test_every_run_writes_metrics_jsonl_and_its_event_files(tmp_path):
    tb = tmp_path / "tb"
    results = _run(tmp_path / "out", tensorboard=tb)
    assert sorted(p.name for p in tb.iterdir()) == sorted(r.run_dir.run_id for r in results)
    for r in results:
        check_against_run(r.run_dir.path, tb / r.run_dir.run_id)
    # without tensorboard= there is metrics.jsonl all the same
    (plain,) = _run(tmp_path / "plain", cfgs=CFGS[:1])
    check_against_run(plain.run_dir.path, None)


def test_an_interrupted_group_resumes_without_repeating_or_losing_a_step(tmp_path,
                                                                         monkeypatch):
    tb = tmp_path / "tb"
    ref = _run(tmp_path / "ref")
    with interrupted_at(monkeypatch, 15):  # after the step-10 checkpoint, steps 11-15 written
        _run(tmp_path / "cut", tensorboard=tb)
    cut = [tmp_path / "cut" / "runs" / r.run_dir.run_id for r in ref]
    for d in cut:  # what a resume has to take back: steps past the checkpoint
        assert [r["step"] for r in read_jsonl(d / "metrics.jsonl") if "loss" in r][-1] == 15
        assert read_events(tb / d.name)["loss"][-1][0] == 15
    resumed = _run(tmp_path / "cut", tensorboard=tb)
    assert [r.status for r in resumed] == ["finished", "finished"]
    for a, b in zip(ref, resumed, strict=True):
        check_against_run(b.run_dir.path, tb / b.run_dir.run_id)
        assert (a.run_dir.path / "metrics.jsonl").read_bytes() == (
            b.run_dir.path / "metrics.jsonl").read_bytes()


def test_finished_runs_get_their_event_files_when_the_directory_has_none(tmp_path):
    results = _run(tmp_path / "out")
    tb = tmp_path / "later"
    again = _run(tmp_path / "out", tensorboard=tb)
    assert [r.status for r in again] == ["skipped", "skipped"]
    for r in results:
        check_against_run(r.run_dir.path, tb / r.run_dir.run_id)
    (kept,) = (tb / results[0].run_dir.run_id).glob(metrics.EVENT_FILE_PREFIX + "*")
    _run(tmp_path / "out", tensorboard=tb)
    assert kept.exists()  # present: left as it is


def test_progress_postfix_shows_the_live_loss_and_the_last_evaluation(tmp_path, monkeypatch):
    import tqdm.auto

    shown = []

    class Bar(tqdm.auto.tqdm):
        def set_postfix(self, ordered_dict=None, refresh=True, **kw):
            shown.append(dict(ordered_dict or {}, **kw))
            super().set_postfix(ordered_dict, refresh=refresh, **kw)

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    (res,) = _run(tmp_path, cfgs=CFGS[:1], progress=True)
    losses, evals = res.run_dir.load_losses(), res.run_dir.load_eval()
    assert len(shown) == 6  # one per chunk of 5 steps
    assert shown[-1]["loss"] == f"{losses[-5:].astype(np.float64).mean():.4g}"
    assert shown[-1]["eval_loss"] == f"{evals[-1]['loss']:.4g}"
    assert shown[-1]["eval_norm"] == f"{evals[-1]['norm']:.4g}"
    assert "eval_loss" not in shown[0]  # no evaluation before step 10
    assert shown[1]["eval_loss"] == f"{evals[0]['loss']:.4g}"


def test_messages_go_to_the_jaxsched_logger(tmp_path, monkeypatch, caplog):
    with interrupted_at(monkeypatch, 15):
        _run(tmp_path, cfgs=CFGS[:1], log=None)
    with caplog.at_level(logging.INFO, logger="jaxsched"):
        _run(tmp_path, cfgs=CFGS[:1], log=None)
    (record,) = [r for r in caplog.records if "resuming" in r.getMessage()]
    assert record.name == "jaxsched.train.runner" and record.levelno == logging.INFO
    assert record.getMessage().endswith("from step 10")


def test_the_cli_passes_tensorboard_to_reproduce_and_compare(tmp_path, monkeypatch, capsys):
    from jaxsched.chapter import reproduce
    from jaxsched.compare import workflow

    seen = {}

    def fake_reproduce(preset, out, **kw):
        seen["reproduce"] = kw["tensorboard"]
        return tmp_path / "REPORT.md"

    def fake_compare(task, preset, out, **kw):
        seen["compare"] = kw["tensorboard"]
        raise SystemExit(0)

    monkeypatch.setattr(reproduce, "reproduce", fake_reproduce)
    monkeypatch.setattr(workflow, "run_preset", fake_compare)
    tb = str(tmp_path / "tb")
    assert cli.main(["reproduce", "--out", str(tmp_path), "--tensorboard", tb]) == 0
    with pytest.raises(SystemExit):
        cli.main(["compare", "--task", "regression", "--out", str(tmp_path), "--tensorboard",
                  tb])
    assert seen == {"reproduce": tb, "compare": tb}


def test_the_cli_logs_in_plain_lines(tmp_path, monkeypatch, capsys):
    # The runner's messages reach the command's stderr through the logger, one plain line.
    argv = ["train", "--model", "smoke", "--steps", "6", "--eval-every", "3",
            "--checkpoint-every", "3", "--chunk-size", "3", "--batch-size", "4",
            "--synthetic-train", "64", "--synthetic-test", "16", "--eval-examples", "16",
            "--data", "synthetic", "--out", str(tmp_path), "--no-progress"]
    with interrupted_at(monkeypatch, 3):
        cli.main(argv)
    capsys.readouterr()
    assert cli.main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if "resuming" in line] == [
        f"resuming {next((tmp_path / 'runs').iterdir()).name} from step 3"]
    assert logging.getLogger("jaxsched").handlers == []  # the command's handler is gone


@pytest.mark.slow
def test_a_reproduction_shows_all_its_runs_in_tensorboard(tmp_path, capsys):
    out, tb = tmp_path / "smoke", tmp_path / "tb"
    assert cli.main(["reproduce", "--preset", "smoke", "--out", str(out), "--data", "synthetic",
                     "--figures", "none", "--no-progress", "--tensorboard", str(tb)]) == 0
    runs = sorted(p.name for p in (out / "runs").iterdir())
    index = json.loads((out / "runs.json").read_text())
    assert len(runs) == len(index) == 13
    assert sorted(p.name for p in tb.iterdir()) == runs  # one TensorBoard run per run
    for name in runs:
        check_against_run(out / "runs" / name, tb / name)
