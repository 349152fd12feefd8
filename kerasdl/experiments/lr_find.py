"""The learning-rate range test behind ``kerasdl lr-find`` (Smith 2017, sec. 3.3; fastai's
``lr_find``).

A scratch copy of the config's network is trained for ``steps`` batches while the learning rate
grows exponentially from ``start_lr`` to ``end_lr``; the loss is recorded raw and smoothed, and
the run stops early once the smoothed loss blows up::

    lr_i       = start_lr * (end_lr / start_lr) ** (i / (steps - 1))      i = 0 .. steps - 1
    avg_i      = beta * avg_{i-1} + (1 - beta) * loss_i                   avg_{-1} = 0
    smooth_i   = avg_i / (1 - beta ** (i + 1))                            (bias-corrected)
    stop after step i if smooth_i > diverge * min(smooth_0 .. smooth_i), or it is not finite

Two suggestions are read off the smoothed curve, as fastai does (its ``steep`` and ``minimum``),
on the points left after dropping the first ``steps // 10`` and the last 5 recorded steps
(the start is noise, the end is the blow-up):

- ``steepest``: the rate where the smoothed loss falls fastest against ``log(lr)`` on the way
  to its minimum, ``lr[argmin_j (smooth[j+1] - smooth[j]) / (log lr[j+1] - log lr[j])]`` for
  ``j`` before the minimum (fastai's ``steep`` takes every ``j``);
- ``minimum_div_10``: the rate of the lowest smoothed loss, divided by 10.

The network, its optimizer, loss and data are built by the same code as a run
(`kerasdl.models.build_model`, `kerasdl.runner.build_optimizer` / `build_loss`,
`kerasdl.data.load_dataset`), from the same seed; nothing is saved but the JSON record the CLI
writes. Batches are full (``batch_size`` examples, the last partial batch of an epoch is skipped)
in the order `kerasdl.data.epoch_order` gives each epoch, epoch after epoch.

References:
    - [Smith, 2017. Cyclical Learning Rates for Training Neural Networks, section 3.3](
      https://arxiv.org/abs/1506.01186)
    - [fastai `Learner.lr_find`](https://docs.fast.ai/callback.schedule.html#learner.lr_find)
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = [
    "LRFindResult",
    "SmoothedLoss",
    "learning_rates",
    "run",
    "save_record",
    "smooth",
    "suggest",
]

#: Why a range test ended.
STOP_REASONS = ("completed", "diverged", "not_finite")
#: Steps dropped at the end before suggesting (fastai's 5).
SKIP_END = 5


def learning_rates(start_lr: float, end_lr: float, steps: int) -> np.ndarray:
    """``start_lr * (end_lr / start_lr) ** (i / (steps - 1))`` for ``i = 0 .. steps - 1``
    (float64): a geometric sequence from ``start_lr`` to ``end_lr``, both included."""
    i = np.arange(steps, dtype=np.float64)
    return start_lr * (end_lr / start_lr) ** (i / (steps - 1))


class SmoothedLoss:
    """fastai's ``AvgSmoothLoss``: an exponential moving average of the loss, bias-corrected.

    ::

        avg = beta * avg + (1 - beta) * loss          (avg starts at 0)
        value = avg / (1 - beta ** count)

    Args:
        beta: float in ``[0, 1)``, the weight of the past. Defaults to ``0.98``.
    """

    def __init__(self, beta: float = 0.98):
        self.beta = float(beta)
        self.avg = 0.0
        self.count = 0

    def update(self, loss: float) -> float:
        """Add one loss; return the smoothed value."""
        self.count += 1
        self.avg = self.beta * self.avg + (1.0 - self.beta) * float(loss)
        return self.avg / (1.0 - self.beta**self.count)


def smooth(losses, beta: float = 0.98) -> np.ndarray:
    """The `SmoothedLoss` value after each loss of ``losses`` (float64)."""
    smoother = SmoothedLoss(beta)
    return np.array([smoother.update(loss) for loss in losses], dtype=np.float64)


def suggest(lrs, smoothed, steps: int) -> dict:
    """The suggested rates (fastai's ``steep`` and ``minimum``) of a range test.

    Points from the first non-finite one on are dropped, then the first ``steps // 10`` and the
    last `SKIP_END` (as fastai does; when fewer than 3 points would be left, none are
    dropped). The steepest descent is looked for on the way down to the lowest loss (fastai's
    ``steep`` looks at the whole curve, where the loss falling back after a blow-up can look
    steeper than the real descent).

    Returns:
        ``{"steepest": lr, "minimum_div_10": lr, "minimum": {"lr": ..., "loss": ...}}``, each
        None when fewer than 2 (1 for the minimum) finite points were recorded.
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    smoothed = np.asarray(smoothed, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(smoothed))
    if len(bad):
        lrs, smoothed = lrs[: bad[0]], smoothed[: bad[0]]
    start, end = steps // 10, len(lrs) - SKIP_END
    if end - start >= 3:
        lrs, smoothed = lrs[start:end], smoothed[start:end]
    out = {"steepest": None, "minimum_div_10": None, "minimum": None}
    if len(lrs) >= 1:
        low = int(np.argmin(smoothed))
        out["minimum"] = {"lr": float(lrs[low]), "loss": float(smoothed[low])}
        out["minimum_div_10"] = float(lrs[low]) / 10.0
        descent = low + 1 if low >= 1 else len(lrs)  # up to the minimum, if it is not first
        if descent >= 2:
            slopes = np.diff(smoothed[:descent]) / np.diff(np.log(lrs[:descent]))
            out["steepest"] = float(lrs[int(np.argmin(slopes))])
    return out


@dataclasses.dataclass
class LRFindResult:
    """The outcome of a range test (`run`); `to_dict` is what ``--json`` prints.

    Attributes:
        config: The run's config summary: dataset, model, optimizer, loss, batch size, seed.
        start_lr, end_lr, steps, smoothing, diverge: The test's settings.
        lrs: The learning rate of each step run (the first ``steps_run`` of `learning_rates`).
        losses: The training loss of each step (the batch's loss before its update).
        smoothed: `smooth` of ``losses``.
        steps_run: Steps trained (``<= steps``).
        stop_reason: ``"completed"``, ``"diverged"`` (smoothed loss above ``diverge`` x its
            minimum) or ``"not_finite"`` (the loss became NaN or infinite).
        suggestions: `suggest`'s dict.
        seconds: Wall time of the test (data, build and training).
        record: Where the JSON record was written, or None.
    """

    config: dict
    start_lr: float
    end_lr: float
    steps: int
    smoothing: float
    diverge: float
    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    steps_run: int
    stop_reason: str
    suggestions: dict
    seconds: float
    record: str | None = None

    @property
    def stop_lr(self) -> float | None:
        """The rate of the last step run (where a diverged test stopped)."""
        return self.lrs[-1] if self.lrs else None

    def to_dict(self) -> dict:
        """Plain JSON-able types; a non-finite loss is written as None."""

        def finite(values):
            return [float(v) if math.isfinite(v) else None for v in values]

        return {
            "experiment": "lr-find",
            "config": self.config,
            "start_lr": self.start_lr,
            "end_lr": self.end_lr,
            "steps": self.steps,
            "smoothing": self.smoothing,
            "diverge": self.diverge,
            "steps_run": self.steps_run,
            "stop_reason": self.stop_reason,
            "stop_lr": self.stop_lr,
            "suggestions": self.suggestions,
            "lrs": [float(v) for v in self.lrs],
            "losses": finite(self.losses),
            "smoothed": finite(self.smoothed),
            "seconds": round(self.seconds, 3),
            "record": self.record,
        }


def _summary(config, dataset) -> dict:
    return {
        "dataset": config.data.name,
        "n_train": len(dataset.y_train),
        "limit": config.data.limit,
        "hidden": list(config.model.hidden),
        "optimizer": config.optimizer.name,
        "weight_decay": config.optimizer.weight_decay,
        "loss": config.loss.name,
        "batch_size": config.batch_size,
        "seed": config.seed,
    }


def run(
    config,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    steps: int = 200,
    smoothing: float = 0.98,
    diverge: float = 4.0,
    progress: Callable[[str], None] | None = None,
) -> LRFindResult:
    """Run the range test on a scratch copy of ``config``'s network (see the module docstring).

    Args:
        config: A `kerasdl.config.TrainConfig` (validated here); its data, model, loss,
            optimizer (its learning rate and schedule are replaced), batch size and seed.
        start_lr: float ``> 0``, the first step's rate. Defaults to ``1e-7``.
        end_lr: float ``> start_lr``, the last step's rate. Defaults to ``10.0``.
        steps: int ``>= 10``, the steps of the whole range. Defaults to ``200``.
        smoothing: float in ``[0, 1)``, the `SmoothedLoss` beta. Defaults to ``0.98``.
        diverge: float ``> 1``, stop once the smoothed loss exceeds this times its minimum.
            Defaults to ``4.0``.
        progress: Called with a one-line note at each stage. Defaults to None.

    Returns:
        The `LRFindResult`.
    """
    started = time.monotonic()
    note = progress or (lambda _message: None)
    config = config.validate()

    import keras

    from kerasdl import data, runner
    from kerasdl.models import build_model

    note(f"loading {config.data.name}")
    dataset = data.load_dataset(config)
    keras.utils.set_random_seed(config.seed)
    lrs = learning_rates(start_lr, end_lr, steps)
    model = build_model(config, dataset)
    optimizer = runner.build_optimizer(config, float(lrs[0]))
    model.compile(
        optimizer=optimizer,
        loss=runner.build_loss(config),
        steps_per_execution=1,
        jit_compile=config.jit_compile,
    )

    n = len(dataset.y_train)
    batch = min(config.batch_size, n)
    per_epoch = n // batch
    note(
        f"range test: {steps} steps of {batch} examples, lr {start_lr:g} -> {end_lr:g} "
        f"({config.optimizer.name}, {n} training examples)"
    )
    smoother = SmoothedLoss(smoothing)
    losses, smoothed = [], []
    best = math.inf
    stop_reason = "completed"
    order = None
    for i in range(steps):
        epoch, j = divmod(i, per_epoch)
        if j == 0:
            order = data.epoch_order(n, config.seed, epoch)
        index = order[j * batch : (j + 1) * batch]
        optimizer.learning_rate = float(lrs[i])
        logs = model.train_on_batch(
            dataset.x_train[index], dataset.y_train[index], return_dict=True
        )
        loss = float(logs["loss"])
        value = smoother.update(loss)
        losses.append(loss)
        smoothed.append(value)
        if not (math.isfinite(loss) and math.isfinite(value)):
            stop_reason = "not_finite"
            break
        best = min(best, value)
        if value > diverge * best:
            stop_reason = "diverged"
            break
        if progress is not None and (i + 1) % 50 == 0:
            note(f"step {i + 1}/{steps}: lr {lrs[i]:.3g}, smoothed loss {value:.4g}")
    steps_run = len(losses)
    note(f"stopped after {steps_run} steps ({stop_reason})")
    return LRFindResult(
        config=_summary(config, dataset),
        start_lr=float(start_lr),
        end_lr=float(end_lr),
        steps=int(steps),
        smoothing=float(smoothing),
        diverge=float(diverge),
        lrs=[float(v) for v in lrs[:steps_run]],
        losses=losses,
        smoothed=smoothed,
        steps_run=steps_run,
        stop_reason=stop_reason,
        suggestions=suggest(lrs[:steps_run], smoothed, steps),
        seconds=time.monotonic() - started,
    )


def save_record(result: LRFindResult, runs_dir, stamp: str) -> Path:
    """Write ``result.to_dict()`` to ``runs_dir/<stamp>-lr-find.json`` (a file, not a run
    directory: `kerasdl.runs.list_runs` skips it) and set ``result.record``."""
    from kerasdl import runs

    path = Path(runs.check_writable(runs_dir)) / f"{stamp}-lr-find.json"
    result.record = str(path)
    runs.write_json_atomically(path, result.to_dict())
    return path
