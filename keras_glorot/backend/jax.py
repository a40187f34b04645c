"""JAX gradients: ``jax.value_and_grad`` of a stateless call, as Keras' JAX trainer.

The variables' values are passed in through ``keras.StatelessScope``, so the
model (and any hooks on its layers) runs on traced values; ``aux`` comes back as
concrete arrays.
"""

from __future__ import annotations

import contextlib

import jax
import keras


def value_and_grads(model, forward, variables):
    """See ``keras_glorot.backend.value_and_grads``."""

    def loss_fn(values):
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
            loss, aux = forward()
        return loss, aux

    values = [v.value for v in variables]
    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(values)
    return loss, aux, list(grads)


def jvp(fn, x, tangent):
    """See ``keras_glorot.backend.jvp``."""
    return jax.jvp(fn, (x,), (tangent,))


def vjp(fn, x, cotangent):
    """See ``keras_glorot.backend.vjp``."""
    y, pullback = jax.vjp(fn, x)
    (g,) = pullback(cotangent)
    return y, g


def no_grad():
    """See ``keras_glorot.backend.no_grad``."""
    return contextlib.nullcontext()
