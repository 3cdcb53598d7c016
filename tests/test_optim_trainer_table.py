"""The trainer's optimizer table (``jaxsched.train.optimizers.OPTIMIZERS``): the schedule-free
family and AdamW are there, ``jaxsched train --optimizer`` offers them, each entry builds the
optimizer it names with the run's hyperparameters (traced, as the trainer passes them), and a
name means the same optimizer in the comparison's candidates."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import scan_optimizer

from jaxsched import optim
from jaxsched.cli import build_parser
from jaxsched.compare.candidates import BUILTIN
from jaxsched.train.config import RunConfig
from jaxsched.train.optimizers import OPTIMIZERS

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
        return scan_optimizer(opt, params, lambda p: jax.tree.map(lambda w: w**3, p), 12,
                              record=lambda p, s: optim.eval_params(s, p)["w"])[2]

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


def test_entries_take_the_learning_rate_as_a_number_too():
    """``jaxsched bench --task`` builds each entry as a user would, with a number for the
    learning rate: every entry trains as with the constant function of that number."""
    hp = dict(b1=0.8, b2=0.99, eps=1e-7, weight_decay=0.1, warmup_steps=0.0, ema_decay=0.9)
    params = {"w": jnp.linspace(-1.0, 1.0, 5)}

    def grad(p):
        return jax.tree.map(lambda w: w**3, p)

    for name, kind in OPTIMIZERS.items():
        h = {k: hp[k] for k in kind.hparams}
        got = scan_optimizer(kind.build(0.01, h), params, grad, 6)[0]["w"]
        want = scan_optimizer(kind.build(lambda k: 0.01, h), params, grad, 6)[0]["w"]
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, err_msg=name)
        assert np.max(np.abs(np.asarray(got) - np.asarray(params["w"]))) > 1e-3, name


def test_warmup_steps_is_refused_where_it_does_nothing():
    warm = RunConfig(optimizer="sf_adamw", steps=100, warmup_steps=10)
    assert warm.hparams()["warmup_steps"] == 10.0
    with pytest.raises(ValueError, match=r"warmup_steps=10 with optimizer='adam'"):
        RunConfig(optimizer="adam", steps=100, warmup_steps=10)
    with pytest.raises(ValueError, match="warmup_steps"):
        RunConfig(optimizer="sf_sgd", steps=100, warmup_steps=-1)


def test_adam_ema_is_the_notes_adam_at_zero_decay_and_adamw_like_with_it():
    """One meaning of ``adam_ema``: the notes' Adam inside an EMA, with AdamW's decoupled
    decay; at weight decay 0 exactly ``ema_average(adam)`` (the reproduction's runs)."""
    lr = lambda k: 0.01  # noqa: E731
    params = {"w": jnp.linspace(-1.0, 1.0, 5)}
    grads = {"w": jnp.linspace(0.3, -0.2, 5)}

    def final(opt):
        s, p = opt.init(params), params
        for _ in range(5):
            u, s = opt.update(grads, s, p)
            p = optax.apply_updates(p, u)
        return optim.eval_params(s, p)["w"]

    h = {"b1": 0.9, "b2": 0.999, "eps": 1e-6, "ema_decay": 0.9, "weight_decay": 0.0}
    ours = final(OPTIMIZERS["adam_ema"].build(lr, h))
    np.testing.assert_array_equal(ours, final(optim.ema_average(optim.adam(lr), decay=0.9)))
    decayed = final(OPTIMIZERS["adam_ema"].build(lr, {**h, "weight_decay": 0.1, "eps": 1e-8}))
    adamw = final(optim.ema_average(optax.adamw(lr, eps=1e-8, weight_decay=0.1), decay=0.9))
    np.testing.assert_allclose(decayed, adamw, rtol=1e-5)


def test_builtin_candidates_train_the_table_entry_of_their_name():
    for c in BUILTIN.values():
        assert c.optimizer in OPTIMIZERS
        if c.name in OPTIMIZERS:
            assert c.optimizer == c.name, c.name
        given = set(c.run_hparams(1e-3, 0.0, 100, 0)) | set(c.hparams)
        assert given == set(OPTIMIZERS[c.optimizer].hparams), c.name
