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
