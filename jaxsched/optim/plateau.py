# mypy: disable-error-code="import-untyped"
"""Reduce-on-plateau as an optax transformation that scales the updates by the value it is given.

:func:`reduce_on_plateau` wraps the functional state machine of
:func:`jaxsched.schedules.reduce_on_plateau` (the one the torch twin uses) as an
``optax.GradientTransformationExtraArgs``: ``update(updates, state, params, value=loss)``
feeds ``value`` to the machine and multiplies the updates by its current scale, so that it goes
into ``optax.chain`` where ``optax.contrib.reduce_on_plateau`` would.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxsched import _validate as v
from jaxsched.schedules import plateau as _plateau


class ReduceOnPlateauState(NamedTuple):
    """State of :func:`reduce_on_plateau`.

    Attributes:
      plateau: the state machine's state; ``plateau.lr`` is the current scale (float32,
        1 at the start).
      avg_value: mean of the values given since the last decision (float32).
      count: number of values given since the last decision (int32).
    """

    plateau: _plateau.PlateauState
    avg_value: jax.Array
    # the name shadows tuple.count, as in optax's states
    count: jax.Array  # type: ignore[assignment]

    @property
    def scale(self) -> jax.Array:
        """The factor the updates are multiplied by."""
        return self.plateau.lr


def reduce_on_plateau(
    factor: Any = 0.1,
    patience: Any = 10,
    threshold: Any = 1e-4,
    threshold_mode: str = "rel",
    mode: str = "min",
    cooldown: Any = 0,
    accumulation_size: Any = 1,
    min_scale: Any = 0.0,
) -> optax.GradientTransformationExtraArgs:
    """Scale the updates down by ``factor`` when the value passed to ``update`` stops improving.

    Each ``update(updates, state, params, value=v)`` adds ``v`` to a running mean; every
    ``accumulation_size`` values that mean is one step of the plateau state machine
    (:func:`jaxsched.schedules.reduce_on_plateau`, started at scale 1):

    1. it improves on ``best`` if ``mean < best * (1 - threshold)`` (``threshold_mode="rel"``)
       or ``mean < best - threshold`` (``"abs"``); ``mode="max"`` turns both around. An
       improvement sets ``best = mean`` and the count of bad values to 0, otherwise the count
       grows by 1;
    2. during a cooldown the count stays 0;
    3. when ``patience`` values in a row have not improved, ``scale = max(scale * factor,
       min_scale)``, the count goes back to 0 and a cooldown of ``cooldown`` values starts.

    The updates are multiplied by ``scale`` (cast to each update's dtype; the decisions are
    made in float32).

    It matches ``optax.contrib.reduce_on_plateau`` step for step where the arguments are
    shared (``factor``, ``patience``, ``cooldown``, ``accumulation_size``, ``min_scale``).
    optax's tolerances are ``rtol`` and ``atol``: ``rtol=r`` (with ``atol=0``) is
    ``threshold=r``, and ``atol=a`` (with ``rtol=0``) is ``threshold=a,
    threshold_mode="abs"``; both at once has no counterpart here. ``mode="max"`` has none
    there. ``patience`` counts as optax does: the scale drops at the ``patience``-th value
    without improvement, which is torch's (and :func:`jaxsched.schedules.reduce_on_plateau`'s)
    ``patience - 1``.

    Args:
      factor: the scale's multiplier at a plateau, in (0, 1).
      patience: values without improvement, ``>= 1``, at which the scale drops.
      threshold: the improvement needed, relative or absolute (``threshold_mode``).
      threshold_mode: ``"rel"`` or ``"abs"``.
      mode: ``"min"`` (a loss) or ``"max"`` (an accuracy).
      cooldown: values after a drop during which no plateau is counted.
      accumulation_size: values averaged into each decision (1: every value decides). Pass a
        minibatch loss with a larger one, a validation loss with 1.
      min_scale: the floor of the scale, in [0, 1].

    Numeric arguments may be JAX arrays (``vmap`` over them); ``threshold_mode`` and ``mode``
    are static.

    Example:
      >>> import jax.numpy as jnp, optax
      >>> from jaxsched.optim import reduce_on_plateau
      >>> opt = optax.chain(optax.sgd(0.1), reduce_on_plateau(factor=0.5, patience=2))
      >>> params = {"w": jnp.ones(2)}
      >>> state = opt.init(params)
      >>> for loss in [1.0, 1.0, 1.0]:
      ...     updates, state = opt.update({"w": jnp.ones(2)}, state, params, value=loss)
      >>> updates["w"].tolist()  # the 2nd value in a row without improvement halved the step
      [-0.05, -0.05]
    """
    v.check_ge("patience", patience, 1)
    v.check_ge("accumulation_size", accumulation_size, 1)
    v.check_in_range("min_scale", min_scale, 0.0, 1.0)
    machine = _plateau.reduce_on_plateau(
        factor=factor,
        patience=patience - 1,
        threshold=threshold,
        threshold_mode=threshold_mode,
        mode=mode,
        cooldown=cooldown,
        min_lr=min_scale,
        eps=0.0,
    )

    def init(params: optax.Params) -> ReduceOnPlateauState:
        del params
        zero = jnp.zeros((), jnp.int32)
        return ReduceOnPlateauState(machine.init(1.0), jnp.zeros((), jnp.float32), zero)

    def decide(state: ReduceOnPlateauState) -> ReduceOnPlateauState:
        return ReduceOnPlateauState(
            machine.update(state.plateau, state.avg_value),
            jnp.zeros_like(state.avg_value),
            jnp.zeros_like(state.count),
        )

    def update(
        updates: optax.Updates,
        state: ReduceOnPlateauState,
        params: optax.Params | None = None,
        *,
        value: Any,
        **extra_args: Any,
    ) -> tuple[optax.Updates, ReduceOnPlateauState]:
        del params, extra_args
        count = state.count + 1
        avg = (state.count * state.avg_value + jnp.asarray(value, jnp.float32)) / count
        state = state._replace(avg_value=avg, count=count)
        state = jax.lax.cond(count == accumulation_size, decide, lambda s: s, state)
        scale = state.plateau.lr
        updates = jax.tree.map(lambda g: scale.astype(g.dtype) * g, updates)
        return updates, state

    return optax.GradientTransformationExtraArgs(init, update)


__all__ = ["ReduceOnPlateauState", "reduce_on_plateau"]
