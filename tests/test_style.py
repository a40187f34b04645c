"""The code base stays ruff-clean (lint and format), as the contributors' guide asks."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]])
def test_ruff_clean(command):
    # The venv's own bin first: a venv's python run without activation has it off PATH.
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it is in the 'test' extra)")
    paths = ["keras_glorot", "tests", "examples", "benchmarks"]
    result = subprocess.run([ruff, *command, *paths], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
