"""Time keras_glorot's initializers against keras.initializers.VarianceScaling.

Both draw the same shapes with the same scale, mode, distribution and seed, in one
process, interleaved, so that machine load affects both alike. Prints, per shape
and distribution, the best time of each, their ratio ours / Keras (target
<= 1.05) and the median of the paired (interleaved) ratios. Run once per backend:

    KERAS_BACKEND=jax python benchmarks/init_overhead.py
    python benchmarks/init_overhead.py --all-backends   # spawns one process per backend
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no TensorFlow C++ info/warning lines

SHAPES = [(4096, 4096), (3, 3, 512, 512)]
DISTRIBUTIONS = ["truncated_normal", "uniform", "untruncated_normal"]


def _sync(x):
    """Waits for an asynchronous backend (JAX) to finish computing ``x``."""
    if hasattr(x, "block_until_ready"):
        x.block_until_ready()
    return x


def _seconds(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _sync(fn())
        times.append(time.perf_counter() - start)
    return times


def run(repeats: int) -> list[dict]:
    import keras

    from keras_glorot import Glorot

    rows = []
    for shape in SHAPES:
        for distribution in DISTRIBUTIONS:
            ours = Glorot("leaky_relu", distribution=distribution, seed=1)
            theirs = keras.initializers.VarianceScaling(
                scale=ours.scale, mode="fan_avg", distribution=distribution, seed=1
            )
            ours._calls = -(10**9)  # a benchmark calls one instance on purpose
            _sync(ours(shape)), _sync(theirs(shape))  # warm-up (JAX compiles per shape)
            t_ours, t_theirs = [], []
            for _ in range(repeats):  # interleave so that load drifts hit both
                t_ours += _seconds(lambda: ours(shape), 1)  # noqa: B023
                t_theirs += _seconds(lambda: theirs(shape), 1)  # noqa: B023
            rows.append(
                {
                    "backend": keras.config.backend(),
                    "shape": "x".join(map(str, shape)),
                    "distribution": distribution,
                    # Best of N: the least disturbed run of each, as timeit advises.
                    "ours_ms": 1e3 * min(t_ours),
                    "keras_ms": 1e3 * min(t_theirs),
                    "median_ratio": statistics.median(
                        a / b for a, b in zip(t_ours, t_theirs, strict=True)
                    ),
                }
            )
    return rows


def print_table(rows: list[dict]) -> None:
    print(
        "| backend | shape | distribution | keras_glorot ms (best) | VarianceScaling ms (best)"
        " | ratio of best | median of paired ratios |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    for r in rows:
        ratio = r["ours_ms"] / r["keras_ms"]
        print(
            f"| {r['backend']} | {r['shape']} | {r['distribution']} | {r['ours_ms']:.1f} "
            f"| {r['keras_ms']:.1f} | {ratio:.3f} | {r['median_ratio']:.3f} |"
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--all-backends", action="store_true")
    args = parser.parse_args(argv)
    if args.all_backends:
        for backend in ("tensorflow", "jax", "torch"):
            env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
            cmd = [sys.executable, __file__, "--repeats", str(args.repeats)]
            subprocess.run(cmd, env=env, check=True)
        return
    print_table(run(args.repeats))


if __name__ == "__main__":
    main()
