"""AdamW (chapter 3.2.8): Adam with decoupled weight decay, as PyTorch orders it."""

from keras import ops

from kerasdl import _registration
from kerasdl.optimizers.adam import Adam


@_registration.serializable("optimizers")
class AdamW(Adam):
    """AdamW (chapter 3.2.8), as PyTorch's `AdamW`: shrink `w`, then take Adam's step.

    Update rule at step `t`, with `eta` the learning rate and `lambda` `weight_decay`:

    ```
    w = w * (1 - eta * lambda)  # decoupled: the gradient does not see the decay
    w = Adam's step on w with g (no L2 term)
    ```

    so `w_t = w_{t-1} - eta * m_hat / (sqrt(v_hat) + epsilon) - eta * lambda * w_{t-1}`,
    the chapter's formula. The decay is multiplied by the (scheduled) learning rate,
    as in PyTorch and Keras. Keras's `AdamW` differs in `epsilon` (see `Adam`) and in
    its default `weight_decay=0.004`.

    Args:
        learning_rate: float `>= 0`, a `keras.optimizers.schedules.LearningRateSchedule`
            or a callable. Defaults to `0.001`.
        beta_1: float in `[0, 1)`, the decay of `m`, or a `LearningRateSchedule` of the step
            (momentum cycling: `OneCycleLR(...).momentum_schedule()`). Defaults to `0.9`.
        beta_2: float in `[0, 1)`, the decay of `v`. Defaults to `0.999`.
        epsilon: float `> 0`, added to `sqrt(v_hat)`. Defaults to `1e-8`.
        weight_decay: float `>= 0`, the decoupled decay `lambda` (`None` is refused, as in
            Keras: pass `0.0` for no decay). Defaults to `0.01`.
        amsgrad: bool, PyTorch's AMSGrad variant (see `Adam`). Defaults to `False`.
        exclude_bias_and_norm: bool; if `True` variables of rank <= 1 do not decay.
            Defaults to `False`.
        fused: `None`, `True` or `False`, as PyTorch's `fused`. On the TensorFlow backend,
            whether the update runs as TensorFlow's fused `ResourceApplyAdam` kernel (one
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
        >>> opt = kerasdl.optimizers.AdamW(learning_rate=0.25, weight_decay=0.5)
        >>> w = keras.Variable([1.0])
        >>> opt.apply([keras.ops.convert_to_tensor([3.0])], [w])
        >>> w.numpy()  # 1 * (1 - 0.25 * 0.5) - 0.25 * sign(3)
        array([0.625], dtype=float32)

    References:
        - [Loshchilov and Hutter, 2019](https://arxiv.org/abs/1711.05101)
        - [Kingma and Ba, 2015](https://arxiv.org/abs/1412.6980)
        - [PyTorch `torch.optim.AdamW`](https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html)
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        weight_decay=0.01,
        exclude_bias_and_norm=False,
        fused=None,
        amsgrad=False,
        **kwargs,
    ):
        if weight_decay is None:
            raise ValueError(
                "Argument `weight_decay` must be a float >= 0 (0.0 for no decay); AdamW does "
                "not take None. Received: weight_decay=None"
            )
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            weight_decay=weight_decay,
            exclude_bias_and_norm=exclude_bias_and_norm,
            fused=fused,
            amsgrad=amsgrad,
            **kwargs,
        )

    def decay(self, gradient, variable, learning_rate):
        """Decoupled decay: `w *= 1 - eta * lambda` now; the gradient is unchanged."""
        if self.decays(variable):
            dtype = variable.dtype
            shrink = self.per_step(
                "shrink",
                learning_rate,
                dtype,
                lambda: 1 - learning_rate * self.hyper("weight_decay", variable),
            )
            self.assign(variable, ops.multiply(variable, shrink))
        return gradient
