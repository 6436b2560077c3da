"""Shared fixtures: compose the project's Hydra config the way train.py does, without a Hydra app."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch
from hydra import compose, initialize_config_dir

from recipes import schema
from recipes.run_keys import register_run_name

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


def load_script(name: str) -> ModuleType:
    """scripts/<name>.py as a module (scripts are entry points, not a package), for tests of their functions."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Tiny, fast overrides for a training run on CPU: synthetic 16x16 data and the narrowest CIFAR-style net.
FAST = [
    "dataset=synthetic",
    "dataset.img_size=16",
    "dataset.train_size=256",
    "dataset.test_size=128",
    "model=preact_resnet18_w16",
    "model.width=8",
    "trainer.batch_size=64",
    "trainer.epochs=1",
    "trainer.progress=false",
    "trainer.device=cpu",
    "trainer.robustness=false",  # its own tests turn it on (tests/test_robustness_run.py)
]


def compose_cfg(overrides: list[str] | None = None, config_name: str = "train"):
    """The composed config for these command-line overrides (the hydra node dropped, as a job sees it)."""
    register_run_name()
    schema.register()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides or []))


@pytest.fixture
def fast_cfg():
    """A factory: fast_cfg('augment=cutmix', ...) -> composed config for a seconds-long CPU run."""
    return lambda *extra: compose_cfg(FAST + list(extra))


def write_image_folder(root: Path, per_class: dict[str, list[int]], size: int = 16) -> Path:
    """An ImageNet-layout folder: root/<split>/class<k>/<i>.png, per_class[split][k] random RGB PNGs per class,
    class k brighter than class k - 1 (so a net can tell them apart). Returns root."""
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    for split, counts in per_class.items():
        for k, count in enumerate(counts):
            (root / split / f"class{k}").mkdir(parents=True)
            for i in range(count):
                pixels = torch.rand(size, size, 3, generator=g) * 128 + 127 * k / max(1, len(counts) - 1)
                Image.fromarray(pixels.to(torch.uint8).numpy()).save(root / split / f"class{k}" / f"{i}.png")
    return root


def write_class_folder(root: Path, counts: list[int], size: int = 16, suffix: str = ".jpg") -> Path:
    """A folder as users have one: root/class<k>/<i><suffix>, counts[k] random RGB images of `size` px, class k
    brighter than class k - 1. Returns root."""
    from PIL import Image

    g = torch.Generator().manual_seed(1)
    for k, count in enumerate(counts):
        (root / f"class{k}").mkdir(parents=True)
        for i in range(count):
            pixels = torch.rand(size, size, 3, generator=g) * 128 + 127 * k / max(1, len(counts) - 1)
            Image.fromarray(pixels.to(torch.uint8).numpy()).save(root / f"class{k}" / f"{i}{suffix}")
    return root
