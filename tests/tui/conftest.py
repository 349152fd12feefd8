"""Helpers for the dashboard's tests: what the screen shows, as text."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tui_scenarios

import tui_scenarios

FROZEN_NOW = tui_scenarios.T0 + 192.0  # "elapsed 00:03:12" on a live run


def frozen_clock():
    return FROZEN_NOW


def screen_lines(app) -> list[str]:
    """The current screen as the terminal shows it: one string per row."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def screen_text(app) -> str:
    return "\n".join(screen_lines(app))


def widget_text(app, selector: str) -> str:
    """The rows and columns of the screen that a widget covers (border included)."""
    region = app.screen.query_one(selector).region
    lines = screen_lines(app)[region.y : region.bottom]
    return "\n".join(line[region.x : region.right] for line in lines)


async def wait_until(pilot, condition, timeout=5.0):
    """Let the app run until ``condition()`` holds (polled every 10 ms), at most ``timeout`` s."""
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError("condition not reached in time")


async def settle(pilot, app=None) -> None:
    """Wait until the source workers are done and every message has been handled."""
    app = app or pilot.app
    await app.workers.wait_for_complete()
    # Then the messages the workers posted and the refreshes they caused (a DataTable scrolls
    # to its cursor after a refresh): wait until two drawings in a row are the same, so a slow
    # or busy machine does not snapshot a half-drawn screen.
    previous = None
    for _ in range(50):
        await pilot.pause(0.02)
        await pilot.wait_for_scheduled_animations()
        current = app.export_screenshot()
        if current == previous:
            return
        previous = current
    raise AssertionError("the screen did not settle within 50 rounds")


@pytest.fixture
def scenarios():
    return tui_scenarios
