"""Schedule specs on the command line: ``registry.resolve`` over the registry, the compat
twins' namespaces and a local table; the grammar's values, labels and errors."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import jaxsched.compat  # noqa: F401 - registers the torch.* and sambaflow.* names
from jaxsched import schedules
from jaxsched.schedules import registry

# ----------------------------------------------------------------- a small local registry


def _linear(lr: float, total: int, end: float = 0.0):
    return lambda t: lr + (end - lr) * jnp.minimum(jnp.asarray(t, jnp.float32) / total, 1.0)


def _modal(lr: float, mode: str = "flat", milestones=None, table=None, flag: bool = False):
    def f(t):
        return jnp.full(jnp.shape(t), lr, jnp.float32)

    f.args = {"lr": lr, "mode": mode, "milestones": milestones, "table": table, "flag": flag}
    return f


def _picky(lr: float):
    if lr < 0:
        raise ValueError(f"lr must be >= 0, got lr={lr}")
    return lambda t: jnp.full(jnp.shape(t), lr, jnp.float32)


def _not_a_schedule(lr: float):
    return (lr,)


REGISTRY = {
    "linear": _linear,
    "modal": _modal,
    "picky": _picky,
    "torch.tuple": _not_a_schedule,
}


def parse(spec):
    return registry.resolve(spec, table=REGISTRY)


# ----------------------------------------------------------------- resolve


def test_spec_values_and_default_label():
    label, f = parse(
        "modal:lr=1e-3,mode=cosine,milestones=[30,60],table={100:0.5;200:0.1},flag=true"
    )
    assert f.args == {
        "lr": 1e-3,
        "mode": "cosine",
        "milestones": [30, 60],
        "table": {100: 0.5, 200: 0.1},
        "flag": True,
    }
    assert (
        label == "modal(lr=1e-3, mode=cosine, milestones=[30,60], table={100:0.5;200:0.1}, "
        "flag=true)"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3),
        ("100_000", 100_000),
        ("-2", -2),
        ("0.5", 0.5),
        ("1e-3", 1e-3),
        ("inf", float("inf")),
        ("True", True),
        ("false", False),
        ("None", None),
        ("none", None),
        ("[30, 60]", [30, 60]),
        ("30;60;90", [30, 60, 90]),
        ("(1,2.5)", [1, 2.5]),
        ("[]", []),
        ("[[1,2],[3]]", [[1, 2], [3]]),
        ("'a b'", "a b"),
    ],
)
def test_spec_value_grammar(text, expected):
    _, f = parse(f"modal:lr=1,milestones={text}")
    got = f.args["milestones"]
    assert got == expected and type(got) is type(expected)


def test_spec_label_and_int_kept_int():
    label, f = parse("linear:lr=0.5,total=10@my run, with commas")
    assert label == "my run, with commas"
    np.testing.assert_allclose(np.asarray(f(jnp.arange(11))), 0.5 - 0.05 * np.arange(11), 1e-6)
    _, g = parse("modal:lr=2")
    assert g.args["lr"] == 2 and isinstance(g.args["lr"], int)
    assert parse("modal:lr=2")[0] == "modal(lr=2)"


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("linaer:lr=1,total=2", r"unknown schedule 'linaer'.*did you mean 'linear'"),
        ("nothing", r"unknown schedule 'nothing'"),
        (":lr=1", r"missing schedule name"),
        ("linear:lr=1,totl=2", r"linear has no argument 'totl'.*lr, total, end"),
        ("linear:lr=1,2", r"argument '2' is not key=value"),
        ("linear:lr=1,total=", r"bad value '' for total: empty"),
        ("linear:lr=0.1.2,total=3", r"bad value '0.1.2' for lr"),
        ("linear:lr=abc,total=3", r"bad value 'abc' for lr: expected a number"),
        ("linear:lr=1,total=[3", r"unclosed"),
        ("linear:lr=1,total=3]", r"unbalanced"),
        ("linear:lr=1,lr=2,total=3", r"argument 'lr' given twice"),
        ("linear:lr=1", r"linear: missing a required argument: 'total'"),
        ("linear:lr=1,total=3@", r"empty label"),
        ("linear:1x=1", r"bad argument name '1x'"),
        ("picky:lr=-1", r"'picky:lr=-1': lr must be >= 0, got lr=-1"),
        ("torch.tuple:lr=1", r"returns a tuple, not a step -> learning-rate schedule"),
        ("modal:lr=1,milestones={1;2}", r"dict item '1' is not key:value"),
        ("modal:lr=1,milestones=$", r"bad value '\$' for milestones"),
    ],
)
def test_spec_errors_name_the_problem(spec, match):
    with pytest.raises(ValueError, match=match) as info:
        parse(spec)
    assert repr(spec) in str(info.value)


def test_spec_not_a_string():
    with pytest.raises(ValueError, match="non-empty string"):
        registry.resolve("  ")


def test_spec_real_registry_matches_direct_construction():
    label, f = registry.resolve(
        "warmup_cosine_decay:peak=0.1,warmup_steps=10,total_steps=100,end_value=1e-3@wc"
    )
    g = schedules.warmup_cosine_decay(peak=0.1, warmup_steps=10, total_steps=100, end_value=1e-3)
    t = jnp.arange(120)
    assert label == "wc"
    np.testing.assert_array_equal(np.asarray(f(t)), np.asarray(g(t)))
    _, h = registry.resolve(
        "cyclical:base_lr=0.01,max_lr=0.1,step_size_up=5,mode=triangular2"
    )
    assert float(h(5)) == pytest.approx(0.1)
    _, m = registry.resolve("multistep:peak=1,milestones=30;60,gamma=0.5")
    np.testing.assert_allclose(np.asarray(m(jnp.array([0, 30, 60]))), [1, 0.5, 0.25])


def test_spec_real_registry_errors():
    with pytest.raises(ValueError, match=r"did you mean 'cosine_decay'"):
        registry.resolve("cosine_decy:peak=1,decay_steps=10")
    with pytest.raises(ValueError, match=r"decay_steps"):
        registry.resolve("cosine_decay:peak=1,decay_steps=0")
    with pytest.raises(ValueError, match=r"bad value 'linear' for peak: expected a number"):
        registry.resolve("cosine_decay:peak=linear,decay_steps=10")


def test_available_schedules_holds_native_names():
    names = registry.available()
    assert set(schedules.SCHEDULES) <= set(names)


def test_compat_twins_resolve():
    from jaxsched.compat import sambaflow as samba
    from jaxsched.compat import torch as torch_compat

    _, f = registry.resolve("torch.cosine_annealing_lr:lr=0.1,T_max=100")
    g = torch_compat.cosine_annealing_lr(lr=0.1, T_max=100)
    t = jnp.arange(150)
    np.testing.assert_array_equal(np.asarray(f(t)), np.asarray(g(t)))
    _, s = registry.resolve(
        "sambaflow.cosine_schedule_with_warmup:learning_rate=0.1,warmup_steps=10,max_steps=100"
    )
    ref = samba.cosine_schedule_with_warmup(learning_rate=0.1, warmup_steps=10, max_steps=100)
    np.testing.assert_array_equal(np.asarray(s(t)), np.asarray(ref(t)))
    with pytest.raises(ValueError, match=r"unknown schedule 'torch.cosine_annealing'"):
        registry.resolve("torch.cosine_annealing:lr=0.1,T_max=100")
    names = registry.available()
    assert "torch.cosine_annealing_warm_restarts" in names
    assert "sambaflow.fixed_lr" in names


