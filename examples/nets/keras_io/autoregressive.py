"""PixelCNN: convolutions whose kernel a fixed mask multiplies on every call."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from .common import Built, _images

# ---------------------------------------------------------------------------------------
# examples/generative/pixelcnn.py


# The first layer is the PixelCNN layer. This layer simply
# builds on the 2D convolutional layer, but includes masking.
class PixelConvLayer(layers.Layer):
    def __init__(self, mask_type, **kwargs):
        super().__init__()
        self.mask_type = mask_type
        self.conv = layers.Conv2D(**kwargs)

    def build(self, input_shape):
        # Build the conv2d layer to initialize kernel variables
        self.conv.build(input_shape)
        # Use the initialized kernel to create the mask
        kernel_shape = ops.shape(self.conv.kernel)
        self.mask = np.zeros(shape=kernel_shape)
        self.mask[: kernel_shape[0] // 2, ...] = 1.0
        self.mask[kernel_shape[0] // 2, : kernel_shape[1] // 2, ...] = 1.0
        if self.mask_type == "B":
            self.mask[kernel_shape[0] // 2, kernel_shape[1] // 2, ...] = 1.0

    def call(self, inputs):
        self.conv.kernel.assign(self.conv.kernel * self.mask)
        return self.conv(inputs)


# Next, we build our residual block layer.
# This is just a normal residual block, but based on the PixelConvLayer.
class ResidualBlock(keras.layers.Layer):
    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = keras.layers.Conv2D(filters=filters, kernel_size=1, activation="relu")
        self.pixel_conv = PixelConvLayer(
            mask_type="B",
            filters=filters // 2,
            kernel_size=3,
            activation="relu",
            padding="same",
        )
        self.conv2 = keras.layers.Conv2D(filters=filters, kernel_size=1, activation="relu")

    def call(self, inputs):
        x = self.conv1(inputs)
        x = self.pixel_conv(x)
        x = self.conv2(x)
        return keras.layers.add([inputs, x])


def pixelcnn() -> Built:
    """examples/generative/pixelcnn.py: ``PixelConvLayer`` (a ``Conv2D`` built in
    ``build``, its kernel multiplied by a fixed NumPy mask, type A or B, and assigned
    back on every ``call``), its ``ResidualBlock`` (1x1 ReLU conv, 3x3 mask-B
    ``PixelConvLayer``, 1x1 ReLU conv, summed with ``keras.layers.add`` created in
    ``call``) and the functional model: a 7x7 mask-A layer, residual blocks, two 1x1
    mask-B layers and a sigmoid 1x1 conv. Adapted: 8x8x1 inputs (the example: 28x28
    binarized MNIST, and ``keras.Input(batch_size=128)``, dropped so that any batch
    runs), 128 -> 16 filters, 5 -> 2 residual blocks."""
    filters = 16
    inputs = keras.Input(shape=(8, 8, 1))
    x = PixelConvLayer(
        mask_type="A", filters=filters, kernel_size=7, activation="relu", padding="same"
    )(inputs)

    for _ in range(2):
        x = ResidualBlock(filters=filters)(x)

    for _ in range(2):
        x = PixelConvLayer(
            mask_type="B",
            filters=filters,
            kernel_size=1,
            strides=1,
            activation="relu",
            padding="valid",
        )(x)

    out = keras.layers.Conv2D(
        filters=1, kernel_size=1, strides=1, activation="sigmoid", padding="valid"
    )(x)

    return Built(keras.Model(inputs, out), _images((8, 8, 1)))
