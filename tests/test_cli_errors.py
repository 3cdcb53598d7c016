"""Bad input to every `jaxsched` subcommand: exit status 2, one line naming the argument.

Each case runs in process and stops at argument checking, before any data is loaded or any run
trains; the message must be a single line (no traceback) that names the argument (the flag, or
the spec argument inside --schedule / a SCHEDULE).
"""

from __future__ import annotations

import pytest

from jaxsched import cli

T = ["train", "--steps", "10", "--out", "d"]  # a valid train command line to spoil
P = ["plot", "--steps", "10", "--out", "x.png"]
R = ["reproduce", "--out", "d"]

CASES = [
    # train: bad values
    ("train-steps-zero", ["train", "--steps", "0", "--out", "d"], "argument --steps"),
    ("train-steps-text", ["train", "--steps", "ten", "--out", "d"], "argument --steps"),
    ("train-lr-negative", [*T, "--lr", "-0.1"], "argument --lr: lr must be >= 0"),
    ("train-lr-text", [*T, "--lr", "fast"], "argument --lr"),
    ("train-lr-nan", [*T, "--lr", "nan"], "argument --lr"),
    ("train-b1-one", [*T, "--b1", "1.0"], "argument --b1"),
    ("train-b2-negative", [*T, "--b2", "-0.5"], "argument --b2"),
    ("train-eps-zero", [*T, "--eps", "0"], "argument --eps"),
    ("train-weight-decay", [*T, "--weight-decay", "-1"], "argument --weight-decay"),
    ("train-batch-size", [*T, "--batch-size", "0"], "argument --batch-size"),
    ("train-seed", [*T, "--seed", "-2"], "argument --seed"),
    ("train-seeds", [*T, "--seeds", "0"], "argument --seeds"),
    ("train-eval-every", [*T, "--eval-every", "0"], "argument --eval-every"),
    ("train-eval-examples", [*T, "--eval-examples", "-5"], "argument --eval-examples"),
    ("train-chunk-size", [*T, "--chunk-size", "0"], "argument --chunk-size"),
    ("train-steps-this-run", [*T, "--steps-this-run", "11"], "argument --steps-this-run"),
    # train: unknown names
    ("train-optimizer", [*T, "--optimizer", "sgd"], "argument --optimizer"),
    ("train-model", [*T, "--model", "huge"], "argument --model"),
    ("train-readout", [*T, "--readout", "mean"], "argument --readout"),
    ("train-data", [*T, "--data", "mnist"], "argument --data"),
    ("train-unknown-flag", [*T, "--learning-rate", "0.1"], "--learning-rate"),
    ("train-schedule-name", [*T, "--schedule", "cosine"], "unknown schedule 'cosine'"),
    ("train-schedule-arg", [*T, "--schedule", "cosine_decay:peek=1"], "no argument 'peek'"),
    ("train-schedule-value", [*T, "--schedule", "cosine_decay:end_value=low"], "end_value"),
    ("train-schedule-range", [*T, "--schedule", "stepwise_drop:fraction=2"], "fraction"),
    ("train-schedule-syntax", [*T, "--schedule", "multistep:milestones=[5"], "unclosed"),
    ("train-schedule-nested", [*T, "--schedule", "warmup:schedule=(nope),warmup_steps=2"],
     "unknown schedule 'nope'"),
    # train: missing arguments
    ("train-missing-steps", ["train", "--out", "d"], "required: --steps"),
    ("train-missing-out", ["train", "--steps", "10"], "required: --out"),
    ("train-missing-spec-arg", [*T, "--schedule", "step_decay"], "needs the argument step_size"),
    ("train-missing-nested", [*T, "--schedule", "join:boundaries=[5]"],
     "needs the argument schedules"),
    ("train-missing-value", [*T, "--lr"], "argument --lr: expected one argument"),
    # plot
    ("plot-unknown", [*P[:1], "cosine", *P[1:]], "unknown schedule 'cosine'"),
    ("plot-bad-arg", [*P[:1], "constant:value=x", *P[1:]], "bad value 'x' for value"),
    ("plot-nested-combinator", [*P[:1], "product:schedules=[(constant:value=-1)]", *P[1:]],
     "value"),
    ("plot-steps", ["plot", "constant:value=1", "--steps", "-1", "--out", "x.png"],
     "argument --steps"),
    ("plot-suffix", ["plot", "constant:value=1", "--steps", "5", "--out", "x.txt"], "--out"),
    ("plot-missing-steps", ["plot", "constant:value=1", "--out", "x.png"], "--steps"),
    # reproduce
    ("reproduce-preset", [*R, "--preset", "tiny"], "argument --preset"),
    ("reproduce-figures", [*R, "--figures", "loss"], "argument --figures"),
    ("reproduce-seeds", [*R, "--seeds", "-1"], "argument --seeds"),
    ("reproduce-data", [*R, "--data", "imagenet"], "argument --data"),
    ("reproduce-missing-out", ["reproduce"], "required: --out"),
    # bench
    ("bench-project", ["bench", "--sweep", "2", "--project", "huge"], "--project"),
    ("bench-steps", ["bench", "--steps", "0"], "argument --steps"),
    ("bench-sweep", ["bench", "--sweep", "0"], "argument --sweep"),
    ("bench-project-seeds", ["bench", "--project-seeds", "x"], "argument --project-seeds"),
    ("bench-unknown-flag", ["bench", "--fast"], "--fast"),
    # the command itself
    ("no-command", [], "required: COMMAND"),
    ("unknown-command", ["fit"], "invalid choice: 'fit'"),
]


@pytest.mark.parametrize(("argv", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_line_naming_the_argument(argv, needle, capsys, tmp_path,
                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    out = capsys.readouterr()
    assert out.err.count("\n") == 1, out.err
    assert "Traceback" not in out.err and out.err.startswith("jaxsched")
    assert needle in out.err, out.err
    assert list(tmp_path.iterdir()) == []  # nothing was written


def test_enough_distinct_bad_inputs():
    assert len({tuple(c[1]) for c in CASES}) >= 25


@pytest.mark.parametrize("command", ["train", "reproduce"])
def test_out_that_is_a_file_is_refused(command, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    argv = [command, "--out", str(blocker)] + (["--steps", "10"] if command == "train" else [])
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --out" in err and "is a file" in err
    assert blocker.read_text() == ""


def test_plot_out_under_a_file_exits_1_in_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    rc = cli.main(["plot", "constant:value=0.1", "--steps", "5", "--out", str(blocker / "x.png")])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and "--out" in err


def test_a_library_value_error_becomes_one_line(monkeypatch, capsys):
    # A subcommand body that lets a ValueError through still ends in one line, exit 2.
    from jaxsched.workloads import bench

    def refuse(**kwargs):
        raise ValueError("steps must be >= 1, got steps=0")

    monkeypatch.setattr(bench, "run_bench", refuse)
    with pytest.raises(SystemExit) as info:
        cli.main(["bench", "--tiny"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    # the message names `steps`, and bench has a --steps option: the flag is named too
    assert err.startswith("jaxsched bench: error: argument --steps: steps must be >= 1")
    assert err.count("\n") == 1
