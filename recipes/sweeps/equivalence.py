"""Equivalence: is a difference shown to lie inside ±margin? Two one-sided t tests (TOST, Schuirmann 1987).

`--margin top1=0.005,ece=0.01` gives a margin per metric (fractions, like the metrics). The TOST p is the larger
of the two one-sided p-values, H0: diff <= −margin and H0: diff >= +margin, each at 5 %; it is below 0.05
exactly when the 90 % interval of the difference lies inside ±margin. The tests are the verdict's: paired by
seed (a one-sample t on the per-seed differences) or Welch's, so the same data decide both questions.
"""

from __future__ import annotations

import math

from scipy import stats

from recipes.catalogue import is_percent, verdict_metrics


def parse_margins(text: str | None) -> dict[str, float]:
    """'top1=0.005,ece=0.01' -> {'top1': 0.005, 'ece': 0.01}; {} for None.

    Raises ValueError naming the item for a metric the verdict does not compare (recipes.catalogue) or a margin
    that is not a positive finite number.
    """
    if not text:
        return {}
    known, margins = verdict_metrics(), {}
    for item in (part.strip() for part in text.split(",")):
        name, sep, number = item.partition("=")
        if not sep or name not in known:
            raise ValueError(
                f"--margin {item!r}: expected METRIC=FRACTION with METRIC one of {', '.join(known)} "
                "(e.g. --margin top1=0.005,ece=0.01)"
            )
        try:
            value = float(number)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"--margin {item!r}: the margin must be a positive number (a fraction, 0.005 = 0.5 pp)")
        margins[name] = value
    return margins


def margin_text(metric: str, margin: float) -> str:
    """'±0.5 pp' for percent metrics (points), '±0.01' for the others."""
    return f"±{100 * margin:g} pp" if is_percent(metric) else f"±{margin:g}"


def tost(xs: list[float], ys: list[float], *, margin: float, paired: bool) -> float:
    """The TOST p of mean(xs) − mean(ys) against ±margin; xs, ys in seed order when `paired` (nan: no spread)."""
    if paired:
        diffs = [x - y for x, y in zip(xs, ys, strict=True)]
        above = stats.ttest_1samp(diffs, -margin, alternative="greater").pvalue
        below = stats.ttest_1samp(diffs, margin, alternative="less").pvalue
    else:
        above = stats.ttest_ind([x + margin for x in xs], ys, equal_var=False, alternative="greater").pvalue
        below = stats.ttest_ind([x - margin for x in xs], ys, equal_var=False, alternative="less").pvalue
    return float(max(above, below)) if math.isfinite(above) and math.isfinite(below) else math.nan
