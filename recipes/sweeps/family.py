"""Family-wise control: the p-values of every comparison a summary prints, adjusted together.

The family is every group and verdict metric against its baseline that has a p-value (a finite one: one seed on
a side, or no spread at all, is no test). Five methods on three metrics make 15 comparisons; at p < 0.05 each,
about one in fifteen reads "better" or "worse" with no effect at all. Holm's step-down method (default) keeps the
chance of any false "better"/"worse" in the family under 5 % and rejects at least what Bonferroni does; "bh"
(Benjamini-Hochberg) keeps the expected share of false ones among those called under 5 % instead (the false
discovery rate), for sweeps of many groups; "none" leaves each p as it is. statsmodels' multipletests does the
arithmetic.

The equivalence tests (TOST p-values, with --margin) are a second family, adjusted by the same method: they ask
another question of the same comparisons (is the difference inside ±margin?), and only a comparison not called
better or worse can be called equivalent.

The 95 % intervals shown stay unadjusted: Holm has no simultaneous intervals that agree with its decisions (the
Bonferroni-widened ones would call fewer than Holm's p-values do), so the table says "unadjusted" and the word
follows the adjusted p. A word "better" or "worse" always has an interval that excludes 0 (adjusted p >= p).
"""

from __future__ import annotations

import dataclasses
import math

from statsmodels.stats.multitest import multipletests

from recipes.sweeps.verdict import ALPHA, Verdict

CORRECTIONS = {"holm": "holm", "bh": "fdr_bh", "none": None}  # --correction -> multipletests' method
NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "none"}


def check_correction(correction: str) -> None:
    """Raises ValueError naming `correction` when it is not one of CORRECTIONS."""
    if correction not in CORRECTIONS:
        raise ValueError(f"--correction {correction!r}: choose one of {', '.join(CORRECTIONS)}")


def adjust(pvalues: list[float], correction: str) -> list[float]:
    """The adjusted p-values, in order (the same values for "none")."""
    check_correction(correction)
    method = CORRECTIONS[correction]
    if method is None or not pvalues:
        return list(pvalues)
    return [float(p) for p in multipletests(pvalues, alpha=ALPHA, method=method)[1]]


def _tested(p: float | None) -> bool:
    return p is not None and math.isfinite(p)


def correct(verdicts: list[Verdict], correction: str) -> tuple[list[Verdict], int, int]:
    """The verdicts with p_adj and tost_p_adj set on every tested comparison, the family's size and the
    equivalence family's size."""
    found = [(i, j, c) for i, v in enumerate(verdicts) for j, c in enumerate(v.comparisons)]
    family = [(i, j, c) for i, j, c in found if _tested(c.p)]
    tost_family = [(i, j, c) for i, j, c in found if _tested(c.tost_p)]
    comparisons = [list(v.comparisons) for v in verdicts]
    for (i, j, _), p in zip(family, adjust([c.p for _, _, c in family], correction), strict=True):
        comparisons[i][j] = dataclasses.replace(comparisons[i][j], p_adj=p)
    for (i, j, _), p in zip(tost_family, adjust([c.tost_p for _, _, c in tost_family], correction), strict=True):
        comparisons[i][j] = dataclasses.replace(comparisons[i][j], tost_p_adj=p)
    corrected = [dataclasses.replace(v, comparisons=cs) for v, cs in zip(verdicts, comparisons, strict=True)]
    return corrected, len(family), len(tost_family)


def level(correction: str, size: int) -> float:
    """The smallest per-comparison level the correction may use in a family of `size`: α/m for Holm and BH
    (the first step of each), α without a correction. A seed plan at this level is conservative."""
    return ALPHA if correction == "none" or size <= 1 else ALPHA / size
