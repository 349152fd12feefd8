"""Argument checks shared by every component, in one wording.

Every check raises ``ValueError`` worded as Keras words its own, for example::

    Argument `delta` must be > 0. Received: delta=-1.0

Components call these in ``__init__`` so a bad value fails where it is given,
not at the first training step.
"""

import math
from collections.abc import Iterable


def _fail(name, requirement, value):
    raise ValueError(f"Argument `{name}` must be {requirement}. Received: {name}={value!r}")


def _as_real(name, value):
    if isinstance(value, (bool, str, bytes)):
        _fail(name, "a real number", value)
    if not isinstance(value, (int, float)):
        try:
            value = float(value)  # numpy scalars, 0-d arrays
        except (TypeError, ValueError):
            _fail(name, "a real number", value)
    if math.isnan(value):
        _fail(name, "a real number, not NaN", value)
    return value


def real(name, value):
    """``value`` is a real number (not NaN)."""
    return _as_real(name, value)


def positive(name, value):
    """``value > 0``."""
    value = _as_real(name, value)
    if not value > 0:
        _fail(name, "> 0", value)
    return value


def non_negative(name, value):
    """``value >= 0``."""
    value = _as_real(name, value)
    if not value >= 0:
        _fail(name, ">= 0", value)
    return value


def in_range(name, value, low, high, *, low_closed=True, high_closed=False):
    """``value`` in the interval between ``low`` and ``high``; ``[low, high)`` by default."""
    value = _as_real(name, value)
    above = value >= low if low_closed else value > low
    below = value <= high if high_closed else value < high
    if not (above and below):
        interval = f"{'[' if low_closed else '('}{low}, {high}{']' if high_closed else ')'}"
        _fail(name, f"in {interval}", value)
    return value


def _integer_at_least(name, value, low):
    ok = False
    if not isinstance(value, (bool, str, bytes)):
        try:
            ok = int(value) == value and int(value) >= low
        except (TypeError, ValueError, OverflowError):
            ok = False
    if not ok:
        _fail(name, f"an integer >= {low}", value)
    return int(value)


def positive_int(name, value):
    """An integer ``>= 1`` (an integral float such as ``3.0`` is taken as ``3``)."""
    return _integer_at_least(name, value, 1)


def non_negative_int(name, value):
    """An integer ``>= 0`` (an integral float such as ``3.0`` is taken as ``3``)."""
    return _integer_at_least(name, value, 0)


def one_of(name, value, allowed: Iterable):
    """``value`` is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        _fail(name, "one of " + ", ".join(repr(a) for a in allowed), value)
    return value
