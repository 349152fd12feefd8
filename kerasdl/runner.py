"""`train`: a `kerasdl.config.TrainConfig` in, a finished run directory out (chapter 3.6).

What `train` does, in order (``docs/engine.md`` tells the whole story)::

    check       validate the config; for a resume read state.json; probe the runs dir
    strategy    the tf.distribute strategy, if any (multi-worker: before TF runs anything)
    data        load_dataset(config)
    build       in the strategy's scope: build_model, the optimizer with its schedule
                (+ warmup, + plateau factor), the loss and the metric; compile
    resume      last.keras's weights and optimizer state, the dropout RNG from state.json
    run dir     runs/<id>/ with config.toml      (an error up to here leaves no event)
    events      run_started (+ notices)
    fit         callbacks: run monitor (data epoch, NaN, stop request), early stopping,
                plateau, best.keras, last.keras + state.json, EventLog (last); model.fit, or
                kerasdl.distributed.fit for "multi-worker" (Keras's fit fails there)
    test        once, with best.keras's weights
    finish      run_finished, summary.json

Statuses: ``completed``, ``early_stopped``, ``stopped`` (``stop`` was set), ``nan`` (the
training loss became NaN or infinite), ``interrupted`` (``KeyboardInterrupt``, re-raised),
``failed`` (any other exception, re-raised).

Only `train`, `RunSummary`, `STATUSES` and the builders (`build_learning_rate`,
`build_optimizer`, `build_loss`, `build_metrics`, `make_strategy`) are public; the callbacks
here are the runner's plumbing.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from kerasdl import _interrupt, runs
from kerasdl import resume as resume_format
from kerasdl.config import (
    METRICS,
    ConfigError,
    TrainConfig,
    loss_spec,
    optimizer_spec,
    plateau_mode,
    schedule_spec,
)
from kerasdl.events import EventWriter
from kerasdl.events.schema import FINISHED_STATUSES, Status

__all__ = [
    "STATE_VERSION",
    "STATUSES",
    "RunSummary",
    "build_learning_rate",
    "build_loss",
    "build_metrics",
    "build_optimizer",
    "make_strategy",
    "train",
]

#: Every ``run_finished`` status. When several apply to one epoch, the first of ``nan``,
#: ``early_stopped``, ``stopped`` is reported.
STATUSES = tuple(str(status) for status in Status if status in FINISHED_STATUSES)
#: The version of ``state.json`` this runner writes and reads.
STATE_VERSION = 1

_KERAS_SPE_BUG = "https://github.com/keras-team/keras/issues/19246"


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """What `train` returns: the outcome of one call (the same as ``run_finished``).

    Epochs are 1-based, as in the events.

    Attributes:
        run_id: The run directory's name.
        run_dir: The run directory.
        status: One of `STATUSES`.
        best_epoch: The epoch of ``best.keras``, or None if no epoch improved (NaN from the
            start, or interrupted in the first epoch).
        best: ``{"monitor": ..., "value": ...}`` of that epoch, or None.
        test: The test metrics (``{"loss": ..., "accuracy": ...}``; ``mae`` for
            regression), evaluated once at the end; None if interrupted or failed.
        duration_s: Seconds this call took (a resumed run's earlier calls not included).
        epochs_run: Epochs finished in the whole run, counting those before a resume.
        error: The error's message for ``failed`` (and the interrupt's), else None.
        resumed_from: The last finished epoch this call resumed after, or None.
    """

    run_id: str
    run_dir: Path
    status: str
    best_epoch: int | None
    best: dict | None
    test: dict | None
    duration_s: float
    epochs_run: int
    error: str | None = None
    resumed_from: int | None = None


# ---------------------------------------------------------------------------------------------
# Builders: the config's names -> kerasdl components.


def build_learning_rate(
    config: TrainConfig,
    steps_per_epoch: int,
    *,
    plateau_scale: float = 1.0,
    constant_as_schedule: bool = False,
):
    """The learning rate of ``config``: a float, or a schedule from `kerasdl.schedules`.

    ::

        lr = schedule(config)                      # StepLR(...), ... or the float rate
        if schedule.warmup_epochs:  lr = LinearWarmup(after=lr,
                                                      warmup_steps=warmup_epochs * steps_per_epoch)
        if plateau.enabled and lr is a schedule:   lr = PlateauScaledSchedule(lr, plateau_scale)

    The epoch schedules take ``steps_per_epoch``, so they change the rate once an epoch, as
    PyTorch's schedulers stepped after every epoch do (ERRATA 3.5.1). The plateau wrapper is
    put on here rather than by `kerasdl.callbacks.ReduceLROnPlateau` so that a resumed run
    gets back its reduced rate (``plateau_scale``, from ``state.json``) before compiling.

    Args:
        config: A validated config.
        steps_per_epoch: Optimizer steps in an epoch, ``>= 1``.
        plateau_scale: The plateau factor to start from. Defaults to 1.0.
        constant_as_schedule: Give a constant rate as a schedule that returns it
            (``LinearWarmup(after=lr, warmup_steps=0)``), so that no learning-rate variable is
            made. Under ``tf.distribute`` the runner builds the rate outside the strategy's
            scope with this on: Keras's ``float()`` of a distributed variable fails, and the
            plateau callback and the event log read the rate that way. Defaults to False.
    """
    import keras

    import kerasdl.schedules
    from kerasdl.callbacks import PlateauScaledSchedule

    spec = schedule_spec(config, steps_per_epoch)
    learning_rate = config.optimizer.learning_rate
    if spec["class"] is not None:
        learning_rate = getattr(kerasdl.schedules, spec["class"])(**spec["kwargs"])
    if spec["warmup_steps"] > 0 or (constant_as_schedule and spec["class"] is None):
        learning_rate = kerasdl.schedules.LinearWarmup(
            after=learning_rate, warmup_steps=spec["warmup_steps"]
        )
    schedule = keras.optimizers.schedules.LearningRateSchedule
    if config.plateau.enabled and isinstance(learning_rate, schedule):
        learning_rate = PlateauScaledSchedule(learning_rate, scale=plateau_scale)
    return learning_rate


def build_optimizer(config: TrainConfig, learning_rate):
    """The kerasdl optimizer of ``config.optimizer`` with ``learning_rate`` (a float or a
    schedule, e.g. from `build_learning_rate`) and the config's hyperparameters::

        kerasdl.optimizers.<name>(learning_rate=learning_rate, weight_decay=..., ...)

    Build it inside a ``tf.distribute`` strategy's scope, so its variables are placed there.
    """
    import kerasdl.optimizers

    name, kwargs = optimizer_spec(config)
    kwargs["learning_rate"] = learning_rate
    return getattr(kerasdl.optimizers, name)(**kwargs)


def build_loss(config: TrainConfig):
    """The kerasdl loss of ``config.loss`` (cross-entropy on logits for classification)."""
    import kerasdl.losses

    name, kwargs = loss_spec(config)
    return getattr(kerasdl.losses, name)(**kwargs)


def build_metrics(task: str) -> list:
    """The metrics compiled besides the loss, named as `kerasdl.config.METRICS` names them."""
    import keras

    made = {
        "accuracy": lambda: keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
        "mae": lambda: keras.metrics.MeanAbsoluteError(name="mae"),
    }
    return [made[name]() for name in METRICS[task]]


def make_strategy(name: str):
    """The ``tf.distribute`` strategy of ``config.strategy``, or None for ``"default"``.

    ``"mirrored"`` is ``MirroredStrategy`` over the local GPUs, or over the local (logical)
    CPU devices when there is no GPU; ``"multi-worker"`` is
    ``MultiWorkerMirroredStrategy()``, which reads the cluster from ``TF_CONFIG`` (`train`
    then trains with `kerasdl.distributed.fit`). Both need the TensorFlow backend.

    Raises:
        ConfigError: A distributed strategy on another backend.
    """
    if name == "default":
        return None
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ConfigError(
            "strategy",
            name,
            f"'default' on the {keras.backend.backend()} backend "
            "(tf.distribute strategies need KERAS_BACKEND=tensorflow)",
        )
    import tensorflow as tf

    if name == "mirrored":
        # Keras and TensorFlow's default is the GPUs, or CPU:0 alone without one; logical CPU
        # devices (tf.config.set_logical_device_configuration) count here too.
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    return tf.distribute.MultiWorkerMirroredStrategy()


# ---------------------------------------------------------------------------------------------
# The runner's callbacks.


def _raise_if_interrupted():
    """Raise the stop a signal asked for, if its own raise was swallowed (`kerasdl._interrupt`)."""
    reason = _interrupt.pending()
    if reason is not None:
        _interrupt.clear()
        raise KeyboardInterrupt(*([reason] if reason else []))


def _callbacks_module():
    """Define the private callbacks once Keras is imported (this module stays light)."""
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

    class LastCheckpoint(keras.callbacks.Callback):
        """Write ``last.keras`` and its ``state.json``, as one unit (`kerasdl.resume.save_last`),
        after every epoch.

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
            from kerasdl import resume

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

    return RunMonitor, LastCheckpoint


# ---------------------------------------------------------------------------------------------
# train


def train(
    config: TrainConfig,
    *,
    sinks: Iterable[Callable[[dict], None]] = (),
    resume: str | os.PathLike | None = None,
    stop: threading.Event | None = None,
    callbacks: Sequence = (),
) -> RunSummary:
    """Train the run ``config`` describes (or continue one) and return its outcome.

    Everything that can be checked before training is checked first, and fails before the
    run directory gets any event: an invalid config (`ConfigError`), missing or unreadable
    data (`kerasdl.data.DataError`), a runs directory that is not writable, a run name that
    exists, or a run that cannot be resumed (`kerasdl.runs.RunError`).

    Then the run emits ``run_started``, trains with ``model.fit`` (`kerasdl.distributed.fit`
    for ``strategy="multi-worker"``, see ``docs/distributed.md``), keeps ``best.keras`` (the
    best epoch by ``early_stopping.monitor``) and ``last.keras`` + ``state.json`` (every
    finished epoch), evaluates the test set once with the best epoch's weights (the last
    epoch's if ``early_stopping.restore_best_weights`` is false), emits ``run_finished`` and
    writes ``summary.json``.

    - ``stop`` set (from another thread, e.g. the dashboard's ``s`` key): the epoch running
      finishes, is checkpointed, and the run ends as ``"stopped"``.
    - ``KeyboardInterrupt`` (Ctrl-C; the CLI turns SIGTERM into one): ``last.keras`` keeps
      the last finished epoch, the events end with ``run_finished`` ``"interrupted"``,
      ``summary.json`` is written, and the exception is raised again.
    - A non-finite training loss stops the run at once (``"nan"``); ``best.keras`` and
      ``last.keras`` keep the epochs before it.
    - Any other exception: ``run_finished`` ``"failed"`` with the message, then re-raised.

    Args:
        config: The run's `TrainConfig` (validated here).
        sinks: Callables that get every event as it is emitted (views). Defaults to none.
        resume: A run directory to continue from its ``last.keras`` and ``state.json``; the
            config should be the run's own (``config.toml``), ``epochs`` may be raised.
            Defaults to None (a new run).
        stop: An event that asks the run to stop after the current epoch. Defaults to None.
        callbacks: More Keras callbacks for ``fit``, called after the runner's monitor and
            before early stopping (so they see the raw epoch logs). Defaults to none.

    Returns:
        The `RunSummary`.

    Example:

    ```python
    config = TrainConfig().override({"data.name": "mnist-mini", "epochs": 3})
    summary = train(config, sinks=[print])
    summary.status, summary.test["accuracy"], summary.run_dir
    ```

    References:
        - [Keras Model.fit](https://keras.io/api/models/model_training_apis/#fit-method)
    """
    started = time.monotonic()
    config = config.validate()
    lock = None
    # Every worker of a multi-worker run resumes the same directory: no lock there.
    if resume is not None and Path(resume).is_dir() and config.strategy != "multi-worker":
        lock = resume_format.RunLock(resume).acquire()  # before anything reads its files
    try:
        return _train(config, sinks, resume, stop, callbacks, started, lock)
    finally:
        if lock is not None:
            lock.release()


def _train(config, sinks, resume, stop, callbacks, started, lock):
    """`train` after the config is valid, holding the lock of a run it resumes."""
    if lock is not None:
        resume_format.clean_temporaries(resume)  # a killed process's; none is being written
    resume_dir, state = _read_resume(config, resume)
    # Only the chief of a multi-worker run makes the run directory (see below).
    multi_worker = config.strategy == "multi-worker"
    if resume_dir is None and not multi_worker:
        _check_new_run_possible(config)  # cheap: before TensorFlow is imported

    import keras

    import kerasdl
    from kerasdl import data
    from kerasdl.models import build_model

    kerasdl.register_all()  # load_weights / load_model of kerasdl components
    threads_notice = _apply_threads(config)  # before TensorFlow runs its first op
    # First: a multi-worker strategy must exist before TensorFlow runs anything else.
    strategy = make_strategy(config.strategy)
    chief, worker = _worker_role(strategy)
    if resume_dir is None and multi_worker and chief:
        _check_new_run_possible(config)
    dataset = data.load_dataset(config)
    keras.utils.set_random_seed(config.seed)

    notices = []
    if dataset.notice:
        notices.append(("warning", dataset.notice))
    if threads_notice:
        notices.append(("warning", threads_notice))
    steps_per_execution = config.steps_per_execution
    if strategy is not None and steps_per_execution > 1:
        why = (
            "kerasdl's multi-worker loop runs one step per call"
            if multi_worker
            else f"Keras cannot run several steps per call under tf.distribute ({_KERAS_SPE_BUG})"
        )
        notices.append(
            (
                "warning",
                f"steps_per_execution={steps_per_execution} is set to 1 with the "
                f"{config.strategy!r} strategy: {why}",
            )
        )
        steps_per_execution = 1
    if multi_worker and config.jit_compile is True:
        notices.append(
            ("warning", "jit_compile=true is ignored with the 'multi-worker' strategy (no XLA)")
        )

    steps_per_epoch = -(-len(dataset.y_train) // config.batch_size)
    validation = None
    if len(dataset.y_val):
        validation = data.make_tf_dataset(
            dataset.x_val, dataset.y_val, config.eval_batch_size, shuffle=False
        )
    test_data = data.make_tf_dataset(
        dataset.x_test, dataset.y_test, config.eval_batch_size, shuffle=False
    )

    learning_rate = build_learning_rate(
        config,
        steps_per_epoch,
        plateau_scale=(state or {}).get("plateau_scale") or 1.0,
        constant_as_schedule=strategy is not None,
    )  # outside the strategy's scope: no distributed variable for the plateau's factor
    with _scope(strategy):
        model = build_model(config, dataset)
        optimizer = build_optimizer(config, learning_rate)
        model.compile(
            optimizer=optimizer,
            loss=build_loss(config),
            metrics=build_metrics(dataset.task),
            steps_per_execution=steps_per_execution,
            jit_compile=config.jit_compile,
        )
        initial_epoch = 0
        if resume_dir is not None:
            _check_fingerprint(resume_dir, state, run_fingerprint(config, dataset))
            initial_epoch = _restore(model, resume_dir, state, steps_per_epoch)

    training_loop = _training_loop(config, strategy, model)
    train_data = None  # kerasdl's loop reads the arrays; fit gets a dataset
    if training_loop != "kerasdl":
        train_data = data.EpochDataset(
            dataset.x_train, dataset.y_train, config.batch_size, seed=config.seed
        )

    # Everything checkable is checked: from here on the run directory gets events.
    new_lock = None
    if not chief:  # a multi-worker run's other workers write apart, and drop it at the end
        run_dir = Path(tempfile.mkdtemp(prefix=f"kerasdl-worker{worker}-"))
    elif resume_dir is not None:
        run_dir = resume_dir
        runs.write_text_atomically(run_dir / runs.CONFIG_FILE, config.to_toml())
    else:
        run_dir = runs.new_run_dir(config)
        if not multi_worker:
            new_lock = resume_format.RunLock(run_dir).acquire()  # a new directory: always free
    writer = EventWriter(run_dir / runs.EVENTS_FILE, sinks, run_id=run_dir.name)
    run = _Run(
        config=config,
        dataset=dataset,
        model=model,
        run_dir=run_dir,
        writer=writer,
        strategy=strategy,
        steps_per_epoch=steps_per_epoch,
        steps_per_execution=steps_per_execution,
        initial_epoch=initial_epoch,
        state=state,
        started=started,
        loop=training_loop,
    )
    try:
        return run.execute(train_data, validation, test_data, notices, stop, list(callbacks))
    finally:
        writer.close()
        if new_lock is not None:
            new_lock.release()
        if not chief:
            shutil.rmtree(run_dir, ignore_errors=True)


class _Run:
    """One call of `train` from ``run_started`` on: callbacks, fit, test, the final event."""

    def __init__(
        self,
        *,
        config,
        dataset,
        model,
        run_dir,
        writer,
        strategy,
        steps_per_epoch,
        steps_per_execution,
        initial_epoch,
        state,
        started,
        loop,
    ):
        self.config = config
        self.dataset = dataset
        self.model = model
        self.run_dir = run_dir
        self.writer = writer
        self.strategy = strategy
        self.steps_per_epoch = steps_per_epoch
        self.steps_per_execution = steps_per_execution
        self.initial_epoch = initial_epoch
        self.state = state
        self.test_only = bool((state or {}).get("test_only"))
        self.started = started
        self.resumed_from = initial_epoch if state is not None else None
        self.loop = loop
        self.monitor = None
        self.early_stopping = None
        self.plateau = None
        self.checkpoint = None
        self.last = None
        self.finished = False
        self.restored_best = False

    # -- the run

    def execute(self, train_data, validation, test_data, notices, stop, extra_callbacks):
        try:
            self._emit_started(notices)
            callback_list = self._callbacks(train_data, stop, extra_callbacks)
            if self.test_only:
                pass  # every epoch ran before the interrupt: only the test is left
            elif self.config.strategy == "multi-worker":
                from kerasdl import distributed

                # Keras's fit fails under MultiWorkerMirroredStrategy: a loop of our own.
                distributed.fit(
                    self.model,
                    train_data.dataset,
                    strategy=self.strategy,
                    task=self.dataset.task,
                    epochs=self.config.epochs,
                    initial_epoch=self.initial_epoch,
                    validation_data=validation,
                    callbacks=callback_list,
                    steps_per_epoch=self.steps_per_epoch,
                    on_peer_stop=self._stopped_by_peer,
                )
            elif self.loop == "kerasdl":
                from kerasdl import data, loop

                x, y, seed = self.dataset.x_train, self.dataset.y_train, self.config.seed
                validation_arrays = None
                if validation is not None:
                    validation_arrays = (self.dataset.x_val, self.dataset.y_val)
                loop.fit(
                    self.model,
                    x,
                    y,
                    batch_size=self.config.batch_size,
                    order=lambda epoch: data.epoch_order(len(x), seed, epoch),
                    epochs=self.config.epochs,
                    initial_epoch=self.initial_epoch,
                    validation_data=validation_arrays,
                    validation_batch_size=self.config.eval_batch_size,
                    callbacks=callback_list,
                    steps_per_execution=self.steps_per_execution,
                    unroll=loop_unroll(
                        self.steps_per_epoch * (self.config.epochs - self.initial_epoch)
                    ),
                )
            else:
                self.model.fit(
                    train_data.dataset,
                    epochs=self.config.epochs,
                    initial_epoch=self.initial_epoch,
                    validation_data=validation,
                    callbacks=callback_list,
                    shuffle=False,
                    verbose=0,
                )
            if self.test_only:  # every epoch ran before: the status is that of the last one
                status = self.state.get("status") or Status.COMPLETED.value
                status = Status.COMPLETED.value if status == "running" else status
            else:
                status = self._status()
            test = self._evaluate_test(test_data)
            loss = (test or {}).get("loss")
            if loss is not None and not math.isfinite(loss):
                status = Status.NAN.value  # the test loss of the kept weights is not finite
            return self._finish(status, test=test)
        except KeyboardInterrupt as interrupt:
            _interrupt.clear()  # this stop is handled
            if not self.finished:
                self._finish("interrupted", error=str(interrupt) or None)
            raise
        except Exception as error:
            if not self.finished:
                self._finish("failed", error=f"{type(error).__name__}: {error}")
            raise

    def _emit_started(self, notices):
        import keras

        config, dataset, model = self.config, self.dataset, self.model
        trainable = sum(int(math.prod(v.shape)) for v in model.trainable_weights)
        self.writer.emit(
            "run_started",
            config=config.to_dict(),
            dataset=dataset.describe(),
            params=int(model.count_params()),
            trainable_params=trainable,
            backend=keras.backend.backend(),
            devices=_devices(self.strategy),
            strategy=config.strategy,
            epochs=config.epochs,
            steps_per_epoch=self.steps_per_epoch,
            steps_per_execution=self.steps_per_execution,
            loop=self.loop,
            threads=_thread_pools(),
            batch_size=config.batch_size,
            optimizer={"name": config.optimizer.name, "learning_rate": _initial_lr(model)},
            resumed_from=self.resumed_from,
        )
        for level, message in notices:
            self.writer.emit("notice", level=level, message=message)

    def _callbacks(self, train_data, stop, extra_callbacks):
        import kerasdl.callbacks
        from kerasdl.event_log import EventLog

        config = self.config
        RunMonitor, LastCheckpoint = _callbacks_module()
        set_epoch = train_data.set_epoch if train_data is not None else None
        self.monitor = RunMonitor(set_epoch, stop)
        es = config.early_stopping
        if es.enabled:
            self.early_stopping = kerasdl.callbacks.EarlyStopping(
                monitor=es.monitor,
                patience=es.patience,
                min_delta=es.min_delta,
                mode=plateau_mode(es.monitor),
                # The runner restores best.keras's weights itself (also after a resume).
                restore_best_weights=False,
            )
        pl = config.plateau
        if pl.enabled:
            self.plateau = kerasdl.callbacks.ReduceLROnPlateau(
                monitor=pl.monitor,
                factor=pl.factor,
                patience=pl.patience,
                threshold=pl.threshold,
                cooldown=pl.cooldown,
                min_lr=pl.min_lr,
                mode=plateau_mode(pl.monitor),
            )
        self.checkpoint = kerasdl.callbacks.BestCheckpoint(
            str(self.run_dir / runs.BEST_MODEL_FILE),
            monitor=es.monitor,
            mode=plateau_mode(es.monitor),
        )
        self.last = LastCheckpoint(
            self.run_dir, self.monitor, self._resume_state, best=self.checkpoint
        )
        if self.state is not None:
            self._restore_callbacks()
        event_log = EventLog(
            self.writer,
            batch_size=config.batch_size,
            samples_per_epoch=len(self.dataset.y_train),
            steps_per_epoch=self.steps_per_epoch,
            early_stopping=self.early_stopping,
            plateau=self.plateau,
            checkpoint=self.checkpoint,
            warmup_steps=config.schedule.warmup_epochs * self.steps_per_epoch,
        )
        return [
            self.monitor,
            *extra_callbacks,
            *(c for c in (self.early_stopping, self.plateau) if c is not None),
            self.checkpoint,
            self.last,
            event_log,
        ]

    def _restore_callbacks(self):
        state = self.state
        pairs = (
            (self.early_stopping, "early_stopping"),
            (self.plateau, "plateau"),
            (self.checkpoint, "checkpoint"),
        )
        for callback, key in pairs:
            saved = state.get(key)
            if callback is None or saved is None:
                continue
            if saved.get("monitor") != callback.monitor:
                self.writer.emit(
                    "notice",
                    level="warning",
                    message=(
                        f"{key} now monitors {callback.monitor!r}, not {saved.get('monitor')!r} "
                        "as before the resume: it starts afresh"
                    ),
                )
                continue
            callback.set_state(saved)

    def _resume_state(self, epoch):
        """``state.json``'s content after ``epoch`` (0-based) finished."""
        model = self.model
        optimizer = model.optimizer
        schedule = getattr(optimizer, "_learning_rate", None)
        scale = getattr(schedule, "scale", None)
        return {
            "version": STATE_VERSION,
            "epoch": epoch,
            "epochs_done": epoch + 1,
            "iterations": _to_int(optimizer.iterations),
            "steps_per_epoch": self.steps_per_epoch,
            "seed": self.config.seed,
            "data": {"seed": self.config.seed, "next_epoch": epoch + 1},
            "rng": [[int(v) for v in _as_numpy(s)] for s in _seed_states(model)],
            "plateau_scale": None if scale is None else float(_as_numpy(scale)),
            "early_stopping": _state_of(self.early_stopping),
            "plateau": _state_of(self.plateau),
            "checkpoint": _state_of(self.checkpoint),
            "status": self._status_so_far(epoch),
            "fingerprint": run_fingerprint(self.config, self.dataset),
        }

    def _stopped_by_peer(self, epoch):
        """Another worker of a multi-worker run was asked to stop after ``epoch``: this one too."""
        if self.monitor.stop_epoch is None:
            self.monitor.stop_epoch = epoch

    # -- the end

    def _status_so_far(self, epoch):
        """The status after ``epoch`` (0-based), for its ``state.json`` (`_status_after`)."""
        return self._status_after(epoch)

    def _status(self):
        """The status of the run once it has ended (`_status_after`)."""
        return self._status_after(None)

    def _status_after(self, epoch):
        """The one rule of a run's status, after ``epoch`` (0-based) or at the end (None).

        The first of ``nan`` (a loss that is not finite), ``early_stopped`` (early stopping
        ended it before its last epoch), ``stopped`` (a person asked); else ``completed`` once
        every epoch ran (also when early stopping fired at the last one: nothing was cut
        short), and ``running`` before.
        """
        monitor = self.monitor
        last = monitor.last_epoch if epoch is None else epoch

        def at(marked):
            return marked is not None and (epoch is None or marked == epoch)

        if at(monitor.nan_epoch):
            return Status.NAN.value
        stopped = None if self.early_stopping is None else self.early_stopping.stopped_epoch
        if at(stopped) and stopped + 1 < self.config.epochs:
            return Status.EARLY_STOPPED.value
        if at(monitor.stop_epoch):
            return Status.STOPPED.value
        if epoch is None or (last is not None and last + 1 >= self.config.epochs):
            return Status.COMPLETED.value
        return Status.RUNNING.value

    def _evaluate_test(self, test_data):
        best = self.run_dir / runs.BEST_MODEL_FILE
        use_best = self.config.early_stopping.restore_best_weights
        if use_best and self.checkpoint.best_epoch is not None and best.exists():
            with _scope(self.strategy):
                self.model.load_weights(best)
            self.restored_best = True
        elif self.monitor.nan_epoch is not None:
            return None  # the weights are not finite and there is no good epoch to go back to
        if self.config.strategy == "multi-worker":
            from kerasdl import distributed

            results = distributed.evaluate(
                self.model, test_data, strategy=self.strategy, task=self.dataset.task
            )
        else:
            results = self.model.evaluate(test_data, verbose=0, return_dict=True)
        return {name: float(value) for name, value in results.items()}

    def _epochs_run(self, status=None):
        """Epochs finished; for an interrupted run, those checkpointed (an interrupt between
        an epoch's end and its save leaves that epoch to be run again)."""
        last = self.monitor.last_epoch if self.monitor is not None else None
        if status == Status.INTERRUPTED.value and self.last is not None:
            saved = self.last.saved_epoch
            return self.initial_epoch if saved is None else saved + 1
        if last is None:
            return self.initial_epoch
        return last + 1

    def _best(self):
        checkpoint = self.checkpoint
        if checkpoint is None or checkpoint.best_epoch is None:
            return None, None
        return checkpoint.best_epoch + 1, {"monitor": checkpoint.monitor, "value": checkpoint.best}

    def _finish(self, status, *, test=None, error=None):
        from kerasdl.event_log import STATUS_KEY_PREFIXES

        self.finished = True
        best_epoch, best = self._best()
        duration = time.monotonic() - self.started
        epochs_run = self._epochs_run(status)
        last_saved = self.last.saved_epoch if self.last is not None else None
        fields = {
            "status": status,
            "best_epoch": best_epoch,
            "best": best,
            "test": test,
            "duration_s": duration,
            "epochs_run": epochs_run,
            "error": error,
            "resumed_from": self.resumed_from,
            "restored_best": self.restored_best,
            "last_checkpoint_epoch": (
                last_saved + 1 if last_saved is not None else self._previous_checkpoint()
            ),
        }
        self.writer.emit("run_finished", **fields)
        logs = self.monitor.last_logs if self.monitor is not None else {}
        final = {
            key: float(value)
            for key, value in logs.items()
            if key != "learning_rate"
            and not key.startswith(STATUS_KEY_PREFIXES)
            and isinstance(value, (int, float))
        }
        runs.write_summary(
            self.run_dir,
            {
                "run_id": self.run_dir.name,
                **fields,
                "epochs": self.config.epochs,
                "final": final,
                "config": self.config.to_dict(),
            },
        )
        return RunSummary(
            run_id=self.run_dir.name,
            run_dir=self.run_dir,
            status=status,
            best_epoch=best_epoch,
            best=best,
            test=test,
            duration_s=duration,
            epochs_run=epochs_run,
            error=error,
            resumed_from=self.resumed_from,
        )

    def _previous_checkpoint(self):
        """The epoch of a ``last.keras`` written before this call (a resume), or None."""
        return None if self.state is None else self.state["epoch"] + 1


# ---------------------------------------------------------------------------------------------
# Resuming.


def _read_resume(config, resume):
    """``(run_dir, state)`` to resume, or ``(None, None)``; `RunError` if it cannot be.

    Call it holding the run's `kerasdl.resume.RunLock` (`train` does)."""
    if resume is None:
        return None, None
    run_dir = Path(resume)
    if not run_dir.is_dir():
        raise runs.RunError(f"cannot resume {run_dir}: no such run directory")
    state = resume_format.load_state(run_dir)  # the state of the last.keras on disk
    if state.get("version") != STATE_VERSION:
        raise runs.RunError(
            f"cannot resume {run_dir}: {runs.STATE_FILE} has version {state.get('version')!r}; "
            f"this kerasdl reads version {STATE_VERSION}"
        )
    if state.get("seed") != config.seed:
        raise ConfigError(
            "seed",
            config.seed,
            f"{state.get('seed')} (the seed of the run being resumed: it fixes the data order "
            "and the dropout masks)",
        )
    done = int(state["epochs_done"])
    test_left = _test_left(run_dir)
    if test_left and (state.get("status") in ("early_stopped", "stopped") or done >= config.epochs):
        return run_dir, {**state, "test_only": True}  # trained to its end: only the test is left
    if state.get("status") == "early_stopped":
        raise runs.RunError(
            f"cannot resume {run_dir}: it stopped early at epoch {done} (its validation metric "
            "stopped improving); start a new run instead"
        )
    if done >= config.epochs:
        raise runs.RunError(
            f"cannot resume {run_dir}: its {done} epochs are done (epochs={config.epochs}); "
            f"raise epochs to train longer, e.g. --set epochs={done + 10}"
        )
    runs.check_writable(run_dir)
    return run_dir, state


def run_fingerprint(config, dataset) -> dict:
    """What a resume cannot change: the network, the optimizer and the data's shape.

    ``state.json`` keeps it; `_check_fingerprint` compares it with the resumed config's, so a
    resume that cannot work fails before training with one line per difference.
    """
    m = config.model
    return {
        "model.hidden": list(m.hidden),
        "model.batch_norm": list(m.batch_norm),
        "model.dropout": list(m.dropout),
        "model.activation": m.activation,
        "optimizer.name": config.optimizer.name,
        "loss.name": config.loss.name,
        "data.name": config.data.name,
        "training examples": len(dataset.y_train),
        "input features": int(dataset.x_train.shape[-1]),
        "batch_size": config.batch_size,
    }


def _check_fingerprint(run_dir, state, now: dict) -> None:
    """`RunError` listing every difference between the run's fingerprint and ``now`` (a state
    written before fingerprints were kept is not checked here; `_restore` still is)."""
    saved = state.get("fingerprint")
    if not isinstance(saved, dict):
        return
    differences = [
        f"  {key}: {saved[key]!r} in the run, {now[key]!r} now"
        for key in now
        if key in saved and saved[key] != now[key]
    ]
    if differences:
        raise runs.RunError(
            f"cannot resume {run_dir}: it was trained with another setup; resume with the run's "
            "own, or start a new run:\n" + "\n".join(differences)
        )


def _test_left(run_dir) -> bool:
    """Whether the run's last part ended before its test evaluation (interrupted or killed
    after its last epoch): `--resume` then only evaluates the test set."""
    from kerasdl.events.record import RunRecord

    try:
        record = RunRecord.read(Path(run_dir) / runs.EVENTS_FILE)
    except OSError:
        return False
    if record.finished is None:
        return record.started is not None  # killed: no run_finished at all
    return record.test_metrics is None and record.status == Status.INTERRUPTED.value


def _restore(model, run_dir, state, steps_per_epoch):
    """Load ``last.keras`` into the compiled ``model``; returns the epoch to start at."""
    model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(run_dir / runs.LAST_MODEL_FILE)
    except ValueError as error:
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else "no detail"
        raise runs.RunError(
            f"cannot resume {run_dir}: {runs.LAST_MODEL_FILE} does not fit the model of this "
            f"config (the layers or their sizes changed: {first})"
        ) from None
    iterations = _to_int(model.optimizer.iterations)
    if state["steps_per_epoch"] != steps_per_epoch or iterations != state["iterations"]:
        raise runs.RunError(
            f"cannot resume {run_dir}: {runs.LAST_MODEL_FILE} ({iterations} optimizer steps) "
            f"and {runs.STATE_FILE} ({state['iterations']} steps, {state['steps_per_epoch']} "
            f"an epoch; now {steps_per_epoch}) disagree (the data or the batch size changed, "
            "or the process stopped between writing the two)"
        )
    seeds = _seed_states(model)
    if len(seeds) != len(state["rng"]):
        raise runs.RunError(f"cannot resume {run_dir}: the dropout layers changed")
    for variable, value in zip(seeds, state["rng"], strict=True):
        variable.assign(value)
    return int(state["epochs_done"])


# `kerasdl.loop.fit` unrolls its compiled loop (4 steps an iteration) when a run has at least
# this many steps to go: unrolling saves about 0.1 ms a step of the preset on 2 cores, and
# tracing the 3 extra steps costs about 1.3 s once (docs/engine.md).
LOOP_UNROLL = 4
LOOP_UNROLL_MIN_STEPS = 10_000


def loop_unroll(steps_to_go: int) -> int:
    """The ``unroll`` of `kerasdl.loop.fit` for a run with ``steps_to_go`` optimizer steps."""
    return LOOP_UNROLL if steps_to_go >= LOOP_UNROLL_MIN_STEPS else 1


# `intra_op_threads = "auto"`: one thread per op when every layer's matrix product is at
# most this many multiply-adds a step, on a CPU of at most this many cores (docs/engine.md).
AUTO_ONE_THREAD_MACS = 2**24
AUTO_ONE_THREAD_MAX_CORES = 4


def largest_layer_macs(config) -> int:
    """Multiply-adds a training step's largest Dense product costs (``batch x in x out``)."""
    from kerasdl.data import model_io_sizes

    inputs, outputs = model_io_sizes(config)
    sizes = [inputs, *config.model.hidden, outputs]
    return config.batch_size * max(a * b for a, b in itertools.pairwise(sizes))


def intra_op_threads(config, cores: int | None = None, gpus: int | None = None) -> int:
    """``config.intra_op_threads`` with ``"auto"`` decided: 1 when the run is small (every
    layer's product at most `AUTO_ONE_THREAD_MACS` multiply-adds a step), on a CPU of at most
    `AUTO_ONE_THREAD_MAX_CORES` cores and no GPU, with the default strategy; else 0
    (TensorFlow's choice).

    Small products split over several threads cost more in hand-offs than they gain, and with
    one thread per op TensorFlow still runs independent ops (the backward pass's two products
    per layer) side by side. Measured on 2 cores only, hence the limit on cores.
    """
    if config.intra_op_threads != "auto":
        return int(config.intra_op_threads)
    if config.strategy != "default" or largest_layer_macs(config) > AUTO_ONE_THREAD_MACS:
        return 0
    if cores is None:
        cores = os.cpu_count() or 1
    if cores > AUTO_ONE_THREAD_MAX_CORES:
        return 0
    if gpus is None:
        import tensorflow as tf

        gpus = len(tf.config.list_physical_devices("GPU"))
    return 0 if gpus else 1


def _thread_pools() -> dict | None:
    """TensorFlow's thread pools as set (0: TensorFlow's choice); None on another backend."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    return {
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def _apply_threads(config) -> str | None:
    """Set TensorFlow's thread pools from ``intra_op_threads`` / ``inter_op_threads`` (0 leaves
    TensorFlow's choice; ``"auto"``: `intra_op_threads`). TensorFlow fixes them when it runs its
    first op: if that has happened in this process with other values, they stay, and the
    returned warning says so (for values asked for; an ``"auto"`` choice stays silently)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    intra = intra_op_threads(config)
    if not (intra or config.inter_op_threads):
        return None
    import tensorflow as tf

    pools = tf.config.threading
    kept = []
    for name, value, asked, get, set_ in (
        (
            "intra_op_threads",
            intra,
            config.intra_op_threads != "auto",
            pools.get_intra_op_parallelism_threads,
            pools.set_intra_op_parallelism_threads,
        ),
        (
            "inter_op_threads",
            config.inter_op_threads,
            True,
            pools.get_inter_op_parallelism_threads,
            pools.set_inter_op_parallelism_threads,
        ),
    ):
        if not value or get() == value:
            continue
        try:
            set_(value)
        except RuntimeError:  # TensorFlow is running already
            if asked:
                kept.append(f"{name}={value}")
    if not kept:
        return None
    return (
        f"{', '.join(kept)} not applied: TensorFlow already started in this process with "
        "its own thread pools (set them before TensorFlow runs, e.g. in a new process)"
    )


def _training_loop(config, strategy, model) -> str:
    """``"kerasdl"`` (`kerasdl.loop.fit`), ``"fit"`` (``model.fit``) or ``"multi-worker"``
    (`kerasdl.distributed.fit`): the loop ``config.loop`` asks for, ``"auto"`` resolved."""
    import keras

    if config.strategy == "multi-worker":
        return "multi-worker"
    if config.loop != "auto":
        return config.loop
    one_device = strategy is None and keras.backend.backend() == "tensorflow"
    return "kerasdl" if one_device and not model.jit_compile else "fit"


def _check_new_run_possible(config):
    """Fail now, before any data is loaded, if the new run directory cannot be made."""
    runs_dir = runs.check_writable(config.runs_dir)
    if config.run_name and (runs_dir / config.run_name).exists():
        raise runs.RunError(
            f"run directory {runs_dir / config.run_name} exists: resume it with "
            f"--resume {runs_dir / config.run_name}, or choose another run name"
        )


# ---------------------------------------------------------------------------------------------
# Small helpers.


def _seed_states(model):
    """The state variables of the model's `keras.random.SeedGenerator`s (dropout masks).

    ``.keras`` files do not hold them (Keras saves layer weights, not seed generators), so
    ``state.json`` does, and a resumed run draws the masks an uninterrupted one would.
    """
    return [v for v in model.variables if v.name == "seed_generator_state"]


def _as_numpy(variable):
    """A variable's value as NumPy (also a ``tf.distribute`` variable, which ``int()`` refuses)."""
    from kerasdl._values import to_numpy

    return to_numpy(variable)


def _to_int(variable):
    return int(_as_numpy(variable))


def _state_of(callback):
    return None if callback is None else callback.get_state()


def _initial_lr(model):
    return float(_as_numpy(model.optimizer.learning_rate))


def _devices(strategy):
    import keras

    if strategy is not None:
        names = list(strategy.extended.worker_devices)
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        names = [gpus[0].name] if gpus else [tf.config.list_logical_devices("CPU")[0].name]
    elif keras.backend.backend() == "jax":
        import jax

        names = [str(jax.devices()[0])]
    else:
        names = [keras.backend.backend()]
    return [name.split("device:")[-1] for name in names]


def _worker_role(strategy):
    """``(is_chief, task_id)``: only the chief of a multi-worker run writes the run directory.

    ``should_checkpoint`` is ``tf.distribute``'s own answer (true on the chief, or worker 0
    of a cluster without a chief, and in a single process).
    """
    if strategy is None:
        return True, 0
    resolver = getattr(strategy, "cluster_resolver", None)
    task_id = getattr(resolver, "task_id", None) or 0
    return bool(strategy.extended.should_checkpoint), int(task_id)


class _NullScope:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


def _scope(strategy):
    return _NullScope() if strategy is None else strategy.scope()
