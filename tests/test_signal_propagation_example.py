"""examples/signal_propagation.py runs, prints its tables (and how to read them) and writes
its plots; its arguments are checked before Keras is imported."""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

SCRIPT = REPO / "examples" / "signal_propagation.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("signal_propagation_example", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_help_lists_options(example, capsys):
    with pytest.raises(SystemExit) as exit_:
        example.parse_args(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for option in ("--arch", "--depth", "--npz", "--plot-dir", "--inits", "--seeds"):
        assert option in out
    # Every option but --help says its default, and --depth the least it takes, which
    # parse_args enforces (below).
    assert out.count("(default: ") == out.count("\n  --")
    assert f"kernel layers, >= {example.MIN_DEPTH}" in out and "(default: 30)" in out


@pytest.mark.parametrize("depth, ok", [(1, False), (2, True), (5, True)])
def test_depth_is_checked_against_the_least_the_help_gives(example, capsys, depth, ok):
    if ok:
        assert example.parse_args(["--depth", str(depth)]).depth == depth
        return
    with pytest.raises(SystemExit) as exit_:
        example.parse_args(["--depth", str(depth)])
    assert exit_.value.code == 2
    assert f"--depth {depth}: must be an integer >= {example.MIN_DEPTH}" in capsys.readouterr().err


def test_small_run_tables_and_plots(example, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    args = ["--arch", "mlp", "cnn", "--depth", "6", "--width", "8", "--batch", "16"]
    args += ["--activations", "leaky_relu", "gelu", "--plot-dir", str(tmp_path)]
    args += ["--inits", "glorot_uniform", "he_normal", "article", "initialize", "lsuv"]
    results = example.main(args)
    out = capsys.readouterr().out
    # Three tables per architecture: activations, at a glance, gradients.
    assert out.count("| leaky_relu |") == 6
    assert "| activation | glorot_uniform | he_normal |" in out
    # The article gives a variance for leaky_relu, none for GELU.
    assert ("mlp", "gelu", "article") not in results and ("cnn", "leaky_relu", "article") in results
    for key, reports in results.items():
        assert len(reports) == 1 and len(reports[0].layers) == 6, key
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == [f"signal_{a}_{f}.png" for a in ("cnn", "mlp") for f in ("gelu", "leaky_relu")]


def test_depth_shows_vanishing_signal_and_its_fix(example):
    # A measured, not assumed, contrast: glorot_uniform loses the leaky-ReLU signal
    # by about (1.04 / 2)^(depth/2); glorot_gain and lsuv() keep it.
    args = ["--depth", "20", "--width", "64", "--batch", "128", "--activations", "leaky_relu"]
    args += ["--inits", "glorot_uniform", "glorot_gain", "lsuv"]
    results = example.main(args)
    assert results[("mlp", "leaky_relu", "glorot_uniform")][0].activation_ratio < 0.01
    for init in ("glorot_gain", "lsuv"):
        assert 0.3 < results[("mlp", "leaky_relu", init)][0].activation_ratio < 3


def test_seeds_give_median_and_range(example, capsys):
    args = ["--depth", "3", "--width", "8", "--batch", "16", "--seeds", "3"]
    args += ["--activations", "relu", "--inits", "he_normal"]
    results = example.main(args)
    reports = results[("mlp", "relu", "he_normal")]
    ratios = sorted(r.activation_ratio for r in reports)
    assert len(ratios) == 3 and ratios[0] != ratios[2]  # other seeds, other draws
    assert (
        f"| relu | {ratios[1]:.3g} [{ratios[0]:.2g}, {ratios[2]:.2g}] |" in capsys.readouterr().out
    )


def test_cifar_images(example, cifar_npz, capsys):
    args = ["--arch", "cnn", "--depth", "4", "--width", "8", "--batch", "8"]
    args += ["--activations", "relu", "--inits", "he_normal", "--npz", str(cifar_npz)]
    example.main(args)
    assert "CIFAR-10 images" in capsys.readouterr().out


def test_tools_are_spelled_as_in_the_cifar10_study(example, capsys):
    """``--inits initialize lsuv`` (the spelling cifar10_vgg.py uses) runs, the tables use
    it as column names, and the old ``initialize()`` spelling is refused naming --inits."""
    sys.path.insert(0, str(REPO / "examples"))
    import cifar10_vgg

    assert set(cifar10_vgg.WHOLE_MODEL_TOOLS) <= set(example.INITS)
    args = ["--depth", "3", "--width", "8", "--batch", "16", "--activations", "relu"]
    results = example.main([*args, "--inits", "initialize", "lsuv"])
    assert set(results) == {("mlp", "relu", "initialize"), ("mlp", "relu", "lsuv")}
    assert "| activation | initialize | lsuv |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        example.parse_args(["--inits", "initialize()"])
    assert "--inits: invalid choice: 'initialize()'" in capsys.readouterr().err


def test_output_is_short_and_help_explains_how_to_read_it(example, capsys):
    args = ["--depth", "3", "--width", "8", "--batch", "16", "--activations", "tanh"]
    example.main([*args, "--inits", "he_normal"])
    out = capsys.readouterr().out
    assert "(1 = kept)" in " ".join(out.split()) and "--help says more" in out
    assert "MLP at a glance (within 1/3..3: kept; 1/10..10: drifts;" in out
    with pytest.raises(SystemExit):
        example.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "1 means the signal keeps its size through the depth" in text
    assert "within 1/3..3 it is kept" in text and "below 1/10 it vanishes" in text
    # The gradient ratio reads the other way: above 1, the first layers' gradients vanish.
    assert "above 1 the first layers' gradients are the smaller ones" in text
    assert "near 2 whatever the start" in text and "never negative" in text
    assert 'the web article "Neural Network Xavier Initialization" proposes' in text


def fake_report(activation_ratio: float, gradient_std=(1.0, 1.0, 1.0)):
    import keras_glorot

    n = len(gradient_std)
    return keras_glorot.SignalReport(
        layers=[f"dense_{i}" for i in range(n)],
        activation_mean=[0.0] * n,
        activation_std=[1.0] * (n - 1) + [activation_ratio],
        gradient_std=list(gradient_std),
        loss=1.0,
    )


def test_bottom_line_says_what_initialize_did_for_each_activation(example):
    ratios = {
        ("relu", "glorot_uniform"): 1e-5, ("relu", "initialize"): 0.5, ("relu", "lsuv"): 1.0,
        ("tanh", "glorot_uniform"): 0.8, ("tanh", "initialize"): 0.9, ("tanh", "lsuv"): 1.0,
        ("gelu", "glorot_uniform"): 1e-9, ("gelu", "initialize"): 4.0, ("gelu", "lsuv"): 1.1,
    }  # fmt: skip
    results = {("mlp", a, i): [fake_report(r)] for (a, i), r in ratios.items()}
    inits = ["glorot_uniform", "initialize", "lsuv"]
    assert example.bottom_line(results, "mlp", ["relu", "tanh", "gelu"], inits) == [
        "Bottom line, MLP: initialize() kept relu, tanh (Keras' default lost relu).",
        "gelu drifts up under initialize() (4, see the note); lsuv(), which measures the "
        "batch: kept (1.1).",
    ]
    assert example.bottom_line(results, "mlp", ["relu", "tanh"], inits)[1] == (
        "Every activation kept."
    )
    assert example.bottom_line(results, "mlp", ["relu"], ["glorot_uniform"]) == []


def test_notes_explain_sigmoid_gradients_and_gelu_drift_from_the_cells(example):
    # Kernel-gradient std 1, 2, 4, 8: the error shrinks 2x per layer on its way back.
    sigmoid = fake_report(0.6, gradient_std=(1.0, 2.0, 4.0, 8.0))
    results = {
        ("mlp", "sigmoid", "glorot_uniform"): [sigmoid],
        ("mlp", "gelu", "initialize"): [fake_report(4.0)],
    }
    inits = ["glorot_uniform", "initialize"]
    lines = example.notes(results, "mlp", ["sigmoid", "gelu"], inits)
    assert len(lines) == 2
    assert "σ' ≤ 1/4 shrinks the error 2.0-2.0x per layer back" in lines[0]
    assert "moment gain at 1.85" in lines[0]
    assert lines[1].startswith("- gelu: its gain 1.53") and "unstable" in lines[1]
    results[("mlp", "gelu", "initialize")] = [fake_report(1.2)]  # kept: nothing to explain
    assert len(example.notes(results, "mlp", ["sigmoid", "gelu"], inits)) == 1


def test_sigmoid_errors_shrink_per_layer_as_the_gain_and_sigmoid_derivative_say(example):
    """What the sigmoid note says, measured: at the moment gain g the error shrinks by
    1 / (g sqrt(E[σ'(z)²])) = 2.56 per layer (z ~ N(0, 1), the pre-activation the gain
    keeps), and Keras' glorot_uniform (gain 1 on square layers) by more."""
    import keras_glorot

    args = ["--depth", "16", "--width", "128", "--batch", "128", "--activations", "sigmoid"]
    results = example.main([*args, "--inits", "glorot_uniform", "glorot_gain"])
    gain = keras_glorot.calculate_gain("sigmoid")
    z = np.random.default_rng(0).standard_normal(1_000_000)
    derivative = np.exp(-z) / (1 + np.exp(-z)) ** 2
    predicted = 1 / (gain * np.sqrt(np.mean(derivative**2)))
    moment = example._backward_shrink(results[("mlp", "sigmoid", "glorot_gain")][0])
    keras_default = example._backward_shrink(results[("mlp", "sigmoid", "glorot_uniform")][0])
    assert abs(moment / predicted - 1) < 0.15, (moment, predicted)
    assert keras_default > moment > 2


def test_output_ends_with_the_bottom_line(example, capsys):
    args = ["--depth", "6", "--width", "16", "--batch", "32", "--activations", "relu", "tanh"]
    example.main([*args, "--inits", "glorot_uniform", "initialize"])
    last = capsys.readouterr().out.rstrip("\n").splitlines()[-2:]
    assert last[0].startswith("Bottom line, MLP: initialize() kept"), last
    assert last[1] == "Every activation kept." or "under initialize()" in last[1], last


@pytest.mark.parametrize(
    "ratio, word",
    [(1.0, "kept"), (0.46, "kept"), (2.9, "kept"), (4.1, "drifts up"), (6.0, "drifts up"),
     (0.2, "drifts down"), (0.05, "vanishes"), (3.7e-5, "vanishes"), (25.0, "explodes")],
)  # fmt: skip
def test_the_glance_words_follow_the_thresholds(example, ratio, word):
    # GELU's 4-6 (an unstable fixed point, 14% per layer near it) drift; they do not explode.
    assert example.glance(ratio) == word


def test_a_rectifiers_gradient_ratio_is_about_2_for_every_start_and_1_on_rectified_data(
    example,
):
    """What the output says, measured: the ratio is near 2 for a vanishing start and for a
    kept one alike."""
    args = ["--depth", "12", "--width", "64", "--batch", "128", "--activations", "relu"]
    results = example.main([*args, "--inits", "glorot_uniform", "he_normal"])
    kept = results[("mlp", "relu", "he_normal")][0]
    lost = results[("mlp", "relu", "glorot_uniform")][0]
    assert lost.activation_ratio < 0.05 < 0.3 < kept.activation_ratio
    for report in (kept, lost):
        assert 1.4 < report.gradient_ratio < 3.5


def test_bad_arguments_fail_before_keras_is_imported(tmp_path):
    script = REPO / "examples" / "signal_propagation.py"
    code = (
        "import json, runpy, sys\n"
        "out = []\n"
        "for argv in (['--depth', '0'], ['--batch', '1'], ['--npz', 'none.npz']):\n"
        f"    sys.argv = [{str(script)!r}, *argv]\n"
        "    try:\n"
        f"        runpy.run_path({str(script)!r}, run_name='__main__')\n"
        "    except SystemExit as e:\n"
        "        out.append([e.code, 'keras' in sys.modules or 'numpy' in sys.modules])\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert json.loads(done.stdout.splitlines()[-1]) == [[2, False]] * 3, done.stderr
    assert "--depth 0: must be an integer >= 2" in done.stderr
    assert "--batch 1: must be an integer >= 2" in done.stderr
    assert "--npz none.npz: no such file" in done.stderr
