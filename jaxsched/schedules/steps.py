"""Piecewise-constant schedules: drops by a factor at given steps.

Notation in the docstrings: ``t`` is the step (negative steps count as 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp

from jaxsched import _validate as v
from jaxsched.schedules._core import ArrayLike, Schedule, as_step, f32, finish
from jaxsched.schedules.registry import register


@register(peak="peak", horizon="total_steps", example="fraction=0.75")
def stepwise_drop(
    peak: ArrayLike,
    total_steps: ArrayLike,
    fraction: ArrayLike,
    factor: ArrayLike = 0.1,
) -> Schedule:
    """The notes' stepwise schedule: ``peak`` until a fraction of the horizon, then ``factor*peak``.

    ``lr(t) = peak * (factor if t / total_steps > fraction else 1)`` with the strict ``>`` of the
    notes' ``0.001 * jnp.where(step / max_steps > 0.25, 0.1, 1)``, which it equals bit for bit:
    the drop happens at the first step strictly past ``fraction * total_steps``.

    Example::

        sched = stepwise_drop(1e-3, total_steps=100, fraction=0.25)
        sched(25), sched(26)  # 0.001, 0.0001
    """
    v.check_nonnegative("peak", peak)
    v.check_positive("total_steps", total_steps)
    v.check_in_range("fraction", fraction, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    v.check_in_range("factor", factor, 0.0, 1.0)

    def schedule(step: ArrayLike) -> jax.Array:
        t = as_step(step)
        dropped = t / f32(total_steps) > f32(fraction)
        return finish(f32(peak) * jnp.where(dropped, f32(factor), 1.0), t)

    return schedule


@register(peak="peak", horizon=None, example="step_size=50,gamma=0.5")
def step_decay(peak: ArrayLike, step_size: ArrayLike, gamma: ArrayLike = 0.1) -> Schedule:
    """Multiply by ``gamma`` every ``step_size`` steps.

    ``lr(t) = peak * gamma ** floor(t / step_size)``, the closed form of
    ``torch.optim.lr_scheduler.StepLR``.

    Example::

        sched = step_decay(1e-3, step_size=30, gamma=0.5)
        sched(29), sched(30), sched(60)  # 0.001, 0.0005, 0.00025
    """
    v.check_nonnegative("peak", peak)
    v.check_positive("step_size", step_size)
    v.check_in_range("gamma", gamma, 0.0, 1.0)

    def schedule(step: ArrayLike) -> jax.Array:
        t = as_step(step)
        k = jnp.floor(t / f32(step_size))
        return finish(f32(peak) * jnp.power(f32(gamma), k), t)

    return schedule


@register(peak="peak", horizon=None, example="milestones=[100;150]")
def multistep(
    peak: ArrayLike, milestones: Sequence[ArrayLike] | jax.Array, gamma: ArrayLike = 0.1
) -> Schedule:
    """Multiply by ``gamma`` at each milestone reached.

    ``lr(t) = peak * gamma ** #{m in milestones: t >= m}``, the closed form of
    ``torch.optim.lr_scheduler.MultiStepLR``; a milestone listed twice
    multiplies twice, as in torch. ``milestones`` must be non-decreasing and >= 0; it may be a
    JAX array (e.g. vmapped).

    Example::

        sched = multistep(1e-3, milestones=[50, 75])
        sched(49), sched(50), sched(75)  # 0.001, 0.0001, 1e-05
    """
    v.check_nonnegative("peak", peak)
    v.check_in_range("gamma", gamma, 0.0, 1.0)
    ms = _milestones("milestones", milestones)

    def schedule(step: ArrayLike) -> jax.Array:
        t = as_step(step)
        if ms.shape[0] == 0:
            return finish(peak, t)
        passed = jnp.sum(t[..., None] >= ms, axis=-1)
        return finish(f32(peak) * jnp.power(f32(gamma), f32(passed)), t)

    return schedule


@register(peak="init_value", horizon=None,
          example="boundaries_and_scales={60:0.5;120:1.5;160:0.2}")
def piecewise_constant(
    init_value: ArrayLike, boundaries_and_scales: Mapping[int, ArrayLike] | None = None
) -> Schedule:
    """``init_value`` scaled by every ``scale`` whose boundary has been reached.

    ``lr(t) = init_value * prod(scale for (boundary, scale) in boundaries_and_scales
    if t >= boundary)``, the semantics of ``optax.piecewise_constant_schedule``. Scales must be
    >= 0 (they may exceed 1) and boundaries >= 0.

    Example::

        sched = piecewise_constant(1e-3, {100: 0.1, 200: 0.1})
        sched(99), sched(100), sched(200)  # 0.001, 0.0001, 1e-05
    """
    v.check_nonnegative("init_value", init_value)
    items = sorted((boundaries_and_scales or {}).items(), key=lambda kv: float(kv[0]))
    for boundary, scale in items:
        v.check_nonnegative("boundaries_and_scales key", boundary)
        v.check_nonnegative(f"boundaries_and_scales[{boundary!r}]", scale)

    def schedule(step: ArrayLike) -> jax.Array:
        t = as_step(step)
        value = f32(init_value)
        for boundary, scale in items:
            value = value * jnp.where(t >= f32(boundary), f32(scale), 1.0)
        return finish(value, t)

    return schedule


def _milestones(name: str, milestones: Sequence[ArrayLike] | jax.Array) -> jax.Array:
    if isinstance(milestones, (str, bytes)) or isinstance(milestones, Mapping):
        raise ValueError(f"{name} must be a sequence of steps, got {name}={milestones!r}")
    ms = f32(list(milestones) if not hasattr(milestones, "shape") else milestones)
    if ms.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of steps, got {name}={milestones!r}")
    given = v.concrete(milestones)  # None when any milestone is traced
    if given is not None:
        v.check_nonnegative(name, given)
        v.check_sorted(name, given, strict=False)
    return ms
