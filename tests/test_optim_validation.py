"""Bad hyperparameters raise ValueError naming the argument; traced ones are not inspected."""

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
    register_average,
    schedule_free,
    schedule_free_adam,
    schedule_free_adamw,
    schedule_free_radam,
    schedule_free_sgd,
)

# These tests compile many small programs and run them for milliseconds: compile with LLVM's
# cheap pipeline (same semantics, no fast-math either way; about a third less compile time).
jit = jax.jit  # the cheap compile pipeline comes from the root conftest


BASE = optax.sgd(0.1)

BAD = [
    # (factory, kwargs, argument named in the message)
    (adam, dict(learning_rate=-1e-3), "learning_rate"),
    (adam, dict(learning_rate=float("nan")), "learning_rate"),
    (adam, dict(learning_rate=jnp.array([0.1, -0.1])), "learning_rate"),
    (adam, dict(learning_rate=1e-3, b1=1.0), "b1"),
    (adam, dict(learning_rate=1e-3, b1=-0.1), "b1"),
    (adam, dict(learning_rate=1e-3, b2=1.5), "b2"),
    (adam, dict(learning_rate=1e-3, eps=-1.0), "eps"),
    (adam, dict(learning_rate=1e-3, state_dtype=jnp.int32), "state_dtype"),
    (polyak_average, dict(inner=3), "inner"),
    (polyak_average, dict(inner=BASE, state_dtype="not a dtype"), "state_dtype"),
    (polyak_average, dict(inner=BASE, state_dtype=jnp.int32), "state_dtype"),
    (ema_average, dict(inner=BASE, state_dtype=jnp.uint8), "state_dtype"),
    (ema_average, dict(inner=BASE, decay=1.0), "decay"),
    (ema_average, dict(inner=BASE, decay=-0.5), "decay"),
    (ema_average, dict(inner=BASE, decay=jnp.array(1.2)), "decay"),
    (ema_average, dict(inner=None), "inner"),
    (ema_average, dict(inner=BASE, every_n_steps=0), "every_n_steps"),
    (ema_average, dict(inner=BASE, every_n_steps=2.5), "every_n_steps"),
    (ema_average, dict(inner=BASE, warmup="yes"), "warmup"),
    (ema_average, dict(inner=BASE, warmup=True, warmup_gamma=0.0), "warmup_gamma"),
    (ema_average, dict(inner=BASE, warmup=True, warmup_power=-1.0), "warmup_power"),
    (ema_average, dict(inner=BASE, decay=0.99, min_decay=0.999), "min_decay"),
    (schedule_free_adam, dict(learning_rate=-0.1), "learning_rate"),
    (schedule_free_adam, dict(learning_rate=0.1, b1=0.0, store_x=False), "b1"),
    (schedule_free_adam, dict(learning_rate=0.1, b1=-0.1), "b1"),
    (schedule_free_adam, dict(learning_rate=0.1, store_x=1), "store_x"),
    (schedule_free_adam, dict(learning_rate=0.1, b1=1.0), "b1"),
    (schedule_free_adam, dict(learning_rate=0.1, b2=1.0), "b2"),
    (schedule_free_adam, dict(learning_rate=0.1, eps=-1e-6), "eps"),
    (schedule_free_adam, dict(learning_rate=0.1, average="uniform"), "average"),
    (schedule_free_adam, dict(learning_rate=0.1, average="ema", ema_decay=1.0), "ema_decay"),
    (schedule_free_adamw, dict(learning_rate=-0.1), "learning_rate"),
    (schedule_free_adamw, dict(b1=0.0, store_x=False), "b1"),
    (schedule_free_adamw, dict(b1=0.0, store_x=False), "store_x"),
    (schedule_free_adamw, dict(store_x="no"), "store_x"),
    (schedule_free_adamw, dict(b1=1.0), "b1"),
    (schedule_free_adamw, dict(b1=jnp.array([0.9, 1.5])), "b1"),
    (schedule_free_adamw, dict(b2=1.0), "b2"),
    (schedule_free_adamw, dict(eps=-1.0), "eps"),
    (schedule_free_adamw, dict(weight_decay=-0.01), "weight_decay"),
    (schedule_free_adamw, dict(warmup_steps=-1), "warmup_steps"),
    (schedule_free_adamw, dict(r=-1.0), "r"),
    (schedule_free_adamw, dict(weight_lr_power=-2.0), "weight_lr_power"),
    (schedule_free_adamw, dict(state_dtype=jnp.int8), "state_dtype"),
    (schedule_free_adamw, dict(state_dtype=jnp.bool_), "state_dtype"),
    (schedule_free, dict(base="sgd", learning_rate=0.1), "base"),
    (schedule_free, dict(base=BASE, learning_rate=-0.1), "learning_rate"),
    (schedule_free, dict(base=BASE, learning_rate=0.1, b1=1.2), "b1"),
    (schedule_free, dict(base=BASE, learning_rate=0.1, b1=0.0, store_x=False), "b1"),
    (schedule_free, dict(base=BASE, learning_rate=0.1, r=-1.0), "r"),
    (schedule_free, dict(base=BASE, learning_rate=0.1, weight_lr_power=-1.0), "weight_lr_power"),
    (
        schedule_free,
        dict(base=BASE, learning_rate=0.1, weight_decay_at_y=-1.0),
        "weight_decay_at_y",
    ),
    (schedule_free_adamw, dict(decay_at_z="yes"), "decay_at_z"),
    (schedule_free_sgd, dict(learning_rate=-1.0), "learning_rate"),
    (schedule_free_sgd, dict(b1=0.0, store_x=False), "b1"),
    (schedule_free_sgd, dict(b1=1.0), "b1"),
    (schedule_free_sgd, dict(weight_decay=-0.1), "weight_decay"),
    (schedule_free_sgd, dict(warmup_steps=-5), "warmup_steps"),
    (schedule_free_sgd, dict(r=-0.5), "r"),
    (schedule_free_sgd, dict(weight_lr_power=-1.0), "weight_lr_power"),
    (schedule_free_sgd, dict(state_dtype=jnp.int32), "state_dtype"),
    (schedule_free_radam, dict(learning_rate=-1.0), "learning_rate"),
    (schedule_free_radam, dict(b1=1.0), "b1"),
    (schedule_free_radam, dict(b1=0.0, store_x=False), "b1"),
    (schedule_free_radam, dict(b2=1.0), "b2"),
    (schedule_free_radam, dict(eps=-1.0), "eps"),
    (schedule_free_radam, dict(weight_decay=-0.1), "weight_decay"),
    (schedule_free_radam, dict(r=-1.0), "r"),
    (schedule_free_radam, dict(weight_lr_power=-1.0), "weight_lr_power"),
    (schedule_free_radam, dict(silent_sgd_phase=1), "silent_sgd_phase"),
    (register_average, dict(state_class="EmaAverageState", getter=len), "state_class"),
    (register_average, dict(state_class=tuple, getter=None), "getter"),
]


@pytest.mark.parametrize(
    ("factory", "kwargs", "arg"),
    BAD,
    ids=[f"{f.__name__}-{a}-{i}" for i, (f, _, a) in enumerate(BAD)],
)
def test_bad_hyperparameters_raise_value_error_naming_the_argument(factory, kwargs, arg):
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        factory(**kwargs)


def test_error_message_shows_the_value():
    with pytest.raises(ValueError, match=r"b1=1\.5"):
        schedule_free_adamw(b1=1.5)
    with pytest.raises(ValueError, match="uniform"):
        schedule_free_adam(0.1, average="uniform")
    with pytest.raises(ValueError, match=r"b1=0\.0 and store_x=False"):
        schedule_free_sgd(b1=0.0, store_x=False)
    with pytest.raises(ValueError, match="state_dtype=.*int32"):
        schedule_free_adamw(state_dtype=jnp.int32)


def test_valid_edge_values_are_accepted():
    adam(0.0, b1=0.0, b2=0.0, eps=0.0)
    ema_average(BASE, 0.0)
    ema_average(BASE, 0.9, every_n_steps=np.int64(3), warmup=True, min_decay=0.9)
    schedule_free_adamw(learning_rate=0.0, warmup_steps=0, r=0.0, weight_lr_power=0.0)
    schedule_free_adamw(learning_rate=lambda k: -1.0)  # schedules are validated by their maker
    schedule_free(BASE, 0.1, b1=0.5)
    schedule_free_adamw(b1=0.0)  # x is then stored
    schedule_free_sgd(b1=0.0, store_x=True)
    for dtype in (jnp.float32, jnp.bfloat16, jnp.complex64):
        schedule_free_adamw(state_dtype=dtype)
        ema_average(BASE, state_dtype=dtype)


def test_real_state_dtype_for_complex_parameters_raises_naming_it():
    params = {"w": jnp.ones(2, jnp.complex64)}
    for opt in (
        schedule_free_adamw(state_dtype=jnp.float32),
        schedule_free_sgd(state_dtype=jnp.bfloat16),
        polyak_average(BASE, state_dtype=jnp.float32),
        ema_average(BASE, state_dtype=jnp.float32),
        adam(0.1, state_dtype=jnp.float32),
    ):
        with pytest.raises(ValueError, match=r"state_dtype.*complex.*state_dtype=.*float"):
            opt.init(params)


@pytest.mark.parametrize(
    "opt",
    [
        polyak_average(adam(0.1)),
        ema_average(adam(0.1)),
        schedule_free_adam(0.1),
        schedule_free_adamw(),
        schedule_free_sgd(),
        schedule_free_radam(),
        schedule_free(BASE, 0.1),
    ],
)
def test_update_without_params_raises(opt):
    params = {"w": jnp.ones(3)}
    state = opt.init(params)
    with pytest.raises(ValueError, match="params"):
        opt.update(params, state)


def test_traced_hyperparameters_are_not_inspected():
    """Inside jit/vmap a hyperparameter is a tracer: building the optimizer must not fail or
    force it to a Python number (it would raise a ConcretizationTypeError)."""
    params = {"w": jnp.ones(3)}

    def build_and_step(lr, b1, decay, wd):
        opts = [
            adam(lr, b1=b1),
            ema_average(adam(lr), decay, every_n_steps=2, warmup=True, min_decay=decay * 0.5),
            schedule_free_adam(lr, b1=b1, average="ema", ema_decay=decay),
            schedule_free_adamw(lr, b1=b1, weight_decay=wd, warmup_steps=wd * 100, r=b1),
            schedule_free(optax.sgd(lr), lr, b1=b1, weight_decay_at_y=wd),
            schedule_free_sgd(lr, b1=b1, weight_decay=wd, warmup_steps=wd * 100, r=b1),
            schedule_free_radam(lr, b1=b1, b2=decay, weight_decay=wd, r=b1),
        ]
        out = []
        for opt in opts:
            u, _ = opt.update(params, opt.init(params), params)
            out.append(u["w"])
        return jnp.stack(out)

    u = jit(jax.vmap(build_and_step))(
        jnp.array([0.1, 0.2]), jnp.array([0.9, 0.8]), jnp.array([0.99, 0.9]), jnp.array([0.0, 0.1])
    )
    assert u.shape == (2, 7, 3) and bool(jnp.all(jnp.isfinite(u)))
