"""The chapter's figures: the notes' loss panels and their Pareto figure."""

from __future__ import annotations

import struct

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba

from jaxsched import plot
from jaxsched.chapter import figures

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


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
    fig = figures.plot_comparison(
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
    fig = figures.plot_comparison([("c", loss)], None, window=1000, ylim=2)
    line = fig.axes[0].get_lines()[0]
    assert len(line.get_xdata()) <= 2001
    assert line.get_xdata()[-1] == 99_999
    assert line.get_ydata()[-1] == pytest.approx(loss[-1000:].mean(), rel=1e-12)
    assert fig.axes[0].xaxis.get_major_formatter()(50_000, 0) == "50k"


def test_plot_comparison_errors():
    with pytest.raises(ValueError, match=r"curve 'tiny': window must be at most"):
        figures.plot_comparison([("tiny", np.ones(10))], None, window=20, ylim=1)
    with pytest.raises(ValueError, match=r"curve 'ragged': losses are not"):
        figures.plot_comparison([("ragged", [np.ones(10), np.ones(9)])], None, window=2, ylim=1)
    with pytest.raises(ValueError, match=r"a curve must be \(label, losses\)"):
        figures.plot_comparison([np.ones(10)], None, window=2, ylim=1)
    with pytest.raises(ValueError, match="at least one"):
        figures.plot_comparison([], None, window=2, ylim=1)


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
    fig = figures.plot_pareto(baselines, comparisons, out, window=100, data_label="synthetic")
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
    fig = figures.plot_pareto(
        [("c", np.ones(50), "blue")], [("x", np.ones(50), "green")], None, window=5
    )
    assert [to_rgba(ln.get_color()) for ln in fig.axes[0].get_lines()] == [
        to_rgba("blue"),
        to_rgba("green"),
    ]
    with pytest.raises(ValueError, match="comparisons"):
        figures.plot_pareto([("c", np.ones(50))], [], None, window=5)
    with pytest.raises(ValueError, match="baselines"):
        figures.plot_pareto([], [("x", np.ones(50))], None, window=5)


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
