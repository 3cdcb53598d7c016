"""`jaxsched train --schedule KIND[:k=v,...]` for every registry kind, without training.

The CLI path up to the run configs is exercised for real (flag parsing, the spec grammar, the
registry's peak and horizon and each kind's registered example, RunConfig's validation); the
data is a tiny synthetic set and the Runner a stand-in that records the configs, whose
schedules are then evaluated.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import jaxsched.schedules as S
from jaxsched import cli
from jaxsched.train import runner as runner_lib
from jaxsched.workloads import image
from jaxsched.workloads import standin as data_lib

STEPS = 200  # the horizon the registry's examples are written for
KINDS = sorted(S.KINDS)


def _spec(kind: str) -> str:
    example = S.KINDS[kind].example
    return f"{kind}:{example}" if example else kind


@pytest.fixture
def captured(monkeypatch):
    """The RunConfigs `jaxsched train` would train, captured instead of trained."""
    configs = []

    class FakeRunner:
        def __init__(self, *args, **kwargs):
            pass

        def run(self, cfgs):
            configs.extend(cfgs)
            return []

    tiny = data_lib.synthetic(n_train=32, n_test=8)
    monkeypatch.setattr(image.ImageSize, "load_data", lambda self, *a, **k: tiny)
    monkeypatch.setattr(runner_lib, "Runner", FakeRunner)
    return configs


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_trains_from_the_cli(kind, captured, tmp_path):
    argv = ["train", "--schedule", _spec(kind), "--steps", str(STEPS), "--lr", "1e-3",
            "--out", str(tmp_path), "--model", "smoke", "--data", "synthetic", "--no-progress"]
    assert cli.main(argv) == 0
    (cfg,) = captured
    k = S.KINDS[kind]
    args = cfg.schedule_arguments()
    if k.peak:
        assert args[k.peak] == 1e-3
    if k.horizon:
        assert args[k.horizon] == STEPS
    table = cfg.lr_table()
    assert table.shape == (STEPS,) and np.all(np.isfinite(table)) and np.all(table >= 0)
    if k.peak:
        assert table.max() <= 1e-3 * (1 + 1e-6)


def test_peak_and_horizon_come_from_lr_and_steps(captured, tmp_path):
    argv = ["train", "--schedule", "cosine_decay", "--steps", "20", "--lr", "0.5", "--out",
            str(tmp_path), "--model", "smoke", "--data", "synthetic", "--no-progress"]
    assert cli.main(argv) == 0
    table = captured[0].lr_table()
    assert table[0] == pytest.approx(0.5) and table[10] == pytest.approx(0.25)


def test_inverse_time_decay_steps_is_not_the_horizon(captured, tmp_path):
    argv = ["train", "--schedule", "inverse_time:decay_rate=1", "--steps", "20", "--out",
            str(tmp_path), "--model", "smoke", "--data", "synthetic", "--no-progress"]
    assert cli.main(argv) == 0
    (cfg,) = captured
    assert "decay_steps" not in cfg.schedule_arguments()
    # lr / (1 + t / 1): the default time unit of one step, not the 20-step horizon.
    assert cfg.lr_table()[1] == pytest.approx(1e-3 / 2)


@pytest.mark.parametrize("kind", KINDS)
def test_a_bare_kind_works_or_names_what_it_misses(kind, captured, tmp_path, capsys):
    argv = ["train", "--schedule", kind, "--steps", "20", "--out", str(tmp_path)]
    required = [
        n for n, p in inspect.signature(S.KINDS[kind].fn).parameters.items()
        if p.default is inspect.Parameter.empty and n not in (S.KINDS[kind].peak,
                                                             S.KINDS[kind].horizon)
    ]
    if not required:
        assert cli.main([*argv, "--model", "smoke", "--data", "synthetic", "--no-progress"]) == 0
        return
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("jaxsched train: error: argument --schedule:")
    assert f"needs the argument{'s' if len(required) > 1 else ''} {', '.join(required)}" in err
