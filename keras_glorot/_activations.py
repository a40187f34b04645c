"""Which activation follows a kernel: from the layer itself or the layers after it."""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np

from keras_glorot import gains
from keras_glorot._graph import PASS_THROUGH, Graph

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
    was found and where.
    """

    activation: object = "linear"
    negative_slope: float = 0.2
    label: str = "linear"
    head: bool = False

    def gain(self, convention: str) -> float:
        return gains.calculate_gain(
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
        return Found(label=f"linear: {name} head{suffix}", head=True)
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
        return Found(label=f"linear: softmax head ({where})", head=True)
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
    return Found(LayerActivation(layer), 0.2, f"relu({layer.get_config()}) ({where})")


def own(layer) -> Found | None:
    """The activation fused into ``layer`` (its ``activation``), None when linear."""
    fn = getattr(layer, "activation", None)
    if fn is None or not callable(fn):
        return None
    found = from_function(fn, "own")
    return None if found is LINEAR else found


def following(layer, graph: Graph, depth: int = 0) -> Found:
    """The activation applied to ``layer``'s output by the layers after it.

    Walks through ``PASS_THROUGH`` layers (normalization, dropout, noise,
    reshapes). Several consumers that disagree give linear, with the reason.
    """
    consumers = graph.next_layers(layer)
    if not consumers:
        return Found(label="linear: none follows")
    found = []
    for nxt in consumers:
        act = from_layer(nxt)
        if act is None and isinstance(nxt, PASS_THROUGH) and depth < 32:
            act = following(nxt, graph, depth + 1)
        if act is None:
            act = Found(label=f"linear: followed by {type(nxt).__name__} {nxt.name!r}")
        found.append(act)
    if all(f.activation == found[0].activation for f in found) and all(
        f.negative_slope == found[0].negative_slope for f in found
    ):
        return found[0]
    labels = "; ".join(f.label for f in found)
    return Found(label=f"linear: consumers disagree ({labels})")


def for_kernel(layer, graph: Graph, node_layer=None) -> Found:
    """The activation after ``layer``'s kernel: its own, else the following one.

    ``node_layer`` is the layer that sits in the graph when ``layer`` is wrapped
    (``TimeDistributed``, ``Bidirectional``).
    """
    found = own(layer)
    if found is not None:
        return found
    found = following(node_layer or layer, graph)
    if not graph.graph and found.activation != "linear":
        found = dataclasses.replace(found, label=f"{found.label} [by layer order: no graph]")
    return found
