"""The chapter's seven optimizers (3.2) and four more of `torch.optim`'s first-order family
(`Adadelta`, `Adamax`, `NAdam`, `RAdam`), matching `torch.optim` step for step.

`weight_decay` means what it means in PyTorch: L2 added to the gradient in every
optimizer but `AdamW`, whose decay is decoupled. See `docs/optimizers.md`.
"""

from kerasdl.optimizers.adadelta import Adadelta
from kerasdl.optimizers.adagrad import Adagrad
from kerasdl.optimizers.adam import Adam
from kerasdl.optimizers.adamax import Adamax
from kerasdl.optimizers.adamw import AdamW
from kerasdl.optimizers.momentum import Momentum
from kerasdl.optimizers.nadam import NAdam
from kerasdl.optimizers.nesterov import Nesterov
from kerasdl.optimizers.radam import RAdam
from kerasdl.optimizers.rmsprop import RMSprop
from kerasdl.optimizers.sgd import SGD

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Momentum",
    "NAdam",
    "Nesterov",
    "RAdam",
    "RMSprop",
]
