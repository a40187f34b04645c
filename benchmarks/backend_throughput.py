"""Training throughput of the CIFAR-10 study's model on the TensorFlow, JAX and PyTorch backends.

Times a plain ``model.fit`` (no callbacks) of the study's VGG-11 at width 1/4 without batch
norm, leaky ReLU, batch 128 (the model of ``examples/nets/vgg.py``, augmentation layer
included) on every backend in one run. Keras fixes its backend per process, so each backend
(and JAX once more with ``jit_compile=False``, torch once more with one thread) gets its own
worker process, from the Python
named with ``--python BACKEND=PATH`` (default: this interpreter). The workers load the data,
build and compile the model and run one warm-up epoch one after the other; then the timed
fits are interleaved, one worker at a time (``--repeats`` rounds, the order rotating each
round), so that a change in the machine's load hits every backend alike. Prints images per
second per backend (median, min and max over the rounds) and the load average, as Markdown.

    python benchmarks/backend_throughput.py --npz cifar10.npz \\
        --python tensorflow=.tox/tensorflow/bin/python --python jax=.tox/jax/bin/python \\
        --python torch=.tox/torch/bin/python --repeats 5

The data is ``--npz``, by default ``cifar10.npz`` in the repository's root where it exists
(``examples/get_cifar10.py`` writes it), else random images (throughput does not depend on
the pixels).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no TensorFlow C++ info/warning lines

BACKENDS = ("tensorflow", "jax", "torch")
# The configurations timed: name -> (backend, the example's --jit-compile, environment).
# torch's intra-op threads compete with any other process for the cores, so torch is also
# timed with one thread (as tox runs it).
CONFIGS = {
    "tensorflow": ("tensorflow", "auto", {}),
    "jax": ("jax", "true", {}),
    "jax-nojit": ("jax", "false", {}),
    "torch": ("torch", "auto", {}),
    "torch-1thread": ("torch", "auto", {"OMP_NUM_THREADS": "1"}),
}
MODEL = ["--model", "vgg11", "--width", "0.25", "--no-batch-norm", "--activation", "leaky_relu"]
MODEL += ["--batch-size", "128", "--inits", "glorot_gain", "--seeds", "0,", "--verbose", "0"]
# Thread settings that change CPU throughput; recorded with the result.
LOCAL_CIFAR = pathlib.Path(__file__).resolve().parents[1] / "cifar10.npz"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS", "TF_NUM_INTRAOP_THREADS")


def _python_option(value: str) -> tuple[str, str]:
    backend, sep, path = value.partition("=")
    if not sep or backend not in BACKENDS or not path:
        raise argparse.ArgumentTypeError(
            f"{value!r}: give BACKEND=PATH with BACKEND one of {', '.join(BACKENDS)}, e.g. "
            "jax=.tox/jax/bin/python"
        )
    return backend, path


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--python",
        type=_python_option,
        action="append",
        default=[],
        metavar="BACKEND=PATH",
        help="the Python that has BACKEND installed, repeatable (default: this interpreter)",
    )
    p.add_argument(
        "--configs",
        nargs="+",
        choices=tuple(CONFIGS),
        default=list(CONFIGS),
        help="what to time (default: all of them)",
    )
    p.add_argument(
        "--npz",
        default=str(LOCAL_CIFAR) if LOCAL_CIFAR.is_file() else None,
        help="CIFAR-10 .npz (default: %(default)s; none means random images)",
    )
    p.add_argument("--images", type=int, default=5120, help="images per epoch (default: 5120)")
    p.add_argument("--epochs", type=int, default=1, help="epochs per timed fit (default: 1)")
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds (default: 5)")
    p.add_argument("--json", help="also write the results here (default: none)")
    p.add_argument("--worker", choices=tuple(CONFIGS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for option, value in (("--images", args.images), ("--epochs", args.epochs)):
        if value < 1:
            p.error(f"{option} {value}: must be an integer >= 1.")
    if args.repeats < 1:
        p.error(f"--repeats {args.repeats}: must be an integer >= 1.")
    if args.npz and not pathlib.Path(args.npz).is_file():
        p.error(f"--npz {args.npz}: no such file.")
    for backend, path in args.python:
        if shutil.which(path) is None:
            p.error(f"--python {backend}={path}: no such executable.")
    args.python = dict(args.python)
    return args


# ------------------------------------------------------------------------- worker side


def worker(args: argparse.Namespace) -> int:
    """One configuration in this process: warm up, say READY, then time a fit per request."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
    import cifar10_vgg

    backend, jit, _ = CONFIGS[args.worker]
    example = cifar10_vgg.parse_args([*MODEL, "--epochs", str(args.epochs), "--jit-compile", jit])
    import keras
    from studylib import study, training
    from training_throughput import load, time_plain

    if keras.config.backend() != backend:
        raise SystemExit(f"worker {args.worker}: KERAS_BACKEND is {keras.config.backend()}")
    data = load(args.npz, args.images)
    arrays = study.prepare_arrays(data)
    steps = -(-args.images // example.batch_size)
    model = training.build_for_run(example, "glorot_gain", 0, data, steps)
    model.fit(arrays["x_train"], arrays["y_train"], batch_size=128, epochs=1, verbose=0)
    info = {"keras": keras.__version__, "device": study.device_description()}
    info["jit_compile"] = model.jit_compile
    print("READY " + json.dumps(info), flush=True)
    for line in sys.stdin:
        if line.strip() != "time":
            break
        print("RESULT " + json.dumps(time_plain(model, arrays, example)), flush=True)
    return 0


# ------------------------------------------------------------------------- parent side


class Worker:
    """A worker process, spoken to line by line; its stderr goes to a file (a full pipe
    would block it)."""

    def __init__(self, config: str, python: str, args: argparse.Namespace, logs: pathlib.Path):
        backend, _, extra = CONFIGS[config]
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}
        command = [python, __file__, "--worker", config, "--images", str(args.images)]
        command += ["--epochs", str(args.epochs)] + (["--npz", args.npz] if args.npz else [])
        self.config = config
        self.log = logs / f"{config}.log"
        self.stderr = self.log.open("w")
        self.proc = subprocess.Popen(
            command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.stderr, text=True,
        )  # fmt: skip
        self.info = json.loads(self._expect("READY"))

    def _expect(self, tag: str) -> str:
        for line in self.proc.stdout:
            if line.startswith(tag + " "):
                return line[len(tag) + 1 :]
        self.stderr.flush()
        tail = self.log.read_text()[-3000:]
        raise RuntimeError(f"worker {self.config!r} ended without {tag}:\n{tail}")

    def time(self) -> float:
        self.proc.stdin.write("time\n")
        self.proc.stdin.flush()
        return float(self._expect("RESULT"))

    def close(self) -> None:
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        except OSError:  # it has already ended
            pass
        self.proc.wait(timeout=60)
        self.stderr.close()


def markdown(results: dict, workers: dict, load: list) -> str:
    lines = [
        "| backend | jit_compile | img/s median | min | max | rounds |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for config, rates in results.items():
        lines.append(
            f"| {config} | {workers[config]['jit_compile']} | {statistics.median(rates):.0f} "
            f"| {min(rates):.0f} | {max(rates):.0f} | {len(rates)} |"
        )
    first = next(iter(workers.values()))
    lines += [
        "",
        f"Device: {first['device']}; Keras {first['keras']}. Load average (1, 5, 15 min) at "
        f"the start {load[0]}, at the end {load[1]}.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.worker:
        return worker(args)
    start_load = [round(x, 2) for x in os.getloadavg()]
    started = time.perf_counter()
    workers: dict[str, Worker] = {}
    with tempfile.TemporaryDirectory() as logs:
        try:
            for config in args.configs:  # one at a time: warm-ups do not compete
                python = args.python.get(CONFIGS[config][0], sys.executable)
                workers[config] = Worker(config, python, args, pathlib.Path(logs))
                print(f"{config}: ready ({workers[config].info})", file=sys.stderr, flush=True)
            results: dict[str, list[float]] = {config: [] for config in args.configs}
            order = list(args.configs)
            for round_ in range(args.repeats):
                for config in order:
                    results[config].append(workers[config].time())
                    print(f"round {round_ + 1}: {config} {results[config][-1]:.0f} img/s",
                          file=sys.stderr, flush=True)  # fmt: skip
                order = order[1:] + order[:1]  # each backend in every position in turn
        finally:
            for w in workers.values():
                w.close()
    end_load = [round(x, 2) for x in os.getloadavg()]
    infos = {config: w.info for config, w in workers.items()}
    print(markdown(results, infos, [start_load, end_load]))
    print(f"({time.perf_counter() - started:.0f} s in all)")
    if args.json:
        record = {"results": results, "workers": infos, "load_average": [start_load, end_load]}
        record["options"] = {k: v for k, v in vars(args).items() if k != "worker"}
        record["threads"] = {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ}
        record["cpu_count"] = os.cpu_count()
        pathlib.Path(args.json).write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
