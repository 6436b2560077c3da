"""Text outputs of a sweep summary: Markdown tables (summary, problem runs, ours vs paper) and summary.csv.

Files keep fractions; tables show accuracy-like metrics in percent with 2 decimals, the rest with 4.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from recipes.catalogue import eval_metrics, is_percent, verdict_metrics
from recipes.sweeps.equivalence import margin_text
from recipes.sweeps.paper import compare, load_paper, schedule_notes
from recipes.sweeps.plan import MAX_SEEDS, POWER, sd_range
from recipes.sweeps.runs import MISSING, Group, Run, Stat, format_value, group_label
from recipes.sweeps.runs import metric_names as all_metric_names
from recipes.sweeps.verdict import ALPHA, Comparison, Verdict

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


@dataclass(frozen=True)
class Family:
    """How the verdict's p-values were adjusted: the correction (recipes/sweeps/family.py) and the two families'
    sizes (comparisons with a p; equivalence tests)."""

    correction: str = "none"
    size: int = 0
    equivalence_size: int = 0


def verdict_section(verdicts: list[Verdict], selector: dict, family: Family = Family()) -> str:
    """Markdown: per group and metric, the difference with its baseline, its 95 % CI, raw and adjusted p, the
    test, the TOST p (with margins) and the word."""
    wanted = ", ".join(f"{k}={format_value(v)}" for k, v in selector.items())
    keys = list(verdicts[0].group.values) if verdicts else []
    adjusted = f"p ({family.correction}, m = {family.size})"
    equivalence = family.equivalence_size > 0
    header = (keys or ["runs"]) + ["metric", "group − baseline", "95 % CI (unadjusted)", "p", adjusted, "test"]
    header += [f"TOST p ({family.correction}, m = {family.equivalence_size})"] if equivalence else []
    header += ["n (group / baseline)"]
    rows = []
    for verdict in verdicts:
        label = [format_value(v) for v in verdict.group.values.values()] or [group_label(verdict.group)]
        if verdict.is_baseline:
            rows.append(label + ["—"] * (len(header) - len(label)) + ["**baseline**"])
        elif verdict.baseline is None:
            note = f"no baseline: no {wanted} group with the same other settings"
            rows.append(label + ["—"] * (len(header) - len(label)) + [note])
        for c in verdict.comparisons:
            numbers = [fmt_diff(c.metric, c.diff), fmt_interval(c.metric, c), fmt_p(c.p), fmt_p(c.p_adj), c.test]
            numbers += [fmt_p(c.tost_p_adj) if c.margin is not None else "—"] if equivalence else []
            rows.append(label + [c.metric] + numbers + [f"{c.n} / {c.n_base}", f"**{c.word}**"])
    header.append("verdict")
    return "\n\n".join(["## Against the baseline", _verdict_intro(wanted, family), markdown_table(header, rows)])


def _verdict_intro(wanted: str, family: Family) -> str:
    correction = {
        "holm": "Holm's method (the chance of any false *better*/*worse* in the family stays under 5 %)",
        "bh": "Benjamini-Hochberg (the expected share of false *better*/*worse* among those called stays under 5 %)",
        "none": "no correction (each p on its own: about one in 20 comparisons without an effect reads *better* "
        "or *worse*)",
    }[family.correction]
    text = (
        f"Each group against its baseline ({wanted}, same other settings): difference of means, group − baseline "
        "(percentage points for top-1), its 95 % confidence interval and two-sided p (Student t: paired by seed "
        "when both ran the same seeds, Welch otherwise). "
        f"The family: the {family.size} comparisons with a p below, adjusted by {correction}. "
        "*better* / *worse* when the adjusted p < 0.05, in the metric's direction (higher top-1, lower ECE and NLL "
        "are better); the interval shown is not adjusted, so one that excludes 0 with an adjusted p >= 0.05 is "
        "*not resolved*. One seed on a side: no interval is possible."
    )
    if family.equivalence_size:
        text += (
            f" *equivalent* when two one-sided tests (TOST, the same t) put the difference inside ±margin: the TOST "
            f"p, adjusted over the {family.equivalence_size} equivalence tests, < 0.05 (without a correction: the "
            "90 % interval inside ±margin)."
        )
    return text


def plan_section(verdicts: list[Verdict]) -> str:
    """Markdown: the seed plan of every comparison not resolved; empty when none has one."""
    planned = [(v, c) for v in verdicts for c in v.comparisons if c.plan is not None]
    if not planned:
        return ""
    rows = []
    for verdict, c in planned:
        plan = c.plan
        label = [format_value(v) for v in verdict.group.values.values()] or [group_label(verdict.group)]
        goal = (
            f"equivalence ({margin_text(c.metric, c.margin)})"
            if plan.goal == "equivalence"
            else f"difference ({fmt_diff(c.metric, c.diff)})"
        )
        seeds = f"> {MAX_SEEDS}: not worth it" if plan.seeds is None else f"{plan.seeds} (now {c.counts[4:]})"
        command = "—" if plan.command is None else f"`{plan.command}`"
        sd = fmt_number(c.metric, plan.sd)
        level = f"0.05/{round(ALPHA / plan.alpha)}" if plan.alpha < ALPHA else "0.05"
        rows.append(label + [c.metric, goal, sd, level, seeds, command])
    keys = list(verdicts[0].group.values) if verdicts else []
    header = (keys or ["runs"]) + ["metric", "to show", "sd of a difference", "level", "seeds per side", "command"]
    fewest = min(min(c.n, c.n_base) for _, c in planned)
    low, high = sd_range(fewest)
    intro = (
        f"Seeds per side for {100 * POWER:.0f} % power to resolve each comparison above that is *not resolved*: to "
        "show the observed difference (two-sided) at the family's smallest level (α/m for Holm and Benjamini-Hochberg: "
        "conservative), or, with a margin and a difference inside it, equivalence (each one-sided test 90 % "
        f"power against the nearer bound). Paired t (statsmodels TTestPower); more than {MAX_SEEDS} seeds: not worth "
        "it. The command adds the seeds to the same sweep dir; finished runs are skipped. "
        f"**A plan from {fewest} seeds is rough**: the sd it uses has a 95 % range of {low:.2f}× to {high:.2f}× "
        "itself, so the number can be far off either way; rerun `--plan` after the new seeds."
    )
    return "\n\n".join(["## Seed plan", intro, markdown_table(header, rows)])


def _verdict_cells(verdict: Verdict | None, family: Family) -> list:
    """summary.csv's verdict columns of one group (fractions; empty where there is nothing to say)."""
    if verdict is None:
        return []
    base = "self" if verdict.is_baseline else ("" if verdict.baseline is None else group_label(verdict.baseline))
    found = {c.metric: c for c in verdict.comparisons}
    cells = [base, family.correction, family.size]
    for m in verdict_metrics():
        c = found.get(m)
        cells += [""] * len(VERDICT_PARTS) if c is None else _comparison_cells(c)
    return cells


def _number(value: float | None) -> str:
    return "" if value is None else repr(value)


def _comparison_cells(c: Comparison) -> list:
    """The VERDICT_PARTS of one comparison."""
    interval = ["", ""] if c.low is None else [repr(c.low), repr(c.high)]
    plan = ["", "", ""]
    if c.plan is not None:
        plan = [c.plan.goal, f">{MAX_SEEDS}" if c.plan.seeds is None else str(c.plan.seeds), repr(c.plan.sd)]
    numbers = [_number(c.p), _number(c.p_adj), c.test, c.word, _number(c.margin), _number(c.tost_p)]
    return [repr(c.diff), *interval, *numbers, _number(c.tost_p_adj), *plan]


VERDICT_PARTS = (
    "diff",
    "ci_low",
    "ci_high",
    "p",
    "p_adj",
    "test",
    "verdict",
    "margin",
    "tost_p",
    "tost_p_adj",
    "plan_goal",
    "plan_seeds",
    "plan_sd",
)


def write_csv(
    groups: list[Group], path: Path, verdicts: list[Verdict] | None = None, family: Family = Family()
) -> None:
    """summary.csv: group keys, run counts, <metric>_mean/_std/_n for every metric (fractions), then the verdict
    columns when `verdicts` are given: baseline (its label, "self" for the baseline itself), correction,
    family_size and per verdict metric <metric>_ followed by each of VERDICT_PARTS (plan_seeds ">50": not worth
    it)."""
    metrics = all_metric_names(groups)
    keys = list(groups[0].values) if groups else []
    header = keys + ["n_complete", "n_failed", "n_incomplete"]
    header += [f"{m}_{part}" for m in metrics for part in ("mean", "std", "n")]
    if verdicts is not None:
        header += ["baseline", "correction", "family_size"]
        header += [f"{m}_{part}" for m in verdict_metrics() for part in VERDICT_PARTS]
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
            writer.writerow(row + _verdict_cells(verdicts[i] if verdicts is not None else None, family))


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
