"""jaxsched.optim against the notes' optimizer code (seed 003), transcribed independently here.

The notes' ``adam_optimizer_custom``, ``adam_optimizer_averaging`` and
``adam_optimizer_schedulefree`` are re-written below as plain NumPy float64 loops over a flat
parameter vector, and run on a small nonlinear problem (a 2-layer tanh MLP regression) for
300 steps. Our optax transformations must reproduce both the live parameters and the
evaluated (averaged) parameters: to ~1e-10 when run in float64, and to float32 accuracy when
run in float32.

The only intended difference is the schedule-free EMA debiasing at step 0 (see
``schedule_free_adam``): the notes divide by ``1 - d**(step+1)``, we by ``1 - d**step`` (and
use ``params`` at step 0). ``test_notes_schedule_free_ema_off_by_one`` pins that difference.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from helpers import scan_optimizer

from jaxsched.optim import (
    adam,
    ema_average,
    polyak_average,
    schedule_free_adam,
)

# These tests compile many small programs and run them for milliseconds: compile with LLVM's
# cheap pipeline (same semantics, no fast-math either way; about a third less compile time).
jit = jax.jit  # the cheap compile pipeline comes from the root conftest


STEPS = 300
LR = 0.01
NAMES = ["W1", "c1", "W2", "c2"]


# ----------------------------------------------------------------------------- the problem


def data_and_init():
    """Fixed data and initial parameters, NumPy float64."""
    rng = np.random.default_rng(1)
    n, d, h = 64, 4, 8
    X = rng.normal(size=(n, d))
    a = rng.normal(size=(d,))
    Y = (np.sin(X @ a) + 0.1 * rng.normal(size=n))[:, None]
    params = {
        "W1": rng.normal(size=(d, h)) / math.sqrt(d),
        "c1": np.zeros(h),
        "W2": rng.normal(size=(h, 1)) / math.sqrt(h),
        "c2": np.zeros(1),
    }
    return X, Y, params


def problem(dtype):
    """Initial params (dict) and the loss gradient in JAX, in ``dtype``."""
    X, Y, params = data_and_init()
    X, Y = jnp.asarray(X, dtype), jnp.asarray(Y, dtype)
    params = {k: jnp.asarray(v, dtype) for k, v in params.items()}

    def loss(p):
        pred = jnp.tanh(X @ p["W1"] + p["c1"]) @ p["W2"] + p["c2"]
        return jnp.mean((pred - Y) ** 2)

    return params, jax.grad(loss)


def flat(p) -> np.ndarray:
    return np.concatenate([np.asarray(p[k], np.float64).ravel() for k in NAMES])


def run_ours(opts: dict, dtype) -> dict:
    """{name: (live params, eval params)} after each of STEPS updates, (STEPS, n) float64.

    All optimizers run in one compiled program: compiling dominates the test time.
    """
    params, grad = problem(dtype)

    def trajectory(opt):
        return scan_optimizer(opt, params, grad, STEPS)[2]

    outs = jit(lambda: {n: trajectory(o) for n, o in opts.items()})()

    def stack(t):
        return np.concatenate(
            [np.asarray(t[k], np.float64).reshape(STEPS, -1) for k in NAMES], axis=1
        )

    return {n: (stack(ps), stack(es)) for n, (ps, es) in outs.items()}


# ----------------------------------------------------------------------------- the notes


def notes_adam(grad_np, p0, lr_schedule, avg_type=None, max_steps=STEPS):
    """``adam_optimizer_custom`` / ``adam_optimizer_averaging``, NumPy float64."""
    b1, b2 = 0.9, 0.999
    params = p0.copy()
    momentum, variance = np.zeros_like(p0), np.zeros_like(p0)
    smooth = p0.copy() if avg_type == "polyak" else np.zeros_like(p0)
    live, evals = [], []
    for step in range(max_steps):
        grads = grad_np(params)
        momentum = b1 * momentum + (1 - b1) * grads
        variance = b2 * variance + (1 - b2) * grads**2
        m_hat = momentum / (1 - b1 ** (step + 1))
        v_hat = variance / (1 - b2 ** (step + 1))
        update = m_hat / (np.sqrt(v_hat) + 1e-6)
        params = params - lr_schedule(step, max_steps) * update
        if avg_type == "polyak":
            c = 1 / (step + 1)
            smooth = smooth * (1 - c) + params * c
            hat = smooth
        elif avg_type is not None:
            ema_rate = 0.9999 if avg_type == "exponential-0.9999" else 0.999
            smooth = smooth * ema_rate + params * (1 - ema_rate)
            hat = smooth / (1 - ema_rate ** (step + 1))
        else:
            hat = params
        live.append(params)
        evals.append(hat)
    return np.array(live), np.array(evals)


def notes_schedule_free(grad_np, p0, lr, avg_type, ema_rate=0.9999, notes_debias=False):
    """``adam_optimizer_schedulefree``, NumPy float64.

    Returns the gradient points ``y`` (the notes' ``combo_params``) for the *next* step and the
    smoothed parameters after each step. ``notes_debias=True`` keeps the notes' extra power in
    the EMA debiasing; by default it is our documented correction (``1 - d**step`` and
    ``params`` at step 0).
    """
    b1, b2 = 0.9, 0.999
    params = p0.copy()  # the notes' live parameters: z
    variance = np.zeros_like(p0)
    smooth = p0.copy() if avg_type == "polyak" else np.zeros_like(p0)

    def smooth_hat(step):
        if avg_type == "polyak":
            return smooth
        if notes_debias:
            return smooth / (1 - ema_rate ** (step + 1))
        return p0 if step == 0 else smooth / (1 - ema_rate**step)

    ys, xs, first_combo = [], [], None
    for step in range(STEPS):
        combo = (1 - b1) * params + b1 * smooth_hat(step)
        if first_combo is None:
            first_combo = combo
        grads = grad_np(combo)
        variance = b2 * variance + (1 - b2) * grads**2
        v_hat = variance / (1 - b2 ** (step + 1))
        params = params - lr * grads / (np.sqrt(v_hat) + 1e-6)
        if avg_type == "polyak":
            c = 1 / (step + 1)
            smooth = smooth * (1 - c) + params * c
        else:
            smooth = smooth * ema_rate + params * (1 - ema_rate)
        x = smooth_hat(step + 1)
        ys.append((1 - b1) * params + b1 * x)
        xs.append(x)
    return np.array(ys), np.array(xs), first_combo


# ----------------------------------------------------------------------------- tests


def numpy_grad():
    """The MLP's loss gradient by hand in NumPy float64, as a function of the flat vector."""
    X, Y, params = data_and_init()
    (n, d), h = X.shape, params["c1"].size
    cuts = np.cumsum([d * h, h, h])

    def grad(v):
        w1, c1, w2, c2 = np.split(v, cuts)
        w1, w2 = w1.reshape(d, h), w2.reshape(h, 1)
        hid = np.tanh(X @ w1 + c1)
        dpred = 2.0 * (hid @ w2 + c2 - Y) / n
        dhid = (dpred @ w2.T) * (1.0 - hid**2)
        return np.concatenate(
            [(X.T @ dhid).ravel(), dhid.sum(0), (hid.T @ dpred).ravel(), dpred.sum(0)]
        )

    return grad


P0 = flat(data_and_init()[2])


def _rel_err(a, b) -> float:
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


_CACHE: dict = {}


def ours(name, dtype):
    """Our trajectories for every case (one compile per dtype, cached)."""
    key = jnp.dtype(dtype).name
    if key not in _CACHE:
        opts = {n: make() for n, (make, _) in CASES.items()}
        opts.update({n: schedule_free_adam(LR, **kw) for n, kw in SF_CASES.items()})
        if dtype == jnp.float64:
            with jax.enable_x64(True):
                _CACHE[key] = run_ours(opts, jnp.float64)
        else:
            _CACHE[key] = run_ours(opts, jnp.float32)
    return _CACHE[key][name]


# float64 runs agree with the transcription to rounding (measured 5e-16 .. 3e-13), float32 runs
# to float32 accuracy (measured ~1e-6 relative after 300 steps).
TOL64, TOL32 = 1e-11, 1e-5
ERRORS: dict[str, tuple[float, float]] = {}


def _linear_decay(k):
    # the step in the widest float available, so that a float64 run sees a float64 lr
    return LR * (1 - k.astype(jax.dtypes.canonicalize_dtype(float)) / STEPS)


CASES = {
    "adam": (lambda: adam(LR), None),
    "adam_linear_decay": (lambda: adam(_linear_decay), None),
    "polyak": (lambda: polyak_average(adam(LR)), "polyak"),
    "ema_0.999": (lambda: ema_average(adam(LR), 0.999), "exponential-0.999"),
    "ema_0.9999": (lambda: ema_average(adam(LR), 0.9999), "exponential-0.9999"),
}


def _check(name, ours64, ours32, ref_live, ref_eval):
    errs = (
        max(_rel_err(ours64[0], ref_live), _rel_err(ours64[1], ref_eval)),
        max(_rel_err(ours32[0], ref_live), _rel_err(ours32[1], ref_eval)),
    )
    ERRORS[name] = errs
    assert errs[0] < TOL64, (name, errs)
    assert errs[1] < TOL32, (name, errs)


def test_adam_family_matches_notes():
    # one test for all cases: every case shares the two compiled programs (f64, f32)
    for name, (_, avg) in CASES.items():
        if name == "adam_linear_decay":
            schedule = lambda step, max_steps: LR * (1 - step / max_steps)  # noqa: E731
        else:
            schedule = lambda step, max_steps: LR  # noqa: E731
        live, evals = notes_adam(numpy_grad(), P0, schedule, avg)
        _check(name, ours(name, jnp.float64), ours(name, jnp.float32), live, evals)
        if avg is not None:  # the average really differs from the live parameters
            assert np.max(np.abs(evals[-1] - live[-1])) > 1e-3, name


SF_CASES = {
    "sf_polyak": dict(average="polyak"),
    "sf_ema_0.9999": dict(average="ema", ema_decay=0.9999),
    "sf_ema_0.99": dict(average="ema", ema_decay=0.99),
}


def test_schedule_free_adam_matches_notes():
    for name, kw in SF_CASES.items():
        ys, xs, _ = notes_schedule_free(
            numpy_grad(), P0, LR, kw["average"], kw.get("ema_decay", 0.9999)
        )
        _check(name, ours(name, jnp.float64), ours(name, jnp.float32), ys, xs)
        assert np.max(np.abs(xs[-1] - ys[-1])) > 1e-3, name


def test_notes_schedule_free_ema_off_by_one():
    """The notes' EMA debiasing takes the first gradient at 0.1 * params; ours at params."""
    grad_np = numpy_grad()
    ys_notes, _, notes_first = notes_schedule_free(grad_np, P0, LR, "ema", notes_debias=True)
    ys_fixed, _, fixed_first = notes_schedule_free(grad_np, P0, LR, "ema")
    np.testing.assert_allclose(notes_first, 0.1 * P0, rtol=1e-12)
    np.testing.assert_allclose(fixed_first, P0, rtol=1e-12)
    with jax.enable_x64(True):  # schedule_free_adam(LR, average="ema"), ema_decay=0.9999
        ours_y, _ = run_ours({"sf": schedule_free_adam(LR, average="ema")}, jnp.float64)["sf"]
    assert _rel_err(ours_y, ys_fixed) < TOL64
    assert _rel_err(ours_y, ys_notes) > 1e-3
