"""Summarise sweeps: a row per config group with mean ± std over seeds, failed runs, plots, paper comparison.

    python scripts/summarize.py multirun/2024-05-01_12-00-00 [more dirs] [--out DIR] [--metrics top1,ece,nll]
                                [--baseline augment.name=none] [--correction holm|bh|none]
                                [--margin top1=0.005,ece=0.01] [--plan]
                                [--paper fmix_fashion_mnist_preact18] [--tensorboard]

Every group is compared with its baseline (recipes/sweeps/verdict.py): the difference of means of each verdict
metric (recipes.catalogue), its 95 % confidence interval, p, p adjusted over the family of comparisons
(recipes/sweeps/family.py) and a word (better / worse / equivalent / not resolved); --margin adds equivalence
tests (recipes/sweeps/equivalence.py), --plan the seeds that would resolve the rest (recipes/sweeps/plan.py).
Writes summary.md, summary.csv (fractions; mean/std/n columns per metric, then the verdict's), top1_vs_alpha.png,
ece_vs_alpha.png and delta_vs_alpha.png (when alpha varies; else delta_vs_baseline.png), reliability.png (when
eval.py left eval/predictions.npz) into --out (default: the first dir), and prints the Markdown. Reads only the
run-directory files (recipes/sweeps/runs.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recipes.sweeps import tables
from recipes.sweeps.equivalence import parse_margins
from recipes.sweeps.family import CORRECTIONS, check_correction, correct
from recipes.sweeps.figures import plot_alpha, plot_reliability, write_hparams
from recipes.sweeps.plan import add_plans
from recipes.sweeps.runs import Group, format_value, group_runs, load_runs
from recipes.sweeps.verdict import parse_baseline
from recipes.sweeps.verdict import verdicts as compare_with_baselines


def verdict_part(
    groups: list[Group],
    baseline: list[str] | None,
    *,
    correction: str = "holm",
    margins: dict | None = None,
    plan: bool = False,
) -> tuple[str, list | None, tables.Family]:
    """The Markdown of the verdict (and the seed plan), the verdicts and their family; a one-line note when no
    group is the baseline.

    An explicit --baseline that matches no group is an error (ValueError); the default (augment=none) is not.
    """
    selector = parse_baseline(baseline, groups)
    found = compare_with_baselines(groups, selector, margins=margins)
    if not any(v.is_baseline for v in found):
        wanted = " ".join(f"{k}={format_value(v)}" for k, v in selector.items())
        if baseline:
            raise ValueError(f"--baseline {wanted}: no group of runs has these values")
        return f"No baseline group ({wanted}) in these runs: no verdict.", None, tables.Family(correction)
    found, size, equivalence_size = correct(found, correction)
    family = tables.Family(correction, size, equivalence_size)
    if plan:
        found = add_plans(found, correction, size, equivalence_size)
    text = tables.verdict_section(found, selector, family)
    if plan:
        text += "\n\n" + (tables.plan_section(found) or "## Seed plan\n\nEvery comparison is resolved: no plan.")
    return text, found, family


def summarize(
    dirs: list[Path],
    *,
    out: Path | None = None,
    metrics: str | None = None,
    baseline: list[str] | None = None,
    correction: str = "holm",
    margin: str | None = None,
    plan: bool = False,
    paper: str | None = None,
    tensorboard: bool = False,
    plots: bool = True,
) -> str:
    """Everything the command line does; returns the Markdown it printed into summary.md."""
    check_correction(correction)  # bad input fails before the runs are read
    margins = parse_margins(margin)
    runs = load_runs([Path(d) for d in dirs])
    groups = group_runs(runs)
    verdict_text, verdicts, family = verdict_part(groups, baseline, correction=correction, margins=margins, plan=plan)
    out = Path(out) if out is not None else Path(dirs[0])
    out.mkdir(parents=True, exist_ok=True)
    counts = {s: sum(r.status == s for r in runs) for s in ("complete", "failed", "incomplete")}
    parts = [
        f"# Sweep summary: {', '.join(map(str, dirs))}",
        f"{len(runs)} runs: {counts['complete']} complete, {counts['failed']} failed, "
        f"{counts['incomplete']} incomplete; {len(groups)} groups; mean ± sample std over seeds.",
        tables.summary_table(groups, tables.choose_metrics(groups, metrics)),
        verdict_text,
        tables.problem_runs(runs),
    ]
    if paper:
        parts.append(tables.paper_section(paper, runs, groups))
    tables.write_csv(groups, out / "summary.csv", verdicts, family)
    written = [out / "summary.md", out / "summary.csv"]
    if plots:
        written += plot_alpha(groups, out, verdicts) + plot_reliability(groups, out)
    if tensorboard:
        write_hparams(groups, out)
        written.append(out / "tb_hparams")
    text = "\n\n".join(p for p in parts if p) + "\n"
    (out / "summary.md").write_text(text)
    print(text)
    print("wrote: " + ", ".join(str(p) for p in written))
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("dirs", nargs="+", type=Path, help="multirun (or run) dirs to search for run dirs")
    add("--out", type=Path, default=None, help="where to write the files (default: the first dir)")
    add("--metrics", default=None, help="comma-separated table metrics (default: top1,ece,nll + eval's)")
    add(
        "--baseline",
        nargs="+",
        default=None,
        metavar="KEY=VALUE",
        help="the baseline group's config values (default: augment.name=none), e.g. augment.name=mixup",
    )
    add(
        "--correction",
        choices=list(CORRECTIONS),
        default="holm",
        help="adjust the verdict's p-values over all its comparisons: holm (family-wise error, default), bh "
        "(Benjamini-Hochberg: false discovery rate) or none",
    )
    add(
        "--margin",
        default=None,
        metavar="METRIC=FRACTION,...",
        help="equivalence margins per verdict metric, fractions (top1=0.005 is 0.5 points): a difference shown "
        "inside ±margin (TOST) is called equivalent",
    )
    add(
        "--plan",
        action="store_true",
        help="for each comparison not resolved: the seeds for 80 %% power, and the command",
    )
    add("--paper", default=None, help="experiment name (or YAML path) whose paper: node to compare with")
    add("--tensorboard", action="store_true", help="write TensorBoard hparams to <out>/tb_hparams")
    add("--no-plots", dest="plots", action="store_false", help="skip the PNG plots")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        summarize(
            args.dirs,
            out=args.out,
            metrics=args.metrics,
            baseline=args.baseline,
            correction=args.correction,
            margin=args.margin,
            plan=args.plan,
            paper=args.paper,
            tensorboard=args.tensorboard,
            plots=args.plots,
        )
    except ValueError as err:
        print(f"summarize: error: {err}", file=sys.stderr)
        return 2
    return 0
