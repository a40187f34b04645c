"""TensorFlow gradients: ``tf.GradientTape``, as ``keras/src/backend/tensorflow/trainer.py``."""

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


def no_grad():
    """See ``keras_glorot.backend.no_grad``."""
    return contextlib.nullcontext()
