"""``kerasdl experiment losses``: MSE, MAE, Huber and SmoothL1 on data with outliers (3.1.2).

The work is `kerasdl.experiments.losses.run`; this module checks the options (before TensorFlow
is imported), then prints a table of the fitted parameters and errors and two plots, or the
result as JSON with ``--json``. Every fit is a run directory in the runs folder.
"""

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from kerasdl.cli import errors
from kerasdl.cli import options as opt
from kerasdl.cli.console import safe_console
from kerasdl.cli.fit import fitted
from kerasdl.cli.native_logs import quiet_native_logs
from kerasdl.cli.plain import fmt_number, titled_table
from kerasdl.cli.plot import MARKERS, line_plot

# Kept equal to kerasdl.experiments.losses's (a test checks), so --help imports no Keras.
DEFAULT_LOSSES = "mse,mae,huber,smooth_l1"
DEFAULT_LEARNING_RATE = 0.05


def losses(
    losses_: Annotated[
        str,
        typer.Option(
            "--losses", help="Losses, comma-separated: mse, mae, huber, smooth_l1.", metavar="NAMES"
        ),
    ] = DEFAULT_LOSSES,
    epochs: Annotated[int, typer.Option(help="Epochs of every fit.", metavar="N")] = 30,
    delta: Annotated[float, typer.Option(help="Huber's delta.", metavar="X")] = 1.0,
    beta: Annotated[float, typer.Option(help="SmoothL1's beta.", metavar="X")] = 1.0,
    outlier_fraction: Annotated[
        float, typer.Option(help="Fraction of training targets made outliers.", metavar="X")
    ] = 0.1,
    outlier_scale: Annotated[
        float,
        typer.Option(
            help="Outlier size, in standard deviations of the clean targets.", metavar="X"
        ),
    ] = 10.0,
    lr: Annotated[
        float,
        typer.Option(
            "--lr", help="Adam's initial learning rate (cosine-annealed).", metavar="RATE"
        ),
    ] = DEFAULT_LEARNING_RATE,
    batch_size: Annotated[int, typer.Option(help="Examples per batch.", metavar="N")] = 64,
    limit: Annotated[
        int | None,
        typer.Option(
            help="Use at most N training and N test examples (quick tries).",
            show_default=False,
            metavar="N",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seeds data, weights and order.", metavar="N")] = 42,
    runs_dir: opt.RunsDir = Path("runs"),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON (nothing else on stdout).")
    ] = False,
):
    """Fit the regression set with outliers with each loss, and without outliers (chapter 3.1.2).

    A linear model per loss, through the runner (each fit is a run). Shows the fitted parameters
    against the true ones, how far the outliers moved each fit, and the errors on the clean test
    points.
    """
    names = _check_options(
        losses_, epochs, delta, beta, outlier_fraction, outlier_scale, lr, batch_size, limit
    )
    status = errors.stderr_console()
    with errors.domain_errors(), quiet_native_logs():
        from kerasdl.experiments import losses as experiment  # Keras loads inside the filter

        try:
            result = experiment.run(
                losses=names,
                epochs=epochs,
                delta=delta,
                beta=beta,
                outlier_fraction=outlier_fraction,
                outlier_scale=outlier_scale,
                learning_rate=lr,
                batch_size=batch_size,
                limit=limit,
                seed=seed,
                runs_dir=runs_dir,
                progress=lambda message: status.print(Text(message, style="dim")),
            )
        except RuntimeError as exc:  # a fit ended with a NaN loss
            errors.fail(str(exc), errors.EXIT_FAILED)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    render(result.to_dict(), safe_console(highlight=False))


def _check_options(names, epochs, delta, beta, fraction, scale, lr, batch_size, limit):
    """The parsed loss names; any bad option ends the command with exit code 2."""
    from kerasdl.experiments.losses import parse_losses  # light: no Keras at its top

    try:
        parsed = parse_losses(names)
    except ValueError as exc:
        errors.fail(f"--losses: {exc}")
    checks = (
        ("--epochs", epochs, epochs >= 1, "an integer >= 1"),
        ("--delta", delta, _finite(delta) and delta > 0, "a number > 0"),
        ("--beta", beta, _finite(beta) and beta >= 0, "a number >= 0"),
        ("--outlier-fraction", fraction, _finite(fraction) and 0 <= fraction < 1, "[0, 1)"),
        ("--outlier-scale", scale, _finite(scale) and scale >= 0, "a number >= 0"),
        ("--lr", lr, _finite(lr) and lr > 0, "a number > 0"),
        ("--batch-size", batch_size, batch_size >= 1, "an integer >= 1"),
        ("--limit", limit, limit is None or limit >= 2, "an integer >= 2"),
    )
    for option, value, ok, allowed in checks:
        if not ok:
            errors.fail(f"{option}: got {value}; allowed: {allowed}")
    return parsed


def _finite(x) -> bool:
    return math.isfinite(x)


# ---------------------------------------------------------------------------------------------
# Rendering.


def fits_table(result: dict) -> Table:
    """One row per loss: the fit with outliers against the truth and against the clean fit."""
    s = result["settings"]
    table = titled_table(
        f"Linear fits, {s['n_train']} training points ({s['n_train_outliers']} outliers), "
        f"{s['n_test']} clean test points"
    )
    table.add_column("loss")
    table.add_column("bias", justify="right")
    table.add_column("max|w-w*|", justify="right")
    table.add_column("error", justify="right")
    table.add_column("clean err", justify="right")
    table.add_column("shift", justify="right")
    table.add_column("test MSE", justify="right")
    table.add_column("test MAE", justify="right")
    table.add_column("clean MAE", justify="right")
    shifts = [fit["shift"] for fit in result["fits"]]
    smallest = min(shifts) if shifts else None
    for fit in result["fits"]:
        gap = max(abs(w - t) for w, t in zip(fit["weights"], result["true_weights"], strict=True))
        shift = Text(fmt_number(fit["shift"]))
        if len(shifts) > 1 and fit["shift"] == smallest:
            shift.stylize("bold green")
        table.add_row(
            fit["loss"],
            fmt_number(fit["bias"]),
            fmt_number(gap),
            fmt_number(fit["error"]),
            fmt_number(fit["clean_error"]),
            shift,
            fmt_number(fit["test_mse"]),
            fmt_number(fit["test_mae"]),
            fmt_number(fit["clean_test_mae"]),
        )
    ls = result["least_squares"]
    gap = max(abs(w - t) for w, t in zip(ls["weights"], result["true_weights"], strict=True))
    table.add_row(
        Text("lstsq", style="dim"),
        Text(fmt_number(ls["bias"]), style="dim"),
        Text(fmt_number(gap), style="dim"),
        Text(fmt_number(ls["error"]), style="dim"),
        Text(fmt_number(ls["clean_error"]), style="dim"),
        Text(fmt_number(ls["shift"]), style="dim"),
        "",
        "",
        "",
    )
    return table


def render(result: dict, console: Console) -> None:
    """The table, the plots, what the columns mean, and where the runs are."""
    s = result["settings"]
    console.print(
        f"regression set (seed {s['seed']}): true bias {fmt_number(result['true_bias'])}, "
        f"{len(result['true_weights'])} true weights; {s['outlier_fraction']:g} of the training "
        f"targets pushed up by {s['outlier_scale']:g}-{2 * s['outlier_scale']:g} std(y). "
        f"{s['model']}, adam lr {s['learning_rate']:g} cosine, {s['epochs']} epochs, batch "
        f"{s['batch_size']}; huber delta {s['delta']:g}, smooth_l1 beta {s['beta']:g}.",
        markup=False,
        soft_wrap=True,
    )
    console.print(fitted(fits_table(result), drop=("clean MAE", "test MAE", "clean err")))
    console.print(
        "error: ||(w, b) - (w*, b*)|| of the fit with outliers; clean err: of the same loss "
        "fitted without outliers; shift: how far the outliers moved the fit, ||(w, b) - (w, "
        "b)_clean||; test MSE/MAE: of the fit with outliers on the clean test points; clean "
        "MAE: the clean fit's. lstsq: the closed-form least-squares (MSE) minimum on the same "
        "points. Parameters are the last epoch's (last.keras).",
        style="dim",
        soft_wrap=True,
    )
    names = [fit["loss"] for fit in result["fits"]]
    labels = Text("  ".join(f"{MARKERS[i % len(MARKERS)]} {n}" for i, n in enumerate(names)))
    n = len(result["true_weights"])
    deviation = {
        fit["loss"]: [
            (i + 1, value - truth)
            for i, (value, truth) in enumerate(
                zip(
                    [*fit["weights"], fit["bias"]],
                    [*result["true_weights"], result["true_bias"]],
                    strict=True,
                )
            )
        ]
        for fit in result["fits"]
    }
    console.print()
    console.print(
        Text(f"fitted - true, per parameter (1-{n}: weights, {n + 1}: bias)", style="bold")
    )
    for line in line_plot(deviation, x_label="parameter"):
        console.print(line, soft_wrap=True)
    console.print(labels, style="dim", soft_wrap=True)
    curves = {fit["loss"]: [tuple(p) for p in fit["val_mae"]] for fit in result["fits"]}
    console.print()
    console.print(
        Text(
            "val_mae per epoch, fits with outliers (the validation set has them too)", style="bold"
        )
    )
    for line in line_plot(curves, log_y=True):
        console.print(line, soft_wrap=True)
    console.print(labels, style="dim", soft_wrap=True)
    console.print()
    console.print(f"Runs in {s['runs_dir']}; overlay them with:", markup=False, soft_wrap=True)
    console.print(f"  {result['compare_command']}", markup=False, soft_wrap=True)
