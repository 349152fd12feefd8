"""`ProgressPanel`: epoch and batch progress, ETA, samples/s; the outcome once finished; the
latest system metrics (CPU, RSS, GPU) once a ``system`` event came."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from kerasdl.safe_text import inert
from kerasdl.system_metrics import latest_text
from kerasdl_tui.format import fmt_duration, fmt_number, fraction_bar
from kerasdl_tui.state import RunState

__all__ = ["ProgressPanel", "progress_lines", "system_line"]


def _bar_line(label: str, done, total, tail: Text, width: int) -> Text:
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(label, style="bold")
    fraction = done / total if isinstance(done, (int, float)) and total else 0.0
    room = width - len(label) - 8 - min(len(tail.plain), width // 2)
    bar_width = max(8, min(40, room))
    line.append(" ▕", style="dim")
    line.append(fraction_bar(fraction, bar_width), style="green")
    line.append("▏", style="dim")
    line.append(f"{fraction:4.0%} ")
    line.append_text(tail)
    return line


def progress_lines(state: RunState, width: int) -> list[Text]:
    """Two lines: the epoch bar (with the run's ETA) and the batch bar (ETA, samples/s, loss);
    after the run, its duration and test metrics instead of the batch bar. Strings from the
    events (a step that is not a number, a test metric's name) are written inert."""
    epochs = state.epochs
    total = f"{epochs}" if epochs else "?"
    pad = len(total)
    batch = state.batch
    current = batch.get("epoch") if batch else None
    done = state.epochs_done
    epoch_shown = current if isinstance(current, int) else done
    label = f"epoch {epoch_shown if state.started else '-':>{pad}}/{total}"
    if state.live:
        eta = state.run_eta_s
        tail = Text(f"run ETA {fmt_duration(eta)}" if eta is not None else "", style="dim")
    else:
        tail = Text(f"{done} epochs run", style="dim")
    first = _bar_line(label, done, epochs, tail, width)

    if batch is not None:
        step, steps = batch.get("step"), batch.get("steps")
        if isinstance(step, int) and isinstance(steps, int):
            step = min(step, steps)  # Keras may count a last, partial execution as whole
        steps_text = inert(steps) if steps else "?"
        step_text = inert(step) if step is not None else "?"
        label = f"batch {step_text:>{len(steps_text)}}/{steps_text}"
        label = label.rjust(len(first.plain.split(" ▕")[0]))
        tail = Text(style="dim")
        eta = batch.get("eta_s")
        tail.append(f"ETA {fmt_duration(max(0.0, eta) if eta is not None else None)}")
        loss = (batch.get("metrics") or {}).get("loss")
        if loss is not None:
            tail.append(f" · loss {fmt_number(loss)}")
        if batch.get("samples_per_s"):
            tail.append(f" · {batch['samples_per_s']:,.0f} samples/s")
        return [first, _bar_line(label, step, steps, tail, width)]

    second = Text(no_wrap=True, overflow="ellipsis")
    if state.finished is not None:
        finished = state.finished
        second.append(f"done in {fmt_duration(finished.get('duration_s'))}", style="bold")
        test = finished.get("test") or {}
        if test:
            second.append(" · test ")
            parts = [f"{inert(name)} {fmt_number(value)}" for name, value in test.items()]
            second.append(" ".join(parts), style="bold green")
        else:
            second.append(" · test set not evaluated", style="dim")
    elif state.last_epoch is not None:
        last = state.last_epoch
        second.append(f"epoch {last.get('epoch')} took {fmt_duration(last.get('epoch_seconds'))}")
        if last.get("samples_per_s"):
            second.append(f" · {last['samples_per_s']:,.0f} samples/s", style="dim")
        if state.live:
            second.append(" · next epoch starting", style="dim")
    else:
        second.append("waiting for the first batch", style="dim italic")
    return [first, second]


def system_line(state: RunState) -> Text | None:
    """The latest ``system`` event in a line (``system  CPU 104% · RSS 786 MiB · machine
    98%``), or None before one (`kerasdl.system_metrics.latest_text`: numbers only)."""
    text = latest_text(state)
    if text is None:
        return None
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append("system ", style="bold")
    line.append(text, style="dim")
    return line


class ProgressPanel(Widget):
    """Two lines of progress under the header (see `progress_lines`), and a third with the
    latest system metrics once the run has sent one (`system_line`)."""

    DEFAULT_CSS = """
    ProgressPanel {
        height: 2;
        padding: 0 1;
    }
    ProgressPanel.-system {
        height: 3;
    }
    """

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.state = RunState()

    def show(self, state: RunState) -> None:
        self.state = state
        self.set_class(bool(state.system_samples), "-system")
        self.refresh()

    def render(self) -> Text:
        width = self.size.width
        lines = progress_lines(self.state, width)
        system = system_line(self.state)
        if system is not None:  # a third row: a long line must not wrap onto it
            for line in lines:
                line.truncate(width, overflow="ellipsis")
            lines.append(system)
        return Text("\n", no_wrap=True, overflow="ellipsis").join(lines)
