"""Atomic file writes, shared by every writer in jaxsched (results, data cache, figures).

A reader sees the old file or the new one, never a mix: bytes go to a temporary file in the
same directory (same filesystem, so the rename is atomic), are flushed and fsynced, then
``os.replace`` moves them over the target and the directory is fsynced (the rename lives in the
directory entry: without that a power cut can undo it). On any failure the temporary file is
removed and the target is left as it was.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pathlib
import tempfile
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

__all__ = [
    "atomic_save_npy",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "atomic_writer",
    "fsync_dir",
]


def fsync_dir(directory: str | os.PathLike) -> None:
    """fsync a directory so that renames into it survive a crash (no-op where unsupported)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, *, suffix: str = ".tmp") -> Iterator[IO[bytes]]:
    """A binary file that replaces ``path`` atomically when the ``with`` block ends cleanly.

    If the block raises, the temporary file is removed and ``path`` is untouched. Parent
    directories are created. ``suffix`` ends the temporary name (some writers pick a format by
    the file name).

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
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
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
