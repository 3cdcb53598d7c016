"""Anytime averages: ``ema_average`` with a decay schedule, the power EMA and levanter's
EMA-then-1-sqrt, against the constant-decay EMA, Polyak and NumPy transcriptions.

One compiled program per test module run: every optimizer below trains the same small MLP
together (``test_optim_ema.run_many``); the references are NumPy float64 over the live
iterates our own run produced (the averages do not feed back into training).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxsched.optim import (
    adam,
    ema_average,
    polyak_average,
    power_ema_decay,
    sqrt_cooldown_ema_decay,
)
from tests.test_optim_ema import STEPS, run_many

_CACHE: dict = {}


def bundle():
    if not _CACHE:
        opts = {
            "const": ema_average(adam(1e-2), 0.99),
            "const_sched": ema_average(adam(1e-2), lambda k: 0.99),
            "const_every": ema_average(adam(1e-2), 0.9, every_n_steps=3),
            "const_every_sched": ema_average(adam(1e-2), lambda k: 0.9, every_n_steps=3),
            "polyak": polyak_average(adam(1e-2)),
            "power0": ema_average(adam(1e-2), power_ema_decay(0.0)),
            "power": ema_average(adam(1e-2), power_ema_decay(3.0)),
            "sqrt": ema_average(
                adam(1e-2), sqrt_cooldown_ema_decay(switch_step=100, decay_steps=150, beta=0.9)
            ),
            "sqrt_long": ema_average(
                adam(1e-2), sqrt_cooldown_ema_decay(switch_step=100, decay_steps=400, beta=0.9)
            ),
        }
        _CACHE["out"], _CACHE["p0"] = run_many(opts, jnp.float32)
    return _CACHE["out"], _CACHE["p0"]


def test_constant_decay_schedule_reproduces_the_constant_decay_exactly():
    out, _ = bundle()
    np.testing.assert_array_equal(out["const_sched"][1], out["const"][1])
    np.testing.assert_array_equal(out["const_every_sched"][1], out["const_every"][1])
    # and the average is not the live iterate (the comparison means something)
    assert np.max(np.abs(out["const"][1] - out["const"][0])) > 1e-3


def test_power_ema_with_gamma_zero_is_polyak():
    out, _ = bundle()
    np.testing.assert_allclose(out["power0"][1], out["polyak"][1], rtol=0, atol=2e-6)


def _numpy_ema(live, p0, decays):
    """s_0 = 0, s_{k+1} = d_k s_k + (1-d_k) p_{k+1}, debiased by 1 - prod d (p0 before any)."""
    s, prod, out = np.zeros_like(p0), 1.0, []
    for k in range(len(live)):
        s = decays[k] * s + (1 - decays[k]) * live[k]
        prod *= decays[k]
        out.append(s / (1 - prod))
    return np.stack(out)


def test_power_ema_matches_its_formula():
    out, p0 = bundle()
    live, ev = out["power"]
    k = np.arange(STEPS, dtype=np.float64)
    decays = (1 - 1 / (k + 1)) ** 4.0
    np.testing.assert_allclose(ev, _numpy_ema(live, p0, decays), rtol=0, atol=2e-5)


def test_levanter_sqrt_cooldown_matches_levanter_update():
    """Levanter's update: m <- (1-alpha) m + alpha p, m_0 = params, alpha as documented."""
    out, p0 = bundle()
    for name, decay_steps in (("sqrt", 150), ("sqrt_long", 400)):
        live, ev = out[name]
        m, ref = p0.copy(), []
        for k in range(STEPS):
            frac = min(max((k - 100) / decay_steps, 0.0), 1.0)
            alpha = 0.1 if k < 100 else max(1 - np.sqrt(frac), 1e-5)
            m = (1 - alpha) * m + alpha * live[k]
            ref.append(m)
        ref = np.stack(ref)
        # ours debiases the EMA; the difference is beta**k of the start: gone by the switch
        np.testing.assert_allclose(ev[100:], ref[100:], rtol=0, atol=1e-5)
        assert np.max(np.abs(ev[:5] - ref[:5])) > 1e-3
    # it needs its horizon: two cooldown lengths give two different averages at step 250
    assert np.max(np.abs(out["sqrt"][1][249] - out["sqrt_long"][1][249])) > 1e-3


def test_power_ema_time_constant_grows_with_the_step_and_constant_does_not():
    """On the iterates p_k = k the average lags by a fixed *fraction* of k for the power EMA
    (lag / k -> 1/(gamma+2)), and by a fixed number of steps (d/(1-d)) for a constant decay:
    the power EMA serves every horizon with the same relative window."""
    n = 4000
    grads = -jnp.ones([n])  # sgd(1) on these makes p_k = k

    def lags(decay):
        opt = ema_average(optax.sgd(1.0), decay)

        def body(carry, g):
            p, s = carry
            u, s = opt.update(g, s, p)
            p = optax.apply_updates(p, u)
            return (p, s), p - s.average

        p = jnp.zeros([])
        return jax.lax.scan(body, (p, opt.init(p)), grads)[1]

    power, const = jax.jit(lambda: (lags(power_ema_decay(3.0)), lags(0.99)))()
    power, const = np.asarray(power), np.asarray(const)
    for k in (400, 4000):
        assert power[k - 1] / k == pytest.approx(1 / 5, rel=0.01)
    for k in (2000, 4000):  # once the debiasing has worn off (0.99**2000 ~ 2e-9)
        assert const[k - 1] == pytest.approx(0.99 / 0.01, rel=0.01)
    # doubling the step doubles the power EMA's lag and leaves the constant one's
    assert power[3999] / power[1999] == pytest.approx(2.0, rel=0.01)
    assert const[3999] / const[1999] == pytest.approx(1.0, rel=0.01)


def test_decay_schedules_vmap_over_their_hyperparameters_and_validate():
    gammas = jnp.asarray([0.0, 1.0, 6.94])
    d = jax.jit(jax.vmap(lambda g: power_ema_decay(g)(jnp.asarray(9))))(gammas)
    np.testing.assert_allclose(np.asarray(d), 0.9 ** (np.asarray(gammas) + 1), rtol=1e-6)
    with pytest.raises(ValueError, match="gamma"):
        power_ema_decay(-1.0)
    with pytest.raises(ValueError, match="decay_steps"):
        sqrt_cooldown_ema_decay(10, 0)
    with pytest.raises(ValueError, match="warmup"):
        ema_average(adam(1e-3), power_ema_decay(), warmup=True)
