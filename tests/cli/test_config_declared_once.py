"""Each config field is declared once (`kerasdl.config`); these tests fail when anything derived
from the declarations drifts from them: validation, ``kerasdl train``'s and ``kerasdl lr-find``'s
options, ``--set``, ``kerasdl schedule plot``'s options, and the tables of docs/config.md and
docs/cli.md."""

import re
import typing
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from kerasdl import _reference
from kerasdl import config as kconfig
from kerasdl._fields import Either, Int, OneOf
from kerasdl.cli import app
from kerasdl.cli import lr_find as lr_find_cli
from kerasdl.cli import schedule as schedule_cli
from kerasdl.cli import train as train_cli
from kerasdl.cli.config_options import option_help
from kerasdl.config import ConfigError, TrainConfig, field_specs

ROOT = Path(__file__).resolve().parents[2]
SPECS = {spec.key: spec for spec in field_specs()}


def _command(*path):
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


def _options(command) -> dict:
    """Long option name -> click option, for every option of a click command."""
    found = {}
    for param in command.params:
        for opt in param.opts:
            if opt.startswith("--"):
                found[opt] = param
    return found


# ----------------------------------------------------------------------------- the declarations


def test_every_field_is_declared_with_help_and_what_it_allows():
    paths = kconfig.field_paths()
    assert set(SPECS) == set(paths)  # every field, nothing more
    for spec in field_specs():
        assert spec.help.strip(), spec.key
        assert spec.default == paths[spec.key], spec.key
        hint_args = set(typing.get_args(spec.hint)) - {type(None)} or {spec.hint}
        if hint_args != {bool} and typing.get_args(spec.hint) != (bool,):
            assert spec.rule is not None, f"{spec.key} declares no allowed values"


def _int_rule(spec):
    rule = spec.rule
    if isinstance(rule, Either):
        rule = next(r for r in rule.rules if isinstance(r, Int))
    return rule


@pytest.mark.parametrize(
    "spec",
    [
        s
        for s in field_specs()
        if typing.get_origin(s.hint) is not list
        and int in (set(typing.get_args(s.hint)) | {s.hint})
    ],
    ids=lambda s: s.key,
)
def test_every_integer_has_a_real_upper_bound_that_validation_enforces(spec):
    rule = _int_rule(spec)
    assert isinstance(rule, Int), spec.key
    assert rule.high < 2**63, spec.key  # below what TensorFlow's int64 shapes take
    with pytest.raises(ConfigError) as info:
        TrainConfig().override({spec.key: rule.high + 1}).validate()
    assert info.value.field == spec.key
    assert str(info.value) == f"{spec.key}: got {rule.high + 1}; allowed: {spec.allowed()}"


def test_every_list_of_sizes_has_a_real_upper_bound():
    hidden = SPECS["model.hidden"].rule
    with pytest.raises(ConfigError) as info:
        TrainConfig().override({"model.hidden": [hidden.item.high + 1, 1]}).validate()
    assert info.value.field == "model.hidden[0]"
    too_many = [1] * (hidden.max_len + 1)
    with pytest.raises(ConfigError) as info:
        TrainConfig().override({"model.hidden": too_many}).validate()
    assert info.value.field == "model.hidden"


def test_a_name_field_suggests_the_closest_name():
    with pytest.raises(ConfigError, match=r"did you mean 'adam'\?\)$"):
        TrainConfig().override({"optimizer.name": "adaam"}).validate()
    with pytest.raises(ConfigError, match=r"did you mean 'cosine'\?\)$"):
        TrainConfig().override({"schedule.name": "cosin"}).validate()


# ----------------------------------------------------------------------------- kerasdl train


def test_train_offers_every_flagged_field_with_its_declared_help():
    options = _options(_command("train"))
    flagged = [s for s in field_specs() if s.flag is not None]
    assert flagged, "no field declares a kerasdl train option"
    for spec in flagged:
        option = options.get(spec.flag.option)
        assert option is not None, spec.flag.option
        assert option.help == option_help(spec), spec.key
        assert train_cli.FLAG_KEYS[option.name] == spec.key
        if spec.flag.switch:
            assert f"--no-{spec.flag.option[2:]}" in option.secondary_opts
        if spec.flag.envvar:
            assert option.envvar == spec.flag.envvar
    own = {"--config", "--set", "--resume", "--ui", "--print-config", "--help"}
    config_options = set(options) - own
    assert config_options == {s.flag.option for s in flagged}


def test_every_train_option_reaches_its_config_field(monkeypatch):
    """Each option's value lands in the field it names (a fake runner records the config)."""
    seen = {}

    def fake_run_plain(config, resume_dir, *, live):
        seen["config"] = config
        return 0

    monkeypatch.setattr(train_cli, "run_plain", fake_run_plain)
    monkeypatch.setattr(train_cli, "preload_data", lambda config: None)  # no such file
    given = {
        "--dataset": "file", "--data": "/data/train.csv", "--target": "price",
        "--data-dir": "/data", "--limit": "7", "--batch-size": "9",
        "--model": "nets.py:build",
        "--hidden": "12", "--batch-norm": "true", "--dropout": "0.25", "--activation": "tanh",
        "--initializer": "he_normal", "--regularizer": "l2", "--loss": "huber",
        "--epochs": "4", "--optimizer": "momentum", "--lr": "0.5", "--weight-decay": "0.001",
        "--momentum": "0.8", "--schedule": "cosine", "--warmup-epochs": "1", "--patience": "3",
        "--seed": "5", "--run-name": "r1", "--runs-dir": "/tmp/r", "--steps-per-execution": "2",
        "--strategy": "mirrored",
    }  # fmt: skip
    switches = ["--no-early-stopping", "--plateau", "--jit"]
    sets = ["model.l2=0.001", "plateau.monitor=loss", "early_stopping.monitor=loss"]
    args = [token for pair in given.items() for token in pair] + switches
    args += [token for s in sets for token in ("--set", s)] + ["--ui", "none"]
    result = CliRunner().invoke(app, ["train", *args])
    assert result.exit_code == 0, result.output
    got = seen["config"]
    for spec in field_specs():
        if spec.flag is None:
            continue
        value = kconfig._get(got, spec)
        if spec.flag.switch:
            assert value is (spec.flag.option in switches), spec.key
        else:
            expected = TrainConfig().override({spec.key: given[spec.flag.option]})
            assert value == kconfig._get(expected, spec), spec.key


def test_the_momentum_help_names_exactly_the_optimizers_that_accept_it():
    """The drift the issue found: ``--momentum``'s help named rmsprop, validation refused it."""
    help_text = _options(_command("train"))["--momentum"].help
    named = set(re.search(r"\(([^)]*)\)", help_text).group(1).split(", "))
    accepting = set()
    for name in kconfig.OPTIMIZERS:
        try:
            TrainConfig().override({"optimizer.name": name, "optimizer.momentum": 0.5}).validate()
        except ConfigError:
            continue
        accepting.add(name)
    assert named == accepting


@pytest.mark.parametrize(
    "spec", [s for s in field_specs() if isinstance(s.rule, OneOf)], ids=lambda s: s.key
)
def test_a_bad_name_fails_with_the_words_the_help_and_docs_use(spec):
    with pytest.raises(ConfigError) as info:
        TrainConfig().override({spec.key: "no-such-name"}).validate()
    assert info.value.allowed == spec.rule.allowed()


def test_every_dotted_key_is_a_set_key_and_nothing_else_is():
    for spec in field_specs():
        value = "none" if spec.default is None else spec.default
        TrainConfig().override({spec.key: value})
    with pytest.raises(ConfigError, match=r"did you mean 'optimizer\.learning_rate'"):
        TrainConfig().override({"optimizer.learnig_rate": "0.1"})


# ----------------------------------------------------------------------------- other commands


def test_schedule_plot_offers_every_schedule_field_with_its_declared_help():
    options = _options(_command("schedule", "plot"))
    expected = {s.key for s in field_specs() if s.section == "schedule" and s.name != "name"}
    assert set(schedule_cli.PARAM_KEYS.values()) == expected | {
        "epochs",
        "optimizer.learning_rate",
    }
    for key in expected:
        spec = SPECS[key]
        option = options["--" + spec.name.replace("_", "-")]
        assert option.help == option_help(spec)
        assert option.default == spec.default


def test_schedule_plot_passes_each_option_to_the_config():
    values = {"epochs": 12, "optimizer.learning_rate": 0.2, "schedule.t_max": 5}
    config = schedule_cli.build_config("cosine", values, ["schedule.eta_min=0.01"])
    assert (config.epochs, config.optimizer.learning_rate) == (12, 0.2)
    assert (config.schedule.t_max, config.schedule.eta_min) == (5, 0.01)


def test_lr_find_options_are_the_declared_ones():
    options = _options(_command("lr-find"))
    for param, key in lr_find_cli.FLAG_KEYS.items():
        spec = SPECS[key]
        option = options[spec.flag.option]
        assert option.name == param
        assert option.help.startswith(option_help(spec).rstrip("."))


# ----------------------------------------------------------------------------- the docs


@pytest.mark.parametrize("page", _reference.PAGES)
def test_the_generated_docs_tables_are_up_to_date(page):
    text = (ROOT / page).read_text(encoding="utf-8")
    assert "<!-- generated: " in text
    assert _reference.render(text) == text, (
        f"{page} is out of date with kerasdl.config: run `python -m kerasdl._reference`"
    )


def test_the_docs_table_of_a_section_lists_every_field_with_its_allowed_values():
    table = _reference.fields_table("optimizer")
    for spec in field_specs():
        if spec.section == "optimizer":
            row = next(line for line in table.splitlines() if line.startswith(f"| `{spec.name}`"))
            assert _reference._text(spec.allowed()) in row


def test_a_stale_table_is_rewritten():
    stale = "x\n<!-- generated: fields loss -->\n| old |\n<!-- end generated -->\ny\n"
    fresh = _reference.render(stale)
    assert "| old |" not in fresh
    assert "`label_smoothing`" in fresh
    assert fresh.startswith("x\n") and fresh.endswith("<!-- end generated -->\ny\n")
