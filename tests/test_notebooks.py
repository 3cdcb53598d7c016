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

import os
import pathlib

import pytest

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = ("lr_schedules_reproduction", "schedule_gallery", "schedule_free_vs_cosine")
# The figures each notebook must show at its smallest setting (a cell that silently drew
# nothing, e.g. a Figure displayed as text, fails here).
MIN_IMAGES = {"lr_schedules_reproduction": 7, "schedule_gallery": 15, "schedule_free_vs_cosine": 3}
CELL_TIMEOUT_S = 300


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


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes(name, tmp_path, monkeypatch):
    data_dir = tmp_path / "no-cifar"
    data_dir.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    # The kernel is a child process: it inherits this environment.
    monkeypatch.setenv("JAXSCHED_DATA", str(data_dir))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebooks' tempfile.mkdtemp() lands here
    # XLA_FLAGS (the cheap compile pipeline, set by the root conftest) reaches the kernel too.
    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(work)}},
        allow_errors=False,
    )
    try:
        client.execute()
    finally:
        keep = os.environ.get("JAXSCHED_EXECUTED_NOTEBOOKS")
        if keep:
            pathlib.Path(keep).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, pathlib.Path(keep) / f"{name}.ipynb")
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) >= MIN_IMAGES[name], f"{name} showed {len(images)} figures"
