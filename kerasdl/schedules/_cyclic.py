"""PyTorch's per-batch cyclic schedulers, CyclicLR and OneCycleLR, and their momentum cycles."""

import keras
from keras import ops

from kerasdl import _checks, _registration
from kerasdl.schedules import _base


class _Cyclic(_base.Schedule):
    """A schedule with its own rates (PyTorch's override the group's) and a momentum cycle."""

    def rebased(self, initial_learning_rate):
        """This schedule: its own rates override a parameter group's, as in PyTorch.

        Args:
            initial_learning_rate: float `>= 0`, the group's learning rate (unused).

        Returns:
            This schedule.
        """
        _checks.non_negative("initial_learning_rate", initial_learning_rate)
        return self

    def plateau_gain(self, since, step):
        """PyTorch steps this scheduler every batch and recomputes the rate from its own: a rate
        that `ReduceLROnPlateau` set lasts one optimizer step (see `Schedule.plateau_gain`).

        Args:
            since: int, the optimizer step whose rate `ReduceLROnPlateau` set.
            step: int `>= since`, the optimizer step asked about.

        Returns:
            ``(gain, offset)``: ``(1, 0)`` at ``since``, ``(0, schedule(step))`` after.
        """
        return _base.recomputed(self, since, step)

    def momentum_schedule(self):
        """The momentum PyTorch sets at each step, as a schedule (`CycledMomentum`).

        For `SGD` it is `momentum`; for the Adam family, `beta_1` (PyTorch's `betas[0]`).

        Returns:
            A `CycledMomentum` of this schedule.
        """
        if not self.cycle_momentum:
            raise ValueError(
                f"{_registration.plain_name(self)} has cycle_momentum=False: PyTorch leaves the "
                "momentum as it is, there is no momentum schedule."
            )
        return CycledMomentum(self)

    def _momentum_config(self):
        return {
            "base_momentum": self.base_momentum,
            "max_momentum": self.max_momentum,
            "cycle_momentum": self.cycle_momentum,
            "name": self.name,
            "dtype": self.dtype,
        }

    def _set_momentum(self, base_momentum, max_momentum, cycle_momentum):
        self.base_momentum = _checks.in_range("base_momentum", base_momentum, 0.0, 1.0)
        self.max_momentum = _checks.in_range("max_momentum", max_momentum, 0.0, 1.0)
        self.cycle_momentum = _base.boolean("cycle_momentum", cycle_momentum)


@_registration.serializable("schedules")
class CyclicLR(_Cyclic):
    """A rate cycling between `base_lr` and `max_lr` (Smith's CLR), as PyTorch's `CyclicLR`.

    Counts optimizer steps (PyTorch's `CyclicLR` is stepped every batch). With `k` the step,
    `up`, `down` the steps of the rise and of the fall, `T = up + down`:

    ```
    cycle = floor(1 + k / T)
    x = 1 + k / T - cycle
    s = x / (up / T)                if x <= up / T
    s = (x - 1) / (up / T - 1)      otherwise
    lr = base_lr + (max_lr - base_lr) * s * scale_fn(cycle or k)
    momentum = max_momentum - (max_momentum - base_momentum) * s * scale_fn(cycle or k)
    ```

    `mode` picks `scale_fn`: `"triangular"` 1, `"triangular2"` `1 / 2 ** (cycle - 1)`,
    `"exp_range"` `gamma ** k`. A custom `scale_fn` (a registered function of a float tensor,
    written with `keras.ops`) replaces it, of `cycle` or of `k` as `scale_mode` says. The
    momentum cycle is `momentum_schedule()`.

    Args:
        base_lr: float `>= 0`, the lowest rate (PyTorch sets the group's lr to it).
        max_lr: float `>= 0`, the highest rate of the first cycle.
        step_size_up: int `>= 1`, the steps of the rise. Defaults to `2000`.
        step_size_down: int `>= 0` or `None`, the steps of the fall; `None` is
            `step_size_up`. Defaults to `None`.
        mode: str, `"triangular"`, `"triangular2"` or `"exp_range"`. Defaults to
            `"triangular"`.
        gamma: float `> 0`, the base of `"exp_range"`. Defaults to `1.0`.
        scale_fn: callable or `None`, a custom scale replacing `mode`'s. Defaults to `None`.
        scale_mode: str, `"cycle"` or `"iterations"`, what a custom `scale_fn` takes.
            Defaults to `"cycle"`.
        base_momentum: float in `[0, 1)`, the momentum at `max_lr`. Defaults to `0.8`.
        max_momentum: float in `[0, 1)`, the momentum at `base_lr`. Defaults to `0.9`.
        cycle_momentum: bool, whether `momentum_schedule()` exists. Defaults to `True`.
        name: str, the name scope of the computation. Defaults to `"CyclicLR"`.
        dtype: `None` or a float dtype, the dtype of the rate. `None` (the default) is
            `keras.backend.floatx()` when called: float32, or float64 in a float64 run.

    Examples:
        >>> schedule = kerasdl.schedules.CyclicLR(0.1, 0.5, step_size_up=2)
        >>> [round(float(schedule(step)), 6) for step in range(5)]
        [0.1, 0.3, 0.5, 0.3, 0.1]

    References:
        - [Smith, 2017. Cyclical Learning Rates for Training Neural Networks](
          https://arxiv.org/abs/1506.01186)
        - [PyTorch `torch.optim.lr_scheduler.CyclicLR`](
          https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.CyclicLR.html)
    """

    def __init__(
        self,
        base_lr,
        max_lr,
        step_size_up=2000,
        step_size_down=None,
        mode="triangular",
        gamma=1.0,
        scale_fn=None,
        scale_mode="cycle",
        base_momentum=0.8,
        max_momentum=0.9,
        cycle_momentum=True,
        name="CyclicLR",
        dtype=None,
    ):
        super().__init__()
        self.base_lr = _checks.non_negative("base_lr", base_lr)
        self.max_lr = _checks.non_negative("max_lr", max_lr)
        self.step_size_up = _checks.positive_int("step_size_up", step_size_up)
        if step_size_down is not None:
            step_size_down = _checks.non_negative_int("step_size_down", step_size_down)
        self.step_size_down = step_size_down
        self.mode = _checks.one_of("mode", mode, ("triangular", "triangular2", "exp_range"))
        self.gamma = _checks.positive("gamma", gamma)
        self.scale_fn = _base.check_function("scale_fn", scale_fn, optional=True)
        self.scale_mode = _checks.one_of("scale_mode", scale_mode, ("cycle", "iterations"))
        self._set_momentum(base_momentum, max_momentum, cycle_momentum)
        self.name = name
        self.dtype = _base.check_dtype(dtype)

    @property
    def initial_learning_rate(self):
        return self.base_lr

    def _shape(self, step):
        """`s * scale_fn(...)`, the height of the cycle at `step` in `[0, 1]`."""
        k = _base.as_float(step, self._dtype())
        up = float(self.step_size_up)
        total = up + float(
            self.step_size_up if self.step_size_down is None else self.step_size_down
        )
        # The cycle in the step's own (integer) arithmetic: exact.
        cycle = ops.add(_base.floor_div(step, int(total), self._dtype()), 1.0)
        # x * T: the steps into the cycle, an exact integer.
        into = ops.subtract(k, ops.multiply(ops.subtract(cycle, 1.0), total))
        down = max(total - up, 1.0)  # step_size_down=0: the fall never runs
        rise = ops.divide(into, up)
        fall = ops.divide(ops.subtract(total, into), down)
        s = ops.where(ops.less_equal(into, up), rise, fall)
        return ops.multiply(s, self._scale(cycle, k))

    def _scale(self, cycle, k):
        if self.scale_fn is not None:
            x = cycle if self.scale_mode == "cycle" else k
            return ops.cast(self.scale_fn(x), self._dtype())
        if self.mode == "triangular":
            return ops.ones_like(k)
        if self.mode == "triangular2":
            return ops.power(0.5, ops.subtract(cycle, 1.0))
        return _base.power(self.gamma, k, self._dtype())

    def __call__(self, step):
        with keras.name_scope(self.name):
            height = self._const(self.max_lr - self.base_lr)
            return ops.add(self._const(self.base_lr), ops.multiply(height, self._shape(step)))

    def _momentum(self, step):
        height = self._const(self.max_momentum - self.base_momentum)
        return ops.subtract(self._const(self.max_momentum), ops.multiply(height, self._shape(step)))

    def get_config(self):
        return {
            "base_lr": self.base_lr,
            "max_lr": self.max_lr,
            "step_size_up": self.step_size_up,
            "step_size_down": self.step_size_down,
            "mode": self.mode,
            "gamma": self.gamma,
            "scale_fn": _base.serialize_function("scale_fn", self.scale_fn),
            "scale_mode": self.scale_mode,
            **self._momentum_config(),
        }


@_registration.serializable("schedules")
class OneCycleLR(_Cyclic):
    """The 1cycle policy (a warmup to `max_lr`, then annealing), as PyTorch's `OneCycleLR`.

    Counts optimizer steps (PyTorch's `OneCycleLR` is stepped every batch). With
    `eta_i = max_lr / div_factor` and `eta_min = eta_i / final_div_factor`, the rate anneals
    (by a half cosine or linearly) through the phases, each from its first step to its last:

    ```
    two phases:   eta_i -> max_lr   over steps [0, pct_start * total_steps - 1]
                  max_lr -> eta_min over [pct_start * total_steps - 1, total_steps - 1]
    three_phase:  eta_i -> max_lr   over [0, pct_start * total_steps - 1]
                  max_lr -> eta_i   over [..., 2 * pct_start * total_steps - 2]
                  eta_i -> eta_min  over [..., total_steps - 1]
    anneal(a, b, p) = b + (a - b) * (1 + cos(pi * p)) / 2     ("cos")
    anneal(a, b, p) = a + (b - a) * p                         ("linear")
    ```

    The momentum goes the other way, `max_momentum -> base_momentum -> max_momentum` (three
    phases: then it stays at `max_momentum`): `momentum_schedule()`. PyTorch defines step
    `total_steps` too (the last phase one step past its end, which `"linear"` may take
    below 0) and raises after it; after step `total_steps` this schedule holds the value of
    the last step, `total_steps - 1` (`eta_min`, the momentum `max_momentum`).

    Args:
        max_lr: float `>= 0`, the peak rate.
        total_steps: int `>= 2`, the optimizer steps of the cycle.
        pct_start: float in `(0, 1)`, the fraction of the steps rising. Defaults to `0.3`.
        anneal_strategy: str, `"cos"` or `"linear"`. Defaults to `"cos"`.
        div_factor: float `> 0`, `max_lr` over the first rate. Defaults to `25.0`.
        final_div_factor: float `> 0`, the first rate over the last. Defaults to `1e4`.
        three_phase: bool, a third phase (see above). Defaults to `False`.
        base_momentum: float in `[0, 1)`, the momentum at `max_lr`. Defaults to `0.85`.
        max_momentum: float in `[0, 1)`, the momentum at the ends. Defaults to `0.95`.
        cycle_momentum: bool, whether `momentum_schedule()` exists. Defaults to `True`.
        name: str, the name scope of the computation. Defaults to `"OneCycleLR"`.
        dtype: `None` or a float dtype, the dtype of the rate. `None` (the default) is
            `keras.backend.floatx()` when called: float32, or float64 in a float64 run.

    Examples:
        >>> schedule = kerasdl.schedules.OneCycleLR(1.0, 5, 0.4, "linear", 10.0, 1.0)
        >>> [round(float(schedule(step)), 6) for step in range(5)]
        [0.1, 1.0, 0.7, 0.4, 0.1]

    References:
        - [Smith & Topin, 2017. Super-Convergence: Very Fast Training of Neural Networks Using
          Large Learning Rates](https://arxiv.org/abs/1708.07120)
        - [PyTorch `torch.optim.lr_scheduler.OneCycleLR`](
          https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.OneCycleLR.html)
    """

    def __init__(
        self,
        max_lr,
        total_steps,
        pct_start=0.3,
        anneal_strategy="cos",
        div_factor=25.0,
        final_div_factor=1e4,
        three_phase=False,
        base_momentum=0.85,
        max_momentum=0.95,
        cycle_momentum=True,
        name="OneCycleLR",
        dtype=None,
    ):
        super().__init__()
        self.max_lr = _checks.non_negative("max_lr", max_lr)
        self.total_steps = _checks._integer_at_least("total_steps", total_steps, 2)
        self.pct_start = _checks.in_range("pct_start", pct_start, 0.0, 1.0, low_closed=False)
        self.anneal_strategy = _checks.one_of("anneal_strategy", anneal_strategy, ("cos", "linear"))
        self.div_factor = _checks.positive("div_factor", div_factor)
        self.final_div_factor = _checks.positive("final_div_factor", final_div_factor)
        self.three_phase = _base.boolean("three_phase", three_phase)
        self._set_momentum(base_momentum, max_momentum, cycle_momentum)
        self.name = name
        self.dtype = _base.check_dtype(dtype)
        ends = self._phase_ends()
        if any(b <= a for a, b in zip([0.0, *ends], ends, strict=False)):
            raise ValueError(
                "OneCycleLR's phases must each last more than one step: "
                f"got phase ends {ends} for total_steps={self.total_steps}, "
                f"pct_start={self.pct_start}, three_phase={self.three_phase}."
            )

    @property
    def initial_learning_rate(self):
        return self.max_lr / self.div_factor

    def _phase_ends(self):
        first = float(self.pct_start * self.total_steps) - 1
        last = float(self.total_steps) - 1
        if self.three_phase:
            return [first, float(2 * self.pct_start * self.total_steps) - 2, last]
        return [first, last]

    def _anneal(self, step, values):
        """The value at `step` of the phases whose ends go through `values` (PyTorch's)."""
        step = ops.convert_to_tensor(step)
        past = ops.greater(step, self.total_steps)  # PyTorch raises: hold the last rate
        k = _base.as_float(ops.where(past, self.total_steps - 1, step), self._dtype())
        ends = self._phase_ends()
        starts = [0.0, *ends[:-1]]
        result = None
        for i in reversed(range(len(ends))):
            value = self._phase(k, starts[i], ends[i], values[i], values[i + 1])
            if result is None:
                result = value
            else:
                result = ops.where(ops.less_equal(k, ends[i]), value, result)
        return result

    def _phase(self, k, start_step, end_step, start, end):
        """`anneal(start, end, pct)`, computed from the nearer end of the phase (no cancellation
        between the two values near the other one)."""
        length = self._const(end_step - start_step)
        done = ops.subtract(k, self._const(start_step))
        left = ops.subtract(self._const(end_step), k)
        if self.anneal_strategy == "linear":
            from_start, to_end = ops.divide(done, length), ops.divide(left, length)
        else:
            from_start = _base.half_cosine(done, length, self._dtype())
            to_end = _base.half_cosine(left, length, self._dtype())
        near_start = ops.add(self._const(start), ops.multiply(self._const(end - start), from_start))
        near_end = ops.add(self._const(end), ops.multiply(self._const(start - end), to_end))
        return ops.where(ops.less(k, (start_step + end_step) / 2), near_start, near_end)

    def __call__(self, step):
        with keras.name_scope(self.name):
            first = self.max_lr / self.div_factor
            last = first / self.final_div_factor
            values = (
                [first, self.max_lr, first, last]
                if self.three_phase
                else [first, self.max_lr, last]
            )
            return self._anneal(step, values)

    def _momentum(self, step):
        low, high = self.base_momentum, self.max_momentum
        values = [high, low, high, high] if self.three_phase else [high, low, high]
        return self._anneal(step, values)

    def get_config(self):
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "anneal_strategy": self.anneal_strategy,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "three_phase": self.three_phase,
            **self._momentum_config(),
        }


@_registration.serializable("schedules")
class CycledMomentum(_base.Schedule):
    """The momentum PyTorch's `CyclicLR` or `OneCycleLR` sets at each step, as a schedule.

    Made by `schedule.momentum_schedule()`; at step `k` it is the momentum (SGD) or `beta_1`
    (PyTorch's `betas[0]`, the Adam family) that PyTorch's scheduler has set when optimizer
    step `k` runs. Give it to an optimizer's `momentum` / `beta_1` where the optimizer takes
    a schedule there.

    Args:
        schedule: a `CyclicLR` or `OneCycleLR` (or its serialized config) with
            `cycle_momentum=True`.

    Examples:
        >>> lr = kerasdl.schedules.CyclicLR(0.1, 0.5, step_size_up=2)
        >>> momentum = lr.momentum_schedule()
        >>> [round(float(momentum(step)), 6) for step in range(5)]
        [0.9, 0.85, 0.8, 0.85, 0.9]

    References:
        - [PyTorch `torch.optim.lr_scheduler.OneCycleLR`](
          https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.OneCycleLR.html)
    """

    def __init__(self, schedule):
        super().__init__()
        schedule = _base.deserialize_schedule(schedule)
        if not isinstance(schedule, _Cyclic) or not schedule.cycle_momentum:
            raise ValueError(
                "Argument `schedule` must be a CyclicLR or OneCycleLR with cycle_momentum=True. "
                f"Received: schedule={schedule!r}"
            )
        self.schedule = schedule
        self.dtype = schedule.dtype
        self.name = schedule.name + "Momentum"

    def __call__(self, step):
        with keras.name_scope(self.name):
            return self.schedule._momentum(step)

    def rebased(self, initial_learning_rate):
        """This schedule (a momentum does not follow a group's learning rate).

        Args:
            initial_learning_rate: float `>= 0`, the group's learning rate (unused).

        Returns:
            This schedule.
        """
        return self

    def get_config(self):
        return {"schedule": _base.serialize_schedule(self.schedule)}
