"""The ``kerasdl`` command line.

The root module only wires commands. It imports neither TensorFlow, Keras nor
Textual, so ``kerasdl --help`` starts in a fraction of a second; commands import
what they need inside their bodies.

    kerasdl train        kerasdl.cli.train   train a network (the chapter's 3.6 preset by default)
    kerasdl dashboard    kerasdl.cli.dashboard  follow or replay a run, or browse the runs
    kerasdl runs ...     kerasdl.cli.runs    list, show, compare, export runs
    kerasdl data info    kerasdl.cli.data    which MNIST source would be used
    kerasdl info         kerasdl.cli.info    versions, backend, devices
    kerasdl experiment   kerasdl.cli.experiment  the chapter's claims, measured
    kerasdl schedule     kerasdl.cli.schedule  plot a learning-rate schedule
    kerasdl lr-find      kerasdl.cli.lr_find  the learning-rate range test
"""

from typing import Annotated

import typer

from kerasdl import __version__
from kerasdl.cli import (
    dashboard,
    data,
    experiment,
    lr_find,
    native_logs,
    runs,
    schedule,
    train,
)

app = typer.Typer(
    name="kerasdl",
    help=(
        "Train deep networks with Keras 3 from the terminal: the chapter's losses, "
        "optimizers, initializers, regularizers, schedules and callbacks."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool):
    if value:
        typer.echo(f"kerasdl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_version_callback,
            is_eager=True,
        ),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            help="Let TensorFlow's own logs and warnings through (also: KERASDL_DEBUG=1).",
        ),
    ] = False,
):
    """Train deep networks with Keras 3 from the terminal."""
    native_logs.set_verbose(verbose)


app.command(name="train")(train.train)
app.command(name="dashboard")(dashboard.dashboard)
app.add_typer(runs.app, name="runs")
app.add_typer(data.app, name="data")
app.add_typer(experiment.app, name="experiment")
app.add_typer(schedule.app, name="schedule")
app.command(name="lr-find")(lr_find.lr_find)


@app.command()
def info():
    """Show the versions, the Keras backend and the devices kerasdl would use."""
    from kerasdl.cli.info import show_info

    show_info()


def main():
    """Entry point of the ``kerasdl`` console script."""
    try:
        app()
    except SystemExit as done:
        _exit(done.code)
    _exit(0)


# Modules whose presence makes the interpreter's teardown slow (`_exit`).
_FRAMEWORKS = ("tensorflow", "jax", "torch")
ENV_FULL_EXIT = "KERASDL_FULL_EXIT"


def _exit(code) -> None:
    """End the process with ``code``, without the interpreter's teardown once a framework is
    loaded.

    After a command that loaded TensorFlow its work is done, yet Python's teardown of the
    loaded modules takes 1.3-1.5 s more on 2 cores (Keras on JAX about 0.5 s;
    ``benchmarks/startup.py``, docs/engine.md "Start-up and exit"). Every file kerasdl writes
    is closed by then; the ``atexit`` handlers still run (logging's flush, TensorFlow's and
    JAX's own), the standard streams are flushed, then ``os._exit``. A process that still has
    another thread running (Python would wait for it), a code that is not a number, no
    framework loaded, or ``KERASDL_FULL_EXIT=1`` (a profiler that writes after ``main``
    returns) exits as Python does.
    """
    import os
    import sys
    import threading

    code = 0 if code is None else code
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if (
        not isinstance(code, int)
        or os.environ.get(ENV_FULL_EXIT, "").strip() not in ("", "0")
        or not any(name in sys.modules for name in _FRAMEWORKS)
        or any(t.is_alive() and not t.daemon for t in others)
    ):
        sys.exit(code)
    import atexit
    import contextlib

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed, or a closed pipe
            stream.flush()
    os._exit(code)
