"""Measurement helpers of scripts/bench_train.py: device synchronisation, timing, batches, mixers, profiles.

Not a script: bench_train.py and bench_formats.py import it (scripts/ is on sys.path when they run).
"""

from __future__ import annotations

import itertools
import platform
import time
from pathlib import Path

import torch

from recipes.config import load_option
from recipes.data import InMemoryData
from recipes.mixers import build_mixer

ROOT = Path(__file__).resolve().parents[1]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(fn, device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def batches(data: InMemoryData, batch: int, steps: int, generator: torch.Generator):
    """`steps` training batches, reshuffling whenever the held images run out (a new epoch)."""
    epochs = (data.train_batches(batch, generator) for _ in itertools.count())
    return itertools.islice(itertools.chain.from_iterable(epochs), steps)


def make_mixer(method: str, num_classes: int, device: torch.device):
    cfg = load_option(ROOT / "configs" / "augment" / f"{method}.yaml")
    if method == "cutmix":
        cfg.mode = "elem"  # one box per image: the costliest mode
    return build_mixer(cfg, num_classes, torch.Generator(device=device).manual_seed(0))


def profile(fn, device: torch.device) -> None:
    """Where a step's time goes: torch.profiler's operators, most self time (on the device when CUDA) first."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        fn()
        sync(device)
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=15))


def hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
