"""A real run: kerasdl.runner.train on mnist-mini inside the dashboard, stopped with ``s``."""

import importlib.util
import os
import sys
import threading

import pytest
from conftest import widget_text

from kerasdl_tui.app import DashboardApp
from kerasdl_tui.messages import SourceEnded

pytestmark = [
    pytest.mark.tf_only,
    pytest.mark.skipif(
        importlib.util.find_spec("kerasdl.runner") is None,
        reason="kerasdl.runner.train (issue 5) is not there yet",
    ),
]


async def wait_until(pilot, condition, timeout=120.0, step=0.05):
    for _ in range(int(timeout / step)):
        if condition():
            return
        await pilot.pause(step)
    raise AssertionError("condition not reached in time")


@pytest.mark.asyncio
async def test_s_stops_a_real_mnist_mini_run_after_its_epoch(tmp_path):
    from kerasdl.config import TrainConfig
    from kerasdl.events import read_events

    config = TrainConfig().override(
        {"data.name": "mnist-mini", "epochs": 2, "runs_dir": str(tmp_path), "run_name": "real"}
    )
    app = DashboardApp.for_training(config, ui_niceness=3)
    ui_thread = threading.get_native_id()
    nice_before = os.getpriority(os.PRIO_PROCESS, ui_thread)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert "loading TensorFlow" in widget_text(app, "#header")
        # Ask for the stop as soon as the run has started: epoch 1 (with its compilation) is
        # still running, so the run ends after epoch 1 of 2.
        await wait_until(pilot, lambda: screen.state.started is not None)
        if sys.platform.startswith("linux"):  # while training, the UI thread yields to it
            assert os.getpriority(os.PRIO_PROCESS, ui_thread) == min(19, nice_before + 3)
        await pilot.press("s")
        assert screen.stop_event.is_set()
        await wait_until(pilot, lambda: screen.outcome is not None)
        await pilot.pause()
        assert isinstance(screen.outcome, SourceEnded) and screen.outcome.error is None
        summary = screen.outcome.result
        assert summary.status == "stopped" and summary.epochs_run == 1

        header = widget_text(app, "#header")
        assert "stopped" in header and "real" in header and "mnist-mini" in header
        # The screen shows what the run wrote to its events file.
        events = read_events(tmp_path / "real" / "events.jsonl")
        assert events[0]["type"] == "run_started"
        assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "stopped"
        (epoch,) = [e for e in events if e["type"] == "epoch_ended"]
        table = widget_text(app, "#metrics")
        assert f"{epoch['metrics']['val_loss']:.4f}" in table
        assert f"{epoch['metrics']['val_accuracy']:.4f}" in table
        assert (tmp_path / "real" / "last.keras").is_file()
        log = screen.query_one("#log").texts
        assert any("stop requested: the run ends after this epoch" in t for t in log)
        assert any("stopped on request after epoch 1" in t for t in log)
        test = summary.test
        assert f"accuracy {test['accuracy']:.4f}" in widget_text(app, "#progress")
        await pilot.press("q")  # the run is over: no question
        await pilot.pause()
    assert app.return_value is screen.outcome
    if getattr(os, "geteuid", lambda: -1)() == 0:  # only a privileged process may raise it back
        assert os.getpriority(os.PRIO_PROCESS, ui_thread) == nice_before
