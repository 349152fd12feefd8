"""kerasdl.callbacks.EarlyStopping: the chapter's rule (3.4.6) and a status Keras's loggers accept.

Reference: the chapter's own early-stopping loop, written out below (``chapter_loop``) with
``min_delta``, max mode and ``start_from_epoch`` added, checked on random sequences with
hypothesis; hand-worked scripted sequences; and real ``fit`` runs.
"""

import contextlib
import csv
import json
import math
import re

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerasdl.callbacks import (
    BestCheckpoint,
    EarlyStopping,
    EarlyStoppingStatus,
    ReduceLROnPlateau,
)

STATUS_KEYS = {
    "early_stopping_best",
    "early_stopping_best_epoch",
    "early_stopping_wait",
    "early_stopping_patience",
    "early_stopping_epochs_left",
    "early_stopping_stopped",
}


def chapter_loop(values, patience, min_delta=0.0, mode="min", start_from_epoch=0):
    """Chapter 3.4.6's loop: ``(stop_epoch, best_epoch)``; ``stop_epoch`` is None if it ran out."""
    best = float("inf") if mode == "min" else float("-inf")
    counter = 0
    best_epoch = None
    for epoch, val_loss in enumerate(values):
        if epoch < start_from_epoch:
            continue
        improved = val_loss < best - min_delta if mode == "min" else val_loss > best + min_delta
        if improved:
            best = val_loss
            best_epoch = epoch
            counter = 0
        else:
            counter += 1
            if counter >= patience:
                return epoch, best_epoch
    return None, best_epoch


class FakeModel:
    """What EarlyStopping touches on a model, for driving its hooks directly."""

    def __init__(self):
        self.stop_training = False
        self.metrics = []
        self.weights = [np.zeros(1)]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = weights


def drive(stopper, values, monitor="val_loss", start=0, model=None):
    """Run the hooks over ``values`` until the callback stops training; the epochs' logs."""
    if model is None:
        model = FakeModel()
    stopper.set_model(model)
    stopper.on_train_begin()
    all_logs = []
    for epoch, value in enumerate(values[start:], start=start):
        logs = {monitor: value}
        model.weights = [np.full(1, float(epoch))]
        stopper.on_epoch_end(epoch, logs)
        all_logs.append(logs)
        if model.stop_training:
            break
    stopper.on_train_end()
    return all_logs


# ----------------------------------------------------------------------------- the rule


values_strategy = st.lists(
    st.one_of(st.integers(0, 5).map(float), st.floats(0.0, 5.0, allow_nan=False)),
    min_size=1,
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(
    values=values_strategy,
    patience=st.integers(0, 6),
    min_delta=st.sampled_from([0.0, 0.25, 1.0]),
    mode=st.sampled_from(["min", "max"]),
    start_from_epoch=st.integers(0, 4),
    split=st.integers(0, 30),
)
def test_stop_and_best_epoch_follow_the_chapter(
    values, patience, min_delta, mode, start_from_epoch, split
):
    stop, best = chapter_loop(values, patience, min_delta, mode, start_from_epoch)
    kwargs = {
        "patience": patience,
        "min_delta": min_delta,
        "mode": mode,
        "start_from_epoch": start_from_epoch,
        "restore_best_weights": False,
    }
    stopper = EarlyStopping(**kwargs)
    logs = drive(stopper, values)
    status = stopper.status
    assert status.stopped_epoch == stop
    assert status.stopped is (stop is not None)
    assert status.best_epoch == best
    assert len(logs) == (len(values) if stop is None else stop + 1)
    assert status.best == (None if best is None else values[best])
    # A run resumed from get_state at any epoch ends the same way.
    split = min(split, len(logs))
    first = EarlyStopping(**kwargs)
    drive(first, values[:split])
    resumed = EarlyStopping(**kwargs)
    resumed.set_state(json.loads(json.dumps(first.get_state(), allow_nan=False)))
    if not first.status.stopped:
        drive(resumed, values, start=split)
        assert (resumed.status.stopped_epoch, resumed.status.best_epoch) == (stop, best)


@pytest.mark.parametrize("patience", [0, 1, 2, 3])
def test_scripted_losses(patience):
    """Keras's own test sequence: the best is 8.0 at epoch 2, then no improvement."""
    stopper = EarlyStopping(monitor="loss", patience=patience, restore_best_weights=False)
    drive(stopper, [10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5], monitor="loss")
    # patience p stops after p epochs without improvement; p = 0 at the first one.
    assert stopper.stopped_epoch == 2 + max(patience, 1)
    assert (stopper.best, stopper.best_epoch) == (8.0, 2)


def test_status_epoch_by_epoch():
    stopper = EarlyStopping(patience=2, start_from_epoch=1, restore_best_weights=False)
    logs = drive(stopper, [0.1, 1.0, 0.5, 0.5, 0.7])
    assert [entry["early_stopping_wait"] for entry in logs] == [0.0, 0.0, 0.0, 1.0, 2.0]
    assert [entry["early_stopping_best_epoch"] for entry in logs] == [-1.0, 1.0, 2.0, 2.0, 2.0]
    assert math.isnan(logs[0]["early_stopping_best"])  # epoch 0 is warm-up
    assert [entry["early_stopping_best"] for entry in logs[1:]] == [1.0, 0.5, 0.5, 0.5]
    # epochs_left: warm-up epochs still to come, plus patience - wait (at least 1); 0 once stopped.
    assert [entry["early_stopping_epochs_left"] for entry in logs] == [2.0, 2.0, 2.0, 1.0, 0.0]
    assert [entry["early_stopping_stopped"] for entry in logs] == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert all(set(entry) == STATUS_KEYS | {"val_loss"} for entry in logs)
    assert stopper.status == EarlyStoppingStatus(
        monitor="val_loss",
        mode="min",
        best=0.5,
        best_epoch=2,
        wait=2,
        patience=2,
        epochs_left=0,
        stopped=True,
        stopped_epoch=4,
        restored=False,
        epoch=4,
        improved=False,
    )


def test_nan_is_never_an_improvement():
    stopper = EarlyStopping(patience=2, restore_best_weights=False)
    drive(stopper, [math.nan, 1.0, math.nan, math.nan, 0.1])
    assert (stopper.best, stopper.best_epoch, stopper.stopped_epoch) == (1.0, 1, 3)


def test_restores_the_best_weights_when_driven_directly():
    stopper = EarlyStopping(patience=1)
    model = FakeModel()
    drive(stopper, [3.0, 1.0, 2.0, 0.5], model=model)
    assert stopper.stopped_epoch == 2
    assert model.weights[0][0] == 1.0  # the weights of epoch 1
    assert stopper.status.restored


def test_missing_monitor_warns_and_changes_nothing():
    stopper = EarlyStopping(patience=0, restore_best_weights=False)
    stopper.set_model(FakeModel())
    stopper.on_train_begin()
    logs = {"loss": 1.0}
    with pytest.warns(UserWarning, match=r"`val_loss` which is not available.*: loss"):
        stopper.on_epoch_end(0, logs)
    assert (stopper.wait, stopper.best, stopper.status.stopped) == (0, None, False)
    assert set(logs) >= STATUS_KEYS


def test_on_train_begin_resets_the_run():
    stopper = EarlyStopping(patience=1)
    drive(stopper, [1.0, 2.0, 3.0])
    assert stopper.stopped_epoch == 1
    stopper.on_train_begin()
    assert (stopper.best, stopper.best_epoch, stopper.wait, stopper.stopped_epoch) == (
        None,
        None,
        0,
        None,
    )
    assert stopper.best_weights is None and not stopper.status.restored


def test_set_state_checks_the_monitor():
    state = EarlyStopping().get_state()
    with pytest.raises(ValueError, match="monitors `val_loss`"):
        EarlyStopping(monitor="loss").set_state(state)
    with pytest.raises(ValueError, match="lacks"):
        EarlyStopping().set_state({"monitor": "val_loss"})


def test_auto_mode_needs_a_known_direction():
    stopper = EarlyStopping(monitor="val_foo", mode="auto")
    stopper.set_model(FakeModel())
    with pytest.raises(ValueError, match="mode='min'"):
        stopper.on_epoch_end(0, {"val_foo": 1.0})
    for monitor, mode in [("val_loss", "min"), ("accuracy", "max"), ("val_auc", "max")]:
        stopper = EarlyStopping(monitor=monitor)
        drive(stopper, [1.0], monitor=monitor)
        assert stopper.status.mode == mode


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patience": -1}, "Argument `patience` must be an integer >= 0. Received: patience=-1"),
        ({"patience": 2.5}, "Argument `patience` must be an integer >= 0. Received: patience=2.5"),
        ({"min_delta": -0.1}, "Argument `min_delta` must be >= 0. Received: min_delta=-0.1"),
        (
            {"start_from_epoch": -1},
            "Argument `start_from_epoch` must be an integer >= 0. Received: start_from_epoch=-1",
        ),
        (
            {"mode": "lowest"},
            "Argument `mode` must be one of 'auto', 'min', 'max'. Received: mode='lowest'",
        ),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        EarlyStopping(**kwargs)


def test_config_round_trip():
    stopper = EarlyStopping("val_acc", 3, 0.01, "max", False, 2, log_status=False)
    config = stopper.get_config()
    assert EarlyStopping.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(stopper))
    assert isinstance(restored, EarlyStopping) and restored.get_config() == config


# ----------------------------------------------------------------------------- in fit


class Script(keras.callbacks.Callback):
    """Scripted ``logs["scripted"]`` values, and the weights at each epoch's end."""

    def __init__(self, values):
        super().__init__()
        self.values = values
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        logs["scripted"] = self.values[epoch]
        self.weights.append(self.model.get_weights())


def small_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.05), "mse", metrics=["mae"])
    return model


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")


def test_fit_stops_and_restores_the_best_weights():
    x, y = data()
    model = small_model()
    script = Script([3.0, 1.0, 2.0, 2.0, 0.1, 0.1])
    stopper = EarlyStopping(monitor="scripted", mode="min", patience=2)
    history = model.fit(
        x, y, batch_size=8, epochs=6, verbose=0, callbacks=[script, stopper], shuffle=False
    )
    assert history.epoch == [0, 1, 2, 3]
    assert stopper.status.stopped_epoch == 3 and stopper.status.best_epoch == 1
    assert stopper.status.restored
    for restored, best in zip(model.get_weights(), script.weights[1], strict=True):
        np.testing.assert_array_equal(restored, best)
    assert not np.array_equal(script.weights[1][0], script.weights[3][0])
    assert history.history["early_stopping_stopped"] == [0.0, 0.0, 0.0, 1.0]


def test_fit_auto_mode_reads_the_metric_direction():
    x, y = data()
    stopper = EarlyStopping(monitor="val_mae", patience=5)
    small_model().fit(x, y, validation_data=(x, y), epochs=1, verbose=0, callbacks=[stopper])
    assert stopper.status.mode == "min"  # from Keras's MeanAbsoluteError, not from the name


class FakeSummary:
    """A stand-in for ``tf.summary`` (the ``tensorboard`` package is not installed here) that
    accepts what TensorFlow's ``summary.scalar`` accepts: a real-number scalar."""

    def __init__(self):
        self.scalars = {}

    @contextlib.contextmanager
    def as_default(self, step=None):
        yield

    def create_file_writer(self, logdir):
        return self

    def close(self):
        pass

    def scalar(self, name, data, step):
        value = np.asarray(data)
        assert value.shape == () and np.issubdtype(value.dtype, np.number), (name, data)
        self.scalars.setdefault(name, []).append((int(step), float(value)))


@pytest.mark.parametrize("verbose", [1, 2])
def test_status_keys_work_with_keras_loggers(verbose, tmp_path, capsys):
    """History, the progress bar, CSVLogger and TensorBoard accept every key the callbacks add."""
    x, y = data()
    model = small_model()
    csv_path = tmp_path / "log.csv"
    tensorboard = keras.callbacks.TensorBoard(str(tmp_path / "tb"), write_graph=False)
    tensorboard._summary_module = summary = FakeSummary()
    callbacks = [
        EarlyStopping(patience=3),
        ReduceLROnPlateau(patience=0, factor=0.5),
        BestCheckpoint(tmp_path / "best.keras"),
        keras.callbacks.CSVLogger(str(csv_path)),
        tensorboard,
    ]
    history = model.fit(
        x, y, validation_data=(x, y), batch_size=8, epochs=3, verbose=verbose, callbacks=callbacks
    )
    added = STATUS_KEYS | {"learning_rate", "reduce_lr_changed", "best_checkpoint_saved"}
    assert added <= set(history.history)
    for key in added:
        assert len(history.history[key]) == 3
        assert all(isinstance(v, float) for v in history.history[key])
        assert [step for step, _ in summary.scalars[f"epoch_{key}"]] == [0, 1, 2]
    out = capsys.readouterr().out
    assert "early_stopping_wait" in out and "reduce_lr_new" in out
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and added <= set(rows[0])
    for row in rows:
        assert "NA" not in row.values()  # CSVLogger's mark of a key missing in an epoch
        [float(row[key]) for key in added]  # every value is a number
