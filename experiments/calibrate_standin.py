"""Calibrate a stand-in on the two calibrating runs of the chapter alone.

The reproduction's stand-in (the synthetic set's knobs, the model, batch, training-set size and
horizon of a preset) is chosen from the **Constant LR** and **Stepwise at 75%** runs only, never
from the other eleven runs of the chapter, whose ratios to constant are the stand-in's test.
For one candidate stand-in this script trains, for every learning rate of ``--lrs`` and every
seed of ``--seeds``, in one compiled program per phase:

* the constant run to 75% of the horizon, then two branches from that state: the constant run
  to the end, and the Stepwise-at-75% run (the chapter's 10x drop); a run's randomness is keyed
  by (seed, step) only, so each branch is the run the reproduction trains;
* at the end of both, the reproduction's end-of-run statistic
  (:func:`jaxsched.chapter.report.final_value`): the mean per-step training loss over the last
  5% of the run (and, beside it, the ``train_loss`` evaluation at the final parameters).

It prints and writes (``--json``), per learning rate and seed: the constant run's eight regime
diagnostics against their bands (:mod:`jaxsched.chapter.regime`), both runs' end-of-run
statistic, and the noise share ``nu = 1 - L_step75(T) / L_const(T)`` against its band; then the
learning rate the notes' protocol picks (the lowest mean constant ``train_loss`` over seeds) and
whether the candidate is in every band there on every seed, and at every rate the seeds do not
tell apart from it (:func:`jaxsched.chapter.sweep.unresolved`), any of which a sweep may pick.

    python experiments/calibrate_standin.py --size quick --lrs 1e-3 2e-3 4e-3 --seeds 0 1 2 \\
        [--width 64 --blocks 2 --heads 4 --batch 64 --steps 1000 --n-train 1536] \\
        [--label-noise 0 --templates 256 ...] [--json out.json]

A script a person runs; it prints numbers and is not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

if "JAX_PLATFORMS" not in os.environ:
    os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxsched.chapter import alchemist, regime, report, sweep  # noqa: E402
from jaxsched.cli import _positive_float, _positive_int  # noqa: E402
from jaxsched.train.loop import GroupTrainer  # noqa: E402
from jaxsched.workloads.image import SIZES  # noqa: E402
from jaxsched.workloads.standin import Difficulty  # noqa: E402
from jaxsched.workloads.tinyvit import TinyViT  # noqa: E402

CONSTANT, DROPPED = alchemist.CONSTANT, regime.DROPPED


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="quick", choices=tuple(SIZES),
                   help="the image size whose settings are the defaults")
    for name in ("width", "blocks", "heads", "batch", "steps", "n_train"):
        p.add_argument(f"--{name.replace('_', '-')}", type=_positive_int, default=None)
    p.add_argument("--dropout", type=float, default=None)
    for f in Difficulty._fields:
        p.add_argument(f"--{f.replace('_', '-')}", type=type(Difficulty._field_defaults[f]),
                       default=None)
    p.add_argument("--b2", type=float, default=None, help="Adam's b2 (default: the notes' 0.999)")
    p.add_argument("--lrs", type=_positive_float, nargs="+", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--chunk", type=_positive_int, default=250, help="steps per dispatch")
    p.add_argument("--json", default=None, help="also write the numbers to this file")
    return p.parse_args()


def candidate(a: argparse.Namespace) -> tuple[object, int]:
    """The image size the arguments describe, and its horizon."""
    base = SIZES[a.size]
    m = base.model
    model = TinyViT(features=a.width or m.features, num_blocks=a.blocks or m.num_blocks,
                    num_heads=a.heads or m.num_heads,
                    dropout=m.dropout if a.dropout is None else a.dropout)
    knobs = {f: getattr(a, f) for f in Difficulty._fields if getattr(a, f) is not None}
    size = dataclasses.replace(
        base, model=model, batch_size=a.batch or base.batch_size,
        synthetic_train=a.n_train or base.synthetic_train,
        difficulty=base.difficulty._replace(**knobs).check(),
    )
    steps = a.steps or alchemist.preset("tinyvit", a.size).steps
    return size, steps


def _curve(losses: np.ndarray) -> list[float]:
    """The run's mean loss over the 5% of the horizon ending at each 1% of it (100 points), the
    regime rule's shape smoothing: enough to redraw the curve beside the notes'."""
    w = regime.shape_window(losses.size)
    ends = [max(1, round(k / 100 * losses.size)) for k in range(1, 101)]
    return [round(float(np.mean(losses[max(0, e - w):e])), 5) for e in ends]


def stack(tree, times: int):
    return jax.tree.map(lambda x: jnp.concatenate([x] * times), tree)


def main() -> None:
    a = parse()
    try:
        size, steps = candidate(a)
    except ValueError as e:  # a knob out of its range: one line, like the CLI
        raise SystemExit(f"calibrate_standin.py: error: {e}") from None
    t0 = time.perf_counter()
    data = size.load_data("synthetic", progress=False)
    task = size.task(data)
    lrs, seeds = list(a.lrs), list(a.seeds)
    grid = [(lr, s) for lr in lrs for s in seeds]
    r = len(grid)

    def config(label, lr, seed):
        p = alchemist.Preset("calibration", "tinyvit", steps, lr)
        cfg = alchemist.run_config(alchemist.RUNS[label], p, seed=seed)
        return cfg if a.b2 is None else dataclasses.replace(cfg, b2=a.b2)

    consts = [config(CONSTANT, lr, s) for lr, s in grid]
    drops = [config(DROPPED, lr, s) for lr, s in grid]
    const_tab = np.stack([c.lr_table() for c in consts])
    drop_tab = np.stack([c.lr_table() for c in drops])
    branch = int(np.argmax(np.any(const_tab != drop_tab, axis=0)))
    hp = {k: jnp.asarray([c.hparams()[k] for c in consts], jnp.float32)
          for k in consts[0].hparams()}
    trainer = GroupTrainer(task, consts[0].make_optimizer, chunk_size=min(a.chunk, steps))
    state = trainer.init(np.asarray([s for _, s in grid], np.int32), hp)
    state, head = trainer.train(state, jnp.asarray(const_tab), hp, branch)
    state = stack(state, 2)
    hp2 = stack(hp, 2)
    state, tail = trainer.train(state, jnp.asarray(np.concatenate([const_tab, drop_tab])), hp2,
                                steps - branch)
    ends = {k: np.asarray(x) for k, x in trainer.evaluate(state).items()}
    wall = time.perf_counter() - t0
    head, tail = np.asarray(head, np.float64), np.asarray(tail, np.float64)
    const_losses = np.concatenate([head, tail[:r]], axis=1)
    drop_losses = np.concatenate([head, tail[r:]], axis=1)

    cfg = {"size": a.size, "model": {f: getattr(size.model, f) for f in
                                     ("features", "num_blocks", "num_heads", "dropout")},
           "batch": size.batch_size, "steps": steps, "n_train": size.synthetic_train,
           "difficulty": size.difficulty._asdict(), "lrs": lrs, "seeds": seeds,
           "b2": consts[0].b2}
    print("candidate:", json.dumps(cfg))
    print(f"wall {wall:.0f} s for {r} constant + {r} stepwise runs (branched at step {branch})")

    rows = []
    for i, (lr, s) in enumerate(grid):
        lc = report.final_value(const_losses[i])
        ld = report.final_value(drop_losses[i])
        d = regime.diagnose(const_losses[i], batch_size=size.batch_size,
                            n_train=size.synthetic_train, nu=regime.noise_share(lc, ld))
        rows.append({"lr": lr, "seed": s, "const_final": lc, "drop_final": ld,
                     "nu": d.nu, "diagnostics": dataclasses.asdict(d),
                     "out": [k for k, ok in d.held().items() if not ok],
                     "const_test_loss": float(ends["loss"][i]),
                     "const_train_loss_eval": float(ends["train_loss"][i]),
                     "drop_train_loss_eval": float(ends["train_loss"][r + i]),
                     "const_curve": _curve(const_losses[i]), "drop_curve": _curve(drop_losses[i]),
                     "drop_gain": regime.drop_gain(const_losses[i], drop_losses[i])})
    nu_band = regime.NOISE_SHARE_BAND
    print(f"\nnu band [{nu_band.low:.2f}, {nu_band.high:.2f}] (notes {nu_band.notes:.2f}); "
          "bands out of range marked by name")
    print(f"{'lr':>8} {'seed':>4} {'const':>7} {'step75':>7} {'nu':>6} {'final':>6} "
          f"{'r25':>5} {'r50':>5} {'r75':>5} {'late':>5} {'step':>5} out")
    for row in rows:
        d = row["diagnostics"]
        out = row["out"]
        print(f"{row['lr']:8.2g} {row['seed']:4d} {row['const_final']:7.3f} "
              f"{row['drop_final']:7.3f} {row['nu']:6.3f} {d['final']:6.3f} {d['ratio_25']:5.2f} "
              f"{d['ratio_50']:5.2f} {d['ratio_75']:5.2f} {d['late_fall']:5.2f} "
              f"{d['step']:5.2f} {' '.join(out)}")
    print("\nper lr, mean over seeds:")
    in_bands = {}
    for lr in lrs:
        sel = [x for x in rows if x["lr"] == lr]
        nus = [x["nu"] for x in sel]
        in_bands[lr] = all(not x["out"] for x in sel)
        print(f"  lr {lr:8.2g}: constant {np.mean([x['const_final'] for x in sel]):.3f}  step75 "
              f"{np.mean([x['drop_final'] for x in sel]):.3f}  nu {np.mean(nus):.3f} "
              f"[{min(nus):.3f}, {max(nus):.3f}]  every band on every seed: {in_bands[lr]}")
    # the sweep's own rule picks the best; the rates the seeds do not tell apart from it are
    # those a sweep with other seeds, or the same seeds grouped otherwise, may pick
    finals = {lr: [x["const_final"] for x in rows if x["lr"] == lr] for lr in lrs}
    best = sweep.best_lr(finals)
    edge = best in (min(lrs), max(lrs)) and len(lrs) > 1
    print(f"the constant run's best lr: {best:g} (constant {np.mean(finals[best]):.3f})"
          + ("  AT THE GRID'S EDGE: extend the grid" if edge else "")
          + f"; in every band there: {in_bands[best]}")
    tied = sweep.unresolved(finals, best)
    robust = all(in_bands[lr] for lr in (best, *tied))
    print(f"rates not resolved from the best: {tied or 'none'}; "
          f"in every band on every seed at all of them: {robust}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"candidate": cfg, "wall_s": wall, "rows": rows, "best_lr": best,
                       "best_at_edge": edge, "in_every_band_at_best": in_bands[best],
                       "unresolved_from_best": tied, "in_every_band_at_unresolved": robust},
                      f, indent=1)


if __name__ == "__main__":
    main()
