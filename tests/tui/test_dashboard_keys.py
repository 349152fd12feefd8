"""Keys and mouse on the run screen: s (graceful stop), q (asks while training), l, ?, clicks."""

import math

import pytest
from conftest import frozen_clock, settle, wait_until, widget_text

from kerasdl_tui.app import DashboardApp
from kerasdl_tui.messages import SourceEnded
from kerasdl_tui.screens.confirm import ConfirmScreen
from kerasdl_tui.screens.help import HELP_TEXT, HelpScreen
from kerasdl_tui.sources import FileSource, ScriptedSource


def held_in_epoch(events, epoch: int) -> int:
    """The index after the second batch event of ``epoch`` (a run in the middle of it)."""
    batches = [i for i, e in enumerate(events) if e["type"] == "batch" and e["epoch"] == epoch]
    return batches[1] + 1


@pytest.mark.asyncio
async def test_s_stops_after_the_current_epoch(scenarios):
    events = scenarios.stops_early()
    hold = held_in_epoch(events, 5)
    source = ScriptedSource(events, hold_after=hold)
    app = DashboardApp(source=source, clock=frozen_clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: source.played == hold)
        await pilot.pause()
        assert "running" in widget_text(app, "#header")
        await pilot.press("s")
        await settle(pilot)
        screen = app.screen
        assert screen.stop_event.is_set()
        # The source finished epoch 5 (its last batch and its epoch_ended), then stopped.
        assert screen.state.epochs_done == 5
        assert screen.state.finished["status"] == "stopped"
        assert "stopped" in widget_text(app, "#header")
        log = screen.query_one("#log").texts
        assert any("stop requested: the run ends after this epoch" in t for t in log)
        assert any("stopped on request after epoch 5" in t for t in log)
        assert "stopped by request after epoch 5" in widget_text(app, "#early-stopping")
        await pilot.press("s")  # nothing left to stop: no second request
        await pilot.pause()
        assert sum("stop requested" in t for t in screen.query_one("#log").texts) == 1


@pytest.mark.asyncio
async def test_q_asks_while_training_and_loses_no_events(scenarios):
    events = scenarios.stops_early()
    hold = held_in_epoch(events, 3)
    source = ScriptedSource(events, hold_after=hold)
    app = DashboardApp(source=source, clock=frozen_clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: source.played == hold)
        run_screen = app.screen
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "Stop it after this epoch and quit?" in str(app.screen.question)
        await pilot.press("n")  # keep training
        await pilot.pause()
        assert app.screen is run_screen and not run_screen.stop_event.is_set()

        await pilot.press("ctrl+c")  # the same question
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_until(pilot, lambda: app.return_value is not None)
    assert isinstance(app.return_value, SourceEnded) and app.return_value.error is None
    # Every event up to the end of epoch 3 reached the screen, then the run's last event.
    state = run_screen.state
    assert sorted(state.history) == [1, 2, 3]
    assert state.finished["status"] == "stopped"
    assert source.played == 1 + sum(  # run_started + 3 epochs of batches and epoch_ended
        1 for e in events if e.get("epoch", 0) <= 3 and e["type"] in ("batch", "epoch_ended")
    )


@pytest.mark.asyncio
async def test_q_quits_at_once_when_nothing_trains(scenarios):
    app = DashboardApp(source=ScriptedSource(scenarios.stops_early()), clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
    assert app.return_value is not None


@pytest.mark.asyncio
async def test_l_and_a_click_toggle_the_log_scale(scenarios):
    events = scenarios.stops_early()
    app = DashboardApp(source=ScriptedSource(events), clock=frozen_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        linear = widget_text(app, "#loss-chart")
        assert "loss (log)" not in linear
        await pilot.press("l")
        await pilot.pause()
        log_chart = widget_text(app, "#loss-chart")
        assert "─ loss (log) ─" in log_chart
        # The middle label of a log axis is the geometric mean of the extremes.
        values = [
            v for e in events if e["type"] == "epoch_ended" for k, v in e["metrics"].items()
            if k in ("loss", "val_loss")
        ]  # fmt: skip
        middle = 10 ** ((math.log10(max(values)) + math.log10(min(values))) / 2)
        assert f"{middle:.4f}" in log_chart
        assert f"{(max(values) + min(values)) / 2:.4f}" in linear
        await pilot.click("#loss-chart")
        await pilot.pause()
        assert "loss (log)" not in widget_text(app, "#loss-chart")


@pytest.mark.asyncio
async def test_question_mark_shows_the_keys(scenarios):
    app = DashboardApp(source=ScriptedSource(scenarios.nan_run()), clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(widget_text(app, "#help-text").split())
        for words in ("stop after this epoch", "log scale", "overlay", "P plateau cut"):
            assert words in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


@pytest.mark.asyncio
async def test_s_only_warns_when_following_another_process(scenarios, tmp_path):
    run_dir = tmp_path / scenarios.RUN_ID
    scenarios.write_run(run_dir, scenarios.running_at_epoch_9())
    app = DashboardApp(source=FileSource(run_dir, poll_s=0.01), clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.screen.state.epochs_done == 9)
        await pilot.press("s")
        await pilot.pause()
        assert not app.screen.stop_event.is_set()
        assert any("only watches the run" in n.message for n in app._notifications)
        assert "following" in widget_text(app, "#header")
        await pilot.press("q")  # quits without asking: nothing trains here
        await pilot.pause()
    assert app.return_value is None  # the follower was stopped, not finished


def test_the_help_names_every_key_of_the_screens():
    """Each key bound on the app, the run screen and the runs browser is in the help text (a key
    added without a help line fails here)."""
    from textual.binding import Binding

    from kerasdl_tui.screens.run import RunScreen
    from kerasdl_tui.screens.runs import RunsScreen

    names = {"question_mark": "?", "slash": "/", "escape": "escape", "space": "space"}
    names["enter"] = "enter"
    plain = HELP_TEXT.replace("[b]", "").replace("[/b]", "")
    missing = []
    for owner in (DashboardApp, RunScreen, RunsScreen):
        for binding in owner.BINDINGS:
            assert isinstance(binding, Binding)
            for key in binding.key.split(","):
                if key.startswith("ctrl+"):
                    continue  # ctrl+c: the terminal's interrupt, not a dashboard key
                shown = names.get(key, key)
                if f" {shown} " not in f" {plain} ".replace("\n", " "):
                    missing.append(f"{owner.__name__}: {key}")
    assert not missing, f"keys with no line in the help: {missing}"
