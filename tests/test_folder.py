"""Image folders: both layouts, the seeded stratified split, clear errors naming the path, and the in-memory path's
batched random-resized crop (its box distribution against torchvision's, its resampling on a linear image)."""

from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf
from scipy import stats
from torchvision.transforms import RandomResizedCrop

from recipes.data import build_data
from recipes.folder import crop_boxes, resized_crop_boxes, split_folder, stored_size
from recipes.transforms import random_hflip
from tests.conftest import compose_cfg, write_class_folder, write_image_folder


def folder_cfg(root, **over):
    base = compose_cfg(["dataset=imagefolder"]).dataset
    return OmegaConf.merge(base, {"root": str(root), "img_size": 8, "num_workers": 0, **over})


def test_a_class_folder_alone_is_split_stratified_and_the_same_for_every_run(tmp_path):
    root = write_class_folder(tmp_path, [10, 5, 3], size=8)
    split = split_folder(root, num_classes=3, val_fraction=0.2)
    again = split_folder(root, num_classes=3, val_fraction=0.2)
    assert split == again and split.classes == ["class0", "class1", "class2"]
    val_counts = [sum(label == k for _, label in split.test) for k in range(3)]
    assert val_counts == [2, 1, 1]  # round(0.2 n), at least one, never the whole class
    assert not {p for p, _ in split.train} & {p for p, _ in split.test}
    assert len(split.train) + len(split.test) == 18
    assert all(f"class{label}" in path for path, label in split.train + split.test)
    seeds = [build_data(folder_cfg(root, num_classes=3), torch.device("cpu"), seed=s) for s in (0, 5)]
    labels = [torch.cat([y for _, y in d.eval_batches("test")]) for d in seeds]
    assert torch.equal(labels[0], labels[1]) and labels[0].tolist() == [0, 0, 1, 2]


def test_both_paths_serve_the_same_validation_images(tmp_path):
    """Decoded once and centre-cropped on the device, or decoded by a worker each epoch: the same pixels."""
    root = write_image_folder(tmp_path, {"train": [3, 3], "val": [2, 2]}, size=16)
    workers = build_data(folder_cfg(root, num_classes=2), torch.device("cpu"), seed=0)
    data = build_data(folder_cfg(root, num_classes=2, in_memory=True), torch.device("cpu"), seed=0)
    (x, y), (xw, yw) = next(data.eval_batches("test", 8)), next(workers.eval_batches("test", 8))
    assert x.shape == (4, 3, 8, 8) and torch.equal(y, yw) and y.tolist() == [0, 0, 1, 1]
    torch.testing.assert_close(x, xw)


def test_in_memory_folder_stores_the_resize_and_trains_on_random_resized_crops(tmp_path):
    root = write_class_folder(tmp_path, [6, 6], size=20)
    data = build_data(folder_cfg(root, num_classes=2, in_memory=True, img_size=12), torch.device("cpu"), seed=0)
    assert data._train[0].shape == (10, 3, stored_size(12), stored_size(12)) and stored_size(12) == 14
    assert data._train[0].dtype == torch.uint8
    batches = list(data.train_batches(4, torch.Generator().manual_seed(0)))
    assert [x.shape for x, _ in batches] == [(4, 3, 12, 12)] * 2 + [(2, 3, 12, 12)]
    assert sorted(torch.cat([y for _, y in batches]).tolist()) == [0] * 5 + [1] * 5


def broken(root):
    (root / "class1" / "broken.jpg").write_bytes(b"not a jpeg")
    return root / "class1" / "broken.jpg"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: write_class_folder(root, [3]), r"holds one class folder \(class0\)"),
        (lambda root: write_class_folder(root, [3, 0, 2]), r"class folders without images .*class1"),
        (lambda root: write_class_folder(root, [3, 1]), r"class1 holds one image"),
        (lambda root: (root / "a.jpg").parent.mkdir(parents=True), "holds no class folders"),
        (lambda root: write_image_folder(root, {"train": [2, 2]}), "has train/ but no val/"),
    ],
)
def test_bad_folders_fail_naming_the_path(tmp_path, make, message):
    root = tmp_path / "images"
    make(root)
    with pytest.raises(ValueError, match=message) as err:
        split_folder(root, num_classes=2, val_fraction=0.2)
    assert str(root) in str(err.value)


@pytest.mark.parametrize("in_memory", [False, True])
def test_an_unreadable_image_is_named(tmp_path, in_memory):
    root = write_class_folder(tmp_path / "images", [4, 4], size=8)
    path = broken(root)
    cfg = folder_cfg(root, num_classes=2, in_memory=in_memory, val_fraction=0.1)
    with pytest.raises(ValueError, match=f"1 unreadable image file.*: {path} "):
        build_data(cfg, torch.device("cpu"), seed=0)  # every file is decoded once before training, both paths


def test_bad_val_fraction_and_missing_root_are_refused(tmp_path):
    write_class_folder(tmp_path, [3, 3])
    with pytest.raises(ValueError, match=r"dataset.val_fraction=1.0 must be in \(0, 1\)"):
        split_folder(tmp_path, num_classes=2, val_fraction=1.0)
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        split_folder(tmp_path / "nowhere", num_classes=2, val_fraction=0.2)


# ---------------------------------------------------------------------------------------------- the crop


def test_crop_boxes_follow_torchvision_random_resized_crop():
    """Area fraction, log aspect ratio and position: two-sample KS tests against torchvision's own sampler."""
    n, side = 4000, 256
    boxes = resized_crop_boxes(n, side, side, generator=torch.Generator().manual_seed(0))
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert (boxes >= 0).all() and (boxes <= side).all()
    torch.manual_seed(0)
    reference = torch.tensor(
        [RandomResizedCrop.get_params(torch.empty(1, side, side), (0.08, 1.0), (3 / 4, 4 / 3)) for _ in range(n)],
        dtype=torch.float64,
    )  # (top, left, h, w)
    ref_h, ref_w = reference[:, 2], reference[:, 3]
    for ours, theirs in [((w * h) / side**2, (ref_w * ref_h) / side**2), ((w / h).log(), (ref_w / ref_h).log())]:
        assert stats.ks_2samp(ours.numpy(), theirs.numpy()).pvalue > 1e-3
    assert stats.kstest((boxes[:, 0] / (side - w)).numpy(), "uniform").pvalue > 1e-3
    assert (w * h / side**2).min() >= 0.08 - 1e-6 and (w / h).log().abs().max() <= math.log(4 / 3) + 1e-6


def test_boxes_fit_a_wide_image_and_fall_back_to_the_whole_image():
    boxes = resized_crop_boxes(500, 20, 200, generator=torch.Generator().manual_seed(1))
    assert (boxes[:, [0, 2]] <= 200).all() and (boxes[:, [1, 3]] <= 20).all() and (boxes >= 0).all()
    whole = resized_crop_boxes(50, 10, 10, generator=torch.Generator().manual_seed(1), scale=(2.0, 3.0))
    assert torch.equal(whole, torch.tensor([[0.0, 0.0, 10.0, 10.0]]).expand(50, 4))


def test_crop_resamples_a_linear_image_exactly():
    """On I(y, x) = 2 (x + 1/2) + 3 (y + 1/2) (pixel centres at half-integers), every output pixel is I at its
    bin centre, for boxes of any size and position inside the image."""
    side = 32
    ys, xs = torch.meshgrid(torch.arange(side) + 0.5, torch.arange(side) + 0.5, indexing="ij")
    image = (2 * xs + 3 * ys)[None, None].expand(3, 2, side, side)
    boxes = torch.tensor([[1.0, 1.0, 31.0, 31.0], [2.5, 7.25, 12.5, 29.0], [10.0, 3.0, 13.0, 5.0]])
    out = crop_boxes(image, boxes, size=8)
    centre = (torch.arange(8) + 0.5) / 8
    for i, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
        expected = 2 * (x0 + centre * (x1 - x0))[None, :] + 3 * (y0 + centre * (y1 - y0))[:, None]
        torch.testing.assert_close(out[i, 0], expected, rtol=0, atol=1e-3)
        torch.testing.assert_close(out[i, 1], expected, rtol=0, atol=1e-3)


def test_flip_mirrors_about_half_of_the_batch():
    images = torch.rand(400, 1, 2, 5)
    out = random_hflip(images, True, torch.Generator().manual_seed(0))
    same = (out == images).flatten(1).all(1)
    mirrored = (out == images.flip(3)).flatten(1).all(1)
    assert (same | mirrored).all() and not (same & mirrored).any()
    assert stats.binomtest(int(mirrored.sum()), 400, 0.5).pvalue > 1e-3
    assert torch.equal(random_hflip(images, False, torch.Generator()), images)


@pytest.mark.parametrize("in_memory", [False, True])
def test_a_folder_subset_is_drawn_by_the_seed_not_the_first_classes(tmp_path, in_memory):
    """The files are listed class by class: subset=N takes N of them by the seed (every class can appear), or
    with subset_balanced N / num_classes of each class."""
    root = write_class_folder(tmp_path, [10, 10, 10], size=8)  # 8 training images per class

    def subset_labels(seed, **over):
        cfg = folder_cfg(root, num_classes=3, subset=9, in_memory=in_memory, **over)
        data = build_data(cfg, torch.device("cpu"), seed=seed)
        return sorted(torch.cat([y for _, y in data.train_batches(9, torch.Generator().manual_seed(0))]).tolist())

    drawn = [subset_labels(seed) for seed in range(4)]
    assert all(len(labels) == 9 for labels in drawn)
    assert all(labels != [0] * 8 + [1] for labels in drawn)  # the first 9 files: class 0 and one of class 1
    assert any(2 in labels for labels in drawn)
    assert drawn[0] == subset_labels(0) and len({tuple(d) for d in drawn}) > 1
    assert subset_labels(3, subset_balanced=True) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
