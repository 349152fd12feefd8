"""The event stream of a run: typed JSON events, one per line in ``events.jsonl``.

A run emits events (``run_started``, ``batch``, ``epoch_ended``, ``lr_changed``, ``notice``,
``run_finished``); every view consumes the same events, in process through a *sink* (a
callable that takes the event dict) or across processes by following the run's
``events.jsonl``. The schema is versioned (`SCHEMA_VERSION`) and described, field by field,
in ``docs/events.md``.

This module is light (``json``, ``pathlib``, ``threading``): the CLI's ``runs`` commands and
the dashboard's follower import it without Keras. The Keras callback that turns ``fit``'s
hooks into events is `kerasdl.event_log.EventLog`.

Strict JSON: a non-finite float (a NaN loss) is written as one of the strings ``"NaN"``,
``"Infinity"``, ``"-Infinity"``, and `read_events` / `follow` turn those strings back into
floats. Sinks receive exactly what a reader of the file gets back: plain Python values
(``dict``, ``list``, ``str``, ``int``, ``float``, ``bool``, ``None``), with non-finite floats
as floats.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from kerasdl._files import UnreadableFile, open_regular, read_regular_file
from kerasdl.events.schema import (
    MAX_DEPTH,
    MAX_LINE_BYTES,
    SCHEMA,
    Event,
    LineProblem,
    from_dict,
    from_line,
    to_line,
)

__all__ = [
    "EVENT_TYPES",
    "FILE_EVENT_TYPES",
    "MAX_DEPTH",
    "MAX_EVENTS_BYTES",
    "MAX_LINE_BYTES",
    "SCHEMA_VERSION",
    "EventWriter",
    "decode_event",
    "encode_event",
    "follow",
    "read_events",
]

SCHEMA_VERSION = 1

EVENT_TYPES = tuple(SCHEMA)
"""The event types of schema 1. Readers must accept others (later schemas may add some)."""

FILE_EVENT_TYPES = frozenset(EVENT_TYPES) - {"batch"}
"""The types written to ``events.jsonl``; ``batch`` events go to the sinks only."""

_DURABLE_TYPES = frozenset({"run_started", "epoch_ended", "lr_changed", "run_finished"})
"""Types after which the file is also ``fsync``-ed (a crash keeps them)."""

Sink = Callable[[dict], None]

#: The largest ``events.jsonl`` `read_events` reads (256 MiB: a million epochs of kerasdl's).
MAX_EVENTS_BYTES = 256 << 20

_logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- encoding


def _plain(value):
    """``value`` as plain JSON-able Python values (non-finite floats stay floats).

    Accepts numpy scalars and arrays, tensors with ``.numpy()``, dataclasses, tuples, sets
    and paths; anything else raises ``TypeError`` (an event must not silently lose data).
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):  # a dict, or an Event read back
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return [_plain(item) for item in sorted(value, key=repr)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if hasattr(value, "numpy") and callable(value.numpy):  # a tensor
        value = value.numpy()
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalars and arrays
        return _plain(value.tolist())
    raise TypeError(
        f"Event values must be JSON-able (numbers, strings, lists, dicts). "
        f"Received: {value!r} of type {type(value).__name__}"
    )


def encode_event(event: dict) -> str:
    """One event as one line of strict JSON (no newline); non-finite floats become strings."""
    return to_line(_plain(event))


def decode_event(line: str | bytes) -> Event | None:
    """One line of ``events.jsonl`` as an `Event` (a read-only mapping), or ``None`` if it is
    not one.

    Through the one declaration (`kerasdl.events.schema`): declared fields are checked (one
    that does not fit reads as null and is listed in ``Event.problems``), the strings
    ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` become floats only where a float is
    declared (metrics, rates, times), and unknown types and fields are kept as they are. A line
    that is not a JSON object (a torn write, garbage), is longer than `MAX_LINE_BYTES` or nests
    deeper than `MAX_DEPTH` gives ``None``; it never raises.
    """
    event = from_line(line)
    return None if isinstance(event, LineProblem) else event


# ----------------------------------------------------------------------------- writing


class EventWriter:
    """Emit events: append them to ``events.jsonl`` and hand them to in-process sinks.

    Each `emit` builds the event ``{"schema": 1, "type": ..., "time": <unix seconds>,
    "run_id": ..., **fields}``, writes it as one line of strict JSON (all types but
    ``batch``), then calls every sink with the same dict. The file is flushed after every
    line, and also ``fsync``-ed after ``run_started``, ``epoch_ended``, ``lr_changed`` and
    ``run_finished``, so another process following the file sees every finished epoch, and a
    crash keeps it. ``run_started`` gets the writer's ``pid`` and ``host`` (unless given), so
    `kerasdl.runs` can tell a live run from one whose process died.
    An existing file is appended to (a resumed run continues its stream); if it ends with a
    torn line (a crash mid-write), a newline is added first so that line stays alone.

    A sink that raises is removed, and a ``notice`` event (level ``"warning"``) says so: a
    broken view never stops training. ``KeyboardInterrupt`` and other ``BaseException``s
    pass through. The writer is thread-safe: events from several threads are written and
    delivered one at a time, in one order. Sinks run in the emitting thread, under the
    writer's lock: a sink must return quickly and never wait for a thread that may emit.

    Args:
        path: The ``events.jsonl`` file, or ``None`` for sinks only. Its directory must exist.
        sinks: Callables that take each event dict. Defaults to none.
        run_id: The ``run_id`` of every event. Defaults to the name of ``path``'s directory
            (``runs/<run-id>/events.jsonl``), or ``None`` without a path.
        clock: Returns the ``time`` of an event, in Unix seconds. Defaults to ``time.time``.

    Example:

    ```python
    with EventWriter(run_dir / "events.jsonl", sinks=[print]) as events:
        events.emit("notice", level="info", message="offline: using mnist-mini")
    ```

    References:
        - [JSON Lines](https://jsonlines.org/)
    """

    def __init__(
        self,
        path: str | os.PathLike | None,
        sinks: Iterable[Sink] = (),
        *,
        run_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.path = None if path is None else Path(path)
        self.run_id = run_id if run_id is not None or path is None else self.path.parent.name
        self.sinks = list(sinks)
        self._clock = clock
        self._lock = threading.RLock()
        self._file = None
        self._closed = False
        if self.path is not None:
            self._file = _open_for_append(self.path)

    # -- sinks

    @property
    def has_sinks(self) -> bool:
        """Whether any sink is attached (the ``batch`` events go nowhere without one)."""
        return bool(self.sinks)

    def add_sink(self, sink: Sink) -> None:
        """Attach a sink; it receives the events emitted from now on."""
        with self._lock:
            self.sinks.append(sink)

    def remove_sink(self, sink: Sink) -> None:
        """Detach a sink (nothing happens if it is not attached)."""
        with self._lock:
            if sink in self.sinks:
                self.sinks.remove(sink)

    # -- emitting

    def emit(self, type: str, /, **fields) -> dict:
        """Build, write and deliver one event; returns it (as the sinks received it).

        Args:
            type: The event type, e.g. ``"epoch_ended"``.
            **fields: The event's fields (see ``docs/events.md``). ``time`` and ``run_id``
                may be given to override the writer's.

        Raises:
            TypeError: A field value is not JSON-able, or a declared field has a value of the
                wrong kind (`kerasdl.events.schema.SCHEMA`: what a reader would not accept is
                never written).
            ValueError: A field is named ``schema`` or ``type``.
            RuntimeError: The writer is closed.
        """
        reserved = {"schema", "type"} & set(fields)
        if reserved:
            raise ValueError(f"Event fields {sorted(reserved)} are set by the writer.")
        with self._lock:
            if self._closed:
                raise RuntimeError(f"The EventWriter of {self.path} is closed.")
            event = {
                "schema": SCHEMA_VERSION,
                "type": type,
                "time": fields.pop("time", None),
                "run_id": fields.pop("run_id", self.run_id),
            }
            if event["time"] is None:
                event["time"] = float(self._clock())
            if type == "run_started":  # who writes the file: `kerasdl.runs` checks it lives
                fields.setdefault("pid", os.getpid())
                fields.setdefault("host", socket.gethostname())
            event.update(fields)
            event = _plain(event)
            line = to_line(event)
            checked = from_dict(json.loads(line))  # the one declaration, as a reader sees it
            if checked.problems:
                raise TypeError(
                    f"Event {type!r} does not fit schema 1: {'; '.join(checked.problems)}"
                )
            if self._file is not None and type != "batch":
                self._write(line, durable=type in _DURABLE_TYPES)
            self._deliver(event)
            return event

    def _write(self, line: str, *, durable: bool) -> None:
        self._file.write(line + "\n")
        self._file.flush()
        if durable:
            os.fsync(self._file.fileno())

    def _deliver(self, event: dict) -> None:
        failed = []
        for sink in list(self.sinks):
            try:
                sink(event)
            except Exception as error:  # a view must not kill training
                _logger.warning("Event sink %r raised; it was removed.", sink, exc_info=True)
                failed.append((sink, error))
        for sink, error in failed:
            self.remove_sink(sink)
            self.emit(
                "notice",
                level="warning",
                message=(
                    f"An event sink ({_sink_name(sink)}) raised "
                    f"{type(error).__name__}: {error}; it receives no more events."
                ),
            )

    # -- closing

    def flush(self) -> None:
        """Flush and ``fsync`` the file now."""
        with self._lock:
            if self._file is not None and not self._file.closed:
                self._file.flush()
                os.fsync(self._file.fileno())

    def close(self) -> None:
        """Flush, ``fsync`` and close the file; later `emit` calls raise. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._file is not None:
                try:
                    self._file.flush()
                    os.fsync(self._file.fileno())
                finally:
                    self._file.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        return f"EventWriter(path={self.path!r}, sinks={len(self.sinks)}, run_id={self.run_id!r})"


def _open_for_append(path: Path):
    """Open ``path`` to append lines; isolate a torn last line left by a crash."""
    torn = False
    try:
        with open(path, "rb") as existing:
            existing.seek(0, os.SEEK_END)
            if existing.tell() > 0:
                existing.seek(-1, os.SEEK_END)
                torn = existing.read(1) != b"\n"
    except FileNotFoundError:
        pass
    handle = open(path, "a", encoding="utf-8", newline="\n")  # noqa: SIM115 (kept open)
    if torn:
        handle.write("\n")
        handle.flush()
    return handle


def _sink_name(sink) -> str:
    name = getattr(sink, "__qualname__", None) or type(sink).__qualname__
    return name


# ----------------------------------------------------------------------------- reading


def read_events(path: str | os.PathLike) -> list[dict]:
    """All events of an ``events.jsonl`` so far, in file order.

    Tolerant, so it can read a file that a run is still writing, or that a crash cut:

    - a file that does not exist (yet) gives ``[]``;
    - a last line without its newline is returned only if it is a whole JSON object (a line
      cut mid-write is left out; read again later to get it);
    - a line that is not a JSON object (a torn write in the middle, after a crash) is
      skipped;
    - events of unknown types, unknown fields and other schema versions are returned as
      they are (callers ignore what they do not know).

    Non-finite floats written as ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` come back as
    floats (see `decode_event`).

    Args:
        path: The ``events.jsonl`` file.

    Returns:
        A list of event dicts.

    Raises:
        kerasdl._files.UnreadableFile: ``path`` is not a regular file (a FIFO, a device, a
            directory) or is larger than `MAX_EVENTS_BYTES`; it is not read.
    """
    data = read_regular_file(path, MAX_EVENTS_BYTES)
    if data is None:
        return []
    events = []
    lines = data.split(b"\n")
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        event = decode_event(line)
        if event is None:
            if index == len(lines) - 1:
                break  # a half-written last line
            continue
        events.append(dict(event))
    return events


def follow(
    path: str | os.PathLike,
    stop: threading.Event | None = None,
    poll_s: float = 0.2,
    *,
    until_finished: bool = False,
) -> Iterator[dict]:
    """Yield the events of ``events.jsonl`` as they are written, like ``tail -f`` from the top.

    Each event is a checked `kerasdl.events.schema.Event` (a read-only mapping that keeps its
    ``problems``). It yields every event already in the file, then waits (polling every ``poll_s``
    seconds) for more. A line is yielded once its newline has arrived, so a half-written
    last line is held back until it is complete. The file may not exist yet: it waits for it.
    If the file shrinks or is replaced by another file, it starts over from the top. Lines that are
    not JSON objects, or longer than `MAX_LINE_BYTES` (never held in memory whole), are skipped;
    unknown types and fields are yielded as they are. A path that is not a regular file (a
    FIFO, a device, a directory) is not read: it yields one ``notice`` event (level
    ``"error"``) that says so, and ends.

    The iteration ends when ``stop`` is set (checked between polls and between events) or,
    with ``until_finished``, right after a ``run_finished`` event. Without either it never
    ends: run it in a thread and set ``stop``.

    Args:
        path: The ``events.jsonl`` file to follow.
        stop: Set it to end the iteration. Defaults to None (never).
        poll_s: Seconds between checks for new data, ``> 0``. Defaults to 0.2.
        until_finished: End after the first ``run_finished`` event (a replay, or a live run
            until it ends). A resumed run appends to the same file after a
            ``run_finished``; leave this False to keep following it. Defaults to False.

    Example:

    ```python
    stop = threading.Event()
    for event in follow("runs/demo/events.jsonl", stop, until_finished=True):
        print(event["type"])
    ```
    """
    if not poll_s > 0:
        raise ValueError(f"Argument `poll_s` must be > 0. Received: poll_s={poll_s!r}")
    path = Path(path)
    stop = stop if stop is not None else threading.Event()
    handle = None
    pending = b""
    skipping = False
    try:
        while not stop.is_set():
            if handle is None:
                try:
                    handle = open_regular(path)
                except FileNotFoundError:
                    stop.wait(poll_s)
                    continue
                except OSError as exc:
                    yield _unreadable_notice(path, exc)
                    return
            try:
                size = os.fstat(handle.fileno()).st_size
                if size < handle.tell():  # truncated or rewritten: start again
                    handle.seek(0)
                    pending, skipping = b"", False
                elif _replaced(handle, path):
                    handle.close()
                    handle, pending, skipping = None, b"", False
                    continue
            except OSError:
                pass
            chunk = handle.read()
            if not chunk:
                stop.wait(poll_s)
                continue
            pending += chunk
            *complete, pending = pending.split(b"\n")
            if skipping and complete:  # the rest of an overlong line
                complete, skipping = complete[1:], False
            if len(pending) > MAX_LINE_BYTES:  # never hold a line decode_event would refuse
                pending, skipping = b"", True
            for line in complete:
                if stop.is_set():
                    return
                if not line.strip():
                    continue
                event = decode_event(line)
                if event is None:
                    continue
                yield event  # an Event: a read-only mapping that keeps its problems
                if until_finished and event.get("type") == "run_finished":
                    return
    finally:
        if handle is not None:
            handle.close()


def _unreadable_notice(path: Path, exc: OSError) -> dict:
    """The ``notice`` event `follow` yields for an ``events.jsonl`` it cannot read."""
    return {
        "schema": SCHEMA_VERSION,
        "type": "notice",
        "time": time.time(),
        "level": "error",
        "message": str(exc) if isinstance(exc, UnreadableFile) else f"cannot read {path}: {exc}",
    }


def _replaced(handle, path: Path) -> bool:
    """Whether ``path`` now names another file than the open ``handle`` (it was replaced)."""
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(handle.fileno())
    return (current.st_ino, current.st_dev) != (opened.st_ino, opened.st_dev)
