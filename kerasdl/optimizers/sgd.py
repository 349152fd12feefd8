"""Gradient descent, chapter 3.2.1, with PyTorch's `SGD` options (momentum, dampening, nesterov)."""

from typing import ClassVar

from keras import ops

from kerasdl import _checks, _registration
from kerasdl.optimizers._base import (
    KerasdlOptimizer,
    flag,
    non_negative,
    or_schedule,
    real,
    serialized,
)
from kerasdl.optimizers._groups import is_schedule


@_registration.serializable("optimizers")
class SGD(KerasdlOptimizer):
    """Gradient descent (chapter 3.2.1), as PyTorch's `SGD`, with its `momentum` options.

    Update rule, with `eta` the learning rate, `lambda` `weight_decay`, `mu` `momentum`
    and `tau` `dampening`:

    ```
    g = -g                      # only with maximize=True
    g = g + lambda * w          # L2, only when weight_decay > 0
    b = g                                   # first step (PyTorch starts the buffer at g)
    b = mu * b + (1 - tau) * g              # later steps          } only when mu > 0
    g = g + mu * b  if nesterov else  b                            }
    w = w - eta * g
    ```

    This is `torch.optim.SGD` step for step, its heavy-ball buffer included (it starts at
    `g`, not at 0). The chapter's moving-average momentum (3.2.3, `v` from 0) is
    `kerasdl.optimizers.Momentum`, and its look-ahead form (3.2.4) `Nesterov`; they stay
    as the chapter writes them. Keras's `SGD(momentum=mu)` stores `-eta * b` and has no
    dampening.

    Args:
        learning_rate: float `>= 0`, a `keras.optimizers.schedules.LearningRateSchedule`
            or a callable. Defaults to `0.01` (the chapter's; PyTorch 2.13's is `0.001`).
        momentum: float `>= 0`, PyTorch's `momentum`, or a `LearningRateSchedule` of the step
            (momentum cycling: `OneCycleLR(...).momentum_schedule()`). Defaults to `0.0`
            (plain descent).
        dampening: float, PyTorch's `dampening` (the buffer takes `(1 - dampening) * g`
            after the first step). Defaults to `0.0`.
        nesterov: bool, PyTorch's Nesterov form; needs `momentum > 0` and `dampening == 0`.
            Defaults to `False`.
        weight_decay: float `>= 0`, L2 added to the gradient (PyTorch's meaning, not
            Keras's decoupled decay). Defaults to `0.0`.
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
        >>> opt = kerasdl.optimizers.SGD(learning_rate=0.1)
        >>> w = keras.Variable([1.0, 2.0])
        >>> opt.apply([keras.ops.convert_to_tensor([0.5, -1.0])], [w])
        >>> w.numpy()  # [1 - 0.1 * 0.5, 2 + 0.1 * 1.0]
        array([0.95, 2.1 ], dtype=float32)

    References:
        - [PyTorch `torch.optim.SGD`](https://pytorch.org/docs/stable/generated/torch.optim.SGD.html)
    """

    GROUP_CHECKS: ClassVar[dict] = {
        **KerasdlOptimizer.GROUP_CHECKS,
        "momentum": or_schedule(non_negative),
        "dampening": real,
        "nesterov": flag,
    }

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.0,
        dampening=0.0,
        nesterov=False,
        weight_decay=0.0,
        exclude_bias_and_norm=False,
        **kwargs,
    ):
        momentum = or_schedule(non_negative)("momentum", momentum)
        dampening = float(_checks.real("dampening", dampening))
        nesterov = _checks.one_of("nesterov", nesterov, (False, True))
        _check_nesterov(nesterov, momentum, dampening)
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            exclude_bias_and_norm=exclude_bias_and_norm,
            **kwargs,
        )
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = bool(nesterov)
        for group in self.group_indices():
            _check_nesterov(
                *(self.group_value(group, k) for k in ("nesterov", "momentum", "dampening"))
            )

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._momentum_buffers = []
        if self.any_group("momentum"):
            self._momentum_buffers = [
                self.add_variable_from_reference(variable, name="momentum_buffer")
                for variable in variables
            ]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = self.l2(ops.cast(gradient, dtype), variable)
        if self.hyper_value("momentum", variable):
            mu = self.hyper("momentum", variable)
            b = self._momentum_buffers[self._get_variable_index(variable)]
            damped = ops.multiply(1 - self.hyper("dampening", variable), gradient)
            later = ops.add(ops.multiply(mu, b), damped)
            self.assign(b, ops.where(ops.equal(self.iterations, 0), gradient, later))
            nesterov = self.hyper_value("nesterov", variable)
            gradient = ops.add(gradient, ops.multiply(mu, b)) if nesterov else b
        self.assign_sub(variable, ops.multiply(lr, gradient))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "momentum": serialized(self.momentum),
                "dampening": self.dampening,
                "nesterov": self.nesterov,
            }
        )
        return config


def _check_nesterov(nesterov, momentum, dampening):
    scheduled = is_schedule(momentum)
    if nesterov and ((not scheduled and momentum <= 0) or dampening != 0):
        raise ValueError(
            "`nesterov=True` needs `momentum > 0` and `dampening == 0` (as PyTorch's SGD). "
            f"Received: momentum={momentum}, dampening={dampening}"
        )
