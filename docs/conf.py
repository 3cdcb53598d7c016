"""Sphinx configuration: the API reference from the docstrings, pages in Markdown (MyST), the
notebooks executed and rendered with their figures (MyST-NB), in the theme optax and flax use.

``sphinx-build -W -b html docs docs/_build/html`` builds it; ``tests/test_docs.py`` does so in
the default test run, so a broken reference or docstring, or a notebook cell that raises, fails
the tests. The table of schedule kinds is generated here from the registry at every build, and
the notebooks of ``notebooks/`` are copied under ``docs/notebooks/`` (both generated, not
committed). Every build executes the notebooks at their smallest setting (the default of their
first cell; under a minute on a CPU); ``-D nb_execution_mode=off`` renders them without outputs
for a quick look at the text.
"""

from __future__ import annotations

import pathlib
import shutil
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jaxsched  # noqa: E402
from jaxsched._markdown import table  # noqa: E402
from jaxsched.schedules import registry  # noqa: E402

project = "jaxsched"
author = copyright = "jaxsched developers"
license = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]["text"]
release = version = jaxsched.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "myst_nb"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
html_theme = "sphinx_book_theme"
html_title = f"jaxsched {release}"
html_theme_options = {
    # the author is the copyright holder: shown once
    "footer_content_items": ["copyright.html", "last-updated.html", "extra-footer.html"],
    "extra_footer": f"Licensed under the {license} license.",
    "show_toc_level": 2,
}
suppress_warnings = ["myst.xref_missing"]  # links to repository files outside docs/

# The build is where the notebooks execute (tests/test_docs.py counts their figures): each in a
# temporary working directory; a cell that raises fails the build, with its traceback.
nb_execution_mode = "force"
nb_execution_in_temp = True
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 300
nb_merge_streams = True


def _schedule_table() -> str:
    rows = table(
        ["kind", "peak argument", "horizon argument", "registered example"],
        ([f"`{name}`", kind.peak or "—", kind.horizon or "—",
          f"`{name}:{kind.example}`" if kind.example else f"`{name}`"]
         for name, kind in sorted(registry.KINDS.items())),
    )
    return "\n".join(rows) + "\n"


generated = pathlib.Path(__file__).parent / "_generated"
generated.mkdir(exist_ok=True)
(generated / "schedule_kinds.md").write_text(_schedule_table())


def _copy_notebooks() -> None:
    """``notebooks/*.ipynb`` into ``docs/notebooks/``; a copy is rewritten only when its notebook
    changed, so that Sphinx sees an unchanged notebook as up to date."""
    target = pathlib.Path(__file__).parent / "notebooks"
    target.mkdir(exist_ok=True)
    sources = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for old in set(target.glob("*.ipynb")) - {target / nb.name for nb in sources}:
        old.unlink()
    for nb in sources:
        copy = target / nb.name
        if not copy.is_file() or copy.read_bytes() != nb.read_bytes():
            shutil.copy2(nb, copy)


_copy_notebooks()
