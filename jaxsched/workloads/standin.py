"""The synthetic stand-in: a deterministic CIFAR-shaped data set built to learn like CIFAR-10.

:func:`synthetic` draws uint8 ``[N, 32, 32, 3]`` images of 10 balanced classes from random
low-frequency colour templates; :class:`Difficulty` holds its knobs (templates per class and
their Zipf frequencies, shift, distractor, noise, colour cue, label noise). It returns the same
:class:`~jaxsched.workloads.cifar10.Dataset` as the CIFAR-10 loader, named ``"synthetic"`` so
that every output says which data it used.

>>> data = synthetic(n_train=100, n_test=20, seed=0, colour=0.5)
>>> data.train_images.shape, data.train_images.dtype.name, data.name
((100, 32, 32, 3), 'uint8', 'synthetic')
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxsched._validate import check_int
from jaxsched.workloads.cifar10 import Dataset

__all__ = ["Difficulty", "synthetic", "template_frequencies"]


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
    fy, fx = (g.ravel() for g in np.meshgrid(f, f, indexing="ij"))
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
    brightness: np.ndarray = (_SYN_BRIGHTNESS * rng.standard_normal((n, 3))).astype(np.float32)

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
    backgrounds, breeds) and its loss curves are smooth. Measured on a half-width TinyViT (width
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
