"""FMix masks (Harris et al., "FMix: Enhancing Mixed Sample Data Augmentation", arXiv 2002.12047).

A mask is a thresholded low-frequency random image: complex Gaussian noise in Fourier space, each frequency
f scaled by 1 / max(f, 1 / max(H, W))^δ (δ = decay_power; larger δ → smoother, blobbier masks), then
transformed back. The pixels are ranked by value and the top round((1 − λ)·H·W) become the paste mask
(taken from the partner), so the mask area is 1 − λ up to one pixel, and λ is recomputed from it exactly.
"""

from __future__ import annotations

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


def lowfreq_images(
    n: int, height: int, width: int, decay_power: float, generator: torch.Generator | None = None
) -> Tensor:
    """(n, H, W) float32 random images with spectrum amplitude ∝ 1 / f^decay_power."""
    device = generator_device(generator)
    fy = torch.fft.fftfreq(height, device=device)[:, None]
    fx = torch.fft.rfftfreq(width, device=device)[None, :]
    freq = torch.sqrt(fy * fy + fx * fx).clamp_min(1.0 / max(height, width))
    scale = freq ** (-decay_power)
    noise = torch.randn((2, n, height, fx.shape[1]), generator=generator, device=device)
    spectrum = torch.complex(noise[0] * scale, noise[1] * scale)
    return torch.fft.irfft2(spectrum, s=(height, width))


def fourier_masks(
    lam: Tensor,
    height: int,
    width: int,
    decay_power: float = 3.0,
    max_soft: float = 0.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """(n, 1, H, W) paste masks for the (n,) λ values: bool when max_soft == 0, else float in [0, 1].

    Soft masks (the paper's max_soft) replace the hard edge by a linear ramp over 2·s ranks around the
    threshold, s = floor(H·W·min(max_soft, λ, 1 − λ)); the ramp is symmetric, so the mask's mean is unchanged.
    """
    n, pixels = lam.shape[0], height * width
    grey = lowfreq_images(n, height, width, decay_power, generator).reshape(n, pixels)
    order = grey.argsort(dim=1, descending=True)
    positions = torch.arange(pixels, device=grey.device).expand(n, pixels)
    ranks = torch.empty_like(order).scatter_(1, order, positions)  # rank 0 = largest value
    lam = lam.to(grey.device)
    pasted = torch.round((1.0 - lam) * pixels)[:, None]
    if max_soft == 0.0:
        return (ranks < pasted).reshape(n, 1, height, width)
    soft = torch.floor(pixels * torch.minimum(lam, 1.0 - lam).clamp(max=max_soft))[:, None]
    ramp = ((pasted - ranks - 0.5) / (2.0 * soft.clamp_min(1.0)) + 0.5).clamp(0.0, 1.0)
    mask = torch.where(soft > 0, ramp, (ranks < pasted).float())
    return mask.reshape(n, 1, height, width)


def sample_fmix(
    batch_size: int,
    height: int,
    width: int,
    alpha: float,
    prob: float,
    mode: str,
    decay_power: float = 3.0,
    max_soft: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """FMix draws: (partners, paste masks (B, 1, H, W)); unmixed samples get an empty mask."""
    partners = pair_partners(batch_size, generator=generator)
    lam = sample_lambda(num_units(batch_size, mode=mode), alpha=alpha, generator=generator)
    masks = share(fourier_masks(lam, height, width, decay_power, max_soft, generator), partners, mode=mode)
    active = sample_active(partners, prob=prob, mode=mode, generator=generator)[:, None, None, None]
    return partners, (masks & active) if masks.dtype == torch.bool else masks * active
