"""Learning-rate schedules of chapter 3.5: step, exponential and cosine decay, and warmup.

Every schedule is a `keras.optimizers.schedules.LearningRateSchedule`: the optimizer calls it
with its 0-based step (`optimizer.iterations`) before every update, and it returns a float32
scalar. PyTorch's schedulers are stepped once an epoch instead (chapter 3.5.1), so the epoch
schedules take `steps_per_epoch` and count their arguments (`step_size`, `T_max`) in epochs,
as PyTorch does:

```
epoch = step // steps_per_epoch
```

The warmups count optimizer steps. `LinearWarmup` joins a ramp to any schedule or constant:
`LinearWarmup(after=CosineAnnealingLR(...), warmup_steps=500)`.

Everything is computed with `keras.ops` (no Python branch on the step's value), so a schedule
traces under `tf.function(jit_compile=True)` and `jax.jit`, and runs on the TensorFlow, JAX
and torch backends.
"""

import math
import struct

import keras
from keras import ops

from kerasdl import _checks

__all__ = ["CosineAnnealingLR", "ExponentialLR", "LinearWarmup", "NoamWarmup", "StepLR"]

_LearningRateSchedule = keras.optimizers.schedules.LearningRateSchedule


@keras.saving.register_keras_serializable(package="kerasdl")
class StepLR(_LearningRateSchedule):
    """Decay by `gamma` every `step_size` epochs (chapter 3.5.1), as PyTorch's `StepLR`.

    With `eta_0` the `initial_learning_rate`:

    ```
    epoch = step // steps_per_epoch
    lr = eta_0 * gamma ** (epoch // step_size)
    ```

    Args:
        initial_learning_rate: float `>= 0`, the rate of the first `step_size` epochs.
        step_size: int `>= 1`, the epochs between two decays (PyTorch's `step_size`).
        gamma: float `> 0`, the factor of each decay. Defaults to `0.1`.
        steps_per_epoch: int `>= 1`, optimizer steps in an epoch; `1` makes `step_size`
            count optimizer steps. Defaults to `1`.
        name: str, the name scope of the computation. Defaults to `"StepLR"`.

    Examples:
        >>> schedule = kerasdl.schedules.StepLR(0.1, step_size=30, gamma=0.1, steps_per_epoch=100)
        >>> # epochs 0, 29, 30, 60:
        >>> [round(float(schedule(step)), 6) for step in (0, 2999, 3000, 6000)]
        [0.1, 0.1, 0.01, 0.001]

    References:
        - [PyTorch `torch.optim.lr_scheduler.StepLR`](
          https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.StepLR.html)
    """

    def __init__(
        self, initial_learning_rate, step_size, gamma=0.1, steps_per_epoch=1, name="StepLR"
    ):
        super().__init__()
        self.initial_learning_rate = _checks.non_negative(
            "initial_learning_rate", initial_learning_rate
        )
        self.step_size = _checks.positive_int("step_size", step_size)
        self.gamma = _checks.positive("gamma", gamma)
        self.steps_per_epoch = _checks.positive_int("steps_per_epoch", steps_per_epoch)
        self.name = name

    def __call__(self, step):
        with keras.name_scope(self.name):
            decays = _floor_div(step, self.steps_per_epoch * self.step_size)
            return ops.multiply(_float32(self.initial_learning_rate), _power(self.gamma, decays))

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "step_size": self.step_size,
            "gamma": self.gamma,
            "steps_per_epoch": self.steps_per_epoch,
            "name": self.name,
        }


@keras.saving.register_keras_serializable(package="kerasdl")
class ExponentialLR(_LearningRateSchedule):
    """Decay by `gamma` every epoch (chapter 3.5.1), as PyTorch's `ExponentialLR`.

    With `eta_0` the `initial_learning_rate`:

    ```
    epoch = step // steps_per_epoch
    lr = eta_0 * gamma ** epoch
    ```

    It equals Keras's `ExponentialDecay(eta_0, decay_steps=steps_per_epoch,
    decay_rate=gamma, staircase=True)`, computed more precisely: `gamma ** epoch` in float32
    is corrected for the rounding of `gamma` to float32, which would otherwise grow with the
    epoch (`0.9 ** 100` would be 2.6e-6 too small, relative).

    Args:
        initial_learning_rate: float `>= 0`, the rate of epoch 0.
        gamma: float `> 0`, the factor of each epoch.
        steps_per_epoch: int `>= 1`, optimizer steps in an epoch. Defaults to `1`.
        name: str, the name scope of the computation. Defaults to `"ExponentialLR"`.

    Examples:
        >>> schedule = kerasdl.schedules.ExponentialLR(0.1, gamma=0.5, steps_per_epoch=10)
        >>> [round(float(schedule(step)), 6) for step in (0, 9, 10, 25)]  # epochs 0, 0, 1, 2
        [0.1, 0.1, 0.05, 0.025]

    References:
        - [PyTorch `torch.optim.lr_scheduler.ExponentialLR`](
          https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.ExponentialLR.html)
    """

    def __init__(self, initial_learning_rate, gamma, steps_per_epoch=1, name="ExponentialLR"):
        super().__init__()
        self.initial_learning_rate = _checks.non_negative(
            "initial_learning_rate", initial_learning_rate
        )
        self.gamma = _checks.positive("gamma", gamma)
        self.steps_per_epoch = _checks.positive_int("steps_per_epoch", steps_per_epoch)
        self.name = name

    def __call__(self, step):
        with keras.name_scope(self.name):
            epoch = _floor_div(step, self.steps_per_epoch)
            return ops.multiply(_float32(self.initial_learning_rate), _power(self.gamma, epoch))

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "gamma": self.gamma,
            "steps_per_epoch": self.steps_per_epoch,
            "name": self.name,
        }


@keras.saving.register_keras_serializable(package="kerasdl")
class CosineAnnealingLR(_LearningRateSchedule):
    """Cosine annealing from `initial_learning_rate` to `eta_min` over `T_max` epochs (3.5.1).

    With `eta_0` the `initial_learning_rate`:

    ```
    epoch = step // steps_per_epoch
    lr = eta_min + (eta_0 - eta_min) * (1 + cos(pi * epoch / T_max)) / 2
    ```

    As PyTorch's `CosineAnnealingLR`, the rate is not held at `eta_min` after `T_max`: it
    rises back to `eta_0` at `2 * T_max` (a cosine of period `2 * T_max`, which is what
    PyTorch's recursive form computes). Keras's `CosineDecay` stays at its floor instead.
    The code evaluates the same formula as
    `eta_min + (eta_0 - eta_min) * sin(pi * (T_max - epoch % (2 * T_max)) / (2 * T_max)) ** 2`,
    which keeps float32 precision near `eta_min`.

    Args:
        initial_learning_rate: float `>= 0`, the rate at epoch 0 (PyTorch's base lr).
        T_max: int `>= 1`, the epochs of a half period (PyTorch's `T_max`).
        eta_min: float in `[0, initial_learning_rate]`, the rate at `T_max`. Defaults to `0.0`.
        steps_per_epoch: int `>= 1`, optimizer steps in an epoch. Defaults to `1`.
        name: str, the name scope of the computation. Defaults to `"CosineAnnealingLR"`.

    Examples:
        >>> schedule = kerasdl.schedules.CosineAnnealingLR(0.1, T_max=4)
        >>> [round(float(schedule(step)), 6) for step in range(9)]
        [0.1, 0.085355, 0.05, 0.014645, 0.0, 0.014645, 0.05, 0.085355, 0.1]

    References:
        - [Loshchilov & Hutter, 2017. SGDR: Stochastic Gradient Descent with Warm Restarts](
          https://arxiv.org/abs/1608.03983)
        - [PyTorch `torch.optim.lr_scheduler.CosineAnnealingLR`](
          https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.CosineAnnealingLR.html)
    """

    def __init__(
        self,
        initial_learning_rate,
        T_max,
        eta_min=0.0,
        steps_per_epoch=1,
        name="CosineAnnealingLR",
    ):
        super().__init__()
        self.initial_learning_rate = _checks.non_negative(
            "initial_learning_rate", initial_learning_rate
        )
        self.T_max = _checks.positive_int("T_max", T_max)
        self.eta_min = _checks.in_range(
            "eta_min", eta_min, 0.0, self.initial_learning_rate, high_closed=True
        )
        self.steps_per_epoch = _checks.positive_int("steps_per_epoch", steps_per_epoch)
        self.name = name

    def __call__(self, step):
        with keras.name_scope(self.name):
            epoch = _floor_div(step, self.steps_per_epoch)
            period = 2 * self.T_max
            # T_max - epoch is an exact integer in (-T_max, T_max]: sin is precise near 0.
            phase = ops.subtract(_float32(self.T_max), ops.mod(epoch, _float32(period)))
            half_cosine = ops.square(ops.sin(ops.multiply(phase, math.pi / period)))
            return ops.add(
                _float32(self.eta_min),
                ops.multiply(_float32(self.initial_learning_rate - self.eta_min), half_cosine),
            )

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "T_max": self.T_max,
            "eta_min": self.eta_min,
            "steps_per_epoch": self.steps_per_epoch,
            "name": self.name,
        }


@keras.saving.register_keras_serializable(package="kerasdl")
class NoamWarmup(_LearningRateSchedule):
    """The Transformer's warmup (chapter 3.5.2): a linear rise, then decay as `1/sqrt(step)`.

    With the step counted from 1 (the chapter's formula divides by zero at 0; see the errata):

    ```
    s = step + 1
    lr = scale * d_model ** -0.5 * min(s ** -0.5, s * warmup_steps ** -1.5)
    ```

    The peak, `scale * (d_model * warmup_steps) ** -0.5`, is at `s = warmup_steps`, that is
    at step `warmup_steps - 1`. Optimizer step `k` gets the rate the chapter's
    `WarmupScheduler` sets at its `k + 1`-th `step()` call; PyTorch's equivalent is
    `LambdaLR(optimizer(lr=scale), lambda k: noam(k + 1))`.

    Args:
        d_model: int `>= 1`, the model width.
        warmup_steps: int `>= 1`, the optimizer steps of the rise.
        scale: float `>= 0`, a factor on the whole schedule (the base lr that PyTorch's
            `LambdaLR` multiplies). Defaults to `1.0`.
        name: str, the name scope of the computation. Defaults to `"NoamWarmup"`.

    Examples:
        >>> schedule = kerasdl.schedules.NoamWarmup(d_model=512, warmup_steps=4000)
        >>> round(float(schedule(3999)), 8)  # the peak: (512 * 4000) ** -0.5
        0.00069877

    References:
        - [Vaswani et al., 2017. Attention Is All You Need, section 5.3](
          https://arxiv.org/abs/1706.03762)
        - [PyTorch `torch.optim.lr_scheduler.LambdaLR`](
          https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.LambdaLR.html)
    """

    def __init__(self, d_model, warmup_steps, scale=1.0, name="NoamWarmup"):
        super().__init__()
        self.d_model = _checks.positive_int("d_model", d_model)
        self.warmup_steps = _checks.positive_int("warmup_steps", warmup_steps)
        self.scale = _checks.non_negative("scale", scale)
        self.name = name

    def __call__(self, step):
        with keras.name_scope(self.name):
            s = ops.add(ops.cast(step, "float32"), 1.0)
            rise = ops.multiply(s, self.warmup_steps**-1.5)
            decay = ops.divide(1.0, ops.sqrt(s))
            return ops.multiply(self.scale * self.d_model**-0.5, ops.minimum(decay, rise))

    def get_config(self):
        return {
            "d_model": self.d_model,
            "warmup_steps": self.warmup_steps,
            "scale": self.scale,
            "name": self.name,
        }


@keras.saving.register_keras_serializable(package="kerasdl")
class LinearWarmup(_LearningRateSchedule):
    """A linear ramp from `initial_learning_rate` into any schedule or constant (3.5.2).

    With `W` the `warmup_steps`, `eta_w` the `initial_learning_rate`, and `after` a schedule
    that then runs from its own step 0 (a constant `after` is a schedule that returns it):

    ```
    lr = eta_w + (after(0) - eta_w) * step / W     if step < W
    lr = after(step - W)                          otherwise
    ```

    Step 0 gets `eta_w`, step `W` gets `after(0)`: the ramp is the straight line between
    them, as Keras's `CosineDecay(warmup_steps=...)` and Hugging Face's
    `get_cosine_schedule_with_warmup` do. `W` counts optimizer steps, also when `after` counts
    epochs (`after`'s epochs start at step `W`). `warmup_steps=0` means no warmup:
    `lr = after(step)`. PyTorch's equivalent is a `LambdaLR` stepped every optimizer step
    whose lambda is the ramp, then `after`'s values (docs/schedules.md).

    Args:
        after: float `>= 0` or a `keras.optimizers.schedules.LearningRateSchedule` (kerasdl's
            or Keras's, nested warmups too): the rate once the warmup is over.
        warmup_steps: int `>= 0`, the optimizer steps of the ramp.
        initial_learning_rate: float `>= 0`, the rate at step 0. Defaults to `0.0`.
        name: str, the name scope of the computation. Defaults to `"LinearWarmup"`.

    Examples:
        >>> cosine = kerasdl.schedules.CosineAnnealingLR(0.1, T_max=90, steps_per_epoch=100)
        >>> schedule = kerasdl.schedules.LinearWarmup(after=cosine, warmup_steps=500)
        >>> [round(float(schedule(step)), 6) for step in (0, 250, 500, 9500)]
        [0.0, 0.05, 0.1, 0.0]

    References:
        - [Goyal et al., 2017. Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour,
          section 2.2](https://arxiv.org/abs/1706.02677)
        - [optax `linear_schedule` and `join_schedules`](
          https://optax.readthedocs.io/en/latest/api/optimizer_schedules.html)
    """

    def __init__(self, after, warmup_steps, initial_learning_rate=0.0, name="LinearWarmup"):
        super().__init__()
        if not isinstance(after, _LearningRateSchedule):
            try:
                after = _checks.non_negative("after", after)
            except ValueError:
                raise ValueError(
                    "Argument `after` must be a float >= 0 or a LearningRateSchedule. "
                    f"Received: after={after!r}"
                ) from None
        self.after = after
        self.warmup_steps = _checks.non_negative_int("warmup_steps", warmup_steps)
        self.initial_learning_rate = _checks.non_negative(
            "initial_learning_rate", initial_learning_rate
        )
        self.name = name

    def _after(self, step):
        if isinstance(self.after, _LearningRateSchedule):
            return ops.cast(self.after(step), "float32")
        return ops.full_like(step, self.after, dtype="float32")  # the step's shape

    def __call__(self, step):
        with keras.name_scope(self.name):
            step = ops.convert_to_tensor(step)
            if self.warmup_steps == 0:
                return self._after(step)
            warmup_steps = ops.cast(self.warmup_steps, step.dtype)
            # Both branches are computed; clamping keeps each one at steps it is defined for.
            done = ops.divide(
                ops.cast(ops.minimum(step, warmup_steps), "float32"), float(self.warmup_steps)
            )
            start = _float32(self.initial_learning_rate)
            target = self._after(ops.zeros_like(step))
            ramp = ops.add(start, ops.multiply(ops.subtract(target, start), done))
            rest = self._after(ops.maximum(ops.subtract(step, warmup_steps), 0))
            return ops.where(ops.less(step, warmup_steps), ramp, rest)

    def get_config(self):
        after = self.after
        if isinstance(after, _LearningRateSchedule):
            after = keras.optimizers.schedules.serialize(after)
        return {
            "after": after,
            "warmup_steps": self.warmup_steps,
            "initial_learning_rate": self.initial_learning_rate,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["after"], dict):
            config["after"] = keras.optimizers.schedules.deserialize(config["after"])
        return cls(**config)


def _float32(value):
    return ops.convert_to_tensor(value, dtype="float32")


def _floor_div(step, divisor):
    """`step // divisor` as a float32 integer (exact below 2**24)."""
    return ops.cast(ops.floor_divide(ops.convert_to_tensor(step), divisor), "float32")


def _power(base, exponent):
    """`base ** exponent` in float32, for a Python float `base > 0` and a float32 `exponent`.

    `float32(base) ** n` is off by `n` times the rounding error of `float32(base)`;
    `exp(n * log(base / float32(base)))`, whose logarithm is taken in float64, puts it back,
    so the result is within a few float32 ulps of `base ** n`.
    """
    base32 = struct.unpack("f", struct.pack("f", base))[0]
    correction = math.log(base / base32)
    return ops.multiply(
        ops.power(_float32(base32), exponent), ops.exp(ops.multiply(exponent, correction))
    )
