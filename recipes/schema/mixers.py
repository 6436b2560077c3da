"""Schemas of the augment group (the mixers' constructor args, mirrored)."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import Any

from omegaconf import MISSING

from augment._checks import MODES
from augment.regional import FILLS
from recipes.schema.rules import Node, one_of, ranged

# ----------------------------------------------------------------------------------------------- augment


@dataclass
class AugmentNode(Node):
    """Keys of every method: its name, and the last epoch that mixes (null: mixing never stops; 0: never mixes;
    augment.MixUntil). Default null: a checkpoint's config written before the key existed leaves it out."""

    name: str = MISSING
    off_epoch: int | None = ranged(None, ge=0)


@dataclass
class NoMixConfig(AugmentNode):
    """The baseline. alpha and mode do not apply; they are accepted so one sweep can span it and the mixers."""

    alpha: float | None = ranged(None, gt=0.0)
    prob: float | None = ranged(None, ge=0.0, le=1.0)
    mode: str | None = one_of(MODES, default=None)


@dataclass
class PairMixConfig(AugmentNode):
    """Mixup's keys, shared by the mixers that draw lambda ~ Beta(alpha, alpha) per batch, pair or sample."""

    alpha: float = ranged(gt=0.0)
    prob: float = ranged(ge=0.0, le=1.0)
    mode: str = one_of(MODES)


@dataclass
class CutMixConfig(PairMixConfig):
    min_ratio: float | None = ranged(None, ge=0.0, le=1.0)  # with max_ratio: box side ratios uniform in [min, max]
    max_ratio: float | None = ranged(None, ge=0.0, le=1.0)

    def relation(self, prefix: str) -> str | None:
        low, high = self.min_ratio, self.max_ratio
        if (low is None) != (high is None) or (low is not None and low > high):
            return f"{prefix}min_ratio={low} and {prefix}max_ratio={high}: give both, min <= max, or neither"
        return None


@dataclass
class FMixConfig(PairMixConfig):
    decay_power: float = ranged(gt=0.0)
    max_soft: float = ranged(ge=0.0, le=1.0)


@dataclass
class RicapConfig(PairMixConfig):
    mode: str = one_of(("batch", "elem"))  # four crops, not pairs


@dataclass
class ResizeMixConfig(AugmentNode):
    """ResizeMix: the side ratio of the pasted partner is uniform in scale = [low, high]. alpha does not apply
    (no Beta draw); it is accepted so one sweep can span it and the Beta mixers."""

    scale: list[float] = ranged(ge=0.0, le=1.0)
    prob: float = ranged(ge=0.0, le=1.0)
    mode: str = one_of(MODES)
    alpha: float | None = ranged(None, gt=0.0)

    def relation(self, prefix: str) -> str | None:
        if len(self.scale) != 2 or self.scale[0] > self.scale[1]:
            return f"{prefix}scale={list(self.scale)} is invalid: it must be [low, high] with low <= high"
        return None


@dataclass
class CutoutConfig(AugmentNode):
    """Cutout. alpha and mode do not apply; they are accepted so one sweep can span it and the mixers."""

    size: Any = MISSING  # an int >= 1 (pixels) or a float in (0, 1] (a fraction of the side): see relation
    holes: int = ranged(ge=1)
    fill: str = one_of(FILLS)
    prob: float = ranged(ge=0.0, le=1.0)
    alpha: float | None = ranged(None, gt=0.0)
    mode: str | None = one_of(MODES, default=None)

    def relation(self, prefix: str) -> str | None:
        size = self.size
        pixels = isinstance(size, Integral) and not isinstance(size, bool) and size >= 1
        fraction = isinstance(size, float) and 0.0 < size <= 1.0
        if not (pixels or fraction):
            return f"{prefix}size={size!r} is invalid: it must be an int >= 1 (pixels) or a float in (0, 1]"
        return None


@dataclass
class MixChoiceConfig(AugmentNode):
    """One of several mixers per batch: methods maps a mixer name to its args (checked against its schema)."""

    methods: dict[str, Any] = MISSING
    probs: list[float] = ranged(ge=0.0, le=1.0)

    def relation(self, prefix: str) -> str | None:
        if len(self.probs) != len(self.methods):
            return f"{prefix}probs={self.probs} needs one probability per method ({', '.join(self.methods)})"
        return None
