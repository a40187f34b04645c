"""What follows a layer in a model: the graph walk behind ``initialize``.

Only public Keras attributes are used: ``model.layers``, ``layer.input`` and
``layer.output`` (the symbolic tensors of a layer's first call), compared by
identity. Nested functional models are entered and left at their inputs and
outputs. A subclassed model has no graph; its layers are taken as a chain in the
order ``model.layers`` lists them (the order they were assigned in ``__init__``).
"""

from __future__ import annotations

import keras

# Layers that leave "which elementwise activation follows" unchanged.
PASS_THROUGH = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.Identity,
    keras.layers.Flatten,
    keras.layers.Reshape,
)


def _flat(x) -> list:
    return keras.tree.flatten(x) if x is not None else []


def _symbolic(layer, attr: str):
    try:
        return getattr(layer, attr)
    except (AttributeError, ValueError):
        return None


def has_graph(model: keras.Model) -> bool:
    """Whether ``model``'s layers carry symbolic inputs and outputs (Sequential/functional)."""
    inner = [la for la in model.layers if not isinstance(la, keras.layers.InputLayer)]
    return bool(inner) and all(_symbolic(la, "output") is not None for la in inner)


def leaf_layers(model: keras.Model) -> list[tuple[keras.layers.Layer, keras.Model]]:
    """``(layer, container)`` for every layer, nested models flattened, inputs dropped."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):
            out.extend(leaf_layers(layer))
        else:
            out.append((layer, model))
    return out


class Graph:
    """Answers "which layers consume this layer's output?" for a built model."""

    def __init__(self, model: keras.Model):
        self.model = model
        self.leaves = leaf_layers(model)
        self.container = {id(la): c for la, c in self.leaves}
        self._parents = {}
        self._index_parents(model)
        self.graph = has_graph(model) and all(has_graph(m) for m in self._models())

    def _index_parents(self, model: keras.Model) -> None:
        for layer in model.layers:
            if isinstance(layer, keras.Model):
                self._parents[id(layer)] = model
                self._index_parents(layer)

    def _models(self) -> list[keras.Model]:
        return [self.model] + [m for m in self._all_models(self.model)]

    def _all_models(self, model):
        for layer in model.layers:
            if isinstance(layer, keras.Model):
                yield layer
                yield from self._all_models(layer)

    def next_layers(self, layer, container=None) -> list:
        """The leaf layers fed by ``layer``'s output ([] at the model's output)."""
        container = container or self.container.get(id(layer), self.model)
        if not self.graph:
            return self._next_in_order(layer)
        outputs = _flat(_symbolic(layer, "output"))
        found = []
        for other in container.layers:
            if other is layer or isinstance(other, keras.layers.InputLayer):
                continue
            if any(t is o for t in _flat(_symbolic(other, "input")) for o in outputs):
                found.extend(self._entry_layers(other))
        parent = self._parents.get(id(container))
        if parent is not None and any(t is o for t in _flat(container.outputs) for o in outputs):
            found.extend(self.next_layers(container, parent))
        return found

    def _entry_layers(self, layer) -> list:
        if not isinstance(layer, keras.Model):
            return [layer]
        inputs = _flat(layer.inputs)
        entries = []
        for inner in layer.layers:
            if isinstance(inner, keras.layers.InputLayer):
                continue
            if any(t is i for t in _flat(_symbolic(inner, "input")) for i in inputs):
                entries.extend(self._entry_layers(inner))
        return entries

    def _next_in_order(self, layer) -> list:
        order = [la for la, _ in self.leaves]
        for i, other in enumerate(order):
            if other is layer:
                return order[i + 1 : i + 2]
        return []
