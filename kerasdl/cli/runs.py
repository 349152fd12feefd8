"""``kerasdl runs``: list, show, compare and export the runs in a runs folder.

Everything here reads the run directories' ``events.jsonl`` and JSON files through
`kerasdl.runs` (light: no TensorFlow), so these commands start fast. The curves of
``runs compare`` are drawn by `kerasdl.cli.plot.line_plot`.
"""

import math
import re
import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from kerasdl import safe_text
from kerasdl.cli import errors
from kerasdl.cli import options as opt
from kerasdl.cli import runs_organise as org
from kerasdl.cli.console import safe_console
from kerasdl.cli.fit import fitted
from kerasdl.cli.plain import field_lines, fmt_duration, fmt_lr, fmt_number, plural, titled_table
from kerasdl.cli.plot import MARKERS, line_plot
from kerasdl.events.schema import STATUS_STYLES, metric_direction

app = typer.Typer(
    help="List, show, compare and export runs (reads runs/<id>/events.jsonl; no TensorFlow).",
    no_args_is_help=True,
    add_completion=False,
)


#: The problems of a run that `runs show` lists (the rest are counted).
MAX_PROBLEMS_SHOWN = 10


class Per(str, Enum):
    """The x axis of `runs compare`'s curves."""

    epoch = "epoch"
    step = "step"


def _console() -> Console:
    return safe_console(highlight=False)


def _status(status: str) -> Text:
    return safe_text.text(status, style=STATUS_STYLES.get(status, ""))


def _best_text(best: dict | None) -> str:
    if not best or best.get("value") is None:
        return "-"
    return f"{best.get('monitor', '?')} {fmt_number(best['value'])} @ {best.get('epoch', '?')}"


def _test_text(test: dict | None) -> str:
    if not test:
        return "-"
    if "accuracy" in test:
        return f"acc {fmt_number(test['accuracy'])}"
    return " ".join(f"{k} {fmt_number(v)}" for k, v in test.items())


def _started_text(started: float | None, short: bool = False) -> str:
    if started is None:
        return "-"
    return time.strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M", time.localtime(started))


def _load(run: str, runs_dir: Path):
    from kerasdl import runs

    with errors.domain_errors():
        return runs.load_run(run, runs_dir)


FullIds = Annotated[
    bool,
    typer.Option(
        "--full-ids",
        help="Show each run's whole id (by default a generated id is shown without its date and "
        "time, e.g. 3fa9c1, which the runs commands accept too).",
    ),
]


def _shown_ids(infos, full: bool) -> dict[str, str]:
    from kerasdl import runs

    ids = [info.run_id for info in infos]
    return {run_id: run_id for run_id in ids} if full else runs.short_ids(ids)


@app.command("list")
def list_(
    runs_dir: opt.RunsDir = Path("runs"),
    full_ids: FullIds = False,
    tag: org.TagOption = None,
    status: org.StatusOption = None,
    filter_: org.FilterOption = None,
    sort: org.SortOption = None,
    reverse: org.ReverseOption = False,
):
    """List the runs in the runs folder, oldest first: status, data, epochs, best, test (and
    tags); --tag, --status and --filter choose runs, --sort orders them."""
    from kerasdl import runs

    with errors.domain_errors():
        infos = runs.list_runs(runs_dir)
    chosen = org.organised(
        infos, tags=tag, status=status, pattern=filter_, sort=sort, reverse=reverse
    )
    if infos and not chosen:
        _console().print(f"No runs in {runs_dir} match ({len(infos)} in all).", markup=False)
        return
    infos = chosen
    tagged = {info.run_id: org.tags_text(info.path) for info in infos}
    tagged = tagged if any(text != "-" for text in tagged.values()) else {}
    console = _console()
    if not infos:
        where = "" if runs_dir.is_dir() else " (the folder does not exist)"
        console.print(f"No runs in {runs_dir}{where}.")
        return
    monitors = {(info.best or {}).get("monitor") for info in infos} - {None}
    monitor = monitors.pop() if len(monitors) == 1 else None
    table = titled_table(f"Runs in {runs_dir}")
    shown = _shown_ids(infos, full_ids)
    table.add_column("run", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("started", no_wrap=True)
    table.add_column("data")
    if tagged:
        table.add_column("tags")
    table.add_column("epochs", justify="right", no_wrap=True)
    best_header = f"best {monitor}" if monitor else "best"
    table.add_column(best_header, min_width=len(best_header))
    accuracy = all("accuracy" in (info.test_metrics or {"accuracy": 0}) for info in infos)
    table.add_column("test acc" if accuracy else "test", justify="right")
    for info in infos:
        total = info.epochs if info.epochs is not None else "?"
        best = info.best or {}
        if monitor and best.get("value") is not None:
            best_cell = f"{fmt_number(best['value'])} @ {best.get('epoch', '?')}"
        else:
            best_cell = _best_text(best)
        table.add_row(
            safe_text.text(shown[info.run_id]),
            _status(info.status),
            _started_text(info.started, short=True),
            _data_name(info),
            *([safe_text.text(tagged[info.run_id])] if tagged else []),
            f"{info.epochs_run}/{total}",
            best_cell,
            (
                fmt_number((info.test_metrics or {}).get("accuracy"))
                if accuracy
                else _test_text(info.test_metrics)
            ),
        )
    console.print(fitted(table, drop=("started", "data", "epochs")))


def _data_name(info) -> str:
    """The dataset's name: the config's, or (a Track run, without one) the run's dataset's."""
    name = ((info.config or {}).get("data") or {}).get("name")
    if name is None:
        name = (info.dataset or {}).get("name")
    return str(name) if name is not None else "-"


def fit_summary(fit: dict) -> list[tuple[str, str]]:
    """A Track run's ``fit``: ``[("model", "Sequential, 3 layers, 235,146 params"), ...]``.

    Values come from the run directory (untrusted): the caller prints them inert.
    """

    def text(value) -> str:
        return "-" if value is None else str(value)

    model = fit.get("model") if isinstance(fit.get("model"), dict) else {}
    optimizer = fit.get("optimizer") if isinstance(fit.get("optimizer"), dict) else {}
    layers = model.get("layers_total")
    params = model.get("params")
    model_text = text(model.get("class"))
    if isinstance(layers, int):
        model_text += f", {plural(layers, 'layer')}"
    if isinstance(params, int) and not isinstance(params, bool):
        model_text += f", {params:,} params"
    config = optimizer.get("config") if isinstance(optimizer.get("config"), dict) else {}
    opt_text = f"{text(optimizer.get('name'))} lr {fmt_lr(config.get('learning_rate'))}"
    metrics = fit.get("metrics") or []
    loss = text(fit.get("loss"))
    if metrics:
        loss += f"; metrics {', '.join(map(str, metrics))}"

    def callback(name: str) -> str:
        section = fit.get(name) if isinstance(fit.get(name), dict) else {}
        if not section.get("enabled"):
            return "off"
        words = [text(section.get("callback")), text(section.get("monitor"))]
        if section.get("patience") is not None:
            words.append(f"patience {section['patience']}")
        return " ".join(words)

    run_text = (
        f"{text(fit.get('epochs'))} epochs, batch {text(fit.get('batch_size'))}, "
        f"{text(fit.get('steps_per_epoch'))} steps, {fit.get('validation') or 'no validation'}"
    )
    callbacks = fit.get("callbacks") or []
    return [
        ("recorded by", "kerasdl.callbacks.Track (fit.json; not resumable)"),
        ("model", model_text),
        ("loss", loss),
        ("optimizer", opt_text),
        ("early stopping", callback("early_stopping")),
        ("plateau", callback("plateau")),
        ("checkpoint", callback("checkpoint")),
        ("training", run_text),
        ("callbacks", ", ".join(map(str, callbacks)) or "-"),
    ]


def _network_text(model: dict, mlp_text: str) -> str:
    """The ``model`` line of `config_summary`: the mlp's layers, or ``model.architecture``'s
    network (the cnn with what it reads from the config; a model of yours by its name)."""
    architecture = model.get("architecture", "mlp")
    if architecture == "mlp":
        return mlp_text
    if architecture != "cnn":
        return f"{architecture} (yours)"
    drops = [d for d in model.get("dropout") or [] if isinstance(d, (int, float))]
    text = f"cnn, {model.get('activation', '?')}, dropout {max(drops, default=0.0)}"
    return text + mlp_text[mlp_text.index(";") :] if ";" in mlp_text else text


#: The [[optimizer.groups]] tables `runs show` lists (a run directory may hold any number).
MAX_GROUPS_SHOWN = 10


def _hyper_text(value) -> str:
    """A hyperparameter read from a run directory: a number or a bool as written, else ``?``
    (not what any config holds: the file was edited)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) and math.isfinite(value):
        return fmt_lr(value)
    return "?"


def _group_rows(optimizer: dict) -> list[tuple[str, object]]:
    """One row per ``[[optimizer.groups]]`` table: its selector, then its base learning rate
    and weight decay (its own, or the optimizer's it keeps) and the rest it sets; then the
    ``default group`` (the variables no table selects). None without groups.

    Values come from the run directory (untrusted): numbers are shown only when they are
    numbers, and every row is `safe_text.text` (inert).
    """
    groups = optimizer.get("groups")
    if not isinstance(groups, list) or not groups:
        return []
    base = {k: optimizer.get(k) for k in ("learning_rate", "weight_decay")}

    def rates(values: dict) -> str:
        words = [f"lr {_hyper_text(values.get('learning_rate'))}"]
        words.append(f"weight_decay {_hyper_text(values.get('weight_decay'))}")
        return ", ".join(words)

    rows = []
    for i, group in enumerate(groups[:MAX_GROUPS_SHOWN]):
        if not isinstance(group, dict):
            rows.append((f"group {i + 1}", safe_text.text("? (not a table)")))
            continue
        if "pattern" in group:
            selector = f"pattern {str(group['pattern'])[:60]!r}"
        else:
            selector = f"rank <= {_hyper_text(group.get('max_rank'))}"
        own = [
            f"{str(k)[:30]} {_hyper_text(v)}"
            for k, v in list(group.items())[:20]
            if k not in ("pattern", "max_rank", "learning_rate", "weight_decay")
        ]
        line = f"{selector}: {rates({**base, **group})}" + "".join(f", {w}" for w in own)
        rows.append((f"group {i + 1}", safe_text.text(line)))
    if len(groups) > MAX_GROUPS_SHOWN:
        rows.append(("", safe_text.text(f"... and {len(groups) - MAX_GROUPS_SHOWN} more groups")))
    rows.append(("default group", safe_text.text(rates(base) + " (the other variables)")))
    return rows


def config_summary(config: dict | None) -> list[tuple[str, str]]:
    """``[("data", "mnist-mini, limit 512, validation 0.1"), ("model", ...), ...]``."""
    if not config:
        return [("config", "-")]
    data = config.get("data") or {}
    model = config.get("model") or {}
    optimizer = config.get("optimizer") or {}
    schedule = config.get("schedule") or {}
    stopping = config.get("early_stopping") or {}
    plateau = config.get("plateau") or {}
    data_text = str(data.get("name", "?"))
    if data.get("limit"):
        data_text += f", limit {data['limit']}"
    data_text += f", validation {config.get('validation_split', '?')}"
    layers = []
    hidden = model.get("hidden") or []
    norms = model.get("batch_norm") or []
    drops = model.get("dropout") or []
    for i, units in enumerate(hidden):
        layer = str(units)
        if i < len(norms) and norms[i]:
            layer += "-BN"
        layer += f"-{model.get('activation', '?')}"
        if i < len(drops) and drops[i]:
            layer += f"-Dropout({drops[i]})"
        layers.append(layer)
    model_text = " / ".join(layers) or "linear"
    model_text += f"; init {model.get('initializer', '?')}"
    if model.get("regularizer", "none") != "none":
        model_text += f"; {model['regularizer']} (l1 {model.get('l1')}, l2 {model.get('l2')})"
    model_text = _network_text(model, model_text)
    opt_text = f"{optimizer.get('name', '?')} lr {fmt_lr(optimizer.get('learning_rate'))}"
    for key in ("weight_decay", "momentum", "beta_1", "beta_2", "epsilon", "rho", "clipnorm"):
        if optimizer.get(key) is not None:
            opt_text += f", {key} {optimizer[key]}"
    groups = _group_rows(optimizer)
    if groups:
        opt_text += f"; {plural(len(optimizer['groups']), 'parameter group')} (below)"
    name = schedule.get("name", "none")
    sched_text = str(name)
    if name == "step":
        sched_text += f" (step_size {schedule.get('step_size')}, gamma {schedule.get('gamma')})"
    elif name == "exponential":
        sched_text += f" (gamma {schedule.get('gamma')})"
    elif name == "cosine":
        sched_text += f" (t_max {schedule.get('t_max')}, eta_min {schedule.get('eta_min')})"
    elif name == "noam":
        sched_text += f" (d_model {schedule.get('d_model')}, warmup {schedule.get('warmup_steps')})"
    if schedule.get("warmup_epochs"):
        sched_text += f", warmup {schedule['warmup_epochs']} epochs"
    stop_text = (
        f"{stopping.get('monitor')} patience {stopping.get('patience')}"
        if stopping.get("enabled")
        else "off"
    )
    plateau_text = (
        f"{plateau.get('monitor')} factor {plateau.get('factor')} "
        f"patience {plateau.get('patience')}"
        if plateau.get("enabled")
        else "off"
    )
    run_text = (
        f"{config.get('epochs')} epochs, batch {config.get('batch_size')}, seed "
        f"{config.get('seed')}, strategy {config.get('strategy')}"
    )
    loss = config.get("loss") or {}
    return [
        ("data", data_text),
        ("model", model_text),
        ("loss", str(loss.get("name", "?"))),
        ("optimizer", safe_text.text(opt_text)),
        *groups,
        ("schedule", sched_text),
        ("early stopping", stop_text),
        ("plateau", plateau_text),
        ("training", run_text),
    ]


def epoch_table(info) -> Table:
    """One row per epoch: the metrics, the learning rate, the time; the best epoch starred."""
    names = info.metric_names
    best_epoch = (info.best or {}).get("epoch")
    table = titled_table("Epochs")
    table.add_column("epoch", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("lr", justify="right")
    table.add_column("time", justify="right")
    for row in info.history:
        star = " *" if row["epoch"] == best_epoch else ""
        table.add_row(
            f"{row['epoch']}{star}",
            *(fmt_number(row["metrics"].get(name)) for name in names),
            fmt_lr(row.get("learning_rate")),
            fmt_duration(row.get("epoch_seconds")),
        )
    return table


@app.command()
def show(run: opt.RunArg, runs_dir: opt.RunsDir = Path("runs")):
    """Show one run: its config, status, best epoch, test metrics and a table of its epochs."""
    info = _load(run, runs_dir)
    console = _console()
    total = info.epochs if info.epochs is not None else "?"
    rows = [
        ("run", safe_text.text(info.run_id, style="bold cyan")),
        ("directory", str(info.path)),
        ("status", _status(info.status)),
        ("epochs", f"{info.epochs_run}/{total}"),
        ("started", _started_text(info.started)),
        ("duration", fmt_duration(info.duration_s)),
    ]
    if info.resumes:
        rows.append(("resumed", plural(info.resumes, "time")))
    if info.dataset:
        rows.append(("dataset", f"{info.dataset.get('name')} ({info.dataset.get('source')})"))
    if info.fit is not None and not info.config:
        rows += [(key, safe_text.text(value)) for key, value in fit_summary(info.fit)]
    else:
        rows += config_summary(info.config)
    rows += org.meta_rows(info.path)
    rows.append(("best", _best_text(info.best)))
    test = " ".join(f"{k} {fmt_number(v)}" for k, v in (info.test_metrics or {}).items())
    rows.append(("test", test or "-"))
    from kerasdl import system_metrics  # only `runs show` needs it: not on --help's path

    system = None if info.record is None else system_metrics.summary_text(info.record)
    if system:
        rows.append(("system", system))
    if info.error:
        rows.append(("error", safe_text.text(info.error, style="red")))
    if info.problems:  # what could not be read: bad lines, fields of the wrong type
        shown = info.problems[:MAX_PROBLEMS_SHOWN]
        more = len(info.problems) - len(shown)
        text = "\n".join(shown) + (f"\n... and {more} more" if more else "")
        rows.append(("problems", safe_text.text(text, style="yellow")))
    for line in field_lines(rows):
        console.print(line, soft_wrap=True)
    if info.history:
        console.print(fitted(epoch_table(info), drop=("time",)))
    for change in info.lr_changes:
        console.print(
            f"lr {fmt_lr(change.get('old'))} -> {fmt_lr(change.get('new'))} after epoch "
            f"{change.get('epoch')} ({change.get('reason')})",
            markup=False,
            soft_wrap=True,
        )
    for notice in info.notices:
        console.print(
            f"[{notice.get('level', 'info')}] {notice.get('message', '')}",
            markup=False,
            soft_wrap=True,
        )


def compare_table(comparison, shown: dict[str, str] | None = None) -> Table:
    """Runs as columns, quantities as rows; the best run of each metric row in bold green.

    ``shown``: the id to show of each run (default: the ids themselves).
    """
    rows = comparison.rows
    shown = shown or {}
    table = titled_table("Best and final metrics")
    table.add_column("")
    for i, row in enumerate(rows):
        marker = MARKERS[i % len(MARKERS)]
        run_id = shown.get(row["run_id"], row["run_id"])
        table.add_column(safe_text.text(f"{marker} {run_id}"), justify="right")
    skip = {"run_id", "best_monitor", "best_epoch"}
    for column in comparison.columns:
        if column in skip:
            continue
        values = [row.get(column) for row in rows]
        if column == "best_value":
            label = "best"
            cells = [_best_text({"monitor": r.get("best_monitor"), "value": r.get("best_value"),
                                 "epoch": r.get("best_epoch")}) for r in rows]  # fmt: skip
            direction = metric_direction(str(rows[0].get("best_monitor") or "")) if rows else None
            monitors = {r.get("best_monitor") for r in rows}
            direction = direction if len(monitors) == 1 else None
        elif column == "status":
            label, cells, direction = "status", [_status(str(v)) for v in values], None
        elif column == "duration_s":
            label, cells, direction = "time", [fmt_duration(v) for v in values], None
        elif column == "epochs_run":
            label, cells, direction = "epochs", [str(v) for v in values], None
        else:
            label = (
                column.replace("_", " ", 1) if column.startswith(("final_", "test_")) else column
            )
            cells = [fmt_number(v) for v in values]
            direction = metric_direction(column)
        best_index = _best_index(values, direction) if len(rows) > 1 else None
        styled = [
            safe_text.text(c, style="bold green") if i == best_index else c
            for i, c in enumerate(cells)
        ]
        table.add_row(label, *styled)
    return table


def _best_index(values, direction):
    if direction is None:
        return None
    finite = [
        (v, i) for i, v in enumerate(values) if isinstance(v, (int, float)) and math.isfinite(v)
    ]
    if len(finite) < 2:
        return None
    return (min(finite) if direction == "min" else max(finite))[1]


@app.command()
def compare(
    run: Annotated[
        list[str] | None,
        typer.Argument(
            help="The runs: ids (or unique prefixes) in the runs folder, or paths (or none, "
            "with --tag/--filter).",
            show_default=False,
        ),
    ] = None,
    runs_dir: opt.RunsDir = Path("runs"),
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            "-m",
            help="Curve to draw (repeatable; default: val_loss and val_accuracy, else loss).",
            show_default=False,
        ),
    ] = None,
    width: Annotated[
        int, typer.Option(help="Plot width in characters (20-500).", min=20, max=500)
    ] = 60,
    height: Annotated[int, typer.Option(help="Plot height in lines (4-200).", min=4, max=200)] = 12,
    per: Annotated[
        Per,
        typer.Option(
            "--per",
            help="The curves' x axis: epoch (events.jsonl), or step: the global training step "
            "(the step history, steps.jsonl; training loss and metrics only).",
            case_sensitive=False,
        ),
    ] = Per.epoch,
    every: Annotated[
        bool,
        typer.Option("--all", help="Show every setting of the runs, not only those that differ."),
    ] = False,
    tag: org.TagOption = None,
    filter_: org.FilterOption = None,
    smooth: Annotated[
        float | None,
        typer.Option(
            "--smooth",
            help="Smooth the curves with TensorBoard's exponential moving average of weight X "
            "(0 <= X < 1, e.g. 0.6); the raw points stay, faint (∘).",
            metavar="X",
            show_default=False,
        ),
    ] = None,
    full_ids: FullIds = False,
):
    """Compare runs: a table of their best and final metrics, and their curves per epoch (or per
    training step)."""
    from kerasdl import runs

    if smooth is not None and not (math.isfinite(smooth) and 0 <= smooth < 1):
        errors.fail(f"--smooth: got {smooth}; allowed: a number X with 0 <= X < 1")
    infos = [_load(name, runs_dir) for name in run or []]
    if tag or filter_:
        with errors.domain_errors():
            listed = runs.list_runs(runs_dir)
        given = {info.path for info in infos}
        infos += [
            i for i in org.organised(listed, tags=tag, pattern=filter_) if i.path not in given
        ]
    if not infos:
        errors.fail("no runs to compare: name some, or choose them with --tag/--filter")
    shown = _shown_ids(infos, full_ids)
    with errors.domain_errors():
        comparison = runs.compare(infos)
    curves = comparison.curves
    if per is Per.step:
        from kerasdl import steps

        curves = steps.step_curves((info.run_id, info.path) for info in infos)
    available = [name for name, series in curves.items() if any(series.values())]
    if metric:
        unknown = [m for m in metric if m not in curves]
        if unknown:
            errors.fail(
                f"no metric {', '.join(map(repr, unknown))} in these runs; "
                f"available: {', '.join(available) or 'none'}"
            )
        chosen = list(metric)
    elif per is Per.step:
        chosen = [m for m in ("loss",) if m in available] or available[:1]
    else:
        chosen = [m for m in ("val_loss", "val_accuracy") if m in available] or [
            m for m in ("loss",) if m in available
        ]
    console = _console()
    settings = org.settings_table(infos, [shown[info.run_id] for info in infos], every=every)
    if settings is not None:
        console.print(fitted(settings))
        console.print()
    console.print(fitted(compare_table(comparison, shown)))
    if per is Per.step:
        without = [i.run_id for i in infos if not any(c.get(i.run_id) for c in curves.values())]
        if without:
            console.print()
            console.print(
                safe_text.text(f"No step history (steps.jsonl) in: {', '.join(without)}"),
                style="yellow",
                soft_wrap=True,
            )
    for name in chosen:
        labels = [
            f"{MARKERS[i % len(MARKERS)]} {shown[info.run_id]}" for i, info in enumerate(infos)
        ]
        series = {info.run_id: curves.get(name, {}).get(info.run_id, []) for info in infos}
        console.print()
        smoothed = f", smoothed {smooth:g} (raw points ∘)" if smooth is not None else ""
        console.print(safe_text.text(f"{name} per {per.value}{smoothed}", style="bold"))
        plot = line_plot(series, width=width, height=height, x_label=per.value, smoothing=smooth)
        for line in plot:
            console.print(line, soft_wrap=True)
        console.print(Text("   ".join(labels)), style="dim", soft_wrap=True)


@app.command()
def export(
    run: Annotated[
        list[str],
        typer.Argument(
            help="The runs: ids (or unique prefixes) in the runs folder, or paths (--csv: one)."
        ),
    ],
    runs_dir: opt.RunsDir = Path("runs"),
    csv: Annotated[
        bool, typer.Option("--csv", help="CSV: one row per epoch (the default format).")
    ] = True,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (default: stdout).", dir_okay=False),
    ] = None,
    tensorboard: Annotated[
        Path | None,
        typer.Option(
            "--tensorboard",
            help="Write TensorBoard event files instead, one subfolder of DIR per run (from "
            "events.jsonl and steps.jsonl): tensorboard --logdir DIR.",
            file_okay=False,
            metavar="DIR",
            show_default=False,
        ),
    ] = None,
):
    """Export a run's epochs (metrics, learning rate, time) as CSV, or runs as TensorBoard
    files."""
    from kerasdl import runs

    if tensorboard is not None:
        _export_tensorboard([_load(name, runs_dir) for name in run], tensorboard)
        return
    if len(run) != 1:
        errors.fail(f"--csv exports one run; got {len(run)} (--tensorboard DIR takes several)")
    info = _load(run[0], runs_dir)
    with errors.domain_errors():
        text = runs.export_csv(info)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        errors.fail(f"cannot write {output}: {exc.strerror or exc}")
    typer.echo(f"wrote {len(info.history)} epochs to {output}", err=True)


def tensorboard_folder(run_id: str, taken: set[str]) -> str:
    """A run's subfolder name under ``runs export --tensorboard DIR``: its id, with anything
    but ``A-Z a-z 0-9 . _ -`` made ``_`` and no leading dot (a run directory is untrusted: its
    name may be ``..``), made unique among ``taken`` with ``-2``, ``-3``..."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)[:100].lstrip(".") or "run"
    unique, n = name, 1
    while unique in taken:
        n += 1
        unique = f"{name}-{n}"
    taken.add(unique)
    return unique


def _export_tensorboard(infos, out: Path) -> None:
    """`runs export --tensorboard`: each run to ``out/<its id>``, which must not hold files."""
    from kerasdl.cli.native_logs import quiet_native_logs

    taken: set[str] = set()
    targets = [(info, out / tensorboard_folder(info.run_id, taken)) for info in infos]
    for _, target in targets:
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            errors.fail(f"{target} exists and is not empty: choose another DIR, or remove it")
    console = safe_console(stderr=True, highlight=False)
    with quiet_native_logs():
        from kerasdl import tensorboard_files

        for info, target in targets:
            try:
                done = tensorboard_files.export_run(info.path, target)
            except OSError as exc:
                errors.fail(f"cannot export {info.run_id}: {exc.strerror or exc}")
            hparams = "hyperparameters" if done["hparams"] else "no hyperparameters"
            console.print(
                safe_text.text(
                    f"{info.run_id} -> {target}: {plural(done['epochs'], 'epoch')}, "
                    f"{plural(done['steps'], 'logged step')}, {hparams}"
                ),
                soft_wrap=True,
            )
    if not tensorboard_files.hparams_available():
        console.print(
            "the tensorboard package is not installed: no hyperparameters (pip install "
            '"kerasdl[tensorboard]")',
            markup=False,
            style="yellow",
        )
    console.print(f"open them with: tensorboard --logdir {out}", markup=False, soft_wrap=True)


org.register(app)  # tag, note, rename, delete, restore
