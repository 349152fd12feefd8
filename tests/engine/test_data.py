"""`kerasdl.data`: IDX parsing, source precedence, offline fallback, splits, the bundled
mnist-mini, the regression set and the tf.data pipeline.

Full-MNIST checks read ``KERASDL_DATA_DIR`` (the four IDX .gz files) and skip without it.
"""

import gzip
import hashlib
import importlib.util
import json
import os
import re
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from kerasdl import data
from kerasdl.config import ConfigError, TrainConfig
from kerasdl.data import DataError

REPO = Path(__file__).resolve().parents[2]
FULL_MNIST = os.environ.get("KERASDL_DATA_DIR", "")
# Label counts of the standard distribution (shared/data/mnist/SOURCE.md).
FULL_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
FULL_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _needs_full_mnist():
    if not FULL_MNIST:
        pytest.skip("set KERASDL_DATA_DIR to the folder of the MNIST IDX files")


# ---------------------------------------------------------------------------------------------
# Fake MNIST files, written byte by byte from the IDX format (big-endian header, then uint8).


def _idx_bytes(array, magic):
    header = struct.pack(f">{1 + array.ndim}I", magic, *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _write(path, payload, gz=True):
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def _fake_arrays(n_train=50, n_test=20, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        (np.arange(n_train) % 10).astype(np.uint8),
        rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        (np.arange(n_test) * 3 % 10).astype(np.uint8),
    )


def _write_idx_folder(folder, arrays, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    magics = (2051, 2049, 2051, 2049)
    for stem, array, magic in zip(data.MNIST_FILES.values(), arrays, magics, strict=True):
        _write(folder / f"{stem}{suffix}", _idx_bytes(array, magic), gz=gz)
    return folder


def _write_npz(path, arrays):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **dict(zip(("x_train", "y_train", "x_test", "y_test"), arrays, strict=True)))
    return path


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No KERASDL_DATA_DIR, no KERASDL_OFFLINE, and an empty Keras cache in tmp."""
    monkeypatch.delenv(data.ENV_DATA_DIR, raising=False)
    monkeypatch.delenv(data.ENV_OFFLINE, raising=False)
    cache = tmp_path / "keras" / "datasets" / "mnist.npz"
    monkeypatch.setattr(data, "keras_cache_paths", lambda: [cache])
    return cache


# ---------------------------------------------------------------------------------------------
# IDX parsing.


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "raw"])
def test_read_idx_images_and_labels(tmp_path, gz):
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    got_images = data.read_idx(_write(tmp_path / "i", _idx_bytes(images, 2051), gz), kind="images")
    got_labels = data.read_idx(_write(tmp_path / "l", _idx_bytes(labels, 2049), gz), kind="labels")
    assert got_images.dtype == np.uint8 and np.array_equal(got_images, images)
    assert got_labels.dtype == np.uint8 and np.array_equal(got_labels, labels)


def test_read_idx_header_by_hand(tmp_path):
    # magic 0x00000803 = 2051, n = 1, rows = 2, cols = 2, then 4 pixels.
    raw = bytes([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 10, 20, 30, 255])
    got = data.read_idx(_write(tmp_path / "x.gz", raw), kind="images")
    assert got.tolist() == [[[10, 20], [30, 255]]]


@pytest.mark.parametrize(
    ("payload", "gz", "message"),
    [
        (_idx_bytes(np.zeros(3, np.uint8), 2049), True, r"magic number 2049, expected 2051"),
        (_idx_bytes(np.zeros((2, 2, 2), np.uint8), 2051)[:-1], True, r"truncated or corrupt"),
        (_idx_bytes(np.zeros((2, 2, 2), np.uint8), 2051) + b"x", True, r"truncated or corrupt"),
        (b"\x00\x00\x08", True, r"3 bytes, too short for an IDX images header"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", True, r"8 bytes, too short for an IDX images"),
        (gzip.compress(b"0" * 100)[:-12], False, r"cannot read \((EOFError|BadGzipFile)"),
        (b"\x1f\x8b\x08\x00garbage-not-deflate", False, r"cannot read"),
    ],
    ids=[
        "wrong-magic",
        "short-data",
        "extra-data",
        "short-magic",
        "short-header",
        "cut-gzip",
        "bad-gzip",
    ],
)
def test_read_idx_corrupt_file_names_the_file(tmp_path, payload, gz, message):
    path = _write(tmp_path / "train-images-idx3-ubyte.gz", payload, gz=gz)
    with pytest.raises(DataError, match=message) as info:
        data.read_idx(path, kind="images")
    assert str(info.value).startswith(str(path))


def test_load_from_a_folder_with_a_corrupt_file_names_it(tmp_path, isolated):
    folder = _write_idx_folder(tmp_path / "mnist", _fake_arrays())
    bad = folder / "t10k-labels-idx1-ubyte.gz"
    _write(bad, _idx_bytes(np.zeros(20, np.uint8), 2051))
    with pytest.raises(DataError, match=re.escape(str(bad))):
        data.load_dataset(TrainConfig().override({"data.data_dir": str(folder)}))


def test_images_and_labels_that_disagree_are_an_error(tmp_path, isolated):
    x_train, y_train, x_test, y_test = _fake_arrays()
    folder = _write_idx_folder(tmp_path / "m", (x_train, y_train[:-1], x_test, y_test))
    with pytest.raises(DataError, match=r"50 train images but labels of shape \(49,\)"):
        data.load_dataset(TrainConfig().override({"data.data_dir": str(folder)}))


# ---------------------------------------------------------------------------------------------
# Sources and their order.


def test_data_dir_with_idx_files_is_used_and_normalised(tmp_path, isolated):
    arrays = _fake_arrays()
    folder = _write_idx_folder(tmp_path / "mnist", arrays)
    config = TrainConfig().override({"data.data_dir": str(folder), "validation_split": 0.2})
    ds = data.load_dataset(config)
    assert ds.source == f"data_dir={folder} (IDX)" and ds.notice is None
    assert (ds.name, ds.task, ds.num_classes, ds.input_shape) == (
        "mnist",
        "classification",
        10,
        (784,),
    )
    x_train, y_train, x_test, y_test = arrays
    # The chapter's transform in NumPy, float64: ToTensor (x / 255), Normalize(0.1307, 0.3081).
    expected_test = (x_test.reshape(20, 784) / 255.0 - 0.1307) / 0.3081
    assert ds.x_test.dtype == np.float32 and ds.x_test.shape == (20, 784)
    np.testing.assert_allclose(ds.x_test, expected_test, rtol=0, atol=1e-6)
    assert ds.y_test.dtype == np.int32 and np.array_equal(ds.y_test, y_test)
    expected_train = (x_train.reshape(50, 784)[ds.train_index] / 255.0 - 0.1307) / 0.3081
    np.testing.assert_allclose(ds.x_train, expected_train, rtol=0, atol=1e-6)
    assert np.array_equal(ds.y_train, y_train[ds.train_index])
    assert np.array_equal(ds.y_val, y_train[ds.val_index])
    assert (len(ds.y_train), len(ds.y_val)) == (40, 10)
    assert ds.describe() == {
        "name": "mnist",
        "source": f"data_dir={folder} (IDX)",
        "notice": None,
        "n_train": 40,
        "n_val": 10,
        "n_test": 20,
    }


def test_normalisation_is_pytorchs_float32_arithmetic():
    x = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    got = data.normalize_images(x, 0.1307, 0.3081)
    # torchvision: ToTensor divides a float32 tensor by 255, Normalize subtracts and divides in
    # float32; every step is rounded to float32.
    step = x.reshape(1, 256).astype(np.float32) / np.float32(255)
    expected = (step - np.float32(0.1307)) / np.float32(0.3081)
    assert got.dtype == np.float32 and np.array_equal(got, expected)
    assert data.normalize_images(x, 0.5, 0.5, flatten=False).shape == (1, 16, 16)


def test_uncompressed_idx_and_npz_folders(tmp_path, isolated):
    arrays = _fake_arrays()
    raw = _write_idx_folder(tmp_path / "raw", arrays, gz=False)
    npz_dir = tmp_path / "npz"
    _write_npz(npz_dir / "mnist.npz", arrays)
    info_raw = data.resolve_mnist_source(raw)
    info_npz = data.resolve_mnist_source(npz_dir)
    info_file = data.resolve_mnist_source(npz_dir / "mnist.npz")
    assert (info_raw.kind, info_raw.format) == ("data_dir", "idx")
    assert (info_npz.format, info_npz.path) == ("npz", str(npz_dir / "mnist.npz"))
    assert info_file == info_npz
    for info in (info_raw, info_npz):
        got, _, notice = data.load_mnist_arrays(info)
        assert notice is None
        assert all(np.array_equal(a, b) for a, b in zip(got, arrays, strict=True))


def test_precedence_data_dir_then_env_then_keras_cache_then_download(
    tmp_path, isolated, monkeypatch
):
    arrays = _fake_arrays()
    given = _write_idx_folder(tmp_path / "given", arrays)
    env = _write_idx_folder(tmp_path / "env", arrays)
    _write_npz(isolated, arrays)
    monkeypatch.setenv(data.ENV_DATA_DIR, str(env))
    assert data.resolve_mnist_source(given).kind == "data_dir"
    info = data.resolve_mnist_source(None)
    assert (info.kind, info.label) == ("env", f"KERASDL_DATA_DIR={env} (IDX)")
    monkeypatch.delenv(data.ENV_DATA_DIR)
    info = data.resolve_mnist_source("")
    assert (info.kind, info.path, info.format) == ("keras_cache", str(isolated), "npz")
    assert info.skipped == ("data.data_dir: not set", "KERASDL_DATA_DIR: not set")
    isolated.unlink()
    info = data.resolve_mnist_source()
    assert (info.kind, info.path) == ("keras_download", None)
    assert "bundled mnist-mini if that fails" in info.reason
    monkeypatch.setenv(data.ENV_OFFLINE, "1")
    info = data.resolve_mnist_source()
    assert (info.kind, info.path) == ("bundled", str(data.BUNDLED_MNIST_MINI))


def test_keras_cache_follows_keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert data.keras_cache_paths()[0] == tmp_path / "kh" / "datasets" / "mnist.npz"
    monkeypatch.delenv("KERAS_HOME")
    assert data.keras_cache_paths()[0] == Path.home() / ".keras" / "datasets" / "mnist.npz"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", r"does not exist"),
        (lambda p: p, r"no MNIST in .* \(expected train-images-idx3-ubyte.gz, "),
        (
            lambda p: _write(p / "train-images-idx3-ubyte.gz", b"") and p,
            r"lacks train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels",
        ),
        (lambda p: _write(p / "notes.txt", b"x"), r"is a file but not an .npz"),
    ],
    ids=["missing", "empty", "partial", "not-npz"],
)
@pytest.mark.parametrize("where", ["data_dir", "env"])
def test_an_explicit_location_without_mnist_is_an_error(
    tmp_path, isolated, monkeypatch, make, message, where
):
    location = make(tmp_path)
    if where == "env":
        monkeypatch.setenv(data.ENV_DATA_DIR, str(location))
        prefix, given = "KERASDL_DATA_DIR", None
    else:
        prefix, given = "data.data_dir", str(location)
    with pytest.raises(DataError, match=f"^{prefix}: .*{message}"):
        data.resolve_mnist_source(given)
    with pytest.raises(DataError, match=f"^{prefix}: "):
        data.load_dataset(TrainConfig().override({"data.data_dir": given or ""}))


def test_bad_npz_is_a_clear_error(tmp_path, isolated):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match=r"mnist.npz: not an MNIST npz \(missing 'y_train"):
        data.load_dataset(TrainConfig().override({"data.data_dir": str(path)}))
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match=r"mnist.npz: cannot read"):
        data.load_dataset(TrainConfig().override({"data.data_dir": str(path)}))
    x_train, y_train, x_test, y_test = _fake_arrays()
    _write_npz(path, (x_train[:, :27], y_train, x_test, y_test))
    with pytest.raises(DataError, match=r"train images have shape \(50, 27, 28\)"):
        data.load_dataset(TrainConfig().override({"data.data_dir": str(path)}))


def test_resolving_the_source_imports_no_framework(tmp_path):
    code = (
        "import sys, kerasdl.data as d\n"
        "info = d.resolve_mnist_source()\n"
        "print(info.kind, sorted({'tensorflow', 'keras', 'jax', 'torch'} & set(sys.modules)))\n"
    )
    env = {**os.environ, "KERAS_HOME": str(tmp_path), "HOME": str(tmp_path)}
    env.pop(data.ENV_DATA_DIR, None)
    env.pop(data.ENV_OFFLINE, None)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.split() == ["keras_download", "[]"]


# ---------------------------------------------------------------------------------------------
# Keras's download, bounded, and the offline fallback.


def test_failed_download_falls_back_to_mnist_mini_with_a_notice(isolated, monkeypatch):
    import keras

    def offline():
        raise OSError("URL fetch failure on https://storage.googleapis.com/...: no network")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    ds = data.load_dataset(TrainConfig())
    assert ds.name == "mnist" and ds.source == "bundled mnist-mini"
    assert "\n" not in ds.notice
    assert ds.notice.startswith("MNIST could not be downloaded (OSError: URL fetch failure")
    assert "using the bundled mnist-mini" in ds.notice and "KERASDL_DATA_DIR" in ds.notice
    assert len(ds.y_train) + len(ds.y_val) == 6000 and len(ds.y_test) == 1000


def test_hanging_download_is_abandoned_within_the_bound(isolated, monkeypatch):
    import keras

    release = threading.Event()
    calls = []

    def hangs():
        calls.append(threading.current_thread().name)
        release.wait(30)  # a socket that never answers
        raise OSError("released")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", hangs)
    try:
        start = time.monotonic()
        ds = data.load_dataset(TrainConfig(), download_timeout=0.5)
        elapsed = time.monotonic() - start
    finally:
        release.set()
    assert calls == ["kerasdl-mnist-download"]
    assert 0.5 <= elapsed < 5
    assert ds.source == "bundled mnist-mini"
    assert "(no answer within 0.5 s)" in ds.notice


def test_default_download_bound_is_finite_and_short():
    assert 0 < data.DOWNLOAD_TIMEOUT_S <= 30


def test_successful_download_is_used(isolated, monkeypatch):
    import keras

    x_train, y_train, x_test, y_test = _fake_arrays()
    monkeypatch.setattr(
        keras.datasets.mnist, "load_data", lambda: ((x_train, y_train), (x_test, y_test))
    )
    ds = data.load_dataset(TrainConfig().override({"validation_split": 0.2}))
    assert (ds.source, ds.notice) == ("keras download", None)
    assert np.array_equal(ds.y_test, y_test) and len(ds.y_train) == 40


def test_offline_flag_skips_the_download(isolated, monkeypatch):
    import keras

    def must_not_run():
        raise AssertionError("downloaded although KERASDL_OFFLINE is set")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", must_not_run)
    monkeypatch.setenv(data.ENV_OFFLINE, "1")
    ds = data.load_dataset(TrainConfig())
    assert ds.source == "bundled mnist-mini"
    assert ds.notice.startswith("No local MNIST and KERASDL_OFFLINE is set")


def _offline_notice():
    return data.load_mnist_arrays(data.resolve_mnist_source())[2]


def test_the_mnist_mini_notice_is_said_in_full_once_then_short(isolated, monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_OFFLINE, "1")
    monkeypatch.setenv(data.ENV_CACHE_DIR, str(tmp_path / "cache"))
    first, second, third = _offline_notice(), _offline_notice(), _offline_notice()
    assert first.startswith("No local MNIST and KERASDL_OFFLINE is set")
    assert "KERASDL_DATA_DIR" in first and len(first) > 150
    assert (tmp_path / "cache" / data.MNIST_MINI_NOTICE_MARKER).is_file()
    short = "Using the bundled mnist-mini (KERASDL_OFFLINE is set); for full MNIST set "
    assert second == third == short + "KERASDL_DATA_DIR."
    assert len(second) < 100 and "\n" not in second


def test_a_failed_download_after_the_first_notice_gets_the_short_one(isolated, monkeypatch):
    import keras

    def offline():
        raise OSError("URL fetch failure: no network")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    first, second = (data.load_dataset(TrainConfig()).notice for _ in range(2))
    assert first.startswith("MNIST could not be downloaded (OSError: URL fetch failure")
    assert second.startswith("Using the bundled mnist-mini (MNIST download failed)")
    assert "KERASDL_DATA_DIR" in second and len(second) < 100


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_an_unwritable_cache_dir_gives_the_full_notice_and_no_error(
    isolated, monkeypatch, tmp_path, where
):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    cache = blocker if where == "a file" else blocker / "kerasdl"
    monkeypatch.setenv(data.ENV_OFFLINE, "1")
    monkeypatch.setenv(data.ENV_CACHE_DIR, str(cache))
    for _ in range(2):
        assert _offline_notice().startswith("No local MNIST and KERASDL_OFFLINE is set")
    assert blocker.read_text() == "not a folder"


def test_the_cache_dir_follows_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_CACHE_DIR, str(tmp_path / "own"))
    assert data.cache_dir() == tmp_path / "own"
    monkeypatch.delenv(data.ENV_CACHE_DIR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.cache_dir() == tmp_path / "xdg" / "kerasdl"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # ignored, as the XDG spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.cache_dir() == tmp_path / "home" / ".cache" / "kerasdl"
    assert not (tmp_path / "home").exists()  # nothing created until a notice is shown


def test_keras_cache_is_read_without_keras(isolated, monkeypatch):
    import keras

    arrays = _fake_arrays()
    _write_npz(isolated, arrays)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: 1 / 0)
    ds = data.load_dataset(TrainConfig())
    assert ds.source == f"keras cache {isolated}" and ds.notice is None


# ---------------------------------------------------------------------------------------------
# The validation split and limit.


def test_stratified_split_holds_out_each_class_in_proportion():
    labels = np.repeat(np.arange(10), [50, 60, 70, 80, 90, 100, 110, 120, 130, 140])
    train, val = data.split_indices(labels, 0.1, seed=3)
    assert len(val) == 95 and len(train) == 855
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(950))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)
    per_class = np.bincount(labels[val], minlength=10)
    expected = np.bincount(labels, minlength=10) * 0.1
    assert np.all(np.abs(per_class - expected) <= 1)


def test_split_depends_on_the_seed_only():
    labels = np.arange(1000) % 10
    a = data.split_indices(labels, 0.2, seed=5)
    b = data.split_indices(labels.copy(), 0.2, seed=5)
    c = data.split_indices(labels, 0.2, seed=6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[1], c[1])


def test_unstratified_and_degenerate_splits():
    train, val = data.split_indices(10, 0.25, seed=0)
    assert (len(train), len(val)) == (8, 2)  # round(2.5) == 2
    train, val = data.split_indices(10, 0.0, seed=0)
    assert np.array_equal(train, np.arange(10)) and len(val) == 0
    train, val = data.split_indices(20, 0.01, seed=0)
    assert len(val) == 1  # a fraction above 0 keeps at least one example
    train, val = data.split_indices(3, 0.99, seed=0)
    assert len(train) == 1  # and at least one for training


def test_limit_keeps_the_first_examples(tmp_path, isolated):
    arrays = _fake_arrays(n_train=50, n_test=20)
    folder = _write_idx_folder(tmp_path / "m", arrays)
    config = TrainConfig().override(
        {"data.data_dir": str(folder), "data.limit": 30, "validation_split": 0.1}
    )
    ds = data.load_dataset(config)
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (27, 3, 20)
    assert np.array_equal(ds.y_test, arrays[3])  # 20 <= limit: all of them
    assert set(ds.train_index) | set(ds.val_index) == set(range(30))


def test_a_single_example_cannot_be_split():
    config = TrainConfig().override({"data.name": "mnist-mini", "data.limit": 1})
    with pytest.raises(DataError, match=r"validation_split=0.1 of a single training example"):
        data.load_dataset(config)


def test_load_dataset_validates_the_config_first():
    with pytest.raises(ConfigError, match=r"^data.name: got 'cifar'"):
        data.load_dataset(TrainConfig().override({"data.name": "cifar"}))


# ---------------------------------------------------------------------------------------------
# The bundled mnist-mini.


def _mini():
    with np.load(data.BUNDLED_MNIST_MINI, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def test_mnist_mini_is_small_balanced_and_uint8():
    assert data.BUNDLED_MNIST_MINI.stat().st_size <= 2 * 1024 * 1024
    mini = _mini()
    assert set(mini) == {"x_train", "y_train", "x_test", "y_test", "train_index", "test_index"}
    assert mini["x_train"].shape == (6000, 28, 28) and mini["x_test"].shape == (1000, 28, 28)
    for key in ("x_train", "y_train", "x_test", "y_test"):
        assert mini[key].dtype == np.uint8
    assert np.array_equal(np.bincount(mini["y_train"], minlength=10), [600] * 10)
    assert np.array_equal(np.bincount(mini["y_test"], minlength=10), [100] * 10)
    for key, size in (("train_index", 60000), ("test_index", 10000)):
        index = mini[key]
        assert np.all(np.diff(index) > 0) and index[0] >= 0 and index[-1] < size
    assert mini["x_train"].max() == 255 and mini["x_train"].min() == 0  # real digits


def test_mnist_mini_dataset_from_config():
    ds = data.load_dataset(TrainConfig().override({"data.name": "mnist-mini"}))
    assert (ds.name, ds.source, ds.notice) == ("mnist-mini", "bundled mnist-mini", None)
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (5400, 600, 1000)
    assert np.array_equal(np.bincount(ds.y_val, minlength=10), [60] * 10)  # stratified


def test_mnist_mini_provenance_names_licence_authors_rule_and_the_files_hash():
    text = (data.BUNDLED_MNIST_MINI.parent / "PROVENANCE.md").read_text()
    for needle in (
        "CC BY-SA 3.0",
        "Yann LeCun",
        "Corinna Cortes",
        "Christopher J. C. Burges",
        "tests/reference/make_mnist_mini.py",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",  # SOURCE.md
        "600, 600, 600, 600, 600, 600, 600, 600, 600, 600",
    ):
        assert needle in text
    digest = hashlib.sha256(data.BUNDLED_MNIST_MINI.read_bytes()).hexdigest()
    assert f"sha256 `{digest}`" in text


@pytest.fixture(scope="module")
def full_mnist():
    _needs_full_mnist()
    folder = Path(FULL_MNIST)
    return {
        role: data.read_idx(folder / f"{stem}.gz", kind=role.split("_")[1])
        for role, stem in data.MNIST_FILES.items()
    }


def test_full_mnist_has_the_published_counts(full_mnist):
    assert full_mnist["train_images"].shape == (60000, 28, 28)
    assert full_mnist["test_images"].shape == (10000, 28, 28)
    assert np.bincount(full_mnist["train_labels"]).tolist() == FULL_TRAIN_COUNTS
    assert np.bincount(full_mnist["test_labels"]).tolist() == FULL_TEST_COUNTS


def test_every_mnist_mini_image_is_the_full_mnist_image_of_its_index(full_mnist):
    mini = _mini()
    for part, full in (("train", "train"), ("test", "test")):
        index = mini[f"{part}_index"]
        assert np.array_equal(mini[f"x_{part}"], full_mnist[f"{full}_images"][index])
        assert np.array_equal(mini[f"y_{part}"], full_mnist[f"{full}_labels"][index])


def test_the_committed_script_rebuilds_mnist_mini(full_mnist):
    spec = importlib.util.spec_from_file_location(
        "make_mnist_mini", REPO / "tests" / "reference" / "make_mnist_mini.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    rebuilt = script.make(FULL_MNIST)
    mini = _mini()
    assert set(rebuilt) == set(mini)
    for key in mini:
        assert rebuilt[key].dtype == mini[key].dtype and np.array_equal(rebuilt[key], mini[key])


def test_full_mnist_through_load_dataset(full_mnist, isolated):
    ds = data.load_dataset(TrainConfig().override({"data.data_dir": FULL_MNIST}))
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (54000, 6000, 10000)
    val_counts = np.bincount(ds.y_val, minlength=10)
    assert np.all(np.abs(val_counts - np.array(FULL_TRAIN_COUNTS) * 0.1) <= 1)
    assert ds.x_train.shape == (54000, 784) and ds.x_train.dtype == np.float32
    first = full_mnist["train_images"][ds.train_index[0]].reshape(784)
    np.testing.assert_allclose(ds.x_train[0], (first / 255 - 0.1307) / 0.3081, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# The regression set.


def _regression(**overrides):
    base = {"data.name": "regression", "loss.name": "huber", "early_stopping.monitor": "val_mae"}
    return data.load_dataset(TrainConfig().override({**base, **overrides}))


def test_regression_set_shapes_split_and_truth():
    ds = _regression()
    assert (ds.task, ds.num_classes, ds.input_shape, ds.output_units) == (
        "regression",
        None,
        (10,),
        1,
    )
    assert ds.x_train.shape == (3600, 10) and ds.y_train.shape == (3600, 1)
    assert ds.x_val.shape == (400, 10) and ds.x_test.shape == (1000, 10)
    assert ds.x_train.dtype == ds.y_train.dtype == np.float32
    assert ds.w_true.shape == (10,) and isinstance(ds.b_true, float)
    assert ds.source == "synthetic (seed 42)"


def test_regression_outliers_are_the_stated_fraction_in_training_targets_only():
    ds = _regression()
    residual = {
        part: (getattr(ds, f"y_{part}")[:, 0] - getattr(ds, f"x_{part}") @ ds.w_true - ds.b_true)
        for part in ("train", "val", "test")
    }
    outliers = np.concatenate([ds.train_outliers, ds.val_outliers])
    assert outliers.sum() == round(0.1 * 4000)
    clean = np.concatenate(
        [residual["train"][~ds.train_outliers], residual["val"][~ds.val_outliers]]
    )
    dirty = np.concatenate([residual["train"][ds.train_outliers], residual["val"][ds.val_outliers]])
    assert np.abs(clean).max() < 6 * 0.1  # only the N(0, 0.1^2) noise
    assert np.abs(residual["test"]).max() < 6 * 0.1  # the test set is clean
    assert abs(clean.std() - 0.1) < 0.01
    spread = np.std(np.concatenate([ds.y_train, ds.y_val])[:, 0][~outliers])
    assert dirty.min() > 9 * spread and dirty.max() < 21 * spread  # 10 * std * U(1, 2)


def test_regression_outliers_pull_a_least_squares_fit():
    ds = _regression()
    x = np.hstack([ds.x_train, np.ones((len(ds.x_train), 1), np.float32)]).astype(np.float64)
    coef = np.linalg.lstsq(x, ds.y_train[:, 0].astype(np.float64), rcond=None)[0]
    clean = ~ds.train_outliers
    coef_clean = np.linalg.lstsq(x[clean], ds.y_train[clean, 0].astype(np.float64), rcond=None)[0]
    spread = np.std(ds.y_train[clean, 0])
    shift = coef[-1] - ds.b_true
    # About outlier_fraction * 1.5 * outlier_scale * std(y) = 1.5 std (the make_regression doc).
    assert 1.2 * spread < shift < 1.8 * spread
    assert (
        abs(coef_clean[-1] - ds.b_true) < 0.02 and np.abs(coef_clean[:-1] - ds.w_true).max() < 0.02
    )


def test_regression_set_is_deterministic_for_a_seed():
    a, b, c = _regression(), _regression(), _regression(seed=7)
    for name in ("x_train", "y_train", "x_val", "x_test", "y_test", "w_true", "train_outliers"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.w_true, c.w_true)


def test_regression_options_and_limit():
    ds = _regression(
        **{
            "data.regression_samples": 200,
            "data.regression_test_samples": 30,
            "data.regression_features": 3,
            "data.outlier_fraction": 0.0,
            "data.limit": 100,
            "validation_split": 0.2,
        }
    )
    assert ds.x_train.shape == (80, 3) and ds.x_val.shape == (20, 3) and ds.x_test.shape == (30, 3)
    assert not ds.train_outliers.any() and not ds.val_outliers.any()


# ---------------------------------------------------------------------------------------------
# The tf.data pipeline.


def _batches(dataset):
    return [(x.numpy(), y.numpy()) for x, y in dataset]


def test_unshuffled_dataset_keeps_order_with_a_partial_last_batch():
    x = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    y = np.arange(10, dtype=np.int32)
    dataset = data.make_tf_dataset(x, y, 4, shuffle=False)
    batches = _batches(dataset)
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert int(dataset.cardinality()) == 3
    assert np.array_equal(np.concatenate([b[0] for b in batches]), x)
    assert np.array_equal(np.concatenate([b[1] for b in batches]), y)
    dropped = data.make_tf_dataset(x, y, 4, shuffle=False, drop_remainder=True)
    assert [len(b[1]) for b in _batches(dropped)] == [4, 4] and int(dropped.cardinality()) == 2


def test_shuffled_order_is_a_permutation_fixed_by_seed_and_epoch():
    n = 103
    x = np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    y = np.arange(n, dtype=np.int64)
    order = {
        (seed, epoch): np.concatenate(
            [
                b[1]
                for b in _batches(
                    data.make_tf_dataset(x, y, 16, shuffle=True, seed=seed, epoch=epoch)
                )
            ]
        )
        for seed, epoch in ((1, 0), (1, 1), (2, 0))
    }
    again = data.make_tf_dataset(x, y, 16, shuffle=True, seed=1, epoch=1)
    for (seed, epoch), got in order.items():
        assert sorted(got.tolist()) == list(range(n))
        assert np.array_equal(got, data.epoch_order(n, seed, epoch))
    assert np.array_equal(np.concatenate([b[1] for b in _batches(again)]), order[(1, 1)])
    assert not np.array_equal(order[(1, 0)], order[(1, 1)])
    assert not np.array_equal(order[(1, 0)], order[(2, 0)])
    assert not np.array_equal(order[(1, 0)], np.arange(n))
    # x follows y: each row is its own index
    first_x, first_y = _batches(data.make_tf_dataset(x, y, 16, shuffle=True, seed=1))[0]
    assert np.array_equal(first_x[:, 0], first_y.astype(np.float32))


def test_epoch_order_is_the_same_in_another_process():
    code = "from kerasdl.data import epoch_order; print(epoch_order(50, 9, 4).tolist())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert out.stdout.strip() == str(data.epoch_order(50, 9, 4).tolist())


@pytest.mark.tf_only
@pytest.mark.parametrize(
    "n",
    # tiny, the 16-bit minimum block and its edges, powers of two and one past them (65,537
    # and 262,145: TensorFlow's block is one bit short there, see data._shuffled_size), the
    # preset's 54,000 and sizes that need wider blocks and more cycle-walking
    # (tiny sizes cycle-walk through most of the 2**16 block: 17 is the smallest here)
    [1, 17, 255, 256, 257, 600, 4096, 54_000, 65_535, 65_536, 65_537, 131_073, 262_145],
)  # fmt: skip
def test_epoch_order_computed_in_numpy_is_tensorflows_index_shuffle(n):
    """`epoch_order` (NumPy, so that JAX runs need no TensorFlow) equals what the tf.data
    pipeline computes with ``tf.random.experimental.index_shuffle``, element for element, and
    is a permutation for every size."""
    for seed in (0, 2**31 - 1, 2**32 + 5):  # 2**32 + 5: TensorFlow keeps the low 32 bits
        for epoch in (0, 19):
            expected = data._order_tensor(n, seed, epoch).numpy()
            got = data.epoch_order(n, seed, epoch)
            assert got.dtype == np.int64 and np.array_equal(got, expected), (n, seed, epoch)
        assert np.array_equal(np.sort(got), np.arange(n)), (n, seed, epoch)
    narrow = data._shuffled_size(n) != n
    assert narrow == (n in (65_537, 262_145))
    if narrow:  # TensorFlow's op alone repeats an index there
        import tensorflow as tf

        key = tf.constant([0, 0], tf.int64)
        raw = tf.random.experimental.index_shuffle(tf.range(n, dtype=tf.int64), key, n - 1)
        assert len(np.unique(raw.numpy())) < n


def test_epoch_order_needs_no_tensorflow():
    code = (
        "import sys; from kerasdl.data import epoch_order; order = epoch_order(1000, 9, 4); "
        "print('tensorflow' in sys.modules, sorted(order.tolist()) == list(range(1000)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_epoch_dataset_reads_its_epoch_at_each_pass():
    n = 40
    x = np.zeros((n, 1), np.float32)
    y = np.arange(n, dtype=np.int32)
    train = data.EpochDataset(x, y, 8, seed=11)
    assert train.steps_per_epoch == 5
    for epoch in (0, 3, 1):
        train.set_epoch(epoch)
        got = np.concatenate([b[1] for b in _batches(train.dataset)])
        assert np.array_equal(got, data.epoch_order(n, 11, epoch))


@pytest.mark.tf_only
def test_fit_resumed_at_an_epoch_sees_the_same_batches_as_an_uninterrupted_fit():
    import keras

    rng = np.random.default_rng(0)
    x = rng.standard_normal((150, 4)).astype(np.float32)
    y = (x @ rng.standard_normal(4)).astype(np.float32)[:, None]

    def train(plan, with_callback=True):
        keras.utils.set_random_seed(1)
        data_epochs = data.EpochDataset(x, y, 16, seed=5)  # 10 batches: 3 executions of 4
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", steps_per_execution=4)
        callbacks = [data_epochs.callback()] if with_callback else []
        for first, last in plan:
            model.fit(
                data_epochs.dataset,
                initial_epoch=first,
                epochs=last,
                shuffle=False,
                verbose=0,
                callbacks=callbacks,
            )
        return [w.numpy() for w in model.weights]

    straight = train([(0, 3)])
    resumed = train([(0, 1), (1, 3)])
    stale = train([(0, 3)], with_callback=False)  # every epoch in epoch 0's order
    assert all(np.array_equal(a, b) for a, b in zip(straight, resumed, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(straight, stale, strict=True))


def test_make_tf_dataset_rejects_bad_arguments():
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match="same, non-zero length"):
        data.make_tf_dataset(x, np.zeros(3), 2, shuffle=False)
    with pytest.raises(
        ValueError, match=r"Argument `batch_size` must be >= 1. Received: batch_size=0"
    ):
        data.make_tf_dataset(x, np.zeros(4), 0, shuffle=False)


@pytest.mark.parametrize("name", ["mnist-mini", "regression"])
def test_model_io_sizes_are_the_loaded_datasets(name):
    """What the runner sizes its thread choice by, before loading, is what loading gives."""
    settings = {"data.name": name, "data.limit": 200}
    if name == "regression":
        settings["loss.name"] = "mse"
    config = TrainConfig().override(settings).validate()
    dataset = data.load_dataset(config)
    inputs, outputs = data.model_io_sizes(config)
    assert (inputs,) == tuple(dataset.input_shape)
    assert outputs == (dataset.num_classes or 1)


def test_epoch_arrays_give_epoch_datasets_batches_in_its_order():
    """`EpochArrays` (NumPy batches, for fit on JAX and torch) visits the examples exactly as
    `EpochDataset` does, epoch by epoch, the last batch smaller; from uint8 codes with levels
    its inputs are the decoded floats."""
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, size=(70, 5), dtype=np.uint8)
    levels = data.image_levels(0.1307, 0.3081)
    x, y = levels[codes], np.arange(70, dtype=np.int32)
    reference = data.EpochDataset(x, y, 16, seed=11)
    arrays = data.EpochArrays(codes, y, 16, seed=11, levels=levels)
    assert arrays.steps_per_epoch == reference.steps_per_epoch == len(arrays.dataset) == 5
    for epoch in (0, 1, 7):
        reference.set_epoch(epoch)
        arrays.callback().on_epoch_begin(epoch)
        expected = [(bx.numpy(), by.numpy()) for bx, by in reference.dataset]
        got = [arrays.dataset[i] for i in range(len(arrays.dataset))]
        assert [len(by) for _, by in got] == [16, 16, 16, 16, 6]
        for (ex, ey), (gx, gy) in zip(expected, got, strict=True):
            np.testing.assert_array_equal(gx, ex)
            np.testing.assert_array_equal(gy, ey)
    with pytest.raises(ValueError, match="same, non-zero length"):
        data.EpochArrays(x, y[:3], 16, seed=0)


def test_the_runner_on_jax_trains_from_numpy_batches(tmp_path):
    """On the JAX backend the runner's fit loop (``loop = "fit"``; "auto" takes kerasdl's loop
    there, tests/engine/test_loop.py) reads `EpochArrays` (no tf.data per step) and trains
    mnist-mini; the same config on TensorFlow reaches a similar accuracy."""
    pytest.importorskip("jax")
    script = (
        "import json, sys\n"
        "from kerasdl.config import TrainConfig\n"
        "from kerasdl.run import loops\n"
        "from kerasdl.runner import train\n"
        "seen = []\n"
        "init = loops.KerasFitLoop.__init__\n"
        "def spy(self, *a, **k):\n"
        "    init(self, *a, **k); seen.append(type(self.train_data).__name__)\n"
        "loops.KerasFitLoop.__init__ = spy\n"
        "c = TrainConfig().override({'runs_dir': sys.argv[1], 'data.name': 'mnist-mini',\n"
        "    'epochs': 2, 'early_stopping.enabled': False, 'loop': 'fit'})\n"
        "s = train(c)\n"
        "print(json.dumps({'status': s.status, 'acc': s.test['accuracy'], 'data': seen}))\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == "completed" and result["data"] == ["EpochArrays"]
    assert result["acc"] > 0.85  # 2 epochs of mnist-mini: TensorFlow's run gets about 0.90
