"""Bad hyperparameters raise ValueError naming the argument and the offending value."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxsched.schedules as S

COS = S.cosine_decay(1e-3, 100)
LIN = S.linear_decay(1e-3, 100)

# (id, constructor call, argument name the message must contain, value text it must contain)
BAD = [
    ("constant-negative", lambda: S.constant(-1.0), "value", "-1.0"),
    ("constant-array", lambda: S.constant(jnp.array([1e-3, -1e-3])), "value", "-0.001"),
    ("constant-string", lambda: S.constant("1e-3"), "value", "1e-3"),
    ("linear-negative-peak", lambda: S.linear_decay(-1e-3, 100), "peak", "-0.001"),
    ("linear-zero-length", lambda: S.linear_decay(1e-3, 0), "decay_steps", "0"),
    ("linear-negative-length", lambda: S.linear_decay(1e-3, -5), "decay_steps", "-5"),
    ("linear-inf-length", lambda: S.linear_decay(1e-3, np.inf), "decay_steps", "inf"),
    ("linear-end-above-peak", lambda: S.linear_decay(1e-3, 100, 2e-3), "end_value", "0.002"),
    ("cosine-nan-peak", lambda: S.cosine_decay(float("nan"), 100), "peak", "nan"),
    ("cosine-negative-end", lambda: S.cosine_decay(1e-3, 100, -1.0), "end_value", "-1.0"),
    ("cosine-zero-exponent", lambda: S.cosine_decay(1e-3, 100, exponent=0), "exponent", "0"),
    ("cosine-string-peak", lambda: S.cosine_decay("1e-3", 100), "peak", "1e-3"),
    ("poly-negative-power", lambda: S.polynomial_decay(1e-3, 100, power=-1.0), "power", "-1.0"),
    ("stepwise-fraction-0", lambda: S.stepwise_drop(1e-3, 100, 0.0), "fraction", "0.0"),
    ("stepwise-fraction-1", lambda: S.stepwise_drop(1e-3, 100, 1.0), "fraction", "1.0"),
    ("stepwise-fraction-1.5", lambda: S.stepwise_drop(1e-3, 100, 1.5), "fraction", "1.5"),
    ("stepwise-factor-2", lambda: S.stepwise_drop(1e-3, 100, 0.5, 2.0), "factor", "2.0"),
    ("stepwise-zero-total", lambda: S.stepwise_drop(1e-3, 0, 0.5), "total_steps", "0"),
    ("step-decay-zero-size", lambda: S.step_decay(1e-3, 0), "step_size", "0"),
    ("step-decay-gamma", lambda: S.step_decay(1e-3, 10, gamma=1.5), "gamma", "1.5"),
    ("multistep-unsorted", lambda: S.multistep(1e-3, [50, 20]), "milestones", "[50, 20]"),
    ("multistep-negative", lambda: S.multistep(1e-3, [-1, 20]), "milestones", "-1"),
    ("multistep-string", lambda: S.multistep(1e-3, "50,75"), "milestones", "50,75"),
    ("multistep-2d", lambda: S.multistep(1e-3, [[1, 2]]), "milestones", "[[1, 2]]"),
    (
        "piecewise-negative-scale",
        lambda: S.piecewise_constant(1e-3, {10: -0.5}),
        "boundaries_and_scales",
        "-0.5",
    ),
    (
        "piecewise-negative-boundary",
        lambda: S.piecewise_constant(1e-3, {-10: 0.5}),
        "boundaries_and_scales",
        "-10",
    ),
    ("exp-zero-rate", lambda: S.exponential_decay(1e-3, 0.0), "decay_rate", "0.0"),
    ("exp-zero-steps", lambda: S.exponential_decay(1e-3, 0.5, 0), "transition_steps", "0"),
    ("exp-negative-begin", lambda: S.exponential_decay(1e-3, 0.5, 1, -1), "transition_begin", "-1"),
    (
        "exp-floor-above-peak",
        lambda: S.exponential_decay(1e-3, 0.5, end_value=2e-3),
        "end_value",
        "0.002",
    ),
    (
        "exp-ceiling-below-peak",
        lambda: S.exponential_decay(1e-3, 1.5, end_value=1e-4),
        "end_value",
        "0.0001",
    ),
    (
        "exp-staircase-string",
        lambda: S.exponential_decay(1e-3, 0.5, staircase="yes"),
        "staircase",
        "yes",
    ),
    ("natural-negative-rate", lambda: S.natural_exp_decay(1e-3, -0.1), "decay_rate", "-0.1"),
    ("isqrt-zero-timescale", lambda: S.inverse_sqrt(1e-3, 0.0), "timescale", "0.0"),
    ("itime-negative-rate", lambda: S.inverse_time(1e-3, -1.0), "decay_rate", "-1.0"),
    ("restarts-zero-period", lambda: S.cosine_restarts(1e-3, 0), "period", "0"),
    ("restarts-mult-below-1", lambda: S.cosine_restarts(1e-3, 10, 0.5), "period_mult", "0.5"),
    (
        "restarts-decay-above-1",
        lambda: S.cosine_restarts(1e-3, 10, peak_decay=1.5),
        "peak_decay",
        "1.5",
    ),
    ("restarts-zero-cycles", lambda: S.cosine_restarts(1e-3, 10, max_cycles=0), "max_cycles", "0"),
    (
        "restarts-end-above-peak",
        lambda: S.cosine_restarts(1e-3, 10, end_value=0.01),
        "end_value",
        "0.01",
    ),
    ("cyclical-base-above-max", lambda: S.cyclical(1e-3, 1e-4, 10), "base_lr", "0.001"),
    ("cyclical-zero-up", lambda: S.cyclical(1e-4, 1e-3, 0), "step_size_up", "0"),
    ("cyclical-negative-down", lambda: S.cyclical(1e-4, 1e-3, 10, -1), "step_size_down", "-1"),
    (
        "cyclical-unknown-mode",
        lambda: S.cyclical(1e-4, 1e-3, 10, mode="sawtooth"),
        "mode",
        "sawtooth",
    ),
    (
        "cyclical-gamma",
        lambda: S.cyclical(1e-4, 1e-3, 10, mode="exp_range", gamma=1.5),
        "gamma",
        "1.5",
    ),
    ("onecycle-pct-0", lambda: S.one_cycle(1e-3, 100, pct_start=0.0), "pct_start", "0.0"),
    ("onecycle-pct-1", lambda: S.one_cycle(1e-3, 100, pct_start=1.0), "pct_start", "1.0"),
    (
        "onecycle-anneal",
        lambda: S.one_cycle(1e-3, 100, anneal_strategy="exp"),
        "anneal_strategy",
        "exp",
    ),
    ("onecycle-div", lambda: S.one_cycle(1e-3, 100, div_factor=0.5), "div_factor", "0.5"),
    (
        "onecycle-final-div",
        lambda: S.one_cycle(1e-3, 100, final_div_factor=0.0),
        "final_div_factor",
        "0.0",
    ),
    ("onecycle-zero-total", lambda: S.one_cycle(1e-3, 0), "total_steps", "0"),
    (
        "onecycle-pct-final-2phase",
        lambda: S.one_cycle(1e-3, 100, pct_final=0.9),
        "pct_final",
        "0.9",
    ),
    (
        "onecycle-pct-final-before-start",
        lambda: S.one_cycle(1e-3, 100, 0.5, three_phase=True, pct_final=0.4),
        "pct_final",
        "0.4",
    ),
    (
        "onecycle-3phase-pct",
        lambda: S.one_cycle(1e-3, 100, 0.6, three_phase=True),
        "pct_start",
        "0.6",
    ),
    (
        "onecycle-3phase-flag",
        lambda: S.one_cycle(1e-3, 100, three_phase="yes"),
        "three_phase",
        "yes",
    ),
    ("warmup-negative-steps", lambda: S.warmup(COS, -1), "warmup_steps", "-1"),
    ("warmup-shape", lambda: S.warmup(COS, 10, shape="exp"), "shape", "exp"),
    ("warmup-init", lambda: S.warmup(COS, 10, init_value=-1.0), "init_value", "-1.0"),
    ("warmup-not-schedule", lambda: S.warmup("cosine", 10), "schedule", "cosine"),
    ("warmup-offset-flag", lambda: S.warmup(COS, 10, offset="yes"), "offset", "yes"),
    (
        "warmup-cosine-too-long",
        lambda: S.warmup_cosine_decay(1e-3, 100, 100),
        "warmup_steps",
        "100",
    ),
    ("warmup-linear-zero-total", lambda: S.warmup_linear_decay(1e-3, 10, 0), "total_steps", "0"),
    (
        "wsd-too-long",
        lambda: S.warmup_stable_decay(1e-3, 100, 50, 60),
        "warmup_steps + cooldown_steps",
        "60",
    ),
    (
        "wsd-cooldown-kind",
        lambda: S.warmup_stable_decay(1e-3, 100, 10, 20, "sqrt"),
        "cooldown",
        "sqrt",
    ),
    ("wsd-zero-cooldown", lambda: S.warmup_stable_decay(1e-3, 100, 10, 0), "cooldown_steps", "0"),
    (
        "wsd-init-above-peak",
        lambda: S.warmup_stable_decay(1e-3, 100, 10, 20, init_value=2e-3),
        "init_value",
        "0.002",
    ),
    ("join-unsorted", lambda: S.join([COS, LIN, COS], [10, 5]), "boundaries", "[10.0, 5.0]"),
    ("join-count", lambda: S.join([COS, LIN], [10, 20]), "boundaries", "[10, 20]"),
    ("join-negative", lambda: S.join([COS, LIN], [-1]), "boundaries[0]", "-1"),
    ("join-empty", lambda: S.join([], []), "schedules", "[]"),
    ("join-not-sequence", lambda: S.join(COS, []), "schedules", "function"),
    ("product-empty", lambda: S.product(), "schedules", "()"),
    ("product-string", lambda: S.product(COS, "x"), "schedules[1]", "'x'"),
    ("plateau-factor-1", lambda: S.reduce_on_plateau(factor=1.0), "factor", "1.0"),
    ("plateau-mode", lambda: S.reduce_on_plateau(mode="minimum"), "mode", "minimum"),
    (
        "plateau-threshold-mode",
        lambda: S.reduce_on_plateau(threshold_mode="relative"),
        "threshold_mode",
        "relative",
    ),
    ("plateau-patience", lambda: S.reduce_on_plateau(patience=-1), "patience", "-1"),
    ("plateau-cooldown", lambda: S.reduce_on_plateau(cooldown=-2), "cooldown", "-2"),
    ("plateau-min-lr", lambda: S.reduce_on_plateau(min_lr=-1e-5), "min_lr", "-1e-05"),
    ("plateau-threshold", lambda: S.reduce_on_plateau(threshold=-1e-4), "threshold", "-0.0001"),
    ("plateau-init-lr", lambda: S.reduce_on_plateau().init(-1.0), "lr", "-1.0"),
    ("registry-unknown", lambda: S.get("cosine"), "name", "cosine"),
    (
        "spec-unknown-arg",
        lambda: S.from_spec("cosine_decay:peak=1e-3,decay_steps=10,bogus=1"),
        "bogus",
        "cosine_decay",
    ),
    ("spec-combinator", lambda: S.from_spec("warmup:warmup_steps=10"), "schedule", "warmup"),
    (
        "spec-nested-bad",
        lambda: S.from_spec("warmup:schedule=(cosine_decay:peak=1,decay_steps=0),warmup_steps=5"),
        "decay_steps",
        "0",
    ),
    (
        "spec-nested-unknown",
        lambda: S.from_spec("join:schedules=[(constant:value=1);(cosin)],boundaries=[5]"),
        "cosin",
        "unknown schedule",
    ),
    ("spec-no-value", lambda: S.from_spec("cosine_decay:peak"), "key=value", "peak"),
    ("spec-repeated", lambda: S.from_spec("constant:value=1,value=2"), "value", "twice"),
    ("spec-bad-value", lambda: S.from_spec("cosine_decay:peak=-1,decay_steps=10"), "peak", "-1"),
]


@pytest.mark.parametrize("call,name,value", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_raises_value_error_naming_argument_and_value(call, name, value):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert name in message, message
    assert value in message, message


def test_catalogue_is_large():
    assert len(BAD) >= 30


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        S.get("cosine")
    for name in S.SCHEDULES:
        assert name in str(info.value)


def test_traced_hyperparameters_are_not_checked_but_concrete_ones_are():
    # Inside vmap the value is unknown when the schedule is built: no check, no host sync.
    out = jax.vmap(lambda d: S.linear_decay(1e-3, d)(5))(jnp.array([10.0, 20.0]))
    assert out.shape == (2,)
    with pytest.raises(ValueError, match="decay_steps"):
        jax.vmap(lambda p: S.linear_decay(p, 0)(5))(jnp.array([1e-3, 2e-3]))
