"""The verdict: each sweep group against its baseline, per metric, with a 95 % confidence interval and a word.

The baseline of a group is the group that matches the baseline selector (default `augment.name=none`) and has
the same value as the group on every other group key, except the keys the selector frees: the selector's own
keys, and every `augment.*` key when the selector names one (methods differ in their args, so a CutMix group's
`augment.alpha` must not stop it from finding the `none` group). So a sweep over several models or datasets
compares each model's methods with that model's baseline.

The difference is group − baseline (fractions). Paired Student t (scipy.stats.ttest_rel, differences per seed)
when both sides ran the same set of seeds, at least two, once each; else Welch's t (ttest_ind, equal_var=False)
when both sides have at least two runs; else only the difference of means, with no interval. With a margin for
the metric, two one-sided tests (TOST, recipes/sweeps/equivalence.py) ask whether the difference lies inside
±margin. recipes/sweeps/family.py then adjusts the p-values over every comparison printed (the family).
The word says "better" or "worse" when the (adjusted) p < 0.05, in the metric's direction (recipes.catalogue);
"equivalent (±0.5 pp)" when the (adjusted) TOST p < 0.05; "not resolved (n = ...)" otherwise.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import yaml
from scipy import stats

from recipes.catalogue import higher_is_better, verdict_metrics
from recipes.sweeps.equivalence import margin_text, tost
from recipes.sweeps.runs import MISSING, Group, key_value

if TYPE_CHECKING:
    from recipes.sweeps.plan import Plan

DEFAULT_BASELINE = {"augment.name": "none"}
CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE  # the level of every test, after the family correction


@dataclass(frozen=True)
class Comparison:
    """One metric of one group against its baseline. p_adj / tost_p_adj are set by recipes.sweeps.family (None
    before, and for a test outside the family); plan by recipes.sweeps.plan."""

    metric: str
    diff: float  # mean(group) − mean(baseline), fractions
    low: float | None  # the 95 % interval of diff (unadjusted); None when no interval is possible
    high: float | None
    p: float | None
    test: str  # "paired t" | "Welch t" | "—" (one seed on a side)
    n: int  # complete runs with the metric, this group
    n_base: int  # ... and the baseline
    sd: float | None = None  # sd of one seed's difference: paired, or sqrt(var + var_base) for Welch
    margin: float | None = None  # the equivalence margin (fraction), when --margin names the metric
    tost_p: float | None = None  # TOST p: the larger of the two one-sided p-values
    p_adj: float | None = None
    tost_p_adj: float | None = None
    plan: Plan | None = None  # with --plan, for a comparison not resolved

    @property
    def counts(self) -> str:
        return f"n = {self.n}" if self.n == self.n_base else f"n = {self.n} vs {self.n_base}"

    @property
    def differs(self) -> bool:
        """Whether the (adjusted) p shows a difference; a nan p (no spread) shows none."""
        p = self.p if self.p_adj is None else self.p_adj
        return p is not None and p < ALPHA

    @property
    def equivalent(self) -> bool:
        """Whether the (adjusted) TOST p puts the difference inside ±margin."""
        p = self.tost_p if self.tost_p_adj is None else self.tost_p_adj
        return p is not None and p < ALPHA

    @property
    def word(self) -> str:
        """better | worse | equivalent (±0.5 pp) | not resolved (n = 3) | one seed: no interval possible (...)."""
        if self.low is None:
            return f"one seed: no interval possible ({self.counts})"
        if self.differs:
            return "better" if (self.diff > 0) == higher_is_better(self.metric) else "worse"
        if self.equivalent:
            return f"equivalent ({margin_text(self.metric, self.margin)})"
        return f"not resolved ({self.counts})"


@dataclass
class Verdict:
    """A group, its baseline (None when it has none) and a Comparison per verdict metric."""

    group: Group
    baseline: Group | None
    comparisons: list[Comparison]

    @property
    def is_baseline(self) -> bool:
        return self.baseline is self.group


# --------------------------------------------------------------------------------------------------
# Finding the baseline
# --------------------------------------------------------------------------------------------------


def parse_baseline(items: list[str] | None, groups: list[Group]) -> dict:
    """--baseline KEY=VALUE ... -> {key: value}, values read as YAML (1.0, none, [1, 2]); default augment=none.

    Raises ValueError for an item without '=' or a key no run has.
    """
    if not items:
        return dict(DEFAULT_BASELINE)
    selector = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--baseline {item!r} is not KEY=VALUE (e.g. --baseline augment.name=none)")
        if not any(key in run.config for group in groups for run in group.runs):
            raise ValueError(f"--baseline key {key!r} is not in any run's config")
        value = yaml.safe_load(text)
        selector[key] = tuple(value) if isinstance(value, list) else value
    return selector


def free_keys(selector: dict, keys: list[str]) -> set[str]:
    """Group keys a group may differ on from its baseline: the selector's, and all augment.* keys if it names one."""
    free = set(selector)
    if any(k.startswith("augment.") for k in selector):
        free |= {k for k in keys if k.startswith("augment.")}
    return free


def _ident(group: Group, key: str):
    value = group.values[key] if key in group.values else group.config.get(key)
    return key_value(None if value is MISSING else value)


def find_baseline(group: Group, groups: list[Group], selector: dict) -> Group | None:
    """The one group matching `selector` with the same other settings as `group`; None when there is none.

    Raises ValueError when several groups qualify (the selector must name more keys).
    """
    fixed = [k for k in group.values if k not in free_keys(selector, list(group.values))]
    hits = [
        g
        for g in groups
        if all(_ident(g, k) == key_value(v) for k, v in selector.items())
        and all(_ident(g, k) == _ident(group, k) for k in fixed)
    ]
    if len(hits) > 1:
        labels = "; ".join(", ".join(f"{k}={g.values[k]}" for k in g.values) for g in hits)
        raise ValueError(f"--baseline {selector} matches several groups ({labels}): give more KEY=VALUE pairs")
    return hits[0] if hits else None


# --------------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------------


def _values(group: Group, metric: str) -> tuple[list[float], dict | None]:
    """The metric of the group's complete runs, and seed -> value (None when a seed appears twice)."""
    runs = [r for r in group.complete if metric in r.metrics]
    values, seeds = [r.metrics[metric] for r in runs], [r.config.get("seed") for r in runs]
    return values, dict(zip(seeds, values, strict=True)) if len(set(seeds)) == len(seeds) else None


def compare(group: Group, baseline: Group, metric: str, margin: float | None = None) -> Comparison | None:
    """`metric` of `group` against `baseline` (TOST against ±margin when given); None when either side has no
    complete run with it."""
    (xs, ours), (ys, base) = _values(group, metric), _values(baseline, metric)
    if not xs or not ys:
        return None
    diff = math.fsum(xs) / len(xs) - math.fsum(ys) / len(ys)
    paired = ours is not None and base is not None and set(ours) == set(base) and len(ours) >= 2
    if not paired and (len(xs) < 2 or len(ys) < 2):
        return Comparison(metric, diff, None, None, None, "—", len(xs), len(ys), margin=margin)
    if paired:
        seeds = sorted(ours, key=str)
        xs, ys = [ours[s] for s in seeds], [base[s] for s in seeds]
    with warnings.catch_warnings():  # seeds that agree exactly: scipy warns, the interval is a point (or nan)
        warnings.simplefilter("ignore", RuntimeWarning)
        if paired:
            result, test = stats.ttest_rel(xs, ys), "paired t"
            sd = stats.tstd([x - y for x, y in zip(xs, ys, strict=True)])
        else:
            result, test = stats.ttest_ind(xs, ys, equal_var=False), "Welch t"
            sd = math.sqrt(stats.tvar(xs) + stats.tvar(ys))
        interval = result.confidence_interval(CONFIDENCE)
        tost_p = None if margin is None else tost(xs, ys, margin=margin, paired=paired)
    low, high, p = float(interval.low), float(interval.high), float(result.pvalue)
    return Comparison(metric, diff, low, high, p, test, len(xs), len(ys), float(sd), margin, tost_p)


def verdicts(
    groups: list[Group], selector: dict, metrics: tuple[str, ...] | None = None, *, margins: dict | None = None
) -> list[Verdict]:
    """A Verdict per group, in group order (the baseline's own has no comparisons); `metrics` default to the
    catalogue's verdict metrics; `margins`: metric -> equivalence margin (fraction)."""
    found, margins = [], margins or {}
    for group in groups:
        baseline = find_baseline(group, groups, selector)
        if baseline is None or baseline is group:
            found.append(Verdict(group, baseline, []))
            continue
        comparisons = [compare(group, baseline, m, margins.get(m)) for m in metrics or verdict_metrics()]
        found.append(Verdict(group, baseline, [c for c in comparisons if c is not None]))
    return found
