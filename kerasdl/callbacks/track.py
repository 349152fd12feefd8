"""`Track`: one callback that records any ``model.fit`` as a kerasdl run directory.

Unlike the other callbacks of `kerasdl.callbacks` it writes files: the run directory of
``docs/runs.md`` (events, a description of the fit, ``summary.json``, checkpoints), which
``kerasdl runs`` and ``kerasdl dashboard`` read as they read a run of ``kerasdl train``.
``docs/own-training.md`` is its guide; the event schema is ``docs/events.md``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from types import SimpleNamespace

import keras

import kerasdl
from kerasdl import _registration, runs
from kerasdl.callbacks import _fit_info, _views
from kerasdl.callbacks._monitor import is_better, resolve_mode
from kerasdl.callbacks.best_checkpoint import BestCheckpointStatus, save_model_atomically
from kerasdl.event_log import STATUS_KEY_PREFIXES, EventLog
from kerasdl.events import EventWriter
from kerasdl.events.schema import LrReason, Status, metric_direction

__all__ = ["CHECKPOINTS", "Track", "end_runs", "watching"]

CHECKPOINTS = ("best", "last", "both")
"""The values of `Track`'s ``checkpoints`` (or None: no checkpoint)."""

_logger = logging.getLogger("kerasdl.callbacks.track")
_NAN_KEYS = ("loss", "val_loss")


class _Unseen(Exception):
    """``fit`` ended by an exception that Track did not see (no ``on_train_end`` came)."""

    def __init__(self):
        super().__init__(
            "fit ended without on_train_end, by an exception Track did not see "
            "(use `with Track(...) as track:` around fit to record it)"
        )


# ----------------------------------------------------------------------------- the event log


class _TensorBoard:
    """`kerasdl.tensorboard_files.TensorBoardSink` for a Track run: its hyperparameters are the
    fit's description (``run_started``'s ``fit``: optimizer config, loss, epochs, batch size)."""

    def __init__(self, run_dir: Path):
        from kerasdl import tensorboard_files as tb

        self._sink = tb.TensorBoardSink(run_dir / tb.TENSORBOARD_DIR)
        self._run_id = run_dir.name

    def __call__(self, event) -> None:
        if event.get("type") == "run_started" and event.get("resumed_from") is None:
            fit = event.get("fit") or {}
            keys = ("optimizer", "loss", "validation", "epochs", "batch_size", "early_stopping")
            described = {key: fit[key] for key in keys if key in fit}
            self._sink.files.hparams(described, self._run_id, event.get("time"))
        self._sink(event)


class _TrackLog(EventLog):
    """`EventLog` as a Track drives it: the epoch's event is written once every callback of the
    fit has seen the epoch, and a learning-rate change nothing known explains says so.

    ``begin_epoch`` runs at the epoch's first batch (after every ``on_epoch_begin``, so a
    ``LearningRateScheduler`` listed after the Track has set the epoch's rate), ``end_epoch``
    at the next epoch's start or the end of training, with the time the epoch ended.
    """

    def __init__(self, writer, *, schedule_callback: bool, has_checkpoint: bool, **kwargs):
        super().__init__(writer, **kwargs)
        self.schedule_callback = schedule_callback
        self.has_checkpoint = has_checkpoint
        self._expected = None  # (epoch, rate) read when the last epoch's event was written

    def begin_epoch(self, epoch: int, began: float) -> None:
        expected, self._expected = self._expected, None
        self.on_epoch_begin(epoch)
        with self._lock:
            self._epoch_start = began
        rate = self._lr_start
        if expected is not None and rate is not None and expected[1] is not None:
            after, old = expected
            if not math.isclose(old, rate, rel_tol=1e-6, abs_tol=0.0):
                reason = LrReason.SCHEDULE if self.schedule_callback else LrReason.UNKNOWN
                self.writer.emit(
                    "lr_changed", epoch=after + 1, old=old, new=rate, reason=reason.value
                )

    def end_epoch(self, epoch: int, logs: dict, ended: float) -> None:
        clock = self._clock
        self._clock = lambda: ended
        try:
            self.on_epoch_end(epoch, logs)
        finally:
            self._clock = clock
        self._expected = (epoch, self._learning_rate())

    def _schedule_reason(self):
        schedule = getattr(self._optimizer(), "_learning_rate", None)
        is_schedule = isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule)
        if is_schedule or self.schedule_callback:
            return super()._schedule_reason()
        return LrReason.UNKNOWN.value

    def _checkpoint_saved(self, logs):
        return super()._checkpoint_saved(logs) if self.has_checkpoint else None

    def clock_now(self) -> float:
        return self._clock()

    def note_step(self, batch, logs=None) -> None:
        """The batch hook without a sink: only what the epoch's samples/s needs, the steps
        done and the time of the last (a late hook from Keras's worker thread is dropped)."""
        now = self._clock()
        with self._lock:
            if batch + 1 > self._last_step:
                self._last_step, self._last_batch_time = batch + 1, now


class _Best:
    """The best value of Track's monitor, and its own ``best.keras`` (a `BestCheckpointStatus`
    for `EventLog`)."""

    def __init__(self, monitor, mode, filepath):
        self.monitor, self.mode, self.filepath = monitor, mode, filepath
        self.best = self.best_epoch = self.epoch = None
        self.saved, self.saves = False, 0

    @property
    def status(self) -> BestCheckpointStatus:
        return BestCheckpointStatus(
            monitor=self.monitor,
            mode=self.mode,
            filepath=str(self.filepath),
            best=self.best,
            best_epoch=self.best_epoch,
            saved=self.saved,
            saves=self.saves,
            epoch=self.epoch,
        )


# ----------------------------------------------------------------------------- watchers


class _Watcher:
    """A view that wants every Track's events while it is attached (`watching`)."""

    def __init__(self, sink, stop):
        self.sink = sink
        self.stop = stop if stop is not None else threading.Event()
        self.tracks: list[Track] = []


_watchers: list[_Watcher] = []
_watchers_lock = threading.Lock()


@contextlib.contextmanager
def watching(sink: Callable[[dict], None] | None = None, stop: threading.Event | None = None):
    """While inside, every `Track` that starts training in this process also sends its events
    to ``sink``, and stops training after the epoch once ``stop`` is set.

    `kerasdl.dashboard.run` uses it. Yields the watcher: its ``tracks`` are the Tracks that
    started, in order.

    Args:
        sink: Takes each event dict (as `kerasdl.events.EventWriter`'s sinks do). Defaults to
            None (only ``stop`` and ``tracks``).
        stop: Set it to stop training after the current epoch. Defaults to a new event.
    """
    watcher = _Watcher(sink, stop)
    with _watchers_lock:
        _watchers.append(watcher)
    try:
        yield watcher
    finally:
        with _watchers_lock:
            _watchers.remove(watcher)


def end_runs(tracks: Iterable[Track], error: BaseException | None = None) -> None:
    """Finish the runs of ``tracks`` still open once the code that ran their fits has ended:
    as ``error`` ends them (`Track.finish`), or, with None (that code returned), as a fit
    that ended without ``on_train_end``: an exception was caught inside it."""
    for track in tracks:
        if track.active:
            track.finish(error if error is not None else _Unseen())


# ----------------------------------------------------------------------------- ends nobody saw

_open: set[Track] = set()
_open_lock = threading.RLock()
_hooks_installed = False


def _finish_open(error, *, thread=None) -> None:
    """Finish the open runs (of ``thread``, or all) as ``error`` ends them."""
    with _open_lock:
        tracks = [t for t in _open if thread is None or t._thread is thread]
    for track in tracks:
        with contextlib.suppress(Exception):
            track.finish(error)


def _install_hooks() -> None:
    """Once per process: finish a run whose fit an uncaught exception ended (``sys`` and
    ``threading`` excepthooks; IPython's ``post_run_cell``, where a notebook catches it)."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    previous = sys.excepthook

    def excepthook(kind, value, traceback):
        _finish_open(value, thread=threading.main_thread())
        previous(kind, value, traceback)

    sys.excepthook = excepthook
    previous_thread_hook = threading.excepthook

    def thread_excepthook(args):
        _finish_open(args.exc_value, thread=args.thread)
        previous_thread_hook(args)

    threading.excepthook = thread_excepthook
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:

        def post_run_cell(result):
            error = getattr(result, "error_in_exec", None)
            _finish_open(error if error is not None else _Unseen(), thread=threading.main_thread())

        with contextlib.suppress(Exception):
            shell.events.register("post_run_cell", post_run_cell)


_sigint_tracks: set[Track] = set()


def _on_sigint(signum, frame):
    """Ctrl-C while a Track records: note it (a later end Track did not see is then
    ``interrupted``), then raise ``KeyboardInterrupt`` as Python's own handler does."""
    for track in list(_sigint_tracks):
        track._sigint = True
    signal.default_int_handler(signum, frame)


def _watch_sigint(track) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    with contextlib.suppress(ValueError, TypeError):
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _on_sigint)
    if signal.getsignal(signal.SIGINT) is _on_sigint:
        _sigint_tracks.add(track)


def _unwatch_sigint(track) -> None:
    _sigint_tracks.discard(track)
    if _sigint_tracks or threading.current_thread() is not threading.main_thread():
        return
    with contextlib.suppress(ValueError, TypeError):
        if signal.getsignal(signal.SIGINT) is _on_sigint:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _fit_gone(ref) -> None:
    """The fit's callback list was freed (or the process exits) with the run still open."""
    track = ref()
    if track is not None and track.active:
        with contextlib.suppress(Exception):
            track.finish(_Unseen())


# ----------------------------------------------------------------------------- Track


class Track(keras.callbacks.Callback):
    """Record a ``model.fit`` as a kerasdl run directory: events, a description, checkpoints.

    One line in any Keras 3 fit, on the TensorFlow, JAX and torch backends::

        model.fit(x, y, epochs=20, validation_split=0.1, callbacks=[Track("runs")])

    Each ``fit`` makes ``<runs_dir>/<run id>/``, in the format of ``kerasdl train``'s run
    directories (``kerasdl runs list|show|compare`` and ``kerasdl dashboard`` read it):

    - ``events.jsonl``: ``run_started`` (the model's layers and parameter counts, the optimizer
      and its ``get_config()``, the loss and metrics, the fit's epochs, batch size, steps and
      data sizes where Keras lets them be known), ``epoch_ended`` (every logged value, the
      learning rate, the other callbacks' state), ``lr_changed`` (with its reason: ``plateau``,
      ``schedule``, ``warmup_end``, or ``unknown`` when nothing known changed it),
      ``run_finished`` (the status: ``completed``, ``early_stopped``, ``stopped``, ``nan``,
      ``interrupted``, ``failed``), and in-process ``batch`` progress for sinks;
    - ``fit.json``: the same description, where ``kerasdl train`` writes ``config.toml``;
    - ``best.keras`` (the best epoch by ``monitor``) and/or ``last.keras`` (every epoch), both
      written atomically, as ``checkpoints`` says;
    - ``summary.json``: the outcome.

    **The other callbacks.** The fit's early-stopping, plateau and checkpoint callbacks are
    found in its callback list (Keras gives a callback none: Track reads it from the frames
    that call ``on_train_begin``; pass ``callbacks=`` to name them instead), and their state
    is published each epoch in the fields ``kerasdl train`` writes, so the dashboard shows
    the early-stopping countdown: `kerasdl.callbacks.EarlyStopping`, `ReduceLROnPlateau`,
    `BestCheckpoint`, and Keras's own ``keras.callbacks.EarlyStopping``,
    ``ReduceLROnPlateau`` and ``ModelCheckpoint`` (``wait``, ``patience``, ``best``,
    ``monitor``, ...). An epoch's event is written once every callback has seen the epoch (at
    the next epoch's start, or the end of training), so Track's place in the list does not
    matter.

    **The status.** ``nan`` when an epoch's ``loss`` or ``val_loss`` is not finite (training
    then stops, unless ``stop_on_nan=False``); ``early_stopped`` when an early-stopping
    callback ended the fit before its last epoch; ``stopped`` when `stop` was called (the
    dashboard's ``s``) or anything else ended it early; else ``completed``. When ``fit``
    raises, Keras calls no ``on_train_end``: an exception in Track's own hooks, or around a
    ``with Track(...) as track:`` block, or through `kerasdl.dashboard.run`, ends the run as
    ``interrupted`` (``KeyboardInterrupt``) or ``failed`` (any other, with its message).
    Without those, Track still finishes the run, on a best-effort basis: when the exception
    reaches ``sys.excepthook`` (or ``threading.excepthook``, or IPython's end of cell), when
    the fit's callback list is freed, at exit, or at the next ``fit`` with the same Track;
    ``interrupted`` if Ctrl-C came during the fit, else ``failed``. A killed process (SIGKILL,
    or SIGTERM left to its default) leaves the run ``unfinished``, as with ``kerasdl train``.

    **Cost.** Nothing per batch but a clock read and a comparison (and, with a sink attached,
    at most 4 ``batch`` events a second); per epoch, one line of events, ``fsync``-ed, and the
    checkpoints asked for (``docs/benchmarks.md`` measures it).

    Each ``fit`` with the same Track makes a new run (``<run_name>-2``, ... when a name is
    given), except a fit whose ``initial_epoch`` is the epoch the last run reached: it
    continues that run, as a resumed part. ``kerasdl train --resume`` refuses Track runs (their
    model and data are the script's).

    Args:
        runs_dir: The folder of run directories, created if needed. Defaults to ``"runs"``.
        run_name: The run directory's name (1-100 of ``A-Z a-z 0-9 . _ -``); it must not exist.
            Defaults to None (``<UTC date>-<time>-<6 hex digits>``).
        checkpoints: ``"best"`` (``best.keras`` when ``monitor`` improves), ``"last"``
            (``last.keras`` after every finished epoch), ``"both"``, or None. Defaults to
            ``"best"``.
        monitor: The logged quantity that decides the best epoch. Defaults to None: the
            early-stopping callback's monitor, else ``val_loss`` with validation data, else
            ``loss``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (from the metric, as `EarlyStopping`; a name
            that does not say counts as a loss). Defaults to ``"auto"``.
        callbacks: The callbacks whose state to publish. Defaults to None (those of the fit).
        data_name: The dataset's name in the run's header and ``kerasdl runs list``. Defaults
            to None (what ``x`` is: ``numpy arrays``, ``tf.data.Dataset``, ...).
        stop_on_nan: Stop training after an epoch whose loss is not finite. Defaults to True.
        sinks: Callables that get every event as it is emitted (`kerasdl.cli.plain.PlainView`,
            ``print``). Defaults to none.
        batch_interval_s: Least seconds between two ``batch`` events, ``>= 0``. Defaults to
            0.25.
        tensorboard: Also write TensorBoard event files into ``<run dir>/tensorboard`` (as
            ``kerasdl train --tensorboard``: each epoch's scalars, the learning rate, the
            early-stopping wait, the test metrics if any, and the fit's description as
            hyperparameters when the ``tensorboard`` package is installed). Defaults to False.

    Example:

    ```python
    track = kerasdl.callbacks.Track("runs", run_name="sgd-0.1", checkpoints="both")
    stopper = keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True)
    model.fit(x, y, epochs=30, validation_split=0.25, verbose=0, callbacks=[stopper, track])
    track.status, track.run_dir  # ('early_stopped', PosixPath('runs/sgd-0.1')), or 'completed'
    ```

    References:
        - [Keras callbacks](https://keras.io/api/callbacks/)
        - [Writing your own callbacks](https://keras.io/guides/writing_your_own_callbacks/)
    """

    async_safe = True  # its batch hook is EventLog's, safe in Keras's worker thread

    def __init__(
        self,
        runs_dir="runs",
        *,
        run_name: str | None = None,
        checkpoints: str | None = "best",
        monitor: str | None = None,
        mode: str = "auto",
        callbacks: Iterable | None = None,
        data_name: str | None = None,
        stop_on_nan: bool = True,
        sinks: Iterable[Callable[[dict], None]] = (),
        batch_interval_s: float = 0.25,
        tensorboard: bool = False,
    ):
        super().__init__()
        if run_name is not None and not runs._RUN_ID.fullmatch(str(run_name)):
            raise ValueError(
                "Argument `run_name` must be 1-100 of A-Z a-z 0-9 . _ - starting with a letter "
                f"or digit. Received: run_name={run_name!r}"
            )
        if checkpoints is not None and checkpoints not in CHECKPOINTS:
            raise ValueError(
                "Argument `checkpoints` must be one of 'best', 'last', 'both' or None. "
                f"Received: checkpoints={checkpoints!r}"
            )
        if mode not in ("auto", "min", "max"):
            raise ValueError(
                f"Argument `mode` must be one of 'auto', 'min', 'max'. Received: mode={mode!r}"
            )
        if monitor is not None and not isinstance(monitor, str):
            raise ValueError(f"Argument `monitor` must be a string. Received: monitor={monitor!r}")
        if not isinstance(batch_interval_s, (int, float)) or not batch_interval_s >= 0:
            raise ValueError(
                "Argument `batch_interval_s` must be >= 0. "
                f"Received: batch_interval_s={batch_interval_s!r}"
            )
        self.runs_dir = Path(runs_dir)
        self.run_name = run_name
        self.checkpoints = checkpoints
        self.monitor = monitor
        self.mode = mode
        self.callbacks = None if callbacks is None else list(callbacks)
        self.data_name = data_name
        self.stop_on_nan = bool(stop_on_nan)
        self.sinks = list(sinks)
        self.batch_interval_s = float(batch_interval_s)
        self.tensorboard = bool(tensorboard)
        self.run_dir: Path | None = None
        self.status: str | None = None
        self.finished: dict | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._writer: EventWriter | None = None
        self._log: _TrackLog | None = None
        self._batch_hook = None
        self._epoch_begin = None
        self._runs_made = 0
        self._epochs_done = 0
        self._thread = None
        self._sigint = False

    # ------------------------------------------------------------------ public

    @property
    def active(self) -> bool:
        """Whether a run is being recorded (between ``on_train_begin`` and its end)."""
        return self._writer is not None

    @property
    def run_id(self) -> str | None:
        """The run directory's name (None before the first fit)."""
        return None if self.run_dir is None else self.run_dir.name

    def stop(self) -> None:
        """Stop training after the current epoch (thread-safe); the run ends as ``stopped``."""
        self._stop.set()

    def finish(self, error: BaseException | None = None) -> str | None:
        """End the open run now (nothing happens without one): ``interrupted`` for a
        ``KeyboardInterrupt``, ``failed`` for another exception, else the status of the epochs
        seen. Emits ``run_finished`` and writes ``summary.json``; returns the status.

        Args:
            error: What ended the fit. Defaults to None (it returned).
        """
        with self._lock:
            if self._writer is None:
                return self.status
            self._end(error)
            return self.status

    def __enter__(self) -> Track:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if self.active:
            self.finish(error if error is not None else _Unseen())

    # ------------------------------------------------------------------ fit's hooks

    def on_train_begin(self, logs=None):
        with self._lock:
            if self._writer is not None:  # an earlier fit ended without on_train_end
                self.finish(_Unseen())
            fit = _fit_info.find_fit(self, self._model)
            try:
                self._begin(fit)
            except BaseException as error:
                self._failed_in_hook(error)
                raise

    def on_epoch_begin(self, epoch, logs=None):
        if self._log is None:
            return
        try:
            self._write_epoch()
            self._epoch_begin = (epoch, self._log.clock_now())
            for view in self._views.values():
                if hasattr(view, "begin"):
                    view.begin(epoch)
        except BaseException as error:
            self._failed_in_hook(error)
            raise

    def on_train_batch_begin(self, batch, logs=None):
        if self._epoch_begin is not None:
            self._begin_epoch()

    def on_train_batch_end(self, batch, logs=None):
        hook = self._batch_hook
        if hook is not None:
            hook(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        try:
            self._epoch_end(epoch, logs if logs is not None else {})
        except BaseException as error:
            self._failed_in_hook(error)
            raise

    def on_train_end(self, logs=None):
        try:
            self.finish(None)
        except BaseException as error:
            self._failed_in_hook(error)
            raise

    # ------------------------------------------------------------------ the run's start

    def _begin(self, fit: dict) -> None:
        """The run's start: its directory (or the run it continues), the other callbacks, the
        description, the writer, ``run_started``, the event log."""
        model = self._model
        fit_callbacks = [cb for cb in (fit["callbacks"] or []) if cb is not self]
        siblings = self.callbacks if self.callbacks is not None else fit_callbacks
        siblings = [cb for cb in siblings if not isinstance(cb, Track)]
        args = _fit_info.fit_arguments(fit["locals"], self.params or {})
        resumed_from = self._start_run(args)
        views = _views.choose(siblings, self._learning_rate)
        checkpoint = self._choose_monitor(views, args, found_fit=bool(fit["locals"]))
        description = self._describe(model, args, fit_callbacks or siblings, views)
        writer = self._open_writer()
        self._watch_for_unseen_ends(fit["list"])
        if resumed_from is None:
            runs.write_json_atomically(
                self.run_dir / runs.FIT_FILE,
                {
                    "origin": "track",
                    "run_id": self.run_dir.name,
                    "kerasdl": kerasdl.__version__,
                    "keras": keras.__version__,
                    "backend": keras.backend.backend(),
                    "dataset": self._dataset(args),
                    **description,
                },
            )
        self._emit_started(writer, model, args, description, resumed_from)
        log = _TrackLog(
            writer,
            schedule_callback=any(
                isinstance(cb, keras.callbacks.LearningRateScheduler) for cb in siblings
            ),
            has_checkpoint=checkpoint is not None,
            batch_size=args["batch_size"],
            samples_per_epoch=args["n_train"],
            early_stopping=views["early_stopping"],
            plateau=views["plateau"],
            checkpoint=checkpoint,
            batch_interval_s=self.batch_interval_s,
        )
        log.set_model(model)
        log.set_params(self.params)
        self._log = log
        # Without a sink no batch event is made: the hook only notes the step and its time.
        self._batch_hook = log.on_train_batch_end if writer.has_sinks else log.note_step

    def _start_run(self, args: dict) -> int | None:
        """Reset the per-fit state; make the run directory, or continue the last run (a fit
        from the epoch it reached). Returns the epoch a continued run resumes after, or None."""
        self._thread = threading.current_thread()
        self._sigint = False
        self._stop_epoch = self._nan_epoch = self._last_epoch = self._last_saved = None
        self._pending = self._epoch_begin = None
        self._final_logs: dict = {}
        self._started = time.monotonic()
        resumed_from = None
        if self.run_dir is not None and args["initial_epoch"] == self._epochs_done > 0:
            resumed_from = self._epochs_done  # fit(initial_epoch=...) continues the last run
        else:
            self.run_dir = self._new_run_dir()
            self._runs_made += 1
            self._epochs_done = 0
        self.status, self.finished = None, None
        self._planned = args["epochs"] or 0
        self._initial_epoch = args["initial_epoch"]
        self._resumed_from = resumed_from
        return resumed_from

    def _choose_monitor(self, views: dict, args: dict, *, found_fit: bool):
        """Track's monitor (its own, the early stopper's, val_loss or loss; None until the first
        epoch when the fit's arguments are unknown), and the checkpoint `EventLog` reports."""
        stopper = views["early_stopping"]
        self._monitor = (
            self.monitor
            or (stopper.status.monitor if stopper is not None else None)
            or (("val_loss" if args["validation"] else "loss") if found_fit else None)
        )
        self._best = _Best(self._monitor, None, self.run_dir / runs.BEST_MODEL_FILE)
        saves_best = self.checkpoints in ("best", "both")
        self._views = {k: v for k, v in views.items() if v is not None and hasattr(v, "observe")}
        if saves_best:
            self._views.pop("checkpoint", None)
        return self._best if saves_best else views["checkpoint"]

    def _open_writer(self) -> EventWriter:
        """The run's `EventWriter`, with Track's sinks and those of the watchers attached now."""
        writer = EventWriter(self.run_dir / runs.EVENTS_FILE, sinks=self.sinks)
        if self.tensorboard:
            writer.add_sink(_TensorBoard(self.run_dir))
        with _watchers_lock:
            self._watchers = list(_watchers)
        for watcher in self._watchers:
            if watcher.sink is not None:
                writer.add_sink(watcher.sink)
            watcher.tracks.append(self)
        self._writer = writer
        with _open_lock:
            _open.add(self)
        return writer

    def _watch_for_unseen_ends(self, callback_list) -> None:
        """The best-effort ends of a fit that raises (the class docstring)."""
        _install_hooks()
        _watch_sigint(self)
        if callback_list is not None:  # freed when fit's frame is: after an exception too
            with contextlib.suppress(TypeError):
                weakref.finalize(callback_list, _fit_gone, weakref.ref(self))

    def _emit_started(self, writer, model, args, description, resumed_from) -> None:
        optimizer = None
        if getattr(model, "optimizer", None) is not None:
            optimizer = {
                # its kind ("sgd"), not Keras's instance name ("sgd_135" after 135 others)
                "name": _registration.plain_name(model.optimizer).lower(),
                "learning_rate": self._learning_rate(),
            }
        writer.emit(
            "run_started",
            origin="track",
            fit=description,
            dataset=self._dataset(args),
            params=description["model"]["params"],
            trainable_params=description["model"]["trainable_params"],
            backend=keras.backend.backend(),
            devices=_fit_info.devices(),
            epochs=self._planned,
            steps_per_epoch=args["steps_per_epoch"],
            steps_per_execution=_count(getattr(model, "steps_per_execution", None)),
            loop="fit",
            batch_size=args["batch_size"],
            optimizer=optimizer,
            resumed_from=resumed_from,
        )

    def _new_run_dir(self) -> Path:
        """A new run directory: ``run_name`` (which must not exist), ``run_name-2``, ... for a
        Track's later fits, or a generated id."""
        name = self.run_name or ""
        if name and self._runs_made:
            for number in range(self._runs_made + 1, self._runs_made + 1000):
                candidate = f"{self.run_name}-{number}"
                if not (self.runs_dir / candidate).exists():
                    name = candidate
                    break
        elif name and (self.runs_dir / name).exists():
            raise runs.RunError(
                f"run directory {self.runs_dir / name} exists: choose another run_name for "
                "Track, or leave it out for a new id"
            )
        return runs.new_run_dir(SimpleNamespace(runs_dir=self.runs_dir, run_name=name))

    def _dataset(self, args: dict) -> dict:
        return {
            "name": self.data_name or args["data"] or "fit data",
            "source": "model.fit",
            "notice": None,
            "n_train": args["n_train"],
            "n_val": args["n_val"],
            "n_test": None,
        }

    def _describe(self, model, args: dict, callbacks: list, views: dict) -> dict:
        """The ``fit`` of ``run_started`` (and ``fit.json``)."""
        optimizer = getattr(model, "optimizer", None)
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        names = [_fit_info.callback_name(cb) for cb in [*callbacks, self]]
        if self.checkpoints is not None:
            saves_best = self.checkpoints in ("best", "both")
            name = runs.BEST_MODEL_FILE if saves_best else runs.LAST_MODEL_FILE
            checkpoint = {
                "enabled": True,
                "callback": "kerasdl.callbacks.Track",
                "checkpoints": self.checkpoints,
                "monitor": self._monitor,
                "filepath": str(self.run_dir / name),
            }
        elif views["checkpoint"] is not None:
            cb = getattr(views["checkpoint"], "callback", views["checkpoint"])
            checkpoint = {
                "enabled": True,
                "callback": _fit_info.callback_name(cb),
                "monitor": str(getattr(cb, "monitor", "")),
                "filepath": str(getattr(cb, "filepath", "")),
            }
        else:
            checkpoint = {"enabled": False}
        stopper, plateau = views["early_stopping"], views["plateau"]
        return {
            "model": _fit_info.describe_model(model),
            "optimizer": _fit_info.describe_optimizer(optimizer),
            "loss": _fit_info.loss_name(_fit_info.compiled_loss(model)),
            "metrics": _fit_info.metric_names(model),
            "epochs": args["epochs"],
            "initial_epoch": args["initial_epoch"],
            "batch_size": args["batch_size"],
            "steps_per_epoch": args["steps_per_epoch"],
            "validation": args["validation"],
            "callbacks": names,
            "early_stopping": _views.early_stopping_setup(stopper, _name_of_view(stopper)),
            "plateau": _views.plateau_setup(plateau, _name_of_view(plateau)),
            "checkpoint": checkpoint,
            "runs_dir": str(self.runs_dir),
            "track": {
                "checkpoints": self.checkpoints,
                "monitor": self._monitor,
                "mode": self.mode,
                "stop_on_nan": self.stop_on_nan,
            },
        }

    # ------------------------------------------------------------------ epochs

    def _begin_epoch(self) -> None:
        epoch, began = self._epoch_begin
        self._epoch_begin = None
        self._log.begin_epoch(epoch, began)

    def _epoch_end(self, epoch: int, logs: dict) -> None:
        if self._log is None:
            return
        if self._epoch_begin is not None:  # an epoch without a batch
            self._begin_epoch()
        ended = self._log.clock_now()
        self._pending = (epoch, logs, ended)
        self._last_epoch = epoch
        self._final_logs = logs
        model = self.model
        finite = _all_finite(logs)
        if not finite and self._nan_epoch is None:
            self._nan_epoch = epoch
        if not finite and self.stop_on_nan:
            model.stop_training = True
        self._track_best(epoch, logs, model, save=finite)
        if finite and self.checkpoints in ("last", "both"):
            save_model_atomically(model, self.run_dir / runs.LAST_MODEL_FILE)
            self._last_saved = epoch
        if self._stop.is_set() or any(w.stop.is_set() for w in self._watchers):
            model.stop_training = True
            if self._stop_epoch is None:
                self._stop_epoch = epoch

    def _track_best(self, epoch: int, logs: dict, model, *, save: bool) -> None:
        best = self._best
        best.epoch, best.saved = epoch, False
        if best.monitor is None:  # no fit frame was found: decide now
            best.monitor = self._monitor = "val_loss" if "val_loss" in logs else "loss"
        if best.mode is None:
            best.mode = self._resolve_mode(best.monitor, model)
        value = logs.get(best.monitor)
        value = None if isinstance(value, bool) else _float(value)
        if value is None or not is_better(value, best.best, best.mode, 0.0):
            return
        best.best, best.best_epoch = value, epoch
        if save and self.checkpoints in ("best", "both"):
            save_model_atomically(model, best.filepath)
            best.saves += 1
            best.saved = True

    def _resolve_mode(self, monitor: str, model) -> str:
        if self.mode != "auto":
            return self.mode
        try:
            return resolve_mode("auto", monitor, model)
        except ValueError:
            return metric_direction(monitor) or "min"

    def _write_epoch(self) -> None:
        """Write the epoch that ended, now that every callback has seen it."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        epoch, logs, ended = pending
        if self._nan_epoch is None and not _all_finite(logs):  # made so by a later callback
            self._nan_epoch = epoch
        for view in self._views.values():
            view.observe(epoch, logs)
        self._log.end_epoch(epoch, logs, ended)
        self._epochs_done = epoch + 1

    # ------------------------------------------------------------------ the end

    def _failed_in_hook(self, error: BaseException) -> None:
        with contextlib.suppress(Exception):
            self.finish(error)

    def _end(self, error: BaseException | None) -> None:
        writer = self._writer
        try:
            try:
                self._write_epoch()
            except Exception:  # the end is written all the same
                _logger.warning("Track could not write the last epoch", exc_info=True)
            status, message = self._status(error)
            fields = self._finished_fields(status, message)
            try:
                writer.emit("run_finished", **fields)
            finally:
                runs.write_summary(
                    self.run_dir,
                    {
                        "run_id": self.run_dir.name,
                        **fields,
                        "epochs": self._planned,
                        "final": _final_metrics(self._final_logs),
                        "origin": "track",
                    },
                )
            self.status, self.finished = status, fields
        finally:
            self._writer = None
            self._log = None
            self._batch_hook = None
            with _open_lock:
                _open.discard(self)
            _unwatch_sigint(self)
            with contextlib.suppress(Exception):
                writer.close()

    def _status(self, error: BaseException | None) -> tuple[str, str | None]:
        if isinstance(error, _Unseen):
            if self._sigint:
                return Status.INTERRUPTED.value, None
            return Status.FAILED.value, str(error)
        if isinstance(error, KeyboardInterrupt):
            return Status.INTERRUPTED.value, str(error) or None
        if error is not None:
            return Status.FAILED.value, f"{type(error).__name__}: {error}"
        if self._nan_epoch is not None:
            return Status.NAN.value, None
        stopped = _views.stopped_epoch(self._log.early_stopping)
        if stopped is not None and stopped + 1 < self._planned:
            return Status.EARLY_STOPPED.value, None
        ran = self._last_epoch + 1 if self._last_epoch is not None else self._initial_epoch
        if self._stop_epoch is not None or ran < self._planned:
            return Status.STOPPED.value, None
        return Status.COMPLETED.value, None

    def _finished_fields(self, status: str, error: str | None) -> dict:
        best = self._best
        stopper = self._log.early_stopping if self._log is not None else None
        ended_itself = status in (
            Status.COMPLETED.value,
            Status.EARLY_STOPPED.value,
            Status.STOPPED.value,
            Status.NAN.value,
        )
        return {
            "status": status,
            "best_epoch": None if best.best_epoch is None else best.best_epoch + 1,
            "best": None if best.best is None else {"monitor": best.monitor, "value": best.best},
            "test": None,
            "duration_s": time.monotonic() - self._started,
            "epochs_run": self._epochs_done or self._initial_epoch,
            "error": error,
            "resumed_from": self._resumed_from,
            "restored_best": ended_itself and _views.restores_best(stopper),
            "last_checkpoint_epoch": None if self._last_saved is None else self._last_saved + 1,
        }

    # ------------------------------------------------------------------ pieces

    def _learning_rate(self) -> float | None:
        model = self._model
        optimizer = getattr(model, "optimizer", None)
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        if optimizer is None:
            return None
        try:
            return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        except Exception:  # a rate that cannot be read is unknown
            return None

    def __repr__(self) -> str:
        return f"Track(runs_dir={str(self.runs_dir)!r}, run_id={self.run_id!r})"


def _name_of_view(view) -> str:
    return "" if view is None else _fit_info.callback_name(getattr(view, "callback", view))


def _count(value) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if value >= 0 else None


def _float(value) -> float | None:
    if value is None or isinstance(value, (bool, str)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _all_finite(logs: dict) -> bool:
    """Whether the epoch's ``loss`` and ``val_loss`` (those it has) are finite."""
    for key in _NAN_KEYS:
        number = _float(logs.get(key))
        if number is not None and not math.isfinite(number):
            return False
    return True


def _final_metrics(logs: dict) -> dict:
    """The last epoch's logged numbers, without the learning rate and the status keys."""
    return {
        key: float(value)
        for key, value in (logs or {}).items()
        if key != "learning_rate"
        and not key.startswith(STATUS_KEY_PREFIXES)
        and _float(value) is not None
    }
