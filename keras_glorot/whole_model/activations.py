"""Which activation follows a kernel: from the layer itself or the layers after it."""

from __future__ import annotations

import dataclasses
import math
import numbers

import keras
import numpy as np

from keras_glorot import gains
from keras_glorot.whole_model import graph as _graph
from keras_glorot.whole_model.graph import PASS_THROUGH, Graph

_SOFTMAX_FAMILY = ("softmax", "log_softmax", "sparsemax")


@keras.saving.register_keras_serializable(package="keras_glorot")
class LayerActivation:
    """An activation layer used as an elementwise function, so a gain can be computed.

    For activation layers with parameters no Keras activation name expresses
    (``ELU(alpha=0.5)``, ``ReLU(max_value=3.0, threshold=0.1)``), so that the
    initializer's config can name the exact function.

    Args:
        layer: A Keras activation layer, or its serialized config.

    Example:

    >>> f = LayerActivation(keras.layers.ELU(alpha=0.5))
    >>> init = keras_glorot.Glorot(f)
    """

    def __init__(self, layer):
        if isinstance(layer, dict):
            layer = keras.saving.deserialize_keras_object(layer)
        self.layer = layer

    def __call__(self, x):
        return self.layer(x)

    def get_config(self) -> dict:
        return {"layer": keras.saving.serialize_keras_object(self.layer)}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


@dataclasses.dataclass(frozen=True)
class Found:
    """An activation found for a kernel.

    ``activation``/``negative_slope`` are what ``Glorot`` takes; ``label`` says what
    was found and where. ``role`` is set inside composite layers
    (``keras_glorot.whole_model.composite``): ``"output"`` for a residual branch's output
    projection, ``"gate"``, or ``"measure"`` for a kernel whose gain is measured.
    """

    activation: object = "linear"
    negative_slope: float = 0.2
    label: str = "linear"
    head: bool = False
    role: str = ""
    # A factor on the gain for what the path does besides the activation: 2 when a
    # squeeze-excite gate, about 1/2 at initialization, multiplies the output.
    scale: float = 1.0
    # A normalization follows (behind positively homogeneous ops only): the forward
    # pass cannot see the kernel's scale, which then sets only its step size.
    normalized: bool = False

    def gain(self, convention: str) -> float:
        return self.scale * gains.calculate_gain(
            self.activation, negative_slope=self.negative_slope, convention=convention
        )


LINEAR = Found()


def from_function(fn, where: str = "") -> Found:
    """A ``Found`` for an activation function (a layer's ``activation`` attribute)."""
    suffix = f" ({where})" if where else ""
    name = gains.activation_name(fn)
    if name == "linear":
        return LINEAR
    if name in _SOFTMAX_FAMILY:
        # Normalizes its input: no kernel reads it at unit gain (a head, attention).
        return Found(label=f"linear: {name} follows{suffix}", head=True)
    if name == "leaky_relu":
        return Found("leaky_relu", 0.2, f"leaky_relu(0.2){suffix}")
    try:
        gains.calculate_gain(fn)
    except ValueError as err:
        return Found(label=f"linear: {name or fn} has no gain{suffix}: {err}")
    return Found(name or fn, 0.2, f"{name or getattr(fn, '__name__', fn)}{suffix}")


def from_layer(layer) -> Found | None:
    """The activation an activation layer applies; None for other layers."""
    where = f"{type(layer).__name__} {layer.name!r}"
    if isinstance(layer, keras.layers.Activation):
        return from_function(layer.activation, where)
    if isinstance(layer, keras.layers.Softmax):
        return Found(label=f"linear: softmax follows ({where})", head=True)
    if isinstance(layer, keras.layers.LeakyReLU):
        slope = float(layer.negative_slope)
        return Found("leaky_relu", slope, f"leaky_relu({slope:g}) ({where})")
    if isinstance(layer, keras.layers.PReLU):
        return _prelu(layer, where)
    if isinstance(layer, keras.layers.ReLU):
        return _relu(layer, where)
    if isinstance(layer, keras.layers.ELU):
        if float(layer.alpha) == 1.0:
            return Found("elu", 0.2, f"elu ({where})")
        return Found(LayerActivation(layer), 0.2, f"elu(alpha={float(layer.alpha):g}) ({where})")
    return None


def _prelu(layer, where: str) -> Found:
    # The gain depends on the slope only through a**2 (E[f(z)^2] = (1 + a^2) / 2
    # per unit), so the root mean square of the learned alphas is exact on average.
    alpha = np.asarray(keras.ops.convert_to_numpy(layer.alpha), dtype=np.float64)
    rms = float(math.sqrt(np.mean(alpha**2)))
    return Found("leaky_relu", rms, f"leaky_relu(rms alpha={rms:.3g}) ({where})")


def _relu(layer, where: str) -> Found:
    slope = float(layer.negative_slope)
    if layer.max_value is None and float(layer.threshold) == 0.0:
        if slope == 0.0:
            return Found("relu", 0.2, f"relu ({where})")
        return Found("leaky_relu", slope, f"leaky_relu({slope:g}) ({where})")
    params = {"threshold": float(layer.threshold), "negative_slope": slope}
    if layer.max_value is not None:
        params = {"max_value": float(layer.max_value), **params}
    args = ", ".join(f"{k}={v:g}" for k, v in params.items() if v or k == "max_value")
    return Found(LayerActivation(layer), 0.2, f"relu({args}) ({where})")


def at_output(found: Found) -> Found:
    """Linear, for an activation applied at the model's output (docs/derivation.md, "The
    output kernel").

    A gain keeps the second moment of the next kernel's input; at the output there
    is no next kernel. The activation there is the loss's link (sigmoid for binary
    cross-entropy, softmax for cross-entropy, tanh for data in [-1, 1]), and what
    matters is its input: at unit gain the pre-activation keeps the scale of a
    linear layer's output, so a sigmoid or tanh starts in its sensitive range
    instead of 3.6x (sigmoid's gain squared) further out.
    """
    name = found.label.split(" (")[0].removeprefix("linear: ").removesuffix(" follows")
    return Found(label=f"linear: {name} at the model output (the loss's link)", head=True)


def own(layer) -> Found | None:
    """The activation fused into ``layer`` (its ``activation``), None when linear."""
    fn = getattr(layer, "activation", None)
    if fn is None or not callable(fn):
        return None
    found = from_function(fn, "own")
    return None if found is LINEAR else found


def following(layer, graph: Graph, depth: int = 0, outputs=None) -> Found:
    """The activation applied to ``layer``'s output by the operations after it.

    Walks through ``PASS_THROUGH`` layers (normalization, dropout, noise,
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


# Positively homogeneous: f(c z) = c f(z) for c > 0, so a kernel's scale passes
# through them to a normalization after them.
HOMOGENEOUS = ("linear", "relu", "leaky_relu")


def normalized(found: Found, label: str) -> Found:
    """Linear with Keras' default scale (``Glorot("linear")``, fan_avg) for a kernel that
    a normalization follows (docs/derivation.md, "A kernel under normalization").

    The normalization divides by the kernel's scale, so the forward pass is the same
    whatever the gain; the gradient relative to the weight is proportional to
    1/scale**2 (Arora et al. 2019; van Laarhoven 2017), so a gain above 1 only
    shrinks the first steps.
    """
    then = "" if found.activation == "linear" else f"; then {found.label}"
    text = f"linear: {label} follows, Keras' default scale kept (it sets only the step){then}"
    return Found(label=text, normalized=True)


def normalization_after(layer, graph: Graph, depth: int = 0, outputs=None):
    """The normalization every consumer of ``layer`` (of ``outputs``, one call's, when
    given) reaches through dropout, noise and reshapes only, or None."""
    if depth > 32 or not graph.graph or graph.is_output(layer):
        return None
    consumers = graph.next_operations(layer, outputs=outputs)
    found = []
    for nxt in consumers:
        if _graph.is_normalization(nxt):
            found.append(nxt)
        elif isinstance(nxt, PASS_THROUGH):
            found.append(normalization_after(nxt, graph, depth + 1))
        else:
            return None
    return found[0] if found and all(f is not None for f in found) else None


# Keras' elementwise activation ops (``keras.ops.relu(x)``, ``keras.activations.gelu``
# on a symbolic tensor) by class name, and the activation each computes.
OP_ACTIVATIONS = {
    "Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Gelu": "gelu", "Silu": "silu",
    "Elu": "elu", "Selu": "selu", "Softplus": "softplus", "Softsign": "softsign",
    "LeakyRelu": "leaky_relu", "HardSigmoid": "hard_sigmoid", "HardSilu": "hard_silu",
    "Mish": "mish",
}  # fmt: skip


# Keras op nodes that move or retype values without changing them: what follows
# them follows the kernel.
SHAPE_OPS = ("Cast", "Reshape", "Transpose", "ExpandDims", "Squeeze")


def from_op(operation) -> Found | None:
    """The activation a Keras op node applies elementwise (``keras.ops.relu``...), or None."""
    if _graph.is_layer(operation) or not type(operation).__module__.startswith("keras."):
        return None
    name = OP_ACTIVATIONS.get(type(operation).__name__)
    if name is None:
        return None
    where = f"op {type(operation).__name__} {operation.name!r}"
    if name == "leaky_relu":
        slope = float(getattr(operation, "negative_slope", 0.2))
        return Found("leaky_relu", slope, f"leaky_relu({slope:g}) ({where})")
    return Found(name, 0.2, f"{name} ({where})")


def _scaled_by_constant(operation, graph: Graph, depth: int, fed) -> Found | None:
    """What follows ``y * c`` or ``y / c`` (a scalar ``c``), with the gain divided by
    ``|c|`` (multiplied for ``/``): the scaling multiplies the second moment by ``c**2``,
    so the kernel before it compensates. None for any other op."""
    product = _with_scalar(operation, "multiply")
    quotient = _with_scalar(operation, "divide", scalar_second=True)
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
    gate = _gate_at(nxt, source, graph) if source is not None else None
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
    if _graph.is_normalization(nxt):
        after = following(nxt, graph, depth + 1, onward)
        return normalized(after, f"{type(nxt).__name__} {nxt.name!r}")
    act = from_layer(nxt)
    if act is not None and act.activation != "linear" and graph.graph and graph.is_output(nxt):
        return at_output(act)
    if act is not None and act.activation != "linear":
        norm = normalization_after(nxt, graph) if act.activation in HOMOGENEOUS else None
        if norm is not None:
            return normalized(act, f"{act.label}, then {type(norm).__name__} {norm.name!r},")
        return _gated_after(act, nxt, graph, direct=depth == 0)
    if act is None and isinstance(nxt, PASS_THROUGH) and depth < 32:
        act = following(nxt, graph, depth + 1, onward)
    if act is None:
        act = Found(label=f"linear: followed by {type(nxt).__name__} {nxt.name!r}")
    return act


def _gated_after(act: Found, layer, graph: Graph, direct: bool) -> Found:
    """``act`` (applied by ``layer``, or fused in it), with the compensation for a
    squeeze-excite gate that multiplies ``layer``'s output (``_gate_at``).

    Only when the activation follows the kernel directly: after a normalization
    the kernel's scale does not reach the gate, so the gate is only named.
    """
    if not graph.graph or graph.is_output(layer):
        return act
    for consumer in graph.next_operations(layer):
        gate = _gate_at(consumer, layer, graph)
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


# ---------------------------------------------------------------------------
# Squeeze-excite gates.

GATES = ("sigmoid", "hard_sigmoid")
GATE_COMPENSATION = 2.0


def _gate_at(nxt, source, graph: Graph) -> Found | None:
    """A gain compensation when ``nxt`` multiplies ``source``'s output by a gate.

    A squeeze-excite block (Hu et al. 2018) multiplies a feature map by
    ``sigmoid(z)`` or ``hard_sigmoid(z)`` of a pooled path, ``z`` a small kernel's
    output. At initialization the gate sits near its centre, 1/2 (exactly 1/2 at
    ``z = 0``), so the product keeps about a quarter of the second moment: the
    kernel before the gate gets the gain times 2. It is the centre value: for
    ``z ~ N(0, q)``, ``E[sigmoid(z)**2]`` is 0.25 + 0.043 q for small q (0.29 at
    q = 1), so the compensated path ends slightly above unit variance.
    """
    if not (isinstance(nxt, keras.layers.Multiply) or _graph.op_kind(nxt) == "multiply"):
        return None
    operands = _graph.operands(nxt, keras.layers.Multiply, "multiply") or []
    mine = _graph.outputs_of(source)
    others = [t for t in operands if isinstance(t, keras.KerasTensor)]
    others = [t for t in others if not any(t is o for o in mine)]
    if len(others) != 1 or len(others) == len(operands):
        return None
    gate = _gate_name(_graph.producer_of(others[0]), graph)
    if gate is None:
        return None
    label = (
        f"linear x {GATE_COMPENSATION:g}: gated by {gate} at {nxt.name!r} "
        "(about 1/2 at initialization)"
    )
    return Found(label=label, scale=GATE_COMPENSATION)


def _gate_name(producer, graph: Graph) -> str | None:
    """How ``producer``'s output is a sigmoid-like gate, or None."""
    if producer is None:
        return None
    if _graph.is_layer(producer):
        found = from_layer(producer) or own(producer)
        if found is not None and gains.activation_name(found.activation) in GATES:
            return f"{gains.activation_name(found.activation)} ({producer.name!r})"
        return None
    # An ops-built hard sigmoid ends in its scaling op: walk back to its "+ 3".
    relu = _graph.producer_of((_graph.inputs_of(producer) or [None])[0])
    add = _graph.producer_of((_graph.inputs_of(relu) or [None])[0]) if relu else None
    if add is not None and _hard_sigmoid_chain(add, graph) is not None:
        return f"hard_sigmoid (relu6(x + 3) / 6 ending at {producer.name!r})"
    return None


# ---------------------------------------------------------------------------
# Activations built from op nodes (keras.applications.MobileNetV3's hard_sigmoid).


def ops_activation(first, graph: Graph) -> tuple[Found, list] | None:
    """An activation built from op nodes, starting at ``first``, a consumer of the source.

    Recognised: ``relu6(x + 3) * (1 / 6)`` or ``relu6(x + 3) / 6``, Keras'
    ``hard_sigmoid`` (MobileNetV3 builds it so), and ``x * hard_sigmoid(x)``,
    Keras' ``hard_silu`` (alias ``hard_swish``). The constants, the wiring and
    that no intermediate result is used elsewhere are all checked; anything else
    gives None. Returns the ``Found`` and the consumers of the source it covers.
    """
    chain = _hard_sigmoid_chain(first, graph)
    if chain is None:
        return None
    x, ops = chain
    names = " -> ".join(repr(op.name) for op in ops)
    gate = _single_consumer(ops[-1], graph)
    if gate is not None and _is_product_of(gate, x, _graph.outputs_of(ops[-1])):
        names = f"{names} -> {gate.name!r}"
        return Found("hard_silu", 0.2, f"hard_silu (x * relu6(x + 3) / 6: {names})"), [first, gate]
    return Found("hard_sigmoid", 0.2, f"hard_sigmoid (relu6(x + 3) / 6: {names})"), [first]


def _hard_sigmoid_chain(first, graph: Graph) -> tuple[object, list] | None:
    """``(x, [add, relu6, scale])`` when ``first`` starts ``relu6(x + 3) / 6``.

    ``first`` consumes the source, so its one tensor argument ``x`` is the
    source's output (or, in a nested model, the input that output feeds).
    """
    add = _with_scalar(first, "add")
    if add is None or not _near(add[1], 3.0):
        return None
    relu = _single_consumer(first, graph)
    if relu is None or not _is_relu6(relu):
        return None
    scale = _single_consumer(relu, graph)
    if scale is None:
        return None
    relu_out = _graph.outputs_of(relu)
    product = _with_scalar(scale, "multiply")
    quotient = _with_scalar(scale, "divide", scalar_second=True)
    if product is not None and _near(product[1], 1.0 / 6.0) and product[0] is relu_out[0]:
        return add[0], [first, relu, scale]
    if quotient is not None and _near(quotient[1], 6.0) and quotient[0] is relu_out[0]:
        return add[0], [first, relu, scale]
    return None


def _single_consumer(operation, graph: Graph):
    """The one operation that uses ``operation``'s single output, else None."""
    if len(_graph.outputs_of(operation)) != 1 or graph.is_output(operation):
        return None
    consumers = graph.next_operations(operation)
    return consumers[0] if len(consumers) == 1 else None


def _with_scalar(operation, kind: str, scalar_second: bool = False):
    """``(tensor, constant)`` when ``operation`` is the ``kind`` op of one tensor and one scalar."""
    if _graph.is_layer(operation) or _graph.op_kind(operation) != kind:
        return None
    arguments = _graph.call_arguments(operation)
    if arguments is None or arguments[1] or len(arguments[0]) != 2:
        return None
    a, b = arguments[0]
    orders = [(a, b)] if scalar_second else [(a, b), (b, a)]
    for tensor, constant in orders:
        value = _scalar(constant)
        if value is not None and isinstance(tensor, keras.KerasTensor):
            return tensor, value
    return None


def _scalar(value) -> float | None:
    """A Python or NumPy real scalar as a float; None for tensors, arrays and the rest."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        return float(value)
    return None


def _near(value: float, target: float) -> bool:
    # float32(1/6) is 1/6 to a relative 2e-7: 1e-6 accepts it, and no other constant.
    return math.isclose(value, target, rel_tol=1e-6)


def _is_relu6(operation) -> bool:
    """Whether ``operation`` computes ``min(max(t, 0), 6)`` of its one input ``t``."""
    if len(_graph.inputs_of(operation)) != 1:
        return False
    if isinstance(operation, keras.layers.ReLU):
        return (
            operation.max_value is not None
            and float(operation.max_value) == 6.0
            and float(operation.threshold) == 0.0
            and float(operation.negative_slope) == 0.0
        )
    if isinstance(operation, keras.layers.Activation):
        return gains.activation_name(operation.activation) == "relu6"
    if _graph.is_layer(operation) or _graph.op_kind(operation) != "relu6":
        return False
    arguments = _graph.call_arguments(operation)
    return arguments is not None and len(arguments[0]) == 1 and not arguments[1]


def _is_product_of(operation, x, gate_outputs: list) -> bool:
    """Whether ``operation`` multiplies exactly ``x`` by the gate's output, nothing else."""
    if len(gate_outputs) != 1:
        return False
    factors = _graph.operands(operation, keras.layers.Multiply, "multiply")
    if factors is None or len(factors) != 2:
        return False
    a, b = factors
    gate = gate_outputs[0]
    return (a is x and b is gate) or (a is gate and b is x)


def for_kernel(layer, graph: Graph, node_layer=None) -> Found:
    """The activation after ``layer``'s kernel: its own, else the following one.

    ``node_layer`` is the layer that sits in the graph when ``layer`` is wrapped
    (``TimeDistributed``, ``Bidirectional``).
    """
    found = own(layer)
    if found is not None and graph.graph and graph.is_output(node_layer or layer):
        return at_output(found)
    if found is not None:
        norm = None
        if found.activation in HOMOGENEOUS:
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
