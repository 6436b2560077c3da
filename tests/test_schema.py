"""The config schema (recipes.schema): every key is declared, every number has a range, every bad value is refused
with one error naming the key, the value and what is allowed, before any data is loaded."""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import subprocess
import sys
import types
import typing

import pytest
import torch
import yaml
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from augment import METHODS, MODEL_METHODS
from models import MODEL_NAMES
from recipes.builders import OPTIMIZERS, build_optimizer
from recipes.config import ConfigError, schema_for, validate, validate_eval
from recipes.data import DATA_MODULES, build_data
from recipes.engine import SCHEDULES, lr_factor
from recipes.mixers import build_mixer
from recipes.schema import EVAL_NODES, GROUP_SCHEMAS, SCHEMAS, TrainConfig
from tests.conftest import CONFIGS, ROOT, compose_cfg

GROUPS = (*SCHEMAS, *GROUP_SCHEMAS)
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONFIGS / g).glob("*.yaml"))]
ALL_SCHEMAS = {TrainConfig, *GROUP_SCHEMAS.values(), *(s for options in SCHEMAS.values() for s in options.values())}
MIXER_SCHEMAS = set(SCHEMAS["augment"].values())
MODEL_SCHEMAS = set(SCHEMAS["model"].values())
# Values just outside the rules of each numeric augment key; the rules live in the mixers' constructors
# (augment/_checks.py), which validate runs: a new numeric mixer key adds its bad values here.
MIXER_BAD_VALUES = {
    "alpha": [0.0, -0.5, float("nan")],
    "prob": [-0.5, 1.5, float("nan")],
    "min_ratio": [-0.5, 1.5, float("nan")],
    "max_ratio": [-0.5, 1.5, float("nan")],
    "decay_power": [0.0, -1.0, float("nan"), float("inf")],
    "max_soft": [-0.5, 1.5, float("nan")],
    "holes": [0, -1],
    "probs": [-0.5, 1.5, float("nan")],
    "scale": [-0.5, 1.5, float("nan")],
    "off_epoch": [-1],
}
# The same for the model keys, whose rules live in the builders in models/ (validate builds the model on the meta
# device): a new numeric model key adds its bad values here.
MODEL_BAD_VALUES = {
    "width": [0, -1],
    "depth": [7, 12],  # below every minimum; not 6n + 4 (WRN) nor 9n + 2 (bottleneck PyramidNet)
    "alpha": [-1],
    "widen": [0],
    "dropout": [-0.5, 1.0, float("nan")],
    "drop_rate": [-0.5, 1.0, float("nan")],
    "drop_path_rate": [-0.5, 1.0, float("nan")],
    "patch_size": [0, 5],  # 5: the 28 px default images do not split into 5 px patches
}


def numeric(hint) -> bool:
    """int or float, alone, optional or in a list (bool is not numeric)."""
    if hint in (int, float):
        return True
    return typing.get_origin(hint) in (list, typing.Union, types.UnionType) and any(
        numeric(arg) for arg in typing.get_args(hint)
    )


def numeric_fields(schema: type) -> list[dataclasses.Field]:
    hints = typing.get_type_hints(schema)
    return [f for f in dataclasses.fields(schema) if numeric(hints[f.name])]


@pytest.mark.parametrize(
    "schema", sorted(ALL_SCHEMAS - MIXER_SCHEMAS - MODEL_SCHEMAS, key=lambda s: s.__name__), ids=lambda s: s.__name__
)
def test_every_numeric_key_has_a_range(schema):
    """A number cannot be declared without its allowed range (recipes.schema.rules.ranged); the augment keys'
    ranges live in the mixers' constructors, the model keys' in the builders in models/ (tests below)."""
    for f in numeric_fields(schema):
        rule = f.metadata.get("rule")
        assert rule is not None and rule.choices is None, f"{schema.__name__}.{f.name} has no range"
        assert any(b is not None for b in (rule.ge, rule.gt, rule.le, rule.lt)), f"{schema.__name__}.{f.name}"


@pytest.mark.parametrize("group,option", OPTIONS)
def test_every_yaml_names_the_schema_of_its_name(group, option):
    text = yaml.safe_load((CONFIGS / group / f"{option}.yaml").read_text())
    schema = GROUP_SCHEMAS.get(group) or SCHEMAS[group][text["name"]]
    expected = f"{group}_schema" if group in GROUP_SCHEMAS else f"{text['name']}_schema"
    assert text["defaults"][0] == expected
    assert set(text) - {"defaults"} <= {f.name for f in dataclasses.fields(schema)}


@pytest.mark.parametrize(
    "schema,bad_values",
    [*((s, MIXER_BAD_VALUES) for s in MIXER_SCHEMAS), *((s, MODEL_BAD_VALUES) for s in MODEL_SCHEMAS)],
    ids=lambda s: getattr(s, "__name__", ""),
)
def test_the_augment_and_model_schemas_hold_types_only_and_every_numeric_key_is_walked(schema, bad_values):
    """One home for a mixer arg's rule, its constructor, and for a model arg's, its builder: the schema declares
    no second copy of it."""
    for f in dataclasses.fields(schema):
        assert "rule" not in f.metadata, f"{schema.__name__}.{f.name} repeats a rule of the mixer or model"
    assert {f.name for f in numeric_fields(schema)} <= set(bad_values), schema.__name__


def bad_values(rule, integer: bool) -> list:
    """Values just outside each bound of `rule`."""
    step = 1 if integer else 0.5
    below = [rule.ge - step] if rule.ge is not None else [rule.gt] if rule.gt is not None else []
    above = [rule.le + step] if rule.le is not None else [rule.lt] if rule.lt is not None else []
    return below + above + ([] if integer else [float("nan")])


def composed(group: str, option: str) -> dict:
    extra = ["dataset.root=/data"] if option == "imagefolder" else []
    return OmegaConf.to_container(compose_cfg([f"{group}={option}", *extra]), resolve=True)


def assert_refused(cfg: dict, key: str, shown: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    message = str(err.value)
    assert re.search(rf"^{re.escape(key)}(\[0\])?=", message) and shown in message, message


def walk_options():
    """(group or '' for the top level, a composed config using a schema, that schema), each schema once."""
    seen = set()
    base = OmegaConf.to_container(compose_cfg(), resolve=True)
    yield "", base, TrainConfig
    for group, option in OPTIONS:
        cfg = composed(group, option) if group != "trainer" else base
        schema = schema_for(group, cfg[group])
        if schema not in seen:
            seen.add(schema)
            yield group, cfg, schema


def test_every_numeric_key_of_every_group_refuses_out_of_range_and_wrong_type_values():
    """Walks every numeric field of every schema that a YAML option uses; validate() is what run_training and
    eval.py call on the composed (or the checkpoint's saved) config."""
    walked = 0
    for group, cfg, schema in walk_options():
        hints = typing.get_type_hints(schema)
        for f in numeric_fields(schema):
            key = f"{group}.{f.name}" if group else f.name
            node = cfg[group] if group else cfg
            is_list = typing.get_origin(hints[f.name]) is list
            integer = "int" in str(hints[f.name]) and "float" not in str(hints[f.name])
            owned = {"augment": MIXER_BAD_VALUES, "model": MODEL_BAD_VALUES}.get(group)
            bads = owned[f.name] if owned else bad_values(f.metadata["rule"], integer)
            for bad in bads:
                broken = copy.deepcopy(cfg)
                (broken[group] if group else broken)[f.name] = [bad] * len(node[f.name]) if is_list else bad
                assert_refused(broken, key, "must be")
            broken = copy.deepcopy(cfg)
            (broken[group] if group else broken)[f.name] = ["abc"] if is_list else "abc"
            assert_refused(broken, key, "'abc'")
            walked += 1
    assert walked >= 40


@pytest.mark.parametrize(
    "override,key",
    [
        ("trainer.epochs=abc", "trainer.epochs"),
        ("sched=multistep sched.milestones=[abc]", "sched.milestones"),
        ("optim.momentum=high", "optim.momentum"),
        ("augment=cutmix augment.alpha=[1]", "augment.alpha"),
        ("dataset.holdout=a_tenth", "dataset.holdout"),
        ("model.width=1.5", "model.width"),
    ],
)
def test_hydra_refuses_a_wrong_type_when_it_composes(override, key):
    with pytest.raises(ConfigCompositionException) as err:
        compose_cfg(override.split())
    assert key in str(err.value.__cause__)


@pytest.mark.parametrize(
    "override,message",
    [
        ("+augment.alhpa=1", "augment.alhpa is not a key here"),
        ("+trainer.epoch=2", "trainer.epoch is not a key here"),
        ("+seeds=3", "seeds is not a key here"),
        ("augment=mixup_cutmix +augment.methods.mixup.alhpa=1", "augment.methods.mixup.alhpa is not a key here"),
    ],
)
def test_keys_the_schema_does_not_declare_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        validate(compose_cfg(override.split()))


@pytest.mark.parametrize(
    "override,message",
    [
        (
            "augment=cutmix augment.min_ratio=0.2",
            r"augment.min_ratio=0.2 is invalid: give both min_ratio and max_ratio",
        ),
        ("augment=cutmix augment.min_ratio=0.6 augment.max_ratio=0.4", "min_ratio must be <= max_ratio"),
        (
            "augment=mixup_cutmix augment.probs=[1.0]",
            r"augment.probs=\[1.0\] is invalid: need one probability per mixer",
        ),
        ("augment=mixup_cutmix augment.probs=[0.5,0.4]", r"augment.probs=\[0.5, 0.4\] is invalid: probs must sum to 1"),
        ("augment=none +augment.alpha=-1", "augment.alpha=-1.0 is invalid: alpha must be a finite number > 0"),
        ("augment=cutout augment.mode=sample", "augment.mode='sample' is invalid: mode must be one of"),
        ("augment=mixup_cutmix augment.methods.cutmix.alpha=0", r"augment.methods.cutmix.alpha=0.0 is invalid"),
        ("augment=mixup_cutmix +augment.methods.cutoutt={} augment.probs=[0.5,0.3,0.2]", "cutoutt is unknown"),
        ("augment=cutout augment.size=0", "augment.size=0 is invalid"),
        ("augment=cutout augment.size=1.5", "augment.size=1.5 is invalid"),
        ("augment=ricap augment.mode=pair", r"augment.mode='pair' is invalid: mode must be one of \('batch', 'elem'\)"),
        ("optim.momentum=0 optim.nesterov=true", "optim.nesterov=true needs optim.momentum > 0"),
        ("optim=adamw optim.betas=[0.9]", "betas=.0.9. must hold two numbers"),
        ("dataset.mean=[0.5,0.5]", r"one value per channel \(in_chans=1\)"),
        ("sched.warmup_epochs=3", "sched.warmup_epochs=3.0 must be < trainer.epochs=3"),
        ("trainer.channels_last=yes_please", "must be one of auto, true, false"),
        ("augment.name=mixup", "augment.alpha=None is invalid"),
        ("optim.name=lion", "optim.name='lion' is unknown: choose one of adamw, sgd"),
        ("dataset=imagefolder", "dataset.root is required"),
    ],
)
def test_relations_between_keys_are_checked(override, message):
    with pytest.raises(ConfigError, match=message):
        validate(compose_cfg(override.split()))


def test_good_values_at_the_edges_pass():
    validate(compose_cfg(["augment=cutout", "augment.size=16", "trainer.batch_size=2", "label_smoothing=0.0"]))
    validate(compose_cfg(["augment=cutmix", "augment.min_ratio=0.0", "augment.max_ratio=1.0", "augment.prob=0"]))
    validate(compose_cfg(["augment=none", "+augment.alpha=0.5", "+augment.mode=pair", "trainer.channels_last=false"]))


def run_cli(run_dir, *args, env=None):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", **(env or {})}
    command = [sys.executable, "train.py", *args, f"hydra.run.dir={run_dir}"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)


def test_train_py_prints_a_bad_value_in_one_line_without_a_traceback(tmp_path):
    out = run_cli(tmp_path / "a", "optim.momentum=2")
    assert out.returncode == 1
    assert "Config error: optim.momentum=2.0 is invalid: it must be a number in [0.0, 1.0)" in out.stderr
    assert "Traceback" not in out.stderr
    full = run_cli(tmp_path / "b", "optim.momentum=2", env={"HYDRA_FULL_ERROR": "1"})
    assert full.returncode == 1 and "Traceback" in full.stderr and "ConfigError" in full.stderr


def test_every_registry_name_has_a_schema_and_every_schema_a_builder():
    """The name -> builder mappings and the schemas are keyed by the same `name` values."""
    assert set(SCHEMAS["optim"]) == set(OPTIMIZERS)
    assert set(SCHEMAS["sched"]) == set(SCHEDULES)
    assert set(SCHEMAS["dataset"]) == set(DATA_MODULES)
    assert set(SCHEMAS["augment"]) == {*METHODS, *MODEL_METHODS, "choice"}
    assert set(MODEL_NAMES) <= set(SCHEMAS["model"])


@pytest.mark.parametrize(
    "build,name",
    [
        (lambda n: build_optimizer(torch.nn.Linear(1, 1), OmegaConf.create({"name": n})), "optim.name='lion'"),
        (lambda n: lr_factor(5, 10, 2, OmegaConf.create({"name": n, "warmup_epochs": 0}), 0.1), "sched.name='lion'"),
        (lambda n: build_data(OmegaConf.create({"name": n}), torch.device("cpu"), 0), "dataset.name='lion'"),
        (lambda n: build_mixer(OmegaConf.create({"name": n}), 10, torch.Generator()), "augment.name='lion'"),
    ],
)
def test_builders_refuse_an_unknown_name_listing_the_choices(build, name):
    with pytest.raises(ValueError, match=rf"{re.escape(name)} is unknown: choose one of \w+, \w+"):
        build("lion")


# ----------------------------------------------------------------------------------------- eval.py's config


def eval_values(*overrides: str) -> dict:
    return OmegaConf.to_container(compose_cfg(["ckpt_path=runs/x", *overrides], config_name="eval"), resolve=True)


def assert_eval_refused(cfg: dict, key: str, shown: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_eval(cfg)
    message = str(err.value)
    assert re.search(rf"^{re.escape(key)}(\[0\])?=", message) and shown in message, message


def test_every_numeric_eval_key_refuses_out_of_range_and_wrong_type_values():
    """The walk of the training schemas above, over recipes.schema.evaluation (what eval.py checks first)."""
    walked = 0
    for node, schema in EVAL_NODES.items():
        hints = typing.get_type_hints(schema)
        for f in numeric_fields(schema):
            key, is_list = f"{node}.{f.name}", typing.get_origin(hints[f.name]) is list
            integer = "int" in str(hints[f.name]) and "float" not in str(hints[f.name])
            for bad in bad_values(f.metadata["rule"], integer):
                broken = eval_values()
                broken[node][f.name] = [0.0, bad] if is_list else bad
                assert_eval_refused(broken, key, "must be")
            broken = eval_values()
            broken[node][f.name] = ["abc"] if is_list else "abc"
            assert_eval_refused(broken, key, "'abc'")
            walked += 1
    assert walked == 3  # eval.ts_fraction, eval.occlusion_fractions, trainer.eval_batch_size


@pytest.mark.parametrize(
    "override,message",
    [
        ("+eval.bogus=1", "eval.bogus is not a key here"),
        ("+bogus=1", "bogus is not a key here"),
        ("+trainer.epochs=3", "trainer.epochs is not a key here"),
        ("eval.occlusion_fractions=[]", r"eval.occlusion_fractions=\[\] needs at least one fraction"),
        ("eval.ood_datasets=cifar10", "eval.ood_datasets='cifar10' is invalid"),
        ("trainer.device=tpu", "trainer.device='tpu' is unknown"),
    ],
)
def test_eval_keys_the_schema_does_not_declare_or_bad_values_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        validate_eval(eval_values(override))


def test_the_eval_yaml_passes_and_gets_every_default():
    cfg = validate_eval(eval_values("out_dir=/tmp/x"))
    assert cfg.eval.ts_fraction == 0.1 and cfg.out_dir == "/tmp/x" and cfg.overwrite is False
    assert cfg.trainer.device is None and cfg.eval.ood_roots == {}
    with pytest.raises(ConfigError, match="overwrite='maybe' is invalid"):
        validate_eval({**eval_values(), "overwrite": "maybe"})


def test_eval_py_refuses_an_unknown_key_in_one_line_without_a_traceback(tmp_path):
    command = [sys.executable, str(ROOT / "eval.py"), "+eval.bogus=1", "ckpt_path=runs/x"]
    out = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert "Config error: eval.bogus is not a key here (a typo?)" in out.stderr and "Traceback" not in out.stderr
    missing = subprocess.run(command[:3], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1 and "ckpt_path is required but not set" in missing.stderr
    assert sorted(tmp_path.iterdir()) == []  # refused before anything was written
