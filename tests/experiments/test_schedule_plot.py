"""``kerasdl schedule plot``: the rates it reports are the chapter's formulas (3.5) written in
NumPy here, and what `kerasdl.schedules` computes, at every step; the table lists each change;
config errors exit 2; ``--help`` imports no framework."""

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from kerasdl.cli import app
from kerasdl.cli.schedule import change_points, table_rows

runner = CliRunner()
HEAVY = ("tensorflow", "keras", "textual", "jax", "torch")


def _invoke(*args):
    result = runner.invoke(app, ["schedule", "plot", *map(str, args)], env={"COLUMNS": "100"})
    assert "Traceback" not in result.stdout + result.stderr
    return result


def _rates(*args):
    result = _invoke(*args, "--json", "--per", "step")
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    return data, np.array(data["learning_rates"], dtype=np.float64)


# ----------------------------------------------------------------------------- the formulas


def test_step_lr_equals_the_formula_and_kerasdl_schedules():
    # StepLR (3.5.1) stepped per epoch: lr = eta_0 * gamma ** ((step // K) // step_size).
    data, rates = _rates(
        "step", "--epochs", 7, "--steps-per-epoch", 3, "--lr", 0.1, "--step-size", 2, "--gamma", 0.5
    )
    k = np.arange(21)
    expected = 0.1 * 0.5 ** ((k // 3) // 2)
    np.testing.assert_allclose(rates, expected, rtol=1e-6)
    assert data["name"] == "step" and data["steps"] == 21 and data["per"] == "step"
    assert data["params"]["step_size"] == 2 and data["params"]["gamma"] == 0.5
    assert data["params"]["learning_rate"] == 0.1
    assert data["built"]["class"] == "StepLR" and data["built"]["warmup_steps"] == 0

    from kerasdl.schedules import StepLR

    direct = np.asarray(StepLR(0.1, step_size=2, gamma=0.5, steps_per_epoch=3)(k))
    np.testing.assert_array_equal(rates.astype(np.float32), direct)


def test_cosine_equals_the_formula():
    # eta_min + (eta_0 - eta_min) * (1 + cos(pi * e / T_max)) / 2, e = step // K, to 2 * T_max.
    _, rates = _rates(
        "cosine",
        "--epochs", 9, "--steps-per-epoch", 4, "--lr", 0.1, "--t-max", 4, "--eta-min", 0.01,
    )  # fmt: skip
    e = np.arange(36) // 4
    expected = 0.01 + (0.1 - 0.01) * (1 + np.cos(np.pi * e / 4)) / 2
    np.testing.assert_allclose(rates, expected, rtol=1e-6)


def test_noam_equals_the_chapters_warmup_scheduler():
    # The chapter's WarmupScheduler (3.5.2) with the step counted from 1 (ERRATA):
    # s = k + 1, lr = scale * d_model ** -0.5 * min(s ** -0.5, s * warmup_steps ** -1.5).
    _, rates = _rates(
        "noam",
        "--epochs", 3, "--steps-per-epoch", 50,
        "--d-model", 64, "--warmup-steps", 40, "--scale", 2.0,
    )  # fmt: skip
    s = np.arange(150) + 1.0
    expected = 2.0 * 64**-0.5 * np.minimum(s**-0.5, s * 40**-1.5)
    np.testing.assert_allclose(rates, expected, rtol=1e-6)
    assert int(np.argmax(rates)) == 39  # the peak at step warmup_steps - 1


def test_warmup_ramps_linearly_then_runs_the_schedule_from_its_step_0():
    # warmup_epochs=2 of K=5: W = 10 steps; lr = eta_0 * k / W for k < W, then StepLR(k - W).
    data, rates = _rates(
        "step",
        "--epochs", 8, "--steps-per-epoch", 5, "--lr", 0.2,
        "--step-size", 2, "--gamma", 0.1, "--warmup-epochs", 2,
    )  # fmt: skip
    k = np.arange(40)
    after = 0.2 * 0.1 ** ((np.maximum(k - 10, 0) // 5) // 2)
    expected = np.where(k < 10, 0.2 * k / 10, after)
    np.testing.assert_allclose(rates, expected, rtol=1e-6, atol=1e-12)
    assert data["built"]["warmup_steps"] == 10
    assert data["schedule"].startswith("LinearWarmup(after=StepLR(")


def test_warmup_into_cosine_with_default_t_max_is_the_epochs_after_the_warmup():
    # --set reaches every [schedule] key; t_max unset: epochs - warmup_epochs = 4.
    _, rates = _rates(
        "cosine", "--epochs", 5, "--steps-per-epoch", 2, "--lr", 0.1, "--set",
        "schedule.warmup_epochs=1",
    )  # fmt: skip
    k = np.arange(10)
    e = np.maximum(k - 2, 0) // 2
    expected = np.where(k < 2, 0.1 * k / 2, (0.1 / 2) * (1 + np.cos(np.pi * e / 4)))
    np.testing.assert_allclose(rates, expected, rtol=1e-6, atol=1e-12)


def test_per_epoch_gives_the_rate_at_each_epoch_start():
    result = _invoke(
        "exponential", "--epochs", 5, "--steps-per-epoch", 7, "--lr", 0.1, "--gamma", 0.9, "--json"
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["per"] == "epoch"
    np.testing.assert_allclose(data["learning_rates"], 0.1 * 0.9 ** np.arange(5), rtol=1e-6)


# ----------------------------------------------------------------------------- change points


def test_change_points_and_table_rows_list_every_drop():
    # StepLR(0.1, step_size=2, gamma=0.5), K=3, 7 epochs: drops at steps 6, 12, 18.
    k = np.arange(21)
    rates = (0.1 * 0.5 ** ((k // 3) // 2)).astype(np.float32)
    assert change_points(rates).tolist() == [6, 12, 18]
    rows = table_rows(rates, 3)
    assert None not in rows  # nothing hidden
    steps = [row["step"] for row in rows]
    assert steps == [0, 3, 6, 9, 12, 15, 18, 20]  # each epoch start, and the last step
    factors = {row["step"]: row["factor"] for row in rows if row["factor"] is not None}
    assert factors == {6: pytest.approx(0.5), 12: pytest.approx(0.5), 18: pytest.approx(0.5)}
    assert rows[-1]["note"] == "last step"


def test_table_rows_shorten_a_per_step_ramp_with_dots():
    # Warmup over 20 steps (K = 10) to 0.1, then constant: the ramp changes at steps 1..20.
    k = np.arange(40)
    rates = np.where(k < 20, 0.1 * k / 20, 0.1)
    assert change_points(rates).tolist() == list(range(1, 21))
    rows = table_rows(rates, 10, marks={20: "warmup done"})
    shown = [None if row is None else row["step"] for row in rows]
    # Ramp ends (1, 2 and 19, 20), epoch starts, "..." where hidden changes lie between rows.
    assert shown == [0, 1, 2, None, 10, None, 19, 20, 30, 39]
    by_step = {row["step"]: row for row in rows if row is not None}
    assert by_step[20]["note"] == "warmup done, peak"
    assert by_step[2]["factor"] == pytest.approx(2.0)
    assert by_step[1]["factor"] is None  # after a rate of 0


def test_table_rows_are_capped():
    rates = 1.0 / np.sqrt(np.arange(1, 5001))  # a change at every step, 100 epochs of 50
    rows = table_rows(rates, 50, max_rows=20)
    assert len(rows) <= 21 and rows.count(None) >= 1
    assert rows[0]["step"] == 0 and rows[-1]["step"] == 4999
    # No two "..." rows in a row.
    assert all(not (a is None and b is None) for a, b in itertools.pairwise(rows))


def test_relative_threshold_ignores_float_noise():
    rates = np.array([1.0, 1.0 + 1e-9, 1.0 + 2e-9, 0.5])
    assert change_points(rates).tolist() == [3]


# ----------------------------------------------------------------------------- the command


def test_text_output_has_plot_and_table():
    result = _invoke(
        "step", "--epochs", 6, "--steps-per-epoch", 4, "--step-size", 2, "--warmup-epochs", 1
    )
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "LinearWarmup(after=StepLR(initial_learning_rate=0.001" in out
    assert "┤" in out and "└" in out and "epoch 0" in out  # the plot, x axis in epochs
    assert "lr at epoch starts and changes" in out
    assert "warmup done" in out and "x0.5" in out and "last step" in out


def test_per_step_and_log_y():
    result = _invoke("noam", "--epochs", 2, "--steps-per-epoch", 30, "--per", "step", "--log-y")
    assert result.exit_code == 0, result.stderr
    assert "step 0" in result.stdout and "59" in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["stepp"], "schedule.name: got 'stepp'; allowed: one of 'none', 'step', 'exponential', "
         "'cosine', 'noam', 'multistep', 'constant', 'linear', 'polynomial', 'cosine_restarts', "
         "'cyclic', 'onecycle' (did you mean 'step'?)"),
        (["step", "--gamma", "0"], "schedule.gamma: got 0.0"),
        (["cosine", "--eta-min", "1"], "schedule.eta_min: got 1.0"),
        (["noam", "--warmup-epochs", "1"], "schedule.warmup_epochs: got 1"),
        (["step", "--warmup-epochs", "3"], "schedule.warmup_epochs: got 3"),
        (["step", "--set", "optimizer.name=sgd"], "--set: got 'optimizer.name'"),
        (["step", "--set", "schedule.gama=0.1"], "schedule.gama: unknown key"),
    ],
)  # fmt: skip
def test_config_errors_exit_2_with_one_line(args, needle):
    result = _invoke(*args, "--epochs", 3, "--steps-per-epoch", 2)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert needle in " ".join(result.stderr.split())


def test_bad_steps_per_epoch_exits_2():
    result = _invoke("step", "--epochs", 3, "--steps-per-epoch", 0)
    assert result.exit_code == 2
    assert "error: --steps-per-epoch: got 0; allowed: an integer >= 1" in result.stderr


def test_help_imports_no_framework():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kerasdl", "schedule", "plot", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--steps-per-epoch" in result.stdout
    modules = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "kerasdl" in modules  # importtime worked: the check can fail
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_total_steps_are_capped():
    result = _invoke("step", "--epochs", 100000, "--steps-per-epoch", 1000)
    assert result.exit_code == 2 and "at most 16777216" in result.stderr
