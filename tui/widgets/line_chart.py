"""`LineChart`: per-epoch curves drawn with Unicode braille, with markers, in any size.

Each character cell holds 2x4 braille dots, so a chart ``w`` cells wide and ``h`` high plots
``2w x 4h`` points. Consecutive points of a series are joined with straight lines; a NaN (or,
on a log scale, a value <= 0) breaks the line. Markers are vertical dotted lines with a letter
on the x axis (learning-rate changes); the highlighted point (the best epoch) is a ``◆``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from kerasdl.safe_text import inert
from kerasdl_tui.format import fmt_number

__all__ = ["LineChart", "Marker", "Series", "plot_lines"]

_DOTS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))  # [column][row] within a cell
_BRAILLE = 0x2800


@dataclass
class Series:
    """One curve: ``points`` are ``(x, y)`` pairs, in x order."""

    name: str
    points: list[tuple[float, float]]
    style: str = "white"


@dataclass
class Marker:
    """A vertical marker at ``x``: ``label`` (one character) on the x axis, ``style`` its colour."""

    x: float
    label: str
    style: str = "magenta"
    note: str = ""


@dataclass
class _Grid:
    width: int
    height: int
    bits: list[list[int]] = field(default_factory=list)
    styles: list[list[str | None]] = field(default_factory=list)

    def __post_init__(self):
        self.bits = [[0] * self.width for _ in range(self.height)]
        self.styles = [[None] * self.width for _ in range(self.height)]

    def dot(self, x: int, y: int, style: str) -> None:
        if 0 <= x < 2 * self.width and 0 <= y < 4 * self.height:
            row, col = y // 4, x // 2
            self.bits[row][col] |= _DOTS[x % 2][y % 4]
            self.styles[row][col] = style

    def line(self, x0: int, y0: int, x1: int, y1: int, style: str) -> None:
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        error = dx + dy
        while True:
            self.dot(x0, y0, style)
            if x0 == x1 and y0 == y1:
                return
            twice = 2 * error
            if twice >= dy:
                error += dy
                x0 += sx
            if twice <= dx:
                error += dx
                y0 += sy


def _transform(value: float, log: bool) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    if log:
        return math.log10(value) if value > 0 else None
    return value


def plot_lines(
    series: list[Series],
    width: int,
    height: int,
    *,
    x_range: tuple[float, float] | None = None,
    markers: list[Marker] = (),
    highlight: tuple[float, float] | None = None,
    log: bool = False,
    y_format: Callable[[float], str] = fmt_number,
    empty_text: str = "no data yet",
) -> list[Text]:
    """The chart as ``height`` lines of ``width`` cells (the widget's `render`, testable alone).

    The left gutter holds the y axis labels (top: highest value, bottom: lowest, and the
    middle when there is room); the last line is the x axis, from ``x_range[0]`` to
    ``x_range[1]``, with each marker's letter at its position.
    """
    if width < 1 or height < 1:
        return []
    values = [t for s in series for _, y in s.points if (t := _transform(y, log)) is not None]
    xs = [x for s in series for x, _ in s.points]
    if x_range is None:
        x_range = (min(xs), max(xs)) if xs else (1, 1)
    x_lo, x_hi = x_range
    if not values or height < 3 or width < 12:
        note = empty_text if not values else _summary(series, y_format)
        lines = [Text(note[:width], style="dim", no_wrap=True)]
        return lines + [Text("") for _ in range(height - 1)]

    y_lo, y_hi = min(values), max(values)
    shown = (lambda v: 10**v) if log else (lambda v: v)
    plot_h = height - 1
    flat = y_hi == y_lo
    if flat:  # one value: a level line in the middle, labelled once
        pad = abs(y_hi) * 0.05 or 1.0
        middle = y_hi
        y_lo, y_hi = y_lo - pad, y_hi + pad
        labels = {round((plot_h * 4 - 1) / 2) // 4: y_format(shown(middle))}
    else:
        labels = {0: y_format(shown(y_hi)), plot_h - 1: y_format(shown(y_lo))}
        if plot_h >= 5:
            labels[(plot_h - 1) // 2] = y_format(shown((y_hi + y_lo) / 2))
    gutter = max(len(label) for label in labels.values()) + 1
    plot_w = width - gutter
    if plot_w < 4:
        return [Text(_summary(series, y_format)[:width], no_wrap=True)] + [
            Text("") for _ in range(height - 1)
        ]
    grid = _Grid(plot_w, plot_h)
    dots_w, dots_h = 2 * plot_w, 4 * plot_h

    def to_x(x: float) -> int:
        if x_hi == x_lo:
            return 0
        return round((x - x_lo) / (x_hi - x_lo) * (dots_w - 1))

    def to_y(t: float) -> int:
        return round((y_hi - t) / (y_hi - y_lo) * (dots_h - 1))

    nan_columns = set()
    for s in series:
        previous = None
        for x, y in s.points:
            t = _transform(y, log)
            if t is None or not (x_lo <= x <= x_hi):
                if x_lo <= x <= x_hi and y is not None and math.isnan(y):
                    nan_columns.add(min(to_x(x) // 2, plot_w - 1))
                previous = None
                continue
            point = (to_x(x), to_y(t))
            if previous is None:
                grid.dot(*point, s.style)
            else:
                grid.line(*previous, *point, s.style)
            previous = point

    cells = [
        [
            (chr(_BRAILLE + bits) if bits else " ", style)
            for bits, style in zip(row, styles, strict=True)
        ]
        for row, styles in zip(grid.bits, grid.styles, strict=True)
    ]
    axis = [("─", "dim")] * plot_w
    for marker in markers:
        if not (x_lo <= marker.x <= x_hi):
            continue
        col = min(to_x(marker.x) // 2, plot_w - 1)
        for row in cells:
            if row[col][0] == " ":
                row[col] = ("┊", f"dim {marker.style}")
        axis[col] = (inert(marker.label[:1]), f"bold {marker.style}")
    for col in nan_columns:  # a NaN value: a red cross at the top of its epoch
        cells[0][col] = ("✗", "bold red")
    if highlight is not None:
        hx, hy = highlight
        t = _transform(hy, log)
        if t is not None and x_lo <= hx <= x_hi:
            cells[to_y(t) // 4][to_x(hx) // 2] = ("◆", "bold yellow")

    # The first and last x values, moved inwards past any marker at the ends.
    first, last = _axis_label(x_lo), _axis_label(x_hi)[-(plot_w // 2) :]
    start = 0
    while start < plot_w and axis[start][0] != "─":
        start += 1
    for i, ch in enumerate(first[: plot_w // 2]):
        if start + i < plot_w and axis[start + i][0] == "─":
            axis[start + i] = (ch, "dim")
    end = plot_w
    while end > 0 and axis[end - 1][0] != "─":
        end -= 1
    for i, ch in enumerate(last):
        j = end - len(last) + i
        if 0 <= j < plot_w and axis[j][0] == "─":
            axis[j] = (ch, "dim")

    lines = []
    for index, row in enumerate(cells):
        line = Text(labels.get(index, "").rjust(gutter - 1) + " ", style="dim", no_wrap=True)
        _append_cells(line, row)
        lines.append(line)
    line = Text(" " * gutter, no_wrap=True)
    _append_cells(line, axis)
    lines.append(line)
    return lines


def _append_cells(line: Text, cells: list[tuple[str, str | None]]) -> None:
    run, run_style = "", None
    for char, style in cells:
        if style != run_style and run:
            line.append(run, style=run_style or "")
            run = ""
        run_style = style
        run += char
    if run:
        line.append(run, style=run_style or "")


def _axis_label(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _summary(series: list[Series], y_format) -> str:
    parts = []
    for s in series:
        if s.points:
            parts.append(f"{inert(s.name)} {y_format(s.points[-1][1])}")
    return " · ".join(parts) or "no data yet"


class LineChart(Widget):
    """A braille line chart of one or more series against the epoch.

    Set the data with `set_data`; the chart redraws at its current size, and again on every
    resize. ``log_scale`` (a reactive) plots log10 of the values (values <= 0 are left out).
    The legend goes in the border subtitle.

    Args:
        title: The border title (`title`), shown as it is: never read as markup.
        y_format: Formats the y axis labels. Defaults to `fmt_number`.
        empty_text: Shown before there is anything to plot.
    """

    DEFAULT_CSS = """
    LineChart {
        border: round $primary 50%;
        border-title-color: $text;
        border-title-style: bold;
        border-subtitle-align: right;
        padding: 0 1 0 0;
        height: 1fr;
        min-height: 5;
    }
    """

    log_scale = reactive(False)

    def __init__(
        self,
        title: str = "",
        *,
        y_format: Callable[[float], str] = fmt_number,
        empty_text: str = "no data yet",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ):
        super().__init__(name=name, id=id, classes=classes)
        self._title = ""
        self.title = title
        self.y_format = y_format
        self.empty_text = empty_text
        self.series: list[Series] = []
        self.markers: list[Marker] = []
        self.highlight: tuple[float, float] | None = None
        self.x_range: tuple[float, float] | None = None

    def set_data(
        self,
        series: list[Series],
        *,
        x_range: tuple[float, float] | None = None,
        markers: list[Marker] = (),
        highlight: tuple[float, float] | None = None,
        legend: str | Text | None = None,
    ) -> None:
        """Replace what the chart shows, and redraw."""
        self.series = list(series)
        self.markers = list(markers)
        self.highlight = highlight
        self.x_range = x_range
        if legend is not None:
            self.border_subtitle = legend
        self.refresh()

    @property
    def title(self) -> str:
        """The chart's title, in its border (with `` (log)`` on a log scale).

        Plain text, shown inert (`kerasdl.safe_text`): a title may hold a metric's name from a
        run's events, and Textual would read a str border title as markup (where even an
        escaped ``[/red]`` does not always come back as it was).
        """
        return self._title

    @title.setter
    def title(self, title: str) -> None:
        self._title = str(title)
        self._show_title()

    def _show_title(self) -> None:
        shown = inert(self._title) + (" (log)" if self.log_scale else "")
        self.border_title = Text(shown)  # a Text, which Textual takes as it is

    def watch_log_scale(self, log: bool) -> None:
        self._show_title()
        self.refresh()

    def render(self) -> Text:
        width, height = self.size
        lines = plot_lines(
            self.series,
            width,
            height,
            x_range=self.x_range,
            markers=self.markers,
            highlight=self.highlight,
            log=self.log_scale,
            y_format=self.y_format,
            empty_text=self.empty_text,
        )
        return Text("\n", no_wrap=True).join(lines)
