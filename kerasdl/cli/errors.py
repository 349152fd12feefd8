"""Domain errors at the CLI boundary: one clear message on stderr and an exit code, no traceback.

Exit codes of every ``kerasdl`` command:

| code | meaning |
| --- | --- |
| 0 | done (a run completed, stopped early, or was stopped on request) |
| 1 | the run failed, or its loss became NaN |
| 2 | bad input: command line, config, data, run directory (nothing was trained) |
| 130 | interrupted (Ctrl-C or SIGTERM); the last checkpoint is kept |

The engine's errors (`ConfigError`, `DataError`, `RunError`, `ModelError`) are recognised
without importing their modules: an error of a module that was never imported cannot have been
raised.
"""

import contextlib
import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

from kerasdl.cli.console import safe_console

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# (module, class, what the message is about)
_DOMAIN_ERRORS = (
    ("kerasdl.config", "ConfigError", "invalid config"),
    ("kerasdl.data", "DataError", "data"),
    ("kerasdl.runs", "RunError", "run"),
    ("kerasdl.models", "ModelError", "model"),
)


def stderr_console() -> Console:
    """A console on the current ``sys.stderr`` (CliRunner swaps it per invocation)."""
    return safe_console(file=sys.stderr, highlight=False, soft_wrap=True)


def domain_error_kind(exc: BaseException) -> str | None:
    """What a domain error is about ("invalid config", "data", "run", "model"), or None for
    other errors."""
    for module_name, class_name, kind in _DOMAIN_ERRORS:
        cls = getattr(sys.modules.get(module_name), class_name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            return kind
    if exc.__class__.__name__ == "TOMLDecodeError":
        return "invalid TOML"
    return None


def print_error(message: str, *, prefix: str = "error", sep: str = ": ") -> None:
    """``error: message`` in red on stderr (the message is printed as is, never as markup)."""
    line = Text(f"{prefix}{sep}", style="bold red")
    line.append(message)
    stderr_console().print(line)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``message`` as an error and leave the command with ``code``."""
    print_error(message)
    raise typer.Exit(code)


def describe(exc: BaseException, kind: str | None = None) -> str:
    """One line for an error: ``<kind>: <message>``."""
    kind = kind or domain_error_kind(exc)
    message = str(exc).strip() or exc.__class__.__name__
    return f"{kind}: {message}" if kind else message


@contextlib.contextmanager
def domain_errors(*, os_errors: bool = True):
    """Turn the engine's domain errors into a message and exit code 2.

    With ``os_errors`` an `OSError` naming a file (unreadable, missing) is one too.
    """
    try:
        yield
    except typer.Exit:
        raise
    except Exception as exc:
        kind = domain_error_kind(exc)
        if kind is not None:
            fail(describe(exc, kind))
        if os_errors and isinstance(exc, OSError) and exc.filename is not None:
            fail(f"{exc.strerror or exc}: {exc.filename}")
        raise
