"""Whole-model initialization: layer-aware Glorot (``initialize``).

An initializer sees only a shape. ``initialize`` looks at the whole model instead:
for every kernel it finds the activation that actually follows it (the layer's
own, or an activation layer after it, possibly behind normalization or dropout)
and the true fans of its layer kind (depthwise, grouped, transposed, einsum,
recurrent gates), re-draws it with ``Glorot`` and records the initializer in the
layer's config so that saving and ``clone_model`` reproduce the scheme.

``keras_glorot.unit_variance.lsuv`` is the data-driven alternative; it shares the
layer kinds, validators and seeds defined here.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable

import keras
import numpy as np

from keras_glorot import _activations as acts
from keras_glorot._graph import PASS_THROUGH, Graph
from keras_glorot.blocks import Blocks, ByShape
from keras_glorot.fans import (
    compute_fans,
    depthwise_fans,
    einsum_kernel_axes,
    grouped_conv_fans,
    transposed_conv_axes,
    transposed_conv_fans,
)
from keras_glorot.initializers import DISTRIBUTIONS, MODES, Glorot, _validate_choice
from keras_glorot.report import InitReport, KernelRecord

_CONVS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
_SEPARABLE = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
_TRANSPOSED = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)
_RNNS = (keras.layers.SimpleRNN, keras.layers.GRU, keras.layers.LSTM)
# Layers with weights but no kernel to scale: left alone without a report row.
_NO_KERNEL = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
    keras.layers.PReLU,
)


@dataclasses.dataclass
class _Block:
    """One block of a kernel: drawn by ``Glorot`` or ``Orthogonal`` with a gain."""

    part: str
    found: acts.Found
    fan_in: float
    fan_out: float
    glorot_kwargs: dict | None = None  # None: orthogonal (recurrent kernels)


@dataclasses.dataclass
class _Kernel:
    """A kernel variable, where its initializer attribute lives, and its blocks."""

    variable: keras.Variable
    owner: object
    attr: str
    blocks: list[_Block]


# ---------------------------------------------------------------------------
# Plans: which kernels a layer has, their true fans, and the activation after them.


def _plan_dense(layer, found) -> list[_Kernel]:
    fan_in, fan_out = compute_fans(layer.kernel.shape)
    return [
        _Kernel(
            layer.kernel,
            layer,
            "kernel_initializer",
            [_Block("kernel", found, fan_in, fan_out, {})],
        )
    ]


def _strides(layer) -> tuple[int, ...]:
    return tuple(int(v) for v in getattr(layer, "strides", None) or ())


def _plan_conv(layer, found) -> list[_Kernel]:
    groups = int(getattr(layer, "groups", 1) or 1)
    strides = _strides(layer)
    fan_in, fan_out = grouped_conv_fans(layer.kernel.shape, groups, strides)
    # Axes cannot say "divide fan_out by groups or strides": explicit fans do.
    plain = groups == 1 and all(s == 1 for s in strides)
    extra = {} if plain else {"fan_in": fan_in, "fan_out": fan_out}
    block = _Block("kernel", found, fan_in, fan_out, extra)
    return [_Kernel(layer.kernel, layer, "kernel_initializer", [block])]


def _depthwise_block(kernel, found, strides) -> _Block:
    fan_in, fan_out = depthwise_fans(kernel.shape, strides)
    return _Block("depthwise", found, fan_in, fan_out, {"fan_in": fan_in, "fan_out": fan_out})


def _plan_depthwise(layer, found) -> list[_Kernel]:
    block = _depthwise_block(layer.kernel, found, _strides(layer))
    return [_Kernel(layer.kernel, layer, "depthwise_initializer", [block])]


def _plan_separable(layer, found) -> list[_Kernel]:
    # The depthwise part (which carries the strides) feeds the pointwise kernel
    # linearly: gain 1.
    linear = acts.Found(label="linear: feeds the pointwise kernel")
    depthwise = _depthwise_block(layer.depthwise_kernel, linear, _strides(layer))
    fan_in, fan_out = compute_fans(layer.pointwise_kernel.shape)
    pointwise = _Block("pointwise", found, fan_in, fan_out, {})
    return [
        _Kernel(layer.depthwise_kernel, layer, "depthwise_initializer", [depthwise]),
        _Kernel(layer.pointwise_kernel, layer, "pointwise_initializer", [pointwise]),
    ]


def _plan_transposed(layer, found) -> list[_Kernel]:
    strides = _strides(layer)
    if all(s == 1 for s in strides):
        input_axes, output_axes = transposed_conv_axes(len(layer.kernel.shape))
        fan_in, fan_out = compute_fans(layer.kernel.shape, input_axes, output_axes)
        extra = {"input_axes": input_axes, "output_axes": output_axes}
    else:
        fan_in, fan_out = transposed_conv_fans(layer.kernel.shape, strides)
        extra = {"fan_in": fan_in, "fan_out": fan_out}
    block = _Block("kernel", found, fan_in, fan_out, extra)
    return [_Kernel(layer.kernel, layer, "kernel_initializer", [block])]


def _plan_einsum(layer, found) -> list[_Kernel]:
    input_axes, output_axes = einsum_kernel_axes(layer.equation)
    if not input_axes or not output_axes:
        raise _Skip(f"equation {layer.equation!r} has no summed or no output kernel axis")
    fan_in, fan_out = compute_fans(layer.kernel.shape, input_axes, output_axes)
    axes = {"input_axes": input_axes, "output_axes": output_axes}
    block = _Block("kernel", found, fan_in, fan_out, axes)
    return [_Kernel(layer.kernel, layer, "kernel_initializer", [block])]


def _plan_attention(layer, found) -> list[_Kernel]:
    # Query, key and value feed the attention logits and softmax weights
    # linearly; the output projection's activation is whatever follows the layer.
    linear = acts.Found(label="linear: attention projection")
    kernels = []
    for name in ("query_dense", "key_dense", "value_dense", "output_dense"):
        sub = getattr(layer, name)
        for k in _plan_einsum(sub, found if name == "output_dense" else linear):
            k.blocks[0].part = name.replace("_dense", "")
            kernels.append(k)
    return kernels


def _gate_activations(layer) -> list[tuple[str, acts.Found]]:
    cell = layer.cell
    act = acts.from_function(cell.activation, "cell activation")
    if isinstance(layer, keras.layers.SimpleRNN):
        return [("h", act)]
    gate = acts.from_function(cell.recurrent_activation, "recurrent_activation")
    if isinstance(layer, keras.layers.GRU):
        return [("z", gate), ("r", gate), ("h", act)]
    return [("i", gate), ("f", gate), ("c", act), ("o", gate)]


def _plan_rnn(layer, found) -> list[_Kernel]:
    cell = layer.cell
    gates = _gate_activations(layer)
    units = int(cell.units)
    input_dim = int(cell.kernel.shape[0])
    inputs = [_Block(f"kernel[{g}]", f, input_dim, units, {}) for g, f in gates]
    recurrent = [_Block(f"recurrent[{g}]", f, units, units, None) for g, f in gates]
    return [
        _Kernel(cell.kernel, cell, "kernel_initializer", inputs),
        _Kernel(cell.recurrent_kernel, cell, "recurrent_initializer", recurrent),
    ]


class _Skip(Exception):
    """A layer ``initialize`` leaves alone, with the reason."""


_PLANS: list[tuple[tuple, Callable]] = [
    (_TRANSPOSED, _plan_transposed),
    (_SEPARABLE, _plan_separable),
    (_DEPTHWISE, _plan_depthwise),
    (_CONVS, _plan_conv),
    ((keras.layers.Dense,), _plan_dense),
    ((keras.layers.EinsumDense,), _plan_einsum),
    ((keras.layers.MultiHeadAttention,), _plan_attention),
    (_RNNS, _plan_rnn),
]


def _plan(layer, graph: Graph, node=None) -> list[_Kernel]:
    """The kernels of ``layer`` with their blocks; raises ``_Skip`` to leave it alone."""
    if isinstance(layer, keras.layers.Bidirectional):
        kernels = []
        for direction in ("forward", "backward"):
            for kernel in _plan(getattr(layer, f"{direction}_layer"), graph, layer):
                for block in kernel.blocks:
                    block.part = f"{direction}.{block.part}"
                kernels.append(kernel)
        return kernels
    if isinstance(layer, keras.layers.TimeDistributed):
        return _plan(layer.layer, graph, layer)
    if isinstance(layer, keras.layers.Embedding):
        raise _Skip("Embedding left as is (rows are looked up, not summed: no fan applies)")
    for kinds, plan in _PLANS:
        if isinstance(layer, kinds):
            found = acts.LINEAR if isinstance(layer, _RNNS) else acts.for_kernel(layer, graph, node)
            return plan(layer, found)
    raise _Skip(f"unknown layer kind {type(layer).__name__} (its weights are left as they are)")


def _needs_report(layer) -> bool:
    if isinstance(layer, _NO_KERNEL + PASS_THROUGH) or acts.from_layer(layer) is not None:
        return False
    return bool(layer.weights)


# ---------------------------------------------------------------------------
# Drawing.


def _validate_model(model) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"model must be a keras.Model (Sequential, functional or subclassed). "
            f"Received: model={model!r} of type {type(model).__name__}."
        )
    if not model.built or not model.weights:
        raise ValueError(
            f"model={model.name!r} is not built (it has no weights yet). Build it first: "
            "give it an Input, call model.build(input_shape), or call it on a batch."
        )


def _validate_seed(seed) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int or None. Received: seed={seed!r}.")
    return int(seed)


def _validate_options(mode, distribution) -> None:
    _validate_choice("mode", mode, MODES)
    _validate_choice("distribution", distribution, DISTRIBUTIONS)


class _Seeds:
    """Reproducible per-draw seeds derived from ``(seed, k)`` for the k-th draw.

    Not ``seed + k``: with that, ``seed=1`` would redraw ``seed=0``'s kernels one
    layer down, and runs over consecutive seeds would not be independent.
    ``np.random.SeedSequence`` mixes both numbers. None stays None (unseeded).
    """

    def __init__(self, seed: int | None):
        self.seed, self.count = seed, 0

    def next(self) -> int | None:
        self.count += 1
        if self.seed is None:
            return None
        state = np.random.SeedSequence([self.seed, self.count - 1]).generate_state(1)
        return int(state[0] >> 1)  # 31 bits: a valid seed on every backend.


def _block_initializer(block: _Block, options: dict, seed):
    gain = block.found.gain(options["convention"])
    if block.glorot_kwargs is None:
        return keras.initializers.Orthogonal(gain=gain, seed=seed)
    return Glorot(
        block.found.activation,
        negative_slope=block.found.negative_slope,
        seed=seed,
        **options,
        **block.glorot_kwargs,
    )


def _block_std(init, block: _Block, shape) -> float:
    if isinstance(init, Glorot):
        return init.stddev(shape)
    # Rows of an orthogonal (n, n) matrix have unit norm: mean square 1/n.
    return init.gain / math.sqrt(block.fan_in)


def _draw(kernel: _Kernel, options: dict, seeds: _Seeds, layer, report: InitReport):
    shape = tuple(int(d) for d in kernel.variable.shape)
    inits = [_block_initializer(b, options, seeds.next()) for b in kernel.blocks]
    init = inits[0] if len(inits) == 1 else Blocks(inits)
    block_shape = shape if len(inits) == 1 else init.block_shape(shape)
    kernel.variable.assign(init(shape, dtype=kernel.variable.dtype))
    setattr(kernel.owner, kernel.attr, init)
    for block, block_init in zip(kernel.blocks, inits, strict=True):
        report.add(
            KernelRecord(
                layer=layer.name,
                kind=type(layer).__name__,
                part=block.part,
                activation=block.found.label,
                fan_in=block.fan_in,
                fan_out=block.fan_out,
                gain=block.found.gain(options["convention"]),
                std=_block_std(block_init, block, block_shape),
                note="orthogonal" if block.glorot_kwargs is None else "",
            )
        )


def _record_attention_config(layer) -> str:
    """Sets the MultiHeadAttention's kernel_initializer; returns why not, or "".

    MultiHeadAttention clones one kernel_initializer into its four projections;
    ByShape lets that one config give each projection its own axes. Seeds are
    left None: a seeded clone would give query, key and value equal kernels. The
    attribute is private because Keras exposes no setter for it.
    """
    cases = {}
    for name in ("query_dense", "key_dense", "value_dense", "output_dense"):
        sub = getattr(layer, name)
        shape = tuple(int(d) for d in sub.kernel.shape)
        config = {**sub.kernel_initializer.get_config(), "seed": None}
        if shape in cases and cases[shape] != config:
            return (
                f"config not rewritten: two projections of shape {shape} need different "
                "initializers, which one kernel_initializer cannot express"
            )
        cases[shape] = config
    layer._kernel_initializer = ByShape([(s, Glorot.from_config(c)) for s, c in cases.items()])
    return ""


def initialize(
    model: keras.Model,
    *,
    mode: str = "fan_avg",
    distribution: str = "truncated_normal",
    convention: str = "moment",
    seed: int | None = None,
) -> InitReport:
    """Re-draws every kernel of a built model with its true fans and following activation.

    For each layer (nested models included), in order:

    - the activation is the layer's own ``activation``, or, when that is linear,
      the one applied by the next layer(s): ``Activation``, ``ReLU``,
      ``LeakyReLU`` (its slope), ``ELU``, ``PReLU`` (root mean square of its
      alphas), also behind ``BatchNormalization``/``LayerNormalization``/
      ``Dropout``/``Flatten``; the hard sigmoid ``relu6(x + 3) / 6`` and hard
      swish ``x * hard_sigmoid(x)`` that ``keras.applications`` (MobileNetV3)
      build from ops; softmax heads and model outputs are linear, and any other
      op after a kernel gives linear, labelled "unrecognised op".
      Subclassed models have no graph: their layers are read as a chain in
      ``model.layers`` order (the report says so).
    - the fans are the layer kind's true ones: Dense, Conv1D/2D/3D (with
      ``groups``), DepthwiseConv1D/2D (fan_in = receptive field), SeparableConv
      (depthwise part linear, pointwise part with the activation),
      Conv*DTranspose (fans swapped), EinsumDense and MultiHeadAttention (axes
      from the equation), SimpleRNN/GRU/LSTM (input kernel per gate with fan_out
      = units and the gate's activation; recurrent kernel orthogonal per gate
      with that gain), also inside ``Bidirectional`` and ``TimeDistributed``.
      With strides the fans are the mean over output positions (see
      ``keras_glorot.fans``): a convolution's fan_out and a transposed
      convolution's fan_in are divided by the product of the strides.

    The layer's ``kernel_initializer`` (and ``depthwise_initializer``,
    ``pointwise_initializer``, ``recurrent_initializer``) is set to the
    keras_glorot initializer that drew the kernel, so ``get_config``, ``.keras``
    files and ``keras.models.clone_model`` reproduce the scheme. Biases,
    normalization weights and ``Embedding`` are left as they are; unknown layers
    with weights are skipped and listed in the report.

    Args:
        model: A built ``keras.Model``.
        mode: ``"fan_avg"`` (Glorot), ``"fan_in"`` (He/LeCun) or ``"fan_out"``.
        distribution: ``"truncated_normal"``, ``"untruncated_normal"`` or ``"uniform"``.
        convention: Gain convention, ``"moment"`` or ``"pytorch"`` (see ``calculate_gain``).
        seed: An int: kernel ``k`` (gate blocks counted) is drawn with a seed
            mixed from ``(seed, k)`` by ``np.random.SeedSequence``, saved in its
            config. None: unseeded draws.

    Returns:
        An ``InitReport``: per kernel (per gate block for RNNs) the activation
        found, fans, gain and std; skipped layers with the reason.

    Example:

    >>> model = keras.Sequential([keras.Input((32, 32, 3)),
    ...     keras.layers.DepthwiseConv2D(3), keras.layers.LeakyReLU(0.1),
    ...     keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    >>> print(keras_glorot.initialize(model, seed=0))

    Reference:
    - Glorot & Bengio, 2010; He et al., 2015 (gains, fans).
    - Saxe et al., 2014, "Exact solutions to the nonlinear dynamics of learning
      in deep linear neural networks" (orthogonal recurrent kernels).
    """
    _validate_model(model)
    _validate_options(mode, distribution)
    seed = _validate_seed(seed)
    options = {"mode": mode, "distribution": distribution, "convention": convention}
    acts.Found().gain(convention)  # Validates convention before anything is drawn.
    graph, seeds, report = Graph(model), _Seeds(seed), InitReport("initialize")
    for layer, _ in graph.leaves:
        try:
            kernels = _plan(layer, graph)
        except _Skip as reason:
            if _needs_report(layer):
                report.add(KernelRecord(layer.name, type(layer).__name__, skipped=str(reason)))
            continue
        for kernel in kernels:
            _draw(kernel, options, seeds, layer, report)
        if isinstance(layer, keras.layers.MultiHeadAttention):
            note = _record_attention_config(layer)
            for record in report[layer.name] if note else []:
                record.note = note
    return report
