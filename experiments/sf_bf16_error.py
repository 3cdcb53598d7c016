"""Measurement: how far schedule-free's average drifts with bf16 parameters, x stored or not.

Schedule-free needs its average ``x`` for evaluation. It can keep ``x`` in the state
(``store_x=True``) or recover it from the parameters ``y`` and ``z`` as
``x = z + (y - z) / b1`` (``store_x=False``). With bf16 parameters ``y`` is rounded to bf16
after every update; when ``x`` is recovered, each rounding becomes an error of ``x`` that the
average carries on. This script trains the same least-squares problem (a 64x16 linear map,
minibatches drawn from one key sequence, so runs in different precisions follow one
trajectory) with ``schedule_free_adamw`` in float32 and with bf16 parameters, and prints the
distance of ``eval_params`` from the float32 run's

    rel_err = ||eval_params(bf16 run) - x_f32|| / ||x_f32||

after 100, 1000 and 10000 steps, beside the excess loss at ``eval_params``. The floor is
``||bf16(x_f32) - x_f32|| / ||x_f32||``: ``eval_params`` returns the parameters' dtype.

    python experiments/sf_bf16_error.py [--steps 10000] [--lr 3e-3] [--json]

Prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import json
import os

if "JAX_PLATFORMS" not in os.environ:
    os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from jaxsched.optim import eval_params, schedule_free_adamw  # noqa: E402

CHUNK = 100  # steps between two recorded evaluations
N_DATA, D_IN, D_OUT, BATCH = 4096, 64, 16, 32


def make_problem(seed: int = 0):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    X = jax.random.normal(k1, (N_DATA, D_IN))
    W_true = jax.random.normal(k2, (D_IN, D_OUT)) / np.sqrt(D_IN) * 4.0
    Y = X @ W_true + 0.3 * jax.random.normal(k3, (N_DATA, D_OUT))
    params = {"w": jnp.zeros((D_IN, D_OUT)) + 0.5, "b": jnp.zeros(D_OUT)}

    def loss(p, idx=None):
        x, y = (X, Y) if idx is None else (X[idx], Y[idx])
        pred = x.astype(p["w"].dtype) @ p["w"] + p["b"]
        return jnp.mean((pred.astype(jnp.float32) - y) ** 2)

    return params, loss


def run(opt, params, loss, steps: int):
    """eval_params (as float32) after every CHUNK steps, and the full loss there."""
    grad = jax.grad(loss)

    def step(carry, key):
        p, s = carry
        idx = jax.random.randint(key, (BATCH,), 0, N_DATA)
        u, s = opt.update(grad(p, idx), s, p)
        return (optax.apply_updates(p, u), s), None

    def chunk(carry, keys):
        carry, _ = jax.lax.scan(step, carry, keys)
        e = eval_params(carry[1], carry[0])
        return carry, (jax.tree.map(lambda t: t.astype(jnp.float32), e), loss(e))

    keys = jax.random.split(jax.random.PRNGKey(1), steps).reshape(steps // CHUNK, CHUNK, 2)
    _, (xs, losses) = jax.jit(lambda p: jax.lax.scan(chunk, (p, opt.init(p)), keys))(params)
    return xs, losses


def flat(tree, i):
    return np.concatenate([np.asarray(t[i], np.float64).ravel() for t in jax.tree.leaves(tree)])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=10_000, help="a multiple of 100")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    if args.steps % CHUNK:
        ap.error(f"--steps must be a multiple of {CHUNK}, got --steps={args.steps}")

    params, loss = make_problem()
    p16 = jax.tree.map(lambda t: t.astype(jnp.bfloat16), params)
    f32 = jnp.float32
    lr = args.lr
    configs = {
        # name: (optimizer, parameters)
        "f32 params, x recovered (default; reference)": (schedule_free_adamw(lr), params),
        "f32 params, x stored": (schedule_free_adamw(lr, store_x=True), params),
        "bf16 params, bf16 state, x stored (default)": (schedule_free_adamw(lr), p16),
        "bf16 params, bf16 state, x recovered": (schedule_free_adamw(lr, store_x=False), p16),
        "bf16 params, f32 state, x stored (default)": (
            schedule_free_adamw(lr, state_dtype=f32),
            p16,
        ),
        "bf16 params, f32 state, x recovered": (
            schedule_free_adamw(lr, state_dtype=f32, store_x=False),
            p16,
        ),
        "bf16 params, optax.contrib (f32 z)": (
            optax.contrib.schedule_free_adamw(lr, state_dtype=f32),
            p16,
        ),
    }
    ref_name = next(iter(configs))
    out = {name: run(opt, p, loss, args.steps) for name, (opt, p) in configs.items()}
    ref_x, ref_loss = out[ref_name]
    at = sorted({s for s in (100, 1000, 10_000, args.steps) if s <= args.steps})
    rows = []
    for name, (xs, losses) in out.items():
        row = {"config": name}
        for s in at:
            i = s // CHUNK - 1
            x, xr = flat(xs, i), flat(ref_x, i)
            row[f"rel_err@{s}"] = float(np.linalg.norm(x - xr) / np.linalg.norm(xr))
            row[f"excess_loss@{s}"] = float(losses[i] - ref_loss[i])
        rows.append(row)
    floor = {}
    for s in at:
        xr = flat(ref_x, s // CHUNK - 1)
        rounded = np.asarray(jnp.asarray(xr, jnp.bfloat16), np.float64)
        floor[f"rel_err@{s}"] = float(np.linalg.norm(rounded - xr) / np.linalg.norm(xr))
    result = {
        "steps": args.steps,
        "lr": lr,
        "n_params": int(sum(np.size(t) for t in jax.tree.leaves(params))),
        "ref_loss": {str(s): float(ref_loss[s // CHUNK - 1]) for s in at},
        "bf16_floor": floor,
        "rows": rows,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return result
    print(
        f"schedule_free_adamw(lr={lr}) on least squares, {result['n_params']} parameters; "
        "distance of eval_params from the float32 run's"
    )
    head = "".join(f"  rel_err@{s:<6d}" for s in at) + "".join(f" exc_loss@{s:<6d}" for s in at)
    print(f"  {'configuration':45s}{head}")
    for r in rows:
        vals = "".join(f"  {r[f'rel_err@{s}']:12.2e}" for s in at)
        vals += "".join(f" {r[f'excess_loss@{s}']:14.2e}" for s in at)
        print(f"  {r['config']:45s}{vals}")
    vals = "".join(f"  {floor[f'rel_err@{s}']:12.2e}" for s in at)
    print(f"  {'(bf16 rounding of the float32 x)':45s}{vals}")
    losses = ", ".join(f"{v:.4f} at {k}" for k, v in result["ref_loss"].items())
    print(f"  float32 run's loss: {losses}")
    return result


if __name__ == "__main__":
    main()
