"""examples/deliberate_starts.py: arguments checked before Keras, the detection targets,
and both comparisons end to end on a tiny random .npz."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import BACKEND, REPO, run_python

SCRIPT = REPO / "examples" / "deliberate_starts.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, KERAS_BACKEND=BACKEND, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=900, env=env
    )


def test_bad_steps_and_missing_npz_fail_before_keras_is_imported(tmp_path, tiny_cifar_npz):
    code = (
        "import sys, runpy; sys.argv = [sys.argv[1], *sys.argv[2:]]\n"
        "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "except SystemExit as e:\n    print(e.code, 'keras' in sys.modules)\n"
    )
    done = run_python(code, SCRIPT, "--npz", tiny_cifar_npz, "--steps", "0")
    assert done.stdout.split() == ["2", "False"], done.stderr[-2000:]
    assert "--steps 0: must be >= 1" in done.stderr
    absent = tmp_path / "absent.npz"
    done = run_python(code, SCRIPT, "--npz", absent)
    assert done.stdout.split() == ["2", "False"], done.stderr[-2000:]
    assert f"--npz {absent}: no such file" in done.stderr
    done = run_python(code, SCRIPT, "--npz", tiny_cifar_npz, "--heldout", "33")
    assert done.stdout.split() == ["2", "False"], done.stderr[-2000:]
    assert "--heldout 33:" in done.stderr and "holds 32 test images" in done.stderr


def test_every_level_has_one_positive_anchor_in_the_cell_of_the_centre():
    sys.path.insert(0, str(REPO / "examples"))
    from deliberate_starts import ANCHORS_PER_CELL, SQUARE_ANCHOR, retinanet_batch

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    y = np.arange(6, dtype="int32") + 4  # classes 4..9, folded onto 5 classes below
    levels = [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]
    images, targets = retinanet_batch(x, y, rng, 6, levels, 5, 64, indices=np.arange(6))
    assert images.shape == (6, 64, 64, 3)
    assert targets.shape == (6, sum(h * w for h, w in levels) * ANCHORS_PER_CELL, 5)
    for i in range(6):
        # The image sits, unchanged but for its scale, where the canvas is not black.
        rows, cols = np.nonzero(images[i].any(axis=-1))
        top, left = rows.min(), cols.min()
        np.testing.assert_allclose(images[i, top : top + 32, left : left + 32], x[i] / 255.0)
        positives = np.argwhere(targets[i])
        assert len(positives) == len(levels)
        assert set(positives[:, 1]) == {y[i] % 5}
        offset = 0
        for (h, w), (anchor, _) in zip(levels, positives, strict=True):
            cell, which = divmod(int(anchor) - offset, ANCHORS_PER_CELL)
            row, col = divmod(cell, w)
            assert which == SQUARE_ANCHOR
            # The cell's square holds the centre of the pasted image.
            assert row * 64 / h <= top + 16 < (row + 1) * 64 / h
            assert col * 64 / w <= left + 16 < (col + 1) * 64 / w
            offset += h * w * ANCHORS_PER_CELL


def _prior_loss(anchors: int, positives: int, classes: int) -> float:
    """The focal loss where every logit is the prior bias -log(99): p = 0.01 everywhere."""
    p = 0.01
    background = classes * 0.75 * p**2 * -math.log(1 - p)
    positive = 0.25 * (1 - p) ** 2 * -math.log(p) + (classes - 1) * 0.75 * p**2 * -math.log(1 - p)
    return (positives * positive + (anchors - positives) * background) / positives


@pytest.mark.one_backend
def test_both_comparisons_end_to_end(tmp_path, tiny_cifar_npz):
    out = tmp_path / "out"
    done = _run("--npz", str(tiny_cifar_npz), "--seed-list", "0", "--steps", "2", "--batch",
                "4", "--heldout", "8", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert [(r["experiment"], r["start"]) for r in runs] == [
        ("ddpm", "author"), ("ddpm", "initialize_keep"), ("ddpm", "initialize_redraw"),
        ("retinanet", "author"), ("retinanet", "initialize"),
        ("retinanet", "initialize_keep_heads"),
    ]  # fmt: skip
    for run in runs:
        assert run["backend"] == BACKEND and run["seed"] == 0
        assert "git_commit" in run and "git_dirty" in run
        assert len(run["losses"]) == 2 and run["first_step"] == pytest.approx(
            run["losses"][0], rel=1e-4
        )
    ddpm = {r["start"]: r for r in runs if r["experiment"] == "ddpm"}
    # 13 kernels are drawn at VarianceScaling(1e-10): kept by initialize(), redrawn when
    # built at kernel_init(1.0); the prediction then starts far from zero.
    assert ddpm["author"]["near_zero_kernels"] == ddpm["initialize_keep"]["near_zero_kernels"]
    assert ddpm["initialize_keep"]["near_zero_kernels"] == 13
    assert ddpm["initialize_redraw"]["near_zero_kernels"] == 0
    assert ddpm["initialize_keep"]["output_std_start"] < 1e-3
    assert ddpm["initialize_redraw"]["output_std_start"] > 0.1
    retina = {r["start"]: r for r in runs if r["experiment"] == "retinanet"}
    # explicit="keep" leaves the heads as built; the default redraws them.
    kept, redrawn = retina["initialize_keep_heads"], retina["initialize"]
    assert kept["cls_head_kernel_rms"] == retina["author"]["cls_head_kernel_rms"]
    assert all(abs(r - 0.01) < 0.002 for r in kept["cls_head_kernel_rms"])
    assert all(r > 0.02 for r in redrawn["cls_head_kernel_rms"])
    # Heads near zero: every logit is the prior bias, and the loss is the prior's (774
    # anchors on a 64x64 canvas, 5 of them positive, 10 classes).
    assert kept["heldout_start"] == pytest.approx(_prior_loss(774, 5, 10), rel=1e-3)
    assert redrawn["heldout_start"] > kept["heldout_start"]
    table = (out / "table.md").read_text()
    assert table.startswith("# Deliberate starts: keep or redraw")
    assert f"Backend: {BACKEND}" in table
    assert "| `initialize_redraw` − `initialize_keep` | held-out, end |" in table
    assert "| `initialize` − `initialize_keep_heads` | held-out, start |" in table
    assert table in done.stdout
