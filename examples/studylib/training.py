"""How the studies compile what they train: the optimizers and schedules every study uses,
and the VGG study's run (``build_for_run``: build, start and compile one run's model).

``cifar10_vgg.py`` is the command line; this module holds what needs Keras, so the command
line can check its arguments first. The nets themselves are in the ``nets`` package.
"""

from __future__ import annotations

import argparse
import math

import keras
import numpy as np
from nets.vgg import WHOLE_MODEL_TOOLS, build_model

import keras_glorot

# Images lsuv measures its pre-activation variances on.
LSUV_BATCH = 256


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
