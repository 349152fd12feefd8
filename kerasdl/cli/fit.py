"""Tables that fit the width they are printed at, without cutting a number or wrapping an id.

At 80 columns (what Rich uses when the output is piped) a wide table would have Rich shrink its
columns: a run id folds over three lines, ``0.9430`` becomes ``0.``. `fitted` wraps a built
`rich.table.Table` so that, when printed, every column keeps its full width (``no_wrap``) except
the text columns named in ``wrap``, and the table is made to fit instead:

1. the columns named in ``drop`` are left out, first named first, until the rest fits, and a
   dim line names them (a wider terminal, or ``COLUMNS=160``, shows them);
2. if it still does not fit, the other columns are split into several tables, each repeating
   the first ``keep`` columns (the row labels), one after the other.

Columns are named by their header's text (its lines joined by a space). Imports only Rich.
"""

from __future__ import annotations

import copy
import dataclasses

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.table import Column, Table
from rich.text import Text

__all__ = ["Fitted", "column_name", "fitted"]


def column_name(column: Column) -> str:
    """A column's header as one line of plain text (``"best\\nval_loss"`` -> ``best val_loss``)."""
    header = column.header
    text = header.plain if isinstance(header, Text) else str(header)
    return " ".join(text.split())


def fitted(table: Table, *, drop=(), wrap=(), keep: int = 1) -> Fitted:
    """``table`` as a `Fitted` (module docstring): ``drop`` and ``wrap`` are column names."""
    return Fitted(table, drop=tuple(drop), wrap=tuple(wrap), keep=keep)


class Fitted:
    """A renderable: the table's columns that fit ``options.max_width``, or several tables."""

    def __init__(self, table: Table, *, drop=(), wrap=(), keep: int = 1):
        self.table = table
        self.drop = tuple(drop)
        self.wrap = tuple(wrap)
        self.keep = keep

    def _subtable(self, indices: list[int], title: bool) -> Table:
        table = copy.copy(self.table)
        table.columns = []
        for index in indices:
            column = self.table.columns[index]
            no_wrap = column.no_wrap or column_name(column) not in self.wrap
            table.columns.append(
                dataclasses.replace(column, no_wrap=no_wrap, _index=len(table.columns))
            )
        if not title:
            table.title = None
        return table

    def _needed(self, console: Console, options: ConsoleOptions, table: Table) -> int:
        """The narrowest width at which no kept-whole column is cut."""
        wide = options.update_width(100_000)
        total = table._extra_width
        for column in table.columns:
            measured = table._measure_column(console, wide, column)
            total += measured.maximum if column.no_wrap else measured.minimum
        return total

    def layout(self, console: Console, options: ConsoleOptions) -> tuple[list[Table], list[str]]:
        """The tables to print and the names of the columns left out."""
        width = options.max_width
        names = [column_name(column) for column in self.table.columns]
        kept = list(range(len(names)))
        dropped: list[str] = []
        for name in self.drop:
            if self._needed(console, options, self._subtable(kept, True)) <= width:
                break
            if name in names and names.index(name) in kept and names.index(name) >= self.keep:
                kept.remove(names.index(name))
                dropped.append(name)
        whole = self._subtable(kept, True)
        if self._needed(console, options, whole) <= width:
            return [whole], dropped
        keys = [i for i in kept if i < self.keep]
        rest = [i for i in kept if i >= self.keep]
        parts: list[list[int]] = []
        for index in rest:
            if parts:
                trial = self._subtable(keys + parts[-1] + [index], True)
                if self._needed(console, options, trial) <= width:
                    parts[-1].append(index)
                    continue
            parts.append([index])
        tables = [self._subtable(keys + part, i == 0) for i, part in enumerate(parts)]
        return tables or [whole], dropped

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        tables, dropped = self.layout(console, options)
        yield from tables
        if dropped:
            yield Text(
                f"(not shown at {options.max_width} columns: {', '.join(dropped)})", style="dim"
            )

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        tables, _ = self.layout(console, options)
        return Measurement.get(console, options, Group(*tables))
