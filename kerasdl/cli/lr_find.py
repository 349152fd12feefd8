"""``kerasdl lr-find``: the learning-rate range test (Smith 2017, sec. 3.3; fastai's ``lr_find``).

Options and the config are checked before TensorFlow is imported; the test itself is
`kerasdl.experiments.lr_find.run`. Output: the smoothed loss against a logarithmic learning rate,
with the suggestions marked, and a table; ``--json`` prints the result's ``to_dict()`` alone.
A JSON record goes to ``RUNS_DIR/<stamp>-lr-find.json`` unless ``--no-save``.
"""

import dataclasses
import json
import math
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from kerasdl.cli import errors
from kerasdl.cli import options as opt
from kerasdl.cli.config_options import config_options, flagged, option_help
from kerasdl.cli.console import safe_console
from kerasdl.cli.fit import fitted
from kerasdl.cli.plain import titled_table
from kerasdl.cli.plot import line_plot

_TEST = "Range test"
#: Steps at most (a range test is a few hundred; the rates are held in memory).
MAX_STEPS = 100_000


def _options():
    """The config fields lr-find offers (declared in `kerasdl.config`); its dataset defaults to
    mnist-mini."""
    offered = flagged(["data.name", "data.data_dir", "data.limit", "optimizer.name", "seed"])
    offered += flagged(["runs_dir"])
    return [
        dataclasses.replace(
            o,
            help=option_help(o.spec).rstrip(".")
            + " (default: the --config file's, else mnist-mini).",
        )
        if o.spec.key == "data.name"
        else o
        for o in offered
    ]


LR_FIND_OPTIONS = _options()
#: Option parameter -> the dotted config key it sets.
FLAG_KEYS = {o.param: o.spec.key for o in LR_FIND_OPTIONS}


@config_options(LR_FIND_OPTIONS)
def lr_find(
    config_values: dict,
    config_file: opt.ConfigFile = None,
    start_lr: Annotated[
        float, typer.Option(help="Learning rate of the first step.", rich_help_panel=_TEST)
    ] = 1e-7,
    end_lr: Annotated[
        float, typer.Option(help="Learning rate of the last step.", rich_help_panel=_TEST)
    ] = 10.0,
    steps: Annotated[
        int,
        typer.Option(help="Steps (batches) from --start-lr to --end-lr.", rich_help_panel=_TEST),
    ] = 200,
    smoothing: Annotated[
        float,
        typer.Option(help="Beta of the smoothed loss, in [0, 1).", rich_help_panel=_TEST),
    ] = 0.98,
    diverge: Annotated[
        float,
        typer.Option(
            help="Stop once the smoothed loss exceeds this times its minimum (> 1).",
            rich_help_panel=_TEST,
        ),
    ] = 4.0,
    set_: opt.Set = None,
    save: Annotated[
        bool,
        typer.Option(
            "--save/--no-save",
            help="Write a JSON record to RUNS_DIR/<stamp>-lr-find.json (no model is saved).",
            rich_help_panel=opt.RUN,
        ),
    ] = True,
    width: Annotated[
        int, typer.Option(help="Plot width in characters (20-500).", min=20, max=500)
    ] = 60,
    height: Annotated[int, typer.Option(help="Plot height in lines (4-200).", min=4, max=200)] = 14,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON instead.")
    ] = False,
):
    """Find a learning rate: train a scratch copy of the network for --steps batches while the
    rate grows exponentially from --start-lr to --end-lr, and plot the smoothed loss against it.

    Suggests the rate of steepest descent of the smoothed loss, and the rate of its minimum
    divided by 10 (fastai's lr_find). Stops early once the loss diverges. The network, optimizer,
    loss and data are the --config file's (default: the chapter's preset on mnist-mini).
    """
    check_settings(start_lr, end_lr, steps, smoothing, diverge)
    values = dict(config_values)
    if config_file is None:
        values.setdefault("data.name", "mnist-mini")
    with errors.domain_errors():
        config = build_config(config_file, values, set_ or [])

    from kerasdl.cli.native_logs import import_runner, quiet_native_logs

    console = errors.stderr_console()

    def progress(message: str) -> None:
        console.print(Text(message, style="dim"), soft_wrap=True)

    with errors.domain_errors(), quiet_native_logs():
        import_runner()
        from kerasdl import runs
        from kerasdl.experiments import lr_find as experiment

        if save:
            runs.check_writable(config.runs_dir)  # before training, not after
        result = experiment.run(
            config,
            start_lr=start_lr,
            end_lr=end_lr,
            steps=steps,
            smoothing=smoothing,
            diverge=diverge,
            progress=progress,
        )
        if save:
            experiment.save_record(result, config.runs_dir, runs.new_run_id())
    if json_output:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    render(result, width=width, height=height)


def check_settings(start_lr, end_lr, steps, smoothing, diverge) -> None:
    """Exit 2 with one line naming the option, unless the range test's settings make sense."""

    def bad(option, value, allowed):
        errors.fail(f"{option}: got {value!r}; allowed: {allowed}")

    if not (math.isfinite(start_lr) and start_lr > 0):
        bad("--start-lr", start_lr, "a number > 0")
    if not (math.isfinite(end_lr) and end_lr > start_lr):
        bad("--end-lr", end_lr, f"a finite number > --start-lr ({start_lr:g})")
    if not 10 <= steps <= MAX_STEPS:
        bad("--steps", steps, f"an integer in [10, {MAX_STEPS}]")
    if not (0 <= smoothing < 1):
        bad("--smoothing", smoothing, "a number in [0, 1)")
    if not (math.isfinite(diverge) and diverge > 1):
        bad("--diverge", diverge, "a number > 1")


def build_config(config_file, values: dict, sets: list[str]):
    """The validated `TrainConfig`: the --config file (or the preset), the options (``values``:
    dotted key -> value), --set."""
    from kerasdl.config import TrainConfig, parse_assignments

    config = TrainConfig.from_toml(config_file) if config_file is not None else TrainConfig()
    overrides = dict(values)
    overrides.update(parse_assignments(sets))
    return config.override(overrides).validate()


def _lr(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def render(result, *, width: int, height: int) -> None:
    """The plot (smoothed loss against lr, suggestions marked) and the table."""
    console = safe_console(highlight=False)
    c = result.config
    console.print(
        Text.assemble(
            ("Learning-rate range test: ", "bold"),
            f"{c['optimizer']} on {c['dataset']} ({c['n_train']} training examples), "
            f"batch {c['batch_size']}, seed {c['seed']}",
        ),
        soft_wrap=True,
    )
    console.print()
    curve = [
        (lr, loss)
        for lr, loss in zip(result.lrs, result.smoothed, strict=True)
        if math.isfinite(loss)
    ]
    clipped = False
    if curve:  # the blow-up would squash the rest: clip at the stopping threshold
        low = min(loss for _, loss in curve)
        cap = result.diverge * low if low > 0 else math.inf
        clipped = any(loss > cap for _, loss in curve)
        curve = [(lr, min(loss, cap)) for lr, loss in curve]
    series = {}
    marks = (("steepest", "┃"), ("minimum_div_10", "┆"))
    if curve:
        high = max(loss for _, loss in curve)
        for key, _ in marks:
            lr = result.suggestions.get(key)
            if lr is not None:
                span = [low + (high - low) * r / (height - 1) for r in range(height)]
                series[key] = [(lr, y) for y in span]
    series["smoothed loss"] = curve
    markers = [*(m for key, m in marks if key in series), "●"]
    colours = [*("green", "yellow")[: len(series) - 1], "cyan"]
    for line in line_plot(
        series,
        width=width,
        height=height,
        x_label="lr",
        log_x=True,
        markers=markers,
        colours=colours,
    ):
        console.print(line, soft_wrap=True)
    legend = ["● smoothed loss"]
    if "steepest" in series:
        legend.append("┃ steepest descent")
    if "minimum_div_10" in series:
        legend.append("┆ minimum / 10")
    if clipped:
        legend.append(f"(loss clipped at {result.diverge:g} x its minimum)")
    console.print(Text("   ".join(legend), style="dim"), soft_wrap=True)
    console.print()
    console.print(fitted(result_table(result), wrap=("note",)))
    if result.record:
        console.print(Text(f"record: {result.record}", style="dim"), soft_wrap=True)


def result_table(result) -> Table:
    """Suggestions, steps run and why the test stopped."""
    table = titled_table("Range test")
    table.add_column("")
    table.add_column("lr", justify="right")
    table.add_column("note")
    s = result.suggestions
    table.add_row(
        "steepest descent", _lr(s["steepest"]), "the smoothed loss falls fastest", style="bold"
    )
    table.add_row("minimum / 10", _lr(s["minimum_div_10"]), "a tenth of the lowest loss's rate")
    minimum = s["minimum"]
    if minimum is not None:
        table.add_row("lowest loss", _lr(minimum["lr"]), f"smoothed loss {minimum['loss']:.4g}")
    why = {
        "completed": "reached --end-lr",
        "diverged": f"smoothed loss above {result.diverge:g} x its minimum",
        "not_finite": "the loss became NaN or infinite",
    }[result.stop_reason]
    table.add_row("steps run", "", f"{result.steps_run} of {result.steps}")
    table.add_row("stopped at", _lr(result.stop_lr), f"{result.stop_reason}: {why}")
    return table
