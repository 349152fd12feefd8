"""The other callbacks of a fit as `Track` publishes them: each as kerasdl's status types.

Private. `kerasdl.event_log.EventLog` reads an early-stopping, a plateau and a checkpoint
callback through their ``status`` (`EarlyStoppingStatus`, `ReduceLROnPlateauStatus`,
`BestCheckpointStatus`) and a few attributes (``min_delta``; ``cooldown``, ``factor``,
``min_lr``, ``lr_changes``). kerasdl's own callbacks have them; Keras's ``EarlyStopping``,
``ReduceLROnPlateau`` and ``ModelCheckpoint`` keep the same state under their own names
(``wait``, ``patience``, ``best``, ``best_epoch``, ``stopped_epoch``, ``cooldown_counter``,
``monitor_op``), which the views here read. `Track` calls a view's ``observe`` once every
callback has seen the epoch, before the epoch's event is written. Keras's epochs are 0-based,
as kerasdl's statuses are; the event converts.
"""

from __future__ import annotations

import os

import keras

from kerasdl.callbacks.best_checkpoint import BestCheckpoint, BestCheckpointStatus
from kerasdl.callbacks.early_stopping import EarlyStopping, EarlyStoppingStatus
from kerasdl.callbacks.reduce_lr_on_plateau import (
    LearningRateChange,
    ReduceLROnPlateau,
    ReduceLROnPlateauStatus,
)

__all__ = [
    "KerasCheckpointView",
    "KerasEarlyStoppingView",
    "KerasPlateauView",
    "choose",
    "early_stopping_setup",
    "plateau_setup",
    "restores_best",
    "stopped_epoch",
]


def _float(value) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number


def _mode(callback) -> str | None:
    """``"min"``/``"max"`` from a Keras monitor callback's ``monitor_op`` (or its ``mode``)."""
    name = getattr(getattr(callback, "monitor_op", None), "__name__", "")
    if name in ("less", "less_equal"):
        return "min"
    if name in ("greater", "greater_equal"):
        return "max"
    mode = getattr(callback, "mode", None)
    return mode if mode in ("min", "max") else None


class KerasEarlyStoppingView:
    """``keras.callbacks.EarlyStopping`` as an `EarlyStoppingStatus`.

    Keras counts ``wait`` as kerasdl does (epochs since the last improvement; training stops
    once ``wait >= patience``), keeps ``stopped_epoch`` at 0 until it stops (it cannot stop
    at epoch 0), and negates ``min_delta`` in min mode; the view undoes both.
    """

    def __init__(self, callback):
        self.callback = callback
        self.epoch = None

    @property
    def min_delta(self) -> float:
        return abs(_float(self.callback.min_delta) or 0.0)

    def observe(self, epoch: int, logs: dict) -> None:
        self.epoch = epoch

    @property
    def status(self) -> EarlyStoppingStatus:
        cb = self.callback
        best = _float(cb.best)
        stopped_at = int(getattr(cb, "stopped_epoch", 0) or 0)
        stopped = stopped_at > 0
        wait = int(getattr(cb, "wait", 0) or 0)
        patience = int(getattr(cb, "patience", 0) or 0)
        best_epoch = getattr(cb, "best_epoch", None) if best is not None else None
        next_epoch = 0 if self.epoch is None else self.epoch + 1
        warm_up_left = max(int(getattr(cb, "start_from_epoch", 0) or 0) - next_epoch, 0)
        return EarlyStoppingStatus(
            monitor=str(cb.monitor),
            mode=_mode(cb),
            best=best,
            best_epoch=None if best_epoch is None else int(best_epoch),
            wait=wait,
            patience=patience,
            epochs_left=0 if stopped else max(patience - wait, 1) + warm_up_left,
            stopped=stopped,
            stopped_epoch=stopped_at if stopped else None,
            restored=False,
            epoch=self.epoch,
            improved=best is not None and best_epoch == self.epoch and wait == 0,
        )


class KerasPlateauView:
    """``keras.callbacks.ReduceLROnPlateau`` as a `ReduceLROnPlateauStatus`, with its
    reductions as `LearningRateChange`s.

    Keras's callback writes the rate before its decision to ``logs["learning_rate"]``; a rate
    lower than that once every callback has seen the epoch is its reduction. Unlike kerasdl's
    (PyTorch's rule: more than ``patience`` bad epochs), Keras's reduces after ``patience``.
    """

    def __init__(self, callback, optimizer_rate):
        self.callback = callback
        self._rate = optimizer_rate  # () -> the optimizer's learning rate now
        self.lr_changes: list[LearningRateChange] = []
        self.reduced = False
        self.epoch = None

    #: Keras's callback has one learning rate (see kerasdl's `ReduceLROnPlateau.own_group`).
    own_group = None
    cooldown = property(lambda self: int(getattr(self.callback, "cooldown", 0) or 0))
    factor = property(lambda self: _float(getattr(self.callback, "factor", None)))
    min_lr = property(lambda self: _float(getattr(self.callback, "min_lr", None)))

    def observe(self, epoch: int, logs: dict) -> None:
        self.epoch = epoch
        self.reduced = False
        old, new = _float((logs or {}).get("learning_rate")), self._rate()
        if old is None or new is None or not new < old * (1 - 1e-6):
            return
        cb = self.callback
        self.reduced = True
        reason = (
            f"{cb.monitor} did not improve for {cb.patience} epochs; lr x {self.factor:g}"
            if self.factor is not None
            else f"{cb.monitor} did not improve"
        )
        self.lr_changes.append(
            LearningRateChange(epoch, old, new, reason, "keras.callbacks.ReduceLROnPlateau")
        )

    @property
    def status(self) -> ReduceLROnPlateauStatus:
        cb = self.callback
        return ReduceLROnPlateauStatus(
            monitor=str(cb.monitor),
            mode=_mode(cb),
            best=_float(cb.best),
            wait=int(getattr(cb, "wait", 0) or 0),
            patience=int(getattr(cb, "patience", 0) or 0),
            cooldown_counter=int(getattr(cb, "cooldown_counter", 0) or 0),
            learning_rate=self._rate(),
            scale=None,
            reduced=self.reduced,
            num_reductions=len(self.lr_changes),
            last_change=self.lr_changes[-1] if self.lr_changes else None,
            epoch=self.epoch,
        )


class KerasCheckpointView:
    """``keras.callbacks.ModelCheckpoint`` as a `BestCheckpointStatus`.

    It saved this epoch when its file (the ``filepath`` formatted with the epoch and logs, as
    Keras formats it) changed since the epoch began; the best epoch is the last one whose
    value became ``best`` (``save_best_only``).
    """

    def __init__(self, callback):
        self.callback = callback
        self.best_epoch = None
        self.saves = 0
        self.saved = False
        self.epoch = None
        self.filepath = str(callback.filepath)
        self._best = None
        self._before = (None, None)  # (path, its stat) when the epoch began

    def _path(self, epoch: int, logs: dict) -> str | None:
        try:
            return str(self.callback.filepath).format(epoch=epoch + 1, **(logs or {}))
        except (KeyError, IndexError, ValueError, AttributeError):
            return None

    @staticmethod
    def _stat(path):
        try:
            stat = os.stat(path)
        except (OSError, TypeError, ValueError):
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def begin(self, epoch: int) -> None:
        path = self._path(epoch, {})
        self._before = (path, self._stat(path) if path is not None else None)

    def observe(self, epoch: int, logs: dict) -> None:
        cb = self.callback
        self.epoch = epoch
        path = self._path(epoch, logs)
        self.filepath = path if path is not None else str(cb.filepath)
        now = self._stat(self.filepath)
        before_path, before = self._before
        self.saved = now is not None and (before_path != self.filepath or now != before)
        if self.saved:
            self.saves += 1
        best = _float(cb.best)
        if best is not None and best != self._best:
            self._best, self.best_epoch = best, epoch

    @property
    def status(self) -> BestCheckpointStatus:
        cb = self.callback
        return BestCheckpointStatus(
            monitor=str(cb.monitor),
            mode=_mode(cb),
            filepath=self.filepath,
            best=self._best,
            best_epoch=self.best_epoch,
            saved=self.saved,
            saves=self.saves,
            epoch=self.epoch,
        )


def choose(callbacks, optimizer_rate) -> dict:
    """The early-stopping, plateau and checkpoint callbacks of a fit, each as a view (kerasdl's
    own callbacks are their own views): ``{"early_stopping": ..., "plateau": ...,
    "checkpoint": ...}``, None where the fit has none. The first of each kind counts."""
    found = {"early_stopping": None, "plateau": None, "checkpoint": None}
    for cb in callbacks:
        if found["early_stopping"] is None:
            if isinstance(cb, EarlyStopping):
                found["early_stopping"] = cb
            elif isinstance(cb, keras.callbacks.EarlyStopping):
                found["early_stopping"] = KerasEarlyStoppingView(cb)
        if found["plateau"] is None:
            if isinstance(cb, ReduceLROnPlateau):
                found["plateau"] = cb
            elif isinstance(cb, keras.callbacks.ReduceLROnPlateau):
                found["plateau"] = KerasPlateauView(cb, optimizer_rate)
        if found["checkpoint"] is None:
            if isinstance(cb, BestCheckpoint):
                found["checkpoint"] = cb
            elif isinstance(cb, keras.callbacks.ModelCheckpoint):
                found["checkpoint"] = KerasCheckpointView(cb)
    return found


def _callback_of(view):
    return getattr(view, "callback", view)


def stopped_epoch(view) -> int | None:
    """The 0-based epoch an early-stopping callback (or view) stopped training at, or None."""
    if view is None:
        return None
    return view.status.stopped_epoch


def restores_best(view) -> bool:
    """Whether an early-stopping callback puts its best weights back when training ends."""
    cb = _callback_of(view)
    return bool(getattr(cb, "restore_best_weights", False)) and (
        getattr(cb, "best_weights", None) is not None
    )


def early_stopping_setup(view, name: str) -> dict:
    """The ``fit.early_stopping`` of a Track run's description: the callback's settings."""
    if view is None:
        return {"enabled": False}
    cb = _callback_of(view)
    mode = getattr(cb, "mode", None)
    return {
        "enabled": True,
        "callback": name,
        "monitor": str(cb.monitor),
        "patience": int(getattr(cb, "patience", 0) or 0),
        "min_delta": view.min_delta,
        "mode": mode if isinstance(mode, str) else None,
        "restore_best_weights": bool(getattr(cb, "restore_best_weights", False)),
        "start_from_epoch": int(getattr(cb, "start_from_epoch", 0) or 0),
    }


def plateau_setup(view, name: str) -> dict:
    """The ``fit.plateau`` of a Track run's description: the callback's settings."""
    if view is None:
        return {"enabled": False}
    cb = _callback_of(view)
    return {
        "enabled": True,
        "callback": name,
        "monitor": str(cb.monitor),
        "factor": _float(getattr(cb, "factor", None)),
        "patience": int(getattr(cb, "patience", 0) or 0),
        "cooldown": int(getattr(cb, "cooldown", 0) or 0),
        "min_lr": _float(getattr(cb, "min_lr", None)),
    }
