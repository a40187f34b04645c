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

``Glorot(..., distribution="orthogonal")`` draws a scaled orthogonal matrix with the
same per-entry variance, and ``DeltaOrthogonal`` the delta-orthogonal convolution
kernel of Xiao et al. (2018), scaled by the same gains.
"""

from __future__ import annotations

import math
import numbers
import random
import warnings
from collections.abc import Sequence

import keras

from keras_glorot import gains, sampling
from keras_glorot.fans import compute_fans, einsum_kernel_axes, fan_for_mode
from keras_glorot.keras_internals import EINSUM_AXES_FROM_KERAS, weight_owner

MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")
# Glorot also draws orthogonal matrices. Kept apart from DISTRIBUTIONS, which the
# whole-model tools validate against and document as the three above.
GLOROT_DISTRIBUTIONS = (*DISTRIBUTIONS, "orthogonal")
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


def _validate_choice(name: str, value, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value.lower() not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed. Allowed: {list(allowed)}.")
    return value.lower()


# Keras draws from an int seed as a uint32 pair (``keras.random.SeedGenerator``'s
# ``draw_seed``): JAX refuses a seed outside [0, 2**32) only at its first draw, deep inside
# JAX and naming no parameter, while TensorFlow and torch silently wrap it onto another seed.
SEED_LIMIT = 2**32


def validate_seed(seed, *, generator: bool = True):
    """``seed`` as Keras takes it, or a ``TypeError``/``ValueError`` that names it.

    One check for every seed the package takes: the initializers' (``generator=True``:
    an int, None, a ``keras.random.SeedGenerator`` or its config) and the whole-model
    tools' (``generator=False``: an int or None). An int must lie in ``[0, 2**32)``;
    NumPy ints become Python ints, the only ints Keras accepts.
    """
    allowed = "an int in [0, 2**32)" + (
        ", None or a keras.random.SeedGenerator" if generator else " or None"
    )
    if seed is None or (generator and isinstance(seed, (keras.random.SeedGenerator, dict))):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"seed must be {allowed}. Received: seed={seed!r} of type {type(seed).__name__}."
        )
    if not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"seed must be {allowed}. Received: seed={seed!r}.")
    return int(seed)


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


_warned_unknown_layer = False


def _warn_unknown_layer(variable, shape: tuple) -> None:
    global _warned_unknown_layer
    if _warned_unknown_layer:
        return
    _warned_unknown_layer = True
    warnings.warn(
        f"Keras {keras.__version__} drew the kernel {variable.path!r} of shape {shape} "
        "after its layer's build (deferred, as in a keras.StatelessScope), so keras_glorot "
        "cannot see which layer it belongs to. If that is an EinsumDense or "
        "MultiHeadAttention, its fans are read from the shape, not from the layer's "
        "equation: upgrade to keras>=3.15, where those layers pass their true axes, or "
        "pass input_axes/output_axes yourself. Warned once.",
        UserWarning,
        stacklevel=4,
    )


class _WarnsOnReuse:
    """Warns (once) when a seeded instance is called a second time."""

    _calls = 0

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


@keras.saving.register_keras_serializable(package="keras_glorot")
class Glorot(_WarnsOnReuse, keras.initializers.VarianceScaling):
    """Glorot initializer scaled by the gain of the activation that follows.

    Draws ``W`` with ``Var(W) = gain**2 / n``: ``gain = calculate_gain(activation,
    negative_slope=..., convention=...)`` and ``n`` the fan chosen by ``mode``.
    ``Glorot()`` is Keras' ``glorot_normal``; ``Glorot(distribution="uniform")`` is
    ``glorot_uniform``; ``Glorot("relu", mode="fan_in")`` is He initialization.

    With ``distribution="truncated_normal"`` the draw is exactly N(0, s**2) cut at
    +-2 s, with ``s`` chosen so that the variance after truncation is the target
    (as in Keras), on every backend. ``"untruncated_normal"`` draws N(0, Var);
    ``"uniform"`` draws U(-L, L), ``L = sqrt(3 Var)``.

    ``"orthogonal"`` draws a Haar-random matrix with orthonormal columns (or rows)
    of the flattened ``(prod(shape[:-1]), shape[-1])`` kernel, as
    ``keras.initializers.Orthogonal`` does, scaled so that the entries' mean square
    is ``Var`` exactly, not only on average (docs/derivation.md, "Orthogonal draws
    and delta-orthogonal kernels"). Rank-1 shapes are rejected.

    Examples:

    >>> init = Glorot("gelu", seed=0)
    >>> w = init((256, 128))
    >>> layer = keras.layers.Dense(64, activation="tanh",
    ...                            kernel_initializer=Glorot("tanh"))

    Args:
        activation: Activation that follows the layer: a Keras name, an
            elementwise callable, or None (linear). Stored by name in the config.
        negative_slope: Slope of ``leaky_relu`` for x < 0 (default 0.2, Keras'
            ``leaky_relu`` default). Ignored by other activations.
        mode: ``"fan_avg"`` (Glorot, default), ``"fan_in"`` (He / LeCun: keeps
            the forward signal) or ``"fan_out"`` (keeps the backward signal).
        distribution: ``"truncated_normal"`` (default), ``"untruncated_normal"``,
            ``"uniform"`` or ``"orthogonal"``.
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

    Reference:
    - Glorot & Bengio, 2010, "Understanding the difficulty of training deep
      feedforward neural networks", eq. 12 and 16.
    - He et al., 2015, "Delving Deep into Rectifiers", eq. 10 and 15.
    - Saxe et al., 2014, "Exact solutions to the nonlinear dynamics of learning
      in deep linear neural networks" (orthogonal initialization).
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
        distribution = _validate_choice("distribution", distribution, GLOROT_DISTRIBUTIONS)
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
            # VarianceScaling knows no "orthogonal": it gets a placeholder it accepts.
            distribution="truncated_normal" if distribution == "orthogonal" else distribution,
            seed=validate_seed(seed),
        )
        # Set here, not passed on: VarianceScaling takes axes from Keras 3.15 only.
        self.input_axes = _validate_axes("input_axes", input_axes)
        self.output_axes = _validate_axes("output_axes", output_axes)
        self.distribution = distribution

    def fans(self, shape: Sequence[int]) -> tuple[float, float]:
        """``(fan_in, fan_out)`` used for a kernel of ``shape``."""
        return self._fans(shape, self.input_axes, self.output_axes)

    def _fans(self, shape, input_axes, output_axes) -> tuple[float, float]:
        for name, axes in (("input_axes", input_axes), ("output_axes", output_axes)):
            if axes is not None and any(not -len(shape) <= a < len(shape) for a in axes):
                raise ValueError(
                    f"{name}={axes} does not fit a kernel of shape={tuple(shape)}; "
                    f"allowed axes are {-len(shape)}..{len(shape) - 1}."
                )
        fan_in, fan_out = compute_fans(shape, input_axes, output_axes)
        return self.fan_in or fan_in, self.fan_out or fan_out

    def stddev(self, shape: Sequence[int]) -> float:
        """The standard deviation of the values drawn for ``shape``.

        For ``"orthogonal"`` it is also the root mean square of every draw.
        """
        return self._stddev(_validate_shape(shape), self.input_axes, self.output_axes)

    def _stddev(self, shape, input_axes, output_axes) -> float:
        fan_in, fan_out = self._fans(shape, input_axes, output_axes)
        return math.sqrt(self.scale / fan_for_mode(fan_in, fan_out, self.mode))

    def _axes(self, shape: tuple) -> tuple:
        """``(input_axes, output_axes)`` for this draw.

        From Keras 3.15, ``EinsumDense`` and ``MultiHeadAttention`` rebuild the
        initializer with their kernel's axes. On an older Keras they pass the shape
        alone, so the layer is read here: its equation gives the axes
        (``fans.einsum_kernel_axes``). Where Keras deferred the draw past the layer's
        ``build``, the layer is unknown: a kernel of rank >= 3 then warns once.
        """
        axes = (self.input_axes, self.output_axes)
        if EINSUM_AXES_FROM_KERAS or axes != (None, None) or len(shape) < 3:
            return axes
        owner = weight_owner()
        if isinstance(owner, keras.layers.EinsumDense):
            return einsum_kernel_axes(owner.equation)
        if isinstance(owner, keras.Variable):
            _warn_unknown_layer(owner, shape)
        return axes

    def __call__(self, shape, dtype=None):
        shape = _validate_shape(shape)
        dtype = _validate_dtype(dtype)
        if self.distribution == "orthogonal" and len(shape) < 2:
            raise ValueError(
                f"distribution='orthogonal' needs a kernel of rank >= 2, read as the "
                f"matrix (prod(shape[:-1]), shape[-1]). Received: shape={shape} of rank "
                f"{len(shape)}. Allowed for rank 1: 'truncated_normal', "
                "'untruncated_normal', 'uniform'."
            )
        self._warn_on_reuse()
        sample = sampling.SAMPLERS[self.distribution]
        return sample(shape, self._stddev(shape, *self._axes(shape)), dtype, self.seed)

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

    Examples:

    >>> layer = keras.layers.Conv2D(64, 3, activation="leaky_relu",
    ...                             kernel_initializer="glorot_leaky")

    Args:
        negative_slope: Slope ``a`` for x < 0; default 0.2, as
            ``keras.activations.leaky_relu`` (``keras.layers.LeakyReLU`` uses 0.3:
            pass that value when you use that layer).
        seed: An int, None, or a ``keras.random.SeedGenerator``.
        input_axes: Axes holding input units (as ``VarianceScaling``).
        output_axes: Axes holding output units.

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

    Examples:

    >>> layer = keras.layers.Dense(128, activation="leaky_relu",
    ...                            kernel_initializer="glorot_leaky_uniform")

    Args:
        negative_slope: Slope ``a`` for x < 0 (default 0.2).
        seed: An int, None, or a ``keras.random.SeedGenerator``.
        input_axes: Axes holding input units (as ``VarianceScaling``).
        output_axes: Axes holding output units.

    Reference:
    - Glorot & Bengio, 2010, eq. 16; He et al., 2015, eq. 15.
    """

    _distribution = "uniform"


@keras.saving.register_keras_serializable(package="keras_glorot")
class DeltaOrthogonal(_WarnsOnReuse, keras.initializers.Initializer):
    """Delta-orthogonal convolution kernel scaled by the activation's gain.

    For a kernel of shape ``kernel_size + (in_channels, out_channels)``, every
    tap is zero except the centre one, which is ``gain`` times a Haar-random
    ``(in_channels, out_channels)`` matrix ``H`` with orthonormal rows (``H H^T =
    I``; Xiao et al. 2018, Algorithm 2). With ``padding="same"`` and stride 1 the
    convolution then maps every pixel ``x`` to ``gain * x H``, so ``||x H|| =
    ||x||`` at every position: for ``gain`` 1 the layer is an exact isometry of
    the whole feature map, and its input-output Jacobian has all singular values
    1. A stack of such layers with tanh and ``activation="linear"`` (``gain`` 1)
    is Xiao et al.'s critical initialization at ``sigma_b = 0``: for small
    pre-activations tanh's Jacobian is close to the identity, so the network's
    Jacobian stays close to orthogonal (dynamical isometry; Pennington et al.
    2017). ``DeltaOrthogonal("tanh")`` uses the moment gain 1.59 instead, which
    keeps unit pre-activation variance through depth (see
    ``docs/derivation.md``).

    ``in_channels <= out_channels`` is required, as in the paper: with more
    input than output channels no matrix preserves every input's norm. For an
    even kernel size ``k`` the centre tap is ``(k - 1) // 2``, the tap that
    Keras' ``padding="same"`` aligns with the output pixel on every backend (as
    TensorFlow's ``ConvolutionDeltaOrthogonal``); for odd ``k`` it is ``k // 2``.
    ``Conv*Transpose`` kernels are laid out ``kernel_size + (filters,
    in_channels)``; for them this is not the delta-orthogonal map.

    Examples:

    >>> init = DeltaOrthogonal(seed=0)
    >>> w = init((3, 3, 16, 32))  # zero but for w[1, 1], a (16, 32) matrix
    >>> # Gain 1 on tanh: dynamical isometry (Xiao et al. 2018).
    >>> layer = keras.layers.Conv2D(64, 3, padding="same", activation="tanh",
    ...                             kernel_initializer="delta_orthogonal")
    >>> # The moment gain: unit pre-activation variance through depth.
    >>> layer = keras.layers.Conv2D(64, 3, padding="same", activation="relu",
    ...                             kernel_initializer=DeltaOrthogonal("relu"))

    Args:
        activation: Activation that follows the layer: a Keras name, an
            elementwise callable, or None (linear). Its gain (``calculate_gain``)
            scales the centre matrix. Stored by name in the config.
        negative_slope: Slope of ``leaky_relu`` for x < 0 (default 0.2, Keras'
            ``leaky_relu`` default). Ignored by other activations.
        convention: Gain convention, ``"moment"`` (default) or ``"pytorch"``;
            see ``calculate_gain``.
        seed: An int, None, or a ``keras.random.SeedGenerator``. An int or None
            gives the same values at every call of one instance (Keras 3's
            contract); a SeedGenerator gives new values at every call.

    Reference:
    - Xiao et al., 2018, "Dynamical Isometry and a Mean Field Theory of CNNs:
      How to Train 10,000-Layer Vanilla Convolutional Neural Networks", ICML,
      Algorithm 2 (https://arxiv.org/abs/1806.05393).
    - Pennington et al., 2017, "Resurrecting the sigmoid in deep learning
      through dynamical isometry", NeurIPS (https://arxiv.org/abs/1711.04735).
    - Saxe et al., 2014, "Exact solutions to the nonlinear dynamics of learning
      in deep linear neural networks", ICLR (https://arxiv.org/abs/1312.6120).
    """

    def __init__(
        self,
        activation: gains.ActivationLike = "linear",
        *,
        negative_slope: float = 0.2,
        convention: str = "moment",
        seed=None,
    ):
        if isinstance(activation, dict):
            activation = keras.saving.deserialize_keras_object(activation)
        self.negative_slope = gains.validate_negative_slope(negative_slope)
        self.gain = gains.calculate_gain(
            activation, negative_slope=self.negative_slope, convention=convention
        )
        self.activation = _activation_config(activation)
        self.convention = convention
        seed = validate_seed(seed)
        self._init_seed = seed
        if seed is None:
            # As keras.initializers.RandomInitializer: one seed per instance, so
            # every call of this instance gives the same values.
            seed = random.randint(1, 10**9)
        elif isinstance(seed, dict):
            seed = keras.saving.deserialize_keras_object(seed)
        self.seed = seed
        self._calls = 0

    @staticmethod
    def centre(shape: Sequence[int]) -> tuple[int, ...]:
        """The index of the centre tap of a kernel of ``shape``: ``(k - 1) // 2`` per axis."""
        return sampling.delta_centre(tuple(shape))

    def __call__(self, shape, dtype=None):
        shape = _validate_shape(shape)
        dtype = _validate_dtype(dtype)
        if len(shape) < 3:
            raise ValueError(
                "DeltaOrthogonal needs a convolution kernel of shape kernel_size + "
                f"(in_channels, out_channels). Received: shape={shape} of rank "
                f"{len(shape)}. Allowed: rank >= 3 (Conv1D 3, Conv2D 4, Conv3D 5). For a "
                "Dense kernel use Glorot(activation, distribution='orthogonal')."
            )
        c_in, c_out = shape[-2:]
        if c_in > c_out:
            raise ValueError(
                f"DeltaOrthogonal needs in_channels <= out_channels, so that the centre "
                f"tap has orthonormal rows and keeps every input's norm. Received: "
                f"shape={shape} with in_channels={c_in} > out_channels={c_out}. Allowed: "
                f"shape[-2] <= shape[-1], e.g. out_channels >= {c_in}."
            )
        self._warn_on_reuse()
        return sampling.delta_orthogonal(shape, self.gain, dtype, self.seed)

    def get_config(self) -> dict:
        return {
            "activation": self.activation,
            "negative_slope": self.negative_slope,
            "convention": self.convention,
            "seed": keras.saving.serialize_keras_object(self._init_seed),
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if v is not None)
        return f"{type(self).__name__}({args})"


# String names users may pass as ``kernel_initializer=...``. None is a Keras name.
ALIASES = {
    "glorot_leaky": GlorotLeakyNormal,
    "glorot_leaky_normal": GlorotLeakyNormal,
    "glorot_leaky_uniform": GlorotLeakyUniform,
    "delta_orthogonal": DeltaOrthogonal,
}


def custom_objects() -> dict:
    """The ``custom_objects`` mapping for ``keras.saving.load_model``.

    Importing ``keras_glorot`` already registers every class, so this is needed
    only where the global registry was bypassed or cleared. Keras looks nested
    objects up by their registered name (``"keras_glorot>ClassName"``), so the
    keys are those names.

    Examples:

    >>> model = keras.saving.load_model(path, custom_objects=custom_objects())
    """
    registered = keras.saving.get_registered_name
    classes = (Glorot, GlorotLeakyNormal, GlorotLeakyUniform, DeltaOrthogonal)
    return {registered(cls): cls for cls in classes}
