"""What checking an image folder before training costs: every file decoded once, then the cached verdicts.

    .venv/bin/python scripts/bench_folder_check.py                        # 10,000 64x64 JPEGs, 2 workers
    .venv/bin/python scripts/bench_folder_check.py --images 10000 --side 28 --workers 0

Fabricates a <class>/*.jpg folder of small JPEGs (smooth random fields, quality 90) in a temporary directory and
times recipes.folder_check.unreadable over all of it twice, the verdict cache in a temporary dir: the first call
decodes every file in --workers DataLoader workers (what the first run of a sweep pays), the second finds every
verdict cached by path, size and mtime (what the other runs pay: one stat per file and the JSON read).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from recipes.folder_check import unreadable


def fabricate(root: Path, images: int, classes: int, side: int) -> list[str]:
    """`images` side x side JPEGs over `classes` folders; their paths."""
    from PIL import Image

    g, paths = torch.Generator().manual_seed(0), []
    for i in range(images):
        folder = root / f"class{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        field = torch.nn.functional.interpolate(torch.rand(1, 3, 4, 4, generator=g), size=(side, side), mode="bilinear")
        pixels = (field[0].permute(1, 2, 0) * 255).to(torch.uint8).numpy()
        paths.append(str(folder / f"{i}.jpg"))
        Image.fromarray(pixels).save(paths[-1], quality=90)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--side", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        paths = fabricate(Path(tmp) / "images", args.images, args.classes, args.side)
        for label in ("first run (decode every file)", "later runs (cached)"):
            start = time.perf_counter()
            bad = unreadable(paths, root=Path(tmp) / "images", num_workers=args.workers)
            print(f"{label}: {time.perf_counter() - start:.2f} s for {len(paths)} files, {len(bad)} unreadable")


if __name__ == "__main__":
    main()
