"""The resume format: ``last.keras`` and its ``state.json`` as one unit, what the state holds,
the run's lock, and continuing a run from them.

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

The state's content (`epoch_state`, version `STATE_VERSION`) and its use on the way back in:
`read_resume` (can the run continue, or is only its test left), `check_fingerprint` (the same
network, optimizer and data shape: `run_fingerprint`), `restore_model` (weights, optimizer,
dropout RNG) and `restore_callbacks` (the callbacks' ``get_state()``).

No Keras at import (the standard library and kerasdl's light modules): the CLI reads a run's
state before TensorFlow is imported. The functions that take a model use its own methods.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path

from kerasdl import runs
from kerasdl._files import fsync_dir, replace_atomically
from kerasdl.config import ConfigError, model_source
from kerasdl.events.schema import Status

__all__ = [
    "CALLBACK_STATES",
    "LOCK_FILE",
    "NEXT_STATE_FILE",
    "STATE_VERSION",
    "RunLock",
    "check_fingerprint",
    "clean_temporaries",
    "copy_for_last",
    "epoch_state",
    "file_sha256",
    "load_state",
    "read_resume",
    "restore_callbacks",
    "restore_model",
    "run_fingerprint",
    "save_last",
    "save_model_for_last",
    "seed_states",
]

NEXT_STATE_FILE = "state.next.json"
LOCK_FILE = ".lock"
#: The version of ``state.json`` this kerasdl writes and reads.
STATE_VERSION = 1
#: The callbacks whose ``get_state()`` ``state.json`` keeps, under these keys (the attributes
#: of the same names of `kerasdl.run.callbacks.RunCallbacks`).
CALLBACK_STATES = ("early_stopping", "plateau", "checkpoint")


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


# ---------------------------------------------------------------------------------------------
# The state's content, and continuing a run from it.


def epoch_state(
    epoch: int, *, model, config, dataset, steps_per_epoch: int, callbacks, status: str
) -> dict:
    """``state.json``'s content after ``epoch`` (0-based) finished (`save_last` adds hashes).

    Args:
        epoch: The epoch just finished.
        model: The compiled model (its optimizer's steps and schedule, its dropout RNG).
        config: The run's `kerasdl.config.TrainConfig`.
        dataset: The run's `kerasdl.data.Dataset` (for `run_fingerprint`).
        steps_per_epoch: Optimizer steps in an epoch.
        callbacks: The run's callbacks, with the attributes `CALLBACK_STATES` names (None for
            one that is off).
        status: The status after this epoch (`kerasdl.run.status.after`).

    Returns:
        A JSON-ready dict.
    """
    import keras

    optimizer = model.optimizer
    schedule = getattr(optimizer, "_learning_rate", None)
    scale = getattr(schedule, "scale", None)
    return {
        "version": STATE_VERSION,
        "backend": keras.backend.backend(),
        "epoch": epoch,
        "epochs_done": epoch + 1,
        "iterations": _to_int(optimizer.iterations),
        "steps_per_epoch": steps_per_epoch,
        "seed": config.seed,
        "data": {"seed": config.seed, "next_epoch": epoch + 1},
        "rng": [[int(v) for v in _as_numpy(s)] for s in seed_states(model)],
        "plateau_scale": None if scale is None else float(_as_numpy(scale)),
        **{key: _state_of(getattr(callbacks, key)) for key in CALLBACK_STATES},
        "status": status,
        "fingerprint": run_fingerprint(config, dataset),
    }


#: The Keras backends a state may name (`backend_change_notice` names no other).
BACKENDS = ("tensorflow", "jax", "torch")


def backend_change_notice(state: dict | None, backend: str) -> str | None:
    """The warning for a resume on another Keras backend than the run's last epoch (``state``'s
    ``backend``; states written before it was kept name none), or None.

    The weights, optimizer state and counters carry over, but dropout's random numbers and the
    rounding of every op are the new backend's: the run goes on, but it is not the run it would
    have been uninterrupted (that promise holds on one backend).

    Args:
        state: The resumed run's ``state.json`` (untrusted: a name not in `BACKENDS` is not
            repeated).
        backend: The backend now.

    Returns:
        The message, or None when the backend is the same or unknown.
    """
    previous = (state or {}).get("backend")
    if not isinstance(previous, str) or previous == backend:
        return None
    name = previous if previous in BACKENDS else "another Keras backend"
    epochs = (state or {}).get("epochs_done")
    until = f" until epoch {epochs}" if isinstance(epochs, int) and epochs >= 0 else ""
    return (
        f"this run trained on {name}{until} and continues on {backend}: the weights and "
        "optimizer state carry over, but dropout's random numbers and rounding are "
        f"{backend}'s, so it will not equal the uninterrupted run"
    )


#: Settings added after runs could be written without them, whose new default would change how
#: such a run continues: ``(section, key, applies(section table), the value it ran with)``.
#: ``[schedule] cycle_momentum`` (true by default, PyTorch's) came with the config's momentum
#: cycling; a cyclic or onecycle run written before it never cycled its momentum.
_ADDED_SETTINGS = (
    ("schedule", "cycle_momentum", lambda t: t.get("name") in ("cyclic", "onecycle"), False),
)


def resumed_config(run_dir: str | os.PathLike):
    """The `kerasdl.config.TrainConfig` a resume of ``run_dir`` starts from: its
    ``config.toml``, with each setting the file predates (`_ADDED_SETTINGS`) at the value the run
    was made with, not at today's default (the resume then continues the run as it started; the
    resumed run's ``config.toml`` is rewritten with the value set).

    Args:
        run_dir: The run directory.

    Returns:
        The config (not yet validated).

    Raises:
        kerasdl.config.ConfigError: ``config.toml`` is not a valid config.
    """
    import tomllib

    from kerasdl.config import TrainConfig

    path = Path(run_dir) / "config.toml"
    config = TrainConfig.from_toml(path)
    raw = tomllib.loads(path.read_text(encoding="utf-8"))  # valid: from_toml read it
    upgrades = {}
    for section, key, applies, value in _ADDED_SETTINGS:
        table = raw.get(section)
        if isinstance(table, dict) and key not in table and applies(table):
            upgrades[f"{section}.{key}"] = value
    return config.override(upgrades) if upgrades else config


def read_resume(config, resume) -> tuple[Path | None, dict | None]:
    """The run directory and state to resume, or ``(None, None)`` for a new run.

    Call it holding the run's `RunLock` (`kerasdl.runner.train` does). A run whose epochs all
    ran but whose test was cut short comes back with ``"test_only": True`` in its state.

    Args:
        config: The validated config to continue with.
        resume: The run directory asked for, or None.

    Returns:
        ``(run_dir, state)``.

    Raises:
        kerasdl.runs.RunError: The run cannot be resumed (the message says why).
        kerasdl.config.ConfigError: Another ``seed`` than the run's.
    """
    if resume is None:
        return None, None
    run_dir = Path(resume)
    if not run_dir.is_dir():
        raise runs.RunError(f"cannot resume {run_dir}: no such run directory")
    state = load_state(run_dir)  # the state of the last.keras on disk
    _check_version_and_seed(run_dir, state, config)
    done = int(state["epochs_done"])
    test_left = _test_left(run_dir)
    if test_left and (state.get("status") in ("early_stopped", "stopped") or done >= config.epochs):
        return run_dir, {**state, "test_only": True}  # trained to its end: only the test is left
    if state.get("status") == "early_stopped":
        raise runs.RunError(
            f"cannot resume {run_dir}: it stopped early at epoch {done} (its validation metric "
            "stopped improving); start a new run instead"
        )
    if done >= config.epochs:
        raise runs.RunError(
            f"cannot resume {run_dir}: its {done} epochs are done (epochs={config.epochs}); "
            f"raise epochs to train longer, e.g. --set epochs={done + 10}"
        )
    runs.check_writable(run_dir)
    return run_dir, state


def _check_version_and_seed(run_dir: Path, state: dict, config) -> None:
    if state.get("version") != STATE_VERSION:
        raise runs.RunError(
            f"cannot resume {run_dir}: {runs.STATE_FILE} has version {state.get('version')!r}; "
            f"this kerasdl reads version {STATE_VERSION}"
        )
    if state.get("seed") != config.seed:
        raise ConfigError(
            "seed",
            config.seed,
            f"{state.get('seed')} (the seed of the run being resumed: it fixes the data order "
            "and the dropout masks)",
        )


def run_fingerprint(config, dataset) -> dict:
    """What a resume cannot change: the network, the optimizer and the data's shape (for your
    own file, ``data.path`` and the SHA-256 of its bytes: a changed file is refused).

    ``state.json`` keeps it; `check_fingerprint` compares it with the resumed config's, so a
    resume that cannot work fails before training with one line per difference. The network is
    ``model.architecture`` with the fields its network reads (the mlp's sizes; the cnn's
    activation and dropout) and, for a model of yours, the SHA-256 of its ``.py`` or ``.keras``
    file (of the module's file for ``module:function``): an edited model is refused.

    Args:
        config: The run's `kerasdl.config.TrainConfig`.
        dataset: Its loaded `kerasdl.data.Dataset`.

    Returns:
        ``{what: value}``, JSON-ready.
    """
    m = config.model
    kind, target, _ = model_source(config)
    network = {"model.architecture": m.architecture}
    if kind == "mlp":
        network.update(
            {
                "model.hidden": list(m.hidden),
                "model.batch_norm": list(m.batch_norm),
                "model.dropout": list(m.dropout),
                "model.activation": m.activation,
            }
        )
    elif kind == "cnn":
        network.update({"model.dropout": max(m.dropout, default=0.0)})
        network.update({"model.activation": m.activation})
    else:
        network["model file sha256"] = _model_file_sha256(kind, target)
    shape = [int(size) for size in dataset.input_shape]
    features = 1
    for size in shape:
        features *= size
    data_file = {}
    if getattr(dataset, "file_sha256", None) is not None:  # your own file: the same bytes
        data_file = {"data.path": config.data.path, "data file sha256": dataset.file_sha256}
    return {
        **network,
        **data_file,
        "optimizer.name": config.optimizer.name,
        "loss.name": config.loss.name,
        "data.name": config.data.name,
        "training examples": len(dataset.y_train),
        "input features": features,
        "input shape": shape,
        "batch_size": config.batch_size,
    }


def _model_file_sha256(kind: str, target: str) -> str | None:
    """The SHA-256 of a model of yours: its ``.py`` or ``.keras`` file, or the file of the
    module ``module:function`` names (imported by then); None when there is no such file."""
    import sys

    path = target
    if kind == "module":
        module = sys.modules.get(target)
        path = getattr(module, "__file__", None)
        if path is None:
            import importlib.util

            with contextlib.suppress(ImportError, ValueError):
                spec = importlib.util.find_spec(target)
                path = spec.origin if spec is not None else None
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _cached_sha256(os.path.abspath(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str | None:
    """`file_sha256`, once per file version (`epoch_state` asks every epoch)."""
    try:
        return file_sha256(path)
    except OSError:
        return None


def check_fingerprint(run_dir, state: dict, now: dict) -> None:
    """Refuse a resume whose setup differs from the run's (a state written before fingerprints
    were kept is not checked here; `restore_model` still is).

    Args:
        run_dir: The run directory (for the message).
        state: Its state.
        now: `run_fingerprint` of the config and data resumed with.

    Raises:
        kerasdl.runs.RunError: Listing every difference, one a line.
    """
    saved = state.get("fingerprint")
    if not isinstance(saved, dict):
        return
    differences = [
        f"  {key}: {saved[key]!r} in the run, {now[key]!r} now"
        for key in now
        if key in saved and saved[key] != now[key]
    ]
    if differences:
        raise runs.RunError(
            f"cannot resume {run_dir}: it was trained with another setup; resume with the run's "
            "own, or start a new run:\n" + "\n".join(differences)
        )


def _test_left(run_dir) -> bool:
    """Whether the run's last part ended before its test evaluation (interrupted or killed
    after its last epoch): `--resume` then only evaluates the test set."""
    from kerasdl.events.record import RunRecord

    try:
        record = RunRecord.read(Path(run_dir) / runs.EVENTS_FILE)
    except OSError:
        return False
    if record.finished is None:
        return record.started is not None  # killed: no run_finished at all
    return record.test_metrics is None and record.status == Status.INTERRUPTED.value


def restore_model(model, run_dir: Path, state: dict, steps_per_epoch: int) -> int:
    """Load ``last.keras`` and the state's dropout RNG into the compiled ``model``.

    Args:
        model: The compiled model of the resumed config.
        run_dir: The run directory.
        state: Its state (`read_resume`).
        steps_per_epoch: Optimizer steps in an epoch now.

    Returns:
        The epoch to start at (0-based).

    Raises:
        kerasdl.runs.RunError: ``last.keras`` does not fit the model, it and the state disagree
            on the optimizer's steps, or the dropout layers changed.
    """
    model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(run_dir / runs.LAST_MODEL_FILE)
    except ValueError as error:
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else "no detail"
        raise runs.RunError(
            f"cannot resume {run_dir}: {runs.LAST_MODEL_FILE} does not fit the model of this "
            f"config (the layers or their sizes changed: {first})"
        ) from None
    iterations = _to_int(model.optimizer.iterations)
    if state["steps_per_epoch"] != steps_per_epoch or iterations != state["iterations"]:
        raise runs.RunError(
            f"cannot resume {run_dir}: {runs.LAST_MODEL_FILE} ({iterations} optimizer steps) "
            f"and {runs.STATE_FILE} ({state['iterations']} steps, {state['steps_per_epoch']} "
            f"an epoch; now {steps_per_epoch}) disagree (the data or the batch size changed, "
            "or the process stopped between writing the two)"
        )
    seeds = seed_states(model)
    if len(seeds) != len(state["rng"]):
        raise runs.RunError(f"cannot resume {run_dir}: the dropout layers changed")
    for variable, value in zip(seeds, state["rng"], strict=True):
        variable.assign(value)
    return int(state["epochs_done"])


def restore_callbacks(state: dict, callbacks, notice: Callable[[str], None]) -> None:
    """Give the callbacks of a resumed run their saved ``get_state()`` back.

    A callback that now monitors another quantity than before starts afresh, and ``notice``
    gets a warning that says so.

    Args:
        state: The resumed state.
        callbacks: As for `epoch_state`.
        notice: Called with each warning's message.
    """
    for key in CALLBACK_STATES:
        callback, saved = getattr(callbacks, key), state.get(key)
        if callback is None or saved is None:
            continue
        if saved.get("monitor") != callback.monitor:
            notice(
                f"{key} now monitors {callback.monitor!r}, not {saved.get('monitor')!r} "
                "as before the resume: it starts afresh"
            )
            continue
        callback.set_state(saved)


def seed_states(model) -> list:
    """The state variables of the model's `keras.random.SeedGenerator`s (dropout masks).

    ``.keras`` files do not hold them (Keras saves layer weights, not seed generators), so
    ``state.json`` does, and a resumed run draws the masks an uninterrupted one would.

    Args:
        model: A Keras model.

    Returns:
        The variables, in the model's order.
    """
    return [v for v in model.variables if v.name == "seed_generator_state"]


def _as_numpy(variable):
    """A variable's value as NumPy (also a ``tf.distribute`` variable, which ``int()`` refuses)."""
    from kerasdl._values import to_numpy

    return to_numpy(variable)


def _to_int(variable) -> int:
    return int(_as_numpy(variable))


def _state_of(callback):
    return None if callback is None else callback.get_state()
