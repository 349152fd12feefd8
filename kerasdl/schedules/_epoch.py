"""The rest of PyTorch's per-epoch schedulers: milestones, constant and linear factors,
polynomial decay, lambdas, and cosine annealing with warm restarts."""

import itertools

import keras
import numpy as np
from keras import ops

from kerasdl import _checks, _registration
from kerasdl.schedules import _base


def _milestones(name, milestones, *, strictly=False):
    try:
        values = [_checks.non_negative_int(name, m) for m in milestones]
    except TypeError:
        _checks._fail(name, "a list of integers >= 0", milestones)
    pairs = itertools.pairwise(values)
    if any(b < a or (strictly and b == a) for a, b in pairs):
        order = "increasing" if strictly else "non-decreasing"
        _checks._fail(name, f"a list of integers >= 0 in {order} order", list(milestones))
    return values


class _EpochSchedule(_base.Schedule):
    """`initial_learning_rate * self._factor(step)`, the epoch counted as PyTorch's."""

    def __call__(self, step):
        with keras.name_scope(self.name):
            return ops.multiply(self._const(self.initial_learning_rate), self._factor(step))

    def _common(self, initial_learning_rate, steps_per_epoch, name, dtype):
        self.initial_learning_rate = _checks.non_negative(
            "initial_learning_rate", initial_learning_rate
        )
        self.steps_per_epoch = _checks.positive_int("steps_per_epoch", steps_per_epoch)
        self.name = name
        self.dtype = _base.check_dtype(dtype)

    def _common_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "steps_per_epoch": self.steps_per_epoch,
            "name": self.name,
            "dtype": self.dtype,
        }


@_registration.serializable("schedules")
class MultiStepLR(_EpochSchedule):
    """Decay by `gamma` at each milestone epoch, as PyTorch's `MultiStepLR`.

    Counts epochs. With `eta_0` the `initial_learning_rate`:

    ```
    epoch = step // steps_per_epoch
    lr = eta_0 * gamma ** (number of milestones <= epoch)
    ```

    A milestone given twice decays twice (PyTorch counts them).

    Args:
        initial_learning_rate: float `>= 0`, the rate before the first milestone.
        milestones: list of int `>= 0` in non-decreasing order, the epochs of the decays.
        gamma: float `> 0`, the factor of each decay. Defaults to `0.1`.
        steps_per_epoch: int `>= 1`, optimizer steps in an epoch. Defaults to `1`.
        name: str, the name scope of the computation. Defaults to `"MultiStepLR"`.
        dtype: `None` or a float dtype, the dtype of the rate. `None` (the default) is
            `keras.backend.floatx()` when called: float32, or float64 in a float64 run.

    Examples:
        >>> schedule = kerasdl.schedules.MultiStepLR(0.1, milestones=[2, 4], gamma=0.5)
        >>> [round(float(schedule(step)), 6) for step in range(6)]
        [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]

    References:
        - [PyTorch `torch.optim.lr_scheduler.MultiStepLR`](
          https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.MultiStepLR.html)
    """

    def __init__(
        self,
        initial_learning_rate,
        milestones,
        gamma=0.1,
        steps_per_epoch=1,
        name="MultiStepLR",
        dtype=None,
    ):
        super().__init__()
        self._common(initial_learning_rate, steps_per_epoch, name, dtype)
        self.milestones = _milestones("milestones", milestones)
        self.gamma = _checks.positive("gamma", gamma)

    def _factor(self, step):
        epoch = self._epoch(step)
        count = ops.zeros_like(epoch)
        for milestone in self.milestones:
            count = ops.add(count, ops.cast(ops.greater_equal(epoch, milestone), count.dtype))
        return _base.power(self.gamma, count, self._dtype())

    def get_config(self):
        return {**self._common_config(), "milestones": self.milestones, "gamma": self.gamma}


@_registration.serializable("schedules")
class ConstantLR(_EpochSchedule):
    """A constant `factor` for the first `total_iters` epochs, as PyTorch's `ConstantLR`.

    Counts epochs. With `eta_0` the `initial_learning_rate`:

    ```
    epoch = step // steps_per_epoch
    lr = eta_0 * factor     if epoch < total_iters
    lr = eta_0              otherwise
    ```

    Args:
        initial_learning_rate: float `>= 0`, the rate from epoch `total_iters` on.
        factor: float in `(0, 1]`, the factor of the first epochs. Defaults to `1/3`
            (0.3333333333333333).
        total_iters: int `>= 1`, the epochs at `factor` (PyTorch's `0` is the factor for
            ever when stepped, none in its closed form: not accepted). Defaults to `5`.
        steps_per_epoch: int `>= 1`, optimizer steps in an epoch. Defaults to `1`.
        name: str, the name scope of the computation. Defaults to `"ConstantLR"`.
        dtype: `None` or a float dtype, the dtype of the rate. `None` (the default) is
            `keras.backend.floatx()` when called: float32, or float64 in a float64 run.

    Examples:
        >>> schedule = kerasdl.schedules.ConstantLR(0.1, factor=0.5, total_iters=2)
        >>> [round(float(schedule(step)), 6) for step in range(4)]
        [0.05, 0.05, 0.1, 0.1]

    References:
        - [PyTorch `torch.optim.lr_scheduler.ConstantLR`](
          https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.ConstantLR.html)
    """

    def __init__(
        self,
        initial_learning_rate,
        factor=1.0 / 3,
        total_iters=5,
        steps_per_epoch=1,
        name="ConstantLR",
        dtype=None,
    ):
        super().__init__()
        self._common(initial_learning_rate, steps_per_epoch, name, dtype)
        self.factor = _checks.in_range(
            "factor", factor, 0.0, 1.0, low_closed=False, high_closed=True
        )
        self.total_iters = _checks.positive_int("total_iters", total_iters)

    def _factor(self, step):
        early = ops.less(self._epoch(step), self.total_iters)
        return ops.where(early, self._const(self.factor), self._const(1.0))

    def get_config(self):
        config = {"factor": self.factor, "total_iters": self.total_iters}
        return {**self._common_config(), **config}


@_registration.serializable("schedules")
class LinearLR(_EpochSchedule):
    """A factor going linearly from `start_factor` to `end_factor`, as PyTorch's `LinearLR`.

    Counts epochs. With `eta_0` the `initial_learning_rate`:

    ```
    epoch = step // steps_per_epoch
    lr = eta_0 * (start_factor + (end_factor - start_factor) * min(epoch, total_iters)
                  / total_iters)
    ```

    Args:
        initial_learning_rate: float `>= 0`, the rate the factors multiply.
        start_factor: float in `(0, 1]`, the factor at epoch 0. Defaults to `1/3`
            (0.3333333333333333).
        end_factor: float in `[0, 1]`, the factor from epoch `total_iters` on. Defaults
            to `1.0`.
        total_iters: int `>= 1`, the epochs of the ramp. Defaults to `5`.
        steps_per_epoch: int `>= 1`, optimizer steps in an epoch. Defaults to `1`.
        name: str, the name scope of the computation. Defaults to `"LinearLR"`.
        dtype: `None` or a float dtype, the dtype of the rate. `None` (the default) is
            `keras.backend.floatx()` when called: float32, or float64 in a float64 run.

    Examples:
        >>> schedule = kerasdl.schedules.LinearLR(0.1, start_factor=0.25, total_iters=3)
        >>> [round(float(schedule(step)), 6) for step in range(5)]
        [0.025, 0.05, 0.075, 0.1, 0.1]

    References:
        - [PyTorch `torch.optim.lr_scheduler.LinearLR`](
          https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.LinearLR.html)
    """

    def __init__(
        self,
        initial_learning_rate,
        start_factor=1.0 / 3,
        end_factor=1.0,
        total_iters=5,
        steps_per_epoch=1,
        name="LinearLR",
        dtype=None,
    ):
        super().__init__()
        self._common(initial_learning_rate, steps_per_epoch, name, dtype)
        self.start_factor = _checks.in_range(
            "start_factor", start_factor, 0.0, 1.0, low_closed=False, high_closed=True
        )
        self.end_factor = _checks.in_range("end_factor", end_factor, 0.0, 1.0, high_closed=True)
        self.total_iters = _checks.positive_int("total_iters", total_iters)

    def _factor(self, step):
        # (Python numbers beside a float64 tensor: Keras's torch backend would compute float32.)
        total = self._const(self.total_iters)
        epoch = _base.minimum(self._epoch(step), total)
        done, left = ops.divide(epoch, total), ops.divide(ops.subtract(total, epoch), total)
        # From the nearer end: no cancellation near a small end_factor.
        slope = self._const(self.end_factor - self.start_factor)
        near_start = ops.add(self._const(self.start_factor), ops.multiply(slope, done))
        near_end = ops.subtract(self._const(self.end_factor), ops.multiply(slope, left))
        return ops.where(ops.less(done, 0.5), near_start, near_end)

    def get_config(self):
        config = {
            "start_factor": self.start_factor,
            "end_factor": self.end_factor,
            "total_iters": self.total_iters,
        }
        return {**self._common_config(), **config}


@_registration.serializable("schedules")
class PolynomialLR(_EpochSchedule):
    """Polynomial decay to 0 over `total_iters` epochs, as PyTorch's `PolynomialLR`.

    Counts epochs. With `eta_0` the `initial_learning_rate`:

    ```
    epoch = step // steps_per_epoch
    lr = eta_0 * (1 - min(epoch, total_iters) / total_iters) ** power
    ```

    The rate is 0 from epoch `total_iters` on (PyTorch holds it there).

    Args:
        initial_learning_rate: float `>= 0`, the rate at epoch 0.
        total_iters: int `>= 1`, the epochs of the decay. Defaults to `5`.
        power: float `> 0`, the power of the polynomial. Defaults to `1.0`.
        steps_per_epoch: int `>= 1`, optimizer steps in an epoch. Defaults to `1`.
        name: str, the name scope of the computation. Defaults to `"PolynomialLR"`.
        dtype: `None` or a float dtype, the dtype of the rate. `None` (the default) is
            `keras.backend.floatx()` when called: float32, or float64 in a float64 run.

    Examples:
        >>> schedule = kerasdl.schedules.PolynomialLR(0.1, total_iters=4, power=2.0)
        >>> [round(float(schedule(step)), 6) for step in range(6)]
        [0.1, 0.05625, 0.025, 0.00625, 0.0, 0.0]

    References:
        - [PyTorch `torch.optim.lr_scheduler.PolynomialLR`](
          https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.PolynomialLR.html)
    """

    def __init__(
        self,
        initial_learning_rate,
        total_iters=5,
        power=1.0,
        steps_per_epoch=1,
        name="PolynomialLR",
        dtype=None,
    ):
        super().__init__()
        self._common(initial_learning_rate, steps_per_epoch, name, dtype)
        self.total_iters = _checks.positive_int("total_iters", total_iters)
        self.power = _checks.positive("power", power)

    def _factor(self, step):
        total = self._const(self.total_iters)
        left = ops.subtract(total, _base.minimum(self._epoch(step), total))
        return ops.power(ops.divide(left, total), self._const(self.power))

    def get_config(self):
        config = {"total_iters": self.total_iters, "power": self.power}
        return {**self._common_config(), **config}


class _LambdaSchedule(_EpochSchedule):
    def get_config(self):
        lr_lambda = _base.serialize_function("lr_lambda", self.lr_lambda)
        return {**self._common_config(), "lr_lambda": lr_lambda}


@_registration.serializable("schedules")
class LambdaLR(_LambdaSchedule):
    """The rate times a function of the epoch, as PyTorch's `LambdaLR`.

    Counts epochs. With `eta_0` the `initial_learning_rate`:

    ```
    epoch = step // steps_per_epoch
    lr = eta_0 * lr_lambda(epoch)
    ```

    `lr_lambda` receives the epoch as a float tensor of the schedule's dtype (of the step's
    shape) and must be written with `keras.ops`, without a Python branch on its value (it is
    traced). To save a model with this schedule, `lr_lambda` must be a function registered
    with `keras.saving.register_keras_serializable` or a registered class with `get_config`;
    a lambda works in memory, and `get_config` raises a `ValueError` saying so.

    Args:
        initial_learning_rate: float `>= 0`, the rate the lambda multiplies.
        lr_lambda: callable, the factor of an epoch (a float tensor).
        steps_per_epoch: int `>= 1`, optimizer steps in an epoch. Defaults to `1`.
        name: str, the name scope of the computation. Defaults to `"LambdaLR"`.
        dtype: `None` or a float dtype, the dtype of the rate. `None` (the default) is
            `keras.backend.floatx()` when called: float32, or float64 in a float64 run.

    Examples:
        >>> schedule = kerasdl.schedules.LambdaLR(0.1, lambda epoch: 0.5 ** epoch)
        >>> [round(float(schedule(step)), 6) for step in range(3)]
        [0.1, 0.05, 0.025]

    References:
        - [PyTorch `torch.optim.lr_scheduler.LambdaLR`](
          https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.LambdaLR.html)
    """

    def __init__(
        self, initial_learning_rate, lr_lambda, steps_per_epoch=1, name="LambdaLR", dtype=None
    ):
        super().__init__()
        self._common(initial_learning_rate, steps_per_epoch, name, dtype)
        self.lr_lambda = _base.check_function("lr_lambda", lr_lambda)

    def _factor(self, step):
        return ops.cast(self.lr_lambda(self._epoch(step)), self._dtype())

    def plateau_gain(self, since, step):
        """PyTorch's `LambdaLR` recomputes the rate from its base at each epoch: a rate that
        `ReduceLROnPlateau` set lasts until the next epoch (see `Schedule.plateau_gain`).

        Args:
            since: int, the optimizer step whose rate `ReduceLROnPlateau` set.
            step: int `>= since`, the optimizer step asked about.

        Returns:
            ``(gain, offset)``: ``(1, 0)`` in the epoch of ``since``, ``(0, schedule(step))``
            after.
        """
        return _base.recomputed(self, since, step, self.steps_per_epoch)


@_registration.serializable("schedules")
class MultiplicativeLR(_LambdaSchedule):
    """The rate times the product of a function over the epochs so far, as `MultiplicativeLR`.

    Counts epochs. With `eta_0` the `initial_learning_rate`:

    ```
    epoch = step // steps_per_epoch
    lr = eta_0 * lr_lambda(1) * lr_lambda(2) * ... * lr_lambda(min(epoch, max_epochs))
    ```

    PyTorch multiplies the rate by `lr_lambda(epoch)` at each epoch; a traced schedule has no
    state, so the products are computed once, in float64 with NumPy, when the schedule is
    made, for epochs `0..max_epochs`: `lr_lambda` is called there once with all of them (a
    float64 array; write it with `keras.ops` or NumPy, elementwise; epoch 0's factor is used
    only by `SequentialLR`). From `max_epochs` on,
    the rate holds (PyTorch would go on multiplying): give `max_epochs` at least the epochs
    of the run. `lr_lambda` is serialized as `LambdaLR`'s.

    Args:
        initial_learning_rate: float `>= 0`, the rate of epoch 0.
        lr_lambda: callable, the factor of each epoch (`1, 2, ...`).
        max_epochs: int `>= 0`, the last epoch whose factor is multiplied in.
        steps_per_epoch: int `>= 1`, optimizer steps in an epoch. Defaults to `1`.
        name: str, the name scope of the computation. Defaults to `"MultiplicativeLR"`.
        dtype: `None` or a float dtype, the dtype of the rate. `None` (the default) is
            `keras.backend.floatx()` when called: float32, or float64 in a float64 run.

    Examples:
        >>> schedule = kerasdl.schedules.MultiplicativeLR(0.1, lambda e: 0.5 + 0 * e, 10)
        >>> [round(float(schedule(step)), 6) for step in range(3)]
        [0.1, 0.05, 0.025]

    References:
        - [PyTorch `torch.optim.lr_scheduler.MultiplicativeLR`](
          https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.MultiplicativeLR.html)
    """

    def __init__(
        self,
        initial_learning_rate,
        lr_lambda,
        max_epochs,
        steps_per_epoch=1,
        name="MultiplicativeLR",
        dtype=None,
    ):
        super().__init__()
        self._common(initial_learning_rate, steps_per_epoch, name, dtype)
        self.lr_lambda = _base.check_function("lr_lambda", lr_lambda)
        self.max_epochs = _checks.non_negative_int("max_epochs", max_epochs)
        epochs = ops.convert_to_tensor(np.arange(self.max_epochs + 1), dtype="float64")
        factors = np.broadcast_to(
            np.asarray(ops.convert_to_numpy(self.lr_lambda(epochs)), "float64"),
            (self.max_epochs + 1,),
        )
        self._at_zero = float(factors[0])  # what SequentialLR multiplies in at a milestone
        self._products = np.concatenate([[1.0], np.cumprod(factors[1:])])

    def _factor(self, step):
        index = ops.minimum(
            ops.floor_divide(ops.convert_to_tensor(step), self.steps_per_epoch), self.max_epochs
        )
        return ops.take(self._const(self._products), ops.cast(index, "int32"))

    def get_config(self):
        return {**super().get_config(), "max_epochs": self.max_epochs}


@_registration.serializable("schedules")
class CosineAnnealingWarmRestarts(_base.Schedule):
    """Cosine annealing restarted every `T_i` epochs (SGDR), as `CosineAnnealingWarmRestarts`.

    Counts epochs. With `eta_0` the `initial_learning_rate`, `t` the epoch, `T_cur` the epochs
    since the last restart and `T_i` the length of the current cycle (`T_0`, then `T_mult`
    times the last one):

    ```
    t = step // steps_per_epoch                           (per_step=False)
    t = max(step - 1, 0) / steps_per_epoch                (per_step=True)
    lr = eta_min + (eta_0 - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2
    ```

    `per_step=False` is PyTorch's scheduler stepped once an epoch (`scheduler.step()`).
    `per_step=True` is PyTorch's per-batch form from its documentation,
    `scheduler.step(epoch + i / iters)` after optimizer step `i` of each epoch, with
    `iters = steps_per_epoch`: optimizer step `k` then runs at the fractional epoch set after
    step `k - 1`, so steps 0 and 1 both get `eta_0`. Restarts are found exactly (PyTorch's
    per-batch form finds them with a float logarithm, which can miss one by a rounding).

    Args:
        initial_learning_rate: float `>= 0`, the rate at each restart.
        T_0: int `>= 1`, the epochs of the first cycle.
        T_mult: int `>= 1`, the factor of each cycle's length over the last. Defaults to `1`.
        eta_min: float `>= 0`, the rate the cosine goes to. Defaults to `0.0`.
        steps_per_epoch: int `>= 1`, optimizer steps in an epoch. Defaults to `1`.
        per_step: bool, fractional epochs as PyTorch's per-batch form. Defaults to `False`.
        name: str, the name scope of the computation. Defaults to
            `"CosineAnnealingWarmRestarts"`.
        dtype: `None` or a float dtype, the dtype of the rate. `None` (the default) is
            `keras.backend.floatx()` when called: float32, or float64 in a float64 run.

    Examples:
        >>> schedule = kerasdl.schedules.CosineAnnealingWarmRestarts(0.1, T_0=2, T_mult=2)
        >>> [round(float(schedule(step)), 6) for step in range(7)]
        [0.1, 0.05, 0.1, 0.085355, 0.05, 0.014645, 0.1]

    References:
        - [Loshchilov & Hutter, 2017. SGDR: Stochastic Gradient Descent with Warm Restarts](
          https://arxiv.org/abs/1608.03983)
        - [PyTorch `torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`](
          https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.CosineAnnealingWarmRestarts.html)
    """

    def __init__(
        self,
        initial_learning_rate,
        T_0,
        T_mult=1,
        eta_min=0.0,
        steps_per_epoch=1,
        per_step=False,
        name="CosineAnnealingWarmRestarts",
        dtype=None,
    ):
        super().__init__()
        self.initial_learning_rate = _checks.non_negative(
            "initial_learning_rate", initial_learning_rate
        )
        self.T_0 = _checks.positive_int("T_0", T_0)
        self.T_mult = _checks.positive_int("T_mult", T_mult)
        self.eta_min = _checks.non_negative("eta_min", eta_min)
        self.steps_per_epoch = _checks.positive_int("steps_per_epoch", steps_per_epoch)
        self.per_step = _base.boolean("per_step", per_step)
        self.name = name
        self.dtype = _base.check_dtype(dtype)

    def _time(self, step):
        """The epoch (fractional with `per_step`) in the steps' units: `t * steps_per_epoch`."""
        dtype = self._dtype()
        if self.per_step:
            return _base.as_float(ops.maximum(ops.subtract(step, 1), 0), dtype)
        return ops.multiply(self._epoch(step), float(self.steps_per_epoch))

    def _cycle(self, time):
        """`(time since the restart, cycle length)`, both in steps (exact integers)."""
        length = float(self.T_0 * self.steps_per_epoch)
        if self.T_mult == 1:
            return ops.mod(time, length), ops.full_like(time, length)
        # The cycle starts, exact in Python: the cycle of `time` is how many are <= it.
        starts, lengths = [0.0], [length]
        while starts[-1] < 2.0**53:
            starts.append(starts[-1] + lengths[-1])
            lengths.append(lengths[-1] * self.T_mult)
        n = ops.zeros_like(time, dtype="int32")
        for start in starts[1:]:
            n = ops.add(n, ops.cast(ops.greater_equal(time, start), "int32"))
        start = ops.take(self._const(starts), n)
        return ops.subtract(time, start), ops.take(self._const(lengths), n)

    def __call__(self, step):
        with keras.name_scope(self.name):
            since, length = self._cycle(self._time(step))
            shape = _base.half_cosine(ops.subtract(length, since), length, self._dtype())
            span = self._const(self.initial_learning_rate - self.eta_min)
            return ops.add(self._const(self.eta_min), ops.multiply(span, shape))

    def plateau_gain(self, since, step):
        """PyTorch recomputes the rate from its base at each of its steps: a rate that
        `ReduceLROnPlateau` set lasts until the next epoch (the next optimizer step with
        `per_step`, PyTorch's per-batch form) (see `Schedule.plateau_gain`).

        Args:
            since: int, the optimizer step whose rate `ReduceLROnPlateau` set.
            step: int `>= since`, the optimizer step asked about.

        Returns:
            ``(gain, offset)``: ``(1, 0)`` until then, ``(0, schedule(step))`` after.
        """
        return _base.recomputed(self, since, step, 1 if self.per_step else self.steps_per_epoch)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "T_0": self.T_0,
            "T_mult": self.T_mult,
            "eta_min": self.eta_min,
            "steps_per_epoch": self.steps_per_epoch,
            "per_step": self.per_step,
            "name": self.name,
            "dtype": self.dtype,
        }
