"""Experiment files and launchers: they compose, carry consistent paper data, run, and sweep end to end."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from recipes import schema
from recipes.run import run_training
from recipes.run_keys import register_run_name
from recipes.sweeps import paper as sweep_paper
from recipes.sweeps import runs as sweep_runs
from tests.conftest import CONFIGS, ROOT, compose_cfg

EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))
RECIPES = [name for name in EXPERIMENTS if not name.endswith("_smoke")]
SMOKES = [name for name in EXPERIMENTS if name.endswith("_smoke")]
# Recipes that reproduce a paper's table carry its numbers in a `paper:` node; the others are our own experiments.
PAPER_RECIPES = [name for name in RECIPES if "paper" in OmegaConf.load(CONFIGS / "experiment" / f"{name}.yaml")]
PAPER_SMOKES = [f"{name}_smoke" for name in PAPER_RECIPES]
# Smokes on your own data (finetune_imagefolder_smoke needs dataset.root) run on a fabricated folder in their own
# test file; the others need no files.
DATA_FREE_SMOKES = [name for name in SMOKES if name != "finetune_imagefolder_smoke"]


def compose_with_hydra(overrides: list[str]):
    """The composed config including the `hydra` node (sweeper params, launcher)."""
    register_run_name()
    schema.register()  # as train.py does (without it this test only passed after another file had composed)
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose(config_name="train", overrides=overrides, return_hydra_config=True)


def as_run(cfg) -> sweep_runs.Run:
    """A composed config seen the way summarize sees a run dir."""
    return sweep_runs.Run(Path("."), sweep_runs.flatten(OmegaConf.to_container(cfg, resolve=True)), "complete")


def test_every_recipe_has_a_smoke_variant():
    assert len(PAPER_RECIPES) >= 4
    assert SMOKES == sorted(f"{name}_smoke" for name in RECIPES)


@pytest.mark.parametrize("name", [*PAPER_RECIPES, *PAPER_SMOKES])
def test_paper_experiment_composes_with_its_sweep_and_paper_node(name):
    cfg = compose_with_hydra([f"experiment={name}"])
    assert cfg.experiment == name
    methods = str(cfg.hydra.sweeper.params.augment).split(",")
    paper = sweep_paper.load_paper(name, [])  # also checks the node's shape
    assert paper["metric"] == "top1" and paper["schedule"]["epochs"] > 1
    published = {row["augment"] for row in paper["rows"]}
    assert set(methods) <= published, f"swept methods without a published number: {set(methods) - published}"


@pytest.mark.parametrize("name", PAPER_RECIPES)
def test_paper_recipe_schedule_equals_the_paper_schedule(name):
    cfg = compose_cfg([f"experiment={name}"])
    assert sweep_paper.schedule_notes(sweep_paper.load_paper(name, []), [as_run(cfg)]) == []


@pytest.mark.parametrize("name", PAPER_SMOKES)
def test_smoke_schedule_is_flagged_as_not_comparable(name):
    cfg = compose_cfg([f"experiment={name}"])
    notes = sweep_paper.schedule_notes(sweep_paper.load_paper(name, []), [as_run(cfg)])
    assert notes[0].startswith("our runs: 1 epochs vs paper:") and notes[0].endswith("not comparable as-is")


def test_cutmix_cifar100_gives_only_cutmix_probability_half():
    probs = {
        m: compose_cfg(["experiment=cutmix_cifar100_pyramidnet200", f"augment={m}"]).augment.prob
        for m in ("none", "cutout", "mixup", "cutmix")
    }
    assert probs == {"none": 1.0, "cutout": 1.0, "mixup": 1.0, "cutmix": 0.5}
    cfg = compose_cfg(["experiment=cutmix_cifar100_pyramidnet200", "augment=cutmix", "augment.prob=0.3"])
    assert cfg.augment.prob == 0.3


@pytest.mark.parametrize("name", DATA_FREE_SMOKES)
def test_smoke_variant_trains(name, tmp_path):
    cfg = compose_cfg([f"experiment={name}", "augment=cutmix", "trainer.device=cpu"])
    summary = run_training(cfg, tmp_path)
    assert summary["status"] == "complete" and summary["experiment"] == name
    assert summary["epochs"] == cfg.trainer.epochs <= 2
    assert (tmp_path / "summary.json").is_file()


def test_launchers_compose_on_the_plugins_schemas():
    parallel = compose_with_hydra(["hydra/launcher=parallel"]).hydra.launcher
    assert parallel._target_.endswith("JoblibLauncher") and parallel.n_jobs == 2
    assert parallel.pre_dispatch == "2*n_jobs"  # a key only the plugin's schema provides
    slurm = compose_with_hydra(["hydra/launcher=slurm", "hydra.launcher.partition=gpu"]).hydra.launcher
    assert slurm._target_.endswith("SlurmLauncher") and slurm.partition == "gpu" and slurm.gpus_per_node == 1
    assert slurm.submitit_folder.endswith("/.submitit/%j")  # the plugin's default, kept
    with pytest.raises(ConfigCompositionException):
        compose_with_hydra(["hydra/launcher=parallel", "hydra.launcher.n_jobs=many"])


# --------------------------------------------------------------------------------------------------
# A real multirun through Hydra and the joblib launcher (subprocesses)
# --------------------------------------------------------------------------------------------------

SMOKE_SWEEP = [
    "experiment=fmix_fashion_mnist_preact18_smoke",
    "hydra/launcher=parallel",
    "trainer.device=cpu",
    "trainer.deterministic=true",
]


def multirun(sweep_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "train.py", "-m", *SMOKE_SWEEP, f"hydra.sweep.dir={sweep_dir}", *overrides]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_multirun_groups_failures_and_resume(tmp_path):
    sweep = tmp_path / "sweep"
    grid = ["augment=mixup,cutmix", "augment.alpha=0.5,1.0", "seed=0,1"]
    first = multirun(sweep, *grid)
    assert first.returncode == 0, first.stderr[-3000:]
    # One bad job launched with a good one: the good one finishes, the bad one leaves failed.json.
    bad = multirun(sweep, "augment=cutmix", "augment.alpha=-1,2.0", "seed=0")
    assert bad.returncode != 0 and "alpha" in bad.stderr
    out = tmp_path / "summary"
    result = subprocess.run(
        [sys.executable, "scripts/summarize.py", str(sweep), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    with open(out / "summary.csv") as f:
        rows = {(r["augment.name"], r["augment.alpha"]): r for r in csv.DictReader(f)}
    grid_rows = [rows[(m, a)] for m in ("mixup", "cutmix") for a in ("0.5", "1.0")]
    assert all(r["n_complete"] == "2" and r["top1_n"] == "2" and r["top1_std"] != "" for r in grid_rows)
    assert rows[("cutmix", "2.0")]["n_complete"] == "1"
    assert rows[("cutmix", "-1")]["n_failed"] == "1" and rows[("cutmix", "-1")]["n_complete"] == "0"
    assert "### Failed runs (1)" in result.stdout and "augment.alpha=-1" in result.stdout
    assert (out / "top1_vs_alpha.png").is_file()
    # resume=true re-runs the grid command: every job is complete, so no summary.json is rewritten.
    summaries = sorted(sweep.glob("*/summary.json"))
    assert len(summaries) == 9
    before = {p: p.stat().st_mtime_ns for p in summaries}
    again = multirun(sweep, *grid, "resume=true")
    assert again.returncode == 0, again.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in sorted(sweep.glob("*/summary.json"))} == before


def test_small_data_experiment_sweeps_every_method_over_three_seeds_on_a_balanced_subset():
    cfg = compose_with_hydra(["experiment=small_data_fashion_mnist"])
    params = cfg.hydra.sweeper.params
    assert set(str(params.augment).split(",")) == {
        "none",
        "cutout",
        "mixup",
        "cutmix",
        "fmix",
        "ricap",
        "resizemix",
        "saliencymix",
        "manifold_mixup",
    }
    assert cfg.augment.prob == 0.5  # the CutMix paper's CIFAR setting; Manifold Mixup's paper mixes every batch
    manifold = compose_with_hydra(["experiment=small_data_fashion_mnist", "augment=manifold_mixup"])
    assert (manifold.augment.prob, manifold.augment.alpha) == (1.0, 2.0)
    assert len(str(params.seed).split(",")) >= 3
    assert cfg.dataset.subset_balanced and cfg.trainer.eval_every > 1
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")
