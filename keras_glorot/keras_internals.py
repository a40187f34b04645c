"""Every private part of Keras the package relies on, in one place.

Keras 3 has no public API for a few things the package needs: a string name for an
initializer on Keras >= 3.16, the nodes of a functional graph, a subclassed model's
sublayers, the trace's temporary classes. Each is read or written here and nowhere
else, through one small function, and listed in ``PRIVATE_PARTS`` with what it is
for and the Keras versions it was checked on. ``tests/test_keras_internals.py``
checks every entry against the installed Keras, so that a Keras that moves one
fails a test that names it, not a user's model.

Where a public API does the job on a version, it is used instead (the string names
go through ``keras.saving.get_custom_objects`` wherever ``keras.initializers.get``
still reads it).
"""

from __future__ import annotations

import contextlib
import importlib
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import keras


def _version_tuple(version: str) -> tuple[int, int]:
    major, minor = re.match(r"(\d+)\.(\d+)", version).groups()
    return int(major), int(minor)


KERAS_VERSION = _version_tuple(keras.__version__)

# From Keras 3.15 on, EinsumDense (and so MultiHeadAttention, whose projections are
# EinsumDense layers) rebuilds a VarianceScaling kernel initializer with the kernel's
# true input and output axes before drawing. Before, it passes the shape alone.
EINSUM_AXES_FROM_KERAS = KERAS_VERSION >= (3, 15)

# Keras versions every entry of PRIVATE_PARTS was checked on (the test suite, tox's
# keras-min and keras-nightly environments).
CHECKED_ON = ("3.10.0", "3.15.1", "3.16.0.dev2026102704")


@dataclass(frozen=True)
class PrivatePart:
    """One private part of Keras: its ``name`` as Keras spells it, what the package
    uses it ``for``, and a ``check`` that raises when the installed Keras lacks it."""

    name: str
    used_for: str
    check: Callable[[], object]


# ---------------------------------------------------------------- string names


def _initializer_table() -> dict:
    """Keras' own table of initializer names (``keras.src.initializers.ALL_OBJECTS_DICT``).

    From Keras 3.16, ``keras.initializers.get("name")`` looks a string up in this
    table alone, not in ``keras.saving.get_custom_objects()``; there is no public
    way to add a name to it.
    """
    table = getattr(importlib.import_module("keras.src.initializers"), "ALL_OBJECTS_DICT", None)
    if not isinstance(table, dict):
        raise AttributeError("keras.src.initializers.ALL_OBJECTS_DICT is not a dict")
    return table


def _is_same_class(a, b) -> bool:
    # importlib.reload makes a second class object with the same name and module.
    return a is b or (
        isinstance(a, type)
        and isinstance(b, type)
        and (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)
    )


def _resolves(name: str, cls: type) -> bool:
    try:
        return type(keras.initializers.get(name)) is cls
    except (ValueError, TypeError):
        return False


def register_initializer_names(names: dict[str, type]) -> None:
    """Makes each of ``names`` a string Keras resolves to its class.

    Public route first: ``keras.saving.get_custom_objects()``, which
    ``keras.initializers.get`` reads up to Keras 3.15 and ``deserialize`` reads on
    every version. Where ``get`` does not read it (Keras >= 3.16), the names also go
    into Keras' own table of initializer names, the only place that version looks.
    A name Keras already uses is never taken, and nothing is written unless every
    name is free; registering again (``importlib.reload``) replaces our own entries.

    Raises:
        ValueError: a name is Keras' own, or registered by someone else.
        RuntimeError: this Keras resolves string names in a way the package does not
            know; the message names the Keras version.
    """
    try:
        table = _initializer_table()
    except (ImportError, AttributeError) as err:
        table, moved = None, err
    custom = keras.saving.get_custom_objects()
    for name, cls in names.items():
        taken = None
        if name in dir(keras.initializers):
            taken = "Keras' own initializer"
        elif table is not None and name in table and not _is_same_class(table[name], cls):
            taken = f"Keras' own initializer {table[name]!r}"
        elif name in custom and not _is_same_class(custom[name], cls):
            taken = f"registered for {custom[name]!r}"
        if taken:
            raise ValueError(
                f"keras_glorot cannot register the initializer name {name!r} with Keras "
                f"{keras.__version__}: it is already {taken}. Refusing to shadow it."
            )
    custom.update(names)
    missing = {n: c for n, c in names.items() if not _resolves(n, c)}
    if not missing:
        return
    if table is None:
        raise RuntimeError(
            f"keras_glorot cannot register its string names {sorted(missing)} with Keras "
            f"{keras.__version__}: keras.initializers.get does not read "
            f"keras.saving.get_custom_objects(), and Keras' own table of names has moved "
            f"({moved}). Use the classes (keras_glorot.GlorotLeakyNormal(), ...) or a "
            "Keras version keras_glorot was tested on."
        )
    table.update(missing)
    still = sorted(n for n, c in missing.items() if not _resolves(n, c))
    if still:
        raise RuntimeError(
            f"keras_glorot registered {still} in Keras {keras.__version__}'s table of "
            "initializer names, yet keras.initializers.get does not find them there. Use "
            "the classes (keras_glorot.GlorotLeakyNormal(), ...) or a Keras version "
            "keras_glorot was tested on."
        )


# --------------------------------------------------------- the layer being built


def weight_owner(depth: int = 16):
    """The Keras layer whose ``build`` asked for the weight being drawn; else the
    ``keras.Variable`` being initialized (its layer's ``build`` has returned: Keras
    deferred the draw, as it does in a ``keras.StatelessScope``); else None.

    ``Layer.add_weight`` makes the variable, which calls the initializer at once, so
    the layer is ``self`` in a frame a few calls up. Used on Keras < 3.15 only, where
    an ``EinsumDense`` passes its initializer no axes.
    """
    frame, variable = sys._getframe(1), None
    for _ in range(depth):
        frame = frame.f_back
        if frame is None:
            break
        owner = frame.f_locals.get("self")
        if isinstance(owner, keras.layers.Layer):
            return owner
        if variable is None and isinstance(owner, keras.Variable):
            variable = owner
    return variable


def _check_weight_owner():
    found = []

    class Probe(keras.layers.Layer):
        def build(self, input_shape):
            self.add_weight(shape=(1,), initializer=lambda shape, dtype=None: _note(shape, dtype))

    def _note(shape, dtype):
        found.append(weight_owner())
        return keras.ops.zeros(shape, dtype=dtype)

    probe = Probe()
    probe.build((1,))
    if found != [probe]:
        raise AssertionError(f"the layer building a weight is not on the stack: {found}")


# ------------------------------------------------------------ a layer's kernel law


def attention_kernel_initializer(layer):
    """The one ``kernel_initializer`` a ``MultiHeadAttention`` clones into its four
    projections and reports in its config (the private ``_kernel_initializer``)."""
    return getattr(layer, "_kernel_initializer", None)


def set_attention_kernel_initializer(layer, initializer) -> None:
    """Sets what a ``MultiHeadAttention``'s config reports as its ``kernel_initializer``:
    Keras has no setter for it."""
    layer._kernel_initializer = initializer


# ------------------------------------------------------------- the functional graph


def keras_history(tensor):
    """The ``(operation, node_index, tensor_index)`` that made a symbolic tensor, or None.
    Keras keeps it in the private ``KerasTensor._keras_history``."""
    return getattr(tensor, "_keras_history", None)


def inbound_nodes(operation) -> list:
    """The nodes (calls) of a layer or op in the graphs it is part of
    (``Operation._inbound_nodes``); a node has ``input_tensors``, ``output_tensors``
    and ``arguments``."""
    return getattr(operation, "_inbound_nodes", None) or []


def node_arguments(node):
    """The arguments one call was made with (``Node.arguments``), or None."""
    return getattr(node, "arguments", None)


def graph_node_keys(model) -> set | None:
    """The keys of the nodes a functional model holds (``Functional._nodes``), each
    ``f"{id(operation)}_ib-{node_index}"`` (``keras.src.ops.function.make_node_key``)."""
    return getattr(model, "_nodes", None)


def node_key(operation, index: int) -> str:
    return f"{id(operation)}_ib-{index}"


def set_nodes_aside(layers: list) -> list:
    """Empties each layer's inbound and outbound nodes (``Operation._inbound_nodes``,
    ``_outbound_nodes``), so that a trace's calls are the layer's only ones; returns
    what ``restore_nodes`` puts back."""
    saved = [(la, la._inbound_nodes, la._outbound_nodes) for la in layers]
    for layer in layers:
        layer._inbound_nodes, layer._outbound_nodes = [], []
    return saved


def restore_nodes(saved: list) -> None:
    for layer, inbound, outbound in saved:
        layer._inbound_nodes, layer._outbound_nodes = inbound, outbound


@contextlib.contextmanager
def losses_kept(layers: list) -> Iterator[None]:
    """Keeps each layer's collected ``add_loss`` losses (``Layer._losses``,
    ``_loss_ids``) through a trace: a sublayer called outside a call context opens one
    and clears its losses (``Layer._get_call_context``)."""
    saved = [(la, list(la._losses), set(la._loss_ids)) for la in layers if hasattr(la, "_losses")]
    try:
        yield
    finally:
        for layer, losses, ids in saved:
            layer._losses[:] = losses
            layer._loss_ids.clear()
            layer._loss_ids.update(ids)


def mark_dense(tensor) -> None:
    """Marks a symbolic tensor dense: ``KerasTensor.sparse`` is read-only, so this
    writes its private ``_sparse``."""
    tensor._sparse = False


# ------------------------------------------------------------------- sublayers


def flatten_layers(layer, recursive: bool = True) -> list:
    """The layers ``layer`` tracks, in the order it assigned them, nested ones too if
    ``recursive``. Keras 3 tracks every layer assigned to an attribute of a layer
    (also in lists and dicts) but lists them publicly only on models
    (``model.layers``); ``Layer._flatten_layers`` is its accessor for every layer. A
    layer without it gives its ``_layers``."""
    flatten = getattr(layer, "_flatten_layers", None)
    if flatten is None:
        return list(getattr(layer, "_layers", []))
    return list(flatten(include_self=False, recursive=recursive))


# Keras' own tracking lists, which hold every sublayer again; never read as the
# user's attributes.
TRACKING_ATTRIBUTES = ("_layers", "_tracker")

# -------------------------------------------------------------- temporary classes


@contextlib.contextmanager
def classes_swapped(pairs: list) -> Iterator[None]:
    """Gives each object in ``pairs`` (``(obj, temporary_class)``) its temporary class
    for the duration, and its own class back afterwards. Keras layers and variables
    refuse a plain ``__class__`` assignment through ``__setattr__`` tracking, hence
    ``object.__setattr__``; the temporary class must be a subclass of the own one."""
    originals = [(obj, type(obj)) for obj, _ in pairs]
    try:
        for obj, cls in pairs:
            object.__setattr__(obj, "__class__", cls)
        yield
    finally:
        for obj, cls in originals:
            object.__setattr__(obj, "__class__", cls)


# ------------------------------------------------------------------ op classes


def op_classes() -> dict[str, tuple]:
    """Keras' op classes (``keras.src.ops``): ``x + 3.0`` on a KerasTensor and
    ``keras.ops.add`` make an ``Add`` node. They are not exported; an isinstance
    test against them is the only exact way to tell what an op node computes.
    Empty where they moved: every op node is then reported as unrecognised."""
    try:
        nn = importlib.import_module("keras.src.ops.nn")
        numpy = importlib.import_module("keras.src.ops.numpy")
        return {
            "add": (numpy.Add,),
            "multiply": (numpy.Multiply,),
            "divide": (numpy.Divide, numpy.TrueDivide),
            "relu6": (nn.Relu6,),
        }
    except (ImportError, AttributeError):
        return {}


def torch_seed_generator(seed):
    """The ``torch.Generator`` Keras' torch backend draws ``seed``'s values from
    (``keras.src.backend.torch.random.torch_seed_generator``), or None."""
    try:
        from keras.src.backend.torch.random import torch_seed_generator as generator
    except ImportError:
        return None
    return generator(seed)


# ------------------------------------------------------------------ the list


def _check_functional_graph():
    x = keras.Input((3,))
    y = keras.layers.Dense(2)(x)
    model = keras.Model(x, y)
    history = keras_history(y)
    operation = history.operation
    node = inbound_nodes(operation)[history.node_index]
    assert node.input_tensors and node.output_tensors, "Node.input_tensors/output_tensors"
    assert node_arguments(node) is not None, "Node.arguments"
    assert node_key(operation, history.node_index) in graph_node_keys(model), "make_node_key"
    saved = set_nodes_aside([operation])
    assert inbound_nodes(operation) == [], "Operation._inbound_nodes"
    restore_nodes(saved)
    assert inbound_nodes(operation)[history.node_index] is node, "Operation._inbound_nodes"


def _check_swap():
    layer = keras.layers.Dense(2)
    temporary = type("Dense", (keras.layers.Dense,), {})
    with classes_swapped([(layer, temporary)]):
        assert type(layer) is temporary
    assert type(layer) is keras.layers.Dense


def _check_attention_initializer():
    layer = keras.layers.MultiHeadAttention(2, 4, kernel_initializer="ones")
    assert isinstance(attention_kernel_initializer(layer), keras.initializers.Ones)
    set_attention_kernel_initializer(layer, keras.initializers.Zeros())
    assert isinstance(layer.get_config()["kernel_initializer"], dict)
    assert layer.get_config()["kernel_initializer"]["class_name"] == "Zeros"


def _check_sparse():
    tensor = keras.KerasTensor((1, 2))
    mark_dense(tensor)
    assert tensor.sparse is False


def _check_torch_seed_generator():
    if keras.config.backend() == "torch":
        assert torch_seed_generator(0) is not None


def _check_flatten_layers():
    inner = keras.layers.Dense(2)
    model = keras.Sequential([keras.Input((3,)), inner])
    assert inner in flatten_layers(model)
    assert all(hasattr(keras.layers.Layer(), a) for a in TRACKING_ATTRIBUTES)


def _check_op_classes():
    kinds = op_classes()
    assert kinds, "keras.src.ops.numpy.Add/Multiply/Divide/TrueDivide, keras.src.ops.nn.Relu6"
    x = keras.Input((2,))
    assert isinstance(keras_history(x + 1.0).operation, kinds["add"])


PRIVATE_PARTS: tuple[PrivatePart, ...] = (
    PrivatePart(
        "keras.src.initializers.ALL_OBJECTS_DICT",
        "string names (kernel_initializer='glorot_leaky') on Keras >= 3.16",
        _initializer_table,
    ),
    PrivatePart(
        "Layer.add_weight calls the initializer with the layer on the stack",
        "true fans of EinsumDense/MultiHeadAttention kernels on Keras < 3.15",
        _check_weight_owner,
    ),
    PrivatePart(
        "KerasTensor._keras_history, Operation._inbound_nodes/_outbound_nodes, "
        "Node.input_tensors/output_tensors/arguments, Functional._nodes",
        "reading a functional graph and a trace (whole-model tools)",
        _check_functional_graph,
    ),
    PrivatePart(
        "object.__setattr__(obj, '__class__', subclass) on layers and variables",
        "the trace: calls entered, variables with symbolic operators",
        _check_swap,
    ),
    PrivatePart(
        "Layer._flatten_layers, Layer._layers, Layer._tracker",
        "every sublayer of a model, and which attributes are Keras' own tracking",
        _check_flatten_layers,
    ),
    PrivatePart(
        "MultiHeadAttention._kernel_initializer (read and written)",
        "the initializer an attention layer's config reports",
        _check_attention_initializer,
    ),
    PrivatePart(
        "KerasTensor._sparse (written)",
        "a trace through code whose shape inference marks tensors sparse",
        _check_sparse,
    ),
    PrivatePart(
        "keras.src.ops.numpy.Add/Multiply/Divide/TrueDivide, keras.src.ops.nn.Relu6",
        "what an op node in a graph computes (residual sums, gates, relu6)",
        _check_op_classes,
    ),
    PrivatePart(
        "keras.src.backend.torch.random.torch_seed_generator",
        "one-pass uniform draws on PyTorch from Keras' own generator",
        _check_torch_seed_generator,
    ),
)
