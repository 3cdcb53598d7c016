"""Schedules that rise and fall: cosine with warm restarts (SGDR), cyclical (CLR), one-cycle.

Notation in the docstrings: ``t`` is the step (negative steps count as 0).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxsched import _validate as v
from jaxsched.schedules._core import (
    ArrayLike,
    Schedule,
    as_step,
    cosine_fraction,
    f32,
    finish,
    safe_positive,
)
from jaxsched.schedules._core import power as _pow
from jaxsched.schedules.registry import register


def _mult_kind(mult: ArrayLike) -> str:
    """``"one"`` or ``"geometric"`` when ``period_mult`` is concrete, ``"traced"`` otherwise.

    Specialising on a concrete multiplier halves the work (and the eager dispatch cost);
    a traced one (vmapped sweep) evaluates both forms and selects.
    """
    c = v.concrete(mult)
    if c is None or c.ndim != 0:
        return "traced"
    return "one" if float(c) == 1.0 else "geometric"


def _cycle_start(i: jax.Array, period: jax.Array, mult: jax.Array, kind: str) -> jax.Array:
    """First step of 0-based cycle ``i`` when cycle ``k`` lasts ``period * mult**k`` steps."""
    if kind == "one":
        return period * i
    geometric = period * (jnp.power(mult, i) - 1.0) / safe_positive(mult - 1.0)
    if kind == "geometric":
        return geometric
    return jnp.where(mult == 1.0, period * i, geometric)


def _cycle_index(t: jax.Array, period: jax.Array, mult: jax.Array, kind: str) -> jax.Array:
    """0-based index of the cycle holding step ``t`` (geometric cycle lengths)."""
    if kind == "one":
        i = jnp.floor(t / period)
    else:
        safe_mult = jnp.where(mult > 1.0, mult, 2.0)
        i = jnp.floor(jnp.log1p(t * (safe_mult - 1.0) / period) / jnp.log(safe_mult))
        if kind == "traced":
            i = jnp.where(mult > 1.0, i, jnp.floor(t / period))
    # log, pow and division round in float32, so the guess can be one off at a boundary, and a
    # boundary that is an integer in exact arithmetic (71 * (m - 1) / (m - 1)) can come out a few
    # ulps above it. Compare with a few ulps of slack so such a step starts the new cycle.
    slack = 4.0 * np.finfo(np.float32).eps * jnp.maximum(t, 1.0)
    i = jnp.where(_cycle_start(i, period, mult, kind) > t + slack, i - 1.0, i)
    i = jnp.where(_cycle_start(i + 1.0, period, mult, kind) <= t + slack, i + 1.0, i)
    return jnp.maximum(i, 0.0)


@register(peak="peak", horizon=None, example="period=40,period_mult=2.0")
def cosine_restarts(
    peak: ArrayLike,
    period: ArrayLike,
    period_mult: ArrayLike = 1.0,
    peak_decay: ArrayLike = 1.0,
    end_value: ArrayLike = 0.0,
    max_cycles: ArrayLike | None = None,
    exponent: ArrayLike = 1.0,
    k_decay: ArrayLike = 1.0,
    peak_decay_mode: str = "amplitude",
) -> Schedule:
    """Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter 2017).

    Cycle ``i = 0, 1, ...`` lasts ``T_i = period * period_mult**i`` steps and starts at
    ``s_i = sum_{k<i} T_k``. Within it, with ``x = (t - s_i) / T_i``::

        lr(t) = end_value + (peak - end_value) * peak_decay**i * [0.5 * (1 + cos(pi x))]**exponent

    so each restart jumps back to ``end_value + (peak - end_value) * peak_decay**i`` (the
    amplitude above the floor decays; the schedule stays within ``[end_value, peak]``). After
    ``max_cycles`` cycles (if given) the value holds at ``end_value``. ``period_mult`` may be any
    real >= 1 (torch's ``CosineAnnealingWarmRestarts`` requires an integer ``T_mult``; its
    closed form is this schedule with ``period=T_0, period_mult=T_mult, end_value=eta_min``).

    timm's ``CosineLRScheduler`` (``t_initial``, ``lr_min``, ``cycle_mul``, ``cycle_decay``,
    ``cycle_limit``, ``k_decay``) is ``cosine_restarts(lr, period=t_initial,
    period_mult=cycle_mul, peak_decay=cycle_decay, end_value=lr_min, max_cycles=cycle_limit,
    k_decay=k_decay, peak_decay_mode="peak")``; note that timm's ``cycle_limit`` defaults
    to 1 (one cycle, then ``lr_min``), ours to no limit. The two options from timm:

    * ``k_decay``: ``x`` becomes ``x**k_decay`` inside the cosine (timm's
      ``cos(pi * t_curr**k / t_i**k)``).
    * ``peak_decay_mode="peak"``: timm's ``cycle_decay`` decays the peak itself,
      ``lr = end_value + (peak * peak_decay**i - end_value) * f``, so with ``end_value > 0``
      the restarts lose height faster than with the default ``"amplitude"`` (which decays
      ``peak - end_value``), and once ``peak * peak_decay**i < end_value`` a cycle rises from
      below ``end_value`` to it, as timm's does.

    Example::

        sched = cosine_restarts(1e-3, period=100, period_mult=2.0)
        sched(99), sched(100), sched(300)  # ~0.0, 0.001 (restart), 0.001 (restart)
    """
    v.check_nonnegative("peak", peak)
    v.check_positive("period", period)
    v.check_ge("period_mult", period_mult, 1.0)
    v.check_in_range("peak_decay", peak_decay, 0.0, 1.0)
    v.check_nonnegative("end_value", end_value)
    v.check_le("end_value", end_value, "peak", peak)
    v.check_positive("exponent", exponent)
    v.check_positive("k_decay", k_decay)
    v.check_choice("peak_decay_mode", peak_decay_mode, ("amplitude", "peak"))
    if max_cycles is not None:
        v.check_positive("max_cycles", max_cycles)

    kind = _mult_kind(period_mult)

    def schedule(step: ArrayLike) -> jax.Array:
        t = as_step(step)
        p, m = f32(period), f32(period_mult)
        i = _cycle_index(t, p, m, kind)
        length = p if kind == "one" else p * jnp.power(m, i)
        x = jnp.clip((t - _cycle_start(i, p, m, kind)) / length, 0.0, 1.0)
        x = _pow(x, k_decay)
        if peak_decay_mode == "amplitude":
            amplitude = (f32(peak) - f32(end_value)) * jnp.power(f32(peak_decay), i)
        else:
            amplitude = f32(peak) * jnp.power(f32(peak_decay), i) - f32(end_value)
        value = amplitude * _pow(cosine_fraction(x), exponent) + f32(end_value)
        if max_cycles is not None:
            value = jnp.where(i >= f32(max_cycles), f32(end_value), value)
        return finish(value, t)

    return schedule


_CYCLICAL_MODES = ("triangular", "triangular2", "exp_range")


@register(peak="max_lr", horizon=None, example="base_lr=1e-4,step_size_up=25")
def cyclical(
    base_lr: ArrayLike,
    max_lr: ArrayLike,
    step_size_up: ArrayLike,
    step_size_down: ArrayLike | None = None,
    mode: str = "triangular",
    gamma: ArrayLike = 1.0,
) -> Schedule:
    """Cyclical learning rate (CLR, Smith 2017): triangles between ``base_lr`` and ``max_lr``.

    A cycle is ``U = step_size_up`` steps rising then ``W = step_size_down`` (default ``U``)
    falling. With ``k = floor(t / (U + W))`` and ``q = t - k (U + W)``::

        h = q / U if q < U else 1 - (q - U) / W
        lr(t) = base_lr + (max_lr - base_lr) * h * scale

    ``scale`` is 1 (``"triangular"``), ``0.5**k`` (``"triangular2"``, the height halves each
    cycle) or ``gamma**t`` (``"exp_range"``). The closed form of
    ``torch.optim.lr_scheduler.CyclicLR`` with its built-in modes.

    Example::

        sched = cyclical(1e-4, 1e-3, step_size_up=10)
        sched(0), sched(10), sched(20)  # 0.0001, 0.001, 0.0001
    """
    v.check_nonnegative("base_lr", base_lr)
    v.check_nonnegative("max_lr", max_lr)
    v.check_le("base_lr", base_lr, "max_lr", max_lr)
    v.check_positive("step_size_up", step_size_up)
    if step_size_down is None:
        step_size_down = step_size_up
    v.check_positive("step_size_down", step_size_down)
    v.check_choice("mode", mode, _CYCLICAL_MODES)
    v.check_in_range("gamma", gamma, 0.0, 1.0, low_inclusive=False)

    def schedule(step: ArrayLike) -> jax.Array:
        t = as_step(step)
        up, down = f32(step_size_up), f32(step_size_down)
        k = jnp.floor(t / (up + down))
        q = t - k * (up + down)
        h = jnp.where(q < up, q / up, 1.0 - (q - up) / down)
        h = jnp.clip(h, 0.0, 1.0)
        scale: float | jax.Array
        if mode == "triangular":
            scale = 1.0
        elif mode == "triangular2":
            scale = jnp.power(0.5, k)
        else:
            scale = jnp.power(f32(gamma), t)
        base = f32(base_lr)
        return finish(base + (f32(max_lr) - base) * h * scale, t)

    return schedule


_ANNEAL = ("cos", "cosine", "linear")


def _interpolate(kind: str, start: jax.Array, end: jax.Array, x: jax.Array) -> jax.Array:
    # The same expressions as optax's one-cycle interpolations, so parity holds to rounding.
    if kind == "linear":
        return (end - start) * x + start
    return end + (start - end) / 2.0 * (jnp.cos(jnp.pi * x) + 1.0)


@register(peak="peak", horizon="total_steps", example="")
def one_cycle(
    peak: ArrayLike,
    total_steps: ArrayLike,
    pct_start: ArrayLike = 0.3,
    anneal_strategy: str = "cos",
    div_factor: ArrayLike = 25.0,
    final_div_factor: ArrayLike = 1e4,
    three_phase: bool = False,
    pct_final: ArrayLike | None = None,
) -> Schedule:
    """One-cycle policy (Smith & Topin 2017): warm up to ``peak``, then anneal far below the start.

    ``init = peak / div_factor``, ``final = init / final_div_factor``, ``T = total_steps``,
    ``a = pct_start * T``. Each phase goes from its start value to its end value with the
    ``anneal_strategy`` ("cos": ``end + (start - end) / 2 * (1 + cos(pi x))``; "linear") where
    ``x`` is the fraction of the phase done:

    * two phases: ``init -> peak`` on ``[0, a]``, ``peak -> final`` on ``[a, T]``;
    * ``three_phase``: ``init -> peak`` on ``[0, a]``, ``peak -> init`` on ``[a, b]`` with
      ``b = pct_final * T`` (default ``2 a``, torch's symmetric choice), ``init -> final`` on
      ``[b, T]``.

    ``final`` is held after ``T``. Phase boundaries are the real numbers above; optax's
    ``cosine_onecycle_schedule`` / ``linear_onecycle_schedule`` truncate them to integers and
    torch's ``OneCycleLR`` ends each phase one step earlier (see ``jaxsched.compat.torch``).

    Example::

        sched = one_cycle(1e-3, total_steps=100, pct_start=0.25)
        sched(0), sched(25), sched(100)  # 4e-05, 0.001, 4e-09
    """
    v.check_nonnegative("peak", peak)
    v.check_positive("total_steps", total_steps)
    v.check_in_range("pct_start", pct_start, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    v.check_choice("anneal_strategy", anneal_strategy, _ANNEAL)
    v.check_ge("div_factor", div_factor, 1.0)
    v.check_ge("final_div_factor", final_div_factor, 1.0)
    v.check_bool("three_phase", three_phase)
    if pct_final is not None:
        if not three_phase:
            raise ValueError(
                f"pct_final is only used with three_phase=True, got pct_final={pct_final!r}"
            )
        v.check_in_range("pct_final", pct_final, 0.0, 1.0, low_inclusive=False)
        if _gt(pct_start, pct_final, strict=False):
            raise ValueError(
                f"pct_final must be > pct_start, got pct_final={pct_final!r} and "
                f"pct_start={pct_start!r}"
            )
    elif three_phase and _gt(pct_start, 0.5):
        raise ValueError(
            "three_phase with the default pct_final = 2 * pct_start needs pct_start <= 0.5, "
            f"got pct_start={pct_start!r}"
        )
    kind = "linear" if anneal_strategy == "linear" else "cosine"

    def schedule(step: ArrayLike) -> jax.Array:
        t = as_step(step)
        top = f32(peak)
        init = top / f32(div_factor)
        final = init / f32(final_div_factor)
        total = f32(total_steps)
        a = f32(pct_start) * total

        def phase(
            start: jax.Array, end: jax.Array, lo: jax.Array | float, hi: jax.Array
        ) -> jax.Array:
            # A phase of zero length (pct_final = 1) is already complete.
            x = jnp.where(hi > lo, jnp.clip((t - lo) / safe_positive(hi - lo), 0.0, 1.0), 1.0)
            return _interpolate(kind, start, end, x)

        if not three_phase:
            value = jnp.where(t < a, phase(init, top, 0.0, a), phase(top, final, a, total))
        else:
            b = 2.0 * a if pct_final is None else f32(pct_final) * total
            value = jnp.where(
                t < a,
                phase(init, top, 0.0, a),
                jnp.where(t < b, phase(top, init, a, b), phase(init, final, b, total)),
            )
        return finish(value, t)

    return schedule


def _gt(a: ArrayLike, b: ArrayLike, strict: bool = True) -> bool:
    ca, cb = v.concrete(a), v.concrete(b)
    if ca is None or cb is None:
        return False
    return bool((ca > cb).any()) if strict else bool((ca >= cb).any())
