"""Keep the best model on disk, written so that a crash never leaves it broken (3.4.6)."""

import dataclasses
import os

import keras

from kerasdl._checks import one_of
from kerasdl._files import replace_atomically
from kerasdl._keras_saving import prime_skipsets
from kerasdl.callbacks._monitor import (
    check_state,
    is_better,
    keras_filepath,
    log_number,
    monitor_value,
    resolve_mode,
)

_STATE_KEYS = ("monitor", "mode", "best", "best_epoch", "saves")


def save_model_atomically(model, filepath):
    """Save ``model`` to ``filepath`` (``.keras``) so the file is always whole: old or new.

    The model is written to a hidden temporary file in the same directory, flushed to disk,
    and moved over ``filepath`` with ``os.replace`` (atomic on POSIX and Windows). If the
    write fails, the temporary file is removed and the error is raised; ``filepath`` keeps
    its previous content. A process killed mid-write can leave a ``.<name>.<hex>.tmp.keras``
    file behind, never a broken ``filepath``.

    Args:
        model: A Keras model.
        filepath: Where the model goes; must end with ``.keras``.

    References:
        - [os.replace](https://docs.python.org/3/library/os.html#os.replace)
        - [Keras `Model.save`](https://keras.io/api/models/model_saving_apis/model_saving_and_loading/)
    """
    filepath = keras_filepath("filepath", filepath)
    os.makedirs(os.path.dirname(os.path.abspath(filepath)), exist_ok=True)
    prime_skipsets()  # a cache Keras misses, ~14 ms a save (kerasdl/_keras_saving.py)
    replace_atomically(filepath, model.save, suffix=".keras")


@dataclasses.dataclass(frozen=True)
class BestCheckpointStatus:
    """Where a `BestCheckpoint` stands.

    Attributes:
        monitor: The quantity watched.
        mode: ``"min"`` or ``"max"`` once known.
        filepath: Where the best model is.
        best: The monitored value of the saved model (``None`` before the first save).
        best_epoch: Its epoch, 0-based (``None`` before the first save).
        saved: Whether the last epoch wrote the checkpoint.
        saves: How many times it has been written.
        epoch: The last epoch seen (``None`` before the first).

    References:
        - [Keras ModelCheckpoint](https://keras.io/api/callbacks/model_checkpoint/)
    """

    monitor: str
    mode: str | None
    filepath: str
    best: float | None
    best_epoch: int | None
    saved: bool
    saves: int
    epoch: int | None

    def to_logs(self):
        """The numeric keys this status adds to an epoch's ``logs`` (see `BestCheckpoint`)."""
        return {
            "best_checkpoint_saved": float(self.saved),
            "best_checkpoint_best": log_number(self.best),
            "best_checkpoint_best_epoch": log_number(self.best_epoch, -1.0),
        }


@keras.saving.register_keras_serializable(package="kerasdl")
class BestCheckpoint(keras.callbacks.Callback):
    """Save the whole model (``.keras``) whenever the monitored quantity improves, atomically.

    The rule, at the end of epoch ``t`` with monitored value ``v`` (``best`` starts empty)::

        if best is empty or v < best:     # max mode: v > best
            save the model to filepath (temporary file, then os.replace)
            best, best_epoch = v, t

    A NaN value never improves. The file is written by `save_model_atomically`, so
    ``filepath`` always holds a whole model: the previous best until the new one is
    complete. If the write fails the error propagates (training stops) and the previous
    best stays.

    Like Keras's ``ModelCheckpoint``, ``best`` survives between ``fit`` calls on the same
    instance, so a continued run never overwrites a better model with a worse one;
    ``get_state``/``set_state`` carry it into a resumed run. With ``log_status`` each
    epoch's ``logs`` get ``best_checkpoint_saved`` (0 or 1), ``best_checkpoint_best`` (NaN
    before the first save) and ``best_checkpoint_best_epoch`` (-1 before it); ``status``
    holds the same and more.

    Args:
        filepath: Where the best model goes; must end with ``.keras``.
        monitor: The quantity in ``logs`` to watch. Defaults to ``"val_loss"``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (as `EarlyStopping`). Defaults to ``"auto"``.
        log_status: Add the status keys to each epoch's ``logs``. Defaults to True.

    Example:

    ```python
    best = kerasdl.callbacks.BestCheckpoint("runs/demo/best.keras")
    model.fit(x, y, validation_split=0.2, epochs=20, callbacks=[best])
    model = keras.saving.load_model("runs/demo/best.keras")
    ```

    References:
        - [Keras ModelCheckpoint](https://keras.io/api/callbacks/model_checkpoint/)
        - [os.replace](https://docs.python.org/3/library/os.html#os.replace)
    """

    def __init__(self, filepath, monitor="val_loss", mode="auto", log_status=True):
        super().__init__()
        self.filepath = keras_filepath("filepath", filepath)
        self.monitor = monitor
        self.mode = one_of("mode", mode, ("auto", "min", "max"))
        self.log_status = bool(log_status)
        self.best = None
        self.best_epoch = None
        self.saves = 0
        self.saved = False
        self.epoch = None
        self._mode = None if mode == "auto" else mode

    @property
    def status(self):
        """The current `BestCheckpointStatus`."""
        return BestCheckpointStatus(
            monitor=self.monitor,
            mode=self._mode,
            filepath=self.filepath,
            best=self.best,
            best_epoch=self.best_epoch,
            saved=self.saved,
            saves=self.saves,
            epoch=self.epoch,
        )

    def on_epoch_end(self, epoch, logs=None):
        if self._mode is None:
            self._mode = resolve_mode(self.mode, self.monitor, self.model)
        current = monitor_value(logs, self.monitor, "Saving the best model")
        self.epoch = epoch
        self.saved = False
        if current is not None and is_better(current, self.best, self._mode, 0.0):
            save_model_atomically(self.model, self.filepath)
            self.best, self.best_epoch = current, epoch
            self.saves += 1
            self.saved = True
        if self.log_status and logs is not None:
            logs.update(self.status.to_logs())

    def get_state(self):
        """The best value so far as a JSON-able dict, for `set_state` in a resumed run."""
        return {
            "monitor": self.monitor,
            "mode": self._mode,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "saves": self.saves,
        }

    def set_state(self, state):
        """Restore a `get_state` dict."""
        check_state(state, _STATE_KEYS, "Checkpoint", self.monitor)
        self._mode = state["mode"] if state["mode"] is not None else self._mode
        self.best = None if state["best"] is None else float(state["best"])
        self.best_epoch = state["best_epoch"]
        self.saves = int(state["saves"])
        self.saved = False

    def get_config(self):
        return {
            "filepath": self.filepath,
            "monitor": self.monitor,
            "mode": self.mode,
            "log_status": self.log_status,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
