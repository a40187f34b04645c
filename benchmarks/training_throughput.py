"""Throughput of the CIFAR-10 example's training step against a plain ``model.fit``.

Both measure the same compiled model on the same in-memory arrays, on the current backend
(KERAS_BACKEND) and device, interleaved so that a busy machine slows both alike. The
example's step is ``study.fit_model`` of examples/studylib/study.py (fit with its
EpochClock callback); the plain one is ``model.fit(x, y, batch_size, epochs)`` with no
callbacks. Prints images per second of each (median over repeats, after a compiling
warm-up epoch) and the median ratio of back-to-back pairs, which should be >= 0.95: the
example adds no per-step overhead. The exit code is 1 when it is below.
(benchmarks/backend_throughput.py compares the backends.)

    python benchmarks/training_throughput.py                       # synthetic images
    python benchmarks/training_throughput.py --npz cifar10.npz --images 10000 --width 0.25
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import time
from collections.abc import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no TensorFlow C++ info/warning lines

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import cifar10_vgg  # noqa: E402  (the example's command line: no Keras import)


def parse(argv: Sequence[str] | None) -> tuple[argparse.Namespace, argparse.Namespace]:
    """Benchmark options, and the example's own arguments for the model and optimizer;
    both checked before Keras is imported."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--npz", help="real images (keras.datasets.cifar10 layout); else random")
    p.add_argument("--images", type=int, default=4096, help="training images per epoch")
    p.add_argument("--epochs", type=int, default=2, help="epochs per timed fit")
    p.add_argument("--repeats", type=int, default=5, help="interleaved timed fits per side")
    p.add_argument("--init", default="glorot_gain")
    p.add_argument("--min-ratio", type=float, default=0.95)
    p.add_argument("--json", help="also write the result here")
    bench, rest = p.parse_known_args(argv)
    for option, value in (("--images", bench.images), ("--repeats", bench.repeats)):
        if value < 1:
            p.error(f"{option} {value}: must be an integer >= 1.")
    example = ["--epochs", str(bench.epochs), "--verbose", "0", "--inits", bench.init]
    example += ["--seeds", "0,", *rest]
    if bench.npz:
        example += ["--npz", bench.npz]
    return bench, cifar10_vgg.parse_args(example)


def load(npz: str | None, images: int) -> dict:
    """``images`` training images (real or random uint8) and a test set."""
    from studylib import cifar10_data

    data = cifar10_data.load_npz(npz) if npz else cifar10_data.random_data(images)
    data["x_train"], data["y_train"] = data["x_train"][:images], data["y_train"][:images]
    return data


def time_plain(model, arrays, args) -> float:
    """Images per second of a plain fit; its first epoch is run alone beforehand."""
    start = time.perf_counter()
    model.fit(
        arrays["x_train"], arrays["y_train"], batch_size=args.batch_size,
        epochs=args.epochs, verbose=0,
    )  # fmt: skip
    return len(arrays["x_train"]) * args.epochs / (time.perf_counter() - start)


def time_example(model, arrays, args) -> float:
    """Images per second of the example's training step, timed the same way."""
    from studylib import study

    start = time.perf_counter()
    study.fit_model(model, arrays, args, args.epochs, validate=False)
    return len(arrays["x_train"]) * args.epochs / (time.perf_counter() - start)


def timed_pairs(model, arrays, args, repeats: int) -> tuple[list[float], list[float]]:
    """Images per second of each side, in back-to-back pairs."""
    plain, example = [], []
    for i in range(repeats):
        # Alternate which side goes first, so that a trend in machine load cancels out.
        if i % 2:
            example.append(time_example(model, arrays, args))
            plain.append(time_plain(model, arrays, args))
        else:
            plain.append(time_plain(model, arrays, args))
            example.append(time_example(model, arrays, args))
    return plain, example


def main(argv: Sequence[str] | None = None) -> int:
    bench, args = parse(argv)
    import keras
    from studylib import study, training

    data = load(bench.npz, bench.images)
    with study.dtype_policy(study.policy_name(args.mixed_precision)):
        arrays = study.prepare_arrays(data)
        steps = -(-len(arrays["x_train"]) // args.batch_size)
        model = training.build_for_run(args, bench.init, 0, data, steps)
        # Compile both code paths (they share the train function) before timing anything.
        study.fit_model(model, arrays, args, 1, validate=False)
        plain, example = timed_pairs(model, arrays, args, bench.repeats)
    result = {
        "backend": keras.config.backend(),
        "device": study.device_description(),
        "model": f"{args.model} width {args.width} batch_norm={args.batch_norm}",
        "images": len(arrays["x_train"]),
        "batch_size": args.batch_size,
        "epochs_per_fit": args.epochs,
        "plain_fit_images_per_s": plain,
        "example_images_per_s": example,
        "plain_median": statistics.median(plain),
        "example_median": statistics.median(example),
    }
    # Each pair ran back to back under the same load: the median of the pair ratios is
    # robust to a shared machine's load changing between pairs.
    result["pair_ratios"] = [e / p for e, p in zip(example, plain, strict=True)]
    result["ratio"] = statistics.median(result["pair_ratios"])
    print(json.dumps(result, indent=1))
    print(
        f"example {result['example_median']:.0f} img/s vs plain fit "
        f"{result['plain_median']:.0f} img/s: ratio {result['ratio']:.3f} "
        f"({'ok' if result['ratio'] >= bench.min_ratio else 'BELOW'} {bench.min_ratio})"
    )
    if bench.json:
        pathlib.Path(bench.json).write_text(json.dumps(result, indent=1))
    return 0 if result["ratio"] >= bench.min_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
