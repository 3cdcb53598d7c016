"""What ``jaxsched compare`` does: a built-in task at a preset's grid, measured and reported.

:func:`run_preset` builds the task (:mod:`jaxsched.workloads`), trains the preset's grid
(:mod:`jaxsched.compare.presets`, with any overrides) through :func:`jaxsched.compare.run`,
measures grouped against one-at-a-time training on a small grid in the same process, and
writes ``out/results.csv``, ``out/time_to_target.csv``, ``out/cost.csv``, ``out/REPORT.md``,
the figures and the task's own files (``corpus.json`` for ``charlm``).
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from jaxsched import _dist as dist
from jaxsched._io import atomic_write_json
from jaxsched.compare import experiment, presets, report
from jaxsched.workloads import catalogue

__all__ = ["run_preset"]


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
    group: bool = True,
    progress: bool = True,
    log: Callable[[str], None] = print,
    tensorboard: str | pathlib.Path | None = None,
) -> tuple[experiment.Results, pathlib.Path]:
    """Run (or resume) the preset's grid on a workload of the catalogue; returns the results
    and REPORT.md.

    ``candidates``, ``lrs``, ``horizons`` and ``eval_every`` override the preset's; the rest
    are :func:`jaxsched.compare.run`'s arguments. Bad values raise ``ValueError`` naming the
    argument, before anything is trained.
    """
    p = presets.get(task_name, preset_name)
    start = time.perf_counter()
    built = catalogue.build(task_name, p.size, data=data, progress=progress)
    grid: dict[str, Any] = {
        "candidates": list(candidates or p.candidates), "lrs": list(lrs or p.lrs),
        "horizons": list(horizons or p.horizons), "seeds": seeds,
    }
    res = experiment.run(
        built.task, **grid, warmup=warmup, weight_decay=weight_decay,
        eval_every=eval_every or p.eval_every, out=out, identity=built.identity,
        target=target, group=group, progress=progress, log=log, report=False,
        tensorboard=tensorboard,
    )
    t = res.timing
    if t["run_steps"]:
        log(f"grid: {t['run_steps']} run-steps in {t['seconds']:.1f} s = "
            f"{t['run_steps_per_s']:.1f} run-steps/s ({'grouped' if group else 'one at a time'},"
            " compiles and evaluations included)")
    if res.branching:
        b = res.branching
        log(f"cooldown branching: {b['branches']} cooldowns branched; trained "
            f"{b['trained_steps']} run-steps instead of {b['unbranched_steps']}")
    if bench and dist.process_count() > 1:
        log("grouped vs one at a time is measured in a single process; skipped in this job")
    elif bench:
        small = presets.bench_grid(p)
        log(f"measuring grouped vs one at a time on a small grid {small} ...")
        b = experiment.bench(built.task, **small, eval_every=eval_every or p.eval_every,
                             log=lambda m: None)
        res.timing["bench"] = b
        log(f"small grid ({b['run_steps']} run-steps): grouped "
            f"{b['grouped_run_steps_per_s']:.1f} run-steps/s, one at a time "
            f"{b['alone_run_steps_per_s']:.1f} run-steps/s: {b['speedup']:.2f}x")
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
