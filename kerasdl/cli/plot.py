"""A small character line plot for the terminal, with no dependency beyond Rich.

`line_plot` draws ``{name: [(x, y), ...]}`` as lines of text: ``kerasdl runs compare`` uses it
for epoch curves, the experiments for their curves, ``kerasdl schedule plot`` for a learning
rate against the step and ``kerasdl lr-find`` for the loss against a logarithmic learning rate.
"""

import itertools
import math

from rich.text import Text

from kerasdl.cli.plain import fmt_number

# Per-series markers and colours.
MARKERS = ("●", "▲", "■", "◆", "✚", "★", "○", "△")
COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "red", "bright_white", "bright_cyan")


def line_plot(
    series: dict[str, list[tuple[float, float]]],
    *,
    width: int = 60,
    height: int = 12,
    x_label: str = "epoch",
    log_x: bool = False,
    log_y: bool = False,
    markers=MARKERS,
    colours=COLOURS,
    smoothing: float | None = None,
) -> list[Text]:
    """Draw ``{name: [(x, y), ...]}`` as lines of text: one marker per series, dots between.

    Every series stays visible: where the markers of several series fall in one cell, the
    cell goes to the series with the fewest cells of its own so far (two nearly equal curves
    alternate instead of the last hiding the first); a marker is never hidden by another
    series' dots. With ``smoothing`` (0 <= w < 1) each series is drawn smoothed
    (`kerasdl.smoothing.ema`, TensorBoard's), its raw points kept faintly as ``∘``.

    The y axis is labelled at the top, middle and bottom; the x axis at both ends, after
    ``x_label``. Points whose x or y is not finite (or not positive on a log axis) are left out.
    With ``log_x`` / ``log_y`` the axis is logarithmic (base 10): positions are linear in the
    logarithm, labels show the values themselves.

    Args:
        series: The points of each series, by name.
        width: Columns of the plotting area. Defaults to 60.
        height: Lines of the plotting area. Defaults to 12.
        x_label: The x axis's name. Defaults to ``"epoch"``.
        log_x: A logarithmic x axis. Defaults to False.
        log_y: A logarithmic y axis. Defaults to False.
        markers: One marker character per series, cycled.
        colours: One Rich style per series, cycled.
        smoothing: TensorBoard's smoothing weight, or None (the raw points only).

    Returns:
        Rich ``Text`` lines (coloured per series in a terminal, plain characters in a file).
    """

    def usable(x, y):
        if not (math.isfinite(x) and math.isfinite(y)):
            return False
        return (x > 0 or not log_x) and (y > 0 or not log_y)

    fx = math.log10 if log_x else float
    fy = math.log10 if log_y else float
    points = {
        name: [(fx(float(x)), fy(float(y))) for x, y in pts if usable(float(x), float(y))]
        for name, pts in series.items()
    }
    raw: dict[str, list[tuple[float, float]]] = {}
    if smoothing is not None:
        from kerasdl.smoothing import ema_points

        raw = {name: sorted(pts) for name, pts in points.items()}
        points = {name: ema_points(pts, smoothing) for name, pts in raw.items()}
    xs = [x for pts in points.values() for x, _ in pts]
    ys = [y for pts in (*points.values(), *raw.values()) for _, y in pts]
    if not xs:
        return [Text("(no data)", style="dim")]
    x_lo, x_hi = min(xs), max(xs)
    y_lo, y_hi = min(ys), max(ys)
    if y_hi == y_lo:
        pad = (abs(y_lo) * 0.05 or 1.0) if not log_y else 0.05
        y_lo, y_hi = y_lo - pad, y_hi + pad

    def col(x):
        return 0 if x_hi == x_lo else round((x - x_lo) / (x_hi - x_lo) * (width - 1))

    def row(y):  # 0 is the top line
        return round((y_hi - y) / (y_hi - y_lo) * (height - 1))

    grid: list[list[tuple[str, str] | None]] = [[None] * width for _ in range(height)]
    claims: dict[tuple[int, int], list[int]] = {}  # cell -> the series with a marker there
    for index, pts in enumerate(points.values()):
        for x, y in pts:
            cell = (row(y), col(x))
            if index not in claims.setdefault(cell, []):
                claims[cell].append(index)
    owned = [0] * len(points)
    for cell, who in sorted(claims.items(), key=lambda item: (len(item[1]) > 1, item[0][1])):
        index = min(who, key=lambda i: (owned[i], -i))  # the least visible series so far
        owned[index] += 1
        grid[cell[0]][cell[1]] = (markers[index % len(markers)], colours[index % len(colours)])
    for index, pts in enumerate(raw.values()):  # raw points under smoothing: faint
        for x, y in pts:
            r, c = row(y), col(x)
            if grid[r][c] is None:
                grid[r][c] = ("∘", f"dim {colours[index % len(colours)]}")
    for index, pts in enumerate(points.values()):
        style = colours[index % len(colours)]
        pts = sorted(pts)
        for (x0, y0), (x1, y1) in itertools.pairwise(pts):  # dots along each segment
            c0, c1 = col(x0), col(x1)
            for c in range(c0 + 1, c1):
                y = y0 + (y1 - y0) * (c - c0) / (c1 - c0)
                r = row(y)
                if grid[r][c] is None:
                    grid[r][c] = ("·", style)

    def y_text(y):
        return fmt_number(10**y if log_y else y)

    labels = {0: y_text(y_hi), (height - 1) // 2: y_text((y_hi + y_lo) / 2)}
    labels[height - 1] = y_text(y_lo)
    label_width = max(len(label) for label in labels.values())
    lines = []
    for r, cells in enumerate(grid):
        line = Text(f"{labels.get(r, ''):>{label_width}} ┤", style="dim")
        for cell in cells:
            if cell is None:
                line.append(" ")
            else:
                line.append(cell[0], style=cell[1])
        lines.append(line)
    hidden = [
        f"{markers[i % len(markers)]} {name}"
        for i, name in enumerate(points)
        if points[name] and not owned[i]
    ]
    axis = " " * label_width + " └" + "─" * width
    lines.append(Text(axis, style="dim"))
    left = _axis_number(10**x_lo if log_x else x_lo)
    right = _axis_number(10**x_hi if log_x else x_hi)
    prefix = f"{x_label} " if x_label else ""
    gap = max(1, width - len(left) - len(right) - len(prefix))
    lines.append(Text(" " * (label_width + 2) + prefix + left + " " * gap + right, style="dim"))
    if hidden:  # every cell of theirs went to another series with the same values there
        lines.append(Text(f"under other series (same cells): {', '.join(hidden)}", style="dim"))
    return lines


def _axis_number(x: float) -> str:
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.3g}"
