"""The study runner: one ``model.fit`` per (initializer, seed), recorded with resume.

Finished runs are appended to ``OUT/runs.jsonl`` (one JSON line, flushed and fsynced), and
rerunning the same command skips what is done. The run in progress is backed up at the end
of every epoch (``keras.callbacks.BackupAndRestore``: model and optimizer state, one folder
per run under ``OUT/backup/``, with the per-epoch history in a CSV beside it), so a killed
study loses at most the epoch in flight. Each line records what the run computed (its
options), how (backend, device, Keras version, dtype policy, determinism) and from which
code (git commit, dirty tree, package version). After every run ``OUT/summary.md`` and
``OUT/curves.png`` are rewritten (``cifar10_report``).

A study supplies a ``build(args, init, seed, data, steps) -> compiled keras.Model``, and
where its data are not CIFAR-10 images with one-hot labels, a ``prepare(data)`` that makes
the arrays ``fit`` gets; the rest (timing, divergence, the dtype policy, determinism,
bookkeeping) is here.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import hashlib
import json
import math
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import keras
import numpy as np

import keras_glorot

from . import determinism
from .report import TITLE, current_init_name, read_runs, write_reports

# Options that do not change what a run computes: left out of the resume key.
NON_RUN_OPTIONS = {"out", "inits", "seeds", "data_dir", "npz", "verbose", "target"}
NON_RUN_OPTIONS |= {"deterministic"}  # the same computation, only repeatable to the bit
NON_RUN_OPTIONS |= {"title"}  # the summary's heading
REPO = pathlib.Path(__file__).resolve().parents[2]

Build = Callable[[argparse.Namespace, str, int, dict[str, np.ndarray], int], keras.Model]
# Measures a freshly built and initialized model before training (a JSON-able dict).
Measure = Callable[[keras.Model], dict[str, Any]]
# The arrays fit trains on (x_train, y_train, x_test, y_test) from the loaded data.
Prepare = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


FIRST_STEPS = 100  # the early-training loss is the mean over this many first steps


class EpochClock(keras.callbacks.Callback):
    """Training seconds per epoch (evaluation excluded), divergence, and the mean training
    loss over the first ``FIRST_STEPS`` steps (or the whole first epoch, if shorter).

    The loss is read once, at that one step: reading it every step would, on an
    accelerator, wait for the device each time. ``first_steps_loss`` is given when a
    resumed run already measured it; it goes into every epoch's logs, so that the history
    CSV keeps the same columns in every process.
    """

    def __init__(self, first_steps_loss: float | None = None):
        super().__init__()
        self.train_seconds: list[float] = []
        self.nan = False
        self._start = self._end = None
        self.first_steps_loss = first_steps_loss

    def on_train_batch_end(self, batch, logs=None):
        if self.first_steps_loss is None and batch == FIRST_STEPS - 1 and logs:
            # Keras' batch logs hold the running mean of the epoch so far.
            self.first_steps_loss = float(logs["loss"])

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._end = time.perf_counter(), None
        self._epoch_start = self._start

    def on_test_begin(self, logs=None):
        # fit's validation starts here: the training part of the epoch is over.
        if self._start is not None and self._end is None:
            self._end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = (self._end or time.perf_counter()) - self._start
        if self.first_steps_loss is None and logs is not None:
            self.first_steps_loss = float(logs["loss"])  # a first epoch under FIRST_STEPS
        if logs is not None:
            logs["first_steps_loss"] = self.first_steps_loss
            # Into the logs, so that the history CSV of a resumed run keeps them; the
            # first epoch of a process includes compiling.
            logs["train_seconds"] = seconds
            logs["epoch_seconds"] = time.perf_counter() - self._epoch_start
            logs["first_in_process"] = float(not self.train_seconds)
        self.train_seconds.append(seconds)
        self._start = None
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.nan = True
            self.model.stop_training = True  # a diverged run is recorded, not continued


def _cpu_name() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description() -> str:
    """The backend's compute device, in words."""
    backend = keras.config.backend()
    try:
        if backend == "jax":
            import jax

            d = jax.devices()
            if d[0].platform != "cpu":
                return f"{len(d)} x {d[0].platform}:{d[0].device_kind}"
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                return f"cuda:{torch.cuda.get_device_name(0)}"
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                return f"{len(gpus)} x GPU ({details.get('device_name', 'GPU')})"
    except Exception as e:  # a description must never stop a study
        return f"unknown ({e})"
    return f"CPU: {_cpu_name()} ({os.cpu_count()} cores)"


def policy_name(mixed_precision: bool) -> str:
    """float32, or with mixed precision float16 compute on accelerators (compile then wraps
    the optimizer in a LossScaleOptimizer) and bfloat16 on CPUs, which have no fast float16
    arithmetic."""
    if not mixed_precision:
        return "float32"
    return "mixed_bfloat16" if device_description().startswith("CPU") else "mixed_float16"


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Keras' dtype policy is global: set it for one run and put the previous one back, so
    that a mixed-precision run cannot leak into whatever the process runs next."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _checkout_state(where: pathlib.Path) -> tuple[str | None, bool | None]:
    """The git commit of the checkout whose top is ``where`` and whether its tracked files
    differ from it; (None, None) where ``where`` is not the top of a checkout."""

    def git(*command: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(where), *command], capture_output=True, text=True, timeout=20
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    # An installed copy inside some other work tree (a virtual env in a clone) is no checkout.
    if top is None or pathlib.Path(top).resolve() != where.resolve():
        return None, None
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return commit, None if status is None else bool(status)


@functools.cache
def source_record(package_file: str | None = None) -> dict[str, Any]:
    """The git commit of this checkout and whether its tracked files differ from it.

    Where ``keras_glorot`` was imported from elsewhere (an installed copy, or the editable
    install of another checkout, which Python finds before the scripts' own), this
    checkout's commit does not describe the package that ran: ``package_path`` names where
    it came from and, if that is a checkout, ``package_git_commit`` and
    ``package_git_dirty`` give its state. Taken once per process: the code a study runs
    is what it imported at its start.
    """
    commit, dirty = _checkout_state(REPO)
    record = {"git_commit": commit, "git_dirty": dirty,
              "package_version": keras_glorot.__version__}  # fmt: skip
    package = pathlib.Path(package_file or keras_glorot.__file__).resolve().parents[1]
    if package != REPO:
        record["package_path"] = str(package)
        record["package_git_commit"], record["package_git_dirty"] = _checkout_state(package)
    return record


def run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options that define what a run computes (its identity, together with init/seed)."""
    opts = {k: v for k, v in vars(args).items() if k not in NON_RUN_OPTIONS}
    if "data" not in opts:  # a study on other data names it in its options
        opts["data"] = "npz:" + pathlib.Path(args.npz).name if args.npz else "tfds:cifar10"
    opts["backend"] = keras.config.backend()
    return opts


def run_key(init: str, seed: int, options: dict[str, Any]) -> str:
    """Stable identity of one run, for resume."""
    blob = json.dumps({"init": init, "seed": seed, **options}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def prepare_arrays(data: dict[str, np.ndarray], num_classes: int = 10) -> dict[str, np.ndarray]:
    """float32 pixels (0..255; the model normalises) and one-hot labels, made once per run."""
    return {
        "x_train": data["x_train"].astype("float32"),
        "y_train": keras.utils.to_categorical(data["y_train"], num_classes),
        "x_test": data["x_test"].astype("float32"),
        "y_test": keras.utils.to_categorical(data["y_test"], num_classes),
    }


class RunBackup:
    """One run's backup folder: Keras' BackupAndRestore state plus the per-epoch history.

    ``state/`` is ``keras.callbacks.BackupAndRestore``'s (weights, optimizer state, the
    number of finished epochs); ``history.csv`` is ``keras.callbacks.CSVLogger``'s. A
    resumed fit returns only the epochs it ran, so the whole curve is read back from the
    CSV, cut to the epochs the state holds (a kill between the two writes leaves one row
    too many).
    """

    def __init__(self, folder: pathlib.Path):
        self.folder = folder
        self.state = folder / "state"
        self.csv = folder / "history.csv"

    def finished_epochs(self) -> int:
        """Epochs the saved state holds (0: a fresh start)."""
        meta = self.state / "training_metadata.json"
        try:
            return int(json.loads(meta.read_text())["epoch"])
        except (OSError, ValueError, KeyError):
            return 0

    def prepare(self) -> int:
        """Makes the folder and drops history rows the saved state does not hold. Returns
        the number of epochs training resumes after (0: a fresh start)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        done = self.finished_epochs()
        rows = self._rows()[:done]
        if rows:
            with self.csv.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        elif self.csv.exists():
            self.csv.unlink()
        return done

    def callbacks(self) -> list[keras.callbacks.Callback]:
        return [
            keras.callbacks.CSVLogger(str(self.csv), append=True),
            keras.callbacks.BackupAndRestore(str(self.state), delete_checkpoint=False),
        ]

    def _rows(self) -> list[dict[str, str]]:
        if not self.csv.exists():
            return []
        with self.csv.open(newline="") as f:
            return list(csv.DictReader(f))

    def history(self) -> dict[str, list[float]]:
        """The whole run's per-epoch logs, every epoch once."""
        rows = self._rows()
        keys = [k for k in rows[0] if k != "epoch"] if rows else []
        return {k: [float(r[k]) for r in rows] for k in keys}

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def fit_model(
    model: keras.Model,
    arrays: dict[str, np.ndarray],
    args: argparse.Namespace,
    epochs: int,
    validate: bool = True,
    backup: RunBackup | None = None,
) -> tuple[dict[str, list[float]], EpochClock]:
    """The study's training step: ``model.fit`` on in-memory arrays with an EpochClock.

    With ``backup``, the fit resumes from its last finished epoch and the history returned
    is the whole run's.
    """
    done = backup.history() if backup else {}
    clock = EpochClock((done.get("first_steps_loss") or [None])[0])
    # The clock first: it writes its seconds into the logs the CSV logger then saves.
    callbacks = [clock] + (backup.callbacks() if backup else [])
    history = model.fit(
        arrays["x_train"],
        arrays["y_train"],
        batch_size=args.batch_size,
        epochs=epochs,
        validation_data=(arrays["x_test"], arrays["y_test"]) if validate else None,
        callbacks=callbacks,
        verbose=args.verbose,
    ).history
    return (backup.history() if backup else history), clock


def train_one(
    args: argparse.Namespace,
    init: str,
    seed: int,
    data: dict[str, np.ndarray],
    build: Build,
    backup: RunBackup | None = None,
    measure: Measure | None = None,
    prepare: Prepare = prepare_arrays,
) -> dict[str, Any]:
    """One fit of one (initializer, seed); returns the record for runs.jsonl.

    ``measure``, if given, runs on the model between its build and its fit; its dict is
    the record's ``at_init``. A resumed run measures the model as built, before the
    restore, so the record is the same as without the interruption.

    With ``backup``, a fit that was killed resumes after its last finished epoch. The
    model is built and initialized as usual first; the restore then replaces its weights
    and optimizer state. The data order and the random draws of augmentation and dropout
    after a resume are not those the killed process would have made, so a resumed run
    matches an uninterrupted one in distribution, not bit for bit.
    """
    n = len(data["x_train"])
    policy = policy_name(args.mixed_precision)
    resumed_after = backup.prepare() if backup else 0
    if args.deterministic:
        determinism.enable(seed)
    with dtype_policy(policy):
        model = build(args, init, seed, data, math.ceil(n / args.batch_size))
        at_init = measure(model) if measure else None
        arrays = prepare(data)
        hist, clock = fit_model(model, arrays, args, args.epochs, backup=backup)
    curve = {k: [float(v) for v in hist.get(k, [])] for k in hist}
    losses = curve.get("loss", []) + curve.get("val_loss", [])
    diverged = clock.nan or any(not math.isfinite(v) for v in losses)
    train_seconds = curve.get("train_seconds", clock.train_seconds)
    # An epoch that started a process includes compiling: throughput from the others.
    first = curve.get("first_in_process", [1.0] + [0.0] * (len(train_seconds) - 1))
    timed = [t for t, f in zip(train_seconds, first, strict=False) if not f] or train_seconds
    test_acc = curve.get("val_accuracy", [])
    return {
        "init": init,
        "seed": seed,
        "options": run_options(args),
        "epochs_run": len(curve.get("loss", [])),
        "resumed_after_epoch": resumed_after,
        "train_loss": curve.get("loss", []),
        "train_accuracy": curve.get("accuracy", []),
        "test_loss": curve.get("val_loss", []),
        "test_accuracy": test_acc,
        "final_test_accuracy": test_acc[-1] if test_acc and not diverged else None,
        "diverged": diverged,
        # Mean training loss over the first min(FIRST_STEPS, steps per epoch) steps.
        "first_steps": min(FIRST_STEPS, math.ceil(n / args.batch_size)),
        "first_steps_loss": (curve.get("first_steps_loss") or [None])[0],
        **({"at_init": at_init} if measure else {}),
        # Training and evaluation, summed over epochs: the same for a resumed run.
        "wall_seconds": sum(curve.get("epoch_seconds", train_seconds)),
        "train_seconds_per_epoch": train_seconds,
        "images_per_second": n * len(timed) / max(sum(timed), 1e-9),
        "n_train": n,
        "n_test": len(data["x_test"]),
        "backend": keras.config.backend(),
        "device": device_description(),
        "dtype_policy": policy,
        "deterministic": bool(args.deterministic),
        "keras_version": keras.__version__,
        **source_record(),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def append_run(path: pathlib.Path, record: dict[str, Any]) -> None:
    """Append one line and force it to disk, so that a later crash cannot lose it."""
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def run_study(
    args: argparse.Namespace,
    data: dict[str, np.ndarray],
    build: Build,
    measure: Measure | None = None,
    prepare: Prepare = prepare_arrays,
) -> int:
    """Every (init, seed) of ``args`` not yet in OUT/runs.jsonl; 0 when all are there.
    ``measure``, ``prepare``: see ``train_one``."""
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    title = getattr(args, "title", None) or TITLE
    runs_path = out / "runs.jsonl"
    options = run_options(args)
    if not args.deterministic and not device_description().startswith("CPU"):
        print(determinism.NOTE_OFF, file=sys.stderr)  # a CPU run repeats exactly anyway
    done = {run_key(r["init"], r["seed"], r["options"]) for r in read_runs(runs_path)}
    inits = []  # each under the name its runs are recorded and reported by, once
    for asked in args.inits:
        init = current_init_name(asked, options)
        if init != asked:
            print(f"note: {asked} draws the same kernels as {init} in this net; run as {init}.")
        if init not in inits:
            inits.append(init)
    for init in inits:
        for seed in args.seeds:
            if run_key(init, seed, options) in done:
                print(f"skip {init} seed {seed}: already in {runs_path}")
                continue
            key = run_key(init, seed, options)
            backup = RunBackup(out / "backup" / key)
            record = train_one(args, init, seed, data, build, backup, measure, prepare)
            append_run(runs_path, record)
            backup.remove()  # the run is in runs.jsonl: its backup is done with
            acc = record["final_test_accuracy"]
            print(
                f"done {init} seed {seed}: test acc "
                f"{'diverged' if acc is None else f'{acc:.4f}'}, "
                f"{record['wall_seconds']:.0f} s, {record['images_per_second']:.0f} img/s",
                flush=True,
            )
            write_reports(read_runs(runs_path), out, target=args.target, title=title)
    write_reports(read_runs(runs_path), out, target=args.target, title=title)
    with contextlib.suppress(OSError):  # not empty: a run of another command is under way
        (out / "backup").rmdir()
    return 0
