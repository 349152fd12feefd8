"""One call of `kerasdl.runner.train` from ``run_started`` on (`Run`)::

    execute        run_started (+ notices); the callbacks (kerasdl.run.callbacks);
                   the loop's fit (kerasdl.run.loops), unless only the test is left;
                   the test; the end
    evaluate_test  once, with best.keras's weights (restore_best_weights), by the loop
    finish         run_finished, summary.json; its fields go back to the runner
    sampler        the system events (kerasdl.system_metrics), from run_started until just
                   before run_finished, also after an interrupt or an error

The status comes from `kerasdl.run.status`, ``state.json``'s content from
`kerasdl.run.resume.epoch_state`.
"""

from __future__ import annotations

import math
import threading
import time

from kerasdl import _interrupt, runs
from kerasdl.events.schema import Status
from kerasdl.run import resume
from kerasdl.run import status as run_status
from kerasdl.run.builders import strategy_scope
from kerasdl.run.callbacks import RunCallbacks, make_callbacks
from kerasdl.run.threads import thread_pools

__all__ = ["Run"]


class Run:
    """One call of `kerasdl.runner.train` from ``run_started`` on.

    Args:
        config: The validated config.
        backend: `kerasdl.run.setup.Backend` (the clock, the strategy, steps_per_execution).
        data: `kerasdl.run.setup.RunData`.
        model: The compiled (and, for a resume, restored) model.
        loop: The `kerasdl.run.loops.TrainingLoop`.
        initial_epoch: The epoch to start at (0-based).
        state: The resumed state, or None for a new run.
        run_dir: The run directory.
        writer: Its `kerasdl.events.EventWriter`.
    """

    def __init__(
        self, config, *, backend, data, model, loop, initial_epoch, state, run_dir, writer
    ):
        self.config = config
        self.dataset = data.dataset
        self.steps_per_epoch = data.steps_per_epoch
        self.validation = data.validation
        self.test_data = data.test
        self.notices = (*data.notices, *backend.notices)
        self.strategy = backend.strategy
        self.steps_per_execution = backend.steps_per_execution
        self.started = backend.started
        self.model = model
        self.loop = loop
        self.initial_epoch = initial_epoch
        self.state = state
        self.test_only = bool((state or {}).get("test_only"))
        self.resumed_from = initial_epoch if state is not None else None
        self.run_dir = run_dir
        self.writer = writer
        self.callbacks: RunCallbacks | None = None
        self.finished = False
        self.restored_best = False
        self.sampler = None  # kerasdl.system_metrics.SystemSampler, while it runs

    def execute(self, stop: threading.Event | None, extra_callbacks: list) -> dict:
        """Train, test and finish the run; a ``KeyboardInterrupt`` or an error finishes it as
        ``interrupted`` or ``failed`` and is raised again.

        Args:
            stop: The event that asks the run to stop after the current epoch, or None.
            extra_callbacks: The caller's Keras callbacks.

        Returns:
            The fields of ``run_finished``.
        """
        try:
            self.emit_started()
            self.start_sampler()
            self.callbacks = make_callbacks(self, stop, extra_callbacks)
            if not self.test_only:  # else every epoch ran before an interrupt: only the test
                self.loop.fit(self, self.callbacks)
            test = self.evaluate_test()
            return self.finish(self._final_status(test), test=test)
        except KeyboardInterrupt as interrupt:
            _interrupt.clear()  # this stop is handled
            self._finish_after(interrupt)
            raise
        except Exception as error:
            self._finish_after(error)
            raise
        finally:
            self.stop_sampler()

    def emit_started(self) -> None:
        """Emit ``run_started``, then a ``notice`` for each warning of the setup."""
        import keras

        config, model = self.config, self.model
        trainable = sum(int(math.prod(v.shape)) for v in model.trainable_weights)
        self.writer.emit(
            "run_started",
            config=config.to_dict(),
            dataset=self.dataset.describe(),
            params=int(model.count_params()),
            trainable_params=trainable,
            backend=keras.backend.backend(),
            devices=_devices(self.strategy),
            strategy=config.strategy,
            epochs=config.epochs,
            steps_per_epoch=self.steps_per_epoch,
            steps_per_execution=self.steps_per_execution,
            loop=self.loop.name,
            threads=thread_pools(),
            batch_size=config.batch_size,
            optimizer={"name": config.optimizer.name, "learning_rate": _initial_lr(model)},
            resumed_from=self.resumed_from,
            setup_s=time.monotonic() - self.started,
        )
        for level, message in self.notices:
            self.writer.emit("notice", level=level, message=message)

    def start_sampler(self) -> None:
        """Start the ``system`` events (`kerasdl.system_metrics`), unless ``system_metrics`` is
        off."""
        if not self.config.system_metrics:
            return
        from kerasdl.system_metrics import SystemSampler

        writer = self.writer
        self.sampler = SystemSampler(
            lambda reading: writer.emit("system", **reading.fields()),
            self.config.system_metrics_interval_s,
        ).start()

    def stop_sampler(self) -> None:
        """Stop the ``system`` events and join their thread (idempotent)."""
        sampler, self.sampler = self.sampler, None
        if sampler is not None:
            sampler.stop()

    def state_after(self, epoch: int) -> dict:
        """``state.json``'s content after ``epoch`` (0-based) finished (`LastCheckpoint`'s).

        Args:
            epoch: The epoch just finished.

        Returns:
            `kerasdl.run.resume.epoch_state`.
        """
        callbacks = self.callbacks
        status = run_status.after(
            epoch,
            monitor=callbacks.monitor,
            early_stopping=callbacks.early_stopping,
            epochs=self.config.epochs,
        )
        return resume.epoch_state(
            epoch,
            model=self.model,
            config=self.config,
            dataset=self.dataset,
            steps_per_epoch=self.steps_per_epoch,
            callbacks=callbacks,
            status=status,
        )

    def evaluate_test(self) -> dict | None:
        """The test metrics, evaluated once, with ``best.keras``'s weights when
        ``early_stopping.restore_best_weights`` (the last epoch's otherwise).

        Returns:
            ``{metric: value}``, or None when the weights are not finite and no epoch was good.
        """
        best = self.run_dir / runs.BEST_MODEL_FILE
        use_best = self.config.early_stopping.restore_best_weights
        if use_best and self.callbacks.checkpoint.best_epoch is not None and best.exists():
            with strategy_scope(self.strategy):
                self.model.load_weights(best)
            self.restored_best = True
        elif self.callbacks.monitor.nan_epoch is not None:
            return None  # the weights are not finite and there is no good epoch to go back to
        results = self.loop.evaluate(self, self.test_data)
        return {name: float(value) for name, value in results.items()}

    def _final_status(self, test: dict | None) -> str:
        return run_status.final(
            monitor=self.callbacks.monitor,
            early_stopping=self.callbacks.early_stopping,
            epochs=self.config.epochs,
            state=self.state,
            test=test,
        )

    def _finish_after(self, error: BaseException) -> None:
        if not self.finished:
            status, message = run_status.of_error(error)
            self.finish(status, error=message)

    # -- the end

    def finish(self, status: str, *, test: dict | None = None, error: str | None = None) -> dict:
        """Emit ``run_finished`` and write ``summary.json``.

        Args:
            status: The run's status (`kerasdl.run.status`).
            test: The test metrics. Defaults to None (not evaluated).
            error: The error's message. Defaults to None.

        Returns:
            The fields of ``run_finished``.
        """
        self.finished = True
        self.stop_sampler()  # no system event after run_finished
        fields = self._finished_fields(status, test, error)
        self.writer.emit("run_finished", **fields)
        runs.write_summary(
            self.run_dir,
            {
                "run_id": self.run_dir.name,
                **fields,
                "epochs": self.config.epochs,
                "final": self._final_metrics(),
                "config": self.config.to_dict(),
            },
        )
        return fields

    def _finished_fields(self, status, test, error) -> dict:
        best_epoch, best = self._best()
        last = self.callbacks.last if self.callbacks is not None else None
        last_saved = last.saved_epoch if last is not None else None
        return {
            "status": status,
            "best_epoch": best_epoch,
            "best": best,
            "test": test,
            "duration_s": time.monotonic() - self.started,
            "epochs_run": self._epochs_run(status),
            "error": error,
            "resumed_from": self.resumed_from,
            "restored_best": self.restored_best,
            "last_checkpoint_epoch": (
                last_saved + 1 if last_saved is not None else self._previous_checkpoint()
            ),
        }

    def _final_metrics(self) -> dict:
        """The last epoch's logged numbers, without the learning rate and the status keys."""
        from kerasdl.event_log import STATUS_KEY_PREFIXES

        logs = self.callbacks.monitor.last_logs if self.callbacks is not None else {}
        return {
            key: float(value)
            for key, value in logs.items()
            if key != "learning_rate"
            and not key.startswith(STATUS_KEY_PREFIXES)
            and isinstance(value, (int, float))
        }

    def _epochs_run(self, status: str) -> int:
        """Epochs finished; for an interrupted run, those checkpointed (an interrupt between
        an epoch's end and its save leaves that epoch to be run again)."""
        callbacks = self.callbacks
        last = callbacks.monitor.last_epoch if callbacks is not None else None
        if status == Status.INTERRUPTED.value and callbacks is not None:
            saved = callbacks.last.saved_epoch
            return self.initial_epoch if saved is None else saved + 1
        if last is None:
            return self.initial_epoch
        return last + 1

    def _best(self) -> tuple[int | None, dict | None]:
        checkpoint = self.callbacks.checkpoint if self.callbacks is not None else None
        if checkpoint is None or checkpoint.best_epoch is None:
            return None, None
        return checkpoint.best_epoch + 1, {"monitor": checkpoint.monitor, "value": checkpoint.best}

    def _previous_checkpoint(self) -> int | None:
        """The epoch of a ``last.keras`` written before this call (a resume), or None."""
        return None if self.state is None else self.state["epoch"] + 1


def _initial_lr(model) -> float:
    from kerasdl._values import to_numpy

    return float(to_numpy(model.optimizer.learning_rate))


def _devices(strategy) -> list[str]:
    """The devices the run trains on, as ``run_started`` names them (``CPU:0``, ``GPU:0``)."""
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
