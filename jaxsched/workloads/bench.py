"""Throughput of the trainer against plain loops, in one process: the notes' TinyViT against
the notes' own loop (:func:`run_bench`), and any workload of the catalogue against a plain flax +
optax loop of the same task (:func:`task_bench`).

:func:`run_bench` measures, interleaved in the same process (the best of ``rounds`` rounds, so a
burst of load from elsewhere on a shared machine hits both sides alike):

* ``steps_per_s``: the compiled loop (:class:`~jaxsched.train.loop.GroupTrainer`), one run of
  :class:`~jaxsched.workloads.tinyvit.TinyViT` at batch 128, the notes' Adam at a constant learning
  rate, ``steps`` steps per dispatch;
* ``naive_steps_per_s``: the notes' own loop, transcribed: the notes' stock-flax TinyViT, their
  hand-written Adam, one jitted update per Python iteration, keys split and the batch indices
  drawn eagerly, the batch indexed on the host with NumPy and copied in, the loss pulled back
  with ``np.array`` every step;
* ``gflop_per_step`` from XLA's cost analysis of the trainer's compiled loop (which counts its
  body, one step, once), ``gflops_per_s`` and ``pct_of_matmul_peak`` against the best f32
  ``jnp.dot`` rate of large square matrices measured in the same process. The naive step's
  count is ``naive_gflop_per_step``; the trainer's is smaller because its last block computes
  only the read-out token, so ``pct_of_matmul_peak_notes_flop`` also reports the trainer's
  rate counted with the notes' FLOPs per step.

:func:`sweep_bench` measures run-steps/s of K runs trained in one program against K runs
trained one after another (K times the time of one), also in one process;
:func:`jaxsched.train.throughput.projected_seconds` turns those rates into the training time of
a list of runs (a preset).

:func:`task_bench` measures a workload of :mod:`jaxsched.workloads.catalogue` at one of its
sizes, interleaved in rounds (the best round of each counts), for plain AdamW and for
Schedule-Free AdamW (the comparison's hyperparameters, the size's learning rate, constant):

* run-steps/s of the compiled loop with ``runs`` runs in one program (``grouped``) and with
  one run (``alone``; K runs one after another take K times as long);
* steps/s of a plain loop as a user writes it (:class:`~jaxsched.train.throughput.PlainLoop`:
  one jitted step per call, batches from a jitted ``task.sample``);
* for the optimizers that have averaged parameters, the compiled loop with the loss logged at
  them (one more forward pass per step, the notes' logging), to show what that logging costs;
* each optimizer's rate over AdamW's in each loop (its cost), XLA's FLOPs per run-step and the
  share of the f32 matmul peak measured in the same process.

Example::

    from jaxsched.workloads import bench
    print(bench.run_bench())                   # the figures of `jaxsched bench --json`
    print(bench.task_bench("charlm", "quick"))  # `jaxsched bench --task charlm --size quick`
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any, cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxsched import _validate as v
from jaxsched import optim
from jaxsched.train.optimizers import OPTIMIZERS
from jaxsched.train.throughput import (
    CompiledLoop,
    PlainLoop,
    compiled_flops,
    device_name,
    matmul_peak_gflops,
)
from jaxsched.workloads import catalogue
from jaxsched.workloads.image import image_classification_task
from jaxsched.workloads.notes_model import NotesTinyViT
from jaxsched.workloads.tinyvit import TinyViT

__all__ = ["TASK_OPTIMIZERS", "compiled_steps_per_s", "naive_steps_per_s", "run_bench",
           "sweep_bench", "task_bench"]


# The toy configuration only checks that everything runs (tests): its programs skip LLVM's
# expensive optimizations, which take most of its time otherwise.
_CHEAP_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def _config(tiny: bool) -> dict[str, Any]:
    if tiny:
        arch = dict(features=16, num_blocks=1, num_heads=2)
        return dict(arch=arch, batch=8, n_images=256, peak_n=256, options=_CHEAP_COMPILE)
    return dict(arch={}, batch=128, n_images=50_000, peak_n=2048, options={})


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 10, (n,), dtype=np.int32),
    )


# ------------------------------------------------------------------------- naive loop


def _notes_adam(lr, params, opt_state, grads, step):
    # adam_optimizer_custom of the notes, at a constant learning rate.
    momentum, variance = opt_state
    b1, b2 = 0.9, 0.999
    new_momentum = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, momentum, grads)
    new_variance = jax.tree.map(lambda v_, g: b2 * v_ + (1 - b2) * g**2, variance, grads)
    m_hat = jax.tree.map(lambda m: m / (1 - b1 ** (step + 1)), new_momentum)
    v_hat = jax.tree.map(lambda v_: v_ / (1 - b2 ** (step + 1)), new_variance)
    update = jax.tree.map(lambda m, v_: m / (jnp.sqrt(v_) + 1e-6), m_hat, v_hat)
    new_params = jax.tree.map(lambda p, u: p - lr * u, params, update)
    return new_params, (new_momentum, new_variance)


class _NaiveLoop:
    """The notes' ``train_cifar`` loop, steppable so that it can be timed in rounds."""

    def __init__(self, model: nn.Module, images: np.ndarray, labels: np.ndarray, batch: int,
                 compiler_options: dict[str, Any] | None = None):
        self.images, self.labels, self.batch = images, labels, batch
        jit = functools.partial(jax.jit, compiler_options=compiler_options or {})
        key = jax.random.PRNGKey(0)
        key, param_key = jax.random.split(key)
        x0 = jnp.zeros((2, *images.shape[1:]), jnp.float32)
        # jitted only to compile once instead of op by op; the values are the notes' init.
        params = jit(model.init)({"params": param_key, "dropout": param_key}, x0)["params"]
        zeros = jax.tree.map(jnp.zeros_like, params)
        self.key, self.params, self.opt_state, self.step = key, params, (zeros, zeros), 0

        @jit
        def update_fn(key, params, opt_state, images, labels, step):
            def loss_fn(p, x, y):
                x = x / 255.0
                onehot_labels = jax.nn.one_hot(y, 10)
                # apply's return type covers `mutable=`; without it the output is the logits
                logits = cast(jax.Array, model.apply(
                    {"params": p}, x, rngs={"dropout": key}, deterministic=False
                ))
                return jnp.mean(jnp.sum(-nn.log_softmax(logits) * onehot_labels, axis=-1))

            loss, grads = jax.value_and_grad(loss_fn)(params, images, labels)
            params, opt_state = _notes_adam(1e-3, params, opt_state, grads, step)
            return loss, params, opt_state

        self.update_fn = update_fn

    def run(self, steps: int) -> list[np.ndarray]:
        losses = []
        for _ in range(steps):
            self.key, data_key, update_key = jax.random.split(self.key, 3)
            idx = np.asarray(
                jax.random.randint(data_key, (self.batch,), 0, self.images.shape[0])
            )
            loss, self.params, self.opt_state = self.update_fn(
                update_key, self.params, self.opt_state, self.images[idx], self.labels[idx],
                self.step,
            )
            losses.append(np.array(loss))
            self.step += 1
        return losses

    def gflop_per_step(self) -> float:
        x = self.images[: self.batch]
        lowered = self.update_fn.lower(
            self.key, self.params, self.opt_state, x, self.labels[: self.batch], self.step
        )
        return compiled_flops(lowered.compile()) / 1e9


def naive_steps_per_s(
    images: np.ndarray, labels: np.ndarray, *, batch: int = 128, steps: int = 20,
    model: nn.Module | None = None,
) -> float:
    """Steps/s of the notes' loop (see the module docstring), after two warm-up steps."""
    loop = _NaiveLoop(model or NotesTinyViT(), images, labels, batch)
    loop.run(2)
    t0 = time.perf_counter()
    loop.run(steps)
    return steps / (time.perf_counter() - t0)


# --------------------------------------------------------------------- compiled loop


def _adam_constant(lr_schedule, hparams):
    return optim.adam(lr_schedule)


def _compiled(model, images, labels, *, batch: int, steps: int, runs: int = 1,
              compiler_options: dict[str, Any] | None = None) -> CompiledLoop:
    """``runs`` runs of the trainer on the image task, the notes' Adam at 1e-3."""
    task = image_classification_task(model, jnp.asarray(images), jnp.asarray(labels),
                                     batch_size=batch)
    return CompiledLoop(task, _adam_constant, runs=runs, steps=steps, lr=1e-3,
                        compiler_options=compiler_options)


def compiled_steps_per_s(
    images: np.ndarray, labels: np.ndarray, *, batch: int = 128, steps: int = 100,
    runs: int = 1, rounds: int = 2, model: nn.Module | None = None,
    compiler_options: dict[str, Any] | None = None,
) -> float:
    """Run-steps/s of ``runs`` runs trained in one program (best of ``rounds`` dispatches)."""
    c = _compiled(model or TinyViT(), images, labels, batch=batch, steps=steps, runs=runs,
                  compiler_options=compiler_options)
    c.run()  # compiles and warms up
    return runs * steps / min(c.run() for _ in range(rounds))


# -------------------------------------------------------------------------- reports


def run_bench(
    *, tiny: bool = False, steps: int | None = None, naive_steps: int | None = None,
    rounds: int = 3,
) -> dict[str, Any]:
    """The figures of ``jaxsched bench``.

    Args:
      tiny: a toy model, batch and dataset compiled cheaply (for tests), not the notes'
        TinyViT: its figures say nothing about speed.
      steps: compiled steps per timed dispatch (default 100; 10 when tiny).
      naive_steps: naive-loop steps per timed round (default 20; 5 when tiny).
      rounds: timed rounds, alternating the two loops; the best round of each counts.

    Returns:
      a dict with ``steps_per_s``, ``naive_steps_per_s``, ``speedup``, ``gflop_per_step``,
      ``naive_gflop_per_step``, ``gflops_per_s``, ``matmul_peak_gflops``,
      ``pct_of_matmul_peak``, ``notes_flop_gflops_per_s`` and ``pct_of_matmul_peak_notes_flop``
      (the trainer's rate counted with the notes' FLOPs per step), ``device``, ``model``,
      ``batch_size``, ``steps``, ``naive_steps``, ``rounds``.
    """
    cfg = _config(tiny)
    steps = steps if steps is not None else (10 if tiny else 100)
    naive_steps = naive_steps if naive_steps is not None else (5 if tiny else 20)
    v.check_int("steps", steps, minimum=1)
    v.check_int("naive_steps", naive_steps, minimum=1)
    v.check_int("rounds", rounds, minimum=1)
    images, labels = _data(cfg["n_images"])
    batch = cfg["batch"]
    peak = matmul_peak_gflops(cfg["peak_n"])
    compiled = _compiled(TinyViT(**cfg["arch"]), images, labels, batch=batch, steps=steps,
                         compiler_options=cfg["options"])
    naive = _NaiveLoop(NotesTinyViT(**cfg["arch"]), images, labels, batch, cfg["options"])
    compiled.run()
    naive.run(2)
    best_compiled = best_naive = float("inf")
    for _ in range(rounds):
        best_compiled = min(best_compiled, compiled.run())
        t0 = time.perf_counter()
        naive.run(naive_steps)
        best_naive = min(best_naive, time.perf_counter() - t0)
    sps = steps / best_compiled
    naive_sps = naive_steps / best_naive
    gflop = compiled.flops_per_run_step() / 1e9
    naive_gflop = naive.gflop_per_step()
    return {
        "device": device_name(),
        "model": "tiny" if tiny else "TinyViT (notes)",
        "batch_size": batch,
        "steps": steps,
        "naive_steps": naive_steps,
        "rounds": rounds,
        "steps_per_s": sps,
        "naive_steps_per_s": naive_sps,
        "speedup": sps / naive_sps,
        "gflop_per_step": gflop,
        "naive_gflop_per_step": naive_gflop,
        "gflops_per_s": sps * gflop,
        "matmul_peak_gflops": peak,
        "pct_of_matmul_peak": 100.0 * sps * gflop / peak,
        "notes_flop_gflops_per_s": sps * naive_gflop,
        "pct_of_matmul_peak_notes_flop": 100.0 * sps * naive_gflop / peak,
    }


def sweep_bench(
    ks: Sequence[int] = (1, 2, 4, 8), *, tiny: bool = False, steps: int | None = None,
    rounds: int = 2,
) -> dict[str, Any]:
    """Run-steps/s of K runs in one program against K sequential runs, for each K in ``ks``.

    K sequential runs take K times as long as one, so their run-steps/s is the K = 1 rate
    (always measured). Returns ``sweep_run_steps_per_s`` (K -> rate), ``sweep_speedup_by_k``,
    ``sweep_k`` (the largest K) and ``sweep_speedup`` (its rate over the K = 1 rate).
    """
    ks = tuple(ks)
    if not ks:
        raise ValueError(f"ks must name at least one K, got ks={ks!r}")
    for k in ks:
        v.check_int("ks", k, minimum=1)
    cfg = _config(tiny)
    steps = steps if steps is not None else (10 if tiny else 30)
    v.check_int("steps", steps, minimum=1)
    images, labels = _data(cfg["n_images"])
    rate = functools.partial(
        compiled_steps_per_s, images, labels, batch=cfg["batch"], steps=steps, rounds=rounds,
        compiler_options=cfg["options"],
    )
    rates = {k: rate(runs=k, model=TinyViT(**cfg["arch"])) for k in sorted(set(ks) | {1})}
    kmax = max(ks)
    return {
        "sweep_steps": steps,
        "sweep_run_steps_per_s": {str(k): rates[k] for k in sorted(rates)},
        "sweep_speedup_by_k": {str(k): rates[k] / rates[1] for k in sorted(rates)},
        "sweep_k": kmax,
        "sweep_speedup": rates[kmax] / rates[1],
    }


# ----------------------------------------------------------------------- any workload

TASK_OPTIMIZERS = ("adamw", "sf_adamw")
"""The optimizers :func:`task_bench` measures by default; the first is the cost baseline."""

# The comparison's AdamW-family hyperparameters (jaxsched.compare.candidates.ADAMW), no weight
# decay and no warmup: every optimizer entry reads the ones it takes.
_HPARAMS = {"b1": 0.9, "b2": 0.999, "eps": 1e-8, "weight_decay": 0.0, "warmup_steps": 0.0,
            "ema_decay": 0.999}


def task_bench(
    task: str, size: str, *, steps: int = 50, runs: int = 4, rounds: int = 3,
    lr: float | None = None, optimizers: Sequence[str] = TASK_OPTIMIZERS,
) -> dict[str, Any]:
    """The figures of ``jaxsched bench --task TASK --size SIZE`` (the module docstring).

    Args:
      task, size: a workload of the catalogue and one of its sizes.
      steps: steps per timed call of each loop (a grouped call trains ``runs * steps``
        run-steps).
      runs: runs in one program for the grouped rate.
      rounds: timed rounds, each loop once per round; the best round of each counts.
      lr: the constant learning rate (default: the size's).
      optimizers: names of :data:`~jaxsched.train.optimizers.OPTIMIZERS`; the first is the
        baseline of the cost ratios.

    Returns:
      a dict: ``device``, ``task``, ``size``, ``lr``, ``runs``, ``steps``, ``rounds``,
      ``optimizers``; per optimizer ``O``: ``O_grouped_run_steps_per_s``,
      ``O_alone_run_steps_per_s``, ``O_plain_steps_per_s`` (and
      ``O_logged_alone_run_steps_per_s`` where it logs at averaged parameters), ``O_cost``:
      ``{"grouped", "alone", "plain"}`` rate over the baseline's; and, of the baseline,
      the keys of :func:`run_bench`: ``steps_per_s`` (compiled, one run), ``naive_steps_per_s``
      (the plain loop), ``speedup``, ``grouped_speedup`` (grouped over alone),
      ``gflop_per_step``, ``naive_gflop_per_step``, ``gflops_per_s``, ``matmul_peak_gflops``,
      ``pct_of_matmul_peak`` (one run) and ``grouped_pct_of_matmul_peak``.
    """
    v.check_int("steps", steps, minimum=1)
    v.check_int("runs", runs, minimum=1)
    v.check_int("rounds", rounds, minimum=1)
    if isinstance(optimizers, str) or not optimizers:
        raise ValueError(f"optimizers must be a non-empty list of names, got "
                         f"optimizers={optimizers!r}")
    for name in optimizers:
        v.check_choice("optimizers", name, tuple(OPTIMIZERS))
    built = catalogue.build(task, size)
    lr = catalogue.get(task).size(size).lr if lr is None else lr
    v.check_positive("lr", lr)
    peak = matmul_peak_gflops()
    loops: dict[str, Any] = {}
    for name in optimizers:
        kind = OPTIMIZERS[name]
        hp = {k: _HPARAMS[k] for k in kind.hparams}
        compiled = functools.partial(
            CompiledLoop, built.task, kind.build, steps=steps, lr=lr, hparams=hp
        )
        loops[f"{name}_grouped"] = compiled(runs=runs)
        loops[f"{name}_alone"] = compiled()
        if kind.record_eval_loss:
            loops[f"{name}_logged_alone"] = compiled(record_eval_loss=True)
        # A user's optimizer takes the learning rate as a number.
        loops[f"{name}_plain"] = PlainLoop(built.task, kind.build(lr, hp))
    for loop in loops.values():  # compile and warm up
        loop.run(2) if isinstance(loop, PlainLoop) else loop.run()
    best = dict.fromkeys(loops, float("inf"))
    for _ in range(rounds):
        for key, loop in loops.items():
            t = loop.run(steps) if isinstance(loop, PlainLoop) else loop.run()
            best[key] = min(best[key], t)
    out: dict[str, Any] = {"device": device_name(), "task": task, "size": size, "lr": lr,
                           "runs": runs, "steps": steps, "rounds": rounds,
                           "optimizers": list(optimizers)}
    for key, seconds in best.items():
        unit = "steps_per_s" if key.endswith("_plain") else "run_steps_per_s"
        out[f"{key}_{unit}"] = steps * (runs if key.endswith("_grouped") else 1) / seconds
    base = optimizers[0]
    for name in optimizers:
        out[f"{name}_cost"] = {
            how: out[f"{name}_{how}_{unit}"] / out[f"{base}_{how}_{unit}"]
            for how, unit in (("grouped", "run_steps_per_s"), ("alone", "run_steps_per_s"),
                              ("plain", "steps_per_s"))}
    sps = out[f"{base}_alone_run_steps_per_s"]
    naive = out[f"{base}_plain_steps_per_s"]
    gflop = loops[f"{base}_alone"].flops_per_run_step() / 1e9
    out.update({
        "steps_per_s": sps,
        "naive_steps_per_s": naive,
        "speedup": sps / naive,
        "grouped_speedup": out[f"{base}_grouped_run_steps_per_s"] / sps,
        "gflop_per_step": gflop,
        "naive_gflop_per_step": loops[f"{base}_plain"].flops_per_step() / 1e9,
        "gflops_per_s": sps * gflop,
        "matmul_peak_gflops": peak,
        "pct_of_matmul_peak": 100.0 * sps * gflop / peak,
        "grouped_pct_of_matmul_peak":
            100.0 * out[f"{base}_grouped_run_steps_per_s"] * gflop / peak,
    })
    return out
