"""The building blocks of a run, each from its config node: network (and the mixer-fits-model check, the wrapped
model the steps call), optimiser, scheduler, step format, the per-epoch seeds of the named random streams, and the
run-defining values summary.json carries. The mixer is built by recipes.mixers.

recipes.run's Trainer assembles a run from these; recipes.evaluate rebuilds a checkpoint's model with them.
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig, OmegaConf

from augment import check_model, needs_model
from models import build_model, without_pretrained
from models.common import ArgError
from recipes import distributed
from recipes.data import DatasetInfo
from recipes.engine import StepConfig, lr_factor
from recipes.precision import resolve_precision
from recipes.run_keys import applying_augment_args
from recipes.schema.rules import ConfigError


def build_network(model_cfg: DictConfig, info: DatasetInfo, *, pretrained: bool = True) -> torch.nn.Module:
    """models.build_model for the model node and the dataset's shape; pretrained=False leaves out pretrained
    weights (for a model whose weights a checkpoint replaces). Its ValueErrors (a width below 1, a depth the
    architecture cannot have, an img_size that is no multiple of the patch size) are config mistakes: a
    ConfigError, naming the key (model.<arg>=...) when the builder's ArgError says which."""
    model_kwargs = OmegaConf.to_container(model_cfg, resolve=True)
    try:
        return build_model(
            **(model_kwargs if pretrained else without_pretrained(model_kwargs)),
            num_classes=info.num_classes,
            in_chans=info.in_chans,
            img_size=info.img_size,
        )
    except ArgError as err:
        if err.arg in model_kwargs:
            raise ConfigError(f"model.{err.arg}={model_kwargs[err.arg]!r} is invalid: {err}") from None
        raise ConfigError(f"model: {err}") from err
    except ValueError as err:
        raise ConfigError(f"model: {err}") from err


def check_mixer_fits_model(mixer, model: torch.nn.Module, cfg: DictConfig) -> None:
    """A mixer that needs the model (TransMix: attention; Manifold Mixup: stages) fails here, before any data."""
    what = f"augment={cfg.augment.name} with model={cfg.get('model_choice') or cfg.model.name}"
    try:
        check_model(mixer, model)
    except ValueError as err:
        raise ConfigError(f"{what}: {err}") from err
    if cfg.trainer.compile and needs_model(mixer):
        raise ConfigError(
            f"{what} and trainer.compile=true: this method hooks the model's modules per step, which makes "
            "torch.compile recompile; set trainer.compile=false"
        )


def wrap_model(
    model: torch.nn.Module, trainer: DictConfig, device: torch.device, dist: distributed.DistInfo
) -> torch.nn.Module:
    """The model the training steps call: with SyncBatchNorm and DDP across processes, compiled if asked."""
    if dist.enabled:
        if trainer.sync_bn:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        ids = [device.index] if device.type == "cuda" else None
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if trainer.compile:
        model = torch.compile(model)
    return model


def _sgd(params, optim: DictConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        params, lr=optim.lr, momentum=optim.momentum, nesterov=bool(optim.nesterov), weight_decay=optim.weight_decay
    )


def _adamw(params, optim: DictConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=optim.lr, betas=tuple(optim.betas), weight_decay=optim.weight_decay)


# optim.name -> builder(parameters, optim node); recipes.schema declares each one's keys.
OPTIMIZERS = {"sgd": _sgd, "adamw": _adamw}


def build_optimizer(model: torch.nn.Module, optim: DictConfig) -> torch.optim.Optimizer:
    """The optimiser `optim.name` (OPTIMIZERS); weight decay on every parameter, as the CIFAR papers do."""
    if optim.name not in OPTIMIZERS:
        raise ConfigError(f"optim.name={optim.name!r} is unknown: choose one of {', '.join(sorted(OPTIMIZERS))}")
    return OPTIMIZERS[optim.name](model.parameters(), optim)


def build_scheduler(optimizer, cfg: DictConfig, steps_per_epoch: int):
    epochs, sched, base_lr = int(cfg.trainer.epochs), cfg.sched, float(cfg.optim.lr)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, steps_per_epoch, epochs, sched, base_lr)
    )


def step_config(cfg: DictConfig, device: torch.device) -> StepConfig:
    """How each step runs on `device`; 'auto' precision and memory format resolve in recipes.precision."""
    precision = resolve_precision(cfg.trainer.precision, cfg.trainer.channels_last, device)
    return StepConfig(
        autocast_dtype=torch.bfloat16 if precision.bf16 else None,
        channels_last=precision.channels_last,
        grad_clip=float(cfg.trainer.grad_clip),
        label_smoothing=float(cfg.label_smoothing),
        log_every=int(cfg.trainer.log_every),
        progress=bool(cfg.trainer.progress),
        precision=precision.describe(),
    )


# The random streams of an epoch, kept apart by an offset added to the rank in epoch_seed: the mixers' draws, the
# model's own randomness (dropout, stochastic depth: torch's global RNG) and MixChoice's per-batch pick. The data
# stream has none (every rank draws the same global batches). Changing a value changes every run's draws.
MIX_STREAM, MODEL_STREAM, CHOICE_STREAM = 1, 1000, 2000


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """Seed of everything random in one epoch: a killed run resumed at an epoch boundary redraws the same."""
    return (seed * 1_000_003 + epoch * 7_919 + rank * 104_729) % (2**63)


def run_values(cfg: DictConfig) -> dict:
    """The run-defining values summary.json carries at its top level, for sweep tables to group runs by.

    alpha, prob and mode are None where the method does not take them (recipes.run_keys.applies).
    `model` is the configs/model option (`model_choice`, which train.py sets; `model.name` for a config composed
    without it) and `model_args` the model node's other keys (e.g. {"width": 16}), its defining sizes.
    """
    aug = applying_augment_args(OmegaConf.to_container(cfg.augment, resolve=True))
    model = OmegaConf.to_container(cfg.model, resolve=True)
    return {
        "dataset": cfg.dataset.name,
        "model": cfg.get("model_choice") or model["name"],
        "model_args": {k: v for k, v in model.items() if k != "name"},
        "augment": aug["name"],
        "alpha": aug.get("alpha"),
        "prob": aug.get("prob"),
        "mode": aug.get("mode"),
        "seed": int(cfg.seed),
        "label_smoothing": float(cfg.label_smoothing),
        "experiment": cfg.get("experiment"),
    }
