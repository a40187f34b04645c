"""``keras_glorot.initialize`` on every backbone class KerasHub exports, each built at a
tiny configuration (``kerashub_tiny.TINY``: 2 layers, hidden 32 to 64, 32 x 32 images
where allowed), with the corpus' checks (tests/test_corpus.py):

1. ``initialize(model, seed=0)`` does not raise.
2. Every kernel is drawn or named with a reason: each layer holding a kernel has a
   handled or a skipped row in the report.
3. Only kernels change (and an untied language-model head, drawn as one): biases,
   normalization weights, embeddings and buffers keep their values.
4. With the saved weights restored, the outputs are bitwise those before.
5. A second ``initialize(model, seed=0)`` draws bitwise the same weights as the first
   (from the first call's weights, not Keras' own: a draw must not depend on them).
6. Each call raises at most one ``UserWarning`` of keras_glorot's.

The classes are found when the tests are collected, so that a KerasHub release that
adds a backbone fails ``test_every_backbone_has_a_tiny_config`` until it gets one.

Building 77 backbones takes minutes: the checks are marked ``one_backend`` (TensorFlow
only, ``pytest --every-backend`` runs them on any backend). All run in one process, each
backbone once (``_run``, cached), ``keras.backend.clear_session()`` between them.

``pytest -s`` prints each output's standard deviation from KerasHub's own start and
from ``initialize()`` (check 4), and the warning of each first call (check 6).
"""

from __future__ import annotations

import functools
import gc
import hashlib
import inspect
import pathlib
import re
import traceback
import warnings

import keras
import numpy as np
import pytest
from conftest import BACKEND, to_numpy
from kerashub_tiny import INPUT_SHAPES, INPUT_VALUES, TINY
from test_corpus import KERNEL_ATTRS, _kernel_layers

import keras_glorot

keras_hub = pytest.importorskip("keras_hub")

# Abstract classes that every backbone derives from; not models of their own.
BASES = ("Backbone", "FeaturePyramidBackbone")
BACKBONES = sorted(
    name
    for name, cls in vars(keras_hub.models).items()
    if name.endswith("Backbone")
    and name not in BASES
    and inspect.isclass(cls)
    and issubclass(cls, keras_hub.models.Backbone)
)
BATCH, FREE_DIM = 2, 8
# Kernels by name, as tests/test_corpus.py check 3 has them, and an untied language
# model head: ``ReversibleEmbedding``'s reverse projection, drawn as a kernel (a report
# row of its own, tests/test_keras_hub.py).
KERNELS = (*KERNEL_ATTRS, "reverse_embeddings")
PACKAGE_DIR = str(pathlib.Path(keras_glorot.__file__).resolve().parent)
THIS_FILE = str(pathlib.Path(__file__).resolve())


def make_inputs(model: keras.Model, name: str, seed: int = 1):
    """A batch for ``model.input``, the backbone's own input spec: token ids in [1, 10),
    masks and labels of ones, segment ids of zeros, box and point coordinates in
    (0, 1), other floats N(0, 1). Free dimensions are ``FREE_DIM`` long unless
    ``kerashub_tiny.INPUT_SHAPES`` says otherwise."""
    rng = np.random.default_rng(seed)
    shapes, values = INPUT_SHAPES.get(name, {}), INPUT_VALUES.get(name, {})

    def one(spec):
        dims = shapes.get(spec.name, spec.shape[1:])
        shape = (BATCH, *(FREE_DIM if d is None else d for d in dims))
        dtype = spec.dtype
        if spec.name in values:
            return values[spec.name](shape, rng)
        if dtype == "bool" or "mask" in spec.name or "label" in spec.name:
            return np.ones(shape, dtype)
        if "int" in dtype:
            if "segment" in spec.name:
                return np.zeros(shape, dtype)
            return rng.integers(1, 10, shape).astype(dtype)
        if "box" in spec.name or "point" in spec.name:
            return rng.uniform(0.1, 0.9, shape).astype(dtype)
        return rng.standard_normal(shape).astype(dtype)

    return keras.tree.map_structure(one, model.input)


def _leaves(y, path="output"):
    """{path: numpy array} for every tensor in a backbone's (nested) outputs."""
    if isinstance(y, dict):
        return {k: v for key in y for k, v in _leaves(y[key], f"{path}/{key}").items()}
    if isinstance(y, (list, tuple)):
        return {k: v for i, t in enumerate(y) for k, v in _leaves(t, f"{path}/{i}").items()}
    return {path: to_numpy(y)}


def _digests(model) -> list[tuple[str, str]]:
    """(path, hash of the bytes) per variable: compared bitwise without holding copies
    (BASNet's tiny decoder alone holds 49M weights)."""
    return [(v.path, hashlib.sha1(to_numpy(v).tobytes()).hexdigest()) for v in model.weights]


def _is_tool_warning(w) -> bool:
    """A warning raised by keras_glorot: from inside the package, or (stacklevel=2)
    pointing at the call of initialize() in this file."""
    filename = str(pathlib.Path(w.filename).resolve())
    return filename.startswith(PACKAGE_DIR) or filename == THIS_FILE


def _floating(value) -> bool:
    return np.issubdtype(value.dtype, np.floating)


def _initialize(model):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = keras_glorot.initialize(model, seed=0)
    tool = [w for w in caught if _is_tool_warning(w) and w.category is UserWarning]
    return report, [str(w.message) for w in tool]


@functools.cache
def _run(name: str) -> dict:
    """Builds one backbone, initializes it twice and records what the checks read."""
    keras.backend.clear_session()  # frees the previous backbone
    gc.collect()
    keras.utils.set_random_seed(0)
    run = {"error": None}
    try:
        model = getattr(keras_hub.models, name)(**TINY[name]())
        x = make_inputs(model, name)
        y_keras = _leaves(model(x))
    except ModuleNotFoundError as e:  # SAM3's ROI align needs torchvision on PyTorch
        missing = re.search(r"No module named '([^']+)'", str(e))
        return {"skip": f"{name} needs {missing[1] if missing else e} on {BACKEND}"}
    except Exception as e:  # noqa: BLE001 (a tiny config KerasHub no longer accepts)
        return {"build_error": f"{type(e).__name__}: {e}"}
    run["kernel_layers"] = [(layer.name, names) for layer, names in _kernel_layers(model)]
    before, saved = _digests(model), model.get_weights()
    try:
        report, run["warnings"] = _initialize(model)
    except Exception as e:  # noqa: BLE001 (recorded and reported by check 1)
        run["error"] = f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
        return run
    run["report"] = str(report)
    run["skipped_reasons"] = [r.skipped for r in report.skipped]
    run["rows"] = {r.layer.split("/")[-1] for r in [*report.handled, *report.skipped]}
    first = _digests(model)
    run["changed"] = [p for (p, a), (_, b) in zip(before, first, strict=True) if a != b]
    # Before any forward pass: SegFormer's and DeepLabV3's heads update their
    # BatchNormalization statistics even when called for inference.
    _, run["second_warnings"] = _initialize(model)
    run["redrawn"] = [p for (p, a), (_, b) in zip(first, _digests(model), strict=True) if a != b]
    y_init = _leaves(model(x))
    model.set_weights(saved)
    y_restored = _leaves(model(x))
    run["restored_diff"] = {
        k: float(np.max(np.abs(y_keras[k].astype("float64") - y_restored[k])))
        for k in y_keras
        # NaN where KerasHub's own start gives NaN (a tiny config's empty sums) must
        # stay NaN there, and nowhere else.
        if not np.array_equal(y_keras[k], y_restored[k], equal_nan=_floating(y_keras[k]))
    }
    run["std"] = {
        k: (float(np.std(y_keras[k])), float(np.std(y_init[k])))
        for k in y_keras
        if np.issubdtype(y_keras[k].dtype, np.floating)
    }
    del model
    return run


def _built(name: str) -> dict:
    if name not in TINY:
        pytest.skip(f"no tiny config for {name} (test_every_backbone_has_a_tiny_config)")
    run = _run(name)
    if "build_error" in run:
        pytest.fail(f"{name} does not build from its tiny config: {run['build_error']}")
    if "skip" in run:
        pytest.skip(run["skip"])
    return run


def _initialized(name: str) -> dict:
    run = _built(name)
    if run["error"] is not None:
        pytest.skip(f"initialize raised (check 1): {run['error'][:200]}")
    return run


@pytest.mark.parametrize("name", BACKBONES)
def test_every_backbone_has_a_tiny_config(name):
    if name not in TINY:
        pytest.fail(f"new backbone {name}: add a tiny config to tests/kerashub_tiny.py")


def test_every_tiny_config_names_an_exported_backbone():
    assert not set(TINY) - set(BACKBONES), set(TINY) - set(BACKBONES)


@pytest.mark.one_backend
@pytest.mark.parametrize("name", BACKBONES)
def test_1_initialize_does_not_raise(name):
    run = _built(name)
    assert run["error"] is None, run["error"]


@pytest.mark.one_backend
@pytest.mark.parametrize("name", BACKBONES)
def test_2_every_kernel_drawn_or_skipped_with_reason(name):
    run = _initialized(name)
    assert all(why.strip() for why in run["skipped_reasons"])
    missing = [layer for layer, names in run["kernel_layers"] if not names & run["rows"]]
    assert not missing, f"kernels with no report row: {missing}\n{run['report']}"


@pytest.mark.one_backend
@pytest.mark.parametrize("name", BACKBONES)
def test_3_only_kernels_change(name):
    run = _initialized(name)
    not_kernels = [p for p in run["changed"] if not p.endswith(KERNELS)]
    assert not not_kernels, f"non-kernel variables changed: {not_kernels}"


@pytest.mark.one_backend
@pytest.mark.parametrize("name", BACKBONES)
def test_4_restored_weights_give_bitwise_equal_outputs(name):
    run = _initialized(name)
    for output, (std_keras, std_init) in run["std"].items():
        print(f"{name} {output}: std KerasHub {std_keras:.4g}, initialize() {std_init:.4g}")
    assert not run["restored_diff"], f"outputs differ after set_weights: {run['restored_diff']}"


@pytest.mark.one_backend
@pytest.mark.parametrize("name", BACKBONES)
def test_5_second_call_draws_the_same_weights(name):
    run = _initialized(name)
    assert not run["redrawn"], f"a second initialize(seed=0) changed: {run['redrawn']}"


@pytest.mark.one_backend
@pytest.mark.parametrize("name", BACKBONES)
def test_6_at_most_one_warning_per_call(name):
    run = _initialized(name)
    for text in run["warnings"]:
        print(f"{name} warns: {text}")
    for call, texts in (("first", run["warnings"]), ("second", run["second_warnings"])):
        assert len(texts) <= 1, f"{len(texts)} UserWarnings on the {call} call: {texts}"
