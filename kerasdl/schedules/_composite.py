"""PyTorch's compositions of schedulers: SequentialLR and ChainedScheduler."""

import copy

import keras
from keras import ops

from kerasdl import _checks, _registration
from kerasdl.schedules import _base
from kerasdl.schedules._epoch import MultiplicativeLR, _milestones

#: The kerasdl classes PyTorch's `ChainedScheduler` multiplies (their `get_lr` scales the
#: group's current lr by a factor); filled in by the package.
CHAINABLE = []


def _schedules(name, schedules):
    if isinstance(schedules, (str, bytes, dict)) or not hasattr(schedules, "__iter__"):
        _checks._fail(name, "a non-empty list of LearningRateSchedules", schedules)
    schedules = [_base.deserialize_schedule(s) for s in schedules]
    if not schedules or not all(isinstance(s, _base.LearningRateSchedule) for s in schedules):
        _checks._fail(name, "a non-empty list of LearningRateSchedules", schedules)
    return schedules


def _in_dtype(schedule, dtype):
    """`schedule` computing in `dtype` when it did not set its own (`dtype=None`): a shallow
    copy, so the member given is not changed; a nested composite's members and a warmup's
    `after` likewise. Keras's schedules (no `dtype`) and members with their own are as given."""
    if dtype is None or not isinstance(schedule, _base.Schedule) or schedule.dtype is not None:
        return schedule
    member = copy.copy(schedule)
    member.dtype = dtype
    if isinstance(member, (SequentialLR, ChainedScheduler)):
        member._members = [_in_dtype(s, dtype) for s in member.schedules]
    if isinstance(getattr(member, "after", None), _base.Schedule):
        member.after = _in_dtype(member.after, dtype)
    return member


@_registration.serializable("schedules")
class SequentialLR(_base.Schedule):
    """One schedule after another at milestone epochs, as PyTorch's `SequentialLR`.

    Counts epochs (`milestones`). With `m_1 < m_2 < ...` the milestones, schedule `i` runs from
    its own step 0 at epoch `m_i`:

    ```
    epoch = step // steps_per_epoch
    i = number of milestones <= epoch
    lr = schedules[i](step - m_i * steps_per_epoch)          (m_0 = 0)
    ```

    That is PyTorch's: at a milestone it sets the next scheduler to its epoch 0 (its closed
    form, from the group's `initial_lr`), then steps it. One exception, also PyTorch's: a
    `MultiplicativeLR` after a milestone `m_i > 0` has no closed form, so it starts from the
    rate the sequence had the epoch before and multiplies on, from `lr_lambda(0)`:
    `lr = lr(m_i - 1) * lr_lambda(0) * lr_lambda(1) * ... * lr_lambda(epoch - m_i)`.
    In PyTorch every member shares the group's `initial_lr`; here each member has its own
    rate (give them the same to be PyTorch's). A member without a `dtype` of its own computes
    in the sequence's.

    Args:
        schedules: list of `LearningRateSchedule`s (kerasdl's or Keras's), one more than
            `milestones`.
        milestones: list of int `>= 0` in increasing order, the epochs where the next
            schedule starts.
        steps_per_epoch: int `>= 1`, optimizer steps in an epoch. Defaults to `1`.
        name: str, the name scope of the computation. Defaults to `"SequentialLR"`.
        dtype: `None` or a float dtype, the dtype of the rate, and of the members that leave
            theirs `None`. `None` (the default) is `keras.backend.floatx()` when called:
            float32, or float64 in a float64 run.

    Examples:
        >>> warmup = kerasdl.schedules.LinearLR(0.1, start_factor=0.5, total_iters=2)
        >>> decay = kerasdl.schedules.ExponentialLR(0.1, gamma=0.5)
        >>> schedule = kerasdl.schedules.SequentialLR([warmup, decay], milestones=[2])
        >>> [round(float(schedule(step)), 6) for step in range(5)]
        [0.05, 0.075, 0.1, 0.05, 0.025]

    References:
        - [PyTorch `torch.optim.lr_scheduler.SequentialLR`](
          https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.SequentialLR.html)
    """

    def __init__(self, schedules, milestones, steps_per_epoch=1, name="SequentialLR", dtype=None):
        super().__init__()
        self.schedules = _schedules("schedules", schedules)
        self.milestones = _milestones("milestones", milestones, strictly=True)
        if len(self.milestones) != len(self.schedules) - 1:
            raise ValueError(
                "SequentialLR needs one milestone fewer than schedules. Received: "
                f"{len(self.schedules)} schedules and milestones={self.milestones}"
            )
        self.steps_per_epoch = _checks.positive_int("steps_per_epoch", steps_per_epoch)
        self.name = name
        self.dtype = _base.check_dtype(dtype)
        self._members = [_in_dtype(s, self.dtype) for s in self.schedules]

    @property
    def initial_learning_rate(self):
        return getattr(self.schedules[0], "initial_learning_rate", None)

    def _member(self, i, step):
        schedule = self._members[i]
        if i == 0:
            return ops.cast(schedule(step), self._dtype())
        start = self.milestones[i - 1] * self.steps_per_epoch
        local = ops.maximum(ops.subtract(step, start), 0)
        if not isinstance(schedule, MultiplicativeLR):
            return ops.cast(schedule(local), self._dtype())
        if start == 0:  # PyTorch's first step of it, at construction: a fresh one
            return ops.cast(schedule(local), self._dtype())
        # The sequence's rate the epoch before the milestone, times lr_lambda(0), then on.
        before = self._sequence(ops.convert_to_tensor(start - self.steps_per_epoch), i)
        at_zero = self._const(schedule._at_zero)
        factor = ops.multiply(ops.cast(schedule._factor(local), self._dtype()), at_zero)
        return ops.multiply(before, factor)

    def _sequence(self, step, count):
        """The rate of the first `count` members."""
        epoch = ops.floor_divide(step, self.steps_per_epoch)
        lr = self._member(0, step)
        for i in range(1, count):
            lr = ops.where(
                ops.greater_equal(epoch, self.milestones[i - 1]), self._member(i, step), lr
            )
        return lr

    def __call__(self, step):
        with keras.name_scope(self.name):
            step = ops.convert_to_tensor(step)
            return self._sequence(step, len(self.schedules))

    def plateau_gain(self, since, step):
        """PyTorch's `SequentialLR` (see `Schedule.plateau_gain`): within one member, the
        member's gain; across a milestone the member restarts from its closed form (gain 0),
        except a `MultiplicativeLR`, which multiplies on from the rate the epoch before.

        Args:
            since: int, the optimizer step whose rate `ReduceLROnPlateau` set.
            step: int `>= since`, the optimizer step asked about.

        Returns:
            ``(gain, offset)``, tensors of the schedule's dtype.
        """
        with keras.name_scope(self.name):
            since, step = ops.convert_to_tensor(since), ops.convert_to_tensor(step)
            return self._gain(since, step, len(self.schedules))

    def _member_gain(self, i, since, step):
        """The gain of member `i` from `since` to `step`, both steps of the sequence."""
        start = 0 if i == 0 else self.milestones[i - 1] * self.steps_per_epoch
        schedule = self._members[i]
        if not hasattr(schedule, "plateau_gain"):
            raise ValueError(
                f"SequentialLR's member {i} ({type(schedule).__name__}) has no `plateau_gain` "
                "(only kerasdl's schedules do)."
            )
        local_since = ops.maximum(ops.subtract(since, start), 0)
        gain, offset = schedule.plateau_gain(local_since, ops.maximum(ops.subtract(step, start), 0))
        return ops.cast(gain, self._dtype()), ops.cast(offset, self._dtype())

    def _gain(self, since, step, count):
        """The gain of the first `count` members (`_sequence`'s)."""
        epoch = _base.index(step, self.steps_per_epoch)
        epoch_since = _base.index(since, self.steps_per_epoch)
        gain, offset = self._member_gain(0, since, step)
        for i in range(1, count):
            milestone = self.milestones[i - 1]
            start = milestone * self.steps_per_epoch
            same_gain, same_offset = self._member_gain(i, since, step)
            schedule = self._members[i]
            if isinstance(schedule, MultiplicativeLR) and start > 0:
                # PyTorch: the rate of the epoch before the milestone times lr_lambda(0)...
                before = ops.maximum(since, ops.convert_to_tensor(start - self.steps_per_epoch))
                before_gain, before_offset = self._gain(since, before, i)
                local = ops.maximum(ops.subtract(step, start), 0)
                factor = ops.multiply(
                    ops.cast(schedule._factor(local), self._dtype()), self._const(schedule._at_zero)
                )
                cross_gain = ops.multiply(before_gain, factor)
                cross_offset = ops.multiply(before_offset, factor)
            else:  # ... or the member's closed form: what was set is forgotten
                cross_offset = self._member(i, step)
                cross_gain = ops.zeros_like(cross_offset)
            crossed = ops.less(epoch_since, milestone)
            member_gain = ops.where(crossed, cross_gain, same_gain)
            member_offset = ops.where(crossed, cross_offset, same_offset)
            active = ops.greater_equal(epoch, milestone)
            gain = ops.where(active, member_gain, gain)
            offset = ops.where(active, member_offset, offset)
        return gain, offset

    def rebased(self, initial_learning_rate):
        """Every member rebased to a parameter group's rate (see `Schedule.rebased`).

        Args:
            initial_learning_rate: float `>= 0`, the group's learning rate.

        Returns:
            A new `SequentialLR`.
        """
        config = self.get_config()
        config["schedules"] = [_base.rebase(s, initial_learning_rate) for s in self.schedules]
        return SequentialLR(**config)

    def get_config(self):
        return {
            "schedules": [_base.serialize_schedule(s) for s in self.schedules],
            "milestones": self.milestones,
            "steps_per_epoch": self.steps_per_epoch,
            "name": self.name,
            "dtype": self.dtype,
        }


@_registration.serializable("schedules")
class ChainedScheduler(_base.Schedule):
    """The product of chainable schedules, as PyTorch's `ChainedScheduler`.

    PyTorch steps each member in turn on the same group; a chainable member multiplies the
    current rate by its own ratio, so together they give the product of their factors. With
    `eta_0` the members' common `initial_learning_rate`:

    ```
    lr = eta_0 * (schedules[0](step) / eta_0) * (schedules[1](step) / eta_0) * ...
    ```

    The members count what they count (epochs, each with its `steps_per_epoch`). Chainable
    are the members whose PyTorch form is a pure factor: `StepLR`, `MultiStepLR`,
    `ExponentialLR`, `ConstantLR`, `LinearLR`, `PolynomialLR`, `MultiplicativeLR` and
    `ChainedScheduler`. Not chainable (a ValueError): `LambdaLR`, `CosineAnnealingLR` and
    `CosineAnnealingWarmRestarts`, `CyclicLR`, `OneCycleLR`, the warmups, `SequentialLR`
    and Keras's schedules: in PyTorch they set the rate from their own base (or add to it),
    so the chain's result depends on the order and is not a product.

    Args:
        schedules: non-empty list of chainable kerasdl schedules with one
            `initial_learning_rate`.
        name: str, the name scope of the computation. Defaults to `"ChainedScheduler"`.
        dtype: `None` or a float dtype, the dtype of the rate, and of the members that leave
            theirs `None`. `None` (the default) is `keras.backend.floatx()` when called:
            float32, or float64 in a float64 run.

    Examples:
        >>> constant = kerasdl.schedules.ConstantLR(0.1, factor=0.5, total_iters=2)
        >>> decay = kerasdl.schedules.ExponentialLR(0.1, gamma=0.5)
        >>> schedule = kerasdl.schedules.ChainedScheduler([constant, decay])
        >>> [round(float(schedule(step)), 6) for step in range(4)]
        [0.05, 0.025, 0.025, 0.0125]

    References:
        - [PyTorch `torch.optim.lr_scheduler.ChainedScheduler`](
          https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.ChainedScheduler.html)
    """

    def __init__(self, schedules, name="ChainedScheduler", dtype=None):
        super().__init__()
        self.schedules = _schedules("schedules", schedules)
        for i, schedule in enumerate(self.schedules):
            if not isinstance(schedule, tuple(CHAINABLE)):
                allowed = ", ".join(_registration.plain_name(c) for c in CHAINABLE)
                raise ValueError(
                    f"ChainedScheduler cannot chain {_registration.plain_name(schedule)} "
                    f"(schedules[{i}]): "
                    f"PyTorch's chain is a product of factors only for {allowed}."
                )
        rates = {s.initial_learning_rate for s in self.schedules}
        if len(rates) != 1:
            raise ValueError(
                "ChainedScheduler's schedules must have one initial_learning_rate (PyTorch's "
                f"members share the group's). Received: {sorted(rates)}"
            )
        self.initial_learning_rate = rates.pop()
        self.name = name
        self.dtype = _base.check_dtype(dtype)
        self._members = [_in_dtype(s, self.dtype) for s in self.schedules]

    def _factor(self, step):
        factor = None
        for schedule in self._members:
            f = ops.cast(schedule._factor(step), self._dtype())
            factor = f if factor is None else ops.multiply(factor, f)
        return factor

    def __call__(self, step):
        with keras.name_scope(self.name):
            return ops.multiply(self._const(self.initial_learning_rate), self._factor(step))

    def plateau_gain(self, since, step):
        """PyTorch steps each member in turn on the same rate: the product of the members'
        gains (see `Schedule.plateau_gain`), offset 0.

        Args:
            since: int, the optimizer step whose rate `ReduceLROnPlateau` set.
            step: int `>= since`, the optimizer step asked about.

        Returns:
            ``(gain, offset)``, tensors of the schedule's dtype.
        """
        gain = None
        for schedule in self._members:
            g = ops.cast(schedule.plateau_gain(since, step)[0], self._dtype())
            gain = g if gain is None else ops.multiply(gain, g)
        return gain, ops.zeros_like(gain)

    def rebased(self, initial_learning_rate):
        """Every member rebased to a parameter group's rate (see `Schedule.rebased`).

        Args:
            initial_learning_rate: float `>= 0`, the group's learning rate.

        Returns:
            A new `ChainedScheduler`.
        """
        schedules = [s.rebased(initial_learning_rate) for s in self.schedules]
        return ChainedScheduler(schedules, name=self.name, dtype=self.dtype)

    def get_config(self):
        return {
            "schedules": [_base.serialize_schedule(s) for s in self.schedules],
            "name": self.name,
            "dtype": self.dtype,
        }
