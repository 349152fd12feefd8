"""Your own data (`kerasdl.data_files`: ``.npz`` and ``.csv``) and Keras's datasets
(`kerasdl.data_keras`): reading, every bad file named, the task inferred, the splits, the
standardisation from the training split, the resume fingerprint; Keras's loaders are replaced,
so nothing is ever downloaded. NumPy only: no test here trains.
"""

import numpy as np
import pytest

from kerasdl import data, data_files, data_keras
from kerasdl.config import ConfigError, TrainConfig

# ---------------------------------------------------------------------------------------------
# Helpers.


def _config(path, **settings):
    values = {"data.name": "file", "data.path": str(path), **settings}
    if str(path).lower().endswith(".csv"):
        values.setdefault("data.target", "y")
    return TrainConfig().override(values).validate()


def _load(path, **settings):
    return data.load_dataset(_config(path, **settings))


def _npz(tmp_path, name="d.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def _csv(tmp_path, text, name="d.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _images(n=40, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 6, 6), dtype=np.uint8)
    y = np.arange(n) % classes
    return x, y


def _table(n=50, seed=0, target=None):
    """A CSV: features a, b and target y (by default ``a - 2 b`` plus a little noise)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n) * 3 + 5
    y = a - 2 * b + rng.normal(scale=0.01, size=n) if target is None else target
    rows = "".join(f"{a[i]:.5f},{b[i]:.5f},{y[i]}\n" for i in range(n))
    return "a,b,y\n" + rows


# ---------------------------------------------------------------------------------------------
# .npz


def test_npz_classification_with_held_out_test_and_validation(tmp_path):
    x, y = _images(n=40)
    ds = _load(_npz(tmp_path, x_train=x, y_train=y))
    assert ds.task == "classification" and ds.num_classes == 4 and ds.num_outputs == 4
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (29, 3, 8)  # 0.2, then 0.1
    assert ds.input_shape == (36,) and ds.x_train.shape == (29, 36)  # flat for the MLP
    assert ds.x_train.dtype == np.float32 and 0 <= ds.x_train.min() <= ds.x_train.max() <= 1
    assert ds.y_train.dtype == np.int32
    assert np.bincount(ds.y_test).tolist() == [2, 2, 2, 2]  # stratified
    assert "whole-number labels (4 classes)" in ds.task_reason
    message = next(m for level, m in ds.messages if level == "info")
    assert message.startswith("d.npz read as classification data: y_train has whole-number")
    assert "classes 0..3, as given" in message
    described = ds.describe()
    assert described["task"] == "classification" and described["n_classes"] == 4
    assert described["source"].startswith("d.npz: npz, 36 features -> classification: ")


def test_npz_images_keep_height_width_channels_for_other_networks(tmp_path):
    x, y = _images(n=40)
    ds = _load(_npz(tmp_path, x_train=x, y_train=y), **{"model.architecture": "cnn"})
    assert ds.input_shape == (6, 6, 1) and ds.x_test.shape[1:] == (6, 6, 1)


def test_npz_own_splits_are_used_and_the_same_bytes_give_the_same_data(tmp_path):
    x, y = _images(n=40)
    path = _npz(tmp_path, x_train=x[:30], y_train=y[:30], x_val=x[30:35], y_val=y[30:35],
                x_test=x[35:], y_test=y[35:])  # fmt: skip
    ds = _load(path)
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (30, 5, 5)
    assert np.array_equal(ds.x_test, x[35:].reshape(5, -1) / np.float32(255))
    again = _load(path)
    assert again.file_sha256 == ds.file_sha256 and np.array_equal(again.x_train, ds.x_train)
    no_val = {"validation_split": 0, "early_stopping.monitor": "loss", "plateau.monitor": "loss"}
    none = _load(path, **no_val)
    assert len(none.y_val) == 0 and len(none.y_train) == 30


def test_npz_float_targets_are_regression(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 3))
    ds = _load(_npz(tmp_path, x_train=x, y_train=x @ [1.0, 2.0, 3.0]), **{"loss.name": "mse"})
    assert ds.task == "regression" and ds.num_classes is None and ds.num_outputs == 1
    assert ds.y_train.shape == (len(ds.y_train), 1) and ds.y_train.dtype == np.float32
    assert ds.task_reason == "y_train has non-integer values"


def test_npz_unknown_arrays_are_a_warning(tmp_path):
    x, y = _images()
    ds = _load(_npz(tmp_path, x_train=x, y_train=y, extra=np.zeros(3)))
    assert ("warning", f"{tmp_path / 'd.npz'}: arrays not used: 'extra'") in ds.messages


def _bad_npz(tmp_path, case):
    x, y = _images(n=20)
    path = tmp_path / "bad.npz"
    arrays = {
        "missing": {"x_train": x},
        "x_val alone": {"x_train": x, "y_train": y, "x_val": x},
        "lengths": {"x_train": x, "y_train": y[:-1]},
        "features": {"x_train": x, "y_train": y, "x_test": x[:, :3], "y_test": y},
        "nan": {"x_train": np.where(np.eye(20, 36, 5) > 0, np.nan, 1.0), "y_train": y},
        "inf": {"x_train": np.full((20, 2), np.inf), "y_train": y},
        "text": {"x_train": np.array([["a", "b"]] * 20), "y_train": y},
        "objects": {"x_train": np.array([{}] * 20, dtype=object), "y_train": y},
        "zero rows": {"x_train": np.zeros((0, 4)), "y_train": np.zeros(0)},
        "one dimension": {"x_train": np.zeros(20), "y_train": y},
        "label shape": {"x_train": x, "y_train": np.zeros((20, 3))},
        "dtypes": {"x_train": x, "y_train": y, "x_test": x.astype(float), "y_test": y},
    }
    if case == "empty":
        path.write_bytes(b"")
    elif case == "not a zip":
        path.write_bytes(b"x_train,y_train\n1,2\n")
    else:
        np.savez(path, **arrays[case])
    return path


@pytest.mark.parametrize(
    "case, problem",
    [
        ("missing", "missing y_train (arrays found: 'x_train')"),
        ("x_val alone", "x_val without y_val: give both or neither"),
        ("lengths", "x_train has 20 rows but y_train 19"),
        ("features", "x_test has examples of shape (3, 6), x_train (6, 6)"),
        ("nan", "x_train has NaN or infinite values (first: nan at example 0, feature (5,))"),
        ("inf", "x_train has NaN or infinite values (first: inf at example 0"),
        ("text", "x_train has dtype <U1 (text); features must be numbers"),
        ("objects", "x_train holds Python objects, which kerasdl does not load (no pickle)"),
        ("zero rows", "x_train has no rows"),
        ("one dimension", "x_train has shape (20,): give one example a row"),
        ("label shape", "y_train has shape (20, 3): one label a row"),
        ("dtypes", "x_test is float64 but x_train uint8"),
        ("empty", "the file is empty"),
        ("not a zip", "not a .npz file (BadZipFile"),
    ],
)
def test_every_bad_npz_is_named(tmp_path, case, problem):
    path = _bad_npz(tmp_path, case)
    with pytest.raises(data.DataError) as info:
        _load(path)
    assert str(info.value).startswith(f"{path}: ")
    assert problem in str(info.value)


def test_an_npz_header_that_claims_more_than_the_file_holds_is_never_allocated(tmp_path):
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**9, 1000)}
    )
    path = tmp_path / "forged.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x_train.npy", header.getvalue() + b"\0" * 64)
        archive.writestr("y_train.npy", header.getvalue())
    with pytest.raises(data.DataError) as info:
        _load(path)
    assert "'x_train': its header says (1000000000, 1000) float64 (8,000,000,000,000 bytes)" in (
        str(info.value)
    )


def test_npz_labels_must_be_integers_for_classification(tmp_path):
    x = np.zeros((20, 2))
    path = _npz(tmp_path, x_train=x, y_train=np.linspace(0, 1, 20))
    with pytest.raises(data.DataError, match=r"y_train has labels that are not integers \(0\.05"):
        _load(path, **{"data.task": "classification"})


# ---------------------------------------------------------------------------------------------
# .csv and the task.


def test_csv_regression_is_standardised_with_the_training_split_only(tmp_path):
    path = _csv(tmp_path, _table(n=60))
    ds = _load(path, **{"loss.name": "mse"})
    assert ds.task == "regression" and ds.input_shape == (2,)
    assert "target 'y' has non-integer values" in ds.source
    assert np.allclose(ds.x_train.mean(axis=0), 0, atol=1e-6)
    assert np.allclose(ds.x_train.std(axis=0), 1, atol=1e-5)
    raw = np.loadtxt(path, delimiter=",", skiprows=1)[:, :2]
    assert not np.allclose(ds.feature_mean, raw.mean(axis=0))  # not the whole file's
    restored = np.concatenate([ds.x_train, ds.x_val, ds.x_test]) * ds.feature_std + ds.feature_mean
    assert np.allclose(np.sort(restored, axis=0), np.sort(raw, axis=0), atol=1e-4)
    assert ds.describe()["scaling"]["mean"] == [float(v) for v in ds.feature_mean]
    assert ds.describe()["features"] == ["a", "b"]


def test_csv_text_labels_are_classes_in_sorted_order(tmp_path):
    labels = ["dog", "cat", "bird"] * 10
    text = "x,y\n" + "".join(f"{i},{label}\n" for i, label in enumerate(labels))
    ds = _load(_csv(tmp_path, text))
    assert ds.task == "classification" and ds.classes == ("bird", "cat", "dog")
    assert ds.task_reason == "target 'y' has text values"
    all_labels = np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    assert sorted(all_labels.tolist()) == [0] * 10 + [1] * 10 + [2] * 10
    notice = next(m for level, m in ds.messages if level == "info")
    assert "classes 'bird' -> 0, 'cat' -> 1, 'dog' -> 2" in notice


def test_csv_integer_labels_are_mapped_to_0_to_k_minus_1(tmp_path):
    text = "x,y\n" + "".join(f"{i},{(i % 3) * 5 + 1}\n" for i in range(30))
    ds = _load(_csv(tmp_path, text))
    assert ds.task == "classification" and ds.classes == (1, 6, 11) and ds.num_classes == 3
    assert ds.describe()["classes"] == [1, 6, 11]


@pytest.mark.parametrize(
    "values, task, reason",
    [
        ([0, 1, 2, 1] * 5, "classification", "whole-number labels (3 classes)"),
        ([1.0, 2.0] * 10, "classification", "whole-number labels (2 classes)"),
        (["a", "b"] * 10, "classification", "has text values"),
        ([0.5, 1.0] * 10, "regression", "has non-integer values"),
        (list(range(20)), "regression", "whole numbers but 20 distinct values, more than 10"),
    ],
)
def test_the_task_is_inferred_from_the_labels(values, task, reason):
    got, why = data_files.infer_task(np.asarray(values), "target 'y'")
    assert got == task and reason in why


def test_an_explicit_task_wins(tmp_path):
    text = "x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(20))
    ds = _load(_csv(tmp_path, text), **{"data.task": "regression", "loss.name": "mae"})
    assert ds.task == "regression" and ds.task_reason == "data.task = 'regression'"


def test_the_inferred_task_is_checked_against_the_loss_and_monitors(tmp_path):
    path = _csv(tmp_path, _table())
    with pytest.raises(ConfigError) as info:
        _load(path)  # the preset's cross-entropy
    assert str(info.value) == (
        "loss.name: got 'cross_entropy'; allowed: one of 'mse', 'mae', 'huber', 'smooth_l1' for "
        "this regression data (target 'y' has non-integer values)"
    )
    with pytest.raises(ConfigError, match=r"early_stopping.monitor: got 'val_accuracy'"):
        _load(path, **{"loss.name": "mse", "early_stopping.monitor": "val_accuracy"})
    text = "x,y\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(20))
    with pytest.raises(ConfigError, match=r"for this classification data \(target 'y' has text"):
        _load(_csv(tmp_path, text, "c.csv"), **{"loss.name": "mse"})


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "the file is empty"),
        ("\n \n", "the file is empty"),
        ("a,b,y\n", "a header but no rows"),
        ("a,b,price\n1,2,3\n", "no column 'y' for data.target (columns: 'a', 'b', 'price')"),
        ("a,b,yy\n1,2,3\n", "did you mean 'yy'?"),
        ("a,city,y\n1,2,3\n4,Paris,5\n", "column 'city' is not numeric: 'Paris' at line 3"),
        ("a,b,y\n1,2,3\n4,,5\n", "line 3, column 'b': missing value"),
        ("a,b,y\n1,nan,3\n", "line 2, column 'b': 'nan' is not a finite number"),
        ("a,b,y\n1,2,3\n1,2\n", "line 3 has 2 fields, the header 3"),
        ("a,a,y\n1,2,3\n", "column 'a' appears twice in the header"),
        ("a,,y\n1,2,3\n", "column 2 of the header has no name"),
        ("y\n1\n", "no feature columns: 'y' is the only column"),
        ("a,y\n1,\n", "line 2, column 'y' (the target): missing value"),
        ("a,y\n1,inf\n", "line 2, column 'y' (the target): 'inf' is not a finite number"),
        # a column name that is a terminal sequence, shown inert
        ("a,\x1b]0;x\x07,y\n1,x,3\n", "column '\\x1b]0;x\\x07' is not numeric: 'x' at line 2"),
    ],
)
def test_every_bad_csv_is_named(tmp_path, text, problem):
    path = _csv(tmp_path, text)
    with pytest.raises(data.DataError) as info:
        _load(path)
    assert str(info.value).startswith(f"{path}: ") and problem in str(info.value)
    assert "\x1b" not in str(info.value)


def test_a_csv_string_from_the_file_is_inert_in_messages(tmp_path):
    path = _csv(tmp_path, "a,b,y\n1,\x1b[2Jboom,3\n")
    with pytest.raises(data.DataError) as info:
        _load(path)
    assert "'\\x1b[2Jboom'" in str(info.value) and "\x1b" not in str(info.value)


def test_a_csv_that_is_not_utf8_or_too_big_fails(tmp_path, monkeypatch):
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,y\n\xff\xfe,1\n")
    with pytest.raises(data.DataError, match=r"not UTF-8 text \(byte 4\)"):
        _load(path)
    path.write_text(_table())
    monkeypatch.setattr(data_files, "MAX_CSV_BYTES", 100)
    with pytest.raises(data.DataError, match="larger than 100 bytes"):
        _load(path)


def test_regression_needs_numbers(tmp_path):
    text = "x,y\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(20))
    with pytest.raises(data.DataError, match=r"target 'y' has text \('a' at line 2\)"):
        _load(_csv(tmp_path, text), **{"data.task": "regression", "loss.name": "mse"})


def test_limit_keeps_the_first_examples(tmp_path):
    ds = _load(_csv(tmp_path, _table(n=60)), **{"data.limit": 20, "loss.name": "mse"})
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 20


def test_the_missing_file_and_the_config_rules(tmp_path):
    with pytest.raises(data.DataError, match=r"nope\.npz: no such file"):
        _load(tmp_path / "nope.npz")
    for settings, field in [
        ({"data.name": "file"}, "data.path"),
        ({"data.name": "file", "data.path": "x.txt"}, "data.path"),
        ({"data.name": "file", "data.path": "x.csv"}, "data.target"),
        ({"data.name": "file", "data.path": "x.npz", "data.target": "y"}, "data.target"),
        ({"data.path": "x.npz"}, "data.path"),  # mnist
        ({"data.name": "cifar10", "data.task": "regression"}, "data.task"),
        ({"data.name": "file", "data.path": "x.npz", "data.test_split": 0}, "data.test_split"),
    ]:
        with pytest.raises(ConfigError) as info:
            TrainConfig().override(settings).validate()
        assert info.value.field == field, settings
    config = TrainConfig().override({"data.name": "file", "data.path": "x.npz"}).validate()
    assert config.task is None  # known once loaded
    with pytest.raises(ValueError, match="known once it is loaded"):
        data.model_io_sizes(config)


def test_preload_hands_its_dataset_to_the_next_load_of_the_same_file(tmp_path):
    x, y = _images()
    path = _npz(tmp_path, x_train=x, y_train=y)
    config = _config(path)
    first = data_files.preload(config)
    assert data.load_dataset(config) is first
    assert data.load_dataset(config) is not first  # taken once
    data_files.preload(config)
    np.savez(path, x_train=x[:30], y_train=y[:30])  # changed since
    assert len(data.load_dataset(config).y_train) < len(first.y_train)


def test_the_resume_fingerprint_names_the_file_and_its_bytes(tmp_path):
    from kerasdl import runs
    from kerasdl.run import resume

    path = _csv(tmp_path, _table())
    config = _config(path, **{"loss.name": "mse"})
    before = resume.run_fingerprint(config, data.load_dataset(config))
    assert before["data.path"] == str(path) and len(before["data file sha256"]) == 64
    path.write_text(_table(seed=1))
    after = resume.run_fingerprint(config, data.load_dataset(config))
    with pytest.raises(runs.RunError) as info:
        resume.check_fingerprint(tmp_path, {"fingerprint": before}, after)
    differences = str(info.value).splitlines()[1:]
    assert len(differences) == 1 and differences[0].startswith("  data file sha256: '")


# ---------------------------------------------------------------------------------------------
# Keras's datasets (the loaders replaced: never a download).


@pytest.fixture
def keras_cache(tmp_path, monkeypatch):
    """An empty Keras cache, online."""
    monkeypatch.delenv(data.ENV_OFFLINE, raising=False)
    cache = tmp_path / "keras" / "datasets"
    monkeypatch.setattr(data, "keras_cache_paths", lambda name="mnist.npz": [cache / name])
    return cache


def _fake_keras(monkeypatch, module, x_train, y_train, x_test, y_test):
    import keras

    calls = []

    def load_data():
        calls.append(module)
        return (x_train, y_train), (x_test, y_test)

    monkeypatch.setattr(getattr(keras.datasets, module), "load_data", load_data)
    return calls


def test_offline_without_a_cached_copy_fails_and_says_how_to_get_it(keras_cache, monkeypatch):
    import keras

    def must_not_run():
        raise AssertionError("no download offline")

    monkeypatch.setenv(data.ENV_OFFLINE, "1")
    for name in ("fashion_mnist", "cifar10", "cifar100"):
        monkeypatch.setattr(getattr(keras.datasets, name), "load_data", must_not_run)
        with pytest.raises(data.DataError) as info:
            data.load_dataset(TrainConfig().override({"data.name": name}))
        message = str(info.value)
        assert message.startswith(f"{name}: no copy in Keras's cache and KERASDL_OFFLINE is set")
        assert f'keras.datasets.{name}.load_data()"' in message
        assert "there is no bundled copy" in message and str(keras_cache) in message


def test_a_cached_copy_is_used_offline(keras_cache, monkeypatch):
    (keras_cache / "cifar-10-batches-py-target_archive").parent.mkdir(parents=True)
    (keras_cache / "cifar-10-batches-py-target_archive").write_bytes(b"")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(50, 32, 32, 3), dtype=np.uint8)
    y = (np.arange(50) % 10).reshape(-1, 1).astype(np.uint8)
    calls = _fake_keras(monkeypatch, "cifar10", x, y, x[:10], y[:10])
    monkeypatch.setenv(data.ENV_OFFLINE, "1")
    ds = data.load_dataset(TrainConfig().override({"data.name": "cifar10"}))
    assert calls == ["cifar10"] and ds.source.startswith("keras cache ")
    assert ds.x_train.shape == (45, 3072) and ds.y_train.shape == (45,)
    assert ds.num_classes == 10 and ds.y_train.dtype == np.int32
    # per-channel standardisation with the training split's statistics
    channels = ds.x_train.reshape(45, 32, 32, 3)
    assert np.allclose(channels.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    assert np.allclose(channels.std(axis=(0, 1, 2)), 1, atol=1e-4)
    cnn = data.load_dataset(
        TrainConfig().override({"data.name": "cifar10", "model.architecture": "cnn"})
    )
    assert cnn.input_shape == (32, 32, 3)
    assert data.model_io_sizes(TrainConfig().override({"data.name": "cifar100"})) == (3072, 100)


def test_fashion_mnist_is_normalised_with_its_own_statistics(keras_cache, monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 200, size=(60, 28, 28), dtype=np.uint8)
    y = np.arange(60, dtype=np.uint8) % 10
    _fake_keras(monkeypatch, "fashion_mnist", x, y, x[:20], y[:20])
    ds = data.load_dataset(TrainConfig().override({"data.name": "fashion_mnist"}))
    assert ds.source == "keras download" and ds.input_shape == (784,)
    assert abs(float(ds.x_train.mean())) < 1e-5 and abs(float(ds.x_train.std()) - 1) < 1e-4
    mean, std = ds.describe()["scaling"]["mean"], ds.describe()["scaling"]["std"]
    assert len(mean) == len(std) == 1 and 0.3 < mean[0] < 0.5


def test_a_failed_or_hanging_download_is_a_data_error(keras_cache, monkeypatch):
    import threading

    import keras

    def offline():
        raise OSError("URL fetch failure: no network")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    config = TrainConfig().override({"data.name": "fashion_mnist"})
    with pytest.raises(data.DataError, match=r"load_data\(\) failed \(OSError: URL fetch failure"):
        data.load_dataset(config)
    release = threading.Event()
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", lambda: release.wait(30))
    try:
        with pytest.raises(data.DataError, match=r"failed \(no answer within 0.2 s\)"):
            data.load_dataset(config, download_timeout=0.2)
    finally:
        release.set()


def test_keras_arrays_of_the_wrong_shape_are_refused(keras_cache, monkeypatch):
    x = np.zeros((10, 28, 28, 3), np.uint8)
    _fake_keras(monkeypatch, "fashion_mnist", x, np.zeros(10), x, np.zeros(10))
    with pytest.raises(data.DataError, match=r"images \(10, 28, 28, 3\) uint8"):
        data.load_dataset(TrainConfig().override({"data.name": "fashion_mnist"}))


def test_the_cache_check_knows_keras_file_names(keras_cache):
    assert data_keras.cached_copy("fashion_mnist") is None
    for path in data_keras.KERAS_DATASETS["fashion_mnist"].cache[0]:
        (keras_cache / path).parent.mkdir(parents=True, exist_ok=True)
        (keras_cache / path).write_bytes(b"")
    found = data_keras.cached_copy("fashion_mnist")
    assert found == keras_cache / "fashion-mnist" / "train-labels-idx1-ubyte.gz"
