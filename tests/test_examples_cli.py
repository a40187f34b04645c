"""The command line of examples/cifar10_vgg.py: its arguments are checked before Keras or a
backend is imported, each bad value is named on its own, and its static name lists agree
with Keras, keras_glorot and the model module."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import BACKEND, REPO

import keras_glorot

sys.path.insert(0, str(REPO / "examples"))
import cifar10_vgg  # noqa: E402
from nets import vgg  # noqa: E402

SCRIPT = REPO / "examples" / "cifar10_vgg.py"
HEAVY = ("keras", "keras_glorot", "tensorflow", "jax", "torch", "numpy")


def error_of(capsys, *argv):
    with pytest.raises(SystemExit) as e:
        cifar10_vgg.parse_args(list(argv))
    assert e.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, names, message",
    [
        (["--epochs", "0"], "--epochs", "--epochs 0: must be an integer >= 1"),
        (["--batch-size", "0"], "--batch-size", "--batch-size 0: must be an integer >= 1"),
        (["--width", "0"], "--width", "--width 0.0: must be > 0"),
        (["--width", "nan"], "--width", "--width nan: must be > 0"),
        (["--subset", "0"], "--subset", "--subset 0: must be an integer >= 1"),
        (["--dropout", "1"], "--dropout", "--dropout 1.0: must be in [0, 1)"),
        (["--lr", "-1"], "--lr", "--lr -1.0: must be > 0"),
        (["--momentum", "1.5"], "--momentum", "--momentum 1.5: must be in [0, 1)"),
        (["--weight-decay", "-1"], "--weight-decay", "--weight-decay -1.0: must be >= 0"),
        (["--label-smoothing", "1"], "--label-smoothing", "--label-smoothing 1.0: must be in"),
        (["--negative-slope", "-0.2"], "--negative-slope", "--negative-slope -0.2: must be >= 0"),
        (["--target", "0"], "--target", "--target 0.0: must be in (0, 1]"),
        (["--model", "vgg12"], "--model", "--model 'vgg12': must be one of"),
        (["--activation", "swishy"], "--activation", "--activation 'swishy': must be one of"),
        (["--inits", "glorot_nonsense"], "--inits", "unknown initializer 'glorot_nonsense'"),
        (["--inits", "lsuv", "lsuv"], "--inits", "--inits lsuv lsuv: give each initializer"),
        (["--inits", "delta_orthogonal"], "--inits", "convolution kernels only"),
        # A count of 0 points to the way of naming seed 0 itself.
        (
            ["--seeds", "0"],
            ("--seed-list", "--seeds"),
            "--seeds 0: a count of seeds must be >= 1; for seed 0 alone, use --seed-list 0.",
        ),
        (["--seeds", "a,b"], "--seeds", "--seeds a,b: give a count N >= 1"),
        (["--seeds", "4", "4"], "--seeds", "--seeds 4 4: give distinct seeds"),
        (["--seed-list", "x"], "--seed-list", "--seed-list x: give integer seeds such as 7"),
        (["--seed-list", "-1"], "--seed-list", "--seed-list -1: seeds are integers >= 0"),
        (["--seeds", "2", "--seed-list", "7"], ("--seed-list", "--seeds"), "give one"),
        (["--npz", "no/such/file.npz"], "--npz", "--npz no/such/file.npz: no such file"),
    ],
)
def test_each_bad_value_names_its_own_option(argv, names, message, capsys):
    err = error_of(capsys, *argv)
    assert message in err
    parser = cifar10_vgg.build_parser()
    options = {o for a in parser._actions for o in a.option_strings if o.startswith("--")}
    message = err.split("error:", 1)[1].split("\n", 1)[0]
    named = [o for o in sorted(options) if re.search(re.escape(o) + "[ :]", message)]
    assert named == sorted([names] if isinstance(names, str) else names)
    # One line, then where to find the rest: not argparse's whole usage block.
    assert "usage:" not in err and err.count("\n") == 2 and "--help lists every option" in err


def test_unknown_init_error_lists_the_valid_names(capsys):
    err = error_of(capsys, "--inits", "he_normal", "xavier")
    for name in ("he_normal", "glorot_gain_uniform", "initialize", "lsuv", "variance_scaling"):
        assert name in err


def test_static_names_agree_with_keras_keras_glorot_and_the_model():
    """The lists that let the CLI check names without a backend are Keras' and ours."""
    from keras.src.initializers import ALL_OBJECTS_DICT
    from keras.src.initializers.random_initializers import RandomInitializer

    # Keras' own names: from Keras 3.16 the table also holds the names keras_glorot adds.
    own = {n: c for n, c in ALL_OBJECTS_DICT.items() if c.__module__.startswith("keras.")}
    seeded = {n for n, c in own.items() if issubclass(c, RandomInitializer)}
    assert set(cifar10_vgg.KERAS_INITIALIZERS) == {n for n in seeded if n.islower()}
    # Every name Keras' initializers.get knows is offered or refused with a reason.
    keras_names = {n for n in own if n.islower() and n != "initializer"}
    assert keras_names <= set(cifar10_vgg.INIT_NAMES) | set(cifar10_vgg.NOT_FOR_VGG)
    for index, name in enumerate(cifar10_vgg.INIT_NAMES):  # each draws a conv kernel
        init = vgg.make_initializer(name, seed=1, index=index, negative_slope=0.2)
        kernel = keras.ops.convert_to_numpy(init((3, 3, 8, 16)))
        assert kernel.shape == (3, 3, 8, 16), name
        assert (kernel.std() == 0) == (name in cifar10_vgg.KERAS_CONSTANT), name
    # Every name keras_glorot registers is offered, or refused with a reason.
    offered = set(cifar10_vgg.GLOROT_LEAKY) | set(cifar10_vgg.NOT_FOR_VGG)
    assert set(keras_glorot.initializers.ALIASES) <= offered
    assert set(cifar10_vgg.GLOROT_LEAKY) <= set(keras_glorot.initializers.ALIASES)
    assert set(cifar10_vgg.GLOROT_GAIN) == set(vgg.GLOROT_GAIN)
    assert cifar10_vgg.WHOLE_MODEL_TOOLS == vgg.WHOLE_MODEL_TOOLS
    assert all(callable(getattr(keras_glorot, t)) for t in cifar10_vgg.WHOLE_MODEL_TOOLS)
    assert set(cifar10_vgg.VGG_MODELS) == set(vgg.VGG_LAYOUTS)
    for name in cifar10_vgg.ACTIVATIONS:
        assert callable(keras.activations.get(name)), name


@pytest.mark.parametrize("name", ["glorot_leaky", "glorot_leaky_normal", "glorot_leaky_uniform"])
def test_the_registered_names_take_the_nets_slope(name):
    init = vgg.make_initializer(name, 1, 0, 0.1, "relu")
    assert init.negative_slope == 0.1
    assert init.gain == keras_glorot.calculate_gain("leaky_relu", negative_slope=0.1)
    assert cifar10_vgg.parse_args(["--inits", name, "he_normal"]).inits == [name, "he_normal"]


def test_help_lists_init_names_and_every_default():
    parser = cifar10_vgg.build_parser()
    formatter = parser._get_formatter()
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            shown = formatter._expand_help(action)
            assert shown.count("(default: ") == 1 and "None" not in shown, shown
    text = parser.format_help()
    for name in cifar10_vgg.INIT_NAMES:
        assert name in text
    data_dir = text.split("\n  --data-dir DIR", 1)[1].split("--subset", 1)[0]
    assert data_dir.count("default") == 1 and "None" not in text


def test_argument_errors_come_before_any_heavy_import(tmp_path):
    """In a fresh interpreter, from another directory: every bad argument exits with code 2
    before keras, keras_glorot, a backend or even NumPy is imported; --help as well."""
    bad = [["--epochs", "0"], ["--inits", "nope"], ["--npz", str(tmp_path / "none.npz")]]
    bad += [["--help"]]
    code = (
        "import json, runpy, sys\n"
        "results = []\n"
        f"for argv in {bad!r}:\n"
        f"    sys.argv = [{str(SCRIPT)!r}, *argv]\n"
        "    try:\n"
        f"        runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
        "    except SystemExit as e:\n"
        f"        results.append([e.code, [m for m in {HEAVY!r} if m in sys.modules]])\n"
        "print(json.dumps(results))\n"
    )
    env = {**os.environ, "KERAS_BACKEND": BACKEND}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results == [[2, []], [2, []], [2, []], [0, []]], done.stderr


@pytest.mark.one_backend
def test_script_runs_from_another_directory(tmp_path):
    """python examples/cifar10_vgg.py finds its helper modules from any working directory."""
    npz = tmp_path / "t.npz"
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(npz, x_train=rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8),
             y_train=rng.integers(0, 10, (8, 1)), x_test=rng.integers(0, 256, (8, 32, 32, 3),
             dtype=np.uint8), y_test=rng.integers(0, 10, (8, 1)))  # fmt: skip
    argv = ["--npz", str(npz), "--width", "0.0625", "--epochs", "1", "--batch-size", "8"]
    argv += ["--inits", "he_normal", "--seeds", "0,", "--verbose", "0", "--out", "o"]
    env = {**os.environ, "KERAS_BACKEND": BACKEND}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *argv], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "done he_normal seed 0" in done.stdout
    assert json.loads((tmp_path / "o" / "runs.jsonl").read_text())["init"] == "he_normal"


@pytest.mark.parametrize("activation", ["relu", "gelu", "tanh", "leaky_relu"])
def test_glorot_gain_takes_the_gain_of_the_activation(activation):
    # So no default or other combination can pair a gain with the wrong activation.
    args = cifar10_vgg.parse_args(["--activation", activation, "--negative-slope", "0.1"])
    assert "glorot_gain" in args.inits
    for name, distribution in (("glorot_gain", "truncated_normal"),
                               ("glorot_gain_uniform", "uniform")):  # fmt: skip
        init = vgg.make_initializer(name, 1, 0, args.negative_slope, args.activation)
        expected = keras_glorot.calculate_gain(activation, negative_slope=0.1)
        assert init.gain == expected and init.distribution == distribution


SAME_IN_A_LEAKY_NET = [
    ("glorot_gain", "glorot_leaky"),
    ("glorot_gain_uniform", "glorot_leaky_uniform"),
]


@pytest.mark.parametrize("name, same", SAME_IN_A_LEAKY_NET)
def test_glorot_gain_draws_what_the_leaky_names_draw_in_a_leaky_relu_net(name, same):
    # In a leaky-ReLU net glorot_gain runs are reported (and resumed) as glorot_leaky, the
    # package's registered name: the two must be the same kernels, bit for bit.
    config = {"seed": 2003, "negative_slope": 0.2}
    registered = keras.initializers.get({"class_name": same, "config": config})((3, 3, 8, 16))
    for drawn in (vgg.make_initializer(name, 2, 3, 0.2, "leaky_relu"),
                  vgg.make_initializer(same, 2, 3, 0.2, "leaky_relu")):  # fmt: skip
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(drawn((3, 3, 8, 16))),
                                      keras.ops.convert_to_numpy(registered))  # fmt: skip


@pytest.mark.parametrize(
    "script, extra",
    [
        ("cifar10_vgg", []),
        ("article_tables", ["--table", "9"]),
        ("depth", []),
        ("norm_free_resnet", []),
        ("signal_propagation", []),
    ],
)
def test_every_script_takes_the_names_keras_glorot_registers_and_keras_own(script, extra):
    import importlib

    from studylib import cli_args

    module = importlib.import_module(script)
    names = [*cli_args.GLOROT_LEAKY, "he_uniform", "orthogonal"]
    assert module.parse_args([*extra, "--inits", *names]).inits == names
    with pytest.raises(SystemExit):
        module.parse_args([*extra, "--inits", "glorot_leaky_typo"])


def test_the_static_names_are_keras_and_keras_glorot():
    from keras.src.initializers import ALL_OBJECTS_DICT
    from studylib import cli_args

    keras_names = {
        n
        for n, c in ALL_OBJECTS_DICT.items()
        if n.islower() and n != "initializer" and c.__module__.startswith("keras.")
    }
    assert keras_names == set(cli_args.KERAS_SEEDED + cli_args.KERAS_CONSTANT) | set(
        cli_args.KERAS_NOT_FOR_A_NET
    )
    assert set(cli_args.GLOROT_LEAKY) < set(keras_glorot.initializers.ALIASES)
    for name in cli_args.NAMED_INITS:
        kernel = keras.ops.convert_to_numpy(cli_args.named_initializer(name, 3, 0.1)((6, 6)))
        assert kernel.shape == (6, 6) and ((kernel.std() == 0) == (name in cli_args.KERAS_CONSTANT))


@pytest.mark.parametrize(
    "argv, seeds",
    [
        ([], [0, 1, 2]),
        (["--seeds", "7"], [0, 1, 2, 3, 4, 5, 6]),  # a count
        (["--seed-list", "7"], [7]),  # the seed itself
        (["--seed-list", "4", "7"], [4, 7]),
        # Read as before, so that the commands of earlier studies run as they did:
        (["--seeds", "4", "7"], [4, 7]),
        (["--seeds", "4,7"], [4, 7]),
        (["--seeds", "5,"], [5]),
    ],
)
def test_a_seed_count_and_a_seed_list_are_two_options(argv, seeds):
    args = cifar10_vgg.parse_args(argv)
    assert args.seeds == seeds
    assert not hasattr(args, "seed_list")  # nothing but the seeds enters a run's options


def test_every_script_sets_tensorflows_log_level_before_any_heavy_import():
    for path in sorted((REPO / "examples").glob("*.py")) + sorted(
        (REPO / "benchmarks").glob("*.py")
    ):
        text = path.read_text()
        line = 'os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")'
        assert line in text, path
        before = text.split(line, 1)[0]
        assert not re.search(r"^\s*(import|from) (keras|tensorflow|studylib|nets)", before, re.M)


def a_bad_npz(tmp_path, kind: str, good) -> str:
    """A file given as --npz that is no readable .npz: text, or a real one cut short."""
    path = tmp_path / f"{kind}.npz"
    if kind == "text":
        path.write_text("x_train,y_train\n1,2\n")
    else:
        whole = good.read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
    return str(path)


@pytest.mark.parametrize("kind", ["text", "truncated"])
def test_an_unreadable_npz_is_one_line_naming_it_and_the_fix(
    kind, tmp_path, tiny_cifar_npz, capsys
):
    npz = a_bad_npz(tmp_path, kind, tiny_cifar_npz)
    code = cifar10_vgg.main(["--npz", npz, "--out", str(tmp_path / "out"), "--verbose", "0"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"error: --npz {npz}")
    assert "python examples/get_cifar10.py --out cifar10.npz" in err
    # NumPy's own message advises loading the file "unsafely using allow_pickle".
    assert "allow_pickle" not in err
    assert not (tmp_path / "out" / "runs.jsonl").exists()


@pytest.mark.parametrize(
    "option, key, used", [("--subset", "x_train", 64), ("--test-subset", "x_test", 32)]
)
def test_a_subset_larger_than_the_data_is_refused_naming_what_it_holds(
    option, key, used, tiny_cifar_npz
):
    from studylib import cifar10_data

    subset = {"subset": None, "test_subset": None, option[2:].replace("-", "_"): used + 1}
    with pytest.raises(cifar10_data.DataError) as refused:
        cifar10_data.load_data(str(tiny_cifar_npz), **subset)
    assert str(refused.value) == (
        f"{option} {used + 1}: --npz {tiny_cifar_npz} holds {used} "
        f"{'training' if key == 'x_train' else 'test'} images; pass {option} {used} or less, "
        f"or leave {option} out to use all of them."
    )
    subset[option[2:].replace("-", "_")] = used
    assert len(cifar10_data.load_data(str(tiny_cifar_npz), **subset)[key]) == used


def test_the_study_refuses_a_subset_it_could_not_train_on(tmp_path, tiny_cifar_npz, capsys):
    # summary.md records the options' subset: a run on fewer images must not record more.
    argv = ["--npz", str(tiny_cifar_npz), "--subset", "100000", "--out", str(tmp_path / "o")]
    assert cifar10_vgg.main(argv) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: --subset 100000: --npz {tiny_cifar_npz} holds 64 training images; pass "
        "--subset 64 or less, or leave --subset out to use all of them.\n"
    )
    assert not (tmp_path / "o" / "summary.md").exists()


def test_the_article_tables_refuse_a_test_subset_larger_than_the_data(
    tmp_path, tiny_cifar_npz, capsys
):
    # Each table's cases cut the test split themselves; one larger than it is refused
    # before any run, not cut to what there is.
    import article_tables

    argv = ["--npz", str(tiny_cifar_npz), "--table", "9", "--test-subset", "100000",
            "--out", str(tmp_path / "o")]  # fmt: skip
    assert article_tables.main(argv) == 2
    err = capsys.readouterr().err
    assert err == (
        "error: --test-subset 100000: the data holds 32 test images; pass --test-subset 32 "
        "or less.\n"
    )
    assert not (tmp_path / "o").exists()
