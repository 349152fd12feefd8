"""Callbacks of chapter 3.4.6 and 3.5.1 whose status a run, a log or a dashboard can read.

- `EarlyStopping`: the chapter's early-stopping rule, with a public ``status``.
- `ReduceLROnPlateau`: PyTorch's plateau rule, for float learning rates and schedules,
  in ``fit`` or a custom loop (``step(value)``).
- `BestCheckpoint`: the best model on disk, written atomically.
- `Track`: any ``model.fit`` recorded as a kerasdl run directory (events, description,
  checkpoints), the other callbacks' state included; ``kerasdl dashboard`` shows it.

Each adds plain numeric keys to the epoch's ``logs`` (see ``docs/callbacks.md``).
"""

from kerasdl.callbacks.best_checkpoint import (
    BestCheckpoint,
    BestCheckpointStatus,
    save_model_atomically,
)
from kerasdl.callbacks.early_stopping import EarlyStopping, EarlyStoppingStatus
from kerasdl.callbacks.reduce_lr_on_plateau import (
    LearningRateChange,
    PlateauScaledSchedule,
    ReduceLROnPlateau,
    ReduceLROnPlateauStatus,
)
from kerasdl.callbacks.track import Track

__all__ = [
    "BestCheckpoint",
    "BestCheckpointStatus",
    "EarlyStopping",
    "EarlyStoppingStatus",
    "LearningRateChange",
    "PlateauScaledSchedule",
    "ReduceLROnPlateau",
    "ReduceLROnPlateauStatus",
    "Track",
    "save_model_atomically",
]
