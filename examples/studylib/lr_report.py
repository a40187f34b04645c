"""``OUT/learning_rates.md`` and ``OUT/NET_rates.png``: the zoo's nets trained at their
recipe's peak rate times several factors (``zoo.py --lr-scales``), from each start.

Per net and start: the result at each rate (mean over seeds, each seed's value beside it),
the best of them, the rates whose mean ends within ``TOLERANCE`` of that best (2 accuracy
points; 0.1 bits per byte for the language model), and the runs that diverged or ended
within ``AT_CHANCE`` of chance. A rate counts only if none of its seeds diverged, so a
start's range is the set of rates it trains at nearly as well as at its best one; its stable
rates, those at which no seed failed, however well they ended.
"""

from __future__ import annotations

import argparse
import math
import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np
from nets import LABELS, NUM_CLASSES, ON_REQUEST, Net, starts_of

from .zoo_report import (
    _code,
    _recipe,
    _runs_of,
    chance,
    difference,
    gain,
    paired_gain,
    score,
    trained,
    unit,
    verdict,
)  # fmt: skip

# How far below its best a start may end at a rate and still count as training there.
TOLERANCE = {"cifar10": 2.0, "kjv": 0.1}
# A run that ends within this of chance learned nothing: the first 5,000 test images are
# not exactly 10% of each class, so a net that predicts one class can score 10.2%.
AT_CHANCE = {"cifar10": 1.0, "kjv": 0.1}
# Nats: a final training loss this close to a uniform guess's is one (ln 10 = 2.3026; the
# runs that learned least ended at 2.17 or below, those that learned nothing at 2.299-2.303).
UNIFORM_MARGIN = 0.01


def learned(net: Net, value: float | None) -> bool:
    """Whether a result (a run's or a mean) is clearly better than chance."""
    if not trained(net, value):
        return False
    return abs(value - chance(net)) > AT_CHANCE[net.data]


def stuck(net: Net, run: dict[str, Any]) -> bool:
    """Whether a run ended with the training loss of a uniform guess, ln(classes): within
    ``UNIFORM_MARGIN`` of ln 10 on CIFAR-10 (of ln 256 per byte on text). Such a net learned
    nothing, even where a slight lean to one class puts its test accuracy 2-3 points above
    10%."""
    losses = run.get("train_loss") or []
    classes = 256 if net.data == "kjv" else NUM_CLASSES
    return bool(losses) and losses[-1] >= math.log(classes) - UNIFORM_MARGIN


def _label(start: str) -> str:
    if start == "keras":
        return "Keras' default"
    if start == "initialize":
        return "`initialize()`"
    return f"`{LABELS.get(start, start)}`"


def _starts(args: argparse.Namespace, net: Net) -> list[str]:
    """The run names (``runs.jsonl``'s ``init``) of the starts asked, in report order."""
    kinds = {**dict(zip(("keras", "initialize", "alternative"), starts_of(net), strict=True)),
             **ON_REQUEST}  # fmt: skip
    return [kinds[s] for s in args.starts]


def _better(net: Net, a: float, b: float) -> bool:
    """Whether result ``a`` is better than ``b`` (lower bits per byte, higher accuracy)."""
    return a < b if net.data == "kjv" else a > b


def summarize(net: Net, by_rate: dict[float, list[dict[str, Any]]]) -> dict[str, Any]:
    """One start's runs by peak rate: per rate the seeds' results (None: diverged), the
    best rate and its mean, the rates within the tolerance of it, and the failed runs."""
    results = {lr: {r["seed"]: score(net, r) for r in runs} for lr, runs in by_rate.items()}
    nothing = {(lr, r["seed"]) for lr, runs in by_rate.items() for r in runs if stuck(net, r)}
    means = {
        lr: float(np.mean(list(v.values())))
        for lr, v in results.items()
        if v and all(x is not None for x in v.values())
    }
    best = None
    for lr, m in means.items():
        if learned(net, m) and (best is None or _better(net, m, means[best])):
            best = lr
    tol = TOLERANCE[net.data]
    within = [] if best is None else sorted(
        lr for lr, m in means.items() if learned(net, m) and abs(m - means[best]) <= tol
    )  # fmt: skip
    failed = [
        (lr, seed, "diverged" if x is None else "learned nothing")
        for lr, v in sorted(results.items())
        for seed, x in sorted(v.items())
        if x is None or not learned(net, x) or (lr, seed) in nothing
    ]
    # The rates at which every seed trained: where the start is stable, whatever its result.
    lost = {lr for lr, _, _ in failed}
    stable = sorted(lr for lr, v in results.items() if v and lr not in lost)
    return {"results": results, "means": means, "best": best, "within": within,
            "failed": failed, "stable": stable}  # fmt: skip


def _span(rates: list[float], grid: list[float]) -> str:
    """'low–high (ratio×)' when ``rates`` are neighbours on ``grid``, else each rate."""
    if not rates:
        return "none"
    low, high = rates[0], rates[-1]
    if low == high:
        return f"{low:g}"
    if [lr for lr in grid if low <= lr <= high] != rates:  # a gap: name each one
        return ", ".join(f"{lr:g}" for lr in rates)
    return f"{low:g}–{high:g} ({high / low:g}×)"


def _cell(net: Net, seeds: dict[int, float | None]) -> str:
    if not seeds:
        return "–"
    values = [seeds[s] for s in sorted(seeds)]
    if any(v is None for v in values):
        finite = [v for v in values if v is not None]
        text = "/".join("div." if v is None else f"{v:.2f}" for v in values)
        return text if finite else "diverged"
    return f"{np.mean(values):.2f} ({'/'.join(f'{v:.2f}' for v in values)})"


def _paired_cell(net: Net, case: argparse.Namespace, start: str) -> str:
    """``start``'s gain over Keras' default at one rate, paired by seed, and its verdict."""
    runs = _runs_of(case)
    ours = [r for r in runs if r["init"] == start]
    theirs = [r for r in runs if r["init"] == "keras"]
    mean, low, high, pairs = paired_gain(net, ours, theirs)
    if math.isinf(mean):  # a divergence has no size: say each seed's outcome instead
        return "; ".join(_seed_outcome(net, r, t, _label(start))
                         for r in ours for t in theirs if r["seed"] == t["seed"])  # fmt: skip
    text = difference(mean, low, high, pairs, _label(start))
    said = verdict(low, high, pairs)
    return text if text == "–" or said == "–" else f"{text}, {said}"


def _seed_outcome(net: Net, ours: dict[str, Any], theirs: dict[str, Any], label: str) -> str:
    """One seed's pair: the gain, or which start diverged."""
    a, b = score(net, ours), score(net, theirs)
    if a is None and b is None:
        return f"seed {ours['seed']}: both diverged"
    if a is None or b is None:
        lost = label if a is None else "Keras' default"
        return f"seed {ours['seed']}: {lost} diverged"
    return f"seed {ours['seed']}: {gain(net, ours, theirs):+.2f}"


def table(
    args: argparse.Namespace, nets: list[Net], case_args: Callable
) -> tuple[str, list[tuple[Net, dict[str, dict]]]]:
    """The Markdown of OUT/learning_rates.md and, per net, each start's summary."""
    lines, plots, provenance = [], [], set()
    for net in nets:
        cases = [case_args(args, net, x) for x in args.lr_scales]
        rates = [case.lr for case in cases]
        runs = [r for case in cases for r in _runs_of(case)]
        if not runs:
            continue
        starts = _starts(args, net)
        provenance.update(_code(r) for r in runs if r["init"] in starts)
        summaries = {}
        for s in starts:
            by_rate = {case.lr: [r for r in _runs_of(case) if r["init"] == s] for case in cases}
            summaries[s] = summarize(net, by_rate)
        plots.append((net, summaries))
        tol = TOLERANCE[net.data]
        within = f"{tol:g} {'bits/byte' if net.data == 'kjv' else 'points'}"
        better = "lower" if net.data == "kjv" else "higher"
        lines += [
            f"### {net.title}",
            "",
            f"{unit(net)}, {better} is better. Recipe at its own rate: "
            f"{_recipe(case_args(args, net))}. Each cell: the mean over seeds, then each "
            "seed's result.",
            "",
            "| start | " + " | ".join(f"{lr:g}" for lr in rates)
            + f" | best (rate) | rates within {within} of the best"
            " | rates where every seed trained | failed runs |",
            "|---|" + "---|" * len(rates) + "---|---|---|---|",
        ]  # fmt: skip
        for s, summary in summaries.items():
            cells = [_cell(net, summary["results"].get(lr, {})) for lr in rates]
            best = summary["best"]
            best_text = "–" if best is None else f"{summary['means'][best]:.2f} ({best:g})"
            failed = ", ".join(f"{lr:g} seed {seed} {what}" for lr, seed, what in
                               summary["failed"]) or "none"  # fmt: skip
            lines.append(f"| {_label(s)} | " + " | ".join(cells)
                         + f" | {best_text} | {_span(summary['within'], rates)}"
                         + f" | {_span(summary['stable'], rates)} | {failed} |")  # fmt: skip
        if starts[0] == "keras" and len(starts) > 1:
            for s in starts[1:]:
                cells = [_paired_cell(net, case, s) for case in cases]
                saved = ", bits/byte saved" if net.data == "kjv" else ""
                lines.append(f"| {_label(s)} − Keras' default{saved}, paired [95% CI] | "
                             + " | ".join(cells) + " | | | | |")  # fmt: skip
        lines.append("")
    head = [
        "# Learning rates",
        "",
        "Each net at its recipe's peak rate times "
        + ", ".join(f"{x:g}" for x in args.lr_scales)
        + ", the rest of its recipe unchanged, from each start, paired by seed. A start's "
        "best is its best mean over the rates at which no seed diverged; its range is the "
        "rates whose mean ends within "
        f"{TOLERANCE['cifar10']:g} points ({TOLERANCE['kjv']:g} bits per byte) of that "
        "best; its stable rates are those at which every seed trained. A failed run "
        "diverged or learned nothing: it ended within "
        f"{AT_CHANCE['cifar10']:g} point of chance (10% on CIFAR-10; within "
        f"{AT_CHANCE['kjv']:g} of 8 bits per byte on text) or with a uniform guess's "
        f"training loss (within {UNIFORM_MARGIN:g} of ln 10; of ln 256 on text). "
        "The last row of a net: "
        "`initialize()`'s gain over Keras' default at each rate, paired by seed, with its "
        "95% t-interval and verdict (better or worse where the interval excludes 0); with 2 "
        "seeds it has one degree of freedom, so only a gain far larger than the seeds' "
        "disagreement gets a verdict.",
        "",
        f"Code: {', '.join(sorted(provenance)) or 'no runs yet'}.",
        "",
    ]
    return "\n".join(head + lines), plots


def plot_rates(net: Net, summaries: dict[str, dict], path: pathlib.Path) -> bool:
    """Result against peak rate (log scale) per start: each seed a dot, the mean a line, a
    diverged run a cross at the bottom; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(4.2, 3.2))
    colors = ("tab:gray", "tab:blue", "tab:orange", "tab:green")
    floor = chance(net)
    for color, (start, summary) in zip(colors, summaries.items(), strict=False):
        rates = sorted(summary["results"])
        means = [summary["means"].get(lr, math.nan) for lr in rates]
        ax.plot(rates, means, "-o", color=color, ms=4, label=_label(start).strip("`"))
        for lr in rates:
            for x in summary["results"][lr].values():
                if x is None:
                    ax.scatter([lr], [floor], marker="x", color=color, s=30)
                else:
                    ax.scatter([lr], [x], color=color, s=8, alpha=0.5)
    ax.set_xscale("log", base=2)
    every = sorted({lr for summary in summaries.values() for lr in summary["results"]})
    ax.set_xticks(every, [f"{lr:g}" for lr in every])
    ax.minorticks_off()
    ax.axhline(floor, color="k", lw=0.6, ls=":")
    ax.set_xlabel("peak learning rate")
    ax.set_ylabel(unit(net))
    ax.set_title(net.title, fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write(args: argparse.Namespace, nets: list[Net], case_args: Callable) -> list[pathlib.Path]:
    """OUT/learning_rates.md (and OUT/NET_rates.png with matplotlib); the paths written."""
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    markdown, plots = table(args, nets, case_args)
    written = [out / "learning_rates.md"]
    written[0].write_text(markdown)
    for net, summaries in plots:
        path = out / f"{net.name}_rates.png"
        if plot_rates(net, summaries, path):
            written.append(path)
    return written
