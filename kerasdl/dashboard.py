"""`run`: a script's own ``fit`` under the kerasdl dashboard, in the terminal it runs in.

The fit records itself with `kerasdl.callbacks.Track`; `run` shows the Track's events as they
come: the dashboard (``docs/dashboard.md``) when stdout is a terminal, else the plain lines of
``kerasdl train --ui plain``. ``docs/own-training.md`` is its guide.

Light at import: Textual loads inside `run`, and only for the dashboard.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

__all__ = ["UIS", "run"]

T = TypeVar("T")

UIS = ("auto", "tui", "plain", "none")
"""The views `run` can show: as ``kerasdl train --ui``."""

#: Seconds `run` waits for the fit's thread to end after an interrupt, before it gives up.
JOIN_TIMEOUT_S = 60.0


def run(fit: Callable[[], T], *, ui: str = "auto", close_at_end: bool = False) -> T:
    """Call ``fit()`` and show the `kerasdl.callbacks.Track` runs it makes, live.

    ``fit`` is any callable without arguments whose ``model.fit`` has a Track among its
    callbacks (a Track attaches itself to the view while ``run`` runs)::

        history = kerasdl.dashboard.run(
            lambda: model.fit(x, y, epochs=20, callbacks=[kerasdl.callbacks.Track("runs")])
        )

    With the dashboard (``ui="auto"`` in a terminal of 80x24 or more, or ``"tui"``): the fit
    runs in a thread of its own and the dashboard in the main thread. ``s`` stops training
    after the current epoch (the run ends as ``stopped``); ``q`` asks, then does the same and
    closes; Ctrl-C interrupts the fit at once (the run ends as ``interrupted``, its events
    written), closes the dashboard, and raises ``KeyboardInterrupt`` here, as Ctrl-C in a plain
    script would; a second Ctrl-C closes without waiting. When the fit ends the dashboard stays
    (press ``q``) unless ``close_at_end``; then the run's closing lines are printed.

    Otherwise (stdout is not a terminal, ``ui="plain"``): the fit runs in this thread and each
    epoch is a line (``ui="none"``: only the closing lines), as ``kerasdl train --ui plain``
    prints them; Ctrl-C ends the runs as ``interrupted`` and is raised again.

    Either way ``run`` returns what ``fit`` returned, or raises what it raised, after the runs
    it made are finished (``failed`` with the error's message).

    Args:
        fit: Called once, without arguments (a ``lambda`` around ``model.fit``).
        ui: ``"auto"``, ``"tui"``, ``"plain"`` or ``"none"``. Defaults to ``"auto"``.
        close_at_end: Close the dashboard as soon as the fit has ended. Defaults to False.

    Returns:
        What ``fit()`` returned (``model.fit``'s ``History``).

    Example:

    ```python
    history = kerasdl.dashboard.run(
        lambda: model.fit(x, y, epochs=5, verbose=0, callbacks=[kerasdl.callbacks.Track()]),
        ui="plain",
    )
    ```
    """
    if not callable(fit):
        raise ValueError(f"Argument `fit` must be callable. Received: fit={fit!r}")
    if ui not in UIS:
        raise ValueError(f"Argument `ui` must be one of {', '.join(UIS)}. Received: ui={ui!r}")
    from kerasdl_tui.choose import choose_ui

    view, reason = choose_ui(ui, sys.stdout, stderr=sys.stderr)
    if reason is not None:
        print(f"note: {reason}", file=sys.stderr)
    if view == "tui":
        return _in_dashboard(fit, close_at_end)
    return _in_plain_view(fit, live=view == "plain")


def _in_plain_view(fit, *, live: bool):
    from kerasdl.callbacks.track import end_runs, watching
    from kerasdl.cli.plain import PlainView

    view = PlainView(live=live)
    with watching(view) as watcher:
        try:
            result = fit()
        except BaseException as error:
            end_runs(watcher.tracks, error)
            view.close()
            raise
        end_runs(watcher.tracks)
    if not watcher.tracks:
        _say_no_track()
    return result


def _say_no_track() -> None:
    from kerasdl_tui.sources import NO_TRACK

    print(f"note: {NO_TRACK}", file=sys.stderr)


def _in_dashboard(fit, close_at_end: bool):
    from kerasdl.cli.dashboard import _native_stderr_aside
    from kerasdl.cli.native_logs import quiet_native_logs
    from kerasdl_tui.app import DashboardApp

    app = DashboardApp.for_fit(fit)
    source = app.source
    aside = None
    try:
        with quiet_native_logs(filter_stderr=False), _native_stderr_aside() as aside:
            if close_at_end:
                _close_when_done(app)
            app.run()
    except BaseException as error:  # a SIGINT outside the dashboard's keys, or the UI failed
        _end_fit(source)
        if source.error is None:
            source.error = error
        raise
    finally:
        if aside is not None:
            aside.replay()
    _end_fit(source)
    if not source.tracks and source.error is None:
        _say_no_track()
    state = getattr(app.main_screen, "state", None)
    if state is not None and state.finished is not None:
        _print_closing_lines(state, source.tracks[-1].run_dir if source.tracks else None)
    if source.error is not None:
        raise source.error
    return source.result


def _print_closing_lines(state, run_dir) -> None:
    """The run's closing lines, as the plain view prints them, so they stay in the terminal."""
    from kerasdl.cli.console import safe_console
    from kerasdl.cli.plain import final_lines

    console = safe_console(highlight=False, soft_wrap=True)
    restored = state.best_restored
    for line in final_lines(state.finished, state.last_epoch, run_dir, restored=restored):
        console.print(line)


def _close_when_done(app) -> None:
    """Make the run screen close the dashboard once its source has ended."""
    original = app.get_default_screen

    def screen():
        main = original()
        main.quit_when_done = True
        return main

    app.get_default_screen = screen


def _end_fit(source) -> None:
    """The dashboard has closed: interrupt a fit still running, and wait for it."""
    thread = source.thread
    if thread is None or not thread.is_alive():
        return
    source.interrupt()
    thread.join(JOIN_TIMEOUT_S)
    if thread.is_alive():
        print(
            f"note: the fit did not end within {JOIN_TIMEOUT_S:.0f} s of the interrupt; "
            "its run stays unfinished",
            file=sys.stderr,
        )
