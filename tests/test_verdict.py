"""The verdict of scripts/summarize.py: each group against its baseline, numbers checked against scipy.stats."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import ttost_ind, ttost_paired

from recipes.sweeps import equivalence as sweep_equivalence
from recipes.sweeps import plan as sweep_plan
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


# --------------------------------------------------------------------------------------------------
# Family correction, equivalence and the seed plan (issue 21), against statsmodels
# --------------------------------------------------------------------------------------------------

BASE_TOP1 = [0.800, 0.810, 0.820]  # seeds 0, 1, 2
DESIGN = {  # method -> per-seed top-1 differences, ECE, NLL
    "none": ([0, 0, 0], [0.060, 0.070, 0.065], [0.50, 0.52, 0.51]),
    "cutmix": ([0.030, 0.032, 0.031], [0.020, 0.024, 0.019], [0.47, 0.50, 0.49]),  # clearly better
    "mixup": ([0.010, 0.014, 0.008], [0.050, 0.072, 0.058], [0.49, 0.53, 0.50]),  # raw p 0.026: not after Holm
    "fmix": ([0.001, -0.001, 0.0005], [0.061, 0.069, 0.066], [0.50, 0.53, 0.50]),  # inside ±0.5 pp
}


@pytest.fixture
def designed(tmp_path):
    """A sweep with the values of DESIGN and Hydra's .hydra/overrides.yaml in each run dir."""
    root = tmp_path / "sweep"
    for method, (diffs, ece, nll) in DESIGN.items():
        for seed in range(3):
            aug = {"augment": {"name": method}} if method == "none" else {"augment.name": method}
            metrics = result(BASE_TOP1[seed] + diffs[seed], ece=ece[seed], nll=nll[seed])
            run = make_run(root, f"augment={method},seed={seed}", config(seed=seed, **aug), metrics)
            (run / ".hydra" / "overrides.yaml").write_text(f"- augment={method}\n- seed={seed}\n")
    return root


def designed_verdicts(root, correction="holm", margins=None, plan=False):
    groups = sweep_runs.group_runs(sweep_runs.load_runs([root]))
    text, found, family = sweep_summary.verdict_part(groups, None, correction=correction, margins=margins, plan=plan)
    by_method = {v.group.values["augment.name"]: {c.metric: c for c in v.comparisons} for v in found if v.comparisons}
    return by_method, family, text


def per_seed(method: str, metric: str) -> list[float]:
    diffs, ece, nll = DESIGN[method]
    return {"top1": [b + d for b, d in zip(BASE_TOP1, diffs, strict=True)], "ece": ece, "nll": nll}[metric]


@pytest.mark.parametrize(("correction", "method"), [("holm", "holm"), ("bh", "fdr_bh"), ("none", None)])
def test_adjusted_p_is_multipletests_over_every_comparison(designed, correction, method):
    found, family, _ = designed_verdicts(designed, correction)
    comparisons = [c for by_metric in found.values() for c in by_metric.values() if not math.isnan(c.p)]
    assert family.size == len(comparisons) >= 9 and family.correction == correction  # 3 methods x verdict metrics
    for name, by_metric in found.items():
        for metric in ("top1", "ece", "nll"):  # the designed ones (the catalogue may verdict more)
            expected = stats.ttest_rel(per_seed(name, metric), per_seed("none", metric)).pvalue
            assert by_metric[metric].p == pytest.approx(expected)
    raw = [c.p for c in comparisons]
    expected = raw if method is None else multipletests(raw, alpha=0.05, method=method)[1]
    assert [c.p_adj for c in comparisons] == pytest.approx(list(expected))
    mixup = found["mixup"]["top1"]
    assert mixup.p < 0.05 and mixup.low > 0  # shown alone, not in a family of 9
    assert mixup.word == ("better" if correction == "none" else "not resolved (n = 3)")
    assert found["cutmix"]["top1"].word == "better" and found["cutmix"]["ece"].word == "better"


def test_equivalence_is_tost_against_statsmodels(designed):
    found, family, _ = designed_verdicts(designed, margins={"top1": 0.005})
    assert family.equivalence_size == 3  # the top-1 comparisons; ECE and NLL have no margin
    tost = {name: by_metric["top1"].tost_p for name, by_metric in found.items()}
    for name, p in tost.items():
        expected = ttost_paired(np.array(per_seed(name, "top1")), np.array(per_seed("none", "top1")), -0.005, 0.005)
        assert p == pytest.approx(expected[0])
    adjusted = multipletests(list(tost.values()), alpha=0.05, method="holm")[1]
    assert [found[n]["top1"].tost_p_adj for n in tost] == pytest.approx(list(adjusted))
    fmix = found["fmix"]["top1"]
    assert fmix.tost_p_adj < 0.05 and fmix.word == "equivalent (±0.5 pp)"
    assert found["mixup"]["top1"].word == "not resolved (n = 3)"  # +1.07 pp: outside the margin
    assert found["cutmix"]["top1"].word == "better"  # a shown difference comes first
    assert found["fmix"]["ece"].margin is None and found["fmix"]["ece"].word == "not resolved (n = 3)"
    without, _, _ = designed_verdicts(designed)
    assert without["fmix"]["top1"].tost_p is None and without["fmix"]["top1"].word == "not resolved (n = 3)"


def test_equivalence_without_a_correction_is_the_90_percent_interval_inside_the_margin():
    xs, ys = [0.801, 0.809, 0.8205, 0.812], [0.800, 0.810, 0.820]  # different seeds: Welch
    for margin in (0.002, 0.005, 0.01, 0.02):
        p = sweep_equivalence.tost(xs, ys, margin=margin, paired=False)
        assert p == pytest.approx(ttost_ind(np.array(xs), np.array(ys), -margin, margin, usevar="unequal")[0])
        ci = stats.ttest_ind(xs, ys, equal_var=False).confidence_interval(0.90)
        assert (p < 0.05) == (-margin < ci.low and ci.high < margin)


def test_margin_errors_name_the_item():
    assert sweep_equivalence.parse_margins("top1=0.005, ece=0.01") == {"top1": 0.005, "ece": 0.01}
    assert sweep_equivalence.parse_margins(None) == {}
    with pytest.raises(ValueError, match="'top5=0.01'.*METRIC one of top1, "):
        sweep_equivalence.parse_margins("top5=0.01")
    for bad in ("top1=half", "top1=-0.01", "top1=0", "top1=nan", "top1"):
        with pytest.raises(ValueError, match=f"--margin '{bad}'"):
            sweep_equivalence.parse_margins(bad)
    assert sweep_equivalence.margin_text("top1", 0.005) == "±0.5 pp"
    assert sweep_equivalence.margin_text("ece", 0.01) == "±0.01"


def test_plan_matches_ttest_power(designed):
    margins = {"top1": 0.005, "ece": 0.02}
    found, family, _ = designed_verdicts(designed, margins=margins, plan=True)
    assert family.equivalence_size == 6  # top-1 and ECE of 3 methods
    alpha = 0.05 / family.size  # Holm's first step: the whole family (3 methods x the verdict metrics)
    power = TTestPower()
    mixup = found["mixup"]["top1"]  # not resolved, outside the margin: plan the difference at 0.05/m
    diffs = [a - b for a, b in zip(per_seed("mixup", "top1"), per_seed("none", "top1"), strict=True)]
    assert mixup.plan.goal == "difference" and mixup.plan.sd == pytest.approx(stats.tstd(diffs))
    n = power.solve_power(effect_size=abs(np.mean(diffs)) / stats.tstd(diffs), alpha=alpha, power=0.8)
    assert mixup.plan.alpha == pytest.approx(alpha) and mixup.plan.seeds == math.ceil(n)
    new = ",".join(map(str, range(3, mixup.plan.seeds)))
    assert mixup.plan.command == (
        f"python train.py -m augment=mixup,none seed={new} hydra.sweep.dir={designed.resolve()}"
    )
    ece = found["mixup"]["ece"]  # −0.005 inside ±0.02, not yet shown: plan equivalence at 0.05/6, 90 % per side
    assert ece.word == "not resolved (n = 3)" and ece.plan.goal == "equivalence"
    size = (0.02 - abs(ece.diff)) / ece.plan.sd
    n = power.solve_power(effect_size=size, alpha=0.05 / 6, power=0.9, alternative="larger")
    assert ece.plan.alpha == pytest.approx(0.05 / 6) and ece.plan.seeds == max(math.ceil(n), 4)
    assert found["fmix"]["nll"].plan.seeds is None  # no difference at all: more than 50 seeds
    assert found["cutmix"]["top1"].plan is None and found["fmix"]["top1"].plan is None  # resolved
    without, _, _ = designed_verdicts(designed, margins=margins)
    assert without["mixup"]["top1"].plan is None


def test_seeds_needed_caps_and_agrees_with_power():
    for size in (0.8, 1.5, 3.0):
        n = sweep_plan.seeds_needed(size, 1.0, alpha=0.01, power=0.8, alternative="two-sided")
        assert TTestPower().power(size, n, 0.01) >= 0.8 > TTestPower().power(size, n - 1, 0.01) or n == 2
    assert sweep_plan.seeds_needed(0.1, 1.0, alpha=0.05, power=0.8, alternative="two-sided") is None  # > 50
    # a family of 28 (the small-data sweep: 4 methods x 7 metrics): TTestPower.solve_power's root finder fails
    # there for some sizes (nan); the plan still answers, with the n that reaches the power
    level = 0.05 / 28
    for size in np.linspace(0.6, 12.0, 40):
        n = sweep_plan.seeds_needed(size, 1.0, alpha=level, power=0.8, alternative="two-sided")
        assert n is not None and (n == 2 or sweep_plan.t_power(size, n - 1, level, alternative="two-sided") < 0.8)
        assert sweep_plan.t_power(size, n, level, alternative="two-sided") >= 0.8
    # where statsmodels' power is nan (scipy's noncentral t fails in the far lower tail), the power it should
    # be: a simulated paired t test of 8 seeds at this size and level rejects ~95 % of the time
    assert math.isnan(TTestPower().power(2.6461538461538465, 8, level))
    assert sweep_plan.t_power(2.6461538461538465, 8, level, alternative="two-sided") == pytest.approx(0.952, abs=0.005)
    assert sweep_plan.seeds_needed(0.1, 0.0, alpha=0.05, power=0.8, alternative="two-sided") is None
    low, high = sweep_plan.sd_range(3)
    assert low**2 == pytest.approx(2 / stats.chi2.ppf(0.975, 2)) and high**2 == pytest.approx(
        2 / stats.chi2.ppf(0.025, 2)
    )
    assert sweep_plan.seed_list([3, 4, 5]) == "3,4,5" and sweep_plan.seed_list([3, 4, 5, 6]) == "range(3,7)"


def test_summarize_prints_and_writes_all_of_it(designed, capsys):
    out = designed / "out"
    args = [str(designed), "--margin", "top1=0.005", "--plan", "--no-plots", "--out", str(out)]
    assert sweep_summary.main(args) == 0
    text = capsys.readouterr().out
    found, family, _ = designed_verdicts(designed, margins={"top1": 0.005}, plan=True)
    for part in (f"p (holm, m = {family.size})", "TOST p (holm, m = 3)", "95 % CI (unadjusted)"):
        assert part in text
    assert "**equivalent (±0.5 pp)**" in text and "**not resolved (n = 3)**" in text
    assert "## Seed plan" in text and "**A plan from 3 seeds is rough**" in text
    assert f"`{found['mixup']['top1'].plan.command}`" in text
    with open(out / "summary.csv") as f:
        rows = {r["augment.name"]: r for r in csv.DictReader(f)}
    mixup, fmix = rows["mixup"], rows["fmix"]
    assert mixup["correction"] == "holm" and mixup["family_size"] == str(family.size)
    assert float(mixup["top1_p_adj"]) == pytest.approx(found["mixup"]["top1"].p_adj)
    assert mixup["top1_plan_goal"] == "difference"
    assert mixup["top1_plan_seeds"] == str(found["mixup"]["top1"].plan.seeds)
    assert float(mixup["top1_plan_sd"]) == pytest.approx(found["mixup"]["top1"].plan.sd)
    assert fmix["top1_verdict"] == "equivalent (±0.5 pp)" and float(fmix["top1_margin"]) == 0.005
    assert float(fmix["top1_tost_p_adj"]) == pytest.approx(found["fmix"]["top1"].tost_p_adj)
    assert fmix["nll_plan_seeds"] == ">50" and fmix["top1_plan_goal"] == ""
    assert sweep_summary.main([str(designed), "--margin", "top9=1", "--no-plots"]) == 2
    assert "--margin 'top9=1'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--correction 'bonferroni'"):
        sweep_summary.summarize([designed], correction="bonferroni", plots=False)
