"""Draws of ResizeMix and SaliencyMix: where a patch from the partner image goes, and how big it is.

Both return (partners, boxes): partners (B,) by the pairing rule (augment.sampling), boxes (B, 4) int64 xyxy
half-open, the region of each sample that is replaced by its partner's patch (empty where the sample is not mixed).
ResizeMix's box holds the whole partner image resized (augment.functional.resize_paste); SaliencyMix's holds the
partner's own pixels of that box (augment.functional.paste).
"""

from __future__ import annotations

import torch
from torch import Tensor

from augment.saliency import saliency_peaks
from augment.sampling import (
    _size_wh,
    boxes_around,
    generator_device,
    num_units,
    pair_partners,
    sample_active,
    sample_lambda,
    share,
)


def sample_resizemix(
    batch_size: int,
    height: int,
    width: int,
    *,
    scale: tuple[float, float],
    prob: float,
    mode: str,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """ResizeMix draws: (partners, boxes), on the generator's device.

    Per batch / pair / sample (`mode`): a side ratio τ ~ U(scale[0], scale[1]), the patch τ·W × τ·H (rounded to
    whole pixels, the partner's aspect ratio kept), and its top-left corner uniform over the positions where the
    whole patch fits inside the image (it is never clipped: the patch is all of the partner).
    """
    device = generator_device(generator)
    partners = pair_partners(batch_size, generator=generator)
    n = num_units(batch_size, mode=mode)
    extent = _size_wh(height, width, device)[:2]
    tau = scale[0] + (scale[1] - scale[0]) * torch.rand(n, generator=generator, device=device)
    sizes = torch.round(tau[:, None] * extent)  # (n, 2): w, h
    u = torch.rand((n, 2), generator=generator, device=device)
    start = torch.minimum(torch.floor(u * (extent - sizes + 1.0)), extent - sizes)
    boxes = torch.cat([start, start + sizes], dim=1).long()
    active = sample_active(partners, prob=prob, mode=mode, generator=generator)
    return partners, share(boxes, partners, mode=mode) * active[:, None]


def sample_saliencymix(
    images: Tensor, *, alpha: float, prob: float, mode: str, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """SaliencyMix draws: (partners on the generator's device, boxes on the images' device).

    Per batch / pair / sample (`mode`): λ ~ Beta(alpha, alpha) sets the box sides √(1 − λ)·(W, H), rounded to
    whole pixels, as in CutMix. Each sample's box is centred on the saliency peak of its partner
    (augment.saliency: spectral residual) and clipped to the image, so it always contains that peak. In pair mode
    both members share the box size, each centred on the other's peak.
    """
    b, _, height, width = images.shape
    partners = pair_partners(b, generator=generator)
    lam = sample_lambda(num_units(b, mode=mode), alpha=alpha, generator=generator)
    active = sample_active(partners, prob=prob, mode=mode, generator=generator)
    ratio = torch.sqrt((1.0 - lam).clamp_min(0.0))
    sizes = torch.round(ratio[:, None] * _size_wh(height, width, lam.device)[:2])
    sizes = (share(sizes, partners, mode=mode) * active[:, None]).to(images.device)
    peaks = saliency_peaks(images).index_select(0, partners.to(images.device))
    return partners, boxes_around(peaks + 0.5, sizes, height, width)
