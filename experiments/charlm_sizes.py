"""Measure the byte language model's sizes on this machine: run-steps/s, cost, bits per byte.

For each size of :data:`jaxsched.workloads.charlm.SIZES` asked for, in one process:

* the corpus (files, bytes, sha256) and the model (parameters, XLA's GFLOP per run-step);
* run-steps/s of the group loop after compiling, for K runs in one program, of plain AdamW, of
  Schedule-Free AdamW with the loss logged at ``eval_params`` (as the comparison's anytime
  candidates do: one extra forward pass) and without that logging, and the milliseconds of
  one evaluation per run;
* bits per byte after ``--bpb-steps`` steps of AdamW, cosine-decayed and constant, per
  learning rate (one group), to size the comparison's horizons and learning-rate grid.

The machine's load is printed beside the numbers (load average and the f32 matmul GFLOP/s
measured in the same process: about 180 on this project's 2-core CPU when nothing else runs),
since a shared machine's rates scale with it.

``--grid`` then trains the comparison grid the ``quick`` size is sized for (all 7 built-in
candidates, ``--lrs``, ``--horizons``, ``--seeds``) through :func:`jaxsched.compare.run` and
prints its wall time, run-steps/s, tuned envelope and time to the cosine target.

    python experiments/charlm_sizes.py [--sizes smoke quick] [--runs 1 12] [--steps 60]
        [--bpb-steps 400] [--lrs 1e-3 3e-3 1e-2 3e-2] [--grid] [--horizons 100 200 400]
        [--seeds 3]

Prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import os
import time

if "JAX_PLATFORMS" not in os.environ:
    os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from jaxsched import optim  # noqa: E402
from jaxsched.train.loop import GroupTrainer  # noqa: E402
from jaxsched.train.throughput import matmul_peak_gflops  # noqa: E402
from jaxsched.workloads.charlm import SIZES, charlm_task  # noqa: E402
from jaxsched.workloads.text import stdlib_corpus  # noqa: E402


def _adamw(lr_fn, h):
    return optax.adamw(lr_fn, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0)


def _sf_adamw(lr_fn, h):
    return optim.schedule_free_adamw(h["lr"], b1=0.9, b2=0.999, eps=1e-8)


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}, matmul {matmul_peak_gflops(1024):.0f} GFLOP/s"


def throughput(task, make, record: bool, runs: int, steps: int) -> dict[str, float]:
    """Run-steps/s of ``runs`` runs in one program (after a compiling call), eval ms per run."""
    trainer = GroupTrainer(task, make, record_eval_loss=record, chunk_size=steps)
    hp = {"lr": jnp.full((runs,), 1e-3)}
    tables = jnp.full((runs, 1), 1e-3)
    state = trainer.init(jnp.arange(runs), hp)
    t0 = time.perf_counter()
    state, losses = trainer.train(state, tables, hp, steps)
    losses.block_until_ready()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    state, losses = trainer.train(state, tables, hp, steps)
    losses.block_until_ready()
    rate = runs * steps / (time.perf_counter() - t0)
    jax.block_until_ready(trainer.evaluate(state))
    t0 = time.perf_counter()
    jax.block_until_ready(trainer.evaluate(state))
    eval_ms = 1000 * (time.perf_counter() - t0) / runs
    gflop = trainer.flops_per_step(state, tables, hp) / 1e9 / runs
    return {"rate": rate, "first_call_s": compile_s, "eval_ms": eval_ms, "gflop": gflop}


def bits_per_byte(task, lrs, steps: int) -> None:
    """AdamW, cosine to ``steps`` and constant, per lr, in one group; bpb at quarters."""
    t = np.arange(steps)
    cos = 0.5 * (1 + np.cos(np.pi * t / steps))
    tables = np.stack([lr * cos for lr in lrs] + [np.full(steps, lr) for lr in lrs])
    n = len(tables)
    trainer = GroupTrainer(task, _adamw, chunk_size=steps // 4)
    state = trainer.init(np.zeros(n, np.int32), {})
    marks = []
    t0 = time.perf_counter()
    for _ in range(4):
        state, _ = trainer.train(state, tables.astype(np.float32), {}, steps // 4)
        marks.append(np.asarray(trainer.evaluate(state)["loss"]))
    print(f"  bits/byte of AdamW after {steps // 4}/{steps // 2}/{3 * steps // 4}/{steps} steps "
          f"({n} runs in one group, {time.perf_counter() - t0:.0f} s):")
    for i, lr in enumerate(lrs):
        for j, name in ((i, "cosine"), (len(lrs) + i, "constant")):
            print(f"    lr {lr:g} {name:8s} " + " / ".join(f"{m[j]:.3f}" for m in marks))


def grid(size, lrs, horizons, seeds) -> None:
    from jaxsched.compare import experiment
    from jaxsched.compare.candidates import BUILTIN
    from jaxsched.compare.targets import time_to_target

    corpus = stdlib_corpus(SIZES[size].max_bytes)
    task = charlm_task(size, corpus)
    print(f"\ngrid on {size}: 7 candidates, lrs {lrs}, horizons {horizons}, {seeds} seeds "
          f"({_load()})")
    t0 = time.perf_counter()
    res = experiment.run(task, candidates=list(BUILTIN), lrs=lrs,
                         horizons=horizons, seeds=seeds, eval_every=max(horizons) // 8,
                         identity={"size": SIZES[size]._asdict(),
                                   "corpus": corpus.manifest.sha256},
                         log=lambda m: None)
    wall = time.perf_counter() - t0
    t = res.timing
    print(f"  {t['run_steps']} run-steps in {wall:.0f} s ({wall / 60:.1f} min): "
          f"{t['run_steps'] / wall:.1f} run-steps/s, compiles and evaluations included "
          f"({_load()} at the end)")
    print("  tuned bits/byte (mean ± std over seeds; best lr):")
    for e in res.envelope():
        print(f"    {e['candidate']:12s} T={e['horizon']:5d} {e['mean']:.4f} ± {e['std']:.4f} "
              f"(lr {e['lr']:g})")
    rows = time_to_target(res)
    print(f"  steps to the tuned cosine's final bits/byte at T={max(horizons)} "
          f"({rows[0]['target']:.4f}):")
    for r in rows:
        print(f"    {r['candidate']:12s} seed {r['seed']}: {r['steps_to_target']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="*", default=["smoke", "quick"], choices=list(SIZES))
    p.add_argument("--runs", nargs="+", type=int, default=[1, 12])
    p.add_argument("--steps", type=int, default=60, help="timed steps per measurement")
    p.add_argument("--bpb-steps", type=int, default=400)
    p.add_argument("--lrs", nargs="+", type=float, default=[1e-3, 3e-3, 1e-2, 3e-2])
    p.add_argument("--grid", action="store_true")
    p.add_argument("--grid-size", default="quick", choices=list(SIZES))
    p.add_argument("--horizons", nargs="+", type=int, default=[100, 200, 400])
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()
    print(f"{jax.devices()[0].device_kind}; {_load()}; XLA_FLAGS={os.environ.get('XLA_FLAGS')!r}")
    for name in args.sizes:
        size = SIZES[name]
        t0 = time.perf_counter()
        corpus = stdlib_corpus(size.max_bytes)
        m = corpus.manifest
        print(f"\n{name}: d {size.d_model}, {size.num_layers} layers, {size.num_heads} heads, "
              f"context {size.context}, batch {size.batch_size}, {size.num_params():,} params")
        print(f"  corpus: {m.python}, {len(m.files)} files, train {m.train_bytes:,} B, val "
              f"{m.val_bytes:,} B, sha256 {m.sha256} (read in {time.perf_counter() - t0:.1f} s)")
        task = charlm_task(size, corpus)
        for k in args.runs:
            for label, make, record in (("adamw", _adamw, False), ("sf_adamw", _sf_adamw, True),
                                        ("sf_adamw without logging", _sf_adamw, False)):
                r = throughput(task, make, record, k, args.steps)
                print(f"  K={k:2d} {label:24s}: {r['rate']:7.1f} run-steps/s, "
                      f"{r['gflop']:.3f} GFLOP/run-step, first call {r['first_call_s']:.1f} s, "
                      f"eval {r['eval_ms']:.0f} ms/run ({_load()})")
        if args.bpb_steps:
            bits_per_byte(task, args.lrs, args.bpb_steps)
    if args.grid:
        grid(args.grid_size, args.lrs, args.horizons, args.seeds)


if __name__ == "__main__":
    main()
