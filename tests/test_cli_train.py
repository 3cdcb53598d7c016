"""`jaxsched train --schedule KIND[:k=v,...]` for every registry kind, without training.

The CLI path up to the run configs is exercised for real (flag parsing, the spec grammar, the
registry's peak and horizon, RunConfig's validation); the data and the Runner are replaced by
stand-ins that record the configs, whose schedules are then evaluated on a few steps.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import jaxsched.schedules as S
from jaxsched import cli
from jaxsched.train import runner as runner_lib

# What each kind needs beyond --lr (its peak) and --steps (its horizon), as spec arguments.
EXTRA = {
    "constant": "",
    "linear_decay": "",
    "cosine_decay": "",
    "polynomial_decay": "power=2",
    "stepwise_drop": "fraction=0.5",
    "step_decay": "step_size=5",
    "multistep": "milestones=[5;10]",
    "piecewise_constant": "boundaries_and_scales={5:0.5}",
    "exponential_decay": "decay_rate=0.9",
    "natural_exp_decay": "decay_rate=0.1",
    "inverse_sqrt": "",
    "inverse_time": "decay_rate=0.5",
    "cosine_restarts": "period=8",
    "cyclical": "base_lr=1e-4,step_size_up=4",
    "one_cycle": "",
    "warmup_linear_decay": "warmup_steps=4",
    "warmup_cosine_decay": "warmup_steps=4",
    "warmup_stable_decay": "warmup_steps=4,cooldown_steps=6",
    "warmup": "schedule=(cosine_decay:peak=1e-3,decay_steps=16),warmup_steps=4",
    "join": "schedules=[(constant:value=1e-3);(linear_decay:peak=1e-3,decay_steps=10)],"
    "boundaries=[10]",
    "product": "schedules=[(cosine_decay:peak=1.0,decay_steps=20);1e-3]",
    "lr_noise": "schedule=(cosine_decay:peak=5e-4,decay_steps=20),noise_pct=0.5,seed=3",
}


class _Data:
    name = "synthetic"


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

    monkeypatch.setattr(cli, "_load_data", lambda *a, **k: _Data())
    monkeypatch.setattr(runner_lib, "Runner", FakeRunner)
    return configs


def test_every_kind_has_a_case():
    assert set(EXTRA) == set(S.KINDS)


@pytest.mark.parametrize("kind", sorted(EXTRA))
def test_every_kind_trains_from_the_cli(kind, captured, tmp_path):
    spec = f"{kind}:{EXTRA[kind]}" if EXTRA[kind] else kind
    argv = ["train", "--schedule", spec, "--steps", "20", "--lr", "1e-3", "--out", str(tmp_path),
            "--model", "smoke", "--data", "synthetic", "--no-progress"]
    assert cli.main(argv) == 0
    (cfg,) = captured
    k = S.KINDS[kind]
    args = cfg.schedule_arguments()
    if k.peak:
        assert args[k.peak] == (1e-3 if k.peak not in EXTRA[kind] else args[k.peak])
    if k.horizon:
        assert args[k.horizon] == 20
    table = cfg.lr_table()
    assert table.shape == (20,) and np.all(np.isfinite(table)) and np.all(table >= 0)
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


@pytest.mark.parametrize("kind", sorted(EXTRA))
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
