"""FMix masks (Harris et al., "FMix: Enhancing Mixed Sample Data Augmentation", arXiv 2002.12047).

A mask is a thresholded low-frequency random image: complex Gaussian noise in Fourier space, each frequency
f scaled by 1 / max(f, 1 / max(H, W))^δ (δ = decay_power; larger δ → smoother, blobbier masks), then
transformed back. The top round((1 − λ)·H·W) pixels by value become the paste mask (taken from the partner),
so the mask area is 1 − λ up to one pixel, and λ is recomputed from it exactly.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from augment.sampling import (
    generator_device,
    num_units,
    pair_partners,
    sample_active,
    sample_lambda,
    share,
)


@functools.lru_cache(maxsize=64)
def _spectrum_scale(height: int, width: int, decay_power: float, device: torch.device) -> Tensor:
    """(H, W) amplitude 1 / max(f, 1 / max(H, W))^δ of the fft2 frequencies (cached: it is the same for
    every call of a training run; never modified in place)."""
    fy = torch.fft.fftfreq(height, device=device)[:, None]
    fx = torch.fft.fftfreq(width, device=device)[None, :]
    return torch.sqrt(fy * fy + fx * fx).clamp_min(1.0 / max(height, width)) ** (-decay_power)


def lowfreq_images(
    n: int, height: int, width: int, *, decay_power: float, generator: torch.Generator | None = None
) -> Tensor:
    """(n, H, W) float32 random images: stationary Gaussian fields with amplitude spectrum ∝ 1 / f^decay_power.

    Complex Gaussian white noise on the full H × W frequency grid, scaled by the amplitude in place, and one
    batched ifft2 for ceil(n / 2) grids. The real and the imaginary part of each result are two independent
    real fields with that spectrum (the amplitude is the same at f and −f, which leaves them uncorrelated),
    so each image costs H·W normal draws, as with a Hermitian half-spectrum, but no c2r transform (which
    copies its input). The overall scale is irrelevant: masks depend only on the pixels' order.
    """
    scale = _spectrum_scale(height, width, float(decay_power), generator_device(generator))
    pairs = (n + 1) // 2
    noise = torch.randn((pairs, height, width), generator=generator, device=scale.device, dtype=torch.complex64)
    fields = torch.view_as_real(torch.fft.ifft2(noise.mul_(scale), out=noise))  # (pairs, H, W, 2): re, im
    return fields.movedim(-1, 1).reshape(2 * pairs, height, width)[:n]


def top_pixels(values: Tensor, counts: Tensor, dtype: torch.dtype = torch.bool) -> Tensor:
    """(n, P) mask in `dtype`, 1/True at exactly counts[i] of the largest values of row i (ties broken
    arbitrarily).

    One topk with the same k for every row: a row that needs k ≤ P // 2 pixels gets P // 2 − k pads of +inf
    (always chosen) and k of −inf (never chosen) appended, so topk(P // 2) of the padded row picks its k
    largest values; a row that needs more selects its P − k smallest (the largest of −values) and is the
    complement. The count is exact whatever the ties, with no per-row sort and no host read. The mask is
    built by one scatter into rows prefilled with the complement flag, in the padded buffer itself when the
    dtypes match (float masks: no bool kernels, which are slow on CPU, and no second large allocation).
    """
    n, pixels = values.shape
    half = pixels // 2
    flip = counts > half
    need = torch.where(flip, pixels - counts, counts)
    padded = values.new_empty(n, pixels + half)
    torch.mul(values, (1 - 2 * flip.to(values.dtype))[:, None], out=padded[:, :pixels])
    pads = torch.arange(half, device=values.device) < (half - need)[:, None]
    padded[:, pixels:].fill_(-torch.inf).masked_fill_(pads, torch.inf)
    chosen = padded.topk(half, dim=1, sorted=False).indices
    mask = padded if dtype == padded.dtype else torch.empty_like(padded, dtype=dtype)  # values no longer needed
    mask.copy_(flip.to(dtype)[:, None])
    mask.scatter_(1, chosen, (~flip).to(dtype)[:, None].expand(n, half))
    return mask[:, :pixels]


def fourier_masks(
    lam: Tensor,
    height: int,
    width: int,
    *,
    decay_power: float = 3.0,
    max_soft: float = 0.0,
    dtype: torch.dtype = torch.bool,
    generator: torch.Generator | None = None,
) -> Tensor:
    """(n, 1, H, W) paste masks for the (n,) λ values: 0/1 in `dtype` when max_soft == 0, else float32 in
    [0, 1].

    Hard masks mark the round((1 − λ)·H·W) largest pixels of each noise image (top_pixels). Soft masks (the
    paper's max_soft) replace the hard edge by a linear ramp over 2·s ranks around the threshold,
    s = floor(H·W·min(max_soft, λ, 1 − λ)); they need every pixel's rank (one sort per image), and the ramp
    is symmetric, so the mask's mean is unchanged.
    """
    n, pixels = lam.shape[0], height * width
    grey = lowfreq_images(n, height, width, decay_power=decay_power, generator=generator).reshape(n, pixels)
    lam = lam.to(grey.device)
    pasted = torch.round((1.0 - lam) * pixels)
    if max_soft == 0.0:
        return top_pixels(grey, pasted.long(), dtype).reshape(n, 1, height, width)
    order = grey.argsort(dim=1, descending=True)
    positions = torch.arange(pixels, device=grey.device).expand(n, pixels)
    ranks = torch.empty_like(order).scatter_(1, order, positions)  # rank 0 = largest value
    pasted = pasted[:, None]
    soft = torch.floor(pixels * torch.minimum(lam, 1.0 - lam).clamp(max=max_soft))[:, None]
    ramp = ((pasted - ranks - 0.5) / (2.0 * soft.clamp_min(1.0)) + 0.5).clamp(0.0, 1.0)
    mask = torch.where(soft > 0, ramp, (ranks < pasted).float())
    return mask.reshape(n, 1, height, width)


def sample_fmix(
    batch_size: int,
    height: int,
    width: int,
    *,
    alpha: float,
    prob: float,
    mode: str,
    decay_power: float = 3.0,
    max_soft: float = 0.0,
    dtype: torch.dtype = torch.bool,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """FMix draws: (partners, paste masks (B, 1, H, W), hard ones in `dtype`; see fourier_masks); unmixed
    samples get an empty mask."""
    partners = pair_partners(batch_size, generator=generator)
    lam = sample_lambda(num_units(batch_size, mode=mode), alpha=alpha, generator=generator)
    active = sample_active(partners, prob=prob, mode=mode, generator=generator)
    options = {"decay_power": decay_power, "max_soft": max_soft, "dtype": dtype, "generator": generator}
    if mode == "batch":  # one mask for the batch, emptied for the samples that are not mixed
        masks = share(fourier_masks(lam, height, width, **options), partners, mode=mode)
        active = active[:, None, None, None]
        return partners, (masks & active) if masks.dtype == torch.bool else masks * active.to(masks.dtype)
    # one draw per sample (a pair uses its smaller index's, whose activity it shares): λ = 1 is an empty mask
    masks = fourier_masks(torch.where(active, lam, 1.0), height, width, **options)
    return partners, share(masks, partners, mode=mode)
