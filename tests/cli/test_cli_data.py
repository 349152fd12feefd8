"""``kerasdl data info``: which MNIST source, and why, for each place in the lookup order; bad
input; no download and no TensorFlow."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from kerasdl import data as kdata
from kerasdl.cli import app

runner = CliRunner()
IDX_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@pytest.fixture(autouse=True)
def _no_local_mnist(monkeypatch, tmp_path):
    """No env var, no offline switch, and a Keras cache that is empty (in tmp)."""
    monkeypatch.delenv("KERASDL_DATA_DIR", raising=False)
    monkeypatch.delenv("KERASDL_OFFLINE", raising=False)
    cache = tmp_path / "keras-home" / "datasets" / "mnist.npz"
    monkeypatch.setattr(kdata, "keras_cache_paths", lambda: [cache])
    return cache


def _info(*args, env=None):
    result = runner.invoke(app, ["data", "info", *map(str, args)], env=env)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def _fields(stdout):
    """``{"why": "...", ...}`` from the ``key   value`` lines (continuation lines dropped)."""
    fields = {}
    for line in stdout.splitlines()[1:]:
        if line[:1].strip():
            key, _, value = line.partition("  ")
            fields[key] = value.strip()
    return fields


def _idx_folder(path):
    path.mkdir()
    for name in IDX_NAMES:
        (path / name).write_bytes(b"")
    return path


def test_data_dir_option_comes_first(tmp_path, monkeypatch):
    folder = _idx_folder(tmp_path / "mnist")
    monkeypatch.setenv("KERASDL_DATA_DIR", str(tmp_path / "elsewhere"))  # not even looked at
    result = _info("--data-dir", folder)
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first == f"MNIST source: data_dir={folder} (IDX)"
    fields = _fields(result.stdout)
    assert fields["why"] == "data.data_dir (--data-dir) was given"
    assert fields["kind"] == "data_dir" and fields["format"] == "idx"
    assert fields["path"] == str(folder)


def test_env_var_with_an_npz(tmp_path, monkeypatch):
    folder = tmp_path / "npz"
    folder.mkdir()
    (folder / "mnist.npz").write_bytes(b"")
    monkeypatch.setenv("KERASDL_DATA_DIR", str(folder))
    result = _info()
    assert result.exit_code == 0, result.output
    fields = _fields(result.stdout)
    assert fields["kind"] == "env" and fields["format"] == "npz"
    assert fields["why"] == "KERASDL_DATA_DIR is set"
    assert fields["looked at first"] == "data.data_dir: not set"


def test_keras_cache(tmp_path, _no_local_mnist):
    _no_local_mnist.parent.mkdir(parents=True)
    _no_local_mnist.write_bytes(b"")
    result = _info()
    fields = _fields(result.stdout)
    assert fields["kind"] == "keras_cache" and fields["path"] == str(_no_local_mnist)


def test_offline_gives_the_bundled_subset(monkeypatch):
    monkeypatch.setenv("KERASDL_OFFLINE", "1")
    result = _info()
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "MNIST source: bundled mnist-mini"
    fields = _fields(result.stdout)
    assert fields["kind"] == "bundled"
    assert "KERASDL_OFFLINE is set" in fields["why"]


def test_nothing_local_says_keras_would_download_and_downloads_nothing(monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("data info must not download")

    monkeypatch.setattr(kdata, "load_mnist_arrays", no_download, raising=False)
    result = _info()
    assert result.exit_code == 0
    fields = _fields(result.stdout)
    assert fields["kind"] == "keras_download"
    assert "mnist-mini" in fields["why"]  # the fallback is named
    # Every place looked at before is listed, with why it was not used.
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("looked at first"))
    assert "data.data_dir: not set" in lines[start]
    assert "KERASDL_DATA_DIR: not set" in lines[start + 1]
    assert "keras cache: no " in lines[start + 2]


@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_a_data_dir_without_mnist_exits_2(tmp_path, kind):
    folder = tmp_path / "d"
    if kind == "empty":
        folder.mkdir()
    result = _info("--data-dir", folder)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: data: data.data_dir: ")
    assert str(folder) in result.stderr


def test_data_info_imports_no_framework(tmp_path):
    env = {"KERASDL_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    for args in (["data", "info"], ["data", "info", "--help"], ["data", "--help"]):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "kerasdl", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        modules = {
            line.rsplit("|", 1)[1].strip().split(".")[0]
            for line in result.stderr.splitlines()
            if line.startswith("import time:") and "|" in line
        }
        assert "kerasdl" in modules
        assert not modules & {"tensorflow", "keras", "textual", "jax", "torch"}, args
