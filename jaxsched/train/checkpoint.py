"""Checkpoints of training state and of final parameters, on top of orbax-checkpoint.

``Checkpointer`` keeps periodic checkpoints of an arbitrary pytree (params, optimizer state, PRNG
keys, step counters) in one directory, one subdirectory per step. orbax writes each step into a
temporary directory and renames it into place when complete, so a process killed mid-save
leaves only a temporary directory behind; ``latest_step`` and ``restore`` ignore it (and any step
directory without orbax's metadata file), and the next ``Checkpointer`` on that directory
removes it. Saves are synchronous: when ``save`` returns, the step is on disk.

``save_pytree`` / ``load_pytree`` store one pytree (the final eval params) at a path, replacing
any previous one atomically.

Leaves may be JAX arrays (any sharding), NumPy arrays, NumPy/Python scalars and typed PRNG keys
(``jax.random.key``), which are stored as their key data and rebuilt on restore. Every dtype
round-trips bit-exactly, bfloat16 included.

Example::

    ckpt = Checkpointer(run.checkpoint_dir, max_to_keep=2)
    start = ckpt.latest_step()
    if start is not None:
        state = ckpt.restore(state)          # same structure, dtypes and shardings as `state`
    ...
    ckpt.save(step, state)
    ckpt.close()
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import uuid
import warnings
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxsched._validate import check_int

__all__ = ["Checkpointer", "load_pytree", "save_pytree"]

# orbax writes this file into a step directory before renaming it into place; a step
# directory without it did not come from a completed orbax save.
_METADATA_FILE = "_CHECKPOINT_METADATA"
_TMP_MARKER = ".orbax-checkpoint-tmp"


# --------------------------------------------------------------------------------------------
# Leaves orbax cannot store directly


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _is_scalar(x: Any) -> bool:
    return isinstance(x, (bool, int, float, complex, np.generic))


def _is_empty(x: Any) -> bool:
    return getattr(x, "size", None) == 0


def _to_storable(x: Any) -> Any:
    if _is_empty(x):
        # orbax refuses zero-size arrays; they carry no data, so a scalar stands in for them
        # and restore takes the (empty) leaf from the target.
        return np.zeros((), np.uint8)
    if _is_key(x):
        return jax.random.key_data(x)
    if _is_scalar(x):
        return np.asarray(x)
    return x


def _from_stored(stored: Any, like: Any) -> Any:
    # Give back the kind of leaf the target had.
    if _is_empty(like):
        return like.copy() if isinstance(like, np.ndarray) else like
    if _is_key(like):
        return jax.random.wrap_key_data(stored, impl=jax.random.key_impl(like))
    if isinstance(like, np.generic):
        return like.dtype.type(np.asarray(stored))
    if _is_scalar(like):
        return type(like)(np.asarray(stored).item())
    return stored


def _storable(tree: Any) -> Any:
    return jax.tree.map(_to_storable, tree)


def _restored(stored_tree: Any, target: Any) -> Any:
    return jax.tree.map(_from_stored, stored_tree, target)


def _fsync_tree(path: pathlib.Path) -> None:
    # orbax renames complete directories into place but does not fsync them; do it so that a
    # checkpoint which `save` reported survives a power cut as well as a killed process.
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            with contextlib.suppress(OSError):
                fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        _fsync_dir(pathlib.Path(dirpath))
    _fsync_dir(path.parent)


def _fsync_dir(path: pathlib.Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------------------------
# Periodic checkpoints


class Checkpointer:
    """Periodic, atomic checkpoints of a pytree in ``directory`` (one subdirectory per step).

    Args:
      directory: where the checkpoints live; created if missing.
      max_to_keep: how many of the newest checkpoints to keep (older ones are deleted after
        each save).

    ``save(step, state)`` blocks until the checkpoint is complete and renamed into place.
    ``restore(target, step=None)`` reads the newest complete checkpoint (or ``step``) into the
    structure, dtypes, shapes and shardings of ``target``: NumPy leaves come back as NumPy,
    JAX leaves as JAX arrays placed like the target's.
    """

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: int = 2):
        check_int("max_to_keep", max_to_keep, minimum=1)
        self.directory = pathlib.Path(directory).absolute()
        self.max_to_keep = int(max_to_keep)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._remove_incomplete()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=self.max_to_keep,
            create=True,
            enable_async_checkpointing=False,
            cleanup_tmp_directories=True,
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)
        self._closed = False

    def __repr__(self) -> str:
        return f"Checkpointer({str(self.directory)!r}, max_to_keep={self.max_to_keep})"

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- bookkeeping ---------------------------------------------------------------------------

    def _step_dirs(self) -> dict[int, pathlib.Path]:
        out = {}
        if not self.directory.is_dir():
            return out
        for entry in self.directory.iterdir():
            if entry.is_dir() and entry.name.isdigit():
                out[int(entry.name)] = entry
        return out

    def _remove_incomplete(self) -> None:
        # A step directory without metadata is not an orbax checkpoint (orbax renames only
        # finished ones into place); left there it would count against max_to_keep and block
        # a later save at that step.
        for _, path in sorted(self._step_dirs().items()):
            if not (path / _METADATA_FILE).is_file():
                warnings.warn(
                    f"removing incomplete checkpoint {path} (no {_METADATA_FILE})",
                    RuntimeWarning,
                    stacklevel=3,
                )
                shutil.rmtree(path, ignore_errors=True)

    def all_steps(self) -> list[int]:
        """The steps of every complete checkpoint, ascending."""
        return sorted(
            step for step, path in self._step_dirs().items() if (path / _METADATA_FILE).is_file()
        )

    def latest_step(self) -> int | None:
        """The newest complete checkpoint's step, or ``None`` when there is none."""
        steps = self.all_steps()
        return steps[-1] if steps else None

    # -- save / restore ------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")

    def save(self, step: int, state: Any) -> None:
        """Write ``state`` as the checkpoint of ``step`` and wait until it is on disk.

        Steps must not go backwards: saving a step below the newest checkpoint raises
        ``ValueError`` (restore from it first and delete the newer ones if that is intended).
        Saving the newest step again replaces it.
        """
        self._check_open()
        check_int("step", step, minimum=0)
        step = int(step)
        self._remove_incomplete()
        latest = self.latest_step()
        if latest is not None and step < latest:
            raise ValueError(
                f"step must be >= the newest checkpoint's step {latest} in {self.directory}, "
                f"got step={step}"
            )
        if latest == step:
            shutil.rmtree(self.directory / str(step))
            self._manager.reload()
        saved = self._manager.save(step, args=ocp.args.StandardSave(_storable(state)), force=True)
        self._manager.wait_until_finished()
        if saved is False:
            raise RuntimeError(f"orbax declined to save step {step} in {self.directory}")
        _fsync_tree(self.directory / str(step))

    def restore(self, target: Any, step: int | None = None) -> Any:
        """The checkpoint of ``step`` (default: the newest) in the structure of ``target``.

        ``target`` supplies the tree structure, shapes and dtypes (and, for JAX arrays, the
        sharding); its values are not used. Raises ``FileNotFoundError`` when there is no
        complete checkpoint (for that step).
        """
        self._check_open()
        steps = self.all_steps()
        if step is None:
            if not steps:
                raise FileNotFoundError(f"no complete checkpoint in {self.directory}")
            step = steps[-1]
        else:
            check_int("step", step, minimum=0)
            if step not in steps:
                raise FileNotFoundError(
                    f"no complete checkpoint for step {step} in {self.directory}; "
                    f"available steps: {steps}"
                )
        self._manager.reload()
        stored = self._manager.restore(int(step), args=ocp.args.StandardRestore(_storable(target)))
        return _restored(stored, target)

    def close(self) -> None:
        """Wait for pending work and release orbax's resources. Safe to call twice."""
        if not self._closed:
            self._manager.wait_until_finished()
            self._manager.close()
            self._closed = True


# --------------------------------------------------------------------------------------------
# One pytree at a path (final eval params)


def _recover(path: pathlib.Path) -> None:
    # save_pytree swaps a complete new copy in with two renames; if a kill fell between them,
    # the complete copy is still beside the (now missing) destination: finish the swap.
    if path.exists():
        return
    candidates = sorted(path.parent.glob(f".{path.name}.new-*"))
    complete = [c for c in candidates if (c / _METADATA_FILE).is_file()]
    if complete:
        os.replace(complete[-1], path)
        _fsync_dir(path.parent)


def save_pytree(path: str | os.PathLike, tree: Any) -> None:
    """Save ``tree`` at ``path`` (a directory), atomically replacing anything saved there.

    The tree is written to a hidden sibling directory first; only a complete copy is renamed
    to ``path``, so readers see the old tree or the new one, never a partial one.

    Example::

        save_pytree(run.params_dir, eval_params(opt_state, params))
        params = load_pytree(run.params_dir, target=params)
    """
    path = pathlib.Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    _recover(path)
    token = uuid.uuid4().hex[:12]
    new = path.parent / f".{path.name}.new-{token}"
    old = path.parent / f".{path.name}.old-{token}"
    try:
        with ocp.Checkpointer(ocp.StandardCheckpointHandler()) as ckptr:
            ckptr.save(new, args=ocp.args.StandardSave(_storable(tree)))
        _fsync_tree(new)
        if path.exists():
            os.replace(path, old)
        os.replace(new, path)
        _fsync_dir(path.parent)
    except BaseException:
        if not path.exists() and (new / _METADATA_FILE).is_file():
            # the old copy is gone already: keep the complete new one for _recover
            raise
        shutil.rmtree(new, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
    # leftovers of earlier interrupted saves
    for stale in path.parent.glob(f".{path.name}.new-*"):
        shutil.rmtree(stale, ignore_errors=True)


def load_pytree(path: str | os.PathLike, target: Any = None) -> Any:
    """Load the tree saved at ``path`` by ``save_pytree``.

    With ``target``, the result has its structure, dtypes and leaf kinds (NumPy or JAX arrays,
    scalars, typed keys). Without it, the saved structure comes back with dicts for
    mappings and NumPy arrays as leaves (typed keys as their uint32 key data).
    """
    path = pathlib.Path(path).absolute()
    _recover(path)
    if not (path / _METADATA_FILE).is_file():
        raise FileNotFoundError(f"no pytree saved at {path}")
    with ocp.Checkpointer(ocp.StandardCheckpointHandler()) as ckptr:
        if target is None:
            stored = ckptr.restore(path)
            return jax.tree.map(np.asarray, stored)
        stored = ckptr.restore(path, args=ocp.args.StandardRestore(_storable(target)))
    return _restored(stored, target)
