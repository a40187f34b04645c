"""Residual policies: how the kernels of a residual branch are scaled.

A residual block computes ``x_{l+1} = s(x_l) + F(x_l)``: the shortcut ``s`` is
the identity or a projection (one kernel), the branch ``F`` a chain of kernels.
If every branch keeps the variance of its input, each merge doubles the variance
of the sum, and a norm-free ResNet of L blocks grows its signal like 2^L
(Balduzzi et al. 2017; Hanin & Rolnick 2018). ``initialize(model, residual=...)``
changes the kernels of the branches that ``merges`` finds:

- ``"scaled"``: a projection shortcut is scaled to multiply the second moment
  by ``g**2`` (g: gain of the activation after the merge, 1 when none: it keeps
  the signal as the identity does) and the branch's last kernel is scaled so that the branch
  adds 1/L of the shortcut's second moment: the signal entering each block grows
  by at most ``(1 + 1/L)`` per block, ``e`` over L blocks (docs/derivation.md,
  "Residual networks").
- ``"fixup"`` (``initialize``'s default): the branch's kernels are scaled by
  ``L**(-1 / (2m - 2))`` (m kernel layers per branch) and its last kernel is
  zero (Zhang et al. 2019, Fixup, §3; only the initialization, no scalar
  multipliers or biases added). Each block starts as its shortcut, and the
  output's change after one SGD step stays O(rate) whatever L (their §2): with
  the last kernel zero, only it moves at first, by the branch's hidden signal,
  whose second moment the scaling makes 1/L of one block's.
- ``"zero"``: the branch's last kernel is zero, so every block is its shortcut
  at initialization (SkipInit's alpha = 0; De & Smith 2020).

Every policy changes the law a kernel will be drawn from (``Planned.rescale``), never a
drawn value: ``initialize`` draws each kernel once, after the policies have run.
"""

from __future__ import annotations

import functools
import math

import keras

from keras_glorot.initializers import Glorot
from keras_glorot.whole_model import activations as acts
from keras_glorot.whole_model import graph as _graph
from keras_glorot.whole_model.kinds import has_kernel
from keras_glorot.whole_model.laws import Planned
from keras_glorot.whole_model.merges import Merge, find_merges  # noqa: F401 (re-exported)
from keras_glorot.whole_model.report import MergeRecord

POLICIES = ("scaled", "fixup", "zero")


def validate_policy(residual) -> str:
    """``"scaled"``, ``"fixup"``, ``"zero"`` or ``"none"`` (for None)."""
    if residual is None:
        return "none"
    if not isinstance(residual, str) or residual.lower() not in POLICIES:
        raise ValueError(
            f"residual={residual!r} is not allowed. Allowed: {list(POLICIES) + [None]}."
        )
    return residual.lower()


# ---------------------------------------------------------------------------
# Second-moment factors along a path (docs/derivation.md, "Residual networks").


def second_moment(found: acts.Found) -> float:
    """``E[f(z)**2]`` for z ~ N(0, 1): 1 / (moment gain)**2 (1/2 for ReLU)."""
    return 1.0 / found.gain("moment") ** 2


def chain_factor(chain: list, kernel_factor) -> float:
    """The factor a path multiplies the second moment by, fork to merge.

    Each kernel layer contributes ``kernel_factor(layer)`` (``fan_in * Var(W)``
    per kernel, its fused activation included), each activation layer
    ``E[f(z)**2]``; pooling, padding and the rest count as 1.
    """
    factor = 1.0
    for op in chain:
        if has_kernel(op):
            factor *= kernel_factor(op)
            continue
        found = acts.from_layer(op) if _graph.is_layer(op) else None
        if found is not None:
            factor *= second_moment(found)
    return factor


def fixup_scale(depth: int, kernels_per_branch: int) -> float:
    """Fixup's ``L**(-1 / (2m - 2))`` for the weights (std), 1 when m = 1."""
    if kernels_per_branch <= 1:
        return 1.0
    return depth ** (-1.0 / (2 * kernels_per_branch - 2))


def branch_share(depth: int, branches: int) -> float:
    """The branch's second moment over the shortcut's under ``"scaled"``: 1 / (L b)."""
    return 1.0 / (max(depth, 1) * max(branches, 1))


# ---------------------------------------------------------------------------
# Applying a policy to the kernels ``initialize`` drew.


def _gain2(found: acts.Found) -> float:
    return 1.0 / second_moment(found)


def _output_kernel(layer, drawn: dict) -> Planned | None:
    """The kernel whose scale sets ``layer``'s output (a separable conv's pointwise)."""
    entries = drawn.get(id(layer)) or []
    if not entries:
        return None
    last = entries[-1]
    if len(last.kernel.blocks) != 1 or not isinstance(last.init, Glorot | keras.initializers.Zeros):
        return None
    return last


def _layer_forward(layer, drawn: dict) -> float:
    factor = math.prod(d.forward() for d in drawn.get(id(layer)) or [])
    found = acts.own(layer)
    return factor * (second_moment(found) if found is not None else 1.0)


def apply(plan, merges: list[Merge]) -> None:
    """Applies ``plan.policy`` at every merge whose branches and shortcut were told apart."""
    policy, report = plan.policy, plan.report
    residual = [m for m in merges if not m.reason]
    depth = len(residual)
    report.residual, report.depth = policy, depth
    done: dict[int, str] = {}
    pre_norm = sum(len(m.branches) for m in residual if _pre_norm(m))
    for merge in merges:
        record = MergeRecord(
            merge.name, merge.kind, merge.describe_shortcut(), merge.describe_branches(), policy
        )
        if merge.reason:
            record.action = f"nothing done: {merge.reason}"
            if merge.residual and policy != "none":
                report.fallback(
                    f"residual sum {merge.name!r}: {merge.reason}; its branches are drawn as "
                    "in a plain network. Pass residual=None to silence this, or build the "
                    "sum with keras.layers.Add or `+` on the block's input and its branch."
                )
        elif policy == "none":
            record.action = "left as drawn (residual=None)"
        else:
            record.action, record.applied = _apply_one(plan, merge, depth, done, pre_norm)
        report.merges.append(record)


def _pre_norm(merge: Merge) -> bool:
    """Every branch passes a normalization before its last kernel, none after it."""
    return all(b.normalized is not None and b.norm_after_last is None for b in merge.branches)


def _apply_one(plan, merge: Merge, depth, done, pre_norm) -> tuple[str, bool]:
    policy, drawn = plan.policy, plan.kernels
    # A normalized sum (post-norm) sets the stream's scale; a pre-norm branch's rule
    # holds whatever follows the sum (the final norm of a pre-norm transformer).
    after = None if _pre_norm(merge) else merge.normalized_by
    if after is not None:
        return (
            f"nothing done: post-norm, {type(after).__name__} {after.name!r} normalizes the "
            "sum (zero or scale its gamma instead: not done here)",
            False,
        )
    lasts = [la for b in merge.branches for la in b.last]
    normed = [b.norm_after_last for b in merge.branches if b.norm_after_last is not None]
    # Fixup is defined for norm-free branches; a pre-norm branch has a scale of its
    # own, and both policies give it GPT-2's rule.
    by_gpt2 = policy in ("scaled", "fixup") and not normed and _pre_norm(merge)
    if policy == "scaled" and not by_gpt2:
        normed += [b.normalized for b in merge.branches if b.normalized is not None]
    if normed:
        return (
            f"nothing done: {type(normed[0]).__name__} {normed[0].name!r} in the branch sets "
            "its scale (zero or scale its gamma instead: not done here)",
            False,
        )
    outputs = {id(la): _output_kernel(la, drawn) for la in lasts}
    for branch in merge.branches:
        for layer in branch.layers if policy == "fixup" else branch.last:
            if id(layer) in plan.kept:
                plan.report.fallback(
                    f"residual sum {merge.name!r}: {layer.name!r} keeps its author's start "
                    f"({plan.kept[id(layer)]}), so residual={policy!r} was not applied to "
                    "this block; its other kernels are drawn as in a plain network. Pass "
                    "explicit initializers only where you mean them."
                )
                return f"nothing done: the author's start of {layer.name!r} is kept", False
            if _output_kernel(layer, drawn) is None:
                return f"nothing done: the kernel of {layer.name!r} is not one Glorot draw", False
            if id(layer) in done:
                return (
                    f"nothing done: {layer.name!r} was changed at {done[id(layer)]!r} (one "
                    "kernel serves every call of a layer)",
                    False,
                )
    if policy == "zero":
        for la in lasts:
            outputs[id(la)].rescale(0.0, f"residual=zero at {merge.name}")
            done[id(la)] = merge.name
        return "zeroed " + ", ".join(la.name for la in lasts) + " (block = shortcut)", True
    if by_gpt2:
        return _scaled_pre_norm(lasts, merge.name, drawn, pre_norm, done, policy), True
    if policy == "fixup":
        return _fixup(merge, drawn, depth, done), True
    return _scaled(merge, drawn, depth, done)


def _fixup(merge: Merge, drawn, depth, done) -> str:
    parts = []
    for branch in merge.branches:
        m = branch.max_kernels
        scale = fixup_scale(depth, m)
        for layer in branch.layers:
            if layer in branch.last:
                _output_kernel(layer, drawn).rescale(0.0, f"residual=fixup at {merge.name}: 0")
            elif scale != 1.0:
                note = f"residual=fixup at {merge.name}: std x {scale:.4g}"
                _output_kernel(layer, drawn).rescale(scale**2, note)
            done[id(layer)] = merge.name
        parts.append(f"m={m}: std x L^(-1/{2 * m - 2}) = {scale:.4g}" if m > 1 else "m=1")
    zeroed = ", ".join(la.name for b in merge.branches for la in b.last)
    return f"{'; '.join(parts)}; zeroed {zeroed}"


def _scaled_pre_norm(lasts: list, merge_name: str, drawn, n: int, done, policy: str) -> str:
    """A pre-norm branch's last kernels get std x 1/sqrt(N), N the pre-norm branches.

    The normalization fixes the branch's output scale whatever the stream's, so
    the stream's variance grows by one branch's worth per block. GPT-2's rule
    (Radford et al. 2019, §2.3) makes the N branches add no more than one branch in
    all; the same rule ``residual_streams`` applies to pre-norm composite blocks.
    """
    note = f"std x 1/sqrt({n}) (residual='{policy}', pre-norm branch, N = {n} pre-norm branches)"
    for layer in lasts:
        _output_kernel(layer, drawn).rescale(1.0 / n, f"residual={policy} at {merge_name}: {note}")
        done[id(layer)] = merge_name
    return ", ".join(la.name for la in lasts) + f" {note}"


def _scaled(merge: Merge, drawn, depth, done) -> tuple[str, bool]:
    forward = functools.partial(_layer_forward, drawn=drawn)
    tau = chain_factor(merge.shortcut.chain, forward)
    rhos = [chain_factor(branch.chain, forward) for branch in merge.branches]
    if not all(0.0 < r < math.inf for r in rhos + [tau]):
        return "nothing done: a path carries no signal (a zero kernel on it)", False
    actions = []
    projection = merge.shortcut.layers[0] if merge.shortcut.layers else None
    if projection is not None and _output_kernel(projection, drawn) is not None:
        # P x and F(x) are both symmetric given x. An activation after the merge
        # (ResNet v1) keeps 1 / g**2 of their sum: the shortcut gets g**2. Without
        # one (v2), the sum is the signal, and an activation that made the fork
        # from it (v2's relu(x)) took 1 / g**2 of it: the shortcut gives g**2 back.
        g2 = _gain2(merge.follows)
        if g2 == 1.0 and _graph.is_layer(merge.fork) and acts.from_layer(merge.fork):
            g2 = _gain2(acts.from_layer(merge.fork))
        note = f"residual=scaled at {merge.name}: projection Var x {g2 / tau:.4g}"
        _output_kernel(projection, drawn).rescale(g2 / tau, note)
        done[id(projection)] = merge.name
        actions.append(f"{projection.name} Var x {g2 / tau:.4g} (shortcut x {g2:.3g})")
        tau = g2
    share = branch_share(depth, len(merge.branches))
    for branch, rho in zip(merge.branches, rhos, strict=True):
        factor = share * tau / rho
        for layer in branch.last:
            note = f"residual=scaled at {merge.name}: Var x {factor:.4g}"
            _output_kernel(layer, drawn).rescale(factor, note)
            done[id(layer)] = merge.name
        names = ", ".join(la.name for la in branch.last)
        actions.append(f"{names} Var x {factor:.4g} (branch = shortcut / {1 / share:.4g})")
    return "; ".join(actions), True
