"""Learning-rate schedules: the chapter's (3.5) and the rest of `torch.optim.lr_scheduler`.

Every schedule is a `keras.optimizers.schedules.LearningRateSchedule`: the optimizer calls it
with its 0-based step (`optimizer.iterations`) before every update, and it returns a scalar of
its `dtype` (`None`: `keras.backend.floatx()`, float32 unless the run is float64). PyTorch's
schedulers are mostly stepped once an epoch instead (chapter 3.5.1), so the epoch schedules
take `steps_per_epoch` and count their arguments (`step_size`, `T_max`, `milestones`...) in
epochs, as PyTorch does:

```
epoch = step // steps_per_epoch
```

The warmups, `CyclicLR` and `OneCycleLR` count optimizer steps (PyTorch steps the last two
every batch). `LinearWarmup` joins a ramp to any schedule or constant:
`LinearWarmup(after=CosineAnnealingLR(...), warmup_steps=500)`; `SequentialLR` and
`ChainedScheduler` compose schedules as PyTorch's do.

Every kerasdl schedule has `rebased(initial_learning_rate)`: the schedule PyTorch runs for a
parameter group whose `initial_lr` is that rate. `CyclicLR` and `OneCycleLR` have
`momentum_schedule()`: the momentum (or Adam's `beta_1`) PyTorch cycles with them.

Everything is computed with `keras.ops` (no Python branch on the step's value), so a schedule
traces under `tf.function(jit_compile=True)` and `jax.jit`, and runs on the TensorFlow, JAX
and torch backends.
"""

from kerasdl.schedules import _composite
from kerasdl.schedules._chapter import (
    CosineAnnealingLR,
    ExponentialLR,
    LinearWarmup,
    NoamWarmup,
    StepLR,
)
from kerasdl.schedules._composite import ChainedScheduler, SequentialLR
from kerasdl.schedules._cyclic import CycledMomentum, CyclicLR, OneCycleLR
from kerasdl.schedules._epoch import (
    ConstantLR,
    CosineAnnealingWarmRestarts,
    LambdaLR,
    LinearLR,
    MultiplicativeLR,
    MultiStepLR,
    PolynomialLR,
)

_composite.CHAINABLE[:] = [
    StepLR,
    MultiStepLR,
    ExponentialLR,
    ConstantLR,
    LinearLR,
    PolynomialLR,
    MultiplicativeLR,
    ChainedScheduler,
]

#: The chapter's schedules (3.5).
CHAPTER = ["CosineAnnealingLR", "ExponentialLR", "LinearWarmup", "NoamWarmup", "StepLR"]

__all__ = [
    "ChainedScheduler",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CycledMomentum",
    "CyclicLR",
    "ExponentialLR",
    "LambdaLR",
    "LinearLR",
    "LinearWarmup",
    "MultiStepLR",
    "MultiplicativeLR",
    "NoamWarmup",
    "OneCycleLR",
    "PolynomialLR",
    "SequentialLR",
    "StepLR",
]
