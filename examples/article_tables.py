"""The nine tables of the web article "Neural Network Xavier Initialization", on CIFAR-10.

The article gives its tables without code, settings or error bars. This script runs each
table's experiments through the study machinery of ``cifar10_vgg.py`` (``studylib/study.py``): one
``model.fit`` per (initializer, seed), resumable ``runs.jsonl`` with the git commit, a
``summary.md`` (mean ± std, 95% CI) and ``curves.png`` per case, in
``OUT/tableN/CASE/``; then ``OUT/tableN/table.md`` puts the article's numbers next to ours,
with the table's own derived quantities (epochs or seconds to a target, loss at given
epochs, accuracy differences with a 95% interval), and ``OUT/tableN/table.png``.

Tables (nets, initializers and losses are defined in ``nets/article.py``):

1. Comparison of methods: zeros, random, He, Xavier, ours on the 5-layer CNN.
2. The article's variance formulas against ``glorot_gain``, per activation, on the
   5-layer CNN and an 11-layer plain CNN.
3. Training time against depth: MLPs with 1-4 hidden layers, time and epochs to a
   training-loss target.
4. Loss functions: MSE, BCE, CCE, KL on the MLP; KL against CCE.
5. VGG-16 (with and without BN), ResNet-50, Inception-v3: random, Xavier, ours.
6. Training time of an MLP, the 5-layer CNN and a 2-layer LSTM: time to a target accuracy.
7. The same runs as Table 6: the accuracy gain of Xavier over random, with an interval.
8. Training loss at epochs 100, 200, 500 of the MLP on a fixed 1,000-image subset.
9. Accuracy by activation (sigmoid, tanh, ReLU, leaky ReLU 0.2) on the 5-layer CNN.

Examples::

    python examples/article_tables.py --table 9 --npz cifar10.npz \\
        --subset 512 --epochs 1 --seeds 1 --out runs/article     # minutes on a CPU
    python examples/article_tables.py --table all --npz cifar10.npz --out runs/article

Sizes for a 2-core CPU (TensorFlow backend, the fastest there). Times marked "measured" are
those of docs/article.md's runs on a 2-core Xeon; the others are estimates from throughput
(cnn5 ~1,400 training img/s, the MLP ~9,000, the LSTM ~1,200, plus the evaluation of the
test images after every epoch, ~40% of a cnn5 epoch)::

    T="python examples/article_tables.py --npz cifar10.npz --out runs/article --verbose 0"
    $T --table 1 --subset 10000 --epochs 15            # 21 runs, 1 h (measured)
    $T --table 2 --subset 10000 --epochs 10 --seeds 2  # 48 runs, ~1.5 h
    $T --table 3 --subset 10000 --epochs 10            # 36 runs, 11 min (measured)
    $T --table 4 --subset 10000 --epochs 10            # 24 runs, 8 min (measured)
    $T --table 5 --subset 5000 --test-subset 2000 --epochs 10 --seeds 2
                                # 24 runs, ~3 h (measured): a VGG-16 run 1-1.5 min,
                                # ResNet-50 11-16 min, Inception-v3 about 12 min
                                # (66 s an epoch) (a GPU: full size)
    $T --table 6,7 --subset 10000 --epochs 15          # 27 runs, ~1 h (7 reads 6's runs)
    $T --table 8 --seeds 2                             # 6 runs of 500 epochs, 14 min (measured)
    $T --table 9 --subset 10000 --epochs 15            # 36 runs, 1.5 h (measured)

Table 5's Inception-v3 (at 75x75) needs roughly 15 times the multiply-adds of a width-1/4
VGG-16 per image, so that table evaluates on 2,000 test images (``--test-subset``): a
standard error of about 1.1 points per run at 55% accuracy, against 0.5 with all 10,000.

Every argument is checked before Keras or a backend is imported.
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
_HERE = str(pathlib.Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from studylib.article_claims import (  # noqa: E402
    INIT_NAMES,
    LABELS,
    LAYER_NETS,
    TABLES,
    case_args,
    inits_of,
    selected_cases,
)
from studylib.article_report import (  # noqa: E402, F401  (the reports' helpers, for importers)
    final_accuracy,
    first_epoch,
    interval,
    paired,
    seconds_to,
    write_table,
)
from studylib.cli_args import (  # noqa: E402
    Parser,
    add_data_arguments,
    add_seed_arguments,
    add_verbose_argument,
    backend_problem,
    resolve_seeds,
)


def _table_list(value: str) -> list[int]:
    if value == "all":
        return list(TABLES)
    tokens = [t.strip() for t in value.split(",") if t.strip()]
    if not tokens or not all(t.isdigit() and int(t) in TABLES for t in tokens):
        raise argparse.ArgumentTypeError(f"{value!r}: give 1..9, a list such as 1,9, or all")
    return sorted({int(t) for t in tokens})


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Runs resume: rerunning a command skips the (table, case, init, seed) runs "
        "already in OUT/tableN/CASE/runs.jsonl. Initializers: "
        + "; ".join(f"{k}: {v}" for k, v in LABELS.items())
        + ".",
    )
    p.add_argument(
        "--table", required=True, type=_table_list, help="1..9, a list such as 1,9, or all"
    )
    p.add_argument(
        "--cases", nargs="+", metavar="CASE",
        help="only these cases of the table(s) (default: all), e.g. cnn5_relu mlp_2",
    )  # fmt: skip
    p.add_argument(
        "--inits",
        nargs="+",
        metavar="NAME",
        help=f"initializers (default: none, each table's own); of {', '.join(INIT_NAMES)}",
    )
    add_data_arguments(p, "all 50,000; Table 8 at most 1,000", "all 10,000; Table 8 at most 1,000")
    s = p.add_argument_group("training")
    s.add_argument(
        "--epochs", type=int,
        help="epochs per run (default: none, each table's own: 20, Table 5 30, Table 8 500)",
    )  # fmt: skip
    add_seed_arguments(s)
    s.add_argument("--batch-size", type=int, default=128, help="(default: %(default)s)")
    s.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd", help="(default: sgd)")
    s.add_argument("--lr", type=float, help="(default: 0.01 for sgd, 1e-3 for adam)")
    s.add_argument(
        "--schedule", choices=("constant", "cosine", "onecycle"), default="constant",
        help="(default: %(default)s)",
    )  # fmt: skip
    s.add_argument("--momentum", type=float, default=0.9, help="(default: %(default)s)")
    s.add_argument("--weight-decay", type=float, default=0.0, help="(default: %(default)s)")
    s.add_argument(
        "--width", type=float, default=0.25,
        help="Table 5's VGG-16 channel multiplier (default: %(default)s: 16..128 channels)",
    )  # fmt: skip
    s.add_argument(
        "--jit-compile",
        choices=("auto", "true", "false"),
        default="auto",
        help="model.compile's jit_compile (default: %(default)s)",
    )
    s.add_argument("--deterministic", action="store_true", help="(default: off)")
    r = p.add_argument_group("report")
    r.add_argument(
        "--target", type=float,
        help="test accuracy in (0, 1] for epochs/seconds to target (default: none, "
        "the table's: 0.5, Tables 6 and 7 0.4)",
    )  # fmt: skip
    r.add_argument(
        "--loss-target", type=float, default=1.5,
        help="Table 3's training-loss target, > 0 (default: %(default)s)",
    )  # fmt: skip
    p.add_argument("--out", default="runs/article_tables", help="(default: %(default)s)")
    add_verbose_argument(p, terminal=2)
    return p


def check_args(args: argparse.Namespace) -> None:
    """Raise ValueError naming the first bad option, its value and what it allows."""
    resolve_seeds(args)
    for option, ok, allowed in (
        ("--epochs", args.epochs is None or args.epochs >= 1, "an integer >= 1"),
        ("--batch-size", args.batch_size >= 1, "an integer >= 1"),
        ("--subset", args.subset is None or args.subset >= 1, "an integer >= 1"),
        ("--test-subset", args.test_subset is None or args.test_subset >= 1, "an integer >= 1"),
        ("--lr", args.lr is None or (math.isfinite(args.lr) and args.lr > 0), "> 0"),
        ("--momentum", 0 <= args.momentum < 1, "in [0, 1)"),
        ("--weight-decay", args.weight_decay >= 0, ">= 0"),
        ("--width", math.isfinite(args.width) and args.width > 0, "> 0"),
        ("--target", args.target is None or 0 < args.target <= 1, "in (0, 1]"),
        ("--loss-target", math.isfinite(args.loss_target) and args.loss_target > 0, "> 0"),
    ):
        if not ok:
            value = getattr(args, option[2:].replace("-", "_"))
            raise ValueError(f"{option} {value}: must be {allowed}.")
    known = {c for t in args.table for c in TABLES[t].cases}
    for case in args.cases or ():
        if case not in known:
            raise ValueError(
                f"--cases {case}: not a case of table(s) {args.table}: {sorted(known)}."
            )
    for name in args.inits or ():
        if name not in INIT_NAMES:
            raise ValueError(f"--inits {name}: unknown; use one of {', '.join(INIT_NAMES)}.")
    if args.inits and len(set(args.inits)) != len(args.inits):
        raise ValueError(f"--inits {' '.join(args.inits)}: give each initializer once.")
    for table, case, options in selected_cases(args):
        for init in inits_of(args, table):
            if init == "article" and options["model"] not in LAYER_NETS:
                raise ValueError(
                    f"--inits article: Table {table} case {case} ({options['model']}) has "
                    f"layers this script does not draw one by one; article needs {LAYER_NETS}."
                )
    if args.npz and not pathlib.Path(args.npz).is_file():
        raise ValueError(f"--npz {args.npz}: no such file.")


def first_problem(args: argparse.Namespace) -> str | None:
    """check_args' message, or None when every option is fine."""
    try:
        check_args(args)
    except ValueError as e:
        return str(e)
    return None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check; nothing here imports Keras, a backend or NumPy. A bad value exits
    with code 2 and a message naming its option."""
    parser = build_parser()
    args = parser.parse_args(argv)
    problem = first_problem(args) or backend_problem()
    if problem:
        parser.error(problem)
    args.lr = args.lr or {"sgd": 0.01, "adam": 1e-3}[args.optimizer]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run every asked table's cases, then write each table's table.md and table.png."""
    args = parse_args(argv)
    from nets import article
    from studylib import cifar10_data, study

    try:
        data = cifar10_data.load_data(args.npz, args.data_dir, args.subset)
    except cifar10_data.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    held = len(data["x_test"])
    if args.test_subset and args.test_subset > held:  # refused, not cut silently
        print(f"error: --test-subset {args.test_subset}: the data holds {held:,} test "
              f"images; pass --test-subset {held} or less.", file=sys.stderr)  # fmt: skip
        return 2
    for table, case, options in selected_cases(args):
        cargs = case_args(args, table, case, options)
        case_data = dict(data)
        if cargs.subset:
            case_data["x_train"], case_data["y_train"] = (
                data["x_train"][: cargs.subset], data["y_train"][: cargs.subset],
            )  # fmt: skip
        if cargs.test_subset:
            case_data["x_test"] = data["x_test"][: cargs.test_subset]
            case_data["y_test"] = data["y_test"][: cargs.test_subset]
        print(f"== table {table}, case {case}: {cargs.out}", flush=True)
        study.run_study(cargs, case_data, article.build_for_run)
    for t in args.table:
        path = write_table(args, t)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
