"""Checkpoints of training state and final params (jaxsched.train.checkpoint)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from helpers import reap, sigkill

from jaxsched.train.checkpoint import Checkpointer, load_pytree, save_pytree


class OptState(NamedTuple):
    count: jax.Array
    mu: dict


def _state(seed: int = 0):
    rng = np.random.default_rng(seed)
    # every bf16 bit pattern class: random bits include NaN payloads, infs, subnormals, -0
    bf16_bits = rng.integers(0, 2**16, size=(8, 16), dtype=np.uint16)
    f32 = rng.standard_normal((5, 3)).astype(np.float32)
    f32[0, :3] = [-0.0, np.inf, np.nan]
    return {
        "params": {
            "w_bf16": jnp.asarray(bf16_bits.view(ml_dtypes.bfloat16)),
            "b_f32": jnp.asarray(f32),
            "np_f64": rng.standard_normal(4),
        },
        "opt": OptState(
            count=jnp.asarray(seed, jnp.int32),
            mu={"w": jnp.asarray(rng.standard_normal((8, 16)), jnp.bfloat16)},
        ),
        "ints": np.array([np.iinfo(np.int32).min, -1, 0, np.iinfo(np.int32).max], np.int32),
        "key_data": jax.random.key_data(jax.random.PRNGKey(seed + 12345)),  # uint32 [2]
        "typed_key": jax.random.key(seed + 7),
        "step": np.int64(seed * 100),
        "python_float": 0.5 + seed,
        "tuple": (jnp.zeros((0,), jnp.float32), np.uint8(seed)),
    }


def _bits(x):
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        return ("key", str(jax.random.key_impl(x)), np.asarray(jax.random.key_data(x)).tobytes())
    a = np.asarray(x)
    return (a.dtype.str, a.dtype.name, a.shape, a.tobytes())


def assert_bit_equal(got, want):
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert type(g) is type(w) or (isinstance(g, jax.Array) and isinstance(w, jax.Array)), (
            type(g),
            type(w),
        )
        assert _bits(g) == _bits(w)


def test_roundtrip_is_bit_exact(tmp_path):
    state = _state(3)
    with Checkpointer(tmp_path / "ck") as ck:
        assert ck.latest_step() is None
        ck.save(10, state)
        assert ck.latest_step() == 10
        restored = ck.restore(_state(0))  # target values are ignored, only its structure counts
    assert isinstance(restored["opt"], OptState)
    assert isinstance(restored["params"]["np_f64"], np.ndarray)
    assert isinstance(restored["params"]["w_bf16"], jax.Array)
    assert restored["params"]["w_bf16"].dtype == jnp.bfloat16
    assert isinstance(restored["python_float"], float)
    assert_bit_equal(restored, state)


def test_restore_into_numpy_target_gives_numpy(tmp_path):
    state = {"a": jnp.arange(6, dtype=jnp.bfloat16).reshape(2, 3), "b": jnp.ones(3, jnp.int32)}
    with Checkpointer(tmp_path) as ck:
        ck.save(0, state)
        got = ck.restore(jax.tree.map(np.asarray, state))
    assert all(type(x) is np.ndarray for x in jax.tree.leaves(got))
    assert_bit_equal(got, jax.tree.map(np.asarray, state))


def test_reopen_and_choose_step(tmp_path):
    with Checkpointer(tmp_path, max_to_keep=3) as ck:
        for step in (0, 5, 9):
            ck.save(step, _state(step))
    with Checkpointer(tmp_path, max_to_keep=3) as ck:
        assert ck.all_steps() == [0, 5, 9]
        assert_bit_equal(ck.restore(_state(0), step=5), _state(5))
        assert_bit_equal(ck.restore(_state(0)), _state(9))
        with pytest.raises(FileNotFoundError, match="step 4"):
            ck.restore(_state(0), step=4)


def test_max_to_keep(tmp_path):
    with Checkpointer(tmp_path, max_to_keep=2) as ck:
        for step in range(0, 50, 10):
            ck.save(step, _state(step))
            assert ck.all_steps() == [s for s in range(0, step + 1, 10)][-2:]
    assert sorted(os.listdir(tmp_path)) == ["30", "40"]


def test_no_checkpoint(tmp_path):
    with Checkpointer(tmp_path / "new") as ck:
        assert ck.latest_step() is None and ck.all_steps() == []
        with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
            ck.restore(_state())


def test_partial_checkpoints_are_ignored_and_cleaned(tmp_path):
    with Checkpointer(tmp_path, max_to_keep=2) as ck:
        ck.save(1, _state(1))
        ck.save(2, _state(2))
    # a save killed mid-write leaves orbax's temporary directory
    tmp = tmp_path / "3.orbax-checkpoint-tmp-1700000000123456"
    (tmp / "default").mkdir(parents=True)
    (tmp / "default" / "half_written").write_bytes(b"\x00" * 100)

    with Checkpointer(tmp_path, max_to_keep=2) as ck:
        assert ck.all_steps() == [1, 2] and ck.latest_step() == 2
        assert_bit_equal(ck.restore(_state(0)), _state(2))
        assert sorted(os.listdir(tmp_path)) == ["1", "2"]
        # the step that was lost can be saved again and counts normally towards max_to_keep
        ck.save(3, _state(3))
        ck.save(4, _state(4))
        assert ck.all_steps() == [3, 4]
        assert_bit_equal(ck.restore(_state(0)), _state(4))


def test_step_order(tmp_path):
    with Checkpointer(tmp_path) as ck:
        ck.save(5, _state(1))
        with pytest.raises(ValueError, match="step=3"):
            ck.save(3, _state(1))
        ck.save(5, _state(2))  # the newest step again: replaced
        assert ck.all_steps() == [5]
        assert_bit_equal(ck.restore(_state(0)), _state(2))
        with pytest.raises(ValueError, match="step"):
            ck.save(-1, _state(1))
        with pytest.raises(ValueError, match="step"):
            ck.save(6.0, _state(1))


def test_bad_arguments_and_close(tmp_path):
    with pytest.raises(ValueError, match="max_to_keep"):
        Checkpointer(tmp_path, max_to_keep=0)
    ck = Checkpointer(tmp_path)
    ck.close()
    ck.close()
    with pytest.raises(RuntimeError, match="closed"):
        ck.save(0, _state())


def test_structure_mismatch_is_an_error(tmp_path):
    with Checkpointer(tmp_path) as ck:
        ck.save(0, {"a": np.zeros(3, np.float32)})
        mismatch = r"missing from the checkpoint \['b'\], not in the target \['a'\]"
        with pytest.raises(ValueError, match=mismatch):
            ck.restore({"b": np.zeros(3, np.float32)})
        with pytest.raises(ValueError, match=r"with other shapes \[\('a', \(3,\), \(4,\)\)\]"):
            ck.restore({"a": np.zeros(4, np.float32)})
        assert_bit_equal(ck.restore({"a": np.ones(3, np.float32)}), {"a": np.zeros(3, np.float32)})


_KILL_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from jaxsched.train.checkpoint import Checkpointer, save_pytree

    ck = Checkpointer(sys.argv[1], max_to_keep=3)
    step = 0
    while True:
        # large enough that a save takes a while, so the kill lands inside one
        tree = {"x": np.full((1 << 21,), step, np.float32), "step": np.int64(step)}
        if sys.argv[2] == "pytree":
            save_pytree(sys.argv[1] + "-pytree", tree)
        else:
            ck.save(step, tree)
        print(step, flush=True)
        step += 1
    """
)


@pytest.mark.parametrize("saver", ["checkpointer", "pytree"])
def test_kill_during_saves_leaves_a_restorable_checkpoint(tmp_path, saver):
    directory = tmp_path / "ck"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    child = subprocess.Popen(
        [sys.executable, "-c", _KILL_CHILD, str(directory), saver],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        reported = -1
        deadline = time.monotonic() + 120
        while reported < 2 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            reported = int(line)
        assert reported >= 2, "child never saved"
        time.sleep(0.05)  # land somewhere inside a later save
        sigkill(child)
    finally:
        reap(child)
    target = {"x": np.zeros((1 << 21,), np.float32), "step": np.int64(0)}
    if saver == "pytree":
        # the newest complete tree: the last one reported, or the one whose save was killed
        # after it was renamed into place
        got = load_pytree(f"{directory}-pytree", target=target)
        assert got["step"] in (reported, reported + 1)
        np.testing.assert_array_equal(got["x"], np.full_like(target["x"], got["step"]))
        save_pytree(f"{directory}-pytree", target)
        assert_bit_equal(load_pytree(f"{directory}-pytree", target=target), target)
        return
    with Checkpointer(directory, max_to_keep=3) as ck:
        latest = ck.latest_step()
        # everything the child reported as saved is there
        assert latest is not None and latest >= reported
        got = ck.restore(target)
        assert got["step"] == latest
        np.testing.assert_array_equal(got["x"], np.full_like(target["x"], latest))
        ck.save(latest + 1, target)
        assert ck.latest_step() == latest + 1


# ---------------------------------------------------------------------------------------------
# save_pytree / load_pytree


def test_save_load_pytree(tmp_path):
    path = tmp_path / "run" / "params"
    save_pytree(path, _state(1))
    assert_bit_equal(load_pytree(path, target=_state(0)), _state(1))
    save_pytree(path, _state(2))  # replaces
    assert_bit_equal(load_pytree(path, target=_state(0)), _state(2))
    assert sorted(os.listdir(tmp_path / "run")) == ["params"]
    assert len(os.listdir(path)) == 1  # the previous tree is gone

    plain = load_pytree(path)  # no target: saved structure, NumPy leaves
    assert plain["params"]["w_bf16"].dtype == ml_dtypes.bfloat16
    assert isinstance(plain["params"]["w_bf16"], np.ndarray)
    assert _bits(plain["params"]["w_bf16"]) == _bits(_state(2)["params"]["w_bf16"])
    np.testing.assert_array_equal(plain["ints"], _state(2)["ints"])
    with pytest.raises(FileNotFoundError, match="no pytree"):
        load_pytree(tmp_path / "nothing")


# ---------------------------------------------------------------------------------------------
# orbax's public API only


_WITHOUT_PRIVATE_ORBAX = textwrap.dedent(
    """
    import sys
    import numpy as np
    import orbax.checkpoint
    import orbax.checkpoint._src as private

    # As if a release of orbax had moved its private event-loop module: orbax's own modules
    # keep the references they hold, a new import of it fails.
    del private.asyncio_utils
    sys.modules["orbax.checkpoint._src.asyncio_utils"] = None
    import jaxsched.train
    import jaxsched.train.runner
    from jaxsched.train.checkpoint import Checkpointer, load_pytree, save_pytree

    with Checkpointer(sys.argv[1]) as ck:
        ck.save(1, {"w": np.arange(4.0)})
        print(ck.restore({"w": np.zeros(4)})["w"].tolist())
        try:
            ck.save(2, {"f": print})  # a failure inside orbax is still its own error
        except ValueError as e:
            print("ValueError", "Unsupported type" in str(e))
    save_pytree(sys.argv[1] + "-tree", {"b": np.ones(2, np.float32)})
    print(load_pytree(sys.argv[1] + "-tree")["b"].tolist())
    """
)


def test_the_private_orbax_module_is_never_required(tmp_path):
    run = subprocess.run([sys.executable, "-c", _WITHOUT_PRIVATE_ORBAX, str(tmp_path / "ck")],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["[0.0, 1.0, 2.0, 3.0]", "ValueError True", "[1.0, 1.0]"]


def test_a_checkpoint_is_the_named_tree_for_plain_orbax(tmp_path):
    import orbax.checkpoint as ocp

    state = _state(2)
    with Checkpointer(tmp_path) as ck:
        ck.save(7, state)
    with ocp.CheckpointManager(tmp_path, item_handlers=ocp.StandardCheckpointHandler()) as m:
        names = sorted(x.name for x in jax.tree.leaves(m.item_metadata(7).tree))
        plain = m.restore(7)
    assert "opt.count" in names and "opt.mu.w" in names and "params.w_bf16" in names
    assert not any(n.isdigit() for n in names)  # no flattened {"0000": ...} leaves
    # NamedTuples come back as dicts of their fields, bit for bit
    np.testing.assert_array_equal(np.asarray(plain["opt"]["mu"]["w"]),
                                  np.asarray(state["opt"].mu["w"]))
    assert _bits(plain["params"]["b_f32"]) == _bits(state["params"]["b_f32"])
