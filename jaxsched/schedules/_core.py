"""Shared plumbing for schedules: the ``Schedule`` type, step and hyperparameter conversion.

Every schedule evaluates in float32 on a float32 copy of the step. float32 represents every
integer step exactly up to 2**24 (about 16.7 million), far beyond the horizons used here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import jax
import jax.numpy as jnp
import numpy as np

from jaxsched._validate import concrete

ArrayLike: TypeAlias = jax.typing.ArrayLike

Schedule: TypeAlias = Callable[[ArrayLike], jax.Array]
"""A learning-rate schedule: step (int scalar or array, possibly traced) -> float32 lr."""


def f32(x: Any) -> jax.Array:
    """``x`` as a float32 JAX value (works on Python numbers, NumPy values and tracers)."""
    return jnp.asarray(x, dtype=jnp.float32)


def as_step(step: ArrayLike) -> jax.Array:
    """The step as float32, with negative steps treated as step 0."""
    return jnp.maximum(f32(step), 0.0)


def finish(value: Any, t: jax.Array) -> jax.Array:
    """``value`` as float32 broadcast to the shape of the step ``t``.

    A constant part of the formula would otherwise come back as a scalar for an array step.
    """
    value = f32(value)
    shape = jnp.broadcast_shapes(jnp.shape(value), jnp.shape(t))
    return jnp.broadcast_to(value, shape)


def power(x: jax.Array, p: Any) -> jax.Array:
    """``x ** p`` that is exact for a concrete small integer ``p``.

    ``pow`` in XLA is ``exp(p * log(x))`` and can be an ulp off even for ``p == 1``; with a
    concrete integer exponent we use repeated multiplication instead, so ``exponent=1`` gives
    exactly the unpowered formula (the notes' cosine, bit for bit).
    """
    c = concrete(p)
    if c is not None and c.ndim == 0 and np.isfinite(c) and float(c).is_integer():
        k = int(c)
        if 0 <= k <= 16:
            return x**k  # lax.integer_pow
    return jnp.power(x, f32(p))


def safe_positive(x: jax.Array) -> jax.Array:
    """``x`` where positive, 1 elsewhere: a denominator for a branch that ``where`` discards."""
    return jnp.where(x > 0, x, jnp.ones_like(x))


def shift(step: ArrayLike, offset: Any) -> jax.Array:
    """``step - offset`` handed to a wrapped schedule.

    The integer dtype of the step is kept when the offset is a concrete integer, so a wrapped
    schedule (ours, optax's or a user's) sees the same kind of step it would see unwrapped;
    otherwise the difference is float32.
    """
    s = jnp.asarray(step)
    if jnp.issubdtype(s.dtype, jnp.unsignedinteger):
        s = s.astype(jnp.int32)  # an unsigned step - offset would wrap around below 0
    c = concrete(offset)
    if (
        jnp.issubdtype(s.dtype, jnp.integer)
        and c is not None
        and c.ndim == 0
        and float(c).is_integer()
    ):
        return s - jnp.asarray(int(c), dtype=s.dtype)
    return f32(s) - f32(offset)


def cosine_fraction(x: jax.Array) -> jax.Array:
    """``0.5 * (1 + cos(pi * x))``: 1 at ``x = 0``, 0 at ``x = 1``."""
    return 0.5 * (1.0 + jnp.cos(jnp.pi * x))
