"""Batch-mode CutMix and Mixup draws read to the host: the fast path for a CPU generator and CPU images.

With mode="batch" the batch shares one λ and one box, a handful of numbers. The general path keeps them in
tensors on the generator's device, because reading a CUDA generator's draws would stall the GPU; that costs
some 25 tiny tensor operations of a few microseconds each, more than the mixing itself for 32 px images on
a CPU. When the generator and the images are both on the CPU there is nothing to stall, so the functions
here draw the same random numbers from the same generator in the same order as augment.sampling, read them
as Python floats and do the arithmetic on the host; CutMix then pastes its box by slicing (paste_box).

Agreement with the general path (tested): same partners, same mixed-or-not decision, λ equal to float32
rounding (the tensor path computes log/expm1/cos/sqrt in float32, not all correctly rounded; the host in
double). A box edge can therefore differ by one pixel when a value falls within float32 rounding of a
pixel boundary: in 10^6 draws, 0–2 boxes at 32 px and 14–26 at 224 px. Given the same box, pixels and
targets are identical (the target weight repeats box_area_fraction's float32 arithmetic).
"""

from __future__ import annotations

import math
import struct

import torch
from torch import Tensor

from augment.sampling import pair_partners, sample_lambda, sample_minmax_boxes

Box = tuple[int, int, int, int]


def on_host(generator: torch.Generator, images: Tensor) -> bool:
    """Whether the host path may be used: generator and images on the CPU, so no GPU can be stalled."""
    return generator.device.type == "cpu" and images.device.type == "cpu"


def float32(value: float) -> float:
    """value rounded to the nearest float32 (half to even). For +, −, × and ÷ of float32 numbers,
    computing in double and rounding once gives exactly the correctly rounded float32 result."""
    return struct.unpack("f", struct.pack("f", value))[0]


def _ulrich(u: float, v: float, alpha: float) -> float:
    """sample_lambda's transform for alpha > 1/2 of its two uniforms u, v, in double, rounded to float32."""
    log_u = math.log(u) if u > 0.0 else -math.inf  # torch.rand may return exactly 0
    radius = math.sqrt(-math.expm1(log_u * (2.0 / (2.0 * alpha - 1.0))))
    return float32(0.5 + 0.5 * radius * math.cos(2.0 * math.pi * v))


def draw_lambda(alpha: float, generator: torch.Generator) -> float:
    """One λ ~ Beta(alpha, alpha) from the draws sample_lambda(1, alpha=alpha, generator=generator) makes, as a float32
    value; alpha ≤ 1/2 (the Gamma rejection sampler) runs sample_lambda itself."""
    if alpha <= 0.5:
        return sample_lambda(1, alpha=alpha, generator=generator).item()
    u, v = torch.rand(2, generator=generator).tolist()
    return _ulrich(u, v, alpha)


def draw_active(prob: float, generator: torch.Generator) -> bool:
    """Whether the batch is mixed: the one draw sample_active makes in mode="batch" (none when prob = 1)."""
    return prob >= 1.0 or torch.rand(1, generator=generator).item() < float32(prob)


def _place(size: int, extent: int, u: float) -> tuple[int, int]:
    """place_boxes along one axis: the clipped [start, stop) of a box of `size` pixels, centre u · extent."""
    start = math.floor(u * extent - 0.5 * size + 0.5)
    return min(max(start, 0), extent), min(max(start + size, 0), extent)


def box_from(lam: float, u_x: float, u_y: float, height: int, width: int) -> Box:
    """The (x1, y1, x2, y2) box sample_boxes makes from λ and the centre's uniforms (u_x, u_y)."""
    ratio = math.sqrt(max(1.0 - lam, 0.0))
    size_w, size_h = round(ratio * width), round(ratio * height)  # half to even, like torch.round
    (x1, x2), (y1, y2) = _place(size_w, width, u_x), _place(size_h, height, u_y)
    return x1, y1, x2, y2


def draw_box(
    height: int,
    width: int,
    alpha: float,
    generator: torch.Generator,
    min_ratio: float | None = None,
    max_ratio: float | None = None,
) -> Box:
    """The (x1, y1, x2, y2) box sample_cutmix_units(…, mode="batch") draws, before the prob draw."""
    if min_ratio is not None:  # a rare setting: its draws and float32 steps run as tensors
        boxes = sample_minmax_boxes(1, height, width, min_ratio=min_ratio, max_ratio=max_ratio, generator=generator)
        return tuple(boxes[0].tolist())
    if alpha <= 0.5:
        lam = sample_lambda(1, alpha=alpha, generator=generator).item()
        u_x, u_y = torch.rand(2, generator=generator).tolist()
    else:  # λ's two uniforms and the centre's in one call: a CPU generator gives the same four numbers
        u, v, u_x, u_y = torch.rand(4, generator=generator).tolist()
        lam = _ulrich(u, v, alpha)
    return box_from(lam, u_x, u_y, height, width)


def sample_cutmix_batch(
    batch_size: int,
    height: int,
    width: int,
    alpha: float,
    prob: float,
    generator: torch.Generator,
    min_ratio: float | None = None,
    max_ratio: float | None = None,
) -> tuple[Tensor, Box, float]:
    """(partners, box, lam): sample_cutmix_units(…, mode="batch") on the host, box empty when the batch is
    not mixed, lam = the kept fraction 1 − box area / (H·W), rounded as box_area_fraction's float32."""
    partners = pair_partners(batch_size, generator=generator)
    x1, y1, x2, y2 = draw_box(height, width, alpha, generator, min_ratio, max_ratio)
    if not draw_active(prob, generator):
        x1, y1, x2, y2 = 0, 0, 0, 0
    lam = float32(1.0 - float32((x2 - x1) * (y2 - y1) / (height * width)))
    return partners, (x1, y1, x2, y2), lam


def sample_mixup_batch(batch_size: int, alpha: float, prob: float, generator: torch.Generator) -> tuple[Tensor, float]:
    """(partners, lam): sample_mixup(…, mode="batch") on the host; lam = 1 when the batch is not mixed."""
    partners = pair_partners(batch_size, generator=generator)
    lam = draw_lambda(alpha, generator)
    return partners, lam if draw_active(prob, generator) else 1.0
