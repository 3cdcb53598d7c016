"""Parameter averaging around any optax optimizer: Polyak (uniform) and EMA (debiased).

Both wrappers return the inner optimizer's updates unchanged and keep, in their state, the
average of the parameter iterates ``p_1, p_2, ...`` that those updates produce. Evaluate or
checkpoint ``jaxsched.optim.eval_params(state, params)``, which finds the average even inside
``optax.chain``, ``inject_hyperparams``, ``masked`` or ``MultiSteps`` states.

The wrapper must see the parameters and its updates must be applied unmodified: put it last in
a chain (``optax.chain(clip, ema_average(adam(...)))``), since the average is of
``optax.apply_updates(params, updates)``, computed inside ``update``.

The stored average is always the *debiased* one. The notes keep the raw EMA ``s`` (with
``s_0 = 0``) and divide by ``1 - decay**k`` at evaluation; here the same quantity is updated
directly as ``a_k = a_{k-1} + c_k (p_k - a_{k-1})`` with ``c_k = (1-decay)/(1-decay**k)``,
which is algebraically identical, needs no division at evaluation and makes ``a_0 = params``
(what ``eval_params`` returns before the first update).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxsched._validate import (
    check_bool,
    check_le,
    check_positive,
    concrete,
)
from jaxsched.optim._base import (
    check_beta,
    check_params_given,
    check_state_dtype,
    check_transformation,
    compute_dtype,
    increment,
    is_static_value,
    one_minus_pow,
    round_to,
    scalar_dtype,
    tree_copy,
)
from jaxsched.optim.eval import register_average


class PolyakAverageState(NamedTuple):
    """State of :func:`polyak_average`."""

    count: jax.Array  # int32, number of updates so far
    inner_state: optax.OptState
    average: optax.Params  # mean of params_0 (before any update) or of params_1..params_count


class EmaAverageState(NamedTuple):
    """State of :func:`ema_average`."""

    count: jax.Array  # int32, number of optimizer updates so far
    debias: jax.Array  # 1 - prod(decays applied so far): the raw EMA's total weight
    inner_state: optax.OptState
    average: optax.Params  # the debiased EMA (params before the first averaged update)


register_average(PolyakAverageState, lambda state, params: state.average)
register_average(EmaAverageState, lambda state, params: state.average)


def _next_params(p: jax.Array, u: jax.Array, cdt: Any) -> jax.Array:
    """``optax.apply_updates``' result ``(p + u).astype(p.dtype)``, in ``cdt``, rounded as the
    user's copy is (bit for bit in bf16), so the average is of the iterates they hold."""
    p, u = jnp.asarray(p), jnp.asarray(u)
    out_dtype = jnp.result_type(p.dtype, u.dtype)
    s = round_to(p.astype(cdt) + u.astype(cdt), out_dtype)
    return round_to(s, p.dtype)


def _lerp_tree(average: Any, params: Any, updates: Any, c: jax.Array, apply: Any = None) -> Any:
    """``a + c (p_next - a)`` per leaf in >= float32, stored back in the average's dtype.

    Written as ``(1-c) a + c p`` so that ``c == 1`` gives ``p_next`` exactly.
    """

    def leaf(a, p, u):
        cdt = compute_dtype(a.dtype, p.dtype)
        cc = c.astype(cdt)
        new = (1 - cc) * a.astype(cdt) + cc * _next_params(p, u, cdt)
        if apply is not None:
            new = jnp.where(apply, new, a.astype(cdt))
        return new.astype(a.dtype)

    return jax.tree.map(leaf, average, params, updates)


def polyak_average(
    inner: optax.GradientTransformation, *, state_dtype: Any = None
) -> optax.GradientTransformationExtraArgs:
    r"""Keep the uniform (Polyak) average of the iterates of ``inner``.

    .. math::

        s_0 = p_0, \qquad s_{k+1} = s_k + \frac{p_{k+1} - s_k}{k+1}
        \quad(\text{so } s_k = \tfrac1k \textstyle\sum_{i=1}^k p_i),

    the notes' ``avg_type='polyak'``. Updates are those of ``inner``, unchanged.

    Args:
      inner: any optax ``GradientTransformation``.
      state_dtype: dtype of the stored average (e.g. ``jnp.float32`` for bf16 parameters);
        by default each leaf follows its parameter.

    Example:
      >>> import jax.numpy as jnp, optax
      >>> from jaxsched.optim import adam, eval_params, polyak_average
      >>> opt = polyak_average(adam(1e-3))
      >>> params = {"w": jnp.ones(3)}
      >>> state = opt.init(params)
      >>> updates, state = opt.update({"w": jnp.ones(3)}, state, params)
      >>> params = optax.apply_updates(params, updates)
      >>> averaged = eval_params(state, params)
    """
    check_transformation("inner", inner)
    check_state_dtype(state_dtype)
    inner = optax.with_extra_args_support(inner)

    def init_fn(params: optax.Params) -> PolyakAverageState:
        return PolyakAverageState(
            count=jnp.zeros([], jnp.int32),
            inner_state=inner.init(params),
            average=tree_copy(params, state_dtype),
        )

    def update_fn(updates, state, params=None, **extra_args):
        check_params_given(params, "polyak_average")
        new_updates, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
        sdt = scalar_dtype(state.average, state_dtype)
        c = 1.0 / (state.count + 1).astype(sdt)
        average = _lerp_tree(state.average, params, new_updates, c)
        return new_updates, PolyakAverageState(increment(state.count), inner_state, average)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def _check_every(every_n_steps: Any) -> None:
    check_positive("every_n_steps", every_n_steps)
    arr = concrete(every_n_steps)
    if arr is not None and not np.all(np.mod(arr, 1) == 0):
        raise ValueError(
            f"every_n_steps must be an integer >= 1, got every_n_steps={every_n_steps!r}"
        )


def ema_average(
    inner: optax.GradientTransformation,
    decay: Any = 0.999,
    *,
    every_n_steps: Any = 1,
    warmup: bool = False,
    warmup_gamma: Any = 1.0,
    warmup_power: Any = 2.0 / 3.0,
    min_decay: Any = 0.0,
    state_dtype: Any = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Keep the debiased exponential moving average of the iterates of ``inner``.

    With ``p_{k+1}`` the parameters after update ``k`` (0-based), the notes' EMA is

    .. math::

        s_0 = 0,\qquad s_{k+1} = d\,s_k + (1-d)\,p_{k+1},\qquad
        \hat s_{k+1} = \frac{s_{k+1}}{1 - d^{k+1}},

    and ``eval_params`` returns :math:`\hat s` (``params`` before the first update). The state
    holds :math:`\hat s` itself, updated as :math:`\hat s_{n} = \hat s_{n-1} +
    c_n (p - \hat s_{n-1})` with :math:`c_n = (1-d_n)/(1-\prod_{i\le n} d_i)`.

    Options:

    * ``every_n_steps=N``: the average takes in the parameters only after every ``N``-th
      update (``p_N, p_{2N}, ...``), each with the decay ``d``; the debiasing counts averaged
      iterates. ``N=1`` is the notes' EMA.
    * ``warmup=True``: timm's ``ModelEmaV3`` decay warmup. The decay used after update ``k``
      (0-based) is ``0`` for ``k = 0`` (the average starts as a copy) and
      ``clip(1 - (1 + k/warmup_gamma)**-warmup_power, min_decay, decay)`` after; with a zero
      first decay the debiasing is the identity, as in timm. ``warmup_gamma=1,
      warmup_power=2/3`` reaches 0.999 at ~31.6k steps; ``3/4`` reaches 0.9999 at ~215k.
    * ``state_dtype``: dtype of the average, e.g. ``jnp.float32`` while the parameters are
      bf16 (a bf16 average with ``d=0.999`` stops moving: ``(1-d)`` is below bf16's precision).

    Args:
      inner: any optax ``GradientTransformation``.
      decay: EMA decay ``d`` in [0, 1); may be a JAX array (``vmap`` over decays).
      every_n_steps: integer >= 1.
      warmup: use timm's decay warmup.
      warmup_gamma, warmup_power: timm's ``warmup_gamma`` and ``warmup_power`` (> 0).
      min_decay: timm's ``min_decay``, in [0, decay].
      state_dtype: dtype of the stored average; by default each leaf follows its parameter.

    Example:
      >>> import jax.numpy as jnp, optax
      >>> from jaxsched.optim import adam, ema_average, eval_params
      >>> opt = ema_average(adam(1e-3), decay=0.999, state_dtype=jnp.float32)
      >>> params = {"w": jnp.ones(3, jnp.bfloat16)}
      >>> state = opt.init(params)
      >>> updates, state = opt.update({"w": jnp.ones(3, jnp.bfloat16)}, state, params)
      >>> params = optax.apply_updates(params, updates)
      >>> averaged = eval_params(state, params)
    """
    check_transformation("inner", inner)
    check_beta("decay", decay)
    _check_every(every_n_steps)
    check_bool("warmup", warmup)
    check_positive("warmup_gamma", warmup_gamma)
    check_positive("warmup_power", warmup_power)
    check_beta("min_decay", min_decay)
    check_le("min_decay", min_decay, "decay", decay)
    check_state_dtype(state_dtype)
    inner = optax.with_extra_args_support(inner)
    every_step = is_static_value(every_n_steps, 1)

    def init_fn(params: optax.Params) -> EmaAverageState:
        sdt = scalar_dtype(params, state_dtype)
        return EmaAverageState(
            count=jnp.zeros([], jnp.int32),
            debias=jnp.zeros([], sdt),
            inner_state=inner.init(params),
            average=tree_copy(params, state_dtype),
        )

    def update_fn(updates, state, params=None, **extra_args):
        check_params_given(params, "ema_average")
        new_updates, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
        sdt = state.debias.dtype
        t = state.count + 1  # updates done once this one is applied
        if every_step:
            apply = None
            n = t
        else:
            every = jnp.asarray(every_n_steps).astype(jnp.int32)
            apply = (t % every) == 0
            n = t // every  # averaged iterates once this one is taken in

        if warmup:
            k = state.count.astype(sdt)
            d = 1.0 - jnp.power(1.0 + k / warmup_gamma, -jnp.asarray(warmup_power, sdt))
            d = jnp.maximum(jnp.minimum(d, decay), min_decay)
            d = jnp.where(k <= 0, 0.0, d).astype(sdt)
            # (1-d) + d*debias has no cancellation; with d=0 at the first update it stays 1.
            debias = (1.0 - d) + d * state.debias
            c = (1.0 - d) / debias
        else:
            d = jnp.asarray(decay, sdt)
            debias = one_minus_pow(d, n, sdt)
            # n == 1: the first averaged iterate replaces the initial copy exactly.
            c = jnp.where(n <= 1, 1.0, (1.0 - d) / jnp.where(n <= 1, 1.0, debias)).astype(sdt)
        if apply is not None:
            debias = jnp.where(apply, debias, state.debias)

        average = _lerp_tree(state.average, params, new_updates, c, apply)
        new_state = EmaAverageState(increment(state.count), debias, inner_state, average)
        return new_updates, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


__all__ = ["EmaAverageState", "PolyakAverageState", "ema_average", "polyak_average"]
