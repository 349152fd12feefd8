"""`kerasdl.cli.plot.line_plot`'s logarithmic axes and x label: every marker where the log
formula puts it, labels in the values themselves, non-positive values left out."""

import math

from kerasdl.cli.plain import fmt_number
from kerasdl.cli.plot import line_plot

WIDTH, HEIGHT = 31, 7


def _grid(lines, label_width):
    """The plotting area's rows (the text right of ``<label> ┤``)."""
    return [line[label_width + 2 :] for line in lines[:HEIGHT]]


def _marker_cells(body, marker="●"):
    return {(r, c) for r, row in enumerate(body) for c, ch in enumerate(row) if ch == marker}


def test_log_x_places_markers_by_the_log_formula():
    # x from 1e-7 to 10 (8 decades): col = round((log10 x + 7) / 8 * (WIDTH - 1)); y linear.
    points = [(10.0**e, float(i)) for i, e in enumerate([-7, -6.5, -4, -3.2, -1, 0.3, 1])]
    lines = [t.plain for t in line_plot({"a": points}, width=WIDTH, height=HEIGHT, log_x=True)]
    label_width = lines[0].index(" ┤")
    body = _grid(lines, label_width)
    expected = set()
    y_lo, y_hi = 0.0, 6.0
    for x, y in points:
        col = round((math.log10(x) + 7) / 8 * (WIDTH - 1))
        row = round((y_hi - y) / (y_hi - y_lo) * (HEIGHT - 1))
        expected.add((row, col))
    assert _marker_cells(body) == expected
    # The x axis is labelled with the values, not their logarithms; the label is "epoch".
    assert lines[-1].split() == ["epoch", "1e-07", "10"]


def test_log_y_places_markers_by_the_log_formula_and_labels_values():
    # y from 1e-4 to 1 (4 decades): row = round((0 - log10 y) / 4 * (HEIGHT - 1)).
    ys = [1.0, 0.3, 0.05, 1e-2, 2e-3, 1e-4]
    points = [(float(i), y) for i, y in enumerate(ys)]
    plotted = line_plot({"lr": points}, width=WIDTH, height=HEIGHT, log_y=True, x_label="step")
    lines = [t.plain for t in plotted]
    label_width = lines[0].index(" ┤")
    body = _grid(lines, label_width)
    expected = set()
    for x, y in points:
        col = round(x / 5 * (WIDTH - 1))
        row = round((0 - math.log10(y)) / 4 * (HEIGHT - 1))
        expected.add((row, col))
    assert _marker_cells(body) == expected
    # Top, middle and bottom labels: 1, 10**-2 (the middle of the log range), 1e-4.
    assert lines[0].split()[0] == "1.0000"
    assert lines[(HEIGHT - 1) // 2].split()[0] == "0.0100"
    assert lines[HEIGHT - 1].split()[0] == "1.000e-04"
    assert lines[-1].split() == ["step", "0", "5"]


def test_log_axes_leave_out_non_positive_points():
    points = [(0.0, 1.0), (-1.0, 2.0), (1.0, 0.0), (1.0, 1.0), (100.0, 10.0), (10.0, -3.0)]
    lines = [
        t.plain
        for t in line_plot({"a": points}, width=WIDTH, height=HEIGHT, log_x=True, log_y=True)
    ]
    text = "\n".join(lines)
    # Only (1, 1) and (100, 10) are drawn: two markers, bottom-left and top-right.
    assert text.count("●") == 2
    label_width = lines[0].index(" ┤")
    body = _grid(lines, label_width)
    assert _marker_cells(body) == {(HEIGHT - 1, 0), (0, WIDTH - 1)}
    assert lines[-1].split() == ["epoch", "1", "100"]
    assert line_plot({"a": [(0.0, 1.0), (-2.0, 3.0)]}, log_x=True)[0].plain == "(no data)"


def test_log_y_constant_series_is_padded_in_log_units():
    # A constant 1e-3 on a log axis: padded by 0.05 decades each way, the line in the middle.
    lines = [
        t.plain
        for t in line_plot({"a": [(0, 1e-3), (1, 1e-3)]}, width=WIDTH, height=HEIGHT, log_y=True)
    ]
    assert lines[0].split()[0] == fmt_number(10 ** (-3 + 0.05)) == "0.0011"
    assert lines[HEIGHT - 1].split()[0] == fmt_number(10 ** (-3 - 0.05)) == "8.913e-04"
    label_width = lines[0].index(" ┤")
    assert _marker_cells(_grid(lines, label_width)) == {(3, 0), (3, WIDTH - 1)}


def test_x_label_names_the_axis_and_may_be_empty():
    series = {"a": [(1.0, 1.0), (2.0, 2.0)]}
    assert line_plot(series, x_label="lr")[-1].plain.split() == ["lr", "1", "2"]
    assert line_plot(series, x_label="")[-1].plain.split() == ["1", "2"]


def _cells_of(lines, marker):
    label_width = lines[0].index(" ┤")
    return _marker_cells(_grid(lines, label_width), marker)


def test_two_nearly_equal_series_both_keep_visible_points():
    a = [(float(i), 1.0 / (i + 1)) for i in range(10)]
    b = [(x, y + 1e-6) for x, y in a]  # the same cells as a, everywhere
    lines = [t.plain for t in line_plot({"a": a, "b": b}, width=WIDTH, height=HEIGHT)]
    first, second = _cells_of(lines, "●"), _cells_of(lines, "▲")
    assert first and second and not first & second
    assert len(first) + len(second) == len({(round(y, 3), x) for x, y in a})  # every cell shown
    assert abs(len(first) - len(second)) <= 1  # shared fairly, not the last on top
    assert not any("under other series" in line for line in lines)


def test_a_series_entirely_under_others_is_named():
    a = [(0.0, 1.0), (1.0, 2.0)]
    lines = [t.plain for t in line_plot({"a": a, "b": a, "c": a}, width=WIDTH, height=HEIGHT)]
    assert lines[-1] == "under other series (same cells): ● a"


def test_smoothing_draws_the_ema_and_keeps_raw_points_faint():
    points = [(0.0, 0.0), (1.0, 1.0), (2.0, 0.0), (3.0, 1.0), (4.0, 0.0)]
    plotted = line_plot({"a": points}, width=5, height=11, smoothing=0.5)
    lines = [t.plain for t in plotted]
    label_width = lines[0].index(" ┤")
    body = [line[label_width + 2 :] for line in lines[:11]]
    # The debiased EMA with w = 0.5: 0, 2/3, 2/7, 2/3 (10/15), 10/31; y from 0 to 1.
    smoothed = [0.0, 2 / 3, 2 / 7, 10 / 15, 10 / 31]
    assert _marker_cells(body) == {(round((1 - y) * 10), c) for c, y in enumerate(smoothed)}
    faint = _marker_cells(body, "∘")
    assert {(0, 1), (0, 3), (10, 2), (10, 4)} <= faint  # the raw points not under a marker
    dim = [span for span in plotted[0].spans if "dim" in str(span.style)]
    assert dim  # the raw points are styled faint
