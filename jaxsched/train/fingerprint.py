"""Fingerprints of what a run computes: its task's functions and its optimizer's update.

A run directory is keyed by its config (names, numbers) *and* by these fingerprints, so that a
run whose model, data, evaluation or optimizer changed under the same names is never resumed
from a stale directory. A fingerprint is the SHA-256 of

* the printed jaxpr of each function, traced on abstract inputs (shapes and dtypes only): the
  computation itself, with every constant small enough to be inlined written out;
* the bytes, shapes and dtypes of the arrays the functions close over (the training images, the
  test set, a teacher network's weights, ...), which the jaxpr refers to without their values.

Tracing costs about a second for the notes' TinyViT and hashing the constants about 0.3 s per
100 MB. The printed form of a jaxpr is stable across processes and machines for one JAX
version; another JAX version may print it differently, in which case runs are trained again
rather than resumed (never resumed wrongly).

>>> import jax, jax.numpy as jnp
>>> from jaxsched.train.task import Task
>>> data = jnp.arange(12.0).reshape(4, 3)
>>> task = Task(init=lambda k: jnp.zeros(3), loss=lambda p, b, k: jnp.mean((b - p) ** 2),
...             sample=lambda k: data[jax.random.randint(k, (2,), 0, 4)])
>>> same = Task(task.init, task.loss, lambda k: data[jax.random.randint(k, (2,), 0, 4)])
>>> other = Task(task.init, task.loss, lambda k: (2 * data)[jax.random.randint(k, (2,), 0, 4)])
>>> task_fingerprint(task) == task_fingerprint(same) != task_fingerprint(other)
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxsched.train.task import Task

__all__ = ["optimizer_fingerprint", "task_fingerprint"]


def _feed(h: Any, fn: Callable, *args: Any) -> None:
    closed = jax.make_jaxpr(fn)(*args)
    h.update(str(closed.jaxpr).encode())
    for const in closed.consts:
        if jax.dtypes.issubdtype(getattr(const, "dtype", None), jax.dtypes.prng_key):
            h.update(f"|key:{jax.random.key_impl(const)}|".encode())
            const = jax.random.key_data(const)
        arr = np.asarray(const)
        h.update(f"|{arr.dtype}{arr.shape}|".encode())
        h.update(np.ascontiguousarray(arr).tobytes())


def task_fingerprint(task: Task) -> str:
    """Hex SHA-256 of the task's ``init``, ``sample``, ``loss`` and evaluation (see the module
    docstring): equal for tasks that compute the same, different when any of them changes."""
    h = hashlib.sha256()
    key = jax.random.key(0)
    params = jax.eval_shape(task.init, key)
    batch = jax.eval_shape(task.sample, key)
    _feed(h, task.init, key)
    _feed(h, task.sample, key)
    _feed(h, task.loss, params, batch, key)
    _feed(h, task.metrics, params)
    return h.hexdigest()


def optimizer_fingerprint(
    make_optimizer: Callable[[Callable, Mapping[str, jax.Array]], Any],
    params: Any,
    hparam_names: Any,
) -> str:
    """Hex SHA-256 of an optimizer's ``init`` and ``update`` on abstract ``params``.

    ``make_optimizer(lr_fn, hparams)`` is called as the trainer calls it, with a learning-rate
    function reading a table and every name of ``hparam_names`` as an f32 scalar, all abstract:
    what is fingerprinted is the rule, not the values (those are in the run's config).
    """
    names = sorted(hparam_names)
    h = hashlib.sha256()

    def build(table, hp):
        def lr_fn(count):
            return table[jnp.clip(count, 0, table.shape[0] - 1)]

        return make_optimizer(lr_fn, dict(zip(names, hp, strict=True)))

    table = jax.ShapeDtypeStruct((1,), jnp.float32)
    hp = [jax.ShapeDtypeStruct((), jnp.float32) for _ in names]
    _feed(h, lambda t, hp, p: build(t, hp).init(p), table, hp, params)
    state = jax.eval_shape(lambda t, hp, p: build(t, hp).init(p), table, hp, params)
    _feed(h, lambda t, hp, g, s, p: build(t, hp).update(g, s, p), table, hp, params, state,
          params)
    return h.hexdigest()
