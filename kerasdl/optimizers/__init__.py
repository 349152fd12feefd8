"""The chapter's seven optimizers (3.2), matching `torch.optim` step for step.

`weight_decay` means what it means in PyTorch: L2 added to the gradient in every
optimizer but `AdamW`, whose decay is decoupled. See `docs/optimizers.md`.
"""

from kerasdl.optimizers.adagrad import Adagrad
from kerasdl.optimizers.adam import Adam
from kerasdl.optimizers.adamw import AdamW
from kerasdl.optimizers.momentum import Momentum
from kerasdl.optimizers.nesterov import Nesterov
from kerasdl.optimizers.rmsprop import RMSprop
from kerasdl.optimizers.sgd import SGD

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Momentum", "Nesterov", "RMSprop"]
