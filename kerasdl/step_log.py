"""`StepLog`: the Keras callback that writes a run's step history (``steps.jsonl``).

It lives apart from `kerasdl.steps` (the file's writer and reader, light) because it imports
Keras. File format: ``docs/runs.md``.
"""

from __future__ import annotations

import threading
import time

import keras

from kerasdl.event_log import EventLog
from kerasdl.steps import StepWriter

__all__ = ["StepLog"]


class StepLog(keras.callbacks.Callback):
    """Write the running loss and metrics after a training step, throttled, to a
    `kerasdl.steps.StepWriter`.

    A batch hook notes the step and its logs (which Keras has already made Python numbers);
    when `StepWriter.due` says the interval has passed, it writes a row. The epoch's last step
    is always written (at its batch hook when the steps of an epoch are known, else when the
    epoch ends). The global step is ``epoch * steps_per_epoch + step``, or, with the steps of an
    epoch unknown, the steps counted so far. With ``steps_per_execution = k`` Keras calls the
    batch hooks once per compiled call, so rows fall on multiples of ``k``. Nothing is read
    from the model; the metrics are those `kerasdl.event_log.EventLog` would report (no
    learning rate, no status keys of the kerasdl callbacks).

    Args:
        writer: The `kerasdl.steps.StepWriter`.
        steps_per_epoch: Steps in an epoch. Defaults to None (Keras's ``params["steps"]``).
        clock: Monotonic seconds, for the throttle. Defaults to ``time.monotonic``.

    Example:

    ```python
    from kerasdl.step_log import StepLog
    from kerasdl.steps import StepWriter

    log = StepLog(StepWriter("runs/demo/steps.jsonl"))
    model.fit(x, y, epochs=3, callbacks=[log])
    ```
    """

    # Keras may run batch hooks in a worker thread (not on TensorFlow); this one is safe.
    async_safe = True

    def __init__(self, writer: StepWriter, *, steps_per_epoch: int | None = None, clock=None):
        super().__init__()
        self.writer = writer
        self.steps_per_epoch = steps_per_epoch
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._epoch = None
        self._before = 0  # global steps before this epoch
        self._counted = 0  # steps counted in earlier epochs (steps of an epoch unknown)
        self._step = 0
        self._logs = None
        self._written = True

    def on_epoch_begin(self, epoch, logs=None):
        with self._lock:
            steps = self._steps()
            self._epoch = epoch
            self._before = epoch * steps if steps is not None else self._counted
            self._step = 0
            self._logs = None
            self._written = True

    def on_train_batch_end(self, batch, logs=None):
        now = self._clock()
        step = int(batch) + 1
        steps = self._steps()
        if steps is not None:
            step = min(step, steps)  # a last, partial execution is numbered as a whole one
        with self._lock:
            if self._epoch is None or step <= self._step:
                return  # outside an epoch, or a late hook from Keras's worker thread
            self._step, self._logs, self._written = step, logs, False
            if (steps is not None and step >= steps) or self.writer.due(now):
                self._write(now)

    def on_epoch_end(self, epoch, logs=None):
        with self._lock:
            if not self._written and self._logs is not None:
                self._write(self._clock())
            self._counted = self._before + self._step
            self._epoch = None

    def _write(self, now: float) -> None:
        metrics = EventLog._metrics(self._logs)
        if metrics:
            self.writer.add(self._before + self._step, self._epoch + 1, metrics, now=now)
        self._written = True

    def _steps(self):
        if self.steps_per_epoch is not None:
            return int(self.steps_per_epoch)
        steps = self.params.get("steps") if self.params else None
        return int(steps) if steps is not None else None
