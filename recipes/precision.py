"""The numeric format of a step: bf16 autocast and channels_last where the hardware computes bf16 natively.

`trainer.precision=auto` and `trainer.channels_last=auto` resolve here. bf16 autocast pays off only where the
matrix units do bf16 natively: CUDA GPUs that support it, and CPUs with AVX512-BF16 or AMX tiles. Elsewhere a CPU
emulates bf16 and the step is much slower, so both stay off there and the step runs in fp32 NCHW. channels_last
alone stays an explicit opt-in on such a CPU: a known torch bug with channels_last on narrow convolutions makes
it unsafe for the default model. The measurements and the bug: docs/benchmarks.md ("CPU numeric formats").
On a CPU, timm's attention also runs unfused (`cpu_attention`; measured in docs/benchmarks.md).
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class Precision:
    """The resolved format of a step, with the reason it was chosen (logged once per run)."""

    bf16: bool
    channels_last: bool
    reason: str

    def describe(self) -> str:
        fmt = ("bf16 autocast" if self.bf16 else "fp32") + (" + channels_last" if self.channels_last else ", NCHW")
        return f"{fmt} ({self.reason})"


def device_name(device: torch.device) -> str:
    """What a run ran on, for its summary: the GPU's name, or the CPU's model name and its core count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        model = names[0] if names else model
    return f"{model}, {os.cpu_count()} cores (CPU: {torch.backends.cpu.get_cpu_capability()})"


def native_bf16(device: torch.device) -> tuple[bool, str]:
    """Whether `device` computes bf16 natively, and why (asked of torch, not read from /proc)."""
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return True, f"{torch.cuda.get_device_name(device)} computes bf16 natively"
        return False, f"{torch.cuda.get_device_name(device)} has no native bf16"
    if device.type != "cpu":
        return False, f"no bf16 fast path known for device type {device.type!r}"
    features = [
        name
        for name, probe in (("AVX512-BF16", "_is_avx512_bf16_supported"), ("AMX", "_is_amx_tile_supported"))
        if getattr(torch.cpu, probe, lambda: False)()
    ]
    if features:
        return True, f"this CPU computes bf16 natively ({' and '.join(features)})"
    return False, "this CPU has no native bf16: neither AVX512-BF16 nor AMX, so bf16 would be emulated and slow"


def resolve_precision(precision: str, channels_last: str | bool, device: torch.device) -> Precision:
    """`trainer.precision` (auto | fp32 | bf16) and `trainer.channels_last` (auto | true | false) for `device`."""
    native, why = native_bf16(device)
    bf16 = native if precision == "auto" else precision == "bf16"
    cl = native if channels_last == "auto" else bool(channels_last)
    if precision == "auto" or channels_last == "auto":
        reason = f"auto: {why}"
    else:
        reason = "as set by trainer.precision and trainer.channels_last"
    return Precision(bf16=bf16, channels_last=cl, reason=reason)


def cpu_attention(model: torch.nn.Module, device: torch.device) -> int:
    """On a CPU, timm's attention modules compute softmax(QK^T / sqrt(d)) V with explicit matmuls instead of
    F.scaled_dot_product_attention: the same mathematics, and vit_tiny's bf16 training step runs 1.66x faster
    that way on this project's CPU (fp32: no difference; scripts/bench_vit.py, docs/benchmarks.md). On a GPU the
    fused kernels stay; so does whatever TIMM_FUSED_ATTN asks. Returns how many modules were switched."""
    if device.type != "cpu" or "TIMM_FUSED_ATTN" in os.environ:
        return 0
    switched = [module for module in model.modules() if getattr(module, "fused_attn", False) is True]
    for module in switched:
        module.fused_attn = False
    return len(switched)
