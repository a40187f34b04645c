"""A KerasHub GPT-2's depth profile at initialization, before and after ``initialize``.

Builds a small random-weight ``keras_hub.models.GPT2Backbone`` and measures it twice with
``keras_glorot.signal_report`` on a batch of random token ids: with KerasHub's own
initialization (every kernel N(0, 0.02²)) and after ``keras_glorot.initialize(model)``
(Glorot with each kernel's activation; the output projections of the pre-norm blocks
scaled by 1/sqrt(2L)). Prints, per sublayer with weights, the std of its output and of
its kernel's gradient (the loss is the mean squared output), then the std of the residual
stream after each block, and writes a plot.

Example::

    pip install ".[jax,zoo]" && pip install --no-deps "keras-hub>=0.32"
    KERAS_BACKEND=jax python examples/transformer_profile.py --layers 12 \\
        --plot docs/img/gpt2_profile.png

Every argument is checked before Keras or a backend is imported.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
from collections.abc import Sequence

# Before anything can import TensorFlow; set it yourself to see them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no TensorFlow C++ info/warning lines
# The shared modules live in studylib/ next to this file; make them importable however it is run.
_HERE = str(pathlib.Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from studylib.cli_args import Parser  # noqa: E402  (no Keras yet)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = Parser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--layers", type=int, default=12, help="transformer layers, >= 1")
    p.add_argument("--hidden", type=int, default=128, help="hidden size, a multiple of --heads")
    p.add_argument("--heads", type=int, default=4, help="attention heads, >= 1")
    p.add_argument("--vocabulary", type=int, default=1000, help="vocabulary size, >= 2")
    p.add_argument("--batch", type=int, default=8, help="sequences in the batch, >= 2")
    p.add_argument("--length", type=int, default=64, help="tokens per sequence, >= 2")
    p.add_argument("--seed", type=int, default=0, help="initialize's seed and the token ids")
    p.add_argument("--plot", metavar="PNG", help="write the two profiles' plot here")
    args = p.parse_args(argv)
    for option, ok, allowed in (
        ("--layers", args.layers >= 1, ">= 1"),
        ("--heads", args.heads >= 1, ">= 1"),
        ("--hidden", args.hidden >= 1 and args.hidden % max(args.heads, 1) == 0,
         f"a positive multiple of --heads ({args.heads})"),
        ("--vocabulary", args.vocabulary >= 2, ">= 2"),
        ("--batch", args.batch >= 2, ">= 2"),
        ("--length", args.length >= 2, ">= 2"),
    ):  # fmt: skip
        if not ok:
            p.error(f"{option} {getattr(args, option[2:])}: must be {allowed}.")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import keras_hub
    except ImportError:
        print("error: this example needs keras-hub: pip install 'keras-glorot[hub]'.",
              file=sys.stderr)  # fmt: skip
        return 2
    import keras
    import numpy as np

    import keras_glorot

    keras.utils.set_random_seed(args.seed)
    model = keras_hub.models.GPT2Backbone(
        vocabulary_size=args.vocabulary, num_layers=args.layers, num_heads=args.heads,
        hidden_dim=args.hidden, intermediate_dim=4 * args.hidden,
        max_sequence_length=args.length,
    )  # fmt: skip
    rng = np.random.default_rng(args.seed)
    x = {
        "token_ids": rng.integers(0, args.vocabulary, (args.batch, args.length)).astype("int32"),
        "padding_mask": np.ones((args.batch, args.length), "int32"),
    }
    blocks = [model.get_layer(f"transformer_layer_{i}") for i in range(args.layers)]
    streams = keras.Model(model.inputs, [b.output for b in blocks])
    before = keras_glorot.signal_report(model, x)
    stream_before = [float(np.std(keras.ops.convert_to_numpy(s))) for s in streams(x)]
    init_report = keras_glorot.initialize(model, seed=args.seed)
    after = keras_glorot.signal_report(model, x)
    stream_after = [float(np.std(keras.ops.convert_to_numpy(s))) for s in streams(x)]
    print(f"GPT2Backbone: {args.layers} layers, hidden {args.hidden}, {args.heads} heads, "
          f"batch {args.batch} x {args.length} random tokens, backend "
          f"{keras.config.backend()}; {init_report!r}\n")  # fmt: skip
    print("| sublayer | output std, KerasHub init | after initialize() "
          "| kernel grad std, KerasHub init | after initialize() |")  # fmt: skip
    print("|---|---|---|---|---|")
    for i, name in enumerate(before.layers):
        cells = [before.activation_std[i], after.activation_std[i],
                 before.gradient_std[i], after.gradient_std[i]]  # fmt: skip
        print(f"| {name} | " + " | ".join("–" if c is None else f"{c:.3g}" for c in cells) + " |")
    print("\n| residual stream after | std, KerasHub init | after initialize() |")
    print("|---|---|---|")
    for block, b, a in zip(blocks, stream_before, stream_after, strict=True):
        print(f"| {block.name} | {b:.3g} | {a:.3g} |")
    if args.plot:
        _plot(before, after, args.plot)
        print(f"\nwrote {args.plot}")
    return 0


def _plot(before, after, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for report, label in ((before, "KerasHub init (N(0, 0.02²))"), (after, "initialize()")):
        rows = [i for i, g in enumerate(report.gradient_std) if g is not None]
        axes[0].plot(rows, [report.activation_std[i] for i in rows], marker=".", label=label)
        axes[1].plot(rows, [report.gradient_std[i] for i in rows], marker=".", label=label)
    for ax, title in zip(axes, ("output std", "kernel gradient std"), strict=True):
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("report row (sublayers in call order)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
