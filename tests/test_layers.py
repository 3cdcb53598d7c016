"""No module imports upward (DESIGN.md's data flow), checked on every import statement of
``jaxsched/``, those inside functions included.

``schedules`` depends on nothing of ours; ``compat`` and ``optim`` sit on it, side by side;
``train`` uses both; ``plot`` sits beside ``train``; ``chapter`` and ``compare`` each sit on
``train`` and ``plot``, side by side (``compare`` never imports ``chapter``); ``cli`` is on top.
The neutral modules (``_validate``, ``_io``, ``_dist``, ``smoothing``, ``stats``; the package's
``__version__``) import none of the groups.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "jaxsched"

LEVEL = {"_neutral": 0, "schedules": 1, "compat": 2, "optim": 2, "train": 3, "plot": 3,
         "chapter": 4, "compare": 4, "cli": 5}
NEUTRAL = {"_validate", "_io", "_dist", "smoothing", "stats", "__version__"}


def group(module: str) -> str | None:
    """The group of ``jaxsched.<part>...`` (None for the package itself)."""
    parts = module.split(".")
    if parts[0] != "jaxsched" or len(parts) == 1:
        return None
    return "_neutral" if parts[1] in NEUTRAL else parts[1]


def imports(path: Path) -> list[str]:
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1],
                                 *([base] if base else [])])
            # `from jaxsched import chapter` names a group through its alias
            found += [f"{base}.{a.name}" if base == "jaxsched" else base for a in node.names]
    return [m for m in found if m.startswith("jaxsched")]


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE or p.stem != "__init__")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_upward_or_sideways(path):
    own = group(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
    assert own in LEVEL, f"{path}: a module outside the known groups; add it to LEVEL"
    for target in imports(path):
        other = group(target)
        if other is None or other == own:
            continue
        assert other in LEVEL, f"{path} imports {target}, outside the known groups"
        assert LEVEL[other] < LEVEL[own], (
            f"{path.relative_to(PACKAGE)} ({own}) imports {target} ({other}): upward or sideways")


def test_the_checker_sees_imports_inside_functions():
    source = PACKAGE / "cli.py"
    assert any(group(m) == "chapter" for m in imports(source))  # cli imports lazily
