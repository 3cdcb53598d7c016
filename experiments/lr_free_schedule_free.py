"""Learning-rate-free bases under schedule-free: ``schedule_free(optax.contrib.prodigy(...))`` and
``schedule_free(optax.contrib.dadapt_adamw(...))`` against plain Prodigy / D-Adapt AdamW.

Task: minibatch regression with a 2-layer tanh MLP (16 inputs, 64 hidden units) on
``y = sin(x . a) + 0.1 noise``, 4,096 training examples, batch 32; the loss reported is the
full-training-set MSE at ``eval_params`` (the average for the schedule-free runs), at several
steps of one run, mean over seeds. Every optimizer runs with its defaults (learning rate 1.0,
the bases' own estimate of the step size); the schedule-free bases get ``b1 = 0`` (no momentum
of their own; schedule-free's interpolation replaces it).

    python experiments/lr_free_schedule_free.py [--steps 2000] [--seeds 3] [--json]

Prints figures; it is not a test (``tests/test_optim_migration.py`` checks the composition).
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

from jaxsched.optim import eval_params, schedule_free  # noqa: E402

N, D, H, BATCH = 4096, 16, 64, 32


def optimizers() -> dict[str, optax.GradientTransformation]:
    no_momentum = (0.0, 0.999)
    return {
        "prodigy": optax.contrib.prodigy(1.0),
        "schedule_free(prodigy)": schedule_free(
            optax.contrib.prodigy(1.0, betas=no_momentum), 1.0
        ),
        "dadapt_adamw": optax.contrib.dadapt_adamw(1.0),
        "schedule_free(dadapt_adamw)": schedule_free(
            optax.contrib.dadapt_adamw(1.0, betas=no_momentum), 1.0
        ),
        "optax.contrib.schedule_free(prodigy)": optax.contrib.schedule_free(
            optax.contrib.prodigy(1.0, betas=no_momentum), 1.0
        ),
    }


def run(steps: int, seeds: int, record: list[int]) -> dict:
    def data(key):
        k1, k2, k3 = jax.random.split(key, 3)
        X = jax.random.normal(k1, (N, D))
        a = jax.random.normal(k2, (D,)) / jnp.sqrt(D)
        Y = jnp.sin(3.0 * X @ a) + 0.1 * jax.random.normal(k3, (N,))
        return X, Y

    def init(key):
        k1, k2 = jax.random.split(key)
        return {
            "w1": jax.random.normal(k1, (D, H)) / jnp.sqrt(D),
            "b1": jnp.zeros(H),
            "w2": jax.random.normal(k2, (H,)) / jnp.sqrt(H),
            "b2": jnp.zeros(()),
        }

    def loss(p, X, Y):
        return jnp.mean((jnp.tanh(X @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"] - Y) ** 2)

    def one(opt, seed):
        key = jax.random.PRNGKey(seed)
        kd, ki, kb = jax.random.split(key, 3)
        X, Y = data(kd)
        params = init(ki)

        def body(carry, k):
            p, s = carry
            idx = jax.random.randint(k, (BATCH,), 0, N)
            g = jax.grad(loss)(p, X[idx], Y[idx])
            u, s = opt.update(g, s, p)
            p = optax.apply_updates(p, u)
            return (p, s), loss(eval_params(s, p), X, Y)

        keys = jax.random.split(kb, steps)
        return jax.lax.scan(body, (params, opt.init(params)), keys)[1]

    opts = optimizers()
    seeds_arr = jnp.arange(seeds)
    curves = jax.jit(
        lambda: {n: jax.vmap(lambda s, o=o: one(o, s))(seeds_arr) for n, o in opts.items()}
    )()
    out = {}
    for name, c in curves.items():
        c = np.asarray(c)
        out[name] = {
            str(k): dict(
                mean=float(c[:, k - 1].mean()),
                std=float(c[:, k - 1].std()),
                median=float(np.median(c[:, k - 1])),
                per_seed=[float(v) for v in c[:, k - 1]],
            )
            for k in record
        }
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    record = sorted({max(1, args.steps // 10), args.steps // 4, args.steps // 2, args.steps})
    result = {"steps": args.steps, "seeds": args.seeds, "loss": run(args.steps, args.seeds, record)}
    if args.json:
        print(json.dumps(result, indent=2))
        return result
    print(f"full-set MSE at eval_params over {args.seeds} seeds: mean ± std [median]")
    print(f"  {'optimizer':38s} " + " ".join(f"{'step ' + str(k):>26s}" for k in record))
    for name, by_step in result["loss"].items():
        cells = " ".join(
            f"{c['mean']:8.4f} ± {c['std']:.4f} [{c['median']:.4f}]"
            for c in (by_step[str(k)] for k in record)
        )
        print(f"  {name:38s} {cells}")
    last = str(record[-1])
    print(f"per seed at step {last}:")
    for name, by_step in result["loss"].items():
        print(f"  {name:38s} " + " ".join(f"{v:.4f}" for v in by_step[last]["per_seed"]))
    return result


if __name__ == "__main__":
    main()
