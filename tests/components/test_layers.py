"""`kerasdl.layers.Dropout`: on JAX its mask from ``k`` random bits a unit, checked against the
module's formula written out in NumPy from the same raw bits, and its law; everywhere else
Keras's ``Dropout``, number for number; saving and loading either way."""

import math

import keras
import numpy as np
import pytest

import kerasdl.layers
from kerasdl.layers import Dropout, bits_per_unit

ON_JAX = keras.backend.backend() == "jax"
jax_only = pytest.mark.skipif(not ON_JAX, reason="the packed mask is JAX's")


@pytest.mark.parametrize(
    ("rate", "k"),
    [(0.5, 1), (0.25, 2), (0.75, 2), (0.375, 3), (1 / 256, 8), (255 / 256, 8), (0.1, None),
     (0.3, None), (1 / 512, None)],
)  # fmt: skip
def test_bits_per_unit_is_the_fewest_that_make_the_rate_exact(rate, k):
    assert bits_per_unit(rate) == k


def _numpy_mask(words, units, rate, k):
    """The module docstring's mask, in NumPy, from the raw uint32 words."""
    per_word = 32 // k
    codes = [(int(w) >> (k * j)) & (2**k - 1) for w in words for j in range(per_word)]
    return np.asarray(codes[:units]) >= round(rate * 2**k)


@jax_only
@pytest.mark.parametrize("rate", [0.5, 0.25, 0.375, 1 / 256])
def test_on_jax_the_mask_is_the_formula_on_the_same_random_bits(rate):
    import jax
    import jax.numpy as jnp

    layer = Dropout(rate, seed=7)
    x = np.random.default_rng(0).standard_normal((37, 11)).astype(np.float32)  # 407 units
    key = np.asarray(layer.seed_generator.state.value)  # what the call draws from
    out = np.asarray(layer(x, training=True))
    k = bits_per_unit(rate)
    words = np.asarray(jax.random.bits(jnp.asarray(key), (-(-407 // (32 // k)),), jnp.uint32))
    keep = _numpy_mask(words, 407, rate, k).reshape(x.shape)
    np.testing.assert_array_equal(out != 0, keep)
    # XLA may divide by multiplying with the reciprocal (as in Keras's own dropout): one ulp.
    np.testing.assert_allclose(out[keep], x[keep] / np.float32(1 - rate), rtol=2**-23, atol=0)
    assert not np.array_equal(np.asarray(layer(x, training=True)), out)  # the seed moved on


@jax_only
@pytest.mark.parametrize("rate", [0.5, 0.25, 0.125])
def test_on_jax_each_unit_is_dropped_with_the_rate_independently(rate):
    layer = Dropout(rate, seed=1)
    n = 400_000
    dropped = np.asarray(layer(np.ones((n // 400, 400), np.float32), training=True)) == 0
    flat = dropped.reshape(-1)
    # Binomial(n, rate): 5 standard deviations either side.
    assert abs(flat.mean() - rate) < 5 * math.sqrt(rate * (1 - rate) / n)
    # Neighbours share a word: both dropped with probability rate**2 if independent.
    both = (flat[:-1] & flat[1:]).mean()
    assert abs(both - rate**2) < 5 * math.sqrt(rate**2 * (1 - rate**2) / (n - 1))


@pytest.mark.parametrize(
    ("rate", "noise_shape", "training"),
    [(0.3, None, True), (0.5, (None, 1), True), (0.5, None, False), (0.0, None, True)],
)
def test_where_the_mask_is_not_packed_it_is_keras_dropout_number_for_number(
    rate, noise_shape, training
):
    x = np.random.default_rng(1).standard_normal((8, 16)).astype(np.float32)
    ours = Dropout(rate, noise_shape=noise_shape, seed=5)
    keras_own = keras.layers.Dropout(rate, noise_shape=noise_shape, seed=5)
    np.testing.assert_array_equal(
        np.asarray(ours(x, training=training)), np.asarray(keras_own(x, training=training))
    )


@pytest.mark.skipif(ON_JAX, reason="on JAX the packed mask differs from Keras's")
def test_off_jax_rate_one_half_is_keras_dropout_number_for_number():
    x = np.random.default_rng(2).standard_normal((64, 256)).astype(np.float32)
    ours, keras_own = Dropout(0.5, seed=9), keras.layers.Dropout(0.5, seed=9)
    for _ in range(2):
        np.testing.assert_array_equal(
            np.asarray(ours(x, training=True)), np.asarray(keras_own(x, training=True))
        )


def test_default_names_are_keras_dropout_names():
    assert Dropout(0.5).name.startswith("dropout")
    assert Dropout(0.5, name="drop").name == "drop"


def _model(layer):
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, name="d"), layer])


def test_a_saved_model_loads_with_its_class_and_weights_load_into_keras_dropout(tmp_path):
    model = _model(Dropout(0.25, seed=3, name="drop"))
    model.layers[-1](np.ones((2, 4), np.float32), training=True)  # the seed state moves
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = kerasdl.load_model(path)
    assert type(loaded.layers[-1]) is Dropout and loaded.layers[-1].rate == 0.25
    for a, b in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    theirs = _model(keras.layers.Dropout(0.25, seed=3, name="drop"))
    theirs.load_weights(path)  # the same variables: the seed generator's state
    for a, b in zip(model.weights, theirs.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_the_preset_network_uses_it():
    from kerasdl.config import TrainConfig
    from kerasdl.models import build_mlp

    class Data:
        input_shape, task, num_classes = (784,), "classification", 10

    model = build_mlp(TrainConfig(), Data())
    drops = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert [type(layer) for layer in drops] == [Dropout] and drops[0].rate == 0.5
