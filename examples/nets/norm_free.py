"""The deep nets without normalization of ``depth.py`` and ``norm_free_resnet.py``, and
how they are initialized and measured.

- ``resnet``: CIFAR's ResNets (He et al. 2016, §4.2: a 3x3 stem, 3 stages of
  (depth - 2) / 6 blocks, two 3x3 convs per block, identity shortcuts and strided 1x1
  projections at stage changes) with no normalization layer.
- ``plain_cnn``: a plain stack of ``depth`` 3x3 convolutions of one width, no shortcut,
  no normalization: a strided stem to 16x16, a second stride 2 halfway (8x8), then global
  average pooling and a Dense head (the CIFAR nets of Xiao et al. 2018, shortened).

Their initializers (``apply_init``): Keras' names draw every kernel with that initializer
(one seed per layer); the residual policies ``none``, ``scaled``, ``fixup`` and ``zero``
are ``keras_glorot.initialize(model, residual=...)`` (``none``: residual=None);
``fixup_reference`` is Fixup as Zhang et al. publish it (hongyi-zhang/Fixup): He's
fan-out normal base draw (``initialize(mode="fan_out", distribution=
"untruncated_normal", residual="fixup")``) and the classifier's kernel zero as well;
``glorot_gain_untruncated`` is ``keras_glorot.Glorot(activation, distribution=
"untruncated_normal")`` on every conv and ``delta_orthogonal`` is
``keras_glorot.DeltaOrthogonal(activation)`` (``delta_orthogonal_gain1``: with gain 1,
``DeltaOrthogonal("linear")``), all with the linear Gaussian Glorot draw on the Dense
head.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from studylib.cli_args import NAMED_INITS, named_initializer

if TYPE_CHECKING:
    import keras
    import numpy as np

NUM_CLASSES = 10
LEAKY_SLOPE = 0.2  # keras.activations.leaky_relu's default slope
# Keras' initializer names and keras_glorot's registered ones (studylib.cli_args).
KERAS_INITS = NAMED_INITS
POLICIES = ("none", "scaled", "fixup", "zero")


def split_net(net: str) -> tuple[str, int]:
    """``"resnet56"`` -> ``("resnet", 56)``; ValueError for a name that is neither a
    CIFAR ResNet (6 n + 2 layers) nor a plain CNN of 3 or more layers."""
    match = re.fullmatch(r"(resnet|plain)(\d+)", net)
    depth = int(match.group(2)) if match else 0
    if match and match.group(1) == "resnet" and depth >= 8 and (depth - 2) % 6 == 0:
        return "resnet", depth
    if match and match.group(1) == "plain" and depth >= 3:
        return "plain", depth
    raise ValueError(
        f"--nets {net}: use resnetN with N = 6 n + 2 >= 8 (resnet20, resnet56, resnet110) "
        "or plainN with N >= 3 (plain32)."
    )


def _input(size: int, mean, std):
    import keras
    import numpy as np

    inputs = keras.Input((size, size, 3), name="pixels")
    if mean is None:
        return inputs, inputs
    norm = keras.layers.Normalization(mean=mean, variance=np.square(std), name="normalize")
    return inputs, norm(inputs)


def resnet(
    depth: int,
    order: str = "post",
    ops: bool = False,
    widths=(16, 32, 64),
    size: int = 32,
    mean=None,
    std=None,
) -> keras.Model:
    """A norm-free CIFAR ResNet of ``depth`` = 6 n + 2 layers.

    ``order="post"`` puts the ReLU after the add (v1), ``"pre"`` before each conv (v2);
    ``ops`` adds with ``x + y`` instead of an ``Add`` layer; ``mean``/``std`` (per
    channel) put a ``Normalization`` layer on the raw pixels.
    """
    import keras

    n = (depth - 2) // 6
    inputs, x = _input(size, mean, std)
    x = keras.layers.Conv2D(widths[0], 3, padding="same", name="stem")(x)
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
    head = keras.layers.Dense(NUM_CLASSES, dtype="float32", name="head")(x)
    return keras.Model(inputs, head, name=f"resnet{depth}")


def activation_layer(activation: str, name: str) -> keras.layers.Layer:
    import keras

    if activation == "leaky_relu":
        return keras.layers.LeakyReLU(LEAKY_SLOPE, name=name)
    return keras.layers.Activation(activation, name=name)


def plain_cnn(
    depth: int, activation: str, width: int = 32, size: int = 32, mean=None, std=None
) -> keras.Model:
    """``depth`` 3x3 convolutions of ``width`` channels with ``activation`` after each."""
    import keras

    inputs, x = _input(size, mean, std)
    for i in range(depth):
        stride = 2 if i in (0, depth // 2) else 1
        x = keras.layers.Conv2D(width, 3, strides=stride, padding="same", name=f"conv{i}")(x)
        x = activation_layer(activation, f"act{i}")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    head = keras.layers.Dense(NUM_CLASSES, dtype="float32", name="head")(x)
    return keras.Model(inputs, head, name=f"plain{depth}_{activation}")


def _kernel_layers(model: keras.Model) -> list[keras.layers.Layer]:

    return [layer for layer in model.layers if getattr(layer, "kernel", None) is not None]


def apply_init(model: keras.Model, init: str, seed: int, activation: str = "relu") -> None:
    """Initialize ``model``'s kernels in place by ``init`` (see the module docstring)."""
    import keras

    import keras_glorot

    if init in POLICIES:
        keras_glorot.initialize(model, seed=seed, residual=None if init == "none" else init)
        return
    if init == "fixup_reference":
        keras_glorot.initialize(
            model, seed=seed, mode="fan_out", distribution="untruncated_normal", residual="fixup"
        )
        head = model.get_layer("head")
        head.kernel.assign(keras.ops.zeros(head.kernel.shape, head.kernel.dtype))
        return
    for index, layer in enumerate(_kernel_layers(model)):
        # One seed per layer: a seeded initializer repeats its draw.
        layer_seed = seed * 10_000 + index
        if init in KERAS_INITS:  # keras_glorot's leaky names with leaky_relu's slope
            draw = named_initializer(init, layer_seed, LEAKY_SLOPE)
        elif init.startswith("delta_orthogonal") and isinstance(layer, keras.layers.Conv2D):
            draw = keras_glorot.DeltaOrthogonal(
                "linear" if init == "delta_orthogonal_gain1" else activation,
                negative_slope=LEAKY_SLOPE,
                seed=layer_seed,
            )
        else:
            gain_of = activation if isinstance(layer, keras.layers.Conv2D) else "linear"
            draw = keras_glorot.Glorot(
                gain_of,
                negative_slope=LEAKY_SLOPE,
                distribution="untruncated_normal",
                seed=layer_seed,
            )
        layer.kernel.assign(draw(tuple(layer.kernel.shape), dtype=layer.kernel.dtype))


def residual_sum_stds(model: keras.Model, x) -> np.ndarray:
    """The std of every residual merge's output on the batch ``x``, in graph order."""
    import keras
    import numpy as np

    from keras_glorot.whole_model.graph import Graph, outputs_of
    from keras_glorot.whole_model.residual import find_merges

    sums = [outputs_of(m.op)[0] for m in find_merges(Graph(model))]
    values = keras.Model(model.inputs[0], sums)(x)
    return np.array([float(np.std(keras.ops.convert_to_numpy(v))) for v in values])


def conv_output_stds(model: keras.Model, x) -> np.ndarray:
    """The std of every Conv2D's output (pre-activation) on the batch ``x``."""
    import keras
    import numpy as np

    convs = [layer.output for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    values = keras.Model(model.inputs[0], convs)(x)
    return np.array([float(np.std(keras.ops.convert_to_numpy(v))) for v in values])


def signal_at_init(model: keras.Model, x) -> dict[str, float]:
    """How the signal of the batch ``x`` (raw pixels) crosses the initialized model.

    For a ResNet, the std of the last residual sum and the largest one over the first
    sum's; for a plain net, the last conv's output std over the first conv's, and the
    spread of the squared singular values of the Jacobian from the pixels to the last
    activation (``keras_glorot.jacobian_spectrum``, 16 probes; 0 for an isometry). Both
    with the logits' std.
    """
    import keras
    import numpy as np

    import keras_glorot

    logits_std = float(np.std(keras.ops.convert_to_numpy(model(x))))
    if any(isinstance(layer, keras.layers.Add) for layer in model.layers):
        stds = residual_sum_stds(model, x)
        return {
            "sum_last_over_first": float(stds[-1] / stds[0]),
            "sum_max_over_first": float(stds.max() / stds[0]),
            "logits_std": logits_std,
        }
    stds = conv_output_stds(model, x)
    features = keras.Model(model.inputs[0], model.layers[-3].output)  # before pooling
    spectrum = keras_glorot.jacobian_spectrum(features, x[:4], probes=16, seed=0)
    return {
        "conv_last_over_first": float(stds[-1] / stds[0]),
        "jacobian_spread": float(spectrum.spread),
        "logits_std": logits_std,
    }


def build_net(options, init: str, seed: int, mean=None, std=None) -> keras.Model:
    """The net of ``options`` (``net``: resnetN or plainN, ``activation``), initialized."""

    family, depth = split_net(options["net"])  # checked by depth.py
    if family == "resnet":
        model = resnet(depth, mean=mean, std=std)
    else:
        model = plain_cnn(depth, options["activation"], mean=mean, std=std)
    apply_init(model, init, seed, options["activation"])
    return model
