"""The three callbacks on a metric logged as a 1-element array, as Keras's own tests run them.

``keras.metrics.F1Score()`` on a one-output model logs its value with shape ``(1,)``;
``float()`` of that raises ``TypeError`` under NumPy 2. Keras's ``test_early_stopping``
(keras/src/callbacks/early_stopping_test.py) fits a model with that metric and monitors it,
with the other cases below; kerasdl's callbacks must accept the same.
"""

import keras
import numpy as np
import pytest

from kerasdl.callbacks import BestCheckpoint, EarlyStopping, ReduceLROnPlateau
from kerasdl.callbacks._monitor import monitor_value, scalar

# Keras's test_early_stopping cases: (mode, monitor, resolved mode).
KERAS_CASES = [
    ("max", "val_mse", "max"),
    ("min", "val_loss", "min"),
    ("auto", "val_mse", "min"),
    ("auto", "loss", "min"),
    ("auto", "acc", "max"),
    ("auto", "val_accuracy", "max"),
    ("auto", "hinge", "min"),
    ("auto", "f1_score", "max"),
    ("auto", "val_f1_score", "max"),
]


@pytest.fixture(scope="module")
def model_and_data():
    rng = np.random.default_rng(0)
    x_train, y_train = rng.random((10, 5)), rng.random((10, 1))
    x_test, y_test = rng.random((10, 5)), rng.random((10, 1))
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(1, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(
        loss="mae",
        optimizer="adam",
        metrics=["mse", "acc", "accuracy", "hinge", keras.metrics.F1Score(name="f1_score")],
    )
    return model, (x_train, y_train), (x_test, y_test)


def _callback(kind, mode, monitor, tmp_path):
    if kind == "EarlyStopping":
        return EarlyStopping(monitor=monitor, mode=mode, patience=0)
    if kind == "ReduceLROnPlateau":
        return ReduceLROnPlateau(monitor=monitor, mode=mode, patience=0)
    return BestCheckpoint(tmp_path / "best.keras", monitor=monitor, mode=mode)


@pytest.mark.parametrize("kind", ["EarlyStopping", "ReduceLROnPlateau", "BestCheckpoint"])
@pytest.mark.parametrize("mode, monitor, expected", KERAS_CASES, ids=[c[1] for c in KERAS_CASES])
def test_keras_early_stopping_cases(model_and_data, kind, mode, monitor, expected, tmp_path):
    model, train, test = model_and_data
    callback = _callback(kind, mode, monitor, tmp_path)
    history = model.fit(
        *train, batch_size=5, validation_data=test, callbacks=[callback], epochs=2, verbose=0
    )
    if "f1_score" in monitor:  # the case the fix is for: Keras logs an array of shape (1,)
        assert np.shape(history.history[monitor][0]) == (1,)
    assert callback._mode == expected
    best = callback.best
    assert isinstance(best, float)
    logged = [float(np.reshape(v, ())) for v in history.history[monitor]]
    assert best in logged
    if kind != "ReduceLROnPlateau":  # its `threshold` may keep an older best
        assert best == (max(logged) if expected == "max" else min(logged))


def test_scalar_takes_numbers_and_one_element_arrays_and_refuses_more():
    assert scalar(2) == 2.0 and isinstance(scalar(2), float)
    assert scalar(np.float32(0.5)) == 0.5
    assert scalar(np.array([0.25])) == 0.25
    assert scalar(np.array([[0.75]])) == 0.75
    assert scalar(keras.ops.convert_to_tensor([1.5])) == 1.5
    with pytest.raises(ValueError, match=r"`f1` must be a single number; it has shape \(2,\)"):
        scalar(np.array([0.1, 0.2]), "f1")
    assert monitor_value({"f1": np.array([0.5])}, "f1", "x") == 0.5


def test_reduce_lr_on_plateau_step_takes_a_one_element_array():
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    plateau = ReduceLROnPlateau(optimizer=optimizer, monitor="val_loss", patience=0, factor=0.5)
    plateau.step(np.array([1.0]))
    plateau.step(np.array([2.0]))
    assert float(optimizer.learning_rate) == pytest.approx(0.05)
