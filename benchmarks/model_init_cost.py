"""Cost of ``initialize()`` and ``lsuv()`` on a VGG-16, in forward passes of that model.

Builds ``keras.applications.VGG16(weights=None)`` (13 convolutions, 3 dense layers;
``--size 32`` is the CIFAR-sized input, 224 the ImageNet one), times one forward
pass on a batch, ``keras_glorot.initialize(model)`` and ``keras_glorot.lsuv(model,
batch)``, each as the median of ``--repeats`` runs after one warm-up run (which
holds JAX's compilations), and prints the ratios. ``lsuv`` runs LSUV inside a
single forward pass, re-running each layer alone a few times on its input, so its
cost should be a small multiple of one forward pass: well under 3 forward passes
per kernel layer on average.

Example::

    python benchmarks/model_init_cost.py --size 32 --batch 64 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no TensorFlow C++ info/warning lines

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_glorot  # noqa: E402
from keras_glorot.whole_model.unit_variance import orthonormal  # noqa: E402


def timed(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def synced(model, fn):
    """``fn`` then a read of every kernel: JAX returns before async work is done."""

    def run():
        fn()
        for weight in model.weights:
            keras.ops.convert_to_numpy(weight)

    return run


def forward(model, x) -> None:
    # Converting to numpy waits for the result (JAX and TF dispatch asynchronously).
    keras.ops.convert_to_numpy(model(x, training=False))


def orthonormal_draws(model, seed: int) -> None:
    """What lsuv's pre-init costs alone: one orthonormal draw (a QR) per kernel."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is not None:
            orthonormal(tuple(int(d) for d in kernel.shape), rng)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=32, help="input height = width (>= 32)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.size < 32 or args.batch < 2 or args.repeats < 1:
        parser.error("--size must be >= 32, --batch >= 2 and --repeats >= 1")

    model = keras.applications.VGG16(
        weights=None, input_shape=(args.size, args.size, 3), classes=10
    )
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.batch, args.size, args.size, 3)).astype("float32")
    kernel_layers = sum(1 for layer in model.layers if hasattr(layer, "kernel"))

    t_forward = timed(lambda: forward(model, x), args.repeats)
    t_init = timed(
        synced(model, lambda: keras_glorot.initialize(model, seed=args.seed)), args.repeats
    )
    t_lsuv = timed(synced(model, lambda: keras_glorot.lsuv(model, x, seed=args.seed)), args.repeats)
    t_ortho = timed(lambda: orthonormal_draws(model, args.seed), args.repeats)
    per_layer = t_lsuv / t_forward / kernel_layers
    print(
        f"backend={keras.config.backend()} VGG16 input={args.size}x{args.size}x3 "
        f"batch={args.batch} params={model.count_params():,} kernel layers={kernel_layers} "
        f"repeats={args.repeats} (median after a warm-up run)\n"
    )
    print("| step | seconds | forward passes |")
    print("|---|---|---|")
    print(f"| one forward pass | {t_forward:.3f} | 1 |")
    print(f"| initialize() | {t_init:.3f} | {t_init / t_forward:.2f} |")
    print(f"| lsuv() | {t_lsuv:.3f} | {t_lsuv / t_forward:.2f} |")
    print(f"| of which orthonormal draws (QR) | {t_ortho:.3f} | {t_ortho / t_forward:.2f} |")
    print(f"\nlsuv: {per_layer:.3f} forward passes per kernel layer on average (target <= 3)")
    return {
        "forward": t_forward,
        "initialize": t_init,
        "lsuv": t_lsuv,
        "orthonormal": t_ortho,
        "per_layer": per_layer,
    }


if __name__ == "__main__":
    main()
