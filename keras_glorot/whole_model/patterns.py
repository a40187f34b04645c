"""Patterns of several ops after a kernel: squeeze-excite gates that multiply it, and
activations that ``keras.applications`` build from op nodes (the hard sigmoid
``relu6(x + 3) / 6`` and hard swish ``x * hard_sigmoid(x)`` of MobileNetV3).

Each pattern is recognised from the op nodes' kinds, constants and wiring, never from
names; anything else gives None, and the walk in ``activations`` reads the op as it is.
"""

from __future__ import annotations

import math
import numbers

import keras
import numpy as np

from keras_glorot import gains
from keras_glorot.whole_model import graph as _graph
from keras_glorot.whole_model.found import Found, at_output, from_layer, own
from keras_glorot.whole_model.graph import Graph

# ---------------------------------------------------------------------------
# Squeeze-excite gates.

GATES = ("sigmoid", "hard_sigmoid")
GATE_COMPENSATION = 2.0


def gate_at(nxt, source, graph: Graph) -> Found | None:
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
    gives None. Returns the ``Found`` (linear when it makes the model's output: the
    loss's link) and the consumers of the source it covers.
    """
    chain = _hard_sigmoid_chain(first, graph)
    if chain is None:
        return None
    x, ops = chain
    names = " -> ".join(repr(op.name) for op in ops)
    gate = _single_consumer(ops[-1], graph)
    if gate is not None and _is_product_of(gate, x, _graph.outputs_of(ops[-1])):
        names = f"{names} -> {gate.name!r}"
        found = Found("hard_silu", 0.2, f"hard_silu (x * relu6(x + 3) / 6: {names})")
        claimed, last = [first, gate], gate
    else:
        found = Found("hard_sigmoid", 0.2, f"hard_sigmoid (relu6(x + 3) / 6: {names})")
        claimed, last = [first], ops[-1]
    if graph.graph and graph.is_output(last):
        found = at_output(found)
    return found, claimed


def _hard_sigmoid_chain(first, graph: Graph) -> tuple[object, list] | None:
    """``(x, [add, relu6, scale])`` when ``first`` starts ``relu6(x + 3) / 6``.

    ``first`` consumes the source, so its one tensor argument ``x`` is the
    source's output (or, in a nested model, the input that output feeds).
    """
    add = with_scalar(first, "add")
    if add is None or not _near(add[1], 3.0):
        return None
    relu = _single_consumer(first, graph)
    if relu is None or not _is_relu6(relu):
        return None
    scale = _single_consumer(relu, graph)
    if scale is None:
        return None
    relu_out = _graph.outputs_of(relu)
    product = with_scalar(scale, "multiply")
    quotient = with_scalar(scale, "divide", scalar_second=True)
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


def with_scalar(operation, kind: str, scalar_second: bool = False):
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
    """A Python or NumPy real scalar, or a model's scalar variable at its present value
    (``self.alpha * h``), as a float; None for tensors, arrays and the rest."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, keras.Variable):
        if tuple(value.shape) != () or not keras.backend.is_float_dtype(value.dtype):
            return None
        return float(keras.ops.convert_to_numpy(value))
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
