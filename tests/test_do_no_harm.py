"""``initialize`` does no harm where it cannot read, and keeps what an author meant.

Each test builds the smallest model with one pattern found in public Keras code: an EMA
copy set equal to its network, a feature pyramid's lateral sum, attention whose call
cannot be traced, a block that calls ``add_loss``, an author's near-zero start, a layer
with a plain Python counter, a call that draws nothing.
"""

from __future__ import annotations

import math
import sys
import warnings

import keras
import numpy as np
import pytest
from conftest import REPO, to_numpy
from keras import layers, ops

import keras_glorot
from keras_glorot.whole_model import kinds

sys.path.insert(0, str(REPO / "examples"))
from nets.keras_io.autoregressive import PixelConvLayer  # noqa: E402  (keras-io's own)


def _initialize(model, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = keras_glorot.initialize(model, seed=0, **kwargs)
    ours = [w for w in caught if "keras_glorot" in w.filename or w.filename == __file__]
    return report, ours


# ----------------------------------------------------------------------- tied copies
def _mlp(name):
    return keras.Sequential(
        [keras.Input((16,)), layers.Dense(32, activation="relu"), layers.Dense(8)], name=name
    )


class _WithEma(keras.Model):
    """keras-io's DDPM wrapper: a network, its EMA copy set equal, no call()."""

    def __init__(self):
        super().__init__()
        self.network, self.ema_network = _mlp("network"), _mlp("ema_network")
        self.ema_network.set_weights(self.network.get_weights())


def test_tied_copies_stay_tied_and_are_drawn_once():
    wrapper = _WithEma()
    before = [to_numpy(v).copy() for v in wrapper.network.weights]
    report, _ = _initialize(wrapper)
    x = np.random.default_rng(0).standard_normal((4, 16)).astype("float32")
    out, ema = to_numpy(wrapper.network(x)), to_numpy(wrapper.ema_network(x))
    assert np.array_equal(out, ema)  # before the fix: max |diff| 1.1 here, 4.7 in DDPM
    after = [to_numpy(v) for v in wrapper.network.weights]
    assert not np.array_equal(before[0], after[0])  # the network's kernel was drawn
    copied = [r for r in report.handled if "equal before the call: drawn once" in r.note]
    assert [r.layer.split("/")[0] for r in copied] == ["ema_network"] * 2, report


def test_a_group_with_a_kept_member_is_kept_whole():
    wrapper = _WithEma()
    # The EMA copy's first kernel is kept (a layer kind initialize() leaves alone would
    # do the same): its equal twin in the network must not be drawn apart from it.
    wrapper.ema_network.layers[0].kernel_initializer = keras.initializers.Zeros()
    first = to_numpy(wrapper.network.layers[0].kernel).copy()
    keep = keras_glorot.initialize(wrapper, seed=0, explicit="keep")
    assert np.array_equal(to_numpy(wrapper.network.layers[0].kernel), first)
    assert np.array_equal(
        to_numpy(wrapper.network.layers[0].kernel), to_numpy(wrapper.ema_network.layers[0].kernel)
    )
    assert any("copies stay equal" in r.skipped for r in keep.skipped), keep


# ------------------------------------------------------------------ lateral sums
def _pyramid():
    """RetinaNet's feature pyramid without normalization: p4 = lateral(c4) +
    upsample(lateral(c5)), and lateral(c5) is also the pyramid's level P5."""
    inputs = keras.Input((16, 16, 3))
    c4 = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(inputs)
    c5 = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(c4)
    p5 = layers.Conv2D(16, 1, name="lateral_c5")(c5)
    p4 = layers.Conv2D(16, 1, name="lateral_c4")(c4)
    p4 = layers.Add(name="p4_sum")([p4, layers.UpSampling2D(2)(p5)])
    p4 = layers.Conv2D(16, 3, padding="same", name="out_p4")(p4)
    p5 = layers.Conv2D(16, 3, padding="same", name="out_p5")(p5)
    return keras.Model(inputs, [p4, p5])


@pytest.mark.parametrize("residual", ["fixup", "scaled", "zero"])
def test_a_lateral_sum_is_no_residual_merge(residual):
    model = _pyramid()
    report, warned = _initialize(model, residual=residual)
    (merge,) = report.merges
    assert "a sum of two features" in merge.action and not merge.applied, merge
    assert not warned and not report.fallbacks, report.fallbacks
    lateral = model.get_layer("lateral_c5").kernel
    # Drawn as in a plain network: Glorot, linear, fans 32 and 16 (1x1 conv).
    std = float(np.std(to_numpy(lateral)))
    assert std > 0.5 * math.sqrt(2 / (32 + 16)), std  # fixup zeroed it before


# ------------------------------------------- a guess never raises a gain (softmax)
class _UntracedTalkingHeads(layers.Layer):
    """CaiT's talking-heads attention: head-mixing kernels before (``proj_l``) and after
    (``proj_w``) the softmax. ``call`` reads a value (a NumPy check of its input), so it
    cannot be traced, as CaiT's cannot."""

    def __init__(self, dim=32, heads=4, **kwargs):
        super().__init__(**kwargs)
        self.heads = heads
        self.qkv = layers.Dense(dim * 3)
        self.proj_l = layers.Dense(heads)
        self.proj_w = layers.Dense(heads)
        self.proj = layers.Dense(dim)

    def call(self, x):
        if not np.isfinite(ops.convert_to_numpy(ops.max(x))):  # a value: no trace
            raise ValueError("non-finite input")
        b, n, c = x.shape
        d = c // self.heads
        qkv = ops.transpose(ops.reshape(self.qkv(x), (b, n, 3, self.heads, d)), (2, 0, 3, 1, 4))
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ops.matmul(q * d**-0.5, ops.transpose(k, (0, 1, 3, 2)))
        attn = ops.transpose(self.proj_l(ops.transpose(attn, (0, 2, 3, 1))), (0, 3, 1, 2))
        attn = ops.softmax(attn, axis=-1)
        attn = ops.transpose(self.proj_w(ops.transpose(attn, (0, 2, 3, 1))), (0, 3, 1, 2))
        return self.proj(ops.reshape(ops.transpose(ops.matmul(attn, v), (0, 2, 1, 3)), (b, n, c)))

    def compute_output_shape(self, input_shape):  # what Keras cannot infer from call
        return input_shape


def test_a_measured_gain_is_never_raised_across_a_softmax():
    inputs = keras.Input((64, 32), batch_size=2)
    block = _UntracedTalkingHeads(name="talking_heads")
    model = keras.Model(inputs, block(inputs))
    model(np.ones((2, 64, 32), "float32"))  # builds the sublayers the symbolic call did not
    report, warned = _initialize(model)
    assert report.fallbacks and len(warned) == 1
    rows = {r.layer.split("/")[-1]: r for r in report.handled}
    for name, row in rows.items():
        own = 1.0  # no layer here has an activation of its own
        assert row.gain <= own + 1e-9, (name, row.gain, row.activation)
    # The text says where the old gain came from and why it is not used.
    assert any("never raised" in r.activation for r in report.handled), report
    # The functional graph is still read; only the composite is not (before: "its
    # layers are read in the order __init__ assigned them").
    (fallback,) = report.fallbacks
    assert "'talking_heads' could not be traced" in fallback
    assert "functional graph is read" in fallback and "__init__" not in fallback


# ----------------------------------------------------------------------- add_loss
class _ActivityBlock(layers.Layer):
    def __init__(self, width, **kwargs):
        super().__init__(**kwargs)
        self.inner, self.outer = layers.Dense(width, activation="relu"), layers.Dense(width)
        self.calls = 0  # a plain Python attribute the call changes

    def call(self, x):
        self.calls += 1
        h = self.outer(self.inner(x))
        self.add_loss(1e-3 * ops.mean(h**2))
        return x + h


def _activity_mlp(width=32, depth=4):
    inputs = keras.Input((width,))
    x = inputs
    blocks = [_ActivityBlock(width) for _ in range(depth)]
    for block in blocks:
        x = block(x)
    return keras.Model(inputs, layers.Dense(10)(x)), blocks


def test_add_loss_does_not_stop_the_trace_and_losses_are_kept():
    model, blocks = _activity_mlp()
    x = np.random.default_rng(0).standard_normal((8, 32)).astype("float32")
    model(x)
    losses = [float(to_numpy(v)) for v in model.losses]
    calls = [b.calls for b in blocks]
    report, warned = _initialize(model)
    assert not report.fallbacks and not warned, report.fallbacks
    assert len(report.merges) == 4 and all(m.applied for m in report.merges), report
    assert [float(to_numpy(v)) for v in model.losses] == losses  # emptied before (4 -> 0)
    assert [b.calls for b in blocks] == calls  # a Python counter: 1 -> 2 before


# ------------------------------------------------------------ deliberate starts
def _near_zero():
    return keras.initializers.VarianceScaling(1e-10, mode="fan_avg", distribution="uniform")


def _stack(kernel_initializer):
    return keras.Sequential(
        [
            keras.Input((128,)),
            layers.Dense(128, activation="relu"),
            layers.Dense(128, kernel_initializer=kernel_initializer, name="chosen"),
        ]
    )


@pytest.mark.parametrize("chosen", ["zeros", "near_zero", "ones"])
def test_an_authors_zero_or_near_zero_start_is_kept(chosen):
    init = _near_zero() if chosen == "near_zero" else chosen
    model = _stack(init)
    before = to_numpy(model.get_layer("chosen").kernel).copy()
    report, _ = _initialize(model)
    assert np.array_equal(to_numpy(model.get_layer("chosen").kernel), before)
    (row,) = report["chosen"]
    assert "kept" in row.skipped, row


@pytest.mark.parametrize("library_default", ["glorot_uniform", "normal_0.02"])
def test_a_library_default_is_redrawn(library_default):
    init = keras.initializers.RandomNormal(0.0, 0.02) if library_default == "normal_0.02" else None
    model = _stack(init or library_default)
    report, _ = _initialize(model)
    (row,) = report["chosen"]
    assert not row.skipped and row.std == pytest.approx(math.sqrt(2 / 256), rel=0.01), row


def test_a_kept_branch_end_is_said_once():
    inputs = keras.Input((32,))
    x = inputs
    for i in range(3):
        h = layers.Dense(32, activation="relu")(x)
        x = layers.Add()([x, layers.Dense(32, kernel_initializer=_near_zero(), name=f"end{i}")(h)])
    model = keras.Model(inputs, x)
    report, warned = _initialize(model)
    assert all("author's start" in m.action for m in report.merges), report.merges
    assert len(warned) == 1 and "keeps its author's start" in str(warned[0].message)


# ------------------------------------------------------- normalization behind pooling
def test_a_normalization_behind_pooling_sets_the_scale():
    """keras-io's Siamese net: tanh conv, AveragePooling2D, Flatten, BatchNormalization.
    The batch norm sets what the next kernel reads: Keras' scale, not tanh's gain 1.59."""
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(8, 3, activation="tanh", name="conv")(inputs)
    x = layers.BatchNormalization()(layers.Flatten()(layers.AveragePooling2D(2)(x)))
    model = keras.Model(inputs, layers.Dense(4)(x))
    report, _ = _initialize(model)
    (row,) = report["conv"]
    assert row.gain == 1.0 and row.std == pytest.approx(math.sqrt(2 / (27 + 72)), rel=1e-6)


# ------------------------------------------------------------ masked convolutions
def test_a_masked_convolution_counts_only_its_taps(monkeypatch):
    """keras-io's PixelCNN: a Conv2D whose kernel its layer masks to the taps above and
    left of the centre (mask A: 24 of 49)."""
    monkeypatch.setattr(kinds, "_REGISTERED", {})  # this test's registration only
    inputs = keras.Input((16, 16, 8))
    layer = PixelConvLayer("A", filters=64, kernel_size=7, padding="same", activation="relu")
    model = keras.Model(inputs, layer(inputs))
    keras_glorot.register_layer_kind(PixelConvLayer, kernels=("conv.kernel",),
                                     mask=lambda la, v: la.mask)  # fmt: skip
    report, _ = _initialize(model)
    kernel = to_numpy(layer.conv.kernel)
    assert not kernel[layer.mask == 0].any()  # masked taps zero right away
    # 24 of 49 taps survive: fans 24 * 8 in, 24 * 64 out; relu's gain sqrt(2).
    std = math.sqrt(2 * 2 / (24 * 8 + 24 * 64))
    used = kernel[layer.mask == 1]
    (row,) = report.handled
    assert row.fan_in == 24 * 8 and row.std == pytest.approx(std, rel=1e-6)
    # truncated normal at 2 std: the sample std from n values, SE about std / sqrt(2 n).
    assert abs(used.std() - std) < 4 * std / math.sqrt(2 * used.size)


# -------------------------------------------------------- a call that draws nothing
def test_a_call_that_draws_nothing_says_so_first():
    class Opaque(layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1], 4), name="w")

        def call(self, x):
            return ops.matmul(x, self.w)

    inputs = keras.Input((8,))
    model = keras.Model(inputs, Opaque()(inputs))
    report, warned = _initialize(model)
    assert not report.handled
    assert report.fallbacks[0].startswith("nothing was drawn")
    assert len(warned) == 1 and "nothing was drawn" in str(warned[0].message).splitlines()[1]
    assert "nothing was drawn" in str(report).splitlines()[0]


def test_a_library_convention_is_redrawn_even_where_it_is_small():
    """KerasHub draws every kernel from N(0, 0.02²): a convention, not a statement. At
    width 16 that is under a tenth of Glorot's std (0.25), and still redrawn."""
    normal = keras.initializers.RandomNormal(0.0, 0.02)
    model = keras.Sequential(
        [keras.Input((16,))]
        + [layers.Dense(16, activation="relu", kernel_initializer=normal) for _ in range(3)]
        + [layers.Dense(16, kernel_initializer=_near_zero(), name="end")]
    )
    report, _ = _initialize(model)
    assert len(report.handled) == 3 and all("replaces" in r.note for r in report.handled)
    (end,) = report["end"]
    assert "near-zero start, kept" in end.skipped  # one kernel's own near-zero start


def test_a_kernel_layer_never_called_is_named():
    """BASNet builds a ResNet whose stem its own convolution replaces: the stem is built,
    never called, and still gets a row saying so."""
    stem = layers.Conv2D(8, 3, name="unused_stem")
    stem.build((None, 8, 8, 3))
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, layers.Conv2D(8, 3, name="own_stem")(inputs))
    model.unused = stem  # held, built, not called
    before = to_numpy(stem.kernel).copy()
    report, _ = _initialize(model)
    (row,) = report["unused_stem"]
    assert "never calls it" in row.skipped
    assert np.array_equal(to_numpy(stem.kernel), before)
