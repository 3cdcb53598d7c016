"""Throughput of the trainer, against a naive loop and a matmul peak measured in the same process.

* ``steps_per_s``: the compiled loop (:class:`~jaxsched.train.loop.GroupTrainer`, one run, the
  notes' Adam at a constant learning rate, many steps per dispatch).
* ``naive_steps_per_s``: the notes' style, one jitted step per Python iteration, the batch indexed
  on the host with NumPy and copied in, the loss pulled back to the host every step.
* ``gflop_per_step`` from XLA's cost analysis of one compiled step; ``gflops_per_s`` and
  ``pct_of_matmul_peak`` against the best f32 ``jnp.dot`` rate measured here.
* ``sweep_bench``: run-steps/s of K runs in one vmapped program against K sequential runs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxsched import optim
from jaxsched.train.loop import GroupTrainer, cross_entropy
from jaxsched.train.model import TinyViT


def _block(tree) -> None:
    jax.tree.map(lambda x: x.block_until_ready() if hasattr(x, "block_until_ready") else x, tree)


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best f32 GFLOP/s of an ``n x n`` matrix product on the default device."""
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32)
    f = jax.jit(jnp.dot)
    f(a, b).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(a, b).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def _flops(compiled) -> float:
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0]
    return float(cost.get("flops", 0.0)) if cost else 0.0


def _make_opt(lr_fn, h):
    return optim.adam(lr_fn, b1=h["b1"], b2=h["b2"], eps=h["eps"])


def _data(n: int, size: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
        rng.integers(0, 10, (n,), dtype=np.int32),
    )


def _trainer(model, images, labels, batch, chunk):
    return GroupTrainer(model, _make_opt, images, labels, batch_size=batch, chunk_size=chunk)


def _hp(k: int):
    return {"b1": jnp.full((k,), 0.9), "b2": jnp.full((k,), 0.999), "eps": jnp.full((k,), 1e-6)}


def compiled_steps_per_s(model, images, labels, *, batch: int, steps: int, runs: int = 1):
    """Run-steps/s of ``runs`` runs trained together; also returns GFLOP of one step."""
    trainer = _trainer(model, images, labels, batch, steps)
    hp = _hp(runs)
    state = trainer.init(jnp.arange(runs), hp)
    tables = jnp.full((runs, 1), 1e-3, jnp.float32)
    compiled_one = trainer._chunk.lower(state, tables, hp, n=1).compile()
    gflop = _flops(compiled_one) / 1e9 / runs
    state, losses = trainer.train(state, tables, hp, steps)  # compile + warm up
    losses.block_until_ready()
    t0 = time.perf_counter()
    state, losses = trainer.train(state, tables, hp, steps)
    np.asarray(losses)
    dt = time.perf_counter() - t0
    return runs * steps / dt, gflop


def naive_steps_per_s(model, images, labels, *, batch: int, steps: int) -> float:
    """The notes' loop: a jitted step per iteration, host-side batches, loss fetched each step."""
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, *images.shape[1:])), True)["params"]
    tx = optim.adam(1e-3, eps=1e-6)
    opt_state = tx.init(params)

    @jax.jit
    def update(key, params, opt_state, x, y):
        def loss_fn(p):
            logits = model.apply({"params": p}, x / 255.0, deterministic=False,
                                 rngs={"dropout": key})
            return cross_entropy(logits, y)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return loss, optax.apply_updates(params, updates), opt_state

    rng = np.random.default_rng(0)
    key = jax.random.PRNGKey(0)

    def one(key, params, opt_state):
        key, sub = jax.random.split(key)
        idx = rng.integers(0, images.shape[0], batch)
        loss, params, opt_state = update(sub, params, opt_state, images[idx].astype(np.float32),
                                         labels[idx])
        np.array(loss)
        return key, params, opt_state

    for _ in range(2):
        key, params, opt_state = one(key, params, opt_state)
    t0 = time.perf_counter()
    for _ in range(steps):
        key, params, opt_state = one(key, params, opt_state)
    return steps / (time.perf_counter() - t0)


def run_bench(*, tiny: bool = False, steps: int | None = None, naive_steps: int | None = None):
    """The figures of ``jaxsched bench``: a dict with the keys of DESIGN.md and a few more."""
    model = TinyViT(features=16, num_blocks=1, num_heads=2) if tiny else TinyViT()
    batch = 8 if tiny else 128
    steps = steps or (20 if tiny else 200)
    naive_steps = naive_steps or (10 if tiny else 50)
    images, labels = _data(512 if tiny else 50_000)
    peak = matmul_peak_gflops(256 if tiny else 2048)
    sps, gflop = compiled_steps_per_s(model, images, labels, batch=batch, steps=steps)
    naive = naive_steps_per_s(model, images, labels, batch=batch, steps=naive_steps)
    gflops = sps * gflop
    return {
        "device": str(jax.devices()[0].device_kind),
        "model": "tiny" if tiny else "TinyViT (notes)",
        "batch_size": batch,
        "steps_per_s": sps,
        "naive_steps_per_s": naive,
        "speedup": sps / naive,
        "gflop_per_step": gflop,
        "gflops_per_s": gflops,
        "matmul_peak_gflops": peak,
        "pct_of_matmul_peak": 100.0 * gflops / peak,
    }


def sweep_bench(
    ks: Sequence[int] = (1, 2, 4, 8), *, tiny: bool = False, steps: int | None = None
) -> dict[str, Any]:
    """Run-steps/s of K runs in one program against K sequential runs (the K=1 rate)."""
    model = TinyViT(features=16, num_blocks=1, num_heads=2) if tiny else TinyViT()
    batch = 8 if tiny else 128
    steps = steps or (20 if tiny else 100)
    images, labels = _data(512 if tiny else 50_000)
    rates = {}
    for k in sorted(set(ks) | {1}):
        rates[k], _ = compiled_steps_per_s(model, images, labels, batch=batch, steps=steps, runs=k)
    kmax = max(ks)
    return {
        "sweep_run_steps_per_s": {str(k): rates[k] for k in sorted(rates)},
        "sweep_k": kmax,
        "sweep_speedup": rates[kmax] / rates[1],
    }
