"""Command-line pieces the study scripts share: seeds, the data options, checked parsing.

Imports nothing heavy (no NumPy, Keras or backend), so that every script checks its
arguments before it loads any of them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

# The module each Keras backend imports.
BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
# README's install line for each backend, the CPU builds (a GPU machine: README, "Install").
BACKEND_INSTALLS = {
    "tensorflow": 'pip install ".[tensorflow-cpu]"',
    "jax": 'pip install ".[jax]"',
    "torch": "pip install torch --index-url https://download.pytorch.org/whl/cpu && "
    'pip install ".[torch]"',
}


# Every initializer name Keras' keras.initializers.get knows that can start a net, and the
# names keras_glorot registers, static so that each script checks its --inits before Keras
# is imported (a test compares them with Keras and keras_glorot). The constant ones take no
# seed: every seed starts from the same kernels (zeros never learns: a control).
KERAS_SEEDED = (
    "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "lecun_normal",
    "lecun_uniform", "normal", "orthogonal", "random_normal", "random_uniform",
    "truncated_normal", "uniform", "variance_scaling",
)  # fmt: skip
KERAS_CONSTANT = ("zeros", "zero", "ones", "one", "constant")
# keras_glorot's leaky-ReLU Glorot (GlorotLeakyNormal, GlorotLeakyUniform), given a slope.
GLOROT_LEAKY = ("glorot_leaky", "glorot_leaky_normal", "glorot_leaky_uniform")
NAMED_INITS = KERAS_SEEDED + KERAS_CONSTANT + GLOROT_LEAKY
# Keras' names that cannot draw the kernels of a trained net, and why.
KERAS_NOT_FOR_A_NET = {
    "identity": "it draws 2-D square matrices only",
    "stft": "it draws the kernels of an STFT layer, not of a trained net",
}


def named_initializer(name: str, seed: int, negative_slope: float = 0.2):
    """A fresh initializer of ``NAMED_INITS`` (imports Keras and keras_glorot): seeded where
    it takes a seed, keras_glorot's leaky names with ``negative_slope``."""
    import keras

    import keras_glorot  # noqa: F401  (registers glorot_leaky and the others)

    if name == "constant":  # Keras' Constant, with its default value 0
        return keras.initializers.Constant()
    if name in KERAS_CONSTANT:
        return keras.initializers.get(name)
    config = {"seed": seed}
    if name in GLOROT_LEAKY:
        config["negative_slope"] = negative_slope
    return keras.initializers.get({"class_name": name, "config": config})


def chosen_backend() -> str:
    """The backend Keras will load: ``KERAS_BACKEND``, else ``~/.keras/keras.json``
    (``KERAS_HOME`` moves it), else TensorFlow, Keras' default."""
    name = os.environ.get("KERAS_BACKEND")
    if name:
        return name
    home = pathlib.Path(os.environ.get("KERAS_HOME", pathlib.Path.home() / ".keras"))
    try:
        return json.loads((home / "keras.json").read_text()).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def backend_problem() -> str | None:
    """Why the chosen backend cannot load (not installed, unknown), or None. Looks the
    module up without importing it."""
    name = chosen_backend()
    module = BACKEND_MODULES.get(name)
    if module is None:
        return (
            f"KERAS_BACKEND={name}: not a backend these scripts run on; "
            f"set KERAS_BACKEND to one of {', '.join(BACKEND_MODULES)}."
        )
    if importlib.util.find_spec(module) is None:
        source = "KERAS_BACKEND" if os.environ.get("KERAS_BACKEND") else "Keras' default backend"
        others = [b for b in BACKEND_MODULES if b != name and importlib.util.find_spec(b)]
        hint = f", or set KERAS_BACKEND={others[0]} (installed)" if others else ""
        return f"{source} is {name}, but {module} is not installed: {BACKEND_INSTALLS[name]}{hint}."
    return None


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, then a pointer to ``--help``, not
    the whole usage block (``--help`` still prints it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n({self.prog} --help lists every option)\n")


SEEDS_HELP = (
    "how many seeds: N runs seeds 0, 1, ..., N-1 (default: {default}). For chosen seeds "
    "use --seed-list"
)


def add_seed_arguments(group, default: int = 3) -> None:
    """``--seeds N`` (a count: seeds 0..N-1) and ``--seed-list S [S ...]`` (exactly those)."""
    group.add_argument(
        "--seeds", nargs="+", metavar="N", help=SEEDS_HELP.format(default=default) + "."
    )
    group.add_argument(
        "--seed-list",
        nargs="+",
        metavar="SEED",
        help="exactly these seeds, e.g. --seed-list 7 (seed 7 alone) or --seed-list 4 7 "
        "(default: none, --seeds)",
    )
    group.set_defaults(default_seed_count=default)


def resolve_seeds(args: argparse.Namespace) -> list[int]:
    """The seeds of ``add_seed_arguments``' options, as ``args.seeds``; the helper
    attributes are removed, so that they enter no run's options."""
    count, chosen = args.seeds, args.seed_list
    default = args.default_seed_count
    del args.seed_list, args.default_seed_count
    if count is not None and chosen is not None:
        raise ValueError("--seeds and --seed-list: give one (--seeds N is a count, "
                         "--seed-list the seeds themselves).")  # fmt: skip
    if chosen is not None:
        args.seeds = seed_list(chosen, "--seed-list", count=False)
    else:
        args.seeds = seed_list(count or [str(default)], "--seeds")
    return args.seeds


def seed_list(values: Sequence[str], option: str = "--seeds", count: bool = True) -> list[int]:
    """``--seeds 3`` means seeds 0, 1, 2 (a count); ``--seed-list 7`` and ``--seed-list 4 7``
    mean exactly those. Also read, as in earlier versions: ``--seeds 4 7``, ``--seeds 4,7``
    and ``--seeds 5,`` (a list, by its several values or its comma)."""
    tokens = [t.strip() for v in values for t in v.split(",") if t.strip()]
    shown = " ".join(values)
    if not tokens or not all(t.lstrip("-").isdigit() for t in tokens):
        what = "a count N >= 1 (seeds 0..N-1)" if count else "integer seeds such as 7 or 4 7"
        raise ValueError(f"{option} {shown}: give {what}.")
    seeds = [int(t) for t in tokens]
    if count and len(values) == 1 and "," not in values[0]:
        if seeds[0] < 1:
            raise ValueError(
                f"{option} {shown}: a count of seeds must be >= 1; for seed {seeds[0]} alone, "
                f"use --seed-list {seeds[0]}."
            )
        return list(range(seeds[0]))
    if any(s < 0 for s in seeds):
        raise ValueError(f"{option} {shown}: seeds are integers >= 0.")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"{option} {shown}: give distinct seeds.")
    return seeds


def add_data_arguments(
    parser: argparse.ArgumentParser,
    subset_help: str = "all 50,000",
    test_subset_help: str | None = None,
) -> argparse._ArgumentGroup:
    """The ``data`` group: ``--npz``, ``--data-dir``, ``--subset`` and, with
    ``test_subset_help`` (its default's description), ``--test-subset``; returns the group."""
    d = parser.add_argument_group("data")
    d.add_argument(
        "--npz",
        metavar="PATH",
        help="offline .npz with x_train, y_train, x_test, y_test (uint8) in "
        "keras.datasets.cifar10 layout (default: none, load cifar10 through tensorflow_datasets)",
    )
    d.add_argument(
        "--data-dir",
        metavar="DIR",
        help="an existing TFDS data directory (default: none, TFDS' own, ~/tensorflow_datasets)",
    )
    d.add_argument(
        "--subset",
        type=int,
        metavar="N",
        help=f"train on the first N training images only (default: none, {subset_help})",
    )
    if test_subset_help is not None:
        d.add_argument(
            "--test-subset",
            type=int,
            metavar="N",
            help=f"evaluate on the first N test images only (default: none, {test_subset_help})",
        )
    return d


def add_verbose_argument(parser, terminal: int = 1) -> None:
    """``--verbose``, Keras' ``fit`` verbosity: ``terminal`` (default 1, the progress bar)
    when stdout is a terminal, else 2, one line per epoch: a progress bar written to a log
    file or a pipe fills it with a line per update."""
    default = (
        "2"
        if terminal == 2
        else (
            f"{terminal} when output goes to a terminal, 2 (one line per epoch) when it goes to a "
            "file or pipe"
        )
    )
    parser.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=terminal if sys.stdout.isatty() else 2,
        help=f"Keras' progress output: 0 none, 1 a progress bar, 2 one line per epoch "
        f"(default: {default})",
    )


def parse_checked(
    parser: argparse.ArgumentParser,
    check: Callable[[argparse.Namespace], None],
    argv: Sequence[str] | None = None,
) -> argparse.Namespace:
    """Parse, then ``check``, then the backend: a ValueError ``check`` raises, or a
    backend that cannot load, exits with code 2 and its message."""
    args = parser.parse_args(argv)
    try:
        check(args)
    except ValueError as e:
        parser.error(str(e))
    problem = backend_problem()
    if problem:
        parser.error(problem)
    return args
