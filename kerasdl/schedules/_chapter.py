"""The chapter's schedules (3.5): StepLR, ExponentialLR, CosineAnnealingLR and two warmups."""

import math

import keras
from keras import ops

from kerasdl import _checks, _registration
from kerasdl.schedules import _base
from kerasdl.schedules._base import LearningRateSchedule as _LearningRateSchedule


@_registration.serializable("schedules")
class StepLR(_base.Schedule):
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
        dtype: `None` or a float dtype, the dtype of the rate. `None` (the default) is
            `keras.backend.floatx()` when called: float32, or float64 in a float64 run.

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
        self,
        initial_learning_rate,
        step_size,
        gamma=0.1,
        steps_per_epoch=1,
        name="StepLR",
        dtype=None,
    ):
        super().__init__()
        self.initial_learning_rate = _checks.non_negative(
            "initial_learning_rate", initial_learning_rate
        )
        self.step_size = _checks.positive_int("step_size", step_size)
        self.gamma = _checks.positive("gamma", gamma)
        self.steps_per_epoch = _checks.positive_int("steps_per_epoch", steps_per_epoch)
        self.name = name
        self.dtype = _base.check_dtype(dtype)

    def __call__(self, step):
        with keras.name_scope(self.name):
            return ops.multiply(self._const(self.initial_learning_rate), self._factor(step))

    def _factor(self, step):
        decays = _base.floor_div(step, self.steps_per_epoch * self.step_size, self._dtype())
        return _base.power(self.gamma, decays, self._dtype())

    def plateau_gain(self, since, step):
        """Chainable (see `Schedule.plateau_gain`): ``gamma ** (decays since then)``.

        Args:
            since: int, the optimizer step whose rate `ReduceLROnPlateau` set.
            step: int `>= since`, the optimizer step asked about.

        Returns:
            ``(gain, offset)``, tensors of the schedule's dtype (offset 0).
        """
        every = self.steps_per_epoch * self.step_size
        decays = ops.subtract(
            _base.floor_div(step, every, self._dtype()),
            _base.floor_div(since, every, self._dtype()),
        )
        gain = _base.power(self.gamma, decays, self._dtype())
        return gain, ops.zeros_like(gain)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "step_size": self.step_size,
            "gamma": self.gamma,
            "steps_per_epoch": self.steps_per_epoch,
            "name": self.name,
            "dtype": self.dtype,
        }


@_registration.serializable("schedules")
class ExponentialLR(_base.Schedule):
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
        dtype: `None` or a float dtype, the dtype of the rate. `None` (the default) is
            `keras.backend.floatx()` when called: float32, or float64 in a float64 run.

    Examples:
        >>> schedule = kerasdl.schedules.ExponentialLR(0.1, gamma=0.5, steps_per_epoch=10)
        >>> [round(float(schedule(step)), 6) for step in (0, 9, 10, 25)]  # epochs 0, 0, 1, 2
        [0.1, 0.1, 0.05, 0.025]

    References:
        - [PyTorch `torch.optim.lr_scheduler.ExponentialLR`](
          https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.ExponentialLR.html)
    """

    def __init__(
        self, initial_learning_rate, gamma, steps_per_epoch=1, name="ExponentialLR", dtype=None
    ):
        super().__init__()
        self.initial_learning_rate = _checks.non_negative(
            "initial_learning_rate", initial_learning_rate
        )
        self.gamma = _checks.positive("gamma", gamma)
        self.steps_per_epoch = _checks.positive_int("steps_per_epoch", steps_per_epoch)
        self.name = name
        self.dtype = _base.check_dtype(dtype)

    def __call__(self, step):
        with keras.name_scope(self.name):
            return ops.multiply(self._const(self.initial_learning_rate), self._factor(step))

    def _factor(self, step):
        return _base.power(self.gamma, self._epoch(step), self._dtype())

    def plateau_gain(self, since, step):
        """Chainable (see `Schedule.plateau_gain`): ``gamma ** (epochs since then)``.

        Args:
            since: int, the optimizer step whose rate `ReduceLROnPlateau` set.
            step: int `>= since`, the optimizer step asked about.

        Returns:
            ``(gain, offset)``, tensors of the schedule's dtype (offset 0).
        """
        epochs = ops.subtract(self._epoch(step), self._epoch(since))
        gain = _base.power(self.gamma, epochs, self._dtype())
        return gain, ops.zeros_like(gain)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "gamma": self.gamma,
            "steps_per_epoch": self.steps_per_epoch,
            "name": self.name,
            "dtype": self.dtype,
        }


@_registration.serializable("schedules")
class CosineAnnealingLR(_base.Schedule):
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
        eta_min: float `>= 0`, the rate at `T_max` (above `initial_learning_rate`, the cosine
            rises, as PyTorch's). Defaults to `0.0`.
        steps_per_epoch: int `>= 1`, optimizer steps in an epoch. Defaults to `1`.
        name: str, the name scope of the computation. Defaults to `"CosineAnnealingLR"`.
        dtype: `None` or a float dtype, the dtype of the rate. `None` (the default) is
            `keras.backend.floatx()` when called: float32, or float64 in a float64 run.

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
        dtype=None,
    ):
        super().__init__()
        self.initial_learning_rate = _checks.non_negative(
            "initial_learning_rate", initial_learning_rate
        )
        self.T_max = _checks.positive_int("T_max", T_max)
        # PyTorch allows eta_min above the base lr (the cosine then rises): a parameter group
        # with a smaller lr than another's eta_min gets that (`rebased`).
        self.eta_min = _checks.non_negative("eta_min", eta_min)
        self.steps_per_epoch = _checks.positive_int("steps_per_epoch", steps_per_epoch)
        self.name = name
        self.dtype = _base.check_dtype(dtype)

    def __call__(self, step):
        with keras.name_scope(self.name):
            half_cosine = self._half_cosine(self._epoch(step))
            return ops.add(
                self._const(self.eta_min),
                ops.multiply(self._const(self.initial_learning_rate - self.eta_min), half_cosine),
            )

    def _half_cosine(self, epoch):
        """``(1 + cos(pi * epoch / T_max)) / 2``, precise near 0: ``T_max - epoch % (2 * T_max)``
        is an exact integer in ``(-T_max, T_max]``, whose sine is precise near 0."""
        period = 2 * self.T_max
        phase = ops.subtract(self._const(self.T_max), ops.mod(epoch, self._const(period)))
        return ops.square(_base.sin(ops.multiply(phase, self._const(math.pi / period))))

    def plateau_gain(self, since, step):
        """PyTorch's recursive form (see `Schedule.plateau_gain`), from epoch ``k`` to ``j``.

        Each step scales the distance to ``eta_min`` by ``h(i) / h(i - 1)``, ``h(i) = 1 +
        cos(pi * i / T_max)``, except the step after a zero of ``h`` (``i = T_max + 1``, mod
        ``2 * T_max``), which adds ``(eta_0 - eta_min) * (1 - cos(pi / T_max)) / 2``::

            no zero of h in (k, j]:   lr = eta_min + (r - eta_min) * h(j) / h(k)
            h(k) = 0:                 lr = lr_0(j) + (r - eta_min) * h(j) / h(k + 1)
            a zero in (k, j]:         lr = lr_0(j)          (the rate is eta_min there)

        where ``lr_0`` is the schedule without a plateau.

        Args:
            since: int, the optimizer step whose rate `ReduceLROnPlateau` set.
            step: int `>= since`, the optimizer step asked about.

        Returns:
            ``(gain, offset)``, tensors of the schedule's dtype.
        """
        k, j = self._epoch(since), self._epoch(step)
        period, t_max = self._const(2 * self.T_max), self._const(self.T_max)
        one = self._const(1.0)
        at_zero = ops.equal(ops.mod(k, period), t_max)
        # The first epoch after k where h is 0.
        next_zero = ops.add(
            ops.add(k, ops.mod(ops.subtract(ops.subtract(t_max, k), one), period)), one
        )
        passed = ops.less_equal(next_zero, j)
        same = ops.equal(j, k)
        ratio = ops.divide(
            self._half_cosine(j), self._half_cosine(ops.where(at_zero, ops.add(k, one), k))
        )
        zero = ops.zeros_like(ratio)
        gain = ops.where(same, ops.ones_like(ratio), ops.where(passed, zero, ratio))
        eta_min = self._const(self.eta_min)
        value = ops.cast(self(step), self._dtype())
        span = self._const(self.initial_learning_rate - self.eta_min)
        extra = ops.where(
            same,
            zero,
            ops.where(
                passed,
                ops.subtract(value, eta_min),
                ops.where(at_zero, ops.multiply(span, self._half_cosine(j)), zero),
            ),
        )
        return gain, ops.add(ops.multiply(eta_min, ops.subtract(one, gain)), extra)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "T_max": self.T_max,
            "eta_min": self.eta_min,
            "steps_per_epoch": self.steps_per_epoch,
            "name": self.name,
            "dtype": self.dtype,
        }


@_registration.serializable("schedules")
class NoamWarmup(_base.Schedule):
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
        dtype: `None` or a float dtype, the dtype of the rate. `None` (the default) is
            `keras.backend.floatx()` when called: float32, or float64 in a float64 run.

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

    def __init__(self, d_model, warmup_steps, scale=1.0, name="NoamWarmup", dtype=None):
        super().__init__()
        self.d_model = _checks.positive_int("d_model", d_model)
        self.warmup_steps = _checks.positive_int("warmup_steps", warmup_steps)
        self.scale = _checks.non_negative("scale", scale)
        self.name = name
        self.dtype = _base.check_dtype(dtype)

    def __call__(self, step):
        with keras.name_scope(self.name):
            s = ops.add(_base.as_float(step, self._dtype()), 1.0)
            rise = ops.multiply(s, self._const(self.warmup_steps**-1.5))
            decay = ops.divide(ops.ones_like(s), ops.sqrt(s))  # (1.0 / x: float32 on torch)
            scale = self._const(self.scale * self.d_model**-0.5)
            return ops.multiply(scale, _base.minimum(decay, rise))

    def plateau_gain(self, since, step):
        """PyTorch's `LambdaLR` stepped every optimizer step recomputes the rate: a rate that
        `ReduceLROnPlateau` set lasts one step (see `Schedule.plateau_gain`).

        Args:
            since: int, the optimizer step whose rate `ReduceLROnPlateau` set.
            step: int `>= since`, the optimizer step asked about.

        Returns:
            ``(gain, offset)``: ``(1, 0)`` at ``since``, ``(0, schedule(step))`` after.
        """
        return _base.recomputed(self, since, step)

    def get_config(self):
        return {
            "d_model": self.d_model,
            "warmup_steps": self.warmup_steps,
            "scale": self.scale,
            "name": self.name,
            "dtype": self.dtype,
        }

    def rebased(self, initial_learning_rate):
        """This schedule with `scale` set to the group's rate (PyTorch's `LambdaLR` base lr).

        Args:
            initial_learning_rate: float `>= 0`, the group's learning rate.

        Returns:
            A new `NoamWarmup`.
        """
        config = self.get_config()
        config["scale"] = _checks.non_negative("initial_learning_rate", initial_learning_rate)
        return NoamWarmup(**config)


@_registration.serializable("schedules")
class LinearWarmup(_base.Schedule):
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
        dtype: `None` or a float dtype, the dtype of the rate. `None` (the default) is
            `keras.backend.floatx()` when called: float32, or float64 in a float64 run.

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

    def __init__(
        self, after, warmup_steps, initial_learning_rate=0.0, name="LinearWarmup", dtype=None
    ):
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
        self.dtype = _base.check_dtype(dtype)

    def _after(self, step):
        if isinstance(self.after, _LearningRateSchedule):
            return ops.cast(self.after(step), self._dtype())
        return ops.full_like(step, self.after, dtype=self._dtype())  # the step's shape

    def __call__(self, step):
        with keras.name_scope(self.name):
            step = ops.convert_to_tensor(step)
            if self.warmup_steps == 0:
                return self._after(step)
            warmup_steps = ops.cast(self.warmup_steps, step.dtype)
            # Both branches are computed; clamping keeps each one at steps it is defined for.
            done = ops.divide(
                ops.cast(ops.minimum(step, warmup_steps), self._dtype()), float(self.warmup_steps)
            )
            start = self._const(self.initial_learning_rate)
            target = self._after(ops.zeros_like(step))
            ramp = ops.add(start, ops.multiply(ops.subtract(target, start), done))
            rest = self._after(ops.maximum(ops.subtract(step, warmup_steps), 0))
            return ops.where(ops.less(step, warmup_steps), ramp, rest)

    def plateau_gain(self, since, step):
        """PyTorch's `LambdaLR` form of the warmup, stepped every optimizer step, recomputes the
        rate: a rate that `ReduceLROnPlateau` set lasts one step (see
        `Schedule.plateau_gain`). With ``warmup_steps=0`` this is `after` itself: `after`'s
        gain (a constant `after` holds the set rate).

        Args:
            since: int, the optimizer step whose rate `ReduceLROnPlateau` set.
            step: int `>= since`, the optimizer step asked about.

        Returns:
            ``(gain, offset)``, tensors of the schedule's dtype.
        """
        if self.warmup_steps > 0:
            return _base.recomputed(self, since, step)
        if isinstance(self.after, _LearningRateSchedule):
            if not hasattr(self.after, "plateau_gain"):
                raise ValueError(
                    f"LinearWarmup's `after` ({type(self.after).__name__}) has no "
                    "`plateau_gain` (only kerasdl's schedules do)."
                )
            gain, offset = self.after.plateau_gain(since, step)
            return ops.cast(gain, self._dtype()), ops.cast(offset, self._dtype())
        shape = ops.add(
            ops.zeros_like(_base.as_float(since, self._dtype())),
            ops.zeros_like(_base.as_float(step, self._dtype())),
        )
        return ops.ones_like(shape), shape

    def get_config(self):
        after = self.after
        if isinstance(after, _LearningRateSchedule):
            after = keras.optimizers.schedules.serialize(after)
        return {
            "after": after,
            "warmup_steps": self.warmup_steps,
            "initial_learning_rate": self.initial_learning_rate,
            "name": self.name,
            "dtype": self.dtype,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["after"], dict):
            config["after"] = keras.optimizers.schedules.deserialize(config["after"])
        return cls(**config)

    def rebased(self, initial_learning_rate):
        """The warmup scaled to a group's rate, as PyTorch's `LambdaLR` form of it would be.

        PyTorch's equivalent is a `LambdaLR` whose lambda is this schedule divided by
        `after`'s rate (its `initial_learning_rate`, or the float): a group whose
        `initial_lr` is `g` gets the ramp and `after` scaled by `g / after`'s rate, so
        `initial_learning_rate` is scaled too and `after` is rebased to `g`.

        Args:
            initial_learning_rate: float `>= 0`, the group's learning rate.

        Returns:
            A new `LinearWarmup`.
        """
        rate = _checks.non_negative("initial_learning_rate", initial_learning_rate)
        if isinstance(self.after, _LearningRateSchedule):
            base = getattr(self.after, "initial_learning_rate", None)
            after = _base.rebase(self.after, rate)
        else:
            base, after = self.after, rate
        if not base:
            raise ValueError(
                "LinearWarmup.rebased needs `after` with a rate > 0 to scale from. "
                f"Received: after={self.after!r}"
            )
        config = self.get_config()
        config.update(after=after, initial_learning_rate=self.initial_learning_rate * rate / base)
        return LinearWarmup(**config)
