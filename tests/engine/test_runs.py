"""Run directories (kerasdl.runs) on synthetic runs written with EventWriter in tmp."""

import csv
import io
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from kerasdl import runs
from kerasdl.events import EventWriter, read_events
from kerasdl.runs import RunError

HOST = socket.gethostname()


def dead_pid():
    """The pid of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def make_run(
    runs_dir,
    run_id,
    *,
    start,
    epochs=(),
    finished=None,
    pid=None,
    host=HOST,
    config=None,
    lr_changes=(),
    test=None,
    first_epoch=1,
):
    """Write ``runs_dir/run_id/events.jsonl`` as the runner would.

    ``epochs``: per-epoch metrics dicts; ``finished``: a run_finished status or None.
    """
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    clock = iter(start + i for i in range(1000))
    with EventWriter(run_dir / "events.jsonl", clock=lambda: next(clock)) as writer:
        writer.emit(
            "run_started",
            config=config or {"epochs": len(epochs), "optimizer": {"name": "adamw"}},
            dataset={"name": "mnist-mini", "source": "bundled", "notice": None},
            epochs=first_epoch - 1 + len(epochs),
            pid=pid if pid is not None else dead_pid(),
            host=host,
        )
        for number, metrics in enumerate(epochs, start=first_epoch):
            writer.emit(
                "epoch_ended",
                epoch=number,
                metrics=metrics,
                learning_rate=0.1 / number,
                epoch_seconds=2.0,
                samples_per_s=100.0,
                early_stopping=None,
                plateau=None,
                checkpoint_saved=False,
            )
            for change in lr_changes:
                if change["epoch"] == number:
                    writer.emit("lr_changed", **change)
        if finished is not None:
            writer.emit(
                "run_finished",
                status=finished,
                best_epoch=1,
                best={"monitor": "val_loss", "value": 0.5},
                test=test,
                duration_s=10.0,
                epochs_run=len(epochs),
                error="boom" if finished == "failed" else None,
            )
    return run_dir


def metrics(loss, val_loss, accuracy=0.9, val_accuracy=0.8):
    return {"loss": loss, "accuracy": accuracy, "val_loss": val_loss, "val_accuracy": val_accuracy}


# ----------------------------------------------------------------------------- listing


def test_list_runs_sorted_by_start_with_statuses(tmp_path):
    make_run(tmp_path, "b-first", start=100.0, epochs=[metrics(1, 1)], finished="completed")
    make_run(tmp_path, "a-second", start=200.0, epochs=[metrics(1, 1)], finished="early_stopped")
    make_run(tmp_path, "d-live", start=300.0, epochs=[metrics(1, 1)], pid=os.getpid())
    make_run(tmp_path, "c-dead", start=400.0, epochs=[metrics(1, 1)])
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "stray.txt").write_text("x")
    listed = runs.list_runs(tmp_path)
    assert [r.run_id for r in listed] == ["b-first", "a-second", "d-live", "c-dead"]
    assert [r.status for r in listed] == ["completed", "early_stopped", "running", "unfinished"]
    assert [r.started for r in listed] == [100.0, 200.0, 300.0, 400.0]
    assert runs.list_runs(tmp_path / "missing") == []


def test_status_of_a_run_written_on_another_host_follows_the_file_age(tmp_path):
    run_dir = make_run(tmp_path, "remote", start=1.0, epochs=[metrics(1, 1)], host="elsewhere")
    events_path = run_dir / "events.jsonl"
    assert runs.load_run(run_dir).status == "running"  # written just now
    old = time.time() - runs.STALE_AFTER_S - 10
    os.utime(events_path, (old, old))
    assert runs.load_run(run_dir).status == "unfinished"
    # slow epochs stretch the window to 3x the longest epoch
    events = read_events(events_path)
    events[-1]["epoch_seconds"] = runs.STALE_AFTER_S
    assert runs.run_status(events, mtime=old) == "running"
    assert runs.run_status(events, mtime=old, now=old + 3 * runs.STALE_AFTER_S + 1) == (
        "unfinished"
    )
    assert runs.run_status([]) == "empty"


def test_a_resumed_run_counts_both_parts(tmp_path):
    run_dir = make_run(
        tmp_path, "r", start=10.0, epochs=[metrics(2, 2), metrics(1.5, 1.6)], finished="interrupted"
    )
    assert runs.load_run(run_dir).status == "interrupted"
    # resumed in another process, still running
    make_run(tmp_path, "r", start=50.0, epochs=[metrics(1, 1.2)], first_epoch=3, pid=os.getpid())
    info = runs.load_run(run_dir)
    assert info.status == "running"  # the earlier run_finished belongs to the first part
    assert info.resumes == 1 and info.started == 10.0
    assert [row["epoch"] for row in info.history] == [1, 2, 3] and info.epochs_run == 3
    # ...and then finished
    with EventWriter(run_dir / "events.jsonl") as writer:
        writer.emit("run_finished", status="completed", duration_s=5.0, test={"accuracy": 0.9})
    info = runs.load_run(run_dir)
    assert info.status == "completed" and info.duration_s == 15.0
    assert info.test_metrics == {"accuracy": 0.9}


def test_run_info_fields(tmp_path):
    config = {"epochs": 3, "optimizer": {"name": "sgd", "learning_rate": 0.1}}
    change = {"epoch": 2, "old": 0.05, "new": 0.005, "reason": "plateau"}
    run_dir = make_run(
        tmp_path,
        "x",
        start=7.0,
        epochs=[metrics(1.0, 0.9), metrics(0.5, math.nan), metrics(0.4, 0.7, 0.95, 0.85)],
        finished="completed",
        config=config,
        lr_changes=[change],
        test={"loss": 0.3, "accuracy": 0.97},
    )
    with EventWriter(run_dir / "events.jsonl") as writer:
        writer.emit("notice", level="warning", message="offline: mnist-mini")
    info = runs.load_run("x", tmp_path)
    assert info.run_id == "x" and info.path == run_dir
    assert info.config == config and info.epochs == 3
    assert info.dataset["name"] == "mnist-mini"
    assert info.epochs_run == 3
    assert info.final_metrics == metrics(0.4, 0.7, 0.95, 0.85)
    assert info.test_metrics == {"loss": 0.3, "accuracy": 0.97}
    assert info.best == {"monitor": "val_loss", "value": 0.5, "epoch": 1}
    assert info.finished is not None and info.duration_s == 10.0
    assert [(c["epoch"], c["reason"]) for c in info.lr_changes] == [(2, "plateau")]
    assert [n["message"] for n in info.notices] == ["offline: mnist-mini"]
    assert info.metric_names == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert info.curve("learning_rate") == [(1, 0.1), (2, 0.05), (3, 0.1 / 3)]
    assert info.curve("val_loss")[0] == (1, 0.9) and math.isnan(info.curve("val_loss")[1][1])


def test_best_without_run_finished_comes_from_the_epochs(tmp_path):
    run_dir = make_run(
        tmp_path, "y", start=1.0, epochs=[metrics(1, 0.9), metrics(1, math.nan), metrics(1, 0.95)]
    )
    assert runs.load_run(run_dir).best == {"monitor": "val_loss", "value": 0.9, "epoch": 1}
    with EventWriter(run_dir / "events.jsonl") as writer:  # early stopping's status wins
        writer.emit(
            "epoch_ended",
            epoch=4,
            metrics=metrics(1, 0.99),
            early_stopping={"monitor": "val_accuracy", "best": 0.8, "best_epoch": 2},
        )
    assert runs.load_run(run_dir).best == {"monitor": "val_accuracy", "value": 0.8, "epoch": 2}


def test_a_run_with_only_a_summary(tmp_path):
    run_dir = tmp_path / "old"
    run_dir.mkdir()
    runs.write_summary(
        run_dir,
        {"status": "nan", "epochs_run": 4, "best": {"monitor": "val_loss", "value": 0.2},
         "best_epoch": 3, "final": {"loss": math.nan}, "test": None, "duration_s": 9.5},
    )  # fmt: skip
    info = runs.load_run(run_dir)
    assert (info.status, info.epochs_run, info.duration_s) == ("nan", 4, 9.5)
    assert info.best == {"monitor": "val_loss", "value": 0.2, "epoch": 3}
    assert math.isnan(info.final_metrics["loss"])


# ----------------------------------------------------------------------------- load_run


def test_load_run_by_id_path_events_file_and_prefix(tmp_path):
    run_dir = make_run(tmp_path, "20250101-120000-abcdef", start=1.0, finished="completed")
    make_run(tmp_path, "20250102-120000-123456", start=2.0, finished="completed")
    for given in (
        "20250101-120000-abcdef",
        run_dir,
        str(run_dir),
        run_dir / "events.jsonl",
        "20250101",
    ):
        assert runs.load_run(given, tmp_path).path == run_dir
    with pytest.raises(RunError, match=r"ambiguous.*20250101-120000-abcdef"):
        runs.load_run("2025", tmp_path)
    with pytest.raises(RunError, match="no run 'nope'"):
        runs.load_run("nope", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match="not a run directory"):
        runs.load_run(tmp_path / "empty", tmp_path)


# ----------------------------------------------------------------------------- compare, export


def test_compare_rows_and_curves(tmp_path):
    a = make_run(
        tmp_path, "a", start=1.0, epochs=[metrics(1.0, 0.9), metrics(0.8, 0.7)],
        finished="completed", test={"accuracy": 0.97, "loss": 0.1},
    )  # fmt: skip
    make_run(tmp_path, "b", start=2.0, epochs=[{"loss": 2.0, "mae": 0.3}], pid=os.getpid())
    table = runs.compare([runs.load_run(a), "b"], runs_dir=tmp_path)
    assert table.columns == [
        "run_id", "status", "epochs_run", "best_monitor", "best_value", "best_epoch",
        "final_loss", "final_accuracy", "final_val_loss", "final_val_accuracy", "final_mae",
        "test_loss", "test_accuracy", "duration_s",
    ]  # fmt: skip
    row_a, row_b = table.rows
    assert row_a == {
        "run_id": "a", "status": "completed", "epochs_run": 2, "best_monitor": "val_loss",
        "best_value": 0.5, "best_epoch": 1, "final_loss": 0.8, "final_accuracy": 0.9,
        "final_val_loss": 0.7, "final_val_accuracy": 0.8, "final_mae": None,
        "test_loss": 0.1, "test_accuracy": 0.97, "duration_s": 10.0,
    }  # fmt: skip
    assert row_b["status"] == "running" and row_b["final_mae"] == 0.3
    assert row_b["final_accuracy"] is None and row_b["test_accuracy"] is None
    assert row_b["best_monitor"] == "loss" and row_b["best_value"] == 2.0
    assert table.curves["val_loss"] == {"a": [(1, 0.9), (2, 0.7)], "b": []}
    assert table.curves["learning_rate"]["a"] == [(1, 0.1), (2, 0.05)]
    assert set(table.curves) == {
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "mae",
        "learning_rate",
    }


def test_export_csv_one_row_per_epoch(tmp_path):
    values = [metrics(1.0, 0.9), metrics(1 / 3, math.nan), {"loss": 0.25}]
    make_run(tmp_path, "e", start=1.0, epochs=values, finished="completed")
    text = runs.export_csv("e", runs_dir=tmp_path)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_seconds"
    ]  # fmt: skip
    assert [row[0] for row in rows[1:]] == ["1", "2", "3"]
    assert float(rows[2][1]) == 1 / 3  # full precision
    assert rows[2][3] == "nan"
    assert rows[3][2:5] == ["", "", ""]  # values the epoch lacks
    assert [float(row[5]) for row in rows[1:]] == [0.1, 0.05, 0.1 / 3]
    assert all(float(row[6]) == 2.0 for row in rows[1:])


# ----------------------------------------------------------------------------- atomic files


def test_summary_and_state_round_trip(tmp_path):
    summary = {"status": "nan", "best": {"value": math.inf}, "final": {"loss": math.nan}}
    path = runs.write_summary(tmp_path, summary)
    assert path == tmp_path / "summary.json"
    json.loads(path.read_text(), parse_constant=lambda t: pytest.fail(f"bare {t}"))
    back = runs.read_summary(tmp_path)
    assert back["status"] == "nan" and back["best"]["value"] == math.inf
    assert math.isnan(back["final"]["loss"])
    assert runs.read_summary(tmp_path / "none") is None

    state = {"epoch": 3, "early_stopping": {"best": None, "wait": 1}, "seed": 42}
    runs.save_resume_state(tmp_path, state)
    assert runs.load_resume_state(tmp_path) == state
    with pytest.raises(RunError, match=r"cannot resume.*state\.json"):
        runs.load_resume_state(tmp_path / "none")
    (tmp_path / "state.json").write_text('{"epoch": 3')  # damaged
    with pytest.raises(RunError, match="damaged"):
        runs.load_resume_state(tmp_path)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    runs.write_summary(tmp_path, {"status": "completed"})

    def broken_replace(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        runs.write_summary(tmp_path, {"status": "failed"})
    assert runs.read_summary(tmp_path) == {"status": "completed"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_copy_file_atomically_copies_and_a_failed_copy_keeps_the_old_file(tmp_path, monkeypatch):
    source, target = tmp_path / "best.keras", tmp_path / "last.keras"
    source.write_bytes(bytes(range(256)) * 100)
    target.write_bytes(b"old")
    assert runs.copy_file_atomically(source, target) == target
    assert target.read_bytes() == source.read_bytes()

    source.write_bytes(b"newer")

    def half_copy(src, dst):
        with open(dst, "wb") as handle:
            handle.write(b"ne")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs.shutil, "copyfile", half_copy)
    with pytest.raises(OSError, match="No space"):
        runs.copy_file_atomically(source, target)
    assert target.read_bytes() == bytes(range(256)) * 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.keras", "last.keras"]


# ----------------------------------------------------------------------------- new runs


def test_new_run_dir_generated_and_named(tmp_path):
    config = SimpleNamespace(runs_dir=str(tmp_path / "runs"), run_name="")
    first, second = runs.new_run_dir(config), runs.new_run_dir(config)
    for made in (first, second):
        assert made.is_dir() and made.parent == tmp_path / "runs"
        assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", made.name)
        assert list(made.iterdir()) == []  # no config.toml without to_toml
    assert first != second
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(
        [first.name, second.name]
    )  # the probe file is gone
    named = runs.new_run_dir(SimpleNamespace(runs_dir=str(tmp_path / "runs"), run_name="exp1"))
    assert named == tmp_path / "runs" / "exp1"
    with pytest.raises(RunError, match="exists: resume it with --resume"):
        runs.new_run_dir(SimpleNamespace(runs_dir=str(tmp_path / "runs"), run_name="exp1"))
    with pytest.raises(RunError, match="not a plain name"):
        runs.new_run_dir(SimpleNamespace(runs_dir=str(tmp_path / "runs"), run_name="../up"))


def test_new_run_dir_writes_config_toml(tmp_path):
    config_module = pytest.importorskip("kerasdl.config")
    config = config_module.TrainConfig(runs_dir=str(tmp_path), run_name="with-config")
    run_dir = runs.new_run_dir(config)
    text = (run_dir / "config.toml").read_text()
    assert text == config.to_toml()
    assert config_module.TrainConfig.from_toml(run_dir / "config.toml") == config


def test_runs_dir_that_is_a_file(tmp_path):
    (tmp_path / "runs").write_text("in the way")
    with pytest.raises(RunError, match="is a file, not a directory"):
        runs.new_run_dir(SimpleNamespace(runs_dir=str(tmp_path / "runs"), run_name=""))
    with pytest.raises(RunError, match="cannot create runs directory"):
        runs.check_writable(tmp_path / "runs" / "below")


def _unprivileged_python():
    """A command running Python without the right to write into read-only folders, or None.

    Root may write anywhere (CAP_DAC_OVERRIDE); ``setpriv`` drops that right for a child.
    """
    if not hasattr(os, "geteuid"):
        return None
    if os.geteuid() != 0:
        return [sys.executable]
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    caps = "-dac_override,-dac_read_search"
    command = [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}", sys.executable]
    if subprocess.run([*command, "-c", "pass"], capture_output=True).returncode != 0:
        return None
    return command


_READ_ONLY_SCRIPT = """
import sys
from types import SimpleNamespace
from kerasdl.runs import RunError, check_writable, new_run_dir
locked = sys.argv[1]
for attempt in (
    lambda: new_run_dir(SimpleNamespace(runs_dir=locked, run_name="")),
    lambda: check_writable(locked + "/runs"),
):
    try:
        attempt()
        print("no error")
    except RunError as error:
        print(error)
"""


def test_read_only_runs_dir(tmp_path):
    command = _unprivileged_python()
    if command is None:
        pytest.skip("cannot drop the right to write into read-only folders here")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        out = subprocess.run(
            [*command, "-c", _READ_ONLY_SCRIPT, str(locked)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.splitlines()
    finally:
        locked.chmod(0o755)
    assert out == [
        f"runs directory {locked} is not writable: Permission denied",
        f"cannot create runs directory {locked}/runs: Permission denied",
    ]
    assert list(locked.iterdir()) == []


def test_probe_failure_is_reported_before_any_run_dir(tmp_path, monkeypatch):
    """A directory that exists but refuses files (read-only mount, quota): the probe fails."""

    def refuse(path, *args, **kwargs):
        raise OSError(30, "Read-only file system", str(path))

    monkeypatch.setattr(runs, "open", refuse, raising=False)
    with pytest.raises(RunError, match=r"runs directory .* is not writable: Read-only file system"):
        runs.new_run_dir(SimpleNamespace(runs_dir=str(tmp_path), run_name="x"))
    assert list(tmp_path.iterdir()) == []


def test_damaged_files_do_not_hide_runs(tmp_path):
    good = make_run(tmp_path, "good", start=1.0, epochs=[metrics(1, 1)], finished="completed")
    (good / "summary.json").write_text("{half a summ")
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "events.jsonl").write_text(
        '{"type": "run_started", "time": 2.0, "config": "not a dict", "epochs": "3"}\n'
        '{"type": "epoch_ended", "epoch": "1", "metrics": {"loss": 1.0}}\n'
        '{"type": "epoch_ended", "epoch": 2, "metrics": [1, 2]}\n'
        '{"type": "run_finished", "status": "completed", "best": 3, "test": "x"}\n'
    )
    listed = runs.list_runs(tmp_path)
    assert [(r.run_id, r.status) for r in listed] == [("good", "completed"), ("odd", "completed")]
    odd_info = listed[1]
    assert odd_info.config is None and odd_info.epochs is None and odd_info.test_metrics is None
    assert [row["epoch"] for row in odd_info.history] == [2]  # "1" is not an epoch number
    assert odd_info.history[0]["metrics"] == {} and odd_info.best is None
