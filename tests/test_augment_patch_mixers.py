"""ResizeMix and SaliencyMix: the patch is the whole partner resized / the partner's pixels around its saliency
peak, the target weights are the pixel fractions, τ is uniform, and the saliency map is OpenCV's spectral residual.
"""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from augment import ResizeMix, SaliencyMix
from augment import functional as AF

MODES = ["batch", "pair", "elem"]
GREY = torch.tensor([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def planted(
    b: int, h: int, w: int, *, side: int, seed: int, centred: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dim noise images with one bright side × side square each, and the squares' top-left corners (B, 2) (y, x)."""
    g = gen(seed)
    images = 0.2 * torch.rand(b, 3, h, w, generator=g)
    if centred:
        corners = torch.tensor([[(h - side) // 2, (w - side) // 2]] * b)
    else:
        ys, xs = (torch.randint(0, n - side + 1, (b,), generator=g) for n in (h, w))
        corners = torch.stack([ys, xs], dim=1)
    for i, (y, x) in enumerate(corners.tolist()):
        images[i, :, y : y + side, x : x + side] += 1.0
    return images, corners


def torch_resize(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """F.interpolate(bilinear, antialias=True) of a (1, C, H, W) image. torch 2.14.1 on the CPU gets every
    shrinking resize to width 1 wrong (each output row repeats the first: [1, 2, 4] down to 2 rows gives
    [1.375, 1.375], not [1.375, 3.25]); resized transposed, to height 1, it is right (checked on all shapes up
    to 11 x 11), so that case is computed transposed."""
    options = {"mode": "bilinear", "antialias": True, "align_corners": False}
    if width == 1:
        return F.interpolate(image.transpose(2, 3), size=(width, height), **options).transpose(2, 3)
    return F.interpolate(image, size=(height, width), **options)


# ---------------------------------------------------------------- ResizeMix


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 9), st.integers(1, 40), st.integers(1, 40)),
    mode=st.sampled_from(MODES),
    prob=st.sampled_from([0.5, 1.0]),
    scale=st.sampled_from([(0.1, 0.8), (0.5, 1.0), (0.3, 0.3)]),
    seed=st.integers(0, 10**6),
)
def test_resizemix_pastes_the_whole_partner_resized_and_weighs_it_by_its_area(shape, mode, prob, scale, seed):
    b, h, w = shape
    images = torch.rand(b, 3, h, w, generator=gen(seed + 1))
    out, targets = ResizeMix(num_classes=b, scale=scale, prob=prob, mode=mode, generator=gen(seed))(
        images, torch.arange(b)
    )
    partners, boxes = AF.sample_resizemix(b, h, w, scale=scale, prob=prob, mode=mode, generator=gen(seed))
    assert torch.allclose(targets.sum(1), torch.ones(b), atol=1e-6)
    for i in range(b):
        x1, y1, x2, y2 = boxes[i].tolist()
        area = (x2 - x1) * (y2 - y1) / (h * w)
        expected = images[i].clone()
        if area > 0:
            assert partners[i] != i
            assert 0 <= x1 and x2 <= w and 0 <= y1 and y2 <= h  # the whole patch lies inside: never clipped
            for side, length in ((x2 - x1, w), (y2 - y1, h)):  # side = round(τ·length), τ in [low, high]
                assert scale[0] * length - 0.5 <= side <= scale[1] * length + 0.5
            resized = torch_resize(images[partners[i] : partners[i] + 1], y2 - y1, x2 - x1)
            expected[:, y1:y2, x1:x2] = resized[0]
            assert targets[i, partners[i]] == pytest.approx(area, abs=1e-6)
        assert targets[i, i] == pytest.approx(1.0 - area, abs=1e-6)
        assert torch.allclose(out[i], expected, atol=1e-5, rtol=0)  # float32 sums in another order
        outside = torch.ones(h, w, dtype=torch.bool)
        outside[y1:y2, x1:x2] = False
        assert torch.equal(out[i][:, outside], images[i][:, outside])  # untouched bit for bit


def test_resizemix_side_ratio_is_uniform_over_scale_and_position_uniform_where_it_fits():
    n, size = 4000, 1000
    _, boxes = AF.sample_resizemix(n, size, size, scale=(0.1, 0.8), prob=1.0, mode="elem", generator=gen(3))
    sides = (boxes[:, 2:] - boxes[:, :2]).double()
    assert torch.equal(sides[:, 0], sides[:, 1])  # one τ for both sides: the partner's aspect ratio is kept
    assert stats.kstest(sides[:, 0].numpy() / size, stats.uniform(0.1, 0.7).cdf).pvalue > 1e-3
    room = size - sides[:, 0] + 1  # the positions where the patch fits
    assert stats.kstest((boxes[:, 0].double() / room).numpy(), stats.uniform.cdf).pvalue > 1e-3
    assert (boxes[:, 2:] <= size).all() and (boxes[:, :2] >= 0).all()


def test_resizemix_uint8_is_the_float_result_rounded():
    images = torch.randint(0, 256, (8, 3, 30, 20), dtype=torch.uint8, generator=gen(1))
    out, targets = ResizeMix(num_classes=8, mode="elem", generator=gen(2))(images, torch.arange(8))
    exact, exact_targets = ResizeMix(num_classes=8, mode="elem", generator=gen(2))(images.double(), torch.arange(8))
    assert out.dtype == torch.uint8 and torch.equal(targets, exact_targets)
    assert ((out.double() - exact).abs() <= 0.5 + 1e-4).all()  # float32 resampling, float64 reference
    assert ((exact - exact.floor() - 0.5).abs() > 0.2).any()  # the resized pixels are not whole numbers


@pytest.mark.parametrize("mode", MODES)
def test_resizemix_modes_share_the_patch_as_documented(mode):
    b = 8
    _, targets = ResizeMix(num_classes=b, mode=mode, generator=gen(4))(torch.rand(b, 1, 50, 50), torch.arange(b))
    _, boxes = AF.sample_resizemix(b, 50, 50, scale=(0.1, 0.8), prob=1.0, mode=mode, generator=gen(4))
    assert len({tuple(box.tolist()) for box in boxes}) == {"batch": 1, "pair": 4, "elem": 8}[mode]
    assert torch.allclose(targets.diagonal(), 1.0 - AF.box_area_fraction(boxes, 50, 50))


def test_resizemix_rejects_a_bad_scale():
    for scale in [(0.8, 0.1), (0.1, 1.5), (-0.1, 0.5), (0.5,), "ab", (True, 0.5)]:
        with pytest.raises(ValueError, match="scale"):
            ResizeMix(num_classes=3, scale=scale)


# ---------------------------------------------------------------- SaliencyMix


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 9), st.integers(4, 40), st.integers(4, 40)),
    mode=st.sampled_from(MODES),
    prob=st.sampled_from([0.5, 1.0]),
    alpha=st.sampled_from([0.3, 1.0]),
    seed=st.integers(0, 10**6),
)
def test_saliencymix_box_holds_the_partners_saliency_peak_and_lambda_is_the_kept_area(shape, mode, prob, alpha, seed):
    b, h, w = shape
    images, _ = planted(b, h, w, side=max(1, min(h, w) // 6), seed=seed)
    out, targets = SaliencyMix(num_classes=b, alpha=alpha, prob=prob, mode=mode, generator=gen(seed))(
        images, torch.arange(b)
    )
    peaks = AF.saliency_peaks(images)  # (x, y) of each image's own map
    assert torch.allclose(targets.sum(1), torch.ones(b), atol=1e-6)
    for i in range(b):
        changed = (out[i] != images[i]).any(0)
        partner = [j for j in range(b) if j != i and targets[i, j] > 0]
        if not partner:
            assert not changed.any() and targets[i, i] == 1.0
            continue
        (j,) = partner
        rows, cols = changed.nonzero(as_tuple=True)
        assert len(rows) == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)  # one rectangle
        assert torch.equal(out[i][:, changed], images[j][:, changed])  # the partner's pixels, in place
        x, y = peaks[j].tolist()
        assert changed[y, x]  # the box holds the partner's saliency peak
        assert targets[i, i] == pytest.approx(1.0 - changed.double().mean().item(), abs=1e-6)


@pytest.mark.parametrize("size", [32, 64, 224])
def test_saliency_peak_lies_on_the_object(size):
    """One bright square per image on dim noise: the spectral-residual peak is on it or next to it (within a
    quarter of its side plus 2 pixels) in at least 14 of 16 images (the map is blurred, and computed at 64 x 64,
    so it can also pick a corner of the noise)."""
    side = size // 8
    images, corners = planted(16, size, size, side=side, seed=size)
    peaks = AF.saliency_peaks(images).flip(1)  # (y, x)
    outside = (corners - peaks).clamp_min(0) + (peaks - (corners + side - 1)).clamp_min(0)
    near = (outside <= 2 + side // 4).all(dim=1)
    assert near.sum() >= 14


@pytest.mark.parametrize("mode", MODES)
def test_saliencymix_modes_share_lambda_as_documented(mode):
    """Objects in the middle, so no box is clipped: the box size is λ's, shared per batch / pair / none."""
    b = 8
    images, _ = planted(b, 200, 200, side=20, seed=1, centred=True)
    _, targets = SaliencyMix(num_classes=b, mode=mode, generator=gen(5))(images, torch.arange(b))
    own = targets.diagonal()
    assert (own < 1).all()
    assert len(set(own.tolist())) == {"batch": 1, "pair": 4, "elem": 8}[mode]


# ---------------------------------------------------------------- the saliency map


SHAPES = [(3, 32, 32), (1, 28, 28), (3, 224, 224), (3, 40, 24), (3, 64, 64), (1, 100, 130)]
# OpenCV's maps of the images below, written by `python -m tests.test_augment_patch_mixers` where cv2.saliency
# exists: opencv-contrib and opencv-python (which imagecorruptions needs) share the `cv2` folder, so a venv holding
# both may have either one's; the stored maps keep this check on every machine.
REFERENCE = Path(__file__).parent / "data" / "opencv_spectral_residual.pt"


def opencv_saliency():
    """OpenCV's spectral residual of one (C, H, W) float32 RGB or grey image, or None where this cv2 lacks it."""
    try:
        import cv2
    except ImportError:
        return None
    if not hasattr(getattr(cv2, "saliency", None), "StaticSaliencySpectralResidual_create"):
        return None
    if tuple(int(p) for p in cv2.__version__.split(".")[:2]) < (5, 1):
        return None  # takes log(amplitude), before opencv_contrib#4108's log(1 + amplitude)

    def saliency(image):
        array = image.flip(0).permute(1, 2, 0).numpy() if image.shape[0] == 3 else image[0].numpy()  # RGB -> BGR
        ok, result = cv2.saliency.StaticSaliencySpectralResidual_create().computeSaliency(array.copy())
        assert ok
        return torch.from_numpy(result)

    return saliency


def saliency_inputs(shape):
    """Three images of `shape` with a planted object, grey levels spanning 0..255 (where our stretch is the
    identity, so OpenCV's map and ours are the same function of the pixels)."""
    c, h, w = shape
    images, _ = planted(3, h, w, side=max(2, h // 6), seed=h + w)
    images = images[:, :c]
    levels = (images * GREY).sum(1, keepdim=True) if c == 3 else images
    low, high = levels.amin(dim=(1, 2, 3), keepdim=True), levels.amax(dim=(1, 2, 3), keepdim=True)
    return (images - low) * (255.0 / (high - low))


def opencv_maps(shape, images):
    """OpenCV's maps of `images`: computed where cv2.saliency exists (and checked against the stored ones), else
    the stored ones (checked to be of the same images)."""
    stored = torch.load(REFERENCE, weights_only=True)[str(shape)]
    saliency = opencv_saliency()
    if saliency is None:
        assert stored["pixel_sum"] == pytest.approx(images.double().sum().item(), rel=1e-9)  # the same images
        return stored["maps"]
    maps = torch.stack([saliency(image) for image in images])
    torch.testing.assert_close(maps, stored["maps"], rtol=0, atol=1e-5)
    return maps


@pytest.mark.parametrize("shape", SHAPES)
def test_saliency_matches_opencv_spectral_residual(shape):
    images = saliency_inputs(shape)
    ours, reference = AF.spectral_residual_saliency(images), opencv_maps(shape, images)
    for i in range(3):
        assert torch.allclose(ours[i], reference[i], atol=2e-4, rtol=0)  # float32 here, float64 in OpenCV
        x, y = AF.saliency_peaks(images[i : i + 1])[0].tolist()
        assert reference[i, y, x] >= reference[i].max() - 1e-4


def test_saliency_does_not_depend_on_the_pixel_scale():
    images = torch.randint(0, 256, (4, 3, 36, 30), dtype=torch.uint8, generator=gen(2))
    reference = AF.spectral_residual_saliency(images)
    scaled = images.float() / 255.0
    normalised = (scaled - torch.tensor([0.5, 0.4, 0.3]).reshape(1, 3, 1, 1)) / 0.25
    for other in (scaled, normalised, images.double()):
        assert torch.allclose(AF.spectral_residual_saliency(other), reference, atol=1e-4)
    assert (reference >= 0).all() and (reference <= 1).all()


def test_saliency_of_a_constant_image_is_finite():
    maps = AF.spectral_residual_saliency(torch.full((2, 3, 16, 16), 7.0))
    assert torch.isfinite(maps).all()


if __name__ == "__main__":  # write the stored OpenCV maps (needs opencv-contrib-python-headless >= 5.1)
    saliency = opencv_saliency()
    assert saliency is not None, "this cv2 has no spectral residual saliency: install opencv-contrib-python-headless"
    REFERENCE.parent.mkdir(exist_ok=True)
    table = {}
    for shape in SHAPES:
        images = saliency_inputs(shape)
        maps = torch.stack([saliency(image) for image in images])
        table[str(shape)] = {"pixel_sum": images.double().sum().item(), "maps": maps}
    torch.save(table, REFERENCE)
    print(f"wrote {REFERENCE}")
