"""NAdam, as PyTorch's `torch.optim.NAdam`: Adam with Nesterov momentum and a momentum schedule."""

from typing import ClassVar

from keras import ops

from kerasdl import _checks, _registration
from kerasdl.optimizers._base import (
    KerasdlOptimizer,
    checked_rate,
    constant,
    flag,
    non_negative,
    or_schedule,
    positive,
    serialized,
)


@_registration.serializable("optimizers")
class NAdam(KerasdlOptimizer):
    """NAdam (Dozat, 2016), as PyTorch's `NAdam`, with its `momentum_decay` schedule.

    Update rule at step `t` (from 1), with `eta` the learning rate, `lambda`
    `weight_decay` and `psi` `momentum_decay`; `m` and `v` start at 0, `P` (the product
    of the `mu`s so far) at 1:

    ```
    w = w * (1 - eta * lambda)  # decoupled_weight_decay=True, when weight_decay > 0
    g = g + lambda * w          # otherwise (L2), when weight_decay > 0
    mu_t = beta_1 * (1 - 0.5 * 0.96^(t * psi))
    mu_next = beta_1 * (1 - 0.5 * 0.96^((t + 1) * psi))
    P = P * mu_t
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g^2
    denominator = sqrt(v / (1 - beta_2^t)) + epsilon
    w = w - eta * (1 - mu_t) / (1 - P) * g / denominator
          - eta * mu_next / (1 - P * mu_next) * m / denominator
    ```

    PyTorch's defaults (`lr=0.002`, `betas=(0.9, 0.999)`, `eps=1e-8`,
    `momentum_decay=0.004`). With `decoupled_weight_decay=True` this is PyTorch's NAdamW.
    Keras's `Nadam` differs: its bias corrections, `epsilon=1e-7`, `learning_rate=0.001`,
    a fixed `momentum_decay` of 0.004 and decoupled decay.

    Args:
        learning_rate: float `>= 0`, a `keras.optimizers.schedules.LearningRateSchedule`
            or a callable. Defaults to `0.002`.
        beta_1: float in `[0, 1)`, the decay of `m`, or a `LearningRateSchedule` of the step
            (momentum cycling: `OneCycleLR(...).momentum_schedule()`). Defaults to `0.9`.
        beta_2: float in `[0, 1)`, the decay of `v`. Defaults to `0.999`.
        epsilon: float `> 0`, added to `sqrt(v_hat)`. Defaults to `1e-8`.
        weight_decay: float `>= 0`: L2 added to the gradient, or with
            `decoupled_weight_decay=True` the decoupled shrink. Defaults to `0.0`.
        momentum_decay: float `>= 0`, PyTorch's `momentum_decay` (`psi`). Defaults to `0.004`.
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

    References:
        - [Dozat, 2016](https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ)
        - [PyTorch `torch.optim.NAdam`](https://pytorch.org/docs/stable/generated/torch.optim.NAdam.html)
    """

    GROUP_CHECKS: ClassVar[dict] = {
        **KerasdlOptimizer.GROUP_CHECKS,
        "beta_1": or_schedule(checked_rate),
        "beta_2": checked_rate,
        "epsilon": positive,
        "momentum_decay": non_negative,
        "decoupled_weight_decay": flag,
    }

    def __init__(
        self,
        learning_rate=0.002,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        weight_decay=0.0,
        momentum_decay=0.004,
        decoupled_weight_decay=False,
        exclude_bias_and_norm=False,
        **kwargs,
    ):
        beta_1 = or_schedule(checked_rate)("beta_1", beta_1)
        beta_2 = checked_rate("beta_2", beta_2)
        epsilon = float(_checks.positive("epsilon", epsilon))
        momentum_decay = float(_checks.non_negative("momentum_decay", momentum_decay))
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
        self.momentum_decay = momentum_decay
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
        # PyTorch keeps the product of the mus per parameter: one scalar per variable.
        self._mu_products = [
            self.add_variable(shape=(), initializer="ones", dtype=variable.dtype, name="mu_product")
            for variable in variables
        ]

    def _step_values(self, learning_rate, variable):
        """`(lr, mu_t, mu_next, sqrt(1 - beta_2^t))` of this step, in the variable's dtype."""
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        beta_1 = self.hyper("beta_1", variable)
        psi = self.hyper("momentum_decay", variable)
        decay = constant(0.96, dtype)
        mu = beta_1 * (1 - 0.5 * ops.power(decay, step * psi))
        mu_next = beta_1 * (1 - 0.5 * ops.power(decay, (step + 1) * psi))
        root_bias_correction_2 = ops.sqrt(1 - ops.power(self.hyper("beta_2", variable), step))
        return lr, mu, mu_next, root_bias_correction_2

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr, mu, mu_next, root_bias_correction_2 = self.per_step(
            "nadam", learning_rate, dtype, lambda: self._step_values(learning_rate, variable)
        )
        gradient = ops.cast(gradient, dtype)
        if self.hyper_value("decoupled_weight_decay", variable):
            self.shrink(variable, learning_rate)
        else:
            gradient = self.l2(gradient, variable)
        index = self._get_variable_index(variable)
        m, v, P = self._momentums[index], self._velocities[index], self._mu_products[index]
        beta_1 = self.hyper("beta_1", variable)
        beta_2 = self.hyper("beta_2", variable)
        self.assign(P, ops.multiply(P, mu))
        self.assign_add(m, ops.multiply(1 - beta_1, ops.subtract(gradient, m)))
        self.assign(
            v, ops.add(ops.multiply(beta_2, v), ops.multiply(1 - beta_2, ops.square(gradient)))
        )
        denominator = ops.add(
            ops.divide(ops.sqrt(v), root_bias_correction_2), self.hyper("epsilon", variable)
        )
        gradient_coefficient = ops.divide(ops.multiply(lr, 1 - mu), 1 - P)
        momentum_coefficient = ops.divide(ops.multiply(lr, mu_next), 1 - ops.multiply(P, mu_next))
        self.assign_sub(
            variable, ops.multiply(gradient_coefficient, ops.divide(gradient, denominator))
        )
        self.assign_sub(variable, ops.multiply(momentum_coefficient, ops.divide(m, denominator)))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "beta_1": serialized(self.beta_1),
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "momentum_decay": self.momentum_decay,
                "decoupled_weight_decay": self.decoupled_weight_decay,
            }
        )
        return config
