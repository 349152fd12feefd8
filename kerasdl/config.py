"""`TrainConfig`: every choice of a training run, loadable from TOML, checked before a run starts.

A config is a tree of small dataclasses, one per TOML table::

    TrainConfig                    seed, epochs, batch_size, validation_split, ...
      .data      DataConfig        [data]            which dataset, normalisation, limit
      .model     ModelConfig       [model]           layer sizes, batch norm, dropout, init, penalty
      .loss      LossConfig        [loss]            cross_entropy | mse | mae | huber | smooth_l1
      .optimizer OptimizerConfig   [optimizer]       sgd ... adamw and their hyperparameters
      .schedule  ScheduleConfig    [schedule]        none | step | cosine | onecycle | ...
      .early_stopping              [early_stopping]  patience, monitor (also picks the best model)
      .plateau   PlateauConfig     [plateau]         ReduceLROnPlateau

`TrainConfig()` is the chapter's complete example (3.6): MNIST normalised with (0.1307, 0.3081),
784-256-BatchNorm-ReLU-Dropout(0.5)-128-ReLU-10, cross-entropy on logits, AdamW(1e-3,
weight_decay=0.01), StepLR(step_size=10, gamma=0.5) per epoch, 20 epochs, batch 64; unlike the
chapter (see the errata) 10% of the training set is held out for validation, the best model is the
one with the lowest validation loss, early stopping waits 5 epochs, and the test set is evaluated
once, at the end.

Loading checks keys and types (`from_toml`, `from_dict`, `override`); `validate` checks values
(ranges, names, list lengths, fields that must agree). Every error is a `ConfigError` that names the
field, what it got and what is allowed.

This module imports neither Keras nor NumPy: the CLI's ``--help`` and ``kerasdl runs list`` import
it. The name maps at the end (`OPTIMIZERS`, `LOSSES`, ...) and the ``*_spec`` functions are what the
runner builds components from, so validation and the runner agree on every name.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path

from kerasdl._fields import (
    Bool,
    ConfigError,
    Const,
    Each,
    Either,
    Flag,
    Int,
    ModelSource,
    OneOf,
    PathText,
    Pattern,
    Real,
    Regex,
    Rule,
    Tables,
    setting,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "ACTIVATIONS",
    "ARCHITECTURES",
    "DATASETS",
    "DATA_FILE_SUFFIXES",
    "DATA_TASKS",
    "FILE_DATASET",
    "INITIALIZERS",
    "JIT_COMPILE",
    "LOOPS",
    "LOSSES",
    "METRICS",
    "OPTIMIZERS",
    "OPTIMIZER_PARAMS",
    "REGRESSION_LOSSES",
    "REGULARIZERS",
    "SCHEDULES",
    "STRATEGIES",
    "TASKS",
    "ConfigError",
    "DataConfig",
    "EarlyStoppingConfig",
    "FieldSpec",
    "LossConfig",
    "ModelConfig",
    "OptimizerConfig",
    "PlateauConfig",
    "ScheduleConfig",
    "TrainConfig",
    "check_classes",
    "check_task",
    "field_paths",
    "field_specs",
    "group_schedules",
    "initializer_spec",
    "loss_spec",
    "model_source",
    "momentum_spec",
    "monitors",
    "optimizer_spec",
    "parse_assignments",
    "plateau_mode",
    "regularizer_spec",
    "schedule_spec",
    "unused_model_fields",
]

# ---------------------------------------------------------------------------------------------
# Names every layer agrees on. Values are class names in the kerasdl component modules.

#: Dataset name -> task (the named datasets; ``file``'s task is ``data.task``, or the data's).
TASKS = {
    "mnist": "classification",
    "mnist-mini": "classification",
    "regression": "regression",
    "fashion_mnist": "classification",
    "cifar10": "classification",
    "cifar100": "classification",
}
#: The name of your own data: a ``.npz`` or ``.csv`` file (``data.path``).
FILE_DATASET = "file"
DATASETS = (*TASKS, FILE_DATASET)
#: ``data.task``: ``auto`` takes a named dataset's task, or infers a file's from its target.
DATA_TASKS = ("auto", "classification", "regression")
#: The file types ``data.path`` may name (by suffix, any case).
DATA_FILE_SUFFIXES = (".npz", ".csv")
STRATEGIES = ("default", "mirrored", "multi-worker")
#: Training loops: kerasdl's in-memory loop (`kerasdl.loop`), Keras's ``fit``, or the best that
#: applies ("auto": kerasdl's on one device, on JAX or on TensorFlow without XLA, else fit).
LOOPS = ("auto", "kerasdl", "fit")
JIT_COMPILE = ("auto", True, False)
#: The built-in networks of ``model.architecture`` (`kerasdl.models`); it also takes a user's
#: ``module:function``, ``file.py:function`` or ``file.keras``.
ARCHITECTURES = ("mlp", "cnn")
#: The `[model]` fields only the built-in networks read: (field, the architectures that use it).
BUILTIN_MODEL_FIELDS = (
    ("hidden", ("mlp",)),
    ("batch_norm", ("mlp",)),
    ("dropout", ARCHITECTURES),
    ("activation", ARCHITECTURES),
    ("initializer", ARCHITECTURES),
    ("regularizer", ARCHITECTURES),
    ("l1", ARCHITECTURES),
    ("l2", ARCHITECTURES),
)
#: Names of `keras.activations` functions a hidden layer may use.
ACTIVATIONS = ("relu", "leaky_relu", "elu", "selu", "gelu", "silu", "tanh", "sigmoid")
#: Config name -> class in `kerasdl.initializers` (for the weights of every Dense layer).
INITIALIZERS = {
    "torch_default": "TorchDefault",
    "xavier_uniform": "XavierUniform",
    "xavier_normal": "XavierNormal",
    "he_uniform": "HeUniform",
    "he_normal": "HeNormal",
    "lecun_normal": "LeCunNormal",
    "zeros": "Zeros",
}
#: Config name -> class in `kerasdl.regularizers` (None: no penalty).
REGULARIZERS = {"none": None, "l1": "L1", "l2": "L2", "l1l2": "L1L2"}
#: Config name -> class in `kerasdl.losses`.
LOSSES = {
    "cross_entropy": "SparseCategoricalCrossentropy",
    "mse": "MeanSquaredError",
    "mae": "MeanAbsoluteError",
    "huber": "Huber",
    "smooth_l1": "SmoothL1",
}
CLASSIFICATION_LOSSES = ("cross_entropy",)
#: The classes of the named classification datasets (a file's are known once it is loaded:
#: `check_classes`); `kerasdl.data.IMAGE_DATASETS` agrees (tests/cli/test_config_loss.py).
NUM_CLASSES = {"mnist": 10, "mnist-mini": 10, "fashion_mnist": 10, "cifar10": 10, "cifar100": 100}
REGRESSION_LOSSES = ("mse", "mae", "huber", "smooth_l1")
#: Config name -> class in `kerasdl.optimizers`.
OPTIMIZERS = {
    "sgd": "SGD",
    "momentum": "Momentum",
    "nesterov": "Nesterov",
    "adagrad": "Adagrad",
    "rmsprop": "RMSprop",
    "adam": "Adam",
    "adamw": "AdamW",
    "adadelta": "Adadelta",
    "adamax": "Adamax",
    "nadam": "NAdam",
    "radam": "RAdam",
}
#: The optional `[optimizer]` fields each optimizer takes (all take learning_rate,
#: weight_decay, exclude_bias_and_norm and clipnorm).
OPTIMIZER_PARAMS = {
    "sgd": ("momentum", "dampening", "nesterov", "maximize"),
    "momentum": ("momentum", "maximize"),
    "nesterov": ("momentum", "maximize"),
    "adagrad": ("epsilon", "lr_decay", "maximize"),
    "rmsprop": ("rho", "epsilon", "momentum", "centered", "maximize"),
    "adam": ("beta_1", "beta_2", "epsilon", "amsgrad", "maximize"),
    "adamw": ("beta_1", "beta_2", "epsilon", "amsgrad", "maximize"),
    "adadelta": ("rho", "epsilon", "maximize"),
    "adamax": ("beta_1", "beta_2", "epsilon", "maximize"),
    "nadam": (
        "beta_1",
        "beta_2",
        "epsilon",
        "momentum_decay",
        "decoupled_weight_decay",
        "maximize",
    ),
    "radam": ("beta_1", "beta_2", "epsilon", "decoupled_weight_decay", "maximize"),
}
_OPTIONAL_OPTIMIZER_PARAMS = (
    "momentum",
    "beta_1",
    "beta_2",
    "epsilon",
    "rho",
    "dampening",
    "nesterov",
    "amsgrad",
    "centered",
    "lr_decay",
    "momentum_decay",
    "decoupled_weight_decay",
    "maximize",
)
#: Config name -> class in `kerasdl.schedules` (None: a constant learning rate).
SCHEDULES = {
    "none": None,
    "step": "StepLR",
    "exponential": "ExponentialLR",
    "cosine": "CosineAnnealingLR",
    "noam": "NoamWarmup",
    "multistep": "MultiStepLR",
    "constant": "ConstantLR",
    "linear": "LinearLR",
    "polynomial": "PolynomialLR",
    "cosine_restarts": "CosineAnnealingWarmRestarts",
    "cyclic": "CyclicLR",
    "onecycle": "OneCycleLR",
}
#: The metrics the runner compiles for each task, besides the loss.
METRICS = {"classification": ("accuracy",), "regression": ("mae",)}

#: Upper bounds of the sizes (a config beyond them fails at once, naming the field, instead of
#: reaching TensorFlow after the data is loaded).
MAX_EPOCHS = 1_000_000
MAX_BATCH = 1 << 20
MAX_STEPS_PER_EXECUTION = 1 << 16
MAX_THREADS = 1024
MAX_EXAMPLES = 1 << 31
MAX_FEATURES = 1 << 16
MAX_UNITS = 1 << 16
MAX_LAYERS = 100
MAX_OPTIMIZER_STEPS = 10**12


def monitors(task: str, validation: bool = True) -> tuple[str, ...]:
    """The quantities `fit` logs for `task`, which early stopping and the plateau may watch.

    ``("val_loss", "val_accuracy", "loss", "accuracy")`` for classification with a validation
    split; without one (``validation=False``) only the training quantities.
    """
    names = ("loss", *METRICS[task])
    if validation:
        return (*(f"val_{n}" for n in names), *names)
    return names


def plateau_mode(monitor: str) -> str:
    """``"max"`` for an accuracy, ``"min"`` for a loss or an error
    (`kerasdl.events.schema.larger_is_better`, the one rule)."""
    from kerasdl.events.schema import larger_is_better

    return "max" if larger_is_better(monitor) else "min"


# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# The fields. Each is declared once (`kerasdl._fields.setting`): default, help, allowed values
# (a rule) and, for some, the ``kerasdl train`` option. Validation, the CLI's options, ``--set``,
# ``kerasdl schedule plot`` and the tables in docs/config.md all come from these declarations.

#: Help panels of ``kerasdl train --help``, in their order.
DATA, MODEL, OPTIMIZATION, RUN = "Data", "Model", "Optimization", "Run"
PANELS = (DATA, MODEL, OPTIMIZATION, RUN)


def _takers(param: str) -> str:
    """The optimizers that take an optional hyperparameter: ``"momentum, nesterov"``."""
    return ", ".join(n for n, params in OPTIMIZER_PARAMS.items() if param in params)


_UNIT = Real(0.0, 1.0, high_open=True)
_POSITIVE = Real(0.0, low_open=True)
_NON_NEGATIVE = Real(0.0)
#: What one `[[optimizer.groups]]` table may hold: a selector, then the hyperparameters it
#: sets (each optimizer only its own, `OPTIMIZER_PARAMS`; `_check_optimizer`).
_GROUP_SELECTORS = (("pattern", Regex()), ("max_rank", Int(0, 64)))
_GROUP_KEYS = (
    ("learning_rate", _NON_NEGATIVE),
    ("weight_decay", _NON_NEGATIVE),
    ("momentum", _UNIT),
    ("beta_1", _UNIT),
    ("beta_2", _UNIT),
    ("epsilon", _POSITIVE),
    ("rho", _UNIT),
    ("dampening", _UNIT),
    ("nesterov", Bool()),
    ("amsgrad", Bool()),
    ("centered", Bool()),
    ("lr_decay", _NON_NEGATIVE),
    ("momentum_decay", _NON_NEGATIVE),
    ("decoupled_weight_decay", Bool()),
    ("maximize", Bool()),
    ("max_lr", _POSITIVE),  # cyclic, onecycle: PyTorch's per-group max_lr (`group_schedules`)
)


@dataclass
class DataConfig:
    """`[data]`: which dataset, where from, and how it is prepared."""

    name: str = setting(
        "mnist",
        help="dataset",
        rule=OneOf(DATASETS),
        doc="`file`: your own `.npz` or `.csv` (`data.path`); the Keras datasets come from "
        "Keras's loader and cache; see [data.md](data.md)",
        flag=Flag("--dataset", DATA, "NAME"),
    )
    path: str = setting(
        "",
        help="your data: a .npz (x_train, y_train, ...) or .csv (with --target) file; "
        "kerasdl train --data also takes a dataset name",
        rule=PathText(empty_ok=True),
        doc='required with `name = "file"`, empty otherwise; `kerasdl train --data PATH` '
        "sets `name` to `file` ([data.md](data.md#your-own-data-npz-and-csv))",
        flag=Flag("--data", DATA, "PATH_OR_NAME"),
    )
    target: str = setting(
        "",
        help="the CSV column to predict",
        rule=Pattern(
            r"[^\x00-\x1f\x7f]{0,256}",
            "a column name of at most 256 characters, without control characters",
        ),
        doc="required for a `.csv`, empty for a `.npz` (its labels are `y_train`); the other "
        "columns are the features",
        flag=Flag("--target", DATA, "COLUMN"),
    )
    task: str = setting(
        "auto",
        help="classification or regression",
        rule=OneOf(DATA_TASKS),
        doc="`auto`: a named dataset's own; for a file, from its labels: whole numbers (at most "
        "1,000 distinct, and at most half as many as the rows) or text -> classification, other "
        "numbers -> regression; a `notice` says which and why",
    )
    test_split: float = setting(
        0.2,
        help="fraction of a file's examples held out as the test set when it has no x_test",
        rule=Real(0.0, 1.0, low_open=True, high_open=True),
        doc="stratified by class for classification; `validation_split` is then taken from the "
        "rest",
    )
    data_dir: str = setting(
        "",
        help="folder with the four MNIST IDX .gz files or mnist.npz (else $KERASDL_DATA_DIR)",
        rule=PathText(empty_ok=True),
        doc="(or the `.npz` itself); empty: `KERASDL_DATA_DIR`, Keras's cache or download, "
        "then the bundled mnist-mini",
        flag=Flag("--data-dir", DATA, "DIR"),
    )
    mean: float = setting(
        0.1307,
        help="normalisation: (x/255 - mean) / std",
        rule=Real(),
        doc="MNIST only (the other datasets use their training set's own)",
    )
    std: float = setting(0.3081, help="normalisation: (x/255 - mean) / std", rule=_POSITIVE)
    limit: int | None = setting(
        None,
        help="use at most this many training and test examples (quick runs)",
        rule=Int(1, MAX_EXAMPLES),
        flag=Flag("--limit", DATA, "N"),
    )
    regression_samples: int = setting(
        4000,
        help="regression: training examples (validation comes from them)",
        rule=Int(2, MAX_EXAMPLES),
    )
    regression_test_samples: int = setting(
        1000, help="regression: test examples (no outliers)", rule=Int(1, MAX_EXAMPLES)
    )
    regression_features: int = setting(
        10, help="regression: input features", rule=Int(1, MAX_FEATURES)
    )
    regression_noise: float = setting(
        0.1, help="regression: standard deviation of the Gaussian noise on y", rule=_NON_NEGATIVE
    )
    outlier_fraction: float = setting(
        0.1, help="regression: fraction of training targets made outliers", rule=_UNIT
    )
    outlier_scale: float = setting(
        10.0,
        help="regression: outlier size, in standard deviations of the clean targets",
        rule=_NON_NEGATIVE,
    )


_ARCHITECTURE = ModelSource(ARCHITECTURES)
_NOT_YOURS = "; a model of your own (`model.architecture`) does not use it"


@dataclass
class ModelConfig:
    """`[model]`: the network; for the MLP, one entry of hidden/batch_norm/dropout per hidden
    layer."""

    architecture: str = setting(
        "mlp",
        help="the network: the chapter's mlp, a small cnn for images, or yours",
        rule=_ARCHITECTURE,
        doc="`mlp`: the MLP of the fields below; `cnn`: Conv-Pool-Conv-Pool-Dropout-Dense(128) "
        "for images (height, width, channels); `module:function` or `file.py:function`: your "
        "function, called as `function(input_shape=..., num_outputs=...)`, returning an "
        "uncompiled Keras model (logits); `file.keras`: a saved model, loaded in Keras's safe "
        "mode; see [models.md](models.md)",
        flag=Flag("--model", MODEL, "MODEL"),
    )
    hidden: list[int] = setting(
        factory=lambda: [256, 128],
        help="units of each hidden Dense layer, e.g. 256,128",
        rule=Each(Int(1, MAX_UNITS), MAX_LAYERS),
        doc="mlp only: `cnn` and a model of your own do not use it",
        flag=Flag("--hidden", MODEL, "SIZES"),
    )
    batch_norm: list[bool] = setting(
        factory=lambda: [True, False],
        help="BatchNormalization after each hidden Dense layer (before its activation), "
        "e.g. true,false",
        rule=Each(Bool(), MAX_LAYERS),
        doc="one per hidden layer; mlp only: `cnn` and a model of your own do not use it",
        flag=Flag("--batch-norm", MODEL, "FLAGS"),
    )
    dropout: list[float] = setting(
        factory=lambda: [0.5, 0.0],
        help="drop probability after each hidden layer's activation, e.g. 0.5,0",
        rule=Each(_UNIT, MAX_LAYERS),
        doc="one per hidden layer; PyTorch's and Keras's `p`, not the chapter's keep "
        "probability; `cnn` takes the largest entry (the preset's 0.5) for its one dropout"
        + _NOT_YOURS,
        flag=Flag("--dropout", MODEL, "RATES"),
    )
    activation: str = setting(
        "relu",
        help="activation of the hidden layers",
        rule=OneOf(ACTIVATIONS),
        doc="Keras's functions; `cnn`'s too" + _NOT_YOURS,
        flag=Flag("--activation", MODEL, "NAME"),
    )
    initializer: str = setting(
        "torch_default",
        help="initializer of every Dense kernel",
        rule=OneOf(tuple(INITIALIZERS)),
        doc="[initializers.md](initializers.md); He gets the activation's gain for relu, "
        "leaky_relu (slope 0.2, Keras's), tanh, sigmoid, selu, else ReLU's; `cnn`'s "
        "convolution kernels too" + _NOT_YOURS,
        flag=Flag("--initializer", MODEL, "NAME"),
    )
    regularizer: str = setting(
        "none",
        help="weight penalty on every Dense kernel (factors: model.l1, model.l2)",
        rule=OneOf(tuple(REGULARIZERS)),
        doc="[regularizers.md](regularizers.md); `cnn`'s convolution kernels too" + _NOT_YOURS,
        flag=Flag("--regularizer", MODEL, "NAME"),
    )
    l1: float = setting(
        0.0,
        help="L1 factor: l1 * sum |w|",
        rule=_NON_NEGATIVE,
        doc="> 0 with `l1`; 0 unless `l1` or `l1l2`",
    )
    l2: float = setting(
        0.0,
        help="L2 factor: l2 * sum w^2",
        rule=_NON_NEGATIVE,
        doc="> 0 with `l2`; 0 unless `l2` or `l1l2`",
    )


@dataclass
class LossConfig:
    """`[loss]`: the loss; cross-entropy on logits for classification."""

    name: str = setting(
        "cross_entropy",
        help="loss",
        rule=OneOf(tuple(LOSSES)),
        doc=f"{', '.join(CLASSIFICATION_LOSSES)} for classification, "
        f"{', '.join(REGRESSION_LOSSES)} for regression ([losses.md](losses.md)); "
        "cross-entropy is on logits",
        flag=Flag("--loss", MODEL, "NAME"),
    )
    label_smoothing: float = setting(
        0.0, help="label smoothing", rule=_UNIT, doc="0 unless `cross_entropy`"
    )
    weight: list[float] | None = setting(
        None,
        help="cross_entropy: PyTorch's weight, one rescaling factor per class, e.g. 1,1,2",
        rule=Each(_NON_NEGATIVE, MAX_UNITS),
        doc="none: every class 1 (the preset's loss, unchanged); else one number >= 0 per class "
        "(10 for mnist, 100 for cifar100, a file's classes once it is loaded), not all 0. With "
        "`weight` or `ignore_index` the loss is PyTorch's `CrossEntropyLoss(weight=..., "
        "ignore_index=...)`: each batch's mean is over the summed weights of its kept targets "
        "([losses.md](losses.md#in-the-config))",
    )
    ignore_index: int | None = setting(
        None,
        help="cross_entropy: a class whose samples add nothing to the loss (PyTorch's "
        "ignore_index)",
        rule=Int(0, MAX_UNITS - 1),
        doc="none: every class counts (PyTorch's default -100 matches no label: the labels are "
        "class indices `0 .. classes - 1`, a file's in the sorted order of its labels); else a "
        "class index below the number of classes; the accuracy still counts those samples",
    )
    delta: float = setting(1.0, help="huber: where quadratic turns linear", rule=_POSITIVE)
    beta: float = setting(1.0, help="smooth_l1: where quadratic turns linear", rule=_NON_NEGATIVE)


@dataclass
class OptimizerConfig:
    """`[optimizer]`: a kerasdl optimizer; unset (None) hyperparameters keep its default."""

    name: str = setting(
        "adamw",
        help="optimizer",
        rule=OneOf(tuple(OPTIMIZERS)),
        doc="a `kerasdl.optimizers` class ([optimizers.md](optimizers.md))",
        flag=Flag("--optimizer", OPTIMIZATION, "NAME"),
    )
    learning_rate: float = setting(
        1e-3,
        help="initial learning rate",
        rule=_POSITIVE,
        doc="the schedule then changes it",
        flag=Flag("--lr", OPTIMIZATION, "RATE"),
    )
    weight_decay: float = setting(
        0.01,
        help="weight decay: decoupled for adamw, added to the gradient (PyTorch's) for the others",
        rule=_NON_NEGATIVE,
        doc="it stays 0.01 when you switch optimizer: set it to 0 for none",
        flag=Flag("--weight-decay", OPTIMIZATION, "X"),
    )
    momentum: float | None = setting(
        None,
        help=f"momentum factor ({_takers('momentum')})",
        rule=_UNIT,
        doc="none: the optimizer's default (0.9 momentum and nesterov, 0 sgd and rmsprop)",
        flag=Flag("--momentum", OPTIMIZATION, "X"),
    )
    beta_1: float | None = setting(
        None, help=f"first-moment decay ({_takers('beta_1')})", rule=_UNIT, doc="none: 0.9"
    )
    beta_2: float | None = setting(
        None, help=f"second-moment decay ({_takers('beta_2')})", rule=_UNIT, doc="none: 0.999"
    )
    epsilon: float | None = setting(
        None,
        help=f"term added to the denominator ({_takers('epsilon')})",
        rule=_POSITIVE,
        doc="none: PyTorch's (1e-10 adagrad, 1e-6 adadelta, 1e-8 the others)",
    )
    rho: float | None = setting(
        None,
        help=f"squared-gradient decay, PyTorch's alpha for rmsprop ({_takers('rho')})",
        rule=_UNIT,
        doc="none: 0.99 rmsprop, 0.9 adadelta",
    )
    dampening: float | None = setting(
        None,
        help=f"PyTorch's SGD dampening of the momentum buffer ({_takers('dampening')})",
        rule=_UNIT,
        doc="none: 0",
    )
    nesterov: bool | None = setting(
        None,
        help=f"PyTorch's SGD Nesterov momentum ({_takers('nesterov')})",
        rule=Bool(),
        doc="none: false; true needs momentum > 0 and no dampening",
    )
    amsgrad: bool | None = setting(
        None, help=f"AMSGrad variant ({_takers('amsgrad')})", rule=Bool(), doc="none: false"
    )
    centered: bool | None = setting(
        None,
        help=f"centered RMSprop, by the gradient's variance ({_takers('centered')})",
        rule=Bool(),
        doc="none: false",
    )
    lr_decay: float | None = setting(
        None,
        help=f"PyTorch's Adagrad lr_decay ({_takers('lr_decay')})",
        rule=_NON_NEGATIVE,
        doc="none: 0",
    )
    momentum_decay: float | None = setting(
        None,
        help=f"NAdam's momentum schedule ({_takers('momentum_decay')})",
        rule=_NON_NEGATIVE,
        doc="none: 0.004",
    )
    decoupled_weight_decay: bool | None = setting(
        None,
        help=f"decoupled (AdamW-like) weight decay ({_takers('decoupled_weight_decay')})",
        rule=Bool(),
        doc="none: false (L2 added to the gradient)",
    )
    maximize: bool | None = setting(
        None,
        help=f"ascend the objective, PyTorch's maximize ({_takers('maximize')})",
        rule=Bool(),
        doc="none: false",
    )
    exclude_bias_and_norm: bool = setting(
        False, help="no weight decay on biases and normalisation parameters"
    )
    clipnorm: float | None = setting(
        None, help="clip each gradient to this norm", rule=_POSITIVE, doc="none: no clipping"
    )
    groups: list[dict] = setting(
        help="parameter groups: [[optimizer.groups]] tables, each a `pattern` or `max_rank` "
        "and the hyperparameters it sets",
        rule=Tables(_GROUP_SELECTORS, _GROUP_KEYS),
        doc="PyTorch's param_groups ([optimizers.md](optimizers.md#parameter-groups)): "
        "`pattern` is a regex searched in each variable's path (`dense_1/kernel`: a layer "
        "name), `max_rank = 1` takes biases and norms; a variable goes to the first group "
        "that selects it, the rest keep [optimizer]'s values; `max_lr`: the group's peak rate "
        "under cyclic or onecycle (PyTorch's list of max_lr; a group's `learning_rate` is then "
        "its cyclic base rate); `--set` cannot give tables",
        factory=list,
    )


@dataclass
class ScheduleConfig:
    """`[schedule]`: the learning-rate schedule, stepped per epoch, with an optional warmup."""

    name: str = setting(
        "step",
        help="learning-rate schedule",
        rule=OneOf(tuple(SCHEDULES)),
        doc="`none`: constant; `StepLR`, `ExponentialLR`, `CosineAnnealingLR`, `NoamWarmup`, "
        "`MultiStepLR`, `ConstantLR`, `LinearLR`, `PolynomialLR`, `CosineAnnealingWarmRestarts`, "
        "`CyclicLR`, `OneCycleLR` (see [schedules.md](schedules.md))",
        flag=Flag("--schedule", OPTIMIZATION, "NAME"),
    )
    step_size: int = setting(10, help="step: epochs between decays", rule=Int(1, MAX_EPOCHS))
    gamma: float = setting(
        0.5,
        help="step, exponential, multistep: the decay factor; cyclic exp_range: per step",
        rule=_POSITIVE,
    )
    t_max: int | None = setting(
        None,
        help="cosine: epochs of a half period; none: the epochs after the warmup",
        rule=Int(1, MAX_EPOCHS),
    )
    eta_min: float = setting(
        0.0,
        help="cosine, cosine_restarts: the lowest learning rate",
        rule=_NON_NEGATIVE,
        doc="<= `learning_rate` (cosine)",
    )
    warmup_epochs: int = setting(
        0,
        help="epochs of linear warmup from 0 in front of the schedule",
        rule=Int(0, MAX_EPOCHS),
        doc="fewer than `epochs`; 0 with noam",
        flag=Flag("--warmup-epochs", OPTIMIZATION, "N"),
    )
    d_model: int = setting(512, help="noam: the model width", rule=Int(1, 1 << 20))
    warmup_steps: int = setting(
        4000, help="noam: warmup, in optimizer steps", rule=Int(1, MAX_OPTIMIZER_STEPS)
    )
    scale: float = setting(
        1.0,
        help="noam: a factor on the whole schedule",
        rule=_POSITIVE,
        doc="noam does not use `learning_rate`",
    )
    milestones: list[int] = setting(
        factory=lambda: [10, 15],
        help="multistep: the epochs of the decays by gamma, e.g. 10,15",
        rule=Each(Int(0, MAX_EPOCHS), 1000),
        doc="non-decreasing",
    )
    factor: float = setting(
        1 / 3,
        help="constant: the factor of the first total_iters epochs",
        rule=Real(0.0, 1.0, low_open=True),
    )
    total_iters: int = setting(
        5, help="constant, linear, polynomial: their epochs", rule=Int(1, MAX_EPOCHS)
    )
    start_factor: float = setting(
        1 / 3, help="linear: the factor at epoch 0", rule=Real(0.0, 1.0, low_open=True)
    )
    end_factor: float = setting(
        1.0, help="linear: the factor from epoch total_iters on", rule=Real(0.0, 1.0)
    )
    power: float = setting(1.0, help="polynomial: the power of the decay", rule=_POSITIVE)
    t_0: int = setting(
        10, help="cosine_restarts: epochs of the first cycle", rule=Int(1, MAX_EPOCHS)
    )
    t_mult: int = setting(
        1, help="cosine_restarts: each cycle's length over the last", rule=Int(1, 1000)
    )
    per_step: bool = setting(
        False,
        help="cosine_restarts: fractional epochs, PyTorch's step(epoch + i / iters) per batch",
    )
    max_lr: float | None = setting(
        None,
        help="cyclic, onecycle: the peak rate",
        rule=_POSITIVE,
        doc="none: 10 x `learning_rate` (cyclic, whose lowest rate is `learning_rate`) or "
        "`learning_rate` (onecycle)",
    )
    step_size_up: int = setting(
        2000, help="cyclic: optimizer steps of the rise", rule=Int(1, MAX_OPTIMIZER_STEPS)
    )
    step_size_down: int | None = setting(
        None,
        help="cyclic: optimizer steps of the fall",
        rule=Int(0, MAX_OPTIMIZER_STEPS),
        doc="none: `step_size_up`",
    )
    mode: str = setting(
        "triangular",
        help="cyclic: the amplitude's policy",
        rule=OneOf(("triangular", "triangular2", "exp_range")),
        doc="`exp_range` multiplies it by `gamma` every optimizer step",
    )
    pct_start: float = setting(
        0.3,
        help="onecycle: the fraction of the steps rising",
        rule=Real(0.0, 1.0, low_open=True, high_open=True),
        doc="over `(epochs - warmup_epochs) x steps per epoch` optimizer steps",
    )
    anneal_strategy: str = setting(
        "cos", help="onecycle: the shape of each phase", rule=OneOf(("cos", "linear"))
    )
    div_factor: float = setting(25.0, help="onecycle: max_lr over the first rate", rule=_POSITIVE)
    final_div_factor: float = setting(
        1e4, help="onecycle: the first rate over the last", rule=_POSITIVE
    )
    three_phase: bool = setting(
        False, help="onecycle: a third phase, back to the first rate before the end"
    )
    cycle_momentum: bool = setting(
        True,
        help="cyclic, onecycle: cycle the momentum (the Adam family: beta_1) against the rate",
        doc="PyTorch's default; an optimizer with neither (adagrad, adadelta) needs false, as "
        "PyTorch raises there; the cycle sets every group's momentum, so `optimizer.momentum` / "
        "`beta_1` and a group's stay unset ([schedules.md](schedules.md#momentum-cycling))",
    )
    base_momentum: float | None = setting(
        None,
        help="cyclic, onecycle: the momentum at the peak rate",
        rule=_UNIT,
        doc="none: PyTorch's, 0.8 (cyclic) or 0.85 (onecycle); none unless one of them cycles it",
    )
    max_momentum: float | None = setting(
        None,
        help="cyclic, onecycle: the momentum at the lowest rate",
        rule=_UNIT,
        doc="none: PyTorch's, 0.9 (cyclic) or 0.95 (onecycle); none unless one of them cycles it",
    )


#: Every quantity some task logs (`monitors` narrows it to the run's task and split).
_MONITORS = OneOf(tuple(dict.fromkeys(m for task in METRICS for m in monitors(task))))
_MONITOR_DOC = (
    "`val_loss`, `val_accuracy`, `loss`, `accuracy` (regression: `mae` for `accuracy`); "
    "no `val_` ones when `validation_split` is 0"
)


@dataclass
class EarlyStoppingConfig:
    """`[early_stopping]`: stop when `monitor` stops improving; `monitor` also picks best.keras."""

    enabled: bool = setting(
        True,
        help="stop when the monitored quantity stops improving",
        flag=Flag("--early-stopping", OPTIMIZATION, switch=True),
    )
    monitor: str = setting(
        "val_loss",
        help="the watched quantity; it also selects best.keras, even with early stopping off",
        rule=_MONITORS,
        doc=_MONITOR_DOC,
    )
    patience: int = setting(
        5,
        help="epochs without improvement before stopping",
        rule=Int(0, MAX_EPOCHS),
        flag=Flag("--patience", OPTIMIZATION, "N"),
    )
    min_delta: float = setting(
        0.0, help="the smallest change that counts as an improvement", rule=_NON_NEGATIVE
    )
    restore_best_weights: bool = setting(True, help="end training with the best epoch's weights")


@dataclass
class PlateauConfig:
    """`[plateau]`: ReduceLROnPlateau (PyTorch's rule), on top of the schedule."""

    enabled: bool = setting(
        False,
        help="reduce the learning rate when the monitored quantity plateaus",
        flag=Flag("--plateau", OPTIMIZATION, switch=True),
    )
    monitor: str = setting(
        "val_loss", help="the watched quantity", rule=_MONITORS, doc=_MONITOR_DOC
    )
    factor: float = setting(
        0.1, help="new rate = rate * factor", rule=Real(0.0, 1.0, low_open=True, high_open=True)
    )
    patience: int = setting(
        10, help="epochs without improvement before a reduction", rule=Int(0, MAX_EPOCHS)
    )
    threshold: float = setting(1e-4, help="relative improvement that counts", rule=_NON_NEGATIVE)
    cooldown: int = setting(0, help="epochs to wait after a reduction", rule=Int(0, MAX_EPOCHS))
    min_lr: float = setting(0.0, help="the lowest learning rate", rule=_NON_NEGATIVE)
    on_schedule: str = setting(
        "scale",
        help="on a schedule: scale it from each reduction on, or go on from the reduced rate "
        "as PyTorch's scheduler does",
        rule=OneOf(("scale", "pytorch")),
        doc="`scale` is PyTorch's result for its chainable schedulers (step, multistep, "
        "exponential, constant, linear, polynomial); `pytorch` for every schedule "
        "([schedules.md](schedules.md#with-reducelronplateau))",
    )


_SECTIONS = {
    "data": DataConfig,
    "model": ModelConfig,
    "loss": LossConfig,
    "optimizer": OptimizerConfig,
    "schedule": ScheduleConfig,
    "early_stopping": EarlyStoppingConfig,
    "plateau": PlateauConfig,
}


@dataclass
class TrainConfig:
    """Every choice of a training run. The defaults are the chapter's complete example (3.6).

    Example:

    ```python
    config = TrainConfig.from_toml("run.toml").override({"optimizer.learning_rate": "0.01"})
    config.validate()
    print(config.to_toml())
    ```
    """

    seed: int = setting(
        42,
        help="random seed: the weights, the validation split, every epoch's shuffle, dropout",
        rule=Int(0, 2**32 - 1),  # JAX keeps seeds as uint32
        flag=Flag("--seed", RUN, "N"),
    )
    epochs: int = setting(
        20,
        help="epochs to train",
        rule=Int(1, MAX_EPOCHS),
        flag=Flag("--epochs", OPTIMIZATION, "N"),
    )
    batch_size: int = setting(
        64,
        help="examples per training batch",
        rule=Int(1, MAX_BATCH),
        flag=Flag("--batch-size", DATA, "N"),
    )
    eval_batch_size: int = setting(
        1000,
        help="batch size of validation and test evaluation",
        rule=Int(1, MAX_BATCH),
        doc="the chapter's test loader uses 1000",
    )
    validation_split: float = setting(
        0.1,
        help="fraction of the training set held out for validation (stratified by class)",
        rule=_UNIT,
        doc="0: none, and then only `loss`/`accuracy` may be monitored",
    )
    steps_per_execution: int = setting(
        128,
        help="batches per compiled call of the training step (fewer Python round trips)",
        rule=Int(1, MAX_STEPS_PER_EXECUTION),
        doc="Keras's `compile(steps_per_execution=...)`; progress events and a stop request are "
        "seen between calls, so about every 0.15 s for the preset on 2 cores",
        flag=Flag("--steps-per-execution", RUN, "N"),
    )
    jit_compile: str | bool = setting(
        "auto",
        help="XLA compilation of the train step",
        rule=OneOf(JIT_COMPILE),
        doc="Keras's `compile(jit_compile=...)`",
        flag=Flag("--jit", RUN, switch=True),
    )
    loop: str = setting(
        "auto",
        help="the training loop: kerasdl's in-memory loop or Keras's model.fit",
        rule=OneOf(LOOPS),
        doc="`auto` takes kerasdl's (`kerasdl.loop`, faster at small batches) with the `default` "
        "strategy on the JAX backend, or on TensorFlow without XLA; `fit` otherwise "
        "([engine.md](engine.md))",
    )
    intra_op_threads: int | str = setting(
        "auto",
        help="threads one TensorFlow op may use; 0: TensorFlow's choice",
        rule=Either((Const("auto"), Int(0, MAX_THREADS))),
        doc="`auto`: 1 when the run is small (every Dense product at most 2^24 multiply-adds a "
        "step, as the preset's 64 x 784 x 256) on a CPU of at most 4 cores with no GPU, the "
        "default strategy and the mlp, else 0 ([engine.md](engine.md#speed)). Applied before "
        "TensorFlow runs its first op; in a process where it already has, a number asked for "
        "gives a `notice` that it was not applied",
    )
    inter_op_threads: int = setting(
        0,
        help="TensorFlow ops that may run at once; 0: TensorFlow's choice",
        rule=Int(0, MAX_THREADS),
        doc="see [engine.md](engine.md#speed)",
    )
    strategy: str = setting(
        "default",
        help="distribution strategy (tf.distribute)",
        rule=OneOf(STRATEGIES),
        doc="[distributed.md](distributed.md)",
        flag=Flag("--strategy", RUN, "NAME"),
    )
    runs_dir: str = setting(
        "runs",
        help="folder that holds the run directories",
        rule=PathText(empty_ok=False),
        flag=Flag("--runs-dir", RUN, "DIR", envvar="KERASDL_RUNS_DIR"),
    )
    run_name: str = setting(
        "",
        help="run id (default: <UTC timestamp>-<short hash>)",
        rule=Pattern(
            r"|[A-Za-z0-9][A-Za-z0-9._-]{0,99}",
            "empty (a generated id) or 1-100 of A-Z a-z 0-9 . _ - starting with a letter or digit",
        ),
        flag=Flag("--run-name", RUN, "NAME"),
    )
    step_history: bool = setting(
        True,
        help="write the running loss and metrics of the training steps to steps.jsonl",
        doc="at most every 0.25 s and each epoch's last step, bounded to 10,000 rows "
        "([runs.md](runs.md#the-step-history-stepsjsonl)); `runs compare --per step` draws it",
    )
    tensorboard: bool = setting(
        False,
        help="write TensorBoard event files into the run directory's tensorboard/ folder",
        doc="scalars per epoch and per logged step, the learning rate, the early-stopping wait, "
        "the hyperparameters (with the `tensorboard` package: `kerasdl[tensorboard]`); "
        "[runs.md](runs.md#tensorboard)",
        flag=Flag("--tensorboard", RUN, switch=True),
    )
    system_metrics: bool = setting(
        True,
        help="sample CPU %, memory and GPU use in a background thread, as system events",
        doc="every `system_metrics_interval_s` (the interval doubles after each 1,800 samples); "
        "GPU values with `kerasdl[gpu]` ([runs.md](runs.md#system-metrics))",
    )
    system_metrics_interval_s: float = setting(
        2.0,
        help="seconds between two system-metrics samples",
        rule=Real(0.1, 3600.0),
    )
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    plateau: PlateauConfig = field(default_factory=PlateauConfig)

    # -- loading and writing ------------------------------------------------------------------

    @classmethod
    def from_dict(cls, d: typing.Mapping) -> TrainConfig:
        """A config from nested mappings (as TOML gives); missing keys keep their defaults.

        Unknown keys and values of the wrong type raise `ConfigError`; values are not
        range-checked here (call `validate`).
        """
        if not isinstance(d, typing.Mapping):
            raise ConfigError("config", d, "a table of keys")
        return _build(cls, d, "", parse=False)

    @classmethod
    def from_toml(cls, path: str | Path) -> TrainConfig:
        """Read a TOML file written by hand or by `to_toml` (see `from_dict`)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(
                "config file",
                str(path),
                "a readable UTF-8 TOML file",
                message=f"config file: cannot read {str(path)!r}: {err}",
            ) from None
        return cls.from_toml_string(text, source=str(path))

    @classmethod
    def from_toml_string(cls, text: str, *, source: str = "<string>") -> TrainConfig:
        """Parse TOML text (see `from_dict`)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(
                "config file",
                source,
                "valid TOML",
                message=f"config file: {source} is not valid TOML: {err}",
            ) from None
        return cls.from_dict(data)

    def to_dict(self) -> dict:
        """Nested plain dicts (None values included); `from_dict` gives back an equal config."""
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        """TOML text (None values left out); `from_toml_string` reads it back to an equal config."""
        lines = []
        tables = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _SECTIONS:
                tables.append((f.name, value))
            elif value is not None:
                lines.append(f"{f.name} = {_toml_value(value)}")
        for name, section in tables:
            lines.append("")
            lines.append(f"[{name}]")
            for f in dataclasses.fields(section):
                value = getattr(section, f.name)
                if value is not None:
                    lines.append(f"{f.name} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"

    def override(self, dotted: typing.Mapping[str, object]) -> TrainConfig:
        """A copy with dotted keys replaced: ``{"optimizer.learning_rate": 0.1, "epochs": 3}``.

        A string value is parsed to the field's type (``"0.1"`` -> 0.1, ``"true"`` -> True,
        ``"256,128"`` -> [256, 128], ``"none"`` -> None for an optional field); other values
        must already have the field's type. Unknown keys raise `ConfigError` with the closest
        valid key. Values are not range-checked here (call `validate`).
        """
        tree = self.to_dict()
        for key, value in dotted.items():
            section, name, hint = _lookup(key)
            target = tree if section is None else tree[section]
            target[name] = _coerce(key, hint, value, parse=isinstance(value, str))
        return TrainConfig.from_dict(tree)

    # -- checking -------------------------------------------------------------------------------

    @property
    def task(self) -> str | None:
        """``"classification"`` or ``"regression"``: the named dataset's, or ``data.task`` for
        a file; None for a file with ``task = "auto"`` (known once it is loaded:
        `kerasdl.data.Dataset.task`)."""
        if self.data.name == FILE_DATASET:
            return None if self.data.task == "auto" else self.data.task
        return TASKS.get(self.data.name, "classification")

    def validate(self) -> TrainConfig:
        """Check every field; raise `ConfigError` on the first bad one, else return ``self``."""
        _validate(self)
        return self


def _toml_string(s: str) -> str:
    out = []
    for ch in s:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table ([[optimizer.groups]] written back)
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")  # pragma: no cover - fields are typed


# ---------------------------------------------------------------------------------------------
# Keys and types.


@functools.cache
def _hints(cls):
    return typing.get_type_hints(cls)


def field_paths() -> dict[str, object]:
    """Every dotted key and its default: ``{"seed": 42, ..., "plateau.min_lr": 0.0}``."""
    default = TrainConfig().to_dict()
    paths = {}
    for key, value in default.items():
        if key in _SECTIONS:
            for sub, subvalue in value.items():
                paths[f"{key}.{sub}"] = subvalue
        else:
            paths[key] = value
    return paths


def _unknown(key: str, candidates: typing.Iterable[str], where: str):
    candidates = list(candidates)
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    if where:
        listed = f"valid keys {where}: {', '.join(candidates)}"
    else:  # anywhere: name the top-level keys and the tables, not all 60 keys
        top = [k for k in _hints(TrainConfig) if k not in _SECTIONS]
        listed = f"valid top-level keys: {', '.join(top)}; tables: {', '.join(_SECTIONS)}"
    raise ConfigError(key, key, listed, message=f"{key}: unknown key{hint} ({listed})")


def _lookup(key: str):
    """``(section or None, field name, type hint)`` of a dotted key."""
    if not isinstance(key, str):
        raise ConfigError("config", key, "dotted key strings such as 'optimizer.learning_rate'")
    top = _hints(TrainConfig)
    parts = key.split(".")
    if len(parts) == 1 and key in top and key not in _SECTIONS:
        return None, key, top[key]
    if key in _SECTIONS:
        keys = ", ".join(f"{key}.{n}" for n in _hints(_SECTIONS[key]))
        raise ConfigError(key, key, keys, message=f"{key}: is a table; set one of its keys: {keys}")
    if len(parts) == 2 and parts[0] in _SECTIONS:
        hints = _hints(_SECTIONS[parts[0]])
        if parts[1] in hints:
            return parts[0], parts[1], hints[parts[1]]
        _unknown(key, (f"{parts[0]}.{n}" for n in hints), f"in [{parts[0]}]")
    _unknown(key, field_paths(), "")
    raise AssertionError  # pragma: no cover


def _build(cls, d, prefix, parse):
    hints = _hints(cls)
    kwargs = {}
    for key, value in d.items():
        path = f"{prefix}{key}"
        if key not in hints:
            where = f"in [{prefix[:-1]}]" if prefix else "at the top level"
            _unknown(path, (f"{prefix}{n}" for n in hints), where)
        if prefix == "" and key in _SECTIONS:
            if not isinstance(value, typing.Mapping):
                raise ConfigError(path, value, f"a table [{key}] of keys")
            kwargs[key] = _build(_SECTIONS[key], value, f"{key}.", parse)
        else:
            kwargs[key] = _coerce(path, hints[key], value, parse=parse)
    return cls(**kwargs)


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_NONE = ("none", "null")


def _describe(hint) -> str:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is bool:
        return "true or false"
    if hint is int:
        return "an integer"
    if hint is float:
        return "a number"
    if hint is str:
        return "a string"
    if origin is list:
        kinds = {int: "integers", float: "numbers", bool: "booleans", dict: "tables"}
        return "a list of " + kinds[args[0]]
    if args and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return f"{_describe(inner)} or none"
    if set(args) == {str, bool}:
        return "'auto', true or false"
    if set(args) == {int, str}:
        return "'auto' or an integer"
    return str(hint)  # pragma: no cover


class _Bad(Exception):
    """A value that does not fit the type (`_coerce` turns it into a `ConfigError`)."""


def _coerce(path, hint, value, *, parse):
    """`value` as type `hint`; strings are parsed when ``parse`` (CLI overrides)."""
    try:
        return _as(hint, value, parse)
    except _Bad:
        raise ConfigError(path, value, _describe(hint)) from None


def _as(hint, value, parse):
    """`value` as type `hint`, or `_Bad`."""
    args = typing.get_args(hint)
    if args and type(None) in args:  # Optional[X]
        if value is None or (parse and isinstance(value, str) and value.lower() in _NONE):
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _as(inner, value, parse)
    if args and set(args) == {int, str}:  # intra_op_threads: "auto" or a number
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        return _as(int, value, parse)
    if args and set(args) == {str, bool}:  # jit_compile
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            return value.lower() in _TRUE if parse and value.lower() in _TRUE + _FALSE else value
        raise _Bad
    if typing.get_origin(hint) is list:
        return _as_list(args[0], value, parse)
    if hint is dict:  # a table of [[optimizer.groups]]; its keys are checked by its rule
        if isinstance(value, typing.Mapping):
            return dict(value)
        raise _Bad
    if hint not in _SCALARS:  # pragma: no cover - every field's type is handled
        raise AssertionError(f"unsupported field type {hint!r}")
    return _SCALARS[hint](value, parse)


def _as_list(item, value, parse):
    if parse and isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        items = [t.strip() for t in text.split(",")] if text.strip() else []
        return [_as(item, t, True) for t in items]
    if not isinstance(value, (list, tuple)):
        raise _Bad
    return [_as(item, v, parse) for v in value]


def _as_bool(value, parse):
    if isinstance(value, bool):
        return value
    if parse and isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise _Bad


def _as_int(value, parse):
    if parse and isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
        try:
            value = float(value)
        except ValueError:
            raise _Bad from None
    if isinstance(value, bool):
        raise _Bad
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _Bad


def _as_float(value, parse):
    if parse and isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise _Bad from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad
    return float(value)


def _as_str(value, parse):
    if isinstance(value, str):
        return value
    raise _Bad


_SCALARS = {bool: _as_bool, int: _as_int, float: _as_float, str: _as_str}


# ---------------------------------------------------------------------------------------------
# Values: each field's declared rule, then the rules that tie fields together.


@dataclass(frozen=True)
class FieldSpec:
    """One field as declared (`kerasdl._fields.setting`), with its dotted key.

    Attributes:
        key: ``"optimizer.learning_rate"`` (a top-level field: ``"epochs"``).
        section: ``"optimizer"``, or None at the top level.
        name: ``"learning_rate"``.
        hint: The field's type (``float | None``).
        default: The preset's value.
        help: One line saying what it does.
        rule: What it allows (None: any value of its type).
        doc: A longer note for docs/config.md.
        flag: The ``kerasdl train`` option that sets it, or None.
    """

    key: str
    section: str | None
    name: str
    hint: object
    default: object
    help: str
    rule: Rule | None
    doc: str
    flag: Flag | None

    @property
    def optional(self) -> bool:
        """Whether None (unset: the component's default) is allowed."""
        return type(None) in typing.get_args(self.hint)

    def allowed(self) -> str:
        """What the field allows, in the words of its errors."""
        words = self.rule.allowed() if self.rule is not None else _type_words(self.hint)
        return f"none or {words}" if self.optional else words


def _type_words(hint) -> str:
    if hint is bool:
        return "true or false"
    if typing.get_origin(hint) is list and typing.get_args(hint) == (bool,):
        return "a list of true or false"
    if hint is str:
        return "a string"
    return str(hint)  # pragma: no cover - every other field declares a rule


@functools.cache
def field_specs() -> tuple[FieldSpec, ...]:
    """Every field of `TrainConfig` as declared, top level first, then each section in order."""
    specs = []

    def add(cls, section):
        hints = _hints(cls)
        default = cls()
        for f in dataclasses.fields(cls):
            if f.name in _SECTIONS and section is None:
                continue
            specs.append(
                FieldSpec(
                    key=f.name if section is None else f"{section}.{f.name}",
                    section=section,
                    name=f.name,
                    hint=hints[f.name],
                    default=getattr(default, f.name),
                    help=f.metadata["help"],
                    rule=f.metadata["rule"],
                    doc=f.metadata["doc"],
                    flag=f.metadata["flag"],
                )
            )

    add(TrainConfig, None)
    for section, cls in _SECTIONS.items():
        add(cls, section)
    return tuple(specs)


def _get(config, spec: FieldSpec):
    owner = config if spec.section is None else getattr(config, spec.section)
    return getattr(owner, spec.name)


def _check(path, value, ok, allowed):
    if not ok:
        raise ConfigError(path, value, allowed)


def _validate_types(config):
    """Re-coerce every field, so a config built by hand gets the same type errors.

    Values are normalised in place (an int given for a float field becomes a float).
    """
    for name, hint in _hints(TrainConfig).items():
        value = getattr(config, name)
        if name in _SECTIONS:
            if not isinstance(value, _SECTIONS[name]):
                raise ConfigError(name, value, f"a {_SECTIONS[name].__name__}")
            for sub, subhint in _hints(_SECTIONS[name]).items():
                coerced = _coerce(f"{name}.{sub}", subhint, getattr(value, sub), parse=False)
                setattr(value, sub, coerced)
        else:
            setattr(config, name, _coerce(name, hint, value, parse=False))


def _validate(c: TrainConfig):
    _validate_types(c)
    for spec in field_specs():
        value = _get(c, spec)
        if spec.rule is None or (value is None and spec.optional):
            continue
        if spec.optional and not spec.rule.ok(value):
            raise ConfigError(spec.key, value, spec.allowed())  # "none or ..."
        spec.rule.check(spec.key, value)
    _check_agreement(c)


def _check_agreement(c: TrainConfig):
    """The rules between fields (each field's own range is its declared rule)."""
    _check(
        "loop",
        c.loop,
        c.loop != "kerasdl" or c.strategy == "default",
        f"'auto' or 'fit' with strategy {c.strategy!r} (kerasdl's loop runs on one device)",
    )
    _check_model(c.model)
    _check_data(c.data)
    _check_optimizer(c.optimizer, cycled=momentum_spec(c) is not None)
    _check_schedule(c.schedule, c)
    _check_cycled_momentum(c)
    if c.task is not None:  # else a file's task is known once it is loaded
        check_task(c, c.task)


def check_task(config: TrainConfig, task: str, reason: str = "") -> None:
    """Check the fields that follow the task: the loss and the monitored quantities.

    `TrainConfig.validate` calls it for a task known from the config; `kerasdl.data` calls it
    again once a file's task is known (``data.task = "auto"``), with ``reason`` saying why
    the data is that task (``"target 'price' has non-integer values"``).

    Raises:
        ConfigError: ``loss.name: got 'cross_entropy'; allowed: one of 'mse', ... for this
            regression data (target 'price' has non-integer values)``.
    """
    c = config
    if c.data.name == FILE_DATASET:
        what = f" for this {task} data" + (f" ({reason})" if reason else "")
    elif task == "classification":
        what = f" for the {c.data.name!r} dataset"
    else:
        what = " for a regression dataset"
    _check_loss(c.loss, task, what)
    if task == "classification" and c.data.name in NUM_CLASSES:
        check_classes(c, NUM_CLASSES[c.data.name])
    watchable = monitors(task, validation=c.validation_split > 0)
    note = " (validation_split is 0: no val_ quantities)" if c.validation_split == 0 else ""
    if c.data.name == FILE_DATASET and c.validation_split > 0:
        note = what
    OneOf(watchable, note).check("early_stopping.monitor", c.early_stopping.monitor)
    OneOf(watchable, note).check("plateau.monitor", c.plateau.monitor)


def _check_data(d: DataConfig):
    """A file needs its path (and a CSV its target); the named datasets take neither."""
    if d.name != FILE_DATASET:
        not_file = f"empty unless data.name is {FILE_DATASET!r} (--data PATH sets both)"
        _check("data.path", d.path, d.path == "", not_file)
        _check("data.target", d.target, d.target == "", not_file)
        own = TASKS[d.name]
        OneOf(("auto", own), f" for the {d.name!r} dataset").check("data.task", d.task)
        return
    _check("data.path", d.path, d.path.strip() != "", "a .npz or .csv file with data.name 'file'")
    suffix = Path(d.path).suffix.lower()
    _check(
        "data.path",
        d.path,
        suffix in DATA_FILE_SUFFIXES,
        "a file ending in " + " or ".join(DATA_FILE_SUFFIXES) + " (any case)",
    )
    if suffix == ".csv":
        _check("data.target", d.target, d.target != "", "the CSV column to predict (--target)")
    else:
        _check("data.target", d.target, d.target == "", "empty for a .npz (its labels: y_train)")


def _check_model(m: ModelConfig):
    layers = f"a list of {len(m.hidden)} (one per entry of model.hidden)"
    if m.architecture == "mlp":  # the other networks do not read hidden and batch_norm
        _check("model.batch_norm", m.batch_norm, len(m.batch_norm) == len(m.hidden), layers)
        _check("model.dropout", m.dropout, len(m.dropout) == len(m.hidden), layers)
    uses_l1 = m.regularizer in ("l1", "l1l2")
    uses_l2 = m.regularizer in ("l2", "l1l2")
    if m.regularizer == "l1":
        _check("model.l1", m.l1, m.l1 > 0, "a number > 0 with regularizer 'l1'")
    if m.regularizer == "l2":
        _check("model.l2", m.l2, m.l2 > 0, "a number > 0 with regularizer 'l2'")
    if m.regularizer == "l1l2":
        _check("model.l1", m.l1, m.l1 > 0 or m.l2 > 0, "l1 > 0 or l2 > 0 with regularizer 'l1l2'")
    if not uses_l1:
        _check("model.l1", m.l1, m.l1 == 0, f"0.0 with regularizer {m.regularizer!r}")
    if not uses_l2:
        _check("model.l2", m.l2, m.l2 == 0, f"0.0 with regularizer {m.regularizer!r}")


def _check_loss(lo: LossConfig, task: str, what: str):
    names = CLASSIFICATION_LOSSES if task == "classification" else REGRESSION_LOSSES
    OneOf(names, what).check("loss.name", lo.name)
    if lo.name != "cross_entropy":
        _check(
            "loss.label_smoothing",
            lo.label_smoothing,
            lo.label_smoothing == 0,
            "0.0 unless cross_entropy",
        )
        for name in ("weight", "ignore_index"):
            value = getattr(lo, name)
            _check(f"loss.{name}", value, value is None, "unset (none) unless cross_entropy")
    if lo.weight is not None:
        _check(
            "loss.weight",
            lo.weight,
            sum(lo.weight) > 0,
            "none or one number >= 0 per class, not all 0 (PyTorch's mean divides by them)",
        )


def check_classes(config: TrainConfig, num_classes: int, where: str = "") -> None:
    """Check the fields sized by the number of classes: ``loss.weight`` and ``ignore_index``.

    `TrainConfig.validate` calls it for the named datasets (`NUM_CLASSES`); the runner calls it
    again once a file is loaded, with ``where`` saying which (``" in data/train.csv"``).

    Raises:
        ConfigError: ``loss.weight: got [1.0, 2.0]; allowed: a list of 10 numbers >= 0, one
            per class of the 'mnist' dataset``.
    """
    lo = config.loss
    of = where or f" of the {config.data.name!r} dataset"
    if lo.weight is not None:
        _check(
            "loss.weight",
            lo.weight,
            len(lo.weight) == num_classes,
            f"a list of {num_classes} numbers >= 0, one per class{of}",
        )
    if lo.ignore_index is not None:
        _check(
            "loss.ignore_index",
            lo.ignore_index,
            lo.ignore_index < num_classes,
            f"none or a class index in [0, {num_classes}) (the {num_classes} classes{of})",
        )


def _check_optimizer(o: OptimizerConfig, cycled: bool = False):
    """``cycled``: the schedule cycles the momentum (a scheduled momentum takes nesterov)."""
    for name in _OPTIONAL_OPTIMIZER_PARAMS:
        value = getattr(o, name)
        if value is None:
            continue
        takers = [n for n, params in OPTIMIZER_PARAMS.items() if name in params]
        _check(
            f"optimizer.{name}",
            value,
            name in OPTIMIZER_PARAMS[o.name],
            f"unset (none) for {o.name!r}; only " + ", ".join(repr(t) for t in takers) + " take it",
        )
    if o.nesterov:
        _check(
            "optimizer.nesterov",
            o.nesterov,
            ((o.momentum or 0) > 0 or cycled) and not o.dampening,
            "false unless optimizer.momentum > 0 (or the schedule cycles it) and "
            "optimizer.dampening is 0 or none",
        )
    _check_groups(o, cycled)


def _check_groups(o: OptimizerConfig, cycled: bool = False):
    """Each [[optimizer.groups]] table sets only what its optimizer takes per group."""
    allowed = ("learning_rate", "weight_decay", "max_lr", *OPTIMIZER_PARAMS[o.name])
    for i, group in enumerate(o.groups):
        for key, value in group.items():
            if key in dict(_GROUP_SELECTORS):
                continue
            _check(
                f"optimizer.groups[{i}].{key}",
                value,
                key in allowed,
                f"unset for {o.name!r}; a group may set " + ", ".join(allowed),
            )
        if group.get("nesterov", o.nesterov):
            momentum, dampening = (
                group.get("momentum", o.momentum),
                group.get("dampening", o.dampening),
            )
            _check(
                f"optimizer.groups[{i}].nesterov",
                True,
                ((momentum or 0) > 0 or cycled) and not dampening,
                "false unless the group's momentum > 0 (or the schedule cycles it) and its "
                "dampening is 0 or none",
            )


def _check_schedule(s: ScheduleConfig, c: TrainConfig):
    if s.name == "cosine":
        Real(0.0, c.optimizer.learning_rate).check("schedule.eta_min", s.eta_min)
    if s.name == "multistep":
        _check(
            "schedule.milestones",
            s.milestones,
            s.milestones == sorted(s.milestones),
            "a list of epochs in non-decreasing order",
        )
    _check(
        "schedule.warmup_epochs",
        s.warmup_epochs,
        s.warmup_epochs < c.epochs,
        f"an integer in [0, epochs) = [0, {c.epochs})",
    )
    if s.name == "noam":
        _check(
            "schedule.warmup_epochs",
            s.warmup_epochs,
            s.warmup_epochs == 0,
            "0 with the 'noam' schedule (it warms up over schedule.warmup_steps)",
        )
    for i, group in enumerate(c.optimizer.groups):
        if "max_lr" in group:
            _check(
                f"optimizer.groups[{i}].max_lr",
                group["max_lr"],
                s.name in CYCLING_SCHEDULES,
                "unset unless schedule.name is 'cyclic' or 'onecycle' (PyTorch's per-group "
                f"max_lr); schedule {s.name!r} follows the group's learning_rate",
            )


#: The schedules whose `cycle_momentum` cycles the optimizer's momentum (PyTorch's per-batch).
CYCLING_SCHEDULES = ("cyclic", "onecycle")


def _check_cycled_momentum(c: TrainConfig):
    """PyTorch's rule: a cycling schedule needs an optimizer with a momentum or ``betas``, and
    it sets every group's (so none is given); ``base_/max_momentum`` only where it cycles."""
    s, o = c.schedule, c.optimizer
    cycles = s.name in CYCLING_SCHEDULES and s.cycle_momentum
    if not cycles:
        why = (
            "cycle_momentum is false"
            if s.name in CYCLING_SCHEDULES
            else f"schedule {s.name!r} (only {' and '.join(map(repr, CYCLING_SCHEDULES))} cycle it)"
        )
        for name in ("base_momentum", "max_momentum"):
            value = getattr(s, name)
            _check(f"schedule.{name}", value, value is None, f"unset (none): {why}")
        return
    key = momentum_spec(c)
    takers = [n for n, params in OPTIMIZER_PARAMS.items() if {"momentum", "beta_1"} & set(params)]
    _check(
        "schedule.cycle_momentum",
        True,
        key is not None,
        f"false with optimizer {o.name!r}: it has no momentum or beta_1 to cycle (PyTorch's "
        f"{SCHEDULES[s.name]} raises too); the optimizers with one: {', '.join(takers)}",
    )
    why = (
        f"unset (none) while schedule.cycle_momentum is true: {s.name!r} sets it at every "
        "step (schedule.base_momentum, schedule.max_momentum), as PyTorch's"
    )
    _check(f"optimizer.{key}", getattr(o, key), getattr(o, key) is None, why)
    for i, group in enumerate(o.groups):
        _check(f"optimizer.groups[{i}].{key}", group.get(key), key not in group, why)


def parse_assignments(items: typing.Iterable[str]) -> dict[str, str]:
    """``["optimizer.name=sgd", "epochs=3"]`` -> ``{"optimizer.name": "sgd", "epochs": "3"}``.

    For the CLI's ``--set key=value``; the values stay strings for `TrainConfig.override`.
    """
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError("--set", item, "key=value, e.g. optimizer.learning_rate=0.01")
        out[key.strip()] = value.strip()
    return out


# ---------------------------------------------------------------------------------------------
# What the runner builds: (class name in the kerasdl module, keyword arguments). Pure data, so
# this module stays light; e.g. ``getattr(kerasdl.optimizers, name)(**kwargs)``.


def model_source(config: TrainConfig) -> tuple[str, str, str | None]:
    """Which network ``model.architecture`` names: ``(kind, target, function)``.

    ``("mlp", "mlp", None)``, ``("cnn", "cnn", None)``, ``("module", "pkg.nets", "build")``,
    ``("file", "nets/net.py", "build")`` or ``("keras", "nets/net.keras", None)``.

    Raises:
        ConfigError: The value is none of these forms.
    """
    parsed = _ARCHITECTURE.parse(config.model.architecture)
    if parsed is None:
        _ARCHITECTURE.check("model.architecture", config.model.architecture)
    return parsed


def unused_model_fields(config: TrainConfig) -> list[str]:
    """The `[model]` fields changed from the preset that ``model.architecture`` does not read
    (``["model.hidden"]`` for a cnn with other hidden sizes), for a ``notice``."""
    m, preset = config.model, ModelConfig()
    kind = model_source(config)[0]
    return [
        f"model.{name}"
        for name, users in BUILTIN_MODEL_FIELDS
        if kind not in users and getattr(m, name) != getattr(preset, name)
    ]


def optimizer_spec(config: TrainConfig) -> tuple[str, dict]:
    """``("AdamW", {"learning_rate": 0.001, "weight_decay": 0.01, ...})``; None fields left out.

    The learning rate is the config's float; the runner replaces it with the schedule.
    """
    o = config.optimizer
    kwargs = {
        "learning_rate": o.learning_rate,
        "weight_decay": o.weight_decay,
        "exclude_bias_and_norm": o.exclude_bias_and_norm,
    }
    for name in OPTIMIZER_PARAMS[o.name]:
        if getattr(o, name) is not None:
            kwargs[name] = getattr(o, name)
    if o.clipnorm is not None:
        kwargs["clipnorm"] = o.clipnorm
    if o.groups:  # a group's max_lr is its schedule's (`group_schedules`), not an argument
        kwargs["groups"] = [{k: v for k, v in g.items() if k != "max_lr"} for g in o.groups]
    return OPTIMIZERS[o.name], kwargs


def group_schedules(config: TrainConfig, steps_per_epoch: int) -> list[dict | None]:
    """Each ``[[optimizer.groups]]`` table's own schedule, PyTorch's per-group ``max_lr``.

    A `schedule_spec` for a table that sets ``max_lr`` under ``cyclic`` or ``onecycle``: the
    config's schedule with the table's ``max_lr``, and its ``learning_rate`` (when it sets one)
    for ``optimizer.learning_rate`` (cyclic's lowest rate); None for the other tables, which
    keep the optimizer's schedule (rebased to their ``learning_rate``, which `CyclicLR` and
    `OneCycleLR` ignore, as PyTorch's scalar ``max_lr`` sets every group's rate).
    """
    specs = []
    for group in config.optimizer.groups:
        if "max_lr" not in group or config.schedule.name not in CYCLING_SCHEDULES:
            specs.append(None)
            continue
        own = {"schedule.max_lr": group["max_lr"]}
        if "learning_rate" in group:
            own["optimizer.learning_rate"] = group["learning_rate"]
        specs.append(schedule_spec(config.override(own), steps_per_epoch))
    return specs


def momentum_spec(config: TrainConfig) -> str | None:
    """The optimizer argument a cycling schedule sets at every step, as PyTorch's ``CyclicLR``
    and ``OneCycleLR`` with ``cycle_momentum``: ``"beta_1"`` for the Adam family (PyTorch's
    ``betas[0]``), ``"momentum"`` for sgd, momentum, nesterov and rmsprop; None when the
    schedule does not cycle it or the optimizer has neither (adagrad, adadelta: `validate`
    rejects that)."""
    s = config.schedule
    if s.name not in CYCLING_SCHEDULES or not s.cycle_momentum:
        return None
    params = OPTIMIZER_PARAMS[config.optimizer.name]
    return next((key for key in ("beta_1", "momentum") if key in params), None)


def loss_spec(config: TrainConfig) -> tuple[str, dict]:
    """``("SparseCategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.0})``...

    With ``loss.weight`` or ``ignore_index`` set, cross-entropy also gets them and PyTorch's
    ``reduction="mean"`` (over the summed weights of the kept targets), so that it equals
    ``torch.nn.CrossEntropyLoss(weight=..., ignore_index=..., label_smoothing=...)``; without
    them the arguments are the preset's (Keras's mean over the batch, equal to PyTorch's then).
    """
    lo = config.loss
    if lo.name == "cross_entropy":
        kwargs = {"from_logits": True, "label_smoothing": lo.label_smoothing}
        if lo.weight is not None or lo.ignore_index is not None:
            kwargs.update(weight=lo.weight, ignore_index=lo.ignore_index, reduction="mean")
        return LOSSES[lo.name], kwargs
    if lo.name == "huber":
        return LOSSES[lo.name], {"delta": lo.delta}
    if lo.name == "smooth_l1":
        return LOSSES[lo.name], {"beta": lo.beta}
    return LOSSES[lo.name], {}


def initializer_spec(config: TrainConfig) -> tuple[str, dict]:
    """The kernel initializer: ``("TorchDefault", {})``; add ``seed`` when building.

    He initializers get the hidden activation as their nonlinearity when PyTorch's
    `calculate_gain` knows it (relu, leaky_relu with Keras's slope 0.2, tanh, sigmoid, selu).
    """
    name = INITIALIZERS[config.model.initializer]
    kwargs = {}
    if name in ("HeUniform", "HeNormal"):
        activation = config.model.activation
        if activation == "leaky_relu":
            kwargs = {"nonlinearity": "leaky_relu", "negative_slope": 0.2}
        elif activation in ("relu", "tanh", "sigmoid", "selu"):
            kwargs = {"nonlinearity": activation}
    return name, kwargs


def regularizer_spec(config: TrainConfig) -> tuple[str | None, dict]:
    """``(None, {})`` for none, else e.g. ``("L2", {"l2": 1e-4})``."""
    m = config.model
    name = REGULARIZERS[m.regularizer]
    if name is None:
        return None, {}
    if name == "L1":
        return name, {"l1": m.l1}
    if name == "L2":
        return name, {"l2": m.l2}
    return name, {"l1": m.l1, "l2": m.l2}


def schedule_spec(config: TrainConfig, steps_per_epoch: int) -> dict:
    """How to build the learning rate from `kerasdl.schedules`, for ``steps_per_epoch``.

    Returns ``{"class": name or None, "kwargs": {...}, "warmup_steps": int}``: with ``class``
    None the rate is the constant ``optimizer.learning_rate``; with ``warmup_steps > 0`` wrap
    the result as ``LinearWarmup(after=<it>, warmup_steps=warmup_steps)``, which ramps from 0 to
    the learning rate over ``schedule.warmup_epochs`` epochs and then runs the schedule from its
    own step 0 (so a cosine's default ``t_max`` is the epochs left after the warmup, and
    onecycle's ``total_steps`` the steps left).
    """
    s = config.schedule
    name = SCHEDULES[s.name]
    kwargs = {} if name is None else _SCHEDULE_KWARGS[name](config, s, steps_per_epoch)
    return {"class": name, "kwargs": kwargs, "warmup_steps": s.warmup_epochs * steps_per_epoch}


def _epochs_after_warmup(config: TrainConfig) -> int:
    return max(1, config.epochs - config.schedule.warmup_epochs)


def _epoch_kwargs(config: TrainConfig, spe: int, **kwargs) -> dict:
    lr = config.optimizer.learning_rate
    return {"initial_learning_rate": lr, **kwargs, "steps_per_epoch": spe}


def _cosine_kwargs(c, s, spe):
    t_max = s.t_max if s.t_max is not None else _epochs_after_warmup(c)
    return _epoch_kwargs(c, spe, T_max=t_max, eta_min=s.eta_min)


def _momentum_kwargs(s):
    """``cycle_momentum`` and the momentum bounds given (unset: the class's, PyTorch's)."""
    kwargs = {"cycle_momentum": s.cycle_momentum}
    for name in ("base_momentum", "max_momentum"):
        if getattr(s, name) is not None:
            kwargs[name] = getattr(s, name)
    return kwargs


def _cyclic_kwargs(c, s, spe):
    lr = c.optimizer.learning_rate
    max_lr = s.max_lr if s.max_lr is not None else 10 * lr
    return {
        "base_lr": lr,
        "max_lr": max_lr,
        "step_size_up": s.step_size_up,
        "step_size_down": s.step_size_down,
        "mode": s.mode,
        "gamma": s.gamma,
        **_momentum_kwargs(s),
    }


def _onecycle_kwargs(c, s, spe):
    return {
        "max_lr": s.max_lr if s.max_lr is not None else c.optimizer.learning_rate,
        "total_steps": max(2, _epochs_after_warmup(c) * spe),
        "pct_start": s.pct_start,
        "anneal_strategy": s.anneal_strategy,
        "div_factor": s.div_factor,
        "final_div_factor": s.final_div_factor,
        "three_phase": s.three_phase,
        **_momentum_kwargs(s),
    }


#: Class name -> ``(config, its [schedule], steps_per_epoch) -> the class's kwargs``.
_SCHEDULE_KWARGS = {
    "StepLR": lambda c, s, spe: _epoch_kwargs(c, spe, step_size=s.step_size, gamma=s.gamma),
    "ExponentialLR": lambda c, s, spe: _epoch_kwargs(c, spe, gamma=s.gamma),
    "CosineAnnealingLR": _cosine_kwargs,
    # NoamWarmup: its own rate; optimizer.learning_rate is not used.
    "NoamWarmup": lambda c, s, spe: {
        "d_model": s.d_model,
        "warmup_steps": s.warmup_steps,
        "scale": s.scale,
    },
    "MultiStepLR": lambda c, s, spe: _epoch_kwargs(
        c, spe, milestones=list(s.milestones), gamma=s.gamma
    ),
    "ConstantLR": lambda c, s, spe: _epoch_kwargs(
        c, spe, factor=s.factor, total_iters=s.total_iters
    ),
    "LinearLR": lambda c, s, spe: _epoch_kwargs(
        c,
        spe,
        start_factor=s.start_factor,
        end_factor=s.end_factor,
        total_iters=s.total_iters,
    ),
    "PolynomialLR": lambda c, s, spe: _epoch_kwargs(
        c, spe, total_iters=s.total_iters, power=s.power
    ),
    "CosineAnnealingWarmRestarts": lambda c, s, spe: _epoch_kwargs(
        c, spe, T_0=s.t_0, T_mult=s.t_mult, eta_min=s.eta_min, per_step=s.per_step
    ),
    "CyclicLR": _cyclic_kwargs,
    "OneCycleLR": _onecycle_kwargs,
}
