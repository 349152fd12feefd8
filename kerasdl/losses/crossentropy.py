"""Cross-entropy losses (3.1) and PyTorch's `NLLLoss` and `KLDivLoss`, as PyTorch values them."""

from keras import ops

from kerasdl.losses._base import (
    DEFAULT,
    _LossFunctionWrapper,
    clamped_log,
    clamped_log1m,
    class_weights,
    first,
    flag,
    index,
    log_probabilities,
    matched,
    mean_last_axis,
    register,
    smoothing,
    weights,
)

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "KLDivLoss",
    "NLLLoss",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "categorical_crossentropy",
    "kl_div",
    "nll_loss",
    "sparse_categorical_crossentropy",
]


@register
class BinaryCrossentropy(_LossFunctionWrapper):
    """Binary cross-entropy; PyTorch's `nn.BCELoss`, or `nn.BCEWithLogitsLoss` on logits.

    Formula, with `w` = `weight` and `c` = `pos_weight` (1 when not given):

    ```python
    # probabilities p = y_pred, each log clamped at -100 as in BCELoss:
    loss = -mean(w * (y * max(log(p), -100) + (1 - y) * max(log(1 - p), -100)))
    # logits z = y_pred (from_logits=True), the same as the above with p = sigmoid(z):
    loss = mean(w * (c * y * softplus(-z) + (1 - y) * softplus(z)))
    ```

    Probabilities of exactly 0 and 1 give a finite loss (at most 100 per element) and a finite
    gradient; logits give a finite loss and a finite gradient (`sigmoid(z) - y` without weights)
    for any finite `z`.

    Args:
        from_logits: Whether `y_pred` holds logits rather than probabilities.
            Defaults to `False`.
        weight: PyTorch's `weight`: a rescaling of each element's loss, an array that broadcasts
            against `y_pred` (one value per column: shape `(D,)`). Defaults to `None`.
        pos_weight: PyTorch's `pos_weight` (`BCEWithLogitsLoss`, so `from_logits=True` only):
            the weight of the positive term, an array that broadcasts against `y_pred` (one value
            per column: shape `(D,)`). Defaults to `None`.
        reduction: Keras's `"sum_over_batch_size"` (the default: the mean of the per-sample
            losses), `"mean_with_sample_weight"` or `None` (one value per sample), which reduce
            the per-sample losses as Keras does; or PyTorch's `"mean"` (over every element),
            `"sum"` (of every element) or `"none"` (one value per element).
        name: Defaults to `"binary_crossentropy"`.
        dtype: The dtype of the computation. Defaults to `None`: `keras.backend.floatx()`.

    Examples:
        >>> loss = kerasdl.losses.BinaryCrossentropy(from_logits=True, pos_weight=[3.0, 1.0])
        >>> round(float(loss([[1.0, 0.0]], [[0.0, 0.0]])), 6)  # (3 + 1) * log(2) / 2
        1.386294

    References:
        - [PyTorch `BCELoss`](https://pytorch.org/docs/stable/generated/torch.nn.BCELoss.html)
        - [PyTorch `BCEWithLogitsLoss`](
          https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html)
    """

    def __init__(
        self,
        from_logits=False,
        weight=None,
        pos_weight=None,
        reduction=DEFAULT,
        name="binary_crossentropy",
        dtype=None,
    ):
        from_logits = flag("from_logits", from_logits)
        pos_weight = _pos_weight(pos_weight, from_logits)
        super().__init__(
            binary_crossentropy,
            _bce_elements,
            reduction,
            name,
            dtype,
            from_logits=from_logits,
            weight=weights("weight", weight),
            pos_weight=pos_weight,
        )


@register
class CategoricalCrossentropy(_LossFunctionWrapper):
    """Cross-entropy with one-hot or distribution targets; PyTorch's `nn.CrossEntropyLoss`.

    Formula, over the `C` classes of the last axis, with `w` = `weight` (1 when not given):

    ```python
    y = (1 - eps) * y_true + eps / C                    # label smoothing, PyTorch's
    z = y_pred if from_logits else max(log(y_pred), -100)
    loss = mean(-sum(w * y * log_softmax(z), axis=-1))
    ```

    On probabilities this is `CrossEntropyLoss(log p)`: since `log_softmax(log p)` is
    `log(p / sum(p))`, probabilities that do not sum to 1 are renormalised, and a probability of
    0 costs at most about 100 instead of infinity. With probability targets PyTorch's `"mean"`
    divides by the number of samples even with a `weight`, and so does kerasdl (PyTorch has no
    `ignore_index` for these targets: see `SparseCategoricalCrossentropy`).

    Args:
        from_logits: Whether `y_pred` holds logits rather than probabilities.
            Defaults to `False`.
        label_smoothing: `eps` in [0, 1]. Defaults to `0.0`.
        weight: PyTorch's `weight`: one weight per class, shape `(C,)`. Defaults to `None`.
        reduction: Keras's `"sum_over_batch_size"` (the default: the mean of the per-sample
            losses), `"mean_with_sample_weight"` or `None` (one value per sample), which reduce
            the per-sample losses as Keras does; or PyTorch's `"mean"`, `"sum"` or `"none"`
            (one value per sample here too).
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
        weight=None,
        reduction=DEFAULT,
        name="categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(
            categorical_crossentropy,
            _cce_elements,
            reduction,
            name,
            dtype,
            from_logits=flag("from_logits", from_logits),
            label_smoothing=smoothing(label_smoothing),
            weight=weights("weight", weight, vector=True),
        )


@register
class SparseCategoricalCrossentropy(_LossFunctionWrapper):
    """Cross-entropy with class-index targets; PyTorch's `nn.CrossEntropyLoss`.

    `CategoricalCrossentropy` with `y_true` given as class indices (any integer dtype, shape
    `(N,)`, `(N, 1)` or `(N, ..., 1)`) instead of one-hot rows; with `w` = `weight` (1 when not
    given), PyTorch's formula for each sample:

    ```python
    log_q = log_softmax(y_pred if from_logits else max(log(y_pred), -100))
    loss = (1 - eps) * w[y] * -log_q[y] + eps / C * -sum(w * log_q, axis=-1)
    # 0 where y == ignore_index; PyTorch's "mean" is sum(loss) / sum(w[y] for y not ignored)
    ```

    PyTorch's `"mean"` divides by the summed weights of the targets that are not ignored (NaN
    when every target is ignored, as in PyTorch); Keras's `"sum_over_batch_size"` divides by the
    number of samples, ignored ones included. A label outside `[0, C)` that is not `ignore_index`
    gives a NaN loss for its sample (PyTorch raises an error).

    Args:
        from_logits: Whether `y_pred` holds logits rather than probabilities.
            Defaults to `False`.
        label_smoothing: `eps` in [0, 1]. Defaults to `0.0`.
        weight: PyTorch's `weight`: one weight per class, shape `(C,)`. Defaults to `None`.
        ignore_index: A label whose samples add nothing to the loss, nor to PyTorch's `"mean"`
            denominator (PyTorch's `ignore_index`, whose default is -100). Defaults to `None`:
            none is ignored.
        reduction: Keras's `"sum_over_batch_size"` (the default: the mean of the per-sample
            losses), `"mean_with_sample_weight"` or `None` (one value per sample), which reduce
            the per-sample losses as Keras does; or PyTorch's `"mean"`, `"sum"` or `"none"`
            (one value per sample here too).
        name: Defaults to `"sparse_categorical_crossentropy"`.
        dtype: The dtype of the computation. Defaults to `None`: `keras.backend.floatx()`.

    Examples:
        >>> loss = kerasdl.losses.SparseCategoricalCrossentropy(
        ...     from_logits=True, weight=[1.0, 3.0], ignore_index=-100, reduction="mean"
        ... )
        >>> round(float(loss([1, -100], [[0.0, 0.0], [5.0, 0.0]])), 6)  # log(2): 3 log 2 / 3
        0.693147

    References:
        - [PyTorch `CrossEntropyLoss`](
          https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html)
    """

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        weight=None,
        ignore_index=None,
        reduction=DEFAULT,
        name="sparse_categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(
            sparse_categorical_crossentropy,
            _scce_elements,
            reduction,
            name,
            dtype,
            from_logits=flag("from_logits", from_logits),
            label_smoothing=smoothing(label_smoothing),
            weight=weights("weight", weight, vector=True),
            ignore_index=index("ignore_index", ignore_index),
        )


@register
class NLLLoss(_LossFunctionWrapper):
    """Negative log-likelihood of class indices given log-probabilities; PyTorch's `nn.NLLLoss`.

    `y_pred` holds log-probabilities (a `log_softmax` output), classes on the last axis; with
    `w` = `weight` (1 when not given):

    ```python
    loss = w[y] * -y_pred[y]          # 0 where y == ignore_index
    # "mean": sum(loss) / sum(w[y] for y not ignored)
    ```

    Args:
        weight: One weight per class, shape `(C,)`. Defaults to `None`.
        ignore_index: A label whose samples add nothing to the loss nor to the `"mean"`
            denominator; `None` for none. Defaults to `-100`, PyTorch's.
        reduction: PyTorch's `"mean"` (the default; NaN when every target is ignored, as in
            PyTorch), `"sum"` or `"none"` (one value per sample); or Keras's
            `"sum_over_batch_size"`, `"mean_with_sample_weight"` or `None`, which reduce the
            per-sample losses as Keras does.
        name: Defaults to `"nll_loss"`.
        dtype: The dtype of the computation. Defaults to `None`: `keras.backend.floatx()`.

    Examples:
        >>> loss = kerasdl.losses.NLLLoss()
        >>> round(float(loss([0, 1, -100], [[-0.5, -1.0], [-2.0, -0.1], [-9.0, -9.0]])), 6)
        0.3

    References:
        - [PyTorch `NLLLoss`](https://pytorch.org/docs/stable/generated/torch.nn.NLLLoss.html)
    """

    def __init__(
        self, weight=None, ignore_index=-100, reduction="mean", name="nll_loss", dtype=None
    ):
        super().__init__(
            nll_loss,
            _nll_elements,
            reduction,
            name,
            dtype,
            weight=weights("weight", weight, vector=True),
            ignore_index=index("ignore_index", ignore_index),
        )


@register
class KLDivLoss(_LossFunctionWrapper):
    """Kullback-Leibler divergence of `y_pred` from `y_true`; PyTorch's `nn.KLDivLoss`.

    `y_pred` holds log-probabilities, `y_true` probabilities (log-probabilities with
    `log_target=True`), as in PyTorch:

    ```python
    loss = xlogy(y_true, y_true) - y_true * y_pred           # log_target=False; 0 where y_true == 0
    loss = exp(y_true) * (y_true - y_pred)                   # log_target=True
    ```

    PyTorch's `"mean"` is over every element (not the mathematical KL divergence, which
    `"batchmean"`, the sum divided by the batch size, gives).

    Args:
        log_target: Whether `y_true` holds log-probabilities. Defaults to `False`.
        reduction: PyTorch's `"mean"` (the default: over every element), `"batchmean"` (the sum
            over the first axis's size), `"sum"` or `"none"` (one value per element); or Keras's
            `"sum_over_batch_size"` (equal to `"batchmean"` for inputs of shape `(N, C)`),
            `"mean_with_sample_weight"` or `None`, which reduce the per-sample losses (each the
            sum over the last axis) as Keras does.
        name: Defaults to `"kl_div_loss"`.
        dtype: The dtype of the computation. Defaults to `None`: `keras.backend.floatx()`.

    Examples:
        >>> loss = kerasdl.losses.KLDivLoss(reduction="batchmean")
        >>> round(float(loss([[0.5, 0.5]], keras.ops.log([[0.25, 0.75]]))), 6)
        0.143841

    References:
        - [PyTorch `KLDivLoss`](https://pytorch.org/docs/stable/generated/torch.nn.KLDivLoss.html)
        - [Kullback and Leibler, 1951. On Information and Sufficiency](
          https://doi.org/10.1214/aoms/1177729694)
    """

    torch_reductions = ("mean", "batchmean", "sum", "none")

    def __init__(self, log_target=False, reduction="mean", name="kl_div_loss", dtype=None):
        super().__init__(
            kl_div, _kl_elements, reduction, name, dtype, log_target=flag("log_target", log_target)
        )


# --------------------------------------------------------------------------- functions


@register
def binary_crossentropy(y_true, y_pred, from_logits=False, weight=None, pos_weight=None):
    """Per-sample binary cross-entropy, averaged over the last axis.

    ```python
    # probabilities p = y_pred (BCELoss):
    loss = -mean(w * (y * max(log(p), -100) + (1 - y) * max(log(1 - p), -100)), axis=-1)
    # logits z = y_pred (BCEWithLogitsLoss):
    loss = mean(w * (c * y * softplus(-z) + (1 - y) * softplus(z)), axis=-1)
    ```

    Args:
        y_true: Targets in [0, 1], shape `(N, ..., D)` (or `(N,)` against `(N, 1)`).
        y_pred: Probabilities in [0, 1], or logits when `from_logits`; the same shape.
        from_logits: Whether `y_pred` holds logits. Defaults to `False`.
        weight: `w`, a rescaling that broadcasts against `y_pred`. Defaults to `None`.
        pos_weight: `c`, the positive term's weight (logits only). Defaults to `None`.

    Returns:
        The loss of each sample, shape `(N, ...)`.

    References:
        - [PyTorch `BCELoss`](https://pytorch.org/docs/stable/generated/torch.nn.BCELoss.html)
    """
    return mean_last_axis(first(_bce_elements(y_true, y_pred, from_logits, weight, pos_weight)))


@register
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, weight=None):
    """Per-sample categorical cross-entropy over the last axis, as PyTorch's CrossEntropyLoss.

    ```python
    y = (1 - eps) * y_true + eps / C
    z = y_pred if from_logits else max(log(y_pred), -100)  # probabilities are renormalised
    loss = -sum(w * y * log_softmax(z), axis=-1)
    ```

    Args:
        y_true: One-hot or probability targets, shape `(N, ..., C)`.
        y_pred: Probabilities, or logits when `from_logits`; the same shape.
        from_logits: Whether `y_pred` holds logits. Defaults to `False`.
        label_smoothing: `eps`, a Python float in [0, 1]. Defaults to `0.0`.
        weight: `w`, one weight per class. Defaults to `None`.

    Returns:
        The loss of each sample, shape `(N, ...)`.

    References:
        - [PyTorch `CrossEntropyLoss`](
          https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html)
    """
    return first(_cce_elements(y_true, y_pred, from_logits, label_smoothing, weight))


@register
def sparse_categorical_crossentropy(
    y_true, y_pred, from_logits=False, label_smoothing=0.0, weight=None, ignore_index=None
):
    """Per-sample cross-entropy against class indices, as PyTorch's CrossEntropyLoss.

    ```python
    loss = (1 - eps) * w[y] * -log_q[y] + eps / C * -sum(w * log_q, axis=-1)
    ```

    A label equal to `ignore_index` gives 0; any other label outside `[0, C)` gives NaN.

    Args:
        y_true: Class indices (any integer or float dtype holding integers), shape `(N, ...)`
            or `(N, ..., 1)`.
        y_pred: Probabilities, or logits when `from_logits`, shape `(N, ..., C)`.
        from_logits: Whether `y_pred` holds logits. Defaults to `False`.
        label_smoothing: `eps`, a Python float in [0, 1]. Defaults to `0.0`.
        weight: `w`, one weight per class. Defaults to `None`.
        ignore_index: A label to ignore, or `None`. Defaults to `None`.

    Returns:
        The loss of each sample, shape `(N, ...)`.

    References:
        - [PyTorch `CrossEntropyLoss`](
          https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html)
    """
    elements = _scce_elements(y_true, y_pred, from_logits, label_smoothing, weight, ignore_index)
    return first(elements)


@register
def nll_loss(y_true, y_pred, weight=None, ignore_index=-100):
    """Per-sample negative log-likelihood, as PyTorch's NLLLoss: `w[y] * -y_pred[y]`.

    Args:
        y_true: Class indices, shape `(N, ...)` or `(N, ..., 1)`.
        y_pred: Log-probabilities, shape `(N, ..., C)`.
        weight: `w`, one weight per class. Defaults to `None`.
        ignore_index: A label that gives 0, or `None`. Defaults to `-100`.

    Returns:
        The loss of each sample, shape `(N, ...)`.

    References:
        - [PyTorch `NLLLoss`](https://pytorch.org/docs/stable/generated/torch.nn.NLLLoss.html)
    """
    return first(_nll_elements(y_true, y_pred, weight, ignore_index))


@register
def kl_div(y_true, y_pred, log_target=False):
    """Per-sample KL divergence, PyTorch's `kl_div` terms summed over the last axis.

    Args:
        y_true: Probabilities (log-probabilities with `log_target`), shape `(N, ..., C)`.
        y_pred: Log-probabilities, the same shape.
        log_target: Whether `y_true` holds log-probabilities. Defaults to `False`.

    Returns:
        The loss of each sample, shape `(N, ...)`.

    References:
        - [PyTorch `kl_div`](
          https://pytorch.org/docs/stable/generated/torch.nn.functional.kl_div.html)
    """
    return ops.sum(first(_kl_elements(y_true, y_pred, log_target)), axis=-1)


# --------------------------------------------------------------------------- element losses
# Each returns ``(loss of every element, its count in PyTorch's "mean")``; None counts 1 each.


def _bce_elements(y_true, y_pred, from_logits=False, weight=None, pos_weight=None):
    y_true, y_pred = matched(y_true, y_pred)
    if from_logits:
        # -log(sigmoid(x)) = softplus(-x) and -log(1 - sigmoid(x)) = softplus(x): both terms are
        # non-negative, so nothing cancels (PyTorch's stable form, (1 - y) x + (1 + (c - 1) y)
        # softplus(-x), is the same quantity).
        positive = ops.softplus(-y_pred)
        if pos_weight is not None:
            positive = ops.convert_to_tensor(_pos_weight(pos_weight, True), y_pred.dtype) * positive
        losses = y_true * positive + (1.0 - y_true) * ops.softplus(y_pred)
    else:
        if pos_weight is not None:
            _pos_weight(pos_weight, from_logits)
        losses = -(y_true * clamped_log(y_pred) + (1.0 - y_true) * clamped_log1m(y_pred))
    if weight is not None:
        losses = ops.convert_to_tensor(weights("weight", weight), y_pred.dtype) * losses
    return losses, None


def _cce_elements(y_true, y_pred, from_logits=False, label_smoothing=0.0, weight=None):
    label_smoothing = smoothing(label_smoothing)
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    log_probs = log_probabilities(y_pred, from_logits)
    num_classes = y_pred.shape[-1]
    if label_smoothing:
        y_true = (1.0 - label_smoothing) * y_true + label_smoothing / num_classes
    if weight is not None:
        y_true = class_weights(weights("weight", weight), num_classes, y_pred.dtype) * y_true
    return -ops.sum(y_true * log_probs, axis=-1), None


def _scce_elements(
    y_true, y_pred, from_logits=False, label_smoothing=0.0, weight=None, ignore_index=None
):
    label_smoothing = smoothing(label_smoothing)
    y_pred = ops.convert_to_tensor(y_pred)
    labels, in_range, safe = _labels(y_true, y_pred)
    if from_logits and not label_smoothing:
        # The backend's own op: one fused kernel on TensorFlow (the chapter's preset loss),
        # where a label out of range is an error, so those are replaced before and after.
        log_probs = None
        nll = ops.sparse_categorical_crossentropy(safe, y_pred, from_logits=True)
        nll = ops.cast(nll, y_pred.dtype)  # JAX's op gives float64 for float32 under x64
    else:
        log_probs = log_probabilities(y_pred, from_logits)
        nll = _picked(log_probs, safe)
    classes = (labels, in_range, safe, y_pred.shape[-1])
    return _index_loss(nll, log_probs, classes, label_smoothing, weight, ignore_index)


def _nll_elements(y_true, y_pred, weight=None, ignore_index=-100):
    y_pred = ops.convert_to_tensor(y_pred)
    labels, in_range, safe = _labels(y_true, y_pred)
    classes = (labels, in_range, safe, y_pred.shape[-1])
    return _index_loss(_picked(y_pred, safe), y_pred, classes, 0.0, weight, ignore_index)


def _kl_elements(y_true, y_pred, log_target=False):
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    if log_target:
        return ops.exp(y_true) * (y_true - y_pred), None
    # xlogy(t, t): 0 at t = 0, NaN for t < 0 (log of a negative number), as in PyTorch.
    is_zero = y_true == 0
    t_log_t = y_true * ops.log(ops.where(is_zero, ops.ones_like(y_true), y_true))
    return ops.where(is_zero, ops.zeros_like(y_true), t_log_t) - y_true * y_pred, None


def _labels(y_true, y_pred):
    """Integer labels (a trailing axis of 1 dropped), where they are in range, and safe labels.

    A safe label is the label, or 0 where it is out of range, so that no op sees an index it
    cannot take (TensorFlow's fused op raises on one).
    """
    labels = ops.convert_to_tensor(y_true)
    if len(labels.shape) == len(y_pred.shape) and labels.shape[-1] == 1:
        labels = ops.squeeze(labels, axis=-1)
    labels = ops.cast(labels, "int32")
    in_range = ops.logical_and(labels >= 0, labels < y_pred.shape[-1])
    return labels, in_range, ops.where(in_range, labels, ops.zeros_like(labels))


def _picked(log_probs, labels):
    """``-log_probs[..., label]`` for each sample."""
    picked = ops.take_along_axis(log_probs, ops.expand_dims(labels, -1), axis=-1)
    return -ops.squeeze(picked, axis=-1)


def _index_loss(nll, log_probs, classes, eps, weight, ignore_index):
    """PyTorch's loss and ``"mean"`` count of each sample, from its ``nll = -log_q[y]``.

    ``(1 - eps) * w[y] * nll + eps / C * -sum(w * log_q)``; an ignored sample's loss and count
    are 0 (PyTorch's `cross_entropy` with `label_smoothing` and `weight` divides both terms by
    the same summed target weights), any other label out of range gives NaN. ``classes`` is
    ``(labels, in_range, safe, C)`` from `_labels`.
    """
    labels, in_range, safe, num_classes = classes
    dtype = nll.dtype
    if weight is None:
        target_weight = ops.ones_like(nll)
    else:
        weight = class_weights(weights("weight", weight), num_classes, dtype)
        target_weight = ops.take(weight, safe, axis=0)
        nll = target_weight * nll
    losses = nll
    if eps:
        terms = log_probs if weight is None else weight * log_probs
        losses = (1.0 - eps) * nll - eps / num_classes * ops.sum(terms, axis=-1)
    losses = ops.where(in_range, losses, ops.full_like(losses, float("nan")))
    counts = target_weight
    if ignore_index is not None:
        ignored = labels == ignore_index
        losses = ops.where(ignored, ops.zeros_like(losses), losses)
        counts = ops.where(ignored, ops.zeros_like(counts), counts)
    return losses, counts


def _pos_weight(value, from_logits):
    if value is not None and not from_logits:
        raise ValueError(
            "Argument `pos_weight` needs `from_logits=True` (it is BCEWithLogitsLoss's; BCELoss "
            f"has none). Received: pos_weight={value!r}, from_logits=False"
        )
    return weights("pos_weight", value)
