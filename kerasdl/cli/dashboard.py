"""``kerasdl dashboard [RUN]``, and the dashboard view of ``kerasdl train --ui tui``.

Light at import (Typer only): Textual, textual-serve (``--serve``), and TensorFlow for a run
trained in the dashboard, load inside the functions.
"""

import contextlib
import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from kerasdl.cli import errors, native_logs
from kerasdl.cli import options as opt
from kerasdl.cli.console import safe_console
from kerasdl.cli.native_logs import quiet_native_logs

RunOption = Annotated[
    str | None,
    typer.Argument(
        help="A run id in the runs folder, or a run directory. Without it: the runs browser.",
        show_default=False,
    ),
]


ServeOption = Annotated[
    bool,
    typer.Option(
        "--serve",
        help="Serve the same dashboard in a web page at http://HOST:PORT instead of drawing it "
        "here (each browser tab runs its own dashboard). Needs textual-serve, the extra "
        "serve of kerasdl.",
    ),
]
HostOption = Annotated[
    str,
    typer.Option(
        "--host",
        help="With --serve: the address to listen on. The default serves this machine only; "
        "any other (0.0.0.0, a network address) shows the runs to everyone who can reach it, "
        "without a password.",
        metavar="HOST",
    ),
]
PortOption = Annotated[
    int,
    typer.Option("--port", help="With --serve: the port to listen on.", min=1, max=65535),
]


def dashboard(
    run: RunOption = None,
    runs_dir: opt.RunsDir = Path("runs"),
    serve: ServeOption = False,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
) -> None:
    """Watch a run in the terminal dashboard, live or replayed; without RUN, browse the runs.

    A run another process trains is followed as its events.jsonl grows; a finished one replays.
    A run that does not exist yet (a run id, or a run directory) is waited for.

    The runs browser lists RUNS_DIR; select runs (space) to overlay their curves.

    With --serve the same dashboard is a web page (http://127.0.0.1:8000 by default); a --host
    other than this machine's own shows the runs to the network.

    Keys: q quit, l log scale, ? help; s stops a run only when the dashboard trains it.
    """
    if serve:
        serve_dashboard(run, runs_dir, host=host, port=port)
        return
    reason = terminal_problem()
    if reason is not None:
        errors.fail(f"{reason}; try kerasdl runs show" + (f" {run}" if run else ""))
    if run is None:
        from kerasdl_tui.app import DashboardApp

        DashboardApp.for_runs(runs_dir).run()
        return
    with errors.domain_errors():
        run_dir = run_to_follow(run, runs_dir)
    from kerasdl_tui.app import DashboardApp

    DashboardApp.for_run(run_dir).run()


def run_to_follow(run: str, runs_dir: Path) -> Path:
    """The run directory ``kerasdl dashboard RUN`` follows: the run ``kerasdl runs`` finds
    (a directory, an id, a unique prefix of an id), else the one that will be there, waited
    for: ``RUN`` itself when it is a path (a directory without events yet, or a name with a
    ``/``), else ``RUNS_DIR/RUN`` for a plain run id.

    Raises:
        kerasdl.runs.RunError: A prefix of several runs' ids, or a name that is neither a
            path nor a plain run id.
    """
    from kerasdl import runs

    try:
        return runs.resolve_run_dir(run, runs_dir)
    except runs.RunError:
        given = Path(run)
        if given.is_dir() or os.sep in run or (os.altsep and os.altsep in run):
            return given
        if not runs._RUN_ID.fullmatch(run) or _prefix_of_runs(run, runs_dir) > 1:
            raise
        return runs_dir / run


def _prefix_of_runs(name: str, runs_dir: Path) -> int:
    from kerasdl import runs

    if not runs_dir.is_dir():
        return 0
    return sum(1 for p in runs_dir.iterdir() if p.name.startswith(name) and runs._is_run_dir(p))


def serve_dashboard(run: str | None, runs_dir: Path, *, host: str, port: int) -> None:
    """``kerasdl dashboard [RUN] --serve``: serve the dashboard in a web page until Ctrl+C.

    textual-serve starts `dashboard_command` (this interpreter's ``kerasdl dashboard`` with the
    same RUN and RUNS_DIR) for each browser session and relays its screen over a websocket.
    RUN is checked first, so an ambiguous one fails here rather than in every page.
    """
    try:
        from textual_serve.server import Server
    except ImportError:
        errors.fail('--serve needs textual-serve: pip install "kerasdl[serve]"')
    if run is not None:
        with errors.domain_errors():
            run_to_follow(run, runs_dir)
    command = dashboard_command(run, runs_dir)
    title = "kerasdl dashboard" + (f" {run}" if run else "")
    server = Server(command, host=host, port=port, title=title)
    try:
        server.serve()
    except OSError as error:  # the port is taken, the host is not this machine's
        errors.fail(f"cannot serve on {host}:{port}: {error.strerror or error}")


def dashboard_command(run: str | None, runs_dir: Path) -> str:
    """The shell command textual-serve runs per browser session: ``kerasdl dashboard``, from
    this interpreter, with the same RUN and RUNS_DIR (relative paths resolve in the same
    working directory, which the sessions inherit)."""
    args = [sys.executable, "-m", "kerasdl", "dashboard"]
    if run is not None:
        args.append(run)
    args += ["--runs-dir", str(runs_dir)]
    return shlex.join(args)


#: The driver textual-serve sets for the dashboard it runs (its output goes to a pipe).
WEB_DRIVER = "textual.drivers.web_driver:WebDriver"


def terminal_problem() -> str | None:
    """Why the dashboard cannot draw here (stdout not a terminal, ...), or None.

    Under textual-serve (`WEB_DRIVER`) there is no terminal to check: the page draws.
    """
    if os.environ.get("TEXTUAL_DRIVER") == WEB_DRIVER:
        return None
    from kerasdl_tui.choose import why_no_dashboard

    return why_no_dashboard(sys.stdout, stderr=sys.stderr, check_size=False)


#: How much lower the dashboard's UI thread runs than training (`DashboardApp.for_training`).
UI_NICENESS = 10


def run_dashboard(config, resume_dir=None) -> int:
    """Train ``config`` inside the dashboard (``kerasdl train --ui tui``); return the exit code.

    The run trains in a thread of this process; the dashboard shows it. ``s`` stops it after
    the epoch; ``q`` asks, then does the same and closes once the epoch is written. SIGTERM
    does what ``q`` does, and the exit code is then 130. While the dashboard is up, whatever
    TensorFlow writes to the process's stderr is kept aside and printed after it closes, less
    its known loading lines (the screen stays clean); its Python logs and warnings are quiet
    (`kerasdl.cli.native_logs`; ``--verbose`` or ``KERASDL_DEBUG`` keeps everything). The UI
    thread runs at a lower priority than training (nice +10), so drawing only takes CPU time
    training leaves. When it closes, the run's closing lines are printed as the plain view
    prints them, so they stay in the terminal.
    """
    from kerasdl.cli.train import STATUS_EXIT
    from kerasdl_tui.app import DashboardApp

    aside = None
    try:
        with quiet_native_logs(filter_stderr=False), _native_stderr_aside() as aside:
            app = DashboardApp.for_training(
                config, resume=resume_dir, handle_sigterm=True, ui_niceness=UI_NICENESS
            )
            app.run()
    finally:
        if aside is not None:
            aside.replay()
    outcome = app.outcome
    screen = app.main_screen
    if outcome is not None and outcome.exception is not None:
        error = outcome.exception
        kind = errors.domain_error_kind(error)
        if kind is not None:
            errors.fail(errors.describe(error, kind))
        errors.print_error(f"{type(error).__name__}: {error}", prefix="run failed")
        return errors.EXIT_FAILED
    state = getattr(screen, "state", None)
    if state is None or state.finished is None:
        where = _run_dir(state)
        errors.print_error(
            "the dashboard closed before the run ended"
            + (f"; its events and checkpoints are in {where}" if where else ""),
            prefix="note",
        )
        return errors.EXIT_INTERRUPTED if app.sigterm_received else errors.EXIT_FAILED
    _print_closing_lines(state)
    if app.sigterm_received:
        return errors.EXIT_INTERRUPTED
    return STATUS_EXIT.get(state.finished.get("status"), errors.EXIT_FAILED)


def _run_dir(state) -> Path | None:
    if state is None or state.run_id is None:
        return None
    return Path(state.config.get("runs_dir") or "runs") / state.run_id


def _print_closing_lines(state) -> None:

    from kerasdl.cli.plain import final_lines

    console = safe_console(highlight=False, soft_wrap=True)
    for line in final_lines(
        state.finished, state.last_epoch, _run_dir(state), restored=state.best_restored
    ):
        console.print(line)


class _Aside:
    """What went to file descriptor 2 while the dashboard was up."""

    def __init__(self, capture):
        self.capture = capture

    def replay(self) -> None:
        """Write the kept lines, less TensorFlow's loading noise (unless verbose), to stderr."""
        if self.capture is None:
            return
        self.capture.seek(0)
        text = self.capture.read().decode("utf-8", "replace")
        drop = native_logs.filters_stderr()
        kept = [
            line
            for line in text.splitlines(keepends=True)
            if line.strip() and not (drop and native_logs.is_noise(line.encode()))
        ]
        self.capture.close()
        if kept:
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


@contextlib.contextmanager
def _native_stderr_aside():
    """Send file descriptor 2 to a temporary file, and Textual to a copy of the terminal.

    Textual draws on ``sys.__stderr__``; TensorFlow, absl and logging handlers made before the
    dashboard write to file descriptor 2 directly and would scribble over the screen.
    """
    try:
        sys.stderr.flush()
        terminal = os.dup(2)
    except (OSError, ValueError):
        yield _Aside(None)
        return
    capture = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115 (closed by replay)
    original = sys.__stderr__
    stream = os.fdopen(terminal, "w", encoding="utf-8", errors="replace", closefd=False)
    os.dup2(capture.fileno(), 2)
    sys.__stderr__ = stream
    try:
        yield _Aside(capture)
    finally:
        sys.__stderr__ = original
        stream.close()
        os.dup2(terminal, 2)
        os.close(terminal)
