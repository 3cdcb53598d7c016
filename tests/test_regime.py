"""The regime rule: diagnostics from the constant-LR run and the data (the shape of its curve
included), the REPORT section and figure, the synthetic set's difficulty knobs, and every
preset inside the bands."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from jaxsched.chapter import alchemist, figures, notes_curves, regime, report
from jaxsched.workloads import image
from jaxsched.workloads.image import SIZES
from jaxsched.workloads.standin import Difficulty, synthetic

LN10 = math.log(10)


def _curve(n: int, plateau: int, final: float, start: float = 2.5) -> np.ndarray:
    """Flat at ``start`` for ``plateau`` steps, then an exponential fall towards ``final``."""
    t = np.arange(n, dtype=np.float64)
    fall = final + (LN10 - final) * np.exp(-np.maximum(t - plateau, 0) / (0.2 * n))
    return np.where(t < plateau, start, fall)


def _power(n: int, final: float = 0.18, exponent: float = 0.85, offset: float = 0.05):
    """A smooth power-law fall like the notes' constant run, ending at ``final``."""
    t = np.arange(1, n + 1) / n
    return final * ((t + offset) / (1 + offset)) ** -exponent


def _staircase(n: int, edges) -> np.ndarray:
    """The power law held flat between ``edges`` (fractions of the horizon): a few stages."""
    t = np.arange(1, n + 1) / n
    e = np.array((0.0, *edges, 1.0 + 1e-9))
    k = np.searchsorted(e, t, side="right") - 1
    smooth = _power(n, offset=0.03)
    return smooth[np.round(np.minimum((e[k] + e[k + 1]) / 2, 1.0) * n).astype(int) - 1]


SHAPE = ("ratio_25", "ratio_50", "ratio_75", "late_fall", "step")


def diagnose(losses, **kwargs):
    """The constant run's diagnostics, with the notes' noise share unless told otherwise (the
    shape tests below are about the constant run alone)."""
    kwargs.setdefault("nu", regime.NOTES_NOISE_SHARE)
    return regime.diagnose(losses, **kwargs)


def _band(name):
    return next(b for b in regime.BANDS if b.name == name)


def test_bands_are_the_notes_values():
    final, epochs, plateau = (_band(n) for n in ("final", "epochs", "plateau"))
    assert final.notes == pytest.approx(0.18 / LN10)
    # the value the notes' text gives agrees with their curve to a pixel reading
    assert notes_curves.final("Constant LR") == pytest.approx(0.18, abs=0.01)
    assert epochs.notes == alchemist.NOTES_STEPS * 128 / 50_000 == 256
    for b in regime.BANDS:
        assert b.low <= b.notes <= b.high and b.holds(b.notes)
        assert not b.holds(b.high * 1.01 + 1e-9)
    # every diagnostic has a band
    fields = [f.name for f in dataclasses.fields(regime.Diagnostics)]
    assert [b.name for b in regime.BANDS] == fields


def test_shape_bands_come_from_the_notes_curve():
    end = notes_curves.smoothed("Constant LR", 1.0, 0.05)
    for pct, about in ((25, 3.5), (50, 1.8), (75, 1.27)):
        b = _band(f"ratio_{pct}")
        assert b.notes == pytest.approx(notes_curves.smoothed("Constant LR", pct / 100, 0.05)
                                        / end)
        assert b.notes == pytest.approx(about, abs=0.03)
        # half to twice the notes' log-fall, to the reading accuracy (0.01)
        assert b.low == pytest.approx(math.sqrt(b.notes), abs=0.005)
        assert b.high == pytest.approx(b.notes**2, abs=0.005)
    late, r75 = _band("late_fall"), _band("ratio_75")
    assert late.notes == pytest.approx(0.21, abs=0.01)  # the README's 19% under a 1% window
    assert late.notes == pytest.approx(1 - 1 / r75.notes)
    for x, r in ((late.low, r75.low), (late.high, r75.high)):
        assert x == pytest.approx(1 - 1 / r, abs=0.005)
    # the notes' own curve scores 1 on the step test: its envelope is its own steepest fall
    assert _band("step").notes == 1.0 and (_band("step").low, _band("step").high) == (0.0, 2.0)
    assert regime.NOTES_ENVELOPE.shape == (len(regime.STEP_GRID),)
    # steepest early, flattest late (up to the reading's noise)
    env = regime.NOTES_ENVELOPE
    assert np.all(np.diff(env) <= 0.01) and env[-1] < env[0] / 3


def test_a_smooth_power_law_is_in_every_band():
    d = diagnose(_power(1000), batch_size=64, n_train=250)
    assert all(d.held().values()), d
    assert d.late_fall == pytest.approx(1 - 1 / d.ratio_75)
    # with per-step noise too: the step test discounts the run's own standard error
    rng = np.random.default_rng(0)
    noisy = _power(1000) * np.exp(rng.normal(0.0, 0.3, 1000))
    assert regime.in_regime(diagnose(noisy, batch_size=64, n_train=250))
    # without that discount the noise alone would read as step-like falls
    raw = max(math.log(regime.smoothed_at(noisy, round(1000 * (t - 0.1)), 50)
                       / regime.smoothed_at(noisy, round(1000 * t), 50)) / g
              for t, g in zip(regime.STEP_GRID, regime.NOTES_ENVELOPE, strict=True))
    assert raw > diagnose(noisy, batch_size=64, n_train=250).step


@pytest.mark.parametrize("edges", [(0.2, 0.4, 0.6, 0.8), (0.3, 0.55, 0.8), (0.25, 0.5, 0.75)])
def test_a_staircase_fails_the_step_test_alone(edges):
    d = diagnose(_staircase(1000, edges), batch_size=64, n_train=250)
    held = d.held()
    assert held.pop("step") is False and d.step > 2.0
    assert all(held.values()), d  # every other band is blind to it


def test_a_curve_still_falling_fast_at_the_end_fails_the_late_fall_band():
    # smooth, but 55% of its loss goes in the last quarter
    n = 1000
    t = np.arange(1, n + 1) / n
    steep = 0.2 * np.exp(-math.log(1 / 0.45) * (t - 1.0) / 0.25)
    d = diagnose(steep, batch_size=64, n_train=250)
    assert d.late_fall == pytest.approx(0.55, abs=0.02)
    assert d.held()["late_fall"] is False and d.held()["ratio_75"] is False
    # and one that has stopped falling by the middle fails too
    flat = diagnose(np.r_[_power(500, final=0.18), np.full(500, 0.18)],
                           batch_size=64, n_train=250)
    assert not flat.held()["ratio_50"] and not flat.held()["late_fall"]


def test_shape_diagnostics_use_a_5_percent_window():
    assert regime.shape_window(1000) == 50 and regime.shape_window(10) == 1
    # a spike shorter than 5% of the horizon moves the 5%-window ratio by its share only
    a = _power(1000).copy()
    base = diagnose(a, batch_size=64, n_train=250)
    a[-5:] += 1.0
    spiked = diagnose(a, batch_size=64, n_train=250)
    assert spiked.final > 2 * base.final  # the 1% window sees it fully
    end = regime.smoothed_at(_power(1000), 1000, 50)
    assert base.ratio_25 / spiked.ratio_25 == pytest.approx((end + 5 / 50) / end)
    with pytest.raises(ValueError, match="horizon"):
        regime.shape_window(0)


def test_step_score_of_degenerate_curves():
    assert regime.step_score(np.full(100, 0.5), 5) == 0.0  # flat: no fall anywhere
    assert math.isnan(regime.step_score(np.zeros(100), 5))  # no log-fall of a zero loss
    d = diagnose(np.zeros(3), batch_size=1, n_train=1)
    assert not any(d.held()[k] for k in SHAPE)


def test_a_plateau_fails_the_rule_and_a_start_above_chance_does_not_count():
    n = 1000
    stuck = diagnose(_curve(n, 400, 0.3), batch_size=128, n_train=n * 128 // 256)
    assert stuck.plateau > 0.4 and stuck.held()["plateau"] is False
    assert not regime.in_regime(stuck)
    # above ln 10 for the first steps (random logits), then straight down: no plateau
    curve = np.r_[np.full(5, 3.0), _power(n)[5:]]
    quick = diagnose(curve, batch_size=128, n_train=500)
    assert quick.plateau < 0.05 and quick.held()["plateau"]
    # the final value is the notes' smoothing: the mean of the last 1% of the steps
    assert quick.epochs == 256 and quick.final == pytest.approx(curve[-10:].mean() / LN10)
    assert regime.in_regime(quick)


def test_final_and_epochs_leave_their_bands():
    n = 1000
    easy = diagnose(_power(n, final=0.01), batch_size=128, n_train=500)
    assert {k: x for k, x in easy.held().items() if k not in SHAPE} == {
        "final": False, "epochs": True, "plateau": True, "nu": True}
    assert all(easy.held()[k] for k in SHAPE)
    few = diagnose(_curve(n, 0, 0.2), batch_size=64, n_train=4096)
    assert few.epochs == pytest.approx(15.625) and few.held()["epochs"] is False
    assert regime.plateau_fraction(np.full(100, 2.5), 10) == 1.0


def test_late_fall_is_banded_on_the_shape_window():
    n = 1000
    # still falling steeply at the end: from 0.5 at 3/4 of the horizon to 0.25 at the end
    t = np.arange(n, dtype=np.float64)
    steep = np.where(t < 750, 0.5, 0.25)
    d = diagnose(steep, batch_size=128, n_train=500)
    assert d.late_fall == pytest.approx(0.5) and d.held()["late_fall"] is False
    # flat over the last quarter: no fall, outside the band's low end
    flat = diagnose(np.r_[np.full(500, 1.0), np.full(500, 0.2)], batch_size=128,
                           n_train=500)
    assert flat.late_fall == pytest.approx(0.0) and flat.held()["late_fall"] is False
    assert not regime.in_regime(d) and not regime.in_regime(flat)
    # the 5% window: a drop 20 steps before the end counts only 60% of the way
    drop = diagnose(np.r_[np.full(980, 0.5), np.full(20, 0.25)], batch_size=128,
                           n_train=500)
    assert drop.late_fall == pytest.approx(1 - (30 * 0.5 + 20 * 0.25) / 50 / 0.5)


def test_diagnose_rejects_bad_input():
    with pytest.raises(ValueError, match="losses"):
        diagnose(np.zeros((2, 3)), batch_size=1, n_train=1)
    with pytest.raises(ValueError, match="batch_size"):
        diagnose(np.zeros(3), batch_size=0, n_train=1)
    with pytest.raises(ValueError, match="n_train"):
        diagnose(np.zeros(3), batch_size=1, n_train=-1)


def test_regime_section_and_figure(tmp_path):
    n = 1000
    good = {"Constant LR": [_power(n, final=0.25), _power(n, final=0.22)],
            "Stepwise at 75%": [_power(n, final=0.08), _power(n, final=0.06)]}
    diags = report.regime_diagnostics(good, batch_size=128, n_train=500, window=10)
    text = "\n".join(report.regime_section(diags))
    assert "## Regime" in text and "**In the notes' regime**" in text
    assert "0.078 (0.18 / ln 10)" in text and "| 256.000 ± 0.000 |" in text
    bad = {"Constant LR": [_curve(n, 400, 0.25)]}
    text = "\n".join(report.regime_section(report.regime_diagnostics(
        bad, batch_size=128, n_train=500, window=10)))
    assert "**Not in the notes' regime**" in text and "**no**" in text
    assert "missing" in "\n".join(report.regime_section([]))

    fig = figures.plot_regime(np.stack(good["Constant LR"]), tmp_path / "regime.png",
                              window=10, final_band=(0.04, 0.16), notes_final=0.078,
                              plateau_band=0.05, data_label="synthetic")
    assert (tmp_path / "regime.png").stat().st_size > 1000
    (ax,) = fig.axes
    line = ax.lines[0]
    # the curve is in units of ln 10 against the fraction of the horizon
    assert line.get_xdata()[-1] == pytest.approx(1.0)
    assert line.get_ydata()[-1] == pytest.approx(np.mean(
        [c[-10:].mean() for c in good["Constant LR"]]) / LN10)


# ------------------------------------------------------------------------- the synthetic set


def test_difficulty_defaults_are_the_original_set_and_knobs_change_it():
    a = synthetic(200, 50, 0)
    b = synthetic(200, 50, 0, **Difficulty()._asdict())
    assert all(np.array_equal(x, y) for x, y in zip(a[:4], b[:4], strict=True))
    c = synthetic(200, 50, 0, colour=0.5)
    assert not np.array_equal(a.train_images, c.train_images)
    assert np.array_equal(a.train_labels, c.train_labels)


def test_colour_cue_is_a_class_mean_colour():
    def separability(d):
        m = d.train_images.reshape(len(d.train_labels), -1, 3).mean(1)
        means = np.stack([m[d.train_labels == k].mean(0) for k in range(10)])
        within = np.mean([m[d.train_labels == k].std(0).mean() for k in range(10)])
        return means.std(0).mean() / within

    plain, cued = synthetic(2000, 0, 0), synthetic(2000, 0, 0, colour=0.5)
    assert separability(plain) < 0.3 < 1.0 < separability(cued)


def test_label_noise_moves_that_fraction_of_training_labels_only():
    clean, noisy = synthetic(5000, 500, 0), synthetic(5000, 500, 0, label_noise=0.2)
    moved = (clean.train_labels != noisy.train_labels).mean()
    assert 0.18 < moved < 0.22
    assert np.array_equal(clean.test_labels, noisy.test_labels)
    assert np.array_equal(clean.train_images, noisy.train_images)


@pytest.mark.parametrize(
    "kwargs, name",
    [({"templates": 0}, "templates"), ({"shift": -1}, "shift"), ({"shift": 17}, "shift"),
     ({"noise": -0.1}, "noise"), ({"colour": float("nan")}, "colour"),
     ({"distractor": "1"}, "distractor"), ({"label_noise": 1.0}, "label_noise")],
)
def test_difficulty_validates(kwargs, name):
    with pytest.raises(ValueError, match=name):
        synthetic(10, 0, 0, **kwargs)


# ------------------------------------------------------------------------------ the presets


@pytest.mark.parametrize("name", ["quick", "cpu", "full"])
def test_presets_train_the_notes_number_of_epochs(name):
    p, w = alchemist.preset("tinyvit", name), SIZES[name]
    assert _band("epochs").holds(p.steps * w.batch_size / w.synthetic_train)
    assert synthetic(**{**w.synthetic_kwargs(), "n_train": 10, "n_test": 0}).name == "synthetic"


def test_report_has_the_regime_section_and_names_the_synthetic_knobs():
    n = 1000
    losses = {"Constant LR": [_curve(n, 0, 0.25)]}
    p = alchemist.preset("tinyvit", "quick")
    built = image.build("quick", data="synthetic")
    text = report.render(
        preset=p, built=built, seeds=1, rows=[], claims=[], figures=["regime.png"],
        window=10,
        regime_diagnostics=report.regime_diagnostics(
            losses, batch_size=built.examples_per_step, n_train=built.train_examples,
            window=10),
    )
    assert text.index("## Regime") < text.index("## Final train loss")
    assert "Synthetic set: 5000 training images" in text and "colour=0.5" in text
    assert "![regime.png](figures/regime.png)" in text


def test_drop_gain_is_the_share_a_late_drop_removes_and_is_reported_unbanded():
    # the notes' late drop removes about half of their constant run's loss within 5%
    assert 0.45 < regime.NOTES_DROP_GAIN < 0.65
    n = 1000
    const = _power(n, final=0.25)
    # progress-limited: the drop barely helps; noise-limited: it removes most of the loss
    for share in (0.1, 0.6):
        dropped = const.copy()
        dropped[750:] *= 1 - share
        assert regime.drop_gain(const, dropped) == pytest.approx(share, abs=0.02)
    with pytest.raises(ValueError, match="one horizon"):
        regime.drop_gain(const, const[:500])
    dropped = const.copy()
    dropped[750:] *= 0.5
    runs = {"Constant LR": [const, const], "Stepwise at 75%": [dropped, dropped]}
    gains = report.drop_gains(runs)
    assert gains == pytest.approx([0.5, 0.5], abs=0.02)
    diags = report.regime_diagnostics(runs, batch_size=128, n_train=500, window=10)
    row = next(line for line in report.regime_section(diags, gains)
               if line.startswith("| share of the loss"))
    assert f"| {regime.NOTES_DROP_GAIN:.2f} (their curves) | reported |" in row
    # it does not enter the verdict: the same section without it reaches the same verdict
    with_, without = (report.regime_section(diags, g) for g in (gains, ()))
    assert with_[-2] == without[-2]
    assert report.drop_gains({"Constant LR": [const]}) == []


# ------------------------------------------------------------------------- the noise share


def test_the_noise_share_band_is_half_to_twice_the_notes_log_fall():
    b = regime.NOISE_SHARE_BAND
    assert b.name == "nu" and b in regime.BANDS
    notes = 1 - notes_curves.final("Stepwise at 75%") / notes_curves.final("Constant LR")
    assert b.notes == pytest.approx(notes) == pytest.approx(0.71, abs=0.01)
    log_fall = -math.log(1 - notes)
    assert -math.log(1 - b.low) == pytest.approx(log_fall / 2, abs=0.01)
    assert -math.log(1 - b.high) == pytest.approx(2 * log_fall, abs=0.06)
    assert (b.low, b.high) == (0.46, 0.91)


def test_the_noise_share_enters_the_verdict():
    curve = _power(1000)
    assert regime.in_regime(diagnose(curve, batch_size=64, n_train=250))
    unmeasured = regime.diagnose(curve, batch_size=64, n_train=250)
    assert math.isnan(unmeasured.nu) and not unmeasured.held()["nu"]
    assert not regime.in_regime(unmeasured)
    progress_limited = diagnose(curve, batch_size=64, n_train=250,
                                nu=regime.noise_share(0.36, 0.31))
    assert not progress_limited.held()["nu"] and not regime.in_regime(progress_limited)
    assert all(v for k, v in progress_limited.held().items() if k != "nu")
    with pytest.raises(ValueError, match="dropped_final"):
        regime.noise_share(0.3, 0.0)


def test_the_report_reads_nu_from_the_end_of_run_statistic_of_both_calibrating_runs():
    const = np.r_[np.full(950, 1.0), np.full(50, 0.30)]   # the last 5%: 50 steps
    dropped = np.r_[np.full(900, 1.0), np.full(50, 5.0), np.full(50, 0.09)]
    runs = {"Constant LR": [report.Record(const)], "Stepwise at 75%": [report.Record(dropped)]}
    (d,) = report.regime_diagnostics(runs, batch_size=64, n_train=1536, window=10)
    assert d.nu == pytest.approx(0.7)   # 1 - 0.09 / 0.30: the windows, nothing before them
    lines = "\n".join(report.regime_section([d]))
    assert "end-of-run noise share" in lines and "0.700" in lines and "0.46 - 0.91" in lines
    (alone,) = report.regime_diagnostics({"Constant LR": runs["Constant LR"]}, batch_size=64,
                                         n_train=1536, window=10)
    assert math.isnan(alone.nu)


def test_fidelity_section_says_what_chose_the_preset():
    rows = [{"label": alchemist.CONSTANT, "ratio": 1.0, "notes_ratio": 1.0, "log_ratio": 0.0},
            {"label": "Cosine Decay", "ratio": 0.8, "notes_ratio": 0.36,
             "log_ratio": math.log(0.8 / 0.36)},
            {"label": "Stepwise at 75%", "ratio": 0.5, "notes_ratio": 0.29,
             "log_ratio": math.log(0.5 / 0.29)}]
    notes = "\n".join(report.fidelity_section(rows))
    other = "\n".join(report.fidelity_section(rows, notes_workload=False))
    assert "The stand-in was calibrated on two runs" in notes
    assert "stand-in" not in other and "This workload is not the notes'" in other
    for text in (notes, other):
        assert "| Stepwise at 75% | calibrating |" in text
        assert "| Cosine Decay | held out |" in text
        # the median is over the held-out runs only: cosine's alone here
        assert f"**{abs(math.log(0.8 / 0.36)):.2f}**" in text


def test_the_regime_figure_is_in_units_of_the_workloads_chance(tmp_path):
    n = 400
    runs = {"Constant LR": [report.Record(_power(n, final=1.5), [])] * 2}
    chance = math.log(256.0)
    (name,) = figures.draw_figures(["regime"], runs, 10, tmp_path, "stdlib", notes=False,
                                   chance=chance)
    assert name == "regime.png" and (tmp_path / name).stat().st_size > 1000
    fig = figures.plot_regime(np.stack([r.losses for r in runs["Constant LR"]]), window=10,
                              final_band=(0.04, 0.16), notes_final=0.078, plateau_band=0.05,
                              chance=chance)
    (ax,) = fig.axes
    assert ax.lines[0].get_ydata()[-1] == pytest.approx(
        runs["Constant LR"][0].losses[-10:].mean() / chance)
    assert "5.55" in ax.get_ylabel()
