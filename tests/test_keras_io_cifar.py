"""The CIFAR-10 sizes of four keras-io examples (``nets.keras_io.CIFAR``), built as the zoo
builds its nets: each maps a batch of raw 32x32x3 pixels to 10 finite logits, and
``keras_glorot.initialize`` reads each without a fallback (no trace that failed, no merge
it could not place, no layer read by order)."""

from __future__ import annotations

import sys

import keras
import numpy as np
import pytest
from conftest import REPO, to_numpy

import keras_glorot

sys.path.insert(0, str(REPO / "examples"))
from nets import zoo  # noqa: E402
from nets.keras_io import CIFAR  # noqa: E402


@pytest.mark.parametrize("name", list(CIFAR))
def test_cifar_builder_gives_finite_logits_and_initialize_has_no_fallback(name):
    keras.utils.set_random_seed(0)
    inputs, x = zoo._pixels(mean=np.full(3, 120.0), std=np.full(3, 64.0), augment=True)
    model = CIFAR[name](inputs, x)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")

    report = keras_glorot.initialize(model, seed=0)
    logits = to_numpy(model(pixels, training=False))

    assert logits.shape == (2, 10)
    assert np.all(np.isfinite(logits))
    assert not list(report.fallbacks), report.fallbacks
    assert report.handled, "initialize() drew no kernel"
