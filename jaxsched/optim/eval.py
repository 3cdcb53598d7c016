# mypy: disable-error-code="import-untyped"
"""``eval_params``: the parameters to evaluate and checkpoint, found anywhere in an optax state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxsched.optim._base import cast_to, compute_dtype, is_masked_node

AverageGetter = Callable[[Any, optax.Params], Any]

# state class -> getter(state, params) returning the averaged parameters as a tree shaped like
# params, with optax.MaskedNode where the state does not see a parameter (optax.masked).
_AVERAGES: dict[type, AverageGetter] = {}


def register_average(state_class: type, getter: AverageGetter) -> None:
    """Make :func:`eval_params` return ``getter(state, params)`` for states of ``state_class``.

    The one place an averaging optimizer declares where its average lives; each optimizer
    module registers its own state classes when it is imported. ``getter`` returns a tree
    with the structure of ``params`` (``optax.MaskedNode`` for parameters the state does not
    cover, as ``optax.masked`` leaves them); dtypes are cast to the parameters' by
    :func:`eval_params`.

    Example:
      >>> from typing import NamedTuple
      >>> import jax.numpy as jnp
      >>> from jaxsched.optim import eval_params, register_average
      >>> class MyAverageState(NamedTuple):
      ...     average: dict
      >>> register_average(MyAverageState, lambda state, params: state.average)
      >>> eval_params(MyAverageState({"w": jnp.zeros(2)}), {"w": jnp.ones(2)})["w"].tolist()
      [0.0, 0.0]
    """
    if not isinstance(state_class, type):
        raise ValueError(f"state_class must be a class, got state_class={state_class!r}")
    if not callable(getter):
        raise ValueError(f"getter must be callable, got getter={getter!r}")
    _AVERAGES[state_class] = getter


def _optax_schedule_free_x(state: Any, params: optax.Params) -> Any:
    """optax.contrib.schedule_free keeps only z: ``x = (y - (1-b1) z) / b1`` from y = params.

    optax's own expression (not :func:`recover_x`'s), so that the result is
    ``optax.contrib.schedule_free_eval_params``' bit for bit.
    """

    def leaf(z: Any, y: Any) -> Any:
        if is_masked_node(z):
            return z
        cdt = compute_dtype(z.dtype, y.dtype)
        bb = jnp.asarray(state.b1).astype(cdt)
        return (y.astype(cdt) - (1 - bb) * z.astype(cdt)) / bb

    return jax.tree.map(leaf, state.z, params, is_leaf=is_masked_node)


register_average(optax.contrib.ScheduleFreeState, _optax_schedule_free_x)


class _Uncovered:
    """Marks a parameter that a (masked) state does not average; a pytree leaf, unlike None."""


_UNCOVERED = _Uncovered()


def _is_state(node: Any) -> bool:
    return type(node) in _AVERAGES


def _found_values(state: Any, params: Any) -> Any:
    """Per leaf of ``params``: the averaged value, ``_UNCOVERED`` where ``state`` has none.

    Inside ``optax.masked`` (or ``partition``) the state's trees hold ``MaskedNode`` for the
    parameters it does not see; those stay uncovered.
    """
    avg = _AVERAGES[type(state)](state, params)

    def take(a: Any, y: Any) -> Any:
        if is_masked_node(a):
            return jax.tree.map(lambda _: _UNCOVERED, y)
        return cast_to(jnp.asarray(a), jnp.asarray(y).dtype)

    return jax.tree.map(take, avg, params, is_leaf=is_masked_node)


def _pure(tree: Any) -> Any:
    """``tree`` with Flax NNX variables replaced by their values (unchanged without any)."""
    import flax.nnx as nnx

    def is_variable(x: Any) -> bool:
        return isinstance(x, nnx.Variable)

    if not any(is_variable(x) for x in jax.tree.leaves(tree, is_leaf=is_variable)):
        return tree
    return nnx.as_pure(tree)


def eval_params(opt_state: optax.OptState, params: optax.Params) -> optax.Params:
    """The parameters to evaluate and checkpoint for an optimizer state.

    * averaging states (:func:`polyak_average`, :func:`ema_average`): the (debiased) average;
    * schedule-free states (:func:`schedule_free_adam`, :func:`schedule_free_adamw`,
      :func:`schedule_free_sgd`, :func:`schedule_free_radam`, :func:`schedule_free`): the
      average ``x``, stored (``store_x``) or recovered from the parameters as
      ``z + (params - z) / b1``; ``optax.contrib.schedule_free`` states (all its
      ``schedule_free_*``): ``x = (params - (1-b1) z) / b1``, as optax computes it. Where ``x``
      is recovered, ``params`` must be the parameters the optimizer's updates produced;
    * any state class given to :func:`register_average`;
    * anything else: ``params`` unchanged.

    The state is searched as a pytree, so the averaging state is found inside
    ``optax.chain``, ``optax.inject_hyperparams``, ``optax.masked`` / ``partition`` (only the
    parameters the masked optimizer sees are replaced) and ``optax.MultiSteps``. A state
    nested inside one of ours (``ema_average(schedule_free_adamw(...))``) is shadowed by the
    outer one. Two states covering the same parameter side by side (say two averaging wrappers
    in one chain) are ambiguous and raise ``ValueError``.

    The result has the structure and dtypes of ``params``. For a state batched by ``vmap``,
    call ``eval_params`` under the same ``vmap``. Flax NNX states are taken as they are: an
    ``nnx.Optimizer``'s ``opt_state`` and ``nnx.state(model, nnx.Param)`` (their variables are
    read as the plain pytrees optax sees, and the result is a plain ``nnx.State``).

    Example:
      >>> import jax.numpy as jnp, optax
      >>> from jaxsched.optim import adam, ema_average, eval_params
      >>> opt = optax.chain(optax.clip_by_global_norm(1.0), ema_average(adam(1e-3)))
      >>> params = {"w": jnp.ones(3)}
      >>> state = opt.init(params)
      >>> eval_params(state, params)["w"].shape
      (3,)
    """
    opt_state, params = _pure(opt_state), _pure(params)
    found = [s for s in jax.tree.leaves(opt_state, is_leaf=_is_state) if _is_state(s)]
    if not found:
        return params
    leaves, treedef = jax.tree.flatten(params)
    result: list[Any] = list(leaves)
    covered = [False] * len(leaves)
    for state in found:
        # shaped like params: an array or _UNCOVERED (a leaf too) for every parameter
        flat = jax.tree.leaves(_found_values(state, params))
        assert len(flat) == len(leaves), (len(flat), len(leaves))
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


__all__ = ["eval_params", "register_average"]
