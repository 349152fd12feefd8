"""RAdam, as PyTorch's `torch.optim.RAdam`: Adam with its variance rectified."""

from typing import ClassVar

from keras import ops

from kerasdl import _checks, _registration
from kerasdl.optimizers._base import (
    KerasdlOptimizer,
    checked_rate,
    flag,
    or_schedule,
    positive,
    serialized,
)


@_registration.serializable("optimizers")
class RAdam(KerasdlOptimizer):
    """RAdam (Liu et al., 2020), as PyTorch's `RAdam`.

    Update rule at step `t` (from 1), with `eta` the learning rate and `lambda`
    `weight_decay`; `m` and `v` start at 0:

    ```
    w = w * (1 - eta * lambda)  # decoupled_weight_decay=True, when weight_decay > 0
    g = g + lambda * w          # otherwise (L2), when weight_decay > 0
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g^2
    m_hat = m / (1 - beta_1^t)
    rho_inf = 2 / (1 - beta_2) - 1
    rho_t = rho_inf - 2 t beta_2^t / (1 - beta_2^t)
    if rho_t > 5:
        r = sqrt((rho_t - 4) (rho_t - 2) rho_inf / ((rho_inf - 4) (rho_inf - 2) rho_t))
        w = w - eta * m_hat * sqrt(1 - beta_2^t) / (sqrt(v) + epsilon) * r
    else:
        w = w - eta * m_hat     # the first steps: momentum SGD
    ```

    PyTorch's defaults (`lr=0.001`, `betas=(0.9, 0.999)`, `eps=1e-8`). With
    `decoupled_weight_decay=True` this is PyTorch's RAdamW. Keras has no RAdam.

    Args:
        learning_rate: float `>= 0`, a `keras.optimizers.schedules.LearningRateSchedule`
            or a callable. Defaults to `0.001`.
        beta_1: float in `[0, 1)`, the decay of `m`, or a `LearningRateSchedule` of the step
            (momentum cycling: `OneCycleLR(...).momentum_schedule()`). Defaults to `0.9`.
        beta_2: float in `[0, 1)`, the decay of `v`. Defaults to `0.999`.
        epsilon: float `> 0`, added to `sqrt(v)`. Defaults to `1e-8`.
        weight_decay: float `>= 0`: L2 added to the gradient, or with
            `decoupled_weight_decay=True` the decoupled shrink. Defaults to `0.0`.
        decoupled_weight_decay: bool; decay as AdamW does. Defaults to `False`.
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
        >>> opt = kerasdl.optimizers.RAdam(learning_rate=0.1)
        >>> w = keras.Variable([1.0])
        >>> opt.apply([keras.ops.convert_to_tensor([3.0])], [w])
        >>> w.numpy()  # rho_1 = 1 <= 5: w - eta * m_hat = 1 - 0.1 * 3
        array([0.7], dtype=float32)

    References:
        - [Liu et al., 2020](https://arxiv.org/abs/1908.03265)
        - [PyTorch `torch.optim.RAdam`](https://pytorch.org/docs/stable/generated/torch.optim.RAdam.html)
    """

    GROUP_CHECKS: ClassVar[dict] = {
        **KerasdlOptimizer.GROUP_CHECKS,
        "beta_1": or_schedule(checked_rate),
        "beta_2": checked_rate,
        "epsilon": positive,
        "decoupled_weight_decay": flag,
    }

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        weight_decay=0.0,
        decoupled_weight_decay=False,
        exclude_bias_and_norm=False,
        **kwargs,
    ):
        beta_1 = or_schedule(checked_rate)("beta_1", beta_1)
        beta_2 = checked_rate("beta_2", beta_2)
        epsilon = float(_checks.positive("epsilon", epsilon))
        decoupled = _checks.one_of("decoupled_weight_decay", decoupled_weight_decay, (False, True))
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            exclude_bias_and_norm=exclude_bias_and_norm,
            **kwargs,
        )
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.decoupled_weight_decay = bool(decoupled)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._momentums = [
            self.add_variable_from_reference(variable, name="momentum") for variable in variables
        ]
        self._velocities = [
            self.add_variable_from_reference(variable, name="velocity") for variable in variables
        ]

    def _step_values(self, learning_rate, variable):
        """`(lr / (1 - beta_1^t), sqrt(1 - beta_2^t) * r, rectified)` of this step."""
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        beta_2 = self.hyper("beta_2", variable)
        step_size = ops.divide(lr, 1 - ops.power(self.hyper("beta_1", variable), step))
        beta_2_power = ops.power(beta_2, step)
        bias_correction_2 = 1 - beta_2_power
        rho_inf = 2 / (1 - beta_2) - 1
        rho_t = rho_inf - 2 * step * beta_2_power / bias_correction_2
        rectified = ops.greater(rho_t, 5.0)
        ratio = (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        rect = ops.sqrt(ops.where(rectified, ratio, ops.ones_like(ratio)))
        return step_size, ops.sqrt(bias_correction_2) * rect, rectified

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        step_size, scale, rectified = self.per_step(
            "radam", learning_rate, dtype, lambda: self._step_values(learning_rate, variable)
        )
        gradient = ops.cast(gradient, dtype)
        if self.hyper_value("decoupled_weight_decay", variable):
            self.shrink(variable, learning_rate)
        else:
            gradient = self.l2(gradient, variable)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        beta_1 = self.hyper("beta_1", variable)
        beta_2 = self.hyper("beta_2", variable)
        self.assign_add(m, ops.multiply(1 - beta_1, ops.subtract(gradient, m)))
        self.assign(
            v, ops.add(ops.multiply(beta_2, v), ops.multiply(1 - beta_2, ops.square(gradient)))
        )
        adaptive = ops.divide(scale, ops.add(ops.sqrt(v), self.hyper("epsilon", variable)))
        factor = ops.where(rectified, adaptive, ops.ones_like(adaptive))
        self.assign_sub(variable, ops.multiply(ops.multiply(step_size, m), factor))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "beta_1": serialized(self.beta_1),
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "decoupled_weight_decay": self.decoupled_weight_decay,
            }
        )
        return config
