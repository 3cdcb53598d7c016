# mypy: disable-error-code="import-untyped"
"""Trains a list of runs on one task: groups them into vmapped programs, checkpoints, resumes.

The runner is the only place that touches the disk during training. Its contract:

* every run has a directory keyed by what it computes: its config (:meth:`TrainingRun.to_dict`)
  and the task's identity (:meth:`Runner.run_id`); a finished run is never trained again;
* runs that share :meth:`TrainingRun.group_key` and the same current step train together in one
  compiled program (a *cohort*); when the shortest of them reaches its end it is finalised and
  dropped, and the rest go on;
* every ``checkpoint_every`` steps each run's state is checkpointed; after a kill, a rerun restores
  each run from its last checkpoint and, because every random draw is keyed by (run, step),
  continues to exactly the losses and parameters of an uninterrupted run;
* a non-finite loss stops that run with a message naming the step; its last good checkpoint
  stays, and the other runs go on.

What the runs train is one :class:`~jaxsched.train.task.Task`; what each run is, is any object
with the :class:`TrainingRun` surface (:class:`~jaxsched.train.config.RunConfig` for the
reproduction and ``jaxsched train``, the comparison's grid runs for ``jaxsched compare``).
Besides the per-step losses, a run is evaluated (``task.evaluate`` at ``eval_params``) every
``eval_every`` steps, at its end and at its ``eval_steps``. A run with ``branch_steps`` keeps a
snapshot of its state at each of those steps; a run with ``branch_from = (parent, step)`` does
not train its first ``step`` steps but starts from that run's snapshot (its losses and
evaluations up to there included). The runner trains parents first and checks that the two
learning-rate tables agree up to the branch point, so a branch is the run it would have been
trained alone.

Each run directory holds the same files whoever trains it (:mod:`jaxsched.train.results`):
``config.json`` (``{"run": ..., "task": ...}``), ``losses.npy``, ``eval.json`` (a list of
``{"step", <every key of the task's evaluate>}``), ``metrics.jsonl`` (the same losses and
evaluations as they are trained, appended at every chunk: :mod:`jaxsched.train.metrics`),
``summary.json`` (:data:`SUMMARY_KEYS`), ``ckpt/`` and ``params/``. With ``tensorboard=DIR``
each run also writes TensorBoard event files into ``DIR/<run id>/``. The progress bar shows the
live training loss and the last evaluation.
"""

from __future__ import annotations

import logging
import os
import pathlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxsched import _dist as dist
from jaxsched import _validate as v
from jaxsched import optim
from jaxsched._io import exclusive_dir
from jaxsched.smoothing import smoothed_at, smoothing_window
from jaxsched.train import checkpoint as ckpt
from jaxsched.train import metrics, sharding
from jaxsched.train.fingerprint import optimizer_fingerprint, task_fingerprint
from jaxsched.train.loop import GroupTrainer, TaskPrograms, TrainState
from jaxsched.train.results import RunDir, config_key, list_runs
from jaxsched.train.task import Task

_log = logging.getLogger(__name__)

__all__ = ["RUN_FORMAT", "SUMMARY_KEYS", "TERMINAL", "IncompatibleRunError", "RunResult",
           "Runner", "TrainingRun"]

RUN_FORMAT = 2
"""The version of the run-directory layout (``config.json``'s ``"format"``). Directories of
another format are refused, never resumed (:class:`IncompatibleRunError`). Format 2 stores the
training state in ``ckpt/`` (and branch points) as its named tree, :class:`TrainState`'s
``step``, ``params``, ``opt_state`` and ``key``, where format 1 stored its leaves as a flat
``{"0000": ...}``; it also adds ``metrics.jsonl``."""


class IncompatibleRunError(RuntimeError):
    """A run directory was written in another format (by another version of jaxsched)."""

TERMINAL = ("finished", "diverged")

SUMMARY_KEYS = (
    "run_id", "status", "steps", "train_steps", "steps_done", "seed", "smoothing_window",
    "final_loss_smoothed", "final_eval", "wall_seconds", "steps_per_s", "compute_seconds",
    "compute_steps",
)
"""The keys of every ``summary.json`` (a diverged run adds ``message`` and
``diverged_at_step``). ``final_eval`` is the last evaluation's metrics (without its step), or
``{}`` before the first; ``final_loss_smoothed`` is the per-step loss's moving average at the
last step (window: ``smoothing_window``). ``wall_seconds`` is the training time of the groups
the run was in (counted whole for each of their runs) and ``steps_per_s`` the run's steps over
it. ``compute_seconds`` is the run's *share* of its programs' time (each chunk's time divided
by the runs it trained), counting only chunks of programs already compiled, over
``compute_steps`` steps: ``compute_steps / compute_seconds`` is the run's cost in run-steps/s,
comparable between optimizers trained in the same grid."""


@runtime_checkable
class TrainingRun(Protocol):
    """What the runner reads of a run (``RunConfig`` and the comparison's runs have it).

    Attributes:
      seed: seeds the run's initial parameters and its data / dropout stream.
      steps: the schedule's horizon (sets the default smoothing window).
      train_steps: how many steps the run trains.
      eval_every: evaluation period; the run is also evaluated at ``train_steps``.
      eval_steps: more steps to evaluate at.
      branch_steps: steps at which to keep a snapshot for branches.
      branch_from: ``(parent run, step)`` to start from the parent's snapshot, or ``None``.
      record_eval_loss: log the loss at ``eval_params`` instead of the training loss.
    """

    @property
    def seed(self) -> int: ...

    @property
    def steps(self) -> int: ...

    @property
    def eval_every(self) -> int: ...

    @property
    def train_steps(self) -> int: ...

    @property
    def eval_steps(self) -> tuple[int, ...]: ...

    @property
    def branch_steps(self) -> tuple[int, ...]: ...

    @property
    def branch_from(self) -> tuple[Any, int] | None: ...

    @property
    def record_eval_loss(self) -> bool: ...

    def name(self) -> str:
        """A readable name (letters, digits, ``_.-``) that starts the run's directory name."""

    def to_dict(self) -> dict[str, Any]:
        """What the run is, as JSON: keys its directory and is written to ``config.json``."""

    def group_key(self) -> str:
        """Runs with equal keys share one compiled program (same optimizer structure)."""

    def lr_table(self) -> np.ndarray:
        """float32 ``[train_steps]``: the learning rate at each step."""

    def hparams(self) -> dict[str, float]:
        """The optimizer's per-run scalars (they ride on the vmapped run axis)."""

    def make_optimizer(
        self, lr_fn: Callable[[jax.Array], jax.Array], hparams: Mapping[str, jax.Array]
    ) -> optax.GradientTransformation:
        """The run's optimizer from its learning-rate function and scalars (inside ``vmap``)."""


@dataclass
class RunResult:
    """What happened to one run in :meth:`Runner.run`."""

    config: TrainingRun
    run_dir: RunDir
    status: str  # "finished" | "diverged" | "skipped" (already finished before this call)
    summary: dict[str, Any] = field(default_factory=dict)
    trained_steps: int = 0  # steps trained by this call (not resumed, not branched from)


@dataclass
class _Run:
    cfg: TrainingRun
    rd: RunDir
    losses: list[np.ndarray]
    evals: list[dict[str, Any]]
    step: int
    wall: float  # seconds of training spent on this run so far (shared time counted per run)
    compute_seconds: float = 0.0  # its share of warm chunks' time (see SUMMARY_KEYS)
    compute_steps: int = 0
    _table: np.ndarray | None = None
    start: int = 0  # the step this call started training it from
    checkpoints: ckpt.Checkpointer | None = None  # its one checkpoint manager in this call
    writers: list[metrics.MetricWriter] = field(default_factory=list)

    def write(self, step: int, scalars: Mapping[str, float]) -> None:
        for w in self.writers:
            w.write_scalars(step, scalars)

    def close_writers(self) -> None:
        for w in self.writers:
            w.close()

    def checkpointer(self) -> ckpt.Checkpointer:
        if self.checkpoints is None:
            raise RuntimeError(f"{self.rd.run_id}: no checkpoint manager is open for it")
        return self.checkpoints

    def close(self) -> None:
        self.close_writers()
        if self.checkpoints is not None:
            self.checkpoints.close()

    def lr_table(self) -> np.ndarray:
        # Computed once: a cohort rebuilds its tables each time a run leaves it.
        if self._table is None:
            self._table = self.cfg.lr_table()
        return self._table

    @property
    def end(self) -> int:
        return self.cfg.train_steps

    def all_losses(self) -> np.ndarray:
        if not self.losses:
            return np.zeros((0,), np.float32)
        return np.concatenate(self.losses).astype(np.float32)


def _evaluates_at(cfg: TrainingRun, step: int) -> bool:
    return step % cfg.eval_every == 0 or step == cfg.train_steps or step in cfg.eval_steps


def _branch_start(cfg: TrainingRun) -> int:
    """The step a run starts training at: its branch point, or 0."""
    return 0 if cfg.branch_from is None else cfg.branch_from[1]


def _next_mark(step: int, period: int | None, marks: Sequence[int]) -> int | None:
    """The first step after ``step`` that is a multiple of ``period`` or one of ``marks``."""
    later = [m for m in marks if m > step]
    if period:
        later.append((step // period + 1) * period)
    return min(later) if later else None


def _tree_slice(tree, i: int):
    """Run ``i`` of a host (NumPy) tree. Slicing device arrays eagerly would compile one tiny
    program per leaf shape and index; with tens of runs that cost more than the training."""
    return jax.tree.map(lambda x: x[i], tree)


def _tree_stack(trees):
    return jax.tree.map(lambda *xs: np.stack(xs), *trees)


@jax.jit
def _take_runs(tree, idx):
    # One program per (runs in, runs out), whatever the indices.
    return jax.tree.map(lambda x: jnp.take(x, idx, axis=0), tree)


def _tree_take(tree, idx: Sequence[int]):
    return _take_runs(tree, np.asarray(idx, np.int32))


class _Placement(NamedTuple):
    """Where a group's arrays live: no mesh (default device), or a mesh split by runs / data."""

    mesh: jax.sharding.Mesh | None
    axis: str


class Runner:
    """Trains runs of one task. See the module docstring for the contract.

    Args:
      task: what every run trains.
      out_dir: runs go to ``out_dir/runs/<run id>/``.
      identity: JSON that says what ``task`` computes (the model, the data, their sizes); it
        keys every run directory with the run's own config, so runs of another task never
        resume from these.
      group: train runs of one structure in one vmapped program (``False``: one at a time).
      chunk_size: most steps per dispatch.
      checkpoint_every: checkpoint period in steps (``None``: no periodic checkpoints).
      checkpoint_seconds: with ``checkpoint_every``, skip a periodic checkpoint when the
        cohort's last one (or its start) is less than this many seconds of wall time ago, so
        short runs do not spend their time writing checkpoints while a kill still loses at most
        about this much training (``None``: every period). A finished run's parameters and
        branch points are always written.
      smoothing: window of ``final_loss_smoothed`` (default: 1% of each run's horizon).
      progress: show a progress bar.
      log: where messages go (default: the ``jaxsched.train.runner`` logger, a child of
        ``logging.getLogger("jaxsched")``: progress at INFO, damaged checkpoints and
        diverged runs at WARNING).
      shard: split the run axis over the local devices (several runs), or each batch over them
        (one run whose batch leaves all split evenly).
      tensorboard: also write each run's metrics as TensorBoard event files into
        ``tensorboard/<run id>/`` (needs ``tensorboardX``: ``pip install
        'jaxsched[tensorboard]'``; :class:`~jaxsched.train.metrics.TensorBoardUnavailableError`
        here without it). A finished run that has no event files there gets them from its
        run directory.
    """

    def __init__(
        self,
        task: Task,
        out_dir,
        *,
        identity: Mapping[str, Any] | None = None,
        group: bool = True,
        chunk_size: int = 500,
        checkpoint_every: int | None = None,
        checkpoint_seconds: float | None = None,
        smoothing: int | None = None,
        progress: bool = True,
        log: Callable[[str], None] | None = None,
        shard: bool = True,
        tensorboard: str | os.PathLike | None = None,
    ):
        if not isinstance(task, Task):
            raise ValueError(f"task must be a jaxsched Task, got task={task!r}")
        task.validate()
        v.check_int("chunk_size", chunk_size, minimum=1)
        if checkpoint_every is not None:
            v.check_int("checkpoint_every", checkpoint_every, minimum=1)
        if checkpoint_seconds is not None:
            v.check_nonnegative("checkpoint_seconds", checkpoint_seconds)
        if smoothing is not None:
            v.check_int("smoothing", smoothing, minimum=1)
        if tensorboard is not None:
            if not isinstance(tensorboard, (str, os.PathLike)) or str(tensorboard) == "":
                raise ValueError(f"tensorboard must be a directory path, got "
                                 f"tensorboard={tensorboard!r}")
            if pathlib.Path(tensorboard).exists() and not pathlib.Path(tensorboard).is_dir():
                raise ValueError(f"tensorboard must be a directory, got "
                                 f"tensorboard={str(tensorboard)!r} (a file)")
            metrics.require_tensorboard()
        self.task = task
        self.identity = dict(identity or {})
        self.root = pathlib.Path(out_dir) / "runs"
        self.group = group
        self.chunk_size = chunk_size
        self.checkpoint_every = checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self.smoothing = smoothing
        self.progress = progress
        self.log = log
        self._info = log or _log.info
        self._warn = log or _log.warning
        self.shard = shard
        self.tensorboard = None if tensorboard is None else pathlib.Path(tensorboard)
        self._trainers: dict[tuple, GroupTrainer] = {}
        self._programs = TaskPrograms(task)  # one compile of init and metrics for all groups
        self._configs: dict[str, TrainingRun] = {}
        self._fingerprints: dict[str, str] = {}
        self._compiled: set[tuple] = set()
        self._last_eval: dict[str, float] | None = None  # for the progress bar

    # -- public -------------------------------------------------------------------------------
    def run_id(self, cfg: TrainingRun) -> str:
        """The directory name of ``cfg``'s run: its name and a hash of what it computes (its
        config, the task's identity and the fingerprints of the task and the optimizer)."""
        return f"{cfg.name()}-{config_key(self._key(cfg))[:10]}"

    def run(self, configs: Sequence[TrainingRun]) -> list[RunResult]:
        """Train (or resume, or skip when finished) every run; one result per distinct run, in
        the order given.

        The output directory is held for the call (:func:`jaxsched._io.exclusive_dir`): a
        second runner on it, in this or another process, raises
        :class:`~jaxsched._io.OutDirLockedError` at once instead of training the same runs.
        """
        with exclusive_dir(self.root.parent, enabled=jax.process_index() == 0):
            return self._run(configs)

    def _run(self, configs: Sequence[TrainingRun]) -> list[RunResult]:
        for cfg in configs:
            if not isinstance(cfg, TrainingRun):
                raise ValueError(f"configs must have the TrainingRun surface, got {cfg!r}")
        self._refuse_other_formats()
        results: dict[str, RunResult] = {}
        self._configs = {self.run_id(c): c for c in configs}
        pending: list[_Run] = []
        seen: set[str] = set()
        for cfg in configs:
            rid = self.run_id(cfg)
            if rid in seen:
                continue
            seen.add(rid)
            rd = RunDir(self.root, rid)
            summary = rd.read_summary() if rd.summary_path.exists() else None
            if summary and summary.get("status") in TERMINAL:
                # A diverged run would diverge again at the same step: report, don't retrain.
                results[rid] = RunResult(cfg, rd, "skipped", summary)
                self._backfill_tensorboard(rd)
                continue
            self._check_config(rd, cfg)
            pending.append(_Run(cfg, rd, [], [], 0, 0.0))

        total = sum(r.end - _branch_start(r.cfg) for r in pending)
        bar = self._bar(total)
        try:
            # Waves: a branch trains after the run it branches from.
            while pending:
                wave = [r for r in pending if not self._waits(r, pending)]
                if not wave:
                    raise ValueError(
                        "branch_from forms a cycle among runs "
                        f"{sorted(r.rd.run_id for r in pending)}"
                    )
                pending = [r for r in pending if all(r is not w for w in wave)]
                groups: dict[str, list[_Run]] = {}
                for r in wave:
                    key = r.cfg.group_key() if self.group else r.rd.run_id
                    groups.setdefault(key, []).append(r)
                for runs in groups.values():
                    for res in self._train_group(runs, bar, results):
                        results[res.run_dir.run_id] = res
                # The next wave's branches read what this one's parents wrote (process 0).
                dist.barrier("jaxsched-runner-wave")
        finally:
            if bar is not None:
                bar.close()
        ids = dict.fromkeys(self.run_id(c) for c in configs)
        return [results[rid] for rid in ids if rid in results]

    # -- internals ----------------------------------------------------------------------------
    def _fingerprint(self, cfg: TrainingRun) -> dict[str, str]:
        """The task's and the run's optimizer's fingerprints (computed once per structure)."""
        if "task" not in self._fingerprints:
            self._fingerprints["task"] = task_fingerprint(self.task)
        group = f"optimizer|{cfg.group_key()}"
        if group not in self._fingerprints:
            params = jax.eval_shape(self.task.init, jax.random.key(0))
            self._fingerprints[group] = optimizer_fingerprint(cfg.make_optimizer, params,
                                                              cfg.hparams())
        return {"task": self._fingerprints["task"], "optimizer": self._fingerprints[group]}

    def _key(self, cfg: TrainingRun) -> dict[str, Any]:
        """What keys the run's directory: the config (its parent named by run id), the task's
        identity, the fingerprints and the format."""
        run = dict(cfg.to_dict())
        if cfg.branch_from is not None:
            parent, step = cfg.branch_from
            run["branch_from"] = [self.run_id(parent), int(step)]
        return {"format": RUN_FORMAT, "run": run, "task": self.identity,
                "fingerprint": self._fingerprint(cfg)}

    def _record(self, cfg: TrainingRun) -> dict[str, Any]:
        """``config.json``: the key, and the version of jaxsched that wrote it."""
        from jaxsched import __version__

        return {**self._key(cfg), "written_by": f"jaxsched {__version__}"}

    def _refuse_other_formats(self) -> None:
        """Stop before anything is trained if ``runs/`` holds a directory of another format."""
        for rd in list_runs(self.root):
            try:
                record = rd.read_config()
            except (OSError, ValueError):
                continue  # unreadable: not a run this version could mistake for its own
            found = record.get("format") if isinstance(record, dict) else None
            if found != RUN_FORMAT:
                by = record.get("written_by", "an earlier jaxsched") if isinstance(
                    record, dict) else "an earlier jaxsched"
                raise IncompatibleRunError(
                    f"{rd.path} was written by {by} in run format {found or 0}; this version "
                    f"writes format {RUN_FORMAT} and does not resume it: move it out of "
                    f"{self.root} (or use another --out)"
                )

    def _parent_id(self, r: _Run) -> str | None:
        return None if r.cfg.branch_from is None else self.run_id(r.cfg.branch_from[0])

    def _waits(self, r: _Run, pending: Sequence[_Run]) -> bool:
        parent = self._parent_id(r)
        return parent is not None and any(p.rd.run_id == parent for p in pending)

    def _check_config(self, rd: RunDir, cfg: TrainingRun) -> None:
        record = self._record(cfg)
        if rd.config_path.exists():
            stored = {k: x for k, x in rd.read_config().items() if k != "written_by"}
            if config_key(stored) != config_key(self._key(cfg)):
                raise ValueError(
                    f"run directory {rd.path} holds a different config; remove it or use "
                    "another --out"
                )
        else:
            if dist.is_primary():
                rd.write_config(record)

    def _bar(self, total: int):
        if not self.progress or total == 0:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, unit="step", unit_scale=True, dynamic_ncols=True, smoothing=0.1)

    def _batch_splits(self, mesh) -> bool:
        """Whether every leaf of the task's batch has a leading axis the mesh divides."""
        shapes = jax.eval_shape(self.task.sample, jax.random.key(0))
        leaves = jax.tree.leaves(shapes)
        return bool(leaves) and all(x.ndim and x.shape[0] % mesh.size == 0 for x in leaves)

    def _trainer(self, cfg0: TrainingRun, n_runs: int) -> tuple[GroupTrainer, _Placement]:
        # Several runs: split the run axis over the devices. One run: data parallel.
        axis = "runs" if n_runs > 1 else "data"
        mesh = sharding.local_mesh(axis) if self.shard else None
        if mesh is not None and axis == "data" and not self._batch_splits(mesh):
            mesh = None  # a batch that does not split evenly stays on one device
        # One trainer per program structure and placement: its compiled programs are reused by
        # every later group of the same shapes (runs one at a time, a branch wave, ...).
        key = (cfg0.group_key(), axis, mesh is None)
        if key not in self._trainers:
            self._trainers[key] = GroupTrainer(
                self.task, cfg0.make_optimizer, record_eval_loss=cfg0.record_eval_loss,
                chunk_size=self.chunk_size,
                batch_sharding=sharding.batch_sharding(mesh) if mesh and axis == "data" else None,
                programs=self._programs,
            )
        return self._trainers[key], _Placement(mesh, axis)

    def _train_group(self, runs: list[_Run], bar, done: dict[str, RunResult]) -> list[RunResult]:
        # One checkpoint manager per run, held for as long as the run trains in this call
        # (orbax expects one per directory for its lifetime) and closed whatever happens.
        try:
            for r in runs:
                r.checkpoints = ckpt.Checkpointer(r.rd.checkpoint_dir, max_to_keep=2,
                                                  log=self._warn)
            return self._train_opened(runs, bar, done)
        finally:
            for r in runs:
                r.close()

    def _train_opened(self, runs: list[_Run], bar, done: dict[str, RunResult]
                      ) -> list[RunResult]:
        results: list[RunResult] = []
        orphans = [r for r in runs if self._orphaned(r, done)]
        for r in orphans:
            parent, step = self._parent_id(r), _branch_start(r.cfg)
            self._open_metrics(r)
            results.append(self._diverged(
                r, step, float("nan"),
                message=f"{r.rd.run_id}: not trained: the run it branches from ({parent}) did "
                f"not reach step {step} ({done[parent].status if parent in done else 'missing'})",
            ))
        runs = [r for r in runs if all(r is not o for o in orphans)]
        if not runs:
            return results
        cfg0 = runs[0].cfg
        trainer, placement = self._trainer(cfg0, len(runs))
        mesh, axis = placement
        seeds = np.array([r.cfg.seed for r in runs], np.int32)
        hparams = self._hparams(runs)
        fresh = dist.to_host(trainer.init(seeds, hparams))
        states = []
        for i, r in enumerate(runs):
            states.append(self._restore(r, _tree_slice(fresh, i)))
            r.start = r.step
            self._open_metrics(r)
            if bar is not None:
                bar.update(r.step - _branch_start(r.cfg))
        # Runs resumed at different steps cannot share a program's step counter boundaries
        # cleanly; train each step-cohort on its own.
        by_step: dict[int, list[int]] = {}
        for i, r in enumerate(runs):
            by_step.setdefault(r.step, []).append(i)
        for idx in by_step.values():
            cohort = [runs[i] for i in idx]
            state = _tree_stack([states[i] for i in idx])
            if mesh is not None:
                self._info(f"{len(cohort)} run(s) on {mesh.size} devices ({axis} axis)")
            results += self._train_cohort(trainer, placement, cohort, state, bar)
        return results

    @staticmethod
    def _place(placement: _Placement, tree, n_runs: int):
        """Lay a cohort's arrays out on the mesh: padded and split by run, or replicated."""
        mesh = placement.mesh
        if mesh is None:
            return jax.device_put(tree)
        if placement.axis == "data":
            return sharding.replicate(tree, mesh)
        padded = sharding.pad_runs(tree, sharding.padded_size(n_runs, mesh))
        return sharding.shard_runs(padded, mesh)

    @staticmethod
    def _hparams(runs: Sequence[_Run]) -> dict[str, np.ndarray]:
        names = runs[0].cfg.hparams()
        return {n: np.asarray([r.cfg.hparams()[n] for r in runs], np.float32) for n in names}

    def _orphaned(self, r: _Run, done: dict[str, RunResult]) -> bool:
        """A branch whose parent did not reach the branch point (diverged before it)."""
        parent = self._parent_id(r)
        if parent is None or self._has_checkpoint(r):
            return False
        return not self._snapshot_dir(RunDir(self.root, parent), _branch_start(r.cfg)).exists()

    @staticmethod
    def _has_checkpoint(r: _Run) -> bool:
        return r.checkpoints is not None and r.checkpoints.latest_step() is not None

    def _open_metrics(self, r: _Run) -> None:
        """Start ``r``'s ``metrics.jsonl`` (and event files) afresh from what it holds now.

        The run's history up to its start (a checkpoint's, a branch point's, or none) is
        written and replaces the files at the first flush, so steps a killed process wrote past
        its checkpoint are neither repeated nor lost. Process 0 writes them.
        """
        if not dist.is_primary():
            return
        r.writers = [metrics.JsonlWriter(r.rd.metrics_path, replace=True)]
        if self.tensorboard is not None:
            r.writers.append(
                metrics.TensorBoardWriter(self.tensorboard / r.rd.run_id, replace=True))
        metrics.write_history(r.writers, r.all_losses(), r.evals)
        for w in r.writers:
            w.flush()

    def _backfill_tensorboard(self, rd: RunDir) -> None:
        """Event files for a run finished before, when ``tensorboard`` has none of it."""
        if self.tensorboard is None or not dist.is_primary():
            return
        logdir = self.tensorboard / rd.run_id
        if metrics.has_event_files(logdir):
            return
        with metrics.TensorBoardWriter(logdir, replace=True) as w:
            metrics.write_history([w], rd.load_losses(), rd.load_eval())

    @staticmethod
    def _snapshot_dir(rd: RunDir, step: int):
        return rd.path / "branch_points" / f"{step:09d}"

    def _save_snapshots(self, runs: Sequence[_Run], state, idx: Sequence[int]) -> None:
        for r, i in zip(runs, idx, strict=True):
            ckpt.save_pytree(self._snapshot_dir(r.rd, r.step), _tree_slice(state, i))

    def _branch(self, r: _Run, fresh_state: TrainState) -> TrainState:
        """Start ``r`` from its parent's snapshot, with the parent's losses and evals so far."""
        parent_id, step = self._parent_id(r), _branch_start(r.cfg)
        assert parent_id is not None  # only a run with branch_from branches
        parent = RunDir(self.root, parent_id)
        if parent_id not in self._configs:
            raise ValueError(
                f"{r.rd.run_id} branches from {parent_id}, which is not among the runs given"
            )
        own, theirs = r.lr_table()[:step], self._configs[parent_id].lr_table()[:step]
        if own.shape != theirs.shape or not np.array_equal(own, theirs):
            raise ValueError(
                f"{r.rd.run_id} cannot branch from {parent_id} at step {step}: their "
                "learning-rate tables differ before that step"
            )
        state = ckpt.load_pytree(self._snapshot_dir(parent, step), fresh_state)
        losses = parent.load_losses()
        wanted = [s for s in range(1, step + 1) if _evaluates_at(r.cfg, s)]
        evals = [e for e in parent.load_eval() if e["step"] in wanted]
        if len(losses) < step or [e["step"] for e in evals] != wanted:
            raise ValueError(
                f"{r.rd.run_id} cannot branch from {parent_id} at step {step}: the parent "
                f"recorded {len(losses)} losses and evaluations at steps "
                f"{[e['step'] for e in evals]}, the branch needs {step} and {wanted}"
            )
        r.losses, r.evals, r.step = [losses[:step]], evals, step
        return state

    def _restore(self, r: _Run, fresh_state: TrainState) -> TrainState:
        """``r``'s state from its newest intact checkpoint (a damaged one is set aside with one
        line of log), its branch point, or fresh."""
        # Host (NumPy) leaves: the runner stacks a cohort on the host and places it once.
        found = r.checkpointer().restore_latest(fresh_state, log=self._warn)
        if found is None:
            return fresh_state if r.cfg.branch_from is None else self._branch(r, fresh_state)
        step, state = found
        if int(state.step) != step:
            raise ValueError(f"checkpoint {step} of {r.rd.path} holds step {int(state.step)}")
        losses = r.rd.load_losses()
        if len(losses) < step:
            raise ValueError(
                f"{r.rd.path}: losses.npy has {len(losses)} steps but "
                f"the checkpoint is at step {step}"
            )
        r.losses = [losses[:step]]
        r.evals = [e for e in r.rd.load_eval() if e["step"] <= step]
        r.step = step
        summary = r.rd.read_summary() or {}
        r.wall = float(summary.get("wall_seconds", 0.0))
        r.compute_seconds = float(summary.get("compute_seconds", 0.0))
        r.compute_steps = int(summary.get("compute_steps", 0))
        self._info(f"resuming {r.rd.run_id} from step {step}")
        return state

    def _train_cohort(
        self, trainer, placement: _Placement, runs: list[_Run], state, bar
    ) -> list[RunResult]:
        results: list[RunResult] = []
        last_checkpoint = time.monotonic()
        while runs:
            step = runs[0].step
            hparams = self._hparams(runs)
            horizon = max(r.end for r in runs)
            tables = np.stack(
                [np.pad(t, (0, horizon - len(t)), mode="edge") for t in
                 (r.lr_table() for r in runs)]
            )
            state, tables, hparams = self._place(
                placement, (state, tables.astype(np.float32), hparams), len(runs)
            )
            stop = min(r.end for r in runs)
            while step < stop:
                # Chunks end wherever any run evaluates; each run records only its own evals
                # (its eval_every and its end), so eval.json does not depend on the group.
                targets: list[int | None] = [stop, step + self.chunk_size]
                for r in runs:
                    targets.append(_next_mark(step, r.cfg.eval_every, r.cfg.eval_steps))
                    targets.append(_next_mark(step, None, r.cfg.branch_steps))
                if self.checkpoint_every:
                    ce = self.checkpoint_every
                    targets.append((step // ce + 1) * ce)
                n = min(t for t in targets if t is not None) - step
                # A program's first chunk includes its compile: not counted as compute.
                program = (id(trainer), jax.tree.leaves(state)[0].shape[0], tables.shape)
                warm = program in self._compiled
                t0 = time.perf_counter()
                state, losses = trainer.train(state, tables, hparams, n)
                losses = dist.to_host(losses)[: len(runs)]  # the one host sync per chunk
                dt = time.perf_counter() - t0
                self._compiled.add(program)
                step += n
                bad = self._record_chunk(runs, losses, dt, step, warm)
                due = [i for i, r in enumerate(runs) if _evaluates_at(r.cfg, step)]
                if due:
                    self._evaluate(trainer, runs, state, step, due)
                for r in runs:
                    for w in r.writers:
                        w.flush()
                if bar is not None:
                    bar.set_postfix(metrics.progress_postfix(losses, self._last_eval),
                                    refresh=False)
                    bar.update(n * len(runs))
                if bad:
                    results += [self._diverged(runs[i], *bad[i]) for i in sorted(bad)]
                keep = [i for i in range(len(runs)) if i not in bad]
                done = [i for i in keep if runs[i].end == step]
                ckpt_now = (self.checkpoint_every is not None
                            and step % self.checkpoint_every == 0
                            and (self.checkpoint_seconds is None
                                 or time.monotonic() - last_checkpoint
                                 >= self.checkpoint_seconds))
                # One transfer of the whole group when runs are saved, then NumPy slices.
                host = dist.to_host(state) if done or (ckpt_now and keep) else None
                if ckpt_now:
                    self._checkpoint([runs[i] for i in keep if i not in done],
                                     host, [i for i in keep if i not in done])
                    last_checkpoint = time.monotonic()
                snap = [i for i in keep if step in runs[i].cfg.branch_steps]
                if snap:
                    host = dist.to_host(state) if host is None else host
                    self._save_snapshots([runs[i] for i in snap], host, snap)
                for i in done:
                    results.append(self._finish(runs[i], _tree_slice(host, i)))
                if bad or done:
                    keep = [i for i in keep if i not in done]
                    runs = [runs[i] for i in keep]
                    if not runs:
                        return results
                    state = _tree_take(state, keep)
                    break  # recompute tables / stop for the remaining runs
        return results

    def _record_chunk(self, runs, losses: np.ndarray, dt: float, step: int, warm: bool):
        n = losses.shape[1]
        bad: dict[int, tuple[int, float]] = {}
        for i, r in enumerate(runs):
            finite = np.isfinite(losses[i])
            if not finite.all():
                j = int(np.argmin(finite))
                bad[i] = (step - n + j, float(losses[i, j]))
                r.losses.append(losses[i, :j])
            else:
                r.losses.append(losses[i])
            for j, x in enumerate(r.losses[-1]):
                r.write(step - n + j + 1, {"loss": float(x)})
            r.step = step
            r.wall += dt
            if warm:
                r.compute_seconds += dt / len(runs)
                r.compute_steps += n
        return bad

    def _evaluate(self, trainer, runs, state, step: int, due: Sequence[int]) -> None:
        """Evaluate the cohort in one program and record it for the runs in ``due``."""
        values = {k: x[: len(runs)] for k, x in dist.to_host(trainer.evaluate(state)).items()}
        for i in due:
            record = {"step": step, **{k: float(x[i]) for k, x in values.items()}}
            runs[i].evals.append(record)
            runs[i].write(step, metrics.eval_scalars(record))
        self._last_eval = {k: float(np.mean(x[list(due)])) for k, x in values.items()}

    def _checkpoint(self, runs: Sequence[_Run], state, idx: Sequence[int]) -> None:
        """Checkpoint ``runs``, which sit at ``idx`` of the host copy ``state``."""
        for r, i in zip(runs, idx, strict=True):
            # Losses first: a kill between the two leaves losses ahead of the checkpoint,
            # which a resume truncates; the reverse order could lose steps.
            if dist.is_primary():
                r.rd.save_losses(r.all_losses())
                r.rd.save_eval(r.evals)
                r.rd.write_summary(self._summary(r, "running"))
            r.checkpointer().save(r.step, _tree_slice(state, i))

    def _summary(self, r: _Run, status: str, **extra) -> dict[str, Any]:
        losses = r.all_losses()
        window = self.smoothing or smoothing_window(r.cfg.steps)
        last_eval = r.evals[-1] if r.evals else {}
        return {
            "run_id": r.rd.run_id,
            "status": status,
            "steps": r.cfg.steps,
            "train_steps": r.cfg.train_steps,
            "steps_done": int(len(losses)),
            "seed": r.cfg.seed,
            "smoothing_window": window,
            "final_loss_smoothed": smoothed_at(losses, len(losses), window),
            "final_eval": {k: x for k, x in last_eval.items() if k != "step"},
            "wall_seconds": r.wall,
            "steps_per_s": (len(losses) / r.wall) if r.wall > 0 else None,
            "compute_seconds": r.compute_seconds,
            "compute_steps": r.compute_steps,
            **extra,
        }

    def _finish(self, r: _Run, state: TrainState) -> RunResult:
        params = optim.eval_params(state.opt_state, state.params)
        ckpt.save_pytree(r.rd.params_dir, jax.tree.map(np.asarray, params))  # every process
        summary = self._summary(r, "finished")
        r.close_writers()
        if dist.is_primary():
            r.rd.save_losses(r.all_losses())
            r.rd.save_eval(r.evals)
            r.rd.write_summary(summary)  # last: its presence marks the run finished
        return RunResult(r.cfg, r.rd, "finished", summary, r.step - r.start)

    def _diverged(self, r: _Run, step: int, value: float, message: str | None = None
                  ) -> RunResult:
        msg = message or (
            f"{r.rd.run_id}: loss became {value} at step {step}; training of this run stopped"
            " (its last good checkpoint, if any, is kept)"
        )
        self._warn(msg)
        summary = self._summary(r, "diverged", message=msg, diverged_at_step=step)
        r.close_writers()
        if dist.is_primary():
            r.rd.save_losses(r.all_losses())
            r.rd.save_eval(r.evals)
            r.rd.write_summary(summary)
        return RunResult(r.cfg, r.rd, "diverged", summary, max(0, r.step - r.start))
