"""Schema of configs/eval.yaml: eval.py's own keys and the run settings it may replace.

Checked like train.py's config (recipes.config.validate_eval): a key no schema here declares, a wrong type or a
value outside its Rule is refused with one line naming it, before a checkpoint is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from recipes.schema.rules import Node, ranged


@dataclass
class EvalConfig(Node):
    """eval.yaml's top level; each node below is checked against its schema in EVAL_NODES."""

    ckpt_path: str = MISSING  # a run dir (uses <run>/checkpoints/last.pt) or a checkpoint file
    out_dir: str | None = None  # default <run dir>/eval
    overwrite: bool = False
    dataset: Any = None
    trainer: Any = None
    eval: Any = MISSING


@dataclass
class EvalDatasetOverrides(Node):
    """Values of the run's saved config that eval.py replaces when not null (recipes.evaluate.RUN_OVERRIDES)."""

    root: str | None = None


@dataclass
class EvalTrainerOverrides(Node):
    device: str | None = None  # auto | cpu | cuda | cuda:N, checked by recipes.config.resolve_device
    eval_batch_size: int | None = ranged(None, ge=1)


@dataclass
class EvalSettings(Node):
    """What eval.py measures besides the clean metrics: temperature scaling, occlusion, OOD detection."""

    ts_fraction: float = ranged(gt=0.0, lt=1.0)  # seeded share of the training set when the run held none out
    occlusion_fractions: list[float] = ranged(ge=0.0, le=1.0)  # of the image area
    ood_datasets: list[str] = MISSING  # names of configs/dataset/*.yaml, checked when they are loaded
    ood_roots: dict[str, str] = field(default_factory=dict)

    def relation(self, prefix: str) -> str | None:
        return None if self.occlusion_fractions else f"{prefix}occlusion_fractions=[] needs at least one fraction"


EVAL_NODES: dict[str, type] = {
    "dataset": EvalDatasetOverrides,
    "trainer": EvalTrainerOverrides,
    "eval": EvalSettings,
}
