"""Tied copies: models equal before ``initialize`` stay equal after it.

An author who sets one network's weights equal to another's says they are the same start:
DDPM keeps an EMA copy of its U-Net (``ema_network.set_weights(network.get_weights())``),
self-supervised and reinforcement-learning code a target network, a teacher. Each model
is read on its own, so each copy would get draws of its own and start apart (the DDPM
pair's outputs differed by up to 4.7 after it).

Two models (``keras.Model`` instances: the ones a wrapper holds, or models nested in
one) of the same class whose weights are bitwise equal, one by one, are copies: each
kernel of the first is drawn once and the matching kernel of every other copy gets its
values. Where a kernel of the first is not drawn (left alone, or its start is kept), its
copies are kept too. Equal kernels inside one model are not ties: Keras 3 gives two
layers that share one unseeded initializer instance the same draw (grouped-query
attention's key and value, a detection head's inner convolutions), an accident the
author did not ask for.
"""

from __future__ import annotations

import hashlib

import keras
import numpy as np

from keras_glorot import keras_internals


def _fingerprint(model) -> tuple:
    def one(v) -> tuple:
        value = np.asarray(keras.ops.convert_to_numpy(keras.ops.copy(v)))
        return value.shape, str(value.dtype), hashlib.sha256(value.tobytes()).hexdigest()

    return (type(model), tuple(one(v) for v in model.weights))


def copied_models(models: list) -> list[list]:
    """Groups of two or more models of one class with bitwise equal weights, in order,
    first the one read first."""
    every, seen = [], set()
    for model in models:
        for each in [model, *keras_internals.flatten_layers(model)]:
            if isinstance(each, keras.Model) and each.weights and id(each) not in seen:
                seen.add(id(each))
                every.append(each)
    by_shape: dict[tuple, list] = {}
    for model in every:  # only models alike in shapes are hashed
        shapes = (type(model), tuple((tuple(v.shape), str(v.dtype)) for v in model.weights))
        by_shape.setdefault(shapes, []).append(model)
    groups: dict[tuple, list] = {}
    for alike in by_shape.values():
        if len(alike) > 1:
            for model in alike:
                groups.setdefault(_fingerprint(model), []).append(model)
    copies = []
    for group in groups.values():
        # A model holding another and nothing else has the same weights: no copy.
        distinct, held = [], set()
        for model in group:
            ids = {id(v) for v in model.weights}
            if not ids & held:
                distinct.append(model)
                held |= ids
        if len(distinct) > 1:
            copies.append(distinct)
    return copies


def tie(entries: list, models: list) -> list:
    """``entries`` (the planned kernels) with copies resolved: a copy's entry gets
    ``copy_of`` (the first model's entry for the same kernel); where one copy of a
    kernel is not drawn, none is, each row saying why."""
    by_variable = {id(d.kernel.variable): d for d in entries}
    dropped = set()
    for group in copied_models(models):
        names = " and ".join(repr(m.name) for m in group)
        for variables in zip(*(m.weights for m in group), strict=True):
            planned = [by_variable.get(id(v)) for v in variables]
            if not any(planned) or any(d is not None and d.copy_of for d in planned):
                continue
            if not all(planned):
                kept = variables[planned.index(None)].path
                for d in filter(None, planned):
                    dropped.add(id(d))
                    for record in d.records:
                        record.skipped = (
                            f"{names} are equal before the call and {kept!r} is left as it "
                            "is: kept as built, so the copies stay equal"
                        )
                continue
            for d in planned[1:]:
                d.copy_of = planned[0]
                note = (
                    f"{names} are equal before the call: drawn once, as "
                    f"{variables[0].path!r}, and copied"
                )
                for record in d.records:
                    record.note = "; ".join(filter(None, (record.note, note)))
    return [d for d in entries if id(d) not in dropped]
