"""Settings every test shares.

Set before anything imports Keras: float64 goldens need JAX's x64 mode, and
TensorFlow's C++ logging would bury pytest's output. kerasdl's per-user cache
(``KERASDL_CACHE_DIR``: the marker of the mnist-mini notice) is a temporary folder, never
``~/.cache``: one for the session (module fixtures, subprocesses), a fresh one per test.
"""

import atexit
import os
import shutil
import tempfile

import pytest

os.environ.setdefault("JAX_ENABLE_X64", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERASDL_CACHE_DIR"] = _SESSION_CACHE = tempfile.mkdtemp(prefix="kerasdl-cache-")
atexit.register(shutil.rmtree, _SESSION_CACHE, ignore_errors=True)


def backend():
    """The Keras backend the suite runs on, without importing Keras."""
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def pytest_collection_modifyitems(config, items):
    if backend() == "tensorflow":
        return
    skip = pytest.mark.skip(reason="needs the TensorFlow backend")
    for item in items:
        if "tf_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path_factory, monkeypatch):
    """A fresh ``KERASDL_CACHE_DIR`` per test: the first mnist-mini notice is the full one."""
    monkeypatch.setenv("KERASDL_CACHE_DIR", str(tmp_path_factory.mktemp("kerasdl-cache")))


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state."""
    import random

    import numpy as np

    random.seed(1337)
    np.random.seed(1337)
    yield
