"""keras-glorot: activation-aware Glorot initializers for Keras 3.

Importing the package registers the string names ``"glorot_leaky"``,
``"glorot_leaky_normal"``, ``"glorot_leaky_uniform"`` and ``"delta_orthogonal"``
with Keras, and the classes under ``keras_glorot>ClassName`` so that saved models
reload.
"""

from keras_glorot import keras_internals as _keras_internals
from keras_glorot.composed import Blocks, ByShape
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
from keras_glorot.layer_activation import LayerActivation
from keras_glorot.whole_model.initialize import initialize
from keras_glorot.whole_model.jacobian import JacobianSpectrum, jacobian_spectrum
from keras_glorot.whole_model.kinds import register_layer_kind
from keras_glorot.whole_model.lsuv import lsuv
from keras_glorot.whole_model.mean_field import MeanFieldLayer, mean_field_variances
from keras_glorot.whole_model.reading import KernelReading, ModelReading, read_model
from keras_glorot.whole_model.report import InitReport, KernelRecord
from keras_glorot.whole_model.signal_report import SignalReport, signal_report

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
    "KernelReading",
    "KernelRecord",
    "LayerActivation",
    "MeanFieldLayer",
    "ModelReading",
    "SignalReport",
    "calculate_gain",
    "compute_fans",
    "initialize",
    "jacobian_spectrum",
    "lsuv",
    "mean_field_variances",
    "read_model",
    "register_layer_kind",
    "signal_report",
]


_keras_internals.register_initializer_names(ALIASES)
