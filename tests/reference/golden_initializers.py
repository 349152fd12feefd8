"""Golden values for kerasdl.initializers, from PyTorch's own torch.nn.init and layers.

Run with ``python tests/reference/make_golden.py initializers`` (needs torch). Four kinds
of case, told apart by ``"kind"``:

- ``layer``: a torch layer (Linear, Conv1d/2d/3d, grouped, transposed) built with its
  default ``reset_parameters``: its weight shape, that shape in Keras's layout, torch's
  fans, and the uniform bounds its weight and bias were actually drawn with;
- ``gain``: ``torch.nn.init.calculate_gain(nonlinearity, param)``, or the error it raises;
- ``init``: one of torch's init functions applied to a float64 weight of a layer above:
  the arguments it passed to ``Tensor.uniform_`` / ``Tensor.normal_``, i.e. the bound or
  standard deviation it computed;
- ``draw``: statistics of real torch draws on large float64 tensors.

The bounds and standard deviations are read from the calls torch makes (``Tensor.uniform_``
and ``Tensor.normal_`` are wrapped while the init runs), not recomputed here.
"""

import contextlib
import math

import torch
from torch import nn

# (torch layer, kwargs, Keras layer, Keras kwargs); Keras kernels are (*spatial, in, out).
LAYERS = [
    ("Linear", {"in_features": 1, "out_features": 1}),
    ("Linear", {"in_features": 3, "out_features": 5}),
    ("Linear", {"in_features": 7, "out_features": 13}),
    ("Linear", {"in_features": 784, "out_features": 256}),
    ("Linear", {"in_features": 1000, "out_features": 1}),
    ("Conv1d", {"in_channels": 3, "out_channels": 8, "kernel_size": 5}),
    ("Conv1d", {"in_channels": 1, "out_channels": 1, "kernel_size": 1}),
    ("Conv2d", {"in_channels": 3, "out_channels": 16, "kernel_size": (3, 3)}),
    ("Conv2d", {"in_channels": 5, "out_channels": 7, "kernel_size": (1, 4)}),
    ("Conv2d", {"in_channels": 64, "out_channels": 32, "kernel_size": (5, 3)}),
    ("Conv2d", {"in_channels": 4, "out_channels": 6, "kernel_size": (3, 3), "groups": 2}),
    ("Conv3d", {"in_channels": 2, "out_channels": 4, "kernel_size": (3, 3, 3)}),
    ("Conv3d", {"in_channels": 3, "out_channels": 5, "kernel_size": (1, 2, 3)}),
    ("ConvTranspose1d", {"in_channels": 5, "out_channels": 3, "kernel_size": 4}),
    ("ConvTranspose2d", {"in_channels": 4, "out_channels": 6, "kernel_size": (3, 2)}),
]

# kerasdl's He arguments (nonlinearity, negative_slope) = torch's (nonlinearity, a).
HE_ARGS = [
    ("relu", 0.0),
    ("leaky_relu", 0.0),
    ("leaky_relu", 0.01),
    ("leaky_relu", 0.2),
    ("leaky_relu", math.sqrt(5.0)),
    ("tanh", 0.0),
    ("selu", 0.0),
    ("linear", 0.0),
]
XAVIER_GAINS = [1.0, 5.0 / 3.0, math.sqrt(2.0)]

GAIN_NAMES = [
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
    "tanh",
    "relu",
    "selu",
]
LEAKY_PARAMS = [None, 0.0, 0.01, 0.2, 1, 3, -0.5, math.sqrt(5.0)]
BAD_NAMES = ["identity", "softmax", "ReLU", "gelu", ""]


@contextlib.contextmanager
def recording():
    """Collect ``(method, shape, args)`` for each ``uniform_``/``normal_`` torch runs."""
    calls = []
    originals = {name: getattr(torch.Tensor, name) for name in ("uniform_", "normal_")}

    def wrapped(name):
        original = originals[name]

        def method(self, *args, **kwargs):
            kwargs.pop("generator", None)
            calls.append((name, list(self.shape), [float(a) for a in args], kwargs))
            return original(self, *args, **kwargs)

        return method

    for name in originals:
        setattr(torch.Tensor, name, wrapped(name))
    try:
        yield calls
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


def keras_layout(torch_shape):
    """Torch's weight layout to Keras's kernel layout.

    ``(out, in, *spatial)`` -> ``(*spatial, in, out)``; a transposed convolution's
    ``(in, out, *spatial)`` -> ``(*spatial, out, in)``, Keras's ``Conv*DTranspose`` kernel.
    """
    return [*torch_shape[2:], torch_shape[1], torch_shape[0]]


def keras_layer(kind, kwargs):
    """The Keras layer with the same weights, and the channel count of its input."""
    if kind == "Linear":
        return "Dense", {"units": kwargs["out_features"]}, kwargs["in_features"], 0
    rank = int(kind[-2])
    kernel = kwargs["kernel_size"]
    kernel = [kernel] * rank if isinstance(kernel, int) else list(kernel)
    config = {"filters": kwargs["out_channels"], "kernel_size": kernel}
    if kind.startswith("ConvTranspose"):
        return f"Conv{rank}DTranspose", config, kwargs["in_channels"], rank
    config["groups"] = kwargs.get("groups", 1)
    return f"Conv{rank}D", config, kwargs["in_channels"], rank


def layer_id(kind, kwargs):
    values = "-".join(
        "x".join(map(str, v)) if isinstance(v, tuple) else str(v) for v in kwargs.values()
    )
    return f"{kind}-{values}"


def layer_cases():
    cases = []
    for kind, kwargs in LAYERS:
        with recording() as calls:
            module = getattr(nn, kind)(**kwargs, dtype=torch.float64)
        weight_call, bias_call = calls
        assert weight_call[1] == list(module.weight.shape) and bias_call[1] == [module.bias.numel()]
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(module.weight)
        keras_class, keras_kwargs, channels, rank = keras_layer(kind, kwargs)
        cases.append(
            {
                "id": "layer-" + layer_id(kind, kwargs),
                "kind": "layer",
                "torch_layer": kind,
                "torch_kwargs": {
                    k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()
                },
                "torch_shape": list(module.weight.shape),
                "keras_shape": keras_layout(list(module.weight.shape)),
                "keras_layer": keras_class,
                "keras_kwargs": keras_kwargs,
                "keras_input_channels": channels,
                "keras_spatial_rank": rank,
                "fan_in": fan_in,
                "fan_out": fan_out,
                "bias_shape": list(module.bias.shape),
                "weight_low": weight_call[2][0],
                "weight_high": weight_call[2][1],
                "bias_low": bias_call[2][0],
                "bias_high": bias_call[2][1],
            }
        )
    return cases


def gain_cases():
    cases = []

    def add(case_id, nonlinearity, param):
        case = {"id": case_id, "kind": "gain", "nonlinearity": nonlinearity, "param": param}
        try:
            case["gain"] = float(nn.init.calculate_gain(nonlinearity, param))
        except ValueError as error:
            case["error"] = str(error)
        cases.append(case)

    for name in GAIN_NAMES:
        add(f"gain-{name}", name, None)
    add("gain-tanh-param-ignored", "tanh", 0.3)
    for param in LEAKY_PARAMS:
        add(f"gain-leaky_relu-{param}", "leaky_relu", param)
    for name in BAD_NAMES:
        add(f"gain-invalid-{name or 'empty'}", name, None)
    return cases


def torch_inits():
    """(kerasdl class, kerasdl kwargs, label, torch function on a tensor)."""
    inits = []
    for gain in XAVIER_GAINS:
        inits.append(
            (
                "XavierUniform",
                {"gain": gain},
                f"xavier_uniform_(gain={gain!r})",
                lambda w, g=gain: nn.init.xavier_uniform_(w, gain=g),
            )
        )
        inits.append(
            (
                "XavierNormal",
                {"gain": gain},
                f"xavier_normal_(gain={gain!r})",
                lambda w, g=gain: nn.init.xavier_normal_(w, gain=g),
            )
        )
    for mode in ("fan_in", "fan_out"):
        for nonlinearity, slope in HE_ARGS:
            kwargs = {"mode": mode, "nonlinearity": nonlinearity, "negative_slope": slope}
            args = f"a={slope!r}, mode={mode!r}, nonlinearity={nonlinearity!r}"
            for cls, function in (
                ("HeUniform", nn.init.kaiming_uniform_),
                ("HeNormal", nn.init.kaiming_normal_),
            ):
                inits.append(
                    (
                        cls,
                        kwargs,
                        f"{function.__name__}({args})",
                        lambda w, f=function, m=mode, n=nonlinearity, a=slope: f(
                            w, a=a, mode=m, nonlinearity=n
                        ),
                    )
                )
    inits.append(
        (
            "LeCunNormal",
            {},
            "kaiming_normal_(nonlinearity='linear')",
            lambda w: nn.init.kaiming_normal_(w, nonlinearity="linear"),
        )
    )
    inits.append(
        (
            "TorchDefault",
            {},
            "kaiming_uniform_(a=math.sqrt(5))",
            lambda w: nn.init.kaiming_uniform_(w, a=math.sqrt(5)),
        )
    )
    return inits


def init_cases():
    cases = []
    for kind, kwargs in LAYERS:
        torch_shape = list(getattr(nn, kind)(**kwargs).weight.shape)
        for cls, init_kwargs, label, function in torch_inits():
            weight = torch.empty(torch_shape, dtype=torch.float64)
            with recording() as calls:
                function(weight)
            assert len(calls) == 1, calls
            name, _, args, _ = calls[0]
            case = {
                "id": "-".join(
                    ["init", layer_id(kind, kwargs), cls, *map(str, init_kwargs.values())]
                ),
                "kind": "init",
                "init": cls,
                "init_kwargs": init_kwargs,
                "torch_call": label,
                "torch_shape": torch_shape,
                "keras_shape": keras_layout(torch_shape),
            }
            if name == "uniform_":
                case.update(distribution="uniform", low=args[0], high=args[1])
            else:
                case.update(distribution="normal", mean=args[0], std=args[1])
            cases.append(case)
    return cases


# One large conv weight for every draw: torch (out, in, kh, kw) = (200, 100, 5, 4), Keras's
# kernel (5, 4, 100, 200); fan_in 2000, fan_out 4000; 400,000 values.
DRAW_SHAPE = [200, 100, 5, 4]


def draw_cases():
    """Statistics of real torch draws (float64) on one large conv weight."""
    draws = [
        ("XavierUniform", {}, "xavier_uniform_", nn.init.xavier_uniform_),
        ("XavierNormal", {}, "xavier_normal_", nn.init.xavier_normal_),
        (
            "HeUniform",
            {},
            "kaiming_uniform_(nonlinearity='relu')",
            lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
        ),
        (
            "HeNormal",
            {"mode": "fan_out", "nonlinearity": "leaky_relu", "negative_slope": 0.2},
            "kaiming_normal_(a=0.2, mode='fan_out')",
            lambda w: nn.init.kaiming_normal_(w, a=0.2, mode="fan_out"),
        ),
        (
            "LeCunNormal",
            {},
            "kaiming_normal_(nonlinearity='linear')",
            lambda w: nn.init.kaiming_normal_(w, nonlinearity="linear"),
        ),
    ]
    cases = []
    for index, (cls, init_kwargs, label, function) in enumerate(draws):
        torch.manual_seed(index)
        weight = torch.empty(DRAW_SHAPE, dtype=torch.float64)
        function(weight)
        cases.append(draw_case(f"draw-{cls}-{label}", cls, init_kwargs, label, weight))
    torch.manual_seed(len(draws))
    module = nn.Conv2d(100, 200, (5, 4), dtype=torch.float64)
    label = "nn.Conv2d(100, 200, (5, 4)).weight"
    cases.append(draw_case(f"draw-TorchDefault-{label}", "TorchDefault", {}, label, module.weight))
    return cases


def draw_case(case_id, cls, init_kwargs, label, values):
    values = values.detach()
    shape = list(values.shape)
    return {
        "id": case_id,
        "kind": "draw",
        "init": cls,
        "init_kwargs": init_kwargs,
        "torch_call": label,
        "torch_shape": shape,
        "keras_shape": keras_layout(shape),
        "dtype": str(values.dtype).removeprefix("torch."),
        "n": values.numel(),
        "mean": values.mean().item(),
        "std": values.std().item(),
        "max_abs": values.abs().max().item(),
    }


def generate():
    return layer_cases() + gain_cases() + init_cases() + draw_cases()
