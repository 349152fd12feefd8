"""Settings every test shares.

Set before anything imports Keras: float64 goldens need JAX's x64 mode, and
TensorFlow's C++ logging would bury pytest's output.
"""

import os

os.environ.setdefault("JAX_ENABLE_X64", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest


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
def _seeded():
    """Every test starts from the same random state."""
    import random

    import numpy as np

    random.seed(1337)
    np.random.seed(1337)
    yield
