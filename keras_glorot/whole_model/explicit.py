"""Initializers an author chose: kernels built with other than their layer's default.

``Conv2D(64, 3, kernel_initializer="he_normal")`` says something the layer's default
(``glorot_uniform``) does not. ``initialize(model, explicit=...)`` either redraws such a
kernel like any other and says so on its report row (``"override"``, the default), or
leaves it as drawn at build time and reports it skipped (``"keep"``). A kernel whose
initializer is its layer's default, or one of this package's (a model initialized
before), is not an author's choice.

The default of a layer's ``kernel_initializer`` (``depthwise_initializer``,
``recurrent_initializer``...) is read from the signature of its class's ``__init__``;
``MultiHeadAttention`` clones one ``kernel_initializer`` into its four projections,
so its own is compared with its own default.

Some starts are statements, and are kept under either choice (``deliberate``): a
constant kernel (zeros, an author's ``set_weights``), and an author's initializer whose
draw is near zero, its std under a tenth of Keras' default for the kernel's fans (the
DDPM U-Net's ``VarianceScaling(1e-10)`` on every residual branch's end, a
zero-initialized projection). A library-wide convention (the law of more than half the
model's kernels: KerasHub's N(0, 0.02²), a quarter of Glorot's std at width 128) and
Keras' own default are redrawn.
"""

from __future__ import annotations

import inspect
import math

import keras
import numpy as np

from keras_glorot import keras_internals
from keras_glorot.fans import compute_fans

CHOICES = ("override", "keep")
# An author's draw whose std is under this fraction of Keras' default (glorot_uniform
# for the kernel's Keras fans) is a deliberate near-zero start (variance under 1/100).
NEAR_ZERO = 0.1


def _default(cls: type, attr: str):
    try:
        parameter = inspect.signature(cls.__init__).parameters.get(attr)
    except (TypeError, ValueError):
        return None
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return None
    return parameter.default


def _law(initializer) -> tuple:
    config = dict(initializer.get_config()) if hasattr(initializer, "get_config") else {}
    config.pop("seed", None)
    return type(initializer), tuple(sorted((k, repr(v)) for k, v in config.items()))


def _current(layer, kernel) -> tuple:
    """``(owner, attribute, initializer)`` that ``kernel`` was drawn by, or Nones."""
    if isinstance(layer, keras.layers.MultiHeadAttention):
        return layer, "kernel_initializer", keras_internals.attention_kernel_initializer(layer)
    if kernel.attr is None:  # no initializer of its own to have been chosen
        return None, None, None
    return kernel.owner, kernel.attr, getattr(kernel.owner, kernel.attr, None)


def _ours(initializer) -> bool:
    """Drawn by this package: a model initialized before (its residual zeros too)."""
    return type(initializer).__module__.startswith("keras_glorot")


def chosen(layer, kernel) -> str | None:
    """The class name of the initializer the author chose for ``kernel`` (a
    ``plans.Kernel`` of ``layer``), or None when it is the layer's default or ours."""
    owner, attr, current = _current(layer, kernel)
    if current is None or _ours(current):
        return None
    default = _default(type(owner), attr)
    if default is None:
        return None
    try:
        default = keras.initializers.get(default)
    except ValueError:
        return None
    if _law(current) == _law(default):
        return None
    return type(current).__name__


def law_of(layer, kernel) -> tuple | None:
    """The law ``kernel`` was drawn by (initializer class and config, seed aside)."""
    current = _current(layer, kernel)[2]
    return None if current is None else _law(current)


def library_laws(layers: list) -> set:
    """The laws that draw more than half of the kernels of ``layers`` (``(layer,
    kernel)`` pairs): a library's convention (KerasHub's N(0, 0.02²) everywhere), not a
    statement about one kernel."""
    counts: dict = {}
    for layer, kernel in layers:
        law = law_of(layer, kernel)
        if law is not None:
            counts[law] = counts.get(law, 0) + 1
    return {law for law, n in counts.items() if 2 * n > len(layers)}


def deliberate(layer, kernel, chosen_name: str | None, library: set = frozenset()) -> str:
    """Why ``kernel``'s start is a statement to keep (module docstring), or "".
    ``library``: the laws of the model's convention (``library_laws``), never near-zero
    statements, whatever the width makes of them (0.02 is under a tenth of Glorot's
    std at width 16)."""
    if _ours(_current(layer, kernel)[2]):
        return ""
    variable = kernel.variable
    value = np.asarray(keras.ops.convert_to_numpy(keras.ops.copy(variable)), dtype=np.float64)
    if value.size and np.all(value == value.flat[0]):
        what = f"the author's {chosen_name}" if chosen_name else "a start set by the author"
        return f"{what}: a constant kernel ({value.flat[0]:.3g} everywhere), kept"
    if chosen_name is None or value.size < 2 or law_of(layer, kernel) in library:
        return ""
    shape = tuple(int(d) for d in value.shape)
    fan_in, fan_out = compute_fans(shape)
    reference = math.sqrt(2.0 / (fan_in + fan_out))
    # The law's std where Keras' initializer says it; else the draw's (a custom one).
    std = law_std(_current(layer, kernel)[2], fan_in, fan_out)
    if std is None:
        std = float(np.sqrt(np.mean(value**2)))
    if std < NEAR_ZERO * reference:
        return (
            f"the author's {chosen_name}: std {std:.3g}, under a tenth of Keras' default "
            f"{reference:.3g}, a deliberate near-zero start, kept"
        )
    return ""


def law_std(initializer, fan_in: float, fan_out: float) -> float | None:
    """The std Keras' ``initializer`` draws with at Keras' fans, None for another."""
    init = keras.initializers
    if isinstance(initializer, init.VarianceScaling):  # Glorot*, He*, LeCun* too
        n = {"fan_in": fan_in, "fan_out": fan_out}.get(initializer.mode, (fan_in + fan_out) / 2)
        return math.sqrt(initializer.scale / max(n, 1.0))
    if isinstance(initializer, init.TruncatedNormal):  # cut at 2 std: 0.88 of it
        return 0.8796 * initializer.stddev
    if isinstance(initializer, init.RandomNormal):
        return initializer.stddev
    if isinstance(initializer, init.RandomUniform):
        return (initializer.maxval - initializer.minval) / math.sqrt(12.0)
    return None
