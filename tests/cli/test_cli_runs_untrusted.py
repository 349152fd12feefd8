"""Run directories are untrusted input: `kerasdl runs list|show|compare|export` print every
string from one (the directory's name, the data name, notices, metric names, lr-change reasons,
errors, statuses) inert: control characters shown as escapes, Rich markup shown as text, and
CSV cells that a spreadsheet would run as formulas made text."""

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from kerasdl.cli import app
from kerasdl.cli.console import safe_console
from kerasdl.config import TrainConfig
from kerasdl.events import EventWriter

runner = CliRunner()

TITLE = "\x1b]0;pwned\x07"  # sets the terminal window's title
CLEAR = "\x1b[2J"  # clears the screen
LINK = "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\"  # an OSC 8 hyperlink
CSI = "\x9b2J"  # the C1 form of ESC [
MARKUP = "[/red][link=http://evil.example]x[/link][bold red]BIG[/]"
DIR_MARKUP = "[bold red]BIG[link=mailto:x]"  # a directory name has no "/"
RAW = ("\x1b", "\x07", "\x9b")


def _write_bad_run(runs_dir, run_id):
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True)
    config = TrainConfig().override({"epochs": 2, "data.name": "mnist-mini"}).to_dict()
    config["data"]["name"] = f"mnist{MARKUP}{TITLE}"
    config["run_name"] = f"n{CLEAR}"
    clock = iter(range(1_700_000_000, 1_700_000_100))
    with EventWriter(run_dir / "events.jsonl", clock=lambda: float(next(clock))) as events:
        events.emit(
            "run_started",
            config=config,
            dataset={"name": f"d{MARKUP}", "source": f"s{LINK}", "notice": f"n{CSI}"},
            params=10,
            backend=f"tf{TITLE}",
            devices=[f"CPU{CLEAR}"],
            epochs=2,
            steps_per_epoch=1,
            batch_size=1,
            optimizer={"name": f"adamw{MARKUP}", "learning_rate": 0.001},
            resumed_from=None,
        )
        events.emit("lr_changed", epoch=1, old=0.001, new=0.0005, reason=f"why{TITLE}{MARKUP}")
        for epoch in (1, 2):
            events.emit(
                "epoch_ended",
                epoch=epoch,
                epochs=2,
                metrics={
                    "loss": 0.5 / epoch,
                    "val_loss": 0.6 / epoch,
                    f"=cmd|' /C calc'!A0{CLEAR}": 1.0,
                    f"m{MARKUP}{LINK}": 2.0,
                },
                learning_rate=0.001,
                early_stopping={"monitor": f"val_loss{TITLE}", "best": 0.3, "best_epoch": 2,
                                "wait": 0, "patience": 5, "epochs_left": 5, "stopped": False},
                plateau=None,
                checkpoint_saved=True,
                epoch_seconds=1.0,
                samples_per_s=10.0,
            )  # fmt: skip
        events.emit("notice", level=f"warning{MARKUP}", message=f"note{TITLE}{LINK}{MARKUP}")
        events.emit(
            "run_finished",
            status=f"failed{CLEAR}",
            best_epoch=2,
            best={"monitor": f"val_loss{MARKUP}", "value": 0.3},
            test={"loss": 0.3, f"acc{TITLE}": 0.9},
            duration_s=2.0,
            epochs_run=2,
            error=f"boom{TITLE}{MARKUP}",
        )
    lines = [
        {"step": 1, "epoch": 1, "time": 1.0, "metrics": {"loss": 0.5, f"m{MARKUP}{LINK}": 2.0}},
        {"step": 2, "epoch": 1, "time": 2.0, "metrics": {"loss": 0.25, f"m{MARKUP}{LINK}": 1.0}},
        {"step": 3, "epoch": 1, "time": 2.0, "metrics": {f"x{TITLE}": f"y{CLEAR}"}},
    ]
    (run_dir / "steps.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return run_dir


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("runs")
    _write_bad_run(runs_dir, f"evil{TITLE}{DIR_MARKUP}")
    _write_bad_run(runs_dir, "plain")
    return runs_dir


def _invoke(*args, columns=200):
    result = runner.invoke(app, ["runs", *map(str, args)], env={"COLUMNS": str(columns)})
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    return result, text


def _assert_inert(text):
    for char in RAW:
        assert char not in text, (char, text)


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["show", "plain"],
        ["compare", "plain", "plain"],
        ["compare", "plain", "plain", "--metric", f"m{MARKUP}{LINK}"],
        ["export", "plain", "--csv"],
        ["compare", "plain", "plain", "--per", "step"],
        ["compare", "plain", "--per", "step", "--metric", f"m{MARKUP}{LINK}"],
    ],
)
def test_every_runs_command_prints_run_data_inert(runs_dir, args):
    result, text = _invoke(*args, "--runs-dir", runs_dir)
    assert result.exit_code == 0, text
    _assert_inert(text)
    if args[0] != "export":
        assert "[/red]" in text  # markup is shown as the text it is, not applied or an error


def test_a_directory_name_with_escapes_is_listed_escaped(runs_dir):
    result, text = _invoke("list", "--runs-dir", runs_dir, columns=400)  # no folded cells
    assert result.exit_code == 0, text
    assert "evil\\x1b]0;pwned\\x07[bold red]BIG[link=mailto:x]" in text
    _assert_inert(text)
    run = next(p.name for p in runs_dir.iterdir() if p.name.startswith("evil"))
    result, text = _invoke("show", runs_dir / run)
    assert result.exit_code == 0, text
    _assert_inert(text)
    assert "boom\\x1b]0;pwned\\x07" in text


def test_an_unknown_step_metric_is_named_escaped(runs_dir):
    result, text = _invoke(
        "compare", "plain", "--per", "step", "-m", "bleu", "--runs-dir", runs_dir
    )
    assert result.exit_code == 2
    _assert_inert(text)
    assert "available: loss, m[/red]" in text


@pytest.mark.slow
def test_tensorboard_export_of_an_evil_run_stays_in_its_folder(runs_dir, tmp_path):
    pytest.importorskip("tensorboard")
    run = next(p for p in runs_dir.iterdir() if p.name.startswith("evil"))
    result, text = _invoke("export", run, runs_dir / "plain", "--tensorboard", tmp_path / "board")
    assert result.exit_code == 0, text
    _assert_inert(text)
    assert sorted(p.name for p in (tmp_path / "board").iterdir()) == [
        "evil__0_pwned__bold_red_BIG_link_mailto_x_",
        "plain",
    ]
    assert "2 epochs, 2 logged steps" in text  # the bad row is not one


def test_show_shows_notices_reasons_and_errors_escaped(runs_dir):
    _result, text = _invoke("show", "plain", "--runs-dir", runs_dir)
    flat = text.replace("\n", "")
    for shown in ("why\\x1b]0;pwned\\x07", "note\\x1b]0;pwned\\x07"):
        assert shown in flat, shown
    # A status that is not one of schema 1's reads as "unknown" (one rule: Status).
    assert "status          unknown" in text


def test_csv_export_makes_formulas_text(runs_dir, tmp_path):
    result, _text = _invoke("export", "plain", "--csv", "--runs-dir", runs_dir)
    rows = list(csv.reader(io.StringIO(result.stdout)))
    header = rows[0]
    assert header[0] == "epoch"
    assert any(cell.startswith("'=cmd|") for cell in header), header
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row)
    assert rows[1][1] == "0.5" and rows[2][0] == "2"  # numbers stay numbers
    out = tmp_path / "out.csv"
    result, _text = _invoke("export", "plain", "--csv", "--output", out, "--runs-dir", runs_dir)
    assert (
        result.exit_code == 0
        and out.read_text()
        == runner.invoke(
            app, ["runs", "export", "plain", "--csv", "--runs-dir", str(runs_dir)]
        ).stdout
    )


def test_the_safe_console_keeps_its_own_styles_in_a_terminal():
    """In a terminal Rich writes its own escape codes for colours: those stay; the data's go."""
    from rich.table import Table
    from rich.text import Text

    from kerasdl import safe_text

    buffer = io.StringIO()
    console = safe_console(file=buffer, force_terminal=True, width=160)
    table = Table(title=f"t{MARKUP}")
    table.add_column(f"c{CLEAR}")
    table.add_column("raw")
    table.add_column("plain")
    # A Text built with safe_text.text is escaped before it is measured, so it shows whole; a
    # raw Text is still made inert when rendered (the escapes may then wrap).
    table.add_row(safe_text.text(f"v{TITLE}", style="red"), Text(f"w{LINK}"), f"{LINK}{MARKUP}")
    console.print(table)
    out = buffer.getvalue()
    assert "\x1b[31m" in out  # Rich's red
    assert "\x07" not in out and "\x1b]" not in out and "\x1b[2J" not in out
    assert "\\x1b]0;pwned\\x07" in out and "[/red]" in out and "click" in out
    assert safe_text.inert("a\nb\x1b", keep_newlines=True) == "a\nb\\x1b"  # lines stay lines
