"""examples/get_cifar10.py --tarball: the official cifar-10-python.tar.gz, read offline, gives
the arrays Keras' own loader gives. Tested on a tiny tarball of the same format."""

from __future__ import annotations

import codecs
import io
import pickle
import subprocess
import sys
import tarfile
import warnings

import numpy as np
import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "examples"))
from studylib import cifar10_data  # noqa: E402

SCRIPT = REPO / "examples" / "get_cifar10.py"
PER_BATCH = 3  # images per fake batch (the real ones hold 10,000)


def fake_tarball(path, rng, drop=None, protocol=4):
    """A cifar-10-python.tar.gz in the official layout: cifar-10-batches-py/ holding pickled
    dicts with b"data" (N, 3072) uint8 rows (R, G, B planes) and b"labels" (a list), pickled
    with ``protocol``."""
    batches = {}
    with tarfile.open(path, "w:gz") as tar:
        for name in (*cifar10_data.TRAIN_BATCHES, cifar10_data.TEST_BATCH):
            if name == drop:
                continue
            batch = {
                b"batch_label": name.encode(),
                b"data": rng.integers(0, 256, (PER_BATCH, 3072), dtype=np.uint8),
                b"labels": [int(v) for v in rng.integers(0, 10, PER_BATCH)],
                b"filenames": [b"", *(f"img_{i}.png".encode() for i in range(1, PER_BATCH))],
            }
            batches[name] = batch
            blob = pickle.dumps(batch, protocol=protocol)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return batches


def test_the_tarball_gives_keras_layout_without_a_network(tmp_path):
    batches = fake_tarball(tmp_path / "cifar-10-python.tar.gz", np.random.default_rng(0))
    out = tmp_path / "cifar10.npz"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--tarball", "cifar-10-python.tar.gz", "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and "15 training and 3 test images" in done.stdout
    with np.load(out) as f:
        data = {k: f[k] for k in f.files}
    assert data["x_train"].shape == (5 * PER_BATCH, 32, 32, 3)
    assert data["x_test"].shape == (PER_BATCH, 32, 32, 3) and data["y_test"].shape == (3, 1)
    assert data["x_train"].dtype == np.uint8 and data["y_train"].dtype == np.uint8
    # Pixel (row 4, column 7) of the second image of data_batch_2, in each colour plane.
    row = batches["data_batch_2"][b"data"][1]
    x = data["x_train"][PER_BATCH + 1]
    for channel in range(3):
        assert x[4, 7, channel] == row[channel * 1024 + 4 * 32 + 7]
    assert data["y_train"][PER_BATCH + 1, 0] == batches["data_batch_2"][b"labels"][1]
    # The studies read it as they read Keras' own copy.
    loaded = cifar10_data.load_data(str(out))
    assert loaded["y_train"].shape == (15,) and loaded["x_test"].shape == (3, 32, 32, 3)


def test_the_same_arrays_as_keras_own_batch_reader(tmp_path):
    keras_cifar = pytest.importorskip("keras.src.datasets.cifar")
    rng = np.random.default_rng(1)
    batches = fake_tarball(tmp_path / "c.tar.gz", rng)
    ours = cifar10_data.arrays_from_tarball(tmp_path / "c.tar.gz")
    with tarfile.open(tmp_path / "c.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    x, y = keras_cifar.load_batch(str(tmp_path / "cifar-10-batches-py" / "test_batch"))
    np.testing.assert_array_equal(ours["x_test"], x.transpose(0, 2, 3, 1))  # Keras: NCHW first
    np.testing.assert_array_equal(ours["y_test"].ravel(), y)
    assert len(batches) == 6


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_batches_pickled_again_by_python3_load_whatever_the_protocol(tmp_path, protocol):
    # Protocols 0 to 2 write bytes through _codecs.encode, protocol 5 arrays through
    # numpy's _frombuffer: both once refused as code.
    batches = fake_tarball(tmp_path / "c.tar.gz", np.random.default_rng(3), protocol=protocol)
    ours = cifar10_data.arrays_from_tarball(tmp_path / "c.tar.gz")
    rows = np.concatenate([batches[n][b"data"] for n in cifar10_data.TRAIN_BATCHES])
    np.testing.assert_array_equal(
        ours["x_train"], rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    )
    assert ours["y_test"].ravel().tolist() == batches["test_batch"][b"labels"]


def test_a_batch_numpy_1_pickled_loads_under_numpy_2_without_a_warning(tmp_path):
    # NumPy 1 names numpy.core where NumPy 2 names numpy._core (and warns on the old name).
    batch = {b"data": np.arange(PER_BATCH * 3072).astype(np.uint8).reshape(PER_BATCH, 3072)}
    blob = pickle.dumps({**batch, b"labels": [1] * PER_BATCH}, protocol=2)
    blob = blob.replace(b"numpy._core.", b"numpy.core.")  # GLOBAL names are plain text
    assert b"numpy.core.multiarray" in blob
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = cifar10_data._ArraysOnly(io.BytesIO(blob), encoding="bytes").load()
        # Protocol 5's name for an array, as NumPy 1 writes it (NumPy 2 warns on it).
        unpickler = cifar10_data._ArraysOnly(io.BytesIO(b""))
        frombuffer = unpickler.find_class("numpy.core.numeric", "_frombuffer")
    np.testing.assert_array_equal(loaded[b"data"], batch[b"data"])
    assert frombuffer(b"\x01\x02", np.dtype("u1"), (2,), "C").tolist() == [1, 2]


def one_batch_tarball(path, blob: bytes) -> None:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))


class Payload:
    """Code a pickle would run when loaded: ``print("ran")``."""

    def __reduce__(self):
        return (print, ("ran",))


class Rot13:
    """``_codecs.encode`` asked for a codec other than protocol 2's latin1."""

    def __reduce__(self):
        return (codecs.encode, ("ran", "rot13"))


@pytest.mark.parametrize("protocol", [2, 5])
@pytest.mark.parametrize(
    "payload, refused",
    [
        (Payload(), r"refused (__builtin__|builtins)\.print"),
        (Rot13(), r"refused _codecs.encode\(str, 'rot13'\)"),
    ],
)
def test_a_pickle_that_asks_for_more_than_arrays_is_refused(tmp_path, payload, refused, protocol):
    one_batch_tarball(tmp_path / "c.tar.gz", pickle.dumps({b"data": payload}, protocol=protocol))
    with pytest.raises(cifar10_data.DataError, match=refused):
        cifar10_data.arrays_from_tarball(tmp_path / "c.tar.gz")


def test_a_batch_whose_arrays_were_kept_out_of_band_is_one_clear_line(tmp_path):
    # Protocol 5 can leave an array's bytes outside the pickle; a tarball cannot hold them.
    buffers = []
    batch = {b"data": np.zeros((PER_BATCH, 3072), np.uint8), b"labels": [0] * PER_BATCH}
    one_batch_tarball(
        tmp_path / "c.tar.gz", pickle.dumps(batch, protocol=5, buffer_callback=buffers.append)
    )
    assert buffers
    with pytest.raises(cifar10_data.DataError, match="out-of-band") as e:
        cifar10_data.arrays_from_tarball(tmp_path / "c.tar.gz")
    assert "\n" not in str(e.value)


def test_out_without_npz_names_the_file_numpy_writes(tmp_path):
    fake_tarball(tmp_path / "c.tar.gz", np.random.default_rng(4))
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--tarball", "c.tar.gz", "--out", "mydata"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("wrote mydata.npz: ") and "pass --npz mydata.npz" in done.stdout
    assert (tmp_path / "mydata.npz").is_file() and not (tmp_path / "mydata").exists()
    assert cifar10_data.load_data(str(tmp_path / "mydata.npz"))["y_train"].shape == (15,)


def test_a_tarball_without_a_batch_is_one_clear_line(tmp_path):
    fake_tarball(tmp_path / "c.tar.gz", np.random.default_rng(2), drop="data_batch_3")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--tarball", str(tmp_path / "c.tar.gz"), "--out",
         str(tmp_path / "o.npz")], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "lacks the batches data_batch_3" in done.stderr
    assert not (tmp_path / "o.npz").exists()


def test_the_tests_read_the_copy_keras_glorot_cifar10_names(tmp_path, monkeypatch):
    import conftest

    mine = tmp_path / "elsewhere" / "my_cifar10.npz"
    monkeypatch.setenv("KERAS_GLOROT_CIFAR10", str(mine))
    assert conftest.cifar_npz_path() == mine
    monkeypatch.delenv("KERAS_GLOROT_CIFAR10")
    assert conftest.cifar_npz_path() == REPO.parent / "shared" / "data" / "cifar10.npz"
