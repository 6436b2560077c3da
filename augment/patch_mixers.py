"""ResizeMix and SaliencyMix: two-image mixers whose patch is chosen from the partner image itself."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

import torch
from torch import Tensor

from augment import functional as F
from augment._checks import ArgError, check_mode
from augment.mix import _Mixer, _PairMixer


def check_scale(scale: Sequence[float]) -> tuple[float, float]:
    """ResizeMix's (low, high) range of the side ratio τ: two numbers with 0 <= low <= high <= 1."""
    valid = isinstance(scale, Sequence) and not isinstance(scale, str) and len(scale) == 2
    valid = valid and all(isinstance(v, Real) and not isinstance(v, bool) for v in scale)
    if not valid or not 0.0 <= scale[0] <= scale[1] <= 1.0:
        raise ArgError("scale", f"scale must be two numbers (low, high) with 0 <= low <= high <= 1, got {scale!r}")
    return float(scale[0]), float(scale[1])


class ResizeMix(_Mixer):
    """ResizeMix (Qin et al., "ResizeMix: Mixing Data with Preserved Object Information and True Labels",
    arXiv 2012.11101, 2020).

    Sample i receives its partner j whole, resized (bilinear, antialiased where it shrinks) to a τ·W × τ·H patch
    (rounded to whole pixels), τ ~ U(scale), pasted at a uniform random position where it fits entirely. Pairing
    rule: random perfect matching, odd one out unmixed. The partner's label weight is the pasted area, so the own
    weight λ = 1 − τ_h·τ_w (the pixel fraction kept). There is no Beta draw: the method takes no alpha.

    Args:
        num_classes: number of classes.
        scale: (low, high) range of the side ratio τ, 0 <= low <= high <= 1 (paper: (0.1, 0.8)).
        prob: probability that a batch / pair / sample (per `mode`) is mixed at all.
        mode: "batch" (one patch size and position for the batch, as in the paper), "pair", or "elem".
        generator: torch.Generator all draws come from.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        scale: Sequence[float] = (0.1, 0.8),
        prob: float = 1.0,
        mode: str = "batch",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(num_classes, prob=prob, generator=generator)
        self.scale = check_scale(scale)
        self.mode = check_mode(mode)

    def _mix(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        b, _, h, w = images.shape
        draws = F.sample_resizemix(b, h, w, scale=self.scale, prob=self.prob, mode=self.mode, generator=self.generator)
        partners, boxes = (t.to(images.device) for t in draws)
        lam = 1.0 - F.box_area_fraction(boxes, h, w)
        return F.resize_paste(images, partners, boxes), F.pair_targets(labels, partners, lam, self.num_classes)


class SaliencyMix(_PairMixer):
    """SaliencyMix (Uddin et al., "SaliencyMix: A Saliency Guided Data Augmentation Strategy for Better
    Regularization", ICLR 2021).

    Like CutMix, sample i receives the pixels of its partner j in a box at the same place, but the box is centred
    on the peak of j's saliency map (spectral residual, as the paper's OpenCV detector: augment.saliency) instead
    of at a random point, and clipped to the image. λ ~ Beta(alpha, alpha) gives the box side ratios √(1 − λ)
    (rounded to whole pixels); the own label's weight λ is then recomputed as the fraction of pixels kept.
    Pairing rule: random perfect matching, odd one out unmixed.

    Args:
        num_classes: number of classes.
        alpha: Beta concentration, > 0 (the paper uses 1.0).
        prob: probability that a batch / pair / sample (per `mode`) is mixed at all (paper: 0.5 on CIFAR).
        mode: "batch" (one λ, so one box size, for the batch), "pair" (one per pair) or "elem" (one per sample).
            The box is always centred on each sample's own partner's peak (the paper's code takes one box, from
            the first partner's peak, for the whole batch; the paper's rule is per image).
        generator: torch.Generator all draws come from.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        alpha: float = 1.0,
        prob: float = 1.0,
        mode: str = "batch",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(num_classes, alpha=alpha, prob=prob, mode=mode, generator=generator)

    def _mix(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        _, _, h, w = images.shape
        partners, boxes = F.sample_saliencymix(
            images, alpha=self.alpha, prob=self.prob, mode=self.mode, generator=self.generator
        )
        partners = partners.to(images.device)
        lam = 1.0 - F.box_area_fraction(boxes, h, w)
        mask_dtype = images.dtype if images.is_floating_point() else torch.bool
        mixed = F.paste(images, partners, F.box_masks(boxes, h, w, dtype=mask_dtype))
        return mixed, F.pair_targets(labels, partners, lam, self.num_classes)
