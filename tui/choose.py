"""Which view shows a run: the dashboard, or the plain view when the dashboard cannot work.

Light on purpose (``os`` and ``shutil`` only): ``kerasdl train`` calls `choose_ui` before it
imports Textual or TensorFlow.
"""

from __future__ import annotations

import os
import shutil

__all__ = ["MIN_SIZE", "choose_ui", "why_no_dashboard"]

MIN_SIZE = (80, 24)
"""The smallest terminal (columns, rows) the dashboard is laid out for."""

_VIEWS = ("auto", "tui", "plain", "none")


def choose_ui(
    requested: str,
    stdout,
    *,
    stderr=None,
    size: tuple[int, int] | None = None,
    environ: dict | None = None,
) -> tuple[str, str | None]:
    """The view to show a run with, and why it differs from the one requested.

    ``"plain"`` and ``"none"`` are kept as they are. ``"auto"`` and ``"tui"`` give
    ``"tui"`` when the dashboard can draw, else ``"plain"`` with the reason (see
    `why_no_dashboard`); the terminal's size only counts for ``"auto"``: an explicit
    ``--ui tui`` runs the dashboard in a small terminal anyway, cramped.

    Args:
        requested: ``"auto"``, ``"tui"``, ``"plain"`` or ``"none"`` (an ``Enum`` with such a
            ``value`` works too).
        stdout: The stream the run's output goes to (``sys.stdout``).
        stderr: The stream Textual draws on (``sys.stderr``). Defaults to None (not checked).
        size: ``(columns, rows)`` of the terminal. Defaults to None (asked from ``stdout``,
            else from ``COLUMNS``/``LINES``).
        environ: The environment to read ``TERM`` from. Defaults to ``os.environ``.

    Returns:
        ``(ui, reason)``: ``ui`` is ``"tui"``, ``"plain"`` or ``"none"``; ``reason`` is None
        when it is what was requested, else one line saying why the plain view is used.

    Example:

    ```python
    ui, reason = choose_ui("auto", sys.stdout, stderr=sys.stderr)
    if reason:
        print(f"note: {reason}", file=sys.stderr)
    ```
    """
    requested = str(getattr(requested, "value", requested)).lower()
    if requested not in _VIEWS:
        raise ValueError(
            f"Argument `requested` must be one of {', '.join(_VIEWS)}. "
            f"Received: requested={requested!r}"
        )
    if requested in ("plain", "none"):
        return requested, None
    why = why_no_dashboard(
        stdout, stderr=stderr, size=size, environ=environ, check_size=requested == "auto"
    )
    if why is None:
        return "tui", None
    return "plain", f"{why}: plain view"


def why_no_dashboard(
    stdout,
    *,
    stderr=None,
    size: tuple[int, int] | None = None,
    environ: dict | None = None,
    check_size: bool = True,
) -> str | None:
    """Why the dashboard cannot draw here, or None when it can.

    - ``stdout`` is not a terminal (a pipe, a file, a CI log), or ``stderr`` is given and is
      not one (Textual draws on stderr);
    - ``TERM`` is ``dumb`` or unset (no cursor control);
    - with ``check_size``, the terminal is smaller than `MIN_SIZE` (80x24).

    Args: as for `choose_ui`; ``check_size`` defaults to True.
    """
    environ = os.environ if environ is None else environ
    if not _is_terminal(stdout):
        return "stdout is not a terminal, so the dashboard cannot draw"
    if stderr is not None and not _is_terminal(stderr):
        return "stderr is not a terminal (the dashboard draws there)"
    term = environ.get("TERM", "")
    if term in ("", "dumb"):
        return f"TERM={term or '(unset)'} cannot show the dashboard"
    if check_size:
        columns, rows = size if size is not None else _terminal_size(stdout)
        if columns < MIN_SIZE[0] or rows < MIN_SIZE[1]:
            return (
                f"the terminal is {columns}x{rows}, smaller than the dashboard's "
                f"{MIN_SIZE[0]}x{MIN_SIZE[1]} (enlarge it, or force --ui tui)"
            )
    return None


def _is_terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed or detached stream
        return False


def _terminal_size(stdout) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(stdout.fileno())
    except (AttributeError, ValueError, OSError):
        size = shutil.get_terminal_size()
    return size.columns, size.lines
