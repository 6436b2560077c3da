"""Random draws of augment.sampling: Beta λ, pairing, per-mode sharing, box placement."""

import math

import pytest
import torch
from scipy import stats

from augment import functional as F
from augment.fourier import _spectrum_scale, top_pixels
from augment.sampling import log_gamma


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- Beta λ


@pytest.mark.parametrize("alpha", [0.2, 0.5, 0.55, 1.0, 2.0, 8.0])
def test_lambda_matches_beta_by_ks(alpha):
    # float64 output: in float32 a few % of the draws for small alpha round to exactly 1.0 (2^-24 spacing),
    # a representation limit the KS statistic would flag
    lam = F.sample_lambda(20_000, alpha=alpha, generator=gen(1), dtype=torch.float64).numpy()
    result = stats.kstest(lam, stats.beta(alpha, alpha).cdf)
    assert result.pvalue > 1e-3, (alpha, result)


@pytest.mark.parametrize("alpha", [0.02, 0.05])
def test_tiny_alpha_lambda_matches_beta_on_the_lower_half(alpha):
    """For tiny alpha even float64 rounds ~8 % of the mass to exactly 1, so test the half below 1/2 (exact
    in floating point) against the conditional CDF 2·F(x), and the split at 1/2 against a fair coin."""
    lam = F.sample_lambda(20_000, alpha=alpha, generator=gen(1), dtype=torch.float64).numpy()
    low = lam[lam < 0.5]
    assert stats.binomtest(len(low), len(lam), 0.5).pvalue > 1e-3
    assert stats.kstest(low, lambda x: 2 * stats.beta(alpha, alpha).cdf(x)).pvalue > 1e-3


@pytest.mark.parametrize("alpha", [0.3, 1.0])
def test_float32_lambda_matches_beta_by_ks(alpha):
    lam = F.sample_lambda(20_000, alpha=alpha, generator=gen(4)).double().numpy()
    assert stats.kstest(lam, stats.beta(alpha, alpha).cdf).pvalue > 1e-3


@pytest.mark.parametrize("concentration", [0.1, 0.5, 1.0, 3.0])
def test_log_gamma_matches_gamma_by_ks(concentration):
    """The vectorised Marsaglia–Tsang sampler (with the boost below 1) behind small-alpha Beta draws."""
    x = log_gamma((20_000,), concentration=concentration, generator=gen(3), dtype=torch.float64).exp().numpy()
    assert stats.kstest(x, stats.gamma(concentration).cdf).pvalue > 1e-3


def test_ks_detects_a_wrong_alpha():
    """The KS check above has power: draws for alpha=1 are rejected as Beta(1.3, 1.3)."""
    lam = F.sample_lambda(20_000, alpha=1.0, generator=gen(1)).double().numpy()
    assert stats.kstest(lam, stats.beta(1.3, 1.3).cdf).pvalue < 1e-6


def test_lambda_is_float32_in_unit_interval_and_symmetric():
    lam = F.sample_lambda(50_000, alpha=0.7, generator=gen(2))
    assert lam.dtype == torch.float32 and lam.shape == (50_000,)
    assert lam.min() >= 0 and lam.max() <= 1
    assert abs(lam.mean().item() - 0.5) < 0.01  # Beta(a, a) has mean 1/2
    expected_var = 1 / (4 * (2 * 0.7 + 1))
    assert abs(lam.var().item() - expected_var) / expected_var < 0.05


def test_tiny_alpha_gives_lambda_zero_or_one():
    lam = F.sample_lambda(10_000, alpha=1e-5, generator=gen(3))
    interior = torch.minimum(lam, 1 - lam) > 1e-6
    assert interior.float().mean() < 0.01
    assert 0.45 < (lam > 0.5).float().mean() < 0.55  # both ends, equally often
    assert torch.isfinite(lam).all()


def test_same_seed_same_lambda_and_generator_is_used():
    a, b = F.sample_lambda(64, alpha=1.0, generator=gen(5)), F.sample_lambda(64, alpha=1.0, generator=gen(5))
    assert torch.equal(a, b)
    assert not torch.equal(a, F.sample_lambda(64, alpha=1.0, generator=gen(6)))


# ---------------------------------------------------------------- pairing and modes


@pytest.mark.parametrize("batch_size", [1, 2, 7, 64])
def test_partners_are_a_perfect_matching(batch_size):
    partners = F.pair_partners(batch_size, generator=gen(batch_size))
    index = torch.arange(batch_size)
    assert torch.equal(partners[partners], index)  # involution: pairs are symmetric
    assert (partners == index).sum() == batch_size % 2  # only the odd one out is alone


def test_partners_are_uniform_over_pairs():
    """Each of the 3 other samples is sample 0's partner about 1/3 of the time (B = 4)."""
    g = gen(7)
    counts = torch.zeros(4)
    for _ in range(3000):
        counts[F.pair_partners(4, generator=g)[0]] += 1
    assert counts[0] == 0
    assert stats.chisquare(counts[1:].numpy()).pvalue > 1e-3


def test_unit_index_shares_draws_as_the_mode_says():
    partners = F.pair_partners(9, generator=gen(8))
    assert torch.equal(F.unit_index(partners, mode="batch"), torch.zeros(9, dtype=torch.long))
    assert torch.equal(F.unit_index(partners, mode="elem"), torch.arange(9))
    pair = F.unit_index(partners, mode="pair")
    assert torch.equal(pair, pair[partners])  # both members of a pair use the same draw
    assert len(set(pair.tolist())) == 5  # 4 pairs + the odd one out


@pytest.mark.parametrize("mode", ["batch", "pair", "elem"])
def test_active_rate_and_sharing(mode):
    g = gen(9)
    rates = []
    for _ in range(400):
        partners = F.pair_partners(8, generator=g)
        active = F.sample_active(partners, prob=0.3, mode=mode, generator=g)
        if mode == "batch":
            assert active.all() or not active.any()
        if mode == "pair":
            assert torch.equal(active, active[partners])
        rates.append(active.float().mean().item())
    assert abs(sum(rates) / len(rates) - 0.3) < 0.05


@pytest.mark.parametrize("mode", ["batch", "pair", "elem"])
@pytest.mark.parametrize("prob", [1.0, 0.4])
def test_cutmix_units_are_the_per_sample_boxes_before_sharing(mode, prob):
    """sample_cutmix = the unit boxes shared per mode, emptied for the sample paired with itself."""
    partners, units = F.sample_cutmix_units(9, 10, 13, alpha=1.0, prob=prob, mode=mode, generator=gen(21))
    partners_again, boxes = F.sample_cutmix(9, 10, 13, alpha=1.0, prob=prob, mode=mode, generator=gen(21))
    assert torch.equal(partners, partners_again)
    assert units.shape == ({"batch": 1}.get(mode, 9), 4)
    shared = units[F.unit_index(partners, mode=mode)]
    alone = partners == torch.arange(9)
    assert torch.equal(boxes[~alone], shared[~alone]) and (boxes[alone] == 0).all()
    if prob < 1.0:  # some unit is switched off (empty box) in 30 batches
        empty = [
            (F.sample_cutmix_units(9, 10, 13, alpha=1.0, prob=prob, mode=mode, generator=gen(s))[1] == 0).all(1).any()
            for s in range(30)
        ]
        assert any(empty)


def test_batch_share_is_a_view_of_the_one_draw():
    partners = F.pair_partners(6, generator=gen(22))
    draws = torch.rand(1, 4, generator=gen(23))
    shared = F.share(draws, partners, mode="batch")
    assert shared.shape == (6, 4) and torch.equal(shared, draws[F.unit_index(partners, mode="batch")])
    assert shared.data_ptr() == draws.data_ptr()


def test_self_paired_sample_is_never_active():
    partners = F.pair_partners(1, generator=gen(0))
    assert not F.sample_active(partners, prob=1.0, mode="elem", generator=gen(0)).any()


# ---------------------------------------------------------------- boxes


def test_place_boxes_keeps_size_when_inside_and_clips_at_borders():
    sizes = torch.tensor([[4, 3]]).expand(5000, 2)  # (w, h)
    boxes = F.place_boxes(sizes, 10, 12, generator=gen(10))
    h, w = boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]
    inside = (boxes[:, 1] > 0) & (boxes[:, 3] < 10) & (boxes[:, 0] > 0) & (boxes[:, 2] < 12)
    assert torch.equal(h[inside], torch.full_like(h[inside], 3))
    assert torch.equal(w[inside], torch.full_like(w[inside], 4))
    assert (h <= 3).all() and (w <= 4).all() and (h >= 1).all() and (w >= 1).all()
    assert boxes.min() >= 0 and (boxes[:, [1, 3]] <= 10).all() and (boxes[:, [0, 2]] <= 12).all()


def test_one_pixel_boxes_hit_every_pixel_uniformly():
    """Centres uniform over the whole image: each pixel (borders and corners included) equally likely."""
    height, width, n = 5, 7, 35 * 300
    boxes = F.place_boxes(torch.ones(n, 2, dtype=torch.long), height, width, generator=gen(11))
    hits = F.box_masks(boxes, height, width).sum(0).flatten().double()
    assert hits.min() > 0
    assert stats.chisquare(hits.numpy()).pvalue > 1e-3


def test_box_placement_is_symmetric_under_flips():
    """Even-sized boxes are as likely to touch the top row as the bottom row (no off-by-one drift)."""
    boxes = F.place_boxes(torch.full((20_000, 2), 4), 9, 9, generator=gen(12))
    top, bottom = (boxes[:, 1] == 0).sum().item(), (boxes[:, 3] == 9).sum().item()
    left, right = (boxes[:, 0] == 0).sum().item(), (boxes[:, 2] == 9).sum().item()
    for a, b in [(top, bottom), (left, right)]:
        assert abs(a - b) < 4 * math.sqrt(a + b), (a, b)


def test_cutmix_boxes_reach_every_border_row_and_column():
    height, width = 11, 6
    _, boxes = F.sample_cutmix(2000, height, width, alpha=1.0, prob=1.0, mode="elem", generator=gen(13))
    covered = F.box_masks(boxes, height, width).any(0)[0]
    assert covered[0].all() and covered[-1].all() and covered[:, 0].all() and covered[:, -1].all()


def test_sample_boxes_area_follows_lambda():
    lam = torch.rand(5000, generator=gen(20))
    boxes = F.sample_boxes(lam, 64, 48, generator=gen(14))
    h, w = boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]
    inside = (boxes[:, 1] > 0) & (boxes[:, 3] < 64) & (boxes[:, 0] > 0) & (boxes[:, 2] < 48)
    assert inside.sum() > 500
    ratio = torch.sqrt(1 - lam[inside])
    assert torch.equal(h[inside], torch.round(ratio * 64).long())
    assert torch.equal(w[inside], torch.round(ratio * 48).long())
    full, empty = F.sample_boxes(torch.tensor([0.0, 1.0]), 64, 48, generator=gen(14))
    assert F.box_area_fraction(full[None], 64, 48) >= 0.25  # full-size box, centre anywhere: ≥ a quarter
    assert F.box_area_fraction(empty[None], 64, 48) == 0


def test_minmax_boxes_have_sides_in_range():
    boxes = F.sample_minmax_boxes(3000, 100, 50, min_ratio=0.2, max_ratio=0.4, generator=gen(15))
    h, w = boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]
    inside = (boxes[:, 1] > 0) & (boxes[:, 3] < 100) & (boxes[:, 0] > 0) & (boxes[:, 2] < 50)
    assert h[inside].min() >= 20 and h[inside].max() <= 40
    assert w[inside].min() >= 10 and w[inside].max() <= 20
    assert not torch.equal(h[inside].float() / 100, w[inside].float() / 50)  # independent sides


# ---------------------------------------------------------------- FMix and RICAP draws


def test_fourier_masks_have_exact_area_and_are_smooth():
    lam = torch.tensor([0.0, 0.3, 0.5, 0.77, 1.0])
    masks = F.fourier_masks(lam, 32, 40, decay_power=3.0, generator=gen(16))
    assert masks.dtype == torch.bool and masks.shape == (5, 1, 32, 40)
    area = masks.float().mean(dim=(1, 2, 3))
    assert torch.allclose(area, torch.round((1 - lam) * 32 * 40) / (32 * 40))
    # low-frequency masks have far fewer label changes between neighbours than a random mask of equal area
    m = masks[2, 0].float()
    edges = (m[1:] != m[:-1]).sum() + (m[:, 1:] != m[:, :-1]).sum()
    assert edges < 0.15 * (31 * 40 + 32 * 39) / 2


def test_fourier_decay_power_controls_smoothness():
    def edges(decay):
        m = F.fourier_masks(torch.full((20,), 0.5), 32, 32, decay_power=decay, generator=gen(17)).float()
        return ((m[..., 1:, :] != m[..., :-1, :]).sum() + (m[..., 1:] != m[..., :-1]).sum()).item()

    assert edges(4.0) < edges(2.0) < edges(0.5)


def test_soft_fourier_masks_keep_the_area():
    lam = torch.tensor([0.2, 0.5, 0.9])
    hard = F.fourier_masks(lam, 16, 16, decay_power=3.0, max_soft=0.0, generator=gen(18))
    soft = F.fourier_masks(lam, 16, 16, decay_power=3.0, max_soft=0.1, generator=gen(18))
    assert soft.dtype == torch.float32 and soft.min() >= 0 and soft.max() <= 1
    assert ((soft > 0) & (soft < 1)).any()
    assert torch.allclose(soft.mean(dim=(1, 2, 3)), hard.float().mean(dim=(1, 2, 3)), atol=1e-6)


def ranks_descending(values: torch.Tensor) -> torch.Tensor:
    """Rank of every entry in its row, 0 = largest: the per-row sort the batched selection replaces."""
    order = values.argsort(dim=1, descending=True)
    return torch.empty_like(order).scatter_(1, order, torch.arange(values.shape[1]).expand_as(order))


@pytest.mark.parametrize("pixels", [1, 2, 3, 8, 257, 1024])
def test_top_pixels_selects_exactly_the_k_largest(pixels):
    values = torch.randn(64, pixels, generator=gen(20))
    counts = torch.cat(
        [
            torch.tensor([0, pixels, pixels // 2, pixels // 2 + 1]).clamp(max=pixels),
            torch.randint(0, pixels + 1, (60,), generator=gen(21)),
        ]
    )
    for dtype in (torch.bool, torch.float32, torch.float64):
        mask = top_pixels(values, counts, dtype)
        assert mask.dtype == dtype and mask.shape == values.shape
        assert torch.equal(mask.bool(), ranks_descending(values) < counts[:, None])  # distinct values: the top k


def test_top_pixels_count_is_exact_with_ties():
    values = torch.randint(0, 3, (200, 50), generator=gen(22)).float()  # many ties at every threshold
    counts = torch.randint(0, 51, (200,), generator=gen(23))
    mask = top_pixels(values, counts)
    assert torch.equal(mask.sum(1), counts)
    lowest_chosen = torch.where(mask, values, torch.inf).amin(1)
    highest_left = torch.where(mask, -torch.inf, values).amax(1)
    assert (lowest_chosen >= highest_left).all()  # nothing left out is larger than anything chosen


def test_batched_fourier_masks_are_the_top_pixels_of_low_frequency_images():
    """The masks are exactly the round((1 − λ)·H·W) largest pixels of the generator's noise images (what a
    per-image sort gives), so they are as low-frequency as before: each has a small fraction of edges."""
    lam = torch.rand(64, generator=gen(24))
    h, w = 24, 40
    masks = F.fourier_masks(lam, h, w, decay_power=3.0, generator=gen(25))
    grey = F.lowfreq_images(64, h, w, decay_power=3.0, generator=gen(25)).reshape(64, h * w)
    expected = ranks_descending(grey) < torch.round((1 - lam) * h * w)[:, None]
    assert torch.equal(masks.reshape(64, h * w), expected)
    m = masks[:, 0].float()
    edges = (m[:, 1:] != m[:, :-1]).sum((1, 2)) + (m[:, :, 1:] != m[:, :, :-1]).sum((1, 2))
    area = m.mean((1, 2))
    random_edges = 2 * area * (1 - area) * ((h - 1) * w + h * (w - 1))  # expected for independent pixels
    assert (area > 0).all() and (area < 1).all()
    ratio = edges / random_edges
    assert (ratio < 0.4).all() and ratio.mean() < 0.15  # small blobs have relatively longer borders
    floats = F.fourier_masks(lam, h, w, decay_power=3.0, dtype=torch.float32, generator=gen(25))
    assert floats.dtype == torch.float32 and torch.equal(floats.bool(), masks)


def test_lowfreq_images_are_stationary_fields_with_the_fmix_spectrum():
    """Every frequency's mean power over many images is the FMix amplitude squared, up to one overall scale
    (each bin is a mean of 8,000 |X|² draws: relative error ~1.5 %, so 8 % is far out), and the two images
    taken from one transform (its real and imaginary part) are uncorrelated at every pixel."""
    h, w, n = 16, 20, 8000
    images = F.lowfreq_images(n, h, w, decay_power=2.0, generator=gen(30)).double()
    power = torch.fft.fft2(images).abs().pow(2).mean(0)
    ratio = power / _spectrum_scale(h, w, 2.0, torch.device("cpu")).double() ** 2
    assert (ratio / ratio.mean() - 1).abs().max() < 0.08
    real, imaginary = (part.reshape(n // 2, -1) for part in (images[0::2], images[1::2]))
    real, imaginary = real - real.mean(0), imaginary - imaginary.mean(0)
    correlation = (real * imaginary).mean(0) / (real.std(0) * imaginary.std(0))
    assert correlation.abs().max() < 5 / math.sqrt(n // 2)  # 5 standard errors of a zero correlation


@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_ricap_draws_fit_inside_the_sources(mode):
    height, width = 9, 14
    sources, corner, offsets = F.sample_ricap(32, height, width, alpha=0.3, prob=1.0, mode=mode, generator=gen(19))
    crop_h = torch.stack([corner[:, 0], corner[:, 0], height - corner[:, 0], height - corner[:, 0]], 1)
    crop_w = torch.stack([corner[:, 1], width - corner[:, 1], corner[:, 1], width - corner[:, 1]], 1)
    assert (offsets[..., 0] >= 0).all() and (offsets[..., 0] + crop_h <= height).all()
    assert (offsets[..., 1] >= 0).all() and (offsets[..., 1] + crop_w <= width).all()
    for q in range(4):
        assert sorted(sources[:, q].tolist()) == list(range(32))  # each quadrant: a permutation
    assert torch.allclose(F.ricap_weights(corner, height, width).sum(1), torch.ones(32))
    if mode == "batch":
        assert (corner == corner[0]).all() and (offsets == offsets[0]).all()
    else:
        assert len({tuple(c) for c in corner.tolist()}) > 1
