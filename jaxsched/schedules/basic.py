"""Constant, linear, cosine and polynomial decays: one smooth anneal from ``peak`` to ``end_value``.

Notation in the docstrings: ``t`` is the step (negative steps count as 0), ``D`` the decay length.
Every argument except the structural ones may be a JAX array, so ``jax.vmap`` can sweep over it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxsched import _validate as v
from jaxsched.schedules._core import (
    ArrayLike,
    Schedule,
    as_step,
    cosine_fraction,
    f32,
    finish,
)
from jaxsched.schedules._core import power as _pow
from jaxsched.schedules.registry import register


def _check_decay(
    peak: ArrayLike, length_name: str, length: ArrayLike, end_value: ArrayLike
) -> None:
    v.check_nonnegative("peak", peak)
    v.check_positive(length_name, length)
    v.check_nonnegative("end_value", end_value)
    v.check_le("end_value", end_value, "peak", peak)


def _remaining(t: jax.Array, d: jax.Array) -> jax.Array:
    """``1 - t / d`` on ``[0, d)``, exactly 0 from ``d`` on.

    Under ``jit`` XLA may divide by a constant through its reciprocal, so ``d / d`` can round
    to just above 1; without the guards the end would dip below ``end_value`` (and a
    fractional power of the negative remainder would be NaN).
    """
    return jnp.where(t >= d, 0.0, jnp.maximum(1.0 - jnp.minimum(t, d) / d, 0.0))


@register(peak="value", horizon=None, example="")
def constant(value: ArrayLike) -> Schedule:
    """The same learning rate at every step: ``lr(t) = value``.

    Example::

        sched = constant(1e-3)
        sched(jnp.arange(3))  # [0.001, 0.001, 0.001]
    """
    v.check_nonnegative("value", value)

    def schedule(step: ArrayLike) -> jax.Array:
        return finish(value, f32(step))

    return schedule


@register(peak="peak", horizon="decay_steps", example="")
def linear_decay(peak: ArrayLike, decay_steps: ArrayLike, end_value: ArrayLike = 0.0) -> Schedule:
    """Linear decay from ``peak`` at step 0 to ``end_value`` at ``decay_steps``, held after.

    ``lr(t) = (peak - end_value) * (1 - min(t, D) / D) + end_value``. With ``end_value = 0`` this
    is bit for bit the notes' ``0.001 * (1 - step / max_steps)`` for ``t < D``.

    Example::

        sched = linear_decay(1e-3, decay_steps=100)
        sched(50)  # 0.0005;  sched(150) -> 0.0
    """
    _check_decay(peak, "decay_steps", decay_steps, end_value)

    def schedule(step: ArrayLike) -> jax.Array:
        t = as_step(step)
        d = f32(decay_steps)
        frac = _remaining(t, d)
        return finish((f32(peak) - f32(end_value)) * frac + f32(end_value), t)

    return schedule


@register(peak="peak", horizon="decay_steps", example="")
def cosine_decay(
    peak: ArrayLike,
    decay_steps: ArrayLike,
    end_value: ArrayLike = 0.0,
    exponent: ArrayLike = 1.0,
    k_decay: ArrayLike = 1.0,
) -> Schedule:
    """Half a cosine from ``peak`` to ``end_value`` over ``decay_steps``, held after.

    ``lr(t) = (peak - end_value) * [0.5 * (1 + cos(pi * x**k))] ** exponent + end_value`` with
    ``x = min(t, D) / D`` and ``k = k_decay``. With the defaults this is bit for bit the notes'
    ``0.001 * 0.5 * (1 + cos(pi * t / T))`` and the same curve as
    ``optax.cosine_decay_schedule(peak, D, alpha=end_value / peak, exponent)``. ``k_decay`` is
    timm's (``CosineLRScheduler``: ``cos(pi * t**k / T**k)``, from the k-decay paper, Zhang &
    Li 2020): ``k > 1`` stays near the peak longer and drops later, ``k < 1`` drops early.

    Example::

        sched = cosine_decay(1e-3, decay_steps=100, end_value=1e-5)
        sched(50)  # 0.000505;  sched(100) -> 1e-05
        cosine_decay(1.0, 100, k_decay=2.0)(50)  # 0.854: cos(pi / 4) instead of cos(pi / 2)
    """
    _check_decay(peak, "decay_steps", decay_steps, end_value)
    v.check_positive("exponent", exponent)
    v.check_positive("k_decay", k_decay)

    def schedule(step: ArrayLike) -> jax.Array:
        t = as_step(step)
        d = f32(decay_steps)
        x = _pow(jnp.minimum(t, d) / d, k_decay)
        c = jnp.where(t >= d, 0.0, _pow(cosine_fraction(x), exponent))
        return finish((f32(peak) - f32(end_value)) * c + f32(end_value), t)

    return schedule


@register(peak="peak", horizon="decay_steps", example="power=2")
def polynomial_decay(
    peak: ArrayLike,
    decay_steps: ArrayLike,
    end_value: ArrayLike = 0.0,
    power: ArrayLike = 1.0,
) -> Schedule:
    """Polynomial decay: ``lr(t) = (peak - end_value) * (1 - min(t, D) / D) ** power + end_value``.

    ``power = 1`` is :func:`linear_decay`; ``power = 2`` decays fast early, ``0.5`` late. Same
    curve as ``optax.polynomial_schedule(peak, end_value, power, D)`` and, with
    ``end_value = 0``, as ``torch.optim.lr_scheduler.PolynomialLR`` in closed form.

    Example::

        sched = polynomial_decay(1e-3, decay_steps=100, power=2.0)
        sched(50)  # 0.00025
    """
    _check_decay(peak, "decay_steps", decay_steps, end_value)
    v.check_positive("power", power)

    def schedule(step: ArrayLike) -> jax.Array:
        t = as_step(step)
        d = f32(decay_steps)
        frac = _pow(_remaining(t, d), power)
        return finish((f32(peak) - f32(end_value)) * frac + f32(end_value), t)

    return schedule
