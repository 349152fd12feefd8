"""kerasdl.callbacks.BestCheckpoint: the best model on disk, written atomically (3.4.6).

References: hand-worked scripted monitor sequences (which epochs improve), the weights recorded at
each epoch, and a save made to fail half-way through.
"""

import json
import math
import os
import re
import stat

import keras
import numpy as np
import pytest

import kerasdl.optimizers
from kerasdl.callbacks import BestCheckpoint, BestCheckpointStatus, save_model_atomically


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
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.05), "mse")
    return model


def data():
    rng = np.random.default_rng(1)
    return rng.normal(size=(8, 3)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")


def assert_weights_equal(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_array_equal(a, e)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One fit with a scripted monitor: 3.0, 1.0, 2.0, NaN, 0.5 improves at epochs 0, 1, 4."""
    path = tmp_path_factory.mktemp("best") / "runs" / "best.keras"  # the folder does not exist
    model = small_model()
    script = Script([3.0, 1.0, 2.0, math.nan, 0.5])
    best = BestCheckpoint(path, monitor="scripted", mode="min")
    x, y = data()
    history = model.fit(x, y, batch_size=4, epochs=5, verbose=0, callbacks=[script, best])
    return model, script, best, history, path


def test_saves_when_the_monitor_improves(trained):
    _, script, best, history, path = trained
    assert history.history["best_checkpoint_saved"] == [1.0, 1.0, 0.0, 0.0, 1.0]
    assert history.history["best_checkpoint_best"] == [3.0, 1.0, 1.0, 1.0, 0.5]
    assert history.history["best_checkpoint_best_epoch"] == [0.0, 1.0, 1.0, 1.0, 4.0]
    assert best.status == BestCheckpointStatus(
        monitor="scripted",
        mode="min",
        filepath=str(path),
        best=0.5,
        best_epoch=4,
        saved=True,
        saves=3,
        epoch=4,
    )
    loaded = keras.saving.load_model(path)
    assert_weights_equal(loaded.get_weights(), script.weights[4])
    assert sorted(os.listdir(path.parent)) == ["best.keras"]  # no temporary file left


def test_a_save_that_fails_half_way_leaves_the_previous_best(trained, monkeypatch):
    model, script, best, _, path = trained
    before = path.read_bytes()
    attempts = []

    def broken_save(filepath, *args, **kwargs):
        attempts.append(filepath)
        with open(filepath, "wb") as f:
            f.write(before[: len(before) // 2])  # half a model, then the "crash"
        raise OSError("No space left on device")

    monkeypatch.setattr(model, "save", broken_save)
    logs = {"scripted": 0.1}  # an improvement: the callback tries to save
    with pytest.raises(OSError, match="No space left"):
        best.on_epoch_end(5, logs)
    assert len(attempts) == 1 and os.path.dirname(attempts[0]) == str(path.parent)
    assert os.path.basename(attempts[0]).startswith(".best.")  # a hidden temporary file
    assert path.read_bytes() == before  # the previous best, intact ...
    assert_weights_equal(keras.saving.load_model(path).get_weights(), script.weights[4])  # loads
    assert sorted(os.listdir(path.parent)) == ["best.keras"]  # ... and nothing left behind
    assert (best.best, best.best_epoch, best.saves, best.saved) == (0.5, 4, 3, False)


def test_save_model_atomically_replaces_whole_files(tmp_path):
    model = small_model()
    path = tmp_path / "model.keras"
    path.write_bytes(b"an older model")
    save_model_atomically(model, path)
    assert_weights_equal(keras.saving.load_model(path).get_weights(), model.get_weights())
    assert os.listdir(tmp_path) == ["model.keras"]
    # The same permissions as a file Keras writes itself (not mkstemp's 0600).
    model.save(tmp_path / "plain.keras")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "plain.keras").st_mode)


def test_a_later_fit_keeps_the_better_model(tmp_path):
    path = tmp_path / "best.keras"
    model = small_model()
    best = BestCheckpoint(path, monitor="scripted", mode="min")
    x, y = data()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[Script([1.0]), best])
    saved = path.read_bytes()
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[Script([2.0, 1.5]), best])
    assert history.history["best_checkpoint_saved"] == [0.0, 0.0]
    assert path.read_bytes() == saved


def test_max_mode_nan_and_missing_monitor(tmp_path):
    path = tmp_path / "best.keras"
    best = BestCheckpoint(path, monitor="val_accuracy")  # auto: accuracy is maximised
    best.set_model(small_model())
    saved = []
    for epoch, logs in enumerate(
        [{"val_accuracy": 0.5}, {"val_accuracy": math.nan}, {"val_accuracy": 0.4}, {"loss": 1.0}]
    ):
        if "val_accuracy" not in logs:
            with pytest.warns(UserWarning, match="`val_accuracy` which is not available"):
                best.on_epoch_end(epoch, logs)
        else:
            best.on_epoch_end(epoch, logs)
        saved.append(logs["best_checkpoint_saved"])
    assert best.status.mode == "max"
    assert saved == [1.0, 0.0, 0.0, 0.0]
    best.on_epoch_end(4, {"val_accuracy": 0.9})
    assert (best.best, best.best_epoch, best.saves) == (0.9, 4, 2)


def test_get_state_set_state():
    best = BestCheckpoint("best.keras", monitor="val_loss")
    best.best, best.best_epoch, best.saves = 0.25, 7, 3
    state = json.loads(json.dumps(best.get_state(), allow_nan=False))
    resumed = BestCheckpoint("best.keras")
    resumed.set_state(state)
    assert (resumed.best, resumed.best_epoch, resumed.saves) == (0.25, 7, 3)
    logs = {"val_loss": 0.3}
    resumed.on_epoch_end(8, logs)  # worse than the restored best: not saved (no model needed)
    assert logs["best_checkpoint_saved"] == 0.0
    with pytest.raises(ValueError, match="monitors `val_loss`"):
        BestCheckpoint("best.keras", monitor="loss").set_state(state)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"filepath": "best.h5"},
            "Argument `filepath` must be a path ending with '.keras'. Received: filepath='best.h5'",
        ),
        (
            {"filepath": "best.keras", "mode": "best"},
            "Argument `mode` must be one of 'auto', 'min', 'max'. Received: mode='best'",
        ),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        BestCheckpoint(**kwargs)


def test_config_round_trip(tmp_path):
    best = BestCheckpoint(tmp_path / "m.keras", monitor="val_acc", mode="max", log_status=False)
    config = best.get_config()
    assert config["filepath"] == str(tmp_path / "m.keras")
    assert BestCheckpoint.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(best))
    assert isinstance(restored, BestCheckpoint) and restored.get_config() == config


def test_set_state_refuses_another_monitor_or_missing_keys(tmp_path):
    checkpoint = BestCheckpoint(str(tmp_path / "best.keras"), monitor="val_loss")
    state = checkpoint.get_state()
    with pytest.raises(ValueError, match="Checkpoint state lacks \\['saves'\\]"):
        checkpoint.set_state({k: v for k, v in state.items() if k != "saves"})
    with pytest.raises(ValueError, match="monitors `loss` but this callback monitors `val_loss`"):
        checkpoint.set_state({**state, "monitor": "loss"})


def test_primed_save_skipsets_are_the_ones_keras_computes(tmp_path):
    """kerasdl._keras_saving stores Keras's own skip-sets where Keras looks them up; a model
    saved after priming loads with the same config and weights."""
    from keras.src.backend.common import global_state
    from keras.src.saving import saving_lib

    from kerasdl._keras_saving import _KINDS, prime_skipsets

    prime_skipsets()
    for kind in _KINDS:
        primed = global_state.get_global_attribute(f"saving_attr_skiplist_{kind}")
        global_state.set_global_attribute(f"saving_attr_skiplist_{kind}", None)
        try:
            fresh = saving_lib.get_attr_skipset(kind)
            # Saving skips every "__" name anyway; those vary with what Python created lazily.
            assert {a for a in primed if not a.startswith("__")} == {
                a for a in fresh if not a.startswith("__")
            }, kind
        finally:
            global_state.set_global_attribute(f"saving_attr_skiplist_{kind}", primed)

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    model.compile(optimizer=kerasdl.optimizers.AdamW(), loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 1)), epochs=1, verbose=0)
    save_model_atomically(model, tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert json.dumps(loaded.get_config(), sort_keys=True) == json.dumps(
        model.get_config(), sort_keys=True
    )
    for a, b in zip(loaded.weights, model.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
