# mypy: disable-error-code="import-untyped"
"""The compiled training loop: many runs in one program, many steps per dispatch.

A *group* is R runs whose optimizers share a state structure. Their parameters, optimizer
states, step counters and keys are stacked on a leading run axis and advanced together by one
compiled ``while`` loop over steps, ``vmap``-ed over runs. Each run brings its own learning-rate
table (any schedule, precomputed per step) and its own hyperparameters (EMA decay, betas, ...),
which ride on the run axis as data: constant, linear decays of four lengths, cosine and stepwise
drops all share one program.

What a group trains is a :class:`~jaxsched.train.task.Task` (init / loss / sample /
evaluate); the notes' TinyViT on CIFAR-10 is one task, built from a model and an image array.
Randomness is keyed by (run key, step) only::

    k = fold_in(run_key, step);  data_key, dropout_key = split(k)
    batch = task.sample(data_key)     # TinyViT: randint(data_key, (B,), 0, N), as the notes
    loss = task.loss(params, batch, dropout_key)

so a run gives the same losses alone or inside any group, and under any split of its steps into
``train`` calls (which is what makes resuming exact). The trip count of the loop is a runtime
value: one program serves every chunk length up to ``chunk_size``.

Seeds follow the notes: ``key = PRNGKey(seed); key, param_key = split(key)``; the parameters
come from ``task.init(param_key)`` (TinyViT: ``param_key`` is also the init-time dropout
stream) and the run key is ``key``. Seed 0
therefore starts from the notes' parameters.

Why a loop inside the program, besides skipping a dispatch and a host sync per step: measured
on XLA:CPU (getrusage), a TinyViT step run as a program of its own takes 19-30k minor page
faults, a third of its CPU time spent in the kernel, as if its ~80-120 MB of temporaries were
fresh memory at every execution; inside the loop it takes ~1k per step.

Example (two runs of a toy task, one program; ``lr`` reads each run's table):

>>> import jax, jax.numpy as jnp
>>> from jaxsched import optim
>>> task = Task(init=lambda k: jnp.ones(3), loss=lambda p, b, k: jnp.mean((b - p) ** 2),
...             sample=lambda k: jax.random.normal(k, (8, 3)))
>>> trainer = GroupTrainer(task, lambda lr, h: optim.adam(lr, b1=h["b1"]))
>>> hp = {"b1": jnp.array([0.9, 0.95])}
>>> state = trainer.init(jnp.array([0, 1]), hp)
>>> state, losses = trainer.train(state, jnp.full((2, 50), 0.1), hp, 50)
>>> losses.shape, trainer.evaluate(state)["loss"].shape
((2, 50), (2,))
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxsched import _validate as v
from jaxsched.optim import eval_params
from jaxsched.train.task import Task

__all__ = ["EVAL_LOSS_TIMINGS", "GroupTrainer", "MakeOptimizer", "TaskPrograms", "TrainState"]

MakeOptimizer = Callable[
    [Callable[[jax.Array], jax.Array], Mapping[str, jax.Array]], optax.GradientTransformation
]
"""``(lr_schedule, hparams) -> optimizer``, called inside ``vmap`` with one run's table and
scalars; ``lr_schedule(count)`` reads the run's table at ``min(count, T - 1)``."""

EVAL_LOSS_TIMINGS = ("after", "before")

_KEY_IMPL = "threefry2x32"


class TrainState(NamedTuple):
    """State of a group of runs; every leaf has a leading run axis ``R``.

    Attributes:
      step: int32 ``[R]``, steps taken.
      params: the live parameters.
      opt_state: the optimizer state (averages, moments, counts).
      key: uint32 ``[R, 2]``, raw threefry key data of each run's training stream (plain
        integers, so a checkpoint needs no key type).
    """

    step: jax.Array
    params: Any
    opt_state: Any
    key: jax.Array


def _num_runs(state: TrainState) -> int:
    return int(np.shape(state.step)[0])


def _squeeze_runs(tree: Any) -> Any:
    return jax.tree.map(lambda a: a[0], tree)


def _expand_runs(tree: Any) -> Any:
    return jax.tree.map(lambda a: a[None], tree)


def _over_runs(fn: Callable, num_runs: int, in_axes=0) -> Callable:
    """``vmap(fn)`` over the run axis; for a single run, squeeze instead.

    A run axis of size one would still turn every matrix product into a batched one; a lone
    run is traced unbatched so that its program is the model's own (on this 2-core CPU that
    measured the same or a few percent faster).
    """
    if num_runs != 1:
        return jax.vmap(fn, in_axes=in_axes)

    def one(*args):
        axes = in_axes if isinstance(in_axes, (tuple, list)) else (in_axes,) * len(args)
        squeezed = [_squeeze_runs(a) if ax == 0 else a for a, ax in zip(args, axes, strict=True)]
        return _expand_runs(fn(*squeezed))

    return one


def _fresh_one(task: Task, seed) -> tuple[jax.Array, Any]:
    """One run's key data and initial parameters, as the notes seed them."""
    key, param_key = jax.random.split(jax.random.key(seed, impl=_KEY_IMPL))
    return jax.random.key_data(key), task.init(param_key)


def _eval_params_one(state: TrainState) -> Any:
    return eval_params(state.opt_state, state.params)


def _stack_runs(trees: list) -> Any:
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _on_one_device(tree: Any) -> bool:
    sharding = getattr(jax.tree.leaves(tree)[0], "sharding", None)
    return sharding is None or len(sharding.device_set) == 1


class TaskPrograms:
    """A task's programs that no optimizer enters, compiled once for every group sharing them.

    A run's fresh parameters and its metrics depend on the task alone, yet a group's programs
    are compiled per optimizer and per number of runs. Every :class:`GroupTrainer` given the
    same ``TaskPrograms`` (the runner gives one to all its groups) initialises each run's
    parameters and evaluates each run's ``eval_params`` with these two programs of a single
    run, compiled once: on XLA:CPU each compile of a TinyViT's metrics or initialisation takes
    seconds, several times per reproduction otherwise. The parameters are bitwise those of a
    group's own vmapped initialisation.

    Args:
      task: the task of every trainer that uses them.
      compiler_options: XLA options (``jax.jit``'s ``compiler_options``).
    """

    def __init__(self, task: Task, *, compiler_options: Mapping[str, Any] | None = None):
        if not isinstance(task, Task):
            raise ValueError(f"task must be a jaxsched Task, got task={task!r}")
        self.task = task
        jit = functools.partial(jax.jit, compiler_options=dict(compiler_options or {}))
        self.fresh = jit(functools.partial(_fresh_one, task))
        """``seed -> (key data, params)`` of one run."""
        self.metrics = jit(task.metrics)
        """``params -> {name: scalar}`` of one run (:meth:`Task.metrics`)."""

    def fresh_runs(self, seeds: np.ndarray) -> tuple[jax.Array, Any]:
        """Key data ``[R, 2]`` and parameters (leading axis ``R``) of runs with these seeds."""
        pairs = [self.fresh(np.int32(s)) for s in seeds]
        return jnp.stack([k for k, _ in pairs]), _stack_runs([p for _, p in pairs])

    def metrics_runs(self, params: Any, num_runs: int) -> dict[str, jax.Array]:
        """``{name: f32[R]}``: the metrics of each run of parameters stacked on axis 0."""
        each = [self.metrics(jax.tree.map(lambda a, i=i: a[i], params))
                for i in range(num_runs)]
        return {name: jnp.stack([m[name] for m in each]) for name in each[0]}


class GroupTrainer:
    """Trains a group of runs that share a task and an optimizer structure.

    Args:
      task: what to train (:class:`~jaxsched.train.task.Task`): its ``sample`` draws each
        step's batch on the device, its ``loss`` is differentiated, its ``evaluate`` (or the
        default metrics) is what :meth:`evaluate` reports.
      make_optimizer: see :data:`MakeOptimizer`.
      record_eval_loss: record, instead of the training loss, the loss at
        ``eval_params(opt_state, params)`` on the same batch with the same dropout key (the
        notes' logging for averaging and schedule-free runs). Costs one more forward pass.
      eval_loss_timing: ``"after"`` (default) evaluates that loss after the step's update;
        ``"before"`` before it, which is what the notes' schedule-free function does (its
        averaging functions evaluate after).
      chunk_size: most steps per dispatch; also the length of the loss buffer of the program.
        ``train`` splits longer requests into several dispatches without host syncs.
      unroll: steps per loop iteration. XLA:CPU pays a fixed cost per iteration; measured here
        it did not pay off (TinyViT steps take ~100 ms; even a toy model ran no faster with 2
        or 4, and compiled 2-3x slower), hence the default 1.
      batch_sharding: optional sharding applied to every leaf of each sampled batch inside the
        step (data parallelism for one run: split the leading axis over a mesh); ``None``
        leaves placement to XLA.
      compiler_options: XLA options for the trainer's programs (``jax.jit``'s
        ``compiler_options``), e.g. cheaper compiles for short tests.
      programs: the task's programs of one run (:class:`TaskPrograms`), to share with other
        trainers of the same task; by default the trainer's own. They initialise the
        parameters, and evaluate when the state is on one device (a state split over devices
        is evaluated by one vmapped program of the group).
    """

    def __init__(
        self,
        task: Task,
        make_optimizer: MakeOptimizer,
        *,
        record_eval_loss: bool = False,
        eval_loss_timing: str = "after",
        chunk_size: int = 1000,
        unroll: int = 1,
        batch_sharding: jax.sharding.Sharding | None = None,
        compiler_options: Mapping[str, Any] | None = None,
        programs: TaskPrograms | None = None,
    ):
        if not isinstance(task, Task):
            raise ValueError(f"task must be a jaxsched Task, got task={task!r}")
        task.validate()
        v.check_int("chunk_size", chunk_size, minimum=1)
        v.check_int("unroll", unroll, minimum=1)
        v.check_bool("record_eval_loss", record_eval_loss)
        v.check_choice("eval_loss_timing", eval_loss_timing, EVAL_LOSS_TIMINGS)
        if not callable(make_optimizer):
            raise ValueError(
                f"make_optimizer must be callable, got make_optimizer={make_optimizer!r}"
            )
        self.task = task
        self.make_optimizer = make_optimizer
        self.record_eval_loss = record_eval_loss
        self.eval_loss_timing = eval_loss_timing
        self.chunk_size = chunk_size
        self.unroll = unroll
        self.batch_sharding = batch_sharding
        jit = functools.partial(jax.jit, compiler_options=dict(compiler_options or {}))
        self._run = jit(self._run_impl, donate_argnums=(0,))
        if programs is None:
            programs = TaskPrograms(task, compiler_options=compiler_options)
        elif not isinstance(programs, TaskPrograms) or programs.task is not task:
            raise ValueError(f"programs must be the TaskPrograms of this trainer's task, got "
                             f"programs={programs!r}")
        self.programs = programs
        self._opt_init = jit(self._opt_init_impl)
        self._eval = jit(self._eval_impl)
        self._eval_params = jit(self._eval_params_impl)

    # -- one run, unbatched -------------------------------------------------------------------
    def _optimizer(self, table: jax.Array, hparams: Mapping[str, jax.Array]):
        last = table.shape[0] - 1

        def lr_schedule(count):
            return table[jnp.clip(count, 0, last)]

        return self.make_optimizer(lr_schedule, hparams)

    def _opt_init_one(self, params, hparams, table):
        return self._optimizer(table, hparams).init(params)

    def _step(self, state: TrainState, table, hparams) -> tuple[TrainState, jax.Array]:
        opt = self._optimizer(table, hparams)
        loss_fn = self.task.loss
        run_key = jax.random.wrap_key_data(state.key, impl=_KEY_IMPL)
        data_key, dropout_key = jax.random.split(jax.random.fold_in(run_key, state.step))
        batch = self.task.sample(data_key)
        if self.batch_sharding is not None:
            batch = jax.tree.map(
                lambda x: jax.lax.with_sharding_constraint(x, self.batch_sharding), batch
            )
        loss, grads = jax.value_and_grad(loss_fn)(state.params, batch, dropout_key)
        if self.record_eval_loss and self.eval_loss_timing == "before":
            loss = loss_fn(eval_params(state.opt_state, state.params), batch, dropout_key)
        updates, opt_state = opt.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        if self.record_eval_loss and self.eval_loss_timing == "after":
            loss = loss_fn(eval_params(opt_state, params), batch, dropout_key)
        return TrainState(state.step + 1, params, opt_state, state.key), loss

    # -- compiled programs --------------------------------------------------------------------
    def _opt_init_impl(self, params, hparams, tables):
        return _over_runs(self._opt_init_one, tables.shape[0])(params, hparams, tables)

    def _run_impl(self, state: TrainState, tables, hparams, n):
        num_runs = _num_runs(state)
        step = _over_runs(self._step, num_runs)
        buf = jnp.zeros((num_runs, self.chunk_size), jnp.float32)
        u = self.unroll

        def body(i, carry, width):
            s, b = carry
            losses = []
            for _ in range(width):
                s, loss = step(s, tables, hparams)
                losses.append(loss)
            b = jax.lax.dynamic_update_slice(b, jnp.stack(losses, axis=1), (0, i * width))
            return s, b

        carry = (state, buf)
        if u > 1:
            full = n // u
            carry = jax.lax.fori_loop(0, full, lambda i, c: body(i, c, u), carry)
            carry = jax.lax.fori_loop(full * u, n, lambda i, c: body(i, c, 1), carry)
        else:
            carry = jax.lax.fori_loop(0, n, lambda i, c: body(i, c, 1), carry)
        return carry

    def _eval_impl(self, state):
        return _over_runs(lambda s: self.task.metrics(_eval_params_one(s)), _num_runs(state))(state)

    def _eval_params_impl(self, state):
        return _over_runs(_eval_params_one, _num_runs(state))(state)

    # -- checks -------------------------------------------------------------------------------
    @staticmethod
    def _check_hparams(hparams: Mapping[str, Any], num_runs: int) -> dict[str, jax.Array]:
        if not isinstance(hparams, Mapping):
            raise ValueError(f"hparams must be a mapping of name -> [R] array, got {hparams!r}")
        out = {}
        for name, value in hparams.items():
            arr = jnp.asarray(value, jnp.float32)
            if arr.shape != (num_runs,):
                raise ValueError(
                    f"hparams[{name!r}] must have shape ({num_runs},) (one value per run), "
                    f"got shape {arr.shape}"
                )
            out[name] = arr
        return out

    def _check_tables(self, lr_tables: Any, num_runs: int) -> jax.Array:
        tables = jnp.asarray(lr_tables, jnp.float32)
        if tables.ndim != 2 or tables.shape[0] != num_runs or tables.shape[1] == 0:
            raise ValueError(
                f"lr_tables must have shape ({num_runs}, T) with T >= 1, got shape "
                f"{tables.shape}"
            )
        return tables

    # -- public -------------------------------------------------------------------------------
    def init(self, seeds: Any, hparams: Mapping[str, Any]) -> TrainState:
        """Fresh states for runs with these seeds (int ``[R]``); hparams are f32 ``[R]`` each.

        Parameters come from ``split(PRNGKey(seed))[1]`` as in the notes; the optimizer state
        from ``make_optimizer(...).init(params)``.
        """
        seeds = np.asarray(seeds)
        if seeds.ndim != 1 or seeds.shape[0] == 0 or not np.issubdtype(seeds.dtype, np.integer):
            raise ValueError(f"seeds must be a non-empty 1-D integer array, got seeds={seeds!r}")
        if seeds.min() < -(2**31) or seeds.max() >= 2**31:
            raise ValueError(f"seeds must fit in int32, got seeds={seeds!r}")
        num_runs = seeds.shape[0]
        hp = self._check_hparams(hparams, num_runs)
        tables = jnp.zeros((num_runs, 1), jnp.float32)
        keys, params = self.programs.fresh_runs(seeds)
        opt_state = self._opt_init(params, hp, tables)
        return TrainState(jnp.zeros((num_runs,), jnp.int32), params, opt_state, keys)

    def train(
        self, state: TrainState, lr_tables: Any, hparams: Mapping[str, Any], num_steps: int
    ) -> tuple[TrainState, jax.Array]:
        """Advance every run by ``num_steps``; returns the new state and losses ``[R, num_steps]``.

        Run ``r`` at optimizer count ``c`` uses ``lr_tables[r, min(c, T - 1)]``. ``state`` is
        donated: do not use it after the call. Nothing is synchronised with the host.
        """
        if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)):
            raise ValueError(f"num_steps must be an integer, got num_steps={num_steps!r}")
        if num_steps < 0:
            raise ValueError(f"num_steps must be >= 0, got num_steps={num_steps}")
        num_runs = _num_runs(state)
        tables = self._check_tables(lr_tables, num_runs)
        hp = self._check_hparams(hparams, num_runs)
        pieces = []
        left = int(num_steps)
        while left > 0:
            n = min(left, self.chunk_size)
            state, buf = self._run(state, tables, hp, jnp.int32(n))
            pieces.append(buf if n == self.chunk_size else buf[:, :n])
            left -= n
        if not pieces:
            return state, jnp.zeros((num_runs, 0), jnp.float32)
        return state, pieces[0] if len(pieces) == 1 else jnp.concatenate(pieces, axis=1)

    def flops_per_step(self, state: TrainState, lr_tables: Any, hparams: Mapping[str, Any]):
        """XLA's FLOP count of one step of the whole group (nothing runs; ``state`` is kept).

        Read from the cost analysis of the compiled loop program that ``train`` runs (a cache
        hit after the first ``train``), which counts the loop body once.
        """
        num_runs = _num_runs(state)
        compiled = self._run.lower(
            state, self._check_tables(lr_tables, num_runs),
            self._check_hparams(hparams, num_runs), jnp.int32(1),
        ).compile()
        cost = compiled.cost_analysis()
        if isinstance(cost, (list, tuple)):
            cost = cost[0] if cost else {}
        return float((cost or {}).get("flops", 0.0))

    def evaluate(self, state: TrainState) -> dict[str, jax.Array]:
        """The task's metrics (:meth:`Task.metrics`) of every run at its ``eval_params``.

        Returns ``{name: f32[R]}``, at least ``"loss"``. On one device each run is evaluated by
        the task's one-run program (:class:`TaskPrograms`), compiled once for every group; a
        state split over devices by one vmapped program per group shape.
        """
        if _on_one_device(state.step):
            return self.programs.metrics_runs(self._eval_params(state), _num_runs(state))
        return self._eval(state)
