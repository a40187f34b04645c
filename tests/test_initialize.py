"""initialize(): true fans per layer kind, the activation that follows, configs that reproduce.

Variance checks: the sample second moment of n iid zero-mean draws has relative
standard error sqrt((kurtosis - 1) / n); kurtosis (E[z^4] / E[z^2]^2) is 1.8 for
a uniform and 2.366 for a normal truncated at +-2 sigma. Tolerances are 4.5
standard errors, so a wrong fan (off by the channel count, or by a factor of 2 in
fan_avg) is far outside.
"""

import math

import keras
import numpy as np
import pytest
from conftest import to_numpy

import keras_glorot
from keras_glorot import Glorot, calculate_gain, initialize

KURTOSIS_TRUNCATED = 2.3655367171296495
KURTOSIS_UNIFORM = 1.8


def uniform_init(model, **kwargs):
    # Uniform draws compile faster on JAX than truncated normals (the test budget
    # is per backend); the default distribution is checked in its own test.
    return initialize(model, distribution="uniform", **kwargs)


def assert_variance(w, expected, kurtosis=KURTOSIS_UNIFORM):
    w = np.asarray(w, dtype=np.float64).ravel()
    rel_se = math.sqrt((kurtosis - 1.0) / w.size)
    measured = float(np.mean(w**2))
    assert abs(measured / expected - 1.0) < 4.5 * rel_se, (measured, expected, rel_se)


def glorot_var(activation, fan_in, fan_out, slope=0.2):
    return calculate_gain(activation, negative_slope=slope) ** 2 / ((fan_in + fan_out) / 2)


def only_row(report, layer, part=None):
    rows = [r for r in report[layer] if part is None or r.part == part]
    assert len(rows) == 1, rows
    return rows[0]


def seq(input_shape, *layers):
    """A Sequential of ``layers`` and a Dense head ("out"): the tested kernels are not
    the output's, whose activation is the loss's link (test_output_activation_is_the_link)."""
    return keras.Sequential([keras.Input(input_shape), *layers, keras.layers.Dense(2, name="out")])


# ---------------------------------------------------------------------------
# Fans per layer kind (fans written out by hand, not from keras_glorot.fans).

KIND_CASES = {
    # name: (model builder, activation after layer "k", its slope, true fan_in, fan_out)
    "dense_own_relu": (
        lambda: seq((128,), keras.layers.Dense(256, activation="relu", name="k")),
        "relu",
        0.2,
        128,
        256,
    ),
    "conv2d_groups_bn_leaky": (
        lambda: seq(
            (8, 8, 32),
            keras.layers.Conv2D(64, 3, groups=4, name="k"),
            keras.layers.BatchNormalization(),
            keras.layers.LeakyReLU(0.1),
        ),
        "linear",  # batch norm follows: Keras' default scale, from Keras' own fans
        0.1,
        3 * 3 * 8,
        3 * 3 * 64,  # the true fan_out is a quarter of this (each group feeds 16 filters)
    ),
    "depthwise2d_relu_layer": (
        lambda: seq(
            (8, 8, 32),
            keras.layers.DepthwiseConv2D(3, depth_multiplier=4, name="k"),
            keras.layers.ReLU(),
        ),
        "relu",
        0.2,
        9,
        9 * 4,
    ),
    "depthwise1d_activation_tanh": (
        lambda: seq(
            (16, 64),
            keras.layers.DepthwiseConv1D(5, depth_multiplier=2, name="k"),
            keras.layers.Activation("tanh"),
        ),
        "tanh",
        0.2,
        5,
        10,
    ),
    "conv2d_transpose_own_gelu": (
        lambda: seq((6, 6, 64), keras.layers.Conv2DTranspose(32, 3, activation="gelu", name="k")),
        "gelu",
        0.2,
        9 * 64,
        9 * 32,
    ),
    "conv1d_own_selu": (
        lambda: seq((20, 24), keras.layers.Conv1D(48, 5, activation="selu", name="k")),
        "selu",
        0.2,
        5 * 24,
        5 * 48,
    ),
    "conv3d_dropout_elu": (
        lambda: seq(
            (5, 5, 5, 8),
            keras.layers.Conv3D(16, 3, name="k"),
            keras.layers.Dropout(0.5),
            keras.layers.ELU(),
        ),
        "elu",
        0.2,
        27 * 8,
        27 * 16,
    ),
    "conv3d_transpose_linear_output": (
        lambda: seq((3, 3, 3, 16), keras.layers.Conv3DTranspose(8, 3, name="k")),
        "linear",
        0.2,
        27 * 16,
        27 * 8,
    ),
    "einsum_layernorm_silu": (
        lambda: seq(
            (10, 64),
            keras.layers.EinsumDense("abc,cde->abde", output_shape=(None, 8, 16), name="k"),
            keras.layers.LayerNormalization(),
            keras.layers.Activation("silu"),
        ),
        "linear",  # layer norm follows: Keras' default scale, from Keras' own fans
        0.2,
        8 * 64,  # Keras reads (64, 8, 16) as a receptive field of 64; the true fans are
        16 * 64,  # 64 and 128
    ),
}


@pytest.mark.parametrize("case", sorted(KIND_CASES))
def test_kernel_variance_uses_true_fans_and_following_activation(case):
    """The true fans and the activation's gain; under a normalization, Keras' own scale."""
    build, activation, slope, fan_in, fan_out = KIND_CASES[case]
    model = build()
    report = uniform_init(model, seed=3)
    row = only_row(report, "k")
    assert (row.fan_in, row.fan_out) == (fan_in, fan_out)
    assert row.gain == pytest.approx(calculate_gain(activation, negative_slope=slope))
    layer = model.get_layer("k")
    expected = glorot_var(activation, fan_in, fan_out, slope)
    assert row.std == pytest.approx(math.sqrt(expected))
    assert_variance(to_numpy(layer.kernel), expected)


L = keras.layers
NORMALIZED_CASES = {
    # name: (the layers after the kernel "k", whether a normalization makes its scale moot)
    "bn_then_leaky": (lambda: [L.BatchNormalization(), L.LeakyReLU(0.2)], True),
    "dropout_groupnorm": (lambda: [L.Dropout(0.1), L.GroupNormalization(4)], True),
    "relu_then_bn": (lambda: [L.ReLU(), L.BatchNormalization()], True),
    "leaky_dropout_bn": (lambda: [L.LeakyReLU(0.2), L.Dropout(0.1), L.BatchNormalization()], True),
    # tanh and gelu are not homogeneous: the kernel's scale sets where they work. But the
    # norm after them sets the next kernel's input, and a larger kernel learns slower:
    # ConvMixer (conv -> gelu -> BN) trained worse from the activation's gain and true fans
    # (docs/zoo.md, "Code nobody here wrote"), so Keras' scale is kept here too.
    "tanh_then_bn": (lambda: [L.Activation("tanh"), L.BatchNormalization()], True),
    "gelu_dropout_bn": (
        lambda: [L.Activation("gelu"), L.Dropout(0.1), L.BatchNormalization()],
        True,
    ),
    # A normalization elsewhere (after the next kernel) leaves the activation's gain.
    "tanh_then_conv": (
        lambda: [L.Activation("tanh"), L.Conv2D(8, 1), L.BatchNormalization()],
        False,
    ),
}


@pytest.mark.parametrize("case", sorted(NORMALIZED_CASES))
@pytest.mark.parametrize("mode", ["fan_avg", "fan_in"])
def test_kernel_that_a_normalization_follows_keeps_keras_default_scale(case, mode):
    """A normalization divides by the kernel's scale, so a gain cannot change the forward
    pass and only shrinks the step (gradient relative to the weight ~ 1/scale**2): the
    kernel keeps Keras' glorot_uniform variance, 2 / (fan_in + fan_out), whatever the
    mode, also behind an activation (through relu the scale reaches the normalization;
    through tanh or gelu only the step is left to set, and Keras' step trained better).
    A normalization after the next kernel leaves the activation's gain."""
    after, moot = NORMALIZED_CASES[case]
    model = seq((8, 8, 16), keras.layers.Conv2D(32, 3, name="k"), *after())
    report = uniform_init(model, seed=1, mode=mode)
    row, kernel = only_row(report, "k"), to_numpy(model.get_layer("k").kernel)
    fan_in, fan_out = 9 * 16, 9 * 32
    if moot:
        assert row.gain == 1.0 and "Keras' default scale kept" in row.activation
        assert_variance(kernel, 2 / (fan_in + fan_out))
    else:
        fan = fan_in if mode == "fan_in" else (fan_in + fan_out) / 2
        assert row.activation.startswith("tanh")
        assert_variance(kernel, calculate_gain("tanh") ** 2 / fan)


@pytest.mark.parametrize(
    "layer, keras_fans",
    [
        # Keras reads (3, 3, 32, 1) as 288 inputs and 9 outputs; the true fans are 9, 9.
        (lambda: L.DepthwiseConv2D(3, padding="same", use_bias=False, name="k"), (288, 9)),
        # Stride 2: the true fan_out is a quarter of Keras' 9 * 64.
        (lambda: L.Conv2D(64, 3, strides=2, padding="same", name="k"), (288, 576)),
    ],
    ids=["depthwise", "strided"],
)
def test_kernel_under_normalization_keeps_keras_scale_from_keras_own_fans(layer, keras_fans):
    """The rule keeps the step Keras' default gives: its variance from Keras' fans of the
    whole variable. The true fans of a depthwise kernel (9, 9) would draw it sqrt(297/18)
    = 4.1 times Keras' std and make its first steps 16 times slower, for no change in the
    forward pass."""
    model = seq((16, 16, 32), layer(), L.BatchNormalization(), L.ReLU())
    row = only_row(uniform_init(model, seed=2), "k")
    assert (row.fan_in, row.fan_out) == keras_fans
    assert_variance(to_numpy(model.get_layer("k").kernel), 2 / sum(keras_fans))


def test_depthwise_fan_in_is_receptive_field_not_times_channels():
    # The example: 3x3 depthwise on 32 channels has fan_in 9, not 288.
    model = seq((8, 8, 32), keras.layers.DepthwiseConv2D(3, depth_multiplier=8, name="k"))
    row = only_row(initialize(model, seed=0), "k", "depthwise")  # truncated normal
    assert (row.fan_in, row.fan_out) == (9, 72)
    w = to_numpy(model.get_layer("k").kernel)
    assert_variance(w, glorot_var("linear", 9, 72), KURTOSIS_TRUNCATED)
    # Keras' shape rule (fan_in 288) would give a variance 4.5x smaller.
    assert np.mean(w**2) > 3 * glorot_var("linear", 288, 72)


def test_separable_conv_depthwise_linear_pointwise_with_activation():
    model = seq(
        (8, 8, 32),
        keras.layers.SeparableConv2D(64, 3, depth_multiplier=2, name="k"),
        keras.layers.Dropout(0.1),
        keras.layers.Activation("tanh"),
    )
    report = uniform_init(model, seed=1)
    dw, pw = only_row(report, "k", "depthwise"), only_row(report, "k", "pointwise")
    assert (dw.fan_in, dw.fan_out, dw.gain) == (9, 18, 1.0)
    assert (pw.fan_in, pw.fan_out) == (64, 64)
    assert pw.gain == pytest.approx(calculate_gain("tanh"))
    layer = model.get_layer("k")
    assert_variance(to_numpy(layer.depthwise_kernel), glorot_var("linear", 9, 18))
    assert_variance(to_numpy(layer.pointwise_kernel), glorot_var("tanh", 64, 64))


def test_multi_head_attention_projections_use_einsum_fans():
    inputs = keras.Input((10, 64))
    outputs = keras.layers.MultiHeadAttention(num_heads=4, key_dim=32, name="k")(inputs, inputs)
    outputs = keras.layers.Dense(2)(keras.layers.Activation("relu")(outputs))
    model = keras.Model(inputs, outputs)
    report = uniform_init(model, seed=2)
    layer = model.get_layer("k")
    for part, sub, act in [
        ("query", layer.query_dense, "linear"),
        ("value", layer.value_dense, "linear"),
        ("output", layer.output_dense, "relu"),
    ]:
        row = only_row(report, "k", part)
        expected = (64, 128) if part != "output" else (128, 64)
        assert (row.fan_in, row.fan_out) == expected
        assert_variance(to_numpy(sub.kernel), glorot_var(act, 64, 128))
    # The one config Keras keeps for the four projections dispatches by shape.
    config = layer.get_config()["kernel_initializer"]
    assert config["registered_name"] == "keras_glorot>ByShape"
    clone = keras.models.clone_model(model)
    clone_layer = clone.get_layer("k")
    assert_variance(to_numpy(clone_layer.query_dense.kernel), glorot_var("linear", 64, 128))


# The gain each gate block gets, before the two paths share it: a gate or candidate that
# multiplies a state gets 1 (linear); SimpleRNN's output feeds kernels: its tanh gain.
RNN_GATES = {
    keras.layers.LSTM: ["linear", "linear", "linear", "linear"],
    keras.layers.GRU: ["linear", "linear", "linear"],
    keras.layers.SimpleRNN: ["tanh"],
}


@pytest.mark.parametrize("rnn", list(RNN_GATES), ids=lambda c: c.__name__)
def test_rnn_kernels_per_gate_block(rnn):
    """Per gate block: the input kernel is Glorot with the block's gain times 1/sqrt(2)
    and the recurrent kernel orthogonal with the same gain, so that the two paths
    that add in the pre-activation share one unit of variance."""
    units, input_dim = 48, 64
    model = seq((7, input_dim), rnn(units, name="k"))
    report = uniform_init(model, seed=5)
    cell = model.get_layer("k").cell
    kernel, recurrent = to_numpy(cell.kernel), to_numpy(cell.recurrent_kernel)
    for i, act in enumerate(RNN_GATES[rnn]):
        block = kernel[:, i * units : (i + 1) * units]
        assert_variance(block, glorot_var(act, input_dim, units) / 2)
        gain2 = calculate_gain(act) ** 2 / 2
        u = recurrent[:, i * units : (i + 1) * units]
        # Orthogonal with gain g: U^T U = g^2 I (exactly, up to float32 rounding).
        np.testing.assert_allclose(u.T @ u, gain2 * np.eye(units), atol=2e-4 * gain2)
    rows = [r for r in report["k"] if r.part.startswith("kernel[")]
    assert [(r.fan_in, r.fan_out) for r in rows] == [(input_dim, units)] * len(RNN_GATES[rnn])


def gate_preactivations(layer, x):
    """Per gate block, the pre-activations ``x_t W + h_{t-1} U`` (biases left out) of a
    ``return_sequences`` LSTM or GRU over the sequence ``x``, from its own outputs."""
    h = to_numpy(layer(x))
    x, cell = np.asarray(x, np.float64), layer.cell
    previous = np.concatenate([np.zeros_like(h[:, :1]), h[:, :-1]], axis=1)
    w, u = to_numpy(cell.kernel), to_numpy(cell.recurrent_kernel)
    n = cell.units
    blocks = w.shape[1] // n
    z_in = [x @ w[:, g * n : (g + 1) * n] for g in range(blocks)]
    z_rec = [previous @ u[:, g * n : (g + 1) * n] for g in range(blocks)]
    return z_in, z_rec, h


@pytest.mark.parametrize("rnn", [keras.layers.LSTM, keras.layers.GRU], ids=lambda c: c.__name__)
def test_gates_start_unsaturated_with_unit_variance_over_both_paths(rnn):
    """A 2-layer LSTM/GRU(128) on N(0, 1) sequences of 32 x 96. Each gate's
    pre-activation must have the variance the rule predicts from the two paths,
    ``(1/2) (2 fan_in / (fan_in + units)) E[x^2] + (1/2) E[h^2]`` (Glorot fans, an
    orthogonal recurrent block), and at most 5% of gates may start with |z| > 2
    (the sigmoid's gain rule gave 19 to 33%)."""
    x = np.random.default_rng(0).standard_normal((16, 32, 96)).astype("float32")
    model = seq(
        (32, 96), rnn(128, return_sequences=True, name="a"),
        rnn(128, return_sequences=True, name="b"),
    )  # fmt: skip
    initialize(model, seed=0)
    inputs = x
    for name in ("a", "b"):
        layer = model.get_layer(name)
        z_in, z_rec, h = gate_preactivations(layer, inputs)
        fan_in = inputs.shape[-1]
        x2 = float(np.mean(np.asarray(inputs, np.float64) ** 2))
        h2 = float(np.mean(h[:, :-1] ** 2)) * 31 / 32  # h_0 = 0 in the first step
        for z_i, z_r in zip(z_in, z_rec, strict=True):
            z = z_i + z_r
            predicted = 0.5 * 2 * fan_in / (fan_in + 128) * x2 + 0.5 * h2
            # 128 units' row norms carry the randomness: relative SE about
            # sqrt(2 / fan_in / 128) < 1.5% per path; 8% is over 5 SEs.
            assert np.mean(z**2) == pytest.approx(predicted, rel=0.08), name
            assert np.mean(np.abs(z) > 2) < 0.05, name
        inputs = h


def test_bidirectional_and_time_distributed_are_entered():
    model = seq(
        (6, 16),
        keras.layers.Bidirectional(keras.layers.LSTM(8, return_sequences=True), name="bi"),
        keras.layers.TimeDistributed(keras.layers.Dense(32), name="td"),
        keras.layers.LeakyReLU(0.3),
    )
    report = uniform_init(model, seed=0)
    parts = [r.part for r in report["bi"]]
    assert [p for p in parts if p.startswith("forward.kernel[")] == [
        f"forward.kernel[{g}]" for g in "ifco"
    ]
    assert len([p for p in parts if p.startswith("backward.recurrent[")]) == 4
    row = only_row(report, "td")
    assert row.gain == pytest.approx(calculate_gain("leaky_relu", negative_slope=0.3))
    assert (row.fan_in, row.fan_out) == (16, 32)


# ---------------------------------------------------------------------------
# Which activation is found.


def _found(model, name="k"):
    report = uniform_init(model, seed=0)
    return only_row(report, name)


def _dense_then(*after, input_dim=16):
    return seq((input_dim,), keras.layers.Dense(32, name="k"), *after)


def _prelu_model():
    model = _dense_then(keras.layers.PReLU(name="p"))
    alpha = np.resize([0.1, 0.3], model.get_layer("p").alpha.shape).astype("float32")
    model.get_layer("p").alpha.assign(alpha)
    return model


ACTIVATION_PATTERNS = {
    "own": (
        lambda: seq((16,), keras.layers.Dense(32, activation="sigmoid", name="k")),
        "sigmoid",
        0.2,
    ),
    "own_leaky": (
        lambda: seq((16,), keras.layers.Dense(32, activation="leaky_relu", name="k")),
        "leaky_relu",
        0.2,
    ),
    "activation_layer": (lambda: _dense_then(keras.layers.Activation("gelu")), "gelu", 0.2),
    "relu_layer": (lambda: _dense_then(keras.layers.ReLU()), "relu", 0.2),
    "relu_layer_slope": (
        lambda: _dense_then(keras.layers.ReLU(negative_slope=0.05)),
        "leaky_relu",
        0.05,
    ),
    "leaky_layer_own_slope": (lambda: _dense_then(keras.layers.LeakyReLU(0.1)), "leaky_relu", 0.1),
    "leaky_layer_default": (lambda: _dense_then(keras.layers.LeakyReLU()), "leaky_relu", 0.3),
    "elu_layer": (lambda: _dense_then(keras.layers.ELU()), "elu", 0.2),
    "prelu_rms": (_prelu_model, "leaky_relu", math.sqrt((0.1**2 + 0.3**2) / 2)),
    "behind_bn": (
        lambda: _dense_then(keras.layers.BatchNormalization(), keras.layers.ReLU()),
        "linear",  # batch norm sets the scale: Keras' default kept
        0.2,
    ),
    "behind_ln_dropout": (
        lambda: _dense_then(
            keras.layers.LayerNormalization(),
            keras.layers.Dropout(0.2),
            keras.layers.Activation("tanh"),
        ),
        "linear",  # layer norm sets the scale: Keras' default kept
        0.2,
    ),
    "behind_dropout_noise": (
        lambda: _dense_then(
            keras.layers.Dropout(0.2),
            keras.layers.GaussianNoise(0.1),
            keras.layers.Activation("tanh"),
        ),
        "tanh",
        0.2,
    ),
    "none_follows": (lambda: _dense_then(), "linear", 0.2),
    "softmax_own": (
        lambda: seq((16,), keras.layers.Dense(10, activation="softmax", name="k")),
        "linear",
        0.2,
    ),
    "softmax_layer": (lambda: _dense_then(keras.layers.Softmax()), "linear", 0.2),
    "softmax_activation": (lambda: _dense_then(keras.layers.Activation("softmax")), "linear", 0.2),
    "other_layer": (lambda: _dense_then(keras.layers.Dense(4)), "linear", 0.2),
}


@pytest.mark.parametrize("pattern", sorted(ACTIVATION_PATTERNS))
def test_activation_found(pattern):
    build, activation, slope = ACTIVATION_PATTERNS[pattern]
    row = _found(build())
    assert row.gain == pytest.approx(calculate_gain(activation, negative_slope=slope))


def test_elu_with_alpha_and_clipped_relu_use_the_layer_function():
    for layer, fn in [
        (keras.layers.ELU(alpha=0.5), lambda z: np.where(z > 0, z, 0.5 * np.expm1(z))),
        (keras.layers.ReLU(max_value=1.0), lambda z: np.clip(z, 0.0, 1.0)),
    ]:
        row = _found(_dense_then(layer))
        z = np.random.default_rng(0).standard_normal(2_000_000)
        assert row.gain == pytest.approx(1 / math.sqrt(np.mean(fn(z) ** 2)), rel=3e-3)


def test_functional_branches_that_disagree_give_linear():
    inputs = keras.Input((16,))
    h = keras.layers.Dense(32, name="k")(inputs)
    a = keras.layers.ReLU()(h)
    b = keras.layers.Activation("tanh")(h)
    model = keras.Model(inputs, keras.layers.Add()([a, b]))
    # relu(h) + tanh(h): no kernel on either path, no shortcut to tell.
    with pytest.warns(UserWarning, match="cannot tell branch from shortcut"):
        row = _found(model)
    assert row.gain == 1.0 and "disagree" in row.activation


def test_functional_branches_that_agree_and_nested_model():
    inner = seq((32,), keras.layers.Dropout(0.1), keras.layers.LeakyReLU(0.1))
    inputs = keras.Input((16,))
    h = keras.layers.Dense(32, name="k")(inputs)
    model = keras.Model(inputs, inner(h))
    row = _found(model)
    assert row.gain == pytest.approx(calculate_gain("leaky_relu", negative_slope=0.1))


class _CallOrderNet(keras.Model):
    """``head(act(enc(x)))`` with the attributes assigned ``enc, head, act``, an
    activation applied with ``keras.ops`` and a leaky ReLU with its slope as an op."""

    def __init__(self):
        super().__init__()
        self.enc = keras.layers.Dense(32, name="enc")
        self.head = keras.layers.Dense(4, name="head")
        self.act = keras.layers.LeakyReLU(0.1)
        self.mid = keras.layers.Dense(32, name="mid")
        self.last = keras.layers.Dense(32, name="last")

    def call(self, x):
        x = self.mid(self.act(self.enc(x)))
        x = self.last(keras.ops.relu(x))
        return self.head(keras.ops.leaky_relu(x, negative_slope=0.3))


def test_subclassed_model_is_read_in_call_order_with_its_ops():
    """The activation after each kernel is the one its call applies, whatever the
    order of the attributes, also when applied with keras.ops; the model's sublayers
    keep no node of the reading (a second initialize reads it the same way)."""
    model = _CallOrderNet()
    model(np.zeros((2, 16), "float32"))
    for _ in range(2):
        report = uniform_init(model, seed=0)
        rows = {r.layer: r for r in report.handled}
        assert rows["enc"].gain == pytest.approx(calculate_gain("leaky_relu", negative_slope=0.1))
        assert "LeakyReLU" in rows["enc"].activation
        assert rows["mid"].gain == pytest.approx(calculate_gain("relu"))
        assert rows["mid"].activation.startswith("relu (op Relu")
        assert rows["last"].gain == pytest.approx(calculate_gain("leaky_relu", negative_slope=0.3))
        assert rows["head"].gain == 1.0 and rows["head"].activation == "linear: none follows"
        assert model.enc._inbound_nodes == [] and model.head._inbound_nodes == []
    assert_variance(to_numpy(model.enc.kernel), glorot_var("leaky_relu", 16, 32, 0.1))


def test_subclassed_model_whose_call_cannot_be_traced_uses_layer_order():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.k = keras.layers.Dense(32, name="k")
            self.act = keras.layers.LeakyReLU(0.1)
            self.out = keras.layers.Dense(4, activation="tanh", name="out")

        def call(self, x):
            # Reads values: only possible on concrete tensors, not on symbolic ones.
            scale = float(keras.ops.convert_to_numpy(keras.ops.max(x))) or 1.0
            return self.out(self.act(self.k(x / scale)))

    model = Net()
    model(np.ones((2, 16), "float32"))
    with pytest.warns(UserWarning, match="could not be traced"):
        report = uniform_init(model, seed=0)
    assert "in the order __init__ assigned them" in report.fallbacks[0]
    row = only_row(report, "k")
    # Layer order says a LeakyReLU follows, but that is a guess: the kernel keeps its
    # own layer's gain (linear: Keras' law), never a higher one.
    assert "layer order" in row.activation and "a guess" in row.note
    assert row.gain == 1.0
    assert_variance(to_numpy(model.k.kernel), glorot_var("linear", 16, 32))
    assert only_row(report, "out").gain == pytest.approx(calculate_gain("tanh"))


# ---------------------------------------------------------------------------
# Configs, clone_model, .keras files; what is left alone.


def _mixed_model():
    return keras.Sequential([
        keras.Input((8, 8, 16)),
        keras.layers.DepthwiseConv2D(3, name="dw"),
        keras.layers.LeakyReLU(0.1),
        keras.layers.Conv2D(32, 3, groups=4, name="grouped"),
        keras.layers.ReLU(),
        keras.layers.Conv2DTranspose(8, 3, activation="tanh", name="tr"),
        keras.layers.SeparableConv2D(8, 3, name="sep"),
        keras.layers.Reshape((-1, 8)),
        keras.layers.LSTM(12, name="lstm"),
        keras.layers.Dense(10, activation="softmax", name="head"),
    ])  # fmt: skip


def _kernels(model):
    return [to_numpy(w) for w in model.weights if "kernel" in w.path]


def test_config_names_our_initializers_and_clone_reproduces_draws():
    model = _mixed_model()
    uniform_init(model, seed=11)
    dw = model.get_layer("dw").get_config()["depthwise_initializer"]
    assert dw["registered_name"] == "keras_glorot>Glorot"
    assert (dw["config"]["fan_in"], dw["config"]["fan_out"]) == (9, 9)
    grouped = model.get_layer("grouped").get_config()["kernel_initializer"]["config"]
    assert (grouped["fan_in"], grouped["fan_out"], grouped["negative_slope"]) == (36, 72, 0.2)
    assert grouped["activation"] == "relu"
    lstm = model.get_layer("lstm").get_config()
    assert lstm["kernel_initializer"]["registered_name"] == "keras_glorot>Blocks"
    assert lstm["recurrent_initializer"]["registered_name"] == "keras_glorot>Blocks"
    assert model.get_layer("sep").get_config()["pointwise_initializer"]["class_name"] == "Glorot"
    # Seeded draws: building the clone from its config gives the same kernels.
    clone = keras.models.clone_model(model)
    for w, w_clone in zip(_kernels(model), _kernels(clone), strict=True):
        np.testing.assert_allclose(w_clone, w, rtol=1e-6, atol=1e-7)


def test_keras_file_reload_keeps_initializers(tmp_path):
    model = _mixed_model()
    uniform_init(model, seed=4)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    init = loaded.get_layer("dw").depthwise_initializer
    assert isinstance(init, Glorot) and (init.fan_in, init.activation) == (9, "leaky_relu")
    assert init.negative_slope == pytest.approx(0.1)
    assert isinstance(loaded.get_layer("lstm").cell.kernel_initializer, keras_glorot.Blocks)
    for w, w_loaded in zip(_kernels(model), _kernels(loaded), strict=True):
        np.testing.assert_array_equal(w_loaded, w)


def test_biases_embedding_and_unknown_layers_left_alone():
    class Scale(keras.layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1], shape[-1]), initializer="ones")

        def call(self, x):
            return x @ self.w

    model = seq(
        (5,),
        keras.layers.Embedding(50, 8, name="emb"),
        keras.layers.Flatten(),
        keras.layers.Dense(16, bias_initializer="ones", name="k"),
        Scale(name="custom"),
    )
    emb = to_numpy(model.get_layer("emb").embeddings)
    with pytest.warns(UserWarning, match="'custom': unknown layer kind Scale"):
        report = uniform_init(model, seed=0)
    np.testing.assert_array_equal(to_numpy(model.get_layer("emb").embeddings), emb)
    np.testing.assert_array_equal(to_numpy(model.get_layer("k").bias), np.ones(16))
    np.testing.assert_array_equal(to_numpy(model.get_layer("custom").w), np.ones((16, 16)))
    skipped = {r.layer: r.skipped for r in report.skipped}
    assert set(skipped) == {"emb", "custom"}
    assert "Embedding" in skipped["emb"] and "unknown" in skipped["custom"]
    assert "custom" in str(report) and "| emb |" in report.to_markdown()


def test_report_table_lists_each_kernel():
    report = uniform_init(_mixed_model(), seed=0)
    text = str(report)
    for col in ("layer", "kind", "activation", "fan_in", "fan_out", "gain", "std"):
        assert col in text.splitlines()[0]
    assert len(report.handled) == 1 + 1 + 1 + 2 + 8 + 1
    assert report.to_markdown().count("\n| ") == len(report)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"mode": "fan_sum"}, ValueError),
        ({"distribution": "gamma"}, ValueError),
        ({"convention": "keras"}, ValueError),
        ({"seed": "1"}, TypeError),
        ({"seed": -1}, ValueError),
    ],
)
def test_bad_options(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        initialize(_dense_then(), **kwargs)


def test_unbuilt_or_non_model_rejected():
    with pytest.raises(ValueError, match="not built"):
        initialize(keras.Sequential([keras.layers.Dense(3)]))
    with pytest.raises(TypeError, match="keras.Model"):
        initialize(keras.layers.Dense(3))


def test_attention_config_clash_is_reported_not_silent():
    # d_model = heads = key_dim = 4: query (4, 4, 4) and output (4, 4, 4) kernels
    # share a shape but not their axes, so one kernel_initializer cannot hold both.
    inputs = keras.Input((3, 4))
    outputs = keras.layers.MultiHeadAttention(4, 4, name="k")(inputs, inputs)
    model = keras.Model(inputs, outputs)
    before = model.get_layer("k").get_config()["kernel_initializer"]
    report = uniform_init(model, seed=0)
    assert all("config not rewritten" in r.note for r in report["k"])
    assert model.get_layer("k").get_config()["kernel_initializer"] == before


def test_parametrized_activation_layer_survives_clone_and_reload(tmp_path):
    model = _dense_then(keras.layers.ELU(alpha=0.5))
    gain = _found(model).gain
    path = tmp_path / "elu.keras"
    model.save(path)
    for other in (keras.models.clone_model(model), keras.models.load_model(path)):
        init = other.get_layer("k").kernel_initializer
        assert isinstance(init, Glorot) and init.gain == pytest.approx(gain)
        assert init.activation["registered_name"] == "keras_glorot>LayerActivation"


def _se_model(batch_norm: bool, own_activation: str | None = None):
    """conv -> [BN ->] act -> squeeze-excite gate (sigmoid) -> next conv."""
    inputs = keras.Input((8, 8, 16))
    x = keras.layers.Conv2D(16, 3, padding="same", activation=own_activation, name="conv")(inputs)
    if batch_norm:
        x = keras.layers.BatchNormalization()(x)
    if own_activation is None:
        x = keras.layers.ReLU(name="act")(x)
    s = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    s = keras.layers.Conv2D(4, 1, activation="relu", name="se_reduce")(s)
    s = keras.layers.Conv2D(16, 1, activation="sigmoid", name="se_expand")(s)
    x = keras.layers.Multiply(name="se_mul")([x, s])
    return keras.Model(inputs, keras.layers.Conv2D(16, 3, padding="same", name="next")(x))


@pytest.mark.parametrize("own_activation", [None, "relu"])
def test_squeeze_excite_gate_is_compensated_in_the_kernel_before_it(own_activation):
    model = _se_model(batch_norm=False, own_activation=own_activation)
    report = initialize(model, seed=0)
    row = only_row(report, "conv")
    assert row.gain == pytest.approx(2 * math.sqrt(2.0))  # relu's gain, times 2 for the gate
    assert "x 2: gated by sigmoid ('se_expand') at 'se_mul'" in row.activation
    w = to_numpy(model.get_layer("conv").kernel)
    assert_variance(w, glorot_var("relu", 144, 144) * 4, kurtosis=KURTOSIS_TRUNCATED)


def test_squeeze_excite_gate_after_a_normalization_is_named_not_compensated():
    report = initialize(_se_model(batch_norm=True), seed=0)
    row = only_row(report, "conv")
    assert row.gain == 1.0 and "Keras' default scale kept" in row.activation  # BN's scale
    assert "then gated by sigmoid ('se_expand') at 'se_mul'" in row.activation
    assert "not compensated" in row.activation


@pytest.mark.skipif(
    not hasattr(keras.layers, "ReversibleEmbedding"), reason="a Keras layer from Keras 3.12 on"
)
def test_untied_reverse_embeddings_are_drawn_as_the_logits_kernel():
    """An untied ReversibleEmbedding (Llama's LM head) computes x @ reverse_embeddings:
    a Dense kernel on the logits, drawn linear with fans (hidden, vocab); the lookup
    table is left as it is."""
    layer = keras.layers.ReversibleEmbedding(500, 64, tie_weights=False, name="k")
    inputs = keras.Input((8,), dtype="int32")
    model = keras.Model(inputs, layer(layer(inputs), reverse=True))
    table = to_numpy(layer.embeddings).copy()
    attributes = set(vars(layer))
    row = only_row(initialize(model, seed=0, distribution="uniform"), "k")
    assert set(vars(layer)) == attributes  # no initializer attribute of ours left on it
    assert (row.part, row.fan_in, row.fan_out, row.gain) == ("reverse_embeddings", 64, 500, 1.0)
    assert_variance(to_numpy(layer.reverse_embeddings), glorot_var("linear", 64, 500))
    np.testing.assert_array_equal(to_numpy(layer.embeddings), table)
