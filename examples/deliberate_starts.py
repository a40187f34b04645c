"""Deliberate starts: an author's near-zero kernels, kept or redrawn, trained on CIFAR-10.

``keras_glorot.initialize(model)`` keeps a kernel an author started at a constant, or
drew with an initializer whose std is under a tenth of Keras' default for its fans
(``NEAR_ZERO``), and redraws every other one. Two Keras examples decide on which side of
that line a start belongs, each with three starts of the same net, paired by seed:

- **ddpm**: keras-io's DDPM U-Net (``nets.keras_io.diffusion``), whose
  ``kernel_init(0.0)`` draws every residual block's last conv, every attention output
  projection and the output conv at ``VarianceScaling(1e-10)``. Trained on the example's
  objective: a time step t uniform in [0, 1000), the image noised by the example's linear
  beta schedule, the mean squared error of the predicted noise; Adam at the example's
  2e-4. CIFAR-10 images are averaged down to the U-Net's input size and scaled to
  [-1, 1], as the example scales its flowers. Starts: ``author`` (as built),
  ``initialize_keep`` (``initialize(model, seed)``: the near-zero kernels kept) and
  ``initialize_redraw`` (the U-Net built with ``kernel_init(1.0)`` everywhere, then
  ``initialize(model, seed)``: the near-zero kernels redrawn like any other).
- **retinanet**: keras-io's RetinaNet (``nets.keras_io.detection``), whose heads are
  drawn at ``RandomNormal(0, 0.01)`` and whose classification bias is the focal loss'
  prior ``-log(99)``. Trained on its classification loss alone (the example's
  ``RetinaNetClassificationLoss``, alpha 0.25, gamma 2, summed over anchors and divided
  by the image's positive anchors as its ``RetinaNetLoss`` does) with the example's
  optimizer, SGD with momentum 0.9 on its piecewise learning rate. The task: each
  32x32 CIFAR-10 image pasted at a random place on a black canvas of the net's input
  size; on every pyramid level the cell holding the image's centre gets the image's
  class on its square anchor, every other anchor is background. Starts: ``author``,
  ``initialize`` (``initialize(model, seed)``: the 0.01 heads redrawn) and
  ``initialize_keep_heads`` (``initialize(model, seed, explicit="keep")``: every
  author's initializer kept, the heads among them).

Each (experiment, start, seed) trains ``--steps`` steps on batches that depend on the
seed only, so the three starts of a seed see the same images, time steps and noise.
Reported: the loss on a fixed held-out batch (the first ``--heldout`` test images, the
same for every run) before and after training, the first training step's loss and the
mean of the last 50. ``--out DIR`` writes ``DIR/runs.jsonl`` (a line per run: git
commit, backend, seed, start, every step's loss) and ``DIR/table.md``.

Example::

    python examples/deliberate_starts.py --npz cifar10.npz --out deliberate_starts

Every argument, and the .npz, is checked before Keras or a backend is imported.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time
import warnings
from collections.abc import Sequence

# Before anything can import TensorFlow; set it yourself to see them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no TensorFlow C++ info/warning lines
_HERE = str(pathlib.Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import numpy as np  # noqa: E402
from studylib.cifar10_data import DataError, load_npz  # noqa: E402  (NumPy only)
from studylib.cli_args import (  # noqa: E402  (no Keras yet)
    Parser,
    add_seed_arguments,
    backend_problem,
    resolve_seeds,
)

TITLE = "Deliberate starts: keep or redraw"
# Each experiment's starts; the pair that decides the rule: (kept, redrawn).
STARTS = {
    "ddpm": ("author", "initialize_keep", "initialize_redraw"),
    "retinanet": ("author", "initialize", "initialize_keep_heads"),
}
KEPT_REDRAWN = {
    "ddpm": ("initialize_keep", "initialize_redraw"),
    "retinanet": ("initialize_keep_heads", "initialize"),
}
WHAT = {
    "ddpm": "DDPM U-Net, noise-prediction MSE",
    "retinanet": "RetinaNet classification head, focal loss",
}
LAST = 50  # the training loss is averaged over this many last steps

# examples/generative/ddpm.py: 1000 steps of a linear beta schedule, Adam at 2e-4.
TIMESTEPS = 1000
DDPM_LEARNING_RATE = 2e-4
# examples/vision/retinanet.py: 10 classes here (CIFAR-10's), 16 filters as in the corpus'
# builder; the focal loss' alpha and gamma; SGD with momentum on its piecewise rate.
RETINANET_CLASSES = 10
RETINANET_FILTERS = 16
RETINANET_CANVAS = 64
FOCAL_ALPHA = 0.25
FOCAL_GAMMA = 2.0
LEARNING_RATES = (2.5e-06, 0.000625, 0.00125, 0.0025, 0.00025, 2.5e-05)
LEARNING_RATE_BOUNDARIES = (125, 250, 500, 240000, 360000)
# The example's anchors per cell: ratios (0.5, 1, 2) x scales (1, 2^(1/3), 2^(2/3)), in
# that nesting; the square one of the base scale (ratio 1, scale 1) is the image's anchor.
ANCHORS_PER_CELL = 9
SQUARE_ANCHOR = 3
# The held-out batch's positions, time steps and noise: one stream for every run.
HELDOUT_SEED = 12345


def parse_args(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, dict]:
    p = Parser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--npz",
        metavar="PATH",
        required=True,
        help="CIFAR-10 in keras.datasets.cifar10 layout (python examples/get_cifar10.py "
        "--out cifar10.npz writes one)",
    )
    p.add_argument(
        "--experiments", nargs="+", choices=tuple(STARTS), default=list(STARTS),
        help="which comparisons to run",
    )  # fmt: skip
    add_seed_arguments(p, default=3)
    p.add_argument("--steps", type=int, default=300, help="training steps per run")
    p.add_argument("--batch", type=int, default=32, help="images per training step")
    p.add_argument(
        "--heldout", type=int, default=256, help="test images in the fixed held-out batch"
    )
    p.add_argument(
        "--ddpm-lr", type=float, default=DDPM_LEARNING_RATE, help="the DDPM run's Adam rate"
    )
    p.add_argument("--out", metavar="DIR", help="write DIR/runs.jsonl and DIR/table.md")
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error(f"--steps {args.steps}: must be >= 1.")
    if args.batch < 2:
        p.error(f"--batch {args.batch}: must be >= 2.")
    if args.heldout < 1:
        p.error(f"--heldout {args.heldout}: must be >= 1.")
    if not args.ddpm_lr > 0:
        p.error(f"--ddpm-lr {args.ddpm_lr}: must be > 0.")
    args.experiments = list(dict.fromkeys(args.experiments))
    try:
        resolve_seeds(args)
    except ValueError as e:
        p.error(str(e))
    if args.out and pathlib.Path(args.out).is_file():
        p.error(f"--out {args.out}: a file, not a folder.")
    try:
        data = load_npz(args.npz)
    except DataError as e:
        p.error(str(e))
    if args.heldout > len(data["x_test"]):
        p.error(f"--heldout {args.heldout}: {args.npz} holds {len(data['x_test'])} test images.")
    problem = backend_problem()
    if problem:
        p.error(problem)
    return args, data


# ---------------------------------------------------------------------------------------
# DDPM: noise prediction.


def ddpm_images(x: np.ndarray, size: int) -> np.ndarray:
    """CIFAR-10 images averaged down to ``size`` pixels a side, scaled to [-1, 1]."""
    factor = x.shape[1] // size
    x = x.astype("float32").reshape(len(x), size, factor, size, factor, 3).mean(axis=(2, 4))
    return np.clip(x / 127.5 - 1.0, -1.0, 1.0)


def noise_schedule() -> tuple[np.ndarray, np.ndarray]:
    """The example's ``GaussianDiffusion``: sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t)."""
    from nets.keras_io.diffusion import GaussianDiffusion

    schedule = GaussianDiffusion(timesteps=TIMESTEPS)
    return (
        np.asarray(schedule.sqrt_alphas_cumprod),
        np.asarray(schedule.sqrt_one_minus_alphas_cumprod),
    )


def ddpm_batch(images, rng, count, schedule, indices=None):
    """``([noisy images, t], noise)``: the example's ``train_step`` up to the forward
    pass (``q_sample``), drawn with NumPy so that every start of a seed sees the same."""
    if indices is None:
        indices = rng.integers(0, len(images), count)
    x0 = images[indices]
    t = rng.integers(0, TIMESTEPS, len(x0)).astype("int64")
    noise = rng.standard_normal(x0.shape).astype("float32")
    signal, noise_scale = (s[t][:, None, None, None].astype("float32") for s in schedule)
    return [signal * x0 + noise_scale * noise, t], noise


def build_ddpm(start: str, seed: int, learning_rate: float):
    """The corpus' DDPM U-Net, started as ``start`` says."""
    import keras
    from nets.keras_io import diffusion

    import keras_glorot

    keras.utils.set_random_seed(seed)
    if start == "initialize_redraw":
        # The example's kernel_init(0.0) becomes kernel_init(1.0): no kernel is near zero,
        # so initialize() redraws every one of them.
        own = diffusion.kernel_init
        diffusion.kernel_init = lambda scale: own(1.0)
        try:
            model = diffusion.ddpm_unet().model
        finally:
            diffusion.kernel_init = own
    else:
        model = diffusion.ddpm_unet().model
    report = None
    if start != "author":
        report = _initialize(keras_glorot.initialize, model, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    return model, report


# ---------------------------------------------------------------------------------------
# RetinaNet: the classification head on CIFAR-10 images pasted on a canvas.


def level_shapes(model, canvas: int) -> list[tuple[int, int]]:
    """The (height, width) of every pyramid level the heads read, in output order."""
    features = model.fpn(np.zeros((1, canvas, canvas, 3), "float32"))
    return [(int(f.shape[1]), int(f.shape[2])) for f in features]


def retinanet_batch(x, y, rng, count, levels, classes, canvas, indices=None):
    """Images pasted at random places on a black canvas, and each anchor's target: the
    image's class (one-hot) on the square anchor of the cell holding its centre on every
    level, all zeros (background) on every other anchor."""
    if indices is None:
        indices = rng.integers(0, len(x), count)
    side = x.shape[1]
    anchors = sum(h * w for h, w in levels) * ANCHORS_PER_CELL
    images = np.zeros((len(indices), canvas, canvas, 3), "float32")
    targets = np.zeros((len(indices), anchors, classes), "float32")
    tops = rng.integers(0, canvas - side + 1, len(indices))
    lefts = rng.integers(0, canvas - side + 1, len(indices))
    for i, (k, top, left) in enumerate(zip(indices, tops, lefts, strict=True)):
        images[i, top : top + side, left : left + side] = x[k] / 255.0
        centre_y, centre_x = top + side / 2, left + side / 2
        offset = 0
        for h, w in levels:
            row = min(int(centre_y * h / canvas), h - 1)
            col = min(int(centre_x * w / canvas), w - 1)
            anchor = offset + (row * w + col) * ANCHORS_PER_CELL + SQUARE_ANCHOR
            targets[i, anchor, y[k] % classes] = 1.0
            offset += h * w * ANCHORS_PER_CELL
    return images, targets


def focal_loss(y_true, y_pred):
    """The example's ``RetinaNetClassificationLoss`` summed over anchors and classes,
    divided by the image's positive anchors (its ``RetinaNetLoss``); the box outputs
    (``y_pred``'s first 4 channels) are not trained here."""
    from keras import ops

    logits = y_pred[..., 4:]
    cross_entropy = ops.binary_crossentropy(y_true, logits, from_logits=True)
    probs = ops.sigmoid(logits)
    positive = ops.equal(y_true, 1.0)
    alpha = ops.where(positive, FOCAL_ALPHA, 1.0 - FOCAL_ALPHA)
    pt = ops.where(positive, probs, 1.0 - probs)
    loss = ops.sum(alpha * ops.power(1.0 - pt, FOCAL_GAMMA) * cross_entropy, axis=-1)
    positives = ops.sum(ops.max(y_true, axis=-1), axis=-1)
    return ops.sum(loss, axis=-1) / ops.maximum(positives, 1.0)


def build_retinanet(start: str, seed: int):
    """The corpus' RetinaNet with CIFAR-10's classes, started as ``start`` says."""
    import keras
    from nets.keras_io.detection import RetinaNet

    import keras_glorot

    keras.utils.set_random_seed(seed)
    model = RetinaNet(num_classes=RETINANET_CLASSES, filters=RETINANET_FILTERS)
    model(np.zeros((1, RETINANET_CANVAS, RETINANET_CANVAS, 3), "float32"))
    report = None
    if start == "initialize":
        report = _initialize(keras_glorot.initialize, model, seed=seed)
    elif start == "initialize_keep_heads":
        report = _initialize(keras_glorot.initialize, model, seed=seed, explicit="keep")
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
        list(LEARNING_RATE_BOUNDARIES), list(LEARNING_RATES)
    )
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9), loss=focal_loss)
    return model, report


# ---------------------------------------------------------------------------------------
# The runs.


def _initialize(initialize, model, **options):
    """``initialize(model, **options)``, its warning recorded on the report, not printed
    (its fallbacks are the same for every seed)."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        return initialize(model, **options)


def _rms(variable) -> float:
    value = np.asarray(variable.numpy(), dtype=np.float64)
    return float(np.sqrt(np.mean(value**2)))


def _kernels(model) -> list:
    return [v for v in model.weights if v.name == "kernel"]


def kernel_summary(experiment: str, model) -> dict:
    """What the start left where the rule is decided: the DDPM kernels at (near) zero, the
    RetinaNet heads' kernel std."""
    if experiment == "ddpm":
        kernels = _kernels(model)
        return {"near_zero_kernels": sum(_rms(v) < 1e-4 for v in kernels), "kernels": len(kernels)}
    return {
        f"{head}_kernel_rms": [round(_rms(v), 5) for v in _kernels(getattr(model, head))]
        for head in ("cls_head", "box_head")
    }


class Task:
    """One experiment's data: its training batches (one stream per seed), its held-out
    batch, and how to build a start and read its outputs."""

    def __init__(self, experiment: str, data: dict, args: argparse.Namespace):
        self.experiment, self.args = experiment, args
        rng = np.random.default_rng(HELDOUT_SEED)
        heldout = np.arange(args.heldout)
        if experiment == "ddpm":
            size = int(build_ddpm("author", 0, args.ddpm_lr)[0].inputs[0].shape[1])
            self.schedule = noise_schedule()
            self.images = ddpm_images(data["x_train"], size)
            test = ddpm_images(data["x_test"][: args.heldout], size)
            self.heldout = ddpm_batch(test, rng, args.heldout, self.schedule, indices=heldout)
        else:
            self.levels = level_shapes(build_retinanet("author", 0)[0], RETINANET_CANVAS)
            self.x, self.y = data["x_train"], data["y_train"]
            self.heldout = self._pasted(data["x_test"], data["y_test"], rng, heldout)

    def _pasted(self, x, y, rng, indices=None):
        shape = (self.levels, RETINANET_CLASSES, RETINANET_CANVAS)
        return retinanet_batch(x, y, rng, self.args.batch, *shape, indices=indices)

    def batch(self, seed: int, step: int):
        rng = np.random.default_rng([seed, step])
        if self.experiment == "ddpm":
            return ddpm_batch(self.images, rng, self.args.batch, self.schedule)
        return self._pasted(self.x, self.y, rng)

    def build(self, start: str, seed: int):
        if self.experiment == "ddpm":
            return build_ddpm(start, seed, self.args.ddpm_lr)
        return build_retinanet(start, seed)

    def outputs(self, model, x) -> np.ndarray:
        """The predicted noise, or every output (box offsets, then class logits), by eager
        calls in chunks of 64: no compiled function to trace for a measurement."""
        from keras import ops

        count = len(x[0]) if isinstance(x, list) else len(x)
        chunks = []
        for i in range(0, count, 64):
            chunk = [part[i : i + 64] for part in x] if isinstance(x, list) else x[i : i + 64]
            chunks.append(ops.convert_to_numpy(model(chunk, training=False)))
        return np.concatenate(chunks)

    def loss(self, model, batch) -> float:
        """The training loss on ``batch``, averaged as ``evaluate`` would."""
        from keras import ops

        x, y = batch
        predicted = self.outputs(model, x)
        if self.experiment == "ddpm":
            return float(np.mean((predicted - y) ** 2))
        return float(np.mean(ops.convert_to_numpy(focal_loss(y, predicted))))

    def logits(self, model, x) -> np.ndarray:
        """What the start is judged by: the predicted noise, or the class logits."""
        y = self.outputs(model, x)
        return y if self.experiment == "ddpm" else y[..., 4:]


def run_one(task: Task, start: str, seed: int) -> dict:
    """Build ``start`` for ``seed``, measure it, train it, measure it again."""
    import keras

    args = task.args
    model, report = task.build(start, seed)
    started = time.perf_counter()
    summary = kernel_summary(task.experiment, model)
    output_std = float(np.std(task.logits(model, task.heldout[0])))
    heldout_start = task.loss(model, task.heldout)
    losses, training = [], time.perf_counter()
    for step in range(args.steps):
        x, y = task.batch(seed, step)
        losses.append(float(np.asarray(model.train_on_batch(x, y))))
    training = time.perf_counter() - training
    heldout_end = task.loss(model, task.heldout)
    return {
        "experiment": task.experiment,
        "start": start,
        "seed": seed,
        "backend": keras.config.backend(),
        "keras_version": keras.__version__,
        **source(),
        "steps": args.steps,
        "batch": args.batch,
        "heldout_images": args.heldout,
        "optimizer": f"Adam {args.ddpm_lr:g}"
        if task.experiment == "ddpm"
        else "SGD momentum 0.9, the example's piecewise rate",
        "heldout_start": heldout_start,
        "first_step": losses[0],
        f"last{LAST}": float(np.mean(losses[-LAST:])),
        "heldout_end": heldout_end,
        "output_std_start": output_std,
        **summary,
        "initialize_fallbacks": len(report.fallbacks) if report is not None else 0,
        "seconds": round(time.perf_counter() - started, 1),
        "train_seconds": round(training, 1),
        "losses": [float(f"{v:.5g}") for v in losses],
    }


def source() -> dict:
    """The git commit the script ran from and whether its tracked files differed."""
    from studylib.study import source_record

    return {k: v for k, v in source_record().items() if k.startswith(("git", "package"))}


# ---------------------------------------------------------------------------------------
# The table.

METRICS = (
    ("heldout_start", "held-out, start"),
    ("first_step", "step 1"),
    (f"last{LAST}", f"last {LAST} steps"),
    ("heldout_end", "held-out, end"),
)


def _mean_sd(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.4g}"
    return f"{np.mean(values):.4g} ± {np.std(values, ddof=1):.2g}"


def table(runs: list[dict]) -> str:
    """Every experiment's starts (mean ± sd over seeds) and the paired differences."""
    first = runs[0]
    seeds = sorted({r["seed"] for r in runs})
    commits = sorted({f"{r['git_commit'][:7] if r['git_commit'] else 'unknown'}"
                      f"{'+dirty' if r['git_dirty'] else ''}" for r in runs})  # fmt: skip
    lines = [
        f"Backend: {first['backend']} (Keras {first['keras_version']}); code "
        f"{', '.join(commits)}; seeds {', '.join(map(str, seeds))}; {first['steps']} steps of "
        f"{first['batch']} images; held-out batch: the first {first['heldout_images']} test "
        "images. Losses: lower is better; mean ± sd over seeds.",
    ]
    for experiment in STARTS:
        mine = [r for r in runs if r["experiment"] == experiment]
        if not mine:
            continue
        steps = mine[0]["steps"]
        lines += ["", f"**{WHAT[experiment]}** after {steps} steps", ""]
        lines.append(
            "| start | " + " | ".join(label for _, label in METRICS) + " | output std at start |"
        )
        lines.append("|---" * (len(METRICS) + 2) + "|")
        for start in STARTS[experiment]:
            rows = [r for r in mine if r["start"] == start]
            if not rows:
                continue
            cells = [_mean_sd([r[key] for r in rows]) for key, _ in METRICS]
            std = _mean_sd([r["output_std_start"] for r in rows])
            lines.append(f"| `{start}` | " + " | ".join(cells) + f" | {std} |")
        lines += ["", "Paired by seed (B − A): per seed, then mean ± sd.", ""]
        lines.append("| B − A | metric | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |")
        lines.append("|---" * (len(seeds) + 3) + "|")
        kept, redrawn = KEPT_REDRAWN[experiment]
        pairs = [(kept, redrawn), ("author", kept), ("author", redrawn)]
        for a, b in pairs:
            by_seed = {}
            for seed in seeds:
                ra = [r for r in mine if r["start"] == a and r["seed"] == seed]
                rb = [r for r in mine if r["start"] == b and r["seed"] == seed]
                if ra and rb:
                    by_seed[seed] = (ra[0], rb[0])
            if not by_seed:
                continue
            for key, label in METRICS:
                diffs = {s: rb[key] - ra[key] for s, (ra, rb) in by_seed.items()}
                cells = [f"{diffs[s]:+.3g}" if s in diffs else "–" for s in seeds]
                values = list(diffs.values())
                mean = f"{np.mean(values):+.3g}"
                if len(values) > 1:
                    mean += f" ± {np.std(values, ddof=1):.2g}"
                lines.append(f"| `{b}` − `{a}` | {label} | " + " | ".join(cells) + f" | {mean} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args, data = parse_args(argv)  # before any backend is imported
    import keras

    print(f"Backend: {keras.config.backend()} (Keras {keras.__version__})", flush=True)
    out = pathlib.Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "runs.jsonl").write_text("")
    runs = []
    for experiment in args.experiments:
        task = Task(experiment, data, args)
        for seed in args.seeds:
            for start in STARTS[experiment]:
                run = run_one(task, start, seed)
                runs.append(run)
                print(
                    f"{experiment} {start} seed {seed}: "
                    + ", ".join(f"{label} {run[key]:.4g}" for key, label in METRICS)
                    + f" ({run['seconds']:.0f} s)",
                    flush=True,
                )
                if out:
                    with open(out / "runs.jsonl", "a") as f:
                        f.write(json.dumps(run) + "\n")
    text = f"# {TITLE}\n\n" + table(runs)
    print("\n" + text)
    if out:
        (out / "table.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
