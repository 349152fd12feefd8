"""kerasdl.regularizers against the chapter's formulas (3.4.2-3.4.3), written out in NumPy.

References, none produced by the code under test: the penalties lambda * sum|w| and
lambda * sum w^2 and their gradients lambda * sign(w) and 2 * lambda * w in NumPy; plain
SGD's update w - lr * g; PyTorch's SGD weight decay (g + wd * w, from torch/optim/sgd.py)
written out in NumPy; Keras's own L1/L2 penalties.
"""

import json
import math

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl import regularizers as kreg

BACKEND = keras.backend.backend()
# The data loss's precision in float64: on JAX, Keras's ops.mean (inside "mse") computes a
# float64 tensor in float32 (keras/src/backend/jax/numpy.py: result_type(x, "float32")).
DATA_RTOL = 1e-12 if BACKEND == "tensorflow" else 1e-6


def _np(x):
    return ops.convert_to_numpy(x)


def _grad(fn, w):
    """The gradient of the scalar ``fn(w)`` at ``w``, by the backend's autodiff."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        variable = tf.Variable(w)
        with tf.GradientTape() as tape:
            value = fn(variable)
        return tape.gradient(value, variable, unconnected_gradients="zero").numpy()
    if BACKEND == "jax":
        import jax

        return np.asarray(jax.grad(fn)(w))
    pytest.skip(f"no gradient helper for the {BACKEND} backend")


def _weights(dtype, shape=(5, 7), zeros=3):
    """Random weights of both signs with a few exact zeros."""
    w = np.random.default_rng(3).normal(size=shape).astype(dtype)
    w.flat[:zeros] = 0.0
    return w


# The chapter's penalties and their gradients in NumPy: (factory, penalty, gradient).
CASES = {
    "L1": (
        lambda: kreg.L1(0.03),
        lambda w: 0.03 * np.sum(np.abs(w)),
        lambda w: 0.03 * np.sign(w),
    ),
    "L2": (
        lambda: kreg.L2(0.2),
        lambda w: 0.2 * np.sum(w**2),
        lambda w: 2 * 0.2 * w,
    ),
    "L1L2": (
        lambda: kreg.L1L2(l1=0.05, l2=0.4),
        lambda w: 0.05 * np.sum(np.abs(w)) + 0.4 * np.sum(w**2),
        lambda w: 0.05 * np.sign(w) + 0.8 * w,
    ),
    "L1L2-l1-only": (
        lambda: kreg.L1L2(l1=0.5),
        lambda w: 0.5 * np.sum(np.abs(w)),
        lambda w: 0.5 * np.sign(w),
    ),
    "L1L2-l2-only": (
        lambda: kreg.L1L2(l2=1.5),
        lambda w: 1.5 * np.sum(w**2),
        lambda w: 3.0 * w,
    ),
    "L1L2-zero": (lambda: kreg.L1L2(), lambda w: 0.0, lambda w: np.zeros_like(w)),
}


@pytest.mark.parametrize("shape", [(), (4,), (5, 7), (3, 3, 2, 4)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", CASES)
def test_penalty_is_the_chapters_formula(name, dtype, shape):
    factory, penalty, _ = CASES[name]
    w = _weights(dtype, shape, zeros=min(3, int(np.prod(shape)) // 2))
    value = factory()(ops.convert_to_tensor(w))
    assert keras.backend.standardize_dtype(value.dtype) == dtype
    assert tuple(value.shape) == ()
    expected = penalty(w.astype(np.float64))
    np.testing.assert_allclose(_np(value), expected, rtol=1e-6 if dtype == "float32" else 1e-13)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", CASES)
def test_gradient_is_the_chapters_with_sign_0_at_0(name, dtype):
    factory, _, gradient = CASES[name]
    w = _weights(dtype)
    assert (w == 0).sum() == 3  # the zeros are there, and get gradient lambda * sign(0) = 0
    got = _grad(factory(), w)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, gradient(w.astype(np.float64)), rtol=1e-6, atol=0)


def test_l1_gradient_at_zero_is_zero_also_for_negative_zero():
    # (Keras's own L1 differentiates abs, whose gradient at 0 is 1 on JAX.)
    w = np.array([0.0, -0.0, 0.0], dtype="float32")
    np.testing.assert_array_equal(_grad(kreg.L1(0.5), w), np.zeros(3))
    np.testing.assert_array_equal(_grad(kreg.L1L2(0.5, 0.5), w), np.zeros(3))


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (kreg.L1(0.3), keras.regularizers.L1(0.3)),
        (kreg.L2(0.3), keras.regularizers.L2(0.3)),
        (kreg.L1L2(0.1, 0.2), keras.regularizers.L1L2(0.1, 0.2)),
    ],
    ids=["L1", "L2", "L1L2"],
)
def test_penalties_equal_kerass_builtins(ours, theirs):
    # float32: Keras rounds the factor to float32 even for float64 weights (kerasdl does not).
    w = ops.convert_to_tensor(_weights("float32"))
    np.testing.assert_allclose(_np(ours(w)), _np(theirs(w)), rtol=1e-6)


def test_defaults():
    assert kreg.L1().get_config() == {"l1": 0.01}
    assert kreg.L2().get_config() == {"l2": 0.01}
    # Keras's L1L2 defaults: naming one factor gives only that term.
    assert kreg.L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert keras.regularizers.L1L2().get_config() == kreg.L1L2().get_config()
    w = ops.convert_to_tensor(_weights("float64"))
    np.testing.assert_allclose(_np(kreg.L1L2(l2=0.01)(w)), _np(kreg.L2()(w)), rtol=1e-15)
    np.testing.assert_allclose(_np(kreg.L1L2(l1=0.01)(w)), _np(kreg.L1()(w)), rtol=1e-15)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: kreg.L1(-0.1), r"Argument `l1` must be >= 0. Received: l1=-0.1"),
        (lambda: kreg.L2(-1), r"Argument `l2` must be >= 0. Received: l2=-1"),
        (lambda: kreg.L1(math.nan), r"Argument `l1` must be a real number, not NaN"),
        (lambda: kreg.L2(math.nan), r"Argument `l2` must be a real number, not NaN"),
        (lambda: kreg.L2(math.inf), r"Argument `l2` must be finite. Received: l2=inf"),
        (lambda: kreg.L1L2(l1=-2.0), r"Argument `l1` must be >= 0"),
        (lambda: kreg.L1L2(l2=math.nan), r"Argument `l2` must be a real number, not NaN"),
        (lambda: kreg.L1(None), r"Argument `l1` must be a real number"),
        (lambda: kreg.L2("big"), r"Argument `l2` must be a real number"),
    ],
)
def test_invalid_arguments_raise_in_the_constructor(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ---------------------------------------------------------------------------------------
# In a model: model.losses, fit's loss, the SGD step.


def _linear_model(kernel, regularizer, dtype="float64"):
    inputs = keras.Input((kernel.shape[0],), dtype=dtype)
    layer = keras.layers.Dense(
        kernel.shape[1],
        use_bias=False,
        kernel_initializer=keras.initializers.Constant(kernel),
        kernel_regularizer=regularizer,
        dtype=dtype,
    )
    return keras.Model(inputs, layer(inputs))


@pytest.fixture
def float64():
    """floatx float64 for the test: Keras casts the compiled loss to floatx, and TensorFlow
    cannot add a float64 penalty to a float32 loss (nor can Keras's own regularizers)."""
    old = keras.config.floatx()
    keras.config.set_floatx("float64")
    yield
    keras.config.set_floatx(old)


def _compile(model, lr):
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")


@pytest.mark.parametrize("name", ["L1", "L2", "L1L2"])
def test_penalty_reaches_model_losses_and_fit(name, float64):
    factory, penalty, gradient = CASES[name]
    kernel = _weights("float64", (4, 3), zeros=2)
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(8, 4)), rng.normal(size=(8, 3))
    model = _linear_model(kernel, factory())
    (loss,) = model.losses
    np.testing.assert_allclose(_np(loss), penalty(kernel), rtol=1e-13)

    lr = 0.1
    _compile(model, lr)
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    # fit's loss is the data loss plus the penalty, at the weights before the step ...
    mse = np.mean((x @ kernel - y) ** 2)
    np.testing.assert_allclose(history.history["loss"][0], mse + penalty(kernel), rtol=DATA_RTOL)
    # ... and the step follows both gradients: d mse / d W = 2 x^T (x W - y) / (n * units).
    data_gradient = 2 * x.T @ (x @ kernel - y) / y.size
    expected = kernel - lr * (data_gradient + gradient(kernel))
    np.testing.assert_allclose(_np(model.layers[-1].kernel), expected, rtol=DATA_RTOL, atol=1e-15)


@pytest.mark.parametrize("name", ["L1", "L2", "L1L2"])
def test_with_no_data_gradient_sgd_moves_weights_by_the_penalty_gradient_alone(name, float64):
    factory, penalty, gradient = CASES[name]
    kernel = _weights("float64", (4, 3), zeros=2)
    model = _linear_model(kernel, factory())
    _compile(model, 0.5)
    x, y = np.zeros((2, 4)), np.zeros((2, 3))  # predictions 0 = targets: no data gradient
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], penalty(kernel), rtol=1e-12)
    after = _np(model.layers[-1].kernel)
    np.testing.assert_allclose(after, kernel - 0.5 * gradient(kernel), rtol=1e-13, atol=0)
    assert np.all(after[kernel == 0] == 0)  # zero weights stay exactly zero


def test_l2_of_half_weight_decay_is_torchs_sgd_weight_decay(float64):
    """PyTorch SGD(lr, weight_decay=wd): g <- g + wd * w; w <- w - lr * g (torch/optim/sgd.py)."""
    wd, lr = 0.2, 0.3
    kernel = _weights("float64", (4, 3), zeros=0)
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 3))
    model = _linear_model(kernel, kreg.L2(l2=wd / 2))
    _compile(model, lr)
    model.fit(x, y, batch_size=6, epochs=1, shuffle=False, verbose=0)
    g = 2 * x.T @ (x @ kernel - y) / y.size
    torch_step = kernel - lr * (g + wd * kernel)
    np.testing.assert_allclose(_np(model.layers[-1].kernel), torch_step, rtol=DATA_RTOL, atol=1e-15)


# ---------------------------------------------------------------------------------------
# Serialization.

ALL = {
    "L1": lambda: kreg.L1(0.003),
    "L2": lambda: kreg.L2(0.25),
    "L1L2": lambda: kreg.L1L2(l1=0.001, l2=0.002),
    "L1L2-default": lambda: kreg.L1L2(),
}


@pytest.mark.parametrize("name", ALL)
def test_config_round_trip(name):
    regularizer = ALL[name]()
    config = regularizer.get_config()
    assert json.loads(json.dumps(config)) == config
    clone = type(regularizer).from_config(config)
    assert clone.get_config() == config
    again = keras.regularizers.deserialize(keras.regularizers.serialize(regularizer))
    assert type(again) is type(regularizer) and again.get_config() == config
    w = ops.convert_to_tensor(_weights("float32"))
    np.testing.assert_array_equal(_np(regularizer(w)), _np(clone(w)))


def test_model_survives_save_and_load_without_custom_objects(tmp_path):
    inputs = keras.Input((6,))
    hidden = inputs
    for i, make in enumerate(ALL.values()):
        hidden = keras.layers.Dense(
            5,
            activation="tanh",
            kernel_regularizer=make(),
            bias_regularizer=make() if i == 0 else None,
            kernel_initializer=keras.initializers.GlorotUniform(seed=i),
            bias_initializer=keras.initializers.RandomUniform(seed=10 + i),
        )(hidden)
    model = keras.Model(inputs, hidden)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    np.testing.assert_array_equal(_np(model(x)), _np(loaded(x)))
    assert len(loaded.losses) == len(model.losses) == len(ALL) + 1
    for ours, theirs in zip(model.losses, loaded.losses, strict=True):
        np.testing.assert_array_equal(_np(ours), _np(theirs))
    for layer, twin in zip(model.layers[1:], loaded.layers[1:], strict=True):
        assert type(twin.kernel_regularizer) is type(layer.kernel_regularizer)
        assert twin.kernel_regularizer.get_config() == layer.kernel_regularizer.get_config()
