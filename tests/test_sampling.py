"""float16 and bfloat16 draws are as good as the dtype allows, on every backend.

The reference is the float32 law rounded to the dtype (``RoundedLaw`` in
benchmarks/low_precision_draws.py: exact atoms on the dtype's grid, the value past a
cut moved in to the largest number of the dtype within it). Each distribution and
dtype is drawn once, N = 6e6 values with a fixed seed, so every check below is
deterministic; its tolerance is Z_MAX standard errors, a check a correct sampler
fails with probability about 6e-5 for a new seed. Before float32 draws were rounded,
each check failed on at least one backend (numbers in the commit message that
added this file): JAX's bfloat16 truncated normal had 128 distinct values and
mean -0.017 sd (z = -41), TensorFlow's variance +0.34% (z = +7), TensorFlow's and
torch's ran one ulp past the cut.
"""

from __future__ import annotations

import functools
import math
import sys

import numpy as np
import pytest
from conftest import BACKEND, REPO

from keras_glorot import sampling

sys.path.insert(0, str(REPO / "benchmarks"))
import low_precision_draws as lp  # noqa: E402

N = 6_000_000
Z_MAX = 4.0  # P(|Z| > 4) = 6e-5 under the null
CASES = [(d, t) for d in lp.DISTRIBUTIONS for t in lp.DTYPES]
CUT_CASES = [(d, t) for d, t in CASES if d != "untruncated_normal"]


@functools.cache
def draw(distribution: str, dtype: str) -> np.ndarray:
    # Sorted, in float32 (exact for both dtypes, half the memory of float64).
    return np.sort(lp.draw(sampling, distribution, dtype, N, seed=lp.SEED).astype(np.float32))


@functools.cache
def law(distribution: str, dtype: str) -> lp.RoundedLaw:
    return lp.RoundedLaw(distribution, dtype)


@pytest.fixture(scope="module", autouse=True)
def _free_draws():
    yield
    draw.cache_clear()  # 6 x 24 MB


@pytest.mark.parametrize("distribution, dtype", CASES)
def test_follows_rounded_float32_law(distribution, dtype):
    # Exact discrete KS; the continuous p-value is conservative for a discrete law.
    d, p = law(distribution, dtype).ks(draw(distribution, dtype))
    assert p > 1e-3, (d, p)


@pytest.mark.parametrize("distribution, dtype", CASES)
def test_mean_within_standard_errors(distribution, dtype):
    # The rounded law's mean is 0 (round to nearest and the clip are odd-symmetric);
    # the standard error of a mean of N draws is sqrt(Var / N).
    ref = law(distribution, dtype)
    x = draw(distribution, dtype)
    z = (x.mean(dtype=np.float64) - ref.mean) / math.sqrt(ref.var / N)
    assert abs(z) < Z_MAX, (x.mean(dtype=np.float64) / math.sqrt(ref.var), z)


@pytest.mark.parametrize("distribution, dtype", CASES)
def test_variance_within_standard_errors(distribution, dtype):
    # SE of the sample variance: Var sqrt((2 + excess kurtosis) / N) (the large-N form of
    # Var(s^2) = sigma^4 (2 / (N - 1) + kappa / N)), kurtosis of the rounded law.
    ref = law(distribution, dtype)
    x = draw(distribution, dtype)
    se = ref.var * math.sqrt((2.0 + ref.excess_kurtosis) / N)
    var = x.var(dtype=np.float64)
    assert abs(var - ref.var) < Z_MAX * se, (var / ref.var - 1.0, se / ref.var)
    # The rounded law keeps the target variance to 1e-4 (worst here: -4e-5, the bfloat16
    # uniform, from the clip at the cut; rounding alone moves it by O(u**2), u = 2**-8).
    assert ref.var == pytest.approx(lp.STDDEV**2, rel=1e-4)


@pytest.mark.parametrize("distribution, dtype", CASES)
def test_distinct_values_as_expected(distribution, dtype):
    # E[distinct] = sum(q), q = 1 - (1 - p)**N over the atoms p. Occupancy indicators are
    # negatively associated (Dubhashi & Ranjan 1998), so Var <= sum(q (1 - q)).
    ref = law(distribution, dtype)
    q = -np.expm1(N * np.log1p(-ref.probs))
    distinct = np.unique(draw(distribution, dtype)).size
    expected, sd = q.sum(), math.sqrt(np.sum(q * (1.0 - q)))
    assert abs(distinct - expected) < Z_MAX * sd, (distinct, expected, sd)


@pytest.mark.parametrize("dtype", lp.DTYPES)
def test_truncated_normal_takes_every_value_near_the_cut(dtype):
    # [s, 2 s] holds as many numbers of the dtype as one binade, 2**(p - 1) with p bits of
    # significand: 128 per sign for bfloat16, 1024 for float16. Each is an atom of mass
    # >= 6e-4 (bfloat16) or 7e-5 (float16) here, so N = 6e6 draws miss one with
    # probability < 2048 e^-400. JAX's native bfloat16 sampler has 128 values in all.
    ref = law("truncated_normal", dtype)
    near_cut = ref.values[np.abs(ref.values) >= ref.s]
    assert near_cut.size == 2 * {"bfloat16": 128, "float16": 1024}[dtype]
    assert ref.probs[np.abs(ref.values) >= ref.s].min() * N > 400
    missing = np.setdiff1d(near_cut, draw("truncated_normal", dtype))
    assert missing.size == 0, (missing.size, near_cut.size)


@pytest.mark.parametrize("distribution, dtype", CUT_CASES)
def test_no_value_past_the_cut_and_the_cut_is_reached(distribution, dtype):
    # The cut (2 s, or L) lies past the midpoint of its ulp in both dtypes at this stddev,
    # so rounding the float32 draw alone would carry values one ulp past it.
    ref = law(distribution, dtype)
    x = draw(distribution, dtype)
    cut = ref.values.max()  # the largest number of the dtype within the cut
    assert -x[0] <= cut and x[-1] <= cut, (-x[0] / ref.s, x[-1] / ref.s)
    assert -x[0] == cut and x[-1] == cut  # its atom has mass ~1e-4: reached at N = 6e6


@pytest.mark.parametrize("dtype", lp.DTYPES)
def test_largest_within_rounds_toward_zero(dtype):
    grid = lp.representable(dtype)
    rng = np.random.default_rng(0)
    bounds = [*rng.uniform(0.0, 4.0, 200), *grid[grid >= 0][::97], 1e-9, 1e6, 2.0 * 0.03 / 0.8796]
    for bound in bounds:
        below = grid[grid <= bound]
        assert sampling.largest_within(float(bound), dtype) == below.max(), bound


# Torch's truncated normal: the in-place inverse-CDF chain against the out-of-place one.
# Its law is checked with every other backend's above and in tests/test_initializers.py.
torch_only = pytest.mark.skipif(BACKEND != "torch", reason="the torch sampler's own path")


def _out_of_place_truncated_normal(shape, stddev, dtype, seed):
    """The inverse-CDF chain in public ``keras.random`` and ``keras.ops`` calls alone."""
    import keras

    scale = stddev / sampling.TRUNCATED_NORMAL_STD
    bound = sampling.TRUNCATION * scale
    low = dtype in ("float16", "bfloat16")
    u = keras.random.uniform(
        shape, -sampling._ERF_BOUND, sampling._ERF_BOUND, "float32" if low else dtype, seed
    )
    z = keras.ops.clip(keras.ops.erfinv(u) * (math.sqrt(2.0) * scale), -bound, bound)
    if low:
        cut = sampling.largest_within(bound, dtype)
        z = keras.ops.cast(keras.ops.clip(z, -cut, cut), dtype)
    return z


def _numpy(x) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(x, "float64")))


# What one ulp of keras.random.uniform's U(-erf(sqrt 2), erf(sqrt 2)) moves, at most, in
# the final value, in units of the cut: ulp(1) erfinv'(erf(sqrt 2)) sqrt 2 / 2 (the
# derivative sqrt(pi) / 2 e**2 = 6.5 at the cut), and, for float16 and bfloat16, one
# ulp of the dtype at the cut.
ULPS_AT_CUT = {"float32": 2**-23 * 6.6, "float64": 2**-52 * 6.6, "float16": 2**-10,
               "bfloat16": 2**-7}  # fmt: skip


@torch_only
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("shape", [(), (7,), (3, 3, 16, 8), (300, 1000)])
def test_torch_in_place_chain_is_the_out_of_place_one_to_an_ulp(shape, dtype):
    # One pass of uniform_ and the chain in place skip five temporaries; the uniform is
    # mapped in double, so a value may move by one ulp, and no more (same generator
    # use; a change in Keras' torch uniform or seeding would show here first).
    ours = sampling.truncated_normal(shape, 0.03, dtype, 5)
    assert tuple(ours.shape) == shape and str(ours.dtype) == f"torch.{dtype}"
    theirs = _out_of_place_truncated_normal(shape, 0.03, dtype, 5)
    cut = sampling.TRUNCATION * 0.03 / sampling.TRUNCATED_NORMAL_STD
    gap = np.abs(_numpy(ours) - _numpy(theirs))
    assert gap.max(initial=0.0) <= ULPS_AT_CUT[dtype] * cut, gap.max() / cut
    assert np.abs(_numpy(ours)).max(initial=0.0) <= cut


@torch_only
def test_torch_uniform_is_keras_uniform_to_an_ulp():
    import keras

    ours = _numpy(sampling._torch_uniform((1000, 1000), -0.9, 0.9, "float32", 4))
    theirs = _numpy(keras.random.uniform((1000, 1000), -0.9, 0.9, "float32", 4))
    assert np.abs(ours - theirs).max() <= np.spacing(np.float32(0.9))
    assert -0.9 <= ours.min() and ours.max() <= 0.9


@torch_only
def test_torch_seed_generator_advances_as_keras_uniform():
    import keras

    ours, theirs = keras.random.SeedGenerator(3), keras.random.SeedGenerator(3)
    draws = [sampling.truncated_normal((50,), 0.1, "float32", ours) for _ in range(2)]
    assert not np.array_equal(_numpy(draws[0]), _numpy(draws[1]))
    for drawn in draws:
        expected = _out_of_place_truncated_normal((50,), 0.1, "float32", theirs)
        np.testing.assert_allclose(_numpy(drawn), _numpy(expected), rtol=0, atol=1e-6)


@torch_only
def test_torch_without_keras_private_helper_uses_public_uniform(monkeypatch):
    # Another Keras layout (no torch_seed_generator): the public keras.random.uniform,
    # same values, same law.
    import types

    expected = _numpy(sampling.truncated_normal((64, 32), 0.03, "bfloat16", 9))
    # Keras' own functions keep their module; only a new import sees the stub.
    stub = types.ModuleType("keras.src.backend.torch.random")
    monkeypatch.setitem(sys.modules, "keras.src.backend.torch.random", stub)
    import keras

    calls, uniform = [], keras.random.uniform

    def counted(*args, **kwargs):
        calls.append(args)
        return uniform(*args, **kwargs)

    monkeypatch.setattr(keras.random, "uniform", counted)
    with pytest.raises(ImportError):
        from keras.src.backend.torch.random import torch_seed_generator  # noqa: F401
    np.testing.assert_array_equal(
        _numpy(sampling.truncated_normal((64, 32), 0.03, "bfloat16", 9)), expected
    )
    assert len(calls) == 1  # the public call ran


@torch_only
@pytest.mark.parametrize("threads", [1, 2])
def test_torch_chain_runs_on_one_thread_gives_the_threads_back_and_the_same_values(threads):
    # The in-place chain runs on one intra-op thread (a busy core stalls a split pass):
    # the caller's thread count is put back, and the values do not depend on it.
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        drawn = _numpy(sampling.truncated_normal((257, 300), 0.05, "float32", 11))
        assert torch.get_num_threads() == threads
        torch.set_num_threads(3)
        again = _numpy(sampling.truncated_normal((257, 300), 0.05, "float32", 11))
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(drawn, again)
