"""Tied copies: kernels equal before ``initialize`` stay equal after it.

An author who sets one network's weights equal to another's says they are the same start:
DDPM keeps an EMA copy of its U-Net (``ema_network.set_weights(network.get_weights())``),
self-supervised and reinforcement-learning code a target network, a teacher. Each model
is read on its own, so each copy would get draws of its own and start apart (the DDPM
pair's outputs differed by up to 4.7 after it).

Kernels that are bitwise equal before the call, and not constant (a constant start is
``explicit.deliberate``'s), form one group: the first drawn kernel of the group is drawn
once and every other member gets its values. Where a member is not drawn (left alone,
or its start is kept), no member is: the group stays as the author made it.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _value_key(variable) -> tuple | None:
    value = variable.numpy()
    if value.size < 2 or np.all(value == value.flat[0]):
        return None
    return value.shape, str(value.dtype), hashlib.sha256(value.tobytes()).hexdigest()


def equal_groups(variables: list) -> list[list]:
    """The groups of two or more variables with bitwise equal, non-constant values."""
    by_shape: dict[tuple, list] = {}
    for v in variables:
        if len(v.shape) >= 2:
            by_shape.setdefault((tuple(v.shape), str(v.dtype)), []).append(v)
    groups: dict[tuple, list] = {}
    for same_shape in by_shape.values():
        if len(same_shape) < 2:
            continue
        for v in same_shape:
            key = _value_key(v)
            if key is not None:
                groups.setdefault(key, []).append(v)
    return [g for g in groups.values() if len(g) > 1]


def tie(entries: list, models: list) -> list:
    """``entries`` (the planned kernels) with tied copies resolved: a copy's entry gets
    ``copy_of`` (its group's first drawn kernel); a group with a member not drawn is
    taken out of the draws, each drawn member's rows saying why."""
    by_variable = {id(d.kernel.variable): d for d in entries}
    variables, seen = [], set()
    for model in models:
        for v in model.weights:
            if id(v) not in seen:
                seen.add(id(v))
                variables.append(v)
    dropped = set()
    for group in equal_groups(variables):
        planned = [by_variable.get(id(v)) for v in group]
        if not any(planned):
            continue
        if not all(planned):
            kept = group[planned.index(None)]
            for d in filter(None, planned):
                dropped.add(id(d))
                for record in d.records:
                    record.skipped = (
                        f"equal to {kept.path!r} before the call, which is left as it is: "
                        "kept as built, so the copies stay equal"
                    )
            continue
        source = planned[0]
        for d in planned[1:]:
            d.copy_of = source
            for record in d.records:
                record.note = "; ".join(filter(None, (record.note, (
                    f"equal to {source.kernel.variable.path!r} before the call: drawn once "
                    "(by that kernel's law) and copied"
                ))))  # fmt: skip
    return [d for d in entries if id(d) not in dropped]
