"""ema_average / polyak_average options against independent NumPy transcriptions.

The averages do not feed back into training, so each reference is computed in NumPy float64
from the live parameters our own run produced: the notes' debiased EMA over every N-th
iterate, timm's ModelEmaV3 decay warmup, and the float32 average of bf16 iterates.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from helpers import scan_optimizer

from jaxsched.optim import adam, ema_average, polyak_average

# These tests compile many small programs and run them for milliseconds: compile with LLVM's
# cheap pipeline (same semantics, no fast-math either way; about a third less compile time).
jit = jax.jit  # the cheap compile pipeline comes from the root conftest


STEPS = 300


def make_problem(dtype):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(3), 3)
    X = jax.random.normal(k1, (48, 3), jnp.float32)
    Y = jnp.sin(X @ jnp.array([1.0, -2.0, 0.5]))[:, None]
    params = {"w1": 0.5 * jax.random.normal(k2, (3, 8)), "w2": 0.5 * jax.random.normal(k3, (8, 1))}
    params = jax.tree.map(lambda p: p.astype(dtype), params)
    X, Y = X.astype(dtype), Y.astype(dtype)

    def loss(p):
        return jnp.mean((jnp.tanh(X @ p["w1"]) @ p["w2"] - Y).astype(jnp.float32) ** 2)

    return params, jax.grad(loss)


def run_many(opts: dict, dtype) -> dict:
    """{name: (live, eval)} per step as float64 (STEPS, n) arrays; one compiled program."""
    params, grad = make_problem(dtype)

    def one(opt):
        return scan_optimizer(opt, params, grad, STEPS)[2]

    outs = jit(lambda: {n: one(o) for n, o in opts.items()})()

    def flat(t):
        return np.concatenate(
            [np.asarray(t[k], np.float64).reshape(STEPS, -1) for k in ("w1", "w2")], axis=1
        )

    p0 = np.concatenate([np.asarray(params[k], np.float64).ravel() for k in ("w1", "w2")])
    return {n: (flat(live), flat(ev)) for n, (live, ev) in outs.items()}, p0


def ref_ema(live, p0, decay_at, every=1):
    """Debiased EMA of live[t-1] for t = every, 2*every, ...; decay_at(t) is the decay used."""
    s, prod, out, hat = np.zeros_like(p0), 1.0, [], p0
    for t in range(1, STEPS + 1):
        if t % every == 0:
            d = decay_at(t)
            s = d * s + (1 - d) * live[t - 1]
            prod *= d
            hat = s / (1 - prod)
        out.append(hat)
    return np.array(out)


def timm_decay(t, decay, gamma=1.0, power=2 / 3, min_decay=0.0):
    """timm ModelEmaV3.get_decay(step=t) with update_after_step=0 and use_warmup=True."""
    step = max(0, t - 1)
    if step <= 0:
        return 0.0
    d = 1 - (1 + step / gamma) ** -power
    return max(min(d, decay), min_decay)


def timm_ema(live, p0, **kw):
    """timm's loop: ema starts as a copy of the model, then lerps after every update."""
    ema, out = p0.copy(), []
    for t in range(1, STEPS + 1):
        d = timm_decay(t, **kw)
        ema = d * ema + (1 - d) * live[t - 1]
        out.append(ema)
    return np.array(out)


def _err(a, b) -> float:
    return float(np.max(np.abs(a - b)))


def test_ema_options_match_transcriptions_float64():
    opts = {
        "every3": ema_average(adam(0.01), 0.95, every_n_steps=3),
        "every1": ema_average(adam(0.01), 0.95),
        "warmup": ema_average(adam(0.01), 0.999, warmup=True),
        "warmup_gamma": ema_average(
            adam(0.01), 0.99, warmup=True, warmup_gamma=5.0, warmup_power=0.75, min_decay=0.5
        ),
        "warmup_every4": ema_average(adam(0.01), 0.99, warmup=True, every_n_steps=4),
        "polyak": polyak_average(adam(0.01)),
    }
    with jax.enable_x64(True):
        out, p0 = run_many(opts, jnp.float64)
    live = out["every1"][0]
    for name in opts:  # averaging never changes the trajectory
        assert _err(out[name][0], live) == 0.0, name

    assert _err(out["every1"][1], ref_ema(live, p0, lambda t: 0.95)) < 1e-12
    every3 = ref_ema(live, p0, lambda t: 0.95, every=3)
    assert _err(out["every3"][1], every3) < 1e-12
    # between averaged iterates the average holds still, and it differs from every-step EMA
    np.testing.assert_array_equal(out["every3"][1][3], out["every3"][1][4])
    assert _err(every3, out["every1"][1]) > 1e-4

    assert _err(out["warmup"][1], timm_ema(live, p0, decay=0.999)) < 1e-12
    assert _err(out["warmup"][1], out["every1"][1]) > 1e-4
    ref = timm_ema(live, p0, decay=0.99, gamma=5.0, power=0.75, min_decay=0.5)
    assert _err(out["warmup_gamma"][1], ref) < 1e-12
    # every 4 with warmup: the first averaged iterate already has a nonzero decay, so the
    # product of decays debiases it (timm itself has no every-N)
    ref = ref_ema(live, p0, lambda t: timm_decay(t, 0.99), every=4)
    assert _err(out["warmup_every4"][1], ref) < 1e-12
    polyak = np.cumsum(live, axis=0) / np.arange(1, STEPS + 1)[:, None]
    assert _err(out["polyak"][1], polyak) < 1e-12


def test_float32_average_of_bf16_params():
    """state_dtype=float32 averages the bf16 iterates exactly; a bf16 average cannot."""
    opts = {
        "ema_f32": ema_average(adam(0.01), 0.999, state_dtype=jnp.float32),
        "ema_bf16": ema_average(adam(0.01), 0.999),
        "polyak_f32": polyak_average(adam(0.01), state_dtype=jnp.float32),
        "polyak_bf16": polyak_average(adam(0.01)),
    }
    out, p0 = run_many(opts, jnp.bfloat16)
    live = out["ema_f32"][0]  # the bf16 iterates the user holds, exactly
    ema = ref_ema(live, p0, lambda t: 0.999)
    polyak = np.cumsum(live, axis=0) / np.arange(1, STEPS + 1)[:, None]
    # eval_params returns the params' dtype (bf16): compare up to one bf16 rounding
    scale = np.max(np.abs(live))
    assert _err(out["ema_f32"][1], ema) < 2**-8 * scale
    assert _err(out["polyak_f32"][1], polyak) < 2**-8 * scale
    assert _err(out["ema_bf16"][1], ema) > 4 * _err(out["ema_f32"][1], ema)
    assert _err(out["polyak_bf16"][1], polyak) > 2 * _err(out["polyak_f32"][1], polyak)


def test_float32_state_holds_the_exact_average():
    params, grad = make_problem(jnp.bfloat16)
    opt = ema_average(adam(0.01), 0.99, state_dtype=jnp.float32)

    def body(carry, _):
        p, s = carry
        u, s = opt.update(grad(p), s, p)
        p = optax.apply_updates(p, u)
        return (p, s), p

    (_, state), live = jit(
        lambda: jax.lax.scan(body, (params, opt.init(params)), None, length=100)
    )()
    assert state.average["w1"].dtype == jnp.float32
    flat = np.asarray(live["w1"], np.float64).reshape(100, -1)
    s, hat = np.zeros(flat.shape[1]), None
    for t in range(1, 101):
        s = 0.99 * s + 0.01 * flat[t - 1]
        hat = s / (1 - 0.99**t)
    np.testing.assert_allclose(
        np.asarray(state.average["w1"], np.float64).ravel(), hat, rtol=1e-5, atol=1e-6
    )
