"""Dense CutMix: label maps follow the pixels; detection boxes are clipped, added and weighted."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from augment.dense import CutMixDetection, CutMixSegmentation, clip_to_patch, visible_part


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@settings(max_examples=30, deadline=None)
@given(
    b=st.integers(1, 6),
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    mode=st.sampled_from(["batch", "elem"]),
    seed=st.integers(0, 10**6),
)
def test_segmentation_maps_move_with_the_pixels(b, h, w, mode, seed):
    maps = torch.randint(0, 50, (b, h, w), generator=gen(seed))
    images = maps[:, None].expand(b, 3, h, w).float() * 3.0  # image pixel encodes its label
    out, out_maps = CutMixSegmentation(mode=mode, generator=gen(seed))(images, maps)
    assert out_maps.dtype == maps.dtype and out_maps.shape == maps.shape
    assert torch.equal(out[:, 0], out_maps.float() * 3.0)


def test_segmentation_actually_mixes():
    maps = torch.arange(4).reshape(4, 1, 1).expand(4, 16, 16).contiguous()
    _, out_maps = CutMixSegmentation(mode="elem", generator=gen(1))(torch.rand(4, 1, 16, 16), maps)
    assert any(len(m.unique()) == 2 for m in out_maps)


# ---------------------------------------------------------------- geometry helpers


@pytest.mark.parametrize(
    "box, patch, visible, fraction",
    [
        ((2, 2, 6, 6), (0, 0, 1, 1), (2, 2, 6, 6), 1.0),  # patch elsewhere
        ((2, 2, 6, 6), (0, 0, 8, 8), (2, 2, 6, 6), 0.0),  # fully covered (dropped later)
        ((2, 2, 6, 6), (0, 0, 8, 4), (2, 4, 6, 6), 0.5),  # top half cut: box shrinks from the top
        ((2, 2, 6, 6), (1, 5, 7, 9), (2, 2, 6, 5), 0.75),  # bottom quarter cut
        ((2, 2, 6, 6), (4, 0, 9, 9), (2, 2, 4, 6), 0.5),  # right half cut
        ((2, 2, 6, 6), (0, 1, 3, 9), (3, 2, 6, 6), 0.75),  # left quarter cut
        ((2, 2, 6, 6), (3, 3, 5, 5), (2, 2, 6, 6), 0.75),  # hole inside: ring, bounding box unchanged
        ((2, 2, 6, 6), (4, 4, 9, 9), (2, 2, 6, 6), 0.75),  # corner cut: L shape, bounding box unchanged
        ((2, 2, 6, 6), (0, 3, 9, 4), (2, 2, 6, 6), 0.75),  # strip through the middle: two pieces
    ],
)
def test_visible_part(box, patch, visible, fraction):
    out, frac = visible_part(torch.tensor([box], dtype=torch.float32), torch.tensor([patch], dtype=torch.float32))
    assert out[0].tolist() == list(visible)
    assert frac.item() == pytest.approx(fraction)


def test_clip_to_patch():
    boxes = torch.tensor([[2.0, 2, 6, 6], [2, 2, 6, 6], [0, 0, 1, 1]])
    patches = torch.tensor([[4.0, 0, 9, 9], [3, 3, 5, 5], [2, 2, 4, 4]])
    clipped, frac = clip_to_patch(boxes, patches)
    assert clipped[:2].tolist() == [[4, 2, 6, 6], [3, 3, 5, 5]]
    assert frac.tolist() == [0.5, 0.25, 0.0]


# ---------------------------------------------------------------- the detection mixer


def grid_boxes(h, w):
    """Per image, a few integer-aligned boxes so visibility can be counted in pixels."""
    return [torch.tensor([[0.0, 0, w, h], [1, 1, w // 2 + 1, h // 2 + 1], [w // 3, h // 3, w, h]])] * 4


def test_detection_weights_equal_visible_pixel_fractions():
    """Own boxes: weight = fraction of the box's pixels still from the own image; pasted boxes: fraction of
    the partner box inside the patch. Checked with images whose pixels say which image they came from."""
    h, w = 12, 16
    images = torch.arange(4, dtype=torch.float32).reshape(4, 1, 1, 1).expand(4, 1, h, w).contiguous()
    boxes = grid_boxes(h, w)
    labels = [torch.tensor([10 * i, 10 * i + 1, 10 * i + 2]) for i in range(4)]
    out, out_boxes, out_labels, weights = CutMixDetection(mode="elem", min_visibility=0.0, generator=gen(3))(
        images, boxes, labels
    )
    mixed_any = False
    for i in range(4):
        partner_pixels = out[i, 0] != i
        mixed_any |= bool(partner_pixels.any())
        for box, label, weight in zip(out_boxes[i], out_labels[i], weights[i], strict=True):
            source = int(label) // 10
            original = boxes[source][int(label) % 10].long()
            region = torch.zeros(h, w, dtype=torch.bool)
            region[original[1] : original[3], original[0] : original[2]] = True
            from_source = out[i, 0] == source
            assert weight.item() == pytest.approx((region & from_source).sum().item() / region.sum().item())
            x1, y1, x2, y2 = box.long().tolist()  # the kept box bounds the visible part exactly
            visible = (region & from_source).nonzero()
            assert (y1, x1, y2, x2) == (
                *visible.min(0).values.tolist(),
                *(visible.max(0).values + 1).tolist(),
            )
    assert mixed_any


def test_detection_orders_own_boxes_first_and_drops_invisible_ones():
    h, w = 12, 16
    boxes = grid_boxes(h, w)
    labels = [torch.tensor([10 * i, 10 * i + 1, 10 * i + 2]) for i in range(4)]
    _, out_boxes, out_labels, weights = CutMixDetection(mode="elem", min_visibility=0.3, generator=gen(4))(
        torch.rand(4, 3, h, w), boxes, labels
    )
    for i in range(4):
        owners = [int(label) // 10 for label in out_labels[i]]
        assert owners == sorted(owners, key=lambda o: o != i)
        assert (weights[i] >= 0.3).all() and (weights[i] <= 1).all()
        assert out_boxes[i].shape == (len(out_labels[i]), 4)


def test_detection_unmixed_keeps_boxes_with_weight_one():
    boxes = [torch.tensor([[1.0, 2, 5, 6]])]
    labels = [torch.tensor([7])]
    out, out_boxes, out_labels, weights = CutMixDetection(generator=gen(0))(torch.rand(1, 3, 8, 8), boxes, labels)
    assert torch.equal(out_boxes[0], boxes[0]) and torch.equal(out_labels[0], labels[0])
    assert weights[0].tolist() == [1.0]


def test_detection_handles_images_without_boxes():
    boxes = [torch.zeros(0, 4), torch.tensor([[0.0, 0, 8, 8]])]
    labels = [torch.zeros(0, dtype=torch.long), torch.tensor([3])]
    _, out_boxes, out_labels, weights = CutMixDetection(min_visibility=0.0, generator=gen(5))(
        torch.rand(2, 3, 8, 8), boxes, labels
    )
    assert len(out_boxes) == 2 and out_boxes[0].shape[1] == 4
    assert sum(len(t) for t in out_labels) >= 1 and all(
        len(a) == len(b) for a, b in zip(out_labels, weights, strict=True)
    )
