"""The run screen fed by scripted runs: what it shows, read back from the rendered screen.

The expected numbers (best epoch, wait/patience, the stop epoch, the plateau cuts) are
computed here again from the scripted val_loss values with the chapter's rules, not taken
from the dashboard.
"""

import math

import pytest
from conftest import FROZEN_NOW, frozen_clock, screen_text, settle, widget_text

from kerasdl_tui.app import DashboardApp
from kerasdl_tui.sources import ScriptedSource

SIZES = [(80, 24), (120, 40)]


def early_stopping_rule(values, patience, min_delta=0.0):
    """The chapter's loop (3.4.6): (best, best_epoch, wait, stop_epoch), 1-based epochs."""
    best, best_epoch, wait = math.inf, None, 0
    for epoch, value in enumerate(values, start=1):
        if value < best - min_delta:
            best, best_epoch, wait = value, epoch, 0
        else:
            wait += 1
            if wait >= patience:
                return best, best_epoch, wait, epoch
    return best, best_epoch, wait, None


def plateau_rule(values, patience, threshold=1e-4):
    """PyTorch's ReduceLROnPlateau (mode min, rel threshold, no cooldown): the epochs after
    which it cuts, and the final number of bad epochs."""
    best, bad, cuts = math.inf, 0, []
    for epoch, value in enumerate(values, start=1):
        if value < best * (1 - threshold):
            best, bad = value, 0
        else:
            bad += 1
        if bad > patience:
            cuts.append(epoch)
            bad = 0
    return cuts, bad


def val_losses(events):
    return [e["metrics"]["val_loss"] for e in events if e["type"] == "epoch_ended"]


def axis_position(chart_text: str, letter: str) -> list[float]:
    """Where ``letter`` sits on a chart's x axis, as fractions of the way from its first
    label to its last (0: the first epoch, 1: the last)."""
    axis = [line for line in chart_text.splitlines() if "─" in line and "╰" not in line][-1]
    start = next(i for i, ch in enumerate(axis) if ch.isdigit())
    end = max(i for i, ch in enumerate(axis) if ch.isdigit())
    return [(i - start) / (end - start) for i, ch in enumerate(axis) if ch == letter]


async def show(events, size, **source_options):
    app = DashboardApp(source=ScriptedSource(events, **source_options), clock=frozen_clock)
    return app


@pytest.mark.asyncio
@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
async def test_improves_plateaus_and_stops_early(scenarios, size):
    events = scenarios.stops_early()
    best, best_epoch, wait, stop_epoch = early_stopping_rule(val_losses(events), patience=5)
    assert (best_epoch, stop_epoch) == (7, 12)  # the script is what this test says it is
    app = DashboardApp(source=ScriptedSource(events), clock=frozen_clock)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        header = widget_text(app, "#header")
        assert "early-stopped" in header
        assert scenarios.RUN_ID in header
        assert "replay" not in header and "training" in header

        panel = widget_text(app, "#early-stopping")
        assert f"best {best:.4f} @ epoch {best_epoch}" in panel
        assert f"wait ■■■■■ {wait}/5" in panel
        assert f"stopped at epoch {stop_epoch}" in " ".join(panel.split())
        assert f"best weights (epoch {best_epoch}) restored" in panel

        loss_chart = widget_text(app, "#loss-chart")
        assert f"◆ best {best_epoch}" in loss_chart
        # The best-epoch marker sits at epoch 7 of the 12 shown.
        (where,) = axis_position(loss_chart, "◆")
        assert where == pytest.approx((best_epoch - 1) / (stop_epoch - 1), abs=0.05)

        lr_chart = widget_text(app, "#lr-chart")
        assert "S step" in lr_chart
        (where,) = axis_position(lr_chart, "S")  # between epochs 10 and 11
        assert where == pytest.approx((10.5 - 1) / (stop_epoch - 1), abs=0.08)

        table = widget_text(app, "#metrics")
        assert f"◆{best_epoch}✓" in table or size == (80, 24)  # row 7 scrolled away at 80x24
        assert f"{stop_epoch}" in table

        log = app.screen.query_one("#log").texts
        assert any(
            f"stopped early after epoch {stop_epoch}: val_loss did not improve for 5" in t
            for t in log
        )
        assert any("after epoch 10: lr 0.001 -> 0.0005 (step)" in t for t in log)
        assert any("test loss 0.0934 accuracy 0.9712" in t for t in log)
        assert "test loss 0.0934 accuracy 0.9712" in widget_text(app, "#progress")


@pytest.mark.asyncio
async def test_live_run_counts_down_to_early_stopping(scenarios):
    events = scenarios.running_at_epoch_9()
    values = val_losses(events)
    best, _, wait, stop_epoch = early_stopping_rule(values, patience=5)
    assert stop_epoch is None and wait == 2
    source = ScriptedSource(events, hold_after=len(events))  # still training
    app = DashboardApp(source=source, clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        while source.played < len(events):
            await pilot.pause(0.01)
        await pilot.pause()
        header = widget_text(app, "#header")
        assert "running" in header
        assert f"elapsed 00:03:{int(FROZEN_NOW - scenarios.T0) - 180:02d}" in header
        progress = widget_text(app, "#progress")
        assert "epoch 10/20" in progress and "batch" in progress and "/85" in progress
        panel = widget_text(app, "#early-stopping")
        assert f"wait ■■□□□ {wait}/5" in panel
        assert f"stops in {5 - wait} epochs unless val_loss < {best:.4f}" in panel
        assert "checkpoint not saved at epoch 9" in panel
        source.release()


@pytest.mark.asyncio
async def test_nan_run(scenarios):
    events = scenarios.nan_run()
    app = DashboardApp(source=ScriptedSource(events), clock=frozen_clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert " NaN " in widget_text(app, "#header")
        loss_chart = widget_text(app, "#loss-chart")
        assert "✗ NaN" in loss_chart  # legend
        assert "✗" in loss_chart.splitlines()[1]  # the cross on the top line
        table = widget_text(app, "#metrics")
        row = next(line for line in table.splitlines() if line.strip("│ ").startswith("4"))
        assert row.count("NaN") == 2  # loss and val_loss of epoch 4
        log = app.screen.query_one("#log").texts
        assert any("the loss became NaN" in t and "epoch 4, step 17" in t for t in log)
        assert any("loss, val_loss not finite" in t for t in log)
        assert "the run ended: NaN" in widget_text(app, "#early-stopping")


@pytest.mark.asyncio
async def test_interrupted_run(scenarios):
    events = scenarios.interrupted_run()
    app = DashboardApp(source=ScriptedSource(events), clock=frozen_clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert "interrupted" in widget_text(app, "#header")
        progress = widget_text(app, "#progress")
        assert "epoch  3/10" in progress and "3 epochs run" in progress
        log = app.screen.query_one("#log").texts
        assert any(t.startswith("data offline: no MNIST source found") for t in log)
        assert any("interrupted after 3 complete epochs" in t for t in log)
        assert "the run ended: interrupted" in widget_text(app, "#early-stopping")


@pytest.mark.asyncio
async def test_warmup_and_plateau_reductions(scenarios):
    events = scenarios.warmup_plateau()
    values = val_losses(events)
    cuts, bad = plateau_rule(values, patience=2)
    assert cuts == [9, 13]
    app = DashboardApp(source=ScriptedSource(events), clock=frozen_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert "finished" in widget_text(app, "#header")
        lr_chart = widget_text(app, "#lr-chart")
        assert "W warmup end · P plateau" in lr_chart
        assert "(log)" in lr_chart  # 1e-3 .. 1e-5: a log scale
        (warmup,) = axis_position(lr_chart, "W")
        assert warmup == pytest.approx((3.5 - 1) / 15, abs=0.05)
        plateau = axis_position(lr_chart, "P")
        assert plateau == pytest.approx([(c + 0.5 - 1) / 15 for c in cuts], abs=0.05)
        panel = widget_text(app, "#early-stopping")
        assert f"plateau wait {bad}/2 · {len(cuts)} cuts · lr 1e-05" in panel
        log = app.screen.query_one("#log").texts
        assert any("after epoch 3: lr 0.00075 -> 0.001 (warmup end)" in t for t in log)
        for epoch, old, new in [(cuts[0], "0.001", "0.0001"), (cuts[1], "0.0001", "1e-05")]:
            assert any(f"after epoch {epoch}: lr {old} -> {new} (plateau)" in t for t in log)
        table = widget_text(app, "#metrics")
        assert "0.0001" in table and "1e-05" in table


async def render(events, size) -> str:
    app = DashboardApp(source=ScriptedSource(events), clock=frozen_clock)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        return screen_text(app)


@pytest.mark.asyncio
async def test_resize_redraws_cleanly(scenarios):
    """Shrunk to 80x24 and grown back, the screen is what a fresh start at that size shows."""
    events = scenarios.stops_early()
    fresh_small = await render(events, (80, 24))
    app = DashboardApp(source=ScriptedSource(events), clock=frozen_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        wide = screen_text(app)
        # settle, not one pause: a busy machine may snapshot the table before it has scrolled
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        small = screen_text(app)
        assert small == fresh_small
        assert "wait ■■■■■ 5/5" in small
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        assert screen_text(app) == wide
