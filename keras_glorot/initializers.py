"""Activation-aware Glorot initializers: one variance-scaling core, thin named cases.

``Glorot`` draws weights with

    Var(W) = gain(activation)**2 / n,   n = fan_in, fan_out or (fan_in + fan_out) / 2,

which is Glorot & Bengio's (2010, eq. 12) compromise between the forward condition
``fan_in Var(W) E[f'(z)**2 or f(z)**2] = 1`` and the backward one with ``fan_out``,
corrected by He et al.'s (2015) gain for the activation ``f``. With the leaky-ReLU
gain ``2 / (1 + a**2)`` and ``mode="fan_avg"`` this is

    Var(W) = 4 / ((1 + a**2) (fan_in + fan_out)),

the same as PyTorch's ``xavier_normal_(w, gain=calculate_gain("leaky_relu", a))``.
See ``docs/derivation.md`` for why the often-quoted ``2 / ((1 + a**2) fan_in +
fan_out)`` and "ReLU: ``2 / (fan_in + fan_out)``" are wrong.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence

import keras

from keras_glorot import gains, sampling
from keras_glorot.fans import compute_fans, fan_for_mode

MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


def _validate_choice(name: str, value, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value.lower() not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed. Allowed: {list(allowed)}.")
    return value.lower()


def _validate_seed(seed):
    if seed is None or isinstance(seed, (keras.random.SeedGenerator, dict)):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            "seed must be an int, None or a keras.random.SeedGenerator. "
            f"Received: seed={seed!r} of type {type(seed).__name__}."
        )
    return int(seed)  # Keras accepts Python ints only; numpy ints come from seed sweeps


def _validate_axes(name: str, axes):
    if axes is None:
        return None
    if isinstance(axes, int) and not isinstance(axes, bool):
        axes = [axes]
    if not isinstance(axes, (list, tuple)) or not all(
        isinstance(a, int) and not isinstance(a, bool) for a in axes
    ):
        raise TypeError(f"{name} must be None or a list of ints. Received: {name}={axes!r}.")
    return list(axes)


def _validate_fan(name: str, fan):
    if fan is None:
        return None
    # Not necessarily whole: a strided convolution's mean fan can be k / s.
    if (
        isinstance(fan, bool)
        or not isinstance(fan, numbers.Real)
        or not math.isfinite(fan)
        or fan <= 0
    ):
        raise ValueError(f"{name} must be None or a finite number > 0. Received: {name}={fan!r}.")
    return int(fan) if float(fan).is_integer() else float(fan)


def _validate_shape(shape) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise TypeError(f"shape must be a sequence of ints. Received: shape={shape!r}.") from None
    if any(d < 1 for d in dims):
        raise ValueError(
            f"shape={dims} has a dimension < 1; every dimension of a kernel must be "
            ">= 1, since a zero fan has no variance to scale."
        )
    return dims


def _validate_dtype(dtype) -> str:
    name = keras.backend.standardize_dtype(dtype or keras.config.floatx())
    if name not in FLOAT_DTYPES:
        raise ValueError(
            f"dtype={name!r} is not a floating-point dtype. Allowed: {list(FLOAT_DTYPES)}."
        )
    return name


def _activation_config(activation):
    if activation is None or isinstance(activation, (str, dict)):
        return activation if activation is not None else "linear"
    name = gains.activation_name(activation)
    return name if name is not None else keras.saving.serialize_keras_object(activation)


@keras.saving.register_keras_serializable(package="keras_glorot")
class Glorot(keras.initializers.VarianceScaling):
    """Glorot initializer scaled by the gain of the activation that follows.

    Draws ``W`` with ``Var(W) = gain**2 / n``: ``gain = calculate_gain(activation,
    negative_slope=..., convention=...)`` and ``n`` the fan chosen by ``mode``.
    ``Glorot()`` is Keras' ``glorot_normal``; ``Glorot(distribution="uniform")`` is
    ``glorot_uniform``; ``Glorot("relu", mode="fan_in")`` is He initialization.

    With ``distribution="truncated_normal"`` the draw is exactly N(0, s**2) cut at
    +-2 s, with ``s`` chosen so that the variance after truncation is the target
    (as in Keras), on every backend. ``"untruncated_normal"`` draws N(0, Var);
    ``"uniform"`` draws U(-L, L), ``L = sqrt(3 Var)``.

    Args:
        activation: Activation that follows the layer: a Keras name, an
            elementwise callable, or None (linear). Stored by name in the config.
        negative_slope: Slope of ``leaky_relu`` for x < 0 (default 0.2, Keras'
            ``leaky_relu`` default). Ignored by other activations.
        mode: ``"fan_avg"`` (Glorot, default), ``"fan_in"`` (He / LeCun: keeps
            the forward signal) or ``"fan_out"`` (keeps the backward signal).
        distribution: ``"truncated_normal"`` (default), ``"untruncated_normal"``
            or ``"uniform"``.
        convention: Gain convention, ``"moment"`` (default) or ``"pytorch"``;
            see ``calculate_gain``.
        seed: An int, None, or a ``keras.random.SeedGenerator``. An int or None
            gives the same values at every call of one instance (Keras 3's
            contract); a SeedGenerator gives new values at every call.
        input_axes: Axes of the kernel holding input units, as for
            ``keras.initializers.VarianceScaling`` (``EinsumDense`` and
            ``MultiHeadAttention`` fill them in).
        output_axes: Axes holding output units.
        fan_in: Explicit fan-in, overriding the one computed from the shape (for
            kernels whose shape misstates it: depthwise, grouped, strided or
            transposed convolutions; see ``keras_glorot.fans``). A number > 0,
            not necessarily whole (a strided convolution's mean fan).
        fan_out: Explicit fan-out, likewise.

    Example:

    >>> init = Glorot("gelu", seed=0)
    >>> w = init((256, 128))
    >>> layer = keras.layers.Dense(64, activation="tanh",
    ...                            kernel_initializer=Glorot("tanh"))

    Reference:
    - Glorot & Bengio, 2010, "Understanding the difficulty of training deep
      feedforward neural networks", eq. 12 and 16.
    - He et al., 2015, "Delving Deep into Rectifiers", eq. 10 and 15.
    """

    def __init__(
        self,
        activation: gains.ActivationLike = "linear",
        *,
        negative_slope: float = 0.2,
        mode: str = "fan_avg",
        distribution: str = "truncated_normal",
        convention: str = "moment",
        seed=None,
        input_axes: Sequence[int] | None = None,
        output_axes: Sequence[int] | None = None,
        fan_in: float | None = None,
        fan_out: float | None = None,
    ):
        if isinstance(activation, dict):
            activation = keras.saving.deserialize_keras_object(activation)
        mode = _validate_choice("mode", mode, MODES)
        if isinstance(distribution, str) and distribution.lower() == "normal":
            distribution = "truncated_normal"  # Keras' own alias.
        distribution = _validate_choice("distribution", distribution, DISTRIBUTIONS)
        self.negative_slope = gains.validate_negative_slope(negative_slope)
        self.gain = gains.calculate_gain(
            activation, negative_slope=self.negative_slope, convention=convention
        )
        self.activation = _activation_config(activation)
        self.convention = convention
        self.fan_in = _validate_fan("fan_in", fan_in)
        self.fan_out = _validate_fan("fan_out", fan_out)
        self._calls = 0
        super().__init__(
            scale=self.gain**2,
            mode=mode,
            distribution=distribution,
            seed=_validate_seed(seed),
            input_axes=_validate_axes("input_axes", input_axes),
            output_axes=_validate_axes("output_axes", output_axes),
        )

    def fans(self, shape: Sequence[int]) -> tuple[float, float]:
        """``(fan_in, fan_out)`` used for a kernel of ``shape``."""
        for name, axes in (("input_axes", self.input_axes), ("output_axes", self.output_axes)):
            if axes is not None and any(not -len(shape) <= a < len(shape) for a in axes):
                raise ValueError(
                    f"{name}={axes} does not fit a kernel of shape={tuple(shape)}; "
                    f"allowed axes are {-len(shape)}..{len(shape) - 1}."
                )
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        return self.fan_in or fan_in, self.fan_out or fan_out

    def stddev(self, shape: Sequence[int]) -> float:
        """The standard deviation of the values drawn for ``shape``."""
        fan_in, fan_out = self.fans(_validate_shape(shape))
        return math.sqrt(self.scale / fan_for_mode(fan_in, fan_out, self.mode))

    def __call__(self, shape, dtype=None):
        shape = _validate_shape(shape)
        dtype = _validate_dtype(dtype)
        self._warn_on_reuse()
        sample = sampling.SAMPLERS[self.distribution]
        return sample(shape, self.stddev(shape), dtype, self.seed)

    def _warn_on_reuse(self) -> None:
        if isinstance(self.seed, keras.random.SeedGenerator):
            return
        self._calls += 1
        if self._calls == 2:
            warnings.warn(
                f"{type(self).__name__} with seed={self._init_seed!r} was called a "
                "second time and returns the same values as the first time, so two "
                "layers sharing this instance get identical kernels. Give each layer "
                "its own instance (or a string name), or pass "
                "seed=keras.random.SeedGenerator(...) for new values at every call.",
                UserWarning,
                stacklevel=3,
            )

    def get_config(self) -> dict:
        return {
            "activation": self.activation,
            "negative_slope": self.negative_slope,
            "mode": self.mode,
            "distribution": self.distribution,
            "convention": self.convention,
            "seed": keras.saving.serialize_keras_object(self._init_seed),
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
            "fan_in": self.fan_in,
            "fan_out": self.fan_out,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if v is not None)
        return f"{type(self).__name__}({args})"


class _GlorotLeaky(Glorot):
    _distribution = ""

    def __init__(
        self,
        negative_slope: float = 0.2,
        seed=None,
        input_axes: Sequence[int] | None = None,
        output_axes: Sequence[int] | None = None,
    ):
        super().__init__(
            "leaky_relu",
            negative_slope=negative_slope,
            mode="fan_avg",
            distribution=self._distribution,
            seed=seed,
            input_axes=input_axes,
            output_axes=output_axes,
        )

    def get_config(self) -> dict:
        return {
            "negative_slope": self.negative_slope,
            "seed": keras.saving.serialize_keras_object(self._init_seed),
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


@keras.saving.register_keras_serializable(package="keras_glorot")
class GlorotLeakyNormal(_GlorotLeaky):
    """Glorot normal initializer for layers followed by leaky ReLU.

    Draws from a truncated normal (cut at +-2 sigma, variance corrected for the
    cut) with ``Var(W) = 4 / ((1 + a**2) (fan_in + fan_out))``, ``a`` the negative
    slope. String names: ``"glorot_leaky"``, ``"glorot_leaky_normal"``.

    Args:
        negative_slope: Slope ``a`` for x < 0; default 0.2, as
            ``keras.activations.leaky_relu`` (``keras.layers.LeakyReLU`` uses 0.3:
            pass that value when you use that layer).
        seed: An int, None, or a ``keras.random.SeedGenerator``.
        input_axes: Axes holding input units (as ``VarianceScaling``).
        output_axes: Axes holding output units.

    Example:

    >>> layer = keras.layers.Conv2D(64, 3, activation="leaky_relu",
    ...                             kernel_initializer="glorot_leaky")

    Reference:
    - Glorot & Bengio, 2010, eq. 12; He et al., 2015, eq. 15.
    """

    _distribution = "truncated_normal"


@keras.saving.register_keras_serializable(package="keras_glorot")
class GlorotLeakyUniform(_GlorotLeaky):
    """Glorot uniform initializer for layers followed by leaky ReLU.

    Draws from U(-L, L), ``L = sqrt(12 / ((1 + a**2) (fan_in + fan_out)))``, so
    that ``Var(W) = 4 / ((1 + a**2) (fan_in + fan_out))``. String name:
    ``"glorot_leaky_uniform"``.

    Args:
        negative_slope: Slope ``a`` for x < 0 (default 0.2).
        seed: An int, None, or a ``keras.random.SeedGenerator``.
        input_axes: Axes holding input units (as ``VarianceScaling``).
        output_axes: Axes holding output units.

    Example:

    >>> layer = keras.layers.Dense(128, activation="leaky_relu",
    ...                            kernel_initializer="glorot_leaky_uniform")

    Reference:
    - Glorot & Bengio, 2010, eq. 16; He et al., 2015, eq. 15.
    """

    _distribution = "uniform"


# String names users may pass as ``kernel_initializer=...``.
ALIASES = {
    "glorot_leaky": GlorotLeakyNormal,
    "glorot_leaky_normal": GlorotLeakyNormal,
    "glorot_leaky_uniform": GlorotLeakyUniform,
}


def custom_objects() -> dict:
    """The ``custom_objects`` mapping for ``keras.saving.load_model``.

    Importing ``keras_glorot`` already registers every class, so this is needed
    only where the global registry was bypassed or cleared. Keras looks nested
    objects up by their registered name (``"keras_glorot>ClassName"``), so the
    keys are those names.

    Example:

    >>> model = keras.saving.load_model(path, custom_objects=custom_objects())
    """
    registered = keras.saving.get_registered_name
    return {registered(cls): cls for cls in (Glorot, GlorotLeakyNormal, GlorotLeakyUniform)}
