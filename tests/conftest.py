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


# Tiny, fast overrides for a training run on CPU: synthetic 16x16 data and the narrowest CIFAR-style net, in fp32
# NCHW: `auto` would pick bf16 + channels_last on a CPU with native bf16 and fp32 elsewhere, and a test's verdict must
# not depend on the host. Tests of the bf16 branches override the format and force torch's probe (native_bf16_cpu).
FAST = [
    "trainer.precision=fp32",
    "trainer.channels_last=false",
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


def force_native_bf16(patch, native: bool = True) -> None:
    """Make torch's CPU probe report native bf16 (AVX512-BF16) or none, whatever the host has; `patch` is
    pytest's monkeypatch, or setattr itself in a spawned process."""
    patch(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    patch(torch.cpu, "_is_amx_tile_supported", lambda: False)


@pytest.fixture
def native_bf16_cpu(monkeypatch):
    """This CPU computes bf16 natively, as far as `trainer.precision=auto` can tell (the probe is forced)."""
    force_native_bf16(lambda obj, name, value: monkeypatch.setattr(obj, name, value, raising=False))


@pytest.fixture(autouse=True)
def image_check_cache(tmp_path_factory, monkeypatch):
    """The image folder check's verdict cache (recipes.folder_check) in a fresh dir per test, not in ~/.cache."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache / "mixaug" / "checked_files"


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


def pytest_terminal_summary(terminalreporter):
    """One line saying how the forced-bf16 tests (marker `bf16`) ended, so a CI log shows they ran on any CPU."""
    outcomes = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            if "bf16" in getattr(report, "keywords", {}) and report.when in ("call", "setup"):
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if outcomes:
        counts = ", ".join(f"{n} {outcome}" for outcome, n in outcomes.items())
        terminalreporter.write_line(f"bf16 branches (torch's CPU probe forced, host-independent): {counts}")
