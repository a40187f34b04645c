"""One reading of a model, shared by every whole-model tool: ``read_model``.

A ``ModelReading`` is computed once and draws or assigns nothing. For every kernel
layer it holds its path, its kernels with their true fans (``kinds``), the activation
that follows it and how that was found; it lists the layers left alone and why,
every residual merge, and every place the model could not be read, in words a user
can act on. ``initialize``, ``lsuv``, ``signal_report`` and ``mean_field_variances``
read a model only through it, so they name the same activation after each kernel.
"""

from __future__ import annotations

import dataclasses

import keras

from keras_glorot import keras_internals
from keras_glorot.whole_model import activations as acts
from keras_glorot.whole_model import composite, kinds
from keras_glorot.whole_model import graph as _graph
from keras_glorot.whole_model.graph import Graph
from keras_glorot.whole_model.kinds import Kernel
from keras_glorot.whole_model.merges import Merge, find_merges
from keras_glorot.whole_model.tables import markdown, text_table, wrapped

UNBUILT = (
    "not built: its model's call never calls it (an unused head, a branch not taken), "
    "so it has no weights; left as it is"
)
NEVER_CALLED = (
    "built, but the model's forward pass never calls it (a stem replaced by another, an "
    "unused head): nothing says what follows it; left as it is"
)


@dataclasses.dataclass
class KernelReading:
    """How one kernel layer was read.

    Example:

    >>> first = keras_glorot.read_model(model).kernels[0]
    >>> first.path, first.follows.label, first.found_by

    Attributes:
        path: The layer's name; inside composite layers, the composites holding it,
            ``/``-joined (``block/attention/query``).
        layer: The layer.
        kernels: Its kernels (``kinds.Kernel``), each with its blocks' true fans and
            the activation each block is drawn for.
        follows: What follows the layer's output (a ``Found``; its ``label`` says what
            and where).
        found_by: ``"graph"`` (a functional model's graph), ``"trace"`` (a trace of
            ``call``), ``"layer order"`` (a subclassed model whose call could not be
            traced) or ``"composite"`` (inside a composite layer whose call could not be
            traced: its own activation, a known layout, or to be measured).
        block: The composite layer holding it ("" at the model's level).
        calls: What follows each call of the layer, in call order (one entry for a
            layer called once). A layer called several times (a block run in a loop)
            has one kernel for every call; ``follows`` is what all its calls together
            reach, and ``calls`` shows where they differ.
    """

    path: str
    layer: keras.layers.Layer
    kernels: list[Kernel]
    follows: acts.Found
    found_by: str
    block: str = ""
    calls: list[acts.Found] = dataclasses.field(default_factory=list)

    @property
    def activation(self) -> str:
        """What follows the kernel, as the tools' reports name it."""
        return self.follows.label


@dataclasses.dataclass
class LeftAlone:
    """A layer with weights that no tool draws, and why (``fallback``: a kind the
    table does not know, which a user can describe with ``register_layer_kind``)."""

    path: str
    layer: keras.layers.Layer
    reason: str
    fallback: bool = False


@dataclasses.dataclass
class Step:
    """One call in a functional model's dataflow: ``operation`` maps the tensors with
    ids ``inputs`` to those with ids ``outputs``; ``operation`` None passes them on
    unchanged (into and out of a nested model)."""

    operation: object
    inputs: list[int]
    outputs: list[int]
    strict: bool = False


class ModelReading:
    """How a model was read: see ``read_model``.

    Example:

    >>> reading = keras_glorot.read_model(model)
    >>> print(reading)  # one row per kernel: fans, what follows it, how it was found
    >>> [r.path for r in reading.left_alone]

    Attributes:
        model: The model read.
        layers: One entry per leaf layer with weights, in the order the model holds
            them: a ``KernelReading``, or a ``LeftAlone`` with the reason.
        leaves: ``(layer, path, in_composite)`` for every leaf layer, in that order.
        merges: The residual merges, one per call of a merging layer or op.
        fallbacks: Each place the model could not be read, and what to do about it.
        steps: The dataflow of a Sequential or functional model, call by call
            (nested models entered); None for a subclassed model.
    """

    def __init__(self, model: keras.Model):
        self.model = model
        self.layers: list[KernelReading | LeftAlone] = []
        self.leaves: list[tuple[keras.layers.Layer, str, bool]] = []
        self.merges: list[Merge] = []
        self.fallbacks: list[str] = []
        self.steps: list[Step] | None = None
        self.steps_reason = ""
        self.inputs: list[int] = []
        self.graph: Graph | None = None

    @property
    def kernels(self) -> list[KernelReading]:
        return [r for r in self.layers if isinstance(r, KernelReading)]

    @property
    def left_alone(self) -> list[LeftAlone]:
        return [r for r in self.layers if isinstance(r, LeftAlone)]

    def of(self, layer) -> KernelReading | None:
        """The reading of ``layer`` (None when it holds no kernel a tool draws)."""
        return next((r for r in self.kernels if r.layer is layer), None)

    def path_of(self, layer) -> str:
        return next((p for la, p, _ in self.leaves if la is layer), layer.name)

    def __getitem__(self, path: str) -> KernelReading:
        for r in self.kernels:
            if r.path == path:
                return r
        raise KeyError(f"no kernel layer {path!r}; layers read: {[r.path for r in self.kernels]}")

    def __iter__(self):
        return iter(self.kernels)

    def __len__(self) -> int:
        return len(self.kernels)

    def close(self) -> None:
        """Ends the trace of ``call`` (the sublayers get their own nodes back)."""
        if self.graph is not None:
            self.graph.close()
            self.graph = None

    def _rows(self) -> list[list[str]]:
        rows = []
        for r in self.layers:
            if isinstance(r, LeftAlone):
                rows.append([r.path, type(r.layer).__name__, "-", "-", f"left alone: {r.reason}"])
                continue
            for kernel in r.kernels:
                block = kernel.blocks[0]
                part = block.part if len(kernel.blocks) == 1 else block.part.split("[")[0]
                fans = f"{block.fan_in:g}/{block.fan_out:g}"
                rows.append([r.path, part, fans, r.found_by, block.found.label])
            if len({c.label for c in r.calls}) > 1:  # calls that reach different things
                n = len(r.calls)
                rows += [[f"  call {i} of {n}", "", "", "", c.label]
                         for i, c in enumerate(r.calls, 1)]  # fmt: skip
        return rows

    def _merge_rows(self) -> list[list[str]]:
        return [[m.name, m.describe_branches(), m.describe_shortcut()] for m in self.merges]

    def _footer(self) -> str:
        return (
            f"{len(self.kernels)} kernel layer(s) read, {len(self.left_alone)} left alone, "
            f"{len(self.merges)} merge(s), {len(self.fallbacks)} place(s) not read"
        )

    def __str__(self) -> str:
        lines = text_table(_COLUMNS, self._rows())
        if self.merges:
            lines += ["", "merges:"] + text_table(_MERGE_COLUMNS, self._merge_rows())
        lines.append(self._footer())
        lines += [wrapped(f"could not read: {text}") for text in self.fallbacks]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<ModelReading of {self.model.name!r}: {self._footer()}>"

    def to_markdown(self) -> str:
        """The table in Markdown."""
        lines = markdown(_COLUMNS, self._rows())
        if self.merges:
            lines += ["", "Merges:", ""] + markdown(_MERGE_COLUMNS, self._merge_rows())
        lines += ["", self._footer()]
        lines += [""] * bool(self.fallbacks)
        return "\n".join(lines + [f"- could not read: {text}" for text in self.fallbacks])


_COLUMNS = ("layer", "kernel", "fans in/out", "read by", "what follows")
_MERGE_COLUMNS = ("merge", "branches", "shortcut")


def read_model(model: keras.Model) -> ModelReading:
    """Reads a built model once, drawing and assigning nothing: how every tool sees it.

    For each kernel layer: its path, its kernels and their true fans, what follows
    it (an activation, a normalization, a softmax, a merge, the model's output) and
    how that was found; the layers left alone and why; every residual merge; every
    place the model could not be read, with what to do about it. ``initialize``,
    ``lsuv``, ``signal_report`` and ``mean_field_variances`` read the model through
    this, so "show me how you read my model" is ``print(read_model(model))``.

    A subclassed model, or one holding composite layers, is read through a trace of
    its ``call`` on symbolic inputs (no side effects; the layers are as they were
    afterwards). Where that fails, the layers are read in the order ``__init__``
    assigned them, and ``fallbacks`` says so.

    Example:

    >>> reading = keras_glorot.read_model(model)
    >>> print(reading)
    >>> reading["dense_1"].activation
    'leaky_relu(0.2) (LeakyReLU 'leaky_re_lu')'

    Args:
        model: A built ``keras.Model``.

    Returns:
        A ``ModelReading``.
    """
    validate_model(model)
    reading = open_reading(model)
    reading.close()
    return reading


def validate_model(model) -> None:
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


def open_reading(model: keras.Model) -> ModelReading:
    """``read_model`` with the trace left open: ``reading.graph`` still answers the
    residual planning of ``initialize``, which calls ``close()`` when done."""
    reading = ModelReading(model)
    # Before the trace, which sets the layers' own call records aside while open.
    reading.steps, reading.inputs, reading.steps_reason = _dataflow(model)
    graph = Graph(model, trace=True)
    reading.graph = graph
    try:
        _read(reading, graph)
    except BaseException:
        reading.close()
        raise
    return reading


def _read(reading: ModelReading, graph: Graph) -> None:
    trace = graph.trace
    if trace is not None and trace.graph is None and _graph.has_graph(graph.model):
        inside = [la.name for la, _ in graph.leaves if graph.composite_parent.get(id(la))]
        composites = sorted({graph.composite_parent[id(la)].name for la, _ in graph.leaves
                             if graph.composite_parent.get(id(la)) is not None})  # fmt: skip
        reading.fallbacks.append(
            f"{graph.model.name!r}: the call of its composite layer(s) "
            f"{', '.join(repr(c) for c in composites) or '(none)'} could not be traced, "
            f"{trace.reason}. The functional graph is read as it is; inside those layers, "
            f"the {len(inside)} kernel(s) are read by their known layout or drawn at the "
            "gain a data-free pass measures, never above their own layer's. Make call() run "
            "on keras.Input tensors (keras.ops instead of backend or NumPy code) to read "
            "them exactly."
        )
    elif trace is not None and trace.graph is None:
        reading.fallbacks.append(
            f"{graph.model.name!r}: its call could not be traced, {trace.reason}. Its layers "
            "are read in the order __init__ assigned them, so the activation after a kernel "
            "may be missed and residual sums are not found; no kernel gets a gain above its "
            "own layer's. Make call() run on keras.Input tensors (keras.ops instead of "
            "backend or NumPy code) to read it exactly."
        )
    for layer, container in graph.leaves:
        path = graph.name_of(layer)
        reading.leaves.append((layer, path, not isinstance(container, keras.Model)))
        entry = _read_layer(layer, path, graph)
        if entry is None:
            continue
        reading.layers.append(entry)
        if isinstance(entry, LeftAlone) and entry.fallback:
            reading.fallbacks.append(
                f"{path!r}: {entry.reason}. Describe the kind once with "
                "keras_glorot.register_layer_kind to have its kernels drawn"
            )
    reading.layers += _own_weights(graph)
    if graph.graph:
        reading.layers += _never_called(graph)
    reading.merges = find_merges(graph) if graph.graph else []
    for merge in reading.merges:
        merge.follows = acts.following(merge.op, graph, outputs=merge.outputs)
        merge.normalized_by = acts.normalization_after(merge.op, graph, outputs=merge.outputs)


def _read_layer(layer, path: str, graph: Graph) -> KernelReading | LeftAlone | None:
    if not layer.built:
        return LeftAlone(path, layer, UNBUILT)
    asked: list[acts.Found] = []

    def activation_of(inner, node) -> acts.Found:
        found = composite.kernel_activation(inner, graph, node)
        asked.append(found)
        return found

    try:
        kernels = kinds.kernels(layer, activation_of)
    except kinds.Skip as reason:
        if not kinds.needs_report(layer):
            return None
        return LeftAlone(path, layer, str(reason), isinstance(reason, kinds.UnknownKind))
    follows = asked[0] if asked else acts.LINEAR
    parent = graph.composite_parent.get(id(layer))
    return KernelReading(
        path, layer, kernels, follows, _found_by(layer, graph), parent.name if parent else "",
        _per_call(layer, graph, follows),
    )  # fmt: skip


def _per_call(layer, graph: Graph, follows: acts.Found) -> list[acts.Found]:
    """What follows each call of ``layer``: its own activation follows every call; else
    the graph walk from that call's outputs alone."""
    container = graph.container.get(id(layer))
    each = _graph.calls(layer, container) if graph.graph and container is not None else []
    if len(each) <= 1 or acts.own(layer) is not None:
        return [follows] * max(len(each), 1)
    return [acts.following(layer, graph, outputs=outputs) for _, outputs in each]


def _never_called(graph: Graph) -> list[LeftAlone]:
    """Kernel layers the model holds and built, but no call of the forward pass reaches
    (BASNet builds a ResNet whose stem its own convolution replaces)."""
    covered: set[int] = set()
    for layer, _ in graph.leaves:
        covered |= {id(layer)} | {id(x) for x in keras_internals.flatten_layers(layer)}
    out = []
    for layer in keras_internals.flatten_layers(graph.model):
        if id(layer) in covered or not layer.built or not kinds.has_kernel(layer):
            continue
        covered |= {id(x) for x in keras_internals.flatten_layers(layer)}
        out.append(LeftAlone(layer.name, layer, NEVER_CALLED))
    return out


def _own_weights(graph: Graph) -> list[LeftAlone]:
    """Weights a composite holds itself, not through a sublayer (a ViT's class token)."""
    out, seen = [], set()
    for _, container in graph.leaves:
        if isinstance(container, keras.Model) or id(container) in seen:
            continue
        seen.add(id(container))
        inner = {id(w) for s in _graph.sublayers(container) for w in s.weights}
        for weight in container.weights:
            if id(weight) not in inner:
                reason = "a weight of the composite itself, not of a sublayer: left as it is"
                out.append(LeftAlone(weight.path, container, reason))
    return out


def _found_by(layer, graph: Graph) -> str:
    if graph.composite_parent.get(id(layer)) is not None and not graph.traced(layer):
        return "composite"
    if graph.traced(layer):
        return "trace"
    return "graph" if graph.graph else "layer order"


def _dataflow(model: keras.Model) -> tuple[list[Step] | None, list[int], str]:
    if not _graph.has_graph(model):
        return None, [], "subclassed model: no graph to follow"
    try:
        return _steps(model), [id(t) for t in _graph.flat(model.inputs)], ""
    except (AttributeError, ValueError) as err:  # a graph Keras cannot show (no .inputs)
        return None, [], f"graph not walkable: {err}"


def _steps(model: keras.Model, entry: list[int] | None = None) -> list[Step]:
    ids = lambda tensors: [id(t) for t in tensors]  # noqa: E731
    steps = []
    if entry is not None:
        steps.append(Step(None, entry, ids(_graph.flat(model.inputs)), strict=True))
    for operation in _graph.operations(model):
        if isinstance(operation, keras.layers.InputLayer):
            continue
        inputs = ids(_graph.inputs_of(operation))
        if isinstance(operation, keras.Model):
            steps += _steps(operation, inputs)
            inner = ids(_graph.flat(operation.outputs))
            steps.append(Step(None, inner, ids(_graph.outputs_of(operation))))
        else:
            steps.append(Step(operation, inputs, ids(_graph.outputs_of(operation))))
    return steps
