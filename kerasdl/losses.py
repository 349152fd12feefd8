"""The chapter's losses (3.1): regression and classification, valued as PyTorch values them.

Every loss is a pure function of ``(y_true, y_pred)`` that returns one value per sample (it averages
or sums over the last axis, as Keras's functions do), and a thin ``keras.losses.Loss`` subclass
over it. The subclass takes Keras's ``reduction``, ``name`` and ``dtype`` and accepts
``sample_weight`` when called; with the default reduction (``"sum_over_batch_size"``) each class
equals its PyTorch counterpart with ``reduction="mean"``:

| kerasdl | PyTorch |
| --- | --- |
| ``MeanSquaredError`` | ``nn.MSELoss`` |
| ``MeanAbsoluteError`` | ``nn.L1Loss`` |
| ``Huber(delta)`` | ``nn.HuberLoss(delta=delta)`` |
| ``SmoothL1(beta)`` | ``nn.SmoothL1Loss(beta=beta)`` |
| ``BinaryCrossentropy`` | ``nn.BCELoss`` / ``nn.BCEWithLogitsLoss`` (``from_logits``) |
| ``CategoricalCrossentropy`` | ``nn.CrossEntropyLoss`` with probability targets |
| ``SparseCategoricalCrossentropy`` | ``nn.CrossEntropyLoss`` with class-index targets |

Probabilities (``from_logits=False``) follow PyTorch's ``BCELoss``: every log is clamped at -100,
so probabilities of exactly 0 and 1 give a finite loss and a finite gradient. The categorical
losses on probabilities are ``CrossEntropyLoss`` applied to ``max(log p, -100)``; since
``log_softmax(log p) = log(p / sum(p))``, probabilities that do not sum to 1 are renormalised.
The class axis is the last one (PyTorch's is axis 1).
"""

import keras
from keras import ops

from kerasdl._checks import in_range, non_negative, one_of, positive

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Huber",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "SmoothL1",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "categorical_crossentropy",
    "huber",
    "mean_absolute_error",
    "mean_squared_error",
    "smooth_l1",
    "sparse_categorical_crossentropy",
]

# PyTorch's BCELoss clamps each log term at this value.
_LOG_FLOOR = -100.0


def _register(obj):
    return keras.saving.register_keras_serializable(package="kerasdl")(obj)


class _LossFunctionWrapper(keras.losses.Loss):
    """The plumbing every class shares: ``call`` is ``fn(y_true, y_pred, **fn_kwargs)``.

    ``get_config`` holds the hyperparameters and the dtype (Keras's own losses drop the dtype,
    so a float64 loss would come back float32 from a saved model).
    """

    def __init__(self, fn, reduction, name, dtype, **fn_kwargs):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._dtype_arg = None if dtype is None else self.dtype
        self._fn = fn
        self._fn_kwargs = fn_kwargs

    def call(self, y_true, y_pred):
        return self._fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"dtype": self._dtype_arg, **self._fn_kwargs})
        return config


@_register
class MeanSquaredError(_LossFunctionWrapper):
    """Mean of the squared errors; PyTorch's `nn.MSELoss`.

    Formula:

    ```python
    loss = mean(square(y_true - y_pred))
    ```

    Args:
        reduction: Keras's reduction: `"sum_over_batch_size"` (the default: the mean over the
            per-sample losses), `"mean"`, `"sum"`, `"mean_with_sample_weight"` or
            `None`/`"none"` (one value per sample).
        name: Defaults to `"mean_squared_error"`.
        dtype: The dtype of the computation. Defaults to `None`: `keras.backend.floatx()`.

    Examples:
        >>> kerasdl.losses.MeanSquaredError()([[1.0, 0.0, 1.0]], [[0.9, 0.1, 0.8]])
        0.02

    References:
        - [PyTorch `MSELoss`](https://pytorch.org/docs/stable/generated/torch.nn.MSELoss.html)
    """

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, reduction, name, dtype)


@_register
class MeanAbsoluteError(_LossFunctionWrapper):
    """Mean of the absolute errors; PyTorch's `nn.L1Loss`.

    Formula:

    ```python
    loss = mean(abs(y_true - y_pred))
    ```

    The gradient at a zero error is `sign(0) = 0`, as in PyTorch, on every backend.

    Args:
        reduction: Keras's reduction: `"sum_over_batch_size"` (the default: the mean over the
            per-sample losses), `"mean"`, `"sum"`, `"mean_with_sample_weight"` or
            `None`/`"none"` (one value per sample).
        name: Defaults to `"mean_absolute_error"`.
        dtype: The dtype of the computation. Defaults to `None`: `keras.backend.floatx()`.

    References:
        - [PyTorch `L1Loss`](https://pytorch.org/docs/stable/generated/torch.nn.L1Loss.html)
    """

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, reduction, name, dtype)


@_register
class Huber(_LossFunctionWrapper):
    """Huber loss, quadratic for small errors and linear for large ones; PyTorch's `nn.HuberLoss`.

    Formula:

    ```python
    x = abs(y_pred - y_true)
    loss = mean(where(x < delta, 0.5 * x**2, delta * (x - 0.5 * delta)))
    ```

    `Huber(delta)` equals `delta * SmoothL1(beta=delta)`.

    Args:
        delta: The error at which the loss turns from quadratic to linear; > 0.
            Defaults to `1.0`.
        reduction: Keras's reduction: `"sum_over_batch_size"` (the default: the mean over the
            per-sample losses), `"mean"`, `"sum"`, `"mean_with_sample_weight"` or
            `None`/`"none"` (one value per sample).
        name: Defaults to `"huber"`.
        dtype: The dtype of the computation. Defaults to `None`: `keras.backend.floatx()`.

    References:
        - [Huber, 1964. Robust Estimation of a Location Parameter](
          https://doi.org/10.1214/aoms/1177703732)
        - [PyTorch `HuberLoss`](https://pytorch.org/docs/stable/generated/torch.nn.HuberLoss.html)
    """

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber", dtype=None):
        super().__init__(huber, reduction, name, dtype, delta=float(positive("delta", delta)))


@_register
class SmoothL1(_LossFunctionWrapper):
    """Smooth L1 loss, the Huber loss divided by `beta`; PyTorch's `nn.SmoothL1Loss`.

    Formula:

    ```python
    x = abs(y_pred - y_true)
    loss = mean(where(x < beta, 0.5 * x**2 / beta, x - 0.5 * beta))  # mean(x) when beta == 0
    ```

    With `beta=0` it is the L1 loss, as in PyTorch. The chapter's `nn.SmoothL1Loss()` (`beta=1`)
    equals `Huber(delta=1)`.

    Args:
        beta: The error at which the loss turns from quadratic to linear; >= 0.
            Defaults to `1.0`.
        reduction: Keras's reduction: `"sum_over_batch_size"` (the default: the mean over the
            per-sample losses), `"mean"`, `"sum"`, `"mean_with_sample_weight"` or
            `None`/`"none"` (one value per sample).
        name: Defaults to `"smooth_l1"`.
        dtype: The dtype of the computation. Defaults to `None`: `keras.backend.floatx()`.

    References:
        - [Girshick, 2015. Fast R-CNN](https://arxiv.org/abs/1504.08083)
        - [PyTorch `SmoothL1Loss`](
          https://pytorch.org/docs/stable/generated/torch.nn.SmoothL1Loss.html)
    """

    def __init__(self, beta=1.0, reduction="sum_over_batch_size", name="smooth_l1", dtype=None):
        super().__init__(smooth_l1, reduction, name, dtype, beta=float(non_negative("beta", beta)))


@_register
class BinaryCrossentropy(_LossFunctionWrapper):
    """Binary cross-entropy; PyTorch's `nn.BCELoss`, or `nn.BCEWithLogitsLoss` on logits.

    Formula:

    ```python
    # probabilities p = y_pred, each log clamped at -100 as in BCELoss:
    loss = -mean(y * max(log(p), -100) + (1 - y) * max(log(1 - p), -100))
    # logits z = y_pred (from_logits=True), the same as the above with p = sigmoid(z):
    loss = mean(y * softplus(-z) + (1 - y) * softplus(z))
    ```

    Probabilities of exactly 0 and 1 give a finite loss (at most 100 per element) and a finite
    gradient; logits give a finite loss and the gradient `sigmoid(z) - y` for any finite `z`.

    Args:
        from_logits: Whether `y_pred` holds logits rather than probabilities.
            Defaults to `False`.
        reduction: Keras's reduction: `"sum_over_batch_size"` (the default: the mean over the
            per-sample losses), `"mean"`, `"sum"`, `"mean_with_sample_weight"` or
            `None`/`"none"` (one value per sample).
        name: Defaults to `"binary_crossentropy"`.
        dtype: The dtype of the computation. Defaults to `None`: `keras.backend.floatx()`.

    References:
        - [PyTorch `BCELoss`](https://pytorch.org/docs/stable/generated/torch.nn.BCELoss.html)
        - [PyTorch `BCEWithLogitsLoss`](
          https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html)
    """

    def __init__(
        self,
        from_logits=False,
        reduction="sum_over_batch_size",
        name="binary_crossentropy",
        dtype=None,
    ):
        super().__init__(
            binary_crossentropy,
            reduction,
            name,
            dtype,
            from_logits=_flag("from_logits", from_logits),
        )


@_register
class CategoricalCrossentropy(_LossFunctionWrapper):
    """Cross-entropy with one-hot or distribution targets; PyTorch's `nn.CrossEntropyLoss`.

    Formula, over the `C` classes of the last axis:

    ```python
    y = (1 - eps) * y_true + eps / C                    # label smoothing, PyTorch's
    z = y_pred if from_logits else max(log(y_pred), -100)
    loss = mean(-sum(y * log_softmax(z), axis=-1))
    ```

    On probabilities this is `CrossEntropyLoss(log p)`: since `log_softmax(log p)` is
    `log(p / sum(p))`, probabilities that do not sum to 1 are renormalised, and a probability of
    0 costs at most about 100 instead of infinity.

    Args:
        from_logits: Whether `y_pred` holds logits rather than probabilities.
            Defaults to `False`.
        label_smoothing: `eps` in [0, 1]. Defaults to `0.0`.
        reduction: Keras's reduction: `"sum_over_batch_size"` (the default: the mean over the
            per-sample losses), `"mean"`, `"sum"`, `"mean_with_sample_weight"` or
            `None`/`"none"` (one value per sample).
        name: Defaults to `"categorical_crossentropy"`.
        dtype: The dtype of the computation. Defaults to `None`: `keras.backend.floatx()`.

    References:
        - [PyTorch `CrossEntropyLoss`](
          https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html)
        - [Szegedy et al., 2016. Rethinking the Inception Architecture (label smoothing)](
          https://arxiv.org/abs/1512.00567)
    """

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        reduction="sum_over_batch_size",
        name="categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(
            categorical_crossentropy,
            reduction,
            name,
            dtype,
            from_logits=_flag("from_logits", from_logits),
            label_smoothing=_smoothing(label_smoothing),
        )


@_register
class SparseCategoricalCrossentropy(_LossFunctionWrapper):
    """Cross-entropy with class-index targets; PyTorch's `nn.CrossEntropyLoss`.

    `CategoricalCrossentropy` with `y_true` given as class indices (any integer dtype, shape
    `(N,)`, `(N, 1)` or `(N, ..., 1)`) instead of one-hot rows:

    ```python
    log_q = log_softmax(y_pred if from_logits else max(log(y_pred), -100))
    loss = mean((1 - eps) * -log_q[y_true] + eps / C * -sum(log_q, axis=-1))
    ```

    A label outside `[0, C)` gives a NaN loss for its sample (PyTorch raises an error; there is
    no `ignore_index`).

    Args:
        from_logits: Whether `y_pred` holds logits rather than probabilities.
            Defaults to `False`.
        label_smoothing: `eps` in [0, 1]. Defaults to `0.0`.
        reduction: Keras's reduction: `"sum_over_batch_size"` (the default: the mean over the
            per-sample losses), `"mean"`, `"sum"`, `"mean_with_sample_weight"` or
            `None`/`"none"` (one value per sample).
        name: Defaults to `"sparse_categorical_crossentropy"`.
        dtype: The dtype of the computation. Defaults to `None`: `keras.backend.floatx()`.

    References:
        - [PyTorch `CrossEntropyLoss`](
          https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html)
    """

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        reduction="sum_over_batch_size",
        name="sparse_categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(
            sparse_categorical_crossentropy,
            reduction,
            name,
            dtype,
            from_logits=_flag("from_logits", from_logits),
            label_smoothing=_smoothing(label_smoothing),
        )


@_register
def mean_squared_error(y_true, y_pred):
    """Per-sample mean squared error: `mean(square(y_pred - y_true), axis=-1)`.

    Args:
        y_true: Targets, shape `(N, ..., D)` (or `(N,)` against predictions of shape `(N, 1)`).
        y_pred: Predictions, the same shape.

    Returns:
        The loss of each sample, shape `(N, ...)`.

    References:
        - [PyTorch `MSELoss`](https://pytorch.org/docs/stable/generated/torch.nn.MSELoss.html)
    """
    y_true, y_pred = _matched(y_true, y_pred)
    return _mean_last_axis(ops.square(y_pred - y_true))


@_register
def mean_absolute_error(y_true, y_pred):
    """Per-sample mean absolute error: `mean(abs(y_pred - y_true), axis=-1)`.

    Args:
        y_true: Targets, shape `(N, ..., D)` (or `(N,)` against predictions of shape `(N, 1)`).
        y_pred: Predictions, the same shape.

    Returns:
        The loss of each sample, shape `(N, ...)`.

    References:
        - [PyTorch `L1Loss`](https://pytorch.org/docs/stable/generated/torch.nn.L1Loss.html)
    """
    y_true, y_pred = _matched(y_true, y_pred)
    return _mean_last_axis(_abs(y_pred - y_true))


@_register
def huber(y_true, y_pred, delta=1.0):
    """Per-sample Huber loss, averaged over the last axis.

    ```python
    x = abs(y_pred - y_true)
    loss = mean(where(x < delta, 0.5 * x**2, delta * (x - 0.5 * delta)), axis=-1)
    ```

    Args:
        y_true: Targets, shape `(N, ..., D)` (or `(N,)` against predictions of shape `(N, 1)`).
        y_pred: Predictions, the same shape.
        delta: A Python float > 0. Defaults to `1.0`.

    Returns:
        The loss of each sample, shape `(N, ...)`.

    References:
        - [PyTorch `HuberLoss`](https://pytorch.org/docs/stable/generated/torch.nn.HuberLoss.html)
    """
    delta = positive("delta", delta)
    y_true, y_pred = _matched(y_true, y_pred)
    error = _abs(y_pred - y_true)
    quadratic = 0.5 * ops.square(error)
    linear = delta * (error - 0.5 * delta)
    return _mean_last_axis(ops.where(error < delta, quadratic, linear))


@_register
def smooth_l1(y_true, y_pred, beta=1.0):
    """Per-sample smooth L1 loss, averaged over the last axis.

    ```python
    x = abs(y_pred - y_true)
    loss = mean(where(x < beta, 0.5 * x**2 / beta, x - 0.5 * beta), axis=-1)
    ```

    With `beta=0` it is `mean_absolute_error`, as in PyTorch.

    Args:
        y_true: Targets, shape `(N, ..., D)` (or `(N,)` against predictions of shape `(N, 1)`).
        y_pred: Predictions, the same shape.
        beta: A Python float >= 0. Defaults to `1.0`.

    Returns:
        The loss of each sample, shape `(N, ...)`.

    References:
        - [PyTorch `SmoothL1Loss`](
          https://pytorch.org/docs/stable/generated/torch.nn.SmoothL1Loss.html)
    """
    beta = non_negative("beta", beta)
    if beta == 0:
        # PyTorch's own special case; it also keeps x²/0 out of the graph.
        return mean_absolute_error(y_true, y_pred)
    y_true, y_pred = _matched(y_true, y_pred)
    error = _abs(y_pred - y_true)
    quadratic = 0.5 * ops.square(error) / beta
    linear = error - 0.5 * beta
    return _mean_last_axis(ops.where(error < beta, quadratic, linear))


@_register
def binary_crossentropy(y_true, y_pred, from_logits=False):
    """Per-sample binary cross-entropy, averaged over the last axis.

    ```python
    # probabilities p = y_pred (BCELoss):
    loss = -mean(y * max(log(p), -100) + (1 - y) * max(log(1 - p), -100), axis=-1)
    # logits z = y_pred (BCEWithLogitsLoss):
    loss = mean(y * softplus(-z) + (1 - y) * softplus(z), axis=-1)
    ```

    Args:
        y_true: Targets in [0, 1], shape `(N, ..., D)` (or `(N,)` against `(N, 1)`).
        y_pred: Probabilities in [0, 1], or logits when `from_logits`; the same shape.
        from_logits: Whether `y_pred` holds logits. Defaults to `False`.

    Returns:
        The loss of each sample, shape `(N, ...)`.

    References:
        - [PyTorch `BCELoss`](https://pytorch.org/docs/stable/generated/torch.nn.BCELoss.html)
    """
    y_true, y_pred = _matched(y_true, y_pred)
    if from_logits:
        # -log(sigmoid(x)) = softplus(-x) and -log(1 - sigmoid(x)) = softplus(x): both terms are
        # non-negative, so nothing cancels, and the gradient is sigmoid(x) - y everywhere.
        losses = y_true * ops.softplus(-y_pred) + (1.0 - y_true) * ops.softplus(y_pred)
    else:
        losses = -(y_true * _clamped_log(y_pred) + (1.0 - y_true) * _clamped_log1m(y_pred))
    return _mean_last_axis(losses)


@_register
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """Per-sample categorical cross-entropy over the last axis, as PyTorch's CrossEntropyLoss.

    ```python
    y = (1 - eps) * y_true + eps / C
    z = y_pred if from_logits else max(log(y_pred), -100)  # probabilities are renormalised
    loss = -sum(y * log_softmax(z), axis=-1)
    ```

    Args:
        y_true: One-hot or probability targets, shape `(N, ..., C)`.
        y_pred: Probabilities, or logits when `from_logits`; the same shape.
        from_logits: Whether `y_pred` holds logits. Defaults to `False`.
        label_smoothing: `eps`, a Python float in [0, 1]. Defaults to `0.0`.

    Returns:
        The loss of each sample, shape `(N, ...)`.

    References:
        - [PyTorch `CrossEntropyLoss`](
          https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html)
    """
    label_smoothing = _smoothing(label_smoothing)
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    log_probs = _log_probabilities(y_pred, from_logits)
    if label_smoothing:
        y_true = (1.0 - label_smoothing) * y_true + label_smoothing / y_pred.shape[-1]
    return -ops.sum(y_true * log_probs, axis=-1)


@_register
def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """Per-sample cross-entropy against class indices, as PyTorch's CrossEntropyLoss.

    ```python
    loss = categorical_crossentropy(one_hot(y_true, C), y_pred, from_logits, label_smoothing)
    ```

    A label outside `[0, C)` gives NaN.

    Args:
        y_true: Class indices (any integer or float dtype holding integers), shape `(N, ...)`
            or `(N, ..., 1)`.
        y_pred: Probabilities, or logits when `from_logits`, shape `(N, ..., C)`.
        from_logits: Whether `y_pred` holds logits. Defaults to `False`.
        label_smoothing: `eps`, a Python float in [0, 1]. Defaults to `0.0`.

    Returns:
        The loss of each sample, shape `(N, ...)`.

    References:
        - [PyTorch `CrossEntropyLoss`](
          https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html)
    """
    label_smoothing = _smoothing(label_smoothing)
    y_pred = ops.convert_to_tensor(y_pred)
    labels = ops.convert_to_tensor(y_true)
    if len(labels.shape) == len(y_pred.shape) and labels.shape[-1] == 1:
        labels = ops.squeeze(labels, axis=-1)
    labels = ops.cast(labels, "int32")
    num_classes = y_pred.shape[-1]
    valid = ops.logical_and(labels >= 0, labels < num_classes)
    if from_logits and not label_smoothing:
        # The backend's own op: one fused kernel on TensorFlow (the chapter's preset loss),
        # where a label out of range is an error, so those are replaced before and after.
        safe_labels = ops.where(valid, labels, ops.zeros_like(labels))
        losses = ops.sparse_categorical_crossentropy(safe_labels, y_pred, from_logits=True)
    else:
        target = ops.one_hot(labels, num_classes, dtype=y_pred.dtype)
        if label_smoothing:
            target = (1.0 - label_smoothing) * target + label_smoothing / num_classes
        losses = -ops.sum(target * _log_probabilities(y_pred, from_logits), axis=-1)
    return ops.where(valid, losses, ops.full_like(losses, float("nan")))


def _matched(y_true, y_pred):
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


def _mean_last_axis(x):
    """`mean(x, axis=-1)` as a sum and a division.

    Keras's JAX backend computes `ops.mean` of float64 in float32 (its type promotion maps 64-bit
    types to 32-bit), which would cost the float64 losses half their digits.
    """
    size = x.shape[-1]
    if size is None:  # unknown until run time (a symbolic TensorFlow shape)
        size = ops.cast(ops.shape(x)[-1], x.dtype)
    return ops.sum(x, axis=-1) / size


def _abs(x):
    """`|x|` whose gradient at 0 is 0 (`sign(0)`) on every backend, as in PyTorch.

    `ops.abs` has that gradient on TensorFlow, but 1 on JAX.
    """
    return ops.sign(x) * x


def _clamped_log(p):
    """`max(log(p), -100)`, and -100 for `p <= 0`, with a finite gradient everywhere."""
    return _floored_log(ops.log, p, p > 0, harmless=1.0)


def _clamped_log1m(p):
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


def _log_probabilities(y_pred, from_logits):
    """`log_softmax` over the last axis of logits, or of `max(log p, -100)` for probabilities."""
    if not from_logits:
        y_pred = _clamped_log(y_pred)
    return ops.log_softmax(y_pred, axis=-1)


def _flag(name, value):
    return bool(one_of(name, value, (False, True)))


def _smoothing(value):
    return float(in_range("label_smoothing", value, 0.0, 1.0, high_closed=True))
