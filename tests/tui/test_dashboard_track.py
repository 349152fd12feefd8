"""The dashboard and a plain Keras script: runs recorded by `kerasdl.callbacks.Track`.

- Followed from another process (`FileSource`): a real fit with Keras's own
  ``EarlyStopping(patience=3)`` and a Track is written out line by line, and the screen shows
  the countdown as it goes, then the early stop.
- In the same process (`kerasdl.dashboard.run`): the fit runs in its own thread under the
  dashboard; ``s`` stops it after the epoch, Ctrl-C interrupts it (the run ends as
  ``interrupted`` and the exception comes back to the script); without a terminal it prints
  plain lines.
"""

import threading
import time

import keras
import numpy as np
import pytest
from conftest import frozen_clock, wait_until, widget_text

import kerasdl
import kerasdl.dashboard
from kerasdl import runs
from kerasdl.callbacks import Track
from kerasdl_tui.app import DashboardApp
from kerasdl_tui.sources import FileSource


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5], [0.0]])).astype("float32")


def model():
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    net.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return net


class Scripted(keras.callbacks.Callback):
    """val_loss improves twice, then never again: Keras's EarlyStopping(patience=3) stops at
    epoch 5 (1-based) of 20."""

    VALUES = (1.0, 0.8, 0.9, 0.85, 0.95)

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.VALUES[min(epoch, len(self.VALUES) - 1)]


class Slow(keras.callbacks.Callback):
    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def on_epoch_end(self, epoch, logs=None):
        time.sleep(self.seconds)


@pytest.fixture(scope="module")
def keras_script_run(tmp_path_factory):
    """A plain Keras script's run: keras.callbacks.EarlyStopping(patience=3) and a Track."""
    x, y = data()
    track = Track(tmp_path_factory.mktemp("runs"), run_name="keras-script")
    stopper = keras.callbacks.EarlyStopping(patience=3)
    model().fit(
        x, y, epochs=20, validation_split=0.25, verbose=0, callbacks=[Scripted(), stopper, track]
    )
    assert track.status == "early_stopped"
    return track.run_dir


def panel(app) -> str:
    """The early-stopping panel's lines, unwrapped (as a wide panel draws them)."""
    from kerasdl_tui.widgets.early_stopping_panel import early_stopping_lines

    assert "early stopping" in widget_text(app, "#early-stopping")
    return " | ".join(line.plain for line in early_stopping_lines(app.screen.state, 80))


@pytest.mark.asyncio
async def test_following_a_keras_script_shows_the_countdown(keras_script_run, tmp_path):
    lines = (keras_script_run / "events.jsonl").read_text().splitlines(keepends=True)
    ends = [i for i, line in enumerate(lines) if '"type": "epoch_ended"' in line]
    followed = tmp_path / "keras-script"  # the same events, arriving as the script writes them
    followed.mkdir()
    app = DashboardApp(source=FileSource(followed, poll_s=0.02), clock=frozen_clock)
    async with app.run_test(size=(100, 30)) as pilot:
        state = app.screen.state
        with open(followed / "events.jsonl", "a", encoding="utf-8") as handle:
            handle.writelines(lines[: ends[2] + 1])  # run_started and epochs 1-3
        await wait_until(pilot, lambda: state.epochs_done == 3)
        await pilot.pause()
        text = panel(app)
        assert "val_loss (min) best 0.8000 @ epoch 2" in text
        assert "1/3" in text and "1/3" in widget_text(app, "#early-stopping")
        assert "stops in 2 epochs unless val_loss < 0.8000" in text
        header = widget_text(app, "#header")
        assert "keras-script" in header and "numpy arrays" in header and "following" in header

        with open(followed / "events.jsonl", "a", encoding="utf-8") as handle:
            handle.writelines(lines[ends[2] + 1 :])  # epochs 4-5 and the end
        await wait_until(pilot, lambda: state.finished is not None)
        await pilot.pause()
        text = panel(app)
        assert "3/3" in text and "stopped at epoch 5: no val_loss improvement in 3 epochs" in text
        assert "early-stopped" in widget_text(app, "#header")
        assert "checkpoint not saved at epoch 5; best.keras is epoch 2" in text
        log = app.screen.query_one("#log").texts
        assert any("stopped early after epoch 5" in t for t in log)


@pytest.mark.asyncio
async def test_a_finished_track_run_replays_with_its_checkpoint_line(keras_script_run):
    app = DashboardApp.for_run(keras_script_run, clock=frozen_clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.screen.state.finished is not None)
        await pilot.pause()
        assert "replay" in widget_text(app, "#header")
        assert "best.keras is epoch 2" in panel(app)


# ----------------------------------------------------------------------------- dashboard.run


def headless(monkeypatch, pilot_script):
    """`kerasdl.dashboard.run` chooses the dashboard, which runs headless under a pilot."""
    import kerasdl_tui.choose

    monkeypatch.setattr(kerasdl_tui.choose, "choose_ui", lambda *a, **k: ("tui", None))
    original = DashboardApp.run

    def run(self, **kwargs):
        async def auto_pilot(pilot):
            await pilot_script(pilot)

        return original(self, headless=True, size=(100, 30), auto_pilot=auto_pilot)

    monkeypatch.setattr(DashboardApp, "run", run)


def slow_fit(tmp_path, epochs=40, seconds=0.05):
    x, y = data()
    net = model()
    track = Track(tmp_path, run_name="in-dashboard", checkpoints=None)
    fit = lambda: net.fit(  # noqa: E731
        x, y, epochs=epochs, validation_split=0.25, verbose=0, callbacks=[Slow(seconds), track]
    )
    return track, fit


def test_s_in_the_dashboard_stops_the_fit_after_its_epoch(tmp_path, monkeypatch, capsys):
    async def stop_then_quit(pilot):
        screen = pilot.app.screen
        await wait_until(pilot, lambda: screen.state.epochs_done >= 2, timeout=60)
        await pilot.press("s")
        await wait_until(pilot, lambda: screen.outcome is not None, timeout=60)
        await pilot.pause()
        assert "stopped" in widget_text(pilot.app, "#header")
        await pilot.press("q")

    headless(monkeypatch, stop_then_quit)
    track, fit = slow_fit(tmp_path)
    history = kerasdl.dashboard.run(fit)
    assert track.status == "stopped" and len(history.epoch) < 40
    assert runs.load_run(track.run_dir).status == "stopped"
    assert "Stopped on request after epoch" in capsys.readouterr().out


def test_ctrl_c_in_the_dashboard_interrupts_the_fit(tmp_path, monkeypatch):
    async def ctrl_c(pilot):
        screen = pilot.app.screen
        await wait_until(pilot, lambda: screen.state.epochs_done >= 1, timeout=60)
        await pilot.press("ctrl+c")
        # The app closes by itself once the run has ended as interrupted.

    headless(monkeypatch, ctrl_c)
    track, fit = slow_fit(tmp_path, seconds=0.2)
    with pytest.raises(KeyboardInterrupt):
        kerasdl.dashboard.run(fit)
    assert track.status == "interrupted"
    info = runs.load_run(track.run_dir)
    assert info.status == "interrupted" and 1 <= info.epochs_run < 40
    assert not any(t.name == "kerasdl-fit" and t.is_alive() for t in threading.enumerate())


def test_an_error_in_the_fit_is_shown_then_raised(tmp_path, monkeypatch):
    async def see_the_error(pilot):
        screen = pilot.app.screen
        await wait_until(pilot, lambda: screen.outcome is not None, timeout=60)
        await pilot.pause()
        assert "failed" in widget_text(pilot.app, "#header")
        await pilot.press("q")

    class Boom(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise ValueError("boom")

    headless(monkeypatch, see_the_error)
    x, y = data()
    track = Track(tmp_path)
    with pytest.raises(ValueError, match="boom"):
        kerasdl.dashboard.run(
            lambda: model().fit(x, y, epochs=3, verbose=0, callbacks=[track, Boom()])
        )
    assert track.status == "failed"
    assert runs.load_run(track.run_dir).error == "ValueError: boom"


def test_without_a_terminal_it_prints_plain_lines(tmp_path, capsys):
    x, y = data()
    track = Track(tmp_path, run_name="plain")
    history = kerasdl.dashboard.run(
        lambda: model().fit(
            x, y, epochs=3, validation_split=0.25, verbose=0, callbacks=[Scripted(), track]
        )
    )
    captured = capsys.readouterr()
    assert "stdout is not a terminal" in captured.err
    assert len(history.epoch) == 3
    out = captured.out
    assert "run plain | numpy arrays (model.fit) | 48 train, 16 val" in out
    assert "epoch 3/3" in out and "Completed: 3 of 3 epochs ran." in out
    assert f"Run directory: {tmp_path / 'plain'}" in out

    stopping = Track(tmp_path, run_name="ctrl-c")

    class CtrlC(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        kerasdl.dashboard.run(
            lambda: model().fit(x, y, epochs=5, verbose=0, callbacks=[stopping, CtrlC()]),
            ui="none",
        )
    assert stopping.status == "interrupted"
    assert "Interrupted with 2 epochs complete." in capsys.readouterr().out


def test_a_fit_without_a_track_is_said(capsys):
    assert kerasdl.dashboard.run(lambda: 42, ui="plain") == 42
    assert "without a kerasdl.callbacks.Track run" in capsys.readouterr().err


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="`fit` must be callable"):
        kerasdl.dashboard.run(42)
    with pytest.raises(ValueError, match="`ui` must be one of"):
        kerasdl.dashboard.run(lambda: None, ui="web")


def test_importing_kerasdl_dashboard_is_light():
    import subprocess
    import sys

    code = (
        "import sys, kerasdl.dashboard\n"
        "heavy = {'textual', 'tensorflow', 'keras'} & {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- untrusted


@pytest.mark.asyncio
async def test_a_track_runs_description_from_disk_is_untrusted(keras_script_run, tmp_path):
    """The ``fit`` of run_started is read from a shared directory: controls and markup in it
    show inert, and values of the wrong type neither crash the screen nor `runs show`."""
    import json
    import re

    from typer.testing import CliRunner

    from kerasdl.cli import app as cli

    evil = "\x1b]0;pwned\x07[/red]\x9b"
    lines = (keras_script_run / "events.jsonl").read_text().splitlines()
    started = json.loads(lines[0])
    started["fit"].update(
        {
            "early_stopping": {"enabled": True, "monitor": evil, "patience": "x", "min_delta": "y"},
            "plateau": {"enabled": evil, "patience": [1], "factor": {}},
            "model": {"class": evil, "layers_total": "many", "params": True},
            "optimizer": {"name": evil, "config": {"learning_rate": evil}},
            "loss": evil,
            "callbacks": [evil],
            "metrics": 7,
        }
    )
    run_dir = tmp_path / "evil"
    run_dir.mkdir()
    # Only run_started and run_finished: the panel falls back on the description's setup.
    (run_dir / "events.jsonl").write_text(json.dumps(started) + "\n" + lines[-1] + "\n")
    control = re.compile("[\x00-\x1f\x7f-\x9f]")
    app = DashboardApp.for_run(run_dir, clock=frozen_clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.screen.state.finished is not None)
        await pilot.pause()
        for line in app.screen._compositor.render_strips():
            assert not control.search(line.text)
        assert "pwned" in widget_text(app, "#early-stopping")
    shown = CliRunner().invoke(cli, ["runs", "show", str(run_dir)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "recorded by" in shown.output and not control.search(shown.output.replace("\n", ""))
