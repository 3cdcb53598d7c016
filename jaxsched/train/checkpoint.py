"""Checkpoints of training state and of final parameters, on top of orbax's ``CheckpointManager``.

``Checkpointer`` keeps periodic checkpoints of an arbitrary pytree (params, optimizer state, PRNG
keys, step counters) in one directory, one subdirectory per step. All step bookkeeping is orbax's:
it writes each step into a temporary directory and renames it into place when complete, lists
the finalized steps (``all_steps``, ``latest_step``), deletes all but the newest ``max_to_keep``
and removes the temporary directories a killed save leaves behind. Saves are synchronous: when
``save`` returns, the step is on disk (and fsynced, which orbax does not do).

``save_pytree`` / ``load_pytree`` store one pytree (the final eval params) at a path through the
same manager with ``max_to_keep=1``: a new save is a new step, so readers see the old tree or the
new one, never a partial one.

Leaves may be JAX arrays (any sharding), NumPy arrays, NumPy/Python scalars and typed PRNG keys
(``jax.random.key``), which are stored as their key data and rebuilt on restore. Every dtype
round-trips bit-exactly, bfloat16 included.

>>> import tempfile
>>> import numpy as np
>>> with Checkpointer(tempfile.mkdtemp(), max_to_keep=2) as ckpt:
...     for step in (10, 20, 30):
...         ckpt.save(step, {"w": np.full(3, step, np.float32)})
...     print(ckpt.all_steps(), ckpt.restore({"w": np.zeros(3, np.float32)})["w"])
[20, 30] [30. 30. 30.]
"""

from __future__ import annotations

import contextlib
import os
import pathlib
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxsched._io import fsync_dir
from jaxsched._validate import check_int

__all__ = ["Checkpointer", "load_pytree", "save_pytree"]


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
        fsync_dir(dirpath)
    fsync_dir(path.parent)


def _manager(directory: pathlib.Path, max_to_keep: int) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep,
        create=True,
        enable_async_checkpointing=False,
        cleanup_tmp_directories=True,
    )
    return ocp.CheckpointManager(
        directory, options=options, item_handlers=ocp.StandardCheckpointHandler()
    )


# --------------------------------------------------------------------------------------------
# Periodic checkpoints


class Checkpointer:
    """Periodic, atomic checkpoints of a pytree in ``directory`` (one subdirectory per step).

    Args:
      directory: where the checkpoints live; created if missing.
      max_to_keep: how many of the newest checkpoints to keep (older ones are deleted after
        each save).

    ``save(step, state)`` blocks until the checkpoint is complete and renamed into place.
    ``restore(target, step=None)`` reads the newest checkpoint (or ``step``) into the
    structure, dtypes, shapes and shardings of ``target``: NumPy leaves come back as NumPy,
    JAX leaves as JAX arrays placed like the target's.
    """

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: int = 2):
        check_int("max_to_keep", max_to_keep, minimum=1)
        self.directory = pathlib.Path(directory).absolute()
        self.max_to_keep = int(max_to_keep)
        self._manager = _manager(self.directory, self.max_to_keep)
        self._closed = False

    def __repr__(self) -> str:
        return f"Checkpointer({str(self.directory)!r}, max_to_keep={self.max_to_keep})"

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")

    def all_steps(self) -> list[int]:
        """The steps of every complete checkpoint, ascending."""
        self._check_open()
        return sorted(int(s) for s in self._manager.all_steps())

    def latest_step(self) -> int | None:
        """The newest complete checkpoint's step, or ``None`` when there is none."""
        self._check_open()
        return self._manager.latest_step()

    def save(self, step: int, state: Any) -> None:
        """Write ``state`` as the checkpoint of ``step`` and wait until it is on disk.

        Steps must not go backwards: saving a step below the newest checkpoint raises
        ``ValueError`` (restore from it first and delete the newer ones if that is intended).
        Saving the newest step again replaces it.
        """
        self._check_open()
        check_int("step", step, minimum=0)
        step = int(step)
        latest = self.latest_step()
        if latest is not None and step < latest:
            raise ValueError(
                f"step must be >= the newest checkpoint's step {latest} in {self.directory}, "
                f"got step={step}"
            )
        if latest == step:
            self._manager.delete(step)
        saved = self._manager.save(step, args=ocp.args.StandardSave(_storable(state)), force=True)
        self._manager.wait_until_finished()
        if saved is False:
            raise RuntimeError(f"orbax declined to save step {step} in {self.directory}")
        _fsync_tree(self.directory / str(step))

    def restore(self, target: Any, step: int | None = None) -> Any:
        """The checkpoint of ``step`` (default: the newest) in the structure of ``target``.

        ``target`` supplies the tree structure, shapes and dtypes (and, for JAX arrays, the
        sharding); its values are not used. Raises ``FileNotFoundError`` when there is no
        complete checkpoint (for that step), ``ValueError`` when the stored tree does not have
        ``target``'s structure.
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
        return _restore(self._manager, int(step), target, self.directory)

    def close(self) -> None:
        """Wait for pending work and release orbax's resources. Safe to call twice."""
        if not self._closed:
            self._manager.wait_until_finished()
            self._manager.close()
            self._closed = True


def _leaf_shapes(tree: Any) -> dict[str, tuple[int, ...]]:
    """``{name: shape}`` of a tree's array leaves, named as orbax names them (``a.w``, ``b.0``)."""

    def name(entry: Any) -> str:
        for attr in ("name", "key", "idx"):  # GetAttrKey, DictKey, SequenceKey
            if hasattr(entry, attr):
                return str(getattr(entry, attr))
        return str(entry)

    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {".".join(name(e) for e in path): tuple(np.shape(leaf)) for path, leaf in flat}


def _restore(manager: ocp.CheckpointManager, step: int, target: Any, where: pathlib.Path) -> Any:
    # orbax's own error for a target of another structure is an unrelated-looking ValueError
    # raised deep inside; compare names and shapes first and say what differs.
    stored = {
        m.name: tuple(m.shape)
        for m in jax.tree.leaves(manager.item_metadata(step).tree)
        if hasattr(m, "shape")
    }
    wanted = _leaf_shapes(_storable(target))
    if stored != wanted:
        missing = sorted(set(wanted) - set(stored))
        extra = sorted(set(stored) - set(wanted))
        reshaped = sorted(k for k in set(stored) & set(wanted) if stored[k] != wanted[k])
        raise ValueError(
            f"target does not match the checkpoint of step {step} in {where}: "
            f"leaves missing from the checkpoint {missing[:5]}, not in the target {extra[:5]}, "
            f"with other shapes {[(k, stored[k], wanted[k]) for k in reshaped[:5]]}"
        )
    restored = manager.restore(step, args=ocp.args.StandardRestore(_storable(target)))
    return _restored(restored, target)


# --------------------------------------------------------------------------------------------
# One pytree at a path (final eval params)


def save_pytree(path: str | os.PathLike, tree: Any) -> None:
    """Save ``tree`` at ``path`` (a directory), atomically replacing anything saved there.

    The tree becomes the next step of a ``max_to_keep=1`` orbax manager in ``path``: orbax
    renames it into place only when complete and then deletes the previous one, so readers see
    the old tree or the new one, never a partial one.

    >>> import tempfile
    >>> import numpy as np
    >>> path = tempfile.mkdtemp() + "/params"
    >>> save_pytree(path, {"w": np.arange(3.0)})
    >>> save_pytree(path, {"w": np.ones(3)})
    >>> load_pytree(path, target={"w": np.zeros(3)})["w"]
    array([1., 1., 1.])
    """
    path = pathlib.Path(path).absolute()
    manager = _manager(path, 1)
    try:
        latest = manager.latest_step()
        step = 0 if latest is None else latest + 1
        manager.save(step, args=ocp.args.StandardSave(_storable(tree)), force=True)
        manager.wait_until_finished()
        _fsync_tree(path / str(step))
    finally:
        manager.close()


def load_pytree(path: str | os.PathLike, target: Any = None) -> Any:
    """Load the tree saved at ``path`` by ``save_pytree``.

    With ``target``, the result has its structure, dtypes and leaf kinds (NumPy or JAX arrays,
    scalars, typed keys). Without it, the saved structure comes back with dicts for
    mappings and NumPy arrays as leaves (typed keys as their uint32 key data).
    """
    path = pathlib.Path(path).absolute()
    if not path.is_dir():
        raise FileNotFoundError(f"no pytree saved at {path}")
    manager = _manager(path, 1)
    try:
        step = manager.latest_step()
        if step is None:
            raise FileNotFoundError(f"no pytree saved at {path}")
        if target is None:
            return jax.tree.map(np.asarray, manager.restore(step))
        return _restore(manager, step, target, path)
    finally:
        manager.close()
