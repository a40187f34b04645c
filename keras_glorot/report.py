"""``InitReport``: what ``initialize`` and ``lsuv`` did to each kernel, as a table."""

from __future__ import annotations

import dataclasses
import math


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


_COLUMNS = ("layer", "kind", "part", "activation", "fan_in", "fan_out", "gain", "std", "note")


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
    rows of layers left alone, ``report["name"]`` the rows of one layer.

    Example:

    >>> report = keras_glorot.initialize(model, seed=0)
    >>> print(report)
    >>> [r.layer for r in report.skipped]
    """

    def __init__(self, method: str, records: list[KernelRecord] | None = None):
        self.method = method
        self.records: list[KernelRecord] = list(records or [])
        self.stopped: str = ""

    def add(self, record: KernelRecord) -> None:
        self.records.append(record)

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

    def _footer(self) -> str:
        n = len(self.handled)
        text = f"{self.method}: {n} kernel(s) handled, {len(self.skipped)} layer(s) skipped"
        return text + (f"; stopped: {self.stopped}" if self.stopped else "")

    def __str__(self) -> str:
        rows = [list(_COLUMNS)] + self._rows()
        widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines + [self._footer()])

    def __repr__(self) -> str:
        return f"<InitReport {self._footer()}>"

    def to_markdown(self) -> str:
        """The table in Markdown (``|``-separated, pipes in cells escaped)."""
        lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
        for row in self._rows():
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
        return "\n".join(lines + ["", self._footer()])
