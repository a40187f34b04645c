"""examples/quickstart.py, the first script a user reads, runs end to end on a tiny subset:
three starts side by side and an exact reload; bad arguments stop it before Keras loads."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import BACKEND, REPO

SCRIPT = REPO / "examples" / "quickstart.py"


def run_quickstart(*args, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, KERAS_BACKEND=BACKEND, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=600,
    )  # fmt: skip


def test_three_starts_side_by_side_and_an_exact_reload(tiny_cifar_npz):
    done = run_quickstart("--npz", tiny_cifar_npz, "--subset", 48, "--epochs", 1)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "Training on 48 images, testing on 32." in out  # --subset was applied
    assert "| # | layer | output mean | output std |" in out  # signal_report at the start
    header = "| start | signal kept at start | train accuracy | test accuracy |"
    table = out[out.index(header) :].split("\n\n")[0].splitlines()[2:]
    assert [row.split(" | ")[0] for row in table] == [
        '| Keras default "glorot_uniform"',
        '| "glorot_leaky"',
        "| keras_glorot.initialize()",
    ]
    kept = {row.split(" | ")[0]: float(row.split(" | ")[1]) for row in table}
    # Keras' default loses the leaky-ReLU signal over ten layers; glorot_leaky keeps it.
    assert kept['| Keras default "glorot_uniform"'] < 0.3 < kept['| "glorot_leaky"']
    assert "predictions identical: True" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--subset", "0"], "--subset 0: must be at least 1."),
        (["--epochs", "0"], "--epochs 0: must be at least 1."),
        (["--npz", "none.npz"], "--npz none.npz: no such file."),
        (["--npz", "notes.txt"], "--npz notes.txt: not a CIFAR-10 .npz"),
        (["--npz", "tiny.npz", "--subset", "65"], "--subset 65: the data holds 64 training images"),
    ],
)
def test_bad_arguments_stop_before_keras_is_imported(tiny_cifar_npz, tmp_path, args, message):
    (tmp_path / "notes.txt").write_text("not an archive\n")
    (tmp_path / "tiny.npz").symlink_to(tiny_cifar_npz)
    code = (
        "import json, runpy, sys\n"
        f"sys.argv = [{str(SCRIPT)!r}, *{args!r}]\n"
        "try:\n"
        f"    runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
        "except SystemExit as exit_:\n"
        "    print(json.dumps([exit_.code, 'keras' in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert json.loads(done.stdout.splitlines()[-1]) == [2, False], done.stderr
    error_lines = [line for line in done.stderr.splitlines() if line.startswith("quickstart")]
    assert len(error_lines) == 1 and message in error_lines[0], done.stderr  # one line
