"""AdaGrad (chapter 3.2.5): per-coordinate steps shrink with the summed squared gradients."""

from typing import ClassVar

from keras import ops

from kerasdl import _checks, _registration
from kerasdl.optimizers._base import (
    KerasdlOptimizer,
    constant,
    non_negative,
    positive,
)


@_registration.serializable("optimizers")
class Adagrad(KerasdlOptimizer):
    """AdaGrad (chapter 3.2.5), as PyTorch's `Adagrad` (epsilon outside the root).

    Update rule at step `t` (from 1), with `eta` the learning rate, `lambda`
    `weight_decay` and `G` starting at `initial_accumulator_value`:

    ```
    g = g + lambda * w          # L2, only when weight_decay > 0
    G = G + g^2
    eta_t = eta / (1 + (t - 1) * lr_decay)
    w = w - eta_t * g / (sqrt(G) + epsilon)
    ```

    `lr_decay` is PyTorch's (the same sequence as passing
    `keras.optimizers.schedules.InverseTimeDecay(eta, decay_steps=1, decay_rate=lr_decay)`
    as the learning rate, computed here in the variable's dtype). Keras's `Adagrad`
    differs: `sqrt(G + epsilon)`, `epsilon=1e-7`, `initial_accumulator_value=0.1`.

    Args:
        learning_rate: float `>= 0`, a `keras.optimizers.schedules.LearningRateSchedule`
            or a callable. Defaults to `0.01`.
        epsilon: float `> 0`, added to `sqrt(G)`. Defaults to `1e-10`.
        lr_decay: float `>= 0`, PyTorch's `lr_decay`. Defaults to `0.0`.
        initial_accumulator_value: float `>= 0`, the starting `G`; not a group hyperparameter
            (PyTorch's Adagrad reads only the constructor's). Defaults to `0.0`.
        weight_decay: float `>= 0`, L2 added to the gradient. Defaults to `0.0`.
        exclude_bias_and_norm: bool; if `True` variables of rank <= 1 do not decay.
            Defaults to `False`.
        **kwargs: `maximize` (bool; if `True` ascend: the gradient is negated, PyTorch's
            `maximize`; defaults to `False`), `groups` (parameter groups, PyTorch's
            `param_groups`: a list of dicts; see docs/optimizers.md) and Keras's base optimizer
            arguments (`clipnorm`,
            `clipvalue`,
            `global_clipnorm`, `use_ema`, `ema_momentum`, `ema_overwrite_frequency`,
            `loss_scale_factor`, `gradient_accumulation_steps`, `name`).

    Examples:
        >>> opt = kerasdl.optimizers.Adagrad(learning_rate=0.1)
        >>> w = keras.Variable([1.0])
        >>> opt.apply([keras.ops.convert_to_tensor([2.0])], [w])
        >>> w.numpy()  # G = 4, w = 1 - 0.1 * 2 / 2
        array([0.9], dtype=float32)

    References:
        - [Duchi et al., 2011](https://jmlr.org/papers/v12/duchi11a.html)
        - [PyTorch `torch.optim.Adagrad`](https://pytorch.org/docs/stable/generated/torch.optim.Adagrad.html)
    """

    GROUP_CHECKS: ClassVar[dict] = {
        **KerasdlOptimizer.GROUP_CHECKS,
        "epsilon": positive,
        "lr_decay": non_negative,
    }

    def __init__(
        self,
        learning_rate=0.01,
        epsilon=1e-10,
        initial_accumulator_value=0.0,
        weight_decay=0.0,
        exclude_bias_and_norm=False,
        lr_decay=0.0,
        **kwargs,
    ):
        epsilon = float(_checks.positive("epsilon", epsilon))
        lr_decay = float(_checks.non_negative("lr_decay", lr_decay))
        initial_accumulator_value = float(
            _checks.non_negative("initial_accumulator_value", initial_accumulator_value)
        )
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            exclude_bias_and_norm=exclude_bias_and_norm,
            **kwargs,
        )
        self.epsilon = epsilon
        self.initial_accumulator_value = initial_accumulator_value
        self.lr_decay = lr_decay

    def build(self, variables):
        if self.built:
            return
        super().build(variables)

        def initializer(shape, dtype=None):  # not keras's Constant, which rounds via float32
            return ops.full(shape, constant(self.initial_accumulator_value, dtype), dtype=dtype)

        self._accumulators = [
            self.add_variable_from_reference(variable, name="accumulator", initializer=initializer)
            for variable in variables
        ]

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        if self.hyper_value("lr_decay", variable):
            t = ops.cast(self.iterations, variable.dtype)  # t - 1
            lr = ops.divide(lr, 1 + t * self.hyper("lr_decay", variable))
        epsilon = self.hyper("epsilon", variable)
        gradient = self.l2(ops.cast(gradient, variable.dtype), variable)
        G = self._accumulators[self._get_variable_index(variable)]
        self.assign_add(G, ops.square(gradient))
        denominator = ops.add(ops.sqrt(G), epsilon)
        self.assign_sub(variable, ops.multiply(lr, ops.divide(gradient, denominator)))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "epsilon": self.epsilon,
                "initial_accumulator_value": self.initial_accumulator_value,
                "lr_decay": self.lr_decay,
            }
        )
        return config
