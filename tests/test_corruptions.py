"""The 15 common corruptions (recipes/corruptions.py): range, seeding, severities monotone in their parameters,
and agreement with the `imagecorruptions` package (Michaelis et al. 2019) where the corruption is deterministic."""

import numpy as np
import pytest
import torch

from recipes.corruptions import CIFAR_PARAMS, CORRUPTIONS, SEVERITIES, corrupt


def smooth_images(n=16, channels=1, size=28, seed=0):
    """Natural-ish images: a few smooth random blobs on a mid-grey background, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    coords = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    images = torch.full((n, channels, size, size), 0.3)
    for _ in range(4):
        centre = torch.rand(n, channels, 2, generator=g) * 1.4 - 0.7
        width = torch.rand(n, channels, 1, 1, generator=g) * 0.3 + 0.15
        blob = torch.exp(-((yy - centre[..., 0, None, None]) ** 2 + (xx - centre[..., 1, None, None]) ** 2) / width**2)
        images = images + 0.5 * torch.rand(n, channels, 1, 1, generator=g) * blob
    return images.clamp(0, 1)


def change(name, severity, x, params=None, seed=0):
    out = corrupt(x, name, severity, torch.Generator().manual_seed(seed), params=params)
    return float((out - x).abs().mean())


@pytest.mark.parametrize("channels", [1, 3])
def test_every_corruption_keeps_range_and_shape_and_repeats_with_the_seed(channels):
    x = smooth_images(4, channels, 28)
    for name in CORRUPTIONS:
        a = corrupt(x, name, 3, torch.Generator().manual_seed(1))
        b = corrupt(x, name, 3, torch.Generator().manual_seed(1))
        assert a.shape == x.shape and 0 <= float(a.min()) and float(a.max()) <= 1, name
        assert torch.equal(a, b), name


# The published CIFAR-10-C severities raise every parameter of these together, so the mean change grows.
# Pixelate's mean change depends on where the block edges fall (aliasing), so its test counts repeated pixels.
MONOTONE = [n for n in CORRUPTIONS if n not in ("glass_blur", "frost", "elastic_transform", "pixelate")]


@pytest.mark.parametrize("name", MONOTONE)
def test_mean_change_grows_with_severity(name):
    x = smooth_images(32, 1, 28)
    changes = [change(name, s, x) for s in SEVERITIES]
    if name == "motion_blur":  # severities 3 and 4 differ only in a kernel radius past 3 sigma: (6, 2) vs (8, 2)
        assert changes[3] >= changes[2] - 1e-6 and changes[0] < changes[1] < changes[2] < changes[4], changes
        return
    assert all(a < b for a, b in zip(changes, changes[1:], strict=False)), changes


def test_pixelate_repeats_more_pixels_with_severity():
    x = smooth_images(8, 1, 28)
    g = torch.Generator().manual_seed(0)
    repeated = [float((corrupt(x, "pixelate", s, g).diff(dim=-1) == 0).float().mean()) for s in SEVERITIES]
    assert all(a < b for a, b in zip(repeated, repeated[1:], strict=False)), repeated


def test_glass_frost_elastic_are_monotone_in_each_parameter():
    """Their published severities trade parameters (frost lowers the image's weight as it raises the frost's,
    elastic trades the affine jitter for local displacement, glass blur's sigma smooths what its shifts move),
    so the test holds all but one parameter fixed."""
    x = smooth_images(32, 1, 28)
    glass = [change("glass_blur", 1, x, params=(0.4, 1, k)) for k in (1, 2, 3)]
    frost = [change("frost", 1, x, params=(1, w)) for w in (0.2, 0.3, 0.4, 0.45)]
    elastic = [change("elastic_transform", 1, x, params=(0, 0, j)) for j in (0.02, 0.05, 0.08)]
    shake = [change("elastic_transform", 1, x, params=(a, 0.04, 0)) for a in (0.02, 0.05, 0.1)]
    for values in (glass, frost, elastic, shake):
        assert all(a < b for a, b in zip(values, values[1:], strict=False)), values


def test_noise_statistics_match_their_parameters():
    x = torch.full((64, 1, 28, 28), 0.5)
    g = torch.Generator().manual_seed(0)
    for severity, std in zip(SEVERITIES, CIFAR_PARAMS["gaussian_noise"], strict=True):
        assert float((corrupt(x, "gaussian_noise", severity, g) - x).std()) == pytest.approx(std, rel=0.03)
    for severity, photons in zip(SEVERITIES, CIFAR_PARAMS["shot_noise"], strict=True):
        noisy = corrupt(x, "shot_noise", severity, g)  # Poisson(0.5 p) / p: variance 0.5 / p
        assert float(noisy.var()) == pytest.approx(0.5 / photons, rel=0.05)
    for severity, amount in zip(SEVERITIES, CIFAR_PARAMS["impulse_noise"], strict=True):
        assert float((corrupt(x, "impulse_noise", severity, g) != x).float().mean()) == pytest.approx(amount, rel=0.1)


# ------------------------------------------------------------------------- against imagecorruptions

SIZE = 32


def _reference(name, severity, images_uint8):
    ic = pytest.importorskip("imagecorruptions")  # the dev extra
    np.random.seed(severity)
    out = [
        np.asarray(ic.corrupt(img, corruption_name=name, severity=severity), dtype=np.float64) for img in images_uint8
    ]
    return torch.tensor(np.stack(out), dtype=torch.float32).permute(0, 3, 1, 2) / 255


def _theirs_vs_ours(name, params_by_severity):
    x = (smooth_images(6, 3, SIZE, seed=2) * 255).round() / 255
    images = (x.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
    for severity, params in zip(SEVERITIES, params_by_severity, strict=True):
        theirs = _reference(name, severity, images)
        ours = corrupt(x, name, severity, torch.Generator().manual_seed(0), params=params, reference_size=SIZE)
        yield severity, x, theirs, ours


# imagecorruptions' own (ImageNet-sized) parameters, from its corruptions.py
DETERMINISTIC = {
    "brightness": ((0.1, 0.2, 0.3, 0.4, 0.5), 2 / 255),
    "contrast": ((0.4, 0.3, 0.2, 0.1, 0.05), 2 / 255),
    "defocus_blur": (((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)), 0.03),
    "jpeg_compression": ((25, 18, 15, 10, 7), 0.03),
    "pixelate": ((0.6, 0.5, 0.4, 0.3, 0.25), 0.04),
}


@pytest.mark.parametrize("name", sorted(DETERMINISTIC))
def test_deterministic_corruptions_match_imagecorruptions(name):
    params, tolerance = DETERMINISTIC[name]
    for severity, _, theirs, ours in _theirs_vs_ours(name, params):
        assert float((theirs - ours).abs().mean()) < tolerance, (name, severity)


RANDOM = {
    "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
    "shot_noise": (60, 25, 12, 5, 3),
    "impulse_noise": (0.03, 0.06, 0.09, 0.17, 0.27),
    "zoom_blur": tuple(
        tuple(np.arange(1, s, d).tolist())
        for s, d in ((1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03))
    ),
    "motion_blur": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
}


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_corruptions_change_images_as_much_as_imagecorruptions(name):
    """Random draws differ, so compare the mean absolute change per severity (within 30 %)."""
    for severity, x, theirs, ours in _theirs_vs_ours(name, RANDOM[name]):
        expected, got = float((theirs - x).abs().mean()), float((ours - x).abs().mean())
        assert got == pytest.approx(expected, rel=0.3), (name, severity, expected, got)
