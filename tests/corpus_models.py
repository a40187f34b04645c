"""A corpus of real model code that nobody on this project wrote: the official Keras
examples (github.com/keras-team/keras-io, ``examples/...``), adapted only so far as
needed to build without data and in well under a second on CPU.

What is kept: each example's class structure, call signatures (``training`` arguments
with or without a default, ``mask=None``, ``call`` returning two tensors), the way
sublayers are assigned (in ``__init__``, in ``build``, inside ``keras.Sequential``, as
nested functional models called twice), and its ops, rewritten with ``keras.ops``
where the example used ``tf.*`` so that every model builds on TensorFlow, JAX and
PyTorch. What is changed: sizes (images 16x16, one or two blocks, widths of
8 to 32), data-dependent preprocessing (``Normalization.adapt``, ``TextVectorization``,
augmentation that needs ``adapt``) dropped with a comment, and helper names prefixed
where two examples define the same name (``mlp``, ``PatchExtract``...). Each builder's
docstring names its source file and what was adapted.

Each builder returns a ``Built``: the BUILT model, ``make_inputs(batch, seed)`` giving a
small numpy input batch (N(0, 1) floats, or token ids for text models), and
``forward(model, x)``, the inference pass to measure (``model(x, training=False)``
unless the model has no ``call`` of its own, as the VAE and the GAN). ``CORPUS`` maps a
name to its builder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import keras
import numpy as np
from keras import layers, ops


class Built(NamedTuple):
    """A built model, its input batches and its forward pass."""

    model: keras.Model
    make_inputs: Callable[..., Any]
    forward: Callable[[keras.Model, Any], Any] | None = None


def default_forward(model, x):
    return model(x, training=False)


def _images(shape):
    def make_inputs(batch=8, seed=0):
        return np.random.default_rng(seed).standard_normal((batch, *shape)).astype("float32")

    return make_inputs


def _tokens(length, vocab, count=1):
    def make_inputs(batch=8, seed=0):
        rng = np.random.default_rng(seed)
        ids = [rng.integers(0, vocab, (batch, length)).astype("int32") for _ in range(count)]
        return ids[0] if count == 1 else ids

    return make_inputs


# ---------------------------------------------------------------------------------------
# examples/vision/convmixer.py


def activation_block(x):
    x = layers.Activation("gelu")(x)
    return layers.BatchNormalization()(x)


def conv_stem(x, filters: int, patch_size: int):
    x = layers.Conv2D(filters, kernel_size=patch_size, strides=patch_size)(x)
    return activation_block(x)


def conv_mixer_block(x, filters: int, kernel_size: int):
    # Depthwise convolution.
    x0 = x
    x = layers.Conv2D(filters, kernel_size=kernel_size, groups=filters, padding="same")(x)
    x = layers.Add()([activation_block(x), x0])  # Residual.

    # Pointwise convolution.
    x = layers.Conv2D(filters, kernel_size=1)(x)
    x = activation_block(x)

    return x


def get_conv_mixer_256_8(
    image_size=16, filters=16, depth=2, kernel_size=3, patch_size=2, num_classes=10
):
    inputs = keras.Input((image_size, image_size, 3))
    x = layers.Rescaling(scale=1.0 / 255)(inputs)

    # Extract patch embeddings.
    x = conv_stem(x, filters, patch_size)

    # ConvMixer blocks.
    for _ in range(depth):
        x = conv_mixer_block(x, filters, kernel_size)

    # Classification block.
    x = layers.GlobalAvgPool2D()(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)

    return keras.Model(inputs, outputs)


def convmixer() -> Built:
    """examples/vision/convmixer.py: ``get_conv_mixer_256_8`` as written, with
    filters 256 -> 16, depth 8 -> 2, kernel 5 -> 3 and 16x16 images. The tf.data
    augmentation (outside the model) is left out."""
    return Built(get_conv_mixer_256_8(), _images((16, 16, 3)))


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


def build_classifier(blocks, positional_encoding=False):
    inputs = layers.Input(shape=(MLP_IMAGE_SIZE, MLP_IMAGE_SIZE, 3))
    # Augment data. (Left out: Normalization needs adapt on the training images.)
    augmented = inputs
    # Create patches.
    patches = Patches(MLP_PATCH_SIZE)(augmented)
    # Encode patches to generate a [batch_size, num_patches, embedding_dim] tensor.
    x = layers.Dense(units=MLP_EMBEDDING_DIM)(patches)
    if positional_encoding:
        x = MLPPositionEmbedding(MLP_NUM_PATCHES, MLP_EMBEDDING_DIM)(x)
    # Process x using the module blocks.
    x = blocks(x)
    # Apply global average pooling to generate a [batch_size, embedding_dim] representation.
    representation = layers.GlobalAveragePooling1D()(x)
    # Apply dropout.
    representation = layers.Dropout(rate=MLP_DROPOUT_RATE)(representation)
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


def mlp_mixer() -> Built:
    """examples/vision/mlp_image_classification.py, MLP-Mixer: ``MLPMixerLayer`` (one
    LayerNormalization called twice, Sequential MLPs with GELU) in a Sequential of
    blocks inside ``build_classifier``. Adapted: 16x16 images with 4x4 patches (the
    example resizes to 64), 2 blocks of width 16, tf ops as keras.ops, the example's
    Keras-3 ``Dense(..., activation="gelu")`` for tfa's GELU, data augmentation dropped
    (Normalization.adapt)."""
    blocks = keras.Sequential(
        [
            MLPMixerLayer(MLP_NUM_PATCHES, MLP_EMBEDDING_DIM, MLP_DROPOUT_RATE)
            for _ in range(MLP_NUM_BLOCKS)
        ]
    )
    return Built(build_classifier(blocks), _images((MLP_IMAGE_SIZE, MLP_IMAGE_SIZE, 3)))


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


# ---------------------------------------------------------------------------------------
# examples/vision/swin_transformers.py


def window_partition(x, window_size):
    _, height, width, channels = x.shape
    patch_num_y = height // window_size
    patch_num_x = width // window_size
    x = ops.reshape(x, (-1, patch_num_y, window_size, patch_num_x, window_size, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    windows = ops.reshape(x, (-1, window_size, window_size, channels))
    return windows


def window_reverse(windows, window_size, height, width, channels):
    patch_num_y = height // window_size
    patch_num_x = width // window_size
    x = ops.reshape(windows, (-1, patch_num_y, patch_num_x, window_size, window_size, channels))
    x = ops.transpose(x, axes=(0, 1, 3, 2, 4, 5))
    x = ops.reshape(x, (-1, height, width, channels))
    return x


class DropPath(layers.Layer):
    """As the example's: drops at every call, inference included (no ``training``).
    Seeded here, since JAX refuses an unseeded draw inside a traced function."""

    def __init__(self, drop_prob=None, **kwargs):
        super().__init__(**kwargs)
        self.drop_prob = drop_prob
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, x):
        input_shape = ops.shape(x)
        batch_num = input_shape[0]
        rank = len(input_shape)
        shape = (batch_num,) + (1,) * (rank - 1)
        random_tensor = (1 - self.drop_prob) + keras.random.uniform(
            shape, dtype=x.dtype, seed=self.seed_generator
        )
        path_mask = ops.floor(random_tensor)
        output = ops.divide(x, 1 - self.drop_prob) * path_mask
        return output


class SwinMlp(layers.Layer):
    def __init__(self, filter_num, drop=0.0, **kwargs):
        super().__init__(**kwargs)
        self.net = keras.Sequential(
            [
                layers.Dense(filter_num[0]),
                layers.Activation(keras.activations.gelu),
                layers.Dropout(drop),
                layers.Dense(filter_num[1]),
                layers.Dropout(drop),
            ]
        )

    def call(self, x):
        return self.net(x)


class WindowAttention(layers.Layer):
    def __init__(self, dim, window_size, num_heads, qkv_bias=True, dropout_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.window_size = window_size
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = layers.Dense(dim * 3, use_bias=qkv_bias)
        self.dropout = layers.Dropout(dropout_rate)
        self.proj = layers.Dense(dim)

        # The example creates these two in build(); Keras 3 runs an inner layer's build
        # inside the outer block's traced call, where it refuses new variables.
        num_window_elements = (2 * self.window_size[0] - 1) * (2 * self.window_size[1] - 1)
        self.relative_position_bias_table = self.add_weight(
            shape=(num_window_elements, self.num_heads),
            initializer=keras.initializers.Zeros(),
            trainable=True,
        )
        coords_h = np.arange(self.window_size[0])
        coords_w = np.arange(self.window_size[1])
        coords_matrix = np.meshgrid(coords_h, coords_w, indexing="ij")
        coords = np.stack(coords_matrix)
        coords_flatten = coords.reshape(2, -1)
        relative_coords = coords_flatten[:, :, None] - coords_flatten[:, None, :]
        relative_coords = relative_coords.transpose([1, 2, 0])
        relative_coords[:, :, 0] += self.window_size[0] - 1
        relative_coords[:, :, 1] += self.window_size[1] - 1
        relative_coords[:, :, 0] *= 2 * self.window_size[1] - 1
        relative_position_index = relative_coords.sum(-1)

        self.relative_position_index = keras.Variable(
            initializer=relative_position_index,
            shape=relative_position_index.shape,
            dtype="int",
            trainable=False,
        )

    def call(self, x, mask=None):
        _, size, channels = x.shape
        head_dim = channels // self.num_heads
        x_qkv = self.qkv(x)
        x_qkv = ops.reshape(x_qkv, (-1, size, 3, self.num_heads, head_dim))
        x_qkv = ops.transpose(x_qkv, (2, 0, 3, 1, 4))
        q, k, v = x_qkv[0], x_qkv[1], x_qkv[2]
        q = q * self.scale
        k = ops.transpose(k, (0, 1, 3, 2))
        attn = q @ k

        num_window_elements = self.window_size[0] * self.window_size[1]
        relative_position_index_flat = ops.reshape(self.relative_position_index, (-1,))
        relative_position_bias = ops.take(
            self.relative_position_bias_table,
            relative_position_index_flat,
            axis=0,
        )
        relative_position_bias = ops.reshape(
            relative_position_bias,
            (num_window_elements, num_window_elements, -1),
        )
        relative_position_bias = ops.transpose(relative_position_bias, (2, 0, 1))
        attn = attn + ops.expand_dims(relative_position_bias, axis=0)

        if mask is not None:
            num_windows = mask.shape[0]
            mask_float = ops.cast(ops.expand_dims(ops.expand_dims(mask, axis=1), axis=0), "float32")
            attn = ops.reshape(attn, (-1, num_windows, self.num_heads, size, size)) + mask_float
            attn = ops.reshape(attn, (-1, self.num_heads, size, size))
            attn = keras.activations.softmax(attn, axis=-1)
        else:
            attn = keras.activations.softmax(attn, axis=-1)
        attn = self.dropout(attn)

        x_qkv = attn @ v
        x_qkv = ops.transpose(x_qkv, (0, 2, 1, 3))
        x_qkv = ops.reshape(x_qkv, (-1, size, channels))
        x_qkv = self.proj(x_qkv)
        x_qkv = self.dropout(x_qkv)
        return x_qkv


class SwinTransformer(layers.Layer):
    def __init__(
        self,
        dim,
        num_patch,
        num_heads,
        window_size=7,
        shift_size=0,
        num_mlp=1024,
        qkv_bias=True,
        dropout_rate=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)

        self.dim = dim  # number of input dimensions
        self.num_patch = num_patch  # number of embedded patches
        self.num_heads = num_heads  # number of attention heads
        self.window_size = window_size  # size of window
        self.shift_size = shift_size  # size of window shift
        self.num_mlp = num_mlp  # number of MLP nodes

        self.norm1 = layers.LayerNormalization(epsilon=1e-5)
        self.attn = WindowAttention(
            dim,
            window_size=(self.window_size, self.window_size),
            num_heads=num_heads,
            qkv_bias=qkv_bias,
            dropout_rate=dropout_rate,
        )
        self.drop_path = DropPath(dropout_rate)
        self.norm2 = layers.LayerNormalization(epsilon=1e-5)
        self.mlp = SwinMlp([num_mlp, dim], drop=dropout_rate)

        if min(self.num_patch) < self.window_size:
            self.shift_size = 0
            self.window_size = min(self.num_patch)

    def build(self, input_shape):
        if self.shift_size == 0:
            self.attn_mask = None
        else:
            height, width = self.num_patch
            h_slices = (
                slice(0, -self.window_size),
                slice(-self.window_size, -self.shift_size),
                slice(-self.shift_size, None),
            )
            w_slices = (
                slice(0, -self.window_size),
                slice(-self.window_size, -self.shift_size),
                slice(-self.shift_size, None),
            )
            mask_array = np.zeros((1, height, width, 1))
            count = 0
            for h in h_slices:
                for w in w_slices:
                    mask_array[:, h, w, :] = count
                    count += 1
            mask_array = ops.convert_to_tensor(mask_array)

            # mask array to windows
            mask_windows = window_partition(mask_array, self.window_size)
            mask_windows = ops.reshape(mask_windows, [-1, self.window_size * self.window_size])
            attn_mask = ops.expand_dims(mask_windows, axis=1) - ops.expand_dims(
                mask_windows, axis=2
            )
            attn_mask = ops.where(attn_mask != 0, -100.0, attn_mask)
            attn_mask = ops.where(attn_mask == 0, 0.0, attn_mask)
            self.attn_mask = keras.Variable(
                initializer=attn_mask,
                shape=attn_mask.shape,
                dtype=attn_mask.dtype,
                trainable=False,
            )

    def call(self, x):
        height, width = self.num_patch
        _, num_patches_before, channels = x.shape
        x_skip = x
        x = self.norm1(x)
        x = ops.reshape(x, (-1, height, width, channels))
        if self.shift_size > 0:
            shifted_x = ops.roll(x, shift=[-self.shift_size, -self.shift_size], axis=[1, 2])
        else:
            shifted_x = x

        x_windows = window_partition(shifted_x, self.window_size)
        x_windows = ops.reshape(x_windows, (-1, self.window_size * self.window_size, channels))
        attn_windows = self.attn(x_windows, mask=self.attn_mask)

        attn_windows = ops.reshape(
            attn_windows,
            (-1, self.window_size, self.window_size, channels),
        )
        shifted_x = window_reverse(attn_windows, self.window_size, height, width, channels)
        if self.shift_size > 0:
            x = ops.roll(shifted_x, shift=[self.shift_size, self.shift_size], axis=[1, 2])
        else:
            x = shifted_x

        x = ops.reshape(x, (-1, height * width, channels))
        x = self.drop_path(x)
        x = x_skip + x
        x_skip = x
        x = self.norm2(x)
        x = self.mlp(x)
        x = self.drop_path(x)
        x = x_skip + x
        return x


class SwinPatchEmbedding(layers.Layer):
    def __init__(self, num_patch, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_patch = num_patch
        self.proj = layers.Dense(embed_dim)
        self.pos_embed = layers.Embedding(input_dim=num_patch, output_dim=embed_dim)

    def call(self, patch):
        pos = ops.arange(start=0, stop=self.num_patch)
        return self.proj(patch) + self.pos_embed(pos)


class PatchMerging(layers.Layer):
    def __init__(self, num_patch, embed_dim):
        super().__init__()
        self.num_patch = num_patch
        self.embed_dim = embed_dim
        self.linear_trans = layers.Dense(2 * embed_dim, use_bias=False)

    def call(self, x):
        height, width = self.num_patch
        _, _, channels = x.shape
        x = ops.reshape(x, (-1, height, width, channels))
        x0 = x[:, 0::2, 0::2, :]
        x1 = x[:, 1::2, 0::2, :]
        x2 = x[:, 0::2, 1::2, :]
        x3 = x[:, 1::2, 1::2, :]
        x = ops.concatenate((x0, x1, x2, x3), axis=-1)
        x = ops.reshape(x, (-1, (height // 2) * (width // 2), 4 * channels))
        return self.linear_trans(x)


class SwinPatchExtract(layers.Layer):
    def __init__(self, patch_size, **kwargs):
        super().__init__(**kwargs)
        self.patch_size_x = patch_size[0]
        self.patch_size_y = patch_size[0]

    def call(self, images):
        batch_size = ops.shape(images)[0]
        patches = ops.image.extract_patches(
            images, size=(self.patch_size_x, self.patch_size_y), padding="valid"
        )
        patch_dim = patches.shape[-1]
        patch_num = patches.shape[1]
        return ops.reshape(patches, (batch_size, patch_num * patch_num, patch_dim))


def swin_transformer() -> Built:
    """examples/vision/swin_transformers.py: window attention creating its relative
    position bias table and index buffer in ``build`` (``keras.Variable`` for the
    example's ``tf.Variable``), a shifted block with its attention mask, ``DropPath``
    and ``x_skip + x`` sums in ``call(self, x)``, ``PatchMerging``. Adapted: 16x16
    images, 2x2 patches (8x8 of them), embed_dim 64 -> 16, window 2 with shift 1, MLP
    256 -> 32; dropout_rate 0.03 -> 0.0, because the example's DropPath also drops at
    inference; ``RandomCrop``/``RandomFlip`` augmentation (outside the model) left
    out."""
    num_patch_x = num_patch_y = 8
    embed_dim, num_heads, window_size, shift_size, num_mlp = 16, 2, 2, 1, 32
    inputs = layers.Input((16, 16, 3))
    x = SwinPatchExtract((2, 2))(inputs)
    x = SwinPatchEmbedding(num_patch_x * num_patch_y, embed_dim)(x)
    x = SwinTransformer(
        dim=embed_dim,
        num_patch=(num_patch_x, num_patch_y),
        num_heads=num_heads,
        window_size=window_size,
        shift_size=0,
        num_mlp=num_mlp,
        qkv_bias=True,
        dropout_rate=0.0,
    )(x)
    x = SwinTransformer(
        dim=embed_dim,
        num_patch=(num_patch_x, num_patch_y),
        num_heads=num_heads,
        window_size=window_size,
        shift_size=shift_size,
        num_mlp=num_mlp,
        qkv_bias=True,
        dropout_rate=0.0,
    )(x)
    x = PatchMerging((num_patch_x, num_patch_y), embed_dim=embed_dim)(x)
    x = layers.GlobalAveragePooling1D()(x)
    output = layers.Dense(10, activation="softmax")(x)
    return Built(keras.Model(inputs, output), _images((16, 16, 3)))


# ---------------------------------------------------------------------------------------
# examples/vision/cct.py


class CCTTokenizer(layers.Layer):
    def __init__(
        self,
        kernel_size=3,
        stride=1,
        padding=1,
        pooling_kernel_size=3,
        pooling_stride=2,
        num_conv_layers=2,
        num_output_channels=(16, 32),
        positional_emb=True,
        **kwargs,
    ):
        super().__init__(**kwargs)

        # This is our tokenizer.
        self.conv_model = keras.Sequential()
        for i in range(num_conv_layers):
            self.conv_model.add(
                layers.Conv2D(
                    num_output_channels[i],
                    kernel_size,
                    stride,
                    padding="valid",
                    use_bias=False,
                    activation="relu",
                    kernel_initializer="he_normal",
                )
            )
            self.conv_model.add(layers.ZeroPadding2D(padding))
            self.conv_model.add(layers.MaxPooling2D(pooling_kernel_size, pooling_stride, "same"))

        self.positional_emb = positional_emb

    def call(self, images):
        outputs = self.conv_model(images)
        # After passing the images through our mini-network the spatial dimensions
        # are flattened to form sequences.
        reshaped = keras.ops.reshape(
            outputs,
            (
                -1,
                keras.ops.shape(outputs)[1] * keras.ops.shape(outputs)[2],
                keras.ops.shape(outputs)[-1],
            ),
        )
        return reshaped


class PositionEmbedding(keras.layers.Layer):
    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if sequence_length is None:
            raise ValueError("`sequence_length` must be an Integer, received `None`.")
        self.sequence_length = int(sequence_length)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        feature_size = input_shape[-1]
        self.position_embeddings = self.add_weight(
            name="embeddings",
            shape=[self.sequence_length, feature_size],
            initializer=self.initializer,
            trainable=True,
        )
        super().build(input_shape)

    def call(self, inputs, start_index=0):
        shape = keras.ops.shape(inputs)
        feature_length = shape[-1]
        sequence_length = shape[-2]
        # trim to match the length of the input sequence, which might be less
        # than the sequence_length of the layer.
        position_embeddings = keras.ops.convert_to_tensor(self.position_embeddings)
        position_embeddings = keras.ops.slice(
            position_embeddings,
            (start_index, 0),
            (sequence_length, feature_length),
        )
        return keras.ops.broadcast_to(position_embeddings, shape)

    def compute_output_shape(self, input_shape):
        return input_shape


class StochasticDepth(layers.Layer):
    def __init__(self, drop_prop, **kwargs):
        super().__init__(**kwargs)
        self.drop_prob = drop_prop
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, x, training=None):
        if training:
            keep_prob = 1 - self.drop_prob
            shape = (keras.ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
            random_tensor = keep_prob + keras.random.uniform(shape, 0, 1, seed=self.seed_generator)
            random_tensor = keras.ops.floor(random_tensor)
            return (x / keep_prob) * random_tensor
        return x


def cct_mlp(x, hidden_units, dropout_rate):
    for units in hidden_units:
        x = layers.Dense(units, activation=keras.ops.gelu)(x)
        x = layers.Dropout(dropout_rate)(x)
    return x


def create_cct_model(
    image_size=16,
    input_shape=(16, 16, 3),
    num_heads=2,
    projection_dim=32,
    transformer_units=(32, 32),
    transformer_layers=2,
    stochastic_depth_rate=0.1,
    positional_emb=True,
    num_classes=10,
):
    inputs = layers.Input(input_shape)

    # Note the rescaling layer. These layers have pre-defined inference behavior.
    data_augmentation = keras.Sequential(
        [
            layers.Rescaling(scale=1.0 / 255),
            layers.RandomCrop(image_size, image_size),
            layers.RandomFlip("horizontal"),
        ],
        name="data_augmentation",
    )
    # Augment data.
    augmented = data_augmentation(inputs)

    # Encode patches.
    cct_tokenizer = CCTTokenizer()
    encoded_patches = cct_tokenizer(augmented)

    # Apply positional embedding.
    if positional_emb:
        sequence_length = encoded_patches.shape[1]
        encoded_patches += PositionEmbedding(sequence_length=sequence_length)(encoded_patches)

    # Calculate Stochastic Depth probabilities.
    dpr = [x for x in np.linspace(0, stochastic_depth_rate, transformer_layers)]

    # Create multiple layers of the Transformer block.
    for i in range(transformer_layers):
        # Layer normalization 1.
        x1 = layers.LayerNormalization(epsilon=1e-5)(encoded_patches)

        # Create a multi-head attention layer.
        attention_output = layers.MultiHeadAttention(
            num_heads=num_heads, key_dim=projection_dim, dropout=0.1
        )(x1, x1)

        # Skip connection 1.
        attention_output = StochasticDepth(dpr[i])(attention_output)
        x2 = layers.Add()([attention_output, encoded_patches])

        # Layer normalization 2.
        x3 = layers.LayerNormalization(epsilon=1e-5)(x2)

        # MLP.
        x3 = cct_mlp(x3, hidden_units=transformer_units, dropout_rate=0.1)

        # Skip connection 2.
        x3 = StochasticDepth(dpr[i])(x3)
        encoded_patches = layers.Add()([x3, x2])

    # Apply sequence pooling.
    representation = layers.LayerNormalization(epsilon=1e-5)(encoded_patches)
    attention_weights = keras.ops.softmax(layers.Dense(1)(representation), axis=1)
    weighted_representation = keras.ops.matmul(
        keras.ops.transpose(attention_weights, (0, 2, 1)), representation
    )
    weighted_representation = keras.ops.squeeze(weighted_representation, -2)

    # Classify outputs.
    logits = layers.Dense(num_classes)(weighted_representation)
    # Create the Keras model.
    model = keras.Model(inputs=inputs, outputs=logits)
    return model


def cct() -> Built:
    """examples/vision/cct.py (Keras 3 version: ``PositionEmbedding`` layer, sequence
    pooling in keras.ops): the convolutional tokenizer keeps the example's explicit
    ``kernel_initializer="he_normal"`` on its ReLU convolutions; stochastic depth;
    ``Add`` layers. Adapted: 16x16 images, tokenizer channels (64, 128) -> (16, 32),
    2 transformer layers of width 32 with 2 heads. The adapt-free augmentation
    (Rescaling, RandomCrop, RandomFlip) is kept inside the model, as in the example."""
    return Built(create_cct_model(), _images((16, 16, 3)))


# ---------------------------------------------------------------------------------------
# examples/vision/eanet.py


class EANetPatchExtract(layers.Layer):
    def __init__(self, patch_size, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size

    def call(self, x):
        batch_size = ops.shape(x)[0]
        patches = ops.image.extract_patches(x, self.patch_size)
        patch_num = patches.shape[1]
        patch_dim = patches.shape[-1]
        return ops.reshape(patches, (batch_size, patch_num * patch_num, patch_dim))


class EANetPatchEmbedding(layers.Layer):
    def __init__(self, num_patch, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_patch = num_patch
        self.proj = layers.Dense(embed_dim)
        self.pos_embed = layers.Embedding(input_dim=num_patch, output_dim=embed_dim)

    def call(self, patch):
        pos = ops.arange(start=0, stop=self.num_patch, step=1)
        return self.proj(patch) + self.pos_embed(pos)


def external_attention(
    x, dim, num_heads, dim_coefficient=4, attention_dropout=0, projection_dropout=0
):
    _, num_patch, channel = x.shape
    assert dim % num_heads == 0
    num_heads = num_heads * dim_coefficient

    x = layers.Dense(dim * dim_coefficient)(x)
    # create tensor [batch_size, num_patches, num_heads, dim*dim_coefficient//num_heads]
    x = ops.reshape(x, (-1, num_patch, num_heads, dim * dim_coefficient // num_heads))
    x = ops.transpose(x, axes=[0, 2, 1, 3])
    # a linear layer M_k
    attn = layers.Dense(dim // dim_coefficient)(x)
    # normalize attention map
    attn = layers.Softmax(axis=2)(attn)
    # dobule-normalization
    attn = attn / (1e-9 + ops.sum(attn, axis=-1, keepdims=True))
    attn = layers.Dropout(attention_dropout)(attn)
    # a linear layer M_v
    x = layers.Dense(dim * dim_coefficient // num_heads)(attn)
    x = ops.transpose(x, axes=[0, 2, 1, 3])
    x = ops.reshape(x, [-1, num_patch, dim * dim_coefficient])
    # a linear layer to project original dim
    x = layers.Dense(dim)(x)
    x = layers.Dropout(projection_dropout)(x)
    return x


def eanet_mlp(x, embedding_dim, mlp_dim, drop_rate=0.2):
    x = layers.Dense(mlp_dim, activation=ops.gelu)(x)
    x = layers.Dropout(drop_rate)(x)
    x = layers.Dense(embedding_dim)(x)
    x = layers.Dropout(drop_rate)(x)
    return x


def eanet_transformer_encoder(
    x,
    embedding_dim,
    mlp_dim,
    num_heads,
    dim_coefficient,
    attention_dropout,
    projection_dropout,
    attention_type="external_attention",
):
    residual_1 = x
    x = layers.LayerNormalization(epsilon=1e-5)(x)
    if attention_type == "external_attention":
        x = external_attention(
            x,
            embedding_dim,
            num_heads,
            dim_coefficient,
            attention_dropout,
            projection_dropout,
        )
    elif attention_type == "self_attention":
        x = layers.MultiHeadAttention(
            num_heads=num_heads, key_dim=embedding_dim, dropout=attention_dropout
        )(x, x)
    x = layers.add([x, residual_1])
    residual_2 = x
    x = layers.LayerNormalization(epsilon=1e-5)(x)
    x = eanet_mlp(x, embedding_dim, mlp_dim)
    x = layers.add([x, residual_2])
    return x


def eanet() -> Built:
    """examples/vision/eanet.py: ``get_model(attention_type="external_attention")``,
    external attention as functional code (Dense on a transposed 4-D tensor, Softmax
    over patches, the double normalization), ``layers.add`` residuals. Adapted: 16x16
    images with 4x4 patches, embedding 64 -> 16, MLP 128 -> 32, 2 blocks; augmentation
    dropped (Normalization.adapt)."""
    patch_size, num_patches, embedding_dim, mlp_dim = 4, 16, 16, 32
    num_heads, dim_coefficient, attention_dropout, projection_dropout = 2, 4, 0.1, 0.1
    inputs = layers.Input(shape=(16, 16, 3))
    # Image augment. (Left out: Normalization needs adapt on the training images.)
    x = inputs
    # Extract patches.
    x = EANetPatchExtract(patch_size)(x)
    # Create patch embedding.
    x = EANetPatchEmbedding(num_patches, embedding_dim)(x)
    # Create Transformer block.
    for _ in range(2):
        x = eanet_transformer_encoder(
            x,
            embedding_dim,
            mlp_dim,
            num_heads,
            dim_coefficient,
            attention_dropout,
            projection_dropout,
            "external_attention",
        )

    x = layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return Built(keras.Model(inputs=inputs, outputs=outputs), _images((16, 16, 3)))


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


# ---------------------------------------------------------------------------------------
# examples/nlp/text_classification_with_transformer.py


class TransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
        super().__init__()
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential(
            [layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)]
        )
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs):
        attn_output = self.att(inputs, inputs)
        attn_output = self.dropout1(attn_output)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output)
        return self.layernorm2(out1 + ffn_output)


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim):
        super().__init__()
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = ops.shape(x)[-1]
        positions = ops.arange(start=0, stop=maxlen, step=1)
        positions = self.pos_emb(positions)
        x = self.token_emb(x)
        return x + positions


def text_transformer() -> Built:
    """examples/nlp/text_classification_with_transformer.py (Keras 3 version, whose
    ``TransformerBlock.call(self, inputs)`` dropped the TF 2 version's ``training``
    argument: Keras 3 does not fill a required ``training`` in a functional model),
    ``TokenAndPositionEmbedding``.
    Adapted: vocabulary 20000 -> 100, maxlen 200 -> 16, embed_dim 32 -> 16, ff_dim
    32 -> 16; the IMDB data loading left out."""
    vocab_size, maxlen, embed_dim, num_heads, ff_dim = 100, 16, 16, 2, 16
    inputs = layers.Input(shape=(maxlen,))
    embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
    x = embedding_layer(inputs)
    transformer_block = TransformerBlock(embed_dim, num_heads, ff_dim)
    x = transformer_block(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return Built(keras.Model(inputs=inputs, outputs=outputs), _tokens(maxlen, vocab_size))


# ---------------------------------------------------------------------------------------
# examples/timeseries/timeseries_classification_transformer.py


def ts_transformer_encoder(inputs, head_size, num_heads, ff_dim, dropout=0):
    # Attention and Normalization
    x = layers.MultiHeadAttention(key_dim=head_size, num_heads=num_heads, dropout=dropout)(
        inputs, inputs
    )
    x = layers.Dropout(dropout)(x)
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    res = x + inputs

    # Feed Forward Part
    x = layers.Conv1D(filters=ff_dim, kernel_size=1, activation="relu")(res)
    x = layers.Dropout(dropout)(x)
    x = layers.Conv1D(filters=inputs.shape[-1], kernel_size=1)(x)
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    return x + res


def build_ts_model(
    input_shape,
    head_size,
    num_heads,
    ff_dim,
    num_transformer_blocks,
    mlp_units,
    dropout=0,
    mlp_dropout=0,
    n_classes=2,
):
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for _ in range(num_transformer_blocks):
        x = ts_transformer_encoder(x, head_size, num_heads, ff_dim, dropout)

    x = layers.GlobalAveragePooling1D(data_format="channels_last")(x)
    for dim in mlp_units:
        x = layers.Dense(dim, activation="relu")(x)
        x = layers.Dropout(mlp_dropout)(x)
    outputs = layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def timeseries_transformer() -> Built:
    """examples/timeseries/timeseries_classification_transformer.py: ``build_model``
    with ``transformer_encoder`` (MultiHeadAttention, post-norm ``x + inputs`` sums,
    Conv1D feed-forward). Adapted: series length 500 -> 32 (one channel), head_size
    256 -> 8, 4 -> 2 blocks, MLP 128 -> 16; pooling over time (channels_last), since
    with one channel the example's channels_first pooling leaves a single feature."""
    model = build_ts_model(
        (32, 1),
        head_size=8,
        num_heads=2,
        ff_dim=4,
        num_transformer_blocks=2,
        mlp_units=[16],
        mlp_dropout=0.4,
        dropout=0.25,
    )
    return Built(model, _images((32, 1)))


# ---------------------------------------------------------------------------------------
# examples/generative/text_generation_with_miniature_gpt.py


def causal_attention_mask(batch_size, n_dest, n_src, dtype):
    """
    Mask the upper half of the dot product matrix in self attention.
    This prevents flow of information from future tokens to current token.
    1's in the lower triangle, counting from the lower right corner.
    """
    i = ops.arange(n_dest)[:, None]
    j = ops.arange(n_src)
    m = i >= j - n_src + n_dest
    mask = ops.cast(m, dtype)
    mask = ops.reshape(mask, [1, n_dest, n_src])
    # The example tiles by concatenate([expand_dims(batch_size, -1), [1, 1]]); Keras 3's
    # TensorFlow tile cannot take that symbolic multiple, broadcast_to gives the same.
    return ops.broadcast_to(mask, (batch_size, n_dest, n_src))


class GPTTransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
        super().__init__()
        self.att = layers.MultiHeadAttention(num_heads, embed_dim)
        self.ffn = keras.Sequential(
            [
                layers.Dense(ff_dim, activation="relu"),
                layers.Dense(embed_dim),
            ]
        )
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs):
        input_shape = ops.shape(inputs)
        batch_size = input_shape[0]
        seq_len = input_shape[1]
        causal_mask = causal_attention_mask(batch_size, seq_len, seq_len, "bool")
        attention_output = self.att(inputs, inputs, attention_mask=causal_mask)
        attention_output = self.dropout1(attention_output)
        out1 = self.layernorm1(inputs + attention_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output)
        return self.layernorm2(out1 + ffn_output)


def miniature_gpt() -> Built:
    """examples/generative/text_generation_with_miniature_gpt.py: ``create_model``, a
    causal ``TransformerBlock`` whose ``call(self, inputs)`` builds the mask from
    ``ops.shape``; two outputs ``[logits, x]`` as in the example. Adapted: vocabulary
    20000 -> 100, maxlen 80 -> 16, embed_dim 256 -> 16, 2 heads, ff 256 -> 16;
    TextVectorization and the sampling callback left out."""
    vocab_size, maxlen, embed_dim, num_heads, feed_forward_dim = 100, 16, 16, 2, 16
    inputs = layers.Input(shape=(maxlen,), dtype="int32")
    embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
    x = embedding_layer(inputs)
    transformer_block = GPTTransformerBlock(embed_dim, num_heads, feed_forward_dim)
    x = transformer_block(x)
    outputs = layers.Dense(vocab_size)(x)
    model = keras.Model(inputs=inputs, outputs=[outputs, x])
    return Built(model, _tokens(maxlen, vocab_size))


# ---------------------------------------------------------------------------------------
# examples/nlp/neural_machine_translation_with_transformer.py


class TransformerEncoder(layers.Layer):
    def __init__(self, embed_dim, dense_dim, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim = embed_dim
        self.dense_dim = dense_dim
        self.num_heads = num_heads
        self.attention = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.dense_proj = keras.Sequential(
            [
                layers.Dense(dense_dim, activation="relu"),
                layers.Dense(embed_dim),
            ]
        )
        self.layernorm_1 = layers.LayerNormalization()
        self.layernorm_2 = layers.LayerNormalization()
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:
            padding_mask = ops.cast(mask[:, None, :], dtype="int32")
        else:
            padding_mask = None

        attention_output = self.attention(
            query=inputs, value=inputs, key=inputs, attention_mask=padding_mask
        )
        proj_input = self.layernorm_1(inputs + attention_output)
        proj_output = self.dense_proj(proj_input)
        return self.layernorm_2(proj_input + proj_output)


class PositionalEmbedding(layers.Layer):
    def __init__(self, sequence_length, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_embeddings = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.position_embeddings = layers.Embedding(input_dim=sequence_length, output_dim=embed_dim)
        self.sequence_length = sequence_length
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim

    def call(self, inputs):
        length = ops.shape(inputs)[-1]
        positions = ops.arange(0, length, 1)
        embedded_tokens = self.token_embeddings(inputs)
        embedded_positions = self.position_embeddings(positions)
        return embedded_tokens + embedded_positions

    def compute_mask(self, inputs, mask=None):
        return ops.not_equal(inputs, 0)


class TransformerDecoder(layers.Layer):
    def __init__(self, embed_dim, latent_dim, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim = embed_dim
        self.latent_dim = latent_dim
        self.num_heads = num_heads
        self.attention_1 = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.attention_2 = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.dense_proj = keras.Sequential(
            [
                layers.Dense(latent_dim, activation="relu"),
                layers.Dense(embed_dim),
            ]
        )
        self.layernorm_1 = layers.LayerNormalization()
        self.layernorm_2 = layers.LayerNormalization()
        self.layernorm_3 = layers.LayerNormalization()
        self.supports_masking = True

    def call(self, inputs, encoder_outputs, mask=None):
        causal_mask = self.get_causal_attention_mask(inputs)
        if mask is not None:
            padding_mask = ops.cast(mask[:, None, :], dtype="int32")
            padding_mask = ops.minimum(padding_mask, causal_mask)
        else:
            padding_mask = None

        attention_output_1 = self.attention_1(
            query=inputs, value=inputs, key=inputs, attention_mask=causal_mask
        )
        out_1 = self.layernorm_1(inputs + attention_output_1)

        attention_output_2 = self.attention_2(
            query=out_1,
            value=encoder_outputs,
            key=encoder_outputs,
            attention_mask=padding_mask,
        )
        out_2 = self.layernorm_2(out_1 + attention_output_2)

        proj_output = self.dense_proj(out_2)
        return self.layernorm_3(out_2 + proj_output)

    def get_causal_attention_mask(self, inputs):
        input_shape = ops.shape(inputs)
        batch_size, sequence_length = input_shape[0], input_shape[1]
        i = ops.arange(sequence_length)[:, None]
        j = ops.arange(sequence_length)
        mask = ops.cast(i >= j, dtype="int32")
        mask = ops.reshape(mask, (1, input_shape[1], input_shape[1]))
        # The example tiles by a symbolic multiple; broadcast_to gives the same.
        return ops.broadcast_to(mask, (batch_size, sequence_length, sequence_length))


def nmt_transformer() -> Built:
    """examples/nlp/neural_machine_translation_with_transformer.py (Keras 3 version:
    ``padding_mask = None`` when no mask): an encoder model and a decoder model (two
    inputs, ``call(self, inputs, encoder_outputs, mask=None)``, padding masks from
    ``compute_mask``), the decoder model called on the encoder's output inside the
    end-to-end ``transformer``. Adapted: vocabulary 15000 -> 100, sequence 20 -> 8,
    embed_dim 256 -> 16, latent_dim 2048 -> 32, 8 -> 2 heads; TextVectorization left
    out (inputs are token ids)."""
    vocab_size, sequence_length, embed_dim, latent_dim, num_heads = 100, 8, 16, 32, 2

    encoder_inputs = keras.Input(shape=(None,), dtype="int64", name="encoder_inputs")
    x = PositionalEmbedding(sequence_length, vocab_size, embed_dim)(encoder_inputs)
    encoder_outputs = TransformerEncoder(embed_dim, latent_dim, num_heads)(x)
    encoder = keras.Model(encoder_inputs, encoder_outputs)

    decoder_inputs = keras.Input(shape=(None,), dtype="int64", name="decoder_inputs")
    encoded_seq_inputs = keras.Input(shape=(None, embed_dim), name="decoder_state_inputs")
    x = PositionalEmbedding(sequence_length, vocab_size, embed_dim)(decoder_inputs)
    x = TransformerDecoder(embed_dim, latent_dim, num_heads)(x, encoded_seq_inputs)
    x = layers.Dropout(0.5)(x)
    decoder_outputs = layers.Dense(vocab_size, activation="softmax")(x)
    decoder = keras.Model([decoder_inputs, encoded_seq_inputs], decoder_outputs)

    decoder_outputs = decoder([decoder_inputs, encoder_outputs])
    transformer = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs, name="transformer")
    del encoder  # the example decodes with it; the end-to-end model is measured
    return Built(transformer, _tokens(sequence_length, vocab_size, count=2))


# ---------------------------------------------------------------------------------------
# examples/generative/vae.py


class Sampling(layers.Layer):
    """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = ops.shape(z_mean)[0]
        dim = ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [
            self.total_loss_tracker,
            self.reconstruction_loss_tracker,
            self.kl_loss_tracker,
        ]

    def train_step(self, data):
        import tensorflow as tf  # the example's train step is TensorFlow's; never run here

        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(
                ops.sum(
                    keras.losses.binary_crossentropy(data, reconstruction),
                    axis=(1, 2),
                )
            )
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {
            "loss": self.total_loss_tracker.result(),
            "reconstruction_loss": self.reconstruction_loss_tracker.result(),
            "kl_loss": self.kl_loss_tracker.result(),
        }


def vae_forward(model, x):
    """The VAE has no ``call``: the deterministic path encoder -> z_mean -> decoder."""
    z_mean, _, _ = model.encoder(x, training=False)
    return model.decoder(z_mean, training=False)


def vae() -> Built:
    """examples/generative/vae.py: ``VAE(keras.Model)`` holding the encoder and decoder
    models, with ``train_step`` and NO ``call`` of its own; the encoder has three
    outputs, the last from the seeded ``Sampling`` layer. Built as in the example: the
    two inner models are built, the wrapper never called. Adapted: 16x16x1 images (the
    example: 28x28 MNIST), conv filters 32/64 -> 8/16, decoder from 4x4x16."""
    latent_dim = 2

    encoder_inputs = keras.Input(shape=(16, 16, 1))
    x = layers.Conv2D(8, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(16, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")

    latent_inputs = keras.Input(shape=(latent_dim,))
    x = layers.Dense(4 * 4 * 16, activation="relu")(latent_inputs)
    x = layers.Reshape((4, 4, 16))(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(8, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")

    return Built(VAE(encoder, decoder), _images((16, 16, 1)), vae_forward)


# ---------------------------------------------------------------------------------------
# examples/generative/dcgan_overriding_train_step.py


class GAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.seed_generator = keras.random.SeedGenerator(1337)

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn
        self.d_loss_metric = keras.metrics.Mean(name="d_loss")
        self.g_loss_metric = keras.metrics.Mean(name="g_loss")

    @property
    def metrics(self):
        return [self.d_loss_metric, self.g_loss_metric]

    def train_step(self, real_images):
        import tensorflow as tf  # the example's train step is TensorFlow's; never run here

        # Sample random points in the latent space
        batch_size = ops.shape(real_images)[0]
        random_latent_vectors = keras.random.normal(
            shape=(batch_size, self.latent_dim), seed=self.seed_generator
        )

        # Decode them to fake images
        generated_images = self.generator(random_latent_vectors)

        # Combine them with real images
        combined_images = ops.concatenate([generated_images, real_images], axis=0)

        # Assemble labels discriminating real from fake images
        labels = ops.concatenate([ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0)
        # Add random noise to the labels - important trick!
        labels += 0.05 * keras.random.uniform(ops.shape(labels), seed=self.seed_generator)

        # Train the discriminator
        with tf.GradientTape() as tape:
            predictions = self.discriminator(combined_images)
            d_loss = self.loss_fn(labels, predictions)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(
            zip(grads, self.discriminator.trainable_weights, strict=True)
        )

        # Sample random points in the latent space
        random_latent_vectors = keras.random.normal(
            shape=(batch_size, self.latent_dim), seed=self.seed_generator
        )

        # Assemble labels that say "all real images"
        misleading_labels = ops.zeros((batch_size, 1))

        # Train the generator (note that we should *not* update the weights
        # of the discriminator)!
        with tf.GradientTape() as tape:
            predictions = self.discriminator(self.generator(random_latent_vectors))
            g_loss = self.loss_fn(misleading_labels, predictions)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights, strict=True))

        # Update metrics
        self.d_loss_metric.update_state(d_loss)
        self.g_loss_metric.update_state(g_loss)
        return {
            "d_loss": self.d_loss_metric.result(),
            "g_loss": self.g_loss_metric.result(),
        }


def gan_forward(model, z):
    """The GAN has no ``call``: the generator's path, discriminator(generator(z))."""
    return model.discriminator(model.generator(z, training=False), training=False)


def dcgan() -> Built:
    """examples/generative/dcgan_overriding_train_step.py: Sequential discriminator
    (strided Conv2D + LeakyReLU(0.2), Dropout, sigmoid Dense) and generator (Dense,
    Reshape, strided Conv2DTranspose + LeakyReLU, sigmoid Conv2D) inside the ``GAN``
    wrapper with ``train_step`` and no ``call``. Adapted: 16x16 images (the example:
    64x64 CelebA), latent 128 -> 16, filters 64/128/128 and 128/256/512 divided by 8;
    the inputs measured are latent vectors."""
    latent_dim = 16
    discriminator = keras.Sequential(
        [
            keras.Input(shape=(16, 16, 3)),
            layers.Conv2D(8, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(16, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(16, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Flatten(),
            layers.Dropout(0.2),
            layers.Dense(1, activation="sigmoid"),
        ],
        name="discriminator",
    )
    generator = keras.Sequential(
        [
            keras.Input(shape=(latent_dim,)),
            layers.Dense(2 * 2 * 16),
            layers.Reshape((2, 2, 16)),
            layers.Conv2DTranspose(16, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2DTranspose(32, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2DTranspose(64, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(3, kernel_size=5, padding="same", activation="sigmoid"),
        ],
        name="generator",
    )
    gan = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
    return Built(gan, _images((latent_dim,)), gan_forward)


# ---------------------------------------------------------------------------------------
# examples/nlp/bidirectional_lstm_imdb.py


def bidirectional_lstm() -> Built:
    """examples/nlp/bidirectional_lstm_imdb.py: Embedding, two stacked
    ``Bidirectional(LSTM)`` layers, a sigmoid Dense. Adapted: max_features 20000 ->
    100, Embedding 128 -> 16, LSTM 64 -> 8, sequences of 8 tokens."""
    max_features = 100
    # Input for variable-length sequences of integers
    inputs = keras.Input(shape=(None,), dtype="int32")
    # Embed each integer in a 16-dimensional vector
    x = layers.Embedding(max_features, 16)(inputs)
    # Add 2 bidirectional LSTMs
    x = layers.Bidirectional(layers.LSTM(8, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(8))(x)
    # Add a classifier
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return Built(keras.Model(inputs, outputs), _tokens(8, max_features))


# ---------------------------------------------------------------------------------------
# examples/vision/perceiver_image_classification.py


class PerceiverPatches(layers.Layer):
    def __init__(self, patch_size):
        super().__init__()
        self.patch_size = patch_size

    def call(self, images):
        batch_size = ops.shape(images)[0]
        patches = ops.image.extract_patches(
            images=images,
            size=(self.patch_size, self.patch_size),
            strides=(self.patch_size, self.patch_size),
            dilation_rate=1,
            padding="valid",
        )
        patch_dims = patches.shape[-1]
        patches = ops.reshape(patches, [batch_size, -1, patch_dims])
        return patches


class PatchEncoder(layers.Layer):
    def __init__(self, num_patches, projection_dim):
        super().__init__()
        self.num_patches = num_patches
        self.projection = layers.Dense(units=projection_dim)
        self.position_embedding = layers.Embedding(input_dim=num_patches, output_dim=projection_dim)

    def call(self, patches):
        positions = ops.arange(start=0, stop=self.num_patches, step=1)
        encoded = self.projection(patches) + self.position_embedding(positions)
        return encoded


def create_ffn(hidden_units, dropout_rate):
    ffn_layers = []
    for units in hidden_units[:-1]:
        ffn_layers.append(layers.Dense(units, activation=keras.activations.gelu))

    ffn_layers.append(layers.Dense(units=hidden_units[-1]))
    ffn_layers.append(layers.Dropout(dropout_rate))

    ffn = keras.Sequential(ffn_layers)
    return ffn


def create_cross_attention_module(latent_dim, data_dim, projection_dim, ffn_units, dropout_rate):
    inputs = {
        # Recieve the latent array as an input of shape [1, latent_dim, projection_dim].
        "latent_array": layers.Input(shape=(latent_dim, projection_dim), name="latent_array"),
        # Recieve the data_array (encoded image) as an input of shape
        # [batch_size, data_dim, projection_dim].
        "data_array": layers.Input(shape=(data_dim, projection_dim), name="data_array"),
    }

    # Apply layer norm to the inputs
    latent_array = layers.LayerNormalization(epsilon=1e-6)(inputs["latent_array"])
    data_array = layers.LayerNormalization(epsilon=1e-6)(inputs["data_array"])

    # Create query tensor: [1, latent_dim, projection_dim].
    query = layers.Dense(units=projection_dim)(latent_array)
    # Create key tensor: [batch_size, data_dim, projection_dim].
    key = layers.Dense(units=projection_dim)(data_array)
    # Create value tensor: [batch_size, data_dim, projection_dim].
    value = layers.Dense(units=projection_dim)(data_array)

    # Generate cross-attention outputs: [batch_size, latent_dim, projection_dim].
    attention_output = layers.Attention(use_scale=True, dropout=0.1)(
        [query, key, value], return_attention_scores=False
    )
    # Skip connection 1.
    attention_output = layers.Add()([attention_output, latent_array])

    # Apply layer norm.
    attention_output = layers.LayerNormalization(epsilon=1e-6)(attention_output)
    # Apply Feedforward network.
    ffn = create_ffn(hidden_units=ffn_units, dropout_rate=dropout_rate)
    outputs = ffn(attention_output)
    # Skip connection 2.
    outputs = layers.Add()([outputs, attention_output])

    # Create the Keras model.
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


def create_transformer_module(
    latent_dim,
    projection_dim,
    num_heads,
    num_transformer_blocks,
    ffn_units,
    dropout_rate,
):
    # input_shape: [1, latent_dim, projection_dim]
    inputs = layers.Input(shape=(latent_dim, projection_dim))

    x0 = inputs
    # Create multiple layers of the Transformer block.
    for _ in range(num_transformer_blocks):
        # Apply layer normalization 1.
        x1 = layers.LayerNormalization(epsilon=1e-6)(x0)
        # Create a multi-head self-attention layer.
        attention_output = layers.MultiHeadAttention(
            num_heads=num_heads, key_dim=projection_dim, dropout=0.1
        )(x1, x1)
        # Skip connection 1.
        x2 = layers.Add()([attention_output, x0])
        # Apply layer normalization 2.
        x3 = layers.LayerNormalization(epsilon=1e-6)(x2)
        # Apply Feedforward network.
        ffn = create_ffn(hidden_units=ffn_units, dropout_rate=dropout_rate)
        x3 = ffn(x3)
        # Skip connection 2.
        x0 = layers.Add()([x3, x2])

    # Create the Keras model.
    model = keras.Model(inputs=inputs, outputs=x0)
    return model


class Perceiver(keras.Model):
    def __init__(
        self,
        patch_size,
        data_dim,
        latent_dim,
        projection_dim,
        num_heads,
        num_transformer_blocks,
        ffn_units,
        dropout_rate,
        num_iterations,
        classifier_units,
    ):
        super().__init__()

        self.latent_dim = latent_dim
        self.data_dim = data_dim
        self.patch_size = patch_size
        self.projection_dim = projection_dim
        self.num_heads = num_heads
        self.num_transformer_blocks = num_transformer_blocks
        self.ffn_units = ffn_units
        self.dropout_rate = dropout_rate
        self.num_iterations = num_iterations
        self.classifier_units = classifier_units

    def build(self, input_shape):
        # Create latent array.
        self.latent_array = self.add_weight(
            shape=(self.latent_dim, self.projection_dim),
            initializer="random_normal",
            trainable=True,
        )

        # Create patching module.
        self.patcher = PerceiverPatches(self.patch_size)

        # Create patch encoder.
        self.patch_encoder = PatchEncoder(self.data_dim, self.projection_dim)

        # Create cross-attenion module.
        self.cross_attention = create_cross_attention_module(
            self.latent_dim,
            self.data_dim,
            self.projection_dim,
            self.ffn_units,
            self.dropout_rate,
        )

        # Create Transformer module.
        self.transformer = create_transformer_module(
            self.latent_dim,
            self.projection_dim,
            self.num_heads,
            self.num_transformer_blocks,
            self.ffn_units,
            self.dropout_rate,
        )

        # Create global average pooling layer.
        self.global_average_pooling = layers.GlobalAveragePooling1D()

        # Create a classification head.
        self.classification_head = create_ffn(
            hidden_units=self.classifier_units, dropout_rate=self.dropout_rate
        )

        super().build(input_shape)

    def call(self, inputs):
        # Augment data. (Left out: Normalization needs adapt on the training images.)
        augmented = inputs
        # Create patches.
        patches = self.patcher(augmented)
        # Encode patches.
        encoded_patches = self.patch_encoder(patches)
        # Prepare cross-attention inputs.
        cross_attention_inputs = {
            "latent_array": ops.expand_dims(self.latent_array, 0),
            "data_array": encoded_patches,
        }
        # Apply the cross-attention and the Transformer modules iteratively.
        for _ in range(self.num_iterations):
            # Apply cross-attention from the latent array to the data array.
            latent_array = self.cross_attention(cross_attention_inputs)
            # Apply self-attention Transformer to the latent array.
            latent_array = self.transformer(latent_array)
            # Set the latent array of the next iteration.
            cross_attention_inputs["latent_array"] = latent_array

        # Apply global average pooling to generate a [batch_size, projection_dim] tensor.
        representation = self.global_average_pooling(latent_array)
        # Generate logits.
        logits = self.classification_head(representation)
        return logits


def perceiver() -> Built:
    """examples/vision/perceiver_image_classification.py: ``Perceiver(keras.Model)``
    creating its modules in ``build``, a functional cross-attention module (dict inputs,
    ``layers.Attention``) and a functional Transformer module (MultiHeadAttention), both
    called ``num_iterations`` times in a loop with shared weights. Adapted: 16x16 images
    (the example resizes to 64), 4x4 patches, latent 256 -> 8, projection 256 -> 16,
    1 transformer block, 2 iterations, classifier (16, 10); augmentation dropped
    (Normalization.adapt); the example's misspelt attribute names corrected."""
    num_patches = 16
    model = Perceiver(
        patch_size=4,
        data_dim=num_patches,
        latent_dim=8,
        projection_dim=16,
        num_heads=2,
        num_transformer_blocks=1,
        ffn_units=[16, 16],
        dropout_rate=0.2,
        num_iterations=2,
        classifier_units=[16, 10],
    )
    make_inputs = _images((16, 16, 3))
    model(make_inputs(2))
    return Built(model, make_inputs)


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


CORPUS: dict[str, Callable[[], Built]] = {
    "convmixer": convmixer,
    "mlp_mixer": mlp_mixer,
    "fnet": fnet,
    "gmlp": gmlp,
    "swin_transformer": swin_transformer,
    "cct": cct,
    "eanet": eanet,
    "involution": involution,
    "unet_segmenter": unet_segmenter,
    "text_transformer": text_transformer,
    "timeseries_transformer": timeseries_transformer,
    "miniature_gpt": miniature_gpt,
    "nmt_transformer": nmt_transformer,
    "vae": vae,
    "dcgan": dcgan,
    "bidirectional_lstm": bidirectional_lstm,
    "perceiver": perceiver,
    "resnet_training_positional": resnet_training_positional,
    "rezero_mlp": rezero_mlp,
    "unused_head": unused_head,
}
