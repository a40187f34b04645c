"""signal_report(training=...), the mean-field prediction and the Jacobian spectrum,
against hand-computed cases on every backend (fixed seeds)."""

import functools
import json

import keras
import numpy as np
import pytest
from conftest import run_python, to_numpy

from keras_glorot import jacobian_spectrum, mean_field_variances, signal_report
from keras_glorot.whole_model.mean_field import gaussian_moments


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


# ---------------------------------------------------------------------------
# The mean-field variance map (Poole et al. 2016; Schoenholz et al. 2017).


@pytest.mark.parametrize("q", [0.25, 1.0, 3.0])
def test_quadrature_matches_the_relu_closed_forms(q):
    mean, second = gaussian_moments(keras.activations.relu, q)
    # E[relu(sqrt(q) z)^2] = q / 2 and E[relu(sqrt(q) z)] = sqrt(q / (2 pi)).
    assert second == pytest.approx(q / 2, rel=1e-6)
    assert mean == pytest.approx(np.sqrt(q / (2 * np.pi)), rel=1e-6)
    leaky = functools.partial(keras.activations.leaky_relu, negative_slope=0.2)
    assert gaussian_moments(leaky, q)[1] == pytest.approx((1 + 0.04) * q / 2, rel=1e-6)


def deep_mlp(activation, gain, depth=8, width=512, bias_std=0.1):
    layers = [keras.Input((width,))]
    for i in range(depth):
        layers.append(
            keras.layers.Dense(
                width,
                activation=activation,
                kernel_initializer=keras.initializers.RandomNormal(
                    stddev=gain / np.sqrt(width), seed=i
                ),
                bias_initializer=keras.initializers.RandomNormal(stddev=bias_std, seed=100 + i),
                name=f"d{i}",
            )
        )
    return keras.Sequential(layers)


@pytest.mark.parametrize("activation, gain", [("tanh", 1.5), ("relu", np.sqrt(2.0))])
def test_mean_field_predicts_a_deep_width_512_mlp(activation, gain):
    depth, width = 8, 512
    model = deep_mlp(activation, gain, depth, width)
    x = batch((512, width))
    report = signal_report(model, x)
    predicted = np.array(report.predicted_std)
    measured = np.array(report.activation_std)
    # The map's own numbers, by hand: q1 = sigma_w^2 E[x^2] + sigma_b^2 from the weights
    # (mean(W^2) is a float32 reduction on the device: 1e-6).
    w, b = (to_numpy(v).astype(np.float64) for v in model.get_layer("d0").weights)
    q1 = width * np.mean(w**2) * np.mean(x.astype(np.float64) ** 2) + np.mean(b**2)
    assert mean_field_variances(model, float(np.mean(x.astype(np.float64) ** 2)))[0].q == (
        pytest.approx(q1, rel=1e-6)
    )
    # Finite width: the variance of a width-n layer's pre-activations fluctuates
    # around the map by ~sqrt(2 / n) (chi-square with n degrees of freedom), the std
    # by half that. tanh contracts to its fixed point, so the error stays one layer's;
    # relu is marginal (chi = 1) and its mean direction (a third of E[h^2]) carries
    # the fluctuation on, a random walk: sqrt(depth) layers' worth.
    one_layer = np.sqrt(2.0 / width) / 2
    tol = one_layer if activation == "tanh" else np.sqrt(depth) * one_layer
    np.testing.assert_allclose(predicted, measured, rtol=tol)
    # The prediction follows the network, not a constant: tanh's std falls from
    # layer 1 to its fixed point by far more than the tolerance.
    if activation == "tanh":
        assert measured[0] / measured[-1] > 1 + 3 * tol


def test_mean_field_gives_reasons_for_bn_pooling_and_merges():
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inputs)
    a = keras.layers.Activation("tanh", name="t")(h)
    b = keras.layers.BatchNormalization(name="bn")(a)
    c = keras.layers.Conv2D(4, 3, padding="same", name="c2")(b)
    s = keras.layers.Add(name="add")(
        [a, keras.layers.MaxPooling2D(2, strides=1, padding="same", name="mp")(a)]
    )
    out = keras.layers.Concatenate(name="cat")([c, s])
    model = keras.Model(inputs, out)
    found = {p.layer: p for p in mean_field_variances(model, 2.0)}
    assert found["c1"].q is not None and "interior" in found["c1"].note
    assert found["t"].q == found["c1"].q  # tanh of relu of the same Gaussian
    # relu then tanh, composed inside the expectation.
    mean, second = gaussian_moments(lambda v: keras.ops.tanh(keras.ops.relu(v)), found["c1"].q)
    assert found["t"].std == pytest.approx(np.sqrt(second - mean**2), rel=1e-9)
    assert found["bn"].std is None and "BatchNormalization" in found["bn"].note
    assert found["c2"].std is None and "(upstream: BatchNormalization" in found["c2"].note
    assert found["mp"].std is None and "MaxPooling2D" in found["mp"].note
    assert found["add"].std is None and "merges 2" in found["add"].note


def test_mean_field_through_a_nested_model_and_dropout_in_training():
    width = 256
    inner = keras.Sequential(
        [
            keras.Input((width,)),
            keras.layers.Dense(width, activation="relu", name="inner_relu"),
            keras.layers.Dropout(0.5, seed=1, name="drop"),
        ],
        name="inner",
    )
    inputs = keras.Input((width,))
    h = keras.layers.Dense(width, name="first")(inputs)
    out = keras.layers.Dense(width, name="last")(inner(h))
    model = keras.Model(inputs, out)
    x = batch((256, width))
    for training in (False, True):
        report = signal_report(model, x, training=training)
        assert report.layers == ["first", "inner_relu", "drop", "last"]
        assert all(p is not None for p in report.predicted_std), report.prediction_note
        # Three kernel layers of width n = 256, each off the map by about one
        # finite-width fluctuation, sqrt(2 / n) / 2 in std, compounding at most as a
        # random walk (measured: below 3% on three seeds).
        tol = np.sqrt(3) * np.sqrt(2.0 / width) / 2
        np.testing.assert_allclose(report.predicted_std, report.activation_std, rtol=tol)
    # Inverted dropout at rate 0.5 doubles the second moment that feeds "last".
    inference = signal_report(model, x).predicted_std[-1]
    assert report.predicted_std[-1] / inference == pytest.approx(np.sqrt(2.0), rel=1e-9)


@pytest.mark.parametrize(
    "noise",
    [keras.layers.GaussianNoise(0.5, seed=2), keras.layers.GaussianDropout(0.5, seed=2)],
    ids=["gaussian_noise", "gaussian_dropout"],
)
def test_mean_field_through_noise_layers_in_training(noise):
    width = 256
    inputs = keras.Input((width,))
    h = keras.layers.Dense(width, activation="tanh", name="a")(inputs)
    out = keras.layers.Dense(width, name="b")(noise(h))
    model = keras.Model(inputs, out)
    report = signal_report(model, batch((256, width)), training=True)
    # Two kernel layers of width 256, as above; the noise's own sampling error
    # (65,536 draws) is far smaller.
    tol = np.sqrt(2) * np.sqrt(2.0 / width) / 2
    np.testing.assert_allclose(report.predicted_std, report.activation_std, rtol=tol)
    inference = signal_report(model, batch((256, width))).predicted_std
    assert report.predicted_std[1] > inference[1] * (1 + 3 * tol)  # the noise is counted


def test_markdown_and_plot_show_the_prediction(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(16, activation="tanh", name="a"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.Dense(4, name="b"),
        ]
    )
    report = signal_report(model, batch((32, 16)))
    md = report.to_markdown()
    assert "predicted std" in md.splitlines()[0]
    row_a, row_bn = md.splitlines()[2], md.splitlines()[3]
    assert f"| {report.predicted_std[0]:.4g} |" in row_a
    assert report.predicted_std[1:] == [None, None] and "| - (a) |" in row_bn
    assert "BatchNormalization" in report.prediction_note[1]
    # "b" has a rule, but its input has no prediction: its note names the cause upstream.
    assert "| - (b) |" in md.splitlines()[4]
    legend = [line for line in md.splitlines() if line.startswith("- (")]
    assert len(legend) == 2 and legend[0].startswith("- (a) BatchNormalization")
    assert legend[1].startswith("- (b) no prediction for its input (upstream: BatchNorm")
    pytest.importorskip("matplotlib")
    path = tmp_path / "signal.png"
    report.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_markdown_says_why_rows_after_a_residual_sum_have_no_prediction():
    # The README's residual snippet, shortened: after the first sum x + f(x) no row
    # can be predicted, and each says so by a note naming the sum.
    inputs = keras.Input((8, 8, 4))
    x = inputs
    for _ in range(3):
        h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
        x = x + keras.layers.Conv2D(4, 3, padding="same")(h)
    report = signal_report(keras.Model(inputs, x), batch((8, 8, 8, 4)))
    assert [p is None for p in report.predicted_std] == [False, False] + [True] * 4
    for note in report.prediction_note[2:]:
        assert "upstream: merges 2 inputs (a residual sum or concatenation)" in note
    md = report.to_markdown().splitlines()
    rows = [line.split(" | ")[4] for line in md if line.startswith("| ") and line[2].isdigit()]
    assert rows[2:] == ["- (a)"] * 4 and "(" not in rows[0] + rows[1]
    legend = [line for line in md if line.startswith("- (")]
    assert legend == [f"- (a) {report.prediction_note[2]}."]


def test_markdown_notes_are_lettered_past_z():
    from keras_glorot.whole_model.signal_report import _note_key

    keys = [_note_key(i) for i in range(26 * 27 + 1)]
    assert keys[:3] == ["a", "b", "c"] and keys[25:28] == ["z", "aa", "ab"]
    assert keys[-1] == "aaa" and len(set(keys)) == len(keys)


# ---------------------------------------------------------------------------
# The Jacobian spectrum (Pennington et al. 2017), against numpy's SVD.


def linear_net(widths, initializer=None):
    layers = [keras.Input((widths[0],))]
    for i, width in enumerate(widths[1:]):
        init = (
            initializer(i)
            if initializer
            else keras.initializers.RandomNormal(stddev=1 / np.sqrt(widths[i]), seed=i)
        )
        layers.append(keras.layers.Dense(width, use_bias=False, kernel_initializer=init))
    return keras.Sequential(layers)


def kernels(model):
    return [to_numpy(layer.kernel).astype(np.float64) for layer in model.layers]


def check_against(spectrum, lam, probes):
    """The estimate within 4 of its exact standard errors of the exact moments of ``lam``."""
    n = spectrum.dimension
    # Var[||J v||^2 / ||v||^2] = 2 Var(lambda) / (n + 2) for v uniform on the sphere.
    se = np.sqrt(2 * lam.var() / ((n + 2) * probes))
    assert abs(spectrum.mean_squared_singular_value - lam.mean()) <= 4 * se
    assert spectrum.std_error == pytest.approx(se, rel=0.5)
    # The spread from the ratios' sample std: its relative error ~ 1/sqrt(2 (P - 1)).
    spread = lam.std() / lam.mean()
    assert abs(spectrum.spread / spread - 1) <= 4 / np.sqrt(2 * (probes - 1))


@pytest.mark.parametrize("widths, side", [([32, 48, 40], "input"), ([32, 48, 16], "output")])
def test_linear_net_spectrum_matches_svd_of_the_kernel_product(widths, side):
    model = linear_net(widths)
    x = batch((8, widths[0]), seed=1)
    probes = 64
    spectrum = jacobian_spectrum(model, x, probes=probes, seed=0)
    # y = x W1 W2: each example's Jacobian is the product; on the smaller side
    # (auto) its squared singular values are all there is, the batch repeats them.
    lam = np.linalg.svd(np.linalg.multi_dot(kernels(model)), compute_uv=False) ** 2
    assert spectrum.side == side and spectrum.probes == probes
    assert spectrum.dimension == 8 * min(widths[0], widths[-1])
    check_against(spectrum, lam, probes)


def test_tanh_net_spectrum_matches_svd_of_each_examples_jacobian():
    model = keras.Sequential(
        [
            keras.Input((24,)),
            keras.layers.Dense(40, activation="tanh", kernel_initializer="glorot_normal"),
            keras.layers.Dense(24, kernel_initializer="glorot_normal"),
        ]
    )
    x = batch((6, 24), seed=2)
    w1, w2 = kernels(model)
    b1 = to_numpy(model.layers[0].bias).astype(np.float64)
    h = np.tanh(x.astype(np.float64) @ w1 + b1)
    lam = np.concatenate(
        [np.linalg.svd((w1 * (1 - hi**2)) @ w2, compute_uv=False) ** 2 for hi in h]
    )
    spectrum = jacobian_spectrum(model, x, probes=64, side="input")
    check_against(spectrum, lam, 64)


def test_backend_jvp_is_the_jacobian_times_the_tangent():
    from keras_glorot import backend

    layer = keras.layers.Dense(5, activation="tanh", kernel_initializer="glorot_normal")
    x = batch((3, 4), seed=3)
    layer.build((None, 4))
    v = batch((3, 4), seed=4)
    y, jv = backend.jvp(layer, keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(v))
    w = to_numpy(layer.kernel).astype(np.float64)
    h = np.tanh(x.astype(np.float64) @ w + to_numpy(layer.bias))
    # Row i: d tanh(x_i W + b) along v_i is (1 - h_i**2) * (v_i W).
    np.testing.assert_allclose(to_numpy(y), h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_numpy(jv), (1 - h**2) * (v @ w), rtol=1e-4, atol=1e-6)


def test_jacobian_spectrum_does_not_make_torch_warn_about_torch_jit():
    # Forward mode on torch imports torch's own JVP decompositions, which warned about
    # the deprecated torch.jit.script; the first call in a process is the one that would.
    # Every warning is recorded, none filtered: none may be about torch.jit, and none
    # may come from this package's own files.
    code = (
        "import json, warnings, keras, numpy as np, keras_glorot\n"
        "m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, activation='tanh')])\n"
        "x = np.ones((2, 4), 'float32')\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    keras_glorot.jacobian_spectrum(m, x, probes=2)\n"
        "print(json.dumps([[w.filename, str(w.message)] for w in caught]))\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr[-2000:]
    caught = json.loads(done.stdout.strip().splitlines()[-1])
    assert not [w for w in caught if "torch.jit" in w[1] or "keras_glorot" in w[0]], caught


def test_orthogonal_tanh_net_near_isometry_with_probes_apart_from_the_data():
    # x from default_rng(0), probes with seed=0: were the probes drawn from the same
    # stream, the first would be x's own direction, along which a tanh net's
    # Jacobian is far from its average (the spread came out 18x too large).
    model = linear_net([32] * 7, lambda i: keras.initializers.Orthogonal(seed=i))
    for layer in model.layers:
        layer.activation = keras.activations.tanh
    x = 0.1 * batch((8, 32), seed=0)
    lam, h = [], x.astype(np.float64)
    ws = kernels(model)
    for xi in h:
        jac, hi = np.eye(32), xi
        for w in ws:
            hi = np.tanh(hi @ w)
            jac = jac @ (w * (1 - hi**2))
        lam.append(np.linalg.svd(jac, compute_uv=False) ** 2)
    lam = np.concatenate(lam)
    spectrum = jacobian_spectrum(model, x, probes=64, seed=0)
    check_against(spectrum, lam, 64)
    assert spectrum.spread < 0.2  # near isometry: small q, tanh' ~ 1, orthogonal W


def test_both_sides_estimate_the_same_trace():
    # trace(J^T J) = n_in * mean over the input side = n_out * mean over the output side.
    model = keras.Sequential(
        [
            keras.Input((24,)),
            keras.layers.Dense(40, activation="tanh"),
            keras.layers.Dense(12),
        ]
    )
    x = batch((6, 24), seed=3)
    a = jacobian_spectrum(model, x, probes=64, side="input", seed=1)
    b = jacobian_spectrum(model, x, probes=64, side="output", seed=2)
    assert (a.dimension, b.dimension) == (6 * 24, 6 * 12)
    traces = [s.mean_squared_singular_value * s.dimension for s in (a, b)]
    se = np.hypot(a.std_error * a.dimension, b.std_error * b.dimension)
    assert abs(traces[0] - traces[1]) <= 4 * se
    # Half the input side's squared singular values are structural zeros (24 > 12).
    assert a.spread > 0.9


def test_orthogonal_linear_net_is_an_isometry():
    model = linear_net([32] * 5, lambda i: keras.initializers.Orthogonal(seed=i))
    spectrum = jacobian_spectrum(model, batch((8, 32)), probes=8)
    # Every singular value is 1: each probe's ratio is 1 up to float32 rounding.
    np.testing.assert_allclose(spectrum.ratios, 1.0, rtol=1e-5)
    assert spectrum.spread < 1e-4
    # While a Gaussian net of the same shape is far from one.
    assert jacobian_spectrum(linear_net([32] * 5), batch((8, 32)), probes=8).spread > 0.5


def test_jacobian_spectrum_in_training_mode_changes_nothing():
    model = bn_model()
    x = batch((16, 6, 6, 3))
    before = state(model)
    spectrum = jacobian_spectrum(model, x, probes=4, training=True)
    assert spectrum.side == "output" and spectrum.dimension == 16 * 3
    for old, new in zip(before, state(model), strict=True):
        np.testing.assert_array_equal(new, old)


def test_jacobian_spectrum_bad_arguments():
    model = linear_net([4, 4])
    with pytest.raises(ValueError, match="probes"):
        jacobian_spectrum(model, batch((2, 4)), probes=1)
    with pytest.raises(ValueError, match="side"):
        jacobian_spectrum(model, batch((2, 4)), side="both")
    with pytest.raises(TypeError, match="one batch array"):
        jacobian_spectrum(model, [batch((2, 4))])
