"""A residual MLP whose blocks add an activity loss in ``call``."""

from __future__ import annotations

import keras
from keras import layers, ops

from .common import Built, _images

# ---------------------------------------------------------------------------------------
# guides/making_new_layers_and_models_via_subclassing.py (keras-io's subclassing guide,
# "The add_loss() method"), in a residual block


class ActivityRegularizedBlock(layers.Layer):
    """A residual MLP block whose call adds an activity loss on its branch's output,
    as the guide's ``ActivityRegularizationLayer`` does on its input: ``add_loss``
    inside ``call``, collected in ``model.losses`` after each forward pass."""

    def __init__(self, units, rate=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.dense_1 = layers.Dense(units * 2, activation="relu")
        self.dense_2 = layers.Dense(units)

    def call(self, inputs):
        h = self.dense_2(self.dense_1(inputs))
        # We use `add_loss` to create a regularization loss
        # that depends on the inputs.
        self.add_loss(self.rate * ops.mean(h**2))
        return inputs + h


def add_loss_mlp() -> Built:
    """guides/making_new_layers_and_models_via_subclassing.py: the guide's
    ``add_loss`` pattern (``self.add_loss(rate * ...)`` in ``call``, the way activity
    regularizers, the VAE's KL layers and a router's balance loss add their terms),
    here in 4 residual MLP blocks ``x + dense_2(relu(dense_1(x)))`` of a functional
    model; each forward pass leaves 4 losses in ``model.losses``. Not one example: the
    guide's layer is an identity; widths 16 -> 32 -> 10."""
    inputs = keras.Input((16,))
    x = layers.Dense(32)(inputs)
    for i in range(4):
        x = ActivityRegularizedBlock(32, name=f"activity_block_{i}")(x)
    outputs = layers.Dense(10)(x)
    return Built(keras.Model(inputs, outputs), _images((16,)))
