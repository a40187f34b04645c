"""initialize(residual=...): merges found, branches scaled, sums bounded, configs that reproduce.

The ResNets are CIFAR's (He et al. 2016: 3 stages, two 3x3 convs per block,
identity shortcuts, 1x1 projections at stage changes) without normalization, at
widths 8/16/32 on 8x8 inputs to stay fast. "post" puts the ReLU after the add
(v1), "pre" before each conv (v2). Sums are measured: a batch of N(0, 1) inputs
is pushed through a probe model that outputs every merge.
"""

import inspect
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import REPO, run_python, to_numpy

from keras_glorot import initialize, keras_internals
from keras_glorot.whole_model.graph import Graph, outputs_of
from keras_glorot.whole_model.residual import find_merges, fixup_scale

sys.path.insert(0, str(REPO / "examples"))
import nets  # noqa: E402

WIDTHS = (8, 16, 32)
SIZE = 8
BASE_COMMIT = "313bec1"  # the last commit before residual policies


def resnet(depth, order="post", ops=False):
    return nets.resnet(depth, order, ops, widths=WIDTHS, size=SIZE)


def init(model, **kwargs):
    # Uniform draws compile faster on JAX (see test_initialize.py).
    return initialize(model, distribution="uniform", seed=kwargs.pop("seed", 0), **kwargs)


def batch(n=8):
    return np.random.default_rng(0).standard_normal((n, SIZE, SIZE, 3)).astype("float32")


def probe(model, tensors):
    return [to_numpy(y) for y in keras.Model(model.inputs[0], tensors)(batch())]


def merge_sums(model):
    return probe(model, [outputs_of(m.op)[0] for m in find_merges(Graph(model))])


def kernels(model):
    return {w.path: to_numpy(w) for w in model.weights if "kernel" in w.path}


@pytest.mark.parametrize("ops", [False, True], ids=["Add", "x+y"])
@pytest.mark.parametrize("depth", [20, 56, 110])
def test_scaled_keeps_every_residual_sum_within_2x_of_the_first(depth, ops):
    model = resnet(depth, "pre", ops)
    report = init(model, residual="scaled")
    assert report.depth == len(report.merges) == (depth - 2) // 2
    stds = np.array([s.std() for s in merge_sums(model)])
    ratios = stds / stds[0]
    assert 0.5 < ratios.min() and ratios.max() < 2.0, np.round(ratios, 2)
    # The default, Fixup: every block is its shortcut, so the sum never grows; each of
    # the two stride-2 projections (Glorot fans, C to 2C channels) keeps about 0.7 of it.
    init(model)
    fixup = np.array([s.std() for s in merge_sums(model)])
    assert 1 / 3 < (fixup / fixup[0]).min() and (fixup / fixup[0]).max() < 1 + 1e-6
    if depth == 56:  # Today's draws (residual=None) let the sum grow with depth.
        init(model, residual=None)
        plain = np.array([s.std() for s in merge_sums(model)])
        assert plain[-1] / plain[0] > 2.5  # 3.9 to 5 here; 8x8 inputs pad much of each conv


@pytest.mark.parametrize("ops", [False, True], ids=["Add", "x+y"])
def test_scaled_post_activation_resnet_keeps_the_signal_into_each_block(ops):
    # ReLU after the add (v1): the signal each block gets is the ReLU's output.
    # The projection merges' sums are pre-activations, sqrt(2) larger by design
    # (docs/derivation.md, "Residual networks"); every sum stays within 3x.
    model = resnet(56, "post", ops)
    init(model, residual="scaled")
    outs = [model.get_layer(f"b{k}_out").output for k in range(27)]
    rms = np.array([np.sqrt(np.mean(y**2)) for y in probe(model, outs)])
    assert 0.5 < (rms / rms[0]).min() and (rms / rms[0]).max() < 2.0, np.round(rms / rms[0], 2)
    stds = np.array([s.std() for s in merge_sums(model)])
    assert 1 / 3 < (stds / stds[0]).min() and (stds / stds[0]).max() < 3.0


def test_zero_makes_every_block_its_shortcut():
    model = resnet(20, "pre", ops=True)
    report = init(model, residual="zero")
    assert all(m.applied and m.action.startswith("zeroed") for m in report.merges)
    merges = find_merges(Graph(model))
    lasts = [la.output for m in merges for b in m.branches for la in b.last]
    shortcuts = [m.shortcut.tensor for m in merges]
    values = probe(model, lasts + shortcuts + [outputs_of(m.op)[0] for m in merges])
    n = len(merges)
    for last, shortcut, total in zip(values[:n], values[n : 2 * n], values[2 * n :], strict=True):
        assert not last.any()
        np.testing.assert_array_equal(total, shortcut)
    init_config = model.get_layer("b3_b").get_config()["kernel_initializer"]
    # Zeros marked as this package's: a later initialize() redraws them, where it keeps
    # an author's own zeros.
    assert init_config["class_name"] == "ResidualZeros"
    assert init_config["registered_name"] == "keras_glorot>ResidualZeros"


def test_fixup_scales_branch_kernels_by_the_formula():
    model = resnet(20, "post")
    init(model, residual=None, seed=5)
    plain = kernels(model)
    report = init(model, residual="fixup", seed=5)
    scale = fixup_scale(9, 2)
    assert scale == pytest.approx(9 ** (-1 / 2))
    fixed = kernels(model)
    for k in range(9):
        first = model.get_layer(f"b{k}_a").kernel.path
        np.testing.assert_allclose(fixed[first], scale * plain[first], rtol=1e-5, atol=1e-7)
        assert not fixed[model.get_layer(f"b{k}_b").kernel.path].any()
        assert "L^(-1/2)" in report.merges[k].action
    # Outside the branches nothing changes.
    for name in ("stem", "b3_proj", "head"):
        path = model.get_layer(name).kernel.path
        np.testing.assert_array_equal(fixed[path], plain[path])


@pytest.mark.skipif(
    not keras_internals.EINSUM_AXES_FROM_KERAS,
    reason="compares with the package as it was, which required Keras >= 3.15",
)
def test_none_reproduces_the_draws_before_residual_policies(tmp_path):
    source = tmp_path / "old"
    source.mkdir()
    archive = subprocess.run(
        f"git -C {REPO} archive {BASE_COMMIT} keras_glorot | tar -x -C {source}",
        shell=True,
        capture_output=True,
    )
    if archive.returncode:
        pytest.skip(f"commit {BASE_COMMIT} not available: {archive.stderr[-200:]!r}")
    code = "\n".join(
        [
            "import sys; sys.path.insert(0, sys.argv[1])",
            "import keras, numpy as np, keras_glorot",
            "assert keras_glorot.__file__.startswith(sys.argv[1])",
            f"sys.path.insert(0, {str(REPO / 'examples')!r})",
            "import nets",
            f"WIDTHS, SIZE = {WIDTHS}, {SIZE}",
            inspect.getsource(resnet),
            "m = resnet(20, 'pre', ops=True)",
            "keras_glorot.initialize(m, distribution='uniform', seed=7)",
            "ws = {w.path.replace('/', '|'): keras.ops.convert_to_numpy(w) for w in m.weights}",
            "np.savez(sys.argv[2], **{k: v for k, v in ws.items() if 'kernel' in k})",
        ]
    )
    result = run_python(code, source, tmp_path / "old.npz", with_repo=False)
    assert result.returncode == 0, result.stderr[-2000:]
    old = np.load(tmp_path / "old.npz")
    model = resnet(20, "pre", ops=True)
    init(model, residual=None, seed=7)
    new = kernels(model)
    assert sorted(old) == sorted(k.replace("/", "|") for k in new)
    for path, w in new.items():
        np.testing.assert_array_equal(w, old[path.replace("/", "|")])


def test_report_has_a_row_per_merge_and_says_what_was_done():
    model = resnet(20, "post")
    report = init(model, residual="scaled")
    assert [m.merge for m in report.merges] == [f"b{k}_add" for k in range(9)]
    assert report.merges[3].shortcut == "projection b3_proj"
    assert report.merges[0].shortcut == "identity" and report.merges[0].branches == "b0_a, b0_b"
    assert "b3_b Var x" in report.merges[3].action and "b3_proj Var x" in report.merges[3].action
    text, markdown = str(report), report.to_markdown()
    assert "residual merges:" in text and "L = 9 residual, residual='scaled' applied at 9" in text
    assert "| b3_add | Add | projection b3_proj |" in markdown
    assert "residual=scaled at b0_add" in report["b0_b"][0].note
    with pytest.raises(ValueError, match="residual='skip' is not allowed"):
        initialize(model, residual="skip")


def test_where_branch_and_shortcut_cannot_be_told_nothing_changes():
    inputs = keras.Input((16,))
    h = keras.layers.Dense(16, name="h")(inputs)
    a = keras.layers.Dense(16, name="a")(h)
    b = keras.layers.Dense(16, name="b")(h)
    other = keras.Input((16,))
    model = keras.Model([inputs, other], [keras.layers.Add()([a, b]), h + other])
    with pytest.warns(UserWarning, match="cannot tell branch from shortcut"):
        report = init(model)
    first, second = report.merges
    assert "cannot tell branch from shortcut" in first.action and not first.applied
    assert "share no ancestor" in second.action and report.depth == 0
    assert "residual" not in report["a"][0].note


def test_saved_resnets_reload_in_a_fresh_process_with_identical_weights(tmp_path):
    models, configs = {}, {}
    for policy in ("scaled", "zero"):
        models[policy] = resnet(20, "post")
        init(models[policy], residual=policy, seed=3)
        models[policy].save(tmp_path / f"{policy}.keras")
        configs[policy] = {la.name: la.get_config() for la in models[policy].layers}
    (tmp_path / "configs.json").write_text(json.dumps(configs, default=str))
    code = (
        "import sys, json, pathlib, numpy as np, keras, keras_glorot\n"
        "out, configs = pathlib.Path(sys.argv[1]), {}\n"
        "for policy in ('scaled', 'zero'):\n"
        "    m = keras.saving.load_model(out / f'{policy}.keras')\n"
        "    clone = keras.models.clone_model(m)\n"
        "    np.savez(out / f'{policy}_loaded.npz', *[np.asarray(w) for w in m.weights])\n"
        "    np.savez(out / f'{policy}_clone.npz', *[np.asarray(w) for w in clone.weights])\n"
        "    configs[policy] = {la.name: la.get_config() for la in m.layers}\n"
        "(out / 'loaded.json').write_text(json.dumps(configs, default=str))\n"
    )
    result = run_python(code.replace("np.asarray(w)", "keras.ops.convert_to_numpy(w)"), tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    for policy, model in models.items():
        loaded = np.load(tmp_path / f"{policy}_loaded.npz")
        clone = np.load(tmp_path / f"{policy}_clone.npz")
        for i, w in enumerate(model.weights):
            np.testing.assert_array_equal(loaded[f"arr_{i}"], to_numpy(w))
            if "kernel" in w.path:  # rebuilt from config: the same law and seed
                np.testing.assert_allclose(clone[f"arr_{i}"], to_numpy(w), rtol=1e-6, atol=1e-7)
    loaded_configs = json.loads((tmp_path / "loaded.json").read_text())
    assert loaded_configs == json.loads((tmp_path / "configs.json").read_text())


APPLICATIONS = {
    "ResNet50": dict(input_shape=(32, 32, 3)),
    "ResNet50V2": dict(input_shape=(32, 32, 3)),
    "MobileNetV2": dict(input_shape=(32, 32, 3), alpha=0.35),
    "Xception": dict(input_shape=(71, 71, 3)),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_keras_applications_report_every_kernel_and_merge(name):
    model = getattr(keras.applications, name)(weights=None, classes=10, **APPLICATIONS[name])
    report = init(model)
    with_kernel = {w.path.rsplit("/", 1)[0] for w in model.weights if "kernel" in w.path}
    assert {r.layer for r in report.handled} == {p.rsplit("/", 1)[-1] for p in with_kernel}
    adds = [la.name for la in model.layers if isinstance(la, keras.layers.Add)]
    assert [m.merge for m in report.merges] == adds and all(m.action for m in report.merges)
    assert report.depth == len(adds)
    if name.endswith("V2") and name.startswith("ResNet"):
        # Pre-activation blocks: BN before each conv, none after the last, so the
        # branch ends take GPT-2's 1/sqrt(N), N the number of such branches.
        assert all(m.applied and f"1/sqrt({len(adds)})" in m.action for m in report.merges)
    else:  # BN after the branch's last kernel sets its scale: not applied there.
        assert all("BatchNormalization" in m.action for m in report.merges)
    x = np.random.default_rng(0).standard_normal((2, *model.input_shape[1:])).astype("float32")
    assert np.isfinite(to_numpy(model(x))).all()


def test_residual_blocks_of_a_subclassed_model_are_found_by_what_call_adds():
    """16 blocks of x + fc2(relu(fc1(x))) in a subclassed model, with attribute names
    that say nothing: the merges are found by tracing call, and the default policy
    starts every block as its shortcut, so the last block's output has the first's
    std (Keras' glorot_uniform: 18x, per-layer gains alone: 157x)."""

    class Net(keras.Model):
        def __init__(self, blocks=16, width=64):
            super().__init__()
            self.pairs = [
                (keras.layers.Dense(width), keras.layers.Dense(width)) for _ in range(blocks)
            ]

        def call(self, x):
            for fc1, fc2 in self.pairs:
                x = x + fc2(keras.ops.relu(fc1(x)))
            return x

    model = Net()
    x = np.random.default_rng(0).standard_normal((32, 64)).astype("float32")
    model(x)
    report = init(model, seed=0)
    assert report.depth == 16 and all(m.applied for m in report.merges)
    fc1, fc2 = model.pairs[0]
    assert report[fc1.name][0].gain == pytest.approx(np.sqrt(2))  # the ops relu found
    assert not to_numpy(fc2.kernel).any()
    np.testing.assert_allclose(to_numpy(model(x)), x, atol=1e-6)  # biases are zero


def test_depth_docstring_formula_is_the_papers():
    # Fixup, Zhang et al. 2019, §3: L^(-1/(2m-2)); m = 3 kernels per branch.
    assert fixup_scale(16, 3) == pytest.approx(16 ** (-1 / 4))
    assert fixup_scale(16, 1) == 1.0


def test_merges_inside_nested_models_are_found_and_one_around_a_nested_model_is_reported():
    def block(i):
        x = keras.Input((32,))
        h = keras.layers.Dense(32, activation="relu", name=f"a{i}")(x)
        h = keras.layers.Dense(32, name=f"b{i}")(h)
        return keras.Model(x, keras.layers.ReLU()(x + h), name=f"block{i}")

    inputs = keras.Input((32,))
    x = block(1)(block(0)(inputs))
    model = keras.Model(inputs, keras.layers.Add(name="outer")([x, block(2)(x)]))
    with pytest.warns(UserWarning, match="passes through the nested model"):
        report = init(model, residual="scaled")
    rows = {m.merge: m for m in report.merges}
    assert "nested model 'block2'" in rows.pop("outer").action and report.depth == 3
    assert sorted(m.branches for m in rows.values()) == ["a0, b0", "a1, b1", "a2, b2"]
    for k in range(3):  # every branch adds 1/L of its input: Var(b) = Var(a) / 2 / 3
        inner = model.get_layer(f"block{k}")
        a, b = (inner.get_layer(f"{n}{k}").kernel_initializer for n in "ab")
        assert b.stddev((32, 32)) ** 2 / a.stddev((32, 32)) ** 2 == pytest.approx(1 / 6)


def pre_norm_transformer(blocks=4, width=32, seq=8):
    """Pre-norm attention blocks written as a functional model: x + MHA(LN(x))."""
    x = inputs = keras.Input((seq, width))
    for i in range(blocks):
        h = keras.layers.LayerNormalization(name=f"ln{i}")(x)
        h = keras.layers.MultiHeadAttention(4, width // 4, name=f"mha{i}")(h, h)
        x = keras.layers.Add(name=f"add{i}")([x, h])
    return keras.Model(inputs, x)


@pytest.mark.parametrize("policy", ["scaled", "zero"])
def test_pre_norm_branches_of_a_functional_model_take_the_streams_rule(policy):
    """A normalization before the branch's last kernel (and none after) fixes the branch's
    scale whatever the stream's: "scaled" multiplies the branch end's std by 1/sqrt(N)
    (GPT-2), as for composite pre-norm blocks. The attention layer's saved initializer
    follows, so a clone redraws the scaled output projection, not the unscaled one."""
    blocks, width = 4, 32
    model = pre_norm_transformer(blocks, width)
    report = init(model, residual=policy)
    assert [m.applied for m in report.merges] == [True] * blocks
    glorot = np.sqrt(6 / (2 * width) / 3)  # uniform Glorot: Var = 2 / (fan_in + fan_out)
    want = 0.0 if policy == "zero" else glorot / np.sqrt(blocks)
    clone = keras.models.clone_model(model)
    for i in range(blocks):
        for m in (model, clone):
            mha = m.get_layer(f"mha{i}")
            out = to_numpy(mha._output_dense.kernel).ravel()
            query = to_numpy(mha._query_dense.kernel).ravel()
            # Uniform draws: the sample variance's standard error is Var * sqrt(4/5 / n).
            for w, std in ((out, want), (query, glorot)):
                se = std**2 * np.sqrt(0.8 / w.size)
                assert abs(np.mean(w**2) - std**2) <= 5 * se + 1e-12, (i, std)


def residual_mlp(blocks, width=128, classes=10):
    """``x + W2 relu(W1 x)`` blocks, no normalization, and a linear classifier."""
    x = inputs = keras.Input((width,))
    for i in range(blocks):
        h = keras.layers.Dense(width, activation="relu", name=f"w1_{i}")(x)
        x = x + keras.layers.Dense(width, name=f"w2_{i}")(h)
    return keras.Model(inputs, keras.layers.Dense(classes, name="head")(x))


def one_sgd_step(model, x, y, kernels_only=False, rate=0.05):
    """(loss before, loss after, rms change of the logits) for one plain SGD step."""
    from keras_glorot.backend import value_and_grads

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    before = to_numpy(model(x))
    variables = [
        v for v in model.trainable_variables if not kernels_only or v.path.endswith("kernel")
    ]
    loss, _, grads = value_and_grads(model, lambda: (loss_fn(y, model(x)), ()), variables)
    for v, g in zip(variables, grads, strict=True):
        v.assign(v - rate * g)
    after = to_numpy(model(x))
    change = float(np.sqrt(np.mean((after - before) ** 2)))
    return float(to_numpy(loss)), float(to_numpy(loss_fn(y, after))), change


def test_default_first_update_does_not_grow_with_depth():
    """Fixup's argument (Zhang et al. 2019, §2): the output's change after one SGD step
    on the kernels must not grow with the number of blocks. The default policy keeps
    it level from 4 to 64 blocks (measured 0.16 and 0.15 on TensorFlow), and a full
    step lowers the loss at every depth; "scaled", which bounds only the forward
    signal, lets it grow 170-fold (2.5 to 430). The zero biases' own step, L of them
    adding up, is not the initialization's doing and is left out of the ratio."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 128)).astype("float32")
    y = rng.integers(0, 10, 64)
    change = {}
    for policy in (None, "scaled"):
        for blocks in (4, 64):
            kwargs = {} if policy is None else {"residual": policy}
            model = residual_mlp(blocks)
            report = init(model, seed=0, **kwargs)
            assert report.depth == blocks
            *_, change[policy, blocks] = one_sgd_step(model, x, y, kernels_only=True)
            if policy is None:
                model = residual_mlp(blocks)
                init(model, seed=0)
                before, after, _ = one_sgd_step(model, x, y)
                assert after < before, (blocks, before, after)
    assert change[None, 64] < 1.5 * change[None, 4], change
    assert change["scaled", 64] > 10 * change["scaled", 4], change


def test_first_full_update_grows_with_the_biases_far_below_keras_default():
    """With the biases stepping too, the default start's first change grows with depth
    (0.17 at 4 blocks, 0.31 at 64 on TensorFlow): every branch's zero bias moves the
    output by the same step. Keras' default start moves it by 3.2 at 4 blocks and
    about 5e4 at 16."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 128)).astype("float32")
    y = rng.integers(0, 10, 64)
    change = {}
    for blocks in (4, 16, 64):
        keras.utils.set_random_seed(0)
        model = residual_mlp(blocks)
        init(model, seed=0)
        *_, change[blocks] = one_sgd_step(model, x, y)
    keras.utils.set_random_seed(0)
    *_, keras_change = one_sgd_step(residual_mlp(16), x, y)
    assert change[4] < change[64] < 3 * change[4], change
    assert keras_change > 100 * change[16], (keras_change, change)
