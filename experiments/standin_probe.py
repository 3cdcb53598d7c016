"""Probe a synthetic stand-in by its constant-learning-rate run alone: the regime rule's view.

Trains the notes' Adam (``jaxsched.optim.adam``, b1 0.9, b2 0.999, eps 1e-6) at a constant
learning rate on the synthetic CIFAR-shaped set, several seeds in one compiled program (the
Task path of the trainer: ``GroupTrainer(image_classification_task(...), make_optimizer)``),
and prints, per seed and as the mean over seeds:

* the smoothed loss at 10% .. 100% of the horizon (mean over the 5% of the horizon that ends
  there, the regime rule's shape window), beside the notes' constant-LR curve under the same
  window, and both as ``L(t) / L(T)``;
* every diagnostic of :mod:`jaxsched.chapter.regime` against its band;
* wall time: compile (with the first step) and steps per second of the whole group;
* with ``--end-stat``, the spread over seeds of three end-of-run statistics of the same run:
  (a) the 1%-window final (the notes' smoothing), (b) a 5%-window final, (c) the mean train loss
  *with dropout* at the final parameters over K fixed training batches, the same batches and
  dropout keys for every run (K = 8, 16, 32), and each one's own measurement noise (the
  windows' standard error from their per-step scatter; for (c), half the difference of two
  disjoint K-batch sets, scaled to one set).

Only the constant run is trained: this script sizes the stand-in and the presets by the regime
rule, never by the chapter's claims.

    python experiments/standin_probe.py --width 64 --blocks 2 --batch 64 --steps 1000 \\
        --lr 2e-3 --n-train 1536 --templates 256 --zipf 1.3 --noise 0.5 --colour 0.5 \\
        --seeds 0 1 2 [--b2 0.99] [--end-stat] [--json out.json]

A script a person runs; it prints numbers and is not a test.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

if "JAX_PLATFORMS" not in os.environ:
    os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxsched import optim  # noqa: E402
from jaxsched.chapter import notes_curves, regime  # noqa: E402
from jaxsched.optim import eval_params  # noqa: E402
from jaxsched.smoothing import smoothed_at, smoothing_window  # noqa: E402
from jaxsched.train.loop import GroupTrainer  # noqa: E402
from jaxsched.workloads.image import image_classification_task  # noqa: E402
from jaxsched.workloads.standin import Difficulty, synthetic  # noqa: E402
from jaxsched.workloads.tinyvit import TinyViT  # noqa: E402

FRACTIONS = tuple(k / 10 for k in range(1, 11))
END_KS = (8, 16, 32)
END_SEED = 0xE0D  # the fixed batches and dropout keys of the K-batch end statistic


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--blocks", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--b2", type=float, default=0.999)
    p.add_argument("--n-train", type=int, default=1536)
    p.add_argument("--data-seed", type=int, default=0)
    for f in Difficulty._fields:
        default = Difficulty._field_defaults[f]
        p.add_argument(f"--{f.replace('_', '-')}", type=type(default), default=default)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--chunk", type=int, default=250, help="steps per dispatch")
    p.add_argument("--end-stat", action="store_true", help="measure the end statistics")
    p.add_argument("--json", default=None, help="also write the numbers to this file")
    return p.parse_args()


def k_batch_losses(trainer: GroupTrainer, k: int):
    """``(state, offset) -> [R, k]`` train losses (dropout on) at each run's ``eval_params``
    on k fixed batches.

    Batch ``i`` and its dropout key come from ``fold_in(key(END_SEED), offset + i)``, the same
    for every run (paired).
    """
    task = trainer.task

    def one(params, opt_state, offset):
        p = eval_params(opt_state, params)

        def loss_i(i):
            data_key, dropout_key = jax.random.split(
                jax.random.fold_in(jax.random.key(END_SEED), offset + i))
            return task.loss(p, task.sample(data_key), dropout_key)

        return jax.lax.map(loss_i, jnp.arange(k))

    fn = jax.jit(jax.vmap(one, in_axes=(0, 0, None)))
    return lambda state, offset: np.asarray(fn(state.params, state.opt_state, jnp.int32(offset)))


def window_stats(losses: np.ndarray, window: int) -> tuple[float, float]:
    """Final ``window``-step mean and its standard error from the per-step scatter."""
    x = losses[-window:]
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else 0.0


def main() -> None:
    a = parse()
    difficulty = Difficulty(**{f: getattr(a, f) for f in Difficulty._fields}).check()
    seeds = np.asarray(a.seeds, np.int32)
    runs = len(seeds)

    t0 = time.perf_counter()
    data = synthetic(a.n_train, 0, a.data_seed, **difficulty._asdict())
    t_data = time.perf_counter() - t0

    model = TinyViT(features=a.width, num_blocks=a.blocks, num_heads=a.heads)
    task = image_classification_task(model, jnp.asarray(data.train_images),
                                     jnp.asarray(data.train_labels), batch_size=a.batch)

    def make_optimizer(lr_fn, h):
        return optim.adam(lr_fn, b1=h["b1"], b2=h["b2"], eps=h["eps"])

    trainer = GroupTrainer(task, make_optimizer, chunk_size=min(a.chunk, a.steps))
    hp = {k: jnp.full((runs,), x, jnp.float32)
          for k, x in (("b1", 0.9), ("b2", a.b2), ("eps", 1e-6))}
    tables = jnp.full((runs, a.steps), a.lr, jnp.float32)

    t0 = time.perf_counter()
    state = trainer.init(seeds, hp)
    state, first = trainer.train(state, tables, hp, 1)
    first.block_until_ready()
    t_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    state, rest = trainer.train(state, tables, hp, a.steps - 1)
    rest.block_until_ready()
    t_train = time.perf_counter() - t0
    losses = np.concatenate([np.asarray(first), np.asarray(rest)], axis=1).astype(np.float64)
    run_steps_per_s = runs * (a.steps - 1) / t_train

    config = {k: getattr(a, k) for k in ("width", "blocks", "heads", "batch", "steps", "lr",
                                         "b2", "n_train", "data_seed")}
    config["difficulty"] = difficulty._asdict()
    print("config:", json.dumps(config))
    print(f"wall: data {t_data:.1f} s, compile + first step {t_compile:.1f} s, "
          f"{a.steps - 1} steps x {runs} runs in {t_train:.1f} s = {run_steps_per_s:.1f} "
          f"run-steps/s ({a.steps / run_steps_per_s:.1f} s per run of {a.steps} steps)")

    # ---- the curve at 10% .. 100%, shape-smoothed, beside the notes'
    ws = regime.shape_window(a.steps)
    ours = np.array([[smoothed_at(x, max(1, round(f * a.steps)), ws) for f in FRACTIONS]
                     for x in losses])
    notes = np.array([notes_curves.smoothed("Constant LR", f, regime.SHAPE_FRACTION)
                      for f in FRACTIONS])
    print(f"\ncurve: mean loss over the {ws} steps (5% of the horizon) ending at t")
    head = "t      " + " ".join(f"{f:6.0%}" for f in FRACTIONS)
    print(head)
    for s, row in zip(seeds, ours, strict=True):
        print(f"seed {s:<2}" + " ".join(f"{x:6.3f}" for x in row))
    mean = ours.mean(axis=0)
    print("mean   " + " ".join(f"{x:6.3f}" for x in mean))
    print("notes  " + " ".join(f"{x:6.3f}" for x in notes))
    print("L/L(T) " + " ".join(f"{x:6.2f}" for x in mean / mean[-1]) + "   (ours, mean)")
    print("notes  " + " ".join(f"{x:6.2f}" for x in notes / notes[-1]))

    # ---- the regime rule, per seed
    diags = [regime.diagnose(x, batch_size=a.batch, n_train=a.n_train) for x in losses]
    print("\nregime: diagnostic, per seed (* = outside its band), band, notes")
    for b in regime.BANDS:
        vals = [getattr(d, b.name) for d in diags]
        cells = " ".join(f"{x:8.3f}{' ' if b.holds(x) else '*'}" for x in vals)
        print(f"{b.name:10s} {cells}   [{b.low:g}, {b.high:g}]   notes {b.notes:.3f}")
    verdicts = [regime.in_regime(d) for d in diags]
    print("in regime: " + " ".join(str(v) for v in verdicts)
          + ("   ALL" if all(verdicts) else ""))

    out = {"config": config, "seeds": seeds.tolist(), "wall": {
        "data_s": t_data, "compile_s": t_compile, "train_s": t_train,
        "run_steps_per_s": run_steps_per_s},
        "fractions": FRACTIONS, "curve": ours.tolist(), "notes_curve": notes.tolist(),
        "diagnostics": [d.__dict__ for d in diags], "in_regime": verdicts,
        "losses": np.round(losses, 4).tolist()}

    # ---- end-of-run statistics
    if a.end_stat:
        w1 = smoothing_window(a.steps)
        stats: dict[str, dict[str, float]] = {}
        for name, w in ((f"window 1% ({w1} steps)", w1), (f"window 5% ({ws} steps)", ws)):
            finals = [window_stats(x, w) for x in losses]
            vals = np.array([f for f, _ in finals])
            stats[name] = {"mean": float(vals.mean()), "sd_seeds": float(vals.std(ddof=1)),
                           "se_within": float(np.mean([se for _, se in finals])),
                           "cost_forward_passes": 0}
        t0 = time.perf_counter()
        kmax = max(END_KS)
        losses_at = k_batch_losses(trainer, kmax)
        set_a, set_b = losses_at(state, 0), losses_at(state, kmax)
        t_eval = time.perf_counter() - t0
        for k in END_KS:
            va, vb = set_a[:, :k].mean(axis=1), set_b[:, :k].mean(axis=1)
            stats[f"K-batch dropout-on, K={k}"] = {
                "mean": float(va.mean()), "sd_seeds": float(va.std(ddof=1)),
                # two independent sets: var(a - b) = 2 var(one set)
                "se_within": float(np.sqrt(np.mean((va - vb) ** 2) / 2)),
                "cost_forward_passes": k,
            }
        print(f"\nend statistics over {runs} seeds (K-batch sets evaluated in {t_eval:.1f} s "
              f"for 2 x {kmax} batches x {runs} runs)")
        print(f"{'statistic':34s} {'mean':>7s} {'sd seeds':>9s} {'se within':>10s} "
              f"{'cost (fwd batches)':>19s}")
        for name, s in stats.items():
            print(f"{name:34s} {s['mean']:7.3f} {s['sd_seeds']:9.4f} {s['se_within']:10.4f} "
                  f"{s['cost_forward_passes']:19d}")
        out["end_stats"] = stats

    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
