"""Activation and gradient scales through a deep MLP, per initializer (chapter 3.3).

For each initializer `run` builds the same plain MLP (``depth`` hidden Dense layers of ``width``
units with one activation, no batch norm, no dropout, a 10-way output; biases zero), sends one
batch of MNIST forward and backward with cross-entropy on the logits, and measures per layer::

    activation std      std(h_l) over the batch and the units (h_l = act(h_{l-1} W_l + b_l);
                        the logits for the output layer)
    kernel gradient     ||dL/dW_l||       (Frobenius norm)
    backprop gradient   ||dL/dh_l||       (the gradient that flows back into layer l's output)

A layer is flagged when its activation std differs from the first layer's, or one of its
gradients from the output layer's, by more than a factor ``threshold`` (default 1000), or when
anything is not finite. The verdict of an initializer: ``symmetric`` (every hidden layer's units
start identical and, for ``zeros``, are still identical after the SGD steps), ``exploding`` (a
value grew past the threshold or is not finite), ``vanishing`` (one fell below
``1 / threshold``), else ``ok``.

For ``zeros`` it also trains ``steps`` plain SGD steps on that batch and measures, per hidden
layer, ``max_i max |W[:, i] - W[:, 0]|`` over the kernel's columns (the units) and the same over
the activations. In exact arithmetic they stay 0, so the symmetry never breaks (3.3.2). In float32
they may differ by round-off: oneDNN picks its kernels by instruction set, and an AVX2 kernel
reduces a block of columns in another order than the columns left over (a 32-unit layer's units
differ by 1e-7 of its weights there, by 0 on AVX-512). So units count as identical when they
differ by at most ``SYMMETRY_RTOL`` (1e-4) of the network's largest ``|W|`` (of its largest
``|h|`` for the activations); the check also reports whether they are exactly equal. Measured
with AVX2's kernels over 3-6 sigmoid or tanh layers of 20-100 units and 5-100 steps, round-off
reached 1.5e-6 of that scale (a layer's own scale can be far smaller: near float32's subnormal range
its round-off is 1e-3 of its own largest value, which is why the scale is the network's); a
broken symmetry (a random init of std 1e-4) differs by about 1 of it.

The kernel gradient alone can hide a vanishing signal: ``dL/dW_l = h_{l-1}^T dL/dz_l``, and when
the activations shrink forward by the factor the backprop gradient shrinks backward, the product
stays about the same in every layer (a tanh network with ``normal:0.01`` has kernel gradients of
1e-8 in every layer). That is why the backprop gradient and the activation std are measured too.

Nothing is trained through the runner and no run directory is written. TensorFlow and Keras are
imported inside the functions, so the CLI can read `DEFAULT_INITS` and `parse_inits` lightly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

from kerasdl.config import INITIALIZERS

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_INITS",
    "SYMMETRY_LEARNING_RATE",
    "SYMMETRY_RTOL",
    "THRESHOLD",
    "InitExperiment",
    "InitResult",
    "LayerStats",
    "columns_identical",
    "parse_inits",
    "probe",
    "run",
    "summarize",
]

#: The activations the experiment offers (those of the chapter's 3.3 discussion, and SELU).
ACTIVATIONS = ("relu", "tanh", "sigmoid", "selu")
#: The initializers compared by default: every kerasdl one, and two plain normals.
DEFAULT_INITS = (*INITIALIZERS, "normal:0.01", "normal:1.0")
#: A layer is flagged when a scale changes by more than this factor (see the module docstring).
THRESHOLD = 1e3
#: Learning rate of the SGD steps that show the zeros' symmetry.
SYMMETRY_LEARNING_RATE = 0.1
#: Units are identical when they differ by at most this share of the network's largest |value|.
SYMMETRY_RTOL = 1e-4
_BATCH_STREAM = 0x494E  # keeps the batch's generator apart from the split's


def parse_inits(text: str) -> list[str]:
    """``"he_normal,normal:0.01"`` -> ``["he_normal", "normal:0.01"]``, checked.

    Each name is one of `kerasdl.config.INITIALIZERS` or ``normal:STD`` (a zero-mean normal of
    standard deviation STD > 0).

    Args:
        text: Comma-separated names (spaces around them are ignored).

    Raises:
        ValueError: an unknown or repeated name, a bad STD, or an empty list; the message lists
            the valid names.
    """
    names = [part.strip() for part in str(text).split(",") if part.strip()]
    valid = ", ".join((*INITIALIZERS, "normal:STD"))
    if not names:
        raise ValueError(f"got {text!r}, an empty list; allowed: a comma-separated list of {valid}")
    for name in names:
        if name in INITIALIZERS:
            continue
        if name.startswith("normal:"):
            std = _float_or_none(name.split(":", 1)[1])
            if std is not None and math.isfinite(std) and std > 0:
                continue
            raise ValueError(f"got {name!r}: STD must be a number > 0 (e.g. normal:0.01)")
        raise ValueError(f"got {name!r}; allowed: {valid}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"got {', '.join(map(repr, repeated))} more than once")
    return names


def _float_or_none(text):
    try:
        return float(text)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Results.


@dataclasses.dataclass
class LayerStats:
    """One Dense layer of one network (layer ``depth + 1`` is the output layer).

    Attributes:
        layer: 1-based index.
        units: Its width.
        activation_std: std of its output over the batch and the units (None if not finite).
        kernel_grad_norm: ``||dL/dW||`` (None if not finite).
        backprop_grad_norm: ``||dL/dh||`` of its output (None if not finite).
        flags: ``"act-vanish"``, ``"act-explode"``, ``"grad-vanish"``, ``"grad-explode"``,
            ``"nonfinite"``.
    """

    layer: int
    units: int
    activation_std: float | None
    kernel_grad_norm: float | None
    backprop_grad_norm: float | None
    flags: list[str]


@dataclasses.dataclass
class InitResult:
    """The measurements of one initializer.

    Attributes:
        name: The initializer, as given (``"he_normal"``, ``"normal:0.01"``).
        loss: The cross-entropy of the batch at initialisation.
        layers: `LayerStats` of the hidden layers, then the output layer.
        first_activation_std, last_activation_std: Of the first and last hidden layers.
        activation_ratio: ``last / first`` activation std (None when undefined).
        grad_ratio: ``||dL/dW_1|| / ||dL/dW_out||`` (None when undefined).
        backprop_ratio: ``||dL/dh_1|| / ||dL/dlogits||`` (None when undefined).
        verdict: ``"ok"``, ``"vanishing"``, ``"exploding"`` or ``"symmetric"``.
        symmetry: For ``zeros``: ``{"steps", "learning_rate", "rtol", "identical", "exact",
            "losses", "layers": [{"layer", "kernel_max_diff", "activation_max_diff",
            "kernel_max_abs", "activation_max_abs", "identical"}, ...]}``; else None.
            ``identical``: every spread is at most ``rtol`` times its max |value|; ``exact``:
            every spread is 0.
    """

    name: str
    loss: float | None
    layers: list[LayerStats]
    first_activation_std: float | None
    last_activation_std: float | None
    activation_ratio: float | None
    grad_ratio: float | None
    backprop_ratio: float | None
    verdict: str
    symmetry: dict | None = None


@dataclasses.dataclass
class InitExperiment:
    """What `run` returns; `to_dict` is what ``--json`` prints.

    Attributes:
        settings: ``depth``, ``width``, ``activation``, ``batch_size``, ``steps``,
            ``learning_rate`` (of the zeros' steps), ``threshold``, ``seed``, ``data``,
            ``data_source``, ``backend``.
        results: One `InitResult` per initializer, in the order asked.
        notice: The dataset's notice (a fallback to mnist-mini), or None.
    """

    settings: dict
    results: list[InitResult]
    notice: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------
# The measurement.


def _value_and_grad(fn, tensors):
    """``(fn(tensors), [d fn / d t for t in tensors])`` with the backend's autodiff."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(tensors)
            value = fn(tensors)
        return value, tape.gradient(value, tensors)
    if backend == "jax":
        import jax

        value, grads = jax.value_and_grad(fn)(list(tensors))
        return value, list(grads)
    if backend == "torch":  # pragma: no cover - no torch backend in the test environment
        import torch

        leaves = [t.detach().requires_grad_(True) for t in tensors]
        value = fn(leaves)
        return value.detach(), list(torch.autograd.grad(value, leaves))
    raise RuntimeError(f"experiment init needs autodiff of the {backend!r} backend")


def _finite_or_none(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def probe(kernels: Sequence, biases: Sequence, x, y, activation: str) -> dict:
    """One forward and backward pass of the MLP ``kernels``/``biases`` on ``(x, y)``.

    ::

        h_0 = x;  h_l = act(h_{l-1} W_l + b_l + e_l)  (l < L);  logits = h_{L-1} W_L + b_L + e_L
        loss = mean_n CE(softmax(logits_n), y_n);  e_l = 0, so dL/de_l = dL/dh_l

    Args:
        kernels: The layers' kernels (arrays or tensors; the last layer is the output).
        biases: The layers' biases, one per kernel.
        x: Inputs ``(n, features)``.
        y: Integer labels ``(n,)``.
        activation: A `keras.activations` name, for the hidden layers.

    Returns:
        ``{"loss", "activation_std", "kernel_grad_norm", "backprop_grad_norm"}``: Python
        floats, one per layer for the lists (they may be NaN or infinite).
    """
    import keras
    from keras import ops

    act = keras.activations.get(activation)
    kernels = [ops.convert_to_tensor(k, "float32") for k in kernels]
    biases = [ops.convert_to_tensor(b, "float32") for b in biases]
    x = ops.convert_to_tensor(x, "float32")
    onehot = ops.one_hot(ops.convert_to_tensor(y, "int32"), int(kernels[-1].shape[-1]))
    n_layers = len(kernels)
    probes = [ops.zeros((int(x.shape[0]), int(k.shape[-1])), "float32") for k in kernels]
    outputs = []

    def loss_fn(tensors):
        ws, es = tensors[:n_layers], tensors[n_layers:]
        outputs.clear()
        h = x
        for i in range(n_layers):
            z = ops.matmul(h, ws[i]) + biases[i]
            h = (act(z) if i < n_layers - 1 else z) + es[i]
            outputs.append(h)
        log_p = ops.log_softmax(h, axis=-1)
        return -ops.mean(ops.sum(onehot * log_p, axis=-1))

    loss_fn([*kernels, *probes])  # eagerly, for the activations (JAX traces the one below)
    stds = [float(ops.convert_to_numpy(ops.std(h))) for h in outputs]
    loss, grads = _value_and_grad(loss_fn, [*kernels, *probes])

    def norm(g):
        return float(ops.convert_to_numpy(ops.sqrt(ops.sum(ops.square(g)))))

    return {
        "loss": float(ops.convert_to_numpy(loss)),
        "activation_std": stds,
        "kernel_grad_norm": [norm(g) for g in grads[:n_layers]],
        "backprop_grad_norm": [norm(g) for g in grads[n_layers:]],
    }


def _initializer(name: str, activation: str, seed: int):
    """The kernel initializer for ``name`` (as the runner builds it; He gets the activation)."""
    import keras

    import kerasdl.initializers
    from kerasdl.config import TrainConfig, initializer_spec

    if name.startswith("normal:"):
        return keras.initializers.RandomNormal(mean=0.0, stddev=float(name[7:]), seed=seed)
    if name not in INITIALIZERS:
        parse_inits(name)  # raises with the valid names
    config = TrainConfig().override({"model.initializer": name, "model.activation": activation})
    cls_name, kwargs = initializer_spec(config)
    cls = getattr(kerasdl.initializers, cls_name)
    return cls() if cls_name == "Zeros" else cls(**kwargs, seed=seed)


def _weights(name, activation, sizes, seed):
    from keras import ops

    from kerasdl.models import layer_seed

    kernels, biases = [], []
    for i in range(len(sizes) - 1):
        init = _initializer(name, activation, layer_seed(seed, i, 0))
        kernels.append(init((sizes[i], sizes[i + 1]), "float32"))
        biases.append(ops.zeros((sizes[i + 1],), "float32"))
    return kernels, biases


def _column_spread(a) -> float:
    """``max_i max |a[:, i] - a[:, 0]|`` of a 2-D array (0.0 for identical columns)."""
    import numpy as np

    a = np.asarray(a, dtype=np.float64)
    return float(np.max(np.abs(a - a[:, :1]))) if a.size else 0.0


def _max_abs(a) -> float:
    import numpy as np

    a = np.asarray(a, dtype=np.float64)
    return float(np.max(np.abs(a))) if a.size else 0.0


def columns_identical(arrays: Sequence, rtol: float = SYMMETRY_RTOL) -> list[bool]:
    """For each 2-D array (a layer, units in the columns): are its columns identical?

    ``max_i max |a[:, i] - a[:, 0]| <= rtol * scale``, where ``scale`` is the largest ``|value|``
    over all of ``arrays`` (the network's weights, or its activations): round-off is relative to
    the values an op works on, and a layer whose values are near float32's subnormal range
    (1e-38) has round-off far above its own tiny scale. All zeros are identical.

    Args:
        arrays: 2-D arrays, the layers of one network.
        rtol: The tolerance relative to the largest ``|value|``, >= 0. Defaults to
            `SYMMETRY_RTOL`.
    """
    scale = max((_max_abs(a) for a in arrays), default=0.0)
    return [_column_spread(a) <= rtol * scale for a in arrays]


def _symmetry(kernels, biases, x, y, activation, steps, learning_rate, rtol=SYMMETRY_RTOL):
    """Train ``steps`` SGD steps on ``(x, y)``; per hidden layer, how far its units differ."""
    import keras
    from keras import ops

    act = keras.activations.get(activation)
    params = [ops.convert_to_tensor(p, "float32") for p in (*kernels, *biases)]
    n = len(kernels)
    x = ops.convert_to_tensor(x, "float32")
    onehot = ops.one_hot(ops.convert_to_tensor(y, "int32"), int(kernels[-1].shape[-1]))

    def forward(ps):
        h, hidden = x, []
        for i in range(n):
            z = ops.matmul(h, ps[i]) + ps[n + i]
            h = act(z) if i < n - 1 else z
            if i < n - 1:
                hidden.append(h)
        return h, hidden

    def loss_fn(ps):
        logits, _ = forward(ps)
        return -ops.mean(ops.sum(onehot * ops.log_softmax(logits, axis=-1), axis=-1))

    losses = []
    for _ in range(steps):
        loss, grads = _value_and_grad(loss_fn, params)
        losses.append(float(ops.convert_to_numpy(loss)))
        params = [p - learning_rate * g for p, g in zip(params, grads, strict=True)]
    _, hidden = forward(params)
    kernels = [ops.convert_to_numpy(p) for p in params[: n - 1]]
    activations = [ops.convert_to_numpy(h) for h in hidden]
    same = zip(columns_identical(kernels, rtol), columns_identical(activations, rtol), strict=True)
    layers = [
        {
            "layer": i + 1,
            "kernel_max_diff": _column_spread(kernel),
            "activation_max_diff": _column_spread(h),
            "kernel_max_abs": _max_abs(kernel),
            "activation_max_abs": _max_abs(h),
            "identical": kernel_same and h_same,
        }
        for i, (kernel, h, (kernel_same, h_same)) in enumerate(
            zip(kernels, activations, same, strict=True)
        )
    ]
    return {
        "steps": steps,
        "learning_rate": learning_rate,
        "rtol": rtol,
        "identical": all(r["identical"] for r in layers),
        "exact": all(r["kernel_max_diff"] == 0 and r["activation_max_diff"] == 0 for r in layers),
        "losses": losses,
        "layers": layers,
    }


def _ratio(top, bottom):
    if top is None or bottom is None or bottom == 0:
        return None
    return _finite_or_none(top / bottom)


def summarize(name, stats, depth, threshold, *, symmetric=False, symmetry=None) -> InitResult:
    """An `InitResult` from `probe`'s ``stats``: per-layer flags, ratios and the verdict.

    ::

        act-vanish / act-explode     std(h_l) / std(h_1)  < 1/threshold / > threshold
        grad-vanish / grad-explode   ||dL/dW_l|| / ||dL/dW_out|| or ||dL/dh_l|| / ||dL/dlogits||
                                     < 1/threshold / > threshold
        verdict                      exploding if anything is not finite; else symmetric if
                                     `symmetric` and the SGD check (if any) kept the units
                                     identical; else exploding / vanishing by the flags; else ok

    Args:
        name: The initializer's name.
        stats: `probe`'s result; an optional ``"units"`` list gives the layers' widths.
        depth: The number of hidden layers (the last entry of each list is the output layer).
        threshold: The flagging factor, > 1.
        symmetric: Every hidden layer's units start identical. Defaults to False.
        symmetry: The zeros' SGD check, stored as is; when its units are no longer
            ``identical`` the verdict is not ``symmetric``. Defaults to None.
    """
    stds = stats["activation_std"]
    kernel = stats["kernel_grad_norm"]
    back = stats["backprop_grad_norm"]
    widths = stats.get("units") or [None] * len(stds)
    low, high = 1.0 / threshold, threshold
    layers = []
    finite = True
    for i in range(len(stds)):
        values = (stds[i], kernel[i], back[i])
        flags = []
        if not all(math.isfinite(v) for v in values):
            flags.append("nonfinite")
            finite = False
        act_rel = _ratio(_finite_or_none(stds[i]), _finite_or_none(stds[0]))
        grad_rels = [
            _ratio(_finite_or_none(kernel[i]), _finite_or_none(kernel[-1])),
            _ratio(_finite_or_none(back[i]), _finite_or_none(back[-1])),
        ]
        if act_rel is not None and act_rel < low:
            flags.append("act-vanish")
        if act_rel is not None and act_rel > high:
            flags.append("act-explode")
        if any(r is not None and r < low for r in grad_rels):
            flags.append("grad-vanish")
        if any(r is not None and r > high for r in grad_rels):
            flags.append("grad-explode")
        layers.append(
            LayerStats(
                layer=i + 1,
                units=widths[i],
                activation_std=_finite_or_none(stds[i]),
                kernel_grad_norm=_finite_or_none(kernel[i]),
                backprop_grad_norm=_finite_or_none(back[i]),
                flags=flags,
            )
        )
    all_flags = {f for layer in layers for f in layer.flags}
    if not finite or not math.isfinite(stats["loss"]):
        verdict = "exploding"
    elif symmetric and (symmetry is None or symmetry["identical"]):
        verdict = "symmetric"
    elif all_flags & {"act-explode", "grad-explode"}:
        verdict = "exploding"
    elif all_flags & {"act-vanish", "grad-vanish"}:
        verdict = "vanishing"
    else:
        verdict = "ok"
    first, last = layers[0].activation_std, layers[depth - 1].activation_std
    return InitResult(
        name=name,
        loss=_finite_or_none(stats["loss"]),
        layers=layers,
        first_activation_std=first,
        last_activation_std=last,
        activation_ratio=_ratio(last, first),
        grad_ratio=_ratio(layers[0].kernel_grad_norm, layers[-1].kernel_grad_norm),
        backprop_ratio=_ratio(layers[0].backprop_grad_norm, layers[-1].backprop_grad_norm),
        verdict=verdict,
        symmetry=symmetry,
    )


def run(
    *,
    inits: Sequence[str] = DEFAULT_INITS,
    depth: int = 10,
    width: int = 256,
    activation: str = "relu",
    batch_size: int = 256,
    steps: int = 5,
    data: str = "mnist-mini",
    data_dir: str | None = None,
    seed: int = 42,
    threshold: float = THRESHOLD,
    learning_rate: float = SYMMETRY_LEARNING_RATE,
    progress: Callable[[str], None] | None = None,
) -> InitExperiment:
    """Measure activation and gradient scales per layer for each initializer (module docstring).

    Args:
        inits: Initializer names (`parse_inits`). Defaults to `DEFAULT_INITS`.
        depth: Hidden layers, >= 1. Defaults to 10.
        width: Units per hidden layer, >= 1. Defaults to 256.
        activation: One of `ACTIVATIONS`. Defaults to ``"relu"``.
        batch_size: Examples in the batch, >= 1. Defaults to 256.
        steps: SGD steps of the zeros' symmetry check, >= 0. Defaults to 5.
        data: ``"mnist-mini"`` or ``"mnist"``, normalised as the preset. Defaults to mnist-mini.
        data_dir: Where full MNIST is (``data.data_dir``). Defaults to None.
        seed: Seeds the weights (per layer, as `kerasdl.models.layer_seed`) and the batch.
        threshold: The flagging factor, > 1. Defaults to `THRESHOLD`.
        learning_rate: Of the zeros' SGD steps. Defaults to `SYMMETRY_LEARNING_RATE`.
        progress: Called with one-line notes. Defaults to None.

    Returns:
        An `InitExperiment`.

    References:
        - [Glorot & Bengio, 2010. Understanding the difficulty of training deep feedforward
          neural networks](https://proceedings.mlr.press/v9/glorot10a.html)
        - [He et al., 2015. Delving Deep into Rectifiers](https://arxiv.org/abs/1502.01852)
    """
    import keras
    import numpy as np
    from keras import ops

    from kerasdl.config import TrainConfig
    from kerasdl.data import load_dataset

    names = parse_inits(",".join(inits))
    _check(activation in ACTIVATIONS, "activation", activation, "one of " + ", ".join(ACTIVATIONS))
    for arg, value, low in (("depth", depth, 1), ("width", width, 1), ("batch_size", batch_size, 1),
                            ("steps", steps, 0)):  # fmt: skip
        _check(isinstance(value, int) and value >= low, arg, value, f"an integer >= {low}")
    _check(threshold > 1, "threshold", threshold, "a number > 1")
    note = progress or (lambda _message: None)

    config = TrainConfig().override(
        {"data.name": data, "data.data_dir": data_dir or "", "seed": seed}
    )
    dataset = load_dataset(config)
    _check(
        batch_size <= len(dataset.y_train),
        "batch_size",
        batch_size,
        f"at most the {len(dataset.y_train)} training examples",
    )
    rng = np.random.default_rng([seed, _BATCH_STREAM])
    index = np.sort(rng.choice(len(dataset.y_train), size=batch_size, replace=False))
    x, y = dataset.x_train[index], dataset.y_train[index]
    sizes = [x.shape[1], *([width] * depth), int(dataset.num_classes)]

    results = []
    for name in names:
        note(f"{name}: forward and backward through {depth} x {width} {activation}")
        kernels, biases = _weights(name, activation, sizes, seed)
        stats = probe(kernels, biases, x, y, activation)
        stats["units"] = sizes[1:]
        symmetric = all(columns_identical([ops.convert_to_numpy(k) for k in kernels[:-1]]))
        symmetry = None
        if name == "zeros":
            note(f"zeros: {steps} SGD steps (lr {learning_rate:g}) on the batch")
            symmetry = _symmetry(kernels, biases, x, y, activation, steps, learning_rate)
        results.append(
            summarize(name, stats, depth, threshold, symmetric=symmetric, symmetry=symmetry)
        )
    settings = {
        "depth": depth,
        "width": width,
        "activation": activation,
        "batch_size": batch_size,
        "steps": steps,
        "learning_rate": learning_rate,
        "threshold": threshold,
        "seed": seed,
        "data": data,
        "data_source": dataset.source,
        "backend": keras.backend.backend(),
    }
    return InitExperiment(settings=settings, results=results, notice=dataset.notice)


def _check(ok, name, value, allowed):
    if not ok:
        raise ValueError(f"Argument `{name}` must be {allowed}. Received: {name}={value!r}")
