"""Image folders: finding the classes and the split, reading the files, and the batched crops of the in-memory path.

Two layouts are read: <root>/<class>/*.jpg alone (a seeded, stratified validation split of `val_fraction` of each
class is held out) and ImageNet's <root>/train/<class>/... with <root>/val/<class>/.... Labels are class-folder
indices in sorted order (torchvision's ImageFolder rule). Hidden folders and files (a leading dot: .DS_Store,
._IMG_1.JPG, .ipynb_checkpoints/) and files without an image extension (Thumbs.db, notes.txt; the extensions of
IMAGE_EXTENSIONS, any case) are never a class or a sample. An in-memory folder is decoded once, its shorter side
resized to `stored_size(img_size)` and centre-cropped square, and held as uint8; `random_resized_crop` then draws
torchvision's RandomResizedCrop boxes for a whole batch and resamples them in one roi_align call.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.datasets.folder import IMG_EXTENSIONS as IMAGE_EXTENSIONS
from torchvision.ops import roi_align

from recipes.datasets import DatasetNotFoundError
from recipes.folder_decode import open_image

log = logging.getLogger(__name__)

# The validation split of a <root>/<class> folder is drawn from this seed, not the run's: every run of a sweep
# (each method, each seed) is then scored on the same images.
SPLIT_SEED = 0
# Evaluation resizes the shorter side to img_size / CROP_PCT and centre-crops img_size (the ImageNet convention).
CROP_PCT = 0.875


@dataclass(frozen=True)
class FolderSplit:
    """The classes (sorted folder names) and the (path, label) samples of each split."""

    classes: list[str]
    train: list[tuple[str, int]]
    test: list[tuple[str, int]]


def stored_size(img_size: int) -> int:
    """Side of the square an in-memory folder image is stored at: the evaluation resize, img_size / 0.875."""
    return int(round(img_size / CROP_PCT))


def _scan(directory: Path, num_classes: int | None) -> tuple[list[str], list[tuple[str, int]]]:
    """Class folders and samples of one directory; a clear error for no, one, empty or (unless num_classes is
    None) miscounted class folders."""
    classes = sorted(e.name for e in os.scandir(directory) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise ValueError(f"{directory} holds no class folders: expected {directory}/<class>/<image>")
    if len(classes) < 2:
        raise ValueError(f"{directory} holds one class folder ({classes[0]}): classification needs at least two")
    samples = [(path, k) for k, name in enumerate(classes) for path in _image_files(directory / name)]
    counts = torch.bincount(torch.tensor([label for _, label in samples], dtype=torch.long), minlength=len(classes))
    empty = [str(directory / classes[k]) for k in range(len(classes)) if counts[k] == 0]
    if empty:
        raise ValueError(f"class folders without images ({', '.join(IMAGE_EXTENSIONS)}): {', '.join(empty[:3])}")
    if num_classes is not None and len(classes) != num_classes:
        raise ValueError(
            f"{directory} has {len(classes)} class folders but dataset.num_classes={num_classes}: "
            f"pass dataset.num_classes={len(classes)}"
        )
    return classes, samples


def _image_files(class_dir: Path) -> list[str]:
    """The image files under one class folder (sub-folders included, links followed) in torchvision's
    make_dataset order (folder by folder, each sorted); hidden files and folders and files without an image
    extension left out."""
    found = {}
    for parent, dirs, files in os.walk(class_dir, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found[parent] = sorted(f for f in files if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS))
    return [os.path.join(parent, f) for parent in sorted(found) for f in found[parent]]


def _stratified_split(samples, num_classes: int, val_fraction: float, directory: Path):
    """(train, val) with round(val_fraction * n) of each class's n images in val (at least 1, never all)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"dataset.val_fraction={val_fraction!r} must be in (0, 1) to split {directory}")
    generator = torch.Generator().manual_seed(SPLIT_SEED)
    train, val = [], []
    for k in range(num_classes):
        members = [s for s in samples if s[1] == k]
        if len(members) < 2:
            raise ValueError(f"{Path(members[0][0]).parent} holds one image: it cannot give both a train and a val one")
        n_val = min(max(1, round(val_fraction * len(members))), len(members) - 1)
        order = torch.randperm(len(members), generator=generator).tolist()
        val += [members[i] for i in sorted(order[:n_val])]
        train += [members[i] for i in sorted(order[n_val:])]
    return train, val


def split_folder(root, *, num_classes: int, val_fraction: float) -> FolderSplit:
    """The classes and samples of `root`: train/ and val/ if it has them, else its class folders, split."""
    root = Path(str(root)).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(f"dataset.root={str(root)!r} is not a directory")
    if (root / "train").is_dir() != (root / "val").is_dir():
        have, lack = ("train", "val") if (root / "train").is_dir() else ("val", "train")
        raise ValueError(f"{root} has {have}/ but no {lack}/: give both, or put the class folders in {root} itself")
    if not (root / "train").is_dir():
        classes, samples = _scan(root, num_classes)
        return FolderSplit(classes, *_stratified_split(samples, num_classes, val_fraction, root))
    classes, train = _scan(root / "train", num_classes)
    val_classes, test = _scan(root / "val", None)  # compared with train's below, naming the differing folders
    if val_classes != classes:
        differ = sorted(set(classes) ^ set(val_classes))[:3]
        raise ValueError(
            f"{root}/train and {root}/val hold different class folders (e.g. {differ}): labels would not match"
        )
    return FolderSplit(classes, train, test)


class ImageFiles(torch.utils.data.Dataset):
    """(path, label) samples decoded by recipes.folder_decode in `mode` ("RGB" or "L"), then `transform`.

    The files were checked before training (recipes.folder_check); one that fails now (changed on disk since) is
    skipped with a warning naming it: the item is None, which `collate_readable` leaves out of the batch.
    """

    def __init__(self, samples: list[tuple[str, int]], transform, mode: str = "RGB"):
        self.samples, self.transform, self.mode = samples, transform, mode

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        try:
            image = open_image(path, self.mode)
        except Exception as err:  # noqa: BLE001 - PIL raises many types for a damaged file
            log.warning("skipping unreadable image %s (changed since the check?): %s", path, err)
            return None
        return self.transform(image), label


def collate_readable(batch: list):
    """default_collate of the items that were read (ImageFiles gives None for a file that failed); None if none."""
    readable = [item for item in batch if item is not None]
    return torch.utils.data.default_collate(readable) if readable else None


def decode_all(samples, *, size: int, in_chans: int, num_workers: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All images as one uint8 (N, in_chans, size, size) tensor (shorter side resized to `size`, centre-cropped)
    and (N,) int64 labels, decoded once by `num_workers` DataLoader workers."""
    from torchvision.transforms import v2

    transform = v2.Compose([v2.Resize(size, antialias=True), v2.CenterCrop(size), v2.PILToTensor()])
    files = ImageFiles(samples, transform, "L" if in_chans == 1 else "RGB")
    loader = torch.utils.data.DataLoader(files, batch_size=64, num_workers=num_workers, collate_fn=collate_readable)
    images, labels = zip(*(batch for batch in loader if batch is not None), strict=True)
    return torch.cat(images), torch.cat(labels)


def resized_crop_boxes(
    n: int,
    height: int,
    width: int,
    *,
    generator: torch.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    tries: int = 10,
) -> torch.Tensor:
    """`n` boxes (x0, y0, x1, y1) of torchvision's RandomResizedCrop for a height x width image, on the generator's
    device: area a fraction ~U(scale) of the image, aspect ratio w/h log-uniform in `ratio`, redrawn up to `tries`
    times until the box fits (else the whole image), at a uniform position. Continuous, not rounded to pixels."""
    dev = generator.device
    area = torch.empty(n, tries, device=dev).uniform_(*scale, generator=generator) * height * width
    log_ratio = torch.empty(n, tries, device=dev).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator)
    box_w, box_h = (area * log_ratio.exp()).sqrt(), (area / log_ratio.exp()).sqrt()
    fits = (box_w <= width) & (box_h <= height)
    first = fits.to(torch.uint8).argmax(1, keepdim=True)  # the first try that fits (0 when none does)
    box_w = torch.where(fits.any(1), box_w.gather(1, first)[:, 0], torch.tensor(float(width), device=dev))
    box_h = torch.where(fits.any(1), box_h.gather(1, first)[:, 0], torch.tensor(float(height), device=dev))
    x0 = torch.rand(n, generator=generator, device=dev) * (width - box_w)
    y0 = torch.rand(n, generator=generator, device=dev) * (height - box_h)
    return torch.stack([x0, y0, x0 + box_w, y0 + box_h], dim=1)


def crop_boxes(images: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Box i of `boxes` (x0, y0, x1, y1 in pixel-edge coordinates) cut from image i and resampled to size x size,
    for the whole batch in one torchvision roi_align call: bilinear, averaging several sample points per output
    pixel when the box shrinks (so large boxes are not aliased). float (B, C, size, size), input's value scale."""
    index = torch.arange(len(boxes), dtype=boxes.dtype, device=boxes.device)[:, None]
    rois = torch.cat([index, boxes], dim=1).to(images.device, torch.float32)
    return roi_align(images.float(), rois, output_size=size, spatial_scale=1.0, sampling_ratio=-1, aligned=True)


def random_resized_crop(images: torch.Tensor, size: int, *, generator: torch.Generator) -> torch.Tensor:
    """torchvision's RandomResizedCrop(size) (default scale and ratio) for a whole (B, C, H, W) batch, its draws
    from `generator` as in recipes.transforms.random_crop_flip: float (B, C, size, size) in the input's value
    scale (0-255)."""
    boxes = resized_crop_boxes(len(images), *images.shape[-2:], generator=generator)
    return crop_boxes(images, boxes, size)


def center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """The central size x size window of a (B, C, H, W) batch (the evaluation crop, torchvision's CenterCrop)."""
    from torchvision.transforms.v2 import functional

    return functional.center_crop(images, [size])
