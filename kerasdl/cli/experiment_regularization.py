"""``kerasdl experiment regularization``: L1, L2, dropout and batch norm side by side (3.4).

The work is `kerasdl.experiments.regularization.run`; this module checks the options (before
TensorFlow is imported), calls it, and prints the tables (generalisation gap, near-zero
weights, dropout and batch norm in training against inference mode), a plot of val_loss per
epoch and a few readings, or the result's JSON with ``--json``.
"""

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.padding import Padding
from rich.table import Table
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
from kerasdl.cli.plain import fmt_number, titled_table


def _factor(help_text: str):
    return Annotated[float, typer.Option(help=help_text, metavar="X")]


def regularization(
    l1: _factor("L1 factor of the l1 variant, l1 * sum|w| (0: no l1 variant).") = 1e-4,
    l2: _factor("L2 factor of the l2 variant, l2 * sum w^2 (0: no l2 variant).") = 1e-4,
    dropout: _factor("Drop probability p of the dropout variant, in [0, 1) (0: none).") = 0.5,
    batchnorm: Annotated[
        bool,
        typer.Option("--batchnorm/--no-batchnorm", help="Train the batch-norm variant."),
    ] = True,
    epochs: ExperimentEpochs = 10,
    near_zero: _factor("A weight is near zero when |w| is below this.") = 1e-3,
    data: ExperimentData = "mnist-mini",
    data_dir: opt.DataDir = None,
    seed: ExperimentSeed = 42,
    limit: ExperimentLimit = None,
    runs_dir: opt.RunsDir = Path("runs"),
    json_: Json = False,
):
    """Train baseline, L1, L2, dropout and batch-norm variants from the same seed, side by side.

    Each variant is the baseline MLP (784-256-ReLU-128-ReLU-10) plus one thing (chapter
    3.4.2-3.4.5), trained with AdamW at weight_decay 0 so the only penalty is the one
    measured. Then, from each run's last.keras: training and validation loss and accuracy in
    inference mode and their gap; the share of near-zero kernel weights per layer (L1 against
    L2); dropout's training-mode outputs against its inference output on one validation batch
    (think-question 2); batch norm's batch statistics against its moving statistics and its
    training against inference outputs (think-question 3). Each variant's run is saved in the
    runs folder as <stamp>-regularization-<variant>.
    """
    for name, value in (("--l1", l1), ("--l2", l2)):
        if not (math.isfinite(value) and value >= 0):
            errors.fail(f"{name}: got {value}; allowed: a number >= 0 (0: no variant)")
    if not (math.isfinite(dropout) and 0 <= dropout < 1):
        errors.fail(f"--dropout: got {dropout}; allowed: a number in [0, 1) (0: no variant)")
    if not (math.isfinite(near_zero) and near_zero > 0):
        errors.fail(f"--near-zero: got {near_zero}; allowed: a number > 0")
    check_common(data=data, epochs=epochs, seed=seed, limit=limit)

    result = run_experiment(
        "regularization",
        l1=l1,
        l2=l2,
        dropout=dropout,
        batchnorm=batchnorm,
        epochs=epochs,
        near_zero=near_zero,
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


def _marked(values, direction, texts):
    index = best_index(values, direction) if direction else None
    return [Text(t, style="bold green") if i == index else t for i, t in enumerate(texts)]


def gap_table(result) -> Table:
    """Variants as rows: train and validation loss/accuracy (inference mode) and the gap."""
    s = result.settings
    table = titled_table(
        f"Regularization: {s['data']}, {s['epochs']} epochs, seed {s['seed']}; "
        "inference mode, last epoch"
    )
    table.add_column("variant", no_wrap=True)
    heads = [
        ("train\nloss", "train_loss", None),
        ("train\nacc", "train_accuracy", None),
        ("val\nloss", "val_loss", "min"),
        ("val\nacc", "val_accuracy", "max"),
        ("gap\nloss", "gap_loss", "min"),
        ("gap\nacc", "gap_accuracy", "min"),
        ("test acc\n(best)", "test_accuracy", "max"),
    ]
    for head, _, _ in heads:
        table.add_column(head, justify="right", no_wrap=True)
    variants = result.variants
    columns = []
    for _, key, direction in heads:
        values = [getattr(v, key) for v in variants]
        columns.append(_marked(values, direction, [fmt_number(x) for x in values]))
    for i, v in enumerate(variants):
        table.add_row(v.name, *(column[i] for column in columns))
    return table


def near_zero_table(result) -> Table:
    """Near-zero shares per Dense kernel, the initial weights first."""
    threshold = result.settings["near_zero"]
    table = titled_table(f"Share of kernel weights with |w| < {threshold:g}")
    layers = list(result.initial_near_zero)
    table.add_column("variant", no_wrap=True)
    for layer in layers:
        table.add_column(layer, justify="right", no_wrap=True)
    table.add_column("mean |w|", justify="right", no_wrap=True)
    table.add_row(
        Text("initial", style="dim"),
        *(Text(f"{result.initial_near_zero[layer]:.2%}", style="dim") for layer in layers),
        Text(fmt_number(result.initial_mean_abs_weight["all"]), style="dim"),
    )
    variants = result.variants
    columns = []
    for layer in layers:
        values = [v.near_zero[layer] for v in variants]
        columns.append(_marked(values, "max", [f"{x:.2%}" for x in values]))
    for i, v in enumerate(variants):
        table.add_row(
            v.name, *(column[i] for column in columns), fmt_number(v.mean_abs_weight["all"])
        )
    return table


def dropout_table(probe: dict) -> Table:
    """The dropout probe as quantity / value rows."""
    table = titled_table(
        f"Dropout {probe['layer']} (p={probe['rate']:g}), {probe['batch']} val examples"
    )
    table.add_column("quantity")
    table.add_column("value", justify="right", no_wrap=True)
    rows = [
        ("max |Δ| between two training-mode calls", fmt_number(probe["training_max_abs_diff"])),
        ("  active units changed between them", f"{probe['training_changed_share']:.2%}"),
        ("max |Δ| between two inference calls", fmt_number(probe["inference_max_abs_diff"])),
        (f"zeros among active units (p = {probe['rate']:g})", f"{probe['zero_share']:.4f}"),
        (
            "kept units: max |out·(1-p) - in| (scale 1/(1-p))",
            fmt_number(probe["kept_scale_max_error"]),
        ),
        ("inference: max |out - in| (identity)", fmt_number(probe["inference_is_input_max_error"])),
    ]
    for k, error in probe["mean_relative_error"].items():
        calls = "call" if k == "1" else "calls"
        rows.append((f"mean of {k} training {calls} vs inference (rel. L1)", f"{error:.2%}"))
    rows.append(("logits: max |training - inference|", fmt_number(probe["logits_max_abs_diff"])))
    rows.append(("predicted class changed", f"{probe['predictions_changed']:.2%}"))
    for name, value in rows:
        table.add_row(name, value)
    return table


def batchnorm_table(probe: dict) -> Table:
    """The batch-norm probe as quantity / value rows."""
    table = titled_table(
        f"Batch norm {probe['layer']} ({probe['units']} units), {probe['batch']} val examples"
    )
    table.add_column("quantity")
    table.add_column("value", justify="right", no_wrap=True)
    rows = [
        ("|batch mean - moving mean|: mean over units", fmt_number(probe["mean_abs_diff_mean"])),
        ("|batch mean - moving mean|: max", fmt_number(probe["max_abs_diff_mean"])),
        ("|batch var - moving var|: mean over units", fmt_number(probe["mean_abs_diff_var"])),
        ("|batch var / moving var - 1|: mean", f"{probe['mean_rel_diff_var']:.2%}"),
        ("output: max |training - inference|", fmt_number(probe["output_max_abs_diff"])),
        ("output: mean |training - inference|", fmt_number(probe["output_mean_abs_diff"])),
        (
            "training output vs formula with batch stats",
            fmt_number(probe["training_formula_max_error"]),
        ),
        (
            "inference output vs formula with moving stats",
            fmt_number(probe["inference_formula_max_error"]),
        ),
        ("logits: max |training - inference|", fmt_number(probe["logits_max_abs_diff"])),
        ("predicted class changed", f"{probe['predictions_changed']:.2%}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def render(result) -> None:
    """The tables, the notes, the val_loss plot, the readings and the runs' folder."""
    console = stdout_console()
    console.print(fitted(gap_table(result), drop=("train loss", "train acc")))
    variants = "variants: " + "; ".join(f"{v.name}: {v.description}" for v in result.variants)
    for note in [variants, *result.notes]:
        console.print(Padding(Text(note, style="dim"), (0, 0, 0, 2)))
    console.print()
    console.print(fitted(near_zero_table(result)))
    if result.dropout is not None:
        console.print()
        console.print(fitted(dropout_table(result.dropout), wrap=("quantity",)))
    if result.batchnorm is not None:
        console.print()
        console.print(fitted(batchnorm_table(result.batchnorm), wrap=("quantity",)))
    series = {
        v.name: [tuple(point) for point in v.curves["val_data_loss"]] for v in result.variants
    }
    print_plot(console, "val_loss per epoch (cross-entropy, penalty subtracted)", series)
    console.print()
    for line in result.reading:
        console.print(line, markup=False, soft_wrap=True)
    print_runs(console, result, [v.run_id for v in result.variants])
