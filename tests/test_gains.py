"""Gains against independent references: closed forms, SciPy's adaptive quadrature
on NumPy re-implementations of each activation, and PyTorch's published table."""

import functools
import math
import re

import keras
import numpy as np
import pytest
from scipy import integrate, special

from keras_glorot import calculate_gain, gains
from keras_glorot.gains import second_moment

SQRT2 = math.sqrt(2.0)
SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _softplus(x):
    return np.logaddexp(0.0, x)


# Written from each activation's published definition, not from Keras' code.
REFERENCE = {
    "tanh": (np.tanh, []),
    "sigmoid": (special.expit, []),
    "gelu": (lambda x: 0.5 * x * (1.0 + special.erf(x / SQRT2)), []),
    "silu": (lambda x: x * special.expit(x), []),
    "elu": (lambda x: np.where(x > 0, x, np.expm1(x)), [0.0]),
    "celu": (lambda x: np.maximum(x, 0) + np.minimum(0, np.expm1(x)), [0.0]),
    "selu": (lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)), [0.0]),
    "softplus": (_softplus, []),
    "softsign": (lambda x: x / (1.0 + np.abs(x)), [0.0]),
    "mish": (lambda x: x * np.tanh(_softplus(x)), []),
    "relu6": (lambda x: np.clip(x, 0.0, 6.0), [0.0, 6.0]),
    "hard_sigmoid": (lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0), [-3.0, 3.0]),
    "hard_silu": (lambda x: x * np.clip(x / 6.0 + 0.5, 0.0, 1.0), [-3.0, 3.0]),
    "hard_tanh": (lambda x: np.clip(x, -1.0, 1.0), [-1.0, 1.0]),
    "exponential": (np.exp, []),
    "log_sigmoid": (lambda x: -_softplus(-x), []),
    "tanh_shrink": (lambda x: x - np.tanh(x), []),
    "hard_shrink": (lambda x: x * (abs(x) > 0.5), [-0.5, 0.5]),
    "soft_shrink": (lambda x: np.sign(x) * max(abs(x) - 0.5, 0.0), [-0.5, 0.5]),
    "sparse_plus": (lambda x: 0.0 if x <= -1 else (x + 1) ** 2 / 4 if x < 1 else x, [-1.0, 1.0]),
    "sparse_sigmoid": (lambda x: min(max((x + 1) / 2, 0.0), 1.0), [-1.0, 1.0]),
    "squareplus": (lambda x: (x + math.sqrt(x * x + 4)) / 2, []),
}


def reference_gain(fn, kinks) -> float:
    """1/sqrt(E[f(z)^2]) by QUADPACK (adaptive Gauss-Kronrod), split at the kinks."""
    # |z| <= 40 holds all but e^-800 of the Gaussian weight, and keeps exp(2z) finite.
    points = [-40.0, *kinks, 40.0]
    total = 0.0
    for a, b in zip(points[:-1], points[1:], strict=True):
        value, _ = integrate.quad(
            lambda z: fn(z) ** 2 * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi),
            a,
            b,
            epsabs=0.0,
            epsrel=1e-12,
            limit=200,
        )
        total += value
    return 1.0 / math.sqrt(total)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_moment_gain_matches_independent_quadrature(name):
    fn, kinks = REFERENCE[name]
    expected = reference_gain(fn, kinks)
    # NumPy float64 on every backend: JAX without x64 no longer loses digits 7 to 9.
    assert calculate_gain(name) == pytest.approx(expected, rel=1e-10)


def test_every_named_gain_is_computed_without_the_backend(monkeypatch):
    # The gain of a built-in activation is a NumPy float64 number, the same to the last
    # bit on every backend: with the backend's tensors unavailable it is still computed,
    # and is the number computed with them before.
    before = {name: calculate_gain(name) for name in gains._names_with_gain()}
    second_moment.cache_clear()

    def no_backend(*args, **kwargs):
        raise AssertionError("a built-in activation's gain touched the backend")

    monkeypatch.setattr(gains, "_apply", no_backend)
    monkeypatch.setattr(keras.ops, "convert_to_tensor", no_backend)
    after = {name: calculate_gain(name) for name in gains._names_with_gain()}
    second_moment.cache_clear()
    assert after == before
    assert set(REFERENCE) | {"linear", "relu", "leaky_relu"} == set(before)


@pytest.mark.parametrize("name", sorted(gains._NUMPY_ACTIVATIONS))
def test_numpy_activation_is_keras_activation(name):
    # Knots and points either side of each: a wrong threshold or slope shows.
    z = np.concatenate([np.linspace(-7.0, 7.0, 141), [-3.01, -2.99, -1.01, -0.99, -0.51,
                        -0.49, 0.49, 0.51, 0.99, 1.01, 2.99, 3.01, 5.99, 6.01]])  # fmt: skip
    keras_fn = keras.activations.get(name)
    expected = keras.ops.convert_to_numpy(keras_fn(keras.ops.convert_to_tensor(z, "float32")))
    np.testing.assert_allclose(gains._NUMPY_ACTIVATIONS[name](z), expected, rtol=1e-5, atol=1e-6)


def test_moment_gain_of_swish_alias_equals_silu():
    assert calculate_gain("swish") == calculate_gain("silu")


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.2, 0.3, 1.0])
def test_leaky_relu_gain_closed_form(slope):
    # He et al. 2015, eq. 15: E[f(z)^2] = (1 + a^2) / 2.
    assert calculate_gain("leaky_relu", negative_slope=slope) == pytest.approx(
        math.sqrt(2.0 / (1.0 + slope**2)), rel=1e-12
    )


def test_closed_forms_relu_linear_selu():
    assert calculate_gain("relu") == pytest.approx(SQRT2, rel=1e-12)
    assert calculate_gain("linear") == 1.0
    assert calculate_gain(None) == 1.0
    # SELU's constants make unit variance, zero mean a fixed point: E[selu(z)^2] = 1.
    assert calculate_gain("selu") == pytest.approx(1.0, abs=1e-6)


def test_quadrature_matches_closed_form_through_a_callable():
    # A callable hides the name, so the quadrature (not the closed form) runs.
    leaky = functools.partial(keras.activations.leaky_relu, negative_slope=0.1)
    assert calculate_gain(leaky) == pytest.approx(math.sqrt(2.0 / 1.01), rel=1e-6)
    assert calculate_gain(lambda x: 3.0 * x) == pytest.approx(1.0 / 3.0, rel=1e-6)


def test_kink_off_the_panel_grid_is_still_accurate():
    # A hinge at 0.1 does not fall on a panel edge; reference: E[max(z-c,0)^2].
    c = 0.1
    exact = (1 + c * c) * special.ndtr(-c) - c * math.exp(-c * c / 2) / math.sqrt(2 * math.pi)
    got = second_moment(lambda x: keras.ops.relu(x - c))
    assert got == pytest.approx(exact, rel=1e-4)


PYTORCH_TABLE = {
    "linear": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": SQRT2,
    "selu": 0.75,
}


@pytest.mark.parametrize("name", sorted(PYTORCH_TABLE))
def test_pytorch_convention_reproduces_torch_table(name):
    assert calculate_gain(name, convention="pytorch") == PYTORCH_TABLE[name]


@pytest.mark.parametrize("slope", [0.01, 0.2])
def test_pytorch_convention_leaky(slope):
    expected = math.sqrt(2.0 / (1 + slope**2))
    assert calculate_gain("leaky_relu", negative_slope=slope, convention="pytorch") == (
        pytest.approx(expected, rel=1e-15)
    )


def test_pytorch_convention_falls_back_to_moment_gain():
    assert calculate_gain("gelu", convention="pytorch") == calculate_gain("gelu")


def test_pytorch_table_agrees_with_torch_when_installed():
    torch = pytest.importorskip("torch")
    for name in ("linear", "sigmoid", "tanh", "relu", "selu"):
        assert calculate_gain(name, convention="pytorch") == pytest.approx(
            torch.nn.init.calculate_gain(name), rel=1e-12
        )
    assert calculate_gain("leaky_relu", negative_slope=0.2, convention="pytorch") == (
        pytest.approx(torch.nn.init.calculate_gain("leaky_relu", 0.2), rel=1e-12)
    )


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "sparsemax", "glu"])
def test_non_elementwise_activation_rejected(name):
    with pytest.raises(ValueError, match=f"activation='{name}'.*not elementwise"):
        calculate_gain(name)


def test_non_elementwise_callable_rejected():
    with pytest.raises(ValueError, match="not elementwise"):
        calculate_gain(lambda x: keras.ops.softmax(x, axis=0))


def test_activation_needing_parameters_rejected():
    with pytest.raises(ValueError, match="threshold.*default_value.*functools.partial"):
        calculate_gain("threshold")
    bound = functools.partial(keras.activations.threshold, threshold=0.0, default_value=0.0)
    assert calculate_gain(bound) == pytest.approx(SQRT2, rel=1e-6)


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"activation": "nope"}, ValueError, r"activation='nope'.*Allowed"),
        ({"activation": 3}, TypeError, r"activation=3"),
        ({"activation": "relu", "convention": "tf"}, ValueError, r"convention='tf'.*moment"),
        ({"activation": "relu", "negative_slope": -0.1}, ValueError, r"negative_slope=-0.1"),
        ({"activation": "relu", "negative_slope": float("nan")}, ValueError, "negative_slope=nan"),
        ({"activation": "relu", "negative_slope": "0.2"}, TypeError, "negative_slope='0.2'"),
        ({"activation": "relu", "negative_slope": True}, TypeError, "negative_slope=True"),
    ],
)
def test_bad_input(kwargs, error, pattern):
    activation = kwargs.pop("activation")
    with pytest.raises(error, match=pattern):
        calculate_gain(activation, **kwargs)


def test_zero_activation_has_no_gain():
    with pytest.raises(ValueError, match="second moment"):
        calculate_gain(lambda x: 0.0 * x)


def _allowed_names_in_error() -> list[str]:
    with pytest.raises(ValueError) as error:
        calculate_gain("nonsense")
    match = re.search(r"or one of: ([a-z0-9_, ]+)\.", str(error.value))
    assert match, str(error.value)
    return match.group(1).split(", ")


def test_error_lists_only_names_that_have_a_gain():
    allowed = _allowed_names_in_error()
    assert {"linear", "relu", "leaky_relu", "tanh", "sigmoid", "gelu"} <= set(allowed)
    for name in allowed:
        gain = calculate_gain(name)
        assert math.isfinite(gain) and gain > 0, name


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "sparsemax", "glu", "threshold"])
def test_error_does_not_offer_names_it_rejects(name):
    assert name not in _allowed_names_in_error()
    with pytest.raises(ValueError):
        calculate_gain(name)


def test_error_says_why_the_rejected_names_are_not_allowed():
    with pytest.raises(ValueError, match="nonsense") as error:
        calculate_gain("nonsense")
    message = str(error.value)
    assert "not elementwise, which have no gain (softmax, log_softmax, sparsemax, glu)" in message
    assert "no default (threshold): pass them with the parameters bound" in message


def test_a_callable_that_reads_values_still_gets_its_gain():
    """On JAX a callable is evaluated jitted; one that reads its input's values (Python
    control flow) cannot be traced and is evaluated as it is, with the same gain."""

    def relu_after_a_check(x):
        if float(keras.ops.convert_to_numpy(keras.ops.max(x))) < -1e9:  # never true
            return x
        return keras.ops.relu(x)

    assert calculate_gain(relu_after_a_check) == pytest.approx(math.sqrt(2.0), rel=1e-6)
