"""examples/vision/perceiver_image_classification.py: the Perceiver."""

from __future__ import annotations

import keras
from keras import layers, ops

from ..norm_free import NUM_CLASSES
from .common import Built, _images

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


def perceiver_cifar(
    inputs,
    x,
    patch_size=4,
    latent_dim=16,
    projection_dim=32,
    num_heads=2,
    num_transformer_blocks=2,
    num_iterations=2,
):
    """examples/vision/perceiver_image_classification.py's ``Perceiver`` as written
    (patches, a patch encoder, the cross-attention module and the transformer module called
    ``num_iterations`` times in a loop with shared weights, global pooling, the classifier
    FFN whose last Dense gives the linear logits) on CIFAR-10 (the example: CIFAR-100), the
    logits passed through a float32 linear ``Activation`` as the zoo's are float32. Kept: 2
    iterations, dropout 0.2, FFN units equal to the projection. Scaled to the step budget
    (package docstring): 64x64 resized images in 2x2 patches (1024) -> 32x32 in 4x4 (64),
    latent array 256 -> 16, projection 256 -> 32, 8 -> 2 heads, 4 -> 2 transformer blocks,
    since attention over 1024 patches and the wide latent array dominate the example's cost.
    The example's Normalization (adapt), Resizing and random flip and zoom are the zoo's
    normalization and pad-crop-flip (``x``)."""
    perceiver_model = Perceiver(
        patch_size=patch_size,
        data_dim=(x.shape[1] // patch_size) ** 2,
        latent_dim=latent_dim,
        projection_dim=projection_dim,
        num_heads=num_heads,
        num_transformer_blocks=num_transformer_blocks,
        ffn_units=[projection_dim, projection_dim],
        dropout_rate=0.2,
        num_iterations=num_iterations,
        classifier_units=[projection_dim, NUM_CLASSES],
    )
    logits = perceiver_model(x)
    # The zoo's logits are float32 under mixed precision too.
    logits = layers.Activation("linear", dtype="float32", name="logits")(logits)
    return keras.Model(inputs, logits, name="perceiver_cifar")
