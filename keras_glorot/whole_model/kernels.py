"""The kernels a layer of each kind holds, with their true fans.

One function per layer kind, ``(layer, found) -> [Kernel]``: each kernel variable,
where its initializer attribute lives, and its blocks (one per recurrent gate),
each with its fans and the activation it is drawn for. ``kinds`` maps layer
classes to these functions. Nothing here reads a graph or draws.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import keras
import numpy as np

from keras_glorot.fans import (
    compute_fans,
    depthwise_fans,
    einsum_kernel_axes,
    grouped_conv_fans,
    transposed_conv_axes,
    transposed_conv_fans,
)
from keras_glorot.whole_model import found as acts

# MultiHeadAttention's projections (EinsumDense sublayers), in the order it calls them.
ATTENTION_PARTS = ("query_dense", "key_dense", "value_dense", "output_dense")


class Skip(Exception):
    """A layer the tools leave alone, with the reason."""


class UnknownKind(Skip):
    """A layer of a kind the table does not know: left alone, and a fallback."""


@dataclasses.dataclass
class Block:
    """One block of a kernel: drawn by ``Glorot`` or ``Orthogonal`` with a gain."""

    part: str
    found: acts.Found
    fan_in: float
    fan_out: float
    glorot_kwargs: dict | None = None  # None: orthogonal (recurrent kernels)


@dataclasses.dataclass
class Kernel:
    """A kernel variable, where its initializer attribute lives (None where the layer
    has none of its own for it), and its blocks."""

    variable: keras.Variable
    owner: object
    attr: str | None
    blocks: list[Block]
    # The taps that count (1) and those the layer masks out (0), shaped like the
    # variable: a masked convolution's. The draw is multiplied by it.
    mask: object = None


# ---------------------------------------------------------------------------
# Which kernels a layer of each kind holds, with their true fans.


def dense_kernels(layer, found) -> list[Kernel]:
    fan_in, fan_out = compute_fans(layer.kernel.shape)
    return [
        Kernel(
            layer.kernel,
            layer,
            "kernel_initializer",
            [Block("kernel", found, fan_in, fan_out, {})],
        )
    ]


def _strides(layer) -> tuple[int, ...]:
    return tuple(int(v) for v in getattr(layer, "strides", None) or ())


def conv_kernels(layer, found) -> list[Kernel]:
    groups = int(getattr(layer, "groups", 1) or 1)
    strides = _strides(layer)
    fan_in, fan_out = grouped_conv_fans(layer.kernel.shape, groups, strides)
    # Axes cannot say "divide fan_out by groups or strides": explicit fans do.
    plain = groups == 1 and all(s == 1 for s in strides)
    extra = {} if plain else {"fan_in": fan_in, "fan_out": fan_out}
    block = Block("kernel", found, fan_in, fan_out, extra)
    return [Kernel(layer.kernel, layer, "kernel_initializer", [block])]


def _depthwise_block(kernel, found, strides) -> Block:
    fan_in, fan_out = depthwise_fans(kernel.shape, strides)
    return Block("depthwise", found, fan_in, fan_out, {"fan_in": fan_in, "fan_out": fan_out})


def depthwise_kernels(layer, found) -> list[Kernel]:
    block = _depthwise_block(layer.kernel, found, _strides(layer))
    return [Kernel(layer.kernel, layer, "depthwise_initializer", [block])]


def separable_kernels(layer, found) -> list[Kernel]:
    # The depthwise part (which carries the strides) feeds the pointwise kernel
    # linearly: gain 1.
    linear = acts.Found(label="linear: feeds the pointwise kernel")
    depthwise = _depthwise_block(layer.depthwise_kernel, linear, _strides(layer))
    fan_in, fan_out = compute_fans(layer.pointwise_kernel.shape)
    pointwise = Block("pointwise", found, fan_in, fan_out, {})
    return [
        Kernel(layer.depthwise_kernel, layer, "depthwise_initializer", [depthwise]),
        Kernel(layer.pointwise_kernel, layer, "pointwise_initializer", [pointwise]),
    ]


def transposed_kernels(layer, found) -> list[Kernel]:
    strides = _strides(layer)
    if all(s == 1 for s in strides):
        input_axes, output_axes = transposed_conv_axes(len(layer.kernel.shape))
        fan_in, fan_out = compute_fans(layer.kernel.shape, input_axes, output_axes)
        extra = {"input_axes": input_axes, "output_axes": output_axes}
    else:
        fan_in, fan_out = transposed_conv_fans(layer.kernel.shape, strides)
        extra = {"fan_in": fan_in, "fan_out": fan_out}
    block = Block("kernel", found, fan_in, fan_out, extra)
    return [Kernel(layer.kernel, layer, "kernel_initializer", [block])]


def einsum_kernels(layer, found) -> list[Kernel]:
    input_axes, output_axes = einsum_kernel_axes(layer.equation)
    if not input_axes or not output_axes:
        raise Skip(f"equation {layer.equation!r} has no summed or no output kernel axis")
    fan_in, fan_out = compute_fans(layer.kernel.shape, input_axes, output_axes)
    axes = {"input_axes": input_axes, "output_axes": output_axes}
    block = Block("kernel", found, fan_in, fan_out, axes)
    return [Kernel(layer.kernel, layer, "kernel_initializer", [block])]


def attention_kernels(layer, found) -> list[Kernel]:
    # Query, key and value feed the attention logits and softmax weights
    # linearly; the output projection's activation is whatever follows the layer.
    linear = acts.Found(label="linear: attention projection (MultiHeadAttention)")
    kernels = []
    for name in ATTENTION_PARTS:
        sub = getattr(layer, name)
        for k in einsum_kernels(sub, found if name == "output_dense" else linear):
            k.blocks[0].part = name.replace("_dense", "")
            kernels.append(k)
    return kernels


# Each gated-cell pre-activation sums an input path and a recurrent path
# (docs/derivation.md, "Recurrent cells"): each gets half of the second moment.
PATH_SHARE = 0.5**0.5


def _gate_activations(layer) -> list[tuple[str, acts.Found]]:
    """Per gate block, the ``Found`` its input and recurrent kernels are drawn with.

    A gate's output (and an LSTM's candidate) multiplies a state and feeds no
    kernel, so no activation gain applies: its pre-activation is kept at unit
    variance, near the sensitive range of the sigmoid and tanh, both paths
    counted (gain 1 shared as 1/sqrt(2) each). A ``SimpleRNN``'s output feeds the
    next kernels and its own recurrent kernel, so it keeps its activation's gain,
    shared by the two paths in the same way.
    """
    cell = layer.cell
    both = "input and recurrent paths add: each x 1/sqrt(2)"
    if isinstance(layer, keras.layers.SimpleRNN):
        act = acts.from_function(cell.activation, "cell activation")
        label = f"{act.label}; {both}"
        return [("h", dataclasses.replace(act, scale=act.scale * PATH_SHARE, label=label))]

    def multiplies(what: str) -> acts.Found:
        label = f"linear: {what} multiplies a state, feeds no kernel; {both}"
        return acts.Found(label=label, scale=PATH_SHARE)

    gate = multiplies("gate")
    if isinstance(layer, keras.layers.GRU):
        # h = z h + (1 - z) h~: the candidate is multiplied by 1 - z as well.
        return [("z", gate), ("r", gate), ("h", multiplies("candidate"))]
    return [("i", gate), ("f", gate), ("c", multiplies("candidate")), ("o", gate)]


def rnn_kernels(layer, found) -> list[Kernel]:
    cell = layer.cell
    gates = _gate_activations(layer)
    units = int(cell.units)
    input_dim = int(cell.kernel.shape[0])
    inputs = [Block(f"kernel[{g}]", f, input_dim, units, {}) for g, f in gates]
    recurrent = [Block(f"recurrent[{g}]", f, units, units, None) for g, f in gates]
    return [
        Kernel(cell.kernel, cell, "kernel_initializer", inputs),
        Kernel(cell.recurrent_kernel, cell, "recurrent_initializer", recurrent),
    ]


def untied_reverse_projection(layer) -> Kernel | None:
    """The ``(hidden, vocab)`` matrix of an untied ``ReversibleEmbedding`` (Llama's,
    Mistral's and Phi-3's language-model head), or None.

    ``call(x, reverse=True)`` computes ``x @ reverse_embeddings``: a matmul that
    sums over ``hidden``, so it is drawn as a Dense kernel producing logits, linear.
    Its rows are not looked up; the lookup table ``embeddings`` is left as it is.
    The layer has one initializer for both matrices, so its config is not
    rewritten.
    """
    reverse = getattr(layer, "reverse_embeddings", None)
    if reverse is None or getattr(layer, "tie_weights", True) or len(reverse.shape) != 2:
        return None
    fan_in, fan_out = compute_fans(reverse.shape)
    found = acts.Found(label="linear: logits of the reverse projection (x @ reverse_embeddings)")
    block = Block("reverse_embeddings", found, fan_in, fan_out, {})
    return Kernel(reverse, layer, None, [block])


def _attribute(layer, path: str):
    return functools.reduce(getattr, path.split("."), layer)


def masked_fans(mask) -> tuple[float, float]:
    """The fans of a masked kernel: the taps that count, per output and per input
    (the mean over them where rows keep different numbers of taps)."""
    mask = np.asarray(mask, dtype=bool)
    taps = float(mask.sum())
    return taps / mask.shape[-1], taps / mask.shape[-2]


def registered_kernels(
    attrs: tuple[str, ...], fans: Callable | None, mask: Callable | None = None
) -> Callable:
    def kernels(layer, found) -> list[Kernel]:
        out = []
        for attr in attrs:
            try:
                variable = _attribute(layer, attr)
            except AttributeError:
                variable = None
            if not isinstance(variable, keras.Variable):
                raise Skip(
                    f"registered kind {type(layer).__name__}: {attr!r} is not a variable of "
                    f"the layer (got {type(variable).__name__}), so nothing is drawn"
                )
            taps = _mask_of(layer, variable, mask)
            if fans:
                fan_in, fan_out = fans(layer, variable)
            elif taps is not None:
                fan_in, fan_out = masked_fans(taps)
            else:
                fan_in, fan_out = compute_fans(variable.shape)
            owner_path, _, name = attr.rpartition(".")
            owner = _attribute(layer, owner_path) if owner_path else layer
            init_attr = f"{name}_initializer"
            # A sublayer's own activation (``Conv2D(..., activation="relu")`` held by the
            # registered layer) follows its kernel before anything after the layer.
            own = acts.own(owner) if owner is not layer else None
            block = Block(name, own or found, fan_in, fan_out,
                          {"fan_in": fan_in, "fan_out": fan_out})  # fmt: skip
            out.append(Kernel(variable, owner, init_attr if hasattr(owner, init_attr) else None,
                              [block], mask=taps))  # fmt: skip
        return out

    return kernels


def _mask_of(layer, variable, mask: Callable | None):
    if mask is None:
        return None
    taps = np.asarray(keras.ops.convert_to_numpy(mask(layer, variable)))
    if taps.shape != tuple(variable.shape) or not np.isin(taps, (0, 1)).all():
        raise ValueError(
            f"mask of {type(layer).__name__} must give 0s and 1s shaped like "
            f"{variable.path!r} {tuple(variable.shape)}. Received: shape {taps.shape}."
        )
    return taps
