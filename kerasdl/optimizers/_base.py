"""What the seven optimizers share: argument checks and PyTorch's weight-decay semantics.

Keras's own ``weight_decay`` argument is *decoupled* for every optimizer: the base
class shrinks each variable by ``lr * weight_decay`` before ``update_step``.
PyTorch gives ``weight_decay`` a different meaning per optimizer: an L2 term added
to the gradient (``g += wd * w``) in SGD, Adagrad, RMSprop and Adam, and the
decoupled shrink only in AdamW. kerasdl follows PyTorch, so this base turns
Keras's decay off (``_apply_weight_decay`` does nothing) and each optimizer
applies its own decay inside ``update_step``, where it also runs under
gradient accumulation, ``tf.distribute`` and JAX's ``stateless_apply``.

``maximize`` (PyTorch's name and meaning, on every kerasdl optimizer) negates each
gradient as it enters the update, before weight decay and the optimizer's own arithmetic,
so the optimizer ascends the objective: it is applied once, in ``_backend_update_step``,
for every optimizer and on every path (fused kernels included).

Which variables decay is decided in Python, once per variable, from its name and
rank (never from tensor values): Keras's ``exclude_from_weight_decay`` and the
``exclude_bias_and_norm`` flag (every variable of rank <= 1) both exempt a
variable.
"""

from typing import ClassVar

import keras
from keras import ops
from keras.src.utils.naming import auto_name

from kerasdl import _checks, _registration
from kerasdl.optimizers import _groups


def constant(value, dtype):
    """A Python float as a tensor of `dtype`, rounded once.

    Not `ops.cast(value, dtype)`: on TensorFlow that converts the float to float32
    first, so `ops.cast(0.9, "float64")` is 0.8999999761581421 and float64 variables
    would be updated with float32 hyperparameters.
    """
    return ops.convert_to_tensor(value, dtype=dtype)


def checked_learning_rate(value):
    """A float ``>= 0`` as ``float``; a schedule or a callable passes unchecked."""
    if isinstance(value, keras.optimizers.schedules.LearningRateSchedule) or callable(value):
        return value
    return float(_checks.non_negative("learning_rate", value))


def checked_rate(name, value):
    """A decay rate (``beta``, ``rho``, ``momentum``) in ``[0, 1)``, as ``float``."""
    return float(_checks.in_range(name, value, 0.0, 1.0))


def or_schedule(check):
    """`check`, except that a `LearningRateSchedule` (a value per step: a momentum schedule)
    passes unchecked."""

    def checked(name, value):
        return value if _groups.is_schedule(value) else check(name, value)

    return checked


def flag(name, value):
    """A bool option (``nesterov``, ``amsgrad``, ...) as ``bool``."""
    return bool(_checks.one_of(name, value, (False, True)))


def non_negative(name, value):
    return float(_checks.non_negative(name, value))


def positive(name, value):
    return float(_checks.positive(name, value))


def real(name, value):
    return float(_checks.real(name, value))


def _summed(gradient):
    """A ``tf.IndexedSlices`` gradient as the dense tensor it stands for (duplicate rows summed);
    anything else as it is."""
    if type(gradient).__name__ == "IndexedSlices":
        import tensorflow as tf

        return tf.convert_to_tensor(gradient)
    return gradient


class KerasdlOptimizer(keras.optimizers.Optimizer):
    """Base of the kerasdl optimizers: PyTorch's weight decay, applied per variable.

    Subclasses call ``self.l2(gradient, variable)`` (coupled decay) or
    ``self.decays(variable)`` (to decay the variable themselves) in ``update_step``.

    Subclasses read their hyperparameters per variable, through ``self.hyper(name, variable)``
    (a tensor) or ``self.hyper_value(name, variable)`` (the Python value): the value of the
    variable's parameter group, else the optimizer's own. Each declares in ``GROUP_CHECKS``
    the hyperparameters a group may set (PyTorch's ``param_groups`` keys).

    Args:
        learning_rate: float ``>= 0``, a `LearningRateSchedule` or a callable.
        weight_decay: float ``>= 0``. Defaults to `0.0` (no decay).
        exclude_bias_and_norm: bool. If `True`, variables of rank <= 1 (biases,
            normalisation `gamma`/`beta`) do not decay. Defaults to `False`.
        maximize: bool. If `True`, ascend: each gradient is negated before the update
            (PyTorch's `maximize`). Defaults to `False`.
        groups: list of dicts, PyTorch's parameter groups (see `kerasdl.optimizers._groups`
            and docs/optimizers.md): each has one selector (``variables``, ``paths``,
            ``pattern`` or ``max_rank``) and the hyperparameters it overrides. Defaults to
            `None` (one group).
        **kwargs: Keras's base optimizer arguments (`clipnorm`, `clipvalue`,
            `global_clipnorm`, `use_ema`, `ema_momentum`, `ema_overwrite_frequency`,
            `loss_scale_factor`, `gradient_accumulation_steps`, `name`).
    """

    GROUP_CHECKS: ClassVar[dict] = {
        "learning_rate": lambda name, value: checked_learning_rate(value),
        "weight_decay": non_negative,
        "maximize": flag,
    }

    def __init__(
        self,
        learning_rate,
        weight_decay=0.0,
        exclude_bias_and_norm=False,
        maximize=False,
        groups=None,
        **kwargs,
    ):
        learning_rate = checked_learning_rate(learning_rate)
        weight_decay = 0.0 if weight_decay is None else weight_decay
        weight_decay = float(_checks.non_negative("weight_decay", weight_decay))
        maximize = _checks.one_of("maximize", maximize, (False, True))
        if kwargs.get("name") is None:  # Keras's auto_name(__name__), __name__ being the hint
            kwargs["name"] = auto_name(_registration.plain_name(self))
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
        self.exclude_bias_and_norm = bool(exclude_bias_and_norm)
        self.maximize = bool(maximize)
        self._excluded_names = None
        self._groups = _groups.normalized(groups, self.GROUP_CHECKS, _registration.plain_name(self))
        self._membership = None
        self._lr_sources = {}
        self._plateau_schedules = {}
        self._group_scales = [
            self.add_variable(
                shape=(),
                initializer="ones",
                dtype=keras.backend.floatx(),
                aggregation="only_first_replica",
                name=f"group_{index}_lr_scale" if index < len(self._groups) else "default_lr_scale",
            )
            for index in range(len(self._groups) + 1 if self._groups else 0)
        ]
        # ReduceLROnPlateau(on_schedule="pytorch"): per group, the step of the last reset and
        # the rate set then (since -1: none).
        self._group_resets = [
            tuple(
                self.add_variable(
                    shape=(),
                    initializer=initializer,
                    dtype=dtype,
                    aggregation="only_first_replica",
                    name=f"{scale.name.removesuffix('_scale')}_{what}",
                )
                for what, initializer, dtype in (
                    ("since", keras.initializers.Constant(-1), "int64"),
                    ("rate", "zeros", keras.backend.floatx()),
                )
            )
            for scale in self._group_scales
        ]

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Exempt variables from weight decay; call it before the optimizer is built.

        As Keras's method, plus: the names are kept in `get_config` (a `var_list`
        cannot be serialized), and a call after `build` raises instead of being
        silently ignored by an already traced step.

        Args:
            var_list: list of variables that do not decay.
            var_names: list of strings; a variable whose name contains any of them
                does not decay (e.g. `["bias", "gamma"]`).
        """
        if self.built:
            raise ValueError(
                "`exclude_from_weight_decay()` can only be called before the optimizer "
                f"is built. Optimizer {self.name!r} is already built."
            )
        super().exclude_from_weight_decay(var_list=var_list, var_names=var_names)
        self._excluded_names = sorted(set(var_names)) if var_names else None

    def build(self, variables):
        """Create the base's variables and decide, once, which variables may decay."""
        if self.built:
            return
        super().build(variables)
        self._may_decay = [self._may_decay_now(variable) for variable in variables]
        if self._groups:
            self._membership = _groups.assign(self._groups, variables)

    def _may_decay_now(self, variable):
        # Decided on the Keras variable at build time, so that names mean the same on
        # every backend (in `update_step` TensorFlow passes a tf.Variable named by its
        # path, JAX a Keras variable named by its last component). A name matches if it
        # is in the variable's path: "bias", "gamma", or a layer's name.
        if self.exclude_bias_and_norm and len(variable.shape) <= 1:
            return False
        pattern = getattr(self, "_exclude_from_weight_decay_pattern", None)
        if pattern is not None and pattern.search(getattr(variable, "path", variable.name)):
            return False
        return self._use_weight_decay(variable)

    # ------------------------------------------------------------------ parameter groups

    @property
    def groups(self):
        """The parameter groups as `get_config` stores them (`None` without groups)."""
        return _groups.to_config(self._groups) if self._groups else None

    def group_of(self, variable):
        """The index of `variable`'s parameter group, or `None` (the default group)."""
        if not self._groups:
            return None
        return self._membership[self._get_variable_index(variable)]

    def group_value(self, group, name):
        """Hyperparameter `name` of `group` (an index, or `None` for the default group)."""
        if group is not None:
            overrides = self._groups[group][2]
            if name in overrides:
                return overrides[name]
        return getattr(self, name)

    def hyper_value(self, name, variable):
        """The Python value (a float, a bool or a schedule) of `name` for `variable`."""
        return self.group_value(self.group_of(variable), name)

    def hyper(self, name, variable):
        """Hyperparameter `name` for `variable` as a tensor of its dtype: `constant()` of a
        float (exact in float64), or a schedule's value at this step (once per step)."""
        value = self.hyper_value(name, variable)
        dtype = variable.dtype
        if _groups.is_schedule(value):
            return self.per_step(
                f"hyper:{name}:{id(value)}",
                None,
                dtype,
                lambda: ops.cast(value(self.iterations), dtype),
            )
        return constant(value, dtype)

    def _lr_source(self, group):
        """How `group`'s learning rate is made from the optimizer's: ``("base",)``, ``("constant",
        x)``, ``("schedule", s)`` or ``("factor", x / initial)``; decided once."""
        if group in self._lr_sources:
            return self._lr_sources[group]
        value = None if group is None else self._groups[group][2].get("learning_rate")
        base = self._learning_rate
        if value is None:
            source = ("base",)
        elif _groups.is_schedule(value) or callable(value):
            source = ("schedule", value)
        elif isinstance(base, _groups._Schedule):
            schedule, factor = _groups.rebased(base, value)
            source = ("schedule", schedule) if schedule is not None else ("factor", factor)
        elif callable(base):
            raise ValueError(
                "A parameter group's float learning_rate needs the optimizer's learning rate "
                f"to be a float or a LearningRateSchedule, not a callable {base!r}."
            )
        else:
            source = ("constant", value)
        self._lr_sources[group] = source
        return source

    def group_learning_rate(self, group, learning_rate=None):
        """`group`'s learning rate at this step (a tensor in the optimizer learning rate's
        dtype): its source times its plateau scale (`ReduceLROnPlateau` lowers the scale)."""
        if learning_rate is None:
            learning_rate = self._get_current_learning_rate()
        learning_rate = ops.convert_to_tensor(learning_rate)
        dtype = learning_rate.dtype
        source = self._lr_source(group)
        if source[0] == "base":
            lr = learning_rate
        elif source[0] == "constant":
            lr = constant(source[1], dtype)
        elif source[0] == "factor":
            lr = ops.multiply(learning_rate, constant(source[1], dtype))
        elif _groups.is_schedule(source[1]):
            lr = ops.cast(source[1](self.iterations), dtype)
        else:
            lr = ops.cast(source[1](), dtype)
        if not self._groups:
            return lr
        index = len(self._groups) if group is None else group
        follows = self.group_plateau_schedule(group)
        if follows is not False:
            lr = self._reset_group_lr(follows, lr, *self._group_resets[index])
        return ops.multiply(lr, ops.cast(self._group_scales[index], dtype))

    def _reset_group_lr(self, schedule, lr, since, rate):
        """`lr`, or from step `since` on the rate PyTorch's scheduler carries on with after
        `ReduceLROnPlateau` set the group's rate to `rate` (`schedule=None`: a constant)."""
        since = ops.cast(since, "int64")
        active = ops.logical_and(
            ops.greater_equal(since, 0),
            ops.greater_equal(ops.cast(self.iterations, "int64"), since),
        )
        reset = ops.cast(rate, lr.dtype)
        if schedule is not None:
            gain, offset = schedule.plateau_gain(ops.maximum(since, 0), self.iterations)
            reset = ops.add(
                ops.multiply(ops.cast(gain, lr.dtype), reset), ops.cast(offset, lr.dtype)
            )
        return ops.where(active, reset, lr)

    def group_scale(self, group):
        """The plateau scale variable of `group` (`None`: the default group)."""
        return self._group_scales[len(self._groups) if group is None else group]

    def load_own_variables(self, store):
        """Keras's ``load_own_variables``, that also reads a file saved before the groups had
        their reset variables (`group_reset`).

        A kerasdl optimizer with parameter groups saved by kerasdl before
        ``ReduceLROnPlateau(on_schedule="pytorch")`` has two variables fewer per group (the
        resets): Keras would skip its whole state with a warning (moments, step count,
        plateau scales) and resume from zero. Here, when the saved count is exactly that and
        every shape fits, the other variables are read in their order and the resets keep
        their initial value (no reset), which is what such a run had.
        """
        resets = {id(v) for pair in getattr(self, "_group_resets", ()) for v in pair}
        legacy = [v for v in self.variables if id(v) not in resets]
        keys = list(store.keys())
        if resets and len(keys) == len(legacy) != len(self.variables):
            values = [store[str(i)] for i in range(len(keys))]
            if all(tuple(v.shape) == tuple(x.shape) for v, x in zip(legacy, values, strict=True)):
                for variable, value in zip(legacy, values, strict=True):
                    variable.assign(value)
                return
        super().load_own_variables(store)

    def group_reset(self, group):
        """``(since, rate)``: the variables `ReduceLROnPlateau(on_schedule="pytorch")` sets when
        it reduces `group`'s rate (`None`: the default group): the optimizer step of the
        reduction (-1: none yet) and the rate set for it, from which the group's schedule
        goes on as PyTorch's does (`group_plateau_schedule`)."""
        return self._group_resets[len(self._groups) if group is None else group]

    def group_plateau_schedule(self, group):
        """What `group`'s rate goes on from after a PyTorch-style reset: its schedule (one with
        ``plateau_gain``), ``None`` for a constant rate (the reset rate holds), or ``False``
        when it cannot (a Keras schedule, a callable)."""
        if group in self._plateau_schedules:
            return self._plateau_schedules[group]
        from kerasdl.schedules._base import has_plateau_gain

        source = self._lr_source(group)
        schedule = _groups.unwrapped(self._learning_rate) if source[0] == "base" else source[-1]
        if source[0] == "constant" or (
            source[0] == "base" and not isinstance(schedule, _groups._Schedule)
        ):
            follows = None if not callable(schedule) else False  # a float (a variable)
        elif source[0] in ("base", "schedule") and has_plateau_gain(schedule):
            follows = schedule
        else:
            follows = False
        self._plateau_schedules[group] = follows
        return follows

    def any_group(self, name):
        """Whether `name` is truthy in any group (slots a group needs are made for all)."""
        return any(self.group_value(group, name) for group in self.group_indices())

    def group_indices(self):
        """The groups in order: ``0 .. len(groups) - 1``, then `None` (the default group)."""
        return [*range(len(self._groups)), None]

    def _partition(self, grads, variables):
        parts = {}
        for gradient, variable in zip(grads, variables, strict=True):
            parts.setdefault(self.group_of(variable), ([], []))
            parts[self.group_of(variable)][0].append(gradient)
            parts[self.group_of(variable)][1].append(variable)
        return [(group, *parts[group]) for group in self.group_indices() if group in parts]

    # ------------------------------------------------------------------ weight decay

    def decays(self, variable):
        """Whether `variable` takes weight decay: a Python bool, decided in `build`."""
        return (
            bool(self.hyper_value("weight_decay", variable))
            and self._may_decay[self._get_variable_index(variable)]
        )

    def l2(self, gradient, variable):
        """The gradient with PyTorch's coupled decay: ``g + weight_decay * w``."""
        if not self.decays(variable):
            return gradient
        return ops.add(gradient, ops.multiply(self.hyper("weight_decay", variable), variable))

    def shrink(self, variable, learning_rate):
        """PyTorch's decoupled decay, ``w *= 1 - lr * weight_decay``, where `variable` decays."""
        if self.decays(variable):
            dtype = variable.dtype
            factor = self.per_step(
                "shrink",
                learning_rate,
                dtype,
                lambda: 1 - ops.cast(learning_rate, dtype) * self.hyper("weight_decay", variable),
            )
            self.assign(variable, ops.multiply(variable, factor))

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        """Keras's loop of `update_step` over the variables, with `per_step` values shared, on
        dense gradients.

        TensorFlow gives an embedding's gradient as ``tf.IndexedSlices``, one row per lookup:
        a row looked up twice in a batch comes twice. Keras's ops keep such a gradient sparse,
        and ``square(g)`` of it squares each copy (``g1^2 + g2^2`` where the row's gradient is
        ``g1 + g2``): Keras's own Adagrad, RMSprop and Adam get the wrong second moment there.
        kerasdl sums the copies first (``tf.convert_to_tensor``), which is PyTorch's dense
        embedding gradient.

        With ``maximize`` each gradient is negated here, once, for every optimizer.
        With parameter groups, Keras's loop runs once per group, with the group's learning
        rate (`group_learning_rate`) and its own `maximize`.
        """
        grads = [_summed(gradient) for gradient in grads]
        self._per_step_values = {}
        try:
            if not self._groups:
                if self.maximize:
                    grads = [ops.negative(gradient) for gradient in grads]
                super()._backend_update_step(grads, trainable_variables, learning_rate)
                return
            for group, group_grads, group_variables in self._partition(grads, trainable_variables):
                if self.group_value(group, "maximize"):
                    group_grads = [ops.negative(gradient) for gradient in group_grads]
                self._active_group = group
                lr = self.group_learning_rate(group, learning_rate)
                super()._backend_update_step(group_grads, group_variables, lr)
        finally:
            self._per_step_values = None
            self._active_group = None

    def per_step(self, name, learning_rate, dtype, compute):
        """`compute()`, computed once per step for all variables of `dtype`.

        The values every variable's update shares (the learning rate cast to the variable's
        dtype, bias corrections) would otherwise be computed once per variable: in a
        compiled step that is a handful of scalar ops per variable per step. Within one
        `apply` (and one learning-rate tensor: under `tf.distribute`, one per device) the
        first `update_step` computes them and the rest reuse them; outside `apply`
        (`update_step` called directly) they are computed each time.

        Args:
            name: What is computed (one name per `compute`).
            learning_rate: The `learning_rate` `update_step` was given.
            dtype: The variable's dtype.
            compute: A function of no arguments that computes the value(s).
        """
        values = getattr(self, "_per_step_values", None)
        if values is None:
            return compute()
        key = (name, id(learning_rate), dtype, getattr(self, "_active_group", None))
        if key not in values:
            # The learning rate is kept with the value so that its id stays unique.
            values[key] = (learning_rate, compute())
        return values[key][1]

    def _apply_weight_decay(self, variables):
        """Off: Keras's decoupled decay would decay a second time (see the module)."""
        return

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        """Keras's, whose two argument errors name the class by its ``__name__`` (for kerasdl's
        classes the loading hint, see `kerasdl._registration`): raised here with its name."""
        name = _registration.plain_name(self)
        if not self.built:
            raise ValueError(
                f"To call `stateless_apply`, {name} must be built (i.e. its variables must "
                "have been created). You can build it via `optimizer.build(trainable_variables)`."
            )
        if len(optimizer_variables) != len(self.variables):
            raise ValueError(
                "Argument `optimizer_variables` must be a list of tensors corresponding 1:1 to "
                f"{name}().variables. Received list with length {len(optimizer_variables)}, but "
                f"expected {len(self.variables)} variables."
            )
        return super().stateless_apply(optimizer_variables, grads, trainable_variables)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "exclude_bias_and_norm": self.exclude_bias_and_norm,
                "exclude_from_weight_decay": self._excluded_names,
                "maximize": self.maximize,
                "groups": self.groups,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        var_names = config.pop("exclude_from_weight_decay", None)
        config["groups"] = _groups.from_config(config.get("groups"))
        for key in ("momentum", "beta_1"):
            if key in config:
                config[key] = deserialized(config[key])
        optimizer = super().from_config(config, custom_objects=custom_objects)
        if var_names:
            optimizer.exclude_from_weight_decay(var_names=var_names)
        return optimizer


def serialized(value):
    """A hyperparameter for `get_config`: a schedule (momentum cycling) as Keras serializes it."""
    if _groups.is_schedule(value):
        return keras.saving.serialize_keras_object(value)
    return value


def deserialized(value):
    """`serialized`'s inverse (`from_config`)."""
    if isinstance(value, dict) and "class_name" in value:
        return keras.saving.deserialize_keras_object(value)
    return value
