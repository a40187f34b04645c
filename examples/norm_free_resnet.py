"""Norm-free CIFAR ResNets: how the residual sums grow at initialization, per initializer.

The nets are CIFAR's ResNets without any normalization (``nets.resnet``).
``--order post`` puts the ReLU after the add (v1), ``pre`` before each conv (v2). For
each initializer the script pushes a batch of N(0, 1) images through the net and prints
the std of every residual sum relative to the first: the last one, and the largest and
smallest over the net. ``depth.py`` trains these nets on CIFAR-10.

Example::

    KERAS_BACKEND=torch python examples/norm_free_resnet.py --depths 20 56 110 \\
        --inits glorot_uniform he_normal none scaled fixup

``none``, ``scaled``, ``fixup`` and ``zero`` are ``keras_glorot.initialize(model,
residual=...)`` with that policy (``none``: residual=None, the per-layer draws).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Sequence

_HERE = str(pathlib.Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from cli_args import backend_problem  # noqa: E402  (no Keras yet)
from nets import KERAS_INITS, POLICIES  # noqa: E402  (names only: no Keras yet)


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
    problem = backend_problem()
    if problem:
        p.error(problem)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)  # before any backend is imported
    import keras
    import numpy as np
    from nets import apply_init, residual_sum_stds, resnet

    x = np.random.default_rng(args.seed).standard_normal((args.batch, 32, 32, 3))
    x = x.astype("float32")
    print("| net | init | last / first | max | min |\n|---|---|---|---|---|")
    for depth in args.depths:
        for init in args.inits:
            keras.utils.set_random_seed(args.seed)
            model = resnet(depth, args.order)
            apply_init(model, init, args.seed)
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
