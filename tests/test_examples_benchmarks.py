"""benchmarks/backend_throughput.py: its arguments are checked before any backend is
started, and a short run on this session's backend reports one rate per round."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import BACKEND, REPO

SCRIPT = REPO / "benchmarks" / "backend_throughput.py"
CONFIG = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[BACKEND]


def run(*argv, timeout=600):
    env = {**os.environ, "KERAS_BACKEND": BACKEND}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, env=env,
        timeout=timeout,
    )  # fmt: skip


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--repeats", "0"], "--repeats 0: must be an integer >= 1"),
        (["--images", "0"], "--images 0: must be an integer >= 1"),
        (["--python", "tf=/usr/bin/python3"], "'tf=/usr/bin/python3': give BACKEND=PATH"),
        (["--python", "jax=/no/such/python"], "--python jax=/no/such/python: no such executable"),
        (["--npz", "/no/such.npz"], "--npz /no/such.npz: no such file"),
        (["--configs", "mxnet"], "argument --configs: invalid choice: 'mxnet'"),
    ],
)
def test_bad_arguments_name_the_option(argv, message):
    done = run(*argv, timeout=60)
    assert done.returncode == 2 and message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.one_backend
def test_short_run_reports_each_round(tmp_path):
    rng = np.random.default_rng(0)
    npz = tmp_path / "tiny.npz"
    images = rng.integers(0, 256, (128, 32, 32, 3), dtype=np.uint8)
    np.savez(npz, x_train=images, y_train=rng.integers(0, 10, 128), x_test=images[:16],
             y_test=rng.integers(0, 10, 16))  # fmt: skip
    out = tmp_path / "result.json"
    done = run("--configs", CONFIG, "--python", f"{BACKEND}={sys.executable}", "--npz", str(npz),
               "--images", "128", "--repeats", "2", "--json", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(out.read_text())
    rates = record["results"][CONFIG]
    assert len(rates) == 2 and all(r > 0 for r in rates)
    assert record["workers"][CONFIG]["jit_compile"] is (BACKEND == "jax")
    assert f"| {CONFIG} | {BACKEND == 'jax'} |" in done.stdout
    assert "Load average" in done.stdout and len(record["load_average"]) == 2


# benchmarks/model_init_cost.py --model gpt2-124m, on a tiny GPT-2 (a few seconds).
INIT_COST = REPO / "benchmarks" / "model_init_cost.py"


@pytest.mark.one_backend
def test_gpt2_ratios_are_the_printed_times_over_the_median_build():
    pytest.importorskip("keras_hub")
    env = {**os.environ, "KERAS_BACKEND": BACKEND}
    done = subprocess.run(
        [sys.executable, str(INIT_COST), "--model", "gpt2-124m", "--gpt2-config", "tiny",
         "--builds", "3", "--repeats", "1"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {}
    for line in done.stdout.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 3 and cells[1][:1].isdigit():
            rows[cells[0]] = (float(cells[1]), float(cells[2]))
    builds = [key for key in rows if key.startswith("build (median of ")]
    assert len(builds) == 1, done.stdout
    each = [float(t) for t in builds[0].removeprefix("build (median of ")[:-1].split(", ")]
    build = rows[builds[0]][0]
    assert len(each) == 3 and build == float(np.median(each)), (each, build)
    for call in ("first", "second"):
        seconds, ratio = rows[f"initialize(model, seed=0), {call} call"]
        # The ratio comes from unrounded times: equal to 3-decimal times within rounding.
        assert ratio == pytest.approx(seconds / build, abs=0.01 + 0.0005 * (1 + ratio) / build)
    assert "backend=" + BACKEND in done.stdout and "config=tiny" in done.stdout
