"""Sized workloads: the notes' TinyViT and its training data, at a size for a machine.

A workload fixes what is trained, whatever the schedule: the model's shape, the batch, the
synthetic stand-in's size and difficulty (CIFAR-10 is always used whole), how many test images
an evaluation reads and how many fixed batches estimate the training loss. The reproduction
(:mod:`jaxsched.chapter`) adds the notes' horizon and learning rate to a workload; the anytime
comparison (:mod:`jaxsched.compare`) trains its grid on one. Both build their
:class:`~jaxsched.train.task.Task` here.

>>> import jax
>>> w = WORKLOADS["smoke"]
>>> w.model.features, w.batch_size, w.synthetic_train
(16, 16, 1024)
>>> data = w.load_data("synthetic")
>>> task = w.task(data)
>>> sorted(task.metrics(task.init(jax.random.key(0))))
['accuracy', 'loss', 'train_loss']
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp

from jaxsched import _validate as v
from jaxsched.train import data as data_lib
from jaxsched.train.model import READOUTS, TinyViT
from jaxsched.train.task import Task, image_classification_task

__all__ = ["MODEL_FIELDS", "STANDIN", "WORKLOADS", "ImageWorkload"]

MODEL_FIELDS = ("features", "patch_size", "num_blocks", "num_heads", "dropout", "readout")
"""The TinyViT attributes that describe a workload's model (the rest are how it computes)."""


@dataclasses.dataclass(frozen=True)
class ImageWorkload:
    """A TinyViT on CIFAR-10 or the synthetic stand-in, at one size.

    Attributes:
      name: the key in :data:`WORKLOADS`.
      model: the TinyViT (the notes': ``TinyViT()``).
      batch_size: images per step, sampled with replacement.
      synthetic_train / synthetic_test: sizes of the stand-in's training and test sets.
      difficulty: the stand-in's knobs (:class:`~jaxsched.train.data.Difficulty`).
      eval_examples: test images per evaluation (the first ones of the test set).
      train_eval_batches: fixed batches behind the ``train_loss`` metric (0: none).
      description: one line for help texts.
    """

    name: str
    model: TinyViT
    batch_size: int
    synthetic_train: int
    synthetic_test: int
    difficulty: data_lib.Difficulty = data_lib.Difficulty()
    eval_examples: int = 10_000
    train_eval_batches: int = 16
    description: str = ""

    def __post_init__(self) -> None:
        for name in ("batch_size", "synthetic_train", "synthetic_test", "eval_examples"):
            v.check_int(name, getattr(self, name), minimum=1)
        v.check_int("train_eval_batches", self.train_eval_batches, minimum=0)
        self.difficulty.check()

    def synthetic_kwargs(self) -> dict[str, Any]:
        """Arguments of :func:`jaxsched.train.data.synthetic` for this workload's stand-in."""
        return {"n_train": self.synthetic_train, "n_test": self.synthetic_test,
                **self.difficulty._asdict()}

    def load_data(self, kind: str = "auto", *, progress: bool = True) -> data_lib.Dataset:
        """CIFAR-10 or this workload's stand-in (see :func:`jaxsched.train.data.load`)."""
        return data_lib.load(kind, progress=progress, synthetic_kwargs=self.synthetic_kwargs())

    def with_readout(self, readout: str | None) -> ImageWorkload:
        """The same workload reading out ``readout`` (``None``: unchanged)."""
        if readout is None:
            return self
        v.check_choice("readout", readout, READOUTS)
        return dataclasses.replace(self, model=self.model.clone(readout=readout))

    def task(self, dataset: data_lib.Dataset) -> Task:
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
        """What the workload trains, as JSON (for run identities and reports)."""
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


# The stand-in of the sized workloads (``smoke`` keeps the original set): Zipf-distributed
# sub-classes (256 per class, frequency ~ rank^-1.3), no template shift, 5% of the training
# labels moved, a per-class colour cue. Chosen so that the chapter's constant-LR run learns
# like the notes' on CIFAR-10: at once, then a smooth power-law-like fall with no stages
# (jaxsched.chapter.regime states the bands, and the presets were sized by them).
STANDIN = data_lib.Difficulty(templates=256, zipf=1.3, shift=0, distractor=1.0, noise=0.5,
                              colour=0.5, label_noise=0.05)

WORKLOADS: dict[str, ImageWorkload] = {
    w.name: w
    for w in [
        ImageWorkload(
            "smoke", TinyViT(features=16, num_blocks=1, num_heads=2), batch_size=16,
            synthetic_train=1024, synthetic_test=256, eval_examples=256, train_eval_batches=2,
            description="seconds; a toy TinyViT for the tests",
        ),
        ImageWorkload(
            "quick", TinyViT(features=64, num_blocks=2, num_heads=4), batch_size=64,
            synthetic_train=1_536, synthetic_test=1_000, difficulty=STANDIN,
            eval_examples=1_000, description="half-width, half-depth TinyViT, batch 64",
        ),
        ImageWorkload(
            "cpu", TinyViT(), batch_size=32, synthetic_train=1_536, synthetic_test=2_000,
            difficulty=STANDIN, eval_examples=2_000,
            description="the notes' TinyViT at batch 32",
        ),
        ImageWorkload(
            "full", TinyViT(), batch_size=128, synthetic_train=50_000, synthetic_test=10_000,
            difficulty=STANDIN, description="the notes' TinyViT, batch and data size",
        ),
    ]
}
"""The sized TinyViT workloads by name."""
