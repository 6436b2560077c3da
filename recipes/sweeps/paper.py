"""Ours vs published: read an experiment's `paper:` node and line it up with the summarised groups.

The `paper:` node (in `configs/experiment/<name>.yaml`) keeps the published numbers as data:
    paper:
      source: "Harris et al., FMix, arXiv 2002.12047, Table 1"
      metric: top1                  # the metric the paper reports, as a fraction
      ours: best_top1               # optional: our metric to compare with (default: the same name)
      schedule: {epochs: 200, batch_size: 128}
      rows:
        - {augment: none, top1: 0.9570}
        - {augment: mixup, alpha: 1.0, top1: 0.9628}
A row's non-metric keys select our groups: summary.json names (augment, alpha, ...) or dotted config keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from recipes.catalogue import paper_metrics
from recipes.sweeps.runs import MISSING, Group, Run, Stat, group_label

EXPERIMENT_DIR = Path(__file__).resolve().parents[2] / "configs" / "experiment"

# summary.json / paper-row names -> config keys.
ROW_KEYS = {
    "augment": "augment.name",
    "alpha": "augment.alpha",
    "prob": "augment.prob",
    "mode": "augment.mode",
    "model": "model.name",
    "dataset": "dataset.name",
}
# Where an undotted schedule key (epochs, batch_size, lr, ...) is looked up in our config, in order.
SCHEDULE_PREFIXES = ("trainer.", "optim.", "sched.", "")


@dataclass
class PaperRow:
    """One line of the comparison: a paper row and (at most) one of our groups."""

    label: str  # the paper row's selecting keys, or our group's label when the paper has no such row
    paper: float | None
    ours: Stat | None
    group: Group | None

    @property
    def diff(self) -> float | None:
        """ours − paper (fractions), None when either side is missing."""
        if self.paper is None or self.ours is None:
            return None
        return self.ours.mean - self.paper


# --------------------------------------------------------------------------------------------------
# Loading the paper node
# --------------------------------------------------------------------------------------------------


def _paper_from_file(path: Path, seen: tuple = ()) -> dict | None:
    """The `paper:` node of an experiment file, following string entries of its defaults list to parents."""
    if path in seen or not path.is_file():
        return None
    node = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    if node.get("paper") is not None:
        return node["paper"]
    for entry in node.get("defaults") or []:
        if isinstance(entry, str) and entry != "_self_":
            parent = path.parent / f"{entry.removeprefix('/experiment/')}.yaml"
            found = _paper_from_file(parent, seen + (path,))
            if found is not None:
                return found
    return None


def _paper_from_runs(name: str, runs: list[Run]) -> dict | None:
    for run in runs:
        if run.config.get("experiment") == name:
            cfg = OmegaConf.load(run.path / ".hydra" / "config.yaml")
            if cfg.get("paper") is not None:
                return OmegaConf.to_container(cfg.paper, resolve=False)
    return None


def load_paper(name: str, runs: list[Run], experiment_dir: Path = EXPERIMENT_DIR) -> dict:
    """The `paper:` node of `name` (experiment name or YAML path): from the file, else the runs' config."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else Path(experiment_dir) / f"{name}.yaml"
    paper = _paper_from_file(path) or _paper_from_runs(path.stem, runs)
    if paper is None:
        raise ValueError(f"no paper: node for {name!r}: not in {str(path)!r} nor in any run's config")
    _check_paper(name, paper)
    return paper


def _check_paper(name: str, paper: dict) -> None:
    metric, rows = paper.get("metric"), paper.get("rows")
    if not isinstance(metric, str):
        raise ValueError(f"paper node of {name!r}: 'metric' must name a metric, got {metric!r}")
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"paper node of {name!r}: 'rows' must be a non-empty list, got {rows!r}")
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get(metric), int | float):
            raise ValueError(f"paper node of {name!r}: row {row!r} lacks a number for {metric!r}")


# --------------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------------


def _config_key(key: str) -> str:
    return ROW_KEYS.get(key, key)


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, int | float) and isinstance(theirs, int | float):
        return not isinstance(ours, bool) and math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(theirs, list):
        theirs = tuple(theirs)
    return ours == theirs


def row_matches(row: dict, selectors: list[str], group: Group) -> bool:
    """True when every selecting key of the paper row equals the group's config value."""
    return all(_same(group.config.get(_config_key(k), MISSING), row[k]) for k in selectors)


def compare(paper: dict, groups: list[Group]) -> list[PaperRow]:
    """A PaperRow per (paper row, matching group), plus paper rows we did not run and our groups it lacks."""
    metric = paper["metric"]
    ours_metric = paper.get("ours", metric)
    metrics = _known_metrics(groups, metric)
    rows, matched = [], set()
    for row in paper["rows"]:
        selectors = [k for k in row if k not in metrics]
        label = ", ".join(f"{k}={row[k]}" for k in selectors) or "(all)"
        hits = [g for g in groups if row_matches(row, selectors, g)]
        for group in hits:
            matched.add(id(group))
            name = label if len(hits) == 1 else f"{label} [{group_label(group)}]"
            rows.append(PaperRow(name, float(row[metric]), group.stats().get(ours_metric), group))
        if not hits:
            rows.append(PaperRow(label, float(row[metric]), None, None))
    extra = [g for g in groups if id(g) not in matched]
    return rows + [PaperRow(group_label(g), None, g.stats().get(ours_metric), g) for g in extra]


def _known_metrics(groups: list[Group], metric: str) -> set[str]:
    """Metric names a paper row may carry besides `metric` (e.g. top5): ours, plus the usual ones."""
    names = {*paper_metrics(), metric}
    for group in groups:
        for run in group.complete:
            names.update(run.metrics)
    return names


def schedule_notes(paper: dict, runs: list[Run]) -> list[str]:
    """A warning per `paper.schedule` key where our runs' values differ from the paper's, and one when the paper
    is compared with our best_top1 but the runs skipped evaluations (trainer.eval_every > 1)."""
    notes = []
    for key, theirs in (paper.get("schedule") or {}).items():
        candidates = [key] if "." in key else [p + key for p in SCHEDULE_PREFIXES]
        config_key = next((c for c in candidates if any(c in r.config for r in runs)), None)
        if config_key is None:
            notes.append(f"paper schedule key {key!r} = {theirs!r} is not in our runs' config — not checked")
            continue
        ours = sorted({str(r.config.get(config_key, MISSING)) for r in runs})
        if any(not _same(r.config.get(config_key, MISSING), theirs) for r in runs):
            if key == "epochs":
                mismatch = f"our runs: {'/'.join(ours)} epochs vs paper: {theirs} epochs"
            else:
                mismatch = f"our runs: {config_key}={'/'.join(ours)} vs paper: {key}={theirs}"
            notes.append(mismatch + " — not comparable as-is")
    every = sorted({str(r.config.get("trainer.eval_every", 1)) for r in runs} - {"1"})
    if paper.get("ours") == "best_top1" and every:
        notes.append(f"best_top1 is the best evaluated epoch, and our runs evaluated every {'/'.join(every)} epochs")
    return notes
