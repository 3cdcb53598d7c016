"""The learning-rate protocol's rule (jaxsched.chapter.sweep), on numbers whose answer is known.

The sweep itself runs end to end on a toy workload in tests/test_toy_workload.py.
"""

from __future__ import annotations

import json

import pytest

from jaxsched.chapter import sweep


def test_the_chosen_lr_is_the_lowest_mean_and_ties_go_to_the_smaller():
    assert sweep.best_lr({1e-3: [0.30, 0.32], 2e-3: [0.25, 0.27], 4e-3: [0.40]}) == 2e-3
    assert sweep.best_lr({1e-3: [0.2], 2e-3: [0.2]}) == 1e-3
    with pytest.raises(ValueError, match="finals"):
        sweep.best_lr({})


def test_the_grid_grows_past_the_end_where_the_best_lies():
    grid = [1e-3, 2e-3, 4e-3]
    assert sweep.extension(grid, 1e-3) == [5e-4]
    assert sweep.extension(grid, 4e-3) == [8e-3]
    assert sweep.extension(grid, 2e-3) == []
    assert sweep.extension([1e-3], 1e-3) == [5e-4, 2e-3]


def test_the_default_grid_is_a_factor_2_either_side_twice():
    assert sweep.default_grid(2e-3) == [5e-4, 1e-3, 2e-3, 4e-3, 8e-3]
    with pytest.raises(ValueError, match="lr"):
        sweep.default_grid(0.0)


def test_a_committed_sweep_names_its_chosen_lr(tmp_path):
    (tmp_path / sweep.SWEEP_JSON).write_text(json.dumps({"chosen_lr": 0.003}))
    assert sweep.read_chosen_lr(tmp_path) == 0.003
    (tmp_path / sweep.SWEEP_JSON).write_text(json.dumps({"chosen_lr": -1}))
    with pytest.raises(ValueError, match="chosen_lr"):
        sweep.read_chosen_lr(tmp_path)


def test_the_rates_the_seeds_do_not_tell_apart_from_the_chosen_one_are_named():
    finals = {5e-4: [0.146, 0.140, 0.150], 1e-3: [0.117, 0.124, 0.131],
              2e-3: [0.112, 0.139, 0.128], 4e-3: [0.147, 0.180, 0.145]}
    chosen = sweep.best_lr(finals)
    assert chosen == 1e-3
    # 2e-3 is within the combined spread; 5e-4 and 4e-3 end above it beyond the spread
    assert sweep.unresolved(finals, chosen) == [2e-3]
    # one seed: only an exact tie is left unresolved
    assert sweep.unresolved({1e-3: [0.2], 2e-3: [0.2], 4e-3: [0.21]}, 1e-3) == [2e-3]
    assert sweep.unresolved({1e-3: [0.2], 2e-3: [0.2001]}, 1e-3) == []
    with pytest.raises(ValueError, match="chosen=0.003"):
        sweep.unresolved(finals, 3e-3)


@pytest.mark.parametrize("spread, expected", [(0.05, "**Not resolved by the seeds**: at 0.002"),
                                              (0.001, "run's best is resolved")])
def test_the_report_says_whether_the_seeds_resolved_the_choice(spread, expected):
    import types

    finals = {
        "Constant LR": {1e-3: [0.10 - spread, 0.10 + spread], 2e-3: [0.11, 0.11 + 2 * spread],
                        4e-3: [0.30, 0.31]},
        "Linear Decay 100%": {1e-3: [0.09, 0.09], 2e-3: [0.08, 0.08], 4e-3: [0.07, 0.07]},
        "Stepwise at 75%": {1e-3: [0.05, 0.05], 2e-3: [0.04, 0.06], 4e-3: [0.10, 0.10]},
    }
    result = sweep.SweepResult("tinyvit", "quick", 100, finals, 1e-3, 4e-3, at_edge=False)
    text = sweep.render(result, types.SimpleNamespace(notes=["Task: a test"]), seeds=2)
    assert expected in text
    assert "\n\n## Final loss against learning rate" in text
    assert result.to_json()["unresolved_from_chosen"] == result.unresolved


def test_the_sweep_reports_the_noise_share_of_every_rate_seed_by_seed():
    import types

    finals = {
        "Constant LR": {1e-3: [0.10, 0.20], 2e-3: [0.12, 0.12]},
        "Linear Decay 100%": {1e-3: [0.09, 0.09], 2e-3: [0.08, 0.08]},
        "Stepwise at 75%": {1e-3: [0.05, 0.05], 2e-3: [0.09, 0.03]},
    }
    result = sweep.SweepResult("tinyvit", "quick", 100, finals, 1e-3, 2e-3, at_edge=False)
    assert result.noise_share[1e-3] == pytest.approx([0.5, 0.75])
    assert result.noise_share[2e-3] == pytest.approx([0.25, 0.75])
    assert result.to_json()["noise_share"]["0.002"] == pytest.approx([0.25, 0.75])
    text = sweep.render(result, types.SimpleNamespace(notes=["Task: a test"]), seeds=2)
    row = next(line for line in text.splitlines() if line.startswith("| 0.002 |"))
    # 0.25 is below the band (0.46 - 0.91), 0.75 inside it
    assert "0.500 ± 0.354 | 1/2 seeds |" in row
    assert "| lr | Constant LR | Linear Decay 100% | Stepwise at 75% | nu | nu in band |" in text
