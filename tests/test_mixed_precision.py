"""initialize(), lsuv() and signal_report() under the dtype policies GPUs train with.

Under ``mixed_float16``/``mixed_bfloat16`` a layer computes in the low-precision
dtype and keeps float32 variables; each call runs in an autocast scope where a
variable's value is a cast copy. The tools must measure what the model computes,
write float32 kernels that are not rounded to the compute dtype, and give the
same results on every backend.
"""

import keras
import ml_dtypes
import numpy as np
import pytest
from conftest import to_numpy

from keras_glorot import initialize, lsuv, signal_report

MIXED = ["mixed_float16", "mixed_bfloat16"]
# Machine epsilon of each compute dtype (2^-10 and 2^-7: 10 and 7 mantissa bits).
EPS = {"float16": 2.0**-10, "bfloat16": 2.0**-7}
ROUND = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


@pytest.fixture(params=MIXED)
def policy(request):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(request.param)
    yield keras.config.dtype_policy()
    keras.config.set_dtype_policy(previous)


def leaky_cnn(depth=4, bias=False):
    inputs = keras.Input((16, 16, 3))
    h = inputs
    for i in range(depth):
        bias_init = keras.initializers.RandomNormal(stddev=0.2, seed=i) if bias else "zeros"
        h = keras.layers.Conv2D(16, 3, padding="same", name=f"c{i}", bias_initializer=bias_init)(h)
        h = keras.layers.LeakyReLU(0.2)(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(10, name="out")(h))


def batch(shape=(64, 16, 16, 3), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def conv_names(depth=4):
    return [f"c{i}" for i in range(depth)]


def preactivation_variances(model, x, names):
    probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
    return [float(np.var(to_numpy(o).astype(np.float64))) for o in probe(x)]


@pytest.mark.parametrize("bias", [False, True], ids=["no_bias", "bias"])
def test_lsuv_reaches_unit_variance_under_mixed_policy(policy, bias):
    model = leaky_cnn(bias=bias)
    before = [to_numpy(model.get_layer(n).kernel).copy() for n in conv_names()]
    x = batch()
    report = lsuv(model, x, tol=0.05, seed=0)
    assert not report.stopped
    assert [r.layer for r in report.handled] == conv_names() + ["out"]
    # Measured as the model computes (in the compute dtype); the variance of
    # 16,384 values in float16/bfloat16 is itself exact to a few eps.
    slack = 4 * EPS[policy.compute_dtype]
    variances = preactivation_variances(model, x, conv_names())
    for name, var in zip(conv_names(), variances, strict=True):
        assert abs(var - 1.0) <= 0.05 + slack, (name, var)
    for name, old in zip(conv_names(), before, strict=True):
        kernel = model.get_layer(name).kernel
        assert keras.backend.standardize_dtype(kernel.dtype) == "float32"
        assert not np.allclose(to_numpy(kernel), old), f"{name}: lsuv changed nothing"


def test_lsuv_kernels_are_not_rounded_to_the_compute_dtype(policy):
    # A float32 kernel read inside an autocast scope is a float16/bfloat16 copy;
    # scaling that copy would leave every weight on the compute dtype's grid.
    model = leaky_cnn()
    lsuv(model, batch(), seed=0)
    w = to_numpy(model.get_layer("c2").kernel).astype(np.float32).ravel()
    on_grid = w == w.astype(ROUND[policy.compute_dtype]).astype(np.float32)
    # A float32 value lies on the float16 grid with probability 2^-13, on the
    # bfloat16 grid with 2^-16: of 2,304 weights, almost none.
    assert on_grid.mean() < 0.01, on_grid.mean()


def test_lsuv_matches_float32_result(policy):
    # Same seed: the orthonormal start is identical, and the scale measured in the
    # compute dtype differs from the float32 one by rounding only.
    x = batch()
    keras.config.set_dtype_policy("float32")
    reference = leaky_cnn()
    lsuv(reference, x, tol=0.01, seed=0)
    keras.config.set_dtype_policy(policy)
    model = leaky_cnn()
    lsuv(model, x, tol=0.01, seed=0)
    for name in conv_names():
        w, w32 = (to_numpy(m.get_layer(name).kernel) for m in (model, reference))
        ratio = float(np.std(w) / np.std(w32))
        # Both within tol=0.01 of unit variance: stds within ~1% of each other.
        assert abs(ratio - 1.0) < 0.015, (name, ratio)


def test_initialize_under_mixed_policy_draws_the_float32_kernels(policy):
    keras.config.set_dtype_policy("float32")
    reference = leaky_cnn()
    expected = initialize(reference, seed=0)
    keras.config.set_dtype_policy(policy)
    model = leaky_cnn()
    report = initialize(model, seed=0)
    for name in conv_names() + ["out"]:
        kernel = model.get_layer(name).kernel
        assert keras.backend.standardize_dtype(kernel.dtype) == "float32"
        np.testing.assert_array_equal(to_numpy(kernel), to_numpy(reference.get_layer(name).kernel))
        assert report[name][0].std == expected[name][0].std


def test_signal_report_under_mixed_policy_matches_float32(policy):
    x = batch()
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)  # Keras' own kernels: the same model on every run
    reference = leaky_cnn(bias=True)
    expected = signal_report(reference, x)
    keras.config.set_dtype_policy(policy)
    model = leaky_cnn(bias=True)
    model.set_weights(reference.get_weights())
    report = signal_report(model, x)
    assert len(report.layers) == len(expected.layers)
    # Each layer rounds its inputs and outputs once; over five kernel layers the
    # error of a std compounds to a few eps.
    rtol = 8 * EPS[policy.compute_dtype]
    np.testing.assert_allclose(report.activation_std, expected.activation_std, rtol=rtol)
    grads = [g for g in report.gradient_std if g is not None]
    expected_grads = [g for g in expected.gradient_std if g is not None]
    np.testing.assert_allclose(grads, expected_grads, rtol=rtol)
    assert np.isfinite(report.loss) and report.loss == pytest.approx(expected.loss, rel=rtol)
