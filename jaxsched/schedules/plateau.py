"""Reduce-on-plateau as a functional state machine that runs inside ``jit`` and ``lax.scan``."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxsched import _validate as v
from jaxsched.schedules._core import ArrayLike, f32


class PlateauState(NamedTuple):
    """State of :func:`reduce_on_plateau` (all JAX arrays, so it can be carried through ``scan``).

    Attributes:
      lr: current learning rate (float32).
      best: best metric seen so far (float32; ``+inf`` for ``mode="min"``, ``-inf`` for max).
      num_bad: updates since the last improvement, reset after a reduction (int32).
      cooldown_counter: updates left in the cooldown after a reduction (int32).
      count: number of updates so far (int32).
    """

    lr: jax.Array
    best: jax.Array
    num_bad: jax.Array
    cooldown_counter: jax.Array
    count: jax.Array


class Plateau(NamedTuple):
    """The three pure functions of a plateau schedule: ``init``, ``update``, ``lr``."""

    init: Callable[[ArrayLike], PlateauState]
    update: Callable[[PlateauState, ArrayLike], PlateauState]
    lr: Callable[[PlateauState], jax.Array]


_MODES = ("min", "max")
_THRESHOLD_MODES = ("rel", "abs")


def reduce_on_plateau(
    factor: ArrayLike = 0.1,
    patience: ArrayLike = 10,
    threshold: ArrayLike = 1e-4,
    threshold_mode: str = "rel",
    mode: str = "min",
    cooldown: ArrayLike = 0,
    min_lr: ArrayLike = 0.0,
    eps: ArrayLike = 1e-8,
) -> Plateau:
    """Multiply the learning rate by ``factor`` when a metric stops improving.

    The semantics of ``torch.optim.lr_scheduler.ReduceLROnPlateau``, as pure functions. Each
    ``update(state, metric)``:

    1. ``metric`` improves on ``best`` if (``mode="min"``) ``metric < best * (1 - threshold)``
       (``"rel"``) or ``metric < best - threshold`` (``"abs"``); for ``mode="max"``,
       ``metric > best * (1 + threshold)`` or ``metric > best + threshold``. An improvement sets
       ``best = metric`` and ``num_bad = 0``, otherwise ``num_bad += 1`` (a NaN metric never
       improves).
    2. During a cooldown, ``cooldown_counter -= 1`` and ``num_bad = 0``.
    3. If ``num_bad > patience``: ``new = max(lr * factor, min_lr)``, applied only if
       ``lr - new > eps``; then ``cooldown_counter = cooldown`` and ``num_bad = 0``.

    ``init(lr)`` starts from the learning rate ``lr``; ``lr(state)`` reads the current one.
    Numeric arguments may be JAX arrays (vmap over them); ``mode`` and ``threshold_mode`` are
    static.

    Example::

        plateau = reduce_on_plateau(factor=0.5, patience=2)
        state = plateau.init(1e-3)
        for loss in losses: state = plateau.update(state, loss)  # or jax.lax.scan
        plateau.lr(state)
    """
    v.check_in_range("factor", factor, 0.0, 1.0, high_inclusive=False)
    v.check_nonnegative("patience", patience)
    v.check_nonnegative("threshold", threshold)
    v.check_choice("threshold_mode", threshold_mode, _THRESHOLD_MODES)
    v.check_choice("mode", mode, _MODES)
    v.check_nonnegative("cooldown", cooldown)
    v.check_nonnegative("min_lr", min_lr)
    v.check_nonnegative("eps", eps)

    def init(lr: ArrayLike) -> PlateauState:
        v.check_nonnegative("lr", lr)
        worst = jnp.inf if mode == "min" else -jnp.inf
        zero = jnp.zeros((), jnp.int32)
        return PlateauState(
            lr=f32(lr),
            best=jnp.full(jnp.shape(lr), worst, jnp.float32),
            num_bad=zero,
            cooldown_counter=zero,
            count=zero,
        )

    def improves(metric, best):
        thr = f32(threshold)
        if mode == "min":
            bar = best * (1.0 - thr) if threshold_mode == "rel" else best - thr
            return metric < bar
        bar = best * (1.0 + thr) if threshold_mode == "rel" else best + thr
        return metric > bar

    def update(state: PlateauState, metric: ArrayLike) -> PlateauState:
        metric = f32(metric)
        better = improves(metric, state.best)
        best = jnp.where(better, metric, state.best)
        num_bad = jnp.where(better, 0, state.num_bad + 1)
        in_cooldown = state.cooldown_counter > 0
        cooldown_counter = jnp.where(in_cooldown, state.cooldown_counter - 1, 0)
        num_bad = jnp.where(in_cooldown, 0, num_bad)
        reduce = num_bad > jnp.asarray(patience)
        new_lr = jnp.maximum(state.lr * f32(factor), f32(min_lr))
        lr = jnp.where(reduce & (state.lr - new_lr > f32(eps)), new_lr, state.lr)
        cooldown_counter = jnp.where(reduce, jnp.asarray(cooldown, jnp.int32), cooldown_counter)
        num_bad = jnp.where(reduce, 0, num_bad)
        return PlateauState(
            lr=lr,
            best=best,
            num_bad=num_bad.astype(jnp.int32),
            cooldown_counter=cooldown_counter.astype(jnp.int32),
            count=state.count + 1,
        )

    def lr(state: PlateauState) -> jax.Array:
        return state.lr

    return Plateau(init=init, update=update, lr=lr)
