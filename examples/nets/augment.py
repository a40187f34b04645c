"""The CIFAR-10 augmentation every study's image nets carry as their first layer."""

from __future__ import annotations

import keras


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
