"""Initializers built from other initializers: per-gate blocks and per-shape cases.

``Blocks`` draws a kernel as equal blocks along its last axis, one initializer each:
the layout of recurrent kernels, whose columns hold one gate after the other
(LSTM: input, forget, cell, output; GRU: update, reset, candidate). Each gate
feeds a different activation, so each block needs its own gain.

``ByShape`` picks an initializer by the exact shape asked for. ``MultiHeadAttention``
has one ``kernel_initializer`` for projections of different fans (query, key,
value: ``(d_model, heads, key_dim)``; output: ``(heads, value_dim, d_model)``), so
only the shape says which projection is being initialized.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras


def _get_initializer(init, name: str):
    if isinstance(init, dict):
        # Each case gets its own instance. MultiHeadAttention clones its initializer
        # by get_config/from_config once per projection; inside load_model's
        # object-sharing scope that marks the inner configs as one shared object,
        # so key and value would share (and redraw) one instance.
        init = {k: v for k, v in init.items() if k != "shared_object_id"}
    try:
        return keras.initializers.get(init)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{name}: {init!r} is not a Keras initializer ({err}).") from None


@keras.saving.register_keras_serializable(package="keras_glorot")
class Blocks(keras.initializers.Initializer):
    """Concatenates equal blocks along the last axis, each from its own initializer.

    A kernel of shape ``(..., n * k)`` is drawn as ``n`` blocks of shape
    ``(..., k)``: block ``i`` by ``initializers[i]``.

    Examples:

    >>> init = Blocks([Glorot("sigmoid", seed=1), Glorot("tanh", seed=2)])
    >>> w = init((16, 2 * 8))  # columns 0-7: sigmoid gain, 8-15: tanh gain

    Args:
        initializers: The blocks' initializers (instances, names or configs), in
            the order of the kernel's columns.

    Reference:
    - Keras ``LSTMCell``/``GRUCell``: kernel columns are the gates, concatenated.
    """

    def __init__(self, initializers: Sequence):
        if isinstance(initializers, (str, dict)) or not isinstance(initializers, Sequence):
            raise TypeError(
                "initializers must be a list of initializers. "
                f"Received: initializers={initializers!r}."
            )
        if len(initializers) == 0:
            raise ValueError("initializers must hold at least one initializer. Received: [].")
        self.initializers = [
            _get_initializer(init, f"initializers[{i}]") for i, init in enumerate(initializers)
        ]

    def block_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        """The shape of each block of a kernel of ``shape``."""
        shape = tuple(int(d) for d in shape)
        n = len(self.initializers)
        if not shape or shape[-1] % n:
            raise ValueError(
                f"shape={shape}: the last axis must split into {n} equal blocks "
                f"(one per initializer); {shape[-1] if shape else 'no axis'} does not."
            )
        return shape[:-1] + (shape[-1] // n,)

    def __call__(self, shape, dtype=None):
        block = self.block_shape(shape)
        parts = [init(block, dtype=dtype) for init in self.initializers]
        return keras.ops.concatenate(parts, axis=-1)

    def get_config(self) -> dict:
        return {"initializers": [keras.initializers.serialize(i) for i in self.initializers]}


@keras.saving.register_keras_serializable(package="keras_glorot")
class ByShape(keras.initializers.Initializer):
    """Chooses an initializer by the exact shape of the kernel asked for.

    Examples:

    >>> init = ByShape([((64, 4, 16), Glorot(input_axes=[0], output_axes=[1, 2])),
    ...                 ((4, 16, 64), Glorot(input_axes=[0, 1], output_axes=[2]))])
    >>> w = init((4, 16, 64))

    Args:
        cases: A list of ``(shape, initializer)`` pairs; shapes must differ.
    """

    def __init__(self, cases: Sequence):
        self.cases = []
        for i, case in enumerate(cases):
            if isinstance(case, dict):
                case = (case["shape"], case["initializer"])
            shape, init = case
            shape = tuple(int(d) for d in shape)
            if any(shape == s for s, _ in self.cases):
                raise ValueError(f"cases[{i}]: shape {shape} appears twice; shapes must differ.")
            self.cases.append((shape, _get_initializer(init, f"cases[{i}]")))

    def __call__(self, shape, dtype=None):
        shape = tuple(int(d) for d in shape)
        for case_shape, init in self.cases:
            if case_shape == shape:
                return init(shape, dtype=dtype)
        raise ValueError(
            f"shape={shape} is none of this ByShape's shapes: {[s for s, _ in self.cases]}."
        )

    def get_config(self) -> dict:
        return {
            "cases": [
                {"shape": list(s), "initializer": keras.initializers.serialize(i)}
                for s, i in self.cases
            ]
        }
