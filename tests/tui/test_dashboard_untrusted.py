"""Untrusted run directories: terminal controls and markup in a run show inert, never act.

A run directory is shared and copied between people, so every string in it (its name, the
run id, the data name and source, notices, lr-change reasons, metric names, config values,
error messages, statuses) may hold escape sequences (a window title, a cleared screen, an
OSC 8 hyperlink) or Rich/Textual markup. The dashboard must show them as visible text: no
raw control character on any line of the screen (notifications included), the markup written
out literally, and no crash (a stray ``[/red]`` makes Rich's markup parser raise).

Only inertness is checked for the values the event schema may read differently (a status or
an lr-change reason it does not know, a metric value that is not a number): what they become
is the reader's business; that no control character from them reaches the screen is this
file's.
"""

import json
import re

import pytest
from conftest import frozen_clock, screen_lines, screen_text, settle, wait_until, widget_text

from kerasdl_tui.app import DashboardApp
from kerasdl_tui.format import fmt_lr, fmt_number
from kerasdl_tui.screens.run import RunScreen
from kerasdl_tui.screens.runs import RunsScreen
from kerasdl_tui.widgets.line_chart import Series, plot_lines

TITLE = "\x1b]0;pwned\x07"  # sets the terminal's window title
CLEAR = "\x1b[2J"  # clears the screen
OSC8 = "\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\"  # a hyperlink
CSI = "\x9b"  # C1 control sequence introducer
CLOSE = "[/red]"  # makes Rich's markup parser raise
LINK = "[link=http://evil]x[/link]"
BIG = "[bold red]BIG[/]"

# Any C0 or C1 control character, DEL included: none may reach the terminal from run data.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")

# A directory name cannot hold "/": the run directory's name gets the controls, "[bold]".
DIR_NAME = f"20250101-120000-{TITLE}{CLEAR}{CSI}[bold]x"
RUN_ID = f"id{TITLE}{BIG}"
METRIC = f"f1{CLEAR}{CLOSE}"  # a metric name: the second chart's title, a table column
DATA_NAME = f"{CLOSE}mnist{CLEAR}"
DATA_SOURCE = f"{LINK}{CSI}"
NOTICE = f"notice {BIG} {TITLE}"
DATA_NOTICE = f"data {LINK} {OSC8}"
REASON = f"odd{CLEAR}{CLOSE}"  # an lr_changed reason the dashboard does not know
SCHEDULE = f"sched{OSC8}{BIG}"  # the schedule's name: the "schedule" reason's words
ERROR = f"boom {CLOSE} {OSC8} {TITLE}"


def evil_events(run_id=RUN_ID, *, status="failed") -> list[dict]:
    """A short run (2 epochs of 4) whose strings hold controls and markup everywhere."""
    config = {
        "epochs": 4,
        "batch_size": 64,
        "data": {"name": DATA_NAME},
        "optimizer": {"name": f"adam{CSI}", "learning_rate": 0.001},
        "schedule": {"name": SCHEDULE, "warmup_epochs": 0},
        "early_stopping": {
            "enabled": True,
            "monitor": f"val_loss{TITLE}",
            "patience": 3,
            "restore_best_weights": True,
        },
        "plateau": {"enabled": True, "factor": f"0.1{CLEAR}{LINK}", "patience": 2},
    }
    t0 = 1_735_732_800.0

    def event(kind, time, **fields):
        return {"schema": 1, "type": kind, "time": t0 + time, "run_id": run_id, **fields}

    events = [
        event(
            "run_started",
            0.0,
            config=config,
            dataset={"name": DATA_NAME, "source": DATA_SOURCE, "notice": DATA_NOTICE},
            params=1234,
            backend=f"tf{OSC8}",
            devices=[f"CPU:0{CLEAR}", BIG],
            epochs=4,
            steps_per_epoch=10,
            batch_size=64,
            optimizer={"name": f"adam{CSI}{CLOSE}", "learning_rate": 0.001},
            resumed_from=None,
        ),
        event("notice", 0.1, level=f"warning{CLEAR}", message=NOTICE),
    ]
    for epoch, (loss, f1) in enumerate([(0.5, 0.6), (0.4, 0.7)], start=1):
        events.append(
            event(
                "epoch_ended",
                1.0 * epoch,
                epoch=epoch,
                epochs=4,
                metrics={
                    "loss": loss,
                    "val_loss": loss + 0.05,
                    METRIC: f1,
                    f"val_{METRIC}": f"{f1}{TITLE}{BIG}",  # a value that is not a number
                },
                learning_rate=0.001,
                early_stopping={
                    "monitor": f"val_loss{TITLE}",
                    "mode": f"min{CSI}",
                    "best": loss + 0.05,
                    "best_epoch": epoch,
                    "wait": 0,
                    "patience": 3,
                    "epochs_left": 3,
                    "stopped": False,
                },
                plateau={"wait": 0, "patience": f"2{CLEAR}", "learning_rate": f"lr{CSI}"},
                checkpoint_saved=True,
                epoch_seconds=1.0,
            )
        )
    events.append(event("lr_changed", 2.1, epoch=1, old=0.001, new=0.0005, reason="schedule"))
    events.append(event("lr_changed", 2.2, epoch=2, old=0.0005, new=0.0001, reason=REASON))
    events.append(
        event(
            "run_finished",
            3.0,
            status=status,
            best_epoch=2,
            best={"monitor": f"val_loss{TITLE}", "value": 0.45},
            test={f"acc{CLEAR}{BIG}": 0.9},
            duration_s=3.0,
            epochs_run=2,
            error=ERROR,
        )
    )
    return events


def write_events(run_dir, events) -> None:
    run_dir.mkdir(parents=True)
    with open(run_dir / "events.jsonl", "w", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event) + "\n")


def assert_inert(app) -> str:
    """No control character on any line of the screen; returns the screen's text."""
    for number, line in enumerate(screen_lines(app)):
        found = CONTROL.search(line)
        assert found is None, f"raw {found.group()!r} on screen line {number}: {line!r}"
    return screen_text(app)


async def replayed(pilot) -> None:
    """Wait until the run screen has read its whole file and drawn it (a file source keeps
    following, so `settle`, which waits for the workers, would wait for ever)."""
    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
    await wait_until(pilot, lambda: app.screen.state.finished is not None)
    previous = None
    for _ in range(50):
        await pilot.pause(0.02)
        current = app.export_screenshot()
        if current == previous:
            return
        previous = current
    raise AssertionError("the screen did not settle within 50 rounds")


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(200, 60), (80, 24)], ids=["200x60", "80x24"])
async def test_a_replayed_run_shows_controls_and_markup_inert(tmp_path, size):
    run_dir = tmp_path / "runs" / DIR_NAME
    write_events(run_dir, evil_events())
    app = DashboardApp.for_run(run_dir, clock=frozen_clock)  # as `kerasdl dashboard RUN`
    async with app.run_test(size=size, notifications=True) as pilot:
        await replayed(pilot)
        text = assert_inert(app)
        log = app.screen.query_one("#log").texts
        assert all(CONTROL.search(line) is None for line in log)
        # What the file holds is what shows, escapes made visible and markup literal.
        assert any(r"notice [bold red]BIG[/] \x1b]0;pwned\x07" in line for line in log)
        assert any(r"[link=http://evil]x[/link] \x1b]8;;http://evil\x1b\click" in t for t in log)
        assert any(r"boom [/red] \x1b]8;;http://evil" in line for line in log)
        assert "the run failed" in text and "boom [/red]" in text  # the notification
        if size == (200, 60):
            header = widget_text(app, "#header")
            assert r"id\x1b]0;pwned\x07[bold red]BIG[/]" in header
            assert r"[/red]mnist\x1b[2J" in header
            assert r"([link=http://evil]x[/link]\x9b)" in header
            assert r"tf\x1b]8;;http://evil\x1b\click" in header
            assert rf"f1\x1b[2J{CLOSE}" in widget_text(app, "#acc-chart")  # its title
            assert r"f1\x1b[2J[/red]" in widget_text(app, "#metrics")  # a column
            assert r"val_loss\x1b]0;pwned\x07" in widget_text(app, "#early-stopping")
            assert r"sched\x1b]8;;" in widget_text(app, "#lr-chart")  # the legend
        await pilot.press("l")  # the loss chart's title changes: still inert
        await pilot.pause()
        assert_inert(app)


@pytest.mark.asyncio
async def test_the_runs_browser_shows_controls_and_markup_inert(tmp_path):
    runs_dir = tmp_path / "runs"
    write_events(runs_dir / DIR_NAME, evil_events(status=f"weird{CLEAR}{CLOSE}"))
    write_events(runs_dir / "20250101-130000-plain", evil_events("plain", status="completed"))
    app = DashboardApp(runs_dir=runs_dir, clock=frozen_clock)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        table = widget_text(app, "#runs")
        assert r"20250101-120000-\x1b]0;pwned\x07\x1b[2J\x9b[bold]x" in table
        await pilot.press("down", "space", "up", "space")  # overlay both runs
        await pilot.pause()
        text = assert_inert(app)
        assert r"\x1b]0;pwned\x07" in widget_text(app, "#overlay")  # the legend
        for _ in range(5):  # every metric the overlay cycles through
            await pilot.press("m")
            await pilot.pause()
            assert_inert(app)

        await pilot.press("down", "enter")  # open the run with the odd name
        await replayed(pilot)
        text = assert_inert(app)
        assert r"id\x1b]0;pwned\x07[bold red]BIG[/]" in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        assert_inert(app)


def test_a_small_chart_writes_its_series_names_inert():
    # Too small to plot: the chart writes each series' last value after its name.
    lines = plot_lines([Series(f"run{TITLE}", [(1, 0.5)])], 10, 2)
    assert all(CONTROL.search(line.plain) is None for line in lines)
    assert lines[0].plain.startswith(r"run\x1b]")


def test_numbers_that_are_strings_are_written_inert():
    assert fmt_number(f"0.5{TITLE}") == r"0.5\x1b]0;pwned\x07"
    assert fmt_lr(f"1e-3{CSI}") == r"1e-3\x9b"
