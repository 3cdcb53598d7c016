"""The notes' own curves as package data: shape, empty cells, the values their README quotes."""

from __future__ import annotations

import math
import pathlib
import zipfile

import numpy as np
import pytest

from jaxsched.chapter import alchemist, notes_curves

SHARED = pathlib.Path("/work/shared/notes-curves/curves.csv")
PACKAGED = pathlib.Path(notes_curves.__file__).with_name(notes_curves.CSV_NAME)
READING = 0.01  # loss accuracy of a pixel reading (README)


def test_shape_and_columns():
    data = notes_curves.load()
    assert data.steps.tolist() == list(range(0, 99_001, 500))
    assert set(data.columns) == set(notes_curves.COLUMNS.values())
    assert all(c.shape == (199,) and c.dtype == np.float64 for c in data.columns.values())
    assert notes_curves.load() is data  # cached
    with pytest.raises(ValueError):
        data.columns["constant"][0] = 1.0  # shared: read-only


def test_empty_cells_are_nan_where_the_readme_says():
    data = notes_curves.load()
    const = data.columns["constant"]
    # visible from 10k on, then everywhere up to the end
    assert np.isnan(const[data.steps < 10_000]).all()
    assert np.isfinite(const[data.steps >= 10_000]).all()
    # the shorter linear decays are empty past their own end
    for name, end in (("linear_75", 75_000), ("linear_50", 50_000), ("linear_25", 25_000)):
        col = data.columns[name]
        assert np.isnan(col[data.steps + 1000 > end]).all(), name
        assert np.isfinite(col[data.steps + 1000 == end]).all(), name
    # nothing is readable at step 0 (above every figure's y-limit)
    assert all(math.isnan(c[0]) for c in data.columns.values())


@pytest.mark.parametrize("step, loss", [(25_000, 0.57), (50_000, 0.32), (75_000, 0.22),
                                        (99_000, 0.18)])
def test_constant_row_is_the_readme_table(step, loss):
    data = notes_curves.load()
    (i,) = np.nonzero(data.steps == step)[0]
    assert data.columns["constant"][i] == pytest.approx(loss, abs=READING)


def test_readme_end_of_run_comparisons():
    # each linear decay ends far below the constant run at its own length (README's last lines)
    for label, ends in (("Linear Decay 25%", 0.45), ("Linear Decay 50%", 0.16),
                        ("Linear Decay 75%", 0.08), ("Linear Decay 100%", 0.05)):
        t, loss = notes_curves.curve(label)
        assert t[-1] == 1.0 and loss[-1] == pytest.approx(ends, abs=READING), label


def test_labels_map_to_every_run_and_column():
    assert set(notes_curves.COLUMNS) == set(alchemist.RUNS)
    assert sorted(notes_curves.COLUMNS.values()) == sorted(notes_curves.load().columns)
    for label, spec in alchemist.RUNS.items():
        assert notes_curves.horizon(label) == round(100_000 * spec.length)
    with pytest.raises(ValueError, match="label"):
        notes_curves.column("constant")


def test_curve_in_normalized_time():
    t, loss = notes_curves.curve("Linear Decay 50%")
    # windows end at 1,000 .. 50,000 steps of a 50,000-step run
    assert t[0] == pytest.approx(1000 / 50_000) and t[-1] == 1.0 and len(t) == len(loss) == 99
    t, loss = notes_curves.curve("Constant LR")
    assert len(t) == 199 and t[-1] == 1.0 and loss[-1] == pytest.approx(0.178)


def test_smoothed_is_the_mean_of_the_rows_that_tile_the_window():
    data = notes_curves.load()
    const = data.columns["constant"]
    row = {int(s): x for s, x in zip(data.steps, const, strict=True)}
    want = np.mean([row[s] for s in (95_000, 96_000, 97_000, 98_000, 99_000)])
    assert notes_curves.smoothed("Constant LR", 1.0, 0.05) == pytest.approx(want)
    assert notes_curves.smoothed("Constant LR", 0.25, 0.01) == row[24_000]
    got = notes_curves.smoothed("Constant LR", np.array([0.14, 0.15, 1.0]), 0.05)
    assert np.isnan(got[0]) and np.isfinite(got[1:]).all()  # 0.14 reaches back into 9k..10k
    # a linear decay over 25k: t is a fraction of its own 25,000 steps
    assert notes_curves.smoothed("Linear Decay 25%", 1.0, 0.04) == row_of("linear_25", 24_000)
    with pytest.raises(ValueError, match="window_fraction"):
        notes_curves.smoothed("Constant LR", 1.0, 0.0123)
    with pytest.raises(ValueError, match="window_fraction"):
        notes_curves.smoothed("Constant LR", 1.0, 0.0)
    with pytest.raises(ValueError, match="t"):
        notes_curves.smoothed("Constant LR", 0.2505, 0.01)


def row_of(name, step):
    data = notes_curves.load()
    return data.columns[name][int(np.nonzero(data.steps == step)[0][0])]


def test_provenance_names_the_source_and_the_window():
    text = notes_curves.PROVENANCE
    assert "kvfrans/notes" in text and "7-misc/learning-rate-schedules.ipynb" in text
    assert "s..s+999" in text and "+-0.01" in text and "+-300 steps" in text


@pytest.mark.skipif(not SHARED.exists(), reason="no shared copy of the notes' curves here")
def test_packaged_file_is_the_shared_copy_byte_for_byte():
    assert PACKAGED.read_bytes() == SHARED.read_bytes()


def test_pyproject_ships_the_csv_as_package_data():
    # a non-editable install has the file only if setuptools is told to ship it
    import tomllib

    root = pathlib.Path(__file__).resolve().parents[1]
    cfg = tomllib.loads((root / "pyproject.toml").read_text())
    data = cfg["tool"]["setuptools"]["package-data"]
    assert notes_curves.CSV_NAME in data["jaxsched.chapter"]


@pytest.mark.slow
def test_wheel_contains_the_csv(tmp_path):
    """Builds a wheel as pip installs one (isolated build: needs the package index)."""
    import shutil
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[1]
    src = tmp_path / "src"  # a copy: setuptools leaves a build/ folder in the tree it builds
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, src / name)
    shutil.copytree(root / "jaxsched", src / "jaxsched",
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path),
                    str(src)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("jaxsched-*.whl")
    with zipfile.ZipFile(wheel) as z:
        assert "jaxsched/chapter/notes_curves.csv" in z.namelist()
