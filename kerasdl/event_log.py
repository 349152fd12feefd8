"""`EventLog`: the Keras callback that turns ``fit``'s hooks into a run's events.

It lives apart from `kerasdl.events` because it imports Keras; the event stream itself
(writer, readers) stays light. Schema: ``docs/events.md``.
"""

from __future__ import annotations

import math
import threading
import time

import keras

from kerasdl._values import to_float, to_int
from kerasdl.events import EventWriter

__all__ = ["STATUS_KEY_PREFIXES", "EventLog"]

STATUS_KEY_PREFIXES = ("early_stopping_", "reduce_lr_", "best_checkpoint_")
"""Prefixes of the flat status keys the kerasdl callbacks add to ``logs``; not metrics."""

_NOT_METRICS = frozenset({"learning_rate"})  # the learning rate has its own field


class EventLog(keras.callbacks.Callback):
    """Emit ``batch``, ``epoch_ended`` and ``lr_changed`` events from ``model.fit``.

    What each hook emits, through an `kerasdl.events.EventWriter` (epochs 1-based)::

        on_train_batch_end  -> batch         at most one per `batch_interval_s` (and the
                                             epoch's last step); sinks only, not the file
        on_epoch_end        -> epoch_ended   metrics, learning rate, early-stopping,
                                             plateau and checkpoint status, timings
                            -> lr_changed    when the rate of the next epoch differs:
                                             reason "plateau" | "warmup_end" | "schedule"

    ``batch``: ``step`` is the number of steps done in the epoch. With
    ``steps_per_execution > 1`` Keras calls the batch hooks once per execution with the
    index of its last step, so ``step`` advances by ``steps_per_execution``; samples/s and
    the ETA come from wall time since the epoch began, so they hold either way. When the
    writer has no sink the batch hook only records the time.

    ``epoch_ended``: ``metrics`` holds the numeric keys Keras put in ``logs`` (losses,
    metrics, ``val_*``) without the kerasdl callbacks' flat status keys
    (`STATUS_KEY_PREFIXES`) and ``learning_rate``: their state goes to the structured
    ``early_stopping``, ``plateau``, ``checkpoint`` and ``checkpoint_saved`` fields, read
    from the callbacks given here (else rebuilt from the flat keys, with less detail).
    List this callback AFTER those callbacks in ``fit(callbacks=[...])``: Keras calls them in
    order, and their epoch's decision must be made before this one reads it.

    The learning rate: ``learning_rate`` is the rate of the epoch's first optimizer step
    (``optimizer.learning_rate`` read when the epoch begins, through any schedule and a
    plateau factor). At the end of the epoch the rate of the next step is read; if it
    differs, an ``lr_changed`` event says so, with ``epoch`` the epoch after which it
    changed. The reason is ``"plateau"`` for a `kerasdl.callbacks.ReduceLROnPlateau`
    reduction of that epoch, ``"warmup_end"`` when a `kerasdl.schedules.LinearWarmup` ramp
    ended during the epoch, else ``"schedule"``. The ramp's own per-epoch increases are not
    reported (only its end). A schedule step and a reduction at the same epoch give two
    events: the schedule's (``old`` -> the rate before the reduction), then the plateau's.

    Args:
        writer: The `EventWriter` the events go to.
        batch_size: Samples in a step, for samples/s. Defaults to None (no samples/s).
        samples_per_epoch: Training samples in an epoch (the last batch may be smaller).
            Defaults to None (``steps * batch_size``).
        steps_per_epoch: Steps in an epoch. Defaults to None (Keras's ``params["steps"]``).
        early_stopping: The run's `kerasdl.callbacks.EarlyStopping`, or None.
        plateau: The run's `kerasdl.callbacks.ReduceLROnPlateau`, or None.
        checkpoint: The run's `kerasdl.callbacks.BestCheckpoint`, or None.
        warmup_steps: Optimizer steps of the warmup. Defaults to None (found in the
            optimizer's schedule: a `LinearWarmup`, also inside a plateau wrapper).
        batch_interval_s: Least seconds between two ``batch`` events, ``>= 0``. Defaults to
            0.25 (4 a second: smooth enough for a progress bar, and cheap for a dashboard).
        clock: Monotonic seconds, for the timings. Defaults to ``time.monotonic``.

    Example:

    ```python
    stopper = kerasdl.callbacks.EarlyStopping(patience=5)
    with EventWriter(run_dir / "events.jsonl", sinks=[view]) as events:
        log = EventLog(events, batch_size=64, early_stopping=stopper)
        model.fit(x, y, batch_size=64, epochs=20, callbacks=[stopper, log])
    ```

    References:
        - [Keras callbacks](https://keras.io/api/callbacks/)
        - [Writing your own callbacks](https://keras.io/guides/writing_your_own_callbacks/)
    """

    # Keras may run batch hooks in a worker thread (not on TensorFlow); this one is safe.
    async_safe = True

    def __init__(
        self,
        writer: EventWriter,
        *,
        batch_size: int | None = None,
        samples_per_epoch: int | None = None,
        steps_per_epoch: int | None = None,
        early_stopping=None,
        plateau=None,
        checkpoint=None,
        warmup_steps: int | None = None,
        batch_interval_s: float = 0.25,
        clock=time.monotonic,
    ):
        super().__init__()
        if not isinstance(batch_interval_s, (int, float)) or not batch_interval_s >= 0:
            raise ValueError(
                "Argument `batch_interval_s` must be >= 0. "
                f"Received: batch_interval_s={batch_interval_s!r}"
            )
        self.writer = writer
        self.batch_size = batch_size
        self.samples_per_epoch = samples_per_epoch
        self.steps_per_epoch = steps_per_epoch
        self.early_stopping = early_stopping
        self.plateau = plateau
        self.checkpoint = checkpoint
        self.warmup_steps = warmup_steps
        self.batch_interval_s = float(batch_interval_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._epoch = 0
        self._epoch_start = None
        self._last_step = 0
        self._last_batch_time = None
        self._last_emit = -math.inf
        self._lr_start = None
        self._iterations_start = None

    # ------------------------------------------------------------------ fit's hooks

    def on_epoch_begin(self, epoch, logs=None):
        with self._lock:
            self._epoch = epoch
            self._last_step = 0
            self._last_batch_time = None
            self._last_emit = -math.inf
            self._lr_start = self._learning_rate()
            self._iterations_start = self._iterations()
            self._epoch_start = self._clock()

    def on_train_batch_end(self, batch, logs=None):
        now = self._clock()
        step = int(batch) + 1
        steps = self._steps()
        if steps is not None:
            # Keras numbers a last, partial execution as a whole one (step 96 of 85).
            step = min(step, steps)
        with self._lock:
            if self._epoch_start is None or step <= self._last_step:
                return  # outside an epoch, or a late hook from Keras's worker thread
            self._last_step = step
            self._last_batch_time = now
            if not self.writer.has_sinks:
                return
            last = steps is not None and step >= steps
            if not last and now - self._last_emit < self.batch_interval_s:
                return
            self._last_emit = now
            elapsed = now - self._epoch_start
            samples = self._samples(step)
            event = {
                "epoch": self._epoch + 1,
                "epochs": self.params.get("epochs") if self.params else None,
                "step": step,
                "steps": steps,
                "samples_per_s": samples / elapsed if samples and elapsed > 0 else None,
                "eta_s": (steps - step) * elapsed / step if steps is not None else None,
                "metrics": self._metrics(logs),
            }
            self.writer.emit("batch", **event)

    def on_epoch_end(self, epoch, logs=None):
        now = self._clock()
        logs = logs or {}
        with self._lock:
            start = self._epoch_start if self._epoch_start is not None else now
            train_end = self._last_batch_time or now
            steps_done = self._last_step or self._steps()
            samples = self._samples(steps_done) if steps_done else None
            train_seconds = train_end - start
            lr_next = self._learning_rate()
            lr_start = self._lr_start if self._lr_start is not None else lr_next
            self.writer.emit(
                "epoch_ended",
                epoch=epoch + 1,
                epochs=self.params.get("epochs") if self.params else None,
                metrics=self._metrics(logs),
                learning_rate=lr_start,
                early_stopping=self._early_stopping_status(logs),
                plateau=self._plateau_status(logs),
                checkpoint_saved=self._checkpoint_saved(logs),
                checkpoint=self._checkpoint_status(),
                epoch_seconds=now - start,
                samples_per_s=samples / train_seconds if samples and train_seconds > 0 else None,
            )
            for change in self._lr_changes(epoch, logs, lr_start, lr_next):
                self.writer.emit("lr_changed", epoch=epoch + 1, **change)
            self._epoch_start = None

    # ------------------------------------------------------------------ pieces

    def _steps(self):
        if self.steps_per_epoch is not None:
            return int(self.steps_per_epoch)
        steps = self.params.get("steps") if self.params else None
        return int(steps) if steps is not None else None

    def _samples(self, steps_done):
        if self.batch_size is not None:
            samples = steps_done * self.batch_size
            if self.samples_per_epoch is not None:
                samples = min(samples, self.samples_per_epoch)
            return samples
        if self.samples_per_epoch is not None:
            steps = self._steps()
            return self.samples_per_epoch * (steps_done / steps if steps else 1.0)
        return None

    @staticmethod
    def _metrics(logs):
        metrics = {}
        for key, value in (logs or {}).items():
            if key in _NOT_METRICS or key.startswith(STATUS_KEY_PREFIXES):
                continue
            number = _as_float(value)
            if number is not None:
                metrics[key] = number
        return metrics

    def _optimizer(self):
        # `self.model` (not `_model`): on JAX it first syncs the variables from the trainer.
        model = self.model if self._model is not None else None
        optimizer = getattr(model, "optimizer", None)
        return getattr(optimizer, "inner_optimizer", optimizer)

    def _learning_rate(self):
        optimizer = self._optimizer()
        if optimizer is None:
            return None
        try:
            if getattr(optimizer, "_groups", None):  # parameter groups: the default group's
                return to_float(optimizer.group_learning_rate(None))
            return to_float(optimizer.learning_rate)
        except (TypeError, ValueError, AttributeError):
            return None

    def _iterations(self):
        optimizer = self._optimizer()
        if optimizer is None:
            return None
        try:
            return to_int(optimizer.iterations)
        except (TypeError, ValueError, AttributeError):
            return None

    def _warmup_ends(self):
        """Optimizer steps at which a warmup ramp ends (nested warmups end one after another)."""
        if self.warmup_steps is not None:
            return [int(self.warmup_steps)] if self.warmup_steps > 0 else []
        from kerasdl.callbacks import PlateauScaledSchedule
        from kerasdl.schedules import LinearWarmup

        optimizer = self._optimizer()
        schedule = getattr(optimizer, "_learning_rate", None)
        if isinstance(schedule, PlateauScaledSchedule):
            schedule = schedule.schedule
        ends, offset = [], 0
        while isinstance(schedule, LinearWarmup):
            if schedule.warmup_steps > 0:
                offset += schedule.warmup_steps
                ends.append(offset)
            schedule = schedule.after
        return ends

    def _lr_changes(self, epoch, logs, lr_start, lr_next):
        """The ``lr_changed`` events (without ``epoch``) of the end of ``epoch``, in order."""
        if lr_start is None or lr_next is None:
            return []
        reductions = self._plateau_reductions(epoch, logs)
        changes = []
        before_reduction = reductions[0]["old"] if reductions else lr_next
        if _changed(lr_start, before_reduction):
            reason = self._schedule_reason()
            if reason is not None:
                changes.append({"old": lr_start, "new": before_reduction, "reason": reason})
        changes.extend(reductions)
        return changes

    def _schedule_reason(self):
        """``"warmup_end"``, ``"schedule"``, or None inside a warmup ramp (not reported)."""
        start, end = self._iterations_start, self._iterations()
        if start is None or end is None:
            return "schedule"
        ends = self._warmup_ends()
        if any(start < step <= end for step in ends):
            return "warmup_end"
        if ends and end < ends[-1]:
            return None
        return "schedule"

    def _plateau_reductions(self, epoch, logs):
        if self.plateau is not None:
            own = self.plateau.own_group  # with parameter groups: the logged learning rate's
            return [
                {"old": float(change.old), "new": float(change.new), "reason": "plateau"}
                for change in self.plateau.lr_changes
                if change.epoch == epoch and change.group == own
            ]
        if _as_float(logs.get("reduce_lr_changed")) == 1.0:
            old, new = _as_float(logs.get("reduce_lr_old")), _as_float(logs.get("reduce_lr_new"))
            if old is not None and new is not None:
                return [{"old": old, "new": new, "reason": "plateau"}]
        return []

    def _early_stopping_status(self, logs):
        if self.early_stopping is not None:
            status = self.early_stopping.status
            return {
                "monitor": status.monitor,
                "mode": status.mode,
                "best": status.best,
                "best_epoch": _one_based(status.best_epoch),
                "wait": status.wait,
                "patience": status.patience,
                "epochs_left": status.epochs_left,
                "stopped": status.stopped,
                "stopped_epoch": _one_based(status.stopped_epoch),
                "improved": status.improved,
                "min_delta": self.early_stopping.min_delta,
            }
        if "early_stopping_wait" not in logs:
            return None
        return {
            "monitor": None,
            "best": _finite_or_none(logs.get("early_stopping_best")),
            "best_epoch": _epoch_from_log(logs.get("early_stopping_best_epoch")),
            "wait": _int_or_none(logs.get("early_stopping_wait")),
            "patience": _int_or_none(logs.get("early_stopping_patience")),
            "epochs_left": _int_or_none(logs.get("early_stopping_epochs_left")),
            "stopped": _as_float(logs.get("early_stopping_stopped")) == 1.0,
        }

    def _plateau_status(self, logs):
        if self.plateau is not None:
            status = self.plateau.status
            return {
                "monitor": status.monitor,
                "mode": status.mode,
                "best": status.best,
                "wait": status.wait,
                "patience": status.patience,
                "cooldown": self.plateau.cooldown,
                "cooldown_left": status.cooldown_counter,
                "factor": self.plateau.factor,
                "min_lr": self.plateau.min_lr,
                "learning_rate": status.learning_rate,
                "scale": status.scale,
                "reduced": status.reduced,
                "num_reductions": status.num_reductions,
            }
        if "reduce_lr_wait" not in logs:
            return None
        return {
            "monitor": None,
            "best": _finite_or_none(logs.get("reduce_lr_best")),
            "wait": _int_or_none(logs.get("reduce_lr_wait")),
            "patience": None,
            "cooldown_left": _int_or_none(logs.get("reduce_lr_cooldown")),
            "learning_rate": _as_float(logs.get("reduce_lr_new")),
            "reduced": _as_float(logs.get("reduce_lr_changed")) == 1.0,
        }

    def _checkpoint_saved(self, logs):
        if self.checkpoint is not None:
            return bool(self.checkpoint.status.saved)
        return _as_float(logs.get("best_checkpoint_saved")) == 1.0

    def _checkpoint_status(self):
        if self.checkpoint is None:
            return None
        status = self.checkpoint.status
        return {
            "monitor": status.monitor,
            "best": status.best,
            "best_epoch": _one_based(status.best_epoch),
            "saves": status.saves,
            "filepath": status.filepath,
        }


def _as_float(value):
    """A log value as a float, or None if it is not a number."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _finite_or_none(value):
    number = _as_float(value)
    return None if number is None or math.isnan(number) else number


def _int_or_none(value):
    number = _as_float(value)
    return None if number is None or not math.isfinite(number) else int(number)


def _epoch_from_log(value):
    """A logged 0-based epoch (-1: none) as a 1-based event epoch or None."""
    number = _int_or_none(value)
    return None if number is None or number < 0 else number + 1


def _one_based(epoch):
    return None if epoch is None else int(epoch) + 1


def _changed(old, new):
    return not math.isclose(old, new, rel_tol=1e-6, abs_tol=0.0)
