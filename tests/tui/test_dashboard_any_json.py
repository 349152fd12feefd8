"""The dashboard under Pilot, fed arbitrary JSON in any field of any event (hypothesis): the
replay of `kerasdl dashboard RUN` draws without an exception and without a raw control character,
and the runs browser lists a good run next to a hostile or damaged one (it never waits on
"loading…" for ever)."""

import asyncio
import json
import os
import shutil
from pathlib import Path

from conftest import frozen_clock, screen_lines, widget_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dashboard_untrusted import CONTROL

from kerasdl.events.schema import COMMON, SCHEMA
from kerasdl_tui.app import DashboardApp
from kerasdl_tui.screens.run import RunScreen
from kerasdl_tui.screens.runs import RunsScreen

FIXTURE = Path(__file__).parents[1] / "engine" / "fixtures" / "schema1-run"
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6)
    | st.sampled_from(["NaN", "Infinity", "\x1b[2J", "[/red]"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4),
                                                                      children, max_size=3),
    max_leaves=6,
)  # fmt: skip
FIELDS = [(kind, f.name) for kind, spec in SCHEMA.items() if spec.in_file
          for f in (*COMMON, *spec.fields)]  # fmt: skip


def _events_with(kind, name, value):
    events = [json.loads(line) for line in (FIXTURE / "events.jsonl").read_text().splitlines()]
    targets = [e for e in events if e["type"] == kind]
    for target in targets:
        target[name] = value
    return events


def _write(run_dir, events):
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))


def _assert_inert(app):
    for line in screen_lines(app):
        assert CONTROL.search(line) is None, repr(line)


async def _replay(run_dir, count):
    app = DashboardApp.for_run(run_dir, clock=frozen_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(300):  # until every line is folded in (some events may not be events)
            await pilot.pause(0.01)
            if isinstance(app.screen, RunScreen) and app.screen.state.events >= count:
                break
        await pilot.pause(0.05)
        _assert_inert(app)
        await pilot.press("l")
        await pilot.pause(0.02)
        _assert_inert(app)
    assert app.return_code in (None, 0), app.return_code


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(field=st.sampled_from(FIELDS), value=JSON)
def test_a_replay_of_any_json_in_any_field_draws(tmp_path_factory, field, value):
    run_dir = tmp_path_factory.mktemp("any") / "run"
    events = _events_with(*field, value)
    _write(run_dir, events)
    asyncio.run(_replay(run_dir, len(events)))


def test_the_runs_browser_lists_good_runs_beside_hostile_and_damaged_ones(tmp_path):
    runs_dir = tmp_path / "runs"
    _write(runs_dir / "20250101-000000-good", _events_with("notice", "x", 1))
    _write(runs_dir / "20250101-000001-odd", _events_with("run_finished", "best", {"value": [1]}))
    _write(runs_dir / "20250101-000002-types", _events_with("run_started", "config", "mnist"))
    fifo = runs_dir / "20250101-000003-fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "events.jsonl")

    async def browse():
        app = DashboardApp(runs_dir=runs_dir, clock=frozen_clock)
        async with app.run_test(size=(160, 40)) as pilot:
            for _ in range(300):
                await pilot.pause(0.01)
                if isinstance(app.screen, RunsScreen) and "good" in widget_text(app, "#runs"):
                    break
            table = widget_text(app, "#runs")
            for name in ("good", "odd", "types", "fifo"):
                assert name in table, table
            assert "damaged" in table and "loading" not in table
            _assert_inert(app)

    asyncio.run(browse())


def test_the_log_says_what_could_not_be_read(tmp_path):
    run_dir = tmp_path / "run"
    events = _events_with("epoch_ended", "epoch_seconds", "fast")
    _write(run_dir, events)

    async def replay():
        app = DashboardApp.for_run(run_dir, clock=frozen_clock)
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(300):
                await pilot.pause(0.01)
                if isinstance(app.screen, RunScreen) and app.screen.state.events >= len(events):
                    break
            await pilot.pause(0.05)
            log = app.screen.query_one("#log").texts
            assert any("epoch_ended.epoch_seconds: not a number (got 'fast')" in t for t in log)
            assert app.screen.state.epochs_done == 4  # the rest of each epoch still counts

    asyncio.run(replay())
