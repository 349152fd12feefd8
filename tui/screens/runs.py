"""`RunsScreen`: the runs browser: every run of a runs directory, and their curves overlaid."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from kerasdl.safe_text import inert, markup_escape
from kerasdl_tui.format import fmt_lr, fmt_number
from kerasdl_tui.sources import FileSource
from kerasdl_tui.widgets.line_chart import LineChart, Series
from kerasdl_tui.widgets.runs_table import RunsTable

__all__ = ["OVERLAY_METRICS", "PALETTE", "RunsScreen"]

PALETTE = ("#5fafff", "#ffaf5f", "#87d787", "#d787d7", "#ff5f5f", "#d7d75f", "#5fd7d7", "#ffffff")
OVERLAY_METRICS = ("val_loss", "loss", "val_accuracy", "accuracy", "learning_rate")


class RunsScreen(Screen):
    """The runs of ``runs_dir``: state, epochs, best value and epoch, final validation
    accuracy, test accuracy, duration. Select runs (``space`` or a click on the highlighted
    row) to overlay their curves below; ``m`` changes the metric; ``enter`` opens a run.

    Args:
        runs_dir: The runs directory.
        clock: Passed to the run screens it opens. Defaults to the app's clock.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "next_metric", "Metric"),
        Binding("r", "reload", "Reload"),
        Binding("l", "toggle_log", "Log scale"),
    ]

    DEFAULT_CSS = """
    RunsScreen #runs-title {
        height: 1;
        padding: 0 1;
        background: $panel;
    }
    RunsScreen #runs {
        height: auto;
        max-height: 45%;
    }
    RunsScreen #overlay {
        height: 1fr;
        min-height: 7;
    }
    """

    def __init__(self, runs_dir, *, clock=None):
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.clock = clock
        self.runs: list = []
        self.selected: dict[str, str] = {}
        self.metric = OVERLAY_METRICS[0]
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static(id="runs-title")
        yield RunsTable(id="runs")
        yield LineChart("overlay", id="overlay", empty_text="select runs (space) to overlay them")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(RunsTable).focus()
        self._title()
        self.action_reload()

    def on_screen_resume(self) -> None:
        if self.loaded:
            self.action_reload()

    # ------------------------------------------------------------------ loading

    def action_reload(self) -> None:
        """``r``: read the runs directory again (in a thread: many runs take a moment)."""
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs")
    def _load(self) -> None:
        from kerasdl.runs import list_runs

        try:
            runs = list_runs(self.runs_dir)
        except Exception as error:  # shown, not swallowed
            # Textual reads a notification as markup; the error may name a run's files.
            message = markup_escape(f"{type(error).__name__}: {error}")
            self.app.call_from_thread(self.notify, message, severity="error")
            return
        self.app.call_from_thread(self._show_runs, runs)

    def _show_runs(self, runs: list) -> None:
        self.runs = list(reversed(runs))  # newest first
        ids = {run.run_id for run in self.runs}
        self.selected = {run_id: c for run_id, c in self.selected.items() if run_id in ids}
        self.query_one(RunsTable).show(self.runs, self.selected)
        self.loaded = True
        self._title()
        self._draw_overlay()

    # ------------------------------------------------------------------ selection

    def on_resize(self) -> None:
        if self.loaded:
            self._draw_overlay()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.toggle(str(event.row_key.value))

    def toggle(self, run_id: str) -> None:
        """Add a run to the overlay, or take it out."""
        if run_id in self.selected:
            del self.selected[run_id]
        else:
            used = set(self.selected.values())
            free = [c for c in PALETTE if c not in used] or list(PALETTE)
            self.selected[run_id] = free[0]
        self.query_one(RunsTable).mark(run_id, self.selected.get(run_id))
        self._title()
        self._draw_overlay()

    def action_open_run(self) -> None:
        """``enter``: show the highlighted run (replayed, or followed while it runs)."""
        table = self.query_one(RunsTable)
        if not table.row_count:
            return
        run = self.runs[table.cursor_row]
        from kerasdl_tui.screens.run import RunScreen

        clock = self.clock or getattr(self.app, "clock", None)
        kwargs = {"clock": clock} if clock is not None else {}
        self.app.push_screen(RunScreen(FileSource(run.path), can_go_back=True, **kwargs))

    def action_next_metric(self) -> None:
        """``m``: overlay the next metric (val_loss, loss, val_accuracy, accuracy, lr)."""
        available = self._metrics()
        order = [m for m in OVERLAY_METRICS if m in available] or list(OVERLAY_METRICS)
        index = order.index(self.metric) if self.metric in order else -1
        self.metric = order[(index + 1) % len(order)]
        self._draw_overlay()

    def action_toggle_log(self) -> None:
        chart = self.query_one("#overlay", LineChart)
        chart.log_scale = not chart.log_scale

    # ------------------------------------------------------------------ drawing

    def _metrics(self) -> set[str]:
        names = {"learning_rate"}
        for run in self.runs:
            if run.run_id in self.selected:
                names.update(run.metric_names)
        return names

    def _title(self) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.loaded and not self.runs:
            text.append("no runs yet in ", style="yellow")
            text.append(inert(self.runs_dir), style="bold")
            self.query_one("#runs-title", Static).update(text)
            return
        text.append("runs in ", style="dim")
        text.append(inert(self.runs_dir), style="bold")
        if not self.loaded:
            text.append("  loading…", style="dim italic")
        else:
            text.append(f"  {len(self.runs)} runs", style="bold")
            text.append(f" · {len(self.selected)} selected", style="dim")
            text.append(" · space select · enter open · m metric", style="dim")
        self.query_one("#runs-title", Static).update(text)

    def _draw_overlay(self) -> None:
        chart = self.query_one("#overlay", LineChart)
        chart.y_format = fmt_lr if self.metric == "learning_rate" else fmt_number
        series, longest = [], 1
        chosen = [run for run in self.runs if run.run_id in self.selected]
        room = max(10, chart.size.width - 4)
        # A run's id is its directory's name: shared data, written inert.
        names = {run.run_id: inert(run.run_id) for run in chosen}
        full = sum(len(names[run.run_id]) + 3 for run in chosen) <= room
        legend = Text()
        for run in chosen:
            colour = self.selected[run.run_id]
            points = run.curve(self.metric)
            series.append(Series(names[run.run_id], points, colour))
            longest = max([longest, *(e for e, _ in points)])
            if legend:
                legend.append(" ")
            name = names[run.run_id]
            legend.append(f"━ {name if full else name[-6:]}", style=colour)
        chart.title = f"overlay: {self.metric}"
        chart.empty_text = (
            "select runs (space) to overlay them"
            if self.runs
            else "no runs yet: train one with kerasdl train"
        )
        chart.set_data(series, x_range=(1, longest), legend=legend)
