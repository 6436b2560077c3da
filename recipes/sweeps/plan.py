"""A seed plan: for each comparison not resolved, how many seeds per side would resolve it, and the command.

The number is the n of a paired t test (statsmodels' TTestPower: a one-sample t on the per-seed differences,
which is what the verdict runs once both sides have the same seeds) with 80 % power:
- to show the observed difference |diff| (two-sided), at the family's smallest level: α/m for Holm and BH
  (recipes/sweeps/family.py level), α without a correction. Conservative: Holm's later steps test at more;
- to show equivalence, when the metric has a margin and the observed |diff| lies inside it: each one-sided test
  against the nearer bound gets 90 % power for the distance margin − |diff| at the equivalence family's
  smallest level, so both pass with at least 80 % (the farther bound is easier).
The sd is the one the verdict measured: of the per-seed differences when paired, else sqrt(var + var_base)
(independent runs). Three seeds estimate an sd roughly: the plan says so with the sd's own 95 % range. More
than MAX_SEEDS seeds per side is reported as not worth it.

The command reruns the sweep's overrides (each run's .hydra/overrides.yaml) with the new seeds into the same
sweep dir, where the run dirs are named by the overrides (configs/train.yaml, recipes.run_keys.run_name): the
new runs land beside the old ones, finished runs are skipped, and the baseline is the one already there.
"""

from __future__ import annotations

import dataclasses
import math
import shlex
from dataclasses import dataclass
from pathlib import Path

import yaml
from scipy import stats
from statsmodels.stats.power import TTestPower

from recipes.run_keys import NOT_RESULT_DEFINING
from recipes.sweeps.family import level
from recipes.sweeps.runs import Group
from recipes.sweeps.verdict import Comparison, Verdict

POWER = 0.8
MAX_SEEDS = 50


@dataclass(frozen=True)
class Plan:
    """What it takes to resolve one comparison."""

    goal: str  # "difference" | "equivalence"
    effect: float  # the distance to show (fraction): |diff|, or margin − |diff|
    sd: float  # sd of one seed's difference (fraction)
    alpha: float  # the per-test level planned for
    seeds: int | None  # seeds per side for 80 % power; None: more than MAX_SEEDS (or no spread to plan from)
    command: str | None  # None when the runs lack .hydra/overrides.yaml


def seeds_needed(effect: float, sd: float, *, alpha: float, power: float, alternative: str) -> int | None:
    """The smallest n (>= 2) of a one-sample t with `power` for a mean `effect` over `sd`; None above MAX_SEEDS
    or without a positive, finite sd and effect."""
    if not (sd > 0 and effect > 0 and math.isfinite(sd)):
        return None
    size = effect / sd
    # power grows with n: the first n that reaches it (solve_power's root finder fails at the small levels of a
    # large family, returning nan; a direct search over 2..MAX_SEEDS does not)
    for n in range(2, MAX_SEEDS + 1):
        if t_power(size, n, alpha, alternative=alternative) >= power:
            return n
    return None


def t_power(size: float, n: int, alpha: float, *, alternative: str) -> float:
    """statsmodels' TTestPower().power; where that is nan, the same sum of the noncentral t's two tails with a
    failing (nan) lower tail counted as 0: scipy's nct.cdf fails far below a large noncentrality, where the tail
    is far below 1e-6 anyway."""
    value = TTestPower().power(size, n, alpha, alternative=alternative)
    if math.isfinite(value) or alternative != "two-sided":
        return float(value)
    df, nc = n - 1, size * math.sqrt(n)
    critical = stats.t.isf(alpha / 2, df)
    lower = stats.nct.cdf(-critical, df, nc)
    return float(stats.nct.sf(critical, df, nc) + (lower if math.isfinite(lower) else 0.0))


def load_overrides(run_dir: Path) -> list[str] | None:
    """The job's command-line overrides (Hydra's .hydra/overrides.yaml); None when the file is absent."""
    path = run_dir / ".hydra" / "overrides.yaml"
    return [str(item) for item in yaml.safe_load(path.read_text()) or []] if path.is_file() else None


def _side(group: Group) -> dict[str, str] | None:
    """key -> value of the overrides of a group's first run, without the seed (sides differ in these)."""
    overrides = load_overrides(group.runs[0].path)
    if overrides is None:
        return None
    pairs = (item.partition("=") for item in overrides)
    return {key: value for key, _, value in pairs if key != "seed"}


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def sweep_command(group: Group, baseline: Group, seeds: list[int]) -> str | None:
    """`python train.py -m <overrides> seed=3,4,5 hydra.sweep.dir=<dir>` for the group and its baseline; two
    commands joined by && when the sides differ in more than one key (one would train their cross product)."""
    ours, base = _side(group), _side(baseline)
    if ours is None or base is None:
        return None
    tail = [f"seed={seed_list(seeds)}", f"hydra.sweep.dir={_shown(group.runs[0].path.parent)}"]
    differ = [k for k in {**ours, **base} if ours.get(k) != base.get(k) and k not in NOT_RESULT_DEFINING]
    if len(differ) == 1 and differ[0] in ours and differ[0] in base:
        key = differ[0]
        sides = [{**ours, key: f"{ours[key]},{base[key]}"}]
    else:
        sides = [ours, base]
    commands = [["python", "train.py", "-m", *(f"{k}={v}" for k, v in side.items()), *tail] for side in sides]
    return " && ".join(shlex.join(c) for c in commands)


def seed_list(seeds: list[int]) -> str:
    """Hydra's sweep syntax: 'range(3,25)' for more than three consecutive seeds, else '3,4,5'."""
    if len(seeds) > 3 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"range({seeds[0]},{seeds[-1] + 1})"
    return ",".join(map(str, seeds))


def new_seeds(group: Group, baseline: Group, total: int) -> list[int]:
    """Seeds to add so that both sides have `total` complete ones: the smallest seeds neither side completed."""
    have = {r.config.get("seed") for g in (group, baseline) for r in g.complete}
    done = min(len(group.complete), len(baseline.complete))
    fresh = (s for s in range(10 * MAX_SEEDS) if s not in have)
    return [next(fresh) for _ in range(max(total - done, 0))]


def plan_for(c: Comparison, group: Group, baseline: Group, *, alpha: float, alpha_equivalence: float) -> Plan:
    """The plan of one comparison not resolved (c.sd set)."""
    if c.margin is not None and abs(c.diff) < c.margin:
        goal, effect = "equivalence", c.margin - abs(c.diff)
        seeds = seeds_needed(effect, c.sd, alpha=alpha_equivalence, power=1 - (1 - POWER) / 2, alternative="larger")
        alpha = alpha_equivalence
    else:
        goal, effect = "difference", abs(c.diff)
        seeds = seeds_needed(effect, c.sd, alpha=alpha, power=POWER, alternative="two-sided")
    seeds = None if seeds is None else max(seeds, min(c.n, c.n_base) + 1)
    command = None if seeds is None else sweep_command(group, baseline, new_seeds(group, baseline, seeds))
    return Plan(goal, effect, c.sd, alpha, seeds, command)


def add_plans(verdicts: list[Verdict], correction: str, family: int, tost_family: int) -> list[Verdict]:
    """The verdicts with a Plan on every comparison whose word is "not resolved"."""
    alpha, alpha_equivalence = level(correction, family), level(correction, tost_family)
    planned = []
    for v in verdicts:
        comparisons = [
            dataclasses.replace(
                c, plan=plan_for(c, v.group, v.baseline, alpha=alpha, alpha_equivalence=alpha_equivalence)
            )
            if c.word.startswith("not resolved")
            else c
            for c in v.comparisons
        ]
        planned.append(dataclasses.replace(v, comparisons=comparisons))
    return planned


def sd_range(n: int) -> tuple[float, float]:
    """The 95 % interval of sd_true / sd_estimated from n values (chi-square, n − 1 degrees of freedom)."""
    df = n - 1
    return math.sqrt(df / stats.chi2.ppf(0.975, df)), math.sqrt(df / stats.chi2.ppf(0.025, df))
