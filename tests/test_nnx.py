"""The Flax NNX guide (docs/guide/nnx.md) runs as written, and what it shows holds.

The guide's ``python`` blocks run here in order, in one namespace, in a temporary working
directory; the tests then check its results against the plain optax loop, optax's own
``reduce_on_plateau``, and a second (resumed) comparison.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

nnx = pytest.importorskip("flax.nnx")

from jaxsched import compare, optim  # noqa: E402

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide" / "nnx.md"


def guide_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", GUIDE.read_text(), flags=re.S | re.M)


@pytest.fixture(scope="module")
def guide(tmp_path_factory):
    """The namespace the guide's blocks leave behind (run in a temporary directory)."""
    work = tmp_path_factory.mktemp("nnx-guide")
    here = os.getcwd()
    os.chdir(work)
    try:
        ns: dict = {"__name__": "nnx_guide"}
        for block in guide_blocks():
            exec(compile(block, str(GUIDE), "exec"), ns)  # noqa: S102 - the guide's own code
    finally:
        os.chdir(here)
    ns["_work"] = work
    return ns


def test_the_guide_has_every_part():
    code = "\n".join(guide_blocks())
    for needle in ("nnx.Optimizer(", "optim.schedule_free_adamw(", "optim.ema_average(",
                   "optim.eval_params(", "value=loss", "compare.run(", "compare.Task("):
        assert needle in code, needle


def _functional(ns, tx, steps=300, seed=0):
    """The guide's training of ``train(tx)`` as a plain optax loop on the pure parameters."""
    graphdef, params, rest = nnx.split(ns["MLP"](nnx.Rngs(seed)), nnx.Param, ...)
    params = nnx.as_pure(params)

    @jax.jit
    def step(params, state, key):
        x, y = ns["sample"](key)
        grads = jax.grad(lambda p: ns["mse"](nnx.merge(graphdef, p, rest), x, y))(params)
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    state = tx.init(params)
    for k in range(steps):
        params, state = step(params, state, jax.random.fold_in(jax.random.key(seed), k))
    return params, optim.eval_params(state, params)


@pytest.mark.parametrize(("name", "make"), [
    ("schedule-free AdamW", lambda: optim.schedule_free_adamw(1e-2, warmup_steps=30)),
    ("Adam + EMA", lambda: optim.ema_average(optim.adam(1e-2), decay=0.99)),
])
def test_nnx_optimizer_trains_as_the_optax_loop_and_evaluates_the_average(guide, name, make):
    model, optimizer = guide["trained"][name]
    params, average = _functional(guide, make())
    live = nnx.as_pure(nnx.state(model, nnx.Param))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                 live, params)
    at_average = guide["averaged"](model, optimizer)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                 nnx.as_pure(nnx.state(at_average, nnx.Param)), average)
    # the average is not the trained parameters, and the training module is left as it was
    assert not all(jax.tree.leaves(jax.tree.map(np.array_equal, average, params)))
    jax.tree.map(np.testing.assert_array_equal, nnx.as_pure(nnx.state(model, nnx.Param)), live)
    x, y = guide["x_test"], guide["y_test"]
    start = float(guide["mse"](guide["MLP"](nnx.Rngs(0)), x, y))
    assert float(guide["mse"](at_average, x, y)) < 0.5 * start
    # the same evaluation inside nnx.jit, as the guide says
    jitted = nnx.jit(lambda m, o: guide["mse"](guide["averaged"](m, o), x, y))(model, optimizer)
    np.testing.assert_allclose(jitted, guide["mse"](at_average, x, y), rtol=1e-5)


def test_reduce_on_plateau_scale_is_optax_contribs_on_the_same_losses(guide):
    theirs = optax.contrib.reduce_on_plateau(factor=0.5, patience=20, accumulation_size=10)
    state, _ = jax.lax.scan(lambda s, v: (theirs.update(jnp.zeros(()), s, value=v)[1], None),
                            theirs.init(jnp.zeros(())), jnp.asarray(guide["losses"]))
    assert float(guide["scale"]) == float(state.scale)
    assert float(guide["scale"]) < 1.0  # it did reach a plateau


def test_compare_on_the_nnx_task_and_its_resume(guide):
    res = guide["results"]
    assert {r["candidate"] for r in res.rows} == {"cosine", "sf_adamw", "adam_ema"}
    assert (guide["_work"] / "runs" / "nnx-compare" / "REPORT.md").is_file()
    # the parameters were plain dicts named by the module's attributes
    params = guide["init"](jax.random.key(0))
    assert set(params) == {"hidden", "out"} and set(params["hidden"]) == {"kernel", "bias"}
    # rerun into the same directory: every run resumes, the rows are the same
    again = compare.run(guide["task"], candidates=["cosine", "sf_adamw", "adam_ema"],
                        lrs=[3e-3, 1e-2, 3e-2], horizons=[100, 200],
                        out=guide["_work"] / "runs" / "nnx-compare", report=False,
                        log=lambda _: None)
    assert again.rows == res.rows


def test_eval_params_reads_nnx_variables_as_their_values(guide):
    model, optimizer = guide["trained"]["Adam + EMA"]
    params = nnx.state(model, nnx.Param)
    direct = optim.eval_params(optimizer.opt_state, params)
    pure = optim.eval_params(nnx.as_pure(optimizer.opt_state), nnx.as_pure(params))
    for a, b in zip(jax.tree.leaves(direct), jax.tree.leaves(pure), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # a plain pytree goes through untouched
    plain = {"w": jnp.ones(2)}
    assert optim.eval_params(optax.adam(1e-3).init(plain), plain) is plain
