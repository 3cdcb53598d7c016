"""Throughput of the trainer on the notes' TinyViT against the notes' own loop, in one process.

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

Example::

    from jaxsched.workloads import bench
    print(bench.run_bench())            # the figures of `jaxsched bench --json`
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxsched import _validate as v
from jaxsched import optim
from jaxsched.train.loop import GroupTrainer
from jaxsched.train.throughput import compiled_flops, device_name, matmul_peak_gflops
from jaxsched.workloads.image import image_classification_task
from jaxsched.workloads.notes_model import NotesTinyViT
from jaxsched.workloads.tinyvit import TinyViT

__all__ = ["compiled_steps_per_s", "naive_steps_per_s", "run_bench", "sweep_bench"]


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
                logits = model.apply({"params": p}, x, rngs={"dropout": key}, deterministic=False)
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


class _Compiled:
    """A group of ``runs`` runs of the trainer at a constant learning rate, steppable."""

    def __init__(self, model, images, labels, *, batch: int, steps: int, runs: int = 1,
                 compiler_options: dict[str, Any] | None = None):
        task = image_classification_task(model, jnp.asarray(images), jnp.asarray(labels),
                                         batch_size=batch)
        self.trainer = GroupTrainer(task, _adam_constant, chunk_size=steps,
                                    compiler_options=compiler_options)
        self.runs, self.steps = runs, steps
        self.state = self.trainer.init(np.arange(runs), {})
        self.tables = jnp.full((runs, 1), 1e-3, jnp.float32)

    def run(self) -> float:
        """Seconds for ``steps`` steps of every run, losses fetched to the host at the end."""
        t0 = time.perf_counter()
        self.state, losses = self.trainer.train(self.state, self.tables, {}, self.steps)
        np.asarray(losses)
        return time.perf_counter() - t0

    def gflop_per_step(self) -> float:
        return self.trainer.flops_per_step(self.state, self.tables, {}) / 1e9 / self.runs


def compiled_steps_per_s(
    images: np.ndarray, labels: np.ndarray, *, batch: int = 128, steps: int = 100,
    runs: int = 1, rounds: int = 2, model: nn.Module | None = None,
    compiler_options: dict[str, Any] | None = None,
) -> float:
    """Run-steps/s of ``runs`` runs trained in one program (best of ``rounds`` dispatches)."""
    c = _Compiled(model or TinyViT(), images, labels, batch=batch, steps=steps, runs=runs,
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
    compiled = _Compiled(TinyViT(**cfg["arch"]), images, labels, batch=batch, steps=steps,
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
    gflop = compiled.gflop_per_step()
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
