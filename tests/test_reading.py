"""``read_model``: one reading of a model, and every whole-model tool reads through it.

The four tools (``initialize``, ``lsuv``, ``signal_report``, ``mean_field_variances``)
must name the same activation after each kernel, on a subclassed residual model whose
``call(self, x, training)`` has no default (read through a trace) and on a functional
model holding a composite layer (entered by the trace).
"""

import re

import keras
import numpy as np
import pytest
from conftest import to_numpy

import keras_glorot

L = keras.layers


class ResidualMLP(keras.Model):
    """Four residual blocks: ``x + down(relu(up(x)))``, the activation a ``keras.ops``
    call, and ``training`` required in ``call``."""

    def __init__(self, dim=32, **kwargs):
        super().__init__(**kwargs)
        self.stem = L.Dense(dim)
        self.ups = [L.Dense(2 * dim) for _ in range(4)]
        self.downs = [L.Dense(dim) for _ in range(4)]
        self.head = L.Dense(10)

    def call(self, x, training):
        x = self.stem(x)
        for up, down in zip(self.ups, self.downs, strict=True):
            x = x + down(keras.ops.relu(up(x)))
        return self.head(x)


class GeluBlock(L.Layer):
    """A composite layer: the activation is applied in ``call``, not by a sublayer."""

    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        self.inner = L.Dense(2 * dim)
        self.outer = L.Dense(dim)

    def call(self, x):
        return self.outer(keras.ops.tanh(self.inner(x)))


def residual_mlp():
    model = ResidualMLP()
    model(np.zeros((2, 16), "float32"), training=False)
    return model


def functional_with_composite():
    inputs = keras.Input((16,))
    x = GeluBlock(16)(inputs)
    x = L.LeakyReLU(0.2)(L.Dense(16)(x))
    return keras.Model(inputs, L.Dense(4)(x))


def batch(n=128, d=16, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype("float32")


def same_op(label: str) -> str:
    """``label`` with Keras' counter dropped from a traced op's name: each tool reads the
    model afresh, and a fresh trace names its op nodes ``relu_4`` where the last said
    ``relu``."""
    return re.sub(r"(op \w+ '|at ')([a-z]+)(?:_\d+)?'", r"\1\2'", label)


def labels_per_tool(model) -> dict[str, dict[str, str]]:
    """``{tool: {layer path: what follows its kernel}}`` for the four tools."""
    x = batch()
    reading = keras_glorot.read_model(model)
    path_of_name = {r.layer.name: r.path for r in reading.kernels}
    out = {"read_model": {r.path: r.activation for r in reading.kernels}}
    # lsuv first: it measures on the model as Keras drew it.
    out["lsuv"] = {r.layer: r.activation for r in keras_glorot.lsuv(model, x, seed=0)}
    out["initialize"] = {r.layer: r.activation for r in keras_glorot.initialize(model, seed=0)}
    report = keras_glorot.signal_report(model, x)
    out["signal_report"] = {
        name: label
        for name, label in zip(report.layers, report.activation, strict=True)
        if label is not None
    }
    out["mean_field"] = {
        path_of_name[p.layer]: p.activation
        for p in keras_glorot.mean_field_variances(model)
        if p.activation is not None
    }
    return out


@pytest.mark.parametrize("build", [residual_mlp, functional_with_composite])
def test_the_four_tools_name_the_same_activation_after_each_kernel(build):
    tools = labels_per_tool(build())
    expected = tools.pop("read_model")
    assert len(expected) >= 4
    expected = {path: same_op(label) for path, label in expected.items()}
    for tool, labels in tools.items():
        assert {path: same_op(label) for path, label in labels.items()} == expected, tool


def test_the_subclassed_residual_model_is_read_through_its_trace():
    reading = keras_glorot.read_model(residual_mlp())
    ups = [r for r in reading.kernels if "relu" in r.activation]
    assert len(ups) == 4 and all(r.found_by == "trace" for r in ups)
    assert len(reading.merges) == 4 and reading.fallbacks == []


def test_the_composite_is_entered_and_its_activation_read_from_call():
    reading = keras_glorot.read_model(functional_with_composite())
    inner = next(r for r in reading.kernels if r.path.endswith("/" + r.layer.name) and
                 r.layer.units == 32)  # fmt: skip
    assert inner.activation.startswith("tanh") and inner.found_by == "trace"
    assert inner.block.startswith("gelu_block")


def test_reading_draws_and_assigns_nothing():
    model = functional_with_composite()
    before = [to_numpy(w).copy() for w in model.weights]
    keras_glorot.read_model(model)
    for old, w in zip(before, model.weights, strict=True):
        np.testing.assert_array_equal(old, to_numpy(w))
    # And the model still computes as it did: the trace gave every layer back.
    assert model(batch(4)).shape == (4, 4)


def test_print_fits_100_columns_and_names_every_kernel():
    reading = keras_glorot.read_model(residual_mlp())
    text = str(reading)
    assert max(len(line) for line in text.splitlines()) <= 100
    for r in reading.kernels:
        assert r.path in text
    assert "10 kernel layer(s) read" in text


def test_an_unknown_layer_with_weights_is_left_alone_with_a_fallback():
    class Mystery(L.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1], 8), name="w")

        def call(self, x):
            return keras.ops.matmul(x, self.w)

    inputs = keras.Input((16,))
    model = keras.Model(inputs, L.Dense(4)(Mystery()(inputs)))
    reading = keras_glorot.read_model(model)
    (alone,) = reading.left_alone
    assert "unknown layer kind Mystery" in alone.reason and alone.fallback
    (fallback,) = reading.fallbacks
    assert "Mystery" in fallback and "register_layer_kind" in fallback


@pytest.mark.parametrize("bad", [None, "model", keras.layers.Dense(3)])
def test_read_model_names_the_parameter_for_a_non_model(bad):
    with pytest.raises(TypeError, match=r"model must be a keras.Model.*Received: model="):
        keras_glorot.read_model(bad)


def test_read_model_asks_for_a_built_model():
    with pytest.raises(ValueError, match="is not built"):
        keras_glorot.read_model(keras.Sequential([L.Dense(3)]))


def test_a_layer_called_twice_is_read_call_by_call():
    """One kernel serves both calls: the reading says what follows each, and that the
    law, which must suit both, follows neither activation."""
    inputs = keras.Input((16,))
    shared = L.Dense(16, name="shared")
    x = L.ReLU()(shared(inputs))
    x = L.Activation("tanh")(shared(x))
    reading = keras_glorot.read_model(keras.Model(inputs, L.Dense(2)(x)))
    record = reading["shared"]
    assert [c.activation for c in record.calls] == ["relu", "tanh"]
    assert record.follows.activation == "linear" and "disagree" in record.activation
    assert "call 2 of 2" in str(reading)
    assert [c.activation for c in reading.kernels[-1].calls] == ["linear"]
