"""Migrating from ``optax.contrib`` (one test per difference in the README's migration table),
and learning-rate-free bases (Prodigy, D-Adaptation) under ``schedule_free``.

The differences with a golden-data test live in ``test_optim_golden.py`` (the warmup step
offset: ``test_optax_contrib_differs_with_warmup``; agreement without it:
``test_optax_contrib_agrees_without_warmup``) and ``test_optim_compose.py`` (bf16 recovery of
x: ``test_bf16_params_float32_state_tracks_float32_run``); the rest are here.
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import scan_optimizer

from jaxsched.optim import (
    eval_params,
    schedule_free,
    schedule_free_adamw,
    schedule_free_sgd,
)
from tests.test_optim_compose import make_problem, train_many, tree_max_diff

_CACHE: dict = {}


def migration_runs():
    """Every optimizer of this module's migration tests, trained together (one compile)."""
    if not _CACHE:
        lr, wd = 0.01, 0.1
        opts = {
            # weight decay at y inside the wrapper: optax hands y to the base, ours hands z
            "optax_wrap_adamw": optax.contrib.schedule_free(
                optax.adamw(lr, b1=0.0, weight_decay=wd), lr
            ),
            "ours_wrap_adam_wd_at_y": schedule_free(
                optax.adam(lr, b1=0.0), lr, weight_decay_at_y=wd
            ),
            "ours_wrap_adamw": schedule_free(optax.adamw(lr, b1=0.0, weight_decay=wd), lr),
            # schedule_free_adamw decays at y like optax's; decay_at_z has no optax twin
            "optax_sf_adamw_wd": optax.contrib.schedule_free_adamw(lr, weight_decay=wd),
            "ours_sf_adamw_wd": schedule_free_adamw(lr, weight_decay=wd),
            "ours_sf_adamw_wd_z": schedule_free_adamw(lr, weight_decay=wd, decay_at_z=True),
            # r: polynomial weights of the average
            "ours_sf_adamw_r0": schedule_free_adamw(lr),
            "ours_sf_adamw_r1": schedule_free_adamw(lr, r=1.0),
            # SGD: same algorithm without warmup; with warmup optax's first step is lr = 0
            "optax_sf_sgd": optax.contrib.schedule_free_sgd(0.05, weight_decay=0.01),
            "ours_sf_sgd": schedule_free_sgd(0.05, weight_decay=0.01),
            "optax_sf_sgd_warmup": optax.contrib.schedule_free_sgd(0.05, warmup_steps=10),
            "ours_sf_sgd_warmup": schedule_free_sgd(0.05, warmup_steps=10),
        }
        params, grad = make_problem()
        _CACHE["out"] = train_many(opts, params, grad, steps=60)
        _CACHE["params"] = params
    return _CACHE["out"]


def test_wrapper_base_weight_decay_acts_at_z_use_weight_decay_at_y():
    out = migration_runs()
    optax_x = out["optax_wrap_adamw"][2]
    # optax.contrib.schedule_free(adamw) == schedule_free(adam, weight_decay_at_y=wd)
    assert tree_max_diff(out["ours_wrap_adam_wd_at_y"][2], optax_x) < 1e-5
    # ... while schedule_free(adamw) decays at z, as ScheduleFreeWrapperReference does
    assert tree_max_diff(out["ours_wrap_adamw"][2], optax_x) > 1e-3


def test_schedule_free_adamw_decays_at_y_like_optax_and_decay_at_z_differs():
    out = migration_runs()
    optax_x = out["optax_sf_adamw_wd"][2]
    assert tree_max_diff(out["ours_sf_adamw_wd"][2], optax_x) < 1e-5
    assert tree_max_diff(out["ours_sf_adamw_wd_z"][2], optax_x) > 1e-3


def test_r_has_no_optax_counterpart_and_changes_the_average():
    assert "r" not in inspect.signature(optax.contrib.schedule_free_adamw).parameters
    assert "r" not in inspect.signature(optax.contrib.schedule_free).parameters
    out = migration_runs()
    assert tree_max_diff(out["ours_sf_adamw_r1"][2], out["ours_sf_adamw_r0"][2]) > 1e-3


def test_schedule_free_sgd_agrees_with_optax_without_warmup_not_with_it():
    out = migration_runs()
    assert tree_max_diff(out["ours_sf_sgd"][2], out["optax_sf_sgd"][2]) < 1e-5
    assert tree_max_diff(out["ours_sf_sgd"][0], out["optax_sf_sgd"][0]) < 1e-5
    # warmup: optax's SGD evaluates warmup_constant_schedule at the 0-based count (lr = 0 at
    # the first step), its weights at the 1-based one; ours uses (k+1)/warmup for both
    assert tree_max_diff(out["ours_sf_sgd_warmup"][2], out["optax_sf_sgd_warmup"][2]) > 1e-3


def test_eval_params_reads_optax_contrib_sgd_states():
    out = migration_runs()
    p, s, e = out["optax_sf_sgd"]
    expected = optax.contrib.schedule_free_eval_params(s, p)
    assert tree_max_diff(e, expected) == 0.0
    assert tree_max_diff(e, p) > 1e-3  # x is not y


# ----------------------------------------------------------------------------- LR-free bases


def _lr_free_runs(steps=40):
    params, grad = make_problem()
    opts = {
        "prodigy": optax.contrib.prodigy(1.0),
        "sf_prodigy": schedule_free(optax.contrib.prodigy(1.0, betas=(0.0, 0.999)), 1.0),
        "sf_dadapt": schedule_free(optax.contrib.dadapt_adamw(1.0, betas=(0.0, 0.999)), 1.0),
    }

    def one(opt):
        return scan_optimizer(opt, params, grad, steps,
                              record=lambda p, s: (s, eval_params(s, p)))[2]

    return jax.jit(lambda: {n: one(o) for n, o in opts.items()})()


def test_prodigy_and_dadapt_compose_and_weight_the_average_by_their_estimate():
    """The average weights z_{k+1} by (lr * d_k)^2 with d_k the base's estimate after the step
    (``lr_max`` the running maximum), as ScheduleFreeWrapperReference does with group['d']."""
    runs = _lr_free_runs()
    for name in ("sf_prodigy", "sf_dadapt"):
        states, evals = runs[name]
        d = np.asarray(states.base_state.estim_lr, np.float64)
        assert d[-1] > 10 * d[0], (name, d[0], d[-1])  # the estimate really grows
        w = np.maximum.accumulate(1.0 * d) ** 2
        z = np.asarray(states.z["out"]["w"], np.float64)  # (steps, 6, 1)
        x = np.asarray(evals["out"]["w"], np.float64)
        expected = np.cumsum(w[:, None, None] * z, axis=0) / np.cumsum(w)[:, None, None]
        np.testing.assert_allclose(x, expected, rtol=2e-4, atol=1e-6)
        # with unweighted averaging (lr_max constant) the early, tiny-step iterates would weigh
        # as much as the late ones: a measurably different average
        uniform = np.cumsum(z, axis=0) / np.arange(1, len(z) + 1)[:, None, None]
        assert np.max(np.abs(uniform[-1] - x[-1])) > 1e-3


def test_two_learning_rate_estimates_in_one_base_raise():
    opt = schedule_free(
        optax.chain(
            optax.contrib.prodigy(1.0, betas=(0.0, 0.999)),
            optax.contrib.dadapt_adamw(1.0, betas=(0.0, 0.999)),
        ),
        1.0,
    )
    params = {"w": jnp.ones(2)}
    with pytest.raises(ValueError, match="more than one learning-rate estimate"):
        opt.update({"w": jnp.ones(2)}, opt.init(params), params)
