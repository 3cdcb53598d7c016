"""Test harness shared by the optimizer tests: run an optimizer inside one ``lax.scan``.

XLA compiles dominate these tests' time, so each test traces every optimizer it compares into
one program (call :func:`scan_optimizer` for each inside one ``jax.jit``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax

from jaxsched.optim import eval_params


def scan_optimizer(
    opt: optax.GradientTransformation,
    params: Any,
    grad: Callable[[Any], Any],
    steps: int,
    *,
    record: Callable[..., Any] | None = None,
    transform: Callable[[Any, Any], Any] | None = None,
    has_aux: bool = False,
) -> tuple[Any, Any, Any]:
    """``steps`` updates of ``opt`` from ``params``; returns ``(params, state, trace)``.

    ``grad(p)`` gives the gradient tree, or ``(aux, gradient)`` with ``has_aux`` (e.g. a loss
    from ``jax.value_and_grad``); ``transform(g, p)`` rewrites the gradient first. ``record``
    maps the step's new ``(params, state[, aux])`` to what is kept per step (stacked along a
    leading axis of ``steps``); by default ``(params, eval_params(state, params))``.
    """
    if record is None:
        def record(p, s, *aux):
            return p, eval_params(s, p)

    def body(carry, _):
        p, s = carry
        out = grad(p)
        aux, g = out if has_aux else (None, out)
        if transform is not None:
            g = transform(g, p)
        u, s = opt.update(g, s, p)
        p = optax.apply_updates(p, u)
        return (p, s), (record(p, s, aux) if has_aux else record(p, s))

    (p, s), trace = jax.lax.scan(body, (params, opt.init(params)), None, length=steps)
    return p, s, trace
