"""The runs browser: the runs of a directory, selection, overlaid curves, opening a run."""

import pytest
from conftest import frozen_clock, settle, wait_until, widget_text
from test_dashboard_snapshots import make_runs

from kerasdl_tui.app import DashboardApp
from kerasdl_tui.screens.run import RunScreen
from kerasdl_tui.screens.runs import RunsScreen


@pytest.mark.asyncio
async def test_browser_lists_selects_overlays_and_opens(scenarios, tmp_path):
    runs_dir = tmp_path / "runs"
    make_runs(scenarios, runs_dir)
    app = DashboardApp(runs_dir=runs_dir, clock=frozen_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = widget_text(app, "#runs")
        rows = [line for line in table.splitlines() if "20250101-" in line]
        # Newest first, with state, epochs run/planned and the best value @ epoch.
        assert [r.split()[1] for r in rows] == [
            "20250101-140000-cccccc",
            "20250101-130000-bbbbbb",
            "20250101-120000-aaaaaa",
        ]
        assert "NaN" in rows[0] and "4/10" in rows[0] and "1.6000 @2" in rows[0]
        assert "finished" in rows[1] and "16/16" in rows[1] and "0.0850 @14" in rows[1]
        assert "early-stopped" in rows[2] and "12/20" in rows[2] and "0.9712" in rows[2]
        assert "3 runs · 0 selected" in widget_text(app, "#runs-title")
        assert "select runs (space)" in widget_text(app, "#overlay")

        await pilot.press("down", "space", "down", "space")  # bbbbbb and aaaaaa
        await pilot.pause()
        screen = app.screen
        assert list(screen.selected) == ["20250101-130000-bbbbbb", "20250101-120000-aaaaaa"]
        overlay = widget_text(app, "#overlay")
        assert "overlay: val_loss" in overlay
        assert "━ 20250101-130000-bbbbbb ━ 20250101-120000-aaaaaa" in overlay
        # The x axis runs to the longest run (16 epochs); the y axis spans both runs.
        assert "16 │" in overlay
        values = [
            e["metrics"]["val_loss"]
            for script in (scenarios.warmup_plateau, scenarios.stops_early)
            for e in script()
            if e["type"] == "epoch_ended"
        ]
        assert f"{max(values):.4f}" in overlay.splitlines()[1]
        assert f"{min(values):.4f}" in overlay.splitlines()[-3]
        assert sum(line.count("●") for line in widget_text(app, "#runs").splitlines()) == 2

        await pilot.press("m")
        await pilot.pause()
        assert "overlay: loss" in widget_text(app, "#overlay")
        await pilot.press("space")  # aaaaaa out again
        await pilot.pause()
        assert list(screen.selected) == ["20250101-130000-bbbbbb"]

        await pilot.press("up", "enter")  # open bbbbbb
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        await wait_until(pilot, lambda: app.screen.state.finished is not None)
        await pilot.pause()
        header = widget_text(app, "#header")
        assert "20250101-130000-bbbbbb" in header and "replay" in header
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)


@pytest.mark.asyncio
async def test_click_on_the_highlighted_row_selects_it(scenarios, tmp_path):
    make_runs(scenarios, tmp_path / "runs")
    app = DashboardApp(runs_dir=tmp_path / "runs", clock=frozen_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs")
        # Row 0 is highlighted: one click on it selects it (the header is the first line).
        await pilot.click(table, offset=(5, 2))
        await pilot.pause()
        assert list(app.screen.selected) == ["20250101-140000-cccccc"]


@pytest.mark.asyncio
async def test_empty_runs_directory(tmp_path):
    app = DashboardApp(runs_dir=tmp_path / "nothing", clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "no runs yet" in widget_text(app, "#runs-title")
        assert "no runs yet: train one with kerasdl train" in widget_text(app, "#overlay")
        await pilot.press("enter")  # nothing to open
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
