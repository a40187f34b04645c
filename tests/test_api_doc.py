"""docs/api.md is what docs/api_doc.py makes of the docstrings: every public name with its
signature, what it does, an example and its arguments, in Keras' order."""

from __future__ import annotations

import inspect
import re
import sys

from conftest import REPO

import keras_glorot

sys.path.insert(0, str(REPO / "docs"))
import api_doc  # noqa: E402

# Public names whose docstrings (in keras_glorot/whole_model) have no example yet, and those
# whose Args come before their Examples. Each list must be exactly what is found, so that a
# docstring brought in line is taken off it.
NO_EXAMPLE_YET = {"JacobianSpectrum", "KernelRecord"}
ARGS_BEFORE_EXAMPLES_YET = {"LayerActivation", "jacobian_spectrum", "lsuv"}
NO_ARGS_YET = {"InitReport"}  # its attributes are told in prose


def test_the_page_is_what_the_docstrings_give():
    # Stale: run python docs/api_doc.py, and commit docs/api.md with the docstrings.
    assert (REPO / "docs" / "api.md").read_text(encoding="utf-8") == api_doc.page()


def entries(page: str) -> dict[str, str]:
    parts = re.split(r"^### (\w+)$", page, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_public_name_has_signature_summary_and_arguments():
    found = entries(api_doc.page())
    assert sorted(found) == sorted(keras_glorot.__all__)
    without = set()
    for name, text in found.items():
        assert text.lstrip().startswith(f"```python\nkeras_glorot.{name}"), name
        summary = text.split("```\n", 1)[1].strip().splitlines()[0]
        assert summary.endswith(".") and len(summary) > 20, (name, summary)
        takes = [p for p in inspect.signature(getattr(keras_glorot, name)).parameters]
        if takes and "**Args**" not in text and "**Attributes**" not in text:
            without.add(name)
        elif takes:
            for parameter in takes:
                assert f"- `{parameter}`:" in text, (name, parameter)
    assert without == NO_ARGS_YET


def test_every_public_name_has_an_example_but_those_listed():
    found = entries(api_doc.page())
    without = {name for name, text in found.items() if "**Examples**" not in text}
    assert without == NO_EXAMPLE_YET


def test_docstrings_put_examples_before_args_as_keras_does():
    late = set()
    for name in keras_glorot.__all__:
        headings = re.findall(r"^(Examples?|Args|Attributes):", inspect.getdoc(
            getattr(keras_glorot, name)) or "", re.MULTILINE)  # fmt: skip
        if "Args" in headings and any(h.startswith("Example") for h in headings):
            late |= {name} if headings.index("Args") < headings.index(
                next(h for h in headings if h.startswith("Example"))) else set()  # fmt: skip
    assert late == ARGS_BEFORE_EXAMPLES_YET


def test_docstrings_hold_no_study_results():
    # Measured accuracies, seeds and runs live in docs/, with their commands.
    pattern = re.compile(r"\d+(\.\d+)? ?(points|%)|\bseeds?\b \d|trained better")
    for name in keras_glorot.__all__:
        doc = inspect.getdoc(getattr(keras_glorot, name)) or ""
        assert not pattern.search(doc), name
