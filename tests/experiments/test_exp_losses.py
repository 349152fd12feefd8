"""``kerasdl experiment losses``: the direction of chapter 3.1.2's claim (the MSE fit moves with
the outliers, MAE and Huber barely do) on a small seeded regression set, checked against
least squares and errors written in NumPy here; and the command line.

One module fixture runs the command once (3 losses x with/without outliers = 6 short runs).
"""

import io
import json
import subprocess
import sys

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from kerasdl import runs
from kerasdl.cli import app
from kerasdl.cli import experiment_losses as cli
from kerasdl.config import TrainConfig
from kerasdl.data import load_dataset
from kerasdl.experiments import losses as experiment

runner = CliRunner()
HEAVY = ("tensorflow", "keras", "textual", "jax", "torch")
# Small and quick: 540 training points (54 outliers), 5 epochs of 34 steps.
SMALL = ["--epochs", "5", "--limit", "600", "--batch-size", "16", "--lr", "0.1", "--seed", "3"]


def _no_traceback(result):
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    return text


def _invoke_json(*args):
    result = runner.invoke(app, ["experiment", "losses", *SMALL, *args, "--json"])
    _no_traceback(result)
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout), result


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def outcome(runs_dir):
    data, result = _invoke_json("--losses", "mse,mae,huber", "--runs-dir", str(runs_dir))
    return data, result.stderr


@pytest.fixture(scope="module")
def fits(outcome):
    return {fit["loss"]: fit for fit in outcome[0]["fits"]}


def _dataset(outlier_fraction):
    config = TrainConfig().override(
        {"data.name": "regression", "loss.name": "mse", "data.limit": 600, "seed": 3,
         "data.outlier_fraction": outlier_fraction}
    )  # fmt: skip
    return load_dataset(config)


def test_cli_defaults_match_the_experiment():
    assert ",".join(experiment.DEFAULT_LOSSES) == cli.DEFAULT_LOSSES
    assert experiment.DEFAULT_LEARNING_RATE == cli.DEFAULT_LEARNING_RATE


# ----------------------------------------------------------------------------- the chapter's claim


def test_mse_moves_with_the_outliers_mae_and_huber_barely(fits):
    mse, mae, huber = fits["mse"]["shift"], fits["mae"]["shift"], fits["huber"]["shift"]
    assert mse > 5 * mae and mse > 5 * huber, (mse, mae, huber)
    # The outliers all point up: the MSE fit's bias goes up with them.
    assert fits["mse"]["bias_shift"] > 1.0
    assert fits["mse"]["error"] > 5 * max(fits["mae"]["error"], fits["huber"]["error"])


def test_mse_fit_heads_for_the_least_squares_solution(fits):
    """Least squares, solved here with NumPy, moves the bias by the same amount."""

    def lstsq(ds):
        design = np.hstack([ds.x_train.astype(np.float64), np.ones((len(ds.x_train), 1))])
        return np.linalg.lstsq(design, ds.y_train.astype(np.float64).ravel(), rcond=None)[0]

    ls_shift = lstsq(_dataset(0.1))[-1] - lstsq(_dataset(0.0))[-1]
    assert ls_shift > 3  # the data really is contaminated
    assert 0.5 * ls_shift < fits["mse"]["bias_shift"] < 1.2 * ls_shift


def test_without_outliers_every_loss_recovers_the_true_parameters(outcome, fits):
    data = outcome[0]
    ds = _dataset(0.0)
    np.testing.assert_allclose(data["true_weights"], ds.w_true)
    assert data["true_bias"] == pytest.approx(ds.b_true)
    for name, fit in fits.items():
        theta = np.array([*fit["clean_weights"], fit["clean_bias"]])
        truth = np.array([*ds.w_true, ds.b_true])
        assert np.max(np.abs(theta - truth)) < 0.08, name
        assert fit["clean_error"] == pytest.approx(np.linalg.norm(theta - truth), rel=1e-6)


def test_test_errors_are_those_of_the_fitted_line_on_clean_points(fits):
    ds = _dataset(0.1)
    assert not ds.train_outliers.all() and ds.train_outliers.any()
    for name, fit in fits.items():
        residual = ds.x_test.astype(np.float64) @ np.array(fit["weights"]) + fit["bias"]
        residual -= ds.y_test.ravel()
        assert fit["test_mse"] == pytest.approx(np.mean(residual**2), rel=1e-6), name
        assert fit["test_mae"] == pytest.approx(np.mean(np.abs(residual)), rel=1e-6), name
    assert fits["mse"]["test_mae"] > 5 * fits["mae"]["test_mae"]


# ----------------------------------------------------------------------------- runs and output


def test_json_has_the_fields_and_every_fit_is_a_run(outcome, runs_dir):
    data, stderr = outcome
    assert set(data) == {
        "settings", "true_weights", "true_bias", "least_squares", "fits", "run_ids",
        "compare_command",
    }  # fmt: skip
    s = data["settings"]
    assert s["losses"] == ["mse", "mae", "huber"] and s["epochs"] == 5
    assert s["n_train"] == 540 and s["n_train_outliers"] > 0
    assert len(data["true_weights"]) == 10
    assert len(data["run_ids"]) == 6
    stamp = data["run_ids"][0].rsplit("-losses-", 1)[0]
    assert data["run_ids"][:2] == [f"{stamp}-losses-mse-outliers", f"{stamp}-losses-mse-clean"]
    for run_id in data["run_ids"]:
        info = runs.load_run(run_id, runs_dir)
        assert info.status == "completed" and info.epochs_run == 5
        assert info.config["model"]["hidden"] == []
        assert run_id in data["compare_command"]
    mae_fit = data["fits"][1]
    assert set(mae_fit) >= {"weights", "bias", "clean_weights", "error", "shift", "test_mae"}
    assert runs.load_run(mae_fit["run_id"], runs_dir).config["loss"]["name"] == "mae"
    assert [e for e, _ in mae_fit["val_mae"]] == [1, 2, 3, 4, 5]
    assert "[1/6] mse, outliers" in stderr


def test_same_seed_same_fit(fits, runs_dir):
    again, _ = _invoke_json("--losses", "mse", "--runs-dir", str(runs_dir))
    (fit,) = again["fits"]
    assert fit["weights"] == fits["mse"]["weights"] and fit["bias"] == fits["mse"]["bias"]
    assert fit["run_id"] != fits["mse"]["run_id"]


def test_render_shows_the_table_the_plots_and_the_compare_command(outcome):
    buffer = io.StringIO()
    cli.render(outcome[0], Console(file=buffer, width=100, color_system=None))
    text = buffer.getvalue()
    needles = ("max|w-w*|", "shift", "test MAE", "mse", "huber", "lstsq", "val_mae per epoch",
               "fitted - true, per parameter", "kerasdl runs compare")  # fmt: skip
    for needle in needles:
        assert needle in text, needle


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--losses", "mse,cross_entropy"], "allowed: mse, mae, huber, smooth_l1"),
        (["--losses", "mse,mse"], "more than once"),
        (["--epochs", "0"], "--epochs: got 0"),
        (["--delta", "0"], "--delta: got 0.0"),
        (["--outlier-fraction", "1"], "--outlier-fraction: got 1.0"),
    ],
)
def test_bad_options_exit_2_before_training(args, needle, tmp_path):
    result = runner.invoke(app, ["experiment", "losses", *args, "--runs-dir", str(tmp_path)])
    text = _no_traceback(result)
    assert result.exit_code == 2, text
    assert needle in result.stderr and "error:" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_help_imports_no_framework():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kerasdl", "experiment", "losses", "--help"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--outlier-fraction" in result.stdout
    modules = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "kerasdl" in modules
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
