"""The notebooks in `notebooks/` run on the current code and their paired files agree.

Each notebook is a jupytext pair: a percent-format ``.py`` (the one to edit and review) and an
``.ipynb`` committed without outputs. The tests execute every ``.ipynb`` with nbclient at its
smallest setting (the default of its first code cell), in a temporary working directory, with
``JAXSCHED_DATA`` pointing to an empty directory so that ``data="auto"`` falls back to the
synthetic set without touching the network; XLA_FLAGS from the root conftest (the cheap compile
pipeline) reaches the kernels. Set ``JAXSCHED_EXECUTED_NOTEBOOKS=DIR`` to keep the
executed notebooks (with their outputs) for a look.
"""

from __future__ import annotations

import pathlib

import pytest

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = ("lr_schedules_reproduction", "schedule_gallery", "schedule_free_vs_cosine")


def _code_and_markdown(nb) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source.strip()) for cell in nb.cells]


def test_every_notebook_is_listed():
    on_disk = {p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")} | {
        p.stem for p in NOTEBOOK_DIR.glob("*.py")
    }
    assert on_disk == set(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_pair_in_sync(name):
    py_path, ipynb_path = NOTEBOOK_DIR / f"{name}.py", NOTEBOOK_DIR / f"{name}.ipynb"
    assert py_path.is_file() and ipynb_path.is_file()
    from_py = jupytext.read(py_path)
    from_ipynb = jupytext.read(ipynb_path)
    assert _code_and_markdown(from_py) == _code_and_markdown(from_ipynb), (
        f"{name}.py and {name}.ipynb differ: run `jupytext --sync notebooks/{name}.py`"
    )
    for nb in (from_py, from_ipynb):
        assert nb.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    raw = nbformat.read(ipynb_path, as_version=4)
    nbformat.validate(raw)
    for cell in raw.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{name}.ipynb is committed with outputs: clear them "
                f"(`jupytext --to ipynb --update notebooks/{name}.py` keeps none)"
            )
