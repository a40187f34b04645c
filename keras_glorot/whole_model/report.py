"""``InitReport``: what ``initialize`` and ``lsuv`` did to each kernel, as a table."""

from __future__ import annotations

import dataclasses
import math
import re
import warnings

from keras_glorot.whole_model.tables import markdown, text_table, wrapped


@dataclasses.dataclass
class KernelRecord:
    """One kernel (or one gate block of a kernel), or one skipped layer.

    Attributes:
        layer: The layer's name.
        kind: The layer's class name.
        part: Which kernel: ``"kernel"``, ``"depthwise"``, ``"pointwise"``,
            ``"kernel[gate]"``, ``"recurrent[gate]"`` or ``"-"`` for a skipped layer.
        activation: The activation found and where, or ``"-"``.
        fan_in: True fan-in used (None when not applicable).
        fan_out: True fan-out used.
        gain: Gain applied.
        std: Standard deviation of the drawn (or rescaled) kernel.
        skipped: Why the layer was left alone, or "" when it was handled.
        note: Anything else worth saying (``lsuv``: iterations, output variance).
    """

    layer: str
    kind: str
    part: str = "-"
    activation: str = "-"
    fan_in: int | None = None
    fan_out: int | None = None
    gain: float | None = None
    std: float | None = None
    skipped: str = ""
    note: str = ""

    def __str__(self) -> str:
        """One line: ``layer (kind) part: activation; fans, gain, std; note``."""
        head = f"{self.layer} ({self.kind})" + ("" if self.part == "-" else f" {self.part}")
        if self.skipped:
            return f"{head}: skipped: {self.skipped}"
        numbers = ", ".join(
            f"{name} {_cell(getattr(self, name))}" for name in ("fan_in", "fan_out", "gain", "std")
        )
        return f"{head}: {self.activation}; {numbers}" + (f"; {self.note}" if self.note else "")


@dataclasses.dataclass
class MergeRecord:
    """One residual merge (an ``Add`` layer or an ``add`` op node) and what was done there.

    Attributes:
        merge: The merge's name (the ``Add`` layer's, or the op node's).
        kind: ``"Add"`` (a layer) or ``"add op"`` (``x + y`` / ``keras.ops.add``).
        shortcut: ``"identity"``, ``"projection <layer>"`` or ``"-"`` when not told.
        branches: The kernel layers of the branch(es), fork to merge, ``", "``-joined.
        policy: The ``residual=`` policy (``"scaled"``, ``"fixup"``, ``"zero"``, ``"none"``).
        action: What was done, or why nothing was.
        applied: Whether the policy changed a kernel at this merge.
    """

    merge: str
    kind: str
    shortcut: str = "-"
    branches: str = "-"
    policy: str = "none"
    action: str = ""
    applied: bool = False


_COLUMNS = ("layer", "kind", "part", "activation", "fan_in", "fan_out", "gain", "std", "note")
_MERGE_COLUMNS = ("merge", "kind", "shortcut", "branches", "action")


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


class InitReport:
    """Per-kernel record of a whole-model initialization.

    ``str(report)`` is an aligned text table, ``report.to_markdown()`` a Markdown
    one. ``report.records`` holds the ``KernelRecord`` rows, ``report.skipped`` the
    rows of layers left alone, ``report["name"]`` the rows of one layer. For
    ``initialize``, ``report.merges`` holds a ``MergeRecord`` per residual merge
    (printed as a second table), ``report.residual`` the policy and
    ``report.depth`` the number L of residual merges told apart.

    Example:

    >>> report = keras_glorot.initialize(model, seed=0)
    >>> print(report)
    >>> [r.layer for r in report.skipped]
    """

    def __init__(self, method: str, records: list[KernelRecord] | None = None):
        self.method = method
        self.records: list[KernelRecord] = list(records or [])
        self.stopped: str = ""
        self.merges: list[MergeRecord] = []
        self.residual: str = "none"
        self.depth: int = 0
        # Where the tool could not see (a call that did not trace, a merge it could not
        # place...), one line each, with what to do about it; ``warn_once`` warns of them.
        self.fallbacks: list[str] = []
        # Anything else the user should know about how the model was read.
        self.notes: list[str] = []

    def add(self, record: KernelRecord) -> None:
        self.records.append(record)

    def fallback(self, text: str) -> None:
        """Records a place the tool could not see (once per text)."""
        if text not in self.fallbacks:
            self.fallbacks.append(text)

    def extend(self, other: InitReport, prefix: str = "") -> None:
        """Adds ``other``'s rows, merges, fallbacks and notes, layer names prefixed."""
        for record in other.records:  # the same objects: later notes reach both reports
            record.layer = prefix + record.layer
            self.records.append(record)
        for merge in other.merges:
            merge.merge = prefix + merge.merge
            self.merges.append(merge)
        for text in other.fallbacks:
            self.fallback(text)
        self.notes += other.notes
        if other.residual != "none":
            self.residual = other.residual
        self.depth += other.depth

    def nothing_drawn(self) -> None:
        """Says, first among the fallbacks (so first in the warning), that the call
        changed no weight."""
        text = (
            "nothing was drawn: no kernel of the model could be read, so every weight is as "
            "it was; the report lists each layer with its reason"
        )
        if text not in self.fallbacks:
            self.fallbacks.insert(0, text)
        self.stopped = self.stopped or "nothing was drawn"

    def warn_once(self, stacklevel: int = 3) -> None:
        """One ``UserWarning`` naming every fallback, when there is any."""
        if not self.fallbacks:
            return
        lines = "\n".join(f"- {text}" for text in self.fallbacks)
        warnings.warn(
            f"{self.method}() could not read {len(self.fallbacks)} part(s) of the model; "
            f"they are listed in report.fallbacks:\n{lines}",
            UserWarning,
            stacklevel=stacklevel,
        )

    @property
    def handled(self) -> list[KernelRecord]:
        return [r for r in self.records if not r.skipped]

    @property
    def skipped(self) -> list[KernelRecord]:
        return [r for r in self.records if r.skipped]

    def __getitem__(self, layer: str) -> list[KernelRecord]:
        rows = [r for r in self.records if r.layer == layer]
        if not rows:
            raise KeyError(f"no record for layer {layer!r}")
        return rows

    def __iter__(self):
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def _rows(self) -> list[list[str]]:
        rows = []
        for r in self.records:
            note = f"skipped: {r.skipped}" if r.skipped else r.note
            rows.append([_cell(getattr(r, c)) if c != "note" else note for c in _COLUMNS])
        return rows

    def _merge_rows(self) -> list[list[str]]:
        return [[str(getattr(m, c)) for c in _MERGE_COLUMNS] for m in self.merges]

    def _footer(self) -> str:
        n = len(self.handled)
        text = f"{self.method}: {n} kernel(s) handled, {len(self.skipped)} layer(s) skipped"
        if self.merges:
            applied = sum(m.applied for m in self.merges)
            text += (
                f";\n{len(self.merges)} merge(s), L = {self.depth} residual, "
                f"residual={self.residual!r} applied at {applied}"
            )
        return text + (f"; stopped: {self.stopped}" if self.stopped else "")

    def __str__(self) -> str:
        """The table, each repeated block printed once: ``block_1 to block_11: as
        block_0`` (``report.records`` and ``to_markdown()`` hold every row)."""
        lines = text_table(_COLUMNS, _blocks_once(self._rows()))
        if self.stopped:  # a call that drew nothing, or stopped, says so first
            lines.insert(0, f"{self.method}: stopped: {self.stopped}")
        if self.merges:
            rows = _periods_once(self._merge_rows())
            lines += ["", "residual merges:"] + text_table(_MERGE_COLUMNS, rows)
        lines.append(self._footer())
        notes, fallbacks = (_alike_once(self.notes, "report.notes"),
                            _alike_once(self.fallbacks, "report.fallbacks"))  # fmt: skip
        lines += [wrapped(f"note: {text}") for text in notes]
        lines += [wrapped(f"could not read: {text}") for text in fallbacks]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<InitReport {self._footer().replace(chr(10), ' ')}>"

    def to_markdown(self) -> str:
        """The table in Markdown (``|``-separated, pipes in cells escaped)."""
        lines = markdown(_COLUMNS, self._rows())
        if self.merges:
            lines += ["", "Residual merges:", ""] + markdown(_MERGE_COLUMNS, self._merge_rows())
        lines += ["", self._footer()]
        lines += [""] * bool(self.notes) + [f"- note: {text}" for text in self.notes]
        lines += [""] * bool(self.fallbacks)
        lines += [f"- could not read: {text}" for text in self.fallbacks]
        return "\n".join(lines)


# Printing a deep model once per kind of block. Rows are compared as printed; where they
# differ only in numbers inside a note (a kernel's measured std), the summary row says so.
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?")
# A row's layer inside a numbered block: "transformer_layer_3/self_attention".
_IN_BLOCK = re.compile(r"^(?P<block>[^/]*?\d+)/(?P<rest>.+)$")


def _masked(cell: str) -> str:
    """``cell`` with its numbers as ``#`` and a name's ``_#`` suffix dropped, so that
    ``'add_3'`` and ``'add'``, ``std 0.0196`` and ``std 0.0201`` read alike."""
    return re.sub(r"_#(?!\w)", "", _NUMBER.sub("#", cell))


def _segments(rows: list[list[str]]) -> list[tuple[str | None, list[list[str]]]]:
    """``rows`` cut into runs of one numbered block (its name) or of rows in none (None)."""
    segments: list[tuple[str | None, list[list[str]]]] = []
    for row in rows:
        found = _IN_BLOCK.match(row[0])
        name = found["block"] if found else None
        if segments and name is not None and segments[-1][0] == name:
            segments[-1][1].append(row)
        else:
            segments.append((name, [row]))
    return segments


def _signature(name: str, rows: list[list[str]], cell) -> tuple:
    """A block's rows, its own name left out of each layer's, each other cell by ``cell``."""
    return tuple((r[0].removeprefix(name), *map(cell, r[1:])) for r in rows)


@dataclasses.dataclass
class _Repeats:
    """Consecutive blocks that repeat the block ``like``: one row of the printed table."""

    first: str
    last: str
    like: str
    exact: bool  # False: numbers in their notes differ from ``like``'s

    def row(self, width: int) -> list[str]:
        span = self.first if self.first == self.last else f"{self.first} to {self.last}"
        note = f"as {self.like}" + ("" if self.exact else ", numbers in notes aside")
        return [span] + [""] * (width - 2) + [note]


def _blocks_once(rows: list[list[str]]) -> list[list[str]]:
    """``rows`` with each numbered block (``name_3/...``) that repeats an earlier one, row
    for row, replaced by one row; consecutive such blocks share that row."""
    out: list[list[str]] = []
    shown: dict[tuple, tuple[str, tuple]] = {}  # masked rows -> (block printed, exact rows)
    repeats: _Repeats | None = None
    for name, segment in _segments(rows):
        masked = _signature(name, segment, _masked) if name else None
        if masked is None or masked not in shown:
            out += [repeats.row(len(rows[0]))] if repeats else []
            repeats = None
            if masked is None:
                out += segment
                continue
            shown[masked] = (name, _signature(name, segment, str))
            # The block's name once, above its rows named within it: a narrower column.
            out.append([f"{name}/"] + [""] * (len(rows[0]) - 1))
            out += [["  " + r[0].removeprefix(f"{name}/"), *r[1:]] for r in segment]
            continue
        like, exact = shown[masked]
        exact = exact == _signature(name, segment, str)
        if repeats and repeats.like == like:
            repeats.last, repeats.exact = name, repeats.exact and exact
        else:
            out += [repeats.row(len(rows[0]))] if repeats else []
            repeats = _Repeats(name, name, like, exact)
    return out + ([repeats.row(len(rows[0]))] if repeats else [])


def _periods_once(rows: list[list[str]], longest: int = 4) -> list[list[str]]:
    """``rows`` (the merges, which name no block) with a run that repeats a pattern of up to
    ``longest`` rows printed as that pattern once and one row for the repeats."""
    keys = [tuple(map(_masked, row[1:])) for row in rows]
    out, i = [], 0
    while i < len(rows):
        covered, period = 0, 1  # the most rows a repeated pattern from i covers, its length
        for length in range(1, longest + 1):
            end = i + length
            while end < len(rows) and keys[end] == keys[end - length]:
                end += 1
            if end - i - length >= length and end - i - length > covered:
                covered, period = end - i - length, length
        if not covered:
            out.append(rows[i])
            i += 1
            continue
        out += rows[i : i + period]
        first, last = rows[i + period][0], rows[i + period + covered - 1][0]
        pattern = rows[i][0] if period == 1 else f"{rows[i][0]} to {rows[i + period - 1][0]}"
        out.append([f"{first} to {last}"] + [""] * (len(rows[0]) - 2) + [f"as {pattern}, repeated"])
        i += period + covered
    return out


def _alike_once(texts: list[str], listed_in: str) -> list[str]:
    """``texts`` with those that differ from an earlier one only in numbers (of names,
    of measurements) counted under it instead of printed; ``listed_in`` holds them all."""
    groups: dict[str, list[str]] = {}
    for text in texts:
        groups.setdefault(_masked(text), []).append(text)
    more = " (and {} more alike, at other layers or with other numbers: {} lists each)"
    return [
        group[0] + (more.format(len(group) - 1, listed_in) if len(group) > 1 else "")
        for group in groups.values()
    ]
