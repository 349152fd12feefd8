"""`RunsTable`: the runs of a runs directory, one per row, with their state and best metrics."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from kerasdl import hparams
from kerasdl.safe_text import inert
from kerasdl_tui.format import fmt_duration, fmt_number
from kerasdl_tui.state import STATUS_LABELS, STATUS_STYLES

__all__ = ["MAX_EXTRA_WIDTH", "RunsTable", "runs_columns"]

#: The widest a ``tags`` or setting column gets (its cells are cut with an ellipsis).
MAX_EXTRA_WIDTH = 16

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


def extra_columns(width: int, fixed: list[str], wanted: list[tuple[str, str, int]]) -> list:
    """The ``(key, label, width)`` of ``wanted`` (the tags, then the settings that differ) that
    fit in ``width`` cells beside the ``fixed`` columns, in order, stopping at the first that
    does not."""
    sizes = {key: w for key, _, w in _COLUMNS}
    left = width - sum(sizes[key] + 2 for key in fixed) - 2
    chosen = []
    for key, label, size in wanted:
        if size + 2 > left:
            break
        chosen.append((key, label, size))
        left -= size + 2
    return chosen


class RunsTable(DataTable):
    """The runs browser's table. ``enter`` opens the highlighted run; ``space`` (or a click on
    the highlighted row) selects it for the overlay, shown by a ``●`` in its colour.

    Beside the fixed columns, where they fit: the runs' tags (``meta.json``), and one column per
    setting that differs between the runs shown (`kerasdl.hparams.differing`)."""

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
        self.tags: dict[str, list[str]] = {}
        self.settings: dict[str, dict] = {}
        self.setting_keys: list[str] = []
        self._extra: list[tuple[str, str, int]] = []

    def on_resize(self) -> None:
        columns = runs_columns(self.size.width)
        if columns != self._columns or self._wanted_extra(columns) != self._extra:
            self.show(self.runs, self.selected)

    def _wanted_extra(self, columns: list[str]) -> list[tuple[str, str, int]]:
        wanted = []
        shown = {run.run_id for run in self.runs}
        tags = [", ".join(self.tags.get(run_id) or []) for run_id in shown]
        if any(tags):
            wanted.append(("tags", "tags", min(MAX_EXTRA_WIDTH, max([4, *map(len, tags)]))))
        every = {key for run_id in shown for key in self.settings.get(run_id) or {}}
        labels = hparams.short_labels(self.setting_keys, among=every)
        for key in self.setting_keys:
            texts = [self._setting_text(run_id, key) for run_id in shown]
            size = min(MAX_EXTRA_WIDTH, max([len(labels[key]), *map(len, texts)]))
            wanted.append((f"setting:{key}", labels[key], size))
        return extra_columns(self.size.width or 80, columns, wanted)

    def _setting_text(self, run_id: str, key: str) -> str:
        flat = self.settings.get(run_id) or {}
        return inert(hparams.value_text(flat.get(key), key not in flat))

    def show(
        self,
        runs: list,
        selected: dict[str, str],
        *,
        tags: dict[str, list[str]] | None = None,
        settings: dict[str, dict] | None = None,
        setting_keys: list[str] | None = None,
    ) -> None:
        """Fill the table with ``runs`` (`kerasdl.runs.RunInfo`); ``selected`` maps the
        selected run ids to their overlay colours; ``tags`` their tags, ``settings`` their
        `kerasdl.hparams.settings`, ``setting_keys`` those shown as columns (where they fit).
        Those not given stay as they were."""
        cursor = self.cursor_row
        self.runs, self.selected = list(runs), selected
        self.tags = self.tags if tags is None else tags
        self.settings = self.settings if settings is None else settings
        self.setting_keys = self.setting_keys if setting_keys is None else list(setting_keys)
        columns = runs_columns(self.size.width or 80)
        extra = self._wanted_extra(columns)
        if columns != self._columns or extra != self._extra:
            self.clear(columns=True)
            self._columns, self._extra = columns, extra
            labels = {key: label for key, label, _ in _COLUMNS}
            for key in columns:
                self.add_column(labels[key], key=key)
            for key, label, size in extra:
                self.add_column(Text(inert(label), no_wrap=True), key=key, width=size)
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
        for key, _, _ in self._extra:
            if key == "tags":
                text = inert(", ".join(self.tags.get(run.run_id) or [])) or "-"
            else:
                text = self._setting_text(run.run_id, key.removeprefix("setting:"))
            cells[key] = Text(text, no_wrap=True, overflow="ellipsis")
        return tuple(cells[key] for key in [*self._columns, *(k for k, _, _ in self._extra)])
