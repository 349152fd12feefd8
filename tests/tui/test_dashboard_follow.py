"""Follow mode: the screen catches up with an events.jsonl that another writer appends to."""

import json

import pytest
from conftest import frozen_clock, wait_until, widget_text

from kerasdl.events import encode_event
from kerasdl_tui.app import DashboardApp
from kerasdl_tui.sources import FileSource


def append(path, events):
    with open(path, "a", encoding="utf-8") as handle:
        for event in events:
            handle.write(encode_event(event) + "\n")


@pytest.mark.asyncio
async def test_follow_catches_up_with_a_growing_file(scenarios, tmp_path):
    events = [e for e in scenarios.stops_early() if e["type"] != "batch"]
    ends = [i for i, e in enumerate(events) if e["type"] == "epoch_ended"]
    path = tmp_path / scenarios.RUN_ID / "events.jsonl"
    path.parent.mkdir()
    app = DashboardApp(source=FileSource(path.parent, poll_s=0.02), clock=frozen_clock)
    async with app.run_test(size=(100, 30)) as pilot:
        state = app.screen.state
        await pilot.pause(0.1)
        # No file yet: it waits for it.
        assert "waiting for" in widget_text(app, "#header") and "events.jsonl" in str(
            app.screen.source.path
        )

        append(path, events[: ends[2] + 1])  # run_started and epochs 1-3
        await wait_until(pilot, lambda: state.epochs_done == 3)
        await pilot.pause()
        assert "following" in widget_text(app, "#header")
        assert "epoch  3/20" in widget_text(app, "#progress")

        # Epoch 4 arrives in two writes: until its newline, the screen stays at epoch 3.
        line = encode_event(events[ends[3]]) + "\n"
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line[: len(line) // 2])
        await pilot.pause(0.15)
        assert state.epochs_done == 3
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line[len(line) // 2 :])
        await wait_until(pilot, lambda: state.epochs_done == 4)
        await pilot.pause()
        assert "epoch  4/20" in widget_text(app, "#progress")
        assert json.loads(line)["epoch"] == 4

        append(path, events[ends[3] + 1 :])  # the rest, to run_finished
        await wait_until(pilot, lambda: state.finished is not None)
        await pilot.pause()
        header = widget_text(app, "#header")
        assert "early-stopped" in header and "replay" in header
        assert "stopped at epoch 12" in " ".join(widget_text(app, "#early-stopping").split())
        assert any(
            "after epoch 10: lr 0.001 -> 0.0005" in t for t in app.screen.query_one("#log").texts
        )


@pytest.mark.asyncio
async def test_a_writer_that_died_shows_as_unfinished(scenarios, tmp_path, monkeypatch):
    run_dir = tmp_path / "dead"
    events = [e for e in scenarios.running_at_epoch_9() if e["type"] != "batch"]
    events[0] = {**events[0], "pid": 2**22 + 12345, "host": __import__("socket").gethostname()}
    run_dir.mkdir()
    append(run_dir / "events.jsonl", events)
    app = DashboardApp(source=FileSource(run_dir, poll_s=0.02), clock=frozen_clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.screen.state.epochs_done == 9)
        app.screen._tick()  # the one-second timer's work, now
        await pilot.pause()
        assert "unfinished" in widget_text(app, "#header")
        assert any("has ended without finishing" in t for t in app.screen.query_one("#log").texts)
