"""The notes' claims are evaluated from losses, not asserted: each flips when the data does."""

import numpy as np
import pytest

from jaxsched.chapter import alchemist, notes_curves, report
from jaxsched.smoothing import smoothed_at
from jaxsched.workloads import image

T = 400
W = 20


def _losses(final: dict[str, float], seeds: int = 1, noise: float = 0.0, offset: float = 0.0):
    rng = np.random.default_rng(0)
    out = {}
    for label, spec in alchemist.RUNS.items():
        n = round(T * spec.length)
        runs = []
        for k in range(seeds):
            # Fast approach to the final value: each run is near its final loss well before
            # the end of the shortest linear decay.
            t = np.arange(n)
            curve = final[label] + (2.0 - final[label]) * np.exp(-t / 5.0)
            curve = curve + noise * rng.standard_normal(n) + offset * (k - (seeds - 1) / 2)
            runs.append(curve.astype(np.float32))
        out[label] = runs
    return out


NOTES = {label: notes_curves.final(label) for label in alchemist.RUNS}


def _by_name(claims):
    return {c.name: c for c in claims}


def test_notes_values_hold_every_claim():
    claims = _by_name(report.evaluate_claims(_losses(NOTES)))
    assert set(claims) == {
        "decay_beats_constant", "decay_shapes_close", "ema_matches_cosine", "polyak_lags",
        "schedule_free_pareto",
    }
    assert all(c.held for c in claims.values()), [c for c in claims.values() if not c.held]


@pytest.mark.parametrize(
    "change, claim",
    [
        ({"Cosine Decay": 0.30}, "decay_beats_constant"),
        ({"Stepwise at 75%": 0.15}, "decay_shapes_close"),
        ({"Exp Avg (0.9999)": 0.15}, "ema_matches_cosine"),
        ({"Polyak Avg": 0.10}, "polyak_lags"),
        ({"ScheduleFree (Exponential)": 0.07}, "schedule_free_pareto"),
    ],
)
def test_each_claim_fails_when_its_runs_disagree(change, claim):
    claims = _by_name(report.evaluate_claims(_losses({**NOTES, **change})))
    assert claims[claim].held is False
    others = [c for name, c in claims.items() if name != claim]
    assert all(c.held for c in others) or claim == "decay_beats_constant"


def test_the_evidence_marks_the_run_that_breaks_an_inequality():
    claims = _by_name(report.evaluate_claims(_losses({**NOTES, "Stepwise at 25%": 0.30})))
    parts = claims["decay_beats_constant"].evidence.split("; ")
    broken = [p for p in parts if p.endswith("(not below)")]
    assert len(broken) == 1 and broken[0].startswith("Stepwise at 25% ")
    lags = _by_name(report.evaluate_claims(_losses({**NOTES, "Polyak Avg": 0.10})))
    assert lags["polyak_lags"].evidence.endswith("(not above)")
    assert "(not" not in _by_name(report.evaluate_claims(_losses(NOTES)))[
        "polyak_lags"].evidence


def test_pareto_uses_the_curve_at_each_linear_end_not_only_the_final():
    losses = _losses(NOTES)
    # Schedule-free ends lowest but sits high at 25% of the horizon: not Pareto-dominant.
    sf = losses["ScheduleFree (Exponential)"][0]
    sf[: T // 4] = 1.0
    claims = _by_name(report.evaluate_claims(losses))
    assert claims["schedule_free_pareto"].held is False
    assert "Linear Decay 25%" in claims["schedule_free_pareto"].evidence


def test_seeds_require_gap_beyond_spread():
    values = {**NOTES, "Polyak Avg": 0.20}  # 0.02 above constant
    tight = _by_name(report.evaluate_claims(_losses(values, seeds=3, noise=0.001)))
    loose = _by_name(report.evaluate_claims(_losses(values, seeds=3, offset=0.1)))
    assert tight["polyak_lags"].held is True
    assert loose["polyak_lags"].held is False


def test_missing_runs_are_reported_not_guessed():
    losses = _losses(NOTES)
    del losses["Polyak Avg"]
    claims = _by_name(report.evaluate_claims(losses))
    assert claims["polyak_lags"].held is None
    assert "Polyak Avg" in claims["polyak_lags"].evidence


def test_smoothed_at_is_the_notes_moving_average():
    x = np.arange(10, dtype=np.float32)
    ma = np.convolve(x, np.ones(3), "valid") / 3
    assert smoothed_at(x, 10, 3) == pytest.approx(ma[-1])
    assert smoothed_at(x, 5, 3) == pytest.approx(ma[2])


def test_render_labels_synthetic_data():
    losses = _losses(NOTES)
    rows = report.final_table(losses, {}, W)
    text = report.render(
        preset=alchemist.preset("tinyvit", "smoke"), built=image.build("smoke", data="synthetic"),
        seeds=1, rows=rows,
        claims=report.evaluate_claims(losses), figures=["pareto.png"], window=W,
    )
    assert "synthetic" in text and "NOT CIFAR-10" in text
    assert "| Constant LR |" in text and f"{notes_curves.final('Constant LR'):.3f}" in text
    assert text.count("**held**") == 5
    assert "![pareto.png](figures/pareto.png)" in text


def test_ema_below_cosine_holds_even_when_cosine_has_no_gain():
    # cosine no better than constant, EMA far below both: "as low as cosine, or below it"
    values = {**NOTES, "Cosine Decay": 0.20, "Exp Avg (0.9999)": 0.05}
    claims = _by_name(report.evaluate_claims(_losses(values)))
    assert claims["ema_matches_cosine"].held is True
    worse = {**NOTES, "Cosine Decay": 0.20, "Exp Avg (0.9999)": 0.25}
    assert _by_name(report.evaluate_claims(_losses(worse)))["ema_matches_cosine"].held is False


def test_claims_are_data_a_new_claim_is_checked_by_its_rule(monkeypatch):
    extra = alchemist.Claim("cosine_beats_polyak", "Cosine ends below Polyak.", "below",
                            ("Cosine Decay",), reference="Polyak Avg")
    monkeypatch.setattr(alchemist, "CLAIMS", (*alchemist.CLAIMS, extra))
    claims = _by_name(report.evaluate_claims(_losses(NOTES)))
    assert claims["cosine_beats_polyak"].held is True
    flipped = _by_name(report.evaluate_claims(_losses({**NOTES, "Cosine Decay": 0.6})))
    assert flipped["cosine_beats_polyak"].held is False
    assert set(report.RULES) >= {c.rule for c in alchemist.CLAIMS}


def test_the_end_of_run_statistic_is_the_last_5_percent_of_the_runs_own_horizon():
    losses = np.arange(1000, dtype=np.float64)
    assert report.final_value(losses) == pytest.approx(np.mean(losses[950:]))
    # read at the end of a run of 400 steps: that run's window, 20 steps
    assert report.value_at(losses, 400) == pytest.approx(np.mean(losses[380:400]))
    # evaluations do not enter it
    rec = report.Record(losses, [{"step": 1000, "train_loss": -1.0}])
    assert report.final_value(rec) == report.final_value(losses)
