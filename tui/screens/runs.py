"""`RunsScreen`: the runs browser: every run of a runs directory, and their curves overlaid."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from kerasdl.safe_text import inert, markup_escape
from kerasdl_tui.format import fmt_lr, fmt_number
from kerasdl_tui.sources import FileSource
from kerasdl_tui.widgets.line_chart import LineChart, Series
from kerasdl_tui.widgets.runs_table import RunsTable

__all__ = ["OVERLAY_METRICS", "PALETTE", "RunsScreen"]

PALETTE = ("#5fafff", "#ffaf5f", "#87d787", "#d787d7", "#ff5f5f", "#d7d75f", "#5fd7d7", "#ffffff")
OVERLAY_METRICS = ("val_loss", "loss", "val_accuracy", "accuracy", "learning_rate")
FILTER_HINT = "filter: text, tag:T, status:S, key=value (enter: done, escape: clear)"


class RunsScreen(Screen):
    """The runs of ``runs_dir``: state, epochs, best value and epoch, final validation
    accuracy, test accuracy, duration, and (where they fit) the tags and the settings that
    differ between the runs shown. Select runs (``space`` or a click on the highlighted
    row) to overlay their curves below; ``m`` changes the metric; ``enter`` opens a run;
    ``/`` filters the runs (`kerasdl.run_meta.matches`: text, ``tag:T``, ``status:S``,
    ``KEY=VALUE``); ``o`` sorts by the next key (newest first, name, best, the final
    val_accuracy, the test accuracy, each setting that differs), ``O`` the other way.

    Args:
        runs_dir: The runs directory.
        clock: Passed to the run screens it opens. Defaults to the app's clock.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "next_metric", "Metric"),
        Binding("r", "reload", "Reload"),
        Binding("l", "toggle_log", "Log scale"),
        Binding("slash", "filter", "Filter", show=False),
        Binding("o", "next_sort", "Sort", show=False),
        Binding("O", "reverse_sort", "Reverse sort", show=False),
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
    RunsScreen #runs-filter {
        height: 1;
        border: none;
        padding: 0 1;
        display: none;
    }
    RunsScreen #runs-filter.shown {
        display: block;
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
        self.all_runs: list = []  # newest first, before the filter
        self.metas: dict = {}  # run id -> kerasdl.run_meta.Meta
        self.flats: dict[str, dict] = {}  # run id -> kerasdl.hparams.settings
        self.filter_text = ""
        self.sort_key: str | None = None  # None: newest first
        self.sort_reverse = False

    def compose(self) -> ComposeResult:
        yield Static(id="runs-title")
        yield Input(placeholder=FILTER_HINT, id="runs-filter")
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
        from kerasdl import hparams, run_meta
        from kerasdl.runs import list_runs

        try:
            runs = list_runs(self.runs_dir)
            metas = {run.run_id: run_meta.read_meta(run.path) for run in runs}  # never raises
            flats = {run.run_id: hparams.settings(run) for run in runs}
        except Exception as error:  # shown, not swallowed
            # Textual reads a notification as markup; the error may name a run's files.
            message = markup_escape(f"{type(error).__name__}: {error}")
            self.app.call_from_thread(self.notify, message, severity="error")
            return
        self.app.call_from_thread(self._show_runs, runs, metas, flats)

    def _show_runs(self, runs: list, metas: dict | None = None, flats: dict | None = None) -> None:
        self.all_runs = list(reversed(runs))  # newest first
        self.metas, self.flats = metas or {}, flats or {}
        self.loaded = True
        self._apply()

    def _apply(self) -> None:
        """Show the runs the filter keeps, in the chosen order, with the settings that differ
        between them."""
        from kerasdl import hparams, run_meta, runs

        shown = self.all_runs
        if self.filter_text.strip():
            shown = [
                run
                for run in shown
                if run_meta.matches(run, self.metas.get(run.run_id) or run_meta.Meta(),
                                    self.filter_text)
            ]  # fmt: skip
        if self.sort_key is not None:
            try:
                shown = run_meta.sort_runs(shown, self.sort_key, reverse=self.sort_reverse)
            except runs.RunError:  # no run shown has it (any more)
                self.sort_key = None
        elif self.sort_reverse:
            shown = list(reversed(shown))
        self.runs = shown
        ids = {run.run_id for run in self.runs}
        self.selected = {run_id: c for run_id, c in self.selected.items() if run_id in ids}
        keys = hparams.differing([self.flats.get(run_id, {}) for run_id in ids])
        self.query_one(RunsTable).show(
            self.runs,
            self.selected,
            tags={run_id: meta.tags for run_id, meta in self.metas.items()},
            settings=self.flats,
            setting_keys=keys,
        )
        self._title()
        self._draw_overlay()

    # ------------------------------------------------------------------ filter and sort

    def action_filter(self) -> None:
        """``/``: show the filter line and type in it (``enter`` back to the table, ``escape``
        clears it)."""
        box = self.query_one("#runs-filter", Input)
        box.add_class("shown")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "runs-filter":
            self.filter_text = event.value
            self._apply()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "runs-filter":
            if not event.value.strip():
                event.input.remove_class("shown")
            self.query_one(RunsTable).focus()

    def on_key(self, event) -> None:
        box = self.query_one("#runs-filter", Input)
        if event.key == "escape" and box.has_focus:
            event.stop()
            box.value = ""
            box.remove_class("shown")
            self.query_one(RunsTable).focus()

    def sort_keys(self) -> list[str | None]:
        """What ``o`` goes through: newest first (None), name, best, the final val_accuracy,
        the test accuracy (those some run shown has), then each setting that differs."""
        from kerasdl import hparams, run_meta, runs

        keys: list[str | None] = [None]
        for key in ("name", "best", "val_accuracy", "test_accuracy"):
            try:
                run_meta.sort_value_of(self.runs, key)
            except runs.RunError:
                continue
            keys.append(key)
        ids = [run.run_id for run in self.runs]
        keys += hparams.differing([self.flats.get(run_id, {}) for run_id in ids])
        return keys

    def action_next_sort(self) -> None:
        """``o``: sort by the next key (`sort_keys`)."""
        keys = self.sort_keys()
        index = keys.index(self.sort_key) if self.sort_key in keys else 0
        self.sort_key = keys[(index + 1) % len(keys)]
        self._apply()

    def action_reverse_sort(self) -> None:
        """``O``: sort the other way."""
        self.sort_reverse = not self.sort_reverse
        self._apply()

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
            if len(self.runs) != len(self.all_runs):
                text.append(f" of {len(self.all_runs)}", style="bold")
            text.append(f" · {len(self.selected)} selected", style="dim")
            if self.sort_key is not None or self.sort_reverse:
                arrow = "↓" if self.sort_reverse else "↑"
                text.append(f" · sort {inert(self.sort_key or 'started')} {arrow}", style="bold")
            text.append(" · space select · enter open · m metric · / filter · o sort", style="dim")
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
