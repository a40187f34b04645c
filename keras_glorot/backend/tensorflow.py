"""TensorFlow gradients: ``tf.GradientTape``, as ``keras/src/backend/tensorflow/trainer.py``;
forward mode by ``tf.autodiff.ForwardAccumulator``."""

from __future__ import annotations

import contextlib

import tensorflow as tf


def value_and_grads(model, forward, variables):
    """See ``keras_glorot.backend.value_and_grads``."""
    with tf.GradientTape() as tape:
        for v in variables:
            tape.watch(v.value)
        loss, aux = forward()
    grads = tape.gradient(loss, [v.value for v in variables])
    return loss, aux, grads


def jvp(fn, x, tangent):
    """See ``keras_glorot.backend.jvp``."""
    x = tf.convert_to_tensor(x)
    with tf.autodiff.ForwardAccumulator(primals=x, tangents=tangent) as accumulator:
        y = fn(x)
    return y, accumulator.jvp(y, unconnected_gradients=tf.UnconnectedGradients.ZERO)


def vjp(fn, x, cotangent):
    """See ``keras_glorot.backend.vjp``."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    g = tape.gradient(
        y, x, output_gradients=cotangent, unconnected_gradients=tf.UnconnectedGradients.ZERO
    )
    return y, g


def no_grad():
    """See ``keras_glorot.backend.no_grad``."""
    return contextlib.nullcontext()
