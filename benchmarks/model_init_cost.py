"""Cost of ``initialize()`` and ``lsuv()`` on a VGG-16, in forward passes of that model.

Builds ``keras.applications.VGG16(weights=None)`` (13 convolutions, 3 dense layers;
``--size 32`` is the CIFAR-sized input, 224 the ImageNet one), times one forward
pass on a batch, ``keras_glorot.initialize(model)`` and ``keras_glorot.lsuv(model,
batch)``, each as the median of ``--repeats`` runs after one warm-up run (which
holds JAX's compilations), and prints the ratios. ``lsuv`` runs LSUV inside a
single forward pass, re-running each layer alone a few times on its input, so its
cost should be a small multiple of one forward pass: well under 3 forward passes
per kernel layer on average.

Example::

    python benchmarks/model_init_cost.py --size 32 --batch 64 --repeats 3

``--model gpt2-124m`` measures instead what ``initialize()`` costs against building
the model: KerasHub's 124M-parameter ``GPT2Backbone`` (vocabulary 50257, 12 layers, 12
heads, width 768, MLP 3072, 1024 positions; ``--gpt2-config tiny`` is a small one for
tests) is built ``--builds`` times in one process (construction, its own initializers
drawing every weight), the last one kept; ``keras_glorot.initialize(model, seed=0)``
is timed at its first and second call, and each is printed over the median build
(the first build holds JAX's and torch's warm-ups, hence the median).
``--baseline-sampling`` times ``initialize()`` again with another
``keras_glorot/sampling.py``'s truncated normal, interleaved with the current one::

    git show REV:keras_glorot/sampling.py > /tmp/old_sampling.py
    KERAS_BACKEND=torch python benchmarks/model_init_cost.py --model gpt2-124m \
        --baseline-sampling /tmp/old_sampling.py
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import math
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no TensorFlow C++ info/warning lines

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_glorot  # noqa: E402
from keras_glorot.whole_model.lsuv import orthonormal  # noqa: E402


def timed(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def synced(model, fn):
    """``fn`` then a read of every kernel: JAX returns before async work is done."""

    def run():
        fn()
        for weight in model.weights:
            keras.ops.convert_to_numpy(weight)

    return run


def forward(model, x) -> None:
    # Converting to numpy waits for the result (JAX and TF dispatch asynchronously).
    keras.ops.convert_to_numpy(model(x, training=False))


def orthonormal_draws(model, seed: int) -> None:
    """What lsuv's pre-init costs alone: one orthonormal draw (a QR) per kernel."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is not None:
            orthonormal(tuple(int(d) for d in kernel.shape), rng)


GPT2_CONFIGS = {
    # keras_hub.models.GPT2Backbone's own example: GPT-2 small, 124M parameters.
    "124m": dict(vocabulary_size=50257, num_layers=12, num_heads=12, hidden_dim=768,
                 intermediate_dim=3072, max_sequence_length=1024),
    "tiny": dict(vocabulary_size=1000, num_layers=2, num_heads=2, hidden_dim=64,
                 intermediate_dim=128, max_sequence_length=64),
}  # fmt: skip


def wait(model) -> None:
    """Waits for every weight's value: JAX returns before its asynchronous work is done.

    TensorFlow's eager ops and torch on a CPU have finished when they return.
    """
    for weight in model.weights:
        value = weight.value
        if hasattr(value, "block_until_ready"):
            value.block_until_ready()


def seconds(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def sampler_costs(shapes: list[tuple], repeats: int, baseline) -> dict[str, float]:
    """Median seconds to draw every shape once, per sampler, interleaved (stddev 0.02).

    keras_glorot's truncated normal (and ``baseline``'s) against Keras' own
    ``keras.random.truncated_normal`` (on torch: inexact, see keras_glorot.sampling)
    and ``keras.random.normal``, which the GPT-2 build itself draws.
    """
    from keras_glorot import sampling

    scale = 0.02 / sampling.TRUNCATED_NORMAL_STD
    samplers = {
        "keras_glorot truncated_normal": lambda s: sampling.truncated_normal(s, 0.02, "float32", 1),
        "keras.random.truncated_normal": lambda s: keras.random.truncated_normal(
            s, stddev=scale, seed=1
        ),
        "keras.random.normal": lambda s: keras.random.normal(s, stddev=0.02, seed=1),
    }
    if baseline is not None:
        samplers["baseline truncated_normal"] = lambda s: baseline(s, 0.02, "float32", 1)

    def draw_all(sampler):
        for shape in shapes:
            value = sampler(shape)
            if hasattr(value, "block_until_ready"):
                value.block_until_ready()

    for sampler in samplers.values():  # warm-up: JAX compiles per shape
        draw_all(sampler)
    times = {name: [] for name in samplers}
    for _ in range(repeats):
        for name, sampler in samplers.items():
            times[name].append(seconds(lambda: draw_all(sampler))[0])  # noqa: B023
    return {name: statistics.median(t) for name, t in times.items()}


def load_truncated_normal(path: str):
    """The ``truncated_normal`` of the ``sampling.py`` at ``path``."""
    spec = importlib.util.spec_from_file_location("baseline_sampling", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.truncated_normal


def gpt2_cost(config: str, builds: int, repeats: int, baseline: str | None) -> dict:
    """Build time of a GPT2Backbone and initialize()'s time over it, in one process."""
    import keras_hub

    from keras_glorot import sampling

    load = os.getloadavg()
    build_times = []
    model = None
    for _ in range(builds):
        del model
        gc.collect()

        def build():
            built = keras_hub.models.GPT2Backbone(**GPT2_CONFIGS[config])
            wait(built)
            return built

        elapsed, model = seconds(build)
        build_times.append(elapsed)
    t_build = statistics.median(build_times)

    def init():
        keras_glorot.initialize(model, seed=0)
        wait(model)

    t_first, _ = seconds(init)
    t_second, _ = seconds(init)
    result = {
        "build": t_build,
        "builds": build_times,
        "initialize_first": t_first,
        "initialize_second": t_second,
        "ratio_first": t_first / t_build,
        "ratio_second": t_second / t_build,
    }
    print(
        f"backend={keras.config.backend()} GPT2Backbone config={config} "
        f"params={model.count_params():,} builds={builds} load average at start "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n"
    )
    print("| step | seconds | / median build |")
    print("|---|---:|---:|")
    each = ", ".join(f"{t:.3f}" for t in build_times)
    print(f"| build (median of {each}) | {t_build:.3f} | 1 |")
    print(f"| initialize(model, seed=0), first call | {t_first:.3f} | {t_first / t_build:.2f} |")
    print(f"| initialize(model, seed=0), second call | {t_second:.3f} | {t_second / t_build:.2f} |")
    if baseline is not None:
        current, other = sampling.SAMPLERS["truncated_normal"], load_truncated_normal(baseline)
        times = {"current": [], "baseline": []}
        try:
            for _ in range(repeats):  # interleaved, so that load drifts hit both alike
                for name, sampler in (("baseline", other), ("current", current)):
                    sampling.SAMPLERS["truncated_normal"] = sampler
                    times[name].append(seconds(init)[0])
        finally:
            sampling.SAMPLERS["truncated_normal"] = current
        for name in ("baseline", "current"):
            t = statistics.median(times[name])
            label = f"{name} sampler (median of {repeats}, interleaved)"
            print(f"| initialize(), {label} | {t:.3f} | {t / t_build:.2f} |")
            result[f"initialize_{name}"] = t
    shapes = [tuple(int(d) for d in w.shape) for w in model.weights if len(w.shape) >= 2]
    other = None if baseline is None else load_truncated_normal(baseline)
    draws = sampler_costs(shapes, repeats, other)
    values = sum(math.prod(shape) for shape in shapes)
    print(f"\nDrawing every weight of rank >= 2 once ({len(shapes)} tensors, {values:,} "
          f"values; the embeddings among them, which initialize() leaves as they are), "
          f"median of {repeats}, interleaved:\n")  # fmt: skip
    print("| sampler | seconds | / keras.random.truncated_normal |")
    print("|---|---:|---:|")
    for name, t in draws.items():
        ratio = t / draws["keras.random.truncated_normal"]
        print(f"| {name} | {t:.3f} | {ratio:.2f} |")
    result["draws"] = draws
    end = os.getloadavg()
    print(f"\nratio = initialize() / median build; load average at end {end[0]:.2f} "
          f"{end[1]:.2f} {end[2]:.2f}")  # fmt: skip
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["vgg16", "gpt2-124m"], default="vgg16")
    parser.add_argument("--size", type=int, default=32, help="input height = width (>= 32)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--gpt2-config", choices=sorted(GPT2_CONFIGS), default="124m",
        help="with --model gpt2-124m: the GPT-2 size (tiny: for tests)",
    )  # fmt: skip
    parser.add_argument("--builds", type=int, default=3, help="with --model gpt2-124m")
    parser.add_argument(
        "--baseline-sampling", metavar="PATH",
        help="with --model gpt2-124m: also time initialize() with this sampling.py's "
        "truncated normal",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.size < 32 or args.batch < 2 or args.repeats < 1 or args.builds < 1:
        parser.error("--size must be >= 32, --batch >= 2, --repeats >= 1 and --builds >= 1")
    if args.baseline_sampling and not os.path.isfile(args.baseline_sampling):
        parser.error(f"--baseline-sampling {args.baseline_sampling}: no such file")
    if args.model == "gpt2-124m":
        return gpt2_cost(args.gpt2_config, args.builds, args.repeats, args.baseline_sampling)

    model = keras.applications.VGG16(
        weights=None, input_shape=(args.size, args.size, 3), classes=10
    )
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.batch, args.size, args.size, 3)).astype("float32")
    kernel_layers = sum(1 for layer in model.layers if hasattr(layer, "kernel"))

    t_forward = timed(lambda: forward(model, x), args.repeats)
    t_init = timed(
        synced(model, lambda: keras_glorot.initialize(model, seed=args.seed)), args.repeats
    )
    t_lsuv = timed(synced(model, lambda: keras_glorot.lsuv(model, x, seed=args.seed)), args.repeats)
    t_ortho = timed(lambda: orthonormal_draws(model, args.seed), args.repeats)
    per_layer = t_lsuv / t_forward / kernel_layers
    print(
        f"backend={keras.config.backend()} VGG16 input={args.size}x{args.size}x3 "
        f"batch={args.batch} params={model.count_params():,} kernel layers={kernel_layers} "
        f"repeats={args.repeats} (median after a warm-up run)\n"
    )
    print("| step | seconds | forward passes |")
    print("|---|---|---|")
    print(f"| one forward pass | {t_forward:.3f} | 1 |")
    print(f"| initialize() | {t_init:.3f} | {t_init / t_forward:.2f} |")
    print(f"| lsuv() | {t_lsuv:.3f} | {t_lsuv / t_forward:.2f} |")
    print(f"| of which orthonormal draws (QR) | {t_ortho:.3f} | {t_ortho / t_forward:.2f} |")
    print(f"\nlsuv: {per_layer:.3f} forward passes per kernel layer on average (target <= 3)")
    return {
        "forward": t_forward,
        "initialize": t_init,
        "lsuv": t_lsuv,
        "orthonormal": t_ortho,
        "per_layer": per_layer,
    }


if __name__ == "__main__":
    main()
