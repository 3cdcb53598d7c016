"""Complex parameters and complex ``state_dtype`` in the schedule-free family, the averaging
wrappers and Adam, against optax's own numbers (generated here from the installed optax).

optax's schedule-free tests run every pair of parameter and state dtypes among bfloat16,
float32, complex64 and the default, except complex parameters with a real state; the second
moment of a complex gradient is ``|g|^2``, a real number.
"""

from __future__ import annotations

import itertools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import scan_optimizer

from jaxsched.optim import (
    adam,
    ema_average,
    eval_params,
    polyak_average,
    schedule_free,
    schedule_free_adam,
    schedule_free_adamw,
    schedule_free_radam,
    schedule_free_sgd,
)

TARGET = jnp.array([1.0 + 2.0j, -1.0j, 0.5, 2.0 - 1.0j], jnp.complex64)
START = jnp.array([-1.0 + 0.5j, 3.0, 1.0j, 0.0], jnp.complex64)


def complex_grad(p, target=TARGET):
    """Steepest descent direction of ``sum |p - target|^2`` (the conjugate of JAX's grad)."""
    return jnp.conj(jax.grad(lambda q: jnp.sum(jnp.abs(q - target) ** 2))(p))


def real_grad(p):
    return jax.grad(lambda q: jnp.sum((q.astype(jnp.float32) - 0.5) ** 2))(p).astype(p.dtype)


def trajectory(opt, params, grad, steps=30):
    """Per step: (params, eval_params); and the final state."""
    p, s, trace = scan_optimizer(
        opt, params, grad, steps, record=lambda p, s: (p, eval_params(s, p))
    )
    return trace, s


def run_many(opts, params, grad, steps=30):
    return jax.jit(lambda: {n: trajectory(o, params, grad, steps) for n, o in opts.items()})()


# ----------------------------------------------------------------------------- dtypes

DTYPES = ("bfloat16", "float32", "complex64", None)
FAMILY = {
    "schedule_free(sgd)": lambda sd: schedule_free(optax.sgd(1.0), 1.0, state_dtype=sd),
    "schedule_free_sgd": lambda sd: schedule_free_sgd(state_dtype=sd),
    "schedule_free_adamw": lambda sd: schedule_free_adamw(weight_decay=0.1, state_dtype=sd),
    "schedule_free_adam": lambda sd: schedule_free_adam(1e-2, average="ema", state_dtype=sd),
    "schedule_free_radam": lambda sd: schedule_free_radam(state_dtype=sd),
    "polyak_average": lambda sd: polyak_average(optax.sgd(0.1), state_dtype=sd),
    "ema_average": lambda sd: ema_average(optax.sgd(0.1), 0.9, state_dtype=sd),
    "adam": lambda sd: adam(0.1, state_dtype=sd),
}


@pytest.mark.parametrize(
    ("params_dtype", "state_dtype"), list(itertools.product(DTYPES, DTYPES))
)
def test_explicit_dtypes(params_dtype, state_dtype):
    """optax's ``test_explicit_dtype`` cases: the state buffers take ``state_dtype`` (the
    parameters' by default), one update runs and keeps the parameters' dtype. A real state
    for complex parameters is refused (optax skips that case)."""
    pdt = jnp.dtype(params_dtype or jnp.float32)
    params = {"w": jnp.array([0.0, 1.0], pdt), "b": jnp.array([2.0], pdt)}
    complex_params = jnp.issubdtype(pdt, jnp.complexfloating)
    real_state = state_dtype is not None and not jnp.issubdtype(state_dtype, jnp.complexfloating)
    expected = jnp.dtype(state_dtype) if state_dtype is not None else pdt
    grads = jax.tree.map(
        (lambda p: complex_grad(p, 0.5 + 0.5j)) if complex_params else real_grad, params
    )
    opts = {name: make(state_dtype) for name, make in FAMILY.items()}
    if complex_params and real_state:
        for opt in opts.values():
            with pytest.raises(ValueError, match=f"state_dtype={state_dtype!r}"):
                opt.init(params)
        return
    states = {name: opt.init(params) for name, opt in opts.items()}
    for name, state in states.items():
        buffers = getattr(state, "z", None) or getattr(state, "average", None) or state.mu
        assert all(leaf.dtype == expected for leaf in jax.tree.leaves(buffers)), name
        for leaf in jax.tree.leaves(getattr(state, "nu", None)):  # |g|^2 is real
            assert leaf.dtype == jnp.finfo(expected).dtype, name

    def one_step(states):
        out = {}
        for name, opt in opts.items():
            u, state = opt.update(grads, states[name], params)
            p = optax.apply_updates(params, u)
            out[name] = (u, p, eval_params(state, p))
        return out

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no complex-to-real cast warning on the way
        out = jax.jit(one_step)(states)
    for name, trees in out.items():
        for tree in trees:
            assert all(leaf.dtype == pdt for leaf in jax.tree.leaves(tree)), name
            assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(tree)), name


# ----------------------------------------------------------------------------- optax's numbers


def assert_close(actual, expected, rtol=2e-5, what=""):
    """Max error relative to the largest magnitude (the golden tests' measure, float32)."""
    a, b = np.asarray(actual), np.asarray(expected)
    err = np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b))))
    assert err < rtol, (what, err)


def test_complex_parameters_follow_optax_contrib():
    """Complex parameters: y and eval_params at every step as optax.contrib's schedule-free
    (no warmup, where the two agree), and the second moment is optax's ``|g|^2``, kept real."""
    ours = {
        "adamw": schedule_free_adamw(0.1),
        "adamw_wd": schedule_free_adamw(0.1, weight_decay=0.1, b1=0.8),
        "sgd": schedule_free_sgd(0.1),
        "wrap_adam": schedule_free(optax.adam(0.1, b1=0.0), 0.1),
        "adamw_stored": schedule_free_adamw(0.1, store_x=True),
    }
    peers = {
        "adamw": optax.contrib.schedule_free_adamw(0.1),
        "adamw_wd": optax.contrib.schedule_free_adamw(0.1, weight_decay=0.1, b1=0.8),
        "sgd": optax.contrib.schedule_free_sgd(0.1),
        "wrap_adam": optax.contrib.schedule_free(optax.adam(0.1, b1=0.0), 0.1),
        "adamw_stored": optax.contrib.schedule_free_adamw(0.1),
    }
    out = run_many({**ours, **{f"optax/{n}": o for n, o in peers.items()}}, START, complex_grad)
    for name in ours:
        (p, e), (p_ref, e_ref) = out[name][0], out[f"optax/{name}"][0]
        assert p.dtype == e.dtype == jnp.complex64
        assert_close(p, p_ref, what=(name, "y"))
        assert_close(e, e_ref, what=(name, "x"))
        assert np.max(np.abs(e[-1] - p[-1])) > 1e-2, name  # x is not y
        assert np.max(np.abs(np.imag(p[-1]))) > 0.1, name  # the imaginary parts moved
    # the second moments, ours real and optax's complex with a zero imaginary part
    nu, nu_ref = out["adamw"][1].nu, out["optax/adamw"][1].base_optimizer_state[0].nu
    assert nu.dtype == jnp.float32 and nu_ref.dtype == jnp.complex64
    assert np.max(np.abs(np.imag(nu_ref))) == 0.0
    assert_close(nu, np.real(nu_ref), what="nu")
    # converging: the average approaches the target
    assert np.max(np.abs(out["adamw"][0][1][-1] - TARGET)) < np.max(np.abs(START - TARGET))


def test_adam_on_complex_parameters_is_optax_adam():
    out = run_many({"ours": adam(0.1), "optax": optax.adam(0.1, eps=1e-6)}, START, complex_grad)
    assert_close(out["ours"][0][0], out["optax"][0][0], what="adam")
    assert out["ours"][1].nu.dtype == jnp.float32


def test_complex_state_on_real_parameters_is_the_real_run():
    """A complex64 state on float32 parameters (optax accepts it too): real gradients never
    create an imaginary part, so the run is the float32-state run."""
    params = jnp.array([0.3, -2.0, 4.0, 1.0], jnp.float32)
    opts = {}
    for name, make in FAMILY.items():
        opts[f"{name}/c64"] = make(jnp.complex64)
        opts[f"{name}/f32"] = make(jnp.float32)
    out = run_many(opts, params, real_grad)
    for name in FAMILY:
        ((p, e), s), ((p32, e32), _) = out[f"{name}/c64"], out[f"{name}/f32"]
        assert p.dtype == e.dtype == jnp.float32
        np.testing.assert_allclose(p, p32, rtol=1e-6, atol=1e-7, err_msg=name)
        np.testing.assert_allclose(e, e32, rtol=1e-6, atol=1e-7, err_msg=name)
        complex_leaves = [x for x in jax.tree.leaves(s) if jnp.iscomplexobj(x)]
        assert complex_leaves, name
        assert all(float(jnp.max(jnp.abs(jnp.imag(x)))) == 0.0 for x in complex_leaves), name


def test_averaging_complex_parameters():
    """polyak_average / ema_average of complex iterates: the averages of optax.sgd's own
    trajectory, computed here in complex128."""
    steps, d = 30, 0.9
    out = run_many(
        {
            "sgd": optax.sgd(0.1),
            "polyak": polyak_average(optax.sgd(0.1)),
            "ema": ema_average(optax.sgd(0.1), d),
        },
        START,
        complex_grad,
        steps,
    )
    iterates = np.asarray(out["sgd"][0][0], np.complex128)  # p_1 .. p_steps
    k = np.arange(1, steps + 1)[:, None]
    polyak = np.cumsum(iterates, axis=0) / k
    ema = np.zeros_like(iterates)
    s = np.zeros(iterates.shape[1], np.complex128)
    for i, p in enumerate(iterates):
        s = d * s + (1 - d) * p
        ema[i] = s / (1 - d ** (i + 1))
    assert_close(out["polyak"][0][1], polyak, what="polyak")
    assert_close(out["ema"][0][1], ema, what="ema")
    assert out["polyak"][0][1].dtype == jnp.complex64
    assert np.max(np.abs(np.imag(polyak[-1]))) > 0.1
