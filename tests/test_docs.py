"""The documentation builds with Sphinx, warnings as errors: a docstring that does not render,
a broken include, a module that fails to import or a notebook cell that raises fails here.

The build executes the notebooks of ``notebooks/`` (MyST-NB) at their smallest setting (the
default of their first code cell), and this is where the test suite runs them: with
``JAXSCHED_DATA`` pointing to an empty directory, so that ``data="auto"`` falls back to the
synthetic set without touching the network, and ``TMPDIR`` in the test's directory (the
notebooks' ``tempfile.mkdtemp()`` lands there); XLA_FLAGS from the root conftest (the cheap
compile pipeline) reaches the kernels. ``tests/test_notebooks.py`` checks the pairs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("myst_nb")
pytest.importorskip("sphinx_book_theme")
pytest.importorskip("ipykernel")

REPO = Path(__file__).resolve().parents[1]
# The figures each notebook must show at its smallest setting (a cell that silently drew
# nothing, e.g. a Figure displayed as text, fails here).
MIN_IMAGES = {"lr_schedules_reproduction": 7, "schedule_gallery": 15, "schedule_free_vs_cosine": 3}


def test_sphinx_builds_with_warnings_as_errors(tmp_path):
    # One test, so that the build (and the notebooks' execution) runs once under xdist too.
    (tmp_path / "data").mkdir()
    env = {**os.environ, "JAXSCHED_DATA": str(tmp_path / "data"), "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(REPO / "docs"), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    html = tmp_path / "html"
    page = (html / "schedules.html").read_text()
    # the table of kinds is generated from the registry
    from jaxsched import schedules

    assert all(f"<code class=\"docutils literal notranslate\"><span class=\"pre\">{k}</span>"
               in page for k in schedules.KINDS)
    api = (html / "reference" / "train.html").read_text()
    assert "GroupTrainer" in api and "TrainingRun" in api
    # the theme's footer names the copyright holder and the license
    index = (html / "index.html").read_text()
    assert "sbt-" in index  # sphinx-book-theme's classes
    assert "© Copyright jaxsched developers." in index
    assert "Licensed under the Apache-2.0 license." in index
    assert "Author name not set" not in index
    # each notebook executed, with its figures in the page
    shown = {}
    for name in MIN_IMAGES:
        page = (html / "notebooks" / f"{name}.html").read_text()
        images = re.findall(r'<img [^>]*src="\.\./_images/([^"]+\.png)"', page)
        assert all((html / "_images" / img).is_file() for img in images), name
        shown[name] = len(images)
    assert all(shown[n] >= MIN_IMAGES[n] for n in MIN_IMAGES), shown


def test_every_notebook_has_its_figure_count():
    on_disk = {p.stem for p in (REPO / "notebooks").glob("*.ipynb")}
    assert on_disk == set(MIN_IMAGES)
