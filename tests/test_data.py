"""CIFAR-10 loading, download, corruption handling (jaxsched.workloads.cifar10), the synthetic set
(jaxsched.workloads.standin) and the choice between them (jaxsched.workloads.image.load).

No test touches the network: downloads go to file:// URLs of small archives written here in
the exact layout of cifar-10-python.tar.gz (Python 2 pickles of dicts with byte-string keys,
uint8 ``data`` rows of 1024 red, 1024 green and 1024 blue values, ``labels`` lists).
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import struct
import tarfile
import warnings

import numpy as np
import pytest

from jaxsched.workloads import cifar10 as data_mod
from jaxsched.workloads import standin
from jaxsched.workloads.cifar10 import (
    CIFAR10_CLASSES,
    DataCorruptError,
    Dataset,
    DataUnavailableError,
    data_dir,
    load_cifar10,
)
from jaxsched.workloads.image import load
from jaxsched.workloads.standin import synthetic, template_frequencies

# ---------------------------------------------------------------------------------------------
# Writing archives in the CIFAR-10 python format


class _Py2Pickler(pickle._Pickler):
    """Pickles as Python 2's cPickle did for the real archive: strings are byte strings."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj):
        if isinstance(obj, str):
            obj = obj.encode("latin-1")
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str
    dispatch[str] = _save_py2_str


def _py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    # the real archive predates NumPy 2 and names the NumPy 1 module
    return buf.getvalue().replace(
        b"cnumpy._core.multiarray\n_reconstruct\n", b"cnumpy.core.multiarray\n_reconstruct\n"
    )


def _batch(images_nhwc: np.ndarray, labels: np.ndarray, label: str) -> bytes:
    rows = images_nhwc.transpose(0, 3, 1, 2).reshape(len(images_nhwc), 3072)  # CHW planes
    return _py2_pickle(
        {
            b"batch_label": label.encode(),
            b"labels": [int(x) for x in labels],
            b"data": np.ascontiguousarray(rows, dtype=np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
        }
    )


def make_cifar_like(n_per_batch=4, n_test=3, seed=0):
    """Members of a CIFAR-10-format tarball and the arrays they hold."""
    rng = np.random.default_rng(seed)
    n_train = 5 * n_per_batch
    images = rng.integers(0, 256, (n_train + n_test, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, n_train + n_test).astype(np.int32)
    members = {}
    for b in range(5):
        sl = slice(b * n_per_batch, (b + 1) * n_per_batch)
        members[f"data_batch_{b + 1}"] = _batch(
            images[sl], labels[sl], f"training batch {b + 1} of 5"
        )
    members["test_batch"] = _batch(images[n_train:], labels[n_train:], "testing batch 1 of 1")
    members["batches.meta"] = _py2_pickle(
        {
            b"num_cases_per_batch": n_per_batch,
            b"label_names": [c.encode() for c in CIFAR10_CLASSES],
            b"num_vis": 3072,
        }
    )
    members["readme.html"] = b"<html>CIFAR-10</html>"
    expected = Dataset(images[:n_train], labels[:n_train], images[n_train:], labels[n_train:], "")
    return members, expected


def write_tarball(path, members) -> str:
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(tarfile.TarInfo("cifar-10-batches-py"), None)
        tar.getmember("cifar-10-batches-py").type = tarfile.DIRTYPE
        for name, payload in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def archive(tmp_path, monkeypatch):
    """A small CIFAR-format tarball outside the cache, registered as the official one."""
    src = tmp_path / "mirror"
    src.mkdir()
    path = src / "cifar-10-python.tar.gz"
    members, expected = make_cifar_like()
    md5 = write_tarball(path, members)
    monkeypatch.setattr(data_mod, "CIFAR10_URL", path.as_uri())
    monkeypatch.setattr(data_mod, "CIFAR10_MD5", md5)
    monkeypatch.delenv("JAXSCHED_DATA", raising=False)
    return path, md5, expected


def assert_matches(got: Dataset, expected: Dataset):
    assert got.name == "cifar10"
    for field in ("train_images", "train_labels", "test_images", "test_labels"):
        g, e = getattr(got, field), getattr(expected, field)
        assert g.dtype == e.dtype and g.shape == e.shape, field
        np.testing.assert_array_equal(g, e, err_msg=field)


def listing(directory):
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# ---------------------------------------------------------------------------------------------
# data_dir


def test_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("JAXSCHED_DATA", str(tmp_path / "d"))
    assert data_dir() == tmp_path / "d"
    monkeypatch.delenv("JAXSCHED_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "jaxsched"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir() == tmp_path / "home" / ".cache" / "jaxsched"
    monkeypatch.setenv("JAXSCHED_DATA", "")  # empty means unset
    assert data_dir() == tmp_path / "home" / ".cache" / "jaxsched"


# ---------------------------------------------------------------------------------------------
# Reading and downloading


def test_reads_cached_tarball_in_cifar_layout(archive, tmp_path):
    src, _, expected = archive
    root = tmp_path / "cache"
    root.mkdir()
    (root / "cifar-10-python.tar.gz").write_bytes(src.read_bytes())
    got = load_cifar10(root, download=False)
    assert_matches(got, expected)
    assert got.train_images.flags["C_CONTIGUOUS"]
    # pixel (0, 0) of image 0 reads the first red, green and blue values of its row
    rows = expected.train_images.transpose(0, 3, 1, 2).reshape(-1, 3072)
    np.testing.assert_array_equal(got.train_images[0, 0, 0], rows[0, [0, 1024, 2048]])
    np.testing.assert_array_equal(got.train_images[0, 0, 1], rows[0, [1, 1025, 2049]])
    np.testing.assert_array_equal(got.train_images[0, 1, 0], rows[0, [32, 1056, 2080]])


def test_decoded_arrays_are_cached(archive, tmp_path, monkeypatch):
    src, _, expected = archive
    root = tmp_path / "cache"
    root.mkdir()
    (root / "cifar-10-python.tar.gz").write_bytes(src.read_bytes())
    load_cifar10(root, download=False)
    assert listing(root) == ["cifar-10-arrays.npz", "cifar-10-python.tar.gz"]

    def no_decode(path):
        raise AssertionError("decoded the tarball again")

    monkeypatch.setattr(data_mod, "_decode", no_decode)
    assert_matches(load_cifar10(root, download=False), expected)
    # the decoded arrays alone are enough once the tarball has been checked and decoded
    (root / "cifar-10-python.tar.gz").unlink()
    assert_matches(load_cifar10(root, download=False), expected)


def test_stale_or_damaged_array_cache_is_rebuilt(archive, tmp_path):
    src, _, expected = archive
    root = tmp_path / "cache"
    root.mkdir()
    (root / "cifar-10-python.tar.gz").write_bytes(src.read_bytes())
    (root / "cifar-10-arrays.npz").write_bytes(b"PK\x03\x04 not really a zip")
    assert_matches(load_cifar10(root, download=False), expected)
    # arrays cached from another tarball (other md5) are not used either
    np.savez(
        root / "cifar-10-arrays.npz",
        train_images=np.zeros((1, 32, 32, 3), np.uint8),
        train_labels=np.zeros(1, np.int32),
        test_images=np.zeros((1, 32, 32, 3), np.uint8),
        test_labels=np.zeros(1, np.int32),
        source_md5=np.asarray("0" * 32),
    )
    assert_matches(load_cifar10(root, download=False), expected)


def test_download_from_url(archive, tmp_path):
    src, md5, expected = archive
    root = tmp_path / "cache" / "nested"
    got = load_cifar10(root, progress=False)
    assert_matches(got, expected)
    assert listing(root) == ["cifar-10-arrays.npz", "cifar-10-python.tar.gz"]
    assert hashlib.md5((root / "cifar-10-python.tar.gz").read_bytes()).hexdigest() == md5


def test_download_shows_progress(archive, tmp_path, capsys):
    load_cifar10(tmp_path / "cache", progress=True)
    err = capsys.readouterr().err
    assert "cifar-10-python.tar.gz" in err and "100%" in err


def test_env_var_picks_the_cache_dir(archive, tmp_path, monkeypatch):
    _, _, expected = archive
    monkeypatch.setenv("JAXSCHED_DATA", str(tmp_path / "envcache"))
    assert_matches(load_cifar10(progress=False), expected)
    assert "cifar-10-python.tar.gz" in listing(tmp_path / "envcache")
    assert_matches(load("cifar10", progress=False), expected)


def test_download_with_wrong_md5_leaves_nothing(archive, tmp_path, monkeypatch):
    _, md5, _ = archive
    monkeypatch.setattr(data_mod, "CIFAR10_MD5", "0123456789abcdef0123456789abcdef")
    root = tmp_path / "cache"
    with pytest.raises(DataCorruptError) as info:
        load_cifar10(root, progress=False)
    msg = str(info.value)
    assert "0123456789abcdef0123456789abcdef" in msg and md5 in msg
    assert data_mod.CIFAR10_URL in msg
    assert listing(root) == []


def test_truncated_download_leaves_nothing(archive, tmp_path, monkeypatch):
    src, md5, _ = archive
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    monkeypatch.setattr(data_mod, "CIFAR10_URL", cut.as_uri())
    root = tmp_path / "cache"
    with pytest.raises(DataCorruptError, match=md5):
        load_cifar10(root, progress=False)
    assert listing(root) == []


class _BrokenResponse:
    """An HTTP response that announces more bytes than it delivers, then fails or ends."""

    def __init__(self, payload: bytes, announced: int, fail: bool):
        self._buf = io.BytesIO(payload)
        self.headers = {"Content-Length": str(announced)}
        self._fail = fail

    def read(self, n):
        chunk = self._buf.read(min(n, 1000))
        if not chunk and self._fail:
            raise ConnectionResetError("connection reset by peer")
        return chunk

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("fail", [False, True], ids=["short", "reset"])
def test_connection_cut_mid_download_leaves_nothing(archive, tmp_path, monkeypatch, fail):
    src, _, _ = archive
    payload = src.read_bytes()
    monkeypatch.setattr(
        data_mod.urllib.request,
        "urlopen",
        lambda url, timeout: _BrokenResponse(payload[:3000], len(payload), fail),
    )
    root = tmp_path / "cache"
    with pytest.raises(DataCorruptError, match="3000"):
        load_cifar10(root, progress=False)
    assert listing(root) == []


def test_cached_tarball_with_wrong_md5_is_reported_not_used(archive, tmp_path):
    src, md5, _ = archive
    root = tmp_path / "cache"
    load_cifar10(root, progress=False)  # good copy, decoded arrays cached
    cached = root / "cifar-10-python.tar.gz"
    damaged = bytearray(cached.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    cached.write_bytes(bytes(damaged))
    actual = hashlib.md5(bytes(damaged)).hexdigest()
    for call in (lambda: load_cifar10(root, progress=False), lambda: load("cifar10", root)):
        with pytest.raises(DataCorruptError) as info:
            call()
        msg = str(info.value)
        assert str(cached) in msg and md5 in msg and actual in msg
    assert cached.read_bytes() == bytes(damaged)  # reported, not deleted behind the user's back


def test_truncated_cached_tarball_is_reported(archive, tmp_path, monkeypatch):
    src, md5, _ = archive
    root = tmp_path / "cache"
    root.mkdir()
    cut = src.read_bytes()[:-200]
    (root / "cifar-10-python.tar.gz").write_bytes(cut)
    with pytest.raises(DataCorruptError, match=md5):
        load_cifar10(root, download=False)
    # even with a matching md5 an unreadable archive is an error, and nothing is cached
    monkeypatch.setattr(data_mod, "CIFAR10_MD5", hashlib.md5(cut).hexdigest())
    with pytest.raises(DataCorruptError, match="cannot read"):
        load_cifar10(root, download=False)
    assert listing(root) == ["cifar-10-python.tar.gz"]


def _write_variant(root, monkeypatch, members):
    root.mkdir(parents=True, exist_ok=True)
    md5 = write_tarball(root / "cifar-10-python.tar.gz", members)
    monkeypatch.setattr(data_mod, "CIFAR10_MD5", md5)


def test_missing_member_is_reported(tmp_path, monkeypatch):
    members, _ = make_cifar_like()
    del members["data_batch_3"]
    _write_variant(tmp_path, monkeypatch, members)
    with pytest.raises(DataCorruptError, match="data_batch_3"):
        load_cifar10(tmp_path, download=False)


def test_malformed_batch_is_reported(tmp_path, monkeypatch):
    members, _ = make_cifar_like()
    members["test_batch"] = _py2_pickle({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})
    _write_variant(tmp_path, monkeypatch, members)
    with pytest.raises(DataCorruptError, match=r"test_batch.*3072"):
        load_cifar10(tmp_path, download=False)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_pickle_with_code_is_refused(tmp_path, monkeypatch):
    members, _ = make_cifar_like()
    members["data_batch_1"] = pickle.dumps({b"data": _Exploit(), b"labels": []}, protocol=2)
    _write_variant(tmp_path, monkeypatch, members)
    with pytest.raises(DataCorruptError, match="forbidden"):
        load_cifar10(tmp_path, download=False)


def test_unavailable_without_download(tmp_path, monkeypatch):
    monkeypatch.delenv("JAXSCHED_DATA", raising=False)
    with pytest.raises(DataUnavailableError) as info:
        load_cifar10(tmp_path / "empty", download=False)
    msg = str(info.value)
    assert "cifar-10-python.tar.gz" in msg and "JAXSCHED_DATA" in msg
    assert str(tmp_path / "empty") in msg
    assert not (tmp_path / "empty").exists()


# ---------------------------------------------------------------------------------------------
# load(kind)


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """CIFAR-10 unreachable: the URL points at a file that does not exist."""
    monkeypatch.setattr(data_mod, "CIFAR10_URL", (tmp_path / "nowhere.tar.gz").as_uri())
    monkeypatch.delenv("JAXSCHED_DATA", raising=False)
    return tmp_path / "cache"


def test_load_cifar10_never_falls_back(offline):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataUnavailableError) as info:
            load("cifar10", offline, progress=False)
    msg = str(info.value)
    assert "cifar-10-python.tar.gz" in msg and "JAXSCHED_DATA" in msg
    assert listing(offline) == []


def test_load_auto_falls_back_with_one_line_warning(offline):
    with pytest.warns(UserWarning) as record:
        got = load("auto", offline, progress=False, synthetic_kwargs={"n_train": 50, "n_test": 20})
    assert len(record) == 1
    msg = str(record[0].message)
    assert "\n" not in msg
    assert "synthetic" in msg.lower() and "cannot download" in msg
    assert got.name == "synthetic"
    assert got.train_images.shape == (50, 32, 32, 3) and got.test_labels.shape == (20,)
    assert listing(offline) == []


def test_load_auto_warns_about_a_corrupt_cache(offline, tmp_path):
    offline.mkdir()
    (offline / "cifar-10-python.tar.gz").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="corrupt"):
        got = load("auto", offline, synthetic_kwargs={"n_train": 10, "n_test": 10})
    assert got.name == "synthetic"


def test_load_auto_uses_cifar_when_available(archive, tmp_path):
    _, _, expected = archive
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_matches(load("auto", tmp_path / "cache", progress=False), expected)


def test_load_synthetic_and_bad_kind(tmp_path):
    got = load("synthetic", synthetic_kwargs={"n_train": 30, "n_test": 10, "seed": 2})
    assert got.name == "synthetic" and len(got.train_labels) == 30
    with pytest.raises(ValueError, match="kind"):
        load("imagenet")
    with pytest.raises(ValueError, match="synthetic_kwargs"):
        load("synthetic", synthetic_kwargs=[("n_train", 3)])


# ---------------------------------------------------------------------------------------------
# Synthetic data


def test_synthetic_format_and_determinism():
    a = synthetic(n_train=3000, n_test=500, seed=0)
    assert a.name == "synthetic"
    assert a.train_images.shape == (3000, 32, 32, 3) and a.train_images.dtype == np.uint8
    assert a.test_images.shape == (500, 32, 32, 3) and a.test_images.dtype == np.uint8
    assert a.train_labels.dtype == np.int32 and a.test_labels.dtype == np.int32
    assert np.array_equal(np.bincount(a.train_labels), np.full(10, 300))
    assert np.array_equal(np.bincount(a.test_labels), np.full(10, 50))
    # uses the pixel range without saturating it
    assert 100 < a.train_images.mean() < 155 and 40 < a.train_images.std() < 80
    assert (a.train_images == 255).mean() < 0.05 and (a.train_images == 0).mean() < 0.05

    b = synthetic(n_train=3000, n_test=500, seed=0)
    for x, y in zip(a[:4], b[:4], strict=True):
        assert np.array_equal(x, y)
    c = synthetic(n_train=3000, n_test=500, seed=1)
    assert not np.array_equal(a.train_images, c.train_images)
    # the test set does not depend on the size of the training set
    d = synthetic(n_train=100, n_test=500, seed=0)
    assert np.array_equal(d.test_images, a.test_images)
    assert np.array_equal(d.test_labels, a.test_labels)


def _features(images):
    n = len(images)
    return images.reshape(n, 8, 4, 8, 4, 3).mean(axis=(2, 4)).reshape(n, -1) / 255.0


def test_synthetic_is_learnable_but_not_trivial():
    data = synthetic(n_train=10_000, n_test=2000, seed=0)
    ftr, fte = _features(data.train_images), _features(data.test_images)
    means = np.stack([ftr[data.train_labels == c].mean(0) for c in range(10)])
    dist = ((fte[:, None, :] - means[None]) ** 2).sum(-1)
    nearest_mean = (dist.argmin(1) == data.test_labels).mean()
    # measured 0.36 on 20k training images; chance is 0.10
    assert 0.25 < nearest_mean < 0.6, nearest_mean
    # images of one class differ a lot from one another (several templates, shifts, noise)
    one_class = data.train_images[data.train_labels == 0][:200].astype(np.float32)
    assert one_class.std(axis=0).mean() > 40


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_train": 0}, "n_train"),
        ({"n_test": -1}, "n_test"),
        ({"seed": -3}, "seed"),
        ({"n_train": 10.5}, "n_train"),
    ],
)
def test_synthetic_validates(kwargs, name):
    with pytest.raises(ValueError, match=name):
        synthetic(**kwargs)


# ---------------------------------------------------------------------------------------------
# Synthetic data: sub-classes of Zipf-distributed frequency

ZIPF = {"templates": 256, "zipf": 1.3, "noise": 0.5, "colour": 0.5}


def test_zipf_knob_is_deterministic_and_keeps_the_test_set_independent():
    a = synthetic(n_train=600, n_test=200, seed=3, **ZIPF)
    b = synthetic(n_train=600, n_test=200, seed=3, **ZIPF)
    assert all(np.array_equal(x, y) for x, y in zip(a[:4], b[:4], strict=True))
    small = synthetic(n_train=50, n_test=200, seed=3, **ZIPF)
    assert np.array_equal(small.test_images, a.test_images)
    assert np.array_equal(small.test_labels, a.test_labels)
    # the exponent changes which templates are drawn, not the labels
    flat = synthetic(n_train=600, n_test=200, seed=3, **{**ZIPF, "zipf": 0.0})
    assert np.array_equal(flat.train_labels, a.train_labels)
    assert not np.array_equal(flat.train_images, a.train_images)


def test_zipf_zero_is_the_original_uniform_draw():
    p = template_frequencies(5, 0.0)
    assert np.array_equal(p, np.full(5, 0.2))
    # the same generator calls as the original set, so the same bytes
    got = standin._draw_templates(np.random.default_rng(7), 1000, 8, 0.0)
    assert np.array_equal(got, np.random.default_rng(7).integers(0, 8, 1000))
    assert all(np.array_equal(x, y) for x, y in zip(
        synthetic(100, 20, 0)[:4], synthetic(100, 20, 0, zipf=0.0)[:4], strict=True))


@pytest.mark.parametrize("templates, zipf", [(16, 1.3), (256, 1.3), (5, 0.5)])
def test_template_draws_follow_the_zipf_law(templates, zipf):
    p = template_frequencies(templates, zipf)
    k = np.arange(1, templates + 1)
    assert p.sum() == pytest.approx(1.0)
    assert np.allclose(p / p[0], k ** -float(zipf))  # p_k ~ k^-zipf
    n = 200_000
    counts = np.bincount(standin._draw_templates(np.random.default_rng(0), n, templates, zipf),
                         minlength=templates)
    assert counts.size == templates
    # Pearson's chi-square against the law; its mean is templates - 1, its sd sqrt(2 (t - 1))
    expected = n * p
    big = expected >= 5
    chi2 = (((counts - expected) ** 2 / expected)[big]).sum()
    dof = big.sum() - 1
    assert chi2 < dof + 5 * np.sqrt(2 * dof), (chi2, dof)
    # a slope fitted on the well-sampled ranks is the exponent
    slope = np.polyfit(np.log(k[big]), np.log(counts[big]), 1)[0]
    assert slope == pytest.approx(-zipf, abs=0.05)


def test_images_carry_the_zipf_sub_classes():
    """Without noise, shift or distractor each image is its template up to contrast and
    brightness: grouping one class's images by correlation recovers the sub-classes."""
    templates, zipf = 6, 1.3
    d = synthetic(3000, 0, 0, templates=templates, zipf=zipf, noise=0.0, shift=0, distractor=0.0)
    x = d.train_images[d.train_labels == 0].astype(np.float64)
    x = x - x.mean(axis=(1, 2), keepdims=True)  # removes brightness (and the class colour)
    x = x.reshape(len(x), -1)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    same = x @ x.T > 0.9
    sizes, left = [], np.ones(len(x), bool)
    while left.any():
        members = same[np.argmax(left)] & left
        sizes.append(int(members.sum()))
        left &= ~members
    assert len(sizes) == templates
    sizes = np.sort(sizes)[::-1]
    expected = len(x) * template_frequencies(templates, zipf)
    assert np.all(np.abs(sizes - expected) < 4 * np.sqrt(expected) + 1), (sizes, expected)


@pytest.mark.parametrize("value", [-0.5, float("nan"), float("inf"), "1", True])
def test_zipf_validates(value):
    with pytest.raises(ValueError, match="zipf"):
        synthetic(10, 0, 0, zipf=value)
    with pytest.raises(ValueError, match="zipf"):
        template_frequencies(4, value)
    with pytest.raises(ValueError, match="templates"):
        template_frequencies(0, 1.0)
