"""recipes.robustness: occlusion geometry and curves, MSP out-of-distribution metrics, noise images."""

import math

import pytest
import torch
from torchmetrics.classification import BinaryAUROC

from recipes.robustness import (
    detection_metrics,
    max_softmax,
    noise_images,
    occlude_border,
    occlude_center,
    occlusion_curve,
    ood_scores,
)

# ----------------------------------------------------------------------------------------- occlusion


def _zeroed(images_out):
    return images_out == 0


@pytest.mark.parametrize("occlude", [occlude_center, occlude_border])
def test_zero_fraction_leaves_images_unchanged(occlude):
    images = torch.randn(3, 2, 9, 9) + 5  # no zeros to begin with
    out, achieved = occlude(images, 0.0)
    assert torch.equal(out, images) and achieved == 0.0


def test_hand_computed_boxes_on_a_4x4_image():
    images = torch.ones(1, 1, 4, 4)
    out, achieved = occlude_center(images, 0.25)  # 2 x 2 hole in the middle
    expected = torch.ones(4, 4)
    expected[1:3, 1:3] = 0
    assert torch.equal(out[0, 0], expected) and achieved == 0.25
    out, achieved = occlude_border(images, 0.75)  # keep the middle 2 x 2
    assert torch.equal(out[0, 0], 1 - expected) and achieved == 0.75
    assert torch.equal(images, torch.ones(1, 1, 4, 4))  # the input is not modified


@pytest.mark.parametrize(("height", "width"), [(7, 7), (28, 28), (32, 32), (224, 224), (20, 36)])
def test_achieved_area_is_exact_and_close_to_the_request(height, width):
    images = torch.ones(1, height, width)
    for step in range(101):
        frac = step / 100
        for occlude in (occlude_center, occlude_border):
            out, achieved = occlude(images, frac)
            zeroed = int(_zeroed(out).sum())
            assert zeroed == round(achieved * height * width)  # the returned area is the real one
            error = abs(zeroed - frac * height * width)
            if height == width:
                assert error <= width, (occlude.__name__, frac, zeroed)  # within one pixel row
            kept_or_hole = frac if occlude is occlude_center else 1 - frac
            assert error <= math.sqrt(kept_or_hole) * (height + width) / 2 + 0.25 + 1e-9


def test_hole_is_a_centred_rectangle_and_border_is_its_complement():
    images = torch.ones(1, 30, 30)
    for frac in (0.1, 0.3, 0.5):
        hole = _zeroed(occlude_center(images, frac)[0])[0]
        rows, cols = hole.any(dim=1).nonzero().squeeze(1), hole.any(dim=0).nonzero().squeeze(1)
        assert int(hole.sum()) == len(rows) * len(cols)  # a full rectangle
        assert abs(rows[0].item() - (29 - rows[-1].item())) <= 1  # centred to within a pixel
        assert abs(cols[0].item() - (29 - cols[-1].item())) <= 1
        kept = ~_zeroed(occlude_border(images, 1 - frac)[0])[0]
        assert torch.equal(kept, hole)


def _centre_pixel_predictor(images):
    """Class 1 when the centre pixel (4, 4) of the 8 x 8 image is still 1, else class 0."""
    centre = images[:, 0, 4, 4]
    return torch.stack([torch.full_like(centre, 0.5), centre], dim=1)


def _corner_pixel_predictor(images):
    """Class 1 while the bottom-right pixel is 1 (an odd margin puts its extra pixel bottom and right)."""
    corner = images[:, 0, -1, -1]
    return torch.stack([torch.full_like(corner, 0.5), corner], dim=1)


def test_occlusion_curve_counts_correct_predictions():
    images, labels = torch.ones(6, 1, 8, 8), torch.tensor([1, 1, 1, 1, 0, 0])
    batches = [(images[:4], labels[:4]), (images[4:], labels[4:])]
    curve = occlusion_curve(_centre_pixel_predictor, batches, fractions=(0.0, 0.1, 0.5), kind="center")
    # Clean: 4 of 6 right. Any hole covers the centre: the prediction flips to 0 and the other 2 are right.
    # Areas: 0.1 -> side round(8 * 0.316) = 3 -> 9 / 64; 0.5 -> side round(5.66) = 6 -> 36 / 64.
    assert curve == [(0.0, 4 / 6), (9 / 64, 2 / 6), (36 / 64, 2 / 6)]
    border = occlusion_curve(_corner_pixel_predictor, batches, fractions=(0.0, 0.3), kind="border")
    assert border == [(0.0, 4 / 6), (1 - 49 / 64, 2 / 6)]  # keep round(8 * sqrt(0.7)) = 7 -> 49 / 64


def test_occlusion_curve_at_zero_equals_clean_accuracy_and_reads_data_once():
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(3 * 8 * 8, 5, generator=g)
    model = lambda x: x.flatten(1) @ weight  # noqa: E731
    images, labels = torch.randn(40, 3, 8, 8, generator=g), torch.randint(0, 5, (40,), generator=g)
    clean = (model(images).argmax(dim=1) == labels).float().mean().item()
    one_shot = ((images[i : i + 16], labels[i : i + 16]) for i in range(0, 40, 16))  # a generator: one pass only
    curve = occlusion_curve(model, one_shot, fractions=(0.0, 0.2, 0.4))
    assert curve[0] == (0.0, pytest.approx(clean))
    again = occlusion_curve(model, lambda: [(images, labels)], fractions=(0.0, 0.2, 0.4))
    assert [x for pair in again for x in pair] == pytest.approx([x for pair in curve for x in pair])


def test_occlusion_bad_arguments():
    with pytest.raises(ValueError, match="1.5"):
        occlude_center(torch.ones(1, 4, 4), 1.5)
    with pytest.raises(ValueError, match="-0.1"):
        occlude_border(torch.ones(1, 4, 4), -0.1)
    with pytest.raises(ValueError, match="diagonal"):
        occlusion_curve(_centre_pixel_predictor, [], kind="diagonal")
    with pytest.raises(ValueError, match="no images"):
        occlusion_curve(_centre_pixel_predictor, [])


# ----------------------------------------------------------------------------------------- OOD


def test_detection_hand_computed():
    # Pairs (in > out): .9>.75 .9>.6 .8>.75 .8>.6 .7>.6 and .7<.75 -> AUROC 5/6. TPR >= 95 % needs all three
    # in-scores: t = .7, TNR = P(out < .7) = 1/2. Best threshold t = .8: (2/3 + 1) / 2 = 5/6.
    out = detection_metrics(torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0.75, 0.6]))
    assert out == pytest.approx({"auroc": 5 / 6, "tnr_at_tpr95": 0.5, "detection_acc": 5 / 6})
    # Ties count half: one in-score equal to the out-score, one above -> AUROC (1 + 0.5) / 2.
    assert detection_metrics(torch.tensor([0.5, 0.7]), torch.tensor([0.5]))["auroc"] == pytest.approx(0.75)


def test_a_set_against_itself_is_chance():
    scores = torch.rand(500, generator=torch.Generator().manual_seed(0))
    out = detection_metrics(scores, scores)
    assert out["auroc"] == pytest.approx(0.5, abs=1e-12)
    assert out["detection_acc"] == pytest.approx(0.5, abs=0.01)
    assert out["tnr_at_tpr95"] == pytest.approx(0.05, abs=0.01)  # t = 5 % quantile of the same scores
    assert detection_metrics(torch.full((7,), 0.3), torch.full((4,), 0.3))["auroc"] == 0.5  # all tied


def test_separated_scores():
    good = detection_metrics(torch.tensor([0.9, 0.95, 0.99]), torch.tensor([0.1, 0.5, 0.89]))
    assert good == {"auroc": 1.0, "tnr_at_tpr95": 1.0, "detection_acc": 1.0}
    bad = detection_metrics(torch.tensor([0.1, 0.5, 0.89]), torch.tensor([0.9, 0.95, 0.99]))
    assert bad == {"auroc": 0.0, "tnr_at_tpr95": 0.0, "detection_acc": 0.5}


def _brute_force(pos, neg):
    """Every threshold tried by a Python loop: the definitions, written the slow way."""
    best, tnr95 = 0.5, None
    for t in sorted(set(pos.tolist()) | set(neg.tolist()), reverse=True):
        tpr = sum(p >= t for p in pos.tolist()) / len(pos)
        tnr = sum(q < t for q in neg.tolist()) / len(neg)
        best = max(best, (tpr + tnr) / 2)
        if tnr95 is None and tpr >= 0.95:
            tnr95 = tnr
    return tnr95, best


@pytest.mark.parametrize("decimals", [None, 1, 2])
def test_against_torchmetrics_and_brute_force(decimals):
    g = torch.Generator().manual_seed(decimals or 0)
    for n_pos, n_neg in ((1, 1), (20, 7), (300, 250)):
        pos, neg = torch.rand(n_pos, generator=g) * 0.6 + 0.4, torch.rand(n_neg, generator=g) * 0.7
        if decimals is not None:  # many ties, within and across the two sets
            pos, neg = pos.round(decimals=decimals), neg.round(decimals=decimals)
        out = detection_metrics(pos, neg)
        scores, target = torch.cat([pos, neg]), torch.cat([torch.ones(n_pos), torch.zeros(n_neg)]).long()
        assert out["auroc"] == pytest.approx(BinaryAUROC()(scores, target).item(), abs=1e-6)
        tnr95, best = _brute_force(pos, neg)
        assert out["tnr_at_tpr95"] == pytest.approx(tnr95, abs=1e-12)
        assert out["detection_acc"] == pytest.approx(best, abs=1e-12)


def test_ood_scores_use_the_maximum_softmax_probability():
    g = torch.Generator().manual_seed(0)
    in_logits = torch.randn(200, 10, generator=g) * 4
    out_logits = torch.randn(150, 10, generator=g) * 0.5  # flatter: lower maximum softmax probability
    out = ood_scores(in_logits, out_logits)
    assert out == detection_metrics(max_softmax(in_logits), max_softmax(out_logits))
    assert out["auroc"] > 0.9
    assert max_softmax(torch.tensor([[0.0, math.log(3.0)]])).item() == pytest.approx(0.75)
    with pytest.raises(ValueError, match=r"\(5,\)"):
        ood_scores(torch.zeros(5), out_logits)


# ----------------------------------------------------------------------------------------- noise images


def test_noise_images_in_normalised_space():
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    for kind in ("gaussian", "uniform"):
        images = noise_images(2000, (3, 8, 8), kind, torch.Generator().manual_seed(0), mean, std)
        assert images.shape == (2000, 3, 8, 8) and images.dtype == torch.float32
        pixels = images * torch.tensor(std)[:, None, None] + torch.tensor(mean)[:, None, None]
        assert pixels.min() >= -1e-6 and pixels.max() <= 1 + 1e-6
        assert pixels.mean().item() == pytest.approx(0.5, abs=0.01)
        again = noise_images(2000, (3, 8, 8), kind, torch.Generator().manual_seed(0), mean, std)
        assert torch.equal(images, again)
        # Clipped N(0.5, 1): P(pixel = 0) = P(pixel = 1) = Phi(-0.5) = 0.3085. Uniform: variance 1/12.
        at_zero = (pixels.abs() < 1e-6).float().mean().item()
        if kind == "gaussian":
            assert at_zero == pytest.approx(0.3085, abs=0.01)
        else:
            assert at_zero == 0.0 and pixels.var().item() == pytest.approx(1 / 12, abs=0.003)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((4, (3, 8, 8), "pink", (0.5,) * 3, (0.2,) * 3), "pink"),
        ((4, (3, 8, 8), "uniform", (0.5,), (0.2,)), r"mean=\(0.5,\)"),
        ((4, (3, 8, 8), "uniform", (0.5,) * 3, (0.2, 0.0, 0.2)), "std"),
        ((0, (3, 8, 8), "uniform", (0.5,) * 3, (0.2,) * 3), "0"),
        ((4, (8, 8), "uniform", (0.5,) * 3, (0.2,) * 3), r"\(8, 8\)"),
    ],
)
def test_noise_images_bad_arguments(args, match):
    n, shape, kind, mean, std = args
    with pytest.raises(ValueError, match=match):
        noise_images(n, shape, kind, torch.Generator(), mean, std)
