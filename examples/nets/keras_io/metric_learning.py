"""A Siamese network: one embedding model called on two inputs, joined by a distance."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .common import Built

# ---------------------------------------------------------------------------------------
# examples/vision/siamese_contrastive.py


# Provided two tensors t1 and t2
# Euclidean distance = sqrt(sum(square(t1-t2)))
def euclidean_distance(vects):
    """Find the Euclidean distance between two vectors.

    Arguments:
        vects: List containing two tensors of same length.

    Returns:
        Tensor containing euclidean distance
        (as floating point value) between vectors.
    """

    x, y = vects
    sum_square = ops.sum(ops.square(x - y), axis=1, keepdims=True)
    return ops.sqrt(ops.maximum(sum_square, keras.backend.epsilon()))


def siamese_contrastive() -> Built:
    """examples/vision/siamese_contrastive.py: the embedding network (BatchNormalization,
    two tanh ``Conv2D`` each followed by ``AveragePooling2D``, ``Flatten``,
    BatchNormalization, a tanh ``Dense``), one functional model called on both inputs
    (the towers share its weights), joined by the ``euclidean_distance`` ``Lambda``,
    then BatchNormalization and a sigmoid ``Dense``. Kept at the example's size
    (28x28x1 MNIST pairs); nothing adapted."""
    input = keras.layers.Input((28, 28, 1))
    x = keras.layers.BatchNormalization()(input)
    x = keras.layers.Conv2D(4, (5, 5), activation="tanh")(x)
    x = keras.layers.AveragePooling2D(pool_size=(2, 2))(x)
    x = keras.layers.Conv2D(16, (5, 5), activation="tanh")(x)
    x = keras.layers.AveragePooling2D(pool_size=(2, 2))(x)
    x = keras.layers.Flatten()(x)

    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Dense(10, activation="tanh")(x)
    embedding_network = keras.Model(input, x)

    input_1 = keras.layers.Input((28, 28, 1))
    input_2 = keras.layers.Input((28, 28, 1))

    # As mentioned above, Siamese Network share weights between
    # tower networks (sister networks). To allow this, we will use
    # same embedding network for both tower networks.
    tower_1 = embedding_network(input_1)
    tower_2 = embedding_network(input_2)

    merge_layer = keras.layers.Lambda(euclidean_distance, output_shape=(1,))([tower_1, tower_2])
    normal_layer = keras.layers.BatchNormalization()(merge_layer)
    output_layer = keras.layers.Dense(1, activation="sigmoid")(normal_layer)
    siamese = keras.Model(inputs=[input_1, input_2], outputs=output_layer)

    def make_inputs(batch=8, seed=0):
        rng = np.random.default_rng(seed)
        return [rng.standard_normal((batch, 28, 28, 1)).astype("float32") for _ in range(2)]

    return Built(siamese, make_inputs)
