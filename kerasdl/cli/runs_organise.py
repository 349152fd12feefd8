"""``kerasdl runs tag|note|rename|delete|restore``, and what ``runs list``, ``show`` and
``compare`` take from `kerasdl.run_meta` and `kerasdl.hparams`: the filter and sort of a list,
tags and notes, and the table of the settings that differ between runs.

Everything read from a run directory (tags, notes, setting keys and values) is printed inert
(`kerasdl.safe_text`). Light: no TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from kerasdl import safe_text
from kerasdl.cli import errors
from kerasdl.cli import options as opt
from kerasdl.cli.console import safe_console
from kerasdl.cli.plain import plural, titled_table

__all__ = [
    "FilterOption",
    "ReverseOption",
    "SortOption",
    "StatusOption",
    "TagOption",
    "organised",
    "register",
    "settings_table",
    "tags_text",
]

TagOption = Annotated[
    list[str] | None,
    typer.Option(
        "--tag",
        "-t",
        help="Only runs with this tag (repeatable: every one). Experiments tag their runs "
        "with the experiment's name.",
        show_default=False,
    ),
]
StatusOption = Annotated[
    str | None,
    typer.Option(
        "--status",
        help="Only runs of this status (completed, early_stopped, running, unfinished...).",
        show_default=False,
    ),
]
FilterOption = Annotated[
    str | None,
    typer.Option(
        "--filter",
        "-f",
        help="Only runs that match every word: text in the id, tags, note or data name (or a "
        "glob: '*adam*'); tag:T, status:S, or a setting KEY=VALUE (optimizer.name=adam).",
        metavar="PATTERN",
        show_default=False,
    ),
]
SortOption = Annotated[
    str | None,
    typer.Option(
        "--sort",
        help="Sort by started, name, status, best, epochs, duration, a metric of the last epoch "
        "(val_loss), a test metric (test_accuracy) or a setting (optimizer.learning_rate); "
        "runs without it go last.",
        metavar="KEY",
        show_default=False,
    ),
]
ReverseOption = Annotated[
    bool, typer.Option("--reverse", "-r", help="Sort the other way (highest first).")
]


def _console():
    return safe_console(highlight=False)


def organised(
    infos: list,
    *,
    tags: list[str] | None = None,
    status: str | None = None,
    pattern: str | None = None,
    sort: str | None = None,
    reverse: bool = False,
) -> list:
    """The runs of ``infos`` that have every tag, the status and match the pattern
    (`kerasdl.run_meta.matches`), sorted by ``sort`` (`kerasdl.run_meta.sort_runs`); exits
    with code 2 on an unknown sort key."""
    from kerasdl import run_meta

    if tags or status or pattern:
        kept = []
        for info in infos:
            meta = run_meta.read_meta(info.path)
            if tags and not all(tag in meta.tags for tag in tags):
                continue
            if status and str(info.status) != status:
                continue
            if pattern and not run_meta.matches(info, meta, pattern):
                continue
            kept.append(info)
        infos = kept
    if sort:
        with errors.domain_errors():
            infos = run_meta.sort_runs(infos, sort, reverse=reverse)
    elif reverse:
        infos = list(reversed(infos))
    return infos


def tags_text(run_dir) -> str:
    """The run's tags, comma-separated (``-`` without), for a table cell (made inert by it)."""
    from kerasdl import run_meta

    return ", ".join(run_meta.read_meta(run_dir).tags) or "-"


def meta_rows(run_dir) -> list[tuple[str, object]]:
    """``runs show``'s ``tags`` and ``note`` lines (none without), and meta.json's problems."""
    from kerasdl import run_meta

    meta = run_meta.read_meta(run_dir)
    rows: list[tuple[str, object]] = []
    if meta.tags:
        rows.append(("tags", safe_text.text(", ".join(meta.tags))))
    if meta.note:
        rows.append(("note", safe_text.text(meta.note)))
    if meta.problems:
        rows.append(("meta.json", safe_text.text("; ".join(meta.problems), style="yellow")))
    return rows


def settings_table(infos: list, labels: list[str], *, every: bool = False):
    """The settings of ``infos`` (`kerasdl.hparams.settings`): those that differ, one column
    each and one row per run (``labels``: how each run is named); with ``every``, every key,
    one row each and one column per run. None when no setting differs (nor any exists)."""
    from kerasdl import hparams

    flats = [hparams.settings(info) for info in infos]
    keys = hparams.differing(flats, every=every)
    if not keys:
        return None
    if every:
        table = titled_table("Settings")
        table.add_column("setting")
        for label in labels:
            table.add_column(safe_text.text(label), justify="right")
        for key in keys:
            cells = [hparams.value_text(flat.get(key), key not in flat) for flat in flats]
            table.add_row(safe_text.text(key), *(safe_text.text(c) for c in cells))
        return table
    table = titled_table("Settings that differ")
    table.add_column("run")
    for key in keys:  # "optimizer.learning_rate" over two lines: optimizer / learning_rate
        header = Text("\n".join(safe_text.inert(part) for part in key.rsplit(".", 1)))
        table.add_column(header, justify="right")
    for label, flat in zip(labels, flats, strict=True):
        cells = [hparams.value_text(flat.get(key), key not in flat) for key in keys]
        table.add_row(safe_text.text(label), *(safe_text.text(c) for c in cells))
    return table


# ----------------------------------------------------------------------------- commands


def _run_dir(run: str, runs_dir: Path) -> Path:
    from kerasdl import runs

    with errors.domain_errors():
        return runs.resolve_run_dir(run, runs_dir)


def _say(text: str) -> None:
    _console().print(safe_text.text(text), soft_wrap=True)


def tag(
    run: opt.RunArg,
    tags: Annotated[list[str], typer.Argument(help="The tags (A-Z a-z 0-9 . _ + : = @ -).")],
    runs_dir: opt.RunsDir = Path("runs"),
    remove: Annotated[
        bool, typer.Option("--remove", help="Take these tags off the run instead.")
    ] = False,
):
    """Tag a run (meta.json in its directory, so a copy keeps them), or --remove tags."""
    from kerasdl import run_meta

    run_dir = _run_dir(run, runs_dir)
    with errors.domain_errors():
        now = (run_meta.remove_tags if remove else run_meta.add_tags)(run_dir, tags)
    _say(f"{run_dir.name}: tags {', '.join(now) or 'none'}")


def note(
    run: opt.RunArg,
    text: Annotated[str, typer.Argument(help='The note ("" clears it).')],
    runs_dir: opt.RunsDir = Path("runs"),
):
    """Set a run's note (one per run, shown by runs show; "" clears it)."""
    from kerasdl import run_meta

    run_dir = _run_dir(run, runs_dir)
    with errors.domain_errors():
        run_meta.set_note(run_dir, text)
    _say(f"{run_dir.name}: note {'set' if text else 'cleared'}")


def rename(
    run: opt.RunArg,
    new: Annotated[str, typer.Argument(help="The new name (1-100 of A-Z a-z 0-9 . _ -).")],
    runs_dir: opt.RunsDir = Path("runs"),
):
    """Rename a run (its directory). Refuses a name that exists and a run being trained."""
    from kerasdl import run_meta

    run_dir = _run_dir(run, runs_dir)
    with errors.domain_errors():
        target = run_meta.rename_run(run_dir, new)
    _say(f"renamed {run_dir.name} -> {target.name}")


def delete(
    run: Annotated[
        list[str],
        typer.Argument(help="The runs: ids (or unique prefixes) in the runs folder, or paths."),
    ],
    runs_dir: opt.RunsDir = Path("runs"),
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask first.")] = False,
):
    """Move runs to the trash (RUNS_DIR/.trash; runs restore brings one back). Asks first."""
    from kerasdl import run_meta

    run_dirs = list(dict.fromkeys(_run_dir(name, runs_dir) for name in run))
    if not yes:
        names = ", ".join(safe_text.inert(path.name) for path in run_dirs)
        if not typer.confirm(f"Move {plural(len(run_dirs), 'run')} to the trash ({names})?"):
            errors.fail("nothing deleted", code=errors.EXIT_FAILED)
    for run_dir in run_dirs:
        with errors.domain_errors():
            target = run_meta.trash_run(run_dir)
        _say(f"deleted {run_dir.name} (in {target.parent}; kerasdl runs restore {run_dir.name})")


def restore(
    run: Annotated[
        list[str] | None,
        typer.Argument(help="Runs in the trash, by id (or a unique prefix); none: list them."),
    ] = None,
    runs_dir: opt.RunsDir = Path("runs"),
):
    """Bring runs back from the trash (RUNS_DIR/.trash); with no RUN, list the trash."""
    from kerasdl import run_meta

    if not run:
        entries = run_meta.list_trash(runs_dir)
        if not entries:
            _say(f"The trash of {runs_dir} is empty.")
            return
        table = titled_table(f"Trash of {runs_dir}")
        table.add_column("run")
        table.add_column("folder")
        for run_id, path in entries:
            table.add_row(safe_text.text(run_id), safe_text.text(path.name))
        _console().print(table)
        return
    for name in run:
        with errors.domain_errors():
            target = run_meta.restore_run(name, runs_dir)
        _say(f"restored {target.name} ({target})")


def register(app: typer.Typer) -> None:
    """Add the commands of this module to ``kerasdl runs``."""
    for command in (tag, note, rename, delete, restore):
        app.command()(command)
