"""Reading datasets from disk into uint8 tensors (N, C, H, W) plus int64 labels.

One function per on-disk format: Fashion-MNIST's idx files (gzip or not), CIFAR's python pickles (torchvision's
layout), and the synthetic set made from a seed. Downloading uses torchvision, only when the config allows it.
"""

from __future__ import annotations

import gzip
import pickle
import urllib.error
from pathlib import Path

import numpy as np
import torch

from recipes.schema.rules import InputError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR_FOLDERS = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], b"labels"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], b"fine_labels"),
}


class DatasetNotFoundError(FileNotFoundError, InputError):
    """Raised when no copy of a dataset was found; the message (one line) says where we looked and how to get it."""


def _download(name: str, root: Path, fetch) -> None:
    """Run torchvision's download `fetch()`; a failure (no network, a proxy, a bad checksum) becomes one
    DatasetNotFoundError saying how to get the files onto an offline machine."""
    try:
        fetch()
    except (urllib.error.URLError, OSError, RuntimeError) as err:
        reason = getattr(err, "reason", None) or err
        raise DatasetNotFoundError(
            f"{name}: dataset.download=true but the download into dataset.root={root} failed ({reason}). Without "
            f"network: on a machine with network run the same command with dataset.root=<dir> dataset.download=true "
            f"(trainer.epochs=1 is enough), then copy <dir> here and pass dataset.root=<dir>, download off"
        ) from None


# --------------------------------------------------------------------------- Fashion-MNIST (idx format)


def read_idx(path: Path) -> np.ndarray:
    """Read one idx file (the MNIST family's format), gzip-compressed or not, into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = data[0:2], data[2], data[3]
    if zero != b"\x00\x00" or dtype_code != 0x08:
        raise ValueError(f"{path} is not a uint8 idx file (header {data[:4]!r})")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _fashion_mnist_folder(root: Path, download: bool) -> Path:
    """The first folder holding all four Fashion-MNIST files: root, root/FashionMNIST/raw, the Debian package."""
    candidates = [root, root / "FashionMNIST" / "raw", DEBIAN_FASHION_MNIST]
    stems = [s for pair in FASHION_MNIST_FILES.values() for s in pair]
    for folder in candidates:
        if all(_find_idx(folder, s) for s in stems):
            return folder
    if download:
        from torchvision.datasets import FashionMNIST

        _download("fashion_mnist", root, lambda: [FashionMNIST(str(root), train=t, download=True) for t in (1, 0)])
        return root / "FashionMNIST" / "raw"
    raise DatasetNotFoundError(
        f"Fashion-MNIST not found in {', '.join(str(c) for c in candidates)}. Get it with `apt-get install "
        "dataset-fashion-mnist` (Debian/Ubuntu, offline mirror friendly), scripts/get_fashion_mnist.sh, or "
        "`python train.py dataset.download=true` (torchvision's download into dataset.root)"
    )


def load_fashion_mnist(root: str | Path, split: str, download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST split as (N, 1, 28, 28) uint8 images and (N,) int64 labels."""
    folder = _fashion_mnist_folder(Path(root), download)
    image_stem, label_stem = FASHION_MNIST_FILES[split]
    images = read_idx(_find_idx(folder, image_stem))
    labels = read_idx(_find_idx(folder, label_stem))
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


# --------------------------------------------------------------------------- CIFAR (torchvision's pickles)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only (Python's "restricting globals" recipe): a CIFAR batch
    file someone replaced cannot run code, since every other class or function a pickle names is refused."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype")} | {
        (module, "_reconstruct") for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    }

    def __init__(self, file, **kwargs):
        super().__init__(file, **kwargs)
        self.path = getattr(file, "name", "the file")

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise ValueError(f"{self.path} is not a CIFAR batch file: its pickle asks for {module}.{name}; refused")
        return super().find_class(module, name)


def load_cifar(name: str, root: str | Path, split: str, download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10/100 split as (N, 3, 32, 32) uint8 images and (N,) int64 labels, from torchvision's layout.

    We read the pickles ourselves (torchvision's class insists on the official checksums, which small test files
    cannot have) and use torchvision only to download.
    """
    folder_name, train_files, test_files, label_key = CIFAR_FOLDERS[name]
    folder = Path(root) / folder_name
    files = train_files if split == "train" else test_files
    if not all((folder / f).is_file() for f in files):
        if not download:
            raise DatasetNotFoundError(
                f"{name} not found: expected torchvision's layout in {folder} (files {', '.join(files)}). Get it "
                f"with `python train.py dataset={name} dataset.root={root} dataset.download=true`, or without "
                f"network copy {folder_name}/ (the python version from www.cs.toronto.edu/~kriz/cifar.html, "
                f"unpacked) from a machine that has it into {root}"
            )
        from torchvision import datasets

        cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
        _download(name, Path(root), lambda: cls(str(root), train=split == "train", download=True))
    images, labels = [], []
    for f in files:
        with open(folder / f, "rb") as fh:
            batch = _ArrayUnpickler(fh, encoding="bytes").load()
        images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.extend(batch[label_key])
    return torch.from_numpy(np.concatenate(images)), torch.tensor(labels, dtype=torch.int64)


# --------------------------------------------------------------------------- synthetic


def make_synthetic(
    num_classes: int, in_chans: int, img_size: int, n: int, noise: float, seed: int, split: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images with learnable structure: class k is a fixed smooth random template plus pixel noise.

    The templates depend only on `seed` (shared by both splits); the noise and labels differ per split, so a model
    can generalise from train to test. Templates are 4x4 random patterns upsampled to `img_size` (low frequency, so
    crops and flips keep them recognisable).
    """
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(num_classes, in_chans, 4, 4, generator=g)
    templates = torch.nn.functional.interpolate(coarse, size=(img_size, img_size), mode="bilinear", align_corners=False)
    g.manual_seed(seed * 2 + (1 if split == "train" else 2))
    labels = torch.randint(num_classes, (n,), generator=g)
    images = templates[labels] + noise * torch.randn(n, in_chans, img_size, img_size, generator=g)
    return (images.clamp(0, 1) * 255).round().to(torch.uint8), labels
