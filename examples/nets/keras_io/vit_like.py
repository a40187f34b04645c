"""Vision transformers with a twist: the compact convolutional transformer (CCT) and
EANet's external attention."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from ..zoo import _logits
from .common import Built, _images

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


def cct_encoder(
    augmented,
    num_heads,
    projection_dim,
    transformer_units,
    transformer_layers,
    stochastic_depth_rate,
    positional_emb=True,
    tokenizer_channels=(16, 32),
):
    """The body of the example's ``create_cct_model``, from its augmented images to the
    sequence-pooled representation its classifier reads."""
    # Encode patches.
    cct_tokenizer = CCTTokenizer(num_output_channels=tokenizer_channels)
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
    return weighted_representation


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

    # Encode patches, transform them, pool the sequence.
    weighted_representation = cct_encoder(
        augmented, num_heads, projection_dim, transformer_units, transformer_layers,
        stochastic_depth_rate, positional_emb,
    )  # fmt: skip

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


def cct_cifar(inputs, x, channels=(16, 24), num_heads=2, transformer_layers=2):
    """examples/vision/cct.py's compact convolutional transformer (``cct_encoder``: the
    two-conv tokenizer with its explicit ``kernel_initializer="he_normal"``, a learned
    position embedding, pre-norm transformer layers with stochastic depth 0.1, sequence
    pooling) on CIFAR-10, with the example's linear logits. Kept: the 32x32 input, the
    tokenizer's layout (3x3 convs, pooling 3 with stride 2: 64 tokens), 2 heads, 2 layers,
    MLP units equal to the token width. Scaled to the step budget (package docstring):
    tokenizer channels (64, 128) -> (16, 24), so width 128 -> 24, since the convolutions
    over the full 30x30 image and the attention cost most. The example's in-model Rescaling,
    RandomCrop and RandomFlip are the zoo's normalization and pad-crop-flip (``x``)."""
    projection_dim = channels[-1]  # the tokens' width, as the example's 128 = 128
    representation = cct_encoder(
        x,
        num_heads,
        projection_dim,
        transformer_units=(projection_dim, projection_dim),
        transformer_layers=transformer_layers,
        stochastic_depth_rate=0.1,
        tokenizer_channels=channels,
    )
    return keras.Model(inputs, _logits(representation), name="cct_cifar")


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
