"""examples/norm_free_resnet.py: arguments checked before Keras is imported; its table."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import BACKEND, REPO, run_python

SCRIPT = REPO / "examples" / "norm_free_resnet.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, KERAS_BACKEND=BACKEND, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600, env=env
    )


def _rows(stdout: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("|")[1:-1]] for line in stdout.splitlines()
            if line.startswith("| ResNet-")]  # fmt: skip


def test_bad_depth_fails_before_keras_is_imported():
    code = (
        f"import sys, runpy; sys.argv = [{str(SCRIPT)!r}, '--depths', '21']\n"
        "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "except SystemExit as e:\n    print(e.code, 'keras' in sys.modules)\n"
    )
    done = run_python(code)
    assert done.stdout.split() == ["2", "False"], done.stderr[-2000:]
    assert "--depths 21: a CIFAR ResNet has 6 n + 2 layers" in done.stderr


def test_negative_seed_and_missing_kernel_folder_are_named(tmp_path):
    done = _run("--seed-list", "-1")
    assert done.returncode == 2
    assert "--seed-list -1: seeds are integers >= 0" in done.stderr
    done = _run("--load-kernels", str(tmp_path / "absent"))
    assert done.returncode == 2
    assert f"--load-kernels {tmp_path / 'absent'}: no such folder" in done.stderr


@pytest.mark.one_backend
def test_table_names_its_backend_and_columns_and_has_a_row_per_init_and_seed(tmp_path):
    done = _run("--depths", "8", "--inits", "zero", "none", "--batch", "2", "--seeds", "0", "1",
                "--save-kernels", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(f"Backend: {BACKEND} ")
    assert "| net | init | seed | last / first | max / first | min / first |" in done.stdout
    assert "`last / first` for the net's last sum" in done.stdout
    rows = _rows(done.stdout)
    per_seed = [r for r in rows if len(r) == 6]
    assert [(r[1], r[2]) for r in per_seed] == [("zero", "0"), ("zero", "1"), ("none", "0"),
                                                ("none", "1")]  # fmt: skip
    # The first sum is the reference, so its own ratio is exactly 1: max >= 1 >= min.
    assert all(float(r[4]) >= 1.0 >= float(r[5]) for r in per_seed)
    # Over two seeds: the spread table's extremes are the per-seed rows' extremes.
    spread = {r[1]: r for r in rows if len(r) == 5}
    for init in ("zero", "none"):
        lasts = [float(r[3]) for r in per_seed if r[1] == init]
        assert (float(spread[init][2]), float(spread[init][3])) == (min(lasts), max(lasts))
    # Seeds 0 and 1 draw different kernels, one file per row.
    with (
        np.load(tmp_path / "resnet8_post_none_seed0.npz") as a,
        np.load(tmp_path / "resnet8_post_none_seed1.npz") as b,
    ):
        assert len(a.files) == len(b.files) > 0
        assert not np.array_equal(a["arr_0"], b["arr_0"])

    loaded = _run("--depths", "8", "--inits", "zero", "none", "--batch", "2", "--seeds", "0",
                  "1", "--load-kernels", str(tmp_path))  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert "kernels: loaded from" in loaded.stdout and "Kernels loaded from" in loaded.stdout
    assert "Kernels drawn by" not in loaded.stdout and "Kernels drawn by" in done.stdout
    assert _rows(loaded.stdout) == rows
