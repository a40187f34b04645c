"""Residual nets as Layer subclasses, in three styles found across keras-io."""

from __future__ import annotations

import keras
from keras import layers

from .common import Built, _images

# ---------------------------------------------------------------------------------------
# Residual nets as Layer subclasses, in three styles found across keras-io.


class ResidualBlock(layers.Layer):
    """A ResNet basic block. ``call(self, x, training)`` has NO default for ``training``:
    the most common signature in keras-io's Layer subclasses."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = layers.Conv2D(filters, 3, padding="same", use_bias=False)
        self.bn1 = layers.BatchNormalization()
        self.conv2 = layers.Conv2D(filters, 3, padding="same", use_bias=False)
        self.bn2 = layers.BatchNormalization()

    def call(self, x, training):
        h = self.conv1(x)
        h = self.bn1(h, training=training)
        h = keras.ops.relu(h)
        h = self.conv2(h)
        h = self.bn2(h, training=training)
        return keras.ops.relu(x + h)


class ResNet(keras.Model):
    def __init__(self, filters=16, num_blocks=2, num_classes=10, **kwargs):
        super().__init__(**kwargs)
        self.stem = layers.Conv2D(filters, 3, padding="same", activation="relu")
        self.block_1 = ResidualBlock(filters)
        self.block_2 = ResidualBlock(filters)
        self.pool = layers.GlobalAveragePooling2D()
        self.classifier = layers.Dense(num_classes)

    def call(self, inputs, training=None):
        x = self.stem(inputs)
        x = self.block_1(x, training=training)
        x = self.block_2(x, training=training)
        return self.classifier(self.pool(x))


def resnet_training_positional() -> Built:
    """Not one example: the block layout of keras-io's Layer-subclass ResNets (a conv/BN
    basic block, ``call(self, x, training)`` without default, ``keras.ops.relu`` and a
    ``+`` for the sum), in a subclassed model that passes ``training=training``."""
    model = ResNet()
    make_inputs = _images((16, 16, 3))
    model(make_inputs(2))
    return Built(model, make_inputs)


class ReZeroBlock(layers.Layer):
    """A residual MLP block with a learnable scalar on its branch, ``x + self.alpha * h``
    (ReZero, Bachlechner et al. 2020), the variable on the LEFT of the product. ReZero
    starts alpha at 0; 0.5 here, so that the branch reaches the output."""

    def __init__(self, width, **kwargs):
        super().__init__(**kwargs)
        self.fc1 = layers.Dense(width, activation="relu")
        self.fc2 = layers.Dense(width)

    def build(self, input_shape):
        self.alpha = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(0.5), name="alpha"
        )

    def call(self, x):
        h = self.fc2(self.fc1(x))
        return x + self.alpha * h


def rezero_mlp() -> Built:
    """Not one example: a residual MLP of ``ReZeroBlock``s (``x + self.alpha * h`` with
    ``alpha = self.add_weight(shape=())``), in a functional model."""
    inputs = keras.Input((16,))
    x = layers.Dense(32)(inputs)
    for i in range(3):
        x = ReZeroBlock(32, name=f"rezero_{i}")(x)
    outputs = layers.Dense(10)(x)
    return Built(keras.Model(inputs, outputs), _images((16,)))


class BottleneckBlock(layers.Layer):
    def __init__(self, width, **kwargs):
        super().__init__(**kwargs)
        self.norm = layers.LayerNormalization()
        self.down = layers.Dense(width // 2, activation="gelu")
        self.up = layers.Dense(width)

    def call(self, inputs, training=False):
        return inputs + self.up(self.down(self.norm(inputs)))


class ClassifierWithAuxHead(keras.Model):
    """A subclassed model whose blocks live in a list attribute and which holds an
    auxiliary head it never calls (kept "for a later fine-tune", as code often does):
    that Dense is never built and has no kernel."""

    def __init__(self, width=32, depth=2, num_classes=10, **kwargs):
        super().__init__(**kwargs)
        self.stem = layers.Dense(width)
        self.blocks = [BottleneckBlock(width, name=f"bottleneck_{i}") for i in range(depth)]
        self.head = layers.Dense(num_classes)
        self.aux_head = layers.Dense(num_classes, name="aux_head")  # never called

    def call(self, inputs, training=False):
        x = self.stem(inputs)
        for block in self.blocks:
            x = block(x, training=training)
        return self.head(x)


def unused_head() -> Built:
    """Not one example: ``ClassifierWithAuxHead``, a subclassed residual MLP with an
    unused (never built) head among its sublayers."""
    model = ClassifierWithAuxHead()
    make_inputs = _images((16,))
    model(make_inputs(2))
    return Built(model, make_inputs)
