"""Config checks that must fail before any data is loaded, the device a config asks for, and config diffs."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, ValidationError

from recipes.builders import build_network
from recipes.data import dataset_info
from recipes.mixers import build_mixer
from recipes.run_keys import result_defining
from recipes.schema import EVAL_NODES, GROUP_SCHEMAS, SCHEMAS, EvalConfig, TrainConfig, problem
from recipes.schema.rules import ConfigError


def resolve_device(name: str) -> torch.device:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' -> torch.device, with an error naming a bad or unavailable device."""
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name != "cpu" and not (name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit())):
        raise ConfigError(f"trainer.device={name!r} is unknown: use auto, cpu, cuda or cuda:N")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device={name!r} but no CUDA GPU is visible: use trainer.device=cpu or auto")
    return torch.device(name)


def validate(cfg: DictConfig | dict) -> DictConfig:
    """Raise ConfigError for the first invalid value; cheap, so it runs before anything else. Returns the config
    with every key the schema declares (its default where `cfg` lacks one: a checkpoint saved before the key).

    Works on any config (composed by Hydra, or saved in a checkpoint): each node is merged into its schema
    (recipes.schema: types, unknown keys), then every field's Rule and each node's relation are checked, and the
    mixer is built once (recipes.mixers: the mixers' constructors own the rules of the augment args), and so is the
    model (check_model: models/ owns the rules of the model args).
    """
    values = _resolved(cfg)
    values = check_node(TrainConfig, values, "")
    for group in (*SCHEMAS, *GROUP_SCHEMAS):
        values[group] = check_node(schema_for(group, values[group]), values[group], f"{group}.")
    augment = values["augment"]
    if augment["name"] == "choice":
        for method, args in augment["methods"].items():
            schema = SCHEMAS["augment"].get(method) if method != "choice" else None
            if schema is None:
                raise ConfigError(f"augment.methods.{method} is unknown: choose from {_names('augment', 'choice')}")
            checked = check_node(schema, {"name": method, **(args or {})}, f"augment.methods.{method}.")
            augment["methods"][method] = {k: v for k, v in checked.items() if k != "name"}
    build_mixer(augment, values["dataset"]["num_classes"], torch.Generator())
    check_model(values["model"], values["dataset"])
    warmup, epochs = values["sched"]["warmup_epochs"], values["trainer"]["epochs"]
    if warmup > 0 and warmup >= epochs:
        raise ConfigError(f"sched.warmup_epochs={warmup} must be < trainer.epochs={epochs}")
    resolve_device(values["trainer"]["device"])
    return OmegaConf.create(values)


def check_model(model: dict, dataset: dict) -> None:
    """Build the model once on the meta device (no memory, no weights: pretrained ones are left out), for the
    dataset's shape: models/ owns the value rules of the model args (a width, WRN's 6n + 4 depth, a dropout, an
    img_size that is no multiple of the patch size), checked here before any data is loaded. Its ValueError
    becomes a ConfigError (recipes.builders.build_network)."""
    with torch.device("meta"):
        build_network(OmegaConf.create(model), dataset_info(OmegaConf.create(dataset)), pretrained=False)


def validate_eval(cfg: DictConfig | dict) -> DictConfig:
    """eval.py's config (configs/eval.yaml) checked like validate checks a training config: ConfigError for an
    undeclared key, a wrong type or a value outside its Rule (recipes.schema.evaluation); returns it complete."""
    values = check_node(EvalConfig, _resolved(cfg), "")
    for key, schema in EVAL_NODES.items():
        values[key] = check_node(schema, values[key] or {}, f"{key}.")
    if values["trainer"]["device"] is not None:
        resolve_device(values["trainer"]["device"])
    return OmegaConf.create(values)


def _resolved(cfg: DictConfig | dict) -> dict:
    try:
        return OmegaConf.to_container(OmegaConf.create(cfg), resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as err:
        raise ConfigError(f"{err.full_key} is required but not set (pass {err.full_key}=...)") from None


def _names(group: str, *leave_out: str) -> str:
    return ", ".join(sorted(set(SCHEMAS[group]) - set(leave_out)))


def schema_for(group: str, node: dict) -> type:
    """The schema of a group's node: the group's one schema, or the one of the option its `name` says."""
    if group in GROUP_SCHEMAS:
        return GROUP_SCHEMAS[group]
    name = node.get("name") if isinstance(node, dict) else None
    if name not in SCHEMAS[group]:
        raise ConfigError(f"{group}.name={name!r} is unknown: choose one of {_names(group)}")
    return SCHEMAS[group][name]


def check_node(schema: type, values: dict, prefix: str) -> dict:
    """ConfigError naming the key, the value and what is allowed, for the first value of `values` that does not fit
    `schema`: an undeclared key, a wrong type, a value outside its Rule, or a broken relation between keys.
    Returns the values with the schema's defaults for the keys `values` lacks."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), values)
        node = OmegaConf.to_object(merged)
    except MissingMandatoryValue as err:
        raise ConfigError(f"{prefix}{err.full_key} is required but not set (pass {prefix}{err.full_key}=...)") from None
    except ConfigKeyError as err:
        keys = ", ".join(f.name for f in dataclasses.fields(schema))
        raise ConfigError(f"{prefix}{err.key} is not a key here (a typo?): the keys are {keys}") from None
    except ValidationError as err:
        value = OmegaConf.select(OmegaConf.create(values), str(err.full_key))
        reason = str(err.msg).splitlines()[0]
        raise ConfigError(f"{prefix}{err.full_key}={value!r} is invalid: {reason}") from None
    for f in dataclasses.fields(node):
        rule, value = f.metadata.get("rule"), getattr(node, f.name)
        if rule is not None and (why := problem(rule, value)) is not None:
            raise ConfigError(f"{prefix}{f.name}={value!r} is invalid: {why}")
    if (why := node.relation(prefix)) is not None:
        raise ConfigError(why)
    return OmegaConf.to_container(merged)


def load_option(path: str | Path) -> DictConfig:
    """One group option's YAML file (e.g. configs/augment/cutmix.yaml) as a config node, without the defaults
    list that names its schema: what Hydra would put at the group's key."""
    node = OmegaConf.load(path)
    node.pop("defaults", None)
    return node


def flatten(node: dict, prefix: str = "") -> dict[str, Any]:
    """Nested dict -> {"a.b": value}; lists become tuples so values can be compared and hashed."""
    flat: dict[str, Any] = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = _hashable(value)
    return flat


def _hashable(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _hashable(v)) for k, v in value.items())
    return value


def changed_settings(before: dict, after: dict) -> list[str]:
    """'key: old -> new' for every result-defining value that differs between two resolved configs.

    Used on resume: a checkpoint's run continues with its own optimiser and scheduler state, so a changed value
    (optim.lr, trainer.epochs, an augment arg) either has no effect or makes the result differ from the run
    the checkpoint came from; the user should hear which ones.
    """
    old, new = result_defining(flatten(before)), result_defining(flatten(after))
    unset = "<unset>"
    return [
        f"{key}: {old.get(key, unset)!r} -> {new.get(key, unset)!r}"
        for key in sorted(old.keys() | new.keys())
        if old.get(key, unset) != new.get(key, unset)
    ]
