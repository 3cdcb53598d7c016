"""Parity of jaxsched.schedules with optax's schedules and with the notes' equations.

Where the semantics differ on purpose, the difference is documented in the schedule's docstring
and tested here (``test_documented_difference_*``).
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxsched.schedules as S

# Every comparison uses step arrays of one length: eager JAX compiles each primitive once per
# shape, so a fixed length lets the whole grid reuse the same kernels (far cheaper than a jit
# compilation per schedule instance).
N_STEPS = 384


def _steps(horizon: int, *points: int) -> jnp.ndarray:
    """Steps 0 .. 1.3 * horizon: all of them when they fit in N_STEPS, otherwise an even
    sample plus the steps around ``horizon`` and each of ``points``."""
    end = int(horizon * 1.3) + 3
    if end < N_STEPS:
        t = np.minimum(np.arange(N_STEPS), end)
    else:
        key = sorted({q for p in (horizon, *points) for q in (p - 1, p, p + 1) if q >= 0})
        t = np.sort(np.concatenate([np.floor(np.linspace(0, end, N_STEPS - len(key))), key]))
    return jnp.asarray(t, jnp.int32)


def assert_parity(ours, theirs, steps, scale):
    """Equal to float32 rounding: within ~1e-6 of the schedule's largest value.

    Both sides evaluate in float32 with the operations in a different order; near the end of a
    cosine, ``1 + cos(pi x)`` cancels and the two orders differ by ~1e-6 of the peak (each is
    that far from the exact value), so the tolerance is relative to the peak, not the value.
    """
    # vmap: optax's one-cycle schedules only accept a scalar count.
    a = np.asarray(ours(steps))
    b = np.asarray(jax.vmap(theirs)(steps), dtype=np.float32)
    assert a.dtype == np.float32 and a.shape == np.shape(steps)
    np.testing.assert_allclose(a, b, rtol=2e-6, atol=1.5e-6 * scale)


PEAKS = [1e-3, 2.0]
LENGTHS = [1, 7, 1000]


@pytest.mark.parametrize("value", [0.0, 1e-3, 3.5])
def test_constant(value):
    assert_parity(S.constant(value), optax.constant_schedule(value), _steps(10), value or 1.0)


@pytest.mark.parametrize(
    "peak,length,end_frac", list(itertools.product(PEAKS, LENGTHS, [0.0, 0.01, 0.5]))
)
def test_linear_decay_vs_optax_linear_schedule(peak, length, end_frac):
    end = peak * end_frac
    assert_parity(
        S.linear_decay(peak, length, end),
        optax.linear_schedule(peak, end, length),
        _steps(length),
        peak,
    )


@pytest.mark.parametrize(
    "peak,length,alpha,exponent",
    list(itertools.product(PEAKS, LENGTHS, [0.0, 0.1], [1.0, 2.0, 0.5])),
)
def test_cosine_decay_vs_optax(peak, length, alpha, exponent):
    assert_parity(
        S.cosine_decay(peak, length, end_value=alpha * peak, exponent=exponent),
        optax.cosine_decay_schedule(peak, length, alpha=alpha, exponent=exponent),
        _steps(length),
        peak,
    )


@pytest.mark.parametrize(
    "peak,length,end_frac,power",
    list(itertools.product([1e-3], LENGTHS, [0.0, 0.1], [1, 2, 0.5, 1.7])),
)
def test_polynomial_decay_vs_optax(peak, length, end_frac, power):
    end = peak * end_frac
    ours = S.polynomial_decay(peak, length, end, power=power)
    theirs = optax.polynomial_schedule(peak, end, power, length)
    # Documented difference: under jit, XLA divides by the constant length through its
    # reciprocal, so optax's 1 - t/T can come out slightly negative at t >= T and a fractional
    # power of it is NaN. Ours is exactly end_value from T on; compare before T.
    before = jnp.asarray(np.floor(np.linspace(0, length - 1, N_STEPS)), jnp.int32)
    assert_parity(ours, theirs, before, peak)
    after = jnp.asarray(np.floor(np.linspace(length, 3 * length, N_STEPS)), jnp.int32)
    np.testing.assert_array_equal(np.asarray(jax.jit(ours)(after)), np.float32(end))


@pytest.mark.parametrize(
    "rate,transition_steps,begin,staircase,end_value",
    [
        (rate, ts, *rest)
        for rate, ts, rest in itertools.product(
            [0.5, 0.999],
            [1, 10],
            [(0, False, None), (5, True, 1e-4), (5, False, 1e-4), (0, True, None)],
        )
    ]
    + [(1.5, 10, 3, False, None), (1.5, 10, 0, True, 5e-3)],
)
def test_exponential_decay_vs_optax(rate, transition_steps, begin, staircase, end_value):
    peak = 1e-3
    ours = S.exponential_decay(
        peak,
        decay_rate=rate,
        transition_steps=transition_steps,
        transition_begin=begin,
        staircase=staircase,
        end_value=end_value,
    )
    theirs = optax.exponential_decay(
        peak,
        transition_steps=transition_steps,
        decay_rate=rate,
        transition_begin=begin,
        staircase=staircase,
        end_value=end_value,
    )
    assert_parity(ours, theirs, _steps(60), peak * (1.5**5 if rate > 1 else 1.0))


def test_documented_difference_exponential_decay():
    # optax returns a constant for decay_rate == 0 or transition_steps <= 0; we refuse both.
    assert float(optax.exponential_decay(1e-3, 10, 0.0)(50)) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="decay_rate"):
        S.exponential_decay(1e-3, decay_rate=0.0, transition_steps=10)
    with pytest.raises(ValueError, match="transition_steps"):
        S.exponential_decay(1e-3, decay_rate=0.5, transition_steps=0)
    # decay_rate == 1 with an end_value below peak: optax clips to end_value (min), which is
    # the wrong direction for a schedule that does not grow; we keep peak.
    assert float(optax.exponential_decay(1e-3, 10, 1.0, end_value=1e-4)(5)) == pytest.approx(1e-4)
    assert float(S.exponential_decay(1e-3, 1.0, 10, end_value=1e-4)(5)) == pytest.approx(1e-3)


@pytest.mark.parametrize(
    "boundaries_and_scales",
    [{}, {10: 0.1}, {10: 0.5, 20: 0.5, 40: 0.1}, {0: 0.3, 7: 2.0}, {30: 0.1, 5: 0.5}],
)
def test_piecewise_constant_vs_optax(boundaries_and_scales):
    assert_parity(
        S.piecewise_constant(1e-3, boundaries_and_scales),
        optax.piecewise_constant_schedule(1e-3, boundaries_and_scales or None),
        _steps(50),
        2e-3,
    )


@pytest.mark.parametrize("milestones,gamma", [([10], 0.1), ([10, 20, 40], 0.5), ([5, 5], 0.3)])
def test_multistep_vs_optax_piecewise(milestones, gamma):
    scales: dict[int, float] = {}
    for m in milestones:
        scales[m] = scales.get(m, 1.0) * gamma
    assert_parity(
        S.multistep(1e-3, milestones, gamma),
        optax.piecewise_constant_schedule(1e-3, scales),
        _steps(50),
        1e-3,
    )


@pytest.mark.parametrize("boundaries", [[10], [10, 25], [0, 3, 30]])
def test_join_vs_optax_join_schedules(boundaries):
    ours_pieces = [
        S.linear_decay(1e-3, 20),
        S.cosine_decay(2e-3, 15, 1e-4),
        S.constant(5e-4),
        S.exponential_decay(1e-3, 0.9),
    ][: len(boundaries) + 1]
    optax_pieces = [
        optax.linear_schedule(1e-3, 0.0, 20),
        optax.cosine_decay_schedule(2e-3, 15, alpha=0.05),
        optax.constant_schedule(5e-4),
        optax.exponential_decay(1e-3, 1, 0.9),
    ][: len(boundaries) + 1]
    assert_parity(
        S.join(ours_pieces, boundaries),
        optax.join_schedules(optax_pieces, boundaries),
        _steps(60),
        2e-3,
    )


@pytest.mark.parametrize(
    "init,warmup_steps,total,end,exponent",
    [
        (0.0, 10, 100, 0.0, 1.0),
        (1e-5, 10, 100, 1e-4, 1.0),
        (0.0, 0, 50, 0.0, 1.0),
        (2e-4, 25, 30, 0.0, 2.0),
        (0.0, 1, 1000, 1e-5, 1.0),
    ],
)
def test_warmup_cosine_decay_vs_optax(init, warmup_steps, total, end, exponent):
    peak = 1e-3
    theirs = optax.warmup_cosine_decay_schedule(init, peak, warmup_steps, total, end, exponent)
    assert_parity(
        S.warmup_cosine_decay(peak, warmup_steps, total, init, end, exponent),
        theirs,
        _steps(total, warmup_steps),
        peak,
    )
    generic = S.warmup(
        S.cosine_decay(peak, total - warmup_steps, end, exponent), warmup_steps, init
    )
    assert_parity(generic, theirs, _steps(total, warmup_steps), peak)


@pytest.mark.parametrize("init,warmup_steps", [(0.0, 10), (1e-4, 3), (0.0, 1)])
def test_warmup_constant_and_linear_vs_optax(init, warmup_steps):
    peak = 1e-3
    assert_parity(
        S.warmup(S.constant(peak), warmup_steps, init),
        optax.warmup_constant_schedule(init, peak, warmup_steps),
        _steps(40),
        peak,
    )
    # Warmup then linear decay to end at total: optax builds it by joining two linear schedules.
    total, end = 40, 1e-5
    theirs = optax.join_schedules(
        [
            optax.linear_schedule(init, peak, warmup_steps),
            optax.linear_schedule(peak, end, total - warmup_steps),
        ],
        [warmup_steps],
    )
    assert_parity(
        S.warmup_linear_decay(peak, warmup_steps, total, init, end), theirs, _steps(total), peak
    )


@pytest.mark.parametrize("staircase", [False, True])
def test_warmup_exponential_decay_vs_optax(staircase):
    peak = 1e-3
    theirs = optax.warmup_exponential_decay_schedule(
        0.0, peak, 10, transition_steps=5, decay_rate=0.7, staircase=staircase, end_value=1e-5
    )
    ours = S.warmup(
        S.exponential_decay(peak, 0.7, 5, staircase=staircase, end_value=1e-5), warmup_steps=10
    )
    assert_parity(ours, theirs, _steps(80), peak)


@pytest.mark.parametrize(
    "period,mult,decay,end,cycles",
    [(10, 1.0, 1.0, 0.0, 4), (10, 2.0, 1.0, 0.0, 4), (7, 1.0, 0.5, 1e-5, 5), (5, 3.0, 0.7, 0.0, 3)],
)
def test_cosine_restarts_vs_optax_sgdr(period, mult, decay, end, cycles):
    peak = 1e-3
    kwargs = []
    for i in range(cycles):
        top = end + (peak - end) * decay**i
        kwargs.append(
            dict(
                init_value=top,
                peak_value=top,
                warmup_steps=0,
                decay_steps=int(round(period * mult**i)),
                end_value=end,
            )
        )
    horizon = sum(k["decay_steps"] for k in kwargs)
    assert_parity(
        S.cosine_restarts(peak, period, mult, decay, end, max_cycles=cycles),
        optax.sgdr_schedule(kwargs),
        _steps(horizon),
        peak,
    )


@pytest.mark.parametrize(
    "total,pct_start,div,final_div",
    [(100, 0.3, 25.0, 1e4), (40, 0.25, 10.0, 100.0), (1000, 0.1, 25.0, 1e4)],
)
def test_one_cycle_cos_vs_optax(total, pct_start, div, final_div):
    # Parity holds where pct_start * total is an integer (optax truncates the boundary).
    peak = 1e-3
    assert_parity(
        S.one_cycle(peak, total, pct_start, "cos", div, final_div),
        optax.cosine_onecycle_schedule(total, peak, pct_start, div, final_div),
        _steps(total, int(pct_start * total)),
        peak,
    )


@pytest.mark.parametrize(
    "total,pct_start,pct_final", [(100, 0.3, 0.85), (40, 0.25, 0.5), (200, 0.1, 0.95)]
)
def test_one_cycle_linear_three_phase_vs_optax(total, pct_start, pct_final):
    peak = 1e-3
    assert_parity(
        S.one_cycle(peak, total, pct_start, "linear", 25.0, 1e4, True, pct_final),
        optax.linear_onecycle_schedule(total, peak, pct_start, pct_final, 25.0, 1e4),
        _steps(total, int(pct_start * total), int(pct_final * total)),
        peak,
    )


def test_documented_difference_one_cycle_boundary():
    # pct_start * total = 2.5: optax truncates the peak to step 2, we put it at 2.5, so at
    # step 2 we are still rising and step 3 is already past the (real) peak.
    ours = S.one_cycle(1.0, 10, 0.25)
    theirs = optax.cosine_onecycle_schedule(10, 1.0, 0.25)
    assert float(theirs(2)) == pytest.approx(1.0)
    assert float(ours(2)) < 1.0 and float(ours(3)) < 1.0
    assert float(ours(2.5)) == pytest.approx(1.0)


def test_inject_hyperparams_and_optax_optimizer_use_our_schedule():
    """Our schedules plug into optax exactly where optax's own do."""
    peak, warm, total = 1e-2, 5, 40
    ours = S.warmup_cosine_decay(peak, warm, total, end_value=1e-4)
    theirs = optax.warmup_cosine_decay_schedule(0.0, peak, warm, total, 1e-4)
    params = {"w": jnp.array([1.0, -2.0, 3.0])}

    def run(schedule):
        opt = optax.inject_hyperparams(optax.adam)(learning_rate=schedule)
        state = opt.init(params)

        def body(carry, _):
            p, s = carry
            grads = jax.tree.map(lambda x: 2 * x, p)
            updates, s = opt.update(grads, s, p)
            return (optax.apply_updates(p, updates), s), s.hyperparams["learning_rate"]

        (p, _), lrs = jax.lax.scan(body, (params, state), None, length=total + 5)
        return p, lrs

    p_ours, lr_ours = jax.jit(run, static_argnums=0)(ours)
    p_theirs, lr_theirs = jax.jit(run, static_argnums=0)(theirs)
    # The injected value after update k is the schedule at count k+1... whatever optax's
    # convention is, it must agree with optax's own schedule.
    np.testing.assert_allclose(lr_ours, lr_theirs, rtol=2e-6, atol=1e-9)
    np.testing.assert_allclose(p_ours["w"], p_theirs["w"], rtol=1e-5)
    plain = optax.adam(ours)
    updates, _ = plain.update(params, plain.init(params), params)
    assert updates["w"].dtype == jnp.float32


# --- the notes' equations (chapter 003), bit for bit --------------------------------------
#
# The notes call lr_schedule(step, max_steps) inside a jitted update with an int32 step and
# Python-int max_steps; we evaluate their lambdas the same way. Bit-for-bit equality holds
# between like and like: XLA compiles a division by a constant differently from the eager op,
# so jitted is compared with jitted and eager with eager.

NOTES = {
    "linear": lambda step, max_steps: 0.001 * (1 - (step / max_steps)),
    "cosine": lambda step, max_steps: 0.001 * (0.5 * (1 + jnp.cos(jnp.pi * (step / max_steps)))),
    "stepwise25": lambda step, max_steps: 0.001 * (jnp.where(step / max_steps > 0.25, 0.1, 1)),
    "stepwise75": lambda step, max_steps: 0.001 * (jnp.where(step / max_steps > 0.75, 0.1, 1)),
}


def _ours(kind, max_steps):
    if kind == "linear":
        return S.linear_decay(0.001, max_steps)
    if kind == "cosine":
        return S.cosine_decay(0.001, max_steps)
    return S.stepwise_drop(0.001, max_steps, fraction=0.25 if kind == "stepwise25" else 0.75)


@pytest.mark.parametrize(
    "kind,max_steps",
    list(itertools.product(["linear", "cosine", "stepwise25", "stepwise75"], [100_000, 75_000]))
    + [("linear", 50_000), ("linear", 25_000), ("stepwise25", 1000), ("cosine", 777)],
)
def test_notes_equations_bit_for_bit(kind, max_steps):
    steps = jnp.arange(max_steps, dtype=jnp.int32)
    notes = jax.jit(jax.vmap(lambda s: NOTES[kind](s, max_steps)))(steps)
    ours = jax.jit(_ours(kind, max_steps))(steps)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(notes, dtype=np.float32))
    # and one step at a time, as the notes' training loop calls it
    notes_jit = jax.jit(NOTES[kind], static_argnums=1)
    ours_jit = jax.jit(_ours(kind, max_steps))
    for s in [0, 1, max_steps // 4, max_steps // 4 + 1, max_steps // 2, max_steps - 1]:
        step = jnp.int32(s)
        assert np.float32(ours_jit(step)) == np.float32(notes_jit(step, max_steps))
        assert np.float32(_ours(kind, max_steps)(step)) == np.float32(NOTES[kind](step, max_steps))
