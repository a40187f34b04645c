"""Convolutional examples: ConvMixer, involution, the Oxford-pets U-Net."""

from __future__ import annotations

import keras
from keras import layers

from ..zoo import _logits
from .common import Built, _images

# ---------------------------------------------------------------------------------------
# examples/vision/convmixer.py


def activation_block(x):
    x = layers.Activation("gelu")(x)
    return layers.BatchNormalization()(x)


def conv_stem(x, filters: int, patch_size: int):
    x = layers.Conv2D(filters, kernel_size=patch_size, strides=patch_size)(x)
    return activation_block(x)


def conv_mixer_block(x, filters: int, kernel_size: int, depthwise: bool = False):
    # Depthwise convolution. (``depthwise=True``: as a DepthwiseConv2D, the example's
    # Keras 2 version; see ``convmixer_cifar``.)
    x0 = x
    if depthwise:
        x = layers.DepthwiseConv2D(kernel_size=kernel_size, padding="same")(x)
    else:
        x = layers.Conv2D(filters, kernel_size=kernel_size, groups=filters, padding="same")(x)
    x = layers.Add()([activation_block(x), x0])  # Residual.

    # Pointwise convolution.
    x = layers.Conv2D(filters, kernel_size=1)(x)
    x = activation_block(x)

    return x


def conv_mixer_features(x, filters, depth, kernel_size, patch_size, depthwise=False):
    """The body of the example's ``get_conv_mixer_256_8``, from its rescaled input to the
    pooled features its classifier reads."""
    # Extract patch embeddings.
    x = conv_stem(x, filters, patch_size)

    # ConvMixer blocks.
    for _ in range(depth):
        x = conv_mixer_block(x, filters, kernel_size, depthwise)

    # Classification block.
    return layers.GlobalAvgPool2D()(x)


def get_conv_mixer_256_8(
    image_size=16, filters=16, depth=2, kernel_size=3, patch_size=2, num_classes=10
):
    inputs = keras.Input((image_size, image_size, 3))
    x = layers.Rescaling(scale=1.0 / 255)(inputs)
    x = conv_mixer_features(x, filters, depth, kernel_size, patch_size)
    outputs = layers.Dense(num_classes, activation="softmax")(x)

    return keras.Model(inputs, outputs)


def convmixer() -> Built:
    """examples/vision/convmixer.py: ``get_conv_mixer_256_8`` as written, with
    filters 256 -> 16, depth 8 -> 2, kernel 5 -> 3 and 16x16 images. The tf.data
    augmentation (outside the model) is left out."""
    return Built(get_conv_mixer_256_8(), _images((16, 16, 3)))


def convmixer_cifar(inputs, x, filters=24, depth=8, kernel_size=5, patch_size=4):
    """examples/vision/convmixer.py's ConvMixer (``conv_mixer_features``: the patch stem,
    ``depth`` blocks of depthwise conv + GELU + BN with a residual ``Add``, then pointwise
    conv + GELU + BN, global pooling) on CIFAR-10, with 10 linear logits for the example's
    softmax. Kept from ConvMixer-256/8: depth 8, kernel 5. Scaled to the step budget
    (package docstring): width 256 -> 24 and patch 2 -> 4 (an 8x8 grid, not 16x16), since BN
    and GELU over a 16x16x256 map dominate the step's time. The depthwise convolution is a
    ``DepthwiseConv2D``, as in the example's Keras 2 version, not its Keras 3
    ``Conv2D(groups=filters)``: the same function, with the same Keras default variance, but
    TensorFlow's CPU kernel for a grouped convolution took 567 ms for what
    ``DepthwiseConv2D`` does in 14 ms (64 channels, 16x16, batch 128, forward and backward).
    The example's Rescaling and tf.data augmentation are the zoo's normalization and
    pad-crop-flip (``x``)."""
    x = conv_mixer_features(x, filters, depth, kernel_size, patch_size, depthwise=True)
    return keras.Model(inputs, _logits(x), name="convmixer_cifar")


# ---------------------------------------------------------------------------------------
# examples/vision/involution.py


class Involution(keras.layers.Layer):
    def __init__(self, channel, group_number, kernel_size, stride, reduction_ratio, name):
        super().__init__(name=name)

        # Initialize the parameters.
        self.channel = channel
        self.group_number = group_number
        self.kernel_size = kernel_size
        self.stride = stride
        self.reduction_ratio = reduction_ratio

    def build(self, input_shape):
        # Get the shape of the input.
        (_, height, width, num_channels) = input_shape

        # Scale the height and width with respect to the strides.
        height = height // self.stride
        width = width // self.stride

        # Define a layer that average pools the input tensor
        # if stride is more than 1.
        self.stride_layer = (
            keras.layers.AveragePooling2D(
                pool_size=self.stride, strides=self.stride, padding="same"
            )
            if self.stride > 1
            else keras.layers.Identity()  # the example: tf.identity
        )
        # Define the kernel generation layer.
        self.kernel_gen = keras.Sequential(
            [
                keras.layers.Conv2D(filters=self.channel // self.reduction_ratio, kernel_size=1),
                keras.layers.BatchNormalization(),
                keras.layers.ReLU(),
                keras.layers.Conv2D(
                    filters=self.kernel_size * self.kernel_size * self.group_number,
                    kernel_size=1,
                ),
            ]
        )
        # Define reshape layers
        self.kernel_reshape = keras.layers.Reshape(
            target_shape=(
                height,
                width,
                self.kernel_size * self.kernel_size,
                1,
                self.group_number,
            )
        )
        self.input_patches_reshape = keras.layers.Reshape(
            target_shape=(
                height,
                width,
                self.kernel_size * self.kernel_size,
                num_channels // self.group_number,
                self.group_number,
            )
        )
        self.output_reshape = keras.layers.Reshape(target_shape=(height, width, num_channels))

    def call(self, x):
        # Generate the kernel with respect to the input tensor.
        # B, H, W, K*K*G
        kernel_input = self.stride_layer(x)
        kernel = self.kernel_gen(kernel_input)

        # reshape the kerenl
        # B, H, W, K*K, 1, G
        kernel = self.kernel_reshape(kernel)

        # Extract input patches.
        # B, H, W, K*K*C
        input_patches = keras.ops.image.extract_patches(
            x, self.kernel_size, strides=self.stride, padding="same"
        )

        # Reshape the input patches to align with later operations.
        # B, H, W, K*K, C//G, G
        input_patches = self.input_patches_reshape(input_patches)

        # Compute the multiply-add operation of kernels and patches.
        # B, H, W, K*K, C//G, G
        output = keras.ops.multiply(kernel, input_patches)
        # B, H, W, C//G, G
        output = keras.ops.sum(output, axis=3)

        # Reshape the output kernel.
        # B, H, W, C
        output = self.output_reshape(output)

        # Return the output tensor and the kernel.
        return output, kernel


def involution() -> Built:
    """examples/vision/involution.py, the involution model: ``Involution`` creates its
    sublayers in ``build`` and returns two tensors (output, generated kernel), of which
    the model keeps the first. Adapted: 16x16 images (the example: 32x32),
    extract_patches from keras.ops, ``tf.identity`` as ``layers.Identity``."""
    inputs = keras.Input(shape=(16, 16, 3))
    x, _ = Involution(
        channel=3, group_number=1, kernel_size=3, stride=1, reduction_ratio=2, name="inv_1"
    )(inputs)
    x = keras.layers.ReLU()(x)
    x = keras.layers.MaxPooling2D((2, 2))(x)
    x, _ = Involution(
        channel=3, group_number=1, kernel_size=3, stride=1, reduction_ratio=2, name="inv_2"
    )(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.MaxPooling2D((2, 2))(x)
    x, _ = Involution(
        channel=3, group_number=1, kernel_size=3, stride=1, reduction_ratio=2, name="inv_3"
    )(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    outputs = keras.layers.Dense(10)(x)
    model = keras.Model(inputs=[inputs], outputs=[outputs], name="inv_model")
    return Built(model, _images((16, 16, 3)))


# ---------------------------------------------------------------------------------------
# examples/vision/oxford_pets_image_segmentation.py


def get_unet_model(img_size, num_classes):
    inputs = keras.Input(shape=img_size + (3,))

    ### [First half of the network: downsampling inputs] ###

    # Entry block
    x = layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)

    previous_block_activation = x  # Set aside residual

    # Blocks 1, 2, 3 are identical apart from the feature depth.
    for filters in [16, 32, 64]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)

        # Project residual
        residual = layers.Conv2D(filters, 1, strides=2, padding="same")(previous_block_activation)
        x = layers.add([x, residual])  # Add back residual
        previous_block_activation = x  # Set aside next residual

    ### [Second half of the network: upsampling inputs] ###

    for filters in [64, 32, 16, 8]:
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.UpSampling2D(2)(x)

        # Project residual
        residual = layers.UpSampling2D(2)(previous_block_activation)
        residual = layers.Conv2D(filters, 1, padding="same")(residual)
        x = layers.add([x, residual])  # Add back residual
        previous_block_activation = x  # Set aside next residual

    # Add a per-pixel classification layer
    outputs = layers.Conv2D(num_classes, 3, activation="softmax", padding="same")(x)

    # Define the model
    model = keras.Model(inputs, outputs)
    return model


def unet_segmenter() -> Built:
    """examples/vision/oxford_pets_image_segmentation.py: ``get_model`` (Xception-style
    U-Net: SeparableConv2D down, Conv2DTranspose up, projected residuals through
    ``layers.add``, per-pixel softmax). Adapted: 16x16 images (the example: 160x160),
    filters divided by 4."""
    return Built(get_unet_model((16, 16), 3), _images((16, 16, 3)))
