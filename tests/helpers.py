"""Test harness shared by several test modules.

:func:`scan_optimizer` runs an optimizer inside one ``lax.scan``: XLA compiles dominate the
optimizer tests' time, so each test traces every optimizer it compares into one program (call it
for each inside one ``jax.jit``). :func:`schedule_free_x` is the schedule-free average written
out from a state. :func:`sigkill` ends a child process as a crash would.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
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


def schedule_free_x(state: Any, params: Any) -> Any:
    """A schedule-free state's average, written out independently of the library: the stored
    ``x`` where a leaf keeps it, else ``(y - (1-b1) z) / b1`` from ``params`` = y, in float64
    NumPy (complex128 for complex leaves)."""
    b1 = float(state.b1)

    def leaf(z, x, y):
        if x is not None:
            return np.asarray(x)
        y, z = np.asarray(y), np.asarray(z)
        dt = np.complex128 if np.iscomplexobj(y) or np.iscomplexobj(z) else np.float64
        return (y.astype(dt) - (1 - b1) * z.astype(dt)) / b1

    return jax.tree.map(leaf, state.z, state.x, params)


def sigkill(child: subprocess.Popen) -> None:
    """SIGKILL ``child`` (no cleanup code runs in it) and reap it."""
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)


def reap(child: subprocess.Popen) -> None:
    """Kill ``child`` if it still runs: a failed test leaves no process behind."""
    if child.poll() is None:
        child.kill()
        child.wait()
