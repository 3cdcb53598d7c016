"""``eval_params``: the parameters to evaluate and checkpoint, found anywhere in an optax state."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxsched.optim._base import is_masked_node
from jaxsched.optim.averaging import EmaAverageState, PolyakAverageState
from jaxsched.optim.schedule_free import ScheduleFreeAdamState, ScheduleFreeState

_OWN_STATES = (PolyakAverageState, EmaAverageState, ScheduleFreeAdamState, ScheduleFreeState)
_OPTAX_SF_STATE = optax.contrib.ScheduleFreeState
_STATES = (*_OWN_STATES, _OPTAX_SF_STATE)


class _Uncovered:
    """Marks a parameter that a (masked) state does not average; a pytree leaf, unlike None."""


_UNCOVERED = _Uncovered()


def _is_state(node: Any) -> bool:
    return isinstance(node, _STATES)


def _averaged_tree(state: Any) -> Any:
    if isinstance(state, (PolyakAverageState, EmaAverageState)):
        return state.average
    if isinstance(state, _OWN_STATES):
        return state.x
    return None  # optax's schedule-free state: x is recovered from params below


def _found_values(state: Any, params: Any) -> Any:
    """Per leaf of ``params``: the averaged value, ``_UNCOVERED`` where ``state`` has none.

    Inside ``optax.masked`` (or ``partition``) the state's trees hold ``MaskedNode`` for the
    parameters it does not see; those stay uncovered.
    """
    avg = _averaged_tree(state)
    if avg is None:
        b1 = state.b1

        def recover(z, y):
            if is_masked_node(z):
                return jax.tree.map(lambda _: _UNCOVERED, y)
            cdt = jnp.result_type(jnp.float32, z.dtype, y.dtype)
            bb = jnp.asarray(b1, cdt)
            x = (y.astype(cdt) - (1 - bb) * z.astype(cdt)) / bb
            return x.astype(y.dtype)

        return jax.tree.map(recover, state.z, params, is_leaf=is_masked_node)

    def take(a, y):
        if is_masked_node(a):
            return jax.tree.map(lambda _: _UNCOVERED, y)
        return jnp.asarray(a).astype(jnp.asarray(y).dtype)

    return jax.tree.map(take, avg, params, is_leaf=is_masked_node)


def eval_params(opt_state: optax.OptState, params: optax.Params) -> optax.Params:
    """The parameters to evaluate and checkpoint for an optimizer state.

    * averaging states (:func:`polyak_average`, :func:`ema_average`): the (debiased) average;
    * schedule-free states (:func:`schedule_free_adam`, :func:`schedule_free_adamw`,
      :func:`schedule_free`, and ``optax.contrib.schedule_free``): the average ``x``;
    * anything else: ``params`` unchanged.

    The state is searched as a pytree, so the averaging state is found inside
    ``optax.chain``, ``optax.inject_hyperparams``, ``optax.masked`` / ``partition`` (only the
    parameters the masked optimizer sees are replaced) and ``optax.MultiSteps``. A state
    nested inside one of ours (``ema_average(schedule_free_adamw(...))``) is shadowed by the
    outer one. Two states covering the same parameter side by side (say two averaging wrappers
    in one chain) are ambiguous and raise ``ValueError``.

    The result has the structure and dtypes of ``params``. For a state batched by ``vmap``,
    call ``eval_params`` under the same ``vmap``.

    Example:
      >>> import jax.numpy as jnp, optax
      >>> from jaxsched.optim import adam, ema_average, eval_params
      >>> opt = optax.chain(optax.clip_by_global_norm(1.0), ema_average(adam(1e-3)))
      >>> params = {"w": jnp.ones(3)}
      >>> state = opt.init(params)
      >>> eval_params(state, params)["w"].shape
      (3,)
    """
    found = [s for s in jax.tree.leaves(opt_state, is_leaf=_is_state) if _is_state(s)]
    if not found:
        return params
    treedef = jax.tree.structure(params)
    leaves = jax.tree.leaves(params)
    result: list[Any] = list(leaves)
    covered = [False] * len(leaves)
    for state in found:
        values = _found_values(state, params)
        flat = treedef.flatten_up_to(values)
        for i, v in enumerate(flat):
            if v is _UNCOVERED:
                continue
            if covered[i]:
                raise ValueError(
                    "eval_params: opt_state holds more than one averaging / schedule-free state "
                    "for the same parameters; nest them (the outer one wins) or evaluate each "
                    "state separately"
                )
            covered[i] = True
            result[i] = v
    return jax.tree.unflatten(treedef, result)


__all__ = ["eval_params"]
