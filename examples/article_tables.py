"""The nine tables of a popular article on Xavier initialization, measured on CIFAR-10.

The article gives its tables without code, settings or error bars. This script runs each
table's experiments through the study machinery of ``cifar10_vgg.py`` (``study.py``): one
``model.fit`` per (initializer, seed), resumable ``runs.jsonl`` with the git commit, a
``summary.md`` (mean ± std, 95% CI) and ``curves.png`` per case, in
``OUT/tableN/CASE/``; then ``OUT/tableN/table.md`` puts the article's numbers next to ours,
with the table's own derived quantities (epochs or seconds to a target, loss at given
epochs, accuracy differences with a 95% interval), and ``OUT/tableN/table.png``.

Tables (nets, initializers and losses are defined in ``article_nets.py``):

1. Comparison of methods: zeros, random, He, Xavier, ours on the 5-layer CNN.
2. The article's variance formulas against ``Glorot(act)``, per activation, on the
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

    python examples/article_tables.py --table 9 --npz ../shared/data/cifar10.npz \\
        --subset 512 --epochs 1 --seeds 1 --out runs/article     # minutes on a CPU
    python examples/article_tables.py --table all --npz cifar10.npz --out runs/article

Sizes for a 2-core CPU (TensorFlow backend, the fastest there; estimates from measured
throughput on a loaded 2-core Xeon: cnn5 ~850 training img/s, the LSTM ~1,200, the MLP
faster, plus ~6 s per epoch to evaluate 10,000 test images)::

    T="python examples/article_tables.py --npz cifar10.npz --out runs/article --verbose 0"
    $T --table 1 --subset 10000 --epochs 15            # 21 runs, ~1.5 h
    $T --table 2 --subset 10000 --epochs 10 --seeds 2  # 48 runs, ~3 h
    $T --table 3 --subset 10000 --epochs 10            # 36 runs, ~1.5 h
    $T --table 4 --subset 10000 --epochs 10            # 24 runs, ~1 h
    $T --table 5 --subset 5000 --epochs 10 --seeds 2   # 24 runs, ~4 h (a GPU: full size)
    $T --table 6,7 --subset 10000 --epochs 15          # 27 runs, ~2 h (7 reads 6's runs)
    $T --table 8 --seeds 2                             # 6 runs of 500 epochs, ~1.5 h
    $T --table 9 --subset 10000 --epochs 15            # 36 runs, ~2.5 h

Every argument is checked before Keras or a backend is imported.
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

_HERE = str(pathlib.Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from cifar10_vgg import _seed_list  # noqa: E402  (argument parsing only, no Keras)

# Static lists (checked against article_nets by a test) so that nothing heavy is imported
# before the arguments are checked.
LAYER_NETS = ("mlp", "cnn5", "cnn11")
INIT_NAMES = (
    "zeros", "random_normal", "random_uniform", "he_normal", "glorot_uniform", "glorot_normal",
    "glorot_act", "article", "initialize", "lsuv",
)  # fmt: skip
LABELS = {
    "zeros": "zero",
    "random_normal": "random N(0, 0.05²)",
    "random_uniform": "random U(±0.05)",
    "he_normal": "He",
    "glorot_uniform": "Xavier (glorot_uniform)",
    "glorot_normal": "Xavier (glorot_normal)",
    "glorot_act": "ours, Glorot(act)",
    "article": "the article's formula",
    "initialize": "keras_glorot.initialize",
    "lsuv": "keras_glorot.lsuv",
}
RANDOM, XAVIER, OURS = "random_normal", "glorot_uniform", "glorot_act"


def _case(model="cnn5", activation="relu", loss="cce", hidden_layers=0, **extra) -> dict:
    """One case's options: every case has the same keys, so run keys compare alike."""
    return {
        "model": model,
        "activation": activation,
        "loss": loss,
        "hidden_layers": hidden_layers if model == "mlp" else 0,
        "batch_norm": extra.get("batch_norm", False),
        "width": extra.get("width", 1.0),
    }


@dataclass
class Table:
    """One of the article's tables: its cases, initializers, defaults and claims."""

    title: str
    cases: dict[str, dict]
    inits: tuple[str, ...]
    article: str
    epochs: int = 20
    target: float = 0.5  # test accuracy, for epochs/seconds to target
    runs_in: int | None = None  # a table that reads another table's runs (7 reads 6's)
    numbers: dict = field(default_factory=dict)


ACTS = ("sigmoid", "tanh", "relu", "leaky_relu")
MLP = _case("mlp", hidden_layers=3)
THREE_NETS = {"mlp": MLP, "cnn5": _case("cnn5"), "lstm": _case("lstm", activation="tanh")}
TABLES: dict[int, Table] = {
    1: Table(
        "Comparison of initialization methods",
        {"cnn5_relu": _case("cnn5")},
        ("zeros", RANDOM, "he_normal", XAVIER, "glorot_normal", OURS, "lsuv"),
        "zero: slow convergence, no gain; random: fast, moderate accuracy; He: fast, high "
        "accuracy; Xavier: faster, significant gain (no numbers, no setting).",
    ),
    2: Table(
        "Variance formulas per activation",
        {f"{net}_{act}": _case(net, act) for net in ("cnn5", "cnn11") for act in ACTS},
        ("article", OURS, XAVIER),
        "sigmoid/tanh Var = 1/(fan_in + fan_out); ReLU 2/(fan_in + fan_out); leaky ReLU "
        "2/((1 + a²) fan_in + fan_out) (docs/derivation.md: the ReLU and leaky ones halve the "
        "signal at every layer).",
    ),
    3: Table(
        "Training time against the number of layers",
        {f"mlp_{n}": _case("mlp", hidden_layers=n) for n in (1, 2, 3, 4)},
        (RANDOM, XAVIER, OURS),
        "seconds to train, 1/2/3/4 layers: random 180/500/980/1400 s, Xavier "
        "150/380/750/1000 s (hardware, data and stopping rule not stated).",
        numbers={RANDOM: (180, 500, 980, 1400), XAVIER: (150, 380, 750, 1000)},
    ),
    4: Table(
        "Loss functions",
        {
            f"mlp_{loss}": _case("mlp", hidden_layers=3, loss=loss)
            for loss in ("mse", "bce", "cce", "kl")
        },
        (RANDOM, XAVIER),
        "MSE, BCE and CCE are suitable for Xavier, KL divergence is not.",
    ),
    5: Table(
        "Deep architectures",
        {
            "vgg16_nobn": _case("vgg16", width=0.25),
            "vgg16_bn": _case("vgg16", width=0.25, batch_norm=True),
            "resnet50": _case("resnet50"),
            "inceptionv3": _case("inceptionv3"),
        },
        (RANDOM, XAVIER, OURS),
        "test accuracy without → with Xavier: VGG-16 78.2 → 82.6, ResNet-50 83.9 → 87.4, "
        "Inception-v3 80.5 → 84.1 (%).",
        epochs=30,
        numbers={"vgg16": (78.2, 82.6), "resnet50": (83.9, 87.4), "inceptionv3": (80.5, 84.1)},
    ),
    6: Table(
        "Training time of three kinds of net",
        THREE_NETS,
        (RANDOM, XAVIER, OURS),
        "Xavier trains MLPs, CNNs and LSTMs 25-40% faster than random initialization.",
        target=0.4,
    ),
    7: Table(
        "Accuracy gain of three kinds of net",
        THREE_NETS,
        (RANDOM, XAVIER, OURS),
        "accuracy improvement from Xavier over random: FFN +6.9, CNN +4.5, RNN +8.3 points.",
        target=0.4,
        runs_in=6,
        numbers={"mlp": 6.9, "cnn5": 4.5, "lstm": 8.3},
    ),
    8: Table(
        "Training loss at epochs 100, 200 and 500",
        {"mlp_1000": MLP},
        (RANDOM, XAVIER, OURS),
        "training loss at epochs 100/200/500: without Xavier 0.45/0.25/0.11, with Xavier "
        "0.20/0.12/0.05.",
        epochs=500,
        numbers={RANDOM: (0.45, 0.25, 0.11), XAVIER: (0.20, 0.12, 0.05)},
    ),
    9: Table(
        "Accuracy by activation",
        {f"cnn5_{act}": _case("cnn5", act) for act in ACTS},
        (RANDOM, XAVIER, OURS),
        "Xavier improves accuracy for sigmoid, tanh, ReLU and leaky ReLU (0.2) alike, by "
        "about 5 points each.",
    ),
}
SMALL_SUBSET = 1000  # Table 8's fixed training images (the first 1,000)
SMALL_TEST = 1000  # and the test images it evaluates on each epoch (the first 1,000)
CHECKPOINTS = (100, 200, 500)  # Table 8's epochs


def _table_list(value: str) -> list[int]:
    if value == "all":
        return list(TABLES)
    tokens = [t.strip() for t in value.split(",") if t.strip()]
    if not tokens or not all(t.isdigit() and int(t) in TABLES for t in tokens):
        raise argparse.ArgumentTypeError(f"{value!r}: give 1..9, a list such as 1,9, or all")
    return sorted({int(t) for t in tokens})


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
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
    d = p.add_argument_group("data")
    d.add_argument("--npz", metavar="PATH", help="offline cifar10 .npz (default: none, TFDS)")
    d.add_argument("--data-dir", metavar="DIR", help="a TFDS data directory (default: none)")
    d.add_argument(
        "--subset", type=int, metavar="N",
        help="the first N training images (default: none, all 50,000; Table 8 at most 1,000)",
    )  # fmt: skip
    s = p.add_argument_group("training")
    s.add_argument(
        "--epochs", type=int,
        help="epochs per run (default: none, each table's own: 20, Table 5 30, Table 8 500)",
    )  # fmt: skip
    s.add_argument("--seeds", nargs="+", default=["3"], help="a count N or a list (default: 3)")
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
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2, help="(default: 2)")
    return p


def check_args(args: argparse.Namespace) -> None:
    """Raise ValueError naming the first bad option, its value and what it allows."""
    args.seeds = _seed_list(args.seeds)
    for option, ok, allowed in (
        ("--epochs", args.epochs is None or args.epochs >= 1, "an integer >= 1"),
        ("--batch-size", args.batch_size >= 1, "an integer >= 1"),
        ("--subset", args.subset is None or args.subset >= 1, "an integer >= 1"),
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
    problem = first_problem(args)
    if problem:
        parser.error(problem)
    args.lr = args.lr or {"sgd": 0.01, "adam": 1e-3}[args.optimizer]
    return args


def inits_of(args: argparse.Namespace, table: int) -> list[str]:
    return list(args.inits or TABLES[table].inits)


def selected_cases(args: argparse.Namespace):
    """(table whose runs these are, case name, options) of every table asked for, once."""
    seen = set()
    for t in args.table:
        source = TABLES[t].runs_in or t
        for case, options in TABLES[source].cases.items():
            if (args.cases is None or case in args.cases) and (source, case) not in seen:
                seen.add((source, case))
                yield source, case, options


def case_args(args: argparse.Namespace, table: int, case: str, options: dict) -> argparse.Namespace:
    """The namespace study.py runs one case with. Only what the case computes enters its
    options (and so the resume key): table and case, the net, the training settings."""
    spec = TABLES[table]
    if options["model"] == "vgg16":
        options = {**options, "width": args.width}
    subset = args.subset
    if table == 8:
        subset = min(subset or SMALL_SUBSET, SMALL_SUBSET)
    return argparse.Namespace(
        table=table, case=case, **options,
        subset=subset, test_subset=SMALL_TEST if table == 8 else None,
        epochs=args.epochs or spec.epochs, batch_size=args.batch_size,
        optimizer=args.optimizer, lr=args.lr, schedule=args.schedule, momentum=args.momentum,
        weight_decay=args.weight_decay, jit_compile=args.jit_compile, mixed_precision=False,
        # Not in the key (study.NON_RUN_OPTIONS):
        npz=args.npz, data_dir=args.data_dir,
        out=str(pathlib.Path(args.out) / f"table{table}" / case),
        inits=inits_of(args, table), seeds=args.seeds, verbose=args.verbose,
        target=args.target or spec.target, deterministic=args.deterministic,
    )  # fmt: skip


# ---- the table reports: table.md and table.png from the cases' runs.jsonl ----------------


def table_runs(args: argparse.Namespace, table: int) -> dict[str, dict[str, list[dict]]]:
    """{case: {init: runs}} of this command's setting (same options, asked seeds) only."""
    import json

    import study
    from cifar10_report import read_runs

    source = TABLES[table].runs_in or table
    result = {}
    for src, case, options in selected_cases(args):
        if src != source:
            continue
        cargs = case_args(args, src, case, options)
        wanted = json.dumps(study.run_options(cargs), sort_keys=True)
        runs = [
            r
            for r in read_runs(pathlib.Path(cargs.out) / "runs.jsonl")
            if r["seed"] in args.seeds and json.dumps(r["options"], sort_keys=True) == wanted
        ]
        result[case] = {i: [r for r in runs if r["init"] == i] for i in inits_of(args, table)}
    return result


def interval(values) -> str:
    """'mean ± std [95% t-interval] (n)' of the finite values, or '–'."""
    import numpy as np
    from cifar10_report import t95

    v = np.array([x for x in values if x is not None and math.isfinite(x)], float)
    if not len(v):
        return "–"
    if len(v) == 1:
        return f"{v[0]:.4g} (n=1)"
    sd = v.std(ddof=1)
    half = t95(len(v) - 1) * sd / math.sqrt(len(v))
    return f"{v.mean():.4g} ± {sd:.2g} [{v.mean() - half:.4g}, {v.mean() + half:.4g}] (n={len(v)})"


def final_accuracy(run: dict) -> float | None:
    acc = run.get("final_test_accuracy")
    return None if acc is None else 100 * acc


def first_epoch(values: list, reached) -> int | None:
    """First epoch (1-based) whose value satisfies ``reached``; None if none does."""
    return next((i + 1 for i, v in enumerate(values) if v is not None and reached(v)), None)


def seconds_to(run: dict, epoch: int | None) -> float | None:
    """Training seconds (evaluation excluded, compilation included) up to ``epoch``."""
    return None if epoch is None else sum(run["train_seconds_per_epoch"][:epoch])


def paired(a_runs: list[dict], b_runs: list[dict], value) -> str:
    """value(a) - value(b) over the seeds both have (same seed: same data order)."""
    b = {r["seed"]: value(r) for r in b_runs}
    return interval(
        value(r) - b[r["seed"]]
        for r in a_runs
        if r["seed"] in b and None not in (value(r), b[r["seed"]])
    )


def _diff_lines(runs, pairs, what="final test accuracy, points") -> list[str]:
    """Paired differences of final accuracy, one row per case, one column per pair."""
    lines = [f"Differences in {what}, paired by seed: mean ± std [95% t-interval].", ""]
    lines += ["| case | " + " | ".join(f"{a} − {b}" for a, b in pairs) + " |"]
    lines += ["|---|" + "---|" * len(pairs)]
    for case, by_init in runs.items():
        cells = [
            paired(by_init[a], by_init[b], final_accuracy) if a in by_init and b in by_init else "–"
            for a, b in pairs
        ]
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    return lines + [""]


def _time_lines(args, table, runs, reached, what) -> list[str]:
    """Epochs and training seconds until ``reached`` by the curve ``what``."""
    numbers = TABLES[table].numbers
    lines = [
        f"| case | init | epochs to {what} | training s to {what} | wall s per run | article s |",
        "|---|---|---|---|---|---|",
    ]
    for case, by_init in runs.items():
        k = TABLES[table].cases[case]["hidden_layers"] - 1  # Table 3's column, by depth
        for init, rs in by_init.items():
            epochs = [reached(r) for r in rs]
            hits = f"{sum(e is not None for e in epochs)}/{len(rs)} reached"
            article = numbers.get(init, ())[k : k + 1] if k >= 0 else ()
            lines.append(
                f"| {case} | `{init}` | {interval(epochs)}, {hits} "
                f"| {interval(seconds_to(r, e) for r, e in zip(rs, epochs, strict=True))} "
                f"| {interval(r['wall_seconds'] for r in rs)} | {article[0] if article else '–'} |"
            )
    return lines + [""]


def _speedup_lines(runs, target: float) -> list[str]:
    """Table 6: 1 - t(init) / t(random), mean training seconds to the target accuracy."""
    from cifar10_report import epochs_to_target

    def mean_seconds(rs):
        s = [seconds_to(r, epochs_to_target(r, target)) for r in rs]
        s = [x for x in s if x is not None]
        return sum(s) / len(s) if s and len(s) == len(rs) else None

    lines = ["Time saved against random (all runs of both must reach the target):", ""]
    for case, by_init in runs.items():
        base = mean_seconds(by_init.get(RANDOM, []))
        for init in (XAVIER, OURS):
            t = mean_seconds(by_init.get(init, []))
            saved = "–" if None in (base, t) else f"{100 * (1 - t / base):.0f}%"
            lines.append(f"- {case}, `{init}`: {saved} (article: 25-40%)")
    return lines + [""]


def _kl_lines(runs) -> list[str]:
    kl, cce = runs.get("mlp_kl"), runs.get("mlp_cce")
    if not kl or not cce:
        return []
    lines = [
        "KL against CCE: with one-hot targets KL(y‖p) = −log p_true = CCE (Keras clips y at "
        "1e-7, a constant below 1e-5). Same init and seed, so the same start and data order:",
        "",
        "| init | seeds | max over epochs of |train loss KL − CCE| | final acc KL − CCE, points |",
        "|---|---|---|---|",
    ]
    for init in kl:
        c = {r["seed"]: r for r in cce.get(init, [])}
        both = [(r, c[r["seed"]]) for r in kl[init] if r["seed"] in c]
        gaps = [
            max(abs(x - y) for x, y in zip(a["train_loss"], b["train_loss"], strict=False))
            for a, b in both
            if a["train_loss"] and b["train_loss"]
        ]
        gap = f"{max(gaps):.3g}" if gaps else "–"
        lines.append(
            f"| `{init}` | {len(both)} | {gap} "
            f"| {paired(kl[init], cce.get(init, []), final_accuracy)} |"
        )
    return lines + [""]


def _loss_at_lines(args, table, runs) -> list[str]:
    epochs = args.epochs or TABLES[table].epochs
    at = sorted({min(e, epochs) for e in CHECKPOINTS})
    numbers = TABLES[table].numbers
    lines = [
        "Training loss (mean over the epoch) at epochs " + ", ".join(map(str, at))
        + ("" if at == list(CHECKPOINTS) else f" (runs of {epochs} epochs: the article's "
           "later epochs are not reached)") + ".",
        "",
        "| case | init | " + " | ".join(f"loss at {e}" for e in at) + " | article 100/200/500 |",
        "|---|---|" + "---|" * len(at) + "---|",
    ]  # fmt: skip
    for case, by_init in runs.items():
        for init, rs in by_init.items():
            cells = [
                interval(r["train_loss"][e - 1] for r in rs if len(r["train_loss"]) >= e)
                for e in at
            ]
            article = "/".join(map(str, numbers.get(init, ()))) or "–"
            lines.append(f"| {case} | `{init}` | " + " | ".join(cells) + f" | {article} |")
    return lines + [""]


def table_markdown(args: argparse.Namespace, table: int) -> str:
    """table.md: the article's claim, our runs per case and init, the derived quantities."""
    from cifar10_report import epochs_to_target, init_row

    spec, runs = TABLES[table], table_runs(args, table)
    target = args.target or spec.target
    source = spec.runs_in or table
    every = [r for by_init in runs.values() for rs in by_init.values() for r in rs]
    first = every[0] if every else {"options": {}}
    opts = first["options"]
    lines = [
        f"# Table {table}: {spec.title}",
        "",
        f"**The article:** {spec.article}",
        "",
        f"**Ours:** {len(every)} runs in `table{source}/CASE/runs.jsonl`"
        + (f" (the runs of Table {source})" if source != table else "")
        + f"; backend {first.get('backend', '?')}, device {first.get('device', '?')}; "
        f"{opts.get('epochs', '?')} epochs, {first.get('n_train', '?')} training and "
        f"{first.get('n_test', '?')} test images, seeds {args.seeds}, {opts.get('optimizer')} "
        f"lr {opts.get('lr')} ({opts.get('schedule')}), batch {opts.get('batch_size')}. "
        "Nets and initializers: examples/article_nets.py.",
        "",
        "Final test accuracy in %: mean ± sample std over seeds and the 95% t-interval of "
        f"the mean; epochs to {100 * target:g}% test accuracy: median (runs that reached it).",
        "",
        f"| case | init | runs | final test acc % | 95% CI | epochs to {100 * target:g}% "
        "| diverged | wall s/run | img/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for case, by_init in runs.items():
        lines += [f"| {case} " + init_row(i, rs, target) for i, rs in by_init.items() if rs]
    lines.append("")
    inits = inits_of(args, table)
    pairs = [(a, b) for a, b in ((XAVIER, RANDOM), (OURS, RANDOM), (OURS, XAVIER))
             if a in inits and b in inits]  # fmt: skip
    if table == 2:
        pairs = [(a, "article") for a in (OURS, XAVIER) if a in inits and "article" in inits]
    if table == 3:
        lines += [f"Training loss ≤ {args.loss_target:g} (--loss-target):", ""]
        below = args.loss_target
        lines += _time_lines(
            args,
            table,
            runs,
            lambda r: first_epoch(r["train_loss"], lambda v: v <= below),
            f"loss ≤ {below:g}",
        )
    if table == 4:
        lines += _kl_lines(runs)
    if table == 6:
        lines += [f"Test accuracy ≥ {100 * target:g}%; article: 25-40% less time with Xavier.", ""]
        lines += _time_lines(args, table, runs, lambda r: epochs_to_target(r, target),
                             f"{100 * target:g}% test acc")  # fmt: skip
        lines += _speedup_lines(runs, target)
    if table == 7:
        lines += ["Article (Xavier − random, points): " + ", ".join(
            f"{k} +{v}" for k, v in spec.numbers.items()) + ".", ""]  # fmt: skip
    if table == 8:
        lines += _loss_at_lines(args, table, runs)
    if table in (2, 5, 7, 9) and pairs:
        lines += _diff_lines(runs, pairs)
    return "\n".join(lines)


def plot_table(args: argparse.Namespace, table: int, path: pathlib.Path) -> bool:
    """table.png: training loss against epoch per case, mean over seeds per init."""
    try:
        import matplotlib
    except ImportError:
        return False
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = table_runs(args, table)
    fig, axes = plt.subplots(1, max(1, len(runs)), figsize=(4 * max(1, len(runs)), 3))
    for ax, (case, by_init) in zip(np.atleast_1d(axes), runs.items(), strict=False):
        for init, rs in by_init.items():
            curves = [r["train_loss"] for r in rs if r["train_loss"]]
            if not curves:
                continue
            n = min(map(len, curves))
            ax.plot(
                np.arange(1, n + 1),
                np.mean([c[:n] for c in curves], axis=0),
                marker="o" if n < 30 else None,
                label=f"{init} (n={len(curves)})",
            )
        ax.set(title=f"Table {table}: {case}", xlabel="epoch", ylabel="training loss")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def write_table(args: argparse.Namespace, table: int) -> pathlib.Path:
    folder = pathlib.Path(args.out) / f"table{table}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "table.md").write_text(table_markdown(args, table))
    plot_table(args, table, folder / "table.png")
    return folder / "table.md"


def main(argv: Sequence[str] | None = None) -> int:
    """Run every asked table's cases, then write each table's table.md and table.png."""
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import article_nets
    import cifar10_data
    import study

    try:
        data = cifar10_data.load_data(args.npz, args.data_dir, args.subset)
    except cifar10_data.DataError as e:
        print(f"error: {e}", file=sys.stderr)
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
        study.run_study(cargs, case_data, article_nets.build_for_run)
    for t in args.table:
        path = write_table(args, t)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
