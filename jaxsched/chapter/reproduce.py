"""`jaxsched reproduce`: train the notes' runs at a preset, draw their figures, write REPORT.md."""

from __future__ import annotations

import pathlib
import time
from collections.abc import Callable, Sequence

import numpy as np

from jaxsched import plot
from jaxsched._io import atomic_write_text
from jaxsched.chapter import alchemist, regime, report
from jaxsched.smoothing import moving_average, smoothed_at
from jaxsched.train import data as data_lib
from jaxsched.train.runner import Runner, RunResult

# Figures `--figures` may name; "all" draws every one, "none" draws none.
FIGURES = (*[c.name for c in alchemist.COMPARISONS], "pareto", "final_vs_notes", "regime")

# The notes' colours: grey for constant, the default cycle's red for linear decays, black for the
# compared optimizer in the Pareto panels.


def resolve_figures(names: Sequence[str] | None) -> tuple[str, ...]:
    if not names or list(names) == ["all"]:
        return FIGURES
    if list(names) == ["none"]:
        return ()
    bad = [n for n in names if n not in FIGURES]
    if bad:
        raise ValueError(
            f"figures must be 'all', 'none' or names from {list(FIGURES)}, got figures={bad}"
        )
    return tuple(names)


def load_dataset(kind: str, preset: alchemist.Preset, *, progress: bool = True):
    return data_lib.load(
        kind,
        progress=progress,
        synthetic_kwargs=preset.synthetic_kwargs(),
    )


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
    load: Callable[..., data_lib.Dataset] | None = None,
) -> pathlib.Path:
    """Run (or resume) the whole chapter at a preset and write ``out/REPORT.md``.

    ``load(kind, n_train, n_test, **difficulty)`` replaces the default dataset loader (the CLI
    passes one that prints the auto-fallback warning as one line); the synthetic sizes and
    difficulty (:class:`jaxsched.train.data.Difficulty` fields) come from the preset.
    """
    if preset_name not in alchemist.PRESETS:
        raise ValueError(
            f"preset must be one of {list(alchemist.PRESETS)}, got preset={preset_name!r}"
        )
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1, got seeds={seeds!r}")
    figure_names = resolve_figures(figures)
    preset = alchemist.PRESETS[preset_name]
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    if load is None:
        dataset = load_dataset(data, preset, progress=progress)
    else:
        dataset = load(
            data, preset.synthetic_train, preset.synthetic_test, **preset.difficulty._asdict()
        )
    log(f"data: {dataset.name} ({len(dataset.train_labels)} train / "
        f"{len(dataset.test_labels)} test images)")
    by_label = alchemist.all_runs(preset, data=dataset.name, seeds=seeds, readout=readout)
    configs = [c for cs in by_label.values() for c in cs]
    runner = Runner(
        dataset, out, group=group, chunk_size=preset.chunk_size,
        checkpoint_every=max(preset.chunk_size, preset.steps // preset.eval_points),
        smoothing=preset.window, progress=progress, log=log,
    )
    results = {r.config.run_id(): r for r in runner.run(configs)}

    losses: dict[str, list[np.ndarray]] = {}
    summaries: dict[str, list[dict]] = {}
    for label, cfgs in by_label.items():
        res: list[RunResult] = [results[c.run_id()] for c in cfgs if c.run_id() in results]
        if not res:
            continue
        losses[label] = [r.run_dir.load_losses() for r in res]
        summaries[label] = [r.summary for r in res]

    window = preset.window
    fig_dir = out / "figures"
    drawn = draw_figures(figure_names, losses, window, fig_dir, dataset.name)
    text = report.render(
        preset=preset,
        data_name=dataset.name,
        seeds=seeds,
        rows=report.final_table(losses, summaries, window),
        claims=report.evaluate_claims(losses, window),
        figures=drawn,
        window=window,
        wall_seconds=time.perf_counter() - t0,
        regime_diagnostics=report.regime_diagnostics(
            losses, batch_size=preset.batch_size, n_train=len(dataset.train_labels),
            window=window,
        ),
    )
    path = out / "REPORT.md"
    atomic_write_text(path, text)
    log(f"wrote {path}")
    return path


def _curves(labels, losses, colors=None):
    curves = []
    for i, lab in enumerate(labels):
        if lab not in losses:
            continue
        arrs = losses[lab]
        n = min(len(a) for a in arrs)
        stacked = np.stack([a[:n] for a in arrs]) if len(arrs) > 1 else arrs[0]
        curves.append((lab, stacked, None if colors is None else colors[i]))
    return curves


def _ylim(notes_ylim: float, curves, window: int) -> float:
    """The notes' y limit, widened when this run's smoothed curves would leave the axis.

    Short presets and synthetic data start and stay higher than the notes' 100k-step CIFAR-10
    curves; clipping them at the notes' limit would leave a blank panel.
    """
    top = 0.0
    for _, arr, _ in curves:
        a = np.atleast_2d(np.asarray(arr, np.float64))
        sm = moving_average(a, max(1, min(window, a.shape[1])))
        top = max(top, float(np.nanmax(sm)))
    return notes_ylim if top <= notes_ylim else float(np.ceil(top * 1.05 * 10) / 10)


def draw_figures(names, losses, window, fig_dir: pathlib.Path, data_name: str) -> list[str]:
    fig_dir.mkdir(parents=True, exist_ok=True)
    drawn = []
    comparisons = {c.name: c for c in alchemist.COMPARISONS}
    for name in names:
        file = f"{name}.png"
        if name in comparisons:
            c = comparisons[name]
            curves = _curves(c.runs, losses)
            plot.plot_comparison(
                curves, fig_dir / file, window=window, ylim=_ylim(c.ylim, curves, window),
                title=c.title, data_label=data_name,
            )
        elif name == "pareto":
            baselines = _curves(
                alchemist.PARETO_BASELINES, losses,
                ["grey"] + ["C3"] * len(alchemist.LINEAR_DECAYS),
            )
            compared = _curves(alchemist.PARETO_COMPARED, losses, ["black"] * 3)
            ylim = _ylim(alchemist.PARETO_YLIM, baselines + compared, window)
            plot.plot_pareto(
                baselines, compared, fig_dir / file, window=window, ylim=ylim,
                data_label=data_name,
            )
        elif name == "final_vs_notes":
            finals = {}
            for lab, spec in alchemist.RUNS.items():
                if lab in losses and spec.notes_loss is not None:
                    finals[lab] = (
                        [smoothed_at(x, len(x), window) for x in losses[lab]],
                        spec.notes_loss,
                    )
            plot.plot_final_vs_notes(finals, fig_dir / file, data_label=data_name)
        elif name == "regime":
            if "Constant LR" not in losses:
                continue
            (_, stacked, _), = _curves(["Constant LR"], losses)
            final, plateau = (next(b for b in regime.BANDS if b.name == n)
                              for n in ("final", "plateau"))
            plot.plot_regime(
                stacked, fig_dir / file, window=window, final_band=(final.low, final.high),
                notes_final=final.notes, plateau_band=plateau.high,
                plateau_level=regime.PLATEAU_LEVEL, chance=regime.LN10, data_label=data_name,
            )
        drawn.append(file)
    return drawn
