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

    Examples:

    >>> compute_fans((3, 3, 16, 32))
    (144, 288)
    >>> compute_fans((8, 4, 16), input_axes=[0], output_axes=[1, 2])
    (8, 64)

    Args:
        shape: The kernel's shape.
        input_axes: Axes holding input units (with ``output_axes``), as Keras'
            ``VarianceScaling`` takes them.
        output_axes: Axes holding output units.
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


def fan_for_mode(fan_in: float, fan_out: float, mode: str) -> float:
    """The ``n`` of ``Var(W) = gain**2 / n`` for a mode (fan_in, fan_out, fan_avg)."""
    if mode == "fan_in":
        return float(fan_in)
    if mode == "fan_out":
        return float(fan_out)
    return (fan_in + fan_out) / 2.0


# Layer-kind fans. A kernel's shape alone misstates the fans of some layers; these
# functions give the true ones from the shape plus what the layer knows.
#
# Strides. A convolution with strides s_1..s_r moves its window s_d positions at a
# time, so each input position lies in only k_d / s_d windows per dimension on
# average (k_d the kernel size): an input unit feeds prod(k_d / s_d) * filters
# outputs, not prod(k_d) * filters. A transposed convolution is the adjoint: each
# of its output positions receives prod(k_d / s_d) taps per input channel on
# average. The exact count depends on the position's phase modulo the stride
# (k = 3, s = 2: 2 taps at even positions, 1 at odd ones); the fans here are the
# mean over phases, which is what keeps the mean second moment over all output
# positions (and, backwards, over all input positions) at its target. Positions
# where the window meets the padding receive fewer taps still; like Keras' and
# PyTorch's fans, these count the interior only. Dilation spaces the taps but
# does not change how many there are, nor the mean over phases.


def receptive_field(kernel_shape: Sequence[int], spatial_rank: int) -> int:
    """The number of spatial positions a convolution kernel covers."""
    return math.prod(int(d) for d in tuple(kernel_shape)[:spatial_rank])


def stride_product(strides: int | Sequence[int] | None, spatial_rank: int) -> int:
    """``prod(strides)``; an int applies to every spatial dimension, None means 1."""
    if strides is None:
        return 1
    if isinstance(strides, int):
        strides = (strides,) * spatial_rank
    strides = tuple(int(s) for s in strides)
    if len(strides) != spatial_rank or any(s < 1 for s in strides):
        raise ValueError(
            f"strides={strides} must hold {spatial_rank} int(s) >= 1, one per spatial "
            "dimension of the kernel."
        )
    return math.prod(strides)


def _exact(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def grouped_conv_fans(
    kernel_shape: Sequence[int], groups: int = 1, strides: int | Sequence[int] | None = None
) -> tuple[int | float, int | float]:
    """``(fan_in, fan_out)`` of a ``Conv1D/2D/3D`` kernel with ``groups`` and ``strides``.

    The kernel is ``kernel_size + (in_channels // groups, filters)``. Each output
    unit sums ``receptive_field * in_channels / groups`` inputs (what the shape
    says). Each input feeds only the ``filters / groups`` filters of its group,
    and lies in ``receptive_field / prod(strides)`` windows on average (see the
    note on strides above), so the shape overstates fan_out by ``groups *
    prod(strides)``. A fan that is not a whole number is returned as a float.

    Examples:

    >>> grouped_conv_fans((3, 3, 8, 32), groups=4)
    (72, 72)
    >>> grouped_conv_fans((3, 3, 16, 32), strides=2)
    (144, 72)
    """
    shape = tuple(int(d) for d in kernel_shape)
    rank = len(shape) - 2
    field = receptive_field(shape, rank)
    fan_out = field * shape[-1] / (groups * stride_product(strides, rank))
    return field * shape[-2], _exact(fan_out)


def depthwise_fans(
    kernel_shape: Sequence[int], strides: int | Sequence[int] | None = None
) -> tuple[int | float, int | float]:
    """``(fan_in, fan_out)`` of a depthwise kernel ``kernel_size + (channels, multiplier)``.

    Each output unit sums one channel over the receptive field (fan_in =
    receptive field); each input unit feeds ``depth_multiplier`` outputs in each
    of the ``receptive_field / prod(strides)`` windows it lies in on average.
    Keras' shape rule would give ``channels`` times more fan_in.

    Examples:

    >>> depthwise_fans((3, 3, 32, 1))
    (9, 9)
    >>> depthwise_fans((3, 3, 32, 2), strides=(2, 2))
    (9, 4.5)
    """
    shape = tuple(int(d) for d in kernel_shape)
    rank = len(shape) - 2
    field = receptive_field(shape, rank)
    return field, _exact(field * shape[-1] / stride_product(strides, rank))


def transposed_conv_axes(kernel_rank: int) -> tuple[list[int], list[int]]:
    """``(input_axes, output_axes)`` of a ``Conv*DTranspose`` kernel with unit strides.

    The kernel is ``kernel_size + (filters, in_channels)``: the channel axes are
    the reverse of a convolution's, so the fans are swapped relative to Keras'
    shape rule. With strides the axes no longer give the fans:
    use ``transposed_conv_fans``.

    Examples:

    >>> transposed_conv_axes(4)
    ([0, 1, 3], [0, 1, 2])
    """
    spatial = list(range(kernel_rank - 2))
    return spatial + [kernel_rank - 1], spatial + [kernel_rank - 2]


def transposed_conv_fans(
    kernel_shape: Sequence[int], strides: int | Sequence[int] | None = None
) -> tuple[int | float, int | float]:
    """``(fan_in, fan_out)`` of a ``Conv*DTranspose`` kernel ``kernel_size + (filters, in)``.

    Each input unit feeds every tap of the kernel: fan_out = ``receptive_field *
    filters``. Each output position receives ``receptive_field / prod(strides)``
    taps per input channel on average (see the note on strides above), so
    fan_in = ``receptive_field * in_channels / prod(strides)``; the shape alone
    overstates it by ``prod(strides)``.

    Examples:

    >>> transposed_conv_fans((3, 3, 32, 64), strides=2)
    (144, 288)
    """
    shape = tuple(int(d) for d in kernel_shape)
    rank = len(shape) - 2
    field = receptive_field(shape, rank)
    return _exact(field * shape[-1] / stride_product(strides, rank)), field * shape[-2]


def einsum_kernel_axes(equation: str) -> tuple[list[int], list[int]]:
    """``(input_axes, output_axes)`` of the kernel of an ``EinsumDense`` equation.

    Kernel axes whose letter appears in the input but not the output are summed
    over (input units); those in the output but not the input are output units.
    Letters in both (shared, like a batch) count as neither.

    Examples:

    >>> einsum_kernel_axes("abc,cde->abde")
    ([0], [1, 2])
    >>> einsum_kernel_axes("abcd,cde->abe")
    ([0, 1], [2])
    """
    try:
        operands, output = equation.replace(" ", "").split("->")
        inputs, kernel = operands.split(",")
    except ValueError:
        raise ValueError(
            f"equation={equation!r} is not of the form 'input,kernel->output'."
        ) from None
    if "..." in kernel:
        raise ValueError(f"equation={equation!r}: an ellipsis in the kernel is not supported.")
    input_axes = [i for i, c in enumerate(kernel) if c in inputs and c not in output]
    output_axes = [i for i, c in enumerate(kernel) if c in output and c not in inputs]
    return input_axes, output_axes
