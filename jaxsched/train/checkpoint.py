"""Checkpoints of training state and of final parameters, on top of orbax's ``CheckpointManager``.

``Checkpointer`` keeps periodic checkpoints of an arbitrary pytree (params, optimizer state, PRNG
keys, step counters) in one directory, one subdirectory per step. Orbax writes each step into a
temporary directory and renames it into place when complete, lists the finalized steps
(``all_steps``, ``latest_step``) and removes the temporary directories a killed save leaves
behind. Saves are synchronous: when ``save`` returns, the step is on disk and sealed.

Sealing (what orbax does not do): every file of the step is fsynced, so that a checkpoint
``save`` reported survives a power cut as well as a killed process, and the size and SHA-256 of
every file of the stored tree go into ``<step>/jaxsched_digest.json``. Only then are older steps
beyond ``max_to_keep`` deleted, so a save that fails never costs a good checkpoint.

Faults:

* A failed save (a full disk, an I/O error) removes what it wrote, leaves the earlier
  checkpoints as they were and raises ``OSError`` with the errno of the failure and the
  checkpoint directory as ``filename``; the failed step is never listed.
* A checkpoint whose files differ from the digest (truncated, zeroed, altered, deleted) or that
  cannot be read raises :class:`CorruptCheckpointError` naming the file.
  :meth:`Checkpointer.restore_latest` instead moves such a step into ``quarantine/`` next to the
  steps (orbax ignores it; nothing is deleted), reports it in one line and tries the step
  before. Checkpoints without a digest (written before it existed, or a save killed between
  orbax's rename and the seal) are judged by whether orbax can read them.
* A target of another structure than the checkpoint raises ``ValueError``, never counts as
  corruption.
* A failure inside orbax surfaces once, as the exception: orbax's log copies of it are dropped
  and the reads it leaves in flight are wound down before its event loop closes (no "Event loop
  is closed" tracebacks on stderr).

In a distributed job every process calls ``save`` / ``restore_latest`` together (as orbax
requires): each writes and fsyncs its own shards, process 0 writes the digest and moves damaged
steps aside, and all processes agree on which step they restore.

``save_pytree`` / ``load_pytree`` store one pytree (the final eval params) at a path in the same
way: a new save is a new step, sealed before the previous one is deleted, so readers see the old
tree or the new one, never a partial one.

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

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
import pathlib
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils
from orbax.checkpoint._src import asyncio_utils as orbax_asyncio

from jaxsched._io import atomic_write_json, fsync_dir
from jaxsched._validate import check_int

__all__ = [
    "DIGEST_FILE",
    "QUARANTINE_DIR",
    "Checkpointer",
    "CorruptCheckpointError",
    "load_pytree",
    "save_pytree",
]

DIGEST_FILE = "jaxsched_digest.json"
QUARANTINE_DIR = "quarantine"
_ITEM = "default"  # the subdirectory orbax stores a single-item manager's tree in
_TMP_MARK = ".orbax-checkpoint-tmp"  # orbax's temporary names: "<step>.orbax-checkpoint-tmp[-<t>]"


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


class CorruptCheckpointError(RuntimeError):
    """A checkpoint whose files are not the ones written, or that cannot be read.

    ``step_dir`` is the step's directory, ``path`` the file (or directory) at fault and
    ``reason`` what is wrong with it.
    """

    def __init__(self, step_dir: pathlib.Path, path: pathlib.Path | str, reason: str):
        self.step_dir = step_dir
        self.path = path
        self.reason = reason
        super().__init__(f"checkpoint {step_dir} is unreadable: {path}: {reason}")


# --------------------------------------------------------------------------------------------
# Sealing and verifying a step


def _file_digest(fd: int) -> str:
    h = hashlib.sha256()
    while chunk := os.read(fd, 1 << 20):
        h.update(chunk)
    return h.hexdigest()


_BARRIERS = itertools.count()


def _barrier(what: str) -> None:
    """Wait for every process of a distributed job (nothing to wait for in a single one).

    Every process runs the same sequence of saves and restores, so the counter that makes
    orbax's barrier names unique agrees across them.
    """
    if jax.process_count() > 1:
        ocp.multihost.sync_global_processes(f"jaxsched_{what}_{next(_BARRIERS)}")


def _any_process(flag: bool) -> bool:
    """``flag`` of any process of a distributed job, so that all take the same branch."""
    if jax.process_count() == 1:
        return flag
    return bool(np.max(multihost_utils.process_allgather(np.int32(flag))))


def _seal(step_dir: pathlib.Path) -> None:
    """fsync every file and directory of a finished step and write its digest.

    orbax renames complete directories into place but fsyncs nothing. fsync errors propagate:
    ENOSPC or EIO from fsync means the data may never reach the disk. In a distributed job each
    process fsyncs (a host can only flush what it wrote itself) and process 0 writes the
    digest once all have.
    """
    primary = jax.process_index() == 0
    files: dict[str, list[Any]] = {}
    for dirpath, _, filenames in os.walk(step_dir):
        for name in filenames:
            full = os.path.join(dirpath, name)
            fd = os.open(full, os.O_RDONLY)
            try:
                os.fsync(fd)
                rel = os.path.relpath(full, step_dir)
                if primary and rel.split(os.sep)[0] == _ITEM:
                    files[rel.replace(os.sep, "/")] = [os.fstat(fd).st_size, _file_digest(fd)]
            finally:
                os.close(fd)
        fsync_dir(dirpath)
    _barrier("synced")
    if primary:
        if not files:
            raise CorruptCheckpointError(step_dir, step_dir / _ITEM, "orbax wrote no files")
        # Only the stored tree is covered: orbax's commit markers and step metadata are not
        # read on restore, and a damaged one does not make the tree unusable.
        atomic_write_json(step_dir / DIGEST_FILE, {"format": 1, "files": files})
        fsync_dir(step_dir.parent)
    _barrier("sealed")


def _verify(step_dir: pathlib.Path) -> bool:
    """Check a step against its digest: ``True`` when it matches, ``False`` when it has none.

    Raises ``CorruptCheckpointError`` naming the first file that is missing or differs.
    """
    digest_path = step_dir / DIGEST_FILE
    try:
        text = digest_path.read_text("utf-8")
    except FileNotFoundError:
        return False
    except (OSError, UnicodeDecodeError) as e:
        raise CorruptCheckpointError(step_dir, digest_path, str(e)) from e
    try:
        files = json.loads(text)["files"]
        items = [(rel, int(size), str(sha)) for rel, (size, sha) in files.items()]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CorruptCheckpointError(step_dir, digest_path, f"not a digest ({e})") from e
    for rel, size, sha in items:
        path = step_dir / rel
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise CorruptCheckpointError(step_dir, path, "missing") from None
        try:
            got = os.fstat(fd).st_size
            if got != size:
                raise CorruptCheckpointError(
                    step_dir, path, f"{got} bytes, {size} were written (truncated or extended)"
                )
            if _file_digest(fd) != sha:
                raise CorruptCheckpointError(
                    step_dir, path, "contents differ from what was written (SHA-256 mismatch)"
                )
        finally:
            os.close(fd)
    return True


# --------------------------------------------------------------------------------------------
# Orbax's noise around failures


class _OrbaxLoop(asyncio.SelectorEventLoop):
    """The event loop for one orbax call; tensorstore's late completions find it closed.

    orbax runs each save and restore on a fresh event loop and closes it when the coroutine
    ends. When one of its gathered tensorstore reads fails, the others are still in flight;
    when they finish, tensorstore hands their results to the loop with
    ``call_soon_threadsafe``, which raises "RuntimeError: Event loop is closed" on a closed
    loop, and that goes to stderr as a traceback per read. Nobody waits for those results, so
    here they are dropped.
    """

    def call_soon_threadsafe(self, callback: Any, *args: Any, context: Any = None) -> Any:
        try:
            return super().call_soon_threadsafe(callback, *args, context=context)
        except RuntimeError:
            if self.is_closed():
                return None
            raise


def _run_draining(coro: Any) -> Any:
    """orbax's ``run_sync`` without a running loop, on an `_OrbaxLoop`, cleaned up on failure.

    Besides the late completions, a failed read leaves orbax's other coroutines and futures
    abandoned, and they report themselves when collected ("exception was never retrieved",
    "coroutine ... was never awaited"). Cancelling and awaiting what is left before the loop
    closes, as ``asyncio.run`` does, ends them quietly.
    """
    loop = _OrbaxLoop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    except BaseException:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        # The cancelled reads may fail in their own ways; the error that counts is the one
        # propagating from here.
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        raise
    finally:
        asyncio.set_event_loop(None)
        loop.close()


class _Held(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        return False


@contextlib.contextmanager
def _orbax_call() -> Iterator[None]:
    """Run orbax so that a failure surfaces once, as the exception, with no echoes.

    orbax's threads log a failure (with tracebacks) before it is raised; the exception carries
    it, so orbax's log records are held and passed on only when the call succeeds. Failed reads
    are drained (see `_run_draining`). ``_run_sync_via_new_loop`` is where orbax's ``run_sync``
    makes its loop; it is swapped only for the duration of the call.
    """
    logger = logging.getLogger("absl")
    held = _Held()
    original = getattr(orbax_asyncio, "_run_sync_via_new_loop", None)
    logger.addFilter(held)
    if original is not None:
        orbax_asyncio._run_sync_via_new_loop = _run_draining
    try:
        yield
    finally:
        if original is not None:
            orbax_asyncio._run_sync_via_new_loop = original
        logger.removeFilter(held)
    for record in held.records:
        logger.handle(record)


# --------------------------------------------------------------------------------------------
# Classifying errors


def _chain(e: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


_STATUS = re.compile(r"^([A-Z_]+): ")
_OS_ERROR_CODE = re.compile(r"\[os_error_code='(\d+)'\]")
_LOCAL_FILE = re.compile(r'local file "([^"]+)"')
_KEY = re.compile(r'Error reading "([^"]+)" in OCDBT database')
# tensorstore statuses that say something about the environment, not about the files
_NOT_CORRUPTION = {"PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "UNAVAILABLE", "CANCELLED",
                   "DEADLINE_EXCEEDED", "UNAUTHENTICATED", "ABORTED", "UNIMPLEMENTED"}


def _short(e: BaseException) -> str:
    # tensorstore appends the full JSON spec of the store; the first line says what failed.
    text = str(e).split(" [tensorstore_spec=", 1)[0].strip()
    return (text.splitlines() or [type(e).__name__])[0][:400]


def _is_read_failure(e: BaseException) -> bool:
    """Whether a failed orbax read means the files are bad (as opposed to the environment)."""
    for x in _chain(e):
        if isinstance(x, (PermissionError, MemoryError)):
            return False
        if isinstance(x, (OSError, json.JSONDecodeError)):
            return True
        status = _STATUS.match(str(x))
        if status:
            return status.group(1) not in _NOT_CORRUPTION
    return False


def _culprit(e: BaseException, step_dir: pathlib.Path) -> tuple[str, str]:
    """(the file a read failure names, the failure in one line)."""
    for x in _chain(e):
        if isinstance(x, OSError) and x.filename:
            return str(x.filename), _short(x)
        text = str(x)
        files = _LOCAL_FILE.findall(text)
        if files:
            key = _KEY.search(text)
            where = files[-1]
            if key and where.endswith("/"):
                where = f"{where}{key.group(1)} (a key of the OCDBT database)"
            return where, _short(x)
    return str(step_dir), _short(e)


def _errno_of(e: BaseException) -> int | None:
    for x in _chain(e):
        if isinstance(x, OSError) and x.errno is not None:
            return x.errno
        code = _OS_ERROR_CODE.search(str(x))
        if code:
            return int(code.group(1))
    return None


def _write_error(e: BaseException, directory: pathlib.Path, step: int) -> BaseException:
    """The error a failed save raises: ``OSError`` when the cause was an OS error, else ``e``."""
    err = _errno_of(e)
    if err is None:
        return e
    return OSError(
        err,
        f"{os.strerror(err)}: step {step} not written ({_short(e)}); what {directory} held "
        "before is as it was",
        str(directory),
    )


# --------------------------------------------------------------------------------------------
# Orbax managers


def _manager(directory: pathlib.Path) -> ocp.CheckpointManager:
    # No max_to_keep for orbax: it would delete old steps as soon as the new one is renamed
    # into place, before the new one is sealed; `_prune` deletes them after the seal.
    options = ocp.CheckpointManagerOptions(
        max_to_keep=None,
        create=True,
        enable_async_checkpointing=False,
        cleanup_tmp_directories=True,
    )
    return ocp.CheckpointManager(
        directory, options=options, item_handlers=ocp.StandardCheckpointHandler()
    )


def _save(manager: ocp.CheckpointManager, directory: pathlib.Path, step: int, tree: Any) -> None:
    """Save and seal ``step``; on failure remove what it wrote and raise (see `_write_error`)."""
    try:
        with _orbax_call():
            saved = manager.save(step, args=ocp.args.StandardSave(_storable(tree)), force=True)
            manager.wait_until_finished()
        if saved is False:
            raise RuntimeError(f"orbax declined to save step {step} in {directory}")
        _seal(directory / str(step))
    except Exception as e:
        failed = _discard(manager, directory, step)
        error = _write_error(e, directory, step)
        for note in failed:
            error.add_note(note)
        if error is e:
            raise
        raise error from e


def _discard(manager: ocp.CheckpointManager, directory: pathlib.Path, step: int) -> list[str]:
    """Remove a failed save of ``step`` (its temporary directory, or the unsealed step)."""
    doomed = [p for p in directory.glob(f"{step}{_TMP_MARK}*") if p.is_dir()]
    step_dir = directory / str(step)
    if step_dir.is_dir() and not (step_dir / DIGEST_FILE).exists():
        doomed.append(step_dir)
    failed = []
    for path in doomed:
        try:
            shutil.rmtree(path)
        except OSError as e:
            failed.append(f"could not remove {path} of the failed save: {e}")
    manager.reload()
    return failed


def _prune(manager: ocp.CheckpointManager, keep: int) -> None:
    for step in sorted(manager.all_steps())[:-keep]:
        manager.delete(step)


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
    """Read ``step`` into ``target``'s structure (``None``: as stored, with NumPy leaves).

    ``CorruptCheckpointError`` when the files fail their digest or, for a step without one,
    cannot be read; ``ValueError`` when the checkpoint holds another structure. A step that
    matches its digest and still fails to restore raises orbax's error: its files are the ones
    written, so the cause is elsewhere.
    """
    step_dir = where / str(step)
    verified = _verify(step_dir)
    if not (step_dir / _ITEM).is_dir():
        raise CorruptCheckpointError(step_dir, step_dir / _ITEM, "missing")

    def unreadable(e: Exception) -> CorruptCheckpointError:
        path, reason = _culprit(e, step_dir)
        return CorruptCheckpointError(step_dir, path, reason)

    try:
        with _orbax_call():
            metadata = manager.item_metadata(step)
            if metadata is None or not hasattr(metadata, "tree"):
                raise CorruptCheckpointError(
                    step_dir, step_dir / _ITEM / "_METADATA", "missing or unreadable tree metadata"
                )
    except CorruptCheckpointError:
        raise
    except Exception as e:
        if isinstance(e, (PermissionError, MemoryError)):
            raise
        raise unreadable(e) from e
    if target is not None:
        _check_structure(metadata, target, step, where)
    try:
        with _orbax_call():
            if target is None:
                return jax.tree.map(np.asarray, manager.restore(step))
            restored = manager.restore(step, args=ocp.args.StandardRestore(_storable(target)))
    except Exception as e:
        if verified or not _is_read_failure(e):
            raise
        raise unreadable(e) from e
    return _restored(restored, target)


def _check_structure(metadata: Any, target: Any, step: int, where: pathlib.Path) -> None:
    # orbax's own error for a target of another structure is an unrelated-looking ValueError
    # raised deep inside; compare names and shapes first and say what differs.
    stored = {
        m.name: tuple(m.shape) for m in jax.tree.leaves(metadata.tree) if hasattr(m, "shape")
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


def _stderr_line(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Periodic checkpoints


class Checkpointer:
    """Periodic, atomic checkpoints of a pytree in ``directory`` (one subdirectory per step).

    Args:
      directory: where the checkpoints live; created if missing.
      max_to_keep: how many of the newest checkpoints to keep (older ones are deleted after
        each successful save).

    ``save(step, state)`` blocks until the checkpoint is complete, renamed into place and
    sealed. ``restore(target, step=None)`` reads the newest checkpoint (or ``step``) into the
    structure, dtypes, shapes and shardings of ``target``: NumPy leaves come back as NumPy,
    JAX leaves as JAX arrays placed like the target's. ``restore_latest(target)`` reads the
    newest checkpoint that is intact, setting bad ones aside.
    """

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: int = 2):
        check_int("max_to_keep", max_to_keep, minimum=1)
        self.directory = pathlib.Path(directory).absolute()
        self.max_to_keep = int(max_to_keep)
        self._manager = _manager(self.directory)
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
        Saving the newest step again replaces it (the old copy is deleted first, so if that
        save fails the step is gone). A failed write raises ``OSError`` (errno of the failure,
        ``filename`` the directory) after removing what it wrote; the earlier checkpoints stay
        as they were.
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
        _save(self._manager, self.directory, step, state)
        _prune(self._manager, self.max_to_keep)

    def restore(self, target: Any, step: int | None = None) -> Any:
        """The checkpoint of ``step`` (default: the newest) in the structure of ``target``.

        ``target`` supplies the tree structure, shapes and dtypes (and, for JAX arrays, the
        sharding); its values are not used. Raises ``FileNotFoundError`` when there is no
        complete checkpoint (for that step), ``ValueError`` when the stored tree does not have
        ``target``'s structure, ``CorruptCheckpointError`` when its files are damaged.
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

    def restore_latest(
        self, target: Any, *, log: Callable[[str], None] = _stderr_line
    ) -> tuple[int, Any] | None:
        """``(step, tree)`` of the newest intact checkpoint, or ``None`` when there is none.

        Tries the checkpoints newest first. One that is damaged (see
        :class:`CorruptCheckpointError`) is moved to ``quarantine/<step>`` in the checkpoint
        directory, where orbax does not look, and reported through ``log`` as one line naming
        the file at fault and where the step went; then the step before is tried. ``None``
        means the caller starts afresh. A ``target`` of another structure raises ``ValueError``
        at once and moves nothing (the checkpoints are fine; the target is not).

        ``log`` receives the one-line reports (default: standard error). In a distributed job
        all processes call this together; a step damaged for one is set aside for all (by
        process 0) and every process reports the same lines.

        >>> import tempfile, pathlib
        >>> import numpy as np
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> with Checkpointer(d) as ck:
        ...     ck.save(1, {"w": np.ones(300)})
        ...     ck.save(2, {"w": np.full(300, 2.0)})
        ...     for f in (d / "2" / "default").rglob("*"):
        ...         if f.is_file():
        ...             _ = f.write_bytes(b"")  # the newest checkpoint lost its contents
        ...     step, tree = ck.restore_latest({"w": np.zeros(300)}, log=print)
        ...     steps = ck.all_steps()
        checkpoint step 2 in ... is damaged (...: 0 bytes, ...); moved to ...; trying step 1
        >>> step, tree["w"][:3], steps
        (1, array([1., 1., 1.]), [1])
        """
        self._check_open()
        for step in reversed(self.all_steps()):
            try:
                tree, damage = _restore(self._manager, step, target, self.directory), None
            except CorruptCheckpointError as e:
                tree, damage = None, e
            # In a distributed job a step damaged for one process is damaged for all (without
            # a digest each process reads only its own shards and may not notice).
            if not _any_process(damage is not None):
                return step, tree
            where = (f"{damage.path}: {damage.reason}" if damage is not None
                     else "found by another process")
            moved = self._quarantine(step)
            earlier = [s for s in self.all_steps() if s < step]
            then = f"trying step {earlier[-1]}" if earlier else "no checkpoint left"
            log(f"checkpoint step {step} in {self.directory} is damaged ({where}); "
                f"moved to {moved}; {then}")
        return None

    def _quarantine(self, step: int) -> pathlib.Path:
        qdir = self.directory / QUARANTINE_DIR
        dest, n = qdir / str(step), 0
        while dest.exists():
            n += 1
            dest = qdir / f"{step}.{n}"
        _barrier("quarantine")  # nobody is still reading the step
        if jax.process_index() == 0:
            qdir.mkdir(exist_ok=True)
            os.rename(self.directory / str(step), dest)
            fsync_dir(qdir)
            fsync_dir(self.directory)
        _barrier("quarantined")
        self._manager.reload()
        return dest

    def close(self) -> None:
        """Wait for pending work and release orbax's resources. Safe to call twice."""
        if not self._closed:
            self._manager.wait_until_finished()
            self._manager.close()
            self._closed = True


# --------------------------------------------------------------------------------------------
# One pytree at a path (final eval params)


def save_pytree(path: str | os.PathLike, tree: Any) -> None:
    """Save ``tree`` at ``path`` (a directory), atomically replacing anything saved there.

    The tree becomes the next step of an orbax manager in ``path``: orbax renames it into
    place only when complete, it is sealed, and only then is the previous one deleted, so
    readers see the old tree or the new one, never a partial one. A failed write raises
    ``OSError`` naming ``path`` and leaves the previous tree as it was.

    >>> import tempfile
    >>> import numpy as np
    >>> path = tempfile.mkdtemp() + "/params"
    >>> save_pytree(path, {"w": np.arange(3.0)})
    >>> save_pytree(path, {"w": np.ones(3)})
    >>> load_pytree(path, target={"w": np.zeros(3)})["w"]
    array([1., 1., 1.])
    """
    path = pathlib.Path(path).absolute()
    manager = _manager(path)
    try:
        latest = manager.latest_step()
        step = 0 if latest is None else latest + 1
        _save(manager, path, step, tree)
        _prune(manager, 1)
    finally:
        manager.close()


def load_pytree(path: str | os.PathLike, target: Any = None) -> Any:
    """Load the tree saved at ``path`` by ``save_pytree``.

    With ``target``, the result has its structure, dtypes and leaf kinds (NumPy or JAX arrays,
    scalars, typed keys). Without it, the saved structure comes back with dicts for
    mappings and NumPy arrays as leaves (typed keys as their uint32 key data). Raises
    ``FileNotFoundError`` when nothing is saved there, ``CorruptCheckpointError`` when the
    saved files are damaged.
    """
    path = pathlib.Path(path).absolute()
    if not path.is_dir():
        raise FileNotFoundError(f"no pytree saved at {path}")
    manager = _manager(path)
    try:
        step = manager.latest_step()
        if step is None:
            raise FileNotFoundError(f"no pytree saved at {path}")
        return _restore(manager, step, target, path)
    finally:
        manager.close()
