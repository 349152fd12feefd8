"""The chapter's regression losses (3.1): MSE, MAE, Huber and smooth L1, as PyTorch values them."""

from keras import ops

from kerasdl._checks import non_negative, positive
from kerasdl.losses._base import (
    DEFAULT,
    _LossFunctionWrapper,
    abs_,
    first,
    matched,
    mean_last_axis,
    register,
)

__all__ = [
    "Huber",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "SmoothL1",
    "huber",
    "mean_absolute_error",
    "mean_squared_error",
    "smooth_l1",
]


@register
class MeanSquaredError(_LossFunctionWrapper):
    """Mean of the squared errors; PyTorch's `nn.MSELoss`.

    Formula:

    ```python
    loss = mean(square(y_true - y_pred))
    ```

    Args:
        reduction: Keras's `"sum_over_batch_size"` (the default: the mean of the per-sample
            losses), `"mean_with_sample_weight"` or `None` (one value per sample), which reduce
            the per-sample losses as Keras does; or PyTorch's `"mean"` (over every element),
            `"sum"` (of every element) or `"none"` (one value per element).
        name: Defaults to `"mean_squared_error"`.
        dtype: The dtype of the computation. Defaults to `None`: `keras.backend.floatx()`.

    Examples:
        >>> kerasdl.losses.MeanSquaredError()([[1.0, 0.0, 1.0]], [[0.9, 0.1, 0.8]])
        0.02
        >>> kerasdl.losses.MeanSquaredError(reduction="sum")([[1.0, 0.0, 1.0]], [[0.9, 0.1, 0.8]])
        0.06

    References:
        - [PyTorch `MSELoss`](https://pytorch.org/docs/stable/generated/torch.nn.MSELoss.html)
    """

    def __init__(self, reduction=DEFAULT, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, _squared_errors, reduction, name, dtype)


@register
class MeanAbsoluteError(_LossFunctionWrapper):
    """Mean of the absolute errors; PyTorch's `nn.L1Loss`.

    Formula:

    ```python
    loss = mean(abs(y_true - y_pred))
    ```

    The gradient at a zero error is `sign(0) = 0`, as in PyTorch, on every backend.

    Args:
        reduction: Keras's `"sum_over_batch_size"` (the default: the mean of the per-sample
            losses), `"mean_with_sample_weight"` or `None` (one value per sample), which reduce
            the per-sample losses as Keras does; or PyTorch's `"mean"` (over every element),
            `"sum"` (of every element) or `"none"` (one value per element).
        name: Defaults to `"mean_absolute_error"`.
        dtype: The dtype of the computation. Defaults to `None`: `keras.backend.floatx()`.

    References:
        - [PyTorch `L1Loss`](https://pytorch.org/docs/stable/generated/torch.nn.L1Loss.html)
    """

    def __init__(self, reduction=DEFAULT, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, _absolute_errors, reduction, name, dtype)


@register
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
        reduction: Keras's `"sum_over_batch_size"` (the default: the mean of the per-sample
            losses), `"mean_with_sample_weight"` or `None` (one value per sample), which reduce
            the per-sample losses as Keras does; or PyTorch's `"mean"` (over every element),
            `"sum"` (of every element) or `"none"` (one value per element).
        name: Defaults to `"huber"`.
        dtype: The dtype of the computation. Defaults to `None`: `keras.backend.floatx()`.

    References:
        - [Huber, 1964. Robust Estimation of a Location Parameter](
          https://doi.org/10.1214/aoms/1177703732)
        - [PyTorch `HuberLoss`](https://pytorch.org/docs/stable/generated/torch.nn.HuberLoss.html)
    """

    def __init__(self, delta=1.0, reduction=DEFAULT, name="huber", dtype=None):
        delta = float(positive("delta", delta))
        super().__init__(huber, _huber_elements, reduction, name, dtype, delta=delta)


@register
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
        reduction: Keras's `"sum_over_batch_size"` (the default: the mean of the per-sample
            losses), `"mean_with_sample_weight"` or `None` (one value per sample), which reduce
            the per-sample losses as Keras does; or PyTorch's `"mean"` (over every element),
            `"sum"` (of every element) or `"none"` (one value per element).
        name: Defaults to `"smooth_l1"`.
        dtype: The dtype of the computation. Defaults to `None`: `keras.backend.floatx()`.

    References:
        - [Girshick, 2015. Fast R-CNN](https://arxiv.org/abs/1504.08083)
        - [PyTorch `SmoothL1Loss`](
          https://pytorch.org/docs/stable/generated/torch.nn.SmoothL1Loss.html)
    """

    def __init__(self, beta=1.0, reduction=DEFAULT, name="smooth_l1", dtype=None):
        beta = float(non_negative("beta", beta))
        super().__init__(smooth_l1, _smooth_l1_elements, reduction, name, dtype, beta=beta)


@register
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
    return mean_last_axis(first(_squared_errors(y_true, y_pred)))


@register
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
    return mean_last_axis(first(_absolute_errors(y_true, y_pred)))


@register
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
    return mean_last_axis(first(_huber_elements(y_true, y_pred, delta)))


@register
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
    return mean_last_axis(first(_smooth_l1_elements(y_true, y_pred, beta)))


# Each returns ``(loss of every element, None)``: every element counts 1 in PyTorch's mean.


def _squared_errors(y_true, y_pred):
    y_true, y_pred = matched(y_true, y_pred)
    return ops.square(y_pred - y_true), None


def _absolute_errors(y_true, y_pred):
    y_true, y_pred = matched(y_true, y_pred)
    return abs_(y_pred - y_true), None


def _huber_elements(y_true, y_pred, delta=1.0):
    delta = positive("delta", delta)
    y_true, y_pred = matched(y_true, y_pred)
    error = abs_(y_pred - y_true)
    quadratic = 0.5 * ops.square(error)
    linear = delta * (error - 0.5 * delta)
    return ops.where(error < delta, quadratic, linear), None


def _smooth_l1_elements(y_true, y_pred, beta=1.0):
    beta = non_negative("beta", beta)
    if beta == 0:
        # PyTorch's own special case; it also keeps x²/0 out of the graph.
        return _absolute_errors(y_true, y_pred)
    y_true, y_pred = matched(y_true, y_pred)
    error = abs_(y_pred - y_true)
    quadratic = 0.5 * ops.square(error) / beta
    linear = error - 0.5 * beta
    return ops.where(error < beta, quadratic, linear), None
