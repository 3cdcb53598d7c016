"""Generate tests/data/schedulefree_golden.npz from the real PyTorch `schedulefree` references.

Runs ``schedulefree.AdamWScheduleFreeReference`` (``decay_at_z`` both ways),
``schedulefree.ScheduleFreeWrapperReference`` (around ``torch.optim.SGD`` / ``torch.optim.Adam``),
``SGDScheduleFreeReference``, ``SGDScheduleFree`` and ``RAdamScheduleFree`` (with and without
its silent SGD phase) in **float64** on a small nonlinear problem
and records the trajectory of the parameters ``y`` (where gradients are taken) and of the
average ``x`` (what ``.eval()`` switches to). ``tests/test_optim_golden.py`` replays the same
problem with ``jaxsched.optim`` and compares.

Problem: full-batch MSE regression of a 2-layer tanh MLP ``tanh(X W1 + c1) W2 + c2`` on fixed
data (64 x 4 inputs, 8 hidden units, 1 output; 49 parameters). Data and initial parameters are
drawn here with NumPy and stored in the file, so the JAX side needs no torch.

Needs torch and schedulefree (``pip install -e '.[golden]'``, or the project's venv-golden):

    /work/venv-golden/bin/python tests/golden/gen_schedulefree_golden.py [OUT.npz]

No JAX is imported.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import schedulefree
import torch

OUT = Path(__file__).resolve().parents[1] / "data" / "schedulefree_golden.npz"
STEPS = 300
# Recorded steps (number of optimizer steps taken): the early ones pin warmup and step-0
# behaviour, the later ones the long-run trajectory. Kept sparse so the file stays small.
RECORD = [1, 2, 3, 4, 5, 10, 20, 30, 50, 75, 100, 150, 200, 250, 300]
PARAM_NAMES = ["W1", "c1", "W2", "c2"]

# Learning rates are kept small enough that 300 steps stay in the smooth part of training: at
# lr ~0.02 (or 0.004 with b1 = 0.5, b2 = 0.99) this problem turns chaotic late in the run
# (float64 rounding differences of 1e-16 grow to 1e-3 within ~50 steps), which no trajectory
# comparison survives. With these, a 1e-12 perturbation of the start stays below ~1e-11.
#
# AdamWScheduleFreeReference configurations. "lr_schedule" (if any) is applied to
# group["lr"] before each step, as a torch scheduler would: lr_k = lr * factor(k).
ADAMW_CONFIGS = {
    "default": dict(lr=0.005),
    "warmup_wd": dict(lr=0.005, warmup_steps=50, weight_decay=0.05),
    "r_power_b1": dict(lr=0.005, betas=(0.95, 0.999), r=0.5, weight_lr_power=1.0, warmup_steps=20),
    "everything": dict(
        lr=0.002,
        betas=(0.5, 0.99),
        eps=1e-6,
        weight_decay=0.1,
        warmup_steps=100,
        r=1.0,
        weight_lr_power=3.0,
    ),
    "lr_schedule": dict(lr=0.005, warmup_steps=30, weight_decay=0.01, lr_schedule="linear400"),
    "no_lr_weighting": dict(lr=0.005, betas=(0.8, 0.999), weight_lr_power=0.0, warmup_steps=40),
    "zero_first_lr": dict(lr=0.005, lr_schedule="ramp10"),
    # no warmup, so optax.contrib.schedule_free_adamw should agree with it too
    "decay_no_warmup": dict(lr=0.005, betas=(0.8, 0.999), weight_decay=0.05, weight_lr_power=1.0),
}

# The rest of the family, one torch class per config. ``decay_at_z`` takes a static branch, so
# these are not vmapped with the AdamW configs above. For the classes that keep only z (the
# non-reference SGDScheduleFree and RAdamScheduleFree), x is recovered in float64 as
# (y - (1 - b1) z) / b1, which is what their ``.eval()`` computes.
FAMILY_CONFIGS = {
    "adamw_decay_at_z": dict(
        cls="AdamWScheduleFreeReference",
        lr=0.005,
        warmup_steps=20,
        weight_decay=0.1,
        decay_at_z=True,
    ),
    "adamw_decay_at_z_r": dict(
        cls="AdamWScheduleFreeReference",
        lr=0.005,
        betas=(0.8, 0.99),
        weight_decay=0.05,
        r=0.5,
        weight_lr_power=1.0,
        decay_at_z=True,
    ),
    "sgd_default": dict(cls="SGDScheduleFreeReference", lr=0.05),
    "sgd_warmup_wd": dict(
        cls="SGDScheduleFreeReference",
        lr=0.05,
        momentum=0.8,
        weight_decay=0.01,
        warmup_steps=50,
        r=0.5,
        weight_lr_power=1.0,
    ),
    # the memory-efficient class (y and z only): the same trajectory as its reference
    "sgd_fast_warmup_wd": dict(
        cls="SGDScheduleFree",
        lr=0.05,
        momentum=0.8,
        weight_decay=0.01,
        warmup_steps=50,
        r=0.5,
        weight_lr_power=1.0,
    ),
    "radam_silent": dict(cls="RAdamScheduleFree", lr=0.005, weight_decay=0.01),
    "radam_sgd_phase": dict(
        cls="RAdamScheduleFree",
        lr=0.005,
        betas=(0.8, 0.99),
        weight_decay=0.01,
        r=0.5,
        weight_lr_power=1.0,
        silent_sgd_phase=False,
    ),
    "radam_silent_b2": dict(
        cls="RAdamScheduleFree", lr=0.005, betas=(0.9, 0.99), eps=1e-6, r=1.0
    ),
}
KEEPS_X = {"AdamWScheduleFreeReference", "SGDScheduleFreeReference"}

# ScheduleFreeWrapperReference configurations around a momentum-free torch base.
WRAPPER_CONFIGS = {
    "wrap_sgd": dict(base="sgd", lr=0.05, momentum=0.9),
    "wrap_adam": dict(
        base="adam",
        lr=0.005,
        base_betas=(0.0, 0.999),
        base_eps=1e-8,
        momentum=0.8,
        weight_decay_at_y=0.01,
        r=0.5,
        weight_lr_power=1.0,
    ),
    "wrap_sgd_decay_at_y": dict(
        base="sgd", lr=0.05, momentum=0.9, weight_decay_at_y=0.05, r=1.0, weight_lr_power=0.0
    ),
}


def lr_factor(name: str | None, k: int) -> float:
    """Multiplier of the base lr before step k (0-based)."""
    if name is None:
        return 1.0
    if name == "linear400":
        return 1.0 - k / 400.0
    if name == "ramp10":
        return min(1.0, k / 10.0)
    raise ValueError(f"unknown lr_schedule {name!r}")


def make_problem(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n, d, h = 64, 4, 8
    X = rng.normal(size=(n, d))
    a = rng.normal(size=(d,))
    Y = (np.sin(X @ a) + 0.1 * rng.normal(size=n))[:, None]
    init = {
        "W1": rng.normal(size=(d, h)) / math.sqrt(d),
        "c1": np.zeros(h),
        "W2": rng.normal(size=(h, 1)) / math.sqrt(h),
        "c2": np.zeros(1),
    }
    return {"X": X, "Y": Y, **{f"init/{k}": v for k, v in init.items()}}


def loss_fn(params: list[torch.Tensor], X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    W1, c1, W2, c2 = params
    pred = torch.tanh(X @ W1 + c1) @ W2 + c2
    return torch.mean((pred - Y) ** 2)


def run(make_opt, problem: dict, lr: float, lr_schedule: str | None, eval_point):
    X = torch.tensor(problem["X"], dtype=torch.float64)
    Y = torch.tensor(problem["Y"], dtype=torch.float64)
    params = [
        torch.nn.Parameter(torch.tensor(problem[f"init/{k}"], dtype=torch.float64))
        for k in PARAM_NAMES
    ]
    opt = make_opt(params)
    opt.train()
    ys, xs, losses = [], [], []
    for k in range(STEPS):
        for group in opt.param_groups:
            group["lr"] = lr * lr_factor(lr_schedule, k)
        opt.zero_grad()
        loss = loss_fn(params, X, Y)
        loss.backward()
        losses.append(loss.item())
        opt.step()
        if k + 1 in RECORD:
            ys.append(np.concatenate([p.detach().numpy().ravel() for p in params]))
            xs.append(np.concatenate([eval_point(opt, p).ravel() for p in params]))
    return np.stack(ys), np.stack(xs), np.array(losses)


def main(out_path: Path = OUT) -> None:
    torch.set_default_dtype(torch.float64)
    problem = make_problem()
    out: dict[str, np.ndarray] = dict(problem)
    meta = {
        "steps": STEPS,
        "record": RECORD,
        "param_names": PARAM_NAMES,
        "dtype": "float64",
        "torch": torch.__version__,
        "schedulefree": getattr(schedulefree, "__version__", "unknown"),
        "adamw": {},
        "wrapper": {},
        "family": {},
    }

    def state_x(opt, p):
        return opt.state[p]["x"].detach().numpy()

    for name, cfg in ADAMW_CONFIGS.items():
        cfg = dict(cfg)
        sched = cfg.pop("lr_schedule", None)
        lr = cfg["lr"]
        ys, xs, losses = run(
            lambda ps, cfg=cfg: schedulefree.AdamWScheduleFreeReference(ps, **cfg),
            problem,
            lr,
            sched,
            state_x,
        )
        out[f"{name}/y"], out[f"{name}/x"], out[f"{name}/loss"] = ys, xs, losses
        meta["adamw"][name] = {**cfg, "lr_schedule": sched}

    for name, cfg in FAMILY_CONFIGS.items():
        kw = dict(cfg)
        cls = getattr(schedulefree, kw.pop("cls"))
        b1 = kw.get("betas", (kw.get("momentum", 0.9),))[0]

        def point(opt, p, keeps_x=cfg["cls"] in KEEPS_X, b1=b1):
            if keeps_x:
                return state_x(opt, p)
            z = opt.state[p]["z"].detach().numpy()
            return (p.detach().numpy() - (1.0 - b1) * z) / b1

        ys, xs, losses = run(
            lambda ps, cls=cls, kw=kw: cls(ps, **kw), problem, kw["lr"], None, point
        )
        out[f"{name}/y"], out[f"{name}/x"], out[f"{name}/loss"] = ys, xs, losses
        meta["family"][name] = cfg

    for name, cfg in WRAPPER_CONFIGS.items():
        cfg = dict(cfg)
        lr = cfg["lr"]
        if cfg["base"] == "sgd":

            def make_base(ps, lr=lr):
                return torch.optim.SGD(ps, lr=lr, momentum=0.0)

        else:

            def make_base(ps, cfg=cfg):
                base = torch.optim.Adam(
                    ps, lr=cfg["lr"], betas=cfg["base_betas"], eps=cfg["base_eps"]
                )
                # The wrapper puts z/x/y into base.state[p] before the first base.step(), so
                # Adam's lazy init (``if len(state) == 0``) never runs: initialise its slots
                # as Adam would.
                for p in ps:
                    base.state[p]["step"] = torch.tensor(0.0, dtype=torch.float32)
                    base.state[p]["exp_avg"] = torch.zeros_like(p)
                    base.state[p]["exp_avg_sq"] = torch.zeros_like(p)
                return base

        wrap_kw = {
            k: cfg[k] for k in ("momentum", "weight_decay_at_y", "r", "weight_lr_power") if k in cfg
        }
        ys, xs, losses = run(
            lambda ps, mb=make_base, kw=wrap_kw: schedulefree.ScheduleFreeWrapperReference(
                mb(ps), **kw
            ),
            problem,
            lr,
            None,
            state_x,
        )
        out[f"{name}/y"], out[f"{name}/x"], out[f"{name}/loss"] = ys, xs, losses
        meta["wrapper"][name] = cfg

    out["meta_json"] = np.array(json.dumps(meta))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_path, **out)
    print(f"wrote {out_path} ({out_path.stat().st_size} bytes)")
    for name in [*ADAMW_CONFIGS, *FAMILY_CONFIGS, *WRAPPER_CONFIGS]:
        loss = out[f"{name}/loss"]
        print(f"  {name:16s} loss {loss[0]:.4f} -> {loss[-1]:.4f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
