"""The plain view of a run: a Rich progress bar per epoch and one line per epoch.

`PlainView` is an event sink (``view(event)`` for every event of ``kerasdl.events``): the runner
calls it in-process, and it could as well be fed from ``kerasdl.events.follow``. It never touches
a model. In a terminal each epoch shows a progress bar (batches, samples/s, ETA, loss) that is
replaced by the epoch's line when the epoch ends; when stdout is not a terminal (a log file, a pipe)
only the lines are written, without control codes.

    run 20250101-120000-ab12cd | mnist-mini (bundled mnist-mini) | 5,400 train, 600 val, ...
    epoch  1/20  loss 0.5123 acc 0.8412 val_loss 0.2231 val_acc 0.9312  lr 0.001  best ...
    ...
    Stopped early after epoch 12: val_loss did not improve for 5 epochs (patience 5).
    Best val_loss 0.0612 at epoch 7 (weights restored).
    Test accuracy 0.9815 (loss 0.0623)
    Run directory: runs/20250101-120000-ab12cd

With ``live=False`` (``--ui none``) only the final lines are printed.
"""

import math
import threading
from pathlib import Path

from rich.console import Console
from rich.text import Text

from kerasdl.cli.console import safe_console
from kerasdl.events.record import RunRecord
from kerasdl.events.schema import Event, from_dict

# Metric keys shown first on an epoch line, in this order; any other numeric metric follows.
_METRIC_ORDER = ("loss", "accuracy", "val_loss", "val_accuracy")


def titled_table(title: str):
    """The commands' results table: a left-aligned title, a rule under the header, no edge."""
    from rich import box
    from rich.table import Table

    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)


def fmt_number(value) -> str:
    """A metric value in a fixed, short form: 4 decimals, scientific when tiny or huge."""
    if value is None:
        return "-"
    if isinstance(value, str):  # "NaN", "Infinity" as written in events.jsonl
        return value.lower() if value == "NaN" else value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, float):  # a later schema's dict or list metric: shown short
        return _short(value)
    if not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if value != 0 and (abs(value) >= 1e4 or abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4f}"


def _short(value, width: int = 40) -> str:
    import json

    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def fmt_lr(value) -> str:
    """A learning rate: three significant digits (0.001, 0.0005, 1.5e-05)."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _short(value)
    return f"{value:.3g}"


def fmt_duration(seconds) -> str:
    """``42.1 s``, ``3m 05s`` or ``1h 02m``."""
    if seconds is None:
        return "-"
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return _short(seconds)
    seconds = float(seconds)
    if not math.isfinite(seconds):
        return fmt_number(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def field_lines(rows: list[tuple[str, object]]) -> list[Text]:
    """``key   value`` lines, keys padded to one width, a multi-line value indented under itself.

    (A Rich grid would pad every line to the full width with spaces; these lines end where
    their text ends, which reads better in a log file.)
    """
    width = max((len(key) for key, _ in rows), default=0) + 2
    lines = []
    for key, value in rows:
        value = value if isinstance(value, Text) else Text(str(value))
        for i, part in enumerate(value.split("\n") or [Text("")]):
            line = Text(f"{key:<{width}}" if i == 0 else " " * width, style="bold")
            line.append_text(part)
            lines.append(line)
    return lines


def short_name(metric: str) -> str:
    """``accuracy`` -> ``acc``, ``val_accuracy`` -> ``val_acc`` (epoch lines stay short)."""
    return metric[: -len("accuracy")] + "acc" if metric.endswith("accuracy") else metric


def ordered_metrics(metrics: dict) -> list[tuple[str, object]]:
    """The metrics of an event, the usual ones first, then the rest in their own order."""
    metrics = metrics or {}
    keys = [k for k in _METRIC_ORDER if k in metrics]
    keys += [k for k in metrics if k not in _METRIC_ORDER]
    return [(k, metrics[k]) for k in keys]


def early_stopping_text(status: dict | None) -> Text | None:
    """``best val_loss 0.1987 @ 3, wait 1/5`` from an ``epoch_ended``'s early_stopping."""
    if not status:
        return None
    text = Text()
    monitor = status.get("monitor", "?")
    if status.get("best") is None:
        text.append(f"best {monitor} -")
    else:
        text.append(f"best {monitor} {fmt_number(status['best'])} @ {status.get('best_epoch')}")
    wait, patience = status.get("wait", 0), status.get("patience", "?")
    style = "red" if status.get("stopped") else ("yellow" if wait else "green")
    text.append(", ")
    text.append(f"wait {wait}/{patience}", style=style)
    if status.get("stopped"):
        text.append(" stopping", style="bold red")
    return text


def plateau_text(status: dict | None) -> Text | None:
    """``plateau wait 2/10`` (and the cooldown) from an ``epoch_ended``'s plateau."""
    if not status:
        return None
    text = Text(f"plateau wait {status.get('wait', 0)}/{status.get('patience', '?')}")
    if status.get("cooldown_left"):
        text.append(f", cooldown {status['cooldown_left']}")
    return text


def epoch_line(event: dict) -> Text:
    """The line printed for an ``epoch_ended`` event."""
    epochs = event.get("epochs")
    width = len(str(epochs)) if epochs else 1
    epoch = event.get("epoch")
    epoch = "?" if epoch is None else epoch
    line = Text(f"epoch {epoch!s:>{width}}/{epochs or '?'}", style="bold")
    metrics = ordered_metrics(event.get("metrics"))
    parts = [
        Text(" ".join(f"{short_name(k)} {fmt_number(v)}" for k, v in metrics)),
        Text(f"lr {fmt_lr(event.get('learning_rate'))}"),
    ]
    for extra in (
        early_stopping_text(event.get("early_stopping")),
        plateau_text(event.get("plateau")),
    ):
        if extra is not None:
            parts.append(extra)
    if event.get("checkpoint_saved"):
        parts.append(Text("saved", style="cyan"))
    parts.append(Text(fmt_duration(event.get("epoch_seconds")), style="dim"))
    for part in parts:
        line.append("  ")
        line.append_text(part)
    return line


def plural(n, word: str) -> str:
    """``1 epoch``, ``2 epochs``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def reason_line(finished: dict, last_epoch: dict | None = None) -> Text:
    """Why the run ended, from ``run_finished`` (and the last ``epoch_ended`` for detail)."""
    status = finished.get("status")
    epochs_run = finished.get("epochs_run")
    last = (last_epoch or {}).get("epoch", epochs_run)
    error = finished.get("error")
    detail = f" ({error})" if error else ""
    if status == "completed":
        total = (last_epoch or {}).get("epochs", epochs_run)
        return Text(f"Completed: {epochs_run} of {plural(total, 'epoch')} ran.", style="bold green")
    if status == "early_stopped":
        stopper = (last_epoch or {}).get("early_stopping") or {}
        monitor = stopper.get("monitor") or (finished.get("best") or {}).get("monitor", "?")
        if stopper.get("patience") is not None:
            wait = stopper.get("wait", stopper["patience"])
            why = (
                f"{monitor} did not improve for {plural(wait, 'epoch')} "
                f"(patience {stopper['patience']})"
            )
        else:
            why = f"{monitor} stopped improving"
        return Text(f"Stopped early after epoch {last}: {why}.", style="bold yellow")
    if status == "stopped":
        return Text(f"Stopped on request after epoch {last}.", style="bold yellow")
    if status == "nan":
        return Text(f"Stopped in epoch {last}: the loss became NaN{detail}.", style="bold red")
    if status == "interrupted":
        done = plural(epochs_run if epochs_run is not None else "?", "epoch")
        return Text(f"Interrupted with {done} complete{detail}.", style="bold red")
    if status == "failed":
        return Text(f"Failed: {error or 'unknown error'}", style="bold red")
    return Text(f"Finished with status {status!r}.")


def final_lines(
    finished: dict, last_epoch: dict | None = None, run_dir=None, *, restored: bool = False
) -> list[Text]:
    """The closing lines: the reason, the best epoch, the test metrics, the run directory.

    ``restored``: whether the best epoch's weights were put back before the test
    (`kerasdl.events.record.RunRecord.best_restored`, the one rule).
    """
    lines = [reason_line(finished, last_epoch)]
    best = finished.get("best") or {}
    if best.get("value") is not None:
        lines.append(
            Text(
                f"Best {best.get('monitor', '?')} {fmt_number(best['value'])} at epoch "
                f"{finished.get('best_epoch')}" + (" (weights restored)." if restored else ".")
            )
        )
    test = finished.get("test")
    if test:
        if "accuracy" in test:
            others = " ".join(f"{k} {fmt_number(v)}" for k, v in test.items() if k != "accuracy")
            text = Text("Test accuracy ", style="bold")
            text.append(fmt_number(test["accuracy"]), style="bold green")
            if others:
                text.append(f" ({others})")
        else:
            text = Text("Test ", style="bold")
            text.append(" ".join(f"{k} {fmt_number(v)}" for k, v in test.items()))
        lines.append(text)
    else:
        lines.append(Text("Test set not evaluated.", style="dim"))
    tail = f"Run directory: {run_dir}" if run_dir is not None else "Run directory: -"
    if finished.get("duration_s") is not None:
        tail += f" ({fmt_duration(finished['duration_s'])})"
    lines.append(Text(tail))
    return lines


def _notice_text(event: dict) -> Text:
    level = event.get("level", "info")
    style = {"warning": "yellow", "error": "bold red"}.get(level, "cyan")
    text = Text(f"[{level}] ", style=style)
    text.append(str(event.get("message", "")))
    return text


class PlainView:
    """An event sink that prints a run: progress bar, epoch lines, notices, final lines.

    Args:
        console: where to print (default: a Rich console on stdout).
        live: False prints only the final lines (``--ui none``).
        run_dir: the run directory to name at the end (default: ``runs_dir/run_id`` from the
            ``run_started`` event's config).

    Example:
        view = PlainView()
        kerasdl.runner.train(config, sinks=[view])
    """

    def __init__(self, console: Console | None = None, *, live: bool = True, run_dir=None):
        self.console = console or safe_console(highlight=False, soft_wrap=True)
        self.live = live
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.run_id: str | None = None
        self.epochs: int | None = None
        self.record = RunRecord()  # the run so far: its rules are the record's
        self._progress = None  # a rich.progress.Progress while an epoch runs in a terminal
        self._task = None
        self._progress_epoch = None
        self._notices: set[str] = set()  # messages printed, so a repeated one is not
        self._lock = threading.RLock()

    @property
    def started(self):
        """The latest ``run_started`` event (checked), or None."""
        return self.record.started

    @property
    def last_epoch(self):
        """The ``epoch_ended`` event of the highest epoch so far, or None."""
        return self.record.last_epoch

    @property
    def finished(self):
        """The ``run_finished`` event, or None."""
        return self.record.finished

    def __call__(self, event: dict) -> None:
        event = event if isinstance(event, Event) else from_dict(event)
        handler = getattr(self, "_on_" + str(event.type), None)
        with self._lock:
            self.record.apply(event)
            if handler is not None:  # an event type this view does not know: only recorded
                handler(event)

    def close(self) -> None:
        """Take the progress bar off the screen (on an interrupt, before printing after it)."""
        with self._lock:
            self._stop_progress()

    # --- events -------------------------------------------------------------------------------

    def _on_run_started(self, event: dict) -> None:
        self.run_id = event.get("run_id")
        self.epochs = event.get("epochs")
        if self.run_dir is None and self.run_id:
            # The config's runs_dir, or a Track run's (kerasdl.callbacks.Track: no config).
            runs_dir = (event.get("config") or event.get("fit") or {}).get("runs_dir")
            self.run_dir = Path(runs_dir if isinstance(runs_dir, str) else "runs") / self.run_id
        if not self.live:
            return
        data = event.get("dataset") or {}
        counts = ", ".join(
            f"{data[k]:,} {k[2:]}"
            for k in ("n_train", "n_val", "n_test")
            if data.get(k) is not None
        )
        head = Text("run ", style="bold")
        head.append(str(self.run_id), style="bold cyan")
        head.append(f" | {data.get('name', '?')} ({data.get('source', '?')})")
        if counts:
            head.append(f" | {counts}")
        if event.get("params") is not None:
            head.append(f" | {event['params']:,} params")
        self.console.print(head)
        optimizer = event.get("optimizer") or {}
        devices = ", ".join(event.get("devices") or []) or "?"
        line = Text(
            f"{optimizer.get('name', '?')} lr {fmt_lr(optimizer.get('learning_rate'))}"
            f" | {plural(self.epochs, 'epoch')} x {event.get('steps_per_epoch', '?')} steps of "
            f"{event.get('batch_size', '?')} | {event.get('backend', '?')} on {devices}",
            style="dim",
        )
        self.console.print(line)
        if event.get("resumed_from") is not None:
            self.console.print(Text(f"resumed after epoch {event['resumed_from']}", style="cyan"))
        if data.get("notice"):  # the runner may also send it as a notice event: print it once
            self._notices.add(str(data["notice"]))
            self.console.print(_notice_text({"level": "warning", "message": data["notice"]}))

    def _on_batch(self, event: dict) -> None:
        if not self.live or not self.console.is_terminal:
            return
        epoch = event.get("epoch")
        if self._progress is None or self._progress_epoch != epoch:
            self._stop_progress()
            self._start_progress(epoch, event.get("steps"))
        metrics = event.get("metrics") or {}
        eta = event.get("eta_s")
        self._progress.update(
            self._task,
            completed=event.get("step", 0),
            total=event.get("steps"),
            rate=f"{event.get('samples_per_s') or 0:,.0f} samples/s",
            eta=f"ETA {fmt_duration(eta)}" if eta is not None else "",
            loss=f"loss {fmt_number(metrics['loss'])}" if "loss" in metrics else "",
        )

    def _on_epoch_ended(self, event: dict) -> None:
        self._stop_progress()
        if self.live:
            self.console.print(epoch_line(event))

    def _on_lr_changed(self, event: dict) -> None:
        if self.live:
            self.console.print(
                Text(
                    f"  lr {fmt_lr(event.get('old'))} -> {fmt_lr(event.get('new'))} "
                    f"after epoch {event.get('epoch')} ({event.get('reason', '?')})",
                    style="magenta",
                )
            )

    def _on_notice(self, event: dict) -> None:
        message = str(event.get("message", ""))
        if message in self._notices:
            return
        self._notices.add(message)
        if self.live:
            self._stop_progress()
            self.console.print(_notice_text(event))

    def _on_run_finished(self, event: dict) -> None:
        self._stop_progress()
        restored = self.record.best_restored
        for line in final_lines(event, self.last_epoch, self.run_dir, restored=restored):
            self.console.print(line)

    # --- progress bar -------------------------------------------------------------------------

    def _start_progress(self, epoch, steps) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        width = len(str(self.epochs)) if self.epochs else 1
        epoch = "?" if epoch is None else epoch
        self._progress = Progress(
            TextColumn(f"epoch {epoch!s:>{width}}/{self.epochs or '?'}", style="bold"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[eta]}"),
            TextColumn("{task.fields[loss]}"),
            console=self.console,
            transient=True,
        )
        self._task = self._progress.add_task("", total=steps, rate="", eta="", loss="")
        self._progress_epoch = epoch
        self._progress.start()

    def _stop_progress(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._task = None
            self._progress_epoch = None
