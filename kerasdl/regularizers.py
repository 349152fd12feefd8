"""Weight penalties of chapter 3.4.2-3.4.3: L1 (Lasso), L2 (Ridge) and both.

A regularizer maps a weight tensor to a scalar penalty that Keras adds to the loss
(`layer.losses`, `model.losses`, and the loss `fit` minimises):

    L1:    l1 * sum(|w|)                 gradient  l1 * sign(w)
    L2:    l2 * sum(w^2)                 gradient  2 * l2 * w
    L1L2:  l1 * sum(|w|) + l2 * sum(w^2)

L2 is the chapter's formula, with no factor 1/2. PyTorch's `weight_decay=wd` (SGD, Adam, ...,
not AdamW) adds `wd * w` to the gradient, which is the gradient of `wd / 2 * sum(w^2)`: it
equals `L2(l2=wd / 2)`.

The gradient of `|w|` at exactly `w = 0` is taken as 0 (the subgradient `sign(0) = 0`, as in
PyTorch), on every backend: Keras's own `L1` differentiates `abs`, whose gradient at 0 is 0
on TensorFlow but 1 on JAX. With 0 a weight that is exactly 0 stays 0 under plain SGD.
"""

import math

import keras
from keras import ops

from kerasdl import _checks, _registration

__all__ = ["L1", "L1L2", "L2"]


def _factor(name, value):
    """A penalty factor: a finite real number >= 0, as ``float``."""
    value = float(_checks.non_negative(name, value))
    if not math.isfinite(value):
        raise ValueError(f"Argument `{name}` must be finite. Received: {name}={value!r}")
    return value


def _l1_penalty(l1, x):
    # sum(w * sign(w)) is sum(|w|) exactly (a product with -1, 0 or 1 is exact), and with
    # sign(w) held constant its gradient is sign(w): 0 at w = 0 on every backend.
    return ops.convert_to_tensor(l1, dtype=x.dtype) * ops.sum(x * ops.stop_gradient(ops.sign(x)))


def _l2_penalty(l2, x):
    return ops.convert_to_tensor(l2, dtype=x.dtype) * ops.sum(ops.square(x))


@_registration.serializable("regularizers")
class L1(keras.regularizers.Regularizer):
    """L1 (Lasso) penalty: pushes weights to exactly 0, a sparse model (3.4.2).

        penalty = l1 * sum_i |w_i|            d penalty / d w_i = l1 * sign(w_i)

    with `sign(0) = 0`, so the gradient at a zero weight is 0 on every backend.

    Args:
        l1: float >= 0, the factor lambda. Defaults to `0.01` (the chapter's and Keras's).

    Examples:
        >>> layer = keras.layers.Dense(10, kernel_regularizer=L1(0.01))

    References:
        - [Tibshirani, 1996](https://doi.org/10.1111/j.2517-6161.1996.tb02080.x)
    """

    def __init__(self, l1=0.01):
        self.l1 = _factor("l1", l1)

    def __call__(self, x):
        return _l1_penalty(self.l1, x)

    def get_config(self):
        return {"l1": self.l1}


@_registration.serializable("regularizers")
class L2(keras.regularizers.Regularizer):
    """L2 (Ridge) penalty, the chapter's formula with no factor 1/2 (3.4.3).

        penalty = l2 * sum_i w_i^2            d penalty / d w_i = 2 * l2 * w_i

    PyTorch's `weight_decay=wd` in SGD/Adam/... adds `wd * w` to the gradient: the same as
    `L2(l2=wd / 2)`.

    Args:
        l2: float >= 0, the factor lambda. Defaults to `0.01` (the chapter's and Keras's).

    Examples:
        >>> layer = keras.layers.Dense(10, kernel_regularizer=L2(0.01))

    References:
        - [Hoerl & Kennard, 1970](https://doi.org/10.1080/00401706.1970.10488634)
        - [Krogh & Hertz, 1991](https://proceedings.neurips.cc/paper/1991/hash/8eefcfdf5990e441f0fb6f3fad709e21-Abstract.html)
    """

    def __init__(self, l2=0.01):
        self.l2 = _factor("l2", l2)

    def __call__(self, x):
        return _l2_penalty(self.l2, x)

    def get_config(self):
        return {"l2": self.l2}


@_registration.serializable("regularizers")
class L1L2(keras.regularizers.Regularizer):
    """L1 and L2 penalties together (elastic net).

        penalty = l1 * sum_i |w_i| + l2 * sum_i w_i^2

    A factor of 0 drops its term, so `L1L2(l2=0.01)` is `L2(0.01)`. The defaults are
    Keras's `L1L2` defaults (0 and 0, so that naming one factor gives only that term),
    not the 0.01 of `L1` and `L2`.

    Args:
        l1: float >= 0, the L1 factor. Defaults to `0.0`.
        l2: float >= 0, the L2 factor. Defaults to `0.0`.

    Examples:
        >>> layer = keras.layers.Dense(10, kernel_regularizer=L1L2(l1=1e-5, l2=1e-4))

    References:
        - [Zou & Hastie, 2005](https://doi.org/10.1111/j.1467-9868.2005.00503.x)
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor("l1", l1)
        self.l2 = _factor("l2", l2)

    def __call__(self, x):
        penalty = ops.zeros((), dtype=x.dtype)
        if self.l1:
            penalty = penalty + _l1_penalty(self.l1, x)
        if self.l2:
            penalty = penalty + _l2_penalty(self.l2, x)
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}
