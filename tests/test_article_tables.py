"""examples/article_tables.py and nets/article.py: every table's code path end to end on tiny
data the tests write themselves, resume, the run keys, the derived quantities, and argument
errors before any heavy import.

Each end-to-end test runs a slice of one table (one or two cases and initializers, one
epoch, 64 training images) on the session's backend. Table 5's keras.applications nets
(ResNet-50, Inception-v3) are in one test marked slow.
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from conftest import BACKEND, REPO, run_python

sys.path.insert(0, str(REPO / "examples"))
import article_tables  # noqa: E402
from nets import article  # noqa: E402
from studylib import article_report, study  # noqa: E402

SCRIPT = REPO / "examples" / "article_tables.py"
HEAVY = ("keras", "keras_glorot", "tensorflow", "jax", "torch", "numpy")
# One epoch, no XLA compile (seconds per run instead of tens on a busy CPU), no progress bar.
TINY = ["--epochs", "1", "--batch-size", "32", "--verbose", "0", "--jit-compile", "false"]


@pytest.fixture(scope="module")
def npz(tiny_cifar_npz):
    return tiny_cifar_npz


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def check_case(folder, table, case, inits, seeds=(0,), epochs=1):
    """The case folder holds one finished run per (init, seed), finite, with the table and
    case in its options, and the study's summary.md and curves.png."""
    runs = lines(folder / "runs.jsonl")
    assert sorted((r["init"], r["seed"]) for r in runs) == sorted(
        (i, s) for i in inits for s in seeds
    )
    for r in runs:
        assert r["options"]["table"] == table and r["options"]["case"] == case
        assert r["backend"] == BACKEND and r["epochs_run"] == epochs
        assert all(math.isfinite(v) for v in r["train_loss"] + r["test_loss"]), r["init"]
        assert not r["diverged"] and 0 <= r["final_test_accuracy"] <= 1
        assert len(r["train_seconds_per_epoch"]) == epochs and r["wall_seconds"] > 0
    summary = (folder / "summary.md").read_text()
    assert summary.startswith(f"# The article's table {table} (") and f"case {case}" in summary
    assert "| `" in summary and f"table={table}, case={case}" in summary
    assert (folder / "curves.png").read_bytes()[:4] == b"\x89PNG"
    return runs


def run_table(out, npz, *argv):
    assert article_tables.main([*TINY, "--npz", str(npz), "--out", str(out), *argv]) == 0


def table_md(out, table):
    assert (out / f"table{table}" / "table.png").read_bytes()[:4] == b"\x89PNG"
    return (out / f"table{table}" / "table.md").read_text()


# (table, cases, inits, strings the table.md must hold: the article's numbers and ours)
SLICES = [
    (
        1,
        ["cnn5_relu"],
        ["zeros", "random_normal"],
        ["zero: slow convergence", "zeros − random_normal", "| cnn5_relu | `zeros` | 2.3"],
    ),
    (
        2,
        ["cnn11_leaky_relu"],
        ["article", "glorot_gain"],
        [
            "2/((1 + a²) fan_in + fan_out)",
            "| loss at 1 |",
            "peak test acc %",
            "glorot_gain − article",
        ],
    ),
    (
        3,
        ["mlp_4"],
        ["random_normal"],
        ["180/500/980/1400", "| mlp_4 | `random_normal` | 1 |", "| case | init | loss at 1 |"],
    ),
    (5, ["vgg16_nobn"], ["glorot_gain"], ["VGG-16 78.2 → 82.6", "87.4", "84.1"]),
    (8, ["mlp_1000"], ["random_normal", "glorot_uniform"], ["0.45/0.25/0.11", "loss at 1"]),
    (9, ["cnn5_sigmoid"], ["random_normal", "glorot_gain"], ["about 5 points", "glorot_gain − "]),
]


@pytest.mark.parametrize(
    "table, cases, inits, strings", SLICES, ids=[f"table{s[0]}" for s in SLICES]
)
@pytest.mark.one_backend
def test_table_slice_end_to_end(tmp_path, npz, table, cases, inits, strings):
    argv = ["--table", str(table), "--cases", *cases, "--inits", *inits, "--seeds", "0,"]
    argv += ["--width", "0.0625"]  # Table 5's VGG-16: 4..32 channels
    run_table(tmp_path, npz, *argv)
    for case in cases:
        runs = check_case(tmp_path / f"table{table}" / case, table, case, inits)
        if table == 8:  # the fixed small subset, evaluated on its small test set
            assert all(r["options"]["subset"] == 1000 and r["n_test"] == 32 for r in runs)
    text = table_md(tmp_path, table)
    for s in strings:
        assert s in text, s
    for case in cases:
        assert f"| {case} | `{inits[0]}` | 1 |" in text
    if table == 3:  # the article's seconds for 4 layers stand in the mlp_4 row
        rows = [x for x in text.splitlines() if x.startswith("| mlp_4 | `random_normal` |")]
        assert any(x.endswith("| 1400 |") for x in rows), rows


@pytest.mark.one_backend
def test_table9_resumes_and_a_rerun_trains_nothing(tmp_path, npz, monkeypatch, capsys):
    """The acceptance command at tiny size; its rerun skips every run and keeps the lines."""
    cases = ["cnn5_tanh"]
    argv = ["--table", "9", "--subset", "48", "--test-subset", "24", "--seeds", "1"]
    argv += ["--cases", *cases, "--inits", "random_normal", "glorot_uniform"]
    run_table(tmp_path, npz, *argv)
    before = {c: (tmp_path / "table9" / c / "runs.jsonl").read_text() for c in cases}
    for case in before:
        runs = check_case(tmp_path / "table9" / case, 9, case, ["random_normal", "glorot_uniform"])
        assert all(r["n_train"] == 48 and r["options"]["subset"] == 48 for r in runs)
        assert all(r["n_test"] == 24 and r["options"]["test_subset"] == 24 for r in runs)
    monkeypatch.setattr(study, "train_one", lambda *a, **k: pytest.fail("trained again"))
    capsys.readouterr()
    run_table(tmp_path, npz, *argv)
    assert capsys.readouterr().out.count("skip ") == 2
    for case, text in before.items():
        assert (tmp_path / "table9" / case / "runs.jsonl").read_text() == text
    text = table_md(tmp_path, 9)
    assert "| cnn5_tanh | `glorot_uniform` | 1 |" in text
    commit = lines(tmp_path / "table9" / "cnn5_tanh" / "runs.jsonl")[0]["git_commit"]
    assert f"Code: commit {str(commit)[:12]}" in text


def test_table_of_mixed_or_dirty_commits_is_marked(tmp_path, npz):
    """table.md names the commit its runs came from, and says "not for publication" when
    they come from a modified tree or from two commits."""
    argv = ["--table", "9", "--subset", "48", "--seeds", "0,", "--cases", "cnn5_relu"]
    argv += ["--inits", "random_normal", "glorot_uniform"]
    run_table(tmp_path, npz, *argv)
    args = article_tables.parse_args([*TINY, "--npz", str(npz), "--out", str(tmp_path), *argv])
    path = tmp_path / "table9" / "cnn5_relu" / "runs.jsonl"
    first, second = lines(path)
    for commit, dirty, problem in (
        ("a" * 40, False, "runs come from 2 commits (aaaaaaaa, bbbbbbbb)"),
        ("b" * 40, True, "1 run(s) ran from a tree with uncommitted changes"),
    ):
        first["git_commit"], first["git_dirty"] = commit, False
        second["git_commit"], second["git_dirty"] = "b" * 40, dirty
        path.write_text("".join(json.dumps(r) + "\n" for r in (first, second)))
        article_tables.write_table(args, 9)
        text = table_md(tmp_path, 9)
        assert "**Not for publication:**" in text and problem in text, text
    first["git_dirty"] = second["git_dirty"] = False
    path.write_text("".join(json.dumps(r) + "\n" for r in (first, second)))
    article_tables.write_table(args, 9)
    text = table_md(tmp_path, 9)
    assert "Code: commit bbbbbbbbbbbb" in text and "Not for publication" not in text


def test_table4_kl_equals_cce_with_one_hot_targets(tmp_path, npz):
    """Same init and seed under KL and CCE: the same training curve up to Keras' clipping."""
    run_table(tmp_path, npz, "--table", "4", "--cases", "mlp_kl", "mlp_cce", "--epochs", "2",
              "--seeds", "0,", "--inits", "glorot_uniform", "random_normal")  # fmt: skip
    for init in ("glorot_uniform", "random_normal"):
        kl, cce = (
            next(r for r in lines(tmp_path / "table4" / c / "runs.jsonl") if r["init"] == init)
            for c in ("mlp_kl", "mlp_cce")
        )
        assert kl["options"]["loss"] == "kl" and cce["options"]["loss"] == "cce"
        np.testing.assert_allclose(kl["train_loss"], cce["train_loss"], atol=1e-3)
    text = table_md(tmp_path, 4)
    assert "KL divergence is not" in text and "KL(y‖p) = −log p_true = CCE" in text
    # The table's question per loss: Xavier against random, paired by seed.
    assert "| case | glorot_uniform − random_normal |" in text and "| mlp_kl | " in text


@pytest.mark.one_backend
def test_tables_6_and_7_share_their_runs(tmp_path, npz, capsys):
    """Table 7 reads (and resumes) Table 6's runs: the LSTM and the MLP once, two tables."""
    argv = ["--cases", "lstm", "mlp", "--inits", "random_normal", "glorot_uniform"]
    argv += ["--seeds", "0,", "--target", "0.05"]
    run_table(tmp_path, npz, "--table", "6", *argv)
    for case in ("lstm", "mlp"):
        check_case(tmp_path / "table6" / case, 6, case, ["random_normal", "glorot_uniform"])
    capsys.readouterr()
    run_table(tmp_path, npz, "--table", "7", *argv)
    assert (
        capsys.readouterr().out.count("skip ") == 4 and not (tmp_path / "table7" / "lstm").exists()
    )
    six, seven = table_md(tmp_path, 6), table_md(tmp_path, 7)
    assert "25-40%" in six and "Time saved against random" in six
    assert "FFN +6.9, CNN +4.5, RNN +8.3" in seven and "| lstm | " in seven
    assert "glorot_uniform − random_normal" in seven


@pytest.mark.slow
@pytest.mark.one_backend
def test_table5_applications_build_and_train_one_tiny_epoch(tmp_path, npz):
    """ResNet-50 on 32x32, Inception-v3 behind its 75x75 Resizing, VGG-16 with BN: one
    epoch on 16 images."""
    cases = ["resnet50", "inceptionv3", "vgg16_bn"]
    argv = ["--subset", "16", "--batch-size", "16", "--width", "0.0625", "--seeds", "0,"]
    run_table(tmp_path, npz, "--table", "5", "--cases", *cases, "--inits", "glorot_gain", *argv)
    for case in cases:
        check_case(tmp_path / "table5" / case, 5, case, ["glorot_gain"])


def test_a_table_plotted_before_its_runs_says_so_without_a_warning(tmp_path, npz):
    """A case without finished runs gets a note instead of an empty legend (which
    matplotlib would warn about)."""
    pytest.importorskip("matplotlib")
    import warnings

    import keras  # noqa: F401  (run_options reads the backend)

    args = article_tables.parse_args(["--table", "4", "--npz", str(npz), "--out", str(tmp_path)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert article_report.plot_table(args, 4, tmp_path / "table.png")
    assert (tmp_path / "table.png").read_bytes()[:4] == b"\x89PNG"


def test_run_keys_hold_table_and_case(npz):
    """Table and case enter the key, report-only options do not; Table 7 runs are Table 6's."""
    import keras  # noqa: F401  (run_options reads the backend)

    base = ["--npz", str(npz), "--table", "all"]
    args = article_tables.parse_args(base)
    other = article_tables.parse_args([*base, "--target", "0.9", "--loss-target", "0.3"])
    keys = {}
    for (t, case, opts), (t2, _, opts2) in zip(
        article_tables.selected_cases(args), article_tables.selected_cases(other), strict=True
    ):
        a = study.run_options(article_tables.case_args(args, t, case, opts))
        b = study.run_options(article_tables.case_args(other, t2, case, opts2))
        assert a == b and a["table"] == t and a["case"] == case
        keys[(t, case)] = study.run_key("glorot_uniform", 0, a)
    assert len(set(keys.values())) == len(keys) == 29  # Table 7 adds no case of its own
    assert {t for t, _ in keys} == {1, 2, 3, 4, 5, 6, 8, 9}


def test_test_subset_enters_the_key_and_table8_keeps_its_small_test_set(npz):
    import keras  # noqa: F401  (run_options reads the backend)

    def test_subset(table, *extra):
        args = article_tables.parse_args(["--npz", str(npz), "--table", str(table), *extra])
        return [article_tables.case_args(args, *c).test_subset for c in
                article_tables.selected_cases(args)]  # fmt: skip

    assert set(test_subset(9)) == {None} and set(test_subset(9, "--test-subset", "2000")) == {2000}
    assert set(test_subset(8)) == {1000} and set(test_subset(8, "--test-subset", "5000")) == {1000}
    assert set(test_subset(8, "--test-subset", "200")) == {200}
    args = article_tables.parse_args(["--npz", str(npz), "--table", "9"])
    other = article_tables.parse_args(["--npz", str(npz), "--table", "9", "--test-subset", "9"])
    table, case, opts = next(article_tables.selected_cases(args))
    assert study.run_options(article_tables.case_args(args, table, case, opts)) != (
        study.run_options(article_tables.case_args(other, table, case, opts))
    )


def test_derived_quantities_on_known_numbers():
    assert (
        article_tables.interval([1.0, 2.0, 3.0]) == "2 ± 1 [-0.4841, 4.484] (n=3)"
    )  # t(0.975, 2) = 4.3027
    assert article_tables.interval([None, float("nan")]) == "–"
    assert article_tables.first_epoch([2.0, 1.6, 1.4, 1.2], lambda v: v <= 1.5) == 3
    run = {"train_seconds_per_epoch": [5.0, 1.0, 1.0]}
    assert article_tables.seconds_to(run, 2) == 6.0 and article_tables.seconds_to(run, None) is None

    def r(seed, acc):
        return {"seed": seed, "final_test_accuracy": acc}

    a = [r(0, 0.5), r(1, 0.6), r(2, None)]
    b = [r(0, 0.4), r(1, 0.4), r(2, 0.3)]  # paired by seed; the diverged seed 2 left out
    assert article_tables.paired(a, b, article_tables.final_accuracy).endswith("(n=2)")
    assert article_tables.paired(a, b, article_tables.final_accuracy).startswith("15 ± 7.1")
    # Table 8: where the article's losses fall on our curves (first epoch at or below each).
    curves = [{"train_loss": [0.5, 0.3, 0.1]}, {"train_loss": [0.5, 0.4, 0.2, 0.1]}]
    text = "\n".join(article_report._epochs_to_loss_lines({"c": {"i": curves}}, [0.05, 0.45, 0.25]))
    assert "| case | init | loss ≤ 0.45 | loss ≤ 0.25 | loss ≤ 0.05 |" in text
    assert "| c | `i` | 2 ± 0 [2, 2] (n=2), 2/2 | 3 ± 0 [3, 3] (n=2), 2/2 | –, 0/2 |" in text
    # Peak against final accuracy: seed 0 peaks at epoch 2 (62%) and ends 2 points lower.
    curves = [
        {"test_accuracy": [0.5, 0.62, 0.6], "final_test_accuracy": 0.6},
        {"test_accuracy": [0.4, 0.5, 0.55], "final_test_accuracy": 0.55},
    ]
    assert article_report.peak(curves[0]) == (pytest.approx(62.0), 2)
    assert article_report.peak({"test_accuracy": [None, None]}) is None  # diverged at once
    row = article_report._peak_lines({"c": {"i": curves}})[-2]
    assert row.startswith("| c | `i` | 58.5 ± 4.9 ") and "| 2, 3 | -1 ± 1.4 " in row, row


def test_initializer_definitions():
    """The article's variances, ours, and the static lists the CLI checks against."""
    import keras

    assert set(article_tables.LAYER_NETS) == set(article.LAYER_NETS)
    models = {o["model"] for t in article_tables.TABLES.values() for o in t.cases.values()}
    assert models <= set(article.LAYER_NETS) | set(article.REDRAWN_NETS)
    losses = {o["loss"] for t in article_tables.TABLES.values() for o in t.cases.values()}
    assert losses == set(article.LOSSES)
    fi, fo = 400, 200
    expected = {  # the article's, and glorot_gain = Glorot(act): gain² · 2 / (fi + fo)
        ("article", "sigmoid"): 1 / (fi + fo),
        ("article", "tanh"): 1 / (fi + fo),
        ("article", "relu"): 2 / (fi + fo),
        ("article", "leaky_relu"): 2 / (1.04 * fi + fo),
        ("glorot_gain", "relu"): 4 / (fi + fo),
        ("glorot_gain", "leaky_relu"): 4 / (1.04 * (fi + fo)),
        ("random_normal", "relu"): 0.05**2,
        ("zeros", "relu"): 0.0,
        ("article", "linear"): 2 / (fi + fo),  # the logits: Glorot's
    }
    # 0.03 relative is 6 standard errors: the variance of n = 80,000 draws from a
    # (truncated) normal has a relative standard error of at most sqrt(2 / n) = 0.5%.
    for (init, act), var in expected.items():
        w = keras.ops.convert_to_numpy(
            article.kernel_initializer(init, act, fi, fo, seed=1)((fi, fo))
        )
        assert abs(w.var() - var) <= 0.03 * var + 1e-12, (init, act, w.var(), var)
    for net, weights in article.WEIGHTS.items():
        options = {"model": net, "activation": "relu", "loss": "cce", "hidden_layers": 3}
        model = article.build_net(options, "glorot_uniform", 0, np.zeros(3), np.ones(3))
        assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == weights, net
    # The names the command line accepts beyond those above are Keras' own (and the
    # whole-model tools, which start from glorot_uniform): each draws what Keras' does.
    # keras_glorot's registered names draw its leaky-ReLU Glorot, with leaky_relu's slope 0.2.
    import keras_glorot

    glorot = {"glorot_leaky": keras_glorot.GlorotLeakyNormal,
              "glorot_leaky_normal": keras_glorot.GlorotLeakyNormal,
              "glorot_leaky_uniform": keras_glorot.GlorotLeakyUniform}  # fmt: skip
    for name in set(article_tables.INIT_NAMES) - {init for init, _ in expected}:
        w = keras.ops.convert_to_numpy(article.kernel_initializer(name, "tanh", 8, 8, 0)((8, 8)))
        keras_name = "glorot_uniform" if name in ("initialize", "lsuv") else name
        if name in glorot:
            keras_init = glorot[name](negative_slope=0.2, seed=0)
        elif name in ("zeros", "zero", "ones", "one", "constant"):  # no seed
            keras_init = keras.initializers.Constant(1.0 if name.startswith("one") else 0.0)
        else:
            keras_init = keras.initializers.get({"class_name": keras_name, "config": {"seed": 0}})
        np.testing.assert_array_equal(w, keras.ops.convert_to_numpy(keras_init((8, 8))), name)
    with pytest.raises(ValueError, match="activation='gelu': the article gives a variance"):
        article.kernel_initializer("article", "gelu", fi, fo, seed=1)


@pytest.mark.parametrize(
    "argv, option, message",
    [
        (["--table", "10"], "--table", "give 1..9"),
        (["--table", "9", "--epochs", "0"], "--epochs", "--epochs 0: must be an integer >= 1"),
        (["--table", "9", "--inits", "xavier"], "--inits", "--inits xavier: unknown"),
        (["--table", "9", "--cases", "mlp_1"], "--cases", "--cases mlp_1: not a case"),
        (["--table", "6", "--inits", "article"], "--inits", "case lstm (lstm)"),
        (["--table", "9", "--seeds", "0"], "--seeds", "for seed 0 alone, use --seed-list 0."),
        (["--table", "3", "--loss-target", "0"], "--loss-target", "--loss-target 0.0: must be"),
        (["--table", "9", "--target", "2"], "--target", "--target 2.0: must be in (0, 1]"),
        (["--table", "9", "--width", "0"], "--width", "--width 0.0: must be > 0"),
        (["--table", "9", "--test-subset", "0"], "--test-subset", "--test-subset 0: must be"),
        (["--table", "9", "--npz", "no/such.npz"], "--npz", "--npz no/such.npz: no such file"),
        (["--epochs", "3"], "--table", "the following arguments are required: --table"),
    ],
)
def test_bad_arguments_exit_2_naming_the_option(argv, option, message, capsys):
    with pytest.raises(SystemExit) as e:
        article_tables.parse_args(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and option in err.split("error:", 1)[1]


def test_argument_errors_come_before_any_heavy_import(tmp_path):
    """A fresh interpreter: bad arguments and --help exit before keras, a backend or NumPy
    is imported (the modules loaded are printed at exit)."""
    probe = (
        "import atexit, sys, runpy\n"
        f"atexit.register(lambda: print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules]))\n"
        "sys.argv = sys.argv[1:]\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    for argv, code in [
        (["--table", "9", "--epochs", "0"], 2),
        (["--table", "11"], 2),
        (["--table", "9", "--npz", str(tmp_path / "none.npz")], 2),
        (["--help"], 0),
    ]:
        done = run_python(probe, SCRIPT, *argv, with_repo=False)
        assert done.returncode == code, (argv, done.stderr[-2000:])
        assert done.stdout.strip().splitlines()[-1] == "HEAVY []", (argv, done.stdout[-500:])
