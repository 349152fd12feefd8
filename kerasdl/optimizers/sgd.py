"""Plain gradient descent, chapter 3.2.1."""

import keras
from keras import ops

from kerasdl.optimizers._base import KerasdlOptimizer


@keras.saving.register_keras_serializable(package="kerasdl")
class SGD(KerasdlOptimizer):
    """Gradient descent without momentum (chapter 3.2.1), as PyTorch's `SGD(lr)`.

    Update rule, with `eta` the learning rate and `lambda` `weight_decay`:

    ```
    g = g + lambda * w          # L2, only when weight_decay > 0
    w = w - eta * g
    ```

    Args:
        learning_rate: float `>= 0`, a `keras.optimizers.schedules.LearningRateSchedule`
            or a callable. Defaults to `0.01`.
        weight_decay: float `>= 0`, L2 added to the gradient (PyTorch's meaning, not
            Keras's decoupled decay). Defaults to `0.0`.
        exclude_bias_and_norm: bool; if `True` variables of rank <= 1 do not decay.
            Defaults to `False`.
        **kwargs: Keras's base optimizer arguments (`clipnorm`, `clipvalue`,
            `global_clipnorm`, `use_ema`, `ema_momentum`, `ema_overwrite_frequency`,
            `loss_scale_factor`, `gradient_accumulation_steps`, `name`).

    Examples:
        >>> opt = kerasdl.optimizers.SGD(learning_rate=0.1)
        >>> w = keras.Variable([1.0, 2.0])
        >>> opt.apply([keras.ops.convert_to_tensor([0.5, -1.0])], [w])
        >>> w.numpy()  # [1 - 0.1 * 0.5, 2 + 0.1 * 1.0]
        array([0.95, 2.1 ], dtype=float32)

    References:
        - [PyTorch `torch.optim.SGD`](https://pytorch.org/docs/stable/generated/torch.optim.SGD.html)
    """

    def __init__(self, learning_rate=0.01, weight_decay=0.0, exclude_bias_and_norm=False, **kwargs):
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            exclude_bias_and_norm=exclude_bias_and_norm,
            **kwargs,
        )

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = self.l2(ops.cast(gradient, variable.dtype), variable)
        self.assign_sub(variable, ops.multiply(lr, gradient))
