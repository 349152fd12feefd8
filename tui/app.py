"""`DashboardApp`: the kerasdl dashboard (a run live or replayed, or the runs browser)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen

from kerasdl_tui.messages import SourceEnded
from kerasdl_tui.screens.confirm import ConfirmScreen
from kerasdl_tui.screens.help import HelpScreen
from kerasdl_tui.screens.run import RunScreen
from kerasdl_tui.screens.runs import RunsScreen
from kerasdl_tui.sources import EventSource, FileSource, FitSource, RunnerSource

__all__ = ["DashboardApp"]


class DashboardApp(App):
    """The dashboard: one `RunScreen` fed by ``source``, or the `RunsScreen` of ``runs_dir``.

    Args:
        source: The events of the run to show (`kerasdl_tui.sources`). Give this or ``runs_dir``.
        runs_dir: Open the runs browser on this directory instead.
        clock: Wall-clock seconds for the elapsed time (tests freeze it). Defaults to
            ``time.time``.
        handle_sigterm: On SIGTERM, stop a run training here after its epoch (as ``s``) and
            quit when it has (`sigterm_received` says it happened). Only the command line
            sets it: the handler belongs to the process. Defaults to False.

    Example:

    ```python
    app = DashboardApp.for_run("runs/20250101-120000-ab12cd")
    app.run()
    ```
    """

    CSS_PATH = "app.tcss"
    TITLE = "kerasdl"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "interrupt", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(
        self,
        *,
        source: EventSource | None = None,
        runs_dir=None,
        clock=time.time,
        handle_sigterm: bool = False,
    ):
        if (source is None) == (runs_dir is None):
            raise ValueError("Give exactly one of `source` (a run) and `runs_dir` (the browser).")
        super().__init__()
        self.source = source
        self.runs_dir = None if runs_dir is None else Path(runs_dir)
        self.clock = clock
        self.handle_sigterm = handle_sigterm
        self.sigterm_received = False
        self.main_screen: RunScreen | RunsScreen | None = None

    @classmethod
    def for_training(
        cls, config, *, resume=None, train=None, ui_niceness: int = 0, **kwargs
    ) -> DashboardApp:
        """Train ``config`` in this process, in a thread worker, and show it.

        ``ui_niceness`` > 0 lowers the UI thread's scheduling priority by that much while the
        run trains (Linux), so that drawing never takes CPU time training could use. An
        unprivileged process may not get the old priority back afterwards: ``kerasdl train``
        asks for it (the process ends with the run); the default, 0, leaves it alone.
        """
        source = RunnerSource(config, resume=resume, train=train, ui_niceness=ui_niceness)
        return cls(source=source, **kwargs)

    @classmethod
    def for_fit(cls, fit, **kwargs) -> DashboardApp:
        """Run a script's own ``fit`` (a callable) in a thread and show the
        `kerasdl.callbacks.Track` runs it makes (`kerasdl.dashboard.run`)."""
        return cls(source=FitSource(fit), **kwargs)

    @classmethod
    def for_run(cls, path, **kwargs) -> DashboardApp:
        """Follow a run directory's ``events.jsonl`` (a live run), or replay it (a finished one)."""
        return cls(source=FileSource(path), **kwargs)

    @classmethod
    def for_runs(cls, runs_dir="runs", **kwargs) -> DashboardApp:
        """Open the runs browser on ``runs_dir``."""
        return cls(runs_dir=runs_dir, **kwargs)

    def get_default_screen(self) -> Screen:
        if self.source is not None:
            self.main_screen = RunScreen(self.source, clock=self.clock)
        else:
            self.main_screen = RunsScreen(self.runs_dir, clock=self.clock)
        return self.main_screen

    @property
    def outcome(self) -> SourceEnded | None:
        """How the main run's source ended (the runner's summary or error); None before."""
        return getattr(self.main_screen, "outcome", None)

    # ------------------------------------------------------------------ keys

    def _training_screen(self) -> RunScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, RunScreen) and screen.training:
                return screen
        return None

    def action_quit(self) -> None:
        """``q``: quit; while a run trains here, ask, then stop it as ``s`` does and quit
        once its last epoch, checkpoint and events are written."""
        if isinstance(self.screen, ConfirmScreen):
            return
        training = self._training_screen()
        if training is None:
            self.exit(self.outcome)
            return
        if training.quit_when_done:
            self.notify("Stopping: the dashboard closes when the current epoch is written.")
            return

        def answer(yes: bool | None) -> None:
            if yes:
                training.request_stop(quit_after=True)

        self.push_screen(
            ConfirmScreen(
                "A run is training. Stop it after this epoch and quit?\n"
                "Its checkpoint and events are written first; nothing is lost.",
                yes="Stop and quit",
                no="Keep training",
            ),
            answer,
        )

    def action_interrupt(self) -> None:
        """Ctrl-C: as ``q``; but a fit that `kerasdl.dashboard.run` trains here is interrupted
        at once (its runs end as ``interrupted``) and the dashboard closes when it has ended. A
        second Ctrl-C closes the dashboard without waiting."""
        training = self._training_screen()
        source = getattr(training, "source", None)
        if training is None or not hasattr(source, "interrupt"):
            self.action_quit()
            return
        if source.interrupted:  # the second Ctrl-C
            self.exit(self.outcome)
            return
        training.quit_when_done = True
        if source.interrupt():
            self.notify("Interrupting: the run ends as interrupted, then the dashboard closes.")
        else:
            training.request_stop(quit_after=True)

    def action_help(self) -> None:
        """``?``: the keys."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def on_mount(self) -> None:
        if self.handle_sigterm:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self) -> None:
        self.sigterm_received = True
        training = self._training_screen()
        if training is None:
            self.exit(self.outcome)
        else:
            training.request_stop(quit_after=True)

    def on_unmount(self) -> None:
        if self.handle_sigterm:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
        for screen in self.screen_stack:
            if isinstance(screen, RunScreen):
                screen.stop_event.set()
                close = getattr(screen.source, "close", None)
                if close is not None:
                    close()
