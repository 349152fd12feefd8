"""TensorBoard event files of a run, written with ``tf.summary``: live (``kerasdl train
--tensorboard``) or from a finished run's files (``kerasdl runs export --tensorboard DIR``).

The layout is Keras's own ``keras.callbacks.TensorBoard``'s, so a run reads as any Keras run in
TensorBoard, Aim, W&B (``sync_tensorboard``) or trackio (``import_tf_events``)::

    <logdir>/               the hyperparameters (HParams plugin: the config, dotted keys)
    <logdir>/train/         epoch_<metric> at step = epoch (1-based), epoch_learning_rate,
                            epoch_early_stopping_wait; batch_<metric> at step = global step
                            (the step history, docs/runs.md)
    <logdir>/validation/    epoch_<metric> of every val_<metric>
    <logdir>/test/          epoch_<metric> of the test set, once, at step = the epochs run

Scalars are float32 tensors with the scalars plugin's metadata (what ``tf.summary.scalar``
writes), all those of one folder and step in one ``Summary`` through
``tf.summary.experimental.write_raw_pb`` (a call costs about 0.5 ms, however many values it
holds); TensorFlow has all of this without the ``tensorboard`` package. The hyperparameters need
that package's HParams protos (``pip install "kerasdl[tensorboard]"``), and are left out without
it.

Everything written comes from events and step rows (`kerasdl.steps`), checked again here: only
numbers become scalars, only integer steps in range, tags are made of ``A-Z a-z 0-9 _ . / -``,
and the hyperparameters are plain values of bounded size. TensorFlow is imported on first use.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = [
    "TENSORBOARD_DIR",
    "TensorBoardFiles",
    "TensorBoardSink",
    "export_run",
    "hparams_available",
    "hparams_of",
]

#: The folder of a run directory that holds its TensorBoard files.
TENSORBOARD_DIR = "tensorboard"
#: The most hyperparameters written, and the longest text value.
MAX_HPARAMS = 1000
MAX_HPARAM_TEXT = 1000
_MAX_STEP = 2**53
_MAX_PENDING = 4096  # (folder, step) pairs held before they are written
_UNSAFE_TAG = re.compile(r"[^A-Za-z0-9_./-]")
_EPOCH_SCALARS = (
    ("learning_rate", ("learning_rate",)),
    ("early_stopping_wait", ("early_stopping", "wait")),
)


def hparams_available() -> bool:
    """Whether the ``tensorboard`` package's HParams plugin can be imported."""
    try:
        import tensorboard.plugins.hparams.api  # noqa: F401
    except ImportError:
        return False
    return True


def hparams_of(config: Mapping | None) -> dict[str, bool | int | float | str]:
    """A config (``TrainConfig.to_dict()``, from a run: untrusted) as HParams values.

    Keys are dotted (``optimizer.learning_rate``); ``None`` is ``"none"``; a list is its items
    joined by commas, as the CLI writes it (``"256,128"``); text is cut at `MAX_HPARAM_TEXT`
    characters; at most `MAX_HPARAMS` keys, three levels deep.
    """
    out: dict[str, bool | int | float | str] = {}

    def add(name: str, value, depth: int) -> None:
        if len(out) >= MAX_HPARAMS:
            return
        if isinstance(value, Mapping):
            if depth < 3:
                for key, item in value.items():
                    add(f"{name}.{key}" if name else str(key), item, depth + 1)
            return
        name = name[:200]
        if value is None:
            out[name] = "none"
        elif isinstance(value, bool):
            out[name] = value
        elif isinstance(value, int):
            out[name] = value if abs(value) < _MAX_STEP else float(value)
        elif isinstance(value, float):
            out[name] = value
        elif isinstance(value, (list, tuple)):
            out[name] = ",".join(str(item) for item in value[:100])[:MAX_HPARAM_TEXT]
        else:
            out[name] = str(value)[:MAX_HPARAM_TEXT]

    if isinstance(config, Mapping):
        add("", config, 0)
    return out


class TensorBoardFiles:
    """The event files under ``logdir`` (see the module docstring), written through one
    ``tf.summary`` file writer per folder, made when it first has something to write. Scalars
    wait in memory until `flush` (or `close`), which writes one ``Summary`` per folder and step.

    Args:
        logdir: The folder (created if needed).
    """

    def __init__(self, logdir: str | os.PathLike):
        self.logdir = Path(logdir)
        self._writers: dict[str, object] = {}
        self._pending: dict[tuple[str, int], dict[str, float]] = {}
        self._metadata = None

    def hparams(self, config: Mapping | None, run_id: str, started: float | None) -> bool:
        """Write the run's hyperparameters (HParams plugin) into ``logdir`` itself.

        Returns:
            False when the ``tensorboard`` package is missing or there is no config.
        """
        values = hparams_of(config)
        if not values or not hparams_available():
            return False
        from tensorboard.plugins.hparams import api as hp

        start = _number(started)
        with self._writer("").as_default():
            hp.hparams(
                values,
                trial_id=str(run_id)[:200],
                start_time_secs=int(start) if start is not None and start >= 0 else None,
            )
        return True

    def epoch(self, event: Mapping) -> None:
        """An ``epoch_ended`` event's scalars, at step = its epoch."""
        epoch = _step(event.get("epoch"))
        if epoch is None:
            return
        metrics = event.get("metrics")
        for name, value in metrics.items() if isinstance(metrics, Mapping) else ():
            if not isinstance(name, str):
                continue
            if name.startswith("val_"):
                self.scalar("validation", f"epoch_{name[4:]}", value, epoch)
            else:
                self.scalar("train", f"epoch_{name}", value, epoch)
        for tag, path in _EPOCH_SCALARS:
            value = event
            for key in path:
                value = value.get(key) if isinstance(value, Mapping) else None
            self.scalar("train", f"epoch_{tag}", value, epoch)

    def finished(self, event: Mapping) -> None:
        """A ``run_finished`` event's test metrics, at step = the epochs run."""
        test = event.get("test")
        step = _step(event.get("epochs_run"))
        if not isinstance(test, Mapping) or step is None:
            return
        for name, value in test.items():
            if isinstance(name, str):
                self.scalar("test", f"epoch_{name}", value, step)

    def steps(self, rows: Iterable) -> None:
        """Step-history rows (`kerasdl.steps.StepRow`) as ``train/batch_<metric>``."""
        for row in rows:
            step = _step(row.step)
            for name, value in row.metrics.items():
                self.scalar("train", f"batch_{name}", value, step)

    def scalar(self, folder: str, tag: str, value, step: int | None) -> bool:
        """One scalar, written at the next `flush` (a number; anything else is left out).

        Returns:
            Whether it was taken.
        """
        number = _number(value, finite=False)
        if number is None or step is None:
            return False
        self._pending.setdefault((folder, step), {})[_UNSAFE_TAG.sub("_", tag)[:200]] = number
        if len(self._pending) >= _MAX_PENDING:  # an export of a long run: bounded memory
            self.flush()
        return True

    def flush(self) -> None:
        """Write the scalars taken, then flush every writer (a TensorBoard reading the folder
        sees them)."""
        if self._pending:
            import tensorflow as tf

            pending, self._pending = self._pending, {}
            for (folder, step), values in pending.items():
                with self._writer(folder).as_default():
                    tf.summary.experimental.write_raw_pb(self._summary(values), step=step)
        for writer in self._writers.values():
            writer.flush()

    def close(self) -> None:
        """`flush`, then close every writer; a later write opens new files."""
        self.flush()
        writers, self._writers = self._writers, {}
        for writer in writers.values():
            writer.close()

    # -- pieces

    def _writer(self, folder: str):
        writer = self._writers.get(folder)
        if writer is None:
            import tensorflow as tf

            path = self.logdir / folder if folder else self.logdir
            path.mkdir(parents=True, exist_ok=True)
            writer = tf.summary.create_file_writer(str(path))
            self._writers[folder] = writer
        return writer

    def _summary(self, values: dict[str, float]) -> bytes:
        """A serialized ``Summary``: each value a float32 scalar tensor with the scalars
        plugin's metadata (its content, version 0, is empty), as ``tf.summary.scalar`` makes."""
        from tensorflow.core.framework import summary_pb2, tensor_pb2, types_pb2

        if self._metadata is None:
            self._metadata = summary_pb2.SummaryMetadata(
                plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
            )
        summary = summary_pb2.Summary()
        for tag, number in values.items():
            tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[number])
            tensor.tensor_shape.SetInParent()  # a scalar: the shape with no dimension
            summary.value.add(tag=tag, metadata=self._metadata, tensor=tensor)
        return summary.SerializeToString()


class TensorBoardSink:
    """An event sink (`kerasdl.events.EventWriter.add_sink`) that writes a live run's
    TensorBoard files: at each ``epoch_ended`` the step rows taken since the last epoch, then
    the epoch's scalars, flushed; at ``run_finished`` the test metrics, and the files closed.

    Args:
        logdir: ``runs/<id>/tensorboard``.
        steps: The run's `kerasdl.steps.StepWriter` (made with ``collect_new=True``), or None.
    """

    def __init__(self, logdir: str | os.PathLike, steps=None):
        self.files = TensorBoardFiles(logdir)
        self._steps = steps

    def __call__(self, event: Mapping) -> None:
        kind = event.get("type")
        if kind == "epoch_ended":
            if self._steps is not None:
                self.files.steps(self._steps.take_new())
            self.files.epoch(event)
            self.files.flush()
        elif kind == "run_finished":
            self.files.finished(event)
            self.files.close()


def export_run(run_dir: str | os.PathLike, out: str | os.PathLike) -> dict:
    """Write the TensorBoard files of a run from its ``events.jsonl`` and ``steps.jsonl``.

    An epoch that appears twice (a resumed run ran it again) is written once, the later one;
    the hyperparameters are those of the last ``run_started``; the test metrics of each
    ``run_finished`` (each part of a resumed run) at the epochs run by then, as a live run
    writes them.

    Args:
        run_dir: The run directory (read as untrusted input).
        out: The folder to write (the run's ``logdir``).

    Returns:
        ``{"epochs": n, "steps": n, "hparams": bool}``: what was written.

    Raises:
        OSError: A file of the run cannot be read (`kerasdl._files.UnreadableFile`: not a
            regular file, too large), or ``out`` cannot be written.
    """
    from kerasdl.events import read_events
    from kerasdl.steps import read_steps

    run_dir = Path(run_dir)
    events = read_events(run_dir / "events.jsonl")
    history = read_steps(run_dir)
    started = [e for e in events if e.get("type") == "run_started"]
    epochs = {e.get("epoch"): e for e in events if e.get("type") == "epoch_ended"}
    finished = [e for e in events if e.get("type") == "run_finished"]
    files = TensorBoardFiles(out)
    try:
        written = False
        if started:
            first, last = started[0], started[-1]
            written = files.hparams(last.get("config"), run_dir.name, first.get("time"))
        for event in epochs.values():
            files.epoch(event)
        files.steps(history.rows)
        for event in finished:  # each part of a resumed run, at the epochs it had run
            files.finished(event)
    finally:
        files.close()
    return {"epochs": len(epochs), "steps": len(history.rows), "hparams": written}


def _number(value, *, finite: bool = True) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) or not finite else None


def _step(value) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _MAX_STEP:
        return None
    return value
