"""What the group loop trains: a :class:`Task` (init, loss, sample, evaluate).

A task is four pure functions of JAX arrays, so that the compiled loop can ``vmap`` them over
runs and call them inside its ``while`` loop:

* ``init(key) -> params``;
* ``loss(params, batch, key) -> scalar``, the key being for dropout (ignore it if unused);
* ``sample(key) -> batch``, a fresh minibatch drawn on device;
* ``evaluate(params) -> {"loss": scalar, ...}``, deterministic metrics of the parameters.

The default ``evaluate`` is ``loss`` on the fixed batch ``sample(key(EVAL_SEED))`` with the fixed
key ``key(EVAL_SEED)``: deterministic, but of a single batch; give your own for a held-out set.

What a task trains is not defined here: the built-in workloads (:mod:`jaxsched.workloads`)
build theirs, and any JAX model is a task in four functions.

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

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxsched import _validate as v

__all__ = ["EVAL_SEED", "Task", "with_train_loss"]

EVAL_SEED = 0x5EED
"""Seed of the fixed batch and key of a task's default ``evaluate``."""


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


def with_train_loss(task: Task, batches: int) -> Task:
    """``task`` whose ``evaluate`` also reports ``train_loss``: the training loss, with its
    randomness (dropout) on, at the evaluated parameters, averaged over ``batches`` fixed
    batches drawn with fixed keys.

    Batch ``i`` and its key come from ``split(key(EVAL_SEED), batches)[i]`` (one key split into
    a data key and a loss key), the same for every run and every evaluation: two runs' values
    are paired. It estimates the expected training loss at the evaluated parameters without the
    step-to-step noise of the per-step losses, so that two runs' final values can be compared at
    lower variance than a short moving average gives. ``batches = 0`` returns ``task``.

    >>> import jax, jax.numpy as jnp
    >>> task = Task(init=lambda k: jnp.ones(3), loss=lambda p, b, k: jnp.mean((b - p) ** 2),
    ...             sample=lambda k: jax.random.normal(k, (8, 3)))
    >>> sorted(with_train_loss(task, 4).metrics(jnp.zeros(3)))
    ['loss', 'train_loss']
    """
    v.check_int("batches", batches, minimum=0)
    if not batches:
        return task
    fixed = jax.random.split(jax.random.key(EVAL_SEED), batches)

    def train_loss(params: Any) -> jax.Array:
        def body(total: jax.Array, key: jax.Array) -> tuple[jax.Array, None]:
            data_key, loss_key = jax.random.split(key)
            return total + task.loss(params, task.sample(data_key), loss_key), None

        total, _ = jax.lax.scan(body, jnp.zeros((), jnp.float32), fixed)
        return total / batches

    def evaluate(params: Any) -> dict[str, jax.Array]:
        out = dict(task.metrics(params))
        out["train_loss"] = train_loss(params)
        return out

    return task._replace(evaluate=evaluate)
