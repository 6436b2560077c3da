"""One training epoch of an image folder's batches, decoded by DataLoader workers or held in memory.

    .venv/bin/python scripts/bench_folder.py                          # 2000 fabricated 500x375 JPEGs, 224 px
    .venv/bin/python scripts/bench_folder.py --images 4000 --workers 8 --device cuda

Fabricates a <class>/*.jpg folder (smooth random photos-sized JPEGs, quality 90) in a temporary directory, then
builds recipes.data's two paths over it from configs/dataset/imagefolder.yaml: FolderData (PIL decode +
RandomResizedCrop + flip in --workers worker processes, every epoch) and InMemoryData with dataset.in_memory=true
(decoded once, then the batched random-resized crop + flip on the device). It times full epochs of normalised
batches on the device, the two paths taking turns (--repeats each), and prints the medians and their ratio, plus
the in-memory path's one-off decoding. No model runs: this is what the data path costs an epoch.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

from recipes.data import build_data

ROOT = Path(__file__).resolve().parents[1]


def fabricate(root: Path, images: int, classes: int, width: int, height: int) -> None:
    """`images` JPEGs spread over `classes` folders: low-frequency colour fields (JPEG-friendly, like photos)."""
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    for i in range(images):
        folder = root / f"class{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        coarse = torch.rand(1, 3, 6, 8, generator=g)
        field = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)
        pixels = (field[0].clamp(0, 1) * 255).to(torch.uint8).permute(1, 2, 0).numpy()
        Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=90)


def epoch_seconds(data, batch_size: int, epoch: int) -> float:
    start = time.perf_counter()
    for x, _ in data.train_batches(batch_size, torch.Generator(device=data.device).manual_seed(epoch)):
        x.sum().item()  # wait for the batch (and on CUDA for its kernels)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--size", type=int, default=224, help="dataset.img_size")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        fabricate(Path(tmp), args.images, args.classes, 500, 375)
        cfg = OmegaConf.load(ROOT / "configs" / "dataset" / "imagefolder.yaml")
        cfg = OmegaConf.merge(cfg, {"root": tmp, "num_classes": args.classes, "img_size": args.size})
        cfg.num_workers, cfg.val_fraction = args.workers, 0.1
        workers = build_data(cfg, device, seed=0)
        start = time.perf_counter()
        memory = build_data(OmegaConf.merge(cfg, {"in_memory": True}), device, seed=0)
        decode_s = time.perf_counter() - start
        times = {"workers": [], "in_memory": []}
        for epoch in range(args.repeats):
            times["workers"].append(epoch_seconds(workers, args.batch_size, epoch))
            times["in_memory"].append(epoch_seconds(memory, args.batch_size, epoch))
    med = {name: statistics.median(t) for name, t in times.items()}
    n = workers.num_train
    print(f"{n} training images of 500x375 -> {args.size} px, batch {args.batch_size}, device {device}")
    print(f"in-memory one-off decode + resize ({args.workers} workers, {args.images} images): {decode_s:.1f} s")
    for name, t in times.items():
        each = ", ".join(f"{s:.2f}" for s in t)
        print(f"{name:>10}: epoch {med[name]:.2f} s median ({each}), {n / med[name]:.0f} img/s")
    print(f"workers / in-memory epoch time: {med['workers'] / med['in_memory']:.1f}x")


if __name__ == "__main__":
    main()
