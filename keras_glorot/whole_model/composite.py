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
4. ``measured``: a data-free pass (``keras_glorot.whole_model.measured``): N(0, 1) inputs of the
   composite's built shape go through it twice, once as is and once with the
   kernel's output replaced by zeros; the first kernel sublayer whose input
   changes is the one the kernel feeds, and the gain is
   ``sqrt(E[y**2] / E[z**2])`` for the kernel's output ``y`` and that
   consumer's input ``z``: the gain that brings the consumer's input back to
   the second moment a linear path would give it, as ``lsuv`` does with data.
   When the kernel feeds no other kernel of the composite (its output leaves
   the composite) it is linear.

Reference:
- Radford et al., 2019, "Language models are unsupervised multitask learners",
  §2.3 (GPT-2's 1/sqrt(N) on the residual output projections).
- Mishkin & Matas, 2016, "All you need is a good init" (LSUV: scaling a layer by
  its measured output variance).
- Shazeer, 2020, "GLU variants improve Transformer" (gated MLPs).
"""

from __future__ import annotations

import dataclasses

import keras

from keras_glorot.whole_model import activations as acts
from keras_glorot.whole_model import kinds
from keras_glorot.whole_model.graph import Graph, attribute_of, sublayers

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


def drawn_with_role(graph: Graph, drawn: dict, role: str) -> list[tuple[object, object]]:
    """``(layer, Planned)`` of the kernels whose activation has ``role``, in layer order."""
    out = []
    for layer, _ in graph.leaves:
        for d in drawn.get(id(layer), []):
            if d.kernel.blocks[0].found.role == role:
                out.append((layer, d))
    return out
