"""`RunState`: the events of one run folded into what the dashboard shows.

Plain Python (no Textual): the run screen keeps one `RunState`, applies every event to it, and
its widgets draw from it. Tests can check the folding without a screen.
"""

from __future__ import annotations

import math

__all__ = [
    "LR_REASONS",
    "STATUS_LABELS",
    "STATUS_STYLES",
    "RunState",
    "metric_order",
]

STATUS_LABELS = {
    "waiting": "starting",
    "running": "running",
    "stopping": "stopping",
    "completed": "finished",
    "early_stopped": "early-stopped",
    "stopped": "stopped",
    "nan": "NaN",
    "interrupted": "interrupted",
    "failed": "failed",
    "unfinished": "unfinished",
}
"""The header's word for each state (``run_finished`` statuses and the live ones)."""

STATUS_STYLES = {
    "waiting": "dim",
    "running": "bold green",
    "stopping": "bold yellow",
    "completed": "bold green",
    "early_stopped": "bold yellow",
    "stopped": "bold yellow",
    "nan": "bold red",
    "interrupted": "bold red",
    "failed": "bold red",
    "unfinished": "bold red",
}

LR_REASONS = {
    "schedule": ("S", "schedule"),
    "plateau": ("P", "plateau"),
    "warmup_end": ("W", "warmup end"),
}
"""``lr_changed`` reason -> (marker letter, words). A step schedule's changes read "step"."""

_METRIC_ORDER = ("loss", "accuracy", "val_loss", "val_accuracy")
_LIVE = ("waiting", "running", "stopping")


def metric_order(names) -> list[str]:
    """Metric names with loss, accuracy, val_loss, val_accuracy first, the rest after."""
    names = list(dict.fromkeys(names))
    return [n for n in _METRIC_ORDER if n in names] + [n for n in names if n not in _METRIC_ORDER]


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


class RunState:
    """Everything the dashboard shows about a run, updated one event at a time.

    Epochs are 1-based, as in the events. A resumed run (a second ``run_started`` in the same
    stream) keeps its earlier epochs; an epoch seen twice keeps its latest event.

    Attributes:
        started: The latest ``run_started`` event (None before it).
        finished: The ``run_finished`` event of the current part (None while running).
        status: ``"waiting"`` (no ``run_started`` yet), ``"running"``, ``"stopping"`` (a stop
            was asked for), or the ``run_finished`` status.
        history: ``{epoch: epoch_ended event}``.
        batch: The latest ``batch`` event of the current epoch (None between epochs).
        lr_changes: The ``lr_changed`` events.
        notices: The ``notice`` events.
        last_time: The ``time`` of the latest event.
    """

    def __init__(self):
        self.started: dict | None = None
        self.finished: dict | None = None
        self.status = "waiting"
        self.history: dict[int, dict] = {}
        self.batch: dict | None = None
        self.lr_changes: list[dict] = []
        self.notices: list[dict] = []
        self.last_time: float | None = None
        self.stop_requested = False
        self._part_start: float | None = None
        self._earlier_parts_s = 0.0

    # ------------------------------------------------------------------ folding

    def apply(self, event: dict) -> str | None:
        """Fold one event in; returns its type (None for an event without one)."""
        kind = event.get("type")
        time = _number(event.get("time"))
        if time is not None:
            self.last_time = time
        if kind == "run_started":
            if self.finished is not None and self.finished.get("duration_s") is not None:
                self._earlier_parts_s += float(self.finished["duration_s"])
            self.started = event
            self.finished = None
            self.batch = None
            self.status = "stopping" if self.stop_requested else "running"
            self._part_start = time
        elif kind == "batch":
            self.batch = event
            if self.status == "waiting":
                self.status = "running"
        elif kind == "epoch_ended":
            epoch = event.get("epoch")
            if isinstance(epoch, int):
                self.history[epoch] = event
            self.batch = None
        elif kind == "lr_changed":
            self.lr_changes.append(event)
        elif kind == "notice":
            self.notices.append(event)
        elif kind == "run_finished":
            self.finished = event
            self.batch = None
            self.stop_requested = False
            self.status = str(event.get("status") or "completed")
        return kind

    def request_stop(self) -> bool:
        """Mark a stop as asked for; False if the run is not live (nothing to stop)."""
        if self.status not in ("waiting", "running"):
            return False
        self.status = "stopping"
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
        event = self.started or self.finished or {}
        return event.get("run_id")

    @property
    def config(self) -> dict:
        return (self.started or {}).get("config") or {}

    @property
    def epochs(self) -> int | None:
        """Epochs planned (``run_started``'s ``epochs``, else the last epoch's ``epochs``)."""
        epochs = (self.started or {}).get("epochs")
        if isinstance(epochs, int):
            return epochs
        last = self.last_epoch
        if last and isinstance(last.get("epochs"), int):
            return last["epochs"]
        return self.config.get("epochs") if isinstance(self.config.get("epochs"), int) else None

    @property
    def last_epoch(self) -> dict | None:
        """The ``epoch_ended`` event of the highest epoch so far."""
        if not self.history:
            return None
        return self.history[max(self.history)]

    @property
    def epochs_done(self) -> int:
        return max(self.history) if self.history else 0

    @property
    def early_stopping(self) -> dict | None:
        """The last epoch's early-stopping status (None before an epoch or when it is off)."""
        last = self.last_epoch
        return (last or {}).get("early_stopping") or None

    @property
    def early_stopping_enabled(self) -> bool | None:
        """Whether the config turns early stopping on (None when the config is unknown)."""
        if self.early_stopping:
            return True
        section = self.config.get("early_stopping")
        return None if section is None else bool(section.get("enabled"))

    @property
    def plateau(self) -> dict | None:
        """The last epoch's plateau-reducer status (None before an epoch or when it is off)."""
        return (self.last_epoch or {}).get("plateau") or None

    @property
    def plateau_enabled(self) -> bool:
        return bool(self.plateau) or bool((self.config.get("plateau") or {}).get("enabled"))

    @property
    def learning_rate(self):
        """The latest learning rate: the last change's new rate, else the last epoch's."""
        last = self.last_epoch
        rate = None
        if last is not None:
            rate = last.get("learning_rate")
        later = [c for c in self.lr_changes if last is None or c.get("epoch", 0) >= last["epoch"]]
        if later:
            rate = later[-1].get("new", rate)
        if rate is None:
            rate = ((self.started or {}).get("optimizer") or {}).get("learning_rate")
        return rate

    def series(self, metric: str) -> list[tuple[int, float]]:
        """``[(epoch, value), ...]`` of a metric, or of ``"learning_rate"`` (NaN kept)."""
        points = []
        for epoch in sorted(self.history):
            event = self.history[epoch]
            if metric == "learning_rate":
                value = event.get("learning_rate")
            else:
                value = (event.get("metrics") or {}).get(metric)
            value = _number(value)
            if value is not None:
                points.append((epoch, value))
        return points

    @property
    def metric_names(self) -> list[str]:
        names = []
        for epoch in sorted(self.history):
            names.extend((self.history[epoch].get("metrics") or {}).keys())
        return metric_order(names)

    def mode_of(self, monitor: str | None) -> str:
        """``"min"`` or ``"max"`` for a monitored metric (from the status, else by its name)."""
        status = self.early_stopping or {}
        if status.get("monitor") == monitor and status.get("mode") in ("min", "max"):
            return status["mode"]
        return "max" if monitor and "acc" in monitor else "min"

    @property
    def best(self) -> dict | None:
        """``{"monitor", "value", "epoch", "mode"}`` of the best epoch so far, or None.

        From early stopping's status, else the checkpoint's, else ``run_finished``'s best,
        else the lowest ``val_loss`` (or ``loss``) of the history.
        """
        last = self.last_epoch or {}
        for key in ("early_stopping", "checkpoint"):
            status = last.get(key)
            if isinstance(status, dict) and _number(status.get("best")) is not None:
                if status.get("best_epoch") is None:
                    continue
                monitor = status.get("monitor") or self._monitor()
                return {
                    "monitor": monitor,
                    "value": float(status["best"]),
                    "epoch": status.get("best_epoch"),
                    "mode": self.mode_of(monitor),
                }
        finished_best = (self.finished or {}).get("best") or {}
        if _number(finished_best.get("value")) is not None:
            monitor = finished_best.get("monitor") or self._monitor()
            return {
                "monitor": monitor,
                "value": float(finished_best["value"]),
                "epoch": (self.finished or {}).get("best_epoch"),
                "mode": self.mode_of(monitor),
            }
        for monitor in ("val_loss", "loss"):
            points = [(v, e) for e, v in self.series(monitor) if math.isfinite(v)]
            if points:
                value, epoch = min(points)
                return {"monitor": monitor, "value": value, "epoch": epoch, "mode": "min"}
        return None

    def _monitor(self) -> str:
        section = self.config.get("early_stopping") or {}
        return section.get("monitor") or "val_loss"

    @property
    def best_restored(self) -> bool:
        """Whether the run put the best epoch's weights back at its end."""
        if self.finished is None or self.finished.get("status") not in (
            "completed",
            "early_stopped",
            "stopped",
        ):
            return False
        if "restored" in self.finished:
            return bool(self.finished["restored"])
        section = self.config.get("early_stopping") or {}
        return bool(section.get("enabled") and section.get("restore_best_weights"))

    # ------------------------------------------------------------------ time

    def elapsed(self, now: float) -> float | None:
        """Seconds the run has trained: finished parts, plus the current part until ``now``
        (or until its ``run_finished``)."""
        if self._part_start is None:
            return None
        if self.finished is not None:
            if self.finished.get("duration_s") is not None:
                return self._earlier_parts_s + float(self.finished["duration_s"])
            end = _number(self.finished.get("time")) or now
        else:
            end = now
        return self._earlier_parts_s + max(0.0, end - self._part_start)

    @property
    def mean_epoch_seconds(self) -> float | None:
        times = [
            float(e["epoch_seconds"])
            for e in self.history.values()
            if _number(e.get("epoch_seconds")) is not None and math.isfinite(e["epoch_seconds"])
        ]
        return sum(times) / len(times) if times else None

    @property
    def run_eta_s(self) -> float | None:
        """Seconds until the planned last epoch ends (early stopping may end it sooner)."""
        if not self.live or self.epochs is None:
            return None
        mean = self.mean_epoch_seconds
        batch_eta = _number((self.batch or {}).get("eta_s"))
        current = (self.batch or {}).get("epoch")
        if mean is None:
            return None
        if isinstance(current, int):
            rest = max(0, self.epochs - current) * mean
            return rest + (batch_eta if batch_eta is not None else mean)
        return max(0, self.epochs - self.epochs_done) * mean

    def lr_change_label(self, change: dict) -> tuple[str, str]:
        """(marker letter, words) for an ``lr_changed`` event; a StepLR's changes read "step"."""
        letter, words = LR_REASONS.get(change.get("reason"), ("?", str(change.get("reason"))))
        if change.get("reason") == "schedule":
            name = (self.config.get("schedule") or {}).get("name")
            words = "step" if name == "step" else (f"{name} schedule" if name else words)
        return letter, words
