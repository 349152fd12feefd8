"""What the three callbacks share: reading the monitored value, its direction, checks.

Private: the callbacks' docstrings and ``docs/callbacks.md`` describe the behaviour.
"""

import math
import os
import warnings

# Metric names whose larger values are better, for ``mode="auto"`` when the model does
# not say (Keras metrics carry a direction; a bare name in a custom loop does not).
_UP_SUFFIXES = ("acc", "accuracy", "auc", "precision", "recall", "f1_score", "fbeta_score")


def keras_filepath(name, value):
    """A path (str or PathLike) that ends with ``.keras``."""
    try:
        path = os.fspath(value)
    except TypeError:
        path = None
    if not isinstance(path, str) or not path.endswith(".keras"):
        raise ValueError(
            f"Argument `{name}` must be a path ending with '.keras'. Received: {name}={value!r}"
        )
    return path


def resolve_mode(mode, monitor, model=None):
    """``"min"`` or ``"max"``: ``mode`` itself, or the direction of ``monitor`` for ``"auto"``.

    For ``"auto"``, a metric of ``model`` with that name says its direction (as Keras's
    callbacks read it); otherwise a name ending in ``loss`` is minimised and an
    accuracy-like name maximised; any other name needs an explicit mode.
    """
    if mode != "auto":
        return mode
    name = monitor.removeprefix("val_")
    direction = _model_metric_direction(model, name)
    if direction is not None:
        return "max" if direction == "up" else "min"
    if name.endswith("loss"):
        return "min"
    if name.endswith(_UP_SUFFIXES):
        return "max"
    raise ValueError(
        f"Cannot tell whether `{monitor}` should be minimised or maximised. "
        "Pass `mode='min'` or `mode='max'`."
    )


def _model_metric_direction(model, name):
    metrics = list(getattr(model, "metrics", None) or [])
    while metrics:
        metric = metrics.pop()
        metrics.extend(getattr(metric, "metrics", None) or [])  # Keras's compile containers
        if getattr(metric, "name", None) == name and hasattr(metric, "_direction"):
            return metric._direction
    return None


def is_better(current, best, mode, min_delta):
    """``current`` beats ``best`` by more than ``min_delta`` (``best=None``: nothing yet).

    Written as the chapter writes it (``val_loss < best_val_loss``), with a margin:
    ``current < best - min_delta`` in min mode, ``current > best + min_delta`` in max mode.
    NaN is never better.
    """
    if math.isnan(current):
        return False
    if best is None:
        return True
    if mode == "min":
        return current < best - min_delta
    return current > best + min_delta


def monitor_value(logs, monitor, what):
    """``logs[monitor]`` as a float, or ``None`` with a warning (Keras's wording) if absent."""
    logs = logs or {}
    value = logs.get(monitor)
    if value is None:
        warnings.warn(
            f"{what} conditioned on metric `{monitor}` which is not available. "
            f"Available metrics are: {','.join(logs)}",
            stacklevel=3,
        )
        return None
    return scalar(value, monitor)


def scalar(value, name="value"):
    """A logged metric as a ``float``: a Python number, a 0-d or a 1-element array or tensor.

    ``keras.metrics.F1Score()`` on a one-output model logs a shape ``(1,)`` array, which
    ``float()`` refuses under NumPy 2; Keras's callbacks accept it, and so do these. An array
    of more than one element has no single value to compare: refused with its shape.
    """
    if isinstance(value, (int, float)):
        return float(value)
    import numpy as np

    array = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    if array.size != 1:
        raise ValueError(
            f"The monitored metric `{name}` must be a single number; it has shape "
            f"{array.shape}. Monitor one element of it, or a metric that averages it."
        )
    return float(array.reshape(()))


def log_number(value, missing=math.nan):
    """A value for Keras's ``logs``: always a float (``None`` becomes ``missing``)."""
    return missing if value is None else float(value)


def check_state(state, keys, what, monitor):
    """Refuse a `set_state` dict that lacks ``keys`` or belongs to another monitor."""
    missing = set(keys) - set(state)
    if missing:
        raise ValueError(f"{what} state lacks {sorted(missing)}. Received: {state!r}")
    if state["monitor"] != monitor:
        raise ValueError(
            f"The state monitors `{state['monitor']}` but this callback monitors `{monitor}`."
        )
