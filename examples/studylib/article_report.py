"""The article's tables reported: table.md and table.png from the cases' runs.jsonl.

Each table puts the article's numbers next to ours (mean ± std, 95% CI, seeds) with the
table's own derived quantities; ``article_tables.py`` writes them after its runs.
"""

from __future__ import annotations

import argparse
import pathlib

from .article_claims import (
    CHECKPOINTS,
    OURS,
    RANDOM,
    TABLES,
    XAVIER,
    case_args,
    inits_of,
    selected_cases,
)


def table_runs(args: argparse.Namespace, table: int) -> dict[str, dict[str, list[dict]]]:
    """{case: {init: runs}} of this command's setting (same options, asked seeds) only."""
    import json

    from . import study
    from .report import read_runs

    source = TABLES[table].runs_in or table
    result = {}
    for src, case, options in selected_cases(args):
        if src != source:
            continue
        cargs = case_args(args, src, case, options)
        wanted = json.dumps(study.run_options(cargs), sort_keys=True)
        runs = [
            r
            for r in read_runs(pathlib.Path(cargs.out) / "runs.jsonl")
            if r["seed"] in args.seeds and json.dumps(r["options"], sort_keys=True) == wanted
        ]
        result[case] = {i: [r for r in runs if r["init"] == i] for i in inits_of(args, table)}
    return result


def interval(values) -> str:
    """``cifar10_report.interval``, imported when used: this module is loaded while the
    command line is checked, before NumPy."""
    from .report import interval as mean_interval

    return mean_interval(values)


def final_accuracy(run: dict) -> float | None:
    acc = run.get("final_test_accuracy")
    return None if acc is None else 100 * acc


def peak(run: dict) -> tuple[float, int] | None:
    """The best test accuracy over the epochs, in %, and its (first, 1-based) epoch."""
    accs = [(a, e) for e, a in enumerate(run.get("test_accuracy", []), 1) if a is not None]
    if not accs:
        return None
    best = max(a for a, _ in accs)
    return 100 * best, next(e for a, e in accs if a == best)


def _peak_lines(runs) -> list[str]:
    """Peak against final test accuracy: how much of the end is overfitting, not training."""
    lines = [
        "Peak test accuracy over the epochs, % (chosen on the test set: a diagnostic of "
        "overfitting, not a result), the epoch of each seed's peak, and final − peak, points:",
        "",
        "| case | init | peak test acc % | epoch of peak | final − peak |",
        "|---|---|---|---|---|",
    ]
    for case, by_init in runs.items():
        for init, rs in by_init.items():
            peaks = [(r, p) for r in rs if (p := peak(r)) is not None]
            if not peaks:
                continue
            drop = [
                final_accuracy(r) - acc for r, (acc, _) in peaks if final_accuracy(r) is not None
            ]
            lines.append(
                f"| {case} | `{init}` | {interval(acc for _, (acc, _) in peaks)} | "
                f"{', '.join(str(e) for _, (_, e) in peaks)} | {interval(drop)} |"
            )
    return lines + [""]


def first_epoch(values: list, reached) -> int | None:
    """First epoch (1-based) whose value satisfies ``reached``; None if none does."""
    return next((i + 1 for i, v in enumerate(values) if v is not None and reached(v)), None)


def seconds_to(run: dict, epoch: int | None) -> float | None:
    """Training seconds (evaluation excluded, compilation included) up to ``epoch``."""
    return None if epoch is None else sum(run["train_seconds_per_epoch"][:epoch])


def paired(a_runs: list[dict], b_runs: list[dict], value) -> str:
    """``cifar10_report.paired``, imported when used (see ``interval``)."""
    from .report import paired as paired_interval

    return paired_interval(a_runs, b_runs, value)


def _diff_lines(runs, pairs, what="final test accuracy, points") -> list[str]:
    """Paired differences of final accuracy, one row per case, one column per pair."""
    lines = [f"Differences in {what}, paired by seed: mean ± std [95% t-interval].", ""]
    lines += ["| case | " + " | ".join(f"{a} − {b}" for a, b in pairs) + " |"]
    lines += ["|---|" + "---|" * len(pairs)]
    for case, by_init in runs.items():
        cells = [
            paired(by_init[a], by_init[b], final_accuracy) if a in by_init and b in by_init else "–"
            for a, b in pairs
        ]
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    return lines + [""]


def _time_lines(args, table, runs, reached, what) -> list[str]:
    """Epochs and training seconds until ``reached`` by the curve ``what``."""
    numbers = TABLES[table].numbers
    lines = [
        f"| case | init | epochs to {what} | training s to {what} | wall s per run | article s |",
        "|---|---|---|---|---|---|",
    ]
    for case, by_init in runs.items():
        k = TABLES[table].cases[case]["hidden_layers"] - 1  # Table 3's column, by depth
        for init, rs in by_init.items():
            epochs = [reached(r) for r in rs]
            hits = f"{sum(e is not None for e in epochs)}/{len(rs)} reached"
            article = numbers.get(init, ())[k : k + 1] if k >= 0 else ()
            lines.append(
                f"| {case} | `{init}` | {interval(epochs)}, {hits} "
                f"| {interval(seconds_to(r, e) for r, e in zip(rs, epochs, strict=True))} "
                f"| {interval(r['wall_seconds'] for r in rs)} | {article[0] if article else '–'} |"
            )
    return lines + [""]


def _speedup_lines(runs, target: float) -> list[str]:
    """Table 6: 1 - t(init) / t(random), mean training seconds to the target accuracy."""
    from .report import epochs_to_target

    def mean_seconds(rs):
        s = [seconds_to(r, epochs_to_target(r, target)) for r in rs]
        s = [x for x in s if x is not None]
        return sum(s) / len(s) if s and len(s) == len(rs) else None

    lines = ["Time saved against random (all runs of both must reach the target):", ""]
    for case, by_init in runs.items():
        base = mean_seconds(by_init.get(RANDOM, []))
        for init in (XAVIER, OURS):
            t = mean_seconds(by_init.get(init, []))
            saved = "–" if None in (base, t) else f"{100 * (1 - t / base):.0f}%"
            lines.append(f"- {case}, `{init}`: {saved} (article: 25-40%)")
    return lines + [""]


def _kl_lines(runs) -> list[str]:
    kl, cce = runs.get("mlp_kl"), runs.get("mlp_cce")
    if not kl or not cce:
        return []
    lines = [
        "KL against CCE: with one-hot targets KL(y‖p) = −log p_true = CCE (Keras clips y at "
        "1e-7, a constant below 1e-5). Same init and seed, so the same start and data order:",
        "",
        "| init | seeds | max over epochs of |train loss KL − CCE| | final acc KL − CCE, points |",
        "|---|---|---|---|",
    ]
    for init in kl:
        c = {r["seed"]: r for r in cce.get(init, [])}
        both = [(r, c[r["seed"]]) for r in kl[init] if r["seed"] in c]
        gaps = [
            max(abs(x - y) for x, y in zip(a["train_loss"], b["train_loss"], strict=False))
            for a, b in both
            if a["train_loss"] and b["train_loss"]
        ]
        gap = f"{max(gaps):.3g}" if gaps else "–"
        lines.append(
            f"| `{init}` | {len(both)} | {gap} "
            f"| {paired(kl[init], cce.get(init, []), final_accuracy)} |"
        )
    return lines + [""]


def _loss_at_lines(args, table, runs, checkpoints=CHECKPOINTS) -> list[str]:
    """Training loss at the given epochs (Table 8: the article's 100/200/500; Tables 1 to 3:
    how fast each method converges)."""
    from .report import plural

    epochs = args.epochs or TABLES[table].epochs
    at = sorted({min(e, epochs) for e in checkpoints})
    numbers = TABLES[table].numbers
    quoted = table == 8
    lines = [
        "Training loss (mean over the epoch) at epochs " + ", ".join(map(str, at))
        + ("" if not quoted or at == list(checkpoints) else f" (runs of {plural(epochs, 'epoch')}: "
           "the article's later epochs are not reached)") + ": mean ± std [95% t-interval].",
        "",
        "| case | init | " + " | ".join(f"loss at {e}" for e in at)
        + (" | article 100/200/500 |" if quoted else " |"),
        "|---|---|" + "---|" * len(at) + ("---|" if quoted else ""),
    ]  # fmt: skip
    for case, by_init in runs.items():
        for init, rs in by_init.items():
            cells = [
                interval(r["train_loss"][e - 1] for r in rs if len(r["train_loss"]) >= e)
                for e in at
            ]
            article = f" {'/'.join(map(str, numbers.get(init, ()))) or '–'} |" if quoted else ""
            lines.append(f"| {case} | `{init}` | " + " | ".join(cells) + f" |{article}")
    return lines + [""]


def _epochs_to_loss_lines(runs, losses) -> list[str]:
    """Table 8: the first epoch at which the training loss is at or below each of the
    article's values, so its numbers can be placed on our curves."""
    losses = sorted(set(losses), reverse=True)
    lines = [
        "First epoch with training loss at or below each of the article's values: mean ± std "
        "[95% t-interval], and how many runs reached it.",
        "",
        "| case | init | " + " | ".join(f"loss ≤ {v:g}" for v in losses) + " |",
        "|---|---|" + "---|" * len(losses),
    ]
    for case, by_init in runs.items():
        for init, rs in by_init.items():
            cells = []
            for v in losses:
                epochs = [first_epoch(r["train_loss"], lambda x, v=v: x <= v) for r in rs]
                reached = [e for e in epochs if e is not None]
                cells.append(f"{interval(reached)}, {len(reached)}/{len(rs)}")
            lines.append(f"| {case} | `{init}` | " + " | ".join(cells) + " |")
    return lines + [""]


def table_markdown(args: argparse.Namespace, table: int) -> str:
    """table.md: the article's claim, our runs per case and init, the derived quantities."""
    from .report import epochs_to_target, init_row, plural, provenance, seed_caveat

    spec, runs = TABLES[table], table_runs(args, table)
    target = args.target or spec.target
    source = spec.runs_in or table
    every = [r for by_init in runs.values() for rs in by_init.values() for r in rs]
    first = every[0] if every else {"options": {}}
    opts = first["options"]
    lines = [
        f"# Table {table}: {spec.title}",
        "",
        f"**The article:** {spec.article}",
        "",
        f"**Ours:** {len(every)} runs in `table{source}/CASE/runs.jsonl`"
        + (f" (the runs of Table {source})" if source != table else "")
        + f"; backend {first.get('backend', '?')}, device {first.get('device', '?')}; "
        f"{plural(opts.get('epochs', '?'), 'epoch')}, {first.get('n_train', '?')} training and "
        f"{first.get('n_test', '?')} test images, seeds {args.seeds}, {opts.get('optimizer')} "
        f"lr {opts.get('lr')} ({opts.get('schedule')}), batch {opts.get('batch_size')}. "
        "Nets and initializers: examples/nets/article.py.",
        "",
    ]
    if every:
        code, problems = provenance(every)
        lines += [code, ""]
        if problems:
            lines += ["**Not for publication:** " + "; ".join(problems) + ".", ""]
        lines += seed_caveat(every)
    lines += [
        "Final test accuracy in %: mean ± sample std over seeds and the 95% t-interval of "
        f"the mean; epochs to {100 * target:g}% test accuracy: median (runs that reached it).",
        "",
        f"| case | init | runs | final test acc % | 95% CI | epochs to {100 * target:g}% "
        "| diverged | wall s/run | img/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for case, by_init in runs.items():
        lines += [f"| {case} " + init_row(i, rs, target) for i, rs in by_init.items() if rs]
    lines.append("")
    inits = inits_of(args, table)
    pairs = [(a, b) for a, b in ((XAVIER, RANDOM), (OURS, RANDOM), (OURS, XAVIER))
             if a in inits and b in inits]  # fmt: skip
    if table == 1:  # the article ranks every method, He and zero included, against random
        pairs += [(a, RANDOM) for a in ("he_normal", "zeros") if a in inits and RANDOM in inits]
    if table == 2:
        pairs = [(a, "article") for a in (OURS, XAVIER) if a in inits and "article" in inits]
    if table == 3:
        lines += [f"Training loss ≤ {args.loss_target:g} (--loss-target):", ""]
        below = args.loss_target
        lines += _time_lines(
            args,
            table,
            runs,
            lambda r: first_epoch(r["train_loss"], lambda v: v <= below),
            f"loss ≤ {below:g}",
        )
    if table == 4:
        lines += _kl_lines(runs)
    if table == 6:
        lines += [f"Test accuracy ≥ {100 * target:g}%; article: 25-40% less time with Xavier.", ""]
        lines += _time_lines(args, table, runs, lambda r: epochs_to_target(r, target),
                             f"{100 * target:g}% test acc")  # fmt: skip
        lines += _speedup_lines(runs, target)
    if table == 7:
        lines += ["Article (Xavier − random, points): " + ", ".join(
            f"{k} +{v}" for k, v in spec.numbers.items()) + ".", ""]  # fmt: skip
    if table == 8:
        lines += _loss_at_lines(args, table, runs)
        lines += _epochs_to_loss_lines(runs, [v for vs in spec.numbers.values() for v in vs])
    if table in (1, 2):  # how fast each formula fits, besides where it ends
        lines += _loss_at_lines(args, table, runs, (1, 5, args.epochs or spec.epochs))
    if table in (1, 2, 9):
        lines += _peak_lines(runs)
    if table == 3:  # finer than whole epochs to the target: the curves at fixed epochs
        lines += _loss_at_lines(args, table, runs, (1, 2, 3, 5, args.epochs or spec.epochs))
    if table in (1, 2, 4, 5, 7, 9) and pairs:
        lines += _diff_lines(runs, pairs)
    return "\n".join(lines)


def plot_table(args: argparse.Namespace, table: int, path: pathlib.Path) -> bool:
    """table.png: training loss against epoch per case, mean over seeds per init."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = table_figure(table_runs(args, table), table)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def table_figure(runs: dict[str, dict[str, list[dict]]], table: int):
    """The figure of ``plot_table`` for ``table_runs``' ``{case: {init: runs}}``."""
    import matplotlib.pyplot as plt
    import numpy as np

    from .report import epoch_axis, legend_below

    cols = min(4, max(1, len(runs)))  # rows of at most four cases, so that each stays legible
    rows = -(-max(1, len(runs)) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 4 * rows), squeeze=False)
    for ax in axes.flat[len(runs) :]:
        ax.set_visible(False)
    for ax, (case, by_init) in zip(axes.flat, runs.items(), strict=False):
        most = 1  # epochs of the longest curve drawn
        for init, rs in by_init.items():
            curves = [r["train_loss"] for r in rs if r["train_loss"]]
            if not curves:
                continue
            n = min(map(len, curves))
            most = max(most, n)
            ax.plot(
                np.arange(1, n + 1),
                np.mean([c[:n] for c in curves], axis=0),
                marker="o" if n < 30 else None,
                label=f"{init} (n={len(curves)})",
            )
        ax.set(title=f"Table {table}: {case}", ylabel="training loss")
        epoch_axis(ax, most)
        if ax.lines:
            legend_below(ax)
        else:  # a table reported while its runs are still going
            ax.text(0.5, 0.5, "no finished runs yet", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig


def write_table(args: argparse.Namespace, table: int) -> pathlib.Path:
    folder = pathlib.Path(args.out) / f"table{table}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "table.md").write_text(table_markdown(args, table))
    plot_table(args, table, folder / "table.png")
    return folder / "table.md"
