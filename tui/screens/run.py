"""`RunScreen`: one run, live or replayed: header, progress, charts, early stopping, table, log."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from kerasdl.events.schema import Event, from_dict
from kerasdl.safe_text import inert, markup_escape
from kerasdl_tui.format import fmt_lr, fmt_number
from kerasdl_tui.messages import BatchProgress, RunEvent, SourceEnded, message_for
from kerasdl_tui.sources import EventSource
from kerasdl_tui.state import RunState
from kerasdl_tui.widgets.early_stopping_panel import EarlyStoppingPanel
from kerasdl_tui.widgets.line_chart import LineChart, Marker, Series
from kerasdl_tui.widgets.log_pane import LogPane
from kerasdl_tui.widgets.metrics_table import MetricsTable
from kerasdl_tui.widgets.progress_panel import ProgressPanel
from kerasdl_tui.widgets.run_header import RunHeader

__all__ = ["RunScreen"]

TRAIN_STYLE, VAL_STYLE = "#5fafff", "#ffaf5f"
#: The smoothing weights ``w`` steps through (TensorBoard's EMA, `kerasdl.smoothing`).
SMOOTHING_WEIGHTS = (0.6, 0.8, 0.9, 0.95, 0.99, 0.3)
STEPS_REREAD_S = 1.0  # a followed run's steps.jsonl is read again at most this often
MARKER_STYLES = {"S": "cyan", "P": "magenta", "W": "green"}
WRITER_CHECK_S = 5.0
TALL, WIDE = 34, 110  # from this size on, the layout gives the charts and table more room


def _legend(*parts: tuple[str, str], sep: str = " ") -> Text:
    """A chart's legend; its labels hold metric names and lr-change reasons: written inert."""
    legend = Text()
    for label, style in parts:
        if not label:
            continue
        if legend:
            legend.append(sep, style="dim")
        legend.append(inert(label), style=style)
    return legend


class RunScreen(Screen):
    """A run as it happens (or happened), fed by an event source running in a thread worker.

    The worker calls ``source.run(emit, stop)``; ``emit`` posts each event to this screen as
    a message (`kerasdl_tui.messages`) and returns at once, so the run never waits for the
    screen. Handlers fold the event into `state` and redraw the widgets it changes.

    Args:
        source: Where the events come from (`kerasdl_tui.sources`).
        clock: Wall-clock seconds, for the elapsed time. Defaults to ``time.time``.
        can_go_back: Whether ``escape`` returns to the previous screen (the runs browser).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "stop_run", "Stop after epoch"),
        Binding("l", "toggle_log", "Log scale"),
        Binding("x", "toggle_x", "Epoch/step", show=False),
        Binding("z", "toggle_smoothing", "Smooth", show=False),
        Binding("w", "next_weight", "Smoothing weight", show=False),
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(self, source: EventSource, *, clock=time.time, can_go_back: bool = False):
        super().__init__()
        self.source = source
        self.clock = clock
        self.can_go_back = can_go_back
        self.state = RunState()
        self.stop_event = threading.Event()
        self.outcome: SourceEnded | None = None
        self.quit_when_done = False
        self._writer_gone_reported = False
        self._redraw_pending = False
        self._ui_thread_id = None
        self._restore_priority: Callable[[], None] | None = None
        self.per_step = False  # the loss chart against the global step (x), or the epoch
        self.smoothing: float | None = None  # the charts' smoothing weight (z, w), or off
        self._weight_index = 0
        self.live_steps: dict[int, float] = {}  # global step -> loss, from batch events
        self._file_steps: list[tuple[float, float]] = []
        self._steps_read_at: float | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield RunHeader(self.clock, id="header")
        yield ProgressPanel(id="progress")
        with Horizontal(id="charts"):
            yield LineChart("loss", id="loss-chart")
            yield LineChart("accuracy", id="acc-chart")
        with Horizontal(id="middle"):
            with Vertical(id="side"):
                yield EarlyStoppingPanel(id="early-stopping")
            yield LineChart("learning rate", id="lr-chart", y_format=fmt_lr)
        with Horizontal(id="bottom"):
            yield MetricsTable(id="metrics")
            yield LogPane(id="log")
        yield Footer()

    def on_resize(self, event) -> None:
        self.set_class(event.size.height >= TALL, "-tall")
        self.set_class(event.size.width >= WIDE, "-wide")

    def on_mount(self) -> None:
        self._ui_thread_id = threading.get_native_id()
        self._redraw_all()
        self.set_interval(1.0, self._tick)
        self._consume()

    def on_unmount(self) -> None:
        self.stop_event.set()
        restore, self._restore_priority = self._restore_priority, None
        if restore is not None:
            restore()

    # ------------------------------------------------------------------ the source

    @property
    def training(self) -> bool:
        """Whether this screen trains a run in this process that has not ended."""
        return bool(self.source.live) and self.outcome is None

    @property
    def mode(self) -> str:
        """``training`` (in this process), ``following`` (a file another process writes), or
        ``replay`` (a finished run's file)."""
        if self.source.live:
            return "training"
        return "following" if self.state.live else "replay"

    @work(thread=True, exclusive=True, exit_on_error=False, group="source")
    def _consume(self) -> None:
        niceness = getattr(self.source, "ui_niceness", 0)
        if niceness:
            self._restore_priority = _lower_priority(self._ui_thread_id, niceness)

        def emit(event: dict) -> None:
            self.post_message(message_for(event))

        try:
            result = self.source.run(emit, self.stop_event)
        except Exception as error:  # shown on the screen, never swallowed
            text = f"{type(error).__name__}: {error}"
            self.post_message(SourceEnded(error=text, exception=error))
            return
        self.post_message(SourceEnded(result=result))

    # ------------------------------------------------------------------ events

    def on_batch_progress(self, message: BatchProgress) -> None:
        self.state.apply(message.event)
        self._note_step(message.event)
        self.query_one(ProgressPanel).show(self.state)
        if self.state.status == "running" and message.event.get("epoch") == 1:
            self.query_one(RunHeader).refresh()

    def on_run_event(self, message: RunEvent) -> None:
        event = message.event
        if not isinstance(event, Event):
            event = from_dict(event)  # checked once: the log reads what the state holds
        known = len(self.state.problems)
        kind = self.state.apply(event)
        if kind == "system" and not event.problems:  # every few seconds: its line only
            self.query_one(ProgressPanel).show(self.state)
            return
        log = self.query_one(LogPane)
        for problem in self.state.problems[known:]:  # what could not be read, said once
            log.add(problem, "warning", tag="bad event")
        if kind == "run_started":
            self._writer_gone_reported = False
            self._log_started(event, log)
        elif kind == "lr_changed":
            letter, words = self.state.lr_change_label(event)
            log.add(
                f"after epoch {event.get('epoch')}: lr {fmt_lr(event.get('old'))} -> "
                f"{fmt_lr(event.get('new'))} ({words})",
                tag=f"lr {letter}",
            )
        elif kind == "notice":
            log.add(str(event.get("message", "")), str(event.get("level", "info")))
        elif kind == "epoch_ended":
            self._log_epoch(event, log)
        elif kind == "run_finished":
            self._log_finished(event, log)
        self._request_redraw()

    def on_source_ended(self, message: SourceEnded) -> None:
        self.outcome = message
        log = self.query_one(LogPane)
        if message.error is not None:
            if self.source.live and self.state.started is None:
                # Nothing ran (a config, data or run-directory error): leave, and let the
                # command line say what was wrong.
                self.app.exit(message)
                return
            log.add(message.error, "error")
            self._notify_error(message.error, "the run failed")
            if self.state.live:
                self.state.status = "failed"
        elif self.source.live and self.state.live and self.state.started is not None:
            log.add("the run returned without a run_finished event", "warning")
        self._redraw_all()
        if self.quit_when_done:
            self.app.exit(message)

    def _log_started(self, event: dict, log: LogPane) -> None:
        data = event.get("dataset") or {}
        text = (
            f"run {event.get('run_id')} started: {event.get('epochs', '?')} epochs x "
            f"{event.get('steps_per_epoch', '?')} steps of {event.get('batch_size', '?')}"
        )
        if event.get("resumed_from") is not None:
            text += f", resumed after epoch {event['resumed_from']}"
        log.add(text)
        if data.get("notice"):
            log.add(str(data["notice"]), "warning", tag="data")

    def _notify_error(self, text: str, title: str) -> None:
        """A notification of an error from the run: Textual reads its message as markup, and
        the message is the run's (an error text, a path): escaped and inert."""
        self.notify(markup_escape(text), title=title, severity="error", timeout=10)

    def _log_epoch(self, event: dict, log: LogPane) -> None:
        metrics = event.get("metrics") or {}
        bad = [
            name
            for name, value in metrics.items()
            if isinstance(value, float) and not math.isfinite(value)
        ]
        if bad:
            log.add(f"epoch {event.get('epoch')}: {', '.join(bad)} not finite", "error")

    def _log_finished(self, event: dict, log: LogPane) -> None:
        status = event.get("status")
        epochs_run = event.get("epochs_run", self.state.epochs_done)
        stopper = self.state.early_stopping or {}
        monitor = stopper.get("monitor") or (event.get("best") or {}).get("monitor") or "?"
        if status == "completed":
            log.add(f"completed: all {epochs_run} epochs ran", tag="done")
        elif status == "early_stopped":
            log.add(
                f"stopped early after epoch {self.state.epochs_done}: {monitor} did not "
                f"improve for {stopper.get('patience', '?')} epochs",
                "warning",
                tag="done",
            )
        elif status == "stopped":
            log.add(
                f"stopped on request after epoch {self.state.epochs_done}", "warning", tag="done"
            )
        elif status == "nan":
            text = f"the loss became NaN; the run stopped after {epochs_run} complete epochs"
            if event.get("error"):
                text += f" ({event['error']})"
            log.add(text, "error", tag="NaN")
            self._notify_error(text, "NaN loss")
        elif status == "interrupted":
            log.add(f"interrupted after {epochs_run} complete epochs", "error", tag="done")
        elif status == "failed":
            text = str(event.get("error") or "unknown error")
            log.add(text, "error", tag="failed")
            self._notify_error(text, "the run failed")
        best = event.get("best") or {}
        if best.get("value") is not None:
            restored = " (weights restored)" if self.state.best_restored else ""
            log.add(
                f"{best.get('monitor', '?')} {fmt_number(best['value'])} at epoch "
                f"{event.get('best_epoch')}{restored}",
                tag="best",
            )
        test = event.get("test") or {}
        if test:
            log.add(" ".join(f"{k} {fmt_number(v)}" for k, v in test.items()), tag="test")

    # ------------------------------------------------------------------ drawing

    def _tick(self) -> None:
        if self.state.live:
            self.query_one(RunHeader).refresh()
            self._check_writer()

    def _check_writer(self) -> None:
        """Following a file: notice when the process writing it is gone without finishing."""
        started = self.state.started
        if self.source.live or started is None or self._writer_gone_reported:
            return
        now = self.clock()
        last_check = getattr(self, "_last_writer_check", None)
        if last_check is not None and now - last_check < WRITER_CHECK_S:
            return
        self._last_writer_check = now
        from kerasdl.runs import run_status

        path = getattr(self.source, "path", None)
        try:
            mtime = path.stat().st_mtime if path is not None else None
        except OSError:
            mtime = None
        if run_status([started], mtime=mtime) == "unfinished":
            self._writer_gone_reported = True
            self.state.status = "unfinished"
            again = (
                "run the script again: kerasdl train cannot resume a Track run"
                if self.state.origin == "track"
                else "resume it with kerasdl train --resume"
            )
            self.query_one(LogPane).add(
                f"the process writing this run has ended without finishing it ({again})",
                "warning",
            )
            self._redraw_all()

    def _request_redraw(self) -> None:
        """Redraw once the messages already queued are handled: an epoch's events (and a
        replayed file's hundreds) cost one redraw, not one each."""
        if not self._redraw_pending:
            self._redraw_pending = True
            self.call_later(self._redraw_now)

    def _redraw_now(self) -> None:
        self._redraw_pending = False
        self._redraw_all()

    def _redraw_all(self) -> None:
        state = self.state
        self.query_one(RunHeader).show(state, self.mode, self.source.waiting_text)
        self.query_one(ProgressPanel).show(state)
        self.query_one(EarlyStoppingPanel).show(state)
        self.query_one(MetricsTable).show(state)
        self._draw_charts()

    def _x_range(self) -> tuple[int, int]:
        done = self.state.epochs_done
        planned = self.state.epochs or done
        last = max(planned, done) if self.state.live else max(done, 1)
        return (1, max(last, 1))

    def _draw_charts(self) -> None:
        state = self.state
        x_range = self._x_range()
        best = state.best
        best_epoch = (best or {}).get("epoch")
        best_marker = [Marker(best_epoch, "◆", "yellow")] if best_epoch is not None else []

        def highlight(metric):
            if best is None or best.get("monitor") != metric or best_epoch is None:
                return None
            return (best_epoch, best["value"])

        best_text = f"◆ best {best_epoch}" if best_epoch is not None else ""
        smooth_text = f"smoothed {self.smoothing:g}" if self.smoothing is not None else ""
        losses = [state.series("loss"), state.series("val_loss")]
        nan_text = "✗ NaN" if any(math.isnan(v) for s in losses for _, v in s) else ""
        loss = self.query_one("#loss-chart", LineChart)
        if self.per_step:
            steps = self.step_points()
            loss.title = "loss per step"
            loss.set_data(
                self._smoothed([Series("loss", steps, TRAIN_STYLE)]),
                x_range=(steps[0][0], steps[-1][0]) if steps else None,
                legend=_legend(("━ loss (running mean)", TRAIN_STYLE), (smooth_text, "dim")),
            )
        else:
            loss.title = "loss"
            loss.set_data(
                self._smoothed(
                    [
                        Series("loss", losses[0], TRAIN_STYLE),
                        Series("val_loss", losses[1], VAL_STYLE),
                    ]
                ),
                x_range=x_range,
                markers=best_marker,
                highlight=highlight("val_loss") or highlight("loss"),
                legend=_legend(
                    ("━ loss", TRAIN_STYLE),
                    ("━ val_loss", VAL_STYLE),
                    (best_text, "yellow"),
                    (nan_text, "bold red"),
                    (smooth_text, "dim"),
                ),
            )
        names = state.metric_names
        second = (
            "accuracy"
            if "accuracy" in names or not names
            else next(
                (n for n in names if not n.endswith("loss") and not n.startswith("val_")), None
            )
        )
        chart = self.query_one("#acc-chart", LineChart)
        if second is not None and chart.title != second:
            chart.title = second
        if second is not None:
            chart.set_data(
                self._smoothed(
                    [
                        Series(second, state.series(second), TRAIN_STYLE),
                        Series(f"val_{second}", state.series(f"val_{second}"), VAL_STYLE),
                    ]
                ),
                x_range=x_range,
                markers=best_marker,
                highlight=highlight(f"val_{second}") or highlight(second),
                legend=_legend(
                    (f"━ {second[:3]}", TRAIN_STYLE),
                    (f"━ val_{second[:3]}", VAL_STYLE),
                    (best_text, "yellow"),
                ),
            )
        self._draw_lr(x_range)

    def _draw_lr(self, x_range) -> None:
        state = self.state
        markers, kinds = [], {}
        for change in state.lr_changes:
            letter, words = state.lr_change_label(change)
            epoch = change.get("epoch")
            if isinstance(epoch, int):
                markers.append(
                    Marker(epoch + 0.5, letter, MARKER_STYLES.get(letter, "white"), words)
                )
                kinds[letter] = words
        points = state.series("learning_rate")
        chart = self.query_one("#lr-chart", LineChart)
        finite = [v for _, v in points if v > 0]
        chart.log_scale = bool(finite) and max(finite) / min(finite) > 20
        legend = [
            (f"{letter} {words}", MARKER_STYLES.get(letter, "white"))
            for letter, words in kinds.items()
        ]
        chart.set_data(
            [Series("lr", points, "#87d787")],
            x_range=x_range,
            markers=markers,
            legend=_legend(*legend, (f"now {fmt_lr(state.learning_rate)}", "bold"), sep=" · "),
        )

    # ------------------------------------------------------------------ keys

    def action_stop_run(self) -> None:
        """``s``: stop the run after the current epoch (graceful)."""
        if not self.source.live:
            self.notify(
                "This dashboard only watches the run; stop it where it trains (Ctrl-C there).",
                severity="warning",
            )
            return
        if not self.state.live or self.outcome is not None:
            self.notify("The run has already ended.")
            return
        if self.state.status == "stopping":
            self.notify("Already stopping: the run ends after this epoch.")
            return
        self.request_stop()

    def request_stop(self, *, quit_after: bool = False) -> None:
        """Ask the run to stop after this epoch; with ``quit_after``, exit once it has."""
        self.quit_when_done = self.quit_when_done or quit_after
        if self.outcome is not None:
            if self.quit_when_done:
                self.app.exit(self.outcome)
            return
        first = not self.stop_event.is_set()
        self.stop_event.set()
        if first:
            self.state.request_stop()
            self.query_one(LogPane).add(
                "stop requested: the run ends after this epoch (checkpoint and events are written)",
                "warning",
                tag="stop",
            )
            self.notify("Stopping after this epoch…")
        self._redraw_all()

    # ------------------------------------------------------------------ steps and smoothing

    def _note_step(self, event) -> None:
        """A live batch event's running loss at its global step (``(epoch - 1) * steps +
        step``), for the step curve of a run trained here."""
        epoch, step, steps = event.get("epoch"), event.get("step"), event.get("steps")
        loss = (event.get("metrics") or {}).get("loss")
        ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (epoch, step, steps))
        if ints and isinstance(loss, (int, float)) and not isinstance(loss, bool):
            self.live_steps[(epoch - 1) * steps + step] = float(loss)

    def step_points(self) -> list[tuple[float, float]]:
        """``[(global step, loss), ...]``: the batch events seen here while training in this
        process, else the run's ``steps.jsonl`` (`kerasdl.steps.read_steps`; read again at
        most every `STEPS_REREAD_S` while the run is followed)."""
        if self.live_steps:
            return sorted(self.live_steps.items())
        path = getattr(self.source, "path", None)
        now = time.monotonic()
        stale = self._steps_read_at is None or (
            self.state.live and now - self._steps_read_at >= STEPS_REREAD_S
        )
        if path is not None and stale:
            from kerasdl.steps import STEPS_FILE, read_steps

            self._steps_read_at = now
            try:
                self._file_steps = read_steps(path.parent / STEPS_FILE).curve("loss")
            except OSError:
                self._file_steps = []
        return self._file_steps

    def _smoothed(self, series: list[Series]) -> list[Series]:
        """With smoothing on, each series' raw points faint under its smoothed curve."""
        if self.smoothing is None:
            return series
        from kerasdl.smoothing import ema_points

        faint = [Series(f"{s.name} raw", s.points, f"dim {s.style}") for s in series]
        return faint + [
            Series(s.name, ema_points(s.points, self.smoothing), s.style) for s in series
        ]

    def action_toggle_x(self) -> None:
        """``x``: the loss chart against the epoch, or the global step (the step history)."""
        self.per_step = not self.per_step
        self._draw_charts()

    def action_toggle_smoothing(self) -> None:
        """``z``: smooth the loss and accuracy charts (TensorBoard's EMA), or not."""
        on = self.smoothing is None
        self.smoothing = SMOOTHING_WEIGHTS[self._weight_index] if on else None
        self._draw_charts()

    def action_next_weight(self) -> None:
        """``w``: the next smoothing weight (and smoothing on)."""
        if self.smoothing is not None:
            self._weight_index = (self._weight_index + 1) % len(SMOOTHING_WEIGHTS)
        self.smoothing = SMOOTHING_WEIGHTS[self._weight_index]
        self.notify(f"smoothing weight {self.smoothing:g}")
        self._draw_charts()

    def action_toggle_log(self) -> None:
        """``l``: log scale for the loss chart."""
        chart = self.query_one("#loss-chart", LineChart)
        chart.log_scale = not chart.log_scale

    def on_click(self, event) -> None:
        widget = getattr(event, "widget", None)
        if widget is not None and widget.id == "loss-chart":
            self.action_toggle_log()

    def action_back(self) -> None:
        if self.can_go_back:
            self.stop_event.set()
            self.app.pop_screen()


def _lower_priority(thread_id: int, niceness: int) -> Callable[[], None] | None:
    """Raise thread ``thread_id``'s nice value by ``niceness`` (Linux keeps one per thread), so
    that on a machine whose cores training keeps busy, drawing waits for training rather than
    the other way round; only that thread changes, the caller (training) and the threads it
    starts keep theirs. Returns a function that puts the old value back (which an unprivileged
    process may not be allowed to do; it then stays lower), or None where threads cannot be
    reniced."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        before = os.getpriority(os.PRIO_PROCESS, thread_id)
        os.setpriority(os.PRIO_PROCESS, thread_id, min(19, before + niceness))
    except OSError:
        return None

    def restore() -> None:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, thread_id, before)

    return restore
