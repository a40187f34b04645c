"""The CIFAR-10 study's model: VGG for 32x32 inputs, its augmentation and its optimizer.

``cifar10_vgg.py`` is the command line; this module holds everything that needs Keras to
build and compile one run's model, so the command line can check its arguments first.
"""

from __future__ import annotations

import argparse
import math

import keras
import numpy as np

import keras_glorot

# Conv widths per block ("M" = 2x2 max-pool), Simonyan & Zisserman (2015), configs A, B, D, E.
VGG_LAYOUTS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M"]
    + [512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M"]
    + [512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
WHOLE_MODEL_TOOLS = ("initialize", "lsuv")
NUM_CLASSES = 10
# Images lsuv measures its pre-activation variances on.
LSUV_BATCH = 256


@keras.saving.register_keras_serializable(package="cifar10_vgg")
class PadCropFlip(keras.layers.Layer):
    """Standard CIFAR augmentation in the graph: zero-pad 4, random 32x32 crop, h-flip.

    Built from ``keras.ops`` gathers so it runs on the accelerator on every backend, with a
    crop offset drawn per image (``keras.layers.RandomCrop`` resizes at inference instead).
    """

    def __init__(self, pad: int = 4, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.pad, self.seed = pad, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training:
            return x
        ops, p = keras.ops, self.pad
        b, h, w, c = ops.shape(x)[0], x.shape[1], x.shape[2], x.shape[3]
        x = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
        dy = keras.random.randint((b, 1), 0, 2 * p + 1, seed=self.seed_generator)
        dx = keras.random.randint((b, 1), 0, 2 * p + 1, seed=self.seed_generator)
        rows = dy + ops.arange(h, dtype="int32")[None, :]
        cols = dx + ops.arange(w, dtype="int32")[None, :]
        flip = keras.random.uniform((b, 1), seed=self.seed_generator) < 0.5
        cols = ops.where(flip, 2 * p + w - 1 - cols, cols)  # mirrored columns = h-flip
        rows = ops.broadcast_to(rows[:, :, None, None], (b, h, w + 2 * p, c))
        x = ops.take_along_axis(x, rows, axis=1)
        cols = ops.broadcast_to(cols[:, None, :, None], (b, h, w, c))
        return ops.take_along_axis(x, cols, axis=2)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "pad": self.pad, "seed": self.seed}


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
    return keras.initializers.get({"class_name": name, "config": {"seed": seed * 1000 + index}})


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


def apply_whole_model_tool(name: str, model: keras.Model, x_sample: np.ndarray, seed: int):
    """Run ``keras_glorot.initialize`` or ``keras_glorot.lsuv`` on a freshly built model.

    Both read the leaky-ReLU slope from the model's LeakyReLU layers themselves.
    """
    if name == "lsuv":
        return keras_glorot.lsuv(model, x_sample, seed=seed)
    return keras_glorot.initialize(model, seed=seed)


class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up for 30% of the steps to ``peak``, then cosine down to ~0."""

    def __init__(self, peak: float, total_steps: int, warmup: float = 0.3):
        self.peak, self.total_steps, self.warmup = peak, total_steps, warmup

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float32")
        up = max(1.0, self.warmup * self.total_steps)
        down = max(1.0, self.total_steps - up)
        rise = self.peak * (0.04 + 0.96 * step / up)
        t = ops.minimum((step - up) / down, 1.0)
        fall = self.peak * 0.5 * (1.0 + ops.cos(math.pi * t))
        return ops.where(step < up, rise, fall)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup": self.warmup}


def make_optimizer(args: argparse.Namespace, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """SGD with Nesterov momentum and a cosine (1-epoch warm-up) schedule by default."""
    total = max(1, steps_per_epoch * args.epochs)
    if args.schedule == "cosine":
        warmup = min(steps_per_epoch, total // 10)
        lr = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else args.lr,
            decay_steps=max(1, total - warmup),
            warmup_target=args.lr if warmup else None,
            warmup_steps=warmup,
        )
    elif args.schedule == "onecycle":
        lr = OneCycle(args.lr, total)
    else:
        lr = args.lr
    if args.optimizer == "adam":
        return keras.optimizers.AdamW(lr, weight_decay=args.weight_decay)
    return keras.optimizers.SGD(
        lr, momentum=args.momentum, nesterov=True, weight_decay=args.weight_decay
    )


def _distribution_scope(args: argparse.Namespace):
    """Data parallelism over local devices with Keras' distribution API (or TF's strategy)."""
    import contextlib

    if not args.distribute:
        return contextlib.nullcontext()
    backend = keras.config.backend()
    if backend == "jax":
        devices = keras.distribution.list_devices()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        return contextlib.nullcontext()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy().scope()
    raise RuntimeError(f"--distribute supports jax and tensorflow, not {backend}.")


def build_for_run(
    args: argparse.Namespace, init: str, seed: int, data: dict[str, np.ndarray], steps: int
) -> keras.Model:
    """Build, initialise and compile the model of one run (inside the distribution scope),
    under the global dtype policy the caller set (``study.dtype_policy``)."""
    keras.utils.set_random_seed(seed)  # dropout, augmentation and the shuffle order
    x = data["x_train"].astype("float32")
    mean = x.mean(axis=(0, 1, 2))
    std = x.std(axis=(0, 1, 2)) + 1e-3
    with _distribution_scope(args):
        model = build_model(args, init, seed, mean, std)
        if init in WHOLE_MODEL_TOOLS:
            apply_whole_model_tool(init, model, x[:LSUV_BATCH], seed)
        jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
        model.compile(
            optimizer=make_optimizer(args, steps),
            loss=keras.losses.CategoricalCrossentropy(
                from_logits=True, label_smoothing=args.label_smoothing
            ),
            metrics=["accuracy"],
            jit_compile=jit,
        )
    return model
