"""Does the signal survive depth? Activation and gradient std through deep nets, per initializer.

Builds deep MLPs (Dense) and plain CNNs (3x3 Conv2D, same padding, no pooling),
each layer followed by one activation, initializes them in several ways, runs one
forward and one backward pass on a batch (``keras_glorot.signal_report``: loss =
mean squared output) and prints Markdown tables: the last/first-layer ratio of the
activation std, a word for each (kept, drifts, vanishes, explodes), and the last/first-layer
ratio of the kernel-gradient std. A ratio near 1 means the signal neither vanishes nor
explodes with depth. A note explains each kind of alarming cell, and the output ends with
two lines: what ``initialize()`` did for each activation.

Initializers compared:

- ``glorot_uniform``, ``he_normal``, ``lecun_normal``: Keras' built-ins.
- ``article``: the variances the web article "Neural Network Xavier Initialization"
  proposes, 2 / ((1 + a^2) fan_in + fan_out) for leaky ReLU and 2 / (fan_in + fan_out)
  for ReLU, written as a per-layer ``keras.initializers.VarianceScaling`` (see
  ``keras_glorot/initializers.py`` for why they are wrong).
- ``glorot_gain``: ``keras_glorot.Glorot`` with the layer's activation.
- ``initialize``: ``keras_glorot.initialize(model)`` on the glorot_uniform model.
- ``lsuv``: ``keras_glorot.lsuv(model, x)`` (orthonormal + unit-variance rescaling).

Examples::

    python examples/signal_propagation.py                # MLPs on random data, < 1 min
    python examples/signal_propagation.py --arch mlp cnn --depth 50 \\
        --npz cifar10.npz --plot-dir docs/img
    python examples/signal_propagation.py --inits he_normal initialize lsuv

The arguments are checked before Keras is imported; ``studylib/signal_measure.py`` does the work.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import textwrap
import time

# Before anything can import TensorFlow; set it yourself to see them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no TensorFlow C++ info/warning lines
# The measuring module lives next to this file; make it importable however this is run.
_HERE = str(pathlib.Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from studylib.cli_args import NAMED_INITS, Parser, backend_problem  # noqa: E402  (no Keras)

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "gelu", "selu")
# The spelling of the whole-model tools is the one cifar10_vgg.py uses: initialize, lsuv.
INITS = (
    "glorot_uniform",
    "he_normal",
    "lecun_normal",
    "article",
    "glorot_gain",
    "initialize",
    "lsuv",
)
# Accepted too, one column each: every other name of Keras or keras_glorot.
MORE_INITS = tuple(n for n in NAMED_INITS if n not in INITS)
MIN_DEPTH = 2  # the tables divide the last layer's std by the first's
# How far from 1 the activation ratio of a whole net may be and still count as kept. At
# finite width even the right gain drifts a few percent per layer (the log of the signal's
# size takes a random walk with a downward drift: He/glorot_gain ReLU MLPs of width 128 end
# at 0.3-0.5 after 30 layers), so within a factor 3 (4% per layer at depth 30) the signal
# is kept; within a factor 10 (8% per layer) it drifts, as GELU's 4 to 6 do (its moment
# gain is an unstable fixed point, 14% per layer near it: a drift, not a blow-up); beyond,
# it vanishes or explodes, as the wrong gain's 0.5 per layer (1e-5 at depth 30) does.
KEPT, DRIFT = 3.0, 10.0
HOW_TO_READ = (
    "How to read the tables: each cell is the std of the last layer's output (or kernel "
    "gradient) divided by the same std at the first layer, for one freshly initialized "
    f"network. Activations: 1 means the signal keeps its size through the depth; within "
    f"1/{KEPT:g}..{KEPT:g} it is kept, within 1/{DRIFT:g}..{DRIFT:g} it drifts (a few percent "
    f"per layer), below 1/{DRIFT:g} it vanishes (0.01: 100 times smaller), above {DRIFT:g} it "
    "explodes; the 'at a glance' table says which, per start. Gradients flow backwards: "
    "above 1 the first layers' gradients are the smaller ones (they vanish on the way back), "
    "below 1 they grow on the way back. For relu and leaky_relu the gradient ratio sits near "
    "2 whatever the start, so it cannot tell the starts apart. A kernel's gradient is its "
    "input times the error flowing back to it: a start that shrinks the signal forward "
    "grows the error backward by the same factor, so "
    "the product is flat in depth. The 2 is the first kernel's input: the zero-mean data, "
    "while every later kernel reads a rectifier's output, which is never negative (fed "
    "rectified data, the ratio is about 1). Read the activation ratios for rectifiers. "
    "Columns: glorot_uniform, he_normal and lecun_normal are Keras' initializers; article is "
    'the variance the web article "Neural Network Xavier Initialization" proposes, '
    "1 / (fan_in + fan_out) for sigmoid and tanh, 2 / ((1 + a^2) fan_in + fan_out) for "
    "leaky ReLU and 2 / (fan_in + fan_out) for ReLU (n/a for other activations); "
    "glorot_gain is keras_glorot.Glorot with the row's activation; initialize and lsuv are "
    "keras_glorot.initialize(model) and keras_glorot.lsuv(model, x) applied to the "
    "glorot_uniform network. With --seeds N > 1 a cell is the median [min, max] over the seeds."
)


LEGEND = (
    "Each cell: a layer's std at the last of {depth} layers over the same std at the first, "
    "for one freshly initialized net per start (1 = kept). Columns: Keras' initializers, the "
    "article's variances, keras_glorot's Glorot (glorot_gain), initialize() and lsuv(); --help "
    "says more."
)


def glance(ratio: float) -> str:
    """The word for one activation ratio (see ``KEPT``, ``DRIFT``)."""
    if not ratio == ratio:  # nan
        return "n/a"
    if 1 / KEPT <= ratio <= KEPT:
        return "kept"
    if 1 / DRIFT <= ratio <= DRIFT:
        return "drifts up" if ratio > 1 else "drifts down"
    return "explodes" if ratio > DRIFT else "vanishes"


def glance_table(results: dict, arch: str, activations, inits) -> str:
    """Per activation and start, the word for the median activation ratio over seeds."""
    import statistics

    lines = ["| activation | " + " | ".join(inits) + " |", "|---|" + "---|" * len(inits)]
    for act in activations:
        cells = []
        for init in inits:
            reps = results.get((arch, act, init))
            if reps is None:
                cells.append("n/a")
                continue
            word = glance(statistics.median(r.activation_ratio for r in reps))
            cells.append(f"**{word}**" if word == "kept" else word)
        lines.append(f"| {act} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _median_ratio(results: dict, arch: str, act: str, init: str) -> float | None:
    import statistics

    reps = results.get((arch, act, init))
    return None if reps is None else statistics.median(r.activation_ratio for r in reps)


def _backward_shrink(report) -> float:
    """How many times smaller the error gets per layer on its way back, measured from the
    kernel gradients of the second and the last layer (their inputs are both activations
    of the same kind, so their ratio is the error's)."""
    grads = [g for g in report.gradient_std if g is not None]
    return (grads[-1] / grads[1]) ** (1 / (len(grads) - 2))


def notes(results: dict, arch: str, activations, inits) -> list[str]:
    """A line for each kind of cell that looks alarming, saying where it comes from."""
    import keras_glorot

    lines = []
    if {"relu", "leaky_relu"} & set(activations):
        lines.append(
            "- relu, leaky_relu: gradient ratio about 2 at every start (input times error stays "
            "flat)."
        )
    sigmoid = [r for i in inits for r in results.get((arch, "sigmoid", i), [])]
    if sigmoid and len(sigmoid[0].gradient_std) > 2:
        shrink = [_backward_shrink(r) for r in sigmoid]
        lines.append(
            f"- sigmoid: σ' ≤ 1/4 shrinks the error {min(shrink):.1f}-{max(shrink):.1f}x per "
            "layer back at every start; σ's mean 1/2 holds the moment gain at "
            f"{keras_glorot.calculate_gain('sigmoid'):.2f}."
        )
    tools = [t for t in ("glorot_gain", "initialize") if t in inits]
    gelu = [_median_ratio(results, arch, "gelu", t) for t in tools]
    if any(r is not None and glance(r) != "kept" for r in gelu):
        lines.append(
            f"- gelu: its gain {keras_glorot.calculate_gain('gelu'):.2f} holds E[gelu²] at an "
            "unstable point (+14% per layer near it), and the first kernel, which reads the data "
            "(E[x²] = 1, not 0.43), starts off it: the signal drifts."
        )
    return lines


def bottom_line(results: dict, arch: str, activations, inits) -> list[str]:
    """Two lines: what initialize() did for each activation, against Keras' default, and
    where it did not keep the signal, what lsuv() did."""
    if "initialize" not in inits:
        return []
    words = {a: glance(_median_ratio(results, arch, a, "initialize")) for a in activations}
    kept = [a for a in activations if words[a] == "kept"]
    first = f"Bottom line, {arch.upper()}: initialize() kept " + (", ".join(kept) or "nothing")
    if "glorot_uniform" in inits:
        lost = [
            a for a in kept if glance(_median_ratio(results, arch, a, "glorot_uniform")) != "kept"
        ]
        first += f" (Keras' default lost {', '.join(lost) or 'none of them'})"
    second = []
    for act in activations:
        if words[act] == "kept":
            continue
        ratio = _median_ratio(results, arch, act, "initialize")
        line = f"{act} {words[act]} under initialize() ({ratio:.3g}" + (
            ", see the note)" if act == "gelu" else ")"
        )
        if "lsuv" in inits:
            lsuv = _median_ratio(results, arch, act, "lsuv")
            line += f"; lsuv(), which measures the batch: {glance(lsuv)} ({lsuv:.3g})"
        second.append(line)
    return [first + ".", "; ".join(second) + "." if second else "Every activation kept."]


def parse_args(argv=None) -> argparse.Namespace:
    parser = Parser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Initializers: " + ", ".join(INITS) + ". " + HOW_TO_READ,
    )
    parser.add_argument(
        "--arch", nargs="+", choices=("mlp", "cnn"), default=["mlp"],
        help="nets to build (default: mlp)",
    )  # fmt: skip
    parser.add_argument(
        "--depth", type=int, default=30,
        help=f"kernel layers, >= {MIN_DEPTH}: a first and a last (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--width", type=int, default=128,
        help="units (MLP) / channels (CNN), >= 1 (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--batch", type=int, default=256, help="samples in the batch, >= 2 (default: %(default)s)"
    )
    parser.add_argument(
        "--activations", nargs="+", choices=ACTIVATIONS, default=ACTIVATIONS,
        help="one row each (default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--inits",
        nargs="+",
        choices=INITS + MORE_INITS,
        default=INITS,
        metavar="NAME",
        help=f"one column each, of {', '.join(INITS)} (default: these) or any other name of "
        "Keras or keras_glorot (glorot_leaky, he_uniform, orthogonal, ...)",
    )
    parser.add_argument(
        "--npz",
        default=None,
        help="CIFAR-10 .npz (x_train uint8 N x 32 x 32 x 3) for real images, e.g. "
        "cifar10.npz, which examples/get_cifar10.py writes (default: N(0, 1) noise)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="repeat with seeds seed..seed+N-1; cells then show median [min, max] "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--plot-dir", default=None, help="write one PNG per arch/activation (default: none)"
    )
    parser.add_argument(
        "--seed", type=int, default=0,
        help="seed of the data, the kernels and lsuv/initialize (default: %(default)s)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    for option, value, least in (
        ("--depth", args.depth, MIN_DEPTH),
        ("--width", args.width, 1),
        ("--batch", args.batch, 2),
        ("--seeds", args.seeds, 1),
    ):
        if value < least:
            parser.error(f"{option} {value}: must be an integer >= {least}.")
    if args.npz and not pathlib.Path(args.npz).is_file():
        parser.error(f"--npz {args.npz}: no such file.")
    problem = backend_problem()
    if problem:
        parser.error(problem)
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    import keras
    from studylib import signal_measure as sm

    start = time.perf_counter()
    results = {}
    seeds = range(args.seed, args.seed + args.seeds)
    for arch in args.arch:
        for act in args.activations:
            for init in args.inits:
                if init == "article" and act not in sm.ARTICLE_ACTIVATIONS:
                    continue  # The article gives no variance for GELU or SELU.
                results[(arch, act, init)] = [
                    sm.measure(arch, act, init, x, args.depth, args.width, seed)
                    for seed in seeds
                    for x in [sm.load_batch(args.npz, arch, args.batch, args.width, seed)]
                ]
    data = f"CIFAR-10 images from {args.npz}" if args.npz else "N(0, 1) noise"
    print(
        f"backend={keras.config.backend()} depth={args.depth} width={args.width} "
        f"batch={args.batch} data={data} leaky_relu slope={sm.LEAKY_SLOPE} "
        f"seeds={args.seed}..{args.seed + args.seeds - 1}"
    )
    print(textwrap.fill(LEGEND.format(depth=args.depth), width=100))
    if args.seeds > 1:
        print("With several seeds a cell is the median [min, max] over them.")
    summary = []
    for arch in args.arch:
        name = arch.upper()
        print(f"\n{name}: activation std, last layer / first layer")
        print(sm.markdown_table(results, arch, args.activations, args.inits, "activation_ratio"))
        print(
            f"\n{name} at a glance (within 1/{KEPT:g}..{KEPT:g}: kept; 1/{DRIFT:g}..{DRIFT:g}: "
            "drifts; else vanishes or explodes)"
        )
        print(glance_table(results, arch, args.activations, args.inits))
        print(
            f"\n{name}: kernel-gradient std, last layer / first layer (above 1: the first "
            "layers' gradients are the smaller)"
        )
        print(sm.markdown_table(results, arch, args.activations, args.inits, "gradient_ratio"))
        print()
        for line in notes(results, arch, args.activations, args.inits):
            print(textwrap.fill(line, width=125, subsequent_indent="  "))
        summary += bottom_line(results, arch, args.activations, args.inits)
        if args.plot_dir:
            out = pathlib.Path(args.plot_dir)
            out.mkdir(parents=True, exist_ok=True)
            for act in args.activations:
                sm.plot(results, arch, act, args.inits, out / f"signal_{arch}_{act}.png")
    print(f"\n({time.perf_counter() - start:.1f} s)\n")
    for line in summary:  # last, where the eye lands
        print(textwrap.fill(line, width=125, subsequent_indent="  "))
    return results


if __name__ == "__main__":
    main()
