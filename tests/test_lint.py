"""Lint, type check and the published types, as tests: a finding fails the default run.

ruff checks the whole repository with the rules of ``[tool.ruff]``. mypy checks every module of
the ``jaxsched`` package (``files`` of ``[tool.mypy]`` in pyproject.toml), strictly in
``jaxsched.schedules``, ``jaxsched.optim`` and ``jaxsched.compat``; its incremental cache lives
in ``.mypy_cache``. Both run as ``python -m`` of this interpreter, so they are the
versions the ``dev`` extra installed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def _require_success(result: subprocess.CompletedProcess[str], what: str) -> None:
    if result.returncode != 0:
        pytest.fail(f"{what} failed:\n{result.stdout}{result.stderr}", pytrace=False)


def test_ruff_check_is_clean() -> None:
    _require_success(_run("ruff", "check", "--output-format=concise", "."), "ruff check .")


def test_mypy_is_clean() -> None:
    _require_success(_run("mypy"), "mypy")  # the paths and settings of [tool.mypy]


def test_mypy_checks_every_module_of_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from mypy.main import process_options

    monkeypatch.chdir(ROOT)
    sources, _ = process_options([])  # what `python -m mypy` checks here
    checked = {Path(s.path).resolve() for s in sources if s.path}
    modules = set((ROOT / "jaxsched").rglob("*.py"))
    assert modules, "no modules found under jaxsched/"
    unchecked = sorted(str(m.relative_to(ROOT)) for m in modules - checked)
    assert not unchecked, f"`python -m mypy` leaves out {unchecked}: see [tool.mypy] files"


def _strict_flags() -> dict[str, object]:
    """Every option ``mypy --strict`` changes, with the value it sets."""
    from mypy.main import process_options

    _, plain = process_options(["--config-file=", "-c", "pass"])
    _, strict = process_options(["--strict", "--config-file=", "-c", "pass"])
    names = [n for n in dir(plain) if not n.startswith("_") and not callable(getattr(plain, n))]
    return {n: getattr(strict, n) for n in names if getattr(strict, n) != getattr(plain, n)}


def test_strict_packages_get_every_flag_of_mypy_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    from mypy.main import process_options

    flags = _strict_flags()
    assert "disallow_untyped_defs" in flags  # the comparison itself works
    monkeypatch.chdir(ROOT)
    _, ours = process_options([])  # this repository's [tool.mypy]
    for module in (
        "jaxsched.schedules",
        "jaxsched.schedules.basic",
        "jaxsched.optim",
        "jaxsched.optim.schedule_free",
        "jaxsched.compat",
        "jaxsched.compat.torch",
    ):
        effective = ours.clone_for_module(module)
        missing = {n: v for n, v in flags.items() if getattr(effective, n) != v}
        assert not missing, (
            f"{module} is not checked as `mypy --strict` would: set {missing} for it in "
            "pyproject.toml's [tool.mypy] (global-only options in [tool.mypy] itself)"
        )
    assert ours.clone_for_module("jaxsched.plot").check_untyped_defs


def test_wheel_ships_py_typed(tmp_path: Path) -> None:
    """PEP 561: the built wheel carries ``jaxsched/py.typed``, so type checkers read our types.

    The wheel is built from a copy of the sources (a stale ``build/`` in the checkout could hold
    a ``py.typed`` the configuration no longer ships), offline, with the build backend installed
    by the ``dev`` extra.
    """
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "jaxsched", src / "jaxsched", ignore=shutil.ignore_patterns("__pycache__")
    )
    out = tmp_path / "dist"
    result = _run(
        "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(out),
        str(src),
    )
    _require_success(result, "pip wheel")
    (wheel,) = out.glob("jaxsched-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert "jaxsched/py.typed" in names, f"{wheel.name} lacks jaxsched/py.typed"
