"""jaxsched.compat.torch against learning rates recorded from real torch 2.13.0.

The golden data (tests/data/torch_golden.json) comes from tests/golden/gen_torch_golden.py run
in the torch environment; these tests need no torch. Tolerance: 2e-5 relative to the case's
peak learning rate, float32.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsched import schedules as S
from jaxsched.compat import torch as tc

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "data" / "torch_golden.json"
RTOL_PEAK = 2e-5


def _load_generator():
    spec = importlib.util.spec_from_file_location(
        "gen_torch_golden", HERE / "golden" / "gen_torch_golden.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GEN = _load_generator()
FNS = GEN.named_callables(jnp)
DATA = json.loads(GOLDEN.read_text())
CASES = DATA["cases"]


def _resolve(value):
    if isinstance(value, str) and value.startswith("@"):
        return FNS[value[1:]]
    return value


def build(spec: dict):
    kind, args = spec["kind"], dict(spec["args"])
    if kind in ("sequential_lr", "chained_scheduler"):
        args["schedules"] = [build(s) for s in args["schedules"]]
    args = {k: _resolve(v) for k, v in args.items()}
    return getattr(tc, kind)(**args)


def steps_of(case: dict) -> np.ndarray:
    t = case["t"]
    return np.arange(t["n"] + 1) if isinstance(t, dict) else np.asarray(t)


def ours(case: dict) -> np.ndarray:
    if case["kind"] == "reduce_lr_on_plateau":
        plateau = build(case)
        state = plateau.init()
        out = [plateau.lr(state)]
        for m in case["metrics"]:
            state = plateau.update(state, m)
            out.append(plateau.lr(state))
        return np.asarray(out, dtype=np.float64)
    ts = steps_of(case)
    # pad to a power of two so eager ops reuse their compiled kernels across cases
    padded = np.zeros(1 << max(7, (len(ts) - 1).bit_length()), dtype=np.int32)
    padded[: len(ts)] = ts
    got = build(case)(jnp.asarray(padded))
    return np.asarray(got, dtype=np.float64)[: len(ts)]


def rel_err(case: dict) -> float:
    want = np.asarray(case["lr"], dtype=np.float64)
    got = ours(case)
    assert got.shape == want.shape
    peak = max(np.max(np.abs(want)), 1e-30)
    return float(np.max(np.abs(got - want)) / peak)


def test_golden_file_is_from_torch_2_13():
    assert DATA["torch_version"].startswith("2.13.0")
    kinds = {c["kind"] for c in CASES}
    assert kinds == {
        "step_lr",
        "multi_step_lr",
        "exponential_lr",
        "cosine_annealing_lr",
        "cosine_annealing_warm_restarts",
        "cyclic_lr",
        "one_cycle_lr",
        "polynomial_lr",
        "linear_lr",
        "constant_lr",
        "lambda_lr",
        "multiplicative_lr",
        "sequential_lr",
        "chained_scheduler",
        "reduce_lr_on_plateau",
    }


def _golden_params():
    # hand-picked cases and every third random one by default; the rest of the random grid is
    # marked slow (run with -m slow)
    for c in CASES:
        slow = "random" in c and c["random"] % 3 != 0
        marks = (pytest.mark.slow,) if slow else ()
        yield pytest.param(c, id=c["name"], marks=marks)


@pytest.mark.parametrize("case", list(_golden_params()))
def test_matches_torch(case):
    err = rel_err(case)
    assert err <= RTOL_PEAK, f"{case['name']} {case['args']}: max error {err:.2e} of peak"


# ------------------------------------------------------------------ steps, jit, vmap, scan


def first_case(kind: str) -> dict:
    return next(c for c in CASES if c["kind"] == kind)


SCHEDULE_KINDS = sorted({c["kind"] for c in CASES} - {"reduce_lr_on_plateau"})


@pytest.mark.parametrize("kind", SCHEDULE_KINDS)
def test_jit_vmap_scan_over_steps_agree_with_torch(kind):
    case = first_case(kind)
    sched = build(case)
    ts = steps_of(case)[:64]
    want = np.asarray(case["lr"][:64])
    tol = RTOL_PEAK * np.max(np.abs(case["lr"]))
    t = jnp.asarray(ts, dtype=jnp.int32)
    np.testing.assert_allclose(np.asarray(jax.jit(sched)(t)), want, rtol=0, atol=tol)
    np.testing.assert_allclose(np.asarray(jax.vmap(sched)(t)), want, rtol=0, atol=tol)

    def body(carry, step):
        return carry, sched(step)

    _, scanned = jax.lax.scan(body, 0, t)
    np.testing.assert_allclose(np.asarray(scanned), want, rtol=0, atol=tol)


def test_step_forms_and_shapes():
    sched = tc.step_lr(0.1, step_size=2, gamma=0.5)
    assert sched(3).dtype == jnp.float32 and sched(3).shape == ()
    for step in (3, np.int64(3), np.int16(3), jnp.int32(3), jnp.asarray(3, jnp.uint8), 3.0):
        assert float(sched(step)) == pytest.approx(0.05)
    grid = jnp.arange(12).reshape(3, 4)
    out = sched(grid)
    assert out.shape == (3, 4) and out.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out).ravel(), 0.1 * 0.5 ** (np.arange(12) // 2), 1e-6)
    assert float(sched(-5)) == pytest.approx(0.1)  # negative steps count as step 0
    with pytest.raises(ValueError, match="step"):
        sched(2.5)


def test_every_kind_keeps_the_step_shape():
    grid = jnp.arange(24).reshape(2, 3, 4)
    for kind in SCHEDULE_KINDS:
        out = build(first_case(kind))(grid)
        assert out.shape == (2, 3, 4), kind
        assert out.dtype == jnp.float32, kind


LR_BUILDERS = {
    "step_lr": lambda lr: tc.step_lr(lr, 3, 0.5),
    "multi_step_lr": lambda lr: tc.multi_step_lr(lr, [2, 5], 0.3),
    "exponential_lr": lambda lr: tc.exponential_lr(lr, 0.9),
    "cosine_annealing_lr": lambda lr: tc.cosine_annealing_lr(lr, 7, eta_min=0.001),
    "cosine_annealing_warm_restarts": lambda lr: tc.cosine_annealing_warm_restarts(lr, 3, 2),
    "cyclic_lr": lambda lr: tc.cyclic_lr(lr / 10, lr, step_size_up=3, mode="triangular2"),
    "one_cycle_lr": lambda lr: tc.one_cycle_lr(lr, 20, three_phase=True),
    "polynomial_lr": lambda lr: tc.polynomial_lr(lr, 8, 2.0),
    "linear_lr": lambda lr: tc.linear_lr(lr, 0.2, 1.0, 6),
    "constant_lr": lambda lr: tc.constant_lr(lr, 0.5, 4),
    "lambda_lr": lambda lr: tc.lambda_lr(lr, FNS["warmup_cosine_10_100"]),
    "multiplicative_lr": lambda lr: tc.multiplicative_lr(lr, FNS["half_every_5"]),
    "sequential_lr": lambda lr: tc.sequential_lr(
        [tc.linear_lr(lr, 0.1, 1.0, 5), tc.multiplicative_lr(lr, FNS["const_095"])], [4]
    ),
    "chained_scheduler": lambda lr: tc.chained_scheduler(
        [
            tc.cosine_annealing_lr(lr, 4),
            tc.lambda_lr(lr, FNS["exp_095"]),
            tc.exponential_lr(lr, 0.9),
        ]
    ),
}


@pytest.mark.parametrize("kind", sorted(LR_BUILDERS))
def test_vmap_over_lr(kind):
    make = LR_BUILDERS[kind]
    lrs = jnp.asarray([0.1, 0.5, 2.0])
    t = jnp.arange(30)
    batched = jax.vmap(lambda lr: make(lr)(t))(lrs)
    eager = np.stack([np.asarray(make(float(lr))(t)) for lr in lrs])
    np.testing.assert_allclose(np.asarray(batched), eager, rtol=2e-6, atol=1e-9)


def test_traced_hyperparameters_match_concrete():
    t = jnp.arange(200)
    cases = [
        (lambda g: tc.exponential_lr(0.1, g), 0.97),
        (lambda g: tc.step_lr(0.1, 7, g), 0.5),
        (lambda n: tc.cosine_annealing_lr(0.1, n, 0.01), 30),
        (lambda n: tc.cosine_annealing_warm_restarts(0.1, n, 2, 0.001), 9),
        (lambda n: tc.polynomial_lr(0.1, n, 1.5), 40),
        (lambda n: tc.linear_lr(0.1, 0.1, 1.0, n), 25),
        (lambda n: tc.constant_lr(0.1, 0.25, n), 17),
        (lambda n: tc.step_lr(0.1, n, 0.5), 13),
        (lambda n: tc.one_cycle_lr(0.1, n, 0.25), 150),
        (lambda n: tc.cyclic_lr(0.01, 0.1, n, 5), 11),
        (lambda p: tc.one_cycle_lr(0.1, 150, p, three_phase=True), 0.35),
    ]
    for make, value in cases:
        traced = jax.jit(lambda x, make=make: make(x)(t))(jnp.asarray(value))
        np.testing.assert_allclose(np.asarray(traced), np.asarray(make(value)(t)), atol=1e-6)


def test_multiplicative_under_jit_and_with_max_steps():
    lam = FNS["approach_one_20"]
    t = jnp.arange(0, 300, 7)
    eager = tc.multiplicative_lr(0.5, lam)(t)
    jitted = jax.jit(tc.multiplicative_lr(0.5, lam))(t)  # while_loop per element
    tabled = tc.multiplicative_lr(0.5, lam, max_steps=300)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(jax.jit(tabled)(t)), np.asarray(eager), rtol=1e-5)
    with pytest.raises(ValueError, match="max_steps"):
        tabled(301)
    assert np.isnan(float(jax.jit(tabled)(301)))
    with pytest.raises(ValueError, match="max_steps"):
        tc.multiplicative_lr(0.5, lam, max_steps=0)


def test_one_cycle_reproduces_the_last_step_and_holds_after():
    case = next(
        c
        for c in CASES
        if c["kind"] == "one_cycle_lr" and c["args"].get("anneal_strategy") == "linear"
    )
    total = case["args"]["total_steps"]
    sched = build(case)
    # torch allows exactly total_steps steps; its formula overshoots the end value there
    assert float(sched(total)) == pytest.approx(case["lr"][total], rel=1e-5)
    low = case["args"]["max_lr"] / 25.0 / 1e4
    np.testing.assert_allclose(np.asarray(sched(jnp.arange(total + 1, total + 50))), low, rtol=1e-6)


def test_cosine_annealing_climbs_back_after_t_max():
    sched = tc.cosine_annealing_lr(0.1, T_max=10, eta_min=0.0)
    np.testing.assert_allclose(
        np.asarray(sched(jnp.asarray([10, 15, 20, 30, 40]))), [0.0, 0.05, 0.1, 0.0, 0.1], atol=1e-8
    )


def test_sequential_quirks():
    # ConstantLR(total_iters=0): factor forever on its own, never applied after a milestone
    const0 = tc.constant_lr(0.1, factor=0.5, total_iters=0)
    assert float(const0(7)) == pytest.approx(0.05)
    seq = tc.sequential_lr([tc.exponential_lr(0.1, 0.5), const0], milestones=[3])
    assert float(seq(5)) == pytest.approx(0.1)
    # MultiplicativeLR continues from the inherited lr, times lr_lambda(0)
    seq = tc.sequential_lr(
        [tc.exponential_lr(1.0, 0.5), tc.multiplicative_lr(1.0, lambda e: 0.9 + 0.0 * e)], [3]
    )
    np.testing.assert_allclose(
        np.asarray(seq(jnp.arange(6))), [1, 0.5, 0.25, 0.225, 0.2025, 0.18225], rtol=1e-6
    )
    # torch's spelling of the argument, and plain callables restart at their milestone
    seq = tc.sequential_lr(
        schedulers=[tc.constant_lr(1.0, 0.5, 10), lambda s: 0.01 * s], milestones=[4]
    )
    assert float(seq(9)) == pytest.approx(0.05)


def test_chained_flattens_and_accepts_torch_spelling():
    a = tc.constant_lr(1.0, factor=0.1, total_iters=2)
    b = tc.exponential_lr(1.0, gamma=0.9)
    c = tc.step_lr(1.0, 3, 0.5)
    flat = tc.chained_scheduler([a, b, c])
    nested = tc.chained_scheduler(schedulers=[tc.chained_scheduler([a, b]), c])
    t = jnp.arange(20)
    np.testing.assert_array_equal(np.asarray(flat(t)), np.asarray(nested(t)))


# ------------------------------------------------------------------ ReduceLROnPlateau


PLATEAU_CASES = [c for c in CASES if c["kind"] == "reduce_lr_on_plateau"]


@pytest.mark.parametrize("case", PLATEAU_CASES[:4], ids=[c["name"] for c in PLATEAU_CASES[:4]])
def test_plateau_inside_jit_and_scan(case):
    plateau = build(case)

    @jax.jit
    def run(metrics):
        def body(state, m):
            state = plateau.update(state, m)
            return state, plateau.lr(state)

        return jax.lax.scan(body, plateau.init(), metrics)

    state, lrs = run(jnp.asarray(case["metrics"], jnp.float32))
    np.testing.assert_allclose(np.asarray(lrs), case["lr"][1:], rtol=1e-6)
    assert int(state.last_epoch) == len(case["metrics"])
    assert state.lr.dtype == jnp.float32 and state.num_bad_epochs.dtype == jnp.int32


BOUNDARY_CASES = [c for c in PLATEAU_CASES if c["args"].get("patience") == 1
                  and c["args"].get("factor") == 0.5 and len(c["metrics"]) == 36]


def test_plateau_golden_has_the_float64_boundary_cases():
    assert len(BOUNDARY_CASES) == 5


@pytest.mark.parametrize("case", BOUNDARY_CASES, ids=[c["name"] for c in BOUNDARY_CASES])
def test_plateau_metric_exactly_on_torchs_bar(case):
    """Metrics on torch's float64 bar (not better) and one ulp past it (better), in turn.

    The twin decides as torch does; a float32 decision does not (the control shows that these
    cases can tell the two apart)."""
    np.testing.assert_array_equal(ours(case).astype(np.float32), np.float32(case["lr"]))
    a = {k: v for k, v in case["args"].items() if k != "lr"}
    f32 = S.reduce_on_plateau(**a, precision="float32")
    state, lrs = f32.init(case["args"]["lr"]), [case["args"]["lr"]]
    for m in case["metrics"]:
        state = f32.update(state, m)
        lrs.append(float(f32.lr(state)))
    assert not np.array_equal(np.float32(lrs), np.float32(case["lr"]))


@pytest.mark.parametrize("case", BOUNDARY_CASES[:2], ids=[c["name"] for c in BOUNDARY_CASES[:2]])
def test_plateau_float64_decisions_under_jit_scan_and_vmap(case):
    plateau = build(case)
    metrics = np.asarray(case["metrics"], np.float64)
    # float64 metrics travel as their exact bits when concrete; under jit they are float32
    # arrays, so the scan gets float32-representable metrics and must match the eager loop.
    m32 = metrics.astype(np.float32)

    def eager(ms):
        state, out = plateau.init(), []
        for m in ms:
            state = plateau.update(state, float(m))
            out.append(plateau.lr(state))
        return np.asarray(out)

    @jax.jit
    def scanned(ms):
        def body(state, m):
            state = plateau.update(state, m)
            return state, plateau.lr(state)

        return jax.lax.scan(body, plateau.init(), ms)[1]

    np.testing.assert_array_equal(np.asarray(scanned(jnp.asarray(m32))), eager(m32))
    batched = jax.vmap(scanned)(jnp.stack([jnp.asarray(m32)] * 2))
    np.testing.assert_array_equal(np.asarray(batched[1]), eager(m32))


def test_plateau_order_of_checks():
    # patience 1, cooldown 2: reduce after 2 bad epochs, then forget 2 epochs; min_lr floors
    plateau = tc.reduce_lr_on_plateau(1.0, factor=0.5, patience=1, cooldown=2, min_lr=0.2)
    state = plateau.init()
    lrs = []
    for m in [1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]:
        state = plateau.update(state, m)
        lrs.append(float(plateau.lr(state)))
    # (checked against torch 2.13.0)
    assert lrs == pytest.approx([1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.2])


def test_plateau_vmaps_over_lr():
    plateau_for = lambda lr: tc.reduce_lr_on_plateau(lr, patience=0)  # noqa: E731

    def final(lr):
        p = plateau_for(lr)
        state = p.init()
        for m in [1.0, 1.0, 1.0]:
            state = p.update(state, m)
        return p.lr(state)

    out = jax.vmap(final)(jnp.asarray([1.0, 0.1]))
    np.testing.assert_allclose(np.asarray(out), [0.01, 0.001], rtol=1e-6)


# ------------------------------------------------------------------ validation


def _lam(e):
    return 1.0 + 0.0 * e


BAD_INPUTS = [
    (tc.step_lr, dict(lr=-0.1, step_size=3), "lr"),
    (tc.step_lr, dict(lr=0.1, step_size=0), "step_size"),
    (tc.step_lr, dict(lr=0.1, step_size=2.5), "step_size"),
    (tc.step_lr, dict(lr=0.1, step_size=True), "step_size"),
    (tc.step_lr, dict(lr=0.1, step_size=3, gamma=-0.5), "gamma"),
    (tc.step_lr, dict(lr=float("nan"), step_size=3), "lr"),
    (tc.multi_step_lr, dict(lr=0.1, milestones=[10, 5]), "milestones"),
    (tc.multi_step_lr, dict(lr=0.1, milestones=[-1, 5]), "milestones"),
    (tc.multi_step_lr, dict(lr=0.1, milestones=[1.5]), "milestones"),
    (tc.multi_step_lr, dict(lr=0.1, milestones=5), "milestones"),
    (tc.exponential_lr, dict(lr=0.1, gamma=-0.9), "gamma"),
    (tc.cosine_annealing_lr, dict(lr=0.1, T_max=0), "T_max"),
    (tc.cosine_annealing_lr, dict(lr=0.1, T_max=10, eta_min=-1.0), "eta_min"),
    (tc.cosine_annealing_warm_restarts, dict(lr=0.1, T_0=0), "T_0"),
    (tc.cosine_annealing_warm_restarts, dict(lr=0.1, T_0=5, T_mult=0), "T_mult"),
    (tc.cosine_annealing_warm_restarts, dict(lr=0.1, T_0=5, T_mult=1.5), "T_mult"),
    (tc.cyclic_lr, dict(base_lr=0.1, max_lr=0.01), "base_lr"),
    (tc.cyclic_lr, dict(base_lr=0.01, max_lr=0.1, step_size_up=0), "step_size_up"),
    (tc.cyclic_lr, dict(base_lr=0.01, max_lr=0.1, step_size_down=-1), "step_size_down"),
    (tc.cyclic_lr, dict(base_lr=0.01, max_lr=0.1, mode="triangle"), "mode"),
    (tc.cyclic_lr, dict(base_lr=0.01, max_lr=0.1, scale_mode="epoch"), "scale_mode"),
    (tc.cyclic_lr, dict(base_lr=0.01, max_lr=0.1, scale_fn=3), "scale_fn"),
    (tc.one_cycle_lr, dict(max_lr=0.1, total_steps=0), "total_steps"),
    (tc.one_cycle_lr, dict(max_lr=0.1, total_steps=10, pct_start=1.5), "pct_start"),
    (
        tc.one_cycle_lr,
        dict(max_lr=0.1, total_steps=10, anneal_strategy="cosine"),
        "anneal_strategy",
    ),
    (tc.one_cycle_lr, dict(max_lr=0.1, total_steps=10, div_factor=0.0), "div_factor"),
    (tc.one_cycle_lr, dict(max_lr=0.1, total_steps=10, final_div_factor=-1.0), "final_div_factor"),
    (tc.one_cycle_lr, dict(max_lr=0.1, total_steps=10, three_phase="yes"), "three_phase"),
    (tc.polynomial_lr, dict(lr=0.1, total_iters=-1), "total_iters"),
    (tc.polynomial_lr, dict(lr=0.1, power=-1.0), "power"),
    (tc.linear_lr, dict(lr=0.1, start_factor=0.0), "start_factor"),
    (tc.linear_lr, dict(lr=0.1, start_factor=1.5), "start_factor"),
    (tc.linear_lr, dict(lr=0.1, end_factor=1.5), "end_factor"),
    (tc.linear_lr, dict(lr=0.1, total_iters=-2), "total_iters"),
    (tc.constant_lr, dict(lr=0.1, factor=1.5), "factor"),
    (tc.constant_lr, dict(lr=0.1, total_iters=-1), "total_iters"),
    (tc.lambda_lr, dict(lr=0.1, lr_lambda=0.5), "lr_lambda"),
    (tc.multiplicative_lr, dict(lr=0.1, lr_lambda=None), "lr_lambda"),
    (tc.reduce_lr_on_plateau, dict(lr=0.1, factor=1.0), "factor"),
    (tc.reduce_lr_on_plateau, dict(lr=0.1, mode="maximum"), "mode"),
    (tc.reduce_lr_on_plateau, dict(lr=0.1, threshold_mode="relative"), "threshold_mode"),
    (tc.reduce_lr_on_plateau, dict(lr=0.1, patience=-1), "patience"),
    (tc.reduce_lr_on_plateau, dict(lr=0.1, cooldown=1.5), "cooldown"),
    (tc.reduce_lr_on_plateau, dict(lr=0.1, min_lr=-1.0), "min_lr"),
    (tc.reduce_lr_on_plateau, dict(lr=0.1, eps=-1.0), "eps"),
    (tc.reduce_lr_on_plateau, dict(lr=0.1, threshold=-0.1), "threshold"),
    (tc.sequential_lr, dict(schedules=[], milestones=[]), "schedules"),
    (tc.sequential_lr, dict(schedules=[_lam, _lam], milestones=[]), "milestones"),
    (tc.sequential_lr, dict(schedules=[_lam, _lam], milestones=[5, 6]), "milestones"),
    (tc.sequential_lr, dict(schedules=[_lam, _lam, _lam], milestones=[5, 5]), "milestones"),
    (tc.sequential_lr, dict(schedules=[_lam, 3], milestones=[5]), "schedules"),
    (tc.chained_scheduler, dict(schedules=[_lam]), "schedules"),
    (tc.chained_scheduler, dict(schedules=[]), "schedules"),
]


@pytest.mark.parametrize(
    "fn,kwargs,arg",
    BAD_INPUTS,
    ids=[f"{f.__name__}-{a}-{i}" for i, (f, _, a) in enumerate(BAD_INPUTS)],
)
def test_bad_inputs_raise_value_error_naming_the_argument(fn, kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        fn(**kwargs)


def test_composition_rejects_what_torch_cannot_chain():
    with pytest.raises(ValueError, match="eta_min"):
        tc.chained_scheduler(
            [tc.cosine_annealing_lr(0.1, 10, eta_min=0.01), tc.exponential_lr(0.1, 0.9)]
        )
    with pytest.raises(ValueError, match="lr"):
        tc.chained_scheduler([tc.exponential_lr(0.1, 0.9), tc.step_lr(0.2, 3)])
    seq = tc.sequential_lr([tc.exponential_lr(0.1, 0.9), tc.step_lr(0.1, 3)], [5])
    with pytest.raises(ValueError, match="schedules"):
        tc.chained_scheduler([seq, tc.exponential_lr(0.1, 0.9)])
    with pytest.raises(ValueError, match="schedules"):
        tc.sequential_lr([seq, tc.exponential_lr(0.1, 0.9)], [5])
    with pytest.raises(ValueError, match="schedules"):
        tc.sequential_lr([tc.reduce_lr_on_plateau(0.1), tc.exponential_lr(0.1, 0.9)], [5])
    with pytest.raises(ValueError, match="schedules"):
        tc.sequential_lr(schedules=[_lam], schedulers=[_lam], milestones=[])


def test_callables_written_for_one_step_work_on_arrays():
    # lax.cond only takes a scalar predicate: the lambda is vmapped over an array of steps
    lam = lambda e: jax.lax.cond(e < 5, lambda: 0.5, lambda: 1.0)  # noqa: E731
    t = jnp.arange(10)
    np.testing.assert_allclose(
        np.asarray(tc.lambda_lr(0.1, lam)(t)), np.where(np.arange(10) < 5, 0.05, 0.1), rtol=1e-6
    )
    mult = tc.multiplicative_lr(1.0, lam)
    want = np.cumprod(np.where(np.arange(10) < 5, 0.5, 1.0)) / 0.5
    np.testing.assert_allclose(np.asarray(mult(t)), want, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.jit(mult)(t)), want, rtol=1e-6)
    const = tc.multiplicative_lr(1.0, lambda e: 0.5)
    np.testing.assert_allclose(np.asarray(const(t)), 0.5 ** np.arange(10), rtol=1e-6)
    cyc = tc.cyclic_lr(
        0.0, 1.0, 2, scale_fn=lambda c: jax.lax.cond(c > 1, lambda: 0.5, lambda: 1.0)
    )
    np.testing.assert_allclose(np.asarray(cyc(jnp.asarray([2, 6]))), [1.0, 0.5], rtol=1e-6)


def test_chained_takes_separate_arguments():
    a, b = tc.constant_lr(1.0, 0.1, 2), tc.exponential_lr(1.0, 0.9)
    t = jnp.arange(6)
    np.testing.assert_array_equal(
        np.asarray(tc.chained_scheduler(a, b)(t)), np.asarray(tc.chained_scheduler([a, b])(t))
    )
    np.testing.assert_array_equal(np.asarray(tc.chained_scheduler(a)(t)), np.asarray(a(t)))
