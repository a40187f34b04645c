"""The initializers' draws against their formulas: variance, mean, bounds, law, dtype,
seeds, layouts and bad input. Tolerances are multiples of the standard error."""

import math
import warnings

import keras
import numpy as np
import pytest
from scipy import stats

import keras_glorot
from keras_glorot import (
    DeltaOrthogonal,
    Glorot,
    GlorotLeakyNormal,
    GlorotLeakyUniform,
    compute_fans,
)
from tests.conftest import BACKEND, to_numpy

Z_MAX = 4.0  # |z| bound for a deterministic check: P(|Z| > 4) = 6e-5 under the null.
TRUNC = stats.truncnorm(-2.0, 2.0)
EXCESS_KURTOSIS = {
    "truncated_normal": float(TRUNC.stats(moments="k")),
    "untruncated_normal": 0.0,
    "uniform": -1.2,
}


def leaky_glorot_variance(fan_in, fan_out, slope):
    """Glorot & Bengio 2010 eq. 12 with He et al. 2015 eq. 15's leaky-ReLU factor."""
    return 4.0 / ((1.0 + slope**2) * (fan_in + fan_out))


def assert_moments(w: np.ndarray, variance: float, distribution: str):
    """Mean ~ 0 and sample variance ~ `variance`, each within Z_MAX standard errors.

    SE of the sample variance: variance * sqrt((2 + excess kurtosis) / n), the
    large-n form of Var(s^2) = sigma^4 (2/(n-1) + kappa/n).
    """
    x = w.astype(np.float64).ravel()
    n = x.size
    se_mean = math.sqrt(variance / n)
    se_var = variance * math.sqrt((2.0 + EXCESS_KURTOSIS[distribution]) / n)
    assert abs(x.mean()) < Z_MAX * se_mean, (x.mean(), se_mean)
    assert abs(x.var() - variance) < Z_MAX * se_var, (x.var(), variance, se_var)


SHAPES = [(512, 256), (3, 3, 64, 128), (5, 48, 96)]
SLOPES = [0.0, 0.01, 0.2, 1.0]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("slope", SLOPES)
@pytest.mark.parametrize("cls", [GlorotLeakyNormal, GlorotLeakyUniform])
def test_leaky_variance_matches_formula(cls, slope, shape):
    w = to_numpy(cls(negative_slope=slope, seed=7)(shape))
    fan_in, fan_out = compute_fans(shape)
    distribution = "uniform" if cls is GlorotLeakyUniform else "truncated_normal"
    assert w.shape == shape
    assert_moments(w, leaky_glorot_variance(fan_in, fan_out, slope), distribution)


@pytest.mark.parametrize("slope", SLOPES)
def test_uniform_respects_limit_and_reaches_it(slope):
    shape = (256, 512)
    w = to_numpy(GlorotLeakyUniform(negative_slope=slope, seed=3)(shape))
    limit = math.sqrt(12.0 / ((1 + slope**2) * sum(shape)))
    assert np.abs(w).max() <= limit * (1 + 1e-6)
    # With 131072 draws the extremes come within 1e-4 * L of the bound.
    assert np.abs(w).max() > limit * (1 - 1e-3)
    result = stats.kstest(w.ravel() / limit, stats.uniform(-1, 2).cdf)
    assert result.pvalue > 1e-3


@pytest.mark.parametrize("slope", [0.0, 0.2])
def test_truncated_normal_follows_exact_law(slope):
    shape = (256, 512)
    init = GlorotLeakyNormal(negative_slope=slope, seed=11)
    w = to_numpy(init(shape))
    scale = init.stddev(shape) / TRUNC.std()
    result = stats.kstest(w.ravel().astype(np.float64) / scale, TRUNC.cdf)
    assert result.pvalue > 1e-3, result


def test_truncated_normal_never_leaves_two_sigma():
    # Keras' torch backend leaks about 4 values per million past 2 sigma; with
    # 4 million draws such a sampler would show ~16 (P(none) = e^-16).
    shape = (2048, 2048)
    init = Glorot(seed=5)
    scale = init.stddev(shape) / TRUNC.std()
    w = to_numpy(init(shape))
    assert np.abs(w).max() <= 2.0 * scale * (1 + 1e-6)


@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("activation", ["tanh", "gelu", "selu"])
def test_general_glorot_variance(activation, mode, distribution):
    from keras_glorot import calculate_gain

    shape = (3, 3, 32, 96)
    init = Glorot(activation, mode=mode, distribution=distribution, seed=2)
    fan_in, fan_out = compute_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    assert_moments(to_numpy(init(shape)), calculate_gain(activation) ** 2 / n, distribution)


def test_equals_keras_for_linear_uniform():
    # Same seed, same uniform draw: Glorot(linear, uniform) is Keras' glorot_uniform.
    ours = to_numpy(Glorot(distribution="uniform", seed=42)((64, 32)))
    theirs = to_numpy(keras.initializers.GlorotUniform(seed=42)((64, 32)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


@pytest.mark.skipif(BACKEND == "torch", reason="Keras' torch truncated normal is inexact")
def test_equals_keras_glorot_normal_where_keras_is_exact():
    ours = to_numpy(Glorot(seed=42)((64, 32)))
    theirs = to_numpy(keras.initializers.GlorotNormal(seed=42)((64, 32)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_he_is_glorot_relu_fan_in():
    ours = to_numpy(
        Glorot("relu", mode="fan_in", distribution="untruncated_normal", seed=4)((64, 32))
    )
    theirs = keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal", seed=4)
    np.testing.assert_allclose(ours, to_numpy(theirs((64, 32))), rtol=1e-6)


def test_pytorch_convention_matches_xavier_formula():
    # torch.nn.init.xavier_normal_: std = gain * sqrt(2 / (fan_in + fan_out)).
    init = Glorot("tanh", convention="pytorch", seed=0)
    assert init.stddev((100, 300)) == pytest.approx(5 / 3 * math.sqrt(2 / 400), rel=1e-12)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize("cls", [GlorotLeakyNormal, GlorotLeakyUniform])
def test_dtype_matches_keras(cls, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # JAX without x64 warns for float64, as Keras does.
        ours = cls(seed=1)((8, 8), dtype=dtype)
        theirs = keras.initializers.VarianceScaling(seed=1)((8, 8), dtype=dtype)
    assert keras.backend.standardize_dtype(ours.dtype) == keras.backend.standardize_dtype(
        theirs.dtype
    )
    assert np.isfinite(to_numpy(ours).astype(np.float32)).all()


DISTRIBUTIONS = ["truncated_normal", "untruncated_normal", "uniform"]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_low_precision_is_the_float32_draw_rounded(distribution, dtype):
    # float16/bfloat16 values are the same seed's float32 values rounded to nearest (ties
    # to even, as ml_dtypes/numpy round), except that a value rounding past the cut
    # (2 s, or L) is the number one ulp inside instead. The backends' native
    # low-precision draws are other values (coarser; see tests/test_sampling.py).
    import ml_dtypes

    # stddev 0.03: both cuts lie past the midpoint of their ulp in both dtypes, so some
    # of the 2**20 values (29 to 1804 per case on JAX) do round past the cut.
    shape, fans = (1024, 1024), dict(fan_in=1111, fan_out=1111)
    numpy_dtype = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}[dtype]
    low = Glorot(distribution=distribution, seed=3, **fans)(shape, dtype=dtype)
    assert keras.backend.standardize_dtype(low.dtype) == dtype
    low = to_numpy(keras.ops.cast(low, "float32")).astype(np.float64)
    init = Glorot(distribution=distribution, seed=3, **fans)
    rounded = to_numpy(init(shape, dtype="float32")).astype(numpy_dtype)
    stddev = init.stddev(shape)
    cut = {
        "truncated_normal": 2.0 * stddev / TRUNC.std(),
        "untruncated_normal": np.inf,
        "uniform": math.sqrt(3.0) * stddev,
    }[distribution]
    past = np.abs(rounded.astype(np.float64)) > cut
    inside = np.nextafter(rounded, np.zeros_like(rounded))
    expected = np.where(past, inside, rounded).astype(np.float64)
    np.testing.assert_array_equal(low, expected)
    assert np.abs(low).max() <= cut
    assert past.any() == (distribution != "untruncated_normal"), past.sum()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_full_precision_equals_keras(distribution, dtype):
    # float32/float64 are drawn directly, so Glorot(linear, fan_in) is VarianceScaling().
    if BACKEND == "torch" and distribution == "truncated_normal":
        pytest.skip("Keras' torch truncated normal is inexact; ours is another sampler")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # JAX without x64 warns for float64, as Keras does.
        ours = Glorot(mode="fan_in", distribution=distribution, seed=5)((64, 32), dtype=dtype)
        theirs = keras.initializers.VarianceScaling(1.0, "fan_in", distribution, seed=5)(
            (64, 32), dtype=dtype
        )
    np.testing.assert_allclose(to_numpy(ours), to_numpy(theirs), rtol=1e-6)


def test_default_dtype_is_floatx():
    assert keras.backend.standardize_dtype(Glorot(seed=1)((4, 4)).dtype) == keras.config.floatx()


@pytest.mark.parametrize("dtype", ["int32", "int8", "bool"])
def test_integer_dtype_rejected(dtype):
    with pytest.raises(ValueError, match=f"dtype='{dtype}'.*Allowed"):
        GlorotLeakyNormal(seed=1)((4, 4), dtype=dtype)


# --- Layouts: every kernel Keras builds gets Var = formula with Keras' fans.


def _layer_kernels():
    return [
        (keras.layers.Dense(128), (64, 256), "kernel"),
        (keras.layers.Conv1D(64, 5), (4, 32, 48), "kernel"),
        (keras.layers.Conv2D(64, 3), (4, 16, 16, 48), "kernel"),
        (keras.layers.Conv3D(32, 3), (2, 6, 6, 6, 24), "kernel"),
        (keras.layers.Conv2DTranspose(64, 3), (4, 8, 8, 48), "kernel"),
        (keras.layers.SeparableConv2D(64, 3), (4, 8, 8, 96), "pointwise_kernel"),
        (keras.layers.Embedding(1000, 64), (4, 10), "embeddings"),
        (keras.layers.LSTM(64), (4, 5, 48), "kernel"),
    ]


@pytest.mark.parametrize("case", range(len(_layer_kernels())))
def test_every_keras_layout(case):
    layer, input_shape, attribute = _layer_kernels()[case]
    config = layer.get_config()
    key = {
        "kernel": "kernel_initializer",
        "pointwise_kernel": "pointwise_initializer",
        "embeddings": "embeddings_initializer",
    }[attribute]
    config[key] = GlorotLeakyUniform(seed=case)
    layer = layer.__class__.from_config(config)
    layer.build(input_shape)
    weight = (
        getattr(layer, attribute)
        if attribute != "kernel" or not hasattr(layer, "cell")
        else layer.cell.kernel
    )
    w = to_numpy(weight)
    fan_in, fan_out = compute_fans(w.shape)
    assert_moments(w, leaky_glorot_variance(fan_in, fan_out, 0.2), "uniform")


def test_einsum_dense_uses_true_fans():
    # Kernel (256, 8, 64): true fans (256, 512); the shape alone would say (2048, 16384).
    layer = keras.layers.EinsumDense(
        "abc,cde->abde", output_shape=(None, 8, 64), kernel_initializer=GlorotLeakyNormal(seed=3)
    )
    layer.build((2, 5, 256))
    w = to_numpy(layer.kernel)
    assert w.shape == (256, 8, 64)
    assert_moments(w, leaky_glorot_variance(256, 512, 0.2), "truncated_normal")


def test_multi_head_attention_uses_true_fans():
    layer = keras.layers.MultiHeadAttention(
        num_heads=8, key_dim=64, kernel_initializer=Glorot("gelu", seed=9)
    )
    x = np.zeros((2, 3, 128), "float32")
    layer(x, x)
    from keras_glorot import calculate_gain

    g2 = calculate_gain("gelu") ** 2
    q = to_numpy(layer.query_dense.kernel)  # (128, 8, 64): fans (128, 512)
    o = to_numpy(layer.output_dense.kernel)  # (8, 64, 128): fans (512, 128)
    assert_moments(q, g2 / ((128 + 512) / 2), "truncated_normal")
    assert_moments(o, g2 / ((512 + 128) / 2), "truncated_normal")


def test_axes_outside_shape_rejected():
    with pytest.raises(ValueError, match=r"output_axes=\[1, 2\].*shape=\(6, 5\)"):
        Glorot(input_axes=[0], output_axes=[1, 2], seed=1)((6, 5))


def test_explicit_fans_override_shape():
    init = Glorot("relu", mode="fan_in", fan_in=9, seed=1)
    w = to_numpy(init((3, 3, 1, 4096)))  # a depthwise-like kernel
    assert_moments(w, 2.0 / 9.0, "truncated_normal")


# --- Seeds: Keras 3's contract, and the reuse warning.


def test_int_seed_repeats_and_warns_once():
    init = GlorotLeakyNormal(seed=123)
    first = to_numpy(init((16, 16)))
    with pytest.warns(UserWarning, match="called a second time.*SeedGenerator"):
        second = to_numpy(init((16, 16)))
    np.testing.assert_array_equal(first, second)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        init((16, 16))  # a third call does not warn again


def test_none_seed_repeats_within_instance():
    init = GlorotLeakyUniform()
    first = to_numpy(init((16, 16)))
    with pytest.warns(UserWarning):
        second = to_numpy(init((16, 16)))
    np.testing.assert_array_equal(first, second)


def test_seed_generator_advances_without_warning():
    init = GlorotLeakyNormal(seed=keras.random.SeedGenerator(5))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        first = to_numpy(init((16, 16)))
        second = to_numpy(init((16, 16)))
    assert not np.allclose(first, second)


def test_layers_with_own_instances_differ_and_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model = keras.Sequential(
            [keras.Input((32,))]
            + [keras.layers.Dense(32, kernel_initializer="glorot_leaky") for _ in range(2)]
        )
    a, b = (to_numpy(layer.kernel) for layer in model.layers)
    assert not np.allclose(a, b)


def test_shared_instance_warns_and_gives_identical_kernels():
    shared = GlorotLeakyNormal(seed=1)
    with pytest.warns(UserWarning, match="identical kernels"):
        model = keras.Sequential(
            [
                keras.Input((32,)),
                keras.layers.Dense(32, kernel_initializer=shared),
                keras.layers.Dense(32, kernel_initializer=shared),
            ]
        )
    a, b = (to_numpy(layer.kernel) for layer in model.layers)
    np.testing.assert_array_equal(a, b)


# --- Bad input, at construction or call.

BAD_CONSTRUCTION = [
    (dict(negative_slope=float("nan")), ValueError, "negative_slope=nan"),
    (dict(negative_slope=float("inf")), ValueError, "negative_slope=inf"),
    (dict(negative_slope=-0.2), ValueError, r">= 0.*negative_slope=-0.2"),
    (dict(negative_slope="0.2"), TypeError, "negative_slope='0.2'"),
    (dict(negative_slope=True), TypeError, "negative_slope=True"),
    (dict(negative_slope=None), TypeError, "negative_slope=None"),
    (dict(seed=1.5), TypeError, r"SeedGenerator.*seed=1.5"),
    (dict(seed="1"), TypeError, "seed='1'"),
    (dict(seed=True), TypeError, "seed=True"),
    # Keras draws from an int seed as a uint32: JAX fails at the first draw, TensorFlow and
    # torch silently draw another seed's values.
    (dict(seed=-1), ValueError, r"seed must be an int in \[0, 2\*\*32\).*Received: seed=-1\."),
    (dict(seed=2**32), ValueError, "Received: seed=4294967296"),
    (dict(input_axes="0"), TypeError, "input_axes='0'"),
]


@pytest.mark.parametrize("kwargs, error, pattern", BAD_CONSTRUCTION)
@pytest.mark.parametrize("cls", [GlorotLeakyNormal, GlorotLeakyUniform])
def test_bad_construction(cls, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        cls(**kwargs)


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        (dict(activation="nope"), ValueError, r"activation='nope'.*Allowed"),
        (dict(activation="softmax"), ValueError, "not elementwise"),
        (dict(mode="fan_sum"), ValueError, r"mode='fan_sum'.*fan_in"),
        (dict(distribution="gaussian"), ValueError, r"distribution='gaussian'.*uniform"),
        (dict(convention="keras"), ValueError, r"convention='keras'"),
        (dict(fan_in=0), ValueError, "fan_in=0"),
        (dict(fan_out=-2.5), ValueError, "fan_out=-2.5"),
        (dict(fan_in=float("nan")), ValueError, "fan_in=nan"),
    ],
)
def test_bad_glorot_construction(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        Glorot(**kwargs)


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (3, 3, 0, 8)])
def test_zero_dimension_rejected(shape):
    with pytest.raises(ValueError, match=r"shape=.*dimension < 1"):
        GlorotLeakyNormal(seed=1)(shape)


def test_bad_layer_argument_fails_at_layer_construction():
    # Keras resolves kernel_initializer when the layer is made, not at the first step.
    with pytest.raises(ValueError, match="negative_slope"):
        keras.layers.Dense(4, kernel_initializer=GlorotLeakyNormal(negative_slope=-1))


def test_backend_under_test_is_the_configured_one():
    import os

    assert BACKEND == os.environ.get("KERAS_BACKEND", BACKEND)


@pytest.mark.parametrize(
    "make",
    [Glorot, GlorotLeakyNormal, GlorotLeakyUniform, DeltaOrthogonal],
    ids=lambda cls: cls.__name__,
)
def test_every_initializer_refuses_a_negative_seed_when_made(make):
    with pytest.raises(ValueError, match=r"Received: seed=-1\."):
        make(seed=-1)


def test_the_whole_model_tools_word_a_bad_seed_as_the_initializers_do():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError) as by_initialize:
        keras_glorot.initialize(model, seed=-1)
    with pytest.raises(ValueError) as by_initializer:
        Glorot(seed=-1)
    expected = "seed must be an int in [0, 2**32) or None. Received: seed=-1."
    assert str(by_initialize.value) == expected
    assert str(by_initializer.value).endswith("Received: seed=-1.")


def test_the_largest_seed_draws_on_this_backend():
    # Accepted seeds must draw on every backend (JAX fails past 2**32 - 1).
    largest = to_numpy(Glorot(seed=2**32 - 1)((4, 4)))
    assert np.all(np.isfinite(largest))
    assert not np.array_equal(largest, to_numpy(Glorot(seed=0)((4, 4))))


def test_numpy_int_seed_is_an_int_seed():
    # Seed sweeps often produce numpy ints; they must draw what the same Python int draws.
    a = to_numpy(Glorot(seed=np.int64(3))((8, 8)))
    np.testing.assert_array_equal(a, to_numpy(Glorot(seed=3)((8, 8))))
