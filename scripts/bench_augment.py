"""Time every augment mixer per batch against a plain clone, timm's Mixup and torchvision's v2 CutMix/MixUp.

    .venv/bin/python scripts/bench_augment.py                 # CPU, and CUDA when present
    .venv/bin/python scripts/bench_augment.py --device cpu --threads 1 --rounds 10
    .venv/bin/python scripts/bench_augment.py --device cpu --threads 1 --rounds 10 --stat median

For each batch shape (float32) and device it prints a Markdown table: best (with --stat median: median)
milliseconds per batch (see time_all), that time divided by `images.clone()` of the same batch, and the
speed-up over timm's Mixup in the same mode (timm time ÷ ours) or, for batch mode, over torchvision. All
timings come from the same run, so the ratios compare like with like. timm works in place on its input;
ours returns a new tensor (the clone column shows what one new tensor costs).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment import METHODS  # noqa: E402

SHAPES = [(256, 3, 32, 32), (128, 3, 224, 224)]
NUM_CLASSES = 100
OURS = [
    ("none", ["batch"]),
    ("cutout", ["elem"]),
    ("mixup", ["batch", "pair", "elem"]),
    ("cutmix", ["batch", "pair", "elem"]),
    ("fmix", ["batch", "pair", "elem"]),
    ("ricap", ["batch", "elem"]),
]


def time_all(fns: dict, device: torch.device, rounds: int, calls: int = 5, stat: str = "best") -> dict:
    """Best (or median) wall time in milliseconds of one call of each callable.

    Each round times `calls` back-to-back calls of every callable in turn (warm caches within a block), so
    a burst of load from other processes over the run hits all of them alike; the minimum over all calls
    is the estimate least disturbed by such bursts. The median shows the typical call where the cost
    depends on the draw (e.g. CutMix's box area, which the minimum picks small). CUDA is synchronised
    around each call.
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
    reduce = min if stat == "best" else statistics.median
    return {key: 1e3 * reduce(seconds) for key, seconds in times.items()}


def build_ours(name: str, mode: str, device: torch.device):
    generator = torch.Generator(device=device).manual_seed(0)
    if name in ("none", "cutout"):
        return METHODS[name](num_classes=NUM_CLASSES, generator=generator)
    return METHODS[name](num_classes=NUM_CLASSES, alpha=1.0, mode=mode, generator=generator)


def references() -> dict[tuple[str, str], object]:
    """timm Mixup (mixup-only and cutmix-only, each mode) and torchvision v2 MixUp/CutMix (batch only)."""
    from timm.data import Mixup as TimmMixup
    from torchvision.transforms import v2

    refs = {}
    for mode in ("batch", "pair", "elem"):
        for name, alphas in (("mixup", (1.0, 0.0)), ("cutmix", (0.0, 1.0))):
            refs[("timm " + name, mode)] = TimmMixup(
                mixup_alpha=alphas[0], cutmix_alpha=alphas[1], mode=mode, label_smoothing=0.0, num_classes=NUM_CLASSES
            )
    refs[("torchvision mixup", "batch")] = v2.MixUp(alpha=1.0, num_classes=NUM_CLASSES)
    refs[("torchvision cutmix", "batch")] = v2.CutMix(alpha=1.0, num_classes=NUM_CLASSES)
    return refs


def bench_shape(shape, device: torch.device, rounds: int, stat: str = "best") -> list[str]:
    """Markdown rows for one batch shape on one device."""
    images = torch.randn(shape, device=device)
    labels = torch.randint(0, NUM_CLASSES, (shape[0],), device=device)
    scratch = images.clone()  # timm mixes in place: it gets its own copy, so our inputs stay unchanged
    ours = {(name, mode): build_ours(name, mode, device) for name, modes in OURS for mode in modes}
    fns = {("clone", "—"): images.clone}
    fns.update({key: lambda m=m: m(images, labels) for key, m in ours.items()})
    fns.update({key: lambda m=m: m(scratch, labels) for key, m in references().items()})
    ms = time_all(fns, device, rounds, stat=stat)
    clone = ms[("clone", "—")]
    rows = []
    for (name, mode), t in ms.items():
        versus = speedups(name, mode, t, ms) if (name, mode) in ours else ""
        rows.append(f"| {name} | {mode} | {t:.3f} | {t / clone:.1f} | {versus} |")
    return rows


def speedups(name: str, mode: str, ours: float, refs: dict) -> str:
    parts = [
        f"{refs[(ref + ' ' + name, mode)] / ours:.1f}× vs {ref}"
        for ref in ("timm", "torchvision")
        if (ref + " " + name, mode) in refs
    ]
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of 5 timed calls per method")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--stat", choices=["best", "median"], default="best", help="per-call time reported")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} CPU threads, rounds={args.rounds} × 5 calls, {args.stat} call"
    )
    for device in map(torch.device, devices):
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        for shape in SHAPES:
            print(f"\n### {'×'.join(map(str, shape))} float32 on {name}\n")
            print("| method | mode | ms / batch | × clone | speed-up (their time ÷ ours) |")
            print("|---|---|---|---|---|")
            print("\n".join(bench_shape(shape, device, args.rounds, args.stat)))


if __name__ == "__main__":
    main()
