"""The dashboard's system line: absent without ``system`` events (the screen as before), then
the latest sample's CPU, RSS and GPU under the progress bars, at 80 and 120 columns; a bad
sample shows dashes, never its text."""

import pytest
from conftest import frozen_clock, settle, widget_text

from kerasdl_tui.app import DashboardApp
from kerasdl_tui.sources import ScriptedSource

SIZES = [(80, 24), (120, 40)]


def _with_samples(events, samples):
    """``events`` with ``samples`` as system events right after the first epoch."""
    cut = next(i for i, e in enumerate(events) if e["type"] == "epoch_ended")
    time = events[cut]["time"]
    system = [
        {"schema": 1, "type": "system", "time": time + 0.1 * i, "run_id": events[0].get("run_id"),
         **sample}
        for i, sample in enumerate(samples)
    ]  # fmt: skip
    return events[: cut + 1] + system + events[cut + 1 :]


@pytest.mark.asyncio
@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
async def test_the_latest_sample_is_shown_under_the_progress(scenarios, size):
    events = _with_samples(
        scenarios.running_at_epoch_9(),
        [
            {"cpu_percent": 50.0, "cpu_count": 2, "rss_mb": 500.0, "machine_cpu_percent": 60.0},
            {"cpu_percent": 104.4, "cpu_count": 2, "rss_mb": 786.2, "machine_cpu_percent": 98.0,
             "gpu_memory_mb": 3276.8, "gpu_util_percent": 45.0},
        ],
    )  # fmt: skip
    app = DashboardApp(source=ScriptedSource(events), clock=frozen_clock)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        panel = widget_text(app, "#progress")
        lines = [line.strip() for line in panel.splitlines()]
        assert len(lines) == 3
        assert lines[2].startswith("system CPU 104% · RSS 786 MiB · machine 98%")
        if size[0] >= 120:
            assert "GPU 3.2 GiB 45%" in lines[2]
        assert "epoch" in lines[0] and "batch" in lines[1]  # the bars stay


@pytest.mark.asyncio
async def test_no_system_events_no_system_line(scenarios):
    app = DashboardApp(source=ScriptedSource(scenarios.running_at_epoch_9()), clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        panel = widget_text(app, "#progress")
        assert len(panel.splitlines()) == 2
        assert "system" not in panel


@pytest.mark.asyncio
async def test_a_bad_sample_shows_dashes_and_a_problem_not_its_text(scenarios):
    events = _with_samples(
        scenarios.running_at_epoch_9(), [{"cpu_percent": "\x1b[31mhot", "rss_mb": "NaN"}]
    )
    app = DashboardApp(source=ScriptedSource(events), clock=frozen_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        panel = widget_text(app, "#progress")
        assert "system CPU - · RSS -" in panel
        assert "hot" not in panel
        assert "cpu_percent" in widget_text(app, "#log")  # the problem, said once
