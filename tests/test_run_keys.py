"""recipes.run_keys: which keys define a run, the run-dir name, and a shared-override sweep that trains its
baseline once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml
from omegaconf import OmegaConf

from augment import Cutout, NoMix
from recipes.builders import run_values
from recipes.config import changed_settings
from recipes.mixers import build_mixer
from recipes.run_keys import NOT_RESULT_DEFINING, augment_args, register_run_name, result_defining, run_name
from recipes.sweeps import runs as sweep_runs
from tests.conftest import CONFIGS, FAST, ROOT, compose_cfg


def test_the_yaml_excludes_the_same_keys_from_override_dirname():
    register_run_name()
    hydra = OmegaConf.create(yaml.safe_load((CONFIGS / "train.yaml").read_text())["hydra"])
    assert OmegaConf.to_container(hydra.job.config.override_dirname, resolve=True)["exclude_keys"] == list(
        NOT_RESULT_DEFINING
    )
    assert sweep_runs.IGNORED_KEYS == {"seed", *NOT_RESULT_DEFINING}


def test_augment_args_follow_the_mixers_constructors():
    assert augment_args("none") == frozenset()
    assert augment_args("cutout") == {"size", "holes", "fill", "prob", "off_epoch"}
    assert augment_args("cutmix") == {"alpha", "prob", "mode", "min_ratio", "max_ratio", "off_epoch"}
    assert augment_args("choice") == {"methods", "probs", "off_epoch"} and augment_args("bogus") is None
    assert augment_args("manifold_mixup") == augment_args("transmix") == {"alpha", "prob", "mode", "off_epoch"}
    methods = ("mixup", "cutmix", "fmix", "ricap", "cutout", "manifold_mixup", "transmix", "mixup_cutmix")
    for name in methods:  # every key of each method's config applies
        node = yaml.safe_load((CONFIGS / "augment" / f"{name}.yaml").read_text())
        present = {k for k, v in node.items() if k not in ("name", "defaults") and v is not None}
        assert present <= augment_args(node["name"]), name


def test_a_null_off_epoch_is_what_a_config_without_the_key_meant():
    """Configs saved before augment.off_epoch existed define the same run as off_epoch=null (never stops)."""
    before = {"augment": {"name": "mixup", "alpha": 1.0, "prob": 1.0, "mode": "batch"}}
    after = {"augment": {**before["augment"], "off_epoch": None}}
    assert changed_settings(before, after) == []
    assert changed_settings(before, {"augment": {**before["augment"], "off_epoch": 3}}) == [
        "augment.off_epoch: '<unset>' -> 3"
    ]
    assert run_name(["augment=none", "augment.off_epoch=3"], "none") == "augment=none"


def test_run_name_leaves_out_what_does_not_define_the_result():
    lines = ["seed=1", "augment=none", "augment.alpha=0.5", "trainer.device=cpu", "dataset.num_workers=2"]
    assert run_name(lines, "none") == "augment=none,seed=1"
    assert run_name(["augment=cutout", "augment.mode=elem", "augment.size=0.25"], "cutout") == (
        "augment.size=0.25,augment=cutout"
    )
    # what Hydra's override_dirname gives: input lines sorted, list values intact
    lines = ["sched.milestones=[100,150]", "augment.alpha=0.5", "augment=cutmix", "+foo=1"]
    assert run_name(lines, "cutmix") == "+foo=1,augment.alpha=0.5,augment=cutmix,sched.milestones=[100,150]"
    assert run_name([], "none") == "default" and run_name(["resume=true"], "none") == "default"


def test_args_that_do_not_apply_are_accepted_and_change_nothing():
    cfg = compose_cfg(["augment=none", "augment.alpha=0.5", "augment.prob=0.3", "augment.mode=elem"])
    assert isinstance(build_mixer(cfg.augment, 10, None), NoMix)
    cut_cfg = compose_cfg(["augment=cutout", "augment.alpha=2.0", "augment.mode=elem"])
    assert isinstance(build_mixer(cut_cfg.augment, 10, None), Cutout)

    # summary.json records no value for an arg that changed nothing
    def recorded(c):
        return [run_values(c)[k] for k in ("alpha", "prob", "mode")]

    assert recorded(cfg) == [None, None, None] and recorded(cut_cfg) == [None, cut_cfg.augment.prob, None]
    mixup = run_values(compose_cfg(["augment=mixup", "augment.alpha=0.5", "augment.mode=elem"]))
    assert (mixup["alpha"], mixup["mode"]) == (0.5, "elem")
    before = {"augment": {"name": "none", "alpha": 0.5}, "trainer": {"device": "cpu", "eval_batch_size": 64}}
    after = {"augment": {"name": "none", "alpha": 1.0}, "trainer": {"device": "cuda", "eval_batch_size": 512}}
    assert changed_settings(before, after) == []
    assert changed_settings(before, {"augment": {"name": "mixup", "alpha": 1.0}}) == [
        "augment.alpha: '<unset>' -> 1.0",
        "augment.name: 'none' -> 'mixup'",
    ]
    assert result_defining({"augment.name": "cutout", "augment.alpha": 1.0, "augment.size": 0.5, "seed": 0}) == {
        "augment.name": "cutout",
        "augment.size": 0.5,
        "seed": 0,
    }


def test_a_shared_override_sweep_trains_the_baseline_once(tmp_path):
    """`train.py -m augment=none,mixup augment.alpha=0.5,1.0`: 4 jobs, 3 run dirs, the baseline trained once."""
    sweep = tmp_path / "sweep"
    command = [sys.executable, "train.py", "-m", *FAST, "augment=none,mixup", "augment.alpha=0.5,1.0"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run(
        [*command, f"hydra.sweep.dir={sweep}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    names = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert [n.split(",")[0] for n in names] == ["augment.alpha=0.5", "augment.alpha=1.0", "augment=none"]
    assert "trainer.device" not in names[0] and "trainer.progress" not in names[0]
    baseline = sweep / names[2]
    log = (baseline / "train.log").read_text()
    assert log.count("epoch 1/1") == 1 and log.count("already holds this run, complete") == 1
    assert json.loads((baseline / "summary.json").read_text())["status"] == "complete"
    groups = sweep_runs.group_runs(sweep_runs.load_runs([sweep]))
    assert [(sweep_runs.group_label(g), len(g.complete)) for g in groups] == [
        ("augment.name=mixup, augment.alpha=0.5, augment.prob=1.0, augment.mode=batch", 1),
        ("augment.name=mixup, augment.alpha=1.0, augment.prob=1.0, augment.mode=batch", 1),
        ("augment.name=none, augment.alpha=—, augment.prob=—, augment.mode=—", 1),
    ]


def test_a_run_name_too_long_for_a_file_system_ends_in_a_hash_of_the_whole():
    overrides = [f"+model.kwargs.option_{i:03d}=value_{i}" for i in range(40)]
    name = run_name(overrides, "none")
    assert len(name.encode()) <= 200 and name.startswith("+model.kwargs.option_000=value_0,")
    assert name == run_name(list(reversed(overrides)), "none")  # the same overrides find the same dir
    assert name != run_name([*overrides[:-1], "+model.kwargs.option_039=other"], "none")
    assert run_name(overrides[:3], "none") == ",".join(sorted(overrides[:3]))  # short names stay as they were
