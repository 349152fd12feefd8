"""``[[optimizer.groups]]`` in the config: parsing, checks and messages, ``to_toml``, the
optimizer the runner builds, ``runs show``, and a real run with groups and the plateau that,
stopped after 2 epochs and resumed, ends exactly as the uninterrupted run."""

import threading

import numpy as np
import pytest

import kerasdl
from kerasdl import runner
from kerasdl.cli.runs import config_summary
from kerasdl.config import ConfigError, TrainConfig, optimizer_spec

GROUPS_TOML = """
[optimizer]
name = "sgd"
momentum = 0.9

[[optimizer.groups]]
pattern = "logits/"
learning_rate = 0.01
weight_decay = 0.0

[[optimizer.groups]]
max_rank = 1
momentum = 0.5
"""


def config_with(group_lines, name="sgd"):
    text = f'[optimizer]\nname = "{name}"\n[[optimizer.groups]]\n' + "\n".join(group_lines)
    return TrainConfig.from_toml_string(text).validate()


def test_groups_parse_write_back_and_reach_the_optimizer():
    config = TrainConfig.from_toml_string(GROUPS_TOML).validate()
    assert config.optimizer.groups == [
        {"pattern": "logits/", "learning_rate": 0.01, "weight_decay": 0.0},
        {"max_rank": 1, "momentum": 0.5},
    ]
    assert TrainConfig.from_toml_string(config.to_toml()) == config
    name, kwargs = optimizer_spec(config)
    assert name == "SGD" and kwargs["groups"] == config.optimizer.groups
    assert TrainConfig().optimizer.groups == [] and "groups" not in optimizer_spec(TrainConfig())[1]
    rows = {key: str(value) for key, value in config_summary(config.to_dict())}
    assert rows["optimizer"].endswith("; 2 parameter groups (below)")
    assert rows["group 1"] == "pattern 'logits/': lr 0.01, weight_decay 0"
    assert rows["group 2"] == "rank <= 1: lr 0.001, weight_decay 0.01, momentum 0.5"
    assert rows["default group"] == "lr 0.001, weight_decay 0.01 (the other variables)"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['pattern = "("'], r"optimizer.groups\[0\].pattern: got '\('; allowed: a regular"),
        (['pattern = "a"', "max_rank = 1"], "exactly one of pattern or max_rank"),
        (["learning_rate = 0.1"], "exactly one of pattern or max_rank"),
        (['pattern = "a"', "learnin_rate = 0.1"], "did you mean 'learning_rate'"),
        (['pattern = "a"', "momentum = 1.5"], r"momentum: got 1.5; allowed: a number in \[0.0"),
        (['pattern = "a"', "beta_1 = 0.9"], "unset for 'sgd'; a group may set learning_rate"),
        (['pattern = "a"', "nesterov = true"], "group's momentum > 0"),
        (["max_rank = -1"], r"max_rank: got -1"),
    ],
)
def test_bad_groups_are_refused_naming_the_key(lines, message):
    with pytest.raises(ConfigError, match=message):
        config_with(lines)


def test_set_cannot_give_tables():
    with pytest.raises(ConfigError, match=r"optimizer.groups: got .*; allowed: a list of tables"):
        TrainConfig().override({"optimizer.groups": '[{pattern = "a"}]'})


def small_config(runs_dir, **dotted):
    settings = {
        "data.name": "mnist-mini",
        "data.limit": 600,
        "epochs": 4,
        "runs_dir": str(runs_dir),
        "schedule.name": "step",
        "schedule.step_size": 1,
        "schedule.gamma": 0.8,
        "plateau.enabled": True,
        "plateau.patience": 0,
        "plateau.threshold": 0.9,  # every epoch after the first is "bad": reductions
        "plateau.factor": 0.5,
        "early_stopping.patience": 10,
    }
    settings.update(dotted)
    config = TrainConfig().override(settings)
    config.optimizer = TrainConfig.from_toml_string(GROUPS_TOML).optimizer
    return config.validate()


def test_a_run_with_groups_resumes_exactly(tmp_path):
    full = runner.train(small_config(tmp_path, run_name="full"))
    stop = threading.Event()

    def sink(event):
        if event["type"] == "epoch_ended" and event["epoch"] == 1:
            stop.set()  # the next epoch (2) is the last

    stopped = runner.train(small_config(tmp_path, run_name="split"), sinks=[sink], stop=stop)
    assert stopped.status == "stopped" and stopped.epochs_run == 2
    config = TrainConfig.from_toml(stopped.run_dir / "config.toml")
    assert config.optimizer.groups == small_config(tmp_path).optimizer.groups
    resumed = runner.train(config, resume=stopped.run_dir)
    assert resumed.status == "completed" and resumed.epochs_run == 4
    a = kerasdl.load_model(full.run_dir / "last.keras")
    b = kerasdl.load_model(resumed.run_dir / "last.keras")
    assert a.optimizer.groups == b.optimizer.groups and len(b.optimizer.groups) == 2
    for x, y in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=x.path)
    for x, y in zip(a.optimizer.variables, b.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=x.path)
    # The plateau reduced each group (their scales are optimizer variables in last.keras).
    scales = [float(np.asarray(b.optimizer.group_scale(g))) for g in b.optimizer.group_indices()]
    assert all(scale < 1.0 for scale in scales), scales
