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

>>> from jaxsched.compat import sambaflow
>>> sched = sambaflow.cosine_schedule_with_warmup(1e-3, warmup_steps=100, max_steps=1000)
>>> [round(float(sched(t)), 8) for t in (50, 100, 1000, 5000)]
[0.0005, 0.001, 0.0001, 0.0001]

Both decays are the warmup + decay schedules of :mod:`jaxsched.schedules`
(``warmup_cosine_decay`` and ``warmup_linear_decay`` with ``init_value=0`` and
``end_value=end_lr_ratio * learning_rate``); this module adds SambaFlow's argument names and its
integer steps and lengths.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxsched import _validate as v
from jaxsched import schedules
from jaxsched._validate import concrete
from jaxsched.compat._steps import integer_steps, length

Array = jax.Array
ArrayLike = jax.typing.ArrayLike

__all__ = [
    "cosine_schedule_with_warmup",
    "polynomial_decay_schedule_with_warmup",
    "fixed_lr",
]


def _with_warmup(
    learning_rate: ArrayLike,
    warmup_steps: ArrayLike,
    max_steps: ArrayLike,
    end_lr_ratio: ArrayLike,
    core: Callable[..., schedules.Schedule],
) -> schedules.Schedule:
    """``core`` (a warmup + decay of :mod:`jaxsched.schedules`) with SambaFlow's knobs.

    What is SambaFlow's own: integer steps and lengths, the end value as a ratio of the peak,
    and a warmup that always starts from 0.
    """
    v.check_nonnegative("learning_rate", learning_rate)
    warm = length("warmup_steps", warmup_steps, 0)
    total = length("max_steps", max_steps, 1)
    cw, cm = concrete(warm), concrete(total)
    if cw is not None and cm is not None and np.any(cw >= cm):
        raise ValueError(
            "warmup_steps must be < max_steps (the decay needs at least one step), got "
            f"warmup_steps={warmup_steps!r} and max_steps={max_steps!r}"
        )
    v.check_in_range("end_lr_ratio", end_lr_ratio, 0.0, 1.0)
    peak = jnp.asarray(learning_rate, jnp.float32)
    end = peak * jnp.asarray(end_lr_ratio, jnp.float32)
    inner = core(peak, warmup_steps=warm, total_steps=total, init_value=0.0, end_value=end)

    def schedule(step: ArrayLike) -> Array:
        return inner(integer_steps(step))

    return schedule


def cosine_schedule_with_warmup(
    learning_rate: ArrayLike,
    warmup_steps: ArrayLike,
    max_steps: ArrayLike,
    end_lr_ratio: ArrayLike = 0.1,
) -> schedules.Schedule:
    """Linear warmup from 0 to ``learning_rate``, then cosine decay to ``end_lr_ratio`` x peak.

    ``lr(t) = learning_rate * t / W`` for ``t < W``; then
    ``end + (learning_rate - end) * (1 + cos(pi (t - W) / (M - W))) / 2`` up to ``M =
    max_steps``, and ``end = end_lr_ratio * learning_rate`` after. ``warmup_steps`` may be 0 and
    must be below ``max_steps``.

    >>> sched = cosine_schedule_with_warmup(1e-3, warmup_steps=10, max_steps=110)
    >>> [round(float(sched(t)), 8) for t in (5, 60, 110)]
    [0.0005, 0.00055, 0.0001]
    """
    return _with_warmup(
        learning_rate, warmup_steps, max_steps, end_lr_ratio, schedules.warmup_cosine_decay
    )


def polynomial_decay_schedule_with_warmup(
    learning_rate: ArrayLike,
    warmup_steps: ArrayLike,
    max_steps: ArrayLike,
    end_lr_ratio: ArrayLike = 0.0,
) -> schedules.Schedule:
    """Linear warmup from 0 to ``learning_rate``, then linear decay to ``end_lr_ratio`` x peak.

    SambaFlow calls it polynomial but documents the decay as always linear:
    ``lr(t) = learning_rate * t / W`` for ``t < W``, then
    ``learning_rate - (learning_rate - end) * (t - W) / (M - W)`` up to ``M = max_steps``, and
    ``end = end_lr_ratio * learning_rate`` after.

    >>> sched = polynomial_decay_schedule_with_warmup(1e-3, warmup_steps=10, max_steps=110)
    >>> [round(float(sched(t)), 8) for t in (5, 60, 110)]
    [0.0005, 0.0005, 0.0]
    """
    return _with_warmup(
        learning_rate, warmup_steps, max_steps, end_lr_ratio, schedules.warmup_linear_decay
    )


def fixed_lr(learning_rate: ArrayLike) -> schedules.Schedule:
    """No schedule: ``lr(t) = learning_rate`` at every step.

    >>> fixed_lr(1e-3)(jnp.arange(3)).tolist() == [float(jnp.float32(1e-3))] * 3
    True
    """
    v.check_nonnegative("learning_rate", learning_rate)
    inner = schedules.constant(learning_rate)

    def schedule(step: ArrayLike) -> Array:
        return inner(integer_steps(step))

    return schedule


# Reachable as ``sambaflow.<name>`` in schedule specs (``jaxsched plot``, ``jaxsched train``).
schedules.registry.register_namespace("sambaflow", __name__)
