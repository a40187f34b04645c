"""Gains measured without data: for a kernel inside a composite layer whose call
cannot be traced and whose activation no layout names.

N(0, 1) inputs of the composite's built shape go through it twice, once as is and
once with the kernel's output replaced by zeros; the first kernel sublayer whose
input changes is the one the kernel feeds, and the gain is ``sqrt(E[y**2] / E[z**2])``
for the kernel's output ``y`` and that consumer's input ``z``: the gain that brings the
consumer's input back to the second moment a linear path would give it, as ``lsuv``
does with data. The kernels run at their planned laws, drawn for the measurement
alone and put back afterwards; nothing of the model is changed.

A measured gain is a guess, made without reading the call: it never raises a kernel's
gain above the one its own layer gives it (1 for a layer without an activation). What
the pass sees may be no elementwise activation at all: behind a softmax the consumer's
input has a second moment near ``1/N**2`` for ``N`` keys, and compensating that as a
gain (about 11 in CaiT's talking-heads attention) made the attention nearly one-hot.

Reference:
- Mishkin & Matas, 2016, "All you need is a good init" (LSUV: scaling a layer by
  its measured output variance).
"""

from __future__ import annotations

import contextlib
import copy
import math

import keras
import numpy as np

from keras_glorot.whole_model import found as _found
from keras_glorot.whole_model.composite import Place, _where, drawn_with_role, place
from keras_glorot.whole_model.graph import is_composite, sublayers
from keras_glorot.whole_model.trace import built_shape, training_required


def _input_shape(composite) -> tuple | None:
    """The shape ``composite`` was built for (Keras records it), None if unknown."""
    shape = built_shape(composite)
    if shape is None:
        return None
    # A batch of 64, sequences of 16 where the length is free: with a batch of 8 the
    # gains of identical blocks spread by 10%.
    return tuple(64 if i == 0 else (16 if d is None else int(d)) for i, d in enumerate(shape))


class _Tap:
    """Hooks the kernel sublayers of a composite: their first input's and output's
    second moments, and optionally zeroes one layer's output."""

    def __init__(self, layers):
        self.layers, self.zero = layers, None
        self.inputs: dict[int, np.ndarray] = {}
        self.outputs: dict[int, float] = {}
        self.order: list[int] = []

    def __enter__(self):
        for layer in self.layers:
            object.__setattr__(layer, "call", self._hook(layer, layer.call))
        return self

    def __exit__(self, *exc):
        for layer in self.layers:
            object.__delattr__(layer, "call")

    def _hook(self, layer, original):
        def hook(*args, **kwargs):
            first = keras.tree.flatten((args, kwargs))[0]
            if id(layer) not in self.inputs:
                self.inputs[id(layer)] = np.asarray(keras.ops.convert_to_numpy(first), float)
                self.order.append(id(layer))
            out = original(*args, **kwargs)
            value = np.asarray(keras.ops.convert_to_numpy(keras.tree.flatten(out)[0]), float)
            self.outputs.setdefault(id(layer), float(np.mean(value**2)))
            return keras.ops.zeros_like(out) if self.zero is layer else out

        return hook


def _stateless(composite, x, kwargs: dict) -> None:
    """Runs ``composite`` on ``x`` without writing any variable (a counter, a seed)."""
    with keras.StatelessScope():
        composite(x, **kwargs)


def measured_gain(
    layer, spot: Place, kernel_layers: list, seed: int = 0
) -> tuple[float | None, str]:
    """The data-free gain of ``layer`` in its composite (module docstring), and a note.

    None when it cannot be measured (the composite's input shape is unknown, or its
    call fails on N(0, 1)): the caller then draws it linear and says why.
    """
    composite = spot.parent
    shape = _input_shape(composite)
    if shape is None:
        return None, "not measured: the composite's input shape is unknown"
    x = np.random.default_rng([seed, 0x4D45]).standard_normal(shape).astype("float32")
    kwargs = {"training": False} if training_required(type(composite).call) else {}
    mates = [k for k in kernel_layers if k is not layer] + [layer]
    try:
        with _Tap(mates) as tap:
            _stateless(composite, x, kwargs)
            base_inputs, order = dict(tap.inputs), list(tap.order)
            y2 = tap.outputs.get(id(layer))
            tap.inputs, tap.outputs, tap.order, tap.zero = {}, {}, [], layer
            _stateless(composite, x, kwargs)
            changed = [
                i for i in order
                if i != id(layer) and i in tap.inputs
                and not np.allclose(tap.inputs[i], base_inputs[i])
            ]  # fmt: skip
    except Exception as err:  # a composite that needs more than one tensor, say
        return None, f"not measured: the composite's call on N(0, 1) failed ({err})"
    if y2 is None:
        return None, "not measured: the kernel is not called by its composite"
    if not changed:
        return 1.0, "measured: its output leaves the composite (linear)"
    consumer = next(k for k in kernel_layers if id(k) == changed[0])
    z2 = float(np.mean(base_inputs[changed[0]] ** 2))
    if not (math.isfinite(y2) and math.isfinite(z2)) or y2 <= 0 or z2 <= 0:
        return None, f"not measured: second moments {y2:.3g}, {z2:.3g}"
    gain = _gain_at_unit_output(layer, consumer, composite, x, y2, math.sqrt(y2 / z2), kwargs)
    if gain is None:
        return None, "not measured: the consumer's input at unit output was not finite"
    return gain, f"measured: feeds {consumer.name} (data-free pass)"


def _gain_at_unit_output(layer, consumer, composite, x, y2: float, first: float, kwargs: dict):
    """``1 / sqrt(E[z**2])`` for the consumer's input ``z`` when the kernel's output has
    unit second moment: the moment gain (``calculate_gain``'s convention) of whatever
    the path applies. Measured with the kernel as drawn, ``sqrt(y2 / z2)`` is that
    only for homogeneous ops (relu, a scaling); gelu gave 1.70 for its 1.53 and tanh
    1.33 for its 1.59, because their output's second moment depends on the input's
    scale. The kernel is put back as it was."""
    kernel = getattr(layer, "kernel", None)
    if kernel is None:
        return first
    original = keras.ops.convert_to_numpy(kernel)
    try:
        kernel.assign(original / math.sqrt(y2))
        with _Tap([consumer]) as tap:
            _stateless(composite, x, kwargs)
    finally:
        kernel.assign(original)
    z = tap.inputs.get(id(consumer))
    z2 = None if z is None else float(np.mean(z**2))
    if z2 is None or not math.isfinite(z2) or z2 <= 0:
        return None
    return 1.0 / math.sqrt(z2)


def composite_kernel_layers(composite) -> list:
    """The kernel-bearing leaf layers inside ``composite``, at any depth."""
    out = []
    for layer in sublayers(composite):
        if is_composite(layer):
            out.extend(composite_kernel_layers(layer))
        elif getattr(layer, "kernel", None) is not None or isinstance(
            layer, keras.layers.MultiHeadAttention
        ):
            out.append(layer)
    return out


def measure(plan) -> None:
    """Rescales every kernel whose activation was not found by its measured gain.

    The pass runs the composite with its kernels at their planned laws, drawn for the
    measurement alone and put back as they were afterwards (``initialize`` draws
    every kernel once, after planning). A kernel it cannot measure is drawn linear,
    and ``report.fallbacks`` says why.
    """
    graph, drawn, seed, report = plan.graph, plan.kernels, plan.seed, plan.report
    for layer, d in drawn_with_role(graph, drawn, "measure"):
        spot = place(layer, graph)
        mates = composite_kernel_layers(spot.parent)
        with _planned_kernels([e for m in mates for e in drawn.get(id(m), [])]):
            gain, note = measured_gain(layer, spot, mates, seed or 0)
        where = _where(layer, spot)
        if gain is None:
            for record in d.records:
                record.activation = f"linear: activation unknown, drawn linear ({where}; {note})"
                report.fallback(
                    f"{record.layer!r}: the activation after its kernel is unknown, so it is "
                    f"drawn linear ({where}; {note}). Let the composite's call() be traced, "
                    "or give the layer its activation."
                )
            continue
        ceiling = _found.own_gain(layer, plan.convention)
        if gain > ceiling:
            note = (
                f"{note}; measured {gain:.3g}, kept at its layer's own {ceiling:.3g}: a gain "
                "found without reading the call is never raised"
            )
            gain = ceiling
        d.rescale(gain**2, "")
        for record in d.records:
            record.activation = f"gain {gain:.3g} ({note}; {where})"
            record.gain = gain


@contextlib.contextmanager
def _planned_kernels(entries: list):
    """The kernels of ``entries`` drawn at their planned laws, then put back as they were.

    Each is drawn by a copy of its planned initializer (same law, same values): the
    planned one is called once, by ``initialize``'s commit, and so never warns that it
    was called twice.
    """
    originals = [(e.kernel.variable, e.kernel.variable.numpy()) for e in entries]
    try:
        for e in entries:
            law = copy.deepcopy(e.init)  # not through its config: laws.Planned.rescale
            e.kernel.variable.assign(law(e.shape, dtype=e.kernel.variable.dtype))
        yield
    finally:
        for variable, value in originals:
            variable.assign(value)
