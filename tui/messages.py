"""The messages an event source's thread posts to the run screen.

A source runs in a thread worker and hands each event to the screen with ``post_message``
(thread-safe, never blocks the source). ``batch`` events come often, so `BatchProgress`
replaces an older one still waiting in the queue; every other event is a `RunEvent` and is
always delivered, in order.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

__all__ = ["BatchProgress", "RunEvent", "SourceEnded", "message_for"]


@dataclass
class RunEvent(Message):
    """One event of the run (anything but ``batch``)."""

    event: dict


@dataclass
class BatchProgress(Message):
    """A ``batch`` progress event; a newer one replaces it if it has not been handled yet."""

    event: dict

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, BatchProgress)


@dataclass
class SourceEnded(Message):
    """The source has no more events: the run returned, the follower was stopped, or it failed.

    Attributes:
        result: What the source returned (the runner's ``RunSummary``), or None.
        error: ``"ExceptionName: message"`` when the source raised, else None.
        exception: The exception itself (the CLI maps a config, data or run error to exit
            code 2), else None.
    """

    result: object = None
    error: str | None = None
    exception: BaseException | None = None


def message_for(event: dict) -> Message:
    """The message that carries ``event``."""
    if event.get("type") == "batch":
        return BatchProgress(event)
    return RunEvent(event)
