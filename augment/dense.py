"""CutMix for dense tasks: semantic segmentation (per-pixel labels) and object detection (boxes).

Both use the same draws as the classification CutMix (`sample_cutmix`: pairing by a random perfect
matching, box from λ ~ Beta(alpha, alpha) with a uniform centre, clipped): sample i receives the patch
`patches[i]` of its partner j at the same position.

Boxes are plain tensors: per image an (n_i, 4) float tensor in pixel units, xyxy order, where pixel column
c spans [c, c + 1) (so a box (0, 0, W, H) is the whole image), and an (n_i,) int64 label tensor; lists of
those, one entry per image.
"""

from __future__ import annotations

import torch
from torch import Tensor

from augment import functional as F
from augment._checks import check_alpha, check_generator, check_images, check_mode, check_prob
from augment._streams import fold_worker_seed, private_generator


def visible_part(boxes: Tensor, patches: Tensor) -> tuple[Tensor, Tensor]:
    """What remains of (n, 4) xyxy boxes when (n, 4) patches are pasted over them.

    Returns (bounding box of the visible part, visible area / box area). The visible part of a box minus a
    rectangle can be L- or ring-shaped; its bounding box shrinks only when the patch spans the box's whole
    width (cutting from the top or bottom) or whole height (from the left or right). Fully covered boxes
    come back unchanged with fraction 0; zero-area boxes get fraction 0.
    """
    x1, y1, x2, y2 = boxes.unbind(1)
    px1, py1, px2, py2 = patches.unbind(1)
    spans_x = (px1 <= x1) & (px2 >= x2)
    spans_y = (py1 <= y1) & (py2 >= y2)
    new_y1 = torch.where(spans_x & (py1 <= y1) & (py2 > y1), torch.minimum(py2, y2), y1)
    new_y2 = torch.where(spans_x & (py1 < y2) & (py2 >= y2), torch.maximum(py1, y1), y2)
    new_x1 = torch.where(spans_y & (px1 <= x1) & (px2 > x1), torch.minimum(px2, x2), x1)
    new_x2 = torch.where(spans_y & (px1 < x2) & (px2 >= x2), torch.maximum(px1, x1), x2)
    area = _area(boxes)
    covered = _area(_intersection(boxes, patches))
    fraction = torch.where(area > 0, (area - covered) / area.clamp_min(1e-12), 0.0)
    visible = torch.stack([new_x1, new_y1, new_x2, new_y2], dim=1)
    return torch.where((fraction > 0)[:, None], visible, boxes), fraction


def clip_to_patch(boxes: Tensor, patches: Tensor) -> tuple[Tensor, Tensor]:
    """(n, 4) boxes clipped to (n, 4) patches: (the intersection box, its area / the box's area)."""
    clipped = _intersection(boxes, patches)
    area = _area(boxes)
    fraction = torch.where(area > 0, _area(clipped) / area.clamp_min(1e-12), 0.0)
    return clipped, fraction


def _intersection(a: Tensor, b: Tensor) -> Tensor:
    low = torch.maximum(a[:, :2], b[:, :2])
    high = torch.maximum(torch.minimum(a[:, 2:], b[:, 2:]), low)  # empty intersections get zero size
    return torch.cat([low, high], dim=1)


def _area(boxes: Tensor) -> Tensor:
    return (boxes[:, 2] - boxes[:, 0]).clamp_min(0) * (boxes[:, 3] - boxes[:, 1]).clamp_min(0)


class _DenseCutMix:
    """Arguments shared by the dense variants; `_draw` samples and pastes the images."""

    def __init__(self, *, alpha, prob, mode, generator) -> None:
        self.alpha = check_alpha(alpha)
        self.prob = check_prob(prob)
        self.mode = check_mode(mode)
        self.generator = private_generator() if generator is None else check_generator(generator)

    def _draw(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(partners, patches (B, 4) int64 xyxy) on the images' device; empty patches where unmixed."""
        b, _, h, w = images.shape
        fold_worker_seed(self.generator)
        partners, patches = F.sample_cutmix(
            b, h, w, alpha=self.alpha, prob=self.prob, mode=self.mode, generator=self.generator
        )
        return partners.to(images.device), patches.to(images.device)


class CutMixSegmentation(_DenseCutMix):
    """CutMix for semantic segmentation: image and per-pixel label map get the same patch from the partner
    (as in French et al., "Semi-supervised semantic segmentation needs strong, varied perturbations").

    Call with images (B, C, H, W) and label_maps (B, H, W) of any dtype; returns both mixed. Pairing rule,
    λ and box as in CutMix.

    Args:
        alpha: Beta concentration for the box area, > 0.
        prob: probability that a batch / pair / sample (per `mode`) is mixed.
        mode: "batch", "pair" or "elem" as in CutMix.
        generator: torch.Generator all draws come from.
    """

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        prob: float = 1.0,
        mode: str = "batch",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(alpha=alpha, prob=prob, mode=mode, generator=generator)

    def __call__(self, images: Tensor, label_maps: Tensor) -> tuple[Tensor, Tensor]:
        check_images(images)
        b, _, h, w = images.shape
        if not isinstance(label_maps, Tensor) or tuple(label_maps.shape) != (b, h, w):
            shape = tuple(label_maps.shape) if isinstance(label_maps, Tensor) else type(label_maps).__name__
            raise ValueError(f"label_maps must be a ({b}, {h}, {w}) tensor to match the images, got {shape}")
        if label_maps.device != images.device:
            raise ValueError(f"label_maps are on {label_maps.device} but images on {images.device}")
        partners, patches = self._draw(images)
        mask = F.box_masks(patches, h, w)
        return F.paste(images, partners, mask), F.paste(label_maps.unsqueeze(1), partners, mask).squeeze(1)


class CutMixDetection(_DenseCutMix):
    """CutMix for object detection, with boxes as plain tensors (see the module docstring for the format).

    Sample i receives the patch of its partner j. Boxes of image i that the patch covers are clipped to the
    bounding box of their still-visible part; boxes of image j that overlap the patch are clipped to it and
    added. Every box carries a weight = its visible area / its original area, and boxes whose weight is 0
    or below `min_visibility` are dropped. Per image, its own boxes come first, then the pasted ones.

    Call with images (B, C, H, W), boxes (list of B (n_i, 4) float) and labels (list of B (n_i,) int64);
    returns (images, boxes, labels, weights), the last three lists of B tensors.

    Args:
        alpha: Beta concentration for the patch area, > 0.
        prob: probability that a batch / pair / sample (per `mode`) is mixed.
        mode: "batch", "pair" or "elem" as in CutMix.
        min_visibility: smallest visible-area fraction a box may keep, in [0, 1].
        generator: torch.Generator all draws come from.
    """

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        prob: float = 1.0,
        mode: str = "batch",
        min_visibility: float = 0.1,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(alpha=alpha, prob=prob, mode=mode, generator=generator)
        self.min_visibility = check_prob(min_visibility, "min_visibility")

    def __call__(self, images: Tensor, boxes: list[Tensor], labels: list[Tensor]):
        check_images(images)
        _check_box_lists(images.shape[0], boxes, labels)
        partners, patches = self._draw(images)
        mixed = F.paste(images, partners, F.box_masks(patches, images.shape[2], images.shape[3]))
        device = boxes[0].device
        counts = torch.tensor([len(b) for b in boxes], device=device)
        owner = torch.repeat_interleave(torch.arange(len(boxes), device=device), counts)
        all_boxes, all_labels = torch.cat(boxes).float(), torch.cat(labels)
        patches, partners = patches.to(device).float(), partners.to(device)
        own_boxes, own_weight = visible_part(all_boxes, patches[owner])
        dest = partners[owner]  # a box of image j is pasted into image partners[j] (pairs are symmetric)
        pasted_boxes, pasted_weight = clip_to_patch(all_boxes, patches[dest])
        weight = torch.cat([own_weight, pasted_weight])
        keep = (weight > 0) & (weight >= self.min_visibility)
        image_of = torch.cat([owner, dest])[keep]
        order = torch.sort(image_of, stable=True).indices  # stable: own boxes stay before pasted ones
        sizes = torch.bincount(image_of, minlength=len(boxes)).tolist()
        split = [
            t[keep][order].split(sizes)
            for t in (torch.cat([own_boxes, pasted_boxes]), torch.cat([all_labels, all_labels]), weight)
        ]
        return mixed, list(split[0]), list(split[1]), list(split[2])


def _check_box_lists(batch_size: int, boxes: list[Tensor], labels: list[Tensor]) -> None:
    """One (n_i, 4) box tensor and one (n_i,) label tensor per image."""
    if len(boxes) != batch_size or len(labels) != batch_size:
        raise ValueError(
            f"need one box and one label tensor per image: {batch_size} images, "
            f"{len(boxes)} box tensors, {len(labels)} label tensors"
        )
    for i, (b, lab) in enumerate(zip(boxes, labels, strict=True)):
        if b.dim() != 2 or b.shape[1] != 4 or lab.shape != (b.shape[0],):
            raise ValueError(
                f"image {i}: boxes must be (n, 4) and labels (n,), got {tuple(b.shape)} and {tuple(lab.shape)}"
            )
