"""Text outputs of a sweep summary: Markdown tables (summary, problem runs, ours vs paper) and summary.csv.

Files keep fractions; tables show accuracy-like metrics in percent with 2 decimals, the rest with 4.
"""

from __future__ import annotations

import csv
from pathlib import Path

from recipes.catalogue import eval_metrics, is_percent, verdict_metrics
from recipes.sweeps.paper import compare, load_paper, schedule_notes
from recipes.sweeps.runs import MISSING, Group, Run, Stat, format_value, group_label
from recipes.sweeps.runs import metric_names as all_metric_names
from recipes.sweeps.verdict import Comparison, Verdict

# --------------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------------


def fmt_number(metric: str, value: float) -> str:
    if is_percent(metric):
        return f"{100 * value:.2f}"
    if metric in ("wall_s", "img_per_s"):
        return f"{value:.1f}"
    return f"{value:.4f}"


def fmt_stat(metric: str, stat: Stat | None) -> str:
    """'95.70 ± 0.12'; std '—' for a single seed; '—' with no value at all."""
    if stat is None:
        return "—"
    std = "—" if stat.std is None else fmt_number(metric, stat.std)
    return f"{fmt_number(metric, stat.mean)} ± {std}"


def fmt_diff(metric: str, diff: float | None) -> str:
    """ours − paper: in percentage points for accuracy-like metrics."""
    if diff is None:
        return "—"
    return f"{100 * diff:+.2f}" if is_percent(metric) else f"{diff:+.4f}"


def fmt_interval(metric: str, comparison: Comparison) -> str:
    """'[+0.40, +2.00]' in the units of fmt_diff; '—' when no interval is possible."""
    if comparison.low is None:
        return "—"
    return f"[{fmt_diff(metric, comparison.low)}, {fmt_diff(metric, comparison.high)}]"


def fmt_p(p: float | None) -> str:
    if p is None or p != p:  # nan: no spread on either side
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def column_name(metric: str) -> str:
    return f"{metric} (%)" if is_percent(metric) else metric


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


# --------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------


def choose_metrics(groups: list[Group], requested: str | None) -> list[str]:
    """--metrics as given (each checked against the runs), else top1/ece/nll plus eval.py's scalars found."""
    found = all_metric_names(groups)
    if requested:
        names = [m.strip() for m in requested.split(",") if m.strip()]
        unknown = [m for m in names if m not in found]
        if unknown and found:
            raise ValueError(f"--metrics {','.join(unknown)} not in the runs' metrics: {', '.join(found)}")
        return names
    # the verdict's metrics, then eval.py's scalars (the catalogue's entries outside summary.json) where present;
    # OOD scores go to the CSV only
    return list(verdict_metrics()) + [m for m in eval_metrics() if m in found]


def summary_table(groups: list[Group], metrics: list[str]) -> str:
    """Markdown: group keys, then 'mean ± std' per metric, then n (complete runs = seeds)."""
    keys = list(groups[0].values) if groups else []
    header = (keys or ["runs"]) + [column_name(m) for m in metrics] + ["n"]
    rows = []
    for group in groups:
        stats = group.stats()
        label = [format_value(v) for v in group.values.values()] or [group_label(group)]
        rows.append(label + [fmt_stat(m, stats.get(m)) for m in metrics] + [str(len(group.complete))])
    return markdown_table(header, rows)


def problem_runs(runs: list[Run]) -> str:
    """Failed and incomplete runs with their dir and error; empty when every run completed."""
    parts = []
    for status in ("failed", "incomplete"):
        bad = [r for r in runs if r.status == status]
        if bad:
            parts.append(f"### {status.capitalize()} runs ({len(bad)})\n")
            parts += [f"- `{_shown(r.path)}` ({_epochs_done(r.epoch)}): {r.error}" for r in bad]
            parts.append("")
    return "\n".join(parts)


def _shown(path: Path) -> str:
    """The path relative to the working dir when it lies below it (shorter, copy-pasteable), else absolute."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _epochs_done(epoch: int | None) -> str:
    return "no epoch finished" if not epoch else f"last finished epoch: {epoch}"


def verdict_section(verdicts: list[Verdict], selector: dict) -> str:
    """Markdown: per group and metric, the difference with its baseline, its 95 % CI, p, the test and the word."""
    wanted = ", ".join(f"{k}={format_value(v)}" for k, v in selector.items())
    keys = list(verdicts[0].group.values) if verdicts else []
    header = (keys or ["runs"]) + ["metric", "group − baseline", "95 % CI", "p", "test", "n (group / baseline)"]
    rows = []
    for verdict in verdicts:
        label = [format_value(v) for v in verdict.group.values.values()] or [group_label(verdict.group)]
        if verdict.is_baseline:
            rows.append(label + ["—"] * 6 + ["**baseline**"])
        elif verdict.baseline is None:
            rows.append(label + ["—"] * 6 + [f"no baseline: no {wanted} group with the same other settings"])
        for c in verdict.comparisons:
            numbers = [fmt_diff(c.metric, c.diff), fmt_interval(c.metric, c), fmt_p(c.p), c.test]
            rows.append(label + [c.metric] + numbers + [f"{c.n} / {c.n_base}", f"**{c.word}**"])
    header.append("verdict")
    intro = (
        f"Each group against its baseline ({wanted}, same other settings): difference of means, group − baseline "
        "(percentage points for top-1), its 95 % confidence interval and two-sided p (Student t: paired by seed "
        "when both ran the same seeds, Welch otherwise). *better* / *worse* when the interval excludes 0: "
        "higher top-1, lower ECE and NLL are better. One seed on a side: no interval is possible."
    )
    return "\n\n".join(["## Against the baseline", intro, markdown_table(header, rows)])


def _verdict_cells(verdict: Verdict | None) -> list:
    """summary.csv's verdict columns of one group (fractions; empty where there is nothing to say)."""
    if verdict is None:
        return []
    base = "self" if verdict.is_baseline else ("" if verdict.baseline is None else group_label(verdict.baseline))
    found = {c.metric: c for c in verdict.comparisons}
    cells = [base]
    for m in verdict_metrics():
        c = found.get(m)
        if c is None:
            cells += [""] * 6
        else:
            interval = ["", ""] if c.low is None else [repr(c.low), repr(c.high)]
            cells += [repr(c.diff), *interval, "" if c.p is None else repr(c.p), c.test, c.word]
    return cells


def write_csv(groups: list[Group], path: Path, verdicts: list[Verdict] | None = None) -> None:
    """summary.csv: group keys, run counts, <metric>_mean/_std/_n for every metric (fractions), then the verdict
    columns when `verdicts` are given: baseline (its label, "self" for the baseline itself) and per verdict
    metric <metric>_diff/_ci_low/_ci_high/_p/_test/_verdict."""
    metrics = all_metric_names(groups)
    keys = list(groups[0].values) if groups else []
    header = keys + ["n_complete", "n_failed", "n_incomplete"]
    header += [f"{m}_{part}" for m in metrics for part in ("mean", "std", "n")]
    if verdicts is not None:
        header += ["baseline"] + [
            f"{m}_{part}" for m in verdict_metrics() for part in ("diff", "ci_low", "ci_high", "p", "test", "verdict")
        ]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for i, group in enumerate(groups):
            stats = group.stats()
            counts = [sum(r.status == s for r in group.runs) for s in ("complete", "failed", "incomplete")]
            row = ["" if v is MISSING else format_value(v) for v in group.values.values()] + counts
            for m in metrics:
                s = stats.get(m)
                row += ["", "", 0] if s is None else [repr(s.mean), "" if s.std is None else repr(s.std), s.n]
            writer.writerow(row + _verdict_cells(verdicts[i] if verdicts is not None else None))


def paper_section(name: str, runs: list[Run], groups: list[Group]) -> str:
    """Markdown: ours vs published per paper row, the difference in points, and schedule mismatch notes."""
    paper = load_paper(name, runs)
    metric, ours = paper["metric"], paper.get("ours", paper["metric"])
    header = ["row", f"paper {column_name(metric)}", f"ours {column_name(ours)}", "n", "ours − paper"]
    rows = [
        [
            r.label,
            "—" if r.paper is None else fmt_number(metric, r.paper),
            fmt_stat(ours, r.ours),
            str(r.ours.n if r.ours else 0),
            fmt_diff(metric, r.diff),
        ]
        for r in compare(paper, groups)
    ]
    notes = [f"**Note: {n}**" for n in schedule_notes(paper, runs)]
    source = f"Source: {paper.get('source', '(no source given)')}"
    return "\n\n".join([f"## Ours vs paper: {name}", source, markdown_table(header, rows), *notes])
