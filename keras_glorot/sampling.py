"""Exact samplers built from ``keras.random`` and ``keras.ops`` (every backend)."""

from __future__ import annotations

import math

import keras

# Standard deviation of N(0, 1) truncated to [-2, 2]:
# sqrt(1 - 4 phi(2) / (2 Phi(2) - 1)), with phi, Phi the standard normal pdf, cdf.
TRUNCATED_NORMAL_STD = 0.87962566103423978
TRUNCATION = 2.0
# P(|Z| <= 2) = erf(2 / sqrt(2)).
_ERF_BOUND = math.erf(TRUNCATION / math.sqrt(2.0))

_LOW_PRECISION = ("float16", "bfloat16")


def truncated_normal(shape, stddev: float, dtype: str, seed):
    """Draws N(0, s**2) truncated to [-2 s, 2 s], s = stddev / 0.8796..., exactly.

    The standard deviation of the result is ``stddev``. TensorFlow's
    ``stateless_truncated_normal`` (rejection) and JAX's ``truncated_normal``
    (inverse CDF) are exact, so ``keras.random.truncated_normal`` is used there
    and gives the very values Keras' own ``VarianceScaling`` draws. Keras' torch
    backend instead keeps the first in-range value of four normal draws and
    returns an out-of-range value with probability 0.0455**4 (about 4 per
    million); on torch we sample by inverse CDF: ``u ~ U(-erf(sqrt 2),
    erf(sqrt 2))`` and ``z = sqrt(2) erfinv(u)`` has exactly the standard normal
    law on [-2, 2]. The final clip only absorbs float rounding at the bounds.
    Low-precision dtypes are drawn in float32 and cast, since ``erfinv`` in
    float16 would distort the tails.
    """
    scale = stddev / TRUNCATED_NORMAL_STD
    if keras.config.backend() != "torch":
        return keras.random.truncated_normal(shape, stddev=scale, dtype=dtype, seed=seed)
    compute_dtype = "float32" if dtype in _LOW_PRECISION else dtype
    bound = TRUNCATION * scale
    u = keras.random.uniform(
        shape, minval=-_ERF_BOUND, maxval=_ERF_BOUND, dtype=compute_dtype, seed=seed
    )
    z = keras.ops.clip(keras.ops.erfinv(u) * (math.sqrt(2.0) * scale), -bound, bound)
    return z if compute_dtype == dtype else keras.ops.cast(z, dtype)


def normal(shape, stddev: float, dtype: str, seed):
    """Draws N(0, stddev**2), as ``keras.random.normal``."""
    return keras.random.normal(shape, mean=0.0, stddev=stddev, dtype=dtype, seed=seed)


def uniform(shape, stddev: float, dtype: str, seed):
    """Draws U(-L, L) with L = sqrt(3) * stddev, whose standard deviation is stddev."""
    limit = math.sqrt(3.0) * stddev
    return keras.random.uniform(shape, minval=-limit, maxval=limit, dtype=dtype, seed=seed)


SAMPLERS = {
    "truncated_normal": truncated_normal,
    "untruncated_normal": normal,
    "uniform": uniform,
}
