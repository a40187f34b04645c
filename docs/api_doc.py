"""Writes docs/api.md, the reference of every name in ``keras_glorot.__all__``, from the
docstrings: signature, what it does, examples, arguments, what it returns, references.

    python docs/api_doc.py          # rewrite docs/api.md
    python docs/api_doc.py --check  # exit 1 when docs/api.md is not what the docstrings give

A docstring is read in Keras' layout: what it does (formulas indented), then sections
headed ``Examples:``, ``Args:``, ``Attributes:``, ``Returns:``, ``Raises:``,
``Reference:``, each printed in that order whatever the docstring's.
"""

from __future__ import annotations

import argparse
import inspect
import pathlib
import re
import sys

import keras_glorot

PAGE = pathlib.Path(__file__).resolve().parent / "api.md"
# The names in the order a user meets them. A name of __all__ missing here stops the script.
GROUPS = {
    "Initializers": ["Glorot", "GlorotLeakyNormal", "GlorotLeakyUniform", "DeltaOrthogonal",
                     "Blocks", "ByShape", "LayerActivation", "calculate_gain", "compute_fans",
                     "custom_objects"],
    "Whole-model tools": ["initialize", "read_model", "lsuv", "signal_report",
                          "mean_field_variances", "jacobian_spectrum", "register_layer_kind"],
    "What they return": ["InitReport", "KernelRecord", "ModelReading", "KernelReading",
                         "SignalReport", "MeanFieldLayer", "JacobianSpectrum"],
}  # fmt: skip
# Methods every Keras initializer has, documented by Keras.
KERAS_PLUMBING = ("get_config", "from_config", "clone")
SECTIONS = ("Examples", "Args", "Attributes", "Returns", "Raises", "Reference")
_HEADING = re.compile(r"^(Examples?|Args|Attributes|Returns|Raises|References?):\s*$")


def split_docstring(doc: str) -> tuple[str, dict[str, list[str]]]:
    """``(what it does, {section: its lines, dedented})`` of a cleaned docstring."""
    what, sections, current = [], {}, None
    for line in doc.splitlines():
        found = _HEADING.match(line)
        if found:
            current = {"Example": "Examples", "References": "Reference"}.get(found[1], found[1])
            sections[current] = []
        elif current is None:
            what.append(line)
        else:
            sections[current].append(line)
    for name, lines in sections.items():
        sections[name] = inspect.cleandoc("\n".join(lines)).splitlines()
    return "\n".join(what).strip(), sections


def markdown_text(text: str) -> str:
    """RST's ````code```` as Markdown's ```code```."""
    return re.sub(r"``(.+?)``", r"`\1`", text, flags=re.DOTALL)


def items(lines: list[str]) -> list[str]:
    """``name: text`` entries (their continuation lines indented) as Markdown bullets."""
    entries: list[str] = []
    for line in lines:
        if line and not line[0].isspace():
            name, _, text = line.partition(":")
            entries.append(f"- `{name.strip()}`:{markdown_text(text)}")
        elif line.strip() and entries:
            entries[-1] += " " + markdown_text(line.strip())
    return entries


def references(lines: list[str]) -> list[str]:
    """``- reference`` entries (continued on indented lines) as Markdown bullets."""
    entries: list[str] = []
    for line in lines:
        if line.startswith("- "):
            entries.append(markdown_text(line))
        elif line.strip() and entries:
            entries[-1] += " " + markdown_text(line.strip())
    return entries


def signature(name: str, obj) -> str:
    """``name(arguments)`` with defaults and without type hints, one argument a line
    where one line would be long."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return name
    parts, star = [], False  # star: the keyword-only arguments' * is written
    for p in sig.parameters.values():
        if p.name == "self":
            continue
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
        star = star or p.kind in (p.KEYWORD_ONLY, p.VAR_POSITIONAL)
        parts.append(str(p.replace(annotation=inspect.Parameter.empty)))
    one_line = f"{name}({', '.join(parts)})"
    if len(one_line) <= 90:
        return one_line
    return f"{name}(\n" + "".join(f"    {p},\n" for p in parts) + ")"


def methods(obj) -> list[str]:
    """Bullets for the public methods and properties a class defines itself, Keras'
    initializer methods aside."""
    if not inspect.isclass(obj):
        return []
    entries = []
    for attr, value in vars(obj).items():
        if attr.startswith("_") or attr in KERAS_PLUMBING:
            continue
        if not (callable(value) or isinstance(value, property)):
            continue
        function = value.fget if isinstance(value, property) else value
        doc = inspect.getdoc(function)
        if not doc:
            continue
        shown = f"{attr} (property)" if isinstance(value, property) else signature(attr, function)
        summary = markdown_text(" ".join(doc.split("\n\n")[0].split()))
        entries.append(f"- `{shown}`: {summary}")
    return entries


def entry(name: str) -> list[str]:
    obj = getattr(keras_glorot, name)
    what, sections = split_docstring(inspect.getdoc(obj) or "")
    lines = [f"### {name}", "", "```python", signature(f"keras_glorot.{name}", obj), "```", ""]
    lines += [markdown_text(what), ""]
    for section in SECTIONS:
        body = sections.get(section)
        if not body:
            continue
        lines += [f"**{section}**", ""]
        if section == "Examples":
            lines += ["```python", *body, "```"]
        elif section in ("Args", "Attributes"):
            lines += items(body)
        elif section == "Reference":
            lines += references(body)
        else:
            lines.append(markdown_text(" ".join(" ".join(body).split())))
        lines.append("")
    if methods(obj):
        lines += ["**Methods and properties**", "", *methods(obj), ""]
    return lines


def page() -> str:
    """docs/api.md as the docstrings give it."""
    listed = [name for names in GROUPS.values() for name in names]
    if sorted(listed) != sorted(keras_glorot.__all__):
        missing = sorted(set(keras_glorot.__all__) - set(listed))
        raise SystemExit(f"docs/api_doc.py: place {missing} in GROUPS (or drop the extra).")
    lines = [
        "# API reference",
        "",
        "Every public name of `keras_glorot`, from its docstring. `python docs/api_doc.py` writes",
        "this page; a test fails when it is stale.",
        "",
    ]
    for group, names in GROUPS.items():
        lines.append(f"- {group}: " + ", ".join(f"[`{n}`](#{n.lower()})" for n in names))
    lines.append("")
    for group, names in GROUPS.items():
        lines += [f"## {group}", ""]
        for name in names:
            lines += entry(name)
    return "\n".join(re.sub(r"[ \t]+$", "", line) for line in lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write docs/api.md from the docstrings.")
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/api.md is stale")
    args = parser.parse_args(argv)
    text = page()
    if args.check:
        stale = not PAGE.exists() or PAGE.read_text(encoding="utf-8") != text
        print(f"{PAGE} is {'stale: run python docs/api_doc.py' if stale else 'up to date'}")
        return int(stale)
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
