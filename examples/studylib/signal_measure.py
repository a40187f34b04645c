"""Deep plain MLPs and CNNs, initialized in several ways, and their measured signal.

The machinery of ``signal_propagation.py`` (which is the command line): builds the nets,
initializes them, measures them with ``keras_glorot.signal_report`` and renders the
results as Markdown tables and plots.
"""

from __future__ import annotations

import functools
import pathlib

import keras
import numpy as np

import keras_glorot
from keras_glorot import Glorot

from .cli_args import NAMED_INITS, named_initializer

LEAKY_SLOPE = 0.2  # keras.activations.leaky_relu's default slope.
ARTICLE_SLOPES = {"relu": 0.0, "leaky_relu": LEAKY_SLOPE}
# The activations the article gives a variance for.
ARTICLE_ACTIVATIONS = ("sigmoid", "tanh", *ARTICLE_SLOPES)


def article_initializer(activation: str, fan_in: int, fan_out: int, seed: int):
    """The variance of the web article "Neural Network Xavier Initialization" for one layer,
    as ``VarianceScaling``.

    The article gives Var(W) = 1 / (fan_in + fan_out) for sigmoid and tanh, and
    2 / ((1 + a^2) fan_in + fan_out) for leaky ReLU of slope a (a = 0: ReLU).
    ``VarianceScaling(scale, "fan_avg")`` draws Var = 2 scale / (fan_in + fan_out), so
    sigmoid and tanh take scale = 1/2 (half of Glorot's variance) and the rectifiers
    scale = (fan_in + fan_out) / ((1 + a^2) fan_in + fan_out); for ReLU that is 1, plain
    Glorot. docs/derivation.md shows why the rectifier formulas are wrong: the gain must
    multiply the whole Glorot variance, ``4 / ((1 + a^2)(fan_in + fan_out))``.
    """
    if activation in ("sigmoid", "tanh"):
        scale = 0.5
    elif activation in ARTICLE_SLOPES:
        a = ARTICLE_SLOPES[activation]
        scale = (fan_in + fan_out) / ((1 + a * a) * fan_in + fan_out)
    else:
        raise ValueError(
            f"activation={activation!r}: the article gives a variance only for "
            f"{', '.join(ARTICLE_ACTIVATIONS)}."
        )
    return keras.initializers.VarianceScaling(
        scale=scale, mode="fan_avg", distribution="truncated_normal", seed=seed
    )


def kernel_initializer(name: str, activation: str, fan_in: int, fan_out: int, seed: int):
    """The initializer for one layer; ``initialize``/``lsuv`` start from glorot_uniform."""
    if name in ("glorot_uniform", "he_normal", "lecun_normal"):
        return keras.initializers.get({"class_name": name, "config": {"seed": seed}})
    if name == "article":
        return article_initializer(activation, fan_in, fan_out, seed)
    if name == "glorot_gain":
        return Glorot(activation, negative_slope=LEAKY_SLOPE, seed=seed)
    if name in ("initialize", "lsuv"):
        return keras.initializers.GlorotUniform(seed=seed)
    if name in NAMED_INITS:  # Keras' other names; keras_glorot's, with the slope 0.2
        return named_initializer(name, seed, LEAKY_SLOPE)
    raise ValueError(
        f"init={name!r} is not one of article, glorot_gain, initialize, lsuv or a name of "
        f"Keras or keras_glorot: {', '.join(NAMED_INITS)}."
    )


def build_model(
    arch: str, activation: str, init: str, depth: int, width: int, input_shape, seed: int = 0
):
    """A plain deep MLP or CNN: ``depth`` kernel layers, each with ``activation``.

    Layer ``i`` is drawn with seed ``1000 (seed + 1) + i``: the same draws for
    initializers of the same distribution, other draws for another ``seed``.
    """
    layers = [keras.Input(input_shape)]
    fan_in = int(np.prod(input_shape)) if arch == "mlp" else 9 * input_shape[-1]
    if arch == "mlp":
        layers.append(keras.layers.Flatten())
    for i in range(depth):
        fan_out = width if arch == "mlp" else 9 * width
        kernel = kernel_initializer(init, activation, fan_in, fan_out, 1000 * (seed + 1) + i)
        if arch == "mlp":
            layer = keras.layers.Dense(width, activation, kernel_initializer=kernel)
        else:
            layer = keras.layers.Conv2D(
                width, 3, padding="same", activation=activation, kernel_initializer=kernel
            )
        layers.append(layer)
        fan_in = fan_out
    return keras.Sequential(layers)


@functools.cache
def _cifar_images(npz: str, batch: int) -> np.ndarray:
    with np.load(npz) as data:
        return data["x_train"][:batch]


def load_batch(npz: str | None, arch: str, batch: int, width: int, seed: int) -> np.ndarray:
    """Standardized CIFAR-10 training images from ``npz``, or N(0, 1) noise."""
    if npz:
        x = _cifar_images(npz, batch).astype("float32") / 255.0
        x = (x - x.mean(axis=(0, 1, 2))) / x.std(axis=(0, 1, 2))
        return x
    shape = (batch, width) if arch == "mlp" else (batch, 32, 32, 3)
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def measure(arch, activation, init, x, depth, width, seed):
    """The ``SignalReport`` of one freshly built and initialized model."""
    model = build_model(arch, activation, init, depth, width, x.shape[1:], seed)
    if init == "initialize":
        keras_glorot.initialize(model, seed=seed)
    elif init == "lsuv":
        keras_glorot.lsuv(model, x, seed=seed)
    report = keras_glorot.signal_report(model, x)
    kernels = [i for i, g in enumerate(report.gradient_std) if g is not None]
    # Only the kernel layers' outputs (a Flatten in front is not a layer of depth).
    return keras_glorot.SignalReport(
        layers=[report.layers[i] for i in kernels],
        activation_mean=[report.activation_mean[i] for i in kernels],
        activation_std=[report.activation_std[i] for i in kernels],
        gradient_std=[report.gradient_std[i] for i in kernels],
        loss=report.loss,
    )


def cell(reports: list, key: str) -> str:
    """One seed: the ratio. Several: the median and [min, max] over seeds."""
    values = [getattr(r, key) for r in reports]
    if len(values) == 1:
        return f"{values[0]:.3g}"
    return f"{np.median(values):.3g} [{min(values):.2g}, {max(values):.2g}]"


def markdown_table(results: dict, arch: str, activations, inits, key: str) -> str:
    lines = ["| activation | " + " | ".join(inits) + " |", "|---|" + "---|" * len(inits)]
    for act in activations:
        cells = []
        for init in inits:
            reps = results.get((arch, act, init))
            cells.append("n/a" if reps is None else cell(reps, key))
        lines.append(f"| {act} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict, arch: str, activation: str, inits, path: pathlib.Path) -> None:
    """Activation std and kernel-gradient std against depth, one line per initializer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), dpi=80)
    for init in inits:
        reps = results.get((arch, activation, init))
        if reps is None:
            continue
        rep = reps[0]
        depth = np.arange(1, len(rep.layers) + 1)
        axes[0].semilogy(depth, np.maximum(rep.activation_std, 1e-30), label=init)
        axes[1].semilogy(depth, np.maximum(rep.gradient_std, 1e-30), label=init)
    for ax, what in zip(axes, ("activation std", "kernel gradient std"), strict=True):
        ax.set_title(f"{arch}, {activation}: {what}", fontsize=9)
        ax.set_xlabel("layer")
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
