"""Reduce the learning rate on a plateau, PyTorch's rule, for float lrs, schedules and
parameter groups (3.5.1)."""

import dataclasses
import math

import keras
from keras import ops

from kerasdl import _registration
from kerasdl._checks import in_range, non_negative, non_negative_int, one_of, positive
from kerasdl._values import to_float
from kerasdl.callbacks._monitor import (
    check_state,
    log_number,
    monitor_value,
    resolve_mode,
    scalar,
)

_Schedule = keras.optimizers.schedules.LearningRateSchedule
_STATE_KEYS = ("monitor", "mode", "best", "wait", "cooldown_counter", "last_epoch", "lr_changes")
_WHOLE = "optimizer"  # a learning rate that is the whole optimizer's (no parameter groups)
#: How a reduction acts on a schedule: `ReduceLROnPlateau`'s ``on_schedule``.
ON_SCHEDULE = ("scale", "pytorch")


@_registration.serializable("callbacks")
class PlateauScaledSchedule(_Schedule):
    """A learning-rate schedule under `ReduceLROnPlateau`: scaled, or reset PyTorch's way.

    `ReduceLROnPlateau` puts this around an optimizer's schedule. Its value is::

        scale * schedule(step)                        no reset yet, or step < since
        scale * (gain * rate + offset)                step >= since
        (gain, offset) = schedule.plateau_gain(since, step)

    With ``on_schedule="scale"`` the callback lowers ``scale``: the schedule keeps its shape
    and every later value is scaled. With ``on_schedule="pytorch"`` it sets ``since`` (the
    optimizer step the reduction is for) and ``rate`` (the reduced rate): the value is then
    the rate PyTorch's scheduler gives after its ``group["lr"]`` was set to ``rate`` at that
    step (``plateau_gain`` of `kerasdl.schedules`; a schedule without it, Keras's own, is only
    scaled). ``scale``, ``since`` and ``rate`` are non-trainable ``keras.Variable``s (read
    when the optimizer asks for its learning rate), and their values are part of
    ``get_config``: a model saved with ``model.save`` after a reduction and loaded back with
    ``keras.saving.load_model`` continues with the reduced learning rate. They are not
    optimizer variables, so the optimizer's weights keep their number and order.

    Args:
        schedule: The wrapped ``keras.optimizers.schedules.LearningRateSchedule`` (or its
            serialized dict).
        scale: The starting factor, ``> 0``. Defaults to 1.0.
        since: The optimizer step of the last reset, ``>= 0``, or -1 for none. Defaults to -1.
        rate: The rate set at ``since``, ``>= 0``. Defaults to 0.0.
        pytorch: Whether the value follows a reset at all (the second line above): only then
            are ``plateau_gain``'s few scalar ops in every step's computation, so a schedule
            that is only scaled costs one multiplication. ``None`` (the default): whether
            ``since`` is set. ``ReduceLROnPlateau(on_schedule="pytorch")`` sets it.

    Example:

    ```python
    schedule = PlateauScaledSchedule(keras.optimizers.schedules.ExponentialDecay(0.1, 100, 0.9))
    schedule.scale.assign(0.5)  # halves every later learning rate
    ```

    References:
        - [Keras LearningRateSchedule](https://keras.io/api/optimizers/learning_rate_schedules/)
        - [PyTorch ReduceLROnPlateau](https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.ReduceLROnPlateau.html)
    """

    def __init__(self, schedule, scale=1.0, since=-1, rate=0.0, pytorch=None):
        if isinstance(schedule, dict):
            schedule = keras.saving.deserialize_keras_object(schedule)
        if not isinstance(schedule, _Schedule):
            raise ValueError(
                "Argument `schedule` must be a LearningRateSchedule. "
                f"Received: schedule={schedule!r}"
            )
        self.schedule = schedule
        floatx = keras.backend.floatx()
        self.scale = _state_variable(positive("scale", scale), floatx, "scale")
        since = since if since == -1 else non_negative_int("since", since)
        self.since = _state_variable(since, "int64", "since")
        self.rate = _state_variable(non_negative("rate", rate), floatx, "rate")
        self.pytorch = since != -1 if pytorch is None else one_of("pytorch", pytorch, (False, True))
        self._resettable = None

    @property
    def resettable(self):
        """Whether the schedule can be reset PyTorch's way (it has ``plateau_gain``)."""
        if self._resettable is None:
            self._resettable = has_plateau_gain(self.schedule)
        return self._resettable

    def __call__(self, step):
        lr = ops.convert_to_tensor(self.schedule(step))
        if self.pytorch and self.resettable:
            lr = reset_value(self.schedule, lr, step, self.since, self.rate)
        return ops.multiply(lr, ops.cast(self.scale, lr.dtype))

    def get_config(self):
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "scale": to_float(self.scale),
            "since": int(ops.convert_to_numpy(self.since)),
            "rate": to_float(self.rate),
            "pytorch": self.pytorch,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def has_plateau_gain(schedule):
    """`kerasdl.schedules`' check, imported when first needed (Keras's schedules alone need not
    import kerasdl's)."""
    from kerasdl.schedules._base import has_plateau_gain as check

    return check(schedule)


def _state_variable(value, dtype, name):
    return keras.Variable(
        value,
        dtype=dtype,
        trainable=False,
        autocast=False,
        aggregation="only_first_replica",
        name=f"plateau_lr_{name}",
    )


def reset_value(schedule, lr, step, since, rate):
    """``lr`` (``schedule(step)``), or from step ``since`` on, PyTorch's rate after its
    ``group["lr"]`` was set to ``rate`` at ``since``: ``gain * rate + offset``
    (``schedule.plateau_gain``).

    Args:
        schedule: A schedule with ``plateau_gain``.
        lr: ``schedule(step)``, a tensor.
        step: The optimizer step.
        since: The step of the reset (an integer variable or tensor), -1 for none.
        rate: The rate set then (a variable or tensor).

    Returns:
        A tensor of ``lr``'s dtype.
    """
    since = ops.cast(since, "int64")
    active = ops.logical_and(
        ops.greater_equal(since, 0),
        ops.greater_equal(ops.cast(ops.convert_to_tensor(step), "int64"), since),
    )
    gain, offset = schedule.plateau_gain(ops.maximum(since, 0), step)
    dtype = lr.dtype
    reset = ops.add(
        ops.multiply(ops.cast(gain, dtype), ops.cast(rate, dtype)), ops.cast(offset, dtype)
    )
    return ops.where(active, reset, lr)


@dataclasses.dataclass(frozen=True)
class LearningRateChange:
    """One change of the learning rate made by a callback.

    Attributes:
        epoch: The epoch (0-based) whose end made the change.
        old: The learning rate just before.
        new: The learning rate just after.
        reason: Why, in words.
        source: The callback class that made it. Defaults to ``"ReduceLROnPlateau"``.
        group: Which learning rate, when the optimizer has several (parameter groups,
            `keras.optimizers.MultiOptimizer`): its index in the callback's order (see
            `ReduceLROnPlateau`'s ``min_lr``). ``None`` when there is one. Defaults to None.

    References:
        - [PyTorch ReduceLROnPlateau](https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.ReduceLROnPlateau.html)
    """

    epoch: int
    old: float
    new: float
    reason: str
    source: str = "ReduceLROnPlateau"
    group: int | None = None


@dataclasses.dataclass(frozen=True)
class ReduceLROnPlateauStatus:
    """Where a `ReduceLROnPlateau` stands.

    Attributes:
        monitor: The quantity watched.
        mode: ``"min"`` or ``"max"`` once known.
        best: The best value so far (``None`` before the first; PyTorch keeps ±inf).
        wait: Bad epochs counted (PyTorch's ``num_bad_epochs``).
        patience: A reduction follows more than ``patience`` bad epochs.
        cooldown_counter: Epochs of cooldown left.
        learning_rate: The effective learning rate now (``None`` without an optimizer); with
            parameter groups, the default group's (the first group's if it has no variable).
        scale: The factor on a schedule (``None`` when the learning rate is a float).
        reduced: Whether the last step reduced the learning rate.
        num_reductions: Reductions made by this callback since it was created or restored.
        last_change: The last `LearningRateChange` (``None`` if none).
        epoch: The last epoch stepped (``None`` before the first).
        learning_rates: Every learning rate now, in ``min_lr``'s order, when the optimizer has
            several (parameter groups, a MultiOptimizer); ``None`` when it has one. Defaults to
            None.

    References:
        - [PyTorch ReduceLROnPlateau](https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.ReduceLROnPlateau.html)
    """

    monitor: str
    mode: str | None
    best: float | None
    wait: int
    patience: int
    cooldown_counter: int
    learning_rate: float | None
    scale: float | None
    reduced: bool
    num_reductions: int
    last_change: LearningRateChange | None
    epoch: int | None
    learning_rates: tuple | None = None


@keras.saving.register_keras_serializable(package="kerasdl")
class ReduceLROnPlateau(keras.callbacks.Callback):
    """Reduce the learning rate when a metric stops improving, with PyTorch's rule exactly.

    The rule, once an epoch with metric value ``v`` (``best`` starts at +inf in min mode,
    -inf in max mode; ``eta`` is the effective learning rate now)::

        # min mode, "rel": v < best * (1 - threshold);  "abs": v < best - threshold
        # max mode, "rel": v > best * (1 + threshold);  "abs": v > best + threshold
        if better(v, best): best, wait = v, 0
        else:               wait += 1
        if cooldown_counter > 0:          # bad epochs in cooldown do not count
            cooldown_counter -= 1
            wait = 0
        if wait > patience:               # MORE than patience bad epochs
            new = max(eta * factor, min_lr)
            if eta - new > eps:
                eta = new
            cooldown_counter, wait = cooldown, 0

    A NaN value is never better. With several learning rates (a kerasdl optimizer's parameter
    groups, the optimizers of a `keras.optimizers.MultiOptimizer`, or both) the reduction is
    PyTorch's per ``param_group``: each learning rate ``eta_i`` becomes
    ``max(eta_i * factor, min_lr_i)`` unless that changes it by ``eps`` or less; a group's
    factor is its plateau scale (`KerasdlOptimizer.group_scale`, an optimizer variable that
    ``model.save`` keeps). The learning rate may be a float or any
    ``LearningRateSchedule``. A float is reduced in place (``optimizer.learning_rate = new``, a
    variable Keras saves with the optimizer). A schedule is wrapped, the first time this
    callback meets the optimizer, in a `PlateauScaledSchedule` whose ``scale`` variable the
    reductions lower: ``min_lr`` and ``eps`` apply to the effective rate
    ``scale * schedule(step)`` at the moment of the reduction (as with PyTorch's chained
    schedulers, a schedule may later take it below ``min_lr``).

    ``on_schedule`` says what a reduction does to a schedule:

    - ``"scale"``: the whole schedule is scaled from the reduction on (``scale`` times the
      factor): PyTorch's result for its chainable schedulers (StepLR, MultiStepLR,
      ExponentialLR, ConstantLR, LinearLR, PolynomialLR, MultiplicativeLR, ChainedScheduler).
    - ``"pytorch"``: PyTorch's for every kerasdl schedule: the rate is set to the reduced value
      at that step, and the schedule goes on from it as PyTorch's scheduler does
      (``plateau_gain``): a chainable one multiplies it on, LambdaLR, CyclicLR, OneCycleLR,
      CosineAnnealingWarmRestarts and the warmups recompute from their base at their next
      step (the reduction lasts one epoch, or one optimizer step for the per-step ones),
      CosineAnnealingLR scales its distance to ``eta_min`` until the cosine's next zero,
      SequentialLR restarts a member at its milestone. Keras's own schedules cannot be
      followed: a ValueError.

    A float learning rate is reduced in place in both. The factor, or the reset (its step and
    rate), is saved in the optimizer's config (a group's in optimizer variables), so
    ``model.save`` / ``keras.saving.load_model`` keep it. On JAX, where a compiled train step
    holds them as constants, the callback recompiles the model's train function after each
    change (and when it wraps a schedule, on every backend).

    In ``fit``, the counters reset in ``on_train_begin`` (Keras style, except right after
    `set_state`); the learning rate itself is never reset. In a custom loop, call
    ``step(value)`` once an epoch; it needs an optimizer: ``optimizer=`` here, or
    ``set_model(model)`` for the model's.

    With ``log_status`` each epoch's ``logs`` get plain numbers: ``learning_rate`` (before this
    epoch's decision, as Keras's callback logs it), ``reduce_lr_best`` (NaN before the first
    value), ``reduce_lr_wait``, ``reduce_lr_cooldown``, ``reduce_lr_changed`` (0 or 1),
    ``reduce_lr_old`` and ``reduce_lr_new``. Every change is also kept, with its reason, in
    ``lr_changes`` (a list of `LearningRateChange`).

    Args:
        monitor: The quantity in ``logs`` to watch. Defaults to ``"val_loss"``.
        factor: ``new_lr = lr * factor``, in (0, 1). Defaults to 0.1.
        patience: Bad epochs tolerated; a reduction follows the next one, ``>= 0``.
            Defaults to 10.
        threshold: How much better a value must be, ``>= 0``. Defaults to 1e-4.
        threshold_mode: ``"rel"`` (relative to best) or ``"abs"``. Defaults to ``"rel"``.
        cooldown: Epochs after a reduction during which bad epochs are not counted, ``>= 0``.
            Defaults to 0.
        min_lr: Lower bound on the effective learning rate at a reduction, ``>= 0``, or a
            list of them, one per learning rate (PyTorch's list form): a kerasdl optimizer's
            groups in order, then its default group if any variable is in it; for a
            MultiOptimizer, each of its optimizers in turn. Defaults to 0.0.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (from the monitor's name, as
            `EarlyStopping`). Defaults to ``"min"``.
        eps: A reduction smaller than this is skipped, ``>= 0``. Defaults to 1e-8.
        optimizer: The optimizer to act on in a custom loop (not saved in the config).
            Defaults to None (the model's, in ``fit``).
        log_status: Add the status keys to each epoch's ``logs``. Defaults to True.
        on_schedule: ``"scale"`` (scale the schedule from the reduction on) or ``"pytorch"``
            (set the rate and let the schedule go on from it as PyTorch's does), see above.
            Defaults to ``"scale"``.

    Example:

    ```python
    plateau = kerasdl.callbacks.ReduceLROnPlateau(optimizer=optimizer, patience=2, factor=0.5)
    for epoch in range(epochs):
        ...  # train one epoch
        if plateau.step(val_loss):
            print(plateau.lr_changes[-1])
    ```

    References:
        - [PyTorch ReduceLROnPlateau](https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.ReduceLROnPlateau.html)
        - [Keras ReduceLROnPlateau](https://keras.io/api/callbacks/reduce_lr_on_plateau/)
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        threshold=1e-4,
        threshold_mode="rel",
        cooldown=0,
        min_lr=0.0,
        mode="min",
        eps=1e-8,
        optimizer=None,
        log_status=True,
        on_schedule="scale",
    ):
        super().__init__()
        self.monitor = monitor
        self.factor = in_range("factor", factor, 0.0, 1.0, low_closed=False)
        self.patience = non_negative_int("patience", patience)
        self.threshold = non_negative("threshold", threshold)
        self.threshold_mode = one_of("threshold_mode", threshold_mode, ("rel", "abs"))
        self.cooldown = non_negative_int("cooldown", cooldown)
        if isinstance(min_lr, (list, tuple)):
            self.min_lr = [non_negative(f"min_lr[{i}]", v) for i, v in enumerate(min_lr)]
        else:
            self.min_lr = non_negative("min_lr", min_lr)
        self.mode = one_of("mode", mode, ("min", "max", "auto"))
        self.eps = non_negative("eps", eps)
        self.optimizer = optimizer
        self.log_status = bool(log_status)
        self.on_schedule = one_of("on_schedule", on_schedule, ON_SCHEDULE)
        self.lr_changes = []
        self._pending_resets = None
        self._keep_state = False
        self._reset()
        if optimizer is not None:
            # Wrap a schedule now, before a custom loop compiles a step that reads it.
            self._attach_all()

    def _reset(self):
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0
        self.last_epoch = -1
        self.reduced = False
        self._mode = None if self.mode == "auto" else self.mode

    # ------------------------------------------------------------------ the optimizer

    def _target_optimizer(self):
        optimizer = self.optimizer
        if optimizer is None and self.model is not None:
            optimizer = self.model.optimizer
        if optimizer is None:
            raise RuntimeError(
                "ReduceLROnPlateau has no optimizer: pass `optimizer=...`, call "
                "`set_model(model)`, or use it in `model.fit(callbacks=[...])`."
            )
        # LossScaleOptimizer and similar wrappers delegate the learning rate.
        return getattr(optimizer, "inner_optimizer", optimizer)

    def _leaves(self):
        """The optimizers that hold learning rates: the target, or a MultiOptimizer's own."""
        optimizer = self._target_optimizer()
        multi = getattr(keras.optimizers, "MultiOptimizer", None)
        if multi is not None and isinstance(optimizer, multi):
            return [getattr(o, "inner_optimizer", o) for o in optimizer.optimizers]
        return [optimizer]

    def _slots(self):
        """Every learning rate, in `min_lr`'s order: ``(optimizer, group)`` pairs, where group
        is a parameter-group index, ``None`` (the default group) or ``_WHOLE``."""
        slots = []
        for leaf in self._leaves():
            if getattr(leaf, "_groups", None):
                groups = leaf.group_indices()
                membership = getattr(leaf, "_membership", None)
                if membership is not None and None not in membership:
                    groups = groups[:-1]  # no variable is in the default group
                slots += [(leaf, group) for group in groups]
            else:
                slots.append((leaf, _WHOLE))
        return slots

    def _attach_all(self):
        for leaf in self._leaves():
            if not getattr(leaf, "_groups", None):
                self._attach(leaf)
            elif self.on_schedule == "pytorch":
                for group in leaf.group_indices():
                    if leaf.group_plateau_schedule(group) is False:
                        self._refuse(leaf._lr_source(group)[-1], f"parameter group {group}")
        if self._pending_resets is not None:
            self._restore_resets(self._pending_resets)
            self._pending_resets = None

    def _refuse(self, schedule, where):
        raise ValueError(
            f"ReduceLROnPlateau(on_schedule='pytorch') needs a kerasdl schedule (one with "
            f"`plateau_gain`) to follow PyTorch's scheduler after a reduction; the learning rate "
            f"of {where} is {type(schedule).__name__}. Use a kerasdl.schedules class, or "
            "on_schedule='scale' (the schedule scaled from the reduction on)."
        )

    def _resets(self):
        """``[since, rate]`` of each learning rate that is a whole optimizer's wrapped schedule
        (``None`` for the others: groups keep theirs in optimizer variables)."""
        resets = []
        for optimizer, group in self._slots():
            lr = getattr(optimizer, "_learning_rate", None)
            if group == _WHOLE and isinstance(lr, PlateauScaledSchedule):
                resets.append([int(ops.convert_to_numpy(lr.since)), to_float(lr.rate)])
            else:
                resets.append(None)
        return resets

    def _restore_resets(self, resets):
        slots = self._slots()
        if len(resets) != len(slots):
            raise ValueError(
                f"The plateau state has {len(resets)} schedule resets but the optimizer has "
                f"{len(slots)} learning rates. Received: resets={resets}"
            )
        for (optimizer, group), reset in zip(slots, resets, strict=True):
            lr = getattr(optimizer, "_learning_rate", None)
            if reset is not None and group == _WHOLE and isinstance(lr, PlateauScaledSchedule):
                lr.since.assign(int(reset[0]))
                lr.rate.assign(float(reset[1]))

    @staticmethod
    def _slot_lr(slot):
        optimizer, group = slot
        if group == _WHOLE:
            return to_float(optimizer.learning_rate)
        return to_float(optimizer.group_learning_rate(group))

    def _min_lrs(self, count):
        if not isinstance(self.min_lr, list):
            return [self.min_lr] * count
        if len(self.min_lr) != count:
            raise ValueError(
                f"`min_lr` has {len(self.min_lr)} values but the optimizer has {count} learning "
                "rates (its parameter groups in order, then the default group if any variable "
                "is in it; for a MultiOptimizer, each of its optimizers in turn). "
                f"Received: min_lr={self.min_lr}"
            )
        return self.min_lr

    def _attach(self, optimizer):
        """The optimizer's `PlateauScaledSchedule` (wrapping its schedule if needed), or
        ``None`` when its learning rate is a float variable."""
        lr = optimizer._learning_rate  # Keras keeps the schedule or the variable here
        pytorch = self.on_schedule == "pytorch"
        if isinstance(lr, PlateauScaledSchedule):
            if pytorch and not lr.resettable:
                self._refuse(lr.schedule, f"optimizer {optimizer.name!r}")
            if pytorch and not lr.pytorch:  # e.g. the runner's wrapper: follow resets from now
                lr.pytorch = True
                self._recompile_train_function()
            return lr
        if isinstance(lr, _Schedule):
            if pytorch and not has_plateau_gain(lr):
                self._refuse(lr, f"optimizer {optimizer.name!r}")
            wrapped = PlateauScaledSchedule(lr, pytorch=pytorch)
            optimizer.learning_rate = wrapped
            # A train function traced before read the bare schedule.
            self._recompile_train_function()
            return wrapped
        if isinstance(lr, keras.Variable):
            return None
        raise TypeError(
            "ReduceLROnPlateau needs the optimizer's learning rate to be a float or a "
            f"LearningRateSchedule. Received: learning_rate={lr!r}"
        )

    def _recompile_train_function(self):
        model = self._model
        if model is not None and getattr(model, "train_function", None) is not None:
            model.make_train_function(force=True)

    @property
    def own_group(self):
        """The index (in ``min_lr``'s order) of the learning rate logged as ``learning_rate``:
        the optimizer's own (with parameter groups, its default group's; the first group's when
        every variable is in a group). ``None`` when there is one learning rate."""
        slots = self._slots()
        if len(slots) == 1:
            return None
        own = [i for i, slot in enumerate(slots) if slot[1] in (None, _WHOLE)]
        return (own or [0])[0]

    def _effective_lr(self, optimizer=None):
        """The learning rate logged and shown (see `own_group`)."""
        slots = self._slots()
        return self._slot_lr(slots[self.own_group or 0])

    # ------------------------------------------------------------------ the rule

    def _is_better(self, current, best):
        if self._mode == "min":
            if self.threshold_mode == "rel":
                return current < best * (1.0 - self.threshold)
            return current < best - self.threshold
        if self.threshold_mode == "rel":
            return current > best * (self.threshold + 1.0)
        return current > best + self.threshold

    def step(self, value):
        """Take one epoch's metric ``value``; returns whether the learning rate was reduced."""
        self._attach_all()
        return self._step(scalar(value, self.monitor), self.last_epoch + 1)

    def _step(self, current, epoch):
        if self._mode is None:
            self._mode = resolve_mode(self.mode, self.monitor, self._model)
        self.last_epoch = epoch
        self.reduced = False
        worst = math.inf if self._mode == "min" else -math.inf
        if self._is_better(current, worst if self.best is None else self.best):
            self.best = current
            self.wait = 0
        else:
            self.wait += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.wait > self.patience:
            self.reduced = self._reduce(epoch)
            self.cooldown_counter = self.cooldown
            self.wait = 0
        return self.reduced

    def _reduce(self, epoch):
        self._attach_all()
        slots = self._slots()
        changes = []
        for index, (slot, min_lr) in enumerate(zip(slots, self._min_lrs(len(slots)), strict=True)):
            old = self._slot_lr(slot)
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                self._set_lr(slot, old, new)
                changes.append((index, old, new > old * self.factor, self._slot_lr(slot)))
        if not changes:
            return False
        if keras.backend.backend() == "jax":
            self._recompile_train_function()
        best = "no value yet" if self.best is None else f"{self.best:.6g}"
        for index, old, clamped, new in changes:
            group = None if len(slots) == 1 else index
            reason = (
                f"{self.monitor} did not improve on {best} for {self.wait} epochs "
                f"> patience {self.patience} ({self.threshold_mode} threshold "
                f"{self.threshold:g}); lr x {self.factor:g}"
                f"{' (clamped at min_lr)' if clamped else ''}"
                f"{'' if group is None else f' (learning rate {group})'}"
            )
            self.lr_changes.append(
                LearningRateChange(epoch, old, new, reason, "ReduceLROnPlateau", group)
            )
        return True

    def _set_lr(self, slot, old, new):
        optimizer, group = slot
        if group == _WHOLE:
            schedule = self._attach(optimizer)
            if schedule is None:
                optimizer.learning_rate = new
                return
            scale, (since, rate) = schedule.scale, (schedule.since, schedule.rate)
        else:
            scale, (since, rate) = optimizer.group_scale(group), optimizer.group_reset(group)
        if self.on_schedule == "pytorch":
            # PyTorch sets group["lr"] = new; the schedule goes on from it (plateau_gain).
            since.assign(int(ops.convert_to_numpy(optimizer.iterations)))
            rate.assign(new / to_float(scale))
            return
        ratio = self.factor if new == old * self.factor else new / old
        scale.assign(to_float(scale) * ratio)

    # ------------------------------------------------------------------ status

    @property
    def status(self):
        """The current `ReduceLROnPlateauStatus`."""
        lr = scale = None
        try:
            optimizer = self._target_optimizer()
        except RuntimeError:
            optimizer = None
        learning_rates = None
        if optimizer is not None:
            slots = self._slots()
            lr = self._effective_lr()
            if len(slots) > 1:
                learning_rates = tuple(self._slot_lr(slot) for slot in slots)
            first, group = slots[0]
            if group == _WHOLE and isinstance(first._learning_rate, PlateauScaledSchedule):
                scale = to_float(first._learning_rate.scale)
        return ReduceLROnPlateauStatus(
            monitor=self.monitor,
            mode=self._mode,
            best=self.best,
            wait=self.wait,
            patience=self.patience,
            cooldown_counter=self.cooldown_counter,
            learning_rate=lr,
            scale=scale,
            reduced=self.reduced,
            num_reductions=len(self.lr_changes),
            last_change=self.lr_changes[-1] if self.lr_changes else None,
            epoch=None if self.last_epoch < 0 else self.last_epoch,
            learning_rates=learning_rates,
        )

    # ------------------------------------------------------------------ Keras hooks

    def on_train_begin(self, logs=None):
        if self._keep_state:
            self._keep_state = False
        else:
            self._reset()
        wrapped = [
            leaf
            for leaf in self._leaves()
            if isinstance(getattr(leaf, "_learning_rate", None), PlateauScaledSchedule)
        ]
        if wrapped and keras.backend.backend() == "jax":
            # A train function compiled earlier may hold an older factor.
            self._recompile_train_function()
        self._attach_all()

    def on_epoch_end(self, epoch, logs=None):
        old = self._effective_lr()
        current = monitor_value(logs, self.monitor, "Learning rate reduction")
        if current is None:
            self.reduced = False
        else:
            self._step(current, epoch)
        if self.log_status and logs is not None:
            logs.update(
                {
                    "learning_rate": old,
                    "reduce_lr_best": log_number(self.best),
                    "reduce_lr_wait": float(self.wait),
                    "reduce_lr_cooldown": float(self.cooldown_counter),
                    "reduce_lr_changed": float(self.reduced),
                    "reduce_lr_old": old,
                    "reduce_lr_new": self._effective_lr(),
                }
            )

    # ------------------------------------------------------------------ state and config

    def get_state(self):
        """The counters and the changes so far as a JSON-able dict, for `set_state`.

        The learning rate itself (a float variable, the schedule's factor, a group's scale and
        reset) lives in the optimizer and is saved with the model; ``resets`` repeats the reset
        of a whole optimizer's schedule (``[since, rate]``, in ``min_lr``'s order, ``None`` for
        the other learning rates), which ``model.load_weights`` does not restore.
        """
        return {
            "monitor": self.monitor,
            "mode": self._mode,
            "best": self.best,
            "wait": self.wait,
            "cooldown_counter": self.cooldown_counter,
            "last_epoch": self.last_epoch,
            "lr_changes": [dataclasses.asdict(change) for change in self.lr_changes],
            "resets": self._resets() if self._has_optimizer() else None,
        }

    def _has_optimizer(self):
        try:
            self._target_optimizer()
        except RuntimeError:
            return False
        return True

    def set_state(self, state):
        """Restore a `get_state` dict; the next ``on_train_begin`` keeps it instead of resetting."""
        check_state(state, _STATE_KEYS, "Plateau", self.monitor)
        self._reset()
        self._mode = state["mode"] if state["mode"] is not None else self._mode
        self.best = None if state["best"] is None else float(state["best"])
        self.wait = int(state["wait"])
        self.cooldown_counter = int(state["cooldown_counter"])
        self.last_epoch = int(state["last_epoch"])
        self.lr_changes = [LearningRateChange(**change) for change in state["lr_changes"]]
        # Applied once the optimizer's schedule is wrapped (`_attach_all`).
        self._pending_resets = state.get("resets")
        self._keep_state = True

    def get_config(self):
        return {
            "monitor": self.monitor,
            "factor": self.factor,
            "patience": self.patience,
            "threshold": self.threshold,
            "threshold_mode": self.threshold_mode,
            "cooldown": self.cooldown,
            "min_lr": self.min_lr,
            "mode": self.mode,
            "eps": self.eps,
            "log_status": self.log_status,
            "on_schedule": self.on_schedule,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
