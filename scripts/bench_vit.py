"""A ViT's training step in each numeric format and attention kernel, interleaved so that other load cancels out.

    .venv/bin/python scripts/bench_vit.py                        # vit_tiny, 28 px, patch 4, batch 128
    .venv/bin/python scripts/bench_vit.py --model vit_small --batch-size 64 --repeats 5

Variants: fp32 and bf16 autocast, each with timm's fused attention (F.scaled_dot_product_attention) off or on,
and with the fused path pinned to each torch.nn.attention.sdpa_kernel backend the device runs. The step is
recipes.engine's own (forward, soft-target loss, backward) with the preset's optimiser (configs/optim/adamw.yaml).
Every repeat runs each variant in turn, so a busy machine slows them alike; the table gives the median step time
per variant and its ratio to fp32 with timm's default attention. trainer.precision=auto follows what this shows
(recipes/precision.py; docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from models import build_model
from recipes.engine import autocast, soft_target_loss

CPU_BACKENDS = (SDPBackend.MATH, SDPBackend.FLASH_ATTENTION)


def set_fused_attn(model: torch.nn.Module, fused: bool) -> None:
    """timm reads `fused_attn` per Attention module at build time; flip it on every one."""
    for module in model.modules():
        if hasattr(module, "fused_attn"):
            module.fused_attn = fused


def variants(device: torch.device) -> list[tuple[str, torch.dtype | None, bool, SDPBackend | None]]:
    """(label, autocast dtype, fused attention, pinned sdpa backend or None for torch's choice)."""
    backends = CPU_BACKENDS if device.type == "cpu" else (*CPU_BACKENDS, SDPBackend.EFFICIENT_ATTENTION)
    out = []
    for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        out.append((f"{name} timm attention (fused off)", dtype, False, None))
        out.append((f"{name} sdpa (torch's choice)", dtype, True, None))
        out.extend((f"{name} sdpa {b.name}", dtype, True, b) for b in backends)
    return out


def make_step(model, optimizer, images, targets, device, dtype, fused, backend):
    def step() -> None:
        set_fused_attn(model, fused)
        context = sdpa_kernel([backend]) if backend is not None else contextlib.nullcontext()
        with context, autocast(device, dtype):
            loss = soft_target_loss(model(images), targets, 0.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="vit_tiny", choices=["vit_tiny", "vit_small"])
    parser.add_argument("--img-size", type=int, default=28)
    parser.add_argument("--in-chans", type=int, default=1)
    parser.add_argument("--patch-size", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model(
        args.model, num_classes=10, in_chans=args.in_chans, img_size=args.img_size, patch_size=args.patch_size
    ).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    images = torch.randn(args.batch_size, args.in_chans, args.img_size, args.img_size, device=device)
    targets = F.one_hot(torch.randint(0, 10, (args.batch_size,), device=device), 10).float()
    runs = {label: make_step(model, optimizer, images, targets, device, *rest) for label, *rest in variants(device)}
    for step in runs.values():  # warm-up: one untimed step each
        step()
    times: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(args.repeats):
        for label, step in runs.items():
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            for _ in range(args.steps):
                step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times[label].append((time.perf_counter() - start) / args.steps)
    base = statistics.median(next(iter(times.values())))
    print(f"{args.model} patch {args.patch_size}, {args.img_size} px, batch {args.batch_size}, AdamW; {device}, ")
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"medians over {args.repeats} repeats x {args.steps} steps, variants interleaved\n")
    print("| variant | ms/step | img/s | step time vs fp32 timm attention |")
    print("|---|---:|---:|---:|")
    for label, values in times.items():
        median = statistics.median(values)
        print(f"| {label} | {median * 1e3:.0f} | {args.batch_size / median:.0f} | {median / base:.2f}x |")


if __name__ == "__main__":
    main()
