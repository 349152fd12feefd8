"""The runs browser's settings columns, sort (``o``/``O``) and filter (``/``), with tags."""

import sys
from pathlib import Path

import pytest
from conftest import frozen_clock, settle, widget_text

sys.path.insert(0, str(Path(__file__).parents[1] / "cli"))
from test_cli_runs_organise import EXPERIMENTS, write_run

from kerasdl import run_meta
from kerasdl.experiments import _runs
from kerasdl_tui.app import DashboardApp


def make_thirty(runs_dir):
    """The 30 experiment runs of the CLI's tests, tagged with their experiment."""
    for i, (experiment, variant, overrides) in enumerate(EXPERIMENTS):
        name = _runs.run_name("20250131-154502-3fa9c1", experiment, variant)
        run_dir = write_run(runs_dir, name, overrides, val_loss=0.1 + i / 100, start=i)
        run_meta.add_tags(run_dir, [experiment])


def rows(app):
    return [line for line in widget_text(app, "#runs").splitlines() if "3fa9c1-" in line]


@pytest.mark.asyncio
async def test_filter_to_one_experiment_shows_the_settings_that_differ_and_sorts(tmp_path):
    make_thirty(tmp_path)
    app = DashboardApp(runs_dir=tmp_path, clock=frozen_clock)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        assert "30 runs" in widget_text(app, "#runs-title")
        await pilot.press("slash", *"tag:optimizers", "enter")
        await settle(pilot)
        screen = app.screen
        assert len(screen.runs) == 10 and "10 runs of 30" in widget_text(app, "#runs-title")
        table = widget_text(app, "#runs")
        header = next(line for line in table.splitlines() if "state" in line)
        assert "tags" in header and "name" in header and "learning_rate" in header
        assert "regularizer" not in header and "l2" not in header  # same in all ten
        first = rows(app)[0]
        assert "optimizers" in first and "sgd" in first and "0.1" in first  # newest: sgd-9
        # o: name, best, val_accuracy, test_accuracy, then the settings that differ.
        keys = screen.sort_keys()
        assert keys == [None, "name", "best", "val_accuracy", "test_accuracy",
                        "optimizer.name", "optimizer.learning_rate"]  # fmt: skip
        for _ in range(keys.index("optimizer.learning_rate")):
            await pilot.press("o")
        await settle(pilot)
        assert screen.sort_key == "optimizer.learning_rate"
        assert all("adam" in row for row in rows(app)[:5])
        assert "sort optimizer.learning_rate ↑" in widget_text(app, "#runs-title")
        await pilot.press("O")
        await settle(pilot)
        assert all("sgd" in row for row in rows(app)[:5])
        # escape in the filter clears it: all 30 again, and the regularization's l2 differs.
        await pilot.press("slash", "escape")
        await settle(pilot)
        assert len(screen.runs) == 30
        await pilot.press("slash", *"model.l2=0.0002", "enter")
        await settle(pilot)
        assert [run.run_id for run in screen.runs] == ["20250131-154502-3fa9c1-regularization-l2-1"]


@pytest.mark.asyncio
async def test_tags_and_settings_from_a_bad_run_show_inert(tmp_path):
    write_run(tmp_path, "a", {"optimizer.learning_rate": 0.5})
    write_run(tmp_path, "b", start=5)
    (tmp_path / "a" / "meta.json").write_text('{"tags": ["ok", "x\\u001b]0;t\\u0007"]}')
    (tmp_path / "b" / "meta.json").write_text("{broken")
    app = DashboardApp(runs_dir=tmp_path, clock=frozen_clock)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        table = widget_text(app, "#runs")
        assert "\x1b" not in table and "\x07" not in table
        assert len(app.screen.runs) == 2  # a broken meta.json hides no run
        lines = table.splitlines()
        assert any(" a " in line and "ok" in line and "0.5" in line for line in lines), table
        assert any(" b " in line and "0.001" in line for line in lines), table
