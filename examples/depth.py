"""Deep networks without normalization trained on CIFAR-10, per initializer.

Two families (``nets/norm_free.py``):

- ``resnetN`` (N = 6 n + 2: 20, 56, 110): CIFAR's ResNets with no normalization, ReLU,
  trained from Keras' ``glorot_uniform`` and ``he_normal`` and from
  ``keras_glorot.initialize`` with each residual policy (``none``, ``scaled``, ``fixup``,
  ``zero``).
- ``plainN`` (N >= 3 convolutions): a plain CNN with one activation per case
  (``--activations``), trained from Keras' ``glorot_normal``, from a Gaussian Glorot
  draw with the activation's gain (``glorot_gain_untruncated``), from ``delta_orthogonal`` with
  the same gain, and from ``delta_orthogonal_gain1`` (gain 1: Xiao et al.'s critical
  tanh net at zero bias, an exact isometry of each convolution).

Each (net, activation) is a case of the study machinery of ``cifar10_vgg.py``
(``studylib/study.py``): one ``model.fit`` per (initializer, seed), resumable ``runs.jsonl`` with
the git commit, ``summary.md`` and ``curves.png`` in ``OUT/CASE/``. Every run also
records, before training, how the signal of 64 training images crosses the net (the
residual sums' or the convolutions' std ratios, the logits' std, and for plain nets the
Jacobian's singular-value spread), and the mean training loss over its first 100 steps.
``OUT/depth.md`` then puts every case in one table.

Examples::

    python examples/depth.py --npz cifar10.npz --nets resnet20 \\
        --subset 512 --test-subset 256 --epochs 1 --seeds 1 --out runs/depth  # a minute
    KERAS_BACKEND=tensorflow python examples/depth.py --npz cifar10.npz \\
        --nets resnet20 resnet56 plain32 --subset 10000 --epochs 3 --seeds 3 --verbose 0

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

from nets import KERAS_INITS, POLICIES, split_net  # noqa: E402  (names only: no Keras yet)
from studylib.cli_args import (  # noqa: E402
    Parser,
    add_data_arguments,
    add_seed_arguments,
    add_verbose_argument,
    parse_checked,
    resolve_seeds,
)

# Fixup as published: He fan-out normal base draw, and the classifier zero too.
REFERENCE = ("fixup_reference",)
CONV_INITS = ("glorot_gain_untruncated", "delta_orthogonal", "delta_orthogonal_gain1")
INIT_NAMES = KERAS_INITS + POLICIES + REFERENCE + CONV_INITS
DEFAULT_INITS = {
    "resnet": ["glorot_uniform", "he_normal", "none", "scaled", "fixup", "zero"],
    "plain": [
        "glorot_normal",
        "glorot_gain_untruncated",
        "delta_orthogonal",
        "delta_orthogonal_gain1",
    ],
}
ACTIVATIONS = ("tanh", "leaky_relu", "relu", "linear")
TITLE = "CIFAR-10 without normalization"


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Runs resume: rerunning a command skips the runs already in OUT/CASE/runs.jsonl.",
    )
    p.add_argument(
        "--nets", nargs="+", default=["resnet20", "resnet56", "plain32"],
        help="resnetN (N = 6 n + 2) and plainN (N >= 3) (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--activations", nargs="+", default=["tanh", "leaky_relu"],
        help=f"the plain nets' activations, of {', '.join(ACTIVATIONS)}; one case each "
        "(default: tanh leaky_relu; ResNets use relu)",
    )  # fmt: skip
    p.add_argument(
        "--inits", nargs="+", metavar="NAME",
        help="initializers (default: none, per family: "
        + "; ".join(f"{k}: {' '.join(v)}" for k, v in DEFAULT_INITS.items())
        + f"); of {', '.join(INIT_NAMES)}",
    )  # fmt: skip
    add_data_arguments(p, test_subset_help="all 10,000")
    s = p.add_argument_group("training")
    s.add_argument("--epochs", type=int, default=3, help="(default: %(default)s)")
    add_seed_arguments(s)
    s.add_argument("--batch-size", type=int, default=128, help="(default: %(default)s)")
    s.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd", help="(default: sgd)")
    s.add_argument("--lr", type=float, help="peak rate (default: 0.05 for sgd, 1e-3 for adam)")
    s.add_argument(
        "--schedule", choices=("cosine", "onecycle", "constant"), default="cosine",
        help="cosine warms up linearly over the first epoch or 10%% of the steps "
        "(default: %(default)s)",
    )  # fmt: skip
    s.add_argument("--momentum", type=float, default=0.9, help="(default: %(default)s)")
    s.add_argument("--weight-decay", type=float, default=5e-4, help="(default: %(default)s)")
    s.add_argument(
        "--mixed-precision", action="store_true",
        help="float16 compute on a GPU, bfloat16 on a CPU (default: off)",
    )  # fmt: skip
    s.add_argument(
        "--jit-compile", choices=("auto", "true", "false"), default="auto",
        help="model.compile's jit_compile (default: %(default)s)",
    )  # fmt: skip
    s.add_argument("--deterministic", action="store_true", help="(default: off)")
    s.add_argument(
        "--target", type=float, default=0.4,
        help="test accuracy in (0, 1] for epochs to target (default: %(default)s)",
    )  # fmt: skip
    p.add_argument("--out", default="runs/depth", help="(default: %(default)s)")
    p.add_argument(
        "--report-only", action="store_true",
        help="train nothing: rewrite OUT/depth.md from the runs already there (default: off)",
    )  # fmt: skip
    add_verbose_argument(p, terminal=2)
    return p


def check_args(args: argparse.Namespace) -> None:
    """Raise ValueError naming the first bad option, its value and what it allows."""
    resolve_seeds(args)
    for net in args.nets:
        split_net(net)
    for option, values, allowed in (
        ("--activations", args.activations, ACTIVATIONS),
        ("--inits", args.inits or (), INIT_NAMES),
    ):
        for value in values:
            if value not in allowed:
                raise ValueError(f"{option} {value}: unknown; use one of {', '.join(allowed)}.")
        if len(set(values)) != len(values):
            raise ValueError(f"{option} {' '.join(values)}: give each once.")
    if len(set(args.nets)) != len(args.nets):
        raise ValueError(f"--nets {' '.join(args.nets)}: give each once.")
    for option, ok, allowed in (
        ("--epochs", args.epochs >= 1, "an integer >= 1"),
        ("--batch-size", args.batch_size >= 1, "an integer >= 1"),
        ("--subset", args.subset is None or args.subset >= 1, "an integer >= 1"),
        ("--test-subset", args.test_subset is None or args.test_subset >= 1, "an integer >= 1"),
        ("--lr", args.lr is None or (math.isfinite(args.lr) and args.lr > 0), "> 0"),
        ("--momentum", 0 <= args.momentum < 1, "in [0, 1)"),
        ("--weight-decay", args.weight_decay >= 0, ">= 0"),
        ("--target", 0 < args.target <= 1, "in (0, 1]"),
    ):
        if not ok:
            value = getattr(args, option[2:].replace("-", "_"))
            raise ValueError(f"{option} {value}: must be {allowed}.")
    if args.npz and not pathlib.Path(args.npz).is_file():
        raise ValueError(f"--npz {args.npz}: no such file.")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check; nothing here imports Keras or a backend. A bad value exits with
    code 2 and a message naming its option."""
    args = parse_checked(build_parser(), check_args, argv)
    args.lr = args.lr or {"sgd": 0.05, "adam": 1e-3}[args.optimizer]
    return args


def cases(args: argparse.Namespace) -> list[tuple[str, argparse.Namespace]]:
    """(case name, the study's arguments for it): one case per ResNet, one per plain net
    and activation. The case arguments hold ``net`` and ``activation``, not the lists,
    so that a run's identity does not depend on what else the command asked for."""
    out = []
    for net in args.nets:
        family, _ = split_net(net)
        activations = ["relu"] if family == "resnet" else args.activations
        for activation in activations:
            name = net if family == "resnet" else f"{net}_{activation}"
            case = argparse.Namespace(**vars(args))
            del case.nets, case.activations, case.report_only
            case.net, case.activation = net, activation
            case.inits = args.inits or DEFAULT_INITS[family]
            case.out = str(pathlib.Path(args.out) / name)
            case.title = f"{TITLE}: {name}"
            out.append((name, case))
    return out


def _mean(values) -> str:
    """The mean, then the smallest and largest value when they differ: how much one
    seed's draw says about another's."""
    import numpy as np

    v = [x for x in values if x is not None and math.isfinite(x)]
    if not v:
        return "–"
    spread = f" ({min(v):.3g}–{max(v):.3g})" if f"{min(v):.3g}" != f"{max(v):.3g}" else ""
    return f"{np.mean(v):.3g}{spread}"


def depth_markdown(args: argparse.Namespace) -> str:
    """OUT/depth.md: one table per case, one row per initializer, from the runs of this
    command's settings."""
    from studylib import study
    from studylib.report import interval, plural, read_runs

    lines = [f"# {TITLE}", ""]
    lines += [
        "Per initializer, over seeds: the signal at initialization (mean over seeds, then "
        "the smallest and largest in parentheses; the kernels are this backend's draws, and "
        "another backend draws others from the same seeds; for "
        "ResNets the std of the last residual sum and of the largest over the first one's, "
        "for plain nets the last convolution's output std over the first one's and the "
        "spread std/mean of the Jacobian's squared singular values, 0 for an isometry); "
        "the mean training loss over the first 100 steps; the final test accuracy in % "
        "(mean ± std [95% t-interval] (n), diverged runs excluded); and how many runs "
        "diverged (a NaN or infinite loss).",
        "",
    ]
    for name, case in cases(args):
        options = study.run_options(case)
        runs = [
            r for r in read_runs(pathlib.Path(case.out) / "runs.jsonl")
            if r["options"] == options and r["seed"] in args.seeds
        ]  # fmt: skip
        if not runs:
            continue
        commits = sorted({f"{r['git_commit'][:7]}{'+dirty' if r['git_dirty'] else ''}"
                          for r in runs if r.get("git_commit")})  # fmt: skip
        lines += [
            f"## {name}",
            "",
            f"Code: {', '.join(commits) or 'unknown'}; device: {runs[0]['device']}; "
            f"{plural(case.epochs, 'epoch')} of {runs[0]['n_train']} training images, batch "
            f"{case.batch_size}, {case.optimizer} at peak rate {case.lr:g} ({case.schedule}); "
            f"tested on {runs[0]['n_test']}; seeds {sorted({r['seed'] for r in runs})}.",
            "",
        ]
        resnet = split_net(case.net)[0] == "resnet"
        signal = ("last/first sum", "max/first sum") if resnet else ("last/first conv", "spread")
        keys = (
            ("sum_last_over_first", "sum_max_over_first")
            if resnet
            else ("conv_last_over_first", "jacobian_spread")
        )
        lines += [
            f"| init | {signal[0]} | {signal[1]} | logits std "
            f"| loss, first {min(r['first_steps'] for r in runs)} steps "
            "| final test acc % | diverged |",
            "|---|---|---|---|---|---|---|",
        ]
        for init in case.inits:
            rs = [r for r in runs if r["init"] == init]
            if not rs:
                continue
            at = [r.get("at_init", {}) for r in rs]
            acc = [None if a is None else 100 * a for a in (r["final_test_accuracy"] for r in rs)]
            lines.append(
                f"| `{init}` | {_mean(a.get(keys[0]) for a in at)} "
                f"| {_mean(a.get(keys[1]) for a in at)} | {_mean(a.get('logits_std') for a in at)} "
                f"| {interval(r.get('first_steps_loss') for r in rs)} | {interval(acc)} "
                f"| {sum(bool(r['diverged']) for r in rs)}/{len(rs)} |"
            )
        lines.append("")
    return "\n".join(lines)


def build_for_run(args: argparse.Namespace, init: str, seed: int, data, steps: int):
    """study.py's ``build``: build, initialize and compile the net of one run."""
    import keras
    import nets
    from studylib import training

    keras.utils.set_random_seed(seed)  # the shuffle order
    x = data["x_train"].astype("float32")
    mean, std = x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2)) + 1e-3
    model = nets.build_net(vars(args), init, seed, mean, std)
    model.compile(
        optimizer=training.make_optimizer(args, steps),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile={"auto": "auto", "true": True, "false": False}[args.jit_compile],
    )
    return model


def train(args: argparse.Namespace) -> int:
    """Every case's runs not yet in its runs.jsonl; 2 when the data cannot be loaded."""
    import functools

    import nets
    from studylib import cifar10_data, study

    try:
        data = cifar10_data.load_data(args.npz, args.data_dir, args.subset, args.test_subset)
    except cifar10_data.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    probe = data["x_train"][:64].astype("float32")
    measure = functools.partial(nets.signal_at_init, x=probe)
    for name, case in cases(args):
        print(f"== {name}: {case.out}", flush=True)
        study.run_study(case, data, build_for_run, measure)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run every case, then write OUT/depth.md."""
    args = parse_args(argv)
    if not args.report_only:
        code = train(args)
        if code:
            return code
    path = pathlib.Path(args.out) / "depth.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(depth_markdown(args))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
