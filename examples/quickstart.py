# ruff: noqa: E402  (keras-io's layout: prose between the sections, imports where used)
"""
Title: Glorot initialization for leaky ReLU: a VGG without batch norm on CIFAR-10
Author: keras-glorot authors
Date created: 2026-12-08
Last modified: 2026-12-08
Description: The same leaky-ReLU CNN trained from Keras' default start, from
"glorot_leaky", and from `keras_glorot.initialize(model)`.
"""

"""
## Introduction

Keras draws every kernel with `glorot_uniform` unless told otherwise. That variance keeps
the signal of a linear or tanh unit; a leaky ReLU keeps only `(1 + a²) / 2` of it, so in a
deep net without batch normalization the signal shrinks at every layer. keras-glorot gives
two remedies: the initializer `"glorot_leaky"`, named where a layer is made, and
`keras_glorot.initialize(model)`, which reads a built model and redraws each kernel for the
activation that follows it. This example trains one small VGG-style net from each start.

Run it with `python examples/quickstart.py` (CIFAR-10 through `keras.datasets`) or
`--npz cifar10.npz` for a local copy; `--help` lists the options.
"""

"""
## Setup

The arguments, and a local data file, are checked before Keras is imported, so that a typo
costs no time.
"""

import argparse
import os
import tempfile
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no TensorFlow C++ info lines

import numpy as np

parser = argparse.ArgumentParser(description="Three starts of one leaky-ReLU VGG on CIFAR-10.")
parser.add_argument("--npz", help="CIFAR-10 as x_train, y_train, x_test, y_test (default: Keras')")
parser.add_argument("--subset", type=int, default=10_000, help="training images (default: 10000)")
parser.add_argument("--epochs", type=int, default=4, help="epochs per start (default: 4)")
parser.add_argument("--seed", type=int, default=0, help="seed of every start (default: 0)")
args = parser.parse_args()
if args.subset < 1:
    parser.error(f"--subset {args.subset}: must be at least 1.")
if args.epochs < 1:
    parser.error(f"--epochs {args.epochs}: must be at least 1.")
ARRAYS = ("x_train", "y_train", "x_test", "y_test")  # keras.datasets.cifar10's layout

"""
## The data

The first `--subset` training images and 2,000 test images, scaled to zero mean and unit
variance per channel. `examples/get_cifar10.py` writes the `.npz` this reads.
"""

if args.npz:
    try:
        with np.load(args.npz, allow_pickle=False) as data:
            x_train, y_train, x_test, y_test = (data[k] for k in ARRAYS)
    except FileNotFoundError:
        parser.error(f"--npz {args.npz}: no such file.")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # text, cut short
        parser.error(
            f"--npz {args.npz}: not a CIFAR-10 .npz of {', '.join(ARRAYS)}; "
            "python examples/get_cifar10.py writes one."
        )
available = len(x_train) if args.npz else 50_000  # CIFAR-10's training set
if args.subset > available:
    parser.error(f"--subset {args.subset}: the data holds {available} training images.")

import keras

import keras_glorot  # registers "glorot_leaky"

if not args.npz:
    (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
x_train, y_train = x_train[: args.subset], y_train[: args.subset].reshape(-1)
x_test, y_test = x_test[:2000], y_test[:2000].reshape(-1)
mean = x_train.mean(axis=(0, 1, 2))
std = x_train.std(axis=(0, 1, 2)) + 1e-7
x_train = ((x_train - mean) / std).astype("float32")
x_test = ((x_test - mean) / std).astype("float32")
print(f"Training on {len(x_train)} images, testing on {len(x_test)}.")

"""
## The model

Eight 3x3 convolutions and two dense layers, each followed by leaky ReLU (slope 0.2, the
default of `keras.activations.leaky_relu`), no batch normalization: the depth at which
the start decides how much signal reaches the output.
"""


def build_model(kernel_initializer: str) -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    x = inputs
    for filters, convs in ((16, 1), (32, 1), (64, 2), (128, 2), (128, 2)):
        for _ in range(convs):
            x = keras.layers.Conv2D(
                filters, 3, padding="same", activation="leaky_relu",
                kernel_initializer=kernel_initializer,
            )(x)  # fmt: skip
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(128, activation="leaky_relu", kernel_initializer=kernel_initializer)(x)
    outputs = keras.layers.Dense(10, kernel_initializer=kernel_initializer)(x)  # logits
    return keras.Model(inputs, outputs)


"""
## Three starts

The same seed for each start: the same data order, and the same draws where two starts
share a distribution. `initialize()` starts from Keras' default and redraws each kernel
with the gain of what follows it (the last layer, which no activation follows, linear).
Before training, `signal_report` measures each layer's output std on 64 images: the last
layer's over the first's is how much of the signal a start keeps.
"""

STARTS = ('Keras default "glorot_uniform"', '"glorot_leaky"', "keras_glorot.initialize()")
results = []
for start in STARTS:
    keras.utils.set_random_seed(args.seed)
    model = build_model("glorot_leaky" if start == STARTS[1] else "glorot_uniform")
    if start == STARTS[2]:
        keras_glorot.initialize(model, seed=args.seed)
    signal = keras_glorot.signal_report(model, x_train[:64])
    if start == STARTS[0]:
        print(f"\nsignal_report of the {start} start:\n{signal.to_markdown()}")
    model.compile(
        optimizer=keras.optimizers.SGD(0.02, momentum=0.9, nesterov=True),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    print(f"\nTraining from {start}:")
    history = model.fit(
        x_train, y_train, batch_size=128, epochs=args.epochs, verbose=2,
        validation_data=(x_test, y_test),
    )  # fmt: skip
    results.append((start, signal.activation_ratio, history.history))

print(f"\nAfter {args.epochs} epoch(s) on {len(x_train)} images (seed {args.seed}):\n")
print("| start | signal kept at start | train accuracy | test accuracy |\n|---|---|---|---|")
for start, kept, history in results:
    train, test = history["accuracy"][-1], history["val_accuracy"][-1]
    print(f"| {start} | {kept:.3g} | {train:.1%} | {test:.1%} |")

"""
## Saving and reloading

A model that names keras-glorot's initializers loads wherever `keras_glorot` is imported;
the reloaded model computes exactly what the trained one does.
"""

path = os.path.join(tempfile.mkdtemp(), "quickstart.keras")
model.save(path)
reloaded = keras.saving.load_model(path)
same = np.array_equal(model.predict(x_test, verbose=0), reloaded.predict(x_test, verbose=0))
print(f"\nReloaded {path}: predictions identical: {same}")
if not same:
    raise SystemExit("The reloaded model predicts otherwise than the saved one.")
