"""``kerasdl schedule plot``: the learning rate a run gets at every optimizer step.

The rate is built exactly as ``kerasdl train`` builds it: a `kerasdl.config.TrainConfig` with the
given ``[schedule]`` (validated by the config itself), then `kerasdl.runner.build_learning_rate`
for the given steps per epoch, warmup included. The schedule is then evaluated at every step
``0 .. epochs * steps_per_epoch - 1`` in one vectorised call (a schedule is elementwise in the
step), which gives the float32 rates the optimizer would read, step by step::

    config = TrainConfig().override({"schedule.name": NAME, ...}).validate()
    lr = kerasdl.runner.build_learning_rate(config, steps_per_epoch)
    rates = lr(arange(epochs * steps_per_epoch))

The pure helpers (`change_points`, `table_rows`, `plot_steps`) take the rates as a list or array
and import nothing heavy; Keras is imported only to evaluate the schedule, so ``--help`` and a
config error answer at once.
"""

import json
import math
from enum import Enum
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from kerasdl.cli import errors
from kerasdl.cli.config_options import Offered, config_options
from kerasdl.cli.console import safe_console
from kerasdl.cli.plain import titled_table
from kerasdl.cli.plot import line_plot
from kerasdl.config import SCHEDULES, field_specs

app = typer.Typer(
    help="Learning-rate schedules: plot the rate a run would get at every step.",
    no_args_is_help=True,
    add_completion=False,
)

#: Relative change between two consecutive steps that counts as a change of the rate.
RELATIVE_CHANGE = 1e-6
#: Steps at most (the schedules count epochs in float32, exact below 2**24).
MAX_STEPS = 2**24
#: Rows of the table at most (the first and last halves are kept; --json has every step).
MAX_ROWS = 40
#: Steps shown at each end of a run of consecutive changes (a ramp).
RAMP_ENDS = 2


class Per(str, Enum):
    """The x axis and the JSON's granularity: per optimizer step, or per epoch."""

    epoch = "epoch"
    step = "step"


_SCHEDULE = "Schedule"


def _options():
    """The options that set the schedule: --epochs, --lr and every [schedule] field but its name
    (an argument), with the preset's defaults, each declared once in `kerasdl.config`."""
    specs = {spec.key: spec for spec in field_specs()}
    offered = [Offered(specs["epochs"], panel=None, required=True, help="Epochs of the run.")]
    offered.append(
        Offered(
            specs["optimizer.learning_rate"],
            panel=_SCHEDULE,
            default=specs["optimizer.learning_rate"].default,
            help="Learning rate the schedule starts from (not used by noam).",
        )
    )
    for spec in specs.values():
        if spec.section == "schedule" and spec.name != "name":
            offered.append(Offered(spec, panel=_SCHEDULE, default=spec.default))
    return offered


PLOT_OPTIONS = _options()
#: Option parameter -> the dotted config key it sets.
PARAM_KEYS = {o.param: o.spec.key for o in PLOT_OPTIONS}


@app.command()
@config_options(PLOT_OPTIONS)
def plot(
    config_values: dict,
    name: Annotated[
        str,
        typer.Argument(
            help=f"Schedule: {', '.join(SCHEDULES)} (the config's schedule.name).",
            metavar="NAME",
            show_default=False,
        ),
    ],
    steps_per_epoch: Annotated[
        int,
        typer.Option(
            help="Optimizer steps (batches) per epoch: ceil(training examples / batch size).",
            metavar="K",
        ),
    ],
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            "-s",
            help="Any [schedule] key, dotted: --set schedule.gamma=0.1 (repeatable; applied last).",
            metavar="KEY=VALUE",
            show_default=False,
            rich_help_panel=_SCHEDULE,
        ),
    ] = None,
    per: Annotated[
        Per,
        typer.Option(
            help="x axis and --json values: per epoch (x = step / K) or per optimizer step.",
            case_sensitive=False,
        ),
    ] = Per.epoch,
    log_y: Annotated[bool, typer.Option("--log-y", help="Logarithmic learning-rate axis.")] = False,
    width: Annotated[
        int, typer.Option(help="Plot width in characters (20-500).", min=20, max=500)
    ] = 60,
    height: Annotated[int, typer.Option(help="Plot height in lines (4-200).", min=4, max=200)] = 12,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print JSON (name, params, the rate at every step or epoch) instead.",
        ),
    ] = False,
):
    """Plot the learning rate a run gets at every step: the schedule NAME as `kerasdl train`
    builds it (warmup included), for --epochs of --steps-per-epoch optimizer steps.

    Prints the curve and a table of the rate at each epoch start and wherever it changes;
    epochs are counted from 0, as in docs/schedules.md.
    """
    if steps_per_epoch < 1:
        errors.fail(f"--steps-per-epoch: got {steps_per_epoch}; allowed: an integer >= 1")
    with errors.domain_errors():
        config = build_config(name, config_values, set_ or [])
    total = config.epochs * steps_per_epoch
    if total > MAX_STEPS:
        errors.fail(
            f"--epochs x --steps-per-epoch: got {config.epochs} x {steps_per_epoch} = {total} "
            f"steps; allowed: at most {MAX_STEPS} (2**24)"
        )
    rates = evaluate(config, steps_per_epoch)
    result = result_dict(config, steps_per_epoch, rates, per.value)
    if json_output:
        typer.echo(json.dumps(result, indent=2))
        return
    render(result, rates, log_y=log_y, width=width, height=height)


def build_config(name: str, values: dict, sets: list[str]):
    """The validated `TrainConfig` whose ``[schedule]`` is NAME with ``values`` (dotted key ->
    value: the epochs, the learning rate, [schedule] fields), then ``sets``
    (``schedule.key=value``)."""
    from kerasdl.config import ConfigError, TrainConfig, parse_assignments

    overrides = {"schedule.name": name, **values}
    assignments = parse_assignments(sets)
    for key in assignments:
        if not key.startswith("schedule."):
            raise ConfigError(
                "--set",
                key,
                "[schedule] keys, e.g. schedule.gamma=0.1 (the learning rate is --lr)",
                message=(
                    f"--set: got {key!r}; allowed here: [schedule] keys, e.g. "
                    "schedule.gamma=0.1 (the learning rate is --lr, the epochs --epochs)"
                ),
            )
    overrides.update(assignments)
    return TrainConfig().override(overrides).validate()


def describe(config, steps_per_epoch: int) -> str:
    """The expression that builds the rate, e.g. ``LinearWarmup(after=StepLR(...), ...)``."""
    from kerasdl.config import schedule_spec

    spec = schedule_spec(config, steps_per_epoch)
    if spec["class"] is None:
        text = repr(config.optimizer.learning_rate)
    else:
        args = ", ".join(f"{k}={v!r}" for k, v in spec["kwargs"].items())
        text = f"{spec['class']}({args})"
    if spec["warmup_steps"] > 0:
        text = f"LinearWarmup(after={text}, warmup_steps={spec['warmup_steps']})"
    if config.plateau.enabled and (spec["class"] is not None or spec["warmup_steps"] > 0):
        text = f"PlateauScaledSchedule({text}, scale=1.0)"
    return text


def evaluate(config, steps_per_epoch: int):
    """The float32 rate of every optimizer step ``0 .. epochs * steps_per_epoch - 1`` (a NumPy
    float32 array), from `kerasdl.runner.build_learning_rate`: what the optimizer reads."""
    import numpy as np

    from kerasdl.cli.native_logs import import_runner, quiet_native_logs

    with quiet_native_logs():
        runner = import_runner()
        import keras

        total = config.epochs * steps_per_epoch
        learning_rate = runner.build_learning_rate(config, steps_per_epoch)
        if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            # int64 steps, as the optimizer's `iterations`.
            values = keras.ops.convert_to_numpy(learning_rate(np.arange(total, dtype=np.int64)))
            return np.broadcast_to(np.asarray(values, dtype=np.float32), (total,)).copy()
        # A constant rate: the optimizer holds it in a float32 variable.
        return np.full(total, learning_rate, dtype=np.float32)


def change_points(rates, rel: float = RELATIVE_CHANGE):
    """The steps ``i >= 1`` whose rate differs from step ``i - 1``'s by more than ``rel``
    relative, ``|r[i] - r[i-1]| > rel * max(|r[i]|, |r[i-1]|)``, as an int array."""
    import numpy as np

    r = np.asarray(rates, dtype=np.float64)
    a, b = r[:-1], r[1:]
    return np.flatnonzero(np.abs(b - a) > rel * np.maximum(np.abs(a), np.abs(b))) + 1


def table_rows(
    rates,
    steps_per_epoch: int,
    *,
    marks: dict[int, str] | None = None,
    max_rows: int = MAX_ROWS,
    ramp_ends: int = RAMP_ENDS,
) -> list[dict | None]:
    """The rows of the values table: ``{"step", "epoch", "lr", "factor", "note"}``, or None
    for a ``...`` row (the rate changed at steps in between that are not shown).

    The rows are the first step of every epoch, every step where the rate changes
    (`change_points`), the first step with the highest rate ("peak") and the last step. A run
    of changes at consecutive steps (a per-step ramp) shows only its first and last
    ``ramp_ends`` steps. Beyond ``max_rows`` rows the first and last halves are kept around
    one ``...`` row. ``factor`` is the rate over the previous step's, at a change point (None
    elsewhere, or after a rate of 0). ``marks`` adds steps with a note of their own
    (``{200: "warmup done"}``).
    """
    import numpy as np

    r = np.asarray(rates, dtype=np.float64)
    total = len(r)
    if total == 0:
        return []
    changes = change_points(r)
    kept = set()
    if len(changes):
        breaks = np.flatnonzero(np.diff(changes) != 1)
        firsts = np.concatenate([[0], breaks + 1])
        lasts = np.concatenate([breaks, [len(changes) - 1]])
        for first, last in zip(firsts.tolist(), lasts.tolist(), strict=True):
            if last - first + 1 <= 2 * ramp_ends:
                kept.update(changes[first : last + 1].tolist())
            else:
                kept.update(changes[first : first + ramp_ends].tolist())
                kept.update(changes[last - ramp_ends + 1 : last + 1].tolist())
    peak = int(np.argmax(r))
    marks = {step: note for step, note in (marks or {}).items() if 0 <= step < total}
    starts = set(range(0, total, steps_per_epoch))
    steps = sorted(kept | starts | set(marks) | {peak, total - 1})
    rows: list[dict | None] = []
    previous = None
    for step in steps:
        if previous is not None:
            nxt = int(np.searchsorted(changes, previous, side="right"))
            if nxt < len(changes) and changes[nxt] < step:  # hidden changes in between
                rows.append(None)
        at = int(np.searchsorted(changes, step))
        is_change = at < len(changes) and int(changes[at]) == step
        before = float(r[step - 1]) if step > 0 else 0.0
        notes = [marks[step]] if step in marks else []
        if step == peak and r[peak] > r[0]:
            notes.append("peak")
        if step == total - 1:
            notes.append("last step")
        rows.append(
            {
                "step": step,
                "epoch": step // steps_per_epoch,
                "lr": float(r[step]),
                "factor": float(r[step]) / before if is_change and before != 0 else None,
                "note": ", ".join(notes),
            }
        )
        previous = step
    if len(rows) > max_rows:
        head, tail = rows[: max_rows // 2], rows[-(max_rows // 2) :]
        while head and head[-1] is None:
            head.pop()
        while tail and tail[0] is None:
            tail.pop(0)
        rows = [*head, None, *tail]
    return rows


def plot_steps(rates, *, samples: int = 400, max_changes: int = 2000) -> list[int]:
    """The steps drawn on the plot: ``samples`` evenly spaced steps, the last one, and, when
    there are at most ``max_changes`` changes, each change point and the step before it (so a
    drop is a drop, not a slope)."""
    total = len(rates)
    if total == 0:
        return []
    steps = {round(i * (total - 1) / max(samples - 1, 1)) for i in range(samples)}
    steps.add(total - 1)
    changes = change_points(rates)
    if len(changes) <= max_changes:
        for c in changes.tolist():
            steps.update((c - 1, c))
    return sorted(steps)


def _shortest(values) -> list[float]:
    """float32 values as the shortest decimals that read back to them (0.001, not
    0.0010000000474974513)."""
    import numpy as np

    values = np.asarray(values, dtype=np.float32)
    out = []
    for start in range(0, len(values), 1 << 20):  # in chunks: the strings take memory
        out.extend(float(text) for text in values[start : start + (1 << 20)].astype(str))
    return out


def result_dict(config, steps_per_epoch: int, rates, per: str) -> dict:
    """What ``--json`` prints: the schedule, its parameters and the rate per step or epoch."""
    from kerasdl.config import schedule_spec

    spec = schedule_spec(config, steps_per_epoch)
    params = {"learning_rate": config.optimizer.learning_rate, **config.to_dict()["schedule"]}
    params.pop("name")
    values = rates if per == "step" else rates[::steps_per_epoch]
    return {
        "name": config.schedule.name,
        "params": params,
        "epochs": config.epochs,
        "steps_per_epoch": steps_per_epoch,
        "steps": len(rates),
        "schedule": describe(config, steps_per_epoch),
        "built": {
            "class": spec["class"],
            "kwargs": spec["kwargs"],
            "warmup_steps": spec["warmup_steps"],
        },
        "per": per,
        "learning_rates": _shortest(values),
    }


def render(result: dict, rates, *, log_y: bool, width: int, height: int) -> None:
    """The curve, then the table of values."""
    console = safe_console(highlight=False)
    k = result["steps_per_epoch"]
    per_step = result["per"] == "step"
    console.print(
        Text.assemble(
            ("Learning rate of ", "bold"),
            (repr(result["name"]), "bold cyan"),
            (f": {result['schedule']}", ""),
        ),
        soft_wrap=True,
    )
    console.print(
        Text(
            f"{result['epochs']} epochs x {k} steps = {result['steps']} optimizer steps, "
            "as kerasdl train builds it (epochs from 0)",
            style="dim",
        ),
        soft_wrap=True,
    )
    console.print()
    points = [(step if per_step else step / k, float(rates[step])) for step in plot_steps(rates)]
    lines = line_plot(
        {"lr": points},
        width=width,
        height=height,
        x_label="step" if per_step else "epoch",
        log_y=log_y,
    )
    for line in lines:
        console.print(line, soft_wrap=True)
    if log_y and any(r <= 0 for r in rates):
        console.print(Text("(rates of 0 are not drawn on the log axis)", style="dim"))
    console.print()
    warmup = result["built"]["warmup_steps"]
    marks = {warmup: "warmup done"} if warmup > 0 else {}
    console.print(values_table(table_rows(rates, k, marks=marks)))


def values_table(rows: list[dict | None]) -> Table:
    """The table of `table_rows`."""
    table = titled_table("lr at epoch starts and changes")
    table.add_column("step", justify="right")
    table.add_column("epoch", justify="right")
    table.add_column("lr", justify="right")
    table.add_column("change", justify="right")
    table.add_column("note")
    for row in rows:
        if row is None:
            table.add_row("...", "", "...", "", "", style="dim")
            continue
        factor = row["factor"]
        table.add_row(
            str(row["step"]),
            str(row["epoch"]),
            f"{row['lr']:.6g}",
            "" if factor is None else f"x{_fmt_factor(factor)}",
            row["note"],
        )
    return table


def _fmt_factor(factor: float) -> str:
    if not math.isfinite(factor):
        return str(factor)
    return f"{factor:.6g}"
