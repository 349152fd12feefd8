"""The braille line chart, read back dot by dot; and the batch-message coalescing."""

import math
import threading

import pytest
from conftest import frozen_clock, settle, widget_text

from kerasdl_tui.app import DashboardApp
from kerasdl_tui.messages import BatchProgress, RunEvent, message_for
from kerasdl_tui.screens.run import RunScreen
from kerasdl_tui.sources import ScriptedSource
from kerasdl_tui.widgets.line_chart import Marker, Series, plot_lines

# Unicode braille: dot k (1..8) of a cell is bit k-1; dots 1-3 and 7 are the left column
# (rows 0-3), dots 4-6 and 8 the right one.
_BITS = {0x01: (0, 0), 0x02: (0, 1), 0x04: (0, 2), 0x40: (0, 3),
         0x08: (1, 0), 0x10: (1, 1), 0x20: (1, 2), 0x80: (1, 3)}  # fmt: skip


def dots(lines, gutter):
    """The plotted dots as (x, y) in dot coordinates, y down, from the chart's text."""
    found = set()
    for row, line in enumerate(lines[:-1]):  # the last line is the x axis
        for col, ch in enumerate(line.plain[gutter:]):
            code = ord(ch) - 0x2800
            if 0 < code < 256:
                for bit, (dx, dy) in _BITS.items():
                    if code & bit:
                        found.add((2 * col + dx, 4 * row + dy))
    return found


def gutter_of(lines):
    """The width of the y labels: the x axis starts right after them, with epoch 1."""
    return lines[-1].plain.index("1")


def test_a_rising_line_is_continuous_and_spans_the_plot():
    width, height = 40, 9
    lines = plot_lines([Series("s", [(1, 0.0), (10, 1.0)])], width, height, x_range=(1, 10))
    gutter = gutter_of(lines)
    found = dots(lines, gutter)
    plot_w, plot_h = 2 * (width - gutter), 4 * (height - 1)
    xs = sorted({x for x, _ in found})
    assert xs == list(range(plot_w))  # no gap from the first epoch to the last
    assert (0, plot_h - 1) in found and (plot_w - 1, 0) in found  # the two extremes
    # y falls (upwards) as x grows: the line is y = (plot_h - 1) * (1 - x / (plot_w - 1)).
    for x, y in found:
        assert abs(y - (plot_h - 1) * (1 - x / (plot_w - 1))) <= 1.0


def test_log_scale_makes_an_exponential_a_straight_line():
    width, height = 50, 11
    points = [(e, 10.0 ** (-e / 3)) for e in range(1, 13)]
    lines = plot_lines([Series("s", points)], width, height, x_range=(1, 12), log=True)
    gutter = gutter_of(lines)
    found = dots(lines, gutter)
    plot_w, plot_h = 2 * (width - gutter), 4 * (height - 1)
    for x, y in found:
        assert abs(y - (plot_h - 1) * x / (plot_w - 1)) <= 1.0
    # The y labels are the extremes, and the middle one their geometric mean.
    assert lines[0].plain.split()[0] == f"{points[0][1]:.4f}"
    middle = 10 ** ((math.log10(points[0][1]) + math.log10(points[-1][1])) / 2)
    assert lines[(height - 2) // 2].plain.split()[0] == f"{middle:.4f}"
    linear = plot_lines([Series("s", points)], width, height, x_range=(1, 12))
    assert linear != lines


def test_nan_breaks_the_line_and_is_marked():
    points = [(1, 1.0), (2, 0.5), (3, math.nan), (4, 0.4), (5, 0.3)]
    lines = plot_lines([Series("s", points)], 40, 7, x_range=(1, 5))
    gutter = gutter_of(lines)
    crosses = [i for i, ch in enumerate(lines[0].plain) if ch == "✗"]
    assert len(crosses) == 1
    # The cross sits at epoch 3 of 1..5 (the middle of the plot), and no dot joins 2 to 4.
    plot_w = 2 * (40 - gutter)
    middle_col = gutter + round(0.5 * (plot_w - 1)) // 2
    assert crosses == [middle_col]
    found = dots(lines, gutter)
    x2, x4 = round(0.25 * (plot_w - 1)), round(0.75 * (plot_w - 1))
    assert not any(x2 < x < x4 for x, _ in found)


def test_markers_label_the_axis_at_their_epoch():
    lines = plot_lines(
        [Series("s", [(e, 1.0 / e) for e in range(1, 21)])],
        60,
        6,
        x_range=(1, 20),
        markers=[Marker(10.5, "S"), Marker(15.5, "P")],
    )
    axis = lines[-1].plain
    start, end = axis.index("1"), axis.rindex("0")
    for letter, epoch in (("S", 10.5), ("P", 15.5)):
        assert (axis.index(letter) - start) / (end - start) == pytest.approx(
            (epoch - 1) / 19, abs=0.04
        )
    assert sum(line.plain.count("┊") for line in lines[:-1]) >= 6  # dotted marker lines


def test_too_small_or_empty_shows_words():
    assert plot_lines([], 30, 5, empty_text="no data yet")[0].plain == "no data yet"
    tiny = plot_lines([Series("loss", [(1, 0.5), (2, 0.25)])], 10, 2)
    assert tiny[0].plain == "loss 0.2500"[:10]


# ----------------------------------------------------------------------------- messages


def test_batch_messages_replace_only_batch_messages():
    a, b = BatchProgress({"type": "batch", "step": 1}), BatchProgress({"type": "batch"})
    event = RunEvent({"type": "epoch_ended"})
    assert a.can_replace(b) and not a.can_replace(event) and not event.can_replace(a)
    assert isinstance(message_for({"type": "batch"}), BatchProgress)
    assert isinstance(message_for({"type": "lr_changed"}), RunEvent)


@pytest.mark.asyncio
async def test_a_burst_of_batch_events_is_coalesced_and_no_other_event_is_lost(
    scenarios, monkeypatch
):
    handled = {"batch": 0, "events": []}
    on_batch, on_event = RunScreen.on_batch_progress, RunScreen.on_run_event

    def count_batch(self, message):
        handled["batch"] += 1
        on_batch(self, message)

    def count_event(self, message):
        handled["events"].append(message.event["type"])
        on_event(self, message)

    monkeypatch.setattr(RunScreen, "on_batch_progress", count_batch)
    monkeypatch.setattr(RunScreen, "on_run_event", count_event)
    events = scenarios.stops_early()[:1]  # run_started only
    source = ScriptedSource(events, hold_after=1)
    app = DashboardApp(source=source, clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.05)
        screen = app.screen

        def burst():  # as the runner's thread would, without waiting for the screen
            for step in range(1, 501):
                batch = {"type": "batch", "epoch": 1, "step": step, "steps": 500, "metrics": {}}
                screen.post_message(message_for(batch))
            screen.post_message(message_for({"type": "notice", "level": "info", "message": "x"}))

        thread = threading.Thread(target=burst)
        thread.start()
        thread.join()
        source.release()
        await settle(pilot)
        assert handled["events"] == ["run_started", "notice"]
        assert 1 <= handled["batch"] < 500
        assert screen.state.batch["step"] == 500  # the newest one always arrives
        assert "batch 500/500" in widget_text(app, "#progress")
