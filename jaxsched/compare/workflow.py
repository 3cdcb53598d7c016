"""What ``jaxsched compare`` does: a built-in task at a preset's grid, measured and reported.

:func:`run_preset` builds the task (:mod:`jaxsched.workloads`), measures grouped against
one-at-a-time training on a small grid in the same process, trains the preset's grid
(:mod:`jaxsched.compare.presets`, with any overrides) through :func:`jaxsched.compare.run`, and
writes ``out/results.csv``, ``out/time_to_target.csv``, ``out/cost.csv``, ``out/regime.json``,
``out/REPORT.md``, the figures and the task's own files (``corpus.json`` for ``charlm``).

Cost: before the grid, each candidate's optimizer trains one run at a time, the programs
interleaved in rounds (:func:`jaxsched.compare.experiment.cost_bench`); the REPORT's Cost
table and the seconds to target use those rates, which load from elsewhere changes alike,
beside each candidate's share of the grid's own time (without the measurement: that share).

Grouped or one at a time (``group=None``, the default): the grid is trained whichever way ran
more run-steps/s on the small grid (:func:`jaxsched.compare.presets.bench_grid`, compiles
included) just before, in this process; a tie goes to grouped. Grouping runs in one vmapped
program pays on accelerators, while on a 2-core CPU it measured 0.91-0.94x one at a time.
Without that measurement (``bench=False``, or a job of several processes), the device decides:
one at a time on a CPU, grouped on a GPU or TPU. ``group=True`` / ``False`` forces either. The
log and the REPORT say which was picked and why.
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from jaxsched import _dist as dist
from jaxsched import _validate as v
from jaxsched._io import atomic_write_json
from jaxsched.compare import experiment, presets, report
from jaxsched.workloads import catalogue

__all__ = ["pick_grouping", "run_preset"]


def pick_grouping(group: bool | None, measured: dict[str, Any] | None = None,
                  platform: str | None = None) -> tuple[bool, str]:
    """Whether to train grouped, and why (the module docstring's rule).

    Args:
      group: ``True`` / ``False`` forces it; ``None`` picks.
      measured: :func:`jaxsched.compare.experiment.bench`'s result, or ``None``.
      platform: the device's platform (default: JAX's default device's).

    >>> pick_grouping(None, {"speedup": 0.93})
    (False, 'one at a time ran faster on the small grid (grouped 0.93x one at a time)')
    >>> pick_grouping(None, None, platform="gpu")
    (True, 'not measured; grouped on a gpu')
    """
    if group is not None:
        return bool(group), "as asked"
    if measured is not None:
        x = measured["speedup"]
        faster = "grouped" if x >= 1.0 else "one at a time"
        return x >= 1.0, f"{faster} ran faster on the small grid (grouped {x:.2f}x one at a time)"
    if platform is None:
        import jax

        platform = jax.devices()[0].platform
    if platform == "cpu":
        return False, "not measured; one at a time on a CPU (grouped measured 0.91-0.94x there)"
    return True, f"not measured; grouped on a {platform}"


def run_preset(
    task_name: str,
    preset_name: str,
    out: str | pathlib.Path,
    *,
    candidates: Sequence[str] | None = None,
    lrs: Sequence[float] | None = None,
    horizons: Sequence[int] | None = None,
    seeds: int = 1,
    warmup: float = 0.0,
    weight_decay: float = 0.0,
    eval_every: int | None = None,
    target: float | None = None,
    data: str = "auto",
    bench: bool = True,
    group: bool | None = None,
    log_eval_loss: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    tensorboard: str | pathlib.Path | None = None,
) -> tuple[experiment.Results, pathlib.Path]:
    """Run (or resume) the preset's grid on a workload of the catalogue; returns the results
    and REPORT.md.

    ``candidates``, ``lrs``, ``horizons`` and ``eval_every`` override the preset's; ``group``
    is ``None`` (pick the faster, module docstring), ``True`` or ``False``; the rest are
    :func:`jaxsched.compare.run`'s arguments. Bad values raise ``ValueError`` naming the
    argument, before anything is trained.
    """
    p = presets.get(task_name, preset_name)
    if group is not None:
        v.check_bool("group", group)
    start = time.perf_counter()
    grid: dict[str, Any] = {
        "candidates": list(candidates or p.candidates), "lrs": list(lrs or p.lrs),
        "horizons": list(horizons or p.horizons), "seeds": seeds,
    }
    experiment.check_grid(**grid, warmup=warmup, weight_decay=weight_decay,
                          eval_every=eval_every or p.eval_every, target=target)
    built = catalogue.build(task_name, p.size, data=data, progress=progress)
    measured = None
    if bench and dist.process_count() > 1:
        log("grouped vs one at a time is measured in a single process; skipped in this job")
    elif bench:
        small = presets.bench_grid(p)
        log(f"measuring grouped vs one at a time on a small grid {small} ...")
        measured = experiment.bench(built.task, **small, eval_every=eval_every or p.eval_every,
                                    log=lambda m: None)
        log(f"small grid ({measured['run_steps']} run-steps): grouped "
            f"{measured['grouped_run_steps_per_s']:.1f} run-steps/s, one at a time "
            f"{measured['alone_run_steps_per_s']:.1f} run-steps/s: {measured['speedup']:.2f}x")
    cost = None
    if measured is not None:
        log("measuring each optimizer's run-steps/s, one run at a time, interleaved ...")
        cost = experiment.cost_bench(built.task, candidates=grid["candidates"],
                                     lr=grid["lrs"][0], longest=max(grid["horizons"]),
                                     weight_decay=weight_decay, log_eval_loss=log_eval_loss)
        log("run-steps/s: " + ", ".join(f"{n} {s / t:.1f}" for n, (s, t) in cost.items()))
    group, why = pick_grouping(group, measured)
    log(f"training the grid {'grouped' if group else 'one run at a time'}: {why}")
    res = experiment.run(
        built.task, **grid, warmup=warmup, weight_decay=weight_decay,
        eval_every=eval_every or p.eval_every, out=out, identity=built.identity,
        target=target, group=group, log_eval_loss=log_eval_loss, cost=cost,
        progress=progress, log=log, report=False, tensorboard=tensorboard,
    )
    res.timing["group_choice"] = why
    if measured is not None:
        res.timing["bench"] = measured
    t = res.timing
    if t["run_steps"]:
        log(f"grid: {t['run_steps']} run-steps in {t['seconds']:.1f} s = "
            f"{t['run_steps_per_s']:.1f} run-steps/s ({'grouped' if group else 'one at a time'},"
            " compiles and evaluations included)")
    if res.branching:
        b = res.branching
        log(f"cooldown branching: {b['branches']} cooldowns branched; trained "
            f"{b['trained_steps']} run-steps instead of {b['unbranched_steps']}")
    wall = time.perf_counter() - start
    notes = [*built.notes, f"Preset: {task_name} {preset_name} ({p.description}); wall time of "
             f"this invocation {wall:.0f} s (resumed runs are not retrained)."]
    if not dist.is_primary():  # process 0 writes the report of a job of several processes
        return res, pathlib.Path(out) / "REPORT.md"
    for name, content in built.files.items():
        atomic_write_json(pathlib.Path(out) / name, content)
    path = report.write(res, out, title=f"Anytime comparison: {task_name}, {preset_name} preset",
                        notes=notes)
    return res, path
