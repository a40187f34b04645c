"""Per-layer plans: which kernels a layer holds, their true fans, and the activation after them.

``initialize`` draws every kernel a plan lists with ``Glorot`` (or, for recurrent
kernels, ``Orthogonal``); ``lsuv`` and the residual analysis (``keras_glorot.whole_model.residual``)
use the same layer kinds. A plan decides, it draws nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras

from keras_glorot.fans import (
    compute_fans,
    depthwise_fans,
    einsum_kernel_axes,
    grouped_conv_fans,
    transposed_conv_axes,
    transposed_conv_fans,
)
from keras_glorot.whole_model import activations as acts
from keras_glorot.whole_model import composite
from keras_glorot.whole_model.graph import PASS_THROUGH, Graph, is_normalization

CONVS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
SEPARABLE = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
TRANSPOSED = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)
RNNS = (keras.layers.SimpleRNN, keras.layers.GRU, keras.layers.LSTM)
# MultiHeadAttention's projections (EinsumDense sublayers), in the order it calls them.
ATTENTION_PARTS = ("query_dense", "key_dense", "value_dense", "output_dense")
# Layers with weights but no kernel to scale: left alone without a report row.
# Attention and AdditiveAttention hold only a learned score scale (a scalar, or a
# vector over the features): their output is a softmax-weighted mean of the values,
# linear in them, and no kernel of theirs is drawn.
NO_KERNEL = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
    keras.layers.PReLU,
    keras.layers.Attention,
    keras.layers.AdditiveAttention,
)


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


# ---------------------------------------------------------------------------
# Plans: which kernels a layer has, their true fans, and the activation after them.


def _plan_dense(layer, found) -> list[Kernel]:
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


def _plan_conv(layer, found) -> list[Kernel]:
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


def _plan_depthwise(layer, found) -> list[Kernel]:
    block = _depthwise_block(layer.kernel, found, _strides(layer))
    return [Kernel(layer.kernel, layer, "depthwise_initializer", [block])]


def _plan_separable(layer, found) -> list[Kernel]:
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


def _plan_transposed(layer, found) -> list[Kernel]:
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


def _plan_einsum(layer, found) -> list[Kernel]:
    input_axes, output_axes = einsum_kernel_axes(layer.equation)
    if not input_axes or not output_axes:
        raise Skip(f"equation {layer.equation!r} has no summed or no output kernel axis")
    fan_in, fan_out = compute_fans(layer.kernel.shape, input_axes, output_axes)
    axes = {"input_axes": input_axes, "output_axes": output_axes}
    block = Block("kernel", found, fan_in, fan_out, axes)
    return [Kernel(layer.kernel, layer, "kernel_initializer", [block])]


def _plan_attention(layer, found) -> list[Kernel]:
    # Query, key and value feed the attention logits and softmax weights
    # linearly; the output projection's activation is whatever follows the layer.
    linear = acts.Found(label="linear: attention projection (MultiHeadAttention)")
    kernels = []
    for name in ATTENTION_PARTS:
        sub = getattr(layer, name)
        for k in _plan_einsum(sub, found if name == "output_dense" else linear):
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


def _plan_rnn(layer, found) -> list[Kernel]:
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


def _untied_reverse_projection(layer) -> Kernel | None:
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


class Skip(Exception):
    """A layer ``initialize`` leaves alone, with the reason."""


class UnknownKind(Skip):
    """A layer of a kind none of the plans knows: left alone, and a fallback."""


PLANS: list[tuple[tuple, Callable]] = [
    (TRANSPOSED, _plan_transposed),
    (SEPARABLE, _plan_separable),
    (DEPTHWISE, _plan_depthwise),
    (CONVS, _plan_conv),
    ((keras.layers.Dense,), _plan_dense),
    ((keras.layers.EinsumDense,), _plan_einsum),
    ((keras.layers.MultiHeadAttention,), _plan_attention),
    (RNNS, _plan_rnn),
]


def plan(layer, graph: Graph, node=None) -> list[Kernel]:
    """The kernels of ``layer`` with their blocks; raises ``Skip`` to leave it alone."""
    if isinstance(layer, keras.layers.Bidirectional):
        kernels = []
        for direction in ("forward", "backward"):
            for kernel in plan(getattr(layer, f"{direction}_layer"), graph, layer):
                for block in kernel.blocks:
                    block.part = f"{direction}.{block.part}"
                kernels.append(kernel)
        return kernels
    if isinstance(layer, keras.layers.TimeDistributed):
        return plan(layer.layer, graph, layer)
    reverse = _untied_reverse_projection(layer)
    if reverse is not None:
        return [reverse]
    if isinstance(layer, keras.layers.Embedding):
        raise Skip("Embedding left as is (rows are looked up, not summed: no fan applies)")
    if is_normalization(layer):
        raise Skip("normalization: no kernel (its scale and offset are left as they are)")
    for kinds, plan_kind in PLANS:
        if isinstance(layer, kinds):
            found = (
                acts.LINEAR
                if isinstance(layer, RNNS)
                else composite.kernel_activation(layer, graph, node)
            )
            return plan_kind(layer, found)
    kind = type(layer).__name__
    if "Embedding" in kind:
        raise Skip(f"{kind} left as is: an embedding by its name (rows are looked up)")
    raise UnknownKind(f"unknown layer kind {kind} (its weights are left as they are)")


def needs_report(layer) -> bool:
    """Whether a layer ``plan`` skips gets a report row: it has weights, and is not an
    activation (PReLU) or a layer without weights of its own to speak of."""
    if acts.from_layer(layer) is not None or not layer.weights:
        return False
    return is_normalization(layer) or not isinstance(layer, NO_KERNEL + PASS_THROUGH)


def has_kernel(layer) -> bool:
    """Whether ``layer`` is a kind ``plan`` draws kernels for (wrappers included)."""
    if isinstance(layer, keras.layers.Bidirectional | keras.layers.TimeDistributed):
        return has_kernel(getattr(layer, "forward_layer", None) or layer.layer)
    return any(isinstance(layer, kinds) for kinds, _ in PLANS)
