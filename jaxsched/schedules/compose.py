"""Composition of schedules: sequence at boundaries (``join``) and pointwise ``product``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxsched import _validate as v
from jaxsched.schedules._core import ArrayLike, Schedule, f32, finish, shift
from jaxsched.schedules.registry import register


def as_schedule(name: str, value: Schedule | ArrayLike) -> Schedule:
    """A callable schedule as is; a number as a constant schedule. Anything else is an error."""
    if callable(value):
        return value
    arr = v.concrete(value)
    if isinstance(value, (str, bytes)) or (
        arr is not None and not np.issubdtype(arr.dtype, np.number)
    ):
        raise ValueError(f"{name} must be a schedule or a number, got {name}={value!r}")
    v.check_nonnegative(name, value)

    def schedule(step: ArrayLike) -> jax.Array:
        return finish(value, f32(step))

    return schedule


def evaluate(schedule: Callable[[ArrayLike], Any], step: ArrayLike) -> jax.Array:
    """``schedule(step)`` as float32 of the step's shape (user schedules may return floats)."""
    return finish(schedule(step), f32(step))


@register(peak=None, horizon=None, schedule_args=("schedules",),
          example="schedules=[(constant:value=0.1);(cosine_decay:peak=0.1,decay_steps=100)],"
          "boundaries=[100]")
def join(schedules: Sequence[Schedule], boundaries: Sequence[ArrayLike]) -> Schedule:
    """Run ``schedules[i]`` from ``boundaries[i-1]`` to ``boundaries[i]``, each on its own clock.

    ``lr(t) = schedules[i](t - b_{i-1})`` for ``b_{i-1} <= t < b_i`` (with ``b_{-1} = 0`` and
    ``b_n = inf``), the semantics of ``optax.join_schedules``: every piece restarts its step
    count at its boundary. Boundaries must be strictly increasing and >= 0; there is one fewer
    than schedules. Boundaries may be JAX arrays (e.g. vmapped); the first piece sees the
    unshifted step.

    Example::

        sched = join([constant(1e-3), linear_decay(1e-3, 100)], boundaries=[50])
        sched(49), sched(50), sched(100)  # 0.001, 0.001, 0.0005
    """
    if isinstance(schedules, (str, bytes)) or not isinstance(schedules, Sequence):
        raise ValueError(f"schedules must be a sequence of schedules, got schedules={schedules!r}")
    if len(schedules) == 0:
        raise ValueError("schedules must hold at least one schedule, got schedules=[]")
    pieces = [as_schedule(f"schedules[{i}]", s) for i, s in enumerate(schedules)]
    try:
        bounds = list(boundaries)
    except TypeError:
        raise ValueError(
            f"boundaries must be a sequence of steps, got boundaries={boundaries!r}"
        ) from None
    if len(bounds) != len(pieces) - 1:
        raise ValueError(
            f"boundaries must have len(schedules) - 1 = {len(pieces) - 1} entries, "
            f"got boundaries={boundaries!r}"
        )
    for i, b in enumerate(bounds):
        v.check_nonnegative(f"boundaries[{i}]", b)
    known = [k for k in map(v.concrete, bounds) if k is not None and k.ndim == 0]
    if bounds and len(known) == len(bounds):
        v.check_sorted("boundaries", [float(k) for k in known], strict=True)

    def schedule(step: ArrayLike) -> jax.Array:
        t = f32(step)
        out = evaluate(pieces[0], step)
        for b, piece in zip(bounds, pieces[1:], strict=True):
            out = jnp.where(t < f32(b), out, evaluate(piece, shift(step, b)))
        return finish(out, t)

    return schedule


@register(peak=None, horizon=None, schedule_args=("schedules",),
          example="schedules=[(cyclical:base_lr=0.2,max_lr=1.0,step_size_up=10);"
          "(cosine_decay:peak=0.1,decay_steps=200)]")
def product(*schedules: Schedule | ArrayLike) -> Schedule:
    """Pointwise product: ``lr(t) = prod_i schedules[i](t)``; numbers act as constant factors.

    Useful to scale a schedule, or to multiply a shape by a decay (e.g. a cyclical schedule whose
    amplitude follows a cosine decay).

    Example::

        sched = product(cosine_decay(1.0, 100), 1e-3)
        sched(50)  # 0.0005
    """
    if not schedules:
        raise ValueError("product needs at least one schedule, got schedules=()")
    factors = [as_schedule(f"schedules[{i}]", s) for i, s in enumerate(schedules)]

    def schedule(step: ArrayLike) -> jax.Array:
        out = evaluate(factors[0], step)
        for f in factors[1:]:
            out = out * evaluate(f, step)
        return out

    return schedule
