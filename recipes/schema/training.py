"""Schemas of train.yaml's own keys and of the trainer, optim and sched groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import MISSING

from recipes.schema.rules import Node, one_of, ranged

# ----------------------------------------------------------------------------------------------- top level


@dataclass
class TrainConfig(Node):
    """configs/train.yaml's own keys; each group's node is checked against that group's schema."""

    dataset: Any = MISSING
    model: Any = MISSING
    augment: Any = MISSING
    optim: Any = MISSING
    sched: Any = MISSING
    trainer: Any = MISSING
    seed: int = ranged(ge=0)
    label_smoothing: float = ranged(ge=0.0, lt=1.0)
    resume: bool = MISSING
    ckpt_path: str | None = MISSING
    experiment: str | None = MISSING
    # Set by experiment files: the published numbers (recipes/sweeps/paper.py reads them) and a per-method augment.prob
    paper: Any = None
    method_prob: dict[str, float] | None = None
    # The configs/model option the run was composed with (e.g. preact_resnet18_w16), which `model.name` (the
    # builder) does not tell apart; train.py sets it from Hydra's runtime choices, summary.json records it as `model`
    model_choice: str | None = None


# ----------------------------------------------------------------------------------------------- trainer


@dataclass
class TrainerConfig(Node):
    device: str = MISSING  # auto | cpu | cuda | cuda:N, checked by recipes.config.resolve_device
    epochs: int = ranged(ge=1)
    # BatchNorm needs at least 2 images per process and step; with N processes the Trainer asks for 2N
    batch_size: int = ranged(ge=2)
    batch_scope: str = one_of(("global", "per_device"))
    eval_batch_size: int = ranged(ge=1)
    eval_every: int = ranged(1, ge=1)  # test-set evaluation every N epochs (and after the last)
    precision: str = one_of(("auto", "fp32", "bf16"))
    channels_last: Any = one_of(("auto", True, False))
    compile: bool = MISSING
    grad_clip: float = ranged(ge=0.0)
    deterministic: bool = MISSING
    progress: bool = MISSING
    log_every: int = ranged(ge=1)
    sync_bn: bool = MISSING
    # Measure occlusion, corruption, FGSM and OOD robustness after training (recipes.robustness_run) on a fixed
    # seeded subset of this many test images; both define which summary.json keys exist and their values
    robustness: bool = True
    robustness_subset: int = ranged(1000, ge=1)


# ----------------------------------------------------------------------------------------------- optim, sched


@dataclass
class SgdConfig(Node):
    name: str = MISSING
    lr: float = ranged(gt=0.0)
    momentum: float = ranged(ge=0.0, lt=1.0)
    nesterov: bool = MISSING
    weight_decay: float = ranged(ge=0.0)

    def relation(self, prefix: str) -> str | None:
        if self.nesterov and self.momentum == 0:
            return f"{prefix}nesterov=true needs {prefix}momentum > 0 (got {self.momentum})"
        return None


@dataclass
class AdamWConfig(Node):
    name: str = MISSING
    lr: float = ranged(gt=0.0)
    betas: list[float] = ranged(ge=0.0, lt=1.0)
    weight_decay: float = ranged(ge=0.0)

    def relation(self, prefix: str) -> str | None:
        return None if len(self.betas) == 2 else f"{prefix}betas={self.betas} must hold two numbers"


@dataclass
class CosineConfig(Node):
    name: str = MISSING
    warmup_epochs: float = ranged(ge=0.0)
    min_lr: float = ranged(ge=0.0)


@dataclass
class MultiStepConfig(Node):
    name: str = MISSING
    warmup_epochs: float = ranged(ge=0.0)
    milestones: list[int] = ranged(ge=0)  # epochs
    gamma: float = ranged(gt=0.0, le=1.0)
