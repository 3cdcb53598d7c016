# mypy: disable-error-code="import-untyped"
"""The optimizers the trainer knows by name: one table, one meaning per name.

Each entry says which per-run scalars it takes (they ride on the vmapped run axis as data, so
runs that differ only in them share a compiled program), how to build the optimizer from a
learning-rate function and those scalars, and whether its loss is logged at the evaluation
parameters (the notes log averaging and schedule-free runs that way). ``jaxsched train
--optimizer``, the reproduction's runs and the comparison's built-in candidates all read this
table, so a name means the same optimizer everywhere:

``adam``
    the notes' Adam (:func:`jaxsched.optim.adam`: bias-corrected, ``eps`` outside the root).
``adamw``
    ``optax.adamw``: Adam with decoupled weight decay scaled by the learning rate.
``adam_polyak`` / ``adam_ema``
    the notes' Adam inside :func:`~jaxsched.optim.polyak_average` /
    :func:`~jaxsched.optim.ema_average`, with AdamW's decoupled decay ``-lr(k) * wd * p``
    (exactly nothing at the default ``weight_decay = 0``, the notes' setting).
``sf_adam_polyak`` / ``sf_adam_ema``
    the notes' schedule-free Adam (:func:`~jaxsched.optim.schedule_free_adam`).
``sf_adamw`` / ``sf_sgd`` / ``sf_radam``
    the schedule-free family of Defazio et al. 2024, trajectory-equal to the PyTorch reference.

A new entry is one :class:`OptimizerKind` added to :data:`OPTIMIZERS`.

>>> sorted(OPTIMIZERS["adam_ema"].hparams)
['b1', 'b2', 'ema_decay', 'eps', 'weight_decay']
>>> opt = OPTIMIZERS["adam"].build(lambda k: 1e-3, {"b1": 0.9, "b2": 0.999, "eps": 1e-6})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxsched import optim
from jaxsched.optim._base import ScalarOrSchedule

__all__ = ["OPTIMIZERS", "OptimizerKind"]


class OptimizerKind(NamedTuple):
    """How a named optimizer is built from a learning-rate function and per-run scalars.

    Attributes:
      hparams: the per-run scalars ``build`` reads (f32 arrays under ``vmap``, or numbers).
      build: ``(lr_fn, hparams) -> optax.GradientTransformation``; ``lr_fn(count)`` is the
        run's learning rate at the 0-based update count (or a number, as optax takes it).
      record_eval_loss: log the training loss at ``eval_params`` (one more forward pass).
      description: one line for help texts and reports.
    """

    hparams: tuple[str, ...]
    build: Callable[
        [ScalarOrSchedule, Mapping[str, jax.typing.ArrayLike]], optax.GradientTransformation
    ]
    record_eval_loss: bool
    description: str


class _CountState(NamedTuple):
    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as optax's states do


def _decoupled_decay(
    learning_rate: ScalarOrSchedule, weight_decay: Any
) -> optax.GradientTransformation:
    """Adds ``-lr(k) * weight_decay * p`` to the updates (AdamW's decay, after the Adam step).

    With ``weight_decay = 0`` the updates come out unchanged bit for bit (``u - 0 * p == u``),
    so the notes' runs are exactly the notes' Adam.
    """

    def init(params):
        del params
        return _CountState(jnp.zeros([], jnp.int32))

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("decoupled weight decay needs params, got params=None")
        lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
        new = jax.tree.map(
            lambda u, p: (u - (lr * weight_decay) * p).astype(u.dtype), updates, params
        )
        return new, _CountState(optax.safe_int32_increment(state.count))

    return optax.GradientTransformation(init, update)


def _adam(lr, h):
    return optim.adam(lr, b1=h["b1"], b2=h["b2"], eps=h["eps"])


def _adam_decayed(lr, h):
    return optax.chain(_adam(lr, h), _decoupled_decay(lr, h["weight_decay"]))


_ADAM = ("b1", "b2", "eps")

OPTIMIZERS: dict[str, OptimizerKind] = {
    "adam": OptimizerKind(_ADAM, _adam, False, "the notes' Adam"),
    "adamw": OptimizerKind(
        (*_ADAM, "weight_decay"),
        lambda lr, h: optax.adamw(
            lr, b1=h["b1"], b2=h["b2"], eps=h["eps"], weight_decay=h["weight_decay"]
        ),
        False,
        "optax.adamw: Adam with decoupled weight decay (scaled by the learning rate)",
    ),
    "adam_polyak": OptimizerKind(
        (*_ADAM, "weight_decay"),
        lambda lr, h: optim.polyak_average(_adam_decayed(lr, h)),
        True,
        "the notes' Adam with Polyak (uniform) averaging of the iterates",
    ),
    "adam_ema": OptimizerKind(
        (*_ADAM, "weight_decay", "ema_decay"),
        lambda lr, h: optim.ema_average(_adam_decayed(lr, h), decay=h["ema_decay"]),
        True,
        "the notes' Adam with a debiased exponential moving average of the iterates",
    ),
    "sf_adam_polyak": OptimizerKind(
        _ADAM,
        lambda lr, h: optim.schedule_free_adam(
            lr, b1=h["b1"], b2=h["b2"], eps=h["eps"], average="polyak"
        ),
        True,
        "the notes' schedule-free Adam, Polyak average",
    ),
    "sf_adam_ema": OptimizerKind(
        (*_ADAM, "ema_decay"),
        lambda lr, h: optim.schedule_free_adam(
            lr, b1=h["b1"], b2=h["b2"], eps=h["eps"], average="ema", ema_decay=h["ema_decay"]
        ),
        True,
        "the notes' schedule-free Adam, debiased EMA average",
    ),
    "sf_adamw": OptimizerKind(
        (*_ADAM, "weight_decay", "warmup_steps"),
        lambda lr, h: optim.schedule_free_adamw(
            lr, b1=h["b1"], b2=h["b2"], eps=h["eps"], weight_decay=h["weight_decay"],
            warmup_steps=h["warmup_steps"],
        ),
        True,
        "Schedule-Free AdamW (Defazio et al. 2024), weight decay at y, the reference's warmup "
        "lr * min(1, (k+1)/warmup_steps) and its warmup-weighted average",
    ),
    "sf_sgd": OptimizerKind(
        ("b1", "weight_decay", "warmup_steps"),
        lambda lr, h: optim.schedule_free_sgd(
            lr, b1=h["b1"], weight_decay=h["weight_decay"], warmup_steps=h["warmup_steps"]
        ),
        True,
        "Schedule-Free SGD (b1 is the interpolation, the reference's momentum; L2 decay at y; "
        "the reference's warmup)",
    ),
    "sf_radam": OptimizerKind(
        (*_ADAM, "weight_decay"),
        lambda lr, h: optim.schedule_free_radam(
            lr, b1=h["b1"], b2=h["b2"], eps=h["eps"], weight_decay=h["weight_decay"]
        ),
        True,
        "Schedule-Free RAdam: needs no warmup (silent SGD phase while rho_t <= 4)",
    ),
}
"""Every optimizer the trainer builds, by name (see the module docstring)."""
