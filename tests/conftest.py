"""Shared test setup. The backend comes from KERAS_BACKEND (tox sets one per env)."""

import os
import pathlib
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import keras_glorot  # noqa: E402, F401  (registers the string names)

REPO = pathlib.Path(__file__).resolve().parents[1]
# A real CIFAR-10 copy (python examples/get_cifar10.py writes one) for the tests that read
# real images: KERAS_GLOROT_CIFAR10=/path/to/cifar10.npz, else the shared/data/ folder
# beside the clone. They skip where neither holds it.
CIFAR_NPZ_VARIABLE = "KERAS_GLOROT_CIFAR10"

BACKEND = keras.config.backend()
# An example script's end-to-end run (marked ``one_backend``) trains real nets through the
# script's options, resume and report, where nothing depends on the backend: it runs in
# this backend's environment only, so that ``tox`` checks the package on all three
# backends within minutes. ``pytest --every-backend`` runs those tests on any backend.
SCRIPTS_BACKEND = "tensorflow"


def pytest_addoption(parser):
    parser.addoption(
        "--every-backend", action="store_true",
        help=f"also run the example scripts' end-to-end tests (marked one_backend), which "
        f"otherwise run on {SCRIPTS_BACKEND} alone",
    )  # fmt: skip


def pytest_collection_modifyitems(config, items):
    if BACKEND == SCRIPTS_BACKEND or config.getoption("--every-backend"):
        return
    skip = pytest.mark.skip(
        reason=f"an example script end to end, nothing in it backend-specific: run on "
        f"{SCRIPTS_BACKEND} (pytest --every-backend runs it here)"
    )
    for item in items:
        if "one_backend" in item.keywords:
            item.add_marker(skip)


def to_numpy(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def run_python(code: str, *args, with_repo: bool = True) -> subprocess.CompletedProcess:
    """Runs ``code`` in a fresh interpreter on this backend: nothing imported, no registry.

    ``with_repo`` puts the repository first on ``PYTHONPATH``, so the checkout's
    package is the one imported.
    """
    env = dict(os.environ, KERAS_BACKEND=BACKEND, TF_CPP_MIN_LOG_LEVEL="3")
    if with_repo:
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def cifar_npz_path() -> pathlib.Path:
    """Where the tests look for a real CIFAR-10 .npz: ``KERAS_GLOROT_CIFAR10`` if set."""
    chosen = os.environ.get(CIFAR_NPZ_VARIABLE)
    if chosen:
        return pathlib.Path(chosen).expanduser()
    return REPO.parent / "shared" / "data" / "cifar10.npz"


@pytest.fixture
def cifar_npz() -> pathlib.Path:
    """The local real CIFAR-10 copy; tests that need it skip where it is absent."""
    path = cifar_npz_path()
    if not path.is_file():
        pytest.skip(f"no CIFAR-10 copy at {path}: set {CIFAR_NPZ_VARIABLE}=/path/to/cifar10.npz")
    return path


@pytest.fixture(scope="session")
def tiny_cifar_npz(tmp_path_factory) -> pathlib.Path:
    """Random CIFAR-shaped data in keras.datasets.cifar10 layout: 64 train, 32 test images."""
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    rng = np.random.default_rng(0)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8),
        y_train=rng.integers(0, 10, (64, 1), dtype=np.uint8),
        x_test=rng.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8),
        y_test=rng.integers(0, 10, (32, 1), dtype=np.uint8),
    )
    return path
