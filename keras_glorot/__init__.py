"""keras-glorot: activation-aware Glorot initializers for Keras 3.

Importing the package registers the string names ``"glorot_leaky"``,
``"glorot_leaky_normal"``, ``"glorot_leaky_uniform"`` and ``"delta_orthogonal"``
with Keras, and the classes under ``keras_glorot>ClassName`` so that saved models
reload.
"""

import keras as _keras

from keras_glorot.blocks import Blocks, ByShape
from keras_glorot.fans import compute_fans
from keras_glorot.gains import calculate_gain
from keras_glorot.initializers import (
    ALIASES,
    DeltaOrthogonal,
    Glorot,
    GlorotLeakyNormal,
    GlorotLeakyUniform,
    custom_objects,
)
from keras_glorot.whole_model.diagnostics import SignalReport, signal_report
from keras_glorot.whole_model.found import LayerActivation
from keras_glorot.whole_model.isometry import JacobianSpectrum, jacobian_spectrum
from keras_glorot.whole_model.mean_field import MeanFieldLayer, mean_field_variances
from keras_glorot.whole_model.model_init import initialize
from keras_glorot.whole_model.report import InitReport, KernelRecord
from keras_glorot.whole_model.unit_variance import lsuv

__version__ = "0.2.0"

__all__ = [
    "custom_objects",
    "Blocks",
    "ByShape",
    "DeltaOrthogonal",
    "Glorot",
    "GlorotLeakyNormal",
    "GlorotLeakyUniform",
    "InitReport",
    "JacobianSpectrum",
    "KernelRecord",
    "LayerActivation",
    "MeanFieldLayer",
    "SignalReport",
    "calculate_gain",
    "compute_fans",
    "initialize",
    "jacobian_spectrum",
    "lsuv",
    "mean_field_variances",
    "signal_report",
]


def _register_aliases() -> None:
    custom = _keras.saving.get_custom_objects()
    for name, cls in ALIASES.items():
        existing = custom.get(name)
        if existing is not None and existing is not cls:
            raise RuntimeError(
                f"keras_glorot: the custom object name {name!r} is already taken by "
                f"{existing!r}; refusing to overwrite it."
            )
        custom[name] = cls


_register_aliases()
