"""The chapter's networks, built from a `kerasdl.config.TrainConfig` (chapter 3.6).

`build_model` makes the multilayer perceptron of the chapter's complete example, or any
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

import keras

__all__ = ["BATCH_NORM_EPSILON", "BATCH_NORM_MOMENTUM", "build_model", "layer_seed"]

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


def build_model(config, dataset) -> keras.Model:
    """The network of ``config.model`` for ``dataset``: the chapter's MLP by default.

    See the module docstring for the layers and where they follow PyTorch rather than
    Keras. Call it inside a ``tf.distribute`` strategy's ``scope()`` to place the variables
    there (the runner does).

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
    model = build_model(config, kerasdl.data.load_dataset(config))
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
                keras.layers.Dropout(
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
