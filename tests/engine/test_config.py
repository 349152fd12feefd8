"""`kerasdl.config`: the chapter's preset, TOML round trips, overrides, every validation rule."""

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kerasdl import config as cfg
from kerasdl.config import ConfigError, TrainConfig

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------------
# The default is the chapter's complete example (3.6), read off the chapter's script.


def test_default_is_the_chapters_preset():
    c = TrainConfig()
    assert c.validate() is c
    # Data: MNIST, transforms.Normalize((0.1307,), (0.3081,)), DataLoader(batch_size=64).
    assert (c.data.name, c.data.mean, c.data.std, c.batch_size) == ("mnist", 0.1307, 0.3081, 64)
    assert c.data.data_dir == "" and c.data.limit is None
    # MLP: fc1 784->256, bn1, relu, dropout(0.5), fc2 256->128, relu, fc3 128->10.
    assert c.model.hidden == [256, 128]
    assert c.model.batch_norm == [True, False]
    assert c.model.dropout == [0.5, 0.0]
    assert c.model.activation == "relu"
    assert c.model.initializer == "torch_default"  # nn.Linear's own initialisation
    assert c.model.regularizer == "none"
    # nn.CrossEntropyLoss() on logits.
    assert (c.loss.name, c.loss.label_smoothing) == ("cross_entropy", 0.0)
    assert cfg.loss_spec(c) == (
        "SparseCategoricalCrossentropy",
        {"from_logits": True, "label_smoothing": 0.0},
    )
    # optim.AdamW(lr=0.001, weight_decay=0.01), PyTorch's betas and eps left as they are.
    assert (c.optimizer.name, c.optimizer.learning_rate, c.optimizer.weight_decay) == (
        "adamw",
        0.001,
        0.01,
    )
    assert c.optimizer.beta_1 is c.optimizer.beta_2 is c.optimizer.epsilon is None
    # StepLR(step_size=10, gamma=0.5), stepped per epoch; no warmup.
    assert (c.schedule.name, c.schedule.step_size, c.schedule.gamma) == ("step", 10, 0.5)
    assert c.schedule.warmup_epochs == 0
    # 20 epochs; best model by validation loss; early stopping with patience 5 (the issue).
    assert c.epochs == 20
    assert c.validation_split == 0.1  # the errata: validate on held-out training data
    es = c.early_stopping
    assert (es.enabled, es.monitor, es.patience, es.min_delta) == (True, "val_loss", 5, 0.0)
    assert es.restore_best_weights is True
    assert c.plateau.enabled is False
    assert (c.steps_per_execution, c.jit_compile, c.strategy) == (128, "auto", "default")
    assert (c.runs_dir, c.run_name, c.seed) == ("runs", "", 42)
    assert c.task == "classification"


def test_importing_config_loads_no_framework_and_no_numpy():
    code = (
        "import sys, kerasdl.config as c\n"
        "c.TrainConfig().validate().to_toml()\n"
        "heavy = {'numpy', 'keras', 'tensorflow', 'jax', 'torch'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_field_paths_lists_every_field_with_its_default():
    paths = cfg.field_paths()
    assert paths["seed"] == 42 and paths["optimizer.learning_rate"] == 0.001
    assert paths["model.hidden"] == [256, 128] and paths["optimizer.momentum"] is None
    sections = [f for f in dataclasses.fields(TrainConfig) if f.name in cfg._SECTIONS]
    n_top = len(dataclasses.fields(TrainConfig)) - len(sections)
    n_nested = sum(len(dataclasses.fields(f.default_factory)) for f in sections)
    assert len(sections) == 7 and len(paths) == n_top + n_nested


# ---------------------------------------------------------------------------------------------
# TOML.


def test_default_toml_round_trips_through_a_file(tmp_path):
    text = TrainConfig().to_toml()
    assert "\nmomentum" not in text and "base_momentum" not in text  # None values left out
    assert text.startswith("seed = 42\n")
    path = tmp_path / "run.toml"
    path.write_text(text)
    assert TrainConfig.from_toml(path) == TrainConfig()


def test_toml_missing_keys_keep_defaults_and_ints_become_floats():
    c = TrainConfig.from_toml_string(
        'epochs = 3\n[optimizer]\nname = "sgd"\nlearning_rate = 1\n[model]\nhidden = []\n'
        "batch_norm = []\ndropout = []\n"
    )
    assert c.epochs == 3 and c.batch_size == 64
    assert c.optimizer.learning_rate == 1.0 and isinstance(c.optimizer.learning_rate, float)
    assert c.model.hidden == [] and c.validate() is c


def test_hand_written_toml_with_everything_set():
    text = """
seed = 7
epochs = 12
jit_compile = false
strategy = "mirrored"
run_name = "sgd-run.1"

[data]
name = "regression"
limit = 500
outlier_fraction = 0.2

[model]
hidden = [64]
batch_norm = [false]
dropout = [0.1]
activation = "tanh"
initializer = "xavier_uniform"
regularizer = "l1l2"
l1 = 1e-5
l2 = 1e-4

[loss]
name = "huber"
delta = 2.5

[optimizer]
name = "nesterov"
learning_rate = 0.05
momentum = 0.95
weight_decay = 0.0
clipnorm = 1.0

[schedule]
name = "cosine"
t_max = 10
eta_min = 1e-4
warmup_epochs = 2

[early_stopping]
monitor = "val_mae"

[plateau]
enabled = true
monitor = "val_loss"
factor = 0.5
"""
    c = TrainConfig.from_toml_string(text).validate()
    assert c.jit_compile is False and c.model.l1 == 1e-5 and c.optimizer.momentum == 0.95
    assert c.task == "regression" and c.early_stopping.monitor == "val_mae"
    assert TrainConfig.from_toml_string(c.to_toml()) == c


_PRINTABLE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)),  # any text TOML can hold
    max_size=20,
)
_PATH = _PRINTABLE.filter(lambda s: not re.search("[\x00-\x1f\x7f]", s))  # a valid path
_UNIT = st.floats(0.0, 1.0, exclude_max=True, allow_nan=False)
_POSITIVE = st.floats(1e-12, 1e6, allow_nan=False)


# The optional [optimizer] fields that are not a rate in [0, 1). `nesterov` only false: true
# needs momentum and no dampening (a check of its own).
_OPTIONAL_STRATEGIES = {
    "epsilon": _POSITIVE,
    "lr_decay": _POSITIVE,
    "momentum_decay": _POSITIVE,
    "nesterov": st.just(False),
    "amsgrad": st.booleans(),
    "centered": st.booleans(),
    "decoupled_weight_decay": st.booleans(),
    "maximize": st.booleans(),
}


@st.composite
def valid_configs(draw):
    dataset = draw(st.sampled_from(cfg.DATASETS))
    own_file = dataset == cfg.FILE_DATASET  # a file's task: data.task (auto: once loaded)
    task = draw(st.sampled_from(cfg.DATA_TASKS[1:])) if own_file else cfg.TASKS[dataset]
    path = draw(st.sampled_from(["my data.csv", "x.NPZ", "d/train.npz"])) if own_file else ""
    target = draw(_PATH.filter(lambda s: s != "")) if path.endswith(".csv") else ""
    layers = draw(st.integers(0, 3))
    epochs = draw(st.integers(1, 500))
    validation_split = draw(st.sampled_from([0.0, draw(_UNIT)]))
    watchable = cfg.monitors(task, validation=validation_split > 0)
    optimizer = draw(st.sampled_from(list(cfg.OPTIMIZERS)))
    optional = {
        name: draw(st.none() | _OPTIONAL_STRATEGIES.get(name, _UNIT))
        for name in cfg.OPTIMIZER_PARAMS[optimizer]
    }
    regularizer = draw(st.sampled_from(list(cfg.REGULARIZERS)))
    l1 = draw(_POSITIVE) if regularizer in ("l1", "l1l2") else 0.0
    l2 = draw(_POSITIVE) if regularizer in ("l2", "l1l2") else 0.0
    lr = draw(_POSITIVE)
    schedule = draw(st.sampled_from(list(cfg.SCHEDULES)))
    # A cycling schedule's momentum: only with an optimizer that has one, left unset there.
    cycled = {"momentum", "beta_1"} & set(cfg.OPTIMIZER_PARAMS[optimizer])
    cycles = (
        schedule in cfg.CYCLING_SCHEDULES
        and bool(cycled)
        and all(optional[k] is None for k in cycled)
        and draw(st.booleans())
    )
    momentum_bounds = {
        name: draw(st.none() | _UNIT) if cycles else None
        for name in ("base_momentum", "max_momentum")
    }
    loss = (
        "cross_entropy"
        if task == "classification"
        else draw(st.sampled_from(cfg.REGRESSION_LOSSES))
    )
    c = TrainConfig(
        seed=draw(st.integers(0, 2**32 - 1)),
        epochs=epochs,
        batch_size=draw(st.integers(1, 4096)),
        validation_split=validation_split,
        steps_per_execution=draw(st.integers(1, 100)),
        jit_compile=draw(st.sampled_from(cfg.JIT_COMPILE)),
        strategy=draw(st.sampled_from(cfg.STRATEGIES)),
        runs_dir=draw(_PATH.filter(lambda s: s.strip() != "")),
        run_name=draw(st.from_regex(r"\A([A-Za-z0-9][A-Za-z0-9._-]{0,20})?\Z")),
        data=cfg.DataConfig(
            name=dataset,
            path=path,
            target=target,
            task=task if own_file else draw(st.sampled_from(["auto", task])),
            test_split=draw(st.floats(0.01, 0.99)),
            data_dir=draw(_PATH),
            mean=draw(st.floats(-1e3, 1e3)),
            std=draw(_POSITIVE),
            limit=draw(st.none() | st.integers(2, 10**6)),
            outlier_fraction=draw(_UNIT),
        ),
        model=cfg.ModelConfig(
            hidden=draw(st.lists(st.integers(1, 4096), min_size=layers, max_size=layers)),
            batch_norm=draw(st.lists(st.booleans(), min_size=layers, max_size=layers)),
            dropout=draw(st.lists(_UNIT, min_size=layers, max_size=layers)),
            activation=draw(st.sampled_from(cfg.ACTIVATIONS)),
            initializer=draw(st.sampled_from(list(cfg.INITIALIZERS))),
            regularizer=regularizer,
            l1=l1,
            l2=l2,
        ),
        loss=cfg.LossConfig(
            name=loss,
            label_smoothing=draw(_UNIT) if loss == "cross_entropy" else 0.0,
            delta=draw(_POSITIVE),
            beta=draw(_POSITIVE),
        ),
        optimizer=cfg.OptimizerConfig(
            name=optimizer,
            learning_rate=lr,
            weight_decay=draw(st.floats(0.0, 1.0)),
            exclude_bias_and_norm=draw(st.booleans()),
            clipnorm=draw(st.none() | _POSITIVE),
            **optional,
        ),
        schedule=cfg.ScheduleConfig(
            name=schedule,
            step_size=draw(st.integers(1, 100)),
            gamma=draw(_POSITIVE),
            t_max=draw(st.none() | st.integers(1, 1000)),
            eta_min=draw(st.floats(0.0, lr)),
            warmup_epochs=0 if schedule == "noam" else draw(st.integers(0, epochs - 1)),
            cycle_momentum=cycles or schedule not in cfg.CYCLING_SCHEDULES,
            **momentum_bounds,
        ),
        early_stopping=cfg.EarlyStoppingConfig(
            enabled=draw(st.booleans()),
            monitor=draw(st.sampled_from(watchable)),
            patience=draw(st.integers(0, 50)),
            min_delta=draw(st.floats(0.0, 1.0)),
        ),
        plateau=cfg.PlateauConfig(
            enabled=draw(st.booleans()),
            monitor=draw(st.sampled_from(watchable)),
            factor=draw(st.floats(0.01, 0.99)),
            cooldown=draw(st.integers(0, 10)),
        ),
    )
    return c.validate()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_configs())
def test_to_toml_reloads_to_an_equal_config(config):
    text = config.to_toml()
    again = TrainConfig.from_toml_string(text)
    assert again == config
    assert again.to_toml() == text
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_to_toml_escapes_strings():
    c = TrainConfig(runs_dir='a "quoted" \\ path\twith\ncontrol \x01\x7f and ü')
    text = c.to_toml()
    assert 'runs_dir = "a \\"quoted\\" \\\\ path\\twith\\ncontrol \\u0001\\u007F and ü"' in text
    assert TrainConfig.from_toml_string(text).runs_dir == c.runs_dir


def test_invalid_toml_and_missing_file_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"config file: .* is not valid TOML"):
        TrainConfig.from_toml_string("epochs = = 3", source="bad.toml")
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="cannot read") as info:
        TrainConfig.from_toml(missing)
    assert info.value.got == str(missing)


# ---------------------------------------------------------------------------------------------
# Unknown keys: named, with the closest valid key.


@pytest.mark.parametrize(
    ("text", "key", "suggestion"),
    [
        ("[optimizer]\nlearnig_rate = 0.1\n", "optimizer.learnig_rate", "optimizer.learning_rate"),
        ("epoch = 3\n", "epoch", "epochs"),
        ("[optimiser]\nname = 'sgd'\n", "optimiser", "optimizer"),
        ("[early_stopping]\npatients = 3\n", "early_stopping.patients", "early_stopping.patience"),
    ],
)
def test_unknown_toml_key_is_named_with_a_suggestion(text, key, suggestion):
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_toml_string(text)
    assert info.value.field == key
    assert str(info.value).startswith(f"{key}: unknown key; did you mean {suggestion!r}?")


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("optimizer.learning_rat", "optimizer.learning_rate"),
        ("optimiser.name", "optimizer.name"),
        ("batchsize", "batch_size"),
        ("model.hiden", "model.hidden"),
    ],
)
def test_unknown_override_key_is_named_with_a_suggestion(key, suggestion):
    with pytest.raises(ConfigError) as info:
        TrainConfig().override({key: "1"})
    assert info.value.field == key
    assert f"did you mean {suggestion!r}?" in str(info.value)


def test_unknown_key_far_from_any_gets_the_list_without_a_guess():
    with pytest.raises(ConfigError) as info:
        TrainConfig().override({"zzzz": "1"})
    message = str(info.value)
    assert message.startswith("zzzz: unknown key (valid top-level keys: seed, epochs")
    assert "tables: data, model, loss, optimizer, schedule, early_stopping, plateau" in message


def test_overriding_a_whole_table_names_its_keys():
    with pytest.raises(ConfigError, match=r"^plateau: is a table; set one of its keys: "):
        TrainConfig().override({"plateau": "true"})


def test_a_section_given_a_value_is_an_error():
    with pytest.raises(ConfigError, match=r"^optimizer: got 3; allowed: a table \[optimizer\]"):
        TrainConfig.from_dict({"optimizer": 3})


# ---------------------------------------------------------------------------------------------
# Overrides: strings from the CLI are parsed to the field's type.


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("optimizer.learning_rate", "0.1", 0.1),
        ("optimizer.learning_rate", "1e-3", 0.001),
        ("optimizer.learning_rate", "2", 2.0),
        ("epochs", "3", 3),
        ("epochs", " 7 ", 7),
        ("epochs", "4.0", 4),
        ("early_stopping.enabled", "true", True),
        ("early_stopping.enabled", "False", False),
        ("early_stopping.enabled", "yes", True),
        ("early_stopping.enabled", "0", False),
        ("model.hidden", "256,128", [256, 128]),
        ("model.hidden", "[512, 64, 32]", [512, 64, 32]),
        ("model.hidden", "1024", [1024]),
        ("model.hidden", "", []),
        ("model.batch_norm", "true,false", [True, False]),
        ("model.dropout", "0.5, 0.25", [0.5, 0.25]),
        ("optimizer.momentum", "0.9", 0.9),
        ("optimizer.momentum", "none", None),
        ("data.limit", "null", None),
        ("data.limit", "100", 100),
        ("jit_compile", "auto", "auto"),
        ("jit_compile", "true", True),
        ("jit_compile", "off", False),
        ("data.name", "mnist-mini", "mnist-mini"),
        ("run_name", "", ""),
    ],
)
def test_override_parses_strings_to_the_field_type(key, text, expected):
    c = TrainConfig().override({key: text})
    section, _, name = key.rpartition(".")
    value = getattr(getattr(c, section) if section else c, name)
    assert value == expected and type(value) is type(expected)


def test_override_takes_typed_values_and_leaves_the_original_alone():
    base = TrainConfig()
    c = base.override({"epochs": 3, "optimizer.learning_rate": 1, "model.hidden": (32,)})
    assert (c.epochs, c.optimizer.learning_rate, c.model.hidden) == (3, 1.0, [32])
    assert base == TrainConfig()
    c.model.hidden.append(7)  # copies, not shared lists
    assert base.model.hidden == [256, 128]


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("epochs", "three", "an integer"),
        ("epochs", "1.5", "an integer"),
        ("epochs", True, "an integer"),
        ("optimizer.learning_rate", "fast", "a number"),
        ("optimizer.learning_rate", "true", "a number"),
        ("early_stopping.enabled", "maybe", "true or false"),
        ("early_stopping.enabled", 1, "true or false"),
        ("model.hidden", "256,abc", "a list of integers"),
        ("model.hidden", 256, "a list of integers"),
        ("model.batch_norm", "true,perhaps", "a list of booleans"),
        ("model.dropout", [0.5, "x"], "a list of numbers"),
        ("optimizer.momentum", "lots", "a number or none"),
        ("data.name", 3, "a string"),
        ("jit_compile", 2, "'auto', true or false"),
    ],
)
def test_override_type_errors_name_field_value_and_type(key, value, allowed):
    with pytest.raises(ConfigError) as info:
        TrainConfig().override({key: value})
    err = info.value
    assert (err.field, err.got, err.allowed) == (key, value, allowed)
    assert str(err) == f"{key}: got {value!r}; allowed: {allowed}"


def test_parse_assignments():
    assert cfg.parse_assignments(["epochs=3", " optimizer.name = sgd ", "run_name=a=b"]) == {
        "epochs": "3",
        "optimizer.name": "sgd",
        "run_name": "a=b",
    }
    with pytest.raises(ConfigError, match=r"^--set: got 'epochs'; allowed: key=value"):
        cfg.parse_assignments(["epochs"])


# ---------------------------------------------------------------------------------------------
# Validation: every rule, and the message it gives.

_OPTIMIZER_NAMES = "'sgd', 'momentum', 'nesterov', 'adagrad', 'rmsprop', 'adam', 'adamw'"


@pytest.mark.parametrize(
    ("overrides", "field", "got", "allowed"),
    [
        ({"optimizer.name": "adamx"}, "optimizer.name", "adamx", f"one of {_OPTIMIZER_NAMES}"),
        ({"optimizer.name": "lbfgs"}, "optimizer.name", "lbfgs", f"one of {_OPTIMIZER_NAMES}"),
        ({"seed": -1}, "seed", -1, "an integer in [0, 4,294,967,295]"),
        ({"seed": 2**32}, "seed", 2**32, "an integer in [0, 4,294,967,295]"),
        ({"epochs": 0}, "epochs", 0, "an integer in [1, 1,000,000]"),
        ({"batch_size": 0}, "batch_size", 0, "an integer in [1, 1,048,576]"),
        ({"batch_size": 2**63}, "batch_size", 2**63, "an integer in [1, 1,048,576]"),
        ({"eval_batch_size": -5}, "eval_batch_size", -5, "an integer in [1, 1,048,576]"),
        ({"validation_split": 1.0}, "validation_split", 1.0, "a number in [0.0, 1.0)"),
        ({"validation_split": -0.1}, "validation_split", -0.1, "a number in [0.0, 1.0)"),
        ({"validation_split": "nan"}, "validation_split", float("nan"), "a number in [0.0, 1.0)"),
        ({"steps_per_execution": 0}, "steps_per_execution", 0, "an integer in [1, 65,536]"),
        ({"jit_compile": "xla"}, "jit_compile", "xla", "one of 'auto', true, false"),
        (
            {"strategy": "tpu"},
            "strategy",
            "tpu",
            "one of 'default', 'mirrored', 'multi-worker'",
        ),
        ({"runs_dir": " "}, "runs_dir", " ", "a non-empty path of at most 1,024 characters"),
        ({"runs_dir": "a\x00b"}, "runs_dir", "a\x00b", "a non-empty path of at most 1,024"),
        ({"data.data_dir": "d" * 5000}, "data.data_dir", "d" * 5000, "a path of at most 1,024"),
        ({"run_name": "../up"}, "run_name", "../up", "empty (a generated id) or 1-100 of"),
        ({"run_name": "a b"}, "run_name", "a b", "empty (a generated id) or 1-100 of"),
        ({"run_name": "x" * 101}, "run_name", "x" * 101, "empty (a generated id) or 1-100 of"),
        (
            {"data.name": "imagenet"},
            "data.name",
            "imagenet",
            "one of 'mnist', 'mnist-mini', 'regression', 'fashion_mnist', 'cifar10', 'cifar100'",
        ),
        ({"data.std": 0}, "data.std", 0.0, "a number > 0.0"),
        ({"data.mean": "inf"}, "data.mean", float("inf"), "a finite number"),
        ({"data.limit": 0}, "data.limit", 0, "none or an integer in [1, "),
        ({"data.regression_samples": 1}, "data.regression_samples", 1, "an integer in [2, "),
        ({"data.regression_features": 0}, "data.regression_features", 0, "an integer in [1, "),
        ({"data.regression_noise": -1}, "data.regression_noise", -1.0, "a number >= 0.0"),
        ({"data.outlier_fraction": 1}, "data.outlier_fraction", 1.0, "a number in [0.0, 1.0)"),
        ({"data.outlier_scale": -2}, "data.outlier_scale", -2.0, "a number >= 0.0"),
        ({"model.hidden": "256,0"}, "model.hidden[1]", 0, "an integer in [1, "),
        (
            {"model.hidden": "256"},
            "model.batch_norm",
            [True, False],
            "a list of 1 (one per entry of model.hidden)",
        ),
        (
            {"model.hidden": "256", "model.batch_norm": "true"},
            "model.dropout",
            [0.5, 0.0],
            "a list of 1 (one per entry of model.hidden)",
        ),
        ({"model.dropout": "0.5,1.0"}, "model.dropout[1]", 1.0, "a number in [0.0, 1.0)"),
        ({"model.activation": "relu6"}, "model.activation", "relu6", "one of 'relu', "),
        ({"model.initializer": "glorot"}, "model.initializer", "glorot", "one of 'torch_default'"),
        ({"model.regularizer": "l3"}, "model.regularizer", "l3", "one of 'none', 'l1', 'l2'"),
        ({"model.l2": 0.01}, "model.l2", 0.01, "0.0 with regularizer 'none'"),
        ({"model.regularizer": "l2"}, "model.l2", 0.0, "a number > 0 with regularizer 'l2'"),
        ({"model.regularizer": "l1"}, "model.l1", 0.0, "a number > 0 with regularizer 'l1'"),
        (
            {"model.regularizer": "l1", "model.l1": 0.1, "model.l2": 0.1},
            "model.l2",
            0.1,
            "0.0 with regularizer 'l1'",
        ),
        (
            {"model.regularizer": "l1l2"},
            "model.l1",
            0.0,
            "l1 > 0 or l2 > 0 with regularizer 'l1l2'",
        ),
        ({"model.l1": -1}, "model.l1", -1.0, "a number >= 0.0"),
        ({"loss.name": "hinge"}, "loss.name", "hinge", "one of 'cross_entropy', 'mse'"),
        (
            {"loss.name": "mse"},
            "loss.name",
            "mse",
            "one of 'cross_entropy' for the 'mnist' dataset",
        ),
        (
            {"data.name": "regression"},
            "loss.name",
            "cross_entropy",
            "one of 'mse', 'mae', 'huber', 'smooth_l1' for a regression dataset",
        ),
        ({"loss.label_smoothing": 1}, "loss.label_smoothing", 1.0, "a number in [0.0, 1.0)"),
        (
            {"data.name": "regression", "loss.name": "mae", "loss.label_smoothing": 0.1},
            "loss.label_smoothing",
            0.1,
            "0.0 unless cross_entropy",
        ),
        ({"loss.delta": 0}, "loss.delta", 0.0, "a number > 0.0"),
        ({"loss.beta": -1}, "loss.beta", -1.0, "a number >= 0.0"),
        ({"optimizer.learning_rate": 0}, "optimizer.learning_rate", 0.0, "a number > 0.0"),
        ({"optimizer.weight_decay": -0.1}, "optimizer.weight_decay", -0.1, "a number >= 0.0"),
        (
            {"optimizer.momentum": 0.9},
            "optimizer.momentum",
            0.9,
            "unset (none) for 'adamw'; only 'sgd', 'momentum', 'nesterov', 'rmsprop' take it",
        ),
        (
            {"optimizer.name": "sgd", "optimizer.beta_1": 0.9},
            "optimizer.beta_1",
            0.9,
            "unset (none) for 'sgd'; only 'adam', 'adamw', 'adamax', 'nadam', 'radam' take it",
        ),
        (
            {"optimizer.rho": 0.9},
            "optimizer.rho",
            0.9,
            "unset (none) for 'adamw'; only 'rmsprop', 'adadelta' take it",
        ),
        (
            {"optimizer.name": "momentum", "optimizer.momentum": 1.0},
            "optimizer.momentum",
            1.0,
            "none or a number in [0.0, 1.0)",
        ),
        ({"optimizer.beta_2": 1.5}, "optimizer.beta_2", 1.5, "none or a number in [0.0, 1.0)"),
        ({"optimizer.epsilon": 0}, "optimizer.epsilon", 0.0, "none or a number > 0.0"),
        ({"optimizer.clipnorm": 0}, "optimizer.clipnorm", 0.0, "none or a number > 0.0"),
        ({"schedule.name": "linearr"}, "schedule.name", "linearr", "one of 'none', 'step'"),
        ({"schedule.step_size": 0}, "schedule.step_size", 0, "an integer in [1, "),
        ({"schedule.gamma": 0}, "schedule.gamma", 0.0, "a number > 0.0"),
        ({"schedule.t_max": 0}, "schedule.t_max", 0, "none or an integer in [1, "),
        (
            {"schedule.name": "cosine", "schedule.eta_min": 0.01},
            "schedule.eta_min",
            0.01,
            "a number in [0.0, 0.001]",
        ),
        (
            {"schedule.warmup_epochs": 20},
            "schedule.warmup_epochs",
            20,
            "an integer in [0, epochs) = [0, 20)",
        ),
        ({"schedule.warmup_epochs": -1}, "schedule.warmup_epochs", -1, "an integer in [0, "),
        (
            {"schedule.name": "noam", "schedule.warmup_epochs": 1},
            "schedule.warmup_epochs",
            1,
            "0 with the 'noam' schedule (it warms up over schedule.warmup_steps)",
        ),
        ({"schedule.d_model": 0}, "schedule.d_model", 0, "an integer in [1, "),
        ({"schedule.warmup_steps": 0}, "schedule.warmup_steps", 0, "an integer in [1, "),
        ({"schedule.scale": 0}, "schedule.scale", 0.0, "a number > 0.0"),
        (
            {"early_stopping.monitor": "val_acc"},
            "early_stopping.monitor",
            "val_acc",
            "one of 'val_loss', 'val_accuracy', 'loss', 'accuracy'",
        ),
        (
            {"validation_split": 0},
            "early_stopping.monitor",
            "val_loss",
            "one of 'loss', 'accuracy' (validation_split is 0: no val_ quantities)",
        ),
        (
            {"data.name": "regression", "loss.name": "mse", "early_stopping.monitor": "accuracy"},
            "early_stopping.monitor",
            "accuracy",
            "one of 'val_loss', 'val_mae', 'loss', 'mae'",
        ),
        ({"early_stopping.patience": -1}, "early_stopping.patience", -1, "an integer in [0, "),
        ({"early_stopping.min_delta": -1}, "early_stopping.min_delta", -1.0, "a number >= 0.0"),
        (
            {"plateau.monitor": "lr"},
            "plateau.monitor",
            "lr",
            "one of 'val_loss', 'val_accuracy', 'loss', 'accuracy'",
        ),
        ({"plateau.factor": 1}, "plateau.factor", 1.0, "a number in (0.0, 1.0)"),
        ({"plateau.factor": 0}, "plateau.factor", 0.0, "a number in (0.0, 1.0)"),
        ({"plateau.patience": -1}, "plateau.patience", -1, "an integer in [0, "),
        ({"plateau.threshold": -1}, "plateau.threshold", -1.0, "a number >= 0.0"),
        ({"plateau.cooldown": -1}, "plateau.cooldown", -1, "an integer in [0, "),
        ({"plateau.min_lr": -1}, "plateau.min_lr", -1.0, "a number >= 0.0"),
    ],
)
def test_validation_error_names_field_value_and_allowed(overrides, field, got, allowed):
    config = TrainConfig().override(overrides)
    with pytest.raises(ConfigError) as info:
        config.validate()
    err = info.value
    assert err.field == field
    assert err.got == got or (got != got and err.got != err.got)  # NaN is not equal to itself
    assert err.allowed.startswith(allowed)
    assert str(err).startswith(f"{field}: got {got!r}; allowed: {allowed}")


def test_unknown_optimizer_lists_every_valid_name_and_suggests_one():
    with pytest.raises(ConfigError) as info:
        TrainConfig().override({"optimizer.name": "adamx"}).validate()
    message = str(info.value)
    for name in cfg.OPTIMIZERS:
        assert repr(name) in message
    assert message.endswith("(did you mean 'adamax'?)")


def test_validate_catches_wrong_types_in_a_config_built_by_hand():
    with pytest.raises(ConfigError, match=r"^epochs: got '3'; allowed: an integer$"):
        TrainConfig(epochs="3").validate()
    with pytest.raises(ConfigError, match=r"^model: got 'big'; allowed: a ModelConfig$"):
        TrainConfig(model="big").validate()
    c = TrainConfig(data=cfg.DataConfig(std=1)).validate()  # an int for a float becomes a float
    assert type(c.data.std) is float


def test_validation_split_zero_with_training_monitors_is_valid():
    c = TrainConfig().override(
        {"validation_split": 0, "early_stopping.monitor": "loss", "plateau.monitor": "accuracy"}
    )
    assert c.validate() is c


def test_regression_config_is_valid_with_each_regression_loss():
    for loss in cfg.REGRESSION_LOSSES:
        TrainConfig().override({"data.name": "regression", "loss.name": loss}).validate()


# ---------------------------------------------------------------------------------------------
# The factory layer: every name maps to a real kerasdl class that accepts the arguments.


def _build(module, spec):
    name, kwargs = spec
    return getattr(module, name)(**kwargs)


@pytest.mark.parametrize("name", list(cfg.OPTIMIZERS))
def test_optimizer_spec_builds_the_kerasdl_optimizer(name):
    import kerasdl.optimizers

    params = {
        "momentum": 0.8,
        "beta_1": 0.8,
        "beta_2": 0.99,
        "epsilon": 1e-6,
        "rho": 0.95,
        "dampening": 0.1,
        "nesterov": False,
        "amsgrad": True,
        "centered": True,
        "lr_decay": 0.01,
        "momentum_decay": 0.01,
        "decoupled_weight_decay": True,
        "maximize": True,
    }
    overrides = {"optimizer.name": name, "optimizer.learning_rate": 0.05}
    overrides.update({f"optimizer.{p}": params[p] for p in cfg.OPTIMIZER_PARAMS[name]})
    overrides["optimizer.clipnorm"] = 2.0
    config = TrainConfig().override(overrides).validate()
    optimizer = _build(kerasdl.optimizers, cfg.optimizer_spec(config))
    assert type(optimizer).__qualname__ == cfg.OPTIMIZERS[name]
    assert float(optimizer.learning_rate) == pytest.approx(0.05)
    assert optimizer.weight_decay == pytest.approx(0.01)
    assert optimizer.clipnorm == 2.0
    for p in cfg.OPTIMIZER_PARAMS[name]:
        assert getattr(optimizer, p) == pytest.approx(params[p])


def test_optimizer_spec_leaves_unset_hyperparameters_to_the_optimizer():
    name, kwargs = cfg.optimizer_spec(TrainConfig())
    assert (name, kwargs) == (
        "AdamW",
        {"learning_rate": 0.001, "weight_decay": 0.01, "exclude_bias_and_norm": False},
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, ("SparseCategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.0})),
        ({"data.name": "regression", "loss.name": "mse"}, ("MeanSquaredError", {})),
        ({"data.name": "regression", "loss.name": "mae"}, ("MeanAbsoluteError", {})),
        (
            {"data.name": "regression", "loss.name": "huber", "loss.delta": 2.0},
            ("Huber", {"delta": 2.0}),
        ),
        (
            {"data.name": "regression", "loss.name": "smooth_l1", "loss.beta": 0.5},
            ("SmoothL1", {"beta": 0.5}),
        ),
    ],
)
def test_loss_spec_builds_the_kerasdl_loss(overrides, expected):
    import kerasdl.losses

    config = TrainConfig().override(overrides).validate()
    assert cfg.loss_spec(config) == expected
    _build(kerasdl.losses, expected)


@pytest.mark.parametrize("name", list(cfg.INITIALIZERS))
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "gelu"])
def test_initializer_spec_builds_the_kerasdl_initializer(name, activation):
    import kerasdl.initializers

    config = TrainConfig().override({"model.initializer": name, "model.activation": activation})
    spec = cfg.initializer_spec(config.validate())
    initializer = _build(kerasdl.initializers, spec)
    assert type(initializer).__qualname__ == cfg.INITIALIZERS[name]
    if name.startswith("he_"):
        expected = "leaky_relu" if activation == "leaky_relu" else "relu"
        assert initializer.nonlinearity == expected


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, (None, {})),
        ({"model.regularizer": "l1", "model.l1": 0.1}, ("L1", {"l1": 0.1})),
        ({"model.regularizer": "l2", "model.l2": 0.2}, ("L2", {"l2": 0.2})),
        (
            {"model.regularizer": "l1l2", "model.l1": 0.1, "model.l2": 0.2},
            ("L1L2", {"l1": 0.1, "l2": 0.2}),
        ),
    ],
)
def test_regularizer_spec_builds_the_kerasdl_regularizer(overrides, expected):
    import kerasdl.regularizers

    spec = cfg.regularizer_spec(TrainConfig().override(overrides).validate())
    assert spec == expected
    if spec[0] is not None:
        _build(kerasdl.regularizers, spec)


@pytest.mark.parametrize("name", list(cfg.SCHEDULES))
def test_schedule_spec_builds_the_kerasdl_schedule(name):
    import kerasdl.schedules

    overrides = {"schedule.name": name, "epochs": 10}
    if name != "noam":
        overrides["schedule.warmup_epochs"] = 2
    config = TrainConfig().override(overrides).validate()
    spec = cfg.schedule_spec(config, steps_per_epoch=5)
    assert spec["class"] == cfg.SCHEDULES[name]
    assert spec["warmup_steps"] == (0 if name == "noam" else 10)
    if spec["class"] is None:
        assert spec["kwargs"] == {}
        return
    schedule = getattr(kerasdl.schedules, spec["class"])(**spec["kwargs"])
    if name in ("step", "exponential", "cosine"):
        assert spec["kwargs"]["steps_per_epoch"] == 5
        assert float(schedule(0)) == pytest.approx(0.001)
    if name == "cosine":
        assert spec["kwargs"]["T_max"] == 8  # the epochs left after the 2 warmup epochs
    if name == "step":
        assert spec["kwargs"]["step_size"] == 10 and spec["kwargs"]["gamma"] == 0.5
        assert float(schedule(5 * 10)) == pytest.approx(0.0005)  # epoch 10: one decay


def test_monitors_and_plateau_mode():
    assert cfg.monitors("classification") == ("val_loss", "val_accuracy", "loss", "accuracy")
    assert cfg.monitors("regression", validation=False) == ("loss", "mae")
    assert cfg.plateau_mode("val_accuracy") == "max"
    assert cfg.plateau_mode("val_loss") == cfg.plateau_mode("mae") == "min"


# ---------------------------------------------------------------------------------------------
# docs/config.md: its example loads, and it documents every field.


def _doc():
    return (REPO / "docs" / "config.md").read_text()


def test_docs_example_toml_loads_and_validates():
    blocks = re.findall(r"```toml\n(.*?)```", _doc(), flags=re.S)
    assert blocks, "docs/config.md has no ```toml example"
    for block in blocks:
        TrainConfig.from_toml_string(block).validate()


def _doc_sections():
    """``{"": top-level text, "data": text of the [data] section, ...}`` of docs/config.md."""
    sections, name = {}, None
    for line in _doc().splitlines():
        if line.startswith("### "):
            match = re.search(r"`\[(\w+)\]`", line)
            name = match.group(1) if match else ""
        elif name is not None:
            sections[name] = sections.get(name, "") + line + "\n"
    return sections


def test_docs_document_every_field_with_its_default():
    sections = _doc_sections()
    assert set(sections) == {"", *cfg._SECTIONS}
    for path, default in cfg.field_paths().items():
        section, _, name = path.rpartition(".")
        rows = [r for r in sections[section].splitlines() if r.startswith(f"| `{name}` |")]
        assert len(rows) == 1, f"docs/config.md: {len(rows)} table rows for {path}"
        shown = "none" if default is None else f"`{cfg._toml_value(default)}`"
        assert rows[0].split("|")[2].strip() == shown, f"{path}: default {shown} not shown"
