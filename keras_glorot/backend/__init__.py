"""Backend-specific code: gradients of a loss through a model, one module per backend, and
PyTorch's intra-op threads around elementwise passes over whole kernels.

Keras 3 has no backend-independent ``grad``; its own trainers
(``keras/src/backend/*/trainer.py``) each use their framework's autodiff. So do
``value_and_grads``, ``jvp`` and ``vjp`` here, behind one function each.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Sequence

import keras

_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def value_and_grads(
    model: keras.Model,
    forward: Callable[[], tuple],
    variables: Sequence[keras.Variable],
) -> tuple[object, object, list]:
    """Runs ``forward()`` once and differentiates its loss w.r.t. ``variables``.

    Args:
        model: The model ``forward`` runs (its variables are the ones read).
        forward: A function of no arguments that runs the model and returns
            ``(loss, aux)``: a scalar tensor and any tensors to return as values.
        variables: Trainable variables of ``model`` to differentiate against.

    Returns:
        ``(loss, aux, grads)``: the loss and ``aux`` as concrete tensors, and one
        gradient per variable (same order).

    Example:

    >>> loss, aux, grads = value_and_grads(model, lambda: (ops.mean(model(x)**2), ()),
    ...                                    [model.layers[0].kernel])
    """
    return _module().value_and_grads(model, forward, list(variables))


def jvp(fn: Callable, x, tangent) -> tuple[object, object]:
    """``(fn(x), J tangent)``: a Jacobian-vector product (forward mode where it exists).

    Args:
        fn: A function of one tensor returning one tensor (a model call).
        x: The point, a backend tensor.
        tangent: A tensor of ``x``'s shape and dtype.

    Returns:
        ``(y, jv)``: ``fn(x)`` and the directional derivative, of ``y``'s shape.

    Example:

    >>> y, jv = jvp(lambda t: model(t), x, v)
    """
    return _module().jvp(fn, x, tangent)


def vjp(fn: Callable, x, cotangent) -> tuple[object, object]:
    """``(fn(x), J^T cotangent)``: a vector-Jacobian product (reverse mode).

    Args:
        fn: A function of one tensor returning one tensor.
        x: The point, a backend tensor.
        cotangent: A tensor of ``fn(x)``'s shape and dtype.

    Returns:
        ``(y, g)``: ``fn(x)`` and ``J^T cotangent``, of ``x``'s shape.

    Example:

    >>> y, g = vjp(lambda t: model(t), x, u)
    """
    return _module().vjp(fn, x, cotangent)


def no_grad() -> contextlib.AbstractContextManager:
    """A context in which forward passes record nothing for autodiff.

    Only PyTorch records eagerly (on every op touching a trainable variable);
    elsewhere this is a no-op. ``lsuv`` runs its forward pass in it.
    """
    return _module().no_grad()


def _module():
    backend = keras.config.backend()
    if backend not in _MODULES:
        raise ValueError(
            f"Keras backend {backend!r} has no gradient module here. Allowed: {sorted(_MODULES)}."
        )
    return importlib.import_module(f"keras_glorot.backend.{_MODULES[backend]}")


@contextlib.contextmanager
def one_intra_op_thread():
    """Runs the block on one PyTorch intra-op thread, then puts the count back.

    PyTorch splits an elementwise pass over a large tensor across its threads and
    waits for the slowest chunk: with another process on one of two cores, every
    pass over a kernel waits for that core. Drawing and assigning every kernel of a
    124M GPT-2 took 2-3 times the model's build under such load with 2 threads, and
    about one build on one thread (docs/benchmarks.md). Other backends: nothing.
    """
    if keras.config.backend() != "torch":
        yield
        return
    import torch

    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
