"""Exact samplers built from ``keras.random`` and ``keras.ops`` (every backend).

float16 and bfloat16 are drawn in float32 and rounded to the dtype, on every backend
and for every distribution. The backends' own low-precision draws are coarse and
biased: JAX's ``uniform`` randomizes only the ``nmant`` stored significand bits of a
number in [1, 2) (``jax/_src/random/core.py``, ``_uniform``), so a bfloat16 draw
takes 128 values and a float16 one 1024, and its ``truncated_normal`` is the inverse
CDF of that uniform evaluated in the dtype (``_truncated_normal``), with a biased
mean. TensorFlow's bfloat16 uniform has the same 128 values, and its low-precision
truncated normal and torch's clip-then-cast land past the cut.
``benchmarks/low_precision_draws.py`` measures all of them; docs/derivation.md,
"Low-precision draws", gives the numbers.

Rounding a float32 draw to nearest (the cast) is the best the dtype can hold: each
value is the dtype's nearest to a float32 draw, ``|fl(x) - x| <= u |x|`` (normal range) for the unit
roundoff ``u = 2**-p`` (Higham 2002, sec. 2.1; ``p`` = 8 for bfloat16, 11 for
float16). Rounding to nearest is odd-symmetric, so the mean stays 0, and it moves the
variance by O(u**2) relative (exactly, for a bfloat16 normal: -3e-6). A cut
(truncated normal ``+-2 s``, uniform ``+-L``) that is not a number of the dtype is
replaced by the largest number of the dtype within it, and the float32 draw is
clipped to it before the cast, so rounding cannot carry a value past the cut. The
clip moves only the values that would have rounded to the next number out, a mass of
at most ``density(cut) * ulp / 2`` per side, each by one ulp: the variance drops by
at most ``2 density(cut) cut ulp**2`` (bfloat16: 7e-5 relative for the truncated
normal, 2e-4 for the uniform).

float32 and float64 are drawn directly, as Keras' own ``VarianceScaling`` does.

Reference:
- L. Devroye, Non-Uniform Random Variate Generation, Springer 1986, sec. II.2
  (inversion: ``F^-1(U)`` has distribution function ``F``).
- NIST Digital Library of Mathematical Functions, https://dlmf.nist.gov/, eq. 7.2.1.
- N. J. Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., SIAM 2002,
  sec. 2.1 (``fl(x) = x (1 + d)``, ``|d| <= u``).
- F. Mezzadri, How to generate random matrices from the classical compact groups,
  Notices of the AMS 54 (2007), 592-604 (QR of a Gaussian with R's signs fixed is Haar).
- A. M. Saxe, J. L. McClelland, S. Ganguli, Exact solutions to the nonlinear dynamics
  of learning in deep linear neural networks, ICLR 2014, arXiv:1312.6120.
- L. Xiao, Y. Bahri, J. Sohl-Dickstein, S. S. Schoenholz, J. Pennington, Dynamical
  Isometry and a Mean Field Theory of CNNs, ICML 2018, arXiv:1806.05393, Algorithm 2.
"""

from __future__ import annotations

import math

import keras
import ml_dtypes  # a dependency of Keras 3, which uses it for bfloat16 itself
import numpy as np

from keras_glorot import backend, keras_internals

# Standard deviation of N(0, 1) truncated to [-2, 2]:
# sqrt(1 - 4 phi(2) / (2 Phi(2) - 1)), with phi, Phi the standard normal pdf, cdf.
TRUNCATED_NORMAL_STD = 0.87962566103423978
TRUNCATION = 2.0
# P(|Z| <= 2) = erf(2 / sqrt(2)).
_ERF_BOUND = math.erf(TRUNCATION / math.sqrt(2.0))

_LOW_PRECISION = {"float16": np.dtype(np.float16), "bfloat16": np.dtype(ml_dtypes.bfloat16)}


def _draw_dtype(dtype: str) -> str:
    return "float32" if dtype in _LOW_PRECISION else dtype


def largest_within(bound: float, dtype: str) -> float:
    """The largest number of the low-precision ``dtype`` that is <= ``bound`` (>= 0).

    That is ``bound`` rounded toward zero; every such number is also a float32.
    """
    numpy_dtype = _LOW_PRECISION[dtype]
    with np.errstate(over="ignore"):
        nearest = np.array(bound, numpy_dtype)  # one of bound's two neighbours, or inf
    if float(nearest) > bound:
        nearest = np.nextafter(nearest, np.array(0.0, numpy_dtype))
    return float(nearest)


def _cast_within(x, dtype: str, bound: float | None):
    """Rounds the float32 draw ``x`` to ``dtype``, no value past ``+-bound``.

    Full-precision draws are returned as they are.
    """
    if dtype not in _LOW_PRECISION:
        return x
    if bound is not None:
        cut = largest_within(bound, dtype)
        # Rounding to nearest is monotone and cut is a number of dtype: |x| <= cut stays.
        x = keras.ops.clip(x, -cut, cut)
    return keras.ops.cast(x, dtype)


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
    law on [-2, 2] (``_torch_truncated_normal``). float16 and bfloat16 are drawn in
    float32 and rounded (see the module).
    """
    scale = stddev / TRUNCATED_NORMAL_STD
    bound = TRUNCATION * scale
    draw_dtype = _draw_dtype(dtype)
    if keras.config.backend() == "torch":
        # Low precision: clip once, to the dtype's cut (<= bound), then round.
        cut = largest_within(bound, dtype) if dtype in _LOW_PRECISION else bound
        z = _torch_truncated_normal(tuple(shape), scale, cut, draw_dtype, seed)
        return keras.ops.cast(z, dtype) if dtype in _LOW_PRECISION else z
    z = keras.random.truncated_normal(shape, stddev=scale, dtype=draw_dtype, seed=seed)
    return _cast_within(z, dtype, bound)


def _torch_uniform(shape: tuple, minval: float, maxval: float, dtype: str, seed):
    """U(minval, maxval) on torch from Keras' generator for ``seed``, in one pass.

    ``keras.random.uniform`` draws ``torch.rand`` from ``torch_seed_generator(seed)``
    and returns ``(maxval - minval) * rand + minval`` (``keras/src/backend/torch/
    random.py``): two more passes, each into a fresh tensor, and on a CPU a fresh
    tensor of a large kernel costs as much as its arithmetic (its pages are faulted
    in). ``Tensor.uniform_(minval, maxval)`` consumes the generator as ``torch.rand``
    does (``torch.rand`` is ``uniform_(0, 1)``: a 24-bit integer ``k`` per float32
    value, ``x = k / 2**24``) and maps ``x`` to ``x (maxval - minval) + minval`` in
    double before rounding (ATen's ``transformation::uniform_real``), so each value
    is Keras' own or one ulp from it, on the same grid of 2**24 equally likely
    points: the same law. Where that private Keras helper is missing or gives no
    generator (the meta device), this is ``keras.random.uniform`` itself.
    """
    import torch  # the torch backend is running

    generator = keras_internals.torch_seed_generator(seed)
    if generator is None:
        return keras.random.uniform(shape, minval=minval, maxval=maxval, dtype=dtype, seed=seed)
    u = torch.empty(shape, dtype=getattr(torch, dtype), device=generator.device)
    return u.uniform_(minval, maxval, generator=generator)


def _torch_truncated_normal(shape: tuple, scale: float, cut: float, dtype: str, seed):
    """``clip(sqrt(2) scale erfinv(u), -cut, cut)``, ``u ~ U(-erf(sqrt 2), erf(sqrt 2))``.

    If ``U ~ U(-erf(sqrt 2), erf(sqrt 2))``, then ``P(sqrt(2) erfinv(U) <= z) =
    (erf(z / sqrt 2) + erf(sqrt 2)) / (2 erf(sqrt 2))``, the CDF of N(0, 1) cut at
    +-2, as ``Phi(z) = (1 + erf(z / sqrt 2)) / 2`` (substitute ``t = s / sqrt 2`` in
    ``erf x = 2 / sqrt(pi) int_0^x exp(-t**2) dt``, DLMF 7.2.1); this is the inversion
    method (Devroye 1986, Theorem II.2.1). ``cut`` is the bound
    ``2 scale``, or for float16 and bfloat16 the largest number of the dtype within
    it (see the module): the clip only absorbs float rounding at the bound. Done in
    place on one tensor (``torch.erfinv_``, ``mul_``, ``clamp_``): the operations of
    the out-of-place ``keras.ops`` chain, without three fresh tensors.

    The three passes run on one intra-op thread (``backend.one_intra_op_thread``).
    Split across threads, each pass waits for its slowest chunk: with a busy core
    that made the draw of GPT-2's kernels 1.8 times slower than on one thread, while
    on quiet cores two threads save a sixth. The values are the same either way.
    """
    u = _torch_uniform(shape, -_ERF_BOUND, _ERF_BOUND, dtype, seed)
    with backend.one_intra_op_thread():
        return u.erfinv_().mul_(math.sqrt(2.0) * scale).clamp_(-cut, cut)


def normal(shape, stddev: float, dtype: str, seed):
    """Draws N(0, stddev**2), as ``keras.random.normal`` (low precision: see the module)."""
    z = keras.random.normal(shape, mean=0.0, stddev=stddev, dtype=_draw_dtype(dtype), seed=seed)
    return _cast_within(z, dtype, None)


def uniform(shape, stddev: float, dtype: str, seed):
    """Draws U(-L, L) with L = sqrt(3) * stddev, whose standard deviation is stddev."""
    limit = math.sqrt(3.0) * stddev
    z = keras.random.uniform(
        shape, minval=-limit, maxval=limit, dtype=_draw_dtype(dtype), seed=seed
    )
    return _cast_within(z, dtype, limit)


def orthonormal(rows: int, cols: int, dtype: str, seed):
    """A Haar-distributed ``(rows, cols)`` matrix with orthonormal columns or rows:
    ``keras.initializers.Orthogonal``'s draw.

    Orthonormal columns (``Q^T Q = I``) if ``rows >= cols``, else orthonormal rows
    (``Q Q^T = I``). Keras factors a Gaussian ``(max, min)`` matrix ``A = QR`` and
    multiplies each column of ``Q`` by the sign of ``R``'s diagonal: that makes the
    factorization unique (positive diagonal), so ``Q`` inherits the Gaussian's
    invariance under rotations and is Haar-distributed (Mezzadri 2007; Saxe et al.
    2014). Without the fix, Householder QR (LAPACK) returns ``Q_11 = -|A_11| /
    ||A_1||``, always negative.
    """
    return keras.initializers.Orthogonal(seed=seed)((rows, cols), dtype=dtype)


def orthogonal(shape, stddev: float, dtype: str, seed):
    """An orthogonal kernel whose entries have root mean square ``stddev``.

    The kernel is read as the matrix ``(rows, cols) = (prod(shape[:-1]),
    shape[-1])``, as ``keras.initializers.Orthogonal`` does. With orthonormal
    columns (``rows >= cols``) the squared entries sum to ``cols`` (one per
    column), so their mean is ``1 / rows``; with orthonormal rows it is ``1 /
    cols``. Multiplying by ``stddev * sqrt(max(rows, cols))`` therefore gives
    entries of mean square ``stddev**2`` exactly (not only in expectation), and
    ``W^T W = stddev**2 max(rows, cols) I`` (or ``W W^T``). Each entry has mean 0
    (Haar: ``Q`` and ``-Q`` are equally likely), so ``stddev**2`` is also its variance.
    float16 and bfloat16 are drawn in float32 and rounded (see the module).
    """
    rows, cols = math.prod(shape[:-1]), shape[-1]
    q = orthonormal(rows, cols, _draw_dtype(dtype), seed)
    w = keras.ops.reshape(q * (stddev * math.sqrt(max(rows, cols))), shape)
    return _cast_within(w, dtype, None)


def delta_centre(shape) -> tuple[int, ...]:
    """The centre tap ``(k - 1) // 2`` per spatial axis of a conv kernel ``shape``.

    For an even size ``k`` this is the tap that ``padding="same"`` aligns with the
    output position: Keras pads ``(k - 1) // 2`` before and the rest after on every
    backend (TensorFlow's and JAX's "SAME", Keras' torch ``_compute_padding_length``),
    so output ``i`` reads input ``i - (k - 1) // 2 + t`` at tap ``t``. TensorFlow's
    ``ConvolutionDeltaOrthogonal`` uses the same tap. ``k // 2`` (equal for odd
    ``k``) would shift the output by one pixel for even ``k``.
    """
    return tuple((k - 1) // 2 for k in shape[:-2])


def delta_orthogonal(shape, gain: float, dtype: str, seed):
    """Zeros except the centre tap: ``gain`` times a Haar ``(c_in, c_out)`` matrix.

    ``c_in <= c_out``: the centre matrix has orthonormal rows (Xiao et al. 2018,
    Algorithm 2). Drawn in float32 for float16 and bfloat16 and rounded (the zeros
    stay zeros).
    """
    c_in, c_out = shape[-2], shape[-1]
    centre = orthonormal(c_in, c_out, _draw_dtype(dtype), seed) * gain
    taps = [(c, k - 1 - c) for c, k in zip(delta_centre(shape), shape[:-2], strict=True)]
    kernel = keras.ops.pad(
        keras.ops.reshape(centre, (1,) * len(taps) + (c_in, c_out)), [*taps, (0, 0), (0, 0)]
    )
    return _cast_within(kernel, dtype, None)


SAMPLERS = {
    "truncated_normal": truncated_normal,
    "untruncated_normal": normal,
    "uniform": uniform,
    "orthogonal": orthogonal,
}
