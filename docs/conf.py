"""Sphinx configuration: the API reference from the docstrings, pages in Markdown (MyST).

``sphinx-build -W -b html docs docs/_build/html`` builds it; ``tests/test_docs.py`` does so in
the default test run, so a broken reference or docstring fails the tests. The table of schedule
kinds is generated here from the registry at every build (``_generated/``, not committed).
"""

from __future__ import annotations

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jaxsched  # noqa: E402
from jaxsched.schedules import registry  # noqa: E402

project = "jaxsched"
release = version = jaxsched.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "myst_parser"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
html_theme = "alabaster"
suppress_warnings = ["myst.xref_missing"]  # links to repository files outside docs/


def _schedule_table() -> str:
    rows = ["| kind | peak argument | horizon argument | registered example |", "|---|---|---|---|"]
    for name, kind in sorted(registry.KINDS.items()):
        example = f"`{name}:{kind.example}`" if kind.example else f"`{name}`"
        rows.append(f"| `{name}` | {kind.peak or '—'} | {kind.horizon or '—'} | {example} |")
    return "\n".join(rows) + "\n"


generated = pathlib.Path(__file__).parent / "_generated"
generated.mkdir(exist_ok=True)
(generated / "schedule_kinds.md").write_text(_schedule_table())
