"""Adam (chapter 3.2.7), with PyTorch's arithmetic and PyTorch's L2 `weight_decay`."""

from typing import ClassVar

import keras
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

_FUSED_DTYPES = frozenset({"float16", "bfloat16", "float32", "float64"})


@_registration.serializable("optimizers")
class Adam(KerasdlOptimizer):
    """Adam (chapter 3.2.7), as PyTorch's `Adam` (epsilon added to `sqrt(v_hat)`).

    Update rule at step `t` (counting from 1), with `eta` the learning rate and
    `lambda` `weight_decay`; `m` and `v` start at 0:

    ```
    g = g + lambda * w          # L2 (coupled), only when weight_decay > 0
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g^2
    w = w - eta * m_hat / (sqrt(v_hat) + epsilon)
        where m_hat = m / (1 - beta_1^t), v_hat = v / (1 - beta_2^t)
    ```

    With `amsgrad=True` (Reddi et al., 2018; PyTorch's `amsgrad`) the denominator uses the
    running maximum `v_max = max(v_max, v)` of `v` instead of `v`.

    computed as PyTorch does: `step_size = eta / (1 - beta_1^t)`, then
    `w -= step_size * m / (sqrt(v) / sqrt(1 - beta_2^t) + epsilon)`.
    `weight_decay` here is the L2 of chapter 3.4.3 (PyTorch's `Adam(weight_decay=...)`);
    for the decoupled decay of chapter 3.2.8 use `AdamW`. Keras's `Adam` differs: its
    `epsilon` (default `1e-7`) is added after `sqrt(v)` without bias correction, which
    is a larger epsilon early in training, and its `weight_decay` is decoupled.

    Args:
        learning_rate: float `>= 0`, a `keras.optimizers.schedules.LearningRateSchedule`
            or a callable. Defaults to `0.001`.
        beta_1: float in `[0, 1)`, the decay of `m`, or a `LearningRateSchedule` of the step
            (momentum cycling: `OneCycleLR(...).momentum_schedule()`). Defaults to `0.9`.
        beta_2: float in `[0, 1)`, the decay of `v`. Defaults to `0.999`.
        epsilon: float `> 0`, added to `sqrt(v_hat)`. Defaults to `1e-8`.
        weight_decay: float `>= 0`, L2 added to the gradient. Defaults to `0.0`.
        amsgrad: bool, PyTorch's AMSGrad variant (the maximum of `v` so far in the
            denominator). Defaults to `False`.
        exclude_bias_and_norm: bool; if `True` variables of rank <= 1 do not decay.
            Defaults to `False`.
        fused: `None`, `True` or `False`, as PyTorch's `fused`. On the TensorFlow backend,
            whether the update runs as TensorFlow's fused `ResourceApplyAdam` kernel
            (`ResourceApplyAdamWithAmsgrad` with `amsgrad=True`; one
            pass over each variable, the same update up to rounding) instead of the
            `keras.ops` code. `None` uses it where it can (TensorFlow variables of a float
            dtype, not inside a `keras.StatelessScope`); `True` raises where it cannot.
            Defaults to `None`.
        **kwargs: `maximize` (bool; if `True` ascend: the gradient is negated, PyTorch's
            `maximize`; defaults to `False`), `groups` (parameter groups, PyTorch's
            `param_groups`: a list of dicts; see docs/optimizers.md) and Keras's base optimizer
            arguments (`clipnorm`,
            `clipvalue`,
            `global_clipnorm`, `use_ema`, `ema_momentum`, `ema_overwrite_frequency`,
            `loss_scale_factor`, `gradient_accumulation_steps`, `name`).

    Examples:
        >>> opt = kerasdl.optimizers.Adam(learning_rate=0.1)
        >>> w = keras.Variable([1.0])
        >>> opt.apply([keras.ops.convert_to_tensor([3.0])], [w])
        >>> w.numpy()  # the first step is eta * sign(g): m_hat = 3, v_hat = 9
        array([0.9], dtype=float32)

    References:
        - [Kingma and Ba, 2015](https://arxiv.org/abs/1412.6980)
        - [Reddi, Kale and Kumar, 2018](https://openreview.net/forum?id=ryQu7f-RZ) for `amsgrad`
        - [PyTorch `torch.optim.Adam`](https://pytorch.org/docs/stable/generated/torch.optim.Adam.html)
    """

    GROUP_CHECKS: ClassVar[dict] = {
        **KerasdlOptimizer.GROUP_CHECKS,
        "beta_1": or_schedule(checked_rate),
        "beta_2": checked_rate,
        "epsilon": positive,
        "amsgrad": flag,
    }

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        weight_decay=0.0,
        exclude_bias_and_norm=False,
        fused=None,
        amsgrad=False,
        **kwargs,
    ):
        beta_1 = or_schedule(checked_rate)("beta_1", beta_1)
        amsgrad = _checks.one_of("amsgrad", amsgrad, (False, True))
        fused = _checks.one_of("fused", fused, (None, False, True))
        fused = None if fused is None else bool(fused)
        if fused and keras.backend.backend() != "tensorflow":
            raise ValueError(
                "`fused=True` needs the TensorFlow backend (the fused kernel is TensorFlow's "
                f"ResourceApplyAdam); the backend is {keras.backend.backend()!r}. "
                "Use fused=None or fused=False."
            )
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
        self.fused = fused
        self.amsgrad = bool(amsgrad)

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
        self._velocity_maxima = []
        if self.any_group("amsgrad"):
            self._velocity_maxima = [
                self.add_variable_from_reference(variable, name="velocity_max")
                for variable in variables
            ]

    def decay(self, gradient, variable, learning_rate):
        """Adam's weight decay: L2 on the gradient. `AdamW` overrides it."""
        return self.l2(gradient, variable)

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]
        amsgrad = self.hyper_value("amsgrad", variable)
        slots = (m, v, self._velocity_maxima[index]) if amsgrad else (m, v)
        handles = self._fused_handles(variable, *slots)
        if handles is not None:
            self._fused_update_step(handles, gradient, variable, learning_rate)
            return
        lr, step_size, root_bias_correction_2 = self.per_step(
            "adam", learning_rate, dtype, lambda: self._step_values(learning_rate, variable)
        )
        beta_1 = self.hyper("beta_1", variable)
        beta_2 = self.hyper("beta_2", variable)
        epsilon = self.hyper("epsilon", variable)
        gradient = self.decay(ops.cast(gradient, dtype), variable, lr)

        self.assign_add(m, ops.multiply(1 - beta_1, ops.subtract(gradient, m)))
        self.assign(
            v, ops.add(ops.multiply(beta_2, v), ops.multiply(1 - beta_2, ops.square(gradient)))
        )
        if amsgrad:
            v_max = self._velocity_maxima[index]
            self.assign(v_max, ops.maximum(v_max, v))
            v = v_max
        denominator = ops.add(ops.divide(ops.sqrt(v), root_bias_correction_2), epsilon)
        self.assign_sub(variable, ops.multiply(step_size, ops.divide(m, denominator)))

    def _step_values(self, learning_rate, variable):
        """`(lr, lr / (1 - beta_1^t), sqrt(1 - beta_2^t))` of this step, in the variable's
        dtype."""
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        step_size = ops.divide(lr, 1 - ops.power(self.hyper("beta_1", variable), step))
        root_bias_correction_2 = ops.sqrt(1 - ops.power(self.hyper("beta_2", variable), step))
        return lr, step_size, root_bias_correction_2

    def _fused_handles(self, variable, *slots):
        """The resource handles of `(variable, m, v[, v_max])` when the fused kernel runs this
        update, else None (see `fused`)."""
        if self.fused is False:
            return None
        if keras.backend.backend() == "tensorflow" and (
            keras.backend.standardize_dtype(variable.dtype) in _FUSED_DTYPES
        ):
            from kerasdl.optimizers import _tensorflow

            handles = tuple(_tensorflow.resource_handle(x) for x in (variable, *slots))
            amsgrad_in_xla = len(slots) == 3 and _tensorflow.in_xla_context()
            if None not in handles and not amsgrad_in_xla:
                return handles
        if self.fused:
            raise ValueError(
                "`fused=True` needs TensorFlow variables of a float dtype, updated in place; "
                f"got {keras.backend.backend()} {keras.backend.standardize_dtype(variable.dtype)} "
                f"variable {variable.name!r}, or inside a keras.StatelessScope, or an AMSGrad "
                "update compiled by XLA (jit_compile: TensorFlow has no XLA kernel for "
                "ResourceApplyAdamWithAmsgrad). "
                "Use fused=None to fall back to the keras.ops update."
            )
        return None

    def _fused_update_step(self, handles, gradient, variable, learning_rate):
        from kerasdl.optimizers import _tensorflow

        dtype = variable.dtype

        def step_values():
            lr = ops.cast(learning_rate, dtype)
            step = ops.cast(self.iterations + 1, dtype)
            beta_1 = self.hyper("beta_1", variable)
            beta_2 = self.hyper("beta_2", variable)
            beta_2_power = ops.power(beta_2, step)
            return {
                "lr": lr,
                "beta_1": beta_1,
                "beta_2": beta_2,
                "beta_1_power": ops.power(beta_1, step),
                "beta_2_power": beta_2_power,
                "epsilon_hat": self.hyper("epsilon", variable) * ops.sqrt(1 - beta_2_power),
            }

        values = self.per_step("adam_fused", learning_rate, dtype, step_values)
        gradient = self.decay(ops.cast(gradient, dtype), variable, values["lr"])
        _tensorflow.apply_adam(handles, gradient, **values)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "beta_1": serialized(self.beta_1),
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "amsgrad": self.amsgrad,
                "fused": self.fused,
            }
        )
        return config
