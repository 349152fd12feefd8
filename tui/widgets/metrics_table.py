"""`MetricsTable`: one row per finished epoch; the best epoch and saved checkpoints marked."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from kerasdl import safe_text
from kerasdl_tui.format import fmt_duration, fmt_lr, fmt_number
from kerasdl_tui.state import RunState

__all__ = ["MetricsTable", "table_columns"]

_SHORT = {"accuracy": "acc", "val_accuracy": "val_acc"}
_PRIORITY = ("val_loss", "val_accuracy", "loss", "accuracy")
_NUMBER_WIDTH = 6  # "0.0358", "1.2e-05"


def _label(name: str) -> str:
    """A column's heading: a metric's name (inert: it comes from the events), or its short form."""
    return safe_text.inert(_SHORT.get(name, name))


def _width(label: str) -> int:
    return max(len(label), _NUMBER_WIDTH) + 2  # cell padding


def table_columns(metrics: list[str], width: int) -> list[str]:
    """The columns that fit in ``width`` cells, in display order: ``epoch``, the metrics
    (val_loss, val_accuracy, loss, accuracy first, then the others), ``lr``, ``time``.
    The epoch and lr always show; the rest while there is room."""
    wanted = [m for m in _PRIORITY if m in metrics] + [m for m in metrics if m not in _PRIORITY]
    used = _width("epoch") + _width("lr") + 2  # the border
    shown = []
    for name in wanted:
        cost = _width(_label(name))
        if used + cost > width:
            break
        shown.append(name)
        used += cost
    ordered = [m for m in metrics if m in shown]
    columns = ["epoch", *ordered, "lr"]
    if used + _width("time") <= width:
        columns.append("time")
    return columns


class MetricsTable(DataTable):
    """The per-epoch table: the epoch (``◆`` on the best, ``✓`` where it wrote
    ``best.keras``), the metrics that fit the width, lr, seconds. Rows are added as epochs
    end; the cursor follows the newest row unless you moved it up.
    """

    DEFAULT_CSS = """
    MetricsTable {
        height: 1fr;
        min-height: 3;
        border: round $primary 30%;
        border-title-style: bold;
        scrollbar-size-horizontal: 0;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.border_title = "epochs"
        self.state = RunState()
        self._columns: list[str] = []
        self._rows: dict[int, tuple] = {}

    def on_resize(self) -> None:
        self.show(self.state)

    def show(self, state: RunState) -> None:
        """Add or update the rows of ``state``'s epochs (only those that changed)."""
        self.state = state
        columns = table_columns(state.metric_names, self.size.width or 80)
        if columns != self._columns:
            self.clear(columns=True)
            self._rows = {}
            self._columns = columns
            for name in columns:
                # A Text heading: DataTable reads a str as markup, and a metric's name is data.
                self.add_column(safe_text.text(_label(name)), key=name)
        best = (state.best or {}).get("epoch")
        at_end = self.row_count == 0 or self.cursor_row >= self.row_count - 1
        for epoch in sorted(state.history):
            row = self._row(state.history[epoch], epoch == best)
            if self._rows.get(epoch) == row:
                continue
            if epoch in self._rows:
                for key, value in zip(self._columns, row, strict=True):
                    self.update_cell(str(epoch), key, value)
            else:
                self.add_row(*row, key=str(epoch))
            self._rows[epoch] = row
        if at_end and self.row_count:
            self.move_cursor(row=self.row_count - 1)
            # Scrolling the cursor into view runs after a refresh and can use a stale height
            # (the last row then sits one line short of the bottom); end at the bottom always.
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True)

    def _row(self, event: dict, best: bool) -> tuple:
        metrics = event.get("metrics") or {}
        cells = []
        for name in self._columns:
            if name == "epoch":
                cell = Text(justify="right")
                cell.append("◆" if best else " ", style="bold yellow")
                cell.append(str(event.get("epoch")), style="bold yellow" if best else "")
                cell.append("✓" if event.get("checkpoint_saved") else " ", style="green")
            elif name == "lr":
                cell = Text(fmt_lr(event.get("learning_rate")), justify="right")
            elif name == "time":
                cell = Text(fmt_duration(event.get("epoch_seconds")), justify="right")
            else:
                cell = Text(fmt_number(metrics.get(name)), justify="right")
            cells.append(cell)
        return tuple(cells)
