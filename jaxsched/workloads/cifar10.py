"""CIFAR-10 from the canonical python tarball.

It comes as a ``Dataset`` of uint8 NHWC images ``[N, 32, 32, 3]`` and int32 labels ``[N]`` in
``0..9``, with ``name`` ``"cifar10"``; the synthetic stand-in
(:mod:`jaxsched.workloads.standin`) returns the same type named ``"synthetic"``, so that every
output can say which data it used.

CIFAR-10 is read from ``cifar-10-python.tar.gz`` in the data directory (``$JAXSCHED_DATA``, else
``$XDG_CACHE_HOME/jaxsched``, else ``~/.cache/jaxsched``). When the file is missing it is
downloaded from ``CIFAR10_URL`` with a progress bar into a temporary file beside its final
name, checked against ``CIFAR10_MD5``, and only then renamed into place; a corrupt or truncated
download raises ``DataCorruptError`` and leaves nothing in the cache. A cached tarball is checked
on every load, so a damaged one is reported instead of used. The decoded arrays are cached beside
it (``cifar-10-arrays.npz``) for fast reloads.

:func:`jaxsched.workloads.image.load` chooses between the two (``"auto"`` falls back to the
stand-in with a one-line :class:`SyntheticFallbackWarning`); :func:`load_cifar10` never falls
back.

Example::

    data = load_cifar10()                        # raises DataUnavailableError offline
    print(data.name, data.train_images.shape)   # cifar10 (50000, 32, 32, 3)
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import pathlib
import pickle
import tarfile
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from typing import Any, NamedTuple

import numpy as np

from jaxsched._io import atomic_writer

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "DataCorruptError",
    "DataUnavailableError",
    "Dataset",
    "SyntheticFallbackWarning",
    "data_dir",
    "load_cifar10",
]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_FILENAME = "cifar-10-python.tar.gz"
CIFAR10_ARRAYS = "cifar-10-arrays.npz"
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
DOWNLOAD_TIMEOUT_S = 30.0
_MEMBER_DIR = "cifar-10-batches-py"
_TRAIN_MEMBERS = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST_MEMBER = "test_batch"
_CHUNK = 1 << 20


class Dataset(NamedTuple):
    """Images and labels of one data set.

    Attributes:
      train_images: uint8 ``[N, 32, 32, 3]`` (NHWC, RGB).
      train_labels: int32 ``[N]`` in ``0..9``.
      test_images: uint8 ``[M, 32, 32, 3]``.
      test_labels: int32 ``[M]``.
      name: ``"cifar10"`` or ``"synthetic"``; record it with every result.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    name: str


class DataUnavailableError(RuntimeError):
    """CIFAR-10 cannot be had: not cached and not downloadable (or download disabled)."""


class SyntheticFallbackWarning(UserWarning):
    """``load("auto")`` could not have CIFAR-10 and uses the synthetic set; says why, in one line.

    The command line prints it as one ``warning:`` line; in Python, filter it as any warning
    (``warnings.simplefilter("error", SyntheticFallbackWarning)`` turns the fallback off).
    """


class DataCorruptError(DataUnavailableError):
    """A CIFAR-10 tarball (cached or just downloaded) fails its md5 check or cannot be read."""


def data_dir() -> pathlib.Path:
    """Where data is cached: ``$JAXSCHED_DATA`` if set, else the user cache dir + ``jaxsched``
    (``$XDG_CACHE_HOME/jaxsched``, else ``~/.cache/jaxsched``). Not created here."""
    env = os.environ.get("JAXSCHED_DATA")
    if env:
        return pathlib.Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    base = pathlib.Path(cache).expanduser() if cache else pathlib.Path.home() / ".cache"
    return base / "jaxsched"


# --------------------------------------------------------------------------------------------
# CIFAR-10: download and verification


def _how_to_get(root: pathlib.Path) -> str:
    return (
        f"download {CIFAR10_URL} and put {CIFAR10_FILENAME} into {root} "
        f"(or set JAXSCHED_DATA to a directory holding it)"
    )


def _md5_of_file(path: pathlib.Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _download(url: str, dest: pathlib.Path, expected_md5: str, progress: bool) -> None:
    """Stream ``url`` into a temporary file beside ``dest``; rename it to ``dest`` only when
    complete and its md5 matches. On any failure the temporary file is removed."""
    from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no py.typed

    with atomic_writer(dest, suffix=".part") as out:
        try:
            response = urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S)
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise DataUnavailableError(
                f"cannot download CIFAR-10 from {url}: {e}; {_how_to_get(dest.parent)}"
            ) from e
        h = hashlib.md5(usedforsecurity=False)
        received = 0
        with response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=dest.name,
                disable=not progress,
            ) as bar:
                try:
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        h.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                except (OSError, http.client.HTTPException) as e:
                    raise DataCorruptError(
                        f"download of {url} broke off after {received} bytes: {e}; "
                        f"nothing was written to {dest}"
                    ) from e
        # Checked before the block ends, so a bad download never replaces ``dest``.
        if total is not None and received != total:
            raise DataCorruptError(
                f"download of {url} is truncated: received {received} of {total} bytes; "
                f"nothing was written to {dest}"
            )
        actual = h.hexdigest()
        if actual != expected_md5:
            raise DataCorruptError(
                f"download of {url} ({received} bytes) has md5 {actual}, expected "
                f"{expected_md5}: the file is corrupt or truncated; nothing was written to {dest}"
            )


def _verify(path: pathlib.Path, expected_md5: str) -> None:
    actual = _md5_of_file(path)
    if actual != expected_md5:
        raise DataCorruptError(
            f"cached file {path} ({path.stat().st_size} bytes) has md5 {actual}, expected "
            f"{expected_md5}: it is corrupt or truncated; delete it to download it again, "
            f"or replace it with a good copy of {CIFAR10_URL}"
        )


# --------------------------------------------------------------------------------------------
# CIFAR-10: decoding


class _BatchUnpickler(pickle.Unpickler):
    # The batches are pickles; allow only what they contain (NumPy arrays) so that a
    # tampered archive cannot run code on load.
    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"forbidden object in CIFAR-10 batch: {module}.{name}")
        return super().find_class(module, name)


def _read_batch(tar: tarfile.TarFile, member: str, archive: pathlib.Path):
    name = f"{_MEMBER_DIR}/{member}"
    try:
        f = tar.extractfile(name)
    except KeyError:
        raise DataCorruptError(f"{archive} has no member {name}: not a CIFAR-10 tarball") from None
    if f is None:
        raise DataCorruptError(f"{archive}: member {name} is not a file")
    batch = _BatchUnpickler(io.BytesIO(f.read()), encoding="bytes").load()
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataCorruptError(f"{archive}: {name} is not a CIFAR-10 batch (no data/labels)")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"])
    n = data.shape[0] if data.ndim == 2 else -1
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataCorruptError(
            f"{archive}: {name} data must be uint8 [n, 3072], got {data.dtype} {data.shape}"
        )
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise DataCorruptError(
            f"{archive}: {name} has {labels.shape} labels of {labels.dtype} for {n} images"
        )
    if n and (labels.min() < 0 or labels.max() > 9):
        raise DataCorruptError(f"{archive}: {name} has labels outside 0..9")
    # rows are 1024 red, 1024 green, 1024 blue values, each plane row-major: CHW -> HWC
    images = data.reshape(n, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int32)


def _decode(archive: pathlib.Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            train = [_read_batch(tar, m, archive) for m in _TRAIN_MEMBERS]
            test_images, test_labels = _read_batch(tar, _TEST_MEMBER, archive)
    except DataCorruptError:
        raise
    except (tarfile.TarError, EOFError, OSError, zlib.error, pickle.UnpicklingError) as e:
        raise DataCorruptError(f"cannot read {archive}: {type(e).__name__}: {e}") from e
    train_images = np.concatenate([b[0] for b in train])
    train_labels = np.concatenate([b[1] for b in train])
    return train_images, train_labels, test_images, test_labels


def _load_arrays(path: pathlib.Path, md5: str) -> Dataset | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["source_md5"]) != md5:
                return None
            return Dataset(
                z["train_images"], z["train_labels"], z["test_images"], z["test_labels"], "cifar10"
            )
    except (OSError, KeyError, ValueError, zlib.error, EOFError, zipfile.BadZipFile):
        return None  # a damaged or foreign cache is rebuilt from the tarball


def _save_arrays(path: pathlib.Path, data: Dataset, md5: str) -> None:
    try:
        with atomic_writer(path) as f:
            np.savez(
                f,
                train_images=data.train_images,
                train_labels=data.train_labels,
                test_images=data.test_images,
                test_labels=data.test_labels,
                source_md5=np.asarray(md5),
            )
    except OSError as e:
        warnings.warn(f"could not cache decoded CIFAR-10 at {path}: {e}", stacklevel=3)


def load_cifar10(
    root: str | os.PathLike | None = None, *, download: bool = True, progress: bool = True
) -> Dataset:
    """CIFAR-10 (50 000 train, 10 000 test images) from ``root/cifar-10-python.tar.gz``.

    Args:
      root: the data directory; ``data_dir()`` when ``None``.
      download: fetch the tarball from ``CIFAR10_URL`` when it is not in ``root``.
      progress: show a progress bar while downloading.

    Raises:
      DataUnavailableError: the tarball is missing and cannot (or may not) be downloaded; the
        message says where to put it.
      DataCorruptError: the cached or downloaded tarball fails the md5 check or cannot be read.

    Example::

        data = load_cifar10()          # downloads once, then reads the cache
        data.train_images.shape        # (50000, 32, 32, 3), uint8
    """
    # read at call time so that tests (and mirrors) can point these elsewhere
    url, md5 = CIFAR10_URL, CIFAR10_MD5
    root = pathlib.Path(root).expanduser() if root is not None else data_dir()
    archive = root / CIFAR10_FILENAME
    arrays = root / CIFAR10_ARRAYS
    if archive.exists():
        _verify(archive, md5)
    else:
        cached = _load_arrays(arrays, md5) if arrays.exists() else None
        if cached is not None:
            return cached
        if not download:
            raise DataUnavailableError(
                f"CIFAR-10 is not in {root} and download=False; {_how_to_get(root)}"
            )
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataUnavailableError(
                f"cannot create the data directory {root}: {e}; {_how_to_get(root)}"
            ) from e
        _download(url, archive, md5, progress)
    cached = _load_arrays(arrays, md5) if arrays.exists() else None
    if cached is not None:
        return cached
    data = Dataset(*_decode(archive), name="cifar10")
    _save_arrays(arrays, data, md5)
    return data
