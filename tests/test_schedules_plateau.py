"""reduce_on_plateau: jit, lax.scan and vmap against a plain-Python reference of the algorithm."""

import itertools
import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxsched.schedules as S

f32 = np.float32


def reference(
    metrics, lr, *, mode, threshold_mode, factor, patience, threshold, cooldown, min_lr, eps
):
    """The plateau algorithm step by step, in float32 like the JAX state (torch's logic)."""
    best = f32(math.inf if mode == "min" else -math.inf)
    num_bad, cooldown_counter, lr, out = 0, 0, f32(lr), []
    thr = f32(threshold)
    for m in metrics:
        m = f32(m)
        if mode == "min":
            bar = best * (f32(1) - thr) if threshold_mode == "rel" else best - thr
            better = m < bar
        else:
            bar = best * (f32(1) + thr) if threshold_mode == "rel" else best + thr
            better = m > bar
        if better:
            best, num_bad = m, 0
        else:
            num_bad += 1
        if cooldown_counter > 0:
            cooldown_counter -= 1
            num_bad = 0
        if num_bad > patience:
            new = max(f32(lr * f32(factor)), f32(min_lr))
            if lr - new > f32(eps):
                lr = new
            cooldown_counter, num_bad = cooldown, 0
        out.append(lr)
    return np.array(out, dtype=np.float32)


@partial(jax.jit, static_argnames=("mode", "threshold_mode"))
def run_scan(
    metrics, lr, factor, patience, threshold, cooldown, min_lr, eps, *, mode, threshold_mode
):
    # Every numeric hyperparameter is a traced argument: one compilation per mode pair.
    plateau = S.reduce_on_plateau(
        factor, patience, threshold, threshold_mode, mode, cooldown, min_lr, eps
    )

    def body(state, metric):
        state = plateau.update(state, metric)
        return state, plateau.lr(state)

    final, lrs = jax.lax.scan(body, plateau.init(lr), metrics)
    return final, lrs


def _metrics(seed: int, n: int = 60) -> np.ndarray:
    """Noisy descent with plateaus, ties and a few NaNs: every branch of the algorithm fires."""
    rng = np.random.default_rng(seed)
    steps = rng.choice([-0.2, -0.05, 0.0, 0.0, 0.0, 0.03, 0.1], size=n)
    m = np.round(3.0 + np.cumsum(steps), 2).astype(np.float32)
    m[rng.integers(0, n, size=2)] = np.nan
    return m


CONFIGS = [
    dict(
        mode=mo,
        threshold_mode=tm,
        factor=fa,
        patience=pa,
        threshold=th,
        cooldown=co,
        min_lr=ml,
        eps=ep,
    )
    for (mo, tm), (fa, pa, th, co, ml, ep) in itertools.product(
        [("min", "rel"), ("min", "abs"), ("max", "rel"), ("max", "abs")],
        [
            (0.1, 10, 1e-4, 0, 0.0, 1e-8),  # torch's defaults
            (0.5, 2, 1e-2, 1, 1e-5, 1e-8),
            (0.3, 0, 0.05, 3, 0.0, 1e-8),
            (0.5, 1, 0.0, 0, 2e-4, 1e-4),  # eps blocks reductions smaller than 1e-4
        ],
    )
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(str(v) for v in c.values()))
@pytest.mark.parametrize("seed", [0, 1])
def test_scan_under_jit_matches_reference(config, seed):
    metrics = _metrics(seed)
    if config["mode"] == "max":
        metrics = -metrics
    expected = reference(metrics, 1e-3, **config)
    numeric = {k: v for k, v in config.items() if k not in ("mode", "threshold_mode")}
    final, lrs = run_scan(
        jnp.asarray(metrics),
        1e-3,
        **numeric,
        mode=config["mode"],
        threshold_mode=config["threshold_mode"],
    )
    np.testing.assert_array_equal(np.asarray(lrs), expected)
    assert int(final.last_epoch) == len(metrics)
    assert len(set(expected.tolist())) > 1 or config["patience"] >= 10  # something happened


def test_python_loop_with_jitted_update_matches_scan_and_state_types():
    plateau = S.reduce_on_plateau(factor=0.5, patience=2, cooldown=1, min_lr=1e-5)
    metrics = _metrics(3)
    update = jax.jit(plateau.update)
    state, loop = plateau.init(1e-3), []
    for m in metrics:
        state = update(state, m)
        loop.append(float(plateau.lr(state)))
    _, scanned = run_scan(
        jnp.asarray(metrics), 1e-3, 0.5, 2, 1e-4, 1, 1e-5, 1e-8, mode="min", threshold_mode="rel"
    )
    np.testing.assert_array_equal(np.asarray(loop, np.float32), np.asarray(scanned))
    assert isinstance(state, S.PlateauState)
    assert state.lr.dtype == jnp.float32 and state.best.dtype == jnp.float32
    counters = (state.num_bad_epochs, state.cooldown_counter, state.last_epoch)
    assert all(x.dtype == jnp.int32 for x in counters)
    assert all(isinstance(x, jax.Array) for x in state[:5]) and state.exact is None


def test_known_sequence():
    # patience 2: the 3rd non-improving update after the best (1.0) reduces the lr.
    plateau = S.reduce_on_plateau(factor=0.5, patience=2)
    state = plateau.init(1.0)
    lrs = []
    for m in [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]:
        state = plateau.update(state, m)
        lrs.append(float(plateau.lr(state)))
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25]
    assert float(state.best) == 0.5


def test_vmap_over_factor_and_patience():
    metrics = jnp.asarray(_metrics(5))
    factors = jnp.array([0.1, 0.5, 0.9])
    patiences = jnp.array([0, 3, 6])
    swept = jax.vmap(
        lambda fa, pa: run_scan(
            metrics, 1e-3, fa, pa, 1e-4, 0, 0.0, 1e-8, mode="min", threshold_mode="rel"
        )[1]
    )(factors, patiences)
    for i in range(3):
        expected = reference(
            np.asarray(metrics),
            1e-3,
            mode="min",
            threshold_mode="rel",
            factor=float(factors[i]),
            patience=int(patiences[i]),
            threshold=1e-4,
            cooldown=0,
            min_lr=0.0,
            eps=1e-8,
        )
        np.testing.assert_allclose(swept[i], expected, rtol=1e-6)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    st.lists(st.sampled_from([0.5, 1.0, 1.0, 1.5, 2.0, 0.99995]), min_size=40, max_size=40),
    st.sampled_from(["min", "max"]),
    st.sampled_from(["rel", "abs"]),
    st.sampled_from([0.1, 0.5]),
    st.integers(0, 4),
    st.integers(0, 3),
    st.sampled_from([0.0, 1e-4, 0.1]),
)
def test_random_metric_sequences(metrics, mode, threshold_mode, factor, patience, cooldown, thr):
    config = dict(
        mode=mode,
        threshold_mode=threshold_mode,
        factor=factor,
        patience=patience,
        threshold=thr,
        cooldown=cooldown,
        min_lr=1e-6,
        eps=1e-8,
    )
    expected = reference(metrics, 1e-2, **config)
    _, lrs = run_scan(
        jnp.asarray(metrics, jnp.float32),
        1e-2,
        factor,
        patience,
        thr,
        cooldown,
        1e-6,
        1e-8,
        mode=mode,
        threshold_mode=threshold_mode,
    )
    np.testing.assert_array_equal(np.asarray(lrs), expected)
