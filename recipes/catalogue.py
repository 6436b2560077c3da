"""The metric catalogue: every metric a run, eval.py or a sweep summary reports, with its facts, in one place.

A metric is named once here with its direction (higher or lower is better, or neither for costs and fitted values),
whether tables show it in percent, and where it appears: in each run's `summary.json` (and so in TensorBoard and
the sweep tables), in the sweep verdict against the baseline, in the comparison with a paper's table. Every reader
(recipes.run, recipes.tracking, recipes.report, recipes.sweeps) asks this module; adding a metric is one entry.

Metrics are stored as fractions in [0, 1] (percent is only how tables show them). Calibration errors use
`N_BINS` equal-width confidence bins, the project's convention (docs/paper_tables.md, "Calibration conventions").
"""

from __future__ import annotations

from dataclasses import dataclass

N_BINS = 15


@dataclass(frozen=True)
class Metric:
    """One metric's facts. `higher_is_better` is None for values with no better direction (wall time, a fitted
    temperature); `summary`: written to summary.json by every run; `verdict`: compared with the baseline by default;
    `paper`: a paper row may carry it."""

    name: str
    label: str
    higher_is_better: bool | None
    percent: bool = False
    summary: bool = False
    verdict: bool = False
    paper: bool = False


# In table order: the order of columns, verdict rows and plot panels.
CATALOGUE: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("top1", "top-1", True, percent=True, summary=True, verdict=True, paper=True),
        Metric("top5", "top-5", True, percent=True, summary=True, paper=True),
        Metric("best_top1", "best top-1", True, percent=True, summary=True, paper=True),
        Metric("ece", "ECE", False, summary=True, verdict=True, paper=True),
        Metric("nll", "NLL", False, summary=True, verdict=True, paper=True),
        Metric("brier", "Brier", False, summary=True, paper=True),
        # robustness after training (recipes.robustness_run, docs/evaluation.md)
        Metric("occlusion_top1", "occlusion top-1", True, percent=True, summary=True, verdict=True),
        Metric("corruption_top1", "corruption top-1", True, percent=True, summary=True, verdict=True),
        Metric("fgsm_top1", "FGSM top-1", True, percent=True, summary=True, verdict=True),
        Metric("ood_auroc", "OOD AUROC", True, percent=True, summary=True, verdict=True),
        # eval.py's extra calibration measures (eval/eval.json), and after temperature scaling
        Metric("mce", "MCE", False),
        Metric("ada_ece", "adaptive ECE", False),
        Metric("classwise_ece", "classwise ECE", False),
        Metric("temperature", "temperature", None),
        Metric("ece_ts", "ECE after TS", False),
        Metric("nll_ts", "NLL after TS", False),
        # costs
        Metric("wall_s", "wall time (s)", None, summary=True),
        Metric("img_per_s", "img/s", None, summary=True),
        Metric("robustness_s", "robustness time (s)", None, summary=True),
    )
}

# eval.py's OOD detection scores (eval.json "ood.<set>.<score>"): fractions, higher is better, shown in percent.
OOD_SCORE_SUFFIXES = (".auroc", ".tnr_at_tpr95", ".detection_acc")


def metric(name: str) -> Metric | None:
    """The catalogue entry for `name`; OOD scores (`ood.<set>.auroc`, ...) get an entry built from their suffix."""
    if name in CATALOGUE:
        return CATALOGUE[name]
    if name.endswith(OOD_SCORE_SUFFIXES):
        return Metric(name, name, True, percent=True)
    return None


def is_percent(name: str) -> bool:
    """True for accuracy-like fractions that tables show in percent."""
    entry = metric(name)
    return entry is not None and entry.percent


def higher_is_better(name: str) -> bool | None:
    """The metric's better direction (None where it has none or is unknown)."""
    entry = metric(name)
    return None if entry is None else entry.higher_is_better


def summary_metrics() -> tuple[str, ...]:
    """The metrics every run writes into summary.json (the last evaluation's, the best top-1, the costs)."""
    return tuple(m.name for m in CATALOGUE.values() if m.summary)


def verdict_metrics() -> tuple[str, ...]:
    """The metrics a sweep summary compares with the baseline by default."""
    return tuple(m.name for m in CATALOGUE.values() if m.verdict)


def prediction_metrics() -> tuple[str, ...]:
    """summary.json's metrics of the model's predictions (not its costs): logged to TensorBoard as test/<name>."""
    return tuple(m.name for m in CATALOGUE.values() if m.summary and m.higher_is_better is not None)


def eval_metrics() -> tuple[str, ...]:
    """eval.py's scalar metrics (eval/eval.json) that summary.json lacks: extra calibration measures, after TS."""
    return tuple(m.name for m in CATALOGUE.values() if not m.summary)


def paper_metrics() -> tuple[str, ...]:
    """The metrics a paper row may carry."""
    return tuple(m.name for m in CATALOGUE.values() if m.paper)


def label(name: str) -> str:
    """A short display label ("top-1", "ECE"); the name itself for metrics the catalogue lacks."""
    entry = metric(name)
    return name if entry is None else entry.label
