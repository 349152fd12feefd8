"""Snapshots (pytest-textual-snapshot) of the run screen and the runs browser, 80x24 and 120x40.

The clock is frozen and the runs are scripted, so the pictures are the same on every run.
Update them after a deliberate change with ``pytest tests/tui --snapshot-update`` and look at
the SVGs in ``tests/tui/__snapshots__/`` before committing them.
"""

import pytest
from conftest import frozen_clock, settle

from kerasdl_tui.app import DashboardApp
from kerasdl_tui.sources import ScriptedSource

SIZES = [(80, 24), (120, 40)]
IDS = ["80x24", "120x40"]


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_run_screen_stopped_early(snap_compare, scenarios, size):
    app = DashboardApp(source=ScriptedSource(scenarios.stops_early()), clock=frozen_clock)
    assert snap_compare(app, terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_run_screen_training(snap_compare, scenarios, size):
    events = scenarios.running_at_epoch_9()
    source = ScriptedSource(events, hold_after=len(events))

    async def run_before(pilot):
        while source.played < len(events):
            await pilot.pause(0.01)
        await pilot.pause()

    app = DashboardApp(source=source, clock=frozen_clock)
    try:
        assert snap_compare(app, terminal_size=size, run_before=run_before)
    finally:
        source.release()


def make_runs(scenarios, runs_dir):
    """Three finished runs with distinct ids and start times."""
    scripts = [
        ("20250101-120000-aaaaaa", scenarios.stops_early),
        ("20250101-130000-bbbbbb", scenarios.warmup_plateau),
        ("20250101-140000-cccccc", scenarios.nan_run),
    ]
    for index, (run_id, script) in enumerate(scripts):
        events = []
        for event in script():
            event = {**event, "run_id": run_id, "time": event["time"] + 3600 * index}
            events.append(event)
        scenarios.write_run(runs_dir / run_id, events)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_runs_browser_with_two_runs_overlaid(snap_compare, scenarios, size, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the title shows the runs directory: keep it "runs"
    make_runs(scenarios, tmp_path / "runs")

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("space", "down", "space")
        await pilot.pause()

    app = DashboardApp(runs_dir="runs", clock=frozen_clock)
    assert snap_compare(app, terminal_size=size, run_before=run_before)
