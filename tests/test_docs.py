"""The documentation builds with Sphinx, warnings as errors: a docstring that does not render,
a broken include or a module that fails to import fails here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("myst_parser")

REPO = Path(__file__).resolve().parents[1]


def test_sphinx_builds_with_warnings_as_errors(tmp_path):
    env = {**os.environ, "JAXSCHED_DATA": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(REPO / "docs"), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    page = (tmp_path / "html" / "schedules.html").read_text()
    # the table of kinds is generated from the registry
    from jaxsched import schedules

    assert all(f"<code class=\"docutils literal notranslate\"><span class=\"pre\">{k}</span>"
               in page for k in schedules.KINDS)
    api = (tmp_path / "html" / "reference" / "train.html").read_text()
    assert "GroupTrainer" in api and "TrainingRun" in api
