"""Run directories and atomic writes (jaxsched.train.results)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from jaxsched.train import results
from jaxsched.train.results import (
    RunDir,
    atomic_save_npy,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    canonical_json,
    config_key,
    list_runs,
)


def _no_temp_files(directory):
    return [p.name for p in directory.iterdir() if p.name.startswith(".")] == []


# ---------------------------------------------------------------------------------------------
# atomic writes


def test_atomic_writers_roundtrip(tmp_path):
    atomic_write_bytes(tmp_path / "a" / "b.bin", b"\x00\x01\xff")
    assert (tmp_path / "a" / "b.bin").read_bytes() == b"\x00\x01\xff"
    atomic_write_text(tmp_path / "t.txt", "héllo\n")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo\n"
    atomic_write_json(
        tmp_path / "j.json",
        {"b": np.float32(0.5), "a": np.arange(3), "c": np.int64(7), "d": [np.bool_(True)]},
    )
    assert json.loads((tmp_path / "j.json").read_text()) == {
        "a": [0, 1, 2],
        "b": 0.5,
        "c": 7,
        "d": [True],
    }
    arr = np.linspace(0, 1, 7, dtype=np.float32)
    atomic_save_npy(tmp_path / "x.npy", arr)
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), arr)
    # exactly the name given: np.save would otherwise append .npy to other names
    atomic_save_npy(tmp_path / "y.data", arr)
    assert (tmp_path / "y.data").exists() and not (tmp_path / "y.data.npy").exists()
    assert _no_temp_files(tmp_path)


def test_atomic_write_overwrites(tmp_path):
    atomic_write_text(tmp_path / "f", "one")
    atomic_write_text(tmp_path / "f", "two")
    assert (tmp_path / "f").read_text() == "two"
    assert _no_temp_files(tmp_path)


@pytest.mark.parametrize(
    "write",
    [
        lambda p, v: atomic_write_text(p, v),
        lambda p, v: atomic_write_bytes(p, v.encode()),
        lambda p, v: atomic_write_json(p, {"v": v}),
        lambda p, v: atomic_save_npy(p, np.array([len(v)])),
    ],
    ids=["text", "bytes", "json", "npy"],
)
def test_interrupted_write_keeps_previous_file(tmp_path, monkeypatch, write):
    target = tmp_path / "f"
    write(target, "old")
    before = target.read_bytes()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt("killed between write and rename")

    monkeypatch.setattr(results.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        write(target, "new contents")
    assert target.read_bytes() == before
    assert _no_temp_files(tmp_path), list(tmp_path.iterdir())


def test_interrupted_write_of_new_file_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(results.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk")))
    with pytest.raises(OSError, match="disk"):
        atomic_save_npy(tmp_path / "l.npy", np.zeros(3))
    assert list(tmp_path.iterdir()) == []


def test_failure_while_writing_data_keeps_previous(tmp_path, monkeypatch):
    atomic_write_json(tmp_path / "s.json", {"status": "running"})

    class Unserialisable:
        pass

    with pytest.raises(TypeError):
        atomic_write_json(tmp_path / "s.json", {"status": Unserialisable()})
    assert json.loads((tmp_path / "s.json").read_text()) == {"status": "running"}
    assert _no_temp_files(tmp_path)


# ---------------------------------------------------------------------------------------------
# config keys


def test_config_key_is_stable_and_order_free():
    a = {"optimizer": "adam", "lr": 1e-3, "steps": 1000, "sched": {"kind": "cosine", "end": 0.0}}
    b = {"sched": {"end": 0.0, "kind": "cosine"}, "steps": 1000, "lr": 1e-3, "optimizer": "adam"}
    assert config_key(a) == config_key(b)
    assert len(config_key(a)) == 12 and all(c in "0123456789abcdef" for c in config_key(a))
    # pinned: the key must not change between versions, or finished runs would be retrained
    assert canonical_json({"b": [1, 2.5], "a": None}) == '{"a":null,"b":[1,2.5]}'
    assert config_key({"b": [1, 2.5], "a": None}) == "e57f5d378654"


def test_config_key_normalises_containers_and_numpy_scalars():
    assert config_key({"m": (1, 2)}) == config_key({"m": [1, 2]})
    assert config_key({"x": np.float64(0.1), "n": np.int32(3)}) == config_key({"x": 0.1, "n": 3})
    assert config_key({"f": np.bool_(True)}) == config_key({"f": True})


def test_config_key_distinguishes_values():
    base = {"lr": 0.1, "steps": 100}
    keys = {
        config_key(base),
        config_key({**base, "lr": 0.10000000000000002}),  # one ulp above 0.1
        config_key({**base, "steps": 101}),
        config_key({**base, "seed": 0}),
        config_key({"lr": 0.1, "steps": "100"}),
        config_key({"lr": 0.1, "steps": True}),
        config_key({"lr": 0.1, "steps": 100.0}),
    }
    assert len(keys) == 7
    # float32 values keep their exact value instead of a rounded decimal
    assert config_key({"lr": np.float32(0.1)}) != config_key({"lr": 0.1})


@pytest.mark.parametrize(
    "bad, match",
    [
        ({1: "a"}, "keys must be strings"),
        ({"a": {"b": object()}}, "a.b"),
        ({"a": [1, {2}]}, r"a\[1\]"),
    ],
)
def test_config_key_rejects_ambiguous_values(bad, match):
    with pytest.raises(ValueError, match=match):
        config_key(bad)


def test_config_key_rejects_non_mapping():
    with pytest.raises(ValueError, match="config"):
        config_key([("a", 1)])


# ---------------------------------------------------------------------------------------------
# run directories


def test_rundir_roundtrip(tmp_path):
    run = RunDir(tmp_path, "cosine-abc")
    assert run.path == tmp_path / "cosine-abc"
    assert run.checkpoint_dir == run.path / "ckpt"
    assert run.params_dir == run.path / "params"
    assert not run.exists() and not run.is_finished()
    assert run.read_summary() is None
    assert run.load_eval() == []
    empty = run.load_losses()
    assert empty.dtype == np.float32 and empty.shape == (0,)
    with pytest.raises(FileNotFoundError):
        run.read_config()

    cfg = {"optimizer": "adam", "lr": 1e-3, "milestones": (10, 20), "data": "synthetic"}
    run.write_config(cfg)
    assert run.exists()
    assert run.read_config() == {**cfg, "milestones": [10, 20]}
    assert config_key(run.read_config()) == config_key(cfg)

    losses = np.array([2.3, 2.1, np.nan, 1.5], np.float64)
    run.save_losses(losses)
    got = run.load_losses()
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, losses.astype(np.float32))

    records = [{"step": 10, "loss": np.float32(1.25), "accuracy": 0.5}, {"step": 20, "loss": 1.0}]
    run.save_eval(records)
    assert run.load_eval() == [
        {"step": 10, "loss": 1.25, "accuracy": 0.5},
        {"step": 20, "loss": 1.0},
    ]

    run.write_summary({"status": "running", "step": 20})
    assert not run.is_finished()
    run.write_summary({"status": "finished", "final_loss": 0.05, "data": "synthetic"})
    assert run.is_finished()
    assert run.read_summary()["final_loss"] == 0.05
    assert _no_temp_files(run.path)


def test_rundir_interrupted_losses_write_keeps_previous(tmp_path, monkeypatch):
    run = RunDir(tmp_path, "r")
    run.save_losses(np.arange(5, dtype=np.float32))
    monkeypatch.setattr(results.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("kill")))
    with pytest.raises(OSError):
        run.save_losses(np.arange(10, dtype=np.float32))
    with pytest.raises(OSError):
        run.write_summary({"status": "finished"})
    monkeypatch.undo()
    np.testing.assert_array_equal(run.load_losses(), np.arange(5, dtype=np.float32))
    assert not run.is_finished()
    assert _no_temp_files(run.path)


def test_is_finished_tolerates_garbage_summary(tmp_path):
    run = RunDir(tmp_path, "r")
    run.path.mkdir()
    run.summary_path.write_text("{not json")
    assert not run.is_finished()
    run.summary_path.write_text('["finished"]')
    assert not run.is_finished()


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", ".hidden", None])
def test_rundir_rejects_bad_run_id(tmp_path, bad):
    with pytest.raises(ValueError, match="run_id"):
        RunDir(tmp_path, bad)


def test_rundir_validates_inputs(tmp_path):
    run = RunDir(tmp_path, "r")
    with pytest.raises(ValueError, match="losses"):
        run.save_losses(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="losses"):
        run.save_losses(np.array(["a"]))
    with pytest.raises(ValueError, match=r"records\[1\]"):
        run.save_eval([{"step": 1}, {"loss": 2.0}])
    with pytest.raises(ValueError, match="records"):
        run.save_eval({"step": 1})
    with pytest.raises(ValueError, match="config"):
        run.write_config({"f": lambda: 0})
    with pytest.raises(ValueError, match="summary"):
        run.write_summary(["finished"])
    assert not run.path.exists()


def test_list_runs(tmp_path):
    assert list_runs(tmp_path / "missing") == []
    for rid in ["b", "a", "c"]:
        RunDir(tmp_path, rid).write_config({"id": rid})
    (tmp_path / "no-config").mkdir()
    (tmp_path / ".tmp-thing").mkdir()
    (tmp_path / "file.txt").write_text("x")
    runs = list_runs(tmp_path)
    assert [r.run_id for r in runs] == ["a", "b", "c"]
    assert runs[0] == RunDir(tmp_path, "a")
    assert os.fspath(runs[1].path) == os.fspath(tmp_path / "b")
