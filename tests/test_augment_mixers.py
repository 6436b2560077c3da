"""The mixer classes: targets match pixels, modes, prob, dtypes, reproducibility, MixChoice.

Trick used throughout: with labels = arange(B) and num_classes = B, row i of the targets says exactly which
images sample i was built from and with what weight; with *coordinate images* (pixel value = its own
batch index · H·W + its position) every output pixel says where it came from.
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from augment import METHODS, RICAP, CutMix, Cutout, FMix, MixChoice, Mixup, NoMix
from augment import functional as AF

MODES = ["batch", "pair", "elem"]
REGION_MIXERS = {"cutmix": CutMix, "fmix": FMix, "ricap": RICAP}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def coordinate_images(b: int, h: int, w: int, channels: int = 2) -> torch.Tensor:
    """float64 images whose pixel value encodes (batch index, row, column); every channel the same."""
    codes = torch.arange(b * h * w, dtype=torch.float64).reshape(b, 1, h, w)
    return codes.expand(b, channels, h, w).contiguous()


def origin(out: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(source image, source position) of each pixel of a coordinate-image batch (first channel)."""
    codes = out[:, 0].round().long()
    return codes // (h * w), codes % (h * w)


shapes = st.tuples(st.integers(1, 9), st.integers(1, 13), st.integers(1, 13))


# ---------------------------------------------------------------- targets equal pixel fractions


@settings(max_examples=60, deadline=None)
@given(
    shape=shapes,
    name=st.sampled_from(sorted(REGION_MIXERS)),
    mode=st.sampled_from(MODES),
    alpha=st.sampled_from([0.2, 1.0, 3.0]),
    prob=st.sampled_from([0.5, 1.0]),
    seed=st.integers(0, 10**6),
)
def test_region_mixers_targets_equal_pixel_fractions(shape, name, mode, alpha, prob, seed):
    b, h, w = shape
    if name == "ricap" and mode == "pair":
        mode = "elem"
    mixer = REGION_MIXERS[name](num_classes=b, alpha=alpha, prob=prob, mode=mode, generator=gen(seed))
    images = coordinate_images(b, h, w)
    out, targets = mixer(images, torch.arange(b))
    assert out.shape == images.shape and out.dtype == images.dtype
    assert torch.equal(out[:, 0], out[:, 1])  # channels move together
    source, _ = origin(out, h, w)
    fractions = torch.stack([(source == j).double().mean(dim=(1, 2)) for j in range(b)], dim=1)
    assert torch.allclose(targets.double(), fractions, atol=1e-6, rtol=0)  # exact up to float32 weights
    assert torch.allclose(targets.sum(1), torch.ones(b), atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    shape=shapes,
    name=st.sampled_from(["cutmix", "fmix"]),
    mode=st.sampled_from(MODES),
    seed=st.integers(0, 10**6),
)
def test_cutmix_and_fmix_paste_in_place_from_the_partner(shape, name, mode, seed):
    """Every pixel keeps its position and comes from the sample itself or from its one partner."""
    b, h, w = shape
    out, targets = REGION_MIXERS[name](num_classes=b, mode=mode, generator=gen(seed))(
        coordinate_images(b, h, w), torch.arange(b)
    )
    source, position = origin(out, h, w)
    assert torch.equal(position, torch.arange(h * w).reshape(1, h, w).expand(b, h, w))
    for i in range(b):
        assert len(set(source[i].unique().tolist()) - {i}) <= 1
    used = [set((targets[i] > 0).nonzero().flatten().tolist()) - {i} for i in range(b)]
    for i in range(b):  # pairs are symmetric: if i takes from j, j can only take from i
        for j in used[i]:
            assert used[j] <= {i}


@settings(max_examples=30, deadline=None)
@given(shape=shapes, mode=st.sampled_from(MODES), seed=st.integers(0, 10**6))
def test_cutmix_region_is_one_rectangle(shape, mode, seed):
    b, h, w = shape
    out, _ = CutMix(num_classes=b, mode=mode, generator=gen(seed))(coordinate_images(b, h, w), torch.arange(b))
    source, _ = origin(out, h, w)
    for i in range(b):
        rows, cols = (source[i] != i).nonzero(as_tuple=True)
        if len(rows):
            box_area = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
            assert box_area == len(rows)


@settings(max_examples=30, deadline=None)
@given(shape=shapes, mode=st.sampled_from(["batch", "elem"]), seed=st.integers(0, 10**6))
def test_ricap_quadrants_are_crops_of_its_draws(shape, mode, seed):
    """The output is the four crops cut by plain slicing at the mixer's own draws (reproduced from the seed)."""
    b, h, w = shape
    images = coordinate_images(b, h, w)
    out, targets = RICAP(num_classes=b, alpha=0.5, prob=0.7, mode=mode, generator=gen(seed))(images, torch.arange(b))
    sources, corner, offsets = AF.sample_ricap(b, h, w, alpha=0.5, prob=0.7, mode=mode, generator=gen(seed))
    expected = torch.empty_like(images)
    for i in range(b):
        ch, cw = corner[i].tolist()
        for q, (r0, r1, c0, c1) in enumerate([(0, ch, 0, cw), (0, ch, cw, w), (ch, h, 0, cw), (ch, h, cw, w)]):
            oy, ox = offsets[i, q].tolist()
            expected[i, :, r0:r1, c0:c1] = images[sources[i, q], :, oy : oy + r1 - r0, ox : ox + c1 - c0]
    assert torch.equal(out, expected)


@settings(max_examples=40, deadline=None)
@given(
    shape=shapes,
    mode=st.sampled_from(MODES),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    alpha=st.sampled_from([0.2, 1.0]),
    seed=st.integers(0, 10**6),
)
def test_mixup_is_the_convex_combination_of_its_target(shape, mode, dtype, alpha, seed):
    b, h, w = shape
    images = torch.randn(b, 3, h, w, generator=gen(seed), dtype=dtype)
    out, targets = Mixup(num_classes=b, alpha=alpha, mode=mode, generator=gen(seed))(images, torch.arange(b))
    expected = torch.einsum("ij,jchw->ichw", targets.to(dtype), images)
    assert out.dtype == dtype
    assert torch.allclose(out, expected, atol=1e-5, rtol=1e-5)
    assert torch.allclose(targets.sum(1), torch.ones(b), atol=1e-6)
    assert ((targets > 0).sum(1) <= 2).all()


def test_mixup_uint8_rounds_to_nearest():
    images = torch.randint(0, 256, (8, 3, 5, 7), dtype=torch.uint8, generator=gen(1))
    out, targets = Mixup(num_classes=8, mode="elem", generator=gen(2))(images, torch.arange(8))
    exact = torch.einsum("ij,jchw->ichw", targets.double(), images.double())
    assert out.dtype == torch.uint8
    assert ((out.double() - exact).abs() <= 0.5 + 1e-4).all()  # truncation would be off by up to 1
    assert ((exact - exact.floor()) > 0.6).any()  # the check above is not vacuous


# ---------------------------------------------------------------- modes


def pasted_masks(name, mode, b=8, h=16, w=12, seed=3):
    mixer = REGION_MIXERS[name](num_classes=b, mode=mode, generator=gen(seed))
    out, targets = mixer(coordinate_images(b, h, w), torch.arange(b))
    source, _ = origin(out, h, w)
    return source != torch.arange(b).reshape(b, 1, 1), targets


@pytest.mark.parametrize("name", ["cutmix", "fmix"])
def test_batch_mode_shares_one_region(name):
    masks, _ = pasted_masks(name, "batch")
    assert masks[0].any()
    assert all(torch.equal(m, masks[0]) for m in masks)


@pytest.mark.parametrize("name", ["cutmix", "fmix"])
def test_pair_mode_shares_the_region_within_pairs(name):
    masks, targets = pasted_masks(name, "pair")
    partners = [(row > 0).nonzero().flatten().tolist() for row in targets]
    for i, used in enumerate(partners):
        j = [k for k in used if k != i][0]
        assert torch.equal(masks[i], masks[j])
    assert len({tuple(m.flatten().tolist()) for m in masks}) == 4


@pytest.mark.parametrize("name", ["cutmix", "fmix"])
def test_elem_mode_draws_per_sample(name):
    masks, _ = pasted_masks(name, "elem")
    assert len({tuple(m.flatten().tolist()) for m in masks}) == 8


@pytest.mark.parametrize("mode", MODES)
def test_mixup_modes_share_lambda_as_documented(mode):
    _, targets = Mixup(num_classes=8, mode=mode, generator=gen(4))(torch.randn(8, 1, 2, 2), torch.arange(8))
    own = targets.diagonal()
    distinct = len(set(own.tolist()))
    assert distinct == {"batch": 1, "pair": 4, "elem": 8}[mode]


@pytest.mark.parametrize("name", sorted(METHODS))
@pytest.mark.parametrize("batch_size", [1, 3])
def test_odd_batches_and_single_samples(name, batch_size):
    mixer = METHODS[name](num_classes=5, generator=gen(0))
    labels = torch.arange(batch_size)
    out, targets = mixer(torch.rand(batch_size, 3, 6, 9), labels)
    assert out.shape == (batch_size, 3, 6, 9) and targets.shape == (batch_size, 5)
    assert torch.allclose(targets.sum(1), torch.ones(batch_size))
    if batch_size == 1:
        assert torch.equal(targets, torch.nn.functional.one_hot(labels, 5).float())


# ---------------------------------------------------------------- prob and alpha


@pytest.mark.parametrize("name", sorted(METHODS))
def test_prob_zero_returns_inputs_and_one_hot(name):
    images, labels = torch.rand(6, 3, 8, 8), torch.tensor([0, 1, 2, 3, 4, 4])
    out, targets = METHODS[name](num_classes=5, prob=0.0, generator=gen(0))(images, labels)
    assert out is images
    assert torch.equal(targets, torch.nn.functional.one_hot(labels, 5).float())


@pytest.mark.parametrize("name", ["mixup", "cutmix", "fmix", "cutout"])
def test_prob_is_the_fraction_of_mixed_samples(name):
    kwargs = {} if name == "cutout" else {"mode": "elem"}
    mixer = METHODS[name](num_classes=64, prob=0.25, generator=gen(5), **kwargs)
    images = torch.rand(64, 1, 16, 16) + 1.0  # positive everywhere, so Cutout's zeros are visible
    changed = 0
    for _ in range(20):
        out, _ = mixer(images, torch.arange(64))
        changed += (out != images).flatten(1).any(1).sum().item()
    assert abs(changed / (20 * 64) - 0.25) < 0.05


@pytest.mark.parametrize("name", ["mixup", "fmix", "ricap"])
def test_tiny_alpha_mixes_all_or_nothing(name):
    mixer = METHODS[name](num_classes=16, alpha=1e-4, mode="elem", generator=gen(6))
    _, targets = mixer(torch.rand(16, 1, 8, 8), torch.arange(16))
    weights = targets[targets > 0]
    assert ((weights > 1 - 1e-6) | (weights < 1e-6)).float().mean() > 0.95


def test_tiny_alpha_cutmix_boxes_are_empty_or_full_size():
    """λ ∈ {0, 1}: no box, or a full-size box that, centred anywhere, covers a corner quarter or more."""
    b, h, w = 64, 8, 10
    out, targets = CutMix(num_classes=b, alpha=1e-4, mode="elem", generator=gen(6))(
        coordinate_images(b, h, w), torch.arange(b)
    )
    source, _ = origin(out, h, w)
    pasted = source != torch.arange(b).reshape(b, 1, 1)
    mixed = pasted.any(dim=(1, 2))
    assert 0 < mixed.sum() < b
    corner = (pasted[:, 0].any(1) | pasted[:, -1].any(1)) & (pasted[:, :, 0].any(1) | pasted[:, :, -1].any(1))
    assert (targets.diagonal()[mixed] <= 0.75).all() and corner[mixed].all()


# ---------------------------------------------------------------- dtypes, shapes, reproducibility


@pytest.mark.parametrize("name", sorted(METHODS))
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtype_is_kept(name, dtype):
    images = (torch.rand(4, 3, 7, 10) * 255).to(dtype)
    out, targets = METHODS[name](num_classes=4, generator=gen(0))(images, torch.arange(4))
    assert out.dtype == dtype and out.shape == images.shape
    assert targets.dtype == torch.float32


@pytest.mark.parametrize("name", sorted(METHODS))
def test_same_seed_same_output_and_reseeding_repeats(name):
    images, labels = torch.rand(8, 3, 12, 10), torch.randint(0, 4, (8,))
    a = METHODS[name](num_classes=4, generator=gen(7))(images, labels)
    mixer = METHODS[name](num_classes=4, generator=gen(7))
    b = mixer(images, labels)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    mixer.generator.manual_seed(7)  # the training loop reseeds the generator every epoch
    c = mixer(images, labels)
    assert torch.equal(a[0], c[0]) and torch.equal(a[1], c[1])
    if name != "none":
        d = mixer(images, labels)
        assert not torch.equal(a[0], d[0])


def test_default_generator_is_private_and_seeded_from_torch():
    images, labels = torch.rand(8, 3, 12, 10), torch.arange(8)
    torch.manual_seed(11)
    first = CutMix(num_classes=8, mode="elem")
    torch.manual_seed(11)
    second = CutMix(num_classes=8, mode="elem")
    torch.rand(100)  # using the global RNG in between does not change the mixer's draws
    assert torch.equal(first(images, labels)[0], second(images, labels)[0])
    assert first.generator is not torch.default_generator


def test_non_contiguous_and_channels_last_inputs():
    images = torch.rand(6, 3, 9, 11).to(memory_format=torch.channels_last)
    out, _ = CutMix(num_classes=6, mode="elem", generator=gen(1))(images, torch.arange(6))
    reference, _ = CutMix(num_classes=6, mode="elem", generator=gen(1))(images.contiguous(), torch.arange(6))
    assert torch.equal(out, reference)


# ---------------------------------------------------------------- Cutout and NoMix


def test_cutout_holes_have_the_size_and_fill():
    images = torch.rand(32, 3, 20, 24) + 1.0
    out, targets = Cutout(num_classes=32, size=6, generator=gen(2))(images, torch.arange(32))
    assert torch.equal(targets, torch.eye(32))
    holes = out[:, 0] == 0
    assert torch.equal(holes, (out == 0).all(1))  # all channels filled together
    areas = holes.sum(dim=(1, 2))
    assert areas.max() == 36 and areas.min() >= 9  # clipped at the border down to a 3x3 corner at least


def test_cutout_mean_fill_and_fractional_size_and_several_holes():
    images = torch.rand(16, 3, 10, 20)
    out, _ = Cutout(num_classes=16, size=0.3, holes=3, fill="mean", generator=gen(3))(images, torch.arange(16))
    mean = images.mean(dim=(2, 3), keepdim=True)
    filled = (out == mean).all(1)
    assert filled.any() and torch.equal(out, torch.where(filled[:, None], mean, images))
    assert filled.sum(dim=(1, 2)).max() > 3 * 6  # more than one 3x6 hole somewhere


def test_nomix_is_the_identity_with_one_hot():
    images, labels = torch.rand(3, 1, 4, 4), torch.tensor([2, 0, 1])
    out, targets = NoMix(num_classes=3)(images, labels)
    assert out is images and torch.equal(targets, torch.eye(3)[[2, 0, 1]])


# ---------------------------------------------------------------- MixChoice


def test_mix_choice_picks_with_the_given_probabilities():
    choice = MixChoice([NoMix(num_classes=2), Mixup(num_classes=2, generator=gen(1))], [0.3, 0.7], generator=gen(2))
    images, labels = torch.rand(2, 1, 2, 2), torch.tensor([0, 1])
    mixed = sum(not torch.equal(choice(images, labels)[0], images) for _ in range(2000))
    assert abs(mixed / 2000 - 0.7) < 0.04


def test_mix_choice_never_picks_zero_probability():
    choice = MixChoice([Mixup(num_classes=2), NoMix(num_classes=2), CutMix(num_classes=2)], [0.0, 1.0, 0.0])
    images = torch.rand(2, 1, 3, 3)
    assert all(choice(images, torch.tensor([0, 1]))[0] is images for _ in range(200))


def test_mix_choice_is_reproducible():
    def run():
        choice = MixChoice(
            [Mixup(num_classes=4, generator=gen(1)), CutMix(num_classes=4, generator=gen(1))],
            [0.5, 0.5],
            generator=gen(3),
        )
        return [choice(torch.rand(4, 1, 5, 5, generator=gen(i)), torch.arange(4))[1] for i in range(10)]

    assert all(torch.equal(a, b) for a, b in zip(run(), run(), strict=True))
