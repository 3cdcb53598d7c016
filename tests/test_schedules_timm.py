"""timm's scheduler features: ``k_decay`` (cosine_decay, cosine_restarts), ``cycle_decay`` of the
peak (``peak_decay_mode="peak"``) with ``cycle_limit`` (``max_cycles``), and learning-rate noise
keyed by the step (``lr_noise``).

The references are NumPy transcriptions of timm's ``CosineLRScheduler._get_lr`` and
``Scheduler._add_noise`` (timm/scheduler/cosine_lr.py and scheduler.py, timm 1.0): timm is not
a dependency of this project, and its formula is closed-form Python.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsched.schedules import cosine_decay, cosine_restarts, from_spec, lr_noise


def timm_cosine(t, lr, t_initial, lr_min=0.0, cycle_mul=1.0, cycle_decay=1.0, cycle_limit=1,
                k_decay=1.0):  # fmt: skip
    """timm CosineLRScheduler._get_lr without warmup, transcribed."""
    if cycle_mul != 1:
        i = math.floor(math.log(1 - t / t_initial * (1 - cycle_mul), cycle_mul))
        t_i = cycle_mul**i * t_initial
        t_curr = t - (1 - cycle_mul**i) / (1 - cycle_mul) * t_initial
    else:
        i = t // t_initial
        t_i = t_initial
        t_curr = t - (t_initial * i)
    lr_max = lr * cycle_decay**i
    if i < cycle_limit:
        k = k_decay
        return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * t_curr**k / t_i**k))
    return lr_min


STEPS = np.arange(0, 400)


@pytest.mark.parametrize("k_decay", [0.5, 1.0, 2.0])
def test_cosine_decay_k_decay_matches_timm(k_decay):
    ours = np.asarray(cosine_decay(1e-3, 100, end_value=1e-5, k_decay=k_decay)(STEPS[:150]))
    ref = [timm_cosine(int(t), 1e-3, 100, lr_min=1e-5, k_decay=k_decay) for t in STEPS[:150]]
    np.testing.assert_allclose(ours, ref, rtol=2e-5, atol=1e-10)


def test_k_decay_changes_the_curve():
    base = cosine_decay(1.0, 100)(50)
    assert float(cosine_decay(1.0, 100, k_decay=2.0)(50)) == pytest.approx(
        0.5 * (1 + math.cos(math.pi / 4)), rel=1e-6
    )
    assert float(base) == pytest.approx(0.5, abs=1e-7)


@pytest.mark.parametrize(
    "cycle_mul, cycle_decay, cycle_limit, k_decay",
    [(1.0, 0.5, 3, 1.0), (2.0, 0.7, 3, 1.5), (1.5, 0.5, 4, 0.8), (1.0, 1.0, 1, 1.0)],
)
def test_cosine_restarts_in_timm_mode_matches_timm(cycle_mul, cycle_decay, cycle_limit, k_decay):
    lr, lr_min, t0 = 1e-3, 2e-4, 60
    sched = cosine_restarts(
        lr,
        period=t0,
        period_mult=cycle_mul,
        peak_decay=cycle_decay,
        end_value=lr_min,
        max_cycles=cycle_limit,
        k_decay=k_decay,
        peak_decay_mode="peak",
    )
    ours = np.asarray(jax.jit(sched)(jnp.asarray(STEPS)))
    ref = [
        timm_cosine(int(t), lr, t0, lr_min, cycle_mul, cycle_decay, cycle_limit, k_decay)
        for t in STEPS
    ]
    np.testing.assert_allclose(ours, ref, rtol=2e-5, atol=1e-9)


def test_peak_decay_modes_differ_above_a_floor_only():
    kw = dict(peak=1.0, period=10, peak_decay=0.5)
    t = jnp.arange(40)
    amp = np.asarray(cosine_restarts(**kw, end_value=0.2)(t))
    peak = np.asarray(cosine_restarts(**kw, end_value=0.2, peak_decay_mode="peak")(t))
    assert amp[20] == pytest.approx(0.2 + 0.8 * 0.25, rel=1e-6)  # amplitude above the floor
    assert peak[20] == pytest.approx(0.25, rel=1e-6)  # the peak itself
    assert peak[30] < 0.2  # 0.125: timm's cycle starting below lr_min
    np.testing.assert_array_equal(
        np.asarray(cosine_restarts(**kw)(t)),
        np.asarray(cosine_restarts(**kw, peak_decay_mode="peak")(t)),
    )


def test_k_decay_and_mode_validation():
    with pytest.raises(ValueError, match="k_decay"):
        cosine_decay(1.0, 10, k_decay=0.0)
    with pytest.raises(ValueError, match="k_decay"):
        cosine_restarts(1.0, 10, k_decay=-1.0)
    with pytest.raises(ValueError, match="peak_decay_mode"):
        cosine_restarts(1.0, 10, peak_decay_mode="timm")


# ----------------------------------------------------------------------------- noise


def test_noise_is_keyed_by_the_step_under_jit_and_vmap():
    base = cosine_decay(1.0, 1000)
    sched = lr_noise(base, noise_pct=0.2, seed=7)
    t = jnp.arange(0, 500)
    eager = np.asarray([float(sched(int(s))) for s in (3, 100, 499)])
    jitted = np.asarray(jax.jit(sched)(t))
    vmapped = np.asarray(jax.jit(jax.vmap(sched))(t))
    np.testing.assert_array_equal(jitted, vmapped)
    np.testing.assert_array_equal(jitted[[3, 100, 499]], eager)
    # the order of evaluation does not matter: a reversed batch gives the reversed values
    np.testing.assert_array_equal(np.asarray(jax.jit(sched)(t[::-1]))[::-1], jitted)
    factor = jitted / np.asarray(base(t))
    n = factor[:-1] - 1  # (the last steps' base is ~0)
    assert np.all(np.abs(n) < 0.2) and np.std(n) > 0.05
    # another seed, other noise; seeds vmap
    by_seed = jax.vmap(lambda s: lr_noise(base, noise_pct=0.2, seed=s)(jnp.asarray(5)))(
        jnp.arange(4)
    )
    assert len(set(np.asarray(by_seed).tolist())) == 4


def test_noise_distributions_and_range():
    one = lambda t: jnp.ones_like(t, jnp.float32)  # noqa: E731
    t = jnp.arange(20_000)
    # truncated normal, std 1 cut at 0.67 (timm's defaults): std sqrt(1 - 2 a phi(a) / erf')
    n = np.asarray(jax.jit(lr_noise(one, seed=1))(t)) - 1
    a = 0.67
    phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    z = math.erf(a / math.sqrt(2))
    assert np.std(n) == pytest.approx(math.sqrt(1 - 2 * a * phi / z), rel=0.03)
    assert np.abs(np.mean(n)) < 0.01 and np.max(np.abs(n)) < a
    # noise_std scales the normal before truncation
    n_small = np.asarray(jax.jit(lr_noise(one, noise_std=0.1, seed=1))(t)) - 1
    assert np.std(n_small) == pytest.approx(0.1, rel=0.05)
    # uniform on [-pct, pct): std pct / sqrt(3)
    u = np.asarray(jax.jit(lr_noise(one, noise_pct=0.3, noise_type="uniform"))(t)) - 1
    assert np.std(u) == pytest.approx(0.3 / math.sqrt(3), rel=0.03)
    # only inside [noise_start, noise_end)
    r = np.asarray(lr_noise(one, noise_start=100, noise_end=200)(jnp.arange(300))) - 1
    assert np.all(r[:100] == 0) and np.all(r[200:] == 0) and np.all(r[100:200] != 0)


def test_noise_spec_and_validation():
    sched = from_spec("lr_noise:schedule=(cosine_decay:peak=1.0,decay_steps=100),noise_pct=0.1")
    ratio = float(sched(10)) / float(cosine_decay(1.0, 100)(10))
    assert 0.9 < ratio < 1.1 and ratio != 1.0
    with pytest.raises(ValueError, match="noise_pct"):
        lr_noise(cosine_decay(1.0, 10), noise_pct=0.0)
    with pytest.raises(ValueError, match="noise_type"):
        lr_noise(cosine_decay(1.0, 10), noise_type="cauchy")
    with pytest.raises(ValueError, match="seed"):
        lr_noise(cosine_decay(1.0, 10), seed=1.5)
    with pytest.raises(ValueError, match="noise_start"):
        lr_noise(cosine_decay(1.0, 10), noise_start=20, noise_end=10)
