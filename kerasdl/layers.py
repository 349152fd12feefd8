"""Layers: `Dropout`, Keras's ``Dropout`` with a mask that costs fewer random numbers on JAX.

The chapter's dropout (section 3.4.4) keeps each unit with probability ``1 - rate`` and scales the
kept ones by ``1 / (1 - rate)`` (inverted dropout, as ``torch.nn.Dropout`` and Keras do). Keras
draws one 32-bit random number per unit for that (``jax.random.bernoulli``); on the 2-core CPU the
JAX epoch of the chapter's network spent about 0.1 s of 0.8 on those numbers alone. When
``rate`` is a multiple of ``1 / 2**k`` for some ``k <= 8`` (the chapter's 0.5: ``k = 1``), ``k``
random bits decide a unit exactly as well: the unit is dropped when its ``k``-bit number is below
``rate * 2**k``, which happens with probability ``rate``, each unit independently of the others.
So one 32-bit word serves ``32 // k`` units::

    words = bits(seed, ceil(units * k / 32))          # uint32, threefry, as Keras's draws
    codes = (words >> [0, k, 2k, ...]) & (2**k - 1)    # 32 // k codes per word
    keep  = codes >= rate * 2**k                       # P(keep) = 1 - rate
    out   = where(keep, x / (1 - rate), 0)

The law of the output is Keras's and torch's; the random numbers are not the same ones, so a run
with this layer does not repeat one with Keras's (nor does any JAX run repeat a TensorFlow one).
On TensorFlow and torch, for any other ``rate``, with a ``noise_shape``, or at inference, it is
Keras's ``Dropout`` unchanged. Its saved variables are Keras's (the seed generator's state), so
weights saved by either layer load into the other.
"""

from __future__ import annotations

import math

import keras

from kerasdl._registration import serializable

__all__ = ["Dropout", "bits_per_unit"]

_MAX_BITS = 8


def bits_per_unit(rate: float) -> int | None:
    """The fewest random bits ``k`` (at most 8) with ``rate * 2**k`` a whole number, or None.

    Args:
        rate: The dropout rate, in (0, 1).

    Returns:
        ``k``, or None when no ``k <= 8`` makes ``rate`` exact (0.1, 0.3, ...).
    """
    for k in range(1, _MAX_BITS + 1):
        scaled = rate * 2**k
        if scaled == math.floor(scaled):
            return k
    return None


@serializable("layers")
class Dropout(keras.layers.Dropout):
    """``keras.layers.Dropout`` whose mask, on JAX, takes ``k`` random bits a unit instead of 32
    when ``rate`` is a multiple of ``1 / 2**k`` (module docstring).

    Args:
        rate: Fraction of the units to drop, in [0, 1].
        noise_shape: As Keras's (then the mask is Keras's own).
        seed: The seed of the layer's random numbers.
        **kwargs: Keras ``Layer`` arguments (``name``, ...).

    Example:

    ```python
    model = keras.Sequential([keras.layers.Dense(256), kerasdl.layers.Dropout(0.5, seed=1)])
    ```

    References:
        - [keras.layers.Dropout](https://keras.io/api/layers/regularization_layers/dropout/)
        - [torch.nn.Dropout](https://pytorch.org/docs/stable/generated/torch.nn.Dropout.html)
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        if kwargs.get("name") is None:  # Keras names a layer after its class's __name__
            from keras.src.utils.naming import auto_name

            kwargs["name"] = auto_name("dropout")
        super().__init__(rate, noise_shape=noise_shape, seed=seed, **kwargs)
        self._bits = None
        if self.noise_shape is None and 0 < self.rate < 1:
            self._bits = bits_per_unit(float(self.rate))

    def call(self, inputs, training=False):
        if not training or self._bits is None or keras.backend.backend() != "jax":
            return super().call(inputs, training=training)
        return _packed_dropout_jax(inputs, float(self.rate), self._bits, self.seed_generator)


def _packed_dropout_jax(inputs, rate: float, k: int, seed_generator):
    import jax
    import jax.numpy as jnp

    units = math.prod(inputs.shape)
    per_word = 32 // k
    words = jax.random.bits(seed_generator.next(), (-(-units // per_word),), jnp.uint32)
    shifts = jnp.arange(0, per_word * k, k, dtype=jnp.uint32)
    codes = (words[:, None] >> shifts) & jnp.uint32(2**k - 1)
    keep = codes.reshape(-1)[:units].reshape(inputs.shape) >= jnp.uint32(round(rate * 2**k))
    keep_prob = 1.0 - rate
    return jax.lax.select(keep, inputs / keep_prob, jnp.zeros_like(inputs))
