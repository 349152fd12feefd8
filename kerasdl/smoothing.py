"""TensorBoard's smoothing: a debiased exponential moving average of a curve's values.

`ema` is TensorBoard's ``resmoothDataset`` (``tensorboard/components/vz_line_chart2/
line-chart.ts``), written out in Python: with the weight ``w`` (0 <= w < 1),
``last = last * w + (1 - w) * value`` from ``last = 0``, and the smoothed value is
``last / (1 - w ** n)``, ``n`` the number of finite values so far (the division removes the
bias towards the starting 0). A value that is not finite (NaN, inf) is kept as it is and does
not enter the average; a constant curve is left as it is. Pure Python: the CLI and the dashboard
use it without NumPy.
"""

import math

__all__ = ["check_weight", "ema", "ema_points"]


def check_weight(weight: float) -> float:
    """``weight`` as a float if 0 <= weight < 1; else ValueError."""
    weight = float(weight)
    if not (math.isfinite(weight) and 0.0 <= weight < 1.0):
        raise ValueError(f"smoothing weight {weight!r}: allowed 0 <= weight < 1")
    return weight


def ema(values, weight: float) -> list[float]:
    """The smoothed values of ``values`` (module docstring), one per value."""
    weight = check_weight(weight)
    values = [float(v) for v in values]
    if all(v == values[0] for v in values):  # TensorBoard #786: a constant curve as it is
        return list(values)
    last, count, out = 0.0, 0, []
    for value in values:
        if not math.isfinite(value):
            out.append(value)
            continue
        last = last * weight + (1.0 - weight) * value
        count += 1
        out.append(last / (1.0 - weight**count))
    return out


def ema_points(points, weight: float) -> list[tuple[float, float]]:
    """``[(x, y), ...]`` with each y smoothed by `ema` in the points' order."""
    points = list(points)
    smoothed = ema([y for _, y in points], weight)
    return [(x, y) for (x, _), y in zip(points, smoothed, strict=True)]
