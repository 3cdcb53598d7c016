"""The trainer's optimizer table (``jaxsched.train.config.OPTIMIZERS``): the schedule-free family
and AdamW are there, ``jaxsched train --optimizer`` offers them, and each entry builds the
optimizer it names with the run's hyperparameters (traced, as the trainer passes them)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxsched import optim
from jaxsched.cli import build_parser
from jaxsched.train.config import OPTIMIZERS, RunConfig

NEW = ("adamw", "sf_adamw", "sf_sgd", "sf_radam")


def test_table_has_the_family_and_the_cli_lists_it():
    assert set(NEW) <= set(OPTIMIZERS)
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    action = next(a for a in train._actions if "--optimizer" in a.option_strings)
    assert set(NEW) <= set(action.choices)
    for name in NEW:
        assert OPTIMIZERS[name].record_eval_loss == name.startswith("sf_")
        assert OPTIMIZERS[name].description


def test_entries_build_the_optimizers_they_name():
    lr = lambda k: 0.01 * (1.0 - k / 100.0)  # noqa: E731
    direct = {
        "adamw": optax.adamw(lr, b1=0.8, b2=0.99, eps=1e-7, weight_decay=0.1),
        "sf_adamw": optim.schedule_free_adamw(
            lr, b1=0.8, b2=0.99, eps=1e-7, weight_decay=0.1, warmup_steps=5
        ),
        "sf_sgd": optim.schedule_free_sgd(lr, b1=0.8, weight_decay=0.1, warmup_steps=5),
        "sf_radam": optim.schedule_free_radam(lr, b1=0.8, b2=0.99, eps=1e-7, weight_decay=0.1),
    }
    params = {"w": jnp.linspace(-1.0, 1.0, 5)}

    def run(opt):
        def body(carry, _):
            p, s = carry
            u, s = opt.update(jax.tree.map(lambda w: w**3, p), s, p)
            p = optax.apply_updates(p, u)
            return (p, s), optim.eval_params(s, p)["w"]

        return jax.lax.scan(body, (params, opt.init(params)), None, length=12)[1]

    def from_table(hp):
        out = {}
        for name in NEW:
            warm = 5 if name in ("sf_adamw", "sf_sgd") else 0
            cfg = RunConfig(optimizer=name, b1=0.8, b2=0.99, eps=1e-7, weight_decay=0.1,
                            warmup_steps=warm, steps=100)
            h = {k: hp[k] for k in cfg.kind.hparams}
            out[name] = run(cfg.make_optimizer(lr, h))
        return out

    values = dict(b1=0.8, b2=0.99, eps=1e-7, weight_decay=0.1, warmup_steps=5.0)
    hp = {k: jnp.asarray(v) for k, v in values.items()}
    table, ours = jax.jit(lambda hp: (from_table(hp), {n: run(o) for n, o in direct.items()}))(hp)
    for name in NEW:
        np.testing.assert_allclose(np.asarray(table[name]), np.asarray(ours[name]), rtol=1e-6)
        assert np.max(np.abs(np.asarray(table[name][-1]) - np.asarray(params["w"]))) > 1e-3


def test_warmup_steps_is_keyed_only_when_set_and_refused_where_it_does_nothing():
    plain = RunConfig(optimizer="sf_adamw", steps=100)
    assert "warmup_steps" not in plain.to_dict()  # run ids from before the field stay valid
    assert RunConfig.from_dict(plain.to_dict()) == plain
    warm = RunConfig(optimizer="sf_adamw", steps=100, warmup_steps=10)
    assert warm.to_dict()["warmup_steps"] == 10 and warm.run_id() != plain.run_id()
    assert warm.hparams()["warmup_steps"] == 10.0
    with pytest.raises(ValueError, match=r"warmup_steps=10 with optimizer='adam'"):
        RunConfig(optimizer="adam", steps=100, warmup_steps=10)
    with pytest.raises(ValueError, match="warmup_steps"):
        RunConfig(optimizer="sf_sgd", steps=100, warmup_steps=-1)
