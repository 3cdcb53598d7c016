"""Properties of every schedule: types, shapes, jit/vmap/scan, bounds, monotonicity, continuity."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxsched.schedules as S

FAST = settings(max_examples=25, deadline=None, derandomize=True)

# One builder per registry entry, from the kind's registered example with the peak and the
# horizon filled in, so that the same table drives the type, transformation and
# hyperparameter-sweep tests, and a new kind is exercised without touching this file.
BUILDERS = {
    name: (lambda p, L, name=name: S.registry.example(name, peak=p, horizon=L))
    for name in S.SCHEDULES
}
NAMES = sorted(BUILDERS)
STEPS = jnp.arange(0, 200, 3, dtype=jnp.int32)


def test_every_registered_schedule_is_documented_with_an_example():
    for name, kind in S.KINDS.items():
        assert S.get(name) is S.SCHEDULES[name] is kind.fn
        assert kind.fn.__doc__ and "Example" in kind.fn.__doc__
        # the example builds, and uses the peak where the kind has one
        lo, hi = (np.asarray(S.registry.example(name, peak=p)(STEPS)) for p in (1e-3, 2e-3))
        if kind.peak is not None:
            assert not np.allclose(lo, hi), name


@pytest.mark.parametrize("name", NAMES)
def test_step_types_shapes_and_dtype(name):
    sched = BUILDERS[name](1e-3, 80)
    ref = np.asarray(sched(jnp.arange(12, dtype=jnp.int32)))
    assert ref.dtype == np.float32 and ref.shape == (12,)
    for step in [7, np.int32(7), np.int64(7), np.uint16(7), jnp.int32(7)]:
        out = sched(step)
        assert out.dtype == jnp.float32 and out.shape == (), (name, type(step))
        assert float(out) == pytest.approx(ref[7], rel=1e-6, abs=1e-12)
    grid = np.arange(12, dtype=np.int64).reshape(3, 4)
    out = sched(grid)
    assert out.dtype == jnp.float32 and out.shape == (3, 4)
    np.testing.assert_allclose(np.asarray(out).ravel(), ref, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_jit_vmap_scan_agree_with_eager(name):
    sched = BUILDERS[name](2e-3, 160)
    eager = np.asarray(sched(STEPS))
    # Scalar and vector kernels, and XLA's fused code under jit, may round differently; near
    # the end of a decay a 1-ulp difference of the peak is a large relative one, hence atol.
    close = dict(rtol=2e-6, atol=1e-6 * 2e-3)
    loop = np.array([np.asarray(sched(int(t))) for t in STEPS[::5]])
    np.testing.assert_allclose(eager[::5], loop, **close)
    np.testing.assert_allclose(jax.jit(sched)(STEPS), eager, **close)
    np.testing.assert_allclose(jax.vmap(sched)(STEPS), eager, **close)

    def body(step, _):
        return step + 3, sched(step)

    _, scanned = jax.jit(lambda: jax.lax.scan(body, jnp.int32(0), None, length=STEPS.shape[0]))()
    np.testing.assert_allclose(scanned, eager, **close)
    assert np.all(np.isfinite(eager)) and np.all(eager >= 0)


@pytest.mark.parametrize("name", NAMES)
def test_vmap_over_hyperparameters_equals_python_loop(name):
    peaks = jnp.array([1e-3, 3e-3, 0.5], jnp.float32)
    lengths = jnp.array([80.0, 160.0, 240.0], jnp.float32)

    def curve(p, L):
        return BUILDERS[name](p, L)(STEPS)

    swept = jax.jit(jax.vmap(curve))(peaks, lengths)
    assert swept.shape == (3, STEPS.shape[0]) and swept.dtype == jnp.float32
    for i in range(3):
        expected = np.asarray(BUILDERS[name](float(peaks[i]), int(lengths[i]))(STEPS))
        np.testing.assert_allclose(swept[i], expected, rtol=1e-5, atol=1e-7 * float(peaks[i]))


def test_negative_steps_count_as_zero_and_large_steps_stay_finite():
    steps = jnp.array([-5, -1, 0, 10**6, 2**24, 2**31 - 1])
    for name in NAMES:
        out = np.asarray(BUILDERS[name](1e-3, 80)(steps))
        assert out[0] == out[1] == out[2], name
        assert np.all(np.isfinite(out)) and np.all(out >= 0), name


# --- bounds and monotonicity ---------------------------------------------------------------

peaks = st.floats(1e-6, 10.0)
lengths = st.integers(1, 5000)
fracs = st.floats(0.0, 1.0)


# Eager JAX compiles each primitive once per input shape: every step array in the hypothesis
# tests has the same length (GRID_SIZE) so the examples reuse the compiled kernels.
GRID_SIZE = 301


def _grid(horizon: float, size: int = GRID_SIZE) -> np.ndarray:
    """Sorted integer steps covering [0, horizon] (with repeats when the horizon is short)."""
    return np.floor(np.linspace(0, horizon, size)).astype(np.int64)


def _check_decay(sched, peak, end, horizon):
    t = _grid(3 * horizon + 2)
    out = np.asarray(sched(t), dtype=np.float64)
    tol = 2e-6 * peak
    assert np.all(out <= peak + tol) and np.all(out >= end - tol)
    assert np.all(np.diff(out) <= tol), "not non-increasing"
    assert out[0] == pytest.approx(peak, rel=1e-6)
    assert out[-1] == pytest.approx(end, rel=1e-5, abs=tol)


@FAST
@given(peaks, lengths, fracs, st.sampled_from(["linear", "cosine", "poly"]), st.floats(0.2, 4.0))
def test_decays_bounded_and_monotone(peak, length, end_frac, kind, exponent):
    end = peak * end_frac
    if kind == "linear":
        sched = S.linear_decay(peak, length, end)
    elif kind == "cosine":
        sched = S.cosine_decay(peak, length, end, exponent)
    else:
        sched = S.polynomial_decay(peak, length, end, exponent)
    _check_decay(sched, peak, end, length)
    assert float(sched(length)) == pytest.approx(end, rel=1e-5, abs=2e-6 * peak)


@FAST
@given(
    peaks,
    st.sampled_from(["exp", "natural", "isqrt", "itime"]),
    st.floats(0.01, 0.999),
    st.integers(1, 200),
    st.booleans(),
)
def test_unbounded_decays_monotone_below_peak(peak, kind, rate, scale, staircase):
    if kind == "exp":
        sched = S.exponential_decay(peak, rate, scale, staircase=staircase, end_value=peak / 100)
    elif kind == "natural":
        sched = S.natural_exp_decay(peak, rate, scale, staircase=staircase)
    elif kind == "isqrt":
        sched = S.inverse_sqrt(peak, scale)
    else:
        sched = S.inverse_time(peak, rate, scale, staircase=staircase)
    out = np.asarray(sched(_grid(scale * 20)), dtype=np.float64)
    assert out[0] == pytest.approx(peak, rel=1e-6)
    assert np.all(out <= peak * (1 + 1e-6)) and np.all(out >= 0)
    assert np.all(np.diff(out) <= 1e-6 * peak)
    if kind == "exp":
        assert np.all(out >= peak / 100 * (1 - 1e-6))


@FAST
@given(
    peaks,
    st.integers(1, 400),
    st.lists(st.integers(0, 1000), max_size=5),
    st.floats(0.0, 1.0),
    st.floats(0.01, 0.99),
)
def test_step_schedules_monotone(peak, step_size, milestones, gamma, fraction):
    t = _grid(1200)
    for sched in [
        S.step_decay(peak, step_size, gamma),
        S.multistep(peak, sorted(milestones), gamma),
        S.stepwise_drop(peak, step_size, fraction, gamma),
        S.piecewise_constant(peak, {m: gamma for m in milestones}),
    ]:
        out = np.asarray(sched(t), dtype=np.float64)
        assert np.all(np.diff(out) <= 1e-7 * peak) and out[0] == pytest.approx(peak, rel=1e-6)
        assert np.all(out >= 0) and np.all(out <= peak * (1 + 1e-6))


def test_step_decay_and_multistep_values():
    np.testing.assert_allclose(
        S.step_decay(1.0, 10, 0.5)(jnp.array([0, 9, 10, 19, 20, 35])),
        [1, 1, 0.5, 0.5, 0.25, 0.125],
    )
    np.testing.assert_allclose(
        S.multistep(1.0, [3, 3, 8], 0.5)(jnp.array([2, 3, 7, 8])), [1, 0.25, 0.25, 0.125]
    )
    # The notes' strict '>': at exactly the fraction of the horizon we have not dropped yet.
    np.testing.assert_allclose(
        S.stepwise_drop(1.0, 100, 0.25)(jnp.array([24, 25, 26])), [1.0, 1.0, 0.1]
    )


@FAST
@given(peaks, st.integers(2, 300), st.floats(1.0, 3.0), st.floats(0.0, 1.0), fracs)
def test_cosine_restarts_shape(peak, period, mult, decay, end_frac):
    end = peak * end_frac
    sched = S.cosine_restarts(peak, period, mult, decay, end, max_cycles=4)
    starts, lengths_, s = [], [], 0.0
    for i in range(4):
        starts.append(s)
        lengths_.append(period * mult**i)
        s += period * mult**i
    t = _grid(1.2 * s)
    out = np.asarray(sched(t), dtype=np.float64)
    tol = 4e-6 * peak
    assert np.all(out <= peak + tol) and np.all(out >= end - tol)
    for i, (start, length) in enumerate(zip(starts, lengths_, strict=True)):
        if float(start).is_integer():
            top = end + (peak - end) * decay**i
            assert float(sched(int(start))) == pytest.approx(top, rel=1e-5, abs=tol)
        vals = out[(t >= np.ceil(start)) & (t < start + length)]
        assert np.all(np.diff(vals) <= tol), f"cycle {i} not decreasing"
    assert np.all(out[t >= np.ceil(s)] == pytest.approx(end, abs=tol))


def test_cosine_restarts_cycle_lengths_exact():
    # Period 10, doubling: restarts exactly at 10, 30, 70, 150 (float32 log rounding corrected).
    sched = S.cosine_restarts(1.0, 10, 2.0)
    restarts = jnp.array([0, 10, 30, 70, 150, 310, 630, 1270, 2550, 5110, 10230])
    np.testing.assert_allclose(sched(restarts), 1.0)
    assert np.all(np.asarray(sched(restarts[1:] - 1)) < 0.03)
    thirds = S.cosine_restarts(1.0, 3, 1.5)  # lengths 3, 4.5, 6.75 -> starts 0, 3, 7.5, 14.25
    np.testing.assert_allclose(thirds(jnp.array([0.0, 3.0, 7.5, 14.25])), 1.0, rtol=1e-6)


def test_cosine_restarts_traced_period_mult_matches_concrete():
    # A concrete multiplier takes a specialised path; a vmapped one evaluates both forms.
    mults = jnp.array([1.0, 1.5, 2.0, 3.0])
    t = STEPS
    swept = jax.vmap(lambda m: S.cosine_restarts(1.0, 10, m, 0.8, 0.01)(t))(mults)
    for i, m in enumerate([1.0, 1.5, 2.0, 3.0]):
        expected = S.cosine_restarts(1.0, 10, m, 0.8, 0.01)(t)
        np.testing.assert_allclose(swept[i], expected, rtol=1e-5, atol=1e-6)


@FAST
@given(
    st.floats(0.0, 1.0),
    peaks,
    st.integers(1, 100),
    st.integers(1, 100),
    st.sampled_from(["triangular", "triangular2", "exp_range"]),
    st.floats(0.9, 1.0),
)
def test_cyclical_bounds_and_period(base_frac, top, up, down, mode, gamma):
    base = top * base_frac
    sched = S.cyclical(base, top, up, down, mode=mode, gamma=gamma)
    t = np.arange(0, 601)  # three cycles of at most 200 steps
    out = np.asarray(sched(t), dtype=np.float64)
    tol = 2e-6 * top
    assert np.all(out >= base - tol) and np.all(out <= top + tol)
    assert out[0] == pytest.approx(base, abs=tol)
    first_peak = top if mode != "exp_range" else base + (top - base) * gamma**up
    assert float(sched(up)) == pytest.approx(first_peak, rel=1e-5, abs=tol)
    if mode == "triangular":
        n = 3 * (up + down) + 1
        np.testing.assert_allclose(out[up + down : n], out[: n - up - down], atol=tol)
    if mode == "triangular2":
        second_peak = float(sched(up + down + up))
        assert second_peak == pytest.approx(base + (top - base) / 2, abs=tol)


@FAST
@given(
    peaks,
    st.integers(10, 2000),
    st.floats(0.05, 0.45),
    st.sampled_from(["cos", "linear"]),
    st.floats(1.0, 100.0),
    st.floats(1.0, 1e4),
    st.booleans(),
)
def test_one_cycle_bounds(peak, total, pct, anneal, div, final_div, three):
    sched = S.one_cycle(peak, total, pct, anneal, div, final_div, three_phase=three)
    t = _grid(total + 20)
    out = np.asarray(sched(t), dtype=np.float64)
    final = peak / div / final_div
    tol = 2e-6 * peak
    assert np.all(out <= peak + tol) and np.all(out >= final - tol)
    assert out[0] == pytest.approx(peak / div, rel=1e-5)
    assert float(sched(pct * total)) == pytest.approx(peak, rel=1e-5)
    assert out[-1] == pytest.approx(final, rel=1e-4, abs=tol)
    # one rise then one fall (the three-phase fall has a kink at init, still non-increasing)
    rising = t <= pct * total
    assert np.all(np.diff(out[rising]) >= -tol) and np.all(np.diff(out[~rising]) <= tol)


@FAST
@given(
    peaks,
    st.integers(10, 3000),
    st.floats(0.0, 0.4),
    st.floats(0.01, 0.5),
    st.sampled_from(["linear", "cosine", "1-sqrt"]),
    fracs,
    fracs,
)
def test_warmup_stable_decay_shape(peak, total, w_frac, c_frac, cooldown, init_frac, end_frac):
    w, c = int(w_frac * total), max(1, int(c_frac * total))
    init, end = peak * init_frac, peak * end_frac
    sched = S.warmup_stable_decay(peak, total, w, c, cooldown, init, end)
    t = _grid(total + 10)
    out = np.asarray(sched(t), dtype=np.float64)
    tol = 2e-6 * peak
    assert np.all(out <= peak + tol) and np.all(out >= min(init, end) - tol)
    np.testing.assert_allclose(out[(t >= w) & (t <= total - c)], peak, rtol=1e-6)
    assert np.all(np.diff(out[t <= w]) >= -tol) and np.all(np.diff(out[t >= w]) <= tol)
    np.testing.assert_allclose(out[t >= total], end, rtol=1e-5, atol=tol)
    if w:
        assert out[0] == pytest.approx(init, abs=tol)


def test_one_minus_sqrt_cooldown_values():
    sched = S.warmup_stable_decay(1.0, 100, 0, 100, "1-sqrt")
    np.testing.assert_allclose(sched(jnp.array([0, 25, 64, 100])), [1.0, 0.5, 0.2, 0.0], atol=1e-6)
    cos = S.warmup_stable_decay(2.0, 100, 0, 50, "cosine", end_value=1.0)
    np.testing.assert_allclose(cos(jnp.array([50, 75, 100])), [2.0, 1.5, 1.0], atol=1e-6)


# --- warmup and continuity ------------------------------------------------------------------


@FAST
@given(
    peaks, st.integers(1, 500), st.integers(1, 2000), fracs, st.sampled_from(["linear", "cosine"])
)
def test_warmup_ramp_continuous_and_monotone(peak, w, d, init_frac, shape):
    init = peak * init_frac
    for offset in [True, False]:
        inner = S.cosine_decay(peak, d + (0 if offset else w))
        sched = S.warmup(inner, w, init, shape=shape, offset=offset)
        ramp = np.asarray(sched(np.linspace(0, w, 101)), dtype=np.float64)
        assert ramp[0] == pytest.approx(init, abs=1e-6 * peak)
        target = float(inner(0 if offset else w))
        # monotone from init towards the target (down when init is above it)
        assert np.all(np.sign(target - init) * np.diff(ramp) >= -2e-6 * peak)
        # continuous at the end of the warmup (evaluated on real-valued steps)
        before, at = float(sched(w - 1e-3)), float(sched(w))
        assert at == pytest.approx(target, rel=1e-6)
        assert abs(before - at) <= 2e-3 * abs(target - init) / w + 2e-6 * peak
        after = np.asarray(sched(np.arange(w, w + 50)))
        expected = inner(np.arange(0, 50) if offset else np.arange(w, w + 50))
        np.testing.assert_allclose(after, expected, rtol=1e-6, atol=1e-12)


def test_warmup_zero_steps_is_identity_and_accepts_numbers():
    inner = S.linear_decay(1e-3, 100)
    t = jnp.arange(0, 120)
    np.testing.assert_array_equal(S.warmup(inner, 0)(t), inner(t))
    np.testing.assert_allclose(S.warmup(1e-3, 10)(jnp.array([0, 5, 10, 50])), [0, 5e-4, 1e-3, 1e-3])


def test_warmup_passes_integer_steps_to_user_schedules():
    seen = []

    def user_schedule(step):
        seen.append(jnp.asarray(step).dtype)
        return 1e-3 * jnp.ones_like(step, dtype=jnp.float32)

    S.warmup(user_schedule, 10)(jnp.arange(20, dtype=jnp.int32))
    S.join([user_schedule, user_schedule], [5])(jnp.arange(20, dtype=jnp.int32))
    assert seen and all(jnp.issubdtype(d, jnp.integer) for d in seen)
    # an unsigned step is shifted as a signed one (no wrap-around below the boundary)
    shifted = []
    S.warmup(lambda s: shifted.append(jnp.min(s)) or 1.0, 10)(np.arange(20, dtype=np.uint16))
    assert int(shifted[-1]) == -10


CONTINUOUS = {
    "linear_decay": (lambda: S.linear_decay(1.0, 100, 0.1), [100]),
    "cosine_decay": (lambda: S.cosine_decay(1.0, 100, 0.1), [100]),
    "warmup_linear_decay": (lambda: S.warmup_linear_decay(1.0, 20, 100), [20, 100]),
    "warmup_cosine_decay": (lambda: S.warmup_cosine_decay(1.0, 20, 100, 0.5, 0.1), [20, 100]),
    "warmup_stable_decay": (
        lambda: S.warmup_stable_decay(1.0, 100, 20, 30, "cosine"),
        [20, 70, 100],
    ),
    "one_cycle": (lambda: S.one_cycle(1.0, 100, 0.3, "linear"), [30, 100]),
    "one_cycle3": (
        lambda: S.one_cycle(1.0, 100, 0.2, "cos", three_phase=True, pct_final=0.7),
        [20, 70, 100],
    ),
    "cyclical": (lambda: S.cyclical(0.1, 1.0, 10, 30), [10, 40, 50]),
    "join": (lambda: S.join([S.warmup(1.0, 10), S.cosine_decay(1.0, 50)], [10]), [10]),
}


@pytest.mark.parametrize("name", sorted(CONTINUOUS))
def test_continuity_at_phase_boundaries(name):
    build, boundaries = CONTINUOUS[name]
    sched = build()
    for b in boundaries:
        left, mid, right = (float(x) for x in sched(jnp.array([b - 1e-3, b, b + 1e-3])))
        # slopes here are at most ~0.1 per step, so 1e-3 of a step moves the value < 1e-3
        assert abs(left - mid) < 1e-3 and abs(right - mid) < 1e-3, (name, b, left, mid, right)


def test_join_restarts_each_piece_clock_and_product_multiplies():
    sched = S.join([S.constant(1.0), S.linear_decay(1.0, 10), S.constant(0.5)], [5, 15])
    np.testing.assert_allclose(
        sched(jnp.array([0, 4, 5, 10, 14, 15, 100])), [1, 1, 1, 0.5, 0.1, 0.5, 0.5], atol=1e-6
    )
    prod = S.product(S.linear_decay(2.0, 10), S.constant(0.5), 3.0)
    np.testing.assert_allclose(prod(jnp.array([0, 5, 10])), [3.0, 1.5, 0.0], atol=1e-6)


def test_concrete_jax_array_hyperparameters_are_accepted_and_validated():
    sched = S.cosine_decay(jnp.float32(1e-3), jnp.int32(100), end_value=np.float32(1e-5))
    assert float(sched(100)) == pytest.approx(1e-5)
    with pytest.raises(ValueError, match="decay_steps"):
        S.cosine_decay(jnp.float32(1e-3), jnp.int32(0))


def test_registry_spec_round_trip():
    sched = S.from_spec("multistep:peak=1e-3,milestones=[50, 75],gamma=0.5")
    np.testing.assert_allclose(sched(jnp.array([49, 50, 80])), [1e-3, 5e-4, 2.5e-4])
    cyc = S.from_spec("cyclical:base_lr=1e-4,max_lr=1e-3,step_size_up=10,mode=triangular2")
    assert float(cyc(30)) == pytest.approx(5.5e-4)
    pc = S.from_spec("piecewise_constant:init_value=1.0,boundaries_and_scales={10: 0.1}")
    assert float(pc(10)) == pytest.approx(0.1)
    assert S.parse_spec("constant") == ("constant", {})
    assert S.parse_spec("one_cycle:peak=1e-3, total_steps=100, three_phase=True") == (
        "one_cycle",
        {"peak": 1e-3, "total_steps": 100, "three_phase": True},
    )
