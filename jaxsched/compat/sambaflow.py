"""JAX twins of SambaFlow's built-in learning-rate schedules (``--lr_schedule``).

SambaFlow's knobs map to the arguments: ``--learning_rate`` (the peak, or the flat rate of
``fixed_lr``), ``--warmup_steps`` (linear rise from 0; 0 means no warmup), ``--max_steps`` (the
step at which the decay ends) and ``--end_lr_ratio`` (the end value as a fraction of the peak;
0.1 for the cosine schedule, 0.0 for the linear one by default). ``--steps_this_run`` only stops
training early and belongs to the trainer: the schedule is always laid out over ``max_steps``.

With ``W = warmup_steps``, ``M = max_steps``, ``end = end_lr_ratio * learning_rate``::

    lr(t) = learning_rate * t / W                                  for t < W
    lr(t) = end + (learning_rate - end) * shape((t - W) / (M - W))  for W <= t <= M
    lr(t) = end                                                    for t > M

with ``shape(x) = (1 + cos(pi x)) / 2`` (cosine) or ``1 - x`` (the "polynomial" schedule,
whose decay SambaFlow documents as always linear). Steps are Python ints, NumPy ints or integer
JAX arrays of any shape (traced too; negative steps count as 0); the result is float32.

Example::

    from jaxsched.compat import sambaflow

    sched = sambaflow.cosine_schedule_with_warmup(1e-3, warmup_steps=100, max_steps=1000)
    sched(50), sched(100), sched(1000), sched(5000)  # 5e-4, 1e-3, 1e-4, 1e-4
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxsched import _validate as v
from jaxsched._validate import concrete

Array = jax.Array
ArrayLike = jax.typing.ArrayLike

__all__ = [
    "cosine_schedule_with_warmup",
    "polynomial_decay_schedule_with_warmup",
    "fixed_lr",
]


def _steps(step: ArrayLike) -> Array:
    s = jnp.asarray(step)
    if not jnp.issubdtype(s.dtype, jnp.integer):
        c = concrete(s)
        if s.dtype == jnp.bool_ or (
            c is not None and not np.all(np.isfinite(c) & (np.floor(c) == c))
        ):
            raise ValueError(f"step must be an integer, got step={step!r}")
        s = jnp.floor(s)
    return jnp.maximum(s.astype(jnp.int32), 0)


def _length(name: str, value: ArrayLike, minimum: int) -> ArrayLike:
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be an integer, got {name}={value!r}")
    c = concrete(value)
    if c is None:
        return jnp.asarray(value).astype(jnp.int32)
    if (
        not (np.issubdtype(c.dtype, np.integer) or np.issubdtype(c.dtype, np.floating))
        or not np.all(np.isfinite(c))
        or not np.all(np.floor(c) == c)
    ):
        raise ValueError(f"{name} must be an integer, got {name}={value!r}")
    if np.any(c < minimum):
        raise ValueError(f"{name} must be >= {minimum}, got {name}={value!r}")
    return int(c) if c.ndim == 0 else jnp.asarray(c, jnp.int32)


def _with_warmup(
    learning_rate: ArrayLike,
    warmup_steps: ArrayLike,
    max_steps: ArrayLike,
    end_lr_ratio: ArrayLike,
    cosine: bool,
):
    v.check_nonnegative("learning_rate", learning_rate)
    warm = _length("warmup_steps", warmup_steps, 0)
    total = _length("max_steps", max_steps, 1)
    cw, cm = concrete(warm), concrete(total)
    if cw is not None and cm is not None and np.any(cw >= cm):
        raise ValueError(
            "warmup_steps must be < max_steps (the decay needs at least one step), got "
            f"warmup_steps={warmup_steps!r} and max_steps={max_steps!r}"
        )
    v.check_in_range("end_lr_ratio", end_lr_ratio, 0.0, 1.0)
    peak = jnp.asarray(learning_rate, jnp.float32)
    end = peak * jnp.asarray(end_lr_ratio, jnp.float32)

    def schedule(step: ArrayLike) -> Array:
        t = _steps(step)
        tf = t.astype(jnp.float32)
        warm_f = jnp.asarray(warm, jnp.float32)
        span = jnp.asarray(total - warm, jnp.float32)
        rise = peak * tf / jnp.where(warm_f > 0, warm_f, 1.0)
        x = jnp.clip((tf - warm_f) / span, 0.0, 1.0)
        if cosine:
            shape = jnp.cos(jnp.float32(math.pi / 2) * x) ** 2  # (1 + cos(pi x)) / 2
        else:
            shape = 1.0 - x
        decay = end + (peak - end) * shape
        out = jnp.where(t < warm, rise, decay)
        return jnp.broadcast_to(out, jnp.broadcast_shapes(out.shape, t.shape))

    return schedule


def cosine_schedule_with_warmup(
    learning_rate: ArrayLike,
    warmup_steps: ArrayLike,
    max_steps: ArrayLike,
    end_lr_ratio: ArrayLike = 0.1,
):
    """Linear warmup from 0 to ``learning_rate``, then cosine decay to ``end_lr_ratio`` x peak.

    ``lr(t) = learning_rate * t / W`` for ``t < W``; then
    ``end + (learning_rate - end) * (1 + cos(pi (t - W) / (M - W))) / 2`` up to ``M =
    max_steps``, and ``end = end_lr_ratio * learning_rate`` after. ``warmup_steps`` may be 0 and
    must be below ``max_steps``.

    Example::

        sched = cosine_schedule_with_warmup(1e-3, warmup_steps=10, max_steps=110)
        sched(5), sched(60), sched(110)  # 5e-4, 5.5e-4, 1e-4
    """
    return _with_warmup(learning_rate, warmup_steps, max_steps, end_lr_ratio, cosine=True)


def polynomial_decay_schedule_with_warmup(
    learning_rate: ArrayLike,
    warmup_steps: ArrayLike,
    max_steps: ArrayLike,
    end_lr_ratio: ArrayLike = 0.0,
):
    """Linear warmup from 0 to ``learning_rate``, then linear decay to ``end_lr_ratio`` x peak.

    SambaFlow calls it polynomial but documents the decay as always linear:
    ``lr(t) = learning_rate * t / W`` for ``t < W``, then
    ``learning_rate - (learning_rate - end) * (t - W) / (M - W)`` up to ``M = max_steps``, and
    ``end = end_lr_ratio * learning_rate`` after.

    Example::

        sched = polynomial_decay_schedule_with_warmup(1e-3, warmup_steps=10, max_steps=110)
        sched(5), sched(60), sched(110)  # 5e-4, 5e-4, 0.0
    """
    return _with_warmup(learning_rate, warmup_steps, max_steps, end_lr_ratio, cosine=False)


def fixed_lr(learning_rate: ArrayLike):
    """No schedule: ``lr(t) = learning_rate`` at every step.

    Example::

        fixed_lr(1e-3)(jnp.arange(3))  # [1e-3, 1e-3, 1e-3]
    """
    v.check_nonnegative("learning_rate", learning_rate)
    value = jnp.asarray(learning_rate, jnp.float32)

    def schedule(step: ArrayLike) -> Array:
        t = _steps(step)
        return jnp.broadcast_to(value, jnp.broadcast_shapes(value.shape, t.shape))

    return schedule
