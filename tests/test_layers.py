"""No module imports upward (DESIGN.md's data flow), checked on every import statement of
``jaxsched/``, those inside functions included.

``schedules`` depends on nothing of ours; ``compat`` and ``optim`` sit on it, side by side;
``train`` (how a run is trained) uses both; ``plot`` sits beside ``train``; ``workloads`` (what
is trained) sits on ``train`` and ``train`` never imports it; ``chapter`` and ``compare`` each
sit on ``workloads`` and ``plot``, side by side (``compare`` never imports ``chapter``);
``cli`` is on top.
The neutral modules (``_validate``, ``_io``, ``_dist``, ``_markdown``, ``smoothing``, ``stats``;
the package's ``__version__``) import none of the groups.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "jaxsched"

LEVEL = {"_neutral": 0, "schedules": 1, "compat": 2, "optim": 2, "train": 3, "plot": 3,
         "workloads": 4, "chapter": 5, "compare": 5, "cli": 6}
NEUTRAL = {"_validate", "_io", "_dist", "_markdown", "smoothing", "stats", "__version__"}


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


def test_train_never_imports_the_catalogue_and_defines_no_workload():
    """``train`` is how a run is trained: no import of ``workloads``, no flax module (a model),
    no data set or corpus of its own."""
    for path in sorted((PACKAGE / "train").rglob("*.py")):
        assert not any(group(m) == "workloads" for m in imports(path)), path
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b) for b in node.bases}
                assert not bases & {"nn.Module", "flax.linen.Module", "nnx.Module"}, (
                    f"{path.name} defines the model {node.name}: models live in workloads/")
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                name = node.name.lower()
                assert not any(m in name for m in ("cifar", "corpus", "synthetic", "dataset")), (
                    f"{path.name} defines {node.name}: data sets and corpora live in workloads/")


def test_chapter_and_compare_take_their_tasks_from_the_catalogue():
    """Neither defines a model or a data set; each imports the catalogue."""
    for part in ("chapter", "compare"):
        paths = sorted((PACKAGE / part).rglob("*.py"))
        assert any("jaxsched.workloads.catalogue" in imports(p)
                   or "jaxsched.workloads" in imports(p) for p in paths), part
        for path in paths:
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef):
                    bases = {ast.unparse(b) for b in node.bases}
                    assert not bases & {"nn.Module", "flax.linen.Module", "nnx.Module"}, path
