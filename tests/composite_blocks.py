"""Hand-written composite layers for the tests: the layouts of KerasHub's transformer
blocks (same attribute names, same call order), a user's own blocks, and a subclassed
model that nests them three deep. Registered, so that saved models reload."""

import math

import keras

PACKAGE = "keras_glorot_tests"


@keras.saving.register_keras_serializable(PACKAGE)
class Attention(keras.layers.Layer):
    """Llama-style self-attention: four EinsumDense projections, softmax in ``call``."""

    def __init__(self, hidden: int, heads: int, **kwargs):
        super().__init__(**kwargs)
        self.hidden, self.heads = hidden, heads
        shape = (None, heads, hidden // heads)
        self._query_dense = keras.layers.EinsumDense("btd,dnh->btnh", shape, name="query")
        self._key_dense = keras.layers.EinsumDense("btd,dnh->btnh", shape, name="key")
        self._value_dense = keras.layers.EinsumDense("btd,dnh->btnh", shape, name="value")
        self._softmax = keras.layers.Softmax(axis=-1, name="attention_softmax")
        self._output_dense = keras.layers.EinsumDense(
            "btnh,nhd->btd", (None, hidden), name="attention_output"
        )

    def call(self, x):
        q, k, v = self._query_dense(x), self._key_dense(x), self._value_dense(x)
        scores = keras.ops.einsum("btnh,bsnh->bnts", q, k) / math.sqrt(self.hidden // self.heads)
        weights = self._softmax(scores)
        return self._output_dense(keras.ops.einsum("bnts,bsnh->btnh", weights, v))

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden, "heads": self.heads}


@keras.saving.register_keras_serializable(PACKAGE)
class Block(keras.layers.Layer):
    """KerasHub's TransformerEncoder/Decoder layout: MultiHeadAttention and a two-layer
    MLP, each added to the residual stream, normalized before (``normalize_first``) or
    after the add."""

    def __init__(self, hidden=32, heads=4, intermediate=64, activation="gelu",
                 normalize_first=True, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.hidden, self.heads, self.intermediate = hidden, heads, intermediate
        self.activation, self.normalize_first = activation, normalize_first
        self._self_attention_layer = keras.layers.MultiHeadAttention(
            heads, hidden // heads, name="self_attention"
        )
        self._self_attention_layer_norm = keras.layers.LayerNormalization(name="ln_1")
        self._feedforward_layer_norm = keras.layers.LayerNormalization(name="ln_2")
        self._feedforward_intermediate_dense = keras.layers.Dense(
            intermediate, activation=activation, name="intermediate"
        )
        self._feedforward_output_dense = keras.layers.Dense(hidden, name="output")

    def call(self, x):
        first = self.normalize_first
        h = self._self_attention_layer_norm(x) if first else x
        x = x + self._self_attention_layer(h, h)
        x = x if first else self._self_attention_layer_norm(x)
        h = self._feedforward_layer_norm(x) if first else x
        x = x + self._feedforward_output_dense(self._feedforward_intermediate_dense(h))
        return x if first else self._feedforward_layer_norm(x)

    def get_config(self):
        return {
            **super().get_config(), "hidden": self.hidden, "heads": self.heads,
            "intermediate": self.intermediate, "activation": self.activation,
            "normalize_first": self.normalize_first,
        }  # fmt: skip


@keras.saving.register_keras_serializable(PACKAGE)
class GatedBlock(keras.layers.Layer):
    """Llama's decoder layout: pre-norm, ``Attention``, and a gated MLP whose gate has the
    block's activation (silu) and multiplies a linear up projection."""

    def __init__(self, hidden=32, heads=4, intermediate=64, activation="silu", **kwargs):
        super().__init__(**kwargs)
        self.hidden, self.heads, self.intermediate = hidden, heads, intermediate
        self.activation = keras.activations.get(activation)
        self.normalize_first = True
        self._self_attention_layernorm = keras.layers.RMSNormalization()
        self._self_attention_layer = Attention(hidden, heads, name="self_attention")
        self._feedforward_layernorm = keras.layers.RMSNormalization()
        self._feedforward_intermediate_dense = keras.layers.Dense(
            intermediate, use_bias=False, name="up"
        )
        self._feedforward_gate_dense = keras.layers.Dense(intermediate, use_bias=False, name="gate")
        self._feedforward_output_dense = keras.layers.Dense(hidden, use_bias=False, name="down")

    def call(self, x):
        x = x + self._self_attention_layer(self._self_attention_layernorm(x))
        h = self._feedforward_layernorm(x)
        gate = self.activation(self._feedforward_gate_dense(h))
        return x + self._feedforward_output_dense(self._feedforward_intermediate_dense(h) * gate)

    def get_config(self):
        return {
            **super().get_config(), "hidden": self.hidden, "heads": self.heads,
            "intermediate": self.intermediate,
            "activation": keras.activations.serialize(self.activation),
        }  # fmt: skip


@keras.saving.register_keras_serializable(PACKAGE)
class OpBetween(keras.layers.Layer):
    """A user's block: ``b(op(a(x)))`` with an op no layer announces: ``"scale2"``
    (``2 * y``) or a ``keras.ops`` activation (``"relu"``, ``"gelu"``...) applied in ``call``."""

    def __init__(self, op="scale2", width=64, **kwargs):
        super().__init__(**kwargs)
        self.op, self.width = op, width
        self.a = keras.layers.Dense(width, name="a")
        self.b = keras.layers.Dense(16, name="b")

    def call(self, x):
        y = self.a(x)
        y = 2.0 * y if self.op == "scale2" else getattr(keras.ops, self.op)(y)
        return self.b(y)

    def get_config(self):
        return {**super().get_config(), "op": self.op, "width": self.width}


@keras.saving.register_keras_serializable(PACKAGE)
class Inner(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(32, activation="relu", name="dense")
        self.proj = keras.layers.Dense(16, name="proj")
        self.act = keras.layers.LeakyReLU(0.1, name="act")

    def call(self, x):
        return self.act(self.proj(self.dense(x)))


@keras.saving.register_keras_serializable(PACKAGE)
class Middle(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = Inner(name="inner")
        self.mix = keras.layers.Dense(16, activation="tanh", name="mix")

    def call(self, x):
        return self.mix(self.inner(x))


@keras.saving.register_keras_serializable(PACKAGE)
class Outer(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.middle = Middle(name="middle")

    def call(self, x):
        return self.middle(x)


@keras.saving.register_keras_serializable(PACKAGE)
class Net(keras.Model):
    """A subclassed model whose call nests custom layers three deep."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.outer = Outer(name="outer")
        self.head = keras.layers.Dense(4, name="head")

    def call(self, x):
        return self.head(self.outer(x))


def stack(block, n: int = 4, length: int = 8, hidden: int = 32, **kwargs) -> keras.Model:
    """A functional model of ``n`` blocks on (length, hidden) inputs."""
    inputs = keras.Input((length, hidden))
    x = inputs
    for i in range(n):
        x = block(hidden=hidden, name=f"layer_{i}", **kwargs)(x)
    return keras.Model(inputs, x)
