"""A stop signal that is never lost (private).

The CLI turns SIGTERM and SIGHUP into a ``KeyboardInterrupt`` raised by its signal handler.
Python runs a handler between two bytecodes of the main thread, wherever that is, and an
exception raised while a ``__del__`` method or a weakref callback runs is printed as "Exception
ignored" and dropped: the run would then go on as if no signal had come. So the handler also
calls `request`, and the runner's monitor raises the interrupt again at its next hook while one
is `pending` (`kerasdl.runner`); the runner `clear`s it once it has stopped.
"""

from __future__ import annotations

_pending: list[str] = []


def request(reason: str) -> None:
    """Note that a stop was asked for (``reason``: ``"signal SIGTERM"``, ``""`` for Ctrl-C)."""
    if not _pending:
        _pending.append(reason)


def pending() -> str | None:
    """The reason of a stop asked for and not yet cleared, or None."""
    return _pending[0] if _pending else None


def clear() -> None:
    """The stop has been handled."""
    _pending.clear()
