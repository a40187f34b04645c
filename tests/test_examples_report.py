"""examples/cifar10_report.py on its own: it rebuilds a study's reports, and a wrong folder
is an argparse-style error naming the argument and the value, not a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "examples"))
from studylib import report as cifar10_report  # noqa: E402

SCRIPT = REPO / "examples" / "cifar10_report.py"


def run_script(*argv):
    return subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True)


@pytest.mark.parametrize("make", ["missing", "empty", "file"])
def test_a_folder_without_runs_is_a_clear_error(tmp_path, make):
    folder = tmp_path / "study"
    if make == "empty":
        folder.mkdir()
    elif make == "file":
        folder.write_text("not a folder")
    done = run_script(str(folder))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "usage:" not in done.stderr
    assert done.stderr.startswith("cifar10_report.py: error: ")
    assert f"out {folder}:" in done.stderr
    assert ("holds no runs.jsonl" if make == "empty" else "no such directory") in done.stderr


def test_bad_target_names_the_option(tmp_path, capsys):
    (tmp_path / "runs.jsonl").write_text("")
    with pytest.raises(SystemExit) as e:
        cifar10_report.main([str(tmp_path), "--target", "50"])
    assert e.value.code == 2 and "--target 50.0: must be in (0, 1]" in capsys.readouterr().err


def test_rebuilds_the_summary_skipping_a_cut_line(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    run = {"init": "he_normal", "seed": 0, "options": {"model": "vgg11"},
           "test_accuracy": [0.3, 0.55], "final_test_accuracy": 0.55, "diverged": False,
           "wall_seconds": 3.0, "images_per_second": 10.0}  # fmt: skip
    (tmp_path / "runs.jsonl").write_text(json.dumps(run) + "\n" + json.dumps(run)[:20])
    assert cifar10_report.main([str(tmp_path), "--target", "0.5"]) == 0
    assert "from 1 runs" in capsys.readouterr().out
    assert (
        "| `he_normal` | 1 | 55.00 | – | 2 (1/1) | 0/1 |" in (tmp_path / "summary.md").read_text()
    )


def test_without_matplotlib_the_summary_is_still_written(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises
    run = {"init": "lsuv", "seed": 0, "options": {}, "test_accuracy": [0.2],
           "final_test_accuracy": 0.2, "diverged": False, "wall_seconds": 1.0,
           "images_per_second": 5.0}  # fmt: skip
    cifar10_report.write_reports([run], tmp_path)
    assert "| `lsuv` | 1 | 20.00 |" in (tmp_path / "summary.md").read_text()
    assert not (tmp_path / "curves.png").exists()
    assert "matplotlib is not installed" in capsys.readouterr().err


def provenance_runs(commits, dirty):
    return [
        {"init": "he_normal", "seed": i, "options": {"model": "vgg11"},
         "test_accuracy": [0.5], "final_test_accuracy": 0.5, "diverged": False,
         "wall_seconds": 1.0, "images_per_second": 1.0, "git_commit": c, "git_dirty": d,
         "package_version": "0.1.0"}
        for i, (c, d) in enumerate(zip(commits, dirty, strict=True))
    ]  # fmt: skip


@pytest.mark.parametrize(
    "commits, dirty, problem",
    [
        (["a" * 40, "a" * 40], [False, False], None),
        (["a" * 40, "b" * 40], [False, False], "runs come from 2 commits (aaaaaaaa, bbbbbbbb)"),
        (["a" * 40, "a" * 40], [False, True], "1 run(s) ran from a tree with uncommitted"),
        ([None, "a" * 40], [None, False], "1 run(s) record no git commit"),
    ],
    ids=["clean", "mixed", "dirty", "unrecorded"],
)
def test_summary_marks_and_require_clean_refuses_mixed_or_dirty_code(
    tmp_path, commits, dirty, problem, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # the summary is what is checked
    lines = [json.dumps(r) for r in provenance_runs(commits, dirty)]
    (tmp_path / "runs.jsonl").write_text("\n".join(lines) + "\n")
    assert cifar10_report.main([str(tmp_path)]) == 0
    summary = (tmp_path / "summary.md").read_text()
    assert "Code: commit " in summary and "keras_glorot 0.1.0" in summary
    if problem is None:
        assert "Not for publication" not in summary
        assert cifar10_report.main([str(tmp_path), "--require-clean"]) == 0
        return
    assert "**Not for publication:**" in summary and problem in summary
    with pytest.raises(SystemExit) as e:
        cifar10_report.main([str(tmp_path), "--require-clean"])
    assert e.value.code == 2 and problem in capsys.readouterr().err


def accuracy_run(init, seed, acc, diverged=False):
    return {"init": init, "seed": seed, "options": {"model": "vgg11"}, "test_accuracy": [acc],
            "final_test_accuracy": acc, "diverged": diverged, "wall_seconds": 1.0,
            "images_per_second": 1.0}  # fmt: skip


def test_summary_gives_differences_paired_by_seed_against_each_baseline():
    runs = [accuracy_run("glorot_uniform", s, a) for s, a in enumerate([0.70, 0.72, 0.68, 0.6])]
    runs += [accuracy_run("he_normal", s, a) for s, a in [(0, 0.73), (2, 0.70)]]
    runs += [accuracy_run("glorot_gain", s, a) for s, a in enumerate([0.75, 0.78, 0.71])]
    runs.append(accuracy_run("glorot_gain", 3, 0.1, diverged=True))
    text = cifar10_report.summary_markdown(runs, target=0.5)
    assert "| init | − `glorot_uniform` | − `he_normal` |" in text
    # leaky − uniform over seeds 0-2 (seed 3 diverged): 5, 6, 3 points; mean 4.667, sd √(7/3),
    # 95% half-width 4.303 · √(7/3) / √3 = 3.7949.
    # leaky − he over the seeds he_normal has (0, 2): 2, 1; half-width 12.71 · 0.7071 / √2.
    leaky = "| `glorot_gain` | 4.67 ± 1.53 [0.87, 8.46] (n=3) | 1.50 ± 0.71 [-4.85, 7.85] (n=2) |"
    assert leaky in text
    # he − uniform over seeds 0, 2: 3, 2 points.
    assert "| `glorot_uniform` | – | -2.50 ± 0.71 [-8.85, 3.85] (n=2) |" in text
    assert "| `he_normal` | 2.50 ± 0.71 [-3.85, 8.85] (n=2) | – |" in text


def test_no_difference_table_without_a_baseline_or_a_second_initializer():
    one = [accuracy_run("glorot_uniform", s, 0.5 + s / 100) for s in range(3)]
    others = [accuracy_run(i, 0, 0.5) for i in ("lsuv", "initialize")]
    for runs in (one, others):
        assert "paired by seed" not in cifar10_report.summary_markdown(runs, target=0.5)
    text = cifar10_report.summary_markdown(others, target=0.5, baselines=("lsuv",))
    assert "| `initialize` | 0.00 (n=1) |" in text


def test_settings_that_differ_in_an_unlisted_option_get_distinct_headings():
    # The same study rerun with another --lr into the same folder: the headline options
    # are equal, so the heading must also name the learning rate.
    runs = [accuracy_run("he_normal", 0, 0.5), accuracy_run("he_normal", 0, 0.6)]
    runs[0]["options"] = {"model": "vgg11", "epochs": 3, "lr": 0.05, "momentum": 0.9}
    runs[1]["options"] = {"model": "vgg11", "epochs": 3, "lr": 0.01, "momentum": 0.9}
    headings = [x for x in cifar10_report.summary_markdown(runs, 0.5).splitlines()
                if x.startswith("## ")]  # fmt: skip
    assert headings == ["## model=vgg11, epochs=3, lr=0.05", "## model=vgg11, epochs=3, lr=0.01"]
    # One setting alone: nothing differs, so only the headline options.
    alone = cifar10_report.summary_markdown(runs[:1], 0.5)
    assert "## model=vgg11, epochs=3\n" in alone


def captured_figure(monkeypatch, runs):
    pytest.importorskip("matplotlib")
    import matplotlib.figure

    saved = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda fig, *a, **k: saved.append(fig))
    cifar10_report.plot_curves(runs, "unused.png", target=0.5)
    (figure,) = saved
    return [ax for ax in figure.axes if ax.axison]


def test_plot_titles_name_the_net_and_what_differs(monkeypatch):
    runs = [accuracy_run("fixup", 0, 0.3), accuracy_run("fixup", 0, 0.4)]
    runs[0]["options"] = {"net": "resnet56", "activation": "relu", "lr": 0.05}
    runs[1]["options"] = {"net": "resnet56", "activation": "relu", "lr": 0.01}
    titles = [ax.get_title() for ax in captured_figure(monkeypatch, runs)]
    assert titles == ["resnet56 relu lr=0.05", "resnet56 relu lr=0.01"]
    vgg = [accuracy_run("he_normal", 0, 0.5)]
    vgg[0]["options"] = {"model": "vgg11", "width": 0.25, "batch_norm": False,
                         "activation": "leaky_relu"}  # fmt: skip
    assert [ax.get_title() for ax in captured_figure(monkeypatch, vgg)] == [
        "vgg11 w=0.25 no BN leaky_relu"
    ]


@pytest.mark.parametrize("epochs", [1, 2, 7])
def test_epoch_ticks_are_whole_numbers(monkeypatch, epochs):
    run = accuracy_run("he_normal", 0, 0.5)
    run["test_accuracy"] = [0.1 * (e + 1) for e in range(epochs)]
    (ax,) = captured_figure(monkeypatch, [run])
    lo, hi = ax.get_xlim()
    shown = [t for t in ax.get_xticks() if lo <= t <= hi]
    assert shown and all(float(t).is_integer() for t in shown)
    assert 1 in shown and epochs in shown


def test_plural():
    assert cifar10_report.plural(1, "epoch") == "1 epoch"
    assert [cifar10_report.plural(n, "epoch") for n in (0, 2, "?")] == [
        "0 epochs", "2 epochs", "? epochs"
    ]  # fmt: skip


def test_old_initializer_names_are_read_as_todays(tmp_path):
    vgg_leaky = {"activation": "leaky_relu", "negative_slope": 0.2}  # cifar10_vgg.py's options
    rows = [
        # keras_glorot's registered name is the row's name in a leaky VGG: glorot_gain there
        # draws the same kernels.
        ("glorot_leaky", vgg_leaky, "glorot_leaky"),
        ("glorot_leaky_normal", vgg_leaky, "glorot_leaky"),
        ("glorot_gain", vgg_leaky, "glorot_leaky"),
        ("glorot_gain_uniform", vgg_leaky, "glorot_leaky_uniform"),
        ("glorot_leaky_uniform", vgg_leaky, "glorot_leaky_uniform"),
        # The leaky gain in a ReLU net is not "the gain of the activation": kept as it was.
        ("glorot_leaky", {"activation": "relu", "negative_slope": 0.2}, "glorot_leaky"),
        ("glorot_gain", {"activation": "relu", "negative_slope": 0.2}, "glorot_gain"),
        # The article's leaky nets take no slope option: their name stays glorot_gain.
        ("glorot_act", {"case": "cnn5_leaky_relu", "activation": "leaky_relu"}, "glorot_gain"),
        ("glorot_gaussian", {"net": "plain32"}, "glorot_gain_untruncated"),
        ("he_normal", vgg_leaky, "he_normal"),
    ]
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps({"init": i, "options": o}) + "\n" for i, o, _ in rows))
    assert [r["init"] for r in cifar10_report.read_runs(path)] == [new for *_, new in rows]
    assert "glorot_gain_uniform" in path.read_text()  # the records themselves are not rewritten


def test_rebuild_keeps_the_title_it_is_given(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # the summary is what is checked
    (tmp_path / "runs.jsonl").write_text(json.dumps(accuracy_run("he_normal", 0, 0.5)) + "\n")
    assert cifar10_report.main([str(tmp_path), "--title", "Deep nets: plain32_tanh"]) == 0
    assert (tmp_path / "summary.md").read_text().startswith("# Deep nets: plain32_tanh\n")
