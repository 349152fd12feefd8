"""``kerasdl experiment optimizers``: the chapter's optimizer table (3.2.9), measured.

The work is `kerasdl.experiments.optimizers.run`; this module checks the options (before
TensorFlow is imported), calls it, and prints a table, two plots and a few readings, or the
result's JSON with ``--json``. The option types and helpers it shares with
``kerasdl experiment regularization`` are in `kerasdl.cli.experiment_common`.
"""

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.padding import Padding
from rich.text import Text

from kerasdl.cli import errors
from kerasdl.cli import options as opt
from kerasdl.cli.experiment_common import (
    ExperimentData,
    ExperimentEpochs,
    ExperimentLimit,
    ExperimentSeed,
    Json,
    best_index,
    check_common,
    print_json,
    print_plot,
    print_runs,
    progress_printer,
    run_experiment,
    stdout_console,
)
from kerasdl.cli.fit import fitted
from kerasdl.cli.plain import fmt_lr, fmt_number, titled_table

# ---------------------------------------------------------------------------------------------
# kerasdl experiment optimizers

DEFAULT_RATES = (
    "sgd 0.1, momentum 0.1, nesterov 0.01, adagrad 0.01, rmsprop 0.001, adam 0.001, adamw 0.001"
)


def parse_names(text: str, option: str, allowed: tuple[str, ...]) -> list[str]:
    """``"sgd, adam"`` -> ``["sgd", "adam"]``; fail on an empty item, unknown or repeated name."""
    names = [item.strip().lower() for item in text.split(",")]
    if not text.strip() or any(not name for name in names):
        errors.fail(
            f"{option}: got {text!r}; allowed: a comma-separated list of {', '.join(allowed)}"
        )
    unknown = [name for name in names if name not in allowed]
    if unknown:
        errors.fail(
            f"{option}: unknown {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        errors.fail(f"{option}: {', '.join(map(repr, repeated))} given twice; name each once")
    return names


def parse_rates(text: str | None, names: list[str]) -> dict[str, float]:
    """``"sgd=0.05,adam=3e-4"`` -> ``{"sgd": 0.05, "adam": 0.0003}`` for optimizers in ``names``."""
    if text is None:
        return {}
    rates = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not name or not (math.isfinite(number) and number > 0):
            errors.fail(
                f"--lr: got {item.strip()!r}; allowed: NAME=VALUE items with VALUE > 0, "
                "e.g. --lr sgd=0.05,adam=3e-4"
            )
        if name not in names:
            errors.fail(f"--lr: {name!r} is not among --optimizers ({', '.join(names)})")
        rates[name] = number
    return rates


def optimizers(
    optimizers_: Annotated[
        str,
        typer.Option(
            "--optimizers",
            help=f"Comma-separated optimizers, from: {', '.join(opt.OPTIMIZERS)}.",
            metavar="NAMES",
        ),
    ] = ",".join(opt.OPTIMIZERS),
    epochs: ExperimentEpochs = 10,
    lr: Annotated[
        str | None,
        typer.Option(
            "--lr",
            help=f"Learning rates replacing the defaults ({DEFAULT_RATES}).",
            show_default=False,
            metavar="NAME=VALUE,...",
        ),
    ] = None,
    target_accuracy: Annotated[
        float,
        typer.Option(help="Report the first epoch whose val_accuracy reaches this.", metavar="X"),
    ] = 0.9,
    data: ExperimentData = "mnist-mini",
    data_dir: opt.DataDir = None,
    seed: ExperimentSeed = 42,
    limit: ExperimentLimit = None,
    runs_dir: opt.RunsDir = Path("runs"),
    json_: Json = False,
):
    """Train the chapter's MLP once per optimizer from the same initial weights and data order.

    A measured version of the chapter's optimizer table (3.2.9): best and final validation
    loss and accuracy, the epoch each optimizer first reaches --target-accuracy, the test
    accuracy of the best epoch and the seconds per epoch, then val_loss and val_accuracy per
    epoch. Constant learning rates (no schedule), early stopping off; weight decay 0 except
    AdamW's own 0.01. Default rates: the usual starting points. SGD's is large because its
    step is the raw gradient; nesterov's (PyTorch's form) is 10x smaller because its velocity
    sums about 1/(1-0.9) = 10 gradients; momentum is the chapter's moving average of the
    gradients, which does not sum them, so it gets SGD's 0.1 (the same steps as PyTorch's
    SGD(lr=0.01, momentum=0.9)); the adaptive methods get their papers' defaults. Each
    optimizer's run is saved in the runs folder as <stamp>-optimizers-<name>.
    """
    names = parse_names(optimizers_, "--optimizers", opt.OPTIMIZERS)
    rates = parse_rates(lr, names)
    check_common(data=data, epochs=epochs, seed=seed, limit=limit)
    if not (math.isfinite(target_accuracy) and 0 < target_accuracy <= 1):
        errors.fail(f"--target-accuracy: got {target_accuracy}; allowed: a number in (0, 1]")

    result = run_experiment(
        "optimizers",
        optimizers=names,
        epochs=epochs,
        learning_rates=rates,
        target_accuracy=target_accuracy,
        data=data,
        data_dir=data_dir,
        seed=seed,
        limit=limit,
        runs_dir=runs_dir,
        progress=progress_printer(),
    )
    if json_:
        print_json(result)
    else:
        render(result)


def render(result) -> None:
    """The table, the notes, the two plots, the readings and the runs' folder."""
    console = stdout_console()
    rows = result.optimizers
    target = result.settings["target_accuracy"]
    table = titled_table(
        f"Optimizers: {result.settings['data']}, {result.settings['epochs']} epochs, "
        f"seed {result.settings['seed']}"
    )
    table.add_column("optimizer", no_wrap=True)
    table.add_column("lr", justify="right", no_wrap=True)
    table.add_column("best\nval_loss", justify="right", no_wrap=True)
    table.add_column("\nepoch", justify="right", no_wrap=True)
    table.add_column("final\nval_loss", justify="right", no_wrap=True)
    table.add_column("best\nval_acc", justify="right", no_wrap=True)
    table.add_column("final\nval_acc", justify="right", no_wrap=True)
    table.add_column(f"epoch to\nacc {target:g}", justify="right", no_wrap=True)
    table.add_column("test acc\n(best)", justify="right", no_wrap=True)
    table.add_column("s per\nepoch", justify="right", no_wrap=True)
    show_status = any(row.status != "completed" for row in rows)
    if show_status:
        table.add_column("\nstatus", no_wrap=True)
    columns = [
        ("best_val_loss", "min"),
        ("best_val_loss_epoch", None),
        ("final_val_loss", "min"),
        ("best_val_accuracy", "max"),
        ("final_val_accuracy", "max"),
        ("target_epoch", "min"),
        ("test_accuracy", "max"),
    ]
    best = {
        key: best_index([getattr(row, key) for row in rows], way) if way else None
        for key, way in columns
    }
    for i, row in enumerate(rows):
        texts = {
            key: fmt_number(getattr(row, key)) if key != "target_epoch" else "—"
            for key, _ in columns
        }
        texts["best_val_loss_epoch"] = str(row.best_val_loss_epoch or "-")
        if row.target_epoch is not None:
            texts["target_epoch"] = str(row.target_epoch)
        marked = [
            Text(texts[key], style="bold green") if best[key] == i else texts[key]
            for key, _ in columns
        ]
        seconds = "-" if row.seconds_per_epoch is None else f"{row.seconds_per_epoch:.2f}"
        extra = [row.status] if show_status else []
        table.add_row(row.name, fmt_lr(row.learning_rate), *marked, seconds, *extra)
    console.print(
        fitted(table, drop=("final val_loss", "final val_acc", "s per epoch", "epoch", "status"))
    )
    for note in result.notes:
        console.print(Padding(Text(note, style="dim"), (0, 0, 0, 2)))
    for metric, title in (
        ("val_loss", "val_loss per epoch"),
        ("val_accuracy", "val_accuracy per epoch"),
    ):
        series = {row.name: [tuple(point) for point in row.curves[metric]] for row in rows}
        print_plot(console, title, series)
    console.print()
    for line in result.reading:
        console.print(line, markup=False, soft_wrap=True)
    print_runs(console, result, [row.run_id for row in rows])
