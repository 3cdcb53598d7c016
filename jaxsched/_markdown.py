"""Markdown tables for the REPORTs: one header, its rule, one line per row.

>>> print("\\n".join(table(["run", "final"], [["cosine", 0.25], ["constant", ""]])))
| run | final |
|---|---|
| cosine | 0.25 |
| constant |  |
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["row", "table"]


def row(cells: Iterable[object]) -> str:
    """One table line: ``| a | b |`` (each cell as ``str``; an empty cell stays empty)."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """A GitHub-flavoured Markdown table as lines: ``header``, its ``|---|`` rule, ``rows``.

    Every row has as many cells as the header (``ValueError`` otherwise: a short row would
    shift the columns it leaves out).
    """
    lines = [row(header), "|" + "---|" * len(header)]
    for i, cells in enumerate(rows):
        if len(cells) != len(header):
            raise ValueError(f"rows: row {i} has {len(cells)} cells, the header {len(header)}, "
                             f"got {list(cells)!r}")
        lines.append(row(cells))
    return lines
