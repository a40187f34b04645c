"""Does the code as it stands draw what a zoo row's commit drew? A hash of every weight of
each zoo net after each of its starts, at one seed, from the code of a given checkout.

Run it once on a checkout of the commit a row was trained at and once on the current one;
where the two hashes of a (net, start) agree, the row's runs are runs of today's code (the
same weights, the same data order: the training that follows is the same program).
The net is built as ``zoo.py`` builds it (``keras.utils.set_random_seed(seed)``, the
normalization's mean and std from the recipe's training images, 256 of them for ``lsuv``).
``--independence`` also checks that Keras' build-time draws look like independent draws of
its law (``independence``).

Examples::

    python examples/zoo_draws.py --npz cifar10.npz --nets mlp3 vit
    python examples/zoo_draws.py --npz cifar10.npz --nets mobilenetv2 --starts keras --independence
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
    p.add_argument(
        "--corpus", action="store_true",
        help="also hash each model of the test corpus (nets.keras_io: Keras' own examples) "
        "after initialize(model, seed=--seed), built as tests/test_corpus.py builds it",
    )  # fmt: skip
    p.add_argument(
        "--independence", action="store_true",
        help="also check that the start's Glorot-uniform kernels look like independent draws "
        "of Keras' law: no kernel repeats or correlates with another of its size, no two "
        "share values (as two draws from one random stream would), each std near the law's",
    )  # fmt: skip
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


def independence(model) -> dict:
    """For the model's kernels, drawn by Keras' ``glorot_uniform``: the pairs of equal
    kernels, the largest |correlation| between two kernels of the same size (one chance
    standard deviation is about 1/sqrt(size)), the pairs that share more values (rounded
    to 1e-5 of the law's bound) than chance would give, and the smallest and largest
    std over the law's, sqrt(2 / (fan_in + fan_out)) with Keras' fans."""
    import numpy as np
    from keras.src.initializers.random_initializers import compute_fans

    kernels = []
    for v in model.weights:
        if "kernel" not in v.name or len(v.shape) < 2:
            continue
        fan_in, fan_out = compute_fans(tuple(v.shape))
        bound = (6 / (fan_in + fan_out)) ** 0.5
        values = v.numpy().ravel().astype("float64")
        kernels.append((v.path, values, set(np.round(values / bound, 5).tolist()), bound))
    equal, shared, worst = 0, [], (0.0, None)
    for i, (path_a, a, set_a, _) in enumerate(kernels):
        for path_b, b, set_b, _ in kernels[i + 1 :]:
            if a.size == b.size:
                equal += bool(np.array_equal(a, b))
                r = abs(float(np.corrcoef(a, b)[0, 1]))
                if r > worst[0]:
                    worst = (r, f"{path_a} ~ {path_b} ({a.size} values)")
            # Values on a grid of 2e5 points: chance shares about |A| |B| / 2e5 of them.
            expected = len(set_a) * len(set_b) / 2e5
            if len(set_a & set_b) > 5 * expected + 20:
                shared.append(f"{path_a} ~ {path_b}")
    ratios = [values.std() / (bound / 3**0.5) for _, values, _, bound in kernels]
    return {"kernels": len(kernels), "equal_pairs": equal, "max_abs_corr": round(worst[0], 4),
            "max_corr_pair": worst[1], "sharing_pairs": shared,
            "std_over_law": [round(min(ratios), 4), round(max(ratios), 4)]}  # fmt: skip


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

    def write(record: dict) -> None:
        line = json.dumps(record)
        print(line, flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(line + "\n")

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
            if args.independence:
                record["independence"] = independence(model)
            write(record)
            keras.backend.clear_session()
    if args.corpus:
        import warnings

        from nets.keras_io import CORPUS

        for name, build in CORPUS.items():
            keras.utils.set_random_seed(args.seed)
            model = build().model
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the fallbacks are the tests' business
                keras_glorot.initialize(model, seed=args.seed)
            write({"net": f"corpus:{name}", "start": "initialize", "seed": args.seed,
                   "hash": weights_hash(model), **source})  # fmt: skip
            keras.backend.clear_session()
    return 0


if __name__ == "__main__":
    sys.exit(main())
