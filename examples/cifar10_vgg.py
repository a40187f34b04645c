"""CIFAR-10 study: VGG-style CNNs trained from different initializers, with resume.

Each (initializer, seed) pair is one ``model.fit``. Finished runs are appended to
``OUT/runs.jsonl``, so a killed study loses only the run in progress and rerunning the same
command skips what is done. After every run the script rewrites ``OUT/summary.md`` (mean,
std and 95% confidence interval of the final test accuracy per initializer, epochs to a
target accuracy, divergence) and ``OUT/curves.png``.

Examples::

    # TFDS cifar10, downloaded on first use (fails within seconds without a network)
    python examples/cifar10_vgg.py --out runs/vgg11 --inits glorot_uniform glorot_gain

    # an offline copy in keras.datasets.cifar10 layout, on any backend
    KERAS_BACKEND=jax python examples/cifar10_vgg.py --npz cifar10.npz --subset 10000 \\
        --model vgg11 --width 0.25 --activation leaky_relu --seeds 3 --epochs 10 --out runs/x

This file is the command line only: it checks every argument before Keras or a backend is
imported (seconds of start-up), then runs ``studylib/study.py`` on the VGG of ``nets/vgg.py``
(compiled by ``studylib/training.py``).

Data: Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009.
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import sys
from collections.abc import Sequence

# Before anything can import TensorFlow; set it yourself to see them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no TensorFlow C++ info/warning lines
# The helper modules live next to this file; make them importable however it is run.
_HERE = str(pathlib.Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from studylib.cli_args import (  # noqa: E402
    GLOROT_LEAKY,
    KERAS_CONSTANT,
    KERAS_NOT_FOR_A_NET,
    KERAS_SEEDED,
    Parser,
    add_data_arguments,
    add_seed_arguments,
    add_verbose_argument,
    parse_checked,
    resolve_seeds,
)

# The static lists below let the arguments be checked without importing Keras; a test
# compares them with Keras, keras_glorot and nets.vgg, so that they cannot drift.
VGG_MODELS = ("vgg11", "vgg13", "vgg16", "vgg19")
ACTIVATIONS = ("relu", "leaky_relu", "gelu", "tanh", "elu", "selu", "silu", "sigmoid", "linear")
# Keras' seeded initializers, its constant ones (no seed) and keras_glorot's registered
# names (given --negative-slope). In a leaky_relu net glorot_leaky is glorot_gain (the same
# kernels) and is reported as glorot_leaky; glorot_leaky_normal is another name of it.
KERAS_INITIALIZERS = KERAS_SEEDED
# keras_glorot.Glorot with the gain of --activation: truncated normal, uniform.
GLOROT_GAIN = ("glorot_gain", "glorot_gain_uniform")
# Names Keras or keras_glorot know that cannot draw every kernel of a VGG, and why.
NOT_FOR_VGG = {
    "delta_orthogonal": "it draws convolution kernels only, and the VGG's Dense layers take "
    "the same initializer",
    **KERAS_NOT_FOR_A_NET,
}
WHOLE_MODEL_TOOLS = ("initialize", "lsuv")
INIT_NAMES = KERAS_INITIALIZERS + KERAS_CONSTANT + GLOROT_LEAKY + GLOROT_GAIN + WHOLE_MODEL_TOOLS


def build_parser() -> argparse.ArgumentParser:
    """The command line; every option is recorded with each run."""
    p = Parser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Runs resume: rerunning a command skips the (init, seed) pairs already in "
        "OUT/runs.jsonl. python examples/cifar10_report.py OUT rebuilds the reports.",
    )
    add_data_arguments(p)
    m = p.add_argument_group("model")
    m.add_argument(
        "--model", default="vgg11", help=f"one of {', '.join(VGG_MODELS)} (default: %(default)s)"
    )
    m.add_argument(
        "--width",
        type=float,
        default=1.0,
        help="channel multiplier, > 0 (default: %(default)s; 0.25 gives 16..128 channels)",
    )
    m.add_argument(
        "--batch-norm",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="BatchNormalization after each conv (default: on; the study's headline "
        "results are without it, --no-batch-norm)",
    )
    m.add_argument(
        "--activation",
        default="relu",
        help=f"one of {', '.join(ACTIVATIONS)} (default: %(default)s)",
    )
    m.add_argument(
        "--negative-slope",
        type=float,
        default=0.2,
        help="leaky_relu slope, given to keras_glorot's initializers too (default: %(default)s)",
    )
    m.add_argument(
        "--dropout",
        type=float,
        default=0.3,
        help="rate before each Dense layer, in [0, 1) (default: %(default)s)",
    )
    m.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="pad-4 random crop and horizontal flip (default: on)",
    )
    s = p.add_argument_group("study")
    s.add_argument(
        "--inits",
        nargs="+",
        metavar="NAME",
        default=["glorot_uniform", "he_normal", "glorot_gain"],
        help="initializers to compare (default: glorot_uniform he_normal glorot_gain). "
        f"Keras' seeded ones: {', '.join(KERAS_INITIALIZERS)}; Keras' constant ones: "
        f"{', '.join(KERAS_CONSTANT)}; keras_glorot's registered names, with "
        f"--negative-slope: {', '.join(GLOROT_LEAKY)}; keras_glorot's Glorot with the gain "
        f"of --activation: {', '.join(GLOROT_GAIN)} (truncated normal, uniform; in a "
        "leaky_relu net the same kernels as glorot_leaky and glorot_leaky_uniform, and "
        "reported under those names); whole-model tools (applied after a glorot_uniform "
        f"build): {', '.join(WHOLE_MODEL_TOOLS)}",
    )
    add_seed_arguments(s)
    s.add_argument("--epochs", type=int, default=30, help="epochs per run (default: %(default)s)")
    s.add_argument(
        "--batch-size", type=int, default=128, help="images per step (default: %(default)s)"
    )
    s.add_argument(
        "--optimizer",
        choices=("sgd", "adam"),
        default="sgd",
        help="SGD with Nesterov momentum, or AdamW (default: %(default)s)",
    )
    s.add_argument(
        "--lr", type=float, help="peak learning rate (default: 0.05 for sgd, 1e-3 for adam)"
    )
    s.add_argument(
        "--schedule",
        choices=("cosine", "onecycle", "constant"),
        default="cosine",
        help="cosine has a linear warm-up over the first 10%% of the steps (default: %(default)s)",
    )
    s.add_argument(
        "--momentum", type=float, default=0.9, help="SGD momentum, in [0, 1) (default: %(default)s)"
    )
    s.add_argument(
        "--weight-decay", type=float, default=5e-4, help="decoupled, >= 0 (default: %(default)s)"
    )
    s.add_argument(
        "--label-smoothing", type=float, default=0.0, help="in [0, 1) (default: %(default)s)"
    )
    s.add_argument(
        "--mixed-precision",
        action="store_true",
        help="float16 compute on a GPU, bfloat16 on a CPU (default: off, float32)",
    )
    s.add_argument(
        "--jit-compile",
        choices=("auto", "true", "false"),
        default="auto",
        help="model.compile's jit_compile (default: %(default)s)",
    )
    s.add_argument(
        "--distribute",
        action="store_true",
        help="data-parallel on local devices, jax and tensorflow (default: off)",
    )
    s.add_argument(
        "--deterministic",
        action="store_true",
        help="bit-reproducible runs: seeds plus each backend's deterministic kernels, slower "
        "on a GPU (default: off; GPU runs with the same seed can then differ)",
    )
    s.add_argument(
        "--target",
        type=float,
        default=0.5,
        help="test accuracy in (0, 1] for the epochs-to-target column (default: %(default)s)",
    )
    p.add_argument(
        "--out",
        default="runs/cifar10_vgg",
        metavar="DIR",
        help="results directory (default: %(default)s)",
    )
    add_verbose_argument(p)
    return p


def _check(ok: bool, option: str, value, allowed: str) -> None:
    if not ok:
        raise ValueError(f"{option} {value}: must be {allowed}.")


def check_args(args: argparse.Namespace) -> None:
    """Raise ValueError naming the first bad option, its value and what it allows."""
    resolve_seeds(args)
    _check(args.model in VGG_MODELS, "--model", repr(args.model), f"one of {VGG_MODELS}")
    _check(
        args.activation in ACTIVATIONS,
        "--activation",
        repr(args.activation),
        f"one of {ACTIVATIONS}",
    )
    for name in args.inits:
        if name in NOT_FOR_VGG:
            raise ValueError(f"--inits {name}: not usable in this study: {NOT_FOR_VGG[name]}.")
        if name not in INIT_NAMES:
            raise ValueError(
                f"--inits: unknown initializer {name!r}. Use one of Keras' "
                f"{', '.join(KERAS_INITIALIZERS + KERAS_CONSTANT)}; keras_glorot's "
                f"{', '.join(GLOROT_LEAKY + GLOROT_GAIN)}; or a whole-model tool: "
                f"{', '.join(WHOLE_MODEL_TOOLS)}."
            )
    if len(set(args.inits)) != len(args.inits):
        raise ValueError(f"--inits {' '.join(args.inits)}: give each initializer once.")
    _check(math.isfinite(args.width) and args.width > 0, "--width", args.width, "> 0")
    _check(args.epochs >= 1, "--epochs", args.epochs, "an integer >= 1")
    _check(args.batch_size >= 1, "--batch-size", args.batch_size, "an integer >= 1")
    _check(args.subset is None or args.subset >= 1, "--subset", args.subset, "an integer >= 1")
    _check(args.negative_slope >= 0, "--negative-slope", args.negative_slope, ">= 0")
    _check(0 <= args.dropout < 1, "--dropout", args.dropout, "in [0, 1)")
    _check(args.lr is None or args.lr > 0, "--lr", args.lr, "> 0")
    _check(0 <= args.momentum < 1, "--momentum", args.momentum, "in [0, 1)")
    _check(args.weight_decay >= 0, "--weight-decay", args.weight_decay, ">= 0")
    _check(0 <= args.label_smoothing < 1, "--label-smoothing", args.label_smoothing, "in [0, 1)")
    _check(0 < args.target <= 1, "--target", args.target, "in (0, 1]")
    if args.npz and not pathlib.Path(args.npz).is_file():
        raise ValueError(f"--npz {args.npz}: no such file.")
    if args.data_dir and pathlib.Path(args.data_dir).exists():
        _check(pathlib.Path(args.data_dir).is_dir(), "--data-dir", args.data_dir, "a directory")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check the arguments; nothing here imports Keras or a backend."""
    args = parse_checked(build_parser(), check_args, argv)
    if args.lr is None:
        args.lr = 0.05 if args.optimizer == "sgd" else 1e-3
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the study; return 0 when every requested run is in runs.jsonl."""
    args = parse_args(argv)
    if args.deterministic:
        from studylib import determinism

        late = determinism.set_environment()
        if late:
            print(
                f"note: {', '.join(late)} already imported: XLA_FLAGS and "
                "CUBLAS_WORKSPACE_CONFIG may not take effect.",
                file=sys.stderr,
            )
    import keras
    from studylib import cifar10_data, study, training

    if args.distribute and keras.config.backend() not in ("jax", "tensorflow"):
        print(
            f"error: --distribute needs the jax or tensorflow backend, not "
            f"{keras.config.backend()}.",
            file=sys.stderr,
        )
        return 2
    try:
        data = cifar10_data.load_data(args.npz, args.data_dir, args.subset)
    except cifar10_data.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return study.run_study(args, data, training.build_for_run)


if __name__ == "__main__":
    sys.exit(main())
