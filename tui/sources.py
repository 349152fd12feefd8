"""Where a run's events come from: a script, a followed ``events.jsonl``, the runner, or a
script's own ``fit`` (`FitSource`, for `kerasdl.dashboard.run`).

A source has one method, ``run(emit, stop)``, called in a thread worker: it calls ``emit(event)``
for every event (``emit`` posts a message to the UI and returns at once) until it has no more
or ``stop`` is set, and returns a result (the runner's ``RunSummary``, or None). ``live`` says
whether the source trains in this process: then ``s`` stops the run (``stop`` is the runner's
graceful stop: it finishes the epoch, saves, and ends as "stopped") and ``q`` asks first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

__all__ = ["NO_TRACK", "EventSource", "FileSource", "FitSource", "RunnerSource", "ScriptedSource"]

NO_TRACK = "the fit ended without a kerasdl.callbacks.Track run: add one to model.fit's callbacks"

Emit = Callable[[dict], None]


class EventSource(Protocol):
    """What the run screen needs from a source of events."""

    live: bool
    """Whether the run trains in this process (``s`` stops it, ``q`` asks first)."""
    waiting_text: str
    """What the screen says before the first event."""

    def run(self, emit: Emit, stop: threading.Event) -> object:
        """Call ``emit`` for every event until the end or until ``stop`` is set."""


class ScriptedSource:
    """Plays a list of events as a run would: for tests, demos and benchmarks.

    With ``stop`` set (the ``s`` key), it behaves like the runner's graceful stop: it plays
    on to the end of the current epoch (its ``epoch_ended`` and the ``lr_changed`` events
    after it), then emits a ``run_finished`` with status ``"stopped"`` instead of the rest.

    Args:
        events: The events, in order.
        delay_s: Seconds to wait before each event (``batch`` events included). Defaults to 0.
        hold_after: After this many events, wait until ``stop`` is set or `release` is
            called (a run "in the middle of an epoch", for tests); ``len(events)`` holds
            after the last one. Defaults to None.
        live: Whether it stands for a run in this process. Defaults to True.
        clock: Gives the ``time`` of the ``run_finished`` it makes up on a stop. Defaults
            to the time of the last event played plus one second.
    """

    def __init__(
        self,
        events: Iterable[dict],
        *,
        delay_s: float = 0.0,
        hold_after: int | None = None,
        live: bool = True,
        clock: Callable[[], float] | None = None,
    ):
        self.events = [dict(event) for event in events]
        self.delay_s = delay_s
        self.hold_after = hold_after
        self.live = live
        self.waiting_text = "waiting for the first event"
        self._clock = clock
        self._released = threading.Event()
        self.played = 0

    def release(self) -> None:
        """Let a source held by ``hold_after`` play on."""
        self._released.set()

    def _hold(self, stop: threading.Event) -> None:
        while not (stop.is_set() or self._released.is_set()):
            stop.wait(0.01)

    def run(self, emit: Emit, stop: threading.Event) -> object:
        last = {}
        stopping = False
        for index, event in enumerate(self.events):
            if index == self.hold_after:
                self._hold(stop)
            if stop.is_set() and not stopping:
                if not self.live:
                    return None
                stopping = True
            if stopping and self._ends_stop(event, index):
                emit(self._stopped(last))
                return None
            if self.delay_s:
                time.sleep(self.delay_s)
            emit(event)
            self.played += 1
            last = event
        if self.hold_after is not None and self.hold_after >= len(self.events):
            self._hold(stop)  # a run still in progress after its last scripted event
            if stop.is_set() and self.live and last.get("type") != "run_finished":
                emit(self._stopped(last))
        return None

    def _ends_stop(self, event: dict, index: int) -> bool:
        """Whether ``event`` comes after the epoch that was running when stop was set."""
        previous = self.events[index - 1] if index else {}
        kind = event.get("type")
        if kind == "run_finished":
            return True
        if kind == "lr_changed":
            return previous.get("type") not in ("epoch_ended", "lr_changed")
        return previous.get("type") in ("epoch_ended", "lr_changed")

    def _stopped(self, last: dict) -> dict:
        epochs = [e for e in self.events[: self.played] if e.get("type") == "epoch_ended"]
        status = (epochs[-1].get("early_stopping") or {}) if epochs else {}
        now = self._clock() if self._clock else float(last.get("time") or 0.0) + 1.0
        first = next((e for e in self.events if e.get("type") == "run_started"), {})
        return {
            "schema": 1,
            "type": "run_finished",
            "time": now,
            "run_id": last.get("run_id"),
            "status": "stopped",
            "best_epoch": status.get("best_epoch"),
            "best": {"monitor": status.get("monitor"), "value": status.get("best")},
            "test": None,
            # from the start of the setup, as the runner counts (run_started's time - setup_s)
            "duration_s": now - float(first.get("time") or now) + float(first.get("setup_s") or 0),
            "epochs_run": len(epochs),
            "error": None,
        }


class FileSource:
    """Follows a run's ``events.jsonl``: every event already there, then each new one.

    Uses `kerasdl.events.follow`: a half-written last line waits until it is complete, a
    file that does not exist yet is waited for, and a file that grows is read as it grows.
    It never trains anything (``live`` is False): stopping it stops the reading only.

    Args:
        path: The run directory or its ``events.jsonl``.
        poll_s: Seconds between checks for new lines. Defaults to 0.2.
    """

    live = False

    def __init__(self, path, *, poll_s: float = 0.2):
        path = Path(path)
        self.path = path / "events.jsonl" if path.is_dir() or path.suffix != ".jsonl" else path
        self.poll_s = poll_s
        self.waiting_text = f"waiting for {self.path}"

    def run(self, emit: Emit, stop: threading.Event) -> object:
        from kerasdl.events import follow

        for event in follow(self.path, stop, self.poll_s):
            emit(event)
        return None


class RunnerSource:
    """Trains in this process: ``kerasdl.runner.train(config, sinks=[emit], stop=stop)``.

    ``stop`` is the runner's graceful stop: set, the run finishes the current epoch, writes
    its checkpoint and events, and ends with status ``"stopped"``. An exception from the
    runner (a bad config, missing data, a failed run) propagates to the worker, which
    shows it.

    Args:
        config: A `kerasdl.config.TrainConfig`.
        resume: A run directory to continue, or None.
        train: The function to call. Defaults to ``kerasdl.runner.train`` (imported in the
            worker thread, so the screen shows while TensorFlow loads).
    """

    live = True
    waiting_text = "starting: loading TensorFlow and the data"

    def __init__(self, config, *, resume=None, train: Callable | None = None, ui_niceness: int = 0):
        self.config = config
        self.resume = resume
        self.train = train
        self.ui_niceness = ui_niceness

    def run(self, emit: Emit, stop: threading.Event) -> object:
        train = self.train
        if train is None:
            from kerasdl.cli.native_logs import import_runner

            train = import_runner().train  # TensorFlow without the JAX it would load
        return train(self.config, sinks=[emit], resume=self.resume, stop=stop)


class FitSource:
    """Runs a script's own ``fit`` (a callable) in a thread of its own; the events of the
    `kerasdl.callbacks.Track` runs it makes feed the screen (`kerasdl.callbacks.track.watching`).

    ``stop`` (the ``s`` key) makes the Tracks stop training after the epoch (``stopped``).
    `interrupt` (Ctrl-C) raises ``KeyboardInterrupt`` in the fit's thread at once: the fit
    ends, its Tracks end the runs as ``interrupted``. The fit runs in its own thread, not the
    worker's, so that the dashboard can close while it runs (`close`); `kerasdl.dashboard.run`
    then interrupts it and waits for it.

    After the fit: ``result`` is what it returned, ``error`` what it raised (a
    ``KeyboardInterrupt`` too), ``tracks`` the Tracks it started.

    Args:
        fit: Called with no arguments, in the fit's thread.
    """

    live = True
    waiting_text = "waiting for a kerasdl.callbacks.Track to start training"

    def __init__(self, fit: Callable[[], object]):
        self.fit = fit
        self.result = None
        self.error: BaseException | None = None
        self.tracks: list = []
        self.thread: threading.Thread | None = None
        self.done = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._in_fit = False
        self._interrupted = False

    def run(self, emit: Emit, stop: threading.Event) -> object:
        self.thread = threading.Thread(
            target=self._run_fit, args=(emit, stop), name="kerasdl-fit", daemon=True
        )
        self.thread.start()
        while not self.done.wait(0.05):
            if self._closed.is_set():  # the dashboard closes while the fit runs
                return None
        if isinstance(self.error, Exception):
            raise self.error  # the screen shows it
        return self.result

    def _run_fit(self, emit: Emit, stop: threading.Event) -> None:
        from kerasdl.callbacks.track import end_runs, watching

        try:
            with watching(emit, stop) as watcher:
                self.tracks = watcher.tracks
                try:
                    try:
                        with self._lock:
                            self._in_fit = True
                        self.result = self.fit()
                    finally:
                        with self._lock:
                            self._in_fit = False
                except BaseException as error:  # KeyboardInterrupt from `interrupt` too
                    self.error = error
                end_runs(watcher.tracks, self.error)
            if not watcher.tracks and self.error is None:
                emit(
                    {
                        "schema": 1,
                        "type": "notice",
                        "time": time.time(),
                        "run_id": None,
                        "level": "warning",
                        "message": NO_TRACK,
                    }
                )
        finally:
            self.done.set()

    @property
    def interrupted(self) -> bool:
        """Whether `interrupt` has raised ``KeyboardInterrupt`` in the fit's thread."""
        return self._interrupted

    def interrupt(self) -> bool:
        """Raise ``KeyboardInterrupt`` in the fit's thread (once); False if it is not in the
        fit (not started, or done)."""
        import ctypes

        with self._lock:
            if not self._in_fit or self._interrupted or self.thread is None:
                return False
            self._interrupted = True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self.thread.ident), ctypes.py_object(KeyboardInterrupt)
            )
        return True

    def close(self) -> None:
        """The dashboard closes: `run` returns without waiting for the fit."""
        self._closed.set()
