"""The one table of layer kinds, and ``register_layer_kind`` for a user's own kind.

A layer kind defined here (a matmul on an ``add_weight`` kernel named ``w``) is
unknown to every tool until registered; once registered, all four tools treat it as
a kernel layer: ``initialize`` draws it at Glorot's law for what follows it,
``lsuv`` rescales it to unit output variance, ``signal_report`` reports its
kernel's gradient and ``mean_field_variances`` predicts its output.
"""

import math

import keras
import numpy as np
import pytest
from conftest import to_numpy

import keras_glorot
from keras_glorot.whole_model import kinds

L = keras.layers


class Projection(L.Layer):
    """``x @ w``, the kernel an ``add_weight`` called ``w``, drawn far too large."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1], self.units),
            initializer=keras.initializers.RandomNormal(stddev=1.0, seed=1),
            name="w",
        )

    def call(self, x):
        return keras.ops.matmul(x, self.w)


@pytest.fixture
def registry(monkeypatch):
    """A registry of kinds of this test's own; the package's is as it was afterwards."""
    monkeypatch.setattr(kinds, "_REGISTERED", {})


def model():
    inputs = keras.Input((64,))
    x = L.LeakyReLU(0.2)(Projection(128, name="projection")(inputs))
    return keras.Model(inputs, L.Dense(4, name="head")(x))


def batch():
    return np.random.default_rng(0).standard_normal((512, 64)).astype("float32")


def test_an_unregistered_kind_is_left_alone_by_every_tool(registry):
    net = model()
    w = to_numpy(net.get_layer("projection").w).copy()
    with pytest.warns(UserWarning, match="unknown layer kind Projection"):
        report = keras_glorot.initialize(net, seed=0)
    assert report["projection"][0].skipped
    np.testing.assert_array_equal(to_numpy(net.get_layer("projection").w), w)
    signal = keras_glorot.signal_report(net, batch())
    assert signal.gradient_std[signal.layers.index("projection")] is None
    (row,) = [p for p in keras_glorot.mean_field_variances(net) if p.layer == "projection"]
    assert row.std is None


def test_a_registered_kind_is_used_by_all_four_tools(registry):
    keras_glorot.register_layer_kind(Projection, kernels=("w",))
    net, x = model(), batch()
    follows = keras_glorot.read_model(net)["projection"]
    assert follows.activation.startswith("leaky_relu(0.2)")
    assert (follows.kernels[0].blocks[0].fan_in, follows.kernels[0].blocks[0].fan_out) == (64, 128)

    # lsuv: unit output variance, measured on the batch.
    keras_glorot.lsuv(net, x, seed=0)
    out = to_numpy(net.get_layer("projection")(x))
    assert float(np.var(out)) == pytest.approx(1.0, abs=0.1)

    # initialize: Glorot's std for leaky_relu(0.2) at fans (64, 128), truncated normal.
    record = keras_glorot.initialize(net, seed=0)["projection"][0]
    gain2 = 2.0 / (1.0 + 0.2**2)
    expected = math.sqrt(gain2 * 2.0 / (64 + 128))
    assert record.std == pytest.approx(expected, rel=1e-6)
    w = to_numpy(net.get_layer("projection").w)
    # The sample std of n = 8192 draws: standard error std / sqrt(2 n).
    assert abs(float(np.std(w)) - expected) < 4 * expected / math.sqrt(2 * w.size)

    # signal_report: the gradient of w stands for the layer.
    signal = keras_glorot.signal_report(net, x)
    assert signal.gradient_std[signal.layers.index("projection")] > 0.0
    # mean field: q = fan_in * mean(w**2) * E[x**2], and the label the reading gave.
    (row,) = [p for p in keras_glorot.mean_field_variances(net) if p.layer == "projection"]
    input_second_moment = 1.0
    assert row.q == pytest.approx(64 * float(np.mean(w.astype(np.float64) ** 2)) *
                                  input_second_moment, rel=1e-5)  # fmt: skip
    assert row.activation == follows.activation


def test_a_registered_kernel_keeps_its_tools_after_a_save(registry, tmp_path):
    """The drawn kernel is a plain variable: the saved model reloads it bitwise."""
    keras_glorot.register_layer_kind(Projection, kernels=("w",))
    net = model()
    keras_glorot.initialize(net, seed=0)
    path = tmp_path / "m.keras"
    net.save(path)
    again = keras.models.load_model(path, custom_objects={"Projection": Projection})
    np.testing.assert_array_equal(
        to_numpy(again.get_layer("projection").w), to_numpy(net.get_layer("projection").w)
    )


def test_a_registered_normalization_stops_the_gain(registry):
    class UnitScale(L.Layer):  # divides by its own scale; no "Norm" in its name
        def call(self, x):
            return x / keras.ops.sqrt(keras.ops.mean(x * x, axis=-1, keepdims=True) + 1e-6)

    inputs = keras.Input((16,))
    x = L.Dense(16, name="inner")(inputs)
    x = L.ReLU()(UnitScale(name="scale")(x))
    net = keras.Model(inputs, L.Dense(4)(x))
    before = keras_glorot.read_model(net)["inner"].activation
    keras_glorot.register_layer_kind(UnitScale, role="normalization")
    after = keras_glorot.read_model(net)["inner"].activation
    assert before == "linear: followed by UnitScale 'scale'"
    assert after.startswith("linear: UnitScale 'scale' follows, Keras' default scale kept")


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"layer_class": int, "kernels": ("w",)}, TypeError, "layer_class must be a subclass"),
        ({"layer_class": Projection, "kernels": "w"}, ValueError, "kernels must be a sequence"),
        ({"layer_class": Projection, "kernels": ("1w",)}, ValueError, "Received: kernels="),
        ({"layer_class": Projection, "kernels": ()}, ValueError, "role must be one of"),
        ({"layer_class": Projection, "kernels": ("w",), "role": "gate"}, ValueError,
         "role='gate'"),
        ({"layer_class": Projection, "role": "kernel"}, ValueError, "exactly when"),
        ({"layer_class": Projection, "kernels": ("w",), "fans": 3}, TypeError, "fans=3"),
    ],
)  # fmt: skip
def test_bad_registrations_name_the_parameter(registry, kwargs, error, match):
    with pytest.raises(error, match=match):
        keras_glorot.register_layer_kind(**kwargs)
    assert kinds._REGISTERED == {}


def test_every_built_in_kind_is_in_one_table():
    """Each Keras kernel layer resolves to exactly one kind, without a registry."""
    cases = {
        L.Dense(3): "dense",
        L.Conv2D(3, 3): "convolution",
        L.SeparableConv2D(3, 3): "separable convolution",
        L.DepthwiseConv2D(3): "depthwise convolution",
        L.Conv2DTranspose(3, 3): "transposed convolution",
        L.EinsumDense("ab,bc->ac", output_shape=3): "einsum",
        L.MultiHeadAttention(2, 4): "attention",
        L.LSTM(3): "recurrent",
        L.LayerNormalization(): "normalization",
        L.Dropout(0.1): "pass-through",
        L.PReLU(): "no kernel",
    }
    for layer, name in cases.items():
        assert kinds.kind_of(layer).name == name, type(layer).__name__
    assert kinds.kind_of(L.Embedding(3, 2)) is None
