"""CIFAR-10 as in-memory NumPy arrays: an offline .npz, TFDS, or random images for benchmarks;
and the .npz itself, from Keras' download or from the official ``cifar-10-python.tar.gz``.

Needs only NumPy (and ``tensorflow_datasets`` for the TFDS path), so that the study, the
benchmarks and the tests load data the same way on every Keras backend.
"""

from __future__ import annotations

import importlib
import pathlib
import pickle
import socket
import tarfile
import zipfile
import zlib

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


# How to write a readable .npz, for every message about an unreadable one.
MAKE_NPZ = "write one with: python examples/get_cifar10.py --out cifar10.npz"


def load_npz(path: str) -> dict[str, np.ndarray]:
    """Load a ``keras.datasets.cifar10``-layout .npz; a file that is not one (text, cut
    short, damaged) raises a one-line ``DataError`` naming it and how to write one."""
    try:
        with open(path, "rb") as f:
            is_zip = f.read(4) == b"PK\x03\x04"
        if not is_zip:
            # NumPy would try to read it as a pickle and advise allow_pickle=True: never.
            raise DataError(f"--npz {path} is not an .npz (not a zip archive); {MAKE_NPZ}.")
        with np.load(path, allow_pickle=False) as f:
            missing = set(ARRAYS) - set(f.files)
            if missing:
                raise DataError(f"--npz {path} lacks arrays {sorted(missing)}; {MAKE_NPZ}.")
            data = {k: f[k] for k in ARRAYS}
    except FileNotFoundError:
        raise DataError(f"--npz {path}: no such file; {MAKE_NPZ}.") from None
    # A zip cut short or damaged fails in zipfile, zlib or NumPy's header parser.
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(
            f"--npz {path}: not a readable .npz, cut short or damaged ({reason}); {MAKE_NPZ}."
        ) from e
    for k in ("y_train", "y_test"):
        data[k] = _labels(data[k])
    return data


# The pickled batches of the official cifar-10-python.tar.gz (folder cifar-10-batches-py/).
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """Pickle protocols 0 to 2 write bytes as ``_codecs.encode(text, "latin1")``: that call
    alone, not the other codecs ``_codecs.encode`` would run."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(
            f"refused _codecs.encode({type(text).__name__}, {encoding!r}): only the latin1 "
            "text that pickle protocols 0 to 2 write bytes as is read"
        )
    return text.encode("latin1")


def _empty_bytes() -> bytes:
    """Protocols 0 to 2 write ``b""`` as ``bytes()``."""
    return b""


def _numpy_core(leaf: str) -> str:
    """The module NumPy keeps ``numpy.core.<leaf>`` in: ``numpy._core.<leaf>`` from NumPy 2
    (which warns on the old name), ``numpy.core.<leaf>`` before."""
    try:
        importlib.import_module(f"numpy._core.{leaf}")
    except ImportError:
        return f"numpy.core.{leaf}"
    return f"numpy._core.{leaf}"


class _ArraysOnly(pickle.Unpickler):
    """Unpickles NumPy arrays, lists, dicts, bytes and numbers only, whichever pickle
    protocol wrote them (0 to 5, Python 2 or 3, NumPy 1 or 2): a pickle that asks for
    anything else (code to run) is refused.

    What each protocol asks for: an array is ``numpy.core.multiarray._reconstruct`` with
    ``numpy.ndarray`` and ``numpy.dtype`` (protocols 0 to 4), or
    ``numpy.core.numeric._frombuffer`` over its bytes (protocol 5); NumPy 2 writes
    ``numpy._core`` for ``numpy.core``. Protocols 0 to 2 write bytes through
    ``_codecs.encode`` (latin1 text) and ``bytes()``.
    """

    NUMPY = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("multiarray", "_reconstruct"),
        ("numeric", "_frombuffer"),
    }
    BYTES = {
        ("_codecs", "encode"): _latin1_bytes,
        ("__builtin__", "bytes"): _empty_bytes,  # the name protocols 0 to 2 write
        ("builtins", "bytes"): _empty_bytes,
    }

    def find_class(self, module, name):
        if (module, name) in self.BYTES:
            return self.BYTES[module, name]
        # numpy.core (NumPy 1) and numpy._core (NumPy 2) name the same modules.
        parent, _, leaf = module.rpartition(".")
        if (module, name) in self.NUMPY or (
            parent in ("numpy.core", "numpy._core") and (leaf, name) in self.NUMPY
        ):
            if parent:
                module = _numpy_core(leaf)
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


def write_npz(data: dict[str, np.ndarray], path: str | pathlib.Path) -> pathlib.Path:
    """Write the four arrays as the .npz that ``--npz`` reads; returns the file written,
    which ends in ``.npz`` as NumPy makes it (``--out mydata`` writes ``mydata.npz``)."""
    path = pathlib.Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    np.savez(path, **{k: data[k] for k in ARRAYS})
    return path


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
    source = f"--npz {npz}" if npz else "CIFAR-10"
    limits = (
        ("train", "--subset", subset, "training"),
        ("test", "--test-subset", test_subset, "test"),
    )
    for split, option, n, images in limits:
        total = len(data[f"x_{split}"])
        if n and n > total:
            # Refused, not clamped: the runs' options (and so summary.md) record what was used.
            raise DataError(
                f"{option} {n}: {source} holds {total:,} {images} images; pass {option} "
                f"{total} or less, or leave {option} out to use all of them."
            )
        if n:
            for k in (f"x_{split}", f"y_{split}"):
                data[k] = data[k][:n]
    if data["x_train"].ndim != 4 or data["x_train"].shape[-1] != 3:
        raise DataError(f"expected images (N, H, W, 3); got {data['x_train'].shape}.")
    return data
