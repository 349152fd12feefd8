"""Host reads of variables: plain, and under a tf.distribute strategy where float() fails."""

import warnings

import keras
import pytest

from kerasdl._values import to_float, to_int


def test_plain_variable_and_tensor():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert to_float(keras.Variable(0.25)) == 0.25
        assert to_int(keras.Variable(7, dtype="int64")) == 7
        assert to_float(keras.ops.convert_to_tensor(1.5)) == 1.5


@pytest.mark.tf_only
def test_variable_in_a_strategy_scope():
    import tensorflow as tf

    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        variable = keras.Variable(0.125)
    with pytest.raises(TypeError):
        float(variable)
    assert to_float(variable) == 0.125
