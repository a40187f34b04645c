"""Dynamical isometry: how far the input-output Jacobian is from a scaled rotation.

A deep network trains fast when the singular values of its input-output Jacobian
``J`` all sit near one value (Pennington et al. 2017): not just their mean square,
which the variance map keeps at 1, but their spread. ``jacobian_spectrum``
estimates both from a few random probes, without forming ``J``.

What is estimated. ``J`` is the Jacobian of the batch map ``x -> model(x)``
(inference mode: block-diagonal, one block per example, so its singular values are
the union of each example's). Let ``lambda_1..lambda_n`` be the squared singular
values of ``J`` on the probed side of dimension ``n`` (zeros included where the
other side is smaller). For a probe ``v ~ N(0, I_n)`` the ratio
``r = ||J v||**2 / ||v||**2`` (forward mode; ``||J^T u||**2 / ||u||**2`` in reverse
mode) depends only on the direction of ``v``, which is uniform on the sphere, and

    E[r] = mean(lambda) = trace(J^T J) / n,
    Var[r] = 2 / (n + 2) * Var(lambda).

So the mean of the ratios estimates the mean squared singular value, with standard
error ``std(r) / sqrt(probes)``, and ``sqrt((n + 2) / 2) * std(r) / mean(r)``
estimates the spread ``std(lambda) / mean(lambda)``, which is 0 exactly for an
isometry (every probe gives the same ratio). The spread estimate's relative error
is about ``1 / sqrt(2 (probes - 1))`` when the ratios are near Gaussian.

Reference:
- Pennington, Schoenholz and Ganguli, 2017, "Resurrecting the sigmoid in deep
  learning through dynamical isometry: theory and practice"
  (https://arxiv.org/abs/1711.04735).
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np

from keras_glorot import backend

SIDES = ("auto", "input", "output")
_PROBE_STREAM = 0x4A4143  # "JAC"


@dataclasses.dataclass(frozen=True)
class JacobianSpectrum:
    """A probe estimate of the input-output Jacobian's squared singular values.

    Attributes:
        mean_squared_singular_value: Estimate of ``trace(J^T J) / n``, the mean of
            the ``n`` squared singular values on the probed side.
        std_error: Standard error of that estimate, ``std(ratios) / sqrt(probes)``.
        spread: Estimate of ``std(lambda) / mean(lambda)`` over the squared
            singular values ``lambda``: 0 for an isometry.
        probes: Number of random probes.
        side: ``"input"`` (forward mode, ``||J v||``) or ``"output"`` (reverse
            mode, ``||J^T u||``).
        dimension: ``n``, the size of the probed side (batch times features).
        ratios: ``||J v||**2 / ||v||**2`` for each probe.
    """

    mean_squared_singular_value: float
    std_error: float
    spread: float
    probes: int
    side: str
    dimension: int
    ratios: tuple[float, ...]


def _to_numpy(x) -> np.ndarray:
    if keras.backend.standardize_dtype(x.dtype) in ("float16", "bfloat16"):
        x = keras.ops.cast(x, "float32")
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


def jacobian_spectrum(
    model: keras.Model,
    x,
    *,
    probes: int = 32,
    seed: int = 0,
    side: str = "auto",
    training: bool = False,
) -> JacobianSpectrum:
    """Mean and spread of the squared singular values of the input-output Jacobian.

    Each probe is one Jacobian-vector product (forward mode) or one
    vector-Jacobian product (reverse mode) through the backend's autodiff; the
    module docstring derives what the ratios estimate and their standard errors.
    Runs in a ``keras.StatelessScope``: no variable changes (as ``signal_report``).

    Args:
        model: A built model with a single input.
        x: A batch for it (one array).
        probes: Number of random probes (>= 2; the standard error falls as
            ``1 / sqrt(probes)``).
        seed: Seed of the probes' NumPy generator, ``default_rng([seed, 0x4A4143])``:
            not the stream of ``default_rng(seed)``, so that no probe repeats a
            batch drawn with the same seed. Keras' random state is not used.
        side: ``"input"`` probes ``J v`` in input space, ``"output"`` probes
            ``J^T u`` in output space; ``"auto"`` (default) takes the smaller side,
            where no structural zero singular values dilute the spread.
        training: The mode of the model call (False: inference).

    Returns:
        A ``JacobianSpectrum``.

    Example:

    >>> s = keras_glorot.jacobian_spectrum(model, x, probes=32)
    >>> s.mean_squared_singular_value, s.spread

    Reference:
    - Pennington et al., 2017, "Resurrecting the sigmoid in deep learning through
      dynamical isometry" (https://arxiv.org/abs/1711.04735).
    """
    if not isinstance(model, keras.Model) or not model.built:
        raise ValueError(f"model must be a built keras.Model. Received: model={model!r}.")
    if x is None or isinstance(x, (list, tuple, dict)):
        raise TypeError(
            "x must be one batch array (jacobian_spectrum takes single-input models). "
            f"Received: x of type {type(x).__name__}."
        )
    if isinstance(probes, bool) or not isinstance(probes, (int, np.integer)) or probes < 2:
        raise ValueError(f"probes must be an integer >= 2. Received: probes={probes!r}.")
    if side not in SIDES:
        raise ValueError(f"side={side!r} is not allowed. Allowed: {list(SIDES)}.")
    x = keras.ops.convert_to_tensor(x)
    if not keras.backend.is_float_dtype(x.dtype):
        x = keras.ops.cast(x, "float32")

    def fn(t):
        # A fresh scope per call: BatchNormalization's updates (JAX tracers inside a
        # transform) are dropped with it instead of being read by the next probe.
        with keras.StatelessScope():
            outputs = keras.tree.flatten(model(t, training=training))
        flat = [keras.ops.reshape(keras.ops.cast(o, "float32"), (-1,)) for o in outputs]
        return flat[0] if len(flat) == 1 else keras.ops.concatenate(flat)

    # A stream of its own: default_rng(seed) is how users draw x, and a probe equal
    # to the input's own direction is no random direction (a tanh net's Jacobian
    # along x is far from its average).
    rng = np.random.default_rng([seed, _PROBE_STREAM])
    ratios = []
    n_in = int(np.prod(x.shape))
    n_out = int(np.prod(fn(x).shape))
    if side == "auto":
        side = "input" if n_in <= n_out else "output"
    for _ in range(int(probes)):
        if side == "input":
            v = rng.standard_normal(tuple(x.shape))
            _, product = backend.jvp(fn, x, keras.ops.convert_to_tensor(v, dtype=x.dtype))
        else:
            v = rng.standard_normal((n_out,))
            _, product = backend.vjp(fn, x, keras.ops.convert_to_tensor(v, dtype="float32"))
        ratios.append(float(np.sum(_to_numpy(product) ** 2) / np.sum(v * v)))
    n = n_in if side == "input" else n_out
    r = np.asarray(ratios)
    mean = float(r.mean())
    sd = float(r.std(ddof=1))
    spread = math.sqrt((n + 2) / 2.0) * sd / mean if mean > 0 else float("nan")
    return JacobianSpectrum(
        mean_squared_singular_value=mean,
        std_error=sd / math.sqrt(len(r)),
        spread=spread,
        probes=len(r),
        side=side,
        dimension=n,
        ratios=tuple(ratios),
    )
