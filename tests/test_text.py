"""The standard-library byte corpus: selection, split, budget, manifest."""

import hashlib
import json
import pathlib

import numpy as np
import pytest

from jaxsched.workloads import text

KEPT = ["__future__.py", "abc.py", "asyncio/base.py", "asyncio/tasks.py", "pkg/turtle.py",
        "pkg/site.py",
        "pkg/sub/mod.py", "xml/dom/minidom.py", "zoneinfo/_common.py"]
LEFT_OUT = ["site-packages/numpy/core.py", "test/test_os.py", "ctypes/test/test_x.py",
            "unittest/tests/t.py", "idlelib/idle_test/t.py", "idlelib/editor.py",
            "tkinter/font.py", "turtledemo/clock.py", "turtle.py", "site.py", "sysconfig.py",
            "lib2to3/main.py",
            "distutils/core.py", "ensurepip/__init__.py", "encodings/cp1252.py",
            "pydoc_data/topics.py", "config-3.11-x86_64-linux-gnu/python-config.py",
            "_sysconfigdata__linux_x86_64-linux-gnu.py", "pkg/__pycache__/mod.py",
            "abc.pyc", "README.txt"]


def _tree(root: pathlib.Path, names, size=lambda i: 100 + 37 * i):
    for i, name in enumerate(names):
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(bytes((32 + (i * 7 + j) % 90) for j in range(size(i))))
    return root


def test_selection_is_sorted_and_leaves_out_what_varies(tmp_path):
    _tree(tmp_path, KEPT[::-1] + LEFT_OUT)
    assert text.stdlib_files(tmp_path) == sorted(KEPT)


def test_real_stdlib_selection():
    files = text.stdlib_files()
    assert files == sorted(files) and "os.py" in files and "__future__.py" in files
    for f in files:
        parts = f.split("/")
        assert parts[0] not in ("site-packages", "idlelib", "tkinter", "lib2to3", "encodings")
        assert not {"test", "tests"} & set(parts[:-1]), f
        assert not parts[-1].startswith("_sysconfigdata_"), f


def test_is_validation_is_the_path_hash():
    names = [f"m{i}.py" for i in range(2000)]
    got = [text.is_validation(n, 0.08) for n in names]
    want = [int.from_bytes(hashlib.sha256(n.encode()).digest()[:8], "big") / 2**64 < 0.08
            for n in names]
    assert got == want
    assert 0.05 < np.mean(got) < 0.11
    with pytest.raises(ValueError, match="val_fraction"):
        text.is_validation("a.py", 1.5)


def test_splits_by_file_joined_by_the_separator(tmp_path):
    names = [f"m{i:02d}.py" for i in range(40)]
    _tree(tmp_path, names)
    corpus = text.stdlib_corpus(val_fraction=0.3, root=tmp_path)
    m = corpus.manifest
    val = [n for n in names if text.is_validation(n, 0.3)]
    train = [n for n in names if n not in val]
    assert val and train
    sep = bytes([text.SEPARATOR])
    assert corpus.train.tobytes() == sep.join((tmp_path / n).read_bytes() for n in train)
    assert corpus.val.tobytes() == sep.join((tmp_path / n).read_bytes() for n in val)
    assert corpus.train.dtype == np.uint8 and corpus.val.dtype == np.uint8
    assert [f.path for f in m.files] == names
    assert {f.path: f.split for f in m.files} == {n: "val" if n in val else "train" for n in names}
    assert all(f.used == f.size == (tmp_path / f.path).stat().st_size for f in m.files)
    assert m.files[3].sha256 == hashlib.sha256((tmp_path / names[3]).read_bytes()).hexdigest()
    assert m.train_sha256 == hashlib.sha256(corpus.train.tobytes()).hexdigest()
    assert m.val_sha256 == hashlib.sha256(corpus.val.tobytes()).hexdigest()
    assert m.sha256 == hashlib.sha256(corpus.train.tobytes() + corpus.val.tobytes()).hexdigest()
    assert (m.train_bytes, m.val_bytes) == (len(corpus.train), len(corpus.val))


def test_budget_takes_a_prefix_of_each_split(tmp_path):
    names = [f"m{i:02d}.py" for i in range(40)]
    _tree(tmp_path, names)
    full = text.stdlib_corpus(val_fraction=0.3, root=tmp_path)
    cut = text.stdlib_corpus(1000, val_fraction=0.3, root=tmp_path)
    assert (len(cut.train), len(cut.val)) == (700, 300)
    assert cut.train.tobytes() == full.train.tobytes()[:700]
    assert cut.val.tobytes() == full.val.tobytes()[:300]
    files = cut.manifest.files
    for split in ("train", "val"):
        mine = [f for f in files if f.split == split]
        assert all(f.used == f.size for f in mine[:-1]) and 0 < mine[-1].used <= mine[-1].size
        assert sum(f.used for f in mine) + len(mine) - 1 == len(getattr(cut, split))
    assert [f.path for f in files] == sorted(f.path for f in files)
    assert len(files) < len(names)


def test_manifest_is_deterministic_and_serialisable(tmp_path):
    _tree(tmp_path, [f"m{i:02d}.py" for i in range(20)])
    a = text.stdlib_corpus(2000, val_fraction=0.3, root=tmp_path).manifest.to_dict()
    b = text.stdlib_corpus(2000, val_fraction=0.3, root=tmp_path).manifest.to_dict()
    assert a == b and json.loads(json.dumps(a)) == a
    assert a["num_files"] == len(a["files"]) and a["selection_version"] == 1
    short = text.stdlib_corpus(2000, val_fraction=0.3, root=tmp_path).manifest.to_dict(
        files=False)
    assert "files" not in short and short["sha256"] == a["sha256"]
    (tmp_path / "m05.py").write_bytes(b"changed")
    assert text.stdlib_corpus(2000, val_fraction=0.3, root=tmp_path).manifest.sha256 != \
        a["sha256"]


def test_real_corpus_prefix():
    corpus = text.stdlib_corpus(30_000)
    m = corpus.manifest
    assert (m.train_bytes, m.val_bytes) == (30_000 - 2400, 2400)
    assert m.files[0].path == "__future__.py" and m.files[0].split == "train"
    assert m.python.startswith("CPython") or m.python


@pytest.mark.parametrize("kw, name", [
    ({"max_bytes": 1}, "max_bytes"), ({"max_bytes": 2.5}, "max_bytes"),
    ({"max_bytes": True}, "max_bytes"), ({"val_fraction": 0.0}, "val_fraction"),
    ({"val_fraction": 1.0}, "val_fraction"), ({"val_fraction": float("nan")}, "val_fraction"),
])
def test_bad_arguments(tmp_path, kw, name):
    _tree(tmp_path, ["a.py", "b.py"])
    with pytest.raises(ValueError, match=name):
        text.stdlib_corpus(root=tmp_path, **kw)


def test_empty_split_and_missing_root(tmp_path):
    _tree(tmp_path, ["a.py"])
    with pytest.raises(ValueError, match="split is empty"):
        text.stdlib_corpus(val_fraction=0.01 if text.is_validation("a.py", 0.01) else 0.99,
                           root=tmp_path)
    with pytest.raises(ValueError, match="root"):
        text.stdlib_corpus(root=tmp_path / "nowhere")
