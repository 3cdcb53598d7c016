"""Schedule-free optimizers against the real PyTorch references (golden data, no torch needed).

``tests/data/schedulefree_golden.npz`` holds 300-step float64 trajectories of
``schedulefree.AdamWScheduleFreeReference`` (eight configurations: warmup, weight decay, r > 0,
weight_lr_power != 2, b1 != 0.9, a decaying lr schedule, a zero first lr; two more with
``decay_at_z=True``), of ``SGDScheduleFreeReference`` / ``SGDScheduleFree``, of
``RAdamScheduleFree`` (silent SGD phase on and off) and of ``ScheduleFreeWrapperReference``
around torch SGD / Adam(b1=0) (``weight_decay_at_y`` on and off), written by
``tests/golden/gen_schedulefree_golden.py``. We replay the same problem (a 2-layer tanh MLP
regression) with ``jaxsched.optim`` in float64 and float32 and compare the parameters ``y``
and the averages ``x``.

``optax.contrib.schedule_free_adamw`` is also compared: it agrees without warmup and not with
it (its warmup schedule is evaluated one step early by the base Adam, see
``schedule_free_adamw``'s docstring).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
    schedule_free_radam,
    schedule_free_sgd,
)

# These tests compile many small programs and run them for milliseconds: compile with LLVM's
# cheap pipeline (same semantics, no fast-math either way; about a third less compile time).
jit = jax.jit  # the cheap compile pipeline comes from the root conftest


GOLDEN = Path(__file__).parent / "data" / "schedulefree_golden.npz"
GENERATOR = Path(__file__).parent / "golden" / "gen_schedulefree_golden.py"
DATA = np.load(GOLDEN)
META = json.loads(str(DATA["meta_json"]))
STEPS = META["steps"]
RECORD = np.array(META["record"]) - 1  # indices into per-step arrays
NAMES = META["param_names"]

# Measured max relative errors over y and x at the recorded steps: float64 <= 2e-15, float32
# <= 1.1e-6 (5e-6 for the wrapper around optax.adam, whose float32 bias corrections lose digits).
TOL64, TOL32 = 1e-12, 2e-5
ERRORS: dict[str, tuple[float, float]] = {}


def problem(dtype):
    X = jnp.asarray(DATA["X"], dtype)
    Y = jnp.asarray(DATA["Y"], dtype)
    params = {k: jnp.asarray(DATA[f"init/{k}"], dtype) for k in NAMES}

    def loss(p):
        pred = jnp.tanh(X @ p["W1"] + p["c1"]) @ p["W2"] + p["c2"]
        return jnp.mean((pred - Y) ** 2)

    return params, jax.value_and_grad(loss)


def _trajectory(opt, params, vg):
    return scan_optimizer(opt, params, vg, STEPS, has_aux=True,
                          record=lambda p, s, loss: (p, eval_params(s, p), loss))[2]


def _to_numpy(ps, xs, losses, batched=False):
    """Trees of ([n,] STEPS, *shape) -> ([n,] len(RECORD), n_params) float64 at RECORD."""
    lead = 2 if batched else 1

    def flat(t):
        arrs = [np.asarray(t[k], np.float64) for k in NAMES]
        arrs = [a.reshape(*a.shape[:lead], -1) for a in arrs]
        return np.concatenate(arrs, axis=-1)[..., RECORD, :]

    return flat(ps), flat(xs), np.asarray(losses, np.float64)


def run_many(opts: dict, dtype) -> dict:
    """{name: (y, x, loss)} for several optimizers, compiled as ONE program (compiles dominate)."""
    params, vg = problem(dtype)
    outs = jit(lambda p: {n: _trajectory(o, p, vg) for n, o in opts.items()})(params)
    return {n: _to_numpy(*o) for n, o in outs.items()}


def lr_table(cfg) -> np.ndarray:
    """The learning rate torch's group["lr"] holds before each step (before warmup)."""
    k = np.arange(STEPS, dtype=np.float64)
    sched = cfg.get("lr_schedule")
    if sched is None:
        factor = np.ones_like(k)
    elif sched == "linear400":
        factor = 1.0 - k / 400.0
    elif sched == "ramp10":
        factor = np.minimum(1.0, k / 10.0)
    else:
        raise AssertionError(sched)
    return cfg["lr"] * factor


def _hyper(cfg) -> dict[str, float]:
    b1, b2 = cfg.get("betas", (0.9, 0.999))
    return dict(
        b1=b1,
        b2=b2,
        eps=cfg.get("eps", 1e-8),
        weight_decay=cfg.get("weight_decay", 0.0),
        warmup_steps=cfg.get("warmup_steps", 0),
        r=cfg.get("r", 0.0),
        weight_lr_power=cfg.get("weight_lr_power", 2.0),
    )


def adamw_from_config(cfg, **options):
    """Our optimizer for a golden config, with plain Python hyperparameters."""
    assert cfg.get("lr_schedule") is None
    return schedule_free_adamw(learning_rate=cfg["lr"], **_hyper(cfg), **options)


def run_all_adamw_traced(dtype) -> dict:
    """Every golden AdamW config in one compiled program: ``vmap`` over the configs.

    All hyperparameters are traced arrays and the learning rate is a callable indexing a
    traced per-step table: the way the trainer builds its optimizers for a sweep.
    """
    names = list(META["adamw"])
    cfgs = [META["adamw"][n] for n in names]
    hyper = {k: jnp.asarray([_hyper(c)[k] for c in cfgs], dtype) for k in _hyper(cfgs[0])}
    tables = jnp.asarray(np.stack([lr_table(c) for c in cfgs]), dtype)
    params, vg = problem(dtype)

    def one(hp, table):
        opt = schedule_free_adamw(learning_rate=lambda k: table[k], **hp)
        return _trajectory(opt, params, vg)

    ys, xs, losses = _to_numpy(*jit(jax.vmap(one))(hyper, tables), batched=True)
    return {n: (ys[i], xs[i], losses[i]) for i, n in enumerate(names)}


def wrapper_from_config(cfg, **options):
    lr = cfg["lr"]
    if cfg["base"] == "sgd":
        base = optax.sgd(lr)
    else:
        b1, b2 = cfg["base_betas"]
        base = optax.adam(lr, b1=b1, b2=b2, eps=cfg["base_eps"])
    return schedule_free(
        base,
        learning_rate=lr,
        b1=cfg["momentum"],
        weight_lr_power=cfg.get("weight_lr_power", 2.0),
        r=cfg.get("r", 0.0),
        weight_decay_at_y=cfg.get("weight_decay_at_y", 0.0),
        **options,
    )


def _optax_sf(cfg):
    b1, b2 = cfg.get("betas", (0.9, 0.999))
    return optax.contrib.schedule_free_adamw(
        cfg["lr"],
        warmup_steps=cfg.get("warmup_steps") or None,
        b1=b1,
        b2=b2,
        eps=cfg.get("eps", 1e-8),
        weight_decay=cfg.get("weight_decay", 0.0),
        weight_lr_power=cfg.get("weight_lr_power", 2.0),
    )


def family_from_config(cfg, **options):
    """schedule_free_sgd / schedule_free_radam / schedule_free_adamw(decay_at_z) for a config."""
    cfg = dict(cfg)
    cls = cfg.pop("cls")
    lr = cfg.pop("lr")
    common = dict(
        weight_decay=cfg.pop("weight_decay", 0.0),
        r=cfg.pop("r", 0.0),
        weight_lr_power=cfg.pop("weight_lr_power", 2.0),
    )
    common.update(options)
    if cls.startswith("SGDScheduleFree"):
        common.update(b1=cfg.pop("momentum", 0.9), warmup_steps=cfg.pop("warmup_steps", 0))
        opt = schedule_free_sgd(lr, **common)
    else:
        b1, b2 = cfg.pop("betas", (0.9, 0.999))
        common.update(b1=b1, b2=b2, eps=cfg.pop("eps", 1e-8))
        if cls == "RAdamScheduleFree":
            opt = schedule_free_radam(
                lr, silent_sgd_phase=cfg.pop("silent_sgd_phase", True), **common
            )
        else:
            assert cls == "AdamWScheduleFreeReference", cls
            opt = schedule_free_adamw(
                lr,
                warmup_steps=cfg.pop("warmup_steps", 0),
                decay_at_z=cfg.pop("decay_at_z", False),
                **common,
            )
    assert not cfg, cfg  # every reference option is mapped
    return opt


# Python-float hyperparameters: the static fast paths (zero decay / warmup / r skipped) and
# the static nonzero ones; the no-warmup configs are also run through optax.contrib.
STATIC_ADAMW = ["default", "everything", "decay_no_warmup", "warmup_wd"]
OPTAX_CONFIGS = ["default", "decay_no_warmup", "warmup_wd"]


def _static_bundle(dtype) -> dict:
    opts = {}
    # every static config twice: x recovered from the parameters (the default on float32 and
    # float64) and x stored in the state (store_x=True)
    for prefix, options in (("", {}), ("store_x/", {"store_x": True})):
        opts.update(
            {prefix + n: adamw_from_config(META["adamw"][n], **options) for n in STATIC_ADAMW}
        )
        opts.update(
            {prefix + n: wrapper_from_config(c, **options) for n, c in META["wrapper"].items()}
        )
        opts.update(
            {prefix + n: family_from_config(c, **options) for n, c in META["family"].items()}
        )
    if dtype == jnp.float32:
        opts.update({f"optax/{n}": _optax_sf(META["adamw"][n]) for n in OPTAX_CONFIGS})
    return run_many(opts, dtype)


_CACHE: dict = {}


def results(kind: str, dtype) -> dict:
    """Cached {name: (y, x, loss)}: kind "traced" (vmapped) or "static" (Python floats)."""
    key = (kind, jnp.dtype(dtype).name)
    if key not in _CACHE:
        fn = run_all_adamw_traced if kind == "traced" else _static_bundle
        if dtype == jnp.float64:
            with jax.enable_x64(True):
                _CACHE[key] = fn(jnp.float64)
        else:
            _CACHE[key] = fn(jnp.float32)
    return _CACHE[key]


def _rel_err(a, b) -> float:
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def _check(name, kind, prefix=""):
    """Our run ``prefix + name`` against the golden trajectory ``name``."""
    gy, gx, gloss = DATA[f"{name}/y"], DATA[f"{name}/x"], DATA[f"{name}/loss"]
    y64, x64, loss64 = results(kind, jnp.float64)[prefix + name]
    y32, x32, _ = results(kind, jnp.float32)[prefix + name]
    errs = (
        max(_rel_err(y64, gy), _rel_err(x64, gx)),
        max(_rel_err(y32, gy), _rel_err(x32, gx)),
    )
    ERRORS[f"{kind}/{prefix}{name}"] = errs
    assert errs[0] < TOL64, errs
    assert errs[1] < TOL32, errs
    np.testing.assert_allclose(loss64, gloss, rtol=1e-10)
    # the average is a real average (the comparison of x is not a copy of y's)
    assert np.max(np.abs(gx[-1] - gy[-1])) > 1e-3


# Few tests, each using one cached pair of compiled programs: under pytest-xdist every worker
# that runs a test needing a bundle compiles it, and compiling dominates the time.


def test_schedule_free_adamw_matches_reference_traced_hyperparameters():
    for name in META["adamw"]:
        _check(name, "traced")


def test_python_hyperparameters_and_wrapper_match_reference():
    for name in [*STATIC_ADAMW, *META["wrapper"]]:
        _check(name, "static")


@pytest.mark.parametrize("family", ["sgd", "radam", "adamw_decay_at_z"])
def test_schedule_free_family_matches_reference(family):
    """schedule_free_sgd / _radam / _adamw(decay_at_z=True), live y and eval_params x."""
    names = [n for n in META["family"] if n.startswith(family)]
    assert len(names) >= 2, names
    for name in names:
        _check(name, "static")


def test_stored_x_matches_reference_too():
    """store_x=True (x kept in the state, the default for bf16 parameters) replays every
    static configuration to the same tolerances."""
    for name in [*STATIC_ADAMW, *META["wrapper"], *META["family"]]:
        _check(name, "static", prefix="store_x/")


def test_radam_silent_sgd_phase_both_ways():
    """Silent: the first 4 steps (rho_t <= 4 for b2 = 0.999) leave y and x at the start;
    not silent: they are SGD steps. Ours replays both (checked above); here, that the golden
    data really covers both behaviours."""
    p0 = np.concatenate([DATA[f"init/{k}"].ravel() for k in NAMES])
    assert list(RECORD[:5]) == [0, 1, 2, 3, 4]
    silent_y, _, _ = results("static", jnp.float32)["radam_silent"]
    assert np.max(np.abs(DATA["radam_silent/y"][:4] - p0)) == 0.0
    assert np.max(np.abs(silent_y[:4] - p0.astype(np.float32))) == 0.0
    assert np.max(np.abs(DATA["radam_silent/y"][5] - p0)) > 1e-4
    assert not META["family"]["radam_sgd_phase"]["silent_sgd_phase"]
    assert np.min(np.max(np.abs(DATA["radam_sgd_phase/y"][:4] - p0), axis=1)) > 1e-4


def test_decay_at_z_and_at_y_differ():
    """The two decay points give different trajectories (so the option is really tested)."""
    gy = DATA["adamw_decay_at_z/y"]
    ours_at_y = run_many(
        {"y": schedule_free_adamw(0.005, warmup_steps=20, weight_decay=0.1)}, jnp.float32
    )["y"][0]
    assert _rel_err(ours_at_y, gy) > 1e-4


def test_golden_covers_the_hyperparameters():
    cfgs = list(META["adamw"].values())
    assert META["dtype"] == "float64" and STEPS >= 300
    assert any(c.get("warmup_steps", 0) > 0 for c in cfgs)
    assert any(c.get("weight_decay", 0) > 0 for c in cfgs)
    assert any(c.get("r", 0) > 0 for c in cfgs)
    assert any(c.get("weight_lr_power", 2.0) != 2.0 for c in cfgs)
    assert any(c.get("betas", (0.9,))[0] != 0.9 for c in cfgs)
    family = META["family"].values()
    assert {c["cls"] for c in family} == {
        "AdamWScheduleFreeReference",
        "SGDScheduleFreeReference",
        "SGDScheduleFree",
        "RAdamScheduleFree",
    }
    assert {c.get("silent_sgd_phase", True) for c in family} == {True, False}
    assert any(c.get("weight_decay_at_y", 0) > 0 for c in META["wrapper"].values())


# ----------------------------------------------------------------------------- optax.contrib


def test_optax_contrib_agrees_without_warmup():
    """Same algorithm without warmup: optax, ours and the reference agree to float32 rounding.

    (optax has no ``r``; these configs have r = 0. "decay_no_warmup" has weight decay, applied
    at y by both, b1 = 0.8 and weight_lr_power = 1.)
    """
    for name in ["default", "decay_no_warmup"]:
        y_optax, x_optax, _ = results("static", jnp.float32)[f"optax/{name}"]
        y_ours, x_ours, _ = results("static", jnp.float32)[name]
        assert _rel_err(y_optax, y_ours) < TOL32, name
        assert _rel_err(x_optax, x_ours) < TOL32, name
        assert _rel_err(y_optax, DATA[f"{name}/y"]) < TOL32, name
        assert _rel_err(x_optax, DATA[f"{name}/x"]) < TOL32, name


def test_optax_contrib_differs_with_warmup():
    """With warmup optax's z steps lag one step behind the reference (first step lr = 0).

    optax builds ``warmup_constant_schedule(0, lr, warmup_steps)`` and evaluates it at the base
    Adam's 0-based count k, i.e. ``lr * k / warmup``, while its averaging weights evaluate it
    at k + 1; the reference scales both by ``(k+1) / warmup``. Ours follows the reference.
    """
    cfg = META["adamw"]["warmup_wd"]
    gy, gx = DATA["warmup_wd/y"], DATA["warmup_wd/x"]
    y_optax, x_optax, _ = results("static", jnp.float32)["optax/warmup_wd"]
    y_ours, x_ours, _ = results("static", jnp.float32)["warmup_wd"]
    assert _rel_err(y_ours, gy) < TOL32 and _rel_err(x_ours, gx) < TOL32
    optax_err = max(_rel_err(y_optax, gy), _rel_err(x_optax, gx))
    assert optax_err > 1e-3, optax_err
    # optax's first step leaves y where it is (lr = 0 at k = 0, up to the rounding of its
    # recovery of x); the reference's first step, with lr / warmup_steps, moves it
    p0 = np.concatenate([DATA[f"init/{k}"].ravel() for k in NAMES])
    assert RECORD[0] == 0
    assert np.max(np.abs(y_optax[0] - p0)) < 1e-6
    assert np.max(np.abs(gy[0] - p0)) > 1e-5
    assert cfg["warmup_steps"] > 0


# ----------------------------------------------------------------------------- regeneration


@pytest.mark.slow
def test_golden_generator_reproduces_committed_data(tmp_path):
    """Re-runs the generator when torch + schedulefree are importable.

    Tried with this interpreter, then with ``$JAXSCHED_GOLDEN_PYTHON`` (a venv holding torch
    and schedulefree but not JAX); skipped when neither has them.
    """
    python = None
    for candidate in (sys.executable, os.environ.get("JAXSCHED_GOLDEN_PYTHON")):
        if not candidate or not Path(candidate).exists():
            continue
        probe = subprocess.run(
            [candidate, "-c", "import torch, schedulefree"], capture_output=True, check=False
        )
        if probe.returncode == 0:
            python = candidate
            break
    if python is None:
        pytest.skip("torch and schedulefree not installed")
    out = tmp_path / "golden.npz"
    subprocess.run([python, str(GENERATOR), str(out)], check=True, capture_output=True)
    fresh = np.load(out)
    for key in DATA.files:
        if key == "meta_json":
            continue
        np.testing.assert_allclose(fresh[key], DATA[key], rtol=1e-12, atol=1e-14, err_msg=key)
