"""Signal propagation through a model: per-layer activation and gradient statistics.

``signal_report(model, x)`` runs one forward and one backward pass on a batch and
records, for every layer call, the mean and standard deviation of its output and,
for layers with weights, the standard deviation of the gradient of the loss with
respect to its main kernel. A well-initialized deep network keeps both roughly
constant with depth; a shrinking curve means the signal vanishes.

Next to the measured curve it puts the mean-field prediction for plain stacks
(``keras_glorot.whole_model.mean_field``), and ``training=True`` runs the pass as the first
training step would (BatchNormalization on batch statistics) without changing any
variable.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from keras_glorot import backend
from keras_glorot.whole_model import kinds, mean_field, tables
from keras_glorot.whole_model.reading import ModelReading, read_model


def recorded_layers(reading: ModelReading) -> dict[str, keras.layers.Layer]:
    """``{row name: layer}`` for the rows of ``signal_report``, in layer order.

    Every leaf layer; inside composite layers, the sublayers with weights (kernels,
    normalizations, embeddings), named by the composites holding them
    (``block/attention``); a ``MultiHeadAttention`` gives one row per projection.
    """
    rows = {}
    for layer, name, in_composite in reading.leaves:
        if in_composite and not layer.weights:
            continue  # a composite's dropout or softmax: internals, not rows
        if isinstance(layer, keras.layers.MultiHeadAttention):
            for part in kinds.ATTENTION_PARTS:
                rows[f"{name}/{part.removesuffix('_dense')}"] = getattr(layer, part)
        else:
            rows[name] = layer
    return rows


def _activations(reading: ModelReading) -> dict[int, str]:
    """``{id(layer): what follows its kernel}``, as the reading names it."""
    labels = {}
    for r in reading.kernels:
        labels[id(r.layer)] = r.activation
        if isinstance(r.layer, keras.layers.MultiHeadAttention):
            for kernel in r.kernels:
                labels[id(kernel.owner)] = kernel.blocks[0].found.label
    return labels


def _to_numpy(x) -> np.ndarray:
    # Through float32: TensorFlow cannot convert a bfloat16 scalar to numpy.
    if keras.backend.standardize_dtype(x.dtype) in ("float16", "bfloat16"):
        x = keras.ops.cast(x, "float32")
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


def _first_tensor(outputs):
    flat = keras.tree.flatten(outputs)
    return flat[0] if flat else None


# The columns of ``print(report)``; "activation" (what follows the kernel) is prose: it wraps.
_TEXT_COLUMNS = ("#", "layer", "activation", "output mean", "output std", "predicted std",
                 "kernel grad std")  # fmt: skip


@dataclasses.dataclass
class SignalReport:
    """Per-layer statistics of one forward and backward pass.

    Examples:

    >>> report = keras_glorot.signal_report(model, x)
    >>> print(report)
    >>> report.activation_ratio, report.gradient_ratio
    >>> report.plot("signal.png")

    Attributes:
        layers: Layer names, in call order (a layer called twice appears twice).
        activation_mean: Mean of each layer's output.
        activation_std: Standard deviation of each layer's output.
        gradient_std: Standard deviation of the gradient of the loss w.r.t. the
            layer's main kernel; None for layers without a kernel.
        loss: The loss value the gradients are of.
        training: The mode of the pass: False (inference; BatchNormalization uses
            its moving statistics, dropout is off) or True (as in a training
            step: batch statistics, dropout on).
        predicted_std: The mean-field prediction of each output's std
            (``keras_glorot.mean_field_variances`` from the batch's ``E[x**2]``);
            None for layers it has no rule for.
        prediction_note: The rule applied per layer, or why there is no prediction.
        activation: What follows each kernel layer's kernel, as ``read_model`` reads
            it (the same words ``initialize`` and ``lsuv`` report); None for layers
            without a kernel.
    """

    layers: list[str]
    activation_mean: list[float]
    activation_std: list[float]
    gradient_std: list[float | None]
    loss: float
    training: bool = False
    predicted_std: list[float | None] | None = None
    prediction_note: list[str] | None = None
    activation: list[str | None] | None = None

    @property
    def activation_ratio(self) -> float:
        """Last layer's output std over the first layer's."""
        return self.activation_std[-1] / self.activation_std[0]

    @property
    def gradient_ratio(self) -> float:
        """Last kernel's gradient std over the first kernel's (<1: gradients grow
        toward the input, >1: they vanish toward it)."""
        grads = [g for g in self.gradient_std if g is not None]
        if not grads:
            return float("nan")
        return grads[-1] / grads[0] if grads[0] else float("inf")

    def _mode(self) -> str:
        if self.training:
            return "training (batch statistics, dropout on; no variable updated)"
        return "inference"

    def _rows(self) -> tuple[list[list[str]], dict[str, str]]:
        """The rows of the table (``__str__``; ``to_markdown`` without the activation) and
        ``{reason: letter}`` for the rows without a predicted std, ``- (a)`` in their cell."""
        predicted = self.predicted_std or [None] * len(self.layers)
        reasons = self.prediction_note or ["not computed"] * len(self.layers)
        follows = self.activation or [None] * len(self.layers)
        keys: dict[str, str] = {}  # reason -> its letter, in order of first use
        rows = []
        for i, name in enumerate(self.layers):
            g, p = self.gradient_std[i], predicted[i]
            if p is None:
                shown = f"- ({keys.setdefault(reasons[i], _note_key(len(keys)))})"
            else:
                shown = f"{p:.4g}"
            rows.append([str(i + 1), name, follows[i] or "-", f"{self.activation_mean[i]:.4g}",
                         f"{self.activation_std[i]:.4g}", shown,
                         "-" if g is None else f"{g:.4g}"])  # fmt: skip
        return rows, keys

    def __str__(self) -> str:
        """A table, one row per layer call; under it the two ratios, the mode of the pass
        and why the rows without a predicted std have none."""
        rows, keys = self._rows()
        lines = tables.text_table(_TEXT_COLUMNS, rows)
        lines.append(
            f"output std last/first {self.activation_ratio:.3g}, kernel gradient std "
            f"last/first {self.gradient_ratio:.3g}; loss {self.loss:.4g}; {self._mode()} pass"
        )
        lines += [
            tables.wrapped(f"({key}) no predicted std: {reason}") for reason, key in keys.items()
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"<SignalReport of {len(self.layers)} layer call(s): output std last/first "
            f"{self.activation_ratio:.3g}, kernel gradient std last/first "
            f"{self.gradient_ratio:.3g}, {'training' if self.training else 'inference'}>"
        )

    def to_markdown(self) -> str:
        """The statistics as a Markdown table, one row per layer call; under it, why
        the rows without a predicted std have none (``- (a)`` refers to note a), and
        the mode of the pass."""
        lines = [
            "| # | layer | output mean | output std | predicted std | kernel grad std |",
            "|---|---|---|---|---|---|",
        ]
        rows, keys = self._rows()
        # The terminal's table less its activation column.
        lines += ["| " + " | ".join(row[:2] + row[3:]) + " |" for row in rows]
        if keys:
            lines += ["", "No predicted std:"]
            lines += [f"- ({key}) {reason}." for reason, key in keys.items()]
        lines += ["", f"Mode of the pass: {self._mode()}."]
        return "\n".join(lines)

    def plot(self, path, title: str | None = None) -> None:
        """Writes a PNG of activation std and kernel-gradient std against depth (log scale),
        with the mean-field prediction of the activation std dotted where there is one.

        Needs matplotlib (``pip install keras-glorot[plot]``).

        Args:
            path: File to write.
            title: Figure title (default: none).
        """
        plt = _pyplot()
        depth = np.arange(1, len(self.layers) + 1)
        grads = [(d, g) for d, g in zip(depth, self.gradient_std, strict=True) if g is not None]
        fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
        ax.semilogy(depth, np.maximum(self.activation_std, 1e-30), label="output std")
        predicted = [
            (d, p) for d, p in zip(depth, self.predicted_std or [], strict=False) if p is not None
        ]
        if predicted:
            pd, pv = zip(*predicted, strict=True)
            ax.semilogy(pd, np.maximum(pv, 1e-30), ":", label="mean-field prediction")
        if grads:
            gd, gv = zip(*grads, strict=True)
            ax.semilogy(gd, np.maximum(gv, 1e-30), "--", label="kernel gradient std")
        ax.set_xlabel("layer (call order)")
        ax.set_ylabel("standard deviation")
        if title:
            ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)


def _note_key(index: int) -> str:
    """a, b, ..., z, then aa, ab, ...: a short label for the index-th note."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    key = letters[index % 26]
    while index >= 26:
        index = index // 26 - 1
        key = letters[index % 26] + key
    return key


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "SignalReport.plot needs matplotlib: pip install 'keras-glorot[plot]'."
        ) from None
    return plt


class _Recorder:
    """Hooks every leaf layer's ``call`` to keep its output during one pass."""

    def __init__(self, layers, names: dict[int, str]):
        self.layers, self.name_of = layers, names
        self.names: list[str] = []
        self.layer_of: list = []
        self.outputs: list = []

    def __enter__(self):
        for layer in self.layers:
            object.__setattr__(layer, "call", self._hook(layer, layer.call))
        return self

    def _hook(self, layer, original):
        def hook(*args, **kwargs):
            out = original(*args, **kwargs)
            tensor = _first_tensor(out)
            if tensor is not None:
                self.names.append(self.name_of[id(layer)])
                self.layer_of.append(layer)
                self.outputs.append(tensor)
            return out

        return hook

    def __exit__(self, *exc):
        for layer in self.layers:
            object.__delattr__(layer, "call")

    def reset(self) -> None:
        self.names.clear()
        self.layer_of.clear()
        self.outputs.clear()


def _resolve_loss(y, loss):
    if loss is None and y is not None:
        raise ValueError(
            "y was given but loss=None; pass loss= (a Keras loss name or callable "
            "loss(y_true, y_pred)), or drop y to use the mean squared output."
        )
    if loss is not None and y is None:
        raise ValueError(f"loss={loss!r} needs targets: pass y. Received: y=None.")
    if loss is None:
        return None
    try:
        return keras.losses.get(loss)
    except (ValueError, TypeError):
        raise ValueError(
            f"loss={loss!r} is not a Keras loss. Allowed: a name such as "
            "'mean_squared_error', a keras.losses.Loss, or a callable(y_true, y_pred)."
        ) from None


# float16 gradients below 6e-5 lose precision and below 6e-8 vanish: as Keras'
# LossScaleOptimizer does, the loss is multiplied before the backward pass and the
# gradients divided after it (2**12, less where a gradient then overflows).
LOSS_SCALE = 2.0**12


def _computes_in_float16(layers) -> bool:
    return any(getattr(la, "compute_dtype", None) == "float16" for la in layers)


def _scalar_loss(loss_fn, y, outputs):
    # In float32, as Keras computes losses under mixed precision: a float16 mean
    # of squares overflows past 65504, and a bfloat16 one keeps 8 bits.
    outputs = keras.tree.map_structure(lambda o: keras.ops.cast(o, "float32"), outputs)
    if loss_fn is None:
        # The mean squared output: a target-free loss whose gradient is the output.
        return sum(keras.ops.mean(keras.ops.square(o)) for o in keras.tree.flatten(outputs))
    return keras.ops.mean(loss_fn(y, outputs))


def signal_report(
    model: keras.Model, x, y=None, *, loss=None, training: bool = False
) -> SignalReport:
    """Mean and std of every layer's output, and std of every kernel's gradient.

    One forward pass on ``x`` and one backward pass of the loss:
    ``loss(y, model(x))`` when given, else the mean of the squared output.

    ``training=False`` (default) runs the model in inference mode: at
    initialization a BatchNormalization layer (moving mean 0, variance 1) is then
    the identity up to ``1/sqrt(1 + epsilon)``, so the report shows the network as
    if it had no normalization. ``training=True`` runs it as the first training step
    does: BatchNormalization normalizes with the batch's statistics and dropout,
    noise layers and the like are on. Either way no variable changes: the pass runs
    in a ``keras.StatelessScope``, so BatchNormalization's moving mean and variance
    are not updated and the seed generators of dropout layers are not advanced.
    The dropout masks are therefore those the model's next real training step will
    draw, and a second report draws the same ones (the report is reproducible and
    leaves the user's random stream where it was).

    Examples:

    >>> x = np.random.default_rng(0).normal(size=(256, 784)).astype("float32")
    >>> report = keras_glorot.signal_report(model, x)
    >>> print(report)  # a table, one row per layer call
    >>> report.to_markdown()

    Args:
        model: A built ``keras.Model`` (Sequential, functional or subclassed).
        x: A batch the model accepts.
        y: Targets for ``loss`` (required with it, refused without it).
        loss: A Keras loss name, ``keras.losses.Loss`` or callable
            ``loss(y_true, y_pred)``; None for the mean squared output.
        training: False for inference mode, True for the mode of a training step.

    Returns:
        A ``SignalReport``. Its ``predicted_std`` is the mean-field prediction
        (``keras_glorot.mean_field_variances``, Poole et al. 2016; Schoenholz et
        al. 2017) from the batch's ``E[x**2]``, None where it has no rule
        (``prediction_note`` says why).
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"model must be a keras.Model. Received: model={model!r} of type "
            f"{type(model).__name__}."
        )
    if not model.built:
        raise ValueError(f"model={model.name!r} is not built; build it or call it on a batch.")
    if x is None:
        raise ValueError("x must be a batch of inputs for the model. Received: x=None.")
    if not isinstance(training, bool):
        raise TypeError(
            f"training must be True or False. Received: training={training!r} of type "
            f"{type(training).__name__}."
        )
    loss_fn = _resolve_loss(y, loss)
    reading = read_model(model)
    names = recorded_layers(reading)
    layers = list(names.values())
    names = {id(layer): name for name, layer in names.items()}
    kernels = {id(la): kinds.main_kernel(la) for la in layers}
    variables = list({id(k): k for k in kernels.values() if k is not None}.values())
    with _Recorder(layers, names) as recorder:
        scale = LOSS_SCALE if _computes_in_float16(layers) else 1.0
        while True:

            def forward(scale=scale):
                recorder.reset()
                outputs = model(x, training=training)
                return _scalar_loss(loss_fn, y, outputs) * scale, list(recorder.outputs)

            # Outermost, so that JAX's own scope (the kernels' traced values) sits
            # inside it: a variable read consults only the innermost scope.
            with keras.StatelessScope():
                loss_value, outputs, grads = backend.value_and_grads(model, forward, variables)
            grads = [None if g is None else _to_numpy(g).astype(np.float64) / scale for g in grads]
            if scale == 1.0 or all(g is None or np.isfinite(g).all() for g in grads):
                break
            scale = max(scale / 2.0**4, 1.0)  # a gradient overflowed float16: scale less
        loss_value = _to_numpy(loss_value) / scale
        names, layer_of = list(recorder.names), list(recorder.layer_of)
    grad_std = {
        id(v): float(np.std(g)) if g is not None else None
        for v, g in zip(variables, grads, strict=True)
    }
    values = [_to_numpy(o) for o in outputs]
    predicted, notes = _predictions(reading, x, layer_of, training)
    follows = _activations(reading)
    gradient_std = []
    for layer in layer_of:
        kernel = kernels[id(layer)]
        gradient_std.append(None if kernel is None else grad_std[id(kernel)])
    return SignalReport(
        layers=names,
        activation_mean=[float(v.mean()) for v in values],
        activation_std=[float(v.std()) for v in values],
        gradient_std=gradient_std,
        loss=float(loss_value),
        training=training,
        predicted_std=predicted,
        prediction_note=notes,
        activation=[follows.get(id(layer)) for layer in layer_of],
    )


def _predictions(reading: ModelReading, x, layer_of, training):
    """The mean-field std per recorded layer call, from the batch's E[x**2]."""
    if isinstance(x, (list, tuple, dict)):
        reason = "the input is not a single array"
        return [None] * len(layer_of), [reason] * len(layer_of)
    input_variance = float(np.mean(np.square(_to_numpy(x))))
    found = mean_field.predictions(reading, input_variance, training)
    predicted, notes = [], []
    for layer in layer_of:
        p = found.get(id(layer))
        if p is None or sum(other is layer for other in layer_of) > 1:
            predicted.append(None)
            notes.append("called more than once" if p is not None else "not a leaf layer")
        else:
            predicted.append(p.std)
            notes.append(p.note)
    return predicted, notes
