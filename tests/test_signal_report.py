"""signal_report(training=...), the mean-field prediction and the Jacobian spectrum,
against hand-computed cases on every backend (fixed seeds)."""

import keras
import numpy as np
import pytest
from conftest import to_numpy

from keras_glorot import signal_report


def batch(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


# ---------------------------------------------------------------------------
# training=True: BatchNormalization on batch statistics, no variable changed.


def bn_model():
    inputs = keras.Input((6, 6, 3))
    h = keras.layers.Conv2D(8, 3, name="conv", bias_initializer="ones")(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.ReLU(name="act")(h)
    h = keras.layers.Dropout(0.5, seed=3, name="drop")(h)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    return keras.Model(inputs, keras.layers.Dense(3, name="out")(h))


def state(model):
    values = [to_numpy(v).copy() for v in model.non_trainable_weights]
    seed = model.get_layer("drop").seed_generator.state
    return values + [to_numpy(seed).copy()]


def test_training_mode_normalizes_with_batch_statistics_and_changes_nothing():
    model = bn_model()
    x = batch((16, 6, 6, 3))
    before = state(model)
    report = signal_report(model, x, training=True)
    after = state(model)
    assert report.training and "Mode of the pass: training" in report.to_markdown()
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(new, old)  # moving mean/variance, dropout seed
    # The BN output, recomputed by hand from the conv output on this batch:
    # (z - mean) / sqrt(var + eps) per channel, gamma 1 and beta 0 at init.
    conv = keras.Model(model.input, model.get_layer("conv").output)
    z = to_numpy(conv(x)).astype(np.float64).reshape(-1, 8)
    eps = model.get_layer("bn").epsilon
    normalized = (z - z.mean(0)) / np.sqrt(z.var(0) + eps)
    i = report.layers.index("bn")
    assert report.activation_mean[i] == pytest.approx(0.0, abs=1e-5)
    assert report.activation_std[i] == pytest.approx(normalized.std(), rel=1e-4)
    # Not the identity: the conv's bias of ones would otherwise show as a mean of ~1.
    assert abs(report.activation_mean[report.layers.index("conv")] - 1.0) < 0.5
    # A real training call does move the statistics (so the check above can fail).
    model(x, training=True)
    assert not np.array_equal(to_numpy(model.get_layer("bn").moving_mean), before[0])


def test_training_mode_repeats_and_drops():
    model = bn_model()
    x = batch((16, 6, 6, 3))
    first = signal_report(model, x, training=True)
    second = signal_report(model, x, training=True)
    # The dropout seed is not advanced: the same masks, the same report.
    assert first.activation_std == second.activation_std
    i = first.layers.index("drop")
    relu, dropped = first.activation_std[i - 1], first.activation_std[i]
    assert dropped > relu  # inverted dropout at rate 0.5 doubles the kept values


def test_inference_mode_is_the_default_and_bn_is_near_identity():
    model = bn_model()
    x = batch((16, 6, 6, 3))
    report = signal_report(model, x)
    assert report.training is False and "Mode of the pass: inference" in report.to_markdown()
    i = report.layers.index("bn")
    eps = model.get_layer("bn").epsilon
    # Moving mean 0 and variance 1: BN is x / sqrt(1 + eps).
    assert report.activation_std[i] == pytest.approx(
        report.activation_std[i - 1] / np.sqrt(1 + eps), rel=1e-5
    )
    assert report.gradient_std == signal_report(model, x, training=False).gradient_std


def test_training_must_be_a_bool():
    with pytest.raises(TypeError, match="training"):
        signal_report(bn_model(), batch((4, 6, 6, 3)), training="yes")
