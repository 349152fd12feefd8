"""The plumbing every loss class shares: Keras's reductions, PyTorch's, and the argument checks.

A loss is two private functions over ``(y_true, y_pred)``: the loss of every element (PyTorch's
``reduction="none"``), with the count each element adds to PyTorch's ``"mean"`` denominator, and
the per-sample loss Keras reduces (the elements averaged over the last axis, or summed over the
classes). `_LossFunctionWrapper` sends Keras's reduction names to ``keras.losses.Loss`` and
PyTorch's to `_torch_reduce`.
"""

import math

import keras
import numpy as np
from keras import ops

from kerasdl._checks import in_range, one_of
from kerasdl._registration import serializable

try:  # Keras 3's mask of a tensor (``_keras_mask``), as ``keras.losses.Loss`` reads it
    from keras.src.backend import get_keras_mask
except ImportError:  # pragma: no cover - Keras reorganised its internals

    def get_keras_mask(x):
        return getattr(x, "_keras_mask", None)


# PyTorch's BCELoss clamps each log term at this value.
_LOG_FLOOR = -100.0
#: PyTorch's reduction names, with PyTorch's meaning on every kerasdl loss.
TORCH_REDUCTIONS = ("mean", "sum", "none")
#: The reduction every class defaults to (Keras's).
DEFAULT = "sum_over_batch_size"
REDUCTION_DOC = (
    "Keras's `sum_over_batch_size` (the default), `mean_with_sample_weight` or `None`, "
    "or PyTorch's `mean`, `sum` or `none`"
)


def register(obj):
    """Register a loss class (saved under a name that says how to load it) or function."""
    if isinstance(obj, type):
        return serializable("losses")(obj)
    return keras.saving.register_keras_serializable(package="kerasdl")(obj)


class _LossFunctionWrapper(keras.losses.Loss):
    """The plumbing every class shares.

    ``call`` is ``fn(y_true, y_pred, **fn_kwargs)``, the per-sample loss that Keras's reductions
    (``"sum_over_batch_size"``, ``"mean_with_sample_weight"``, ``None``) reduce as Keras reduces
    any loss. PyTorch's (``"mean"``, ``"sum"``, ``"none"``; ``"batchmean"`` where the class lists
    it) go to `_torch_reduce` over ``elements(y_true, y_pred, **fn_kwargs)``.

    ``get_config`` holds the hyperparameters and the dtype (Keras's own losses drop the dtype,
    so a float64 loss would come back float32 from a saved model).
    """

    #: PyTorch's reductions this class takes, besides Keras's.
    torch_reductions = TORCH_REDUCTIONS

    def __init__(self, fn, elements, reduction, name, dtype, **fn_kwargs):
        extra = reduction in self.torch_reductions and reduction not in TORCH_REDUCTIONS
        super().__init__(name=name, reduction="sum" if extra else reduction, dtype=dtype)
        self.reduction = reduction
        self._dtype_arg = None if dtype is None else self.dtype
        self._fn = fn
        self._elements = elements
        self._fn_kwargs = fn_kwargs

    def __call__(self, y_true, y_pred, sample_weight=None):
        if self.reduction not in self.torch_reductions:
            return super().__call__(y_true, y_pred, sample_weight=sample_weight)
        mask = get_keras_mask(y_pred)
        with keras.name_scope(self.name):
            y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
            y_true = ops.convert_to_tensor(y_true, dtype=self.dtype)
            values, counts = self._elements(y_true, y_pred, **self._fn_kwargs)
            return _torch_reduce(values, counts, sample_weight, mask, self.reduction)

    def call(self, y_true, y_pred):
        return self._fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"dtype": self._dtype_arg, **self._fn_kwargs})
        return config


def _torch_reduce(values, counts, sample_weight, mask, reduction):
    """PyTorch's reduction of the element losses ``values``.

    ``counts`` is what each element adds to the ``"mean"`` denominator (``None``: 1 each, the
    number of elements; the class weight of the target, 0 for an ignored one, for cross-entropy
    on class indices). Keras's ``sample_weight`` multiplies the losses of its sample (broadcast
    over the sample's elements) and leaves the denominator alone, as Keras's
    ``"sum_over_batch_size"`` does; a Keras mask drops its entries from both.
    """
    dtype = values.dtype
    if mask is not None:
        mask = _broadcast_like(ops.cast(mask, dtype), values)
        values = values * mask
    if sample_weight is not None:
        values = values * _broadcast_like(ops.cast(sample_weight, dtype), values)
    if reduction == "none":
        return values
    total = ops.sum(values)
    if reduction == "sum":
        return total
    if reduction == "batchmean":
        return _scale_for_replicas(total / ops.cast(ops.shape(values)[0], dtype))
    if counts is None and mask is None:
        size = ops.prod(ops.convert_to_tensor(ops.shape(values), dtype="int32"))
        return _scale_for_replicas(total / ops.cast(size, dtype))
    counts = ops.ones_like(values) if counts is None else counts
    if mask is not None:
        counts = counts * mask
    # 0 / 0 is NaN, as in PyTorch (every target ignored, or zero weights).
    return _scale_for_replicas(total / ops.sum(counts))


def _broadcast_like(weight, values):
    """``weight`` with trailing axes of 1 dropped or added until it has ``values``' rank."""
    while len(weight.shape) > len(values.shape) and weight.shape[-1] == 1:
        weight = ops.squeeze(weight, axis=-1)
    while len(weight.shape) < len(values.shape):
        weight = ops.expand_dims(weight, axis=-1)
    return weight


def _scale_for_replicas(value):
    """Divided by the replicas of a ``tf.distribute`` strategy, as Keras scales its means."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            value = value * ops.cast(1.0 / replicas, value.dtype)
    return value


# --------------------------------------------------------------------------- shapes and logs


def matched(y_true, y_pred):
    """`y_true` cast to `y_pred`'s dtype, and a trailing axis of 1 added or removed to match."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    true_rank, pred_rank = len(y_true.shape), len(y_pred.shape)
    if pred_rank == true_rank + 1 and y_pred.shape[-1] == 1:
        y_true = ops.expand_dims(y_true, -1) if true_rank == 1 else y_true
        y_pred = y_pred if true_rank == 1 else ops.squeeze(y_pred, -1)
    elif true_rank == pred_rank + 1 and y_true.shape[-1] == 1:
        y_pred = ops.expand_dims(y_pred, -1) if pred_rank == 1 else y_pred
        y_true = y_true if pred_rank == 1 else ops.squeeze(y_true, -1)
    return y_true, y_pred


def mean_last_axis(x):
    """`mean(x, axis=-1)` as a sum and a division.

    Keras's JAX backend computes `ops.mean` of float64 in float32 (its type promotion maps 64-bit
    types to 32-bit), which would cost the float64 losses half their digits.
    """
    size = x.shape[-1]
    if size is None:  # unknown until run time (a symbolic TensorFlow shape)
        size = ops.cast(ops.shape(x)[-1], x.dtype)
    return ops.sum(x, axis=-1) / size


def first(pair):
    """The element losses of an ``(values, counts)`` pair."""
    return pair[0]


def abs_(x):
    """`|x|` whose gradient at 0 is 0 (`sign(0)`) on every backend, as in PyTorch.

    `ops.abs` has that gradient on TensorFlow, but 1 on JAX.
    """
    return ops.sign(x) * x


def clamped_log(p):
    """`max(log(p), -100)`, and -100 for `p <= 0`, with a finite gradient everywhere."""
    return _floored_log(ops.log, p, p > 0, harmless=1.0)


def clamped_log1m(p):
    """`max(log(1 - p), -100)`, and -100 for `p >= 1`, with a finite gradient everywhere."""
    return _floored_log(ops.log1p, -p, p < 1, harmless=0.0)


def _floored_log(log, x, defined, harmless):
    """`max(log(x), -100)` where `defined`, else -100, for `log` one of `ops.log`, `ops.log1p`.

    `maximum(log(0), -100)` has the right value but a NaN gradient (0 * inf): where the log is
    undefined, `x` is first replaced by a `harmless` value, and the result by the floor.
    """
    floor = ops.full_like(x, _LOG_FLOOR)
    x = ops.where(defined, x, ops.full_like(x, harmless))
    return ops.where(defined, ops.maximum(log(x), floor), floor)


def log_probabilities(y_pred, from_logits):
    """`log_softmax` over the last axis of logits, or of `max(log p, -100)` for probabilities."""
    if not from_logits:
        y_pred = clamped_log(y_pred)
    return ops.log_softmax(y_pred, axis=-1)


# --------------------------------------------------------------------------- arguments


def flag(name, value):
    return bool(one_of(name, value, (False, True)))


def smoothing(value):
    return float(in_range("label_smoothing", value, 0.0, 1.0, high_closed=True))


def weights(name, value, *, vector=False):
    """``None``, or a finite real array (any shape; 1-D with ``vector``) as nested lists."""
    if value is None:
        return None
    try:
        array = np.asarray(keras.ops.convert_to_numpy(value), dtype="float64")
    except (TypeError, ValueError):
        array = None
    if array is None or not np.isfinite(array).all():
        raise ValueError(
            f"Argument `{name}` must be an array of finite real numbers. Received: {name}={value!r}"
        )
    if vector and array.ndim != 1:
        raise ValueError(
            f"Argument `{name}` must be 1-D, one weight per class. Received: {name} of shape "
            f"{array.shape}"
        )
    return array.tolist()


def class_weights(weight, num_classes, dtype):
    """The per-class ``weight`` as a tensor, after checking it has one value per class."""
    if num_classes is not None and len(weight) != num_classes:
        raise ValueError(
            f"Argument `weight` must have one value per class: {num_classes} (the last axis of "
            f"`y_pred`). Received: {len(weight)} values"
        )
    return ops.convert_to_tensor(weight, dtype=dtype)


def index(name, value):
    """``None`` or an integer (an integral float is taken as the integer)."""
    if value is None:
        return None
    ok = not isinstance(value, (bool, str, bytes))
    try:
        ok = ok and math.isfinite(value) and int(value) == value
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            f"Argument `{name}` must be an integer or None. Received: {name}={value!r}"
        )
    return int(value)
