"""CIFAR-10 study: VGG-style CNNs trained from different initializers, with resume.

Each (initializer, seed) pair is one ``model.fit``. Finished runs are appended to
``OUT/runs.jsonl`` (one JSON line, flushed and fsynced), so a killed study loses only the
run in progress and rerunning the same command skips what is done. After every run the
script rewrites ``OUT/summary.md`` (mean, std and 95% confidence interval of the final test
accuracy per initializer, epochs to a target accuracy, divergence) and ``OUT/curves.png``.

Examples::

    # TFDS cifar10, downloaded on first use (fails within seconds without a network)
    python examples/cifar10_vgg.py --out runs/vgg11 --inits glorot_uniform glorot_leaky

    # an offline copy in keras.datasets.cifar10 layout, on any backend
    KERAS_BACKEND=jax python examples/cifar10_vgg.py --npz cifar10.npz --subset 10000 \\
        --model vgg11 --width 0.25 --activation leaky_relu --seeds 3 --epochs 10 --out runs/x

Data: Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import math
import os
import pathlib
import platform
import socket
import sys
import time
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_glorot  # noqa: E402, F401  (registers "glorot_leaky" & co. with Keras)

# The report helpers live next to this file; make them importable however it is run.
_HERE = pathlib.Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from cifar10_report import write_reports  # noqa: E402

# Conv widths per block ("M" = 2x2 max-pool), Simonyan & Zisserman (2015), configs A, B, D, E.
VGG_LAYOUTS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M"]
    + [512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M"]
    + [512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
ACTIVATIONS = ("relu", "leaky_relu", "gelu", "tanh", "elu", "selu", "silu", "sigmoid", "linear")
WHOLE_MODEL_TOOLS = ("initialize", "lsuv")
# Where TFDS downloads cifar10 from; probed before a download so that an offline machine
# fails in seconds instead of retrying for minutes.
TFDS_SOURCE = ("www.cs.toronto.edu", 443)
NUM_CLASSES = 10
# Options that do not change what a run computes: left out of the resume key.
NON_RUN_OPTIONS = {"out", "inits", "seeds", "data_dir", "npz", "verbose", "target"}


class DataError(RuntimeError):
    """The data set could not be found or loaded (raised before any training)."""


# --------------------------------------------------------------------------- arguments


def _seed_list(values: Sequence[str]) -> list[int]:
    """``--seeds 3`` means seeds 0, 1, 2; ``--seeds 4 7`` or ``--seeds 4,7`` or ``--seeds 5,``
    means exactly those."""
    tokens = [t for v in values for t in v.split(",") if t.strip()]
    seeds = [int(t) for t in tokens]
    if len(values) == 1 and "," not in values[0]:
        if seeds[0] < 1:
            raise ValueError("--seeds N needs N >= 1 (or give a list: --seeds 0, or 0,1).")
        return list(range(seeds[0]))
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ValueError(f"--seeds {' '.join(values)}: give distinct seeds.")
    return seeds


def build_parser() -> argparse.ArgumentParser:
    """The command line; every option is recorded with each run."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    d = p.add_argument_group("data")
    d.add_argument("--npz", help="offline .npz with x_train, y_train, x_test, y_test (uint8)")
    d.add_argument("--data-dir", help="an existing TFDS data directory (default: TFDS' own)")
    d.add_argument("--subset", type=int, help="train on the first N training images only")
    m = p.add_argument_group("model")
    m.add_argument("--model", default="vgg11", help=f"one of {sorted(VGG_LAYOUTS)}")
    m.add_argument("--width", type=float, default=1.0, help="channel multiplier")
    m.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=True)
    m.add_argument("--activation", default="relu", help=f"one of {list(ACTIVATIONS)}")
    m.add_argument("--negative-slope", type=float, default=0.2, help="for leaky_relu")
    m.add_argument("--dropout", type=float, default=0.3, help="before each Dense layer")
    m.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True)
    s = p.add_argument_group("study")
    s.add_argument("--inits", nargs="+", default=["glorot_uniform", "he_normal", "glorot_leaky"])
    s.add_argument(
        "--seeds",
        nargs="+",
        default=["3"],
        help="a count N (seeds 0..N-1), or a list: 4 7, 4,7 or 5,",
    )
    s.add_argument("--epochs", type=int, default=30)
    s.add_argument("--batch-size", type=int, default=128)
    s.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    s.add_argument("--lr", type=float, help="peak learning rate (default 0.05 SGD, 1e-3 Adam)")
    s.add_argument("--schedule", choices=("cosine", "onecycle", "constant"), default="cosine")
    s.add_argument("--momentum", type=float, default=0.9)
    s.add_argument("--weight-decay", type=float, default=5e-4)
    s.add_argument("--label-smoothing", type=float, default=0.0)
    s.add_argument("--mixed-precision", action="store_true")
    s.add_argument("--jit-compile", choices=("auto", "true", "false"), default="auto")
    s.add_argument("--distribute", action="store_true", help="data-parallel on local devices")
    s.add_argument("--target", type=float, default=0.5, help="test accuracy for epochs-to-target")
    p.add_argument("--out", default="runs/cifar10_vgg", help="results directory")
    p.add_argument("--verbose", type=int, default=1, help="Keras progress bar: 0, 1 or 2")
    return p


def validate_init(name: str) -> None:
    """Fail before any training if ``name`` is neither a Keras initializer nor a tool."""
    if name in WHOLE_MODEL_TOOLS:
        if getattr(keras_glorot, name, None) is None:
            raise ValueError(
                f"--inits {name}: keras_glorot.{name} is not available in the installed "
                f"keras_glorot {keras_glorot.__version__} (it comes with issue 3)."
            )
        return
    try:
        keras.initializers.get(name)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"--inits: unknown initializer {name!r}. Use a Keras or keras_glorot name "
            f"(e.g. glorot_uniform, he_normal, glorot_leaky) or one of {WHOLE_MODEL_TOOLS}."
        ) from e


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check the arguments; every error here happens before data or training."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.seeds = _seed_list(args.seeds)
        if args.model not in VGG_LAYOUTS:
            raise ValueError(f"--model {args.model!r}: use one of {sorted(VGG_LAYOUTS)}.")
        if args.activation not in ACTIVATIONS:
            raise ValueError(f"--activation {args.activation!r}: use one of {list(ACTIVATIONS)}.")
        for name in args.inits:
            validate_init(name)
        if args.width <= 0 or args.epochs < 1 or args.batch_size < 1:
            raise ValueError("--width, --epochs and --batch-size must be positive.")
        if args.subset is not None and args.subset < 1:
            raise ValueError("--subset must be >= 1.")
        if args.npz and not pathlib.Path(args.npz).is_file():
            raise ValueError(f"--npz {args.npz}: no such file.")
    except ValueError as e:
        parser.error(str(e))
    if args.lr is None:
        args.lr = 0.05 if args.optimizer == "sgd" else 1e-3
    return args


# -------------------------------------------------------------------------------- data


def _labels(y: np.ndarray) -> np.ndarray:
    """Accept labels of shape (N,) or (N, 1), as Keras' own loader gives."""
    return np.asarray(y).reshape(-1).astype("int32")


def load_npz(path: str) -> dict[str, np.ndarray]:
    """Load a ``keras.datasets.cifar10``-layout .npz; needs only NumPy."""
    with np.load(path) as f:
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(f.files)
        if missing:
            raise DataError(f"--npz {path} lacks arrays {sorted(missing)}.")
        data = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    for k in ("y_train", "y_test"):
        data[k] = _labels(data[k])
    return data


def source_reachable(address: tuple[str, int] = TFDS_SOURCE, timeout: float = 3.0) -> bool:
    """Whether the TFDS download host answers within ``timeout`` seconds."""
    try:
        with socket.create_connection(address, timeout=timeout):
            return True
    except OSError:
        return False


def _no_data_message(why: str) -> str:
    return (
        f"CIFAR-10 is not available: {why}. Pass --data-dir DIR for an existing TFDS data "
        "directory that holds cifar10, or --npz PATH for an offline copy in "
        "keras.datasets.cifar10 layout (x_train, y_train, x_test, y_test)."
    )


def load_tfds(data_dir: str | None) -> dict[str, np.ndarray]:
    """Load cifar10 through TFDS, downloading it first if needed and the source answers."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:  # also covers the undeclared importlib_resources dependency
        raise DataError(_no_data_message(f"tensorflow_datasets cannot be imported ({e})")) from e
    builder = tfds.builder("cifar10", data_dir=data_dir)
    if not builder.is_prepared():
        # tfds would otherwise retry an unreachable host for minutes before failing.
        if not source_reachable():
            raise DataError(
                _no_data_message(
                    f"it is not prepared in {builder.data_dir} and {TFDS_SOURCE[0]} "
                    "does not answer (no network?)"
                )
            )
        builder.download_and_prepare()
    data = {}
    for split in ("train", "test"):
        # Fixed-size batches rather than batch_size=-1, which aborts the process on the
        # generator-backed datasets of tfds.testing.mock_data.
        ds = builder.as_dataset(split=split, batch_size=4096, as_supervised=True)
        xs, ys = zip(*tfds.as_numpy(ds), strict=True)
        data[f"x_{split}"], data[f"y_{split}"] = np.concatenate(xs), _labels(np.concatenate(ys))
    return data


def load_data(args: argparse.Namespace) -> dict[str, np.ndarray]:
    """The arrays for the study: uint8 images (N, 32, 32, 3), int32 labels (N,)."""
    data = load_npz(args.npz) if args.npz else load_tfds(args.data_dir)
    if args.subset:
        for k in ("x_train", "y_train"):
            data[k] = data[k][: args.subset]
    if data["x_train"].ndim != 4 or data["x_train"].shape[-1] != 3:
        raise DataError(f"expected images (N, H, W, 3); got {data['x_train'].shape}.")
    return data


# ------------------------------------------------------------------------------- model


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


def make_initializer(name: str, seed: int, index: int, negative_slope: float):
    """A fresh initializer per layer: one seeded instance shared would repeat its kernel."""
    if name in WHOLE_MODEL_TOOLS:
        name = "glorot_uniform"  # the starting point the whole-model tool then rescales
    config: dict[str, Any] = {"seed": seed * 1000 + index}
    cls = type(keras.initializers.get(name))
    if "negative_slope" in inspect.signature(cls.__init__).parameters:
        config["negative_slope"] = negative_slope  # match the LeakyReLU layers of the model
    return keras.initializers.get({"class_name": name, "config": config})


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
            kernel_initializer=make_initializer(init, seed, index, args.negative_slope),
        )(x)
        index += 1
        if args.batch_norm:
            x = keras.layers.BatchNormalization()(x)
        x = _activation(args.activation, args.negative_slope)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(args.dropout)(x)
    x = keras.layers.Dense(
        max(1, round(512 * args.width)),
        kernel_initializer=make_initializer(init, seed, index, args.negative_slope),
    )(x)
    x = _activation(args.activation, args.negative_slope)(x)
    x = keras.layers.Dropout(args.dropout)(x)
    logits = keras.layers.Dense(
        NUM_CLASSES,
        kernel_initializer=make_initializer(init, seed, index + 1, args.negative_slope),
        dtype="float32",  # logits in float32 under mixed precision
        name="logits",
    )(x)
    return keras.Model(inputs, logits, name=f"{args.model}_w{args.width:g}")


def _call_tool(fn, *positional, **options):
    """Call a whole-model tool with the options its signature accepts."""
    params = inspect.signature(fn).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in options.items() if takes_any or k in params}
    return fn(*positional, **kwargs)


def apply_whole_model_tool(
    name: str, model: keras.Model, x_sample: np.ndarray, args: argparse.Namespace, seed: int
) -> None:
    """Run ``keras_glorot.initialize`` or ``keras_glorot.lsuv`` on a freshly built model."""
    fn = getattr(keras_glorot, name, None)
    if fn is None:
        raise RuntimeError(
            f"--inits {name}: keras_glorot.{name} is not available in the installed "
            f"keras_glorot {keras_glorot.__version__} (it comes with issue 3)."
        )
    options = {"seed": seed, "negative_slope": args.negative_slope}
    if name == "lsuv":
        _call_tool(fn, model, x_sample, **options)
    else:
        _call_tool(fn, model, **options)


# ---------------------------------------------------------------------------- training


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


class EpochClock(keras.callbacks.Callback):
    """Training seconds per epoch (evaluation excluded) and divergence, with epoch-level
    hooks only: a per-batch hook would read the loss every step and, on an accelerator,
    wait for the device each time."""

    def __init__(self):
        super().__init__()
        self.train_seconds: list[float] = []
        self.nan = False
        self._start = self._end = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._end = time.perf_counter(), None

    def on_test_begin(self, logs=None):
        # fit's validation starts here: the training part of the epoch is over.
        if self._start is not None and self._end is None:
            self._end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.train_seconds.append((self._end or time.perf_counter()) - self._start)
        self._start = None
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.nan = True
            self.model.stop_training = True  # a diverged run is recorded, not continued


def device_description() -> str:
    """The backend's compute device, in words."""
    backend = keras.config.backend()
    try:
        if backend == "jax":
            import jax

            d = jax.devices()
            return f"{len(d)} x {d[0].platform}:{d[0].device_kind}"
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                return f"cuda:{torch.cuda.get_device_name(0)}"
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                return f"{len(gpus)} x GPU ({details.get('device_name', 'GPU')})"
    except Exception as e:  # a description must never stop a study
        return f"unknown ({e})"
    return f"CPU: {_cpu_name()} ({os.cpu_count()} cores)"


def _cpu_name() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options that define what a run computes (its identity, together with init/seed)."""
    opts = {k: v for k, v in vars(args).items() if k not in NON_RUN_OPTIONS}
    opts["data"] = "npz:" + pathlib.Path(args.npz).name if args.npz else "tfds:cifar10"
    opts["backend"] = keras.config.backend()
    return opts


def run_key(init: str, seed: int, options: dict[str, Any]) -> str:
    """Stable identity of one run, for resume."""
    blob = json.dumps({"init": init, "seed": seed, **options}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


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


def dtype_policy(args: argparse.Namespace) -> str:
    """float32, or with --mixed-precision float16 compute on accelerators (the optimizer is
    then wrapped in a LossScaleOptimizer by compile) and bfloat16 on CPUs, which have no
    fast float16 arithmetic."""
    if not args.mixed_precision:
        return "float32"
    return "mixed_bfloat16" if device_description().startswith("CPU") else "mixed_float16"


def build_for_run(
    args: argparse.Namespace, init: str, seed: int, data: dict[str, np.ndarray], steps: int
) -> keras.Model:
    """Build, initialise and compile the model of one run (inside the distribution scope)."""
    keras.utils.set_random_seed(seed)  # dropout, augmentation and the shuffle order
    keras.config.set_dtype_policy(dtype_policy(args))  # global in Keras: set for every run
    x = data["x_train"].astype("float32")
    mean = x.mean(axis=(0, 1, 2))
    std = x.std(axis=(0, 1, 2)) + 1e-3
    with _distribution_scope(args):
        model = build_model(args, init, seed, mean, std)
        if init in WHOLE_MODEL_TOOLS:
            apply_whole_model_tool(init, model, x[:256], args, seed)
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


def prepare_arrays(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """float32 pixels (0..255; the model normalises) and one-hot labels, made once per run."""
    return {
        "x_train": data["x_train"].astype("float32"),
        "y_train": keras.utils.to_categorical(data["y_train"], NUM_CLASSES),
        "x_test": data["x_test"].astype("float32"),
        "y_test": keras.utils.to_categorical(data["y_test"], NUM_CLASSES),
    }


def fit_model(
    model: keras.Model,
    arrays: dict[str, np.ndarray],
    args: argparse.Namespace,
    epochs: int,
    validate: bool = True,
) -> tuple[dict[str, list[float]], EpochClock]:
    """The study's training step: ``model.fit`` on in-memory arrays with an EpochClock."""
    clock = EpochClock()
    history = model.fit(
        arrays["x_train"],
        arrays["y_train"],
        batch_size=args.batch_size,
        epochs=epochs,
        validation_data=(arrays["x_test"], arrays["y_test"]) if validate else None,
        callbacks=[clock],
        verbose=args.verbose,
    ).history
    return history, clock


def train_one(
    args: argparse.Namespace, init: str, seed: int, data: dict[str, np.ndarray]
) -> dict[str, Any]:
    """One fit of one (initializer, seed); returns the record for runs.jsonl."""
    n = len(data["x_train"])
    steps = math.ceil(n / args.batch_size)
    model = build_for_run(args, init, seed, data, steps)
    arrays = prepare_arrays(data)
    start = time.perf_counter()
    hist, clock = fit_model(model, arrays, args, args.epochs)
    wall = time.perf_counter() - start
    curve = {k: [float(v) for v in hist.get(k, [])] for k in hist}
    losses = curve.get("loss", []) + curve.get("val_loss", [])
    diverged = clock.nan or any(not math.isfinite(v) for v in losses)
    # The first epoch includes compilation: throughput from the rest where there is a rest.
    timed = clock.train_seconds[1:] or clock.train_seconds
    test_acc = curve.get("val_accuracy", [])
    return {
        "init": init,
        "seed": seed,
        "options": run_options(args),
        "epochs_run": len(clock.train_seconds),
        "train_loss": curve.get("loss", []),
        "train_accuracy": curve.get("accuracy", []),
        "test_loss": curve.get("val_loss", []),
        "test_accuracy": test_acc,
        "final_test_accuracy": test_acc[-1] if test_acc and not diverged else None,
        "diverged": diverged,
        "wall_seconds": wall,
        "train_seconds_per_epoch": clock.train_seconds,
        "images_per_second": n * len(timed) / max(sum(timed), 1e-9),
        "n_train": n,
        "n_test": len(data["x_test"]),
        "backend": keras.config.backend(),
        "device": device_description(),
        "keras_version": keras.__version__,
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


# ----------------------------------------------------------------------------- results


def read_runs(path: pathlib.Path) -> list[dict[str, Any]]:
    """All complete lines of runs.jsonl (a line cut by a crash is ignored)."""
    if not path.exists():
        return []
    runs = []
    for line in path.read_text().splitlines():
        try:
            runs.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return runs


def append_run(path: pathlib.Path, record: dict[str, Any]) -> None:
    """Append one line and force it to disk, so that a later crash cannot lose it."""
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the study; return 0 when every requested run is in runs.jsonl."""
    args = parse_args(argv)
    try:
        data = load_data(args)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs_path = out / "runs.jsonl"
    options = run_options(args)
    done = {run_key(r["init"], r["seed"], r["options"]) for r in read_runs(runs_path)}
    for init in args.inits:
        for seed in args.seeds:
            if run_key(init, seed, options) in done:
                print(f"skip {init} seed {seed}: already in {runs_path}")
                continue
            record = train_one(args, init, seed, data)
            append_run(runs_path, record)
            acc = record["final_test_accuracy"]
            print(
                f"done {init} seed {seed}: test acc "
                f"{'diverged' if acc is None else f'{acc:.4f}'}, "
                f"{record['wall_seconds']:.0f} s, {record['images_per_second']:.0f} img/s",
                flush=True,
            )
            write_reports(read_runs(runs_path), out, target=args.target)
    write_reports(read_runs(runs_path), out, target=args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
