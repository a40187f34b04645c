"""The graph walk through op nodes: hard sigmoid / hard swish built from ops, honest labels.

In Keras 3 a functional model's ``x + 3.0`` or ``x * y`` is an op node in the graph,
not a layer. keras.applications.MobileNetV3 builds its hard sigmoid so:
``ReLU(6.0)(x + 3.0) * (1.0 / 6.0)``.
"""

import re

import keras
import numpy as np
import pytest
from conftest import to_numpy

from keras_glorot import calculate_gain, initialize

layers = keras.layers


def _hs_mul(x):
    return layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def _hs_div(x):
    return layers.ReLU(6.0)(3.0 + x) / 6.0


def _hs_ops(x):
    return keras.ops.divide(keras.ops.relu6(keras.ops.add(x, 3)), 6)


def _hs_float32(x):
    return layers.Activation("relu6")(x + np.float32(3.0)) * np.float32(1.0 / 6.0)


def _mobilenet_v3_hard_sigmoid(x):
    # Keras' own helper, so that a change of its constants shows up here.
    from keras.src.applications import mobilenet_v3

    return mobilenet_v3.hard_sigmoid(x)


# name: (the ops-built function, the Keras activation it equals)
OPS_ACTIVATIONS = {
    "hard_sigmoid_mul_sixth": (_hs_mul, "hard_sigmoid"),
    "hard_sigmoid_div_six": (_hs_div, "hard_sigmoid"),
    "hard_sigmoid_keras_ops": (_hs_ops, "hard_sigmoid"),
    "hard_sigmoid_float32_constants": (_hs_float32, "hard_sigmoid"),
    "hard_sigmoid_mobilenet_v3": (_mobilenet_v3_hard_sigmoid, "hard_sigmoid"),
    "hard_swish_op": (lambda x: x * _hs_mul(x), "hard_silu"),
    "hard_swish_gate_first": (lambda x: _hs_div(x) * x, "hard_silu"),
    "hard_swish_multiply_layer": (lambda x: layers.Multiply()([x, _hs_ops(x)]), "hard_silu"),
}


def _dense_then(fn, input_dim=16):
    """Dense "k", then ``fn``, then a linear head: the activation under test is a hidden
    one (at the model's output an activation is the loss's link, drawn at gain 1)."""
    inputs = keras.Input((input_dim,))
    outputs = fn(layers.Dense(32, name="k")(inputs))
    return keras.Model(inputs, layers.Dense(2, name="head")(outputs))


def _row(model, name="k"):
    report = initialize(model, distribution="uniform", seed=0)
    rows = report[name]
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.parametrize("case", sorted(OPS_ACTIVATIONS))
def test_ops_built_activation_gets_its_gain(case):
    fn, name = OPS_ACTIVATIONS[case]
    # The ops compute exactly the named Keras activation, kinks included.
    inputs = keras.Input((1,))
    as_model = keras.Model(inputs, fn(inputs))
    z = np.linspace(-8.0, 8.0, 3201, dtype="float32")[:, None]
    expected = to_numpy(keras.activations.get(name)(keras.ops.convert_to_tensor(z)))
    np.testing.assert_allclose(to_numpy(as_model(z)), expected, rtol=1e-6, atol=1e-6)
    row = _row(_dense_then(fn))
    assert row.activation.startswith(f"{name} (")
    assert row.gain == pytest.approx(calculate_gain(name))
    assert row.gain != pytest.approx(1.0)


NEAR_MISSES = {
    "wrong_shift": lambda x: layers.ReLU(6.0)(x + 2.0) / 6.0,
    "wrong_scale": lambda x: layers.ReLU(6.0)(x + 3.0) / 5.0,
    "divided_the_other_way": lambda x: 6.0 / layers.ReLU(6.0)(x + 3.0),
    "uncapped_relu": lambda x: layers.ReLU()(x + 3.0) / 6.0,
    "relu_cap_5": lambda x: layers.ReLU(5.0)(x + 3.0) / 6.0,
    "tensor_not_scalar": lambda x: layers.ReLU(6.0)(x + 3.0) / keras.ops.ones_like(x),
    "other_op": lambda x: keras.ops.sin(x),
}


@pytest.mark.parametrize("case", sorted(NEAR_MISSES))
def test_unrecognised_op_is_linear_and_says_so(case):
    row = _row(_dense_then(NEAR_MISSES[case]))
    assert row.gain == 1.0
    assert "unrecognised op" in row.activation and "none follows" not in row.activation


def test_intermediate_used_elsewhere_is_not_a_hard_sigmoid():
    inputs = keras.Input((16,))
    h = layers.Dense(32, name="k")(inputs)
    capped = layers.ReLU(6.0)(h + 3.0)
    model = keras.Model(inputs, [capped / 6.0, capped])
    row = _row(model)
    assert row.gain == 1.0 and "unrecognised op Add" in row.activation


def test_model_output_says_none_follows_and_op_consumer_does_not():
    inputs = keras.Input((16,))
    out = layers.Dense(8, name="out")(inputs)
    scaled = layers.Dense(8, name="k")(inputs) * 2.0
    model = keras.Model(inputs, [out, scaled])
    report = initialize(model, distribution="uniform", seed=0)
    assert report["out"][0].activation == "linear: none follows"
    label = report["k"][0].activation
    assert re.fullmatch(r"linear: unrecognised op Multiply 'multiply(_\d+)?' follows", label)


def test_squeeze_excite_gate_is_a_gain_on_the_main_path_not_its_activation():
    inputs = keras.Input((8, 8, 4))
    x = layers.Conv2D(16, 3, name="main")(inputs)
    gate = layers.GlobalAveragePooling2D(keepdims=True)(x)
    gate = layers.Conv2D(16, 1, name="se")(gate)
    model = keras.Model(inputs, x * _hs_mul(gate))
    report = initialize(model, distribution="uniform", seed=0)
    main, se = report["main"][0], report["se"][0]
    # The ops-built hard-sigmoid gate (about 1/2 at initialization) multiplies the main
    # path: linear, with the gain 2 that makes up for it.
    assert main.gain == 2.0 and main.activation.startswith("linear x 2: gated by hard_sigmoid")
    assert "GlobalAveragePooling2D" in main.activation
    assert se.activation.startswith("hard_sigmoid (") and "-> 'multiply" in se.activation
    assert se.gain == pytest.approx(calculate_gain("hard_sigmoid"))


def test_hard_sigmoid_inside_a_nested_model():
    inner_in = keras.Input((32,))
    inner = keras.Model(inner_in, _hs_div(inner_in), name="inner")
    row = _row(_dense_then(inner))
    assert row.activation.startswith("hard_sigmoid (")


def test_mobilenet_v3_small_squeeze_excite_convs_get_hard_sigmoid():
    model = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), include_top=False, weights=None
    )
    report = initialize(model, distribution="uniform", seed=0)
    rows = report.handled
    se = [r for r in rows if r.layer.endswith("squeeze_excite_conv_1")]
    assert len(se) == 9
    for row in se:
        assert row.activation.startswith("hard_sigmoid ("), row
        assert row.gain == pytest.approx(calculate_gain("hard_sigmoid"))
    # Its output is an activation layer: no kernel is a model output, and every
    # op node after a kernel is one MobileNetV3 builds its hard sigmoid from.
    assert not [r for r in rows if "none follows" in r.activation]
    assert not [r for r in rows if "unrecognised" in r.activation]


def _nested_dense():
    inner_in = keras.Input((16,))
    return keras.Model(inner_in, layers.Dense(32, name="k")(inner_in), name="inner")


def test_kernel_at_a_nested_functional_models_output_sees_what_follows_the_call():
    # A functional model's own .output is not the tensor of its call in the outer model.
    inputs = keras.Input((16,))
    hidden = layers.LeakyReLU(0.1)(_nested_dense()(inputs))
    model = keras.Model(inputs, layers.Dense(2, name="head")(hidden))
    row = _row(model)
    assert row.gain == pytest.approx(calculate_gain("leaky_relu", negative_slope=0.1))
    assert _row(keras.Model(inputs, _nested_dense()(inputs))).activation == "linear: none follows"


def test_clipped_relu_label_names_its_parameters_only():
    row = _row(_dense_then(layers.ReLU(6.0, threshold=0.5, name="r6")))
    assert row.activation == "relu(max_value=6, threshold=0.5) (ReLU 'r6')"


@pytest.mark.parametrize("op, gain", [(lambda y: y * 2.0, 0.5), (lambda y: y / 4.0, 4.0)])
def test_scaling_by_a_constant_is_compensated(op, gain):
    """y * c multiplies the second moment by c**2: the kernel before it gets 1/|c|."""
    row = _row(_dense_then(lambda y: layers.Dense(4)(op(y))))
    assert row.gain == pytest.approx(gain) and "gain x" in row.activation
