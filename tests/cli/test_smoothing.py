"""`kerasdl.smoothing.ema` against TensorBoard's definition written out here in NumPy
(``resmoothDataset`` in tensorboard/components/vz_line_chart2/line-chart.ts): ``last = last * w +
(1 - w) * value`` from 0, divided by ``1 - w**n`` over the n finite values so far; non-finite
values kept as they are and skipped; a constant series left as it is."""

import math

import numpy as np
import pytest
from typer.testing import CliRunner

from kerasdl.smoothing import check_weight, ema, ema_points


def tensorboard_ema(values, w):
    values = np.asarray(values, dtype=np.float64)
    if np.all(values == values[0]):
        return values.copy()
    out = values.copy()
    finite = np.isfinite(values)
    y = values[finite]
    n = np.arange(1, len(y) + 1)
    # last_n = (1 - w) * sum_k w**(n-k) y_k: the recursion unrolled, then debiased.
    weights = (1 - w) * np.tril(w ** np.clip(n[:, None] - n[None, :], 0, None))
    out[finite] = weights @ y / (1 - w**n)
    return out


@pytest.mark.parametrize("w", [0.0, 0.3, 0.6, 0.9, 0.99])
def test_ema_matches_tensorboard(w):
    rng = np.random.default_rng(0)
    values = np.cumsum(rng.normal(size=200)) + 5
    np.testing.assert_allclose(ema(values.tolist(), w), tensorboard_ema(values, w), rtol=1e-12)


def test_first_value_is_unbiased_and_nan_is_kept_and_skipped():
    values = [2.0, math.nan, 4.0, math.inf, 6.0]
    got = ema(values, 0.5)
    want = tensorboard_ema(values, 0.5)
    assert got[0] == 2.0  # debiased: not pulled to 0
    assert math.isnan(got[1]) and got[3] == math.inf
    np.testing.assert_allclose([got[i] for i in (0, 2, 4)], want[[0, 2, 4]], rtol=1e-12)
    assert got[2] == pytest.approx((0.25 * 2 + 0.5 * 4) / 0.75)  # n counts finite values only


def test_constant_series_and_weights():
    assert ema([0.3] * 5, 0.9) == [0.3] * 5
    assert ema([1.0, 2.0, 3.0], 0.0) == [1.0, 2.0, 3.0]
    assert ema_points([(1, 1.0), (2, 3.0)], 0.5) == [(1, 1.0), (2, (0.25 + 1.5) / 0.75)]
    for bad in (-0.1, 1.0, math.nan):
        with pytest.raises(ValueError):
            check_weight(bad)


def test_runs_compare_smooth_option(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_cli_runs import _write_run

    from kerasdl.cli import app

    _write_run(tmp_path, "a", [0.5, 0.25, 0.375, 0.3, 0.2], "completed")
    runner = CliRunner()
    result = runner.invoke(app, ["runs", "compare", "a", "--runs-dir", str(tmp_path),
                                 "--smooth", "0.6", "-m", "val_loss"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "val_loss per epoch, smoothed 0.6" in result.stdout and "∘" in result.stdout
    top = next(line for line in result.stdout.splitlines() if line.endswith(" ┤∘") or "┤" in line)
    assert top.split()[0] == "0.5000"  # the raw maximum is in range: the faint points show
    bad = runner.invoke(app, ["runs", "compare", "a", "--runs-dir", str(tmp_path),
                              "--smooth", "1"])  # fmt: skip
    assert bad.exit_code == 2 and "--smooth" in bad.output
