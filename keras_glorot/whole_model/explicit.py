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
"""

from __future__ import annotations

import inspect

import keras

from keras_glorot import keras_internals

CHOICES = ("override", "keep")


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
    return type(initializer), sorted(config.items(), key=lambda kv: kv[0])


def chosen(layer, kernel) -> str | None:
    """The class name of the initializer the author chose for ``kernel`` (a
    ``plans.Kernel`` of ``layer``), or None when it is the layer's default or ours."""
    if isinstance(layer, keras.layers.MultiHeadAttention):
        owner, attr = layer, "kernel_initializer"
        current = keras_internals.attention_kernel_initializer(layer)
    elif kernel.attr is None:  # no initializer of its own to have been chosen
        return None
    else:
        owner, attr = kernel.owner, kernel.attr
        current = getattr(owner, attr, None)
    if current is None or type(current).__module__.startswith("keras_glorot"):
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
