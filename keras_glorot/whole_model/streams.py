"""Residual streams inside composite blocks: the output projections of pre-norm blocks.

A block is pre-norm when it says so with a ``normalize_first`` attribute (KerasHub's
``TransformerEncoder``/``TransformerDecoder``) or is one of the pre-norm KerasHub
blocks in ``PRE_NORM``. Its output projections (``composite``'s ``"output"`` role)
are the ends of its residual branches, scaled by ``residual_streams``.

Reference:
- Radford et al., 2019, "Language models are unsupervised multitask learners",
  §2.3 (GPT-2's 1/sqrt(N) on the residual output projections).
"""

from __future__ import annotations

from keras_glorot.whole_model.composite import drawn_with_role, place
from keras_glorot.whole_model.graph import Graph
from keras_glorot.whole_model.report import MergeRecord

PRE_NORM = (
    "LlamaTransformerDecoder", "MistralTransformerDecoder", "QwenTransformerDecoder",
    "Qwen3TransformerDecoder", "GemmaDecoderBlock", "Gemma3DecoderBlock", "ViTEncoderBlock",
    "Phi3Decoder",
)  # fmt: skip


def block_of(layer, graph: Graph):
    """The block of ``layer``: the nearest composite holding it that knows its norm
    placement (``norm_placement``), else the outermost one below the model."""
    block, spot = None, place(layer, graph)
    while spot is not None:
        block = spot.parent
        if norm_placement(block) != "unknown":
            return block
        spot = place(block, graph)
    return block


def norm_placement(block) -> str:
    """``"pre"``, ``"post"`` or ``"unknown"`` for a block (module docstring)."""
    first = getattr(block, "normalize_first", None)
    if isinstance(first, bool):
        return "pre" if first else "post"
    return "pre" if type(block).__name__ in PRE_NORM else "unknown"


def residual_streams(plan) -> None:
    """Applies ``policy`` to the output projections of pre-norm blocks.

    ``"scaled"``: each of the N output projections (attention and feed-forward of
    every block) is scaled by ``1 / sqrt(N)``, as GPT-2 does (Radford et al. 2019,
    §2.3): with unit-gain branches fed by a normalization, each branch then adds
    ``1 / N`` of one branch's second moment, and the N branches together no more
    than one, whatever the depth. ``"fixup"`` (the default) does the same: Fixup is
    defined for norm-free branches, and a pre-norm branch's scale is set by its
    normalization. ``"zero"``: the output projections are zero, so every block
    starts as the identity (as SkipInit's alpha = 0). None leaves them.
    Post-norm blocks, and blocks whose norm placement is unknown, are left alone.
    """
    policy, graph, drawn, report = plan.policy, plan.graph, plan.kernels, plan.report
    ends = drawn_with_role(graph, drawn, "output")
    blocks: dict[int, list] = {}
    for layer, d in ends:
        block = block_of(layer, graph)
        blocks.setdefault(id(block), [block]).append((layer, d))
    pre = [v for v in blocks.values() if norm_placement(v[0]) == "pre"]
    n = sum(len(v) - 1 for v in pre)
    if blocks and report.residual == "none":
        report.residual = policy
    report.depth += n
    for block, *members in blocks.values():
        names = ", ".join(graph.name_of(layer) for layer, _ in members)
        record = MergeRecord(
            getattr(block, "path", None) or block.name, "residual stream", "identity",
            names, policy,
        )  # fmt: skip
        placement = norm_placement(block)
        if placement != "pre":
            why = "post-norm: every sum is normalized" if placement == "post" else (
                "norm placement unknown (no normalize_first attribute, not a known block)"
            )  # fmt: skip
            record.action = f"nothing done: {why}"
            if placement != "post":
                report.fallback(
                    f"block {record.merge!r}: {why}, so its residual branches keep the scale of "
                    "a plain network. Let its call() be traced (keras.ops on keras.Input "
                    "tensors) to read its sums."
                )
        elif policy == "none":
            record.action = "left as drawn (residual=None)"
        else:
            factor = 0.0 if policy == "zero" else 1.0 / n
            note = "zero (residual='zero')" if policy == "zero" else (
                f"x 1/sqrt({n}) (residual='{policy}', N = {n} branch ends)"
            )  # fmt: skip
            for _, d in members:
                d.rescale(factor, note)
            record.action, record.applied = f"output projections {note}", True
        report.merges.append(record)
