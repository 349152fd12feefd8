"""The resume format: ``last.keras`` and its ``state.json`` as one unit, and the run's lock.

``last.keras`` (the model and its optimizer after the last finished epoch) and ``state.json``
(the epoch, the callbacks' states, the data position and the dropout RNG of the same moment) are
two files, and no file system replaces two files in one step. So the state names its
checkpoint: ``state.json`` holds the SHA-256 of the ``last.keras`` it belongs to
(``last_sha256``), and `save_last` writes them in an order after which every instant leaves one
complete pair on disk:

1. the new model goes to a hidden temporary file, flushed to disk;
2. its hash goes into the new state, written whole to ``state.next.json``;
3. the model file replaces ``last.keras``;
4. ``state.next.json`` replaces ``state.json``.

`load_state` picks the state whose ``last_sha256`` is the hash of the ``last.keras`` on disk:
``state.json``, or ``state.next.json`` when a process stopped between 3 and 4 (it is then moved
into place). A ``last.keras`` that matches neither is damaged or was replaced, and the error says
so before anything trains. ``best.keras``'s hash is kept too (``best_sha256``), so a damaged best
checkpoint is found before training, not at the test after it. A state written by an older
kerasdl, without hashes, is checked as before (optimizer steps, after loading).

`RunLock` holds an exclusive ``flock`` on ``<run>/.lock`` while a process trains in a run
directory: a second ``kerasdl train --resume`` of the same run is refused at once (exit 2),
naming the process that holds it. `clean_temporaries` removes the hidden temporary files a
killed process left behind (only under the lock, so none is being written).

Standard library only: the CLI reads a run's state before TensorFlow is imported.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path

from kerasdl import runs
from kerasdl._files import fsync_dir, replace_atomically

__all__ = [
    "LOCK_FILE",
    "NEXT_STATE_FILE",
    "RunLock",
    "clean_temporaries",
    "file_sha256",
    "load_state",
    "save_last",
]

NEXT_STATE_FILE = "state.next.json"
LOCK_FILE = ".lock"


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, in hex (read in 1 MiB pieces)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_last(run_dir: str | os.PathLike, write_model: Callable[[str], None], state: Mapping):
    """Write ``last.keras`` and its ``state.json`` as one unit (the module docstring's steps).

    Args:
        run_dir: The run directory.
        write_model: Writes the model to the path it is given (ends with ``.keras``), e.g.
            ``model.save`` or a copy of ``best.keras``.
        state: The state of the same epoch; ``last_sha256`` (and ``best_sha256`` when
            ``best.keras`` exists) are added.
    """
    run_dir = Path(run_dir)

    def write_state(temporary: str) -> None:  # the model is whole on disk: name it
        named = {**state, "last_sha256": file_sha256(temporary)}
        best = run_dir / runs.BEST_MODEL_FILE
        if best.is_file():
            named["best_sha256"] = file_sha256(best)
        runs.write_json_atomically(run_dir / NEXT_STATE_FILE, named)

    replace_atomically(
        run_dir / runs.LAST_MODEL_FILE, write_model, suffix=".keras", before_replace=write_state
    )
    os.replace(run_dir / NEXT_STATE_FILE, run_dir / runs.STATE_FILE)
    fsync_dir(run_dir)


def _read_state(path: Path) -> dict | None:
    """A state file, or None when it is absent or not a whole JSON object."""
    try:
        return runs._read_json(path)
    except runs.RunError:
        return None


def load_state(run_dir: str | os.PathLike) -> dict:
    """The state that belongs to the ``last.keras`` on disk (module docstring).

    Raises:
        kerasdl.runs.RunError: No ``last.keras`` or no state; a ``last.keras`` or
            ``best.keras`` whose bytes match no state (damaged, or replaced by another file);
            the message names the file and says what to do.
    """
    run_dir = Path(run_dir)
    last = run_dir / runs.LAST_MODEL_FILE
    current_path, next_path = run_dir / runs.STATE_FILE, run_dir / NEXT_STATE_FILE
    current, newer = _read_state(current_path), _read_state(next_path)
    if current is None and newer is None:
        if current_path.exists():
            raise runs.RunError(
                f"cannot resume {run_dir}: {runs.STATE_FILE} is damaged (not a JSON object)"
            )
        raise runs.RunError(
            f"cannot resume {run_dir}: it has no {runs.STATE_FILE} (no epoch finished, or it "
            "was not made by kerasdl train)"
        )
    if not last.is_file():
        raise runs.RunError(f"cannot resume {run_dir}: {runs.LAST_MODEL_FILE} is missing")
    hashed = [s for s in (newer, current) if s is not None and s.get("last_sha256")]
    if not hashed:  # an older kerasdl's state: the optimizer steps are checked after loading
        if not _is_zip(last):
            raise runs.RunError(
                f"cannot resume {run_dir}: {runs.LAST_MODEL_FILE} is damaged (not a .keras archive)"
            )
        return current if current is not None else newer
    digest = file_sha256(last)
    if newer is not None and newer.get("last_sha256") == digest:
        os.replace(next_path, current_path)  # stopped between writing the two: finish it
        fsync_dir(run_dir)
        state = newer
    elif current is not None and current.get("last_sha256") == digest:
        with contextlib.suppress(FileNotFoundError):
            os.remove(next_path)  # a newer state whose checkpoint never landed
        state = current
    else:
        raise runs.RunError(
            f"cannot resume {run_dir}: {runs.LAST_MODEL_FILE} matches no saved state (its "
            f"SHA-256 is not the one {runs.STATE_FILE} records): the file is damaged or was "
            "replaced; start a new run, or copy back the run's own last.keras"
        )
    best = run_dir / runs.BEST_MODEL_FILE
    if best.is_file() and file_sha256(best) != state.get("best_sha256") and not _is_zip(best):
        # Not the file the state recorded, and not a whole archive either: damaged. (A whole
        # one that differs is the best of the epoch the stop cut short: it was replaced before
        # the state was, and the resumed epoch, computed again exactly, writes it again.)
        raise runs.RunError(
            f"cannot resume {run_dir}: {runs.BEST_MODEL_FILE} is damaged (not a whole .keras "
            "archive); the test step would use it. Remove it to resume without it (the next "
            "better epoch writes it again), or copy back the run's own"
        )
    return state


def _is_zip(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError):
        return False


def clean_temporaries(run_dir: str | os.PathLike) -> list[str]:
    """Remove the hidden temporary files (``.<name>.<hex>.tmp*``) a killed process left; call
    it only while holding the run's `RunLock`. Returns the names removed."""
    removed = []
    for path in Path(run_dir).glob(".*.tmp*"):
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path.name)
    return removed


class RunLock:
    """An exclusive lock on a run directory while a process trains in it.

    ``flock`` on ``<run>/.lock`` (released by the kernel when the process ends, even by
    ``kill -9``: a lock never outlives its process). The file holds the owner's pid and host,
    so the refusal can name it. Where ``fcntl`` does not exist (Windows) it locks nothing.

    Args:
        run_dir: The run directory (it must exist).

    Raises:
        kerasdl.runs.RunError: Another process holds the lock (from `acquire`).
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = ""
            with contextlib.suppress(OSError, ValueError):
                info = json.loads(os.pread(fd, 4096, 0) or b"{}")
                owner = f" (pid {int(info['pid'])} on {info['host']})"
            os.close(fd)
            raise runs.RunError(
                f"run {self.path.parent} is in use: another kerasdl process{owner} trains in it; "
                "wait for it to end, or stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()


def save_model_for_last(model) -> Callable[[str], None]:
    """``write_model`` for `save_last` that saves ``model`` (Keras's save skip-sets primed)."""
    from kerasdl._keras_saving import prime_skipsets

    def write(path: str) -> None:
        prime_skipsets()
        model.save(path)

    return write


def copy_for_last(source: str | os.PathLike) -> Callable[[str], None]:
    """``write_model`` for `save_last` that copies a saved model file (``best.keras``)."""
    import shutil

    return lambda path: shutil.copyfile(source, path)
