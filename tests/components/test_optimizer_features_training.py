"""kerasdl's optimizers inside Keras's training loop: mixed precision, XLA, saving.

Each test runs with each of the seven optimizers on a tiny MLP (6 -> 8 -> 1,
121 weights) whose initial weights and data are fixed NumPy arrays, so runs
that should agree start from the same point and see the same batches in the
same order (``shuffle=False``).
"""

import keras
import numpy as np
import pytest
from keras import ops
from test_optimizer_features import KWARGS, NAMES, make_optimizer, optimizer_class

_rng = np.random.default_rng(7)
X = _rng.normal(size=(48, 6)).astype("float32")
Y = np.sin(X @ _rng.normal(size=(6, 1))).astype("float32")
INITIAL_WEIGHTS = [
    (0.5 * _rng.normal(size=(6, 8))).astype("float32"),
    (0.1 * _rng.normal(size=(8,))).astype("float32"),
    (0.5 * _rng.normal(size=(8, 1))).astype("float32"),
    np.zeros((1,), "float32"),
]


def tiny_model(dtype=None):
    """The 6 -> 8 -> 1 MLP with `INITIAL_WEIGHTS`; no BatchNorm, no Dropout."""
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="tanh", dtype=dtype, name="hidden"),
            keras.layers.Dense(1, dtype=dtype, name="out"),
        ]
    )
    model.set_weights(INITIAL_WEIGHTS)
    return model


def optimizer_state(optimizer):
    return [ops.convert_to_numpy(v) for v in optimizer.variables]


@pytest.mark.parametrize("name", NAMES)
def test_mixed_bfloat16_policy_trains(name):
    """Under `mixed_bfloat16` the layers compute in bfloat16 while the weights, and
    so the optimizer's slots, stay float32; the loss stays finite and goes down."""
    model = tiny_model(dtype="mixed_bfloat16")
    assert ops.convert_to_tensor(model(X[:2])).dtype == "bfloat16"  # the policy is active
    optimizer = make_optimizer(name)
    model.compile(optimizer=optimizer, loss="mse")
    losses = model.fit(X, Y, batch_size=16, epochs=6, shuffle=False, verbose=0).history["loss"]

    assert np.all(np.isfinite(losses)), losses
    assert losses[-1] < 0.9 * losses[0], losses
    assert {v.dtype for v in model.trainable_variables} == {"float32"}
    slots = [v for v in optimizer.variables if "iteration" not in v.name]
    assert slots and {v.dtype for v in slots} == {"float32"}
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


@pytest.mark.parametrize("name", NAMES)
def test_jit_compile_gives_the_same_weights(name):
    """`fit` with `jit_compile=True` (XLA) and `False` give the same weights.

    On TensorFlow, `False` runs a `tf.function` graph; on JAX it runs the train
    step op by op, without `jax.jit` (Keras only jits when `jit_compile` is true)."""
    weights = {}
    for jit in (False, True):
        model = tiny_model()
        model.compile(optimizer=make_optimizer(name), loss="mse", jit_compile=jit)
        assert model.jit_compile is jit
        model.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        assert int(model.optimizer.iterations) == 12
        weights[jit] = model.get_weights()
    assert any(not np.allclose(w, w0) for w, w0 in zip(weights[True], INITIAL_WEIGHTS, strict=True))
    for w_xla, w_graph in zip(weights[True], weights[False], strict=True):
        np.testing.assert_allclose(w_xla, w_graph, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_save_mid_training_resumes_exactly(name, tmp_path):
    """3 steps, `model.save`, `load_model` (no custom_objects), 3 more steps equals 6
    steps in one go, bit for bit: the optimizer's slots and step count came back.
    The learning rate is a schedule, so every optimizer depends on the step count."""

    def schedule():
        return keras.optimizers.schedules.ExponentialDecay(
            KWARGS[name]["learning_rate"], decay_steps=2, decay_rate=0.7
        )

    model = tiny_model()
    optimizer = make_optimizer(name, learning_rate=schedule())
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(X[:24], Y[:24], batch_size=8, shuffle=False, verbose=0)
    path = tmp_path / "mid_training.keras"
    model.save(path)

    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is optimizer_class(name)
    assert loaded.optimizer.get_config() == optimizer.get_config()
    assert int(loaded.optimizer.iterations) == 3
    for a, b in zip(optimizer_state(loaded.optimizer), optimizer_state(optimizer), strict=True):
        np.testing.assert_array_equal(a, b)
    loaded.fit(X[24:48], Y[24:48], batch_size=8, shuffle=False, verbose=0)

    straight = tiny_model()
    straight.compile(optimizer=make_optimizer(name, learning_rate=schedule()), loss="mse")
    straight.fit(X[:48], Y[:48], batch_size=8, shuffle=False, verbose=0)

    assert int(loaded.optimizer.iterations) == int(straight.optimizer.iterations) == 6
    for a, b in zip(loaded.get_weights(), straight.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(
        optimizer_state(loaded.optimizer), optimizer_state(straight.optimizer), strict=True
    ):
        np.testing.assert_array_equal(a, b)


@pytest.mark.tf_only
@pytest.mark.parametrize("name", NAMES)
def test_tf_train_checkpoint_restores_optimizer_state(name, tmp_path):
    """On TensorFlow the optimizer is also a `tf.train.Checkpoint` trackable: every
    slot is saved and restored (`assert_consumed`), bit for bit."""
    import tensorflow as tf

    model = tiny_model()
    optimizer = make_optimizer(name)
    rng = np.random.default_rng(3)
    grads = [
        [rng.normal(size=w.shape).astype("float32") for w in INITIAL_WEIGHTS] for _ in range(4)
    ]
    for g in grads[:2]:
        optimizer.apply(g, model.trainable_variables)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    path = checkpoint.save(str(tmp_path / "ckpt"))
    saved_weights, saved_state = model.get_weights(), optimizer_state(optimizer)

    for g in grads[2:]:
        optimizer.apply(g, model.trainable_variables)
    assert not np.array_equal(model.get_weights()[0], saved_weights[0])
    checkpoint.restore(path).assert_consumed()

    assert int(optimizer.iterations) == 2
    for a, b in zip(model.get_weights(), saved_weights, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(optimizer_state(optimizer), saved_state, strict=True):
        np.testing.assert_array_equal(a, b)
