"""Config checks that must fail before any data is loaded, the device a config asks for, and config diffs."""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from recipes.run_keys import result_defining

CHOICES = {
    "trainer.precision": ("auto", "fp32", "bf16"),
    "trainer.channels_last": ("auto", True, False),
    "trainer.batch_scope": ("global", "per_device"),
    "optim.name": ("sgd", "adamw"),
    "sched.name": ("cosine", "multistep"),
}


class ConfigError(ValueError):
    """A config value is invalid; the message names the key and the value."""


def _at_least(cfg: DictConfig, key: str, low: float, optional: bool = False) -> None:
    value = OmegaConf.select(cfg, key)
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
        raise ConfigError(f"{key}={value!r} is invalid: it must be a number >= {low}")


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


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError for the first invalid value; cheap, so it runs before anything else."""
    try:
        OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as err:
        raise ConfigError(f"{err.full_key} is required but not set (pass {err.full_key}=...)") from None
    _at_least(cfg, "trainer.epochs", 1)
    _at_least(cfg, "trainer.batch_size", 1)
    _at_least(cfg, "trainer.eval_batch_size", 1)
    _at_least(cfg, "trainer.eval_every", 1)
    _at_least(cfg, "dataset.subset", 1, optional=True)
    _at_least(cfg, "trainer.grad_clip", 0)
    _at_least(cfg, "optim.lr", 0)
    _at_least(cfg, "sched.warmup_epochs", 0)
    for key in ("trainer.epochs", "trainer.batch_size", "trainer.eval_every", "dataset.subset"):
        value = OmegaConf.select(cfg, key)
        if value is not None and int(value) != value:
            raise ConfigError(f"{key}={value!r} is invalid: it must be a whole number")
    if not 0.0 <= cfg.dataset.get("holdout", 0.0) < 1.0:
        raise ConfigError(f"dataset.holdout={cfg.dataset.holdout!r} is invalid: it must be a fraction in [0, 1)")
    if not 0.0 <= cfg.label_smoothing < 1.0:
        raise ConfigError(f"label_smoothing={cfg.label_smoothing!r} is invalid: it must be in [0, 1)")
    for key, choices in CHOICES.items():
        value = OmegaConf.select(cfg, key)
        if value not in choices:
            raise ConfigError(f"{key}={value!r} is invalid: choose one of {', '.join(map(str, choices))}")
    if cfg.sched.warmup_epochs >= cfg.trainer.epochs and cfg.sched.warmup_epochs > 0:
        raise ConfigError(
            f"sched.warmup_epochs={cfg.sched.warmup_epochs} must be < trainer.epochs={cfg.trainer.epochs}"
        )
    resolve_device(cfg.trainer.device)


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
