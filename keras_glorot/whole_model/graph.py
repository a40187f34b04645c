"""What follows a layer in a model: the graph walk behind ``initialize``.

Public Keras attributes are used where Keras has them: ``model.layers``,
``model.operations`` (functional models: the layers and the op nodes such as
``x + 3.0`` or ``keras.ops.multiply``, which are not layers), and ``.input`` and
``.output`` of an operation (the symbolic tensors of its first call), compared by
identity. Two things Keras does not expose publicly are read here and only here:
the scalar arguments of an op node (``call_arguments``) and the classes of its
elementwise ops (``op_kind``). Nested functional models are entered and left at
their inputs and outputs. A subclassed model, and a model holding composite
layers, is read through a ``Trace`` of its ``call`` (one flat graph, composites
entered) when ``Graph(model, trace=True)``; where that fails, a subclassed
model's layers are taken as a chain in the order ``model.layers`` lists them
(the order they were assigned in ``__init__``).
"""

from __future__ import annotations

import keras

from keras_glorot import keras_internals
from keras_glorot.whole_model import kinds
from keras_glorot.whole_model.trace import Trace

# Without Keras' op classes every op node is reported as unrecognised, which is honest.
_OP_KINDS = keras_internals.op_classes()


def flat(x) -> list:
    return keras.tree.flatten(x) if x is not None else []


def _symbolic(operation, attr: str):
    try:
        return getattr(operation, attr)
    except (AttributeError, ValueError):
        return None


def _call_tensors(operation, which: str) -> list:
    nodes = keras_internals.inbound_nodes(operation)
    if len(nodes) > 1 and not isinstance(operation, keras.Model):
        # A layer called more than once (a dropout reused in a block, a shared
        # Dense): its inputs and outputs are those of every call.
        return [t for node in nodes for t in flat(getattr(node, f"{which}_tensors", None))]
    if isinstance(operation, keras.Model):
        # A functional model's .input and .output are its own Input tensors and
        # outputs, not those of its call in the model around it; that call is
        # only in its private inbound node. (Sequential's are the call's.)
        try:
            return flat(getattr(keras_internals.inbound_nodes(operation)[0], f"{which}_tensors"))
        except (AttributeError, IndexError):
            pass
    return flat(_symbolic(operation, which))


def inputs_of(operation) -> list:
    """The symbolic tensors ``operation`` was called on (constants excluded); of every
    call for a layer called more than once."""
    return _call_tensors(operation, "input")


def outputs_of(operation) -> list:
    """The symbolic tensors ``operation``'s call made; of every call for a layer
    called more than once."""
    return _call_tensors(operation, "output")


def calls(operation, container) -> list[tuple[list, list]]:
    """``(inputs, outputs)`` of each call of ``operation`` in ``container``, one per call.

    A layer called twice (a module run in a loop, a shared ``Add``) is two calls with
    inputs and outputs of their own, never one call on all of them. In a traced
    graph every call of a leaf layer belongs to the trace (its earlier nodes are set
    aside while tracing); in a functional model, the calls it recorded; elsewhere the
    first call.
    """
    nodes = keras_internals.inbound_nodes(operation)
    if isinstance(operation, keras.Model) or len(nodes) <= 1:
        return [(inputs_of(operation), outputs_of(operation))]
    mine = keras_internals.graph_node_keys(container)
    every = not isinstance(mine, (set, frozenset, dict))
    picked = [
        node
        for i, node in enumerate(nodes)
        if every or keras_internals.node_key(operation, i) in mine
    ] or nodes[:1]
    return [(flat(n.input_tensors), flat(n.output_tensors)) for n in picked]


def outputs_fed_by(operation, tensors: list) -> list:
    """The outputs of the calls of ``operation`` that took one of ``tensors`` (all its
    outputs for a layer called once)."""
    nodes = keras_internals.inbound_nodes(operation)
    if len(nodes) <= 1 or isinstance(operation, keras.Model):
        return outputs_of(operation)
    out = [
        t
        for node in nodes
        if any(i is x for i in flat(node.input_tensors) for x in tensors)
        for t in flat(node.output_tensors)
    ]
    return out or outputs_of(operation)


def producer_of(tensor):
    """The operation whose call made the symbolic ``tensor`` (None for an input or a
    constant)."""
    history = keras_internals.keras_history(tensor)
    operation = getattr(history, "operation", None)
    return None if isinstance(operation, keras.layers.InputLayer) else operation


def is_layer(operation) -> bool:
    return isinstance(operation, keras.layers.Layer)


def op_kind(operation) -> str | None:
    """``"add"``, ``"multiply"``, ``"divide"`` or ``"relu6"`` for those Keras op nodes."""
    for kind, classes in _OP_KINDS.items():
        if isinstance(operation, classes):
            return kind
    return None


def call_arguments(operation) -> tuple[tuple, dict] | None:
    """Positional and keyword arguments of ``operation``'s first call, constants included.

    ``operation.input`` lists only the tensors: the 3.0 of ``x + 3.0`` is kept
    only in the call's node, which Keras keeps private. None when that is not there
    (another Keras version): the caller then recognises nothing.
    """
    try:
        arguments = keras_internals.node_arguments(keras_internals.inbound_nodes(operation)[0])
        return tuple(arguments.args), dict(arguments.kwargs)
    except (AttributeError, IndexError, TypeError):
        return None


def operands(operation, layer_class, kind: str) -> list | None:
    """What a merging layer or its op form combines, or None for any other operation.

    ``layer_class`` (``keras.layers.Add``, ``Multiply``): its input tensors; an op
    node of ``kind`` (``"add"``, ``"multiply"``) called without keywords: its
    positional arguments, constants included.
    """
    if isinstance(operation, layer_class):
        return inputs_of(operation)
    if is_layer(operation) or op_kind(operation) != kind:
        return None
    arguments = call_arguments(operation)
    if arguments is None or arguments[1]:
        return None
    return list(arguments[0])


def merge_inputs(operation) -> list | None:
    """The tensors an ``Add`` layer or ``add`` op node sums (of all its calls); None for
    anything else. ``merge_calls`` gives them call by call."""
    tensors = operands(operation, keras.layers.Add, "add")
    if tensors is None or not all(isinstance(t, keras.KerasTensor) for t in tensors):
        return None  # not an addition, or x + 3.0: a shift, not a merge
    return tensors if len(tensors) >= 2 else None


def merge_calls(operation, container) -> list[tuple[list, list]]:
    """``(summed tensors, outputs)`` of each call of an ``Add`` layer or ``add`` op node
    in ``container`` that sums two or more tensors; [] for anything else."""
    if merge_inputs(operation) is None:
        return []
    if not isinstance(operation, keras.layers.Add):
        return [(merge_inputs(operation), outputs_of(operation))]
    return [(i, o) for i, o in calls(operation, container) if len(i) >= 2]


def operations(model: keras.Model) -> list:
    """The layers and op nodes of ``model`` (one level), in call order."""
    # Functional models list layers and op nodes; Sequential has only layers.
    operations = _symbolic(model, "operations")
    return list(operations) if operations is not None else list(model.layers)


def has_graph(model: keras.Model) -> bool:
    """Whether ``model``'s layers carry symbolic inputs and outputs (Sequential/functional)."""
    inner = [la for la in model.layers if not isinstance(la, keras.layers.InputLayer)]
    return bool(inner) and all(_symbolic(la, "output") is not None for la in inner)


def sublayers(layer) -> list:
    """The layers ``layer`` tracks directly, in the order it assigned them."""
    return keras_internals.flatten_layers(layer, recursive=False)


def is_composite(layer) -> bool:
    """Whether ``layer`` is a user's or a library's layer built from sublayers.

    That is a layer with tracked sublayers whose nearest Keras class is
    ``keras.layers.Layer`` itself: a subclass of a Keras kind (``Dense``,
    ``MultiHeadAttention``, ``Embedding``, ``Bidirectional``...) stays that kind,
    with the fans and rules of its kind, and so does a registered kind
    (``register_layer_kind``).
    """
    if isinstance(layer, keras.Model) or kinds.is_registered(layer) or not sublayers(layer):
        return False
    for cls in type(layer).__mro__:
        if cls.__module__.startswith("keras.") or cls.__module__ == "keras":
            return cls is keras.layers.Layer
    return False


def attribute_of(parent, child) -> str | None:
    """The attribute (or ``attribute[i]`` of a list) under which ``parent`` holds ``child``.

    Keras' own tracking lists (``_layers``...) hold every sublayer; they are looked
    at last, so that the name the author gave wins. On the torch backend a layer is
    a ``torch.nn.Module``, which keeps its sublayers in ``_modules``, not in
    ``vars``.
    """
    items = list(vars(parent).items()) + list((getattr(parent, "_modules", None) or {}).items())
    for name, value in items:
        if value is child:
            return name
    for name, value in items:
        if isinstance(value, (list, tuple)) and not name.startswith(
            keras_internals.TRACKING_ATTRIBUTES
        ):
            for i, item in enumerate(value):
                if item is child:
                    return f"{name}[{i}]"
    return None


def leaf_layers(model: keras.Model) -> list[tuple[keras.layers.Layer, object]]:
    """``(layer, container)`` for every layer, inputs dropped, each layer once.

    Nested models are flattened; composite layers (``is_composite``) are replaced
    by their sublayers, at any depth, with the composite as the container. A
    sublayer shared by several composites, or a layer listed twice, comes once.
    """
    out, seen = [], set()

    def visit(layer, container) -> None:
        if isinstance(layer, keras.layers.InputLayer) or id(layer) in seen:
            return
        seen.add(id(layer))
        if isinstance(layer, keras.Model):
            for inner in layer.layers:
                visit(inner, layer)
        elif is_composite(layer):
            for inner in sublayers(layer):
                visit(inner, layer)
        else:
            out.append((layer, container))

    for layer in model.layers:
        visit(layer, model)
    return out


def _feeds(outputs: list, operation) -> bool:
    return any(t is o for t in inputs_of(operation) for o in outputs)


def _entered(layer) -> bool:
    """Layers a trace enters instead of reading as one node: composites, nested models."""
    return is_composite(layer) or isinstance(layer, keras.Model)


class Graph:
    """Answers "which operations consume this one's output?" for a built model.

    ``trace=True`` reads a subclassed model, or a model holding composite layers,
    through a ``keras_glorot.whole_model.trace.Trace`` of its ``call`` with every composite
    layer and nested model entered; ``close()`` then puts its sublayers back as
    they were. Layers the trace did not reach keep the readings below.
    """

    def __init__(self, model: keras.Model, trace: bool = False):
        self.model = model
        self.trace = None
        self._traced: set[int] = set()
        inner = keras_internals.flatten_layers(model)
        if trace and (not has_graph(model) or any(is_composite(la) for la in inner)):
            self.trace = Trace(model, inline=_entered)
        self.leaves = leaf_layers(model)
        self.container = {id(la): c for la, c in self.leaves}
        # Composite layers (and the composites holding them): their sublayers have
        # no graph here; their activations come from ``keras_glorot.whole_model.composite``.
        self.composite_parent = {}
        composites = {id(c): c for _, c in self.leaves if not isinstance(c, keras.Model)}
        for composite in composites.values():
            self._index_composites(composite)
        self._parents = {}
        self._index_parents(model)
        self.graph = has_graph(model) and all(has_graph(m) for m in self.models())
        if self.trace is not None and self.trace.graph is not None:
            # Every layer the trace reached is read in the traced graph, one flat level.
            self.graph = True
            self._traced = {id(op) for op in self.trace.graph.operations}
            for layer, _ in self.leaves:
                if id(layer) in self._traced:
                    self.container[id(layer)] = self.trace.graph
            self._parents = {}
        # Op nodes are not in model.layers: where each one lives, for the walk.
        for m in self.models():
            for operation in operations(m):
                if not is_layer(operation):
                    self.container.setdefault(id(operation), m)

    def _index_composites(self, composite) -> None:
        for layer in sublayers(composite):
            self.composite_parent.setdefault(id(layer), composite)
            if is_composite(layer):
                self._index_composites(layer)

    def _index_parents(self, model: keras.Model) -> None:
        for layer in model.layers:
            if isinstance(layer, keras.Model):
                self._parents[id(layer)] = model
                self._index_parents(layer)
            elif is_composite(layer):
                self._parents[id(layer)] = model

    def name_of(self, layer) -> str:
        """A layer's name in reports; inside a composite layer, where names repeat from
        block to block, the names of the composites holding it, ``/``-joined
        (``block/attention/query``)."""
        parent = self.composite_parent.get(id(layer))
        if parent is None:
            return layer.name
        return f"{self.name_of(parent)}/{layer.name}"

    def traced(self, layer) -> bool:
        """Whether ``layer`` is read in a trace of ``call`` (``keras_glorot.whole_model.trace``)."""
        return id(layer) in self._traced

    def close(self) -> None:
        """Ends a ``Trace``: the sublayers get their own nodes back."""
        if self.trace is not None:
            self.trace.close()

    def models(self) -> list[keras.Model]:
        """The model and every nested model in it; the traced graph alone when traced."""
        if self._traced:
            return [self.trace.graph]
        return [self.model] + [m for m in self._all_models(self.model)]

    def _all_models(self, model):
        for layer in model.layers:
            if isinstance(layer, keras.Model):
                yield layer
                yield from self._all_models(layer)

    def next_operations(self, operation, container=None, outputs=None) -> list:
        """The leaf layers and op nodes fed by ``operation``'s output ([] at the output).

        Without a graph (subclassed models): the next layer in ``model.layers`` order.
        """
        if not self.graph:
            return self._next_in_order(operation)
        container = container or self.container.get(id(operation), self.models()[0])
        outputs = outputs_of(operation) if outputs is None else outputs
        found = []
        for other in operations(container):
            if other is operation or isinstance(other, keras.layers.InputLayer):
                continue
            if _feeds(outputs, other):
                found.extend(self._entry_operations(other))
        parent = self._parents.get(id(container))
        if parent is not None and any(t is o for t in flat(container.outputs) for o in outputs):
            found.extend(self.next_operations(container, parent))
        return found

    def is_output(self, operation, container=None) -> bool:
        """Whether ``operation``'s output is an output of the whole model."""
        container = container or self.container.get(id(operation), self.models()[0])
        outputs = outputs_of(operation)
        if not any(t is o for t in flat(container.outputs) for o in outputs):
            return False
        parent = self._parents.get(id(container))
        return parent is None or self.is_output(container, parent)

    def _entry_operations(self, operation) -> list:
        if not isinstance(operation, keras.Model):
            return [operation]
        inputs = flat(operation.inputs)
        entries = []
        for inner in operations(operation):
            if isinstance(inner, keras.layers.InputLayer):
                continue
            if _feeds(inputs, inner):
                entries.extend(self._entry_operations(inner))
        return entries

    def _next_in_order(self, layer) -> list:
        order = [la for la, _ in self.leaves]
        for i, other in enumerate(order):
            if other is layer:
                return order[i + 1 : i + 2]
        return []
