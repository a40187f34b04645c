"""Fans of strided and transposed convolutions, checked by the variances they govern.

Forward: with ``mode="fan_in"`` and a linear layer, a unit-variance input must give
a unit mean output variance. Backward: with ``mode="fan_out"``, a unit-variance
gradient at the output must give a unit mean gradient variance at the input.
Both are measured on the layer itself (the backward one by autodiff), over
interior positions only, where no window meets the padding.

Tolerance: the measured mean square has two sources of noise. Given the kernel, it
is a quadratic form in the Gaussian input, with relative standard error about
sqrt(2 / n_x) for n_x independent input values; over kernels, it is a mean of
n_w squared uniform draws, with relative standard error sqrt((1.8 - 1) / n_w)
(kurtosis 1.8). Five combined standard errors are used; a fan off by the stride
product (a factor of 2 to 4 here) is far outside.
"""

import math

import keras
import numpy as np
import pytest
from conftest import to_numpy

from keras_glorot import backend, initialize
from keras_glorot.fans import depthwise_fans, grouped_conv_fans, transposed_conv_fans

KURTOSIS_UNIFORM = 1.8


def tolerance(n_x, n_w):
    return 5.0 * math.sqrt(2.0 / n_x + (KURTOSIS_UNIFORM - 1.0) / n_w)


def single_layer(layer, input_shape):
    return keras.Sequential([keras.Input(input_shape), layer])


def normal(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def initialized(case, mode):
    """The case's single-layer model after ``initialize``, its fans checked by hand."""
    make, input_shape, _, fan_in, fan_out = case
    model = single_layer(make(), input_shape)
    row = initialize(model, mode=mode, distribution="uniform", seed=0)["k"][0]
    assert row.fan_in == pytest.approx(fan_in) and row.fan_out == pytest.approx(fan_out)
    return model


def interior(values, border, rank):
    index = (slice(None),) + (slice(border, -border),) * rank + (slice(None),)
    return values[index]


# (layer, input shape (no batch), spatial rank, true fan_in, true fan_out), fans by hand.
FORWARD_CASES = {
    "conv2d_transpose_k3_s2": (
        lambda: keras.layers.Conv2DTranspose(64, 3, strides=2, padding="same", name="k"),
        (12, 12, 64),
        2,
        3 * 3 * 64 / 4,
        3 * 3 * 64,
    ),
    "conv1d_transpose_k5_s3": (
        lambda: keras.layers.Conv1DTranspose(24, 5, strides=3, padding="same", name="k"),
        (64, 16),
        1,
        5 * 16 / 3,
        5 * 24,
    ),
    "conv2d_transpose_k2_s2_valid": (
        lambda: keras.layers.Conv2DTranspose(32, 2, strides=(2, 2), name="k"),
        (12, 12, 48),
        2,
        2 * 2 * 48 / 4,
        2 * 2 * 32,
    ),
}


@pytest.mark.parametrize("case", sorted(FORWARD_CASES))
def test_transposed_conv_fan_in_keeps_the_output_variance(case):
    _, input_shape, rank, _, _ = FORWARD_CASES[case]
    model = initialized(FORWARD_CASES[case], "fan_in")
    x = normal((8, *input_shape), seed=1)
    y = interior(to_numpy(model(x)).astype(np.float64), 3, rank)
    n_w = int(np.prod(model.get_layer("k").kernel.shape))
    measured = float(np.mean(y**2))
    assert abs(measured - 1.0) < tolerance(x.size, n_w), (measured, tolerance(x.size, n_w))


# (layer, input shape, spatial rank, true fan_in, true fan_out), fans by hand.
BACKWARD_CASES = {
    "conv2d_k3_s2": (
        lambda: keras.layers.Conv2D(64, 3, strides=2, padding="same", name="k"),
        (24, 24, 32),
        2,
        3 * 3 * 32,
        3 * 3 * 64 / 4,
    ),
    "conv1d_k5_s3": (
        lambda: keras.layers.Conv1D(40, 5, strides=3, padding="same", name="k"),
        (96, 24),
        1,
        5 * 24,
        5 * 40 / 3,
    ),
    "depthwise2d_k3_s2": (
        lambda: keras.layers.DepthwiseConv2D(
            3, strides=2, depth_multiplier=4, padding="same", name="k"
        ),
        (24, 24, 32),
        2,
        3 * 3,
        3 * 3 * 4 / 4,
    ),
    "conv2d_transpose_k3_s2": (
        lambda: keras.layers.Conv2DTranspose(64, 3, strides=2, padding="same", name="k"),
        (12, 12, 64),
        2,
        3 * 3 * 64 / 4,
        3 * 3 * 64,
    ),
}


@pytest.mark.parametrize("case", sorted(BACKWARD_CASES))
def test_strided_fan_out_keeps_the_input_gradient_variance(case):
    _, input_shape, rank, _, _ = BACKWARD_CASES[case]
    model = initialized(BACKWARD_CASES[case], "fan_out")
    x = keras.Variable(normal((8, *input_shape), seed=1), name="x")
    g = normal((8, *model.output_shape[1:]), seed=2)

    def forward():
        # d/dx of sum(y * g) is the gradient that an upstream gradient g sends back.
        return keras.ops.sum(keras.ops.multiply(model(x.value), g)), ()

    _, _, (dx,) = backend.value_and_grads(model, forward, [x])
    dx = interior(to_numpy(dx).astype(np.float64), 3, rank)
    n_w = int(np.prod(model.get_layer("k").kernel.shape))
    measured = float(np.mean(dx**2))
    assert abs(measured - 1.0) < tolerance(g.size, n_w), (measured, tolerance(g.size, n_w))


def test_strided_fans_in_the_per_layer_helpers():
    # Written out: fan_out of a conv and fan_in of a transposed conv over prod(strides).
    assert grouped_conv_fans((3, 3, 16, 32), strides=(2, 2)) == (144, 72)
    assert grouped_conv_fans((3, 3, 8, 32), groups=4, strides=2) == (72, 18)
    assert grouped_conv_fans((5, 24, 40), strides=3) == (120, pytest.approx(200 / 3))
    assert depthwise_fans((3, 3, 32, 4), strides=2) == (9, 9)
    assert transposed_conv_fans((3, 3, 64, 64), strides=2) == (144, 576)
    assert transposed_conv_fans((3, 3, 64, 64)) == (576, 576)


@pytest.mark.parametrize("strides", [(2,), (2, 2, 2), (0, 2), (2, -1)])
def test_bad_strides_name_the_parameter(strides):
    with pytest.raises(ValueError, match=r"strides=.*one per spatial dimension"):
        grouped_conv_fans((3, 3, 8, 16), strides=strides)


def test_strided_initializer_config_reloads_with_fractional_fans(tmp_path):
    model = single_layer(keras.layers.Conv1D(8, 5, strides=3, padding="same", name="k"), (30, 4))
    initialize(model, seed=0)
    init = model.get_layer("k").kernel_initializer
    assert init.fan_out == pytest.approx(5 * 8 / 3)
    path = tmp_path / "strided.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.get_layer("k").kernel_initializer.get_config() == init.get_config()
    np.testing.assert_array_equal(
        to_numpy(reloaded.get_layer("k").kernel), to_numpy(model.get_layer("k").kernel)
    )
