"""Drawing: every planned kernel once, then all assigned together, then the configs.

An error while drawing leaves every weight as it was: nothing is assigned until every
kernel has its value.
"""

from __future__ import annotations

import copy

import keras

from keras_glorot import backend, keras_internals
from keras_glorot.composed import ByShape
from keras_glorot.whole_model import kinds


def record_attention_config(layer) -> str:
    """Sets the MultiHeadAttention's kernel_initializer; returns why not, or "".

    MultiHeadAttention clones one kernel_initializer into its four projections;
    ByShape lets that one config give each projection its own axes. Seeds are
    left None: a seeded clone would give query, key and value equal kernels. The
    attribute is private because Keras exposes no setter for it.
    """
    cases = {}
    for name in kinds.ATTENTION_PARTS:
        sub = getattr(layer, name)
        shape = tuple(int(d) for d in sub.kernel.shape)
        config = sub.kernel_initializer.get_config()
        if "seed" in config:
            config["seed"] = None
        if shape in cases and cases[shape] != (type(sub.kernel_initializer), config):
            return (
                f"config not rewritten: two projections of shape {shape} need different "
                "initializers, which one kernel_initializer cannot express"
            )
        cases[shape] = (type(sub.kernel_initializer), config)
    keras_internals.set_attention_kernel_initializer(
        layer, ByShape([(s, t.from_config(c)) for s, (t, c) in cases.items()])
    )
    return ""


def commit(entries: list) -> None:
    """Draws every planned kernel once, then assigns them all and records each
    initializer: a draw that fails leaves every weight as it was. A tied copy
    (``copy_of``) gets its source's values, and a config that redraws them."""
    # A copy's layer records an instance of its own, made before any draw (one call
    # per seeded instance), not through the config (laws.Planned.rescale says why).
    laws = {id(d): copy.deepcopy(d.copy_of.init) if d.copy_of else d.init for d in entries}
    values = {
        id(d): d.init(d.shape, dtype=d.kernel.variable.dtype) for d in entries if d.copy_of is None
    }
    with backend.one_intra_op_thread():  # a copy over a busy core waits for it
        for d in entries:
            source = d.copy_of or d
            value = values[id(source)]
            if d.kernel.mask is not None:  # the taps a masked layer does not use: zero
                value = value * keras.ops.convert_to_tensor(d.kernel.mask, value.dtype)
            d.kernel.variable.assign(value)
            if d.kernel.attr is not None:
                setattr(d.kernel.owner, d.kernel.attr, laws[id(d)])
