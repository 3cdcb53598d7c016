"""Unbounded-horizon decays: exponential (per-step ``gamma**t`` or ``e^(-k t)``), inverse sqrt,
inverse time.

Notation in the docstrings: ``t`` is the step (negative steps count as 0), ``B`` the
``transition_begin`` and ``S`` the ``transition_steps``; ``p = (t - B) / S`` is the decay
progress (``floor``-ed when ``staircase``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxsched import _validate as v
from jaxsched.schedules._core import ArrayLike, Schedule, as_step, f32, finish
from jaxsched.schedules.registry import register


def _progress(
    t: jax.Array, transition_steps: ArrayLike, transition_begin: ArrayLike, staircase: bool
) -> jax.Array:
    p = (t - f32(transition_begin)) / f32(transition_steps)
    if staircase:
        p = jnp.floor(p)
    return jnp.maximum(p, 0.0)


def _check_exp(
    peak: ArrayLike, transition_steps: ArrayLike, transition_begin: ArrayLike, staircase: bool
) -> None:
    v.check_nonnegative("peak", peak)
    v.check_positive("transition_steps", transition_steps)
    v.check_nonnegative("transition_begin", transition_begin)
    v.check_bool("staircase", staircase)


@register(peak="peak", horizon=None, example="decay_rate=0.5,transition_steps=40")
def exponential_decay(
    peak: ArrayLike,
    decay_rate: ArrayLike,
    transition_steps: ArrayLike = 1,
    transition_begin: ArrayLike = 0,
    staircase: bool = False,
    end_value: ArrayLike | None = None,
) -> Schedule:
    """Per-step exponential decay: ``lr(t) = peak * decay_rate ** p``, ``p = (t - B) / S``.

    With the defaults (``S = 1``, ``B = 0``) this is ``peak * gamma ** t``, the closed form of
    ``torch.optim.lr_scheduler.ExponentialLR``. ``lr = peak`` for ``t <= B``. ``staircase``
    floors ``p`` so the rate drops every ``S`` steps. ``end_value`` bounds the value: a floor
    when ``decay_rate <= 1``, a ceiling when ``decay_rate > 1`` (a growth, e.g. an LR range
    test). Same semantics as ``optax.exponential_decay`` except that ``decay_rate = 0`` and
    ``transition_steps <= 0`` are errors here (optax silently returns a constant).

    Example::

        sched = exponential_decay(1e-3, decay_rate=0.5, transition_steps=10)
        sched(10), sched(20)  # 0.0005, 0.00025
    """
    _check_exp(peak, transition_steps, transition_begin, staircase)
    v.check_positive("decay_rate", decay_rate)
    _check_bound(peak, decay_rate, end_value)

    def schedule(step: ArrayLike) -> jax.Array:
        t = as_step(step)
        p = _progress(t, transition_steps, transition_begin, staircase)
        value = f32(peak) * jnp.power(f32(decay_rate), p)
        value = _clip_bound(value, decay_rate, end_value)
        return finish(value, t)

    return schedule


@register(peak="peak", horizon=None, example="decay_rate=0.02")
def natural_exp_decay(
    peak: ArrayLike,
    decay_rate: ArrayLike,
    transition_steps: ArrayLike = 1,
    transition_begin: ArrayLike = 0,
    staircase: bool = False,
    end_value: ArrayLike | None = None,
) -> Schedule:
    """Continuous exponential decay: ``lr(t) = peak * exp(-decay_rate * p)``, ``p = (t - B) / S``.

    The ``alpha_t = alpha_0 * e^(-k t)`` of the schedule catalogue with ``k = decay_rate``
    (per ``S`` steps). Equal to :func:`exponential_decay` with rate ``exp(-decay_rate)``.
    ``end_value`` (optional) is a floor.

    Example::

        sched = natural_exp_decay(1e-3, decay_rate=0.01)
        sched(100)  # 0.001 * e^-1 = 0.000368
    """
    _check_exp(peak, transition_steps, transition_begin, staircase)
    v.check_nonnegative("decay_rate", decay_rate)
    if end_value is not None:
        v.check_nonnegative("end_value", end_value)
        v.check_le("end_value", end_value, "peak", peak)

    def schedule(step: ArrayLike) -> jax.Array:
        t = as_step(step)
        p = _progress(t, transition_steps, transition_begin, staircase)
        value = f32(peak) * jnp.exp(-f32(decay_rate) * p)
        if end_value is not None:
            value = jnp.maximum(value, f32(end_value))
        return finish(value, t)

    return schedule


@register(peak="peak", horizon=None, example="timescale=10")
def inverse_sqrt(peak: ArrayLike, timescale: ArrayLike = 1.0) -> Schedule:
    """Inverse square root decay: ``lr(t) = peak / sqrt(1 + t / timescale)``.

    Starts at ``peak`` and decays as ``O(t^-1/2)`` (the classic rate for convex problems).
    Put :func:`warmup` in front for the Transformer-style "warmup then rsqrt" schedule.

    Example::

        sched = inverse_sqrt(1e-3, timescale=100)
        sched(300)  # 0.0005
    """
    v.check_nonnegative("peak", peak)
    v.check_positive("timescale", timescale)

    def schedule(step: ArrayLike) -> jax.Array:
        t = as_step(step)
        return finish(f32(peak) * jnp.reciprocal(jnp.sqrt(1.0 + t / f32(timescale))), t)

    return schedule


@register(peak="peak", horizon=None, example="decay_rate=1.0,decay_steps=20")
def inverse_time(
    peak: ArrayLike,
    decay_rate: ArrayLike,
    decay_steps: ArrayLike = 1,
    staircase: bool = False,
) -> Schedule:
    """Inverse time decay: ``lr(t) = peak / (1 + decay_rate * p)``, ``p = t / decay_steps``.

    ``O(1/t)`` decay (floored ``p`` when ``staircase``), as Keras' ``InverseTimeDecay``.

    Example::

        sched = inverse_time(1e-3, decay_rate=1.0, decay_steps=100)
        sched(100)  # 0.0005
    """
    _check_exp(peak, decay_steps, 0, staircase)
    v.check_nonnegative("decay_rate", decay_rate)

    def schedule(step: ArrayLike) -> jax.Array:
        t = as_step(step)
        p = _progress(t, decay_steps, 0, staircase)
        return finish(f32(peak) / (1.0 + f32(decay_rate) * p), t)

    return schedule


def _check_bound(peak: ArrayLike, decay_rate: ArrayLike, end_value: ArrayLike | None) -> None:
    if end_value is None:
        return
    v.check_nonnegative("end_value", end_value)
    rate = v.concrete(decay_rate)
    if rate is None:
        return
    if np.all(rate <= 1):
        v.check_le("end_value", end_value, "peak", peak)
    elif np.all(rate > 1):
        v.check_le("peak", peak, "end_value", end_value)


def _clip_bound(
    value: jax.Array, decay_rate: ArrayLike, end_value: ArrayLike | None
) -> jax.Array:
    if end_value is None:
        return value
    end = f32(end_value)
    return jnp.where(f32(decay_rate) <= 1.0, jnp.maximum(value, end), jnp.minimum(value, end))
