"""EventLog: fit's hooks -> batch / epoch_ended / lr_changed events.

One real ``fit`` (8 tiny epochs, ``steps_per_execution=2``) with kerasdl's EarlyStopping,
ReduceLROnPlateau, BestCheckpoint and a LinearWarmup into a StepLR, and two EventLogs: one
given the callbacks, one reading their flat log keys. The learning rates and the
``lr_changed`` events are checked against the schedule's formula written out below in plain
Python, with the plateau's reductions forced by a scripted metric. Throttling and timings
are checked with a fake clock.
"""

import itertools
import json
import math
from collections.abc import Mapping

import keras
import numpy as np
import pytest

import kerasdl
from kerasdl.event_log import EventLog
from kerasdl.events import EventWriter, read_events

EPOCHS = 8
BATCH = 32
SAMPLES = 128
STEPS = SAMPLES // BATCH  # 4 steps an epoch
WARMUP_STEPS = 2 * STEPS  # the warmup ends with epoch 2 (1-based)
BASE_LR, STEP_SIZE, GAMMA, FACTOR = 0.1, 2, 0.5, 0.5
# The plateau callback watches this scripted metric: with patience 0, every epoch that
# does not improve (0-based 2, 5, 7; NaN never improves) halves the learning rate.
SCRIPTED = [5.0, 4.0, 4.0, 3.0, 2.0, 2.0, 1.0, math.nan]
REDUCED_AT = {2, 5, 7}


def schedule_formula(step):
    """LinearWarmup(after=StepLR(...)) from its docstring: ramp, then step decay by epochs."""
    if step < WARMUP_STEPS:
        return BASE_LR * step / WARMUP_STEPS
    epoch_after = (step - WARMUP_STEPS) // STEPS
    return BASE_LR * GAMMA ** (epoch_after // STEP_SIZE)


def scale_during(epoch):
    """The plateau factor in effect during a 0-based epoch."""
    return FACTOR ** sum(1 for reduced in REDUCED_AT if reduced < epoch)


def expected_lr(epoch):
    """The rate of a 0-based epoch's first step."""
    return scale_during(epoch) * schedule_formula(STEPS * epoch)


def expected_lr_changes():
    """(1-based epoch, old, new, reason) in order, from the formulas above."""
    changes = []
    for epoch in range(EPOCHS):
        start, end = STEPS * epoch, STEPS * (epoch + 1)
        before = scale_during(epoch) * schedule_formula(end)
        if not math.isclose(before, expected_lr(epoch), rel_tol=1e-9):
            if start < WARMUP_STEPS <= end:
                changes.append((epoch + 1, expected_lr(epoch), before, "warmup_end"))
            elif end >= WARMUP_STEPS:
                changes.append((epoch + 1, expected_lr(epoch), before, "schedule"))
            # else: inside the ramp, not reported
        if epoch in REDUCED_AT:
            changes.append((epoch + 1, before, before * FACTOR, "plateau"))
    return changes


class Script(keras.callbacks.Callback):
    """Puts the scripted metric into the epoch's logs (listed first)."""

    def on_epoch_end(self, epoch, logs=None):
        logs["scripted"] = SCRIPTED[epoch]


class Probe(keras.callbacks.Callback):
    """Listed after the EventLogs: what another reader sees in the file after each epoch."""

    def __init__(self, path, stopper, checkpoint):
        super().__init__()
        self.path, self.stopper, self.checkpoint = path, stopper, checkpoint
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(
            {
                "events": read_events(self.path),  # a fresh reader, mid-run
                "stopper": self.stopper.status,
                "checkpoint": self.checkpoint.status,
                "logs_keys": set(logs),
            }
        )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("eventlog")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 4)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int32")
    after = kerasdl.schedules.StepLR(BASE_LR, STEP_SIZE, GAMMA, steps_per_epoch=STEPS)
    schedule = kerasdl.schedules.LinearWarmup(after=after, warmup_steps=WARMUP_STEPS)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(
        optimizer=keras.optimizers.SGD(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        steps_per_execution=2,
    )
    stopper = kerasdl.callbacks.EarlyStopping(patience=100)
    plateau = kerasdl.callbacks.ReduceLROnPlateau(monitor="scripted", factor=FACTOR, patience=0)
    checkpoint = kerasdl.callbacks.BestCheckpoint(str(directory / "best.keras"))
    path = directory / "events.jsonl"
    sink = []
    writer = EventWriter(path, sinks=[sink.append], run_id="fit")
    log = EventLog(
        writer,
        batch_size=BATCH,
        samples_per_epoch=SAMPLES,
        early_stopping=stopper,
        plateau=plateau,
        checkpoint=checkpoint,
        batch_interval_s=0.0,
    )
    flat_path = directory / "flat.jsonl"
    flat_writer = EventWriter(flat_path)
    flat_log = EventLog(flat_writer)  # no references: reads the flat keys
    probe = Probe(path, stopper, checkpoint)
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=EPOCHS,
        validation_data=(x[:64], y[:64]),
        shuffle=False,
        verbose=0,
        callbacks=[Script(), stopper, plateau, checkpoint, log, flat_log, probe],
    )
    writer.close()
    flat_writer.close()
    return {
        "events": read_events(path),
        "flat": read_events(flat_path),
        "sink": sink,
        "probe": probe,
        "raw": path.read_text().splitlines(),
    }


def _comparable(value):
    """NaN replaced by a marker, so that == compares events with NaN values."""
    if isinstance(value, float) and math.isnan(value):
        return "<nan>"
    if isinstance(value, Mapping):  # a dict, or an Event read back
        return {key: _comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    return value


def _epochs(events):
    return [e for e in events if e["type"] == "epoch_ended"]


def test_epoch_ended_schema_and_one_based_epochs(run):
    epochs = _epochs(run["events"])
    assert [e["epoch"] for e in epochs] == list(range(1, EPOCHS + 1))
    for event in epochs:
        assert event["schema"] == 1 and event["run_id"] == "fit"
        assert event["epochs"] == EPOCHS
        assert set(event) >= {
            "metrics",
            "learning_rate",
            "early_stopping",
            "plateau",
            "checkpoint_saved",
            "epoch_seconds",
            "samples_per_s",
        }
        # Keras's metrics only: no flat status keys, no learning_rate
        assert set(event["metrics"]) == {
            "loss",
            "accuracy",
            "val_loss",
            "val_accuracy",
            "scripted",
        }
        assert event["epoch_seconds"] > 0 and event["samples_per_s"] > 0
    # the Keras logs did hold the status keys the metrics left out
    keys = run["probe"].seen[0]["logs_keys"]
    assert {"early_stopping_wait", "reduce_lr_wait", "best_checkpoint_saved"} <= keys


def test_nan_is_strict_json_in_the_file_and_a_float_when_read(run):
    last = _epochs(run["events"])[-1]
    assert math.isnan(last["metrics"]["scripted"])
    (line,) = [line for line in run["raw"] if '"epoch": 8,' in line and "epoch_ended" in line]
    assert '"scripted": "NaN"' in line
    for line in run["raw"]:  # strict JSON: no bare NaN token anywhere
        json.loads(line, parse_constant=lambda token: pytest.fail(f"bare {token}"))


def test_learning_rate_is_the_epochs_first_step_rate(run):
    got = [e["learning_rate"] for e in _epochs(run["events"])]
    want = [expected_lr(epoch) for epoch in range(EPOCHS)]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
    assert got[0] == 0.0  # the warmup starts at 0


def test_lr_changed_reasons_schedule_plateau_and_warmup_end(run):
    changes = [e for e in run["events"] if e["type"] == "lr_changed"]
    got = [(e["epoch"], e["old"], e["new"], e["reason"]) for e in changes]
    want = expected_lr_changes()
    assert [(g[0], g[3]) for g in got] == [(w[0], w[3]) for w in want]
    assert {w[3] for w in want} == {"warmup_end", "schedule", "plateau"}
    np.testing.assert_allclose([g[1:3] for g in got], [w[1:3] for w in want], rtol=1e-6)
    # each lr_changed follows its epoch's epoch_ended
    order = [(e["type"], e["epoch"]) for e in run["events"] if e["type"] != "notice"]
    for event in changes:
        index = order.index(("lr_changed", event["epoch"]))
        assert order[index - 1][1] == event["epoch"]


def test_early_stopping_plateau_and_checkpoint_fields(run):
    epochs = _epochs(run["events"])
    for event, seen in zip(epochs, run["probe"].seen, strict=True):
        status = seen["stopper"]
        assert event["early_stopping"] == {
            "monitor": "val_loss",
            "mode": "min",
            "best": status.best,
            "best_epoch": status.best_epoch + 1,  # 1-based
            "wait": status.wait,
            "patience": 100,
            "epochs_left": status.epochs_left,
            "stopped": False,
            "stopped_epoch": None,
            "improved": status.improved,
            "min_delta": 0.0,
        }
        checkpoint = seen["checkpoint"]
        assert event["checkpoint_saved"] is checkpoint.saved
        assert event["checkpoint"]["best_epoch"] == checkpoint.best_epoch + 1
        assert event["checkpoint"]["saves"] == checkpoint.saves
    plateaus = [e["plateau"] for e in epochs]
    assert [p["reduced"] for p in plateaus] == [i in REDUCED_AT for i in range(EPOCHS)]
    assert [p["num_reductions"] for p in plateaus] == [0, 0, 1, 1, 1, 2, 2, 3]
    assert plateaus[0]["monitor"] == "scripted" and plateaus[0]["patience"] == 0
    assert [p["best"] for p in plateaus] == [5.0, 4.0, 4.0, 3.0, 2.0, 2.0, 1.0, 1.0]


def test_flat_keys_give_the_same_status_without_references(run):
    full, flat = _epochs(run["events"]), _epochs(run["flat"])
    for a, b in zip(full, flat, strict=True):
        assert _comparable(b["metrics"]) == _comparable(a["metrics"])
        for key in ("best", "best_epoch", "wait", "patience", "epochs_left", "stopped"):
            assert b["early_stopping"][key] == a["early_stopping"][key]
        for key in ("best", "wait", "cooldown_left", "reduced"):
            assert b["plateau"][key] == a["plateau"][key]
        assert b["checkpoint_saved"] == a["checkpoint_saved"]
        assert b["learning_rate"] == a["learning_rate"]
    strip = [
        (e["epoch"], e["old"], e["new"], e["reason"])
        for e in run["flat"]
        if e["type"] == "lr_changed"
    ]
    assert strip == [
        (e["epoch"], e["old"], e["new"], e["reason"])
        for e in run["events"]
        if e["type"] == "lr_changed"
    ]


def test_file_is_flushed_every_epoch(run):
    for epoch, seen in enumerate(run["probe"].seen, start=1):
        assert [e["epoch"] for e in _epochs(seen["events"])] == list(range(1, epoch + 1))


def test_batch_events_reach_the_sink_only_once_per_execution(run):
    batches = [e for e in run["sink"] if e["type"] == "batch"]
    assert not any(e["type"] == "batch" for e in run["events"])
    # steps_per_execution=2: Keras calls the hook after steps 2 and 4 of each epoch
    steps = [(e["epoch"], e["step"]) for e in batches]
    every = [(epoch, step) for epoch in range(1, EPOCHS + 1) for step in (2, 4)]
    if keras.backend.backend() == "tensorflow":
        assert steps == every
    else:  # hooks run in Keras's thread pool: a late one is dropped, the last step is kept
        assert steps == sorted(set(steps)) and set(steps) <= set(every)
        assert {(epoch, 4) for epoch in range(1, EPOCHS + 1)} <= set(steps)
    for event in batches:
        assert event["steps"] == STEPS and event["epochs"] == EPOCHS
        assert set(event["metrics"]) == {"loss", "accuracy"}
        assert event["samples_per_s"] > 0 and event["eta_s"] >= 0
    assert all(e["eta_s"] == 0 for e in batches if e["step"] == STEPS)
    # the file holds what the sink got, batch events aside
    sent = [e for e in run["sink"] if e["type"] != "batch"]
    assert _comparable(sent) == _comparable(run["events"])


# ----------------------------------------------------------------------------- fake clock


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _driven_log(sinks, clock, **kwargs):
    writer = EventWriter(None, sinks=sinks)
    log = EventLog(writer, clock=clock, **kwargs)
    log.set_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))  # no optimizer
    log.set_params({"epochs": 3, "steps": 100, "verbose": 0})
    return log


def test_batch_events_are_throttled_with_exact_rates():
    got, clock = [], FakeClock()
    log = _driven_log([got.append], clock, batch_size=10, batch_interval_s=0.1)
    log.on_epoch_begin(1)
    start, tick = clock.now, 0.013
    for batch in range(100):
        clock.now = start + tick * (batch + 1)
        log.on_train_batch_end(batch, {"loss": 1.0 / (batch + 1), "accuracy": 0.5})
    times = [start + tick * e["step"] for e in got]
    gaps = np.diff(times)
    assert got[0]["step"] == 1 and got[-1]["step"] == 100  # the first and the last step
    assert np.all(gaps[:-1] >= 0.1 - 1e-9)  # at most one per 0.1 s (the last is always sent)
    assert np.all(gaps <= 0.1 + tick + 1e-9)  # and as soon as allowed
    assert len(got) <= 1.3 / 0.1 + 2
    for event in got:
        elapsed = tick * event["step"]
        assert event["epoch"] == 2 and event["steps"] == 100
        assert event["samples_per_s"] == pytest.approx(10 * event["step"] / elapsed)
        assert event["eta_s"] == pytest.approx((100 - event["step"]) * elapsed / event["step"])
        assert event["metrics"]["loss"] == pytest.approx(1.0 / event["step"])


def test_epoch_timings_and_no_batch_events_without_sinks():
    clock = FakeClock()
    log = _driven_log([], clock, batch_size=32, samples_per_epoch=3000)
    collected = []
    log.on_epoch_begin(0)
    for batch in range(94):  # 94 * 32 = 3008 > 3000: the last batch is smaller
        clock.now += 0.01
        log.on_train_batch_end(batch, {"loss": 1.0})
    train_end = clock.now
    clock.now += 0.5  # validation
    log.writer.add_sink(collected.append)
    log.on_epoch_end(0, {"loss": 1.0, "val_loss": 2.0, "early_stopping_wait": 0.0})
    (event,) = collected  # nothing was emitted while there was no sink
    assert event["type"] == "epoch_ended" and event["epoch"] == 1
    assert event["epoch_seconds"] == pytest.approx(train_end + 0.5 - 100.0)
    assert event["samples_per_s"] == pytest.approx(3000 / (train_end - 100.0))
    assert event["metrics"] == {"loss": 1.0, "val_loss": 2.0}
    assert event["learning_rate"] is None  # no optimizer
    assert event["plateau"] is None and event["checkpoint_saved"] is False


def test_late_batch_hooks_from_a_worker_thread_are_dropped():
    got, clock = [], FakeClock()
    log = _driven_log([got.append], clock, batch_interval_s=0.0)
    log.on_epoch_begin(0)
    for batch in (1, 0, 3, 2):  # out of order, as a thread pool may deliver them
        clock.now += 0.5
        log.on_train_batch_end(batch, {})
    assert [e["step"] for e in got] == [2, 4]


def test_default_interval_is_four_events_a_second():
    # 0.25 s by default: a dashboard redraws its progress line at most 4 times a second.
    got, clock = [], FakeClock()
    log = _driven_log([got.append], clock)
    log.on_epoch_begin(0)
    for batch in range(99):  # 0.01 s a step, the last step not reached: no closing event
        clock.now += 0.01
        log.on_train_batch_end(batch, {"loss": 1.0})
    steps = [e["step"] for e in got]
    assert steps[0] == 1 and all(b - a >= 25 for a, b in itertools.pairwise(steps))
    assert len(steps) == 4


def test_invalid_interval():
    with pytest.raises(ValueError, match="batch_interval_s"):
        EventLog(EventWriter(None), batch_interval_s=-1)


def test_a_partial_last_execution_does_not_overshoot_the_epoch():
    # With steps_per_execution=8 and 85 steps, Keras reports the last execution as batch 95.
    got, clock = [], FakeClock()
    log = _driven_log([got.append], clock, batch_size=64, steps_per_epoch=85)
    log.on_epoch_begin(0)
    for batch in range(7, 96, 8):
        clock.now += 0.08
        log.on_train_batch_end(batch, {"loss": 1.0})
    assert got[-1]["step"] == 85 and got[-1]["steps"] == 85
    assert all(e["step"] <= 85 and e["eta_s"] >= 0 for e in got)
