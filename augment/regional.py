"""Cutout and RICAP: mixers that are not a two-image blend (one image with holes; four crops)."""

from __future__ import annotations

from numbers import Integral, Real

import torch
from torch import Tensor

from augment import functional as F
from augment._checks import ArgError, check_alpha, check_mode, check_positive_int
from augment.mix import _Mixer

FILLS = ("zero", "mean")


class Cutout(_Mixer):
    """Cutout (DeVries & Taylor, "Improved Regularization of Convolutional Neural Networks with Cutout",
    arXiv 1708.04552).

    Each sample, with probability `prob`, gets `holes` square-ish holes of side `size`, each centred
    uniformly over the whole image and clipped at the borders (so a hole can be partly outside, as in the
    paper); holes may overlap. Labels are unchanged: targets are one-hot. No pairing and no λ.

    Args:
        num_classes: number of classes.
        size: hole side. An int is in pixels (paper: 16 on CIFAR-10, 8 on CIFAR-100); a float in (0, 1] is a
            fraction of each image side (hole = round(size·H) × round(size·W)).
        holes: number of holes per image (paper: 1).
        fill: "zero" sets hole pixels to 0; on normalised images (how the training loop calls it) that is
            the dataset mean in pixel space, as in the paper. "mean" uses each image's own per-channel mean.
        prob: probability that a sample gets holes at all.
        generator: torch.Generator all draws come from.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        size: int | float = 16,
        holes: int = 1,
        fill: str = "zero",
        prob: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(num_classes, prob=prob, generator=generator)
        valid_int = isinstance(size, Integral) and not isinstance(size, bool) and size >= 1
        valid_fraction = isinstance(size, Real) and not isinstance(size, Integral) and 0.0 < size <= 1.0
        if not (valid_int or valid_fraction):
            raise ArgError("size", f"size must be an int >= 1 (pixels) or a float in (0, 1] (a fraction), got {size!r}")
        if fill not in FILLS:
            raise ArgError("fill", f"fill must be one of {FILLS}, got {fill!r}")
        self.size, self.fill = size, fill
        self.holes = check_positive_int(holes, "holes")

    def hole_size(self, height: int, width: int) -> tuple[int, int]:
        """Hole (h, w) in pixels for an H × W image."""
        if isinstance(self.size, Integral):
            return int(self.size), int(self.size)
        return max(1, round(self.size * height)), max(1, round(self.size * width))

    def _mix(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        b, _, h, w = images.shape
        boxes = F.sample_cutout(
            b, h, w, hole_size=self.hole_size(h, w), holes=self.holes, prob=self.prob, generator=self.generator
        )
        mask = F.union_masks(boxes.to(images.device), h, w)
        return F.fill(images, mask, value=self.fill), F.one_hot_targets(labels, self.num_classes)


class RICAP(_Mixer):
    """RICAP (Takahashi et al., "RICAP: Random Image Cropping and Patching Data Augmentation for Deep CNNs",
    ACML 2018).

    Each output image is four crops stitched at a random corner point (h, w) = (round(H·β_h), round(W·β_w)),
    β ~ Beta(alpha, alpha): top-left h × w, top-right h × (W − w), bottom-left (H − h) × w, bottom-right
    (H − h) × (W − w). Pairing rule: crop q of sample i comes from image π_q(i) for four independent random
    permutations π_q of the batch, at a uniform random position inside that image. The target is the sum of
    the four one-hot labels weighted by crop area (weights sum to 1, equal to the pixel fractions).

    Args:
        num_classes: number of classes.
        alpha: the paper's β, named alpha for uniformity with the other mixers; > 0 (paper: 0.3).
        prob: probability that a batch ("batch") or sample ("elem") is mixed; otherwise the own image stays.
        mode: "batch" (one corner and crop positions for the batch, as in the paper) or "elem" (per sample).
            "pair" is rejected: RICAP mixes four images, not pairs.
        generator: torch.Generator all draws come from.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        alpha: float = 0.3,
        prob: float = 1.0,
        mode: str = "batch",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(num_classes, prob=prob, generator=generator)
        self.alpha = check_alpha(alpha)
        self.mode = check_mode(mode, ("batch", "elem"))

    def _mix(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        b, _, h, w = images.shape
        draws = F.sample_ricap(b, h, w, alpha=self.alpha, prob=self.prob, mode=self.mode, generator=self.generator)
        sources, corner, offsets = (t.to(images.device) for t in draws)
        mixed = F.ricap_stitch(images, sources, corner, offsets)
        targets = F.mix_targets(labels, sources, F.ricap_weights(corner, h, w), self.num_classes)
        return mixed, targets
