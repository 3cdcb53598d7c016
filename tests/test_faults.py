"""Faults around checkpoints and output directories: damaged checkpoints, failed writes (a full
disk), two processes on one output directory, and several JAX processes on CPU."""

from __future__ import annotations

import errno
import glob
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import reap, sigkill
from test_checkpoint import _state, assert_bit_equal

from jaxsched import _io
from jaxsched._io import OutDirLockedError, atomic_write_bytes, exclusive_dir, fsync_dir
from jaxsched.train import checkpoint as ckpt
from jaxsched.train.checkpoint import (
    DIGEST_FILE,
    Checkpointer,
    CorruptCheckpointError,
    load_pytree,
    save_pytree,
)

SCRIPTS = pathlib.Path(__file__).parent / "scripts"
ENV = {**os.environ, "JAX_PLATFORMS": "cpu"}


def _big_state(seed: int):
    # Random float32 leaves large enough that OCDBT stores them in data files of their own
    # (values over 1 KiB are not inlined into the b-tree nodes), as a real model's are.
    rng = np.random.default_rng(seed + 100)
    return {**_state(seed % 256), "seed": np.int64(seed),
            "w_big": rng.standard_normal((64, 256)).astype(np.float32)}


TARGET = _big_state(0)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """Checkpoints of steps 800 and 1000, written once; each test gets a copy."""
    d = tmp_path_factory.mktemp("pristine") / "ck"
    with Checkpointer(d) as ck:
        ck.save(800, _big_state(800))
        ck.save(1000, _big_state(1000))
    return d


@pytest.fixture
def ck_dir(pristine, tmp_path):
    d = tmp_path / "ck"
    shutil.copytree(pristine, d)
    return d


# ---------------------------------------------------------------------------------------------
# What orbax writes in a step directory, and what the digest covers


def test_step_layout_and_digest(ck_dir):
    step = ck_dir / "1000"
    files = sorted(str(p.relative_to(step)) for p in step.rglob("*") if p.is_file())
    data = [f for f in files if f.startswith("default/ocdbt.process_0/d/")]
    assert {"_CHECKPOINT_METADATA", "commit_success.txt", DIGEST_FILE, "default/_METADATA",
            "default/_sharding", "default/manifest.ocdbt", "default/array_metadatas/process_0",
            "default/ocdbt.process_0/manifest.ocdbt"} <= set(files)
    assert data and any(f.startswith("default/d/") for f in files)
    assert max(os.path.getsize(step / f) for f in data) > 32 * 1024  # w_big is stored there
    digest = json.loads((step / DIGEST_FILE).read_text())
    assert sorted(digest["files"]) == [f for f in files if f.startswith("default/")]
    for rel, (size, _) in digest["files"].items():
        assert os.path.getsize(step / rel) == size


# ---------------------------------------------------------------------------------------------
# Damaged checkpoints


def _data_files(step_dir):
    return sorted(glob.glob(f"{step_dir}/default/ocdbt.process_0/d/*"))


def _truncate_half(step_dir):
    for f in _data_files(step_dir):
        os.truncate(f, os.path.getsize(f) // 2)
    return _data_files(step_dir)[0]


def _truncate_zero(step_dir):
    for f in _data_files(step_dir):
        os.truncate(f, 0)
    return _data_files(step_dir)[0]


def _zero(step_dir):
    for f in _data_files(step_dir):
        size = os.path.getsize(f)
        with open(f, "r+b") as fh:
            fh.write(b"\0" * size)
    return _data_files(step_dir)[0]


def _flip_bytes(step_dir):
    # A few bytes inside the largest data file: zstd stores incompressible float data as raw
    # blocks without a checksum, so orbax restores such a file without complaint.
    f = max(_data_files(step_dir), key=os.path.getsize)
    with open(f, "r+b") as fh:
        fh.seek(os.path.getsize(f) // 2)
        fh.write(b"\xff" * 16)
    return f


def _delete_data(step_dir):
    files = _data_files(step_dir)
    for f in files:
        os.remove(f)
    return files[0]


def _delete_root_node(step_dir):
    (f,) = glob.glob(f"{step_dir}/default/d/*")
    os.remove(f)
    return f


def _truncate_manifest(step_dir):
    f = f"{step_dir}/default/manifest.ocdbt"
    os.truncate(f, 5)
    return f


def _delete_metadata(step_dir):
    f = f"{step_dir}/default/_METADATA"
    os.remove(f)
    return f


def _garbage_metadata(step_dir):
    f = f"{step_dir}/default/_METADATA"
    pathlib.Path(f).write_text("{not json")
    return f


def _delete_item(step_dir):
    shutil.rmtree(f"{step_dir}/default")
    return f"{step_dir}/default/_METADATA"  # the first file the digest finds missing


DAMAGE = {
    "truncate_half": _truncate_half,
    "truncate_zero": _truncate_zero,
    "zero": _zero,
    "flip_bytes": _flip_bytes,
    "delete_data": _delete_data,
    "delete_root_node": _delete_root_node,
    "truncate_manifest": _truncate_manifest,
    "delete_metadata": _delete_metadata,
    "garbage_metadata": _garbage_metadata,
    "delete_item": _delete_item,
}

def _check_fallback(ck_dir, culprit, lines, got, what="damaged"):
    assert got is not None
    step, tree = got
    assert step == 800
    assert_bit_equal(tree, _big_state(800))
    assert len(lines) == 1 and "\n" not in lines[0]
    assert f"checkpoint step 1000 in {ck_dir} is {what}" in lines[0]
    assert culprit in lines[0]
    assert f"moved to {ck_dir / 'quarantine' / '1000'}" in lines[0]
    assert lines[0].endswith("trying step 800")
    # set aside, not deleted, and never listed again
    assert (ck_dir / "quarantine" / "1000" / "_CHECKPOINT_METADATA").exists()
    assert sorted(os.listdir(ck_dir)) == ["800", "quarantine"]
    with Checkpointer(ck_dir) as again:
        assert again.all_steps() == [800]
        again.save(1000, _big_state(1001))  # training goes on past the bad step
        assert again.restore_latest(TARGET, log=lines.append)[0] == 1000
    assert len(lines) == 1


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_newest_falls_back_to_previous(ck_dir, damage):
    culprit = DAMAGE[damage](ck_dir / "1000")
    lines = []
    with Checkpointer(ck_dir) as ck:
        assert ck.all_steps() == [800, 1000]  # orbax still lists the damaged step
        with pytest.raises(CorruptCheckpointError, match="1000") as e:
            ck.restore(TARGET)  # an explicit restore names the damage and moves nothing
        assert ck.all_steps() == [800, 1000]
        got = ck.restore_latest(TARGET, log=lines.append)
    assert str(e.value.path) == culprit
    _check_fallback(ck_dir, culprit, lines, got)


def _unseal(step_dir):
    """A save killed after orbax's rename and before the seal: the step has no digest."""
    (step_dir / DIGEST_FILE).unlink()


@pytest.mark.parametrize("damage", [None, "truncate_half", "delete_metadata"])
def test_a_step_without_its_digest_is_incomplete(ck_dir, damage):
    # Incomplete whatever its files hold: no read of them decides it.
    _unseal(ck_dir / "1000")
    if damage:
        DAMAGE[damage](ck_dir / "1000")
    lines = []
    with Checkpointer(ck_dir) as ck:
        assert ck.all_steps() == [800] and ck.latest_step() == 800  # never listed
        with pytest.raises(FileNotFoundError, match="no complete checkpoint for step 1000"):
            ck.restore(TARGET, step=1000)
        assert_bit_equal(ck.restore(TARGET), _big_state(800))
        got = ck.restore_latest(TARGET, log=lines.append)
    assert lines[0].startswith(f"checkpoint step 1000 in {ck_dir} is incomplete (no {DIGEST_FILE}")
    _check_fallback(ck_dir, "its save did not finish", lines, got, what="incomplete")


def test_save_sets_an_incomplete_step_aside(ck_dir):
    _unseal(ck_dir / "1000")
    lines = []
    with Checkpointer(ck_dir, log=lines.append) as ck:
        ck.save(1000, _big_state(1001))  # the step the killed save left, saved again
        assert ck.all_steps() == [800, 1000]
        assert_bit_equal(ck.restore(TARGET), _big_state(1001))
    assert len(lines) == 1 and "step 1000" in lines[0] and "is incomplete" in lines[0]
    assert os.listdir(ck_dir / "quarantine") == ["1000"]


def test_all_damaged_gives_none(ck_dir):
    _truncate_half(ck_dir / "1000")
    _delete_metadata(ck_dir / "800")
    lines = []
    with Checkpointer(ck_dir) as ck:
        assert ck.restore_latest(TARGET, log=lines.append) is None
        assert ck.all_steps() == [] and ck.latest_step() is None
    assert len(lines) == 2
    assert lines[0].endswith("trying step 800") and lines[1].endswith("no checkpoint left")
    assert sorted(os.listdir(ck_dir / "quarantine")) == ["1000", "800"]
    with Checkpointer(ck_dir) as ck:  # a fresh start saves as usual
        ck.save(200, _big_state(200))
        assert ck.restore_latest(TARGET)[0] == 200


def test_repeated_damage_of_one_step_is_kept_apart(ck_dir):
    lines = []
    for n in range(2):
        _truncate_half(ck_dir / "1000")
        with Checkpointer(ck_dir) as ck:
            assert ck.restore_latest(TARGET, log=lines.append)[0] == 800
            ck.save(1000, _big_state(1000 + n))
    assert sorted(os.listdir(ck_dir / "quarantine")) == ["1000", "1000.1"]
    assert lines[1].split("moved to ")[1].startswith(str(ck_dir / "quarantine" / "1000.1"))


def test_structure_mismatch_is_not_damage(ck_dir):
    lines = []
    with Checkpointer(ck_dir) as ck:
        with pytest.raises(ValueError, match="missing from the checkpoint") as e:
            ck.restore_latest({**TARGET, "extra": np.zeros(2)}, log=lines.append)
        assert not isinstance(e.value, CorruptCheckpointError)
        assert ck.all_steps() == [800, 1000]
    assert lines == [] and not (ck_dir / "quarantine").exists()


def test_no_checkpoint_gives_none(tmp_path):
    with Checkpointer(tmp_path / "empty") as ck:
        assert ck.restore_latest(TARGET, log=pytest.fail) is None


def test_killed_saves_are_still_cleaned(ck_dir):
    # a save killed before orbax's rename: temporary directories of either naming
    for name in ("1200.orbax-checkpoint-tmp", "1400.orbax-checkpoint-tmp-1700000000123456"):
        (ck_dir / name / "default").mkdir(parents=True)
        (ck_dir / name / "default" / "half").write_bytes(b"\0" * 100)
    _truncate_half(ck_dir / "1000")
    with Checkpointer(ck_dir) as ck:
        assert ck.all_steps() == [800, 1000]
        assert ck.restore_latest(TARGET, log=lambda _: None)[0] == 800
    assert sorted(os.listdir(ck_dir)) == ["800", "quarantine"]


def test_damaged_pytree_is_an_error(tmp_path):
    path = tmp_path / "params"
    save_pytree(path, _big_state(1))
    (step,) = os.listdir(path)
    _flip_bytes(path / step)
    with pytest.raises(CorruptCheckpointError, match="SHA-256"):
        load_pytree(path, target=TARGET)
    with pytest.raises(CorruptCheckpointError, match="SHA-256"):
        load_pytree(path)
    save_pytree(path, _big_state(2))  # a damaged tree is replaced like any other
    (step,) = os.listdir(path)
    assert_bit_equal(load_pytree(path, target=TARGET), _big_state(2))
    (path / step / DIGEST_FILE).unlink()  # without a digest the tree is incomplete
    for target in (TARGET, None):
        with pytest.raises(FileNotFoundError, match=f"step {step} has no {DIGEST_FILE}"):
            load_pytree(path, target=target)


_USER_SCENARIO = textwrap.dedent(
    """
    import sys
    import time
    import numpy as np
    from jaxsched.train.checkpoint import Checkpointer

    def state(step):
        rng = np.random.default_rng(step)
        return {"w": rng.standard_normal((64, 256)).astype(np.float32), "step": np.int64(step)}

    if sys.argv[1] == "train":
        with Checkpointer(sys.argv[2]) as ck:
            for step in range(200, 1001, 200):
                ck.save(step, state(step))
                print(step, flush=True)
            time.sleep(120)  # training on towards 1200 when the kill comes
    for directory in sys.argv[2:]:  # resume
        with Checkpointer(directory) as ck:
            got = ck.restore_latest(state(0))
        ok = got is not None and all(np.array_equal(got[1][k], v) for k, v in state(got[0]).items())
        print(got[0] if got else None, ok, flush=True)
    """
)


def test_user_scenario_kill_truncate_rerun(tmp_path):
    """SIGKILL after the checkpoints at 800 and 1000, damage 1000, run again.

    Once with 1000's data files truncated, and once with 1000 as a save killed between orbax's
    rename and the seal leaves it (no digest): damaged and incomplete, both set aside.
    """
    d, unsealed = tmp_path / "ck", tmp_path / "unsealed"
    child = subprocess.Popen([sys.executable, "-c", _USER_SCENARIO, "train", str(d)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV)
    try:
        while (line := child.stdout.readline()) and int(line) < 1000:
            pass
        sigkill(child)
    finally:
        reap(child)
    assert int(line) == 1000
    assert sorted(os.listdir(d)) == ["1000", "800"]
    shutil.copytree(d, unsealed)
    _unseal(unsealed / "1000")
    _truncate_half(d / "1000")
    rerun = subprocess.run(
        [sys.executable, "-c", _USER_SCENARIO, "resume", str(d), str(unsealed)],
        capture_output=True, text=True, env=ENV, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.split() == ["800", "True", "800", "True"]
    # one line on stderr per directory: no asyncio "Event loop is closed" tracebacks, no orbax
    # logs
    lines = rerun.stderr.splitlines()
    assert len(lines) == 2, rerun.stderr
    for directory, what, text in zip((d, unsealed), ("damaged", "incomplete"), lines,
                                     strict=True):
        assert text.startswith(f"checkpoint step 1000 in {directory} is {what}")
        assert text.endswith("trying step 800")


# ---------------------------------------------------------------------------------------------
# Failed writes (a full disk)


def _fsync_fails_inside(monkeypatch, root, err=errno.ENOSPC):
    """fsync(2) fails with ``err`` for files under ``root``.

    Where a full disk shows up: with delayed allocation (ext4, XFS) and on NFS, write(2) only
    copies into the page cache and the allocation fails at write-back, which fsync reports.
    Here it fails after orbax has renamed the step into place, the latest a save can fail.
    """
    real_fsync, real_open = os.fsync, os.open
    paths = {}

    def opening(path, *args, **kw):
        fd = real_open(path, *args, **kw)
        paths[fd] = os.fspath(path)
        return fd

    def fsync(fd):
        if paths.get(fd, "").startswith(str(root)):
            raise OSError(err, os.strerror(err))
        return real_fsync(fd)

    monkeypatch.setattr(os, "open", opening)
    monkeypatch.setattr(os, "fsync", fsync)


def test_save_fsync_failure_keeps_previous(ck_dir, monkeypatch):
    with Checkpointer(ck_dir) as ck:
        _fsync_fails_inside(monkeypatch, ck_dir / "1200")
        with pytest.raises(OSError) as e:
            ck.save(1200, _big_state(1200))
        monkeypatch.undo()
        assert e.value.errno == errno.ENOSPC and e.value.filename == str(ck_dir)
        assert "step 1200 not written" in str(e.value)
        assert ck.all_steps() == [800, 1000] and ck.latest_step() == 1000
        assert_bit_equal(ck.restore(TARGET), _big_state(1000))
    assert sorted(os.listdir(ck_dir)) == ["1000", "800"]  # nothing half-written left
    with Checkpointer(ck_dir) as ck:
        assert ck.all_steps() == [800, 1000]
        ck.save(1200, _big_state(1200))
        assert ck.all_steps() == [1000, 1200]


def test_save_pytree_fsync_failure_keeps_previous(tmp_path, monkeypatch):
    path = tmp_path / "params"
    save_pytree(path, _big_state(1))
    _fsync_fails_inside(monkeypatch, path / "1")
    with pytest.raises(OSError) as e:
        save_pytree(path, _big_state(2))
    monkeypatch.undo()
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(path)
    assert os.listdir(path) == ["0"]
    assert_bit_equal(load_pytree(path, target=TARGET), _big_state(1))


def test_atomic_writer_failure_keeps_previous(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    atomic_write_bytes(target, b"old")
    _fsync_fails_inside(monkeypatch, tmp_path / ".results.json.")
    with pytest.raises(OSError) as e:
        atomic_write_bytes(target, b"new" * 1000)
    monkeypatch.undo()
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(target)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["results.json"]


def test_fsync_dir_reports_io_errors(tmp_path, monkeypatch):
    def failing(err):
        def fsync(fd):
            raise OSError(err, os.strerror(err))
        return fsync

    monkeypatch.setattr(os, "fsync", failing(errno.EINVAL))  # cannot fsync directories here
    fsync_dir(tmp_path)
    monkeypatch.setattr(os, "fsync", failing(errno.EIO))
    with pytest.raises(OSError, match="Input/output error") as e:
        fsync_dir(tmp_path)
    assert e.value.filename == str(tmp_path)


def _can_mount_tmpfs():
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs none /mnt"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.mark.parametrize("mode", ["fsize", "fill"])
def test_full_disk_in_the_kernel(tmp_path, mode):
    """Writes that fail in write(2), inside tensorstore's C++ writer as in Python."""
    script = [sys.executable, str(SCRIPTS / "full_disk.py"), str(tmp_path), mode]
    if mode == "fill":
        if not _can_mount_tmpfs():
            pytest.skip("no user namespaces to mount a small tmpfs in")
        script = ["unshare", "-rm", "sh", "-c",
                  f"mount -t tmpfs -o size=2m tmpfs {tmp_path} && exec \"$@\"", "sh", *script]
    run = subprocess.run(script, capture_output=True, text=True, env=ENV, timeout=180)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # no orbax error logs: the exception says it all
    out = json.loads(run.stdout)
    want = "ENOSPC" if mode == "fill" else "EFBIG"
    for key, filename in (("save", tmp_path / "ck"), ("save_pytree", tmp_path / "params"),
                          ("atomic", tmp_path / "file.bin")):
        assert out[key]["type"] == "OSError" and out[key]["errno"] == want, out[key]
        assert out[key]["filename"] == str(filename)
    assert out["steps_after_failure"] == [800] and out["latest_after_failure"] == 800
    assert out["listing"] == ["800"] and out["params_listing"] == ["0"]
    assert out["dir_listing"] == ["ck", "file.bin", "params"]  # no temporary files left
    assert out["steps_reopened"] == [800] and out["restored_800_exact"]
    assert out["params_old_exact"] and out["file_old"] == "old"
    assert out["steps_after_retry"] == [800, 1000] and out["retry_exact"]


def test_errors_that_are_not_os_errors_pass_unchanged(tmp_path):
    with Checkpointer(tmp_path) as ck:
        with pytest.raises(ValueError, match="Unsupported type"):
            ck.save(1, {"f": lambda: None})  # orbax cannot store a function
        assert ck.all_steps() == []
        assert [p for p in os.listdir(tmp_path) if ckpt._TMP_MARK in p] == []


# ---------------------------------------------------------------------------------------------
# One output directory, one process


def test_lock_refuses_a_second_holder_in_this_process(tmp_path):
    out = tmp_path / "out"
    with exclusive_dir(out) as held:
        assert held == out
        holder = json.loads((out / _io.LOCK_FILE).read_text())
        assert holder["pid"] == os.getpid()
        with pytest.raises(OutDirLockedError) as e, exclusive_dir(out):
            pass
        assert e.value.directory == out and e.value.holder["pid"] == os.getpid()
        assert str(out) in str(e.value) and f"pid {os.getpid()}" in str(e.value)
        assert isinstance(e.value, RuntimeError)
    with exclusive_dir(out):  # released by the end of the block
        pass
    with pytest.raises(KeyError), exclusive_dir(out):
        raise KeyError("the block failed")
    with exclusive_dir(out):  # released by a failing block too
        pass


def test_lock_disabled_takes_nothing(tmp_path):
    out = tmp_path / "out"
    with exclusive_dir(out, enabled=False):
        assert not out.exists()
    with exclusive_dir(out), exclusive_dir(out, enabled=False):
        pass


def test_lock_refuses_a_symlinked_lock_file(tmp_path):
    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    out.mkdir()
    victim.write_text("not the lock's")
    (out / _io.LOCK_FILE).symlink_to(victim)
    with pytest.raises(OSError, match="symbolic link") as e, exclusive_dir(out):
        pass
    assert e.value.errno == errno.ELOOP and e.value.filename == str(out / _io.LOCK_FILE)
    assert victim.read_text() == "not the lock's"  # neither truncated nor written
    (out / _io.LOCK_FILE).unlink()
    dangling = tmp_path / "created-through-the-link"
    (out / _io.LOCK_FILE).symlink_to(dangling)
    with pytest.raises(OSError, match="symbolic link"), exclusive_dir(out):
        pass
    assert not dangling.exists()


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from jaxsched._io import exclusive_dir
    with exclusive_dir(sys.argv[1]):
        print("held", flush=True)
        time.sleep(120)
    """
)


def test_lock_held_by_another_process_and_released_when_it_is_killed(tmp_path):
    out = tmp_path / "out"
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, str(out)], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"held\n"
        with pytest.raises(OutDirLockedError, match=f"pid {child.pid}, host ") as e:
            with exclusive_dir(out):
                pass
        assert e.value.holder["pid"] == child.pid
        sigkill(child)
    finally:
        reap(child)
    with exclusive_dir(out):
        assert json.loads((out / _io.LOCK_FILE).read_text())["pid"] == os.getpid()


# ---------------------------------------------------------------------------------------------
# Several JAX processes on CPU


@pytest.mark.slow
@pytest.mark.parametrize("local_devices", [1, 2])
def test_two_jax_processes_on_cpu(tmp_path, local_devices):
    """psum, allgather, shards, orbax and Checkpointer (with a damaged step) over 2 processes."""
    run = subprocess.run(
        [sys.executable, str(SCRIPTS / "launch_two_processes.py"), str(tmp_path),
         str(local_devices)],
        capture_output=True, text=True, env=ENV, timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    (recipe,) = [x for x in lines if x.get("launcher") == "env_var_recipe"]
    assert recipe["result"] == "ValueError: Number of processes must be defined."
    reports = [x for x in lines if "process" in x]
    assert sorted(r["process"] for r in reports) == [0, 1]
    for r in reports:
        assert r["checks_failed"] == [], r
        assert len(r["local_devices"]) == local_devices
        assert len(r["global_devices"]) == 2 * local_devices
        assert r["cpu_collectives"] == "gloo"
        assert "non-addressable" in r["np_asarray_of_global_array"]
    assert reports[0]["fallback_report"] == reports[1]["fallback_report"]
    assert json.loads((tmp_path / "summary.json").read_text())["sum"] > 0
