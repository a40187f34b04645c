"""Layer-sequential unit-variance initialization (``lsuv``): kernels measured on a batch.

``initialize`` derives each kernel's scale from the activation that follows it;
``lsuv`` measures it instead. Every handled kernel starts orthonormal, then, layer
by layer in call order, is divided by the standard deviation of the layer's
pre-activation output on a batch until that variance is within ``tol`` of 1.

The whole method runs inside one forward pass. Each handled layer's ``call`` is
hooked: when the pass reaches it, its input already reflects the rescaled layers
before it (the sequential order of Mishkin & Matas), and the layer is re-run
alone on that input until its variance is right. During the pass the kernels'
new values live in a ``keras.StatelessScope``, and are assigned only after it,
outside every layer's call. Two reasons:

- Under a mixed dtype policy a layer's call runs in an autocast scope, where a
  variable's value is a cast copy. On the torch backend ``Variable.assign`` writes
  into that copy, so an assignment made inside a call is silently lost; and a
  kernel read inside the call is already rounded to float16 or bfloat16. Keeping
  float32 master values in numpy and assigning after the pass avoids both.
- A pass that stops (a zero or NaN variance) changes no kernel it did not finish.
"""

from __future__ import annotations

import math
import warnings

import keras
import numpy as np

from keras_glorot import backend
from keras_glorot.whole_model import kinds
from keras_glorot.whole_model.found import LINEAR
from keras_glorot.whole_model.initialize import _validate_seed
from keras_glorot.whole_model.laws import Seeds
from keras_glorot.whole_model.reading import LeftAlone, ModelReading, read_model, validate_model
from keras_glorot.whole_model.report import InitReport, KernelRecord


class _Stopped(Exception):
    """Raised inside the forward pass when a layer's variance cannot be rescaled."""


def orthonormal(shape, rng: np.random.Generator) -> np.ndarray:
    """An orthonormal kernel: columns (or rows) of the flattened kernel orthonormal.

    The kernel is read as a ``(prod(shape[:-1]), shape[-1])`` matrix, as Keras'
    ``Orthogonal`` does; the QR of a Gaussian matrix, with the signs of R's
    diagonal moved into Q, is Haar-distributed (Saxe et al., 2014). The Gaussian
    comes from numpy (the same draws on every backend); the QR runs on the backend
    (``keras.ops.qr``, float32), several times faster here than numpy's for a
    4096 x 4096 kernel. Not ``keras.initializers.Orthogonal``: its Gaussian comes from
    ``keras.random``, whose draws differ from backend to backend, where ``lsuv(seed=k)``
    starts from the same kernels on all three, up to the QR's float32 rounding (and
    every committed LSUV run started from them).
    """
    rows, cols = math.prod(shape[:-1]), shape[-1]
    gaussian = rng.standard_normal((max(rows, cols), min(rows, cols))).astype(np.float32)
    q, r = (keras.ops.convert_to_numpy(t) for t in keras.ops.qr(gaussian))
    q = q * np.sign(np.diag(r))
    return (q if rows >= cols else q.T).reshape(shape)


def _lsuv_kernels(layer) -> list[keras.Variable]:
    """The kernels LSUV pre-inits; the last one is the one it rescales."""
    return [k.variable for k in kinds.kernels(layer, lambda *_: LINEAR)]


def _master_dtype(kernel) -> np.dtype:
    # float64 kernels keep float64; every other float kernel is computed in
    # float32 and rounded once, at the final assignment.
    dtype = keras.backend.standardize_dtype(kernel.dtype)
    return np.dtype(np.float64) if dtype == "float64" else np.dtype(np.float32)


def _validate_lsuv(tol, max_iters) -> None:
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ValueError(f"tol must be a number in (0, 1). Received: tol={tol!r}.")
    if isinstance(max_iters, bool) or not isinstance(max_iters, int) or max_iters < 1:
        raise ValueError(f"max_iters must be an int >= 1. Received: max_iters={max_iters!r}.")


def _lsuv_targets(reading: ModelReading) -> list[tuple[object, str, object, str]]:
    """``(layer, reason, activation, name)`` in order: reason "" for layers lsuv rescales.

    A ``MultiHeadAttention`` is taken apart into its four projections (EinsumDense),
    which its call runs in turn.
    """
    targets = []
    for entry in reading.layers:
        layer, name = entry.layer, entry.path
        if isinstance(entry, LeftAlone):
            reason = (
                entry.reason
                if not layer.built
                else (f"{type(layer).__name__} not handled by lsuv (weights left as they are)")
            )
            targets.append((layer, reason, LINEAR, name))
            continue
        if isinstance(layer, keras.layers.MultiHeadAttention) and not kinds.is_registered(layer):
            for kernel in entry.kernels:
                found = kernel.blocks[0].found
                targets.append((kernel.owner, "", found, f"{name}/{kernel.blocks[0].part}"))
            continue
        kind = kinds.kind_of(layer)
        if kind is None or not kind.rescaled:
            reason = f"{type(layer).__name__} not handled by lsuv (weights left as they are)"
            targets.append((layer, reason, entry.follows, name))
            continue
        found = entry.follows
        reason = f"output head excluded ({found.label})" if found.head else ""
        targets.append((layer, reason, found, name))
    return targets


def _preactivation(layer, args, kwargs) -> tuple[object, float]:
    """``layer``'s output with its fused activation switched off, and its variance."""
    activation = getattr(layer, "activation", None)
    if activation is not None:
        object.__setattr__(layer, "activation", keras.activations.linear)
    try:
        out = type(layer).call(layer, *args, **kwargs)
    finally:
        if activation is not None:
            object.__setattr__(layer, "activation", activation)
    values = np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float64)
    return out, float(np.var(values)) if values.size else float("nan")


class _LsuvPass:
    """Hooks the target layers' ``call`` so one forward pass runs LSUV layer by layer.

    ``values`` holds the master value of every handled kernel (numpy, float32 or
    float64); ``scope`` is the ``keras.StatelessScope`` through which the pass
    reads them. ``finished`` lists the layers whose kernels are final.
    """

    def __init__(self, targets, values: dict[int, np.ndarray], tol: float, max_iters: int, names):
        self.targets, self.values, self.names = targets, values, names
        self.tol, self.max_iters = tol, max_iters
        self.records: dict[int, KernelRecord] = {}
        self.finished: list = []
        self.scope: keras.StatelessScope | None = None

    def __enter__(self):
        mapping = [
            (kernel, self._tensor(kernel))
            for layer, _ in self.targets
            for kernel in _lsuv_kernels(layer)
        ]
        self.scope = keras.StatelessScope(state_mapping=mapping)
        self.scope.__enter__()
        for layer, found in self.targets:
            object.__setattr__(layer, "call", self._hook(layer, found, layer.call))
        return self

    def __exit__(self, *exc):
        for layer, _ in self.targets:
            object.__delattr__(layer, "call")
        self.scope.__exit__(*exc)

    def _tensor(self, kernel):
        return keras.ops.convert_to_tensor(self.values[id(kernel)], dtype=kernel.dtype)

    def _set(self, kernel, value: np.ndarray) -> None:
        self.values[id(kernel)] = value
        self.scope.add_update((kernel, self._tensor(kernel)))

    def _hook(self, layer, found, original):
        def hook(*args, **kwargs):
            if id(layer) in self.records:  # A shared layer's later calls: as is.
                return original(*args, **kwargs)
            part = kinds.kernels(layer, lambda *_: LINEAR)[-1].blocks[0].part
            record = KernelRecord(self.names[id(layer)], type(layer).__name__, part, found.label)
            self.records[id(layer)] = record
            out = self._rescale(layer, args, kwargs, record)
            self.finished.append(layer)
            return out

        return hook

    def _rescale(self, layer, args, kwargs, record: KernelRecord):
        """Rescales ``layer``'s kernel until its pre-activation variance on ``args`` is ~1.

        Returns the layer's output (activation applied) for the forward pass to go on.
        """
        kernel = _lsuv_kernels(layer)[-1]
        out, variance = _preactivation(layer, args, kwargs)
        iters = 0
        while abs(variance - 1.0) > self.tol and iters < self.max_iters:
            if not math.isfinite(variance) or variance <= 0.0:
                break  # Never divide by a zero or NaN variance.
            master = self.values[id(kernel)]
            self._set(kernel, master * master.dtype.type(1.0 / math.sqrt(variance)))
            out, variance = _preactivation(layer, args, kwargs)
            iters += 1
        record.std = float(np.std(self.values[id(kernel)], dtype=np.float64))
        record.note = f"output var {variance:.4g} after {iters} rescale(s)"
        if not math.isfinite(variance) or variance <= 0.0:
            record.skipped = (
                f"output variance {variance} on x: cannot rescale (kernel left as it was)"
            )
            raise _Stopped
        if abs(variance - 1.0) > self.tol:
            record.note += f"; not within tol={self.tol} after max_iters={self.max_iters}"
        activation = getattr(layer, "activation", None)
        return out if activation is None else activation(out)


def lsuv(
    model: keras.Model,
    x,
    *,
    tol: float = 0.1,
    max_iters: int = 10,
    seed: int | None = None,
) -> InitReport:
    """Layer-sequential unit-variance initialization (Mishkin & Matas, 2016).

    Every handled kernel starts from an orthonormal draw (Saxe et al., 2014).
    Then, for each layer in call order, the kernel is divided by the standard
    deviation of the layer's pre-activation output on ``x`` (the value before a
    fused activation) until that variance is within ``tol`` of 1: the unit
    pre-activation variance the gains of ``Glorot`` aim at, measured instead of
    derived. It all happens in one forward pass on ``x``: when the pass reaches a
    layer (its input already reflecting the rescaled layers before it), the layer
    is re-run alone on that input until its variance is within ``tol``.

    The variance is measured as the model computes: under a mixed dtype policy
    (``mixed_float16``, ``mixed_bfloat16``) in the compute dtype, while the kernels
    are scaled in float32 and stored in their variable dtype. A kernel is written
    only once its layer is finished, so the result is the same on every backend.

    Handled: Dense, Conv1D/2D/3D, DepthwiseConv1D/2D, SeparableConv1D/2D (the
    pointwise kernel is rescaled), Conv*DTranspose, in Sequential, functional or
    subclassed models. Softmax heads are excluded (as in the paper). Other
    layers with weights are skipped and listed in the report.

    When a layer's output variance on ``x`` is zero or not finite, ``lsuv`` does
    not divide by it: it stops there, warns (``UserWarning``) and says why in
    ``report.stopped``. The layers finished before it keep their new kernels;
    that layer and every later one keep the kernels they had, and the report
    marks them skipped.

    Args:
        model: A built ``keras.Model``.
        x: A batch the model accepts (array or list of arrays); a few hundred
            samples give a variance estimate within a few percent.
        tol: Accepted ``|Var - 1|``, in (0, 1).
        max_iters: Rescales per layer at most (>= 1). With zero biases one
            rescale reaches Var = 1 up to rounding.
        seed: Seed of the orthonormal pre-init (int or None).

    Returns:
        An ``InitReport`` with each layer's final output variance and rescale count.

    Example:

    >>> x = np.random.default_rng(0).normal(size=(256, 784)).astype("float32")
    >>> print(keras_glorot.lsuv(model, x, seed=0))

    Reference:
    - Mishkin & Matas, 2016, "All you need is a good init", ICLR
      (https://arxiv.org/abs/1511.06422), Algorithm 1.
    - Saxe et al., 2014, "Exact solutions to the nonlinear dynamics of learning
      in deep linear neural networks", ICLR (orthonormal initialization).
    """
    validate_model(model)
    _validate_lsuv(tol, max_iters)
    seed = _validate_seed(seed)
    if x is None:
        raise ValueError("x must be a batch of inputs for the model. Received: x=None.")
    seeds, report = Seeds(seed), InitReport("lsuv")
    targets = _lsuv_targets(read_model(model))
    active = [(layer, found) for layer, reason, found, _ in targets if not reason]
    names = {id(layer): name for layer, _, _, name in targets}
    values = {}
    for layer, _ in active:
        for kernel in _lsuv_kernels(layer):
            shape = tuple(int(d) for d in kernel.shape)
            start = orthonormal(shape, np.random.default_rng(seeds.next()))
            values[id(kernel)] = start.astype(_master_dtype(kernel))
    with _LsuvPass(active, values, float(tol), max_iters, names) as lsuv_pass, backend.no_grad():
        try:
            model(x, training=False)
        except _Stopped:
            pass
    # Outside every layer call and autocast scope: assignments land on every backend.
    for layer in lsuv_pass.finished:
        for kernel in _lsuv_kernels(layer):
            kernel.assign(values[id(kernel)].astype(_master_dtype(kernel)))
    for layer, reason, _, name in targets:
        record = lsuv_pass.records.get(id(layer))
        if record is None:
            why = reason or (
                "not reached (kernel left as it was)"
                if report.stopped
                else "not called on x (kernel left as it was)"
            )
            record = KernelRecord(name, type(layer).__name__, skipped=why)
        elif record.skipped:
            report.stopped = f"layer {name!r}: {record.skipped}"
        report.add(record)
    if report.stopped:
        warnings.warn(f"lsuv stopped at {report.stopped}", UserWarning, stacklevel=2)
    return report
