"""Norm-free CIFAR ResNets: how the residual sums grow at initialization, per initializer.

The nets are CIFAR's ResNets without any normalization (``nets.resnet``).
``--order post`` puts the ReLU after the add (v1), ``pre`` before each conv (v2). For
each initializer and seed the script pushes a batch of N(0, 1) images through the net
and prints the std of every residual sum relative to the first: the last one, and the
largest and smallest over the net. ``depth.py`` trains these nets on CIFAR-10.

Example::

    KERAS_BACKEND=torch python examples/norm_free_resnet.py --depths 20 56 110 \\
        --inits glorot_uniform he_normal none scaled fixup --seeds 0 1 2

``none``, ``scaled``, ``fixup`` and ``zero`` are ``keras_glorot.initialize(model,
residual=...)`` with that policy (``none``: residual=None, the per-layer draws).

The ratios depend on the backend: a seed names the same random stream to
``keras.random`` on every backend, but each backend turns it into other numbers
(TensorFlow's, JAX's and PyTorch's generators differ), so the kernels differ. The
image batch is drawn with NumPy and is the same everywhere. ``--save-kernels`` and
``--load-kernels`` move one backend's kernels to another, to compare the backends'
arithmetic alone.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
from collections.abc import Sequence

# Before anything can import TensorFlow; set it yourself to see them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no TensorFlow C++ info/warning lines
_HERE = str(pathlib.Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from nets import KERAS_INITS, POLICIES  # noqa: E402  (names only: no Keras yet)
from studylib.cli_args import (  # noqa: E402  (no Keras yet)
    Parser,
    add_seed_arguments,
    backend_problem,
    resolve_seeds,
)

LEGEND = (
    "Columns: the std of each residual sum over the std of the first sum, for a batch of "
    "{batch} N(0, 1) images (NumPy, seed as in the row): `last / first` for the net's "
    "last sum, `max / first` and `min / first` the largest and smallest over all its sums. "
)
DRAWN = (
    "Kernels drawn by {backend}'s generator from the row's seed; other backends draw "
    "other kernels from the same seed."
)
LOADED = "Kernels loaded from {folder}, as another run drew them for the row's seed."


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = Parser(
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
    add_seed_arguments(p, default=1)  # each seed draws the kernels and the batch
    p.add_argument(
        "--save-kernels", metavar="DIR", help="write each net's weights to DIR (one .npz a row)"
    )
    p.add_argument(
        "--load-kernels", metavar="DIR",
        help="use the weights --save-kernels wrote to DIR instead of drawing them",
    )  # fmt: skip
    args = p.parse_args(argv)
    for depth in args.depths:
        if depth < 8 or (depth - 2) % 6:
            p.error(f"--depths {depth}: a CIFAR ResNet has 6 n + 2 layers, n >= 1 (20, 56, 110).")
    for init in args.inits:
        if init not in KERAS_INITS + POLICIES:
            p.error(f"--inits {init}: use one of {list(KERAS_INITS + POLICIES)}.")
    if args.batch < 2:
        p.error(f"--batch {args.batch}: must be >= 2.")
    try:
        resolve_seeds(args)
    except ValueError as e:
        p.error(str(e))
    if args.load_kernels and not pathlib.Path(args.load_kernels).is_dir():
        p.error(f"--load-kernels {args.load_kernels}: no such folder.")
    problem = backend_problem()
    if problem:
        p.error(problem)
    return args


def kernel_file(folder: str, depth: int, order: str, init: str, seed: int) -> pathlib.Path:
    return pathlib.Path(folder) / f"resnet{depth}_{order}_{init}_seed{seed}.npz"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)  # before any backend is imported
    import keras
    import numpy as np
    from nets.norm_free import apply_init, residual_sum_stds, resnet

    backend = keras.config.backend()
    source = f"loaded from {args.load_kernels}" if args.load_kernels else f"{backend}'s draws"
    print(f"Backend: {backend} (Keras {keras.__version__}); kernels: {source}.\n")
    kernels = LOADED.format(folder=args.load_kernels) if args.load_kernels else DRAWN
    print(LEGEND.format(batch=args.batch) + kernels.format(backend=backend) + "\n")
    print(
        "| net | init | seed | last / first | max / first | min / first |\n"
        "|---|---|---|---|---|---|"
    )
    last: dict[tuple[int, str], list[float]] = {}
    for depth in args.depths:
        for init in args.inits:
            for seed in args.seeds:
                x = np.random.default_rng(seed).standard_normal((args.batch, 32, 32, 3))
                keras.utils.set_random_seed(seed)
                model = resnet(depth, args.order)
                path = kernel_file(args.load_kernels or args.save_kernels or ".", depth,
                                   args.order, init, seed)  # fmt: skip
                if args.load_kernels:
                    with np.load(path) as saved:
                        model.set_weights([saved[f"arr_{i}"] for i in range(len(saved.files))])
                else:
                    apply_init(model, init, seed)
                if args.save_kernels:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    np.savez(path, *model.get_weights())
                ratios = residual_sum_stds(model, x.astype("float32"))
                ratios = ratios / ratios[0]
                last.setdefault((depth, init), []).append(float(ratios[-1]))
                print(
                    f"| ResNet-{depth} ({args.order}) | {init} | {seed} | {ratios[-1]:.3g} | "
                    f"{ratios.max():.3g} | {ratios.min():.3g} |",
                    flush=True,
                )
    if len(args.seeds) > 1:
        print(
            f"\nOver seeds {' '.join(map(str, args.seeds))}: `last / first`, smallest and "
            "largest, and their quotient.\n\n"
            "| net | init | smallest | largest | largest / smallest |\n|---|---|---|---|---|"
        )
        for (depth, init), values in last.items():
            print(
                f"| ResNet-{depth} ({args.order}) | {init} | {min(values):.3g} | "
                f"{max(values):.3g} | {max(values) / min(values):.3g} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
