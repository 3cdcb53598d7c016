"""The REPORTs' Markdown table helper."""

from __future__ import annotations

import pytest

from jaxsched._markdown import table


def test_cells_are_strings_and_empty_cells_stay_empty():
    assert table(["a", "b"], [[1, None], ["", 0.5]]) == [
        "| a | b |", "|---|---|", "| 1 | None |", "|  | 0.5 |"]


def test_a_row_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match=r"rows: row 1 has 1 cells, the header 2"):
        table(["a", "b"], [[1, 2], [3]])
