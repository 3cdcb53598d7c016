"""A real-text byte corpus that every machine carries: the running Python's standard library.

The corpus is the ``*.py`` source of the standard library of the Python that runs this code
(``sysconfig.get_paths()["stdlib"]``), read as raw bytes. It needs no download, and two
machines with the same Python build read the same bytes; the :class:`CorpusManifest` (file
list, sizes, sha256 of every file, of each split and of the whole corpus) tells whether they
did.

Selection (deterministic): every ``*.py`` file under the stdlib directory, as relative POSIX
paths sorted by code point, except what varies between installs of the same Python version
or is not hand-written source (:data:`EXCLUDED`):

* ``site-packages/``: third-party packages, different in every environment;
* any directory named ``test``, ``tests`` or ``idle_test`` (``test/`` itself, ``ctypes/test``,
  ``unittest/test``, ...): distributions ship the test suite as a separate package or drop it
  (Debian's ``libpython3.x-testsuite``, slim container images), and it is half the bytes;
* ``idlelib/``, ``tkinter/``, ``turtledemo/``, ``turtle.py``, ``lib2to3/``, ``distutils/``,
  ``ensurepip/``: split into optional packages by distributions (``idle-python3.x``,
  ``python3-tk``, ``python3-lib2to3``, ``python3-distutils``, ``python3.x-venv``), and
  ``lib2to3``/``distutils`` are gone from newer Pythons;
* ``config-*/`` and ``_sysconfigdata_*.py``: written at build time, holding the install's
  paths and compiler flags; ``site.py`` and ``sysconfig.py``: patched by distributions to
  their own layouts (Debian's ``dist-packages``, ``posix_local``);
* ``encodings/`` and ``pydoc_data/``: generated data rather than source (the codec tables
  written by ``gencodec.py``, the documentation's topics dumped into a dict).

Distributions may still patch other files, and every Python version has its own standard
library: compare the manifests' ``sha256`` rather than assume.

Split (deterministic, by file): a file is in the validation split when the first 8 bytes of
``sha256(path)`` read as a big-endian integer, divided by 2**64, fall below ``val_fraction``
(:func:`is_validation`); no file contributes to both splits, and a file's split never depends
on which other files exist. Each split is its files' bytes in sorted order joined by
:data:`SEPARATOR` (``0x00``, a byte Python source cannot contain), as a uint8 array.

Budget: ``max_bytes`` caps the corpus; the validation split gets
``round(val_fraction * max_bytes)`` bytes and the training split the rest, each the prefix of
its concatenation (so a small budget takes a prefix of the sorted file list, whole files
except the last, whose ``used`` bytes the manifest records). Without a budget, every selected
file is used whole.

>>> corpus = stdlib_corpus(max_bytes=20_000)
>>> corpus.train.dtype, len(corpus.train) + len(corpus.val)
(dtype('uint8'), 20000)
>>> corpus.manifest.files[0].path
'__future__.py'
>>> stdlib_corpus(max_bytes=20_000).manifest.sha256 == corpus.manifest.sha256
True
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import platform
import sysconfig
from typing import Any

import numpy as np

from jaxsched import _validate as v

__all__ = [
    "EXCLUDED",
    "SEPARATOR",
    "SPLITS",
    "Corpus",
    "CorpusFile",
    "CorpusManifest",
    "is_validation",
    "stdlib_corpus",
    "stdlib_files",
    "stdlib_root",
]

SEPARATOR = 0
"""The byte between two files of a split (``0x00``: Python source cannot contain it)."""

SPLITS = ("train", "val")

EXCLUDED = {
    "dirs_anywhere": ("test", "tests", "idle_test", "__pycache__"),
    "top_dirs": ("site-packages", "idlelib", "tkinter", "turtledemo", "lib2to3", "distutils",
                 "ensurepip", "encodings", "pydoc_data"),
    "top_dir_prefixes": ("config-",),
    "top_files": ("turtle.py", "site.py", "sysconfig.py"),
    "file_prefixes": ("_sysconfigdata_",),
}
"""What the selection leaves out (see the module docstring for why)."""

SELECTION_VERSION = 1
"""Bumped whenever the selection, split or join rule changes (recorded in the manifest)."""


def stdlib_root() -> pathlib.Path:
    """The running Python's standard-library directory (``sysconfig`` ``stdlib`` path)."""
    return pathlib.Path(sysconfig.get_paths()["stdlib"])


def _excluded(rel: pathlib.PurePosixPath) -> bool:
    parts = rel.parts
    dirs, name = parts[:-1], parts[-1]
    if any(d in EXCLUDED["dirs_anywhere"] for d in dirs):
        return True
    if dirs and (dirs[0] in EXCLUDED["top_dirs"]
                 or dirs[0].startswith(EXCLUDED["top_dir_prefixes"])):
        return True
    if not dirs and name in EXCLUDED["top_files"]:
        return True
    return name.startswith(EXCLUDED["file_prefixes"])


def stdlib_files(root: str | os.PathLike | None = None) -> list[str]:
    """The selected files: relative POSIX paths of the ``*.py`` files under ``root``, sorted.

    ``root`` defaults to :func:`stdlib_root`. Directories that are symbolic links are not
    followed (a link could leave the tree or loop).
    """
    base = stdlib_root() if root is None else pathlib.Path(root)
    if not base.is_dir():
        raise ValueError(f"root must be a directory, got root={str(base)!r}")
    out = []
    for dirpath, dirnames, filenames in os.walk(base):
        rel_dir = pathlib.PurePosixPath(pathlib.Path(dirpath).relative_to(base).as_posix())
        # Prune excluded directories here (site-packages alone can be most of the tree);
        # _excluded below still decides for every file.
        dirnames[:] = sorted(d for d in dirnames if not _excluded(rel_dir / d / "x.py"))
        for name in filenames:
            if not name.endswith(".py"):
                continue
            rel = rel_dir / name
            if not _excluded(rel) and (pathlib.Path(dirpath) / name).is_file():
                out.append(rel.as_posix())
    return sorted(out)


def is_validation(path: str, val_fraction: float) -> bool:
    """Whether the file ``path`` (relative POSIX) belongs to the validation split.

    ``int.from_bytes(sha256(path)[:8], "big") / 2**64 < val_fraction``.

    >>> is_validation("os.py", 0.0), is_validation("os.py", 1.0)
    (False, True)
    """
    v.check_in_range("val_fraction", val_fraction, 0.0, 1.0)
    u = int.from_bytes(hashlib.sha256(path.encode("utf-8")).digest()[:8], "big") / 2.0**64
    return u < val_fraction


@dataclasses.dataclass(frozen=True)
class CorpusFile:
    """One selected file: its relative path, its size and the sha256 of the whole file, its
    split, and the bytes of it the split uses (fewer than ``size`` for the last file a budget
    cuts)."""

    path: str
    size: int
    sha256: str
    split: str
    used: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class CorpusManifest:
    """What a corpus is made of, to tell whether two machines trained on the same text.

    Attributes:
      python: ``platform.python_implementation()`` and version of the interpreter read.
      root: the stdlib directory read (informational: it differs between installs that hold
        the same bytes).
      selection_version: :data:`SELECTION_VERSION`.
      val_fraction, max_bytes: the arguments.
      files: every file that contributes bytes, in sorted order (a file left out by the budget
        is not listed).
      train_bytes, val_bytes: the lengths of the two splits (separators included).
      train_sha256, val_sha256: sha256 of each split's bytes.
      sha256: sha256 of the training bytes followed by the validation bytes: the corpus's
        identity.
    """

    python: str
    root: str
    selection_version: int
    val_fraction: float
    max_bytes: int | None
    files: tuple[CorpusFile, ...]
    train_bytes: int
    val_bytes: int
    train_sha256: str
    val_sha256: str
    sha256: str

    def to_dict(self, files: bool = True) -> dict[str, Any]:
        """A JSON-ready dict; ``files=False`` leaves out the per-file list (keeps its count)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["num_files"] = len(self.files)
        out["files"] = [f.to_dict() for f in self.files] if files else None
        if not files:
            del out["files"]
        return out


@dataclasses.dataclass(frozen=True, eq=False)
class Corpus:
    """The two splits as uint8 arrays, and their manifest."""

    train: np.ndarray
    val: np.ndarray
    manifest: CorpusManifest


def _join(chunks: list[bytes], budget: int | None) -> tuple[bytes, list[int]]:
    """``SEPARATOR.join(chunks)`` cut to ``budget`` bytes, and the bytes of each chunk used."""
    sep = bytes([SEPARATOR])
    out, used, total = [], [], 0
    for i, chunk in enumerate(chunks):
        if budget is not None and total >= budget:
            break
        if i:
            out.append(sep)
            total += 1
        take = len(chunk) if budget is None else max(0, min(len(chunk), budget - total))
        out.append(chunk[:take])
        used.append(take)
        total += take
    data = b"".join(out)
    return (data if budget is None else data[:budget]), used


def stdlib_corpus(
    max_bytes: int | None = None,
    *,
    val_fraction: float = 0.08,
    root: str | os.PathLike | None = None,
) -> Corpus:
    """The standard-library byte corpus (see the module docstring for the rules).

    Args:
      max_bytes: the corpus's size in bytes (separators included), or ``None`` for every
        selected file whole.
      val_fraction: the fraction of files (by a hash of the path) in the validation split,
        and, with a budget, the fraction of ``max_bytes`` given to it. In ``(0, 1)``.
      root: the directory to read instead of the running Python's stdlib.

    Raises:
      ValueError: a bad argument, or a split that ends up empty (a budget too small, a
        ``root`` with too few files).
    """
    if max_bytes is not None:
        v.check_int("max_bytes", max_bytes, minimum=2)
    v.check_in_range("val_fraction", val_fraction, 0.0, 1.0, low_inclusive=False,
                     high_inclusive=False)
    base = stdlib_root() if root is None else pathlib.Path(root)
    paths = stdlib_files(base)
    split_of = {p: ("val" if is_validation(p, val_fraction) else "train") for p in paths}
    budgets: dict[str, int | None] = {"train": None, "val": None}
    if max_bytes is not None:
        val_budget = max(1, round(val_fraction * max_bytes))
        train_budget = max_bytes - val_budget
        if train_budget < 1:
            raise ValueError(f"max_bytes leaves no training bytes at val_fraction="
                             f"{val_fraction}, got max_bytes={max_bytes}")
        budgets = {"train": train_budget, "val": val_budget}
    data: dict[str, bytes] = {}
    files: list[CorpusFile] = []
    for split in SPLITS:
        names = [p for p in paths if split_of[p] == split]
        chunks = []
        budget = budgets[split]
        for p in names:
            chunks.append((base / p).read_bytes())
            if budget is not None and sum(map(len, chunks)) >= budget:
                break  # later files cannot contribute
        data[split], used = _join(chunks, budget)
        if not data[split]:
            raise ValueError(
                f"the {split} split is empty: {len(names)} of {len(paths)} selected files under "
                f"{str(base)!r} fall in it (val_fraction={val_fraction}, max_bytes={max_bytes})"
            )
        files += [CorpusFile(p, len(c), hashlib.sha256(c).hexdigest(), split, u)
                  for p, c, u in zip(names, chunks, used, strict=False) if u > 0]
    files.sort(key=lambda f: f.path)
    manifest = CorpusManifest(
        python=f"{platform.python_implementation()} {platform.python_version()}",
        root=str(base), selection_version=SELECTION_VERSION, val_fraction=float(val_fraction),
        max_bytes=max_bytes, files=tuple(files),
        train_bytes=len(data["train"]), val_bytes=len(data["val"]),
        train_sha256=hashlib.sha256(data["train"]).hexdigest(),
        val_sha256=hashlib.sha256(data["val"]).hexdigest(),
        sha256=hashlib.sha256(data["train"] + data["val"]).hexdigest(),
    )
    return Corpus(np.frombuffer(data["train"], np.uint8), np.frombuffer(data["val"], np.uint8),
                  manifest)
