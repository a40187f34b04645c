"""A kernel's law: from its plan (activation, fans, blocks) to the initializer that draws it.

``initialize`` plans a law for every kernel (``plan_kernel``), lets the residual
policies change it, and only then draws each kernel once (``draw.commit``), so that an
error anywhere before leaves every weight as it was. The initializer is also what the layer's
config records, so that saving and ``clone_model`` redraw the same law.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import keras
import numpy as np

from keras_glorot.composed import Blocks
from keras_glorot.fans import compute_fans
from keras_glorot.initializers import Glorot
from keras_glorot.whole_model.kinds import Block, Kernel
from keras_glorot.whole_model.report import InitReport, KernelRecord


@keras.saving.register_keras_serializable(package="keras_glorot")
class ResidualZeros(keras.initializers.Zeros):
    """Keras' ``Zeros``, as ``initialize`` draws a residual branch's last kernel
    (``residual="fixup"`` or ``"zero"``): marked as this package's, so that a later
    ``initialize`` redraws it instead of keeping it as an author's zero start."""


class Seeds:
    """Reproducible per-draw seeds derived from ``(seed, k)`` for the k-th draw.

    Not ``seed + k``: with that, ``seed=1`` would redraw ``seed=0``'s kernels one
    layer down, and runs over consecutive seeds would not be independent.
    ``np.random.SeedSequence`` mixes both numbers. None stays None (unseeded).
    """

    def __init__(self, seed: int | None):
        self.seed, self.count = seed, 0

    def next(self) -> int | None:
        self.count += 1
        if self.seed is None:
            return None
        state = np.random.SeedSequence([self.seed, self.count - 1]).generate_state(1)
        return int(state[0] >> 1)  # 31 bits: a valid seed on every backend.


def _at_keras_fans(block: Block, shape: tuple[int, ...]) -> Block:
    """A Glorot-drawn block under a normalization, with Keras' own fans of the whole
    variable instead of the true ones: the scale sets only the step there
    (docs/derivation.md, "A kernel under normalization"), and the true fans of a
    depthwise or strided kernel would draw it up to sqrt(channels) times Keras' size and
    slow its steps by the square of that. Other blocks are returned as they are."""
    if not block.found.normalized or block.glorot_kwargs is None:
        return block
    fan_in, fan_out = compute_fans(shape)
    fans = {"fan_in": fan_in, "fan_out": fan_out}
    return dataclasses.replace(block, **fans, glorot_kwargs=fans)


def _block_initializer(block: Block, options: dict, seed):
    gain = block.found.gain(options["convention"])
    if block.found.normalized:
        # Keras' default scale (glorot_uniform's variance) whatever the mode asked.
        options = {**options, "mode": "fan_avg"}
    if block.glorot_kwargs is None:
        return keras.initializers.Orthogonal(gain=gain, seed=seed)
    kwargs = dict(block.glorot_kwargs)
    if block.found.scale != 1.0:
        # A factor on the gain (a squeeze-excite gate after the kernel) goes into
        # explicit fans, so the saved config redraws the same law.
        squared = block.found.scale**2
        kwargs.update(fan_in=block.fan_in / squared, fan_out=block.fan_out / squared)
    return Glorot(
        block.found.activation,
        negative_slope=block.found.negative_slope,
        seed=seed,
        **options,
        **kwargs,
    )


def _block_std(init, block: Block, shape) -> float:
    if isinstance(init, Glorot):
        return init.stddev(shape)
    # Rows of an orthogonal (n, n) matrix have unit norm: mean square 1/n.
    return init.gain / math.sqrt(block.fan_in)


def plan_kernel(kernel: Kernel, options: dict, seeds: Seeds, layer, report: InitReport, name: str):
    """The law ``kernel`` will be drawn from, with its report rows; draws nothing (the
    residual policies may still change the law; ``commit`` draws it once)."""
    shape = tuple(int(d) for d in kernel.variable.shape)
    blocks = [_at_keras_fans(b, shape) for b in kernel.blocks]
    inits = [_block_initializer(b, options, seeds.next()) for b in blocks]
    init = inits[0] if len(inits) == 1 else Blocks(inits)
    block_shape = shape if len(inits) == 1 else init.block_shape(shape)
    records = []
    for block, block_init in zip(blocks, inits, strict=True):
        records.append(
            KernelRecord(
                layer=name,
                kind=type(layer).__name__,
                part=block.part,
                activation=block.found.label,
                fan_in=block.fan_in,
                fan_out=block.fan_out,
                gain=block.found.gain(options["convention"]),
                std=_block_std(block_init, block, block_shape),
                note="orthogonal" if block.glorot_kwargs is None else "",
            )
        )
        report.add(records[-1])
    return Planned(kernel, init, records)


@dataclasses.dataclass
class Planned:
    """A kernel ``initialize`` will draw: its plan, the law (initializer) and report rows."""

    kernel: Kernel
    init: object
    records: list
    copy_of: Planned | None = None  # a tied copy (``copies.tie``) gets this one's values

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.kernel.variable.shape)

    def variance(self) -> float:
        if isinstance(self.init, keras.initializers.Zeros):
            return 0.0
        if isinstance(self.init, Glorot):
            return self.init.stddev(self.shape) ** 2
        return self.records[0].std ** 2  # gate blocks (recurrent layers): the report's std

    def forward(self) -> float:
        """``fan_in * Var(W)``: the second-moment factor of this kernel's linear map."""
        return self.kernel.blocks[0].fan_in * self.variance()

    def rescale(self, factor: float, note: str) -> None:
        """Multiplies the law's variance by ``factor`` (0: zeros); nothing is drawn here.

        The factor is folded into the explicit fans of the same ``Glorot`` (same
        seed), so the saved config redraws the scaled law; a zero kernel gets
        ``keras.initializers.Zeros``. ``initialize`` draws each kernel once, at its
        final law, after every policy has run.
        """
        shape = self.shape
        if factor == 0.0:
            init = ResidualZeros()
        else:
            fan_in, fan_out = self.init.fans(shape)
            # A copy, not a round trip through the config: an activation Keras cannot
            # look up by name (KerasHub's quick_gelu) would not come back.
            init = copy.deepcopy(self.init)
            init.fan_in, init.fan_out = fan_in / factor, fan_out / factor
        self.init = init
        for record in self.records:
            record.std = 0.0 if factor == 0.0 else init.stddev(shape)
            record.note = "; ".join(n for n in (record.note, note) if n)


@dataclasses.dataclass
class Plan:
    """``initialize``'s plan for one model: the reading, every kernel's law by layer,
    the residual policy, the seed of the measurements and the report being written."""

    reading: object  # a ModelReading, its trace open while planning
    report: InitReport
    policy: str
    seed: int | None
    kernels: dict[int, list[Planned]] = dataclasses.field(default_factory=dict)
    convention: str = "moment"  # the gain convention (``calculate_gain``)
    # Layers whose start is kept on purpose (``explicit.deliberate``), and why.
    kept: dict[int, str] = dataclasses.field(default_factory=dict)
    # The laws of the model's own convention (``explicit.library_laws``).
    library: set = dataclasses.field(default_factory=set)

    @property
    def graph(self):
        return self.reading.graph
