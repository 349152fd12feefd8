"""``kerasdl experiment optimizers``: the chapter's optimizer table (3.2.9), measured.

The same network (the preset MLP, 784-256-BatchNorm-ReLU-Dropout(0.5)-128-ReLU-10), the same
initial weights and the same data order (one seed through `kerasdl.runner`) are trained with
each optimizer; only the optimizer and its learning rate change::

    for name in optimizers:
        config = preset + {optimizer.name: name, optimizer.learning_rate: lr[name],
                           optimizer.weight_decay: 0.01 if name == "adamw" else 0,
                           schedule: none, early_stopping: off}
        run = kerasdl.runner.train(config)        # an ordinary run directory

Then per optimizer: best and final ``val_loss`` and ``val_accuracy``, the first epoch whose
``val_accuracy`` reaches the target, the test accuracy of the best epoch (lowest
``val_loss``; the runner evaluates it) and the median seconds per epoch.

Default learning rates (`DEFAULT_LEARNING_RATES`) are the usual starting points, each method's
PyTorch/Keras default or the value the literature trains MLPs with:

- ``sgd`` 0.1: plain SGD needs a large step to make progress in a few epochs (0.01 is
  PyTorch's example value, and visibly slow here).
- ``nesterov`` 0.01 with momentum 0.9: PyTorch's form, ``v = beta * v + g``, sums about
  ``1 / (1 - 0.9) = 10`` gradients, so its step is about that of SGD at 0.1 (the usual
  ``SGD(lr=0.01, momentum=0.9)``).
- ``momentum`` 0.1 with momentum 0.9: kerasdl's `Momentum` is the chapter's moving average,
  ``v = beta * v + (1 - beta) * g`` (3.2.3), which does not sum the gradients up: it equals
  PyTorch's ``SGD(lr=0.1 * (1 - 0.9) = 0.01, momentum=0.9)``, the same effective step as
  ``nesterov`` at 0.01. At 0.01 it would step 10 times less than nesterov.
- ``adagrad`` 0.01: PyTorch's and Keras's default.
- ``rmsprop``, ``adam``, ``adamw`` 0.001: the defaults of the papers and the libraries (the
  steps are normalised per parameter, so they are about ``lr`` in size whatever the gradient).

Weight decay is 0 except AdamW's own 0.01 (the preset's), so AdamW differs from Adam only by
its decoupled decay.

References:
    - [Ruder (2016), An overview of gradient descent optimization algorithms](https://arxiv.org/abs/1609.04747)
    - [Wilson et al. (2017), The Marginal Value of Adaptive Gradient Methods](https://arxiv.org/abs/1705.08292)
    - [Loshchilov & Hutter (2019), Decoupled Weight Decay Regularization](https://arxiv.org/abs/1711.05101)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from kerasdl.config import OPTIMIZERS
from kerasdl.experiments import _runs

__all__ = [
    "ADAMW_WEIGHT_DECAY",
    "DEFAULT_LEARNING_RATES",
    "MOMENTUM",
    "OptimizerResult",
    "OptimizersResult",
    "run",
]

#: Every optimizer's learning rate unless ``learning_rates`` says otherwise (see the module doc).
DEFAULT_LEARNING_RATES = {
    "sgd": 0.1,
    "momentum": 0.1,
    "nesterov": 0.01,
    "adagrad": 0.01,
    "rmsprop": 0.001,
    "adam": 0.001,
    "adamw": 0.001,
}
#: The momentum of ``momentum`` and ``nesterov``.
MOMENTUM = 0.9
#: AdamW's decoupled weight decay (the preset's); every other optimizer gets 0.
ADAMW_WEIGHT_DECAY = 0.01

EXPERIMENT = "optimizers"


@dataclasses.dataclass
class OptimizerResult:
    """One optimizer's run. Epochs are 1-based; a quantity the run lacks is None.

    Attributes:
        name: The optimizer (`kerasdl.config.OPTIMIZERS` name).
        learning_rate: Its constant learning rate.
        weight_decay: Its weight decay (0, or AdamW's decoupled 0.01).
        momentum: The momentum of momentum/nesterov, else None.
        run_id, run_dir: The run directory.
        status: The run's status (``"completed"``, or ``"nan"`` when the loss diverged).
        epochs_run: Epochs finished.
        best_val_loss, best_val_loss_epoch: The lowest ``val_loss`` and its epoch.
        final_val_loss: ``val_loss`` of the last epoch.
        best_val_accuracy, best_val_accuracy_epoch: The highest ``val_accuracy`` and its epoch.
        final_val_accuracy: ``val_accuracy`` of the last epoch.
        target_epoch: The first epoch with ``val_accuracy >= target_accuracy``, else None.
        test_accuracy, test_loss: The test set with the best epoch's weights (lowest
            ``val_loss``), evaluated once by the runner.
        seconds_per_epoch: The median of the epochs' ``epoch_seconds``.
        curves: ``{"loss" | "accuracy" | "val_loss" | "val_accuracy": [[epoch, value], ...]}``.
    """

    name: str
    learning_rate: float
    weight_decay: float
    momentum: float | None
    run_id: str
    run_dir: str
    status: str
    epochs_run: int
    best_val_loss: float | None
    best_val_loss_epoch: int | None
    final_val_loss: float | None
    best_val_accuracy: float | None
    best_val_accuracy_epoch: int | None
    final_val_accuracy: float | None
    target_epoch: int | None
    test_accuracy: float | None
    test_loss: float | None
    seconds_per_epoch: float | None
    curves: dict[str, list[list[float]]]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class OptimizersResult:
    """What ``kerasdl experiment optimizers`` measured (``to_dict()`` is its ``--json``).

    Attributes:
        experiment: ``"optimizers"``.
        stamp: The invocation's stamp: every run is ``<stamp>-optimizers-<name>``.
        runs_dir: The runs folder.
        settings: The shared settings: data, limit, seed, epochs, batch size, model,
            schedule, early stopping, target accuracy.
        notes: What the comparison holds fixed, in words.
        optimizers: One `OptimizerResult` per optimizer, in the order asked.
        reading: One-line readings computed from the numbers.
        compare_command: The ``kerasdl runs compare`` command that overlays the runs.
    """

    experiment: str
    stamp: str
    runs_dir: str
    settings: dict
    notes: list[str]
    optimizers: list[OptimizerResult]
    reading: list[str]
    compare_command: str

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["optimizers"] = [row.to_dict() for row in self.optimizers]
        return out


def run(
    *,
    optimizers: Sequence[str] = tuple(DEFAULT_LEARNING_RATES),
    epochs: int = 10,
    learning_rates: Mapping[str, float] | None = None,
    target_accuracy: float = 0.9,
    data: str = "mnist-mini",
    data_dir: str | None = None,
    seed: int = 42,
    limit: int | None = None,
    runs_dir: str | Path = "runs",
    progress: Callable[[str], None] | None = None,
) -> OptimizersResult:
    """Train the preset MLP once per optimizer from the same start and compare the runs.

    Args:
        optimizers: Names from `kerasdl.config.OPTIMIZERS`, each once. Defaults to all seven.
        epochs: Epochs per run. Defaults to 10.
        learning_rates: ``{name: lr}`` replacing `DEFAULT_LEARNING_RATES` entries.
        target_accuracy: The ``val_accuracy`` whose first epoch is reported. Defaults to 0.9.
        data: ``"mnist-mini"`` (default) or ``"mnist"``.
        data_dir: Where MNIST is (``data.data_dir``); None: the usual search.
        seed: The seed of every run. Defaults to 42.
        limit: ``data.limit``: at most this many training and test examples. Defaults to all.
        runs_dir: The runs folder. Defaults to ``"runs"``.
        progress: A callable for one-line progress notes, or None.

    Returns:
        An `OptimizersResult`.

    Raises:
        ValueError: An unknown or repeated optimizer, or a learning rate for one not asked for.
    """
    optimizers = list(optimizers)
    unknown = [name for name in optimizers if name not in OPTIMIZERS]
    if unknown or not optimizers or len(set(optimizers)) != len(optimizers):
        raise ValueError(
            f"optimizers must be distinct names of {', '.join(OPTIMIZERS)}; got {optimizers!r}"
        )
    rates = dict(DEFAULT_LEARNING_RATES)
    for name, value in (learning_rates or {}).items():
        if name not in optimizers:
            raise ValueError(f"a learning rate for {name!r}, which is not among {optimizers!r}")
        rates[name] = float(value)

    stamp = _runs.new_stamp()
    trained = []
    for name in optimizers:
        weight_decay = ADAMW_WEIGHT_DECAY if name == "adamw" else 0.0
        overrides = {
            "run_name": _runs.run_name(stamp, EXPERIMENT, name),
            "optimizer.name": name,
            "optimizer.learning_rate": rates[name],
            "optimizer.weight_decay": weight_decay,
        }
        if name in ("momentum", "nesterov"):
            overrides["optimizer.momentum"] = MOMENTUM
        config = _runs.experiment_config(
            data=data,
            data_dir=data_dir,
            seed=seed,
            epochs=epochs,
            limit=limit,
            runs_dir=runs_dir,
            overrides=overrides,
        )
        trained.append((_runs.train_variant(config, name, progress=progress), config))

    rows = [_row(run_, config, target_accuracy) for run_, config in trained]
    config = trained[0][1]
    model = config.model
    settings = {
        "data": data,
        "limit": limit,
        "seed": seed,
        "epochs": epochs,
        "batch_size": config.batch_size,
        "validation_split": config.validation_split,
        "model": {
            "hidden": list(model.hidden),
            "batch_norm": list(model.batch_norm),
            "dropout": list(model.dropout),
            "activation": model.activation,
            "initializer": model.initializer,
        },
        "schedule": "none",
        "early_stopping": False,
        "target_accuracy": target_accuracy,
    }
    notes = [
        "same network, initial weights and data order for every optimizer (one seed)",
        "constant learning rate (no schedule), early stopping off",
        f"weight decay 0, except AdamW's decoupled {ADAMW_WEIGHT_DECAY}",
        f"momentum and nesterov: momentum {MOMENTUM}",
        "test accuracy: the best epoch's weights (lowest val_loss)",
    ]
    return OptimizersResult(
        experiment=EXPERIMENT,
        stamp=stamp,
        runs_dir=str(runs_dir),
        settings=settings,
        notes=notes,
        optimizers=rows,
        reading=reading(rows, target_accuracy),
        compare_command=_runs.compare_command([row.run_id for row in rows], runs_dir),
    )


def _row(trained: _runs.TrainedRun, config, target_accuracy: float) -> OptimizerResult:
    curves = {
        metric: [[epoch, value] for epoch, value in trained.curve(metric)]
        for metric in ("loss", "accuracy", "val_loss", "val_accuracy")
    }
    best_loss = _extreme(curves["val_loss"], min)
    best_acc = _extreme(curves["val_accuracy"], max)
    target_epoch = next(
        (int(epoch) for epoch, value in curves["val_accuracy"] if value >= target_accuracy), None
    )
    test = trained.summary.test or {}
    optimizer = config.optimizer
    return OptimizerResult(
        name=optimizer.name,
        learning_rate=optimizer.learning_rate,
        weight_decay=optimizer.weight_decay,
        momentum=optimizer.momentum,
        run_id=trained.run_id,
        run_dir=str(trained.run_dir),
        status=trained.summary.status,
        epochs_run=trained.info.epochs_run,
        best_val_loss=best_loss[1],
        best_val_loss_epoch=best_loss[0],
        final_val_loss=_last(curves["val_loss"]),
        best_val_accuracy=best_acc[1],
        best_val_accuracy_epoch=best_acc[0],
        final_val_accuracy=_last(curves["val_accuracy"]),
        target_epoch=target_epoch,
        test_accuracy=test.get("accuracy"),
        test_loss=test.get("loss"),
        seconds_per_epoch=_runs.median_epoch_seconds(trained.info),
        curves=curves,
    )


def _finite(points):
    return [(int(epoch), value) for epoch, value in points if math.isfinite(value)]


def _extreme(points, pick) -> tuple[int | None, float | None]:
    """(epoch, value) of the lowest/highest finite value; the first such epoch on ties."""
    finite = _finite(points)
    if not finite:
        return None, None
    value = pick(v for _, v in finite)
    return next(e for e, v in finite if v == value), value


def _last(points) -> float | None:
    return points[-1][1] if points else None


def reading(rows: Sequence[OptimizerResult], target_accuracy: float) -> list[str]:
    """A few lines read off the numbers: who reached the target first, who ended best.

    Nothing here is a canned claim: every line names the measured values it rests on.
    """
    lines = []
    reached = [row for row in rows if row.target_epoch is not None]
    missed = [row.name for row in rows if row.target_epoch is None]
    if reached:
        first = min(row.target_epoch for row in reached)
        fastest = [row.name for row in reached if row.target_epoch == first]
        line = (
            f"Fastest to val_accuracy >= {target_accuracy:g}: {', '.join(fastest)} (epoch {first})"
        )
        if missed:
            line += f"; not reached: {', '.join(missed)}"
        lines.append(line + ".")
    else:
        lines.append(f"No optimizer reached val_accuracy >= {target_accuracy:g}.")
    finals = [row for row in rows if row.final_val_accuracy is not None]
    if finals:
        best = max(finals, key=lambda row: row.final_val_accuracy)
        worst = min(finals, key=lambda row: row.final_val_accuracy)
        lines.append(
            f"Best final val_accuracy: {best.name} ({best.final_val_accuracy:.4f}); "
            f"lowest: {worst.name} ({worst.final_val_accuracy:.4f})."
        )
    tested = [row for row in rows if row.test_accuracy is not None]
    losses = [row for row in rows if row.best_val_loss is not None]
    if tested and losses:
        best_test = max(tested, key=lambda row: row.test_accuracy)
        best_loss = min(losses, key=lambda row: row.best_val_loss)
        lines.append(
            f"Lowest val_loss: {best_loss.name} ({best_loss.best_val_loss:.4f} at epoch "
            f"{best_loss.best_val_loss_epoch}); best test accuracy: {best_test.name} "
            f"({best_test.test_accuracy:.4f})."
        )
    diverged = [row.name for row in rows if row.status == "nan"]
    if diverged:
        lines.append(f"Diverged (NaN loss): {', '.join(diverged)}; try a smaller --lr.")
    return lines
