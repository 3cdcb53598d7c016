"""CIFAR-10 from the canonical python tarball, and a deterministic synthetic CIFAR-shaped set.

Both come as a ``Dataset`` of uint8 NHWC images ``[N, 32, 32, 3]`` and int32 labels ``[N]`` in
``0..9``, with ``name`` ``"cifar10"`` or ``"synthetic"`` so that every output can say which data
it used.

CIFAR-10 is read from ``cifar-10-python.tar.gz`` in the data directory (``$JAXSCHED_DATA``, else
``$XDG_CACHE_HOME/jaxsched``, else ``~/.cache/jaxsched``). When the file is missing it is
downloaded from ``CIFAR10_URL`` with a progress bar into a temporary file beside its final
name, checked against ``CIFAR10_MD5``, and only then renamed into place; a corrupt or truncated
download raises ``DataCorruptError`` and leaves nothing in the cache. A cached tarball is checked
on every load, so a damaged one is reported instead of used. The decoded arrays are cached beside
it (``cifar-10-arrays.npz``) for fast reloads.

``load("auto")`` uses CIFAR-10 when it is cached or can be downloaded and otherwise warns (one
line, saying why) and returns the synthetic set; ``load("cifar10")`` never falls back.

Example::

    data = load("auto")                 # CIFAR-10, or the synthetic set with a warning
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
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from jaxsched._io import atomic_writer
from jaxsched._validate import check_choice, check_int

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "DataCorruptError",
    "DataUnavailableError",
    "Dataset",
    "SyntheticFallbackWarning",
    "Difficulty",
    "data_dir",
    "load",
    "load_cifar10",
    "synthetic",
    "template_frequencies",
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
    from tqdm import tqdm

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


# --------------------------------------------------------------------------------------------
# Synthetic CIFAR-shaped data

_SYN_CLASSES = 10
_SYN_MAX_FREQ = 4
_SYN_FREQ_DECAY = 0.5
_SYN_CONTRAST = (0.6, 1.4)
_SYN_BRIGHTNESS = 0.3
_SYN_PIXEL_SCALE = 40.0
_SYN_CHUNK = 2048


def _frequencies() -> tuple[np.ndarray, np.ndarray]:
    # One of each +-(fy, fx) pair: cos/sin of the negated frequency add nothing new.
    f = np.arange(-_SYN_MAX_FREQ, _SYN_MAX_FREQ + 1)
    fy, fx = np.meshgrid(f, f, indexing="ij")
    fy, fx = fy.ravel(), fx.ravel()
    keep = (fy > 0) | ((fy == 0) & (fx > 0))
    return fy[keep], fx[keep]


def _basis(fy: np.ndarray, fx: np.ndarray) -> np.ndarray:
    """[1 + 2F, 32*32]: a constant row, then cos and sin of each frequency over the image."""
    y = np.arange(32)
    theta = 2 * np.pi * (fy[:, None, None] * y[:, None] + fx[:, None, None] * y[None, :]) / 32
    rows = np.concatenate([np.ones((1, 32, 32)), np.cos(theta), np.sin(theta)])
    return rows.reshape(-1, 32 * 32).astype(np.float32)


def _noise_table() -> np.ndarray:
    # Gaussian quantiles at 256 evenly spaced probabilities: random bytes through this table
    # give N(0, 1)-distributed noise several times faster than drawing normals.
    from statistics import NormalDist

    p = (np.arange(256) + 0.5) / 256
    q = np.array([NormalDist().inv_cdf(float(x)) for x in p])
    return (q / q.std()).astype(np.float32)


def _sample(
    rng: np.random.Generator,
    cos_c: np.ndarray,
    sin_c: np.ndarray,
    fy: np.ndarray,
    fx: np.ndarray,
    n: int,
    d: Difficulty,
    colours: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    n_classes, per_class = cos_c.shape[:2]
    labels = rng.permutation(np.arange(n) % n_classes).astype(np.int32)
    own = _draw_templates(rng, n, per_class, d.zipf)
    other_class = (labels + rng.integers(1, n_classes, n)) % n_classes
    other = _draw_templates(rng, n, per_class, d.zipf)
    weight = rng.uniform(0.0, d.distractor, n).astype(np.float32)
    shift = rng.integers(-d.shift, d.shift + 1, (n, 2))
    other_shift = rng.integers(0, 32, (n, 2))
    contrast = rng.uniform(*_SYN_CONTRAST, n).astype(np.float32)
    brightness = (_SYN_BRIGHTNESS * rng.standard_normal((n, 3))).astype(np.float32)

    def shifted(cls, idx, sh):
        # translating a Fourier series by (dy, dx) rotates each frequency's (cos, sin) pair
        delta = 2 * np.pi * (fy * sh[:, :1] + fx * sh[:, 1:]) / 32
        c, s = np.cos(delta)[..., None], np.sin(delta)[..., None]
        a, b = cos_c[cls, idx], sin_c[cls, idx]
        return a * c - b * s, a * s + b * c

    a, b = shifted(labels, own, shift)
    oa, ob = shifted(other_class, other, other_shift)
    w = weight[:, None, None]
    brightness = brightness + np.float32(d.colour) * colours[labels]
    coef = np.concatenate(
        [
            (brightness * _SYN_PIXEL_SCALE + 128.0)[:, None, :],
            (a + w * oa) * (contrast[:, None, None] * _SYN_PIXEL_SCALE),
            (b + w * ob) * (contrast[:, None, None] * _SYN_PIXEL_SCALE),
        ],
        axis=1,
    ).astype(np.float32)  # [n, 1 + 2F, 3]
    coef = np.ascontiguousarray(coef.transpose(0, 2, 1))  # [n, 3, 1 + 2F]

    basis = _basis(fy, fx)
    table = _noise_table() * np.float32(d.noise * _SYN_PIXEL_SCALE)
    images = np.empty((n, 32, 32, 3), np.uint8)
    for start in range(0, n, _SYN_CHUNK):
        stop = min(n, start + _SYN_CHUNK)
        m = stop - start
        planes = coef[start:stop].reshape(m * 3, -1) @ basis  # [m*3, 1024]
        noise = np.frombuffer(rng.bytes(planes.size), np.uint8).reshape(planes.shape)
        planes += table[noise]
        # clip, cast and move channels last in one pass
        np.clip(
            planes.reshape(m, 3, 32, 32).transpose(0, 2, 3, 1),
            0.0,
            255.0,
            out=images[start:stop],
            casting="unsafe",
        )
    return images, labels


def template_frequencies(templates: int, zipf: float) -> np.ndarray:
    """How often each of a class's templates is drawn: ``p_k ~ k^-zipf`` for ranks ``k = 1..``.

    ``zipf = 0`` draws them uniformly (the original set).

    >>> template_frequencies(4, 0.0).tolist()
    [0.25, 0.25, 0.25, 0.25]
    >>> p = template_frequencies(256, 1.3)
    >>> round(float(p[0]), 3), round(float(p[0] / p[1]), 3), round(float(p[-1] / p[0]), 5)
    (0.303, 2.462, 0.00074)
    """
    check_int("templates", templates, minimum=1)
    _check_zipf(zipf)
    w = np.arange(1, templates + 1, dtype=np.float64) ** -float(zipf)
    return w / w.sum()


def _check_zipf(zipf: float) -> None:
    if isinstance(zipf, bool) or not isinstance(zipf, (int, float)) or not (
        0.0 <= zipf < float("inf")
    ):
        raise ValueError(f"zipf must be a finite number >= 0, got zipf={zipf!r}")


def _draw_templates(rng: np.random.Generator, n: int, templates: int, zipf: float) -> np.ndarray:
    """``n`` template indices (0 = rank 1) drawn from :func:`template_frequencies`."""
    if zipf == 0:
        return rng.integers(0, templates, n)  # the original set's draw, hence its bytes
    cdf = np.cumsum(template_frequencies(templates, zipf))
    # inverse CDF of uniform draws; the clip guards the last bin against cdf[-1] < 1 by rounding
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), templates - 1)


class Difficulty(NamedTuple):
    """The knobs of the synthetic set (see :func:`synthetic`); the defaults are the original set.

    Attributes:
      templates: templates per class; more templates, more to learn (and to memorise).
      shift: largest translation of the class template, in pixels (each axis, circular).
      distractor: largest weight of the other class's template mixed into each image.
      noise: standard deviation of the Gaussian pixel noise, in units of the template's.
      colour: standard deviation of a per-class mean colour added to every image of the class,
        in the same units. It is the cue a network picks up in its first steps (as CIFAR-10's
        class colour statistics are); 0 hides it, and the class is in the templates only.
      label_noise: fraction of *training* labels replaced by another class, drawn uniformly;
        the test labels stay clean.
      zipf: exponent of the templates' frequencies within a class, ``p_k ~ k^-zipf`` for the
        ``k``-th template (:func:`template_frequencies`); 0 draws them uniformly. With many
        templates and ``zipf`` near 1 the classes are a long tail of sub-classes of falling
        frequency, which a network learns one after another, in order of frequency: its
        loss falls as a smooth power law instead of in a few stages (see :func:`synthetic`).
    """

    templates: int = 8
    shift: int = 6
    distractor: float = 1.0
    noise: float = 1.0
    colour: float = 0.0
    label_noise: float = 0.0
    zipf: float = 0.0

    def check(self) -> Difficulty:
        check_int("templates", self.templates, minimum=1)
        check_int("shift", self.shift, minimum=0)
        if self.shift > 16:
            raise ValueError(f"shift must be at most 16 pixels, got shift={self.shift}")
        for name in ("distractor", "noise", "colour"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                0.0 <= value < float("inf")
            ):
                raise ValueError(f"{name} must be a finite number >= 0, got {name}={value!r}")
        ln = self.label_noise
        if isinstance(ln, bool) or not isinstance(ln, (int, float)) or not 0.0 <= ln < 1.0:
            raise ValueError(f"label_noise must be in [0, 1), got label_noise={ln!r}")
        _check_zipf(self.zipf)
        return self


def synthetic(
    n_train: int = 50_000,
    n_test: int = 10_000,
    seed: int = 0,
    *,
    templates: int = 8,
    shift: int = 6,
    distractor: float = 1.0,
    noise: float = 1.0,
    colour: float = 0.0,
    label_noise: float = 0.0,
    zipf: float = 0.0,
) -> Dataset:
    """A deterministic CIFAR-shaped data set (uint8 ``[N, 32, 32, 3]``, 10 balanced classes).

    Each class owns ``templates`` random colour templates: sums of low-frequency 2-D sinusoids
    (up to 4 cycles per image, amplitude falling as ``(1 + |f|^2)^-0.5``), normalised to unit
    pixel standard deviation, and a mean colour ``m_class ~ N(0, I_3)``. An image is::

        x = 128 + 40 * (c * (T_own(shift) + w * T_other(anywhere)) + b + colour * m_class
                        + noise * n)

    with one of its class's templates translated by up to ``±shift`` pixels (circularly), a
    distractor template of another class at a random position with weight
    ``w ~ U[0, distractor]``, contrast ``c ~ U[0.6, 1.4]``, per-channel brightness
    ``b ~ N(0, 0.3²)`` and Gaussian pixel noise ``n ~ N(0, 1)``, clipped to ``0..255``. Labels
    are balanced (a permutation of ``i % 10``); with ``label_noise`` a fraction of the training
    labels is then moved to a uniformly drawn other class. The knobs are :class:`Difficulty`'s.

    **Sub-classes of Zipf-distributed frequency** (``zipf > 0``). An image's own template (and
    its distractor's) is drawn with probability ``p_k ~ k^-zipf`` by rank ``k`` instead of
    uniformly. This follows the quantization model of neural scaling (Michaud et al., 2023):
    when what there is to learn is a set of discrete pieces (here: each class's templates) used
    with frequencies that fall as a power law, a network learns them roughly in order of
    frequency, and the loss that remains at any time is the share of the pieces not yet
    learned -- a sum over a power-law tail, hence itself a smooth power law in time. With a
    handful of equally frequent templates the same network learns in a few discrete stages,
    each one a plateau and a drop. CIFAR-10's classes are such a tail of sub-classes (poses,
    backgrounds, breeds) and its loss curves are smooth. Measured on the quick TinyViT (width
    64, 2 blocks, Adam 2e-3, batch 64, 1,000 steps, 1,536 images), 256 templates per class with
    ``zipf`` 1.3 and no shift make the constant run's curve follow the notes' on average, but
    it wanders: its 5%-window curve moves by about 10% (in log) about a smooth fit, and it
    falls faster than the notes' late in the run, the set's last images being memorised at an
    even pace. A few percent of ``label_noise`` supplies the slow tail: each mislabelled image
    is a piece of its own that only memorisation learns, and CIFAR-10 has such atypical
    images too; with 5% the wander halves and the curve lands in the regime rule's shape
    bands (``jaxsched.chapter.regime``). ``zipf = 0`` keeps the original set's bytes.

    With the defaults the classes are learnable but not trivially: a linear classifier on
    downsampled pixels reaches about 40% test accuracy, and a small ViT needs thousands of Adam
    steps at batch 128 to get its training loss well below 1 (it first sits on a plateau at
    ln 10). The reproduction's presets set ``colour`` and the set size so that training starts
    at once, as on CIFAR-10 (see ``jaxsched.chapter.regime``). Same arguments, same bytes; the
    test set does not depend on ``n_train``; the defaults give the bytes of the original set.

    Example::

        data = synthetic(n_train=1000, n_test=200, seed=0, colour=0.5)
        data.train_images.shape, data.name     # ((1000, 32, 32, 3), 'synthetic')
    """
    check_int("n_train", n_train, minimum=1)
    check_int("n_test", n_test, minimum=0)
    check_int("seed", seed, minimum=0)
    d = Difficulty(templates, shift, distractor, noise, colour, label_noise, zipf).check()
    # A fourth child for the new knobs: the first three children, hence the original set's
    # bytes, do not change.
    templates_ss, train_ss, test_ss, extra_ss = np.random.SeedSequence(int(seed)).spawn(4)
    fy, fx = _frequencies()
    rng = np.random.default_rng(templates_ss)
    shape = (_SYN_CLASSES, d.templates, fy.size, 3)
    scale = (1.0 / (1.0 + fy**2 + fx**2) ** _SYN_FREQ_DECAY)[:, None]
    cos_c = rng.standard_normal(shape) * scale
    sin_c = rng.standard_normal(shape) * scale
    # pixel variance of a Fourier series = sum of squared coefficients / 2, over 3 channels
    norm = np.sqrt((cos_c**2 + sin_c**2).sum(axis=(2, 3), keepdims=True) / 2 / 3)
    cos_c, sin_c = cos_c / norm, sin_c / norm
    extra = np.random.default_rng(extra_ss)
    colours = extra.standard_normal((_SYN_CLASSES, 3)).astype(np.float32)
    train = _sample(np.random.default_rng(train_ss), cos_c, sin_c, fy, fx, int(n_train), d, colours)
    test = _sample(np.random.default_rng(test_ss), cos_c, sin_c, fy, fx, int(n_test), d, colours)
    train_labels = train[1]
    if d.label_noise > 0:
        flip = extra.random(train_labels.size) < d.label_noise
        moved = (train_labels + extra.integers(1, _SYN_CLASSES, train_labels.size)) % _SYN_CLASSES
        train_labels = np.where(flip, moved, train_labels).astype(np.int32)
    return Dataset(train[0], train_labels, test[0], test[1], name="synthetic")


# --------------------------------------------------------------------------------------------
# Front door

KINDS = ("auto", "cifar10", "synthetic")


def load(
    kind: str = "auto",
    root: str | os.PathLike | None = None,
    *,
    progress: bool = True,
    synthetic_kwargs: Mapping[str, Any] | None = None,
) -> Dataset:
    """The training data by ``kind``.

    * ``"cifar10"``: ``load_cifar10(root)``; raises ``DataUnavailableError`` (with how to get
      the file) when it cannot be had, and ``DataCorruptError`` for a bad file. Never falls back.
    * ``"synthetic"``: ``synthetic(**synthetic_kwargs)``.
    * ``"auto"``: CIFAR-10 when it is cached or can be downloaded; otherwise (no file and no
      network, or a corrupt file) a one-line :class:`SyntheticFallbackWarning` saying why, and
      the synthetic set. Check ``Dataset.name``.

    Example::

        data = load("auto", synthetic_kwargs={"n_train": 5000})
    """
    check_choice("kind", kind, KINDS)
    if synthetic_kwargs is not None and not isinstance(synthetic_kwargs, Mapping):
        raise ValueError(
            f"synthetic_kwargs must be a mapping, got synthetic_kwargs={synthetic_kwargs!r}"
        )
    if kind == "synthetic":
        return synthetic(**(synthetic_kwargs or {}))
    if kind == "cifar10":
        return load_cifar10(root, download=True, progress=progress)
    try:
        return load_cifar10(root, download=True, progress=progress)
    except DataUnavailableError as e:
        reason = " ".join(str(e).split())
        warnings.warn(
            f"CIFAR-10 unavailable, using the SYNTHETIC data set instead: {reason}",
            SyntheticFallbackWarning,
            stacklevel=2,
        )
        return synthetic(**(synthetic_kwargs or {}))
