"""``kerasdl experiment init``: activation and gradient scales per layer, per initializer (3.3).

The work is `kerasdl.experiments.init.run`; this module checks the options (before TensorFlow
is imported), then prints a table, the zeros' symmetry check and three per-layer plots, or the
result as JSON with ``--json``.
"""

import json
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

# Kept equal to kerasdl.experiments.init's (a test checks), so --help imports no Keras.
DEFAULT_INITS = (
    "torch_default,xavier_uniform,xavier_normal,he_uniform,he_normal,lecun_normal,zeros,"
    "normal:0.01,normal:1.0"
)
ACTIVATIONS = ("relu", "tanh", "sigmoid", "selu")
DATA_NAMES = ("mnist-mini", "mnist")
THRESHOLD = 1000.0
# One marker per default initializer (the plot's own eight, then more).
PLOT_MARKERS = (*MARKERS, "◇", "▽", "□", "x")
VERDICT_STYLE = {"ok": "green", "vanishing": "yellow", "exploding": "red", "symmetric": "magenta"}
FLAG_TEXT = {
    "act-vanish": "act↓",
    "act-explode": "act↑",
    "grad-vanish": "∇↓",
    "grad-explode": "∇↑",
    "nonfinite": "nan",
}


def init(
    depth: Annotated[int, typer.Option(help="Hidden Dense layers.", metavar="N")] = 10,
    width: Annotated[int, typer.Option(help="Units per hidden layer.", metavar="N")] = 256,
    activation: Annotated[
        str, typer.Option(help=f"Hidden activation: {', '.join(ACTIVATIONS)}.", metavar="NAME")
    ] = "relu",
    inits: Annotated[
        str,
        typer.Option(
            help="Initializers, comma-separated: kerasdl's names, or normal:STD for a "
            "zero-mean normal of that standard deviation.",
            metavar="NAMES",
        ),
    ] = DEFAULT_INITS,
    batch_size: Annotated[int, typer.Option(help="Examples in the batch.", metavar="N")] = 256,
    steps: Annotated[
        int, typer.Option(help="SGD steps of the zeros' symmetry check.", metavar="N")
    ] = 5,
    threshold: Annotated[
        float,
        typer.Option(
            help="Flag a layer whose activation std (vs layer 1) or gradient (vs the output "
            "layer) changed by more than this factor.",
            metavar="X",
        ),
    ] = THRESHOLD,
    data: Annotated[
        str, typer.Option(help="Dataset: mnist-mini or mnist.", metavar="NAME")
    ] = "mnist-mini",
    data_dir: opt.DataDir = None,
    seed: Annotated[int, typer.Option(help="Seeds the weights and the batch.", metavar="N")] = 42,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON (nothing else on stdout).")
    ] = False,
):
    """One batch forward and backward through a deep MLP per initializer (chapter 3.3).

    Per layer: the activation standard deviation, the kernel's gradient norm and the gradient
    flowing back into the layer, flagged where they vanish or explode; for zeros, proof that the
    units of every hidden layer stay identical after SGD steps. Trains no run.
    """
    names = _check_options(depth, width, activation, inits, batch_size, steps, threshold, data)
    status = errors.stderr_console()
    with errors.domain_errors(), quiet_native_logs():
        from kerasdl.experiments import init as experiment  # Keras loads inside the filter

        try:
            result = experiment.run(
                inits=names,
                depth=depth,
                width=width,
                activation=activation,
                batch_size=batch_size,
                steps=steps,
                threshold=threshold,
                data=data,
                data_dir=data_dir,
                seed=seed,
                progress=lambda message: status.print(Text(message, style="dim")),
            )
        except ValueError as exc:
            if errors.domain_error_kind(exc) is not None:
                raise
            errors.fail(str(exc))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    render(result.to_dict(), safe_console(highlight=False))


def _check_options(depth, width, activation, inits, batch_size, steps, threshold, data):
    """The parsed initializer names; any bad option ends the command with exit code 2."""
    # Upper bounds keep the network in memory (50 x 4096^2 float32 weights: 3.4 GB) and the
    # symmetry check short; the batch is bounded by the training examples (the experiment).
    for option, value, low, high in (
        ("--depth", depth, 1, 50),
        ("--width", width, 1, 4096),
        ("--batch-size", batch_size, 1, None),
        ("--steps", steps, 0, 10_000),
    ):
        if value < low or (high is not None and value > high):
            allowed = f"an integer from {low} to {high}" if high else f"an integer >= {low}"
            errors.fail(f"{option}: got {value}; allowed: {allowed}")
    if activation not in ACTIVATIONS:
        errors.fail(f"--activation: got {activation!r}; allowed: {', '.join(ACTIVATIONS)}")
    if data not in DATA_NAMES:
        errors.fail(f"--data: got {data!r}; allowed: {', '.join(DATA_NAMES)}")
    if not threshold > 1 or threshold == float("inf"):
        errors.fail(f"--threshold: got {threshold}; allowed: a finite number > 1")
    from kerasdl.experiments.init import parse_inits  # light: no Keras at its top

    try:
        return parse_inits(inits)
    except ValueError as exc:
        errors.fail(f"--inits: {exc}")


# ---------------------------------------------------------------------------------------------
# Rendering.


def _ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3,7"``."""
    parts, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return ",".join(parts)


def flagged_text(layers: list[dict]) -> str:
    """``"act↓ 9-11; ∇↓ 1-3"``: which layers carry which flag."""
    parts = []
    for flag, short in FLAG_TEXT.items():
        where = [layer["layer"] for layer in layers if flag in layer["flags"]]
        if where:
            parts.append(f"{short} {_ranges(where)}")
    return "; ".join(parts) or "-"


def summary_table(result: dict) -> Table:
    """One row per initializer: first/last activation std, gradient ratios, flags, verdict."""
    s = result["settings"]
    table = titled_table(
        f"{s['depth']} x {s['width']} {s['activation']} layers, one batch of {s['batch_size']}"
    )
    table.add_column("initializer")
    table.add_column("std 1", justify="right")
    table.add_column(f"std {s['depth']}", justify="right")
    table.add_column(f"∇W 1/{s['depth'] + 1}", justify="right")
    table.add_column(f"∇h 1/{s['depth'] + 1}", justify="right")
    table.add_column("flagged layers", overflow="fold")
    table.add_column("verdict")
    for r in result["results"]:
        table.add_row(
            r["name"],
            fmt_number(r["first_activation_std"]),
            fmt_number(r["last_activation_std"]),
            fmt_number(r["grad_ratio"]),
            fmt_number(r["backprop_ratio"]),
            flagged_text(r["layers"]),
            Text(r["verdict"], style=VERDICT_STYLE.get(r["verdict"], "")),
        )
    return table


def symmetry_table(symmetry: dict) -> Table:
    """Per hidden layer after the zeros' SGD steps: how far the units differ, how far W moved."""
    table = titled_table(
        f"zeros after {symmetry['steps']} SGD steps (lr {symmetry['learning_rate']:g}) on the batch"
    )
    table.add_column("layer", justify="right")
    table.add_column("max |W[:,i] - W[:,0]|", justify="right")
    table.add_column("max |h[:,i] - h[:,0]|", justify="right")
    table.add_column("max |W|", justify="right")
    for row in symmetry["layers"]:
        table.add_row(
            str(row["layer"]),
            _exact(row["kernel_max_diff"]),
            _exact(row["activation_max_diff"]),
            _exact(row["kernel_max_abs"]),
        )
    return table


def symmetry_sentence(symmetry: dict) -> Text:
    """What the zeros' check found, from the same ``identical`` flag as the verdict."""
    if not symmetry["identical"]:
        return Text(
            f"Some units differ by more than {symmetry['rtol']:g} of the largest |W| or |h|: "
            "the symmetry broke.",
            style="red",
        )
    how = (
        "exactly"
        if symmetry["exact"]
        else f"up to round-off: within {symmetry['rtol']:g} of the largest |W| and |h|"
    )
    return Text(
        f"The units of every hidden layer are still identical ({how}): zero weights never "
        "break the symmetry (3.3.2)."
    )


def _exact(value) -> str:
    return "0 (exact)" if value == 0 else fmt_number(value)


def render(result: dict, console: Console) -> None:
    """The table, the zeros' check, the per-layer plots and how the flags are set."""
    s = result["settings"]
    console.print(
        f"data: {s['data']} ({s['data_source']}), seed {s['seed']}, backend {s['backend']}",
        markup=False,
        soft_wrap=True,
    )
    if result.get("notice"):
        console.print(Text(result["notice"], style="yellow"), soft_wrap=True)
    console.print(fitted(summary_table(result), wrap=("flagged layers",)))
    for r in result["results"]:
        if r["symmetry"] is None:
            continue
        console.print(fitted(symmetry_table(r["symmetry"])))
        console.print(symmetry_sentence(r["symmetry"]), soft_wrap=True)
    depth = s["depth"]
    for key, title in (
        ("activation_std", "activation std per layer"),
        ("kernel_grad_norm", "kernel gradient norm ||dL/dW|| per layer"),
        ("backprop_grad_norm", "backprop gradient norm ||dL/dh|| per layer"),
    ):
        series = {
            r["name"]: [
                (layer["layer"], layer[key]) for layer in r["layers"] if layer[key] is not None
            ]
            for r in result["results"]
        }
        console.print()
        console.print(Text(f"{title} (log scale; layer {depth + 1} is the output)", style="bold"))
        for line in line_plot(series, x_label="layer", log_y=True, markers=PLOT_MARKERS):
            console.print(line, soft_wrap=True)
        labels = [f"{PLOT_MARKERS[i % len(PLOT_MARKERS)]} {name}" for i, name in enumerate(series)]
        console.print(Text("  ".join(labels)), style="dim", soft_wrap=True)
    t = f"{s['threshold']:g}"
    console.print()
    console.print(
        f"Flags: act↓/act↑ a layer's activation std is below 1/{t} or above {t} times layer "
        f"1's; ∇↓/∇↑ its kernel gradient or backprop gradient is below 1/{t} or above {t} "
        f"times the output layer's; nan: not finite. Verdict: symmetric (hidden units start "
        f"identical), else exploding, vanishing or ok by the flags. ∇W 1/{depth + 1} and "
        f"∇h 1/{depth + 1}: first layer over output layer. Zero values are left out of the "
        "log plots.",
        soft_wrap=True,
        markup=False,
    )
