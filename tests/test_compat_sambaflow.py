"""jaxsched.compat.sambaflow against a NumPy transcription of SambaFlow's scheduler guide.

The guide (seed 000): ``learning_rate`` is the peak; ``warmup_steps`` steps of linear increase
up to it (0: no warmup); decay over ``max_steps`` down to ``end_lr_ratio`` x peak (0.1 for the
cosine schedule, 0.0 for the "polynomial" one, whose decay is always linear); ``fixed_lr`` keeps
``learning_rate`` throughout.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsched.compat import sambaflow as sf


def reference(kind: str, learning_rate, warmup_steps, max_steps, end_lr_ratio, steps):
    """Step-by-step float64 transcription, written independently of the JAX code."""
    out = []
    end = end_lr_ratio * learning_rate
    for t in steps:
        t = int(t)
        if t < warmup_steps:
            out.append(learning_rate * t / warmup_steps)
            continue
        progress = min(1.0, (t - warmup_steps) / (max_steps - warmup_steps))
        if kind == "cosine":
            shape = 0.5 * (1.0 + math.cos(math.pi * progress))
        else:
            shape = 1.0 - progress
        out.append(end + (learning_rate - end) * shape)
    return np.asarray(out)


CONFIGS = [
    (1e-3, 100, 1000),
    (0.1, 0, 50),
    (3e-4, 1, 10),
    (2.0, 37, 38),
    (5e-2, 250, 10_000),
]


@pytest.mark.parametrize("ratio", [None, 0.0, 0.25, 1.0])
def test_matches_reference(ratio):
    for lr, warmup, total in CONFIGS:
        steps = np.unique(
            np.concatenate(
                [
                    np.arange(0, min(total, 400) + 3),
                    np.linspace(0, 2 * total, 257).astype(int),
                    [warmup - 1, warmup, warmup + 1, total - 1, total, total + 1],
                ]
            )
        )
        steps = steps[steps >= 0]
        padded = np.zeros(1024, np.int32)  # one shape: eager ops compile once
        padded[: len(steps)] = steps
        for kind, fn, default in [
            ("cosine", sf.cosine_schedule_with_warmup, 0.1),
            ("linear", sf.polynomial_decay_schedule_with_warmup, 0.0),
        ]:
            kw = {} if ratio is None else {"end_lr_ratio": ratio}
            sched = fn(lr, warmup, total, **kw)
            got = np.asarray(sched(jnp.asarray(padded)), dtype=np.float64)[: len(steps)]
            want = reference(kind, lr, warmup, total, default if ratio is None else ratio, steps)
            np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 * lr, err_msg=f"{kind} {lr}")


def test_landmarks():
    cos = sf.cosine_schedule_with_warmup(1e-3, warmup_steps=10, max_steps=110)
    lin = sf.polynomial_decay_schedule_with_warmup(1e-3, warmup_steps=10, max_steps=110)
    for sched in (cos, lin):
        assert float(sched(0)) == 0.0  # warmup starts from zero
        assert float(sched(5)) == pytest.approx(5e-4)
        assert float(sched(10)) == pytest.approx(1e-3)  # the peak at the end of warmup
    assert float(cos(60)) == pytest.approx(0.55e-3)  # halfway between peak and 0.1 x peak
    assert float(cos(110)) == pytest.approx(1e-4) and float(cos(10**6)) == pytest.approx(1e-4)
    assert float(lin(60)) == pytest.approx(0.5e-3)
    assert float(lin(110)) == 0.0 and float(lin(10**6)) == 0.0
    no_warm = sf.cosine_schedule_with_warmup(0.1, warmup_steps=0, max_steps=10)
    assert float(no_warm(0)) == pytest.approx(0.1)


def test_fixed_lr():
    sched = sf.fixed_lr(3e-4)
    out = sched(jnp.arange(6).reshape(2, 3))
    assert out.shape == (2, 3) and out.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out), 3e-4, rtol=1e-7)
    assert float(jax.jit(sched)(10**6)) == pytest.approx(3e-4)


def test_jit_vmap_and_traced_hyperparameters():
    t = jnp.arange(0, 300, 3)
    sched = sf.cosine_schedule_with_warmup(1e-3, 20, 250)
    eager = np.asarray(sched(t))
    np.testing.assert_allclose(np.asarray(jax.jit(sched)(t)), eager, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.vmap(sched)(t)), eager, rtol=1e-6)

    lrs = jnp.asarray([1e-3, 3e-3])
    swept = jax.vmap(lambda lr: sf.polynomial_decay_schedule_with_warmup(lr, 20, 250)(t))(lrs)
    for i, lr in enumerate([1e-3, 3e-3]):
        want = reference("linear", lr, 20, 250, 0.0, np.asarray(t))
        np.testing.assert_allclose(np.asarray(swept[i]), want, atol=2e-6 * lr)

    traced = jax.jit(lambda w, m: sf.cosine_schedule_with_warmup(1e-3, w, m, 0.2)(t))(20, 250)
    want = reference("cosine", 1e-3, 20, 250, 0.2, np.asarray(t))
    np.testing.assert_allclose(np.asarray(traced), want, atol=2e-9)


@pytest.mark.parametrize(
    "fn,kwargs,arg",
    [
        (
            sf.cosine_schedule_with_warmup,
            dict(learning_rate=-1e-3, warmup_steps=1, max_steps=5),
            "learning_rate",
        ),
        (
            sf.cosine_schedule_with_warmup,
            dict(learning_rate=1e-3, warmup_steps=-1, max_steps=5),
            "warmup_steps",
        ),
        (
            sf.cosine_schedule_with_warmup,
            dict(learning_rate=1e-3, warmup_steps=1.5, max_steps=5),
            "warmup_steps",
        ),
        (
            sf.cosine_schedule_with_warmup,
            dict(learning_rate=1e-3, warmup_steps=0, max_steps=0),
            "max_steps",
        ),
        (
            sf.cosine_schedule_with_warmup,
            dict(learning_rate=1e-3, warmup_steps=5, max_steps=5),
            "warmup_steps",
        ),
        (
            sf.cosine_schedule_with_warmup,
            dict(learning_rate=1e-3, warmup_steps=1, max_steps=5, end_lr_ratio=1.5),
            "end_lr_ratio",
        ),
        (
            sf.polynomial_decay_schedule_with_warmup,
            dict(learning_rate=1e-3, warmup_steps=1, max_steps=5, end_lr_ratio=-0.1),
            "end_lr_ratio",
        ),
        (
            sf.polynomial_decay_schedule_with_warmup,
            dict(learning_rate=float("inf"), warmup_steps=1, max_steps=5),
            "learning_rate",
        ),
        (sf.fixed_lr, dict(learning_rate=-1.0), "learning_rate"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_argument(fn, kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        fn(**kwargs)


def test_non_integer_step_is_rejected():
    with pytest.raises(ValueError, match="step"):
        sf.fixed_lr(1e-3)(0.5)
