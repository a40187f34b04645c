"""Gains: the factor by which an activation's weights must be scaled.

An initializer draws ``W`` with ``Var(W) = gain**2 / n``. The gain depends only on
the activation ``f`` that follows the layer; this module computes it.

The default, ``convention="moment"``, is He et al.'s (2015, eq. 7-10) derivation
generalised to any ``f``: for ``y_l = W_l f(y_{l-1})`` with zero-mean weights,

    Var(y_l) = n_in * Var(W_l) * E[f(y_{l-1})**2],

so unit pre-activation variance is a fixed point of the forward pass exactly when
``n_in * Var(W) = 1 / E[f(z)**2]`` with ``z ~ N(0, 1)``, i.e. ``gain = 1/sqrt(E[f(z)**2])``.
The second moment (not the variance) is what enters, so the gain is right for
activations with a non-zero mean (sigmoid, softplus, gelu) too.

Table (``convention="moment"``; values to 6 digits, ``a`` = negative_slope):

=============================  ==========================  ==========================
activation                     moment gain                 ``convention="pytorch"``
=============================  ==========================  ==========================
linear / None                  1                           1
relu                           sqrt(2) = 1.414214          sqrt(2)
leaky_relu                     sqrt(2 / (1 + a**2))        sqrt(2 / (1 + a**2))
selu                           1.000000 (Klambauer 2017)   3/4
tanh                           1.592537                    5/3
sigmoid                        1.846228                    1
gelu                           1.533530                    moment gain
silu / swish                   1.676532                    moment gain
elu / celu                     1.245198                    moment gain
softplus                       1.041867                    moment gain
softsign                       2.337533                    moment gain
mish                           1.486848                    moment gain
any other elementwise f        1/sqrt(E[f(z)**2])          moment gain
=============================  ==========================  ==========================

The closed forms (linear, relu, leaky_relu) are used as such; every other gain is
``E[f(z)**2]`` by deterministic composite Gauss-Legendre quadrature of
``f(z)**2 * phi(z)`` on [-16, 16] in panels of width 1/4, so that every kink and jump
of Keras' activations (0, +-0.5, +-1, +-3, 6) falls on a panel edge, which plain
Gauss-Hermite cannot do. Keras' built-in activations are evaluated in NumPy float64,
so every backend gets the same gain to the last bit; another callable runs on the
backend. The result is cached per activation.

``convention="pytorch"`` returns ``torch.nn.init.calculate_gain`` exactly for the
names PyTorch knows, and the moment gain for all other activations.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable

import keras
import numpy as np

ActivationLike = str | Callable | None

CONVENTIONS = ("moment", "pytorch")

# Activations whose output mixes elements (or changes the shape), for which no
# per-unit gain exists.
_NOT_ELEMENTWISE = ("softmax", "log_softmax", "sparsemax", "glu")

_PYTORCH_TABLE = {
    "linear": lambda a: 1.0,
    "sigmoid": lambda a: 1.0,
    "tanh": lambda a: 5.0 / 3.0,
    "relu": lambda a: math.sqrt(2.0),
    "leaky_relu": lambda a: math.sqrt(2.0 / (1.0 + a * a)),
    "selu": lambda a: 0.75,
}

_CLOSED_FORM_MOMENT = {
    "linear": lambda a: 1.0,
    "relu": lambda a: math.sqrt(2.0),
    # E[f(z)^2] = (1 + a^2) / 2 for f(z) = max(z, a z): He et al. 2015, eq. 15.
    "leaky_relu": lambda a: math.sqrt(2.0 / (1.0 + a * a)),
}


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softplus(z):
    return np.logaddexp(z, 0.0)


def _elu(z, alpha=1.0):
    return np.where(z >= 0.0, z, alpha * np.expm1(np.minimum(z, 0.0)))


def _hard_sigmoid(z):
    return np.clip(z / 6.0 + 0.5, 0.0, 1.0)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_ERF = np.vectorize(math.erf, otypes=[np.float64])

# Keras' built-in activations with their default parameters, in NumPy float64: the
# quadrature runs here, not on the backend, so that every backend gets the same gain to
# the last bit (the backends' tanh, erf and exp differ in the last digits, and JAX
# without x64 evaluates in float32). tests/test_gains.py checks each against Keras'.
_NUMPY_ACTIVATIONS = {
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "tanh_shrink": lambda z: z - np.tanh(z),
    "selu": lambda z: _SELU_SCALE * _elu(z, _SELU_ALPHA),
    "elu": _elu,
    "celu": _elu,  # alpha = 1: max(z, 0) + expm1(min(z, 0))
    "gelu": lambda z: 0.5 * z * (1.0 + _ERF(z / math.sqrt(2.0))),  # approximate=False
    "silu": lambda z: z * _sigmoid(z),
    "softplus": _softplus,
    "softsign": lambda z: z / (1.0 + np.abs(z)),
    "mish": lambda z: z * np.tanh(_softplus(z)),
    "exponential": np.exp,
    "log_sigmoid": lambda z: -_softplus(-z),
    "relu6": lambda z: np.clip(z, 0.0, 6.0),
    "hard_sigmoid": _hard_sigmoid,
    "hard_silu": lambda z: z * _hard_sigmoid(z),
    "hard_tanh": lambda z: np.clip(z, -1.0, 1.0),
    "hard_shrink": lambda z: np.where(np.abs(z) > 0.5, z, 0.0),
    "soft_shrink": lambda z: np.where(z > 0.5, z - 0.5, np.where(z < -0.5, z + 0.5, 0.0)),
    "sparse_plus": lambda z: np.where(z <= -1.0, 0.0, np.where(z < 1.0, (z + 1.0) ** 2 / 4, z)),
    "sparse_sigmoid": lambda z: np.clip(0.5 * (z + 1.0), 0.0, 1.0),
    "squareplus": lambda z: (z + np.sqrt(z * z + 4.0)) / 2.0,
}

_PANEL_WIDTH = 0.25
_HALF_RANGE = 16.0
_NODES_PER_PANEL = 16


def validate_negative_slope(negative_slope) -> float:
    """Returns ``negative_slope`` as a float, or raises naming what is allowed."""
    if isinstance(negative_slope, bool) or not isinstance(
        negative_slope, (int, float, np.integer, np.floating)
    ):
        raise TypeError(
            "negative_slope must be a real number >= 0 (e.g. 0.2, the default of "
            f"keras.activations.leaky_relu). Received: negative_slope={negative_slope!r} "
            f"of type {type(negative_slope).__name__}."
        )
    value = float(negative_slope)
    if not math.isfinite(value) or value < 0.0:
        raise ValueError(
            "negative_slope must be a finite number >= 0. "
            f"Received: negative_slope={negative_slope!r}."
        )
    return value


def activation_name(activation: ActivationLike) -> str | None:
    """The Keras name of ``activation`` if it is a built-in one, else None.

    Raises ValueError for a string that is not a Keras activation.
    """
    if activation is None:
        return "linear"
    if isinstance(activation, str):
        name = activation.lower()
        try:
            fn = keras.activations.get(name)
        except (ValueError, TypeError):
            raise ValueError(
                f"activation={activation!r} is not a Keras activation name. "
                "Allowed: None (linear), a callable applied elementwise, or one of: "
                f"{', '.join(_names_with_gain())}. Not allowed: Keras activations that "
                f"are not elementwise, which have no gain ({', '.join(_NOT_ELEMENTWISE)}), "
                "and as a string those with parameters that have no default "
                f"({', '.join(_names_needing_parameters())}): pass them with the "
                "parameters bound by functools.partial."
            ) from None
        return _builtin_activations().get(fn, name)
    if callable(activation):
        return _builtin_activations().get(activation)
    raise TypeError(
        "activation must be a Keras activation name, a callable or None. "
        f"Received: activation={activation!r} of type {type(activation).__name__}."
    )


@functools.cache
def _builtin_activations() -> dict:
    """Maps each public ``keras.activations`` function to its canonical name."""
    table = {}
    # Aliases last, so that silu and hard_silu win over swish and hard_swish.
    for name in sorted(dir(keras.activations), key=lambda n: n in ("swish", "hard_swish")):
        fn = getattr(keras.activations, name)
        if not name.startswith("_") and name not in ("get", "serialize", "deserialize"):
            table.setdefault(fn, name)
    return table


def _names_needing_parameters() -> list[str]:
    """Built-in activations that have a parameter without a default (threshold)."""
    return sorted(name for fn, name in _builtin_activations().items() if _required_parameters(fn))


def _names_with_gain() -> list[str]:
    """The built-in activation names that ``calculate_gain`` accepts as strings."""
    rejected = {*_NOT_ELEMENTWISE, *_names_needing_parameters()}
    return sorted(set(_builtin_activations().values()) - rejected)


def _required_parameters(fn: Callable) -> list[str]:
    """Parameters after the input that have no default (e.g. threshold's)."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())[1:]
    except (TypeError, ValueError):  # builtins without a signature
        return []
    kinds = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )
    return [p.name for p in parameters if p.default is p.empty and p.kind in kinds]


def _resolve(activation: ActivationLike) -> tuple[str | None, Callable]:
    name = activation_name(activation)
    if isinstance(activation, str) or activation is None:
        fn = keras.activations.get(name)
    else:
        fn = activation
    if name in _NOT_ELEMENTWISE:
        raise ValueError(
            f"activation={name!r} is not elementwise (it mixes units), so it has no "
            "gain. Use it only on an output layer, whose kernel takes the 'linear' gain."
        )
    required = _required_parameters(fn)
    if required:
        raise ValueError(
            f"activation={name or fn!r} needs the parameter(s) {required}; pass a "
            "callable with them bound, e.g. functools.partial(keras.activations."
            f"{name}, ...)."
        )
    return name, fn


@functools.lru_cache(maxsize=1)
def _quadrature_rule() -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.legendre.leggauss(_NODES_PER_PANEL)
    edges = np.arange(-_HALF_RANGE, _HALF_RANGE, _PANEL_WIDTH)
    half = _PANEL_WIDTH / 2.0
    z = (edges[:, None] + half + half * nodes[None, :]).ravel()
    w = np.tile(weights * half, edges.size)
    w = w * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return z, w


def _evaluation_dtype() -> str:
    if keras.config.backend() == "jax":
        import jax

        return "float64" if jax.config.read("jax_enable_x64") else "float32"
    return "float64"


def _apply(fn: Callable, z: np.ndarray) -> np.ndarray:
    x = keras.ops.convert_to_tensor(z, dtype=_evaluation_dtype())
    if keras.config.backend() == "jax":
        # Run eagerly, JAX compiles each primitive of fn for each shape (1.5 s for
        # KerasHub's gelu_approximate over the shapes used here); jitted, fn compiles
        # once per shape. A callable that cannot be traced runs eagerly.
        import jax

        try:
            return np.asarray(jax.jit(fn)(x), dtype=np.float64)
        except TypeError:  # jax.errors.ConcretizationTypeError and its kin
            pass
    return np.asarray(keras.ops.convert_to_numpy(fn(x)), dtype=np.float64)


def _check_elementwise(fn: Callable, label) -> None:
    """Rejects callables whose output is not f applied to each element alone."""
    z = np.linspace(-3.0, 3.0, 8)
    flat = _apply(fn, z)
    column = _apply(fn, z.reshape(8, 1))
    half = _apply(fn, z[:4])
    same_shape = flat.shape == z.shape and column.shape == (8, 1) and half.shape == (4,)
    if not same_shape or not (
        np.allclose(flat, column.ravel(), rtol=1e-5, atol=1e-6)
        and np.allclose(flat[:4], half, rtol=1e-5, atol=1e-6)
    ):
        raise ValueError(
            f"activation={label!r} is not elementwise (its output depends on other "
            "units or has another shape), so it has no gain. Allowed: elementwise "
            "activations such as 'relu', 'gelu' or a callable applied per element."
        )


@functools.cache
def second_moment(fn: Callable) -> float:
    """E[f(z)**2] for z ~ N(0, 1), by composite Gauss-Legendre quadrature.

    Panels of width 1/4 on [-16, 16], 16 nodes each; the Gaussian weight beyond
    |z| = 16 is below 1e-57. Relative error below 1e-9 in float64 wherever f is
    smooth between multiples of 1/4 (all Keras activations). Keras' built-in
    activations are evaluated in NumPy float64, the same on every backend; any
    other callable on the backend (in float32 on JAX without x64, where the error
    stays below 1e-6).
    """
    z, w = _quadrature_rule()
    numpy_fn = _NUMPY_ACTIVATIONS.get(_builtin_activations().get(fn))
    if numpy_fn is not None:
        values = numpy_fn(z)
    else:
        _check_elementwise(fn, getattr(fn, "__name__", fn))
        values = _apply(fn, z)
    moment = float(np.sum(w * values * values))
    if not math.isfinite(moment) or moment <= 0.0:
        raise ValueError(
            f"activation={getattr(fn, '__name__', fn)!r} has E[f(z)^2] = {moment} "
            "for z ~ N(0, 1); a gain needs a finite, positive second moment."
        )
    return moment


def calculate_gain(
    activation: ActivationLike = "linear",
    *,
    negative_slope: float = 0.2,
    convention: str = "moment",
) -> float:
    """Returns the gain for ``activation``: initialize with ``Var(W) = gain**2 / n``.

    Examples:

    >>> calculate_gain("relu")
    1.4142135623730951
    >>> round(calculate_gain("leaky_relu", negative_slope=0.2), 6)
    1.38675

    Args:
        activation: A Keras activation name (``"relu"``, ``"gelu"``, ...), a
            callable applied elementwise, or None (linear).
        negative_slope: Slope ``a`` of ``leaky_relu`` for x < 0; ignored by other
            activations. Defaults to 0.2, as ``keras.activations.leaky_relu``.
            (Note: the layer ``keras.layers.LeakyReLU`` defaults to 0.3.)
        convention: ``"moment"`` (default): ``1/sqrt(E[f(z)**2])``, z ~ N(0,1),
            which keeps unit pre-activation variance. ``"pytorch"``: the table of
            ``torch.nn.init.calculate_gain`` for linear, sigmoid, tanh, relu,
            leaky_relu and selu, the moment gain otherwise.

    Returns:
        The gain, a positive Python float.

    Reference:
    - He et al., 2015, "Delving Deep into Rectifiers", eq. 10 and 15
      (https://arxiv.org/abs/1502.01852).
    - PyTorch ``torch/nn/init.py``, ``calculate_gain``.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention={convention!r} is not allowed. Allowed: {list(CONVENTIONS)}.")
    slope = validate_negative_slope(negative_slope)
    name, fn = _resolve(activation)
    if convention == "pytorch" and name in _PYTORCH_TABLE:
        return _PYTORCH_TABLE[name](slope)
    if name in _CLOSED_FORM_MOMENT:
        return _CLOSED_FORM_MOMENT[name](slope)
    return 1.0 / math.sqrt(second_moment(fn))
