"""Golden trajectories of `torch.optim` for kerasdl.optimizers (tests/golden/optimizers.json).

The problem: a one-layer tanh regression with a matrix ``kernel`` (5x3) and a vector
``bias`` (3,), so rank rules (``exclude_bias_and_norm``) matter, and gradients that
depend on the parameters, so an error in one step compounds::

    pred = tanh(X @ kernel + bias)
    loss = 0.5 * sum((pred - Y) ** 2) / n

    D = (pred - Y) * (1 - pred ** 2) / n
    grad_kernel = X.T @ D
    grad_bias = D.sum(axis=0)

The generator checks that formula against torch autograd at every step, so the
test may write it out in ``keras.ops`` instead of differentiating. Each case runs
``STEPS`` steps of one torch optimizer (single-tensor path: ``foreach=False``) and
records the parameters at ``CHECKPOINTS``. The ``keras`` field says how to build
the kerasdl optimizer that must reproduce it (class, arguments, schedule, and how
the bias is exempted from decay when torch gives it its own param group).

Two kinds of case:

- ``"trajectory"``: kerasdl must match torch within 1e-6 (float64) / 1e-5 (float32).
- ``"contrast"``: a torch optimizer that kerasdl deliberately does *not* match
  (``SGD(momentum=beta, dampening=beta)``, which starts its buffer at ``g``); the
  test shows where and by how much the trajectories differ.

float64 cases run torch in float64; float32 cases run torch in float32 from the
same float64 data (rounded once), as the Keras side does.

Run: ``/work/torchvenv/bin/python tests/reference/make_golden.py optimizers``.
"""

import numpy as np
import torch

STEPS = 120
CHECKPOINTS = (1, 2, 10, 50, 120)
N, D_IN, D_OUT = 8, 5, 3


def problem(seed=0):
    """The data and the starting parameters, as float64 numpy arrays."""
    rng = np.random.default_rng(seed)
    return {
        "X": rng.normal(size=(N, D_IN)),
        "Y": rng.uniform(-0.9, 0.9, size=(N, D_OUT)),
        "kernel": rng.normal(scale=0.7, size=(D_IN, D_OUT)),
        "bias": rng.normal(scale=0.5, size=(D_OUT,)),
    }


def loss_fn(X, Y, kernel, bias):
    pred = torch.tanh(X @ kernel + bias)
    return 0.5 * ((pred - Y) ** 2).sum() / X.shape[0]


def gradient_formula(X, Y, kernel, bias):
    """The gradient written out (numpy); the test writes the same in keras.ops."""
    pred = np.tanh(X @ kernel + bias)
    D = (pred - Y) * (1 - pred**2) / X.shape[0]
    return X.T @ D, D.sum(axis=0)


def _torch_optimizer(spec, kernel, bias):
    """`spec["torch"]`: the torch class, its arguments, and whether the bias decays."""
    cls = getattr(torch.optim, spec["torch"]["class"])
    kwargs = dict(spec["torch"]["kwargs"])
    kwargs["foreach"] = False
    if spec["torch"].get("bias_decays", True):
        return cls([kernel, bias], **kwargs)
    groups = [{"params": [kernel]}, {"params": [bias], "weight_decay": 0.0}]
    return cls(groups, **kwargs)


def _scheduler(spec, optimizer):
    schedule = spec["torch"].get("schedule")
    if schedule is None:
        return None
    if schedule["class"] == "ExponentialLR":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=schedule["gamma"])
    raise ValueError(schedule)


def run(spec, dtype):
    data = problem()
    tdtype = {"float64": torch.float64, "float32": torch.float32}[dtype]
    X, Y = (torch.tensor(data[k], dtype=tdtype) for k in ("X", "Y"))
    kernel = torch.tensor(data["kernel"], dtype=tdtype, requires_grad=True)
    bias = torch.tensor(data["bias"], dtype=tdtype, requires_grad=True)
    optimizer = _torch_optimizer(spec, kernel, bias)
    scheduler = _scheduler(spec, optimizer)
    checkpoints = {}
    for step in range(1, STEPS + 1):
        optimizer.zero_grad()
        loss_fn(X, Y, kernel, bias).backward()
        if dtype == "float64":  # the formula the test uses is torch's gradient
            formula = gradient_formula(
                X.numpy(), Y.numpy(), kernel.detach().numpy(), bias.detach().numpy()
            )
            np.testing.assert_allclose(kernel.grad.numpy(), formula[0], rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(bias.grad.numpy(), formula[1], rtol=1e-12, atol=1e-15)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if step in CHECKPOINTS:
            checkpoints[str(step)] = {
                "kernel": kernel.detach().double().numpy().tolist(),
                "bias": bias.detach().double().numpy().tolist(),
            }
    return {
        "X": data["X"].tolist(),
        "Y": data["Y"].tolist(),
        "kernel0": data["kernel"].tolist(),
        "bias0": data["bias"].tolist(),
        "checkpoints": checkpoints,
    }


def spec(keras_class, keras_kwargs, torch_class, torch_kwargs, **extra):
    """One case: the kerasdl optimizer and the torch optimizer it must match."""
    bias_decays = extra.pop("bias_decays", True)
    exclusion = extra.pop("exclusion", None)  # how kerasdl exempts the bias
    if not bias_decays and exclusion is None:
        raise ValueError("an exempt bias needs a kerasdl exclusion")
    return {
        "keras": {
            "class": keras_class,
            "kwargs": keras_kwargs,
            "schedule": extra.pop("keras_schedule", None),
            "exclusion": exclusion,
        },
        "torch": {
            "class": torch_class,
            "kwargs": torch_kwargs,
            "bias_decays": bias_decays,
            "schedule": extra.pop("torch_schedule", None),
        },
        **extra,
    }


BIAS_AND_NORM = "exclude_bias_and_norm"  # kerasdl: exclude_bias_and_norm=True
VAR_NAMES = "var_names"  # kerasdl: exclude_from_weight_decay(var_names=["bias"])


def specs():
    """(name, spec, dtypes) of every case."""
    both = ("float64", "float32")
    f64 = ("float64",)
    m = 0.9
    return [
        # SGD
        ("sgd", spec("SGD", {"learning_rate": 0.2}, "SGD", {"lr": 0.2}), both),
        ("sgd-default", spec("SGD", {}, "SGD", {"lr": 0.01}), f64),
        (
            "sgd-l2",
            spec(
                "SGD",
                {"learning_rate": 0.1, "weight_decay": 0.05},
                "SGD",
                {"lr": 0.1, "weight_decay": 0.05},
            ),
            both,
        ),
        (
            "sgd-l2-bias-exempt",
            spec(
                "SGD",
                {"learning_rate": 0.1, "weight_decay": 0.2},
                "SGD",
                {"lr": 0.1, "weight_decay": 0.2},
                bias_decays=False,
                exclusion=BIAS_AND_NORM,
            ),
            f64,
        ),
        # Momentum: the chapter's EMA momentum is SGD(lr * (1 - beta), momentum=beta).
        (
            "momentum",
            spec(
                "Momentum",
                {"learning_rate": 0.5, "momentum": m},
                "SGD",
                {"lr": 0.5 * (1 - m), "momentum": m},
            ),
            both,
        ),
        (
            "momentum-default",
            spec("Momentum", {}, "SGD", {"lr": 0.01 * (1 - m), "momentum": m}),
            f64,
        ),
        (
            "momentum-0.5-l2-bias-exempt",
            spec(
                "Momentum",
                {"learning_rate": 0.4, "momentum": 0.5, "weight_decay": 0.1},
                "SGD",
                {"lr": 0.4 * 0.5, "momentum": 0.5, "weight_decay": 0.1},
                bias_decays=False,
                exclusion=VAR_NAMES,
            ),
            both,
        ),
        # Nesterov
        (
            "nesterov",
            spec(
                "Nesterov",
                {"learning_rate": 0.05, "momentum": m},
                "SGD",
                {"lr": 0.05, "momentum": m, "nesterov": True},
            ),
            both,
        ),
        (
            "nesterov-default",
            spec("Nesterov", {}, "SGD", {"lr": 0.01, "momentum": m, "nesterov": True}),
            f64,
        ),
        (
            "nesterov-0.7-l2-bias-exempt",
            spec(
                "Nesterov",
                {"learning_rate": 0.1, "momentum": 0.7, "weight_decay": 0.1},
                "SGD",
                {"lr": 0.1, "momentum": 0.7, "nesterov": True, "weight_decay": 0.1},
                bias_decays=False,
                exclusion=BIAS_AND_NORM,
            ),
            f64,
        ),
        # Adagrad
        ("adagrad-default", spec("Adagrad", {}, "Adagrad", {"lr": 0.01}), both),
        (
            "adagrad-acc-eps-l2",
            spec(
                "Adagrad",
                {
                    "learning_rate": 0.1,
                    "initial_accumulator_value": 0.1,
                    "epsilon": 1e-3,
                    "weight_decay": 0.05,
                },
                "Adagrad",
                {"lr": 0.1, "initial_accumulator_value": 0.1, "eps": 1e-3, "weight_decay": 0.05},
            ),
            both,
        ),
        (
            # torch's lr_decay is Keras's InverseTimeDecay(decay_steps=1).
            "adagrad-lr-decay-l2-bias-exempt",
            spec(
                "Adagrad",
                {"weight_decay": 0.1},
                "Adagrad",
                {"lr": 0.2, "lr_decay": 0.05, "weight_decay": 0.1},
                keras_schedule={
                    "class": "InverseTimeDecay",
                    "config": {
                        "initial_learning_rate": 0.2,
                        "decay_steps": 1,
                        "decay_rate": 0.05,
                    },
                },
                bias_decays=False,
                exclusion=VAR_NAMES,
            ),
            f64,
        ),
        # RMSprop
        ("rmsprop-default", spec("RMSprop", {}, "RMSprop", {"lr": 0.01}), both),
        (
            "rmsprop-rho-eps",
            spec(
                "RMSprop",
                {"learning_rate": 0.005, "rho": 0.9, "epsilon": 1e-4},
                "RMSprop",
                {"lr": 0.005, "alpha": 0.9, "eps": 1e-4},
            ),
            f64,
        ),
        (
            # Centered RMSprop divides by a standard deviation that shrinks as the
            # gradient settles: rho = 0.99 keeps float32 within 1e-6 of float64 here.
            "rmsprop-centered-l2",
            spec(
                "RMSprop",
                {"learning_rate": 0.003, "centered": True, "weight_decay": 0.05},
                "RMSprop",
                {"lr": 0.003, "centered": True, "weight_decay": 0.05},
            ),
            both,
        ),
        (
            "rmsprop-l2-bias-exempt",
            spec(
                "RMSprop",
                {"learning_rate": 0.01, "weight_decay": 0.2},
                "RMSprop",
                {"lr": 0.01, "weight_decay": 0.2},
                bias_decays=False,
                exclusion=BIAS_AND_NORM,
            ),
            f64,
        ),
        # Adam: weight_decay is L2 (coupled), as torch's Adam.
        ("adam-default", spec("Adam", {}, "Adam", {"lr": 1e-3}), f64),
        ("adam", spec("Adam", {"learning_rate": 0.02}, "Adam", {"lr": 0.02}), both),
        (
            "adam-betas-eps-l2",
            spec(
                "Adam",
                {
                    "learning_rate": 0.01,
                    "beta_1": 0.8,
                    "beta_2": 0.99,
                    "epsilon": 1e-6,
                    "weight_decay": 0.1,
                },
                "Adam",
                {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1},
            ),
            both,
        ),
        (
            "adam-l2-bias-exempt",
            spec(
                "Adam",
                {"learning_rate": 0.01, "weight_decay": 0.5},
                "Adam",
                {"lr": 0.01, "weight_decay": 0.5},
                bias_decays=False,
                exclusion=VAR_NAMES,
            ),
            f64,
        ),
        # AdamW: decoupled decay, before the Adam step.
        ("adamw-default", spec("AdamW", {}, "AdamW", {"lr": 1e-3}), f64),
        (
            "adamw",
            spec(
                "AdamW",
                {"learning_rate": 0.02, "weight_decay": 0.5},
                "AdamW",
                {"lr": 0.02, "weight_decay": 0.5},
            ),
            both,
        ),
        (
            "adamw-bias-exempt",
            spec(
                "AdamW",
                {"learning_rate": 0.02, "beta_1": 0.85, "weight_decay": 1.0},
                "AdamW",
                {"lr": 0.02, "betas": (0.85, 0.999), "weight_decay": 1.0},
                bias_decays=False,
                exclusion=BIAS_AND_NORM,
            ),
            f64,
        ),
        (
            # The decay follows the scheduled learning rate, in torch and in kerasdl.
            "adamw-exponential-schedule",
            spec(
                "AdamW",
                {"weight_decay": 0.5},
                "AdamW",
                {"lr": 0.03, "weight_decay": 0.5},
                keras_schedule={
                    "class": "ExponentialDecay",
                    "config": {
                        "initial_learning_rate": 0.03,
                        "decay_steps": 1,
                        "decay_rate": 0.97,
                    },
                },
                torch_schedule={"class": "ExponentialLR", "gamma": 0.97},
            ),
            both,
        ),
        # Contrast: torch's dampened momentum starts its buffer at g, not at (1 - beta) g.
        (
            "contrast-momentum-vs-torch-dampened",
            spec(
                "Momentum",
                {"learning_rate": 0.5, "momentum": m},
                "SGD",
                {"lr": 0.5, "momentum": m, "dampening": m},
                kind="contrast",
            ),
            f64,
        ),
        *option_specs(),
        *new_optimizer_specs(),
    ]


def option_specs():
    """PyTorch's options on the chapter's optimizers: SGD's momentum, dampening and nesterov,
    amsgrad, RMSprop's momentum, Adagrad's lr_decay, and maximize on every optimizer."""
    both = ("float64", "float32")
    f64 = ("float64",)
    m = 0.9
    return [
        (
            "sgd-momentum",
            spec("SGD", {"learning_rate": 0.1, "momentum": m}, "SGD", {"lr": 0.1, "momentum": m}),
            both,
        ),
        (
            "sgd-momentum-dampening-l2",
            spec(
                "SGD",
                {"learning_rate": 0.2, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.05},
                "SGD",
                {"lr": 0.2, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.05},
            ),
            both,
        ),
        (
            "sgd-momentum-nesterov-l2-bias-exempt",
            spec(
                "SGD",
                {"learning_rate": 0.05, "momentum": 0.7, "nesterov": True, "weight_decay": 0.1},
                "SGD",
                {"lr": 0.05, "momentum": 0.7, "nesterov": True, "weight_decay": 0.1},
                bias_decays=False,
                exclusion=BIAS_AND_NORM,
            ),
            f64,
        ),
        (
            "sgd-maximize-momentum-l2",
            spec(
                "SGD",
                {"learning_rate": 0.1, "momentum": 0.5, "weight_decay": 0.05, "maximize": True},
                "SGD",
                {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.05, "maximize": True},
            ),
            f64,
        ),
        (
            "momentum-maximize",
            spec(
                "Momentum",
                {"learning_rate": 0.5, "momentum": m, "maximize": True},
                "SGD",
                {"lr": 0.5 * (1 - m), "momentum": m, "maximize": True},
            ),
            f64,
        ),
        (
            "nesterov-maximize-l2",
            spec(
                "Nesterov",
                {"learning_rate": 0.05, "momentum": m, "weight_decay": 0.1, "maximize": True},
                "SGD",
                {
                    "lr": 0.05,
                    "momentum": m,
                    "nesterov": True,
                    "weight_decay": 0.1,
                    "maximize": True,
                },
            ),
            f64,
        ),
        (
            "adagrad-lr-decay-option-l2",
            spec(
                "Adagrad",
                {"learning_rate": 0.2, "lr_decay": 0.05, "weight_decay": 0.1},
                "Adagrad",
                {"lr": 0.2, "lr_decay": 0.05, "weight_decay": 0.1},
            ),
            both,
        ),
        (
            "adagrad-maximize-l2",
            spec(
                "Adagrad",
                {"learning_rate": 0.1, "weight_decay": 0.05, "maximize": True},
                "Adagrad",
                {"lr": 0.1, "weight_decay": 0.05, "maximize": True},
            ),
            f64,
        ),
        (
            "rmsprop-momentum",
            spec(
                "RMSprop",
                {"learning_rate": 0.002, "momentum": 0.8},
                "RMSprop",
                {"lr": 0.002, "momentum": 0.8},
            ),
            both,
        ),
        (
            "rmsprop-centered-momentum-l2-bias-exempt",
            spec(
                "RMSprop",
                {
                    "learning_rate": 0.002,
                    "centered": True,
                    "momentum": 0.5,
                    "weight_decay": 0.1,
                },
                "RMSprop",
                {"lr": 0.002, "centered": True, "momentum": 0.5, "weight_decay": 0.1},
                bias_decays=False,
                exclusion=VAR_NAMES,
            ),
            f64,
        ),
        (
            "rmsprop-maximize-l2",
            spec(
                "RMSprop",
                {"learning_rate": 0.005, "weight_decay": 0.05, "maximize": True},
                "RMSprop",
                {"lr": 0.005, "weight_decay": 0.05, "maximize": True},
            ),
            f64,
        ),
        (
            "adam-amsgrad",
            spec(
                "Adam",
                {"learning_rate": 0.02, "amsgrad": True},
                "Adam",
                {"lr": 0.02, "amsgrad": True},
            ),
            both,
        ),
        (
            "adam-amsgrad-l2-bias-exempt",
            spec(
                "Adam",
                {"learning_rate": 0.01, "beta_2": 0.99, "amsgrad": True, "weight_decay": 0.2},
                "Adam",
                {"lr": 0.01, "betas": (0.9, 0.99), "amsgrad": True, "weight_decay": 0.2},
                bias_decays=False,
                exclusion=BIAS_AND_NORM,
            ),
            f64,
        ),
        (
            "adam-maximize-l2",
            spec(
                "Adam",
                {"learning_rate": 0.01, "weight_decay": 0.1, "maximize": True},
                "Adam",
                {"lr": 0.01, "weight_decay": 0.1, "maximize": True},
            ),
            f64,
        ),
        (
            "adamw-amsgrad",
            spec(
                "AdamW",
                {"learning_rate": 0.02, "weight_decay": 0.5, "amsgrad": True},
                "AdamW",
                {"lr": 0.02, "weight_decay": 0.5, "amsgrad": True},
            ),
            both,
        ),
        (
            "adamw-amsgrad-maximize",
            spec(
                "AdamW",
                {"learning_rate": 0.02, "weight_decay": 0.2, "amsgrad": True, "maximize": True},
                "AdamW",
                {"lr": 0.02, "weight_decay": 0.2, "amsgrad": True, "maximize": True},
            ),
            f64,
        ),
    ]


def _family(keras_class, torch_class, default_lr, cases):
    """Cases for one new optimizer: `(suffix, keras kwargs, torch kwargs, extra, dtypes)`."""
    out = [
        (
            f"{keras_class.lower()}-default",
            spec(keras_class, {}, torch_class, {"lr": default_lr}),
            ("float64", "float32"),
        )
    ]
    for suffix, keras_kwargs, torch_kwargs, extra, dtypes in cases:
        out.append(
            (
                f"{keras_class.lower()}-{suffix}",
                spec(keras_class, keras_kwargs, torch_class, torch_kwargs, **extra),
                dtypes,
            )
        )
    return out


def new_optimizer_specs():
    """Adadelta, Adamax, NAdam and RAdam: defaults, options, weight decay, maximize."""
    both = ("float64", "float32")
    f64 = ("float64",)
    exempt = {"bias_decays": False, "exclusion": BIAS_AND_NORM}
    by_name = {"bias_decays": False, "exclusion": VAR_NAMES}
    return [
        *_family(
            "Adadelta",
            "Adadelta",
            1.0,
            [
                (
                    "rho-eps-l2",
                    {"learning_rate": 0.5, "rho": 0.8, "epsilon": 1e-4, "weight_decay": 0.05},
                    {"lr": 0.5, "rho": 0.8, "eps": 1e-4, "weight_decay": 0.05},
                    {},
                    both,
                ),
                (
                    "l2-bias-exempt",
                    {"weight_decay": 0.2},
                    {"lr": 1.0, "weight_decay": 0.2},
                    exempt,
                    f64,
                ),
                (
                    "maximize",
                    {"learning_rate": 2.0, "maximize": True},
                    {"lr": 2.0, "maximize": True},
                    {},
                    f64,
                ),
            ],
        ),
        *_family(
            "Adamax",
            "Adamax",
            0.002,
            [
                (
                    "betas-eps-l2",
                    {
                        "learning_rate": 0.02,
                        "beta_1": 0.8,
                        "beta_2": 0.99,
                        "epsilon": 1e-3,
                        "weight_decay": 0.1,
                    },
                    {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-3, "weight_decay": 0.1},
                    {},
                    both,
                ),
                (
                    "l2-bias-exempt",
                    {"learning_rate": 0.02, "weight_decay": 0.3},
                    {"lr": 0.02, "weight_decay": 0.3},
                    by_name,
                    f64,
                ),
                (
                    "maximize",
                    {"learning_rate": 0.01, "maximize": True},
                    {"lr": 0.01, "maximize": True},
                    {},
                    f64,
                ),
            ],
        ),
        *_family(
            "NAdam",
            "NAdam",
            0.002,
            [
                (
                    "momentum-decay-l2",
                    {
                        "learning_rate": 0.02,
                        "beta_1": 0.85,
                        "momentum_decay": 0.05,
                        "weight_decay": 0.1,
                    },
                    {
                        "lr": 0.02,
                        "betas": (0.85, 0.999),
                        "momentum_decay": 0.05,
                        "weight_decay": 0.1,
                    },
                    {},
                    both,
                ),
                (
                    "decoupled",
                    {"learning_rate": 0.02, "weight_decay": 0.5, "decoupled_weight_decay": True},
                    {"lr": 0.02, "weight_decay": 0.5, "decoupled_weight_decay": True},
                    {},
                    both,
                ),
                (
                    "decoupled-bias-exempt",
                    {"learning_rate": 0.01, "weight_decay": 1.0, "decoupled_weight_decay": True},
                    {"lr": 0.01, "weight_decay": 1.0, "decoupled_weight_decay": True},
                    exempt,
                    f64,
                ),
                (
                    "l2-bias-exempt",
                    {"learning_rate": 0.01, "weight_decay": 0.3},
                    {"lr": 0.01, "weight_decay": 0.3},
                    by_name,
                    f64,
                ),
                (
                    "maximize",
                    {"learning_rate": 0.01, "maximize": True},
                    {"lr": 0.01, "maximize": True},
                    {},
                    f64,
                ),
            ],
        ),
        *_family(
            "RAdam",
            "RAdam",
            0.001,
            [
                (
                    "betas-eps-l2",
                    {
                        "learning_rate": 0.02,
                        "beta_1": 0.8,
                        "beta_2": 0.99,
                        "epsilon": 1e-6,
                        "weight_decay": 0.1,
                    },
                    {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1},
                    {},
                    both,
                ),
                (
                    "decoupled",
                    {"learning_rate": 0.02, "weight_decay": 0.5, "decoupled_weight_decay": True},
                    {"lr": 0.02, "weight_decay": 0.5, "decoupled_weight_decay": True},
                    {},
                    both,
                ),
                (
                    "decoupled-bias-exempt",
                    {"learning_rate": 0.01, "weight_decay": 1.0, "decoupled_weight_decay": True},
                    {"lr": 0.01, "weight_decay": 1.0, "decoupled_weight_decay": True},
                    by_name,
                    f64,
                ),
                (
                    "l2-bias-exempt",
                    {"learning_rate": 0.01, "weight_decay": 0.3},
                    {"lr": 0.01, "weight_decay": 0.3},
                    exempt,
                    f64,
                ),
                (
                    "maximize",
                    {"learning_rate": 0.01, "maximize": True},
                    {"lr": 0.01, "maximize": True},
                    {},
                    f64,
                ),
            ],
        ),
    ]


def generate():
    torch.manual_seed(0)
    cases = []
    for name, case_spec, dtypes in specs():
        for dtype in dtypes:
            case = {
                "id": f"{name}-{dtype}",
                "kind": case_spec.get("kind", "trajectory"),
                "dtype": dtype,
                "steps": STEPS,
                "keras": case_spec["keras"],
                "torch": case_spec["torch"],
            }
            case.update(run(case_spec, dtype))
            cases.append(case)
    return cases
