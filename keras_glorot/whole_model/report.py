"""``InitReport``: what ``initialize`` and ``lsuv`` did to each kernel, as a table."""

from __future__ import annotations

import dataclasses
import math
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
        lines = text_table(_COLUMNS, self._rows())
        if self.merges:
            lines += ["", "residual merges:"] + text_table(_MERGE_COLUMNS, self._merge_rows())
        lines.append(self._footer())
        lines += [wrapped(f"note: {text}") for text in self.notes]
        lines += [wrapped(f"could not read: {text}") for text in self.fallbacks]
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
