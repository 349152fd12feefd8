"""The one declaration of schema 1's events, their fields, and the codec that reads them.

Every event type and every field it may carry is declared once, in `SCHEMA` (``docs/events.md``
is checked against it by ``tests/engine/test_event_schema.py``). Readers go through
`from_line` / `from_dict`, which:

- check each declared field's type and range; a field that fails is set to ``None`` and the
  failure becomes a *problem* of the event (``"epoch_ended.epoch_seconds: not a number (got
  'fast')"``), so a view can show it; a line that is not an event at all is a `LineProblem`;
- turn ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` into floats only where a float is declared
  (metric values, rates, times), never in text or in the config (a ``runs_dir`` of
  ``"Infinity"`` stays a string);
- keep what they do not know: unknown fields are kept as they were read (``Event.extra``), an
  unknown event type is an `Event` with no declared fields, and a metric whose value is a dict
  or a list (a later schema's ``per_class``) stays in ``metrics`` as it is;
- bound what they read (`MAX_LINE_BYTES`, `MAX_DEPTH`, strings of at most `MAX_TEXT` characters)
  and never raise on a line.

`Status`, `LrReason` and `larger_is_better` are the single rules for a run's status, the reason
of a learning-rate change, and a metric's direction; `STATUS_LABELS` and `STATUS_STYLES` are the
one table of how each status reads and looks in every view.

Standard library only: the CLI's ``runs`` commands and the dashboard's follower import it.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType

__all__ = [
    "FINISHED_STATUSES",
    "MAX_DEPTH",
    "MAX_LINE_BYTES",
    "MAX_TEXT",
    "NON_FINITE",
    "SCHEMA",
    "STATUS_LABELS",
    "STATUS_STYLES",
    "Event",
    "EventSpec",
    "FieldSpec",
    "LineProblem",
    "LrReason",
    "Status",
    "from_dict",
    "from_line",
    "larger_is_better",
    "metric_direction",
    "parse_status",
    "to_dict",
]

#: The longest line read (1 MiB; kerasdl's own events are a few KiB at most).
MAX_LINE_BYTES = 1 << 20
#: The deepest nesting of dicts and lists read.
MAX_DEPTH = 32
#: The longest string a text field keeps (longer ones are cut, with a problem).
MAX_TEXT = 10_000
_MAX_INT = 2**53
_MAX_TIME = 1e11  # Unix seconds: the year 5138


# ----------------------------------------------------------------------------- the single rules


class Status(str, enum.Enum):
    """A run's status: the six a ``run_finished`` writes, and those a reader derives."""

    COMPLETED = "completed"
    EARLY_STOPPED = "early_stopped"
    STOPPED = "stopped"  # a person asked
    NAN = "nan"
    INTERRUPTED = "interrupted"  # Ctrl-C, SIGTERM
    FAILED = "failed"
    # Derived by readers, never written:
    WAITING = "waiting"  # no run_started yet
    RUNNING = "running"
    STOPPING = "stopping"  # a stop was asked for, the run has not ended yet
    UNFINISHED = "unfinished"  # ended without run_finished (killed, crashed)
    EMPTY = "empty"  # an events.jsonl without events
    DAMAGED = "damaged"  # the run's files cannot be read
    UNKNOWN = "unknown"  # a run_finished status of a later schema

    def __str__(self) -> str:
        return self.value


FINISHED_STATUSES = frozenset(
    {
        Status.COMPLETED,
        Status.EARLY_STOPPED,
        Status.STOPPED,
        Status.NAN,
        Status.INTERRUPTED,
        Status.FAILED,
    }
)
"""The statuses a ``run_finished`` event writes."""

_STATUS_TABLE = {
    # status: (label in the dashboard's header, style)
    Status.WAITING: ("starting", "dim"),
    Status.RUNNING: ("running", "bold green"),
    Status.STOPPING: ("stopping", "bold yellow"),
    Status.COMPLETED: ("finished", "bold green"),
    Status.EARLY_STOPPED: ("early-stopped", "bold yellow"),
    Status.STOPPED: ("stopped", "bold yellow"),
    Status.NAN: ("NaN", "bold red"),
    Status.INTERRUPTED: ("interrupted", "bold red"),
    Status.FAILED: ("failed", "bold red"),
    Status.UNFINISHED: ("unfinished", "bold red"),
    Status.EMPTY: ("empty", "dim"),
    Status.DAMAGED: ("damaged", "bold red"),
    Status.UNKNOWN: ("unknown", ""),
}
STATUS_LABELS = {status.value: label for status, (label, _style) in _STATUS_TABLE.items()}
"""How each status reads in the dashboard's header."""
STATUS_STYLES = {status.value: style for status, (_label, style) in _STATUS_TABLE.items()}
"""The Rich style of each status, in every view."""


def parse_status(value: object) -> Status:
    """The `Status` of a ``run_finished`` ``status`` value; `Status.UNKNOWN` for anything else
    (a later schema's status, a damaged value)."""
    try:
        return Status(value)
    except ValueError:
        return Status.UNKNOWN


class LrReason(str, enum.Enum):
    """Why the learning rate changed (``lr_changed.reason``)."""

    SCHEDULE = "schedule"
    PLATEAU = "plateau"
    WARMUP_END = "warmup_end"
    UNKNOWN = "unknown"  # kerasdl.callbacks.Track: changed, by nothing it knows
    OTHER = "other"  # a later schema's reason

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: object) -> LrReason:
        try:
            return cls(value)
        except ValueError:
            return cls.OTHER


_LARGER_IS_BETTER = ("acc", "auc", "precision", "recall", "f1", "iou", "r2", "top_k")
_SMALLER_IS_BETTER = ("loss", "error", "mae", "mse", "mape", "hinge", "crossentropy", "divergence")


def metric_direction(metric: str | None, mode: str | None = None) -> str | None:
    """``"max"`` when a larger value of ``metric`` is better, ``"min"`` when a smaller one is,
    None when its name does not say: ``mode`` (``"max"``/``"min"``, from a callback's status)
    when given; else a loss or an error (``loss``, ``mae``, ``mse``, ...) goes down; else
    accuracy, AUC, precision, recall, F1, IoU, R² go up.

    Args:
        metric: A metric name (``val_accuracy``, ``final_loss``).
        mode: ``"max"``, ``"min"``, or None/``"auto"`` to decide by the name.
    """
    if mode in ("max", "min"):
        return mode
    name = (metric or "").lower()
    if any(key in name for key in _SMALLER_IS_BETTER):
        return "min"
    if any(key in name for key in _LARGER_IS_BETTER):
        return "max"
    return None


def larger_is_better(metric: str | None, mode: str | None = None) -> bool:
    """Whether a larger value of ``metric`` is better (`metric_direction` is ``"max"``; a
    metric whose name does not say counts as a loss, as Keras's ``mode="auto"`` does).

    Args:
        metric: A metric name; None counts as a loss.
        mode: ``"max"``, ``"min"``, or None/``"auto"`` to decide by the name.
    """
    return metric_direction(metric, mode) == "max"


# ----------------------------------------------------------------------------- field kinds


class _Bad(Exception):
    """A value that does not fit its field (the message says why)."""


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _int(value, low=-_MAX_INT, high=_MAX_INT):
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(f"not an integer (got {_show(value)})")
    if not low <= value <= high:
        raise _Bad(f"out of range {low}..{high} (got {_show(value)})")
    return value


def _count(value):
    return _int(value, 0)


NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
"""The strings strict JSON writes for the non-finite floats."""


def _float(value):
    if isinstance(value, str) and value in NON_FINITE:
        return NON_FINITE[value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(f"not a number (got {_show(value)})")
    try:
        return float(value)
    except OverflowError as exc:  # an int too large for a float
        raise _Bad(f"out of range (got {_show(value)})") from exc


def _seconds(value):
    """A time or a duration: a finite number within +-1e11 seconds."""
    value = _float(value)
    if not (math.isfinite(value) and abs(value) < _MAX_TIME):
        raise _Bad(f"not a finite time (got {_show(value)})")
    return value


def _text(value):
    if not isinstance(value, str):
        raise _Bad(f"not a string (got {_show(value)})")
    if len(value) > MAX_TEXT:
        raise _Bad(f"longer than {MAX_TEXT:,} characters")
    return value


def _bool(value):
    if not isinstance(value, bool):
        raise _Bad(f"not true or false (got {_show(value)})")
    return value


def _dict(value):
    """A free-form object (the config, a later schema's section), kept as read."""
    if not isinstance(value, dict):
        raise _Bad(f"not an object (got {_show(value)})")
    return value


def _texts(value):
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Bad(f"not a list of strings (got {_show(value)})")
    return [_text(v) for v in value]


def _metrics(value):
    """``{name: value}``: numbers (and the NaN strings) as floats; any other value (a later
    schema's dict or list metric) kept as it is."""
    if not isinstance(value, dict):
        raise _Bad(f"not an object of metrics (got {_show(value)})")
    out = {}
    for name, item in value.items():
        if isinstance(item, bool):
            out[name] = item
        elif isinstance(item, (int, float)) or (isinstance(item, str) and item in NON_FINITE):
            out[name] = _float(item)
        else:
            out[name] = item
    return out


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """One declared field: its name, its kind, whether null is allowed, and what it means.

    Attributes:
        name: The JSON key.
        kind: The kind's name (``int``, ``count``, ``float``, ``seconds``, ``text``, ``bool``,
            ``object``, ``texts``, ``metrics``, or ``object:<section>`` for a declared section).
        doc: One line for the docs.
        nullable: Whether ``null`` is a valid value. Defaults to True.
    """

    name: str
    kind: str
    doc: str
    nullable: bool = True


_KINDS: dict[str, Callable] = {
    "int": _int,
    "count": _count,
    "float": _float,
    "seconds": _seconds,
    "text": _text,
    "bool": _bool,
    "object": _dict,
    "texts": _texts,
    "metrics": _metrics,
}


def _f(name, kind, doc, nullable=True):
    return FieldSpec(name, kind, doc, nullable)


#: The declared keys of the sections some fields hold (``object:<section>``); other keys are
#: kept as they are.
SECTIONS: dict[str, tuple[FieldSpec, ...]] = {
    "dataset": (
        _f("name", "text", "the dataset's name"),
        _f("source", "text", "where the data came from"),
        _f("notice", "text", "a fallback, or null"),
        _f("n_train", "count", "training examples"),
        _f("n_val", "count", "validation examples"),
        _f("n_test", "count", "test examples"),
    ),
    "optimizer": (
        _f("name", "text", "the optimizer's name"),
        _f("learning_rate", "float", "the starting rate"),
    ),
    "threads": (
        _f("intra_op", "count", "TensorFlow's intra-op threads (0: its own choice)"),
        _f("inter_op", "count", "TensorFlow's inter-op threads (0: its own choice)"),
    ),
    "early_stopping": (
        _f("monitor", "text", "the watched quantity"),
        _f("mode", "text", '"min" or "max"'),
        _f("best", "float", "the best value so far"),
        _f("best_epoch", "count", "its epoch (1-based)"),
        _f("wait", "count", "epochs since the last improvement"),
        _f("patience", "count", "epochs without improvement that stop training"),
        _f("epochs_left", "count", "epochs without improvement after which training stops"),
        _f("stopped", "bool", "whether it stopped training"),
        _f("stopped_epoch", "count", "at which epoch (1-based)"),
        _f("improved", "bool", "this epoch improved on the best"),
        _f("min_delta", "float", "the margin an improvement must beat"),
    ),
    "plateau": (
        _f("monitor", "text", "the watched quantity"),
        _f("mode", "text", '"min" or "max"'),
        _f("best", "float", "the best value"),
        _f("wait", "count", "bad epochs counted"),
        _f("patience", "count", "bad epochs allowed before a reduction"),
        _f("cooldown", "count", "the cooldown setting"),
        _f("cooldown_left", "count", "cooldown epochs left"),
        _f("factor", "float", "the reduction factor"),
        _f("min_lr", "float", "the floor"),
        _f("learning_rate", "float", "the rate after this epoch's decision"),
        _f("scale", "float", "the factor on a schedule"),
        _f("reduced", "bool", "this epoch reduced the rate"),
        _f("num_reductions", "count", "reductions so far"),
    ),
    "checkpoint": (
        _f("monitor", "text", "the watched quantity"),
        _f("best", "float", "the best value"),
        _f("best_epoch", "count", "its epoch (1-based)"),
        _f("saves", "count", "saves so far"),
        _f("filepath", "text", "the checkpoint's path"),
    ),
    "best": (
        _f("monitor", "text", "the watched quantity"),
        _f("value", "float", "its best value"),
        _f("epoch", "count", "the best epoch (1-based)"),
    ),
    "fit": (
        _f("model", "object", "name, class, params, layers"),
        _f("optimizer", "object", "class and get_config()"),
        _f("loss", "text", "the compiled loss"),
        _f("metrics", "texts", "the compiled metrics"),
        _f("epochs", "count", "fit's epochs"),
        _f("initial_epoch", "count", "fit's initial_epoch"),
        _f("batch_size", "count", "fit's batch size"),
        _f("steps_per_epoch", "count", "steps in an epoch"),
        _f("validation", "text", "where validation data came from"),
        _f("callbacks", "texts", "the callbacks of the fit"),
        _f("early_stopping", "object", "the early-stopping callback's setup"),
        _f("plateau", "object", "the plateau callback's setup"),
        _f("checkpoint", "object", "the checkpoint callback's setup"),
        _f("runs_dir", "text", "the runs folder"),
        _f("track", "object", "Track's own settings"),
    ),
}


@dataclasses.dataclass(frozen=True)
class EventSpec:
    """One event type: its name, its fields (after the common ones) and what it is for."""

    type: str
    doc: str
    fields: tuple[FieldSpec, ...]
    in_file: bool = True

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


COMMON = (
    _f("schema", "count", "the schema version, 1", nullable=False),
    _f("type", "text", "the event type", nullable=False),
    _f("time", "seconds", "when it was emitted, Unix seconds"),
    _f("run_id", "text", "the run's id: the name of its directory"),
)
"""The fields every event starts with."""

SCHEMA: dict[str, EventSpec] = {
    spec.type: spec
    for spec in (
        EventSpec(
            "run_started",
            "a run starts, or is resumed",
            (
                _f("config", "object", "TrainConfig.to_dict(): every choice of the run"),
                _f("dataset", "object:dataset", "the data and its split sizes"),
                _f("params", "count", "the model's parameter count"),
                _f("trainable_params", "count", "its trainable parameters"),
                _f("backend", "text", "Keras's backend"),
                _f("devices", "texts", "the devices it trains on"),
                _f("epochs", "count", "the epochs planned"),
                _f("steps_per_epoch", "count", "optimizer steps in an epoch"),
                _f("batch_size", "count", "samples in a step"),
                _f("optimizer", "object:optimizer", "the optimizer and its starting rate"),
                _f("resumed_from", "count", "the epoch a resumed run continues after"),
                _f("strategy", "text", "the distribution strategy"),
                _f("steps_per_execution", "count", "steps per compiled call"),
                _f("loop", "text", "the training loop that ran"),
                _f("threads", "object:threads", "TensorFlow's thread pools"),
                _f("setup_s", "seconds", "seconds from the start of the setup to this event"),
                _f("origin", "text", '"track": written by kerasdl.callbacks.Track'),
                _f("fit", "object:fit", "the model and fit a Track recorded"),
                _f("pid", "count", "the writing process"),
                _f("host", "text", "its host name"),
            ),
        ),
        EventSpec(
            "batch",
            "progress within an epoch (sinks only)",
            (
                _f("epoch", "count", "the epoch (1-based)"),
                _f("epochs", "count", "the epochs planned"),
                _f("step", "count", "steps done in this epoch"),
                _f("steps", "count", "steps in an epoch"),
                _f("samples_per_s", "float", "training samples a second"),
                _f("eta_s", "float", "seconds left in this epoch"),
                _f("metrics", "metrics", "the running averages"),
            ),
            in_file=False,
        ),
        EventSpec(
            "epoch_ended",
            "an epoch ended (training and validation)",
            (
                _f("epoch", "count", "the epoch (1-based)"),
                _f("epochs", "count", "the epochs planned"),
                _f("metrics", "metrics", "every value Keras logged"),
                _f("learning_rate", "float", "the rate of the epoch's first step"),
                _f("early_stopping", "object:early_stopping", "early stopping's status"),
                _f("plateau", "object:plateau", "the plateau reducer's status"),
                _f("checkpoint_saved", "bool", "this epoch wrote best.keras"),
                _f("checkpoint", "object:checkpoint", "the best checkpoint's status"),
                _f("epoch_seconds", "seconds", "wall time of the epoch"),
                _f("samples_per_s", "float", "training samples a second"),
            ),
        ),
        EventSpec(
            "lr_changed",
            "the learning rate of the next epoch differs",
            (
                _f("epoch", "count", "the epoch after which the rate changed"),
                _f("old", "float", "the rate before"),
                _f("new", "float", "the rate after"),
                _f("reason", "text", '"plateau", "warmup_end", "schedule" or "unknown"'),
            ),
        ),
        EventSpec(
            "notice",
            "something a person should read",
            (
                _f("level", "text", '"info", "warning" or "error"'),
                _f("message", "text", "one line"),
            ),
        ),
        EventSpec(
            "system",
            "CPU, memory and GPU use, sampled every few seconds (kerasdl.system_metrics)",
            (
                _f("cpu_percent", "float", "the process's CPU since the last sample, % of a core"),
                _f("machine_cpu_percent", "float", "the machine's busy share, 0-100"),
                _f("cpu_count", "count", "the cores the process may use"),
                _f("rss_mb", "float", "the process's resident memory, MiB"),
                _f("rss_peak_mb", "float", "its peak so far, MiB"),
                _f("gpu_memory_mb", "float", "memory used on the GPUs, MiB"),
                _f("gpu_memory_total_mb", "float", "their memory, MiB"),
                _f("gpu_util_percent", "float", "their mean utilisation, 0-100"),
            ),
        ),
        EventSpec(
            "run_finished",
            "the last event of a run (or of one part of a resumed run)",
            (
                _f("status", "text", "how the run ended (Status)"),
                _f("best_epoch", "count", "the best epoch (1-based)"),
                _f("best", "object:best", "the monitored quantity and its best value"),
                _f("test", "metrics", "the test-set metrics"),
                _f("duration_s", "seconds", "seconds this part of the run took, setup included"),
                _f("epochs_run", "count", "epochs finished"),
                _f("error", "text", "the error message of a failed run"),
                _f("resumed_from", "count", "as in run_started"),
                _f("restored_best", "bool", "the best epoch's weights were put back"),
                _f("last_checkpoint_epoch", "count", "the epoch last.keras holds"),
            ),
        ),
    )
}
"""Schema 1: every event type and its declared fields (docs/events.md describes them)."""


def _check(spec: FieldSpec, value, problems: list[str], where: str):
    """``value`` checked against ``spec``; None (and a problem) when it does not fit."""
    if value is None:
        if not spec.nullable:
            problems.append(f"{where}: missing")
        return None
    kind, _, section = spec.kind.partition(":")
    try:
        value = _KINDS[kind](value)
    except _Bad as exc:
        problems.append(f"{where}: {exc}")
        return None
    if section:
        value = _section(SECTIONS[section], value, problems, where)
    return value


def _section(specs: tuple[FieldSpec, ...], value: dict, problems: list[str], where: str) -> dict:
    out = dict(value)
    for spec in specs:
        if spec.name in value:
            out[spec.name] = _check(spec, value[spec.name], problems, f"{where}.{spec.name}")
    return out


# ----------------------------------------------------------------------------- events


class Event(Mapping):
    """One event as read: its common fields, its declared fields (checked), the fields it
    had that schema 1 does not declare (kept), and the problems found.

    A read-only mapping of every field (as the event's JSON object, with checked values), so
    ``event["metrics"]`` and ``event.get("epoch")`` work; attributes give the common fields.

    Attributes:
        type: The event type (any string: unknown types are kept).
        schema: The schema version it was written with (None if it had none).
        time: Unix seconds (None if missing or not a finite time).
        run_id: The run's id, or None.
        extra: The fields schema 1 does not declare for this type, as read.
        problems: What did not fit: ``"<type>.<field>: <why>"``, one string each.
    """

    __slots__ = ("_values", "extra", "problems", "run_id", "schema", "time", "type")

    def __init__(self, values: Mapping, *, extra: Mapping, problems: tuple[str, ...]):
        self._values = MappingProxyType(dict(values))
        self.type = values.get("type")
        self.schema = values.get("schema")
        self.time = values.get("time")
        self.run_id = values.get("run_id")
        self.extra = MappingProxyType(dict(extra))
        self.problems = tuple(problems)

    def __getitem__(self, key):
        return self._values[key]

    def __iter__(self) -> Iterator:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __setattr__(self, name, value):
        if hasattr(self, "problems"):  # set once, in __init__
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return f"Event({dict(self._values)!r}, problems={list(self.problems)!r})"

    @property
    def known(self) -> bool:
        """Whether schema 1 declares this event type."""
        return self.type in SCHEMA


@dataclasses.dataclass(frozen=True)
class LineProblem:
    """A line of ``events.jsonl`` that is not an event at all.

    Attributes:
        line: Its 1-based line number (None when not read from a file).
        message: Why (``"not a JSON object"``, ``"longer than 1,048,576 bytes"``).
    """

    line: int | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line is not None else self.message


def from_dict(data: Mapping) -> Event:
    """An `Event` from a decoded JSON object: declared fields checked, the rest kept.

    Never raises for a mapping: a field that does not fit is None in the event and a problem.
    """
    problems: list[str] = []
    values: dict = {}
    kind = data.get("type")
    kind = kind if isinstance(kind, str) and len(kind) <= 100 else None
    name = kind or "event"
    if kind is None:
        problems.append(f"event.type: not a short string (got {_show(data.get('type'))})")
    for spec in COMMON:
        if spec.name == "type":
            if "type" in data:
                values["type"] = kind
        elif spec.name in data:
            values[spec.name] = _check(spec, data[spec.name], problems, f"{name}.{spec.name}")
    declared = SCHEMA.get(kind)
    extra = {}
    for key, value in data.items():
        if not isinstance(key, str) or key in values:
            continue
        spec = declared.field(key) if declared else None
        if spec is None:
            extra[key] = value
            values[key] = value
        else:
            values[key] = _check(spec, value, problems, f"{name}.{key}")
    return Event(values, extra=extra, problems=tuple(problems))


def _depth_over(value, limit: int) -> bool:
    """Whether ``value`` nests dicts and lists more than ``limit`` deep (iteratively)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return False


def decode_json(line: str | bytes, max_bytes: int = MAX_LINE_BYTES) -> dict | str:
    """A line's JSON object, or a string saying why it is not one (never raises).

    Args:
        line: A line of ``events.jsonl`` (or a whole JSON file, with its own ``max_bytes``).
        max_bytes: The longest text read. Defaults to `MAX_LINE_BYTES`.
    """
    if len(line) > max_bytes:
        return f"longer than {max_bytes:,} bytes"
    try:
        value = json.loads(line)
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except RecursionError:
        return f"nested deeper than {MAX_DEPTH}"
    except ValueError:
        return "not JSON (a torn line?)"
    if not isinstance(value, dict):
        return "not a JSON object"
    if _depth_over(value, MAX_DEPTH):
        return f"nested deeper than {MAX_DEPTH}"
    return value


def from_line(line: str | bytes, number: int | None = None) -> Event | LineProblem:
    """One line of ``events.jsonl`` as an `Event`, or a `LineProblem`; never raises.

    Args:
        line: The line, without its newline.
        number: Its 1-based line number, for the problem's message. Defaults to None.
    """
    value = decode_json(line)
    if isinstance(value, str):
        return LineProblem(number, value)
    return from_dict(value)


def _strict(value):
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Mapping):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(item) for item in value]
    return value


def to_dict(event: Mapping) -> dict:
    """An event as the JSON object written to the file (non-finite floats as their strings)."""
    return _strict(dict(event))


def to_line(event: Mapping) -> str:
    """An event as one line of strict JSON (no newline)."""
    return json.dumps(to_dict(event), allow_nan=False, ensure_ascii=False)
