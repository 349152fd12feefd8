"""`RunHeader`: who the run is and where it stands, in two lines."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from kerasdl.safe_text import inert
from kerasdl_tui.format import fmt_clock, fmt_lr
from kerasdl_tui.state import STATUS_STYLES, RunState

__all__ = ["RunHeader", "header_lines"]


def _count(n: int) -> str:
    """``235146`` -> ``235.1k``; ``1234567`` -> ``1.23M``."""
    if n >= 1_000_000:
        return f"{n / 1e6:.2f}M"
    if n >= 10_000:
        return f"{n / 1e3:.1f}k"
    return f"{n:,}"


def header_lines(state: RunState, now: float, mode: str, waiting_text: str = "") -> list[Text]:
    """The header's two lines.

    Line 1: the state, the run id, the elapsed time, and how the run is shown (``training``
    in this process, ``following`` a file another process writes, ``replay`` of a finished
    run). Line 2: dataset and source, parameters, optimizer and learning rate, backend and
    devices. Every string from the run's events (and the file's path) is written inert
    (`kerasdl.safe_text`): run directories are shared, and may hold terminal controls.
    """
    first = Text(no_wrap=True, overflow="ellipsis")
    status_style = f"reverse {STATUS_STYLES.get(state.status, '')}"
    first.append(f" {inert(state.status_label)} ", style=status_style)
    first.append("  run ", style="dim")
    first.append(inert(state.run_id or "-"), style="bold")
    first.append("  elapsed ", style="dim")
    first.append(fmt_clock(state.elapsed(now)), style="bold")
    first.append(f"  {mode}", style="italic dim")
    started = state.started or {}
    if started.get("resumed_from") is not None:
        first.append(inert(f" · resumed after epoch {started['resumed_from']}"), style="cyan")

    second = Text(no_wrap=True, overflow="ellipsis")
    if not started:
        second.append(inert(waiting_text or "waiting for run_started"), style="dim italic")
        return [first, second]
    data = started.get("dataset") or {}
    second.append(inert(data.get("name", "?")), style="bold")
    if data.get("source"):
        second.append(f" ({inert(data['source'])})", style="dim")
    if isinstance(started.get("params"), int):
        second.append(" · ", style="dim")
        second.append(f"{_count(started['params'])} params")
    optimizer = started.get("optimizer") or {}
    if optimizer:
        second.append(" · ", style="dim")
        second.append(f"{inert(optimizer.get('name', '?'))} lr {fmt_lr(state.learning_rate)}")
    backend = started.get("backend")
    if backend:
        devices = started.get("devices") or []
        if not isinstance(devices, list):
            devices = [devices]
        second.append(" · ", style="dim")
        second.append(f"{inert(backend)} on {', '.join(map(inert, devices)) or '?'}")
    return [first, second]


class RunHeader(Widget):
    """The top two lines of the run screen (see `header_lines`)."""

    DEFAULT_CSS = """
    RunHeader {
        height: 2;
        background: $panel;
        padding: 0 1;
    }
    """

    def __init__(self, clock, *, id: str | None = None):
        super().__init__(id=id)
        self._clock = clock
        self.state = RunState()
        self.mode = ""
        self.waiting_text = ""

    def show(self, state: RunState, mode: str, waiting_text: str = "") -> None:
        self.state, self.mode, self.waiting_text = state, mode, waiting_text
        self.refresh()

    def render(self) -> Text:
        lines = header_lines(self.state, self._clock(), self.mode, self.waiting_text)
        return Text("\n", no_wrap=True, overflow="ellipsis").join(lines)
