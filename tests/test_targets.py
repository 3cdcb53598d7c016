"""Time to target and cost, on hand-made comparison results whose answers are known."""

import csv
import math

import pytest

from jaxsched.compare import targets
from jaxsched.compare.candidates import resolve
from jaxsched.compare.experiment import Results

LRS = (0.1, 0.2)
HORIZONS = (200, 400)
EVERY = 100


def _scheduled(name, lr, horizon, seed, losses):
    return [dict(candidate=name, lr=lr, horizon=horizon, seed=seed, step=EVERY * (i + 1),
                 loss=x, accuracy=0.5) for i, x in enumerate(losses)]


def _anytime(name, lr, seed, losses):
    # As the comparison writes them: the one run's evaluations under every horizon.
    return [r for h in HORIZONS for r in _scheduled(name, lr, h, seed, losses)
            if r["step"] <= h]


def _results(rows, names=("cosine", "linear", "sf_adamw", "adam_ema", "constant"), seeds=2):
    return Results(rows=rows, candidates=resolve(list(names)), lrs=LRS, horizons=HORIZONS,
                   seeds=seeds)


NEVER = [2.0, 1.9, 1.8, 1.7]


def grid_rows():
    rows = []
    for s in (0, 1):
        # cosine: only its T=400 runs reach 1.0, at their last step; lr 0.2 ends at 1.1, so
        # the tuned envelope at T=400 is lr 0.1's 1.0 (the default target).
        rows += _scheduled("cosine", 0.1, 200, s, [2.0, 1.5])
        rows += _scheduled("cosine", 0.1, 400, s, [2.0, 1.6, 1.3, 1.0])
        rows += _scheduled("cosine", 0.2, 200, s, [2.0, 1.6])
        rows += _scheduled("cosine", 0.2, 400, s, [2.0, 1.7, 1.4, 1.1])
        # linear: T=200 at lr 0.1 reaches at 200 (both seeds), T=400 at 300: the best horizon
        # is 200. lr 0.2's T=200 reaches at 100 with seed 0 only: fewer seeds lose.
        rows += _scheduled("linear", 0.1, 200, s, [1.5, 1.0])
        rows += _scheduled("linear", 0.1, 400, s, [1.5, 1.2, 0.9, 0.8])
        rows += _scheduled("linear", 0.2, 200, s, [0.9 if s == 0 else 1.4, 1.3])
        rows += _scheduled("linear", 0.2, 400, s, NEVER)
        # sf_adamw, one run per (lr, seed): lr 0.1 reaches at 300 (seed 0) and 400 (seed 1);
        # lr 0.2 at 200 with seed 0 but never with seed 1: lr 0.1 is chosen, seeds separate.
        rows += _anytime("sf_adamw", 0.1, s, [1.8, 1.2, 1.0, 0.9] if s == 0 else
                         [1.8, 1.3, 1.1, 1.0])
        rows += _anytime("sf_adamw", 0.2, s, [1.5, 1.0, 0.9, 0.8] if s == 0 else
                         [1.5, 1.2, 1.1, 1.05])
        # adam_ema: both lrs reach with both seeds; lr 0.2 sooner on average (250 < 400).
        rows += _anytime("adam_ema", 0.1, s, [1.8, 1.5, 1.2, 1.0])
        rows += _anytime("adam_ema", 0.2, s, [1.5, 1.0, 0.9, 0.8] if s == 0 else
                         [1.5, 1.2, 1.0, 0.9])
        # constant never gets there (a NaN does not count as reaching it).
        rows += _anytime("constant", 0.1, s, NEVER)
        rows += _anytime("constant", 0.2, s, [1.5, float("nan"), float("nan"), float("nan")])
    return rows


def _steps(rows):
    return {(r["candidate"], r["seed"]): r["steps_to_target"] for r in rows}


def test_time_to_target_known_by_construction():
    res = _results(grid_rows())
    assert targets.default_target(res) == 1.0
    rows = targets.time_to_target(res)
    assert [tuple(r) for r in rows] == [targets.TIME_TO_TARGET_COLUMNS] * 10
    assert all(r["target"] == 1.0 for r in rows)
    assert _steps(rows) == {
        ("cosine", 0): 400, ("cosine", 1): 400,
        ("linear", 0): 200, ("linear", 1): 200,
        ("sf_adamw", 0): 300, ("sf_adamw", 1): 400,
        ("adam_ema", 0): 200, ("adam_ema", 1): 300,
        ("constant", 0): None, ("constant", 1): None,
    }
    assert all(r["seconds_to_target"] is None for r in rows)


def test_tune_reports_the_chosen_configuration():
    choices = targets.tune(_results(grid_rows()), 1.0)
    assert choices["cosine"] == targets.Choice(0.1, 400, 2, 2, (400, 400))
    assert choices["linear"][:3] == (0.1, 200, 2)
    assert choices["sf_adamw"][:3] == (0.1, None, 2)
    assert choices["adam_ema"][:3] == (0.2, None, 2)
    assert choices["constant"] == targets.Choice(None, None, 0, 2, (None, None))


def test_partial_reach_keeps_the_seeds_that_reach():
    rows = [r for r in grid_rows() if not (r["candidate"] == "sf_adamw" and r["lr"] == 0.1)]
    assert _steps(targets.time_to_target(_results(rows), target=1.0))[("sf_adamw", 0)] == 200
    assert _steps(targets.time_to_target(_results(rows), target=1.0))[("sf_adamw", 1)] is None


def test_a_given_target_overrides_and_wall_time_is_steps_times_seconds():
    res = _results(grid_rows())
    per = {"cosine": 0.01, "linear": 0.01, "sf_adamw": 0.02, "adam_ema": 0.015,
           "constant": 0.01}
    rows = targets.time_to_target(res, target=1.5, seconds_per_run_step=per)
    got = {(r["candidate"], r["seed"]): (r["steps_to_target"], r["seconds_to_target"])
           for r in rows}
    assert got[("cosine", 0)] == (200, 2.0)  # its T=200 run at lr 0.1 ends at 1.5
    assert got[("sf_adamw", 1)] == (100, 2.0)  # lr 0.2 is 1.5 at step 100 with both seeds
    assert got[("constant", 0)] == (100, 1.0)  # lr 0.2 at 100; the NaNs come later
    assert all(r["target"] == 1.5 for r in rows)


@pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf"), "1.0", True, [1.0]])
def test_bad_targets(bad):
    res = _results(grid_rows())
    with pytest.raises(ValueError, match="target"):
        targets.time_to_target(res, target=bad)
    with pytest.raises(ValueError, match="target"):
        targets.check_target(bad)


def test_bad_seconds_and_reference():
    res = _results(grid_rows())
    with pytest.raises(ValueError, match="seconds_per_run_step.*missing \\['constant'\\]"):
        targets.time_to_target(res, seconds_per_run_step={"cosine": 1, "linear": 1,
                                                          "sf_adamw": 1, "adam_ema": 1})
    with pytest.raises(ValueError, match="seconds_per_run_step\\['cosine'\\]"):
        targets.time_to_target(res, seconds_per_run_step={n: -1.0 for n in
                                                          ("cosine", "linear", "sf_adamw",
                                                           "adam_ema", "constant")})
    with pytest.raises(ValueError, match="reference"):
        targets.default_target(res, reference="wsd")
    with pytest.raises(ValueError, match="metric"):
        targets.time_to_target(res, metric="bpb")
    # A diverged seed removes an lr from the envelope; with none left there is no default.
    rows = [r for r in grid_rows() if not (r["candidate"] == "cosine" and r["seed"] == 1)]
    with pytest.raises(ValueError, match="give a target"):
        targets.default_target(_results(rows))


def test_run_curves_merge_an_anytime_run_and_refuse_conflicts():
    res = _results(grid_rows())
    curves = targets.run_curves(res)
    assert curves[("sf_adamw", 0.1, None, 0)] == [(100, 1.8), (200, 1.2), (300, 1.0),
                                                  (400, 0.9)]
    assert curves[("cosine", 0.1, 200, 1)] == [(100, 2.0), (200, 1.5)]
    bad = grid_rows() + [dict(candidate="sf_adamw", lr=0.1, horizon=200, seed=0, step=200,
                              loss=0.7, accuracy=0.5)]
    with pytest.raises(ValueError, match="two values at step 200"):
        targets.run_curves(_results(bad))


def test_target_curves_for_the_figure():
    res = _results(grid_rows())
    curves = targets.target_curves(res, 1.0)
    assert curves["cosine"] == {"lr": 0.1, "horizon": 400, "reached": 2,
                                "steps": [100, 200, 300, 400], "mean": [2.0, 1.6, 1.3, 1.0]}
    assert curves["sf_adamw"]["mean"] == pytest.approx([1.8, 1.25, 1.05, 0.95])
    never = curves["constant"]  # the configuration that gets lowest: lr 0.2's 1.5
    assert (never["lr"], never["reached"], never["mean"][0]) == (0.2, 0, 1.5)


def test_csv_is_written_atomically_with_empty_cells(tmp_path):
    rows = targets.time_to_target(_results(grid_rows()),
                                  seconds_per_run_step=dict.fromkeys(
                                      ("cosine", "linear", "sf_adamw", "adam_ema", "constant"),
                                      0.25))
    path = tmp_path / "out" / "time_to_target.csv"
    targets.write_time_to_target(rows, path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["time_to_target.csv"]
    with path.open() as f:
        read = list(csv.reader(f))
    assert tuple(read[0]) == targets.TIME_TO_TARGET_COLUMNS
    by = {(r[0], r[1]): r for r in read[1:]}
    assert by[("sf_adamw", "0")] == ["sf_adamw", "0", "1.0", "300", "75.0"]
    assert by[("constant", "1")] == ["constant", "1", "1.0", "", ""]


def test_cost_against_plain_adamw(tmp_path):
    measured = {"cosine": (2000, 20.0), "constant": (1000, 10.0), "sf_adamw": (1000, 12.5)}
    rows = targets.cost(measured)
    assert [tuple(r) for r in rows] == [targets.COST_COLUMNS] * 3
    by = {r["candidate"]: r for r in rows}
    assert by["sf_adamw"]["run_steps_per_s"] == 80.0
    assert by["sf_adamw"]["ratio"] == 0.8 and by["cosine"]["ratio"] == 1.0
    assert {r["baseline"] for r in rows} == {"constant"}
    assert targets.cost(measured, baseline="sf_adamw")[0]["ratio"] == 1.25
    alone = targets.cost({"sf_adamw": (10, 1.0)})[0]
    assert (alone["baseline"], alone["ratio"]) == (None, None)
    assert targets.seconds_per_run_step(measured) == {"cosine": 0.01, "constant": 0.01,
                                                       "sf_adamw": 0.0125}
    path = tmp_path / "cost.csv"
    targets.write_cost(rows, path)
    assert path.read_text().splitlines()[0] == ",".join(targets.COST_COLUMNS)
    assert math.isclose(float(path.read_text().splitlines()[3].split(",")[-1]), 0.8)


@pytest.mark.parametrize("measured, match", [
    ({}, "measured"), ({"a": (0, 1.0)}, "run_steps"), ({"a": (10, 0.0)}, "seconds"),
    ({"a": (10, float("nan"))}, "seconds"), ({"a": 3.0}, "run_steps, seconds"),
])
def test_bad_cost_inputs(measured, match):
    with pytest.raises(ValueError, match=match):
        targets.cost(measured)
    with pytest.raises(ValueError, match="baseline"):
        targets.cost({"a": (10, 1.0)}, baseline="constant")
