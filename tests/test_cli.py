"""The `jaxsched` command: reproduce on the smoke preset, train errors, bench keys."""

import json
import subprocess
import sys

import pytest

from jaxsched import cli


@pytest.mark.slow  # the same smoke reproduction runs in tests/test_notebooks.py by default
def test_reproduce_smoke_writes_report_figures_and_resumes(tmp_path, capsys):
    out = tmp_path / "smoke"
    args = ["reproduce", "--preset", "smoke", "--out", str(out), "--data", "synthetic",
            "--no-progress"]
    assert cli.main(args) == 0
    report = (out / "REPORT.md").read_text()
    assert "Data: synthetic" in report and "NOT CIFAR-10" in report
    for label in ["Constant LR", "Linear Decay 25%", "Polyak Avg", "ScheduleFree (Exponential)"]:
        assert f"| {label} |" in report
    assert report.count("held**") + report.count("not evaluated**") >= 5
    figs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert figs == sorted(["decay_lengths.png", "decay_shapes.png", "averaging.png",
                           "schedule_free.png", "pareto.png", "final_vs_notes.png",
                           "regime.png"])
    assert "## Regime" in report and "Not in the notes' regime" in report  # smoke is a toy
    runs = list((out / "runs").iterdir())
    assert len(runs) == 13
    mtimes = {p.name: (p / "summary.json").stat().st_mtime for p in runs}
    capsys.readouterr()
    assert cli.main([*args, "--figures", "none"]) == 0
    assert {p.name: (p / "summary.json").stat().st_mtime for p in runs} == mtimes


def test_reproduce_passes_every_option_through(tmp_path, monkeypatch, capsys):
    from jaxsched.chapter import reproduce

    calls = []

    def fake(preset, out, **kwargs):
        calls.append((preset, out, kwargs))
        return tmp_path / "REPORT.md"

    monkeypatch.setattr(reproduce, "reproduce", fake)
    argv = ["reproduce", "--preset", "quick", "--out", str(tmp_path), "--seeds", "3",
            "--data", "synthetic", "--figures", "pareto", "averaging", "--no-group",
            "--readout", "class_token", "--no-progress"]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "REPORT.md")
    (preset, out, kw), = calls
    assert (preset, str(out)) == ("quick", str(tmp_path))
    assert kw["seeds"] == 3 and kw["data"] == "synthetic" and kw["group"] is False
    assert kw["figures"] == ["pareto", "averaging"] and kw["readout"] == "class_token"
    assert kw["progress"] is False
    calls.clear()
    assert cli.main(["reproduce", "--out", str(tmp_path)]) == 0
    (preset, _, kw), = calls
    assert preset == "quick" and kw["seeds"] == 1 and kw["group"] is True and kw["data"] == "auto"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--steps", "0", "--out", "x"], "--steps"),
        (["train", "--steps", "10", "--out", "x", "--optimizer", "sgd"], "--optimizer"),
        (["train", "--steps", "10", "--out", "x", "--schedule", "cosine_dekay"], "cosine_dekay"),
        (["train", "--steps", "10", "--out", "x", "--schedule", "stepwise_drop:fraction=2"],
         "fraction"),
        (["train", "--steps", "10", "--steps-this-run", "20", "--out", "x"], "steps_this_run"),
        (["train", "--steps", "10", "--out", "x", "--ema-decay", "1.5"], "ema_decay"),
        (["train", "--steps", "10", "--out", "x", "--data", "mnist"], "--data"),
        (["reproduce", "--preset", "huge", "--out", "x"], "--preset"),
        (["reproduce", "--out", "x", "--figures", "nope"], "figures"),
        (["reproduce", "--out", "x", "--seeds", "0"], "--seeds"),
    ],
)
def test_cli_errors_name_the_problem(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cifar10_without_the_archive_fails_clearly(tmp_path, monkeypatch, capsys):
    from jaxsched.workloads import cifar10 as data

    monkeypatch.setenv("JAXSCHED_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(data, "CIFAR10_URL", (tmp_path / "missing.tar.gz").as_uri())
    code = cli.main(["train", "--steps", "10", "--out", str(tmp_path / "o"), "--data", "cifar10",
                     "--no-progress"])
    assert code == 1
    assert "cifar-10" in capsys.readouterr().err.lower()


def test_console_script_runs(tmp_path):
    r = subprocess.run([sys.executable, "-m", "jaxsched.cli", "--help"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0
    for sub in ("plot", "reproduce", "train", "bench"):
        assert sub in r.stdout


def test_bench_json_has_the_fixed_keys(capsys):
    assert cli.main(["bench", "--json", "--tiny"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("steps_per_s", "naive_steps_per_s", "speedup", "gflops_per_s",
                "pct_of_matmul_peak"):
        assert out[key] > 0, key


def test_bench_sweep_projects_a_preset(capsys):
    from jaxsched.train import throughput as bench

    argv = ["bench", "--json", "--tiny", "--steps", "2", "--sweep", "2", "--project", "quick",
            "--project-seeds", "2"]
    assert cli.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sweep_k"] == 2 and out["sweep_speedup"] > 0
    assert out["projected_preset"] == "quick" and out["projected_runs"] == 26
    assert out["projected_groups"] == 5
    rates = out["sweep_run_steps_per_s"]
    assert out["projected_sequential_s"] == pytest.approx(out["projected_run_steps"] / rates["1"])
    assert out["projected_speedup"] == pytest.approx(
        out["projected_sequential_s"] / out["projected_grouped_s"]
    )
    assert bench.projected_seconds([[1000] * 2], rates) == pytest.approx(2000 / rates["2"])
    assert out["sweep_speedup_vs_notes_loop_by_k"]["2"] == pytest.approx(
        rates["2"] / out["naive_steps_per_s"]
    )


def test_bench_unknown_projection_preset_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "--sweep", "2", "--project", "huge"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--project" in err and "'huge'" in err
