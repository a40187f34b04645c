"""Fans: how many units feed into, and are fed by, each weight.

For a kernel shape alone this follows Keras' convention
(``keras.src.initializers.random_initializers.compute_fans``): the last axis is
the output, the one before it the input, every earlier axis a receptive field.
``input_axes``/``output_axes`` (set by ``EinsumDense`` and ``MultiHeadAttention``)
name the axes explicitly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def compute_fans(
    shape: Sequence[int],
    input_axes: Sequence[int] | None = None,
    output_axes: Sequence[int] | None = None,
) -> tuple[int, int]:
    """Returns ``(fan_in, fan_out)`` for a kernel of ``shape``.

    Args:
        shape: The kernel's shape.
        input_axes: Axes holding input units (with ``output_axes``), as Keras'
            ``VarianceScaling`` takes them.
        output_axes: Axes holding output units.

    Example:

    >>> compute_fans((3, 3, 16, 32))
    (144, 288)
    >>> compute_fans((8, 4, 16), input_axes=[0], output_axes=[1, 2])
    (8, 64)
    """
    shape = tuple(int(d) for d in shape)
    if input_axes is not None and output_axes is not None:
        return (
            math.prod(shape[a] for a in input_axes),
            math.prod(shape[a] for a in output_axes),
        )
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def fan_for_mode(fan_in: int, fan_out: int, mode: str) -> float:
    """The ``n`` of ``Var(W) = gain**2 / n`` for a mode (fan_in, fan_out, fan_avg)."""
    if mode == "fan_in":
        return float(fan_in)
    if mode == "fan_out":
        return float(fan_out)
    return (fan_in + fan_out) / 2.0
