"""README's snippets, and those of docs/guide.md, run block by block, each on its own, so that
the docs cannot rot.

A reader copies one block, not the whole page: every Python block must run in a
fresh namespace. The load error README quotes must be what Keras actually prints.
"""

import re
import textwrap

import keras
import pytest

from tests.conftest import REPO, run_python

PAGES = ("README.md", "docs/guide.md")
# The first line of a block that needs JAX and 8 devices (tests/test_distributed.py runs it
# with 8 virtual CPU devices).
JAX_ONLY = "# JAX only, 8 devices"


def blocks(language: str, page: str = "README.md") -> list[str]:
    text = (REPO / page).read_text()
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_readme_has_snippets():
    assert len(blocks("python")) >= 5
    assert sum(block.startswith(JAX_ONLY) for block in blocks("python")) == 1


@pytest.mark.parametrize(
    "page, index", [(page, i) for page in PAGES for i in range(len(blocks("python", page)))]
)
def test_snippet_runs_on_its_own(page, index, capsys):
    block = blocks("python", page)[index]
    if "import keras_hub" in block:
        pytest.importorskip("keras_hub")  # the [hub] extra; tox installs it
    if block.startswith(JAX_ONLY):
        if keras.config.backend() != "jax" or len(keras.distribution.list_devices()) < 8:
            pytest.skip("needs JAX and 8 devices: tests/test_distributed.py runs it so")
    policy = keras.config.dtype_policy()
    try:
        exec(compile(block, f"{page} python block {index + 1}", "exec"), {})
    finally:
        keras.config.set_dtype_policy(policy)  # a failed block must not leak its policy
        keras.distribution.set_distribution(None)
    printed = capsys.readouterr().out
    if "negative_slope=-0.2" in block:
        assert "Received: negative_slope=-0.2" in printed  # printed the real message


def test_readme_quotes_the_error_keras_prints_without_the_import(tmp_path):
    (quoted,) = [b for b in blocks("text") if "could not be deserialized" in b]
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(2, kernel_initializer="glorot_leaky")]
    )
    path = tmp_path / "model.keras"
    model.save(path)
    code = textwrap.dedent(
        """
        import sys, keras
        try:
            keras.saving.load_model(sys.argv[1])
        except Exception as error:
            print(f"{type(error).__name__}: {error}")
        """
    )
    result = run_python(code, path)
    printed = result.stdout
    # README elides with "..."; every piece between elisions is printed verbatim.
    pieces = [p.strip() for line in quoted.splitlines() for p in line.split("...")]
    for piece in filter(None, pieces):
        assert piece in printed, (piece, printed[-2000:])
