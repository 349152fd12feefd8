"""``kerasdl runs list|show|compare|export`` on one real tiny run and two written with the real
`EventWriter` (so their numbers are known), a missing run, and a light start."""

import csv
import io
import json
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from kerasdl.cli import app
from kerasdl.config import TrainConfig
from kerasdl.events import EventWriter, read_events

runner = CliRunner()
WIDE = {"COLUMNS": "220"}  # tables on one line each, so a row can be read back


def _runs(*args):
    result = runner.invoke(app, ["runs", *map(str, args)], env=WIDE)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def _write_run(runs_dir, run_id, val_losses, status, *, lr_change=None, notice=None):
    """A run directory as the runner writes it: config.toml and events.jsonl."""
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True)
    config = TrainConfig().override({"epochs": 5, "data.name": "mnist-mini"})
    (run_dir / "config.toml").write_text(config.to_toml())
    clock = iter(range(1_700_000_000, 1_700_000_100))
    with EventWriter(run_dir / "events.jsonl", clock=lambda: float(next(clock))) as events:
        events.emit(
            "run_started",
            config=config.to_dict(),
            dataset={"name": "mnist-mini", "source": "bundled mnist-mini", "notice": None},
            params=1000,
            backend="tensorflow",
            devices=["CPU:0"],
            epochs=5,
            steps_per_epoch=10,
            batch_size=64,
            optimizer={"name": "adamw", "learning_rate": 0.001},
            resumed_from=None,
        )
        best, best_epoch = None, None
        for epoch, val_loss in enumerate(val_losses, start=1):
            if best is None or val_loss < best:
                best, best_epoch = val_loss, epoch
            if lr_change and lr_change["epoch"] == epoch:
                events.emit("lr_changed", **lr_change)
            events.emit(
                "epoch_ended",
                epoch=epoch,
                epochs=5,
                metrics={
                    "loss": val_loss + 0.1,
                    "accuracy": 1 - val_loss / 2,
                    "val_loss": val_loss,
                    "val_accuracy": 1 - val_loss / 3,
                },
                learning_rate=0.001,
                early_stopping={
                    "monitor": "val_loss",
                    "best": best,
                    "best_epoch": best_epoch,
                    "wait": epoch - best_epoch,
                    "patience": 5,
                    "epochs_left": 5 - (epoch - best_epoch),
                    "stopped": False,
                },
                plateau=None,
                checkpoint_saved=epoch == best_epoch,
                epoch_seconds=1.5,
                samples_per_s=1000.0,
            )
        if notice:
            events.emit("notice", level="warning", message=notice)
        events.emit(
            "run_finished",
            status=status,
            best_epoch=best_epoch,
            best={"monitor": "val_loss", "value": best},
            test={"loss": best + 0.01, "accuracy": 0.9},
            duration_s=12.0,
            epochs_run=len(val_losses),
            error=None,
        )
    return run_dir


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    """Two written runs (a, b) and one real 2-epoch mnist-mini run (real)."""
    runs_dir = tmp_path_factory.mktemp("runs")
    _write_run(
        runs_dir,
        "a",
        [0.5, 0.25, 0.375],
        "completed",
        lr_change={"epoch": 3, "old": 0.001, "new": 0.0005, "reason": "schedule"},
        notice="a note for the log",
    )
    _write_run(runs_dir, "b", [0.75, 0.625], "early_stopped")
    result = runner.invoke(
        app,
        ["train", "--dataset", "mnist-mini", "--limit", "512", "--epochs", "2",
         "--runs-dir", str(runs_dir), "--run-name", "real", "--ui", "none"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return runs_dir


def _row(stdout, label):
    """The cells of the table row whose first cell is ``label``."""
    for line in stdout.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) > 1 and cells[0] == label:
            return cells[1:]
    raise AssertionError(f"no row {label!r} in:\n{stdout}")


def test_list_shows_every_run_oldest_first(runs_dir):
    result = _runs("list", "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    assert f"Runs in {runs_dir}" in result.stdout
    assert _row(result.stdout, "a")[:1] == ["completed"]
    row_a = _row(result.stdout, "a")
    assert row_a[2:5] == ["mnist-mini", "3/5", "0.2500 @ 2"] and row_a[5] == "0.9000"
    assert "best val_loss" in result.stdout and "test acc" in result.stdout  # headers
    assert _row(result.stdout, "b")[0] == "early_stopped"
    row_real = _row(result.stdout, "real")
    assert row_real[0] == "completed" and "2/2" in row_real and "mnist-mini" in row_real
    order = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert order.index("a") < order.index("b") < order.index("real")


def test_list_of_a_missing_folder(tmp_path):
    result = _runs("list", "--runs-dir", tmp_path / "none")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"No runs in {tmp_path / 'none'} (the folder does not exist)."


def test_show_gives_config_status_best_and_epochs(runs_dir):
    result = _runs("show", "a", "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    fields = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition("  ")
        if key and not key.startswith((" ", "┏", "┃", "┡", "│", "└", "Epochs")):
            fields[key] = value.strip()
    assert fields["run"] == "a" and fields["status"] == "completed"
    assert fields["epochs"] == "3/5"
    assert fields["optimizer"] == "adamw lr 0.001, weight_decay 0.01"
    assert fields["schedule"] == "step (step_size 10, gamma 0.5)"
    assert fields["early stopping"] == "val_loss patience 5"
    assert fields["training"] == "5 epochs, batch 64, seed 42, strategy default"
    assert fields["model"].startswith("256-BN-relu-Dropout(0.5) / 128-relu")
    assert fields["best"] == "val_loss 0.2500 @ 2"
    assert fields["test"] == "loss 0.2600 accuracy 0.9000"
    # The epoch table: the numbers of events.jsonl, 4 decimals; the best epoch starred.
    events = [e for e in read_events(runs_dir / "a" / "events.jsonl") if e["type"] == "epoch_ended"]
    for event in events:
        star = " *" if event["epoch"] == 2 else ""
        cells = _row(result.stdout, f"{event['epoch']}{star}")
        m = event["metrics"]
        expected = [f"{m[k]:.4f}" for k in ("loss", "accuracy", "val_loss", "val_accuracy")]
        assert cells == [*expected, "0.001", "1.5 s"]
    assert "lr 0.001 -> 0.0005 after epoch 3 (schedule)" in result.stdout
    assert "[warning] a note for the log" in result.stdout


def test_show_the_real_run_by_its_path(runs_dir):
    result = _runs("show", runs_dir / "real")
    assert result.exit_code == 0, result.output
    assert "completed" in result.stdout and "2/2" in result.stdout
    table = result.stdout[result.stdout.index("Epochs") :]
    epochs = [m.group(1) for m in re.finditer(r"^\s*(\d+(?: \*)?)\s{2,}", table, re.M)]
    assert [e.rstrip(" *") for e in epochs] == ["1", "2"]
    assert sum(e.endswith("*") for e in epochs) == 1  # the best epoch


@pytest.mark.parametrize("command", ["show", "export", "compare"])
def test_a_missing_run_exits_2(runs_dir, command):
    result = _runs(command, "nope", "--runs-dir", runs_dir)
    assert result.exit_code == 2
    assert (
        result.stderr.strip()
        == f"error: run: no run 'nope': not a run directory, nor a run id in {runs_dir}/"
    )


def test_compare_tables_best_and_final_metrics_and_draws_curves(runs_dir):
    result = _runs("compare", "a", "b", "real", "--runs-dir", runs_dir, "--width", 30)
    assert result.exit_code == 0, result.output
    out = result.stdout
    header = next(line for line in out.splitlines() if "● a" in line)
    assert "▲ b" in header and "■ real" in header
    assert _row(out, "status")[:2] == ["completed", "early_stopped"]
    assert _row(out, "epochs")[:2] == ["3", "2"]
    assert _row(out, "final val_loss")[:2] == ["0.3750", "0.6250"]
    assert _row(out, "test accuracy")[:2] == ["0.9000", "0.9000"]
    assert _row(out, "best")[:2] == ["val_loss 0.2500 @ 2", "val_loss 0.6250 @ 2"]
    # Curves: val_loss and val_accuracy by default, one marker per run, the legend under each.
    assert "val_loss per epoch" in out and "val_accuracy per epoch" in out
    plot = out[out.index("val_loss per epoch") : out.index("val_accuracy per epoch")]
    assert plot.count("●") == 3 + 1 and plot.count("▲") == 2 + 1  # points + legend
    top_label = plot.splitlines()[1].split("┤")[0].strip()
    real_val = [e["metrics"]["val_loss"] for e in read_events(runs_dir / "real" / "events.jsonl")
                if e["type"] == "epoch_ended"]  # fmt: skip
    assert float(top_label) == pytest.approx(max(0.75, *real_val), abs=1e-4)


def test_compare_chosen_and_unknown_metrics(runs_dir):
    result = _runs("compare", "a", "b", "--runs-dir", runs_dir, "-m", "loss", "-m", "learning_rate")
    assert result.exit_code == 0, result.output
    assert "loss per epoch" in result.stdout and "learning_rate per epoch" in result.stdout
    assert "val_loss per epoch" not in result.stdout
    result = _runs("compare", "a", "b", "--runs-dir", runs_dir, "-m", "bleu")
    assert result.exit_code == 2
    assert "no metric 'bleu' in these runs; available: loss, accuracy" in result.stderr
    assert result.stdout == ""  # checked before anything is printed


def test_compare_per_step_draws_the_step_history(tmp_path):
    from kerasdl.steps import StepWriter

    _write_run(tmp_path, "s", [0.5, 0.25], "completed")
    _write_run(tmp_path, "t", [0.5], "completed")
    _write_run(tmp_path, "none", [0.5], "completed")
    writer = StepWriter(tmp_path / "s" / "steps.jsonl")
    for step, loss in [(10, 2.5), (20, 1.25), (30, 0.75), (40, 0.5)]:
        writer.add(step, 1 + (step > 20), {"loss": loss, "accuracy": 1 - loss / 4}, now=step)
    StepWriter(tmp_path / "t" / "steps.jsonl").add(5, 1, {"loss": 3.0}, now=0.0)
    result = _runs("compare", "s", "t", "none", "--runs-dir", tmp_path, "--per", "step")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "No step history (steps.jsonl) in: none" in out
    assert "loss per step" in out and "per epoch" not in out
    plot = out[out.index("loss per step") :]
    assert plot.count("●") == 4 + 1 and plot.count("▲") == 1 + 1  # points + legend
    assert float(plot.splitlines()[1].split("┤")[0]) == 3.0  # the top: t's 3.0
    assert float(plot.splitlines()[12].split("┤")[0]) == 0.5  # the bottom: s's last
    axis = plot.splitlines()[14].split()
    assert axis == ["step", "5", "40"]
    result = _runs("compare", "s", "--runs-dir", tmp_path, "--per", "step", "-m", "accuracy")
    assert result.exit_code == 0 and "accuracy per step" in result.stdout
    result = _runs("compare", "s", "--runs-dir", tmp_path, "--per", "step", "-m", "val_loss")
    assert result.exit_code == 2
    assert "no metric 'val_loss' in these runs; available: loss, accuracy" in result.stderr


def test_compare_per_step_of_a_real_run(runs_dir):
    """The real run wrote steps.jsonl (on by default): its last step's loss is the top or
    bottom of its curve."""
    from kerasdl.steps import read_steps

    rows = read_steps(runs_dir / "real").rows
    assert [row.epoch for row in rows][-1] == 2
    result = _runs("compare", "real", "--runs-dir", runs_dir, "--per", "step")
    assert result.exit_code == 0, result.output
    assert "loss per step" in result.stdout
    assert f"step {rows[0].step}" in result.stdout


def test_export_of_several_runs_needs_tensorboard(runs_dir):
    result = _runs("export", "a", "b", "--runs-dir", runs_dir)
    assert result.exit_code == 2
    assert "--csv exports one run; got 2" in result.stderr


def test_tensorboard_folders_are_plain_unique_names():
    from kerasdl.cli.runs import tensorboard_folder

    taken = set()
    names = ["demo", "demo", "..", ".hidden", "a/b", "x\x1b]0;t\x07", ""]
    assert [tensorboard_folder(n, taken) for n in names] == [
        "demo", "demo-2", "run", "hidden", "a_b", "x__0_t_", "run-2"
    ]  # fmt: skip


def test_export_csv_to_stdout_has_one_row_per_epoch_with_the_event_values(runs_dir):
    result = _runs("export", "real", "--csv", "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    events = [
        e for e in read_events(runs_dir / "real" / "events.jsonl") if e["type"] == "epoch_ended"
    ]
    assert [int(r["epoch"]) for r in rows] == [e["epoch"] for e in events] == [1, 2]
    for row, event in zip(rows, events, strict=True):
        for name, value in event["metrics"].items():
            assert float(row[name]) == value  # full precision
        assert float(row["learning_rate"]) == event["learning_rate"]


def test_export_to_a_file_and_to_an_impossible_place(runs_dir, tmp_path):
    out = tmp_path / "a.csv"
    result = _runs("export", "a", "--runs-dir", runs_dir, "-o", out)
    assert result.exit_code == 0
    assert result.stderr.strip() == f"wrote 3 epochs to {out}"
    assert out.read_text().splitlines()[0].startswith("epoch,loss,accuracy,val_loss")
    result = _runs("export", "a", "--runs-dir", runs_dir, "-o", tmp_path / "no" / "a.csv")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: cannot write {tmp_path / 'no' / 'a.csv'}")


def test_runs_commands_start_without_tensorflow(runs_dir):
    commands = [
        ["runs", "list", "--runs-dir", runs_dir],
        ["runs", "show", "a", "--runs-dir", runs_dir],
        ["runs", "compare", "a", "b", "--runs-dir", runs_dir],
        ["runs", "compare", "a", "real", "--per", "step", "--runs-dir", runs_dir],
        ["runs", "export", "a", "--runs-dir", runs_dir],
        *(["runs", name, "--help"] for name in ("list", "show", "compare", "export")),
        ["runs", "--help"],
    ]
    for args in commands:
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "kerasdl", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        modules = {
            line.rsplit("|", 1)[1].strip().split(".")[0]
            for line in result.stderr.splitlines()
            if line.startswith("import time:") and "|" in line
        }
        assert "kerasdl" in modules
        assert not modules & {"tensorflow", "keras", "textual", "tensorboard", "jax", "torch"}


def test_summary_only_run_is_listed(tmp_path):
    """A run whose events.jsonl was lost still shows, from summary.json."""
    run_dir = tmp_path / "s"
    run_dir.mkdir()
    (run_dir / "summary.json").write_text(
        json.dumps({"status": "completed", "epochs_run": 4, "test": {"accuracy": 0.5}})
    )
    result = _runs("list", "--runs-dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert _row(result.stdout, "s")[0] == "completed"
