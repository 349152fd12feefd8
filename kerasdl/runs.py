"""Run directories: create, list, load, compare and export runs; the files a run keeps.

A run lives in ``<runs_dir>/<run_id>/`` (see ``docs/runs.md``)::

    config.toml    what ran (re-runnable with ``kerasdl train --config``)
    fit.json       instead of config.toml, in a run kerasdl.callbacks.Track recorded: the
                   model, its compile and fit arguments, the callbacks (not resumable)
    events.jsonl   the event stream (kerasdl.events), append-only
    steps.jsonl    the step history: running loss and metrics within epochs (kerasdl.steps)
    tensorboard/   TensorBoard event files, with tensorboard = true (kerasdl.tensorboard_files)
    best.keras     the best model so far (written by BestCheckpoint, atomically)
    last.keras     the model and optimizer at the last finished epoch (for --resume)
    state.json     beside last.keras: epoch, callbacks' states, data position (atomic)
    summary.json   the outcome, written at the end (atomic)

Everything here reads ``events.jsonl`` and the JSON files only: this module is light (no
Keras), so ``kerasdl runs list`` is fast. Writers of ``summary.json`` and ``state.json`` go
through `write_summary` and `save_resume_state`, which write a temporary file, ``fsync`` it
and move it into place with ``os.replace``: a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path

from kerasdl._files import read_regular_file, replace_atomically
from kerasdl.events import MAX_EVENTS_BYTES, encode_event
from kerasdl.events.record import RunRecord
from kerasdl.events.schema import NON_FINITE, Status, decode_json, from_dict
from kerasdl.safe_text import csv_cell

__all__ = [
    "CONFIG_FILE",
    "EVENTS_FILE",
    "STATE_FILE",
    "SUMMARY_FILE",
    "Comparison",
    "RunError",
    "RunInfo",
    "check_resumable",
    "check_run_name",
    "check_writable",
    "compare",
    "export_csv",
    "list_runs",
    "load_resume_state",
    "load_run",
    "new_run_dir",
    "new_run_id",
    "read_summary",
    "run_status",
    "save_resume_state",
    "write_json_atomically",
    "write_summary",
    "write_text_atomically",
]

CONFIG_FILE = "config.toml"
FIT_FILE = "fit.json"
EVENTS_FILE = "events.jsonl"
SUMMARY_FILE = "summary.json"
STATE_FILE = "state.json"
BEST_MODEL_FILE = "best.keras"
LAST_MODEL_FILE = "last.keras"

#: The largest ``summary.json``, ``state.json`` or ``config.toml`` read (16 MiB).
MAX_JSON_BYTES = 16 << 20

STALE_AFTER_S = 300.0
"""A run without ``run_finished`` whose writer cannot be checked counts as running while its
``events.jsonl`` changed less than ``max(STALE_AFTER_S, 3 x its longest epoch)`` ago."""

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_METRIC_ORDER = ("loss", "accuracy", "val_loss", "val_accuracy")


class RunError(Exception):
    """A run directory cannot be created, found or read (the CLI exits with code 2)."""


# ----------------------------------------------------------------------------- atomic files


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` so a reader sees the old file or the new one, whole.

    The text goes to a hidden temporary file in the same directory, is ``fsync``-ed and moved
    over ``path`` with ``os.replace``; on POSIX the directory is synced too. If anything
    fails the temporary file is removed and the error raised.
    """

    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)

    return replace_atomically(path, write)


def copy_file_atomically(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Copy ``source`` to ``path`` so a reader sees the old ``path`` or the new one, whole
    (as `write_text_atomically`: a temporary file, ``fsync``, ``os.replace``)."""
    return replace_atomically(path, lambda temporary: shutil.copyfile(source, temporary))


def write_json_atomically(path: str | os.PathLike, data: Mapping) -> Path:
    """`write_text_atomically` of ``data`` as strict, indented JSON.

    Non-finite floats are written as ``"NaN"``, ``"Infinity"``, ``"-Infinity"``, as in
    ``events.jsonl``; numpy scalars and dataclasses become plain values.
    """
    text = json.dumps(json.loads(encode_event(dict(data))), indent=2, ensure_ascii=False)
    return write_text_atomically(path, text + "\n")


def _read_json(path: Path) -> dict | None:
    """A JSON object file, decoded like an event (``"NaN"`` back to a float); None if absent.

    Only a regular file of at most `MAX_JSON_BYTES` is read (`kerasdl._files.read_regular_file`).
    """
    try:
        text = read_regular_file(path, MAX_JSON_BYTES)
    except OSError as exc:
        raise RunError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    if text is None:
        return None
    value = decode_json(text, max_bytes=MAX_JSON_BYTES)
    if not isinstance(value, dict):
        raise RunError(f"{path} is not a JSON object (a damaged file?)")
    return _lenient(value)


# Keys of kerasdl's own JSON files whose values are text: "NaN" stays a string there.
_TEXT_KEYS = frozenset(
    {"type", "run_id", "level", "message", "reason", "status", "error", "backend", "devices",
     "host", "strategy", "monitor", "mode", "name", "source", "notice", "filepath", "run_name",
     "loop", "runs_dir", "data_dir"}
)  # fmt: skip


def _lenient(value, key=None):
    """The non-finite floats that `write_json_atomically` wrote as strings, as floats again
    (``summary.json``, ``state.json``: files kerasdl wrote, not an event stream)."""
    if isinstance(value, str):
        return NON_FINITE[value] if key not in _TEXT_KEYS and value in NON_FINITE else value
    if isinstance(value, dict):
        return {name: _lenient(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [_lenient(item, key) for item in value]
    return value


def write_summary(run_dir: str | os.PathLike, summary: Mapping) -> Path:
    """Write ``summary.json`` of a run (atomically); returns its path.

    Args:
        run_dir: The run directory.
        summary: JSON-able values: the runner writes the ``run_finished`` fields plus
            ``run_id``, ``final`` metrics and ``epochs`` (see ``docs/runs.md``).
    """
    return write_json_atomically(Path(run_dir) / SUMMARY_FILE, summary)


def read_summary(run_dir: str | os.PathLike) -> dict | None:
    """``summary.json`` of a run as a dict, or ``None`` if the run has not written one."""
    return _read_json(Path(run_dir) / SUMMARY_FILE)


def save_resume_state(run_dir: str | os.PathLike, state: Mapping) -> Path:
    """Write ``state.json``, the sidecar of ``last.keras`` (atomically); returns its path.

    Write it right after ``last.keras``: the state of the same finished epoch (its number,
    the callbacks' ``get_state()``, the data position), so ``--resume`` continues exactly.

    Args:
        run_dir: The run directory.
        state: A JSON-able dict.
    """
    return write_json_atomically(Path(run_dir) / STATE_FILE, state)


def load_resume_state(run_dir: str | os.PathLike) -> dict:
    """``state.json`` of a run, for ``--resume``.

    Raises:
        RunError: The run has no ``state.json`` (it never finished an epoch, or was not made
            by ``kerasdl train``), or the file is damaged.
    """
    path = Path(run_dir) / STATE_FILE
    state = _read_json(path)
    if state is None:
        raise RunError(
            f"cannot resume {run_dir}: it has no {STATE_FILE} (no epoch finished, or it was "
            "not made by kerasdl train)"
        )
    return state


# ----------------------------------------------------------------------------- new runs


def new_run_id(run_name: str = "", *, now: datetime | None = None) -> str:
    """``run_name``, or ``<UTC date>-<UTC time>-<6 hex digits>`` (``20250131-154502-3fa9c1``).

    Generated ids sort by start time and rarely collide; `new_run_dir` retries on a clash.
    """
    if run_name:
        return run_name
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


#: The ``<UTC date>-<UTC time>-`` that starts a generated id (`new_run_id`).
_STAMP_PREFIX = re.compile(r"\d{8}-\d{6}-(?=[0-9a-f]{6}(?:-|$))")


def short_id(run_id: str) -> str:
    """A generated id without its date and time (the ``started`` column shows them):
    ``20250131-154502-3fa9c1`` -> ``3fa9c1``, an experiment's
    ``20250131-154502-3fa9c1-optimizers-adam`` -> ``3fa9c1-optimizers-adam``; a name as it is.

    `resolve_run_dir` accepts it (or a prefix of it) as it accepts a prefix of the id.
    """
    return _STAMP_PREFIX.sub("", run_id, count=1)


def short_ids(run_ids) -> dict[str, str]:
    """``{id: short form}``: `short_id` where that names one run of ``run_ids``, else the id."""
    run_ids = list(run_ids)
    shorts = [short_id(run_id) for run_id in run_ids]
    names = set(run_ids)
    return {
        run_id: short
        if shorts.count(short) == 1 and (short == run_id or short not in names)
        else run_id
        for run_id, short in zip(run_ids, shorts, strict=True)
    }


def check_writable(runs_dir: str | os.PathLike) -> Path:
    """Create ``runs_dir`` if needed and prove it is writable with a probe file.

    Raises:
        RunError: It cannot be created or written (read-only, permission denied, a file in
            the way), with the reason.
    """
    runs_dir = Path(runs_dir)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RunError(f"runs directory {runs_dir} is a file, not a directory") from None
    except OSError as error:
        raise RunError(
            f"cannot create runs directory {runs_dir}: {error.strerror or error}"
        ) from None
    if not runs_dir.is_dir():
        raise RunError(f"runs directory {runs_dir} is a file, not a directory")
    probe = runs_dir / f".write-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        with open(probe, "w", encoding="utf-8") as handle:
            handle.write("probe\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise RunError(
            f"runs directory {runs_dir} is not writable: {error.strerror or error}"
        ) from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return runs_dir


def check_run_name(name: str) -> str:
    """``name`` if it is a plain run name (1-100 of ``A-Z a-z 0-9 . _ -``, starting with a
    letter or digit), else `RunError` saying so."""
    if not isinstance(name, str) or not _RUN_ID.fullmatch(name):
        raise RunError(
            f"run name {name!r} is not a plain name: use 1-100 of A-Z a-z 0-9 . _ - "
            "starting with a letter or digit"
        )
    return name


def new_run_dir(config) -> Path:
    """Create ``<config.runs_dir>/<run id>/`` for a new run, before anything trains.

    The run id is ``config.run_name``, or a UTC timestamp and a short random suffix
    (`new_run_id`). The runs directory is created if needed and probed with a test file, so
    an unwritable place fails here, not after the first epoch. ``config.toml`` is written
    into the new directory (atomically) when ``config`` has ``to_toml()``.

    Args:
        config: A `kerasdl.config.TrainConfig` (anything with ``runs_dir`` and ``run_name``).

    Returns:
        The new, empty run directory (but for ``config.toml``).

    Raises:
        RunError: The runs directory is not writable, the run name is not a plain name, or
            a run of that name exists (resume it, or choose another name).
    """
    runs_dir = Path(getattr(config, "runs_dir", "runs") or "runs")
    run_name = getattr(config, "run_name", "") or ""
    if run_name:
        check_run_name(run_name)
    check_writable(runs_dir)
    for _ in range(5):
        run_dir = runs_dir / new_run_id(run_name)
        try:
            run_dir.mkdir()
        except FileExistsError:
            if run_name:
                raise RunError(
                    f"run directory {run_dir} exists: resume it with --resume {run_dir}, "
                    "or choose another run name"
                ) from None
            continue
        except OSError as error:
            raise RunError(f"cannot create run directory {run_dir}: {error.strerror}") from None
        break
    else:  # pragma: no cover - five clashes of 24 random bits in one second
        raise RunError(f"could not find a free run id in {runs_dir}")
    to_toml = getattr(config, "to_toml", None)
    if callable(to_toml):
        write_text_atomically(run_dir / CONFIG_FILE, to_toml())
    return run_dir


# ----------------------------------------------------------------------------- reading runs


@dataclasses.dataclass
class RunInfo:
    """What a run directory says about its run, from ``events.jsonl`` and ``summary.json``.

    Epochs are 1-based, as in the events.

    Attributes:
        run_id: The directory's name.
        path: The run directory.
        status: ``"running"``, ``"unfinished"`` (ended without ``run_finished``: killed,
            crashed or lost power; resumable from ``last.keras``), ``"empty"`` (no events),
            or the ``run_finished`` status: ``"completed"``, ``"early_stopped"``,
            ``"stopped"``, ``"nan"``, ``"interrupted"``, ``"failed"`` (see `run_status`), or
            ``"damaged"`` for a run whose files cannot be read (``error`` says why).
        started: Unix time of the first ``run_started`` (None without one).
        epochs_run: Epochs finished (``epoch_ended`` events, a resumed run's included).
        best: ``{"monitor", "value", "epoch"}`` of the best epoch, or None.
        final_metrics: The metrics of the last finished epoch (``{}`` before one).
        test_metrics: The test-set metrics of ``run_finished``, or None.
        config: The ``TrainConfig.to_dict()`` of ``run_started``, or None.
        finished: Unix time of the last ``run_finished``, or None.
        duration_s: Seconds the run trained (summed over resumed parts), or None.
        epochs: The planned number of epochs, or None.
        dataset: ``run_started``'s dataset dict, or None.
        history: One dict per finished epoch: ``epoch``, its metrics, ``learning_rate``,
            ``epoch_seconds``, ``samples_per_s``.
        lr_changes: The ``lr_changed`` events.
        notices: The ``notice`` events.
        error: The error message of a failed run, or None.
        resumes: How many times the run was resumed (``run_started`` events after the first).
        problems: What could not be read (bad lines, fields of the wrong type), one string each.
        origin: ``"track"`` for a run `kerasdl.callbacks.Track` recorded, None for one of
            ``kerasdl train``.
        fit: A Track run's ``run_started`` ``fit`` (its model, compile and fit arguments), or
            None.
        record: The `kerasdl.events.record.RunRecord` these answers come from.
    """

    run_id: str
    path: Path
    status: str
    started: float | None = None
    epochs_run: int = 0
    best: dict | None = None
    final_metrics: dict = dataclasses.field(default_factory=dict)
    test_metrics: dict | None = None
    config: dict | None = None
    finished: float | None = None
    duration_s: float | None = None
    epochs: int | None = None
    dataset: dict | None = None
    history: list[dict] = dataclasses.field(default_factory=list)
    lr_changes: list[dict] = dataclasses.field(default_factory=list)
    notices: list[dict] = dataclasses.field(default_factory=list)
    error: str | None = None
    resumes: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)
    origin: str | None = None
    fit: dict | None = None
    record: RunRecord | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def metric_names(self) -> list[str]:
        """The metrics of the epochs, loss and accuracy first."""
        return _ordered_metrics(name for row in self.history for name in row["metrics"])

    def curve(self, metric: str) -> list[tuple[int, float]]:
        """``[(epoch, value), ...]`` of one metric, or of ``"learning_rate"``."""
        if self.record is not None:
            return self.record.series(metric)  # the one rule
        points = []
        for row in self.history:
            if metric == "learning_rate":
                value = row.get("learning_rate")
            else:
                value = row["metrics"].get(metric)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                points.append((row["epoch"], float(value)))
        return points


def run_status(
    events: Iterable[Mapping] | RunRecord, *, mtime: float | None = None, now: float | None = None
) -> str:
    """The status of a run from its events or its `RunRecord` (the rule `RunInfo.status`
    documents).

    The events after the last ``run_started`` decide (an earlier ``run_finished`` belongs to
    a part that was resumed):

    1. a ``run_finished`` there gives its ``status`` (``"unknown"`` for one no schema-1
       reader knows);
    2. otherwise, if ``run_started`` names a process (``pid``) on this host: ``"running"``
       while that process lives, else ``"unfinished"``;
    3. otherwise (another host, or no ``pid``): ``"running"`` while the file changed less
       than ``max(STALE_AFTER_S, 3 x the longest epoch)`` seconds ago, else ``"unfinished"``.

    No events at all give ``"empty"``.
    """
    record = events if isinstance(events, RunRecord) else _record(events)
    if record.events == 0:
        return Status.EMPTY.value
    if record.finished is not None:
        return record.status
    alive = _writer_alive(record.started or {})
    if alive is not None:
        return Status.RUNNING.value if alive else Status.UNFINISHED.value
    if mtime is None:
        return Status.UNFINISHED.value
    now = time.time() if now is None else now
    fresh = now - mtime < max(STALE_AFTER_S, 3.0 * record.longest_epoch_seconds)
    return Status.RUNNING.value if fresh else Status.UNFINISHED.value


def _record(events: Iterable[Mapping]) -> RunRecord:
    record = RunRecord()
    for event in events:
        record.apply(event)
    return record


def _writer_alive(started: dict) -> bool | None:
    """Whether the process that wrote ``run_started`` lives (None: cannot tell from here)."""
    pid, host = started.get("pid"), started.get("host")
    if not isinstance(pid, int) or pid <= 0 or host != socket.gethostname():
        return None
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    except OSError:
        return None
    return True


def damaged(run_dir: Path, reason: str) -> RunInfo:
    """The `RunInfo` of a run that cannot be read: status ``"damaged"``, ``error`` says why."""
    return RunInfo(run_id=run_dir.name, path=run_dir, status="damaged", error=reason)


def _load(run_dir: Path) -> RunInfo:
    """The run in ``run_dir``; a run that cannot be read is `damaged`, never an exception."""
    events_path = run_dir / EVENTS_FILE
    try:
        data = read_regular_file(events_path, MAX_EVENTS_BYTES)
    except OSError as exc:
        return damaged(run_dir, f"{EVENTS_FILE}: {exc.strerror or exc}")
    try:
        return _info(run_dir, events_path, RunRecord.read(events_path, data or b""))
    except Exception as exc:  # a bug in a rule must not hide the other runs of a list
        return damaged(run_dir, f"{EVENTS_FILE} could not be read ({exc!r:.200})")


def _info(run_dir: Path, events_path: Path, record: RunRecord) -> RunInfo:
    """A `RunInfo` of the record's answers (it has no rules of its own)."""
    try:
        summary = read_summary(run_dir)
    except RunError:  # a damaged summary must not hide the run (or the others in a list)
        summary = None
    try:
        mtime = events_path.stat().st_mtime
    except OSError:
        mtime = None
    best = record.best
    info = RunInfo(
        run_id=run_dir.name,
        path=run_dir,
        status=run_status(record, mtime=mtime),
        started=record.started_time,
        epochs_run=record.epochs_run,
        best=None if best is None else {k: best[k] for k in ("monitor", "value", "epoch")},
        final_metrics=record.final_metrics,
        test_metrics=record.test_metrics,
        config=record.config or None,
        finished=record.finished_time,
        duration_s=record.duration_s,
        epochs=record.epochs,
        dataset=record.dataset,
        history=[_history_row(record.history[epoch]) for epoch in sorted(record.history)],
        lr_changes=list(record.lr_changes),
        notices=list(record.notices),
        error=record.error,
        resumes=record.resumes,
        problems=list(record.problems),
        origin=record.origin,
        fit=record.fit or None,
        record=record,
    )
    if record.events == 0 and summary is not None:  # the events file lost: the summary tells
        _from_summary(info, from_dict({**summary, "type": "run_finished"}))
    if info.config is None:
        info.config = _read_config_toml(run_dir)
    return info


def _from_summary(info: RunInfo, finished) -> None:
    """Fill a run without events from its ``summary.json`` (checked as a ``run_finished``)."""
    record = RunRecord()
    record.apply(finished)
    info.status = record.status
    info.test_metrics = record.test_metrics
    info.error = record.error
    info.duration_s = record.duration_s
    epochs_run = finished.get("epochs_run")
    info.epochs_run = epochs_run if isinstance(epochs_run, int) else 0
    final = finished.get("final")
    info.final_metrics = dict(final) if isinstance(final, dict) else {}
    best = record.best
    if best is not None:
        info.best = {k: best[k] for k in ("monitor", "value", "epoch")}
    config = finished.get("config")
    info.config = config if isinstance(config, dict) else None
    origin, fit = finished.get("origin"), finished.get("fit")
    info.origin = origin if isinstance(origin, str) else None
    info.fit = fit if isinstance(fit, dict) else None
    info.problems.extend(record.problems)


def _history_row(event) -> dict:
    metrics = event.get("metrics")
    return {
        "epoch": event["epoch"],
        "metrics": dict(metrics) if isinstance(metrics, Mapping) else {},
        "learning_rate": event.get("learning_rate"),
        "epoch_seconds": event.get("epoch_seconds"),
        "samples_per_s": event.get("samples_per_s"),
    }


def _read_config_toml(run_dir: Path) -> dict | None:
    path = run_dir / CONFIG_FILE
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            return None
    try:
        data = read_regular_file(path, MAX_JSON_BYTES)
        return None if data is None else tomllib.loads(data.decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


def check_resumable(run_dir: str | os.PathLike) -> None:
    """Refuse, with the reason, a run ``kerasdl train --resume`` cannot continue because
    ``kerasdl train`` did not make it: one `kerasdl.callbacks.Track` recorded (its model and
    data are the script's, and it has no ``config.toml``), or any run without ``config.toml``.

    What a run of ``kerasdl train`` itself needs to resume (``last.keras`` and ``state.json``)
    is checked by the runner.

    Raises:
        RunError: The run has no ``config.toml``; the message says what to do instead.
    """
    run_dir = Path(run_dir)
    if os.path.lexists(run_dir / CONFIG_FILE):
        return
    tracked = os.path.lexists(run_dir / FIT_FILE)
    if not tracked:
        with contextlib.suppress(OSError, RunError):
            tracked = load_run(run_dir).origin == "track"
    if tracked:
        last = run_dir / LAST_MODEL_FILE
        hint = (
            f"; to go on from its last epoch, load {last} in your script and fit it again"
            if last.is_file()
            else ""
        )
        raise RunError(
            f"cannot resume {run_dir}: kerasdl.callbacks.Track recorded it from a script's own "
            f"model.fit, so kerasdl train has no {CONFIG_FILE} to rebuild its model and data "
            f"from (it has {FIT_FILE}, a description){hint}"
        )
    raise RunError(
        f"cannot resume {run_dir}: it has no {CONFIG_FILE} (it was not made by kerasdl train)"
    )


def _dict_or(value, default):
    return value if isinstance(value, dict) else default


def _number(value) -> float | None:
    """A finite number within +-1e11 (a time, a duration), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and abs(value) < 1e11 else None


def _is_run_dir(path: Path) -> bool:
    """A directory with an ``events.jsonl`` or ``summary.json`` entry of any kind (one that is
    not a regular file makes the run damaged, not invisible)."""
    return path.is_dir() and any(
        os.path.lexists(path / name) for name in (EVENTS_FILE, SUMMARY_FILE)
    )


def list_runs(runs_dir: str | os.PathLike = "runs") -> list[RunInfo]:
    """The runs in ``runs_dir``, oldest first (by start time, else by name).

    A directory counts as a run when it holds ``events.jsonl`` or ``summary.json``; other
    entries are ignored. A missing ``runs_dir`` gives ``[]``.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    runs = [_load(path) for path in runs_dir.iterdir() if _is_run_dir(path)]  # never raises
    return sorted(runs, key=lambda run: (run.started is None, run.started or 0.0, run.run_id))


def load_run(path_or_id: str | os.PathLike, runs_dir: str | os.PathLike = "runs") -> RunInfo:
    """One run, by its directory (or its ``events.jsonl``), its id in ``runs_dir``, or a
    prefix of its id (or of its `short_id`) that only one run has.

    Raises:
        RunError: No such run, or the prefix matches several.
    """
    return _load(resolve_run_dir(path_or_id, runs_dir))


def resolve_run_dir(path_or_id: str | os.PathLike, runs_dir: str | os.PathLike = "runs") -> Path:
    """The directory of a run given as in `load_run` (it must hold events or a summary)."""
    given = Path(path_or_id)
    if given.name == EVENTS_FILE and given.is_file():
        return given.parent
    if _is_run_dir(given):
        return given
    runs_dir = Path(runs_dir)
    candidate = runs_dir / str(path_or_id)
    if _is_run_dir(candidate):
        return candidate
    name = str(path_or_id)
    if runs_dir.is_dir() and name and os.sep not in name:
        matches = sorted(
            path
            for path in runs_dir.iterdir()
            if (path.name.startswith(name) or short_id(path.name).startswith(name))
            and _is_run_dir(path)
        )
        exact = [path for path in matches if short_id(path.name) == name]
        matches = exact if len(exact) == 1 else matches
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            names = ", ".join(path.name for path in matches[:5])
            raise RunError(f"run {name!r} is ambiguous in {runs_dir}: {names}")
    if given.is_dir():
        raise RunError(f"{given} is not a run directory (no {EVENTS_FILE} or {SUMMARY_FILE})")
    raise RunError(f"no run {name!r}: not a run directory, nor a run id in {runs_dir}/")


# ----------------------------------------------------------------------------- comparing


@dataclasses.dataclass
class Comparison:
    """Runs side by side, for a table and for overlaid curves.

    Attributes:
        columns: The row keys, in display order.
        rows: One dict per run: ``run_id``, ``status``, ``epochs_run``, ``best_monitor``,
            ``best_value``, ``best_epoch``, ``final_<metric>`` for every metric of any run,
            ``test_<metric>``, ``duration_s`` (``None`` where a run lacks it).
        curves: ``{metric: {run_id: [(epoch, value), ...]}}`` for every metric and
            ``learning_rate``.
    """

    columns: list[str]
    rows: list[dict]
    curves: dict[str, dict[str, list[tuple[int, float]]]]


def compare(runs: Iterable[RunInfo | str | os.PathLike], runs_dir="runs") -> Comparison:
    """Best and final metrics of several runs, and their per-epoch curves.

    Args:
        runs: `RunInfo`s, or run ids / directories (loaded with `load_run`).
        runs_dir: Where ids are looked up. Defaults to ``"runs"``.
    """
    infos = [run if isinstance(run, RunInfo) else load_run(run, runs_dir) for run in runs]
    metrics = _ordered_metrics(name for info in infos for name in info.metric_names)
    tests = _ordered_metrics(name for info in infos for name in (info.test_metrics or {}))
    columns = [
        "run_id",
        "status",
        "epochs_run",
        "best_monitor",
        "best_value",
        "best_epoch",
        *(f"final_{name}" for name in metrics),
        *(f"test_{name}" for name in tests),
        "duration_s",
    ]
    rows = []
    for info in infos:
        best = info.best or {}
        row = {
            "run_id": info.run_id,
            "status": info.status,
            "epochs_run": info.epochs_run,
            "best_monitor": best.get("monitor"),
            "best_value": best.get("value"),
            "best_epoch": best.get("epoch"),
            **{f"final_{name}": info.final_metrics.get(name) for name in metrics},
            **{f"test_{name}": (info.test_metrics or {}).get(name) for name in tests},
            "duration_s": info.duration_s,
        }
        rows.append(row)
    curves = {
        name: {info.run_id: info.curve(name) for info in infos}
        for name in [*metrics, "learning_rate"]
    }
    return Comparison(columns=columns, rows=rows, curves=curves)


def _ordered_metrics(names: Iterable[str]) -> list[str]:
    unique = dict.fromkeys(names)
    first = [name for name in _METRIC_ORDER if name in unique]
    return first + sorted(name for name in unique if name not in _METRIC_ORDER)


def export_csv(run: RunInfo | str | os.PathLike, runs_dir="runs") -> str:
    """The run's epochs as CSV text: one row per epoch.

    Columns: ``epoch`` (1-based), every metric (loss and accuracy first), ``learning_rate``,
    ``epoch_seconds``. Floats are written in full precision (Python's shortest round-trip
    form; ``nan``/``inf`` for non-finite values); a value an epoch lacks is empty.

    Args:
        run: A `RunInfo`, or a run id / directory (loaded with `load_run`).
        runs_dir: Where an id is looked up. Defaults to ``"runs"``.
    """
    info = run if isinstance(run, RunInfo) else load_run(run, runs_dir)
    metrics = info.metric_names
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [csv_cell(name) for name in ["epoch", *metrics, "learning_rate", "epoch_seconds"]]
    )
    for row in info.history:
        values = [row["metrics"].get(name) for name in metrics]
        values += [row.get("learning_rate"), row.get("epoch_seconds")]
        writer.writerow([row["epoch"], *(_csv_value(value) for value in values)])
    return buffer.getvalue()


def _csv_value(value) -> str:
    """A number in full precision; anything else (a later schema's text or list) made inert, and
    a would-be formula (``=HYPERLINK(...)``) made text (`kerasdl.safe_text.csv_cell`)."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else csv_cell(value)
    return repr(float(value)) if isinstance(value, float) else str(value)
