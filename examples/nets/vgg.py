"""VGG for 32x32 inputs (Simonyan & Zisserman 2015): the net of ``cifar10_vgg.py``, of
the zoo's two VGGs and of the article's VGG-16, with its per-layer initializers."""

from __future__ import annotations

import argparse

import keras
import numpy as np
from studylib.cli_args import named_initializer

import keras_glorot

from .augment import PadCropFlip

# Conv widths per block ("M" = 2x2 max-pool), Simonyan & Zisserman (2015), configs A, B, D, E.
VGG_LAYOUTS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M"]
    + [512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M"]
    + [512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
# The whole-model tools start from glorot_uniform, which they then rescale.
WHOLE_MODEL_TOOLS = ("initialize", "lsuv")
NUM_CLASSES = 10


# keras_glorot.Glorot with the gain of the net's activation, by distribution.
GLOROT_GAIN = {"glorot_gain": "truncated_normal", "glorot_gain_uniform": "uniform"}


def make_initializer(
    name: str, seed: int, index: int, negative_slope: float, activation: str = "linear"
):
    """A fresh initializer per layer: one seeded instance shared would repeat its kernel.
    ``glorot_gain`` and ``glorot_gain_uniform`` take the gain of ``activation``, the net's."""
    if name in WHOLE_MODEL_TOOLS:
        name = "glorot_uniform"  # the starting point the whole-model tool then rescales
    if name in GLOROT_GAIN:
        # negative_slope: that of the model's LeakyReLU layers (ignored by other activations).
        return keras_glorot.Glorot(
            activation,
            negative_slope=negative_slope,
            distribution=GLOROT_GAIN[name],
            seed=seed * 1000 + index,
        )
    # Keras' names and keras_glorot's registered ones (these with the net's slope).
    return named_initializer(name, seed * 1000 + index, negative_slope)


def _activation(name: str, negative_slope: float) -> keras.layers.Layer:
    if name == "leaky_relu":  # Keras' LeakyReLU default slope is 0.3; use the study's
        return keras.layers.LeakyReLU(negative_slope=negative_slope)
    return keras.layers.Activation(name)


def build_model(
    args: argparse.Namespace, init: str, seed: int, mean: np.ndarray, std: np.ndarray
) -> keras.Model:
    """VGG for 32x32 inputs: conv blocks, then Dropout-Dense-act-Dropout-Dense(10) logits.

    Inputs are raw pixel values (0..255); augmentation and per-channel normalisation are
    layers of the model, so they run wherever the model runs.
    """
    inputs = keras.Input((32, 32, 3), name="pixels")
    x = PadCropFlip(seed=seed, name="augment")(inputs) if args.augment else inputs
    x = keras.layers.Normalization(mean=mean, variance=std**2, name="normalize")(x)
    index = 0
    for item in VGG_LAYOUTS[args.model]:
        if item == "M":
            x = keras.layers.MaxPooling2D(2)(x)
            continue
        x = keras.layers.Conv2D(
            max(1, round(item * args.width)),
            3,
            padding="same",
            use_bias=not args.batch_norm,  # BN's beta makes a conv bias redundant
            kernel_initializer=make_initializer(
                init, seed, index, args.negative_slope, args.activation
            ),
        )(x)
        index += 1
        if args.batch_norm:
            x = keras.layers.BatchNormalization()(x)
        x = _activation(args.activation, args.negative_slope)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(args.dropout)(x)
    x = keras.layers.Dense(
        max(1, round(512 * args.width)),
        kernel_initializer=make_initializer(
            init, seed, index, args.negative_slope, args.activation
        ),
    )(x)
    x = _activation(args.activation, args.negative_slope)(x)
    x = keras.layers.Dropout(args.dropout)(x)
    logits = keras.layers.Dense(
        NUM_CLASSES,
        # The activation's gain here too, though no activation follows the logits: the
        # study has drawn them so since its first runs (glorot_leaky), and resumes them.
        kernel_initializer=make_initializer(
            init, seed, index + 1, args.negative_slope, args.activation
        ),
        dtype="float32",  # logits in float32 under mixed precision
        name="logits",
    )(x)
    return keras.Model(inputs, logits, name=f"{args.model}_w{args.width:g}")
