"""What the group loop trains: a :class:`Task` (init, loss, sample, evaluate).

A task is four pure functions of JAX arrays, so that the compiled loop can ``vmap`` them over
runs and call them inside its ``while`` loop:

* ``init(key) -> params``;
* ``loss(params, batch, key) -> scalar``, the key being for dropout (ignore it if unused);
* ``sample(key) -> batch``, a fresh minibatch drawn on device;
* ``evaluate(params) -> {"loss": scalar, ...}``, deterministic metrics of the parameters.

The default ``evaluate`` is ``loss`` on the fixed batch ``sample(key(EVAL_SEED))`` with the fixed
key ``key(EVAL_SEED)``: deterministic, but of a single batch; give your own for a held-out set.

The TinyViT/CIFAR-10 trainer is one task (:func:`image_classification_task`): images sampled
with replacement from a uint8 array, cross-entropy, and test-set loss and accuracy (and, on
request, a low-variance training loss). A byte-level language model is another
(:mod:`jaxsched.train.charlm`).

>>> import jax, jax.numpy as jnp
>>> task = Task(init=lambda k: jax.random.normal(k, (3,)),
...             loss=lambda p, b, k: jnp.mean((b @ p) ** 2),
...             sample=lambda k: jax.random.normal(k, (8, 3)))
>>> sorted(task.metrics(jnp.zeros(3)))
['loss']
>>> float(task.metrics(jnp.zeros(3))["loss"])
0.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxsched import _validate as v

__all__ = ["EVAL_SEED", "Task", "classification_metrics", "cross_entropy",
           "image_classification_task", "pad_batches"]

EVAL_SEED = 0x5EED
"""Seed of the fixed batch and key of a task's default ``evaluate``."""


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy ``mean(-log_softmax(logits)[label])``, as the notes compute."""
    logp = nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=-1))


class Task(NamedTuple):
    """A model, its data and its loss, as pure JAX functions (see the module docstring).

    Attributes:
      init: ``key -> params``.
      loss: ``(params, batch, key) -> scalar``; the key is for dropout.
      sample: ``key -> batch``, called inside the compiled step.
      evaluate: ``params -> dict`` of scalars holding at least ``"loss"``; ``None``: ``loss``
        on a fixed batch with a fixed key (:meth:`metrics`).
    """

    init: Callable[[jax.Array], Any]
    loss: Callable[[Any, Any, jax.Array], jax.Array]
    sample: Callable[[jax.Array], Any]
    evaluate: Callable[[Any], Mapping[str, jax.Array]] | None = None

    def metrics(self, params: Any) -> dict[str, jax.Array]:
        """``evaluate(params)``, or the default (loss on the fixed batch), as f32 scalars."""
        if self.evaluate is None:
            key = jax.random.key(EVAL_SEED)
            return {"loss": jnp.asarray(self.loss(params, self.sample(key), key), jnp.float32)}
        out = self.evaluate(params)
        if not isinstance(out, Mapping) or "loss" not in out:
            raise ValueError(
                f"evaluate must return a dict holding at least 'loss', got {type(out).__name__}"
                + (f" with keys {sorted(out)}" if isinstance(out, Mapping) else "")
            )
        return {k: jnp.asarray(v, jnp.float32) for k, v in out.items()}

    def validate(self) -> None:
        """``ValueError`` naming the first field that is not callable."""
        for name in ("init", "loss", "sample"):
            if not callable(getattr(self, name)):
                raise ValueError(f"{name} must be callable, got {name}={getattr(self, name)!r}")
        if self.evaluate is not None and not callable(self.evaluate):
            raise ValueError(f"evaluate must be callable or None, got evaluate={self.evaluate!r}")


def classification_metrics(model: nn.Module, params: Any, images, labels, weights):
    """Weighted mean loss and accuracy of ``model`` over batches ``[B, b, ...]`` (one scan).

    ``images`` uint8 ``[B, b, H, W, C]`` (divided by 255 here), ``labels`` ``[B, b]``,
    ``weights`` ``[B, b]`` (0 for padding). No dropout.
    """

    def body(carry, xs):
        x, y, w = xs
        logits = model.apply({"params": params}, x.astype(jnp.float32) / 255.0, deterministic=True)
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
    (``fold_in(key(EVAL_SEED), i)``), the same batches and dropout masks for every run and every
    evaluation. It estimates the expected training loss at the evaluated parameters without the
    step-to-step noise of the per-step losses, so two runs' final values can be compared at
    lower variance than a short moving average gives.

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
        logits = model.apply({"params": params}, x, deterministic=False, rngs={"dropout": key})
        return cross_entropy(logits, y)

    if test_images is None and not train_eval_batches:
        return Task(init, loss, sample)

    test = None if test_images is None else pad_batches(test_images, test_labels, eval_batch_size)
    fixed = jax.random.split(jax.random.key(EVAL_SEED), max(train_eval_batches, 1))

    def train_loss(params):
        def body(total, key):
            data_key, dropout_key = jax.random.split(key)
            return total + loss(params, sample(data_key), dropout_key), None

        total, _ = jax.lax.scan(body, jnp.zeros((), jnp.float32), fixed[:train_eval_batches])
        return total / train_eval_batches

    def evaluate(params):
        if test is None:
            key = jax.random.key(EVAL_SEED)
            out = {"loss": loss(params, sample(key), key)}
        else:
            out = classification_metrics(model, params, *test)
        if train_eval_batches:
            out["train_loss"] = train_loss(params)
        return out

    return Task(init, loss, sample, evaluate)
