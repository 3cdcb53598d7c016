"""Probe a byte-language-model configuration for the comparison's regime check.

Trains the baselines of the regime check (by default ``cosine``, ``wsd`` and ``constant``, each
tuned over ``--lrs``) on a :class:`~jaxsched.workloads.charlm.CharLMSize` given on the command
line, through :func:`jaxsched.compare.run`, and prints per horizon each tuned envelope and the
cooldown gain of every schedule over tuned constant with its spread over seeds
(:mod:`jaxsched.compare.regime`), plus the wall time, run-steps/s, the load average and the
matmul GFLOP/s measured in the same process (a shared machine's rates scale with its load).

A preset of ``jaxsched compare --task charlm`` is sized with it: the cooldown gain must exceed
its spread at the longest horizon, with horizons spanning at least 4x, before anything else
about the grid is looked at.

    nice -n 10 python experiments/charlm_regime_probe.py --d 64 --layers 2 --heads 4 \\
        --context 64 --batch 16 --max-bytes 2000000 --lrs 1e-3 3e-3 1e-2 \\
        --horizons 1600 --seeds 1 --out /tmp/probe-quick-1600

``--out`` keeps the runs: the same command again resumes and prints without training.
Prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import os
import time

if "JAX_PLATFORMS" not in os.environ:
    os.environ["JAX_PLATFORMS"] = "cpu"

from jaxsched.compare import experiment  # noqa: E402
from jaxsched.train.throughput import matmul_peak_gflops  # noqa: E402
from jaxsched.workloads.charlm import CharLMSize, charlm_task  # noqa: E402
from jaxsched.workloads.text import stdlib_corpus  # noqa: E402


def _load() -> str:
    return (f"load average {os.getloadavg()[0]:.1f}, matmul {matmul_peak_gflops(1024):.0f} "
            "GFLOP/s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--context", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--max-bytes", type=int, default=2_000_000)
    p.add_argument("--val-windows", type=int, default=128)
    p.add_argument("--mlp-ratio", type=int, default=4)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--lrs", nargs="+", type=float, default=[1e-3, 3e-3, 1e-2])
    p.add_argument("--horizons", nargs="+", type=int, default=[1600])
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--candidates", nargs="+", default=["cosine", "wsd", "constant"])
    p.add_argument("--eval-every", type=int, default=None)
    p.add_argument("--warmup", type=float, default=0.0,
                   help="linear warmup, a fraction of each horizon (no WSD branching then)")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--no-group", action="store_true")
    p.add_argument("--out", default=None, help="keep the runs here (resumable)")
    args = p.parse_args()

    size = CharLMSize("probe", d_model=args.d, num_layers=args.layers, num_heads=args.heads,
                      context=args.context, batch_size=args.batch, max_bytes=args.max_bytes,
                      val_windows=args.val_windows, eval_batch=args.val_windows,
                      mlp_ratio=args.mlp_ratio, dropout=args.dropout)
    corpus = stdlib_corpus(size.max_bytes)
    task = charlm_task(size, corpus)
    m = corpus.manifest
    epoch = m.train_bytes / (size.batch_size * size.context)
    print(f"{size}\n{size.num_params():,} params; train {m.train_bytes:,} B = {epoch:.0f} steps "
          f"per epoch; {_load()}")
    t0 = time.perf_counter()
    res = experiment.run(task, candidates=args.candidates, lrs=args.lrs,
                         horizons=args.horizons, seeds=args.seeds, warmup=args.warmup,
                         weight_decay=args.weight_decay,
                         eval_every=args.eval_every or max(args.horizons) // 8, out=args.out,
                         identity={"size": size._asdict(), "corpus": m.sha256},
                         group=not args.no_group, report=False, log=lambda msg: None)
    wall = time.perf_counter() - t0
    t = res.timing
    print(f"{t['run_steps']} run-steps in {wall:.0f} s "
          f"({t['run_steps'] / wall if t['run_steps'] else 0:.1f} run-steps/s with compiles and "
          f"evaluations; {_load()} at the end)")
    for r in res.cost:
        print(f"  cost {r['candidate']:10s} {r['run_steps_per_s']:.1f} run-steps/s")
    finals = res.final()
    print("final bits/byte per lr (mean over seeds):")
    for (name, lr, h), vals in sorted(finals.items()):
        print(f"  {name:10s} T={h:5d} lr {lr:<8g} "
              + " ".join(f"{x:.4f}" for x in vals) + f"  mean {sum(vals) / len(vals):.4f}")
    regime = res.regime()
    print(regime.headline())
    for ph in regime.per_horizon:
        gains = ", ".join(f"{k} {100 * g:+.2f}% ± {100 * s:.2f}%"
                          for k, (g, s) in ph["gains"].items())
        print(f"  T={ph['horizon']}: constant {ph['constant']:.4f}; {gains}")


if __name__ == "__main__":
    main()
