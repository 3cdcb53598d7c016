# mypy: disable-error-code="import-untyped"
"""Throughput figures that do not depend on what is trained: a matmul peak, FLOPs of a
compiled program, the rates of any :class:`~jaxsched.train.task.Task` trained by the compiled
loop and by a plain loop, and the training time that measured run-steps/s project for a list of
runs.

:class:`PlainLoop` is a task trained as a user writes it with flax and optax: one jitted step
per Python iteration, ``params, opt_state, loss = step(params, opt_state, batch, key)``, the
batch from a jitted ``task.sample``, the keys split on the host. :class:`CompiledLoop` is the
same task in :class:`~jaxsched.train.loop.GroupTrainer`, ``runs`` runs in one program, many
steps per dispatch. Both are steppable, so that a benchmark can interleave them (a burst of
load from elsewhere then hits each alike).

:func:`projected_seconds` turns run-steps/s measured at a few group sizes K (see
:func:`jaxsched.workloads.bench.sweep_bench`) into the training time of a list of runs, grouped
as the runner groups them or one run after another.

>>> rate_at(3, {1: 10.0, 2: 20.0, 4: 40.0})
30.0
>>> projected_seconds([[100, 50]], {1: 10.0, 2: 20.0})
10.0
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxsched import _validate as v
from jaxsched.train.loop import GroupTrainer
from jaxsched.train.task import Task

__all__ = ["CompiledLoop", "PlainLoop", "compiled_flops", "device_name", "matmul_peak_gflops",
           "projected_seconds", "rate_at"]


def device_name() -> str:
    """``platform:device kind`` of the default device (``cpu:cpu``, ``gpu:NVIDIA H100 ...``)."""
    d = jax.devices()[0]
    return f"{d.platform}:{d.device_kind}"


def compiled_flops(compiled: Any) -> float:
    """FLOPs of a compiled program by XLA's cost analysis (0 where it reports none)."""
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else {}
    return float((cost or {}).get("flops", 0.0))


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best f32 GFLOP/s of an ``n x n @ n x n`` product (``jnp.dot``) on the default device."""
    v.check_int("n", n, minimum=1)
    v.check_int("repeats", repeats, minimum=1)
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32)
    f = jax.jit(jnp.dot)
    f(a, b).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(a, b).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9


class PlainLoop:
    """One run of ``task`` with the optimizer ``tx``, trained as a user writes it.

    >>> import jax.numpy as jnp
    >>> task = Task(init=lambda k: jnp.ones(2), loss=lambda p, b, k: jnp.mean((b - p) ** 2),
    ...             sample=lambda k: jax.random.normal(k, (4, 2)))
    >>> loop = PlainLoop(task, optax.adam(0.1))
    >>> loop.run(3) > 0 and loop.step_count
    3
    """

    def __init__(self, task: Task, tx: optax.GradientTransformation, *, seed: int = 0):
        if not isinstance(task, Task):
            raise ValueError(f"task must be a jaxsched Task, got task={task!r}")
        task.validate()
        self.key, init_key = jax.random.split(jax.random.key(seed))
        self.params = jax.jit(task.init)(init_key)
        self.opt_state = jax.jit(tx.init)(self.params)
        self.step_count = 0

        @jax.jit
        def step(params, opt_state, batch, key):
            loss, grads = jax.value_and_grad(task.loss)(params, batch, key)
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, loss

        self.step = step
        self.sample = jax.jit(task.sample)

    def run(self, steps: int) -> float:
        """Train ``steps`` steps; the seconds they took (the last loss fetched at the end)."""
        v.check_int("steps", steps, minimum=1)
        t0 = time.perf_counter()
        for _ in range(steps):
            self.key, data_key, dropout_key = jax.random.split(self.key, 3)
            batch = self.sample(data_key)
            self.params, self.opt_state, loss = self.step(self.params, self.opt_state, batch,
                                                          dropout_key)
        np.asarray(loss)
        self.step_count += steps
        return time.perf_counter() - t0

    def flops_per_step(self) -> float:
        """XLA's FLOP count of the jitted step."""
        batch = self.sample(jax.random.key(0))
        return compiled_flops(self.step.lower(self.params, self.opt_state, batch,
                                              jax.random.key(0)).compile())


class CompiledLoop:
    """``runs`` runs of ``task`` in one program of the group loop, at a constant ``lr``.

    ``make_optimizer(lr_fn, hparams)`` builds the optimizer as
    :class:`~jaxsched.train.loop.GroupTrainer` takes it; ``hparams`` are its per-run scalars
    (Python floats, the same for every run); ``record_eval_loss`` and ``compiler_options`` are
    the trainer's.
    """

    def __init__(self, task: Task, make_optimizer: Callable, *, runs: int = 1, steps: int = 100,
                 lr: float = 1e-3, hparams: Mapping[str, float] | None = None,
                 record_eval_loss: bool = False,
                 compiler_options: Mapping[str, Any] | None = None):
        v.check_int("runs", runs, minimum=1)
        v.check_int("steps", steps, minimum=1)
        self.trainer = GroupTrainer(task, make_optimizer, record_eval_loss=record_eval_loss,
                                    chunk_size=steps, compiler_options=compiler_options)
        self.runs, self.steps = runs, steps
        self.hparams = {k: np.full((runs,), x, np.float32) for k, x in (hparams or {}).items()}
        self.tables = np.full((runs, 1), lr, np.float32)
        self.state = self.trainer.init(np.arange(runs), self.hparams)

    def run(self) -> float:
        """Seconds for ``steps`` steps of every run (the losses fetched to the host)."""
        t0 = time.perf_counter()
        self.state, losses = self.trainer.train(self.state, self.tables, self.hparams,
                                                self.steps)
        np.asarray(losses)
        return time.perf_counter() - t0

    def flops_per_run_step(self) -> float:
        """XLA's FLOP count of one step of one run."""
        return self.trainer.flops_per_step(self.state, self.tables, self.hparams) / self.runs


def rate_at(k: int, rates: Mapping[Any, float]) -> float:
    """Run-steps/s of ``k`` runs in one program, from rates measured at some K.

    Linear between measured K; beyond the largest measured K the run-steps/s stays at its value
    there (no further gain is assumed); below the smallest it is that K's rate.
    """
    v.check_int("k", k, minimum=1)
    pts = sorted((int(kk), float(r)) for kk, r in rates.items())
    if not pts:
        raise ValueError(f"rates must hold at least one measured K, got rates={dict(rates)!r}")
    for kk, r in pts:
        if kk < 1 or not r > 0:
            raise ValueError(f"rates must map K >= 1 to a positive rate, got {kk}: {r}")
    if k <= pts[0][0]:
        return pts[0][1]
    for (k0, r0), (k1, r1) in zip(pts, pts[1:], strict=False):
        if k <= k1:
            return r0 + (r1 - r0) * (k - k0) / (k1 - k0)
    return pts[-1][1]


def projected_seconds(
    groups: Sequence[Sequence[int]], rates: Mapping[Any, float], *, grouped: bool = True
) -> float:
    """Training seconds of runs of the given lengths at the measured run-steps/s.

    Args:
      groups: the lengths (steps) of the runs of each group (runs that share a program).
      rates: K -> run-steps/s, as ``sweep_bench``'s ``sweep_run_steps_per_s``.
      grouped: ``True`` trains each group as the runner does: all its runs together until the
        shortest ends, then the rest (a phase of ``n`` steps with ``K`` runs takes
        ``n * K / rate(K)``); ``False`` trains every run alone (``steps / rate(1)``).

    Compiles, evaluations and checkpoints are not counted, and every step is costed like the
    benchmark's (plain Adam); runs that log the loss at their averaged parameters do one more
    forward pass per step, so the figure is a lower bound for them.
    """
    total = 0.0
    for lengths in groups:
        lengths = sorted(int(n) for n in lengths)
        for n in lengths:
            v.check_int("groups", n, minimum=1)
        if not grouped:
            total += sum(lengths) / rate_at(1, rates)
            continue
        done = 0
        for i, n in enumerate(lengths):
            k = len(lengths) - i
            total += (n - done) * k / rate_at(k, rates)
            done = n
    return total
