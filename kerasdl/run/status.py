"""The one rule of a run's status: every status the runner writes (in ``state.json`` after an
epoch, and in ``run_finished``) is decided here.

::

    after(epoch)   nan  >  early_stopped  >  stopped  >  completed (every epoch ran)  >  running
    final          after(end), or, for a resume that only tests, the status its state recorded;
                   nan if the test loss is not finite
    of_error       interrupted (KeyboardInterrupt), failed (any other exception)

The statuses themselves are `kerasdl.events.schema.Status`.
"""

from __future__ import annotations

import math

from kerasdl.events.schema import FINISHED_STATUSES, Status

__all__ = ["STATUSES", "after", "final", "of_error"]

#: Every ``run_finished`` status. When several apply to one epoch, the first of ``nan``,
#: ``early_stopped``, ``stopped`` is reported.
STATUSES = tuple(str(status) for status in Status if status in FINISHED_STATUSES)


def after(epoch: int | None, *, monitor, early_stopping, epochs: int) -> str:
    """The status after ``epoch`` (0-based) finished, or once the run has ended (None).

    The first of ``nan`` (a loss that is not finite), ``early_stopped`` (early stopping ended
    the run before its last epoch), ``stopped`` (a person asked); else ``completed`` once
    every epoch ran (also when early stopping fired at the last one: nothing was cut short),
    and ``running`` before.

    Args:
        epoch: The epoch just finished (for its ``state.json``), or None for the run's end.
        monitor: The run's monitor callback (``nan_epoch``, ``stop_epoch``, ``last_epoch``).
        early_stopping: The early-stopping callback (``stopped_epoch``), or None when off.
        epochs: The epochs planned.

    Returns:
        A `Status` value.
    """
    last = monitor.last_epoch if epoch is None else epoch

    def at(marked):
        return marked is not None and (epoch is None or marked == epoch)

    if at(monitor.nan_epoch):
        return Status.NAN.value
    stopped = None if early_stopping is None else early_stopping.stopped_epoch
    if at(stopped) and stopped + 1 < epochs:
        return Status.EARLY_STOPPED.value
    if at(monitor.stop_epoch):
        return Status.STOPPED.value
    if epoch is None or (last is not None and last + 1 >= epochs):
        return Status.COMPLETED.value
    return Status.RUNNING.value


def final(*, monitor, early_stopping, epochs: int, state: dict | None, test: dict | None) -> str:
    """The status of a run that reached its test evaluation, for its ``run_finished``.

    A resume that only evaluates the test (every epoch ran before an interrupt: ``state``
    has ``test_only``) keeps the status its last epoch's state recorded (``running`` there
    means ``completed``); any other run takes `after` its end. Either becomes ``nan`` when
    the test loss of the kept weights is not finite.

    Args:
        monitor: As for `after`.
        early_stopping: As for `after`.
        epochs: The epochs planned.
        state: The resumed ``state.json`` content, or None for a new run.
        test: The test metrics, or None (not evaluated).

    Returns:
        A `Status` value.
    """
    if state is not None and state.get("test_only"):
        status = state.get("status") or Status.COMPLETED.value
        status = Status.COMPLETED.value if status == Status.RUNNING.value else status
    else:
        status = after(None, monitor=monitor, early_stopping=early_stopping, epochs=epochs)
    loss = (test or {}).get("loss")
    if loss is not None and not math.isfinite(loss):
        return Status.NAN.value
    return status


def of_error(error: BaseException) -> tuple[str, str | None]:
    """The status and error message of a run that ``error`` ended.

    Args:
        error: A ``KeyboardInterrupt`` (``interrupted``, its message if it has one) or any
            other exception (``failed``, ``"<Type>: <message>"``).

    Returns:
        ``(status, error)`` for ``run_finished``.
    """
    if isinstance(error, KeyboardInterrupt):
        return Status.INTERRUPTED.value, str(error) or None
    return Status.FAILED.value, f"{type(error).__name__}: {error}"
