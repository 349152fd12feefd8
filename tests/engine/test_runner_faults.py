"""kerasdl.runner.train when things go wrong: Ctrl-C, a NaN loss, a crash, bad input.

Faults are injected through ``train(callbacks=[...])``, whose callbacks run inside ``fit``
between the runner's monitor and its checkpoints: one raises ``KeyboardInterrupt`` mid-epoch
(what Ctrl-C does), one poisons a weight with NaN, one raises an ordinary exception.
Errors that can be detected before training must come before any event is written.
"""

import json
import math

import keras
import numpy as np
import pytest
from test_loop import _WorsenAfter  # val_loss made worse from an epoch on

import kerasdl
from kerasdl import data, runner, runs
from kerasdl.config import ConfigError, TrainConfig
from kerasdl.events import read_events
from kerasdl.run import session

STEPS = math.ceil(540 / 64)


def small_config(runs_dir, **dotted):
    settings = {
        "data.name": "mnist-mini",
        "data.limit": 600,
        "epochs": 3,
        "steps_per_execution": 4,
        "runs_dir": str(runs_dir),
        "schedule.name": "none",
    }
    settings.update(dotted)
    return TrainConfig().override(settings).validate()


class AtEpoch(keras.callbacks.Callback):
    """Do ``action(model)`` at the first training step hook of ``epoch`` (0-based)."""

    def __init__(self, epoch, action, hook="batch"):
        super().__init__()
        self.epoch = epoch
        self.action = action
        self.hook = hook
        self.current = None
        self.batch_calls = {}

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch
        if self.hook == "epoch_begin" and epoch == self.epoch:
            self.action(self.model)

    def on_train_batch_end(self, batch, logs=None):
        self.batch_calls[self.current] = self.batch_calls.get(self.current, 0) + 1
        if self.hook == "batch" and self.current == self.epoch:
            self.action(self.model)


def no_tmp_files(run_dir):
    return not [p.name for p in run_dir.iterdir() if ".tmp" in p.name]


# --------------------------------------------------------------------------- Ctrl-C


def test_keyboard_interrupt_keeps_the_last_epoch_and_ends_the_events(tmp_path):
    def interrupt(model):
        raise KeyboardInterrupt

    # A constant learning rate (a variable of the optimizer) that a plateau halves after
    # every epoch but the first: the resumed run must continue from the halved rate.
    plateau = {"plateau.enabled": True, "plateau.patience": 0, "plateau.threshold": 0.9}
    plateau["plateau.factor"] = 0.5
    config = small_config(tmp_path, run_name="ctrl-c", epochs=4, **plateau)
    events = []
    with pytest.raises(KeyboardInterrupt):
        runner.train(config, sinks=[events.append], callbacks=[AtEpoch(2, interrupt)])
    run_dir = tmp_path / "ctrl-c"
    written = read_events(run_dir / "events.jsonl")
    assert [e["type"] for e in written if e["type"] not in ("notice", "lr_changed", "system")] == [
        "run_started",
        "epoch_ended",
        "epoch_ended",
        "run_finished",
    ]
    finished = written[-1]
    assert finished["status"] == "interrupted"
    assert finished["test"] is None
    assert (finished["epochs_run"], finished["last_checkpoint_epoch"]) == (2, 2)
    assert runs.read_summary(run_dir)["status"] == "interrupted"
    # last.keras holds the last finished epoch, whole, with its sidecar.
    state = runs.load_resume_state(run_dir)
    assert (state["epoch"], state["iterations"]) == (1, 2 * STEPS)
    assert int(kerasdl.load_model(run_dir / "last.keras").optimizer.iterations) == 2 * STEPS
    assert no_tmp_files(run_dir)
    assert runs.load_run(run_dir).status == "interrupted"

    # ... and the run continues from there, with the reduced rate and the plateau's state.
    resumed_events = []
    resumed = runner.train(
        TrainConfig.from_toml(run_dir / "config.toml"),
        sinks=[resumed_events.append],
        resume=run_dir,
    )
    assert (resumed.status, resumed.resumed_from, resumed.epochs_run) == ("completed", 2, 4)
    written = read_events(run_dir / "events.jsonl")
    assert [e["epoch"] for e in written if e["type"] == "epoch_ended"] == [1, 2, 3, 4]
    rates = [e["learning_rate"] for e in written if e["type"] == "epoch_ended"]
    np.testing.assert_allclose(rates, [1e-3, 1e-3, 5e-4, 2.5e-4], rtol=1e-6)


# --------------------------------------------------------------------------- NaN


def test_nan_loss_stops_at_once_and_keeps_the_best_checkpoint(tmp_path):
    def poison(model):  # the output layer: a ReLU would turn NaN into 0 on TensorFlow
        kernel = model.get_layer("logits").kernel
        kernel.assign(np.full(kernel.shape, np.nan, "float32"))

    poisoner = AtEpoch(1, poison, hook="epoch_begin")
    config = small_config(tmp_path, run_name="nan")
    summary = runner.train(config, callbacks=[poisoner])
    assert summary.status == "nan"
    assert summary.epochs_run == 2  # of 3: it stopped in epoch 2
    assert poisoner.batch_calls[1] == 1  # after the first execution of 4 steps, not 3
    assert summary.best_epoch == 1
    assert summary.test is not None and math.isfinite(summary.test["loss"])

    run_dir = tmp_path / "nan"
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    last_epoch = json.loads([line for line in lines if '"epoch_ended"' in line][-1])
    assert last_epoch["metrics"]["loss"] == "NaN"  # strict JSON in the file
    written = read_events(run_dir / "events.jsonl")
    assert math.isnan([e for e in written if e["type"] == "epoch_ended"][-1]["metrics"]["loss"])
    assert written[-1]["status"] == "nan"
    # best.keras is epoch 1's, finite; last.keras too (the NaN epoch is not saved).
    best = kerasdl.load_model(run_dir / "best.keras")
    assert all(np.isfinite(np.asarray(w)).all() for w in best.weights)
    assert runs.load_resume_state(run_dir)["epoch"] == 0
    x = data.load_dataset(config).x_test
    logits = best.predict(x, verbose=0)
    assert np.isfinite(logits).all()


def test_huge_learning_rate_ends_as_nan(tmp_path):
    config = small_config(
        tmp_path,
        run_name="lr",
        **{"optimizer.name": "sgd", "optimizer.learning_rate": 1e12, "epochs": 2},
    )
    summary = runner.train(config)
    assert summary.status == "nan"
    assert runs.read_summary(tmp_path / "lr")["status"] == "nan"


# --------------------------------------------------------------------------- other errors


def test_an_error_during_training_ends_as_failed_and_propagates(tmp_path):
    def crash(model):
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        runner.train(small_config(tmp_path, run_name="crash"), callbacks=[AtEpoch(1, crash)])
    finished = read_events(tmp_path / "crash" / "events.jsonl")[-1]
    assert finished["type"] == "run_finished"
    assert finished["status"] == "failed"
    assert finished["error"] == "RuntimeError: disk on fire"
    assert runs.read_summary(tmp_path / "crash")["status"] == "failed"


def nothing_written(runs_dir):
    return not list(runs_dir.rglob("events.jsonl")) and not list(runs_dir.rglob("*.keras"))


def test_unwritable_runs_dir_fails_before_anything(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setattr(data, "load_dataset", pytest.fail)  # never reached
    with pytest.raises(runs.RunError, match="runs directory"):
        runner.train(small_config(blocker / "runs"))


def test_existing_run_name_fails_before_the_data_is_loaded(tmp_path, monkeypatch):
    (tmp_path / "taken").mkdir()
    monkeypatch.setattr(data, "load_dataset", pytest.fail)
    with pytest.raises(runs.RunError, match="exists"):
        runner.train(small_config(tmp_path, run_name="taken"))
    assert nothing_written(tmp_path)


def test_missing_dataset_fails_before_any_event(tmp_path):
    empty = tmp_path / "no-mnist-here"
    empty.mkdir()
    runs_dir = tmp_path / "runs"
    config = small_config(runs_dir, **{"data.name": "mnist", "data.data_dir": str(empty)})
    with pytest.raises(data.DataError):
        runner.train(config)
    assert nothing_written(runs_dir)
    assert not [p for p in runs_dir.iterdir() if p.is_dir()]  # no run directory either


@pytest.mark.parametrize(
    "dotted, field",
    [
        ({"schedule.warmup_epochs": 3}, "schedule.warmup_epochs"),  # not < epochs
        ({"model.dropout": [0.5]}, "model.dropout"),  # one per hidden layer
        ({"optimizer.name": "adamz"}, "optimizer.name"),  # no such optimizer
        ({"loss.name": "mse"}, "loss.name"),  # not for a classification dataset
    ],
)
def test_impossible_config_fails_before_anything(tmp_path, dotted, field):
    base = {"runs_dir": str(tmp_path / "runs"), "data.name": "mnist-mini", "epochs": 3}
    config = TrainConfig().override({**base, **dotted})
    with pytest.raises(ConfigError) as error:
        runner.train(config)
    assert error.value.field == field
    assert not (tmp_path / "runs").exists()


def test_distributed_strategy_needs_tensorflow(tmp_path, monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(ConfigError, match="strategy"):
        runner.make_strategy("mirrored")


def test_resume_errors(tmp_path):
    not_a_run = tmp_path / "empty"
    not_a_run.mkdir()
    config = small_config(tmp_path)
    with pytest.raises(runs.RunError, match=r"state\.json"):
        runner.train(config, resume=not_a_run)
    with pytest.raises(runs.RunError, match="no such run"):
        runner.train(config, resume=tmp_path / "missing")
    assert nothing_written(tmp_path)


# --------------------------------------------------------------------------- regression


def test_regression_run(tmp_path):
    config = TrainConfig().override(
        {
            "data.name": "regression",
            "data.limit": 500,
            "loss.name": "huber",
            "model.hidden": [16],
            "model.batch_norm": [False],
            "model.dropout": [0.0],
            "epochs": 2,
            "runs_dir": str(tmp_path),
            "run_name": "reg",
        }
    )
    summary = runner.train(config)
    assert summary.status == "completed"
    assert set(summary.test) == {"loss", "mae"}
    dataset = data.load_dataset(config)
    predictions = kerasdl.load_model(tmp_path / "reg" / "best.keras").predict(
        dataset.x_test, verbose=0
    )
    mae = np.mean(np.abs(predictions.astype("float64") - dataset.y_test))
    assert summary.test["mae"] == pytest.approx(mae, rel=1e-5)


# --------------------------------------------------------------------------- resume is a promise


def test_an_interrupt_during_the_test_is_finished_by_resume(tmp_path, monkeypatch):
    """Ctrl-C while the test set is evaluated (every epoch done) is not a dead end: --resume
    evaluates the test with the best epoch's weights and ends the run as it would have."""
    config = small_config(tmp_path, run_name="test-cut", epochs=2)
    original = session.Run.evaluate_test

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(session.Run, "evaluate_test", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.train(config)
    run_dir = tmp_path / "test-cut"
    assert read_events(run_dir / "events.jsonl")[-1]["status"] == "interrupted"
    monkeypatch.setattr(session.Run, "evaluate_test", original)
    summary = runner.train(config, resume=run_dir)
    assert summary.status == "completed" and set(summary.test) == {"loss", "accuracy"}
    events = read_events(run_dir / "events.jsonl")
    assert [e["epoch"] for e in events if e["type"] == "epoch_ended"] == [1, 2]  # none again
    finished = [e for e in events if e["type"] == "run_finished"]
    assert finished[-1]["restored_best"] is True and finished[-1]["test"] == summary.test
    assert finished[-1]["epochs_run"] == 2
    with pytest.raises(runs.RunError, match="its 2 epochs are done"):
        runner.train(config, resume=run_dir)  # now it is done: nothing left to resume


def test_a_run_killed_after_its_last_epoch_resumes_to_its_test(tmp_path):
    config = small_config(tmp_path, run_name="killed", epochs=2)
    runner.train(config)
    run_dir = tmp_path / "killed"
    # As kill -9 after the last epoch: no run_finished, no summary.
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    (run_dir / "events.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    (run_dir / "summary.json").unlink()
    summary = runner.train(config, resume=run_dir)
    assert summary.status == "completed" and summary.test is not None


def test_a_run_in_use_is_not_resumed_twice(tmp_path):
    from kerasdl.run.resume import RunLock

    config = small_config(tmp_path, run_name="busy", epochs=1)
    runner.train(config)
    with RunLock(tmp_path / "busy"), pytest.raises(runs.RunError, match="is in use"):
        runner.train(config.override({"epochs": 2}), resume=tmp_path / "busy")
    events = read_events(tmp_path / "busy" / "events.jsonl")
    assert [e["type"] for e in events].count("run_started") == 1  # nothing was written


def test_a_damaged_last_checkpoint_is_named_before_anything_trains(tmp_path):
    config = small_config(tmp_path, run_name="torn", epochs=1)
    runner.train(config)
    run_dir = tmp_path / "torn"
    before = (run_dir / "events.jsonl").read_text()
    with open(run_dir / "last.keras", "r+b") as handle:
        handle.seek(100)
        handle.write(b"garbage")
    with pytest.raises(runs.RunError, match=r"last\.keras matches no saved state"):
        runner.train(config.override({"epochs": 2}), resume=run_dir)
    assert (run_dir / "events.jsonl").read_text() == before


def test_sighup_stops_a_run_as_sigterm_does():
    import os
    import signal
    import time

    from kerasdl.cli.train import sigterm_as_keyboard_interrupt

    with pytest.raises(KeyboardInterrupt, match="SIGHUP"), sigterm_as_keyboard_interrupt():
        os.kill(os.getpid(), signal.SIGHUP)  # the SSH session closed
        time.sleep(5)  # the handler raises here, at once
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL  # restored afterwards


def test_a_validation_loss_that_is_not_finite_ends_the_run_as_nan(tmp_path):
    """Weights broken after an epoch's last step: its training loss is finite (it was taken
    before), its validation loss is NaN. The run ends as "nan", and that epoch is not saved."""

    class PoisonLastStep(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epoch = None

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 1 and batch == STEPS - 1:
                kernel = self.model.get_layer("logits").kernel
                kernel.assign(np.full(kernel.shape, np.nan, "float32"))

    config = small_config(tmp_path, run_name="val-nan")
    summary = runner.train(config, callbacks=[PoisonLastStep()])
    events = read_events(tmp_path / "val-nan" / "events.jsonl")
    last = [e for e in events if e["type"] == "epoch_ended"][-1]
    assert last["epoch"] == 2 and math.isfinite(last["metrics"]["loss"])
    assert math.isnan(last["metrics"]["val_loss"])
    assert summary.status == "nan" and summary.epochs_run == 2
    assert runs.load_resume_state(tmp_path / "val-nan")["epoch"] == 0  # epoch 2 not saved
    assert summary.test is not None and math.isfinite(summary.test["loss"])  # best: epoch 1


def test_a_swallowed_interrupt_is_raised_again_at_the_next_step(tmp_path):
    """A signal's KeyboardInterrupt raised inside a __del__ is dropped by Python; the pending
    request makes the runner stop at its next hook all the same."""
    from kerasdl import _interrupt

    def swallowed(model):
        _interrupt.request("signal SIGTERM")  # as the CLI's handler, whose raise was lost

    config = small_config(tmp_path, run_name="lost-signal")
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        runner.train(config, callbacks=[AtEpoch(1, swallowed, hook="epoch_begin")])
    assert _interrupt.pending() is None
    assert read_events(tmp_path / "lost-signal" / "events.jsonl")[-1]["status"] == "interrupted"


@pytest.mark.parametrize(("patience", "status", "epochs_run"), [(1, "early_stopped", 2),
                                                               (2, "completed", 3)])  # fmt: skip
def test_early_stopping_at_the_last_epoch_is_a_completed_run(tmp_path, patience, status,
                                                             epochs_run):  # fmt: skip
    """One rule for the status: early stopping that fires at the last planned epoch cut
    nothing short, so the run completed (not "Stopped early after epoch 3" of 3)."""
    config = small_config(
        tmp_path, run_name=f"p{patience}", **{"early_stopping.patience": patience}
    )
    summary = runner.train(config, callbacks=[_WorsenAfter(1)])
    assert (summary.status, summary.epochs_run) == (status, epochs_run)
    assert runs.load_resume_state(tmp_path / f"p{patience}")["status"] == status


def test_a_resume_with_another_setup_fails_before_training_one_line_per_difference(tmp_path):
    config = small_config(tmp_path, run_name="setup", epochs=1)
    runner.train(config)
    run_dir = tmp_path / "setup"
    before = (run_dir / "events.jsonl").read_text()
    other = config.override({"epochs": 2, "optimizer.name": "sgd", "model.hidden": "64,32"})
    with pytest.raises(runs.RunError) as info:
        runner.train(other, resume=run_dir)
    message = str(info.value)
    assert "it was trained with another setup" in message
    lines = message.splitlines()[1:]
    assert "  optimizer.name: 'adamw' in the run, 'sgd' now" in lines
    assert "  model.hidden: [256, 128] in the run, [64, 32] now" in lines
    assert len(lines) == 2 and "Traceback" not in message
    assert (run_dir / "events.jsonl").read_text() == before  # nothing written


def test_an_interrupt_python_drops_in_a_del_is_not_printed_and_not_lost(capsys):
    """A Ctrl-C whose KeyboardInterrupt lands in a __del__ (seen in a TensorFlow function's) is
    "unraisable": not printed as a traceback, and still pending for the runner."""
    import gc
    import os
    import signal

    from kerasdl import _interrupt
    from kerasdl.cli.train import sigterm_as_keyboard_interrupt

    class SignalledInDel:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs here, inside __del__
            for _ in range(1000):
                pass

    with sigterm_as_keyboard_interrupt():
        SignalledInDel()
        gc.collect()
        assert _interrupt.pending() == ""  # Ctrl-C: the runner raises it at its next hook
    assert _interrupt.pending() is None
    assert "Traceback" not in capsys.readouterr().err
