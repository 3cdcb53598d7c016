"""The notes' Adam (``adam_optimizer_custom``) as an optax transformation."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxsched._validate import check_nonnegative
from jaxsched.optim._base import (
    ScalarOrSchedule,
    check_beta,
    check_learning_rate,
    check_state_dtype,
    compute_dtype,
    increment,
    learning_rate_at,
    one_minus_pow,
    scalar_dtype,
    tree_zeros,
)


class AdamState(NamedTuple):
    """State of :func:`adam`: the number of updates so far and both moment estimates."""

    count: jax.Array  # int32, 0-based index of the next update
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

        m_{k+1} = b_1 m_k + (1-b_1) g,\qquad v_{k+1} = b_2 v_k + (1-b_2) g^2,

        u = -\eta(k)\,\frac{m_{k+1}/(1-b_1^{k+1})}{\sqrt{v_{k+1}/(1-b_2^{k+1})} + \epsilon}.

    This is ``adam_optimizer_custom`` from the notes (and numerically the same rule as
    ``optax.adam(eps=1e-6)``), written as one fused pass per leaf.

    Args:
      learning_rate: a float, a JAX array, or a schedule ``count -> lr`` evaluated at the
        0-based update count.
      b1, b2: moment decays in [0, 1). May be JAX arrays (``vmap`` over them).
      eps: added to the root of the second moment, >= 0.
      state_dtype: dtype of ``mu`` and ``nu``; by default each follows its parameter.

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
            nu=tree_zeros(params, state_dtype),
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

        def moment(decay, power):
            def leaf(g, m):
                cdt = compute_dtype(g.dtype, m.dtype)
                g = g.astype(cdt)
                new = decay * m.astype(cdt) + (1.0 - decay) * g**power
                return new.astype(m.dtype)

            return leaf

        mu = jax.tree.map(moment(b1, 1), updates, state.mu)
        nu = jax.tree.map(moment(b2, 2), updates, state.nu)

        def step(g, m, v):
            cdt = compute_dtype(m.dtype, v.dtype)
            m = m.astype(cdt)
            v = v.astype(cdt)
            u = -step_size.astype(cdt) * m / (jnp.sqrt(v / bc2.astype(cdt)) + eps)
            return u.astype(g.dtype)

        new_updates = jax.tree.map(step, updates, mu, nu)
        return new_updates, AdamState(count=increment(count), mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


__all__ = ["AdamState", "adam"]
