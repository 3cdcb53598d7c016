"""Time to target (AlgoPerf) and cost per candidate, from a comparison's :class:`Results`.

Pure functions of what :func:`jaxsched.compare.run` measured; nothing is trained here.

**Time to target.** A run *reaches* the target at its first evaluated step whose metric
(``"loss"`` by default; lower is better) is finite and ``<= target``. Which runs count:

* an anytime candidate trains one run per (lr, seed): its steps to target are counted along
  that run, over all its evaluations (its rows under every horizon, merged by step);
* a scheduled candidate needs its horizon fixed in advance, so each of its per-horizon runs is
  a configuration of its own: the run of horizon ``T`` reaches the target at its first
  evaluated step inside that run (a cosine run of ``T = 400`` that gets there at step 350
  counts 350), and the candidate's result is the best configuration over ``(lr, T)``.

Tuning (:func:`tune`), per candidate: the configurations are its learning rates (anytime) or
its (learning rate, horizon) pairs (scheduled). One configuration is chosen for all seeds,
as :meth:`Results.envelope` chooses one lr per horizon: the one where the most seeds reach the
target, ties broken by the lowest mean steps to target over the seeds that reach it, then by
the grid's order (lrs as given, horizons ascending). Each seed then reports that
configuration's steps. A seed that does not reach it there, and every seed of a candidate
whose runs never reach it, has ``steps_to_target`` and ``seconds_to_target`` ``None`` (empty
cells in the CSV). Choosing the horizon after the fact is the schedules' oracle, as choosing
the lr after the fact is everyone's.

Default target (:func:`default_target`): the tuned envelope of ``"cosine"`` at the longest
horizon (its best lr's mean over seeds of the final metric); a given target overrides it.

Wall time: ``steps_to_target x`` the candidate's measured seconds per run-step, given as a
mapping (:func:`seconds_per_run_step` makes it from measured run-steps and seconds).

**Cost** (:func:`cost`): run-steps/s per candidate and its ratio to plain AdamW's (the
``"constant"`` candidate; ``"cosine"``, ``"linear"`` and ``"wsd"`` are the same AdamW program
with another learning-rate table). Averaging and schedule-free candidates pay one extra
forward pass per step: the loss they log is the loss at ``eval_params`` on the step's batch
(the notes' logging), besides the forward-backward pass at the training point. Rates compare
only when measured alike (the same number of runs per compiled program, the same machine load).

>>> from jaxsched.compare import experiment
>>> from jaxsched.compare.candidates import resolve
>>> rows = [dict(candidate="cosine", lr=0.1, horizon=4, seed=0, step=s, loss=l)
...         for s, l in [(2, 1.0), (4, 0.5)]]
>>> res = experiment.Results(rows, resolve(["cosine"]), (0.1,), (4,), 1)
>>> [(r["target"], r["steps_to_target"]) for r in time_to_target(res)]
[(0.5, 4)]
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from jaxsched import _validate as v
from jaxsched._io import atomic_write_text

__all__ = [
    "ADAMW_CANDIDATES",
    "COST_COLUMNS",
    "TIME_TO_TARGET_COLUMNS",
    "Choice",
    "check_target",
    "cost",
    "cost_csv",
    "default_target",
    "run_curves",
    "seconds_per_run_step",
    "target_curves",
    "time_to_target",
    "time_to_target_csv",
    "tune",
    "write_cost",
    "write_time_to_target",
]

TIME_TO_TARGET_COLUMNS = ("candidate", "seed", "target", "steps_to_target", "seconds_to_target")
"""The columns of :func:`time_to_target`'s rows and of ``time_to_target.csv``."""

COST_COLUMNS = ("candidate", "run_steps", "seconds", "run_steps_per_s", "baseline", "ratio")
"""The columns of :func:`cost`'s rows."""

ADAMW_CANDIDATES = ("constant", "cosine", "linear", "wsd")
"""Plain AdamW: the cost baseline is the first of these that was measured."""

RunKey = tuple[str, float, "int | None", int]
"""``(candidate, lr, horizon or None for an anytime run, seed)``."""


class Choice(NamedTuple):
    """A candidate's tuned configuration for a target.

    Attributes:
      lr: the learning rate, ``None`` when no run reaches the target.
      horizon: the horizon of a scheduled candidate's run, ``None`` for an anytime one (or
        when no run reaches the target).
      reached: seeds that reach the target in that configuration.
      seeds: seeds in the grid.
      steps: per seed ``0 .. seeds-1``, the steps to target or ``None``.
    """

    lr: float | None
    horizon: int | None
    reached: int
    seeds: int
    steps: tuple[int | None, ...]


def check_target(target: Any) -> float:
    """``target`` as a float: a finite, non-negative number (``ValueError`` naming it)."""
    if isinstance(target, (bool, np.bool_)) or not isinstance(target, (int, float, np.number)):
        raise ValueError(f"target must be a number, got target={target!r}")
    v.check_nonnegative("target", target)
    return float(target)


def _candidate_names(results) -> list[str]:
    return [c.name for c in results.candidates]


def _check_metric(results, metric: str) -> None:
    if results.rows and metric not in results.metrics:
        raise ValueError(f"metric must be one of the rows' metrics {results.metrics}, got "
                         f"metric={metric!r}")


def default_target(results, *, reference: str = "cosine", metric: str = "loss") -> float:
    """The tuned ``reference`` envelope's final ``metric`` at the longest horizon.

    That is :meth:`Results.envelope`'s entry for ``(reference, max(horizons))``: the mean over
    seeds of the best learning rate (one where every seed finished). ``ValueError`` when
    ``reference`` is not a candidate or has no such entry.
    """
    _check_metric(results, metric)
    if reference not in _candidate_names(results):
        raise ValueError(f"reference must be one of the candidates {_candidate_names(results)} "
                         f"(or give a target), got reference={reference!r}")
    longest = max(results.horizons)
    for e in results.envelope(metric):
        if e["candidate"] == reference and e["horizon"] == longest:
            return float(e["mean"])
    raise ValueError(f"reference={reference!r} has no tuned result at the longest horizon "
                     f"{longest} (no learning rate where every seed finished): give a target")


def run_curves(results, metric: str = "loss") -> dict[RunKey, list[tuple[int, float]]]:
    """Every run's evaluations ``[(step, value), ...]`` by step, keyed as :data:`RunKey`.

    An anytime run's rows under all horizons merge into one curve (a step evaluated twice
    must agree); a scheduled run is its rows under its own horizon.
    """
    _check_metric(results, metric)
    anytime = {c.name: c.anytime for c in results.candidates}
    merged: dict[RunKey, dict[int, float]] = {}
    for r in results.rows:
        name = r["candidate"]
        if name not in anytime:
            raise ValueError(f"results.rows: candidate {name!r} is not among "
                             f"results.candidates {list(anytime)}")
        key = (name, float(r["lr"]), None if anytime[name] else int(r["horizon"]), int(r["seed"]))
        curve = merged.setdefault(key, {})
        step, value = int(r["step"]), float(r[metric])
        old = curve.get(step)
        if old is not None and old != value and not (math.isnan(old) and math.isnan(value)):
            raise ValueError(f"results.rows: run {key} has two values at step {step}: {old} "
                             f"and {value}")
        curve[step] = value
    return {k: sorted(c.items()) for k, c in merged.items()}


def _first_reach(curve: Sequence[tuple[int, float]], target: float) -> int | None:
    for step, value in curve:
        if math.isfinite(value) and value <= target:
            return step
    return None


def tune(results, target: float, *, metric: str = "loss") -> dict[str, Choice]:
    """Each candidate's tuned configuration for ``target`` (the module docstring's rule)."""
    target = check_target(target)
    curves = run_curves(results, metric)
    out = {}
    for c in results.candidates:
        configs = [(lr, None) for lr in results.lrs] if c.anytime else [
            (lr, h) for lr in results.lrs for h in sorted(results.horizons)]
        best = None
        for lr, h in configs:
            steps = tuple(_first_reach(curves.get((c.name, float(lr), h, s), ()), target)
                          for s in range(results.seeds))
            hit = [x for x in steps if x is not None]
            if not hit:
                continue
            rank = (-len(hit), float(np.mean(hit)))
            if best is None or rank < best[0]:
                best = (rank, Choice(float(lr), h, len(hit), results.seeds, steps))
        out[c.name] = best[1] if best is not None else Choice(
            None, None, 0, results.seeds, (None,) * results.seeds)
    return out


def target_curves(results, target: float, *, metric: str = "loss") -> dict[str, dict[str, Any]]:
    """Per candidate, the mean curve over seeds of the configuration :func:`tune` chose.

    For the figure of ``metric`` against steps with the target line. Each entry: ``lr``,
    ``horizon`` (``None`` for an anytime run), ``reached``, ``steps`` and ``mean`` (at the
    steps every seed evaluated). A candidate that never reaches the target shows the
    configuration whose mean curve gets lowest (``reached`` 0); one without finite values is
    left out.
    """
    curves = run_curves(results, metric)
    out = {}
    for name, choice in tune(results, target, metric=metric).items():
        configs = [(choice.lr, choice.horizon)] if choice.lr is not None else sorted(
            {(k[1], k[2]) for k in curves if k[0] == name}, key=lambda x: (x[0], x[1] or 0))
        best = None
        for lr, h in configs:
            per_seed = [dict(curves.get((name, lr, h, s), ())) for s in range(results.seeds)]
            steps = sorted(set.intersection(*(set(c) for c in per_seed)))
            mean = [float(np.mean([c[t] for c in per_seed])) for t in steps]
            low = min((m for m in mean if math.isfinite(m)), default=math.inf)
            if best is None or low < best[0]:
                best = (low, {"lr": lr, "horizon": h, "reached": choice.reached,
                              "steps": steps, "mean": mean})
        if best is not None and math.isfinite(best[0]):
            out[name] = best[1]
    return out


def seconds_per_run_step(measured: Mapping[str, tuple[int, float]]) -> dict[str, float]:
    """``candidate -> seconds / run_steps`` from ``candidate -> (run_steps, seconds)``."""
    return {r["candidate"]: r["seconds"] / r["run_steps"] for r in cost(measured)}


def time_to_target(
    results,
    *,
    target: float | None = None,
    seconds_per_run_step: Mapping[str, float] | None = None,
    reference: str = "cosine",
    metric: str = "loss",
) -> list[dict[str, Any]]:
    """Steps and seconds to ``target`` per (candidate, seed), after tuning (module docstring).

    Args:
      results: a comparison's :class:`~jaxsched.compare.experiment.Results`.
      target: the metric to reach (``<=``); ``None``: :func:`default_target` of ``reference``.
      seconds_per_run_step: ``candidate -> measured seconds per run-step``, covering every
        candidate; ``None`` leaves ``seconds_to_target`` ``None``.
      reference: the candidate whose tuned final value at the longest horizon is the default
        target.
      metric: the row key compared with the target (lower is better).

    Returns:
      One dict per candidate (results' order) and seed ``0 .. seeds-1`` with exactly the
      keys :data:`TIME_TO_TARGET_COLUMNS`; never reached: ``None`` steps and seconds.
    """
    target = default_target(results, reference=reference, metric=metric) if target is None \
        else check_target(target)
    per_step = None
    if seconds_per_run_step is not None:
        if not isinstance(seconds_per_run_step, Mapping):
            raise ValueError(f"seconds_per_run_step must be a mapping candidate -> seconds, got "
                             f"seconds_per_run_step={seconds_per_run_step!r}")
        missing = [n for n in _candidate_names(results) if n not in seconds_per_run_step]
        if missing:
            raise ValueError(f"seconds_per_run_step must cover every candidate, missing "
                             f"{missing} in seconds_per_run_step={dict(seconds_per_run_step)!r}")
        for name, sec in seconds_per_run_step.items():
            v.check_positive(f"seconds_per_run_step[{name!r}]", sec)
        per_step = {n: float(x) for n, x in seconds_per_run_step.items()}
    rows = []
    for name, choice in tune(results, target, metric=metric).items():
        for seed, steps in enumerate(choice.steps):
            seconds = None if steps is None or per_step is None else steps * per_step[name]
            rows.append({"candidate": name, "seed": seed, "target": target,
                         "steps_to_target": steps, "seconds_to_target": seconds})
    return rows


def cost(
    measured: Mapping[str, tuple[int, float]],
    *,
    baseline: str | Sequence[str] = ADAMW_CANDIDATES,
) -> list[dict[str, Any]]:
    """Run-steps/s per candidate and its ratio to plain AdamW's.

    Args:
      measured: ``candidate -> (run_steps, seconds)`` measured alike for every candidate.
      baseline: the candidate to divide by, or a sequence whose first measured name is used
        (default :data:`ADAMW_CANDIDATES`). A name given alone must be measured.

    Returns:
      One dict per candidate (``measured``'s order) with exactly the keys
      :data:`COST_COLUMNS`: ``ratio`` is its run-steps/s over the baseline's (below 1:
      slower than AdamW); ``baseline`` and ``ratio`` are ``None`` when no baseline was
      measured.
    """
    if not isinstance(measured, Mapping) or not measured:
        raise ValueError(f"measured must be a non-empty mapping candidate -> (run_steps, "
                         f"seconds), got measured={measured!r}")
    rates = {}
    for name, pair in measured.items():
        if not isinstance(pair, Sequence) or len(pair) != 2:
            raise ValueError(f"measured[{name!r}] must be (run_steps, seconds), got {pair!r}")
        v.check_int(f"measured[{name!r}] run_steps", pair[0], minimum=1)
        v.check_positive(f"measured[{name!r}] seconds", pair[1])
        rates[name] = pair[0] / pair[1]
    base: str | None
    if isinstance(baseline, str):
        if baseline not in measured:
            raise ValueError(f"baseline must be a measured candidate {list(measured)}, got "
                             f"baseline={baseline!r}")
        base = baseline
    else:
        base = next((b for b in baseline if b in measured), None)
    rows = []
    for name, (steps, seconds) in measured.items():
        rows.append({"candidate": name, "run_steps": int(steps), "seconds": float(seconds),
                     "run_steps_per_s": rates[name], "baseline": base,
                     "ratio": None if base is None else rates[name] / rates[base]})
    return rows


def _csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r[k] is None else repr(r[k]) if isinstance(r[k], float) else r[k]
                    for k in columns])
    return buf.getvalue()


def time_to_target_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """CSV text of :func:`time_to_target`'s rows (empty cells where never reached)."""
    return _csv(rows, TIME_TO_TARGET_COLUMNS)


def cost_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """CSV text of :func:`cost`'s rows."""
    return _csv(rows, COST_COLUMNS)


def write_time_to_target(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> None:
    """Write :func:`time_to_target_csv` to ``path`` (``out/time_to_target.csv``) atomically."""
    atomic_write_text(path, time_to_target_csv(rows))


def write_cost(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> None:
    """Write :func:`cost_csv` to ``path`` atomically."""
    atomic_write_text(path, cost_csv(rows))
