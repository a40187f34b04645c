"""examples/vision/mlp_image_classification.py: MLP-Mixer, FNet and gMLP."""

from __future__ import annotations

import keras
from keras import layers, ops

from ..zoo import _logits
from .common import Built, _images

# ---------------------------------------------------------------------------------------
# examples/vision/mlp_image_classification.py (MLP-Mixer, FNet, gMLP)

MLP_IMAGE_SIZE = 16
MLP_PATCH_SIZE = 4
MLP_NUM_PATCHES = (MLP_IMAGE_SIZE // MLP_PATCH_SIZE) ** 2
MLP_EMBEDDING_DIM = 16
MLP_NUM_BLOCKS = 2
MLP_DROPOUT_RATE = 0.2
MLP_NUM_CLASSES = 10


class Patches(layers.Layer):
    def __init__(self, patch_size, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size

    def call(self, x):
        patches = keras.ops.image.extract_patches(x, self.patch_size)
        batch_size = keras.ops.shape(patches)[0]
        num_patches = keras.ops.shape(patches)[1] * keras.ops.shape(patches)[2]
        patch_dim = keras.ops.shape(patches)[3]
        out = keras.ops.reshape(patches, (batch_size, num_patches, patch_dim))
        return out


class MLPPositionEmbedding(layers.Layer):
    """The example's ``layers.Embedding(num_patches, embedding_dim)(tf.range(...))``,
    as a layer so that its embedding is part of the functional model."""

    def __init__(self, num_patches, embedding_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_patches = num_patches
        self.embedding = layers.Embedding(input_dim=num_patches, output_dim=embedding_dim)

    def call(self, x):
        positions = ops.arange(start=0, stop=self.num_patches, step=1)
        return x + self.embedding(positions)


def mlp_representation(
    augmented,
    blocks,
    patch_size=MLP_PATCH_SIZE,
    embedding_dim=MLP_EMBEDDING_DIM,
    positional_encoding=False,
    dropout_rate=MLP_DROPOUT_RATE,
):
    """The body of the example's ``build_classifier``, from its augmented images to the
    representation its logits read."""
    # Create patches.
    patches = Patches(patch_size)(augmented)
    # Encode patches to generate a [batch_size, num_patches, embedding_dim] tensor.
    x = layers.Dense(units=embedding_dim)(patches)
    if positional_encoding:
        x = MLPPositionEmbedding(x.shape[1], embedding_dim)(x)
    # Process x using the module blocks.
    x = blocks(x)
    # Apply global average pooling to generate a [batch_size, embedding_dim] representation.
    representation = layers.GlobalAveragePooling1D()(x)
    # Apply dropout.
    return layers.Dropout(rate=dropout_rate)(representation)


def build_classifier(blocks, positional_encoding=False):
    inputs = layers.Input(shape=(MLP_IMAGE_SIZE, MLP_IMAGE_SIZE, 3))
    # Augment data. (Left out: Normalization needs adapt on the training images.)
    augmented = inputs
    representation = mlp_representation(augmented, blocks, positional_encoding=positional_encoding)
    # Compute logits outputs.
    logits = layers.Dense(MLP_NUM_CLASSES)(representation)
    # Create the Keras model.
    return keras.Model(inputs=inputs, outputs=logits)


class MLPMixerLayer(layers.Layer):
    def __init__(self, num_patches, hidden_units, dropout_rate, *args, **kwargs):
        super().__init__(*args, **kwargs)

        self.mlp1 = keras.Sequential(
            [
                layers.Dense(units=num_patches, activation="gelu"),
                layers.Dense(units=num_patches),
                layers.Dropout(rate=dropout_rate),
            ]
        )
        self.mlp2 = keras.Sequential(
            [
                layers.Dense(units=num_patches, activation="gelu"),
                # The example reads the module-level embedding_dim here.
                layers.Dense(units=hidden_units),
                layers.Dropout(rate=dropout_rate),
            ]
        )
        self.normalize = layers.LayerNormalization(epsilon=1e-6)

    def call(self, inputs):
        # Apply layer normalization.
        x = self.normalize(inputs)
        # Transpose inputs from [num_batches, num_patches, hidden_units] to
        # [num_batches, hidden_units, num_patches].
        x_channels = keras.ops.transpose(x, axes=(0, 2, 1))
        # Apply mlp1 on each channel independently.
        mlp1_outputs = self.mlp1(x_channels)
        # Transpose mlp1_outputs back to [num_batches, num_patches, hidden_units].
        mlp1_outputs = keras.ops.transpose(mlp1_outputs, axes=(0, 2, 1))
        # Add skip connection.
        x = mlp1_outputs + inputs
        # Apply layer normalization.
        x_patches = self.normalize(x)
        # Apply mlp2 on each patch independtenly.
        mlp2_outputs = self.mlp2(x_patches)
        # Add skip connection.
        x = x + mlp2_outputs
        return x


def mlp_mixer_blocks(num_patches, embedding_dim, num_blocks, dropout_rate=MLP_DROPOUT_RATE):
    """The example's ``mlpmixer_blocks``: ``num_blocks`` MLPMixerLayers in a Sequential."""
    return keras.Sequential(
        [MLPMixerLayer(num_patches, embedding_dim, dropout_rate) for _ in range(num_blocks)]
    )


def mlp_mixer() -> Built:
    """examples/vision/mlp_image_classification.py, MLP-Mixer: ``MLPMixerLayer`` (one
    LayerNormalization called twice, Sequential MLPs with GELU) in a Sequential of
    blocks inside ``build_classifier``. Adapted: 16x16 images with 4x4 patches (the
    example resizes to 64), 2 blocks of width 16, tf ops as keras.ops, the example's
    Keras-3 ``Dense(..., activation="gelu")`` for tfa's GELU, data augmentation dropped
    (Normalization.adapt)."""
    blocks = mlp_mixer_blocks(MLP_NUM_PATCHES, MLP_EMBEDDING_DIM, MLP_NUM_BLOCKS)
    return Built(build_classifier(blocks), _images((MLP_IMAGE_SIZE, MLP_IMAGE_SIZE, 3)))


def mlp_mixer_cifar(inputs, x, embedding_dim=32, num_blocks=4, patch_size=4):
    """examples/vision/mlp_image_classification.py's MLP-Mixer (``mlp_mixer_blocks`` in
    ``mlp_representation``: patches, a Dense embedding, ``MLPMixerLayer`` blocks, global
    pooling, dropout 0.2) on CIFAR-10 (the example trains on CIFAR-100), with its linear
    logits. Kept: 4 blocks and 64 patches (the example: 64x64 resized images in 8x8 patches;
    here 32x32 in 4x4), so the token-mixing MLPs are the example's, 64 wide. Scaled to the
    step budget (package docstring): embedding 256 -> 32. The example's Normalization
    (adapt), Resizing and random flip, zoom and rotation are the zoo's normalization and
    pad-crop-flip (``x``)."""
    num_patches = (x.shape[1] // patch_size) ** 2
    blocks = mlp_mixer_blocks(num_patches, embedding_dim, num_blocks)
    representation = mlp_representation(x, blocks, patch_size, embedding_dim)
    return keras.Model(inputs, _logits(representation), name="mlp_mixer_cifar")


class FNetLayer(layers.Layer):
    def __init__(self, embedding_dim, dropout_rate, *args, **kwargs):
        super().__init__(*args, **kwargs)

        self.ffn = keras.Sequential(
            [
                layers.Dense(units=embedding_dim, activation="gelu"),
                layers.Dropout(rate=dropout_rate),
                layers.Dense(units=embedding_dim),
            ]
        )

        self.normalize1 = layers.LayerNormalization(epsilon=1e-6)
        self.normalize2 = layers.LayerNormalization(epsilon=1e-6)

    def call(self, inputs):
        # Apply fourier transformations.
        real_part = inputs
        im_part = keras.ops.zeros_like(inputs)
        x = keras.ops.fft2((real_part, im_part))[0]
        # Add skip connection.
        x = x + inputs
        # Apply layer normalization.
        x = self.normalize1(x)
        # Apply Feedfowrad network.
        x_ffn = self.ffn(x)
        # Add skip connection.
        x = x + x_ffn
        # Apply layer normalization.
        return self.normalize2(x)


def fnet() -> Built:
    """examples/vision/mlp_image_classification.py, FNet: ``FNetLayer`` (a 2-D FFT of
    the patches, real part kept, then a Sequential feed-forward network), with
    ``build_classifier(..., positional_encoding=True)``. Adapted as ``mlp_mixer``; the
    positional ``Embedding`` on ``tf.range`` is wrapped in a small layer so that it is
    part of the model."""
    blocks = keras.Sequential(
        [FNetLayer(MLP_EMBEDDING_DIM, MLP_DROPOUT_RATE) for _ in range(MLP_NUM_BLOCKS)]
    )
    model = build_classifier(blocks, positional_encoding=True)
    return Built(model, _images((MLP_IMAGE_SIZE, MLP_IMAGE_SIZE, 3)))


class gMLPLayer(layers.Layer):  # noqa: N801 (the example's name)
    def __init__(self, num_patches, embedding_dim, dropout_rate, *args, **kwargs):
        super().__init__(*args, **kwargs)

        self.channel_projection1 = keras.Sequential(
            [
                layers.Dense(units=embedding_dim * 2, activation="gelu"),
                layers.Dropout(rate=dropout_rate),
            ]
        )

        self.channel_projection2 = layers.Dense(units=embedding_dim)

        self.spatial_projection = layers.Dense(units=num_patches, bias_initializer="Ones")

        self.normalize1 = layers.LayerNormalization(epsilon=1e-6)
        self.normalize2 = layers.LayerNormalization(epsilon=1e-6)

    def spatial_gating_unit(self, x):
        # Split x along the channel dimensions.
        # Tensors u and v will in the shape of [batch_size, num_patchs, embedding_dim].
        u, v = keras.ops.split(x, indices_or_sections=2, axis=2)
        # Apply layer normalization.
        v = self.normalize2(v)
        # Apply spatial projection.
        v_channels = keras.ops.transpose(v, axes=(0, 2, 1))
        v_projected = self.spatial_projection(v_channels)
        v_projected = keras.ops.transpose(v_projected, axes=(0, 2, 1))
        # Apply element-wise multiplication.
        return u * v_projected

    def call(self, inputs):
        # Apply layer normalization.
        x = self.normalize1(inputs)
        # Apply the first channel projection.
        x_projected = self.channel_projection1(x)
        # Apply the spatial gating unit.
        x_spatial = self.spatial_gating_unit(x_projected)
        # Apply the second channel projection.
        x_projected = self.channel_projection2(x_spatial)
        # Add skip connection.
        return x + x_projected


def gmlp() -> Built:
    """examples/vision/mlp_image_classification.py, gMLP: ``gMLPLayer`` with its spatial
    gating unit (a helper method, a split, a product ``u * v_projected``). Adapted as
    ``mlp_mixer``."""
    blocks = keras.Sequential(
        [
            gMLPLayer(MLP_NUM_PATCHES, MLP_EMBEDDING_DIM, MLP_DROPOUT_RATE)
            for _ in range(MLP_NUM_BLOCKS)
        ]
    )
    return Built(build_classifier(blocks), _images((MLP_IMAGE_SIZE, MLP_IMAGE_SIZE, 3)))
