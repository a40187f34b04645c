"""The one table of layer kinds: which weights are kernels, their true fans, and what
a layer does to the signal (normalizes it, passes it through, holds no kernel).

Every whole-model tool asks this module, and only this module, what a layer is:
``read_model`` for the kernels and fans it records, ``initialize`` for what it
draws, ``lsuv`` for what it rescales, ``signal_report`` for the kernel whose
gradient stands for a layer, ``mean_field_variances`` for the layers its variance
map covers. ``register_layer_kind`` adds a user's kind, and all of them treat it
alike from then on. A kind decides; it draws nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import keras

from keras_glorot.whole_model import found as acts
from keras_glorot.whole_model.kernels import (  # noqa: F401 (the table's vocabulary)
    ATTENTION_PARTS,
    Block,
    Kernel,
    Skip,
    UnknownKind,
    attention_kernels,
    conv_kernels,
    dense_kernels,
    depthwise_kernels,
    einsum_kernels,
    registered_kernels,
    rnn_kernels,
    separable_kernels,
    transposed_kernels,
    untied_reverse_projection,
)

# Layers that leave "which elementwise activation follows" unchanged.
PASS_THROUGH = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.Identity,
    keras.layers.Flatten,
    keras.layers.Reshape,
)
NORMALIZATIONS = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
    keras.layers.UnitNormalization,
)
# Layers that average or pick over windows or positions: they change the scale, so the
# activation after them is not the kernel's, but a normalization after them still sets
# what the next kernel reads (a tanh conv, pooling, flatten, then batch norm).
POOLING = (
    keras.layers.AveragePooling1D, keras.layers.AveragePooling2D,
    keras.layers.AveragePooling3D, keras.layers.MaxPooling1D, keras.layers.MaxPooling2D,
    keras.layers.MaxPooling3D, keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D, keras.layers.GlobalAveragePooling3D,
    keras.layers.GlobalMaxPooling1D, keras.layers.GlobalMaxPooling2D,
    keras.layers.GlobalMaxPooling3D,
)  # fmt: skip
CONVS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
SEPARABLE = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
TRANSPOSED = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)
RNNS = (keras.layers.SimpleRNN, keras.layers.GRU, keras.layers.LSTM)
# Layers with weights but no kernel to scale (normalizations aside): left alone without
# a report row. Attention and AdditiveAttention hold only a learned score scale (a
# scalar, or a vector over the features): their output is a softmax-weighted mean of
# the values, linear in them, and no kernel of theirs is drawn.
NO_KERNEL = (
    keras.layers.PReLU,
    keras.layers.Attention,
    keras.layers.AdditiveAttention,
)


ROLES = ("kernel", "normalization", "pass_through", "pooling", "no_kernel")


@dataclasses.dataclass(frozen=True)
class Kind:
    """What the tools know of one kind of layer.

    Attributes:
        name: The kind's name in reports.
        kernels: ``(layer, found) -> [Kernel]``: its kernels, their fans, each block
            drawn for ``found`` (the activation after the layer) unless the kind says
            otherwise (attention's query, key and value; recurrent gates). None for a
            kind without kernels.
        role: ``"kernel"``, ``"normalization"`` (divides its input by its own scale),
            ``"pass_through"`` (leaves which activation follows unchanged),
            ``"pooling"`` (changes the scale; a normalization after it is still seen)
            or ``"no_kernel"`` (weights, but none to draw).
        rescaled: Whether ``lsuv`` rescales its last kernel by the variance of the
            layer's output (one call: kernel, then its fused activation).
        variance_map: Whether the mean-field variance map applies (one kernel, one
            block: ``q = fan_in * mean(W**2) * E[x**2] + mean(b**2)``).
    """

    name: str
    kernels: Callable | None = None
    role: str = "kernel"
    rescaled: bool = False
    variance_map: bool = False


# Built-in kinds, most specific first (a SeparableConv2D is not read as a Conv2D).
BUILT_IN: list[tuple[tuple, Kind]] = [
    (TRANSPOSED, Kind("transposed convolution", transposed_kernels, rescaled=True)),
    (SEPARABLE, Kind("separable convolution", separable_kernels, rescaled=True)),
    (DEPTHWISE, Kind("depthwise convolution", depthwise_kernels, rescaled=True,
                     variance_map=True)),
    (CONVS, Kind("convolution", conv_kernels, rescaled=True, variance_map=True)),
    ((keras.layers.Dense,), Kind("dense", dense_kernels, rescaled=True, variance_map=True)),
    ((keras.layers.EinsumDense,), Kind("einsum", einsum_kernels, rescaled=True)),
    ((keras.layers.MultiHeadAttention,), Kind("attention", attention_kernels)),
    (RNNS, Kind("recurrent", rnn_kernels)),
    (NORMALIZATIONS, Kind("normalization", role="normalization")),
    (PASS_THROUGH, Kind("pass-through", role="pass_through")),
    (POOLING, Kind("pooling", role="pooling")),
    (NO_KERNEL, Kind("no kernel", role="no_kernel")),
]  # fmt: skip
_REGISTERED: dict[type, Kind] = {}


def register_layer_kind(
    layer_class: type,
    *,
    kernels: Sequence[str] = (),
    role: str | None = None,
    fans: Callable | None = None,
    mask: Callable | None = None,
) -> None:
    """Describes a layer kind of your own once, for every whole-model tool.

    After this, ``read_model``, ``initialize``, ``lsuv``, ``signal_report`` and
    ``mean_field_variances`` read layers of ``layer_class`` (and its subclasses) as
    described: ``initialize`` draws each listed kernel with ``Glorot`` for the
    activation that follows the layer, at its fans; ``lsuv`` rescales the last one;
    ``signal_report`` reports the last one's gradient; the mean-field map covers a
    layer with one kernel. A registered kind takes precedence over a built-in one.

    Fans default to Keras' rule for the kernel's shape (``compute_fans``: the last
    axis is the output, the rest the input and receptive field); a kernel read
    otherwise (a kernel stored transposed) needs ``fans``. A masked kernel (PixelCNN's
    convolutions use the taps above and left of the centre) needs ``mask``: its fans
    then count only the taps that survive, and the draw is zero elsewhere.

    Example:

    >>> class Bilinear(keras.layers.Layer):  # y = (x @ w) * (x @ v), both (d, units)
    ...     ...
    >>> keras_glorot.register_layer_kind(Bilinear, kernels=("w", "v"))
    >>> # PixelCNN's PixelConvLayer: a Conv2D in ``self.conv``, its taps in ``self.mask``
    >>> keras_glorot.register_layer_kind(
    ...     PixelConvLayer, kernels=("conv.kernel",), mask=lambda layer, v: layer.mask)

    Args:
        layer_class: A subclass of ``keras.layers.Layer``.
        kernels: The attributes (dotted for a sublayer's: ``"conv.kernel"``) holding
            the kernel variables, the one producing the layer's output last. Where
            the owner has an ``<name>_initializer`` attribute, it is set to the drawn
            initializer, so that saving the model records it.
        role: ``"kernel"`` (the default when ``kernels`` is given),
            ``"normalization"`` (divides its input by its own scale, as RMSNorm does),
            ``"pass_through"`` (changes no scale: a dropout, a reshape) or
            ``"no_kernel"`` (weights, none of them a kernel to draw).
        fans: ``(layer, variable) -> (fan_in, fan_out)``, or None for Keras' rule.
        mask: ``(layer, variable) -> array`` of 0s and 1s shaped like the kernel: the
            taps the layer uses. None for a kernel used whole.
    """
    if not (isinstance(layer_class, type) and issubclass(layer_class, keras.layers.Layer)):
        raise TypeError(
            "layer_class must be a subclass of keras.layers.Layer. "
            f"Received: layer_class={layer_class!r}."
        )
    if isinstance(kernels, str) or not all(
        isinstance(k, str) and k and all(part.isidentifier() for part in k.split("."))
        for k in kernels
    ):
        raise ValueError(
            "kernels must be a sequence of attribute names (dotted for a sublayer's). "
            f"Received: kernels={kernels!r}."
        )
    role = role or ("kernel" if kernels else None)
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}. Received: role={role!r}.")
    if (role == "kernel") != bool(kernels):
        raise ValueError(
            "kernels must be given exactly when role='kernel'. "
            f"Received: kernels={tuple(kernels)!r}, role={role!r}."
        )
    for name, value in (("fans", fans), ("mask", mask)):
        if value is not None and not callable(value):
            raise TypeError(f"{name} must be a callable or None. Received: {name}={value!r}.")
    attrs = tuple(kernels)
    _REGISTERED[layer_class] = Kind(
        layer_class.__name__,
        registered_kernels(attrs, fans, mask) if attrs else None,
        role=role,
        rescaled=bool(attrs),
        variance_map=len(attrs) == 1,
    )


def kind_of(layer) -> Kind | None:
    """The kind of ``layer``: a registered one first (nearest class), else built-in."""
    if _REGISTERED:
        for cls in type(layer).__mro__:
            if cls in _REGISTERED:
                return _REGISTERED[cls]
    for classes, kind in BUILT_IN:
        if isinstance(layer, classes):
            return kind
    return None


def is_registered(layer) -> bool:
    return bool(_REGISTERED) and any(cls in _REGISTERED for cls in type(layer).__mro__)


def is_normalization(layer) -> bool:
    """A normalization: by its kind, or a layer of others' code named like one
    (``RMSNorm``, ``LlamaLayerNorm``...) that holds no kernel: it divides its input
    by its own scale."""
    kind = kind_of(layer)
    if kind is not None:
        return kind.role == "normalization"
    return (
        isinstance(layer, keras.layers.Layer)
        and "Norm" in type(layer).__name__
        and not hasattr(layer, "kernel")
    )


def passes_through(layer) -> bool:
    """A layer that leaves "which elementwise activation follows" unchanged (a
    normalization, a dropout, a reshape)."""
    kind = kind_of(layer)
    return kind is not None and kind.role in ("pass_through", "normalization")


def normalization_seen_through(layer) -> bool:
    """A layer behind which a normalization still sets the next kernel's input: one
    that ``passes_through``, or a pooling."""
    kind = kind_of(layer)
    return kind is not None and kind.role in ("pass_through", "normalization", "pooling")


def kernels(layer, activation_of: Callable) -> list[Kernel]:
    """The kernels of ``layer`` with their blocks; raises ``Skip`` to leave it alone.

    ``activation_of(layer, node_layer)`` is the activation after ``layer``'s output
    (``node_layer``: the wrapper that sits in the model, for ``Bidirectional`` and
    ``TimeDistributed``); it is asked only for kinds that use it.
    """
    return _kernels(layer, activation_of, None)


def _kernels(layer, activation_of: Callable, node) -> list[Kernel]:
    if isinstance(layer, keras.layers.Bidirectional) and not is_registered(layer):
        out = []
        for direction in ("forward", "backward"):
            for kernel in _kernels(getattr(layer, f"{direction}_layer"), activation_of, layer):
                for block in kernel.blocks:
                    block.part = f"{direction}.{block.part}"
                out.append(kernel)
        return out
    if isinstance(layer, keras.layers.TimeDistributed) and not is_registered(layer):
        return _kernels(layer.layer, activation_of, layer)
    kind = kind_of(layer)
    if not is_registered(layer):
        reverse = untied_reverse_projection(layer)
        if reverse is not None:
            return [reverse]
        if isinstance(layer, keras.layers.Embedding):
            raise Skip("Embedding left as is (rows are looked up, not summed: no fan applies)")
    if is_normalization(layer):
        raise Skip("normalization: no kernel (its scale and offset are left as they are)")
    if kind is not None and kind.kernels is not None:
        found = acts.LINEAR if isinstance(layer, RNNS) else activation_of(layer, node)
        return kind.kernels(layer, found)
    name = type(layer).__name__
    if kind is None and "Embedding" in name:
        raise Skip(f"{name} left as is: an embedding by its name (rows are looked up)")
    if kind is not None:
        raise Skip(f"{kind.name}: no kernel")
    raise UnknownKind(f"unknown layer kind {name} (its weights are left as they are)")


def needs_report(layer) -> bool:
    """Whether a layer ``kernels`` skips gets a report row: it has weights, and is not an
    activation (PReLU) or a layer without weights of its own to speak of."""
    if acts.from_layer(layer) is not None or not layer.weights:
        return False
    kind = kind_of(layer)
    return is_normalization(layer) or kind is None or kind.role == "kernel"


def has_kernel(layer) -> bool:
    """Whether ``layer`` is a kind with kernels to draw (wrappers included)."""
    if isinstance(layer, keras.layers.Bidirectional | keras.layers.TimeDistributed):
        if not is_registered(layer):
            return has_kernel(getattr(layer, "forward_layer", None) or layer.layer)
    kind = kind_of(layer)
    return kind is not None and kind.kernels is not None


def no_kernel(layer) -> bool:
    """A layer with weights the table knows to hold no kernel (PReLU, Attention)."""
    kind = kind_of(layer)
    return kind is not None and kind.role == "no_kernel"


def main_kernel(layer):
    """The kernel whose gradient stands for ``layer`` (its last), or None."""
    for wrapped in ("forward_layer", "layer", "cell"):
        inner = getattr(layer, wrapped, None)
        if (
            not is_registered(layer)
            and isinstance(inner, keras.layers.Layer)
            and inner is not layer
        ):
            return main_kernel(inner)
    if isinstance(layer, keras.layers.MultiHeadAttention) and not is_registered(layer):
        return layer.output_dense.kernel
    kind = kind_of(layer)
    if kind is not None and kind.kernels is not None and layer.built:
        try:
            found = kind.kernels(layer, acts.LINEAR)
        except Skip:
            found = []
        trainable = [k.variable for k in found if k.variable.trainable]
        if trainable:
            return trainable[-1]
    for weight in layer.trainable_weights:
        # Only kernels: a PReLU's alphas or an embedding table are not one.
        if len(weight.shape) >= 2 and "kernel" in weight.name:
            return weight
    return None
