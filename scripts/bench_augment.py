"""Time every augment mixer per batch against a plain clone and against timm, torchvision and kornia.

    .venv/bin/python scripts/bench_augment.py                 # CPU, and CUDA when present
    .venv/bin/python scripts/bench_augment.py --device cpu --rounds 10
    .venv/bin/python scripts/bench_augment.py --device cpu --stat median --shapes 256x3x32x32

For each batch shape (float32) and device it prints a Markdown table: milliseconds per batch (the mean over
all timed calls by default; --stat median or best), that time divided by `images.clone()` of the same batch,
and each peer's time in the same mode divided by ours (> 1: ours is faster): timm's Mixup (batch, pair,
elem), torchvision's v2 MixUp/CutMix (batch only) and kornia's RandomMixUpV2/RandomCutMixV2 (batch with
same_on_batch=True, elem without). kornia is optional (`pip install -e .[bench]`); without it its column
shows "—". All timings come from one run, the methods interleaved, so the ratios compare like with like.
Torch's default number of CPU threads is used unless --threads is given. timm mixes in place on its input;
ours returns a new tensor (the clone column shows what one new tensor costs); kornia returns (B, 3) label
rows instead of soft targets.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import inspect
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from augment import METHODS

SHAPES = [(256, 3, 32, 32), (128, 3, 224, 224)]
NUM_CLASSES = 100
OURS = [
    ("none", ["batch"]),
    ("cutout", ["elem"]),
    ("mixup", ["batch", "pair", "elem"]),
    ("cutmix", ["batch", "pair", "elem"]),
    ("fmix", ["batch", "pair", "elem"]),
    ("ricap", ["batch", "elem"]),
    ("resizemix", ["batch", "pair", "elem"]),
    ("saliencymix", ["batch", "pair", "elem"]),
]
PEERS = ("timm", "torchvision", "kornia")
STATS = {"mean": statistics.fmean, "median": statistics.median, "best": min}


def time_all(fns: dict, device: torch.device, rounds: int, calls: int = 5, stat: str = "mean") -> dict:
    """Wall time in milliseconds of one call of each callable: the mean (or median, or best) of all calls.

    Each round times `calls` back-to-back calls of every callable in turn, after one untimed warm-up call,
    so a burst of load from other processes over the run hits all of them alike. The mean is what a
    training loop pays on average (the cost of most mixers depends on the draw, e.g. CutMix's box area);
    the best is the estimate least disturbed by outside load. CUDA is synchronised around each call.
    """
    times = {key: [] for key in fns}
    for _ in range(rounds):
        for key, fn in fns.items():
            fn()  # warm-up
            for _ in range(calls):
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
                fn()
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                times[key].append(time.perf_counter() - start)
    return {key: 1e3 * STATS[stat](seconds) for key, seconds in times.items()}


def build_ours(name: str, mode: str, device: torch.device):
    generator = torch.Generator(device=device).manual_seed(0)
    if name in ("none", "cutout"):
        return METHODS[name](num_classes=NUM_CLASSES, generator=generator)
    beta = {"alpha": 1.0} if "alpha" in inspect.signature(METHODS[name]).parameters else {}  # ResizeMix has none
    return METHODS[name](num_classes=NUM_CLASSES, mode=mode, generator=generator, **beta)


def timm_and_torchvision() -> dict[tuple[str, str, str], object]:
    """timm Mixup (mixup-only and cutmix-only, each mode) and torchvision v2 MixUp/CutMix (batch only)."""
    from timm.data import Mixup as TimmMixup
    from torchvision.transforms import v2

    refs = {}
    for mode in ("batch", "pair", "elem"):
        for name, alphas in (("mixup", (1.0, 0.0)), ("cutmix", (0.0, 1.0))):
            refs[("timm", name, mode)] = TimmMixup(
                mixup_alpha=alphas[0], cutmix_alpha=alphas[1], mode=mode, label_smoothing=0.0, num_classes=NUM_CLASSES
            )
    refs[("torchvision", "mixup", "batch")] = v2.MixUp(alpha=1.0, num_classes=NUM_CLASSES)
    refs[("torchvision", "cutmix", "batch")] = v2.CutMix(alpha=1.0, num_classes=NUM_CLASSES)
    return refs


def kornia_refs() -> dict[tuple[str, str, str], object]:
    """kornia RandomMixUpV2 / RandomCutMixV2 per batch (same_on_batch) and per sample; {} without kornia."""
    try:
        from kornia import augmentation as K
    except ImportError:
        return {}
    cutmix_args = {"data_keys": ["input", "class"]}
    if "use_correct_lambda" in inspect.signature(K.RandomCutMixV2).parameters:  # kornia >= 0.8: λ = kept area
        cutmix_args["use_correct_lambda"] = True
    refs = {}
    for mode in ("batch", "elem"):
        same = mode == "batch"
        refs[("kornia", "mixup", mode)] = K.RandomMixUpV2(data_keys=["input", "class"], same_on_batch=same)
        refs[("kornia", "cutmix", mode)] = K.RandomCutMixV2(**cutmix_args, same_on_batch=same)
    return refs


def bench_shape(shape, device: torch.device, rounds: int, stat: str) -> list[str]:
    """Markdown rows for one batch shape on one device: ours first, then the peers'."""
    images = torch.randn(shape, device=device)
    labels = torch.randint(0, NUM_CLASSES, (shape[0],), device=device)
    scratch = images.clone()  # timm mixes in place: it gets its own copy, so our inputs stay unchanged
    ours = {(name, mode): build_ours(name, mode, device) for name, modes in OURS for mode in modes}
    refs = {**timm_and_torchvision(), **kornia_refs()}
    fns = {("clone", "—"): images.clone}
    fns.update({key: lambda m=m: m(images, labels) for key, m in ours.items()})
    fns.update({(f"{peer} {name}", mode): lambda m=m: m(scratch, labels) for (peer, name, mode), m in refs.items()})
    ms = time_all(fns, device, rounds, stat=stat)
    clone = ms[("clone", "—")]
    rows = []
    for (name, mode), t in ms.items():
        versus = [ratio(ms.get((f"{peer} {name}", mode)), t) for peer in PEERS] if (name, mode) in ours else [""] * 3
        rows.append(f"| {name} | {mode} | {t:.3f} | {t / clone:.1f} | " + " | ".join(versus) + " |")
    return rows


def ratio(theirs: float | None, ours: float) -> str:
    return "—" if theirs is None else f"{theirs / ours:.1f}"


def machine_line(stat: str, rounds: int) -> str:
    """Hardware and library versions, threads and statistic: the header every table is read with."""
    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").exists():
        names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
        cpu = names[0] if names else cpu
    versions = []
    for package in ("torch", "torchvision", "timm", "kornia"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} not installed")
    return (
        f"{cpu}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads; {', '.join(versions)}; "
        f"{stat} of {rounds} rounds × 5 calls"
    )


def parse_shape(text: str) -> tuple[int, int, int, int]:
    parts = text.lower().split("x")
    if len(parts) != 4 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"--shapes wants BxCxHxW, e.g. 256x3x32x32, got {text!r}")
    return tuple(int(p) for p in parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of 5 timed calls per method")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--stat", choices=sorted(STATS), default="mean", help="per-call time reported")
    parser.add_argument("--shapes", type=parse_shape, nargs="+", default=SHAPES, help="batch shapes BxCxHxW")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    print(machine_line(args.stat, args.rounds))
    for device in map(torch.device, devices):
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        for shape in args.shapes:
            print(f"\n### {'×'.join(map(str, shape))} float32 on {name}\n")
            print("| method | mode | ms / batch | × clone | timm ÷ ours | torchvision ÷ ours | kornia ÷ ours |")
            print("|---|---|---|---|---|---|---|")
            print("\n".join(bench_shape(shape, device, args.rounds, args.stat)))


if __name__ == "__main__":
    main()
