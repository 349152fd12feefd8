"""Reading a Keras variable's value on the host, on every backend and under tf.distribute.

``float(variable)`` and ``int(variable)`` raise ``TypeError`` for a variable created in a
``tf.distribute`` strategy's scope, and with NumPy 2 converting a TensorFlow variable or eager
tensor through ``__array__`` emits a ``DeprecationWarning`` (it takes no ``copy`` argument):
read the value as a tensor, then take TensorFlow's own ``.numpy()``.
"""

import keras
import numpy as np


def to_numpy(value):
    """``value`` (a Keras variable, a tensor or a number) as a NumPy array."""
    tensor = keras.ops.convert_to_tensor(value)
    if keras.backend.backend() == "tensorflow":
        return np.asarray(tensor.numpy())
    return keras.ops.convert_to_numpy(tensor)


def to_float(value):
    return float(to_numpy(value))


def to_int(value):
    return int(to_numpy(value))
