"""The anytime comparison on the trainer's runner: the grid of runs, WSD branching, results.

:func:`run` turns (candidates x learning rates x horizons x seeds) into runs of
:class:`jaxsched.train.runner.Runner` on a :class:`~jaxsched.train.task.Task`: one compiled,
vmapped program per optimizer structure, batches drawn on device, keyed by (run, step),
checkpointed and resumed. A scheduled candidate trains one run per (lr, horizon, seed); an
anytime one trains one run per (lr, seed) to the longest horizon and is evaluated (at
``eval_params``) at every horizon and every ``eval_every`` steps.

WSD runs share their constant phase: for each (lr, seed) the longest WSD run is the trunk; it
keeps a snapshot of its state at ``T_i - C_i`` for every shorter horizon ``T_i``, and the WSD
run of ``T_i`` branches from it there, training only its cooldown. The runner checks that the
two learning-rate tables agree before the branch point, so a branch is exactly the run it
would have been alone (with ``warmup > 0`` the warmups differ per horizon and no run branches;
``Results.branching`` says so).

Every run logs its training loss at the point the gradient is taken. The notes log averaging
and schedule-free runs at their averaged parameters instead, which costs one more forward pass
per step; the comparison does not (``log_eval_loss=False``): its evaluations already happen at
``eval_params`` at every evaluation point, and its Cost table then measures the optimizer,
what a user pays to train.

:meth:`Results.regime` is the regime check (:mod:`jaxsched.compare.regime`): whether any tuned
schedule beats tuned constant at the longest horizon, without which the verdicts do not rank
cooldowns.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import pathlib
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxsched import _dist as dist
from jaxsched import _validate as v
from jaxsched._io import atomic_write_json, atomic_write_text
from jaxsched.compare import regime as regime_lib
from jaxsched.compare import targets
from jaxsched.compare.candidates import Candidate, resolve
from jaxsched.stats import Stat
from jaxsched.train.runner import Runner
from jaxsched.train.task import Task

__all__ = ["Results", "ROW_KEYS", "bench", "check_grid", "cost_bench", "run"]

ROW_KEYS = ("candidate", "lr", "horizon", "seed", "step")
"""The leading columns of every row (the task's metrics follow)."""


@dataclasses.dataclass(frozen=True)
class CompareRun:
    """One run of the grid: a :class:`~jaxsched.train.runner.TrainingRun`.

    ``horizon`` is the run's horizon (the longest one for an anytime run), which it trains;
    ``eval_steps`` holds the grid's horizons for an anytime run (it is evaluated at each).
    """

    candidate: Candidate = dataclasses.field(compare=False)
    lr: float
    horizon: int
    seed: int
    longest: int
    warmup: float
    weight_decay: float
    eval_every: int
    eval_steps: tuple[int, ...] = ()
    branch_steps: tuple[int, ...] = ()
    branch_from: tuple[CompareRun, int] | None = None
    log_eval_loss: bool = False

    # -- the TrainingRun surface -----------------------------------------------------------
    @property
    def steps(self) -> int:
        return self.horizon

    @property
    def train_steps(self) -> int:
        return self.horizon

    @property
    def record_eval_loss(self) -> bool:
        # The notes' logging, only when asked for: it is one more forward pass per step.
        return self.log_eval_loss and self.candidate.record_eval_loss

    @property
    def warmup_steps(self) -> int:
        return self.candidate.warmup_steps(self.horizon, self.longest, self.warmup)

    def make_optimizer(self, lr_fn, hparams):
        return self.candidate.build(self.horizon)(lr_fn, hparams)

    def hparams(self) -> dict[str, float]:
        return self.candidate.run_hparams(self.lr, self.weight_decay, self.longest,
                                          self.warmup_steps)

    @functools.cached_property
    def _table(self) -> np.ndarray:
        c = self.candidate
        if not c.builtin:  # custom: the factory holds its own schedule
            return np.full((self.train_steps,), self.lr, np.float32)
        fn = c.lr_schedule(self.lr, self.horizon, self.warmup_steps)
        # Eagerly: a jit per schedule closure would compile once per run.
        return np.asarray(fn(jnp.arange(self.train_steps, dtype=jnp.int32)), np.float32)

    def lr_table(self) -> np.ndarray:
        return self._table

    def group_key(self) -> str:
        return self.candidate.group_key(self.horizon)

    def to_dict(self) -> dict[str, Any]:
        c = self.candidate
        return {
            "candidate": c.name,
            "optimizer": c.optimizer if c.builtin else "custom",
            "lr": self.lr, "horizon": self.horizon, "seed": self.seed, "longest": self.longest,
            "warmup": self.warmup, "weight_decay": self.weight_decay,
            "eval_every": self.eval_every, "eval_steps": list(self.eval_steps),
            "branch_steps": list(self.branch_steps),
            "branch_from": None if self.branch_from is None else self.branch_from[1],
            # What metrics.jsonl logs: a resumed run never mixes the two.
            "record_eval_loss": self.record_eval_loss,
        }

    def name(self) -> str:
        lr = f"{self.lr:.3g}".replace("+", "")
        return f"{self.candidate.name}-lr{lr}-T{self.horizon}-s{self.seed}"


@dataclasses.dataclass
class Results:
    """What :func:`run` measured.

    Attributes:
      rows: one dict per (candidate, lr, horizon, seed, evaluated step) with the keys
        :data:`ROW_KEYS` and every metric of the task's ``evaluate``; the row with
        ``step == horizon`` is the candidate's result at that horizon. An anytime run's rows
        appear under every horizon (its evaluations up to that step).
      candidates: the candidates, in the order given.
      lrs, horizons, seeds: the grid.
      branching: what WSD branching did (``trained_steps`` and ``unbranched_steps`` of WSD runs,
        ``branches``; ``reason`` when nothing branched).
      timing: ``run_steps`` trained in this call, ``seconds``, ``run_steps_per_s``.
      diverged: messages of runs that stopped on a non-finite loss.
      target: the validation loss the time to target is measured against (``None`` when
        there is none: no target given and no ``cosine`` candidate to take it from).
      time_to_target: rows of :func:`jaxsched.compare.targets.time_to_target` (columns
        :data:`~jaxsched.compare.targets.TIME_TO_TARGET_COLUMNS`).
      cost: rows of :func:`jaxsched.compare.targets.cost`: each candidate's run-steps/s in
        this grid (its runs' ``compute_steps / compute_seconds``) and the ratio to AdamW's.
    """

    rows: list[dict[str, Any]]
    candidates: list[Candidate]
    lrs: tuple[float, ...]
    horizons: tuple[int, ...]
    seeds: int
    branching: dict[str, Any] = dataclasses.field(default_factory=dict)
    timing: dict[str, Any] = dataclasses.field(default_factory=dict)
    diverged: list[str] = dataclasses.field(default_factory=list)
    target: float | None = None
    time_to_target: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    cost: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def metrics(self) -> list[str]:
        keys: list[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in ROW_KEYS and k not in keys]
        return keys

    def final(self, metric: str = "loss") -> dict[tuple[str, float, int], list[float]]:
        """``(candidate, lr, horizon) -> [value per seed]`` at ``step == horizon``."""
        out: dict[tuple[str, float, int], list[float]] = {}
        for r in self.rows:
            if r["step"] == r["horizon"]:
                out.setdefault((r["candidate"], r["lr"], r["horizon"]), []).append(r[metric])
        return out

    def envelope(self, metric: str = "loss") -> list[dict[str, Any]]:
        """The best lr per (candidate, horizon): mean ± std over seeds of ``metric``.

        An lr counts only where every seed finished (a diverged seed removes it); the best is
        the lowest mean. Each entry: ``candidate, horizon, lr, mean, std, n, values``.
        """
        finals = self.final(metric)
        out = []
        for c in self.candidates:
            for h in self.horizons:
                best = None
                for lr in self.lrs:
                    vals = finals.get((c.name, lr, h), [])
                    if len(vals) < self.seeds or not np.all(np.isfinite(vals)):
                        continue
                    s = Stat.of(vals)
                    if best is None or s.mean < best[1].mean:
                        best = (lr, s, vals)
                if best is not None:
                    lr, s, vals = best
                    out.append({"candidate": c.name, "horizon": h, "lr": lr, "mean": s.mean,
                                "std": s.std, "n": s.n, "values": list(vals)})
        return out

    def regime(self, metric: str = "loss") -> regime_lib.Regime:
        """The regime check (:mod:`jaxsched.compare.regime`): the cooldown gain of the best
        tuned schedule over tuned constant per horizon, with its spread over seeds, and whether
        the grid ranks cooldowns or is progress-limited at the longest horizon."""
        return regime_lib.check(self, metric=metric)

    @property
    def progress_limited(self) -> bool | None:
        """``True`` when no tuned schedule beats tuned constant at the longest horizon by more
        than the seeds' spread (the verdicts do not rank cooldowns), ``False`` when one does,
        ``None`` when the grid cannot tell (no ``constant`` or no scheduled candidate)."""
        return self.regime().progress_limited

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=[*ROW_KEYS, *self.metrics], lineterminator="\n")
        w.writeheader()
        for r in self.rows:
            w.writerow({k: repr(x) if isinstance(x, float) else x for k, x in r.items()})
        return buf.getvalue()


# --------------------------------------------------------------------------------------------
# The grid


def check_grid(candidates: Sequence[Any], lrs: Sequence[float], horizons: Sequence[int], *,
               seeds: int = 1, warmup: float = 0.0, weight_decay: float = 0.0,
               eval_every: int | None = None, target: float | None = None) -> list[Candidate]:
    """:func:`run`'s checks of its grid, before anything trains: ``ValueError`` naming the
    first bad argument; returns the resolved candidates."""
    cands = resolve(candidates)
    if target is not None:
        targets.check_target(target)
    _check_grid(lrs, horizons, seeds, warmup, weight_decay, eval_every, cands)
    return cands


def _check_grid(lrs, horizons, seeds, warmup, weight_decay, eval_every,
                candidates: Sequence[Candidate]):
    if isinstance(lrs, (int, float)) or not isinstance(lrs, Sequence) or not lrs:
        raise ValueError(f"lrs must be a non-empty list of learning rates, got lrs={lrs!r}")
    for lr in lrs:
        v.check_positive("lrs", lr)
        v.check_finite("lrs", lr)
    if len(set(map(float, lrs))) != len(lrs):
        raise ValueError(f"lrs must not repeat a value, got lrs={list(lrs)!r}")
    if isinstance(horizons, int) or not isinstance(horizons, Sequence) or not horizons:
        raise ValueError(f"horizons must be a non-empty list of step counts, got "
                         f"horizons={horizons!r}")
    for h in horizons:
        v.check_int("horizons", h, minimum=2)
    if len(set(horizons)) != len(horizons):
        raise ValueError(f"horizons must not repeat a value, got horizons={list(horizons)!r}")
    v.check_int("seeds", seeds, minimum=1)
    v.check_in_range("warmup", warmup, 0.0, 1.0, high_inclusive=False)
    v.check_nonnegative("weight_decay", weight_decay)
    v.check_finite("weight_decay", weight_decay)
    if eval_every is not None:
        v.check_int("eval_every", eval_every, minimum=1)
    for cand in candidates:
        for h in horizons if cand.cooldown is not None else ():
            w, c = round(warmup * h), cand.cooldown_steps(h)
            if w + c > h:
                raise ValueError(
                    f"warmup leaves no room for {cand.name}'s cooldown at horizon {h}: "
                    f"warmup={warmup} gives {w} warmup steps and the cooldown takes {c}"
                )


def plan(
    candidates: Sequence[Candidate],
    lrs: Sequence[float],
    horizons: Sequence[int],
    seeds: int,
    warmup: float,
    weight_decay: float,
    eval_every: int | None,
    branch_wsd: bool = True,
    log_eval_loss: bool = False,
) -> tuple[list[CompareRun], dict[str, Any]]:
    """The runs of the grid (and what WSD branching does), in training order."""
    hs = tuple(sorted(int(h) for h in horizons))
    longest = hs[-1]
    every = eval_every or max(1, longest // 20)
    runs: list[CompareRun] = []
    branching: dict[str, Any] = {"branches": 0, "trained_steps": 0, "unbranched_steps": 0}
    common = functools.partial(
        CompareRun, longest=longest, warmup=float(warmup), weight_decay=float(weight_decay),
        eval_every=every, log_eval_loss=bool(log_eval_loss),
    )
    for c in candidates:
        for lr in lrs:
            for seed in range(seeds):
                base = functools.partial(common, candidate=c, lr=float(lr), seed=seed)
                if c.anytime:
                    runs.append(base(horizon=longest, eval_steps=hs))
                    continue
                alone = [base(horizon=h, eval_steps=(h,)) for h in hs]
                if c.cooldown is None or not branch_wsd:
                    runs += alone
                    continue
                branching["unbranched_steps"] += sum(hs)
                trunk_table = alone[-1].lr_table()
                points = {}
                for r in alone[:-1]:
                    cooldown = c.cooldown_steps(r.horizon)
                    assert cooldown is not None  # c.cooldown is set
                    s = r.horizon - cooldown
                    if np.array_equal(r.lr_table()[:s], trunk_table[:s]):
                        points[r.horizon] = s
                trunk = dataclasses.replace(alone[-1],
                                            branch_steps=tuple(sorted(set(points.values()))))
                runs.append(trunk)
                branching["trained_steps"] += longest
                for r in alone[:-1]:
                    if r.horizon in points:
                        s = points[r.horizon]
                        runs.append(dataclasses.replace(r, branch_from=(trunk, s)))
                        branching["branches"] += 1
                        branching["trained_steps"] += r.horizon - s
                    else:
                        runs.append(r)
                        branching["trained_steps"] += r.horizon
    if any(c.cooldown is not None for c in candidates) and branch_wsd:
        if branching["branches"] == 0 and len(hs) > 1:
            branching["reason"] = (
                "no WSD run branched: with warmup > 0 the warmup (a fraction of each horizon) "
                "differs between horizons, so no two WSD runs share their constant phase"
            )
    else:
        branching = {}
    return runs, branching


def _rows(runs: Sequence[CompareRun], results, horizons: Sequence[int]) -> list[dict]:
    rows = []
    for cfg, res in zip(runs, results, strict=True):
        evals = res.run_dir.load_eval()
        hs = sorted(horizons) if cfg.candidate.anytime else [cfg.horizon]
        for h in hs:
            for e in evals:
                if e["step"] > h:
                    break
                if cfg.candidate.anytime and e["step"] != h and e["step"] % cfg.eval_every:
                    continue  # another horizon's evaluation point
                metrics = {k: x for k, x in e.items() if k != "step"}
                rows.append({"candidate": cfg.candidate.name, "lr": cfg.lr, "horizon": h,
                             "seed": cfg.seed, "step": e["step"], **metrics})
    return rows


def train(
    task: Task,
    runs: Sequence[CompareRun],
    out: str | pathlib.Path,
    *,
    identity: Mapping[str, Any] | None = None,
    group: bool = True,
    chunk_size: int = 500,
    checkpoint_every: int | None = None,
    progress: bool = False,
    log: Callable[[str], None] = print,
    tensorboard: str | pathlib.Path | None = None,
):
    """Train ``runs`` with the runner in ``out/runs``; returns its results and the seconds."""
    runner = Runner(task, out, identity=identity, group=group, chunk_size=chunk_size,
                    checkpoint_every=checkpoint_every, progress=progress, log=log,
                    tensorboard=tensorboard)
    t0 = time.perf_counter()
    results = runner.run(list(runs))
    return results, time.perf_counter() - t0


def run(
    task: Task,
    *,
    candidates: Sequence[Any],
    lrs: Sequence[float],
    horizons: Sequence[int],
    seeds: int = 1,
    warmup: float = 0.0,
    weight_decay: float = 0.0,
    eval_every: int | None = None,
    out: str | pathlib.Path | None = None,
    identity: Mapping[str, Any] | None = None,
    target: float | None = None,
    group: bool = True,
    branch_wsd: bool = True,
    log_eval_loss: bool = False,
    cost: Mapping[str, tuple[int, float]] | None = None,
    chunk_size: int | None = None,
    progress: bool = False,
    log: Callable[[str], None] = print,
    report: bool = True,
    tensorboard: str | pathlib.Path | None = None,
) -> Results:
    """Benchmark ``candidates`` on ``task``: every scheduled one tuned per horizon over ``lrs``.

    Args:
      task: what to train (:class:`~jaxsched.train.task.Task`).
      candidates: built-in names (:data:`~jaxsched.compare.candidates.BUILTIN`),
        ``(name, factory[, anytime])`` tuples or :class:`Candidate` objects.
      lrs: the learning-rate grid (peak learning rates).
      horizons: training lengths in steps; scheduled runs decay to 0 at each.
      seeds: seeds ``0 .. seeds-1`` per (candidate, lr, horizon): the init and the data
        stream of seed ``s`` are shared by every candidate (paired comparison).
      warmup: linear warmup from 0 as a fraction of each horizon (anytime runs: of the
        longest).
      weight_decay: AdamW's (and Schedule-Free AdamW's) decoupled weight decay.
      eval_every: evaluation period in steps (default ``max(horizons) // 20``); every run is
        also evaluated at its horizon(s).
      out: directory for ``runs/`` (resumable), ``results.csv``, ``REPORT.md`` and
        ``figures/``; ``None``: a temporary directory, deleted afterwards.
      identity: JSON saying what ``task`` computes (its model, data, sizes); it keys the run
        directories with each run's config, so runs of another task never resume from these.
      target: the validation loss for the time to target (AlgoPerf); default: the tuned
        ``cosine`` envelope's final loss at the longest horizon (none without ``cosine``).
      group: train runs of one optimizer structure in one vmapped program (``False``: one at
        a time, for measuring what grouping buys).
      branch_wsd: branch the cooldowns of a candidate with a ``cooldown`` (WSD) from the shared
        constant phase.
      log_eval_loss: log the per-step loss of averaging and schedule-free runs at their
        ``eval_params`` (the notes' logging: one more forward pass per step, which their
        cost then includes); by default every run logs its training loss.
      cost: ``candidate -> (run_steps, seconds)`` measured outside the grid
        (:func:`cost_bench`), reported as the cost and used for the seconds to target instead
        of each candidate's share of the grid's time (which a shared machine's load, changing
        while the grid trains, makes uneven between programs).
      chunk_size: steps per dispatch (default ``min(500, max(horizons))``).
      progress: show a progress bar.
      log: where messages go.
      report: with ``out``, write ``REPORT.md`` and the figures.
      tensorboard: also write TensorBoard event files, one subdirectory per run
        (:class:`~jaxsched.train.runner.Runner`'s ``tensorboard``).

    Returns:
      :class:`Results`; with ``out``, also ``out/results.csv``.

    >>> import jax, jax.numpy as jnp
    >>> task = Task(init=lambda k: jnp.ones(2),
    ...             loss=lambda p, b, k: jnp.mean((b - p) ** 2),
    ...             sample=lambda k: jax.random.normal(k, (4, 2)))
    >>> res = run(task, candidates=["cosine", "sf_adamw"], lrs=[0.1], horizons=[4, 8],
    ...           log=lambda m: None)
    >>> sorted({(r["candidate"], r["horizon"]) for r in res.rows if r["step"] == r["horizon"]})
    [('cosine', 4), ('cosine', 8), ('sf_adamw', 4), ('sf_adamw', 8)]
    """
    if not isinstance(task, Task):
        raise ValueError(f"task must be a jaxsched.compare.Task, got task={task!r}")
    task.validate()
    cands = check_grid(candidates, lrs, horizons, seeds=seeds, warmup=warmup,
                       weight_decay=weight_decay, eval_every=eval_every, target=target)
    v.check_bool("log_eval_loss", log_eval_loss)
    runs, branching = plan(cands, lrs, horizons, seeds, warmup, weight_decay, eval_every,
                           branch_wsd, log_eval_loss)
    longest = max(horizons)
    chunk = chunk_size or min(500, longest)
    tmp = None
    if out is None:
        if dist.process_count() > 1:
            raise ValueError("out must be a directory shared by every process of a job of "
                             "several processes, got out=None")
        tmp = tempfile.TemporaryDirectory(prefix="jaxsched-compare-")
        root = pathlib.Path(tmp.name)
    else:
        root = pathlib.Path(out)
    try:
        results, seconds = train(task, runs, root, identity=identity, group=group,
                                 chunk_size=chunk, checkpoint_every=max(chunk, longest // 10),
                                 progress=progress, log=log, tensorboard=tensorboard)
        trained = sum(r.trained_steps for r in results)
        res = Results(
            rows=_rows(runs, results, horizons),
            candidates=cands,
            lrs=tuple(float(x) for x in lrs),
            horizons=tuple(sorted(horizons)),
            seeds=seeds,
            branching=branching,
            timing={"run_steps": trained, "seconds": seconds,
                    "run_steps_per_s": trained / seconds if trained and seconds > 0 else None,
                    "grouped": group, "log_eval_loss": log_eval_loss},
            diverged=[r.summary.get("message", "") for r in results
                      if r.summary.get("status") == "diverged"],
        )
        _measure(res, results, runs, target, cost)
        if out is not None and dist.is_primary():
            atomic_write_text(root / "results.csv", res.to_csv())
            targets.write_time_to_target(res.time_to_target, root / "time_to_target.csv")
            if res.cost:
                targets.write_cost(res.cost, root / "cost.csv")
            atomic_write_json(root / "regime.json", res.regime().to_dict())
            if report:
                from jaxsched.compare import report as report_lib

                report_lib.write(res, root)
        return res
    finally:
        if tmp is not None:
            tmp.cleanup()


def _measure(res: Results, results, runs: Sequence[CompareRun], target: float | None,
             cost: Mapping[str, tuple[int, float]] | None = None) -> None:
    """Fill ``res``'s cost (``cost`` when given, else the runs' compute share) and time to
    target."""
    shares: dict[str, list[float]] = {}
    for cfg, r in zip(runs, results, strict=True):
        m = shares.setdefault(cfg.candidate.name, [0, 0.0])
        m[0] += int(r.summary.get("compute_steps") or 0)
        m[1] += float(r.summary.get("compute_seconds") or 0.0)
    in_grid = {n: (int(m[0]), m[1]) for n, m in shares.items() if m[0] > 0 and m[1] > 0}
    if in_grid:
        res.timing["grid_cost"] = targets.cost(in_grid)
    measured = dict(cost) if cost is not None else in_grid
    res.timing["cost_source"] = "interleaved" if cost is not None else "grid"
    res.cost = targets.cost(measured) if measured else []
    per_step = None
    if all(c.name in measured for c in res.candidates):
        per_step = targets.seconds_per_run_step(measured)
    if target is None and (not res.rows or "cosine" not in [c.name for c in res.candidates]):
        return
    try:
        res.target = targets.default_target(res) if target is None else float(target)
    except ValueError:
        return  # cosine has no tuned result at the longest horizon (every lr diverged)
    res.time_to_target = targets.time_to_target(res, target=res.target,
                                                seconds_per_run_step=per_step)


def cost_bench(task: Task, *, candidates: Sequence[Any], lr: float, longest: int,
               weight_decay: float = 0.0, log_eval_loss: bool = False, steps: int = 50,
               rounds: int = 3) -> dict[str, tuple[int, float]]:
    """What each candidate's optimizer costs on ``task``: ``candidate -> (steps, seconds)``.

    Each distinct optimizer program (candidates with the same
    :meth:`~jaxsched.compare.candidates.Candidate.group_key` train the same one: a schedule is
    a table lookup) trains one run at a constant ``lr`` for ``steps`` steps per call
    (:class:`~jaxsched.train.throughput.CompiledLoop`), once to compile, then ``rounds`` times,
    the programs interleaved so that load from elsewhere hits each alike; the best call counts.
    ``longest`` sets what depends on the horizon (the EMA decay); ``log_eval_loss`` as in
    :func:`run`.
    """
    from jaxsched.train.throughput import CompiledLoop

    cands = resolve(candidates)
    v.check_positive("lr", lr)
    v.check_int("longest", longest, minimum=1)
    v.check_int("steps", steps, minimum=1)
    v.check_int("rounds", rounds, minimum=1)
    loops = {}
    for c in cands:
        key = c.group_key(longest)
        if key not in loops:
            loops[key] = CompiledLoop(
                task, c.build(longest), steps=steps, lr=lr,
                hparams=c.run_hparams(lr, weight_decay, longest, 0),
                record_eval_loss=bool(log_eval_loss and c.record_eval_loss))
    for loop in loops.values():
        loop.run()  # compiles
    best = dict.fromkeys(loops, float("inf"))
    for _ in range(rounds):
        for key, loop in loops.items():
            best[key] = min(best[key], loop.run())
    return {c.name: (steps, best[c.group_key(longest)]) for c in cands}


def bench(task: Task, *, candidates: Sequence[Any], lrs: Sequence[float],
          horizons: Sequence[int], seeds: int = 1, log: Callable[[str], None] = print,
          **kw: Any) -> dict[str, Any]:
    """Run-steps/s of a grid trained grouped against the same runs one at a time.

    Both are measured in this process, in fresh temporary directories, compile time included
    (fewer programs to compile is part of what grouping buys). Returns ``grouped_run_steps_per_s``,
    ``alone_run_steps_per_s``, ``speedup``, ``run_steps``, ``runs`` and both wall times.
    """
    out: dict[str, Any] = {}
    for name, group in (("grouped", True), ("alone", False)):
        res = run(task, candidates=candidates, lrs=lrs, horizons=horizons, seeds=seeds,
                  group=group, log=log, **kw)
        out[f"{name}_seconds"] = res.timing["seconds"]
        out[f"{name}_run_steps_per_s"] = res.timing["run_steps_per_s"]
        out["run_steps"] = res.timing["run_steps"]
    out["speedup"] = out["grouped_run_steps_per_s"] / out["alone_run_steps_per_s"]
    out["grid"] = {"candidates": [c if isinstance(c, str) else c[0] for c in candidates],
                   "lrs": list(lrs), "horizons": list(horizons), "seeds": seeds}
    return out
