"""The step history (``steps.jsonl``): `kerasdl.steps.StepWriter` throttles, bounds and resumes
it, `read_steps` reads it as untrusted input, `kerasdl.step_log.StepLog` feeds it from Keras's
batch hooks, and a real run writes it by default (and not with ``step_history = false``)."""

import json
import math
import os

import pytest

from kerasdl import steps
from kerasdl.steps import MAX_LINE_BYTES, StepWriter, read_steps


class Clock:
    def __init__(self, now=0.0):
        self.now = now

    def __call__(self):
        return self.now


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_new_file_has_its_header_and_one_line_a_row(tmp_path):
    path = tmp_path / "steps.jsonl"
    writer = StepWriter(path, clock=lambda: 1_767_225_600.0)
    writer.add(128, 1, {"loss": 0.5, "accuracy": 0.75}, now=0.0)
    writer.add(256, 1, {"loss": math.nan, "accuracy": math.inf}, now=1.0)
    header, first, second = _lines(path)
    assert header == {"steps_schema": 1, "interval_s": 0.25, "thinned": 0, "max_rows": 10_000}
    assert first == {
        "step": 128,
        "epoch": 1,
        "time": 1_767_225_600.0,
        "metrics": {"loss": 0.5, "accuracy": 0.75},
    }
    assert second["metrics"] == {"loss": "NaN", "accuracy": "Infinity"}  # strict JSON
    history = read_steps(path)
    assert [row.step for row in history.rows] == [128, 256]
    assert math.isnan(history.rows[1].metrics["loss"])
    assert history.rows[1].metrics["accuracy"] == math.inf
    assert history.curve("loss")[0] == (128, 0.5)
    assert history.metric_names == ["loss", "accuracy"]
    assert history.problems == []


def test_due_throttles_to_the_interval(tmp_path):
    writer = StepWriter(tmp_path / "steps.jsonl", interval_s=0.25)
    assert writer.due(10.0)
    writer.add(1, 1, {"loss": 1.0}, now=10.0)
    assert not writer.due(10.2)
    assert writer.due(10.25)


def test_a_full_history_drops_every_second_row_and_doubles_the_interval(tmp_path):
    path = tmp_path / "steps.jsonl"
    writer = StepWriter(path, max_rows=8, interval_s=0.25)
    for step in range(1, 8):
        writer.add(step, 1, {"loss": float(step)}, now=float(step))
    assert len(_lines(path)) == 8  # header + 7 rows: appended
    writer.add(8, 1, {"loss": 8.0}, now=8.0)  # the 8th row: halved
    lines = _lines(path)
    assert lines[0]["thinned"] == 1 and lines[0]["interval_s"] == 0.5
    assert [row["step"] for row in lines[1:]] == [2, 4, 6, 8]  # even, the last kept
    assert writer.interval_s == 0.5
    for step in range(9, 13):
        writer.add(step, 2, {"loss": float(step)}, now=float(step))
    history = read_steps(path)
    assert history.thinned == 2 and history.interval_s == 1.0
    assert len(history.rows) < 8
    assert history.rows[-1].step == 12
    leftovers = [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
    assert leftovers == []


def test_a_resume_keeps_the_rows_of_the_finished_epochs_and_the_halvings(tmp_path):
    path = tmp_path / "steps.jsonl"
    first = StepWriter(path, max_rows=8)
    for step in range(1, 9):
        first.add(step * 10, 1 + (step > 4), {"loss": 1.0 / step}, now=float(step))
    with open(path, "a") as handle:
        handle.write('{"step": 90, "epoch": 3, "ti')  # killed mid-write
    resumed = StepWriter(path, max_rows=8, keep_through=60)
    assert resumed.thinned == 1
    assert [row.step for row in resumed.rows] == [20, 40, 60]
    resumed.add(70, 4, {"loss": 0.1}, now=100.0)
    history = read_steps(path)
    assert [row.step for row in history.rows] == [20, 40, 60, 70]
    assert history.problems == []


def test_the_reader_lets_later_rows_replace_steps_run_again(tmp_path):
    path = tmp_path / "steps.jsonl"
    rows = [(10, 1, 1.0), (20, 1, 0.9), (30, 2, 0.8), (20, 2, 0.7), (30, 2, 0.6)]
    path.write_text(
        "".join(
            json.dumps({"step": s, "epoch": e, "time": None, "metrics": {"loss": v}}) + "\n"
            for s, e, v in rows
        )
    )
    history = read_steps(path)
    assert [(r.step, r.metrics["loss"]) for r in history.rows] == [(10, 1.0), (20, 0.7), (30, 0.6)]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"step": 0, "epoch": 1, "metrics": {}}', "step is not a positive integer"),
        ('{"step": true, "epoch": 1, "metrics": {}}', "step is not a positive integer"),
        ('{"step": 1.5, "epoch": 1, "metrics": {}}', "step is not a positive integer"),
        ('{"step": 1, "epoch": "1", "metrics": {}}', "epoch is not a positive integer"),
        ('{"step": 1, "epoch": 1, "time": 1e300, "metrics": {}}', "time is not a Unix time"),
        ('{"step": 1, "epoch": 1, "metrics": [1]}', "metrics is not an object"),
        ('{"step": 1, "epoch": 1, "metrics": {"loss": "x"}}', "metric 'loss' is not a number"),
        ('{"step": 1, "epoch": 1, "metrics": {"loss": [1]}}', "metric 'loss' is not a number"),
        ("[1, 2]", "not a JSON object"),
        ('{"a": ' * 100 + "1" + "}" * 100, "nested deeper"),
        ('{"step": 1, "epoch": 1, "metrics": {"%s": 1}}' % ("x" * 300), "longer than 200"),
        ("x" * (MAX_LINE_BYTES + 1), "longer than"),
    ],
)
def test_a_bad_line_is_skipped_and_named(tmp_path, line, problem):
    path = tmp_path / "steps.jsonl"
    good = '{"step": 5, "epoch": 1, "time": 1.0, "metrics": {"loss": 0.5}}'
    path.write_text(f"{line}\n{good}\n")
    history = read_steps(path)
    assert [row.step for row in history.rows] == [5]
    assert len(history.problems) == 1
    assert history.problems[0].startswith("line 1: ")
    assert problem in history.problems[0]


def test_many_metrics_in_a_row_are_refused(tmp_path):
    path = tmp_path / "steps.jsonl"
    metrics = {f"m{i}": 1.0 for i in range(steps.MAX_METRICS + 1)}
    path.write_text(json.dumps({"step": 1, "epoch": 1, "metrics": metrics}) + "\n")
    assert read_steps(path).rows == []


def test_a_torn_last_line_is_skipped_quietly(tmp_path):
    path = tmp_path / "steps.jsonl"
    path.write_text('{"step": 5, "epoch": 1, "metrics": {"loss": 0.5}}\n{"step": 6, "ep')
    history = read_steps(path)
    assert [row.step for row in history.rows] == [5] and history.problems == []


def test_a_missing_file_is_an_empty_history_and_a_fifo_is_refused(tmp_path):
    assert read_steps(tmp_path / "steps.jsonl").rows == []
    assert read_steps(tmp_path).rows == []  # the run directory
    os.mkfifo(tmp_path / "steps.jsonl")
    with pytest.raises(OSError, match="not a regular file"):
        read_steps(tmp_path)  # at once, not waiting for a writer
    assert steps.step_curves([("a", tmp_path)]) == {}


def test_too_large_a_file_is_refused_and_too_many_rows_thinned(tmp_path, monkeypatch):
    path = tmp_path / "steps.jsonl"
    path.write_text(
        "".join(
            json.dumps({"step": s, "epoch": 1, "metrics": {"loss": 1.0}}) + "\n"
            for s in range(1, 101)
        )
    )
    monkeypatch.setattr(steps, "MAX_READ_ROWS", 10)
    history = read_steps(path)
    assert len(history.rows) <= 10 and history.rows[-1].step == 100
    monkeypatch.setattr(steps, "MAX_STEPS_BYTES", 100)
    with pytest.raises(OSError, match="larger than 100 bytes"):
        read_steps(path)


def test_a_writer_over_a_fifo_starts_a_new_history(tmp_path):
    os.mkfifo(tmp_path / "steps.jsonl")
    writer = StepWriter(tmp_path / "steps.jsonl")
    writer.add(1, 1, {"loss": 1.0}, now=0.0)
    assert [row.step for row in read_steps(tmp_path).rows] == [1]


def test_take_new_gives_each_row_once_only_when_asked(tmp_path):
    plain = StepWriter(tmp_path / "a.jsonl")
    plain.add(1, 1, {"loss": 1.0}, now=0.0)
    assert plain.take_new() == []
    collecting = StepWriter(tmp_path / "b.jsonl", collect_new=True)
    collecting.add(1, 1, {"loss": 1.0}, now=0.0)
    collecting.add(2, 1, {"loss": 0.5}, now=1.0)
    assert [row.step for row in collecting.take_new()] == [1, 2]
    assert collecting.take_new() == []


# ----------------------------------------------------------------------------- StepLog


def _step_log(tmp_path, steps_per_epoch, clock):
    from kerasdl.step_log import StepLog

    writer = StepWriter(tmp_path / "steps.jsonl")
    log = StepLog(writer, steps_per_epoch=steps_per_epoch, clock=clock)
    log.set_params({"epochs": 3, "steps": steps_per_epoch})
    return log


def test_step_log_throttles_and_writes_each_epochs_last_step(tmp_path):
    clock = Clock()
    log = _step_log(tmp_path, 10, clock)
    for epoch in range(2):
        log.on_epoch_begin(epoch)
        for batch in range(10):
            clock.now += 0.1
            log.on_train_batch_end(batch, {"loss": 1.0 / (batch + 1), "learning_rate": 0.1})
        log.on_epoch_end(epoch, {"loss": 0.1, "val_loss": 0.2})
    rows = read_steps(tmp_path).rows
    # every 0.25 s (the 3rd batch after a row), and steps 10 and 20 (each epoch's last)
    assert [row.step for row in rows] == [1, 4, 7, 10, 13, 16, 19, 20]
    assert [row.epoch for row in rows] == [1, 1, 1, 1, 2, 2, 2, 2]
    assert rows[3].metrics == {"loss": 0.1}  # no learning rate, no val_ keys
    assert rows[0].time is not None


def test_step_log_without_known_steps_counts_them_and_ends_each_epoch(tmp_path):
    clock = Clock()
    log = _step_log(tmp_path, None, clock)
    log.set_params({"epochs": 2, "steps": None})
    for epoch in range(2):
        log.on_epoch_begin(epoch)
        for batch in range(5):
            log.on_train_batch_end(batch, {"loss": 1.0})  # no time passes
        log.on_train_batch_end(2, {"loss": 9.0})  # a late hook: ignored
        log.on_epoch_end(epoch, {"loss": 1.0})
    # step 6 (the second epoch's first) is within 0.25 s of the row at step 5
    assert [row.step for row in read_steps(tmp_path).rows] == [1, 5, 10]


def test_step_log_after_a_resume_continues_the_global_step(tmp_path):
    clock = Clock()
    log = _step_log(tmp_path, 10, clock)
    log.on_epoch_begin(2)
    log.on_train_batch_end(3, {"loss": 1.0})
    log.on_train_batch_end(12, {"loss": 0.5})  # a whole last execution: clamped to 10
    log.on_epoch_end(2, {})
    assert [(row.step, row.epoch) for row in read_steps(tmp_path).rows] == [(24, 3), (30, 3)]


# ----------------------------------------------------------------------------- a real run


@pytest.mark.slow
def test_a_run_writes_its_step_history_by_default_and_not_when_off(tmp_path):
    from kerasdl.config import TrainConfig
    from kerasdl.events import read_events
    from kerasdl.runner import train

    base = {
        "runs_dir": str(tmp_path),
        "data.name": "mnist-mini",
        "data.limit": 1024,
        "epochs": 2,
        "steps_per_execution": 2,
    }
    summary = train(TrainConfig().override({**base, "run_name": "on"}))
    history = read_steps(summary.run_dir)
    events = read_events(summary.run_dir / "events.jsonl")
    started = next(e for e in events if e["type"] == "run_started")
    epochs = [e for e in events if e["type"] == "epoch_ended"]
    per_epoch = started["steps_per_epoch"]
    assert history.problems == []
    assert {row.epoch for row in history.rows} == {1, 2}
    local = [row.step - (row.epoch - 1) * per_epoch for row in history.rows]
    assert all(0 < n <= per_epoch and (n % 2 == 0 or n == per_epoch) for n in local), local
    for event in epochs:  # the epoch's last row holds the epoch's training values
        last = [row for row in history.rows if row.step == event["epoch"] * per_epoch]
        assert len(last) == 1
        assert last[0].metrics == pytest.approx(
            {k: v for k, v in event["metrics"].items() if not k.startswith("val_")}, rel=1e-6
        )
    assert not any(e["type"] == "batch" for e in events)  # events.jsonl stays small
    off = train(TrainConfig().override({**base, "run_name": "off", "step_history": False}))
    assert not (off.run_dir / "steps.jsonl").exists()
