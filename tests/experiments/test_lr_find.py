"""``kerasdl lr-find``: the learning-rate range test.

The pure parts against NumPy written here (the geometric rates, fastai's smoothed loss, the
suggestions); one tiny seeded test on mnist-mini in which the loss first falls and the test stops
on divergence before a huge end rate; determinism; the CLI's --json, text and bad input.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from kerasdl.cli import app
from kerasdl.config import TrainConfig
from kerasdl.experiments import lr_find

runner = CliRunner()
HEAVY = ("tensorflow", "keras", "textual", "jax", "torch")

# A tiny network on 600 mnist-mini examples; plain SGD from 1e-3 up to 1e3 over 60 steps.
TINY = {
    "data.name": "mnist-mini",
    "data.limit": 600,
    "model.hidden": [32],
    "model.batch_norm": [False],
    "model.dropout": [0.0],
    "optimizer.name": "sgd",
    "optimizer.weight_decay": 0.0,
    "batch_size": 32,
}
TINY_FLAGS = [
    "--dataset", "mnist-mini", "--limit", "600", "--optimizer", "sgd",
    "--set", "model.hidden=32", "--set", "model.batch_norm=false", "--set", "model.dropout=0",
    "--set", "optimizer.weight_decay=0", "--set", "batch_size=32",
]  # fmt: skip


def _config(**changes):
    return TrainConfig().override({**TINY, **changes})


# ----------------------------------------------------------------------------- pure parts


def test_learning_rates_are_exactly_geometric():
    lrs = lr_find.learning_rates(1e-7, 10.0, 200)
    assert lrs.shape == (200,) and lrs.dtype == np.float64
    np.testing.assert_allclose(lrs, np.geomspace(1e-7, 10.0, 200), rtol=1e-13)
    ratios = lrs[1:] / lrs[:-1]
    np.testing.assert_allclose(ratios, (10.0 / 1e-7) ** (1 / 199), rtol=1e-12)
    assert lrs[0] == 1e-7 and lrs[-1] == pytest.approx(10.0, rel=1e-14)


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.98])
def test_smoothing_is_fastais_bias_corrected_average(beta):
    rng = np.random.default_rng(0)
    losses = 2.0 + rng.standard_normal(50)
    # Closed form of avg_i = beta * avg_{i-1} + (1 - beta) * loss_i (avg_{-1} = 0), divided by
    # 1 - beta ** (i + 1): a weighted mean of the losses so far, weights beta ** (i - j).
    expected = []
    for i in range(len(losses)):
        weights = (1 - beta) * beta ** (i - np.arange(i + 1))
        expected.append(np.sum(weights * losses[: i + 1]) / (1 - beta ** (i + 1)))
    np.testing.assert_allclose(lr_find.smooth(losses, beta), expected, rtol=1e-12)
    if beta == 0.0:
        np.testing.assert_allclose(lr_find.smooth(losses, beta), losses, rtol=1e-15)


def test_smoothing_of_a_constant_is_that_constant_from_the_first_step():
    np.testing.assert_allclose(lr_find.smooth([3.0] * 10, 0.98), 3.0, rtol=1e-12)


def test_suggestions_on_a_known_curve():
    # x = log10(lr) from -6 to 0; the loss falls fastest at x = -3 (tanh), bottoms out near
    # x = -1.2, then rises steeply.
    lrs = np.logspace(-6, 0, 121)
    x = np.log10(lrs)
    loss = 2.0 - np.tanh(2 * (x + 3)) + np.exp(3 * (x + 1))
    s = lr_find.suggest(lrs, loss, steps=121)
    kept = slice(12, 121 - 5)  # fastai drops steps // 10 at the start and 5 at the end
    slopes = np.diff(loss[kept]) / np.diff(np.log(lrs[kept]))
    assert s["steepest"] == pytest.approx(lrs[kept][np.argmin(slopes)])
    assert abs(np.log10(s["steepest"]) + 3) <= 0.06  # one grid step from the true -3
    low = np.argmin(loss[kept])
    assert s["minimum"]["lr"] == pytest.approx(lrs[kept][low])
    assert s["minimum"]["loss"] == pytest.approx(loss[kept][low])
    assert s["minimum_div_10"] == pytest.approx(lrs[kept][low] / 10)


def test_steepest_is_looked_for_before_the_minimum_and_nan_ends_the_curve():
    # A dip at index 20, a blow-up, then a steep fall back (ignored) and a NaN (cut off).
    lrs = np.logspace(-5, 1, 60)
    loss = np.concatenate([np.linspace(2.3, 1.0, 21), [3.0, 9.0, 8.0, 1.5, 1.4]])
    loss = np.concatenate([loss, [np.nan] * (60 - len(loss))])
    s = lr_find.suggest(lrs, loss, steps=60)
    assert s["minimum"]["lr"] == pytest.approx(lrs[20])
    assert s["steepest"] < s["minimum"]["lr"]
    empty = lr_find.suggest([], [], steps=10)
    assert empty == {"steepest": None, "minimum_div_10": None, "minimum": None}


# ----------------------------------------------------------------------------- the range test


@pytest.fixture(scope="module")
def tiny_result():
    return lr_find.run(_config(), start_lr=1e-3, end_lr=1e3, steps=60)


def test_loss_falls_then_the_test_stops_on_divergence(tiny_result):
    r = tiny_result
    smoothed = np.array(r.smoothed)
    # The loss falls first: the lowest smoothed loss is well below the start (ln 10 = 2.30).
    assert smoothed.min() < smoothed[0] - 0.1
    assert int(np.argmin(smoothed)) > 5
    # Then it blows up, and the test stops before reaching --end-lr.
    assert r.stop_reason in ("diverged", "not_finite")
    assert 10 < r.steps_run < r.steps
    if r.stop_reason == "diverged":
        assert smoothed[-1] > r.diverge * smoothed[:-1].min()
        assert np.all(smoothed[:-1] <= r.diverge * np.minimum.accumulate(smoothed[:-1]))
    # The rates run are the geometric sequence's first steps; the smoothing is fastai's.
    np.testing.assert_array_equal(r.lrs, lr_find.learning_rates(1e-3, 1e3, 60)[: r.steps_run])
    np.testing.assert_allclose(r.smoothed, lr_find.smooth(r.losses, 0.98), rtol=1e-12)


def test_suggestions_lie_inside_the_range_below_the_divergence(tiny_result):
    r = tiny_result
    s = r.suggestions
    for key in ("steepest", "minimum_div_10"):
        assert s[key] is not None
        assert r.start_lr <= s[key] < r.stop_lr, (key, s[key], r.stop_lr)
    assert s["minimum"]["lr"] < r.stop_lr
    assert s["steepest"] <= s["minimum"]["lr"]


def test_same_seed_same_curve_other_seed_other_curve():
    def losses(seed):
        return lr_find.run(_config(seed=seed), start_lr=1e-3, end_lr=1.0, steps=12).losses

    first = losses(7)
    assert losses(7) == first
    assert losses(8) != first


# ----------------------------------------------------------------------------- the command


def test_json_output_and_record(tmp_path):
    args = ["lr-find", *TINY_FLAGS, "--start-lr", "1e-3", "--end-lr", "1e3", "--steps", "40"]
    result = runner.invoke(app, [*args, "--runs-dir", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)  # stdout is the JSON and nothing else
    assert set(data) >= {
        "experiment", "config", "start_lr", "end_lr", "steps", "smoothing", "diverge",
        "steps_run", "stop_reason", "stop_lr", "suggestions", "lrs", "losses", "smoothed",
        "seconds", "record",
    }  # fmt: skip
    assert data["config"]["optimizer"] == "sgd" and data["config"]["dataset"] == "mnist-mini"
    assert data["steps"] == 40 and len(data["lrs"]) == len(data["smoothed"]) == data["steps_run"]
    assert set(data["suggestions"]) == {"steepest", "minimum_div_10", "minimum"}
    assert "range test" in result.stderr  # progress notes go to stderr
    records = list(tmp_path.glob("*-lr-find.json"))
    assert [str(p) for p in records] == [data["record"]]
    assert json.loads(records[0].read_text()) == data


def test_text_output_has_plot_table_and_no_record_with_no_save(tmp_path):
    args = ["lr-find", *TINY_FLAGS, "--start-lr", "1e-3", "--end-lr", "1e3", "--steps", "40"]
    result = runner.invoke(
        app, [*args, "--runs-dir", str(tmp_path), "--no-save"], env={"COLUMNS": "100"}
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Learning-rate range test: sgd on mnist-mini" in out
    assert "┤" in out and "lr 0.001" in out  # the plot, log x axis labelled with values
    assert "┃ steepest descent" in out and "┆ minimum / 10" in out
    assert "steepest descent" in out and "stopped at" in out and "of 40" in out
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--start-lr", "0"], "--start-lr: got 0.0; allowed: a number > 0"),
        (["--start-lr", "1", "--end-lr", "0.5"], "--end-lr: got 0.5; allowed: a finite number"),
        (["--steps", "5"], "--steps: got 5; allowed: an integer in [10, 100000]"),
        (["--steps", "100001"], "--steps: got 100001; allowed: an integer in [10, 100000]"),
        (["--smoothing", "1"], "--smoothing: got 1.0; allowed: a number in [0, 1)"),
        (["--diverge", "1"], "--diverge: got 1.0; allowed: a number > 1"),
        (["--optimizer", "adamx"], "optimizer.name: got 'adamx'"),
        (["--set", "model.hiden=3"], "model.hiden: unknown key"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, needle, tmp_path):
    result = runner.invoke(app, ["lr-find", *args, "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.startswith("error: ") and needle in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_help_and_bad_input_import_no_framework():
    code = (
        "from typer.testing import CliRunner\n"
        "from kerasdl.cli import app\n"
        "r = CliRunner()\n"
        "h = r.invoke(app, ['lr-find', '--help'], env={'COLUMNS': '200'})\n"
        "b = r.invoke(app, ['lr-find', '--steps', '5'])\n"
        "print(h.exit_code, b.exit_code, '--start-lr' in h.stdout, '--steps' in b.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["0", "2", "True", "True"]
    modules = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "kerasdl" in modules  # importtime worked: the check can fail
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
