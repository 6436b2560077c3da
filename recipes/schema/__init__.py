"""The config schema: every key of every config group, with its type and its allowed values, in one place.

Each group option is a dataclass (Hydra structured config). `register()` stores each one in Hydra's ConfigStore as
`<group>/<name>_schema`, and every YAML file of configs/<group>/ names its schema first in its defaults list, so
Hydra checks types and refuses keys the schema does not declare when it composes (a YAML typo fails there). The
allowed range or choices of a value is a `Rule` in its field's metadata; recipes.config.validate walks them
(and each schema's `relation` between keys) after composition, before any data is loaded.

Values live in the YAML files; a field has a default here only when a YAML, or the saved config of a checkpoint
written before the key existed, may leave it out (recipes.config.validate fills it in; code reads cfg.key).
Adding a key = one field here (type, and for a number or a choice its rule) + its value in the YAML. The augment
schemas (mixers.py) hold types only: a mixer's constructor owns the rules of its args, and validate builds the
mixer once to apply them (docs/design.md, "Where each rule lives"). eval.py's keys: evaluation.py.
"""

from __future__ import annotations

import contextlib

from recipes.schema import inputs, mixers, training
from recipes.schema.evaluation import EVAL_NODES, EvalConfig
from recipes.schema.rules import ConfigError, InputError, Node, Rule, problem
from recipes.schema.training import TrainConfig, TrainerConfig

# group -> the `name` value of each option -> its schema (a YAML file's defaults name `<name>_schema`).
SCHEMAS: dict[str, dict[str, type]] = {
    "dataset": {
        "fashion_mnist": inputs.InMemoryDatasetConfig,
        "cifar10": inputs.InMemoryDatasetConfig,
        "cifar100": inputs.InMemoryDatasetConfig,
        "synthetic": inputs.SyntheticConfig,
        "imagefolder": inputs.ImageFolderConfig,
    },
    "model": {
        "preact_resnet18": inputs.PreActResNetConfig,
        "pyramidnet": inputs.PyramidNetConfig,
        "wrn": inputs.WideResNetConfig,
        "resnet18": inputs.TimmCnnConfig,
        "resnet50": inputs.TimmCnnConfig,
        "efficientnet_b0": inputs.TimmCnnConfig,
        "vit_tiny": inputs.VitConfig,
        "vit_small": inputs.VitConfig,
        "timm": inputs.TimmConfig,
    },
    "augment": {
        "none": mixers.NoMixConfig,
        "mixup": mixers.PairMixConfig,
        "cutmix": mixers.CutMixConfig,
        "fmix": mixers.FMixConfig,
        "ricap": mixers.RicapConfig,
        "resizemix": mixers.ResizeMixConfig,
        "saliencymix": mixers.PairMixConfig,
        "cutout": mixers.CutoutConfig,
        "manifold_mixup": mixers.PairMixConfig,
        "transmix": mixers.PairMixConfig,
        "choice": mixers.MixChoiceConfig,
    },
    "optim": {"sgd": training.SgdConfig, "adamw": training.AdamWConfig},
    "sched": {"cosine": training.CosineConfig, "multistep": training.MultiStepConfig},
}
GROUP_SCHEMAS: dict[str, type] = {"trainer": TrainerConfig}  # groups with one schema for every option


def register() -> None:
    """Store every schema in Hydra's ConfigStore (train.py and eval.py call this before composing)."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainConfig)
    store.store(name="eval_schema", node=EvalConfig)
    for group, schema in GROUP_SCHEMAS.items():
        store.store(group=group, name=f"{group}_schema", node=schema)
    for group, options in SCHEMAS.items():
        for name, schema in options.items():
            store.store(group=group, name=f"{name}_schema", node=schema)


@contextlib.contextmanager
def errors_for_hydra():
    """A ConfigError (the user's mistake) or an InputError (a missing or unreadable input) becomes Hydra's compact
    error: Hydra prints the message alone and exits with code 1, no traceback; HYDRA_FULL_ERROR=1 still shows the
    whole trace."""
    from hydra.errors import CompactHydraException

    try:
        yield
    except ConfigError as err:
        raise CompactHydraException(f"Config error: {err}") from err
    except InputError as err:
        raise CompactHydraException(f"Input error: {err}") from err


__all__ = [
    "EVAL_NODES",
    "GROUP_SCHEMAS",
    "SCHEMAS",
    "ConfigError",
    "EvalConfig",
    "InputError",
    "Node",
    "Rule",
    "TrainConfig",
    "TrainerConfig",
    "errors_for_hydra",
    "problem",
    "register",
]
