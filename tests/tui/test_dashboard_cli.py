"""The command-line side: choose_ui, ``kerasdl dashboard``, ``train --ui tui``'s run_dashboard."""

import os
import signal
import sys

import pytest
import typer
from conftest import settle
from typer.testing import CliRunner

from kerasdl.cli import dashboard as dashboard_cli
from kerasdl_tui import choose_ui
from kerasdl_tui.app import DashboardApp
from kerasdl_tui.sources import ScriptedSource


class FakeStream:
    def __init__(self, tty: bool):
        self.tty = tty

    def isatty(self):
        return self.tty


TTY, PIPE = FakeStream(True), FakeStream(False)
XTERM = {"TERM": "xterm-256color"}


@pytest.mark.parametrize(
    ("requested", "stdout", "size", "environ", "ui", "reason"),
    [
        ("auto", TTY, (80, 24), XTERM, "tui", None),
        ("auto", TTY, (200, 60), XTERM, "tui", None),
        ("auto", PIPE, (80, 24), XTERM, "plain", "stdout is not a terminal"),
        ("auto", TTY, (79, 24), XTERM, "plain", "the terminal is 79x24, smaller than"),
        ("auto", TTY, (120, 23), XTERM, "plain", "the terminal is 120x23, smaller than"),
        ("auto", TTY, (80, 24), {"TERM": "dumb"}, "plain", "TERM=dumb"),
        ("auto", TTY, (80, 24), {}, "plain", "TERM=(unset)"),
        ("tui", TTY, (40, 10), XTERM, "tui", None),  # asked for: cramped, but shown
        ("tui", PIPE, (80, 24), XTERM, "plain", "stdout is not a terminal"),
        ("plain", TTY, (80, 24), XTERM, "plain", None),
        ("none", PIPE, (80, 24), XTERM, "none", None),
    ],
)
def test_choose_ui(requested, stdout, size, environ, ui, reason):
    chosen, why = choose_ui(requested, stdout, size=size, environ=environ)
    assert chosen == ui
    if reason is None:
        assert why is None
    else:
        assert reason in why and why.endswith(": plain view")


def test_choose_ui_checks_stderr_and_takes_enums():
    from enum import Enum

    class UI(str, Enum):
        auto = "auto"

    ui, why = choose_ui(UI.auto, TTY, stderr=PIPE, size=(80, 24), environ=XTERM)
    assert ui == "plain" and "stderr is not a terminal" in why
    with pytest.raises(ValueError, match="Argument `requested` must be one of"):
        choose_ui("fancy", TTY)


def test_importing_the_package_and_choose_ui_stays_light():
    import subprocess

    code = (
        "import sys, kerasdl_tui, kerasdl.cli.dashboard\n"
        "heavy = {'textual', 'tensorflow', 'keras'} & {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def cli():
    app = typer.Typer()
    app.command()(dashboard_cli.dashboard)
    app.command("other")(lambda: None)  # two commands: `dashboard` is a subcommand
    return app


def test_dashboard_command_needs_a_terminal(tmp_path):
    result = CliRunner().invoke(cli(), ["dashboard", "some-run", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "stdout is not a terminal" in result.output
    assert "kerasdl runs show some-run" in result.output
    assert "Traceback" not in result.output


def test_dashboard_command_waits_for_a_run_that_does_not_exist_yet(tmp_path, monkeypatch):
    # docs/dashboard.md: a run started right after the command is followed once it appears.
    monkeypatch.setattr(dashboard_cli, "terminal_problem", lambda: None)
    opened = []
    monkeypatch.setattr(DashboardApp, "run", lambda self: opened.append(self))
    runner, runs_dir = CliRunner(), tmp_path / "runs"
    assert runner.invoke(cli(), ["dashboard", "soon", "--runs-dir", str(runs_dir)]).exit_code == 0
    path = tmp_path / "elsewhere" / "run-1"
    assert runner.invoke(cli(), ["dashboard", str(path)]).exit_code == 0
    (runs_dir / "made").mkdir(parents=True)  # created, no events.jsonl yet
    assert runner.invoke(cli(), ["dashboard", str(runs_dir / "made")]).exit_code == 0
    assert [app.source.path for app in opened] == [
        runs_dir / "soon" / "events.jsonl",
        path / "events.jsonl",
        runs_dir / "made" / "events.jsonl",
    ]
    assert "waiting for" in opened[0].source.waiting_text


def test_dashboard_command_refuses_an_ambiguous_prefix_or_a_strange_name(
    tmp_path, monkeypatch, scenarios
):
    for name in ("run-a", "run-b"):
        scenarios.write_run(tmp_path / name, scenarios.stops_early())
    monkeypatch.setattr(dashboard_cli, "terminal_problem", lambda: None)
    monkeypatch.setattr(DashboardApp, "run", lambda self: pytest.fail("opened"))
    for name, message in (("run", "is ambiguous"), ("bad name!", "no run 'bad name!'")):
        result = CliRunner().invoke(cli(), ["dashboard", name, "--runs-dir", str(tmp_path)])
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output


def test_dashboard_command_opens_the_run_or_the_browser(tmp_path, monkeypatch, scenarios):
    run_dir = tmp_path / "runs" / "demo"
    scenarios.write_run(run_dir, scenarios.stops_early())
    monkeypatch.setattr(dashboard_cli, "terminal_problem", lambda: None)
    opened = []
    monkeypatch.setattr(DashboardApp, "run", lambda self: opened.append(self))
    runner, runs_dir = CliRunner(), str(tmp_path / "runs")
    assert runner.invoke(cli(), ["dashboard", "dem", "--runs-dir", runs_dir]).exit_code == 0
    assert runner.invoke(cli(), ["dashboard", "--runs-dir", runs_dir]).exit_code == 0
    assert opened[0].source.path == run_dir / "events.jsonl"
    assert opened[1].runs_dir == tmp_path / "runs"


# ----------------------------------------------------------------------------- run_dashboard


def fake_train(events, *, raises=None):
    """A stand-in for kerasdl.runner.train that plays ``events`` (and honours ``stop``)."""

    def train(config, *, sinks=(), resume=None, stop=None):
        if raises is not None:
            raise raises
        ScriptedSource(events).run(lambda event: [sink(event) for sink in sinks], stop)
        return None

    return train


def headless(pilot_script):
    """Run DashboardApp.run headless, driven by ``pilot_script(pilot)``."""
    original = DashboardApp.run

    def run(self, **kwargs):
        async def auto_pilot(pilot):
            await pilot_script(pilot)

        return original(self, headless=True, size=(100, 30), auto_pilot=auto_pilot)

    return run


async def quit_when_finished(pilot):
    await settle(pilot)
    await pilot.press("q")


def test_run_dashboard_prints_the_outcome_and_exits_0(monkeypatch, capsys, scenarios):
    import kerasdl.runner

    monkeypatch.setattr(kerasdl.runner, "train", fake_train(scenarios.stops_early()))
    monkeypatch.setattr(DashboardApp, "run", headless(quit_when_finished))
    code = dashboard_cli.run_dashboard(config=object())
    out = capsys.readouterr().out
    assert code == 0
    assert "Stopped early after epoch 12: val_loss did not improve for 5 epochs" in out
    assert "Best val_loss 0.0980 at epoch 7 (weights restored)." in out
    assert f"runs/{scenarios.RUN_ID}" in out


def test_run_dashboard_nan_exits_1(monkeypatch, capsys, scenarios):
    import kerasdl.runner

    monkeypatch.setattr(kerasdl.runner, "train", fake_train(scenarios.nan_run()))
    monkeypatch.setattr(DashboardApp, "run", headless(quit_when_finished))
    assert dashboard_cli.run_dashboard(config=object()) == 1
    assert "NaN" in capsys.readouterr().out


def test_run_dashboard_config_error_exits_2_at_once(monkeypatch, capsys):
    import kerasdl.runner
    from kerasdl.config import ConfigError

    error = ConfigError("data.name", "mnits", "mnist, mnist-mini, regression")
    monkeypatch.setattr(kerasdl.runner, "train", fake_train([], raises=error))

    async def nothing(pilot):  # the app must leave by itself
        for _ in range(500):
            if pilot.app.return_value is not None:
                return
            await pilot.pause(0.01)
        raise AssertionError("the dashboard stayed up after a config error")

    monkeypatch.setattr(DashboardApp, "run", headless(nothing))
    with pytest.raises(typer.Exit) as exit_info:
        dashboard_cli.run_dashboard(config=object())
    assert exit_info.value.exit_code == 2
    err = capsys.readouterr().err
    assert "invalid config: data.name: got 'mnits'; allowed: mnist, mnist-mini" in err


def test_run_dashboard_sigterm_stops_gracefully_and_exits_130(monkeypatch, capsys, scenarios):
    import kerasdl.runner

    events = scenarios.stops_early()
    hold = next(i for i, e in enumerate(events) if e["type"] == "batch" and e["epoch"] == 4)
    source_events = events

    def train(config, *, sinks=(), resume=None, stop=None):
        source = ScriptedSource(source_events, hold_after=hold + 1)
        source.run(lambda event: [sink(event) for sink in sinks], stop)

    async def send_sigterm(pilot):
        app = pilot.app
        for _ in range(500):
            if app.main_screen.state.batch and app.main_screen.state.batch["epoch"] == 4:
                break
            await pilot.pause(0.01)
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None)
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(500):
            if app.return_value is not None:
                return
            await pilot.pause(0.01)
        raise AssertionError("SIGTERM did not close the dashboard")

    monkeypatch.setattr(kerasdl.runner, "train", train)
    monkeypatch.setattr(DashboardApp, "run", headless(send_sigterm))
    assert dashboard_cli.run_dashboard(config=object()) == 130
    assert "Stopped on request after epoch 4." in capsys.readouterr().out
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_native_stderr_is_kept_aside_and_replayed(capfd):
    with dashboard_cli._native_stderr_aside() as aside:
        os.write(2, b"I0000 00:00:1.0   11404 port.cc:153] oneDNN custom operations are on.\n")
        os.write(2, b"a real warning from the run\n")
        sys.__stderr__.write("drawn by Textual\n")
        sys.__stderr__.flush()
    captured = capfd.readouterr()
    assert "drawn by Textual" in captured.err
    assert "a real warning" not in captured.err  # not while the dashboard is up
    aside.replay()
    captured = capfd.readouterr()
    assert captured.err == "a real warning from the run\n"
