"""What the schedule-free states hold: their size against the parameters' (structural, not
timed), where ``x`` is stored, and ``b1 = 0`` (no interpolation: ``x`` must be stored)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import scan_optimizer

from jaxsched.optim import (
    eval_params,
    polyak_average,
    schedule_free,
    schedule_free_adam,
    schedule_free_adamw,
    schedule_free_radam,
    schedule_free_sgd,
)


def make_params(dtype=jnp.float32, norm_dtype=None):
    """Transformer-like leaves (none 0-d), one of them optionally in another dtype."""
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    return {
        "dense": {"w": jax.random.normal(k1, (8, 16), dtype), "b": jnp.zeros(16, dtype)},
        "out": {"w": jax.random.normal(k2, (16, 3), dtype)},
        "norm": jnp.ones(16, norm_dtype or dtype),
    }


def nbytes(tree) -> int:
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree))


def state_size(opt, params) -> tuple[float, int]:
    """(bytes of the state's arrays over the parameters' bytes, bytes of its 0-d leaves)."""
    leaves = jax.tree.leaves(jax.eval_shape(opt.init, params))
    arrays = sum(x.size * x.dtype.itemsize for x in leaves if x.ndim > 0)
    scalars = sum(x.dtype.itemsize for x in leaves if x.ndim == 0)
    return arrays / nbytes(params), scalars


# name -> (optimizer, parameter-sized buffers by default: z and the base's moments)
FAMILY = {
    "schedule_free_adamw": (lambda **kw: schedule_free_adamw(1e-3, **kw), 2),
    "schedule_free_adamw(wd, warmup, r)": (
        lambda **kw: schedule_free_adamw(1e-3, weight_decay=0.1, warmup_steps=10, r=0.5, **kw),
        2,
    ),
    "schedule_free_adam(polyak)": (lambda **kw: schedule_free_adam(1e-3, **kw), 2),
    "schedule_free_adam(ema)": (lambda **kw: schedule_free_adam(1e-3, average="ema", **kw), 2),
    "schedule_free_radam": (lambda **kw: schedule_free_radam(1e-3, **kw), 2),
    "schedule_free_sgd": (lambda **kw: schedule_free_sgd(0.1, weight_decay=0.1, **kw), 1),
    "schedule_free(optax.sgd)": (lambda **kw: schedule_free(optax.sgd(0.1), 0.1, **kw), 1),
    "schedule_free(optax.rmsprop)": (
        lambda **kw: schedule_free(optax.rmsprop(1e-3), 1e-3, weight_decay_at_y=0.1, **kw),
        2,
    ),
}


@pytest.mark.parametrize("name", list(FAMILY))
def test_state_size_on_float32_params(name):
    """The default keeps z and the base's moments (x recovered); store_x=True adds x."""
    make, buffers = FAMILY[name]
    params = make_params()
    ratio, scalars = state_size(make(), params)
    assert ratio == buffers, ratio
    assert 0 < scalars <= 32, scalars  # count, b1, lr_max and the compensated weight sum
    stored, _ = state_size(make(store_x=True), params)
    assert stored == buffers + 1, stored
    assert state_size(make(store_x=False), params)[0] == buffers


def test_schedule_free_adamw_state_is_optax_contrib_size():
    """2.0x the parameters, as optax.contrib.schedule_free_adamw (z and the second moment)."""
    params = make_params()
    ours = schedule_free_adamw(1e-3).init(params)
    peer = optax.contrib.schedule_free_adamw(1e-3).init(params)
    assert state_size(schedule_free_adamw(1e-3), params)[0] <= 2.0
    big = [x for x in jax.tree.leaves(ours) if x.ndim > 0]
    big_peer = [x for x in jax.tree.leaves(peer) if x.ndim > 0]
    assert sum(x.nbytes for x in big) == sum(x.nbytes for x in big_peer) == 2 * nbytes(params)


def test_low_precision_leaves_store_x_by_default():
    """store_x=None keeps x exactly for the leaves narrower than float32 (here the bf16 ones
    beside a float32 norm), in the state dtype."""
    params = make_params(jnp.bfloat16, norm_dtype=jnp.float32)
    state = schedule_free_adamw(1e-3).init(params)
    assert state.x["norm"] is None
    assert all(state.x["dense"][k].dtype == jnp.bfloat16 for k in ("w", "b"))
    assert state.x["out"]["w"].dtype == jnp.bfloat16
    state32 = schedule_free_adamw(1e-3, state_dtype=jnp.float32).init(params)
    assert state32.x["norm"] is None and state32.x["out"]["w"].dtype == jnp.float32
    bf16_bytes = nbytes({k: v for k, v in params.items() if k != "norm"})
    # z, nu and x for the bf16 leaves in float32: 6x their bytes; z, nu for the norm: 2x
    size = sum(x.nbytes for x in jax.tree.leaves(state32) if x.ndim > 0)
    assert size == 6 * bf16_bytes + 2 * params["norm"].nbytes
    # store_x=False keeps no x even there; True keeps it for the float32 leaf too
    assert all(
        v is None
        for v in jax.tree.leaves(
            schedule_free_adamw(1e-3, store_x=False).init(params).x, is_leaf=lambda v: v is None
        )
    )
    assert schedule_free_adamw(1e-3, store_x=True).init(params).x["norm"].dtype == jnp.float32


def test_store_x_and_recovered_x_agree_on_float32():
    params = make_params()
    target = jax.tree.map(lambda p: 0.5 * jnp.ones_like(p), params)

    def grad(p):
        return jax.tree.map(lambda a, t: a - t + 0.1 * jnp.sin(3 * a), p, target)

    runs = {}
    for name, (make, _) in FAMILY.items():
        for store in (False, True):
            runs[name, store] = make(store_x=store)

    def run_all():
        return {
            k: scan_optimizer(opt, params, grad, 50, record=lambda p, s: None)[:2]
            for k, opt in runs.items()
        }

    out = jax.jit(run_all)()
    for name in FAMILY:
        (p0, s0), (p1, s1) = out[name, False], out[name, True]
        e0, e1 = eval_params(s0, p0), eval_params(s1, p1)
        for a, b in zip(jax.tree.leaves((p0, e0)), jax.tree.leaves((p1, e1)), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)
        assert (
            max(
                float(jnp.max(jnp.abs(a - b)))
                for a, b in zip(jax.tree.leaves(e0), jax.tree.leaves(p0), strict=True)
            )
            > 2e-5
        )  # x is not y


# ----------------------------------------------------------------------------- b1 = 0


def test_b1_zero_stores_x_and_is_the_base_with_a_weighted_average():
    """At b1 = 0 the gradient is taken at z: schedule_free_sgd is plain SGD on the parameters
    and its average, with a constant learning rate, the uniform average of the iterates
    (polyak_average(optax.sgd)'s); x cannot come from y = z, so it is stored."""
    params = make_params()
    target = jax.tree.map(lambda p: 0.5 * jnp.ones_like(p), params)

    def grad(p):
        return jax.tree.map(lambda a, t: a - t + 0.1 * jnp.sin(3 * a), p, target)

    opts = {
        "sf": schedule_free_sgd(0.1, b1=0.0),
        "sf_wrapper": schedule_free(optax.sgd(0.1), 0.1, b1=0.0),
        "sgd": polyak_average(optax.sgd(0.1)),
    }
    out = jax.jit(
        lambda: {
            n: scan_optimizer(o, params, grad, 30, record=lambda p, s: None)[:2]
            for n, o in opts.items()
        }
    )()
    p_ref, s_ref = out["sgd"]
    for name in ("sf", "sf_wrapper"):
        p, s = out[name]
        assert all(x is not None for x in jax.tree.leaves(s.x))
        assert jax.tree.structure(s.x) == jax.tree.structure(params)
        for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(p_ref), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=name)
        for a, b in zip(
            jax.tree.leaves(eval_params(s, p)),
            jax.tree.leaves(eval_params(s_ref, p_ref)),
            strict=True,
        ):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)
    assert state_size(schedule_free_adamw(1e-3, b1=0.0), params)[0] == 3


# ----------------------------------------------------------------------------- compiled step


@pytest.mark.parametrize(
    "name", ["schedule_free_adamw", "schedule_free_adamw(wd, warmup, r)", "schedule_free_radam"]
)
def test_compiled_step_allocates_nothing_parameter_sized(name):
    """The donated, jitted step of the Adam-type members writes z, v and y in place: XLA keeps
    no temporary as large as a parameter (the increment is written twice for that, see
    _ZStep.delta_for_y; with one temporary the CPU step was 2x slower, as optax's is).
    Structural, from XLA's buffer assignment; not timed."""
    make, _ = FAMILY[name]
    params = {"w": jnp.ones((256, 512)), "b": jnp.zeros(512)}
    variants = {
        "weight decay at z": schedule_free_adamw(1e-3, weight_decay=0.1, decay_at_z=True),
        name: make(),
    }
    for label, opt in variants.items():

        def step(p, s, g, opt=opt):
            u, s = opt.update(g, s, p)
            return optax.apply_updates(p, u), s

        compiled = (
            jax.jit(step, donate_argnums=(0, 1)).lower(params, opt.init(params), params).compile()
        )
        temp = compiled.memory_analysis().temp_size_in_bytes
        assert temp < params["w"].nbytes // 8, (label, temp)
