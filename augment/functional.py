"""Functional layer: whole-batch, loop-free operations behind every mixer, plus the samplers re-exported.

Conventions: a *partners* tensor (B,) int64 says which sample each one is mixed with; a *paste mask*
(B, 1, H, W), or one that broadcasts to it, marks the pixels a sample takes from its partner (bool, or
float in [0, 1] for soft masks); λ (*lam*, (B,) float) is the fraction of a sample's own image that it
keeps, and its own label's weight.
Shape arguments (batch_size, height, width; images, labels, partners, boxes, masks, λ) are positional and
everything else (alpha, prob, mode, generator, dtype, ...) keyword-only.
Use `sample_*` to draw, then `box_masks` / `paste` / `blend` / `mix_targets` to apply, e.g.::

    partners, boxes = sample_cutmix(B, H, W, alpha=1.0, prob=1.0, mode="elem", generator=g)
    mixed = paste(images, partners, box_masks(boxes, H, W))
    targets = pair_targets(labels, partners, 1 - box_area_fraction(boxes, H, W), num_classes)
"""

from __future__ import annotations

import torch
from torch import Tensor

from augment.fourier import fourier_masks, lowfreq_images, sample_fmix  # noqa: F401
from augment.patches import sample_resizemix, sample_saliencymix  # noqa: F401
from augment.saliency import saliency_peaks, spectral_residual_saliency  # noqa: F401
from augment.sampling import (  # noqa: F401  (re-exported: the public functional API)
    box_area_fraction,
    boxes_around,
    pair_partners,
    place_boxes,
    sample_active,
    sample_boxes,
    sample_cutmix,
    sample_cutmix_units,
    sample_cutout,
    sample_lambda,
    sample_minmax_boxes,
    sample_mixup,
    sample_ricap,
    share,
    unit_index,
)


def box_masks(boxes: Tensor, height: int, width: int, *, dtype: torch.dtype = torch.bool) -> Tensor:
    """(n, 4) xyxy half-open boxes → (n, 1, H, W) masks, 1/True inside the box, in `dtype`.

    The outer product of a row indicator and a column indicator: pixel p lies in [start, stop) exactly when
    |(2p + 1) − (start + stop)| < stop − start, evaluated for all boxes and both axes in a few float32
    broadcast operations (no loop, no indexing; bool kernels are much slower on CPU, so bool comes last).
    """
    bounds = boxes.float()
    start, stop = bounds[:, :2], bounds[:, 2:]  # (n, 2): x then y
    odd = torch.arange(1, 2 * max(height, width), 2, device=boxes.device, dtype=torch.float32)  # 2p + 1
    inside = (odd - (start + stop)[..., None]).abs_().lt_((stop - start)[..., None])  # (n, 2, L), 0/1
    mask = inside[:, None, 1, :height, None] * inside[:, None, 0, None, :width]
    return mask.to(dtype)


def paste(images: Tensor, partners: Tensor, mask: Tensor | float) -> Tensor:
    """New batch (1 − m) · images + m · images[partners] for a mask m that broadcasts over (B, 1, H, W):
    bool, 0/1 or soft float, e.g. (1, 1, H, W) for one region shared by the batch, or a float for one weight.

    A 0/1 mask pastes exactly (sample i shows images[partners[i]] where m = 1 and itself elsewhere).
    Float images use one torch.lerp, which is exact at weights 0 and 1 for finite values, written into the
    gathered partner buffer (one allocation, like a clone). float16/bfloat16 blend in float32 and uint8 blends
    in float32 and rounds half to even; a bool mask on uint8 selects without arithmetic.
    """
    source = images.index_select(0, partners)
    if not isinstance(mask, Tensor):  # one weight: torch.lerp takes it as a number
        weight = mask
    elif mask.dtype == torch.bool and not images.is_floating_point():
        return torch.where(mask, source, images, out=source)
    else:
        weight = mask.to(images.dtype if images.dtype in (torch.float32, torch.float64) else torch.float32)
    if images.dtype in (torch.float32, torch.float64):
        return torch.lerp(images, source, weight, out=source)
    mixed = torch.lerp(images.float(), source.float(), weight)
    if not images.is_floating_point():
        mixed = mixed.round_().clamp_(0, 255)
    return mixed.to(images.dtype)


def resize_weights(starts: Tensor, sizes: Tensor, length: int) -> Tensor:
    """(n, L, L) float32 matrices that resize a length-L axis to sizes[k] and place it at starts[k]: row r (an
    output pixel) is zero outside [start, start + size) and inside holds the weights of the input pixels.

    The weights are those of F.interpolate(mode="bilinear", align_corners=False, antialias=True): output pixel
    i samples the input at c = s·(i + ½), s = L / size, with a triangle filter of radius max(s, 1) (wider when
    shrinking, which is the antialiasing), normalised to sum to 1; when enlarging this is plain bilinear
    interpolation with the borders clamped.
    """
    device = starts.device
    scale = length / sizes.float().clamp_min(1.0)  # (n,)
    index = torch.arange(length, device=device, dtype=torch.float32) - starts.float()[:, None]  # (n, L): i
    inside = (index >= 0) & (index < sizes[:, None])
    centre = scale[:, None] * (index + 0.5)
    pixel = torch.arange(length, device=device, dtype=torch.float32) + 0.5
    distance = (pixel - centre[:, :, None]).abs_().div_(scale.clamp_min(1.0)[:, None, None])
    weights = (1.0 - distance).clamp_min_(0.0).mul_(inside[:, :, None])
    return weights.div_(weights.sum(dim=2, keepdim=True).clamp_min_(torch.finfo(torch.float32).tiny))


def resize_paste(images: Tensor, partners: Tensor, boxes: Tensor) -> Tensor:
    """New batch where sample i shows the whole image images[partners[i]], resized to fit its box (B, 4) xyxy,
    inside that box, and itself elsewhere (ResizeMix's op; an empty box leaves the sample as it is).

    Resizing is separable, one (H, H) and one (W, W) matrix per sample (resize_weights: bilinear, antialiased
    when shrinking), applied by two batched matmuls in float32 (float64 for float64 images), so every sample
    has its own patch size with no loop and no host read. uint8 results are rounded to nearest.
    """
    _, _, h, w = images.shape
    dtype = images.dtype if images.dtype == torch.float64 else torch.float32
    rows = resize_weights(boxes[:, 1], boxes[:, 3] - boxes[:, 1], h).to(dtype)
    cols = resize_weights(boxes[:, 0], boxes[:, 2] - boxes[:, 0], w).to(dtype)
    source = images.index_select(0, partners).to(dtype)
    patches = torch.matmul(torch.matmul(rows[:, None], source), cols.transpose(1, 2)[:, None])
    if not images.is_floating_point():
        patches = patches.round_().clamp_(0, 255)
    return torch.where(box_masks(boxes, h, w), patches.to(images.dtype), images)


def blend(images: Tensor, partners: Tensor, lam: Tensor | float) -> Tensor:
    """Mixup of whole images: lam · images + (1 − lam) · images[partners], lam (B,) the own image's weight,
    or one float for the batch, whose weight 1 − lam is rounded to float32 like a float32 tensor's.

    Rounding as in paste (uint8 is blended in float32 and rounded); lam = 1 returns the own image exactly.
    """
    if isinstance(lam, Tensor):
        return paste(images, partners, (1.0 - lam).reshape(-1, 1, 1, 1))
    return paste(images, partners, torch.tensor(1.0 - lam, dtype=torch.float32).item())


def mix_targets(labels: Tensor, sources: Tensor, weights: Tensor, num_classes: int) -> Tensor:
    """Soft targets (B, num_classes) float32: row i = Σ_s weights[i, s] · one_hot(labels[sources[i, s]]).

    sources/weights are (B, S): S = 1 for one-hot, 2 for pair mixers, 4 for RICAP. Rows sum to Σ_s weights.
    """
    targets = torch.zeros(labels.shape[0], num_classes, dtype=torch.float32, device=labels.device)
    return targets.scatter_add_(1, labels[sources], weights.float())


def one_hot_targets(labels: Tensor, num_classes: int) -> Tensor:
    """(B, num_classes) float32 one-hot rows."""
    own = torch.arange(labels.shape[0], device=labels.device)[:, None]
    return mix_targets(labels, own, torch.ones(own.shape, device=labels.device), num_classes)


def pair_targets(labels: Tensor, partners: Tensor, lam: Tensor | float, num_classes: int) -> Tensor:
    """Targets of a two-image mix: lam · one_hot(own label) + (1 − lam) · one_hot(partner's label).

    lam: (B,) float, (1,) for the whole batch, or a float. Two scatters into zeros: the own class gets
    exactly lam, the partner's 1 − lam (rounded to float32), and where both labels agree the sum is exactly
    1 (true for every float32 lam in [0, 1]), e.g. for a sample paired with itself, whatever lam is.
    """
    targets = torch.zeros(labels.shape[0], num_classes, dtype=torch.float32, device=labels.device)
    own, other = labels[:, None], labels.index_select(0, partners)[:, None]
    if isinstance(lam, Tensor):
        lam = lam.float().reshape(-1, 1).expand(labels.shape[0], 1)
        return targets.scatter_(1, own, lam).scatter_add_(1, other, 1.0 - lam)
    return targets.scatter_(1, own, lam).scatter_(1, other, 1.0 - lam, reduce="add")


def union_masks(boxes: Tensor, height: int, width: int) -> Tensor:
    """(B, K, 4) boxes → (B, 1, H, W) bool mask of their union (Cutout's several holes)."""
    b, k, _ = boxes.shape
    return box_masks(boxes.reshape(b * k, 4), height, width).reshape(b, k, height, width).any(1, keepdim=True)


def fill(images: Tensor, mask: Tensor, *, value: str) -> Tensor:
    """New batch with masked pixels set to 0 ("zero") or to the image's per-channel mean ("mean";
    rounded for uint8)."""
    if value == "zero":
        return images.masked_fill(mask, 0)
    mean = images.float().mean(dim=(2, 3), keepdim=True)
    if not images.is_floating_point():
        mean = mean.round()
    return torch.where(mask, mean.to(images.dtype), images)


def ricap_stitch(images: Tensor, sources: Tensor, corner: Tensor, offsets: Tensor) -> Tensor:
    """Stitch four crops per sample (see sample_ricap for the layout) with one gather per channel.

    Inside quadrant q of sample b, output pixel (r, c) reads source image sources[b, q] at (r, c) shifted
    by a constant (the crop offset minus the quadrant's corner). So the flat source index of output row r
    is, left of the corner, the start of its left quadrant's source row plus c, and right of it the right
    quadrant's: a (B, H) table per side, one torch.where to (B, H, W) and one torch.take per channel. (A
    single take over an index of the whole (B, C, H, W) batch spends more time building the index than
    gathering.)
    """
    b, c, h, w = images.shape
    device = images.device
    rows, cols, quads = (torch.arange(n, device=device) for n in (h, w, 4))
    shift_y = offsets[:, :, 0] - (quads // 2) * corner[:, 0:1]  # (B, 4) source row − output row
    shift_x = offsets[:, :, 1] - (quads % 2) * corner[:, 1:2]
    base = sources * (c * h * w) + shift_y * w + shift_x  # flat index of quadrant q's source at (0, 0)
    left = 2 * (rows >= corner[:, 0:1]).long()  # (B, H): the quadrant left of the corner in row r
    row_start = torch.stack([base.gather(1, left), base.gather(1, left + 1)]) + rows * w  # (2, B, H)
    right = (cols >= corner[:, 1:2])[:, None, :]  # (B, 1, W)
    flat = torch.where(right, row_start[1, :, :, None], row_start[0, :, :, None]) + cols  # (B, H, W), channel 0
    mixed = torch.empty_like(images)
    for channel in range(c):
        torch.take(images, flat, out=mixed[:, channel])
        flat += h * w
    return mixed


def ricap_weights(corner: Tensor, height: int, width: int) -> Tensor:
    """(B, 4) area fractions of the four quadrants: the target weight of each crop's label."""
    h, w = corner[:, 0].float(), corner[:, 1].float()
    areas = torch.stack([h * w, h * (width - w), (height - h) * w, (height - h) * (width - w)], dim=1)
    return areas / float(height * width)
