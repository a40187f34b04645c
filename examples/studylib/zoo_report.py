"""``OUT/zoo.md`` and ``OUT/zoo.png``: the zoo's runs, one row per net.

Each row: the net, its recipe, the three starts' final results (mean ± std over seeds),
``initialize`` − Keras' default paired by seed with its 95% t-interval, and a verdict:
*better* or *worse* where that interval excludes 0, else *level*. Classifiers are scored
by final test accuracy (%); the language model by validation bits per byte (its
cross-entropy in nats over ln 2; lower is better, so its difference is Keras' minus
``initialize``'s and a positive difference is better there too).
"""

from __future__ import annotations

import argparse
import math
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from nets import LABELS, NUM_CLASSES, ON_REQUEST, Net, Recipe, starts_of

from .report import interval, read_runs, t95

VERDICTS = ("better", "level", "worse")


def score(net: Net, run: dict[str, Any]) -> float | None:
    """The run's result in the net's unit: test accuracy %, or bits per byte."""
    if run.get("diverged"):
        return None
    if net.data == "kjv":
        losses = run.get("test_loss") or []
        return losses[-1] / math.log(2) if losses else None
    acc = run.get("final_test_accuracy")
    return None if acc is None else 100 * acc


def chance(net: Net) -> float:
    """The score of a net that learned nothing: 10% test accuracy on CIFAR-10's ten classes,
    8 bits per byte for the language model (all 256 bytes alike)."""
    return 8.0 if net.data == "kjv" else 100 / NUM_CLASSES


def trained(net: Net, value: float | None) -> bool:
    """Whether a run's (or a mean) result is better than chance: a run that did not diverge
    but ended at or below chance has not trained."""
    if value is None or not math.isfinite(value):
        return False
    return value < chance(net) if net.data == "kjv" else value > chance(net)


def unit(net: Net) -> str:
    return "bits/byte" if net.data == "kjv" else "test acc %"


def gain(net: Net, ours: dict[str, Any], theirs: dict[str, Any]) -> float | None:
    """How much better ``ours`` ended than ``theirs`` (points, or bits saved)."""
    a, b = score(net, ours), score(net, theirs)
    if a is None or b is None:
        return None
    return b - a if net.data == "kjv" else a - b


def paired_gain(net: Net, ours: list[dict], theirs: list[dict]) -> tuple[float, float, float, int]:
    """Mean and 95% t-interval of ``gain`` over the seeds both starts ran; a seed on which
    only ``theirs`` diverged counts as ours better (+inf), and the other way round -inf."""
    by_seed = {r["seed"]: r for r in theirs}
    diffs = []
    for r in ours:
        other = by_seed.get(r["seed"])
        if other is None:
            continue
        g = gain(net, r, other)
        if g is None:
            a, b = score(net, r), score(net, other)
            g = math.nan if (a is None) == (b is None) else math.inf if b is None else -math.inf
        diffs.append(g)
    d = np.array([x for x in diffs if not math.isnan(x)], float)
    if len(d) < 2 or not np.all(np.isfinite(d)):
        mean = float(d.mean()) if len(d) else math.nan
        return mean, mean, mean, len(d)
    half = t95(len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half), len(d)


def difference(
    mean: float, low: float, high: float, pairs: int,
    ours: str = "`initialize()`", theirs: str = "Keras' default",
    survivor: str | None = None,
) -> str:  # fmt: skip
    """'+mean [low, high] (n=pairs)'; one pair has no interval. An infinite mean is a
    divergence on at least one seed: said in words, since it has no size. ``survivor``:
    where the start that did not diverge did not train either, its result ('7.81%,
    chance 10%'), said instead of 'trained'."""
    if math.isnan(mean):
        return "–"
    if math.isinf(mean):
        lost, won = (theirs, ours) if mean > 0 else (ours, theirs)
        if survivor:
            return f"{lost} diverged, {won} ended at {survivor}: neither trained (n={pairs})"
        return f"{lost} diverged, {won} trained (n={pairs})"
    if pairs < 2:
        return f"{mean:+.2f} (n={pairs})"
    return f"{mean:+.2f} [{low:+.2f}, {high:+.2f}] (n={pairs})"


def verdict(low: float, high: float, pairs: int) -> str:
    """better / worse where the 95% interval excludes 0; no verdict from one pair."""
    if pairs < 2 or math.isnan(low):
        return "–"
    return "better" if low > 0 else "worse" if high < 0 else "level"


def _runs_of(case: argparse.Namespace) -> list[dict[str, Any]]:
    """The runs of this case's setting (recipe and backend) and seeds."""
    from . import study

    wanted = study.run_options(case)
    runs = read_runs(pathlib.Path(case.out) / "runs.jsonl")
    return [r for r in runs if r["options"] == wanted and r["seed"] in case.seeds]


def _mean(values) -> float | None:
    v = [x for x in values if x is not None and math.isfinite(x)]
    return float(np.mean(v)) if v else None


def _fmt(x: float | None, spec: str = ".3g") -> str:
    return "–" if x is None else f"{x:{spec}}"


def _code(run: dict[str, Any]) -> str:
    """The commit a run was trained at (and whether the tree was dirty), with its backend."""
    dirty = "+dirty" if run.get("git_dirty") else ""
    return f"{(run.get('git_commit') or 'unknown')[:7]}{dirty} ({run['backend']})"


def table(
    args: argparse.Namespace, nets: list[Net], case_args: Callable
) -> tuple[str, dict[str, list]]:
    """The Markdown of OUT/zoo.md and what its plots need: by file name (``zoo.png``,
    ``variants.png``), one ``(title, {legend: gains over Keras' default by seed}, note)``
    per row."""
    rows, plot, variants, alternatives, variant_plot = [], [], [], [], []
    header = [
        "| net | recipe | Keras' default | `initialize()` | alternative | `initialize()` − "
        "Keras, paired [95% CI] | verdict | last/first std at init (Keras → ours) | "
        "start s / build s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    provenance, variant_provenance = set(), set()
    for net in nets:
        case = case_args(args, net)
        runs = _runs_of(case)
        if not runs:
            continue
        by_start = {s: [r for r in runs if r["init"] == s] for s in starts_of(net)}
        for r in runs:
            (provenance if r["init"] in starts_of(net) else variant_provenance).add(_code(r))
        cells = []
        for s in starts_of(net):
            rs = by_start[s]
            scores = [score(net, r) for r in rs]
            diverged = sum(x is None for x in scores)
            text = interval(scores, ".2f").split(" [")[0] if rs else "–"
            text = text.replace(" (n=1)", "")
            cells.append(text + (f", {diverged}/{len(rs)} diverged" if diverged else ""))
        mean, low, high, n = paired_gain(net, by_start["initialize"], by_start["keras"])
        survivor = None
        if math.isinf(mean):  # one start diverged: did the other train?
            alive = by_start["initialize"] if mean > 0 else by_start["keras"]
            result = _mean(score(net, r) for r in alive)
            if not trained(net, result):
                suffix = " bits/byte" if net.data == "kjv" else "%"
                survivor = f"{_fmt(result, '.2f')}{suffix}, chance {chance(net):g}{suffix}"
        ci = difference(mean, low, high, n, survivor=survivor)
        said = "neither trained" if survivor else verdict(low, high, n)
        # A control that explains the gain: Keras' own initializers drawn again after the
        # build. Where initialize() beats Keras' default but not that redrawn start, the
        # gain is the draws', and the verdict says so.
        control = [r for r in runs if r["init"] == ON_REQUEST["redrawn"]]
        if control and said == "better":
            c_mean, c_low, c_high, c_n = paired_gain(net, by_start["initialize"], control)
            if verdict(c_low, c_high, c_n) == "level":
                said = "level with Keras' start redrawn"
        at = {s: [r.get("at_init", {}) for r in by_start[s]] for s in starts_of(net)}
        ratio = (
            f"{_fmt(_mean(a.get('activation_ratio') for a in at['keras']))} → "
            f"{_fmt(_mean(a.get('activation_ratio') for a in at['initialize']))}"
        )
        seconds = (
            f"{_fmt(_mean(a.get('start_seconds') for a in at['initialize']), '.2f')} / "
            f"{_fmt(_mean(a.get('build_seconds') for a in at['initialize']), '.2f')}"
        )
        rows.append(
            f"| {net.title} ({unit(net)}) | {_recipe(case)} "
            f"| {cells[0]} | {cells[1]} | `{net.alternative}`: {cells[2]} | {ci} "
            f"| {said} | {ratio} | {seconds} |"
        )
        keras = by_start["keras"]
        lost = sum(score(net, r) is None for r in by_start["keras"])
        plot.append((net.title, {
            "initialize()": _over_keras(net, by_start["initialize"], keras),
            "the net's alternative": _over_keras(net, by_start[net.alternative], keras),
        }, f"Keras' default diverged ({lost}/{len(by_start['keras'])} seeds); "
           f"{interval_text(net, by_start)}" if lost else ""))  # fmt: skip
        if by_start[net.alternative]:
            alternatives.append(_against_defaults(net, net.alternative, by_start))
        for variant in ON_REQUEST.values():
            theirs = [r for r in runs if r["init"] == variant]
            if theirs:
                variants.append(_against_defaults(net, variant, {**by_start, variant: theirs}))
                variant_plot.append((f"{net.title}:\n{LABELS.get(variant, variant)}", {
                    "initialize()": _over_keras(net, by_start["initialize"], keras),
                    "the option": _over_keras(net, theirs, keras),
                }, ""))  # fmt: skip
    lines = [
        "Per net, over seeds (paired by seed: a seed fixes the data order, augmentation and "
        "dropout of every start): the final result as mean ± std (test accuracy in %, or "
        "validation bits per byte for the language model, lower better), the difference "
        "`initialize()` − Keras' default in points (for bits per byte, Keras' minus ours: "
        "positive is better everywhere) with its 95% t-interval, the verdict (better or worse "
        "where the interval excludes 0, else level; 'level with Keras' start redrawn' where "
        "Keras' own initializers drawn again with fresh seeds, the control below, end level "
        "with `initialize()`: the gain over Keras' default is then the draws', not "
        "`initialize()`'s; where one start diverged, the other 'trained' only if it ended "
        "better than chance, else 'neither trained'), the last kernel layer's output std over the "
        "first's at initialization on 64 training examples (`signal_report`, inference "
        "mode), and the seconds `initialize()` took next to the seconds the model took to "
        "build.",
        "",
        f"Code: {', '.join(sorted(provenance)) or 'no runs yet'}.",
        "",
        *header,
        *rows,
        "",
    ]
    if alternatives:
        lines += [
            "Each row's alternative against the two defaults, paired by seed:",
            "",
            "| net | alternative | result | − `initialize()` [95% CI] "
            "| − Keras' default [95% CI] |",
            "|---|---|---|---|---|",
            *alternatives,
            "",
        ]
    if variants:
        lines += [
            '`initialize()` with one option changed: `mode="fan_in"` (the variance over '
            'fan_in alone, instead of Glorot\'s fan average), `distribution="uniform"` '
            "(the shape of Keras' glorot_uniform, instead of the truncated normal) or "
            '`explicit="keep"` (kernels whose layers were given an initializer kept as '
            "built, instead of redrawn); "
            "Keras' own start drawn again with fresh seeds (a control for the draws); and, "
            "in a KerasHub transformer, Keras' start with one of initialize()'s changes "
            "alone (its draws for that group of kernels only) or `initialize()` without "
            "one of them (Keras' draws for that group); each "
            "against the default and against Keras' default, paired by seed:",
            "",
            f"Code: {', '.join(sorted(variant_provenance))}.",
            "",
            "| net | option | result | − `initialize()` [95% CI] | − Keras' default [95% CI] |",
            "|---|---|---|---|---|",
            *variants,
            "",
        ]
    return "\n".join(lines), {"zoo.png": plot, "variants.png": variant_plot}


def _over_keras(net: Net, runs: list[dict], keras: list[dict]) -> list[float | None]:
    """Each run's gain over Keras' default run of its seed (seeds Keras lacks left out)."""
    by_seed = {r["seed"]: r for r in keras}
    return [gain(net, r, by_seed[r["seed"]]) for r in runs if r["seed"] in by_seed]


def _against_defaults(net: Net, start: str, by_start: dict[str, list]) -> str:
    """A table row: ``start``'s result and its gain over ``initialize()`` and over Keras'
    default, each paired by seed."""
    theirs, label = by_start[start], f"`{LABELS.get(start, start)}`"
    cells = []
    for other, name in (("initialize", "`initialize()`"), ("keras", "Keras' default")):
        m, lo, hi, k = paired_gain(net, theirs, by_start[other])
        cells.append(difference(m, lo, hi, k, ours=label, theirs=name))
    scores = [score(net, r) for r in theirs]
    return (f"| {net.title} | {label} | {interval(scores, '.2f').split(' [')[0]} | "
            + " | ".join(cells) + " |")  # fmt: skip


def interval_text(net: Net, by_start: dict[str, list]) -> str:
    """'initialize() 29.8%, fixup_reference 27.3%': the other starts' mean results."""
    means = []
    suffix = " bits/byte" if net.data == "kjv" else "%"
    for s in starts_of(net)[1:]:
        m = _mean(score(net, r) for r in by_start[s])
        name = "initialize()" if s == "initialize" else s
        means.append(f"{name} {_fmt(m, '.1f')}{suffix}")
    return ", ".join(means)


def _recipe(case: argparse.Namespace) -> str:
    fields = {f: getattr(case, f) for f in Recipe.__dataclass_fields__ if hasattr(case, f)}
    return Recipe(**fields).describe()


# The least room between two tick labels of the gain axis, as a fraction of its width.
_TICK_ROOM = 0.06


def gain_ticks(ax, values: Sequence[float]) -> list[float]:
    """Sets the symlog gain axis' limits and returns its ticks, 1-2-5 per decade: the
    outermost ticks enclose every value (no point past the last tick or on the frame), and
    no two ticks are closer than ``_TICK_ROOM`` of the axis."""
    low, high = max(-min([0.0, *values]), 1.0), max([1.0, *values])
    decades = math.ceil(math.log10(max(low, high))) + 1
    steps = [s * 10.0**e for e in range(decades) for s in (1, 2, 5)]
    left, right = -next(t for t in steps if t >= low), next(t for t in steps if t >= high)
    to_axis = ax.xaxis.get_transform()  # symlog units: linear within +-2, then log
    lo, hi = to_axis.transform([left, right])
    pad = 0.04 * (hi - lo)
    ax.set_xlim(*to_axis.inverted().transform([lo - pad, hi + pad]))
    room = _TICK_ROOM * (hi - lo + 2 * pad)
    # 0 and the outer ticks stay; each inner one, outer first, where it crowds none kept.
    kept = [left, 0.0, right]
    inner = [t for t in steps if t < right] + [-t for t in steps if -t > left]
    for tick in sorted(inner, key=abs, reverse=True):
        where = to_axis.transform([tick])[0]
        if all(abs(where - to_axis.transform([k])[0]) >= room for k in kept):
            kept.append(tick)
    return sorted(kept)


def plot_zoo(plot: list, path: pathlib.Path) -> bool:
    """One panel: per row (a net, or a net with an option), two starts' gains over Keras'
    default (``initialize()``'s and the alternative's or option's), paired by seed (dots)
    and their mean (diamond), on a scale linear within ±2 points and logarithmic beyond,
    and in words where Keras' default diverged; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    two_line = any("\n" in title for title, *_ in plot)
    fig, ax = plt.subplots(figsize=(8, (0.6 if two_line else 0.45) * len(plot) + 1.4))
    colors = ("tab:blue", "tab:orange")
    beside_axis = matplotlib.transforms.blended_transform_factory(ax.transAxes, ax.transData)
    for row, (_, gains, note) in enumerate(reversed(plot)):
        if note:
            ax.text(0.01, row, note, transform=beside_axis, fontsize=7, va="center")
        for k, (start, values) in enumerate(gains.items()):
            vals = [v for v in values if v is not None]
            if not vals:
                continue
            y = row + (0.12 if k else -0.12)
            ax.scatter(vals, [y] * len(vals), s=10, color=colors[k], alpha=0.5)
            ax.scatter([np.mean(vals)], [y], marker="D", color=colors[k], label=start)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xscale("symlog", linthresh=2)
    drawn = [
        v for _, gains, _ in plot for values in gains.values() for v in values if v is not None
    ]
    ticks = gain_ticks(ax, drawn)
    ax.set_xticks(ticks, [f"{t:+g}" if t else "0" for t in ticks])
    ax.set_yticks(range(len(plot)))
    ax.set_yticklabels([title for title, *_ in reversed(plot)], fontsize=7 if two_line else 8)
    ax.set_xlabel(
        "gain over Keras' default, paired by seed\n(accuracy points; bits/byte for the LM)"
    )
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=False))
    if unique:  # above the panel, where it covers no point
        ax.legend(unique.values(), unique.keys(), loc="lower center", bbox_to_anchor=(0.5, 1.0),
                  ncol=len(unique), fontsize=8, frameon=False)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write(args: argparse.Namespace, nets: list[Net], case_args: Callable) -> list[pathlib.Path]:
    """OUT/zoo.md (and, with matplotlib, OUT/zoo.png, and OUT/variants.png where options
    were run); returns the paths written."""
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    markdown, plots = table(args, nets, case_args)
    written = [out / "zoo.md"]
    written[0].write_text("# The zoo\n\n" + markdown)
    for name, rows in plots.items():
        if rows and plot_zoo(rows, out / name):
            written.append(out / name)
    return written
