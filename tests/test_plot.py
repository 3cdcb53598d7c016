"""jaxsched.plot: schedule figures, atomic saving, the moving average."""

from __future__ import annotations

import struct

import jax.numpy as jnp
import numpy as np
import pytest

from jaxsched import plot
from jaxsched.schedules import registry

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _linear(lr: float, total: int, end: float = 0.0):
    return lambda t: lr + (end - lr) * jnp.minimum(jnp.asarray(t, jnp.float32) / total, 1.0)


def parse(spec):
    return registry.resolve(spec, table={"linear": _linear})


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


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
    with pytest.raises(ValueError, match="steps must be >= 1, got steps=0"):
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


