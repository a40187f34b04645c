"""Layers written in code: what a model's or a composite layer's ``call`` does, seen by running it.

A subclassed model, or a ``keras.layers.Layer`` subclass built from sublayers,
wires its sublayers in Python: no graph says which op follows a kernel. ``Trace``
runs the model once on symbolic inputs (``keras.Input`` of the shapes it takes),
as building a functional model does. Every sublayer called and every
``keras.ops`` function applied (``x + y``, ``keras.ops.relu``, a reshape) then
records a node with its input and output tensors, on TensorFlow, JAX and
PyTorch alike: the order of the calls, what is added to what and which
elementwise op follows a kernel are read from those nodes, not from attribute
names. Layers to ``inline`` (composite layers, nested models) are entered: their
``call`` runs on the symbolic tensors instead of standing as one opaque node.

The trace runs in inference mode: a ``call`` whose ``training`` argument has no
default (``def call(self, x, training)``, the usual signature in Keras' examples) gets
``training=False``, as ``model.predict`` would give it. Products and sums with a
model's own variables on the left (``x + self.alpha * h``: a Keras variable cannot
multiply a symbolic tensor) are recorded as the ``keras.ops`` nodes they stand for.

Nothing of the model is changed: the call runs inside a ``keras.StatelessScope``, so
a counter's ``assign_add`` or a ``SeedGenerator`` that advances is not written to the
variable; attributes that a ``call`` sets to symbolic tensors or to new plain values
(a Python counter) are put back; a loss a ``call`` adds (``self.add_loss``: an
activity loss, a VAE's KL term) is computed on symbolic tensors and discarded, and the
losses the model had collected are kept; the
sublayers' own nodes are set aside while the trace is read and put back by
``close``; the inlined layers and the variables get their class back at once. A
call that cannot run on symbolic tensors (backend-native code, Python that reads
values) gives no trace; ``reason`` says why.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable

import keras

from keras_glorot import keras_internals


def built_shape(layer) -> tuple | None:
    """The one input shape ``layer`` was built for (Keras' public ``get_build_config``),
    None when unknown or when it had several inputs."""
    try:
        config = layer.get_build_config()
    except Exception:  # a user's override that fails: the shape is unknown
        return None
    if not isinstance(config, dict) or set(config) != {"input_shape"}:
        return None
    shape = config["input_shape"]
    if not isinstance(shape, (tuple, list)) or not all(
        d is None or isinstance(d, int) for d in shape
    ):
        return None
    return tuple(shape)


def _concrete(shape) -> tuple:
    # Code such as a causal mask's ``ops.arange(ops.shape(x)[1])`` needs static
    # lengths: a batch of 2, and 8 wherever a length is free.
    return tuple((2 if i == 0 else 8) if d is None else int(d) for i, d in enumerate(shape))


def _symbolic_inputs(model: keras.Model):
    """Fresh ``keras.Input`` tensors for ``model``: like its own inputs (functional) or
    of the shape it was built for (subclassed), free lengths made static; None when
    unknown."""
    try:
        own = model.input  # functional and Sequential models
    except (AttributeError, ValueError):
        own = None
    if own is not None:
        return keras.tree.map_structure(
            lambda t: keras.Input(batch_shape=_concrete(t.shape), dtype=t.dtype, sparse=t.sparse),
            own,
        )
    shape = built_shape(model)
    return None if shape is None else keras.Input(batch_shape=_concrete(shape))


def _is_symbolic(args, kwargs) -> bool:
    """Whether a call gets symbolic tensors. Marks them dense: Keras' shape inference
    calls ``x * c`` sparse when the constant ``c`` has no ``sparse`` attribute (as in
    Gemma's embedding scale), and a layer without its own ``compute_output_spec``
    then fails on a sparse placeholder. Only the trace's tensors are touched."""
    tensors = [t for t in keras.tree.flatten((args, kwargs)) if isinstance(t, keras.KerasTensor)]
    for t in tensors:
        if t.sparse:
            keras_internals.mark_dense(t)
    return bool(tensors)


def _add_loss(cls: type):
    """``add_loss`` for the trace: a loss computed on its symbolic tensors is not the
    model's, and Keras refuses it (``add_loss`` takes tensors only)."""

    def add_loss(self, loss):
        if any(isinstance(t, keras.KerasTensor) for t in keras.tree.flatten(loss)):
            return None
        return cls.add_loss(self, loss)

    return add_loss


def _losses_discarded(cls: type) -> type:
    """A subclass of ``cls`` whose ``add_loss`` discards the trace's losses."""
    return type(cls.__name__, (cls,), {"add_loss": _add_loss(cls), "__module__": cls.__module__})


def _leaf_class(cls: type) -> type:
    """A subclass of ``cls`` whose ``__call__`` on symbolic tensors leaves out keyword
    arguments that are None: a layer's ``compute_output_spec`` may not take its
    call's optional ones (KerasHub's attention cache)."""

    def __call__(self, *args, **kwargs):
        if _is_symbolic(args, kwargs):
            kwargs = {k: v for k, v in kwargs.items() if v is not None}
        return cls.__call__(self, *args, **kwargs)

    methods = {"__call__": __call__, "add_loss": _add_loss(cls), "__module__": cls.__module__}
    return type(cls.__name__, (cls,), methods)


def training_required(call) -> bool:
    """Whether ``call`` takes a ``training`` argument without a default value."""
    try:
        parameter = inspect.signature(call).parameters.get("training")
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.default is inspect.Parameter.empty


def _inlined_class(cls: type) -> type:
    """A subclass of ``cls`` whose ``__call__`` on symbolic tensors runs ``call`` itself.

    ``Layer.__call__`` fills in ``training`` from the call context; a ``call`` run
    directly gets ``training=False`` where it requires the argument and is not given it.
    """
    accepts_all = any(
        p.kind is inspect.Parameter.VAR_KEYWORD
        for p in inspect.signature(cls.call).parameters.values()
    )
    accepted = set(inspect.signature(cls.call).parameters)
    needs_training = training_required(cls.call)

    def __call__(self, *args, **kwargs):
        if not _is_symbolic(args, kwargs):
            return cls.__call__(self, *args, **kwargs)
        if not accepts_all:  # Layer.__call__ drops `training`/`mask` a call does not take
            kwargs = {k: v for k, v in kwargs.items() if k in accepted}
        if needs_training and kwargs.get("training") is None:
            kwargs["training"] = False
        return self.call(*args, **kwargs)

    methods = {"__call__": __call__, "add_loss": _add_loss(cls), "__module__": cls.__module__}
    return type(cls.__name__, (cls,), methods)


@contextlib.contextmanager
def _inlining(layers: list, inline: Callable[[object], bool]):
    """Gives each layer a subclass for the trace (``_inlined_class`` or ``_leaf_class``)
    and its own class back afterwards."""
    pairs = [
        (layer, _inlined_class(type(layer)) if inline(layer) else _leaf_class(type(layer)))
        for layer in layers
    ]
    with keras_internals.classes_swapped(pairs):
        yield


# Binary operators of a Keras variable, and the ``keras.ops`` function each stands for.
_VARIABLE_OPERATORS = {
    "add": "add", "sub": "subtract", "mul": "multiply", "truediv": "divide",
    "matmul": "matmul", "pow": "power",
}  # fmt: skip


def _symbolic_operator(name: str, op_name: str, reflected: bool):
    def operator(self, other):
        if isinstance(other, keras.KerasTensor):
            op = getattr(keras.ops, op_name)
            return op(other, self) if reflected else op(self, other)
        return getattr(super(type(self), self), name)(other)

    return operator


def _variable_class(cls: type) -> type:
    """A subclass of a Keras variable class whose operators with a symbolic tensor
    make ``keras.ops`` nodes (``self.alpha * h`` fails on every backend otherwise)."""
    methods = {"__module__": cls.__module__}
    for short, op_name in _VARIABLE_OPERATORS.items():
        for name, reflected in ((f"__{short}__", False), (f"__r{short}__", True)):
            methods[name] = _symbolic_operator(name, op_name, reflected)
    return type(cls.__name__, (cls,), methods)


@contextlib.contextmanager
def _symbolic_variables(variables: list):
    """Gives each variable a ``_variable_class`` for the trace, its own class afterwards."""
    classes = {cls: _variable_class(cls) for cls in {type(v) for v in variables}}
    with keras_internals.classes_swapped([(v, classes[type(v)]) for v in variables]):
        yield


_MISSING = object()
_PLAIN = (int, float, complex, str, bytes, bool, type(None))
# Keras' own record that a layer was built: a sublayer first built by the trace keeps
# the variables it made, so it stays built.
_KEPT_AS_SET = frozenset({"built"})


def _holds_symbolic(value) -> bool:
    if isinstance(value, keras.KerasTensor):
        return True
    if isinstance(value, (list, tuple, dict)) and value:
        try:
            return any(isinstance(t, keras.KerasTensor) for t in keras.tree.flatten(value))
        except Exception:  # an exotic container: leave it alone
            return False
    return False


def _put_back(key: str, old, value) -> bool:
    if old is value or key in _KEPT_AS_SET:
        return False
    if _holds_symbolic(value):
        return True
    # A plain value the call changed (``self.calls += 1``).
    return old is not _MISSING and isinstance(value, _PLAIN) and isinstance(old, _PLAIN)


@contextlib.contextmanager
def _attributes_kept(objects: list):
    """Puts back every attribute that a ``call`` set to symbolic tensors (a layer that
    keeps its last attention scores, say) or changed from one plain value to another (a
    Python counter), and removes the new symbolic ones."""
    before = [(obj, dict(vars(obj))) for obj in objects]
    try:
        yield
    finally:
        for obj, old in before:
            attributes = vars(obj)
            for key, value in list(attributes.items()):
                if not _put_back(key, old.get(key, _MISSING), value):
                    continue
                if key in old:
                    attributes[key] = old[key]
                else:
                    del attributes[key]


def _operations(outputs: list) -> list:
    """The operations that made ``outputs``, each once, every one after its inputs'."""
    order, seen = [], set()

    def visit(tensor) -> None:
        history = keras_internals.keras_history(tensor)
        if history is None:
            return
        operation = history.operation
        node = keras_internals.inbound_nodes(operation)[history.node_index]
        key = (id(operation), history.node_index)
        if key in seen:
            return
        seen.add(key)
        for t in node.input_tensors:
            visit(t)
        if operation not in order:
            order.append(operation)

    for tensor in outputs:
        visit(tensor)
    return order


class Traced:
    """The graph a trace read: ``inputs``, ``outputs`` and ``operations`` (leaf layers
    and op nodes, inputs before the ops that use them), as a functional model has."""

    def __init__(self, name: str, inputs: list, outputs: list):
        self.name = f"{name} (traced)"
        self.inputs, self.outputs = inputs, outputs
        self.operations = _operations(outputs)
        self.layers = [op for op in self.operations if isinstance(op, keras.layers.Layer)]


class Trace:
    """A model's ``call`` run on symbolic inputs (module docstring).

    Args:
        model: A built ``keras.Model``.
        inline: Which layers to enter (composite layers, nested models).
    """

    def __init__(self, model: keras.Model, inline: Callable[[object], bool]):
        self.model, self.graph, self.reason = model, None, ""
        self._saved: list = []
        inputs = _symbolic_inputs(model)
        if inputs is None:
            self.reason = "the shape the model was built for is unknown"
            return
        layers = [
            la
            for la in keras_internals.flatten_layers(model)
            if not isinstance(la, keras.layers.InputLayer)
        ]
        self._saved = keras_internals.set_nodes_aside(layers)
        kwargs = {"training": False} if training_required(type(model).call) else {}
        try:
            with (
                _attributes_kept([model, *layers]),
                keras_internals.losses_kept([model, *layers]),
                keras_internals.classes_swapped([(model, _losses_discarded(type(model)))]),
                _symbolic_variables(list(model.variables)),
                keras.StatelessScope(),
                _inlining(layers, inline),
            ):
                outputs = model.call(inputs, **kwargs)
            self.graph = Traced(model.name, keras.tree.flatten(inputs), keras.tree.flatten(outputs))
        except Exception as err:  # any failure of user code on symbolic tensors
            self.reason = f"its call does not run on symbolic tensors ({type(err).__name__}: {err})"
            self.close()

    def close(self) -> None:
        """Puts back the sublayers' own nodes (once)."""
        keras_internals.restore_nodes(self._saved)
        self._saved = []
