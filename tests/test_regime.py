"""The regime rule (issue 11): diagnostics from the constant-LR run and the data, the REPORT
section and figure, the synthetic set's difficulty knobs, and every preset inside the bands."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jaxsched.chapter import alchemist, figures, regime, report
from jaxsched.train.data import Difficulty, synthetic

LN10 = math.log(10)


def _curve(n: int, plateau: int, final: float, start: float = 2.5) -> np.ndarray:
    """Flat at ``start`` for ``plateau`` steps, then an exponential fall towards ``final``."""
    t = np.arange(n, dtype=np.float64)
    fall = final + (LN10 - final) * np.exp(-np.maximum(t - plateau, 0) / (0.2 * n))
    return np.where(t < plateau, start, fall)


def _band(name):
    return next(b for b in regime.BANDS if b.name == name)


def test_bands_are_the_notes_values():
    final, epochs, plateau = (_band(n) for n in ("final", "epochs", "plateau"))
    assert final.notes == pytest.approx(alchemist.RUNS["Constant LR"].notes_loss / LN10)
    assert epochs.notes == alchemist.NOTES_STEPS * 128 / 50_000 == 256
    for b in regime.BANDS:
        assert b.low <= b.notes <= b.high and b.holds(b.notes)
        assert not b.holds(b.high * 1.01 + 1e-9)


def test_a_plateau_fails_the_rule_and_a_start_above_chance_does_not_count():
    n = 1000
    stuck = regime.diagnose(_curve(n, 400, 0.3), batch_size=128, n_train=n * 128 // 256)
    assert stuck.plateau > 0.4 and stuck.held()["plateau"] is False
    assert not regime.in_regime(stuck)
    # above ln 10 for the first steps (random logits), then straight down: no plateau
    curve = _curve(n, 5, 0.3, start=3.0)
    quick = regime.diagnose(curve, batch_size=128, n_train=500)
    assert quick.plateau < 0.05 and quick.held()["plateau"]
    # the final value is the notes' smoothing: the mean of the last 1% of the steps
    assert quick.epochs == 256 and quick.final == pytest.approx(curve[-10:].mean() / LN10)
    assert regime.in_regime(quick)


def test_final_and_epochs_leave_their_bands():
    n = 1000
    easy = regime.diagnose(_curve(n, 0, 0.01), batch_size=128, n_train=500)
    assert easy.held() == {"final": False, "epochs": True, "plateau": True}
    few = regime.diagnose(_curve(n, 0, 0.2), batch_size=64, n_train=4096)
    assert few.epochs == pytest.approx(15.625) and few.held()["epochs"] is False
    assert regime.plateau_fraction(np.full(100, 2.5), 10) == 1.0


def test_late_fall_is_reported_without_a_band(tmp_path):
    n = 1000
    # still falling steeply at the end: from 0.5 at 3/4 of the horizon to 0.25 at the end
    t = np.arange(n, dtype=np.float64)
    steep = np.where(t < 750, 0.5, 0.25)
    d = regime.diagnose(steep, batch_size=128, n_train=500)
    assert d.late_fall == pytest.approx(0.5)
    # flat over the last quarter: no fall
    flat = regime.diagnose(np.r_[np.full(500, 1.0), np.full(500, 0.2)], batch_size=128,
                           n_train=500)
    assert flat.late_fall == pytest.approx(0.0)
    # not banded: the rule's verdict does not read it
    assert "late_fall" not in d.held() and d.held() == flat.held()
    text = "\n".join(report.regime_section([d, d]))
    assert "| 0.500 ± 0.000 | not given" in text and "| none | not banded |" in text
    assert "falls 50% over its last quarter" in text and "necessary, not sufficient" in text


def test_diagnose_rejects_bad_input():
    with pytest.raises(ValueError, match="losses"):
        regime.diagnose(np.zeros((2, 3)), batch_size=1, n_train=1)
    with pytest.raises(ValueError, match="batch_size"):
        regime.diagnose(np.zeros(3), batch_size=0, n_train=1)
    with pytest.raises(ValueError, match="n_train"):
        regime.diagnose(np.zeros(3), batch_size=1, n_train=-1)


def test_regime_section_and_figure(tmp_path):
    n = 1000
    good = {"Constant LR": [_curve(n, 0, 0.25), _curve(n, 0, 0.22)]}
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
    p = alchemist.PRESETS[name]
    w = p.workload
    assert _band("epochs").holds(p.steps * w.batch_size / w.synthetic_train)
    assert synthetic(**{**w.synthetic_kwargs(), "n_train": 10, "n_test": 0}).name == "synthetic"


def test_report_has_the_regime_section_and_names_the_synthetic_knobs():
    n = 1000
    losses = {"Constant LR": [_curve(n, 0, 0.25)]}
    p = alchemist.PRESETS["quick"]
    text = report.render(
        preset=p, data_name="synthetic", seeds=1, rows=[], claims=[], figures=["regime.png"],
        window=10,
        regime_diagnostics=report.regime_diagnostics(
            losses, batch_size=p.workload.batch_size, n_train=p.workload.synthetic_train,
            window=10),
    )
    assert text.index("## Regime") < text.index("## Final smoothed train loss")
    assert "Synthetic set: 1536 training images" in text and "colour=0.5" in text
    assert "![regime.png](figures/regime.png)" in text


@pytest.mark.slow
def test_quick_preset_constant_run_is_in_the_regime():
    """The quick preset's constant-LR run (seed 0) lands in every band (about a minute)."""
    import jax.numpy as jnp

    from jaxsched.train.loop import GroupTrainer

    p = alchemist.PRESETS["quick"]
    data = p.workload.load_data("synthetic")
    cfg = alchemist.run_config(alchemist.RUNS["Constant LR"], p)
    trainer = GroupTrainer(p.workload.task(data), cfg.make_optimizer, chunk_size=p.steps)
    hp = {k: jnp.full((1,), v, jnp.float32) for k, v in cfg.hparams().items()}
    state = trainer.init(np.array([0], np.int32), hp)
    _, losses = trainer.train(state, cfg.lr_table()[None], hp, p.steps)
    d = regime.diagnose(np.asarray(losses)[0], batch_size=p.workload.batch_size,
                        n_train=p.workload.synthetic_train, window=p.window)
    assert regime.in_regime(d), d
