"""Data: on-disk formats (idx, CIFAR pickles), the batched crop/flip, sharding, subset and holdout."""

import gzip
import pickle

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from recipes import datasets
from recipes.data import InMemoryData, build_data
from recipes.subsets import balanced_subset
from recipes.transforms import Normalisation, random_crop_flip
from tests.conftest import compose_cfg, write_image_folder


def write_idx(path, array: np.ndarray) -> None:
    header = b"\x00\x00\x08" + bytes([array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_fake_cifar(root, name: str, n_train: int, n_test: int, num_classes: int) -> dict:
    """Tiny CIFAR in torchvision's exact pickle layout; returns the arrays written."""
    folder, train_files, test_files, label_key = datasets.CIFAR_FOLDERS[name]
    (root / folder).mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    for split, files, n in (("train", train_files, n_train), ("test", test_files, n_test)):
        parts = []
        for f in files:
            data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
            labels = rng.integers(0, num_classes, n).tolist()
            with open(root / folder / f, "wb") as fh:
                pickle.dump({b"data": data, label_key: labels, b"filenames": [b"x"] * n}, fh)
            parts.append((data, labels))
        written[split] = (np.concatenate([d for d, _ in parts]), sum((lab for _, lab in parts), []))
    return written


def test_idx_reader_roundtrip(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    write_idx(tmp_path / "x.gz", images)
    np.testing.assert_array_equal(datasets.read_idx(tmp_path / "x.gz"), images)


def test_fashion_mnist_from_root_in_idx_format(tmp_path):
    rng = np.random.default_rng(1)
    for split, n in (("train", 20), ("test", 8)):
        img_stem, lab_stem = datasets.FASHION_MNIST_FILES[split]
        write_idx(tmp_path / f"{img_stem}.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(tmp_path / f"{lab_stem}.gz", rng.integers(0, 10, n))
    x, y = datasets.load_fashion_mnist(tmp_path, "test")
    assert x.shape == (8, 1, 28, 28) and x.dtype == torch.uint8 and y.dtype == torch.int64


def test_missing_dataset_names_every_place_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST", tmp_path / "debian")
    with pytest.raises(datasets.DatasetNotFoundError) as err:
        datasets.load_fashion_mnist(tmp_path / "nowhere", "train")
    msg = str(err.value)
    for place in (tmp_path / "nowhere", tmp_path / "debian"):
        assert str(place) in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "dataset.download=true" in msg


@pytest.mark.parametrize("name,classes", [("cifar10", 10), ("cifar100", 100)])
def test_fabricated_cifar_loads_through_the_data_module(tmp_path, name, classes):
    written = write_fake_cifar(tmp_path, name, n_train=6, n_test=4, num_classes=classes)
    cfg = compose_cfg([f"dataset={name}", f"dataset.root={tmp_path}"]).dataset
    data = build_data(cfg, torch.device("cpu"), seed=0)
    n_files = len(datasets.CIFAR_FOLDERS[name][1])
    assert data.num_train == 6 * n_files
    x, y = next(data.eval_batches("test", 100))
    expected = torch.from_numpy(written["test"][0].reshape(-1, 3, 32, 32)).float() / 255
    mean, std = torch.tensor(cfg.mean).view(1, 3, 1, 1), torch.tensor(cfg.std).view(1, 3, 1, 1)
    torch.testing.assert_close(x, (expected - mean) / std)
    assert y.tolist() == written["test"][1]


def test_cifar_missing_says_how_to_download(tmp_path):
    with pytest.raises(datasets.DatasetNotFoundError, match="dataset.download=true"):
        datasets.load_cifar("cifar10", tmp_path, "train")


def test_crop_is_a_window_of_the_zero_padded_image_and_flip_mirrors():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(1, 256, (64, 2, 7, 9), dtype=torch.uint8)  # no zeros, so padding is visible
    out = random_crop_flip(images, padding=3, hflip=True, generator=g)
    padded = torch.nn.functional.pad(images, (3, 3, 3, 3))
    offsets = set()
    for i in range(len(images)):
        matches = [
            (dy, dx, flip)
            for dy in range(7)
            for dx in range(7)
            for flip in (False, True)
            if torch.equal(out[i], (lambda w: w.flip(2) if flip else w)(padded[i, :, dy : dy + 7, dx : dx + 9]))
        ]
        assert matches, f"sample {i} is not a (flipped) window of its padded image"
        offsets.add(matches[0][:2])
    assert len(offsets) > 10  # per-sample offsets, not one for the batch


def test_normalisation_is_per_channel_and_denormalise_inverts_it():
    norm = Normalisation((0.25, 0.5), (0.5, 0.125))
    images = torch.randint(0, 256, (3, 2, 4, 4), dtype=torch.uint8)
    pixels = images.double() / 255
    expected = torch.stack([(pixels[:, 0] - 0.25) / 0.5, (pixels[:, 1] - 0.5) / 0.125], dim=1)
    torch.testing.assert_close(norm.uint8(images).double(), expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(norm.pixels(pixels.float()), norm.uint8(images), rtol=0, atol=1e-5)
    torch.testing.assert_close(norm.denormalise(norm.uint8(images)).double(), pixels, rtol=0, atol=1e-6)
    assert norm.denormalise(torch.full((1, 2, 1, 1), 100.0)).eq(1).all()  # clamped to the pixel range


def test_crop_flip_is_seeded():
    images = torch.randint(0, 256, (16, 1, 8, 8), dtype=torch.uint8)
    a = random_crop_flip(images, 2, True, torch.Generator().manual_seed(3))
    b = random_crop_flip(images, 2, True, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def synthetic(**over):
    cfg = compose_cfg(["dataset=synthetic"]).dataset
    return OmegaConf.merge(cfg, over)


def test_training_batches_cover_the_epoch_and_keep_an_odd_last_batch():
    data = build_data(synthetic(train_size=203), torch.device("cpu"), seed=0)
    g = torch.Generator().manual_seed(0)
    sizes = [len(y) for _, y in data.train_batches(64, g)]
    assert sizes == [64, 64, 64, 11] and len(sizes) == data.steps_per_epoch(64)


@pytest.mark.parametrize(
    "n_train,world_size,sizes",
    [
        (5, 1, [4]),  # 4 + a lone image: dropped (BatchNorm cannot train on one)
        (6, 1, [4, 2]),  # a last batch of 2 is kept
        (5, 2, [2]),  # each rank: 3 images (DistributedSampler pads 5 to 6), batches of 2, lone one dropped
        (7, 2, [2, 2]),
    ],
)
def test_image_folder_batches_keep_the_last_partial_batch_unless_it_is_one_image(tmp_path, n_train, world_size, sizes):
    root = write_image_folder(tmp_path, {"train": [n_train - n_train // 2, n_train // 2], "val": [1, 1]}, size=8)
    cfg = OmegaConf.merge(
        compose_cfg(["dataset=imagefolder"]).dataset,
        {"root": str(root), "num_classes": 2, "img_size": 8, "num_workers": 0},
    )
    for rank in range(world_size):
        data = build_data(cfg, torch.device("cpu"), seed=0, rank=rank, world_size=world_size)
        got = [len(y) for _, y in data.train_batches(4, torch.Generator().manual_seed(0))]
        assert got == sizes and data.steps_per_epoch(4) == len(sizes)


@pytest.mark.parametrize(
    "val_counts,num_classes,message",
    [
        ([1, 1], 3, r"train has 2 class folders but dataset.num_classes=3: pass dataset.num_classes=2"),
        ([1, 1, 1], 2, r"train and .*val hold different class folders \(e.g. \['class2'\]\)"),
    ],
)
def test_image_folder_class_folders_must_match_num_classes_and_each_other(tmp_path, val_counts, num_classes, message):
    root = write_image_folder(tmp_path, {"train": [2, 2], "val": val_counts}, size=8)
    cfg = OmegaConf.merge(
        compose_cfg(["dataset=imagefolder"]).dataset,
        {"root": str(root), "num_classes": num_classes, "img_size": 8, "num_workers": 0},
    )
    with pytest.raises(ValueError, match=message):
        build_data(cfg, torch.device("cpu"), seed=0)


def test_ranks_split_each_global_batch_exactly():
    """Two ranks' shares of every global batch are the single-process batch, cut in two."""
    whole = build_data(synthetic(train_size=200), torch.device("cpu"), seed=0)
    ranks = [build_data(synthetic(train_size=200), torch.device("cpu"), seed=0, rank=r, world_size=2) for r in range(2)]
    single = list(whole.train_batches(64, torch.Generator().manual_seed(5)))
    shards = [list(d.train_batches(64, torch.Generator().manual_seed(5))) for d in ranks]
    assert len(single) == len(shards[0]) == len(shards[1])
    for (x, y), (x0, y0), (x1, y1) in zip(single, *shards, strict=True):
        assert torch.equal(torch.cat([x0, x1]), x) and torch.equal(torch.cat([y0, y1]), y)


def test_subset_and_seeded_holdout():
    data = build_data(synthetic(train_size=300, subset=100, holdout=0.2), torch.device("cpu"), seed=7)
    again = build_data(synthetic(train_size=300, subset=100, holdout=0.2), torch.device("cpu"), seed=7)
    assert data.num_train == 80 and torch.equal(data.holdout_indices, again.holdout_indices)
    ((_, y_hold),) = list(data.eval_batches("holdout", 1000))
    assert len(y_hold) == 20


def test_synthetic_classes_are_learnable_from_templates():
    """Nearest class-mean on train predicts test far above chance: the set has structure to learn."""
    data = build_data(synthetic(noise=0.35), torch.device("cpu"), seed=0)
    ((x, y),) = list(data.eval_batches("train", 10_000))
    ((xt, yt),) = list(data.eval_batches("test", 10_000))
    means = torch.stack([x[y == k].mean(0) for k in range(10)]).flatten(1)
    pred = torch.cdist(xt.flatten(1), means).argmin(1)
    assert (pred == yt).float().mean() > 0.9


@pytest.mark.parametrize("n", [100, 103])
def test_balanced_subset_holds_each_class_equally_and_depends_on_the_seed(n):
    labels = torch.randint(0, 10, (2000,), generator=torch.Generator().manual_seed(0))
    picked = balanced_subset(labels, n, 10, seed=1)
    expected = torch.tensor([n // 10 + (c < n % 10) for c in range(10)])
    assert torch.equal(torch.bincount(labels[picked], minlength=10), expected)
    assert len(set(picked.tolist())) == n and torch.equal(picked, picked.sort().values)
    assert torch.equal(picked, balanced_subset(labels, n, 10, seed=1))
    assert not torch.equal(picked, balanced_subset(labels, n, 10, seed=2))


def test_balanced_subset_refuses_a_class_with_too_few_images():
    labels = torch.tensor([0] * 50 + [1] * 3)
    with pytest.raises(ValueError, match="class 1, which has 3"):
        balanced_subset(labels, 20, 2, seed=0)


def test_in_memory_data_takes_the_balanced_subset():
    cfg = compose_cfg(["dataset=synthetic", "dataset.subset=60", "dataset.subset_balanced=true"]).dataset
    data = InMemoryData(cfg, torch.device("cpu"), seed=0)
    assert torch.equal(torch.bincount(data._train[1], minlength=10), torch.full((10,), 6))


def test_cifar_missing_is_one_line_from_train_py(tmp_path):
    """train.py prints it as it prints config errors: one line, no traceback (tested offline: nothing downloads)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    command = [sys.executable, str(ROOT / "train.py"), "dataset=cifar10", f"dataset.root={tmp_path}"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    errors = [line for line in done.stderr.splitlines() if "cifar10 not found" in line]
    assert done.returncode == 1 and "Traceback" not in done.stderr and len(errors) == 1
    assert f"dataset.root={tmp_path} dataset.download=true" in errors[0] and "cifar-10-batches-py" in errors[0]


@pytest.mark.parametrize("name", ["fashion_mnist", "cifar10"])
def test_a_download_without_network_is_one_line_saying_what_to_do(tmp_path, monkeypatch, name):
    import urllib.error

    import torchvision.datasets

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST", tmp_path / "debian")
    monkeypatch.setattr(torchvision.datasets.utils, "urlopen", no_network, raising=False)
    for cls in ("FashionMNIST", "CIFAR10"):
        monkeypatch.setattr(getattr(torchvision.datasets, cls), "download", no_network)
    with pytest.raises(datasets.DatasetNotFoundError) as err:
        build_data(
            compose_cfg([f"dataset={name}", f"dataset.root={tmp_path}", "dataset.download=true"]).dataset,
            torch.device("cpu"),
            seed=0,
        )
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{name}: dataset.download=true but the download")
    assert "Temporary failure in name resolution" in message and "on a machine with network" in message
