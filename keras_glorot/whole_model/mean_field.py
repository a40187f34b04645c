"""The mean-field prediction of a plain stack's signal: the variance map, layer by layer.

For a layer ``h = W x + b`` whose weights are i.i.d. with zero mean, and a wide
layer (so that by the central limit theorem ``h`` is Gaussian over units), the
pre-activation variance obeys Poole et al.'s (2016, eq. 3) length map

    q_{l+1} = sigma_w**2 * E[f(sqrt(q_l) z)**2] + sigma_b**2,    z ~ N(0, 1),

with ``sigma_w**2 = fan_in * Var(W)`` and ``sigma_b**2 = Var(b)``. Schoenholz et
al. (2017) use the same map to find the depth scales of deep nets. Here
``sigma_w**2`` is measured from each layer's kernel (``fan_in * mean(W**2)``) and
``sigma_b**2`` from its bias (``mean(b**2)``), so the prediction is for the model
as it is, whatever initializer drew it. The expectation is the deterministic
composite Gauss-Legendre quadrature of ``keras_glorot.gains`` at the nodes
``sqrt(q) z``; activations that follow one another (a fused activation then an
activation layer) are composed inside the expectation.

What is predicted, per layer of a Sequential or functional model: the variance
``q`` of the Gaussian pre-activation the layer's output is a function of, and the
mean and standard deviation of the output over batch and units (what
``signal_report`` measures). Layers with no rule here give None with the reason:
normalization (BatchNormalization's output is set by statistics of the batch or
of training, not by this map), pooling (average pooling depends on the spatial
correlations, max pooling on the order statistics), merges of several inputs
(residual sums, concatenations), op nodes, and everything after any of them.

Reference:
- Poole et al., 2016, "Exponential expressivity in deep neural networks through
  transient chaos", eq. 3 (https://arxiv.org/abs/1606.05340).
- Schoenholz et al., 2017, "Deep Information Propagation", eq. 1
  (https://arxiv.org/abs/1611.01232).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import keras
import numpy as np

from keras_glorot import gains
from keras_glorot.whole_model import found as _activations
from keras_glorot.whole_model import kinds, tables
from keras_glorot.whole_model.reading import KernelReading, ModelReading, read_model


@dataclasses.dataclass(frozen=True)
class MeanFieldLayer:
    """The mean-field prediction for one layer.

    Examples:

    >>> first = keras_glorot.mean_field_variances(model)[0]
    >>> print(first)  # one line: q, mean, std and the rule applied
    >>> first.std, first.note

    Attributes:
        layer: The layer's name.
        q: Variance of the Gaussian pre-activation the output is a function of
            (for a kernel layer: its own pre-activation); None when not predicted.
        mean: Predicted mean of the output over batch and units; None when not
            predicted.
        std: Predicted standard deviation of the output; None when not predicted.
        note: The rule applied, or why there is no prediction.
        activation: What follows the layer's kernel, as ``read_model`` reads it;
            None for a layer without a kernel.
    """

    layer: str
    q: float | None
    mean: float | None
    std: float | None
    note: str
    activation: str | None = None

    def _cells(self) -> list[str]:
        numbers = ("-" if v is None else f"{v:.4g}" for v in (self.q, self.mean, self.std))
        return [self.layer, self.activation or "-", *numbers, self.note]

    def __str__(self) -> str:
        """One line: ``layer: q, mean, std (note)``, what follows the kernel last."""
        if self.std is None:
            return f"{self.layer}: no prediction ({self.note})"
        _, follows, q, mean, std, note = self._cells()
        return f"{self.layer}: q {q}, mean {mean}, std {std} ({note}); followed by {follows}"


class MeanFieldLayers(list):
    """``mean_field_variances``' result: a list of ``MeanFieldLayer``, one per layer, that
    prints as a table."""

    def __str__(self) -> str:
        columns = ("#", "layer", "activation", "q", "mean", "std", "note")
        rows = [[str(i + 1), *p._cells()] for i, p in enumerate(self)]
        return "\n".join(tables.text_table(columns, rows))


@dataclasses.dataclass(frozen=True)
class _Gaussian:
    """The signal ``fns(sqrt(q) z)``: elementwise functions of a N(0, q) pre-activation."""

    q: float
    fns: tuple = ()

    def moments(self) -> tuple[float, float]:
        if not self.fns:
            return 0.0, self.q
        return _cached_moments(self.fns, self.q)


@dataclasses.dataclass(frozen=True)
class _Moments:
    """A signal known only by its mean and second moment (after dropout in training)."""

    q: float
    mean: float
    second: float

    def moments(self) -> tuple[float, float]:
        return self.mean, self.second


@dataclasses.dataclass(frozen=True)
class _Unknown:
    reason: str
    # Why the prediction stopped where it did, carried down the graph so that every
    # layer after it names the cause, not just "its input has none".
    source: str = ""


@functools.lru_cache(maxsize=256)
def _cached_moments(fns: tuple, q: float) -> tuple[float, float]:
    # A layer's moments are asked for its own prediction and by the next layer.
    return gaussian_moments(_compose(fns), q)


def _compose(fns: tuple):
    def composed(x):
        for fn in fns:
            x = fn(x)
        return x

    return composed


def gaussian_moments(fn, q: float) -> tuple[float, float]:
    """``(E[f(sqrt(q) z)], E[f(sqrt(q) z)**2])`` for z ~ N(0, 1), by quadrature.

    The rule of ``keras_glorot.gains.second_moment`` (composite Gauss-Legendre on
    [-16, 16] in z, panels of 1/4), evaluated at ``sqrt(q) z``: a kink at 0 stays
    on a panel edge, one elsewhere (relu6's 6) moves off it and costs accuracy
    (still below 1e-4 relative).

    Examples:

    >>> gaussian_moments(keras.activations.relu, 2.0)[1]  # q / 2
    1.0
    """
    if not (math.isfinite(q) and q >= 0.0):
        raise ValueError(f"q must be a finite variance >= 0. Received: q={q!r}.")
    z, w = gains._quadrature_rule()
    values = gains._apply(fn, math.sqrt(q) * z)
    return float(np.sum(w * values)), float(np.sum(w * values * values))


def _function(found: _activations.Found):
    """The elementwise function a ``Found`` names (None for linear)."""
    if found.activation == "leaky_relu":
        return functools.partial(keras.activations.leaky_relu, negative_slope=found.negative_slope)
    if isinstance(found.activation, str):
        return keras.activations.get(found.activation)
    return found.activation


def _activation(found: _activations.Found | None):
    """``(fn or None, reason or None)``: None fn with no reason means linear."""
    if found is None or found is _activations.LINEAR:
        return None, None
    if found.activation == "linear":  # a softmax head or an activation with no gain
        return None, found.label.removeprefix("linear: ")
    return _function(found), None


_IDENTITY = (keras.layers.Flatten, keras.layers.Reshape, keras.layers.Identity)
_DROPOUT = (
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
)


def _to_numpy(variable) -> np.ndarray:
    # Through a copy: numpy 2 deprecates converting a TensorFlow variable directly.
    return np.asarray(keras.ops.convert_to_numpy(keras.ops.copy(variable)), dtype=np.float64)


def _kernel_layer(layer, signal, reading: KernelReading):
    """A layer of one kernel (Dense, Conv, DepthwiseConv, a registered kind):
    ``q = sigma_w**2 m + sigma_b**2``, with the kernel's true fan_in."""
    (kernel,) = reading.kernels
    kernel, fan_in = kernel.variable, kernel.blocks[0].fan_in
    # mean(W**2) on the device: a VGG's kernels are not copied to the host.
    w2 = keras.ops.mean(keras.ops.square(keras.ops.cast(kernel, "float32")))
    sigma_w2 = fan_in * float(keras.ops.convert_to_numpy(w2))
    sigma_b2 = 0.0
    bias = getattr(layer, "bias", None)
    if bias is not None:
        b = _to_numpy(bias)
        if b.size > 1 and np.ptp(b) == 0.0 and b.flat[0] != 0.0:
            return _Unknown(
                f"bias is the constant {b.flat[0]:g}, not the zero-mean draw the mean "
                "field assumes (sigma_b**2 would misstate it)"
            )
        sigma_b2 = float(np.mean(b * b))
    _, second = signal.moments()
    q = sigma_w2 * second + sigma_b2
    fn, reason = _activation(_activations.own(layer))
    if reason is not None:
        return _Unknown(f"activation {reason}")
    note = f"q = {sigma_w2:.4g} * {second:.4g} + {sigma_b2:.4g}"
    if getattr(layer, "padding", "valid") != "valid":
        note += " (interior positions: zero padding lowers the border)"
    return _Gaussian(q, (fn,) if fn is not None else ()), note


def _dropout(layer, signal, training: bool):
    if not training:
        return signal, "identity in inference"
    rate = float(layer.rate)
    mean, second = signal.moments()
    # Inverted dropout: kept values are divided by 1 - rate; the mean is unchanged.
    return _Moments(signal.q, mean, second / (1.0 - rate)), f"second moment / (1 - {rate:g})"


def _layer_rule(layer, signal, training: bool, reading: KernelReading | None):
    """``(signal, note)`` after ``layer``, or an ``_Unknown``."""
    kind = kinds.kind_of(layer)
    if reading is not None and kind is not None and kind.variance_map:
        if len(reading.kernels) != 1 or len(reading.kernels[0].blocks) != 1:
            return _Unknown(f"{type(layer).__name__} holds {len(reading.kernels)} kernels")
        return _kernel_layer(layer, signal, reading)
    if isinstance(layer, _IDENTITY):
        return signal, "identity"
    if isinstance(layer, _DROPOUT):
        return _dropout(layer, signal, training)
    if isinstance(layer, (keras.layers.GaussianNoise, keras.layers.GaussianDropout)):
        if not training:
            return signal, "identity in inference"
        mean, second = signal.moments()
        if isinstance(layer, keras.layers.GaussianNoise):
            # x + N(0, stddev**2): the second moment grows by stddev**2.
            stddev = float(layer.stddev)
            return _Moments(signal.q, mean, second + stddev**2), f"second moment + {stddev:g}**2"
        # x * N(1, rate / (1 - rate)): the second moment is divided by 1 - rate.
        rate = float(layer.rate)
        return _Moments(signal.q, mean, second / (1.0 - rate)), f"second moment / (1 - {rate:g})"
    found = _activations.from_layer(layer)
    if found is not None:
        fn, reason = _activation(found)
        if reason is not None:
            return _Unknown(reason)
        if fn is None:
            return signal, "linear"
        if not isinstance(signal, _Gaussian):
            return _Unknown("activation of a non-Gaussian signal (after dropout)")
        return _Gaussian(signal.q, (*signal.fns, fn)), found.label
    if isinstance(layer, keras.layers.BatchNormalization):
        return _Unknown(
            "BatchNormalization: set by the batch's (training) or the moving "
            "(inference) statistics, not by the variance map of a plain stack"
        )
    return _Unknown(f"no mean-field rule for {type(layer).__name__}")


class _Walk:
    """The variance map along a functional model's dataflow (``ModelReading.steps``)."""

    def __init__(self, reading: ModelReading, training: bool):
        self.training = training
        self.kernels = {id(r.layer): r for r in reading.kernels}
        self.state: dict[int, object] = {}
        self.out: dict[int, tuple[object, str]] = {}

    def run(self, reading: ModelReading, entry: list) -> None:
        for tensor, signal in zip(reading.inputs, entry, strict=True):
            self.state[tensor] = signal
        for step in reading.steps:
            if step.operation is None:  # into or out of a nested model
                missing = "input not traced" if step.strict else "output not traced"
                signals = [self.state.get(t, _Unknown(missing)) for t in step.inputs]
                for tensor, signal in zip(step.outputs, signals, strict=step.strict):
                    self.state[tensor] = signal
                continue
            signals = [self.state.get(t, _Unknown("input not traced")) for t in step.inputs]
            result = self._operation(step.operation, signals)
            for tensor in step.outputs:
                self.state[tensor] = result

    def _operation(self, operation, signals):
        name = getattr(operation, "name", type(operation).__name__)
        if len(signals) != 1:
            result = _Unknown(
                f"merges {len(signals)} inputs (a residual sum or concatenation): no mean-field "
                "rule"
            )
        elif not isinstance(operation, keras.layers.Layer):
            result = _Unknown(f"op node {name!r}: no mean-field rule")
        elif isinstance(signals[0], _Unknown):
            source = signals[0].source or signals[0].reason
            result = _Unknown(f"no prediction for its input (upstream: {source})", source)
        else:
            reading = self.kernels.get(id(operation))
            outcome = _layer_rule(operation, signals[0], self.training, reading)
            result = outcome if isinstance(outcome, _Unknown) else outcome[0]
            if not isinstance(outcome, _Unknown):
                self.out[id(operation)] = outcome
        if isinstance(result, _Unknown):
            self.out[id(operation)] = (result, result.reason)
        return result


def _prediction(layer, outcome, activation: str | None) -> MeanFieldLayer:
    signal, note = outcome
    if isinstance(signal, _Unknown):
        return MeanFieldLayer(layer.name, None, None, None, note, activation)
    mean, second = signal.moments()
    std = math.sqrt(max(second - mean * mean, 0.0))
    return MeanFieldLayer(layer.name, signal.q, mean, std, note, activation)


def predictions(reading: ModelReading, input_variance: float, training: bool = False) -> dict:
    """``{id(layer): MeanFieldLayer}`` for every leaf layer of the model read."""
    leaves = [layer for layer, _, _ in reading.leaves]
    labels = {id(r.layer): r.activation for r in reading.kernels}

    def each(reason_or_outcomes) -> dict:
        return {
            id(la): _prediction(la, reason_or_outcomes(la), labels.get(id(la))) for la in leaves
        }

    if reading.steps is None:
        unknown = (_Unknown(reading.steps_reason), reading.steps_reason)
        return each(lambda la: unknown)
    walk = _Walk(reading, training)
    try:
        walk.run(reading, [_Gaussian(float(input_variance))] * len(reading.inputs))
    except ValueError as err:  # a nested model called on other than its inputs
        unknown = (_Unknown(f"graph not walkable: {err}"), f"graph not walkable: {err}")
        return each(lambda la: unknown)
    missing = (_Unknown("not reached by the graph walk"), "not reached by the graph walk")
    return each(lambda la: walk.out.get(id(la), missing))


def mean_field_variances(
    model: keras.Model, input_variance: float = 1.0, *, training: bool = False
) -> list[MeanFieldLayer]:
    """The mean-field variance map of a plain stack, layer by layer.

    ``q_{l+1} = sigma_w**2 E[f(sqrt(q_l) z)**2] + sigma_b**2`` (Poole et al. 2016;
    Schoenholz et al. 2017), with ``sigma_w**2 = fan_in * mean(W**2)`` and
    ``sigma_b**2 = mean(b**2)`` read from each layer's weights. Exact in the limit
    of infinite width; a layer of width ``n`` fluctuates around it by about
    ``sqrt(2 / n)`` relative in variance per layer (the sample variance of ``n``
    units). Convolutions with ``padding="same"`` are predicted for interior
    positions. Biases are taken as zero-mean i.i.d. draws (zeros or random);
    a constant nonzero bias gives None.

    Examples:

    >>> predictions = keras_glorot.mean_field_variances(model)
    >>> print(predictions)  # a table, one row per layer
    >>> [p.std for p in predictions]

    Args:
        model: A built Sequential or functional model.
        input_variance: The second moment ``E[x**2]`` of the input's elements.
        training: Whether dropout and noise layers are on (dropout's rate scales
            the second moment, GaussianNoise adds its variance).

    Returns:
        One ``MeanFieldLayer`` per layer, in ``model``'s layer order (nested
        models flattened), in a list that prints as a table; layers without a rule
        have ``q``, ``mean`` and ``std`` None and say why in ``note``.

    Reference:
    - Poole et al., 2016, "Exponential expressivity in deep neural networks
      through transient chaos", eq. 3 (https://arxiv.org/abs/1606.05340).
    - Schoenholz et al., 2017, "Deep Information Propagation"
      (https://arxiv.org/abs/1611.01232).
    """
    if not isinstance(model, keras.Model) or not model.built:
        raise ValueError(f"model must be a built keras.Model. Received: model={model!r}.")
    if isinstance(input_variance, bool) or not isinstance(
        input_variance, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"input_variance must be a number. Received: {input_variance!r}.")
    if not (math.isfinite(input_variance) and input_variance >= 0):
        raise ValueError(
            f"input_variance must be a finite number >= 0. Received: {input_variance!r}."
        )
    reading = read_model(model)
    found = predictions(reading, float(input_variance), training)
    return MeanFieldLayers(found[id(la)] for la, _, _ in reading.leaves)
