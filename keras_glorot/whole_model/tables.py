"""The reports' tables: text for a terminal (``rich``, which Keras already depends on)
and Markdown."""

from __future__ import annotations

import io
import textwrap

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

# A terminal's width: a table's rows are kept within it, long cells wrapped in their column.
WIDTH = 100


# Columns of prose: where a table is too wide, these share the room left by the others.
PROSE = ("activation", "note", "what follows", "branches", "action")


def text_table(columns, rows: list[list[str]]) -> list[str]:
    """``rows`` under ``columns``, the header on the first line, within ``WIDTH``; a
    long cell wraps inside its column, never cut."""
    # A prose column with nothing in it (no row has a note) is left out.
    keep = [i for i, c in enumerate(columns) if c not in PROSE or any(row[i] for row in rows)]
    columns, rows = [columns[i] for i in keep], [[row[i] for i in keep] for row in rows]
    console = Console(file=io.StringIO(), width=WIDTH, color_system=None, highlight=False,
                      emoji=False)  # fmt: skip
    table = _table(columns, rows, share=False)
    if console.measure(table).maximum > WIDTH:
        table = _table(columns, rows, share=True)
    console.print(table)
    # ASCII, so that the table prints on any console.
    return [line.rstrip().replace("\u2500", "-") for line in console.file.getvalue().splitlines()]


def _table(columns, rows: list[list[str]], share: bool) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="",
                  expand=share, collapse_padding=True)  # fmt: skip
    for column in columns:
        prose = share and column in PROSE
        table.add_column(column, overflow="fold", ratio=1 if prose else None,
                         no_wrap=share and not prose)  # fmt: skip
    for row in rows:
        # Text, not markup: a label such as "[by layer order]" is printed as it is.
        table.add_row(*(Text(cell) for cell in row))
    return table


def wrapped(text: str) -> str:
    """``text`` in lines of at most ``WIDTH`` characters, the later ones indented."""
    return "\n".join(textwrap.wrap(text, WIDTH, subsequent_indent="    ", break_long_words=True))


def markdown(columns, rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return lines
