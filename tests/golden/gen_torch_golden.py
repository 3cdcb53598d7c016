"""Generate tests/data/torch_golden.json: lrs recorded from real torch.optim.lr_scheduler.

Run with the golden environment (PyTorch 2.13.0, no JAX)::

    /work/venv-golden/bin/python tests/golden/gen_torch_golden.py

Every case is a JSON spec ``{"kind", "args"}`` in the argument names of ``jaxsched.compat.torch``
(``lr`` is the optimizer's learning rate). The script builds the matching torch scheduler on a
fresh SGD optimizer, and records ``optimizer.param_groups[0]["lr"]`` after ``t`` calls of
``scheduler.step()`` for the listed ``t`` (``t = 0`` is the value right after construction).

Callables (``lr_lambda``, ``scale_fn``) cannot be stored, so they are stored by name
(``"@name"``); :func:`named_callables` builds them against a NumPy-like namespace so that the
same definitions serve torch here (with ``numpy``) and the JAX tests (with ``jax.numpy``).

The module imports nothing beyond the standard library at import time, so the tests can load
:func:`named_callables` from it without torch.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "data" / "torch_golden.json"


def named_callables(xp: Any) -> dict[str, Any]:
    """Lambdas by name, written once for any NumPy-like ``xp`` (``numpy`` or ``jax.numpy``).

    ``lr_lambda`` receives the integer epoch; ``scale_fn`` receives the 1-based cycle number or
    the iteration count (see ``CyclicLR``'s ``scale_mode``).
    """
    return {
        # LambdaLR factors (seed 004's warmup + cosine among them).
        "warmup_linear_10": lambda e: xp.minimum(1.0, (e + 1) / 10.0),
        "warmup_cosine_10_100": lambda e: xp.where(
            e < 10, (e + 1) / 10.0, 0.5 * (1.0 + xp.cos(math.pi * (e - 10) / 90.0))
        ),
        "exp_095": lambda e: 0.95**e,
        "inv_sqrt_warmup_8": lambda e: xp.minimum((e + 1) / 8.0, xp.sqrt(8.0 / (e + 1))),
        "step_third_every_7": lambda e: (1.0 / 3.0) ** (e // 7),
        # MultiplicativeLR factors.
        "const_095": lambda e: 0.95 + 0.0 * e,
        "half_every_5": lambda e: xp.where(e % 5 == 0, 0.5, 1.0),
        "approach_one_20": lambda e: 1.0 - 1.0 / (e + 20.0),
        "grow_then_decay": lambda e: xp.where(e < 6, 1.2, 0.9),
        # CyclicLR scale functions.
        "scale_halving": lambda x: 0.5 ** (x - 1.0),
        "scale_inv_cycle": lambda x: 1.0 / x,
        "scale_exp_0995": lambda x: 0.995**x,
        "scale_cos_iter_50": lambda x: 0.5 * (1.0 + xp.cos(math.pi * xp.minimum(x, 50.0) / 50.0)),
    }


def _range(n: int) -> dict[str, int]:
    return {"n": n}


def _sampled(n: int, every: int, extra: tuple[int, ...] = ()) -> list[int]:
    ts = set(range(0, n + 1, every)) | {n} | {t for t in extra if 0 <= t <= n}
    ts |= set(range(0, min(n, 20) + 1))
    return sorted(ts)


def _case(kind: str, args: dict, t: Any, name: str | None = None) -> dict:
    return {"name": name or kind, "kind": kind, "args": args, "t": t}


def build_cases() -> list[dict]:
    cases: list[dict] = []
    add = cases.append

    for lr, step_size, gamma in [
        (0.1, 3, 0.1),
        (1.0, 7, 0.5),
        (0.05, 1, 0.9),
        (0.3, 30, 0.3),
        (2.0, 10, 0.999),
        (0.01, 4, 1.0),
        (0.3, 5, 0.0),
    ]:
        add(_case("step_lr", {"lr": lr, "step_size": step_size, "gamma": gamma}, _range(120)))
    add(_case("step_lr", {"lr": 1e-3, "step_size": 97, "gamma": 0.9}, _sampled(20000, 331)))

    for lr, milestones, gamma in [
        (0.1, [5, 10, 30], 0.1),
        (1.0, [0, 4, 4, 20], 0.5),
        (0.5, [50], 0.3),
        (0.02, [1, 2, 3, 4, 5, 60, 61], 0.8),
    ]:
        add(
            _case("multi_step_lr", {"lr": lr, "milestones": milestones, "gamma": gamma}, _range(80))
        )

    for lr, gamma, t in [
        (0.1, 0.9, _range(100)),
        (1.0, 0.5, _range(60)),
        (0.3, 0.99, _range(300)),
        (1e-3, 0.9999, _sampled(40000, 397)),
        (0.7, 0.99995, _sampled(100000, 997)),
        (0.2, 1.0, _range(10)),
        (0.2, 0.0, _range(5)),
    ]:
        add(_case("exponential_lr", {"lr": lr, "gamma": gamma}, t))

    for lr, T_max, eta_min, t in [
        (0.1, 10, 0.0, _range(65)),
        (1.0, 7, 0.0, _range(50)),
        (0.1, 1, 0.0, _range(12)),
        (0.1, 2, 0.01, _range(20)),
        (0.05, 25, 0.005, _range(160)),
        (0.1, 10, 0.2, _range(45)),
        (1e-3, 100, 1e-5, _range(450)),
        (1e-3, 10000, 0.0, _sampled(45000, 443, (10000, 10001, 19999, 20000, 20001, 30000, 30001))),
        (0.02, 3, 0.0, _range(40)),
    ]:
        add(_case("cosine_annealing_lr", {"lr": lr, "T_max": T_max, "eta_min": eta_min}, t))

    for lr, T_0, T_mult, eta_min, t in [
        (0.1, 10, 1, 0.0, _range(60)),
        (0.1, 5, 2, 0.0, _range(160)),
        (1.0, 3, 3, 0.01, _range(130)),
        (0.01, 50, 2, 1e-5, _range(400)),
        (0.1, 1, 1, 0.0, _range(10)),
        (0.1, 1, 2, 0.001, _range(70)),
        (1e-3, 1000, 2, 0.0, _sampled(70000, 701, (1000, 2999, 3000, 7000, 15000, 31000, 63000))),
    ]:
        add(
            _case(
                "cosine_annealing_warm_restarts",
                {"lr": lr, "T_0": T_0, "T_mult": T_mult, "eta_min": eta_min},
                t,
            )
        )

    cyc = [
        dict(base_lr=0.01, max_lr=0.1, step_size_up=4),
        dict(base_lr=0.01, max_lr=0.1, step_size_up=3, step_size_down=7),
        dict(base_lr=0.001, max_lr=0.1, step_size_up=10, step_size_down=2, mode="triangular2"),
        dict(base_lr=0.0, max_lr=1.0, step_size_up=5, mode="triangular2"),
        dict(
            base_lr=0.01, max_lr=0.1, step_size_up=6, step_size_down=4, mode="exp_range", gamma=0.99
        ),
        dict(base_lr=0.1, max_lr=1.0, step_size_up=8, mode="exp_range", gamma=0.9995),
        dict(base_lr=0.01, max_lr=0.1, step_size_up=5, step_size_down=0),
        dict(base_lr=0.01, max_lr=0.1, step_size_up=1, step_size_down=1),
        dict(base_lr=0.02, max_lr=0.2, step_size_up=2.5, step_size_down=3.5),
        dict(base_lr=0.01, max_lr=0.1, step_size_up=4, scale_fn="@scale_halving"),
        dict(
            base_lr=0.01,
            max_lr=0.1,
            step_size_up=3,
            step_size_down=5,
            scale_fn="@scale_inv_cycle",
            scale_mode="cycle",
        ),
        dict(
            base_lr=0.01,
            max_lr=0.1,
            step_size_up=5,
            scale_fn="@scale_exp_0995",
            scale_mode="iterations",
        ),
        dict(
            base_lr=0.0,
            max_lr=0.5,
            step_size_up=4,
            step_size_down=6,
            scale_fn="@scale_cos_iter_50",
            scale_mode="iterations",
        ),
        dict(
            base_lr=0.01,
            max_lr=0.1,
            step_size_up=7,
            mode="exp_range",
            gamma=0.97,
            scale_fn="@scale_halving",
            scale_mode="cycle",
        ),
    ]
    for args in cyc:
        add(_case("cyclic_lr", args, _range(110)))
    add(
        _case(
            "cyclic_lr",
            dict(base_lr=1e-4, max_lr=1e-2, step_size_up=2000, mode="exp_range", gamma=0.99994),
            _sampled(60000, 613, (2000, 4000, 58000)),
        )
    )
    add(
        _case(
            "cyclic_lr",
            dict(base_lr=1e-4, max_lr=1e-2, step_size_up=1500, step_size_down=2500),
            _sampled(200000, 1999, (1500, 4000, 196000, 197500)),
        )
    )

    for args in [
        dict(max_lr=0.1, total_steps=100),
        dict(max_lr=0.1, total_steps=100, anneal_strategy="linear"),
        dict(max_lr=1.0, total_steps=37, pct_start=0.25, three_phase=True),
        dict(
            max_lr=1.0, total_steps=37, pct_start=0.25, anneal_strategy="linear", three_phase=True
        ),
        dict(max_lr=0.01, total_steps=10, pct_start=0.5, div_factor=10.0, final_div_factor=100.0),
        dict(
            max_lr=0.5,
            total_steps=64,
            pct_start=0.1,
            div_factor=5.0,
            final_div_factor=1e3,
            three_phase=True,
        ),
        dict(max_lr=0.3, total_steps=50, pct_start=0.05),
        dict(max_lr=0.3, total_steps=20, pct_start=0.3, anneal_strategy="linear"),
        dict(max_lr=0.2, total_steps=40, pct_start=0.45, three_phase=True),
        dict(max_lr=0.1, total_steps=200, pct_start=1.0 / 3.0, anneal_strategy="cos"),
        dict(max_lr=0.1, total_steps=25, pct_start=0.0),
        dict(max_lr=0.1, total_steps=25, pct_start=0.5, three_phase=True,
             anneal_strategy="linear"),
        dict(max_lr=0.05, total_steps=7, pct_start=0.6, div_factor=3.0, final_div_factor=2.0),
    ]:
        add(_case("one_cycle_lr", args, _range(args["total_steps"])))
    add(
        _case(
            "one_cycle_lr",
            dict(max_lr=3e-3, total_steps=30000, pct_start=0.15),
            _sampled(30000, 307, (4499, 4500, 29999)),
        )
    )

    for lr, total_iters, power in [
        (0.1, 5, 1.0),
        (1.0, 10, 2.0),
        (0.5, 20, 0.5),
        (0.1, 7, 0.0),
        (0.1, 0, 1.0),
        (0.3, 1, 3.0),
        (1e-3, 5000, 1.5),
    ]:
        t = _range(total_iters + 20) if total_iters < 100 else _sampled(6000, 113, (4999, 5000))
        add(_case("polynomial_lr", {"lr": lr, "total_iters": total_iters, "power": power}, t))

    for lr, start_factor, end_factor, total_iters in [
        (0.1, 1.0 / 3, 1.0, 5),
        (1.0, 0.1, 1.0, 10),
        (0.5, 1.0, 0.0, 20),
        (0.2, 0.5, 0.25, 7),
        (0.1, 0.25, 1.0, 0),
        (0.1, 0.001, 1.0, 1),
    ]:
        add(
            _case(
                "linear_lr",
                {
                    "lr": lr,
                    "start_factor": start_factor,
                    "end_factor": end_factor,
                    "total_iters": total_iters,
                },
                _range(total_iters + 15),
            )
        )

    for lr, factor, total_iters in [
        (0.1, 1.0 / 3, 5),
        (1.0, 0.5, 0),
        (0.2, 0.25, 1),
        (0.3, 1.0, 3),
        (0.05, 0.1, 12),
    ]:
        add(
            _case(
                "constant_lr",
                {"lr": lr, "factor": factor, "total_iters": total_iters},
                _range(total_iters + 10),
            )
        )

    for lr, name in [
        (0.01, "warmup_linear_10"),
        (0.01, "warmup_cosine_10_100"),
        (0.1, "exp_095"),
        (1.0, "inv_sqrt_warmup_8"),
        (0.5, "step_third_every_7"),
    ]:
        add(_case("lambda_lr", {"lr": lr, "lr_lambda": "@" + name}, _range(120)))

    for lr, name in [
        (0.1, "const_095"),
        (1.0, "half_every_5"),
        (0.5, "approach_one_20"),
        (0.1, "grow_then_decay"),
    ]:
        add(_case("multiplicative_lr", {"lr": lr, "lr_lambda": "@" + name}, _range(100)))

    # Composites: every piece uses the optimizer's lr, as in torch.
    def piece(kind: str, lr: float, **kw: Any) -> dict:
        return {"kind": kind, "args": {"lr": lr, **kw}}

    seq = [
        (
            0.1,
            [
                piece("linear_lr", 0.1, start_factor=0.1, total_iters=10),
                piece("cosine_annealing_lr", 0.1, T_max=50),
            ],
            [10],
            130,
        ),
        (
            1.0,
            [
                piece("constant_lr", 1.0, factor=0.5, total_iters=5),
                piece("exponential_lr", 1.0, gamma=0.9),
            ],
            [3],
            40,
        ),
        (
            0.05,
            [
                piece("linear_lr", 0.05, start_factor=0.2, total_iters=5),
                piece("constant_lr", 0.05, factor=0.3, total_iters=4),
                piece("cosine_annealing_lr", 0.05, T_max=20, eta_min=0.001),
            ],
            [5, 15],
            80,
        ),
        (
            0.1,
            [
                piece("exponential_lr", 0.1, gamma=0.8),
                piece("step_lr", 0.1, step_size=4, gamma=0.5),
            ],
            [6],
            40,
        ),
        (
            0.1,
            [
                piece("exponential_lr", 0.1, gamma=0.5),
                piece("constant_lr", 0.1, factor=0.5, total_iters=0),
            ],
            [3],
            12,
        ),
        (
            0.1,
            [
                piece("cosine_annealing_lr", 0.1, T_max=10),
                piece("cosine_annealing_lr", 0.1, T_max=6, eta_min=0.02),
            ],
            [15],
            60,
        ),
        (
            1.0,
            [
                piece("exponential_lr", 1.0, gamma=0.5),
                piece("multiplicative_lr", 1.0, lr_lambda="@const_095"),
            ],
            [3],
            25,
        ),
        (
            1.0,
            [
                piece("linear_lr", 1.0, start_factor=0.5, total_iters=4),
                piece("multiplicative_lr", 1.0, lr_lambda="@half_every_5"),
            ],
            [2],
            25,
        ),
        (
            0.3,
            [
                piece("lambda_lr", 0.3, lr_lambda="@warmup_linear_10"),
                piece("polynomial_lr", 0.3, total_iters=20, power=2.0),
            ],
            [10],
            45,
        ),
        (
            0.1,
            [
                piece("linear_lr", 0.1, start_factor=0.01, total_iters=8),
                piece("cosine_annealing_warm_restarts", 0.1, T_0=5, T_mult=2),
            ],
            [8],
            70,
        ),
        (
            0.2,
            [
                piece("constant_lr", 0.2, factor=0.1, total_iters=3),
                piece("exponential_lr", 0.2, gamma=0.9),
                piece("multi_step_lr", 0.2, milestones=[3, 9], gamma=0.1),
            ],
            [0, 7],
            25,
        ),
        (
            0.1,
            [
                piece("polynomial_lr", 0.1, total_iters=10, power=1.0),
                piece("linear_lr", 0.1, start_factor=0.5, end_factor=1.0, total_iters=6),
                piece("step_lr", 0.1, step_size=3, gamma=0.7),
            ],
            [4, 9],
            30,
        ),
        (
            0.01,
            [
                piece("linear_lr", 0.01, start_factor=0.1, total_iters=5),
                {
                    "kind": "cyclic_lr",
                    "args": {"base_lr": 0.001, "max_lr": 0.01, "step_size_up": 3},
                },
            ],
            [5],
            30,
        ),
        (
            0.1,
            [
                piece("multiplicative_lr", 0.1, lr_lambda="@approach_one_20"),
                piece("exponential_lr", 0.1, gamma=0.9),
                piece("multiplicative_lr", 0.1, lr_lambda="@grow_then_decay"),
            ],
            [4, 9],
            30,
        ),
    ]
    seq.append(
        (0.1, [piece("linear_lr", 0.004, start_factor=0.5, total_iters=5),
               {"kind": "one_cycle_lr", "args": {"max_lr": 0.1, "total_steps": 30}}], [5], 35)
    )
    for opt_lr, pieces, milestones, n in seq:
        c = _case("sequential_lr", {"schedules": pieces, "milestones": milestones}, _range(n))
        c["opt_lr"] = opt_lr
        add(c)

    chains = [
        (
            1.0,
            [
                piece("constant_lr", 1.0, factor=0.1, total_iters=2),
                piece("exponential_lr", 1.0, gamma=0.9),
            ],
            30,
        ),
        (
            0.1,
            [
                piece("linear_lr", 0.1, start_factor=0.1, total_iters=10),
                piece("cosine_annealing_lr", 0.1, T_max=20),
            ],
            90,
        ),
        (
            0.1,
            [piece("cosine_annealing_lr", 0.1, T_max=3), piece("exponential_lr", 0.1, gamma=0.5)],
            30,
        ),
        (
            0.1,
            [piece("exponential_lr", 0.1, gamma=0.5), piece("cosine_annealing_lr", 0.1, T_max=3)],
            30,
        ),
        (
            0.5,
            [
                piece("step_lr", 0.5, step_size=3, gamma=0.5),
                piece("multi_step_lr", 0.5, milestones=[4, 10], gamma=0.3),
                piece("polynomial_lr", 0.5, total_iters=15, power=2.0),
            ],
            25,
        ),
        (
            0.1,
            [
                piece("lambda_lr", 0.1, lr_lambda="@warmup_linear_10"),
                piece("exponential_lr", 0.1, gamma=0.95),
            ],
            40,
        ),
        (
            0.1,
            [
                piece("exponential_lr", 0.1, gamma=0.95),
                piece("lambda_lr", 0.1, lr_lambda="@warmup_linear_10"),
                piece("constant_lr", 0.1, factor=0.5, total_iters=3),
            ],
            40,
        ),
        (
            0.1,
            [
                piece("multiplicative_lr", 0.1, lr_lambda="@half_every_5"),
                piece("linear_lr", 0.1, start_factor=0.25, end_factor=1.0, total_iters=8),
            ],
            30,
        ),
        (
            0.1,
            [
                piece("cosine_annealing_lr", 0.1, T_max=5),
                piece("lambda_lr", 0.1, lr_lambda="@exp_095"),
                piece("exponential_lr", 0.1, gamma=0.9),
            ],
            30,
        ),
        (
            0.1,
            [
                piece("cosine_annealing_warm_restarts", 0.1, T_0=4, T_mult=2),
                piece("constant_lr", 0.1, factor=0.5, total_iters=6),
            ],
            40,
        ),
        (
            0.1,
            [
                piece("linear_lr", 0.1, start_factor=0.5, total_iters=4),
                piece("cosine_annealing_lr", 0.1, T_max=4),
                piece("multiplicative_lr", 0.1, lr_lambda="@approach_one_20"),
                piece("cosine_annealing_lr", 0.1, T_max=6),
            ],
            50,
        ),
        (
            0.1,
            [
                piece("linear_lr", 0.1, start_factor=1.0, end_factor=0.0, total_iters=6),
                piece("exponential_lr", 0.1, gamma=0.9),
            ],
            15,
        ),
        (
            0.01,
            [
                {
                    "kind": "cyclic_lr",
                    "args": {"base_lr": 0.001, "max_lr": 0.01, "step_size_up": 4},
                },
                piece("exponential_lr", 0.01, gamma=0.97),
            ],
            40,
        ),
    ]
    chains.append(
        (0.1, [{"kind": "one_cycle_lr", "args": {"max_lr": 0.1, "total_steps": 40,
                                                 "three_phase": True}},
               piece("exponential_lr", 0.004, gamma=0.95)], 40)
    )
    chains.append(
        (0.1, [piece("exponential_lr", 0.1, gamma=0.95),
               {"kind": "one_cycle_lr", "args": {"max_lr": 0.1, "total_steps": 40}},
               piece("step_lr", 0.004, step_size=7, gamma=0.5)], 40)
    )
    for opt_lr, members, n in chains:
        c = _case("chained_scheduler", {"schedules": members}, _range(n))
        c["opt_lr"] = opt_lr
        add(c)

    # ReduceLROnPlateau: metric sequences with improvements, exact plateaus and bumps.
    def metrics_a(n: int) -> list[float]:
        out = []
        for i in range(n):
            if i < 8:
                out.append(1.0 / (1 + i))
            elif i < 20:
                out.append(0.125)
            elif i < 24:
                out.append(0.1 - 0.01 * (i - 20))
            else:
                out.append(0.07 + 0.001 * ((i * 7) % 5))
        return out

    def metrics_b(n: int) -> list[float]:
        # accuracy-like: rises, stalls, rises again slightly (for mode="max")
        out = []
        for i in range(n):
            if i < 10:
                out.append(0.5 + 0.04 * i)
            elif i < 30:
                out.append(0.86 + 0.00001 * (i % 3))
            else:
                out.append(0.9 + 0.0005 * (i - 30))
        return out

    def metrics_c(n: int) -> list[float]:
        return [2.0 - 0.05 * i if i % 4 else 3.0 for i in range(n)]

    plateau = [
        (0.1, {}, metrics_a(60)),
        (0.1, {"patience": 2}, metrics_a(60)),
        (0.1, {"patience": 0, "factor": 0.5}, metrics_a(40)),
        (0.1, {"patience": 2, "cooldown": 3, "factor": 0.5}, metrics_a(60)),
        (0.1, {"patience": 1, "min_lr": 0.02, "factor": 0.3}, metrics_a(60)),
        (0.1, {"patience": 2, "threshold_mode": "abs", "threshold": 0.01}, metrics_a(60)),
        (0.1, {"patience": 3, "threshold": 0.05}, metrics_a(60)),
        (1.0, {"mode": "max", "patience": 3}, metrics_b(60)),
        (
            1.0,
            {
                "mode": "max",
                "patience": 2,
                "threshold_mode": "abs",
                "threshold": 0.001,
                "cooldown": 2,
            },
            metrics_b(60),
        ),
        (1.0, {"mode": "max", "patience": 4, "threshold": 0.0}, metrics_b(60)),
        (1e-3, {"patience": 1, "factor": 0.5, "eps": 2e-4}, metrics_a(60)),
        (0.1, {"patience": 2, "cooldown": 1, "min_lr": 0.001}, metrics_c(50)),
        (0.1, {"mode": "max", "patience": 1, "factor": 0.2}, metrics_c(50)),
        (0.1, {"patience": 3, "threshold": 1.0}, metrics_a(30)),  # inf * 0: never "better"
        (0.1, {"mode": "max", "patience": 0, "threshold_mode": "abs", "threshold": 0.0,
               "min_lr": 0.05}, metrics_b(40)),
    ]
    # Metrics landing exactly on torch's float64 bar (best * (1 - threshold), best - threshold,
    # ...): not an improvement; one float64 ulp beyond it: an improvement.
    for mode, threshold_mode, threshold, start in [
        ("min", "rel", 1e-4, 0.7),
        ("min", "rel", 0.1, 1.3),
        ("min", "abs", 0.01, 0.9),
        ("max", "rel", 1e-3, 0.3),
        ("max", "abs", 0.05, 0.45),
    ]:
        kw = {"mode": mode, "threshold_mode": threshold_mode, "threshold": threshold,
              "patience": 1, "factor": 0.5}
        metrics = boundary_metrics(mode, threshold_mode, threshold, start, 36)
        plateau.append((0.1, kw, metrics))
    for lr, kw, metrics in plateau:
        c = _case("reduce_lr_on_plateau", {"lr": lr, **kw}, _range(len(metrics)))
        c["metrics"] = metrics
        add(c)
    return cases


def boundary_metrics(mode: str, threshold_mode: str, threshold: float, start: float, n: int):
    """Metrics that sit on, or one float64 ulp past, torch's improvement bar, in turn."""
    best, out = start, [start]
    for i in range(n - 1):
        if mode == "min":
            bar = best * (1.0 - threshold) if threshold_mode == "rel" else best - threshold
            past = math.nextafter(bar, -math.inf)
        else:
            bar = best * (threshold + 1.0) if threshold_mode == "rel" else best + threshold
            past = math.nextafter(bar, math.inf)
        m = (bar, past, best)[i % 3]
        if m == past:
            best = m
        out.append(m)
    return out


def _r(x: float) -> float:
    return float(f"{x:.6g}")


def random_cases(seed: int = 2013) -> list[dict]:
    """A seeded random grid on top of the hand-picked cases (same for every run)."""
    import random

    rng = random.Random(seed)
    cases: list[dict] = []
    add = cases.append

    def log_u(lo: float, hi: float) -> float:
        return _r(10 ** rng.uniform(math.log10(lo), math.log10(hi)))

    for _ in range(6):
        add(
            _case(
                "step_lr",
                {
                    "lr": log_u(1e-4, 1),
                    "step_size": rng.randint(1, 50),
                    "gamma": _r(rng.uniform(0.05, 1.0)),
                },
                _range(rng.randint(50, 300)),
            )
        )
        ms = sorted(rng.sample(range(0, 150), rng.randint(1, 6)))
        add(
            _case(
                "multi_step_lr",
                {"lr": log_u(1e-4, 1), "milestones": ms, "gamma": _r(rng.uniform(0.05, 1.0))},
                _range(160),
            )
        )
        n = rng.randint(100, 3000)
        add(
            _case(
                "exponential_lr",
                {"lr": log_u(1e-4, 1), "gamma": _r(1 - 10 ** rng.uniform(-3.5, -0.5))},
                _sampled(n, max(1, n // 150)),
            )
        )
        T = rng.randint(1, 300)
        eta = 0.0 if rng.random() < 0.4 else None
        lr = log_u(1e-4, 1)
        add(
            _case(
                "cosine_annealing_lr",
                {
                    "lr": lr,
                    "T_max": T,
                    "eta_min": eta if eta is not None else _r(rng.uniform(0, lr)),
                },
                _sampled(int(T * rng.uniform(1, 5)) + 2, max(1, T // 40)),
            )
        )
        T0 = rng.randint(1, 40)
        mult = rng.choice([1, 2, 3, 4])
        add(
            _case(
                "cosine_annealing_warm_restarts",
                {
                    "lr": lr,
                    "T_0": T0,
                    "T_mult": mult,
                    "eta_min": _r(rng.choice([0.0, rng.uniform(0, lr)])),
                },
                _sampled(T0 * (1 + mult + mult**2 + mult**3) + 5, max(1, T0 // 8)),
            )
        )
        base = log_u(1e-5, 1e-2)
        mode = rng.choice(["triangular", "triangular2", "exp_range"])
        up = rng.randint(1, 60)
        down = rng.choice([None, rng.randint(0, 60)])
        args = {
            "base_lr": base,
            "max_lr": _r(base * rng.uniform(1, 100)),
            "step_size_up": up,
            "mode": mode,
            "gamma": _r(1 - 10 ** rng.uniform(-4, -1)),
        }
        if down is not None:
            args["step_size_down"] = down
        add(
            _case(
                "cyclic_lr",
                args,
                _sampled(8 * (up + (down if down is not None else up)), max(1, up // 10)),
            )
        )
        total = rng.randint(5, 500)
        add(
            _case(
                "one_cycle_lr",
                {
                    "max_lr": log_u(1e-3, 1),
                    "total_steps": total,
                    "pct_start": _r(rng.uniform(0.05, 0.95)),
                    "anneal_strategy": rng.choice(["cos", "linear"]),
                    "div_factor": _r(rng.uniform(2, 50)),
                    "final_div_factor": log_u(1, 1e5),
                    "three_phase": rng.random() < 0.5,
                },
                _sampled(total, max(1, total // 120)),
            )
        )
        T = rng.randint(0, 100)
        add(
            _case(
                "polynomial_lr",
                {"lr": lr, "total_iters": T, "power": _r(rng.uniform(0, 4))},
                _range(T + 20),
            )
        )
        T = rng.randint(0, 60)
        add(
            _case(
                "linear_lr",
                {
                    "lr": lr,
                    "start_factor": _r(rng.uniform(0.01, 1)),
                    "end_factor": _r(rng.uniform(0, 1)),
                    "total_iters": T,
                },
                _range(T + 20),
            )
        )
        T = rng.randint(0, 30)
        add(
            _case(
                "constant_lr",
                {"lr": lr, "factor": _r(rng.uniform(0.01, 1)), "total_iters": T},
                _range(T + 20),
            )
        )

    def random_piece(lr: float, chainable: bool) -> dict:
        kind = rng.choice(
            [
                "step_lr",
                "multi_step_lr",
                "exponential_lr",
                "cosine_annealing_lr",
                "polynomial_lr",
                "linear_lr",
                "constant_lr",
                "lambda_lr",
                "multiplicative_lr",
                "cosine_annealing_warm_restarts",
            ]
        )
        a: dict[str, Any] = {"lr": lr}
        if kind == "step_lr":
            a.update(step_size=rng.randint(1, 10), gamma=_r(rng.uniform(0.3, 1)))
        elif kind == "multi_step_lr":
            a.update(milestones=sorted(rng.sample(range(1, 40), 3)), gamma=_r(rng.uniform(0.3, 1)))
        elif kind == "exponential_lr":
            a.update(gamma=_r(rng.uniform(0.85, 1)))
        elif kind == "cosine_annealing_lr":
            a.update(
                T_max=rng.randint(1, 15), eta_min=0.0 if chainable else _r(rng.uniform(0, lr / 2))
            )
        elif kind == "polynomial_lr":
            a.update(total_iters=rng.randint(1, 30), power=_r(rng.uniform(0.5, 3)))
        elif kind == "linear_lr":
            a.update(
                start_factor=_r(rng.uniform(0.05, 1)),
                end_factor=_r(rng.uniform(0.2, 1)),
                total_iters=rng.randint(1, 12),
            )
        elif kind == "constant_lr":
            a.update(factor=_r(rng.uniform(0.1, 1)), total_iters=rng.randint(0, 8))
        elif kind == "lambda_lr":
            a.update(
                lr_lambda="@"
                + rng.choice(
                    ["warmup_linear_10", "exp_095", "inv_sqrt_warmup_8", "step_third_every_7"]
                )
            )
        elif kind == "multiplicative_lr":
            a.update(
                lr_lambda="@"
                + rng.choice(["const_095", "half_every_5", "approach_one_20", "grow_then_decay"])
            )
        else:
            a.update(
                T_0=rng.randint(1, 8), T_mult=rng.choice([1, 2]), eta_min=_r(rng.uniform(0, lr / 4))
            )
        return {"kind": kind, "args": a}

    for _ in range(10):
        lr = log_u(1e-3, 1)
        n_pieces = rng.randint(2, 4)
        ms = sorted(rng.sample(range(1, 40), n_pieces - 1))
        c = _case(
            "sequential_lr",
            {"schedules": [random_piece(lr, False) for _ in range(n_pieces)], "milestones": ms},
            _range(60),
        )
        c["opt_lr"] = lr
        add(c)
    for _ in range(10):
        lr = log_u(1e-3, 1)
        members = [random_piece(lr, True) for _ in range(rng.randint(2, 4))]
        c = _case("chained_scheduler", {"schedules": members}, _range(60))
        c["opt_lr"] = lr
        add(c)

    for _ in range(8):
        n = rng.randint(30, 90)
        level, metrics = 1.0, []
        for _i in range(n):
            if rng.random() < 0.35:
                level *= rng.uniform(0.8, 1.0)
            metrics.append(_r(level * (1 + rng.choice([0.0, 0.0, rng.uniform(0, 0.02)]))))
        mode = rng.choice(["min", "max"])
        if mode == "max":
            metrics = [_r(2.0 - m) for m in metrics]
        c = _case(
            "reduce_lr_on_plateau",
            {
                "lr": log_u(1e-3, 1),
                "mode": mode,
                "factor": _r(rng.uniform(0.1, 0.9)),
                "patience": rng.randint(0, 6),
                "threshold": _r(rng.choice([0.0, 1e-4, 1e-3, 0.01])),
                "threshold_mode": rng.choice(["rel", "abs"]),
                "cooldown": rng.randint(0, 4),
                "min_lr": _r(rng.choice([0.0, 1e-4, 1e-3])),
                "eps": _r(rng.choice([1e-8, 1e-5])),
            },
            _range(n),
        )
        c["metrics"] = metrics
        add(c)
    return cases


# ---------------------------------------------------------------------------------------------
# torch side


def _resolve(value: Any, fns: dict[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("@"):
        return fns[value[1:]]
    return value


def _build(torch: Any, opt: Any, spec: dict, fns: dict[str, Any]) -> Any:
    L = torch.optim.lr_scheduler
    kind = spec["kind"]
    args = {k: _resolve(v, fns) for k, v in spec["args"].items()}
    if kind in ("sequential_lr", "chained_scheduler"):
        subs = [_build(torch, opt, s, fns) for s in args["schedules"]]
        if kind == "sequential_lr":
            return L.SequentialLR(opt, subs, milestones=args["milestones"])
        return L.ChainedScheduler(subs)
    classes = {
        "step_lr": L.StepLR,
        "multi_step_lr": L.MultiStepLR,
        "exponential_lr": L.ExponentialLR,
        "cosine_annealing_lr": L.CosineAnnealingLR,
        "cosine_annealing_warm_restarts": L.CosineAnnealingWarmRestarts,
        "cyclic_lr": L.CyclicLR,
        "one_cycle_lr": L.OneCycleLR,
        "polynomial_lr": L.PolynomialLR,
        "linear_lr": L.LinearLR,
        "constant_lr": L.ConstantLR,
        "lambda_lr": L.LambdaLR,
        "multiplicative_lr": L.MultiplicativeLR,
        "reduce_lr_on_plateau": L.ReduceLROnPlateau,
    }
    args.pop("lr", None)  # the optimizer's lr
    if kind == "multi_step_lr":
        args["milestones"] = list(args["milestones"])
    return classes[kind](opt, **args)


def _opt_lr(case: dict) -> float:
    if "opt_lr" in case:
        return case["opt_lr"]
    a = case["args"]
    return a.get("lr", a.get("base_lr", a.get("max_lr")))


def run_case(torch: Any, case: dict, fns: dict[str, Any]) -> list[float]:
    param = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([param], lr=_opt_lr(case), momentum=0.9)
    sched = _build(torch, opt, case, fns)
    t_spec = case["t"]
    ts = list(range(t_spec["n"] + 1)) if isinstance(t_spec, dict) else list(t_spec)
    wanted = set(ts)
    out: dict[int, float] = {}
    metrics = case.get("metrics")
    for t in range(max(ts) + 1):
        if t in wanted:
            out[t] = float(opt.param_groups[0]["lr"])
        if t == max(ts):
            break
        opt.step()
        if metrics is not None:
            sched.step(metrics[t])
        else:
            sched.step()
    return [out[t] for t in ts]


def _round(x: float) -> float:
    return float(f"{x:.10g}")


def main() -> int:
    import numpy as np
    import torch

    warnings.simplefilter("ignore")
    fns = named_callables(np)
    randoms = random_cases()
    for i, case in enumerate(randoms):
        case["random"] = i  # the tests run every third random case by default, all with -m slow
    cases = build_cases() + randoms
    counts: dict[str, int] = {}
    for case in cases:
        k = case["kind"]
        counts[k] = counts.get(k, 0) + 1
        case["name"] = f"{k}/{counts[k] - 1}"
        case["lr"] = [_round(v) for v in run_case(torch, case, fns)]
    data = {
        "generator": "tests/golden/gen_torch_golden.py",
        "torch_version": torch.__version__,
        "cases": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    size = OUT.stat().st_size
    print(f"wrote {len(cases)} cases to {OUT} ({size / 1e6:.2f} MB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
