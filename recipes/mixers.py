"""An augment node -> the mixer it describes: the one place where a config becomes a mixer.

recipes.config.validate builds the mixer once, on the CPU, before any data is loaded: the mixers' constructors own
the value rules of their args (augment/_checks.py), so building is the check, and its ArgError becomes a
ConfigError naming the key (`augment.methods.cutmix.alpha=-1 is invalid: ...` inside a `choice`). The run builds it
again with its seeded generators (recipes.run).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from augment import METHODS, MODEL_METHODS, MixChoice, MixUntil
from augment._checks import SHARED_ARG_CHECKS, ArgError
from recipes.run_keys import applying_augment_args
from recipes.schema.rules import ConfigError


def build_mixer(
    augment_cfg: DictConfig | Mapping[str, Any],
    num_classes: int,
    generator: torch.Generator | None,
    choice_generator: torch.Generator | None = None,
):
    """The augment library's mixer named by `augment.name`; every other key of the node is a constructor arg.

    `name: choice` builds MixChoice (timm's mixup/cutmix switch, generalised): `methods` maps method names to their
    args and `probs` gives each one's chance per batch. All mixers share `generator`; the per-batch choice is drawn
    from `choice_generator` (default: `generator`): a CPU one spares a CUDA run one synchronisation per batch.
    `off_epoch` (any method) wraps the mixer in MixUntil: epochs after it train unmixed. An arg the method does not
    take (shared by a sweep, recipes.run_keys) is left out, but still checked by the rule of the methods that take
    it (augment._checks.SHARED_ARG_CHECKS). Raises ConfigError naming the `augment.` key of a bad value.
    """
    node = OmegaConf.to_container(augment_cfg, resolve=True) if isinstance(augment_cfg, DictConfig) else augment_cfg
    node = dict(node)
    for key in node.keys() - applying_augment_args(node).keys():
        if node[key] is not None and key in SHARED_ARG_CHECKS:
            _checked(SHARED_ARG_CHECKS[key], node, "augment.", node[key])
    return _build(node, "augment.", num_classes, generator, choice_generator)


def _build(node: dict, prefix: str, num_classes: int, generator, choice_generator):
    """The mixer of one node; `prefix` names its keys in errors (`augment.`, `augment.methods.cutmix.`)."""
    kwargs = applying_augment_args(node)  # augment=none augment.alpha=...: alpha is not NoMix's
    name, off_epoch = kwargs.pop("name"), kwargs.pop("off_epoch", None)
    if name == "choice":
        mixers = [
            _build({"name": m, **(args or {})}, f"{prefix}methods.{m}.", num_classes, generator, None)
            for m, args in kwargs["methods"].items()
        ]
        probs = list(kwargs["probs"])
        mixer = _checked(MixChoice, node, prefix, mixers, probs, generator=choice_generator or generator)
    else:
        methods = {**METHODS, **MODEL_METHODS}
        if name not in methods:
            raise ConfigError(f"{prefix}name={name!r} is unknown: choose one of {', '.join(sorted(methods))} or choice")
        mixer = _checked(methods[name], node, prefix, num_classes=num_classes, generator=generator, **kwargs)
    return mixer if off_epoch is None else _checked(MixUntil, node, prefix, mixer, off_epoch=off_epoch)


def _checked(make, node: dict, prefix: str, *args, **kwargs):
    """make(*args, **kwargs), its ArgError (or ValueError) turned into a ConfigError naming the node's key."""
    try:
        return make(*args, **kwargs)
    except ArgError as err:
        raise ConfigError(f"{prefix}{err.arg}={node.get(err.arg)!r} is invalid: {err}") from None
    except ValueError as err:
        raise ConfigError(f"{prefix}name={node.get('name')!r}: {err}") from None
