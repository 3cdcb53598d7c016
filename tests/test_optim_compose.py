"""jaxsched.optim inside the optax ecosystem: chain, inject_hyperparams, masked, MultiSteps,
flax parameter trees, bf16, donation under jit, vmap over hyperparameters, eval_params."""

from __future__ import annotations

import warnings

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import scan_optimizer, schedule_free_x

from jaxsched.optim import (
    EmaAverageState,
    ScheduleFreeAdamState,
    adam,
    ema_average,
    eval_params,
    polyak_average,
    schedule_free,
    schedule_free_adam,
    schedule_free_adamw,
    schedule_free_radam,
    schedule_free_sgd,
)

# These tests compile many small programs and run them for milliseconds: compile with LLVM's
# cheap pipeline (same semantics, no fast-math either way; about a third less compile time).
jit = jax.jit  # the cheap compile pipeline comes from the root conftest


# ----------------------------------------------------------------------------- a tiny problem


def make_problem(dtype=jnp.float32):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    X = jax.random.normal(k1, (32, 3))
    Y = jnp.sin(X @ jnp.array([1.0, -2.0, 0.5]))[:, None]
    params = {
        "dense": {"w": 0.5 * jax.random.normal(k2, (3, 6)), "b": jnp.zeros(6)},
        "out": {"w": 0.5 * jax.random.normal(k3, (6, 1)), "b": jnp.zeros(1)},
    }
    params = jax.tree.map(lambda p: p.astype(dtype), params)

    def loss(p):
        h = jnp.tanh(X.astype(p["dense"]["w"].dtype) @ p["dense"]["w"] + p["dense"]["b"])
        pred = h @ p["out"]["w"] + p["out"]["b"]
        return jnp.mean((pred.astype(jnp.float32) - Y) ** 2)

    return params, jax.grad(loss)


def trajectories(opts: dict, params, grad, steps=25, grad_transform=None) -> dict:
    """{name: (final params, final state, eval params)}; jit it to compile all in ONE program.

    A value of ``opts`` is an optimizer or an ``(optimizer, grad_transform)`` pair.
    """

    def one(entry):
        if hasattr(entry, "init"):  # an optimizer (GradientTransformation is a tuple too)
            opt, transform = entry, grad_transform
        else:
            opt, transform = entry
        p, s, _ = scan_optimizer(opt, params, grad, steps, transform=transform,
                                 record=lambda p, s: None)
        return p, s, eval_params(s, p)

    return {n: one(o) for n, o in opts.items()}


def train_many(opts: dict, params, grad, steps=25, grad_transform=None) -> dict:
    return jit(lambda: trajectories(opts, params, grad, steps, grad_transform))()


def train(opt, params, grad, steps=25, grad_transform=None):
    return train_many({"_": opt}, params, grad, steps, grad_transform)["_"]


def assert_trees_close(a, b, rtol=1e-6, atol=1e-7):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype, (x.dtype, y.dtype)
        np.testing.assert_allclose(
            np.asarray(x, np.float64), np.asarray(y, np.float64), rtol=rtol, atol=atol
        )


def assert_close(actual, expected, rtol=1e-6, atol=1e-7):
    """``actual`` (a tree of arrays) equals ``expected`` (NumPy, any precision) to tolerance."""
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for x, y in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(np.asarray(x), y, rtol=rtol, atol=atol)


def tree_max_diff(a, b) -> float:
    return max(
        float(jnp.max(jnp.abs(x.astype(jnp.float32) - y.astype(jnp.float32))))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


FACTORIES = {
    "adam": lambda: adam(0.01),
    "polyak": lambda: polyak_average(adam(0.01)),
    "ema": lambda: ema_average(adam(0.01), 0.9),
    "sf_adam_polyak": lambda: schedule_free_adam(0.01),
    "sf_adam_ema": lambda: schedule_free_adam(0.01, average="ema", ema_decay=0.99),
    "sf_adamw": lambda: schedule_free_adamw(0.01, warmup_steps=5, weight_decay=0.01, r=0.5),
    "sf_wrapper": lambda: schedule_free(optax.sgd(0.05), 0.05, b1=0.8),
    "sf_sgd": lambda: schedule_free_sgd(0.05, warmup_steps=5, weight_decay=0.01, r=0.5),
    "sf_radam": lambda: schedule_free_radam(0.01, weight_decay=0.01),
}


# ----------------------------------------------------------------------------- optax.chain


def test_chain_with_clip_and_weight_decay():
    params, grad = make_problem()
    wd = 1e-3
    names = ["ema", "sf_adamw", "sf_wrapper"]

    def by_hand(g, p):
        norm = optax.tree.norm(g)
        g = jax.tree.map(lambda t: t * jnp.minimum(1.0, 0.1 / norm), g)
        return jax.tree.map(lambda t, q: t + wd * q, g, p)

    chain = {
        f"chained/{n}": optax.chain(
            optax.clip_by_global_norm(0.1), optax.add_decayed_weights(wd), FACTORIES[n]()
        )
        for n in names
    }
    manual = {f"manual/{n}": (FACTORIES[n](), by_hand) for n in names}
    plain = {f"plain/{n}": FACTORIES[n]() for n in names}
    out = train_many({**chain, **manual, **plain}, params, grad)
    for n in names:
        p1, _, e1 = out[f"chained/{n}"]
        p2, _, e2 = out[f"manual/{n}"]
        assert_trees_close(p1, p2)
        assert_trees_close(e1, e2)
        # clipping changed the run (the test would notice a chain that skipped it)
        assert tree_max_diff(p1, out[f"plain/{n}"][0]) > 1e-4, n
        # eval params are the average, found inside the chain
        assert tree_max_diff(e1, p1) > 1e-5, n


# ----------------------------------------------------------------------------- inject_hyperparams


INJECTED = {
    "adam": (adam, dict(learning_rate=0.01, b1=0.8, b2=0.99, eps=1e-6)),
    "sf_adamw": (
        schedule_free_adamw,
        dict(learning_rate=0.01, b1=0.85, weight_decay=0.01, warmup_steps=5, r=0.5),
    ),
    "sf_adam": (schedule_free_adam, dict(learning_rate=0.01, average="ema", ema_decay=0.99)),
    "ema": (ema_average, dict(inner=adam(0.01), decay=0.95, every_n_steps=2)),
    "sf_adamw_z": (
        schedule_free_adamw,
        dict(learning_rate=0.01, weight_decay=0.1, decay_at_z=True),
    ),
    "sf_sgd": (schedule_free_sgd, dict(learning_rate=0.05, b1=0.8, weight_decay=0.01)),
    "sf_radam": (
        schedule_free_radam,
        dict(learning_rate=0.01, b2=0.99, weight_decay=0.01, silent_sgd_phase=False),
    ),
}


def test_inject_hyperparams_equals_direct():
    params, grad = make_problem()
    out = train_many(
        {
            **{
                f"injected/{n}": optax.inject_hyperparams(f)(**kw)
                for n, (f, kw) in INJECTED.items()
            },
            **{f"direct/{n}": f(**kw) for n, (f, kw) in INJECTED.items()},
        },
        params,
        grad,
    )
    for n in INJECTED:
        (p1, s1, e1), (p2, _, e2) = out[f"injected/{n}"], out[f"direct/{n}"]
        assert hasattr(s1, "hyperparams")  # the injected state
        assert_trees_close(p1, p2)
        assert_trees_close(e1, e2)


def test_inject_hyperparams_changes_take_effect():
    params, grad = make_problem()
    opt = optax.inject_hyperparams(schedule_free_adamw)(learning_rate=0.01, warmup_steps=3)
    schedule = lambda k: jnp.where(k < 10, 0.01, 0.002)  # noqa: E731
    direct = schedule_free_adamw(learning_rate=schedule, warmup_steps=3)
    step = jit(
        lambda p, s, o=opt: (lambda u, s: (optax.apply_updates(p, u), s))(*o.update(grad(p), s, p))
    )
    state = opt.init(params)
    p = params
    for k in range(20):
        if k == 10:
            state.hyperparams["learning_rate"] = jnp.asarray(0.002)
        p, state = step(p, state)
    p2, _, e2 = train(direct, params, grad, steps=20)
    assert_trees_close(p, p2)
    assert_trees_close(eval_params(state, p), e2)


def test_inject_hyperparams_with_schedule():
    params, grad = make_problem()
    sched = optax.linear_schedule(0.01, 0.001, 20)
    p1, _, e1 = train(
        optax.inject_hyperparams(schedule_free_adamw)(learning_rate=sched, weight_decay=0.01),
        params,
        grad,
    )
    p2, _, e2 = train(schedule_free_adamw(sched, weight_decay=0.01), params, grad)
    assert_trees_close(p1, p2)
    assert_trees_close(e1, e2)


# ----------------------------------------------------------------------------- flax trees


def test_flax_param_dicts():
    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(1)(nn.tanh(nn.Dense(8)(x)))

    model = MLP()
    x = jax.random.normal(jax.random.PRNGKey(1), (16, 3))
    y = jnp.cos(x.sum(-1, keepdims=True))
    variables = model.init(jax.random.PRNGKey(0), x)
    params = variables["params"]
    grad = jax.grad(lambda p: jnp.mean((model.apply({"params": p}, x) - y) ** 2))
    loss0 = float(jnp.mean((model.apply({"params": params}, x) - y) ** 2))
    names = ["polyak", "ema", "sf_adamw", "sf_wrapper"]
    out = train_many({n: FACTORIES[n]() for n in names}, params, grad, steps=30)
    for name, (_, _, e) in out.items():
        assert jax.tree.structure(e) == jax.tree.structure(params), name
        loss = float(jnp.mean((model.apply({"params": e}, x) - y) ** 2))
        assert loss < loss0, name


# ----------------------------------------------------------------------------- bf16


def test_bf16_params_default_state():
    params, grad = make_problem(jnp.bfloat16)
    opts = {n: make() for n, make in FACTORIES.items()}
    # dtypes of one update from abstract evaluation (no compile), values from a real run
    first = jax.eval_shape(
        lambda: {n: o.update(grad(params), o.init(params), params) for n, o in opts.items()}
    )
    trained = train_many(opts, params, grad, steps=10)
    for name, (u, state) in first.items():
        for leaf in jax.tree.leaves(u):
            assert leaf.dtype == jnp.bfloat16, name
        # array state follows the params, scalar bookkeeping stays float32 / int32
        for leaf in jax.tree.leaves(state):
            if leaf.ndim > 0:
                assert leaf.dtype == jnp.bfloat16, (name, leaf.dtype)
            else:
                assert leaf.dtype in (jnp.float32, jnp.int32), (name, leaf.dtype)
    for name, (p, _, e) in trained.items():
        assert all(t.dtype == jnp.bfloat16 for t in jax.tree.leaves(p) + jax.tree.leaves(e))
        assert all(bool(jnp.all(jnp.isfinite(t))) for t in jax.tree.leaves(e)), name


def test_bf16_params_float32_state_tracks_float32_run():
    """With state_dtype=float32, schedule-free on bf16 params follows the float32 run."""
    p32, grad32 = make_problem(jnp.float32)
    p16, grad16 = make_problem(jnp.bfloat16)
    ref = train_many(
        {
            "ours": schedule_free_adamw(0.01, warmup_steps=5),
            "optax": optax.contrib.schedule_free_adamw(0.01, warmup_steps=5),
        },
        p32,
        grad32,
        steps=100,
    )
    _, s32, e32 = ref["ours"]
    out = train_many(
        {
            "f32_state": schedule_free_adamw(0.01, warmup_steps=5, state_dtype=jnp.float32),
            "bf16_state": schedule_free_adamw(0.01, warmup_steps=5),
            # x recovered from the bf16 parameters: every rounding of y becomes an error of x
            "f32_state_recovered": schedule_free_adamw(
                0.01, warmup_steps=5, state_dtype=jnp.float32, store_x=False
            ),
            # optax recovers x from the bf16 params: it drifts from its own float32 run
            # (measured 0.14 after 100 steps, 0.8 after 1000, for parameters of size ~1)
            "optax": optax.contrib.schedule_free_adamw(
                0.01, warmup_steps=5, state_dtype=jnp.float32
            ),
        },
        p16,
        grad16,
        steps=100,
    )
    _, s16, e16 = out["f32_state"]
    _, s_bf, _ = out["bf16_state"]
    # bf16 parameters: x is stored by default, in the state dtype
    assert jax.tree.structure(s16.x) == jax.tree.structure(p16)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(s16.x))
    assert all(leaf.dtype == jnp.bfloat16 for leaf in jax.tree.leaves(s_bf.x))
    # the stored average is the float32 run's to bf16 gradient noise, far below the
    # difference a bf16-state run makes
    err_f32_state = tree_max_diff(s16.x, e32)
    err_bf16_state = tree_max_diff(s_bf.x, e32)
    assert err_f32_state < 0.02
    assert err_f32_state < err_bf16_state / 2
    assert tree_max_diff(e16, e32) < 0.03
    # measured: 0.007 with x stored (the default for bf16 leaves), 0.14 with x recovered
    err_recovered = tree_max_diff(out["f32_state_recovered"][2], e32)
    assert err_recovered > 3 * tree_max_diff(e16, e32)
    assert tree_max_diff(out["optax"][2], ref["optax"][2]) > 5 * tree_max_diff(e16, e32)


def test_weight_sum_is_exact_where_bf16_would_stall():
    """10^5 updates: the compensated float32 weight sum gives c_k = 1/k to ~1e-7."""
    lr = 0.003
    opt = schedule_free_adamw(lr)
    params = {"w": jnp.zeros((2,), jnp.bfloat16)}

    def body(state, _):
        _, state = opt.update({"w": jnp.zeros((2,), jnp.bfloat16)}, state, params)
        return state, None

    state, _ = jit(lambda s: jax.lax.scan(body, s, None, length=100_000))(opt.init(params))
    assert state.weight_sum.dtype == jnp.float32
    total = float(state.weight_sum) + float(state.weight_sum_comp)
    expected = 100_000 * float(np.float32(lr)) ** 2
    assert abs(total - expected) / expected < 1e-6
    # a plain float32 sum of the same weights is visibly off; bf16 would have stalled at ~256
    plain = np.float32(0)
    w = np.float32(np.float32(lr) ** 2)
    for _ in range(100_000):
        plain = np.float32(plain + w)
    assert abs(float(plain) - expected) / expected > 1e-5


# ----------------------------------------------------------------------------- donation


def test_donated_buffers_under_jit():
    params, grad = make_problem()
    opts = {n: make() for n, make in FACTORIES.items()}

    def step(ps, ss):
        out = {n: o.update(grad(ps[n]), ss[n], ps[n]) for n, o in opts.items()}
        return (
            {n: optax.apply_updates(ps[n], u) for n, (u, _) in out.items()},
            {n: s for n, (_, s) in out.items()},
        )

    donating = jit(step, donate_argnums=(0, 1))
    plain = jit(step)
    p_ref = {n: params for n in opts}
    s_ref = {n: o.init(params) for n, o in opts.items()}
    # each optimizer gets its own params; init must not alias them (nor reuse one buffer twice
    # in the state), or donating both would donate a buffer twice
    p_don = {n: jax.tree.map(jnp.copy, params) for n in opts}
    s_don = {n: o.init(p_don[n]) for n, o in opts.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "Some donated buffers were not usable"
        for _ in range(3):
            p_don, s_don = donating(p_don, s_don)
    for _ in range(3):
        p_ref, s_ref = plain(p_ref, s_ref)
    for n in opts:
        assert_trees_close(p_don[n], p_ref[n], rtol=0, atol=0)
        assert_trees_close(
            eval_params(s_don[n], p_don[n]), eval_params(s_ref[n], p_ref[n]), rtol=0, atol=0
        )


# ----------------------------------------------------------------------------- eval_params


def test_eval_params_plain_states_return_params_unchanged():
    params, _ = make_problem()
    for opt in (optax.adam(1e-3), adam(1e-3), optax.chain(optax.clip(1.0), optax.sgd(0.1))):
        assert eval_params(opt.init(params), params) is params


def test_eval_params_before_any_update_is_params():
    params, _ = make_problem()
    for name, make in FACTORIES.items():
        e = eval_params(make().init(params), params)
        assert_trees_close(e, params, rtol=0, atol=0), name


def test_eval_params_through_masked_and_multi_transform():
    params, grad = make_problem()
    mask = {"dense": True, "out": False}
    opt = optax.chain(
        optax.masked(schedule_free_adamw(0.01), mask),
        optax.masked(optax.sgd(0.1), {"dense": False, "out": True}),
    )
    p, s, e = train(opt, params, grad)
    inner = s[0].inner_state
    assert isinstance(inner, ScheduleFreeAdamState)
    assert inner.x["dense"] == {"w": None, "b": None}  # f32: recovered, not stored
    expected = schedule_free_x(inner, {"dense": p["dense"], "out": optax.MaskedNode()})
    assert_close(e["dense"], expected["dense"])
    assert_trees_close(e["out"], p["out"], rtol=0, atol=0)  # not averaged: params
    assert tree_max_diff(e["dense"], p["dense"]) > 1e-5

    labels = {"dense": "avg", "out": "sf"}
    opt = optax.multi_transform(
        {"avg": ema_average(adam(0.01), 0.9), "sf": schedule_free_adamw(0.01)}, labels
    )
    p, s, e = train(opt, params, grad)
    states = [
        leaf
        for leaf in jax.tree.leaves(
            s, is_leaf=lambda n: isinstance(n, (EmaAverageState, ScheduleFreeAdamState))
        )
        if isinstance(leaf, (EmaAverageState, ScheduleFreeAdamState))
    ]
    assert len(states) == 2
    ema_state = next(st for st in states if isinstance(st, EmaAverageState))
    sf_state = next(st for st in states if isinstance(st, ScheduleFreeAdamState))
    assert_trees_close(e["dense"], ema_state.average["dense"], rtol=0, atol=0)
    expected = schedule_free_x(sf_state, {"dense": optax.MaskedNode(), "out": p["out"]})
    assert_close(e["out"], expected["out"])


def test_eval_params_through_multisteps():
    params, grad = make_problem()
    opt = optax.MultiSteps(schedule_free_adamw(0.01), every_k_schedule=2)
    p, s, e = train(opt, params, grad, steps=10)
    assert isinstance(s, optax.MultiStepsState)
    assert_close(e, schedule_free_x(s.inner_opt_state, p))
    # 10 micro-steps = 5 real updates: equal to 5 plain steps on the averaged gradients
    assert int(s.inner_opt_state.count) == 5


def test_eval_params_nested_outer_wins_and_ambiguity_raises():
    params, grad = make_problem()
    opt = ema_average(schedule_free_adamw(0.01), 0.9)
    p, s, e = train(opt, params, grad)
    assert_trees_close(e, s.average, rtol=0, atol=0)
    both = optax.chain(polyak_average(optax.identity()), ema_average(adam(0.01)))
    state = both.init(params)
    with pytest.raises(ValueError, match="more than one"):
        eval_params(state, params)


def test_eval_params_understands_optax_contrib_schedule_free():
    params, grad = make_problem()
    opt = optax.contrib.schedule_free_adamw(0.01)
    p, s, e = train(opt, params, grad)
    assert_trees_close(e, optax.contrib.schedule_free_eval_params(s, p), rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------- vmap


VMAPPED = {
    "adam_lr_b1": (
        lambda hp: adam(hp["lr"], b1=hp["b1"]),
        dict(lr=[0.003, 0.01, 0.03], b1=[0.8, 0.9, 0.95]),
    ),
    "ema_decay": (
        lambda hp: ema_average(adam(hp["lr"]), hp["decay"]),
        dict(lr=[0.01, 0.02, 0.005], decay=[0.5, 0.9, 0.99]),
    ),
    "ema_warmup_every": (
        lambda hp: ema_average(adam(0.01), hp["decay"], every_n_steps=3, warmup=True),
        dict(decay=[0.5, 0.9, 0.99]),
    ),
    "polyak_lr": (lambda hp: polyak_average(adam(hp["lr"])), dict(lr=[0.003, 0.01, 0.03])),
    "sf_adam_ema": (
        lambda hp: schedule_free_adam(hp["lr"], b1=hp["b1"], average="ema", ema_decay=hp["d"]),
        dict(lr=[0.003, 0.01, 0.03], b1=[0.5, 0.9, 0.95], d=[0.9, 0.99, 0.999]),
    ),
    "sf_adamw": (
        lambda hp: schedule_free_adamw(
            hp["lr"], b1=hp["b1"], weight_decay=hp["wd"], warmup_steps=hp["w"], r=hp["r"]
        ),
        dict(
            lr=[0.003, 0.01, 0.03],
            b1=[0.5, 0.9, 0.95],
            wd=[0.0, 0.01, 0.1],
            w=[0.0, 5.0, 10.0],
            r=[0.0, 0.5, 1.0],
        ),
    ),
    "sf_sgd": (
        lambda hp: schedule_free_sgd(
            hp["lr"], b1=hp["b1"], weight_decay=hp["wd"], warmup_steps=hp["w"], r=hp["r"]
        ),
        dict(
            lr=[0.01, 0.05, 0.1],
            b1=[0.5, 0.8, 0.9],
            wd=[0.0, 0.01, 0.1],
            w=[0.0, 5.0, 10.0],
            r=[0.0, 0.5, 1.0],
        ),
    ),
    "sf_radam": (
        lambda hp: schedule_free_radam(hp["lr"], b1=hp["b1"], b2=hp["b2"], weight_decay=hp["wd"]),
        dict(
            lr=[0.003, 0.01, 0.03], b1=[0.5, 0.9, 0.95], b2=[0.99, 0.999, 0.9], wd=[0.0, 0.01, 0.1]
        ),
    ),
    "sf_wrapper_lr": (
        lambda hp: schedule_free(optax.sgd(hp["lr"]), hp["lr"], b1=hp["b1"]),
        dict(lr=[0.01, 0.05, 0.1], b1=[0.5, 0.8, 0.9]),
    ),
}


@pytest.mark.parametrize("name", list(VMAPPED))
def test_vmap_over_hyperparameters_equals_separate_runs(name):
    make, grid = VMAPPED[name]
    params, grad = make_problem()
    steps = 20

    def run(hp):
        p, s, _ = scan_optimizer(make(hp), params, grad, steps, record=lambda p, s: None)
        return p, eval_params(s, p)

    hps = {k: jnp.asarray(v, jnp.float32) for k, v in grid.items()}
    n = len(next(iter(grid.values())))
    # the vmapped sweep and, with Python floats (the static code paths), each run on its own
    (vp, ve), separate = jit(
        lambda hps: (
            jax.vmap(run)(hps),
            [run({k: v[i] for k, v in grid.items()}) for i in range(n)],
        )
    )(hps)
    for i, (p, e) in enumerate(separate):
        assert_trees_close(jax.tree.map(lambda t, i=i: t[i], vp), p, rtol=2e-5, atol=1e-6)
        assert_trees_close(jax.tree.map(lambda t, i=i: t[i], ve), e, rtol=2e-5, atol=1e-6)
    assert tree_max_diff(separate[0][1], separate[1][1]) > 1e-4  # the hyperparameters mattered
