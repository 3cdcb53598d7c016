"""`jaxsched reproduce`: train the notes' runs at a preset, draw their figures, write REPORT.md."""

from __future__ import annotations

import pathlib
import time
from collections.abc import Callable, Sequence

from jaxsched import _dist as dist
from jaxsched._io import atomic_write_json, atomic_write_text
from jaxsched.chapter import alchemist, report
from jaxsched.chapter import figures as figures_lib
from jaxsched.chapter.figures import FIGURES, resolve_figures
from jaxsched.train.runner import Runner, RunResult

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
    data: str = "auto",
    seeds: int = 1,
    figures: Sequence[str] | None = None,
    group: bool = True,
    readout: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    tensorboard: str | pathlib.Path | None = None,
) -> pathlib.Path:
    """Run (or resume) the whole chapter at a preset and write ``out/REPORT.md``.

    Also writes ``out/figures/*.png``, ``out/runs/<run id>/`` per run, ``out/runs.json``
    (:data:`RUNS_INDEX`) and ``out/finals.csv`` (:data:`FINALS`).

    The data is the preset's workload's (:meth:`~jaxsched.train.workloads.ImageWorkload.load_data`:
    CIFAR-10 when it can be had with ``data="auto"``, else the stand-in with a
    :class:`~jaxsched.train.data.SyntheticFallbackWarning`).

    ``tensorboard``: also write TensorBoard event files, one subdirectory per run
    (:class:`~jaxsched.train.runner.Runner`'s ``tensorboard``).
    """
    if preset_name not in alchemist.PRESETS:
        raise ValueError(
            f"preset must be one of {list(alchemist.PRESETS)}, got preset={preset_name!r}"
        )
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1, got seeds={seeds!r}")
    figure_names = resolve_figures(figures)
    preset = alchemist.PRESETS[preset_name]
    workload = preset.workload.with_readout(readout)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    dataset = workload.load_data(data, progress=progress)
    log(f"data: {dataset.name} ({len(dataset.train_labels)} train / "
        f"{len(dataset.test_labels)} test images)")
    by_label = alchemist.all_runs(preset, seeds=seeds)
    runner = Runner(
        workload.task(dataset), out, identity=workload.describe(dataset.name), group=group,
        chunk_size=preset.chunk_size,
        checkpoint_every=max(preset.chunk_size, preset.eval_every),
        smoothing=preset.window, progress=progress, log=log, tensorboard=tensorboard,
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
    drawn = figures_lib.draw_figures(figure_names, runs, window, out / "figures", dataset.name)
    rows = report.final_table(runs, summaries, window)
    text = report.render(
        preset=preset,
        data_name=dataset.name,
        seeds=seeds,
        rows=rows,
        claims=report.evaluate_claims(runs, window),
        figures=drawn,
        window=window,
        wall_seconds=time.perf_counter() - t0,
        regime_diagnostics=report.regime_diagnostics(
            runs, batch_size=workload.batch_size, n_train=len(dataset.train_labels),
            window=window,
        ),
        drop=report.drop_gains(runs),
        from_evaluations=report.uses_evaluations(runs),
    )
    atomic_write_text(out / FINALS, report.finals_csv(rows))
    path = out / "REPORT.md"
    atomic_write_text(path, text)
    log(f"wrote {path}")
    return path


def projection(preset_name: str, seeds: int, rates) -> dict:
    """The training time that measured run-steps/s project for a preset's runs, grouped as the
    runner groups them and one run after another (see
    :func:`jaxsched.train.bench.projected_seconds`)."""
    from jaxsched.train import bench

    if preset_name not in alchemist.PRESETS:
        raise ValueError(
            f"preset must be one of {list(alchemist.PRESETS)}, got preset={preset_name!r}"
        )
    groups: dict[str, list[int]] = {}
    for cfgs in alchemist.all_runs(alchemist.PRESETS[preset_name], seeds=seeds).values():
        for cfg in cfgs:
            groups.setdefault(cfg.group_key(), []).append(cfg.train_steps)
    lengths = list(groups.values())
    grouped = bench.projected_seconds(lengths, rates, grouped=True)
    sequential = bench.projected_seconds(lengths, rates, grouped=False)
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
