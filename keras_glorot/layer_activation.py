"""An activation layer used as an elementwise function (``LayerActivation``).

For activation layers whose parameters no Keras activation name expresses, so that an
initializer's config can name the exact function it was drawn for, and reload it.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="keras_glorot")
class LayerActivation:
    """An activation layer used as an elementwise function, so a gain can be computed.

    For activation layers with parameters no Keras activation name expresses
    (``ELU(alpha=0.5)``, ``ReLU(max_value=3.0, threshold=0.1)``), so that the
    initializer's config can name the exact function.

    Args:
        layer: A Keras activation layer, or its serialized config.

    Example:

    >>> f = LayerActivation(keras.layers.ELU(alpha=0.5))
    >>> init = keras_glorot.Glorot(f)
    """

    def __init__(self, layer):
        if isinstance(layer, dict):
            layer = keras.saving.deserialize_keras_object(layer)
        self.layer = layer

    def __call__(self, x):
        return self.layer(x)

    def get_config(self) -> dict:
        return {"layer": keras.saving.serialize_keras_object(self.layer)}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)
