"""`kerasdl.from_torch`: a `torch.optim` optimizer (and scheduler) as a kerasdl optimizer.

The converter reads a PyTorch optimizer's hyperparameters (`param_groups`), and optionally its
state (moments, step counts) and its parameters' values, and returns the kerasdl optimizer and
schedule that continue the same trajectory. Each torch class maps through a small table
(`_OPTIMIZERS`, `_SCHEDULERS`). This module never imports torch: it reads the objects it is
given (their class names, `param_groups`, `state`, tensors through `.detach().cpu().numpy()`),
so `import kerasdl` and `kerasdl --help` stay free of it. See `docs/porting.md`.
"""

import collections
import math

import keras
import numpy as np

from kerasdl import _checks, _registration

__all__ = ["FromTorch", "Shifted", "from_torch", "keras_layout"]

FromTorch = collections.namedtuple("FromTorch", ["optimizer", "schedule"])
FromTorch.__doc__ = """What `from_torch` returns, a named tuple.

Args:
    optimizer: the kerasdl optimizer.
    schedule: its schedule (also the optimizer's `learning_rate`), or `None` without a torch
        scheduler.

References:
    - [PyTorch `torch.optim`](https://pytorch.org/docs/stable/optim.html)
"""

# Keys every torch optimizer has that change nothing kerasdl computes (implementation choices),
# or that the converter reads itself.
_IGNORED = frozenset(
    {"foreach", "fused", "capturable", "differentiable", "params", "param_names", "initial_lr"}
)


def _betas(value):
    beta_1, beta_2 = (float(b) for b in value)
    return {"beta_1": beta_1, "beta_2": beta_2}


def _key(name):
    return lambda value: {name: value}


def _number(name):
    return lambda value: {name: float(value)}


def _flag(name):
    return lambda value: {name: bool(value)}


_COMMON = {"weight_decay": _number("weight_decay"), "maximize": _flag("maximize")}
_ADAM_FAMILY = {"betas": _betas, "eps": _number("epsilon")}
_DECOUPLED = {"decoupled_weight_decay": _flag("decoupled_weight_decay")}

# torch class name -> (kerasdl class name, {torch key: kwargs of kerasdl}, {state key: slot list}).
_OPTIMIZERS = {
    "SGD": (
        "SGD",
        {"momentum": _number("momentum"), "dampening": _number("dampening")}
        | {"nesterov": _flag("nesterov")},
        {"momentum_buffer": "_momentum_buffers"},
    ),
    "Adam": (
        "Adam",
        _ADAM_FAMILY | {"amsgrad": _flag("amsgrad")} | _DECOUPLED,
        {
            "exp_avg": "_momentums",
            "exp_avg_sq": "_velocities",
            "max_exp_avg_sq": "_velocity_maxima",
        },
    ),
    "RMSprop": (
        "RMSprop",
        {"alpha": _number("rho"), "eps": _number("epsilon"), "momentum": _number("momentum")}
        | {"centered": _flag("centered")},
        {
            "square_avg": "_square_averages",
            "grad_avg": "_gradient_averages",
            "momentum_buffer": "_momentum_buffers",
        },
    ),
    "Adagrad": (
        "Adagrad",
        {"eps": _number("epsilon"), "lr_decay": _number("lr_decay")}
        | {"initial_accumulator_value": _number("initial_accumulator_value")},
        {"sum": "_accumulators"},
    ),
    "Adadelta": (
        "Adadelta",
        {"rho": _number("rho"), "eps": _number("epsilon")},
        {"square_avg": "_square_averages", "acc_delta": "_delta_averages"},
    ),
    "Adamax": ("Adamax", dict(_ADAM_FAMILY), {"exp_avg": "_momentums", "exp_inf": "_norms"}),
    "NAdam": (
        "NAdam",
        _ADAM_FAMILY | {"momentum_decay": _number("momentum_decay")} | _DECOUPLED,
        {"exp_avg": "_momentums", "exp_avg_sq": "_velocities", "mu_product": "_mu_products"},
    ),
    "RAdam": (
        "RAdam",
        _ADAM_FAMILY | _DECOUPLED,
        {"exp_avg": "_momentums", "exp_avg_sq": "_velocities"},
    ),
}
_OPTIMIZERS["AdamW"] = _OPTIMIZERS["Adam"]


def _attribute(name):
    return lambda scheduler, index: getattr(scheduler, name)


def _milestones(scheduler, index):
    return sorted(scheduler.milestones.elements())  # a Counter: a repeated milestone counts twice


def _lambda(scheduler, index):
    return scheduler.lr_lambdas[index]


def _one_cycle(scheduler, index):
    """kerasdl `OneCycleLR` arguments of torch's, from the group's `max_lr`, `initial_lr`,
    `min_lr` and momenta, and the phases torch computed."""
    group = scheduler.optimizer.param_groups[index]
    phases = scheduler._schedule_phases
    kwargs = {
        "max_lr": float(group["max_lr"]),
        "total_steps": scheduler.total_steps,
        "pct_start": (float(phases[0]["end_step"]) + 1) / scheduler.total_steps,
        "anneal_strategy": scheduler._anneal_func_type,
        "div_factor": float(group["max_lr"]) / float(group["initial_lr"]),
        "final_div_factor": float(group["initial_lr"]) / float(group["min_lr"]),
        "three_phase": len(phases) == 3,
        "cycle_momentum": bool(scheduler.cycle_momentum),
    }
    if scheduler.cycle_momentum:
        kwargs.update(
            base_momentum=float(group["base_momentum"]), max_momentum=float(group["max_momentum"])
        )
    return kwargs


def _cyclic(scheduler, index):
    """kerasdl `CyclicLR` arguments of torch's (its step sizes from `total_size`, `step_ratio`)."""
    total = round(scheduler.total_size)
    up = round(scheduler.total_size * scheduler.step_ratio)
    kwargs = {
        "base_lr": float(scheduler.base_lrs[index]),
        "max_lr": float(scheduler.max_lrs[index]),
        "step_size_up": up,
        "step_size_down": total - up,
        "mode": scheduler.mode,
        "gamma": float(scheduler.gamma),
        "cycle_momentum": bool(scheduler.cycle_momentum),
    }
    if scheduler._scale_fn_custom is not None:
        kwargs.update(scale_fn=scheduler._scale_fn_custom, scale_mode=scheduler.scale_mode)
    if scheduler.cycle_momentum:
        kwargs.update(
            base_momentum=float(scheduler.base_momentums[index]),
            max_momentum=float(scheduler.max_momentums[index]),
        )
    return kwargs


# Schedulers torch steps every batch, with their own arguments: name -> read(scheduler, group).
_PER_STEP = {"OneCycleLR": _one_cycle, "CyclicLR": _cyclic}

# torch scheduler class name -> (kerasdl schedule class name, {kwarg: read(scheduler, group)}).
_SCHEDULERS = {
    "StepLR": ("StepLR", {"step_size": _attribute("step_size"), "gamma": _attribute("gamma")}),
    "MultiStepLR": ("MultiStepLR", {"milestones": _milestones, "gamma": _attribute("gamma")}),
    "ExponentialLR": ("ExponentialLR", {"gamma": _attribute("gamma")}),
    "CosineAnnealingLR": (
        "CosineAnnealingLR",
        {"T_max": _attribute("T_max"), "eta_min": _attribute("eta_min")},
    ),
    "CosineAnnealingWarmRestarts": (
        "CosineAnnealingWarmRestarts",
        {
            "T_0": _attribute("T_0"),
            "T_mult": _attribute("T_mult"),
            "eta_min": _attribute("eta_min"),
        },
    ),
    "ConstantLR": (
        "ConstantLR",
        {"factor": _attribute("factor"), "total_iters": _attribute("total_iters")},
    ),
    "LinearLR": (
        "LinearLR",
        {k: _attribute(k) for k in ("start_factor", "end_factor", "total_iters")},
    ),
    "PolynomialLR": (
        "PolynomialLR",
        {"total_iters": _attribute("total_iters"), "power": _attribute("power")},
    ),
    "LambdaLR": ("LambdaLR", {"lr_lambda": _lambda}),
    "SequentialLR": ("SequentialLR", {}),
    "ChainedScheduler": ("ChainedScheduler", {}),
    "OneCycleLR": ("OneCycleLR", {}),
    "CyclicLR": ("CyclicLR", {}),
}


@_registration.serializable("torch_port")
class Shifted(keras.optimizers.schedules.LearningRateSchedule):
    """A schedule read `offset` steps later: `lr(step) = schedule(step + offset)`.

    `from_torch` returns one when the kerasdl optimizer's `iterations` and the torch
    scheduler's position disagree (a conversion without `state`, whose optimizer starts at
    step 0, of a scheduler already stepped).

    Args:
        schedule: a `keras.optimizers.schedules.LearningRateSchedule`.
        offset: int, the steps added to the optimizer's step.

    Examples:
        >>> halving = keras.optimizers.schedules.ExponentialDecay(0.1, 1, decay_rate=0.5)
        >>> schedule = kerasdl.torch_port.Shifted(halving, offset=2)
        >>> [round(float(schedule(step)), 6) for step in (0, 1)]
        [0.025, 0.0125]

    References:
        - [PyTorch `LRScheduler.last_epoch`](
          https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.LRScheduler.html)
    """

    def __init__(self, schedule, offset):
        super().__init__()
        if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            raise ValueError(
                "Argument `schedule` must be a LearningRateSchedule. "
                f"Received: schedule={schedule!r}"
            )
        self.schedule = schedule
        self.offset = int(_checks.real("offset", offset))

    def __call__(self, step):
        return self.schedule(keras.ops.add(keras.ops.convert_to_tensor(step), self.offset))

    def rebased(self, initial_learning_rate):
        """The same shift of `schedule.rebased(initial_learning_rate)` (a parameter group's
        rate, see `kerasdl.optimizers`).

        Args:
            initial_learning_rate: float `>= 0`, the group's learning rate.

        Returns:
            A new `Shifted`.
        """
        return Shifted(self.schedule.rebased(initial_learning_rate), self.offset)

    def get_config(self):
        return {
            "schedule": keras.optimizers.schedules.serialize(self.schedule),
            "offset": self.offset,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = keras.optimizers.schedules.deserialize(config["schedule"])
        return cls(**config)


def keras_layout(array, variable):
    """A torch parameter's (or state tensor's) values in the layout of Keras `variable`.

    The rule: a Keras variable named `kernel` (`Dense`, `Conv1D/2D/3D`, their transposed
    forms, `EinsumDense` of two axes) holds torch's weight with its axes moved, torch's
    `(out, in, *window)` becoming Keras's `(*window, in, out)` (for `Linear`, the transpose);
    every other variable (biases, `BatchNormalization`'s, `Embedding`'s `embeddings`, ...) has
    torch's layout. The result must have the variable's shape, or `ValueError`: a square
    `Linear` weight is transposed by its name, never guessed from its shape.

    Args:
        array: a NumPy array (torch's values).
        variable: the Keras variable they go to.

    Returns:
        The array in Keras's layout, in the variable's dtype.

    Examples:
        >>> dense = keras.layers.Dense(3)
        >>> dense.build((None, 2))
        >>> torch_weight = np.arange(6.0).reshape(3, 2)  # torch Linear(2, 3).weight
        >>> kerasdl.torch_port.keras_layout(torch_weight, dense.kernel).shape
        (2, 3)

    References:
        - [PyTorch `nn.Linear`](https://pytorch.org/docs/stable/generated/torch.nn.Linear.html)
          and [`nn.Conv2d`](https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html)
          weight shapes
    """
    array = np.asarray(array)
    name = getattr(variable, "path", variable.name).split("/")[-1]
    if name == "kernel" and array.ndim >= 2:
        array = np.transpose(array, (*range(2, array.ndim), 1, 0))
    if tuple(array.shape) != tuple(variable.shape):
        raise ValueError(
            f"A torch tensor of shape {tuple(np.asarray(array).shape)} (in Keras's layout) does "
            f"not fit Keras variable {getattr(variable, 'path', variable.name)!r} of shape "
            f"{tuple(variable.shape)}. Map the parameters with `mapping=` (see docs/porting.md)."
        )
    return array.astype(keras.backend.standardize_dtype(variable.dtype))


def _numpy(tensor):
    if hasattr(tensor, "detach"):
        tensor = tensor.detach().cpu().numpy()
    return np.asarray(tensor)


def _torch_class(obj, kind, table):
    cls = type(obj)
    if not cls.__module__.startswith("torch.") or cls.__name__ not in table:
        known = ", ".join(sorted(table))
        raise ValueError(
            f"Argument `{kind}` must be a torch.optim {kind} kerasdl maps ({known}). "
            f"Received: {kind} of type {cls.__module__}.{cls.__qualname__}"
        )
    return cls.__name__


def _group_kwargs(name, group, skip):
    """The kerasdl keyword arguments of one torch param group (`lr` apart)."""
    keys = _OPTIMIZERS[name][1] | _COMMON
    kwargs = {}
    for key, value in group.items():
        if key in _IGNORED or key in skip or key == "lr":
            continue
        if key in _SCHEDULER_KEYS:
            raise ValueError(
                f"The torch param group has `{key}`, which a torch scheduler (CyclicLR, "
                "OneCycleLR) sets: pass that scheduler as `scheduler`."
            )
        if key not in keys:
            raise ValueError(
                f"torch.optim.{name}'s option `{key}` (= {value!r}) has no kerasdl equivalent; "
                f"kerasdl maps {', '.join(sorted(keys))}."
            )
        kwargs.update(keys[key](value))
    return kwargs


def _hyperparameters(optimizer, skip):
    """`(kerasdl class name, [(kwargs, lr) of each param group])` of `optimizer`."""
    name = _torch_class(optimizer, "optimizer", _OPTIMIZERS)
    converted = [(_group_kwargs(name, g, skip), float(g["lr"])) for g in optimizer.param_groups]
    target = _OPTIMIZERS[name][0]
    if target == "Adam":  # torch's AdamW is its Adam with decoupled_weight_decay=True
        decoupled = {kwargs.pop("decoupled_weight_decay", False) for kwargs, _ in converted}
        if len(decoupled) > 1:
            raise NotImplementedError(
                "The torch optimizer's groups differ in `decoupled_weight_decay`: kerasdl's Adam "
                "and AdamW are two optimizers."
            )
        target = "AdamW" if decoupled.pop() else "Adam"
    return target, converted


def _groups(cls, converted, group_variables, group_schedules):
    """kerasdl's `groups` for torch groups 1, 2, ... (group 0 is the optimizer's own
    arguments): what each sets differently from group 0, its variables as the selector."""
    base_kwargs, base_lr = converted[0]
    groups = []
    for index, (kwargs, lr) in enumerate(converted[1:], start=1):
        group = {k: v for k, v in kwargs.items() if _differs(base_kwargs.get(k), v)}
        unknown = sorted(set(group) - set(cls.GROUP_CHECKS))
        if unknown:
            raise NotImplementedError(
                f"torch param group {index} sets {unknown} differently from group 0; a kerasdl "
                f"{_registration.plain_name(cls)} group may set {sorted(cls.GROUP_CHECKS)}."
            )
        if group_schedules is None:
            if lr != base_lr:
                group["learning_rate"] = lr
        elif not _same(group_schedules[index], group_schedules[0]):
            group["learning_rate"] = group_schedules[index]
        groups.append({"variables": group_variables[index], **group})
    return groups


def _parameters(optimizer):
    params = [p for group in optimizer.param_groups for p in group["params"]]
    names = [n for group in optimizer.param_groups for n in group.get("param_names", ())]
    return params, (names if len(names) == len(params) else None)


def _variables_for(params, names, variables, model, mapping, torch_model):
    """The Keras variable of each torch parameter, in `param_groups` order."""
    given = [x is not None for x in (variables, model, mapping)]
    if sum(given) > 1:
        raise ValueError(
            "Pass at most one of `variables`, `model` and `mapping`. Received: "
            + ", ".join(
                k for k, g in zip(("variables", "model", "mapping"), given, strict=True) if g
            )
        )
    if mapping is not None:
        return _mapped(params, names, mapping, torch_model)
    if model is not None:
        variables = model.trainable_variables
    variables = list(variables)
    if len(variables) != len(params):
        raise ValueError(
            f"The torch optimizer has {len(params)} parameters and {len(variables)} Keras "
            "variables were given: by order, they must be as many (or pass `mapping=`)."
        )
    return variables


def _mapped(params, names, mapping, torch_model):
    if torch_model is not None:
        by_id = {id(p): n for n, p in torch_model.named_parameters()}
        names = [by_id.get(id(p)) for p in params]
    by_key = {(k if isinstance(k, str) else id(k)): v for k, v in mapping.items()}
    result = []
    for index, param in enumerate(params):
        name = names[index] if names else None
        variable = by_key.get(name) if name in by_key else by_key.get(id(param))
        if variable is None:
            label = repr(name) if name else f"number {index} (shape {tuple(param.shape)})"
            raise ValueError(
                f"`mapping` has no Keras variable for torch parameter {label}. Every parameter "
                "of the optimizer must be mapped, by its name (with `torch_model=`, or an "
                "optimizer built on named_parameters()) or by the Parameter itself."
            )
        result.append(variable)
    return result


def _differs(value, other):
    if _is_schedule(value) and _is_schedule(other):
        return not _same(value, other)
    return value != other


def _same(schedule, other):
    try:
        return schedule.get_config() == other.get_config()
    except Exception:  # a LambdaLR of a lambda: no config to compare, give the group its own
        return False


# Schedulers without a kerasdl counterpart here, and why.
_NOT_MAPPED = {
    "ReduceLROnPlateau": "it is a callback in Keras: use kerasdl.callbacks.ReduceLROnPlateau "
    "with the optimizer from_torch returns",
    "MultiplicativeLR": "build kerasdl.schedules.MultiplicativeLR by hand (it needs max_epochs)",
}


def _schedules(scheduler, optimizer, lrs, steps_per_epoch):
    """`(a kerasdl schedule for each param group, the schedules' step now)`."""
    name = type(scheduler).__name__
    if name in _NOT_MAPPED:
        raise NotImplementedError(
            f"from_torch does not convert torch's {name}: {_NOT_MAPPED[name]}."
        )
    name = _torch_class(scheduler, "scheduler", _SCHEDULERS)
    if getattr(scheduler, "optimizer", None) is not optimizer:
        raise ValueError("The torch scheduler does not schedule the given optimizer.")
    epoch = int(_last_epoch(scheduler))
    position = epoch * steps_per_epoch
    schedules = []
    for index, lr in enumerate(lrs):
        schedule = _build(scheduler, index, steps_per_epoch)
        now = float(schedule(position))
        if not math.isclose(now, lr, rel_tol=1e-5, abs_tol=1e-12):
            raise ValueError(
                f"The torch optimizer's lr is {lr!r} (group {index}), but {name} gives {now!r} "
                f"at its epoch {epoch}: was the rate changed by hand or by another scheduler?"
            )
        schedules.append(schedule)
    return schedules, position


def _last_epoch(scheduler):
    if hasattr(scheduler, "last_epoch"):
        return scheduler.last_epoch
    return scheduler._schedulers[0].last_epoch  # ChainedScheduler: its members' position


def _build(scheduler, index, steps_per_epoch):
    """The kerasdl schedule of torch `scheduler` for param group `index`."""
    import kerasdl.schedules

    name = type(scheduler).__name__
    if name in _NOT_MAPPED:
        raise NotImplementedError(
            f"from_torch does not convert torch's {name}: {_NOT_MAPPED[name]}."
        )
    name = _torch_class(scheduler, "scheduler", _SCHEDULERS)
    target, keys = _SCHEDULERS[name]
    cls = getattr(kerasdl.schedules, target)
    if name in _PER_STEP:
        if steps_per_epoch != 1:
            raise ValueError(
                f"torch's {name} is stepped after every optimizer step: `steps_per_epoch` must "
                f"be 1. Received: steps_per_epoch={steps_per_epoch}"
            )
        return cls(**_PER_STEP[name](scheduler, index))
    if name in ("SequentialLR", "ChainedScheduler"):
        members = [_build(s, index, steps_per_epoch) for s in scheduler._schedulers]
        if name == "ChainedScheduler":
            return cls(members)
        return cls(members, milestones=list(scheduler._milestones), steps_per_epoch=steps_per_epoch)
    kwargs = {k: read(scheduler, index) for k, read in keys.items()}
    return cls(float(scheduler.base_lrs[index]), steps_per_epoch=steps_per_epoch, **kwargs)


def _step_count(optimizer, params, uses_step):
    """The optimizer steps torch's state records (all parameters agree), or None."""
    steps = set()
    for param in params:
        state = optimizer.state.get(param, {})
        if "step" in state:
            steps.add(int(float(_numpy(state["step"]))))
        elif uses_step:
            steps.add(0)
    if len(steps) > 1:
        raise ValueError(
            f"The torch parameters are at different steps ({sorted(steps)}): a kerasdl "
            "optimizer has one step count. Were some parameters never updated?"
        )
    return steps.pop() if steps else None


def _copy_state(torch_optimizer, params, variables, keras_optimizer, name):
    _, _, slots = _OPTIMIZERS[name]
    for param, variable in zip(params, variables, strict=True):
        index = keras_optimizer._get_variable_index(variable)
        for key, value in torch_optimizer.state.get(param, {}).items():
            if key == "step" or value is None:
                continue
            if key not in slots or not getattr(keras_optimizer, slots[key], None):
                raise ValueError(
                    f"torch.optim.{name}'s state `{key}` has no slot in the kerasdl optimizer "
                    f"{_registration.plain_name(keras_optimizer)} as configured."
                )
            slot = getattr(keras_optimizer, slots[key])[index]
            array = _numpy(value)
            array = array.reshape(()) if slot.shape == () else keras_layout(array, variable)
            slot.assign(array.astype(keras.backend.standardize_dtype(slot.dtype)))


def _iterations(given, recorded, position, has_state):
    if given is not None:
        given = _checks.non_negative_int("iterations", given)
        if recorded is not None and recorded != given:
            raise ValueError(
                f"Argument `iterations` ({given}) disagrees with the step count in the torch "
                f"optimizer's state ({recorded})."
            )
        return given
    if recorded is not None:
        return recorded
    return max(position, 1) if has_state else 0


def from_torch(
    optimizer,
    scheduler=None,
    *,
    variables=None,
    model=None,
    mapping=None,
    torch_model=None,
    steps_per_epoch=1,
    state=False,
    weights=False,
    iterations=None,
):
    """The kerasdl optimizer (and schedule) of a `torch.optim` optimizer (and scheduler).

    Hyperparameters come from the optimizer's `param_groups` (`lr`, `weight_decay`, `betas`
    as `beta_1`/`beta_2`, `eps` as `epsilon`, `alpha` as `rho`, `momentum`, `dampening`,
    `nesterov`, `amsgrad`, `centered`, `lr_decay`, `momentum_decay`,
    `decoupled_weight_decay`, `maximize`); `foreach`, `fused`, `capturable` and
    `differentiable` change nothing kerasdl computes and are ignored; any other option raises
    `ValueError` naming it. `Adam(decoupled_weight_decay=True)` becomes `AdamW`. torch's
    group 0 gives the optimizer's own arguments; each further group that differs becomes a
    kerasdl parameter group (`groups=`) of its variables, with what it sets differently
    (groups that agree in everything are one).

    A scheduler (`StepLR`, `MultiStepLR`, `ExponentialLR`, `CosineAnnealingLR`,
    `CosineAnnealingWarmRestarts`, `ConstantLR`, `LinearLR`, `PolynomialLR`, `LambdaLR`, and
    `SequentialLR` and `ChainedScheduler` of them) becomes the kerasdl schedule with the same
    arguments, one per group (from the group's `initial_lr`); `CyclicLR` and `OneCycleLR`
    (stepped every batch: `steps_per_epoch=1`) too, their momentum cycling as the optimizer's
    `momentum` or `beta_1` schedule. `MultiplicativeLR` and `ReduceLROnPlateau` raise
    `NotImplementedError` saying what to use.
    Without a scheduler the groups' current `lr` are constants. torch steps a scheduler once
    per `scheduler.step()` call;
    `steps_per_epoch` is the number of optimizer steps between those calls. Its position
    (`last_epoch`) carries over: the returned optimizer's `iterations` and the schedule
    (wrapped in `Shifted` when they differ) give the next step the rate torch would.

    The torch parameters (in `param_groups` order) correspond to Keras variables by order
    (`variables=` or `model=`'s `trainable_variables`) or by `mapping` (torch parameter name
    or Parameter -> Keras variable); values move in Keras's layout (`keras_layout`). With
    `state=True` the optimizer is built on those variables and torch's state (moments, step
    count, NAdam's `mu_product`) is copied into its slots; `optimizer.iterations` is set to
    torch's step count. With `weights=True` the parameters' values are copied too.

    Args:
        optimizer: a `torch.optim` optimizer: `SGD`, `Adam`, `AdamW`, `RMSprop`, `Adagrad`,
            `Adadelta`, `Adamax`, `NAdam` or `RAdam`.
        scheduler: a `torch.optim.lr_scheduler` scheduler of `optimizer`, or `None`.
            Defaults to `None` (the groups' current rates, constant).
        variables: list of Keras variables, one per torch parameter in order. Defaults to
            `None`.
        model: a built Keras model whose `trainable_variables` are taken as `variables`.
            Defaults to `None`.
        mapping: dict from torch parameter names (or Parameters) to Keras variables.
            Defaults to `None`.
        torch_model: the `torch.nn.Module` whose `named_parameters()` name the parameters for
            `mapping` (not needed when the optimizer was built on `named_parameters()`).
            Defaults to `None`.
        steps_per_epoch: int `>= 1`, optimizer steps between two `scheduler.step()` calls.
            Defaults to `1` (a scheduler stepped after every optimizer step).
        state: bool; copy the optimizer state onto the variables. Defaults to `False` (a
            fresh optimizer, as a new torch optimizer with these hyperparameters).
        weights: bool; copy the torch parameters' values into the variables. Defaults to
            `False`.
        iterations: int `>= 0` or `None`, the optimizer steps already taken, for `SGD` whose
            state keeps no step count (a conversion with `state=True` mid-epoch). Defaults to
            torch's step count, else the scheduler's position.

    Returns:
        `FromTorch(optimizer, schedule)`: the kerasdl optimizer and its schedule (`None`
        without a scheduler).

    Examples:
        With torch installed (`tests/components/test_from_torch.py` runs such cases):

        ```python
        optimizer = torch.optim.Adadelta(torch_model.parameters(), lr=1.0)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
        opt, schedule = kerasdl.from_torch(optimizer, scheduler, steps_per_epoch=938)
        ```

    References:
        - [PyTorch `torch.optim`](https://pytorch.org/docs/stable/optim.html)
        - [PyTorch `torch.optim.lr_scheduler`](
          https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate)
    """
    steps_per_epoch = _checks.positive_int("steps_per_epoch", steps_per_epoch)
    state = _checks.one_of("state", state, (False, True))
    weights = _checks.one_of("weights", weights, (False, True))
    name = _torch_class(optimizer, "optimizer", _OPTIMIZERS)
    target, converted = _hyperparameters(optimizer, _scheduler_keys(scheduler))
    schedules, position = (None, 0)
    if scheduler is not None:
        lrs = [lr for _, lr in converted]
        schedules, position = _schedules(scheduler, optimizer, lrs, steps_per_epoch)
    params, names = _parameters(optimizer)
    keras_variables = None
    distinct = any(c != converted[0] for c in converted[1:])
    if state or weights or distinct or any(x is not None for x in (variables, model, mapping)):
        if not any(x is not None for x in (variables, model, mapping)):
            raise ValueError(
                "The Keras variables are needed (for the state, the weights, or parameter groups "
                "that differ): pass `variables=`, `model=` or `mapping=`."
            )
        keras_variables = _variables_for(params, names, variables, model, mapping, torch_model)
    recorded = _step_count(optimizer, params, uses_step=name != "SGD") if state else None
    n = _iterations(iterations, recorded, position, state and _has_state(optimizer, params))
    if schedules is not None:
        _cycle_momentum(scheduler, converted, schedules, target)
        place = lambda schedule: _placed(schedule, position, n, steps_per_epoch)  # noqa: E731
        schedules = [place(schedule) for schedule in schedules]
        for kwargs, _ in converted:
            kwargs.update({k: place(v) for k, v in kwargs.items() if _is_schedule(v)})
    import kerasdl.optimizers

    cls = getattr(kerasdl.optimizers, target)
    kwargs, lr = converted[0]
    if distinct:
        kwargs = dict(
            kwargs, groups=_groups(cls, converted, _split(optimizer, keras_variables), schedules)
        )
    result = cls(learning_rate=lr if schedules is None else schedules[0], **kwargs)
    if keras_variables is not None:
        _move(optimizer, params, keras_variables, result, name, state, weights)
    result.iterations.assign(n)
    return FromTorch(result, None if schedules is None else schedules[0])


def _is_schedule(value):
    return isinstance(value, keras.optimizers.schedules.LearningRateSchedule)


def _cycle_momentum(scheduler, converted, schedules, target):
    """A cycling scheduler's momentum (SGD, RMSprop) or `beta_1` (the Adam family) as each
    group's schedule."""
    if type(scheduler).__name__ not in _PER_STEP or not scheduler.cycle_momentum:
        return
    key = "beta_1" if scheduler.use_beta1 else "momentum"
    for (kwargs, _), schedule in zip(converted, schedules, strict=True):
        kwargs[key] = schedule.momentum_schedule()


def _split(optimizer, keras_variables):
    """The Keras variables of each torch param group."""
    result, start = [], 0
    for group in optimizer.param_groups:
        result.append(keras_variables[start : start + len(group["params"])])
        start += len(group["params"])
    return result


_SCHEDULER_KEYS = frozenset({"max_lr", "min_lr", "max_momentum", "base_momentum"})


def _scheduler_keys(scheduler):
    """Group keys a scheduler adds (OneCycleLR's `max_lr`, ...): not optimizer options."""
    return frozenset() if scheduler is None else _SCHEDULER_KEYS


def _has_state(optimizer, params):
    return any(optimizer.state.get(p) for p in params)


def _placed(schedule, position, n, steps_per_epoch):
    """`schedule` read so that step `n` is in the scheduler's current epoch (at `position`)."""
    if 0 <= n - position < steps_per_epoch:
        return schedule
    return Shifted(schedule, position - n)


def _move(torch_optimizer, params, variables, keras_optimizer, name, state, weights):
    if weights:
        for param, variable in zip(params, variables, strict=True):
            variable.assign(keras_layout(_numpy(param), variable))
    if state:
        keras_optimizer.build(variables)
        _copy_state(torch_optimizer, params, variables, keras_optimizer, name)
