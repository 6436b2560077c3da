"""Schemas of the augment group: the keys of each method and their types, no ranges.

The allowed values of a mixer's args have one home, the mixer's constructor (augment/_checks.py and the classes):
recipes.config.validate builds the mixer once, on the CPU, and turns its ArgError into a ConfigError naming the
key. So a new method needs a dataclass here with its keys' types, not a second copy of its rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import MISSING

from recipes.schema.rules import Node

# ----------------------------------------------------------------------------------------------- augment


@dataclass
class AugmentNode(Node):
    """Keys of every method: its name, and the last epoch that mixes (null: mixing never stops; 0: never mixes;
    augment.MixUntil). Default null: a checkpoint's config written before the key existed leaves it out."""

    name: str = MISSING
    off_epoch: int | None = None


@dataclass
class NoMixConfig(AugmentNode):
    """The baseline. alpha and mode do not apply; they are accepted so one sweep can span it and the mixers."""

    alpha: float | None = None
    prob: float | None = None
    mode: str | None = None


@dataclass
class PairMixConfig(AugmentNode):
    """Mixup's keys, shared by the mixers that draw lambda ~ Beta(alpha, alpha) per batch, pair or sample."""

    alpha: float = MISSING
    prob: float = MISSING
    mode: str = MISSING


@dataclass
class CutMixConfig(PairMixConfig):
    min_ratio: float | None = None  # with max_ratio: box side ratios uniform in [min, max]
    max_ratio: float | None = None


@dataclass
class FMixConfig(PairMixConfig):
    decay_power: float = MISSING
    max_soft: float = MISSING


@dataclass
class RicapConfig(PairMixConfig):
    pass


@dataclass
class ResizeMixConfig(AugmentNode):
    """ResizeMix: the side ratio of the pasted partner is uniform in scale = [low, high]. alpha does not apply
    (no Beta draw); it is accepted so one sweep can span it and the Beta mixers."""

    scale: list[float] = MISSING
    prob: float = MISSING
    mode: str = MISSING
    alpha: float | None = None


@dataclass
class CutoutConfig(AugmentNode):
    """Cutout. alpha and mode do not apply; they are accepted so one sweep can span it and the mixers."""

    size: Any = MISSING  # an int >= 1 (pixels) or a float in (0, 1] (a fraction of the side)
    holes: int = MISSING
    fill: str = MISSING
    prob: float = MISSING
    alpha: float | None = None
    mode: str | None = None


@dataclass
class MixChoiceConfig(AugmentNode):
    """One of several mixers per batch: methods maps a mixer name to its args (checked against its schema)."""

    methods: dict[str, Any] = MISSING
    probs: list[float] = MISSING
