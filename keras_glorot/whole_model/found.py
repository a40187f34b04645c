"""What an activation is, as ``initialize`` reads it: a ``Found`` (the activation, its
slope, a label saying where it was found, and what the path does besides), made from an
activation function, an activation layer, a Keras op node, a normalization that follows,
or the model's output. ``keras_glorot.whole_model.activations`` walks the graph to find
which of these follows a kernel."""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np

from keras_glorot import gains
from keras_glorot.layer_activation import LayerActivation

_SOFTMAX_FAMILY = ("softmax", "log_softmax", "sparsemax")


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
    # A normalization follows (directly, or behind an activation, dropout or reshapes):
    # what the next kernel reads no longer depends on this kernel's scale.
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
    # ``head`` stays what it was: lsuv leaves a softmax head alone, as before, and scales
    # any other output layer to unit pre-activation variance like the rest.
    return Found(label=f"linear: {name} at the model output (the loss's link)", head=found.head)


def own(layer) -> Found | None:
    """The activation fused into ``layer`` (its ``activation``), None when linear."""
    fn = getattr(layer, "activation", None)
    if fn is None or not callable(fn):
        return None
    found = from_function(fn, "own")
    return None if found is LINEAR else found


def own_gain(layer, convention: str) -> float:
    """The gain ``layer``'s own activation gives its kernel: 1 for none (Keras' law), and
    for a softmax head. What a guess may never raise a kernel above."""
    found = own(layer)
    return 1.0 if found is None or found.head else found.gain(convention)


def normalized(found: Found, label: str) -> Found:
    """Linear with Keras' default scale (``Glorot("linear")``, fan_avg) for a kernel that
    a normalization follows (docs/derivation.md, "A kernel under normalization").

    The normalization sets the next kernel's input whatever the kernel's scale, and
    a gain above 1 only shrinks the first steps (Arora et al. 2019; van Laarhoven
    2017); Keras' scale trained better where it was measured (docs/zoo.md).
    """
    then = "" if found.activation == "linear" else f"; then {found.label}"
    text = f"linear: {label} follows, Keras' default scale kept (the norm sets the scale){then}"
    return Found(label=text, normalized=True)


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
    if isinstance(operation, keras.layers.Layer) or not type(operation).__module__.startswith(
        "keras."
    ):
        return None
    name = OP_ACTIVATIONS.get(type(operation).__name__)
    if name is None:
        return None
    where = f"op {type(operation).__name__} {operation.name!r}"
    if name == "leaky_relu":
        slope = float(getattr(operation, "negative_slope", 0.2))
        return Found("leaky_relu", slope, f"leaky_relu({slope:g}) ({where})")
    return Found(name, 0.2, f"{name} ({where})")
