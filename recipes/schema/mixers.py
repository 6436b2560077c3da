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
class NoMixConfig(Node):
    """The baseline. alpha and mode do not apply; they are accepted so one sweep can span it and the mixers."""

    name: str = MISSING
    alpha: float | None = None
    prob: float | None = None
    mode: str | None = None


@dataclass
class PairMixConfig(Node):
    """Mixup's keys, shared by the mixers that draw lambda ~ Beta(alpha, alpha) per batch, pair or sample."""

    name: str = MISSING
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
class CutoutConfig(Node):
    """Cutout. alpha and mode do not apply; they are accepted so one sweep can span it and the mixers."""

    name: str = MISSING
    size: Any = MISSING  # an int >= 1 (pixels) or a float in (0, 1] (a fraction of the side)
    holes: int = MISSING
    fill: str = MISSING
    prob: float = MISSING
    alpha: float | None = None
    mode: str | None = None


@dataclass
class MixChoiceConfig(Node):
    """One of several mixers per batch: methods maps a mixer name to its args (checked against its schema)."""

    name: str = MISSING
    methods: dict[str, Any] = MISSING
    probs: list[float] = MISSING
