"""`jaxsched reproduce`: train the notes' runs at a preset, draw their figures, write REPORT.md."""

from __future__ import annotations

import pathlib
import time
from collections.abc import Callable, Sequence

from jaxsched import _dist as dist
from jaxsched._io import atomic_write_json, atomic_write_text
from jaxsched.chapter import alchemist, regime, report
from jaxsched.chapter import figures as figures_lib
from jaxsched.chapter.figures import FIGURES, resolve_figures
from jaxsched.train.runner import Runner, RunResult
from jaxsched.workloads import catalogue

__all__ = ["FIGURES", "FINALS", "RUNS_INDEX", "projection", "reproduce", "resolve_figures"]

FINALS = "finals.csv"
"""``out/finals.csv``: the final table of REPORT.md as data (one row per run of the chapter)."""

RUNS_INDEX = "runs.json"
"""``out/runs.json``: each of the chapter's runs by label, the run ids of its seeds (the
directories under ``out/runs/``)."""


def reproduce(
    preset_name: str,
    out: str | pathlib.Path,
    *,
    task: str = alchemist.NOTES_TASK,
    data: str = "auto",
    seeds: int = 1,
    figures: Sequence[str] | None = None,
    group: bool = True,
    readout: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    tensorboard: str | pathlib.Path | None = None,
) -> pathlib.Path:
    """Run (or resume) the whole chapter on ``task`` at a preset and write ``out/REPORT.md``.

    Also writes ``out/figures/*.png``, ``out/runs/<run id>/`` per run, ``out/runs.json``
    (:data:`RUNS_INDEX`) and ``out/finals.csv`` (:data:`FINALS`).

    ``task`` is a workload of the catalogue (:mod:`jaxsched.workloads`) and ``preset_name`` one
    of its sizes (:func:`~jaxsched.chapter.alchemist.preset`). ``data`` is passed to the
    workload: for ``tinyvit``, CIFAR-10 when it can be had with ``data="auto"``, else the
    stand-in with a :class:`~jaxsched.workloads.cifar10.SyntheticFallbackWarning`. ``readout``
    is the ``tinyvit`` workload's option. The notes' own curves are drawn behind ours only
    where the workload is the notes' (``tinyvit``).

    ``tensorboard``: also write TensorBoard event files, one subdirectory per run
    (:class:`~jaxsched.train.runner.Runner`'s ``tensorboard``).
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1, got seeds={seeds!r}")
    figure_names = resolve_figures(figures)
    preset = alchemist.preset(task, preset_name)
    options = {} if readout is None else {"readout": readout}
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    built = catalogue.build(task, preset.name, data=data, progress=progress, **options)
    log(f"data: {built.data_name} ({built.train_examples} training examples)")
    by_label = alchemist.all_runs(preset, seeds=seeds)
    runner = Runner(
        built.task, out, identity=built.identity, group=group, progress=progress, log=log,
        tensorboard=tensorboard, **preset.runner_options(),
    )
    results = runner.run([c for cs in by_label.values() for c in cs])
    by_id = {r.run_dir.run_id: r for r in results}

    runs: dict[str, list[report.Record]] = {}
    summaries: dict[str, list[dict]] = {}
    index: dict[str, list[str]] = {}
    for label, cfgs in by_label.items():
        res: list[RunResult] = [by_id[runner.run_id(c)] for c in cfgs
                                if runner.run_id(c) in by_id]
        if not res:
            continue
        runs[label] = [report.Record(r.run_dir.load_losses(), r.run_dir.load_eval())
                       for r in res]
        summaries[label] = [r.summary for r in res]
        index[label] = [r.run_dir.run_id for r in res]
    if not dist.is_primary():
        return out / "REPORT.md"  # process 0 writes the report of a job of several processes
    atomic_write_json(out / RUNS_INDEX, index)

    window = preset.window
    chance = built.chance_loss or regime.LN10
    drawn = figures_lib.draw_figures(figure_names, runs, window, out / "figures",
                                     built.data_name, notes=task == alchemist.NOTES_TASK,
                                     chance=chance)
    rows = report.final_table(runs, summaries, window)
    text = report.render(
        preset=preset,
        built=built,
        seeds=seeds,
        rows=rows,
        claims=report.evaluate_claims(runs),
        figures=drawn,
        window=window,
        wall_seconds=time.perf_counter() - t0,
        regime_diagnostics=report.regime_diagnostics(
            runs, batch_size=built.examples_per_step, n_train=built.train_examples,
            window=window, chance=chance,
        ),
        drop=report.drop_gains(runs),
    )
    atomic_write_text(out / FINALS, report.finals_csv(rows))
    path = out / "REPORT.md"
    atomic_write_text(path, text)
    log(f"wrote {path}")
    return path


def projection(preset_name: str, seeds: int, rates, *, task: str = alchemist.NOTES_TASK) -> dict:
    """The training time that measured run-steps/s project for a preset's runs, grouped as the
    runner groups them and one run after another (see
    :func:`jaxsched.train.throughput.projected_seconds`)."""
    from jaxsched.train import throughput

    groups: dict[str, list[int]] = {}
    for cfgs in alchemist.all_runs(alchemist.preset(task, preset_name), seeds=seeds).values():
        for cfg in cfgs:
            groups.setdefault(cfg.group_key(), []).append(cfg.train_steps)
    lengths = list(groups.values())
    grouped = throughput.projected_seconds(lengths, rates, grouped=True)
    sequential = throughput.projected_seconds(lengths, rates, grouped=False)
    return {
        "projected_preset": preset_name,
        "projected_seeds": seeds,
        "projected_runs": sum(len(g) for g in lengths),
        "projected_run_steps": sum(sum(g) for g in lengths),
        "projected_groups": len(lengths),
        "projected_grouped_s": grouped,
        "projected_sequential_s": sequential,
        "projected_speedup": sequential / grouped,
    }
