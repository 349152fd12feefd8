"""A run's callbacks: the runner's own two (`RunMonitor`, `LastCheckpoint`) and the list every
training loop calls, in this order::

    RunMonitor          the data epoch, a non-finite loss, a stop request, the last logs
    your callbacks      (they see the raw epoch logs)
    EarlyStopping       if early_stopping.enabled
    ReduceLROnPlateau   if plateau.enabled
    BestCheckpoint      best.keras, by early_stopping.monitor
    LastCheckpoint      last.keras + state.json (kerasdl.run.resume.save_last)
    StepLog             steps.jsonl, the step history (if step_history)
    EventLog            the events; last, so it reports the decisions of those before it

With ``tensorboard`` on, a `kerasdl.tensorboard_files.TensorBoardSink` on the run's event
writer writes ``tensorboard/`` at each ``epoch_ended`` (the step rows of the epoch included:
StepLog is listed before EventLog).

The two classes need Keras, so they are defined on first use (`callback_classes`): importing
this module stays light.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kerasdl import _interrupt, runs
from kerasdl.config import plateau_mode
from kerasdl.run import resume

__all__ = ["RunCallbacks", "callback_classes", "make_callbacks"]


@dataclasses.dataclass
class RunCallbacks:
    """The callbacks of one call of `kerasdl.runner.train`, by role.

    Attributes:
        monitor: The `RunMonitor`.
        extra: The caller's callbacks.
        early_stopping: `kerasdl.callbacks.EarlyStopping`, or None when off.
        plateau: `kerasdl.callbacks.ReduceLROnPlateau`, or None when off.
        checkpoint: `kerasdl.callbacks.BestCheckpoint` (``best.keras``).
        last: The `LastCheckpoint` (``last.keras`` and ``state.json``).
        event_log: `kerasdl.event_log.EventLog`.
        step_log: `kerasdl.step_log.StepLog`, or None when ``step_history`` is off.
    """

    monitor: object
    extra: list
    early_stopping: object | None
    plateau: object | None
    checkpoint: object
    last: object
    event_log: object = None
    step_log: object = None

    def as_list(self) -> list:
        """The callbacks in the order the loops call them (the module docstring's)."""
        return [
            self.monitor,
            *self.extra,
            *(c for c in (self.early_stopping, self.plateau) if c is not None),
            self.checkpoint,
            self.last,
            *(c for c in (self.step_log,) if c is not None),
            self.event_log,
        ]


def make_callbacks(run, stop: threading.Event | None, extra: list) -> RunCallbacks:
    """The callbacks of ``run``, with a resumed run's saved states given back.

    Args:
        run: The `kerasdl.run.session.Run` (its config, dataset, run directory, writer, loop,
            state and ``state_after``).
        stop: The event that asks the run to stop after the current epoch, or None.
        extra: The caller's callbacks.

    Returns:
        The `RunCallbacks`.
    """
    import kerasdl.callbacks
    from kerasdl.event_log import EventLog

    config = run.config
    run_monitor, last_checkpoint = callback_classes()
    monitor = run_monitor(run.loop.set_data_epoch, stop)
    early_stopping, plateau = _early_stopping(config), _plateau(config)
    checkpoint = kerasdl.callbacks.BestCheckpoint(
        str(run.run_dir / runs.BEST_MODEL_FILE),
        monitor=config.early_stopping.monitor,
        mode=plateau_mode(config.early_stopping.monitor),
    )
    made = RunCallbacks(
        monitor=monitor,
        extra=list(extra),
        early_stopping=early_stopping,
        plateau=plateau,
        checkpoint=checkpoint,
        last=last_checkpoint(run.run_dir, monitor, run.state_after, best=checkpoint),
    )
    if run.state is not None:
        resume.restore_callbacks(
            run.state,
            made,
            lambda message: run.writer.emit("notice", level="warning", message=message),
        )
    made.event_log = EventLog(
        run.writer,
        batch_size=config.batch_size,
        samples_per_epoch=len(run.dataset.y_train),
        steps_per_epoch=run.steps_per_epoch,
        early_stopping=early_stopping,
        plateau=plateau,
        checkpoint=checkpoint,
        warmup_steps=config.schedule.warmup_epochs * run.steps_per_epoch,
    )
    made.step_log = _recorders(run)
    return made


def _recorders(run):
    """The run's `StepLog` (or None), and its TensorBoard sink attached to the event writer.

    The step history keeps the rows of the epochs a resume does not run again; TensorBoard
    without the ``tensorboard`` package writes the scalars, and a notice says the
    hyperparameters are left out.
    """
    from kerasdl import steps
    from kerasdl.step_log import StepLog

    config = run.config
    writer = None
    if config.step_history:
        writer = steps.StepWriter(
            run.run_dir / steps.STEPS_FILE,
            keep_through=run.initial_epoch * run.steps_per_epoch,
            collect_new=config.tensorboard,
        )
    if config.tensorboard:
        from kerasdl import tensorboard_files as tb

        logdir = run.run_dir / tb.TENSORBOARD_DIR
        sink = tb.TensorBoardSink(logdir, steps=writer)
        resumed = any(logdir.glob("events.out.tfevents.*"))  # its hyperparameters are there
        if not resumed and not sink.files.hparams(config.to_dict(), run.run_dir.name, time.time()):
            run.writer.emit(
                "notice",
                level="warning",
                message="TensorBoard: the tensorboard package is not installed, so the "
                'hyperparameters are not written (pip install "kerasdl[tensorboard]")',
            )
        run.writer.add_sink(sink)
    return None if writer is None else StepLog(writer, steps_per_epoch=run.steps_per_epoch)


def _early_stopping(config):
    import kerasdl.callbacks

    es = config.early_stopping
    if not es.enabled:
        return None
    return kerasdl.callbacks.EarlyStopping(
        monitor=es.monitor,
        patience=es.patience,
        min_delta=es.min_delta,
        mode=plateau_mode(es.monitor),
        # The runner restores best.keras's weights itself (also after a resume).
        restore_best_weights=False,
    )


def _plateau(config):
    import kerasdl.callbacks

    pl = config.plateau
    if not pl.enabled:
        return None
    return kerasdl.callbacks.ReduceLROnPlateau(
        monitor=pl.monitor,
        factor=pl.factor,
        patience=pl.patience,
        threshold=pl.threshold,
        cooldown=pl.cooldown,
        min_lr=pl.min_lr,
        mode=plateau_mode(pl.monitor),
        on_schedule=pl.on_schedule,
    )


def _raise_if_interrupted():
    """Raise the stop a signal asked for, if its own raise was swallowed (`kerasdl._interrupt`)."""
    reason = _interrupt.pending()
    if reason is not None:
        _interrupt.clear()
        raise KeyboardInterrupt(*([reason] if reason else []))


def callback_classes() -> tuple[type, type]:
    """``(RunMonitor, LastCheckpoint)``, defined once Keras is imported (this module stays
    light).

    Returns:
        The two classes.
    """
    return _run_monitor_class(), _last_checkpoint_class()


@functools.cache
def _run_monitor_class() -> type:
    import keras

    class RunMonitor(keras.callbacks.Callback):
        """Set the data epoch, watch for a non-finite loss and a stop request, keep the logs.

        Batch hooks only read ``logs["loss"]``, which Keras has already turned into a
        number for the EventLog's progress events: no extra host sync.
        """

        async_safe = True

        def __init__(
            self, set_data_epoch: Callable[[int], None] | None, stop: threading.Event | None
        ):
            super().__init__()
            self._set_data_epoch = set_data_epoch
            self._stop = stop
            self.nan_epoch = None
            self.stop_epoch = None
            self.last_epoch = None
            self.last_logs = {}

        def on_epoch_begin(self, epoch, logs=None):
            if self._set_data_epoch is not None:  # fit's dataset; kerasdl's loop orders itself
                self._set_data_epoch(epoch)

        def on_train_batch_end(self, batch, logs=None):
            _raise_if_interrupted()
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                # `_model`, not `model`: on JAX, `model` syncs the variables from the
                # trainer's state, which a step running meanwhile may have donated.
                self._model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            _raise_if_interrupted()
            logs = logs or {}
            self.last_epoch = epoch
            self.last_logs = dict(logs)
            # A training or validation loss that is not finite ends the run as "nan": the
            # weights (or the data) are broken, and nothing after them can be trusted.
            for key in ("loss", "val_loss"):
                value = logs.get(key)
                if value is not None and not math.isfinite(float(value)):
                    self.nan_epoch = epoch
                    self._model.stop_training = True
            if self._stop is not None and self._stop.is_set():
                self.stop_epoch = epoch
                self._model.stop_training = True

        def stopped_by_peer(self, epoch):
            """Another worker of a multi-worker run was asked to stop after ``epoch``."""
            if self.stop_epoch is None:
                self.stop_epoch = epoch

    return RunMonitor


@functools.cache
def _last_checkpoint_class() -> type:
    import keras

    class LastCheckpoint(keras.callbacks.Callback):
        """Write ``last.keras`` and its ``state.json``, as one unit
        (`kerasdl.run.resume.save_last`), after every epoch.

        Listed after the early-stopping, plateau and best-checkpoint callbacks, so the state
        holds their decision of the same epoch. An epoch whose loss is not finite is not
        saved: ``last.keras`` keeps the last good epoch. When the best checkpoint has just
        saved the same model, its file is copied instead of saving the model twice.
        """

        def __init__(self, run_dir: Path, monitor, state: Callable[[int], dict], best=None):
            super().__init__()
            self.run_dir = run_dir
            self._monitor = monitor
            self._state = state
            self._best = best
            self.saved_epoch = None

        def on_epoch_end(self, epoch, logs=None):
            if self._monitor.nan_epoch == epoch:
                return
            best = self._best
            if best is not None and best.saved and best.epoch == epoch:
                write = resume.copy_for_last(best.filepath)
            else:
                write = resume.save_model_for_last(self.model)
            # last.keras and state.json as one unit: any instant leaves a complete pair
            resume.save_last(self.run_dir, write, self._state(epoch))
            self.saved_epoch = epoch

    return LastCheckpoint
