"""float16 and bfloat16 draws against the float32 law rounded to the dtype.

The best a low-precision dtype can hold is the float32 law rounded to it: each value
the dtype's nearest to a float32 draw, and the one value past a cut (truncated normal
+-2 s, uniform +-L) moved back to the largest value of the dtype within it. This
script computes that rounded law exactly (its atoms on the dtype's grid: the
continuous CDF at the midpoints between neighbouring values) and compares
``keras_glorot.sampling``'s draws with it. Per distribution and dtype it prints:

- ``distinct``: the number of distinct values drawn, and the number expected under
  the rounded law, ``sum(1 - (1 - p)**n)`` over its atoms ``p``;
- ``mean/sd`` and ``z``: the sample mean in units of the law's standard deviation,
  and in standard errors ``sqrt(Var / n)``;
- ``var err`` and ``z``: the relative error of the sample variance against the
  rounded law's, and in standard errors ``Var sqrt((2 + kurtosis) / n)``;
- ``KS p``: the one-sample Kolmogorov-Smirnov p-value against the rounded law (exact
  CDF on the grid; the continuous KS distribution makes it conservative for a
  discrete law, Conover 1972);
- ``max|w|/s`` and ``past``: the largest magnitude in units of ``s`` (truncated
  normal: cut at 2; uniform: ``s = L``, cut at 1; normal: ``s = stddev``), and how
  many values lie past the cut.

    KERAS_BACKEND=jax python benchmarks/low_precision_draws.py
    python benchmarks/low_precision_draws.py --all-backends
    git show REV:keras_glorot/sampling.py > /tmp/old.py
    KERAS_BACKEND=tensorflow python benchmarks/low_precision_draws.py --sampling /tmp/old.py

``tests/test_sampling.py`` asserts on the same measurements.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import subprocess
import sys

import ml_dtypes
import numpy as np
from scipy import stats

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no TensorFlow C++ info/warning lines

TRUNCATED_NORMAL_STD = 0.87962566103423978  # keras_glorot.sampling's constant
STDDEV = 0.03  # its cut 2 s and limit L lie past the midpoint of their ulp in both dtypes
N = 2_000_000
SEED = 1
DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")
DTYPES = ("float16", "bfloat16")
NUMPY_DTYPES = {"float16": np.dtype(np.float16), "bfloat16": np.dtype(ml_dtypes.bfloat16)}


def continuous_law(distribution: str, stddev: float):
    """``(scipy law, s, cut)`` of the float32 draw; ``cut`` None where there is none."""
    if distribution == "truncated_normal":
        s = stddev / TRUNCATED_NORMAL_STD
        return stats.truncnorm(-2.0, 2.0, scale=s), s, 2.0 * s
    if distribution == "uniform":
        limit = math.sqrt(3.0) * stddev
        return stats.uniform(-limit, 2.0 * limit), limit, limit
    return stats.norm(scale=stddev), stddev, None


def representable(dtype: str) -> np.ndarray:
    """Every finite value of a 16-bit float dtype, sorted, as float64 (one zero)."""
    with np.errstate(invalid="ignore"):  # the NaN patterns
        values = np.arange(2**16, dtype=np.uint16).view(NUMPY_DTYPES[dtype]).astype(np.float64)
    return np.unique(values[np.isfinite(values)])


def round_to(x, dtype: str) -> np.ndarray:
    """``x`` rounded to nearest (ties to even) in ``dtype``, back as float64."""
    return np.asarray(x, np.float32).astype(NUMPY_DTYPES[dtype]).astype(np.float64)


class RoundedLaw:
    """The law of ``clip(round(X), -c, c)``: X the float32 draw, ``c`` the largest value
    of the dtype within the cut. Atoms ``values`` with probabilities ``probs``."""

    def __init__(self, distribution: str, dtype: str, stddev: float = STDDEV):
        law, self.s, cut = continuous_law(distribution, stddev)
        grid = representable(dtype)
        if cut is not None:
            grid = grid[np.abs(grid) <= cut]
        self.cut = cut
        self.values = grid
        # Round to nearest: the atom at g collects X between the midpoints around it.
        cdf = np.concatenate([[0.0], law.cdf((grid[1:] + grid[:-1]) / 2.0), [1.0]])
        self.probs = np.diff(cdf)
        self.cdf = cdf[1:]
        self.mean = float(self.probs @ self.values)
        centred = self.values - self.mean
        self.var = float(self.probs @ centred**2)
        self.excess_kurtosis = float(self.probs @ centred**4) / self.var**2 - 3.0

    def expected_distinct(self, n: int) -> float:
        return float(np.sum(-np.expm1(n * np.log1p(-self.probs))))

    def ks(self, sample: np.ndarray) -> tuple[float, float]:
        """Kolmogorov-Smirnov statistic and p-value of ``sample`` against this law.

        Both CDFs are step functions, so the supremum of their gap is attained at
        an atom of either; the p-value of the continuous law is conservative here.
        """
        x = np.sort(np.asarray(sample, np.float64).ravel())
        points = np.union1d(self.values, x)
        law_cdf = np.concatenate([[0.0], self.cdf])[
            np.searchsorted(self.values, points, side="right")
        ]
        sample_cdf = np.searchsorted(x, points, side="right") / x.size
        d = float(np.max(np.abs(sample_cdf - law_cdf)))
        return d, float(stats.kstwo.sf(d, x.size))


def measure(w: np.ndarray, law: RoundedLaw) -> dict:
    x = np.asarray(w, np.float64).ravel()
    n = x.size
    se_mean = math.sqrt(law.var / n)
    se_var = law.var * math.sqrt((2.0 + law.excess_kurtosis) / n)
    peak = float(np.abs(x).max())
    return {
        "n": n,
        "distinct": int(np.unique(x).size),
        "expected_distinct": law.expected_distinct(n),
        "mean_sd": (x.mean() - law.mean) / math.sqrt(law.var),
        "mean_z": (x.mean() - law.mean) / se_mean,
        "var_err": x.var() / law.var - 1.0,
        "var_z": (x.var() - law.var) / se_var,
        "ks_p": law.ks(x)[1],
        "max_over_s": peak / law.s,
        "past_cut": 0 if law.cut is None else int(np.sum(np.abs(x) > law.cut)),
    }


def load_sampling(path: str | None):
    if path is None:
        from keras_glorot import sampling

        return sampling
    spec = importlib.util.spec_from_file_location("sampling_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def draw(sampling, distribution: str, dtype: str, n: int = N, seed: int = SEED):
    import keras

    w = sampling.SAMPLERS[distribution]((n,), STDDEV, dtype, seed)
    assert keras.backend.standardize_dtype(w.dtype) == dtype, w.dtype
    return np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(w, "float32")), np.float64)


def run(sampling_path: str | None, n: int) -> None:
    import keras

    sampling = load_sampling(sampling_path)
    print(f"backend={keras.config.backend()} sampling={sampling_path or 'keras_glorot'} n={n}")
    header = (
        f"{'distribution':<19}{'dtype':<9}{'distinct':>14}{'mean/sd':>10}{'z':>7}"
        f"{'var err':>10}{'z':>7}{'KS p':>10}{'max|w|/s':>10}{'past':>6}"
    )
    print(header)
    for distribution in DISTRIBUTIONS:
        for dtype in DTYPES:
            r = measure(draw(sampling, distribution, dtype, n), RoundedLaw(distribution, dtype))
            distinct = f"{r['distinct']}/{r['expected_distinct']:.0f}"
            print(
                f"{distribution:<19}{dtype:<9}{distinct:>14}{r['mean_sd']:>+10.5f}"
                f"{r['mean_z']:>+7.1f}{r['var_err']:>+10.2%}{r['var_z']:>+7.1f}"
                f"{r['ks_p']:>10.2g}{r['max_over_s']:>10.6f}{r['past_cut']:>6}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sampling", help="a sampling.py to measure instead of keras_glorot's")
    parser.add_argument("--n", type=int, default=N, help=f"draws per case (default {N})")
    parser.add_argument("--all-backends", action="store_true", help="one process per backend")
    args = parser.parse_args()
    if not args.all_backends:
        run(args.sampling, args.n)
        return
    forwarded = [a for a in sys.argv[1:] if a != "--all-backends"]
    for backend in ("tensorflow", "jax", "torch"):
        env = dict(os.environ, KERAS_BACKEND=backend)
        subprocess.run([sys.executable, __file__, *forwarded], env=env, check=False)


if __name__ == "__main__":
    main()
