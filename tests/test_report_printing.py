"""``print()`` of the whole-model tools' results: a table a reader can scan, not a dataclass's
fields, and a deep model's repeated blocks printed once."""

from __future__ import annotations

import re
import warnings

import keras
import numpy as np
import pytest

import keras_glorot
from keras_glorot.whole_model.report import _COLUMNS, _blocks_once
from keras_glorot.whole_model.tables import text_table


def plain_stack() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="relu", name="first"),
            keras.layers.Dense(16, activation="tanh", name="second"),
            keras.layers.Dense(4, name="last"),
        ]
    )


def batch() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(32, 8)).astype("float32")


def test_a_signal_report_prints_as_a_table_of_its_layers():
    report = keras_glorot.signal_report(plain_stack(), batch())
    lines = str(report).splitlines()
    assert lines[0].split() == [
        "#", "layer", "activation", "output", "mean", "output", "std", "predicted", "std",
        "kernel", "grad", "std",
    ]  # fmt: skip
    rows = [line.split() for line in lines[2:5]]
    assert [row[:2] for row in rows] == [["1", "first"], ["2", "second"], ["3", "last"]]
    assert rows[0][2:4] == ["relu", "(own)"]
    assert float(rows[1][-1]) == pytest.approx(report.gradient_std[1], rel=1e-3)
    assert f"output std last/first {report.activation_ratio:.3g}" in lines[5]
    assert "SignalReport(" not in str(report) and "activation_mean=" not in repr(report)


def test_a_signal_report_names_why_a_row_has_no_prediction():
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16), keras.layers.BatchNormalization(name="bn")]
    )
    text = str(keras_glorot.signal_report(model, batch()))
    row = next(line for line in text.splitlines() if " bn " in line)
    assert "- (a)" in row and "(a) no predicted std: " in text


def test_mean_field_variances_print_as_a_table_and_stay_a_list():
    predictions = keras_glorot.mean_field_variances(plain_stack())
    assert isinstance(predictions, list) and len(predictions) == 3
    lines = str(predictions).splitlines()
    assert lines[0].split() == ["#", "layer", "activation", "q", "mean", "std", "note"]
    assert lines[2].split()[:2] == ["1", "first"] and "MeanFieldLayer(" not in str(predictions)
    assert str(predictions[0]).startswith(f"first: q {predictions[0].q:.4g}, mean ")


def test_a_kernel_record_prints_as_one_line():
    record = keras_glorot.initialize(plain_stack(), seed=0).records[0]
    assert str(record) == (
        f"first (Dense) kernel: relu (own); fan_in 8, fan_out 16, gain 1.414, std {record.std:.4g}"
    )


class Block(keras.layers.Layer):
    """A pre-norm residual MLP block: LayerNormalization, Dense(relu), Dense, added."""

    def __init__(self, width: int, **kwargs):
        super().__init__(**kwargs)
        self.norm = keras.layers.LayerNormalization(name="norm")
        self.up = keras.layers.Dense(2 * width, activation="relu", name="up")
        self.down = keras.layers.Dense(width, name="down")

    def build(self, shape):
        self.norm.build(shape)
        self.up.build(shape)
        self.down.build((*shape[:-1], self.up.units))

    def call(self, x):
        return x + self.down(self.up(self.norm(x)))


def block_stack(activations: list[str]) -> keras.Model:
    inputs = keras.Input((16,))
    x = inputs
    for k, activation in enumerate(activations):
        block = Block(16, name=f"block_{k}")
        block.up.activation = keras.activations.get(activation)
        x = block(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(x))


def summary_rows(report) -> list[tuple[str, str]]:
    """``(blocks, note)`` of the rows that stand for repeated blocks in ``print(report)``."""
    return [(row[0], row[-1]) for row in _blocks_once(report._rows()) if row[-1].startswith("as ")]


def test_repeated_blocks_print_once_and_a_different_block_in_full():
    model = block_stack(["relu"] * 4 + ["tanh"] + ["relu"] * 3)
    report = keras_glorot.initialize(model, seed=0)
    # The blocks' notes name their own merge (add, add_1, ...): numbers aside.
    assert summary_rows(report) == [
        ("block_1 to block_3", "as block_0, numbers in notes aside"),
        ("block_5 to block_7", "as block_0, numbers in notes aside"),
    ]
    text = str(report)
    assert text.count("as block_0,") == 2 and "block_2/" not in text
    # Block 4 (tanh) is printed whole, its name above its rows.
    assert re.search(r"^block_4/\n\s+norm .*\n(.*\n)*?\s+up .*tanh", text, re.MULTILINE)
    assert re.search(r"^head\s+Dense", text, re.MULTILINE)
    # The merges repeat with the blocks: one row says so. Keras numbers op names per
    # process (add, add_1... or add_17, add_18... after other models), so any numbers.
    assert re.search(r"^add(_\d+)? to add_\d+\s+as add(_\d+)?, repeated$", text, re.MULTILINE)


def test_the_markdown_and_the_records_keep_every_row():
    report = keras_glorot.initialize(block_stack(["relu"] * 5), seed=0)
    assert report.to_markdown().count("\n| block_") == 5 * 3
    assert len(str(report).splitlines()) < len(text_table(_COLUMNS, report._rows()))


def test_blocks_differing_only_in_a_notes_number_say_so():
    rows = [
        ["blk_0/dense", "Dense", "kernel", "relu", "8", "8", "1.414", "0.5", "std 0.0191"],
        ["blk_1/dense", "Dense", "kernel", "relu", "8", "8", "1.414", "0.5", "std 0.0203"],
        ["blk_2/dense", "Dense", "kernel", "relu", "8", "8", "1.414", "0.5", "std 0.0191"],
    ]
    assert _blocks_once(rows)[-1] == ["blk_1 to blk_2"] + [""] * 7 + [
        "as blk_0, numbers in notes aside"
    ]
    exact = _blocks_once([rows[0], rows[2]])
    assert exact[-1][-1] == "as blk_0" and exact[0] == ["blk_0/"] + [""] * 8


def test_kerashub_gpt2_prints_its_twelve_blocks_as_one():
    keras_hub = pytest.importorskip("keras_hub")
    # Width 64: GPT-2's own N(0, 0.02**2) start is not "a tenth of Keras' default", so
    # every block is redrawn alike on every backend.
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=100, num_layers=12, num_heads=2, hidden_dim=64, intermediate_dim=128,
        max_sequence_length=16,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what initialize() could not read: not this test's
        report = keras_glorot.initialize(backbone, seed=0)
    headers = [row[0] for row in _blocks_once(report._rows()) if row[0].endswith("/")]
    assert headers == ["transformer_layer_0/"]
    assert summary_rows(report) == [
        ("transformer_layer_1 to transformer_layer_11",
         "as transformer_layer_0, numbers in notes aside"),
    ]  # fmt: skip
    assert len(str(report).splitlines()) < len(text_table(_COLUMNS, report._rows())) / 4
