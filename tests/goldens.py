"""Read the golden files that tests/reference/make_golden.py writes from PyTorch.

The suite never imports torch: it reads ``tests/golden/<family>.json``. Each file
holds ``meta`` (the torch and numpy versions that made it) and ``cases``, a list
of dicts whose fields each family defines in its generator.
"""

import contextlib
import json
from functools import cache
from pathlib import Path

import numpy as np

GOLDEN_DIR = Path(__file__).parent / "golden"


@cache
def load(family):
    """The whole golden file of ``family``."""
    return json.loads((GOLDEN_DIR / f"{family}.json").read_text())


def cases(family):
    """``(ids, cases)`` of a family, ready for ``pytest.mark.parametrize``."""
    data = load(family)["cases"]
    return [case["id"] for case in data], data


@contextlib.contextmanager
def floatx(dtype):
    """Keras's default float (the learning-rate variable's dtype) set to `dtype`."""
    import keras

    previous = keras.config.floatx()
    keras.config.set_floatx(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(previous)


def assert_close(actual, expected, tolerance, what=""):
    """Relative to the size of `expected`: |a - e| <= tol * max(|e|, max|expected|)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected)
    scale = np.maximum(np.abs(expected), np.abs(expected).max())
    error = np.abs(actual - expected) / scale
    assert error.max() <= tolerance, f"{what}: relative error {error.max():.3g} > {tolerance}"


def tanh(z):
    """`ops.tanh`, but through `exp` in float64: on JAX, Keras's tanh returns float32 (the
    golden problems' activation)."""
    import keras
    from keras import ops

    if keras.backend.standardize_dtype(z.dtype) == "float64":
        return 1 - 2 / (ops.exp(2 * z) + 1)
    return ops.tanh(z)


def groups_gradient(X, Y, v):
    """The gradient of the parameter-group goldens' problem (``golden_groups.py``: a 2-layer tanh
    network, mean squared error), written out in NumPy: ``v = [K1, b1, K2, b2]``."""
    K1, b1, K2, b2 = v
    h = np.tanh(X @ K1 + b1)
    pred = np.tanh(h @ K2 + b2)
    D2 = (pred - Y) * (1 - pred**2) / X.shape[0]
    D1 = (D2 @ K2.T) * (1 - h**2)
    return [X.T @ D1, D1.sum(axis=0), h.T @ D2, D2.sum(axis=0)]
