"""`jaxsched.optim.reduce_on_plateau` (the optax transformation over the plateau state machine)
against `optax.contrib.reduce_on_plateau` itself, step for step, where their arguments meet."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxsched import optim

STEPS = 120


def _values(seed: int) -> np.ndarray:
    """A noisy loss that falls, then sits on plateaus broken by small dips (float32)."""
    rng = np.random.default_rng(seed)
    t = np.arange(STEPS)
    trend = 1.0 / (1.0 + 0.05 * t)
    trend[40:] = trend[40]  # a long plateau...
    trend[80:] -= 0.02  # ...that one dip breaks
    return (trend + 0.01 * rng.standard_normal(STEPS)).astype(np.float32)


def _scales(tx: optax.GradientTransformationExtraArgs, values: np.ndarray) -> np.ndarray:
    """The factor each step's updates were multiplied by (the gradient is all ones)."""
    params = {"w": jnp.zeros(3)}

    def step(state, value):
        updates, state = tx.update({"w": jnp.ones(3)}, state, params, value=value)
        return state, updates["w"][0]

    _, scales = jax.lax.scan(step, tx.init(params), jnp.asarray(values))
    return np.asarray(scales)


SHARED = [
    dict(factor=f, patience=p, cooldown=c, accumulation_size=a, min_scale=m)
    for f, p, c, a, m in itertools.product((0.5, 0.1), (1, 3), (0, 4), (1, 3), (0.0, 0.02))
]


@pytest.mark.parametrize("shared", SHARED, ids=lambda s: "-".join(f"{v:g}" for v in s.values()))
@pytest.mark.parametrize("tolerance", ["rtol", "atol"])
def test_matches_optax_contrib_step_for_step(shared, tolerance):
    values = _values(seed=shared["patience"] + 7 * shared["accumulation_size"])
    if tolerance == "rtol":
        theirs = optax.contrib.reduce_on_plateau(**shared, rtol=1e-3, atol=0.0)
        ours = optim.reduce_on_plateau(**shared, threshold=1e-3, threshold_mode="rel")
    else:
        theirs = optax.contrib.reduce_on_plateau(**shared, rtol=0.0, atol=2e-3)
        ours = optim.reduce_on_plateau(**shared, threshold=2e-3, threshold_mode="abs")
    expected = _scales(theirs, values)
    assert len(np.unique(expected)) >= 2  # the sequence does reach a plateau
    np.testing.assert_array_equal(_scales(ours, values), expected)


def test_defaults_match_optax_defaults():
    values = _values(seed=3)
    np.testing.assert_array_equal(
        _scales(optim.reduce_on_plateau(patience=4), values),
        _scales(optax.contrib.reduce_on_plateau(patience=4), values),
    )


def test_in_a_chain_and_the_state_reports_the_scale():
    opt = optax.chain(optax.adam(1e-2), optim.reduce_on_plateau(factor=0.5, patience=1))
    params = {"w": jnp.ones(2)}
    state = opt.init(params)
    for loss in (1.0, 2.0):
        updates, state = opt.update({"w": jnp.ones(2)}, state, params, value=loss)
    assert float(state[1].scale) == 0.5
    assert float(state[1].plateau.best) == 1.0


def test_max_mode_is_min_mode_on_the_negated_value():
    values = _values(seed=5)
    kw = dict(factor=0.5, patience=2, threshold=2e-3, threshold_mode="abs", cooldown=1)
    np.testing.assert_array_equal(
        _scales(optim.reduce_on_plateau(**kw, mode="max"), -values),
        _scales(optim.reduce_on_plateau(**kw, mode="min"), values),
    )


def test_update_dtype_follows_the_updates():
    tx = optim.reduce_on_plateau(factor=0.5, patience=1)
    params = {"w": jnp.ones(2, jnp.bfloat16)}
    state = tx.init(params)
    for loss in (1.0, 1.0):
        updates, state = tx.update({"w": jnp.ones(2, jnp.bfloat16)}, state, params, value=loss)
    assert updates["w"].dtype == jnp.bfloat16 and updates["w"].tolist() == [0.5, 0.5]


def test_vmap_over_factor_equals_separate_runs():
    values = _values(seed=2)
    factors = jnp.array([0.5, 0.2])
    batched = jax.vmap(lambda f: jnp.asarray(_scales_traced(f, values)))(factors)
    for i, f in enumerate((0.5, 0.2)):
        np.testing.assert_array_equal(
            batched[i], _scales(optim.reduce_on_plateau(factor=f, patience=3), values))


def _scales_traced(factor, values):
    tx = optim.reduce_on_plateau(factor=factor, patience=3)
    params = jnp.zeros(())

    def step(state, value):
        updates, state = tx.update(jnp.ones(()), state, params, value=value)
        return state, updates

    return jax.lax.scan(step, tx.init(params), jnp.asarray(values))[1]


@pytest.mark.parametrize(("kwargs", "needle"), [
    (dict(patience=0), "patience must be >= 1, got patience=0"),
    (dict(accumulation_size=0), "accumulation_size must be >= 1"),
    (dict(min_scale=2.0), "min_scale must be in [0.0, 1.0], got min_scale=2.0"),
    (dict(factor=1.0), "factor"),
    (dict(threshold=-1.0), "threshold"),
    (dict(mode="lowest"), "mode must be one of"),
    (dict(threshold_mode="relative"), "threshold_mode"),
])
def test_bad_arguments_are_named(kwargs, needle):
    with pytest.raises(ValueError) as info:
        optim.reduce_on_plateau(**kwargs)
    assert needle in str(info.value)


def test_under_inject_hyperparams_equals_plain():
    values = _values(seed=4)
    kw = dict(factor=0.5, patience=2, cooldown=1)
    np.testing.assert_array_equal(
        _scales(optax.inject_hyperparams(optim.reduce_on_plateau)(**kw), values),
        _scales(optim.reduce_on_plateau(**kw), values),
    )
