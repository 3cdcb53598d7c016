"""Checkpoints of training state and of final parameters, on top of orbax's ``CheckpointManager``.

``Checkpointer`` keeps periodic checkpoints of an arbitrary pytree (params, optimizer state, PRNG
keys, step counters) in one directory, one subdirectory per step. Orbax writes each step into a
temporary directory and renames it into place when complete, lists the finalized steps
(``all_steps``, ``latest_step``) and removes the temporary directories a killed save leaves
behind. Saves are synchronous: when ``save`` returns, the step is on disk and sealed.

Sealing (what orbax does not do): tensorstore fsyncs the array data it writes, but orbax's JSON
metadata files and the rename of the step into place are not synced. Every file and directory
of the step is therefore fsynced, so that a checkpoint ``save`` reported survives a power cut as
well as a killed process, and the size and SHA-256 of every file of the stored tree go into
``<step>/jaxsched_digest.json``. Only then are older steps beyond ``max_to_keep`` deleted, so a
save that fails never costs a good checkpoint. The digest is what makes a step complete: a step
directory without one (a save killed between orbax's rename and the seal) is incomplete, is
never listed, restored or counted, and is set aside like a damaged step.

The tree is stored as it is named, through orbax's standard handler: dicts and NamedTuples
keep their keys and field names (orbax's ``item_metadata`` lists ``params.w``,
``opt_state.mu.w``, ...), so plain orbax reads a checkpoint without jaxsched
(``orbax.checkpoint.CheckpointManager(directory,
item_handlers=orbax.checkpoint.StandardCheckpointHandler()).restore(step)`` gives nested dicts
of arrays).

Faults:

* A failed save (a full disk, an I/O error) removes what it wrote, leaves the earlier
  checkpoints as they were and raises ``OSError`` with the errno of the failure and the
  checkpoint directory as ``filename``; the failed step is never listed.
* A checkpoint whose files differ from the digest (truncated, zeroed, altered, deleted), or
  whose digest cannot be read, raises :class:`CorruptCheckpointError` naming the file.
  :meth:`Checkpointer.restore_latest` instead moves such a step, and any incomplete one, into
  ``quarantine/`` next to the steps (orbax ignores it; nothing is deleted), reports it in one
  line and tries the step before. A step that matches its digest and still fails to restore
  raises orbax's own error: its files are the ones written, so the cause is elsewhere.
* A target of another structure than the checkpoint raises ``ValueError``, never counts as
  corruption.
* A failure inside orbax surfaces once, as the exception: orbax's log copies of it are dropped
  and, where orbax's private event-loop hook is available, the reads and writes it leaves in
  flight are wound down before its event loop closes (no "Event loop is closed" tracebacks on
  stderr). A release of orbax without that hook costs at most such noise, never an error.

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
import contextvars
import hashlib
import importlib
import itertools
import json
import logging
import os
import pathlib
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVarTuple

import jax
import numpy as np
import orbax.checkpoint as ocp  # type: ignore[import-untyped]  # orbax ships no py.typed
from jax.experimental import multihost_utils

from jaxsched._io import atomic_write_json, fsync_dir
from jaxsched._validate import check_int

_log = logging.getLogger(__name__)
_Ts = TypeVarTuple("_Ts")

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

    tensorstore fsyncs the array data it writes (its ``file_io_sync`` default), but orbax
    writes its JSON metadata files (``_METADATA``, ``_CHECKPOINT_METADATA``, ...) without an
    fsync and syncs neither the step directory nor its rename into place; all of that is synced
    here. fsync errors propagate: ENOSPC or EIO from fsync means the data may never reach the
    disk. In a distributed job each process fsyncs (a host can only flush what it wrote
    itself) and process 0 writes the digest once all have.
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


def _is_sealed(step_dir: pathlib.Path) -> bool:
    """Whether a step directory has its digest: the mark of a save that completed.

    A digest that exists but cannot be read still counts: `_verify` reports it as damage.
    """
    return os.path.lexists(step_dir / DIGEST_FILE)


def _verify(step_dir: pathlib.Path) -> None:
    """Check a step against its digest; raises ``CorruptCheckpointError`` naming the first file
    that is missing or differs, or the digest when it is missing or unreadable."""
    digest_path = step_dir / DIGEST_FILE
    try:
        text = digest_path.read_text("utf-8")
    except FileNotFoundError:
        raise CorruptCheckpointError(
            step_dir, digest_path, "missing: the step's save did not finish (incomplete)"
        ) from None
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


# --------------------------------------------------------------------------------------------
# Orbax's noise around failures


class _OrbaxLoop(asyncio.SelectorEventLoop):
    """The event loop for one orbax call; tensorstore's late completions find it closed.

    orbax runs each save and restore on a fresh event loop and closes it when the coroutine
    ends. When one of its gathered tensorstore operations fails, the others are still in
    flight; when they finish, tensorstore hands their results to the loop with
    ``call_soon_threadsafe``, which raises "RuntimeError: Event loop is closed" on a closed
    loop, and that goes to stderr as a traceback per operation. Nobody waits for those
    results, so here they are dropped.
    """

    # A completion that arrives after the loop closed gets None, not the Handle the base
    # class promises: nobody holds on to it.
    def call_soon_threadsafe(  # type: ignore[override]
        self,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle | None:
        try:
            return super().call_soon_threadsafe(callback, *args, context=context)
        except RuntimeError:
            if self.is_closed():
                return None
            raise


def _run_draining(coro: Any) -> Any:
    """orbax's ``run_sync`` without a running loop, on an `_OrbaxLoop`, cleaned up on failure.

    Besides the late completions, a failed operation leaves orbax's other coroutines and
    futures abandoned, and they report themselves when collected ("exception was never
    retrieved", "coroutine ... was never awaited"). Cancelling and awaiting what is left before
    the loop closes, as ``asyncio.run`` does, ends them quietly.
    """
    loop = _OrbaxLoop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    except BaseException:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        # The cancelled operations may fail in their own ways; the error that counts is the
        # one propagating from here.
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        raise
    finally:
        asyncio.set_event_loop(None)
        loop.close()


_LOOP_MODULE = "orbax.checkpoint._src.asyncio_utils"
_LOOP_FACTORY = "_run_sync_via_new_loop"
_loop_hook_missing_reported = False


def _loop_hook() -> Any:
    """orbax's private module whose ``_run_sync_via_new_loop`` makes each call's event loop,
    or ``None`` when this orbax has no such module or function.

    Private to orbax, so looked up at each call and never required: without it a failure
    costs at most the tracebacks `_OrbaxLoop` would have dropped (said once, at debug level).
    """
    global _loop_hook_missing_reported
    try:
        module = importlib.import_module(_LOOP_MODULE)
    except ImportError:
        module = None
    if module is not None and callable(getattr(module, _LOOP_FACTORY, None)):
        return module
    if not _loop_hook_missing_reported:
        _loop_hook_missing_reported = True
        _log.debug("orbax has no %s.%s; a failed checkpoint read or write may print "
                   "'Event loop is closed' tracebacks", _LOOP_MODULE, _LOOP_FACTORY)
    return None


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
    it, so orbax's log records are held and passed on only when the call succeeds. Failed
    operations are drained (see `_run_draining`) where orbax's loop factory can be swapped
    (`_loop_hook`); it is swapped only for the duration of the call.
    """
    logger = logging.getLogger("absl")
    held = _Held()
    hook = _loop_hook()
    original = getattr(hook, _LOOP_FACTORY) if hook is not None else None
    logger.addFilter(held)
    if hook is not None:
        setattr(hook, _LOOP_FACTORY, _run_draining)
    try:
        yield
    finally:
        if hook is not None:
            setattr(hook, _LOOP_FACTORY, original)
        logger.removeFilter(held)
    for record in held.records:
        logger.handle(record)


# --------------------------------------------------------------------------------------------
# Errors of failed saves


def _chain(e: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


# tensorstore reports an OS error as a status whose payload carries the errno; it raises no
# OSError, so this payload is the only place a full disk shows up as ENOSPC.
_OS_ERROR_CODE = re.compile(r"\[os_error_code='(\d+)'\]")


def _short(e: BaseException) -> str:
    # tensorstore appends the full JSON spec of the store; the first line says what failed.
    text = str(e).split(" [tensorstore_spec=", 1)[0].strip()
    return (text.splitlines() or [type(e).__name__])[0][:400]


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


def _sealed_steps(manager: ocp.CheckpointManager, directory: pathlib.Path) -> list[int]:
    """The steps orbax lists that carry their digest, ascending."""
    return sorted(int(s) for s in manager.all_steps() if _is_sealed(directory / str(s)))


def _unsealed_steps(manager: ocp.CheckpointManager, directory: pathlib.Path) -> list[int]:
    """Steps orbax lists as finalized that have no digest (their save was killed before the
    seal), agreed on by every process of a distributed job, ascending."""
    return [int(s) for s in sorted(manager.all_steps())
            if _any_process(not _is_sealed(directory / str(s)))]


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
    if step_dir.is_dir() and not _is_sealed(step_dir):
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
    """Read sealed ``step`` into ``target``'s structure (``None``: as stored, NumPy leaves).

    ``CorruptCheckpointError`` when the files fail their digest (read in full before orbax
    reads anything); ``ValueError`` when the checkpoint holds another structure. Past the
    digest the files are the ones written, so any other failure is orbax's error, raised as is.
    """
    _verify(where / str(step))
    with _orbax_call():
        metadata = manager.item_metadata(step)
    if target is not None:
        _check_structure(metadata, target, step, where)
    with _orbax_call():
        if target is None:
            return jax.tree.map(np.asarray, manager.restore(step))
        restored = manager.restore(step, args=ocp.args.StandardRestore(_storable(target)))
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
      log: receives the one-line reports of steps set aside (default: standard error).

    One ``Checkpointer`` holds one orbax ``CheckpointManager`` for its whole life; close it
    (or use it as a context manager) when done. ``save(step, state)`` blocks until the
    checkpoint is complete, renamed into place and sealed. ``restore(target, step=None)``
    reads the newest checkpoint (or ``step``) into the structure, dtypes, shapes and shardings
    of ``target``: NumPy leaves come back as NumPy, JAX leaves as JAX arrays placed like the
    target's. ``restore_latest(target)`` reads the newest checkpoint that is intact, setting
    bad and incomplete ones aside.
    """

    def __init__(
        self, directory: str | os.PathLike, *, max_to_keep: int = 2,
        log: Callable[[str], None] = _stderr_line,
    ):
        check_int("max_to_keep", max_to_keep, minimum=1)
        if not callable(log):
            raise ValueError(f"log must be callable, got log={log!r}")
        self.directory = pathlib.Path(directory).absolute()
        self.max_to_keep = int(max_to_keep)
        self.log = log
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
        """The steps of every complete (sealed) checkpoint, ascending."""
        self._check_open()
        return _sealed_steps(self._manager, self.directory)

    def latest_step(self) -> int | None:
        """The newest complete checkpoint's step, or ``None`` when there is none."""
        steps = self.all_steps()
        return steps[-1] if steps else None

    def save(self, step: int, state: Any) -> None:
        """Write ``state`` as the checkpoint of ``step`` and wait until it is on disk.

        Steps must not go backwards: saving a step below the newest checkpoint raises
        ``ValueError`` (restore from it first and delete the newer ones if that is intended).
        Saving the newest step again replaces it (the old copy is deleted first, so if that
        save fails the step is gone). Incomplete steps a killed save left behind are set aside
        first (one line to ``log`` each). A failed write raises ``OSError`` (errno of the
        failure, ``filename`` the directory) after removing what it wrote; the earlier
        checkpoints stay as they were.
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
        self._set_aside_incomplete(self.log)
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
        self, target: Any, *, log: Callable[[str], None] | None = None
    ) -> tuple[int, Any] | None:
        """``(step, tree)`` of the newest intact checkpoint, or ``None`` when there is none.

        First sets aside every incomplete step (no digest: its save was killed before the
        seal). Then tries the checkpoints newest first. One that is damaged (see
        :class:`CorruptCheckpointError`) is moved to ``quarantine/<step>`` in the checkpoint
        directory, where orbax does not look, and reported through ``log`` as one line naming
        the file at fault and where the step went; then the step before is tried. ``None``
        means the caller starts afresh. A ``target`` of another structure raises ``ValueError``
        at once and moves nothing (the checkpoints are fine; the target is not).

        ``log`` receives the one-line reports (default: the checkpointer's ``log``). In a
        distributed job all processes call this together; a step damaged for one is set aside
        for all (by process 0) and every process reports the same lines.

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
        log = self.log if log is None else log
        self._set_aside_incomplete(log)
        for step in reversed(self.all_steps()):
            try:
                tree, damage = _restore(self._manager, step, target, self.directory), None
            except CorruptCheckpointError as e:
                tree, damage = None, e
            # In a distributed job a step damaged for one process is damaged for all.
            if not _any_process(damage is not None):
                return step, tree
            where = (f"{damage.path}: {damage.reason}" if damage is not None
                     else "found by another process")
            moved = self._quarantine(step)
            log(f"checkpoint step {step} in {self.directory} is damaged ({where}); "
                f"moved to {moved}; {self._next(step)}")
        return None

    def _next(self, step: int) -> str:
        earlier = [s for s in self.all_steps() if s < step]
        return f"trying step {earlier[-1]}" if earlier else "no checkpoint left"

    def _set_aside_incomplete(self, log: Callable[[str], None]) -> None:
        """Move every step without a digest into the quarantine, one line to ``log`` each."""
        for step in reversed(_unsealed_steps(self._manager, self.directory)):
            moved = self._quarantine(step)
            log(f"checkpoint step {step} in {self.directory} is incomplete (no {DIGEST_FILE}: "
                f"its save did not finish); moved to {moved}; {self._next(step)}")

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
    place only when complete, it is sealed, and only then is the previous one deleted (with
    any incomplete one a killed save left), so readers see the old tree or the new one, never
    a partial one. A failed write raises ``OSError`` naming ``path`` and leaves the previous
    tree as it was.

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
    """Load the tree saved at ``path`` by ``save_pytree`` (its newest sealed save).

    With ``target``, the result has its structure, dtypes and leaf kinds (NumPy or JAX arrays,
    scalars, typed keys). Without it, the saved structure comes back with dicts for
    mappings and NamedTuples and NumPy arrays as leaves (typed keys as their uint32 key data).
    Raises ``FileNotFoundError`` when no complete tree is saved there,
    ``CorruptCheckpointError`` when the saved files are damaged.
    """
    path = pathlib.Path(path).absolute()
    if not path.is_dir():
        raise FileNotFoundError(f"no pytree saved at {path}")
    manager = _manager(path)
    try:
        steps = _sealed_steps(manager, path)
        if not steps:
            unsealed = sorted(manager.all_steps())
            why = (f" (step {unsealed[-1]} has no {DIGEST_FILE}: its save did not finish)"
                   if unsealed else "")
            raise FileNotFoundError(f"no pytree saved at {path}{why}")
        return _restore(manager, steps[-1], target, path)
    finally:
        manager.close()
