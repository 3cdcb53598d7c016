"""`jaxsched plot`: the command draws schedules into a PNG; usage errors exit 2 in one line."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from jaxsched import cli

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WARMUP_COSINE = "warmup_cosine_decay:peak=0.1,warmup_steps=100,total_steps=1000@warmup + cosine"
RESTARTS = "cosine_restarts:peak=0.1,period=200,period_mult=2,end_value=1e-5"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return struct.unpack(">II", data[16:24])


def test_plot_writes_png(tmp_path, capsys):
    out = tmp_path / "figs" / "lr.png"
    rc = cli.main(
        [
            "plot",
            WARMUP_COSINE,
            RESTARTS,
            "--steps",
            "1200",
            "--out",
            str(out),
            "--log",
            "--title",
            "seed 004",
        ]
    )
    assert rc == 0
    w, h = png_size(out)
    assert w > 600 and h > 300
    assert capsys.readouterr().out.strip() == str(out)


SEED_004 = [
    "sambaflow.cosine_schedule_with_warmup:learning_rate=0.1,warmup_steps=100,max_steps=1000",
    "torch.cosine_annealing_lr:lr=0.1,T_max=1000",
    "torch.cosine_annealing_warm_restarts:lr=0.1,T_0=200,T_mult=2",
]


def test_plot_seed_004_twins(tmp_path):
    out = tmp_path / "seed004.png"
    assert cli.main(["plot", *SEED_004, "--steps", "1200", "--out", str(out), "--log"]) == 0
    w, h = png_size(out)
    assert w > 600 and h > 300


def test_plot_epochs(tmp_path):
    out = tmp_path / "lr.png"
    rc = cli.main(
        [
            "plot",
            "step_decay:peak=0.1,step_size=30",
            "--steps",
            "90",
            "--steps-per-epoch",
            "10",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    png_size(out)


def test_plot_list(capsys):
    assert cli.main(["plot", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("warmup_cosine_decay(peak") for line in lines)


def run_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line, no traceback
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (
            ["plot", "cosine_decy:peak=1,decay_steps=10", "--steps", "10", "--out", "x.png"],
            "unknown schedule 'cosine_decy'; did you mean 'cosine_decay'",
        ),
        (
            ["plot", "cosine_decay:peak=1,decay_steps=10,foo=1", "--steps", "10", "--out", "x.png"],
            "cosine_decay has no argument 'foo'",
        ),
        (
            ["plot", "cosine_decay:peak=1,decay_steps=ten", "--steps", "10", "--out", "x.png"],
            "bad value 'ten' for decay_steps",
        ),
        (
            ["plot", "cosine_decay:peak=-1,decay_steps=10", "--steps", "10", "--out", "x.png"],
            "peak",
        ),
        (
            ["plot", "cosine_decay:peak=1,decay_steps=10", "--steps", "0", "--out", "x.png"],
            "argument --steps: must be a positive integer, got 0",
        ),
        (
            ["plot", "cosine_decay:peak=1,decay_steps=10", "--steps", "1e3", "--out", "x.png"],
            "argument --steps: expected a positive integer, got '1e3'",
        ),
        (
            ["plot", "cosine_decay:peak=1,decay_steps=10", "--steps", "10", "--out", "x.jpg"],
            "--out must be a .png file, got 'x.jpg'",
        ),
        (["plot", "cosine_decay:peak=1,decay_steps=10", "--out", "x.png"], "required: --steps"),
        (["plot", "cosine_decay:peak=1,decay_steps=10", "--steps", "10"], "required: --out"),
        (["plot", "--steps", "10", "--out", "x.png"], "give at least one SCHEDULE"),
        (
            [
                "plot",
                "cosine_decay:peak=1,decay_steps=10",
                "--steps",
                "10",
                "--out",
                "x.png",
                "--steps-per-epoch",
                "-3",
            ],
            "argument --steps-per-epoch: must be a positive integer",
        ),
        (["nosuchcommand"], "invalid choice: 'nosuchcommand'"),
        ([], "required: COMMAND"),
    ],
)
def test_plot_usage_errors_exit_2_in_one_line(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = run_error(argv, capsys)
    assert err.startswith("jaxsched")
    assert needle in err
    assert list(tmp_path.iterdir()) == []


def test_plot_unwritable_out_exits_1(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    rc = cli.main(["plot", "constant:value=0.1", "--steps", "5", "--out", str(blocker / "lr.png")])
    assert rc == 1
    err = capsys.readouterr().err
    assert err.startswith("jaxsched plot: error: cannot write --out") and err.count("\n") == 1


def test_plot_as_a_subprocess(tmp_path):
    out = tmp_path / "lr.png"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jaxsched.cli",
            "plot",
            WARMUP_COSINE,
            "cosine_decay:peak=0.1,decay_steps=1000",
            "--steps",
            "1000",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)
    png_size(out)
