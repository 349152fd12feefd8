"""The one declaration of the events (`kerasdl.events.schema`) and the one fold (`RunRecord`):

- the declaration and docs/events.md name the same fields;
- today's files (committed fixtures written by `kerasdl train`) read back with no problem and
  round-trip, line by line, to the same JSON;
- a field of the wrong type becomes a problem, never an exception; NaN strings become floats
  only where a float is declared; unknown fields, types and dict/list metrics are kept;
- arbitrary JSON in every field of every event type (hypothesis) never makes the codec, the
  record, the plain view or any ``kerasdl runs`` command raise (the dashboard's own test is in
  tests/tui/test_dashboard_untrusted.py);
- the rules that views used to repeat (status, best, restored, direction) are the record's.
"""

import io
import json
import math
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kerasdl.cli import app
from kerasdl.cli.console import safe_console
from kerasdl.cli.plain import PlainView
from kerasdl.events.record import RunRecord
from kerasdl.events.schema import (
    COMMON,
    SCHEMA,
    SECTIONS,
    Event,
    LineProblem,
    Status,
    from_dict,
    from_line,
    larger_is_better,
    metric_direction,
    to_line,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
runner = CliRunner()


# ----------------------------------------------------------------------------- the declaration


def _doc_sections():
    """``{event type: its section of docs/events.md}``."""
    text = (REPO / "docs" / "events.md").read_text()
    parts = re.split(r"^### `(\w+)`.*$", text, flags=re.M)
    return {parts[i]: parts[i + 1].split("\n## ")[0] for i in range(1, len(parts), 2)}


def test_docs_events_md_names_every_declared_field_and_no_other():
    sections = _doc_sections()
    assert set(sections) == set(SCHEMA)
    for kind, spec in SCHEMA.items():
        text = sections[kind]
        for field in spec.fields:
            assert f"`{field.name}`" in text, f"docs/events.md: {kind}.{field.name} missing"
        # Every field a table row of that section names is declared.
        for row in re.findall(r"^\| (`[^|]+`) \|", text, flags=re.M):
            for name in re.findall(r"`(\w+)`", row):
                declared = {f.name for f in spec.fields} | {f.name for f in COMMON}
                keys = {f.name for section in SECTIONS.values() for f in section}
                assert name in declared | keys, f"docs/events.md: {kind}.{name} is not declared"
    common = (REPO / "docs" / "events.md").read_text().split("## The events")[0]
    for field in COMMON:
        assert f"`{field.name}`" in common


def test_every_field_kind_is_known_and_sections_exist():
    for spec in SCHEMA.values():
        for field in spec.fields:
            kind, _, section = field.kind.partition(":")
            assert kind in {"int", "count", "float", "seconds", "text", "bool", "object",
                            "texts", "metrics"}, field  # fmt: skip
            assert not section or section in SECTIONS, field


# ----------------------------------------------------------------------------- today's files


@pytest.mark.parametrize("run", ["schema1-run", "schema1-nan"])
def test_todays_files_read_without_problems_and_round_trip(run):
    lines = (FIXTURES / run / "events.jsonl").read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        event = from_line(line, number)
        assert isinstance(event, Event) and event.problems == (), (number, event)
        assert not event.extra, (number, sorted(event.extra))
        # old file -> record -> file: the same JSON object (numbers compare as numbers)
        assert json.loads(to_line(event)) == json.loads(line)
    record = RunRecord.read(FIXTURES / run / "events.jsonl")
    assert record.problems == []
    summary = json.loads((FIXTURES / run / "summary.json").read_text())
    assert record.status == summary["status"]
    assert record.epochs_run == summary["epochs_run"]
    assert record.best_restored is summary["restored_best"]


def test_the_fixtures_facts_come_out_of_the_record():
    record = RunRecord.read(FIXTURES / "schema1-run" / "events.jsonl")
    assert record.status == "completed" and record.epochs == 4 and record.epochs_done == 4
    assert [c["reason"] for c in record.lr_changes] == ["warmup_end"]
    best = record.best
    assert best["monitor"] == "val_loss" and best["epoch"] == 3 and best["mode"] == "min"
    assert best["value"] == min(v for _e, v in record.series("val_loss"))
    nan = RunRecord.read(FIXTURES / "schema1-nan" / "events.jsonl")
    assert nan.status == Status.NAN.value and nan.best_restored is False
    assert math.isnan(nan.series("loss")[0][1])  # "NaN" in the file, a float in the record


# ----------------------------------------------------------------------------- the codec


def test_a_field_of_the_wrong_type_is_a_problem_not_an_exception():
    event = from_dict(
        {"schema": 1, "type": "epoch_ended", "time": 1e300, "epoch": "3", "epoch_seconds": "NaN",
         "metrics": {"loss": "NaN", "per_class": {"0": 0.5}, "hist": [1, 2]},
         "early_stopping": {"best": [1], "wait": -1, "monitor": "val_loss"}}
    )  # fmt: skip
    assert event["epoch"] is None and event["time"] is None and event["epoch_seconds"] is None
    assert math.isnan(event["metrics"]["loss"])
    assert event["metrics"]["per_class"] == {"0": 0.5} and event["metrics"]["hist"] == [1, 2]
    assert event["early_stopping"]["best"] is None and event["early_stopping"]["wait"] is None
    assert event["early_stopping"]["monitor"] == "val_loss"
    problems = " | ".join(event.problems)
    for needle in ("epoch_ended.time: not a finite time", "epoch_ended.epoch: not an integer",
                   "epoch_ended.epoch_seconds", "early_stopping.best: not a number",
                   "early_stopping.wait: out of range"):  # fmt: skip
        assert needle in problems, (needle, problems)


def test_nan_strings_become_floats_only_where_a_float_is_declared():
    event = from_dict(
        {"type": "run_started", "config": {"runs_dir": "Infinity", "data": {"data_dir": "NaN"}},
         "backend": "NaN", "optimizer": {"name": "NaN", "learning_rate": "Infinity"}}
    )  # fmt: skip
    assert event["config"] == {"runs_dir": "Infinity", "data": {"data_dir": "NaN"}}
    assert event["backend"] == "NaN" and event["optimizer"]["name"] == "NaN"
    assert event["optimizer"]["learning_rate"] == math.inf


def test_unknown_types_fields_and_later_schemas_are_kept():
    event = from_dict({"schema": 2, "type": "gradient_norms", "time": 1.0, "norms": [1.5]})
    assert not event.known and event["norms"] == [1.5] and event.problems == ()
    event = from_dict({"schema": 2, "type": "notice", "level": "info", "message": "m", "new": 1})
    assert event.extra == {"new": 1} and event["new"] == 1
    record = RunRecord()
    assert record.apply({"type": "gradient_norms"}) == "gradient_norms"
    assert record.problems == []


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"a": ' + "[" * 40 + "]" * 40 + "}", "nested deeper"),
        (b"\xff", "not UTF-8"),
        ('{"m": "' + "x" * (1 << 20) + '"}', "longer than"),
    ],
)
def test_a_line_that_is_not_an_event_is_a_line_problem(line, why):
    problem = from_line(line, 17)
    assert isinstance(problem, LineProblem) and why in str(problem)
    assert str(problem).startswith("line 17: ")


def test_the_record_lists_the_problems_of_a_file(tmp_path):
    path = tmp_path / "events.jsonl"
    good = (FIXTURES / "schema1-run" / "events.jsonl").read_text().splitlines()
    path.write_text("\n".join([good[0], "garbage", '{"type": "notice", "time": "soon"}',
                               *good[1:]]) + "\n")  # fmt: skip
    record = RunRecord.read(path)
    assert record.status == "completed" and record.epochs_run == 4
    assert record.problems == ["line 2: not JSON (a torn line?)",
                               "notice.time: not a number (got 'soon')"]  # fmt: skip


# ----------------------------------------------------------------------------- the rules


def test_one_direction_rule():
    assert metric_direction("val_accuracy") == "max" and metric_direction("final_loss") == "min"
    assert metric_direction("val_mae") == "min" and metric_direction("auc") == "max"
    assert metric_direction("epoch_seconds") is None and metric_direction("x", "max") == "max"
    assert larger_is_better("val_acc") and not larger_is_better("unknown")


def test_restored_reads_the_runners_field_before_any_guess():
    stopping = {"enabled": True, "restore_best_weights": False}
    started = {"type": "run_started", "config": {"early_stopping": stopping}}
    record = RunRecord()
    record.apply(started)
    record.apply({"type": "run_finished", "status": "completed", "restored_best": True})
    assert record.best_restored is True  # the experiment runs: restored, config says not
    record = RunRecord()
    record.apply(started)
    record.apply({"type": "run_finished", "status": "completed", "test": {"loss": 1.0}})
    assert record.best_restored is False  # no field: the config's guess


def test_a_status_no_schema_1_reader_knows_reads_unknown():
    record = RunRecord()
    record.apply({"type": "run_started"})
    record.apply({"type": "run_finished", "status": "preempted"})
    assert record.status == Status.UNKNOWN.value and not record.live


# ----------------------------------------------------------------------------- arbitrary values

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
    | st.sampled_from(["NaN", "Infinity", "-Infinity", "\x1b[2J", "[/red]"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5),
                                                                      children, max_size=3),
    max_leaves=8,
)  # fmt: skip
FIELDS = [(kind, f.name) for kind, spec in SCHEMA.items() for f in (*COMMON, *spec.fields)]


def _base_run():
    return [json.loads(line) for line in
            (FIXTURES / "schema1-run" / "events.jsonl").read_text().splitlines()]  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(FIELDS), value=JSON, data=st.data())
def test_any_json_in_any_field_never_breaks_the_codec_or_the_record(field, value, data):
    kind, name = field
    events = _base_run()
    targets = [e for e in events if e["type"] == kind] or [{"type": kind}]
    target = data.draw(st.sampled_from(targets))
    target[name] = value
    if target not in events:
        events.append(target)
    record = RunRecord()
    for event in events:
        checked = from_dict(event)
        json.loads(to_line(checked))  # what was read can be written again
        record.apply(checked)
    # Every answer a view asks for is computed without an exception.
    for attribute in ("status", "best", "best_restored", "epochs", "learning_rate", "config",
                      "metric_names", "final_metrics", "test_metrics", "run_id", "dataset",
                      "duration_s", "run_eta_s", "mean_epoch_seconds", "started_time"):  # fmt: skip
        getattr(record, attribute)
    for metric in record.metric_names:
        record.series(metric)
    for change in record.lr_changes:
        record.lr_change_label(change)
    # The plain view (kerasdl train's) prints the same events, live and not, without raising.
    for live in (True, False):
        buffer = io.StringIO()
        view = PlainView(safe_console(file=buffer, width=100), live=live, run_dir="runs/x")
        for event in events:
            view(event)
        assert buffer.getvalue().isprintable() or "\n" in buffer.getvalue()
        assert "\x1b" not in buffer.getvalue()


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile")


@settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
@given(field=st.sampled_from(FIELDS), value=JSON)
def test_any_json_in_any_field_never_breaks_a_runs_command(runs_root, field, value):
    kind, name = field
    events = _base_run()
    targets = [e for e in events if e["type"] == kind]
    for target in targets or [{"type": kind}]:
        target[name] = value
    if not targets:
        events.append({"type": kind, name: value})
    run_dir = runs_root / "bad"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    (run_dir / "events.jsonl").write_text(
        "".join(json.dumps(e, allow_nan=False) + "\n" for e in events)
    )
    good = runs_root / "good"
    if not good.exists():
        shutil.copytree(FIXTURES / "schema1-run", good)
    for args in (["list"], ["show", "bad"], ["compare", "good", "bad"],
                 ["export", "bad", "--csv"]):  # fmt: skip
        result = runner.invoke(app, ["runs", *args, "--runs-dir", str(runs_root)])
        text = result.stdout + result.stderr
        assert "Traceback" not in text, (args, text)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            args, repr(result.exception))  # fmt: skip
        assert result.exit_code in (0, 2), (args, result.exit_code, text)
        if args == ["list"]:
            assert "good" in text  # a bad run never hides a good one


@pytest.mark.parametrize(
    "args",
    [
        ["runs", "compare", "a", "b", "--width", "100000"],
        ["runs", "compare", "a", "b", "--height", "100000"],
        ["schedule", "plot", "step", "--epochs", "3", "--width", "501"],
        ["lr-find", "--height", "201"],
    ],
)
def test_plot_sizes_have_maxima(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "Traceback" not in result.stdout + result.stderr
    assert "less than or equal to" in result.stdout + result.stderr


def test_the_writer_never_writes_what_a_reader_would_not_accept(tmp_path):
    from kerasdl.events import EventWriter, read_events

    path = tmp_path / "events.jsonl"
    with EventWriter(path, run_id="r") as events:
        with pytest.raises(TypeError, match=r"epoch_ended.epoch: not an integer"):
            events.emit("epoch_ended", epoch="1", metrics={})
        with pytest.raises(TypeError, match=r"notice.message: not a string"):
            events.emit("notice", level="info", message=3)
        events.emit("epoch_ended", epoch=1, metrics={"loss": math.nan, "per_class": [0.5]})
        events.emit("gradient_norms", norms=[1.0])  # a type of its own: declared nowhere, kept
    assert [e["type"] for e in read_events(path)] == ["epoch_ended", "gradient_norms"]


def test_runs_show_lists_the_problems_of_a_run(tmp_path):
    run_dir = tmp_path / "runs" / "odd"
    run_dir.mkdir(parents=True)
    lines = (FIXTURES / "schema1-run" / "events.jsonl").read_text().splitlines()
    lines.insert(1, "garbage")
    lines.insert(2, '{"type": "notice", "level": "info", "message": 7}')
    (run_dir / "events.jsonl").write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["runs", "show", str(run_dir)], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.stdout
    assert "problems" in result.stdout and "line 2: not JSON (a torn line?)" in result.stdout
    assert "notice.message: not a string (got 7)" in result.stdout
    assert "status          completed" in result.stdout  # the good lines still count
