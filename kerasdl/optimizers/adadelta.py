"""Adadelta, as PyTorch's `torch.optim.Adadelta`."""

from typing import ClassVar

from keras import ops

from kerasdl import _checks, _registration
from kerasdl.optimizers._base import (
    KerasdlOptimizer,
    checked_rate,
    positive,
)


@_registration.serializable("optimizers")
class Adadelta(KerasdlOptimizer):
    """Adadelta (Zeiler, 2012), as PyTorch's `Adadelta`: RMSprop with a unit-correcting step.

    Update rule, with `eta` the learning rate, `lambda` `weight_decay`; `G` and `D` start
    at 0:

    ```
    g = g + lambda * w          # L2, only when weight_decay > 0
    G = rho * G + (1 - rho) * g^2
    delta = sqrt(D + epsilon) / sqrt(G + epsilon) * g
    D = rho * D + (1 - rho) * delta^2
    w = w - eta * delta
    ```

    PyTorch's defaults (`lr=1.0`, `rho=0.9`, `eps=1e-6`). Keras's `Adadelta` has the same
    rule but `learning_rate=0.001`, `rho=0.95`, `epsilon=1e-7` and decoupled decay.

    Args:
        learning_rate: float `>= 0`, a `keras.optimizers.schedules.LearningRateSchedule`
            or a callable. Defaults to `1.0`.
        rho: float in `[0, 1)`, the decay of `G` and `D`. Defaults to `0.9`.
        epsilon: float `> 0`, inside both roots. Defaults to `1e-6`.
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
        >>> opt = kerasdl.optimizers.Adadelta(rho=0.75, epsilon=1.0)
        >>> w = keras.Variable([1.0])
        >>> opt.apply([keras.ops.convert_to_tensor([2.0])], [w])
        >>> w.numpy()  # G = 0.25 * 4 = 1, delta = sqrt(1) / sqrt(2) * 2
        array([-0.41421354], dtype=float32)

    References:
        - [Zeiler, 2012](https://arxiv.org/abs/1212.5701)
        - [PyTorch `torch.optim.Adadelta`](https://pytorch.org/docs/stable/generated/torch.optim.Adadelta.html)
    """

    GROUP_CHECKS: ClassVar[dict] = {
        **KerasdlOptimizer.GROUP_CHECKS,
        "rho": checked_rate,
        "epsilon": positive,
    }

    def __init__(
        self,
        learning_rate=1.0,
        rho=0.9,
        epsilon=1e-6,
        weight_decay=0.0,
        exclude_bias_and_norm=False,
        **kwargs,
    ):
        rho = checked_rate("rho", rho)
        epsilon = float(_checks.positive("epsilon", epsilon))
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            exclude_bias_and_norm=exclude_bias_and_norm,
            **kwargs,
        )
        self.rho = rho
        self.epsilon = epsilon

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._square_averages = [
            self.add_variable_from_reference(variable, name="square_average")
            for variable in variables
        ]
        self._delta_averages = [
            self.add_variable_from_reference(variable, name="delta_average")
            for variable in variables
        ]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        rho = self.hyper("rho", variable)
        epsilon = self.hyper("epsilon", variable)
        gradient = self.l2(ops.cast(gradient, dtype), variable)
        index = self._get_variable_index(variable)
        G, D = self._square_averages[index], self._delta_averages[index]
        self.assign(G, ops.add(ops.multiply(rho, G), ops.multiply(1 - rho, ops.square(gradient))))
        std = ops.sqrt(ops.add(G, epsilon))
        delta = ops.multiply(ops.divide(ops.sqrt(ops.add(D, epsilon)), std), gradient)
        self.assign(D, ops.add(ops.multiply(rho, D), ops.multiply(1 - rho, ops.square(delta))))
        self.assign_sub(variable, ops.multiply(lr, delta))

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "epsilon": self.epsilon})
        return config
