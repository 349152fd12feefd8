"""``kerasdl runs show`` lists every ``[[optimizer.groups]]`` table with its base learning rate
and weight decay (its own or the optimizer's it keeps) and the default group's (issue 18); the
values come from the run directory, so they are shown only as numbers and printed inert."""

from typer.testing import CliRunner

from kerasdl.cli import app
from kerasdl.config import TrainConfig
from kerasdl.events import EventWriter

runner = CliRunner()

GROUPS = """
[optimizer]
name = "sgd"
learning_rate = 0.1
weight_decay = 0.001
momentum = 0.9

[[optimizer.groups]]
pattern = "logits/"
learning_rate = 0.01

[[optimizer.groups]]
max_rank = 1
weight_decay = 0.0
momentum = 0.5
"""


def _write_run(runs_dir, run_id, config: dict):
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True)
    with EventWriter(run_dir / "events.jsonl", clock=lambda: 1_700_000_000.0) as events:
        events.emit(
            "run_started",
            config=config,
            dataset={"name": "mnist-mini", "source": "bundled"},
            params=10,
            backend="tensorflow",
            devices=["CPU"],
            epochs=1,
            steps_per_epoch=1,
            batch_size=1,
            optimizer={"name": "sgd", "learning_rate": 0.1},
            resumed_from=None,
        )
    return run_dir


def _show(runs_dir, run_id):
    result = runner.invoke(app, ["runs", "show", run_id, "--runs-dir", str(runs_dir)])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_show_lists_every_groups_learning_rate_and_weight_decay(tmp_path):
    config = TrainConfig.from_toml_string(GROUPS).validate().to_dict()
    out = _show(tmp_path, *[_write_run(tmp_path, "g", config).name])
    lines = out.splitlines()
    (optimizer,) = [line for line in lines if line.startswith("optimizer ")]
    assert optimizer.endswith(
        "sgd lr 0.1, weight_decay 0.001, momentum 0.9; 2 parameter groups (below)"
    )
    assert "group 1         pattern 'logits/': lr 0.01, weight_decay 0.001" in lines
    assert "group 2         rank <= 1: lr 0.1, weight_decay 0, momentum 0.5" in lines
    assert "default group   lr 0.1, weight_decay 0.001 (the other variables)" in lines
    # Without groups: the optimizer line alone, as before.
    plain = _show(tmp_path, _write_run(tmp_path, "p", TrainConfig().to_dict()).name)
    assert not any(line.startswith(("group", "default group")) for line in plain.splitlines())
    assert "optimizer       adamw lr 0.001, weight_decay 0.01\n" in plain


def test_untrusted_group_values_are_shown_inert(tmp_path):
    title, markup = "\x1b]0;pwned\x07", "[/red][link=http://evil.example]x[/link]"
    config = TrainConfig.from_toml_string(GROUPS).validate().to_dict()
    config["optimizer"]["groups"] = [
        {"pattern": f"p{title}{markup}", "learning_rate": f"0.1{title}", "weight_decay": [1, 2]},
        {"max_rank": f"{markup}", f"mom{title}": {"deep": [1] * 1000}},
        "not a table",
        *({"max_rank": 1, "learning_rate": 1e-5} for _ in range(10)),
    ]
    config["optimizer"]["learning_rate"] = float("inf")
    out = _show(tmp_path, _write_run(tmp_path, "bad", config).name)
    for raw in ("\x1b", "\x07"):
        assert raw not in out
    lines = out.splitlines()
    group1 = next(line for line in lines if line.startswith("group 1 "))
    assert "pattern 'p\\x1b]0;pwned\\x07[/red][link=http://evil.example]x[/link]'" in group1
    assert group1.endswith("lr ?, weight_decay ?")
    group2 = next(line for line in lines if line.startswith("group 2 "))
    assert group2 == "group 2         rank <= ?: lr ?, weight_decay 0.001, mom\\x1b]0;pwned\\x07 ?"
    assert "group 3         ? (not a table)" in lines
    assert "group 10        rank <= 1: lr 1e-05, weight_decay 0.001" in lines
    assert not any(line.startswith("group 11") for line in lines)
    assert "                ... and 3 more groups" in lines
    assert "default group   lr ?, weight_decay 0.001 (the other variables)" in lines
