"""What every kerasdl schedule shares: its dtype, `rebased`, and exact float helpers."""

import contextlib
import math
import struct
import types

import keras
from keras import ops

from kerasdl import _checks, _registration

LearningRateSchedule = keras.optimizers.schedules.LearningRateSchedule

_DTYPES = (None, "float16", "bfloat16", "float32", "float64")


def check_dtype(dtype):
    """`None` or a float dtype name (`keras.backend.standardize_dtype` spelling)."""
    if dtype is not None:
        with contextlib.suppress(ValueError):
            dtype = keras.backend.standardize_dtype(dtype)
    return _checks.one_of("dtype", dtype, _DTYPES)


def boolean(name, value):
    """`True` or `False` (not 0, 1 or a string)."""
    if not isinstance(value, bool):
        _checks._fail(name, "True or False", value)
    return value


class Schedule(LearningRateSchedule):
    """The base of kerasdl's schedules: `dtype`, `rebased` and the config round trip.

    `dtype=None` computes in `keras.backend.floatx()` at call time (float32 unless the run is
    float64). Subclasses hold `initial_learning_rate` and, when their value is
    `initial_learning_rate * factor(step)`, implement `_factor` (what `ChainedScheduler`
    multiplies).
    """

    def _dtype(self):
        return self.dtype or keras.backend.floatx()

    def _const(self, value):
        return ops.convert_to_tensor(value, dtype=self._dtype())

    def _epoch(self, step):
        """`step // steps_per_epoch` in the schedule's dtype (exact below 2**24 in float32)."""
        return floor_div(step, self.steps_per_epoch, self._dtype())

    def plateau_gain(self, since, step):
        """How PyTorch's scheduler carries on from a rate that `ReduceLROnPlateau` set.

        PyTorch's plateau sets ``group["lr"] = r`` after the scheduler's step; each later step
        of the scheduler is an affine map of the current rate (a chainable scheduler
        multiplies it, a recomputing one starts again from its base, `CosineAnnealingLR`
        scales its distance to ``eta_min``), so the rate at a later step is affine in ``r``:

        ```
        lr(step) = gain * r + offset        for step >= since
        ```

        with ``gain = 1, offset = 0`` at ``step = since`` and ``gain = 0, offset =
        schedule(step)`` once the scheduler has recomputed. This default is a chainable
        schedule's (its value is ``initial_learning_rate * _factor(step)``, PyTorch multiplies
        the rate by ``_factor``'s ratio at each of its steps): ``gain = _factor(step) /
        _factor(since)``, ``offset = 0``; 1 where ``_factor(since)`` is 0 (PyTorch's factors
        end at 0 and hold the rate there).

        Args:
            since: int (or an integer tensor), the optimizer step whose rate was set.
            step: int (or an integer tensor) `>= since`, the optimizer step asked about.

        Returns:
            ``(gain, offset)``, two tensors of the schedule's dtype.
        """
        if not hasattr(self, "_factor"):
            raise NotImplementedError(f"{type(self).__name__} is not a learning-rate schedule.")
        return chained(self._factor(since), self._factor(step), self._dtype())

    def rebased(self, initial_learning_rate):
        """The schedule PyTorch runs for a parameter group whose `initial_lr` is this one.

        PyTorch's schedulers start each group from its own `initial_lr`; the other
        arguments (`eta_min`, `gamma`, milestones...) are the same for every group. This is
        the same schedule with `initial_learning_rate` replaced (composites rebase their
        members; `CyclicLR` and `OneCycleLR`, whose own rates override the group's, return
        themselves).

        Args:
            initial_learning_rate: float `>= 0`, the group's learning rate.

        Returns:
            A new schedule of the same class.
        """
        initial_learning_rate = _checks.non_negative("initial_learning_rate", initial_learning_rate)
        config = self.get_config()
        config["initial_learning_rate"] = initial_learning_rate
        return type(self).from_config(config)


# ----------------------------------------------------------------------------- plateau gains


def has_plateau_gain(schedule):
    """Whether `schedule` can go on from a rate `ReduceLROnPlateau` set, PyTorch's way: it has
    `plateau_gain` and so have its parts (a composite holding a Keras schedule has not).

    Args:
        schedule: A `LearningRateSchedule`.

    Returns:
        bool.
    """
    if not callable(getattr(schedule, "plateau_gain", None)):
        return False
    try:
        schedule.plateau_gain(0, 0)
    except (ValueError, NotImplementedError):
        return False
    return True


def index(step, divisor=1):
    """`step // divisor` as an int64 tensor: which step of PyTorch's scheduler `step` is in."""
    return ops.floor_divide(ops.cast(ops.convert_to_tensor(step), "int64"), divisor)


def chained(factor_since, factor_step, dtype):
    """`plateau_gain` of a chainable schedule from its factors at `since` and at `step`."""
    factor_since = ops.cast(factor_since, dtype)
    factor_step = ops.cast(factor_step, dtype)
    ended = ops.equal(factor_since, ops.zeros_like(factor_since))
    ones = ops.ones_like(factor_since)
    gain = ops.where(ended, ones, ops.divide(factor_step, ops.where(ended, ones, factor_since)))
    return gain, ops.zeros_like(gain)


def recomputed(schedule, since, step, divisor=1):
    """`plateau_gain` of a schedule PyTorch recomputes from its base at each of its steps
    (every `divisor` optimizer steps): the set rate lasts until the next one."""
    same = ops.equal(index(since, divisor), index(step, divisor))
    value = ops.cast(schedule(step), schedule._dtype())
    gain = ops.cast(same, value.dtype)
    return gain, ops.where(same, ops.zeros_like(value), value)


def minimum(x, y):
    """`ops.minimum` of two float tensors, keeping their dtype (Keras 3.15's torch backend
    computes `minimum` of two float64 tensors in float32)."""
    return ops.where(ops.less(x, y), x, y)


def floor_div(step, divisor, dtype):
    """`step // divisor` as a float of `dtype` (an integer value)."""
    return ops.cast(ops.floor_divide(ops.convert_to_tensor(step), divisor), dtype)


def as_float(step, dtype):
    return ops.cast(ops.convert_to_tensor(step), dtype)


def power(base, exponent, dtype):
    """`base ** exponent` for a Python float `base > 0` and a float `exponent` of `dtype`.

    In float32, `float32(base) ** n` is off by `n` times the rounding error of
    `float32(base)`; `exp(n * log(base / float32(base)))`, whose logarithm is taken in
    float64, puts it back, so the result is within a few float32 ulps of `base ** n`.
    """
    if keras.backend.standardize_dtype(dtype) == "float64":
        return ops.power(ops.convert_to_tensor(base, dtype=dtype), exponent)
    base32 = struct.unpack("f", struct.pack("f", base))[0]
    correction = math.log(base / base32)
    return ops.multiply(
        ops.power(ops.convert_to_tensor(base32, dtype=dtype), exponent),
        ops.exp(ops.multiply(exponent, ops.convert_to_tensor(correction, dtype=dtype))),
    )


def sin(x):
    """`ops.sin`, in float64 for a float64 `x` on JAX too.

    Keras's JAX `sin` casts to `result_type(x.dtype, float)`, which is float32 for float64
    (keras 3.15): 1e-8 off. There `jax.numpy.sin` keeps the dtype.
    """
    if keras.backend.backend() == "jax" and keras.backend.standardize_dtype(x.dtype) == "float64":
        import jax.numpy as jnp

        return jnp.sin(x)
    return ops.sin(x)


def half_cosine(remaining, period, dtype):
    """`(1 + cos(pi * (1 - remaining / period))) / 2`, as `sin(pi * remaining / (2 * period))**2`.

    `remaining` (the distance to the end of the half period) is exact, so the value keeps its
    relative precision near 0, where `1 + cos(...)` would cancel.
    """
    # Constants as tensors of `dtype`: Keras's torch backend makes a Python float float32.
    remaining = ops.cast(remaining, dtype)
    period = ops.convert_to_tensor(period, dtype=dtype)
    angle = ops.divide(ops.multiply(remaining, ops.convert_to_tensor(math.pi / 2, dtype)), period)
    return ops.square(sin(angle))


# ----------------------------------------------------------------------------- functions


def check_function(name, fn, *, optional=False):
    """A callable (function or object); `None` when `optional`."""
    if fn is None and optional:
        return None
    if isinstance(fn, dict):
        fn = keras.saving.deserialize_keras_object(fn)
    if not callable(fn):
        _checks._fail(name, "a callable (a registered function or serializable object)", fn)
    return fn


def serialize_function(name, fn):
    """`fn` serialized, or a ValueError saying how to make it serializable."""
    if fn is None:
        return None
    target = fn if isinstance(fn, types.FunctionType) else type(fn)
    registered = keras.saving.get_registered_object(keras.saving.get_registered_name(target))
    if registered is not target or (target is not fn and not hasattr(fn, "get_config")):
        raise ValueError(
            f"Argument `{name}` cannot be serialized: {fn!r} is not registered. Define it as a "
            "named function (or a class with `get_config`) decorated with "
            '`@keras.saving.register_keras_serializable(package="...")`; a lambda or an '
            "unregistered function works in memory only."
        )
    return keras.saving.serialize_keras_object(fn)


def serialize_schedule(schedule):
    return keras.optimizers.schedules.serialize(schedule)


def deserialize_schedule(value):
    if isinstance(value, dict):
        return keras.optimizers.schedules.deserialize(value)
    return value


def rebase(schedule, initial_learning_rate):
    """`schedule.rebased(...)`, or a ValueError for a schedule without it (Keras's own)."""
    if not hasattr(schedule, "rebased"):
        raise ValueError(
            f"{_registration.plain_name(schedule)} has no `rebased` (only kerasdl's schedules do): "
            "it cannot follow a parameter group's initial_lr."
        )
    return schedule.rebased(initial_learning_rate)
