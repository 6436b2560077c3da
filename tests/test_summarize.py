"""scripts/summarize.py on fabricated multirun dirs: known values in, exact mean/std/n, groups, CSV, paper."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from recipes.sweeps import figures as sweep_figures
from recipes.sweeps import paper as sweep_paper
from recipes.sweeps import runs as sweep_runs
from recipes.sweeps import summary as sweep_summary
from recipes.sweeps import tables as sweep_tables
from recipes.sweeps import verdict as sweep_verdict

ROOT = Path(__file__).resolve().parents[1]


BASE = {
    "dataset": {"name": "fashion_mnist", "root": "data/fm", "subset": None},
    "model": {"name": "preact_resnet18", "width": 64},
    "augment": {"name": "cutmix", "alpha": 1.0, "prob": 1.0, "mode": "elem"},
    "optim": {"name": "sgd", "lr": 0.1},
    "sched": {"name": "multistep", "milestones": [100, 150]},
    "trainer": {"epochs": 20, "batch_size": 128, "device": "cpu"},
    "seed": 0,
    "label_smoothing": 0.0,
    "resume": False,
    "ckpt_path": None,
    "experiment": None,
}


def config(**changes) -> dict:
    """BASE with dotted-key changes, e.g. config(**{"augment.alpha": 0.5})."""
    cfg = json.loads(json.dumps(BASE))
    for key, value in changes.items():
        *path, last = key.split(".")
        node = cfg
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return cfg


def make_run(
    root: Path,
    name: str,
    cfg: dict,
    summary: dict | None = None,
    failed: dict | None = None,
    eval_json: dict | None = None,
) -> Path:
    """A run dir as train.py leaves it: .hydra/config.yaml plus summary.json or failed.json (or neither)."""
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    if summary is not None:
        (run / "summary.json").write_text(json.dumps({"status": "complete", **summary}))
    if failed is not None:
        (run / "failed.json").write_text(json.dumps({"status": "failed", **failed}))
    if eval_json is not None:
        (run / "eval").mkdir()
        (run / "eval" / "eval.json").write_text(json.dumps(eval_json))
    return run


def result(top1: float, ece: float = 0.02, nll: float = 0.3) -> dict:
    return {
        "top1": top1,
        "top5": 0.999,
        "nll": nll,
        "ece": ece,
        "brier": 0.1,
        "best_top1": top1 + 0.001,
        "epochs": 20,
        "wall_s": 100.0,
        "img_per_s": 5000.0,
    }


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """cutmix α∈{0.5,1.0} × 3 seeds, mixup α=1.0 × 2 seeds (1 failed), none × 1 seed, one killed run.

    trainer.device and dataset.root differ between runs on purpose: they must not split groups.
    """
    root = tmp_path / "multirun"
    top1 = {("cutmix", 0.5): [0.90, 0.92, 0.94], ("cutmix", 1.0): [0.93, 0.95, 0.96]}
    for (method, alpha), values in top1.items():
        for seed, acc in enumerate(values):
            cfg = config(
                **{
                    "augment.name": method,
                    "augment.alpha": alpha,
                    "seed": seed,
                    "trainer.device": f"cuda:{seed}",
                    "dataset.root": f"/data{seed}",
                }
            )
            name = f"augment={method},augment.alpha={alpha},seed={seed}"
            make_run(root, name, cfg, result(acc, ece=0.01 * seed))
    mixup = config(**{"augment.name": "mixup"})
    make_run(root, "augment=mixup,seed=0", mixup, result(0.91, ece=0.05))
    make_run(root, "augment=mixup,seed=1", {**mixup, "seed": 1}, failed={"error": "RuntimeError: boom", "epoch": 3})
    none = config(**{"augment": {"name": "none"}})
    make_run(root, "augment=none,seed=0", none, result(0.89))
    make_run(root, "augment=none,seed=1", {**none, "seed": 1})  # killed: neither summary.json nor failed.json
    return root


def by_label(groups):
    return {sweep_runs.group_label(g): g for g in groups}


# --------------------------------------------------------------------------------------------------
# Loading and grouping
# --------------------------------------------------------------------------------------------------


def test_mean_std_is_sample_std():
    stat = sweep_runs.mean_std([0.90, 0.92, 0.94])
    assert stat.mean == pytest.approx(0.92) and stat.std == pytest.approx(0.02) and stat.n == 3
    assert stat.std == pytest.approx(np.std([0.90, 0.92, 0.94], ddof=1))
    assert sweep_runs.mean_std([0.5]) == sweep_runs.Stat(0.5, None, 1)
    with pytest.raises(ValueError, match=r"\[\]"):
        sweep_runs.mean_std([])


def test_status_of_each_run(sweep):
    runs = {r.path.name: r for r in sweep_runs.load_runs([sweep])}
    assert len(runs) == 10
    failed = runs["augment=mixup,seed=1"]
    assert failed.status == "failed" and failed.error == "RuntimeError: boom" and failed.epoch == 3
    assert runs["augment=none,seed=1"].status == "incomplete"
    assert runs["augment=cutmix,augment.alpha=0.5,seed=2"].metrics["top1"] == 0.94
    assert runs["augment=none,seed=0"].config["sched.milestones"] == (100, 150)


def test_groups_by_differing_run_defining_keys_only(sweep):
    runs = sweep_runs.load_runs([sweep])
    assert sweep_runs.varying_keys(runs) == ["augment.name", "augment.alpha", "augment.prob", "augment.mode"]
    groups = by_label(sweep_runs.group_runs(runs))
    cut05 = groups["augment.name=cutmix, augment.alpha=0.5, augment.prob=1.0, augment.mode=elem"]
    assert len(cut05.runs) == 3
    stats = cut05.stats()
    assert stats["top1"].mean == pytest.approx(0.92) and stats["top1"].std == pytest.approx(0.02)
    assert stats["ece"].mean == pytest.approx(0.01) and stats["ece"].std == pytest.approx(0.01)
    none = groups["augment.name=none, augment.alpha=—, augment.prob=—, augment.mode=—"]
    assert [r.status for r in none.runs] == ["complete", "incomplete"] and none.stats()["top1"].n == 1
    mixup = groups["augment.name=mixup, augment.alpha=1.0, augment.prob=1.0, augment.mode=elem"]
    assert mixup.stats()["top1"] == sweep_runs.Stat(0.91, None, 1)


def test_one_group_when_only_seed_and_bookkeeping_differ(tmp_path):
    for seed in range(3):
        cfg = config(seed=seed, resume=bool(seed), **{"trainer.device": str(seed)})
        make_run(tmp_path, f"seed={seed}", cfg, result(0.5 + 0.1 * seed))
    groups = sweep_runs.group_runs(sweep_runs.load_runs([tmp_path]))
    assert len(groups) == 1 and groups[0].values == {}
    assert groups[0].stats()["top1"].mean == pytest.approx(0.6) and groups[0].stats()["top1"].n == 3


def test_null_and_absent_keys_do_not_split_groups(tmp_path):
    make_run(tmp_path, "a", config(**{"augment.min_ratio": None}), result(0.9))
    make_run(tmp_path, "b", config(), result(0.8))
    make_run(tmp_path, "c", config(**{"augment.min_ratio": 0.2}), result(0.7))
    runs = sweep_runs.load_runs([tmp_path])
    assert sweep_runs.varying_keys(runs) == ["augment.min_ratio"]
    assert sweep_runs.varying_keys(runs[:2]) == []
    assert [len(g.runs) for g in sweep_runs.group_runs(runs)] == [2, 1]


def test_int_and_float_are_one_setting_but_bool_is_not(tmp_path):
    make_run(tmp_path, "a", config(**{"augment.alpha": 1}), result(0.9))
    make_run(tmp_path, "b", config(**{"augment.alpha": 1.0}), result(0.8))
    assert len(sweep_runs.group_runs(sweep_runs.load_runs([tmp_path]))) == 1
    make_run(tmp_path, "c", config(**{"augment.alpha": True}), result(0.7))
    assert len(sweep_runs.group_runs(sweep_runs.load_runs([tmp_path]))) == 2


def test_unresolvable_interpolation_stays_text(tmp_path):
    make_run(
        tmp_path,
        "a",
        config(**{"trainer.batch_size": "${oc.env:NOT_SET_ANYWHERE_XYZ}", "optim.lr": "${trainer.epochs}"}),
        result(0.9),
    )
    run = sweep_runs.load_runs([tmp_path])[0]
    assert run.config["trainer.batch_size"] == "${oc.env:NOT_SET_ANYWHERE_XYZ}"
    assert run.config["optim.lr"] == "${trainer.epochs}"


def test_broken_summary_is_reported_not_dropped(tmp_path):
    run = make_run(tmp_path, "a", config())
    (run / "summary.json").write_text('{"status": "compl')
    loaded = sweep_runs.load_runs([tmp_path])[0]
    assert loaded.status == "incomplete" and "unreadable" in loaded.error


def test_no_runs_and_missing_dir_are_errors(tmp_path):
    with pytest.raises(ValueError, match="no run dirs"):
        sweep_runs.load_runs([tmp_path])
    with pytest.raises(ValueError, match="nope"):
        sweep_runs.load_runs([tmp_path / "nope"])
    assert sweep_summary.main([str(tmp_path)]) == 2


def test_eval_metrics_join_and_ood_is_flattened(tmp_path):
    ev = {
        "top1": 0.1,
        "ece": 0.2,
        "mce": 0.3,
        "ece_ts": 0.01,
        "occlusion_center": [[0.1, 0.5]],
        "ood": {"svhn": {"auroc": 0.8, "tnr_at_tpr95": 0.4, "detection_acc": 0.7}},
    }
    make_run(tmp_path, "a", config(), result(0.9), eval_json=ev)
    metrics = sweep_runs.load_runs([tmp_path])[0].metrics
    assert metrics["top1"] == 0.9 and metrics["ece"] == 0.02  # summary.json wins for shared names
    assert metrics["mce"] == 0.3 and metrics["ece_ts"] == 0.01 and metrics["ood.svhn.auroc"] == 0.8
    assert "occlusion_center" not in metrics


# --------------------------------------------------------------------------------------------------
# Tables and files
# --------------------------------------------------------------------------------------------------


def test_markdown_table_numbers_and_problem_runs(sweep, tmp_path):
    text = sweep_summary.summarize([sweep], out=tmp_path / "out", plots=False)
    assert text == (tmp_path / "out" / "summary.md").read_text()
    table = text.split("## Against the baseline")[0]  # the verdict's table is tested in test_verdict.py
    lines = {line.split(" | ")[0].strip("| "): line for line in table.splitlines() if line.startswith("| ")}
    header = lines["augment.name"]
    assert "top1 (%)" in header and "| ece |" in header and "| nll |" in header and header.endswith("| n |")
    row05 = next(line for line in text.splitlines() if line.startswith("| cutmix | 0.5"))
    assert "| 92.00 ± 2.00 |" in row05 and "| 0.0100 ± 0.0100 |" in row05 and row05.endswith("| 3 |")
    assert "| 91.00 ± — |" in lines["mixup"] and lines["mixup"].endswith("| 1 |")
    assert "### Failed runs (1)" in text and "augment=mixup,seed=1" in text and "RuntimeError: boom" in text
    assert "### Incomplete runs (1)" in text and "augment=none,seed=1" in text
    assert "10 runs: 8 complete, 1 failed, 1 incomplete; 4 groups" in text


def test_csv_keeps_fractions_and_counts(sweep, tmp_path):
    sweep_summary.summarize([sweep], out=tmp_path, plots=False)
    with open(tmp_path / "summary.csv") as f:
        rows = {(r["augment.name"], r["augment.alpha"]): r for r in csv.DictReader(f)}
    cut10 = rows[("cutmix", "1.0")]
    assert float(cut10["top1_mean"]) == pytest.approx((0.93 + 0.95 + 0.96) / 3)
    assert float(cut10["top1_std"]) == pytest.approx(np.std([0.93, 0.95, 0.96], ddof=1))
    assert cut10["top1_n"] == "3" and cut10["n_complete"] == "3" and cut10["n_failed"] == "0"
    assert rows[("mixup", "1.0")]["top1_std"] == "" and rows[("mixup", "1.0")]["n_failed"] == "1"
    assert rows[("none", "")]["n_incomplete"] == "1"
    assert float(rows[("none", "")]["best_top1_mean"]) == pytest.approx(0.891)


def test_all_failed_group_still_has_a_row(tmp_path):
    make_run(tmp_path, "ok", config(), result(0.9))
    make_run(tmp_path, "bad", config(**{"augment.alpha": -1.0}), failed={"error": "ValueError: alpha=-1", "epoch": 0})
    text = sweep_summary.summarize([tmp_path], plots=False)
    row = next(line for line in text.splitlines() if line.startswith("| -1.0 |"))
    assert row.endswith("| — | — | — | 0 |")


def test_metrics_option(sweep, tmp_path):
    text = sweep_summary.summarize([sweep], out=tmp_path, metrics="top5,brier", plots=False)
    assert "top5 (%)" in text and "brier" in text and "top1 (%)" not in text
    with pytest.raises(ValueError, match="bogus"):
        sweep_summary.summarize([sweep], out=tmp_path, metrics="top1,bogus", plots=False)


# --------------------------------------------------------------------------------------------------
# Paper comparison
# --------------------------------------------------------------------------------------------------

PAPER = {
    "source": "Harris et al.",
    "metric": "top1",
    "schedule": {"epochs": 200, "batch_size": 128},
    "rows": [
        {"augment": "none", "top1": 0.9570},
        {"augment": "mixup", "alpha": 1.0, "top1": 0.9628},
        {"augment": "cutmix", "alpha": 1.0, "top1": 0.9603},
        {"augment": "fmix", "alpha": 1.0, "top1": 0.9636},
    ],
}


def write_experiment(directory: Path, name: str, node: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text("# @package _global_\n" + yaml.safe_dump(node, sort_keys=False))
    return path


def test_paper_diff_in_points_and_schedule_note(sweep, tmp_path):
    path = write_experiment(tmp_path / "exp", "fmix_fm", {"experiment": "fmix_fm", "paper": PAPER})
    runs = sweep_runs.load_runs([sweep])
    paper = sweep_paper.load_paper(str(path), runs)
    rows = {r.label: r for r in sweep_paper.compare(paper, sweep_runs.group_runs(runs))}
    assert rows["augment=cutmix, alpha=1.0"].diff == pytest.approx((0.93 + 0.95 + 0.96) / 3 - 0.9603)
    assert rows["augment=mixup, alpha=1.0"].diff == pytest.approx(0.91 - 0.9628)
    assert rows["augment=fmix, alpha=1.0"].ours is None and rows["augment=fmix, alpha=1.0"].diff is None
    extra = rows["augment.name=cutmix, augment.alpha=0.5, augment.prob=1.0, augment.mode=elem"]
    assert extra.paper is None and extra.ours.mean == pytest.approx(0.92)
    text = sweep_summary.summarize([sweep], out=tmp_path, paper=str(path), plots=False)
    line = next(line for line in text.splitlines() if line.startswith("| augment=mixup"))
    assert line == "| augment=mixup, alpha=1.0 | 96.28 | 91.00 ± — | 1 | -5.28 |"
    assert "our runs: 20 epochs vs paper: 200 epochs — not comparable as-is" in text
    assert "batch_size" not in text  # 128 in both: no note


def test_paper_row_matching_several_groups_and_ours_metric(sweep, tmp_path):
    paper = {"metric": "top1", "ours": "best_top1", "rows": [{"augment": "cutmix", "top1": 0.95}]}
    groups = sweep_runs.group_runs(sweep_runs.load_runs([sweep]))
    hits = [r for r in sweep_paper.compare(paper, groups) if r.paper is not None]
    assert len(hits) == 2 and all("augment=cutmix [" in r.label for r in hits)
    assert sorted(r.ours.mean for r in hits) == pytest.approx([0.921, (0.93 + 0.95 + 0.96) / 3 + 0.001])


def test_paper_node_from_parent_experiment_and_from_runs(sweep, tmp_path):
    exp = tmp_path / "exp"
    write_experiment(exp, "base", {"defaults": [{"override /dataset": "cifar10"}, "_self_"], "paper": PAPER})
    write_experiment(exp, "base_smoke", {"defaults": ["base", "_self_"], "trainer": {"epochs": 1}})
    assert sweep_paper.load_paper("base_smoke", [], experiment_dir=exp)["rows"] == PAPER["rows"]
    run = make_run(tmp_path / "runs", "r", config(experiment="from_runs", paper=PAPER), result(0.9))
    runs = [sweep_runs.load_run(run)]
    assert sweep_paper.load_paper("from_runs", runs, experiment_dir=exp)["source"] == "Harris et al."
    with pytest.raises(ValueError, match="'missing'"):
        sweep_paper.load_paper("missing", runs, experiment_dir=exp)


def test_bad_paper_node_is_named(tmp_path):
    paper = {"metric": "top1", "rows": [{"augment": "none", "top5": 0.9}]}
    write_experiment(tmp_path, "bad", {"paper": paper})
    with pytest.raises(ValueError, match="lacks a number for 'top1'"):
        sweep_paper.load_paper("bad", [], experiment_dir=tmp_path)


def test_schedule_note_for_other_keys_and_none_when_equal(sweep):
    runs = sweep_runs.load_runs([sweep])
    assert sweep_paper.schedule_notes({"schedule": {"epochs": 20, "batch_size": 128}}, runs) == []
    notes = sweep_paper.schedule_notes({"schedule": {"batch_size": 64, "optim.lr": 0.25}}, runs)
    assert notes == [
        "our runs: trainer.batch_size=128 vs paper: batch_size=64 — not comparable as-is",
        "our runs: optim.lr=0.1 vs paper: optim.lr=0.25 — not comparable as-is",
    ]


def test_schedule_note_when_best_top1_was_not_evaluated_every_epoch(sweep):
    runs = sweep_runs.load_runs([sweep])
    best = {"metric": "top1", "ours": "best_top1"}
    assert sweep_paper.schedule_notes(best, runs) == []
    sparse = [dataclasses.replace(r, config={**r.config, "trainer.eval_every": 5}) for r in runs]
    assert sweep_paper.schedule_notes(best, sparse) == [
        "best_top1 is the best evaluated epoch, and our runs evaluated every 5 epochs"
    ]
    assert sweep_paper.schedule_notes({"metric": "top1"}, sparse) == []  # the final top1 does not depend on it


# --------------------------------------------------------------------------------------------------
# Plots and TensorBoard
# --------------------------------------------------------------------------------------------------


def test_alpha_series_values_and_baseline_band(sweep):
    groups = sweep_runs.group_runs(sweep_runs.load_runs([sweep]))
    methods, bands = sweep_figures.alpha_series(groups, "top1")
    assert list(methods) == ["cutmix", "mixup"]
    cutmix = methods["cutmix"]
    assert [x for x, *_ in cutmix] == [0.5, 1.0] and [n for *_, n in cutmix] == [3, 3]
    assert cutmix[0][1:3] == pytest.approx((92.0, 2.0))
    assert methods["mixup"] == [(1.0, pytest.approx(91.0), None, 1)]
    assert bands == {"none": (pytest.approx(89.0), None, 1)}


def test_delta_panels_from_the_verdicts(sweep):
    groups = sweep_runs.group_runs(sweep_runs.load_runs([sweep]))
    found = sweep_verdict.verdicts(groups, {"augment.name": "none"})
    panels = sweep_figures.delta_panels(groups, found, over_alpha=True)
    # a panel per verdicted metric (recipes.catalogue), in the catalogue's order
    assert list(panels) == ["Δ top-1 (points; higher is better)", "Δ ECE (lower is better)", "Δ NLL (lower is better)"]
    cutmix = panels["Δ top-1 (points; higher is better)"]["cutmix"]
    assert [p[0] for p in cutmix] == [0.5, 1.0] and cutmix[0][1] == pytest.approx(92.0 - 89.0)
    assert cutmix[0][2:] == (None, None)  # one baseline seed: no interval


def test_delta_panels_of_a_method_comparison(tmp_path):
    for method, top1 in (("none", [0.90, 0.91]), ("mixup", [0.92, 0.94]), ("cutmix", [0.93, 0.95])):
        for seed, acc in enumerate(top1):
            aug = {"augment": {"name": "none"}} if method == "none" else {"augment.name": method}
            make_run(tmp_path, f"{method}{seed}", config(seed=seed, **aug), result(acc, ece=0.02 + 0.01 * seed))
    groups = sweep_runs.group_runs(sweep_runs.load_runs([tmp_path]))
    found = sweep_verdict.verdicts(groups, {"augment.name": "none"})
    panels = sweep_figures.delta_panels(groups, found, over_alpha=False)
    top1 = panels["Δ top-1 (points; higher is better)"]
    assert list(top1) == ["cutmix (n = 2 / 2)", "mixup (n = 2 / 2)"]
    diff, low, high = top1["cutmix (n = 2 / 2)"][0]
    interval = stats.ttest_rel([0.93, 0.95], [0.90, 0.91]).confidence_interval(0.95)
    assert (diff, low, high) == pytest.approx((3.5, 100 * interval.low, 100 * interval.high))
    sweep_summary.summarize([tmp_path], out=tmp_path / "out")
    assert (tmp_path / "out" / "delta_vs_baseline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "out" / "top1_vs_alpha.png").exists()


def test_curve_labels_keep_only_distinguishing_keys(tmp_path):
    for i, (mode, prob) in enumerate([("batch", 1.0), ("elem", 1.0), ("batch", 0.5)]):
        make_run(tmp_path, f"r{i}", config(**{"augment.mode": mode, "augment.prob": prob}), result(0.9))
    groups = sweep_runs.group_runs(sweep_runs.load_runs([tmp_path]))
    assert sweep_figures.curve_labels(groups) == [
        "augment.prob=0.5, augment.mode=batch",
        "augment.prob=1.0, augment.mode=batch",
        "augment.prob=1.0, augment.mode=elem",
    ]


def test_plots_written_only_when_alpha_varies(sweep, tmp_path):
    pytest.importorskip("recipes.plots")
    sweep_summary.summarize([sweep], out=tmp_path / "a")
    for name in ("top1_vs_alpha.png", "ece_vs_alpha.png"):
        assert (tmp_path / "a" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "a" / "reliability.png").exists()  # no predictions.npz
    run = make_run(tmp_path / "flat", "r", config(), result(0.9), eval_json={})
    rng = np.random.default_rng(0)
    np.savez(run / "eval" / "predictions.npz", logits=rng.normal(size=(50, 10)), labels=rng.integers(0, 10, 50))
    sweep_summary.summarize([tmp_path / "flat"])
    assert not (tmp_path / "flat" / "top1_vs_alpha.png").exists()
    assert (tmp_path / "flat" / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reliability_inputs_from_predictions(tmp_path):
    run = make_run(tmp_path, "r", config(), result(0.5), eval_json={})
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 3.0 + math.log(3.0)]])
    np.savez(run / "eval" / "predictions.npz", logits=logits, labels=np.array([0, 0, 1]))
    groups = sweep_runs.group_runs(sweep_runs.load_runs([tmp_path]))
    conf, correct = sweep_figures.reliability_inputs(groups)["(all runs)"]
    assert conf == pytest.approx([math.e**2 / (1 + math.e**2), math.e / (1 + math.e), 0.75])
    assert correct.tolist() == [True, False, True]


def test_tensorboard_hparams_one_per_complete_run(sweep, tmp_path):
    pytest.importorskip("torch.utils.tensorboard")
    count = sweep_figures.write_hparams(sweep_runs.group_runs(sweep_runs.load_runs([sweep])), tmp_path)
    assert count == 8
    runs = [p for p in (tmp_path / "tb_hparams").iterdir() if p.is_dir()]
    assert len(runs) == 8 and all(any(p.glob("events.out.tfevents.*")) for p in runs)


def test_format_helpers():
    assert sweep_tables.fmt_stat("top1", sweep_runs.Stat(0.95704, 0.00123, 3)) == "95.70 ± 0.12"
    assert sweep_tables.fmt_stat("ece", sweep_runs.Stat(0.012345, None, 1)) == "0.0123 ± —"
    assert sweep_tables.fmt_diff("top1", -0.0428) == "-4.28" and sweep_tables.fmt_diff("nll", 0.01) == "+0.0100"
    assert sweep_runs.format_value((100, 150)) == "[100, 150]" and sweep_runs.format_value(None) == "null"


def test_sweep_figures_label_n_and_draw_the_baseline_band():
    from recipes.plots import alpha_sweep_plot, delta_plot

    figure = alpha_sweep_plot(
        {"cutmix": [(1.0, 92.0, 0.5, 3), (0.5, 91.0, 0.4, 2)]}, {"none (baseline)": (89.0, 0.3, 3)}, ylabel="top-1"
    )
    axis = figure.axes[0]
    assert [t.get_text() for t in axis.get_legend().get_texts()] == [
        "none (baseline): mean ± std, n = 3",
        "cutmix (n = 2–3)",
    ]
    [band] = [p for p in axis.patches if p.get_height() > 0]  # axhspan: 89 ± 0.3
    assert band.get_y() == pytest.approx(88.7) and band.get_height() == pytest.approx(0.6)
    with pytest.raises(ValueError, match="every panel"):
        delta_plot({"Δ top-1": {}})


def test_a_method_comparison_at_one_alpha_each_is_no_alpha_sweep():
    from recipes.sweeps.figures import swept_alpha
    from recipes.sweeps.runs import MISSING, Group

    def group(name, alpha):
        return Group({"augment.name": name, "augment.alpha": alpha}, [])

    methods = [group("none", MISSING), group("mixup", 1.0), group("ricap", 0.3), group("cutout", MISSING)]
    assert not swept_alpha(methods)
    assert swept_alpha([*methods, group("mixup", 0.5)])
