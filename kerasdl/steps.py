"""A run's step history: batch-level loss and metrics in ``runs/<id>/steps.jsonl``.

``events.jsonl`` holds one line an epoch; the within-epoch history goes here, in a file of its
own, so the event stream stays small. One JSON object a line (``docs/runs.md``)::

    {"steps_schema": 1, "interval_s": 0.25, "thinned": 0, "max_rows": 10000}
    {"step": 128, "epoch": 1, "time": 1767225600.412, "metrics": {"loss": 0.93, "accuracy": 0.71}}
    {"step": 256, "epoch": 1, "time": 1767225600.671, "metrics": {"loss": 0.71, "accuracy": 0.78}}

The first line is the header; every other line is a row: ``step`` the global optimizer step
(1-based: steps done since the run began, over all epochs), ``epoch`` (1-based), ``time`` (Unix
seconds) and ``metrics``, the running averages Keras reports after that step (the mean since the
epoch began, what the progress bar shows; the epoch's last row holds the epoch's training
values). Non-finite floats are written as in the events (``"NaN"``).

`StepWriter` writes it: a row at most every ``interval_s`` seconds (0.25 s), plus the epoch's last
step, appended as one ``write`` of a whole line. The file is bounded: when it holds ``max_rows``
rows (10,000, about 1 MB) every second row is dropped, the file is rewritten atomically, and the
interval doubles (``thinned`` counts the halvings), so a long run keeps an even, coarser history
of its whole length. `read_steps` reads it back as untrusted input: a regular file of at most
`MAX_STEPS_BYTES`, lines of at most `MAX_LINE_BYTES`, every field checked, a torn last line
skipped, at most `MAX_READ_ROWS` rows.

Light: the standard library only (no Keras); `kerasdl.step_log.StepLog` is the Keras callback.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from kerasdl._files import read_regular_file, replace_atomically
from kerasdl.events.schema import NON_FINITE, decode_json

__all__ = [
    "MAX_LINE_BYTES",
    "MAX_READ_ROWS",
    "MAX_ROWS",
    "MAX_STEPS_BYTES",
    "STEPS_FILE",
    "STEPS_SCHEMA",
    "StepHistory",
    "StepRow",
    "StepWriter",
    "read_steps",
    "step_curves",
]

STEPS_FILE = "steps.jsonl"
STEPS_SCHEMA = 1
#: Rows a `StepWriter` keeps before it drops every second one.
MAX_ROWS = 10_000
#: The largest ``steps.jsonl`` `read_steps` reads (32 MiB).
MAX_STEPS_BYTES = 32 << 20
#: The longest line `read_steps` reads (64 KiB); a longer one is skipped.
MAX_LINE_BYTES = 64 << 10
#: The most rows `read_steps` returns (more, from a foreign file, are thinned evenly).
MAX_READ_ROWS = 2 * MAX_ROWS
#: The most metrics a row holds, and the longest metric name.
MAX_METRICS = 64
MAX_NAME = 200
_MAX_STEP = 2**53
_MAX_TIME = 1e11
_MAX_PROBLEMS = 100
_FLOAT_TEXT = {math.inf: "Infinity", -math.inf: "-Infinity"}


@dataclasses.dataclass(frozen=True)
class StepRow:
    """One row of the step history.

    Attributes:
        step: The global optimizer step (1-based, over all epochs).
        epoch: The epoch (1-based).
        time: Unix seconds, or None.
        metrics: ``{name: value}``, the running averages since the epoch began.
    """

    step: int
    epoch: int
    time: float | None
    metrics: dict[str, float]

    def to_line(self) -> str:
        """The row as one line of strict JSON (without the newline)."""
        metrics = {name: _json_float(value) for name, value in self.metrics.items()}
        row = {"step": self.step, "epoch": self.epoch, "time": self.time, "metrics": metrics}
        return json.dumps(row, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))


@dataclasses.dataclass
class StepHistory:
    """A run's ``steps.jsonl`` as read back.

    Attributes:
        rows: The rows, by increasing step (a resumed run's re-run steps: the later row wins).
        interval_s: The header's interval between rows (after the halvings), or None.
        thinned: How many times the writer dropped every second row (0: every row kept).
        problems: What could not be read, one string each (at most 100).
    """

    rows: list[StepRow] = dataclasses.field(default_factory=list)
    interval_s: float | None = None
    thinned: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def metric_names(self) -> list[str]:
        """Every metric of any row, in first-seen order."""
        return list(dict.fromkeys(name for row in self.rows for name in row.metrics))

    def curve(self, metric: str) -> list[tuple[int, float]]:
        """``[(step, value), ...]`` of one metric (rows without it left out)."""
        return [(row.step, row.metrics[metric]) for row in self.rows if metric in row.metrics]


# ----------------------------------------------------------------------------- writing


class StepWriter:
    """Append throttled rows to ``steps.jsonl``, bounded to ``max_rows`` rows.

    A file that exists (a resumed run) is read back first (`read_steps`): its rows after
    ``keep_through`` (steps a resume runs again) and any torn or foreign line are dropped, its
    ``thinned`` count is kept, and it is rewritten atomically once. Each `add` appends one
    line with a single ``write`` (``O_APPEND``); a crash can leave only a torn last line,
    which `read_steps` skips. When the file reaches ``max_rows`` rows, every second row is
    dropped (the last one stays), the file is rewritten atomically, and the interval doubles.

    Args:
        path: The ``steps.jsonl`` file; its directory must exist.
        interval_s: Least seconds between two rows, ``>= 0`` (`due`). Defaults to 0.25.
        max_rows: Rows kept before a halving, ``>= 2``. Defaults to `MAX_ROWS`.
        keep_through: Keep the existing rows up to this step (a resume from the end of an
            epoch); None keeps them all. Defaults to None.
        collect_new: Keep the rows added for `take_new` (the TensorBoard writer takes them
            each epoch). Defaults to False.
        clock: Unix seconds, for a row's ``time``. Defaults to ``time.time``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        interval_s: float = 0.25,
        max_rows: int = MAX_ROWS,
        keep_through: int | None = None,
        collect_new: bool = False,
        clock=time.time,
    ):
        if not isinstance(interval_s, (int, float)) or not interval_s >= 0:
            raise ValueError(f"interval_s must be >= 0; got {interval_s!r}")
        if not isinstance(max_rows, int) or max_rows < 2:
            raise ValueError(f"max_rows must be an integer >= 2; got {max_rows!r}")
        self.path = Path(path)
        self.base_interval_s = float(interval_s)
        self.max_rows = max_rows
        self._clock = clock
        self.thinned = 0
        self.rows: list[StepRow] = []
        self._collect_new = bool(collect_new)
        self._new: list[StepRow] = []
        self._last_due = -math.inf
        if os.path.lexists(self.path):
            self._continue(keep_through)
        else:
            self._rewrite()

    @property
    def interval_s(self) -> float:
        """The interval now: ``interval_s`` doubled at each halving."""
        return self.base_interval_s * 2**self.thinned

    def due(self, now: float) -> bool:
        """Whether a row may be written at ``now`` (monotonic seconds): ``interval_s`` since
        the last row."""
        return now - self._last_due >= self.interval_s

    def add(self, step: int, epoch: int, metrics: Mapping[str, float], *, now: float) -> StepRow:
        """Append one row (the caller checked `due`, or it is an epoch's last step).

        Args:
            step: The global optimizer step (1-based).
            epoch: The epoch (1-based).
            metrics: ``{name: float}``; names longer than `MAX_NAME` and those after the first
                `MAX_METRICS` are left out.
            now: Monotonic seconds, for the throttle.

        Returns:
            The row written.
        """
        kept = {}
        for name, value in metrics.items():
            if len(kept) >= MAX_METRICS:
                break
            if isinstance(name, str) and len(name) <= MAX_NAME:
                kept[name] = float(value)
        row = StepRow(int(step), int(epoch), round(float(self._clock()), 3), kept)
        self._last_due = now
        self.rows.append(row)
        if self._collect_new:
            self._new.append(row)
        if len(self.rows) >= self.max_rows:
            self._thin()
        else:
            _append(self.path, row.to_line() + "\n")
        return row

    def take_new(self) -> list[StepRow]:
        """The rows added since the last call, oldest first (with ``collect_new``; else
        ``[]``)."""
        new, self._new = self._new, []
        return new

    # -- pieces

    def _continue(self, keep_through: int | None) -> None:
        try:
            history = read_steps(self.path)
        except OSError:  # not a regular file, too large: replaced by a new history
            history = StepHistory()
        self.thinned = history.thinned
        self.rows = [
            row for row in history.rows if keep_through is None or row.step <= keep_through
        ]
        while len(self.rows) >= self.max_rows:
            self._thin(write=False)
        self._rewrite()

    def _thin(self, *, write: bool = True) -> None:
        rows = self.rows
        self.rows = rows[(len(rows) + 1) % 2 :: 2]  # every second row, the last kept
        self.thinned += 1
        if write:
            self._rewrite()

    def _header(self) -> str:
        header = {
            "steps_schema": STEPS_SCHEMA,
            "interval_s": self.interval_s,
            "thinned": self.thinned,
            "max_rows": self.max_rows,
        }
        return json.dumps(header, separators=(", ", ": "))

    def _rewrite(self) -> None:
        lines = [self._header(), *(row.to_line() for row in self.rows)]
        text = "\n".join(lines) + "\n"

        def write(temporary: str) -> None:
            with open(temporary, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)

        replace_atomically(self.path, write)


def _append(path: Path, line: str) -> None:
    """One ``write`` of a whole line to the end of ``path`` (``O_APPEND``)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def _json_float(value: float):
    if math.isnan(value):
        return "NaN"
    return _FLOAT_TEXT.get(value, value)


# ----------------------------------------------------------------------------- reading


def read_steps(path: str | os.PathLike) -> StepHistory:
    """A ``steps.jsonl`` (or the run directory holding one), read as untrusted input.

    Only a regular file of at most `MAX_STEPS_BYTES` is read (`kerasdl._files.read_regular_file`).
    A missing file gives an empty history. A line that is longer than `MAX_LINE_BYTES`, not a
    JSON object, or a row whose fields are not what they should be is skipped and named in
    ``problems`` (a torn last line, which a live writer may be in the middle of, silently). Rows
    whose step is not after the previous row's replace the earlier ones from that step on (a
    resumed run ran those steps again). More than `MAX_READ_ROWS` rows are thinned evenly.

    Raises:
        kerasdl._files.UnreadableFile: Not a regular file, or too large.
        OSError: It cannot be read.
    """
    path = Path(path)
    if path.is_dir():
        path = path / STEPS_FILE
    data = read_regular_file(path, MAX_STEPS_BYTES)
    history = StepHistory()
    if data is None:
        return history
    lines = data.split(b"\n")
    problems: list[str] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        value = decode_json(line, max_bytes=MAX_LINE_BYTES)
        if isinstance(value, str):
            if number < len(lines):  # the last piece without a newline: a torn write
                problems.append(f"line {number}: {value}")
            continue
        if number == 1 and "steps_schema" in value:
            _read_header(value, history, problems)
            continue
        row = _row(value)
        if isinstance(row, str):
            problems.append(f"line {number}: {row}")
            continue
        while history.rows and history.rows[-1].step >= row.step:
            history.rows.pop()
        history.rows.append(row)
    if len(history.rows) > MAX_READ_ROWS:
        stride = math.ceil(len(history.rows) / MAX_READ_ROWS)
        history.rows = history.rows[len(history.rows) - 1 :: -stride][::-1]
    history.problems = problems[:_MAX_PROBLEMS]
    if len(problems) > _MAX_PROBLEMS:
        history.problems.append(f"... and {len(problems) - _MAX_PROBLEMS} more")
    return history


def _read_header(value: dict, history: StepHistory, problems: list[str]) -> None:
    interval, thinned = value.get("interval_s"), value.get("thinned")
    if _is_number(interval) and math.isfinite(interval) and 0 <= interval < _MAX_TIME:
        history.interval_s = float(interval)
    if _is_int(thinned) and 0 <= thinned <= 64:
        history.thinned = thinned
    else:
        problems.append("line 1: the header's thinned is not a count")


def _row(value: dict) -> StepRow | str:
    """A row, or why the object is not one."""
    step, epoch, when, metrics = (value.get(k) for k in ("step", "epoch", "time", "metrics"))
    if not (_is_int(step) and 0 < step < _MAX_STEP):
        return "step is not a positive integer"
    if not (_is_int(epoch) and 0 < epoch < _MAX_STEP):
        return "epoch is not a positive integer"
    if when is not None and not (
        _is_number(when) and math.isfinite(when) and 0 <= when < _MAX_TIME
    ):
        return "time is not a Unix time"
    if not isinstance(metrics, dict) or len(metrics) > MAX_METRICS:
        return f"metrics is not an object of at most {MAX_METRICS} numbers"
    out = {}
    for name, item in metrics.items():
        if len(name) > MAX_NAME:
            return f"a metric name is longer than {MAX_NAME} characters"
        if isinstance(item, str) and item in NON_FINITE:
            out[name] = NON_FINITE[item]
        elif _is_number(item):
            out[name] = float(item)
        else:
            return f"metric {name[:40]!r} is not a number"
    return StepRow(step, epoch, None if when is None else float(when), out)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        float(value)
    except OverflowError:
        return False
    return True


def step_curves(run_dirs: Iterable[tuple[str, str | os.PathLike]]) -> dict:
    """The step curves of several runs, to overlay: ``{metric: {name: [(step, value), ...]}}``.

    Args:
        run_dirs: ``(name, run directory)`` pairs; a run without ``steps.jsonl`` has none.

    Returns:
        Every metric of any run; a run that lacks it has ``[]``. A run whose file cannot be
        read (not a regular file, too large) has none either.
    """
    histories = {}
    for name, run_dir in run_dirs:
        try:
            histories[name] = read_steps(Path(run_dir) / STEPS_FILE)
        except OSError:
            histories[name] = StepHistory()
    metrics = list(dict.fromkeys(m for h in histories.values() for m in h.metric_names))
    return {m: {name: h.curve(m) for name, h in histories.items()} for m in metrics}
