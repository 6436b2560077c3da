"""augment.functional: the deterministic batch operations, checked against per-sample loops."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from augment import functional as F


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@settings(max_examples=50, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), data=st.data())
def test_box_masks_match_slicing(h, w, data):
    x1, x2 = sorted(data.draw(st.lists(st.integers(0, w), min_size=2, max_size=2)))
    y1, y2 = sorted(data.draw(st.lists(st.integers(0, h), min_size=2, max_size=2)))
    expected = torch.zeros(h, w, dtype=torch.bool)
    expected[y1:y2, x1:x2] = True
    boxes = torch.tensor([[x1, y1, x2, y2]])
    assert torch.equal(F.box_masks(boxes, h, w)[0, 0], expected)
    assert torch.equal(F.box_masks(boxes, h, w, dtype=torch.float32)[0, 0], expected.float())
    assert F.box_area_fraction(boxes, h, w).item() == pytest.approx(expected.float().mean().item())


def test_union_masks_is_the_or_of_the_holes():
    boxes = torch.tensor([[[0, 0, 2, 2], [1, 1, 4, 3]], [[0, 0, 0, 0], [3, 0, 5, 1]]])
    union = F.union_masks(boxes, 3, 5)[:, 0]
    expected = torch.zeros(2, 3, 5, dtype=torch.bool)
    expected[0, 0:2, 0:2] = expected[0, 1:3, 1:4] = expected[1, 0:1, 3:5] = True
    assert torch.equal(union, expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.uint8])
@pytest.mark.parametrize("mask_dtype", [torch.bool, torch.float32])
def test_paste_with_a_hard_mask_is_an_exact_select(dtype, mask_dtype):
    images = (torch.rand(6, 3, 5, 7, generator=gen(1)) * 200 - 50 * (dtype != torch.uint8)).to(dtype)
    partners = F.pair_partners(6, generator=gen(2))
    mask = torch.rand(6, 1, 5, 7, generator=gen(3)) < 0.4
    out = F.paste(images, partners, mask.to(mask_dtype))
    assert out.dtype == dtype
    assert torch.equal(out, torch.where(mask, images[partners], images))


def test_paste_does_not_touch_the_input():
    images = torch.rand(4, 2, 3, 3)
    before = images.clone()
    F.paste(images, torch.tensor([1, 0, 3, 2]), torch.ones(4, 1, 3, 3, dtype=torch.bool))
    assert torch.equal(images, before)


def test_soft_paste_blends_and_uint8_rounds():
    images = torch.tensor([[[[10.0, 200.0]]], [[[20.0, 100.0]]]])
    mask = torch.tensor([[[[0.25, 0.5]]], [[[0.75, 1.0]]]])
    partners = torch.tensor([1, 0])
    expected = torch.tensor([[[[12.5, 150.0]]], [[[12.5, 200.0]]]])
    assert torch.allclose(F.paste(images, partners, mask), expected)
    rounded = F.paste(images.to(torch.uint8), partners, mask)
    assert torch.equal(rounded, torch.tensor([[[[12, 150]]], [[[12, 200]]]], dtype=torch.uint8))  # half to even


def test_blend_is_the_convex_combination_and_exact_at_one():
    images = torch.randn(5, 3, 4, 6, generator=gen(4)) * 1e4
    partners = torch.tensor([1, 0, 3, 2, 4])
    lam = torch.tensor([0.3, 1.0, 0.0, 0.8, 0.5])
    out = F.blend(images, partners, lam)
    expected = lam.reshape(-1, 1, 1, 1) * images + (1 - lam.reshape(-1, 1, 1, 1)) * images[partners]
    assert torch.allclose(out, expected, rtol=1e-6, atol=1e-2)
    assert torch.equal(out[1], images[1]) and torch.equal(out[2], images[3]) and torch.equal(out[4], images[4])


def test_mix_targets_sums_weights_per_class():
    labels = torch.tensor([2, 0, 2, 1])
    sources = torch.tensor([[0, 1], [1, 2], [2, 0], [3, 3]])
    weights = torch.tensor([[0.6, 0.4], [0.9, 0.1], [0.5, 0.5], [0.3, 0.7]])
    expected = torch.tensor([[0.4, 0, 0.6], [0.9, 0, 0.1], [0, 0, 1.0], [0, 1.0, 0]])
    assert torch.allclose(F.mix_targets(labels, sources, weights, 3), expected)
    pair = F.pair_targets(labels, torch.tensor([1, 0, 3, 2]), torch.tensor([0.6, 0.9, 0.5, 0.3]), 3)
    assert torch.allclose(pair, torch.tensor([[0.4, 0, 0.6], [0.9, 0, 0.1], [0, 0.5, 0.5], [0, 0.3, 0.7]]))
    assert torch.equal(F.one_hot_targets(labels, 3), torch.eye(3)[labels])


def test_pair_targets_weights_are_exact():
    """Own class exactly λ, partner's exactly float32(1 − λ), rows exactly one-hot where the labels agree
    (including a sample paired with itself); a float λ and a (1,) λ give the same as a (B,) one."""
    lam = torch.rand(4000, generator=gen(7))
    labels, partners = torch.tensor([0, 1, 1, 1, 2]), torch.tensor([1, 0, 3, 2, 4])
    for value in lam[:200].tolist():
        full = F.pair_targets(labels, partners, torch.full((5,), value), 3)
        assert full[0, 0].item() == value and full[0, 1].item() == torch.tensor(1.0 - value).item()
        assert torch.equal(full[2:], torch.eye(3)[[1, 1, 2]])  # same label and self-paired: exactly one-hot
        assert torch.equal(F.pair_targets(labels, partners, value, 3), full)
        assert torch.equal(F.pair_targets(labels, partners, torch.tensor([value]), 3), full)
    big = F.pair_targets(torch.zeros(4000, dtype=torch.long), torch.arange(4000), lam, 1)
    assert (big == 1).all()


def test_paste_broadcasts_one_mask_and_takes_a_float_weight():
    images = torch.randn(5, 3, 4, 6, generator=gen(8))
    partners = F.pair_partners(5, generator=gen(9))
    mask = torch.rand(1, 1, 4, 6, generator=gen(10)) < 0.5
    for dtype in (torch.float32, torch.uint8):
        x = (images * 50 + 100).to(dtype)
        assert torch.equal(F.paste(x, partners, mask), F.paste(x, partners, mask.expand(5, 1, 4, 6)))
        assert torch.equal(F.paste(x, partners, 0.25), F.paste(x, partners, torch.full((5, 1, 1, 1), 0.25)))
    assert torch.equal(F.blend(images, partners, 0.7), F.blend(images, partners, torch.full((5,), 0.7)))


def test_fill_zero_and_mean():
    images = torch.arange(2 * 1 * 2 * 2, dtype=torch.float32).reshape(2, 1, 2, 2)
    mask = torch.tensor([[[[True, False], [False, False]]], [[[False, False], [False, True]]]])
    assert torch.equal(F.fill(images, mask, value="zero"), torch.tensor([[[[0.0, 1], [2, 3]]], [[[4.0, 5], [6, 0]]]]))
    assert torch.equal(F.fill(images, mask, value="mean"), torch.tensor([[[[1.5, 1], [2, 3]]], [[[4.0, 5], [6, 5.5]]]]))


def naive_ricap(images, sources, corner, offsets):
    """Per-sample, per-quadrant slicing: the reference the vectorised stitch must equal."""
    out = torch.empty_like(images)
    _, _, h, w = images.shape
    for i in range(images.shape[0]):
        ch, cw = corner[i].tolist()
        spans = [(0, ch, 0, cw), (0, ch, cw, w), (ch, h, 0, cw), (ch, h, cw, w)]
        for q, (r0, r1, c0, c1) in enumerate(spans):
            oy, ox = offsets[i, q].tolist()
            out[i, :, r0:r1, c0:c1] = images[sources[i, q], :, oy : oy + r1 - r0, ox : ox + c1 - c0]
    return out


@settings(max_examples=30, deadline=None)
@given(
    b=st.integers(1, 6),
    h=st.integers(1, 10),
    w=st.integers(1, 10),
    mode=st.sampled_from(["batch", "elem"]),
    seed=st.integers(0, 10**6),
)
def test_ricap_stitch_matches_slicing(b, h, w, mode, seed):
    images = torch.rand(b, 3, h, w, generator=gen(seed))
    sources, corner, offsets = F.sample_ricap(b, h, w, alpha=0.5, prob=0.8, mode=mode, generator=gen(seed))
    assert torch.equal(F.ricap_stitch(images, sources, corner, offsets), naive_ricap(images, sources, corner, offsets))
