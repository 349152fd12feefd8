"""Adamax, as PyTorch's `torch.optim.Adamax`: Adam with an infinity norm."""

from typing import ClassVar

from keras import ops

from kerasdl import _checks, _registration
from kerasdl.optimizers._base import (
    KerasdlOptimizer,
    checked_rate,
    or_schedule,
    positive,
    serialized,
)


@_registration.serializable("optimizers")
class Adamax(KerasdlOptimizer):
    """Adamax (Kingma and Ba, 2015, section 7), as PyTorch's `Adamax`.

    Update rule at step `t` (from 1), with `eta` the learning rate and `lambda`
    `weight_decay`; `m` and `u` start at 0:

    ```
    g = g + lambda * w          # L2, only when weight_decay > 0
    m = beta_1 * m + (1 - beta_1) * g
    u = max(beta_2 * u, |g| + epsilon)
    w = w - eta / (1 - beta_1^t) * m / u
    ```

    PyTorch's defaults (`lr=0.002`, `betas=(0.9, 0.999)`, `eps=1e-8`). Keras's `Adamax`
    differs: `u = max(beta_2 * u, |g|)` and `epsilon` (`1e-7`) added to `u` in the step,
    `learning_rate=0.001`, decoupled decay.

    Args:
        learning_rate: float `>= 0`, a `keras.optimizers.schedules.LearningRateSchedule`
            or a callable. Defaults to `0.002`.
        beta_1: float in `[0, 1)`, the decay of `m`, or a `LearningRateSchedule` of the step
            (momentum cycling: `OneCycleLR(...).momentum_schedule()`). Defaults to `0.9`.
        beta_2: float in `[0, 1)`, the decay of `u`. Defaults to `0.999`.
        epsilon: float `> 0`, added to `|g|`. Defaults to `1e-8`.
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
        >>> opt = kerasdl.optimizers.Adamax(learning_rate=0.1)
        >>> w = keras.Variable([1.0])
        >>> opt.apply([keras.ops.convert_to_tensor([3.0])], [w])
        >>> w.numpy()  # m / (1 - beta_1) = 3, u = 3: one step of eta
        array([0.9], dtype=float32)

    References:
        - [Kingma and Ba, 2015](https://arxiv.org/abs/1412.6980)
        - [PyTorch `torch.optim.Adamax`](https://pytorch.org/docs/stable/generated/torch.optim.Adamax.html)
    """

    GROUP_CHECKS: ClassVar[dict] = {
        **KerasdlOptimizer.GROUP_CHECKS,
        "beta_1": or_schedule(checked_rate),
        "beta_2": checked_rate,
        "epsilon": positive,
    }

    def __init__(
        self,
        learning_rate=0.002,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        weight_decay=0.0,
        exclude_bias_and_norm=False,
        **kwargs,
    ):
        beta_1 = or_schedule(checked_rate)("beta_1", beta_1)
        beta_2 = checked_rate("beta_2", beta_2)
        epsilon = float(_checks.positive("epsilon", epsilon))
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            exclude_bias_and_norm=exclude_bias_and_norm,
            **kwargs,
        )
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._momentums = [
            self.add_variable_from_reference(variable, name="momentum") for variable in variables
        ]
        self._norms = [
            self.add_variable_from_reference(variable, name="norm") for variable in variables
        ]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype

        def step_size():
            step = ops.cast(self.iterations + 1, dtype)
            lr = ops.cast(learning_rate, dtype)
            return ops.divide(lr, 1 - ops.power(self.hyper("beta_1", variable), step))

        clr = self.per_step("adamax", learning_rate, dtype, step_size)
        beta_1 = self.hyper("beta_1", variable)
        beta_2 = self.hyper("beta_2", variable)
        gradient = self.l2(ops.cast(gradient, dtype), variable)
        index = self._get_variable_index(variable)
        m, u = self._momentums[index], self._norms[index]
        self.assign_add(m, ops.multiply(1 - beta_1, ops.subtract(gradient, m)))
        norm = ops.add(ops.abs(gradient), self.hyper("epsilon", variable))
        self.assign(u, ops.maximum(ops.multiply(beta_2, u), norm))
        self.assign_sub(variable, ops.multiply(clr, ops.divide(m, u)))

    def get_config(self):
        config = super().get_config()
        config.update(
            {"beta_1": serialized(self.beta_1), "beta_2": self.beta_2, "epsilon": self.epsilon}
        )
        return config
