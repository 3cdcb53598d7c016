"""jaxsched.plot: schedule specs, schedule figures, the notes' loss panels and Pareto figure."""

from __future__ import annotations

import struct

import jax.numpy as jnp
import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba

from jaxsched import plot, schedules

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


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
    return plot.parse_schedule_spec(spec, registry=REGISTRY)


# ----------------------------------------------------------------- parse_schedule_spec


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
        plot.parse_schedule_spec("  ")


def test_spec_real_registry_matches_direct_construction():
    label, f = plot.parse_schedule_spec(
        "warmup_cosine_decay:peak=0.1,warmup_steps=10,total_steps=100,end_value=1e-3@wc"
    )
    g = schedules.warmup_cosine_decay(peak=0.1, warmup_steps=10, total_steps=100, end_value=1e-3)
    t = jnp.arange(120)
    assert label == "wc"
    np.testing.assert_array_equal(np.asarray(f(t)), np.asarray(g(t)))
    _, h = plot.parse_schedule_spec(
        "cyclical:base_lr=0.01,max_lr=0.1,step_size_up=5,mode=triangular2"
    )
    assert float(h(5)) == pytest.approx(0.1)
    _, m = plot.parse_schedule_spec("multistep:peak=1,milestones=30;60,gamma=0.5")
    np.testing.assert_allclose(np.asarray(m(jnp.array([0, 30, 60]))), [1, 0.5, 0.25])


def test_spec_real_registry_errors():
    with pytest.raises(ValueError, match=r"did you mean 'cosine_decay'"):
        plot.parse_schedule_spec("cosine_decy:peak=1,decay_steps=10")
    with pytest.raises(ValueError, match=r"decay_steps"):
        plot.parse_schedule_spec("cosine_decay:peak=1,decay_steps=0")
    with pytest.raises(ValueError, match=r"bad value 'linear' for peak: expected a number"):
        plot.parse_schedule_spec("cosine_decay:peak=linear,decay_steps=10")


def test_available_schedules_holds_native_names():
    names = plot.available_schedules()
    assert set(schedules.SCHEDULES) <= set(names)


def test_compat_twins_resolve():
    from jaxsched.compat import sambaflow as samba
    from jaxsched.compat import torch as torch_compat

    _, f = plot.parse_schedule_spec("torch.cosine_annealing_lr:lr=0.1,T_max=100")
    g = torch_compat.cosine_annealing_lr(lr=0.1, T_max=100)
    t = jnp.arange(150)
    np.testing.assert_array_equal(np.asarray(f(t)), np.asarray(g(t)))
    _, s = plot.parse_schedule_spec(
        "sambaflow.cosine_schedule_with_warmup:learning_rate=0.1,warmup_steps=10,max_steps=100"
    )
    ref = samba.cosine_schedule_with_warmup(learning_rate=0.1, warmup_steps=10, max_steps=100)
    np.testing.assert_array_equal(np.asarray(s(t)), np.asarray(ref(t)))
    with pytest.raises(ValueError, match=r"unknown schedule 'torch.cosine_annealing'"):
        plot.parse_schedule_spec("torch.cosine_annealing:lr=0.1,T_max=100")
    names = plot.available_schedules()
    assert "torch.cosine_annealing_warm_restarts" in names
    assert "sambaflow.fixed_lr" in names


# ----------------------------------------------------------------- plot_schedules


def test_plot_schedules_writes_png_with_one_line_per_schedule(tmp_path):
    out = tmp_path / "sub" / "lr.png"
    specs = ["linear:lr=0.1,total=100", "linear:lr=0.05,total=50@short"]
    fig = plot.plot_schedules([parse(s) for s in specs], 120, out, title="two")
    w, h = png_size(out)
    assert w > 600 and h > 300
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 2
    assert [ln.get_label() for ln in lines] == ["linear(lr=0.1, total=100)", "short"]
    np.testing.assert_array_equal(lines[0].get_xdata(), np.arange(120))
    np.testing.assert_allclose(lines[1].get_ydata()[:51], 0.05 - 0.001 * np.arange(51), atol=1e-8)
    assert ax.get_yscale() == "linear"
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "learning rate"
    assert ax.get_title() == "two"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [ln.get_label() for ln in lines]
    assert list(tmp_path.joinpath("sub").iterdir()) == [out]  # no temporary file left


def test_plot_schedules_log_and_epochs(tmp_path):
    out = tmp_path / "lr.png"
    curves = [parse("linear:lr=0.1,total=100"), ("exp", lambda t: 0.2 * 0.9**t)]
    fig = plot.plot_schedules(curves, 200, out, log=True, steps_per_epoch=50)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "epoch"
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), np.arange(200) / 50)
    # 0.2 * 0.9**199 is about 1e-10: the axis stops about four decades below the top value,
    # on a power of ten
    assert ax.get_ylim()[0] == 1e-5
    linear_only = plot.plot_schedules(curves[:1], 200, log=True)
    assert linear_only.axes[0].get_ylim()[0] < 1e-3  # 1e-3 is within four decades: untouched
    assert "Learning-rate schedule" in ax.get_title() and "50 per epoch" in ax.get_title()
    png_size(out)


def test_plot_schedules_long_labels_go_under_the_axes():
    long = "linear:lr=0.1,total=100,end=0.0001@" + "a very long label " * 4
    fig = plot.plot_schedules([parse(long)], 10)
    assert fig.axes[0].get_legend() is None and len(fig.legends) == 1


def test_plot_schedules_errors(tmp_path):
    good = parse("linear:lr=0.1,total=100")
    with pytest.raises(ValueError, match="steps must be a positive integer, got steps=0"):
        plot.plot_schedules([good], 0)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        plot.plot_schedules([good], 10, steps_per_epoch=0)
    with pytest.raises(ValueError, match="at least one"):
        plot.plot_schedules([], 10)
    with pytest.raises(ValueError, match=r"schedule 'nan' is not finite at step 3"):
        plot.plot_schedules([("nan", lambda t: jnp.where(t == 3, jnp.nan, 1.0))], 10)
    with pytest.raises(ValueError, match=r"schedule 'pair' returned shape \(10, 2\)"):
        plot.plot_schedules([("pair", lambda t: jnp.stack([t, t], -1) * 1.0)], 10)
    with pytest.raises(ValueError, match=r"schedule 'py' cannot be evaluated"):
        plot.plot_schedules([("py", lambda t: 1.0 if t < 3 else 0.5)], 10)
    with pytest.raises(ValueError, match=r"out must end with an image suffix"):
        plot.plot_schedules([good], 10, tmp_path / "lr.xyz")
    assert list(tmp_path.iterdir()) == []


class _Slotted:
    """A callable without a __weakref__ slot: jax.jit cannot wrap it directly."""

    __slots__ = ("lr",)

    def __init__(self, lr):
        self.lr = lr

    def __call__(self, t):
        return jnp.full(jnp.shape(t), self.lr, jnp.float32)


def test_evaluate_schedule_accepts_slotted_callables():
    np.testing.assert_array_equal(plot.evaluate_schedule(_Slotted(0.5), 3), [0.5] * 3)


def test_evaluate_schedule_constant_lambda_broadcasts():
    np.testing.assert_array_equal(plot.evaluate_schedule(lambda t: 0.25, 4), [0.25] * 4)


def test_save_figure_replaces_existing_file(tmp_path):
    out = tmp_path / "f.png"
    out.write_bytes(b"old")
    plot.plot_schedules([parse("linear:lr=0.1,total=10")], 10, out)
    png_size(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png"]


# ----------------------------------------------------------------- moving average


def test_moving_average_is_the_notes_convolution():
    rng = np.random.default_rng(0)
    loss = rng.normal(2.0, 0.3, 5000)
    expected = np.convolve(loss, np.ones(1000), "valid") / 1000
    np.testing.assert_array_equal(plot.moving_average(loss, 1000), expected)
    seeds = rng.normal(1.0, 0.3, (3, 400))
    got = plot.moving_average(seeds, 50)
    assert got.shape == (3, 351)
    for row, g in zip(seeds, got, strict=True):
        np.testing.assert_array_equal(g, np.convolve(row, np.ones(50), "valid") / 50)
    np.testing.assert_array_equal(plot.moving_average([1.0, 2.0, 3.0], 1), [1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    ("x", "window", "match"),
    [
        (np.ones(10), 0, "window must be >= 1, got window=0"),
        (np.ones(10), 11, "window must be at most the number of steps, got window=11 for 10"),
        (np.ones((2, 2, 2)), 1, r"x must be 1-D .* got shape \(2, 2, 2\)"),
        (np.ones(10), 2.5, "window must be an integer, got window=2.5"),
    ],
)
def test_moving_average_errors(x, window, match):
    with pytest.raises(ValueError, match=match):
        plot.moving_average(x, window)


# ----------------------------------------------------------------- loss figures


def fake_losses(steps, rate, seeds=None, seed=0, floor=0.1):
    """A decaying noisy loss curve, [steps] or [seeds, steps]."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    shape = (steps,) if seeds is None else (seeds, steps)
    return floor + 2.0 * np.exp(-t / rate) + rng.normal(0, 0.15, shape)


def test_plot_comparison_lines_bands_and_lengths(tmp_path):
    out = tmp_path / "cmp.png"
    const = fake_losses(2100, 900, seeds=3)
    short = fake_losses(1000, 300, seed=1)
    fig = plot.plot_comparison(
        [("Constant LR", const), ("Linear Decay 1000", short, "tab:red")],
        out,
        window=200,
        ylim=1.5,
        title="Train Loss",
        data_label="synthetic data",
    )
    w, h = png_size(out)
    assert 500 < w < 900 and 300 < h < 550  # the notes' 5x3 inches at 150 dpi, tight bbox
    assert tuple(fig.get_size_inches()) == (5.0, 3.0)
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["Constant LR", "Linear Decay 1000"]
    # the mean over seeds of the smoothed losses, x at the window's last step
    smooth = np.stack([np.convolve(r, np.ones(200), "valid") / 200 for r in const])
    np.testing.assert_allclose(lines[0].get_ydata(), smooth.mean(0), rtol=1e-12)
    np.testing.assert_array_equal(lines[0].get_xdata(), np.arange(199, 2100))
    assert lines[1].get_xdata()[-1] == 999
    assert to_rgba(lines[1].get_color()) == to_rgba("tab:red")
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1  # only the 3-seed curve has a band
    top = bands[0].get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx((smooth.mean(0) + smooth.std(0, ddof=1)).max(), rel=1e-9)
    assert ax.get_ylim() == (-0.05, 1.5)
    assert ax.get_title() == "Train Loss"
    assert ax.get_legend().get_title().get_text() == "synthetic data · mean ± 1 std over 3 seeds"


def test_plot_comparison_thins_long_curves_but_keeps_the_end():
    loss = fake_losses(100_000, 20_000)
    fig = plot.plot_comparison([("c", loss)], None, window=1000, ylim=2)
    line = fig.axes[0].get_lines()[0]
    assert len(line.get_xdata()) <= 2001
    assert line.get_xdata()[-1] == 99_999
    assert line.get_ydata()[-1] == pytest.approx(loss[-1000:].mean(), rel=1e-12)
    assert fig.axes[0].xaxis.get_major_formatter()(50_000, 0) == "50k"


def test_plot_comparison_errors():
    with pytest.raises(ValueError, match=r"curve 'tiny': window must be at most"):
        plot.plot_comparison([("tiny", np.ones(10))], None, window=20, ylim=1)
    with pytest.raises(ValueError, match=r"curve 'ragged': losses are not"):
        plot.plot_comparison([("ragged", [np.ones(10), np.ones(9)])], None, window=2, ylim=1)
    with pytest.raises(ValueError, match=r"a curve must be \(label, losses\)"):
        plot.plot_comparison([np.ones(10)], None, window=2, ylim=1)
    with pytest.raises(ValueError, match="at least one"):
        plot.plot_comparison([], None, window=2, ylim=1)


def test_plot_pareto_layout_and_colours(tmp_path):
    out = tmp_path / "pareto.png"
    lengths = [4000, 3000, 2000, 1000]
    baselines = [("Constant LR", fake_losses(4000, 1500, seeds=2))] + [
        (f"Linear Decay {n}", fake_losses(n, n / 4, seed=n)) for n in lengths
    ]
    comparisons = [
        ("ScheduleFree (Polyak)", fake_losses(4000, 800, seed=7)),
        ("Exponential Avg", fake_losses(4000, 700, seed=8)),
        ("ScheduleFree (Exponential)", fake_losses(4000, 600, seeds=2, seed=9)),
    ]
    fig = plot.plot_pareto(baselines, comparisons, out, window=100, data_label="synthetic")
    w, h = png_size(out)
    assert w > 3 * 500 and h < 550
    assert tuple(fig.get_size_inches()) == (15.0, 3.0)
    assert len(fig.axes) == 3
    red = to_rgba(mpl.rcParamsDefault["axes.prop_cycle"].by_key()["color"][3])
    for ax, (label, _) in zip(fig.axes, comparisons, strict=True):
        assert ax.get_title() == f"Train Loss ({label})"
        assert ax.get_ylim() == (-0.05, 2)
        lines = ax.get_lines()
        assert [ln.get_label() for ln in lines] == [b[0] for b in baselines] + [label]
        colours = [to_rgba(ln.get_color()) for ln in lines]
        assert colours == [to_rgba("grey")] + [red] * 4 + [to_rgba("black")]
        assert ax.get_legend().get_title().get_text().startswith("synthetic")
    assert sum(isinstance(c, PolyCollection) for c in fig.axes[2].collections) == 2
    assert sum(isinstance(c, PolyCollection) for c in fig.axes[0].collections) == 1


def test_plot_pareto_respects_explicit_colours_and_validates():
    fig = plot.plot_pareto(
        [("c", np.ones(50), "blue")], [("x", np.ones(50), "green")], None, window=5
    )
    assert [to_rgba(ln.get_color()) for ln in fig.axes[0].get_lines()] == [
        to_rgba("blue"),
        to_rgba("green"),
    ]
    with pytest.raises(ValueError, match="comparisons"):
        plot.plot_pareto([("c", np.ones(50))], [], None, window=5)
    with pytest.raises(ValueError, match="baselines"):
        plot.plot_pareto([], [("x", np.ones(50))], None, window=5)


def test_plot_eval_curves(tmp_path):
    steps = np.array([0, 100, 200, 300])
    runs = [
        (
            "cosine",
            {
                "step": steps,
                "test_loss": [2.0, 1.5, 1.2, 1.1],
                "test_accuracy": [[0.1, 0.3, 0.4, 0.5], [0.1, 0.35, 0.45, 0.55]],
            },
        ),
        ("constant", {"step": steps, "test_loss": [2.0, 1.6, 1.4, 1.3]}),
    ]
    out = tmp_path / "eval.png"
    fig = plot.plot_eval_curves(runs, out, data_label="synthetic")
    png_size(out)
    loss_ax, acc_ax = fig.axes
    assert len(loss_ax.get_lines()) == 2 and len(acc_ax.get_lines()) == 1
    np.testing.assert_allclose(acc_ax.get_lines()[0].get_ydata(), [0.1, 0.325, 0.425, 0.525])
    assert acc_ax.get_ylabel() == "test accuracy"
    assert "synthetic" in fig.get_suptitle() and "2 seeds" in fig.get_suptitle()
    with pytest.raises(ValueError, match=r"run 'bad': test_loss has shape \(3,\)"):
        plot.plot_eval_curves([("bad", {"step": steps, "test_loss": [1, 2, 3]})], None)
    with pytest.raises(ValueError, match="no run has the metric 'test_accuracy'"):
        plot.plot_eval_curves([runs[1]], None)


def test_legend_does_not_cover_the_data_and_seed_note():
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    # the quick preset's decay-length panel: a fast drop to a plateau, then slow descents of
    # different lengths; "best" used to put the legend in the empty lower left, over the note
    def curve(length, end):
        t = np.arange(length)
        mean = 2.3 + 0.7 * np.exp(-t / 20) - (2.3 - end) * np.clip(t - 300, 0, None) / 700
        return mean + 0.05 * rng.standard_normal((3, length))

    curves = [("constant", curve(1000, 1.1)), ("linear 100%", curve(1000, 1.6)),
              ("linear 75%", curve(750, 1.9)), ("linear 50%", curve(500, 2.15)),
              ("linear 25%", curve(250, 2.27))]
    fig, ax = plt.subplots(figsize=(5, 3))
    plot.plot_loss_panel(ax, curves, window=10, ylim=3.3, title="Train Loss",
                         data_label="synthetic")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "synthetic · mean ± 1 std over 3 seeds"
    assert not ax.texts  # nothing free-standing for the legend to land on
    box = legend.get_window_extent(renderer)
    assert ax.get_window_extent(renderer).contains(box.x0, box.y0)
    plt.close(fig)
