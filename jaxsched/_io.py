"""Atomic file writes, shared by every writer in jaxsched (results, data cache, figures), and the
lock that keeps two processes out of one output directory.

A reader sees the old file or the new one, never a mix: bytes go to a temporary file in the
same directory (same filesystem, so the rename is atomic), are flushed and fsynced, then
``os.replace`` moves them over the target and the directory is fsynced (the rename lives in the
directory entry: without that a power cut can undo it). On any failure the temporary file is
removed and the target is left as it was; a failed write (a full disk, an I/O error) raises
``OSError`` naming the target.

``exclusive_dir`` holds an output directory for one process at a time (see there).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import io
import json
import os
import pathlib
import socket
import tempfile
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

__all__ = [
    "LOCK_FILE",
    "OutDirLockedError",
    "atomic_save_npy",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "atomic_writer",
    "exclusive_dir",
    "fsync_dir",
]


# fsync(2) of a directory fails with these where the filesystem or platform cannot do it; any
# other error (EIO, ENOSPC) means the directory entry may not be on disk, which must be said.
_FSYNC_UNSUPPORTED = {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF}


def fsync_dir(directory: str | os.PathLike) -> None:
    """fsync a directory so that renames into it survive a crash.

    A no-op where directories cannot be opened or fsynced (some platforms and filesystems);
    an I/O error or a full disk reported by fsync raises ``OSError`` naming the directory.
    """
    try:
        fd = os.open(directory, os.O_RDONLY)
    except (PermissionError, IsADirectoryError):
        return
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in _FSYNC_UNSUPPORTED:
            raise OSError(e.errno, e.strerror, str(directory)) from e
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, *, suffix: str = ".tmp") -> Iterator[IO[bytes]]:
    """A binary file that replaces ``path`` atomically when the ``with`` block ends cleanly.

    If the block raises, the temporary file is removed and ``path`` is untouched. Parent
    directories are created. ``suffix`` ends the temporary name (some writers pick a format by
    the file name). A failed write, flush or fsync (``ENOSPC``, ``EIO``) raises ``OSError``
    with ``path`` as its ``filename``: the kernel's own error names no file.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
    >>> with atomic_writer(p) as f:
    ...     _ = f.write(b"abc")
    >>> p.read_bytes()
    b'abc'
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    tmp = pathlib.Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(e, OSError) and e.filename is None and e.errno is not None:
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path) as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """``atomic_write_bytes`` of ``text`` encoded as UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _to_json_value(obj: Any) -> Any:
    # json.dumps `default` hook: NumPy / JAX scalars and arrays become plain Python values.
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray) or hasattr(obj, "__array__"):
        return np.asarray(obj).tolist()
    if isinstance(obj, pathlib.PurePath):
        return str(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable: {obj!r}")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON (sorted keys) atomically.

    NumPy/JAX scalars and arrays are converted to Python numbers and lists.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.json"
    >>> atomic_write_json(p, {"loss": np.float32(0.5), "steps": np.arange(2)})
    >>> p.read_text()
    '{\\n  "loss": 0.5,\\n  "steps": [\\n    0,\\n    1\\n  ]\\n}\\n'
    """
    text = json.dumps(obj, indent=2, sort_keys=True, default=_to_json_value)
    atomic_write_text(path, text + "\n")


def atomic_save_npy(path: str | os.PathLike, array: Any) -> None:
    """``np.save`` ``array`` to ``path`` (exactly that name, no ``.npy`` added) atomically."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


# --------------------------------------------------------------------------------------------
# One process per output directory

LOCK_FILE = ".lock"
"""The lock file ``exclusive_dir`` keeps in a directory (it holds the holder's pid and host)."""


class OutDirLockedError(RuntimeError):
    """Another process holds the directory (see :func:`exclusive_dir`).

    ``directory`` is the directory; ``holder`` what the holder wrote about itself (``pid``,
    ``host``, ``since``), empty when it could not be read.
    """

    def __init__(self, directory: pathlib.Path, holder: dict[str, Any]):
        self.directory = directory
        self.holder = holder
        who = ", ".join(f"{k} {holder[k]}" for k in ("pid", "host", "since") if k in holder)
        super().__init__(
            f"{directory} is in use by another process ({who or 'holder unknown'}); "
            "wait for it to finish or use another directory"
        )


def _holder(fd: int) -> dict[str, Any]:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        # The holder may be between truncating and writing the file.
        return {}
    return info if isinstance(info, dict) else {}


@contextlib.contextmanager
def exclusive_dir(path: str | os.PathLike, *, enabled: bool = True) -> Iterator[pathlib.Path]:
    """Hold directory ``path`` (created if missing) for this process for the ``with`` block.

    The lock is ``flock(2)`` on ``path/.lock``: the kernel releases it when the holder's
    descriptor closes, so a killed or crashed process never leaves the directory locked. A
    second holder, in another process or in this one, fails at once with
    :class:`OutDirLockedError` naming the directory and the holder's pid and host, which the
    holder writes into the lock file. The file stays behind after the block (removing it would
    let two processes lock two different files of the same name). A lock file that is a
    symbolic link is refused with ``OSError`` (``ELOOP``) rather than followed.

    ``enabled=False`` takes no lock and touches nothing: in a distributed job the processes
    share one directory and only process 0 holds it (``enabled=jax.process_index() == 0``).

    Processes forked inside the block share the lock until they exit too; programs started
    with ``exec`` do not inherit it. On NFS, ``flock`` works across hosts only where the client
    maps it to NFS locks (Linux does since 2.6.12).

    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> with exclusive_dir(out):
    ...     with exclusive_dir(out):
    ...         pass
    Traceback (most recent call last):
    ...
    jaxsched._io.OutDirLockedError: ... is in use by another process (pid ...)...
    >>> with exclusive_dir(out):  # released when the first block ended
    ...     pass
    """
    path = pathlib.Path(path)
    if not enabled:
        yield path
        return
    import fcntl  # POSIX only; imported here so that the atomic writers work everywhere

    path.mkdir(parents=True, exist_ok=True)
    lock = path / LOCK_FILE
    # O_NOFOLLOW: a symlink planted at the lock's name would otherwise make the holder create,
    # truncate and write whatever file it points to (filelock's CVE-2025-68146).
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OSError(e.errno, "the lock file is a symbolic link; refusing to follow it "
                          "(remove it if it is not yours)", str(lock)) from None
        raise
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutDirLockedError(path, _holder(fd)) from None
        since = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": since}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)
        yield path
    finally:
        os.close(fd)  # the only descriptor of this open file: closing it drops the lock
