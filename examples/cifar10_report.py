"""Rebuild a study's ``summary.md`` and ``curves.png`` from its ``runs.jsonl``.

Example::

    python examples/cifar10_report.py runs/vgg11 --target 0.6

Works on the ``--out`` folder of ``cifar10_vgg.py`` (and of each case of the other study
scripts); trains nothing and imports neither Keras nor a backend.
"""

from __future__ import annotations

import os
import pathlib
import sys

# Before anything can import TensorFlow; set it yourself to see them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no TensorFlow C++ info/warning lines
# The shared modules live in studylib/ next to this file; make them importable however it is run.
_HERE = str(pathlib.Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from studylib.report import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
