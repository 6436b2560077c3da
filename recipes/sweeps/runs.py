"""Reading sweep outputs: find run dirs, load their config and status, group by config, average over seeds.

Only the files of the run-directory contract are read (`.hydra/config.yaml`, `summary.json`, `failed.json`,
`metrics.jsonl`, `eval/eval.json`), so this works on sweeps copied off another machine. Paper comparison lives
in `paper.py`, tables and CSV in `tables.py`, verdicts in `verdict.py`, plots in `figures.py` and the command line
in `summary.py` (scripts/summarize.py).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from recipes.catalogue import summary_metrics
from recipes.config import flatten
from recipes.run_keys import NOT_RESULT_DEFINING, applies

# Keys that never define what a run computes, and the seed (averaged over): they are not grouped on.
IGNORED_KEYS = frozenset({"seed", *NOT_RESULT_DEFINING})
IGNORED_PREFIXES = ("hydra.", "paper.")


class _Missing:
    """Marks a config key a run does not have (e.g. `augment.decay_power` for a non-FMix run)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


@dataclass
class Run:
    """One run dir: its flattened config (dotted keys), status and final metrics."""

    path: Path
    config: dict[str, Any]
    status: str  # "complete" | "failed" | "incomplete"
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    epoch: int | None = None  # last finished epoch, for failed and incomplete runs


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation (ddof=1; None for one value) and count of one metric."""

    mean: float
    std: float | None
    n: int


@dataclass
class Group:
    """Runs that share every run-defining config value except the seed."""

    values: dict[str, Any]  # group key -> value (MISSING when the runs lack the key)
    runs: list[Run]

    @property
    def complete(self) -> list[Run]:
        return [r for r in self.runs if r.status == "complete"]

    @property
    def config(self) -> dict[str, Any]:
        """The flattened config of one member; non-group keys are the same for all members."""
        return self.runs[0].config

    def stats(self) -> dict[str, Stat]:
        """Mean/std/n over the complete runs, for every metric at least one of them has."""
        values: dict[str, list[float]] = {}
        for run in self.complete:
            for name, value in run.metrics.items():
                values.setdefault(name, []).append(value)
        return {name: mean_std(v) for name, v in values.items()}


def mean_std(values: list[float]) -> Stat:
    """Mean and sample std (ddof=1) of `values`; std is None when there is a single value."""
    if not values:
        raise ValueError(f"mean_std needs at least one value, got {values!r}")
    std = statistics.stdev(values) if len(values) > 1 else None
    return Stat(statistics.fmean(values), std, len(values))


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


def find_run_dirs(roots: list[Path]) -> list[Path]:
    """Every dir at or below `roots` that holds `.hydra/config.yaml`, sorted and without duplicates."""
    found: set[Path] = set()
    for root in map(Path, roots):
        if not root.is_dir():
            raise ValueError(f"not a directory: {str(root)!r}")
        for cfg in root.rglob("config.yaml"):
            if cfg.parent.name == ".hydra":
                found.add(cfg.parent.parent.resolve())
    return sorted(found)


def load_config(run_dir: Path) -> dict[str, Any]:
    """The run's composed config, resolved where possible (interpolations to Hydra's resolvers stay text)."""
    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    try:
        container = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException:
        container = OmegaConf.to_container(cfg, resolve=False)
    return flatten(container)


def _read_json(path: Path) -> dict | None:
    """The JSON object in `path`, or None when the file does not exist."""
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def _numbers(record: dict, names) -> dict[str, float]:
    """The entries of `record` named in `names` that are real numbers (bools and nulls left out)."""
    return {
        k: float(record[k]) for k in names if isinstance(record.get(k), int | float) and not isinstance(record[k], bool)
    }


def eval_metrics(run_dir: Path) -> dict[str, float]:
    """Scalar metrics from eval.py's `eval/eval.json`; OOD results flattened to `ood.<set>.<metric>`."""
    record = _read_json(run_dir / "eval" / "eval.json") or {}
    metrics = _numbers(record, record.keys())
    for name, result in (record.get("ood") or {}).items():
        metrics.update({f"ood.{name}.{k}": v for k, v in _numbers(result, result.keys()).items()})
    return metrics


def _last_epoch(run_dir: Path) -> int | None:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return None
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return json.loads(lines[-1]).get("epoch") if lines else None


def load_run(run_dir: Path) -> Run:
    """Read one run dir. Unreadable result files make the run "incomplete" with the reason as its error."""
    run_dir = Path(run_dir)
    run = Run(run_dir, load_config(run_dir), "incomplete")
    try:
        summary = _read_json(run_dir / "summary.json")
        failed = _read_json(run_dir / "failed.json")
        if summary is not None and summary.get("status") == "complete":
            run.status = "complete"
            # summary.json's values win over eval.json's for the metrics both report (same checkpoint).
            run.metrics = {**eval_metrics(run_dir), **_numbers(summary, summary_metrics())}
        elif failed is not None:
            run.status, run.error, run.epoch = "failed", str(failed.get("error")), failed.get("epoch")
        else:
            run.epoch = _last_epoch(run_dir)
            run.error = "no summary.json or failed.json (still running or killed)"
    except (OSError, ValueError) as err:  # json.JSONDecodeError is a ValueError
        run.status, run.error = "incomplete", f"unreadable result file: {err}"
    return run


def load_runs(roots: list[Path]) -> list[Run]:
    """Every run below `roots`; raises ValueError when there is none."""
    dirs = find_run_dirs(roots)
    if not dirs:
        raise ValueError(f"no run dirs (dirs with .hydra/config.yaml) under {[str(r) for r in roots]}")
    return [load_run(d) for d in dirs]


# --------------------------------------------------------------------------------------------------
# Grouping
# --------------------------------------------------------------------------------------------------


def is_ignored(key: str) -> bool:
    """True for the seed and bookkeeping keys that never define a run."""
    return key in IGNORED_KEYS or key.startswith(IGNORED_PREFIXES)


def defining_value(run: Run, key: str) -> Any:
    """The run's value of `key`; MISSING when the run lacks it or its augment method does not take it."""
    if not applies(key, run.config.get("augment.name")):
        return MISSING  # e.g. augment.alpha of an augment=none run: accepted, but it changes nothing
    return run.config.get(key, MISSING)


def _ident(run: Run, key: str) -> Any:
    value = defining_value(run, key)
    return key_value(None if value is MISSING else value)  # null and absent are one setting


def varying_keys(runs: list[Run]) -> list[str]:
    """Run-defining config keys whose value differs between runs, in config order.

    A key that is null in some runs and absent in others (e.g. `augment.min_ratio: null`, which only CutMix
    has) does not tell runs apart, so it is not a group key; nor does an augment arg the run's method does
    not take (recipes.run_keys).
    """
    keys: dict[str, None] = {}
    for run in runs:
        keys.update(dict.fromkeys(run.config))
    return [k for k in keys if not is_ignored(k) and len({_ident(r, k) for r in runs}) > 1]


def key_value(value: Any) -> Any:
    """Hashable identity of a value: 1 and 1.0 are the same setting, True and 1 are not."""
    return (type(value) is bool, value)


def _sort_key(value: Any) -> tuple:
    if value is MISSING or value is None:
        return (0, "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, value)
    return (2, str(value))


def group_runs(runs: list[Run], keys: list[str] | None = None) -> list[Group]:
    """Groups of runs sharing the values of `keys` (default: `varying_keys(runs)`), sorted by those values."""
    keys = varying_keys(runs) if keys is None else keys
    groups: dict[tuple, Group] = {}
    for run in runs:
        values = {k: defining_value(run, k) for k in keys}
        ident = tuple(_ident(run, k) for k in keys)
        groups.setdefault(ident, Group(values, [])).runs.append(run)
    return sorted(groups.values(), key=lambda g: tuple(_sort_key(v) for v in g.values.values()))


def metric_names(groups: list[Group]) -> list[str]:
    """Every metric any complete run has: summary metrics first (fixed order), then eval metrics as found."""
    found: dict[str, None] = {}
    for group in groups:
        for run in group.complete:
            found.update(dict.fromkeys(run.metrics))
    first = summary_metrics()
    return [m for m in first if m in found] + [m for m in found if m not in first]


def format_value(value: Any) -> str:
    """A config value as a user would type it: null, [100, 150], 0.5; "—" for a key the run lacks."""
    if value is MISSING:
        return "—"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def group_label(group: Group) -> str:
    """`key=value, ...` over the group keys; "(all runs)" when nothing varies."""
    return ", ".join(f"{k}={format_value(v)}" for k, v in group.values.items()) or "(all runs)"
