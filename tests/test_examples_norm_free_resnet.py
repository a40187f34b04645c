"""examples/norm_free_resnet.py: arguments checked before Keras is imported; its table."""

import subprocess
import sys

from conftest import REPO, run_python

SCRIPT = REPO / "examples" / "norm_free_resnet.py"


def test_bad_depth_fails_before_keras_is_imported():
    code = (
        f"import sys, runpy; sys.argv = [{str(SCRIPT)!r}, '--depths', '21']\n"
        "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "except SystemExit as e:\n    print(e.code, 'keras' in sys.modules)\n"
    )
    done = run_python(code)
    assert done.stdout.split() == ["2", "False"], done.stderr[-2000:]
    assert "--depths 21: a CIFAR ResNet has 6 n + 2 layers" in done.stderr


def test_table_has_a_row_per_depth_and_initializer():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--depths", "8", "--inits", "zero", "none", "--batch", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split("|") for line in done.stdout.splitlines() if "ResNet-8" in line]
    assert [r[2].strip() for r in rows] == ["zero", "none"]
    # "zero": every block is its shortcut; ResNet-8 has one merge per stage (3), and the
    # first sum is the reference, so its own ratio is exactly 1.
    assert all(float(r[4]) >= 1.0 >= float(r[5]) for r in rows)
