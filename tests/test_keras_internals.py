"""The private Keras parts the package relies on, each checked by name, and the string
names' registration on every route Keras has taken."""

import importlib
import pathlib
import re
import textwrap
import warnings

import keras
import numpy as np
import pytest

import keras_glorot
from keras_glorot import GlorotLeakyNormal, keras_internals
from tests.conftest import run_python, to_numpy


@pytest.mark.parametrize("part", keras_internals.PRIVATE_PARTS, ids=lambda p: p.name[:60])
def test_private_part_is_there(part):
    try:
        part.check()
    except Exception as err:  # the message names the part, for whoever upgrades Keras
        pytest.fail(
            f"Keras {keras.__version__} no longer has {part.name!r}, which keras_glorot "
            f"uses for {part.used_for}: {type(err).__name__}: {err}"
        )


def test_no_private_keras_import_outside_the_internals_module():
    package = keras_glorot.__path__[0]
    offenders = [
        str(path.relative_to(package))
        for path in pathlib.Path(package).rglob("*.py")
        if path.name != "keras_internals.py"
        and any(
            line.lstrip().startswith(("from keras.src", "import keras.src"))
            or 'import_module("keras.src' in line
            for line in path.read_text().splitlines()
        )
    ]
    assert offenders == []


class _Fresh(keras.initializers.Initializer):
    def __call__(self, shape, dtype=None):
        return keras.ops.zeros(shape, dtype=dtype)


def _string_get_ignoring_custom_objects(table):
    """``keras.initializers.get`` as Keras >= 3.16 has it: a string is looked up in
    Keras' own table alone."""

    def get(identifier):
        if isinstance(identifier, str):
            cls = table.get(identifier)
            if cls is None:
                raise ValueError(f"Could not interpret initializer identifier: {identifier}")
            return cls()
        return keras.initializers.deserialize(identifier)

    return get


@pytest.fixture
def registry(monkeypatch):
    """Keras' two registries, put back as they were after the test."""
    custom = keras.saving.get_custom_objects()
    saved_custom = dict(custom)
    try:
        table = keras_internals._initializer_table()
        saved_table = dict(table)
    except (ImportError, AttributeError):
        table = saved_table = None
    yield
    custom.clear()
    custom.update(saved_custom)
    if table is not None:
        table.clear()
        table.update(saved_table)


def _get_reads_custom_objects() -> bool:
    keras.saving.get_custom_objects()["kg_probe"] = _Fresh
    try:
        return isinstance(keras.initializers.get("kg_probe"), _Fresh)
    except ValueError:
        return False


def test_registration_takes_the_public_route_where_keras_reads_it(registry):
    table = keras_internals._initializer_table()
    before = dict(table)
    keras_internals.register_initializer_names({"kg_fresh_public": _Fresh})
    assert isinstance(keras.initializers.get("kg_fresh_public"), _Fresh)
    assert keras.initializers.deserialize({"class_name": "kg_fresh_public", "config": {}})
    assert keras.saving.get_custom_objects()["kg_fresh_public"] is _Fresh
    if _get_reads_custom_objects():
        assert table == before  # Keras' private table untouched
    else:
        assert table["kg_fresh_public"] is _Fresh


def test_registration_reaches_a_keras_whose_get_reads_its_own_table_only(registry, monkeypatch):
    table = keras_internals._initializer_table()
    monkeypatch.setattr(keras.initializers, "get", _string_get_ignoring_custom_objects(table))
    keras_internals.register_initializer_names({"kg_fresh_table": _Fresh})
    assert table["kg_fresh_table"] is _Fresh
    assert isinstance(keras.initializers.get("kg_fresh_table"), _Fresh)


def test_registration_fails_loudly_naming_the_keras_version_when_the_table_moved(
    registry, monkeypatch
):
    table = keras_internals._initializer_table()
    monkeypatch.setattr(keras.initializers, "get", _string_get_ignoring_custom_objects(table))
    monkeypatch.delattr(importlib.import_module("keras.src.initializers"), "ALL_OBJECTS_DICT")
    version = re.escape(keras.__version__)
    with pytest.raises(RuntimeError, match=rf"kg_fresh_moved.*Keras {version}.*has moved"):
        keras_internals.register_initializer_names({"kg_fresh_moved": _Fresh})


@pytest.mark.parametrize("name", ["glorot_uniform", "he_normal", "orthogonal", "normal"])
def test_registration_never_shadows_a_keras_name_and_writes_nothing(registry, name):
    custom = dict(keras.saving.get_custom_objects())
    with pytest.raises(ValueError, match=rf"{name!r}.*Refusing to shadow"):
        keras_internals.register_initializer_names({"kg_fresh_ok": _Fresh, name: _Fresh})
    assert dict(keras.saving.get_custom_objects()) == custom  # all or nothing
    assert type(keras.initializers.get(name)).__module__.startswith("keras.")


def test_registration_refuses_a_name_someone_else_registered(registry):
    keras.saving.get_custom_objects()["kg_taken"] = keras.initializers.Zeros
    with pytest.raises(ValueError, match="'kg_taken'.*registered for"):
        keras_internals.register_initializer_names({"kg_taken": _Fresh})


def test_registration_is_idempotent_across_importlib_reload():
    code = textwrap.dedent(
        """
        import importlib, keras
        import keras_glorot
        import keras_glorot.initializers as initializers
        importlib.reload(keras_glorot)
        importlib.reload(initializers)  # new class objects, same names
        importlib.reload(keras_glorot)
        for name, cls in initializers.ALIASES.items():
            assert type(keras.initializers.get(name)) is cls, name
            layer = keras.layers.Dense(2, kernel_initializer=name)
            assert type(layer.kernel_initializer) is cls, name
        print("ok")
        """
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def test_weight_owner_finds_the_layer_building_the_kernel():
    seen = []

    def initializer(shape, dtype=None):
        seen.append(keras_internals.weight_owner())
        return keras.ops.zeros(shape, dtype=dtype)

    layer = keras.layers.EinsumDense("ab,bc->ac", output_shape=3, kernel_initializer=initializer)
    layer.build((2, 4))
    assert seen == [layer]


def test_einsum_kernel_drawn_after_build_gets_its_true_fans_or_a_warning(monkeypatch):
    """Keras defers a draw inside a StatelessScope: on Keras < 3.15 the layer is then
    unknown to the initializer, which says so once instead of using shape fans quietly;
    from 3.15 Keras passes the axes and nothing is said."""
    # The warning is given once per process: as if no draw had warned before this one.
    monkeypatch.setattr(keras_glorot.initializers, "_warned_unknown_layer", False)
    init = GlorotLeakyNormal(seed=4)
    layer = keras.layers.EinsumDense("abc,cde->abde", output_shape=(None, 8, 64))
    layer.kernel_initializer = init
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with keras.StatelessScope():
            layer.build((2, 5, 256))
        w = to_numpy(layer.kernel)
    ours = [c for c in caught if "keras_glorot" in str(c.message)]
    true_std = np.sqrt(4 / (1.04 * (256 + 512)))
    se = true_std / np.sqrt(2 * w.size)  # standard error of a sample std, kurtosis <= 3
    if keras_internals.EINSUM_AXES_FROM_KERAS:
        assert ours == []
        assert abs(w.std() - true_std) < 5 * se
    else:
        assert len(ours) == 1
        message = str(ours[0].message)
        assert "kernel" in message and "keras>=3.15" in message and "(256, 8, 64)" in message


def test_docs_list_every_private_part_and_the_versions_checked():
    doc = (pathlib.Path(__file__).parents[1] / "docs" / "keras_versions.md").read_text()
    plain = doc.replace("`", "")
    for part in keras_internals.PRIVATE_PARTS:
        assert part.used_for in plain, part.name
    for version in keras_internals.CHECKED_ON:
        assert version in doc, version
