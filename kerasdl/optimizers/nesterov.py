"""Nesterov accelerated gradient (chapter 3.2.4), in PyTorch's look-ahead form."""

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
class Nesterov(KerasdlOptimizer):
    """Nesterov momentum (chapter 3.2.4), as PyTorch's `SGD(momentum=beta, nesterov=True)`.

    The chapter takes the gradient at the look-ahead point `W - eta * beta * v`:

    ```
    v = beta * v + grad L(W - eta * beta * v)
    W = W - eta * v
    ```

    Like PyTorch (and Sutskever et al., 2013), kerasdl stores the look-ahead point
    `w = W - eta * beta * v` as the variable, so the gradient it is given, `g`, is
    the one the chapter needs. With `lambda` `weight_decay` and `v` starting at 0:

    ```
    g = g + lambda * w          # L2, only when weight_decay > 0
    v = beta * v + g
    w = w - eta * (g + beta * v)
    ```

    Substituting `w = W - eta * beta * v` turns this back into the chapter's rule,
    so both are the same method; the variable holds the look-ahead point.

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
        >>> opt = kerasdl.optimizers.Nesterov(learning_rate=0.1, momentum=0.9)
        >>> w = keras.Variable([1.0])
        >>> opt.apply([keras.ops.convert_to_tensor([1.0])], [w])
        >>> w.numpy()  # v = 1, w = 1 - 0.1 * (1 + 0.9 * 1)
        array([0.81], dtype=float32)

    References:
        - [Nesterov, 1983](https://www.mathnet.ru/eng/dan46009)
        - [Sutskever et al., 2013](https://proceedings.mlr.press/v28/sutskever13.html)
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
        self.assign(v, ops.add(ops.multiply(beta, v), gradient))
        self.assign_sub(variable, ops.multiply(lr, ops.add(gradient, ops.multiply(beta, v))))

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": serialized(self.momentum)})
        return config
