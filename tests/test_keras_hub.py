"""Whole-model tools on small random-weight KerasHub backbones (4 layers, hidden 128,
vocabulary 1,000). Skipped where keras-hub is not installed (``pip install
keras-glorot[hub]``); tox installs it for every backend."""

import math

import numpy as np
import pytest
from conftest import run_python, to_numpy
from test_composite import assert_drawn_as_reported, by_layer

import keras_glorot

keras_hub = pytest.importorskip("keras_hub")

LAYERS, HIDDEN, VOCAB, LENGTH = 4, 128, 1000, 16
BACKBONES = {
    "bert": lambda: keras_hub.models.BertBackbone(
        vocabulary_size=VOCAB, num_layers=LAYERS, num_heads=4, hidden_dim=HIDDEN,
        intermediate_dim=256, max_sequence_length=64,
    ),
    "gpt2": lambda: keras_hub.models.GPT2Backbone(
        vocabulary_size=VOCAB, num_layers=LAYERS, num_heads=4, hidden_dim=HIDDEN,
        intermediate_dim=256, max_sequence_length=64,
    ),
    "llama": lambda: keras_hub.models.LlamaBackbone(
        vocabulary_size=VOCAB, num_layers=LAYERS, num_query_heads=4, num_key_value_heads=2,
        hidden_dim=HIDDEN, intermediate_dim=256,
    ),
    "gemma": lambda: keras_hub.models.GemmaBackbone(
        vocabulary_size=VOCAB, num_layers=LAYERS, num_query_heads=4, num_key_value_heads=1,
        hidden_dim=HIDDEN, intermediate_dim=256, head_dim=32,
    ),
    "vit": lambda: keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3), patch_size=8, num_layers=LAYERS, num_heads=4,
        hidden_dim=HIDDEN, mlp_dim=256,
    ),
}  # fmt: skip
# Kernels per transformer layer: Q, K, V, O and the MLP's (Llama's and Gemma's are gated:
# three).
PER_LAYER = {"bert": 6, "gpt2": 6, "llama": 7, "gemma": 7, "vit": 6}
# Kernels outside the layers: BERT's pooler, ViT's patch embedding, Llama's untied LM head
# (the reverse projection of its token embedding).
OUTSIDE = {"bert": 1, "gpt2": 0, "llama": 1, "gemma": 0, "vit": 1}


def inputs(name: str, batch: int = 2):
    rng = np.random.default_rng(0)
    if name == "vit":
        return rng.standard_normal((batch, 32, 32, 3)).astype("float32")
    x = {
        "token_ids": rng.integers(0, VOCAB, (batch, LENGTH)).astype("int32"),
        "padding_mask": np.ones((batch, LENGTH), "int32"),
    }
    if name == "bert":
        x["segment_ids"] = np.zeros((batch, LENGTH), "int32")
    return x


def finite(outputs) -> bool:
    if isinstance(outputs, dict):
        return all(finite(v) for v in outputs.values())
    return bool(np.isfinite(to_numpy(outputs)).all())


@pytest.fixture(scope="module", params=sorted(BACKBONES))
def initialized(request):
    model = BACKBONES[request.param]()
    return request.param, model, keras_glorot.initialize(model, seed=0)


def test_every_kernel_inside_the_blocks_is_handled(initialized):
    name, model, report = initialized
    assert len(report.handled) == LAYERS * PER_LAYER[name] + OUTSIDE[name]
    for record in report.handled:
        assert record.activation != "-", record
        assert "to be measured" not in record.activation, record
        assert "measured:" not in record.activation, record  # every block is traced
    skipped = {r.layer: r.skipped for r in report.skipped}
    assert skipped, "embeddings and norms are listed with a reason"
    assert all(("mbedding" in why) or why.startswith(("normalization", "a weight of"))
               for why in skipped.values()), skipped  # fmt: skip
    assert_drawn_as_reported(model, report)


def test_the_activation_and_how_it_was_found(initialized):
    """Each block's call is traced: the activation after each kernel is the one the call
    applies (a Dense's own, keras.ops.silu after a cast, keras.ops.gelu), and a kernel
    that feeds attention, a product or a sum is linear."""
    name, _, report = initialized
    rows = by_layer(report)
    labels = [r.activation for r in report.handled]
    if name in ("bert", "gpt2", "vit"):
        mlp = [a for a in labels if a.startswith("gelu")]
        assert len(mlp) == LAYERS and all("(own" in a for a in mlp)
    if name in ("llama", "gemma"):  # gated MLPs: silu or gelu applied in call, then x up
        gate_name, act = ("gate_dense", "silu") if name == "llama" else ("ffw_gating", "gelu")
        gates = [r for r in report.handled if r.layer.endswith(gate_name)]
        assert len(gates) == LAYERS
        assert all(r.activation.startswith(f"{act} (op ") for r in gates), gates
        assert all(r.gain == pytest.approx(keras_glorot.calculate_gain(act)) for r in gates)
        ups = [r for r in report.handled if "Multiply" in r.activation]
        assert len(ups) == LAYERS and all(r.gain == 1.0 for r in ups)
    if name == "vit":  # the patches are concatenated with the class token
        patch = [r for (layer, _), r in rows.items() if layer.endswith("patch_embedding")]
        assert patch[0].activation.startswith("linear: unrecognised op Concatenate")
    ends = [a for a in labels if a.startswith("linear: added to another path")]
    assert len(ends) == 2 * LAYERS


def test_residual_streams(initialized):
    """The sums in each block's call are found by the trace: a pre-norm block's two
    branch ends get GPT-2's 1/sqrt(N), N = 2 L; BERT's post-norm sums are left alone."""
    name, _, report = initialized
    sums = [m for m in report.merges if m.kind == "add op"]
    assert len(sums) == 2 * LAYERS and all(m.shortcut == "identity" for m in sums)
    if name == "bert":  # post-norm: each sum is normalized again
        assert not any(m.applied for m in sums)
        assert all("post-norm" in m.action for m in sums)
    else:
        assert all(m.applied for m in sums)
        scaled = [r for r in report.handled if "residual='fixup'" in r.note]  # the default
        assert len(scaled) == 2 * LAYERS
        assert all(f"1/sqrt({2 * LAYERS})" in r.note for r in scaled)


def test_saved_model_reloads_with_identical_weights(initialized, tmp_path):
    name, model, _ = initialized
    x = inputs(name)
    assert finite(model(x))
    model.save(tmp_path / "m.keras")
    np.savez(tmp_path / "w.npz", *[to_numpy(w) for w in model.weights])
    code = "\n".join(
        [
            "import sys, numpy as np, keras, keras_hub",
            "m = keras.saving.load_model(sys.argv[1] + '/m.keras')",
            "saved = np.load(sys.argv[1] + '/w.npz')",
            "ws = [keras.ops.convert_to_numpy(w) for w in m.weights]",
            "assert len(ws) == len(saved.files)",
            "print(all(np.array_equal(w, saved[f'arr_{i}']) for i, w in enumerate(ws)))",
        ]
    )
    done = run_python(code, tmp_path)
    assert done.stdout.strip() == "True", done.stderr[-3000:]


def test_gpt2_signal_report_and_lsuv():
    model = BACKBONES["gpt2"]()
    keras_glorot.initialize(model, seed=0)
    x = inputs("gpt2", batch=4)
    report = keras_glorot.signal_report(model, x)
    kernel_rows = [n for n in report.layers if n.startswith("transformer_layer_")
                   and not n.split("/")[-1].endswith("norm")]  # fmt: skip
    per_layer = ("self_attention/query", "self_attention/key", "self_attention/value",
                 "self_attention/output", "feedforward_intermediate_dense",
                 "feedforward_output_dense")  # fmt: skip
    assert sorted(kernel_rows) == sorted(
        f"transformer_layer_{i}/{p}" for i in range(LAYERS) for p in per_layer
    )
    assert all(math.isfinite(s) for s in report.activation_std)
    lsuv = keras_glorot.lsuv(model, x, seed=0)
    assert [r.layer for r in lsuv.handled] == [
        f"transformer_layer_{i}/{p}" for i in range(LAYERS) for p in per_layer
    ]
    assert finite(model(x))


def test_fused_attention_projection_is_linear_and_phi3_layout_is_read_from_call():
    """GPT-NeoX's fused query_key_value feeds attention through a reshape and a split:
    linear, not a gain measured through the softmax (3.41 on N(0, 1), and another value
    at every sequence length). Phi-3's MLP, whose attributes follow no known naming:
    the gate gets silu, the up projection (multiplied by it) is linear, and both output
    projections of each layer get GPT-2's 1/sqrt(N), N = 2 L = 4."""
    neox = keras_hub.models.GPTNeoXBackbone(
        vocabulary_size=500, num_layers=2, num_heads=4, hidden_dim=64, intermediate_dim=128
    )
    # Its parallel residual sums attention and MLP first: a sum of two branches.
    with pytest.warns(UserWarning, match="cannot tell branch from shortcut"):
        report = keras_glorot.initialize(neox, seed=0)
    fused = [r for r in report.handled if "query_key_value" in r.layer]
    assert len(fused) == 2 and all(r.gain == 1.0 for r in fused), fused
    assert not any("measured" in r.activation for r in report.handled)
    phi3 = keras_hub.models.Phi3Backbone(
        vocabulary_size=500, num_layers=2, hidden_dim=64, intermediate_dim=128,
        num_query_heads=4, num_key_value_heads=4,
    )  # fmt: skip
    report = keras_glorot.initialize(phi3, seed=0)
    gates = [r for r in report.handled if r.layer.endswith("feedforward_gate_dense")]
    assert len(gates) == 2 and all(r.activation.startswith("silu (op") for r in gates)
    ups = [r for r in report.handled if r.layer.endswith("feedforward_intermediate_dense")]
    assert len(ups) == 2 and all(r.gain == 1.0 for r in ups)
    scaled = [r for r in report.handled if "1/sqrt(4)" in r.note]
    assert len(scaled) == 4 and all(m.applied for m in report.merges)
