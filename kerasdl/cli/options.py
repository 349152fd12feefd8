"""Option types the ``kerasdl`` commands share.

Each is an ``Annotated`` type, so a command declares ``runs_dir: RunsDir = Path("runs")`` and
every command spells, documents and groups the option the same way. The options that set a
config field are made from the field's declaration (`kerasdl.cli.config_options`). Nothing here
imports more than Typer and `kerasdl.config`.
"""

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from kerasdl import config
from kerasdl.config import PANELS

# Help panels (`kerasdl train --help`); the names the config accepts.
DATA, MODEL, OPTIMIZATION, RUN = PANELS
DATASETS = config.DATASETS
OPTIMIZERS = tuple(config.OPTIMIZERS)
SCHEDULES = tuple(config.SCHEDULES)
STRATEGIES = config.STRATEGIES
_SPECS = {spec.key: spec for spec in config.field_specs()}


class UI(str, Enum):
    """How `kerasdl train` shows a run."""

    auto = "auto"
    tui = "tui"
    plain = "plain"
    none = "none"


# Options more than one command uses; their help is the config field's (`kerasdl.config`).
RunsDir = Annotated[
    Path,
    typer.Option(
        "--runs-dir",
        help=_SPECS["runs_dir"].help[0].upper() + _SPECS["runs_dir"].help[1:] + ".",
        envvar="KERASDL_RUNS_DIR",
        file_okay=False,
        metavar="DIR",
    ),
]
DataDir = Annotated[
    str | None,
    typer.Option(
        "--data-dir",
        help=_SPECS["data.data_dir"].help[0].upper() + _SPECS["data.data_dir"].help[1:] + ".",
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
