"""Golden trajectories of `torch.optim` with parameter groups (tests/golden/groups.json).

The problem: a two-layer tanh regression with variables at the paths Keras gives two
``Dense`` layers (``dense/kernel`` 5x4, ``dense/bias`` (4,), ``dense_1/kernel`` 4x3,
``dense_1/bias`` (3,)), so that layer-name patterns and rank rules select real subsets, and
gradients that depend on the parameters::

    h = tanh(X @ K1 + b1);  pred = tanh(h @ K2 + b2)
    loss = 0.5 * sum((pred - Y) ** 2) / n

The generator checks the written-out gradient against torch autograd at every step, so the
test may compute it in ``keras.ops``. Each case gives the kerasdl optimizer (class,
arguments, its ``groups`` with ``pattern`` / ``max_rank`` / ``paths`` selectors) and the
generator builds torch's ``param_groups`` from the same selectors with kerasdl's rule (a
variable goes to the first group that selects it; the rest form a last group with the
optimizer's own arguments). Keras names map to torch's (``learning_rate`` -> ``lr``,
``epsilon`` -> ``eps``, ``beta_1``/``beta_2`` -> ``betas``, RMSprop's ``rho`` -> ``alpha``;
the chapter's ``Momentum`` is ``SGD(lr * (1 - beta), momentum=beta)`` per group).

Schedules: a torch scheduler on the whole optimizer scales each group from its own
``initial_lr`` (kerasdl: the group's ``schedule.rebased(lr)``); a group's own schedule is a
per-group ``LambdaLR``; a momentum schedule is set into each group before each step
(``momentum`` or ``betas[0]``), as torch's ``OneCycleLR`` does.

All cases are float64; ``STEPS`` steps, parameters recorded at ``CHECKPOINTS``.

Run: ``python tests/reference/make_golden.py groups``.
"""

import re

import numpy as np
import torch

STEPS = 120
CHECKPOINTS = (1, 2, 10, 60, 120)
N, D_IN, D_HIDDEN, D_OUT = 8, 5, 4, 3
PATHS = ("dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias")

# kerasdl's group keys as torch's; "betas" is made from beta_1 / beta_2.
_NAMES = {"learning_rate": "lr", "epsilon": "eps"}


def problem(seed=1):
    rng = np.random.default_rng(seed)
    return {
        "X": rng.normal(size=(N, D_IN)),
        "Y": rng.uniform(-0.9, 0.9, size=(N, D_OUT)),
        "dense/kernel": rng.normal(scale=0.6, size=(D_IN, D_HIDDEN)),
        "dense/bias": rng.normal(scale=0.4, size=(D_HIDDEN,)),
        "dense_1/kernel": rng.normal(scale=0.6, size=(D_HIDDEN, D_OUT)),
        "dense_1/bias": rng.normal(scale=0.4, size=(D_OUT,)),
    }


def loss_fn(X, Y, p):
    h = torch.tanh(X @ p["dense/kernel"] + p["dense/bias"])
    pred = torch.tanh(h @ p["dense_1/kernel"] + p["dense_1/bias"])
    return 0.5 * ((pred - Y) ** 2).sum() / X.shape[0]


def gradient_formula(X, Y, p):
    """The gradient written out (numpy); the test writes the same in keras.ops."""
    h = np.tanh(X @ p["dense/kernel"] + p["dense/bias"])
    pred = np.tanh(h @ p["dense_1/kernel"] + p["dense_1/bias"])
    D2 = (pred - Y) * (1 - pred**2) / X.shape[0]
    D1 = (D2 @ p["dense_1/kernel"].T) * (1 - h**2)
    return {
        "dense/kernel": X.T @ D1,
        "dense/bias": D1.sum(axis=0),
        "dense_1/kernel": h.T @ D2,
        "dense_1/bias": D2.sum(axis=0),
    }


def selects(group, path, rank):
    if "pattern" in group:
        return re.search(group["pattern"], path) is not None
    if "max_rank" in group:
        return rank <= group["max_rank"]
    return path in group["paths"]


def _torch_values(keras_class, values, defaults):
    """kerasdl hyperparameters (a group's, over the optimizer's `defaults`) as torch's."""
    merged = {**defaults, **values}
    out = {}
    for key, value in values.items():
        if key in ("beta_1", "beta_2"):
            out["betas"] = (merged.get("beta_1", 0.9), merged.get("beta_2", 0.999))
        elif key == "rho" and keras_class == "RMSprop":
            out["alpha"] = value
        elif isinstance(value, dict):  # a schedule: made per step below
            continue
        else:
            out[_NAMES.get(key, key)] = value
    if keras_class == "Momentum" and ("learning_rate" in values or "momentum" in values):
        out["lr"] = merged["learning_rate"] * (1 - merged["momentum"])
        out["momentum"] = merged["momentum"]
    return out


def torch_groups(case, params):
    keras_class = case["class"]
    defaults = case["kwargs"]
    members = [[] for _ in case["groups"]] + [[]]
    for path in PATHS:
        rank = params[path].dim()
        index = next(
            (i for i, g in enumerate(case["groups"]) if selects(g, path, rank)),
            len(case["groups"]),
        )
        members[index].append(params[path])
    groups = []
    for group, tensors in zip([*case["groups"], {}], members, strict=True):
        values = {k: v for k, v in group.items() if k not in ("pattern", "max_rank", "paths")}
        groups.append({"params": tensors, **_torch_values(keras_class, values, defaults)})
    groups = [g for g in groups if g["params"]]
    kwargs = _torch_values(keras_class, dict(defaults), {})
    if keras_class in ("Momentum", "Nesterov"):
        kwargs.setdefault("momentum", 0.9)
        if keras_class == "Nesterov":
            kwargs["nesterov"] = True
            for g in groups:
                g["nesterov"] = True
    torch_class = "SGD" if keras_class in ("Momentum", "Nesterov") else keras_class
    kwargs = {k: v for k, v in kwargs.items() if not isinstance(v, dict)}
    return getattr(torch.optim, torch_class)(groups, foreach=False, **kwargs)


def schedule_value(spec, step):
    """A Keras schedule spec's value at `step` (the closed forms the tests build)."""
    c = spec["config"]
    if spec["class"] == "PolynomialDecay":  # power 1: linear, then constant
        t = min(step, c["decay_steps"]) / c["decay_steps"]
        return (c["initial_learning_rate"] - c["end_learning_rate"]) * (1 - t) + c[
            "end_learning_rate"
        ]
    if spec["class"] == "ExponentialLR":
        return c["initial_learning_rate"] * c["gamma"] ** step
    raise ValueError(spec)


def scheduler(case, optimizer):
    spec = case.get("torch_schedule")
    own = [g.get("learning_rate") for g in case["groups"]]
    lr_scheduler = torch.optim.lr_scheduler
    if spec is None and any(isinstance(s, dict) for s in own):
        base = [g["lr"] for g in optimizer.param_groups]
        lambdas = []
        for index in range(len(optimizer.param_groups)):
            s = own[index] if index < len(own) else None
            if isinstance(s, dict):
                lambdas.append(lambda e, s=s, b=base[index]: schedule_value(s, e) / b)
            else:
                lambdas.append(lambda e: 1.0)
        return lr_scheduler.LambdaLR(optimizer, lambdas)
    if spec is None:
        return None
    kind = spec.pop("class")
    return getattr(lr_scheduler, kind)(optimizer, **spec)


def set_momentum(case, optimizer, step):
    spec = case.get("momentum_schedule")
    if spec is None:
        return
    value = schedule_value(spec, step)
    for group in optimizer.param_groups:
        if "betas" in group:
            group["betas"] = (value, group["betas"][1])
        else:
            group["momentum"] = value


def run(case):
    data = problem()
    X, Y = (torch.tensor(data[k], dtype=torch.float64) for k in ("X", "Y"))
    params = {p: torch.tensor(data[p], dtype=torch.float64, requires_grad=True) for p in PATHS}
    optimizer = torch_groups(case, params)
    if case.get("own_schedules"):
        for group, lr in zip(optimizer.param_groups, case["own_schedules"], strict=False):
            group["lr"] = lr
    sched = scheduler(case, optimizer)
    checkpoints = {}
    for step in range(1, STEPS + 1):
        optimizer.zero_grad()
        loss_fn(X, Y, params).backward()
        formula = gradient_formula(
            X.numpy(), Y.numpy(), {p: t.detach().numpy() for p, t in params.items()}
        )
        for p in PATHS:
            np.testing.assert_allclose(params[p].grad.numpy(), formula[p], rtol=1e-12, atol=1e-15)
        set_momentum(case, optimizer, step - 1)
        optimizer.step()
        if sched is not None:
            sched.step()
        if step in CHECKPOINTS:
            checkpoints[str(step)] = {p: params[p].detach().numpy().tolist() for p in PATHS}
    return {
        "X": data["X"].tolist(),
        "Y": data["Y"].tolist(),
        "initial": {p: data[p].tolist() for p in PATHS},
        "checkpoints": checkpoints,
    }


def case(name, keras_class, kwargs, groups, **extra):
    return {"id": name, "class": keras_class, "kwargs": kwargs, "groups": groups, **extra}


LAYER_2 = {"pattern": "dense_1/"}


def onecycle(max_lr):
    return {
        "module": "kerasdl",
        "class": "OneCycleLR",
        "config": {"max_lr": max_lr, "total_steps": STEPS},
    }


def cyclic(max_lr):
    return {
        "module": "kerasdl",
        "class": "CyclicLR",
        "config": {"base_lr": 0.001, "max_lr": max_lr, "step_size_up": 25, "step_size_down": 15},
    }


NO_DECAY = {"max_rank": 1, "weight_decay": 0.0}  # timm's no decay for biases and norms


def specs():
    exponential = {
        "module": "kerasdl",
        "class": "ExponentialLR",
        "config": {"initial_learning_rate": 0.05, "gamma": 0.98},
    }
    linear_momentum = {
        "module": "keras",
        "class": "PolynomialDecay",
        "config": {
            "initial_learning_rate": 0.95,
            "decay_steps": 100,
            "end_learning_rate": 0.85,
            "power": 1.0,
        },
    }
    return [
        case(
            "sgd-two-groups",
            "SGD",
            {"learning_rate": 0.1, "momentum": 0.9, "weight_decay": 0.01},
            [{**LAYER_2, "learning_rate": 0.05, "weight_decay": 0.1, "momentum": 0.5}],
        ),
        case(
            "sgd-dampening-nesterov-groups",
            "SGD",
            {"learning_rate": 0.05, "momentum": 0.8, "dampening": 0.3},
            [
                {"paths": ["dense/kernel"], "nesterov": True, "dampening": 0.0},
                {"max_rank": 1, "learning_rate": 0.2, "momentum": 0.0, "weight_decay": 0.05},
            ],
        ),
        case(
            "sgd-maximize-group",
            "SGD",
            {"learning_rate": 0.05},
            [{**LAYER_2, "maximize": True, "learning_rate": 0.01}],
        ),
        case(
            "momentum-two-groups",
            "Momentum",
            {"learning_rate": 0.3, "momentum": 0.9, "weight_decay": 0.02},
            [{**LAYER_2, "learning_rate": 0.6, "momentum": 0.7}, NO_DECAY],
        ),
        case(
            "nesterov-two-groups",
            "Nesterov",
            {"learning_rate": 0.05, "momentum": 0.9},
            [{**LAYER_2, "learning_rate": 0.02, "momentum": 0.6, "weight_decay": 0.1}],
        ),
        case(
            "adagrad-two-groups",
            "Adagrad",
            {"learning_rate": 0.1, "weight_decay": 0.05},
            [
                {
                    **LAYER_2,
                    "learning_rate": 0.05,
                    "lr_decay": 0.02,
                    "epsilon": 1e-3,
                },
                NO_DECAY,
            ],
        ),
        case(
            "rmsprop-two-groups",
            "RMSprop",
            {"learning_rate": 0.003, "weight_decay": 0.05},
            [
                {**LAYER_2, "learning_rate": 0.001, "rho": 0.9, "momentum": 0.5},
                {"max_rank": 1, "centered": True, "epsilon": 1e-4, "weight_decay": 0.0},
            ],
        ),
        case(
            "adam-two-groups",
            "Adam",
            {"learning_rate": 0.01, "weight_decay": 0.1},
            [
                {**LAYER_2, "learning_rate": 0.003, "beta_1": 0.8, "beta_2": 0.99},
                {"max_rank": 1, "amsgrad": True, "epsilon": 1e-6, "weight_decay": 0.0},
            ],
        ),
        case(
            "adamw-timm-no-decay",
            "AdamW",
            {"learning_rate": 0.02, "weight_decay": 0.5},
            [NO_DECAY, {**LAYER_2, "learning_rate": 0.005, "weight_decay": 1.0}],
        ),
        case(
            "adadelta-two-groups",
            "Adadelta",
            {"learning_rate": 1.0, "weight_decay": 0.05},
            [{**LAYER_2, "learning_rate": 0.5, "rho": 0.8, "epsilon": 1e-5}, NO_DECAY],
        ),
        case(
            "adamax-two-groups",
            "Adamax",
            {"learning_rate": 0.01, "weight_decay": 0.05},
            [{**LAYER_2, "learning_rate": 0.004, "beta_1": 0.85, "epsilon": 1e-6}, NO_DECAY],
        ),
        case(
            "nadam-two-groups",
            "NAdam",
            {"learning_rate": 0.01, "weight_decay": 0.1},
            [
                {**LAYER_2, "learning_rate": 0.003, "momentum_decay": 0.01, "beta_2": 0.99},
                {"max_rank": 1, "decoupled_weight_decay": True, "weight_decay": 0.3},
            ],
        ),
        case(
            "radam-two-groups",
            "RAdam",
            {"learning_rate": 0.01, "weight_decay": 0.1},
            [
                {**LAYER_2, "learning_rate": 0.02, "beta_1": 0.8},
                {"max_rank": 1, "decoupled_weight_decay": True, "weight_decay": 0.5},
            ],
        ),
        # Schedules: the optimizer's schedule rebased on each group's learning rate.
        case(
            "adamw-steplr-rebased",
            "AdamW",
            {"weight_decay": 0.3},
            [{**LAYER_2, "learning_rate": 0.004}, NO_DECAY],
            keras_schedule={
                "module": "kerasdl",
                "class": "StepLR",
                "config": {"initial_learning_rate": 0.02, "step_size": 30, "gamma": 0.5},
            },
            torch_kwargs={"lr": 0.02},
            torch_schedule={"class": "StepLR", "step_size": 30, "gamma": 0.5},
        ),
        case(
            "sgd-cosine-rebased",
            "SGD",
            {"momentum": 0.9},
            [{**LAYER_2, "learning_rate": 0.05, "weight_decay": 0.01}],
            keras_schedule={
                "module": "kerasdl",
                "class": "CosineAnnealingLR",
                "config": {"initial_learning_rate": 0.1, "T_max": 50, "eta_min": 0.001},
            },
            torch_kwargs={"lr": 0.1},
            torch_schedule={"class": "CosineAnnealingLR", "T_max": 50, "eta_min": 0.001},
        ),
        case(
            "adam-group-own-schedule",
            "Adam",
            {"learning_rate": 0.01},
            [{**LAYER_2, "learning_rate": exponential}],
            own_schedules=[0.05],
        ),
        # Momentum as a schedule (torch: set into each group before each step).
        case(
            "sgd-momentum-schedule-groups",
            "SGD",
            {"learning_rate": 0.05, "momentum": linear_momentum},
            [{**LAYER_2, "learning_rate": 0.02, "weight_decay": 0.1}],
            momentum_schedule=linear_momentum,
        ),
        case(
            "adam-beta1-schedule-groups",
            "Adam",
            {"learning_rate": 0.01, "beta_1": linear_momentum},
            [{**LAYER_2, "learning_rate": 0.003, "beta_2": 0.99}],
            momentum_schedule=linear_momentum,
        ),
        # OneCycleLR with its momentum cycling (kerasdl: the optimizer's momentum / beta_1 is
        # schedule.momentum_schedule()). A scalar max_lr sets every group's lr, in torch as in
        # kerasdl (OneCycleLR.rebased returns the schedule itself): the group's 0.05 is unused.
        case(
            "sgd-onecycle-momentum-groups",
            "SGD",
            {"momentum": 0.9, "weight_decay": 0.01},
            [{**LAYER_2, "learning_rate": 0.05, "weight_decay": 0.1}],
            keras_schedule={
                "module": "kerasdl",
                "class": "OneCycleLR",
                "config": {"max_lr": 0.2, "total_steps": STEPS},
            },
            cycled_momentum="momentum",
            torch_kwargs={"lr": 0.2},
            torch_schedule={"class": "OneCycleLR", "max_lr": 0.2, "total_steps": STEPS},
        ),
        # PyTorch's per-group max_lr (a list, one per param group, in their order): kerasdl
        # gives the group its own schedule with that max_lr (what `[[optimizer.groups]]
        # max_lr` builds); the momentum cycle is the same for every group.
        case(
            "sgd-onecycle-max-lr-per-group",
            "SGD",
            {"momentum": 0.9},
            [{**LAYER_2, "learning_rate": onecycle(0.05)}],
            keras_schedule=onecycle(0.2),
            cycled_momentum="momentum",
            torch_kwargs={"lr": 0.2},
            torch_schedule={"class": "OneCycleLR", "max_lr": [0.05, 0.2], "total_steps": STEPS},
        ),
        case(
            "adam-cyclic-max-lr-per-group",
            "Adam",
            {"weight_decay": 0.01},
            [{**LAYER_2, "learning_rate": cyclic(0.05)}],
            keras_schedule=cyclic(0.02),
            cycled_momentum="beta_1",
            torch_kwargs={"lr": 0.001},
            torch_schedule={
                "class": "CyclicLR",
                "base_lr": 0.001,
                "max_lr": [0.05, 0.02],
                "step_size_up": 25,
                "step_size_down": 15,
            },
        ),
        case(
            "adam-onecycle-beta1-groups",
            "Adam",
            {"weight_decay": 0.05},
            [{**LAYER_2, "beta_2": 0.99}, NO_DECAY],
            keras_schedule={
                "module": "kerasdl",
                "class": "OneCycleLR",
                "config": {"max_lr": 0.02, "total_steps": STEPS, "anneal_strategy": "linear"},
            },
            cycled_momentum="beta_1",
            torch_kwargs={"lr": 0.02},
            torch_schedule={
                "class": "OneCycleLR",
                "max_lr": 0.02,
                "total_steps": STEPS,
                "anneal_strategy": "linear",
            },
        ),
    ]


def generate():
    torch.manual_seed(0)
    cases = []
    for spec in specs():
        torch_spec = dict(spec)
        if "torch_kwargs" in spec:
            torch_spec["kwargs"] = {**spec["kwargs"], **_keras_names(spec["torch_kwargs"])}
        if isinstance(spec["kwargs"].get("momentum"), dict) or isinstance(
            spec["kwargs"].get("beta_1"), dict
        ):
            kwargs = dict(torch_spec["kwargs"])
            for key in ("momentum", "beta_1"):
                if isinstance(kwargs.get(key), dict):
                    kwargs[key] = schedule_value(kwargs[key], 0)
            torch_spec["kwargs"] = kwargs
        if "torch_schedule" in spec:
            torch_spec["torch_schedule"] = dict(spec["torch_schedule"])
        result = run(torch_spec)
        cases.append({**spec, "kind": "trajectory", "dtype": "float64", "steps": STEPS, **result})
    return cases + plateau_cases()


# ----------------------------------------------------------------------------- plateau

PLATEAU_METRICS = [1.0, 0.9, 0.85, 0.86, 0.87, 0.84, 0.84, 0.85, 0.83, 0.84, 0.84, 0.85, 0.9]
PLATEAU_METRICS += [0.82, 0.83, 0.83, 0.84, 0.81, 0.82, 0.82, 0.82, 0.82, 0.83, 0.84, 0.85]


def plateau_cases():
    """ReduceLROnPlateau on two param groups (lr 0.1 and 0.05) with a list of min_lr, the
    first group's reached first; alone, and chained after ExponentialLR (each epoch:
    exponential.step(), then plateau.step(metric)). Records every group's lr per epoch."""
    cases = []
    params = {"factor": 0.5, "patience": 1, "min_lr": [0.02, 0.001], "cooldown": 1}
    for name, gamma in (("plateau-two-groups", None), ("plateau-two-groups-exponential", 0.95)):
        w0 = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        w1 = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.SGD([{"params": [w0], "lr": 0.05}, {"params": [w1]}], lr=0.1)
        exponential = None
        if gamma is not None:
            exponential = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **params)
        lrs = []
        for value in PLATEAU_METRICS:
            optimizer.step()
            if exponential is not None:
                exponential.step()
            plateau.step(value)
            lrs.append([group["lr"] for group in optimizer.param_groups])
        cases.append(
            {
                "id": name,
                "kind": "plateau",
                "params": params,
                "group_lr": 0.05,
                "lr": 0.1,
                "gamma": gamma,
                "metrics": PLATEAU_METRICS,
                "lrs": lrs,
            }
        )
    return cases


def _keras_names(torch_kwargs):
    return {"learning_rate" if k == "lr" else k: v for k, v in torch_kwargs.items()}
