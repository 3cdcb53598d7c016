"""The anytime comparison: rows equal a plain optax loop, WSD branches equal WSD runs, outputs.

The reference is a plain Python loop written here with optax and jaxsched.optim directly (no
runner, no group, no table): for seed ``s``, ``key, pkey = split(key(s))``, params from
``init(pkey)``, and at step ``t`` the batch and dropout keys are ``split(fold_in(key, t))``
(the group loop's keying, documented in jaxsched.train.loop).
"""

from __future__ import annotations

import csv

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxsched import compare, optim
from jaxsched.compare import candidates as cands
from jaxsched.compare import report

D = 3
TARGET = jnp.array([1.0, -2.0, 0.5])


def _task() -> compare.Task:
    """Deterministic given its keys: noisy linear regression, a dropout-like mask from the key."""

    def init(key):
        return {"w": jax.random.normal(key, (D,)), "b": jnp.zeros(())}

    def sample(key):
        kx, kn = jax.random.split(key)
        x = jax.random.normal(kx, (8, D))
        return x, x @ TARGET + 0.3 * jax.random.normal(kn, (8,))

    def loss(params, batch, key):
        x, y = batch
        keep = jax.random.bernoulli(key, 0.9, (D,)).astype(jnp.float32)
        return jnp.mean((x @ (params["w"] * keep) + params["b"] - y) ** 2)

    return compare.Task(init, loss, sample)


TASK = _task()
LRS = (0.05, 0.2)
HORIZONS = (5, 10)
SEEDS = 2
T_MAX = max(HORIZONS)


def wsd_schedule(lr, T, w=0):
    c = round(0.2 * T)

    def sched(t):
        x = jnp.clip((t - (T - c)) / c, 0.0, 1.0)
        stable = jnp.where(t < T - c, lr, lr * (1.0 - jnp.sqrt(x)))
        return jnp.where(t < w, lr * t / max(w, 1), stable)

    return sched


def reference_optimizer(name, lr, T, warmup):
    """The candidate as its table in the issue says, built directly from optax / optim."""
    adamw = dict(b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0)
    w = round(warmup * T)
    w_max = round(warmup * T_MAX)
    decay = cands.ema_decay(T_MAX)

    def warm(sched, steps):
        if steps == 0:
            return sched
        return optax.join_schedules([optax.linear_schedule(0.0, lr, steps), sched], [steps])

    if name == "cosine":
        return optax.adamw(optax.warmup_cosine_decay_schedule(0.0, lr, w, T) if w else
                           optax.cosine_decay_schedule(lr, T), **adamw)
    if name == "linear":
        return optax.adamw(warm(optax.linear_schedule(lr, 0.0, T - w), w), **adamw)
    if name == "wsd":
        return optax.adamw(wsd_schedule(lr, T), **adamw)
    if name == "constant":
        return optax.adamw(warm(optax.constant_schedule(lr), w_max), **adamw)
    if name == "sf_adamw":
        return optim.schedule_free_adamw(lr, warmup_steps=w_max)
    if name == "sf_adam_ema":
        return optim.schedule_free_adam(warm(optax.constant_schedule(lr), w_max),
                                        average="ema", ema_decay=decay)
    if name == "adam_ema":  # the notes' Adam at eps 1e-8; AdamW's decay is 0 here
        return optim.ema_average(optim.adam(warm(optax.constant_schedule(lr), w_max), eps=1e-8),
                                 decay=decay)
    raise AssertionError(name)


def plain_loop(opt, seed, steps, eval_at):
    """Loss of ``TASK.metrics`` at eval_params after each step in ``eval_at``."""
    key, pkey = jax.random.split(jax.random.key(seed, impl="threefry2x32"))
    params = TASK.init(pkey)
    state = opt.init(params)

    def step(params, state, t):  # eager: a compile per run would cost more than the run
        dk, drk = jax.random.split(jax.random.fold_in(key, t))
        grads = jax.grad(TASK.loss)(params, TASK.sample(dk), drk)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    out = {}
    for t in range(steps):
        params, state = step(params, state, t)
        if t + 1 in eval_at:
            out[t + 1] = float(TASK.metrics(optim.eval_params(state, params))["loss"])
    return out


@pytest.fixture(scope="module")
def grouped(tmp_path_factory):
    out = tmp_path_factory.mktemp("grouped")
    res = compare.run(TASK, candidates=list(cands.BUILTIN), lrs=LRS, horizons=HORIZONS,
                      seeds=SEEDS, eval_every=5, out=out, log=lambda m: None)
    return res, out


def test_every_row_at_its_horizon_equals_a_plain_optax_loop(grouped):
    res, _ = grouped
    finals = res.final()
    assert len(finals) == len(cands.BUILTIN) * len(LRS) * len(HORIZONS)
    for name in cands.BUILTIN:
        anytime = cands.BUILTIN[name].anytime
        for lr in LRS:
            for seed in range(SEEDS):
                if anytime:  # one run, evaluated at every horizon
                    ref = plain_loop(reference_optimizer(name, lr, T_MAX, 0.0), seed, T_MAX,
                                     HORIZONS)
                for h in HORIZONS:
                    if not anytime:
                        ref = plain_loop(reference_optimizer(name, lr, h, 0.0), seed, h, {h})
                    got = finals[(name, lr, h)][seed]
                    np.testing.assert_allclose(got, ref[h], rtol=2e-5, atol=1e-6,
                                               err_msg=f"{name} lr={lr} T={h} seed={seed}")


def test_warmup_is_a_fraction_of_each_horizon():
    res = compare.run(TASK, candidates=["cosine", "linear", "constant", "sf_adamw"], lrs=[0.2],
                      horizons=[5, T_MAX], warmup=0.2, log=lambda m: None)
    finals = res.final()
    for name in ("cosine", "linear"):
        for h in (5, T_MAX):
            ref = plain_loop(reference_optimizer(name, 0.2, h, 0.2), 0, h, {h})
            np.testing.assert_allclose(finals[(name, 0.2, h)][0], ref[h], rtol=2e-5, atol=1e-6)
    for name in ("constant", "sf_adamw"):
        ref = plain_loop(reference_optimizer(name, 0.2, T_MAX, 0.2), 0, T_MAX, {5, T_MAX})
        for h in (5, T_MAX):
            np.testing.assert_allclose(finals[(name, 0.2, h)][0], ref[h], rtol=2e-5, atol=1e-6)


def _wsd_rows(res):
    return sorted((r["lr"], r["horizon"], r["seed"], r["step"], r["loss"]) for r in res.rows
                  if r["candidate"] == "wsd")


def test_wsd_branches_equal_separately_trained_wsd_runs_exactly():
    horizons, lrs = (5, 10, 20), LRS[:1]
    kw = dict(candidates=["wsd"], lrs=lrs, horizons=horizons, seeds=1, eval_every=2,
              group=False, log=lambda m: None)
    branched = compare.run(TASK, **kw)
    alone = compare.run(TASK, branch_wsd=False, **kw)
    assert _wsd_rows(branched) == _wsd_rows(alone)  # bit for bit, every evaluation
    # The trunk is the longest run; each shorter one trains only its cooldown.
    per = 20 + round(0.2 * 5) + round(0.2 * 10)
    assert branched.branching == {"branches": 2 * len(lrs), "trained_steps": per * len(lrs),
                                  "unbranched_steps": sum(horizons) * len(lrs)}
    assert branched.timing["run_steps"] == per * len(lrs)
    assert alone.timing["run_steps"] == sum(horizons) * len(lrs)
    # Grouped (one vmapped program), the same to float32 rounding.
    grouped = compare.run(TASK, **{**kw, "group": True})
    np.testing.assert_allclose([r[-1] for r in _wsd_rows(grouped)],
                               [r[-1] for r in _wsd_rows(branched)], rtol=1e-5, atol=1e-7)


def test_no_branching_with_warmup_and_it_says_why():
    res = compare.run(TASK, candidates=["wsd"], lrs=[0.2], horizons=[5, T_MAX], warmup=0.1,
                      log=lambda m: None)
    assert res.branching["branches"] == 0 and "warmup" in res.branching["reason"]
    finals = res.final()
    for h in (5, T_MAX):
        ref = plain_loop(optax.adamw(wsd_schedule(0.2, h, round(0.1 * h)), b1=0.9, b2=0.999,
                                     eps=1e-8, weight_decay=0.0), 0, h, {h})
        np.testing.assert_allclose(finals[("wsd", 0.2, h)][0], ref[h], rtol=2e-5, atol=1e-6)


def test_results_csv_envelope_report_and_figures(grouped):
    res, out = grouped
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["candidate", "lr", "horizon", "seed", "step", "loss"]
    assert len(rows) == len(res.rows)
    assert {(r["candidate"], float(r["lr"]), int(r["horizon"]), int(r["seed"]), int(r["step"]),
             float(r["loss"])) for r in rows} == {
        (r["candidate"], r["lr"], r["horizon"], r["seed"], r["step"], r["loss"])
        for r in res.rows}
    env = res.envelope()
    assert len(env) == len(cands.BUILTIN) * len(HORIZONS)
    finals = res.final()
    for e in env:
        means = {lr: np.mean(finals[(e["candidate"], lr, e["horizon"])]) for lr in LRS}
        assert e["lr"] == min(means, key=means.get)
        assert e["mean"] == pytest.approx(means[e["lr"]])
        assert e["std"] == pytest.approx(np.std(e["values"], ddof=1))
    text = (out / "REPORT.md").read_text()
    for v in report.verdicts(res):
        assert f"{v['anytime']} is at or below the tuned {v['scheduled']} envelope" in text
    for name in ("pareto.png", "lr_sensitivity.png"):
        assert (out / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_verdict_uses_the_spread_rule():
    def res_with(values_a, values_s):
        rows = []
        for name, vals in (("sf_adamw", values_a), ("cosine", values_s)):
            for seed, x in enumerate(vals):
                rows.append({"candidate": name, "lr": 0.1, "horizon": 10, "seed": seed,
                             "step": 10, "loss": x})
        return compare.Results(rows, cands.resolve(["cosine", "sf_adamw"]), (0.1,), (10,),
                               len(values_a))

    clear = report.verdicts(res_with([1.0, 1.1, 0.9], [2.0, 2.1, 1.9]))[0]
    assert clear["held"] is True and clear["per_horizon"][0]["gap_pct"] == pytest.approx(-50.0)
    within = report.verdicts(res_with([1.0, 1.5, 0.5], [1.2, 1.7, 0.7]))[0]
    assert within["held"] is False  # below on average, not beyond the combined std


def test_report_marks_best_lr_at_the_grid_edge():
    # cosine is best at the smallest lr at T=10 and inside the grid at T=20; sf_adamw is best
    # at the largest lr at T=20.
    table = {("cosine", 10): (1.0, 2.0, 3.0), ("cosine", 20): (2.0, 1.0, 3.0),
             ("sf_adamw", 10): (3.0, 1.0, 2.0), ("sf_adamw", 20): (3.0, 2.0, 1.0)}
    lrs = (0.01, 0.1, 1.0)
    rows = [{"candidate": c, "lr": lr, "horizon": h, "seed": 0, "step": h, "loss": x}
            for (c, h), xs in table.items() for lr, x in zip(lrs, xs, strict=True)]
    res = compare.Results(rows, cands.resolve(["cosine", "sf_adamw"]), lrs, (10, 20), 1)
    assert report.grid_edges(res) == {("cosine", 10), ("sf_adamw", 20)}
    text = report.render(res)
    assert "| 1.000 (lr 0.01 †) | 1.000 (lr 0.1) |" in text
    assert "| 1.000 (lr 0.1) | 1.000 (lr 1 †) |" in text
    assert "at the grid's edge (2 of 4 tuned results)" in text
    one = compare.Results([r for r in rows if r["lr"] == 0.1], res.candidates, (0.1,), (10, 20), 1)
    assert report.grid_edges(one) == set() and "†" not in report.render(one)


def test_resume_skips_finished_runs(tmp_path):
    kw = dict(candidates=["cosine", "sf_adamw"], lrs=[0.2], horizons=[5, 10], out=tmp_path,
              log=lambda m: None, report=False)
    first = compare.run(TASK, **kw)
    again = compare.run(TASK, **kw)
    assert again.timing["run_steps"] == 0 and first.timing["run_steps"] == 5 + 10 + 10
    assert again.rows == first.rows


def test_custom_candidates():
    res = compare.run(
        TASK,
        candidates=[("sgd_cos", lambda lr, T: optax.sgd(optax.cosine_decay_schedule(lr, T))),
                    compare.Candidate("sgd_const", factory=lambda lr, T: optax.sgd(lr),
                                      anytime=True)],
        lrs=[0.05], horizons=[5, 10], log=lambda m: None)
    finals = res.final()
    for h in (5, 10):
        ref = plain_loop(optax.sgd(optax.cosine_decay_schedule(0.05, h)), 0, h, {h})
        np.testing.assert_allclose(finals[("sgd_cos", 0.05, h)][0], ref[h], rtol=2e-5)
    ref = plain_loop(optax.sgd(0.05), 0, 10, {5, 10})
    for h in (5, 10):
        np.testing.assert_allclose(finals[("sgd_const", 0.05, h)][0], ref[h], rtol=2e-5)


@pytest.mark.parametrize(
    "kw, name",
    [
        ({"candidates": ["nope"]}, "candidates"),
        ({"candidates": []}, "candidates"),
        ({"candidates": ["cosine", "cosine"]}, "candidates"),
        ({"lrs": []}, "lrs"),
        ({"lrs": [-1.0]}, "lrs"),
        ({"horizons": [0]}, "horizons"),
        ({"horizons": [5, 5]}, "horizons"),
        ({"seeds": 0}, "seeds"),
        ({"warmup": 1.0}, "warmup"),
        ({"warmup": 0.95, "candidates": ["wsd"], "horizons": [10]}, "warmup"),
        ({"eval_every": 0}, "eval_every"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_bad_arguments_name_themselves(kw, name):
    args = {"candidates": ["cosine"], "lrs": [0.1], "horizons": [5], **kw}
    with pytest.raises(ValueError, match=name):
        compare.run(TASK, **args)


def test_bad_task():
    with pytest.raises(ValueError, match="task"):
        compare.run(lambda k: 0, candidates=["cosine"], lrs=[0.1], horizons=[5])
    with pytest.raises(ValueError, match="loss"):
        compare.run(compare.Task(TASK.init, "mse", TASK.sample), candidates=["cosine"],
                    lrs=[0.1], horizons=[5])


def test_a_candidate_that_declares_a_cooldown_branches_whatever_its_name():
    quick_wsd = cands.Candidate("my_wsd", "adamw", schedule="warmup_stable_decay",
                                schedule_args={"cooldown": "linear"}, cooldown=0.5,
                                hparams=cands.ADAMW)
    kw = dict(candidates=[quick_wsd], lrs=[0.2], horizons=[6, 12], seeds=1, eval_every=3,
              group=False, log=lambda m: None)
    branched, alone = compare.run(TASK, **kw), compare.run(TASK, branch_wsd=False, **kw)
    assert branched.branching["branches"] == 1
    assert branched.timing["run_steps"] == 12 + 3  # the trunk, then the 6-step run's cooldown
    assert sorted(map(str, branched.rows)) == sorted(map(str, alone.rows))


def test_presets_run_every_builtin_candidate_by_default():
    from jaxsched.compare import presets

    for grids in presets.PRESETS.values():
        for p in grids.values():
            assert p.candidates == tuple(cands.BUILTIN)


def test_the_loss_at_eval_params_is_logged_only_when_asked(tmp_path):
    """Off by default: every run logs its training loss (the gradient's own forward pass);
    ``log_eval_loss=True`` logs averaging and schedule-free runs at ``eval_params`` instead.
    What is evaluated does not change, and the two never share a run directory."""
    from jaxsched.train.results import list_runs

    kw = dict(candidates=["sf_adamw", "constant"], lrs=[0.2], horizons=[5, 10],
              log=lambda m: None, report=False)
    off = compare.run(TASK, out=tmp_path / "off", **kw)
    on = compare.run(TASK, out=tmp_path / "on", log_eval_loss=True, **kw)
    assert on.rows == off.rows and off.timing["log_eval_loss"] is False

    def logged(root):
        out = {}
        for rd in list_runs(root / "runs"):
            run = rd.read_config()["run"]
            out[run["candidate"]] = (run["record_eval_loss"], rd.load_losses(), rd.run_id)
        return out

    a, b = logged(tmp_path / "off"), logged(tmp_path / "on")
    assert a["sf_adamw"][0] is False and b["sf_adamw"][0] is True
    assert a["sf_adamw"][2] != b["sf_adamw"][2]
    # off: sf_adamw's logged loss is the training loss at y, step by step
    key, pkey = jax.random.split(jax.random.key(0, impl="threefry2x32"))
    params = TASK.init(pkey)
    opt = optim.schedule_free_adamw(0.2)
    state, train_losses = opt.init(params), []
    for t in range(10):
        dk, drk = jax.random.split(jax.random.fold_in(key, t))
        loss, grads = jax.value_and_grad(TASK.loss)(params, TASK.sample(dk), drk)
        train_losses.append(float(loss))
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    np.testing.assert_allclose(a["sf_adamw"][1], train_losses, rtol=2e-5, atol=1e-6)
    assert not np.allclose(b["sf_adamw"][1], train_losses, rtol=1e-3)
    # plain AdamW has no eval_params of its own: the same losses either way
    assert a["constant"][0] is b["constant"][0] is False
    np.testing.assert_array_equal(a["constant"][1], b["constant"][1])


def test_cost_is_measured_interleaved_per_optimizer_program(tmp_path):
    from jaxsched.compare import experiment

    names = ["cosine", "constant", "sf_adamw"]
    cost = experiment.cost_bench(TASK, candidates=names, lr=0.1, longest=10, steps=3,
                                 rounds=1)
    assert set(cost) == set(names) and all(s == 3 and t > 0 for s, t in cost.values())
    assert cost["cosine"] == cost["constant"]  # one AdamW program: a schedule is a table
    res = compare.run(TASK, candidates=names, lrs=[0.1], horizons=[5, 10], out=tmp_path,
                      cost=cost, log=lambda m: None)
    assert res.timing["cost_source"] == "interleaved"
    assert {r["candidate"]: r["run_steps_per_s"] for r in res.cost} == pytest.approx(
        {n: s / t for n, (s, t) in cost.items()})
    for r in res.time_to_target:  # seconds to target at the measured rates
        if r["steps_to_target"] is not None:
            assert r["seconds_to_target"] == pytest.approx(
                r["steps_to_target"] * cost[r["candidate"]][1] / 3)
    text = (tmp_path / "REPORT.md").read_text()
    assert "`jaxsched.compare.experiment.cost_bench`" in text
    assert "| × AdamW | in the grid: run-steps/s | × AdamW |" in text
    with pytest.raises(ValueError, match="rounds"):
        experiment.cost_bench(TASK, candidates=names, lr=0.1, longest=10, rounds=0)
