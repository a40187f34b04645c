"""What the study scripts write for a reader: plots whose ticks and legends hide nothing,
one note where one is due, a log without progress bars, and pages that say when one seed
decides nothing."""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "examples"))
from studylib import article_report, cli_args, report, zoo_report  # noqa: E402


def loss_runs(epochs: int, seeds: int = 1) -> dict[str, dict[str, list[dict]]]:
    """``{case: {init: runs}}`` as ``article_report.table_runs`` gives them."""
    inits = ("random_normal", "glorot_uniform", "glorot_leaky", "he_normal")
    return {
        case: {
            init: [{"train_loss": list(2.3 - 0.1 * np.arange(epochs) - 0.05 * k)}] * seeds
            for k, init in enumerate(inits)
        }
        for case in ("mlp", "cnn")
    }


def data_points(ax) -> np.ndarray:
    """Every marker of the axes' lines and scatters, in display (pixel) coordinates."""
    points = [line.get_xydata() for line in ax.lines if len(line.get_xdata())]
    points += [c.get_offsets() for c in ax.collections if len(c.get_offsets())]
    return ax.transData.transform(np.concatenate(points))


def assert_legend_covers_no_point(ax) -> None:
    ax.figure.canvas.draw()
    box = ax.get_legend().get_window_extent()
    covered = [p for p in data_points(ax) if box.x0 <= p[0] <= box.x1 and box.y0 <= p[1] <= box.y1]
    assert not covered


@pytest.mark.parametrize("epochs", [1, 3])
def test_table_plot_ticks_whole_epochs_and_its_legend_covers_no_point(epochs):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    fig = article_report.table_figure(loss_runs(epochs), table=1)
    try:
        for ax in fig.axes:
            lo, hi = ax.get_xlim()
            shown = [t for t in ax.get_xticks() if lo <= t <= hi]
            assert shown == list(range(1, epochs + 1))
            assert_legend_covers_no_point(ax)
    finally:
        plt.close(fig)


# The zoo's gains as they once ran past the last tick (+28.4 beside +20) and crowded +2, +3
# and +5 together.
ZOO_GAINS = [
    ("MLP", {"initialize()": [0.5, -0.3, 1.2], "alternative": [-0.2, 0.1]}, ""),
    ("VGG-16 without BN", {"initialize()": [18, 28.4, 21], "alternative": [17, 25, 20]}, ""),
    ("ResNet-110", {"initialize()": [], "alternative": []}, "Keras' default diverged"),
    ("MobileNetV2", {"initialize()": [2.5, 2.7], "alternative": [-4.3, 0.5, 1.8]}, ""),
]


@pytest.mark.parametrize("scale", [1, 30])
def test_zoo_ticks_enclose_every_point_and_keep_their_distance(scale):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    values = [scale * v for _, gains, _ in ZOO_GAINS for vs in gains.values() for v in vs]
    fig, ax = plt.subplots(figsize=(8, 3))
    try:
        ax.set_xscale("symlog", linthresh=2)
        ticks = zoo_report.gain_ticks(ax, values)
        lo, hi = ax.get_xlim()
        # No point past the last tick, none on the frame.
        assert ticks[0] <= min(values) and ticks[-1] >= max(values)
        assert lo < ticks[0] and ticks[-1] < hi
        where = ax.xaxis.get_transform().transform(ticks)
        span = np.subtract(*ax.xaxis.get_transform().transform([hi, lo]))
        assert np.diff(where).min() >= zoo_report._TICK_ROOM * span - 1e-9
        assert 0 in ticks and 3 * scale not in ticks
    finally:
        plt.close(fig)


def test_zoo_legend_covers_no_point(monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.figure

    saved = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda fig, *a, **k: saved.append(fig))
    assert zoo_report.plot_zoo(ZOO_GAINS, tmp_path / "zoo.png")
    assert_legend_covers_no_point(saved[0].axes[0])


def test_without_matplotlib_a_study_notes_it_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises
    monkeypatch.setattr(report, "_NOTED", set())
    run = {"init": "he_normal", "seed": 0, "options": {}, "test_accuracy": [0.2],
           "final_test_accuracy": 0.2, "diverged": False, "wall_seconds": 1.0,
           "images_per_second": 5.0}  # fmt: skip
    for _ in range(4):  # a study rewrites its reports after each of its runs
        report.write_reports([run], tmp_path)
    assert capsys.readouterr().err.count("matplotlib is not installed") == 1


@pytest.mark.parametrize("terminal, is_tty, default", [(1, True, 1), (1, False, 2), (2, True, 2)])
def test_verbose_defaults_to_a_line_per_epoch_where_output_is_no_terminal(
    terminal, is_tty, default, monkeypatch
):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: is_tty)
    parser = argparse.ArgumentParser()
    cli_args.add_verbose_argument(parser, terminal=terminal)
    assert parser.parse_args([]).verbose == default
    shown = parser.format_help().replace("\n", " ")
    assert ("file or pipe" in " ".join(shown.split())) == (terminal != 2)


def accuracy_run(init: str, seed: int, options: dict | None = None) -> dict:
    return {"init": init, "seed": seed, "options": options or {"model": "vgg11"},
            "test_accuracy": [0.5], "final_test_accuracy": 0.5, "diverged": False,
            "wall_seconds": 1.0, "images_per_second": 1.0}  # fmt: skip


def test_a_summary_of_one_seed_says_that_it_proves_nothing():
    one_seed = [accuracy_run(init, 0) for init in ("glorot_uniform", "he_normal")]
    assert "One seed proves nothing" in report.summary_markdown(one_seed, target=0.5)
    five_seeds = [accuracy_run(i, s) for i in ("glorot_uniform", "he_normal") for s in range(5)]
    assert "One seed proves nothing" not in report.summary_markdown(five_seeds, target=0.5)
    # A single row on one seed is enough to say it.
    assert "One seed proves nothing" in report.summary_markdown(
        five_seeds + [accuracy_run("lsuv", 0)], target=0.5
    )


def test_an_article_table_of_one_seed_says_that_it_proves_nothing(monkeypatch, tiny_cifar_npz):
    import article_tables

    runs = {"mlp": {i: [accuracy_run(i, 0, {"table": 1, "case": "mlp"})]
                    for i in ("random_normal", "glorot_uniform")}}  # fmt: skip
    for by_init in runs.values():
        for rs in by_init.values():
            rs[0]["train_loss"] = [2.0]
    monkeypatch.setattr(article_report, "table_runs", lambda args, table: runs)
    args = article_tables.parse_args(["--table", "1", "--npz", str(tiny_cifar_npz), "--seeds", "1"])
    text = article_report.table_markdown(args, 1)
    assert "One seed proves nothing" in text
    assert text.index("One seed proves nothing") < text.index("| case | init |")
