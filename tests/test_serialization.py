"""String names, configs, and saved models that reload with identical weights and configs."""

import json
import textwrap

import keras
import numpy as np
import pytest

import keras_glorot
from keras_glorot import Glorot, GlorotLeakyNormal, GlorotLeakyUniform
from tests.conftest import BACKEND, run_python, to_numpy

ALIASES = {
    "glorot_leaky": GlorotLeakyNormal,
    "glorot_leaky_normal": GlorotLeakyNormal,
    "glorot_leaky_uniform": GlorotLeakyUniform,
    "delta_orthogonal": keras_glorot.DeltaOrthogonal,
}


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_string_names_resolve(name):
    assert type(keras.initializers.get(name)) is ALIASES[name]
    layer = keras.layers.Conv2D(8, 3, activation="leaky_relu", kernel_initializer=name)
    assert type(layer.kernel_initializer) is ALIASES[name]


def _keras_initializer_names():
    return [
        n
        for n in dir(keras.initializers)
        if not n.startswith("_") and n[0].islower() and n not in ("get", "serialize", "deserialize")
    ]


def test_no_builtin_name_is_shadowed():
    names = _keras_initializer_names()
    assert "glorot_uniform" in names and "he_normal" in names
    for name in names:
        try:
            obj = keras.initializers.get(name)
        except (KeyError, TypeError, ValueError):
            continue  # needs arguments (e.g. "constant"); ours never do, so not ours
        assert type(obj).__module__.startswith("keras."), (name, type(obj))
    for alias in ALIASES:
        assert alias not in names  # ours are new names, not replacements


CONFIGS = [
    (GlorotLeakyNormal, dict(negative_slope=0.1, seed=3)),
    (GlorotLeakyUniform, dict(negative_slope=0.0, seed=4)),
    (Glorot, dict(activation="gelu", mode="fan_in", distribution="uniform", seed=5)),
    (Glorot, dict(activation="tanh", convention="pytorch", seed=6, fan_in=9, fan_out=18)),
    (Glorot, dict(activation="relu", seed=7, input_axes=[0], output_axes=[1, 2])),
]


@pytest.mark.parametrize("cls, kwargs", CONFIGS)
def test_config_mirrors_init_and_redraws_same_values(cls, kwargs):
    init = cls(**kwargs)
    config = init.get_config()
    for key, value in kwargs.items():
        assert config[key] == value
    clone = cls.from_config(config)
    assert clone.get_config() == config
    np.testing.assert_array_equal(to_numpy(init((8, 4, 6))), to_numpy(clone((8, 4, 6))))


@pytest.mark.parametrize("cls, kwargs", CONFIGS)
def test_serialize_roundtrip_through_json(cls, kwargs):
    init = cls(**kwargs)
    payload = json.loads(json.dumps(keras.initializers.serialize(init)))
    assert payload["registered_name"] == f"keras_glorot>{cls.__name__}"
    restored = keras.initializers.deserialize(payload)
    assert type(restored) is cls
    assert restored.get_config() == init.get_config()
    np.testing.assert_array_equal(to_numpy(init((6, 5, 4))), to_numpy(restored((6, 5, 4))))


def test_glorot_config_stores_activation_by_name():
    assert Glorot(keras.activations.silu).get_config()["activation"] == "silu"
    assert Glorot(None).get_config()["activation"] == "linear"


def test_custom_registered_activation_roundtrips():
    @keras.saving.register_keras_serializable(package="tests")
    def doubled_tanh(x):
        return keras.ops.tanh(2.0 * x)

    init = Glorot(doubled_tanh, seed=1)
    restored = keras.initializers.deserialize(
        json.loads(json.dumps(keras.initializers.serialize(init)))
    )
    assert restored.gain == pytest.approx(init.gain, rel=1e-12)


def test_seed_generator_config_roundtrips():
    init = GlorotLeakyNormal(seed=keras.random.SeedGenerator(3))
    restored = GlorotLeakyNormal.from_config(init.get_config())
    assert isinstance(restored.seed, keras.random.SeedGenerator)


def build_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="leaky_relu", kernel_initializer="glorot_leaky")(
        inputs
    )
    x = keras.layers.SeparableConv2D(
        4, 3, pointwise_initializer=GlorotLeakyUniform(negative_slope=0.1, seed=2)
    )(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(5, kernel_initializer=Glorot("gelu", mode="fan_in", seed=3))(x)
    return keras.Model(inputs, x)


def initializer_configs(model) -> dict:
    out = {}
    for layer in model.layers:
        for attr in ("kernel_initializer", "pointwise_initializer"):
            if hasattr(layer, attr):
                out[f"{layer.name}.{attr}"] = keras.initializers.serialize(getattr(layer, attr))
    return out


LOADER = textwrap.dedent(
    """
    import json, sys, numpy as np, keras
    mode = sys.argv[2]
    if mode == "import":
        import keras_glorot
        model = keras.saving.load_model(sys.argv[1])
    elif mode == "custom_objects":
        import keras_glorot
        keras.saving.get_custom_objects().clear()  # as if nothing were registered
        model = keras.saving.load_model(sys.argv[1], custom_objects=keras_glorot.custom_objects())
    else:
        try:
            keras.saving.load_model(sys.argv[1])
        except Exception as e:
            print(json.dumps({"error": str(e)}))
            sys.exit(0)
        sys.exit(1)
    configs = {}
    for layer in model.layers:
        for attr in ("kernel_initializer", "pointwise_initializer"):
            if hasattr(layer, attr):
                configs[f"{layer.name}.{attr}"] = keras.initializers.serialize(getattr(layer, attr))
    weights = [np.asarray(keras.ops.convert_to_numpy(w)).tolist() for w in model.weights]
    print(json.dumps({"configs": configs, "weights": weights}))
    """
)


def load_in_fresh_process(path, mode: str) -> dict:
    result = run_python(LOADER, path, mode)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    model = build_model()
    directory = tmp_path_factory.mktemp("saved")
    paths = {"keras": directory / "model.keras", "h5": directory / "model.h5"}
    model.save(paths["keras"])
    keras.saving.save_model(model, paths["h5"])  # legacy format: still must reload
    return model, paths


@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("mode", ["import", "custom_objects"])
def test_saved_model_reloads_identically_in_fresh_process(saved_models, fmt, mode):
    model, paths = saved_models
    loaded = load_in_fresh_process(paths[fmt], mode)
    assert loaded["configs"] == json.loads(json.dumps(initializer_configs(model)))
    assert len(loaded["weights"]) == len(model.weights)
    for ours, theirs in zip(model.weights, loaded["weights"], strict=True):
        np.testing.assert_array_equal(to_numpy(ours), np.asarray(theirs, dtype=np.float32))


def test_reload_without_import_names_the_package(saved_models):
    _, paths = saved_models
    loaded = load_in_fresh_process(paths["keras"], "no_import")
    assert "keras_glorot>" in loaded["error"]


def build_named_model():
    """One Conv2D per registered string name, each named after it."""
    inputs = keras.Input((6, 6, 3))
    x = inputs
    for name in sorted(ALIASES):
        x = keras.layers.Conv2D(4, 3, padding="same", kernel_initializer=name, name=name)(x)
    return keras.Model(inputs, x)


def test_every_string_name_survives_clone_model():
    clone = keras.models.clone_model(build_named_model())
    for name, cls in ALIASES.items():
        assert type(clone.get_layer(name).kernel_initializer) is cls


NAMED_LOADER = textwrap.dedent(
    """
    import json, sys, numpy as np, keras
    import keras_glorot
    model = keras.saving.load_model(sys.argv[1])
    print(json.dumps({
        "classes": {la.name: type(la.kernel_initializer).__name__ for la in model.layers[1:]},
        "weights": [np.asarray(keras.ops.convert_to_numpy(w)).tolist() for w in model.weights],
    }))
    """
)


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_every_string_name_reloads_in_a_fresh_process(tmp_path, fmt):
    model = build_named_model()
    path = tmp_path / f"named.{fmt}"
    keras.saving.save_model(model, path)
    result = run_python(NAMED_LOADER, path, fmt)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["classes"] == {name: cls.__name__ for name, cls in ALIASES.items()}
    for ours, theirs in zip(model.weights, loaded["weights"], strict=True):
        np.testing.assert_array_equal(to_numpy(ours), np.asarray(theirs, dtype=np.float32))


def test_clone_model_keeps_initializer_types():
    model = build_model()
    clone = keras.models.clone_model(model)
    assert initializer_configs(clone) == initializer_configs(model)
    assert type(clone.layers[1].kernel_initializer) is GlorotLeakyNormal


@pytest.mark.skipif(BACKEND != "tensorflow", reason="SavedModel export needs TensorFlow")
def test_savedmodel_export_matches_model(tmp_path):
    import tensorflow as tf

    model = build_model()
    model.export(str(tmp_path / "exported"))
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype("float32")
    reloaded = tf.saved_model.load(str(tmp_path / "exported"))  # keep it alive while serving
    served = reloaded.serve(x)
    np.testing.assert_allclose(np.asarray(served), to_numpy(model(x)), rtol=1e-5, atol=1e-6)


def test_public_api_is_flat():
    for name in keras_glorot.__all__:
        assert getattr(keras_glorot, name) is not None


def test_initialized_attention_model_reloads_without_warnings(tmp_path):
    # MultiHeadAttention clones its kernel initializer per projection; on reload,
    # Keras' object-sharing scope once made key and value share one instance.
    inputs = keras.Input((6, 16))
    x = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8, name="mha")(inputs, inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    keras_glorot.initialize(model, seed=0)
    path = tmp_path / "attention.keras"
    model.save(path)
    code = textwrap.dedent(
        """
        import sys, warnings
        warnings.simplefilter("error")  # any warning fails the load
        import keras, keras_glorot
        model = keras.saving.load_model(sys.argv[1])
        mha = model.get_layer("mha")
        projections = [getattr(mha, n) for n in ("query_dense", "key_dense", "value_dense")]
        print(len({id(p.kernel_initializer.cases[0][1]) for p in projections}))
        """
    )
    result = run_python(code, path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "3"  # one initializer per projection
