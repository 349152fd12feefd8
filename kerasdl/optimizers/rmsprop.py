"""RMSprop (chapter 3.2.6): AdaGrad with a moving average instead of a sum."""

from typing import ClassVar

from keras import ops

from kerasdl import _checks, _registration
from kerasdl.optimizers._base import (
    KerasdlOptimizer,
    checked_rate,
    flag,
    non_negative,
    or_schedule,
    positive,
    serialized,
)


@_registration.serializable("optimizers")
class RMSprop(KerasdlOptimizer):
    """RMSprop (chapter 3.2.6), as PyTorch's `RMSprop(alpha=rho)`, with its options.

    Update rule, with `eta` the learning rate, `lambda` `weight_decay`; `G` and `A`
    start at 0:

    ```
    g = g + lambda * w          # L2, only when weight_decay > 0
    G = rho * G + (1 - rho) * g^2
    w = w - eta * g / (sqrt(G) + epsilon)
    ```

    With `centered=True` (Graves, 2013; PyTorch's `centered=True`) the gradient's
    moving average `A` is subtracted, so the root is of a variance estimate:

    ```
    A = A + (1 - rho) * (g - A)
    w = w - eta * g / (sqrt(G - A^2) + epsilon)
    ```

    With `momentum = mu > 0` (PyTorch's `momentum`) a buffer `B` (from 0) takes the step:

    ```
    B = mu * B + g / (root + epsilon)
    w = w - eta * B
    ```

    Keras's `RMSprop` differs: `sqrt(G + epsilon)`, `rho=0.9`, `epsilon=1e-7`, and its
    momentum buffer holds `eta * B`.

    Args:
        learning_rate: float `>= 0`, a `keras.optimizers.schedules.LearningRateSchedule`
            or a callable. Defaults to `0.01`.
        rho: float in `[0, 1)`, the decay of `G` (PyTorch's `alpha`). Defaults to `0.99`.
        epsilon: float `> 0`, added to the root. Defaults to `1e-8`.
        momentum: float `>= 0`, PyTorch's `momentum`, or a `LearningRateSchedule` of the step
            (momentum cycling: `OneCycleLR(...).momentum_schedule()`). Defaults to `0.0`.
        centered: bool; divide by the root of the centered second moment.
            Defaults to `False`.
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
        >>> opt = kerasdl.optimizers.RMSprop(learning_rate=0.01, rho=0.75)
        >>> w = keras.Variable([1.0])
        >>> opt.apply([keras.ops.convert_to_tensor([2.0])], [w])
        >>> w.numpy()  # G = 0.25 * 4 = 1, w = 1 - 0.01 * 2 / 1
        array([0.98], dtype=float32)

    References:
        - [Hinton, Srivastava and Swersky, 2012, lecture 6e](https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf)
        - [Graves, 2013](https://arxiv.org/abs/1308.0850) for `centered`
        - [PyTorch `torch.optim.RMSprop`](https://pytorch.org/docs/stable/generated/torch.optim.RMSprop.html)
    """

    GROUP_CHECKS: ClassVar[dict] = {
        **KerasdlOptimizer.GROUP_CHECKS,
        "rho": checked_rate,
        "epsilon": positive,
        "momentum": or_schedule(non_negative),
        "centered": flag,
    }

    def __init__(
        self,
        learning_rate=0.01,
        rho=0.99,
        epsilon=1e-8,
        centered=False,
        weight_decay=0.0,
        exclude_bias_and_norm=False,
        momentum=0.0,
        **kwargs,
    ):
        rho = checked_rate("rho", rho)
        momentum = or_schedule(non_negative)("momentum", momentum)
        epsilon = float(_checks.positive("epsilon", epsilon))
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            exclude_bias_and_norm=exclude_bias_and_norm,
            **kwargs,
        )
        self.rho = rho
        self.epsilon = epsilon
        self.centered = bool(centered)
        self.momentum = momentum

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._square_averages = [
            self.add_variable_from_reference(variable, name="square_average")
            for variable in variables
        ]
        self._gradient_averages = []
        if self.any_group("centered"):
            self._gradient_averages = [
                self.add_variable_from_reference(variable, name="gradient_average")
                for variable in variables
            ]
        self._momentum_buffers = []
        if self.any_group("momentum"):
            self._momentum_buffers = [
                self.add_variable_from_reference(variable, name="momentum_buffer")
                for variable in variables
            ]

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        rho = self.hyper("rho", variable)
        epsilon = self.hyper("epsilon", variable)
        gradient = self.l2(ops.cast(gradient, variable.dtype), variable)
        index = self._get_variable_index(variable)
        G = self._square_averages[index]
        self.assign(G, ops.add(ops.multiply(rho, G), ops.multiply(1 - rho, ops.square(gradient))))
        second_moment = G
        if self.hyper_value("centered", variable):
            A = self._gradient_averages[index]
            self.assign_add(A, ops.multiply(1 - rho, ops.subtract(gradient, A)))
            second_moment = ops.subtract(G, ops.square(A))
        denominator = ops.add(ops.sqrt(second_moment), epsilon)
        step = ops.divide(gradient, denominator)
        if self.hyper_value("momentum", variable):
            B = self._momentum_buffers[index]
            self.assign(B, ops.add(ops.multiply(self.hyper("momentum", variable), B), step))
            step = B
        self.assign_sub(variable, ops.multiply(lr, step))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "rho": self.rho,
                "epsilon": self.epsilon,
                "centered": self.centered,
                "momentum": serialized(self.momentum),
            }
        )
        return config
