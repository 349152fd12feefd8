"""`RunsTable`: the runs of a runs directory, one per row, with their state and best metrics."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from kerasdl.safe_text import inert
from kerasdl_tui.format import fmt_duration, fmt_number
from kerasdl_tui.state import STATUS_LABELS, STATUS_STYLES

__all__ = ["RunsTable", "runs_columns"]

# (key, label, width without padding); "time" only shows where it fits.
_COLUMNS = (
    ("run", "run", 24),
    ("state", "state", 13),
    ("epochs", "epochs", 6),
    ("best", "best", 10),
    ("val_acc", "val_acc", 7),
    ("test", "test", 6),
    ("time", "time", 6),
)


def runs_columns(width: int) -> list[str]:
    """The column keys that fit in ``width`` cells: all but ``time`` always, ``time`` too
    where there is room."""
    keys = [key for key, _, _ in _COLUMNS]
    needed = sum(w + 2 for _, _, w in _COLUMNS) + 2
    return keys if width >= needed else keys[:-1]


class RunsTable(DataTable):
    """The runs browser's table. ``enter`` opens the highlighted run; ``space`` (or a click on
    the highlighted row) selects it for the overlay, shown by a ``●`` in its colour."""

    DEFAULT_CSS = """
    RunsTable {
        height: 1fr;
        min-height: 4;
        border: round $primary 40%;
        border-title-style: bold;
        scrollbar-size-horizontal: 0;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "screen.open_run", "Open", show=True),
        Binding("space", "select_cursor", "Select", show=True),
    ]

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.border_title = "runs"
        self.runs: list = []
        self.selected: dict[str, str] = {}
        self._columns: list[str] = []

    def on_resize(self) -> None:
        if runs_columns(self.size.width) != self._columns:
            self.show(self.runs, self.selected)

    def show(self, runs: list, selected: dict[str, str]) -> None:
        """Fill the table with ``runs`` (`kerasdl.runs.RunInfo`); ``selected`` maps the
        selected run ids to their overlay colours."""
        cursor = self.cursor_row
        self.runs, self.selected = list(runs), selected
        columns = runs_columns(self.size.width or 80)
        if columns != self._columns:
            self.clear(columns=True)
            self._columns = columns
            labels = {key: label for key, label, _ in _COLUMNS}
            for key in columns:
                self.add_column(labels[key], key=key)
        else:
            self.clear()
        for run in self.runs:
            self.add_row(*self._cells(run, selected.get(run.run_id)), key=run.run_id)
        if self.row_count:
            self.move_cursor(row=min(max(cursor, 0), self.row_count - 1))

    def mark(self, run_id: str, colour: str | None) -> None:
        """Show or clear the selection mark of one run."""
        run = next(r for r in self.runs if r.run_id == run_id)
        self.update_cell(run_id, "run", self._run_cell(run, colour))

    @staticmethod
    def _run_cell(run, colour: str | None) -> Text:
        cell = Text()
        cell.append("● " if colour else "  ", style=colour or "")
        cell.append(inert(run.run_id), style="bold")
        return cell

    def _cells(self, run, colour: str | None) -> tuple:
        best = run.best or {}
        best_text = "-"
        if best.get("value") is not None:
            best_text = f"{fmt_number(best['value'])} @{inert(best.get('epoch', '?'))}"
        planned = f"/{run.epochs}" if run.epochs else ""
        cells = {
            "run": self._run_cell(run, colour),
            "state": Text(
                inert(STATUS_LABELS.get(run.status, run.status)),
                style=STATUS_STYLES.get(run.status, ""),
            ),
            "epochs": Text(f"{run.epochs_run}{planned}", justify="right"),
            "best": Text(best_text, justify="right"),
            "val_acc": Text(fmt_number(run.final_metrics.get("val_accuracy")), justify="right"),
            "test": Text(fmt_number((run.test_metrics or {}).get("accuracy")), justify="right"),
            "time": Text(fmt_duration(run.duration_s), justify="right"),
        }
        return tuple(cells[key] for key in self._columns)
