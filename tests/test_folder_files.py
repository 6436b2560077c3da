"""An image folder as users have one, built from real Fashion-MNIST images: debris that is never a class or a
sample, every image mode decoded to the right pixels, unreadable files found before training (one error, or
skipped with dataset.skip_bad_files=true on both folder paths), the check's cache, and temperature scaling on a
folder's held-out images."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from recipes import folder_check
from recipes.data import build_data
from recipes.datasets import DEBIAN_FASHION_MNIST, load_fashion_mnist
from recipes.evaluate import evaluate_checkpoint
from recipes.folder import split_folder
from recipes.folder_check import BadFilesError, cache_file, unreadable
from recipes.folder_decode import open_image
from recipes.run import run_training
from tests.conftest import compose_cfg

pytestmark = pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="Fashion-MNIST not installed")
DEBRIS = [".DS_Store", "class0/.DS_Store", "class0/Thumbs.db", "class0/notes.txt", "notes.txt", "class1/._0.png"]
BAD = ["class0/truncated.jpg", "class1/corrupt.png"]


def fashion(n: int, offset: int = 0) -> np.ndarray:
    """n real Fashion-MNIST test images, (n, 28, 28) uint8."""
    images, _ = load_fashion_mnist(DEBIAN_FASHION_MNIST, "test")
    return images[offset : offset + n, 0].numpy()


def rgb(gray: np.ndarray) -> np.ndarray:
    """A colour picture from a gray one (each channel a different function of it), (28, 28, 3) uint8."""
    g = gray.astype(np.int64)
    return np.stack([g, 255 - g, (g * 3) % 256], axis=-1).astype(np.uint8)


def messy_folder(root, per_class: int = 8):
    """root/class0 and root/class1, `per_class` readable PNGs each (Fashion-MNIST pictures), the debris of DEBRIS
    (a hidden folder too) and the two unreadable files of BAD. Returns root."""
    pictures = fashion(2 * per_class)
    for k in range(2):
        (root / f"class{k}").mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rgb(pictures[k * per_class + i])).save(root / f"class{k}" / f"{i}.png")
    for name in DEBRIS:
        (root / name).write_bytes(b"\x00\x05\x16\x07 Mac OS X metadata, a thumbnail cache or a note")
    (root / ".ipynb_checkpoints").mkdir()
    Image.fromarray(pictures[0]).save(root / ".ipynb_checkpoints" / "0.png")
    whole = root / "whole.jpg"
    Image.fromarray(rgb(pictures[0])).resize((64, 64)).save(whole, quality=95)
    (root / BAD[0]).write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # a copy cut short: header intact
    whole.unlink()
    (root / BAD[1]).write_bytes(os.urandom(500))
    return root


def folder_cfg(root, **over):
    base = compose_cfg(["dataset=imagefolder"]).dataset
    return OmegaConf.merge(
        base, {"root": str(root), "img_size": 16, "num_classes": 2, "num_workers": 0, "val_fraction": 0.25, **over}
    )


def train_cfg(root, *extra):
    return compose_cfg(
        [
            "dataset=imagefolder",
            f"dataset.root={root}",
            "dataset.num_classes=2",
            "dataset.img_size=16",
            "dataset.num_workers=0",
            "dataset.val_fraction=0.25",
            "model.width=8",
            "trainer.batch_size=4",
            "trainer.epochs=1",
            "trainer.device=cpu",
            "trainer.precision=fp32",
            "trainer.progress=false",
            *extra,
        ]
    )


# ---------------------------------------------------------------------------------------------- listing


def test_debris_and_hidden_files_are_never_a_class_or_a_sample(tmp_path):
    root = messy_folder(tmp_path / "photos")
    Image.fromarray(fashion(1)[0]).save(root / "class1" / "UPPER.JPG")
    Image.fromarray(fashion(1)[0]).save(root / "class1" / "photo.webp")
    split = split_folder(root, num_classes=2, val_fraction=0.25)
    assert split.classes == ["class0", "class1"]  # not .ipynb_checkpoints
    listed = sorted(os.path.relpath(p, root) for p, _ in split.train + split.test)
    assert listed == sorted(
        [f"class{k}/{i}.png" for k in range(2) for i in range(8)] + BAD + ["class1/UPPER.JPG", "class1/photo.webp"]
    )


# ---------------------------------------------------------------------------------------------- decoding


def test_a_16_bit_png_is_scaled_to_8_bits_not_clipped_white(tmp_path):
    picture = fashion(1)[0]
    noise = np.random.default_rng(0).integers(-128, 129, picture.shape)  # below half a level of the 8-bit one
    sixteen = np.clip(picture.astype(np.int64) * 257 + noise, 0, 65535).astype(np.uint16)
    Image.fromarray(sixteen).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    decoded = np.asarray(open_image(tmp_path / "deep.png")).astype(np.int64)
    assert np.abs(decoded - picture[..., None]).max() <= 1
    clipped = np.asarray(Image.open(tmp_path / "deep.png").convert("RGB"))  # what convert("RGB") alone gives
    assert (clipped[picture >= 2] == 255).all() and (picture >= 2).mean() > 0.3  # every lit pixel white


def test_palette_grayscale_and_cmyk_decode_to_their_rgb_values(tmp_path):
    picture = fashion(1)[0]
    indices = (picture // 32).astype(np.uint8)  # 8 palette entries
    palette = np.random.default_rng(1).integers(0, 256, (8, 3)).astype(np.uint8)
    paletted = Image.fromarray(indices, mode="P")
    paletted.putpalette(palette.flatten().tolist())
    paletted.save(tmp_path / "palette.png")
    assert np.array_equal(np.asarray(open_image(tmp_path / "palette.png")), palette[indices])

    Image.fromarray(picture).save(tmp_path / "gray.png")
    assert np.array_equal(np.asarray(open_image(tmp_path / "gray.png")), np.repeat(picture[..., None], 3, axis=2))
    assert np.array_equal(np.asarray(open_image(tmp_path / "gray.png", "L")), picture)

    cmyk = rgb(picture)[..., [0, 1, 2, 0]].copy()  # C, M, Y and K all vary
    Image.fromarray(cmyk, mode="CMYK").save(tmp_path / "print.tif")
    c, m, y, k = (cmyk[..., i].astype(np.float64) for i in range(4))
    expected = np.stack([(255 - c), (255 - m), (255 - y)], axis=-1) * (255 - k)[..., None] / 255  # naive CMYK
    assert np.abs(np.asarray(open_image(tmp_path / "print.tif")) - expected).max() <= 1


def test_transparency_is_composited_over_white(tmp_path):
    picture = rgb(fashion(1)[0])
    alpha = np.zeros((28, 28), np.uint8)
    alpha[:, 10:20], alpha[:, 20:] = 128, 255  # transparent, half, opaque
    Image.fromarray(np.dstack([picture, alpha]), mode="RGBA").save(tmp_path / "cutout.png")
    a = alpha[..., None] / 255.0
    expected = a * picture + (1 - a) * 255.0
    decoded = np.asarray(open_image(tmp_path / "cutout.png")).astype(np.float64)
    assert np.abs(decoded - expected).max() <= 1
    assert (decoded[:, :10] == 255).all()  # whatever colour the transparent pixels stored


def test_exif_orientation_is_applied_and_upper_case_and_webp_files_decode(tmp_path):
    gray = np.kron(fashion(1, offset=3)[0], np.ones((2, 2), np.uint8))  # 56 x 56, not symmetric
    upright = np.repeat(gray[..., None], 3, axis=2)  # no colour detail for JPEG's chroma subsampling to blur
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": the sensor stored it turned counter-clockwise
    Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90).save(tmp_path / "phone.JPG", exif=exif, quality=95)
    decoded = np.asarray(open_image(tmp_path / "phone.JPG")).astype(np.float64)
    as_stored = np.rot90(upright, 1).astype(np.float64)
    assert np.abs(decoded - upright).mean() < 4 < 20 < np.abs(decoded - as_stored).mean()

    Image.fromarray(upright).save(tmp_path / "photo.webp", lossless=True)
    assert np.array_equal(np.asarray(open_image(tmp_path / "photo.webp")), upright)


# ---------------------------------------------------------------------------------------------- bad files


@pytest.mark.parametrize("in_memory", [False, True])
def test_unreadable_files_stop_the_run_with_one_error_naming_each_before_training(tmp_path, in_memory):
    root = messy_folder(tmp_path / "photos")
    with pytest.raises(BadFilesError) as err:
        build_data(folder_cfg(root, in_memory=in_memory), torch.device("cpu"), seed=0)
    message = str(err.value)
    assert "\n" not in message and message.startswith("2 unreadable image file(s)")
    assert all(str(root / name) in message for name in BAD) and "dataset.skip_bad_files=true" in message
    assert "truncated" in message  # the JPEG whose header reads: a real decode found it


@pytest.mark.parametrize("in_memory", [False, True])
def test_skip_bad_files_trains_on_the_rest_and_lists_them_in_the_summary(tmp_path, in_memory, caplog):
    root = messy_folder(tmp_path / "photos")
    cfg = train_cfg(root, "dataset.skip_bad_files=true", f"dataset.in_memory={str(in_memory).lower()}")
    with caplog.at_level(logging.WARNING, logger="recipes.folder_check"):
        summary = run_training(cfg, tmp_path / "run")
    assert "skipping 2 unreadable image file(s)" in caplog.text
    written = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "complete"
    assert sorted(s["path"] for s in written["skipped_files"]) == sorted(str(root / name) for name in BAD)
    assert all(s["reason"] for s in written["skipped_files"])
    data = build_data(folder_cfg(root, in_memory=in_memory, skip_bad_files=True), torch.device("cpu"), seed=0)
    assert data.num_train + sum(len(y) for _, y in data.eval_batches("test")) == 16  # the readable ones


def test_the_check_is_cached_by_path_size_and_mtime(tmp_path, monkeypatch, image_check_cache):
    root = messy_folder(tmp_path / "photos")
    split = split_folder(root, num_classes=2, val_fraction=0.25)
    files = sorted(p for p, _ in split.train + split.test if p.endswith(".png"))
    decoded = []

    def counting(path, mode="RGB"):
        decoded.append(str(path))
        return open_image(path, mode)

    monkeypatch.setattr(folder_check, "open_image", counting)
    assert set(unreadable(files, root=root, num_workers=0)) == {str(root / BAD[1])}
    assert len(decoded) == len(files) and cache_file(root).parent == image_check_cache
    decoded.clear()
    assert set(unreadable(files, root=root, num_workers=0)) == {str(root / BAD[1])}
    assert decoded == []  # a second run over the same folder decodes nothing
    Image.fromarray(fashion(1)[0]).save(root / BAD[1])  # fixed: new size and mtime
    assert unreadable(files, root=root, num_workers=0) == {} and decoded == [str(root / BAD[1])]


@pytest.mark.parametrize("in_memory", [False, True])
def test_a_file_that_breaks_after_the_check_is_skipped_with_a_warning(tmp_path, in_memory, caplog):
    root = messy_folder(tmp_path / "photos")
    cfg = folder_cfg(root, in_memory=in_memory, skip_bad_files=True)
    build_data(cfg, torch.device("cpu"), seed=0)  # checks and caches every file
    victim = sorted(root.glob("class0/*.png"))[0]
    stat = victim.stat()
    victim.write_bytes(os.urandom(stat.st_size))  # damaged in place: same size, and the mtime put back
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with caplog.at_level(logging.WARNING, logger="recipes.folder"):
        data = build_data(cfg, torch.device("cpu"), seed=0)
        images = sum(len(y) for _, y in data.train_batches(100, torch.Generator().manual_seed(0)))  # one batch
        images += sum(len(y) for _, y in data.eval_batches("test"))
    assert f"skipping unreadable image {victim}" in caplog.text
    assert images == 15  # the 16 readable files less the one that broke, wherever the split put it


# ---------------------------------------------------------------------------------------------- temperature


@pytest.mark.parametrize("in_memory", [False, True])
def test_a_folder_run_with_a_holdout_fits_its_temperature_there(tmp_path, in_memory):
    root = messy_folder(tmp_path / "photos", per_class=12)
    for name in BAD:
        (root / name).unlink()
    cfg = train_cfg(root, "dataset.holdout=0.2", f"dataset.in_memory={str(in_memory).lower()}")
    summary = run_training(cfg, tmp_path / "run")
    assert summary["skipped_files"] == []
    record = evaluate_checkpoint(
        compose_cfg([f"ckpt_path={tmp_path / 'run'}", "trainer.device=cpu"], config_name="eval")
    )
    assert record["ts_split"]["name"] == "holdout" and record["ts_split"]["n"] == 4  # 0.2 of 18 training images
    assert record["temperature"] > 0 and record["ts_split"]["nll_after"] <= record["ts_split"]["nll_before"]
