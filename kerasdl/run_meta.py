"""Organising runs: tags and a note (``meta.json``), rename, the trash, filter and sort.

``<run>/meta.json`` holds what you say about a run, apart from what it recorded::

    {"version": 1, "tags": ["optimizers", "baseline"], "note": "the one to beat"}

It lives in the run directory, so a copied or renamed run keeps it, and it is written
atomically (`kerasdl.runs.write_json_atomically`). It is read as untrusted input, like every
file of a run: at most `MAX_META_BYTES`; tags that break the tag rule (`check_tag`), past
`MAX_TAGS`, or not text are left out; the note is cut at `MAX_NOTE` characters; views show
both inert (`kerasdl.safe_text`). A bad ``meta.json`` never hides the run: `read_meta` gives no
tags and says why in ``problems``. Keys of ``meta.json`` this version does not know are kept
when it is written again.

``kerasdl runs delete`` moves a run to ``<runs_dir>/.trash/`` (`trash_run`; not a run of the
list, the browser or ``load_run``'s prefixes) with a ``.trashed.json`` that names it, and
``kerasdl runs restore`` moves it back (`restore_run`). `rename_run`, `trash_run` and
`restore_run` refuse a run that is being trained: one whose `kerasdl.run.resume.RunLock`
another process holds, or whose status is ``"running"``.

`matches` is the one filter of ``kerasdl runs list --filter`` and the runs browser's ``/``;
`sort_runs` the one sort of ``runs list --sort`` and the browser's ``o``.

Light: no Keras.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from kerasdl import hparams, runs
from kerasdl._files import read_regular_file

__all__ = [
    "META_FILE",
    "SORT_KEYS",
    "TRASHED_FILE",
    "TRASH_DIR",
    "Meta",
    "add_tags",
    "check_tag",
    "list_trash",
    "matches",
    "read_meta",
    "remove_tags",
    "rename_run",
    "restore_run",
    "set_note",
    "sort_runs",
    "trash_run",
]

META_FILE = "meta.json"
TRASH_DIR = ".trash"
TRASHED_FILE = ".trashed.json"
META_VERSION = 1
#: The largest ``meta.json`` read.
MAX_META_BYTES = 64 << 10
#: The most tags a run keeps.
MAX_TAGS = 32
#: The longest note, in characters.
MAX_NOTE = 2000
#: The sort keys that are not a metric or a setting.
SORT_KEYS = ("started", "name", "status", "best", "epochs", "duration")

_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+:=@-]{0,63}")


@dataclasses.dataclass
class Meta:
    """A run's ``meta.json``, as read.

    Attributes:
        tags: The run's tags, each valid (`check_tag`), in the order given.
        note: The note (``""`` without one).
        problems: What could not be read, one string each (shown by ``runs show``).
        extra: Keys of the file this version does not know (written back as they were).
    """

    tags: list[str] = dataclasses.field(default_factory=list)
    note: str = ""
    problems: list[str] = dataclasses.field(default_factory=list)
    extra: dict = dataclasses.field(default_factory=dict)


def check_tag(tag: str) -> str:
    """``tag`` if it is a plain tag (1-64 of ``A-Z a-z 0-9 . _ + : = @ -``, starting with a letter
    or digit), else `kerasdl.runs.RunError` saying so."""
    if not isinstance(tag, str) or not _TAG.fullmatch(tag):
        raise runs.RunError(
            f"tag {tag!r} is not a plain tag: use 1-64 of A-Z a-z 0-9 . _ + : = @ - starting "
            "with a letter or digit"
        )
    return tag


def read_meta(run_dir: str | os.PathLike) -> Meta:
    """The run's ``meta.json`` (an empty `Meta` without one); never raises."""
    path = Path(run_dir) / META_FILE
    try:
        data = read_regular_file(path, MAX_META_BYTES)
    except OSError as exc:
        return Meta(problems=[f"{META_FILE}: {exc.strerror or exc}"])
    if data is None:
        return Meta()
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        return Meta(problems=[f"{META_FILE} is not valid JSON ({exc!s:.100})"])
    if not isinstance(value, dict):
        return Meta(problems=[f"{META_FILE} is not a JSON object"])
    meta = Meta(extra={k: v for k, v in value.items() if k not in ("version", "tags", "note")})
    tags = value.get("tags", [])
    if not isinstance(tags, list):
        meta.problems.append(f"{META_FILE}: tags is not a list")
        tags = []
    for tag in tags:
        if isinstance(tag, str) and tag in meta.tags:
            continue  # twice: once is enough
        if isinstance(tag, str) and _TAG.fullmatch(tag) and len(meta.tags) < MAX_TAGS:
            meta.tags.append(tag)
            continue
        meta.problems.append(f"{META_FILE}: tag {str(tag)[:70]!r} left out")
    note = value.get("note", "")
    if not isinstance(note, str):
        meta.problems.append(f"{META_FILE}: note is not text")
        note = ""
    meta.note = note[:MAX_NOTE]
    return meta


def _write_meta(run_dir: Path, meta: Meta) -> Path:
    data = {**meta.extra, "version": META_VERSION, "tags": meta.tags, "note": meta.note}
    return runs.write_json_atomically(run_dir / META_FILE, data)


def add_tags(run_dir: str | os.PathLike, tags: Iterable[str]) -> list[str]:
    """Add ``tags`` to the run (those it has stay once); returns its tags.

    Raises:
        kerasdl.runs.RunError: A tag is not plain, or the run would have over `MAX_TAGS`.
    """
    run_dir = Path(run_dir)
    meta = read_meta(run_dir)
    for tag in tags:
        if check_tag(tag) not in meta.tags:
            meta.tags.append(tag)
    if len(meta.tags) > MAX_TAGS:
        raise runs.RunError(f"a run keeps at most {MAX_TAGS} tags")
    _write_meta(run_dir, meta)
    return meta.tags


def remove_tags(run_dir: str | os.PathLike, tags: Iterable[str]) -> list[str]:
    """Take ``tags`` off the run (one it lacks is no error); returns its tags."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir)
    gone = set(tags)
    meta.tags = [tag for tag in meta.tags if tag not in gone]
    _write_meta(run_dir, meta)
    return meta.tags


def set_note(run_dir: str | os.PathLike, note: str) -> str:
    """Set the run's note (``""`` clears it); returns it.

    Raises:
        kerasdl.runs.RunError: The note is longer than `MAX_NOTE` characters.
    """
    if len(note) > MAX_NOTE:
        raise runs.RunError(f"a note is at most {MAX_NOTE} characters; this one has {len(note)}")
    run_dir = Path(run_dir)
    meta = read_meta(run_dir)
    meta.note = note
    _write_meta(run_dir, meta)
    return note


# ----------------------------------------------------------------------------- moving runs


@contextlib.contextmanager
def _not_training(run_dir: Path, action: str) -> Iterator[None]:
    """Hold the run's lock (no `kerasdl train` may start in it meanwhile); refuse a run
    another process trains in (its lock held, or its status ``"running"``)."""
    from kerasdl.run.resume import RunLock

    try:
        lock = RunLock(run_dir).acquire()
    except runs.RunError as exc:
        raise runs.RunError(f"cannot {action} {run_dir.name}: {exc}") from None
    except OSError as exc:
        raise runs.RunError(f"cannot {action} {run_dir.name}: {exc.strerror or exc}") from None
    try:
        if runs.load_run(run_dir).status == "running":
            raise runs.RunError(
                f"cannot {action} {run_dir.name}: it is running (its events changed lately, or "
                "its process lives); wait for it to end, or stop it first"
            )
        yield
    finally:
        lock.release()


def _move(source: Path, target: Path) -> None:
    if os.path.lexists(target):
        raise runs.RunError(f"{target} exists")
    try:
        os.rename(source, target)
    except OSError as exc:
        raise runs.RunError(f"cannot move {source} to {target}: {exc.strerror or exc}") from None


def rename_run(run_dir: str | os.PathLike, new_name: str) -> Path:
    """Rename a run directory to ``new_name`` in the same runs folder; returns the new path.

    Its ``config.toml``'s ``run_name``, where it is the old name, becomes the new one (so
    ``--resume`` and ``--config`` agree with the directory).

    Raises:
        kerasdl.runs.RunError: ``new_name`` is not a plain run name, a run of that name
            exists, or the run is being trained.
    """
    run_dir = Path(run_dir)
    runs.check_run_name(new_name)
    target = run_dir.parent / new_name
    if new_name == run_dir.name:
        raise runs.RunError(f"the run is already named {new_name}")
    if os.path.lexists(target):
        raise runs.RunError(f"cannot rename {run_dir.name}: {target} exists; choose another name")
    with _not_training(run_dir, "rename"):
        _move(run_dir, target)
    _rename_in_config(target, run_dir.name, new_name)
    return target


def _rename_in_config(run_dir: Path, old: str, new: str) -> None:
    path = run_dir / runs.CONFIG_FILE
    try:
        data = read_regular_file(path, runs.MAX_JSON_BYTES)
    except OSError:
        return
    if data is None:
        return
    text = data.decode("utf-8", errors="replace")
    line = re.compile(rf'^run_name = "{re.escape(old)}"$', re.M)
    if line.search(text):
        runs.write_text_atomically(path, line.sub(f'run_name = "{new}"', text, count=1))


def trash_run(run_dir: str | os.PathLike) -> Path:
    """Move a run to ``<its runs folder>/.trash/`` (as ``<id>``, or ``<id>-2``... where that is
    taken), with a ``.trashed.json`` naming it; returns where it went.

    Raises:
        kerasdl.runs.RunError: The run is being trained, or cannot be moved.
    """
    run_dir = Path(run_dir)
    trash = run_dir.parent / TRASH_DIR
    with _not_training(run_dir, "delete"):
        try:
            trash.mkdir(exist_ok=True)
        except OSError as exc:
            raise runs.RunError(f"cannot create {trash}: {exc.strerror or exc}") from None
        target, n = trash / run_dir.name, 1
        while os.path.lexists(target):
            n += 1
            target = trash / f"{run_dir.name}-{n}"
        _move(run_dir, target)
    runs.write_json_atomically(target / TRASHED_FILE, {"run_id": run_dir.name, "time": time.time()})
    return target


def list_trash(runs_dir: str | os.PathLike) -> list[tuple[str, Path]]:
    """``[(run id, its folder in the trash), ...]`` of the runs in ``runs_dir/.trash``."""
    trash = Path(runs_dir) / TRASH_DIR
    if not trash.is_dir():
        return []
    return sorted((_trashed_id(path), path) for path in trash.iterdir() if path.is_dir())


def _trashed_id(path: Path) -> str:
    """The id a trashed run had (``.trashed.json``'s, if it is a plain name), else its folder's
    name."""
    try:
        data = read_regular_file(path / TRASHED_FILE, MAX_META_BYTES)
        value = json.loads(data.decode("utf-8")) if data else None
    except (OSError, ValueError, RecursionError):
        value = None
    run_id = value.get("run_id") if isinstance(value, dict) else None
    try:
        return runs.check_run_name(run_id)
    except runs.RunError:
        return path.name


def restore_run(run: str, runs_dir: str | os.PathLike) -> Path:
    """Move a run out of the trash back to ``runs_dir/<its id>``; returns its path.

    Args:
        run: Its id, or its folder's name in the trash (a unique prefix of either will do).
        runs_dir: The runs folder.

    Raises:
        kerasdl.runs.RunError: No such run in the trash, several match, or a run of its id
            exists again (rename that one first).
    """
    entries = list_trash(runs_dir)
    exact = [e for e in entries if run in (e[0], e[1].name)]
    found = exact or [e for e in entries if e[0].startswith(run) or e[1].name.startswith(run)]
    if not found:
        raise runs.RunError(f"no run {run!r} in {Path(runs_dir) / TRASH_DIR}")
    if len(found) > 1:
        names = ", ".join(path.name for _, path in found[:5])
        raise runs.RunError(f"run {run!r} is ambiguous in the trash: {names}")
    run_id, path = found[0]
    target = Path(runs_dir) / run_id
    if os.path.lexists(target):
        raise runs.RunError(f"cannot restore {run_id}: {target} exists (rename that run first)")
    _move(path, target)
    with contextlib.suppress(OSError):
        os.unlink(target / TRASHED_FILE)
    return target


# ----------------------------------------------------------------------------- filter and sort


def matches(info, meta: Meta, pattern: str) -> bool:
    """Whether a run matches ``pattern``: every word of it must (case-insensitive).

    - ``tag:T`` -- the run has tag ``T`` (a glob: ``tag:opt*``);
    - ``status:S`` -- its status is ``S`` (``status:completed``);
    - ``KEY=VALUE`` -- its setting ``KEY`` reads ``VALUE`` (``optimizer.name=adam``; a glob);
    - any other word -- a glob (``*adam*``), or text found in its id, tags, note or data name.
    """
    return all(_matches_word(info, meta, word) for word in pattern.split())


def _glob(pattern: str, text: str) -> bool:
    pattern, text = pattern.lower(), text.lower()
    if any(char in pattern for char in "*?["):
        return fnmatch.fnmatchcase(text, pattern)
    return pattern == text


def _matches_word(info, meta: Meta, word: str) -> bool:
    head, colon, rest = word.partition(":")
    if colon and head.lower() == "tag":
        return any(_glob(rest, tag) for tag in meta.tags)
    if colon and head.lower() == "status":
        return _glob(rest, str(info.status))
    key, equals, value = word.partition("=")
    if equals and key:
        values = hparams.settings(info)
        return key in values and _glob(value, hparams.value_text(values[key]))
    data = ((info.config or {}).get("data") or {}).get("name") if info.config else None
    data = data if data is not None else (info.dataset or {}).get("name")
    texts = [str(info.run_id), *meta.tags, meta.note, str(data or "")]
    if any(char in word for char in "*?["):
        return any(_glob(word, text) for text in texts)
    return any(word.lower() in text.lower() for text in texts)


def sort_runs(infos: list, key: str, *, reverse: bool = False) -> list:
    """``infos`` sorted by ``key``: one of `SORT_KEYS`, a metric (its last epoch's value:
    ``val_loss``; ``test_accuracy`` the test set's), or a setting (``optimizer.learning_rate``).
    Runs without a value go last either way.

    Raises:
        kerasdl.runs.RunError: No run has ``key``.
    """
    value_of = sort_value_of(infos, key)
    present = [info for info in infos if value_of(info) is not None]
    absent = [info for info in infos if value_of(info) is None]
    return sorted(present, key=value_of, reverse=reverse) + absent


def sort_value_of(infos: list, key: str):
    """The function `sort_runs` sorts by (None for a run without a value).

    Raises:
        kerasdl.runs.RunError: No run has ``key``.
    """
    if key == "started":
        return lambda info: None if info.started is None else (info.started, info.run_id)
    if key == "name":
        return lambda info: str(info.run_id)
    if key == "status":
        return lambda info: str(info.status)
    if key == "epochs":
        return lambda info: info.epochs_run
    if key == "duration":
        return lambda info: _number(info.duration_s)
    if key == "best":
        return lambda info: _number((info.best or {}).get("value"))
    metrics = {name for info in infos for name in info.final_metrics}
    tests = {f"test_{name}" for info in infos for name in (info.test_metrics or {})}
    if key in metrics:
        return lambda info: _number(info.final_metrics.get(key))
    if key in tests:
        return lambda info: _number((info.test_metrics or {}).get(key[5:]))
    flats = {id(info): hparams.settings(info) for info in infos}
    if any(key in flat for flat in flats.values()):

        def setting(info):
            flat = flats.get(id(info)) or hparams.settings(info)
            if key not in flat or flat[key] is None:
                return None
            return hparams.sort_value(flat[key])

        return setting
    known = [*SORT_KEYS, *sorted(metrics), *sorted(tests)]
    raise runs.RunError(
        f"cannot sort by {key!r}: not one of {', '.join(known)}, nor a setting of these runs "
        "(a dotted config key such as optimizer.learning_rate)"
    )


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if value != value else float(value)
