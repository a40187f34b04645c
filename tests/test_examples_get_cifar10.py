"""examples/get_cifar10.py --tarball: the official cifar-10-python.tar.gz, read offline, gives
the arrays Keras' own loader gives. Tested on a tiny tarball of the same format."""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "examples"))
from studylib import cifar10_data  # noqa: E402

SCRIPT = REPO / "examples" / "get_cifar10.py"
PER_BATCH = 3  # images per fake batch (the real ones hold 10,000)


def fake_tarball(path, rng, drop=None):
    """A cifar-10-python.tar.gz in the official layout: cifar-10-batches-py/ holding pickled
    dicts with b"data" (N, 3072) uint8 rows (R, G, B planes) and b"labels" (a list)."""
    batches = {}
    with tarfile.open(path, "w:gz") as tar:
        for name in (*cifar10_data.TRAIN_BATCHES, cifar10_data.TEST_BATCH):
            if name == drop:
                continue
            batch = {
                b"batch_label": name.encode(),
                b"data": rng.integers(0, 256, (PER_BATCH, 3072), dtype=np.uint8),
                b"labels": [int(v) for v in rng.integers(0, 10, PER_BATCH)],
            }
            batches[name] = batch
            blob = pickle.dumps(batch, protocol=4)
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


def test_a_pickle_that_asks_for_more_than_arrays_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("ran",))

    blob = pickle.dumps({b"data": Payload(), b"labels": []})
    with tarfile.open(tmp_path / "c.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    with pytest.raises(cifar10_data.DataError, match="refused builtins.print"):
        cifar10_data.arrays_from_tarball(tmp_path / "c.tar.gz")


def test_a_tarball_without_a_batch_is_one_clear_line(tmp_path):
    fake_tarball(tmp_path / "c.tar.gz", np.random.default_rng(2), drop="data_batch_3")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--tarball", str(tmp_path / "c.tar.gz"), "--out",
         str(tmp_path / "o.npz")], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "lacks the batches data_batch_3" in done.stderr
    assert not (tmp_path / "o.npz").exists()
