"""The event stream (kerasdl.events): writing, strict JSON, sinks, reading and following.

No Keras here: the module is light, and a subprocess test proves it.
"""

import json
import math
import os
import subprocess
import sys
import threading
import time

import pytest

from kerasdl import events as ev
from kerasdl.events import EventWriter, decode_event, encode_event, follow, read_events


def _clock(start=1000.0, step=1.0):
    """A fake ``time.time``: start, start + step, ..."""
    ticks = iter(start + step * i for i in range(10_000))
    return lambda: next(ticks)


def _strict_loads(line):
    """json.loads that refuses NaN/Infinity tokens (what a strict reader does)."""

    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(line, parse_constant=refuse)


# ----------------------------------------------------------------------------- writer


def test_every_event_has_the_base_fields(tmp_path):
    path = tmp_path / "run-7" / "events.jsonl"
    path.parent.mkdir()
    with EventWriter(path, clock=_clock()) as writer:
        started = writer.emit("run_started", epochs=3)
        note = writer.emit("notice", level="info", message="hello")
    assert started["schema"] == ev.SCHEMA_VERSION == 1
    assert [started["type"], note["type"]] == ["run_started", "notice"]
    assert [started["time"], note["time"]] == [1000.0, 1001.0]
    assert started["run_id"] == note["run_id"] == "run-7"  # the run directory's name
    # run_started names its writer, so `kerasdl.runs` can tell a dead run from a live one
    assert started["pid"] == os.getpid() and isinstance(started["host"], str)
    assert "pid" not in note
    lines = path.read_text().splitlines()
    assert [_strict_loads(line) for line in lines] == [started, note]
    assert list(_strict_loads(lines[0]))[:4] == ["schema", "type", "time", "run_id"]


def test_explicit_time_and_run_id_win_and_reserved_fields_refused(tmp_path):
    writer = EventWriter(None, run_id="a", clock=_clock())
    event = writer.emit("notice", time=5.5, run_id="b", level="info", message="m")
    assert (event["time"], event["run_id"]) == (5.5, "b")
    with pytest.raises(ValueError, match="schema"):
        writer.emit("notice", schema=2)
    assert writer.emit("notice", level="info", message="x")["run_id"] == "a"


def test_non_finite_floats_are_strict_json_and_come_back_as_floats(tmp_path):
    np = pytest.importorskip("numpy")
    path = tmp_path / "events.jsonl"
    metrics = {"loss": math.nan, "val_loss": np.float32("inf"), "acc": np.float64(-math.inf)}
    with EventWriter(path, run_id="r") as writer:
        sent = writer.emit(
            "epoch_ended",
            epoch=np.int64(1),
            metrics=metrics,
            learning_rate=np.float32(0.5),
            history=(1.0, math.nan),
            message="NaN",  # a text field keeps the string
        )
    line = path.read_text().strip()
    raw = _strict_loads(line)  # no bare NaN / Infinity tokens
    assert raw["metrics"] == {"loss": "NaN", "val_loss": "Infinity", "acc": "-Infinity"}
    assert raw["history"] == [1.0, "NaN"]
    (event,) = read_events(path)
    assert math.isnan(event["metrics"]["loss"])
    assert event["metrics"]["val_loss"] == math.inf and event["metrics"]["acc"] == -math.inf
    assert event["message"] == "NaN" and event["run_id"] == "r"
    assert type(event["epoch"]) is int and event["learning_rate"] == 0.5
    # the sinks got the same values as a reader of the file: plain floats, NaN as a float
    assert type(sent["epoch"]) is int and type(sent["learning_rate"]) is float
    assert math.isnan(sent["metrics"]["loss"]) and sent["metrics"]["val_loss"] == math.inf
    assert math.isnan(sent["history"][1])


def test_values_that_are_not_json_are_refused(tmp_path):
    writer = EventWriter(tmp_path / "events.jsonl")
    with pytest.raises(TypeError, match="JSON-able"):
        writer.emit("notice", message=object())
    writer.close()
    assert read_events(tmp_path / "events.jsonl") == []


def test_batch_events_go_to_sinks_only(tmp_path):
    path = tmp_path / "events.jsonl"
    got = []
    with EventWriter(path, sinks=[got.append]) as writer:
        writer.emit("batch", epoch=1, step=3)
        writer.emit("epoch_ended", epoch=1)
    assert [event["type"] for event in got] == ["batch", "epoch_ended"]
    assert [event["type"] for event in read_events(path)] == ["epoch_ended"]


def test_each_line_is_readable_at_once_and_fsynced_at_milestones(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    path = tmp_path / "events.jsonl"
    writer = EventWriter(path)
    seen = []
    for kind in ("run_started", "notice", "epoch_ended", "lr_changed", "batch", "run_finished"):
        before = len(synced)
        writer.emit(kind)
        # another reader sees the event as soon as emit returns (the writer is still open)
        seen.append([event["type"] for event in read_events(path)][-1:])
        synced_now = len(synced) > before
        assert synced_now == (kind in {"run_started", "epoch_ended", "lr_changed", "run_finished"})
    assert [s for s in seen] == [
        ["run_started"],
        ["notice"],
        ["epoch_ended"],
        ["lr_changed"],
        ["lr_changed"],  # batch: not in the file
        ["run_finished"],
    ]
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        writer.emit("notice")


def test_sinks_fan_out_and_a_failing_sink_is_dropped_with_one_notice(tmp_path, caplog):
    path = tmp_path / "events.jsonl"
    first, second, broken_calls = [], [], []

    def broken(event):
        broken_calls.append(event["type"])
        raise RuntimeError("view crashed")

    writer = EventWriter(path, sinks=[first.append, broken, second.append])
    writer.emit("epoch_ended", epoch=1)
    writer.emit("epoch_ended", epoch=2)
    writer.close()
    assert broken_calls == ["epoch_ended"]  # called once, then removed
    assert writer.sinks == [first.append, second.append]
    types = [event["type"] for event in first]
    assert types == ["epoch_ended", "notice", "epoch_ended"]
    assert first == second  # every sink gets the same events, in the same order
    notice = first[1]
    assert notice["level"] == "warning"
    assert "RuntimeError: view crashed" in notice["message"] and "broken" in notice["message"]
    from_file = read_events(path)
    assert [event["type"] for event in from_file] == types
    assert from_file == first  # the file holds what the sinks got
    assert "raised" in caplog.text


def test_keyboard_interrupt_in_a_sink_propagates(tmp_path):
    def interrupt(event):
        raise KeyboardInterrupt

    writer = EventWriter(tmp_path / "events.jsonl", sinks=[interrupt])
    with pytest.raises(KeyboardInterrupt):
        writer.emit("epoch_ended", epoch=1)
    assert writer.sinks == [interrupt]
    writer.close()


def test_add_and_remove_sinks(tmp_path):
    got = []
    writer = EventWriter(None)
    assert not writer.has_sinks and writer.run_id is None
    writer.emit("notice", message="nobody listens")
    writer.add_sink(got.append)
    writer.emit("notice", message="one")
    writer.remove_sink(got.append)
    writer.remove_sink(got.append)  # no error
    writer.emit("notice", message="two")
    assert [event["message"] for event in got] == ["one"]


def test_thread_safe_emits_keep_whole_lines_and_per_thread_order(tmp_path):
    path = tmp_path / "events.jsonl"
    delivered = []
    writer = EventWriter(path, sinks=[delivered.append])
    threads, per_thread = 4, 100

    def work(name):
        for i in range(per_thread):
            writer.emit("notice", thread=name, i=i, message="x" * (i % 7) * 300)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    writer.close()
    events = read_events(path)
    assert len(events) == threads * per_thread == len(path.read_text().splitlines())
    assert events == delivered  # one order for the file and the sinks
    for name in range(threads):
        assert [e["i"] for e in events if e["thread"] == name] == list(range(per_thread))


def test_reopening_appends_and_isolates_a_torn_line(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventWriter(path) as writer:
        writer.emit("run_started", epochs=2)
    with open(path, "a") as handle:  # a crash mid-write left half a line
        handle.write('{"schema": 1, "type": "epoch_en')
    with EventWriter(path) as writer:  # resume
        writer.emit("run_started", epochs=4)
    assert [e["epochs"] for e in read_events(path)] == [2, 4]
    assert path.read_text().splitlines()[1] == '{"schema": 1, "type": "epoch_en'


# ----------------------------------------------------------------------------- reading


def _line(**event):
    return encode_event({"schema": 1, **event}) + "\n"


def test_read_events_tolerates_a_torn_file_and_unknown_things(tmp_path):
    path = tmp_path / "events.jsonl"
    assert read_events(path) == []  # not there yet
    content = (
        _line(type="run_started", epochs=1)
        + "garbage from a crash\n"
        + "[1, 2]\n"  # JSON but not an object
        + "\n"
        + _line(type="from_the_future", schema_extra={"a": 1})
        + _line(type="epoch_ended", epoch=1, new_field=[1, 2])
        + '{"schema": 1, "type": "run_fin'  # half-written last line
    )
    path.write_text(content)
    got = read_events(path)
    assert [e["type"] for e in got] == ["run_started", "from_the_future", "epoch_ended"]
    assert got[1]["schema_extra"] == {"a": 1} and got[2]["new_field"] == [1, 2]
    # once the line is complete it is read
    with open(path, "a") as handle:
        handle.write('ished", "status": "completed"}\n')
    assert read_events(path)[-1] == {"schema": 1, "type": "run_finished", "status": "completed"}


def test_a_whole_last_line_without_newline_is_read(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(_line(type="a") + json.dumps({"type": "b"}))
    assert [e["type"] for e in read_events(path)] == ["a", "b"]


def test_decode_event():
    # The NaN strings become floats where the schema declares a float (a metric, a rate), and
    # stay strings elsewhere: in text fields, in the config, in fields no schema declares.
    line = (
        b'{"type": "epoch_ended", "metrics": {"loss": "NaN", "x": "Infinity"}, '
        b'"learning_rate": "-Infinity", "config": {"runs_dir": "Infinity"}, "l": ["NaN"]}'
    )
    event = decode_event(line)
    assert event["metrics"]["x"] == math.inf and math.isnan(event["metrics"]["loss"])
    assert event["learning_rate"] == -math.inf
    assert event["config"] == {"runs_dir": "Infinity"} and event["l"] == ["NaN"]
    assert decode_event(b'{"type": "lr_changed", "reason": "NaN"}') == {
        "type": "lr_changed",
        "reason": "NaN",
    }
    assert decode_event("not json") is None
    assert decode_event(b"\xff\xfe") is None
    assert decode_event("3") is None


# ----------------------------------------------------------------------------- follow


def _collect(iterator, into, done):
    try:
        for event in iterator:
            into.append(event)
    finally:
        done.set()


def _wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def test_follow_a_growing_file_written_in_pieces(tmp_path):
    path = tmp_path / "events.jsonl"
    stop = threading.Event()
    got, done = [], threading.Event()
    reader = threading.Thread(
        target=_collect, args=(follow(path, stop, poll_s=0.01), got, done), daemon=True
    )
    reader.start()  # before the file exists
    time.sleep(0.05)
    assert got == []
    lines = [_line(type="epoch_ended", epoch=i, metrics={"loss": math.nan}) for i in range(1, 6)]
    with open(path, "w") as handle:
        for line in lines:
            cut = len(line) // 2
            handle.write(line[:cut])  # half a line: not yielded
            handle.flush()
            count = len(got)
            time.sleep(0.03)
            assert len(got) == count
            handle.write(line[cut:])
            handle.flush()
            assert _wait_for(lambda count=count: len(got) == count + 1)
    assert [e["epoch"] for e in got] == [1, 2, 3, 4, 5]
    assert all(math.isnan(e["metrics"]["loss"]) for e in got)
    assert not done.is_set()  # it keeps following until told to stop
    stop.set()
    assert done.wait(2.0)


def test_follow_ends_after_run_finished_when_asked(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(
        _line(type="run_started")
        + _line(type="unknown_kind", x=1)
        + _line(type="run_finished", status="completed")
        + _line(type="run_started")  # a resumed part, after the end
    )
    replay = list(follow(path, poll_s=0.01, until_finished=True))
    assert [e["type"] for e in replay] == ["run_started", "unknown_kind", "run_finished"]


def test_follow_stops_when_the_event_is_set_while_waiting(tmp_path):
    stop = threading.Event()
    got, done = [], threading.Event()
    iterator = follow(tmp_path / "never.jsonl", stop, poll_s=0.01)
    threading.Thread(target=_collect, args=(iterator, got, done), daemon=True).start()
    time.sleep(0.05)
    stop.set()
    assert done.wait(2.0) and got == []


def test_follow_starts_over_when_the_file_is_replaced(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(_line(type="a") + _line(type="b"))
    stop = threading.Event()
    got, done = [], threading.Event()
    iterator = follow(path, stop, poll_s=0.01)
    threading.Thread(target=_collect, args=(iterator, got, done), daemon=True).start()
    assert _wait_for(lambda: len(got) == 2)
    replacement = tmp_path / "new.jsonl"
    replacement.write_text(_line(type="c"))
    os.replace(replacement, path)
    assert _wait_for(lambda: len(got) == 3)
    stop.set()
    assert done.wait(2.0)
    assert [e["type"] for e in got] == ["a", "b", "c"]


def test_follow_checks_poll_s():
    with pytest.raises(ValueError, match="poll_s"):
        next(follow("x", poll_s=0))


def test_events_module_imports_without_keras():
    code = (
        "import sys, kerasdl.events, kerasdl.runs; "
        "heavy = [m for m in ('keras', 'tensorflow', 'jax', 'numpy') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
