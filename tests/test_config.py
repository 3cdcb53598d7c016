"""Run configs: validation, keys, the learning-rate tables of the notes' runs, grouping."""

import dataclasses

import numpy as np
import pytest

from jaxsched.chapter import alchemist
from jaxsched.train.config import RunConfig
from jaxsched.workloads.image import SIZES


def test_lr_tables_match_the_notes_lambdas():
    t = np.arange(1000, dtype=np.float64)
    lin = RunConfig(schedule="linear_decay", steps=1000).lr_table()
    np.testing.assert_allclose(lin, 0.001 * (1 - t / 1000), rtol=1e-6, atol=1e-9)
    cos = RunConfig(schedule="cosine_decay", steps=1000).lr_table()
    np.testing.assert_allclose(cos, 0.001 * 0.5 * (1 + np.cos(np.pi * t / 1000)), atol=1e-9)
    drop = RunConfig(schedule="stepwise_drop", schedule_kwargs={"fraction": 0.25}, steps=1000)
    np.testing.assert_allclose(drop.lr_table(), 0.001 * np.where(t / 1000 > 0.25, 0.1, 1.0))
    const = RunConfig(steps=10).lr_table()
    assert const.dtype == np.float32 and const.shape == (10,) and np.all(const == np.float32(1e-3))


def test_steps_this_run_truncates_training_not_the_schedule():
    full = RunConfig(schedule="linear_decay", steps=100).lr_table()
    part = RunConfig(schedule="linear_decay", steps=100, steps_this_run=40).lr_table()
    assert part.shape == (40,)
    np.testing.assert_array_equal(part, full[:40])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"optimizer": "sgd"}, "optimizer"),
        ({"steps": 0}, "steps"),
        ({"steps": 10, "steps_this_run": 11}, "steps_this_run"),
        ({"lr": -1.0}, "lr"),
        ({"b1": 1.0}, "b1"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"eps": 0.0}, "eps"),
        ({"schedule": "nope"}, "nope"),
        ({"schedule": "stepwise_drop", "schedule_kwargs": {"fraction": 1.5}}, "fraction"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_configs_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RunConfig(**kwargs)


def test_name_and_dict_say_what_the_run_is():
    a = RunConfig(schedule="cosine_decay", steps=500)
    assert a.name() == "adam-cosine_decay-500-s0"
    assert a.to_dict() == RunConfig(schedule="cosine_decay", steps=500).to_dict()
    for change in [{"seed": 1}, {"lr": 2e-3}, {"steps_this_run": 100}, {"ema_decay": 0.99},
                   {"warmup_steps": 0, "optimizer": "sf_adamw"}]:
        assert dataclasses.replace(a, **change).to_dict() != a.to_dict(), change


def test_dict_round_trip():
    cfg = RunConfig(optimizer="adam_ema", schedule="stepwise_drop",
                    schedule_kwargs={"fraction": 0.75}, steps=200, ema_decay=0.99)
    again = RunConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.to_dict() == cfg.to_dict()
    with pytest.raises(ValueError, match="unknown RunConfig fields"):
        RunConfig.from_dict({**cfg.to_dict(), "typo": 1})


def test_group_key_separates_structure_not_hyperparameters():
    base = RunConfig(steps=100)
    same = [dataclasses.replace(base, schedule="linear_decay", seed=3, lr=5e-4, steps=50)]
    other = [dataclasses.replace(base, optimizer="adam_ema"),
             dataclasses.replace(base, optimizer="sf_adamw")]
    assert all(c.group_key() == base.group_key() for c in same)
    assert all(c.group_key() != base.group_key() for c in other)


def test_presets_scale_the_notes_runs():
    p = alchemist.preset("tinyvit", "cpu")
    runs = alchemist.all_runs(p, seeds=2)
    assert set(runs) == set(alchemist.RUNS)
    lin25 = runs["Linear Decay 25%"][1]
    assert lin25.steps == p.steps // 4 and lin25.seed == 1
    ema = runs["Exp Avg (0.9999)"][0]
    # Same averaging window as a fraction of the horizon: (1 - decay) * steps is preserved.
    assert (1 - ema.ema_decay) * p.steps == pytest.approx((1 - 0.9999) * 100_000)
    assert alchemist.preset("tinyvit", "full").window == 1000
    assert alchemist.preset("tinyvit", "full").ema_decay(0.9999) == pytest.approx(0.9999)
    names = [c.name() for cs in runs.values() for c in cs]
    assert len(names) == len(set(names)) == 2 * len(alchemist.RUNS)
    fast = runs["Exp Avg (0.999)"][1]
    assert f"adam_ema-ema{fast.ema_decay:g}-constant-{p.steps}-s1" in names


def test_the_reproduction_guide_table_matches_the_presets():
    import re
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[1] / "docs/guide/reproduction.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| (.*?) \| ([\d,]+) steps \|", guide, re.M)
    presets = alchemist.presets("tinyvit")
    assert [r[0] for r in rows] == list(presets)
    for name, model, steps in rows:
        p, size = presets[name], SIZES[name]
        assert int(steps.replace(",", "")) == p.steps, name
        assert f"batch {size.batch_size}" in model, name
        tiny = size.model
        if "the notes' TinyViT" in model:
            assert (tiny.features, tiny.num_blocks) == (128, 4), name
        else:
            assert f"width {tiny.features}" in model, name
