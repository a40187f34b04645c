"""Bit-reproducible training on request: seeds plus each backend's determinism switch.

Two steps, because some switches are environment variables that the backend reads only
when it is first imported:

1. ``set_environment()`` before keras (or any backend) is imported;
2. ``enable(seed)`` after, once per run.

Without them, a GPU run with the same seed can differ from the last one: cuDNN/cuBLAS and
XLA pick non-deterministic kernels (atomics in reductions and convolution backward passes)
for speed. On a CPU the three backends are deterministic for a fixed seed already.
"""

from __future__ import annotations

import os
import sys

NOTE_OFF = (
    "note: without --deterministic, GPU runs with the same seed can differ from each other "
    "(non-deterministic cuDNN/cuBLAS/XLA kernels); CPU runs repeat exactly."
)
# XLA (JAX, and TensorFlow's jit_compile) reads these flags once, when it starts.
XLA_DETERMINISM_FLAGS = ("--xla_gpu_deterministic_ops=true",)
# cuBLAS is deterministic only with a fixed workspace (PyTorch's reproducibility notes).
CUBLAS_WORKSPACE = ":4096:8"


def set_environment(environ: dict | None = None) -> list[str]:
    """Set the variables the backends read at import; return the backends already imported
    (for which it is too late, so the caller can say so)."""
    env = os.environ if environ is None else environ
    flags = env.get("XLA_FLAGS", "").split()
    env["XLA_FLAGS"] = " ".join(flags + [f for f in XLA_DETERMINISM_FLAGS if f not in flags])
    env.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    env["TF_DETERMINISTIC_OPS"] = "1"  # TensorFlow before 2.9 (enable_op_determinism after)
    return [name for name in ("jax", "tensorflow", "torch") if name in sys.modules]


def enable(seed: int) -> None:
    """Seed Python, NumPy and the backend, and switch the backend to deterministic ops."""
    import keras

    keras.utils.set_random_seed(seed)
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
