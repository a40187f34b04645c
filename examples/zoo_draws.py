"""Does the code as it stands draw what a zoo row's commit drew? A hash of every weight of
each zoo net after each of its starts, at one seed, from the code of a given checkout.

Run it once on a checkout of the commit a row was trained at and once on the current one;
where the two hashes of a (net, start) agree, the row's runs are runs of today's code (the
same weights, the same data order: the training that follows is the same program).
The net is built as ``zoo.py`` builds it (``keras.utils.set_random_seed(seed)``, the
normalization's mean and std from the recipe's training images, 256 of them for ``lsuv``).

Examples::

    python examples/zoo_draws.py --npz cifar10.npz --nets mlp3 vit
    git worktree add /tmp/at-bd57de3 bd57de3
    python examples/zoo_draws.py --npz cifar10.npz --code /tmp/at-bd57de3 --out old.jsonl

Every argument is checked before Keras or a backend is imported.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no TensorFlow C++ info/warning lines
_HERE = pathlib.Path(__file__).resolve().parent


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--npz", required=True, help="CIFAR-10 as examples/get_cifar10.py writes it")
    p.add_argument(
        "--code", default=str(_HERE.parent),
        help="a checkout of the package whose code draws: its keras_glorot and "
        "examples/ are imported before any installed copy (default: this one)",
    )  # fmt: skip
    p.add_argument("--nets", nargs="+", metavar="NET", help="(default: every net the code has)")
    p.add_argument("--starts", nargs="+", metavar="START",
                   help="(default: each net's three starts)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    p.add_argument("--out", help="append one JSON line per (net, start) here (default: print)")
    return p


def check_args(args: argparse.Namespace) -> None:
    """Raise ValueError naming the first bad option, its value and what it allows."""
    if not pathlib.Path(args.npz).is_file():
        raise ValueError(f"--npz {args.npz}: no such file.")
    code = pathlib.Path(args.code)
    if not (code / "keras_glorot").is_dir() or not (code / "examples").is_dir():
        raise ValueError(f"--code {args.code}: not a checkout of keras-glorot (it needs "
                         "keras_glorot/ and examples/).")  # fmt: skip
    if args.seed < 0:
        raise ValueError(f"--seed {args.seed}: must be 0 or more.")


def weights_hash(model) -> str:
    """SHA-256 of every weight's bytes, in the model's order."""
    digest = hashlib.sha256()
    for variable in model.weights:
        digest.update(variable.path.encode() if hasattr(variable, "path") else b"")
        digest.update(variable.numpy().tobytes())
    return digest.hexdigest()[:16]


def commit_of(code: pathlib.Path) -> dict:
    def git(*command: str) -> str:
        return subprocess.run(["git", "-C", str(code), *command], capture_output=True,
                              text=True, check=False).stdout.strip()  # fmt: skip

    return {"git_commit": git("rev-parse", "HEAD"), "git_dirty": bool(git("status", "--porcelain"))}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_args(args)
    except ValueError as e:
        parser.exit(2, f"error: {e} (see --help)\n")
    code = pathlib.Path(args.code).resolve()
    # The checkout's own package and examples first, before any installed copy.
    sys.path[:0] = [str(code / "examples"), str(code)]
    import keras
    import nets
    import numpy as np

    import keras_glorot

    if not pathlib.Path(keras_glorot.__file__).resolve().is_relative_to(code):
        raise SystemExit(f"keras_glorot came from {keras_glorot.__file__}, not {code}")
    images = np.load(args.npz)
    source = commit_of(code)
    names = args.nets or list(nets.ZOO)
    for name in names:
        net = nets.ZOO[name]
        mean = std = None
        if getattr(net, "data", "cifar10") == "cifar10":
            x = images["x_train"][: net.recipe.train].astype("float32")
            mean, std = x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2)) + 1e-3
        sample = images["x_train"][:256].astype("float32")
        for start in args.starts or nets.starts_of(net):
            keras.utils.set_random_seed(args.seed)
            model = nets.build_zoo_net(net, mean, std, args.seed)
            nets.start(model, net, start, args.seed, sample)
            record = {"net": name, "start": start, "seed": args.seed,
                      "hash": weights_hash(model), **source}  # fmt: skip
            line = json.dumps(record)
            print(line, flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(line + "\n")
            keras.backend.clear_session()
    return 0


if __name__ == "__main__":
    sys.exit(main())
