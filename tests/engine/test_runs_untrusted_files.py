"""Reading run directories is bounded and safe: only regular files are read, with size, line and
nesting limits; a run that cannot be read is listed as damaged with its reason and never hides
the others; nothing waits on a FIFO or reads a device forever."""

import json
import os
import threading

import pytest
from typer.testing import CliRunner

from kerasdl import events as ev
from kerasdl import runs
from kerasdl._files import UnreadableFile, read_regular_file
from kerasdl.cli import app

runner = CliRunner()


def _good(run_dir):
    run_dir.mkdir(parents=True)
    lines = [
        {"schema": 1, "type": "run_started", "time": 1.7e9, "epochs": 1, "config": {}},
        {"schema": 1, "type": "epoch_ended", "time": 1.7e9 + 1, "epoch": 1,
         "metrics": {"loss": 0.5, "val_loss": 0.25}},
        {"schema": 1, "type": "run_finished", "time": 1.7e9 + 2, "status": "completed"},
    ]  # fmt: skip
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    return run_dir


def _bad_runs(root):
    """One good run and a run for each way a run directory can be hostile."""
    _good(root / "good")
    fifo = root / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "events.jsonl")
    device = root / "device"
    device.mkdir()
    (device / "events.jsonl").symlink_to("/dev/zero")
    full = root / "full"
    full.mkdir()
    (full / "events.jsonl").symlink_to("/dev/full")
    directory = root / "directory"
    (directory / "events.jsonl").mkdir(parents=True)
    summary_dir = _good(root / "summary-dir")
    (summary_dir / "summary.json").mkdir()
    deep = _good(root / "deep")
    with open(deep / "events.jsonl", "a") as handle:
        handle.write('{"type": "notice", "x": ' + "[" * 900 + "]" * 900 + "}\n")
    huge = _good(root / "huge-line")
    with open(huge / "events.jsonl", "a") as handle:
        handle.write('{"type": "notice", "message": "' + "x" * (2 << 20) + '"}\n')
    times = _good(root / "times")
    with open(times / "events.jsonl", "a") as handle:
        handle.write(
            '{"type": "run_started", "time": 1e300}\n{"type": "run_finished", "time": "NaN"}\n'
        )
    return root


def test_read_regular_file_refuses_fifos_devices_and_large_files(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UnreadableFile, match="not a regular file"):
        read_regular_file(tmp_path / "fifo", 100)  # at once: the open does not wait for a writer
    with pytest.raises(UnreadableFile, match="not a regular file"):
        read_regular_file("/dev/zero", 100)
    with pytest.raises(UnreadableFile, match="is a directory"):
        read_regular_file(tmp_path, 100)
    (tmp_path / "big").write_bytes(b"x" * 101)
    with pytest.raises(UnreadableFile, match="larger than 100 bytes"):
        read_regular_file(tmp_path / "big", 100)
    assert read_regular_file(tmp_path / "big", 101) == b"x" * 101
    assert read_regular_file(tmp_path / "absent", 100) is None


def test_decode_event_caps_lines_and_nesting_and_never_raises():
    assert ev.decode_event('{"a": ' + "[" * 5000 + "]" * 5000 + "}") is None
    assert ev.decode_event('{"a": ' + "[" * 40 + "]" * 40 + "}") is None
    assert ev.decode_event('{"a": [[1]]}') == {"a": [[1]]}
    assert ev.decode_event(b'{"m": "' + b"x" * ev.MAX_LINE_BYTES + b'"}') is None
    assert ev.decode_event(b"\xff\xfe") is None


def test_runs_list_shows_every_good_run_and_each_bad_one_as_damaged(tmp_path):
    root = _bad_runs(tmp_path / "runs")
    done = threading.Event()
    result = {}

    def list_them():  # a FIFO must not hang the listing: run it in a thread with a deadline
        result["infos"] = runs.list_runs(root)
        done.set()

    threading.Thread(target=list_them, daemon=True).start()
    assert done.wait(30), "runs.list_runs hung"
    infos = {info.run_id: info for info in result["infos"]}
    assert infos["good"].status == "completed" and infos["good"].epochs_run == 1
    for name in ("fifo", "device", "full", "directory"):
        assert infos[name].status == "damaged", name
        assert "events.jsonl" in infos[name].error, infos[name].error
    # A damaged summary, an overlong line, a too-deep line: the run's good events still count.
    for name in ("summary-dir", "deep", "huge-line"):
        assert infos[name].status == "completed" and infos[name].epochs_run == 1, name
    assert infos["times"].started == 1.7e9  # 1e300 is not a time


@pytest.mark.parametrize(
    "args", [["list"], ["show", "fifo"], ["show", "times"], ["show", "device"],
             ["compare", "good", "times", "deep"], ["export", "directory", "--csv"]]
)  # fmt: skip
def test_runs_commands_exit_cleanly_on_hostile_runs(tmp_path, args):
    root = _bad_runs(tmp_path / "runs")
    result = runner.invoke(app, ["runs", *args, "--runs-dir", str(root)], env={"COLUMNS": "200"})
    text = result.stdout + result.stderr
    assert ("Traceback" not in text and result.exception is None) or isinstance(
        result.exception, SystemExit
    ), text
    assert result.exit_code in (0, 2), text
    if args == ["list"]:
        assert result.exit_code == 0
        for name in ("good", "fifo", "device", "directory", "times"):
            assert name in text
        assert "damaged" in text


def test_follow_reports_a_fifo_instead_of_waiting(tmp_path):
    os.mkfifo(tmp_path / "events.jsonl")
    stop = threading.Event()
    timer = threading.Timer(20, stop.set)
    timer.start()
    try:
        got = list(ev.follow(tmp_path / "events.jsonl", stop, 0.05))
    finally:
        timer.cancel()
    assert not stop.is_set(), "follow waited on the FIFO"
    assert [(e["type"], e["level"]) for e in got] == [("notice", "error")]
    assert "not a regular file" in got[0]["message"]


def test_follow_skips_an_overlong_line_without_holding_it(tmp_path):
    path = tmp_path / "events.jsonl"
    big = b'{"type": "notice", "message": "' + b"x" * (ev.MAX_LINE_BYTES + 10) + b'"}\n'
    path.write_bytes(big + b'{"type": "run_finished", "status": "completed"}\n')
    got = list(ev.follow(path, threading.Event(), 0.05, until_finished=True))
    assert [e["type"] for e in got] == ["run_finished"]
