"""The nets and initializers of ``article_tables.py``: every definition in one place.

Initializers (the names a run records as ``init``):

- ``zeros``: every kernel zero (``keras.initializers.Zeros``); biases are zero anyway.
- ``random_normal``: the article's "random", ``keras.initializers.RandomNormal(stddev=0.05)``
  (Keras' default stddev).
- ``random_uniform``: ``keras.initializers.RandomUniform(-0.05, 0.05)`` (Keras' defaults).
- ``he_normal``: Keras' He normal, ``Var = 2 / fan_in`` (truncated).
- ``glorot_uniform`` (Keras' default, the article's "Xavier") and ``glorot_normal``.
- ``glorot_gain`` (ours): ``keras_glorot.Glorot(act)`` with the activation that follows the
  kernel, ``GlorotLeakyNormal(0.2)`` ("glorot_leaky") for leaky ReLU 0.2, ``Glorot(None)``
  (= glorot_normal) for the logits. In the nets whose layers this module does not write
  one by one (the LSTM, VGG-16, ResNet-50, Inception-v3) it is ``keras_glorot.initialize``,
  which finds that activation for each kernel (each LSTM gate) itself.
- ``article``: the article's variances, per layer: sigmoid/tanh ``1 / (fan_in + fan_out)``,
  ReLU ``2 / (fan_in + fan_out)``, leaky ReLU ``2 / ((1 + a²) fan_in + fan_out)``
  (``signal_measure.article_initializer``), the logits glorot_normal.
  docs/derivation.md shows why they are wrong. Only in the nets written here layer by layer.
- ``initialize`` / ``lsuv``: ``keras_glorot.initialize(model)`` / ``keras_glorot.lsuv(model,
  x)`` on the glorot_uniform net (lsuv measures on 256 training images).

Kernel ``i`` of a net (in build order) is drawn with seed ``1000 * seed + i``.

Nets (inputs are raw 0..255 pixels; a ``Normalization`` layer with the training set's
per-channel mean and std comes first; the output is 10 logits):

- ``mlp``: Flatten, Dense 512-256-128 (``hidden_layers`` = 3; 1..4 take the first of
  512, 256, 128, 64), Dense 10. 3 hidden layers: 1,738,890 weights.
- ``cnn5``: Conv 32-32, max-pool, Conv 64-64, max-pool, Flatten, Dense 10: 5 weight
  layers, 3x3 'same' convolutions, 106,538 weights.
- ``cnn11``: a deep plain CNN without normalization: Conv 16 x4, pool, 32 x3, pool,
  64 x3, pool, Dense 10: 11 weight layers, 133,146 weights.
- ``lstm``: each image read as 32 rows of 96 values (sequential CIFAR), LSTM(128) returning
  sequences, LSTM(128), Dense 10: 248,074 weights. Kernels and recurrent kernels take the
  initializer (Keras' defaults would give the recurrent kernels ``orthogonal``).
- ``vgg16``: ``nets.vgg.build_model`` (model vgg16, ``width`` x 64..512 channels, with or
  without BatchNormalization, no augmentation, dropout 0.3).
- ``resnet50``: ``keras.applications.ResNet50(weights=None, classes=10)`` on the 32x32 image.
- ``inceptionv3``: ``keras.applications.InceptionV3(weights=None, classes=10)`` after a
  ``Resizing`` to 75x75 inside the model (its smallest input).

Losses (``loss``): ``cce`` categorical cross-entropy on the logits; ``bce`` binary
cross-entropy of each logit (one-vs-all sigmoids) against the one-hot target; ``mse`` mean
squared error of the softmax against the one-hot target; ``kl`` Keras' KL divergence of
the softmax from the one-hot target. With one-hot targets ``KL(y || p) = sum y log(y/p) =
-log p_true``: the same as cross-entropy (Keras clips y to [1e-7, 1], which adds at most
9 * 1e-7 * |log 1e-7|/10 per sample), so ``kl`` and ``cce`` runs of one seed should agree.

Optimizer: ``training.make_optimizer`` (SGD with Nesterov momentum or AdamW, with the
study's schedules), accuracy as ``keras.metrics.CategoricalAccuracy``.
"""

from __future__ import annotations

import argparse

import keras
import numpy as np
from studylib import signal_measure, training
from studylib.cli_args import named_initializer

import keras_glorot
from keras_glorot import Glorot, GlorotLeakyNormal

from . import vgg

LEAKY_SLOPE = signal_measure.LEAKY_SLOPE  # keras.activations.leaky_relu's 0.2
MLP_WIDTHS = (512, 256, 128, 64)
CNN_LAYOUTS: dict[str, list[int | str]] = {
    "cnn5": [32, 32, "M", 64, 64, "M"],
    "cnn11": [16, 16, 16, 16, "M", 32, 32, 32, "M", 64, 64, 64, "M"],
}
LAYER_NETS = ("mlp", *CNN_LAYOUTS)  # written layer by layer: every initializer applies
REDRAWN_NETS = ("lstm", "vgg16", "resnet50", "inceptionv3")  # built, then kernels redrawn
INCEPTION_SIZE = 75  # keras.applications.InceptionV3's smallest input
LSUV_BATCH = 256
LOSSES = ("cce", "bce", "mse", "kl")
# Trainable weights (kernels and biases) of the nets written here, as the docstring says.
WEIGHTS = {"mlp": 1_738_890, "cnn5": 106_538, "cnn11": 133_146, "lstm": 248_074}
NUM_CLASSES = 10


def article_initializer(activation: str, fan_in: int, fan_out: int, seed: int):
    """The article's variance for one layer; Glorot's for the logits (``linear``)."""
    if activation == "linear":
        return keras.initializers.GlorotNormal(seed=seed)
    return signal_measure.article_initializer(activation, fan_in, fan_out, seed)


def kernel_initializer(init: str, activation: str, fan_in: int, fan_out: int, seed: int):
    """A fresh initializer for one kernel followed by ``activation`` ('linear': logits)."""
    if init == "zeros":
        return keras.initializers.Zeros()
    if init == "article":
        return article_initializer(activation, fan_in, fan_out, seed)
    if init == "glorot_gain":
        if activation == "leaky_relu":
            return GlorotLeakyNormal(negative_slope=LEAKY_SLOPE, seed=seed)
        return Glorot(None if activation == "linear" else activation, seed=seed)
    if init in ("initialize", "lsuv"):
        init = "glorot_uniform"  # the start the whole-model tool then rescales
    # Keras' names, and keras_glorot's registered ones with leaky_relu's slope 0.2.
    return named_initializer(init, seed, LEAKY_SLOPE)


def _act(name: str):
    """Keras' activation function (leaky_relu with its default slope 0.2)."""
    return keras.activations.get(name)


def _layer_net(options, init: str, seed: int, x):
    """mlp / cnn5 / cnn11 on tensor ``x``: each kernel drawn by ``kernel_initializer``."""
    act, index = options["activation"], 0

    def make(units, fan_in, fan_out, activation):
        nonlocal index
        index += 1
        return kernel_initializer(init, activation, fan_in, fan_out, 1000 * seed + index - 1)

    if options["model"] == "mlp":
        x = keras.layers.Flatten()(x)
        fan_in = x.shape[-1]
        for units in MLP_WIDTHS[: options["hidden_layers"]]:
            kernel = make(units, fan_in, units, act)
            x = keras.layers.Dense(units, _act(act), kernel_initializer=kernel)(x)
            fan_in = units
    else:
        channels = x.shape[-1]
        for item in CNN_LAYOUTS[options["model"]]:
            if item == "M":
                x = keras.layers.MaxPooling2D(2)(x)
                continue
            kernel = make(item, 9 * channels, 9 * item, act)
            x = keras.layers.Conv2D(item, 3, padding="same", activation=_act(act),
                                    kernel_initializer=kernel)(x)  # fmt: skip
            channels = item
        x = keras.layers.Flatten()(x)
    kernel = make(NUM_CLASSES, x.shape[-1], NUM_CLASSES, "linear")
    return keras.layers.Dense(NUM_CLASSES, kernel_initializer=kernel, name="logits")(x)


def _redrawn_net(options, x, mean, std, seed):
    """lstm / vgg16 / resnet50 / inceptionv3, with Keras' default initializers."""
    name = options["model"]
    if name == "lstm":
        x = keras.layers.Reshape((32, 32 * 3))(x)  # 32 rows of 32 pixels x 3 channels
        x = keras.layers.LSTM(128, return_sequences=True)(x)
        x = keras.layers.LSTM(128)(x)
        return keras.layers.Dense(NUM_CLASSES, name="logits")(x)
    if name == "vgg16":
        vgg_args = argparse.Namespace(
            model="vgg16", width=options["width"], batch_norm=options["batch_norm"],
            augment=False, activation=options["activation"], negative_slope=LEAKY_SLOPE,
            dropout=0.3,
        )  # fmt: skip
        # nets.vgg normalises itself: give it the raw pixels.
        return vgg.build_model(vgg_args, "glorot_uniform", seed, mean, std)(x)
    if name == "resnet50":
        app = keras.applications.ResNet50(
            weights=None, input_shape=(32, 32, 3), classes=NUM_CLASSES, classifier_activation=None
        )
        return app(x)
    x = keras.layers.Resizing(INCEPTION_SIZE, INCEPTION_SIZE)(x)
    app = keras.applications.InceptionV3(
        weights=None,
        input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3),
        classes=NUM_CLASSES,
        classifier_activation=None,
    )
    return app(x)


def redraw_kernels(model: keras.Model, init: str, seed: int) -> None:
    """Draw every kernel (and LSTM recurrent kernel) of ``model`` again with ``init``."""
    kernels = [w for w in model.weights if w.name in ("kernel", "recurrent_kernel")]
    for index, w in enumerate(kernels):
        initializer = kernel_initializer(init, "linear", 1, 1, 1000 * seed + index)
        w.assign(initializer(tuple(w.shape), dtype=w.dtype))


def build_net(
    options: dict, init: str, seed: int, mean: np.ndarray, std: np.ndarray, x_sample=None
) -> keras.Model:
    """The net of ``options`` (model, activation, hidden_layers, width, batch_norm, loss),
    initialized with ``init``; outputs logits, or the softmax for the mse and kl losses.
    ``x_sample`` (raw pixels) is what lsuv measures on."""
    inputs = keras.Input((32, 32, 3), name="pixels")
    if options["model"] == "vgg16":
        x = _redrawn_net(options, inputs, mean, std, seed)
    else:
        x = keras.layers.Normalization(mean=mean, variance=std**2, name="normalize")(inputs)
        if options["model"] in LAYER_NETS:
            x = _layer_net(options, init, seed, x)
        else:
            x = _redrawn_net(options, x, mean, std, seed)
    if options["loss"] in ("mse", "kl"):
        x = keras.layers.Softmax(dtype="float32", name="softmax")(x)
    model = keras.Model(inputs, x, name=options["model"])
    redrawn = options["model"] in REDRAWN_NETS
    if init in ("glorot_gain", "initialize") and (redrawn or init == "initialize"):
        keras_glorot.initialize(model, seed=seed)
    elif init == "lsuv":
        if redrawn:
            redraw_kernels(model, "glorot_uniform", seed)
        keras_glorot.lsuv(model, x_sample[:LSUV_BATCH].astype("float32"), seed=seed)
    elif redrawn:
        redraw_kernels(model, init, seed)
    return model


def make_loss(name: str) -> keras.losses.Loss:
    """The loss of the ``loss`` option (see the module docstring)."""
    return {
        "cce": lambda: keras.losses.CategoricalCrossentropy(from_logits=True),
        "bce": lambda: keras.losses.BinaryCrossentropy(from_logits=True),
        "mse": keras.losses.MeanSquaredError,
        "kl": keras.losses.KLDivergence,
    }[name]()


def build_for_run(
    args: argparse.Namespace, init: str, seed: int, data: dict[str, np.ndarray], steps: int
) -> keras.Model:
    """study.py's ``build``: build, initialise and compile the net of one table case."""
    keras.utils.set_random_seed(seed)  # dropout and the shuffle order
    x = data["x_train"].astype("float32")
    mean, std = x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2)) + 1e-3
    model = build_net(vars(args), init, seed, mean, std, x_sample=data["x_train"])
    model.compile(
        optimizer=training.make_optimizer(args, steps),
        loss=make_loss(args.loss),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        jit_compile={"auto": "auto", "true": True, "false": False}[args.jit_compile],
    )
    return model
