"""Signal propagation through a deep leaky-ReLU MLP: Keras' glorot_uniform vs glorot_leaky.

Prints the standard deviation of each layer's activations on a batch of random
inputs. With glorot_uniform the variance halves (roughly) at every leaky-ReLU
layer; with glorot_leaky it stays near its input value.
"""

from __future__ import annotations

import argparse

import keras
import numpy as np

import keras_glorot  # noqa: F401  (registers "glorot_leaky")


def build_mlp(depth: int, width: int, initializer: str, seed: int) -> keras.Model:
    inputs = keras.Input((width,))
    x = inputs
    for i in range(depth):
        init = keras.initializers.get({"class_name": initializer, "config": {"seed": seed + i}})
        x = keras.layers.Dense(width, activation="leaky_relu", kernel_initializer=init)(x)
    return keras.Model(inputs, x)


def layer_stds(model: keras.Model, x: np.ndarray) -> list[float]:
    outputs = [layer.output for layer in model.layers[1:]]
    probe = keras.Model(model.inputs, outputs)
    return [float(np.std(keras.ops.convert_to_numpy(y))) for y in probe(x)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--depth", type=int, default=30)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--inits",
        nargs="+",
        default=["glorot_uniform", "glorot_leaky"],
        help="initializer names to compare",
    )
    args = parser.parse_args(argv)

    x = np.random.default_rng(args.seed).standard_normal((args.batch, args.width))
    x = x.astype("float32")
    stds = {
        name: layer_stds(build_mlp(args.depth, args.width, name, args.seed), x)
        for name in args.inits
    }
    print(
        f"backend={keras.config.backend()} depth={args.depth} width={args.width} "
        f"activation=leaky_relu(0.2) input std={x.std():.3f}"
    )
    print("| layer | " + " | ".join(args.inits) + " |")
    print("|---|" + "---|" * len(args.inits))
    for i in range(args.depth):
        print(f"| {i + 1} | " + " | ".join(f"{stds[n][i]:.3g}" for n in args.inits) + " |")


if __name__ == "__main__":
    main()
