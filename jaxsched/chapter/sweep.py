"""The notes' learning-rate protocol: the base learning rate is the one a sweep finds.

The notes: "The base learning rate (0.001) was found by doing a sweep. So, it is not a problem
of having too high of a learning rate throughout training." The argument holds when the swept
quantity is the **constant** run's final loss: the decays' gain over constant then cannot come
from constant's learning rate being too high, since no constant learning rate does better.
So the rule, written down before any sweep was run:

1. train the chapter's *Constant LR* and *Linear Decay 100%* runs at the preset's horizon for
   every learning rate of a geometric grid (default: the size's own learning rate times
   ``2^k``, ``k = -2 .. 2``), every seed;
2. score each run by the reproduction's end-of-run statistic
   (:func:`jaxsched.chapter.report.final_value`) and each learning rate by its mean over seeds;
3. the chosen learning rate is the constant run's best; when it lies at an end of the grid the
   grid grows by one factor of 2 past that end, and again, until the best lies inside it (at
   most :data:`MAX_EXTENSIONS` times);
4. linear decay's own best is reported beside it, never chosen.

Beside them the sweep trains the chapter's *Stepwise at 75%* run at every rate, and reports
the noise share ``nu`` (:func:`jaxsched.chapter.regime.noise_share`) per rate and seed: the
rate moves ``nu`` even where it hardly moves the constant run's loss, so the table shows where
in the regime band each rate of the grid would put the reproduction. It does not enter the
choice.

Near its best the constant run's final loss is often flat in the learning rate, so the report
also names the rates it did not resolve from the chosen one (:func:`unresolved`): those whose
mean lies within the combined standard deviation of the chosen rate's (the spread rule of
:mod:`jaxsched.stats`). Their choice is then up to the seeds: other seeds, or the same ones
trained in groups of another size (whose floating-point sums differ, and a run at a high rate
amplifies the difference), may pick one of them. The rule itself is unchanged.

:func:`sweep` trains it through the one training path (:class:`~jaxsched.train.runner.Runner`,
resumable) and writes ``out/REPORT.md``, ``out/sweep.csv`` (one row per run),
``out/sweep.json`` (the rule, the grid, both optima, the chosen learning rate, ``nu``) and
``out/figures/lr_sweep.png`` (final loss against learning rate, every schedule, each one's
optimum ringed, the two optima marked). A workload size names the sweep it took its learning
rate from (:attr:`jaxsched.workloads.catalogue.Size.lr_source`).

>>> best_lr({1e-3: [0.30, 0.32], 2e-3: [0.25, 0.27], 4e-3: [0.40, 0.38]})
0.002
>>> extension([1e-3, 2e-3, 4e-3], best=1e-3)
[0.0005]
>>> unresolved({1e-3: [0.30, 0.32], 2e-3: [0.25, 0.35], 4e-3: [0.40, 0.38]}, 1e-3)
[0.002]
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import pathlib
import time
from collections.abc import Callable, Mapping, Sequence

from jaxsched import _dist as dist
from jaxsched import _validate as v
from jaxsched._io import atomic_write_json, atomic_write_text
from jaxsched.chapter import alchemist, regime, report
from jaxsched.stats import Stat, below
from jaxsched.train.runner import Runner
from jaxsched.workloads import catalogue

__all__ = ["MAX_EXTENSIONS", "SCHEDULES", "SWEEP_JSON", "SweepResult", "best_lr", "default_grid",
           "extension", "read_chosen_lr", "render", "sweep", "unresolved"]

SCHEDULES = (alchemist.CONSTANT, "Linear Decay 100%", regime.DROPPED)
"""The runs a sweep trains at each learning rate: the first one's best is chosen, the second's
is reported beside it, the third gives the noise share at each rate."""
MAX_EXTENSIONS = 4
"""How many times the grid may grow past an end before the sweep stops with the best at it."""
SWEEP_JSON = "sweep.json"
"""``out/sweep.json``: the rule, the grid, both optima and ``chosen_lr``."""
RULE = ("the learning rate of the lowest mean end-of-run loss of the Constant LR run over "
        "seeds, on a factor-2 grid grown past an end until the best lies inside it")


def default_grid(lr: float) -> list[float]:
    """``lr * 2^k`` for ``k = -2 .. 2``.

    >>> default_grid(1e-3)
    [0.00025, 0.0005, 0.001, 0.002, 0.004]
    """
    v.check_positive("lr", lr)
    return [_round(lr * 2.0**k) for k in range(-2, 3)]


def _round(x: float) -> float:
    return float(f"{x:.6g}")


def best_lr(finals: Mapping[float, Sequence[float]]) -> float:
    """The learning rate of the lowest mean of its finals (ties: the smaller learning rate)."""
    if not finals:
        raise ValueError("finals must hold at least one learning rate, got finals={}")
    return min(sorted(finals), key=lambda lr: sum(finals[lr]) / len(finals[lr]))


def unresolved(finals: Mapping[float, Sequence[float]], chosen: float) -> list[float]:
    """The learning rates of ``finals`` other than ``chosen`` whose finals ``chosen``'s are not
    below beyond the spread (:func:`jaxsched.stats.below`), or equal to: the sweep did not
    resolve them."""
    if chosen not in finals:
        raise ValueError(f"chosen must be a learning rate of finals, got chosen={chosen!r}")
    best = Stat.of(finals[chosen])
    stats = {lr: Stat.of(vals) for lr, vals in finals.items() if lr != chosen}
    return [lr for lr, st in sorted(stats.items())
            if not below(best, st) or st.mean == best.mean]


def extension(grid: Sequence[float], best: float) -> list[float]:
    """The learning rate to add when ``best`` lies at an end of ``grid`` (a factor of 2 past
    that end), else none."""
    lo, hi = min(grid), max(grid)
    if len(grid) < 2:
        return [_round(best / 2), _round(best * 2)]
    if best == lo:
        return [_round(lo / 2)]
    if best == hi:
        return [_round(hi * 2)]
    return []


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """What a sweep found: the finals of every run by schedule and learning rate."""

    task: str
    preset: str
    steps: int
    finals: dict[str, dict[float, list[float]]]
    chosen_lr: float
    linear_lr: float
    at_edge: bool

    @property
    def noise_share(self) -> dict[float, list[float]]:
        """``nu`` per learning rate, one value per seed (the constant and stepwise runs of the
        same seed)."""
        const, dropped = self.finals[SCHEDULES[0]], self.finals[SCHEDULES[2]]
        return {lr: [regime.noise_share(c, d) for c, d in zip(const[lr], dropped[lr], strict=True)]
                for lr in sorted(const) if lr in dropped}

    @property
    def unresolved(self) -> list[float]:
        """The constant run's rates the seeds did not tell apart from the chosen one."""
        return unresolved(self.finals[SCHEDULES[0]], self.chosen_lr)

    def to_json(self) -> dict:
        return {
            "task": self.task, "preset": self.preset, "steps": self.steps, "rule": RULE,
            "grid": sorted(self.finals[SCHEDULES[0]]),
            "chosen_lr": self.chosen_lr, "linear_decay_best_lr": self.linear_lr,
            "chosen_at_grid_edge": self.at_edge,
            "unresolved_from_chosen": self.unresolved,
            "noise_share": {f"{lr:g}": vals for lr, vals in self.noise_share.items()},
            "finals": {label: {f"{lr:g}": vals for lr, vals in sorted(by_lr.items())}
                       for label, by_lr in self.finals.items()},
        }


def sweep(
    task: str,
    preset_name: str,
    out: str | pathlib.Path,
    *,
    lrs: Sequence[float] | None = None,
    seeds: int = 1,
    data: str = "auto",
    group: bool = True,
    readout: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> tuple[SweepResult, pathlib.Path]:
    """Run (or resume) the learning-rate sweep of ``task`` at its preset ``preset_name``.

    ``lrs`` is the starting grid (default :func:`default_grid` of the size's learning rate);
    the grid grows past an end while the constant run's best lies there (module docstring).
    Returns what was found and the path of ``out/REPORT.md``.
    """
    v.check_int("seeds", seeds, minimum=1)
    preset = alchemist.preset(task, preset_name)
    grid = sorted({_round(x) for x in (lrs if lrs is not None else default_grid(preset.lr))})
    for x in grid:
        v.check_positive("lrs", x)
    options = {} if readout is None else {"readout": readout}
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    built = catalogue.build(task, preset.name, data=data, progress=progress, **options)
    runner = Runner(built.task, out, identity=built.identity, group=group, progress=progress,
                    log=log, **preset.runner_options())
    finals: dict[str, dict[float, list[float]]] = {label: {} for label in SCHEDULES}
    todo = list(grid)
    for _ in range(MAX_EXTENSIONS + 1):
        configs = {(label, lr, s): alchemist.run_config(
            alchemist.RUNS[label], dataclasses.replace(preset, lr=lr), seed=s)
            for lr in todo for label in SCHEDULES for s in range(seeds)}
        results = {r.run_dir.run_id: r for r in runner.run(list(configs.values()))}
        for (label, lr, _), cfg in configs.items():
            res = results[runner.run_id(cfg)]
            rec = report.Record(res.run_dir.load_losses(), res.run_dir.load_eval())
            finals[label].setdefault(lr, []).append(report.final_value(rec))
        best = best_lr(finals[SCHEDULES[0]])
        todo = extension(sorted(finals[SCHEDULES[0]]), best)
        if not todo:
            break
        log(f"the constant run's best lr {best:g} is at the grid's end: adding {todo}")
    result = SweepResult(task, preset.name, preset.steps, finals, best,
                         best_lr(finals[SCHEDULES[1]]), at_edge=bool(todo))
    path = out / "REPORT.md"
    if not dist.is_primary():
        return result, path
    from jaxsched.chapter import figures as figures_lib

    (out / "figures").mkdir(exist_ok=True)
    figures_lib.plot_lr_sweep(result.finals, result.chosen_lr, result.linear_lr,
                              out / "figures" / "lr_sweep.png",
                              title=f"lr sweep: {task} {preset.name} ({preset.steps} steps)",
                              data_label=built.data_name)
    atomic_write_json(out / SWEEP_JSON, result.to_json())
    atomic_write_text(out / "sweep.csv", _csv(result))
    atomic_write_text(path, render(result, built, seeds, time.perf_counter() - t0))
    log(f"wrote {path}")
    return result, path


def _csv(result: SweepResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["schedule", "lr", "seed", "final"])
    for label, by_lr in result.finals.items():
        for lr, vals in sorted(by_lr.items()):
            for s, x in enumerate(vals):
                w.writerow([label, f"{lr:g}", s, f"{x:.6f}"])
    return buf.getvalue()


def render(result: SweepResult, built: catalogue.Built, seeds: int,
           wall_seconds: float | None = None) -> str:
    """The sweep's REPORT.md."""
    const, linear, dropped = SCHEDULES
    band = regime.NOISE_SHARE_BAND
    grid = sorted(result.finals[const])
    lines = [
        f"# Learning-rate sweep: {result.task}, {result.preset} preset",
        "",
        *(f"- {line}" for line in built.notes),
        f"- Horizon: {result.steps} steps; seeds: {seeds}"
        + (" (mean ± standard deviation across seeds)" if seeds > 1 else "") + ".",
        *([f"- Wall time of this invocation: {wall_seconds:.0f} s (runs finished by an earlier "
             "invocation are loaded, not retrained)"]
          if wall_seconds is not None else []),
        "",
        "## The rule",
        "",
        f"The notes found their base learning rate \"by doing a sweep. So, it is not a problem "
        f"of having too high of a learning rate throughout training\": the swept quantity is "
        f"the constant run's final loss. Chosen: {RULE} (`jaxsched.chapter.sweep`). "
        f"{linear}'s own best is shown beside it and not used.",
        "",
        f"**Chosen learning rate: {result.chosen_lr:g}** (the {const} run's best); "
        f"{linear}'s best: {result.linear_lr:g}."
        + (" The constant run's best is still at the grid's end after "
           f"{MAX_EXTENSIONS} extensions." if result.at_edge else ""),
        "",
        *_unresolved_lines(result, seeds),
        "## Final loss against learning rate",
        "",
        "The end-of-run statistic of the reproduction (`jaxsched.chapter.report.final_value`). "
        f"*nu*: the noise share 1 - L({dropped}) / L({const}) per seed, the regime rule's "
        f"(band {band.low:.2f} - {band.high:.2f}; `jaxsched.chapter.regime`); it does not enter "
        "the choice.",
        "",
        f"| lr | {const} | {linear} | {dropped} | nu | nu in band |",
        "|---|---|---|---|---|---|",
    ]
    nus = result.noise_share
    for lr in grid:
        cells = []
        for label, best in ((const, result.chosen_lr), (linear, result.linear_lr),
                            (dropped, None)):
            vals = result.finals[label].get(lr)
            text = "" if vals is None else str(Stat.of(vals))
            cells.append(f"**{text}**" if lr == best and text else text)
        nu = nus.get(lr, [])
        held = sum(band.holds(x) for x in nu)
        cells += [str(Stat.of(nu)) if nu else "", f"{held}/{len(nu)} seeds" if nu else ""]
        lines.append(f"| {lr:g} | " + " | ".join(cells) + " |")
    lines += ["", "![lr_sweep.png](figures/lr_sweep.png)", ""]
    return "\n".join(lines)


def _unresolved_lines(result: SweepResult, seeds: int) -> list[str]:
    others = result.unresolved
    if not others:
        return [f"The {SCHEDULES[0]} run's best is resolved: every other rate of the grid ends "
                "above it " + ("by more than the combined standard deviation over seeds."
                               if seeds > 1 else "(one seed: no spread to compare with)."),
                ""]
    names = ", ".join(f"{lr:g}" for lr in others)
    return [f"**Not resolved by the seeds**: at {names} the {SCHEDULES[0]} run ends within the "
            "combined standard deviation of the chosen rate's mean, so the choice between them is "
            "up to the seeds (other seeds, or the same ones trained in groups of another size, may "
            "pick another); a preset's `nu` and claims at the chosen rate may not hold at those.",
            ""]


def read_chosen_lr(directory: str | pathlib.Path) -> float:
    """The learning rate a committed sweep chose (``directory/sweep.json``)."""
    import json

    path = pathlib.Path(directory) / SWEEP_JSON
    data = json.loads(path.read_text())
    lr = data.get("chosen_lr")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"{path} must hold a positive chosen_lr, got chosen_lr={lr!r}")
    return float(lr)
