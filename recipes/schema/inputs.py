"""Schemas of the dataset and model groups."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from recipes.schema.rules import Node, ranged

# ----------------------------------------------------------------------------------------------- dataset


@dataclass
class DatasetConfig(Node):
    """Keys every dataset has. mean/std are per channel, in [0, 1] pixel units."""

    name: str = MISSING
    root: str | None = MISSING
    download: bool = MISSING
    subset: int | None = ranged(ge=1)  # train on N training images only (recipes.subsets.subset_indices)
    subset_balanced: bool = False  # true: subset / num_classes images per class, drawn by the seed
    num_classes: int = ranged(ge=2)
    in_chans: int = ranged(ge=1)
    img_size: int = ranged(ge=1)
    mean: list[float] = ranged(ge=0.0, le=1.0)
    std: list[float] = ranged(gt=0.0)
    hflip: bool = MISSING

    def relation(self, prefix: str) -> str | None:
        if len(self.mean) != self.in_chans or len(self.std) != self.in_chans:
            channels = f"need one value per channel (in_chans={self.in_chans})"
            return f"{prefix}mean={self.mean} and {prefix}std={self.std} {channels}"
        return None


@dataclass
class InMemoryDatasetConfig(DatasetConfig):
    """A dataset held as one tensor on the device (recipes.data.InMemoryData)."""

    holdout: float = ranged(ge=0.0, lt=1.0)  # fraction kept out of training for temperature scaling
    crop_padding: int = ranged(ge=0)


@dataclass
class SyntheticConfig(InMemoryDatasetConfig):
    train_size: int = ranged(ge=1)
    test_size: int = ranged(ge=1)
    noise: float = ranged(ge=0.0)


@dataclass
class ImageFolderConfig(DatasetConfig):
    """Image folders: <root>/<class>/* or <root>/train|val/<class>/*, decoded by DataLoader workers
    (recipes.data.FolderData) or, with in_memory, once into a tensor on the device (recipes.data.InMemoryData)."""

    num_workers: int = ranged(ge=0)
    val_fraction: float = ranged(0.0, ge=0.0, lt=1.0)  # <root>/<class> layout: share of each class for validation
    in_memory: bool = False
    holdout: float = ranged(0.0, ge=0.0, lt=1.0)  # kept out of training for temperature scaling (both paths)
    skip_bad_files: bool = False  # true: train on the readable files, list the others in summary.json


# ----------------------------------------------------------------------------------------------- model


@dataclass
class ModelConfig(Node):
    name: str = MISSING


# The model nodes declare types only: the ranges of their values (width >= 1, WRN's depth 6n + 4, a dropout in
# [0, 1), ...) live in models/ (the builders check them, for users without Hydra too), and recipes.config.validate
# builds the model once on the meta device to apply them before any data is loaded.
@dataclass
class PreActResNetConfig(ModelConfig):
    width: int = MISSING


@dataclass
class PyramidNetConfig(ModelConfig):
    depth: int = MISSING
    alpha: int = MISSING
    bottleneck: bool = MISSING


@dataclass
class WideResNetConfig(ModelConfig):
    depth: int = MISSING
    widen: int = MISSING
    dropout: float = MISSING


@dataclass
class TimmCnnConfig(ModelConfig):
    drop_rate: float = MISSING
    drop_path_rate: float = MISSING


@dataclass
class VitConfig(TimmCnnConfig):
    patch_size: int = MISSING  # img_size must be a multiple


@dataclass
class TimmConfig(ModelConfig):
    """Any timm architecture by name, optionally with pretrained weights."""

    arch: str = MISSING
    pretrained: bool = MISSING
    pretrained_file: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
