"""Draw one batch under every augment method: docs/augment_methods.png.

    .venv/bin/python scripts/plot_augment.py [--root /usr/share/datasets/fashion-mnist] [--out docs/augment_methods.png]

Uses the first images of the Fashion-MNIST test split (idx format, gzip) as uint8, mixes them with each
method in "elem" mode (per-sample draws, fixed seed) and labels every tile with its two largest target
weights. Falls back to a synthetic striped batch when the dataset is not found.
"""

from __future__ import annotations

import argparse
import gzip
import struct
from pathlib import Path

import matplotlib
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from augment import METHODS

CLASSES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]
ROWS = [
    ("none", {}),
    ("cutout", {"size": 12}),
    ("mixup", {"mode": "elem"}),
    ("cutmix", {"mode": "elem"}),
    ("fmix", {"mode": "elem"}),
    ("ricap", {"mode": "elem"}),
]


def read_idx(path: Path) -> torch.Tensor:
    """An idx file (the MNIST format: big-endian magic, dimensions, then uint8 data) as a uint8 tensor."""
    with gzip.open(path, "rb") as f:
        _, _, dtype_code, ndim = f.read(4)
        if dtype_code != 0x08:
            raise ValueError(f"{path}: only uint8 idx files are supported, got type code {dtype_code:#x}")
        shape = struct.unpack(f">{ndim}I", f.read(4 * ndim))
        return torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).reshape(shape)


def load_batch(root: Path, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 1, 28, 28) uint8 images and labels from Fashion-MNIST, or a synthetic batch if absent."""
    images_path, labels_path = root / "t10k-images-idx3-ubyte.gz", root / "t10k-labels-idx1-ubyte.gz"
    if images_path.exists() and labels_path.exists():
        return read_idx(images_path)[:n, None].contiguous(), read_idx(labels_path)[:n].long()
    print(f"{images_path} not found: using a synthetic batch")
    stripes = (torch.arange(28)[None, :] // 4 + torch.arange(n)[:, None]) % 2 * 255
    return stripes[:, None, None, :].expand(n, 1, 28, 28).to(torch.uint8), torch.arange(n) % len(CLASSES)


def caption(target: torch.Tensor) -> str:
    weights, classes = target.topk(2)
    return "\n".join(f"{CLASSES[c]} {w:.2f}" for w, c in zip(weights.tolist(), classes.tolist(), strict=True) if w > 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs/augment_methods.png")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    images, labels = load_batch(args.root, args.n)
    fig, axes = plt.subplots(len(ROWS), args.n, figsize=(1.25 * args.n, 1.55 * len(ROWS)))
    for row, (name, kwargs) in enumerate(ROWS):
        mixer = METHODS[name](num_classes=len(CLASSES), generator=torch.Generator().manual_seed(args.seed), **kwargs)
        mixed, targets = mixer(images, labels)
        for col in range(args.n):
            ax = axes[row, col]
            ax.imshow(mixed[col, 0], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(caption(targets[col]), fontsize=6, pad=2)
            if col == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
