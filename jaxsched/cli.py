"""The ``jaxsched`` command.

Each subcommand is a pair of small functions: ``_add_<name>(subparsers)`` declares its parser
and sets ``func`` to ``functools.partial(_run_<name>, parser=p)``, where
``_run_<name>(args, *, parser) -> int`` does the work and reports usage errors through
``parser.error``; :data:`SUBCOMMANDS` lists the
``_add_*`` functions in the order ``--help`` shows them. Usage errors (a bad schedule spec, a
non-positive ``--steps``, ...) print one line, ``jaxsched <cmd>: error: ...``, and exit with
status 2 as argparse does; no traceback.

Example::

    jaxsched plot "torch.cosine_annealing_lr:lr=0.1,T_max=100" --steps 150 --out cosine.png
"""

from __future__ import annotations

import argparse
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
    # Imported here so that `jaxsched --help` and other subcommands do not pay for jax+matplotlib.
    from jaxsched import plot

    if args.list:
        import inspect

        for name, factory in sorted(plot.available_schedules().items()):
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
        schedules = [plot.parse_schedule_spec(spec) for spec in args.schedules]
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


# --------------------------------------------------------------------------- main

SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_plot]
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``jaxsched`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Usage errors raise ``SystemExit(2)`` after a one-line message, as argparse does.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
