"""Early stopping with a status that any later callback or view can read (chapter 3.4.6)."""

import dataclasses

import keras

from kerasdl._checks import non_negative, non_negative_int, one_of
from kerasdl.callbacks._monitor import (
    check_state,
    is_better,
    log_number,
    monitor_value,
    resolve_mode,
)

_STATE_KEYS = ("monitor", "mode", "best", "best_epoch", "wait", "stopped_epoch", "epoch")


@dataclasses.dataclass(frozen=True)
class EarlyStoppingStatus:
    """Where an `EarlyStopping` stands; epochs are 0-based like Keras's ``epoch`` argument.

    Attributes:
        monitor: The logged quantity watched, e.g. ``"val_loss"``.
        mode: ``"min"`` or ``"max"`` once known (``None`` before the first epoch of ``"auto"``).
        best: The best value so far (``None`` before the first monitored value).
        best_epoch: The epoch of ``best`` (``None`` before it).
        wait: Epochs since the last improvement (the chapter's ``counter``).
        patience: Epochs without improvement that stop training.
        epochs_left: Epochs without improvement after which training stops, counting any
            warm-up epochs still to come; 0 once stopped.
        stopped: Whether this callback has stopped training.
        stopped_epoch: The epoch it stopped at (``None`` if it has not).
        restored: Whether the best epoch's weights were put back at the end of training.
        epoch: The last epoch seen (``None`` before the first).
        improved: Whether that epoch improved on the best.

    References:
        - [Keras EarlyStopping](https://keras.io/api/callbacks/early_stopping/)
    """

    monitor: str
    mode: str | None
    best: float | None
    best_epoch: int | None
    wait: int
    patience: int
    epochs_left: int
    stopped: bool
    stopped_epoch: int | None
    restored: bool
    epoch: int | None
    improved: bool

    def to_logs(self):
        """The numeric keys this status adds to an epoch's ``logs`` (see `EarlyStopping`)."""
        return {
            "early_stopping_best": log_number(self.best),
            "early_stopping_best_epoch": log_number(self.best_epoch, -1.0),
            "early_stopping_wait": float(self.wait),
            "early_stopping_patience": float(self.patience),
            "early_stopping_epochs_left": float(self.epochs_left),
            "early_stopping_stopped": float(self.stopped),
        }


@keras.saving.register_keras_serializable(package="kerasdl")
class EarlyStopping(keras.callbacks.Callback):
    """Stop training when the monitored quantity stops improving (the chapter's rule).

    The rule, for each epoch ``t >= start_from_epoch`` with monitored value ``v``
    (``best`` starts at +inf in min mode, -inf in max mode)::

        if v < best - min_delta:          # max mode: v > best + min_delta
            best, best_epoch, wait = v, t, 0
        else:
            wait += 1
            if wait >= patience:
                stop at epoch t

    A NaN value never improves: it counts as an epoch without improvement. With
    ``restore_best_weights`` the weights of ``best_epoch`` are put back when training ends
    (stopped or not, as Keras 3 does).

    The status (`EarlyStoppingStatus`) is public as ``status`` and current after every
    epoch; with ``log_status`` it is also added to the epoch's ``logs`` as plain numbers, so
    Keras's ``History``, ``ProgbarLogger``, ``CSVLogger`` and ``TensorBoard`` record it:
    ``early_stopping_best`` (NaN before the first value), ``early_stopping_best_epoch`` (-1
    before it), ``early_stopping_wait``, ``early_stopping_patience``,
    ``early_stopping_epochs_left`` and ``early_stopping_stopped`` (0 or 1). Callbacks listed
    after this one in ``fit(callbacks=[...])`` see these keys (``History`` and the progress
    bar always come last).

    The per-run state (``best``, ``best_epoch``, ``wait``, ``stopped_epoch``) is public and
    reset in ``on_train_begin``, except right after ``set_state``, which carries a saved
    state (``get_state()``, JSON-able) into the next ``fit`` to resume a run.

    Args:
        monitor: The quantity in ``logs`` to watch. Defaults to ``"val_loss"``.
        patience: Epochs without improvement that stop training, ``>= 0``. Defaults to 5.
        min_delta: How much a value must beat the best by to count as an improvement,
            ``>= 0``. Defaults to 0.0.
        mode: ``"min"``, ``"max"``, or ``"auto"`` (the model's metric direction, else ``min``
            for names ending in ``loss`` and ``max`` for accuracy-like names). Defaults to
            ``"auto"``.
        restore_best_weights: Put the best epoch's weights back at the end of training.
            Defaults to True.
        start_from_epoch: Epochs to ignore at the start (warm-up), ``>= 0``. Defaults to 0.
        log_status: Add the status keys to each epoch's ``logs``. Defaults to True.

    Example:

    ```python
    stopper = kerasdl.callbacks.EarlyStopping(patience=5)
    model.fit(x, y, validation_split=0.2, epochs=100, callbacks=[stopper])
    stopper.status.best_epoch, stopper.status.stopped_epoch
    ```

    References:
        - [Prechelt, Early Stopping - But When? (1998)](https://doi.org/10.1007/3-540-49430-8_3)
        - [Keras EarlyStopping](https://keras.io/api/callbacks/early_stopping/)
    """

    def __init__(
        self,
        monitor="val_loss",
        patience=5,
        min_delta=0.0,
        mode="auto",
        restore_best_weights=True,
        start_from_epoch=0,
        log_status=True,
    ):
        super().__init__()
        self.monitor = monitor
        self.patience = non_negative_int("patience", patience)
        self.min_delta = non_negative("min_delta", min_delta)
        self.mode = one_of("mode", mode, ("auto", "min", "max"))
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = non_negative_int("start_from_epoch", start_from_epoch)
        self.log_status = bool(log_status)
        self._keep_state = False
        self._reset()

    def _reset(self):
        self.best = None
        self.best_epoch = None
        self.wait = 0
        self.stopped_epoch = None
        self.best_weights = None
        self.restored = False
        self.epoch = None
        self.improved = False
        self._mode = None if self.mode == "auto" else self.mode

    @property
    def status(self):
        """The current `EarlyStoppingStatus`."""
        stopped = self.stopped_epoch is not None
        next_epoch = 0 if self.epoch is None else self.epoch + 1
        warm_up_left = max(self.start_from_epoch - next_epoch, 0)
        return EarlyStoppingStatus(
            monitor=self.monitor,
            mode=self._mode,
            best=self.best,
            best_epoch=self.best_epoch,
            wait=self.wait,
            patience=self.patience,
            epochs_left=0 if stopped else max(self.patience - self.wait, 1) + warm_up_left,
            stopped=stopped,
            stopped_epoch=self.stopped_epoch,
            restored=self.restored,
            epoch=self.epoch,
            improved=self.improved,
        )

    def on_train_begin(self, logs=None):
        if self._keep_state:
            self._keep_state = False
        else:
            self._reset()
        self.restored = False

    def on_epoch_end(self, epoch, logs=None):
        if self._mode is None:
            self._mode = resolve_mode(self.mode, self.monitor, self.model)
        current = monitor_value(logs, self.monitor, "Early stopping")
        self.epoch = epoch
        self.improved = False
        if current is not None and epoch >= self.start_from_epoch:
            if is_better(current, self.best, self._mode, self.min_delta):
                self.best, self.best_epoch, self.wait = current, epoch, 0
                self.improved = True
                if self.restore_best_weights:
                    self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
                if self.wait >= self.patience:
                    if self.stopped_epoch is None:
                        self.stopped_epoch = epoch
                    self.model.stop_training = True
        if self.log_status and logs is not None:
            logs.update(self.status.to_logs())

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            self.restored = True

    def get_state(self):
        """The per-run state as a JSON-able dict, for `set_state` in a resumed run.

        The best weights are not part of it (save the model for those).
        """
        return {
            "monitor": self.monitor,
            "mode": self._mode,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "epoch": self.epoch,
        }

    def set_state(self, state):
        """Restore a `get_state` dict; the next ``on_train_begin`` keeps it instead of resetting."""
        check_state(state, _STATE_KEYS, "Early stopping", self.monitor)
        self._reset()
        self._mode = state["mode"] if state["mode"] is not None else self._mode
        self.best = None if state["best"] is None else float(state["best"])
        self.best_epoch = state["best_epoch"]
        self.wait = int(state["wait"])
        self.stopped_epoch = state["stopped_epoch"]
        self.epoch = state["epoch"]
        self._keep_state = True

    def get_config(self):
        return {
            "monitor": self.monitor,
            "patience": self.patience,
            "min_delta": self.min_delta,
            "mode": self.mode,
            "restore_best_weights": self.restore_best_weights,
            "start_from_epoch": self.start_from_epoch,
            "log_status": self.log_status,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
