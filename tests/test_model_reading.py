"""How ``initialize`` reads model code written in the styles of Keras' own examples.

Each case is a way a user writes a model that an earlier reading got wrong without a
word: a block called in a loop, ``call(self, x, training)`` without a default, a
learnable scalar on the left of a product, a call that cannot be traced, a sublayer
never built, a wrapper without ``call``, a ``call`` with side effects, an activation
at the output, an initializer the author chose. Every case runs on each backend.
"""

import math
import re
import warnings

import keras
import numpy as np
import pytest
from conftest import to_numpy

from keras_glorot import initialize
from keras_glorot.initializers import Glorot

L = keras.layers


def no_warnings(fn, *args, **kwargs):
    """Runs ``fn`` and fails on any warning the package gives."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    ours = [w for w in caught if "could not read" in str(w.message)]
    assert not ours, [str(w.message) for w in ours]
    return out


def rms_ratio(model, x) -> float:
    y = to_numpy(model(x))
    return float(np.sqrt(np.mean(y**2) / np.mean(x**2)))


def normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


# ---------------------------------------------------------------------------
# A module called more than once.


class PreNormModule(L.Layer):
    """A pre-norm MLP block with an ``Add`` layer, called several times (the Perceiver
    calls one such module in a loop); optionally through ``keras.layers.Attention``."""

    def __init__(self, dim, attention=False, **kwargs):
        super().__init__(**kwargs)
        self.norm = L.LayerNormalization()
        self.attention = L.Attention(use_scale=True) if attention else None
        self.up = L.Dense(dim, activation="gelu")
        self.down = L.Dense(dim)
        self.add = L.Add()

    def call(self, x):
        h = self.norm(x)
        if self.attention is not None:
            h = self.attention([h, h])
        return self.add([x, self.down(self.up(h))])


@pytest.mark.parametrize("attention", [False, True], ids=["mlp", "through_attention"])
def test_each_call_of_a_reused_module_is_its_own_merge(attention):
    inputs = keras.Input((8, 32))
    module = PreNormModule(32, attention=attention)
    x = L.Dense(32, name="stem")(inputs)
    for _ in range(3):
        x = module(x)
    model = keras.Model(inputs, L.Dense(10, name="head")(L.GlobalAveragePooling1D()(x)))
    report = no_warnings(initialize, model, seed=0)
    # Three sums of two inputs, not one sum of six: each call is told apart.
    assert [m.merge for m in report.merges] == [
        f"{module.add.name} (call {k} of 3)" for k in (1, 2, 3)
    ]
    assert all(m.shortcut == "identity" for m in report.merges)
    assert report.depth == 3
    # One kernel serves every call: changed at the first, named at the others.
    assert report.merges[0].applied and "pre-norm branch" in report.merges[0].action
    assert all("one kernel serves every call" in m.action for m in report.merges[1:])
    # The branch end gets GPT-2's 1/sqrt(N), N = 3 branch ends over the calls.
    (row,) = [r for r in report.records if r.layer.endswith(module.down.name)]
    assert "1/sqrt(3)" in row.note
    assert report.fallbacks == []


# ---------------------------------------------------------------------------
# call(self, x, training) without a default.


class Block(L.Layer):
    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        self.inner = L.Dense(dim, activation="relu")
        self.outer = L.Dense(dim)

    def call(self, x, training):
        return x + self.outer(self.inner(x))


class BlockWithDefault(Block):
    def call(self, x, training=None):
        return x + self.outer(self.inner(x))


def _net(block_class):
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.blocks = [block_class(32) for _ in range(4)]
            self.head = L.Dense(10)

        def call(self, x, training):
            for block in self.blocks:
                x = block(x, training=training)
            return self.head(x)

    model = Net()
    model(np.zeros((2, 32), "float32"), training=False)
    return model


def _summary(report):
    # Op names ('add_6') count up from model to model: compared without them.
    return [(re.sub(r"'[^']*'", "'-'", r.activation), r.gain, r.std) for r in report.records]


def test_call_with_a_required_training_argument_is_traced():
    required = no_warnings(initialize, _net(Block), seed=0)
    with_default = no_warnings(initialize, _net(BlockWithDefault), seed=0)
    # Read through the trace: four residual sums found, each branch end zeroed by Fixup.
    assert len(required.merges) == 4 and all(m.applied for m in required.merges)
    assert _summary(required) == _summary(with_default)
    assert required.fallbacks == []


# ---------------------------------------------------------------------------
# A learnable scalar on the left of a product.


class ScaledResidual(L.Layer):
    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        self.inner = L.Dense(dim, activation="relu")
        self.outer = L.Dense(dim)

    def build(self, input_shape):
        self.alpha = self.add_weight(shape=(), initializer="ones", name="alpha")

    def call(self, x):
        return x + self.alpha * self.outer(self.inner(x))


def test_a_variable_times_a_branch_is_read():
    inputs = keras.Input((32,))
    x = inputs
    for _ in range(16):
        x = ScaledResidual(32)(x)
    model = keras.Model(inputs, x)
    batch = normal((256, 32))
    report = no_warnings(initialize, model, seed=0)
    assert len(report.merges) == 16 and all(m.applied for m in report.merges)
    # Fixup zeroes each branch end: every block starts as its shortcut, whatever alpha.
    assert rms_ratio(model, batch) == pytest.approx(1.0, rel=1e-5)
    assert all(float(to_numpy(w)) == 1.0 for w in model.weights if w.path.endswith("alpha"))


# ---------------------------------------------------------------------------
# A call that cannot be traced: said once, in a warning and in the report.


class NumpyInCall(keras.Model):
    def __init__(self):
        super().__init__(name="numpy_net")
        self.a = L.Dense(16, activation="relu")
        self.b = L.Dense(4)

    def call(self, x):
        scale = float(np.asarray(x).std())  # reads values: no symbolic trace
        return self.b(self.a(x)) * scale


def test_a_call_that_does_not_trace_is_warned_of_once_and_reported():
    model = NumpyInCall()
    model(np.ones((2, 8), "float32"))
    with pytest.warns(UserWarning) as caught:
        report = initialize(model, seed=0)
    ours = [w for w in caught if "could not read" in str(w.message)]
    assert len(ours) == 1
    (line,) = report.fallbacks
    assert "'numpy_net'" in line and "could not be traced" in line and "keras.ops" in line
    assert line in str(ours[0].message)
    assert "could not read: 'numpy_net'" in str(report)
    assert "could not read" in report.to_markdown()


def test_a_merge_it_cannot_place_is_a_fallback():
    inputs = keras.Input((16,))
    a = L.Dense(16, name="a")(inputs)
    b = L.Dense(16, name="b")(inputs)
    model = keras.Model(inputs, L.Add(name="sum")([a, b]))
    with pytest.warns(UserWarning, match="could not read 1 part"):
        report = initialize(model, seed=0)
    (line,) = report.fallbacks
    assert "'sum'" in line and "cannot tell branch from shortcut" in line
    assert "residual=None" in line  # what the user can do


# ---------------------------------------------------------------------------
# All or nothing.


class WithUnusedHead(keras.Model):
    def __init__(self):
        super().__init__()
        self.body = L.Dense(16, activation="relu", name="body")
        self.head = L.Dense(4, name="head")
        self.unused = L.Dense(3, name="unused")  # never called: never built

    def call(self, x):
        return self.head(self.body(x))


def test_a_sublayer_never_built_is_reported_and_the_rest_drawn():
    model = WithUnusedHead()
    model(np.ones((2, 8), "float32"))
    before = [to_numpy(w) for w in model.weights]
    report = no_warnings(initialize, model, seed=0)
    (row,) = report["unused"]
    assert row.skipped.startswith("not built")
    assert [r.layer for r in report.handled] == ["body", "head"]
    after = [to_numpy(w) for w in model.weights]
    kernels = [not np.array_equal(a, b) for a, b in zip(before, after, strict=True)]
    assert kernels == [w.path.endswith("kernel") for w in model.weights]


def test_an_error_while_drawing_leaves_every_weight_as_it_was(monkeypatch):
    model = keras.Sequential(
        [keras.Input((8,))] + [L.Dense(8, activation="relu") for _ in range(4)] + [L.Dense(2)]
    )
    before = [to_numpy(w) for w in model.weights]
    calls = []
    original = Glorot.__call__

    def failing(self, shape, dtype=None):
        calls.append(shape)
        if len(calls) == 3:
            raise RuntimeError("out of memory")
        return original(self, shape, dtype=dtype)

    monkeypatch.setattr(Glorot, "__call__", failing)
    with pytest.raises(RuntimeError, match="out of memory"):
        initialize(model, seed=0)
    for w, value in zip(model.weights, before, strict=True):
        np.testing.assert_array_equal(to_numpy(w), value)
    assert all(isinstance(la.kernel_initializer, keras.initializers.GlorotUniform)
               for la in model.layers)  # fmt: skip


def test_each_kernel_is_drawn_once(monkeypatch):
    """Fixup scales and zeroes branch kernels: their laws change before the draw, and
    each kernel is drawn once, at its final law."""
    inputs = keras.Input((16,))
    x = L.Dense(16, name="stem")(inputs)
    for k in range(3):
        h = L.Dense(16, activation="relu", name=f"b{k}_a")(x)
        x = L.Add()([x, L.Dense(16, name=f"b{k}_b")(h)])
    model = keras.Model(inputs, L.Dense(4, name="head")(x))
    counts = {}
    original = Glorot.__call__

    def counting(self, shape, dtype=None):
        counts[tuple(shape)] = counts.get(tuple(shape), 0) + 1
        return original(self, shape, dtype=dtype)

    monkeypatch.setattr(Glorot, "__call__", counting)
    report = initialize(model, seed=0)
    # stem, 3 scaled first kernels, head: 5 Glorot draws; the 3 zeroed ends draw Zeros.
    assert counts == {(16, 16): 4, (16, 4): 1}
    assert sum(m.applied for m in report.merges) == 3


# ---------------------------------------------------------------------------
# A model with no call of its own.


class VAE(keras.Model):
    """keras-io's variational autoencoder: a training wrapper with ``train_step``."""

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder

    def train_step(self, data):  # pragma: no cover - not trained here
        raise NotImplementedError


def _vae():
    inputs = keras.Input((16,))
    h = L.Dense(32, activation="relu", name="enc_hidden")(inputs)
    encoder = keras.Model(inputs, [L.Dense(4, name="z_mean")(h), L.Dense(4, name="z_log_var")(h)],
                          name="encoder")  # fmt: skip
    latent = keras.Input((4,))
    h = L.Dense(32, activation="relu", name="dec_hidden")(latent)
    decoder = keras.Model(latent, L.Dense(16, activation="sigmoid", name="recon")(h),
                          name="decoder")  # fmt: skip
    return VAE(encoder, decoder)


def test_a_wrapper_without_call_has_each_of_its_models_read():
    vae = _vae()
    before = {w.path: to_numpy(w) for w in vae.weights}
    report = no_warnings(initialize, vae, seed=0)
    assert [r.layer for r in report.handled] == [
        "encoder/enc_hidden", "encoder/z_mean", "encoder/z_log_var",
        "decoder/dec_hidden", "decoder/recon",
    ]  # fmt: skip
    assert "has no call of its own" in report.notes[0]
    changed = {p for p, v in before.items() if not np.array_equal(v, to_numpy(_weight(vae, p)))}
    assert changed == {p for p in before if p.endswith("kernel")}
    # One seed sequence over both models: no two kernels drawn alike.
    assert not np.array_equal(to_numpy(vae.encoder.get_layer("enc_hidden").kernel)[:4, :32],
                              to_numpy(vae.decoder.get_layer("dec_hidden").kernel))  # fmt: skip


def _weight(model, path):
    return next(w for w in model.weights if w.path == path)


def test_a_wrapper_with_an_unbuilt_model_raises_before_drawing():
    vae = _vae()
    vae.decoder = keras.Sequential([L.Dense(3)])  # never built
    before = [to_numpy(w) for w in vae.encoder.weights]
    with pytest.raises(ValueError, match="not built"):
        initialize(vae, seed=0)
    for w, value in zip(vae.encoder.weights, before, strict=True):
        np.testing.assert_array_equal(to_numpy(w), value)


# ---------------------------------------------------------------------------
# Tracing without side effects.


class Stateful(L.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.proj = L.Dense(8)
        self.noise = keras.random.SeedGenerator(7)

    def build(self, input_shape):
        self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                     name="calls")  # fmt: skip
        self.last = "none yet"

    def call(self, x):
        self.calls.assign_add(1.0)
        h = self.proj(x)
        self.last = h  # a symbolic tensor, during a trace
        return h + 0.0 * keras.random.normal((8,), seed=self.noise)


def test_tracing_changes_no_state():
    inputs = keras.Input((8,))
    layer = Stateful()
    model = keras.Model(inputs, L.Dense(2)(layer(inputs)))
    calls = float(to_numpy(layer.calls))
    seed_state = to_numpy(layer.noise.state)
    last = layer.last  # whatever building the model left there
    report = no_warnings(initialize, model, seed=0)
    assert report.fallbacks == [] and report.records[0].layer.startswith(layer.name)
    assert float(to_numpy(layer.calls)) == calls
    np.testing.assert_array_equal(to_numpy(layer.noise.state), seed_state)
    assert layer.last is last and not isinstance(layer.last, keras.KerasTensor)


# ---------------------------------------------------------------------------
# The output kernel.


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "softmax", "relu"])
def test_an_activation_at_the_output_is_the_link(activation):
    model = keras.Sequential([
        keras.Input((256,)),
        L.Dense(256, activation="relu", name="hidden"),
        L.Dense(256, activation=activation, name="out"),
    ])  # fmt: skip
    report = no_warnings(initialize, model, seed=0)
    (row,) = report["out"]
    assert row.gain == 1.0 and f"{activation} at the model output" in row.activation
    # Unit gain: Glorot's variance 2 / (256 + 256), the std of a linear layer's draw.
    assert row.std == pytest.approx(math.sqrt(2 / 512))
    (hidden,) = report["hidden"]
    assert hidden.gain == pytest.approx(math.sqrt(2))


class ScoreAttention(L.Layer):
    """Attention scores from a kernel, normalized by a ``Softmax`` sublayer."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.scores = L.Dense(8, name="scores")
        self.softmax = L.Softmax(name="attention_softmax")

    def call(self, x):
        return keras.ops.matmul(self.softmax(self.scores(x)), x)


def test_a_softmax_inside_the_model_is_not_called_a_head():
    inputs = keras.Input((8, 16))
    model = keras.Model(inputs, L.Dense(2, name="out")(ScoreAttention(name="block")(inputs)))
    report = no_warnings(initialize, model, seed=0)
    (row,) = report["block/scores"]
    assert "softmax" in row.activation and "head" not in row.activation
    assert row.gain == 1.0


# ---------------------------------------------------------------------------
# An initializer the author chose.


def _with_he():
    return keras.Sequential([
        keras.Input((8, 8, 3)),
        L.Conv2D(16, 3, activation="relu", kernel_initializer="he_normal", name="chosen"),
        L.Conv2D(16, 3, activation="relu", name="default"),
        L.Flatten(),
        L.Dense(2, name="out"),
    ])  # fmt: skip


def test_an_explicit_initializer_is_overridden_and_the_row_says_so():
    model = _with_he()
    report = no_warnings(initialize, model, seed=0)
    (row,) = report["chosen"]
    assert row.note == "replaces the author's HeNormal (explicit='override')"
    assert report["default"][0].note == ""
    assert isinstance(model.get_layer("chosen").kernel_initializer, Glorot)


def test_explicit_keep_leaves_the_authors_kernel():
    model = _with_he()
    kernel = to_numpy(model.get_layer("chosen").kernel)
    report = no_warnings(initialize, model, seed=0, explicit="keep")
    (row,) = report["chosen"]
    assert "the author's HeNormal kept" in row.skipped
    np.testing.assert_array_equal(to_numpy(model.get_layer("chosen").kernel), kernel)
    assert isinstance(model.get_layer("chosen").kernel_initializer, keras.initializers.HeNormal)
    assert [r.layer for r in report.handled] == ["default", "out"]
    with pytest.raises(ValueError, match=r"explicit='kept' is not allowed"):
        initialize(model, explicit="kept")


def test_the_printed_report_fits_a_terminal():
    """Rows within 100 columns, however long the names and reasons; a long cell wraps
    in its column and is never cut: every word of every row is printed."""
    inputs = keras.Input((8, 16))
    module = PreNormModule(16, attention=True, name="a_block_with_a_rather_long_name_indeed")
    x = inputs
    for _ in range(2):
        x = module(x)
    model = keras.Model(inputs, L.Dense(2, activation="sigmoid", name="head")(x))
    report = no_warnings(initialize, model, seed=0)
    text = str(report)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert len(text.splitlines()) > len(report) + 8  # long cells wrapped onto more lines
    assert "\u2026" not in text and "..." not in text  # nothing cut with an ellipsis
    printed = set(text.split())
    for r in report:
        for word in f"{r.layer} {r.activation} {r.note} {r.skipped}".split():
            # Only a word longer than its column (10 characters or more here) is folded.
            assert word in printed or len(word) > 8, word
    assert "link)" in printed
