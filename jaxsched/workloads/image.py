"""The image workload: the notes' TinyViT on CIFAR-10 or the stand-in, at sizes for a machine.

A size (:class:`ImageSize`) fixes what is trained, whatever the schedule: the model's shape,
the batch, the synthetic stand-in's size and difficulty (CIFAR-10 is always used whole), how
many test images an evaluation reads and how many fixed batches estimate the training loss.
:func:`build` makes it the catalogue's ``tinyvit`` workload; :func:`image_classification_task`
is the task of any image classifier on uint8 images; :func:`load` chooses the data.

>>> import jax
>>> s = SIZES["smoke"]
>>> s.model.features, s.batch_size, s.synthetic_train
(16, 16, 1024)
>>> data = s.load_data("synthetic")
>>> task = s.task(data)
>>> sorted(task.metrics(task.init(jax.random.key(0))))
['accuracy', 'loss', 'train_loss']
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Mapping
from typing import Any, cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxsched import _validate as v
from jaxsched.train.task import Task, with_train_loss
from jaxsched.workloads.catalogue import Built
from jaxsched.workloads.cifar10 import (
    Dataset,
    DataUnavailableError,
    SyntheticFallbackWarning,
    load_cifar10,
)
from jaxsched.workloads.standin import Difficulty, synthetic
from jaxsched.workloads.tinyvit import READOUTS, TinyViT

__all__ = ["KINDS", "MODEL_FIELDS", "SIZES", "STANDIN", "STANDIN_CPU", "STANDIN_FULL_WIDTH",
           "ImageSize", "build", "classification_metrics", "cross_entropy",
           "image_classification_task", "load", "pad_batches"]


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy ``mean(-log_softmax(logits)[label])``, as the notes compute."""
    logp = nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=-1))


def classification_metrics(model: nn.Module, params: Any, images, labels, weights):
    """Weighted mean loss and accuracy of ``model`` over batches ``[B, b, ...]`` (one scan).

    ``images`` uint8 ``[B, b, H, W, C]`` (divided by 255 here), ``labels`` ``[B, b]``,
    ``weights`` ``[B, b]`` (0 for padding). No dropout.
    """

    def body(carry, xs):
        x, y, w = xs
        # apply's return type covers `mutable=`; without it the output is the logits alone
        logits = cast(jax.Array, model.apply(
            {"params": params}, x.astype(jnp.float32) / 255.0, deterministic=True
        ))
        nll = -jnp.take_along_axis(nn.log_softmax(logits), y[:, None], axis=-1)[:, 0]
        correct = (jnp.argmax(logits, axis=-1) == y).astype(jnp.float32)
        return (carry[0] + jnp.sum(w * nll), carry[1] + jnp.sum(w * correct)), None

    zero = jnp.zeros((), jnp.float32)
    (nll, correct), _ = jax.lax.scan(body, (zero, zero), (images, labels, weights))
    total = jnp.sum(weights)
    return {"loss": nll / total, "accuracy": correct / total}


def pad_batches(images, labels, batch_size: int):
    """``(images, labels, weights)`` reshaped to ``[B, b, ...]`` batches, zero-weight padding."""
    shape = tuple(np.shape(images))
    n = shape[0]
    batch = min(batch_size, n)
    nb = math.ceil(n / batch)
    pad = nb * batch - n
    images = jnp.asarray(images)
    labels = jnp.asarray(labels, jnp.int32)
    weights = jnp.ones((n,), jnp.float32)
    if pad:
        images = jnp.concatenate([images, jnp.zeros((pad, *shape[1:]), images.dtype)])
        labels = jnp.concatenate([labels, jnp.zeros((pad,), jnp.int32)])
        weights = jnp.concatenate([weights, jnp.zeros((pad,), jnp.float32)])
    return (images.reshape(nb, batch, *shape[1:]), labels.reshape(nb, batch),
            weights.reshape(nb, batch))


def image_classification_task(
    model: nn.Module,
    train_images: Any,
    train_labels: Any,
    *,
    batch_size: int = 128,
    test_images: Any = None,
    test_labels: Any = None,
    eval_batch_size: int = 1000,
    train_eval_batches: int = 0,
) -> Task:
    """The notes' image classifier as a task (the TinyViT/CIFAR-10 trainer's).

    ``init`` is ``model.init`` with the key as both its params and dropout rng; ``sample``
    draws ``batch_size`` indices with replacement (``randint(key, (b,), 0, N)``, as the notes)
    and scales the uint8 images to [0, 1]; ``loss`` is cross-entropy with dropout.

    ``evaluate`` reports, without dropout, the test set's mean ``loss`` and ``accuracy`` (with a
    test set; otherwise the default: ``loss`` on a fixed training batch). With
    ``train_eval_batches = K > 0`` it also reports ``train_loss``: the training loss *with*
    dropout, the quantity the notes plot, averaged over K fixed batches drawn with fixed keys
    (``split(key(EVAL_SEED), K)[i]``), the same batches and dropout masks for every run and every
    evaluation (:func:`~jaxsched.train.task.with_train_loss`).

    The arrays are captured as they are: put them on the device (or a mesh) beforehand.
    """
    v.check_int("batch_size", batch_size, minimum=1)
    v.check_int("eval_batch_size", eval_batch_size, minimum=1)
    v.check_int("train_eval_batches", train_eval_batches, minimum=0)
    shape = tuple(np.shape(train_images))
    if len(shape) != 4 or shape[0] == 0:
        raise ValueError(f"train_images must be a non-empty [N, H, W, C] array, got shape {shape}")
    if np.dtype(train_images.dtype) != np.uint8:
        raise ValueError(
            f"train_images must be uint8 (the task divides by 255), got dtype {train_images.dtype}"
        )
    if tuple(np.shape(train_labels)) != (shape[0],):
        raise ValueError(
            f"train_labels must have shape ({shape[0]},) to match train_images, got shape "
            f"{tuple(np.shape(train_labels))}"
        )
    if not np.issubdtype(np.dtype(train_labels.dtype), np.integer):
        raise ValueError(f"train_labels must be integers, got dtype {train_labels.dtype}")
    if (test_images is None) != (test_labels is None):
        raise ValueError("test_images and test_labels must be given together")
    sample_shape = (1, *shape[1:])
    n = shape[0]

    def init(key):
        x = jnp.zeros(sample_shape, jnp.float32)
        return model.init({"params": key, "dropout": key}, x, deterministic=True)["params"]

    def sample(key):
        idx = jax.random.randint(key, (batch_size,), 0, n)
        return train_images[idx].astype(jnp.float32) / 255.0, train_labels[idx]

    def loss(params, batch, key):
        x, y = batch
        logits = cast(jax.Array, model.apply(
            {"params": params}, x, deterministic=False, rngs={"dropout": key}
        ))
        return cross_entropy(logits, y)

    if test_images is None:
        return with_train_loss(Task(init, loss, sample), train_eval_batches)
    test = pad_batches(test_images, test_labels, eval_batch_size)

    def evaluate(params):
        return classification_metrics(model, params, *test)

    return with_train_loss(Task(init, loss, sample, evaluate), train_eval_batches)


# --------------------------------------------------------------------------------------------
# The data

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
    v.check_choice("kind", kind, KINDS)
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


# --------------------------------------------------------------------------------------------
# Sizes

MODEL_FIELDS = ("features", "patch_size", "num_blocks", "num_heads", "dropout", "readout")
"""The TinyViT attributes that describe a size's model (the rest are how it computes)."""


@dataclasses.dataclass(frozen=True)
class ImageSize:
    """A TinyViT on CIFAR-10 or the synthetic stand-in, at one size.

    Attributes:
      name: the key in :data:`SIZES`.
      model: the TinyViT (the notes': ``TinyViT()``).
      batch_size: images per step, sampled with replacement.
      synthetic_train / synthetic_test: sizes of the stand-in's training and test sets.
      difficulty: the stand-in's knobs (:class:`~jaxsched.workloads.standin.Difficulty`).
      eval_examples: test images per evaluation (the first ones of the test set).
      train_eval_batches: fixed batches behind the ``train_loss`` metric (0: none).
      description: one line for help texts.
    """

    name: str
    model: TinyViT
    batch_size: int
    synthetic_train: int
    synthetic_test: int
    difficulty: Difficulty = Difficulty()
    eval_examples: int = 10_000
    train_eval_batches: int = 16
    description: str = ""

    def __post_init__(self) -> None:
        for name in ("batch_size", "synthetic_train", "synthetic_test", "eval_examples"):
            v.check_int(name, getattr(self, name), minimum=1)
        v.check_int("train_eval_batches", self.train_eval_batches, minimum=0)
        self.difficulty.check()

    def synthetic_kwargs(self) -> dict[str, Any]:
        """Arguments of :func:`~jaxsched.workloads.standin.synthetic` for this size's stand-in."""
        return {"n_train": self.synthetic_train, "n_test": self.synthetic_test,
                **self.difficulty._asdict()}

    def load_data(self, kind: str = "auto", *, progress: bool = True) -> Dataset:
        """CIFAR-10 or this size's stand-in (see :func:`load`)."""
        return load(kind, progress=progress, synthetic_kwargs=self.synthetic_kwargs())

    def with_readout(self, readout: str | None) -> ImageSize:
        """The same size reading out ``readout`` (``None``: unchanged)."""
        if readout is None:
            return self
        v.check_choice("readout", readout, READOUTS)
        return dataclasses.replace(self, model=self.model.clone(readout=readout))

    def task(self, dataset: Dataset) -> Task:
        """The image-classification task on ``dataset``: cross-entropy with dropout; evaluation
        on the first ``eval_examples`` test images (``loss``, ``accuracy``) and ``train_loss``
        on ``train_eval_batches`` fixed training batches."""
        n = min(self.eval_examples, len(dataset.test_labels))
        return image_classification_task(
            self.model, jnp.asarray(dataset.train_images),
            jnp.asarray(dataset.train_labels, jnp.int32), batch_size=self.batch_size,
            test_images=dataset.test_images[:n] if n else None,
            test_labels=dataset.test_labels[:n] if n else None,
            train_eval_batches=self.train_eval_batches,
        )

    def describe(self, data_name: str | None = None) -> dict[str, Any]:
        """What the size trains, as JSON (for run identities and reports)."""
        out = {
            "workload": self.name,
            "model": {f: getattr(self.model, f) for f in MODEL_FIELDS},
            "batch_size": self.batch_size,
            "eval_examples": self.eval_examples,
            "train_eval_batches": self.train_eval_batches,
        }
        if data_name is not None:
            out["data"] = data_name
            if data_name == "synthetic":
                out["synthetic"] = self.synthetic_kwargs()
        return out


# The stand-ins of the sizes (``smoke`` keeps the original set): Zipf-distributed sub-classes
# (256 per class, no template shift), a per-class colour cue. Each was chosen on the chapter's
# two calibrating runs alone (Constant LR and Stepwise at 75%: the regime bands of
# jaxsched.chapter.regime, the noise share nu at the learning rate the sweep picks and at every
# rate its seeds do not resolve from it), never on the other runs (experiments/
# calibrate_standin.py, experiments/calibration). The Zipf exponent sets how much is left to
# learn at the end, hence the noise share; the distractor and the moved labels hold off
# saturation. The quick size's (probe BO) trains 40,000 steps of 4 on a quarter-width model.
STANDIN = Difficulty(templates=256, zipf=1.75, shift=0, distractor=1.15, noise=0.5, colour=0.5,
                     label_noise=0.0)
"""The quick size's stand-in."""
STANDIN_FULL_WIDTH = Difficulty(templates=256, zipf=1.5, shift=0, distractor=1.0, noise=0.5,
                                colour=0.5, label_noise=0.01)
"""The stand-in of the notes' full-width TinyViT at the ``full`` size."""
STANDIN_CPU = Difficulty(templates=256, zipf=1.75, shift=0, distractor=1.3, noise=0.5,
                         colour=0.5, label_noise=0.01)
"""The cpu size's stand-in (probe BT: the full-width TinyViT, 32,000 steps of 4)."""

SIZES: dict[str, ImageSize] = {
    w.name: w
    for w in [
        ImageSize(
            "smoke", TinyViT(features=16, num_blocks=1, num_heads=2), batch_size=16,
            synthetic_train=1024, synthetic_test=256, eval_examples=256, train_eval_batches=2,
            description="seconds; a toy TinyViT for the tests",
        ),
        ImageSize(
            "quick", TinyViT(features=32, num_blocks=2, num_heads=4), batch_size=4,
            synthetic_train=5_000, synthetic_test=1_000, difficulty=STANDIN,
            eval_examples=1_000, description="quarter-width, half-depth TinyViT, batch 4",
        ),
        ImageSize(
            "cpu", TinyViT(), batch_size=4, synthetic_train=4_000, synthetic_test=2_000,
            difficulty=STANDIN_CPU, eval_examples=2_000,
            description="the notes' TinyViT at batch 4",
        ),
        ImageSize(
            "full", TinyViT(), batch_size=128, synthetic_train=50_000, synthetic_test=10_000,
            difficulty=STANDIN_FULL_WIDTH,
            description="the notes' TinyViT, batch and data size",
        ),
    ]
}
"""The sizes of the image workload by name (the catalogue's ``tinyvit``)."""


def build(size: str, *, data: str = "auto", progress: bool = False,
          readout: str | None = None) -> Built:
    """The catalogue's ``tinyvit`` workload at ``size`` (a key of :data:`SIZES`).

    The data is the size's (CIFAR-10 when it can be had with ``data="auto"``, else the stand-in
    with a :class:`~jaxsched.workloads.cifar10.SyntheticFallbackWarning`); ``readout`` reads out
    the class token instead of the notes' first patch token.
    """
    v.check_choice("size", size, tuple(SIZES))
    s = SIZES[size].with_readout(readout)
    dataset = s.load_data(data, progress=progress)
    m = s.model
    n = min(s.eval_examples, len(dataset.test_labels))
    notes = [f"Task: TinyViT width {m.features}, {m.num_blocks} blocks, {m.num_heads} heads, "
             f"patch {m.patch_size}, dropout {m.dropout}, readout {m.readout}; batch "
             f"{s.batch_size}; metric: test cross-entropy on {n} test images"
             + (f"; `train_loss` on {s.train_eval_batches} fixed training batches."
                if s.train_eval_batches else "."),
             f"**Data: {dataset.name}**" + (
                 " — a deterministic CIFAR-shaped synthetic stand-in, NOT CIFAR-10."
                 if dataset.name != "cifar10" else " (the canonical CIFAR-10 tarball).")]
    if dataset.name == "synthetic":
        notes.append(f"Synthetic set: {s.synthetic_train} training images; difficulty "
                     + ", ".join(f"{k}={x}" for k, x in s.difficulty._asdict().items())
                     + " (`jaxsched.workloads.standin.Difficulty`).")
    return Built(s.task(dataset), s.describe(dataset.name), notes, data_name=dataset.name,
                 examples_per_step=s.batch_size, train_examples=len(dataset.train_labels),
                 chance_loss=math.log(10.0))
