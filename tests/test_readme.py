"""The README's commands and code run as written.

* Every fenced ``python`` block runs on its own, in a fresh namespace (the snippets are meant to
  be copied one at a time), and does what its comments say.
* Every ``jaxsched`` command the README shows (fenced ``bash`` blocks and inline code) names an
  existing subcommand and existing flags, and parses when its values are concrete; the cheap
  ones run: ``jaxsched plot ... --out`` through this interpreter (``python -m jaxsched.cli``)
  with ``--out`` redirected to a temporary directory, ``plot --list`` and ``--help`` in
  process. Installing, the test suite itself and training commands are not run
  here: each is listed in ``NOT_RUN`` with the reason, and any other command fails the test
  until it is run or listed.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import optax
import pytest

from jaxsched import cli

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`(jaxsched [^`]+)`")

# Commands shown but not run by the tests, by their first words.
NOT_RUN = {
    "python3 -m venv": "creates a virtual environment (the tests already run in one)",
    ". .venv/bin/activate": "activates it",
    "pip install": "installs the package (the test environment is already installed)",
    "pytest": "the test suite itself",
    "jaxsched reproduce": "trains every run of a preset (tests/test_notebooks.py runs 'smoke')",
    "jaxsched train": "trains a TinyViT (covered by the trainer's own tests)",
    "jaxsched compare": "trains a grid (tests/test_compare_cli.py runs the regression smoke)",
    "JAX_COORDINATOR_ADDRESS=": "needs several hosts (tests/test_sharding.py covers 8 devices)",
}


# Metavariables the README uses in commands that stand for a user's value.
PLACEHOLDERS = {"P", "DIR", "M", "S", "N", "K", "FILE.png", "SCHEDULE..."}


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README) if lang == language]


def shell_commands() -> list[str]:
    """Every command of the fenced bash blocks (continuations joined, ``&&`` split)."""
    commands = []
    for body in blocks("bash"):
        for line in body.replace("\\\n", " ").splitlines():
            commands += [c.strip() for c in line.split("&&") if c.strip()]
    return commands


def jaxsched_commands() -> list[list[str]]:
    """Every ``jaxsched ...`` command of the README, fenced or inline, as argv lists."""
    found = [c for c in shell_commands() if c.startswith("jaxsched ")]
    found += INLINE.findall(README)
    return [shlex.split(c) for c in found]


def subparser(name: str) -> argparse.ArgumentParser:
    """The parser of ``jaxsched NAME``; the top-level parser for ``jaxsched --flag``."""
    parser = cli.build_parser()
    if name.startswith("-"):
        return parser
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert name in action.choices, f"README names an unknown subcommand: jaxsched {name}"
    return action.choices[name]


def not_run_reason(command: str) -> str | None:
    return next((why for prefix, why in NOT_RUN.items() if command.startswith(prefix)), None)


# ----------------------------------------------------------------------------- python blocks


def run_block(index: int) -> dict:
    source = blocks("python")[index]
    namespace: dict = {"__name__": f"readme_block_{index}"}
    exec(compile(source, f"README.md python block {index}", "exec"), namespace)
    return namespace


def test_readme_has_the_snippets():
    # 3 here, 2 found by text below, and the compare example (tests/test_compare_readme.py)
    assert len(blocks("python")) == 6
    assert len(jaxsched_commands()) >= 4


def test_schedule_in_an_optax_chain():
    ns = run_block(0)
    lr, tx = ns["lr"], ns["tx"]
    assert isinstance(tx, optax.GradientTransformation)
    # warmup over 1,000 steps to the cosine's peak, then the cosine over 9,000 more
    assert float(lr(0)) == 0.0
    assert float(lr(1_000)) == pytest.approx(3e-4)
    assert float(lr(5_500)) == pytest.approx(1.5e-4, rel=1e-5)
    assert float(lr(10_000)) == pytest.approx(0.0, abs=1e-12)
    params = {"w": jnp.ones(2)}
    state = tx.init(params)
    updates, _ = tx.update(params, state, params)  # the first step of the warmup has lr 0
    assert [float(u) for u in updates["w"]] == [0.0, 0.0]


def test_sweep_is_one_vmap():
    ns = run_block(1)
    table = ns["table"]
    assert table.shape == (3, 1000)  # as the comment says
    assert [float(v) for v in table[:, 0]] == pytest.approx([1e-4, 3e-4, 1e-3])
    assert float(table[2, 500]) == pytest.approx(5e-4)


def test_eval_params_snippet():
    ns = run_block(2)
    state, params, eval_p = ns["state"], ns["params"], ns["eval_p"]
    assert set(eval_p) == set(params) and eval_p["w"].shape == (3,)
    # One Adam step of 1e-3 against a gradient of ones moves every weight by -1e-3; the
    # debiased EMA of one iterate is that iterate.
    assert [float(v) for v in params["w"]] == pytest.approx([-1e-3] * 3, rel=1e-4)
    assert [float(v) for v in eval_p["w"]] == pytest.approx([-1e-3] * 3, rel=1e-4)
    assert int(state.count) == 1


def run_block_containing(text: str) -> dict:
    (index,) = [i for i, b in enumerate(blocks("python")) if text in b]
    return run_block(index)


def test_schedule_free_family_snippet():
    ns = run_block_containing("optim.schedule_free_radam(0.1)")
    # the loop's own assertion checked that eval_params improved the loss for both; the last
    # one (RAdam) ends with an average x distinct from its iterate y, below the start's 3.0
    x = ns["optim"].eval_params(ns["state"], ns["p"])
    assert float(ns["loss"](ns["params"])) == pytest.approx(3.0)
    assert float(ns["loss"](x)) < 0.9 * 3.0
    assert float(jnp.max(jnp.abs(x["w"] - ns["p"]["w"]))) > 1e-3


def test_anytime_average_snippet():
    ns = run_block_containing("power_ema_decay(gamma=6.94)")
    assert int(ns["state"].count) == 0 and ns["state"].average["w"].shape == (3,)


# ----------------------------------------------------------------------------- commands


def test_every_shell_command_is_run_or_excused():
    for command in shell_commands():
        if command.startswith("jaxsched plot") or command.startswith("jaxsched --help"):
            continue
        assert not_run_reason(command), f"README command neither tested nor excused: {command}"


@pytest.mark.parametrize("argv", jaxsched_commands(), ids=" ".join)
def test_commands_use_existing_subcommands_and_flags(argv):
    parser = subparser(argv[1])
    known = set(parser._option_string_actions)
    flags = [a.split("=")[0] for a in argv[2:] if a.startswith("--")]
    unknown = [f for f in flags if f not in known]
    assert not unknown, f"{' '.join(argv)}: unknown flags {unknown}"
    if not PLACEHOLDERS & set(argv):
        # concrete values: the whole command line parses (choices such as the optimizer or
        # the preset exist, numbers are numbers); nothing runs
        cli.build_parser().parse_args(argv[1:])


def test_other_reproduce_flags_exist():
    paragraph = README[README.index("Other flags:"):].split("\n\n")[0]
    flags = set(re.findall(r"`(--[a-z-]+)", paragraph))
    assert {"--seeds", "--data", "--figures", "--readout", "--no-group"} <= flags
    known = set(subparser("reproduce")._option_string_actions)
    assert flags <= known, flags - known


def run_cli(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jaxsched.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=240)


def test_plot_commands_run(tmp_path):
    plots = [argv for argv in jaxsched_commands() if argv[1] == "plot" and "--out" in argv]
    assert plots
    for n, argv in enumerate(plots):
        args = list(argv[1:])
        out = tmp_path / f"plot{n}.png"
        args[args.index("--out") + 1] = str(out)
        done = run_cli(args)
        assert done.returncode == 0, done.stderr
        assert out.read_bytes()[:8] == PNG_MAGIC


def test_plot_list_and_help(capsys):
    listed = [argv for argv in jaxsched_commands() if argv[1:] == ["plot", "--list"]]
    assert listed
    assert cli.main(["plot", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("warmup_cosine_decay", "torch.cosine_annealing_warm_restarts",
                 "sambaflow.cosine_schedule_with_warmup"):
        assert name in out
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for sub in ("reproduce", "train", "plot", "bench"):
        assert sub in out


def test_every_test_the_readme_cites_exists():
    cited = re.findall(r"`(tests/[\w/]+\.py)((?:::\w+)?)`((?:, `::\w+`)*)", README)
    assert cited
    for path, first, more in cited:
        source = (REPO / path).read_text()
        for name in [first, *re.findall(r"`(::\w+)`", more)]:
            if name:
                assert f"def {name[2:]}(" in source, f"{path}{name}"


def test_the_cifar_checksum_is_the_loaders():
    from jaxsched.workloads.cifar10 import CIFAR10_MD5

    assert re.findall(r"md5\s+`([0-9a-f]{32})`", README) == [CIFAR10_MD5]
