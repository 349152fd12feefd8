"""`train`: a `kerasdl.config.TrainConfig` in, a finished run directory out (chapter 3.6).

What `train` does, in order (``docs/engine.md`` tells the whole story; each step's module in
brackets)::

    check       validate the config; lock a resumed run, read its state.json; probe the
                runs dir                                                  [run.setup, run.resume]
    backend     import Keras and TensorFlow, then start the clock; thread pools; the
                tf.distribute strategy (multi-worker: before TF runs anything)   [run.threads]
    data        load_dataset(config), the global seed, the validation and test sets (your
                own file: read before the backend, NumPy only)              [run.setup]
    build       in the strategy's scope: build_model, the optimizer with its schedule
                (+ warmup, + plateau factor), the loss and the metric; compile  [run.builders]
    resume      last.keras's weights and optimizer state, the dropout RNG from state.json
    loop        kerasdl's loop, model.fit, or kerasdl.distributed.fit          [run.loops]
    run dir     runs/<id>/ with config.toml      (an error up to here leaves no event)
    events      run_started (+ notices)                                        [run.session]
    fit         callbacks: run monitor (data epoch, NaN, stop request), early stopping,
                plateau, best.keras, last.keras + state.json, EventLog (last) [run.callbacks]
    test        once, with best.keras's weights
    finish      run_finished, summary.json; the status by one rule            [run.status]

Statuses: ``completed``, ``early_stopped``, ``stopped`` (``stop`` was set), ``nan`` (the
training loss became NaN or infinite), ``interrupted`` (``KeyboardInterrupt``, re-raised),
``failed`` (any other exception, re-raised).

Only `train`, `RunSummary`, `STATUSES`, `STATE_VERSION` and the builders
(`build_learning_rate`, `build_momentum`, `build_optimizer`, `build_loss`, `build_metrics`,
`make_strategy`, from `kerasdl.run.builders`) are public; the rest of the engine is in
`kerasdl.run`.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from kerasdl.config import TrainConfig
from kerasdl.run import loops, session, setup
from kerasdl.run.builders import (
    build_learning_rate,
    build_loss,
    build_metrics,
    build_momentum,
    build_optimizer,
    make_strategy,
)
from kerasdl.run.loops import LOOP_UNROLL as LOOP_UNROLL
from kerasdl.run.loops import LOOP_UNROLL_MIN_STEPS as LOOP_UNROLL_MIN_STEPS
from kerasdl.run.loops import loop_unroll as loop_unroll
from kerasdl.run.resume import STATE_VERSION, RunLock
from kerasdl.run.status import STATUSES
from kerasdl.run.threads import AUTO_ONE_THREAD_MACS as AUTO_ONE_THREAD_MACS
from kerasdl.run.threads import AUTO_ONE_THREAD_MAX_CORES as AUTO_ONE_THREAD_MAX_CORES
from kerasdl.run.threads import intra_op_threads as intra_op_threads
from kerasdl.run.threads import largest_layer_macs as largest_layer_macs

__all__ = [
    "STATE_VERSION",
    "STATUSES",
    "RunSummary",
    "build_learning_rate",
    "build_loss",
    "build_metrics",
    "build_momentum",
    "build_optimizer",
    "make_strategy",
    "train",
]


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
        duration_s: Seconds this call took from the start of its training setup (after
            Keras and TensorFlow are imported) to its end; a resumed run's earlier calls are
            not included.
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

    Then the run emits ``run_started``, trains (kerasdl's loop `kerasdl.loop.fit`, Keras's
    ``model.fit``, or `kerasdl.distributed.fit` for ``strategy="multi-worker"``), keeps
    ``best.keras`` (the best epoch by ``early_stopping.monitor``) and ``last.keras`` +
    ``state.json`` (every finished epoch), evaluates the test set once with the best epoch's
    weights (the last epoch's if ``early_stopping.restore_best_weights`` is false), emits
    ``run_finished`` and writes ``summary.json``.

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
    config = config.validate()
    lock = None
    # Every worker of a multi-worker run resumes the same directory: no lock there.
    if resume is not None and Path(resume).is_dir() and config.strategy != "multi-worker":
        lock = RunLock(resume).acquire()  # before anything reads its files
    try:
        return _train(config, sinks, resume, stop, callbacks, lock)
    finally:
        if lock is not None:
            lock.release()


def _train(config, sinks, resume, stop, callbacks, lock) -> RunSummary:
    """`train` after the config is valid, holding the lock of a run it resumes."""
    resume_dir, state = setup.check_inputs(config, resume, lock)
    early = setup.read_file_data(config)  # your own file: NumPy, before TensorFlow
    backend = setup.start_backend(config, new_run=resume_dir is None, dataset=early)
    data = setup.load_data(config, early)  # the clock started in start_backend
    model, initial_epoch, model_notices = setup.build(config, backend, data, resume_dir, state)
    data = dataclasses.replace(data, notices=(*data.notices, *model_notices))
    loop = loops.choose_loop(config, backend.strategy, model, data.dataset)
    # Everything checkable is checked: from here on the run directory gets events.
    with setup.run_directory(config, backend, resume_dir, sinks) as (run_dir, writer):
        run = session.Run(
            config,
            backend=backend,
            data=data,
            model=model,
            loop=loop,
            initial_epoch=initial_epoch,
            state=state,
            run_dir=run_dir,
            writer=writer,
        )
        return _summary(run_dir, run.execute(stop, list(callbacks)))


def _summary(run_dir: Path, finished: dict) -> RunSummary:
    """The `RunSummary` of ``run_finished``'s fields."""
    return RunSummary(
        run_id=run_dir.name,
        run_dir=run_dir,
        status=finished["status"],
        best_epoch=finished["best_epoch"],
        best=finished["best"],
        test=finished["test"],
        duration_s=finished["duration_s"],
        epochs_run=finished["epochs_run"],
        error=finished["error"],
        resumed_from=finished["resumed_from"],
    )
