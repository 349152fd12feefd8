"""Every table of ``runs list/show/compare``, the experiments and ``lr-find`` at 80 and 120
columns: no line longer than the width, each row on one line (or one line per part when the
table is split), every cell shown whole (each cell read back is one of its row's cells, so no
number is cut to ``0.``), ids never wrapped; left-out columns are named."""

import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console
from typer.testing import CliRunner

from kerasdl import runs
from kerasdl.cli import (
    app,
    experiment_losses,
    experiment_optimizers,
    experiment_regularization,
    lr_find,
)
from kerasdl.cli.fit import fitted
from kerasdl.cli.plain import titled_table

sys.path.insert(0, str(Path(__file__).parent))
from test_cli_runs import _write_run

WIDTHS = (80, 120)
NUMBER = re.compile(r"-?\d+\.\d+(?:e[-+]\d+)?|\d+/\d+|\d+")
STAMPED = "20250131-154502-3fa9c1"
EXPERIMENT = [f"20250201-101010-c0ffee-optimizers-{n}" for n in ("sgd", "momentum", "adamw")]


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    """A generated id, a named run and three experiment runs."""
    runs_dir = tmp_path_factory.mktemp("runs")
    _write_run(runs_dir, STAMPED, [0.5, 0.25, 0.375], "completed")
    _write_run(runs_dir, "demo-es", [0.75, 0.625], "early_stopped")
    for run_id in EXPERIMENT:
        _write_run(runs_dir, run_id, [0.5, 0.4], "completed")
    return runs_dir


def _cells(line: str) -> list[str]:
    return [cell for cell in re.split(r"\s{2,}", line.strip()) if cell]


def check_rows(text: str, width: int, rows: list[list[str]]) -> None:
    """``text`` fits ``width``; each row's first cell starts one line per part, and every cell
    on those lines is one of the row's cells, whole."""
    lines = text.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= width, text
    for row in rows:
        found = [line for line in lines if _cells(line)[:1] == [row[0]]]
        assert found, f"no line for {row[0]!r} at {width}:\n{text}"
        for line in found:
            for cell in _cells(line)[1:]:
                assert cell in row, f"{cell!r} cut (row {row}) at {width}:\n{text}"
                for number in NUMBER.findall(cell):
                    assert any(number in whole for whole in row)


def _cli(width, *args):
    result = CliRunner().invoke(app, list(map(str, args)), env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_short_ids_drop_the_stamp_and_resolve(runs_dir):
    shown = runs.short_ids([STAMPED, "demo-es", *EXPERIMENT])
    assert shown[STAMPED] == "3fa9c1" and shown["demo-es"] == "demo-es"
    assert shown[EXPERIMENT[0]] == "c0ffee-optimizers-sgd"
    assert runs.load_run("3fa9c1", runs_dir).run_id == STAMPED
    assert runs.load_run("c0ffee-optimizers-sgd", runs_dir).run_id == EXPERIMENT[0]
    # Two ids with one short form keep their whole ids.
    twin = ["20250101-000000-abcdef", "20250102-000000-abcdef"]
    assert runs.short_ids(twin) == {t: t for t in twin}


@pytest.mark.parametrize("width", WIDTHS)
def test_runs_list_fits(runs_dir, width):
    out = _cli(width, "runs", "list", "--runs-dir", runs_dir)
    rows = [["3fa9c1", "completed", "3/5", "0.2500 @ 2", "0.9000"]]
    rows.append(["demo-es", "early_stopped", "2/5", "0.6250 @ 2", "0.9000"])
    rows += [[runs.short_id(r), "completed", "2/5", "0.4000 @ 2", "0.9000"] for r in EXPERIMENT]
    for row in rows:  # the data and started cells, where shown, are whole too
        row += ["mnist-mini", *re.findall(r"\d\d-\d\d \d\d:\d\d", out)]
    check_rows(out, width, rows)
    assert STAMPED not in out
    if width == 80:
        assert "not shown at 80 columns" in out
    full = _cli(width, "runs", "list", "--runs-dir", runs_dir, "--full-ids")
    assert any(_cells(line)[:1] == [STAMPED] for line in full.splitlines())
    assert max(len(line.rstrip()) for line in full.splitlines()) <= width


@pytest.mark.parametrize("width", WIDTHS)
def test_runs_show_fits(runs_dir, width):
    out = _cli(width, "runs", "show", "3fa9c1", "--runs-dir", runs_dir)
    epochs = out[out.index("Epochs") :]
    rows = [["1", "0.6000", "0.7500", "0.5000", "0.8333", "0.001", "1.5 s"]]
    rows.append(["2 *", "0.3500", "0.8750", "0.2500", "0.9167", "0.001", "1.5 s"])
    check_rows(epochs, width, rows)


@pytest.mark.parametrize("width", WIDTHS)
def test_runs_compare_fits(runs_dir, width):
    out = _cli(width, "runs", "compare", "3fa9c1", "demo-es", *EXPERIMENT, "--runs-dir", runs_dir)
    table = out[: out.index("val_loss per epoch")]
    rows = [
        ["final val_loss", "0.3750", "0.6250", "0.4000"],
        ["test accuracy", "0.9000"],
        ["best", "val_loss 0.2500 @ 2", "val_loss 0.6250 @ 2", "val_loss 0.4000 @ 2"],
        ["status", "completed", "early_stopped"],
    ]
    check_rows(table, width, rows)
    for run_id in ["3fa9c1", "demo-es", *map(runs.short_id, EXPERIMENT)]:  # whole headers
        assert re.search(rf"[●▲■◆✚] {re.escape(run_id)}(\s|$)", table), run_id


def _print(renderable, width):
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def _opt_row(name, lr):
    return SimpleNamespace(
        name=name, learning_rate=lr, best_val_loss=0.123456, best_val_loss_epoch=7,
        final_val_loss=0.2345, best_val_accuracy=0.9612, final_val_accuracy=0.9588,
        target_epoch=3, test_accuracy=0.9601, seconds_per_epoch=1.25, status="completed",
        run_id=f"x-{name}", curves={"val_loss": [(1, 0.5), (2, 0.4)],
                                    "val_accuracy": [(1, 0.8), (2, 0.9)]},
    )  # fmt: skip


@pytest.mark.parametrize("width", WIDTHS)
def test_experiment_optimizers_table_fits(width, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(width))
    rows = [_opt_row("sgd", 0.1), _opt_row("nesterov", 0.01), _opt_row("adamw", 0.0003)]
    result = SimpleNamespace(
        optimizers=rows, settings={"target_accuracy": 0.9, "data": "mnist", "epochs": 10,
                                   "seed": 42}, notes=[], reading=[], runs_dir="runs",
        compare_command="kerasdl runs compare ...",
    )  # fmt: skip
    experiment_optimizers.render(result)
    out = capsys.readouterr().out
    table = out[: out.index("val_loss per epoch")]
    cells = ["0.1235", "7", "0.2345", "0.9612", "0.9588", "3", "0.9601", "1.25"]
    check_rows(table, width, [[r.name, f"{r.learning_rate:.3g}", *cells] for r in rows])
    assert "0.0003" in table and "0.…" not in table  # the lr column whole


@pytest.mark.parametrize("width", WIDTHS)
def test_experiment_losses_table_fits(width):
    fit = {"loss": "huber", "bias": 0.512345, "weights": [1.01, 2.0], "error": 0.0312,
           "clean_error": 0.0101, "shift": 0.0211, "test_mse": 0.2501, "test_mae": 0.4012,
           "clean_test_mae": 0.3999}  # fmt: skip
    result = {
        "settings": {"n_train": 200, "n_train_outliers": 20, "n_test": 100},
        "fits": [fit, {**fit, "loss": "mse", "shift": 0.5}],
        "true_weights": [1.0, 2.0],
        "least_squares": {"weights": [1.5, 2.0], "bias": 0.9, "error": 0.5, "clean_error": 0.01,
                          "shift": 0.4},
    }  # fmt: skip
    table = experiment_losses.fits_table(result)
    out = _print(fitted(table, drop=("clean MAE", "test MAE", "clean err")), width)
    cells = ["0.5123", "0.0100", "0.0312", "0.0101", "0.0211", "0.5000", "0.2501", "0.4012",
             "0.3999"]  # fmt: skip
    check_rows(out, width, [["huber", *cells], ["mse", *cells]])


@pytest.mark.parametrize("width", WIDTHS)
def test_experiment_regularization_tables_fit(width):
    variants = [
        SimpleNamespace(name=name, train_loss=0.0123, train_accuracy=0.9987, val_loss=0.0712,
                        val_accuracy=0.9791, gap_loss=0.0589, gap_accuracy=0.0196,
                        test_accuracy=0.9788, near_zero={f"dense_{i}": 0.1234 for i in range(6)},
                        mean_abs_weight={"all": 0.0312})
        for name in ("baseline", "l2+dropout+bn")
    ]  # fmt: skip
    result = SimpleNamespace(
        settings={"data": "mnist", "epochs": 10, "seed": 42, "near_zero": 1e-3},
        variants=variants,
        initial_near_zero={f"dense_{i}": 0.0101 for i in range(6)},
        initial_mean_abs_weight={"all": 0.0456},
    )
    gap = _print(
        fitted(experiment_regularization.gap_table(result), drop=("train loss", "train acc")),
        width,
    )
    cells = ["0.0123", "0.9987", "0.0712", "0.9791", "0.0589", "0.0196", "0.9788"]
    check_rows(gap, width, [[v.name, *cells] for v in variants])
    near = _print(fitted(experiment_regularization.near_zero_table(result)), width)
    check_rows(near, width, [[v.name, "12.34%", "0.0312"] for v in variants])


@pytest.mark.parametrize("width", WIDTHS)
def test_lr_find_table_fits(width):
    result = SimpleNamespace(
        suggestions={"steepest": 0.00123, "minimum_div_10": 0.000456,
                     "minimum": {"lr": 0.00456, "loss": 0.123}},
        diverge=4.0, stop_reason="diverged", steps_run=87, steps=100, stop_lr=0.0789,
    )  # fmt: skip
    out = _print(fitted(lr_find.result_table(result), wrap=("note",)), width)
    assert max(len(line.rstrip()) for line in out.splitlines()) <= width
    for lr in ("0.00123", "0.000456", "0.00456", "0.0789"):
        assert lr in out


def test_a_table_too_wide_is_split_repeating_its_labels():
    table = titled_table("wide")
    table.add_column("label")
    for i in range(12):
        table.add_column(f"column {i}", justify="right")
    table.add_row("row", *(f"{i}.123456" for i in range(12)))
    out = _print(fitted(table), 80)
    lines = [line for line in out.splitlines() if line.strip().startswith("row")]
    assert len(lines) > 1  # one line per part
    check_rows(out, 80, [["row", *(f"{i}.123456" for i in range(12))]])
    shown = " ".join(lines)
    assert all(f"{i}.123456" in shown for i in range(12))  # split, nothing left out
