"""Warmup: a generic ramp in front of any schedule, and the usual warmup + decay combinations.

Notation in the docstrings: ``t`` is the step (negative steps count as 0), ``W`` the warmup
length, ``T`` the total length.
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
    safe_positive,
    shift,
)
from jaxsched.schedules.basic import cosine_decay, linear_decay
from jaxsched.schedules.compose import as_schedule, evaluate
from jaxsched.schedules.registry import register

_SHAPES = ("linear", "cosine")


def _ramp(shape: str, x: jax.Array) -> jax.Array:
    if shape == "linear":
        return x
    return 1.0 - cosine_fraction(x)  # 0.5 * (1 - cos(pi x))


@register(peak=None, horizon=None, schedule_args=("schedule",),
          example="schedule=(inverse_sqrt:peak=0.1,timescale=10),warmup_steps=20")
def warmup(
    schedule: Schedule | ArrayLike,
    warmup_steps: ArrayLike,
    init_value: ArrayLike = 0.0,
    shape: str = "linear",
    offset: bool = True,
) -> Schedule:
    """Ramp from ``init_value`` up to ``schedule`` over the first ``warmup_steps`` steps.

    With ``offset=True`` (default) the wrapped schedule starts its own clock when the warmup
    ends, so its whole shape (e.g. the full cosine) is kept after the ramp::

        lr(t) = init + (schedule(0) - init) * r(t / W)   for t < W
        lr(t) = schedule(t - W)                           for t >= W

    With ``offset=False`` the ramp replaces the first ``W`` steps of the schedule, which keeps
    the schedule's own horizon: ``lr(t) = schedule(t)`` for ``t >= W`` and the ramp targets
    ``schedule(W)``. Either way the result is continuous at ``t = W``. The ramp ``r(x)`` is ``x``
    (``shape="linear"``) or ``0.5 * (1 - cos(pi x))`` (``shape="cosine"``). ``warmup_steps = 0``
    returns the schedule unchanged. A number is accepted as a constant schedule.
    ``warmup(cosine_decay(peak, T - W, end), W, init)`` is ``optax.warmup_cosine_decay_schedule(
    init, peak, W, T, end)``.

    Example::

        sched = warmup(cosine_decay(1e-3, 900), warmup_steps=100)
        sched(50), sched(100), sched(550)  # 0.0005, 0.001, 0.0005
    """
    inner = as_schedule("schedule", schedule)
    v.check_nonnegative("warmup_steps", warmup_steps)
    v.check_nonnegative("init_value", init_value)
    v.check_choice("shape", shape, _SHAPES)
    v.check_bool("offset", offset)

    def wrapped(step: ArrayLike) -> jax.Array:
        t = as_step(step)
        w = f32(warmup_steps)
        if offset:
            target = evaluate(inner, jnp.zeros((), jnp.int32))
            after = evaluate(inner, shift(jnp.maximum(step, 0), warmup_steps))
        else:
            target = evaluate(inner, w)
            after = evaluate(inner, step)
        x = jnp.clip(t / safe_positive(w), 0.0, 1.0)
        init = f32(init_value)
        ramp = init + (target - init) * _ramp(shape, x)
        return finish(jnp.where(t < w, ramp, after), t)

    return wrapped


def _check_warmup_total(
    warmup_steps: ArrayLike, total_steps: ArrayLike, *, allow_equal: bool = False
) -> None:
    v.check_nonnegative("warmup_steps", warmup_steps)
    v.check_positive("total_steps", total_steps)
    w, total = v.concrete(warmup_steps), v.concrete(total_steps)
    if w is None or total is None:
        return
    bad = (w > total).any() if allow_equal else (w >= total).any()
    if bad:
        op = "<=" if allow_equal else "<"
        raise ValueError(
            f"warmup_steps must be {op} total_steps, got warmup_steps={w.tolist()!r} and "
            f"total_steps={total.tolist()!r}"
        )


@register(peak="peak", horizon="total_steps", example="warmup_steps=20")
def warmup_linear_decay(
    peak: ArrayLike,
    warmup_steps: ArrayLike,
    total_steps: ArrayLike,
    init_value: ArrayLike = 0.0,
    end_value: ArrayLike = 0.0,
) -> Schedule:
    """Linear warmup from ``init_value`` to ``peak`` over ``W`` steps, then linear decay to
    ``end_value`` at ``total_steps`` (the horizon includes the warmup), held after.

    ``lr(t) = init + (peak - init) t / W`` for ``t < W``;
    ``(peak - end) (1 - (t - W) / (T - W)) + end`` for ``W <= t <= T``. SambaFlow's
    ``polynomial_decay_schedule_with_warmup`` with ``end_value = end_lr_ratio * peak``.

    Example::

        sched = warmup_linear_decay(1e-3, warmup_steps=10, total_steps=110)
        sched(5), sched(60)  # 0.0005, 0.0005
    """
    _check_warmup_total(warmup_steps, total_steps)
    decay = linear_decay(peak, f32(total_steps) - f32(warmup_steps), end_value)
    return warmup(decay, warmup_steps, init_value)


@register(peak="peak", horizon="total_steps", example="warmup_steps=20")
def warmup_cosine_decay(
    peak: ArrayLike,
    warmup_steps: ArrayLike,
    total_steps: ArrayLike,
    init_value: ArrayLike = 0.0,
    end_value: ArrayLike = 0.0,
    exponent: ArrayLike = 1.0,
) -> Schedule:
    """Linear warmup from ``init_value`` to ``peak`` over ``W`` steps, then cosine decay to
    ``end_value`` at ``total_steps`` (the horizon includes the warmup), held after.

    ``lr(t) = init + (peak - init) t / W`` for ``t < W``;
    ``(peak - end) [0.5 (1 + cos(pi (t - W) / (T - W)))]**exponent + end`` for ``t >= W``.
    Equal to ``optax.warmup_cosine_decay_schedule(init, peak, W, T, end, exponent)``.

    Example::

        sched = warmup_cosine_decay(1e-3, warmup_steps=100, total_steps=1100)
        sched(50), sched(600)  # 0.0005, 0.0005
    """
    _check_warmup_total(warmup_steps, total_steps)
    decay = cosine_decay(peak, f32(total_steps) - f32(warmup_steps), end_value, exponent)
    return warmup(decay, warmup_steps, init_value)


_COOLDOWNS = ("linear", "cosine", "1-sqrt")


@register(peak="peak", horizon="total_steps",
          example="warmup_steps=20,cooldown_steps=50")
def warmup_stable_decay(
    peak: ArrayLike,
    total_steps: ArrayLike,
    warmup_steps: ArrayLike,
    cooldown_steps: ArrayLike,
    cooldown: str = "linear",
    init_value: ArrayLike = 0.0,
    end_value: ArrayLike = 0.0,
) -> Schedule:
    """Warmup-stable-decay (WSD, "trapezoidal"): ramp up, hold ``peak``, cool down at the end.

    With ``C = cooldown_steps`` and the cooldown starting at ``S = T - C``::

        lr(t) = init + (peak - init) t / W                       for t < W
        lr(t) = peak                                             for W <= t < S
        lr(t) = end + (peak - end) g((t - S) / C)                for S <= t, held after T

    with ``g(x) = 1 - x`` (``"linear"``), ``0.5 (1 + cos(pi x))`` (``"cosine"``) or
    ``1 - sqrt(x)`` (``"1-sqrt"``, Hägele et al. 2024). Requires ``W + C <= T``;
    ``warmup_steps = 0`` means no warmup.

    Example::

        sched = warmup_stable_decay(1e-3, 1000, warmup_steps=100, cooldown_steps=200)
        sched(50), sched(500), sched(900)  # 0.0005, 0.001, 0.0005
    """
    v.check_nonnegative("peak", peak)
    v.check_positive("total_steps", total_steps)
    v.check_nonnegative("warmup_steps", warmup_steps)
    v.check_positive("cooldown_steps", cooldown_steps)
    v.check_choice("cooldown", cooldown, _COOLDOWNS)
    v.check_nonnegative("init_value", init_value)
    v.check_nonnegative("end_value", end_value)
    v.check_le("init_value", init_value, "peak", peak)
    v.check_le("end_value", end_value, "peak", peak)
    w, c, total = v.concrete(warmup_steps), v.concrete(cooldown_steps), v.concrete(total_steps)
    if w is not None and c is not None and total is not None and (w + c > total).any():
        raise ValueError(
            "warmup_steps + cooldown_steps must be <= total_steps, got "
            f"warmup_steps={w.tolist()!r}, cooldown_steps={c.tolist()!r} and "
            f"total_steps={total.tolist()!r}"
        )

    def schedule(step: ArrayLike) -> jax.Array:
        t = as_step(step)
        top, init, end = f32(peak), f32(init_value), f32(end_value)
        w, c = f32(warmup_steps), f32(cooldown_steps)
        start = f32(total_steps) - c
        ramp = init + (top - init) * jnp.clip(t / safe_positive(w), 0.0, 1.0)
        x = jnp.clip((t - start) / c, 0.0, 1.0)
        if cooldown == "linear":
            g = 1.0 - x
        elif cooldown == "cosine":
            g = cosine_fraction(x)
        else:
            g = 1.0 - jnp.sqrt(x)
        value = jnp.where(t < w, ramp, jnp.where(t < start, top, (top - end) * g + end))
        return finish(value, t)

    return schedule
