"""Write the SVG screenshots of docs/dashboard.md (not a test: run it after a visible change).

    python tests/tui/make_screenshots.py          # writes docs/dashboard*.svg

The runs are scripted (tui_scenarios) and the clock frozen, as in the snapshot tests.
"""

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import tui_scenarios
from test_dashboard_snapshots import make_runs

from kerasdl_tui.app import DashboardApp
from kerasdl_tui.sources import ScriptedSource

DOCS = Path(__file__).resolve().parents[2] / "docs"
NOW = tui_scenarios.T0 + 192.0


def shoot(app, filename: str, size, before=None) -> Path:
    async def auto_pilot(pilot):
        if before is not None:
            await before(pilot)
        await pilot.pause()
        await pilot.pause()
        app.save_screenshot(filename, path=str(DOCS))
        app.exit()

    app.run(headless=True, size=size, auto_pilot=auto_pilot)
    return DOCS / filename


def main() -> None:
    events = tui_scenarios.showcase()
    source = ScriptedSource(events, hold_after=len(events))

    async def played(pilot):
        while source.played < len(events):
            await pilot.pause(0.01)

    app = DashboardApp(source=source, clock=lambda: NOW)
    app.title = "kerasdl train --ui tui"
    print(shoot(app, "dashboard.svg", (120, 40), played))

    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        make_runs(tui_scenarios, Path(tmp) / "runs")

        async def select(pilot):
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            await pilot.press("space", "down", "space", "down", "space", "l")

        app = DashboardApp(runs_dir="runs", clock=lambda: NOW)
        app.title = "kerasdl dashboard"
        print(shoot(app, "dashboard-runs.svg", (120, 32), select))


if __name__ == "__main__":
    main()
