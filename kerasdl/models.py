"""The run's network, built from a `kerasdl.config.TrainConfig` (chapter 3.6), or yours.

`build_model` builds what ``model.architecture`` names (docs/models.md):

- ``"mlp"`` (the preset): the chapter's multilayer perceptron, `build_mlp`, below;
- ``"cnn"``: a small convolutional network for images, `build_cnn`;
- ``"module:function"`` or ``"path/to/file.py:function"``: a function of yours, called as
  ``function(input_shape=(28, 28, 1), num_outputs=10)``, that returns an uncompiled Keras model
  mapping inputs to logits (one value for regression);
- ``"path/to/model.keras"``: a saved model, loaded with ``keras.saving.load_model(path,
  compile=False, safe_mode=True)`` (a ``.keras`` file is untrusted: safe mode always).

A model of yours is checked against the data before anything trains (its input shape, its
output size); anything wrong is a `ModelError` naming ``model.architecture``.

`build_mlp` makes the multilayer perceptron of the chapter's complete example, or any
variation the config describes::

    Input(784)
    for each hidden layer i:  Dense(hidden[i])            kernel: model.initializer
                              [BatchNormalization]        if batch_norm[i]
                              Activation(activation)
                              [Dropout(dropout[i])]       if dropout[i] > 0
    Dense(10)  logits         (Dense(1) for a regression dataset)

With the preset that is the chapter's ``MLP``: 784-256-BatchNorm-ReLU-Dropout(0.5)-128-ReLU-10.

The model returns logits (no softmax): the runner's cross-entropy takes ``from_logits=True``,
as PyTorch's ``nn.CrossEntropyLoss`` does. It is not compiled.

PyTorch's defaults, where Keras's differ:

- ``initializer="torch_default"`` (the preset) gives kernels AND biases PyTorch's
  ``nn.Linear`` draw, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (`kerasdl.initializers.TorchDefault`;
  ERRATA 3.3.6), so the network starts like the chapter's PyTorch one. Every other initializer
  is for the kernels; biases then start at zero (chapter 3.3.2; Keras's default too).
- Batch normalisation uses ``nn.BatchNorm1d``'s defaults: momentum 0.1 in PyTorch's
  convention (``running = 0.9 * running + 0.1 * batch``, which is Keras's ``momentum=0.9``)
  and ``epsilon=1e-5`` (Keras: ``momentum=0.99``, ``epsilon=1e-3``).

Every random part has an integer seed derived from ``config.seed`` and the layer's position, so
the same config always builds the same initial weights and the same dropout masks, whatever the
global random state.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import re
import sys
import zipfile
from pathlib import Path

import keras

import kerasdl.layers
from kerasdl.config import model_source, unused_model_fields

__all__ = [
    "BATCH_NORM_EPSILON",
    "BATCH_NORM_MOMENTUM",
    "CNN_MIN_SIDE",
    "ModelError",
    "build_cnn",
    "build_mlp",
    "build_model",
    "build_model_with_notices",
    "layer_seed",
]

#: `keras.layers.BatchNormalization(momentum=...)` equal to PyTorch's ``momentum=0.1``.
BATCH_NORM_MOMENTUM = 0.9
#: PyTorch's ``nn.BatchNorm1d`` ``eps``.
BATCH_NORM_EPSILON = 1e-5

_SEED_LIMIT = 2**32  # JAX keeps seeds as uint32


def layer_seed(seed: int, layer: int, role: int) -> int:
    """The integer seed of one random part of the network, from the run's ``seed``.

    Args:
        seed: The run's seed (``config.seed``).
        layer: The 0-based index of the Dense layer (the output layer is ``len(hidden)``).
        role: 0 for the kernel, 1 for the bias, 2 for the dropout after the layer.

    Returns:
        An integer in ``[0, 2**32)``; distinct parts of one network get distinct seeds.
    """
    return (int(seed) * 1_000_003 + layer * 7_919 + role * 104_729) % _SEED_LIMIT


def _initializers(config, layer, fan_in):
    """(kernel initializer, bias initializer) of the Dense layer ``layer`` with ``fan_in``."""
    import kerasdl.initializers
    from kerasdl.config import initializer_spec

    name, kwargs = initializer_spec(config)
    cls = getattr(kerasdl.initializers, name)
    seed = layer_seed(config.seed, layer, 0)
    kernel = cls() if name == "Zeros" else cls(**kwargs, seed=seed)
    if name == "TorchDefault":
        bias = kerasdl.initializers.TorchDefault(
            fan_in=fan_in, seed=layer_seed(config.seed, layer, 1)
        )
    else:
        bias = kerasdl.initializers.Zeros()
    return kernel, bias


def _regularizer(config):
    import kerasdl.regularizers
    from kerasdl.config import regularizer_spec

    name, kwargs = regularizer_spec(config)
    return None if name is None else getattr(kerasdl.regularizers, name)(**kwargs)


class ModelError(ValueError):
    """A network of ``model.architecture`` that cannot be built, or does not fit the data.

    The message names the field and its value and says what is wrong, in one line, e.g.
    ``model.architecture 'nets.py:build': the model outputs 5 values; the data has 10 classes``.

    Attributes:
        field: ``"model.architecture"``.
    """

    field = "model.architecture"

    def __init__(self, architecture: str, problem: str):
        self.architecture = architecture
        self.problem = problem
        super().__init__(f"model.architecture {architecture!r}: {problem}")


def build_model(config, dataset) -> keras.Model:
    """The network of ``config.model.architecture`` for ``dataset`` (the module docstring).

    The chapter's MLP (`build_mlp`) by default, the built-in `build_cnn`, or a model of yours,
    checked against the data. Call it inside a ``tf.distribute`` strategy's scope to place the
    variables there (the runner does).

    Args:
        config: A validated `kerasdl.config.TrainConfig`.
        dataset: A `kerasdl.data.Dataset` (``input_shape``, ``task``, ``num_classes``), or
            anything with those attributes.

    Returns:
        An uncompiled ``keras.Model`` that maps inputs to logits (one value for regression).

    Raises:
        ModelError: A model of yours cannot be loaded or built, or does not fit the data; the
            cnn gets inputs that are not images.
    """
    return build_model_with_notices(config, dataset)[0]


def build_model_with_notices(config, dataset) -> tuple[keras.Model, tuple]:
    """`build_model`, and the ``(level, message)`` warnings a run gives as ``notice`` events:
    `[model]` fields set that the network does not use, a ``.keras`` file saved compiled
    (recompiled with the config's optimizer and loss), a model that ends in a softmax."""
    kind, target, function = model_source(config)
    architecture = config.model.architecture
    notices = []
    unused = unused_model_fields(config)
    if unused:
        one = len(unused) == 1
        notices.append(
            (
                "warning",
                f"{', '.join(unused)} {'is' if one else 'are'} not used by model.architecture "
                f"{architecture!r}: {'it shapes' if one else 'they shape'} the "
                f"{'mlp' if kind == 'cnn' else 'built-in networks'} only (docs/models.md)",
            )
        )
    if kind == "mlp":
        return build_mlp(config, dataset), tuple(notices)
    if kind == "cnn":
        return build_cnn(config, dataset), tuple(notices)
    if kind == "keras":
        model = _load_keras_file(architecture, target)
        if _saved_compiled(target):
            notices.append(
                (
                    "warning",
                    f"{target} was saved compiled: its optimizer, loss and metrics are not "
                    f"used; kerasdl compiles it with the config's optimizer "
                    f"{config.optimizer.name!r} and loss {config.loss.name!r}",
                )
            )
    else:
        builder = _import_function(architecture, kind, target, function)
        model = _call_builder(architecture, builder, kind, target, dataset)
    _check_fits(architecture, model, dataset)
    if dataset.task == "classification" and _ends_in_softmax(model):
        notices.append(
            (
                "warning",
                f"model.architecture {architecture!r} ends in a softmax: kerasdl's "
                "cross-entropy takes logits (from_logits=True), so it trains badly; end the "
                "model with a Dense layer without activation",
            )
        )
    return model, tuple(notices)


def build_mlp(config, dataset) -> keras.Model:
    """The MLP of ``config.model`` for ``dataset``: the chapter's network (the layers, and
    where they follow PyTorch rather than Keras: the module docstring).

    Args:
        config: A validated `kerasdl.config.TrainConfig` (``model`` and ``seed`` are read).
        dataset: A `kerasdl.data.Dataset` (``input_shape``, ``task``, ``num_classes``), or
            anything with those attributes.

    Returns:
        An uncompiled ``keras.Sequential`` named ``"mlp"`` that maps inputs to logits
        (``num_classes`` units) for classification, or to one value for regression.

    Example:

    ```python
    config = TrainConfig()  # the chapter's preset
    model = build_mlp(config, kerasdl.data.load_dataset(config))
    model.count_params()  # 236_170: 235_658 trainable + 512 batch-norm statistics
    ```

    References:
        - [PyTorch nn.Linear](https://pytorch.org/docs/stable/generated/torch.nn.Linear.html)
        - [PyTorch nn.BatchNorm1d](https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm1d.html)
    """
    m = config.model
    input_shape = tuple(int(size) for size in dataset.input_shape)
    layers = [keras.Input(shape=input_shape, name="inputs")]
    if len(input_shape) > 1:
        layers.append(keras.layers.Flatten(name="flatten"))
    fan_in = 1
    for size in input_shape:
        fan_in *= size
    regularizer = _regularizer(config)

    for i, units in enumerate(m.hidden):
        n = i + 1
        kernel, bias = _initializers(config, i, fan_in)
        layers.append(
            keras.layers.Dense(
                units,
                kernel_initializer=kernel,
                bias_initializer=bias,
                kernel_regularizer=regularizer,
                name=f"dense_{n}",
            )
        )
        if m.batch_norm[i]:
            layers.append(
                keras.layers.BatchNormalization(
                    momentum=BATCH_NORM_MOMENTUM,
                    epsilon=BATCH_NORM_EPSILON,
                    name=f"batch_norm_{n}",
                )
            )
        layers.append(keras.layers.Activation(m.activation, name=f"{m.activation}_{n}"))
        if m.dropout[i] > 0:
            layers.append(
                kerasdl.layers.Dropout(
                    m.dropout[i], seed=layer_seed(config.seed, i, 2), name=f"dropout_{n}"
                )
            )
        fan_in = units

    if dataset.task == "classification":
        units, name = int(dataset.num_classes), "logits"
    else:
        units, name = 1, "output"
    kernel, bias = _initializers(config, len(m.hidden), fan_in)
    layers.append(
        keras.layers.Dense(
            units,
            kernel_initializer=kernel,
            bias_initializer=bias,
            kernel_regularizer=regularizer,
            name=name,
        )
    )
    return keras.Sequential(layers, name="mlp")


# ---------------------------------------------------------------------------------------------
# The built-in cnn.

#: The smallest image side the cnn takes: two 3x3 convolutions and two 2x2 poolings leave
#: one pixel of a 10x10 image.
CNN_MIN_SIDE = 10
_CNN_FILTERS = (32, 64)
_CNN_UNITS = 128


def _num_outputs(dataset) -> int:
    """Units of the output layer: the dataset's ``num_outputs`` if it says; else the classes,
    or 1 for regression."""
    if getattr(dataset, "num_outputs", None):
        return int(dataset.num_outputs)
    if dataset.task == "classification":
        return int(dataset.num_classes)
    return 1


def _image_shape(config, dataset) -> tuple:
    """The dataset's ``(height, width, channels)`` (``(height, width)`` gets one channel)."""
    shape = tuple(int(size) for size in dataset.input_shape)
    name = getattr(dataset, "name", "the")
    if len(shape) not in (2, 3):
        raise ModelError(
            config.model.architecture,
            f"the cnn needs images (height, width, channels); the {name!r} data has inputs of "
            f"shape {shape}: use model.architecture 'mlp' or a model of your own",
        )
    if min(shape[:2]) < CNN_MIN_SIDE:
        raise ModelError(
            config.model.architecture,
            f"the cnn needs images of at least {CNN_MIN_SIDE}x{CNN_MIN_SIDE}; the {name!r} "
            f"data's are {shape[0]}x{shape[1]}",
        )
    return shape if len(shape) == 3 else (*shape, 1)


def build_cnn(config, dataset) -> keras.Model:
    """The built-in convolutional network for images (``model.architecture = "cnn"``)::

        Input(height, width, channels)       (height, width): one channel added
        Conv2D(32, 3) -> activation -> MaxPooling2D(2)
        Conv2D(64, 3) -> activation -> MaxPooling2D(2)
        Flatten -> [Dropout(max(model.dropout))] -> Dense(128) -> activation
        Dense(classes) logits               (Dense(1) for regression)

    Keras's MNIST convnet example, with a Dense layer before the logits. The config's
    ``activation``, ``initializer`` (kernels; with ``torch_default`` also the biases, as
    PyTorch's ``nn.Conv2d`` / ``nn.Linear`` draw them) and ``regularizer`` (every kernel) apply;
    ``hidden`` and ``batch_norm`` are the MLP's. Seeds come from `layer_seed`, as the MLP's.

    Args:
        config: A validated `kerasdl.config.TrainConfig`.
        dataset: A `kerasdl.data.Dataset` with image inputs (``input_shape`` of rank 3, or 2).

    Returns:
        An uncompiled ``keras.Sequential`` named ``"cnn"``.

    Raises:
        ModelError: The inputs are not images at least `CNN_MIN_SIDE` pixels a side.
    """
    m = config.model
    shape = _image_shape(config, dataset)
    regularizer = _regularizer(config)
    given = tuple(int(size) for size in dataset.input_shape)
    layers = [keras.Input(shape=given, name="inputs")]
    if len(given) == 2:
        layers.append(keras.layers.Reshape(shape, name="channel"))
    channels = shape[2]
    for i, filters in enumerate(_CNN_FILTERS):
        kernel, bias = _initializers(config, i, 9 * channels)
        layers += [
            keras.layers.Conv2D(
                filters,
                3,
                kernel_initializer=kernel,
                bias_initializer=bias,
                kernel_regularizer=regularizer,
                name=f"conv_{i + 1}",
            ),
            keras.layers.Activation(m.activation, name=f"{m.activation}_{i + 1}"),
            keras.layers.MaxPooling2D(2, name=f"pool_{i + 1}"),
        ]
        channels = filters
    layers.append(keras.layers.Flatten(name="flatten"))
    rate = max(m.dropout, default=0.0)
    if rate > 0:
        layers.append(
            kerasdl.layers.Dropout(rate, seed=layer_seed(config.seed, 2, 2), name="dropout")
        )
    height, width = shape[0], shape[1]
    for _ in _CNN_FILTERS:
        height, width = (height - 2) // 2, (width - 2) // 2
    fan_in = height * width * channels
    n = len(_CNN_FILTERS)
    for i, (units, name) in enumerate(
        ((_CNN_UNITS, "dense"), (_num_outputs(dataset), _output_name(dataset)))
    ):
        kernel, bias = _initializers(config, n + i, fan_in)
        layers.append(
            keras.layers.Dense(
                units,
                kernel_initializer=kernel,
                bias_initializer=bias,
                kernel_regularizer=regularizer,
                name=name,
            )
        )
        if i == 0:
            layers.append(keras.layers.Activation(m.activation, name=f"{m.activation}_{n + 1}"))
        fan_in = units
    return keras.Sequential(layers, name="cnn")


def _output_name(dataset) -> str:
    return "logits" if dataset.task == "classification" else "output"


# ---------------------------------------------------------------------------------------------
# A model of yours: a function (module:function, file.py:function) or a .keras file.


def _a(noun: str) -> str:
    """``"an int"``, ``"a Dense"``."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _one_line(error: BaseException) -> str:
    """``"ValueError: the first line of its message"`` (at most 300 characters)."""
    text = str(error).strip()
    first = text.splitlines()[0][:300] if text else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


@contextlib.contextmanager
def _on_sys_path(folder: str):
    """``folder`` first on ``sys.path`` for a while (as Python puts a script's own folder)."""
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(folder)


def _user_folder(kind: str, target: str) -> str:
    """The folder on ``sys.path`` while a function of yours loads and builds: the current
    directory for a module, the file's own folder for a ``.py`` file."""
    return os.getcwd() if kind == "module" else str(Path(target).resolve().parent)


def _import_function(architecture: str, kind: str, target: str, function: str):
    """The function ``module:function`` or ``file.py:function`` names."""
    with _on_sys_path(_user_folder(kind, target)):
        module = _import_module(architecture, target) if kind == "module" else None
        if kind == "file":
            module = _load_file(architecture, target)
    where = f"module {target!r}" if kind == "module" else str(target)
    found = getattr(module, function, None)
    if found is None:
        defined = sorted(
            name
            for name, value in vars(module).items()
            if callable(value)
            and not name.startswith("_")
            and getattr(value, "__module__", None) == module.__name__
        )
        listed = f" (it defines: {', '.join(defined[:8])})" if defined else " (it defines none)"
        raise ModelError(architecture, f"{where} has no function {function!r}{listed}")
    if not callable(found):
        raise ModelError(
            architecture, f"{function!r} in {where} is {_a(type(found).__name__)}, not a function"
        )
    return found


def _import_module(architecture: str, name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if missing == name or name.startswith(missing + "."):
            raise ModelError(
                architecture,
                f"no module named {missing!r} (looked in the current directory, then sys.path); "
                "for a file, write path/to/file.py:function",
            ) from None
        raise ModelError(
            architecture, f"importing module {name!r} raised {_one_line(error)}"
        ) from None
    except Exception as error:
        raise ModelError(
            architecture, f"importing module {name!r} raised {_one_line(error)}"
        ) from None


def _load_file(architecture: str, target: str):
    """Run a ``.py`` file as a module (`importlib.util.spec_from_file_location`)."""
    path = Path(target)
    if not path.is_file():
        raise ModelError(architecture, f"no such file: {target}")
    stem = re.sub(r"\W", "_", path.stem)
    name = f"kerasdl_user_model_{stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
        raise ModelError(architecture, f"cannot load {target} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses, pickling and tracebacks look it up there
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        sys.modules.pop(name, None)
        raise ModelError(architecture, f"loading {target} raised {_one_line(error)}") from None
    return module


def _call_builder(architecture: str, builder, kind: str, target: str, dataset):
    """``builder(input_shape=..., num_outputs=...)``, which must return a ``keras.Model``."""
    input_shape = tuple(int(size) for size in dataset.input_shape)
    outputs = _num_outputs(dataset)
    name = getattr(builder, "__name__", "the function")
    call = f"{name}(input_shape={input_shape}, num_outputs={outputs})"
    try:
        with _on_sys_path(_user_folder(kind, target)):
            model = builder(input_shape=input_shape, num_outputs=outputs)
    except Exception as error:
        hint = ""
        if isinstance(error, TypeError):
            hint = " (kerasdl calls it as function(input_shape=..., num_outputs=...))"
        raise ModelError(architecture, f"{call} raised {_one_line(error)}{hint}") from None
    if not isinstance(model, keras.Model):
        what = type(model).__name__
        hint = ": wrap it in keras.Sequential([...])" if isinstance(model, keras.Layer) else ""
        raise ModelError(architecture, f"{call} returned {_a(what)}, not a keras.Model{hint}")
    return model


def _load_keras_file(architecture: str, target: str) -> keras.Model:
    """``keras.saving.load_model(target, compile=False, safe_mode=True)``, with one-line errors."""
    path = Path(target)
    if not path.is_file():
        raise ModelError(architecture, f"no such file: {target}")
    if not zipfile.is_zipfile(path):
        raise ModelError(
            architecture, f"{target} is not a .keras archive (damaged, or not a Keras 3 model file)"
        )
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:
        text = str(error)
        if "safe_mode" in text or "safe mode" in text:
            reason = text.strip().split(". ")[0].rstrip(".")[:300]
            raise ModelError(
                architecture,
                f"Keras's safe mode refused it: {type(error).__name__}: {reason} (kerasdl loads "
                "a .keras file in safe mode always: build such a model in a file.py:function)",
            ) from None
        raise ModelError(
            architecture,
            f"it cannot be loaded (damaged, or saved by another Keras): {_one_line(error)}",
        ) from None
    if not isinstance(model, keras.Model):  # pragma: no cover - load_model gives models
        raise ModelError(architecture, f"{target} holds a {type(model).__name__}, not a model")
    return model


def _saved_compiled(target: str) -> bool:
    """Whether the ``.keras`` file was saved from a compiled model (its ``compile_config``)."""
    try:
        with zipfile.ZipFile(target) as archive:
            saved = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False
    return isinstance(saved, dict) and bool(saved.get("compile_config"))


def _static_shapes(tensors) -> list[tuple] | None:
    """The shapes of a model's ``inputs`` or ``outputs``, or None where it declares none."""
    try:
        found = tensors()
    except (AttributeError, ValueError, TypeError):
        return None
    if found is None:
        return None
    found = found if isinstance(found, (list, tuple)) else [found]
    return [tuple(tensor.shape) for tensor in found]


def _fits(declared: tuple, shape: tuple) -> bool:
    return len(declared) == len(shape) and all(
        d is None or int(d) == s for d, s in zip(declared, shape, strict=True)
    )


def _check_fits(architecture: str, model, dataset) -> None:
    """Refuse a model of yours whose input shape or output size does not fit the data."""
    input_shape = tuple(int(size) for size in dataset.input_shape)
    inputs = _static_shapes(lambda: model.inputs)
    if inputs is not None and len(inputs) != 1:
        raise ModelError(
            architecture,
            f"the model takes {len(inputs)} inputs; kerasdl gives it one, of shape {input_shape}",
        )
    if inputs is not None and not _fits(inputs[0][1:], input_shape):
        declared = tuple(inputs[0][1:])
        hint = ""
        if None not in declared and _product(declared) == _product(input_shape):
            hint = (
                " (the same values in another shape: images come as (height, width, "
                "channels) to any model but the mlp; add a Flatten or Reshape layer)"
            )
        raise ModelError(
            architecture,
            f"the model takes inputs of shape {declared}; the data's are {input_shape}{hint}",
        )
    shape = _output_shape(architecture, model, dataset, input_shape)
    outputs = _num_outputs(dataset)
    if len(shape) != 2:
        raise ModelError(
            architecture,
            f"the model's output has shape {shape}; kerasdl needs (batch, {outputs}): one "
            "value per class (logits), or one for regression",
        )
    if shape[-1] is None or int(shape[-1]) != outputs:
        needs = (
            f"the data has {outputs} classes"
            if dataset.task == "classification"
            else "a regression needs 1"
        )
        raise ModelError(architecture, f"the model outputs {shape[-1]} values; {needs}")


def _product(shape) -> int:
    total = 1
    for size in shape:
        total *= int(size)
    return total


def _output_shape(architecture: str, model, dataset, input_shape: tuple) -> tuple:
    """The model's output shape: declared, or from a call on two examples of the data."""
    outputs = _static_shapes(lambda: model.outputs)
    if outputs is None:
        import numpy as np

        x = getattr(dataset, "x_train", None)
        sample = x[:2] if x is not None and len(x) else np.zeros((2, *input_shape), "float32")
        try:
            result = model(sample, training=False)
        except Exception as error:
            raise ModelError(
                architecture,
                f"the model cannot take the data's inputs of shape {input_shape}: "
                f"{_one_line(error)}",
            ) from None
        multiple = isinstance(result, (list, tuple, dict))
        outputs = [None] * len(result) if multiple else [(None, *tuple(result.shape)[1:])]
    if len(outputs) != 1:
        raise ModelError(architecture, f"the model has {len(outputs)} outputs; kerasdl trains one")
    return tuple(outputs[0])


def _ends_in_softmax(model) -> bool:
    layers = getattr(model, "layers", None) or []
    if not layers:
        return False
    last = layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return True
    return getattr(last, "activation", None) is keras.activations.softmax
