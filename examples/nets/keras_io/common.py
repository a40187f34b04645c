"""What every corpus builder returns (``Built``) and the input batches it measures on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import keras
import numpy as np


class Built(NamedTuple):
    """A built model, its input batches and its forward pass."""

    model: keras.Model
    make_inputs: Callable[..., Any]
    forward: Callable[[keras.Model, Any], Any] | None = None


def default_forward(model, x):
    return model(x, training=False)


def _images(shape):
    def make_inputs(batch=8, seed=0):
        return np.random.default_rng(seed).standard_normal((batch, *shape)).astype("float32")

    return make_inputs


def _tokens(length, vocab, count=1):
    def make_inputs(batch=8, seed=0):
        rng = np.random.default_rng(seed)
        ids = [rng.integers(0, vocab, (batch, length)).astype("int32") for _ in range(count)]
        return ids[0] if count == 1 else ids

    return make_inputs
