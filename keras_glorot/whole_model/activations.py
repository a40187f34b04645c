"""Which activation follows a kernel: from the layer itself or the operations after it.

The walk goes from a kernel's layer (one call's outputs) through the operations that
consume it: pass-through layers (normalization, dropout, reshapes), casts and scalings
by a constant, up to an activation (a layer, a fused ``activation``, a ``keras.ops``
node, a pattern of ops: ``patterns``), a merge, a normalization, the model's output or
an op it does not know. What it finds is a ``Found`` (``found``).
"""

from __future__ import annotations

import dataclasses

from keras_glorot.whole_model import graph as _graph
from keras_glorot.whole_model import kinds
from keras_glorot.whole_model.found import (  # noqa: F401 (the walk's vocabulary, re-exported)
    LINEAR,
    OP_ACTIVATIONS,
    SHAPE_OPS,
    Found,
    at_output,
    from_function,
    from_layer,
    from_op,
    normalized,
    own,
)
from keras_glorot.whole_model.graph import Graph
from keras_glorot.whole_model.patterns import (
    gate_at,
    ops_activation,
    with_scalar,
)


def following(layer, graph: Graph, depth: int = 0, outputs=None) -> Found:
    """The activation applied to ``layer``'s output by the operations after it.

    Walks through pass-through layers (``kinds.passes_through``: (normalization, dropout, noise,
    reshapes) and recognises the hard sigmoid and hard swish that
    keras.applications build from op nodes (``ops_activation``). Any other op
    node gives linear, labelled unrecognised. Several consumers that disagree
    give linear, with the reason. ``outputs``: only what these outputs of
    ``layer`` feed (one call of a layer called several times).
    """
    mine = _graph.outputs_of(layer) if outputs is None else outputs
    consumers = graph.next_operations(layer, outputs=mine)
    if not consumers:
        return _nothing_follows(layer, graph)
    found, claimed = [], set()
    # Patterns first: a hard swish claims its Multiply, wherever it is listed.
    for nxt in consumers:
        match = None if id(nxt) in claimed else ops_activation(nxt, graph)
        if match is not None:
            found.append(match[0])
            claimed.update(id(op) for op in match[1])
    for nxt in consumers:
        if id(nxt) in claimed:
            continue
        claimed.add(id(nxt))
        found.append(_from_consumer(nxt, graph, depth, layer, mine))
    labels = "; ".join(f.label for f in found)
    gated = [f for f in found if f.scale != 1.0]
    if gated and all(f.scale == 1.0 and f.activation == "linear" for f in found if f not in gated):
        # A squeeze-excite block: the squeeze path (pooling) reads the same output linearly.
        others = "; ".join(f.label for f in found if f not in gated)
        extra = f" [also {others}]" if others else ""
        return dataclasses.replace(gated[0], label=gated[0].label + extra)
    if all(f.activation == found[0].activation for f in found) and all(
        f.negative_slope == found[0].negative_slope for f in found
    ):
        if found[0].activation != "linear" or all(f.label == found[0].label for f in found):
            return found[0]
        # Linear for several reasons (a pooling and a gate, say): name them all.
        labels = "; ".join(f.label.removeprefix("linear: ") for f in found)
        return Found(label=f"linear: {labels}", head=all(f.head for f in found))
    return Found(label=f"linear: consumers disagree ({labels})")


def _nothing_follows(layer, graph: Graph) -> Found:
    if not graph.graph:
        return Found(label="linear: none follows [by layer order: no graph]")
    if graph.is_output(layer):
        return Found(label="linear: none follows")
    return Found(label="linear: no consumer found, yet not a model output")


def normalization_after(layer, graph: Graph, depth: int = 0, outputs=None):
    """The normalization every consumer of ``layer`` (of ``outputs``, one call's, when
    given) reaches through dropout, noise, reshapes and pooling only, or None."""
    if depth > 32 or not graph.graph or graph.is_output(layer):
        return None
    consumers = graph.next_operations(layer, outputs=outputs)
    found = []
    for nxt in consumers:
        if kinds.is_normalization(nxt):
            found.append(nxt)
        elif kinds.normalization_seen_through(nxt):
            found.append(normalization_after(nxt, graph, depth + 1))
        else:
            return None
    return found[0] if found and all(f is not None for f in found) else None


def _scaled_by_constant(operation, graph: Graph, depth: int, fed) -> Found | None:
    """What follows ``y * c`` or ``y / c`` (a scalar ``c``), with the gain divided by
    ``|c|`` (multiplied for ``/``): the scaling multiplies the second moment by ``c**2``,
    so the kernel before it compensates. None for any other op."""
    product = with_scalar(operation, "multiply")
    quotient = with_scalar(operation, "divide", scalar_second=True)
    if product is not None and product[1] != 0.0:
        constant, factor, sign = product[1], 1.0 / abs(product[1]), "x"
    elif quotient is not None and quotient[1] != 0.0:
        constant, factor, sign = quotient[1], abs(quotient[1]), "/"
    else:
        return None
    if graph.is_output(operation):  # a scaled output: nothing to give its scale back to
        return None
    after = following(operation, graph, depth + 1, _graph.outputs_fed_by(operation, fed))
    label = f"{after.label} [after {sign} {constant:g} at {operation.name!r}: gain x {factor:.4g}]"
    return dataclasses.replace(after, scale=after.scale * factor, label=label)


def _from_consumer(nxt, graph: Graph, depth: int, source=None, fed=()) -> Found:
    """What ``nxt``, fed the tensors ``fed`` (``source``'s outputs), applies to them."""
    onward = _graph.outputs_fed_by(nxt, list(fed))
    gate = gate_at(nxt, source, graph) if source is not None else None
    if gate is not None:
        return gate
    op_act = from_op(nxt)
    if op_act is not None and graph.graph and graph.is_output(nxt):
        return at_output(op_act)
    if op_act is not None:
        return _gated_after(op_act, nxt, graph, direct=depth == 0)
    scaled = _scaled_by_constant(nxt, graph, depth, list(fed))
    if scaled is not None:
        return scaled
    if type(nxt).__name__ in SHAPE_OPS and not _graph.is_layer(nxt) and depth < 32:
        # A cast, reshape or transpose moves values without changing them.
        return following(nxt, graph, depth + 1, onward)
    if not _graph.is_layer(nxt) and _graph.merge_inputs(nxt):
        return Found(label=f"linear: added to another path at {nxt.name!r}")
    if not _graph.is_layer(nxt):
        return Found(label=f"linear: unrecognised op {type(nxt).__name__} {nxt.name!r} follows")
    if kinds.is_normalization(nxt):
        after = following(nxt, graph, depth + 1, onward)
        return normalized(after, f"{type(nxt).__name__} {nxt.name!r}")
    act = from_layer(nxt)
    if act is not None and act.activation != "linear" and graph.graph and graph.is_output(nxt):
        return at_output(act)
    if act is not None and act.activation != "linear":
        # Whatever the activation: a normalization after it sets the next kernel's input
        # (docs/derivation.md, "A kernel under normalization"; measured on ConvMixer).
        norm = normalization_after(nxt, graph)
        if norm is not None:
            return normalized(act, f"{act.label}, then {type(norm).__name__} {norm.name!r},")
        return _gated_after(act, nxt, graph, direct=depth == 0)
    if act is None and kinds.passes_through(nxt) and depth < 32:
        act = following(nxt, graph, depth + 1, onward)
    if act is None:
        act = Found(label=f"linear: followed by {type(nxt).__name__} {nxt.name!r}")
    return act


def _gated_after(act: Found, layer, graph: Graph, direct: bool) -> Found:
    """``act`` (applied by ``layer``, or fused in it), with the compensation for a
    squeeze-excite gate that multiplies ``layer``'s output (``gate_at``).

    Only when the activation follows the kernel directly: after a normalization
    the kernel's scale does not reach the gate, so the gate is only named.
    """
    if not graph.graph or graph.is_output(layer):
        return act
    for consumer in graph.next_operations(layer):
        gate = gate_at(consumer, layer, graph)
        if gate is None:
            continue
        gated = gate.label.split(": ", 1)[1]
        if direct:
            return dataclasses.replace(act, label=f"{act.label}, x 2: {gated}", scale=gate.scale)
        return dataclasses.replace(
            act, label=f"{act.label}; then {gated}: not compensated (a layer between "
            "the kernel and its activation, such as a normalization, sets the scale)",
        )  # fmt: skip
    return act


def for_kernel(layer, graph: Graph, node_layer=None) -> Found:
    """The activation after ``layer``'s kernel: its own, else the following one.

    ``node_layer`` is the layer that sits in the graph when ``layer`` is wrapped
    (``TimeDistributed``, ``Bidirectional``).
    """
    found = own(layer)
    if found is not None and graph.graph and graph.is_output(node_layer or layer):
        return at_output(found)
    if found is not None:
        norm = normalization_after(node_layer or layer, graph)
        if norm is not None:
            return normalized(
                found, f"own {found.label}, then {type(norm).__name__} {norm.name!r},"
            )
        return _gated_after(found, node_layer or layer, graph, direct=True)
    found = following(node_layer or layer, graph)
    if not graph.graph and found.activation != "linear":
        found = dataclasses.replace(found, label=f"{found.label} [by layer order: no graph]")
    return found
