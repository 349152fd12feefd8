"""kerasdl.runner.train: a run's lifecycle, its files and events, stop, resume, determinism.

Two runs of one small config (mnist-mini, 540 training examples, 9 steps an epoch with
``steps_per_execution=4``, so executions straddle nothing: each epoch ends its own dataset),
shared by the tests of this module:

- ``full``: 4 epochs without interruption;
- ``split``: the same config from scratch, stopped (the ``stop`` event) after epoch 2, then
  resumed from its run directory for epochs 3 and 4.

The config turns on everything a resume must carry: dropout (its RNG), batch norm (moving
statistics), AdamW (its moments), a 1-epoch warmup into a StepLR (the optimizer's step), a
ReduceLROnPlateau that reduces every epoch after the first (its factor and counters), early
stopping and the best checkpoint (their bests). The references: the uninterrupted run itself
(resume must reproduce it exactly, on CPU), the chapter's formulas for the learning rate,
and NumPy recomputations of the test metrics from ``best.keras``'s predictions.
"""

import math
import threading

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl import runner, runs
from kerasdl.config import ConfigError, TrainConfig
from kerasdl.data import load_dataset
from kerasdl.events import read_events
from kerasdl.models import build_model

EPOCHS = 4
LR, GAMMA, FACTOR = 1e-3, 0.5, 0.5
STEPS = math.ceil(540 / 64)  # 600 examples, 10% held out, batch 64


def small_config(runs_dir, **dotted):
    settings = {
        "data.name": "mnist-mini",
        "data.limit": 600,
        "epochs": EPOCHS,
        "steps_per_execution": 4,
        "runs_dir": str(runs_dir),
        "schedule.name": "step",
        "schedule.step_size": 1,
        "schedule.gamma": GAMMA,
        "schedule.warmup_epochs": 1,
        "plateau.enabled": True,
        "plateau.patience": 0,
        "plateau.threshold": 0.9,  # "better" means 10x lower: every epoch after the first is bad
        "plateau.factor": FACTOR,
        "early_stopping.patience": 10,
    }
    settings.update(dotted)
    return TrainConfig().override(settings).validate()


def expected_learning_rate(epoch):
    """The rate of the first step of ``epoch`` (0-based), from the chapter's formulas.

    Warmup (3.5.2) from 0 over epoch 0; then StepLR (3.5.1) every epoch; and the plateau
    halves the rate after every epoch from the second on (PyTorch's rule, patience 0).
    """
    if epoch == 0:
        return 0.0
    return LR * GAMMA ** (epoch - 1) * FACTOR ** (epoch - 1)


class Recorder:
    def __init__(self, stop_after_epoch=None, stop=None):
        self.events = []
        self.stop_after_epoch = stop_after_epoch
        self.stop = stop

    def __call__(self, event):
        self.events.append(event)
        if event["type"] == "epoch_ended" and event["epoch"] == self.stop_after_epoch:
            self.stop.set()  # asked during this epoch's event: the next epoch is the last

    def of(self, kind):
        return [event for event in self.events if event["type"] == kind]


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def full(runs_dir):
    recorder = Recorder()
    summary = runner.train(small_config(runs_dir, run_name="full"), sinks=[recorder])
    return summary, recorder


@pytest.fixture(scope="module")
def split(runs_dir):
    stop = threading.Event()
    first = Recorder(stop_after_epoch=1, stop=stop)
    stopped = runner.train(small_config(runs_dir, run_name="split"), sinks=[first], stop=stop)
    config = TrainConfig.from_toml(stopped.run_dir / "config.toml")
    second = Recorder()
    resumed = runner.train(config, sinks=[second], resume=stopped.run_dir)
    return stopped, first, resumed, second


# --------------------------------------------------------------------------- one whole run


def test_run_directory_holds_every_file(full):
    summary, _ = full
    names = {path.name for path in summary.run_dir.iterdir()}
    assert names == {
        ".lock",  # kerasdl.run.resume.RunLock's file (a lock lives as long as its process)
        "config.toml",
        "events.jsonl",
        "best.keras",
        "last.keras",
        "state.json",
        "summary.json",
        "steps.jsonl",  # the step history (kerasdl.steps), on by default
    }
    assert TrainConfig.from_toml(summary.run_dir / "config.toml") == small_config(
        summary.run_dir.parent, run_name="full"
    )


def test_summary(full):
    summary, _ = full
    assert summary.status == "completed"
    assert summary.run_id == "full" == summary.run_dir.name
    assert summary.epochs_run == EPOCHS
    assert summary.resumed_from is None
    assert summary.error is None
    assert summary.duration_s > 0
    assert set(summary.test) == {"loss", "accuracy"}


def test_events_in_order_with_one_based_epochs(full):
    summary, recorder = full
    written = read_events(summary.run_dir / "events.jsonl")
    kinds = [event["type"] for event in written]
    assert kinds[0] == "run_started"
    assert kinds[-1] == "run_finished"
    assert kinds.count("run_finished") == 1
    assert [event["epoch"] for event in written if event["type"] == "epoch_ended"] == [1, 2, 3, 4]
    assert "batch" not in kinds  # progress goes to the sinks only
    assert recorder.of("batch")
    # The sink saw what the file holds, in the same order.
    assert [event for event in recorder.events if event["type"] != "batch"] == written


def test_every_event_the_runner_writes_fits_the_one_declaration(full, split):
    """The runner's events (a whole run, a stopped and resumed one, and the sinks' batch
    events) are declared field by field: reading them back finds no problem."""
    from kerasdl.events.record import RunRecord
    from kerasdl.events.schema import SCHEMA, from_dict

    for summary in (full[0], split[2]):  # the split run's file holds both of its parts
        record = RunRecord.read(summary.run_dir / "events.jsonl")
        assert record.problems == [], record.problems
        assert record.status == summary.status == "completed"
        assert record.best_restored is True and record.resumes == (summary is split[2])
    for event in [*full[1].events, *split[1].events, *split[3].events]:
        checked = from_dict(event)
        assert checked.type in SCHEMA and checked.problems == (), checked
        # Everything the runner writes is declared (nothing only "kept as unknown").
        assert not checked.extra, (checked.type, sorted(checked.extra))


def test_run_started(full):
    summary, recorder = full
    (started,) = recorder.of("run_started")
    config = small_config(summary.run_dir.parent, run_name="full")
    assert started["config"] == config.to_dict()
    assert started["dataset"] == {
        "name": "mnist-mini",
        "source": "bundled mnist-mini",
        "notice": None,
        "n_train": 540,
        "n_val": 60,
        "n_test": 600,
    }
    model = build_model(config, load_dataset(config))
    assert started["params"] == model.count_params()
    assert started["trainable_params"] == model.count_params() - 2 * 256
    assert started["backend"] == keras.backend.backend()
    assert started["devices"] and all(isinstance(d, str) for d in started["devices"])
    assert (started["epochs"], started["batch_size"]) == (EPOCHS, 64)
    assert started["steps_per_epoch"] == STEPS
    assert started["optimizer"] == {"name": "adamw", "learning_rate": 0.0}  # warmup's step 0
    assert started["resumed_from"] is None


def test_learning_rate_follows_warmup_step_and_plateau(full):
    _, recorder = full
    rates = [event["learning_rate"] for event in recorder.of("epoch_ended")]
    expected = [expected_learning_rate(epoch) for epoch in range(EPOCHS)]
    np.testing.assert_allclose(rates, expected, rtol=1e-6)
    reasons = [(event["epoch"], event["reason"]) for event in recorder.of("lr_changed")]
    assert reasons == [
        (1, "warmup_end"),
        (2, "schedule"),
        (2, "plateau"),
        (3, "schedule"),
        (3, "plateau"),
        (4, "schedule"),
        (4, "plateau"),
    ]


def test_best_checkpoint_is_the_epoch_with_the_lowest_val_loss(full):
    summary, recorder = full
    val_losses = [event["metrics"]["val_loss"] for event in recorder.of("epoch_ended")]
    best = int(np.argmin(val_losses))
    (finished,) = recorder.of("run_finished")
    assert finished["best_epoch"] == summary.best_epoch == best + 1
    assert finished["best"] == {"monitor": "val_loss", "value": val_losses[best]}
    saved = [event["checkpoint_saved"] for event in recorder.of("epoch_ended")]
    improved = [v < min(val_losses[:i], default=math.inf) for i, v in enumerate(val_losses)]
    assert saved == improved
    # The file holds that epoch: its validation loss is the logged one.
    config = small_config(summary.run_dir.parent)
    data = load_dataset(config)
    model = kerasdl.load_model(summary.run_dir / "best.keras")
    val = model.evaluate(data.x_val, data.y_val, batch_size=1000, verbose=0, return_dict=True)
    assert val["loss"] == pytest.approx(val_losses[best], rel=1e-5)


def test_test_set_is_evaluated_once_with_the_best_weights(full):
    summary, recorder = full
    (finished,) = recorder.of("run_finished")
    assert finished["test"] == summary.test
    assert finished["restored_best"] is True
    assert not any("test" in event.get("metrics", {}) for event in recorder.of("epoch_ended"))
    data = load_dataset(small_config(summary.run_dir.parent))
    logits = kerasdl.load_model(summary.run_dir / "best.keras").predict(data.x_test, verbose=0)
    logits = logits.astype("float64")
    accuracy = np.mean(np.argmax(logits, axis=1) == data.y_test)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    cross_entropy = -np.mean(log_softmax[np.arange(len(logits)), data.y_test])
    assert summary.test["accuracy"] == pytest.approx(accuracy, abs=1e-7)
    assert summary.test["loss"] == pytest.approx(cross_entropy, rel=1e-5)


def test_summary_json_repeats_run_finished(full):
    summary, recorder = full
    (finished,) = recorder.of("run_finished")
    written = runs.read_summary(summary.run_dir)
    for key in ("status", "best_epoch", "best", "test", "epochs_run", "error", "duration_s"):
        assert written[key] == finished[key]
    assert written["run_id"] == "full"
    assert written["final"] == recorder.of("epoch_ended")[-1]["metrics"]
    assert runs.load_run(summary.run_dir).status == "completed"


def test_every_view_gives_the_run_one_duration(full, split):
    """``duration_s`` counts from the start of the setup, which ``run_started`` places at
    ``time - setup_s``: the dashboard's clock (`RunRecord.elapsed`) agrees with it."""
    from kerasdl.events.record import RunRecord

    for summary, recorder in (full, split[:2], split[2:]):
        (started,) = recorder.of("run_started")
        (finished,) = recorder.of("run_finished")
        assert 0 < started["setup_s"] < finished["duration_s"] == summary.duration_s
        live = finished["time"] - (started["time"] - started["setup_s"])
        assert live == pytest.approx(summary.duration_s, abs=0.25)
    record = RunRecord.read(split[0].run_dir / "events.jsonl")  # both parts
    total = split[0].duration_s + split[2].duration_s
    assert record.elapsed(record.last_time) == pytest.approx(total) == record.duration_s


def test_state_json_describes_last_keras(full):
    summary, _ = full
    state = runs.load_resume_state(summary.run_dir)
    assert state["epoch"] == EPOCHS - 1
    assert state["epochs_done"] == EPOCHS
    assert state["iterations"] == EPOCHS * STEPS
    assert state["steps_per_epoch"] == STEPS
    ((_, draws),) = state["rng"]  # one dropout layer; its generator advanced once a step
    assert draws == EPOCHS * STEPS
    assert state["plateau_scale"] == pytest.approx(FACTOR ** (EPOCHS - 1))
    assert state["plateau"]["lr_changes"][-1]["epoch"] == EPOCHS - 1
    assert state["early_stopping"]["wait"] == EPOCHS - 1 - state["early_stopping"]["best_epoch"]
    assert state["checkpoint"]["best_epoch"] == summary.best_epoch - 1
    last = kerasdl.load_model(summary.run_dir / "last.keras")
    assert int(last.optimizer.iterations) == EPOCHS * STEPS


# --------------------------------------------------------------------------- stop and resume


def test_stop_request_ends_the_run_after_the_epoch(split):
    stopped, first, _, _ = split
    assert stopped.status == "stopped"
    assert stopped.epochs_run == 2
    assert [event["epoch"] for event in first.of("epoch_ended")] == [1, 2]
    (finished,) = first.of("run_finished")
    assert finished["status"] == "stopped"
    assert finished["last_checkpoint_epoch"] == 2
    assert stopped.test is not None  # a stopped run is still tested, with its best weights


def test_same_seed_and_config_give_the_same_metrics(full, split):
    _, full_events = full
    _, first, _, _ = split
    # Two runs from scratch in one process: epochs 1 and 2 agree exactly.
    for a, b in zip(full_events.of("epoch_ended")[:2], first.of("epoch_ended"), strict=True):
        assert a["metrics"] == b["metrics"]
        assert a["learning_rate"] == b["learning_rate"]


def test_resume_gives_the_uninterrupted_run_exactly(full, split):
    summary, full_events = full
    _, _, resumed, second = split
    assert resumed.status == "completed"
    assert resumed.resumed_from == 2
    assert resumed.epochs_run == EPOCHS
    assert [event["epoch"] for event in second.of("epoch_ended")] == [3, 4]
    for a, b in zip(full_events.of("epoch_ended")[2:], second.of("epoch_ended"), strict=True):
        assert a["metrics"] == b["metrics"]
        assert a["learning_rate"] == b["learning_rate"]
        assert a["early_stopping"] == b["early_stopping"]
        assert a["plateau"] == b["plateau"]
    # The final weights, the batch-norm statistics and the optimizer's state are identical.
    a = kerasdl.load_model(summary.run_dir / "last.keras")
    b = kerasdl.load_model(resumed.run_dir / "last.keras")
    for x, y in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=x.path)
    for x, y in zip(a.optimizer.variables, b.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=x.path)
    assert resumed.best == summary.best
    assert resumed.best_epoch == summary.best_epoch
    assert resumed.test == summary.test


def test_resumed_run_appends_to_its_events(split):
    _, _, resumed, second = split
    written = read_events(resumed.run_dir / "events.jsonl")
    started = [event for event in written if event["type"] == "run_started"]
    assert [event["resumed_from"] for event in started] == [None, 2]
    assert [e["status"] for e in written if e["type"] == "run_finished"] == ["stopped", "completed"]
    assert [e["epoch"] for e in written if e["type"] == "epoch_ended"] == [1, 2, 3, 4]
    assert second.of("run_started")[0]["optimizer"]["learning_rate"] == pytest.approx(
        expected_learning_rate(2)
    )
    info = runs.load_run(resumed.run_dir)
    assert (info.status, info.epochs_run, info.resumes) == ("completed", 4, 1)


def test_a_finished_run_cannot_be_resumed_without_more_epochs(full):
    summary, _ = full
    config = TrainConfig.from_toml(summary.run_dir / "config.toml")
    with pytest.raises(runs.RunError, match="epochs are done"):
        runner.train(config, resume=summary.run_dir)
    with pytest.raises(ConfigError, match="seed"):
        runner.train(config.override({"seed": 7, "epochs": 9}), resume=summary.run_dir)
    events = read_events(summary.run_dir / "events.jsonl")
    assert [event["type"] for event in events].count("run_started") == 1  # nothing written
