"""Where ``keras_glorot.initialize`` cannot read a model, it must still do no harm:
three more checks on every model of the corpus (``nets.keras_io``), read from the run
``test_corpus`` records (``_run``, cached: each model is initialized once per backend):

a. Copies equal before stay equal after: two models (``keras.Model`` instances, the
   corpus model or ones it holds) of one class whose weights are bitwise equal before
   the call are bitwise equal after it. An EMA or target copy of a network, set equal on
   purpose, stays tied. Equal kernels inside one model are no such statement: Keras 3
   gives layers that share one unseeded initializer the same draw (RetinaNet's head).
b. No fallback raises a gain above its layer's own: a kernel whose gain was measured
   by the data-free pass, or whose activation is unknown, gets at most the gain of its
   layer's own activation (1 when it has none). What a kernel feeds cannot be
   compensated for from a guess (a softmax is no elementwise activation).
c. Exactly one warning per call that falls back, none otherwise: every
   ``UserWarning`` the package raises is counted, its initializers' included.

And for the model whose blocks call ``add_loss``: the trace reads it (4 merges, no
fallback), and the losses the model collected are left as they were.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from conftest import to_numpy
from test_corpus import CORPUS, NAMES, _initialized, _walk

import keras_glorot

# ----------------------------------------------------------------------------------
# a. Copies equal before stay equal after.


def _copied_models(model, before: dict) -> list[list]:
    """Groups of two or more models of one class, ``model`` or held by it, whose
    weights are bitwise equal, one by one, in ``before`` (path -> value)."""
    models = [model] + [m for m, _ in _walk(model) if isinstance(m, keras.Model)]
    groups: dict[tuple, list] = {}
    for m in models:
        if m.weights:
            key = (type(m), tuple((before[v.path].shape, before[v.path].tobytes())
                                  for v in m.weights))  # fmt: skip
            groups.setdefault(key, []).append(m)
    return [g for g in groups.values() if len(g) > 1]


@pytest.mark.parametrize("name", NAMES)
def test_a_copies_equal_before_stay_equal_after(name):
    run = _initialized(name)
    before, after = dict(run["before"]), dict(run["after"])
    untied = []
    for group in _copied_models(run["model"], before):
        first = group[0]
        for other in group[1:]:
            for a, b in zip(first.weights, other.weights, strict=True):
                if not np.array_equal(after[a.path], after[b.path]):
                    untied.append(f"{a.path} != {b.path}")
    assert not untied, (
        f"{len(untied)} weight(s) of models equal before initialize() differ after it:\n"
        + "\n".join(untied[:8] + (["..."] if len(untied) > 8 else []))
    )


# ----------------------------------------------------------------------------------
# b. No fallback raises a gain above its layer's own.


def _by_fallback(row) -> bool:
    """A row whose gain was not read from the model: measured by the data-free pass
    ("gain g (measured: ...)"), or drawn linear because its activation is unknown
    ("linear: activation unknown ... not measured: ...")."""
    return "measured" in row.activation or "activation unknown" in row.activation


def _row_layer_gain(model, row_name: str) -> float:
    """The gain of the activation of the layer a report row names (1 for none). The
    row's name is the layer's, prefixed by the models and layers it sits in; a name
    found twice is told apart by that prefix, and if still ambiguous, the larger
    gain is taken (the check never fails for want of knowing which layer)."""
    *prefix, leaf = row_name.split("/")
    found = [
        (layer, {a.name for a in above}) for layer, above in _walk(model) if layer.name == leaf
    ]
    assert found, f"report row {row_name!r} names no layer of the model"
    narrowed = [layer for layer, above in found if set(prefix) <= above] or [f[0] for f in found]
    return max(_own_gain(layer) for layer in narrowed)


def _own_gain(layer) -> float:
    activation = getattr(layer, "activation", None)
    if activation is None:
        return 1.0
    try:
        return keras_glorot.calculate_gain(activation)
    except ValueError:
        # Not elementwise (softmax): an output head's, which has no gain of its own.
        return 1.0


@pytest.mark.parametrize("name", NAMES)
def test_b_no_fallback_raises_a_gain_above_its_layers_own(name):
    run = _initialized(name)
    raised = []
    for row in run["report"].handled:
        if not _by_fallback(row):
            continue
        gain = 1.0 if row.gain is None else row.gain
        own = _row_layer_gain(run["model"], row.layer)
        if gain > own * (1 + 1e-6):
            raised.append(
                f"{row.layer} ({row.part}): gain {gain:.4g} > own {own:.4g}: {row.activation}"
            )
    assert not raised, (
        f"{len(raised)} kernel(s) read by a fallback got a gain above their layer's own:\n"
        + "\n".join(raised)
    )


# ----------------------------------------------------------------------------------
# c. Exactly one warning per call that falls back, none otherwise.


@pytest.mark.parametrize("name", NAMES)
def test_c_one_warning_per_call_that_falls_back(name):
    run = _initialized(name)
    fallbacks = run["report"].fallbacks
    user = [w for w in run["warnings"] if issubclass(w.category, UserWarning)]
    expected = 1 if fallbacks else 0
    assert len(user) == expected, (
        f"{len(fallbacks)} fallback(s) gave {len(user)} UserWarning(s), not {expected}:\n"
        + "\n".join(f"{w.filename}:{w.lineno}: {str(w.message)[:300]}" for w in user)
    )


# ----------------------------------------------------------------------------------
# add_loss in call: the trace reads through it and leaves the collected losses alone.


def test_add_loss_blocks_are_read():
    report = _initialized("add_loss_mlp")["report"]
    assert not report.fallbacks, report.fallbacks
    assert len(report.merges) == 4, f"{len(report.merges)} merges, not 4:\n{report}"


def test_add_loss_losses_left_as_they_were():
    keras.utils.set_random_seed(0)
    built = CORPUS["add_loss_mlp"]()
    model = built.model
    x = built.make_inputs(8, seed=1)
    model(x, training=False)
    losses = [to_numpy(loss).copy() for loss in model.losses]
    assert len(losses) == 4, len(losses)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # test_add_loss_blocks_are_read checks what it says
        keras_glorot.initialize(model, seed=0)
    assert len(model.losses) == len(losses), (
        f"model.losses held {len(losses)} before initialize(), {len(model.losses)} after"
    )
    for old, new in zip(losses, model.losses, strict=True):
        assert np.array_equal(old, to_numpy(new)), "initialize() changed a collected loss"

    model(x, training=False)
    assert len(model.losses) == len(losses), (
        f"a forward pass after initialize() collected {len(model.losses)} losses, not {len(losses)}"
    )
