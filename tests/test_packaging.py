"""The wheel holds the package, its licence, py.typed and correct metadata, and nothing else;
the sdist holds the whole project source, tests included.

Each build runs on a copy of the source tree, so that it neither writes build/ into the
checkout nor picks up stale files from an earlier build/ there.
"""

import email.parser
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator

import pytest

from tests.conftest import REPO

# A few seconds of subprocess builds on CI's two cores.
pytestmark = pytest.mark.slow

# What a build of the checkout must not see: VCS, environments, earlier build outputs.
_NOT_COPIED = shutil.ignore_patterns(
    ".git",
    ".tox",
    ".venv",
    "venv",
    ".ci-venv",
    ".whl",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".ruff_cache",
    "runs",
    "out",
)
_DIST_INFO_FILES = {"METADATA", "WHEEL", "RECORD", "top_level.txt"}
_LICENSE_PATHS = {"LICENSE", "licenses/LICENSE"}


def _source_version() -> str:
    text = (REPO / "keras_glorot" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    assert match, "keras_glorot/__init__.py has no __version__ line"
    return match.group(1)


def _pip_wheel_command(source, out) -> list[str]:
    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-w", str(out)]
    command += ["--disable-pip-version-check", "--no-cache-dir", "-q"]
    # The test extra's environments (tox) have setuptools and wheel; building with them
    # needs no index. Elsewhere pip fetches the build-system requirements itself.
    if importlib.util.find_spec("setuptools") and importlib.util.find_spec("wheel"):
        command += ["--no-build-isolation", "--no-index"]
    return command


def _copy_of_checkout(tmp_path_factory):
    source = tmp_path_factory.mktemp("source") / "keras-glorot"
    shutil.copytree(REPO, source, ignore=_NOT_COPIED)
    return source


def _package_modules() -> set[str]:
    return {
        path.relative_to(REPO).as_posix()
        for path in (REPO / "keras_glorot").rglob("*.py")
        if "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Iterator[zipfile.ZipFile]:
    source = _copy_of_checkout(tmp_path_factory)
    out = tmp_path_factory.mktemp("wheelhouse")
    result = subprocess.run(
        _pip_wheel_command(source, out), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    built = sorted(out.glob("*.whl"))
    assert len(built) == 1, built
    with zipfile.ZipFile(built[0]) as archive:
        yield archive


def _dist_info(wheel) -> str:
    prefix = f"keras_glorot-{_source_version()}.dist-info/"
    assert any(name.startswith(prefix) for name in wheel.namelist()), wheel.namelist()
    return prefix


def test_wheel_holds_every_module_and_py_typed_and_nothing_else(wheel):
    prefix = _dist_info(wheel)
    names = wheel.namelist()
    package = {name for name in names if not name.startswith(prefix)}
    assert package == _package_modules() | {"keras_glorot/py.typed"}
    metadata = {name.removeprefix(prefix) for name in names if name.startswith(prefix)}
    assert metadata - _DIST_INFO_FILES - _LICENSE_PATHS == set()
    assert _DIST_INFO_FILES <= metadata
    for name in names:
        assert "__pycache__" not in name and not name.endswith(".pyc"), name
        assert not name.startswith(("tests/", "examples/", "docs/", "benchmarks/")), name


def test_wheel_ships_the_license(wheel):
    prefix = _dist_info(wheel)
    shipped = [prefix + path for path in _LICENSE_PATHS if prefix + path in wheel.namelist()]
    assert len(shipped) == 1, wheel.namelist()
    text = wheel.read(shipped[0]).decode("utf-8")
    assert text == (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "Copyright 2026 The keras-glorot Authors" in text
    assert "[yyyy]" not in text


def test_wheel_metadata(wheel):
    metadata = email.parser.Parser().parsestr(
        wheel.read(_dist_info(wheel) + "METADATA").decode("utf-8")
    )
    assert metadata["Name"] == "keras-glorot"
    assert metadata["Version"] == _source_version()
    # setuptools writes License: from setup.cfg; a later move to an SPDX expression
    # (pyproject's license = "Apache-2.0") writes License-Expression: instead.
    assert "Apache-2.0" in (metadata["License"], metadata["License-Expression"])
    assert metadata.get_all("License-File") == ["LICENSE"]


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> Iterator[tarfile.TarFile]:
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("the sdist is built with this environment's setuptools, which is missing")
    source = _copy_of_checkout(tmp_path_factory)
    out = tmp_path_factory.mktemp("sdist")
    build = f"from setuptools import build_meta; build_meta.build_sdist({str(out)!r})"
    result = subprocess.run(
        [sys.executable, "-c", build], cwd=source, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    built = sorted(out.glob("*.tar.gz"))
    assert len(built) == 1, built
    with tarfile.open(built[0]) as archive:
        yield archive


def test_sdist_holds_the_project_source_for_its_tests(sdist):
    # setuptools >= 69.3 names the folder keras_glorot-VERSION, older ones keras-glorot-VERSION.
    roots = (f"keras_glorot-{_source_version()}/", f"keras-glorot-{_source_version()}/")
    files = [member.name for member in sdist.getmembers() if member.isfile()]
    root = next(r for r in roots if all(name.startswith(r) for name in files))
    names = {name.removeprefix(root) for name in files}
    tests = {path.relative_to(REPO).as_posix() for path in (REPO / "tests").glob("*.py")}
    expected = {"LICENSE", "README.md", "CHANGELOG.md", "setup.cfg", "pyproject.toml", "tox.ini"}
    expected |= _package_modules() | tests | {"keras_glorot/py.typed"}
    assert expected - names == set()
    for name in names:
        assert "__pycache__" not in name and not name.endswith(".pyc"), name
        assert not name.startswith((".git/", ".tox/", "build/", "dist/", ".venv")), name


def test_the_version_the_package_reports_is_a_dated_release_in_the_changelog():
    # Keep a Changelog: "## VERSION - YYYY-MM-DD"; work after it goes under "## Unreleased".
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", changelog, re.MULTILINE)
    released = [h for h in headings if h.lower() != "unreleased"]
    assert re.fullmatch(re.escape(_source_version()) + r" - \d{4}-\d{2}-\d{2}", released[0])


def test_the_wheel_installed_alone_registers_its_names_and_initializes(wheel, tmp_path):
    # Installed from the wheel, away from the checkout: every module it needs is in it.
    target = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q"]
    install += ["--disable-pip-version-check", "--target", str(target), wheel.filename]
    result = subprocess.run(install, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    code = (
        "import keras, keras_glorot\n"
        "print(keras_glorot.__file__)\n"
        "model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(\n"
        "    4, activation='leaky_relu', kernel_initializer='glorot_leaky')])\n"
        "print(len(keras_glorot.initialize(model, seed=0).handled))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    ran = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    where, handled = ran.stdout.split()
    assert where.startswith(str(target)) and handled == "1"
