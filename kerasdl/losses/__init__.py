"""The chapter's losses (3.1) and PyTorch's loss options: regression and classification, valued as
PyTorch values them.

Every loss is a pure function of ``(y_true, y_pred)`` that returns one value per sample (it averages
or sums over the last axis, as Keras's functions do), and a thin ``keras.losses.Loss`` subclass
over it. The subclass takes ``reduction``, ``name`` and ``dtype`` and accepts ``sample_weight``
when called. ``reduction`` takes Keras's names (``"sum_over_batch_size"``, the default,
``"mean_with_sample_weight"``, ``None``), which reduce the per-sample losses as Keras does, and
PyTorch's (``"mean"``, ``"sum"``, ``"none"``; ``"batchmean"`` for `KLDivLoss`), which reduce the
loss of every element as PyTorch does. With PyTorch's names each class equals its PyTorch
counterpart with the same ``reduction``; with the default it equals PyTorch's ``"mean"`` whenever
no ``weight`` or ``ignore_index`` is given:

| kerasdl | PyTorch |
| --- | --- |
| ``MeanSquaredError`` | ``nn.MSELoss`` |
| ``MeanAbsoluteError`` | ``nn.L1Loss`` |
| ``Huber(delta)`` | ``nn.HuberLoss(delta=delta)`` |
| ``SmoothL1(beta)`` | ``nn.SmoothL1Loss(beta=beta)`` |
| ``BinaryCrossentropy`` | ``nn.BCELoss`` / ``nn.BCEWithLogitsLoss`` (``from_logits``) |
| ``CategoricalCrossentropy`` | ``nn.CrossEntropyLoss`` with probability targets |
| ``SparseCategoricalCrossentropy`` | ``nn.CrossEntropyLoss`` with class-index targets |
| ``NLLLoss`` | ``nn.NLLLoss`` |
| ``KLDivLoss`` | ``nn.KLDivLoss`` |

Probabilities (``from_logits=False``) follow PyTorch's ``BCELoss``: every log is clamped at -100,
so probabilities of exactly 0 and 1 give a finite loss and a finite gradient. The categorical
losses on probabilities are ``CrossEntropyLoss`` applied to ``max(log p, -100)``; since
``log_softmax(log p) = log(p / sum(p))``, probabilities that do not sum to 1 are renormalised.
The class axis is the last one (PyTorch's is axis 1).
"""

from kerasdl.losses.crossentropy import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    KLDivLoss,
    NLLLoss,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    categorical_crossentropy,
    kl_div,
    nll_loss,
    sparse_categorical_crossentropy,
)
from kerasdl.losses.regression import (
    Huber,
    MeanAbsoluteError,
    MeanSquaredError,
    SmoothL1,
    huber,
    mean_absolute_error,
    mean_squared_error,
    smooth_l1,
)

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Huber",
    "KLDivLoss",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "NLLLoss",
    "SmoothL1",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "categorical_crossentropy",
    "huber",
    "kl_div",
    "mean_absolute_error",
    "mean_squared_error",
    "nll_loss",
    "smooth_l1",
    "sparse_categorical_crossentropy",
]
