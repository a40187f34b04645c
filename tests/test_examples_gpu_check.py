"""benchmarks/gpu_check.sh is ready for a GPU machine: valid bash, shellcheck-clean where
shellcheck is installed, and it refuses an unknown part before doing anything."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from conftest import REPO

SCRIPT = REPO / "benchmarks" / "gpu_check.sh"


def test_bash_parses_it():
    done = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_shellcheck_clean():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    done = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_unknown_part_is_refused_before_any_work(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "OUT": str(tmp_path / "out")}
    done = subprocess.run(
        ["bash", str(SCRIPT), "tests", "benchmark"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 2
    assert "unknown part 'benchmark'" in done.stderr and "setup tests mixed study" in done.stderr
    assert not (tmp_path / "out").exists()


def test_help_prints_the_header_and_does_nothing_else(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "OUT": str(tmp_path / "out")}
    for flag in ("--help", "-h"):
        done = subprocess.run(["bash", str(SCRIPT), flag], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("GPU check of keras-glorot")
        assert "setup tests mixed study" in done.stdout and "#" not in done.stdout.split()[0]
        assert "set -uo pipefail" not in done.stdout
    assert not (tmp_path / "out").exists()


def test_header_speaks_of_a_users_machine():
    header = SCRIPT.read_text().split("\nset -uo pipefail", 1)[0]
    assert "carry" not in header and "MiB" not in header and "../shared" not in SCRIPT.read_text()
    for situation in ("without TensorFlow", "offline", "--help"):
        assert situation in header


def test_header_says_what_to_carry():
    header = SCRIPT.read_text().split("\nset -uo pipefail", 1)[0]
    for needed in (".whl/keras-*.whl", "absl-py", "rich", "namex", "h5py", "optree"):
        assert needed in header
    for needed in ("ml-dtypes", "packaging", "pytest", "cifar10_subset.npz", "$OUT"):
        assert needed in header
