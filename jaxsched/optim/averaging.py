# mypy: disable-error-code="import-untyped"
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

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxsched._validate import (
    check_bool,
    check_in_range,
    check_le,
    check_nonnegative,
    check_positive,
    concrete,
)
from jaxsched.optim._base import (
    cast_to,
    check_beta,
    check_params_given,
    check_state_dtype,
    check_transformation,
    compensated_add,
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

    # int32, number of updates so far (the name shadows tuple.count, as in optax's states)
    count: jax.Array  # type: ignore[assignment]
    inner_state: optax.OptState
    average: optax.Params  # mean of params_0 (before any update) or of params_1..params_count


class EmaAverageState(NamedTuple):
    """State of :func:`ema_average`."""

    # int32, number of optimizer updates so far (the name shadows tuple.count, as in optax's states)
    count: jax.Array  # type: ignore[assignment]
    debias: jax.Array  # 1 - prod(decays applied so far): the raw EMA's total weight
    # sum of log(decay) so far as a compensated pair (a decay schedule's debiasing)
    log_decay: jax.Array
    log_decay_comp: jax.Array
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

    def leaf(a: jax.Array, p: jax.Array, u: jax.Array) -> jax.Array:
        cdt = compute_dtype(a.dtype, p.dtype)
        cc = c.astype(cdt)
        new = (1 - cc) * a.astype(cdt) + cc * _next_params(p, u, cdt)
        if apply is not None:
            new = jnp.where(apply, new, a.astype(cdt))
        return cast_to(new, a.dtype)

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
      state_dtype: dtype of the stored average (e.g. ``jnp.float32`` for bf16 parameters),
        floating or complex (complex parameters need a complex one); by default each leaf
        follows its parameter.

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

    def update_fn(
        updates: optax.Updates,
        state: PolyakAverageState,
        params: optax.Params | None = None,
        **extra_args: Any,
    ) -> tuple[optax.Updates, PolyakAverageState]:
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
    * ``decay`` a schedule ``k -> d_k`` (``k`` the 0-based update count): the decay taken
      when ``p_{k+1}`` comes in, :math:`s_{k+1} = d_k s_k + (1-d_k) p_{k+1}`, debiased by
      :math:`1-\prod_{i\le k} d_i` (kept as a compensated sum of logs, so that a constant
      schedule gives bit for bit the constant decay's result). :func:`power_ema_decay` (time
      constant growing in proportion to ``k``, no horizon) and :func:`sqrt_cooldown_ema_decay`
      (levanter's EMA then 1-sqrt) are two such schedules.
    * ``state_dtype``: dtype of the average, e.g. ``jnp.float32`` while the parameters are
      bf16 (a bf16 average with ``d=0.999`` stops moving: ``(1-d)`` is below bf16's precision).

    Args:
      inner: any optax ``GradientTransformation``.
      decay: EMA decay ``d`` in [0, 1); may be a JAX array (``vmap`` over decays), or a
        schedule ``k -> d_k`` with values in [0, 1] (not combined with ``warmup``).
      every_n_steps: integer >= 1.
      warmup: use timm's decay warmup.
      warmup_gamma, warmup_power: timm's ``warmup_gamma`` and ``warmup_power`` (> 0).
      min_decay: timm's ``min_decay``, in [0, decay].
      state_dtype: dtype of the stored average, floating or complex (complex parameters need
        a complex one); by default each leaf follows its parameter.

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
    scheduled = callable(decay)
    if not scheduled:
        check_beta("decay", decay)
    _check_every(every_n_steps)
    check_bool("warmup", warmup)
    if warmup and scheduled:
        raise ValueError(
            f"warmup=True caps a constant decay; with a decay schedule put the warmup in the "
            f"schedule (got warmup=True and decay={decay!r})"
        )
    check_positive("warmup_gamma", warmup_gamma)
    check_positive("warmup_power", warmup_power)
    check_beta("min_decay", min_decay)
    if not scheduled:
        check_le("min_decay", min_decay, "decay", decay)
    check_state_dtype(state_dtype)
    inner = optax.with_extra_args_support(inner)
    every_step = is_static_value(every_n_steps, 1)

    def init_fn(params: optax.Params) -> EmaAverageState:
        sdt = scalar_dtype(params, state_dtype)
        return EmaAverageState(
            count=jnp.zeros([], jnp.int32),
            debias=jnp.zeros([], sdt),
            log_decay=jnp.zeros([], sdt),
            log_decay_comp=jnp.zeros([], sdt),
            inner_state=inner.init(params),
            average=tree_copy(params, state_dtype),
        )

    def update_fn(
        updates: optax.Updates,
        state: EmaAverageState,
        params: optax.Params | None = None,
        **extra_args: Any,
    ) -> tuple[optax.Updates, EmaAverageState]:
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

        log_decay, log_decay_comp = state.log_decay, state.log_decay_comp
        if scheduled:
            d = jnp.asarray(decay(state.count), sdt)
            # the same expressions as one_minus_pow: for a constant schedule the compensated
            # sum of n logs rounds to n * log1p(d - 1), so the result is the constant path's
            s_new, comp_new = compensated_add(log_decay, log_decay_comp, jnp.log1p(d - 1.0))
            # a zero decay (a reset) makes the product 0 for good: keep log = -inf, not NaN
            zeroed = (d <= 0) | jnp.isneginf(log_decay)
            log_decay = jnp.where(zeroed, -jnp.inf, s_new).astype(sdt)
            log_decay_comp = jnp.where(zeroed, 0.0, comp_new).astype(sdt)
            debias = -jnp.expm1(log_decay + log_decay_comp)
            c = jnp.where(n <= 1, 1.0, (1.0 - d) / jnp.where(n <= 1, 1.0, debias)).astype(sdt)
        elif warmup:
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
            log_decay = jnp.where(apply, log_decay, state.log_decay)
            log_decay_comp = jnp.where(apply, log_decay_comp, state.log_decay_comp)

        average = _lerp_tree(state.average, params, new_updates, c, apply)
        new_state = EmaAverageState(
            increment(state.count), debias, log_decay, log_decay_comp, inner_state, average
        )
        return new_updates, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def power_ema_decay(gamma: Any = 6.94) -> Callable[[jax.Array], jax.Array]:
    r"""The power-function EMA decay of Karras et al. 2024 (EDM2, "Analyzing and Improving the
    Training Dynamics of Diffusion Models", eq. 3): a time constant proportional to the step.

    .. math::

        d_k = \Big(1 - \frac{1}{k+1}\Big)^{\gamma+1}

    for ``ema_average(inner, decay=power_ema_decay(gamma))``. The average after ``t`` updates
    weights iterate ``p_i`` by about :math:`i^\gamma`: its width is a fixed fraction of ``t``
    (EDM2's relative width :math:`\sigma_{rel} = \sqrt{(\gamma+1)/((\gamma+2)^2(\gamma+3))}`;
    ``gamma=6.94`` is their 0.10), so it needs no horizon: the same average serves every
    stopping time. ``gamma=0`` is the uniform (Polyak) average. ``d_0 = 0``: the first iterate
    replaces the initial copy.

    Args:
      gamma: the power, >= 0 (a JAX array may be swept under ``vmap``).

    Example:
      >>> from jaxsched.optim import power_ema_decay
      >>> d = power_ema_decay(0.0)
      >>> [round(float(d(k)), 4) for k in (0, 1, 3)]   # k / (k+1): Polyak
      [0.0, 0.5, 0.75]
    """
    check_nonnegative("gamma", gamma)

    def schedule(k: jax.Array) -> jax.Array:
        k1 = jnp.asarray(k, jnp.float32) + 1.0
        return jnp.power(1.0 - 1.0 / k1, jnp.asarray(gamma, jnp.float32) + 1.0)

    return schedule


def sqrt_cooldown_ema_decay(
    switch_step: Any, decay_steps: Any, beta: Any = 0.999, epsilon: Any = 1e-5
) -> Callable[[jax.Array], jax.Array]:
    r"""Levanter's ``EmaDecaySqrtModelAveraging`` as an EMA decay schedule: EMA, then 1-sqrt.

    The weight of the new iterate is :math:`\alpha_k = 1 - \beta` before ``switch_step`` and
    :math:`\max(1 - \sqrt{\min(1, (k - \text{switch})/\text{decay\_steps})}, \epsilon)`
    after, so the decay is :math:`d_k = 1 - \alpha_k`: the average follows the iterates
    as an EMA, then takes them in less and less (a cooldown of the average itself) until it
    all but freezes. Unlike :func:`power_ema_decay` this needs a horizon
    (``switch_step + decay_steps``). Differences from levanter: ``ema_average`` debiases the
    EMA (levanter starts it from the initial parameters; the two agree once
    :math:`\beta^k` is negligible), and the recent levanter version (``tot_weight``) averages
    with weights :math:`\alpha_k` instead, which is not an EMA.

    Args:
      switch_step: 0-based update count where the cooldown starts, >= 0.
      decay_steps: cooldown length, > 0.
      beta: the EMA decay before the switch, in [0, 1).
      epsilon: the smallest weight of a new iterate, in [0, 1].

    Example:
      >>> from jaxsched.optim import sqrt_cooldown_ema_decay
      >>> d = sqrt_cooldown_ema_decay(switch_step=10, decay_steps=100, beta=0.9)
      >>> [round(float(d(k)), 4) for k in (0, 10, 35, 110)]
      [0.9, 0.0, 0.5, 1.0]
    """
    check_nonnegative("switch_step", switch_step)
    check_positive("decay_steps", decay_steps)
    check_beta("beta", beta)
    check_in_range("epsilon", epsilon, 0.0, 1.0)

    def schedule(k: jax.Array) -> jax.Array:
        k = jnp.asarray(k, jnp.float32)
        frac = jnp.clip((k - switch_step) / jnp.asarray(decay_steps, jnp.float32), 0.0, 1.0)
        alpha = jnp.maximum(1.0 - jnp.sqrt(frac), epsilon)
        return jnp.where(k < switch_step, jnp.asarray(beta, jnp.float32), 1.0 - alpha)

    return schedule


__all__ = [
    "EmaAverageState",
    "PolyakAverageState",
    "ema_average",
    "polyak_average",
    "power_ema_decay",
    "sqrt_cooldown_ema_decay",
]
