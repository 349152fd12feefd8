"""Option types the ``kerasdl`` commands share.

Each is an ``Annotated`` type, so a command declares ``runs_dir: RunsDir = Path("runs")`` and
every command spells, documents and groups the option the same way. Nothing here imports more
than Typer.
"""

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

# Help panels of `kerasdl train --help`.
DATA = "Data"
MODEL = "Model"
OPTIMIZATION = "Optimization"
RUN = "Run"

# Names the config accepts; the help texts list them (a test checks they agree with kerasdl.config).
DATASETS = ("mnist", "mnist-mini", "regression")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("none", "step", "exponential", "cosine", "noam")
STRATEGIES = ("default", "mirrored", "multi-worker")


class UI(str, Enum):
    """How `kerasdl train` shows a run."""

    auto = "auto"
    tui = "tui"
    plain = "plain"
    none = "none"


def _names(names):
    return ", ".join(names)


# Options more than one command uses.
RunsDir = Annotated[
    Path,
    typer.Option(
        "--runs-dir",
        help="Folder that holds the run directories.",
        envvar="KERASDL_RUNS_DIR",
        file_okay=False,
        metavar="DIR",
    ),
]
DataDir = Annotated[
    str | None,
    typer.Option(
        "--data-dir",
        help="Folder with the four MNIST IDX .gz files or mnist.npz (else $KERASDL_DATA_DIR).",
        show_default=False,
        metavar="DIR",
    ),
]
RunArg = Annotated[
    str, typer.Argument(help="A run id in the runs folder, or the path of a run directory.")
]

# `kerasdl train`: every option defaults to None, meaning "as the config file (or preset) says".
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML file with the run's config (default: the chapter's preset).",
        exists=True,
        dir_okay=False,
        show_default=False,
        rich_help_panel=RUN,
        metavar="FILE",
    ),
]
Dataset = Annotated[
    str | None,
    typer.Option(
        help=f"Dataset: {_names(DATASETS)}.",
        show_default=False,
        rich_help_panel=DATA,
        metavar="NAME",
    ),
]
TrainDataDir = Annotated[
    str | None,
    typer.Option(
        "--data-dir",
        help="Folder with the four MNIST IDX .gz files or mnist.npz (else $KERASDL_DATA_DIR).",
        show_default=False,
        rich_help_panel=DATA,
        metavar="DIR",
    ),
]
Limit = Annotated[
    int | None,
    typer.Option(
        help="Use at most N training and N test examples (quick runs).",
        show_default=False,
        rich_help_panel=DATA,
        metavar="N",
    ),
]
BatchSize = Annotated[
    int | None,
    typer.Option(help="Examples per batch.", show_default=False, rich_help_panel=DATA, metavar="N"),
]
Hidden = Annotated[
    str | None,
    typer.Option(
        help="Hidden layer sizes, comma-separated (e.g. 256,128).",
        show_default=False,
        rich_help_panel=MODEL,
        metavar="SIZES",
    ),
]
BatchNorm = Annotated[
    str | None,
    typer.Option(
        help="Batch norm per hidden layer, comma-separated (e.g. true,false).",
        show_default=False,
        rich_help_panel=MODEL,
        metavar="FLAGS",
    ),
]
Dropout = Annotated[
    str | None,
    typer.Option(
        help="Dropout rate per hidden layer, comma-separated (e.g. 0.5,0.0).",
        show_default=False,
        rich_help_panel=MODEL,
        metavar="RATES",
    ),
]
Activation = Annotated[
    str | None,
    typer.Option(
        help="Hidden activation (e.g. relu).",
        show_default=False,
        rich_help_panel=MODEL,
        metavar="NAME",
    ),
]
Initializer = Annotated[
    str | None,
    typer.Option(
        help="Weight initializer (e.g. torch_default, xavier_uniform, he_normal).",
        show_default=False,
        rich_help_panel=MODEL,
        metavar="NAME",
    ),
]
Regularizer = Annotated[
    str | None,
    typer.Option(
        help="Weight regularizer: none, l1, l2, l1l2 (strengths with --set model.l1=/model.l2=).",
        show_default=False,
        rich_help_panel=MODEL,
        metavar="NAME",
    ),
]
Loss = Annotated[
    str | None,
    typer.Option(
        help="Loss: cross_entropy (classification); mse, mae, huber, smooth_l1 (regression).",
        show_default=False,
        rich_help_panel=MODEL,
        metavar="NAME",
    ),
]
Epochs = Annotated[
    int | None,
    typer.Option(
        help="Epochs to train.", show_default=False, rich_help_panel=OPTIMIZATION, metavar="N"
    ),
]
Optimizer = Annotated[
    str | None,
    typer.Option(
        help=f"Optimizer: {_names(OPTIMIZERS)}.",
        show_default=False,
        rich_help_panel=OPTIMIZATION,
        metavar="NAME",
    ),
]
LearningRate = Annotated[
    float | None,
    typer.Option(
        "--lr",
        help="Learning rate.",
        show_default=False,
        rich_help_panel=OPTIMIZATION,
        metavar="RATE",
    ),
]
WeightDecay = Annotated[
    float | None,
    typer.Option(
        help="Weight decay (decoupled for adamw).",
        show_default=False,
        rich_help_panel=OPTIMIZATION,
        metavar="X",
    ),
]
Momentum = Annotated[
    float | None,
    typer.Option(
        help="Momentum (momentum, nesterov, rmsprop).",
        show_default=False,
        rich_help_panel=OPTIMIZATION,
        metavar="X",
    ),
]
Schedule = Annotated[
    str | None,
    typer.Option(
        help=f"Learning-rate schedule: {_names(SCHEDULES)}.",
        show_default=False,
        rich_help_panel=OPTIMIZATION,
        metavar="NAME",
    ),
]
WarmupEpochs = Annotated[
    int | None,
    typer.Option(
        help="Epochs of linear warmup in front of the schedule.",
        show_default=False,
        rich_help_panel=OPTIMIZATION,
        metavar="N",
    ),
]
EarlyStopping = Annotated[
    bool | None,
    typer.Option(
        "--early-stopping/--no-early-stopping",
        help="Stop when the monitored metric stops improving.",
        show_default=False,
        rich_help_panel=OPTIMIZATION,
    ),
]
Patience = Annotated[
    int | None,
    typer.Option(
        help="Early stopping: epochs without improvement before stopping.",
        show_default=False,
        rich_help_panel=OPTIMIZATION,
        metavar="N",
    ),
]
Plateau = Annotated[
    bool | None,
    typer.Option(
        "--plateau/--no-plateau",
        help="Reduce the learning rate when the monitored metric plateaus.",
        show_default=False,
        rich_help_panel=OPTIMIZATION,
    ),
]
Seed = Annotated[
    int | None,
    typer.Option(help="Random seed.", show_default=False, rich_help_panel=RUN, metavar="N"),
]
RunName = Annotated[
    str | None,
    typer.Option(
        help="Run id (default: UTC timestamp + short hash).",
        show_default=False,
        rich_help_panel=RUN,
        metavar="NAME",
    ),
]
TrainRunsDir = Annotated[
    str | None,
    typer.Option(
        "--runs-dir",
        help="Folder that holds the run directories (config default: runs).",
        envvar="KERASDL_RUNS_DIR",
        show_default=False,
        rich_help_panel=RUN,
        metavar="DIR",
    ),
]
StepsPerExecution = Annotated[
    int | None,
    typer.Option(
        help="Batches per compiled call (fewer Python round trips).",
        show_default=False,
        rich_help_panel=RUN,
        metavar="N",
    ),
]
Jit = Annotated[
    bool | None,
    typer.Option(
        "--jit/--no-jit",
        help="XLA-compile the train step (default: auto).",
        show_default=False,
        rich_help_panel=RUN,
    ),
]
Strategy = Annotated[
    str | None,
    typer.Option(
        help=f"Distribution strategy: {_names(STRATEGIES)}.",
        show_default=False,
        rich_help_panel=RUN,
        metavar="NAME",
    ),
]
Set = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        help="Any config key, dotted: --set optimizer.beta_2=0.99 (repeatable; applied last).",
        metavar="KEY=VALUE",
        show_default=False,
        rich_help_panel=RUN,
    ),
]
Resume = Annotated[
    str | None,
    typer.Option(
        help="Continue a run from its last.keras: a run id in the runs folder or a path.",
        metavar="RUN",
        show_default=False,
        rich_help_panel=RUN,
    ),
]
UIOption = Annotated[
    UI,
    typer.Option(
        "--ui",
        help="tui: the dashboard (keys: s stop, q quit, l log scale, ? help); plain: progress "
        "bar and a line per epoch; none: only the final lines; auto: the dashboard when stdout "
        "is a terminal of 80x24 or more, else plain (saying why).",
        case_sensitive=False,
        rich_help_panel=RUN,
    ),
]
