"""CIFAR-10 as in-memory NumPy arrays: an offline .npz, TFDS, or random images for benchmarks;
and the .npz itself, from Keras' download or from the official ``cifar-10-python.tar.gz``.

Needs only NumPy (and ``tensorflow_datasets`` for the TFDS path), so that the study, the
benchmarks and the tests load data the same way on every Keras backend.
"""

from __future__ import annotations

import pathlib
import pickle
import socket
import tarfile

import numpy as np

# Where TFDS downloads cifar10 from; probed before a download so that an offline machine
# fails in seconds instead of retrying for minutes.
TFDS_SOURCE = ("www.cs.toronto.edu", 443)
NUM_CLASSES = 10
ARRAYS = ("x_train", "y_train", "x_test", "y_test")


class DataError(RuntimeError):
    """The data set could not be found or loaded (raised before any training)."""


def _labels(y: np.ndarray) -> np.ndarray:
    """Accept labels of shape (N,) or (N, 1), as Keras' own loader gives."""
    return np.asarray(y).reshape(-1).astype("int32")


def load_npz(path: str) -> dict[str, np.ndarray]:
    """Load a ``keras.datasets.cifar10``-layout .npz."""
    with np.load(path) as f:
        missing = set(ARRAYS) - set(f.files)
        if missing:
            raise DataError(f"--npz {path} lacks arrays {sorted(missing)}.")
        data = {k: f[k] for k in ARRAYS}
    for k in ("y_train", "y_test"):
        data[k] = _labels(data[k])
    return data


# The pickled batches of the official cifar-10-python.tar.gz (folder cifar-10-batches-py/).
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"


class _ArraysOnly(pickle.Unpickler):
    """Unpickles NumPy arrays, lists, dicts, bytes and numbers only: a pickle that asks for
    anything else (code to run) is refused."""

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused {module}.{name}: not part of a CIFAR-10 batch")


def arrays_from_tarball(path: str | pathlib.Path) -> dict[str, np.ndarray]:
    """The arrays of ``keras.datasets.cifar10.load_data()`` read from the official
    ``cifar-10-python.tar.gz`` (Python pickles: ``b"data"`` rows of 3,072 bytes, the red,
    green and blue planes of 32 x 32 pixels; ``b"labels"``), with no network. Images
    uint8 (N, 32, 32, 3), labels uint8 (N, 1), as Keras gives them. The batches are
    pickles: they are read with NumPy's array classes allowed and nothing else."""
    batches: dict[str, dict] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar.getmembers():
                name = pathlib.PurePosixPath(member.name).name
                if member.isfile() and name in (*TRAIN_BATCHES, TEST_BATCH):
                    with tar.extractfile(member) as f:
                        batches[name] = _ArraysOnly(f, encoding="bytes").load()
    except (OSError, tarfile.TarError, pickle.UnpicklingError, EOFError) as e:
        raise DataError(f"{path}: not a readable cifar-10-python.tar.gz ({e}).") from e
    missing = [b for b in (*TRAIN_BATCHES, TEST_BATCH) if b not in batches]
    if missing:
        raise DataError(f"{path} lacks the batches {', '.join(missing)} of cifar-10-python.tar.gz.")

    def split(names):
        x = np.concatenate([np.asarray(batches[n][b"data"], dtype=np.uint8) for n in names])
        y = np.concatenate([np.asarray(batches[n][b"labels"], dtype=np.uint8) for n in names])
        return x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), y.reshape(-1, 1)

    (x_train, y_train), (x_test, y_test) = split(TRAIN_BATCHES), split([TEST_BATCH])
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def write_npz(data: dict[str, np.ndarray], path: str | pathlib.Path) -> None:
    """Write the four arrays as the .npz that ``--npz`` reads."""
    np.savez(path, **{k: data[k] for k in ARRAYS})


def random_data(n_train: int, n_test: int = 256, seed: int = 0) -> dict[str, np.ndarray]:
    """CIFAR-shaped uniform noise images and labels, for timing where no copy is at hand."""
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8),
        "y_train": rng.integers(0, NUM_CLASSES, n_train).astype("int32"),
        "x_test": rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8),
        "y_test": rng.integers(0, NUM_CLASSES, n_test).astype("int32"),
    }


def source_reachable(address: tuple[str, int] = TFDS_SOURCE, timeout: float = 3.0) -> bool:
    """Whether the TFDS download host answers within ``timeout`` seconds."""
    try:
        with socket.create_connection(address, timeout=timeout):
            return True
    except OSError:
        return False


def _no_data_message(why: str) -> str:
    return (
        f"CIFAR-10 is not available: {why}. Pass --data-dir DIR for an existing TFDS data "
        "directory that holds cifar10, or --npz PATH for an offline copy in "
        "keras.datasets.cifar10 layout (x_train, y_train, x_test, y_test)."
    )


def load_tfds(data_dir: str | None) -> dict[str, np.ndarray]:
    """Load cifar10 through TFDS, downloading it first if needed and the source answers."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:  # also covers the undeclared importlib_resources dependency
        raise DataError(_no_data_message(f"tensorflow_datasets cannot be imported ({e})")) from e
    builder = tfds.builder("cifar10", data_dir=data_dir)
    if not builder.is_prepared():
        # tfds would otherwise retry an unreachable host for minutes before failing.
        if not source_reachable():
            raise DataError(
                _no_data_message(
                    f"it is not prepared in {builder.data_dir} and {TFDS_SOURCE[0]} "
                    "does not answer (no network?)"
                )
            )
        builder.download_and_prepare()
    data = {}
    for split in ("train", "test"):
        # Fixed-size batches rather than batch_size=-1, which aborts the process on the
        # generator-backed datasets of tfds.testing.mock_data.
        ds = builder.as_dataset(split=split, batch_size=4096, as_supervised=True)
        xs, ys = zip(*tfds.as_numpy(ds), strict=True)
        data[f"x_{split}"], data[f"y_{split}"] = np.concatenate(xs), _labels(np.concatenate(ys))
    return data


def load_data(
    npz: str | None,
    data_dir: str | None = None,
    subset: int | None = None,
    test_subset: int | None = None,
) -> dict[str, np.ndarray]:
    """The arrays for a study: uint8 images (N, 32, 32, 3), int32 labels (N,); with
    ``subset`` only the first ``subset`` training images, with ``test_subset`` only the
    first ``test_subset`` test images."""
    data = load_npz(npz) if npz else load_tfds(data_dir)
    for split, n in (("train", subset), ("test", test_subset)):
        if n:
            for k in (f"x_{split}", f"y_{split}"):
                data[k] = data[k][:n]
    if data["x_train"].ndim != 4 or data["x_train"].shape[-1] != 3:
        raise DataError(f"expected images (N, H, W, 3); got {data['x_train'].shape}.")
    return data
