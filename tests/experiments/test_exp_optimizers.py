"""``kerasdl experiment optimizers``: the direction of the chapter's claim (3.2.9) on a tiny
seeded setting, determinism, the JSON and the table, bad input, and a light ``--help``.

One real CLI run (SGD at a small rate against Adam, 2 epochs on 300 examples) and one repeat of
Adam through `run` are shared by the tests; the table test feeds the renderer the real result.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerasdl.cli import app

runner = CliRunner()
HEAVY = ("tensorflow", "keras", "textual", "jax", "torch")
SETTING = {"epochs": 2, "limit": 300, "seed": 7}


def _no_traceback(result):
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    return text


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("optimizer-runs")


@pytest.fixture(scope="module")
def cli_json(runs_dir):
    """``--json`` of a real run: SGD at lr 0.001 against Adam at its default 0.001."""
    args = [
        "experiment",
        "optimizers",
        "--optimizers",
        "sgd,adam",
        "--lr",
        "sgd=0.001",
        "--epochs",
        str(SETTING["epochs"]),
        "--limit",
        str(SETTING["limit"]),
        "--seed",
        str(SETTING["seed"]),
        "--runs-dir",
        str(runs_dir),
        "--json",
    ]
    result = runner.invoke(app, args)
    _no_traceback(result)
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)  # stdout is the JSON and nothing else


@pytest.fixture(scope="module")
def repeat(runs_dir, cli_json):
    """Adam again, through `run`, from the same seed."""
    from kerasdl.experiments import optimizers

    return optimizers.run(optimizers=["adam"], runs_dir=runs_dir, **SETTING)


def _by_name(data):
    return {row["name"]: row for row in data["optimizers"]}


def test_adam_reaches_a_lower_loss_than_sgd_at_a_small_rate(cli_json):
    rows = _by_name(cli_json)
    sgd, adam = rows["sgd"], rows["adam"]
    assert sgd["learning_rate"] == 0.001 and adam["learning_rate"] == 0.001
    for metric in ("loss", "val_loss"):
        assert len(sgd["curves"][metric]) == len(adam["curves"][metric]) == SETTING["epochs"]
        assert adam["curves"][metric][-1][1] < sgd["curves"][metric][-1][1], metric
    assert adam["best_val_loss"] < sgd["best_val_loss"]
    assert adam["final_val_accuracy"] > sgd["final_val_accuracy"]


def test_same_seed_gives_identical_metrics(cli_json, repeat):
    first = _by_name(cli_json)["adam"]
    again = repeat.optimizers[0].to_dict()
    assert again["run_id"] != first["run_id"]
    assert again["curves"] == first["curves"]
    assert again["test_accuracy"] == first["test_accuracy"]
    assert again["test_loss"] == first["test_loss"]


def test_json_has_every_optimizer_and_its_fields(cli_json, runs_dir):
    assert cli_json["experiment"] == "optimizers"
    assert [row["name"] for row in cli_json["optimizers"]] == ["sgd", "adam"]
    stamp = cli_json["stamp"]
    fields = {
        "learning_rate",
        "weight_decay",
        "status",
        "best_val_loss",
        "best_val_loss_epoch",
        "final_val_loss",
        "best_val_accuracy",
        "final_val_accuracy",
        "target_epoch",
        "test_accuracy",
        "seconds_per_epoch",
        "curves",
        "run_id",
        "run_dir",
    }
    for row in cli_json["optimizers"]:
        assert fields <= set(row), fields - set(row)
        assert row["status"] == "completed"
        assert row["weight_decay"] == 0.0
        assert row["run_id"] == f"{stamp}-optimizers-{row['name']}"
        assert (Path(row["run_dir"]) / "events.jsonl").is_file()
        assert (Path(row["run_dir"]) / "best.keras").is_file()
        assert row["seconds_per_epoch"] > 0
        assert 0 <= row["test_accuracy"] <= 1
        losses = [value for _, value in row["curves"]["val_loss"]]
        assert row["best_val_loss"] == min(losses)
        assert row["best_val_loss_epoch"] == 1 + losses.index(min(losses))
        assert row["final_val_loss"] == losses[-1]
        # The target epoch is the first epoch at or above the target, by the curve.
        target = cli_json["settings"]["target_accuracy"]
        reached = [e for e, v in row["curves"]["val_accuracy"] if v >= target]
        assert row["target_epoch"] == (reached[0] if reached else None)
    assert cli_json["settings"]["schedule"] == "none"
    assert cli_json["settings"]["early_stopping"] is False
    assert any("AdamW" in note for note in cli_json["notes"])
    assert cli_json["reading"]
    assert str(runs_dir) in cli_json["compare_command"]


class _Stop(Exception):
    pass


def test_adamw_keeps_its_decay_and_momentum_its_momentum(runs_dir, monkeypatch):
    """The configs the runs get, without training: the runner is replaced."""
    from kerasdl.experiments import _runs, optimizers

    seen = {}

    def fake_train(config, variant, *, progress=None, callbacks=()):
        seen[variant] = config
        raise _Stop

    monkeypatch.setattr(_runs, "train_variant", fake_train)
    for name in ("adamw", "momentum", "nesterov", "sgd"):
        with pytest.raises(_Stop):
            optimizers.run(optimizers=[name], runs_dir=runs_dir)
    assert seen["adamw"].optimizer.weight_decay == optimizers.ADAMW_WEIGHT_DECAY
    assert seen["momentum"].optimizer.momentum == seen["nesterov"].optimizer.momentum == 0.9
    for name, config in seen.items():
        assert config.schedule.name == "none" and not config.early_stopping.enabled
        assert config.optimizer.learning_rate == optimizers.DEFAULT_LEARNING_RATES[name]
        if name != "adamw":
            assert config.optimizer.weight_decay == 0.0
        # The preset's network, unchanged.
        assert config.model.hidden == [256, 128] and config.model.batch_norm == [True, False]


def test_table_and_plots(repeat, monkeypatch):
    from kerasdl.experiments import optimizers

    calls = []

    def fake_run(**kwargs):
        calls.append(kwargs)
        return repeat

    monkeypatch.setattr(optimizers, "run", fake_run)
    result = runner.invoke(
        app,
        ["experiment", "optimizers", "--optimizers", "adam", "--lr", "adam=0.002", "--epochs", "3"],
        env={"COLUMNS": "100"},
    )
    text = _no_traceback(result)
    assert result.exit_code == 0, text
    assert calls[0]["optimizers"] == ["adam"]
    assert calls[0]["learning_rates"] == {"adam": 0.002}
    assert calls[0]["epochs"] == 3 and calls[0]["data"] == "mnist-mini"
    out = result.stdout
    pieces = ["Optimizers:", "best", "val_loss", "test acc", "adam", "val_loss per epoch"]
    pieces += ["val_accuracy per epoch", "kerasdl runs compare", repeat.optimizers[0].run_id]
    for piece in pieces:
        assert piece in out, piece
    for line in repeat.reading:
        assert line in out, line


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--optimizers", "sgd,lion"], "--optimizers: unknown 'lion'"),
        (["--optimizers", "sgd,,adam"], "--optimizers: got 'sgd,,adam'"),
        (["--optimizers", "adam,adam"], "'adam' given twice"),
        (["--lr", "adam"], "--lr: got 'adam'"),
        (["--lr", "adam=-1"], "--lr: got 'adam=-1'"),
        (["--optimizers", "sgd", "--lr", "adam=0.1"], "'adam' is not among --optimizers"),
        (["--epochs", "0"], "--epochs: got 0"),
        (["--target-accuracy", "1.5"], "--target-accuracy: got 1.5"),
        (["--data", "regression"], "--data: got 'regression'"),
        (["--limit", "0"], "--limit: got 0"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, needle, tmp_path):
    result = runner.invoke(
        app, ["experiment", "optimizers", *args, "--runs-dir", str(tmp_path / "runs")]
    )
    text = _no_traceback(result)
    assert result.exit_code == 2, text
    assert "error: " in result.stderr and needle in result.stderr, result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "runs").exists()  # nothing trained


def test_help_of_both_experiments_imports_no_framework():
    """``kerasdl experiment optimizers --help`` and ``... regularization --help``, in a fresh
    interpreter under ``-X importtime``: no TensorFlow, Keras, JAX or Textual."""
    code = (
        "from kerasdl.cli import app\n"
        "for name in ('optimizers', 'regularization'):\n"
        "    app(['experiment', name, '--help'], standalone_mode=False)\n"
    )
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    modules = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "kerasdl" in modules and "typer" in modules
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
    assert "--target-accuracy" in done.stdout and "--near-zero" in done.stdout
