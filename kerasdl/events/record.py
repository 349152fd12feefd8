"""`RunRecord`: a run's events folded, once, into everything a view shows.

Every reader of a run goes through it: `kerasdl.runs` (``runs list|show|compare|export``), the
plain view's closing lines and the dashboard's state (`kerasdl_tui.state.RunState` is a
`RunRecord`). It folds `kerasdl.events.schema.Event` records (checked on the way in), one at a
time (`apply`) or a whole file (`RunRecord.read`), and holds the only copies of the rules that
views used to repeat: the status, the best epoch and value, a metric's direction, whether the best
weights were restored, the learning rate now, the epochs planned.

Plain Python, standard library only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping

from kerasdl.events.schema import (
    STATUS_LABELS,
    Event,
    LineProblem,
    LrReason,
    Status,
    from_dict,
    from_line,
    larger_is_better,
    parse_status,
)

__all__ = ["LR_REASONS", "SYSTEM_FIELDS", "RunRecord", "metric_order"]

LR_REASONS = {
    LrReason.SCHEDULE.value: ("S", "schedule"),
    LrReason.PLATEAU.value: ("P", "plateau"),
    LrReason.WARMUP_END.value: ("W", "warmup end"),
    LrReason.UNKNOWN.value: ("?", "unknown cause"),
}
"""``lr_changed`` reason -> (marker letter, words). A step schedule's changes read "step"."""

_METRIC_ORDER = ("loss", "accuracy", "val_loss", "val_accuracy")
#: The numbers of a ``system`` event the record keeps (latest, peak, mean).
SYSTEM_FIELDS = (
    "cpu_percent",
    "machine_cpu_percent",
    "cpu_count",
    "rss_mb",
    "rss_peak_mb",
    "gpu_memory_mb",
    "gpu_memory_total_mb",
    "gpu_util_percent",
)
_SYSTEM_BOUND = 1e12  # no reading is larger (a petabyte in MiB, a million cores in percent)
_LIVE = (Status.WAITING.value, Status.RUNNING.value, Status.STOPPING.value)
_RESTORING = (Status.COMPLETED.value, Status.EARLY_STOPPED.value, Status.STOPPED.value)
#: The most problems a record keeps (a file of a million bad lines stays small in memory).
MAX_PROBLEMS = 100


def metric_order(names: Iterable[str]) -> list[str]:
    """Metric names with loss, accuracy, val_loss, val_accuracy first, the rest after."""
    names = list(dict.fromkeys(names))
    return [n for n in _METRIC_ORDER if n in names] + [n for n in names if n not in _METRIC_ORDER]


def number(value) -> float | None:
    """``value`` as a float if it is a number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _finite(value) -> float | None:
    value = number(value)
    return value if value is not None and math.isfinite(value) else None


def _part_start(time: float | None, setup_s) -> float | None:
    """When a part of a run began: its ``run_started`` ``time`` less ``setup_s`` (the setup
    before it, which ``run_finished``'s ``duration_s`` counts too); ``time`` for a
    ``run_started`` without it (an older kerasdl)."""
    setup = _finite(setup_s)
    if time is None or setup is None or setup < 0:
        return time
    return time - setup


class RunRecord:
    """Everything the views show about one run, updated one event at a time.

    Epochs are 1-based, as in the events. A resumed run (a second ``run_started`` in the same
    stream) keeps its earlier epochs; an epoch seen twice keeps its latest event.

    Attributes:
        started: The latest ``run_started`` event (None before it).
        first_started: The first ``run_started`` event (None before it).
        finished: The ``run_finished`` event of the current part (None while running).
        status: ``"waiting"`` (no ``run_started`` yet), ``"running"``, ``"stopping"`` (a stop
            was asked for), or the ``run_finished`` status (a `Status` value; ``"unknown"``
            for a status no schema-1 reader knows).
        history: ``{epoch: epoch_ended event}``.
        batch: The latest ``batch`` event of the current epoch (None between epochs).
        lr_changes: The ``lr_changed`` events.
        notices: The ``notice`` events.
        last_time: The ``time`` of the latest event.
        resumes: ``run_started`` events after the first.
        system: The latest ``system`` event's numbers (`SYSTEM_FIELDS`: finite, >= 0; a
            missing or bad one left out), ``{}`` before one.
        system_samples: How many ``system`` events were read.
        system_peak: The largest value of each of them over the run (resumed parts included).
        problems: What could not be read: bad lines and fields that did not fit, at most
            `MAX_PROBLEMS` (``problems_dropped`` counts the rest).
    """

    def __init__(self):
        self.started: Event | None = None
        self.first_started: Event | None = None
        self.finished: Event | None = None
        self.status = Status.WAITING.value
        self.history: dict[int, Event] = {}
        self.batch: Event | None = None
        self.lr_changes: list[Event] = []
        self.notices: list[Event] = []
        self.last_time: float | None = None
        self.stop_requested = False
        self.resumes = 0
        self.events = 0
        self.problems: list[str] = []
        self.problems_dropped = 0
        self._durations: list[float] = []
        self._part_start: float | None = None
        self._earlier_parts_s = 0.0
        self.system: dict[str, float] = {}
        self.system_samples = 0
        self.system_peak: dict[str, float] = {}
        self._system_sums: dict[str, tuple[float, int]] = {}

    # ------------------------------------------------------------------ folding

    @classmethod
    def read(cls, path: str | os.PathLike, data: bytes | None = None) -> RunRecord:
        """The record of an ``events.jsonl`` (or of its bytes ``data``, already read).

        A torn last line (no newline) is left out; every other line that is not an event is a
        problem ("line 17: not JSON"). Reading the file is `kerasdl.events.read_events`'s
        (bounded: regular files only); this raises what it raises.
        """
        if data is None:
            from kerasdl.events import MAX_EVENTS_BYTES, read_regular_file

            data = read_regular_file(path, MAX_EVENTS_BYTES) or b""
        record = cls()
        lines = data.split(b"\n")
        for index, line in enumerate(lines):
            if not line.strip():
                continue
            event = from_line(line, index + 1)
            if isinstance(event, LineProblem) and index == len(lines) - 1:
                break  # a half-written last line
            record.apply(event)
        return record

    def apply(self, event: Mapping | Event | LineProblem) -> str | None:
        """Fold one event in (a dict is checked first); returns its type (None for a problem).

        Never raises on the event's content: what does not fit is recorded in `problems`.
        """
        if isinstance(event, LineProblem):
            self._problem(str(event))
            return None
        if not isinstance(event, Event):
            event = from_dict(event)
        self.events += 1
        for problem in event.problems:
            self._problem(problem)
        kind = event.type
        time = _finite(event.time)
        if time is not None:
            self.last_time = time
        if kind == "run_started":
            if self.finished is not None and _finite(self.finished.get("duration_s")) is not None:
                self._earlier_parts_s += float(self.finished["duration_s"])
            if self.first_started is None:
                self.first_started = event
            else:
                self.resumes += 1
            self.started = event
            self.finished = None
            self.batch = None
            self.status = Status.STOPPING.value if self.stop_requested else Status.RUNNING.value
            self._part_start = _part_start(time, event.get("setup_s"))
        elif kind == "batch":
            self.batch = event
            if self.status == Status.WAITING.value:
                self.status = Status.RUNNING.value
        elif kind == "epoch_ended":
            epoch = event.get("epoch")
            if isinstance(epoch, int) and epoch >= 1:
                self.history[epoch] = event
            self.batch = None
        elif kind == "lr_changed":
            self.lr_changes.append(event)
        elif kind == "notice":
            self.notices.append(event)
        elif kind == "system":
            self._apply_system(event)
        elif kind == "run_finished":
            self.finished = event
            self.batch = None
            self.stop_requested = False
            duration = _finite(event.get("duration_s"))
            if duration is not None:
                self._durations.append(duration)
            status = event.get("status")
            self.status = parse_status(status or Status.COMPLETED.value).value
        return kind

    def _apply_system(self, event: Event) -> None:
        values = {}
        for name in SYSTEM_FIELDS:
            value = _finite(event.get(name))
            if value is not None and 0 <= value <= _SYSTEM_BOUND:
                values[name] = value
        self.system = values
        self.system_samples += 1
        for name, value in values.items():
            self.system_peak[name] = max(value, self.system_peak.get(name, value))
            total, count = self._system_sums.get(name, (0.0, 0))
            self._system_sums[name] = (total + value, count + 1)

    def system_mean(self, name: str) -> float | None:
        """The mean of a ``system`` number over the samples that had it (``"cpu_percent"``),
        or None without one."""
        total, count = self._system_sums.get(name, (0.0, 0))
        return total / count if count else None

    def _problem(self, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)
        else:
            self.problems_dropped += 1

    def request_stop(self) -> bool:
        """Mark a stop as asked for; False if the run is not live (nothing to stop)."""
        if self.status not in (Status.WAITING.value, Status.RUNNING.value):
            return False
        self.status = Status.STOPPING.value
        self.stop_requested = True
        return True

    # ------------------------------------------------------------------ the run

    @property
    def live(self) -> bool:
        """Whether the run has not ended (waiting, running or stopping)."""
        return self.status in _LIVE

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def run_id(self) -> str | None:
        for event in (self.started, self.finished):
            if event is not None and isinstance(event.run_id, str):
                return event.run_id
        return None

    @property
    def config(self) -> dict:
        """The latest ``run_started``'s config (``{}`` without one)."""
        config = (self.started or {}).get("config")
        return config if isinstance(config, dict) else {}

    @property
    def origin(self) -> str | None:
        """What wrote the run: ``"track"`` for `kerasdl.callbacks.Track`, None for
        ``kerasdl train`` (its ``run_started`` has no ``origin``)."""
        value = (self.started or {}).get("origin")
        return value if isinstance(value, str) else None

    @property
    def fit(self) -> dict:
        """The latest ``run_started``'s ``fit`` (a Track run's model and fit; ``{}`` without)."""
        fit = (self.started or {}).get("fit")
        return fit if isinstance(fit, dict) else {}

    def section(self, name: str) -> dict:
        """A section of the config (``"early_stopping"``), ``{}`` when absent or not a table; a
        Track run, which has no config, gives its ``fit``'s section of that name."""
        value = self.config.get(name)
        if not isinstance(value, dict):
            value = self.fit.get(name)
        return value if isinstance(value, dict) else {}

    @property
    def dataset(self) -> dict | None:
        value = (self.started or {}).get("dataset")
        return value if isinstance(value, dict) else None

    @property
    def started_time(self) -> float | None:
        """Unix time of the first ``run_started``."""
        return _finite((self.first_started or {}).get("time"))

    @property
    def finished_time(self) -> float | None:
        """Unix time of the last ``run_finished``."""
        return _finite((self.finished or {}).get("time"))

    @property
    def duration_s(self) -> float | None:
        """Seconds the run trained, summed over its resumed parts (None before one ended)."""
        return sum(self._durations) if self._durations else None

    @property
    def test_metrics(self) -> dict | None:
        value = (self.finished or {}).get("test")
        return dict(value) if isinstance(value, dict) else None

    @property
    def error(self) -> str | None:
        value = (self.finished or {}).get("error")
        return value if isinstance(value, str) else None

    @property
    def epochs(self) -> int | None:
        """Epochs planned (``run_started``'s ``epochs``, else the last epoch's, else the
        config's)."""
        epochs = (self.started or {}).get("epochs")
        if isinstance(epochs, int):
            return epochs
        last = self.last_epoch
        if last is not None and isinstance(last.get("epochs"), int):
            return last["epochs"]
        epochs = self.config.get("epochs")
        return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None

    @property
    def last_epoch(self) -> Event | None:
        """The ``epoch_ended`` event of the highest epoch so far."""
        return self.history[max(self.history)] if self.history else None

    @property
    def epochs_done(self) -> int:
        """The highest finished epoch (0 before one)."""
        return max(self.history) if self.history else 0

    @property
    def epochs_run(self) -> int:
        """How many epochs finished (``epoch_ended`` events, a resumed run's included)."""
        return len(self.history)

    @property
    def final_metrics(self) -> dict:
        """The metrics of the last finished epoch (``{}`` before one)."""
        return dict((self.last_epoch or {}).get("metrics") or {})

    @property
    def early_stopping(self) -> dict | None:
        """The last epoch's early-stopping status (None before an epoch or when it is off)."""
        return (self.last_epoch or {}).get("early_stopping") or None

    @property
    def early_stopping_enabled(self) -> bool | None:
        """Whether the config turns early stopping on (None when the config is unknown)."""
        if self.early_stopping:
            return True
        section = self.config.get("early_stopping")
        if not isinstance(section, dict) and self.fit:  # a Track run: its fit's callbacks say
            section = self.fit.get("early_stopping") or {"enabled": False}
        return bool(section.get("enabled")) if isinstance(section, dict) else None

    @property
    def plateau(self) -> dict | None:
        """The last epoch's plateau-reducer status (None before an epoch or when it is off)."""
        return (self.last_epoch or {}).get("plateau") or None

    @property
    def plateau_enabled(self) -> bool:
        return bool(self.plateau) or bool(self.section("plateau").get("enabled"))

    @property
    def learning_rate(self) -> float | None:
        """The latest learning rate: the last change's new rate, else the last epoch's, else
        the optimizer's starting rate."""
        last = self.last_epoch
        rate = None if last is None else last.get("learning_rate")
        later = [
            c
            for c in self.lr_changes
            if last is None or (c.get("epoch") or 0) >= last["epoch"]
            if c.get("new") is not None
        ]
        if later:
            rate = later[-1]["new"]
        if rate is None:
            optimizer = (self.started or {}).get("optimizer") or {}
            rate = optimizer.get("learning_rate")
        return rate

    def series(self, metric: str) -> list[tuple[int, float]]:
        """``[(epoch, value), ...]`` of a numeric metric, or of ``"learning_rate"`` (NaN
        kept; values that are not numbers, such as a later schema's dict metric, left out)."""
        points = []
        for epoch in sorted(self.history):
            event = self.history[epoch]
            if metric == "learning_rate":
                value = event.get("learning_rate")
            else:
                value = (event.get("metrics") or {}).get(metric)
            value = number(value)
            if value is not None:
                points.append((epoch, value))
        return points

    curve = series

    @property
    def metric_names(self) -> list[str]:
        """The metrics of the epochs whose values are numbers, loss and accuracy first."""
        names = []
        for epoch in sorted(self.history):
            metrics = self.history[epoch].get("metrics") or {}
            names.extend(k for k, v in metrics.items() if number(v) is not None)
        return metric_order(names)

    def mode_of(self, monitor: str | None) -> str:
        """``"min"`` or ``"max"`` for a metric: from a status that watches it, else
        `larger_is_better` by its name."""
        for status in (self.early_stopping, self.plateau):
            if status and status.get("monitor") == monitor and status.get("mode") in ("min", "max"):
                return status["mode"]
        return "max" if larger_is_better(monitor) else "min"

    @property
    def best(self) -> dict | None:
        """``{"monitor", "value", "epoch", "mode"}`` of the best epoch so far, or None.

        The one rule: ``run_finished``'s best when the run ended with one; else the latest
        early-stopping status, else the checkpoint's; else the best ``val_loss`` (or ``loss``)
        of the history.
        """
        finished = self.finished or {}
        best = finished.get("best") or {}
        if number(best.get("value")) is not None:
            monitor = best.get("monitor") or self._monitor()
            epoch = best.get("epoch") if best.get("epoch") is not None else None
            if epoch is None:
                epoch = finished.get("best_epoch")
            return {
                "monitor": monitor,
                "value": float(best["value"]),
                "epoch": epoch,
                "mode": self.mode_of(monitor),
            }
        for epoch in sorted(self.history, reverse=True):
            for key in ("early_stopping", "checkpoint"):
                status = self.history[epoch].get(key)
                if not status or number(status.get("best")) is None:
                    continue
                if status.get("best_epoch") is None:
                    continue
                monitor = status.get("monitor") or self._monitor()
                return {
                    "monitor": monitor,
                    "value": float(status["best"]),
                    "epoch": status["best_epoch"],
                    "mode": self.mode_of(monitor),
                }
            break  # only the latest epoch's statuses are current
        for monitor in ("val_loss", "loss"):
            points = [(v, e) for e, v in self.series(monitor) if math.isfinite(v)]
            if points:
                value, epoch = min(points)
                return {"monitor": monitor, "value": value, "epoch": epoch, "mode": "min"}
        return None

    def _monitor(self) -> str:
        monitor = self.section("early_stopping").get("monitor")
        return monitor if isinstance(monitor, str) else "val_loss"

    @property
    def best_restored(self) -> bool:
        """Whether the run put the best epoch's weights back at its end.

        ``run_finished``'s ``restored_best`` when it has one (the runner writes it); else, for
        an older writer, the config's guess: a run that ended on its own or on request, with
        early stopping's ``restore_best_weights`` on, and a test evaluation (which follows the
        restoring)."""
        if self.finished is None:
            return False
        restored = self.finished.get("restored_best")
        if isinstance(restored, bool):
            return restored
        if self.status not in _RESTORING or self.finished.get("test") is None:
            return False
        section = self.section("early_stopping")
        return bool(section.get("enabled", True) and section.get("restore_best_weights"))

    # ------------------------------------------------------------------ time

    def elapsed(self, now: float) -> float | None:
        """Seconds the run has trained: finished parts, plus the current part until ``now``
        (or until its ``run_finished``). A part counts from the start of its setup
        (``run_started``'s ``time - setup_s``), as its ``duration_s`` does."""
        if self._part_start is None:
            return None
        if self.finished is not None:
            duration = _finite(self.finished.get("duration_s"))
            if duration is not None:
                return self._earlier_parts_s + duration
            end = _finite(self.finished.get("time")) or now
        else:
            end = now
        return self._earlier_parts_s + max(0.0, end - self._part_start)

    @property
    def mean_epoch_seconds(self) -> float | None:
        times = [_finite(e.get("epoch_seconds")) for e in self.history.values()]
        times = [t for t in times if t is not None]
        return sum(times) / len(times) if times else None

    @property
    def longest_epoch_seconds(self) -> float:
        times = [_finite(e.get("epoch_seconds")) for e in self.history.values()]
        return max((t for t in times if t is not None), default=0.0)

    @property
    def run_eta_s(self) -> float | None:
        """Seconds until the planned last epoch ends (early stopping may end it sooner)."""
        if not self.live or self.epochs is None:
            return None
        mean = self.mean_epoch_seconds
        if mean is None:
            return None
        batch_eta = _finite((self.batch or {}).get("eta_s"))
        current = (self.batch or {}).get("epoch")
        if isinstance(current, int):
            rest = max(0, self.epochs - current) * mean
            return rest + (batch_eta if batch_eta is not None else mean)
        return max(0, self.epochs - self.epochs_done) * mean

    def lr_change_label(self, change: Mapping) -> tuple[str, str]:
        """(marker letter, words) for an ``lr_changed`` event; a StepLR's changes read "step"."""
        reason = change.get("reason")
        letter, words = LR_REASONS.get(reason, ("?", str(reason)))
        if reason == LrReason.SCHEDULE.value:
            name = self.section("schedule").get("name")
            words = "step" if name == "step" else (f"{name} schedule" if name else words)
        return letter, words
