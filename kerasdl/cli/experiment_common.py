"""What the ``kerasdl experiment`` commands that train share: option types, the check of the
shared options (before TensorFlow is imported), running an experiment with TensorFlow's start-up
noise filtered, and printing JSON, plots and where the runs are.

Used by `kerasdl.cli.experiment_optimizers` and `kerasdl.cli.experiment_regularization`.
Imports only Typer and Rich.
"""

import importlib
import json
import math
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from kerasdl.cli import errors
from kerasdl.cli.console import safe_console
from kerasdl.cli.plot import MARKERS, line_plot

#: The datasets a classification experiment accepts.
EXPERIMENT_DATASETS = ("mnist-mini", "mnist")

ExperimentData = Annotated[
    str,
    typer.Option("--data", help=f"Dataset: {', '.join(EXPERIMENT_DATASETS)}.", metavar="NAME"),
]
ExperimentSeed = Annotated[
    int,
    typer.Option(help="Seed: initial weights, data split and order, dropout masks.", metavar="N"),
]
ExperimentLimit = Annotated[
    int | None,
    typer.Option(
        help="Use at most N training and N test examples (quick tries).",
        show_default=False,
        metavar="N",
    ),
]
ExperimentEpochs = Annotated[int, typer.Option(help="Epochs per variant.", metavar="N")]
Json = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON (nothing else on stdout).")
]


def check_common(*, data: str, epochs: int, seed: int, limit: int | None) -> None:
    """Fail (exit 2, one line) on a bad shared option, before TensorFlow is imported."""
    if data not in EXPERIMENT_DATASETS:
        errors.fail(f"--data: got {data!r}; allowed: {', '.join(EXPERIMENT_DATASETS)}")
    if epochs < 1:
        errors.fail(f"--epochs: got {epochs}; allowed: an integer >= 1")
    if not 0 <= seed < 2**32:
        errors.fail(f"--seed: got {seed}; allowed: an integer in [0, 2**32)")
    if limit is not None and limit < 1:
        errors.fail(f"--limit: got {limit}; allowed: an integer >= 1")


def progress_printer() -> Callable[[str], None]:
    """One dim line on stderr per progress note (``--json`` or not: stdout stays clean)."""
    console = errors.stderr_console()

    def progress(line: str) -> None:
        console.print(Text(line, style="dim"))

    return progress


def run_experiment(name: str, **kwargs):
    """Call ``kerasdl.experiments.<name>.run(**kwargs)`` with TensorFlow's logs kept quiet
    (`kerasdl.cli.native_logs.quiet_native_logs`: the module, which imports Keras, is imported
    inside it).

    That includes TensorFlow's Python warnings about retracing (every variant builds a new model
    in this process). Domain errors (data, config, runs folder) become one line and exit code 2.
    """
    from kerasdl.cli.native_logs import import_runner, quiet_native_logs

    with errors.domain_errors(os_errors=False), quiet_native_logs():
        import_runner()  # the backend loads inside the filter
        module = importlib.import_module(f"kerasdl.experiments.{name}")
        return module.run(**kwargs)


def print_json(result) -> None:
    """Exactly ``json.dumps(result.to_dict(), indent=2)`` on stdout."""
    typer.echo(json.dumps(result.to_dict(), indent=2))


def stdout_console() -> Console:
    return safe_console(highlight=False)


def best_index(values, direction: str) -> int | None:
    """The index of the best finite value (``"min"`` or ``"max"``), if there are two or more."""
    finite = [
        (v, i) for i, v in enumerate(values) if isinstance(v, (int, float)) and math.isfinite(v)
    ]
    if len(finite) < 2:
        return None
    return (min(finite) if direction == "min" else max(finite))[1]


def print_plot(console: Console, title: str, series: dict, *, log_y: bool = False) -> None:
    """A titled `line_plot` of ``{name: [(epoch, value), ...]}`` and its legend."""
    console.print()
    console.print(Text(title, style="bold"))
    for line in line_plot(series, log_y=log_y):
        console.print(line, soft_wrap=True)
    legend = [f"{MARKERS[i % len(MARKERS)]} {name}" for i, name in enumerate(series)]
    console.print(Text("   ".join(legend)), style="dim", soft_wrap=True)


def print_runs(console: Console, result, run_ids: list[str]) -> None:
    """Where the runs are and how to overlay them."""
    console.print()
    console.print(f"Runs in {result.runs_dir}: {', '.join(run_ids)}", markup=False, soft_wrap=True)
    console.print(f"Overlay them: {result.compare_command}", markup=False, soft_wrap=True)
