"""Orthogonal Glorot draws and DeltaOrthogonal: orthogonality, exact per-entry variance,
the Haar law, signal through deep conv stacks, dtypes, seeds, saving and bad input.

Orthogonality and the mean square are deterministic given the QR, so they are checked
to float rounding; the Haar law is checked by exact finite-n laws over a fixed set of
seeds (KS p-value and z bounds, each failing a correct sampler with probability < 1e-3).
"""

import json
import math
import textwrap
import warnings

import keras
import ml_dtypes
import numpy as np
import pytest
from scipy import stats

import keras_glorot
from keras_glorot import DeltaOrthogonal, Glorot, calculate_gain, compute_fans
from tests.conftest import run_python, to_numpy

EPS32 = float(np.finfo(np.float32).eps)
# QR in float32: |Q^T Q - I| is a few eps times sqrt(n) in practice (measured <= 4e-7
# for n <= 96 on every backend); 1e-5 is the bound TensorFlow's own Orthogonal test uses.
ORTHO_TOL = {"float32": 1e-5, "float64": 1e-12}
Z_MAX = 4.0


def as_matrix(w: np.ndarray) -> np.ndarray:
    """The kernel as Keras' Orthogonal reads it: (prod(shape[:-1]), shape[-1])."""
    return np.asarray(w, np.float64).reshape(-1, w.shape[-1])


def gram(m: np.ndarray) -> np.ndarray:
    """M^T M for orthonormal columns (rows >= cols), else M M^T."""
    return m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reuse warning; JAX's float64 warning
        return fn(*args, **kwargs)


# --- Glorot(distribution="orthogonal")

SHAPES = [(96, 48), (48, 96), (3, 3, 8, 24), (2, 8, 24)]  # tall, wide, conv tall, conv wide


@pytest.mark.parametrize("shape", SHAPES)
def test_orthogonal_gram_is_scaled_identity(shape):
    init = Glorot("tanh", distribution="orthogonal", seed=1)
    m = as_matrix(to_numpy(init(shape)))
    rows, cols = m.shape
    scale2 = init.stddev(shape) ** 2 * max(rows, cols)  # Var * max(rows, cols)
    g = gram(m) / scale2
    np.testing.assert_allclose(g, np.eye(min(rows, cols)), atol=ORTHO_TOL["float32"])


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("activation", ["linear", "tanh", "leaky_relu", "gelu"])
def test_orthogonal_mean_square_is_glorot_variance(activation, mode):
    # Exact, not statistical: orthonormal columns hold cols in squares over rows * cols
    # entries, so after the scale sqrt(Var * rows) the mean square is Var to rounding.
    shape = (3, 3, 8, 24)
    w = to_numpy(Glorot(activation, mode=mode, distribution="orthogonal", seed=2)(shape))
    fan_in, fan_out = compute_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    variance = calculate_gain(activation) ** 2 / n
    assert np.mean(np.square(w, dtype=np.float64)) == pytest.approx(variance, rel=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
def test_orthogonal_is_keras_orthogonal_rescaled(shape):
    # Same seed, same draw order: the flattening and the sign fix are Keras' Orthogonal's.
    init = Glorot("relu", distribution="orthogonal", seed=3)
    gain = init.stddev(shape) * math.sqrt(max(math.prod(shape[:-1]), shape[-1]))
    theirs = keras.initializers.Orthogonal(gain=gain, seed=3)(shape)
    np.testing.assert_allclose(to_numpy(init(shape)), to_numpy(theirs), rtol=1e-6, atol=1e-7)


def test_orthogonal_respects_explicit_fans():
    init = Glorot("relu", mode="fan_in", distribution="orthogonal", fan_in=100, seed=4)
    w = to_numpy(init((32, 64)))
    assert np.mean(np.square(w, dtype=np.float64)) == pytest.approx(2.0 / 100, rel=1e-6)


N_HAAR, SEEDS = 32, range(300)


@pytest.fixture(scope="module")
def haar_draws() -> np.ndarray:
    # Glorot(linear, fan_in) on a square kernel: scale sqrt(1/n * n) = 1, Q itself.
    init = [Glorot(mode="fan_in", distribution="orthogonal", seed=s) for s in SEEDS]
    return np.stack([to_numpy(i((N_HAAR, N_HAAR))).astype(np.float64) for i in init])


def test_haar_entry_follows_the_sphere_law(haar_draws):
    # A column of a Haar matrix is uniform on the sphere S^(n-1): Q_ij^2 ~ Beta(1/2,
    # (n-1)/2), sign +-1 with probability 1/2, so sqrt(n) Q_ij -> N(0, 1). Without the
    # sign fix, LAPACK's Householder QR gives Q_11 = -|A_11| / ||A_1|| < 0 always.
    beta = stats.beta(0.5, (N_HAAR - 1) / 2)

    def cdf(x):
        return 0.5 + 0.5 * np.sign(x) * beta.cdf(np.square(x))

    for i, j in [(0, 0), (N_HAAR - 1, N_HAAR - 1), (3, 17)]:
        result = stats.kstest(haar_draws[:, i, j], cdf)
        assert result.pvalue > 1e-3, (i, j, result)


def test_haar_trace_is_standard_normal(haar_draws):
    # For Haar O(n), E[tr(Q)^k] = E[Z^k] for k <= n (Diaconis & Shahshahani 1994): at
    # n = 32 tr(Q) is N(0, 1) to far below what 300 draws resolve. Without the sign fix
    # (measured on all three backends): Q_11 < 0 in 300 of 300 draws, mean trace -3.3.
    traces = np.trace(haar_draws, axis1=1, axis2=2)
    assert abs(traces.mean()) < Z_MAX / math.sqrt(len(traces)), traces.mean()
    assert stats.kstest(traces, stats.norm.cdf).pvalue > 1e-3


# --- DeltaOrthogonal

DELTA_SHAPES = [(3, 16, 32), (3, 3, 16, 16), (4, 4, 8, 16), (3, 3, 3, 4, 8), (2, 8, 8)]


@pytest.mark.parametrize("shape", DELTA_SHAPES)
def test_delta_orthogonal_is_zero_but_an_orthogonal_centre(shape):
    init = DeltaOrthogonal("tanh", seed=5)
    w = to_numpy(init(shape)).astype(np.float64)
    centre = tuple((k - 1) // 2 for k in shape[:-2])
    assert DeltaOrthogonal.centre(shape) == centre
    h = w[centre]
    np.testing.assert_allclose(h @ h.T / init.gain**2, np.eye(shape[-2]), atol=1e-5)
    w[centre] = 0.0
    assert not w.any()


def test_delta_orthogonal_gain_is_the_activation_gain():
    assert DeltaOrthogonal().gain == 1.0
    assert DeltaOrthogonal("relu").gain == pytest.approx(math.sqrt(2.0))
    slope = DeltaOrthogonal("leaky_relu", negative_slope=0.1).gain
    assert slope == pytest.approx(math.sqrt(2.0 / 1.01))
    assert DeltaOrthogonal("tanh", convention="pytorch").gain == pytest.approx(5.0 / 3.0)


def _pixel_norms(x) -> np.ndarray:
    return np.linalg.norm(to_numpy(x).astype(np.float64), axis=-1)


def _conv(filters, size, kernel_initializer, activation=None):
    return keras.layers.Conv2D(
        filters,
        size,
        padding="same",
        use_bias=False,
        activation=activation,
        kernel_initializer=kernel_initializer,
    )


# (kernel size, filters): odd and even sizes, growing and constant channel counts.
LINEAR_STACK = [(3, 8), (4, 16), (5, 16), (2, 24)] + [(3, 24), (4, 24), (5, 24), (2, 24)] * 4


def test_deep_linear_delta_stack_is_an_exact_isometry():
    # padding="same", stride 1: each pixel is mapped by its centre matrix H (orthonormal
    # rows), so every pixel's norm is kept through all 20 layers, to float32 rounding.
    assert len(LINEAR_STACK) == 20
    x = np.random.default_rng(0).standard_normal((2, 9, 9, 8)).astype("float32")
    y = x
    for i, (size, filters) in enumerate(LINEAR_STACK):
        y = _conv(filters, size, DeltaOrthogonal(seed=i))(y)
    np.testing.assert_allclose(_pixel_norms(y), _pixel_norms(x), rtol=20 * 10 * EPS32)


def test_even_kernel_centre_is_the_tap_same_padding_aligns():
    # With the tap k // 2 instead of (k - 1) // 2, a 4x4 kernel shifts the map by one
    # pixel: the last row and column come from the zero padding and lose their norm.
    x = np.random.default_rng(1).standard_normal((1, 6, 6, 8)).astype("float32")
    w = to_numpy(DeltaOrthogonal(seed=2)((4, 4, 8, 8)))
    shifted = np.roll(w, (1, 1), axis=(0, 1))  # the centre moved from (1, 1) to (2, 2)
    ours = _conv(8, 4, keras.initializers.Constant(w))(x)
    np.testing.assert_allclose(_pixel_norms(ours), _pixel_norms(x), rtol=1e-5)
    other = _pixel_norms(_conv(8, 4, keras.initializers.Constant(shifted))(x))
    assert np.allclose(other[0, -1], 0.0) and np.allclose(other[0, :, -1], 0.0)


DEPTH, WIDTH = 32, 16


def _tanh_stack(activation: str) -> list[np.ndarray]:
    """Pre-activation second moments of a deep tanh conv stack, per layer."""
    z = np.random.default_rng(3).standard_normal((4, 8, 8, WIDTH)).astype("float32")
    x, moments = keras.ops.tanh(z), []  # the output of a layer with unit pre-activations
    for i in range(DEPTH):
        h = _conv(WIDTH, 3, DeltaOrthogonal(activation, seed=100 + i))(x)
        moments.append(float(np.mean(np.square(to_numpy(h), dtype=np.float64))))
        x = keras.ops.tanh(h)
    return moments


def test_deep_tanh_delta_stack_keeps_the_signal():
    # The moment gain 1.5925 makes q = 1 the fixed point of q -> g^2 E[tanh(sqrt(q) z)^2]
    # (stable: the map's slope there is 0.68), so all 32 layers stay near 1; the
    # tolerance covers 4 * 64 pixels x 16 channels of finite-width fluctuation.
    moments = _tanh_stack("tanh")
    assert all(0.75 < q < 1.33 for q in moments), moments
    # Gain 1: q_l ~ 1 / (2 l) (tanh(x) ~ x - x^3 / 3): the signal shrinks slowly.
    moments = _tanh_stack("linear")
    assert 0.005 < moments[-1] < 0.05, moments[-1]


def _pixel_jacobian_singular_values(activation: str, input_std: float) -> np.ndarray:
    """Singular values of one pixel's input-output Jacobian through a deep tanh stack.

    A delta-orthogonal conv with padding="same" maps each pixel x to x (g H), so the
    stack's Jacobian per pixel is prod_l (g H_l) diag(tanh'(h_l)).
    """
    init = [DeltaOrthogonal(activation, seed=7 + i) for i in range(DEPTH)]
    mats = [to_numpy(k((3, 3, WIDTH, WIDTH)))[1, 1].astype(np.float64) for k in init]
    x = input_std * np.random.default_rng(7).standard_normal(WIDTH)
    jac = np.eye(WIDTH)
    for m in mats:
        h = x @ m
        jac = jac @ m * (1.0 - np.tanh(h) ** 2)  # right-multiplying by diag(tanh'(h))
        x = np.tanh(h)
    return np.linalg.svd(jac, compute_uv=False)


def test_tanh_dynamical_isometry_at_gain_one_not_at_the_moment_gain():
    # Gain 1 (sigma_w = 1, sigma_b = 0; Pennington et al. 2017, Xiao et al. 2018): every
    # factor H diag(1 - tanh^2) has singular values <= 1, and all approach 1 as q -> 0.
    # Input std 0.03 (q_0 ~ 1e-3): sum_l 2 q_l ~ 0.06, so all 16 stay near 1
    # (measured: [0.97, 0.99] on every backend); from q_0 = 1 they spread to [0.005, 0.44].
    s = _pixel_jacobian_singular_values("linear", input_std=0.03)
    assert 0.85 < s.min() and s.max() <= 1.0 + 1e-9, s
    # Moment gain 1.59: chi = g^2 E[sech^4(z)] = 1.178 > 1 at q* = 1, the Jacobian grows
    # (1.178^32 = 190 on average) and, at width 16, is nearly singular in some directions
    # (measured: largest 10 to 132 across backends, smallest < 1e-15).
    s = _pixel_jacobian_singular_values("tanh", input_std=1.0)
    assert s.max() > 2.0 and s.max() / s.min() > 1e3, s


# --- dtypes and seeds, both initializers

FACTORIES = {
    "glorot": (lambda seed: Glorot("tanh", distribution="orthogonal", seed=seed), (12, 24)),
    "delta": (lambda seed: DeltaOrthogonal("tanh", seed=seed), (3, 3, 8, 16)),
}


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_low_precision_is_the_float32_draw_rounded(kind, dtype):
    make, shape = FACTORIES[kind]
    low = make(9)(shape, dtype=dtype)
    assert keras.backend.standardize_dtype(low.dtype) == dtype
    low = to_numpy(keras.ops.cast(low, "float32"))
    numpy_dtype = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}[dtype]
    expected = to_numpy(make(9)(shape, dtype="float32")).astype(numpy_dtype).astype(np.float32)
    np.testing.assert_array_equal(low, expected)


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_float64(kind):
    make, shape = FACTORIES[kind]
    ours = quiet(make(9), shape, dtype="float64")
    # JAX without x64 gives float32 for float64, as Keras' own initializers do.
    theirs = quiet(keras.initializers.Orthogonal(seed=1), shape, dtype="float64")
    dtype = keras.backend.standardize_dtype(ours.dtype)
    assert dtype == keras.backend.standardize_dtype(theirs.dtype)
    w = to_numpy(ours).astype(np.float64)
    m = as_matrix(w) if kind == "glorot" else w[1, 1] / DeltaOrthogonal("tanh").gain
    scale2 = np.mean(np.diag(gram(m)))
    np.testing.assert_allclose(gram(m) / scale2, np.eye(min(m.shape)), atol=ORTHO_TOL[dtype])


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_seeds(kind):
    make, shape = FACTORIES[kind]
    for seed in (11, None):  # an int or None: the same values at every call
        init = make(seed)
        first = to_numpy(init(shape))
        with pytest.warns(UserWarning, match="called a second time"):
            np.testing.assert_array_equal(to_numpy(init(shape)), first)
    generator = make(keras.random.SeedGenerator(11))
    a, b = to_numpy(generator(shape)), to_numpy(generator(shape))
    assert not np.allclose(a, b)
    assert not np.allclose(to_numpy(make(1)(shape)), to_numpy(make(2)(shape)))
    np.testing.assert_array_equal(to_numpy(make(1)(shape)), to_numpy(make(1)(shape)))


# --- serialization

CONFIGS = [
    (Glorot, dict(activation="relu", mode="fan_in", distribution="orthogonal", seed=5)),
    (DeltaOrthogonal, dict(activation="leaky_relu", negative_slope=0.1, seed=6)),
    (DeltaOrthogonal, dict(activation="tanh", convention="pytorch", seed=7)),
]


@pytest.mark.parametrize("cls, kwargs", CONFIGS)
def test_config_mirrors_init_and_roundtrips_through_json(cls, kwargs):
    init = cls(**kwargs)
    config = init.get_config()
    assert {k: config[k] for k in kwargs} == kwargs
    assert set(config) == set(cls.from_config(config).get_config())
    payload = json.loads(json.dumps(keras.initializers.serialize(init)))
    assert payload["registered_name"] == f"keras_glorot>{cls.__name__}"
    restored = keras.initializers.deserialize(payload)
    assert type(restored) is cls and restored.get_config() == config
    shape = (3, 3, 4, 8)
    np.testing.assert_array_equal(to_numpy(init(shape)), to_numpy(restored(shape)))


def test_delta_orthogonal_string_name_is_new_and_resolves():
    assert "delta_orthogonal" not in dir(keras.initializers)  # shadows no Keras name
    assert keras_glorot.ALIASES["delta_orthogonal"] is DeltaOrthogonal
    layer = keras.layers.Conv2D(8, 3, kernel_initializer="delta_orthogonal")
    assert type(layer.kernel_initializer) is DeltaOrthogonal
    assert DeltaOrthogonal in keras_glorot.custom_objects().values()


LOADER = textwrap.dedent(
    """
    import json, sys, numpy as np, keras
    import keras_glorot
    model = keras.saving.load_model(sys.argv[1])
    configs = {l.name: keras.initializers.serialize(l.kernel_initializer)
               for l in model.layers if hasattr(l, "kernel_initializer")}
    weights = [np.asarray(keras.ops.convert_to_numpy(w)).tolist() for w in model.weights]
    print(json.dumps({"configs": configs, "weights": weights}))
    """
)


def test_saved_model_reloads_identically_in_fresh_process(tmp_path):
    inputs = keras.Input((6, 6, 3))
    x = _conv(8, 3, DeltaOrthogonal("tanh", seed=1), activation="tanh")(inputs)
    x = _conv(8, 4, "delta_orthogonal")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(5, kernel_initializer=Glorot("relu", distribution="orthogonal"))(x)
    model = keras.Model(inputs, outputs)
    path = tmp_path / "orthogonal.keras"
    model.save(path)
    result = run_python(LOADER, path)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    configs = {
        layer.name: keras.initializers.serialize(layer.kernel_initializer)
        for layer in model.layers
        if hasattr(layer, "kernel_initializer")
    }
    assert loaded["configs"] == json.loads(json.dumps(configs))
    assert [c["class_name"] for c in loaded["configs"].values()] == [
        "DeltaOrthogonal",
        "DeltaOrthogonal",
        "Glorot",
    ]
    for ours, theirs in zip(model.weights, loaded["weights"], strict=True):
        np.testing.assert_array_equal(to_numpy(ours), np.asarray(theirs, dtype=np.float32))


# --- bad input


@pytest.mark.parametrize(
    "make, error, message",
    [
        (
            lambda: DeltaOrthogonal()((3, 3, 32, 16)),
            ValueError,
            r"in_channels=32 > out_channels=16",
        ),
        (
            lambda: DeltaOrthogonal()((16, 32)),
            ValueError,
            r"shape=\(16, 32\) of rank 2.*Allowed: rank >= 3",
        ),
        (lambda: DeltaOrthogonal(negative_slope=-0.2), ValueError, r"negative_slope=-0.2"),
        (lambda: DeltaOrthogonal("nope"), ValueError, r"activation='nope'.*Allowed"),
        (lambda: DeltaOrthogonal("softmax"), ValueError, r"softmax"),
        (lambda: DeltaOrthogonal(convention="keras"), ValueError, r"convention='keras'.*Allowed"),
        (lambda: DeltaOrthogonal(seed="0"), TypeError, r"seed='0'"),
        (lambda: DeltaOrthogonal()((3, 3, 4, 8), "int32"), ValueError, r"dtype='int32'.*Allowed"),
        (lambda: Glorot(distribution="orthogonals"), ValueError, r"distribution='orthogonals'"),
        (lambda: Glorot(distribution="orthogonal")((8,)), ValueError, r"shape=\(8,\) of rank 1"),
    ],
)
def test_bad_input_names_parameter_value_and_what_is_allowed(make, error, message):
    with pytest.raises(error, match=message) as info:
        make()
    text = str(info.value)
    if "in_channels=" in text:
        assert "shape=(3, 3, 32, 16)" in text and "Allowed: shape[-2] <= shape[-1]" in text
    if "orthogonals" in text:
        assert "'orthogonal'" in text  # the allowed list names the new distribution
