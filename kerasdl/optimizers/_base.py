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

import keras
from keras import ops

from kerasdl import _checks


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

    Args:
        learning_rate: float ``>= 0``, a `LearningRateSchedule` or a callable.
        weight_decay: float ``>= 0``. Defaults to `0.0` (no decay).
        exclude_bias_and_norm: bool. If `True`, variables of rank <= 1 (biases,
            normalisation `gamma`/`beta`) do not decay. Defaults to `False`.
        maximize: bool. If `True`, ascend: each gradient is negated before the update
            (PyTorch's `maximize`). Defaults to `False`.
        **kwargs: Keras's base optimizer arguments (`clipnorm`, `clipvalue`,
            `global_clipnorm`, `use_ema`, `ema_momentum`, `ema_overwrite_frequency`,
            `loss_scale_factor`, `gradient_accumulation_steps`, `name`).
    """

    def __init__(
        self,
        learning_rate,
        weight_decay=0.0,
        exclude_bias_and_norm=False,
        maximize=False,
        **kwargs,
    ):
        learning_rate = checked_learning_rate(learning_rate)
        weight_decay = 0.0 if weight_decay is None else weight_decay
        weight_decay = float(_checks.non_negative("weight_decay", weight_decay))
        maximize = _checks.one_of("maximize", maximize, (False, True))
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
        self.exclude_bias_and_norm = bool(exclude_bias_and_norm)
        self.maximize = bool(maximize)
        self._excluded_names = None

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

    def decays(self, variable):
        """Whether `variable` takes weight decay: a Python bool, decided in `build`."""
        return bool(self.weight_decay) and self._may_decay[self._get_variable_index(variable)]

    def l2(self, gradient, variable):
        """The gradient with PyTorch's coupled decay: ``g + weight_decay * w``."""
        if not self.decays(variable):
            return gradient
        return ops.add(
            gradient, ops.multiply(constant(self.weight_decay, variable.dtype), variable)
        )

    def shrink(self, variable, learning_rate):
        """PyTorch's decoupled decay, ``w *= 1 - lr * weight_decay``, where `variable` decays."""
        if self.decays(variable):
            dtype = variable.dtype
            factor = self.per_step(
                "shrink",
                learning_rate,
                dtype,
                lambda: 1 - ops.cast(learning_rate, dtype) * constant(self.weight_decay, dtype),
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
        """
        grads = [_summed(gradient) for gradient in grads]
        if self.maximize:
            grads = [ops.negative(gradient) for gradient in grads]
        self._per_step_values = {}
        try:
            super()._backend_update_step(grads, trainable_variables, learning_rate)
        finally:
            self._per_step_values = None

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
        key = (name, id(learning_rate), dtype)
        if key not in values:
            # The learning rate is kept with the value so that its id stays unique.
            values[key] = (learning_rate, compute())
        return values[key][1]

    def _apply_weight_decay(self, variables):
        """Off: Keras's decoupled decay would decay a second time (see the module)."""
        return

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "exclude_bias_and_norm": self.exclude_bias_and_norm,
                "exclude_from_weight_decay": self._excluded_names,
                "maximize": self.maximize,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        var_names = config.pop("exclude_from_weight_decay", None)
        optimizer = super().from_config(config, custom_objects=custom_objects)
        if var_names:
            optimizer.exclude_from_weight_decay(var_names=var_names)
        return optimizer
