"""The shared argument checks: one wording, and no silent coercion of odd types."""

import math

import numpy as np
import pytest

from kerasdl import _checks


def test_wording_matches_keras():
    with pytest.raises(ValueError) as info:
        _checks.positive("delta", -1.0)
    assert str(info.value) == "Argument `delta` must be > 0. Received: delta=-1.0"


@pytest.mark.parametrize("value", [True, "0.2", b"1", None, [1.0], math.nan])
def test_non_numbers_are_rejected(value):
    with pytest.raises(ValueError, match="Argument `x` must be a real number"):
        _checks.non_negative("x", value)


def test_numpy_scalars_are_accepted():
    assert _checks.positive("x", np.float32(0.5)) == pytest.approx(0.5)
    assert _checks.non_negative("x", np.int64(0)) == 0


@pytest.mark.parametrize(
    ("value", "low_closed", "high_closed", "ok"),
    [
        (0.0, True, False, True),
        (1.0, True, False, False),
        (0.0, False, True, False),
        (1.0, False, True, True),
    ],
)
def test_in_range_bounds(value, low_closed, high_closed, ok):
    if ok:
        kwargs = {"low_closed": low_closed, "high_closed": high_closed}
        assert _checks.in_range("b", value, 0, 1, **kwargs) == value
        return
    with pytest.raises(ValueError, match=r"Argument `b` must be in [\[\(]0, 1[\]\)]"):
        _checks.in_range("b", value, 0, 1, low_closed=low_closed, high_closed=high_closed)


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "3", None])
def test_positive_int_rejects(value):
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        _checks.positive_int("n", value)


def test_positive_int_accepts_integral_values():
    assert _checks.positive_int("n", 3) == 3
    assert _checks.positive_int("n", np.int32(4)) == 4
    assert _checks.positive_int("n", 5.0) == 5


def test_one_of_lists_the_choices():
    with pytest.raises(ValueError) as info:
        _checks.one_of("mode", "maximum", ("min", "max"))
    assert str(info.value) == (
        "Argument `mode` must be one of 'min', 'max'. Received: mode='maximum'"
    )


@pytest.mark.parametrize("value", [-1, 2.5, True, "0", None])
def test_non_negative_int_rejects(value):
    with pytest.raises(ValueError, match="must be an integer >= 0"):
        _checks.non_negative_int("n", value)


def test_non_negative_int_accepts_zero_and_integral_values():
    assert _checks.non_negative_int("n", 0) == 0
    assert _checks.non_negative_int("n", np.int64(7)) == 7
