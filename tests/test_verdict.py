"""The verdict of scripts/summarize.py: each group against its baseline, numbers checked against scipy.stats."""

from __future__ import annotations

import csv
import math

import pytest
from scipy import stats

from recipes.sweeps import runs as sweep_runs
from recipes.sweeps import summary as sweep_summary
from recipes.sweeps import verdict as sweep_verdict
from tests.test_summarize import config, make_run, result


def runs_of(root, method: str, seeds: list[int], top1: list[float], ece: list[float], **changes):
    """One run dir per seed; dir names in an order unlike the seeds', so pairing must go by seed."""
    for i, (seed, acc, e) in enumerate(zip(seeds, top1, ece, strict=True)):
        aug = {"augment": {"name": method}} if method == "none" else {"augment.name": method}
        cfg = config(seed=seed, **aug, **changes)
        make_run(root, f"{method}-{changes}-{'cba'[i % 3]}{i}", cfg, result(acc, ece=e, nll=0.3 + 0.01 * i))


def verdict_of(root, label_part: str, baseline=None) -> sweep_verdict.Verdict:
    groups = sweep_runs.group_runs(sweep_runs.load_runs([root]))
    found = sweep_verdict.verdicts(groups, sweep_verdict.parse_baseline(baseline, groups))
    [hit] = [v for v in found if label_part in sweep_runs.group_label(v.group)]
    return hit


def t_interval(diffs_mean: float, se: float, df: float) -> tuple[float, float]:
    half = stats.t.ppf(0.975, df) * se
    return diffs_mean - half, diffs_mean + half


def test_paired_by_seed_when_both_sides_ran_the_same_seeds(tmp_path):
    runs_of(tmp_path, "none", [2, 0, 1], top1=[0.900, 0.880, 0.890], ece=[0.020, 0.030, 0.025])
    runs_of(tmp_path, "cutmix", [0, 1, 2], top1=[0.905, 0.915, 0.926], ece=[0.050, 0.046, 0.041])
    verdict = verdict_of(tmp_path, "cutmix")
    assert sweep_runs.group_label(verdict.baseline).startswith("augment.name=none")
    top1, ece, nll = verdict.comparisons
    ours, base = [0.905, 0.915, 0.926], [0.880, 0.890, 0.900]  # seeds 0, 1, 2
    expected = stats.ttest_rel(ours, base)
    assert top1.test == "paired t" and (top1.n, top1.n_base) == (3, 3)
    assert top1.diff == pytest.approx(sum(ours) / 3 - sum(base) / 3)
    assert top1.p == pytest.approx(expected.pvalue)
    diffs = [a - b for a, b in zip(ours, base, strict=True)]
    se = stats.tstd(diffs) / math.sqrt(3)
    assert (top1.low, top1.high) == pytest.approx(t_interval(top1.diff, se, 2))
    assert top1.word == "better"  # higher top-1, interval above 0
    assert ece.p == pytest.approx(stats.ttest_rel([0.050, 0.046, 0.041], [0.030, 0.025, 0.020]).pvalue)
    assert ece.low > 0 and ece.word == "worse"  # higher ECE is worse
    assert nll.word == "not resolved (n = 3)"  # same nll per dir position, different per seed


def test_welch_when_the_seeds_differ(tmp_path):
    runs_of(tmp_path, "none", [5, 6], top1=[0.88, 0.89], ece=[0.03, 0.04])
    runs_of(tmp_path, "mixup", [0, 1, 2], top1=[0.90, 0.93, 0.91], ece=[0.010, 0.012, 0.011])
    top1, ece, _ = verdict_of(tmp_path, "mixup").comparisons
    ours, base = [0.90, 0.93, 0.91], [0.88, 0.89]
    expected = stats.ttest_ind(ours, base, equal_var=False)
    assert top1.test == "Welch t" and (top1.n, top1.n_base) == (3, 2)
    assert top1.p == pytest.approx(expected.pvalue)
    va, vb = stats.tvar(ours) / 3, stats.tvar(base) / 2
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 1)  # Welch-Satterthwaite
    assert (top1.low, top1.high) == pytest.approx(t_interval(top1.diff, math.sqrt(va + vb), df))
    assert ece.diff < 0 and ece.word in ("better", "not resolved (n = 3 vs 2)")
    assert ece.word == ("better" if ece.high < 0 else "not resolved (n = 3 vs 2)")


def test_one_seed_gives_no_interval(tmp_path):
    runs_of(tmp_path, "none", [0], top1=[0.88], ece=[0.03])
    runs_of(tmp_path, "cutmix", [0, 1], top1=[0.90, 0.91], ece=[0.02, 0.02])
    top1 = verdict_of(tmp_path, "cutmix").comparisons[0]
    assert top1.low is None and top1.p is None and top1.test == "—"
    assert top1.diff == pytest.approx(0.905 - 0.88)
    assert top1.word == "one seed: no interval possible (n = 2 vs 1)"


def test_each_model_against_its_own_baseline_and_groups_without_one(tmp_path):
    for model, shift in (("resnet18", 0.0), ("preact_resnet18", 0.05)):
        runs_of(tmp_path, "none", [0, 1], [0.80 + shift, 0.81 + shift], [0.03, 0.03], **{"model.name": model})
        runs_of(tmp_path, "cutmix", [0, 1], [0.82 + shift, 0.84 + shift], [0.02, 0.02], **{"model.name": model})
    runs_of(tmp_path, "cutmix", [0, 1], [0.5, 0.6], [0.1, 0.1], **{"model.name": "vit_tiny"})
    for model in ("resnet18", "preact_resnet18"):
        verdict = verdict_of(tmp_path, f"model.name={model}, augment.name=cutmix")
        assert verdict.baseline.config["model.name"] == model and verdict.baseline.config["augment.name"] == "none"
        assert verdict.comparisons[0].diff == pytest.approx(0.025)
    orphan = verdict_of(tmp_path, "model.name=vit_tiny")
    assert orphan.baseline is None and orphan.comparisons == []
    text = sweep_summary.summarize([tmp_path], out=tmp_path / "out", plots=False)
    assert "no baseline: no augment.name=none group with the same other settings" in text
    assert text.count("**baseline**") == 2


def test_chosen_baseline_and_its_errors(tmp_path):
    runs_of(tmp_path, "none", [0, 1], [0.80, 0.81], [0.03, 0.03])
    runs_of(tmp_path, "mixup", [0, 1], [0.82, 0.83], [0.02, 0.02])
    runs_of(tmp_path, "cutmix", [0, 1], [0.85, 0.86], [0.02, 0.02])
    verdict = verdict_of(tmp_path, "cutmix", baseline=["augment.name=mixup"])
    assert verdict.baseline.config["augment.name"] == "mixup"
    assert verdict.comparisons[0].diff == pytest.approx(0.03)
    assert verdict_of(tmp_path, "mixup", baseline=["augment.name=mixup"]).is_baseline
    with pytest.raises(ValueError, match="'augment.nam'"):
        sweep_summary.summarize([tmp_path], baseline=["augment.nam=none"], plots=False)
    with pytest.raises(ValueError, match="no group of runs has these values"):
        sweep_summary.summarize([tmp_path], baseline=["augment.name=fmix"], plots=False)
    with pytest.raises(ValueError, match="not KEY=VALUE"):
        sweep_summary.summarize([tmp_path], baseline=["mixup"], plots=False)
    assert sweep_summary.main([str(tmp_path), "--baseline", "augment.name=fmix", "--no-plots"]) == 2


def test_several_candidate_baselines_are_refused(tmp_path):
    runs_of(tmp_path, "mixup", [0], [0.82], [0.02], **{"augment.alpha": 0.5})
    runs_of(tmp_path, "mixup", [0], [0.83], [0.02], **{"augment.alpha": 1.0})
    runs_of(tmp_path, "cutmix", [0], [0.85], [0.02])
    with pytest.raises(ValueError, match="matches several groups"):
        sweep_summary.summarize([tmp_path], baseline=["augment.name=mixup"], plots=False)
    verdict = verdict_of(tmp_path, "cutmix", baseline=["augment.name=mixup", "augment.alpha=1"])
    assert verdict.baseline.config["augment.alpha"] == 1.0


def test_table_and_csv_carry_the_verdict(tmp_path):
    runs_of(tmp_path, "none", [0, 1, 2], [0.880, 0.890, 0.900], [0.030, 0.025, 0.020])
    runs_of(tmp_path, "cutmix", [0, 1, 2], [0.905, 0.915, 0.926], [0.050, 0.046, 0.041])
    text = sweep_summary.summarize([tmp_path], out=tmp_path / "out", plots=False)
    top1 = verdict_of(tmp_path, "cutmix").comparisons[0]
    row = next(line for line in text.splitlines() if line.startswith("| cutmix |") and "| top1 |" in line)
    interval = f"[+{100 * top1.low:.2f}, +{100 * top1.high:.2f}]"
    assert top1.p < 0.001
    assert f"| +{100 * top1.diff:.2f} | {interval} | < 0.001 | < 0.001 | paired t | 3 / 3 | **better** |" in row
    with open(tmp_path / "out" / "summary.csv") as f:
        rows = {r["augment.name"]: r for r in csv.DictReader(f)}
    assert rows["none"]["baseline"] == "self" and rows["none"]["top1_diff"] == ""
    cut = rows["cutmix"]
    assert cut["baseline"].startswith("augment.name=none") and cut["top1_test"] == "paired t"
    assert float(cut["top1_diff"]) == pytest.approx(top1.diff) and float(cut["top1_p"]) == pytest.approx(top1.p)
    assert float(cut["top1_ci_low"]) == pytest.approx(top1.low) and cut["ece_verdict"] == "worse"


def test_no_baseline_in_the_runs_is_a_note_not_an_error(tmp_path):
    runs_of(tmp_path, "cutmix", [0, 1], [0.85, 0.86], [0.02, 0.02], **{"augment.alpha": 0.5})
    runs_of(tmp_path, "cutmix", [0, 1], [0.85, 0.86], [0.02, 0.02])
    text = sweep_summary.summarize([tmp_path], out=tmp_path, plots=False)
    assert "No baseline group (augment.name=none) in these runs: no verdict." in text
