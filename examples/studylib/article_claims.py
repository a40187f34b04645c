"""The article's nine tables as experiments: their cases, initializers and quoted claims.

``article_tables.py`` runs them and ``article_report.py`` reports them; this module only
says what each table is, so that both (and the command line, before any heavy import)
read one definition. Nets, initializers and losses are in ``nets/article.py``.
"""

from __future__ import annotations

import argparse
import pathlib
from dataclasses import dataclass, field

from .cli_args import NAMED_INITS

# Static lists (checked against nets.article by a test) so that nothing heavy is imported
# before the arguments are checked.
LAYER_NETS = ("mlp", "cnn5", "cnn11")
# The tables' own names, then every other name Keras or keras_glorot knows (cli_args).
TABLE_INITS = (
    "zeros", "random_normal", "random_uniform", "he_normal", "glorot_uniform", "glorot_normal",
    "glorot_gain", "article", "initialize", "lsuv",
)  # fmt: skip
INIT_NAMES = TABLE_INITS + tuple(n for n in NAMED_INITS if n not in TABLE_INITS)
LABELS = {
    "zeros": "zero",
    "random_normal": "random N(0, 0.05²)",
    "random_uniform": "random U(±0.05)",
    "he_normal": "He",
    "glorot_uniform": "Xavier (glorot_uniform)",
    "glorot_normal": "Xavier (glorot_normal)",
    "glorot_gain": "ours, glorot_gain",
    "article": "the article's formula",
    "initialize": "keras_glorot.initialize",
    "lsuv": "keras_glorot.lsuv",
    "others": "Keras' initializers by their name; keras_glorot's glorot_leaky, "
    "glorot_leaky_normal, glorot_leaky_uniform (slope 0.2)",
}
RANDOM, XAVIER, OURS = "random_normal", "glorot_uniform", "glorot_gain"


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
    subset, test_subset = args.subset, args.test_subset
    if table == 8:
        subset = min(subset or SMALL_SUBSET, SMALL_SUBSET)
        test_subset = min(test_subset or SMALL_TEST, SMALL_TEST)
    return argparse.Namespace(
        table=table, case=case, **options,
        subset=subset, test_subset=test_subset,
        epochs=args.epochs or spec.epochs, batch_size=args.batch_size,
        optimizer=args.optimizer, lr=args.lr, schedule=args.schedule, momentum=args.momentum,
        weight_decay=args.weight_decay, jit_compile=args.jit_compile, mixed_precision=False,
        # Not in the key (study.NON_RUN_OPTIONS):
        npz=args.npz, data_dir=args.data_dir,
        out=str(pathlib.Path(args.out) / f"table{table}" / case),
        inits=inits_of(args, table), seeds=args.seeds, verbose=args.verbose,
        target=args.target or spec.target, deterministic=args.deterministic,
        title=f"The article's table {table} ({spec.title}), case {case}: summary",
    )  # fmt: skip
