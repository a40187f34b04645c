"""The zoo's nets (``ZOO``, trained by ``zoo.py``): each with its recipe and its one
alternative start.

Each net is built with the Keras layers' own default
initializers (every random draw seeded by ``keras.utils.set_random_seed(seed)``), and then
started one of three ways (``start``):

- ``keras``: left as built, Keras' (or the net's library's) defaults untouched;
- ``initialize``: ``keras_glorot.initialize(model, seed=seed)`` with its defaults;
- the net's one alternative (``Net.alternative``, the reason in ``Net.why``), one of
  ``ALTERNATIVES``:

  - ``he_normal``: every kernel (and depthwise kernel) redrawn with Keras' ``he_normal``
    on its shape, as a user writing ``kernel_initializer="he_normal"`` gets (He et al.
    2015, Var = 2 / fan_in);
  - ``lsuv``: ``keras_glorot.lsuv(model, x)`` on 256 training images (Mishkin & Matas
    2016);
  - ``fixup_reference``: Fixup as Zhang et al. (2019) publish it (see ``apply_init``);
  - ``torch_default``: what the same net gets in PyTorch: ``nn.LSTM``/``nn.GRU`` draw every
    weight and bias from U(-1/sqrt(units), 1/sqrt(units)), ``nn.Linear`` its weight and
    bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (torch/nn/modules/rnn.py, linear.py);
  - ``normal_0.02``: every Dense and attention kernel from N(0, 0.02²), the ViT/BERT
    convention (timm's ``init_weights_vit_timm``: ``trunc_normal_(std=0.02)``, whose
    bounds are the absolute -2 and 2, 100 std out, so in effect untruncated);
  - ``gpt2_scaled``: GPT-2's own scheme (Radford et al. 2019, §2.3; nanoGPT): the
    backbone's N(0, 0.02²), with each residual output projection scaled by 1/sqrt(2 L)
    for L decoder layers, which KerasHub's ``GPT2Backbone`` does not do.
"""

from __future__ import annotations

import argparse
import dataclasses

from .norm_free import LEAKY_SLOPE, NUM_CLASSES, apply_init, plain_cnn, resnet


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a zoo net is trained: the optimizer (``training.make_optimizer``: SGD with
    Nesterov momentum or AdamW, ``cosine`` = one epoch's linear warm-up then cosine to 0),
    its peak rate, the batch, the epochs, the number of training and test examples (the
    first N of CIFAR-10's; for text, windows spread evenly over each split), the
    augmentation (pad 4, random crop, horizontal flip) and, where set, the momentum of the
    batch norms' moving averages (``bn_momentum``; unset, the layers' own)."""

    optimizer: str
    lr: float
    batch_size: int
    epochs: int
    train: int
    test: int
    augment: bool = False
    weight_decay: float = 5e-4
    momentum: float = 0.9
    schedule: str = "cosine"
    bn_momentum: float | None = None

    def describe(self) -> str:
        aug = ", augmented" if self.augment else ""
        if self.bn_momentum is not None:
            aug += f", BN momentum {self.bn_momentum:g}"
        wd = f", wd {self.weight_decay:g}" if self.weight_decay else ""
        plural = "s" if self.epochs != 1 else ""
        return (
            f"{self.optimizer.upper()} {self.lr:g} {self.schedule}{wd}, batch "
            f"{self.batch_size}, {self.epochs} epoch{plural} of {self.train:,}{aug}"
        )


@dataclasses.dataclass(frozen=True)
class Net:
    """One zoo net: how it is built (``build``, a function of this module), its recipe,
    its one alternative start and why that one."""

    name: str
    title: str
    build: str
    recipe: Recipe
    alternative: str
    why: str
    data: str = "cifar10"  # or "kjv": the King James Bible, bytes
    layers: int = 4  # a transformer's blocks (the ViT and the GPT-2 decoder)


STARTS = ("keras", "initialize")
# Starts run on request, each initialize() with one option changed, to see net by net what
# that option does: the variance over fan_in alone (He's convention) instead of Glorot's
# fan average; the uniform distribution (the shape of Keras' glorot_uniform) instead of
# the truncated normal.
FAN_IN = "initialize_fan_in"
UNIFORM = "initialize_uniform"
# And the kernels whose layers were given another initializer than their default kept as
# built (initialize's explicit="keep"), instead of redrawn.
KEEP = "initialize_keep"
VARIANTS = {
    FAN_IN: {"mode": "fan_in"},
    UNIFORM: {"distribution": "uniform"},
    KEEP: {"explicit": "keep"},
}
# And Keras' own start drawn again: every kernel (and depthwise kernel) redrawn by the
# initializer its layer holds, with a fresh seed: a control for the draws themselves.
REDRAWN = "keras_redrawn"
# And, in a KerasHub transformer, one of the things initialize() changes alone, on top of
# Keras' start: initialize()'s draws for that group of kernels, the build's draws for every
# other weight (``ONLY``: the group, by the paths KerasHub gives its variables); or
# initialize() without it: its draws everywhere but in that group (``WITHOUT``).
ONLY_FANS = "only_true_fans"
ONLY_GAIN = "only_gelu_gain"
ONLY_RESIDUAL = "only_residual_scale"
GROUP_PATHS = {
    # the patch embedding: a 4x4 kernel at stride 4 reads each pixel once (true fans)
    "fans": ("patch_embedding/kernel",),
    # the MLP's first kernel, which GELU follows (its gain)
    "gain": ("mlp/dense_1/kernel", "feedforward_intermediate_dense/kernel"),
    # the kernels that write into the residual stream (1/sqrt(2 L))
    "residual": ("attention_output/kernel", "mlp/dense_2/kernel",
                 "feedforward_output_dense/kernel"),
    # the kernels that read a normalized stream: query, key, value and the MLP's first
    "qkv_ffin": ("query/kernel", "key/kernel", "value/kernel",
                 "feedforward_intermediate_dense/kernel"),
    # the two whose product sets the attention logits
    "qk": ("query/kernel", "key/kernel"),
}  # fmt: skip
ONLY = {ONLY_FANS: GROUP_PATHS["fans"], ONLY_GAIN: GROUP_PATHS["gain"],
        ONLY_RESIDUAL: GROUP_PATHS["residual"]}  # fmt: skip
WITHOUT_FANS = "initialize_without_true_fans"
WITHOUT_GAIN = "initialize_without_gelu_gain"
WITHOUT_RESIDUAL = "initialize_without_residual_scale"
WITHOUT_QKV_FFIN = "initialize_without_qkv_ffin"
WITHOUT_QK = "initialize_without_qk"
# And initialize() with GPT-2's residual output projections (the build's N(0, 0.02²) times
# 1/sqrt(2 L)) in place of its own (Glorot's scale for their fans times the same factor).
GPT2_RESIDUAL = "initialize_gpt2_residual"
WITHOUT = {WITHOUT_FANS: GROUP_PATHS["fans"], WITHOUT_GAIN: GROUP_PATHS["gain"],
           WITHOUT_RESIDUAL: GROUP_PATHS["residual"],
           WITHOUT_QKV_FFIN: GROUP_PATHS["qkv_ffin"], WITHOUT_QK: GROUP_PATHS["qk"]}  # fmt: skip
# Their --starts names (zoo.py) and how the report labels them, in report order.
ON_REQUEST = {
    "fan_in": FAN_IN, "uniform": UNIFORM, "keep": KEEP, "redrawn": REDRAWN,
    "only_fans": ONLY_FANS, "only_gain": ONLY_GAIN, "only_residual": ONLY_RESIDUAL,
    "without_fans": WITHOUT_FANS, "without_gain": WITHOUT_GAIN,
    "without_residual": WITHOUT_RESIDUAL, "without_qkv_ffin": WITHOUT_QKV_FFIN,
    "without_qk": WITHOUT_QK, "gpt2_residual": GPT2_RESIDUAL,
}  # fmt: skip
LABELS = {
    FAN_IN: 'mode="fan_in"',
    UNIFORM: 'distribution="uniform"',
    KEEP: 'explicit="keep"',
    REDRAWN: "Keras' own, redrawn",
    ONLY_FANS: "Keras' + the patch embedding's true fans only",
    ONLY_GAIN: "Keras' + GELU's gain only",
    ONLY_RESIDUAL: "Keras' + 1/√(2L) on the residual outputs only",
    WITHOUT_FANS: "initialize() but Keras' patch embedding",
    WITHOUT_GAIN: "initialize() but Keras' MLP first kernels",
    WITHOUT_RESIDUAL: "initialize() but Keras' residual outputs",
    WITHOUT_QKV_FFIN: "initialize() but Keras' Q/K/V and MLP first kernels",
    WITHOUT_QK: "initialize() but Keras' Q/K kernels",
    GPT2_RESIDUAL: "initialize() but GPT-2's residual outputs",
}
ALTERNATIVES = (
    "he_normal", "lsuv", "fixup_reference", "torch_default", "normal_0.02", "gpt2_scaled",
)  # fmt: skip
SGD, ADAM = "sgd", "adam"
RECTIFIER = "the rectifier's own rule, what most users reach for (He et al. 2015)"
TRANSFORMER = "the ViT/BERT convention every transformer recipe uses (timm)"
GPT2_SCALED = "GPT-2's own residual scaling, which KerasHub's backbone leaves out"
VIT_RECIPE = Recipe(ADAM, 1e-3, 128, 8, 15_000, 5_000, augment=True, weight_decay=0.05)
GPT_RECIPE = Recipe(ADAM, 1e-3, 64, 3, 8_000, 1_000, weight_decay=0.01)
KERAS_IO_RECIPE = Recipe(ADAM, 1e-3, 128, 8, 10_000, 5_000, augment=True, weight_decay=1e-4)

ZOO = {
    net.name: net
    for net in (
        Net("mlp3", "MLP, 3 hidden ReLU layers", "mlp3",
            Recipe(SGD, 0.05, 128, 8, 50_000, 5_000), "he_normal", RECTIFIER),
        Net("cnn5", "the article's 5-layer ReLU CNN", "cnn5",
            Recipe(SGD, 0.05, 128, 8, 15_000, 5_000), "he_normal", RECTIFIER),
        Net("plain30", "plain 30-layer ReLU CNN, no normalization", "plain30",
            Recipe(SGD, 0.005, 128, 10, 10_000, 5_000), "lsuv",
            "the data-driven start made for deep plain nets (Mishkin & Matas 2016)"),
        Net("vgg16", "VGG-16 without BN, width 1/4", "vgg16",
            Recipe(SGD, 0.02, 128, 8, 15_000, 5_000, augment=True), "he_normal", RECTIFIER),
        Net("vgg11_bn", "VGG-11 with BN, width 1/4", "vgg11_bn",
            Recipe(SGD, 0.05, 128, 8, 20_000, 5_000, augment=True), "he_normal", RECTIFIER),
        Net("resnet20_bn", "ResNet-20 with BN", "resnet20_bn",
            Recipe(SGD, 0.1, 128, 6, 8_000, 5_000, augment=True), "he_normal",
            "the ResNet paper's own start (He et al. 2016)"),
        Net("resnet56", "ResNet-56 without normalization", "resnet56",
            Recipe(SGD, 0.05, 128, 5, 6_000, 5_000, augment=True), "fixup_reference",
            "Fixup as published, the method made for norm-free ResNets (Zhang et al. 2019)"),
        Net("resnet110", "ResNet-110 without normalization", "resnet110",
            Recipe(SGD, 0.05, 128, 5, 4_000, 5_000, augment=True), "fixup_reference",
            "Fixup as published, the method made for norm-free ResNets (Zhang et al. 2019)"),
        Net("mobilenetv2", "MobileNetV2 (keras.applications, alpha 0.5)", "mobilenetv2",
            Recipe(SGD, 0.01, 128, 8, 15_000, 5_000, augment=True, bn_momentum=0.9),
            "he_normal", RECTIFIER),
        Net("lstm2", "2-layer LSTM, sequential CIFAR-10", "lstm2",
            Recipe(ADAM, 2e-3, 128, 8, 50_000, 5_000, weight_decay=0.0), "torch_default",
            "what the same net gets in PyTorch, where many recurrent recipes come from"),
        Net("gru2", "2-layer GRU, sequential CIFAR-10", "gru2",
            Recipe(ADAM, 2e-3, 128, 8, 50_000, 5_000, weight_decay=0.0), "torch_default",
            "what the same net gets in PyTorch, where many recurrent recipes come from"),
        Net("vit", "ViT (KerasHub), 4 layers, dim 128, patch 4", "vit", VIT_RECIPE,
            "normal_0.02", TRANSFORMER),
        Net("gpt", "GPT-2 decoder (KerasHub), 4 layers, dim 128, bytes", "gpt",
            GPT_RECIPE, "gpt2_scaled", GPT2_SCALED, data="kjv"),
        # Deeper, and longer: the transformer rows again at 8 and 12 blocks, and the
        # decoder on a schedule three times as long.
        Net("vit8", "ViT (KerasHub), 8 layers, dim 128, patch 4", "vit", VIT_RECIPE,
            "normal_0.02", TRANSFORMER, layers=8),
        Net("gpt12", "GPT-2 decoder (KerasHub), 12 layers, dim 128, bytes", "gpt",
            GPT_RECIPE, "gpt2_scaled", GPT2_SCALED, data="kjv", layers=12),
        Net("gpt_long", "GPT-2 decoder (KerasHub), 4 layers, 3x the schedule", "gpt",
            dataclasses.replace(GPT_RECIPE, epochs=3 * GPT_RECIPE.epochs), "gpt2_scaled",
            GPT2_SCALED, data="kjv"),
        # Code nobody here wrote: the official Keras examples (nets.keras_io), each at a
        # size for two CPU cores, by the examples' own optimizer (AdamW 1e-3, wd 1e-4).
        Net("kio_convmixer", "ConvMixer (Keras example), 8 blocks, width 24",
            "keras_io.convmixer_cifar", KERAS_IO_RECIPE, "he_normal", RECTIFIER),
        Net("kio_cct", "CCT (Keras example), 2 layers, he_normal tokenizer",
            "keras_io.cct_cifar", KERAS_IO_RECIPE, "normal_0.02", TRANSFORMER),
        Net("kio_mlp_mixer", "MLP-Mixer (Keras example), 4 blocks, dim 32",
            "keras_io.mlp_mixer_cifar", KERAS_IO_RECIPE, "normal_0.02", TRANSFORMER),
        Net("kio_perceiver", "Perceiver (Keras example), 2 iterations, latent 16",
            "keras_io.perceiver_cifar", KERAS_IO_RECIPE, "normal_0.02", TRANSFORMER),
    )
}  # fmt: skip


# The zoo's tables, each written to its own --out: the kinds of net users build (zoo.py's
# default), the transformers deeper and the decoder longer, and the Keras examples.
_DEEPER = ("vit8", "gpt12", "gpt_long")
_KERAS_IO = tuple(name for name in ZOO if name.startswith("kio_"))
GROUPS = {
    "zoo": tuple(name for name in ZOO if name not in (*_DEEPER, *_KERAS_IO)),
    "depth": _DEEPER,
    "keras_io": _KERAS_IO,
}


def starts_of(net: Net) -> tuple[str, ...]:
    """The three starts of a zoo net, in report order."""
    return (*STARTS, net.alternative)


def _pixels(mean, std, augment: bool = False, seed: int = 0):
    """The image input: raw 0..255 pixels, augmentation when asked, per-channel norm."""
    import keras
    import numpy as np

    from .augment import PadCropFlip

    inputs = keras.Input((32, 32, 3), name="pixels")
    x = PadCropFlip(seed=seed, name="augment")(inputs) if augment else inputs
    norm = keras.layers.Normalization(mean=mean, variance=np.square(std), name="normalize")
    return inputs, norm(x)


def _logits(x):
    import keras

    return keras.layers.Dense(NUM_CLASSES, dtype="float32", name="logits")(x)


def mlp3(inputs, x):
    """Flatten, Dense 512-256-128 with ReLU, Dense 10 (the article's MLP)."""
    import keras

    x = keras.layers.Flatten()(x)
    for units in (512, 256, 128):
        x = keras.layers.Dense(units, activation="relu")(x)
    return keras.Model(inputs, _logits(x), name="mlp3")


def cnn5(inputs, x):
    """Conv 32-32, max-pool, Conv 64-64, max-pool, Dense 10: 3x3 'same', ReLU."""
    import keras

    for item in (32, 32, "M", 64, 64, "M"):
        if item == "M":
            x = keras.layers.MaxPooling2D(2)(x)
        else:
            x = keras.layers.Conv2D(item, 3, padding="same", activation="relu")(x)
    return keras.Model(inputs, _logits(keras.layers.Flatten()(x)), name="cnn5")


def resnet20_bn(inputs, x, depth: int = 20):
    """CIFAR's ResNet v1 (He et al. 2016, §4.2) with batch normalization after every conv
    and projection shortcuts (1x1 conv + BN) where the shape changes."""
    import keras

    layers = keras.layers

    def conv_bn(h, width, kernel, stride, name):
        h = layers.Conv2D(width, kernel, stride, padding="same", use_bias=False, name=name)(h)
        return layers.BatchNormalization(name=f"{name}_bn")(h)

    x = layers.ReLU(name="stem_relu")(conv_bn(x, 16, 3, 1, "stem"))
    k = 0
    for stage, width in enumerate((16, 32, 64)):
        for block in range((depth - 2) // 6):
            stride = 2 if stage and not block else 1
            h = layers.ReLU(name=f"b{k}_relu")(conv_bn(x, width, 3, stride, f"b{k}_a"))
            h = conv_bn(h, width, 3, 1, f"b{k}_b")
            if stride != 1:
                x = conv_bn(x, width, 1, stride, f"b{k}_proj")
            x = layers.ReLU(name=f"b{k}_out")(layers.Add(name=f"b{k}_add")([x, h]))
            k += 1
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, _logits(x), name=f"resnet{depth}_bn")


def mobilenetv2(inputs, x, bn_momentum: float | None = None):
    """``keras.applications.MobileNetV2(alpha=0.5, weights=None)`` on the normalized
    32x32 image (its own layers, ReLU6 and batch norm), logits out.

    ``bn_momentum`` replaces the application's 0.999 in its batch norms' moving averages,
    which is made for ImageNet's hundreds of thousands of steps: after the zoo recipe's ~940
    steps, 0.999 leaves 0.999**940 = 39% of the initial (0, 1) statistics in them, and every
    start then tested at chance (10%) while training at 33-39%."""
    import keras

    app = keras.applications.MobileNetV2(
        input_tensor=x, alpha=0.5, weights=None, classes=NUM_CLASSES,
        classifier_activation=None,
    )  # fmt: skip
    for layer in app.layers:
        if bn_momentum is not None and isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = bn_momentum
    return keras.Model(inputs, app.output, name="mobilenetv2")


def recurrent(inputs, x, cell: str):
    """Sequential CIFAR-10: each image read as 32 rows of 96 values, two recurrent layers
    of 128 units, Dense 10 on the last state."""
    import keras

    layer = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cell]
    x = keras.layers.Reshape((32, 32 * 3))(x)
    x = layer(128, return_sequences=True, name=f"{cell}_1")(x)
    x = layer(128, name=f"{cell}_2")(x)
    return keras.Model(inputs, _logits(x), name=f"{cell}2")


def vit(inputs, x, layers: int = 4):
    """KerasHub's ``ViTBackbone`` (pre-norm encoder, class token) on 4x4 patches of the
    32x32 image: ``layers`` layers, width 128, 4 heads, MLP 256; Dense 10 on the class
    token."""
    import keras
    import keras_hub

    backbone = keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3), patch_size=4, num_layers=layers, num_heads=4,
        hidden_dim=128, mlp_dim=256,
    )  # fmt: skip
    tokens = backbone(x)
    return keras.Model(inputs, _logits(tokens[:, 0, :]), name="vit")


def gpt(layers: int = 4):
    """KerasHub's ``GPT2Backbone`` over bytes (256 symbols): ``layers`` layers, width 128, 4 heads,
    feed-forward 512, no dropout; the logits are the tied token embedding read backwards,
    as GPT-2's LM head."""
    import keras
    import keras_hub
    from studylib.kjv_data import SEQUENCE_LENGTH

    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=256, num_layers=layers, num_heads=4, hidden_dim=128,
        intermediate_dim=512, dropout=0.0, max_sequence_length=SEQUENCE_LENGTH,
    )  # fmt: skip
    tokens = keras.Input((SEQUENCE_LENGTH,), dtype="int32", name="bytes")
    hidden = backbone({"token_ids": tokens, "padding_mask": keras.ops.ones_like(tokens)})
    logits = backbone.token_embedding(hidden, reverse=True)
    logits = keras.layers.Activation("linear", dtype="float32", name="logits")(logits)
    return keras.Model(tokens, logits, name="gpt")


def build_zoo_net(net: Net, mean=None, std=None, seed: int = 0):
    """``net`` with Keras' (or KerasHub's) default initializers, not compiled. The
    caller seeds Keras' global generator first (``keras.utils.set_random_seed``)."""
    from . import vgg

    if net.build == "gpt":
        return gpt(net.layers)
    inputs, x = _pixels(mean, std, net.recipe.augment, seed)
    if net.build.startswith("keras_io."):
        from .keras_io import CIFAR

        return CIFAR[net.build.removeprefix("keras_io.")](inputs, x)
    if net.build in ("vgg16", "vgg11_bn"):
        options = argparse.Namespace(
            model=net.build[:5], width=0.25, batch_norm=net.build.endswith("_bn"),
            augment=net.recipe.augment, activation="relu", negative_slope=LEAKY_SLOPE,
            dropout=0.3,
        )  # fmt: skip
        # nets.vgg adds its own augmentation and normalization: give it the raw pixels.
        return vgg.build_model(options, "glorot_uniform", seed, mean, std)
    if net.build in ("resnet56", "resnet110"):
        return resnet(int(net.build[6:]), mean=mean, std=std)
    if net.build == "plain30":
        return plain_cnn(30, "relu", mean=mean, std=std)
    if net.build == "vit":
        return vit(inputs, x, net.layers)
    if net.build in ("lstm2", "gru2"):
        return recurrent(inputs, x, net.build[:-1])
    if net.build == "mobilenetv2":
        return mobilenetv2(inputs, x, net.recipe.bn_momentum)
    return globals()[net.build](inputs, x)


def _redraw(model, pick, make, seed: int) -> int:
    """Redraw every variable ``pick(variable)`` chooses with ``make(variable, seed)``;
    returns how many."""
    count = 0
    for index, variable in enumerate(model.weights):
        if pick(variable):
            draw = make(variable, seed * 10_000 + index)
            variable.assign(draw(tuple(variable.shape), dtype=variable.dtype))
            count += 1
    return count


def _uniform(bound: float, seed: int):
    import keras

    return keras.initializers.RandomUniform(-bound, bound, seed=seed)


def _torch_default(model, seed: int) -> None:
    """PyTorch's defaults for the recurrent nets' layers (see the module docstring)."""
    import keras

    for index, layer in enumerate(model.layers):
        layer_seed = seed * 10_000 + 10 * index
        if isinstance(layer, keras.layers.RNN):
            cell, bound = layer.cell, 1 / layer.cell.units**0.5
            for offset, w in enumerate((cell.kernel, cell.recurrent_kernel)):
                w.assign(_uniform(bound, layer_seed + offset)(tuple(w.shape), dtype=w.dtype))
            b = cell.bias
            draw = _uniform(bound, layer_seed + 2)(tuple(b.shape), dtype=b.dtype)
            if isinstance(layer, keras.layers.LSTM):
                # torch adds two biases (input and recurrent); Keras' LSTM keeps one.
                draw = draw + _uniform(bound, layer_seed + 3)(tuple(b.shape), dtype=b.dtype)
            b.assign(draw)  # a GRU with reset_after keeps both, as rows of its bias
        elif isinstance(layer, keras.layers.Dense):
            bound = 1 / layer.kernel.shape[0] ** 0.5
            for offset, w in enumerate((layer.kernel, layer.bias)):
                w.assign(_uniform(bound, layer_seed + offset)(tuple(w.shape), dtype=w.dtype))


def _redraw_own(model, seed: int) -> None:
    """Every kernel (a depthwise conv's too) drawn again by its layer's own initializer
    (same class and config), reseeded with ``seed * 10_000 + index``."""

    def walk(layer):
        for inner in getattr(layer, "layers", ()):  # a nested model's own layers
            yield inner
            yield from walk(inner)

    # Keras' DepthwiseConv2D keeps its kernel as ``kernel`` with ``depthwise_initializer``.
    pairs = (("kernel", "kernel_initializer"), ("kernel", "depthwise_initializer"),
             ("depthwise_kernel", "depthwise_initializer"))  # fmt: skip
    index, done = 0, set()
    for layer in walk(model):
        for name, initializer_name in pairs:
            variable = getattr(layer, name, None)
            initializer = getattr(layer, initializer_name, None)
            if variable is None or initializer is None or id(variable) in done:
                continue
            config = initializer.get_config()
            if "seed" in config:  # a constant initializer (zeros, ones) has none
                config["seed"] = seed * 10_000 + index
            draw = initializer.__class__.from_config(config)
            variable.assign(draw(tuple(variable.shape), dtype=variable.dtype))
            done.add(id(variable))
            index += 1


def _residual_projections(model) -> list:
    """The kernels of KerasHub's decoder layers that write into the residual stream: each
    attention output and feed-forward output projection."""
    return [
        v for v in model.weights
        if v.name == "kernel" and ("attention_output" in v.path or "feedforward_output" in v.path)
    ]  # fmt: skip


def _initialize_partly(model, group: tuple[str, ...], seed: int, inside: bool) -> None:
    """initialize()'s draws for the kernels whose path ends with one of ``group`` (``inside``)
    or for every weight but those (not ``inside``), the build's for the others."""
    import keras_glorot

    picked = {id(v) for v in model.weights if v.path.endswith(group)}
    if not picked:
        raise ValueError(f"{model.name} has no kernel whose path ends with {' or '.join(group)}.")
    kept = {id(v): v.numpy() for v in model.weights}
    keras_glorot.initialize(model, seed=seed)
    for v in model.weights:
        if (id(v) in picked) != inside:
            v.assign(kept[id(v)])


def start(model, net: Net, how: str, seed: int, x_sample=None) -> None:
    """Start ``model`` (built by ``build_zoo_net``) by ``how``, one of ``starts_of(net)``.
    ``x_sample``: what ``lsuv`` measures on."""
    import keras

    import keras_glorot

    if how == "keras":
        return
    if how == "initialize":
        keras_glorot.initialize(model, seed=seed)
    elif how in VARIANTS:
        keras_glorot.initialize(model, seed=seed, **VARIANTS[how])
    elif how == REDRAWN:
        _redraw_own(model, seed)
    elif how in ONLY:
        _initialize_partly(model, ONLY[how], seed, inside=True)
    elif how in WITHOUT:
        _initialize_partly(model, WITHOUT[how], seed, inside=False)
    elif how == "lsuv":
        keras_glorot.lsuv(model, x_sample, seed=seed)
    elif how == "fixup_reference":
        apply_init(model, how, seed)
    elif how == "he_normal":
        kernels = ("kernel", "depthwise_kernel")
        _redraw(model, lambda v: v.name in kernels and len(v.shape) >= 2,
                lambda v, s: keras.initializers.HeNormal(seed=s), seed)  # fmt: skip
    elif how == "normal_0.02":
        _redraw(model, lambda v: v.name == "kernel" and len(v.shape) in (2, 3),
                lambda v, s: keras.initializers.RandomNormal(0.0, 0.02, seed=s), seed)  # fmt: skip
    elif how == "torch_default":
        _torch_default(model, seed)
    elif how in ("gpt2_scaled", GPT2_RESIDUAL):
        projections = _residual_projections(model)
        if not projections:
            raise ValueError(f"start={how!r}: {model.name} has no residual output projections.")
        built = {id(v): v.numpy() for v in projections}
        if how == GPT2_RESIDUAL:
            keras_glorot.initialize(model, seed=seed)
        layers = sum("attention_output" in v.path for v in projections)
        for v in projections:
            v.assign(built[id(v)] * (2 * layers) ** -0.5)
    else:
        raise ValueError(
            f"start={how!r}: use one of {', '.join((*starts_of(net), *ON_REQUEST.values()))}."
        )
