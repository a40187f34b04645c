"""signal_report() against direct computations; lsuv() reaching unit variance; depth."""

import pathlib
import warnings

import keras
import numpy as np
import pytest
from conftest import to_numpy

from keras_glorot import initialize, lsuv, signal_report


def batch(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def two_layer_mlp():
    model = keras.Sequential(
        [
            keras.Input((12,)),
            keras.layers.Dense(16, activation="tanh", bias_initializer="ones", name="d1"),
            keras.layers.Dense(5, name="d2"),
        ]
    )
    return model


def numpy_backprop(model, x, target=None):
    """Forward and backward pass of the two-layer MLP in float64 numpy."""
    w1, b1 = (to_numpy(v).astype(np.float64) for v in model.get_layer("d1").weights)
    w2, b2 = (to_numpy(v).astype(np.float64) for v in model.get_layer("d2").weights)
    x = x.astype(np.float64)
    h = np.tanh(x @ w1 + b1)
    y = h @ w2 + b2
    # d/dy of mean(y^2), or of mean((y - t)^2) with targets: 2 (y - t) / N.
    dy = 2.0 * (y - (0.0 if target is None else target)) / y.size
    dw2 = h.T @ dy
    dw1 = x.T @ ((dy @ w2.T) * (1.0 - h**2))
    return h, y, dw1, dw2


def test_signal_report_matches_direct_backprop():
    model = two_layer_mlp()
    x = batch((32, 12))
    report = signal_report(model, x)
    h, y, dw1, dw2 = numpy_backprop(model, x)
    assert report.layers == ["d1", "d2"]
    np.testing.assert_allclose(report.activation_std, [h.std(), y.std()], rtol=1e-4)
    np.testing.assert_allclose(report.activation_mean, [h.mean(), y.mean()], rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(report.gradient_std, [dw1.std(), dw2.std()], rtol=1e-4)
    assert report.loss == pytest.approx(np.mean(y**2), rel=1e-5)


def test_signal_report_with_targets_and_loss():
    model = two_layer_mlp()
    x, t = batch((32, 12)), batch((32, 5), seed=1)
    report = signal_report(model, x, t, loss="mean_squared_error")
    _, _, dw1, dw2 = numpy_backprop(model, x, t)
    np.testing.assert_allclose(report.gradient_std, [dw1.std(), dw2.std()], rtol=1e-4)


def test_signal_report_layers_without_kernel_and_outputs(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, name="c"),
            keras.layers.LeakyReLU(0.1, name="act"),
            keras.layers.Flatten(name="f"),
            keras.layers.Dense(3, name="d"),
        ]
    )
    report = signal_report(model, batch((4, 8, 8, 3)))
    assert report.layers == ["c", "act", "f", "d"]
    assert report.gradient_std[1] is None and report.gradient_std[2] is None
    assert all(g > 0 for g in (report.gradient_std[0], report.gradient_std[3]))
    md = report.to_markdown()
    assert md.count("\n| ") == 4 and "| act |" in md
    pytest.importorskip("matplotlib")
    path = tmp_path / "signal.png"
    report.plot(path, title="test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_signal_report_bad_arguments():
    model = two_layer_mlp()
    x = batch((4, 12))
    with pytest.raises(ValueError, match="loss=None"):
        signal_report(model, x, batch((4, 5)))
    with pytest.raises(ValueError, match="needs targets"):
        signal_report(model, x, loss="mse")
    with pytest.raises(ValueError, match="not a Keras loss"):
        signal_report(model, x, batch((4, 5)), loss="no_such_loss")
    with pytest.raises(ValueError, match="not built"):
        signal_report(keras.Sequential([keras.layers.Dense(2)]), x)


# ---------------------------------------------------------------------------
# lsuv


def preactivation_variances(model, x, names):
    probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
    return [float(np.var(to_numpy(o))) for o in probe(x)]


def test_lsuv_unit_variance_mlp_with_fused_activations():
    # Fused activations: lsuv must measure the value before them. Recomputed here
    # in numpy with the activations written out.
    layers = [
        keras.layers.Dense(64, activation="tanh", name="a"),
        keras.layers.Dense(48, activation="relu", name="b"),
        # A non-zero bias: scaling the kernel alone no longer hits 1 in one step.
        keras.layers.Dense(
            32,
            activation="leaky_relu",
            bias_initializer=keras.initializers.RandomNormal(stddev=0.3, seed=0),
            name="c",
        ),
        keras.layers.Dense(10, activation="softmax", name="head"),
    ]
    model = keras.Sequential([keras.Input((20,)), *layers])
    head = to_numpy(model.get_layer("head").kernel)
    x = 3.0 * batch((256, 20))
    report = lsuv(model, x, tol=0.05, seed=0)
    h = x.astype(np.float64)
    fns = [np.tanh, lambda z: np.maximum(z, 0), lambda z: np.where(z > 0, z, 0.2 * z)]
    for name, fn in zip("abc", fns, strict=True):
        w, b = (to_numpy(v).astype(np.float64) for v in model.get_layer(name).weights)
        z = h @ w + b
        assert abs(np.var(z) - 1.0) <= 0.05 + 1e-5, (name, np.var(z))
        h = fn(z)
    assert [r.layer for r in report.handled] == ["a", "b", "c"]
    assert report["head"][0].skipped.startswith("output head excluded")
    assert "softmax at the model output" in report["head"][0].skipped
    np.testing.assert_array_equal(to_numpy(model.get_layer("head").kernel), head)


def test_lsuv_unit_variance_all_convolution_kinds_functional():
    inputs = keras.Input((12, 12, 6))
    h = keras.layers.Conv2D(8, 3, name="conv")(inputs)
    h = keras.layers.ReLU()(h)
    h = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(h)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.SeparableConv2D(8, 3, name="sep")(h)
    h = keras.layers.Activation("tanh")(h)
    h = keras.layers.Conv2DTranspose(4, 3, strides=2, name="tr")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(3, name="out")(h))
    x = batch((32, 12, 12, 6))
    report = lsuv(model, x, tol=0.1, seed=1)
    names = ["conv", "dw", "sep", "tr", "out"]
    assert [r.layer for r in report.handled] == names
    for name, var in zip(names, preactivation_variances(model, x, names), strict=True):
        assert abs(var - 1.0) <= 0.1 + 1e-5, (name, var)


def test_lsuv_conv1d_subclassed_model():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.c1 = keras.layers.Conv1D(8, 3, activation="relu", name="c1")
            self.c2 = keras.layers.Conv1D(8, 3, activation="relu", name="c2")

        def call(self, x):
            return self.c2(self.c1(x))

    model = Net()
    x = batch((16, 20, 4))
    model(x)
    report = lsuv(model, x, seed=0)
    assert len(report.handled) == 2
    z1 = model.c1.convolution_op(x, model.c1.kernel)
    assert abs(float(np.var(to_numpy(z1))) - 1.0) <= 0.1 + 1e-5


@pytest.mark.parametrize("value", [0.0, np.nan], ids=["zero", "nan"])
def test_lsuv_stops_on_zero_or_nan_variance_and_changes_nothing(value):
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(8, activation="relu", name="a"),
            keras.layers.Dense(8, name="b"),
        ]
    )
    before = [to_numpy(w).copy() for w in model.weights]
    x = np.full((16, 8), value, dtype="float32")
    with pytest.warns(UserWarning, match="lsuv stopped"):
        report = lsuv(model, x, seed=0)
    assert "'a'" in report.stopped
    a, b = report["a"][0], report["b"][0]
    assert "cannot rescale" in a.skipped and b.skipped.startswith("not reached")
    assert not report.handled
    # Nothing was divided by the zero or NaN, and no kernel was left half done:
    # every weight is as it was before the call.
    for old, new in zip(before, model.weights, strict=True):
        np.testing.assert_array_equal(to_numpy(new), old)


def test_lsuv_stop_keeps_finished_layers_and_leaves_the_rest_as_they_were():
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(8, name="a"),
            keras.layers.ReLU(threshold=1e9),  # zeros: b's pre-activation is its zero bias
            keras.layers.Dense(8, name="b"),
            keras.layers.Dense(8, name="c"),
        ]
    )
    before = {n: to_numpy(model.get_layer(n).kernel).copy() for n in "abc"}
    x = batch((64, 8))
    with pytest.warns(UserWarning, match="lsuv stopped at layer 'b'"):
        report = lsuv(model, x, seed=0)
    assert [r.layer for r in report.handled] == ["a"]
    assert "kernel left as it was" in report["b"][0].skipped
    assert report["c"][0].skipped == "not reached (kernel left as it was)"
    z = x @ to_numpy(model.get_layer("a").kernel)  # a's zero bias
    assert abs(float(np.var(z)) - 1.0) <= 0.1 + 1e-5
    for name in "bc":
        np.testing.assert_array_equal(to_numpy(model.get_layer(name).kernel), before[name])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tol": 0}, "tol"),
        ({"tol": -0.1}, "tol"),
        ({"tol": 1.5}, "tol"),
        ({"max_iters": 0}, "max_iters"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_lsuv_bad_arguments(kwargs, message):
    model = two_layer_mlp()
    with pytest.raises((ValueError, TypeError), match=message):
        lsuv(model, batch((4, 12)), **kwargs)


def test_lsuv_rejects_unbuilt_model_and_missing_batch():
    with pytest.raises(ValueError, match="not built"):
        lsuv(keras.Sequential([keras.layers.Dense(2)]), batch((4, 3)))
    with pytest.raises(ValueError, match="x="):
        lsuv(two_layer_mlp(), None)


# ---------------------------------------------------------------------------
# Depth: the property the whole-model tools exist for.


def leaky_mlp(depth=50, width=256, initializer="glorot_uniform"):
    layers = [
        keras.layers.Dense(
            width,
            activation="leaky_relu",
            kernel_initializer=keras.initializers.get(
                {"class_name": initializer, "config": {"seed": i}}
            ),
        )
        for i in range(depth)
    ]
    # A linear head: the last leaky layer is then a hidden one, drawn with its gain
    # (an activation at the model's output is drawn at gain 1, as the loss's link).
    head = keras.layers.Dense(width, kernel_initializer=keras.initializers.GlorotUniform(depth))
    return keras.Sequential([keras.Input((width,)), *layers, head])


def activation_ratio(model, x):
    return signal_report(model, x).activation_ratio


def test_fifty_layer_leaky_mlp_keeps_its_signal():
    x = batch((256, 256))
    model = leaky_mlp()
    keras_ratio = activation_ratio(model, x)
    initialize(model, seed=0)
    init_ratio = activation_ratio(model, x)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="lsuv stopped")  # must not stop here
        lsuv(model, x, seed=0)
    lsuv_ratio = activation_ratio(model, x)
    # glorot_uniform: each leaky_relu(0.2) layer multiplies the variance by
    # (1 + 0.2^2) / 2 = 0.52, so after 49 layers the std ratio is about 1e-7.
    assert keras_ratio < 0.1
    assert 0.5 <= init_ratio <= 2.0, init_ratio
    assert 0.5 <= lsuv_ratio <= 2.0, lsuv_ratio


@pytest.mark.parametrize("shape", [(3, 3, 4, 16), (8, 20), (20, 8)])
def test_orthonormal_pre_init_is_orthonormal(shape):
    from keras_glorot.whole_model.lsuv import orthonormal

    w = orthonormal(shape, np.random.default_rng(0)).reshape(-1, shape[-1])
    gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    np.testing.assert_allclose(gram, np.eye(min(w.shape)), atol=1e-5)  # float32 QR


def test_whole_model_tools_raise_no_deprecation_warnings():
    # lsuv once converted each TensorFlow kernel variable to numpy, which numpy 2
    # deprecates (an __array__ without a copy keyword): 40 warnings on 20 convs.
    layers = [keras.Input((8, 8, 3))]
    layers += [keras.layers.Conv2D(8, 3, padding="same", activation="relu") for _ in range(4)]
    model = keras.Sequential(layers)
    x = batch((16, 8, 8, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lsuv(model, x, seed=0)
        initialize(model, seed=0)
        signal_report(model, x)
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    if keras.config.backend() == "torch":
        # Keras' own torch convert_to_numpy calls np.array(tensor), which warns on
        # torch 2.13 with numpy 2 whoever calls it (keras/src/backend/torch/core.py, or
        # torch/ops/core.py on the next Keras); nothing else may warn.
        deprecations = [
            w
            for w in deprecations
            if "/keras/src/backend/torch/" not in pathlib.Path(w.filename).as_posix()
        ]
    assert not deprecations, [(w.filename, w.lineno, str(w.message)[:80]) for w in deprecations]


def test_lsuv_scales_a_sigmoid_output_and_leaves_a_softmax_head():
    """initialize() draws any output activation's kernel at gain 1 (the loss's link); lsuv
    still leaves only a softmax head alone and brings a sigmoid output's pre-activation
    to unit variance like every other layer."""
    x = batch((256, 20))
    for activation, handled in (("sigmoid", True), ("softmax", False)):
        model = keras.Sequential([
            keras.Input((20,)),
            keras.layers.Dense(32, activation="relu", name="hidden"),
            keras.layers.Dense(4, activation=activation, name="out"),
        ])  # fmt: skip
        report = lsuv(model, x, tol=0.05, seed=0)
        assert ("out" in [r.layer for r in report.handled]) is handled, activation
