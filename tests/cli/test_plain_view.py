"""The plain view (`kerasdl.cli.plain.PlainView`) and the text plot of ``runs compare``, fed with
scripted events: what a person reads, line by line. No TensorFlow."""

import io
import math
import re

import pytest
from rich.console import Console

from kerasdl.cli.plain import PlainView, epoch_line, fmt_duration, fmt_lr, fmt_number
from kerasdl.cli.plot import line_plot

RUN_ID = "20250101-120000-abcdef"


def _console(terminal=False, width=200):
    return Console(
        file=io.StringIO(), force_terminal=terminal, width=width, highlight=False, soft_wrap=True
    )


def _started(epochs=6, patience=2, **extra):
    return {
        "type": "run_started",
        "run_id": RUN_ID,
        "config": {
            "runs_dir": "myruns",
            "early_stopping": {"enabled": True, "restore_best_weights": True},
        },
        "dataset": {
            "name": "mnist-mini",
            "source": "bundled mnist-mini",
            "notice": "offline: using the bundled mnist-mini",
            "n_train": 5400,
            "n_val": 600,
            "n_test": 1000,
        },
        "params": 235146,
        "backend": "tensorflow",
        "devices": ["/device:CPU:0"],
        "epochs": epochs,
        "steps_per_epoch": 10,
        "batch_size": 64,
        "optimizer": {"name": "adamw", "learning_rate": 0.001},
        "resumed_from": None,
        **extra,
    }


def _epoch(epoch, val_loss, best, best_epoch, wait, patience=2, stopped=False, lr=0.001):
    return {
        "type": "epoch_ended",
        "run_id": RUN_ID,
        "epoch": epoch,
        "epochs": 6,
        "metrics": {
            "loss": 1.0 / epoch,
            "accuracy": 0.8 + epoch / 100,
            "val_loss": val_loss,
            "val_accuracy": 0.9,
        },
        "learning_rate": lr,
        "early_stopping": {
            "monitor": "val_loss",
            "best": best,
            "best_epoch": best_epoch,
            "wait": wait,
            "patience": patience,
            "epochs_left": patience - wait,
            "stopped": stopped,
        },
        "plateau": None,
        "checkpoint_saved": wait == 0,
        "epoch_seconds": 2.5,
        "samples_per_s": 2160.0,
    }


def _batch(epoch, step, steps=10):
    return {
        "type": "batch",
        "epoch": epoch,
        "step": step,
        "steps": steps,
        "samples_per_s": 1234.0,
        "eta_s": 3.0,
        "metrics": {"loss": 0.5},
    }


def _finished(status="early_stopped", **extra):
    event = {
        "type": "run_finished",
        "run_id": RUN_ID,
        "status": status,
        "best_epoch": 2,
        "best": {"monitor": "val_loss", "value": 0.3},
        "test": {"loss": 0.25, "accuracy": 0.97},
        "duration_s": 75.0,
        "epochs_run": 4,
        "error": None,
    }
    event.update(extra)
    return event


# A run that improves twice, then waits 2 epochs with patience 2 and stops early.
SCRIPT = [
    _started(),
    *[_batch(1, s) for s in (1, 5, 10)],
    _epoch(1, 0.5, 0.5, 1, 0),
    {"type": "notice", "level": "warning", "message": "something to know"},
    {"type": "notice", "level": "warning", "message": "offline: using the bundled mnist-mini"},
    _epoch(2, 0.3, 0.3, 2, 0),
    {"type": "lr_changed", "epoch": 3, "old": 0.001, "new": 0.0005, "reason": "schedule"},
    _epoch(3, 0.4, 0.3, 2, 1, lr=0.0005),
    _epoch(4, 0.45, 0.3, 2, 2, stopped=True, lr=0.0005),
    {"type": "some_future_event", "payload": [1, 2]},
    _finished(),
]


def _render(events, **kwargs):
    console = kwargs.pop("console", None) or _console()
    view = PlainView(console, **kwargs)
    for event in events:
        view(event)
    return view, console.file.getvalue()


def test_scripted_run_prints_header_epoch_lines_and_final_reason():
    view, out = _render(SCRIPT)
    lines = out.splitlines()
    assert "\x1b" not in out  # not a terminal: no control codes, no bar
    assert lines[0].startswith(f"run {RUN_ID} | mnist-mini (bundled mnist-mini)")
    assert "5,400 train, 600 val, 1,000 test" in lines[0] and "235,146 params" in lines[0]
    assert lines[1] == ("adamw lr 0.001 | 6 epochs x 10 steps of 64 | tensorflow on /device:CPU:0")
    assert lines[2] == "[warning] offline: using the bundled mnist-mini"
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == 4
    # Metrics with 4 decimals, in the usual order, then lr, early stopping, checkpoint, time.
    assert epoch_lines[0] == (
        "epoch 1/6  loss 1.0000 acc 0.8100 val_loss 0.5000 val_acc 0.9000  lr 0.001"
        "  best val_loss 0.5000 @ 1, wait 0/2  saved  2.5 s"
    )
    assert "wait 1/2" in epoch_lines[2] and "saved" not in epoch_lines[2]
    assert "lr 0.0005" in epoch_lines[2]
    assert "best val_loss 0.3000 @ 2, wait 2/2 stopping" in epoch_lines[3]
    assert "[warning] something to know" in lines
    assert out.count("offline: using the bundled mnist-mini") == 1  # header and event: once
    assert "  lr 0.001 -> 0.0005 after epoch 3 (schedule)" in lines
    # The end: why, best, test accuracy, where.
    assert lines[-4:] == [
        "Stopped early after epoch 4: val_loss did not improve for 2 epochs (patience 2).",
        "Best val_loss 0.3000 at epoch 2 (weights restored).",
        "Test accuracy 0.9700 (loss 0.2500)",
        f"Run directory: myruns/{RUN_ID} (1m 15s)",
    ]
    assert view.finished["status"] == "early_stopped" and view.last_epoch["epoch"] == 4


def test_run_dir_given_by_the_caller_wins():
    _, out = _render(SCRIPT, run_dir="/elsewhere/r")
    assert out.splitlines()[-1].startswith("Run directory: /elsewhere/r ")


def test_ui_none_prints_only_the_final_lines():
    _, out = _render(SCRIPT, live=False)
    lines = out.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("Stopped early after epoch 4")
    assert lines[2] == "Test accuracy 0.9700 (loss 0.2500)"


def test_terminal_shows_a_progress_bar_per_epoch_then_the_epoch_line():
    console = _console(terminal=True, width=120)
    view = PlainView(console)
    view(_started())
    view(_batch(1, 3))
    assert view._progress is not None
    view._progress.refresh()
    shown = console.file.getvalue()
    assert "3/10" in shown and "1,234 samples/s" in shown and "ETA 3.0 s" in shown
    assert "loss 0.5000" in shown
    view(_batch(1, 7))
    bar = view._progress
    view(_batch(2, 1))  # a new epoch: a new bar
    assert view._progress is not bar
    view(_epoch(2, 0.3, 0.3, 2, 0))
    assert view._progress is None  # the bar is gone, the line stays
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", console.file.getvalue())
    assert "epoch 2/6  loss 0.5000" in plain


def test_close_removes_a_live_bar():
    console = _console(terminal=True)
    view = PlainView(console)
    view(_started())
    view(_batch(1, 1))
    view.close()
    assert view._progress is None


@pytest.mark.parametrize(
    ("status", "extra", "reason"),
    [
        ("completed", {"epochs_run": 6}, "Completed: 6 of 6 epochs ran."),
        ("stopped", {}, "Stopped on request after epoch 4."),
        (
            "nan",
            {"error": "loss is nan"},
            "Stopped in epoch 4: the loss became NaN (loss is nan).",
        ),
        ("interrupted", {"epochs_run": 1}, "Interrupted with 1 epoch complete."),
        ("interrupted", {"epochs_run": 3}, "Interrupted with 3 epochs complete."),
        ("failed", {"error": "ValueError: boom"}, "Failed: ValueError: boom"),
    ],
)
def test_final_reason_for_each_status(status, extra, reason):
    events = [*SCRIPT[:-1], _finished(status, **extra)]
    _, out = _render(events)
    assert out.splitlines()[-4] == reason


@pytest.mark.parametrize(
    ("restored_best", "config_restores", "test", "shown"),
    [
        (True, False, {"loss": 0.2}, True),  # the event's word wins
        (False, True, {"loss": 0.2}, False),
        (None, True, {"loss": 0.2}, True),  # no field: the config and a test run say so
        (None, True, None, False),
        (None, False, {"loss": 0.2}, False),
    ],
)
def test_weights_restored_note(restored_best, config_restores, test, shown):
    started = _started()
    started["config"]["early_stopping"]["restore_best_weights"] = config_restores
    finished = _finished("completed", test=test)
    if restored_best is not None:
        finished["restored_best"] = restored_best
    _, out = _render([started, finished])
    best_line = next(line for line in out.splitlines() if line.startswith("Best "))
    assert best_line.endswith("(weights restored).") == shown


def test_no_test_metrics_and_regression_metrics():
    _, out = _render([_started(), _finished("interrupted", test=None, best=None)])
    assert "Test set not evaluated." in out
    assert "Best " not in out
    _, out = _render([_started(), _finished("completed", test={"loss": 0.5, "mae": 0.25})])
    assert "Test loss 0.5000 mae 0.2500" in out


def test_resumed_run_and_plateau_status_are_shown():
    started = _started(resumed_from=2)
    event = _epoch(3, 0.4, 0.3, 2, 1)
    event["plateau"] = {"best": 0.3, "wait": 1, "patience": 3, "cooldown_left": 2}
    event["metrics"]["val_loss"] = math.nan
    _, out = _render([started, event])
    assert "resumed after epoch 2" in out
    assert "plateau wait 1/3, cooldown 2" in out
    assert "val_loss nan" in out


def test_missing_fields_do_not_break_the_view():
    _, out = _render(
        [
            {"type": "run_started"},
            {"type": "batch"},
            {"type": "epoch_ended"},
            {"type": "lr_changed"},
            {"type": "notice"},
            {"type": "run_finished"},
        ]
    )
    assert "epoch ?/?" in out
    assert "Finished with status None." in out


def test_number_formats():
    assert fmt_number(0.123456) == "0.1235"
    assert fmt_number(12345.0) == "1.234e+04"
    assert fmt_number(0.0001234) == "1.234e-04"
    assert fmt_number(0.0) == "0.0000"
    assert fmt_number(None) == "-"
    assert fmt_number(math.nan) == "nan" and fmt_number("NaN") == "nan"
    assert fmt_number(-math.inf) == "-inf"
    assert fmt_number(7) == "7"
    assert fmt_lr(0.001) == "0.001" and fmt_lr(1.5e-05) == "1.5e-05"
    assert fmt_duration(42.14) == "42.1 s"
    assert fmt_duration(185) == "3m 05s"
    assert fmt_duration(3720) == "1h 02m"


def test_epoch_line_without_early_stopping():
    event = _epoch(1, 0.5, 0.5, 1, 0)
    event["early_stopping"] = None
    event["checkpoint_saved"] = False
    text = epoch_line(event).plain
    assert text == (
        "epoch 1/6  loss 1.0000 acc 0.8100 val_loss 0.5000 val_acc 0.9000  lr 0.001  2.5 s"
    )


# ----------------------------------------------------------------------------- line plot


def _plot(series, width=21, height=5):
    return [line.plain for line in line_plot(series, width=width, height=height)]


def test_line_plot_places_points_by_the_axis_formulas():
    # One series from (1, 0) to (5, 4): with width 21 and height 5, x maps to
    # col = (x - 1) / 4 * 20 and y to row = (4 - y) / 4 * 4, so points sit on the diagonal.
    lines = _plot({"a": [(1, 0.0), (2, 1.0), (3, 2.0), (4, 3.0), (5, 4.0)]})
    grid = lines[:5]
    label_width = len("4.0000")
    body = [line[label_width + 2 :] for line in grid]
    for x, y in [(1, 0.0), (2, 1.0), (3, 2.0), (4, 3.0), (5, 4.0)]:
        col = round((x - 1) / 4 * 20)
        row = round((4.0 - y) / 4 * 4)
        assert body[row][col] == "●", (x, y, body)
    # Between two points, dots; labels at top, middle and bottom.
    assert body[4][2] == "·"
    assert grid[0].startswith("4.0000 ┤") and grid[2].startswith("2.0000 ┤")
    assert grid[4].startswith("0.0000 ┤")
    assert lines[5].strip().startswith("└" + "─" * 21)
    assert lines[6].split() == ["epoch", "1", "5"]


def test_line_plot_two_series_get_their_own_markers_and_skip_nan():
    lines = _plot({"a": [(1, 1.0), (3, 1.0)], "b": [(1, 0.0), (2, math.nan), (3, 0.0)]})
    text = "\n".join(lines)
    assert text.count("●") == 2 and text.count("▲") == 2
    assert "nan" not in text


def test_line_plot_constant_and_empty():
    lines = _plot({"a": [(1, 2.0), (2, 2.0)]})
    assert lines[0].startswith("2.1000") and lines[4].startswith("1.9000")
    assert _plot({"a": []}) == ["(no data)"]
