"""Batched image transforms on the training device: a dataset's normalisation (and back), crop with padding, flip.

Every data path serves images normalised per channel with the dataset's mean and std (given in [0, 1] pixel
units); Normalisation is the one home of that rule, used by both data modules, evaluation's OOD sets and the
corruptions of the robustness measurements. The in-memory path augments whole uint8 batches here, with random
draws from the caller's generator, so an epoch's augmentation is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class Normalisation:
    """A dataset's per-channel `mean` and `std` ([0, 1] pixel units) as (1, C, 1, 1) float32 tensors on `device`."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], device: torch.device | str = "cpu"):
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)

    def uint8(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) images (0-255) -> normalised float32."""
        return (images.float() / 255.0 - self.mean) / self.std

    def pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """Float pixels in [0, 1] -> normalised."""
        return (pixels - self.mean) / self.std

    def denormalise(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised float images back to [0, 1] pixels (clamped), for pictures and pixel-space corruptions."""
        return (images * self.std + self.mean).clamp(0, 1)


def random_crop_flip(images: torch.Tensor, padding: int, hflip: bool, generator: torch.Generator) -> torch.Tensor:
    """RandomCrop(size, padding) with zero padding, then a horizontal flip with probability 1/2, per sample.

    One gather for the whole batch: each sample's crop offset becomes row/column index grids into the padded batch.
    Random draws come from `generator` (on the generator's device) so the epoch's augmentation is reproducible.
    """
    b, c, h, w = images.shape
    dev, gen_dev = images.device, generator.device
    if padding > 0:
        padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))
        dy = torch.randint(0, 2 * padding + 1, (b, 1), generator=generator, device=gen_dev).to(dev)
        dx = torch.randint(0, 2 * padding + 1, (b, 1), generator=generator, device=gen_dev).to(dev)
        rows = (dy + torch.arange(h, device=dev))[:, None, :, None].expand(b, c, h, w + 2 * padding)
        cols = (dx + torch.arange(w, device=dev))[:, None, None, :].expand(b, c, h, w)
        images = padded.gather(2, rows).gather(3, cols)
    return random_hflip(images, hflip, generator)


def random_hflip(images: torch.Tensor, hflip: bool, generator: torch.Generator) -> torch.Tensor:
    """Each image of the batch mirrored left-right with probability 1/2 (drawn from `generator`) if `hflip`."""
    if not hflip:
        return images
    flip = torch.rand(len(images), generator=generator, device=generator.device).to(images.device) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(3), images)
