"""Weight initializers of chapter 3.3: zeros, Xavier, He, LeCun and PyTorch's default.

Every random initializer here draws from a *plain* zero-centred distribution, as the
chapter and PyTorch do (Keras's `GlorotNormal`, `HeNormal` and `LecunNormal` draw from a
truncated normal instead). Each one is a rule for a standard deviation,

    std = gain / sqrt(fan)        fan = fan_in, fan_out or (fan_in + fan_out) / 2

and a distribution: `N(0, std^2)`, or `U(-limit, limit)` with `limit = sqrt(3) * std`
(the uniform with that standard deviation). The public classes only choose the gain,
the fan and the distribution, as Keras's `HeNormal` only chooses the arguments of its
`VarianceScaling`.

Fans are read from a Keras kernel: `(in, out)` for `Dense`, `(*spatial, in, out)` for
convolutions, which gives the same fans as PyTorch's `(out, in, *spatial)` weight of the
same layer. A shape of rank 0 or 1 has no fans (PyTorch refuses it too): the initializers
raise `ValueError` for it, except `TorchDefault(fan_in=...)`, which is how a bias gets
PyTorch's default `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` with the fan-in of its kernel.

Seeds follow Keras's random initializers: an integer seed gives the same values at every
call; a `keras.random.SeedGenerator` gives new values at every call (reproducibly); `None`
picks an integer seed once, when the initializer is made, from Python's `random` module
(so `keras.utils.set_random_seed` makes it reproducible).
"""

import math
import random as python_random

import keras
from keras import ops

from kerasdl import _checks, _registration

__all__ = [
    "HeNormal",
    "HeUniform",
    "LeCunNormal",
    "TorchDefault",
    "XavierNormal",
    "XavierUniform",
    "Zeros",
    "calculate_gain",
    "compute_fans",
]

# The names `torch.nn.init.calculate_gain` accepts, plus "identity" (listed in PyTorch's
# docstring table, refused by its code).
_LINEAR = (
    "linear",
    "identity",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)
NONLINEARITIES = (*_LINEAR, "sigmoid", "tanh", "relu", "leaky_relu", "selu")

_SEED_LIMIT = 2**32  # JAX keeps seeds as uint32; TensorFlow would accept more.


def _fail(name, requirement, value):
    # Same wording as kerasdl._checks.
    raise ValueError(f"Argument `{name}` must be {requirement}. Received: {name}={value!r}")


def _finite(name, value):
    """A real number that is neither NaN nor infinite, as ``float``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, (bool, str, bytes)) or not math.isfinite(number):
        _fail(name, "a finite real number", value)
    return number


def _checked_seed(seed):
    """``(seed as given, seed to draw with)``, as `keras.initializers.RandomUniform` does."""
    if isinstance(seed, dict):  # a serialized SeedGenerator, from get_config
        seed = keras.saving.deserialize_keras_object(seed)
    if seed is None:
        return None, python_random.randint(1, int(1e9))
    if isinstance(seed, keras.random.SeedGenerator):
        return seed, seed
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < _SEED_LIMIT:
        _fail(
            "seed", f"None, a keras.random.SeedGenerator or an integer in [0, {_SEED_LIMIT})", seed
        )
    return seed, seed


def compute_fans(shape):
    """The fans `(fan_in, fan_out)` of a Keras kernel shape.

    For a `Dense` kernel `(in, out)` and a convolution kernel `(*spatial, in, out)`:

        receptive = prod(spatial)      (1 for a Dense kernel)
        fan_in    = in * receptive
        fan_out   = out * receptive

    These equal `torch.nn.init._calculate_fan_in_and_fan_out` on the PyTorch weight of the
    same layer, `(out, in)` or `(out, in, *spatial)`. For transposed convolutions the two
    libraries also agree with each other (Keras's kernel is `(*spatial, out, in)`, PyTorch's
    weight `(in, out, *spatial)`): both call the layer's *output* channels "in".

    Args:
        shape: tuple of ints, of rank >= 2.

    Returns:
        `(fan_in, fan_out)`, two ints.

    Raises:
        ValueError: for a shape of rank 0 or 1, which has no fans (PyTorch raises too;
            Keras's `compute_fans` would use `fan_in = fan_out = shape[0]`).

    References:
        - [PyTorch, torch/nn/init.py](https://github.com/pytorch/pytorch/blob/main/torch/nn/init.py)
    """
    shape = tuple(int(dim) for dim in shape)
    if len(shape) < 2:
        _fail("shape", "of rank >= 2 (a Dense or convolution kernel) to have fans", shape)
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def calculate_gain(nonlinearity, param=None):
    """The recommended gain of a nonlinearity, as `torch.nn.init.calculate_gain`.

        linear, identity, conv*, sigmoid   1
        tanh                               5 / 3
        relu                               sqrt(2)
        leaky_relu                         sqrt(2 / (1 + negative_slope^2))
        selu                               3 / 4

    Args:
        nonlinearity: one of `"linear"`, `"identity"`, `"conv1d"`, `"conv2d"`, `"conv3d"`,
            `"conv_transpose1d"`, `"conv_transpose2d"`, `"conv_transpose3d"`, `"sigmoid"`,
            `"tanh"`, `"relu"`, `"leaky_relu"`, `"selu"`. `"identity"` is accepted here
            although PyTorch's code refuses it (its docstring lists it).
        param: the negative slope of `"leaky_relu"`, a finite real number; `None` means
            `0.01`, as in PyTorch. Ignored by the other nonlinearities. Defaults to `None`.

    Returns:
        The gain, a float.

    Examples:
        >>> calculate_gain("leaky_relu", 0.2)  # sqrt(2 / 1.04)
        1.3867504905630728

    References:
        - [PyTorch, torch.nn.init.calculate_gain](https://docs.pytorch.org/docs/stable/nn.init.html)
    """
    _checks.one_of("nonlinearity", nonlinearity, NONLINEARITIES)
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else _finite("param", param)
        return math.sqrt(2.0 / (1 + slope**2))
    return 3.0 / 4  # selu: PyTorch's empirical value (pytorch/pytorch#50664)


@_registration.serializable("initializers")
class Zeros(keras.initializers.Initializer):
    """All zeros: the chapter's choice for biases, never for weights (3.3.2).

        W = 0

    Zero weights make every unit of a layer compute the same thing and receive the same
    gradient, so the symmetry never breaks; zero biases do no such harm.

    Examples:
        >>> layer = keras.layers.Dense(3, bias_initializer=Zeros())

    References:
        - [Goodfellow et al., Deep Learning, 8.4](https://www.deeplearningbook.org/contents/optimization.html)
    """

    def __call__(self, shape, dtype=None):
        return ops.zeros(shape, dtype=dtype)

    def get_config(self):
        return {}


class _FanScaled(keras.initializers.Initializer):
    """Zero-centred draws with `std = gain / sqrt(fan)`; subclasses pick the distribution.

    Args:
        gain: float > 0.
        mode: `"fan_in"`, `"fan_out"` or `"fan_avg"` (the mean of the two).
        seed: as the public classes.
    """

    def __init__(self, gain, mode, seed=None):
        self._gain = float(gain)
        self._mode = mode
        self._init_seed, self.seed = _checked_seed(seed)

    def _fan(self, shape):
        fan_in, fan_out = compute_fans(shape)
        return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[
            self._mode
        ]

    def stddev(self, shape):
        """The standard deviation of the values drawn for `shape`: `gain / sqrt(fan)`."""
        fan = self._fan(shape)
        if fan <= 0:
            _fail("shape", f"non-empty along the axes of its {self._mode}", tuple(shape))
        return self._gain / math.sqrt(fan)

    def __call__(self, shape, dtype=None):
        if 0 in tuple(shape):  # nothing to draw; the fans may be 0
            return ops.zeros(shape, dtype=dtype)
        return self._draw(shape, self.stddev(shape), dtype)

    def get_config(self):
        return {"seed": keras.saving.serialize_keras_object(self._init_seed)}


class _Uniform(_FanScaled):
    """`U(-limit, limit)` with `limit = sqrt(3) * std`, PyTorch's `bound`."""

    def limit(self, shape):
        """The bound of the values drawn for `shape`: `sqrt(3) * stddev(shape)`."""
        return math.sqrt(3.0) * self.stddev(shape)

    def _draw(self, shape, std, dtype):
        limit = math.sqrt(3.0) * std
        return keras.random.uniform(shape, minval=-limit, maxval=limit, dtype=dtype, seed=self.seed)


class _Normal(_FanScaled):
    """`N(0, std^2)`, untruncated."""

    def _draw(self, shape, std, dtype):
        return keras.random.normal(shape, mean=0.0, stddev=std, dtype=dtype, seed=self.seed)


def _checked_gain(gain):
    gain = _checks.positive("gain", gain)
    return _finite("gain", gain)


@_registration.serializable("initializers")
class XavierUniform(_Uniform):
    """Xavier (Glorot) uniform: keeps the variance of activations and gradients (3.3.3).

        W ~ U(-a, a),   a = gain * sqrt(6 / (fan_in + fan_out))

    Args:
        gain: float > 0, a factor on the bound, e.g. `calculate_gain("tanh")`.
            Defaults to `1.0` (the chapter's formula).
        seed: `None`, an integer in `[0, 2**32)` or a `keras.random.SeedGenerator`.
            Defaults to `None`.

    Examples:
        >>> layer = keras.layers.Dense(64, activation="tanh", kernel_initializer=XavierUniform())

    References:
        - [Glorot & Bengio, 2010](https://proceedings.mlr.press/v9/glorot10a.html)
        - [PyTorch, torch.nn.init.xavier_uniform_](https://docs.pytorch.org/docs/stable/nn.init.html)
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = _checked_gain(gain)
        super().__init__(gain=self.gain, mode="fan_avg", seed=seed)

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}


@_registration.serializable("initializers")
class XavierNormal(_Normal):
    """Xavier (Glorot) normal, untruncated (3.3.3).

        W ~ N(0, std^2),   std = gain * sqrt(2 / (fan_in + fan_out))

    Args:
        gain: float > 0, a factor on the standard deviation. Defaults to `1.0`.
        seed: `None`, an integer in `[0, 2**32)` or a `keras.random.SeedGenerator`.
            Defaults to `None`.

    Examples:
        >>> layer = keras.layers.Dense(64, activation="tanh", kernel_initializer=XavierNormal())

    References:
        - [Glorot & Bengio, 2010](https://proceedings.mlr.press/v9/glorot10a.html)
        - [PyTorch, torch.nn.init.xavier_normal_](https://docs.pytorch.org/docs/stable/nn.init.html)
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = _checked_gain(gain)
        super().__init__(gain=self.gain, mode="fan_avg", seed=seed)

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}


def _checked_he_args(mode, nonlinearity, negative_slope):
    mode = _checks.one_of("mode", mode, ("fan_in", "fan_out"))
    nonlinearity = _checks.one_of("nonlinearity", nonlinearity, NONLINEARITIES)
    negative_slope = _finite("negative_slope", negative_slope)
    if negative_slope != 0.0 and nonlinearity != "leaky_relu":
        _fail("negative_slope", "0.0 unless nonlinearity='leaky_relu'", negative_slope)
    return mode, nonlinearity, negative_slope


class _He:
    """The arguments HeUniform and HeNormal share (a mixin: no state of its own)."""

    def _set_he_args(self, mode, nonlinearity, negative_slope):
        self.mode, self.nonlinearity, self.negative_slope = _checked_he_args(
            mode, nonlinearity, negative_slope
        )
        return calculate_gain(self.nonlinearity, self.negative_slope)

    def get_config(self):
        return {
            "mode": self.mode,
            "nonlinearity": self.nonlinearity,
            "negative_slope": self.negative_slope,
            **super().get_config(),
        }


@_registration.serializable("initializers")
class HeUniform(_He, _Uniform):
    """He (Kaiming) uniform, for ReLU-family activations (3.3.4).

        W ~ U(-b, b),   b = gain * sqrt(3 / fan),   gain = calculate_gain(nonlinearity, slope)

    With the defaults (`fan = fan_in`, ReLU's `gain = sqrt(2)`) this is the chapter's
    `b = sqrt(6 / fan_in)`, and it equals `torch.nn.init.kaiming_uniform_(w, a=negative_slope,
    mode=mode, nonlinearity=nonlinearity)`.

    Args:
        mode: `"fan_in"` (keeps the forward variance) or `"fan_out"` (the backward one).
            Defaults to `"fan_in"`.
        nonlinearity: the activation after the layer, a name `calculate_gain` accepts.
            Defaults to `"relu"` (PyTorch's default is `"leaky_relu"` with slope 0, the
            same gain).
        negative_slope: float, the slope of `"leaky_relu"` (PyTorch's `a`). Must be `0.0`
            with any other nonlinearity (PyTorch silently ignores it there). Defaults to `0.0`.
        seed: `None`, an integer in `[0, 2**32)` or a `keras.random.SeedGenerator`.
            Defaults to `None`.

    Examples:
        >>> init = HeUniform(nonlinearity="leaky_relu", negative_slope=0.2)
        >>> layer = keras.layers.Dense(64, kernel_initializer=init)

    References:
        - [He et al., 2015](https://arxiv.org/abs/1502.01852)
        - [PyTorch, torch.nn.init.kaiming_uniform_](https://docs.pytorch.org/docs/stable/nn.init.html)
    """

    def __init__(self, mode="fan_in", nonlinearity="relu", negative_slope=0.0, seed=None):
        gain = self._set_he_args(mode, nonlinearity, negative_slope)
        super().__init__(gain=gain, mode=self.mode, seed=seed)


@_registration.serializable("initializers")
class HeNormal(_He, _Normal):
    """He (Kaiming) normal, untruncated, for ReLU-family activations (3.3.4).

        W ~ N(0, std^2),   std = gain / sqrt(fan),   gain = calculate_gain(nonlinearity, slope)

    With the defaults this is the chapter's `std = sqrt(2 / fan_in)`, and it equals
    `torch.nn.init.kaiming_normal_(w, a=negative_slope, mode=mode, nonlinearity=nonlinearity)`.

    Args:
        mode: `"fan_in"` or `"fan_out"`. Defaults to `"fan_in"`.
        nonlinearity: a name `calculate_gain` accepts. Defaults to `"relu"`.
        negative_slope: float, the slope of `"leaky_relu"`; must be `0.0` with any other
            nonlinearity. Defaults to `0.0`.
        seed: `None`, an integer in `[0, 2**32)` or a `keras.random.SeedGenerator`.
            Defaults to `None`.

    Examples:
        >>> layer = keras.layers.Conv2D(32, 3, activation="relu", kernel_initializer=HeNormal())

    References:
        - [He et al., 2015](https://arxiv.org/abs/1502.01852)
        - [PyTorch, torch.nn.init.kaiming_normal_](https://docs.pytorch.org/docs/stable/nn.init.html)
    """

    def __init__(self, mode="fan_in", nonlinearity="relu", negative_slope=0.0, seed=None):
        gain = self._set_he_args(mode, nonlinearity, negative_slope)
        super().__init__(gain=gain, mode=self.mode, seed=seed)


@_registration.serializable("initializers")
class LeCunNormal(_Normal):
    """LeCun normal, untruncated, for SELU (3.3.5).

        W ~ N(0, std^2),   std = sqrt(1 / fan_in)

    The chapter writes the variance, `N(0, 1/n_in)`; the standard deviation is its square
    root. PyTorch has no such function; `kaiming_normal_(w, nonlinearity="linear")` draws
    the same.

    Args:
        seed: `None`, an integer in `[0, 2**32)` or a `keras.random.SeedGenerator`.
            Defaults to `None`.

    Examples:
        >>> layer = keras.layers.Dense(64, activation="selu", kernel_initializer=LeCunNormal())

    References:
        - [LeCun et al., 1998, Efficient BackProp](https://doi.org/10.1007/3-540-49430-8_2)
        - [Klambauer et al., 2017](https://arxiv.org/abs/1706.02515)
    """

    def __init__(self, seed=None):
        super().__init__(gain=1.0, mode="fan_in", seed=seed)


@_registration.serializable("initializers")
class TorchDefault(HeUniform):
    """PyTorch's default for `nn.Linear` and `nn.Conv*d` weights and biases (3.3.6, errata).

        W ~ U(-b, b),   b = 1 / sqrt(fan_in)

    PyTorch draws weights with `kaiming_uniform_(w, a=sqrt(5))`: gain
    `sqrt(2 / (1 + 5)) = sqrt(1/3)`, so `b = sqrt(3) * sqrt(1/3) / sqrt(fan_in)`. Its biases
    come from the same uniform with the fan-in of the *weight*, which a bias shape does not
    carry: pass it as `fan_in`.

    Args:
        fan_in: int >= 1 or `None`. `None` reads the fan-in from the shape (a kernel);
            an int is used instead of the shape's (for a bias: the fan-in of its kernel,
            e.g. `compute_fans(kernel_shape)[0]`, the layer's input size for `Dense`).
            Defaults to `None`.
        seed: `None`, an integer in `[0, 2**32)` or a `keras.random.SeedGenerator`.
            Defaults to `None`.

    Examples:
        >>> layer = keras.layers.Dense(
        ...     10,
        ...     kernel_initializer=TorchDefault(),
        ...     bias_initializer=TorchDefault(fan_in=784),  # the layer's input size
        ... )

    References:
        - [PyTorch, nn.Linear.reset_parameters](https://github.com/pytorch/pytorch/blob/main/torch/nn/modules/linear.py)
        - [pytorch/pytorch#57109](https://github.com/pytorch/pytorch/issues/57109)
    """

    def __init__(self, fan_in=None, seed=None):
        self.fan_in = None if fan_in is None else _checks.positive_int("fan_in", fan_in)
        super().__init__(
            mode="fan_in", nonlinearity="leaky_relu", negative_slope=math.sqrt(5.0), seed=seed
        )

    def _fan(self, shape):
        if self.fan_in is not None:
            return self.fan_in
        if len(tuple(shape)) < 2:
            _fail(
                "shape",
                "of rank >= 2 unless `fan_in` is given (for a bias, pass "
                "TorchDefault(fan_in=<the fan-in of its kernel>))",
                tuple(shape),
            )
        return super()._fan(shape)

    def get_config(self):
        return {"fan_in": self.fan_in, "seed": keras.saving.serialize_keras_object(self._init_seed)}
