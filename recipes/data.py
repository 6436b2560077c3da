"""Batches on the training device: the in-memory fast path and the image-folder path.

Small datasets (Fashion-MNIST, CIFAR, synthetic, and an image folder with dataset.in_memory=true) live as one uint8
tensor on the training device; shuffling, crop-with-padding (a folder: random-resized crop) and flips run batched
there, with no worker processes. Other image folders decode in DataLoader workers every epoch. Both paths yield
*normalised float* images and int64 labels on the device, so mixing (which comes next, in the engine) never sees
where the batch came from.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from recipes import datasets, folder, folder_check
from recipes.calibration import heldout_split
from recipes.subsets import subset_indices
from recipes.transforms import Normalisation, random_crop_flip, random_hflip


@dataclass(frozen=True)
class DatasetInfo:
    """What models and mixers need to know about a dataset."""

    name: str
    num_classes: int
    in_chans: int
    img_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


def dataset_info(cfg) -> DatasetInfo:
    return DatasetInfo(
        cfg.name,
        int(cfg.num_classes),
        int(cfg.in_chans),
        int(cfg.img_size),
        tuple(float(m) for m in cfg.mean),
        tuple(float(s) for s in cfg.std),
    )


def _load_splits(cfg, seed: int) -> tuple:
    """(train images, labels), (test images, labels) as uint8 / int64 tensors, the training ones already cut to
    dataset.subset, and the files skipped as unreadable; a folder is checked and decoded here, once, and only the
    files the subset keeps."""
    if cfg.name == "imagefolder":
        checked = folder_samples(cfg, seed)
        size, chans, workers = folder.stored_size(int(cfg.img_size)), int(cfg.in_chans), int(cfg.num_workers)
        decoded = [
            folder.decode_all(s, size=size, in_chans=chans, num_workers=workers) for s in (checked.train, checked.test)
        ]
        return *decoded, checked.skipped
    (train_x, train_y), test = LOADERS[cfg.name](cfg, "train", seed), LOADERS[cfg.name](cfg, "test", seed)
    if cfg.subset is not None:
        chosen = subset_indices(cfg, train_y, seed)
        train_x, train_y = train_x[chosen], train_y[chosen]
    return (train_x, train_y), test, []


def folder_samples(cfg, seed: int) -> folder_check.CheckedSamples:
    """An image folder's training samples, less those dataset.subset leaves out (chosen from the labels alone, so
    nothing is decoded that is not trained on), and its validation samples, every file checked first."""
    split = folder.split_folder(cfg.root, num_classes=int(cfg.num_classes), val_fraction=float(cfg.val_fraction))
    train = split.train
    if cfg.subset is not None:
        train = [train[i] for i in subset_indices(cfg, torch.tensor([y for _, y in train]), seed).tolist()]
    return folder_check.checked_samples(train, split.test, cfg)


def _synthetic(cfg, split: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    n = int(cfg.train_size if split == "train" else cfg.test_size)
    return datasets.make_synthetic(
        int(cfg.num_classes), int(cfg.in_chans), int(cfg.img_size), n, float(cfg.noise), seed, split
    )


# dataset.name -> loader(cfg, split, seed) of a dataset held in memory: uint8 (N, C, H, W) images, int64 labels.
LOADERS = {
    "fashion_mnist": lambda cfg, split, seed: datasets.load_fashion_mnist(cfg.root, split, bool(cfg.download)),
    "cifar10": lambda cfg, split, seed: datasets.load_cifar("cifar10", cfg.root, split, bool(cfg.download)),
    "cifar100": lambda cfg, split, seed: datasets.load_cifar("cifar100", cfg.root, split, bool(cfg.download)),
    "synthetic": _synthetic,
}
IN_MEMORY = tuple(LOADERS)


class InMemoryData:
    """A whole small dataset as uint8 tensors on `device`; batches come out normalised, on the device.

    Training batches: a fresh permutation each epoch (from the caller's generator), crop-with-padding and flips
    batched on the device. An image folder (dataset.in_memory=true) is stored at folder.stored_size(img_size) px
    square; training takes a random-resized crop to img_size and a flip, evaluation the centre img_size crop.
    The last partial batch is kept, except a single leftover sample (BatchNorm cannot train on one). `subset=N`
    keeps N training images (subset_indices);
    `holdout` (a fraction, default 0) of them, chosen by the seed, is removed from training and served by
    `eval_batches("holdout")` (temperature scaling fits there).
    With `world_size > 1` each rank trains on its own equal share of every global batch and evaluates every
    world_size-th test image.
    """

    def __init__(self, cfg, device: torch.device, seed: int, rank: int = 0, world_size: int = 1):
        self.info = dataset_info(cfg)
        self.device, self.rank, self.world_size = device, rank, world_size
        self.resized_crop = cfg.name == "imagefolder"  # an image folder has no crop_padding: resized crops
        self.padding, self.hflip = 0 if self.resized_crop else int(cfg.crop_padding), bool(cfg.hflip)
        (train_x, train_y), (test_x, test_y), self.skipped_files = _load_splits(cfg, seed)
        keep = torch.ones(len(train_y), dtype=torch.bool)
        self._holdout = None
        holdout = float(cfg.holdout)
        no_holdout = torch.empty(0, dtype=torch.long)
        self.holdout_indices = heldout_split(len(train_y), holdout, seed) if holdout > 0 else no_holdout
        if holdout > 0:
            keep[self.holdout_indices] = False
            self._holdout = (train_x[self.holdout_indices].to(device), train_y[self.holdout_indices].to(device))
        self._train = (train_x[keep].to(device), train_y[keep].to(device))
        self._test = (test_x.to(device), test_y.to(device))
        self.norm = Normalisation(self.info.mean, self.info.std, device)
        self._check_shape(train_x)

    def _check_shape(self, images: torch.Tensor) -> None:
        side = folder.stored_size(self.info.img_size) if self.resized_crop else self.info.img_size
        expected = (self.info.in_chans, side, side)
        if tuple(images.shape[1:]) != expected:
            raise ValueError(f"dataset {self.info.name}: images are {tuple(images.shape[1:])}, config says {expected}")

    @property
    def num_train(self) -> int:
        return len(self._train[1])

    @property
    def num_test(self) -> int:
        return len(self._test[1])

    def steps_per_epoch(self, batch_size: int) -> int:
        steps, rest = divmod(self.num_train, batch_size)
        return steps + (rest >= 2 * self.world_size)

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
        """Shuffled, augmented, normalised batches; `batch_size` is the global batch over all ranks.

        Every rank draws the same permutation and crops (same generator seed) and keeps its contiguous share of each
        global batch, so N processes see exactly the batches one process would.
        """
        images, labels = self._train
        perm = torch.randperm(self.num_train, generator=generator, device=generator.device).to(self.device)
        for start in range(0, self.num_train, batch_size):
            idx = perm[start : start + batch_size]
            per_rank = len(idx) // self.world_size
            if per_rank < 2:
                break
            x = self._augment(images[idx], generator)
            mine = slice(self.rank * per_rank, (self.rank + 1) * per_rank)
            yield self.norm.uint8(x[mine]), labels[idx[mine]]

    def _augment(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.resized_crop:
            crops = folder.random_resized_crop(images, self.info.img_size, generator=generator)
            return random_hflip(crops, self.hflip, generator)
        return random_crop_flip(images, self.padding, self.hflip, generator)

    def eval_batches(self, split: str = "test", batch_size: int = 256) -> Iterator[tuple[torch.Tensor, ...]]:
        """Un-augmented batches of `split` ("test", "train" or "holdout") in a fixed order."""
        data = {"test": self._test, "train": self._train, "holdout": self._holdout}.get(split)
        if data is None:
            raise ValueError(f"no {split!r} split (choices: test, train, holdout when the run held one out)")
        images, labels = data
        if self.world_size > 1:  # each rank evaluates every world_size-th sample; the engine gathers them
            images, labels = images[self.rank :: self.world_size], labels[self.rank :: self.world_size]
        for start in range(0, len(labels), batch_size):
            batch = images[start : start + batch_size]
            batch = folder.center_crop(batch, self.info.img_size) if self.resized_crop else batch
            yield self.norm.uint8(batch), labels[start : start + batch_size]

    def denormalise(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised float images back to [0, 1] (for pictures of a batch)."""
        return self.norm.denormalise(images)


class FolderData:
    """An image folder (recipes.folder's layouts and split) decoded by DataLoader workers every epoch.

    Workers produce uint8 tensors (RandomResizedCrop + flip for training, resize + centre crop for evaluation);
    normalisation runs on the device after the transfer, as in the in-memory path. `holdout` takes the same
    seeded share of the training files out of training as the in-memory path, served by eval_batches("holdout").
    """

    def __init__(self, cfg, device: torch.device, seed: int, rank: int = 0, world_size: int = 1):
        from torchvision.transforms import v2

        self.info = dataset_info(cfg)
        self.device, self.rank, self.world_size = device, rank, world_size
        self.num_workers = int(cfg.num_workers)
        size = self.info.img_size
        train_tf = v2.Compose(
            [
                v2.RandomResizedCrop(size, antialias=True),
                v2.RandomHorizontalFlip(0.5 if cfg.hflip else 0.0),
                v2.PILToTensor(),
            ]
        )
        test_tf = v2.Compose(
            [v2.Resize(folder.stored_size(size), antialias=True), v2.CenterCrop(size), v2.PILToTensor()]
        )
        checked, mode = folder_samples(cfg, seed), "L" if self.info.in_chans == 1 else "RGB"
        self.skipped_files, train, holdout = checked.skipped, checked.train, float(cfg.holdout)
        self.holdout_indices = heldout_split(len(train), holdout, seed) if holdout > 0 else torch.empty(0).long()
        held = set(self.holdout_indices.tolist())
        self._train = folder.ImageFiles([s for i, s in enumerate(train) if i not in held], train_tf, mode)
        self._test = folder.ImageFiles(checked.test, test_tf, mode)
        self._holdout = folder.ImageFiles([train[i] for i in sorted(held)], test_tf, mode) if held else None
        self.norm = Normalisation(self.info.mean, self.info.std, device)

    @property
    def num_train(self) -> int:
        return len(self._train)

    @property
    def num_test(self) -> int:
        return len(self._test)

    def steps_per_epoch(self, batch_size: int) -> int:
        """Batches per epoch on each rank. As in the in-memory path the last partial batch is kept, except a
        single leftover image (BatchNorm cannot train on one); DistributedSampler pads the ranks' shares to equal."""
        per_rank_images = -(-self.num_train // self.world_size)
        steps, rest = divmod(per_rank_images, batch_size // self.world_size)
        return steps + (rest >= 2)

    def _loader(self, dataset, batch_size: int, sampler=None, generator=None):
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            shuffle=sampler is None and generator is not None,
            generator=generator,
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
            drop_last=False,
            collate_fn=folder.collate_readable,
        )

    def _to_device(self, loader):
        for x, y in filter(None, loader):  # None: no file of the batch could be read (ImageFiles)
            x = x.to(self.device, non_blocking=True)
            yield self.norm.uint8(x), y.to(self.device, non_blocking=True)

    def train_batches(self, batch_size: int, generator: torch.Generator):
        seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
        sampler = None
        if self.world_size > 1:
            sampler = torch.utils.data.DistributedSampler(self._train, self.world_size, self.rank, seed=seed)
        cpu_gen = torch.Generator().manual_seed(seed)
        per_rank = batch_size // self.world_size  # batch_size is global, as in the in-memory path
        loader = self._loader(self._train, per_rank, sampler, cpu_gen)
        return itertools.islice(self._to_device(loader), self.steps_per_epoch(batch_size))

    def eval_batches(self, split: str = "test", batch_size: int = 256):
        test = {"test": self._test, "holdout": self._holdout}.get(split)
        if test is None:
            raise ValueError(f"imagefolder serves 'test' and (dataset.holdout > 0) 'holdout', not {split!r}")
        if self.world_size > 1:  # every world_size-th image per rank, as in the in-memory path; the engine gathers
            test = torch.utils.data.Subset(test, range(self.rank, len(test), self.world_size))
        return self._to_device(self._loader(test, batch_size))

    def denormalise(self, images: torch.Tensor) -> torch.Tensor:
        return self.norm.denormalise(images)


def build_data(cfg, device: torch.device, seed: int, rank: int = 0, world_size: int = 1):
    """The data module for `cfg` (a dataset config node) by `dataset.name` (DATA_MODULES); an image folder with
    dataset.in_memory=true is held in memory like the small datasets."""
    if cfg.name not in DATA_MODULES:
        raise ValueError(f"dataset.name={cfg.name!r} is unknown: choose one of {', '.join(sorted(DATA_MODULES))}")
    module = InMemoryData if cfg.name == "imagefolder" and cfg.in_memory else DATA_MODULES[cfg.name]
    return module(cfg, device, seed, rank=rank, world_size=world_size)


# dataset.name -> data module: the in-memory loaders' datasets, and image folders; recipes.schema declares the keys.
DATA_MODULES = {**dict.fromkeys(LOADERS, InMemoryData), "imagefolder": FolderData}
