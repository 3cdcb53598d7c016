"""Benchmark: one update of each jaxsched.optim optimizer against optax, in one process.

Each optimizer's step ``(params, state, grads) -> (apply_updates(params, updates), state)`` is
jitted with params and state donated, on a ~20M-parameter pytree (transformer-like shapes), on
CPU by default. Every candidate is timed in alternation with its optax baseline (baseline call,
candidate call, repeat), so that load from other processes hits both alike; the figure reported
is the median of the per-pair time ratios, with the median times beside it. Beside the time,
each optimizer's state size: the bytes of its state's arrays over the parameters' bytes
(``state``; its few 0-d counters and sums, some 20 bytes, are counted apart), for it and for its
baseline.

Targets (where optax has a counterpart): ``schedule_free_adamw``'s state <= 2.0x the
parameters (optax's size: z and the second moment); ``schedule_free_adamw`` (also with weight
decay at y or at z) <= 1.0x ``optax.contrib.schedule_free_adamw``'s time;
``schedule_free_sgd`` <= 1.0x ``optax.contrib.schedule_free_sgd``;
``schedule_free(adam, weight_decay_at_y)`` <= 1.0x ``optax.contrib.schedule_free(optax.adamw)``
(the same update); ``ema_average(adam)`` <= 1.3x ``optax.adam``. ``schedule_free_radam`` has
no optax counterpart: it is timed against ``optax.radam`` for scale.

    python experiments/bench_optim.py [--params 20e6] [--repeats 21] [--json]

Prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

if "JAX_PLATFORMS" not in os.environ:
    os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

from jaxsched.optim import (  # noqa: E402
    adam,
    ema_average,
    polyak_average,
    power_ema_decay,
    schedule_free,
    schedule_free_adam,
    schedule_free_adamw,
    schedule_free_radam,
    schedule_free_sgd,
)

TARGETS = {
    "schedule_free_adamw": ("optax.contrib.schedule_free_adamw", 1.0),
    "schedule_free_adamw(wd)": ("optax.contrib.schedule_free_adamw(wd)", 1.0),
    "schedule_free_adamw(wd, decay_at_z)": ("optax.contrib.schedule_free_adamw(wd)", 1.0),
    "schedule_free_sgd": ("optax.contrib.schedule_free_sgd", 1.0),
    "schedule_free_sgd(wd, warmup)": ("optax.contrib.schedule_free_sgd(wd, warmup)", 1.0),
    "schedule_free(adam, weight_decay_at_y)": ("optax.contrib.schedule_free(adamw)", 1.0),
    "ema_average(adam)": ("optax.adam", 1.3),
}

# optimizer -> the largest state size, as a multiple of the parameters' bytes
STATE_TARGETS = {"schedule_free_adamw": 2.0}

WD = 0.01


def baseline_optimizers(lr: float) -> dict[str, Callable[[], optax.GradientTransformation]]:
    return {
        "optax.adam": lambda: optax.adam(lr),
        "optax.radam": lambda: optax.radam(lr),
        "optax.contrib.schedule_free_adamw": lambda: optax.contrib.schedule_free_adamw(lr),
        "optax.contrib.schedule_free_adamw(wd)": lambda: optax.contrib.schedule_free_adamw(
            lr, weight_decay=WD
        ),
        "optax.contrib.schedule_free_sgd": lambda: optax.contrib.schedule_free_sgd(lr),
        "optax.contrib.schedule_free_sgd(wd, warmup)": lambda: optax.contrib.schedule_free_sgd(
            lr, warmup_steps=100, weight_decay=WD
        ),
        "optax.contrib.schedule_free(adamw)": lambda: optax.contrib.schedule_free(
            optax.adamw(lr, b1=0.0, weight_decay=WD), lr
        ),
    }


def make_params(n_params: float, key=None) -> dict:
    """Blocks of a width-512 transformer (4 attention + 2 MLP matrices, biases, norms)."""
    key = jax.random.PRNGKey(0) if key is None else key
    width, per_block = 512, 4 * 512 * 512 + 2 * 512 * 2048 + 9 * 512 + 2048
    n_blocks = max(1, round(n_params / per_block))
    params = {}
    for b in range(n_blocks):
        key, *ks = jax.random.split(key, 8)
        params[f"block{b}"] = {
            "attn": {
                n: 0.02 * jax.random.normal(k, (width, width))
                for n, k in zip("qkvo", ks[:4], strict=True)
            },
            "mlp_in": 0.02 * jax.random.normal(ks[4], (width, 4 * width)),
            "mlp_out": 0.02 * jax.random.normal(ks[5], (4 * width, width)),
            "bias_in": jnp.zeros(4 * width),
            "biases": jnp.zeros((5, width)),
            "norms": jnp.ones((4, width)),
        }
    return params


def state_size(opt: optax.GradientTransformation, params: dict) -> tuple[float, int]:
    """``(ratio, scalar_bytes)`` of ``opt.init(params)``: the bytes of its arrays (0-d ones
    aside) over the bytes of ``params``, and the bytes of its 0-d bookkeeping (counts, weight
    sums). Not allocated: shapes and dtypes from ``jax.eval_shape``; ``params`` has no 0-d leaf.
    """
    leaves = jax.tree.leaves(jax.eval_shape(opt.init, params))
    arrays = sum(x.size * x.dtype.itemsize for x in leaves if x.ndim > 0)
    scalars = sum(x.dtype.itemsize for x in leaves if x.ndim == 0)
    return arrays / sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(params)), scalars


def make_step(opt: optax.GradientTransformation, params: dict, grads: dict) -> Callable[[], None]:
    """A no-argument callable running one donated, jitted update (compiled on creation)."""

    def step(p, s, g):
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    jitted = jax.jit(step, donate_argnums=(0, 1))
    p = jax.tree.map(jnp.copy, params)
    box = [p, opt.init(p)]

    def run() -> None:
        box[0], box[1] = jitted(box[0], box[1], grads)
        jax.block_until_ready(box)

    run()
    run()
    return run


def timed(run: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def candidates() -> list[tuple[str, Callable[[], optax.GradientTransformation], str]]:
    lr = 1e-3
    return [
        ("adam", lambda: adam(lr), "optax.adam"),
        ("ema_average(adam)", lambda: ema_average(adam(lr), 0.999), "optax.adam"),
        (
            "ema_average(adam, every_n_steps=4)",
            lambda: ema_average(adam(lr), 0.999, every_n_steps=4),
            "optax.adam",
        ),
        ("polyak_average(adam)", lambda: polyak_average(adam(lr)), "optax.adam"),
        ("schedule_free_adam(polyak)", lambda: schedule_free_adam(lr), "optax.adam"),
        (
            "schedule_free_adam(ema)",
            lambda: schedule_free_adam(lr, average="ema"),
            "optax.adam",
        ),
        (
            "schedule_free_adamw",
            lambda: schedule_free_adamw(lr),
            "optax.contrib.schedule_free_adamw",
        ),
        (
            "schedule_free_adamw(store_x=True)",
            lambda: schedule_free_adamw(lr, store_x=True),
            "optax.contrib.schedule_free_adamw",
        ),
        (
            "schedule_free_adamw(wd, warmup, r)",
            lambda: schedule_free_adamw(lr, weight_decay=0.01, warmup_steps=100, r=0.5),
            "optax.contrib.schedule_free_adamw",
        ),
        (
            "schedule_free_adamw(wd)",
            lambda: schedule_free_adamw(lr, weight_decay=WD),
            "optax.contrib.schedule_free_adamw(wd)",
        ),
        (
            "schedule_free_adamw(wd, decay_at_z)",
            lambda: schedule_free_adamw(lr, weight_decay=WD, decay_at_z=True),
            "optax.contrib.schedule_free_adamw(wd)",
        ),
        ("schedule_free_sgd", lambda: schedule_free_sgd(lr), "optax.contrib.schedule_free_sgd"),
        (
            "schedule_free_sgd(wd, warmup)",
            lambda: schedule_free_sgd(lr, warmup_steps=100, weight_decay=WD),
            "optax.contrib.schedule_free_sgd(wd, warmup)",
        ),
        ("schedule_free_radam", lambda: schedule_free_radam(lr), "optax.radam"),
        (
            "schedule_free_radam(wd, r)",
            lambda: schedule_free_radam(lr, weight_decay=WD, r=0.5),
            "optax.radam",
        ),
        (
            "schedule_free(optax.sgd)",
            lambda: schedule_free(optax.sgd(lr), lr),
            "optax.contrib.schedule_free_sgd",
        ),
        (
            "schedule_free(adam, weight_decay_at_y)",
            lambda: schedule_free(optax.adam(lr, b1=0.0), lr, weight_decay_at_y=WD),
            "optax.contrib.schedule_free(adamw)",
        ),
        (
            "ema_average(adam, power_ema_decay)",
            lambda: ema_average(adam(lr), power_ema_decay(6.94)),
            "optax.adam",
        ),
    ]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--params", type=float, default=20e6, help="approximate parameter count")
    ap.add_argument("--repeats", type=int, default=21, help="timed pairs per candidate")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument(
        "--only", nargs="*", default=None, help="run only optimizers whose name contains these"
    )
    args = ap.parse_args(argv)

    params = make_params(args.params)
    n = sum(x.size for x in jax.tree.leaves(params))
    grads = jax.tree.map(lambda p: 1e-3 * jnp.ones_like(p) + 0.1 * p, params)
    chosen = candidates()
    if args.only:
        chosen = [c for c in chosen if any(o in c[0] for o in args.only)]
    needed = {base for _, _, base in chosen}
    baselines = {
        name: make_step(make(), params, grads)
        for name, make in baseline_optimizers(1e-3).items()
        if name in needed
    }
    base_sizes = {
        name: state_size(make(), params)
        for name, make in baseline_optimizers(1e-3).items()
        if name in needed
    }
    base_times: dict[str, list[float]] = {k: [] for k in baselines}
    rows = []
    for name, make, base in chosen:
        opt = make()
        run = make_step(opt, params, grads)
        ratios, times = [], []
        for _ in range(args.repeats):
            tb = timed(baselines[base])
            tc = timed(run)
            base_times[base].append(tb)
            times.append(tc)
            ratios.append(tc / tb)
        del run
        rows.append(
            dict(
                optimizer=name,
                baseline=base,
                median_ms=1e3 * statistics.median(times),
                ratio=statistics.median(ratios),
                state_ratio=state_size(opt, params)[0],
                state_scalar_bytes=state_size(opt, params)[1],
                baseline_state_ratio=base_sizes[base][0],
            )
        )
    result = {
        "n_params": n,
        "leaves": len(jax.tree.leaves(params)),
        "device": str(jax.devices()[0]),
        "jax": jax.__version__,
        "optax": optax.__version__,
        "repeats": args.repeats,
        "baselines_median_ms": {k: 1e3 * statistics.median(v) for k, v in base_times.items()},
        "baselines_state_ratio": {k: v[0] for k, v in base_sizes.items()},
        "rows": rows,
        "targets": {},
        "state_targets": {},
    }
    for name, (base, limit) in TARGETS.items():
        ratio = next((r["ratio"] for r in rows if r["optimizer"] == name), None)
        if ratio is None:
            continue
        result["targets"][name] = dict(baseline=base, limit=limit, ratio=ratio, met=ratio <= limit)
    for name, limit in STATE_TARGETS.items():
        size = next((r["state_ratio"] for r in rows if r["optimizer"] == name), None)
        if size is None:
            continue
        result["state_targets"][name] = dict(limit=limit, state_ratio=size, met=size <= limit)

    if args.json:
        print(json.dumps(result, indent=2))
        return result
    print(
        f"{n / 1e6:.1f}M parameters in {result['leaves']} leaves on {result['device']} "
        f"(jax {jax.__version__}, optax {optax.__version__}); median of {args.repeats} "
        "alternating pairs"
    )
    for k, v in result["baselines_median_ms"].items():
        print(f"  baseline {k:44s} {v:8.1f} ms  state {base_sizes[k][0]:.2f}x params")
    print(f"  {'optimizer':44s} {'ms':>8s}  {'state':>6s}  time ratio (vs baseline, its state)")
    for r in rows:
        print(
            f"  {r['optimizer']:44s} {r['median_ms']:8.1f}  {r['state_ratio']:5.2f}x  "
            f"{r['ratio']:5.2f}x ({r['baseline']}, {r['baseline_state_ratio']:.2f}x)"
        )
    for name, t in result["state_targets"].items():
        status = "met" if t["met"] else "NOT MET"
        print(f"target {name} state <= {t['limit']}x params: {t['state_ratio']:.2f}x {status}")
    for name, t in result["targets"].items():
        status = "met" if t["met"] else "NOT MET"
        print(f"target {name} <= {t['limit']}x {t['baseline']}: {t['ratio']:.2f}x {status}")
    return result


if __name__ == "__main__":
    main()
