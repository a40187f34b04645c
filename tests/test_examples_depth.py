"""examples/depth.py and nets/norm_free.py: argument errors before any heavy import, a tiny
end-to-end run of both net families on data the test writes, what each run records at
initialization and over its first steps, and resume."""

from __future__ import annotations

import json
import math
import sys

import pytest
from conftest import BACKEND, REPO, run_python

sys.path.insert(0, str(REPO / "examples"))
import depth  # noqa: E402

SCRIPT = REPO / "examples" / "depth.py"
TINY = ["--epochs", "1", "--batch-size", "32", "--verbose", "0", "--jit-compile", "false"]


@pytest.fixture(scope="module")
def npz(tiny_cifar_npz):
    return tiny_cifar_npz


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--nets", "resnet21"], "--nets resnet21: use resnetN with N = 6 n + 2"),
        (["--nets", "plain2"], "--nets plain2: use resnetN"),
        (["--activations", "swish"], "--activations swish: unknown"),
        (["--inits", "lsuv"], "--inits lsuv: unknown"),
        (["--epochs", "0"], "--epochs 0: must be an integer >= 1"),
        (["--test-subset", "0"], "--test-subset 0: must be an integer >= 1"),
        (["--nets", "plain4", "plain4"], "give each once"),
    ],
)
def test_bad_arguments_exit_2_before_keras_is_imported(argv, message):
    code = (
        f"import sys, runpy; sys.argv = [{str(SCRIPT)!r}, *{argv!r}]\n"
        "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    print(e.code, [m for m in ('keras', 'numpy', 'tensorflow', 'jax', 'torch')"
        " if m in sys.modules])\n"
    )
    done = run_python(code)
    assert done.stdout.strip() == "2 []", done.stderr[-2000:]
    assert message in done.stderr


@pytest.mark.one_backend
def test_both_families_end_to_end_and_resume(tmp_path, npz, capsys):
    out = tmp_path / "depth"
    argv = ["--npz", str(npz), "--nets", "resnet8", "plain4", "--activations", "tanh",
            "--inits", "scaled", "delta_orthogonal", "--seeds", "0,", "--out", str(out),
            *TINY]  # fmt: skip
    assert depth.main(argv) == 0
    for case, keys in (
        ("resnet8", {"sum_last_over_first", "sum_max_over_first", "logits_std"}),
        ("plain4_tanh", {"conv_last_over_first", "jacobian_spread", "logits_std"}),
    ):
        runs = [json.loads(x) for x in (out / case / "runs.jsonl").read_text().splitlines()]
        assert sorted(r["init"] for r in runs) == ["delta_orthogonal", "scaled"]
        for r in runs:
            assert r["backend"] == BACKEND and r["options"]["net"] == case.split("_")[0]
            assert set(r["at_init"]) == keys
            assert all(math.isfinite(v) and v >= 0 for v in r["at_init"].values())
            # 64 images in batches of 32: the first epoch is shorter than 100 steps, so the
            # early loss is the whole first epoch's mean, which fit reports as its loss.
            assert r["first_steps"] == 2
            assert r["first_steps_loss"] == pytest.approx(r["train_loss"][0], rel=1e-6)
        assert (out / case / "summary.md").exists()
    table = (out / "depth.md").read_text()
    assert "## resnet8" in table and "## plain4_tanh" in table
    assert "1 epoch of 64 training images" in table  # not "1 epochs"
    # Each case's summary and plot name the net, not VGG's model and width ("None w=None").
    from studylib import report as cifar10_report

    summary = (out / "resnet8" / "summary.md").read_text()
    assert "## net=resnet8, activation=relu, epochs=1" in summary
    options = json.loads((out / "resnet8" / "runs.jsonl").read_text().splitlines()[0])["options"]
    assert cifar10_report.plot_title(options, []) == "resnet8 relu"
    assert table.count("| `scaled` |") == 2 and "loss, first 2 steps" in table
    capsys.readouterr()
    assert depth.main(argv) == 0  # everything is done: nothing trains again
    printed = capsys.readouterr().out
    assert printed.count("skip ") == 4 and "done " not in printed
    assert len((out / "resnet8" / "runs.jsonl").read_text().splitlines()) == 2
    (out / "depth.md").unlink()
    assert depth.main([*argv, "--report-only"]) == 0  # the table again, from the runs
    assert (out / "depth.md").read_text() == table


def test_case_options_do_not_depend_on_the_other_nets_asked():
    one = depth.parse_args(["--nets", "resnet20", "--out", "o"])
    two = depth.parse_args(["--nets", "plain8", "resnet20", "--out", "o"])
    ((name_one, case_one),) = depth.cases(one)
    name_two, case_two = depth.cases(two)[-1]
    assert name_one == name_two == "resnet20"
    assert vars(case_one) == vars(case_two)
    assert case_one.inits == depth.DEFAULT_INITS["resnet"]


def test_signal_cells_give_the_mean_and_the_range_over_seeds():
    assert depth._mean([1.0, 2.0, 6.0]) == "3 (1–6)"
    assert depth._mean([468.0, 1410.0, None, float("nan")]) == "939 (468–1.41e+03)"
    assert depth._mean([0.5, 0.5]) == "0.5"  # one value: no range to give
    assert depth._mean([None]) == "–"
