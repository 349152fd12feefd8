"""Momentum as the chapter writes it (3.2.3): an exponential moving average of gradients."""

from typing import ClassVar

from keras import ops

from kerasdl import _registration
from kerasdl.optimizers._base import (
    KerasdlOptimizer,
    checked_rate,
    or_schedule,
    serialized,
)


@_registration.serializable("optimizers")
class Momentum(KerasdlOptimizer):
    """Gradient descent with the chapter's momentum (3.2.3): `v` averages the gradients.

    Update rule, with `eta` the learning rate, `beta` `momentum` and `lambda`
    `weight_decay`; `v` starts at 0:

    ```
    g = g + lambda * w          # L2, only when weight_decay > 0
    v = beta * v + (1 - beta) * g
    w = w - eta * v
    ```

    PyTorch has no exact equivalent. `torch.optim.SGD(momentum=beta, dampening=beta)`
    has the same recursion but starts `v` at `g` (its first step is `1 / (1 - beta)`
    times larger). The trajectory equals `torch.optim.SGD(lr=eta * (1 - beta),
    momentum=beta)` (no dampening), since then PyTorch's buffer is `v / (1 - beta)`.
    Keras's `SGD(momentum=beta)` stores `-eta * v` with `v = beta * v + g`.

    Args:
        learning_rate: float `>= 0`, a `keras.optimizers.schedules.LearningRateSchedule`
            or a callable. Defaults to `0.01`.
        momentum: float in `[0, 1)`, the chapter's `beta`, or a `LearningRateSchedule` of the
            step. Defaults to `0.9`.
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
        >>> opt = kerasdl.optimizers.Momentum(learning_rate=0.1, momentum=0.9)
        >>> w = keras.Variable([1.0])
        >>> opt.apply([keras.ops.convert_to_tensor([1.0])], [w])
        >>> w.numpy()  # v = 0.1 * 1.0, w = 1 - 0.1 * 0.1
        array([0.99], dtype=float32)

    References:
        - [Polyak, 1964](https://doi.org/10.1016/0041-5553(64)90137-5)
        - [PyTorch `torch.optim.SGD`](https://pytorch.org/docs/stable/generated/torch.optim.SGD.html)
    """

    GROUP_CHECKS: ClassVar[dict] = {
        **KerasdlOptimizer.GROUP_CHECKS,
        "momentum": or_schedule(checked_rate),
    }

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.9,
        weight_decay=0.0,
        exclude_bias_and_norm=False,
        **kwargs,
    ):
        momentum = or_schedule(checked_rate)("momentum", momentum)
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            exclude_bias_and_norm=exclude_bias_and_norm,
            **kwargs,
        )
        self.momentum = momentum

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._velocities = [
            self.add_variable_from_reference(variable, name="velocity") for variable in variables
        ]

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        beta = self.hyper("momentum", variable)
        gradient = self.l2(ops.cast(gradient, variable.dtype), variable)
        v = self._velocities[self._get_variable_index(variable)]
        # beta * v + (1 - beta) * g, written as v + (1 - beta) * (g - v): one op fewer.
        self.assign_add(v, ops.multiply(1 - beta, ops.subtract(gradient, v)))
        self.assign_sub(variable, ops.multiply(lr, v))

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": serialized(self.momentum)})
        return config
