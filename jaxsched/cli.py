"""The ``jaxsched`` command.

Each subcommand is a pair of small functions: ``_add_<name>(subparsers)`` declares its parser
and sets ``func`` to ``functools.partial(_run_<name>, parser=p)``, where
``_run_<name>(args, *, parser) -> int`` does the work and reports usage errors through
``parser.error``; :data:`SUBCOMMANDS` lists the
``_add_*`` functions in the order ``--help`` shows them. Usage errors (a bad schedule spec, a
non-positive ``--steps``, ...) print one line, ``jaxsched <cmd>: error: ...``, and exit with
status 2 as argparse does; no traceback.

In Python, :func:`main` takes the command line as a list (on a shell:
``jaxsched plot "torch.cosine_annealing_lr:lr=0.1,T_max=100" --steps 150 --out cosine.png``):

>>> import pathlib, tempfile
>>> out = pathlib.Path(tempfile.mkdtemp()) / "cosine.png"
>>> main(["plot", "torch.cosine_annealing_lr:lr=0.1,T_max=100", "--steps", "150",
...       "--out", str(out)])
/.../cosine.png
0
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (with a pointer to ``--help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


# --------------------------------------------------------------------------- plot


def _add_plot(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plot",
        help="draw learning-rate schedules into one PNG",
        description=(
            "Draw one or more schedules on one figure. A SCHEDULE is "
            "NAME[:key=value,...][@label], where NAME is a jaxsched.schedules name "
            "(e.g. warmup_cosine_decay) or torch.<fn> / sambaflow.<fn> for the compat twins; "
            "values are numbers, true/false, none or lists like [30,60]."
        ),
        epilog=(
            'example: jaxsched plot "sambaflow.cosine_schedule_with_warmup:learning_rate=0.1,'
            'warmup_steps=100,max_steps=1000" "torch.cosine_annealing_lr:lr=0.1,T_max=1000" '
            '"torch.cosine_annealing_warm_restarts:lr=0.1,T_0=200,T_mult=2" '
            "--steps 1000 --out lr.png --log"
        ),
    )
    p.add_argument("schedules", nargs="*", metavar="SCHEDULE", help="schedule spec(s)")
    p.add_argument("--steps", type=_positive_int, help="number of steps to draw (0 .. N-1)")
    p.add_argument("--out", help="output PNG file")
    p.add_argument("--log", action="store_true", help="log-scale learning-rate axis")
    p.add_argument(
        "--steps-per-epoch",
        type=_positive_int,
        metavar="K",
        help="label the x axis in epochs of K steps (schedule arguments stay in steps)",
    )
    p.add_argument("--title", help="figure title")
    p.add_argument("--list", action="store_true", help="list the schedule names and exit")
    p.set_defaults(func=functools.partial(_run_plot, parser=p))


def _run_plot(args: argparse.Namespace, *, parser: argparse.ArgumentParser) -> int:
    # Imported here: matplotlib is needed by this subcommand only. (jax is imported anyway:
    # build_parser generates train's flags from RunConfig, which imports jaxsched.train.config.)
    import jaxsched.compat  # noqa: F401 - registers the torch.* and sambaflow.* names
    from jaxsched import plot
    from jaxsched.schedules import registry

    if args.list:
        import inspect

        for name, factory in sorted(registry.available().items()):
            try:
                # Annotations are strings under postponed evaluation: show them unquoted.
                sig = str(inspect.signature(factory)).split(" -> ")[0].replace("'", "")
            except (TypeError, ValueError):
                sig = "(...)"
            print(f"{name}{sig}")
        return 0
    if not args.schedules:
        parser.error("give at least one SCHEDULE (see --list for the names)")
    if args.steps is None:
        parser.error("the following arguments are required: --steps")
    if args.out is None:
        parser.error("the following arguments are required: --out")
    if Path(args.out).suffix.lower() != ".png":
        parser.error(f"--out must be a .png file, got {args.out!r}")

    try:
        schedules = [registry.resolve(spec) for spec in args.schedules]
        plot.plot_schedules(
            schedules,
            args.steps,
            args.out,
            log=args.log,
            steps_per_epoch=args.steps_per_epoch,
            title=args.title,
        )
    except ValueError as err:
        parser.error(str(err))
    except OSError as err:
        print(f"{parser.prog}: error: cannot write --out {args.out!r}: {err}", file=sys.stderr)
        return 1
    print(args.out)
    return 0


# --------------------------------------------------------------------------- training


def _add_distributed_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "several processes",
        "start the same command once per process, each with its --process-id; --out must be "
        "one directory all of them reach. Process 0 writes the reports and run files.")
    g.add_argument("--coordinator", metavar="HOST:PORT|auto", default=None,
                   help="join a job of several JAX processes coordinated at HOST:PORT "
                   "(process 0's address); auto: let JAX read the job from its environment "
                   "(SLURM, Open MPI, TPU pods), without --num-processes and --process-id")
    g.add_argument("--num-processes", type=_positive_int, default=None, metavar="N",
                   help="with --coordinator HOST:PORT: how many processes the job has")
    g.add_argument("--process-id", type=int, default=None, metavar="I",
                   help="with --coordinator HOST:PORT: this process's index, 0 .. N-1")


def _join_job(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """``jax.distributed.initialize`` from the distributed flags, before any JAX work."""
    given = [getattr(args, k, None) is not None
             for k in ("coordinator", "num_processes", "process_id")]
    if not any(given):
        return
    if args.coordinator != "auto" and not all(given):
        parser.error("--coordinator, --num-processes and --process-id go together, got "
                     + ", ".join(f"--{k.replace('_', '-')}={getattr(args, k)}"
                                 for k in ("coordinator", "num_processes", "process_id")))
    from jaxsched import _dist

    _dist.initialize(args.coordinator, args.num_processes, args.process_id)


def _data_kinds() -> tuple[str, ...]:
    """Every ``--data`` value a workload of the catalogue reads."""
    from jaxsched.workloads import catalogue

    return tuple(dict.fromkeys(d for w in catalogue.WORKLOADS.values() for d in w.data))


def _add_tensorboard_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tensorboard", metavar="DIR", default=None,
                   help="also write TensorBoard event files, one subdirectory per run "
                   "(tensorboard --logdir DIR shows them side by side); needs "
                   "pip install 'jaxsched[tensorboard]'")


def _add_train_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", choices=_data_kinds(), default="auto",
                   help="dataset: CIFAR-10 when available (auto), CIFAR-10 only, or synthetic "
                   "(tinyvit; other workloads read their own data: auto)")
    p.add_argument("--readout", choices=("first_patch", "class_token"), default=None,
                   help="TinyViT readout: the notes' x[:, 0] (first_patch) or the class token")
    p.add_argument("--no-group", action="store_true",
                   help="train every run in its own program instead of vmapped groups")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_tensorboard_flag(p)
    _add_distributed_flags(p)


def _add_reproduce(subparsers: argparse._SubParsersAction) -> None:
    from jaxsched.chapter import alchemist, figures
    from jaxsched.workloads import catalogue

    p = subparsers.add_parser(
        "reproduce",
        help="rerun the notes' learning-rate experiments and write REPORT.md",
        description=(
            "Train every run of the notes' chapter on a workload at one of its sizes (resuming "
            "finished and interrupted runs), draw the figures and write OUT/REPORT.md. "
            "Presets: " + "; ".join(
                f"{t} {k}: {v.steps} steps, {v.description}"
                for t in catalogue.WORKLOADS for k, v in alchemist.presets(t).items())
        ),
    )
    p.add_argument("--task", choices=tuple(catalogue.WORKLOADS), default=alchemist.NOTES_TASK,
                   help="the workload (default: the notes' tinyvit)")
    p.add_argument("--preset", default="quick", help="a size of the workload (default quick)")
    p.add_argument("--out", required=True, help="output directory (REPORT.md, figures/, runs/)")
    p.add_argument("--figures", nargs="+", metavar="NAME", default=None,
                   help="figures to draw: all (default), none, or any of "
                   f"{list(figures.FIGURES)}")
    p.add_argument("--seeds", type=_positive_int, default=1,
                   help="seeds per run (figures show mean and a ±1 std band)")
    p.add_argument("--sweep-lr", action="store_true",
                   help="instead of the chapter, run the notes' learning-rate protocol: Constant "
                   "LR and Linear Decay 100%% over a learning-rate grid (and Stepwise at 75%% for "
                   "the noise share at each lr); writes OUT/REPORT.md, "
                   "OUT/sweep.json (the chosen lr: the constant run's best), OUT/sweep.csv and "
                   "OUT/figures/lr_sweep.png")
    p.add_argument("--lrs", nargs="+", type=_positive_float, metavar="X", default=None,
                   help="with --sweep-lr: the starting grid (default: the preset's lr x 2^k, "
                   "k = -2..2); it grows past an end while the best lies there")
    _add_train_flags(p)
    p.set_defaults(func=functools.partial(_run_reproduce, parser=p))


def _run_reproduce(args: argparse.Namespace, *, parser: argparse.ArgumentParser) -> int:
    from jaxsched.chapter import alchemist, reproduce

    _check_out_dir(parser, args.out)
    names = tuple(alchemist.presets(args.task))
    if args.preset not in names:
        parser.error(f"argument --preset: must be one of {', '.join(names)} for --task "
                     f"{args.task}, got {args.preset!r}")
    if args.lrs is not None and not args.sweep_lr:
        parser.error("argument --lrs: only with --sweep-lr")
    if args.sweep_lr:
        from jaxsched.chapter import sweep

        if args.figures is not None:
            parser.error("argument --figures: not with --sweep-lr (it draws figures/lr_sweep.png)")
        result, path = sweep.sweep(
            args.task, args.preset, args.out, lrs=args.lrs, seeds=args.seeds, data=args.data,
            group=not args.no_group, readout=args.readout, progress=not args.no_progress,
        )
        print(f"chosen lr: {result.chosen_lr:g} (the constant run's best; linear decay's: "
              f"{result.linear_lr:g})")
        print(path)
        return 0
    try:
        reproduce.resolve_figures(args.figures)
    except ValueError as err:
        parser.error(f"argument --figures: {err}")
    path = reproduce.reproduce(
        args.preset, args.out, task=args.task, data=args.data, seeds=args.seeds,
        figures=args.figures,
        group=not args.no_group, readout=args.readout, progress=not args.no_progress,
        tensorboard=args.tensorboard,
    )
    print(path)
    return 0


def _config_flags() -> list[tuple[str, dict]]:
    """``(flag, add_argument kwargs)`` for every :class:`RunConfig` field that has a flag.

    Generated from the dataclass fields, their type hints and their ``metadata`` (``help``,
    ``choices``, ``required``, ``cli_default``, ``metavar``; ``"cli": False`` for none), so a
    new field needs no hand-written flag.
    """
    import dataclasses
    import typing

    from jaxsched.train.config import RunConfig, field_help

    hints = typing.get_type_hints(RunConfig)
    flags = []
    for field in dataclasses.fields(RunConfig):
        meta = field.metadata
        if not meta.get("cli", True):
            continue
        hint = hints[field.name]
        # `int | None` -> int: None is the default, never typed on the command line.
        base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
        kw: dict = {"dest": field.name, "help": field_help(field)}
        if base is bool:
            kw["action"] = argparse.BooleanOptionalAction
        else:
            kw["type"] = base
        for key in ("choices", "metavar"):
            if key in meta:
                kw[key] = meta[key]
        if meta.get("required"):
            kw["required"] = True
        else:
            kw["default"] = meta.get("cli_default", field.default)
            if kw["help"] and kw["default"] is not None and "default" not in kw["help"]:
                kw["help"] += f" (default {kw['default']})"
        flags.append(("--" + field.name.replace("_", "-"), kw))
    return flags


def _add_train(subparsers: argparse._SubParsersAction) -> None:
    from jaxsched.workloads.image import SIZES

    p = subparsers.add_parser(
        "train",
        help="train one TinyViT run (resumes if interrupted)",
        description=(
            "Train one run into OUT/runs/<run id>/ (config.json, losses.npy, eval.json, "
            "summary.json, params/). Rerun the same command to resume after an interruption. "
            "--schedule KIND[:key=value,...]: --lr is the kind's peak and --steps its horizon "
            "where it has them (jaxsched.schedules.KINDS); other arguments go in the spec."
        ),
    )
    for flag, kw in _config_flags():
        p.add_argument(flag, **kw)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seeds", type=_positive_int, default=1,
                   help="train seeds SEED .. SEED+N-1 together in one program")
    p.add_argument("--model", choices=tuple(SIZES), default="full",
                   help="the size of the image workload (TinyViT, batch, synthetic set; "
                   "jaxsched.workloads.image): the notes' (full, default) or a smaller one")
    p.add_argument("--batch-size", type=_positive_int, default=None,
                   help="images per step (default: the workload's)")
    p.add_argument("--eval-examples", type=_positive_int, default=None,
                   help="test images per evaluation (default: the workload's)")
    p.add_argument("--checkpoint-every", type=_positive_int, default=None,
                   help="checkpoint period in steps (default: the eval period)")
    p.add_argument("--chunk-size", type=_positive_int, default=500,
                   help="steps per compiled dispatch")
    p.add_argument("--synthetic-train", type=_positive_int, default=None,
                   help="size of the synthetic training set (default: the workload's)")
    p.add_argument("--synthetic-test", type=_positive_int, default=None,
                   help="size of the synthetic test set (default: the workload's)")
    _add_train_flags(p)
    p.set_defaults(func=functools.partial(_run_train, parser=p))


def _check_out_dir(parser: argparse.ArgumentParser, out: str) -> None:
    if Path(out).exists() and not Path(out).is_dir():
        parser.error(f"argument --out: {out!r} is a file, not a directory")


def _run_train(args: argparse.Namespace, *, parser: argparse.ArgumentParser) -> int:
    import dataclasses

    from jaxsched.schedules import registry
    from jaxsched.train.config import RunConfig
    from jaxsched.train.runner import Runner
    from jaxsched.workloads.image import SIZES

    _check_out_dir(parser, args.out)
    try:
        name, kwargs, _ = registry.parse(args.schedule)
    except ValueError as err:
        parser.error(f"argument --schedule: {err}")
    values = {dest: getattr(args, dest) for dest in (kw["dest"] for _, kw in _config_flags())}
    values.update(schedule=name, schedule_kwargs=kwargs)
    if values["eval_every"] is None:
        values["eval_every"] = max(1, args.steps // 20) if args.steps > 0 else 1
    configs = []
    for k in range(args.seeds):
        try:
            configs.append(RunConfig(**{**values, "seed": values["seed"] + k}))
        except ValueError as err:
            parser.error(_flag_of(str(err), parser))
    sizes = {k: getattr(args, k)
             for k in ("batch_size", "eval_examples", "synthetic_train", "synthetic_test")}
    workload = dataclasses.replace(
        SIZES[args.model], **{k: x for k, x in sizes.items() if x is not None}
    ).with_readout(args.readout)
    dataset = workload.load_data(args.data, progress=not args.no_progress)
    runner = Runner(
        workload.task(dataset), args.out, identity=workload.describe(dataset.name),
        group=not args.no_group, chunk_size=args.chunk_size,
        checkpoint_every=args.checkpoint_every or configs[0].eval_every,
        progress=not args.no_progress, tensorboard=args.tensorboard,
    )
    status = 0
    for res in runner.run(configs):
        s = res.summary
        if s.get("status") == "diverged":
            print(f"jaxsched train: {s.get('message')}", file=sys.stderr)
            status = 1
            continue
        acc = s["final_eval"].get("accuracy")
        print(
            f"{res.run_dir.path}: {s.get('status')} ({res.status}), data {dataset.name}, "
            f"final smoothed loss {s.get('final_loss_smoothed'):.4f}"
            + (f", test accuracy {acc:.4f}" if acc is not None else "")
        )
    return status


# --------------------------------------------------------------------------- bench


def _add_bench(subparsers: argparse._SubParsersAction) -> None:
    from jaxsched.chapter import alchemist
    from jaxsched.workloads import catalogue

    p = subparsers.add_parser(
        "bench",
        help="trainer throughput against a naive loop and a matmul peak",
        description=(
            "Measure, in one process, the compiled trainer's steps/s for TinyViT at batch 128, "
            "the notes' naive per-step loop, XLA's FLOP count per step, and an f32 matmul peak. "
            "With --task: a workload of the catalogue at --size, run-steps/s of the compiled "
            "loop grouped (--runs K runs in one program) and one run at a time, against a "
            "plain flax + optax loop of the same task (one jitted step per call), for AdamW "
            "and Schedule-Free AdamW (its cost against AdamW in each loop), and the share of "
            "the matmul peak."
        ),
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--task", choices=tuple(catalogue.WORKLOADS), default=None,
                   help="measure this workload of the catalogue instead of the notes' TinyViT")
    p.add_argument("--size", "--preset", dest="size", default=None,
                   help="with --task: its size (default: its first)")
    p.add_argument("--runs", type=_positive_int, default=4, metavar="K",
                   help="with --task: runs in one program for the grouped rate (default 4)")
    p.add_argument("--rounds", type=_positive_int, default=3,
                   help="with --task: timed rounds, the best counts (default 3)")
    p.add_argument("--sweep", type=_positive_int, nargs="*", metavar="K", default=None,
                   help="also measure K runs in one program against K sequential runs "
                   "(default K = 1 2 4 8 when the flag is given without values)")
    p.add_argument("--steps", type=_positive_int, default=None,
                   help="timed compiled steps (with --task: steps per timed call, default 50)")
    p.add_argument("--project", default="full", choices=tuple(alchemist.presets()),
                   help="with --sweep: the reproduction preset whose training time the "
                   "measured rates project, grouped and sequential (default: full)")
    p.add_argument("--project-seeds", type=_positive_int, default=1, metavar="N",
                   help="seeds per run in that projection (default 1)")
    p.add_argument("--tiny", action="store_true", help="a toy model (for tests)")
    p.set_defaults(func=functools.partial(_run_bench, parser=p))


def _run_bench(args: argparse.Namespace, *, parser: argparse.ArgumentParser) -> int:
    import json

    from jaxsched.chapter import reproduce
    from jaxsched.workloads import bench

    if args.task is not None:
        return _run_task_bench(args, parser)
    for flag, given in (("--size", args.size is not None), ("--runs", args.runs != 4),
                        ("--rounds", args.rounds != 3)):
        if given:
            parser.error(f"argument {flag}: only with --task")
    result = bench.run_bench(tiny=args.tiny, steps=args.steps)
    if args.sweep is not None:
        result.update(bench.sweep_bench(args.sweep or (1, 2, 4, 8), tiny=args.tiny))
        result.update(reproduce.projection(args.project, args.project_seeds,
                                           result["sweep_run_steps_per_s"]))
        # Against K runs of the notes' loop one after another (how the notes ran their sweep).
        result["sweep_speedup_vs_notes_loop_by_k"] = {
            k: r / result["naive_steps_per_s"] for k, r in result["sweep_run_steps_per_s"].items()
        }
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"device: {result['device']}  model: {result['model']}  batch {result['batch_size']}")
    print(f"compiled trainer: {result['steps_per_s']:.2f} steps/s "
          f"({result['gflops_per_s']:.1f} GFLOP/s, {result['gflop_per_step']:.2f} GFLOP/step)")
    print(f"naive loop:       {result['naive_steps_per_s']:.2f} steps/s")
    print(f"speedup:          {result['speedup']:.2f}x")
    print(f"matmul peak:      {result['matmul_peak_gflops']:.1f} GFLOP/s -> "
          f"{result['pct_of_matmul_peak']:.1f}% of peak")
    if "sweep_k" in result:
        for k, v in result["sweep_run_steps_per_s"].items():
            print(f"sweep K={k}: {v:.2f} run-steps/s")
        print(f"sweep speedup at K={result['sweep_k']}: {result['sweep_speedup']:.2f}x "
              f"over one compiled run, "
              f"{result['sweep_speedup_vs_notes_loop_by_k'][str(result['sweep_k'])]:.2f}x over "
              "the notes' loop run K times")
        print(f"projected training time of preset {result['projected_preset']!r} "
              f"({result['projected_runs']} runs, {result['projected_run_steps']} run-steps): "
              f"{result['projected_grouped_s'] / 60:.1f} min grouped, "
              f"{result['projected_sequential_s'] / 60:.1f} min one run at a time "
              "(no compiles, evals or checkpoints"
              + ("; toy-model rates, not the notes' TinyViT)" if args.tiny else ")"))
    return 0


def _run_task_bench(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import json

    from jaxsched.workloads import bench, catalogue

    for flag, given in (("--sweep", args.sweep is not None), ("--tiny", args.tiny)):
        if given:
            parser.error(f"argument {flag}: not with --task (use --size for a small one)")
    workload = catalogue.get(args.task)
    size = args.size or workload.sizes[0].name
    names = tuple(s.name for s in workload.sizes)
    if size not in names:
        parser.error(f"argument --size: must be one of {', '.join(names)} for --task "
                     f"{args.task}, got {size!r}")
    r = bench.task_bench(args.task, size, steps=args.steps or 50, runs=args.runs,
                         rounds=args.rounds)
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"device: {r['device']}  task: {r['task']} {r['size']}  lr {r['lr']:g}  "
          f"({r['steps']} steps per timing, best of {r['rounds']} rounds)")
    print(f"{'run-steps/s':18s} {'grouped (K=' + str(r['runs']) + ')':>14s} "
          f"{'one at a time':>14s} {'plain loop':>12s}")
    for name in r["optimizers"]:
        print(f"{name:18s} {r[f'{name}_grouped_run_steps_per_s']:14.1f} "
              f"{r[f'{name}_alone_run_steps_per_s']:14.1f} {r[f'{name}_plain_steps_per_s']:12.1f}")
    base = r["optimizers"][0]
    for name in r["optimizers"][1:]:
        c = r[f"{name}_cost"]
        print(f"{name} / {base}: {c['grouped']:.2f}x grouped, {c['alone']:.2f}x one at a time, "
              f"{c['plain']:.2f}x in the plain loop")
        if f"{name}_logged_alone_run_steps_per_s" in r:
            logged = r[f"{name}_logged_alone_run_steps_per_s"]
            print(f"{name} with its loss logged at the averaged parameters: {logged:.1f} "
                  f"run-steps/s one at a time ({logged / r[f'{base}_alone_run_steps_per_s']:.2f}x "
                  f"{base})")
    print(f"compiled loop over the plain loop ({base}, one run): {r['speedup']:.2f}x; grouped "
          f"over one at a time: {r['grouped_speedup']:.2f}x")
    print(f"{r['gflop_per_step']:.3f} GFLOP per run-step (XLA); matmul peak "
          f"{r['matmul_peak_gflops']:.1f} GFLOP/s -> {r['pct_of_matmul_peak']:.1f}% of peak one "
          f"at a time, {r['grouped_pct_of_matmul_peak']:.1f}% grouped")
    return 0


# --------------------------------------------------------------------------- compare


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _add_compare(subparsers: argparse._SubParsersAction) -> None:
    from jaxsched.compare import candidates, presets
    from jaxsched.workloads import catalogue

    grids = "; ".join(
        f"{t} {name}: lrs {[float(f'{x:.3g}') for x in p.lrs]}, horizons {list(p.horizons)} "
        f"({p.description})"
        for t in catalogue.WORKLOADS for name in presets.names(t)
        for p in [presets.get(t, name)]
    )
    p = subparsers.add_parser(
        "compare",
        help="benchmark schedule-free and averaging against tuned cosine, linear and WSD",
        description=(
            "The anytime comparison: every scheduled candidate tuned per horizon over a "
            "learning-rate grid, every anytime candidate trained once per learning rate and "
            "evaluated at every horizon; WSD cooldowns branch from the shared stable phase. "
            "Writes OUT/results.csv, OUT/REPORT.md, OUT/figures/{pareto,lr_sensitivity}.png "
            "and OUT/runs/ (rerun the command to resume). Presets: " + grids
        ),
    )
    p.add_argument("--task", choices=tuple(catalogue.WORKLOADS), required=True,
                   help="; ".join(f"{w.name}: {w.description}"
                                  for w in catalogue.WORKLOADS.values()))
    p.add_argument("--preset", default="smoke", help="a grid of the task (default smoke)")
    p.add_argument("--candidates", nargs="+", metavar="NAME", default=None,
                   help=f"candidates (default: all): {', '.join(candidates.BUILTIN)}")
    p.add_argument("--lrs", nargs="+", type=_positive_float, metavar="X", default=None,
                   help="learning-rate grid (default: the preset's)")
    p.add_argument("--horizons", nargs="+", type=_positive_int, metavar="N", default=None,
                   help="horizons in steps (default: the preset's)")
    p.add_argument("--seeds", type=_positive_int, default=1, help="seeds per run")
    p.add_argument("--warmup", type=float, default=0.0,
                   help="linear warmup as a fraction of each horizon, in [0, 1) (default 0)")
    p.add_argument("--weight-decay", type=float, default=0.0,
                   help="AdamW's decoupled weight decay (default 0)")
    p.add_argument("--eval-every", type=_positive_int, default=None,
                   help="evaluation period in steps (default: the preset's)")
    p.add_argument("--target", type=_number, default=None, metavar="LOSS",
                   help="validation loss for the time to target (default: the tuned cosine "
                   "envelope's final loss at the longest horizon)")
    p.add_argument("--data", choices=_data_kinds(), default="auto",
                   help="tinyvit: CIFAR-10 when available (auto), CIFAR-10 only, or synthetic; "
                   "other tasks read their own data (auto)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--no-bench", action="store_true",
                   help="skip the grouped-vs-one-at-a-time measurement on a small grid (the "
                   "device then picks: one at a time on a CPU, grouped elsewhere)")
    grouping = p.add_mutually_exclusive_group()
    grouping.add_argument("--group", action="store_true",
                          help="train the runs of one optimizer in one vmapped program "
                          "(default: grouped or one at a time, whichever measured faster on "
                          "the small grid)")
    grouping.add_argument("--no-group", action="store_true",
                          help="train every run in its own program")
    p.add_argument("--log-eval-loss", action="store_true",
                   help="log the per-step loss of averaging and schedule-free runs at their "
                   "averaged parameters (the notes' logging; one more forward pass per step, "
                   "which the Cost table then includes)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_tensorboard_flag(p)
    _add_distributed_flags(p)
    p.set_defaults(func=functools.partial(_run_compare, parser=p))


def _run_compare(args: argparse.Namespace, *, parser: argparse.ArgumentParser) -> int:
    from jaxsched.compare import presets, report, workflow

    _check_out_dir(parser, args.out)
    names = presets.names(args.task)
    if args.preset not in names:
        parser.error(f"argument --preset: must be one of {', '.join(names)} for --task "
                     f"{args.task}, got {args.preset!r}")
    res, path = workflow.run_preset(
        args.task, args.preset, args.out, candidates=args.candidates, lrs=args.lrs,
        horizons=args.horizons, seeds=args.seeds, warmup=args.warmup,
        weight_decay=args.weight_decay, eval_every=args.eval_every, target=args.target,
        data=args.data, bench=not args.no_bench,
        group=True if args.group else False if args.no_group else None,
        log_eval_loss=args.log_eval_loss, progress=not args.no_progress,
        log=functools.partial(print, file=sys.stderr), tensorboard=args.tensorboard,
    )
    print(res.regime().headline())
    for v in report.verdicts(res):
        print(f"{v['anytime']} at or below the tuned {v['scheduled']} envelope at every "
              f"horizon: {report.verdict_word(v)}")
    print(path)
    return 0


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_plot,
    _add_reproduce,
    _add_train,
    _add_bench,
    _add_compare,
]
"""Functions that each add one subcommand's parser (setting ``func``)."""


def build_parser() -> argparse.ArgumentParser:
    """The ``jaxsched`` argument parser with every subcommand registered."""
    parser = _Parser(
        prog="jaxsched",
        description="Learning-rate schedules, schedule-free optimizers and the notes' "
        "TinyViT reproduction.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


@contextlib.contextmanager
def _log_lines():
    """The ``jaxsched`` logger's messages as plain lines on stderr, for this command."""
    import logging

    logger = logging.getLogger("jaxsched")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    before = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before[0])
        logger.propagate = before[1]


@contextlib.contextmanager
def _one_line_fallback_warnings():
    """Show the data fallback warning as one ``warning:`` line on stderr (no source line)."""
    import warnings

    from jaxsched.workloads.cifar10 import SyntheticFallbackWarning

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, SyntheticFallbackWarning):
            print(f"warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = default


def _flag_of(message: str, parser: argparse.ArgumentParser) -> str:
    """``message`` prefixed with ``argument --x:`` when it starts by naming the option ``x``."""
    first = message.split(" ", 1)[0].split("=", 1)[0].rstrip(":")
    flag = "--" + first.replace("_", "-")
    options = {o for a in parser._actions for o in a.option_strings}
    return f"argument {flag}: {message}" if flag in options else message


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``jaxsched`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Usage errors raise ``SystemExit(2)`` after a one-line message, as argparse does; so does a
    ``ValueError`` from the library's validation that a subcommand did not turn into one itself
    (the message names the argument, and the option when there is one of that name). What stops
    a valid command (CIFAR-10 cannot be had, the output directory is in use) is one line and
    status 1.

    >>> main(["train", "--steps", "10", "--out", "d", "--schedule", "cyclical"])
    Traceback (most recent call last):
    ...
    SystemExit: 2
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    from jaxsched._io import OutDirLockedError
    from jaxsched.train.metrics import TensorBoardUnavailableError, require_tensorboard
    from jaxsched.train.runner import IncompatibleRunError
    from jaxsched.workloads.cifar10 import DataUnavailableError

    sub: argparse.ArgumentParser = args.func.keywords.get("parser", parser)
    with _one_line_fallback_warnings(), _log_lines():
        try:
            if getattr(args, "tensorboard", None) is not None:
                require_tensorboard()  # before any data is fetched or run trained
            _join_job(args, sub)
            return int(args.func(args))
        except ValueError as err:
            sub.error(_flag_of(" ".join(str(err).split()), sub))
        except (DataUnavailableError, IncompatibleRunError, OutDirLockedError,
                TensorBoardUnavailableError) as err:
            print(f"{sub.prog}: error: {' '.join(str(err).split())}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
