"""summary.md and curves.png from the runs.jsonl of a study (NumPy + matplotlib).

Also usable on its own to rebuild the reports of a results directory::

    python examples/cifar10_report.py runs/vgg11 --target 0.6
"""

from __future__ import annotations

import json
import math
import pathlib
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from .cli_args import Parser

# Options shown in a setting's heading, in this order; the rest go in a details line.
_HEADLINE = ("table", "case", "net", "model", "width", "batch_norm", "activation", "loss")
_HEADLINE += ("hidden_layers", "epochs", "subset", "backend")
TITLE = "CIFAR-10 VGG study: summary"
# The references every other initializer is compared with, seed by seed: Keras' default
# and Keras' own rectifier initializer.
BASELINES = ("glorot_uniform", "he_normal")


_NOTED: set[str] = set()


def note_once(text: str) -> None:
    """``note: text`` on stderr, once per process: a study rewrites its reports after
    every run."""
    if text not in _NOTED:
        _NOTED.add(text)
        print(f"note: {text}", file=sys.stderr)


def seed_caveat(runs: list[dict[str, Any]]) -> list[str]:
    """A paragraph for a page where some initializer of some setting has one seed only:
    one run per start measures no spread, so it can tell no start from another, nor
    confirm or refute a published claim. Empty where every row has several seeds."""
    seeds: dict[tuple[str, str], set] = {}
    for r in runs:
        seeds.setdefault((setting_key(r.get("options") or {}), r["init"]), set()).add(r["seed"])
    if not seeds or min(map(len, seeds.values())) > 1:
        return []
    return [
        "**One seed proves nothing.** Some rows rest on a single run (n=1): one seed gives no "
        "spread between runs, so a difference between two rows, or from a published number, "
        "may be chance. Run 5 or more seeds (`--seeds 5`) and read the 95% intervals and the "
        "paired differences before drawing a conclusion.",
        "",
    ]


def plural(count, word: str) -> str:
    """``"1 epoch"``, ``"3 epochs"``; a count that is not a number (``"?"``) takes the plural."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def t95(dof: int) -> float:
    """Two-sided 95% Student-t quantile for ``dof`` degrees of freedom (scipy's)."""
    from scipy.stats import t  # a summary's dependency, not the package's

    return float(t.ppf(0.975, dof))


def interval(values, fmt: str = ".4g") -> str:
    """'mean ± std [95% t-interval] (n)' of the finite values, or '–'. Numbers take the
    format ``fmt``; with the default (4 significant digits) the std takes 2."""
    v = np.array([x for x in values if x is not None and math.isfinite(x)], float)
    if not len(v):
        return "–"
    if len(v) == 1:
        return f"{v[0]:{fmt}} (n=1)"
    sd = v.std(ddof=1)
    half = t95(len(v) - 1) * sd / math.sqrt(len(v))
    mean, lo, hi = v.mean(), v.mean() - half, v.mean() + half
    sd_fmt = ".2g" if fmt == ".4g" else fmt
    return f"{mean:{fmt}} ± {sd:{sd_fmt}} [{lo:{fmt}}, {hi:{fmt}}] (n={len(v)})"


def paired(
    a_runs: list[dict[str, Any]], b_runs: list[dict[str, Any]], value, fmt: str = ".4g"
) -> str:
    """``interval`` of value(a) - value(b) over the seeds both have: a seed fixes the data
    order and augmentation, so pairing removes that share of the run-to-run spread."""
    b = {r["seed"]: value(r) for r in b_runs}
    return interval(
        (
            value(r) - b[r["seed"]]
            for r in a_runs
            if r["seed"] in b and None not in (value(r), b[r["seed"]])
        ),
        fmt,
    )


def _final_percent(run: dict[str, Any]) -> float | None:
    acc = run.get("final_test_accuracy")
    return None if acc is None or run.get("diverged") else 100 * acc


def difference_lines(
    settings: dict[str, list[dict[str, Any]]], baselines: Sequence[str]
) -> list[str]:
    """Each initializer's final accuracy minus each baseline's, paired by seed."""
    present = [b for b in baselines if settings.get(b)]
    if not present or len(settings) < 2:
        return []
    lines = [
        "Differences in final test accuracy, points, paired by seed (diverged runs "
        "excluded): mean ± std [95% t-interval] (number of seed pairs).",
        "",
        "| init | " + " | ".join(f"− `{b}`" for b in present) + " |",
        "|---|" + "---|" * len(present),
    ]
    for init, runs in settings.items():
        cells = [
            "–" if init == b else paired(runs, settings[b], _final_percent, ".2f") for b in present
        ]
        lines.append(f"| `{init}` | " + " | ".join(cells) + " |")
    return lines + [""]


def setting_key(options: dict[str, Any]) -> str:
    return json.dumps(options, sort_keys=True)


def varying_options(options: Sequence[dict[str, Any]]) -> list[str]:
    """The options whose values differ between the settings, sorted: a heading or a plot
    title that names only the usual few would repeat for two settings that differ in,
    say, the learning rate."""
    keys = sorted({k for o in options for k in o})
    return [k for k in keys if len({json.dumps(o.get(k), sort_keys=True) for o in options}) > 1]


def setting_heading(options: dict[str, Any], varying: Sequence[str]) -> str:
    """A setting's headline options, then any other option in which the settings differ."""
    keys = [k for k in _HEADLINE if k in options]
    keys += [k for k in varying if k not in _HEADLINE]
    return ", ".join(f"{k}={options.get(k)}" for k in keys)


def plot_title(options: dict[str, Any], varying: Sequence[str]) -> str:
    """A short title: VGG's model, width, batch norm and activation, or else the net or
    the table and case the runs have; then ``key=value`` for each other option in which
    the settings differ."""
    if "model" in options:
        bn = "BN" if options.get("batch_norm") else "no BN"
        shown = ["model", "width", "batch_norm", "activation"]
        words = [str(options["model"]), f"w={options.get('width')}", bn]
        words.append(str(options.get("activation")))
    else:
        shown = [k for k in ("table", "case", "net", "activation") if k in options]
        words = [str(options[k]) for k in shown]
    words += [f"{k}={options.get(k)}" for k in varying if k not in shown]
    return " ".join(words) or "all runs"


def group_runs(runs: list[dict[str, Any]]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """{setting: {init: [runs]}}, in the order first seen."""
    groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for r in runs:
        groups.setdefault(setting_key(r["options"]), {}).setdefault(r["init"], []).append(r)
    return groups


def epochs_to_target(run: dict[str, Any], target: float) -> int | None:
    """First epoch (1-based) whose test accuracy reaches ``target``; None if never."""
    for i, acc in enumerate(run.get("test_accuracy", [])):
        if acc is not None and math.isfinite(acc) and acc >= target:
            return i + 1
    return None


def init_row(init: str, runs: list[dict[str, Any]], target: float) -> str:
    """One table row: accuracy statistics, epochs to target, divergence, speed."""
    accs = np.array([r["final_test_accuracy"] for r in runs if not r["diverged"]], float)
    n, n_div = len(runs), sum(bool(r["diverged"]) for r in runs)
    if len(accs):
        mean = accs.mean()
        std = accs.std(ddof=1) if len(accs) > 1 else float("nan")
        half = t95(len(accs) - 1) * std / math.sqrt(len(accs)) if len(accs) > 1 else float("nan")
        acc = f"{100 * mean:.2f} ± {100 * std:.2f}" if len(accs) > 1 else f"{100 * mean:.2f}"
        # An accuracy lies in [0, 1]: the t-interval is clipped to that range.
        lo, hi = max(0.0, mean - half), min(1.0, mean + half)
        ci = f"[{100 * lo:.2f}, {100 * hi:.2f}]" if len(accs) > 1 else "–"
    else:
        acc, ci = "–", "–"
    hits = [e for e in (epochs_to_target(r, target) for r in runs) if e is not None]
    ett = f"{np.median(hits):g} ({len(hits)}/{n})" if hits else f"never (0/{n})"
    wall = np.mean([r["wall_seconds"] for r in runs])
    ips = np.mean([r["images_per_second"] for r in runs])
    return f"| `{init}` | {n} | {acc} | {ci} | {ett} | {n_div}/{n} | {wall:.0f} | {ips:.0f} |"


def provenance(runs: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """Which code the runs came from: a Markdown line, and the problems that make the
    table unfit to publish (runs of several commits, of a modified tree, or of no record).
    """
    commits = sorted({str(r.get("git_commit")) for r in runs})
    dirty = sum(bool(r.get("git_dirty")) for r in runs)
    unknown = sum(r.get("git_commit") is None for r in runs)
    versions = sorted({str(r["package_version"]) for r in runs if r.get("package_version")})
    problems = []
    if unknown:
        problems.append(f"{unknown} run(s) record no git commit")
    if len(commits) > 1:
        problems.append(
            f"runs come from {len(commits)} commits ({', '.join(c[:8] for c in commits)})"
        )
    if dirty:
        problems.append(f"{dirty} run(s) ran from a tree with uncommitted changes")
    line = f"Code: commit {', '.join(c[:12] for c in commits)}"
    line += f", keras_glorot {', '.join(versions)}." if versions else "."
    return line, problems


def summary_markdown(
    runs: list[dict[str, Any]],
    target: float,
    title: str = TITLE,
    baselines: Sequence[str] = BASELINES,
) -> str:
    """summary.md: one table per setting, one row per initializer, then each initializer's
    paired difference from each of ``baselines`` that has runs."""
    lines = [f"# {title}", ""]
    if not runs:
        return "\n".join(lines + ["No finished runs yet.", ""])
    code, problems = provenance(runs)
    lines += [code, ""]
    if problems:
        lines += ["**Not for publication:** " + "; ".join(problems) + ".", ""]
    lines += seed_caveat(runs)
    lines += [
        "Final test accuracy in %, mean ± sample std over seeds and the 95% t-interval of the "
        "mean, clipped to [0, 100] (diverged runs excluded); epochs to reach "
        f"{100 * target:g}% test accuracy: median over the runs that reached it (how many "
        "did). A run diverged when its loss became NaN or infinite.",
        "",
    ]
    groups = list(group_runs(runs).values())
    varying = varying_options([next(iter(s.values()))[0]["options"] for s in groups])
    for settings in groups:
        opts = next(iter(settings.values()))[0]["options"]
        head = setting_heading(opts, varying)
        rest = ", ".join(f"{k}={v}" for k, v in sorted(opts.items()) if k not in _HEADLINE)
        device = next(iter(settings.values()))[0].get("device", "?")
        lines += [f"## {head}", "", f"Device: {device}. Other options: {rest}.", ""]
        lines += [
            f"| init | runs | final test acc % | 95% CI | epochs to {100 * target:g}% "
            "| diverged | wall s/run | img/s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        lines += [init_row(init, rs, target) for init, rs in settings.items()]
        lines.append("")
        lines += difference_lines(settings, baselines)
    return "\n".join(lines)


def epoch_axis(ax, epochs: int) -> None:
    """An x axis of whole epochs 1..``epochs``, half an epoch of margin each side."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlim(0.5, epochs + 0.5)
    # One tick allowed: asked for two ticks over a 1-epoch run, the integer locator falls
    # back to fractional ones.
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel("epoch")


def legend_below(ax, columns: int = 2) -> None:
    """The legend under the axes, where it covers no point whatever the curves do."""
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=columns,
              frameon=False)  # fmt: skip


def plot_curves(
    runs: list[dict[str, Any]], path: pathlib.Path, target: float | None = None
) -> None:
    """Test accuracy against epoch: mean line and min–max band per initializer and setting,
    with the target accuracy as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    groups = list(group_runs(runs).values())
    varying = varying_options([next(iter(s.values()))[0]["options"] for s in groups])
    cols = min(2, max(1, len(groups)))
    rows = math.ceil(max(1, len(groups)) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 4.4 * rows), squeeze=False)
    for ax, settings in zip(axes.flat, groups, strict=False):
        opts = next(iter(settings.values()))[0]["options"]
        most = 1  # epochs of the longest curve drawn
        for init, rs in settings.items():
            curves = [r["test_accuracy"] for r in rs if not r["diverged"] and r["test_accuracy"]]
            div = sum(bool(r["diverged"]) for r in rs)
            label = f"{init} (n={len(curves)}{f', {div} diverged' if div else ''})"
            if not curves:
                ax.plot([], [], label=label)
                continue
            length = min(len(c) for c in curves)
            most = max(most, length)
            a = 100 * np.array([c[:length] for c in curves], float)
            epochs = np.arange(1, length + 1)
            (line,) = ax.plot(epochs, a.mean(0), marker="o", ms=3, label=label)
            ax.fill_between(epochs, a.min(0), a.max(0), color=line.get_color(), alpha=0.2)
        ax.set_title(plot_title(opts, varying), fontsize=10)
        if target is not None:
            ax.axhline(100 * target, color="gray", ls="--", lw=0.8)
        epoch_axis(ax, most)
        ax.set_ylabel("test accuracy %")
        ax.grid(alpha=0.3)
        legend_below(ax)
    for ax in list(axes.flat)[len(groups) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


# The study scripts' initializer names before 0.2.0, read as today's. runs.jsonl keeps
# what each run recorded; every report, and the resume check (its key holds the name), sees
# the current name, so published tables regenerate and reruns skip what is done. Today's
# names: glorot_gain is keras_glorot.Glorot(act), Glorot's fans with the gain of the
# activation that follows, truncated normal; glorot_gain_uniform and
# glorot_gain_untruncated draw it uniform and untruncated normal.
RENAMED_INITS = {
    "glorot_act": "glorot_gain",  # article_tables.py
    "Glorot(act)": "glorot_gain",  # signal_propagation.py
    "glorot_gaussian": "glorot_gain_untruncated",  # depth.py
    "glorot_leaky_normal": "glorot_leaky",  # keras_glorot's two names of GlorotLeakyNormal
}
# In a net of cifar10_vgg.py whose activation is leaky_relu, keras_glorot.Glorot with the
# net's activation and slope (glorot_gain) is keras_glorot's registered glorot_leaky, the
# same class of draw with the same seeds: the same kernels, bit for bit. Such runs go by
# the package's name. In another net the leaky names draw a gain not the activation's and
# keep their own name. (Only that study gives its initializers the net's --negative-slope:
# a run's options hold it.)
LEAKY_NET_INITS = {
    "glorot_gain": "glorot_leaky",
    "glorot_gain_uniform": "glorot_leaky_uniform",
}


def current_init_name(init: str, options: dict[str, Any]) -> str:
    """``init`` as the scripts name it today (see ``RENAMED_INITS``, ``LEAKY_NET_INITS``)."""
    init = RENAMED_INITS.get(init, init)
    if options.get("activation") == "leaky_relu" and "negative_slope" in options:
        return LEAKY_NET_INITS.get(init, init)
    return init


def read_runs(path: pathlib.Path) -> list[dict[str, Any]]:
    """All complete lines of runs.jsonl (a line cut by a crash is ignored), each
    initializer under its current name."""
    if not path.exists():
        return []
    runs = []
    for line in path.read_text().splitlines():
        try:
            run = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(run, dict) and "init" in run:
            run["init"] = current_init_name(run["init"], run.get("options") or {})
        runs.append(run)
    return runs


def write_reports(
    runs: list[dict[str, Any]],
    out: pathlib.Path,
    target: float = 0.5,
    title: str = TITLE,
    baselines: Sequence[str] = BASELINES,
) -> None:
    """Rewrite OUT/summary.md and OUT/curves.png from all finished runs."""
    (out / "summary.md").write_text(summary_markdown(runs, target, title, baselines))
    if not runs:
        return
    try:
        import matplotlib  # noqa: F401
    except ImportError:  # a bare GPU machine: the numbers matter more than the plot
        note_once("matplotlib is not installed, so no plot is written (pip install matplotlib).")
        return
    plot_curves(runs, out / "curves.png", target)


def main(argv: Sequence[str] | None = None) -> int:
    p = Parser(description="Rebuild summary.md and curves.png of a study.")
    p.add_argument("out", help="the study's results directory, holding runs.jsonl")
    p.add_argument(
        "--target",
        type=float,
        default=0.5,
        help="test accuracy in (0, 1] for the epochs-to-target column (default: %(default)s)",
    )
    p.add_argument(
        "--baselines",
        nargs="+",
        default=list(BASELINES),
        metavar="INIT",
        help="initializers the others are compared with, paired by seed (default: %(default)s)",
    )
    p.add_argument("--title", default=TITLE, help="the summary's heading (default: %(default)s)")
    p.add_argument(
        "--require-clean",
        action="store_true",
        help="refuse (exit 2) when the runs come from several commits or a modified tree",
    )
    args = p.parse_args(argv)
    out = pathlib.Path(args.out)
    if not out.is_dir():
        p.error(f"out {args.out}: no such directory (give the --out of a cifar10_vgg.py study).")
    if not (out / "runs.jsonl").is_file():
        p.error(f"out {args.out}: holds no runs.jsonl (give the --out of a cifar10_vgg.py study).")
    if not 0 < args.target <= 1:
        p.error(f"--target {args.target}: must be in (0, 1].")
    runs = read_runs(out / "runs.jsonl")
    problems = provenance(runs)[1]
    if args.require_clean and problems:
        p.error(f"out {args.out}: " + "; ".join(problems) + ".")
    write_reports(runs, out, target=args.target, title=args.title, baselines=args.baselines)
    print(f"wrote {out / 'summary.md'} and {out / 'curves.png'} from {len(runs)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
