"""`kerasdl.callbacks.Track`: a real Keras fit recorded as a kerasdl run directory.

Tiny Dense models on random numpy data, a few epochs each. The monitored values are scripted
by a callback (listed first, so every later callback sees them) where a test needs an exact
countdown; Keras's own EarlyStopping, ReduceLROnPlateau, ModelCheckpoint and
LearningRateScheduler, and kerasdl's callbacks, are the real ones. Each run is read back the
way every view reads it: `kerasdl.runs` (RunInfo, RunRecord) and the event schema.
"""

import contextlib
import gc
import json
import math
import os
import signal

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

import kerasdl
from kerasdl import runs
from kerasdl.callbacks import Track
from kerasdl.cli import app
from kerasdl.events import read_events
from kerasdl.events.schema import from_dict

SAMPLES, FEATURES, BATCH = 64, 4, 16
WIDE = {"COLUMNS": "220"}  # tables on one line each


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(SAMPLES, FEATURES)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [0.0]]) + rng.normal(scale=0.1, size=(SAMPLES, 1))
    return x, y.astype("float32")


def model(learning_rate=0.05, optimizer=None):
    keras.utils.set_random_seed(0)
    net = keras.Sequential(
        [keras.Input((FEATURES,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
    )
    net.compile(optimizer=optimizer or keras.optimizers.SGD(learning_rate), loss="mse")
    return net


class Scripted(keras.callbacks.Callback):
    """Sets the epoch's ``val_loss`` (or another key) to scripted values, before the others."""

    def __init__(self, values, key="val_loss"):
        super().__init__()
        self.values, self.key = values, key

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[min(epoch, len(self.values) - 1)]


class RaiseAt(keras.callbacks.Callback):
    def __init__(self, epoch, error):
        super().__init__()
        self.epoch, self.error = epoch, error

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise self.error


def fit(net, callbacks, epochs=10, **kwargs):
    x, y = data()
    kwargs.setdefault("validation_split", 0.25)
    return net.fit(x, y, epochs=epochs, batch_size=BATCH, verbose=0, callbacks=callbacks, **kwargs)


def events_of(track, kind=None):
    events = read_events(track.run_dir / runs.EVENTS_FILE)
    return [e for e in events if kind is None or e["type"] == kind]


def check_schema(track):
    """Every line of the run fits schema 1 (the writer checked it; the reader agrees)."""
    for event in events_of(track):
        assert from_dict(event).problems == (), event


# ----------------------------------------------------------------------------- early stopping


@pytest.fixture(scope="module")
def stopped_early(tmp_path_factory):
    """Keras's EarlyStopping(patience=2) ends the fit at epoch 4 of 10 (scripted val_loss)."""
    runs_dir = tmp_path_factory.mktemp("runs")
    track = Track(runs_dir)  # first in the list: its events still see the stopper's decision
    stopper = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    scripted = Scripted([1.0, 0.8, 0.9, 0.95, 0.5, 0.4])
    history = fit(model(), [scripted, track, stopper])
    return track, runs_dir, history


def test_keras_early_stopping_countdown_and_status(stopped_early):
    track, _, history = stopped_early
    assert track.status == "early_stopped" and len(history.epoch) == 4
    info = runs.load_run(track.run_dir)
    assert info.status == "early_stopped" and info.origin == "track"
    assert info.epochs_run == 4 and info.epochs == 10
    countdown = [
        (e["epoch"], e["early_stopping"]["wait"], e["early_stopping"]["patience"])
        for e in (info.record.history[epoch] for epoch in sorted(info.record.history))
    ]
    assert countdown == [(1, 0, 2), (2, 0, 2), (3, 1, 2), (4, 2, 2)]
    last = info.record.early_stopping
    assert last["stopped"] and last["stopped_epoch"] == 4 and last["epochs_left"] == 0
    assert last["monitor"] == "val_loss" and last["mode"] == "min" and last["best_epoch"] == 2
    assert info.record.early_stopping_enabled is True
    for epoch in info.history:  # timed from the steps the batch hook noted (no sink here)
        assert epoch["samples_per_s"] > 0 and 0 < epoch["epoch_seconds"] < 60
    finished = info.record.finished
    assert finished["best_epoch"] == 2 and finished["best"]["value"] == pytest.approx(0.8)
    assert finished["restored_best"] is True
    assert info.record.best_restored
    check_schema(track)


def test_the_run_directory_has_the_engine_format(stopped_early):
    track, runs_dir, _ = stopped_early
    names = sorted(p.name for p in track.run_dir.iterdir())
    assert names == ["best.keras", "events.jsonl", "fit.json", "summary.json"]
    summary = runs.read_summary(track.run_dir)
    assert summary["status"] == "early_stopped" and summary["origin"] == "track"
    assert set(summary["final"]) == {"loss", "val_loss"}
    best = keras.saving.load_model(track.run_dir / "best.keras")
    assert best.count_params() == 4 * 8 + 8 + 8 + 1
    assert [info.run_id for info in runs.list_runs(runs_dir)] == [track.run_id]


def test_run_started_describes_the_model_and_the_fit(stopped_early):
    track, _, _ = stopped_early
    started = events_of(track, "run_started")[0]
    assert started["origin"] == "track" and started["loop"] == "fit"
    assert started["params"] == 49 and started["trainable_params"] == 49
    assert started["epochs"] == 10 and started["steps_per_epoch"] == 3
    assert started["batch_size"] == BATCH and started["backend"] == keras.backend.backend()
    assert started["dataset"] == {
        "name": "numpy arrays",
        "source": "model.fit",
        "notice": None,
        "n_train": 48,
        "n_val": 16,
        "n_test": None,
    }
    assert started["optimizer"]["name"] == "SGD".lower()
    assert started["optimizer"]["learning_rate"] == pytest.approx(0.05)
    fit_info = started["fit"]
    layers = [
        (layer["class"], layer["output_shape"], layer["params"])
        for layer in fit_info["model"]["layers"]
    ]
    assert layers == [("Dense", [None, 8], 40), ("Dense", [None, 1], 9)]
    assert fit_info["optimizer"]["config"]["learning_rate"] == pytest.approx(0.05)
    assert fit_info["loss"] == "mse" and fit_info["validation"] == "validation_split 0.25"
    assert fit_info["early_stopping"] == {
        "enabled": True,
        "callback": "keras.callbacks.EarlyStopping",
        "monitor": "val_loss",
        "patience": 2,
        "min_delta": 0.0,
        "mode": "auto",
        "restore_best_weights": True,
        "start_from_epoch": 0,
    }
    assert "keras.callbacks.History" in fit_info["callbacks"]
    assert fit_info["plateau"] == {"enabled": False}
    on_disk = json.loads((track.run_dir / "fit.json").read_text())
    assert on_disk["model"] == fit_info["model"] and on_disk["origin"] == "track"


def test_runs_list_and_show_treat_it_like_any_run(stopped_early):
    track, runs_dir, _ = stopped_early
    listed = CliRunner().invoke(
        app, ["runs", "list", "--full-ids", "--runs-dir", str(runs_dir)], env=WIDE
    )
    assert listed.exit_code == 0, listed.output
    assert track.run_id in listed.output and "early_stopped" in listed.output
    assert "numpy arrays" in listed.output
    shown = CliRunner().invoke(
        app, ["runs", "show", track.run_id, "--runs-dir", str(runs_dir)], env=WIDE
    )
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    assert "recorded by kerasdl.callbacks.Track" in text
    assert "early stopping keras.callbacks.EarlyStopping val_loss patience 2" in text
    assert "Sequential, 2 layers, 49 params" in text
    compared = CliRunner().invoke(
        app, ["runs", "compare", track.run_id, "--runs-dir", str(runs_dir), "--width", "60"]
    )
    assert compared.exit_code == 0, compared.output


def test_kerasdl_train_refuses_to_resume_it(stopped_early):
    track, _, _ = stopped_early
    result = CliRunner().invoke(app, ["train", "--resume", str(track.run_dir), "--ui", "none"])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "cannot resume" in text and "kerasdl.callbacks.Track recorded it" in text
    assert "Traceback" not in result.output


# ----------------------------------------------------------------------------- other callbacks


def test_keras_plateau_and_checkpoint_state_are_published(tmp_path):
    track = Track(tmp_path / "runs", checkpoints=None)
    plateau = keras.callbacks.ReduceLROnPlateau(patience=1, factor=0.5, min_delta=0.0)
    saver = keras.callbacks.ModelCheckpoint(tmp_path / "best.keras", save_best_only=True)
    fit(model(0.05), [Scripted([1.0, 0.8, 0.9, 0.95, 0.7]), track, plateau, saver], epochs=5)
    assert track.status == "completed"
    epochs = events_of(track, "epoch_ended")
    rates = [e["learning_rate"] for e in epochs]
    # Keras's rule: a reduction once `patience` (1) epochs did not improve: after 3 and 4.
    assert rates == pytest.approx([0.05, 0.05, 0.05, 0.025, 0.0125])
    third = epochs[2]["plateau"]
    assert third["reduced"] and third["num_reductions"] == 1 and third["patience"] == 1
    assert third["learning_rate"] == pytest.approx(0.025) and third["monitor"] == "val_loss"
    assert third["wait"] == 0 and third["best"] == pytest.approx(0.8)
    assert [e["checkpoint_saved"] for e in epochs] == [True, True, False, False, True]
    assert epochs[3]["checkpoint"]["best_epoch"] == 2 and epochs[3]["checkpoint"]["saves"] == 2
    changes = [(c["epoch"], c["reason"], c["new"]) for c in events_of(track, "lr_changed")]
    assert changes == [(3, "plateau", pytest.approx(0.025)), (4, "plateau", pytest.approx(0.0125))]
    assert not (track.run_dir / "best.keras").exists()  # checkpoints=None: only Keras's own


def test_kerasdl_callbacks_state_is_published_and_last_keras_saved(tmp_path):
    track = Track(tmp_path / "runs", checkpoints="both", run_name="mine")
    stopper = kerasdl.callbacks.EarlyStopping(patience=3)
    plateau = kerasdl.callbacks.ReduceLROnPlateau(patience=0, factor=0.5)
    fit(model(0.05), [Scripted([1.0, 0.8, 0.9, 0.7]), stopper, plateau, track], epochs=4)
    assert track.run_dir == tmp_path / "runs" / "mine" and track.status == "completed"
    epochs = events_of(track, "epoch_ended")
    assert [e["early_stopping"]["wait"] for e in epochs] == [0, 0, 1, 0]
    assert epochs[2]["plateau"]["reduced"] and epochs[2]["plateau"]["scale"] is None
    assert [c["reason"] for c in events_of(track, "lr_changed")] == ["plateau"]
    assert [e["checkpoint_saved"] for e in epochs] == [True, True, False, True]
    finished = events_of(track, "run_finished")[0]
    assert finished["last_checkpoint_epoch"] == 4
    assert (track.run_dir / "last.keras").is_file() and (track.run_dir / "best.keras").is_file()
    for key in ("early_stopping_wait", "reduce_lr_wait", "learning_rate"):
        assert key not in epochs[0]["metrics"]


def test_learning_rate_reasons_schedule_and_unknown(tmp_path):
    halve = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5**epoch)

    class Poke(keras.callbacks.Callback):  # changes the rate, as nothing Track knows does
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.optimizer.learning_rate = 0.001

    scheduled = Track(tmp_path / "a", checkpoints=None)  # before the scheduler in the list
    fit(model(0.1), [scheduled, halve], epochs=3)
    changes = [(c["epoch"], c["new"], c["reason"]) for c in events_of(scheduled, "lr_changed")]
    assert changes == [(1, pytest.approx(0.05), "schedule"), (2, pytest.approx(0.025), "schedule")]
    rates = [e["learning_rate"] for e in events_of(scheduled, "epoch_ended")]
    assert rates == pytest.approx([0.1, 0.05, 0.025])

    poked = Track(tmp_path / "b", checkpoints=None)
    fit(model(0.1), [poked, Poke()], epochs=3)
    (change,) = events_of(poked, "lr_changed")
    assert (change["epoch"], change["reason"]) == (2, "unknown")
    info = runs.load_run(poked.run_dir)
    assert info.record.lr_change_label(info.lr_changes[0]) == ("?", "unknown cause")


# ----------------------------------------------------------------------------- how a fit ends


def test_a_loss_that_is_not_finite_ends_the_run_as_nan(tmp_path):
    track = Track(tmp_path)
    fit(model(1e6), [track], epochs=6, validation_split=0.0)
    epochs = events_of(track, "epoch_ended")
    assert track.status == "nan" and len(epochs) < 6  # it stopped training
    assert not math.isfinite(epochs[-1]["metrics"]["loss"])
    assert runs.load_run(track.run_dir).status == "nan"


def test_stop_ends_after_the_epoch_as_stopped(tmp_path):
    track = Track(tmp_path)

    class StopAt2(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                track.stop()

    history = fit(model(), [StopAt2(), track], epochs=5)
    assert track.status == "stopped" and len(history.epoch) == 2
    assert events_of(track, "run_finished")[0]["epochs_run"] == 2


def test_an_error_in_a_callback_ends_the_run_as_failed(tmp_path):
    track = Track(tmp_path)
    with pytest.raises(ValueError, match="boom"), track:
        fit(model(), [track, RaiseAt(2, ValueError("boom"))], epochs=5)
    (finished,) = events_of(track, "run_finished")
    assert finished["status"] == "failed" and finished["error"] == "ValueError: boom"
    assert finished["epochs_run"] == 3  # epoch 3 ended before the callback raised
    assert runs.load_run(track.run_dir).status == "failed"


def test_ctrl_c_in_fit_ends_the_run_as_interrupted(tmp_path):
    track = Track(tmp_path)
    with pytest.raises(KeyboardInterrupt), track:
        fit(model(), [track, RaiseAt(1, KeyboardInterrupt())], epochs=5)
    assert track.status == "interrupted"
    assert runs.load_run(track.run_dir).status == "interrupted"
    assert runs.read_summary(track.run_dir)["epochs_run"] == 2


def test_without_the_with_block_an_end_nobody_saw_is_still_recorded(tmp_path):
    # Keras calls no on_train_end when fit raises; Track finishes the run once the fit's
    # callback list is freed: "interrupted" if a SIGINT came during the fit, else "failed".
    sigint = Track(tmp_path / "sigint")

    class CtrlC(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                os.kill(os.getpid(), signal.SIGINT)

    with contextlib.suppress(KeyboardInterrupt):
        fit(model(), [sigint, CtrlC()], epochs=5)
    gc.collect()
    assert sigint.status == "interrupted" and not sigint.active
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back

    caught = Track(tmp_path / "caught")
    with contextlib.suppress(RuntimeError):
        fit(model(), [caught, RaiseAt(0, RuntimeError("x"))], epochs=5)
    gc.collect()
    assert caught.status == "failed"
    assert "without on_train_end" in events_of(caught, "run_finished")[0]["error"]


def test_fits_with_one_track_make_new_runs_or_continue_one(tmp_path):
    track = Track(tmp_path, run_name="exp", checkpoints=None)
    net = model()
    fit(net, [track], epochs=2)
    first = track.run_dir
    fit(net, [track], epochs=4, initial_epoch=2)  # continues: a resumed part
    assert track.run_dir == first
    info = runs.load_run(first)
    assert info.resumes == 1 and info.epochs_run == 4 and info.status == "completed"
    assert events_of(track, "run_started")[1]["resumed_from"] == 2
    fit(net, [track], epochs=1)  # a new fit from epoch 0: a new run
    assert track.run_dir == tmp_path / "exp-2"
    with pytest.raises(runs.RunError, match="exists"):
        fit(net, [Track(tmp_path, run_name="exp")], epochs=1)


def test_callbacks_can_be_named_instead_of_found(tmp_path):
    stopper = keras.callbacks.EarlyStopping(patience=5)
    track = Track(tmp_path, callbacks=[])  # publish none of them
    fit(model(), [track, stopper], epochs=2)
    assert all(e["early_stopping"] is None for e in events_of(track, "epoch_ended"))
    assert events_of(track, "run_started")[0]["fit"]["early_stopping"] == {"enabled": False}


def test_arguments_are_checked():
    for kwargs, message in [
        ({"checkpoints": "all"}, "`checkpoints` must be one of"),
        ({"run_name": "a/b"}, "`run_name` must be"),
        ({"mode": "up"}, "`mode` must be one of"),
        ({"batch_interval_s": -1}, "`batch_interval_s` must be >= 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            Track(**kwargs)


def test_batch_events_go_to_sinks_only(tmp_path):
    seen = []
    track = Track(tmp_path, sinks=[seen.append], batch_interval_s=0.0)
    fit(model(), [track], epochs=2)
    batches = [e for e in seen if e["type"] == "batch"]
    assert [b["step"] for b in batches] == [1, 2, 3, 1, 2, 3]
    assert batches[-1]["samples_per_s"] > 0 and batches[0]["epochs"] == 2
    assert not events_of(track, "batch")
    assert [e["type"] for e in seen if e["type"] != "batch"] == [
        e["type"] for e in events_of(track)
    ]
