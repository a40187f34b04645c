"""Composite layers: the activation after a kernel that sits inside a layer's own ``call``.

A composite layer (a user's ``keras.layers.Layer`` subclass, a KerasHub
``TransformerEncoder``, a ViT MLP) holds Dense, EinsumDense, convolution or
attention sublayers and wires them in Python. ``initialize`` first reads what its
``call`` does from a trace (``keras_glorot.whole_model.trace``): then the model's graph
answers for its kernels as for any other, residual sums in ``call`` included.
Where the call cannot be traced, no graph says what follows each kernel, and
``activation_after`` reads, in this order, and the report says which:

1. ``own``: the sublayer's own ``activation``.
2. ``known layout``: the attribute under which the composite holds the sublayer,
   from the naming of KerasHub's blocks (``LAYOUT`` below): attention
   projections are linear; the output projection of attention and of a
   feed-forward block feeds the residual stream, linearly; a gated MLP's gate
   (``_feedforward_gate_dense``, Llama, Mistral, Qwen; ``gating_ffw``, Gemma)
   carries the block's ``activation`` and the up projection that multiplies it
   is linear (for independent ``g`` and ``u`` of unit second moment,
   ``E[(f(g) u)**2] = E[f(g)**2] E[u**2]``, so the gate's gain alone keeps the
   product at unit second moment); a patch embedding is linear. The last kernel
   of a feed-forward sub-block (``mlp``, ``ffn``...) is its output projection.
3. ``next sublayer``: an activation layer (``Activation``, ``ReLU``,
   ``LeakyReLU``...) assigned right after the kernel's layer in the composite.
4. ``measured``: a data-free pass (``measured_gains``): N(0, 1) inputs of the
   composite's built shape go through it twice, once as is and once with the
   kernel's output replaced by zeros; the first kernel sublayer whose input
   changes is the one the kernel feeds, and the gain is
   ``sqrt(E[y**2] / E[z**2])`` for the kernel's output ``y`` and that
   consumer's input ``z``: the gain that brings the consumer's input back to
   the second moment a linear path would give it, as ``lsuv`` does with data.
   When the kernel feeds no other kernel of the composite (its output leaves
   the composite) it is linear.

Residual streams: a block is pre-norm when it says so with a ``normalize_first``
attribute (KerasHub's ``TransformerEncoder``/``TransformerDecoder``) or is one
of the pre-norm KerasHub blocks in ``PRE_NORM``. Its output projections are the
ends of its residual branches (``residual_streams``).

Reference:
- Radford et al., 2019, "Language models are unsupervised multitask learners",
  §2.3 (GPT-2's 1/sqrt(N) on the residual output projections).
- Mishkin & Matas, 2016, "All you need is a good init" (LSUV: scaling a layer by
  its measured output variance).
- Shazeer, 2020, "GLU variants improve Transformer" (gated MLPs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math

import keras
import numpy as np

from keras_glorot.whole_model import activations as acts
from keras_glorot.whole_model import kinds
from keras_glorot.whole_model.graph import Graph, attribute_of, is_composite, sublayers
from keras_glorot.whole_model.report import InitReport
from keras_glorot.whole_model.trace import built_shape, training_required

# Attribute names of KerasHub's blocks (and common ones elsewhere) and their role.
ATTENTION = "attention projection"
OUTPUT = "output projection: feeds the residual stream"
GATE = "gate"
UP = "multiplies the gate"
PATCH = "patch embedding"
LAYOUT = {
    **dict.fromkeys(
        ("_query_dense", "_key_dense", "_value_dense", "query_dense", "key_dense",
         "value_dense", "q_proj", "k_proj", "v_proj", "query", "key", "value"),
        ATTENTION,
    ),
    **dict.fromkeys(
        ("_output_dense", "output_dense", "o_proj", "out_proj", "_feedforward_output_dense",
         "ffw_linear", "down_proj", "_self_attention_layer", "_cross_attention_layer",
         "self_attention", "cross_attention", "attention", "mha", "attn"),
        OUTPUT,
    ),
    **dict.fromkeys(("_feedforward_gate_dense", "gate_proj", "gating_ffw"), GATE),
    **dict.fromkeys(("up_proj", "gating_ffw_2"), UP),
    **dict.fromkeys(("patch_embedding", "_patch_embedding", "patch_embed"), PATCH),
}  # fmt: skip
# Sub-blocks whose last kernel is the block's output projection.
FEED_FORWARD = ("mlp", "_mlp", "ffn", "_ffn", "feedforward", "_feedforward", "ffw")
# KerasHub's gated-MLP up projection is named like a plain MLP's first layer.
_GATED_UP = "_feedforward_intermediate_dense"
# Gemma applies gelu (tanh approximation) to its gate in call(); it has no attribute.
_FIXED_GATE_ACTIVATION = {"gating_ffw": "gelu"}
PRE_NORM = (
    "LlamaTransformerDecoder", "MistralTransformerDecoder", "QwenTransformerDecoder",
    "Qwen3TransformerDecoder", "GemmaDecoderBlock", "Gemma3DecoderBlock", "ViTEncoderBlock",
    "Phi3Decoder",
)  # fmt: skip


@dataclasses.dataclass
class Place:
    """Where a nested layer sits: its composite and the attribute holding it."""

    parent: object
    attribute: str | None

    @property
    def name(self) -> str:
        return (self.attribute or "?").split("[")[0]


def place(layer, graph: Graph) -> Place | None:
    """The composite holding ``layer``, or None for a layer of a model's own graph."""
    parent = graph.composite_parent.get(id(layer))
    if parent is None:
        return None
    return Place(parent, attribute_of(parent, layer))


def _where(layer, spot: Place) -> str:
    return f"{spot.parent.name}.{spot.attribute or layer.name}"


def _role(spot: Place) -> tuple[str, object] | None:
    """(role, activation) from the known layouts, or None."""
    name = spot.name
    if name == _GATED_UP and hasattr(spot.parent, "_feedforward_gate_dense"):
        return UP, "linear"
    role = LAYOUT.get(name)
    if role == GATE:
        fixed = _FIXED_GATE_ACTIVATION.get(name)
        return GATE, fixed or getattr(spot.parent, "activation", None)
    if role is not None:
        return role, "linear"
    return None


def _last_kernel_of(composite, layer) -> bool:
    """Whether ``layer`` is the last sublayer with weights, normalizations aside."""
    kernels = [s for s in sublayers(composite) if s.weights and not kinds.is_normalization(s)]
    return bool(kernels) and kernels[-1] is layer


def activation_after(layer, graph: Graph, spot: Place) -> acts.Found:
    """The activation after ``layer``'s kernel inside its composite (module docstring)."""
    where = _where(layer, spot)
    found = acts.own(layer)
    if found is not None:
        return dataclasses.replace(found, label=f"{found.label.split(' (')[0]} (own: {where})")
    role = _role(spot)
    if role is not None:
        return _from_role(role, where)
    outer = place(spot.parent, graph)
    if outer is not None and outer.name in FEED_FORWARD and _last_kernel_of(spot.parent, layer):
        label = f"linear: {OUTPUT} (known layout: {where}, last of {outer.name})"
        return acts.Found(label=label, role="output")
    siblings = sublayers(spot.parent)
    index = next(i for i, s in enumerate(siblings) if s is layer)
    if index + 1 < len(siblings):
        after = siblings[index + 1]
        nxt = acts.from_layer(after)
        # A softmax sublayer belongs to attention's internals, not to this kernel.
        if nxt is not None and not nxt.head:
            name = nxt.label.split(" (")[0]
            label = f"{name} (next sublayer: {after.name} in {spot.parent.name})"
            return dataclasses.replace(nxt, label=label)
    return acts.Found(label=f"linear: to be measured ({where})", role="measure")


def _from_role(role: tuple[str, object], where: str) -> acts.Found:
    kind, activation = role
    if kind == GATE:
        if activation is None:
            return acts.Found(label=f"linear: gate without an activation attribute ({where})",
                              role="measure")  # fmt: skip
        found = acts.from_function(keras.activations.get(activation))
        label = f"{found.label} (known layout: {where}, gated MLP gate)"
        return dataclasses.replace(found, label=label, role="gate")
    return acts.Found(
        label=f"linear: {kind} (known layout: {where})",
        role="output" if kind == OUTPUT else "",
    )


def kernel_activation(layer, graph: Graph, node_layer=None) -> acts.Found:
    """The activation after ``layer``'s kernel: inside a composite by
    ``activation_after``, elsewhere by the model's graph (``acts.for_kernel``)."""
    spot = place(node_layer or layer, graph)
    if spot is None or graph.traced(node_layer or layer):
        return acts.for_kernel(layer, graph, node_layer)
    if node_layer is not None:
        found = acts.own(layer)
        if found is not None:
            return found
    return activation_after(node_layer or layer, graph, spot)


# ---------------------------------------------------------------------------
# Data-free measurement.


def _input_shape(composite) -> tuple | None:
    """The shape ``composite`` was built for (Keras records it), None if unknown."""
    shape = built_shape(composite)
    if shape is None:
        return None
    # A batch of 64, sequences of 16 where the length is free: with a batch of 8 the
    # gains of identical blocks spread by 10%.
    return tuple(64 if i == 0 else (16 if d is None else int(d)) for i, d in enumerate(shape))


class _Tap:
    """Hooks the kernel sublayers of a composite: their first input's and output's
    second moments, and optionally zeroes one layer's output."""

    def __init__(self, layers):
        self.layers, self.zero = layers, None
        self.inputs: dict[int, np.ndarray] = {}
        self.outputs: dict[int, float] = {}
        self.order: list[int] = []

    def __enter__(self):
        for layer in self.layers:
            object.__setattr__(layer, "call", self._hook(layer, layer.call))
        return self

    def __exit__(self, *exc):
        for layer in self.layers:
            object.__delattr__(layer, "call")

    def _hook(self, layer, original):
        def hook(*args, **kwargs):
            first = keras.tree.flatten((args, kwargs))[0]
            if id(layer) not in self.inputs:
                self.inputs[id(layer)] = np.asarray(keras.ops.convert_to_numpy(first), float)
                self.order.append(id(layer))
            out = original(*args, **kwargs)
            value = np.asarray(keras.ops.convert_to_numpy(keras.tree.flatten(out)[0]), float)
            self.outputs.setdefault(id(layer), float(np.mean(value**2)))
            return keras.ops.zeros_like(out) if self.zero is layer else out

        return hook


def _stateless(composite, x, kwargs: dict) -> None:
    """Runs ``composite`` on ``x`` without writing any variable (a counter, a seed)."""
    with keras.StatelessScope():
        composite(x, **kwargs)


def measured_gain(
    layer, spot: Place, kernel_layers: list, seed: int = 0
) -> tuple[float | None, str]:
    """The data-free gain of ``layer`` in its composite (module docstring), and a note.

    None when it cannot be measured (the composite's input shape is unknown, or its
    call fails on N(0, 1)): the caller then draws it linear and says why.
    """
    composite = spot.parent
    shape = _input_shape(composite)
    if shape is None:
        return None, "not measured: the composite's input shape is unknown"
    x = np.random.default_rng([seed, 0x4D45]).standard_normal(shape).astype("float32")
    kwargs = {"training": False} if training_required(type(composite).call) else {}
    mates = [k for k in kernel_layers if k is not layer] + [layer]
    try:
        with _Tap(mates) as tap:
            _stateless(composite, x, kwargs)
            base_inputs, order = dict(tap.inputs), list(tap.order)
            y2 = tap.outputs.get(id(layer))
            tap.inputs, tap.outputs, tap.order, tap.zero = {}, {}, [], layer
            _stateless(composite, x, kwargs)
            changed = [
                i for i in order
                if i != id(layer) and i in tap.inputs
                and not np.allclose(tap.inputs[i], base_inputs[i])
            ]  # fmt: skip
    except Exception as err:  # a composite that needs more than one tensor, say
        return None, f"not measured: the composite's call on N(0, 1) failed ({err})"
    if y2 is None:
        return None, "not measured: the kernel is not called by its composite"
    if not changed:
        return 1.0, "measured: its output leaves the composite (linear)"
    consumer = next(k for k in kernel_layers if id(k) == changed[0])
    z2 = float(np.mean(base_inputs[changed[0]] ** 2))
    if not (math.isfinite(y2) and math.isfinite(z2)) or y2 <= 0 or z2 <= 0:
        return None, f"not measured: second moments {y2:.3g}, {z2:.3g}"
    gain = _gain_at_unit_output(layer, consumer, composite, x, y2, math.sqrt(y2 / z2), kwargs)
    if gain is None:
        return None, "not measured: the consumer's input at unit output was not finite"
    return gain, f"measured: feeds {consumer.name} (data-free pass)"


def _gain_at_unit_output(layer, consumer, composite, x, y2: float, first: float, kwargs: dict):
    """``1 / sqrt(E[z**2])`` for the consumer's input ``z`` when the kernel's output has
    unit second moment: the moment gain (``calculate_gain``'s convention) of whatever
    the path applies. Measured with the kernel as drawn, ``sqrt(y2 / z2)`` is that
    only for homogeneous ops (relu, a scaling); gelu gave 1.70 for its 1.53 and tanh
    1.33 for its 1.59, because their output's second moment depends on the input's
    scale. The kernel is put back as it was."""
    kernel = getattr(layer, "kernel", None)
    if kernel is None:
        return first
    original = keras.ops.convert_to_numpy(kernel)
    try:
        kernel.assign(original / math.sqrt(y2))
        with _Tap([consumer]) as tap:
            _stateless(composite, x, kwargs)
    finally:
        kernel.assign(original)
    z = tap.inputs.get(id(consumer))
    z2 = None if z is None else float(np.mean(z**2))
    if z2 is None or not math.isfinite(z2) or z2 <= 0:
        return None
    return 1.0 / math.sqrt(z2)


def composite_kernel_layers(composite) -> list:
    """The kernel-bearing leaf layers inside ``composite``, at any depth."""
    out = []
    for layer in sublayers(composite):
        if is_composite(layer):
            out.extend(composite_kernel_layers(layer))
        elif getattr(layer, "kernel", None) is not None or isinstance(
            layer, keras.layers.MultiHeadAttention
        ):
            out.append(layer)
    return out


# ---------------------------------------------------------------------------
# Residual streams.


def block_of(layer, graph: Graph):
    """The block of ``layer``: the nearest composite holding it that knows its norm
    placement (``norm_placement``), else the outermost one below the model."""
    block, spot = None, place(layer, graph)
    while spot is not None:
        block = spot.parent
        if norm_placement(block) != "unknown":
            return block
        spot = place(block, graph)
    return block


def norm_placement(block) -> str:
    """``"pre"``, ``"post"`` or ``"unknown"`` for a block (module docstring)."""
    first = getattr(block, "normalize_first", None)
    if isinstance(first, bool):
        return "pre" if first else "post"
    return "pre" if type(block).__name__ in PRE_NORM else "unknown"


# ---------------------------------------------------------------------------
# What ``initialize`` does with nested kernels after drawing them.


def _drawn_with_role(graph: Graph, drawn: dict, role: str) -> list[tuple[object, object]]:
    """``(layer, Planned)`` of the kernels whose activation has ``role``, in layer order."""
    out = []
    for layer, _ in graph.leaves:
        for d in drawn.get(id(layer), []):
            if d.kernel.blocks[0].found.role == role:
                out.append((layer, d))
    return out


def measure(graph: Graph, drawn: dict, seed: int | None, report: InitReport) -> None:
    """Rescales every kernel whose activation was not found by its measured gain.

    The pass runs the composite with its kernels at their planned laws, drawn for the
    measurement alone and put back as they were afterwards (``initialize`` draws
    every kernel once, after planning). A kernel it cannot measure is drawn linear,
    and ``report.fallbacks`` says why.
    """
    for layer, d in _drawn_with_role(graph, drawn, "measure"):
        spot = place(layer, graph)
        mates = composite_kernel_layers(spot.parent)
        with _planned_kernels([e for m in mates for e in drawn.get(id(m), [])]):
            gain, note = measured_gain(layer, spot, mates, seed or 0)
        where = _where(layer, spot)
        if gain is None:
            for record in d.records:
                record.activation = f"linear: activation unknown, drawn linear ({where}; {note})"
                report.fallback(
                    f"{record.layer!r}: the activation after its kernel is unknown, so it is "
                    f"drawn linear ({where}; {note}). Let the composite's call() be traced, "
                    "or give the layer its activation."
                )
            continue
        d.rescale(gain**2, "")
        for record in d.records:
            record.activation = f"gain {gain:.3g} ({note}; {where})"
            record.gain = gain


@contextlib.contextmanager
def _planned_kernels(entries: list):
    """The kernels of ``entries`` drawn at their planned laws, then put back as they were.

    Each is drawn by a copy of its planned initializer (same config, same values): the
    planned one is called once, by ``initialize``'s commit, and so never warns that it
    was called twice.
    """
    originals = [(e.kernel.variable, e.kernel.variable.numpy()) for e in entries]
    try:
        for e in entries:
            law = type(e.init).from_config(e.init.get_config())
            e.kernel.variable.assign(law(e.shape, dtype=e.kernel.variable.dtype))
        yield
    finally:
        for variable, value in originals:
            variable.assign(value)


def own_weights(graph: Graph, report) -> None:
    """Rows for weights a composite holds itself (a ViT's class token), left as they are."""
    from keras_glorot.whole_model.report import KernelRecord

    seen = set()
    for _, container in graph.leaves:
        if isinstance(container, keras.Model) or id(container) in seen:
            continue
        seen.add(id(container))
        inner = {id(w) for s in sublayers(container) for w in s.weights}
        for weight in container.weights:
            if id(weight) not in inner:
                reason = "a weight of the composite itself, not of a sublayer: left as it is"
                report.add(KernelRecord(weight.path, type(container).__name__, skipped=reason))


def residual_streams(policy: str, graph: Graph, drawn: dict, report) -> None:
    """Applies ``policy`` to the output projections of pre-norm blocks.

    ``"scaled"``: each of the N output projections (attention and feed-forward of
    every block) is scaled by ``1 / sqrt(N)``, as GPT-2 does (Radford et al. 2019,
    §2.3): with unit-gain branches fed by a normalization, each branch then adds
    ``1 / N`` of one branch's second moment, and the N branches together no more
    than one, whatever the depth. ``"fixup"`` (the default) does the same: Fixup is
    defined for norm-free branches, and a pre-norm branch's scale is set by its
    normalization. ``"zero"``: the output projections are zero, so every block
    starts as the identity (as SkipInit's alpha = 0). None leaves them.
    Post-norm blocks, and blocks whose norm placement is unknown, are left alone.
    """
    from keras_glorot.whole_model.report import MergeRecord

    ends = _drawn_with_role(graph, drawn, "output")
    blocks: dict[int, list] = {}
    for layer, d in ends:
        block = block_of(layer, graph)
        blocks.setdefault(id(block), [block]).append((layer, d))
    pre = [v for v in blocks.values() if norm_placement(v[0]) == "pre"]
    n = sum(len(v) - 1 for v in pre)
    if blocks and report.residual == "none":
        report.residual = policy
    report.depth += n
    for block, *members in blocks.values():
        names = ", ".join(graph.name_of(layer) for layer, _ in members)
        record = MergeRecord(
            getattr(block, "path", None) or block.name, "residual stream", "identity",
            names, policy,
        )  # fmt: skip
        placement = norm_placement(block)
        if placement != "pre":
            why = "post-norm: every sum is normalized" if placement == "post" else (
                "norm placement unknown (no normalize_first attribute, not a known block)"
            )  # fmt: skip
            record.action = f"nothing done: {why}"
            if placement != "post":
                report.fallback(
                    f"block {record.merge!r}: {why}, so its residual branches keep the scale of "
                    "a plain network. Let its call() be traced (keras.ops on keras.Input "
                    "tensors) to read its sums."
                )
        elif policy == "none":
            record.action = "left as drawn (residual=None)"
        else:
            factor = 0.0 if policy == "zero" else 1.0 / n
            note = "zero (residual='zero')" if policy == "zero" else (
                f"x 1/sqrt({n}) (residual='{policy}', N = {n} branch ends)"
            )  # fmt: skip
            for _, d in members:
                d.rescale(factor, note)
            record.action, record.applied = f"output projections {note}", True
        report.merges.append(record)
