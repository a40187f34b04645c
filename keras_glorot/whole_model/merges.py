"""Residual merges: where they are, and which input is the branch and which the shortcut.

The analysis is structural, on the symbolic graph of each functional model or trace
(nested ones included, one level at a time). A merge is one call of a
``keras.layers.Add`` or an ``add`` op node (``x + y``, ``keras.ops.add``) of two or
more tensors: a block called in a loop sums once per call. Its fork is the latest
tensor all its inputs descend from; each input's path from the fork counts the kernel
layers on it. The shortcut is the input with the fewest (0: identity, 1: projection),
strictly fewer than every other input; the other inputs are branches, and their last
kernels are the kernel layers from which the merge is reached through kernel-free
layers only. A residual branch is private to its block: a sum whose paths also feed a
kernel elsewhere (a feature pyramid's ``lateral(c4) + upsample(lateral(c5))``, where
``lateral(c5)`` is also the pyramid's next level) is two features added, not a block's
input and its update, and is reported as such and left alone. Where this cannot be
told, or a branch passes a layer the analysis does not know, ``Merge.reason`` says why;
``keras_glorot.whole_model.residual`` then leaves that merge alone.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from keras_glorot.whole_model import graph as _graph
from keras_glorot.whole_model import kinds
from keras_glorot.whole_model.graph import Graph


@dataclasses.dataclass
class Path:
    """One input of a merge, from the fork to the merge."""

    tensor: object
    chain: list  # the operations on the path with the most kernel layers, fork first
    min_kernels: int = 0
    max_kernels: int = 0
    layers: list = dataclasses.field(default_factory=list)  # kernel layers, all paths
    last: list = dataclasses.field(default_factory=list)  # kernel layers next to the merge
    norm_after_last: object = None  # a normalization between a last kernel and the merge
    problem: str = ""
    tensors: set = dataclasses.field(default_factory=set)  # ids of the tensors on it

    @property
    def normalized(self):
        return next((op for op in self.chain if kinds.is_normalization(op)), None)


@dataclasses.dataclass
class Merge:
    """A merge with its shortcut and branches; ``reason`` says why they were not told."""

    op: object
    name: str
    kind: str
    shortcut: Path | None = None
    branches: list[Path] = dataclasses.field(default_factory=list)
    reason: str = ""
    fork: object = None  # the operation whose output all inputs descend from
    outputs: list = dataclasses.field(default_factory=list)  # this call's sum
    # A sum of paths with no common input (x + a position embedding) is no residual
    # merge at all: nothing to place, and no fallback.
    residual: bool = True
    # What the reading found after the sum: the activation (a ``Found``) and the
    # normalization every consumer reaches (post-norm), or None.
    follows: object = None
    normalized_by: object = None

    def describe_shortcut(self) -> str:
        if self.shortcut is None:
            return "-"
        if not self.shortcut.layers:
            return "identity"
        return "projection " + ", ".join(la.name for la in self.shortcut.layers)

    def describe_branches(self) -> str:
        return " | ".join(", ".join(la.name for la in b.layers) for b in self.branches) or "-"


def find_merges(graph: Graph) -> list[Merge]:
    """Every merge of every functional model in ``graph``, in call order: one per call
    of a merging layer (a block called in a loop sums once per call)."""
    merges = []
    for model in graph.models():
        ops = _graph.operations(model)
        found = [(op, _graph.merge_calls(op, model)) for op in ops]
        if not any(calls for _, calls in found):
            continue
        index = _Index(ops, model)
        for op, calls in found:
            for i, (tensors, outputs) in enumerate(calls):
                name = op.name if len(calls) == 1 else f"{op.name} (call {i + 1} of {len(calls)})"
                merges.append(_analyse(op, tensors, index, name, outputs))
    return merges


class _Index:
    """Producers, inputs, a topological order and ancestor sets of the tensors of one
    functional model or traced graph, call by call."""

    def __init__(self, ops: list, container):
        self.producer, self._inputs = {}, {}
        self.consumers: dict[int, list] = {}  # tensor id -> [(op, its call's outputs)]
        for op in ops:
            for inputs, outputs in _graph.calls(op, container):
                for t in outputs:
                    self.producer[id(t)], self._inputs[id(t)] = op, inputs
                for t in inputs:
                    self.consumers.setdefault(id(t), []).append((op, outputs))
        self.order, self.ancestors = {}, {}
        for op in ops:
            for _, outputs in _graph.calls(op, container):
                for t in outputs:
                    self._visit(t)

    def _visit(self, tensor) -> None:
        """Orders ``tensor`` after its inputs and collects its ancestors (iteratively:
        a deep net's chain is longer than Python's recursion limit)."""
        stack = [(tensor, False)]
        while stack:
            t, done = stack.pop()
            if id(t) in self.ancestors:
                continue
            inputs = [i for i in self._inputs.get(id(t), []) if id(i) != id(t)]
            if not done:
                stack.append((t, True))
                stack.extend((i, False) for i in inputs if id(i) not in self.ancestors)
                continue
            parents = {id(t)}
            for i in inputs:
                parents |= self.ancestors.get(id(i), {id(i)})
            self.ancestors[id(t)] = parents
            self.order[id(t)] = len(self.order)

    def inputs_of_tensor(self, tensor_id: int) -> list:
        return self._inputs.get(tensor_id, [])

    def inputs(self, tensor) -> list:
        op = self.producer.get(id(tensor))
        if op is None or isinstance(op, keras.layers.InputLayer):
            return []
        return self._inputs.get(id(tensor), [])


def _analyse(op, tensors: list, index: _Index, name: str, outputs: list) -> Merge:
    kind = "Add" if _graph.is_layer(op) else "add op"
    merge = Merge(op, name, kind, outputs=outputs)
    common = set.intersection(*(index.ancestors.get(id(t), {id(t)}) for t in tensors))
    if not common:
        merge.reason = "its inputs share no ancestor: not a residual merge"
        merge.residual = False
        return merge
    fork = max(common, key=lambda t: index.order.get(t, -1))
    if not common <= index.ancestors.get(fork, {fork}):
        merge.reason = "its inputs meet at more than one tensor: no single fork"
        return merge
    merge.fork = index.producer.get(fork)
    paths = [_path(t, fork, index) for t in tensors]
    problems = [p.problem for p in paths if p.problem]
    if problems:
        merge.reason = problems[0]
        merge.residual = "not a residual merge" not in merge.reason
        return merge
    lateral = _shared_outside(paths, fork, index, op)
    if lateral:
        merge.reason = lateral
        merge.residual = False
        return merge
    fewest = min(p.min_kernels for p in paths)
    shortcuts = [p for p in paths if p.min_kernels == fewest]
    short = shortcuts[0]
    if len(shortcuts) > 1 or fewest > 1 or short.max_kernels != fewest:
        counts = ", ".join(f"{p.min_kernels}..{p.max_kernels}" for p in paths)
        merge.reason = f"cannot tell branch from shortcut (kernel layers per input: {counts})"
        return merge
    merge.shortcut = short
    merge.branches = [p for p in paths if p is not short]
    return merge


def _path(tensor, fork: int, index: _Index) -> Path:
    """Kernel counts, the longest chain and the last kernels from ``fork`` to ``tensor``."""
    on_path = {
        id(t): t for t in _walk_back(tensor, index) if fork in index.ancestors.get(id(t), ())
    }
    best = {fork: (0, 0, [])}  # tensor id -> (fewest kernels, most kernels, chain)
    for tid in sorted(on_path, key=lambda t: index.order.get(t, -1)):
        if tid == fork:
            continue
        op = index.producer[tid]
        problem = _unknown(op)
        if problem:
            return Path(tensor, [], problem=problem)
        preds = [best[id(t)] for t in index.inputs_of_tensor(tid) if id(t) in best]
        k = int(kinds.has_kernel(op))
        longest = max(preds, key=lambda p: p[1])
        best[tid] = (min(p[0] for p in preds) + k, longest[1] + k, longest[2] + [op])
    fewest, most, chain = best[id(tensor)]
    path = Path(tensor, chain, fewest, most, tensors=set(on_path))
    seen = set()
    for tid in sorted(on_path, key=lambda t: index.order.get(t, -1)):
        op = index.producer.get(tid)
        if tid != fork and kinds.has_kernel(op) and id(op) not in seen:
            seen.add(id(op))
            path.layers.append(op)
    _last_kernels(tensor, fork, index, path)
    return path


def _shared_outside(paths: list, fork: int, index: _Index, merge_op) -> str:
    """Why the sum is two features added rather than a block's input and its update: a
    tensor on one of its paths also feeds, outside the sum, an operation that leads to
    a kernel; "" when every path is private to the sum."""
    inside = set().union(*(p.tensors for p in paths))
    for path in paths:
        for tid in sorted(path.tensors - {fork}, key=lambda t: index.order.get(t, -1)):
            for op, outputs in index.consumers.get(tid, []):
                if op is merge_op or any(id(o) in inside for o in outputs):
                    continue
                reached = op if kinds.has_kernel(op) else _kernel_reached(outputs, index)
                if reached is not None:
                    source = index.producer.get(tid)
                    return (
                        f"a sum of two features, not a residual merge: the output of "
                        f"{getattr(source, 'name', source)!r} on one input also feeds "
                        f"{reached.name!r} outside the sum (a feature pyramid's lateral sum)"
                    )
    return ""


def _kernel_reached(tensors: list, index: _Index):
    """The first kernel layer that consumes ``tensors`` or what is made from them."""
    stack, seen = list(tensors), set()
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        for op, outputs in index.consumers.get(id(t), []):
            if kinds.has_kernel(op):
                return op
            stack.extend(outputs)
    return None


def _walk_back(tensor, index: _Index):
    stack, seen = [tensor], set()
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        yield t
        stack.extend(index.inputs(t))


def _unknown(op) -> str:
    if isinstance(op, keras.Model):
        return f"a branch passes through the nested model {op.name!r}, not analysed"
    known = kinds.has_kernel(op) or kinds.no_kernel(op) or kinds.is_normalization(op)
    if _graph.is_layer(op) and op.weights and not known:
        if ignores_input_values(op):
            return (
                f"one input is the output of {type(op).__name__} {op.name!r}, which does not "
                "depend on the values it is given (a position embedding): not a residual merge"
            )
        return f"a branch passes through {type(op).__name__} {op.name!r}, whose weights are unknown"
    return ""


def ignores_input_values(layer) -> bool:
    """Whether ``layer``'s output is the same for two different inputs of the shape it
    was called on: a learned tensor shaped like its input (KerasHub's
    ``PositionEmbedding`` reads only the shape). Measured, not read from the name:
    one call on each of two N(0, 1) inputs, without writing any variable."""
    tensors = _graph.inputs_of(layer)
    if len(tensors) != 1 or tensors[0].shape is None:
        return False
    shape = tuple(2 if d is None else int(d) for d in tensors[0].shape)
    rng = np.random.default_rng(0)
    try:
        with keras.StatelessScope():
            first, second = (layer(rng.standard_normal(shape).astype(tensors[0].dtype))
                             for _ in range(2))  # fmt: skip
            first, second = keras.ops.convert_to_numpy(first), keras.ops.convert_to_numpy(second)
    except Exception:  # a layer that needs more than one tensor, an integer input...
        return False
    return bool(np.array_equal(first, second))


def _last_kernels(tensor, fork: int, index: _Index, path: Path) -> None:
    stack, seen = [tensor], set()
    while stack:
        t = stack.pop()
        if id(t) in seen or id(t) == fork or fork not in index.ancestors.get(id(t), ()):
            continue
        seen.add(id(t))
        op = index.producer[id(t)]
        if kinds.has_kernel(op):
            if op not in path.last:
                path.last.append(op)
            continue
        if kinds.is_normalization(op):
            path.norm_after_last = op
        stack.extend(index.inputs(t))
