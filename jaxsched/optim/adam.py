# mypy: disable-error-code="import-untyped"
"""The notes' Adam (``adam_optimizer_custom``) as an optax transformation."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxsched._validate import check_nonnegative
from jaxsched.optim._base import (
    ScalarOrSchedule,
    cast_to,
    check_beta,
    check_learning_rate,
    check_state_dtype,
    compute_dtype,
    increment,
    learning_rate_at,
    one_minus_pow,
    real_dtype,
    scalar_dtype,
    second_moment,
    tree_zeros,
)


class AdamState(NamedTuple):
    """State of :func:`adam`: the number of updates so far and both moment estimates."""

    # int32, 0-based index of the next update (the name shadows tuple.count, as in optax's states)
    count: jax.Array  # type: ignore[assignment]
    mu: optax.Updates
    nu: optax.Updates


def adam(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-6,
    *,
    state_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""The notes' Adam: bias-corrected moments, ``eps`` added outside the square root.

    With ``k`` the 0-based update count and ``g`` the gradient,

    .. math::

        m_{k+1} = b_1 m_k + (1-b_1) g,\qquad v_{k+1} = b_2 v_k + (1-b_2) |g|^2,

        u = -\eta(k)\,\frac{m_{k+1}/(1-b_1^{k+1})}{\sqrt{v_{k+1}/(1-b_2^{k+1})} + \epsilon}.

    This is ``adam_optimizer_custom`` from the notes (and numerically the same rule as
    ``optax.adam(eps=1e-6)``), written as one fused pass per leaf. Complex parameters work as
    in optax: ``|g|^2`` is real, and ``nu`` is kept in the real dtype (float32 for complex64).

    Args:
      learning_rate: a float, a JAX array, or a schedule ``count -> lr`` evaluated at the
        0-based update count.
      b1, b2: moment decays in [0, 1). May be JAX arrays (``vmap`` over them).
      eps: added to the root of the second moment, >= 0.
      state_dtype: dtype of ``mu`` and ``nu`` (floating or complex; ``nu`` takes its real
        counterpart); by default each follows its parameter.

    Returns:
      An ``optax.GradientTransformation``; ``update`` ignores ``params``.

    Example:
      >>> import jax.numpy as jnp, optax
      >>> from jaxsched.optim import adam
      >>> opt = adam(1e-3)
      >>> params = {"w": jnp.ones(3)}
      >>> state = opt.init(params)
      >>> updates, state = opt.update({"w": jnp.ones(3)}, state)
      >>> params = optax.apply_updates(params, updates)
    """
    check_learning_rate(learning_rate)
    check_beta("b1", b1)
    check_beta("b2", b2)
    check_nonnegative("eps", eps)
    check_state_dtype(state_dtype)

    def init_fn(params: optax.Params) -> AdamState:
        return AdamState(
            count=jnp.zeros([], jnp.int32),
            mu=tree_zeros(params, state_dtype),
            nu=tree_zeros(params, state_dtype, real=True),
        )

    def update_fn(
        updates: optax.Updates, state: AdamState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, AdamState]:
        del params
        sdt = scalar_dtype(state.mu, state_dtype)
        count = state.count
        t = count + 1
        lr = learning_rate_at(learning_rate, count, sdt)
        step_size = lr / one_minus_pow(b1, t, sdt)
        bc2 = one_minus_pow(b2, t, sdt)

        def first(g: jax.Array, m: jax.Array) -> jax.Array:
            cdt = compute_dtype(g.dtype, m.dtype)
            return cast_to(b1 * m.astype(cdt) + (1.0 - b1) * g.astype(cdt), m.dtype)

        mu = jax.tree.map(first, updates, state.mu)
        nu = jax.tree.map(lambda g, v: second_moment(g, v, b2), updates, state.nu)

        def step(g: jax.Array, m: jax.Array, v: jax.Array) -> jax.Array:
            cdt = compute_dtype(m.dtype, v.dtype)
            rdt = real_dtype(cdt)
            denom = jnp.sqrt(v.astype(rdt) / bc2.astype(rdt)) + eps
            u = -step_size.astype(cdt) * m.astype(cdt) / denom.astype(cdt)
            return cast_to(u, g.dtype)

        new_updates = jax.tree.map(step, updates, mu, nu)
        return new_updates, AdamState(count=increment(count), mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


__all__ = ["AdamState", "adam"]
