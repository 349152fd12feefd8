"""`TrainConfig`: every choice of a training run, loadable from TOML, checked before a run starts.

A config is a tree of small dataclasses, one per TOML table::

    TrainConfig                    seed, epochs, batch_size, validation_split, ...
      .data      DataConfig        [data]            which dataset, normalisation, limit
      .model     ModelConfig       [model]           layer sizes, batch norm, dropout, init, penalty
      .loss      LossConfig        [loss]            cross_entropy | mse | mae | huber | smooth_l1
      .optimizer OptimizerConfig   [optimizer]       sgd ... adamw and their hyperparameters
      .schedule  ScheduleConfig    [schedule]        none | step | exponential | cosine | noam
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
import re
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "ACTIVATIONS",
    "DATASETS",
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
    "LossConfig",
    "ModelConfig",
    "OptimizerConfig",
    "PlateauConfig",
    "ScheduleConfig",
    "TrainConfig",
    "field_paths",
    "initializer_spec",
    "loss_spec",
    "monitors",
    "optimizer_spec",
    "parse_assignments",
    "plateau_mode",
    "regularizer_spec",
    "schedule_spec",
]

# ---------------------------------------------------------------------------------------------
# Names every layer agrees on. Values are class names in the kerasdl component modules.

#: Dataset name -> task.
TASKS = {"mnist": "classification", "mnist-mini": "classification", "regression": "regression"}
DATASETS = tuple(TASKS)
STRATEGIES = ("default", "mirrored", "multi-worker")
#: Training loops: kerasdl's in-memory loop (`kerasdl.loop`), Keras's ``fit``, or the best that
#: applies ("auto": kerasdl's on one device with the TensorFlow backend and no XLA, else fit).
LOOPS = ("auto", "kerasdl", "fit")
JIT_COMPILE = ("auto", True, False)
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
}
#: The optional `[optimizer]` fields each optimizer takes (all take learning_rate,
#: weight_decay, exclude_bias_and_norm and clipnorm).
OPTIMIZER_PARAMS = {
    "sgd": (),
    "momentum": ("momentum",),
    "nesterov": ("momentum",),
    "adagrad": ("epsilon",),
    "rmsprop": ("rho", "epsilon"),
    "adam": ("beta_1", "beta_2", "epsilon"),
    "adamw": ("beta_1", "beta_2", "epsilon"),
}
_OPTIONAL_OPTIMIZER_PARAMS = ("momentum", "beta_1", "beta_2", "epsilon", "rho")
#: Config name -> class in `kerasdl.schedules` (None: a constant learning rate).
SCHEDULES = {
    "none": None,
    "step": "StepLR",
    "exponential": "ExponentialLR",
    "cosine": "CosineAnnealingLR",
    "noam": "NoamWarmup",
}
#: The metrics the runner compiles for each task, besides the loss.
METRICS = {"classification": ("accuracy",), "regression": ("mae",)}

_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_SEED_LIMIT = 2**32  # JAX keeps seeds as uint32.
#: Upper bounds of the sizes (a config beyond them fails at once, naming the field).
MAX_EPOCHS = 1_000_000
MAX_BATCH = 1 << 20
MAX_STEPS_PER_EXECUTION = 1 << 16
MAX_THREADS = 1024


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


class ConfigError(ValueError):
    """An invalid configuration value, worded ``<field>: got <value!r>; allowed: <what>``.

    Attributes:
        field: The dotted name of the field, e.g. ``"optimizer.name"``.
        got: The value given.
        allowed: What the field accepts, in words.
    """

    def __init__(self, field: str, got: object, allowed: str, *, message: str | None = None):
        self.field = field
        self.got = got
        self.allowed = allowed
        super().__init__(message or f"{field}: got {got!r}; allowed: {allowed}")


def _help(text):
    return {"help": text}


@dataclass
class DataConfig:
    """`[data]`: which dataset, where from, and how it is prepared."""

    name: str = field(default="mnist", metadata=_help("mnist | mnist-mini | regression"))
    data_dir: str = field(
        default="",
        metadata=_help(
            "folder with the four MNIST IDX .gz files or mnist.npz; empty: KERASDL_DATA_DIR, "
            "then Keras's cache/download, then the bundled mnist-mini"
        ),
    )
    mean: float = field(default=0.1307, metadata=_help("normalisation: (x/255 - mean) / std"))
    std: float = field(default=0.3081, metadata=_help("normalisation: (x/255 - mean) / std"))
    limit: int | None = field(
        default=None,
        metadata=_help("use at most this many training and test examples (quick runs)"),
    )
    regression_samples: int = field(
        default=4000, metadata=_help("regression: training examples (validation comes from them)")
    )
    regression_test_samples: int = field(
        default=1000, metadata=_help("regression: test examples (no outliers)")
    )
    regression_features: int = field(default=10, metadata=_help("regression: input features"))
    regression_noise: float = field(
        default=0.1, metadata=_help("regression: standard deviation of the Gaussian noise on y")
    )
    outlier_fraction: float = field(
        default=0.1, metadata=_help("regression: fraction of training targets made outliers")
    )
    outlier_scale: float = field(
        default=10.0,
        metadata=_help("regression: outlier size, in standard deviations of the clean targets"),
    )


@dataclass
class ModelConfig:
    """`[model]`: the MLP (one entry of hidden/batch_norm/dropout per hidden layer)."""

    hidden: list[int] = field(
        default_factory=lambda: [256, 128], metadata=_help("units of each hidden Dense layer")
    )
    batch_norm: list[bool] = field(
        default_factory=lambda: [True, False],
        metadata=_help("BatchNormalization after each hidden Dense layer (before activation)"),
    )
    dropout: list[float] = field(
        default_factory=lambda: [0.5, 0.0],
        metadata=_help("drop probability after each hidden layer's activation, in [0, 1)"),
    )
    activation: str = field(default="relu", metadata=_help("activation of the hidden layers"))
    initializer: str = field(
        default="torch_default", metadata=_help("initializer of every Dense kernel")
    )
    regularizer: str = field(
        default="none", metadata=_help("weight penalty on every Dense kernel: none|l1|l2|l1l2")
    )
    l1: float = field(default=0.0, metadata=_help("L1 factor (regularizer l1 or l1l2)"))
    l2: float = field(default=0.0, metadata=_help("L2 factor (regularizer l2 or l1l2)"))


@dataclass
class LossConfig:
    """`[loss]`: the loss; cross-entropy on logits for classification."""

    name: str = field(
        default="cross_entropy", metadata=_help("cross_entropy|mse|mae|huber|smooth_l1")
    )
    label_smoothing: float = field(default=0.0, metadata=_help("cross_entropy only, in [0, 1)"))
    delta: float = field(default=1.0, metadata=_help("huber: where quadratic turns linear, > 0"))
    beta: float = field(default=1.0, metadata=_help("smooth_l1: where quadratic turns linear"))


@dataclass
class OptimizerConfig:
    """`[optimizer]`: a kerasdl optimizer; unset (None) hyperparameters keep its default."""

    name: str = field(default="adamw", metadata=_help(" | ".join(OPTIMIZERS)))
    learning_rate: float = field(default=1e-3, metadata=_help("initial learning rate, > 0"))
    weight_decay: float = field(
        default=0.01,
        metadata=_help("decoupled for adamw, added to the gradient (PyTorch's L2) for the others"),
    )
    momentum: float | None = field(default=None, metadata=_help("momentum, nesterov; [0, 1)"))
    beta_1: float | None = field(default=None, metadata=_help("adam, adamw; [0, 1)"))
    beta_2: float | None = field(default=None, metadata=_help("adam, adamw; [0, 1)"))
    epsilon: float | None = field(default=None, metadata=_help("adagrad, rmsprop, adam(w); > 0"))
    rho: float | None = field(default=None, metadata=_help("rmsprop (PyTorch's alpha); [0, 1)"))
    exclude_bias_and_norm: bool = field(
        default=False, metadata=_help("no weight decay on biases and normalisation parameters")
    )
    clipnorm: float | None = field(default=None, metadata=_help("clip each gradient's norm; > 0"))


@dataclass
class ScheduleConfig:
    """`[schedule]`: the learning-rate schedule, stepped per epoch, with an optional warmup."""

    name: str = field(default="step", metadata=_help(" | ".join(SCHEDULES)))
    step_size: int = field(default=10, metadata=_help("step: epochs between decays"))
    gamma: float = field(default=0.5, metadata=_help("step, exponential: decay factor, > 0"))
    t_max: int | None = field(
        default=None, metadata=_help("cosine: epochs of a half period; None: the epochs left")
    )
    eta_min: float = field(default=0.0, metadata=_help("cosine: the lowest learning rate"))
    warmup_epochs: int = field(
        default=0, metadata=_help("linear warmup from 0 over this many epochs, then the schedule")
    )
    d_model: int = field(default=512, metadata=_help("noam: model width"))
    warmup_steps: int = field(default=4000, metadata=_help("noam: warmup optimizer steps"))
    scale: float = field(default=1.0, metadata=_help("noam: factor on the whole schedule"))


@dataclass
class EarlyStoppingConfig:
    """`[early_stopping]`: stop when `monitor` stops improving; `monitor` also picks best.keras."""

    enabled: bool = field(default=True, metadata=_help("stop early"))
    monitor: str = field(
        default="val_loss", metadata=_help("watched quantity; also selects the best model")
    )
    patience: int = field(default=5, metadata=_help("epochs without improvement before stopping"))
    min_delta: float = field(default=0.0, metadata=_help("smallest change that counts"))
    restore_best_weights: bool = field(
        default=True, metadata=_help("end with the best epoch's weights")
    )


@dataclass
class PlateauConfig:
    """`[plateau]`: ReduceLROnPlateau (PyTorch's rule), on top of the schedule."""

    enabled: bool = field(default=False, metadata=_help("reduce the learning rate on a plateau"))
    monitor: str = field(default="val_loss", metadata=_help("watched quantity"))
    factor: float = field(default=0.1, metadata=_help("new_lr = lr * factor, in (0, 1)"))
    patience: int = field(default=10, metadata=_help("epochs without improvement before reducing"))
    threshold: float = field(default=1e-4, metadata=_help("relative improvement that counts"))
    cooldown: int = field(default=0, metadata=_help("epochs to wait after a reduction"))
    min_lr: float = field(default=0.0, metadata=_help("lower bound of the learning rate"))


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

    seed: int = field(default=42, metadata=_help("seeds weights, split, shuffles, dropout"))
    epochs: int = field(default=20, metadata=_help("epochs to train"))
    batch_size: int = field(default=64, metadata=_help("training batch size"))
    eval_batch_size: int = field(
        default=1000, metadata=_help("batch size for validation and test evaluation")
    )
    validation_split: float = field(
        default=0.1, metadata=_help("fraction of the training set held out, in [0, 1)")
    )
    steps_per_execution: int = field(
        default=128, metadata=_help("batches per compiled call of the training step")
    )
    jit_compile: str | bool = field(default="auto", metadata=_help("auto | true | false (XLA)"))
    loop: str = field(
        default="auto", metadata=_help("auto | kerasdl | fit: the training loop (docs/engine.md)")
    )
    intra_op_threads: int | str = field(
        default="auto",
        metadata=_help(
            "threads one TensorFlow op may use; 0: TensorFlow's choice; auto: 1 for small "
            "layers on a small CPU, else 0 (docs/engine.md)"
        ),
    )
    inter_op_threads: int = field(
        default=0, metadata=_help("TensorFlow ops run at once; 0: TensorFlow's choice")
    )
    strategy: str = field(default="default", metadata=_help(" | ".join(STRATEGIES)))
    runs_dir: str = field(default="runs", metadata=_help("folder of run directories"))
    run_name: str = field(default="", metadata=_help("run id; empty: <UTC timestamp>-<short hash>"))
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
    def task(self) -> str:
        """``"classification"`` or ``"regression"``, from the dataset's name."""
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
        return "a list of " + {int: "integers", float: "numbers", bool: "booleans"}[args[0]]
    if args and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return f"{_describe(inner)} or none"
    if set(args) == {str, bool}:
        return "'auto', true or false"
    if set(args) == {int, str}:
        return "'auto' or an integer"
    return str(hint)  # pragma: no cover


def _coerce(path, hint, value, *, parse):
    """`value` as type `hint`; strings are parsed when ``parse`` (CLI overrides)."""

    def bad():
        raise ConfigError(path, value, _describe(hint))

    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if args and type(None) in args:  # Optional[X]
        if value is None or (parse and isinstance(value, str) and value.lower() in _NONE):
            return None
        (inner,) = [a for a in args if a is not type(None)]
        try:
            return _coerce(path, inner, value, parse=parse)
        except ConfigError:
            pass
        bad()
    if args and set(args) == {int, str}:  # intra_op_threads: "auto" or a number
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        try:
            return _coerce(path, int, value, parse=parse)
        except ConfigError:
            bad()
    if args and set(args) == {str, bool}:  # jit_compile
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            if parse and value.lower() in _TRUE + _FALSE:
                return value.lower() in _TRUE
            return value
        bad()
    if origin is list:
        if parse and isinstance(value, str):
            text = value.strip()
            if text.startswith("[") and text.endswith("]"):
                text = text[1:-1]
            items = [t.strip() for t in text.split(",")] if text.strip() else []
            try:
                return [_coerce(path, args[0], t, parse=True) for t in items]
            except ConfigError:
                pass
            bad()
        if not isinstance(value, (list, tuple)):
            bad()
        try:
            return [_coerce(path, args[0], v, parse=parse) for v in value]
        except ConfigError:
            pass
        bad()
    if hint is bool:
        if isinstance(value, bool):
            return value
        if parse and isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        bad()
    if hint is int:
        if parse and isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
            try:
                number = float(value)
            except ValueError:
                bad()
            if number.is_integer():
                return int(number)
            bad()
        if isinstance(value, bool):
            bad()
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        bad()
    if hint is float:
        if parse and isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                bad()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            bad()
        return float(value)
    if hint is str:
        if isinstance(value, str):
            return value
        bad()
    raise AssertionError(f"unsupported field type {hint!r}")  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# Values.


def _is_real(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check(path, value, ok, allowed):
    if not ok:
        raise ConfigError(path, value, allowed)


def _int_at_least(path, value, low):
    _check(
        path,
        value,
        isinstance(value, int) and not isinstance(value, bool) and value >= low,
        f"an integer >= {low}",
    )


def _int_in(path, value, low, high):
    """An integer in ``[low, high]``: sizes get real upper bounds (a batch of 2**63 examples
    would reach TensorFlow and fail there, after the data was loaded)."""
    _check(
        path,
        value,
        isinstance(value, int) and not isinstance(value, bool) and low <= value <= high,
        f"an integer in [{low}, {high:,}]",
    )


# Control characters (NUL included) in a path fail deep in TensorFlow or the OS; 1,024
# characters is a quarter of Linux's PATH_MAX.
_PATH_UNSAFE = re.compile("[\x00-\x1f\x7f]")
_PATH_MAX = 1024


def _path(path, value, *, empty_ok):
    _check(
        path,
        value,
        (empty_ok or value.strip() != "")
        and len(value) <= _PATH_MAX
        and _PATH_UNSAFE.search(value) is None,
        f"a{'' if empty_ok else ' non-empty'} path of at most {_PATH_MAX:,} characters, "
        "without control characters",
    )


def _real(path, value, *, low=None, high=None, low_open=False, high_open=False):
    """A finite number in the interval; `allowed` is written in interval notation."""
    ok = _is_real(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if low is not None and high is not None:
        allowed = f"a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    elif low is not None:
        allowed = f"a number {'>' if low_open else '>='} {low}"
    else:
        allowed = "a finite number"
    _check(path, value, ok, allowed)


def _one_of(path, value, names, note=""):
    """``value in names``; the error lists them and suggests the closest one."""
    names = tuple(names)
    if value in names:
        return
    allowed = "one of " + ", ".join(repr(n) for n in names) + note
    close = difflib.get_close_matches(str(value), [str(n) for n in names], n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(
        path, value, allowed, message=f"{path}: got {value!r}; allowed: {allowed}{hint}"
    )


def _name(path, value, names):
    _one_of(path, value, names)


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

    # Top level.
    _check("seed", c.seed, 0 <= c.seed < _SEED_LIMIT, f"an integer in [0, {_SEED_LIMIT})")
    _int_in("epochs", c.epochs, 1, MAX_EPOCHS)
    _int_in("batch_size", c.batch_size, 1, MAX_BATCH)
    _int_in("eval_batch_size", c.eval_batch_size, 1, MAX_BATCH)
    _real("validation_split", c.validation_split, low=0.0, high=1.0, high_open=True)
    _int_in("steps_per_execution", c.steps_per_execution, 1, MAX_STEPS_PER_EXECUTION)
    _check(
        "jit_compile",
        c.jit_compile,
        c.jit_compile == "auto" or isinstance(c.jit_compile, bool),
        "'auto', true or false",
    )
    _name("loop", c.loop, LOOPS)
    if c.intra_op_threads != "auto":
        _int_in("intra_op_threads", c.intra_op_threads, 0, MAX_THREADS)
    _int_in("inter_op_threads", c.inter_op_threads, 0, MAX_THREADS)
    _name("strategy", c.strategy, STRATEGIES)
    _check(
        "loop",
        c.loop,
        c.loop != "kerasdl" or c.strategy == "default",
        f"'auto' or 'fit' with strategy {c.strategy!r} (kerasdl's loop runs on one device)",
    )
    _path("runs_dir", c.runs_dir, empty_ok=False)
    _check(
        "run_name",
        c.run_name,
        c.run_name == "" or _RUN_NAME.fullmatch(c.run_name) is not None,
        "empty (a generated id) or 1-100 of A-Z a-z 0-9 . _ - starting with a letter or digit",
    )

    # [data]
    d = c.data
    _name("data.name", d.name, DATASETS)
    _path("data.data_dir", d.data_dir, empty_ok=True)
    _real("data.mean", d.mean)
    _real("data.std", d.std, low=0.0, low_open=True)
    if d.limit is not None:
        _int_at_least("data.limit", d.limit, 1)
    _int_at_least("data.regression_samples", d.regression_samples, 2)
    _int_at_least("data.regression_test_samples", d.regression_test_samples, 1)
    _int_at_least("data.regression_features", d.regression_features, 1)
    _real("data.regression_noise", d.regression_noise, low=0.0)
    _real("data.outlier_fraction", d.outlier_fraction, low=0.0, high=1.0, high_open=True)
    _real("data.outlier_scale", d.outlier_scale, low=0.0)
    task = TASKS[d.name]

    # [model]
    m = c.model
    for i, units in enumerate(m.hidden):
        _int_at_least(f"model.hidden[{i}]", units, 1)
    layers = f"a list of {len(m.hidden)} (one per entry of model.hidden)"
    _check("model.batch_norm", m.batch_norm, len(m.batch_norm) == len(m.hidden), layers)
    _check("model.dropout", m.dropout, len(m.dropout) == len(m.hidden), layers)
    for i, rate in enumerate(m.dropout):
        _real(f"model.dropout[{i}]", rate, low=0.0, high=1.0, high_open=True)
    _name("model.activation", m.activation, ACTIVATIONS)
    _name("model.initializer", m.initializer, INITIALIZERS)
    _name("model.regularizer", m.regularizer, REGULARIZERS)
    _real("model.l1", m.l1, low=0.0)
    _real("model.l2", m.l2, low=0.0)
    uses_l1 = m.regularizer in ("l1", "l1l2")
    uses_l2 = m.regularizer in ("l2", "l1l2")
    if uses_l1 and m.regularizer == "l1":
        _check("model.l1", m.l1, m.l1 > 0, "a number > 0 with regularizer 'l1'")
    if uses_l2 and m.regularizer == "l2":
        _check("model.l2", m.l2, m.l2 > 0, "a number > 0 with regularizer 'l2'")
    if m.regularizer == "l1l2":
        _check("model.l1", m.l1, m.l1 > 0 or m.l2 > 0, "l1 > 0 or l2 > 0 with regularizer 'l1l2'")
    if not uses_l1:
        _check("model.l1", m.l1, m.l1 == 0, f"0.0 with regularizer {m.regularizer!r}")
    if not uses_l2:
        _check("model.l2", m.l2, m.l2 == 0, f"0.0 with regularizer {m.regularizer!r}")

    # [loss]
    lo = c.loss
    _name("loss.name", lo.name, LOSSES)
    if task == "classification":
        _one_of("loss.name", lo.name, CLASSIFICATION_LOSSES, f" for the {d.name!r} dataset")
    else:
        _one_of("loss.name", lo.name, REGRESSION_LOSSES, " for a regression dataset")
    _real("loss.label_smoothing", lo.label_smoothing, low=0.0, high=1.0, high_open=True)
    if lo.name != "cross_entropy":
        _check(
            "loss.label_smoothing",
            lo.label_smoothing,
            lo.label_smoothing == 0,
            "0.0 unless cross_entropy",
        )
    _real("loss.delta", lo.delta, low=0.0, low_open=True)
    _real("loss.beta", lo.beta, low=0.0)

    # [optimizer]
    o = c.optimizer
    _name("optimizer.name", o.name, OPTIMIZERS)
    _real("optimizer.learning_rate", o.learning_rate, low=0.0, low_open=True)
    _real("optimizer.weight_decay", o.weight_decay, low=0.0)
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
        if name == "epsilon":
            _real(f"optimizer.{name}", value, low=0.0, low_open=True)
        else:
            _real(f"optimizer.{name}", value, low=0.0, high=1.0, high_open=True)
    if o.clipnorm is not None:
        _real("optimizer.clipnorm", o.clipnorm, low=0.0, low_open=True)

    # [schedule]
    s = c.schedule
    _name("schedule.name", s.name, SCHEDULES)
    _int_at_least("schedule.step_size", s.step_size, 1)
    _real("schedule.gamma", s.gamma, low=0.0, low_open=True)
    if s.t_max is not None:
        _int_at_least("schedule.t_max", s.t_max, 1)
    _real("schedule.eta_min", s.eta_min, low=0.0)
    if s.name == "cosine":
        _real("schedule.eta_min", s.eta_min, low=0.0, high=o.learning_rate)
    _int_at_least("schedule.warmup_epochs", s.warmup_epochs, 0)
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
    _int_at_least("schedule.d_model", s.d_model, 1)
    _int_at_least("schedule.warmup_steps", s.warmup_steps, 1)
    _real("schedule.scale", s.scale, low=0.0, low_open=True)

    # [early_stopping], [plateau]
    watchable = monitors(task, validation=c.validation_split > 0)
    note = " (validation_split is 0: no val_ quantities)" if c.validation_split == 0 else ""
    e = c.early_stopping
    _one_of("early_stopping.monitor", e.monitor, watchable, note)
    _int_at_least("early_stopping.patience", e.patience, 0)
    _real("early_stopping.min_delta", e.min_delta, low=0.0)
    p = c.plateau
    _one_of("plateau.monitor", p.monitor, watchable, note)
    _real("plateau.factor", p.factor, low=0.0, high=1.0, low_open=True, high_open=True)
    _int_at_least("plateau.patience", p.patience, 0)
    _real("plateau.threshold", p.threshold, low=0.0)
    _int_at_least("plateau.cooldown", p.cooldown, 0)
    _real("plateau.min_lr", p.min_lr, low=0.0)


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
    return OPTIMIZERS[o.name], kwargs


def loss_spec(config: TrainConfig) -> tuple[str, dict]:
    """``("SparseCategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.0})``..."""
    lo = config.loss
    if lo.name == "cross_entropy":
        return LOSSES[lo.name], {"from_logits": True, "label_smoothing": lo.label_smoothing}
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
    own step 0 (so a cosine's default ``t_max`` is the epochs left after the warmup).
    """
    s = config.schedule
    lr = config.optimizer.learning_rate
    name = SCHEDULES[s.name]
    warmup_steps = s.warmup_epochs * steps_per_epoch
    if name is None:
        kwargs = {}
    elif name == "StepLR":
        kwargs = {
            "initial_learning_rate": lr,
            "step_size": s.step_size,
            "gamma": s.gamma,
            "steps_per_epoch": steps_per_epoch,
        }
    elif name == "ExponentialLR":
        kwargs = {"initial_learning_rate": lr, "gamma": s.gamma, "steps_per_epoch": steps_per_epoch}
    elif name == "CosineAnnealingLR":
        t_max = s.t_max if s.t_max is not None else max(1, config.epochs - s.warmup_epochs)
        kwargs = {
            "initial_learning_rate": lr,
            "T_max": t_max,
            "eta_min": s.eta_min,
            "steps_per_epoch": steps_per_epoch,
        }
    else:  # NoamWarmup: its own rate; optimizer.learning_rate is not used.
        kwargs = {"d_model": s.d_model, "warmup_steps": s.warmup_steps, "scale": s.scale}
    return {"class": name, "kwargs": kwargs, "warmup_steps": warmup_steps}
