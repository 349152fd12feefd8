"""The run screen's step curve (``x``: the loss against the global step, from the live batch
events or the run's steps.jsonl) and smoothing (``z`` on/off, ``w`` the next weight)."""

import pytest
from conftest import frozen_clock, settle, wait_until, widget_text

from kerasdl.smoothing import ema_points
from kerasdl.steps import STEPS_FILE, StepRow
from kerasdl_tui.app import DashboardApp
from kerasdl_tui.screens.run import SMOOTHING_WEIGHTS
from kerasdl_tui.sources import FileSource, ScriptedSource


def _plotted(text: str) -> bool:
    return any(0x2800 < ord(ch) <= 0x28FF for ch in text)  # braille dots drawn


@pytest.mark.asyncio
async def test_x_shows_the_live_batch_losses_against_the_global_step(scenarios):
    events = scenarios.stops_early()
    app = DashboardApp(source=ScriptedSource(events), clock=frozen_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        batches = [e for e in events if e["type"] == "batch" and "loss" in e["metrics"]]
        want = {(e["epoch"] - 1) * e["steps"] + e["step"]: e["metrics"]["loss"] for e in batches}
        got = app.screen.step_points()  # the batch messages the screen got (coalesced)
        assert len(got) > 2 and got == sorted(got) and set(got) <= set(want.items())
        await pilot.press("x")
        await pilot.pause()
        text = widget_text(app, "#loss-chart")
        assert "loss per step" in text and _plotted(text)
        await pilot.press("x")
        await pilot.pause()
        assert "loss per step" not in widget_text(app, "#loss-chart")


@pytest.mark.asyncio
async def test_a_followed_run_reads_its_step_history(scenarios, tmp_path):
    run_dir = tmp_path / scenarios.RUN_ID
    scenarios.write_run(run_dir, scenarios.stops_early())
    rows = [
        StepRow(step, 1 + (step - 1) // 10, None, {"loss": 2.0 / step}) for step in range(1, 41)
    ]
    (run_dir / STEPS_FILE).write_text("".join(row.to_line() + "\n" for row in rows))
    app = DashboardApp(source=FileSource(run_dir, poll_s=0.01), clock=frozen_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.screen.state.epochs_done > 0)
        await pilot.press("x")
        await pilot.pause()
        assert app.screen.step_points() == [(r.step, r.metrics["loss"]) for r in rows]
        text = widget_text(app, "#loss-chart")
        assert "loss per step" in text and _plotted(text) and "step" in text


@pytest.mark.asyncio
async def test_z_smooths_and_w_steps_the_weight_raw_points_kept_faint(scenarios):
    app = DashboardApp(source=ScriptedSource(scenarios.stops_early()), clock=frozen_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        chart = app.screen.query_one("#loss-chart")
        raw = [s.points for s in chart.series]
        await pilot.press("z")
        await pilot.pause()
        weight = SMOOTHING_WEIGHTS[0]
        assert f"smoothed {weight:g}" in widget_text(app, "#loss-chart")
        faint, smooth = chart.series[: len(raw)], chart.series[len(raw) :]
        assert [s.points for s in faint] == raw and all("dim" in s.style for s in faint)
        assert [s.points for s in smooth] == [ema_points(p, weight) for p in raw]
        await pilot.press("w")
        await pilot.pause()
        assert app.screen.smoothing == SMOOTHING_WEIGHTS[1]
        assert f"smoothed {SMOOTHING_WEIGHTS[1]:g}" in widget_text(app, "#loss-chart")
        await pilot.press("z")
        await pilot.pause()
        assert [s.points for s in chart.series] == raw
