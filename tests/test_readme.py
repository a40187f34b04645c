"""README's Python snippets run, in order, in one namespace, so that the docs cannot rot."""

import re

from tests.conftest import REPO


def python_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_snippets():
    assert len(python_blocks()) >= 4


def test_readme_snippets_run(capsys):
    namespace: dict = {}
    for block in python_blocks():
        exec(compile(block, "README.md", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "negative_slope=-0.2" in printed  # the bad-input snippet printed its message
