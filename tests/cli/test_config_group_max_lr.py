"""``[[optimizer.groups]] max_lr`` (issue 18): PyTorch's per-group ``max_lr`` (a list, one per
param group) for ``cyclic`` and ``onecycle``. The optimizer the runner builds from a config
follows PyTorch's trajectory (tests/golden/groups.json, written by
tests/reference/golden_groups.py: ``OneCycleLR(max_lr=[0.05, 0.2])`` and
``CyclicLR(max_lr=[0.05, 0.02])`` on two param groups) to float64 precision; validation."""

import goldens
import keras
import numpy as np
import pytest
from goldens import assert_close, floatx
from keras import ops

from kerasdl import config as cfg
from kerasdl.config import ConfigError, TrainConfig
from kerasdl.run.builders import (
    build_group_learning_rates,
    build_learning_rate,
    build_momentum,
    build_optimizer,
)

PATHS = ("dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias")
_, CASES = goldens.cases("groups")
GOLDEN = {c["id"]: c for c in CASES}


def run(case, optimizer):
    X, Y = np.asarray(case["X"]), np.asarray(case["Y"])
    variables = []
    for path in PATHS:
        layer, name = path.split("/")
        with keras.name_scope(layer):
            variables.append(keras.Variable(np.asarray(case["initial"][path]), name=name))
    for step in range(1, case["steps"] + 1):
        values = [np.asarray(ops.convert_to_numpy(v)) for v in variables]
        grads = [ops.convert_to_tensor(g) for g in goldens.groups_gradient(X, Y, values)]
        optimizer.apply(grads, variables)
        if str(step) in case["checkpoints"]:
            expected = case["checkpoints"][str(step)]
            for path, variable in zip(PATHS, variables, strict=True):
                got = np.asarray(ops.convert_to_numpy(variable))
                assert_close(got, expected[path], 1e-10, f"{case['id']} {path} at step {step}")


def _optimizer(config, steps_per_epoch):
    return build_optimizer(
        config,
        build_learning_rate(config, steps_per_epoch),
        build_momentum(config, steps_per_epoch),
        build_group_learning_rates(config, steps_per_epoch),
    )


CONFIGS = {
    # 12 epochs x 10 steps: the golden's 120 steps; PyTorch's defaults otherwise.
    "sgd-onecycle-max-lr-per-group": """
epochs = 12
[optimizer]
name = "sgd"
learning_rate = 0.2
weight_decay = 0.0
[schedule]
name = "onecycle"
max_lr = 0.2
[[optimizer.groups]]
pattern = "dense_1/"
max_lr = 0.05
""",
    "adam-cyclic-max-lr-per-group": """
epochs = 12
[optimizer]
name = "adam"
learning_rate = 0.001
weight_decay = 0.01
[schedule]
name = "cyclic"
max_lr = 0.02
step_size_up = 25
step_size_down = 15
gamma = 1.0
[[optimizer.groups]]
pattern = "dense_1/"
max_lr = 0.05
""",
}


@pytest.mark.parametrize("case_id", list(CONFIGS))
def test_a_configs_group_max_lr_is_pytorchs_list(case_id):
    case = GOLDEN[case_id]
    config = TrainConfig.from_toml_string(CONFIGS[case_id]).validate()
    with floatx("float64"):
        run(case, _optimizer(config, steps_per_epoch=10))
        # Without the group's max_lr (PyTorch's scalar max_lr): not the golden (can fail).
        config.optimizer.groups[0].pop("max_lr")
        with pytest.raises(AssertionError):
            run(case, _optimizer(config, steps_per_epoch=10))


def test_the_groups_schedule_is_the_configs_with_its_max_lr():
    config = TrainConfig.from_toml_string(
        CONFIGS["adam-cyclic-max-lr-per-group"]
        + "learning_rate = 0.002\n[[optimizer.groups]]\nmax_rank = 1\nlearning_rate = 0.5\n"
    ).validate()
    first, second = cfg.group_schedules(config, steps_per_epoch=10)
    assert first["class"] == "CyclicLR" and second is None
    assert first["kwargs"]["max_lr"] == 0.05 and first["kwargs"]["base_lr"] == 0.002
    assert cfg.optimizer_spec(config)[1]["groups"] == [
        {"pattern": "dense_1/", "learning_rate": 0.002},
        {"max_rank": 1, "learning_rate": 0.5},
    ]
    warm = config.override({"schedule.warmup_epochs": 2})
    (rate, none) = build_group_learning_rates(warm.validate(), steps_per_epoch=10)
    assert none is None and rate.warmup_steps == 20 and rate.after.max_lr == 0.05


def test_max_lr_in_a_group_needs_a_cycling_schedule():
    config = TrainConfig.from_toml_string(
        CONFIGS["sgd-onecycle-max-lr-per-group"].replace('"onecycle"', '"cosine"')
    )
    with pytest.raises(ConfigError) as info:
        config.validate()
    assert info.value.field == "optimizer.groups[0].max_lr"
    assert str(info.value) == (
        "optimizer.groups[0].max_lr: got 0.05; allowed: unset unless schedule.name is 'cyclic' "
        "or 'onecycle' (PyTorch's per-group max_lr); schedule 'cosine' follows the group's "
        "learning_rate"
    )
    bad = TrainConfig.from_toml_string(CONFIGS["sgd-onecycle-max-lr-per-group"])
    bad.optimizer.groups[0]["max_lr"] = 0.0
    with pytest.raises(ConfigError, match=r"groups\[0\].max_lr: got 0.0; allowed: a number > 0"):
        bad.validate()
