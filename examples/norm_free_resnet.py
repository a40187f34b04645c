"""Norm-free CIFAR ResNets: how the residual sums grow at initialization, per initializer.

The nets are CIFAR's ResNets (He et al. 2016: a 3x3 stem, 3 stages of (depth - 2) / 6
blocks, two 3x3 convs per block, identity shortcuts and strided 1x1 projections at stage
changes) without any normalization. ``--order post`` puts the ReLU after the add (v1),
``pre`` before each conv (v2). For each initializer the script pushes a batch of N(0, 1)
images through the net and prints the std of every residual sum relative to the first:
the last one, and the largest and smallest over the net.

Example::

    KERAS_BACKEND=torch python examples/norm_free_resnet.py --depths 20 56 110 \\
        --inits glorot_uniform he_normal none scaled fixup

``none``, ``scaled``, ``fixup`` and ``zero`` are ``keras_glorot.initialize(model,
residual=...)`` with that policy (``none``: residual=None, the per-layer draws).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

KERAS_INITS = ("glorot_uniform", "glorot_normal", "he_normal", "he_uniform")
POLICIES = ("none", "scaled", "fixup", "zero")


def resnet(depth: int, order: str = "post", ops: bool = False, widths=(16, 32, 64), size=32):
    """A norm-free CIFAR ResNet of ``depth`` = 6 n + 2 layers; ``ops`` adds with ``x + y``."""
    import keras

    n = (depth - 2) // 6
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(widths[0], 3, padding="same", name="stem")(inputs)
    if order == "post":
        x = keras.layers.ReLU(name="stem_relu")(x)
    k = 0
    for stage, width in enumerate(widths):
        for block in range(n):
            stride = 2 if stage and not block else 1
            a = keras.layers.ReLU(name=f"b{k}_in")(x) if order == "pre" else x
            h = keras.layers.Conv2D(width, 3, strides=stride, padding="same", name=f"b{k}_a")(a)
            h = keras.layers.ReLU(name=f"b{k}_relu")(h)
            h = keras.layers.Conv2D(width, 3, padding="same", name=f"b{k}_b")(h)
            if stride != 1:
                x = keras.layers.Conv2D(width, 1, strides=stride, name=f"b{k}_proj")(a)
            x = x + h if ops else keras.layers.Add(name=f"b{k}_add")([x, h])
            if order == "post":
                x = keras.layers.ReLU(name=f"b{k}_out")(x)
            k += 1
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="head")(x))


def residual_sum_stds(model, x):
    """The std of every residual merge's output on the batch ``x``, in graph order."""
    import keras
    import numpy as np

    from keras_glorot._graph import Graph, outputs_of
    from keras_glorot.residual import find_merges

    sums = [outputs_of(m.op)[0] for m in find_merges(Graph(model))]
    values = keras.Model(model.inputs[0], sums)(x)
    return np.array([float(np.std(keras.ops.convert_to_numpy(v))) for v in values])


def initialized(depth: int, init: str, order: str, seed: int):
    import keras

    import keras_glorot

    keras.utils.set_random_seed(seed)
    model = resnet(depth, order)
    if init in POLICIES:
        keras_glorot.initialize(model, seed=seed, residual=None if init == "none" else init)
        return model
    for index, layer in enumerate(model.layers):
        if getattr(layer, "kernel", None) is not None:
            # One seed per layer: a seeded Keras initializer repeats its draw.
            config = {"seed": seed * 10_000 + index}
            draw = keras.initializers.get({"class_name": init, "config": config})
            layer.kernel.assign(draw(layer.kernel.shape))
    return model


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--depths", type=int, nargs="+", default=[20, 56, 110], help="6 n + 2 each")
    p.add_argument(
        "--inits",
        nargs="+",
        default=["glorot_uniform", "he_normal", "none", "scaled", "fixup"],
        help=f"Keras initializers {list(KERAS_INITS)} or residual policies {list(POLICIES)}",
    )
    p.add_argument("--order", choices=("post", "pre"), default="post", help="ReLU after (v1) "
                   "or before (v2) the add")  # fmt: skip
    p.add_argument("--batch", type=int, default=16, help="N(0, 1) images pushed through")
    p.add_argument("--seed", type=int, default=0, help="kernels and batch")
    args = p.parse_args(argv)
    for depth in args.depths:
        if depth < 8 or (depth - 2) % 6:
            p.error(f"--depths {depth}: a CIFAR ResNet has 6 n + 2 layers, n >= 1 (20, 56, 110).")
    for init in args.inits:
        if init not in KERAS_INITS + POLICIES:
            p.error(f"--inits {init}: use one of {list(KERAS_INITS + POLICIES)}.")
    if args.batch < 2:
        p.error(f"--batch {args.batch}: must be >= 2.")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)  # before any backend is imported
    import numpy as np

    x = np.random.default_rng(args.seed).standard_normal((args.batch, 32, 32, 3))
    x = x.astype("float32")
    print("| net | init | last / first | max | min |\n|---|---|---|---|---|")
    for depth in args.depths:
        for init in args.inits:
            model = initialized(depth, init, args.order, args.seed)
            ratios = residual_sum_stds(model, x)
            ratios = ratios / ratios[0]
            print(
                f"| ResNet-{depth} ({args.order}) | {init} | {ratios[-1]:.3g} | "
                f"{ratios.max():.3g} | {ratios.min():.3g} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
